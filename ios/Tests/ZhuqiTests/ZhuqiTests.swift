// `swift test` on a Mac (release.sh runs it after build-xcframework.sh): the XCFramework's macOS slice
// links and loads, the generated bindings agree with the library (uniffi checks every function's
// checksum when first called), and the async wrappers run calls off the caller's thread and deliver
// the result or the typed error. No relay is needed; the Kotlin tests exercise the whole API against
// one (scripts/kotlin-tests).

import Foundation
import XCTest
import Zhuqi

final class ZhuqiTests: XCTestCase {
    private func client() throws -> ZhuqiClient {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("zhuqi-\(UUID().uuidString)")
        // Nothing listens on port 9: no call here reaches a relay. No store key: a test store.
        return try ZhuqiClient(dataDir: dir.path, relayUrl: "https://127.0.0.1:9", options: ClientOptions())
    }

    func testANewClientHasNoUser() throws {
        XCTAssertNil(try client().currentUser())
    }

    func testAsyncCallsRunOffTheCallersThreadAndReturnTheResult() async throws {
        let zhuqi = try client()
        let onMainThread = try await zhuqi.inBackground { _ in Thread.isMainThread }
        XCTAssertFalse(onMainThread)
        let user = try await zhuqi.inBackground { $0.currentUser() }
        XCTAssertNil(user)
    }

    func testAsyncCallsDeliverTheTypedError() async throws {
        let zhuqi = try client()
        do {
            _ = try await zhuqi.homeCountsAsync()
            XCTFail("there is no store before signing in")
        } catch ZhuqiError.SignedOut {
            // as expected
        }
    }
}
