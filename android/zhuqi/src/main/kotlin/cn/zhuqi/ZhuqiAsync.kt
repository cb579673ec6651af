// Suspending forms of ZhuqiClient's slow calls, written by hand beside the generated bindings
// (zhuqi_ffi.kt). Every ZhuqiClient call blocks its thread until it is done (a sync can take
// minutes on a bad network); these run the call on one of the library's background threads and
// suspend the coroutine meanwhile, so that a coroutine on the main thread may call them:
//
//     lifecycleScope.launch {
//         val summary = zhuqi.syncNowAsync()     // the main thread is free meanwhile
//         showSynced(summary)                    // back on the main thread (the scope's dispatcher)
//     }
//
// They need only the Kotlin standard library (no kotlinx-coroutines). A coroutine resumes on its
// own dispatcher when it has one (Dispatchers.Main above); without one (a bare startCoroutine), on
// the background thread that ran the call. Errors arrive as the same ZhuqiException the blocking
// call throws.
//
// Cancellation: cancelling the coroutine does not interrupt a call under way; the coroutine resumes
// when the call returns. A sync, the one call that can last, is stopped with cancelSync(): it then
// fails with ZhuqiException.Cancelled at once. With kotlinx-coroutines, tie the two together with
// suspendCancellableCoroutine (see android/README.md, "Coroutines").
//
// Any other call: zhuqi.inBackground { recordVisit(enterpriseId, visit) }.

package cn.zhuqi

import java.util.concurrent.Executor
import java.util.concurrent.SynchronousQueue
import java.util.concurrent.ThreadFactory
import java.util.concurrent.ThreadPoolExecutor
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import kotlin.coroutines.suspendCoroutine

/** Where the suspending calls run. */
object ZhuqiAsync {
    private val threads = AtomicInteger()

    /**
     * The library's own pool: a thread per call under way (calls block, and a long sync must not
     * hold up a quick read), threads named `zhuqi-call-N`, kept a minute after their last call,
     * daemon threads that never keep the process alive.
     */
    val defaultExecutor: Executor = ThreadPoolExecutor(
        0, Int.MAX_VALUE, 60L, TimeUnit.SECONDS, SynchronousQueue(),
        ThreadFactory { r ->
            Thread(r, "zhuqi-call-${threads.incrementAndGet()}").apply { isDaemon = true }
        },
    )

    /**
     * Runs the calls; replace it to run them elsewhere, e.g. `Dispatchers.IO.asExecutor()` (an
     * executor that runs a task on the calling thread would block the caller again).
     */
    @Volatile
    var executor: Executor = defaultExecutor
}

/**
 * Runs [call] on a background thread ([ZhuqiAsync.executor]) and suspends until it returns: its
 * result, or the exception it threw.
 */
suspend fun <T> ZhuqiClient.inBackground(call: ZhuqiClient.() -> T): T {
    val client = this
    return suspendCoroutine { continuation ->
        ZhuqiAsync.executor.execute {
            continuation.resumeWith(runCatching { client.call() })
        }
    }
}

/** [ZhuqiClient.syncNow], off the caller's thread. Stop it with [ZhuqiClient.cancelSync]. */
suspend fun ZhuqiClient.syncNowAsync(): SyncSummary = inBackground { syncNow() }

/** [ZhuqiClient.signIn], off the caller's thread. */
suspend fun ZhuqiClient.signInAsync(login: String, password: String, deviceName: String): UserProfile =
    inBackground { signIn(login, password, deviceName) }

/** [ZhuqiClient.activate], off the caller's thread. */
suspend fun ZhuqiClient.activateAsync(code: String, deviceName: String): UserProfile =
    inBackground { activate(code, deviceName) }

/** [ZhuqiClient.signOut], off the caller's thread (it deletes files when wiping). */
suspend fun ZhuqiClient.signOutAsync(wipe: Boolean): Unit = inBackground { signOut(wipe) }

/** [ZhuqiClient.attachPhoto], off the caller's thread (it copies the file durably). */
suspend fun ZhuqiClient.attachPhotoAsync(path: String): Photo = inBackground { attachPhoto(path) }

/** [ZhuqiClient.fetchPhoto], off the caller's thread (it may download the photo); what it returns. */
suspend fun ZhuqiClient.fetchPhotoAsync(sha256: String, thumbnail: Boolean) =
    inBackground { fetchPhoto(sha256, thumbnail) }

/** [ZhuqiClient.search], off the caller's thread. */
suspend fun ZhuqiClient.searchAsync(query: String, scope: SearchScope, offset: UInt, limit: UInt): List<SearchResult> =
    inBackground { search(query, scope, offset, limit) }

/** [ZhuqiClient.policiesFor], off the caller's thread. */
suspend fun ZhuqiClient.policiesForAsync(enterpriseId: String): List<PolicyForEnterprise> =
    inBackground { policiesFor(enterpriseId) }

/** [ZhuqiClient.enterprisesFor], off the caller's thread. */
suspend fun ZhuqiClient.enterprisesForAsync(policyId: String): List<PolicyCandidate> =
    inBackground { enterprisesFor(policyId) }

/** [ZhuqiClient.myEnterprises], off the caller's thread. */
suspend fun ZhuqiClient.myEnterprisesAsync(): List<EnterpriseCard> = inBackground { myEnterprises() }

/** [ZhuqiClient.enterprise], off the caller's thread. */
suspend fun ZhuqiClient.enterpriseAsync(enterpriseId: String): EnterpriseDetail =
    inBackground { enterprise(enterpriseId) }

/** [ZhuqiClient.problems], off the caller's thread. */
suspend fun ZhuqiClient.problemsAsync(query: ProblemQuery): List<ProblemCard> = inBackground { problems(query) }

/** [ZhuqiClient.problem], off the caller's thread. */
suspend fun ZhuqiClient.problemAsync(problemId: String): ProblemDetail = inBackground { problem(problemId) }

/** [ZhuqiClient.homeCounts], off the caller's thread. */
suspend fun ZhuqiClient.homeCountsAsync(): HomeCounts = inBackground { homeCounts() }

/** [ZhuqiClient.exportQuarantine], off the caller's thread. */
suspend fun ZhuqiClient.exportQuarantineAsync(): String = inBackground { exportQuarantine() }
