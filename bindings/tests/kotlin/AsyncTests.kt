// Kotlin tests of the suspending wrappers (android/zhuqi/src/main/kotlin/cn/zhuqi/ZhuqiAsync.kt),
// driven with the standard library alone, as an app's coroutine would drive them: called from the
// test's thread, the blocking call must run on a library thread and its result or its
// ZhuqiException come back through the continuation. Called by ZhuqiTests.kt's main.

import cn.zhuqi.*
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlin.coroutines.Continuation
import kotlin.coroutines.CoroutineContext
import kotlin.coroutines.EmptyCoroutineContext
import kotlin.coroutines.startCoroutine

/** What a suspend function came back with, and on which thread. */
private class Outcome<T>(val result: Result<T>, val thread: Thread)

/** Starts [block] as a coroutine on this thread and waits (up to 60 s) for it to finish. */
private fun <T> drive(block: suspend () -> T): Outcome<T> {
    val done = CountDownLatch(1)
    var outcome: Outcome<T>? = null
    block.startCoroutine(object : Continuation<T> {
        override val context: CoroutineContext = EmptyCoroutineContext
        override fun resumeWith(result: Result<T>) {
            outcome = Outcome(result, Thread.currentThread())
            done.countDown()
        }
    })
    if (!done.await(60, TimeUnit.SECONDS)) throw AssertionError("the suspend call never resumed")
    return outcome!!
}

/**
 * The suspending wrappers' scenario. [client]: ZhuqiTests.kt's way to make a phone's client (a name:
 * its own data directory, talking to the test's relay); [scenario]: ZhuqiTests.kt's runner (name, body).
 */
fun asyncScenarios(client: (String) -> ZhuqiClient, scenario: (String, () -> Unit) -> Unit) {
    scenario("suspending calls run off the caller's thread and return the result or the ZhuqiException") {
        val caller = Thread.currentThread()
        val phone = client("async")

        // Before signing in there is no store: the exception reaches the coroutine, typed.
        val signedOut = drive { phone.homeCountsAsync() }
        verify(signedOut.result.exceptionOrNull() is ZhuqiException.SignedOut, "${signedOut.result}")
        verify(signedOut.thread !== caller && signedOut.thread.name.startsWith("zhuqi-call-"), "ran on ${signedOut.thread.name}")

        val me = drive { phone.signInAsync("410105-cadre1", "zhuqi2026", "异步测试手机") }
        verify(me.thread !== caller && me.thread.name.startsWith("zhuqi-call-"), "ran on ${me.thread.name}")
        verify(me.result.getOrThrow().role == Role.CADRE, "${me.result}")

        // A suspend function calling several in turn, as a screen's coroutine does.
        val synced = drive {
            val summary = phone.syncNowAsync()
            summary to phone.myEnterprisesAsync()
        }
        val (summary, mine) = synced.result.getOrThrow()
        verify(summary.pulled > 0u && mine.isNotEmpty(), "$summary, ${mine.size} enterprises")
        verify(synced.thread !== caller, "ran on the caller's thread")
        phone.signOut(true)
    }
}

private fun verify(condition: Boolean, what: String) {
    if (!condition) throw AssertionError(what)
}
