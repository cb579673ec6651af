// `async` forms of ZhuqiClient's slow calls, written by hand beside the generated bindings
// (ZhuqiFFI.swift). Every ZhuqiClient call blocks its thread until it is done (a sync can take
// minutes on a bad network); these run the call on a global dispatch queue and suspend the task
// meanwhile, so that code on the main actor may await them:
//
//     Task { @MainActor in
//         let summary = try await zhuqi.syncNowAsync()   // the main thread is free meanwhile
//         showSynced(summary)                            // back on the main actor
//     }
//
// Errors arrive as the same ZhuqiError the blocking call throws. Cancelling the task does not
// interrupt a call under way; a sync, the one call that can last, is stopped with `cancelSync()`
// (it then throws `ZhuqiError.Cancelled` at once) — see `syncNowAsync()`. Any other call:
// `try await zhuqi.inBackground { try $0.recordVisit(enterpriseId: id, visit: visit) }`.

import Dispatch
import Foundation
import ZhuqiFFI

extension ZhuqiClient {
    /// Runs `call` on a global dispatch queue and suspends until it returns: its result, or the
    /// error it threw.
    public func inBackground<T>(_ call: @escaping @Sendable (ZhuqiClient) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                do {
                    continuation.resume(returning: try call(self))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// `syncNow()`, off the caller's thread. Cancelling the task cancels the sync (`cancelSync()`),
    /// which then throws `ZhuqiError.Cancelled`; what it stored so far stays.
    public func syncNowAsync() async throws -> SyncSummary {
        try await withTaskCancellationHandler {
            try await inBackground { try $0.syncNow() }
        } onCancel: {
            self.cancelSync()
        }
    }

    /// `signIn(login:password:deviceName:)`, off the caller's thread.
    public func signInAsync(login: String, password: String, deviceName: String) async throws -> UserProfile {
        try await inBackground { try $0.signIn(login: login, password: password, deviceName: deviceName) }
    }

    /// `activate(code:deviceName:)`, off the caller's thread.
    public func activateAsync(code: String, deviceName: String) async throws -> UserProfile {
        try await inBackground { try $0.activate(code: code, deviceName: deviceName) }
    }

    /// `signOut(wipe:)`, off the caller's thread (it deletes files when wiping).
    public func signOutAsync(wipe: Bool) async throws {
        try await inBackground { try $0.signOut(wipe: wipe) }
    }

    /// `attachPhoto(path:)`, off the caller's thread (it copies the file durably).
    public func attachPhotoAsync(path: String) async throws -> Photo {
        try await inBackground { try $0.attachPhoto(path: path) }
    }

    /// `fetchPhoto(sha256:thumbnail:)`, off the caller's thread (it may download the photo).
    public func fetchPhotoAsync(sha256: String, thumbnail: Bool) async throws -> Data {
        try await inBackground { try $0.fetchPhoto(sha256: sha256, thumbnail: thumbnail) }
    }

    /// `search(query:scope:offset:limit:)`, off the caller's thread.
    public func searchAsync(query: String, scope: SearchScope, offset: UInt32, limit: UInt32) async throws -> [SearchResult] {
        try await inBackground { try $0.search(query: query, scope: scope, offset: offset, limit: limit) }
    }

    /// `policiesFor(enterpriseId:)`, off the caller's thread.
    public func policiesForAsync(enterpriseId: String) async throws -> [PolicyForEnterprise] {
        try await inBackground { try $0.policiesFor(enterpriseId: enterpriseId) }
    }

    /// `enterprisesFor(policyId:)`, off the caller's thread.
    public func enterprisesForAsync(policyId: String) async throws -> [PolicyCandidate] {
        try await inBackground { try $0.enterprisesFor(policyId: policyId) }
    }

    /// `myEnterprises()`, off the caller's thread.
    public func myEnterprisesAsync() async throws -> [EnterpriseCard] {
        try await inBackground { try $0.myEnterprises() }
    }

    /// `enterprise(enterpriseId:)`, off the caller's thread.
    public func enterpriseAsync(enterpriseId: String) async throws -> EnterpriseDetail {
        try await inBackground { try $0.enterprise(enterpriseId: enterpriseId) }
    }

    /// `problems(query:)`, off the caller's thread.
    public func problemsAsync(query: ProblemQuery) async throws -> [ProblemCard] {
        try await inBackground { try $0.problems(query: query) }
    }

    /// `problem(problemId:)`, off the caller's thread.
    public func problemAsync(problemId: String) async throws -> ProblemDetail {
        try await inBackground { try $0.problem(problemId: problemId) }
    }

    /// `homeCounts()`, off the caller's thread.
    public func homeCountsAsync() async throws -> HomeCounts {
        try await inBackground { try $0.homeCounts() }
    }

    /// `exportQuarantine()`, off the caller's thread.
    public func exportQuarantineAsync() async throws -> String {
        try await inBackground { try $0.exportQuarantine() }
    }
}
