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

/** A unified social credit code: 17 characters and their GB 32100-2015 check digit. */
private fun uscc(first17: String): String {
    val alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    val weights = intArrayOf(1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    val sum = first17.indices.sumOf { alphabet.indexOf(first17[it]) * weights[it] }
    return first17 + alphabet[(31 - sum % 31) % 31]
}

private const val PASSWORD = "zhuqi2026"
private const val DAY = 86_400_000L

fun main() {
    val relay = System.getenv("ZHUQI_RELAY") ?: error("set ZHUQI_RELAY to the relay's URL")
    val dir = Files.createTempDirectory("zhuqi-kotlin")
    // The relay serves TLS with a certificate from a CA of the test's own, as a government CA would issue it.
    val ca = java.io.File(System.getenv("ZHUQI_CA") ?: error("set ZHUQI_CA to the relay's CA certificate (PEM)")).readText()
    // Each phone's store is encrypted under its own 32-byte key, as an app keeps one in Android Keystore.
    fun key(name: String) = java.security.MessageDigest.getInstance("SHA-256").digest("app key of $name".toByteArray())
    fun options(name: String) = ClientOptions(storeKey = key(name), extraRootCertificates = listOf(ca))
    fun client(name: String) = ZhuqiClient(dir.resolve(name).toString(), relay, options(name))
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
        cadre.setRelayUrl("https://127.0.0.1:9") // nothing listens there: no signal
        // A photo of the workshop, as the camera left it: copied into the store, kept under its hash.
        val shot = dir.resolve("workshop.jpg").toFile()
        shot.writeBytes(byteArrayOf(0xFF.toByte(), 0xD8.toByte(), 0xFF.toByte(), 0xE0.toByte()) + ByteArray(50_000) { it.toByte() })
        val photo = cadre.attachPhoto(shot.path)
        check(photo.sizeBytes == 50_004uL && photo.sha256.length == 64, "$photo")
        check(cadre.photo(photo.sha256, false)!!.contentEquals(shot.readBytes()), "the photo's copy, unsealed")
        check(cadre.photoUploads().isEmpty(), "nothing to upload before a visit names it")
        val visit = cadre.recordVisit(
            enterpriseId,
            VisitInput(today, listOf("总经理", "人事经理"), "企业反映技术工人招工难", listOf("稳岗补贴"), listOf(), GeoLocation(34.75, 113.62, 12.0), listOf(photo)),
        )
        check(cadre.photoUploads().map { it.sha256 to it.state } == listOf(photo.sha256 to PhotoUploadState.WAITING), "${cadre.photoUploads()}")
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
        check(heard.map { it.state to it.uploadedBytes } == listOf(PhotoUploadState.UPLOADING to 0uL, PhotoUploadState.DONE to 50_004uL), "$heard")
        check(heard.all { it.sha256 == photo.sha256 && it.sizeBytes == 50_004uL }, "$heard")
        cadre.clearPhotoListener()
        check(cadre.photoUploads().single().state == PhotoUploadState.DONE, "${cadre.photoUploads()}")
        check(cadre.syncStatus(problemId) == DocSyncStatus.SYNCED, "synced")
    }

    scenario("the county office routes the problem with a deadline") {
        manager.signIn("410102-office", PASSWORD, "活动办电脑")
        manager.syncNow()
        val waiting = manager.problems(ProblemQuery(awaitingMe = true))
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
        cadre.setRelayUrl("https://127.0.0.1:9") // offline from here
        check(cadre.policies().any { it.id == policyId }, "the county's policy reaches the cadre's phone")
        val mine = cadre.policiesFor(enterpriseId).first { it.policy.id == policyId }
        check(mine.qualifies && mine.reasons.isNotEmpty() && mine.missing.isEmpty(), "$mine")
        check(mine.reasons.contains("规模：小型企业"), "${mine.reasons}")
        check(cadre.enterprise(enterpriseId).scale.sizeBand == SizeBand.SMALL, "the band from its figures")
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
        val mine = handler.problems(ProblemQuery(statuses = listOf(ProblemStatus.ROUTED), departmentId = "410102-hr"))
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
        val resolved = handler.problem(problemId).timeline.first { it.kind == ProblemEventKind.RESOLVED }
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
        cadre.setRelayUrl("https://127.0.0.1:9") // no signal: the search needs none
        val name = cadre.enterprise(enterpriseId).card.name
        val part = name.substring(2, 5)
        val found = cadre.search(part, SearchScope.ENTERPRISES, 0u, 20u)
        check(found.any { it.kind == DocumentKind.ENTERPRISE && it.id == enterpriseId }, "$part: $found")
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
        cadre.setRelayUrl("https://127.0.0.1:${stall.localPort}")
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
            check(p.confirmation == Confirmation.ENTERPRISE, "confirmed by ${p.confirmation}")
            check(p.timeline.map { it.eventId } == states[0].timeline.map { it.eventId }, "same timeline")
            check(p.timeline.map { it.kind } == listOf(ProblemEventKind.REPORTED, ProblemEventKind.ROUTED, ProblemEventKind.PROGRESS, ProblemEventKind.RESOLVED, ProblemEventKind.CONFIRMED, ProblemEventKind.CLOSED), "${p.timeline.map { it.kind }}")
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

    // ---- Scenarios independent of each other and of those above: each signs in phones of its own
    // and works on data it creates (or on demo data nobody else changes).

    scenario("a campaign office registers an enterprise, assigns a cadre picked from its region, updates and corrects it") {
        val office = client("register-office")
        office.signIn("410102-office", PASSWORD, "活动办平板")
        office.syncNow()
        val towns = office.regions().filter { it.parentId == "410102" }
        check(towns.size == 2 && towns.all { it.level == RegionLevel.TOWNSHIP }, "$towns")
        val id = office.registerEnterprise(EnterpriseInput(
            name = "中原区新登记机械有限公司", uscc = uscc("91410102MA5NEW001"), regionId = towns[0].id,
            industry = "装备制造", contacts = listOf(ContactPerson("赵总", phone = "13803710000")),
            scale = EnterpriseScale(employees = 80u),
        ))
        val picked = office.cadres().first { it.id == "410102-cadre3" }
        check(picked.regionId == "410102" && picked.mobile?.length == 11 && picked.unit != null, "$picked")
        office.assignCadre(id, picked.id, true)
        office.updateEnterprise(id, EnterpriseUpdate(tags = listOf("srdi"), address = "中原区工业大道1号"))
        office.correctEnterprise(id, EnterpriseCorrection("登记时名称有误", name = "中原区新登记精密机械有限公司"))
        val d = office.enterprise(id)
        check(d.card.name == "中原区新登记精密机械有限公司" && d.card.tags == listOf("srdi") && d.card.address == "中原区工业大道1号", "${d.card}")
        check(d.cadres.single().cadreId == picked.id && d.contacts.single() == ContactPerson("赵总", "", "13803710000"), "$d")
        check(d.scale.employees == 80u && d.scale.sizeBand == null, "${d.scale}")
        val unsynced = office.unsyncedDocuments().single { it.docId == id }
        check(unsynced.kind == DocumentKind.ENTERPRISE && unsynced.status == DocSyncStatus.WAITING && unsynced.waiting == 4u && unsynced.title == d.card.name, "$unsynced")
        check(office.syncNow().pushed == 4u, "pushed")
        check(office.unsyncedDocuments().none { it.docId == id }, "synced")

        // The cadre picked finds it on their phone and keeps its details up; registering and
        // correcting stay the office's.
        val cadre = client("register-cadre")
        cadre.signIn(picked.id, PASSWORD, "赵干部的手机")
        cadre.syncNow()
        check(cadre.myEnterprises().any { it.id == id }, "assigned")
        cadre.updateEnterprise(id, EnterpriseUpdate(industry = "通用设备制造"))
        check(cadre.syncNow().pushed == 1u, "the cadre's update is accepted")
        try {
            cadre.correctEnterprise(id, EnterpriseCorrection("改名", name = "别的名称有限公司"))
            throw AssertionError("a cadre may not correct the registration")
        } catch (e: ZhuqiException.NotAllowed) {
            check(e.messageZh.isNotEmpty(), "message")
        }
        try {
            cadre.registerEnterprise(EnterpriseInput(name = "干部登记的企业", uscc = uscc("91410102MA5NEW002"), regionId = "410102"))
            throw AssertionError("a cadre may not register enterprises")
        } catch (e: ZhuqiException.NotAllowed) {
            check(e.messageZh.isNotEmpty(), "message")
        }
        try {
            office.registerEnterprise(EnterpriseInput(name = "校验位错误的企业", uscc = "91410102MA5NEW0010", regionId = "410102"))
            throw AssertionError("a wrong check digit must be refused")
        } catch (e: ZhuqiException.Validation) {
            check(e.field == "uscc", e.field)
        }
        office.syncNow()
        check(office.enterprise(id).card.industry == "通用设备制造", "the office sees the cadre's update")
    }

    scenario("an assignment ends while its cadre works offline: the visit is refused, quarantined, exported and dismissed") {
        val office = client("quarantine-office")
        office.signIn("410102-office", PASSWORD, "活动办平板")
        office.syncNow()
        val id = office.registerEnterprise(EnterpriseInput(name = "中原区调整包联食品有限公司", uscc = uscc("91410102MA5END002"), regionId = "410102001"))
        office.assignCadre(id, "410102-cadre4", true)
        office.syncNow()
        val cadre = client("quarantine-cadre")
        cadre.signIn("410102-cadre4", PASSWORD, "包联干部的手机")
        cadre.syncNow()
        check(cadre.myEnterprises().any { it.id == id }, "assigned")
        cadre.setRelayUrl("https://127.0.0.1:9") // in the factory, no signal
        cadre.recordVisit(id, VisitInput(today, listOf("总经理"), "包联调整前的最后一次走访", listOf(), listOf(), null, listOf()))
        check(cadre.unsyncedDocuments().map { it.docId to it.status } == listOf(id to DocSyncStatus.WAITING), "${cadre.unsyncedDocuments()}")
        // Meanwhile the office moves the enterprise to another cadre.
        office.endAssignment(id, "410102-cadre4", reason = "岗位调整")
        office.assignCadre(id, "410102-cadre3", true)
        office.syncNow()
        cadre.setRelayUrl(relay)
        val sync = cadre.syncNow()
        check(sync.rejected == 1u && sync.purged >= 1u, "$sync")
        check(cadre.myEnterprises().none { it.id == id }, "the enterprise left the phone")
        val q = cadre.quarantine().single()
        check(q.docId == id && q.kind == DocumentKind.ENTERPRISE && q.code == RefusalCode.OUT_OF_SCOPE, "$q")
        check(q.events.single().contains("包联调整前的最后一次走访") && q.messageZh.isNotEmpty(), "$q")
        check(cadre.syncStatus(id) == DocSyncStatus.REJECTED, "rejected")
        val unsynced = cadre.unsyncedDocuments().single()
        check(unsynced.docId == id && unsynced.status == DocSyncStatus.REJECTED && unsynced.refused == 1u && unsynced.waiting == 0u, "$unsynced")
        val export = cadre.exportQuarantine()
        check(export.contains("包联调整前的最后一次走访") && export.contains("\"out_of_scope\"") && export.contains("change_hex"), export)
        try {
            cadre.enterprise(id)
            throw AssertionError("the enterprise is no longer on the phone")
        } catch (e: ZhuqiException.NotFound) {
            check(e.entity == EntityKind.ENTERPRISE && e.id == id && e.messageZh.isNotEmpty(), "$e")
        }
        cadre.dismissQuarantined(q.id)
        check(cadre.quarantine().isEmpty() && cadre.unsyncedDocuments().isEmpty(), "dismissed")
        check(cadre.syncStatus(id) == DocSyncStatus.SYNCED, "nothing of it left to sync")
        check(cadre.syncNow().rejected == 0u, "a later sync is clean")
        // The relay holds the enterprise without the refused visit; the new cadre has it.
        office.syncNow()
        check(office.enterprise(id).let { e -> e.visits.isEmpty() && e.cadres.single().cadreId == "410102-cadre3" }, "${office.enterprise(id)}")
    }

    scenario("a task notice is addressed from the pickers, read with its recipients, acknowledged and completed") {
        val office = client("notice-office")
        office.signIn("410102-office", PASSWORD, "活动办平板")
        office.syncNow()
        // Routing and addressing pickers: the office's own region and those within it by default.
        val departments = office.departments()
        check(departments.isNotEmpty() && departments.all { it.regionId == "410102" }, "$departments")
        check(office.departments(regionId = "410100", includeSubregions = false).all { it.regionId == "410100" && it.name.startsWith("郑州市") }, "the city's")
        check(office.departments(regionId = "410100").map { it.regionId }.toSet() == setOf("410100", "410102", "410105"), "the city's and its counties'")
        val finance = departments.first { it.id == "410102-finance" }
        val cadres = office.cadres()
        check(cadres.map { it.id }.containsAll(listOf("410102-cadre1", "410102-cadre2")) && cadres.all { it.regionId == "410102" }, "$cadres")
        val cadre2 = cadres.first { it.id == "410102-cadre2" }
        val deadline = office.deadlineIn(5u)
        val recipients = listOf(NoticeRecipient.Department(finance.id), NoticeRecipient.Cadre(cadre2.id))
        val id = office.issueTaskNotice(TaskNoticeInput("摸排企业用工需求", "请于5日内完成包联企业用工需求摸排", deadline, recipients))
        val issued = office.taskNotice(id)
        check(issued.card.status == TaskNoticeStatus.ISSUED && issued.card.recipients == 2u && issued.card.completed == 0u, "${issued.card}")
        check(issued.regionId == "410102" && issued.issuedBy == "410102-office" && issued.issuedByName == "中原区活动办", "$issued")
        check(issued.body == "请于5日内完成包联企业用工需求摸排" && issued.card.deadline == deadline, "$issued")
        check(issued.recipients.map { it.recipient } == recipients, "${issued.recipients}")
        check(issued.recipients.map { it.name } == listOf(finance.name, cadre2.name), "${issued.recipients}")
        check(issued.recipients.all { it.acknowledgedAt == null && it.completedAt == null && it.onTime == null }, "${issued.recipients}")
        check(office.unsyncedDocuments().single { it.docId == id }.let { it.kind == DocumentKind.TASK_NOTICE && it.title == "摸排企业用工需求" }, "unsynced")
        check(office.syncNow().pushed == 1u, "pushed")

        val cadre = client("notice-cadre")
        cadre.signIn(cadre2.id, PASSWORD, "李干部的手机")
        cadre.syncNow()
        check(cadre.taskNotices().single { it.id == id }.let { it.myAcknowledged == false && it.myCompleted == false }, "addressed to the cadre")
        cadre.acknowledgeTaskNotice(id)
        cadre.completeTaskNotice(id, "已摸排8家企业")
        val mine = cadre.taskNotice(id)
        val done = mine.recipients.single { it.recipient == NoticeRecipient.Cadre(cadre2.id) }
        check(done.acknowledgedAt != null && done.completedAt != null && done.onTime == true && done.note == "已摸排8家企业", "$done")
        check(mine.card.myCompleted == true && mine.card.status == TaskNoticeStatus.ISSUED && mine.card.completed == 1u, "${mine.card}")
        check(cadre.syncNow().pushed == 2u, "pushed")
        try {
            cadre.issueTaskNotice(TaskNoticeInput("干部发的通知", "内容", deadline, listOf(NoticeRecipient.Cadre(cadre2.id))))
            throw AssertionError("a cadre may not issue task notices")
        } catch (e: ZhuqiException.NotAllowed) {
            check(e.messageZh.isNotEmpty(), "message")
        }
        office.syncNow()
        check(office.taskNotice(id).recipients.single { it.recipient == NoticeRecipient.Cadre(cadre2.id) }.onTime == true, "the office sees it done")
        try {
            office.taskNotice("no-such-notice")
            throw AssertionError("no such notice")
        } catch (e: ZhuqiException.NotFound) {
            check(e.entity == EntityKind.TASK_NOTICE && e.id == "no-such-notice", "$e")
        }
    }

    scenario("pickers of a department handler; an unknown region or problem is NotFound") {
        val phone = client("pickers-handler")
        phone.signIn("410102-hr-handler", PASSWORD, "人社局平板")
        phone.syncNow()
        val regions = phone.regions()
        check(regions.first().let { it.id == "410000" && it.level == RegionLevel.PROVINCE && it.parentId == null }, "the province first")
        check(regions.all { r -> r.parentId == null || regions.indexOfFirst { it.id == r.parentId } in 0 until regions.indexOf(r) }, "each after its parent")
        check(phone.departments(includeSubregions = false).map { it.id }.contains("410102-hr"), "the handler's own region is its department's")
        try {
            phone.cadres(regionId = "no-such-region")
            throw AssertionError("no such region")
        } catch (e: ZhuqiException.NotFound) {
            check(e.entity == EntityKind.REGION && e.id == "no-such-region", "$e")
        }
        try {
            phone.problem("no-such-problem")
            throw AssertionError("no such problem")
        } catch (e: ZhuqiException.NotFound) {
            check(e.entity == EntityKind.PROBLEM, "$e")
        }
    }

    scenario("repeated failed sign-ins are throttled, with the seconds to wait") {
        val phone = client("throttled")
        var throttled: ZhuqiException.Throttled? = null
        for (attempt in 1..10) {
            try {
                phone.signIn("throttle-test-login", "wrong password", "手机")
                throw AssertionError("a wrong password signed in")
            } catch (e: ZhuqiException.Rejected) {
                check(e.code == "bad_credentials", e.code)
            } catch (e: ZhuqiException.Throttled) {
                throttled = e
                break
            }
        }
        val t = throttled ?: throw AssertionError("never throttled")
        check(t.retryAfterS in 1uL..900uL && t.messageZh.contains("${t.retryAfterS}秒"), "$t")
        check(phone.currentUser() == null, "not signed in")
    }

    scenario("the store is encrypted: without its key, or with another, it does not open") {
        val name = "encrypted"
        val phone = client(name)
        phone.signIn("410102-cadre2", PASSWORD, "李华的手机")
        phone.syncNow()
        val mine = phone.myEnterprises()
        check(mine.isNotEmpty(), "assigned enterprises")
        phone.close()
        val db = dir.resolve(name).toFile().listFiles()!!.first { it.name.endsWith(".db") }
        check(!db.readBytes().copyOfRange(0, 15).contentEquals("SQLite format 3".toByteArray()), "no SQLite header: encrypted")
        for ((what, opts) in listOf(
            "another key" to ClientOptions(storeKey = key("someone else"), extraRootCertificates = listOf(ca)),
            "no key" to ClientOptions(extraRootCertificates = listOf(ca)),
            "a short key" to ClientOptions(storeKey = ByteArray(16), extraRootCertificates = listOf(ca)),
        )) {
            try {
                ZhuqiClient(dir.resolve(name).toString(), relay, opts).close()
                throw AssertionError("opened with $what")
            } catch (e: ZhuqiException.KeyRejected) {
                check(e.messageZh.contains("密钥"), e.messageZh)
            }
        }
        val again = client(name)
        check(again.myEnterprises() == mine, "the right key opens it, offline")
        again.signOut(true)
        check(dir.resolve(name).toFile().listFiles()!!.none { it.name.endsWith(".key") || it.name.endsWith(".db") }, "key and store destroyed")
    }

    scenario("TLS: an untrusted CA and plain http are TLS errors, not offline") {
        val untrusting = ZhuqiClient(dir.resolve("untrusting").toString(), relay, ClientOptions(storeKey = key("untrusting")))
        try {
            untrusting.signIn("410102-cadre1", PASSWORD, "手机")
            throw AssertionError("signed in to a relay whose CA is not trusted")
        } catch (e: ZhuqiException.Tls) {
            check(e.messageZh.contains("证书") && e.detail.contains("certificate", ignoreCase = true), "$e")
        }
        try {
            ZhuqiClient(dir.resolve("plain").toString(), relay.replace("https://", "http://"), ClientOptions())
            throw AssertionError("plain http accepted")
        } catch (e: ZhuqiException.Tls) {
            check(e.detail.contains("https://"), e.detail)
        }
    }

    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0) 0 else 1)
}
