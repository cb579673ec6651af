// Kotlin tests of the zhuqi bindings, on the desktop JVM, against a real relay started with demo
// data (ZHUQI_RELAY). Each scenario acts as the users do; the run exits non-zero if one fails.

import cn.zhuqi.*
import java.nio.file.Files
import java.time.LocalDate
import java.time.ZoneId
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import kotlin.system.exitProcess

private var passed = 0
private var failed = 0

private fun scenario(name: String, body: () -> Unit) {
    val started = System.nanoTime()
    try {
        body()
        passed++
        println("PASS  $name (${(System.nanoTime() - started) / 1_000_000} ms)")
    } catch (e: Throwable) {
        failed++
        println("FAIL  $name: $e")
        e.printStackTrace(System.out)
    }
}

private fun check(condition: Boolean, what: String) {
    if (!condition) throw AssertionError(what)
}

private const val PASSWORD = "zhuqi2026"
private const val DAY = 86_400_000L

fun main() {
    val relay = System.getenv("ZHUQI_RELAY") ?: error("set ZHUQI_RELAY to the relay's URL")
    val dir = Files.createTempDirectory("zhuqi-kotlin")
    fun client(name: String) = ZhuqiClient(dir.resolve(name).toString(), relay)
    val cadre = client("cadre")
    val manager = client("manager")
    val handler = client("handler")
    val enterprise = client("enterprise")
    val today = LocalDate.now(ZoneId.of("Asia/Shanghai")).toString()
    var enterpriseId = ""
    var problemId = ""

    scenario("a cadre signs in and receives the enterprises assigned to them") {
        val me = cadre.signIn("410102-cadre1", PASSWORD, "王明的手机")
        check(me.role == Role.CADRE, "role ${me.role}")
        val sync = cadre.syncNow()
        check(sync.pulled > 0u, "pulled ${sync.pulled}")
        val mine = cadre.myEnterprises()
        check(mine.isNotEmpty(), "assigned enterprises")
        enterpriseId = mine.first().id
        check(cadre.enterprise(enterpriseId).cadres.any { it.cadreId == me.userId && it.chief }, "chief service officer")
    }

    scenario("offline in the factory: a visit and a problem are recorded, and pushed on reconnecting") {
        cadre.setRelayUrl("http://127.0.0.1:9") // nothing listens there: no signal
        // A photo of the workshop, as the camera left it: copied into the store, kept under its hash.
        val shot = dir.resolve("workshop.jpg").toFile()
        shot.writeBytes(byteArrayOf(0xFF.toByte(), 0xD8.toByte(), 0xFF.toByte(), 0xE0.toByte()) + ByteArray(50_000) { it.toByte() })
        val photo = cadre.attachPhoto(shot.path)
        check(photo.sizeBytes == 50_004uL && photo.sha256.length == 64, "$photo")
        check(java.io.File(cadre.photoFile(photo.sha256)!!).readBytes().contentEquals(shot.readBytes()), "the photo's copy")
        check(cadre.photoUploads().isEmpty(), "nothing to upload before a visit names it")
        val visit = cadre.recordVisit(
            enterpriseId,
            VisitInput(today, listOf("总经理", "人事经理"), "企业反映技术工人招工难", listOf("稳岗补贴"), listOf(), GeoLocation(34.75, 113.62, 12.0), listOf(photo)),
        )
        check(cadre.photoUploads().map { it.sha256 to it.state } == listOf(photo.sha256 to "waiting"), "${cadre.photoUploads()}")
        check(cadre.enterprise(enterpriseId).visits.first { it.id == visit }.photos == listOf(photo), "the visit's photo")
        problemId = cadre.reportProblem(ProblemInput(enterpriseId, Category.LABOUR, "技术工人招工难", "数控操作工缺口30人", visit, listOf()))
        check(cadre.syncStatus(problemId) == DocSyncStatus.WAITING, "waiting to be pushed")
        check(cadre.homeCounts().unsyncedChanges == 2u, "two unsynced changes")
        try {
            cadre.syncNow()
            throw AssertionError("sync without a relay must fail")
        } catch (e: ZhuqiException.Offline) {
            check(e.messageZh.contains("无法连接服务器"), e.messageZh)
        }
        cadre.setRelayUrl(relay)
        // The app shows the upload progressing: the listener hears each acknowledged chunk, then done.
        val heard = java.util.concurrent.CopyOnWriteArrayList<PhotoUploadInfo>()
        cadre.setPhotoListener(object : PhotoListener {
            override fun onPhotoProgress(upload: PhotoUploadInfo) { heard.add(upload) }
        })
        val sync = cadre.syncNow()
        check(sync.pushed == 2u && sync.roundTrips == 1u, "$sync")
        check(sync.photosUploaded == 1u, "the visit's photo uploaded after the sync: $sync")
        check(heard.map { it.state to it.uploadedBytes } == listOf("uploading" to 0uL, "done" to 50_004uL), "$heard")
        check(heard.all { it.sha256 == photo.sha256 && it.sizeBytes == 50_004uL }, "$heard")
        cadre.clearPhotoListener()
        check(cadre.photoUploads().single().state == "done", "${cadre.photoUploads()}")
        check(cadre.syncStatus(problemId) == DocSyncStatus.SYNCED, "synced")
    }

    scenario("the county office routes the problem with a deadline") {
        manager.signIn("410102-office", PASSWORD, "活动办电脑")
        manager.syncNow()
        val waiting = manager.problems(ProblemQuery(listOf(), null, null, null, null, false, true, null))
        check(waiting.any { it.id == problemId }, "awaiting the office")
        // The deadline as the office counts 7 days (the demo's offices count calendar days).
        val settings = manager.officeSettings("410102")
        check(settings.answerDays == 15u && !settings.workingDays, "$settings")
        val deadline = manager.deadlineIn(7u)
        check(deadline > System.currentTimeMillis() + 6 * DAY && deadline <= System.currentTimeMillis() + 8 * DAY, "deadline $deadline")
        manager.routeProblem(problemId, "410102-hr", 1u.toUByte(), deadline, "请人社局对接职业院校")
        check(manager.syncNow().pushed == 1u, "pushed")
    }

    scenario("the county office issues a policy; the cadre's phone lists it for the enterprise, offline") {
        val today = java.time.LocalDate.now(java.time.ZoneId.of("Asia/Shanghai"))
        val input = PolicyInput(
            "中原区稳岗补贴", "中原区人力资源和社会保障局", "中人社〔2026〕3号", "不裁员少裁员的企业按参保人数给予补贴", "",
            today.minusDays(10).toString(), today.plusDays(200).toString(), null,
            PolicyCriteria(listOf(), listOf(), listOf(), sizes = listOf("small", "micro"), underAgeYears = 30u), listOf(),
        )
        // The office gives the enterprise the figures the policy's size and age criteria read.
        manager.setEnterpriseScale(enterpriseId, EnterpriseScale(employees = 50u, revenue = 1_000uL, founded = "2020-03-01"))
        val policyId = manager.issuePolicy("410102", input)
        check(manager.syncNow().pushed == 2u, "pushed")
        cadre.syncNow()
        cadre.setRelayUrl("http://127.0.0.1:9") // offline from here
        check(cadre.policies().any { it.id == policyId }, "the county's policy reaches the cadre's phone")
        val mine = cadre.policiesFor(enterpriseId).first { it.policy.id == policyId }
        check(mine.qualifies && mine.reasons.isNotEmpty() && mine.missing.isEmpty(), "$mine")
        check(mine.reasons.contains("规模：小型企业"), "${mine.reasons}")
        check(cadre.enterprise(enterpriseId).scale.sizeBand == "small", "the band from its figures")
        check(cadre.enterprisesFor(policyId).any { it.enterpriseId == enterpriseId && !it.told }, "the enterprise qualifies, not told yet")
        try {
            cadre.setEnterpriseScale(enterpriseId, EnterpriseScale())
            throw AssertionError("a cadre may not set an enterprise's scale")
        } catch (e: ZhuqiException.NotAllowed) {
            check(e.messageZh.isNotEmpty(), "message")
        }
        check(cadre.search("稳岗", SearchScope.POLICIES, 0u, 10u).any { it.id == policyId }, "found by search")
        // The visit records the policy explained, by id.
        val explained = cadre.recordVisit(enterpriseId, VisitInput(today.toString(), listOf("总经理"), "宣讲稳岗补贴政策", listOf(), listOf(policyId), null, listOf()))
        check(cadre.enterprise(enterpriseId).visits.first { it.id == explained }.policyIds == listOf(policyId), "recorded")
        check(cadre.enterprisesFor(policyId).single { it.enterpriseId == enterpriseId }.told, "told on the visit")
        try {
            cadre.issuePolicy("410102", input)
            throw AssertionError("a cadre may not issue policies")
        } catch (e: ZhuqiException.NotAllowed) {
            check(e.messageZh.isNotEmpty(), "message")
        }
        cadre.setRelayUrl(relay)
    }

    scenario("the department handler resolves it") {
        handler.signIn("410102-hr-handler", PASSWORD, "人社局手机")
        handler.syncNow()
        val mine = handler.problems(ProblemQuery(listOf(ProblemStatus.ROUTED), null, "410102-hr", null, null, false, false, null))
        check(mine.any { it.id == problemId }, "routed to the department")
        check(handler.myEnterprises().isEmpty(), "a department never holds the enterprise's file")
        handler.addProgress(problemId, "已对接郑州职业技术学院", listOf())
        // The resolution's evidence: a photo of the signed agreement, uploaded after the sync.
        val agreement = dir.resolve("agreement.png").toFile()
        agreement.writeBytes(byteArrayOf(0x89.toByte(), 'P'.code.toByte(), 'N'.code.toByte(), 'G'.code.toByte(), 13, 10, 26, 10) + ByteArray(20_000) { (it * 3).toByte() })
        val evidence = handler.attachPhoto(agreement.path)
        handler.resolveProblem(problemId, "职业院校输送学员30人", listOf(evidence))
        val sync = handler.syncNow()
        check(sync.pushed == 2u && sync.photosUploaded == 1u, "pushed, and the resolution's photo uploaded: $sync")
        val resolved = handler.problem(problemId).timeline.first { it.kind == "resolved" }
        check(resolved.photos == listOf(evidence), "the resolution names its photo: $resolved")
    }

    scenario("the enterprise activates its phone with a code from its cadre and confirms with a rating") {
        val code = cadre.issueActivationCode(enterpriseId, "$enterpriseId-contact")
        val me = enterprise.activate(code, "企业的手机")
        check(me.role == Role.ENTERPRISE_CONTACT && me.enterpriseId == enterpriseId, "$me")
        enterprise.syncNow()
        check(enterprise.homeCounts().awaitingMe >= 1u, "the confirmation waits for the enterprise")
        val chief = enterprise.enterprise(enterpriseId).cadres.first { it.chief }
        check(chief.mobile?.length == 11 && chief.position != null && chief.unit != null, "how to reach the cadre: $chief")
        enterprise.confirmResolution(problemId, 5u.toUByte(), "非常满意")
        check(enterprise.syncNow().pushed == 1u, "pushed")
    }

    scenario("the cadre searches the phone, offline: enterprises by part of a name, problems by a word") {
        cadre.setRelayUrl("http://127.0.0.1:9") // no signal: the search needs none
        val name = cadre.enterprise(enterpriseId).card.name
        val part = name.substring(2, 5)
        val found = cadre.search(part, SearchScope.ENTERPRISES, 0u, 20u)
        check(found.any { it.kind == "enterprise" && it.id == enterpriseId }, "$part: $found")
        val problems = cadre.search("招工", SearchScope.PROBLEMS, 0u, 20u)
        check(problems.any { it.id == problemId && it.title == "技术工人招工难" }, "$problems")
        check(cadre.search("没有这样的企业名称", SearchScope.ALL, 0u, 20u).isEmpty(), "nothing")
        cadre.setRelayUrl(relay)
    }

    scenario("a listener fires when a sync brings changes") {
        val fired = CountDownLatch(1)
        val errors = AtomicInteger()
        val handle = cadre.watch(object : SyncListener {
            override fun onChanges(summary: SyncSummary) {
                if (summary.pulled > 0u) fired.countDown()
            }
            override fun onError(error: ZhuqiException) {
                errors.incrementAndGet()
            }
        })
        Thread.sleep(500)
        manager.syncNow()
        manager.closeProblem(problemId, "企业满意，销号")
        manager.syncNow()
        check(fired.await(30, TimeUnit.SECONDS), "the listener heard of the closing")
        handle.stop()
        check(errors.get() == 0, "no background errors")
    }

    scenario("a listener that throws does not end watching; after stop() returns no call comes") {
        val today = java.time.LocalDate.now(java.time.ZoneId.of("Asia/Shanghai"))
        fun issue(title: String) {
            manager.issuePolicy("410102", PolicyInput(
                title, "中原区人民政府", "", "对符合条件的企业给予奖励", "",
                today.minusDays(1).toString(), today.plusDays(30).toString(), null,
                PolicyCriteria(listOf(), listOf(), listOf()), listOf(),
            ))
            manager.syncNow()
        }
        val stopped = AtomicBoolean(false)
        val late = AtomicInteger()
        val heard = CountDownLatch(2)
        val handle = cadre.watch(object : SyncListener {
            override fun onChanges(summary: SyncSummary) {
                if (stopped.get()) late.incrementAndGet()
                heard.countDown()
                throw IllegalStateException("a bug in the app's listener")
            }
            override fun onError(error: ZhuqiException) {
                if (stopped.get()) late.incrementAndGet()
            }
        })
        Thread.sleep(1000)
        issue("第一项奖励")
        Thread.sleep(1500)
        issue("第二项奖励")
        check(heard.await(30, TimeUnit.SECONDS), "the listener threw and was called again")
        val started = System.nanoTime()
        handle.stop()
        stopped.set(true)
        val ms = (System.nanoTime() - started) / 1_000_000
        check(ms < 2_000, "stop() took $ms ms")
        issue("第三项奖励")
        Thread.sleep(3_000)
        check(late.get() == 0, "${late.get()} calls after stop() returned")
    }

    scenario("a phone revoked while watching is wiped and told so") {
        val server = System.getenv("ZHUQI_SERVER") ?: error("set ZHUQI_SERVER to the relay binary")
        val data = System.getenv("ZHUQI_DATA") ?: error("set ZHUQI_DATA to the relay's data directory")
        val lost = client("lost")
        val me = lost.signIn("410102-cadre1", PASSWORD, "丢在车间的手机")
        lost.syncNow()
        val told = java.util.concurrent.LinkedBlockingQueue<ZhuqiException>()
        val handle = lost.watch(object : SyncListener {
            override fun onChanges(summary: SyncSummary) {}
            override fun onError(error: ZhuqiException) { told.add(error) }
        })
        Thread.sleep(1000)
        val revoke = ProcessBuilder(server, "revoke-device", "--data-dir", data, me.deviceId).inheritIO().start()
        check(revoke.waitFor() == 0, "revoked")
        // Something changes for the user: the watching phone syncs and learns it was revoked.
        cadre.recordVisit(enterpriseId, VisitInput(today, listOf("总经理"), "回访", listOf(), listOf(), null, listOf()))
        cadre.syncNow()
        val error = told.poll(30, TimeUnit.SECONDS)
        check(error is ZhuqiException.Revoked, "told $error")
        check(lost.currentUser() == null, "signed out and wiped")
        handle.stop()
    }

    scenario("a sync to a relay that stalls is cancelled at once; short timeouts bound it") {
        // A "relay" that accepts connections and never answers.
        val stall = java.net.ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())
        val held = java.util.Collections.synchronizedList(mutableListOf<java.net.Socket>())
        Thread { try { while (true) held.add(stall.accept()) } catch (e: Exception) {} }.apply { isDaemon = true; start() }
        cadre.setRelayUrl("http://127.0.0.1:${stall.localPort}")
        val pending = java.util.concurrent.CompletableFuture.supplyAsync {
            try { cadre.syncNow(); null } catch (e: ZhuqiException) { e }
        }
        Thread.sleep(500)
        val started = System.nanoTime()
        cadre.cancelSync()
        val cancelled = pending.get(5, TimeUnit.SECONDS)
        val ms = (System.nanoTime() - started) / 1_000_000
        check(cancelled is ZhuqiException.Cancelled && ms < 2_000, "$cancelled after $ms ms")
        synchronized(held) { held.forEach { it.close() }; held.clear() } // the request under way ends
        // A background task's limits: the stalled relay costs one second, not minutes.
        cadre.setTimeouts(500u, 1_000u, 1u)
        val t = System.nanoTime()
        try {
            cadre.syncNow()
            throw AssertionError("a relay that never answers")
        } catch (e: ZhuqiException.Offline) {
            check(e.messageZh.isNotEmpty(), "message")
        }
        val took = (System.nanoTime() - t) / 1_000_000
        check(took < 10_000, "timed out after $took ms")
        cadre.setTimeouts(10_000u, 60_000u, 4u)
        cadre.setRelayUrl(relay)
        stall.close()
        cadre.syncNow() // a later sync runs normally
    }

    scenario("every client sees the same final state") {
        val clients = listOf(cadre, manager, handler, enterprise)
        clients.forEach { it.syncNow() }
        val states = clients.map { it.problem(problemId) }
        for (p in states) {
            check(p.card.status == ProblemStatus.CLOSED, "status ${p.card.status}")
            check(p.card.rating == 5u.toUByte(), "rating ${p.card.rating}")
            check(p.confirmation == "enterprise", "confirmed by ${p.confirmation}")
            check(p.timeline.map { it.eventId } == states[0].timeline.map { it.eventId }, "same timeline")
            check(p.timeline.map { it.kind } == listOf("reported", "routed", "progress", "resolved", "confirmed", "closed"), "${p.timeline.map { it.kind }}")
        }
    }

    scenario("a validation error arrives as a typed exception with the field and the Chinese message") {
        try {
            cadre.recordVisit(enterpriseId, VisitInput(today, listOf("总经理"), "   ", listOf(), listOf(), null, listOf()))
            throw AssertionError("empty notes must be refused")
        } catch (e: ZhuqiException.Validation) {
            check(e.field == "visit.notes", e.field)
            check(e.messageZh == "走访记录不能为空", e.messageZh)
        }
        try {
            cadre.recordVisit(enterpriseId, VisitInput(today, listOf("总经理"), "走访", listOf(), listOf(), GeoLocation(95.0, 113.0, 5.0), listOf()))
            throw AssertionError("a latitude of 95 must be refused")
        } catch (e: ZhuqiException.Validation) {
            check(e.field == "location.lat", e.field)
        }
    }

    scenario("an enterprise may not resolve its own problem") {
        val other = enterprise.reportProblem(ProblemInput(enterpriseId, Category.FINANCING, "贷款", "流动资金紧张", null, listOf()))
        try {
            enterprise.resolveProblem(other, "自己解决了", listOf())
            throw AssertionError("must be refused")
        } catch (e: ZhuqiException.NotAllowed) {
            check(e.messageZh.isNotEmpty(), "message")
        }
        check(enterprise.syncNow().pushed == 1u, "the report itself is fine")
        // Its reporter takes it back before the office accepts it (撤回); it stays, withdrawn.
        enterprise.withdrawProblem(other, "已自行解决")
        check(enterprise.problem(other).card.status == ProblemStatus.WITHDRAWN, "withdrawn")
        check(enterprise.syncNow().pushed == 1u, "the withdrawal is accepted by the relay")
    }

    scenario("signing out with wipe leaves nothing behind") {
        handler.signOut(true)
        check(handler.currentUser() == null, "signed out")
        try {
            handler.homeCounts()
            throw AssertionError("no store after sign-out")
        } catch (e: ZhuqiException.SignedOut) {
        }
    }

    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0) 0 else 1)
}
