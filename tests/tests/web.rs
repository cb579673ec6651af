//! The managers' web pages through a real relay: sign-in with a session cookie, the overview's
//! figures against the relay's data, refusal of other roles, CSRF-checked sign-out.

use zhuqi_tests::browser::{Browser, csrf_in};
use zhuqi_tests::*;

fn card(html: &str, label: &str) -> String {
    let start = html.find(&format!("{label}<b>")).unwrap_or_else(|| panic!("no card {label}")) + label.len() + 3;
    html[start..].split("</b>").next().unwrap().to_owned()
}

#[test]
fn a_manager_signs_in_and_sees_figures_equal_to_the_relays_data() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    zhuqi_server::admin::demo::seed(&relay.state, zhuqi_server::now_ms()).unwrap();
    let mut b = Browser::new(&relay.url);
    let mut rows: Vec<String>;

    let (status, _, location) = b.get("/");
    assert_eq!((status, location.as_deref()), (303, Some("/login")), "not signed in: to the sign-in page");
    let (status, html) = b.sign_in("410102-office", "wrong");
    assert_eq!(status, 401);
    assert!(html.contains("账号或密码错误"));
    let (status, _) = b.sign_in("410102-office", "zhuqi2026");
    assert_eq!(status, 303);

    // The whole demo period, so every problem of the county counts.
    let (status, html, _) = b.get("/?from=2000-01-01&to=2099-12-31");
    assert_eq!(status, 200);
    assert!(html.contains("中原区"));
    let db = rusqlite::Connection::open(tmp.path().join("relay/relay.db")).unwrap();
    let count = |sql: &str| -> u32 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    // Withdrawn and merged problems are no problems of their own.
    let reported =
        count("SELECT COUNT(*) FROM problems WHERE region_id LIKE '410102%' AND status NOT IN ('withdrawn', 'merged')");
    let resolved = count(
        "SELECT COUNT(*) FROM problems WHERE region_id LIKE '410102%' AND status IN ('resolved','confirmed','closed')",
    );
    // Routed and past the deadline, or not routed within the acceptance limit.
    let now = zhuqi_server::now_ms();
    let overdue = count(&format!(
        "SELECT COUNT(*) FROM problems WHERE region_id LIKE '410102%' AND ((status = 'routed' AND deadline < {now})
         OR (status IN ('reported', 'accepted') AND reported_at < {}))",
        now - zhuqi_core::domain::problem::ACCEPTANCE_LIMIT_MS
    ));
    let visits = count(
        "SELECT COUNT(*) FROM visits v JOIN enterprises e ON e.id = v.enterprise_id WHERE e.region_id LIKE '410102%'",
    );
    assert!(reported > 0);
    assert_eq!(card(&html, "上报问题"), reported.to_string());
    assert_eq!(card(&html, "办结问题"), resolved.to_string());
    assert_eq!(card(&html, "解决率"), format!("{:.1}%", resolved as f64 / reported as f64 * 100.0));
    assert_eq!(card(&html, "当前超期"), overdue.to_string());
    assert_eq!(card(&html, "走访次数"), visits.to_string());
    assert!(html.contains("<svg") && html.contains("计算于"));
    assert!(html.contains(r#"id="by-region""#) && html.contains(r#"id="by-department""#));

    // The problem list, filtered: the overdue ones of the county.
    let (status, list, _) = b.get("/problems?overdue=1");
    assert_eq!(status, 200);
    rows = list.split(r#"<tr data-id=""#).skip(1).map(|r| r.split('"').next().unwrap().to_owned()).collect();
    assert_eq!(rows.len() as u32, overdue);
    assert!(list.contains(&format!("共 {overdue} 个问题")));
    let count = |html: &str| html.split(r#"<tr data-id=""#).count() - 1;
    let (_, loans, _) = b.get(&format!("/problems?q={}", zhuqi_tests::browser::url_encode("贷款")));
    assert!(count(&loans) > 0, "text search finds loans");
    // Every term must appear: loans of one enterprise are fewer, and a term found nowhere finds none.
    let name = loans.split("/enterprises/").nth(1).and_then(|r| r.split('>').nth(1)).and_then(|r| r.split('<').next());
    let name = name.expect("an enterprise named in the list").to_owned();
    let (_, theirs, _) = b.get(&format!("/problems?q={}", zhuqi_tests::browser::url_encode(&format!("贷款 {name}"))));
    assert!((1..=count(&loans)).contains(&count(&theirs)), "{name}");
    let (_, none, _) = b.get(&format!("/problems?q={}", zhuqi_tests::browser::url_encode("贷款 没有这样的字")));
    assert_eq!(count(&none), 0);
    // Its timeline, then urging it from the desk: the urge appears, by the office, through validation.
    // (Urged: one past its deadline; those overdue because nobody routed them yet are not urged.)
    let (_, late, _) = b.get("/problems?overdue=1&status=routed");
    let overdue_id =
        late.split(r#"<tr data-id=""#).nth(1).expect("a routed problem overdue").split('"').next().unwrap();
    let overdue_id = overdue_id.to_owned();
    let (status, page, _) = b.get(&format!("/problems/{overdue_id}"));
    assert_eq!(status, 200);
    assert!(page.contains("全程记录") && page.contains("上报") && page.contains("交办"));
    let urges_before = page.matches("<td>催办</td>").count();
    let csrf = page.split(r#"name="csrf" value=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    let (status, _) = b.post(&format!("/problems/{overdue_id}/urge"), "csrf=forged&note=x");
    assert_eq!(status, 403);
    let (status, _) =
        b.post(&format!("/problems/{overdue_id}/urge"), &format!("csrf={csrf}&note=%E8%AF%B7%E5%8A%A0%E5%BF%AB")); // 请加快
    assert_eq!(status, 303);
    let (_, page, _) = b.get(&format!("/problems/{overdue_id}"));
    assert_eq!(page.matches("<td>催办</td>").count(), urges_before + 1);
    assert!(page.contains("请加快") && page.contains("中原区活动办"));
    assert_eq!(b.get("/problems/no-such-id").0, 404);
    // Routing a reported problem and escalating it, from the desk.
    let (_, reported, _) = b.get("/problems?status=reported");
    let rid =
        reported.split(r#"<tr data-id=""#).nth(1).expect("a reported problem").split('"').next().unwrap().to_owned();
    let (status, _) = b.post(
        &format!("/problems/{rid}/route"),
        &format!("csrf={csrf}&department=410102-finance&level=1&deadline=2099-01-31&note=x"),
    );
    assert_eq!(status, 303);
    // Escalated with a new deadline given in days (the demo's offices count calendar days), a blank
    // date beside it as a browser sends the form.
    let (status, _) = b.post(
        &format!("/problems/{rid}/escalate"),
        &format!("csrf={csrf}&level=2&note=%E5%8D%8F%E8%B0%83&deadline=&days=10"),
    );
    assert_eq!(status, 303);
    let in_ten_days = zhuqi_core::domain::Calendar::default().deadline(zhuqi_server::now_ms(), 10, false).unwrap();
    let (_, page, _) = b.get(&format!("/problems/{rid}"));
    assert!(page.contains(&zhuqi_core::domain::text::date_of(in_ten_days)), "the deadline 10 days from today");
    assert!(page.contains(r#"placeholder="或 N 天""#));
    let (status, refused) = b.post(&format!("/problems/{rid}/escalate"), &format!("csrf={csrf}&level=1&note=x"));
    assert_eq!(status, 422, "levels only go up");
    assert!(refused.contains("操作未完成"));
    let (_, page, _) = b.get(&format!("/problems/{rid}"));
    assert!(page.contains("<td>交办</td>") && page.contains("<td>提级督办</td>") && page.contains("第2级"));
    // A resolved problem whose enterprise has no app: the office calls it back and records its answer.
    let (_, resolved, _) = b.get("/problems?status=resolved");
    let qid =
        resolved.split(r#"<tr data-id=""#).nth(1).expect("a resolved problem").split('"').next().unwrap().to_owned();
    let (status, refused) =
        b.post(&format!("/problems/{qid}/call-back"), &format!("csrf={csrf}&contact=&accepted=yes&rating=4"));
    assert_eq!(status, 422, "whom the office spoke to is required");
    assert!(refused.contains("操作未完成"));
    let (status, _) = b.post(
        &format!("/problems/{qid}/call-back"),
        &format!("csrf={csrf}&contact=%E5%88%98%E6%80%BB&accepted=yes&rating=4&note=ok"), // 刘总
    );
    assert_eq!(status, 303);
    let (_, page, _) = b.get(&format!("/problems/{qid}"));
    assert!(page.contains("<td>代确认（回访）</td>") && page.contains("回访刘总：满意度 4/5"), "shown as 代确认");
    assert!(page.contains("企业已确认"));

    // Exports of the filtered list: CSV with a BOM, XLSX, the same rows (the routing above took one
    // problem off the list: overdue only because nobody had routed it).
    let (_, list, _) = b.get("/problems?overdue=1");
    rows = list.split(r#"<tr data-id=""#).skip(1).map(|r| r.split('"').next().unwrap().to_owned()).collect();
    let (http, base, cookie) = (b.http.clone(), b.base.clone(), b.cookie_header());
    let get_bytes = |path: &str| -> (String, Vec<u8>) {
        let r = http.get(format!("{base}{path}")).header("cookie", &cookie).send().unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        (ct, r.bytes().unwrap().to_vec())
    };
    let (ct, csv) = get_bytes("/export/problems.csv?overdue=1");
    assert!(ct.starts_with("text/csv"));
    assert!(csv.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with BOM");
    let mut reader = csv::Reader::from_reader(&csv[3..]);
    assert_eq!(reader.headers().unwrap().get(1), Some("问题"));
    let ids: Vec<String> = reader.records().map(|r| r.unwrap()[0].to_owned()).collect();
    assert_eq!(ids, rows);
    let (_, xlsx) = get_bytes("/export/problems.xlsx?overdue=1");
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).unwrap();
    let range = calamine::Reader::worksheet_range(&mut book, "问题").unwrap();
    assert_eq!(range.height() - 1, rows.len());
    assert_eq!(range.get((1, 0)).map(|c| c.to_string()), Some(rows[0].to_owned()));

    // The monthly ranking of the counties and departments, and its exports.
    let month = zhuqi_core::domain::text::date_of(zhuqi_server::now_ms())[..7].to_owned();
    let (status, ranking, _) = b.get(&format!("/ranking?month={month}"));
    assert_eq!(status, 200);
    assert!(
        ranking.contains(r#"id="ranking-counties""#) && ranking.contains("中原区") && ranking.contains("得分 = 40")
    );
    assert!(!ranking.contains("金水区"), "a county office ranks only its own subtree");
    let (_, csv) = get_bytes(&format!("/export/ranking.csv?month={month}"));
    let text = String::from_utf8(csv[3..].to_vec()).unwrap();
    assert!(text.starts_with("排名,单位,得分") && text.contains("中原区财政局"));
    let (_, xlsx) = get_bytes(&format!("/export/ranking.xlsx?month={month}"));
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).unwrap();
    let counties = calamine::Reader::worksheet_range(&mut book, "县区").unwrap();
    assert_eq!(counties.height(), 2, "header and 中原区");
    let departments = calamine::Reader::worksheet_range(&mut book, "责任单位").unwrap();
    assert_eq!(departments.height(), 5, "header and four bureaus");

    // An enterprise page (profile, cadres, visits, problems) and a cadre page.
    // A record of another county answers exactly as one that does not exist: the pages are no
    // oracle of what exists elsewhere.
    let storage = relay.state.storage.as_ref();
    let elsewhere = |region: &str| !region.starts_with(zhuqi_tests::COUNTY);
    let problem = storage.problem_rows().unwrap().into_iter().find(|p| elsewhere(&p.region_id)).unwrap().id;
    let enterprise = storage.enterprise_rows().unwrap().into_iter().find(|e| elsewhere(&e.2)).unwrap().0;
    let dir = relay.state.directory.get(storage).unwrap();
    let cadre = dir
        .users
        .values()
        .find(|u| u.role == zhuqi_core::domain::Role::Cadre && elsewhere(u.region_id.as_deref().unwrap_or_default()))
        .unwrap()
        .id
        .clone();
    for (kind, id) in [("problems", problem), ("enterprises", enterprise), ("cadres", cadre)] {
        let (status, there, _) = b.get(&format!("/{kind}/{id}"));
        assert_eq!(status, 404, "{kind}/{id}");
        assert_eq!(
            (status, there),
            {
                let (s, t, _) = b.get(&format!("/{kind}/no-such-id"));
                (s, t)
            },
            "{kind}"
        );
    }

    let (status, ent, _) = b.get("/enterprises/demo-ent-000");
    assert_eq!(status, 200);
    assert!(ent.contains("统一社会信用代码") && ent.contains(r#"id="visits""#) && ent.contains("首席服务官"));
    let cadre = ent.split(r#"<a href="/cadres/"#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    let (status, page, _) = b.get(&format!("/cadres/{cadre}"));
    assert_eq!(status, 200);
    assert!(page.contains("包联企业") && page.contains(r#"id="per-month""#) && page.contains("30天未走访"));
    assert_eq!(b.get("/enterprises/demo-ent-001").0, 404, "another county's enterprise");

    // Dispatching a task notice to a department and a cadre, the cadre found by a search from the
    // form and ticked, then following it.
    let (status, found, _) = b.get("/notices?q=410102-cadre2&search=1");
    assert_eq!(status, 200);
    assert!(found.contains(r#"value="department:410102-finance">"#), "the county's own bureaus are listed");
    assert_eq!(found.matches(r#"value="cadre:"#).count(), 1);
    assert!(found.contains(r#"value="cadre:410102-cadre2">"#));
    let (_, ticked, _) = b.get("/notices?to=cadre%3A410102-cadre2&to=department%3A410102-finance&q=&search=1");
    assert!(ticked.contains(r#"value="cadre:410102-cadre2" checked>"#));
    assert!(ticked.contains(r#"value="department:410102-finance" checked>"#));
    let form = format!(
        "csrf={csrf}&region=410102&title=%E8%B5%B0%E8%AE%BF&body=%E5%85%A8%E8%A6%86%E7%9B%96&deadline=2099-01-31&to=department%3A410102-finance&to=cadre%3A410102-cadre2"
    );
    let (status, _) = b.post("/notices", &form);
    assert_eq!(status, 303);
    let (_, notices, _) = b.get("/notices");
    let nid =
        notices.split(r#"<tr data-id=""#).find(|r| r.contains("走访")).unwrap().split('"').next().unwrap().to_owned();
    let (status, notice, _) = b.get(&format!("/notices/{nid}"));
    assert_eq!(status, 200);
    assert!(
        notice.contains("中原区财政局") && notice.contains(r#"id="recipients""#) && notice.matches("<tr>").count() >= 3
    );
    let (status, _) =
        b.post("/notices", &form.replace("to=department%3A410102-finance&", "to=department%3A410105-finance&"));
    assert_eq!(status, 422, "another county's bureau is not the office's to task");

    // Sign-out needs the page's CSRF token.
    let csrf = csrf_in(&html);
    let cookies = b.cookies.clone();
    b.post("/logout", "csrf=forged");
    b.cookies = cookies.clone();
    assert_eq!(b.get("/").0, 200, "a forged token signs nobody out");
    b.post("/logout", &format!("csrf={csrf}"));
    b.cookies = cookies;
    assert_eq!(b.get("/").0, 303, "signed out: the session is gone, not only its cookie");

    // A department handler and an enterprise are refused the manager pages.
    for login in ["410102-finance-handler", "ent000"] {
        let mut other = Browser::new(&relay.url);
        other.sign_in(login, "zhuqi2026");
        let (status, html, _) = other.get("/");
        assert_eq!(status, 403, "{login}");
        assert!(html.contains("仅供活动办"));
    }
}

#[test]
fn figures_count_concurrent_and_late_data_by_the_device_times() {
    use zhuqi_core::domain::Category;
    use zhuqi_core::store::NewProblem;
    use zhuqi_server::dashboard::kpi::{Period, figures};
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    seed_directory(relay.state.storage.as_ref());
    seed_enterprises(&relay.url, tmp.path());
    let cadre = Device::sign_in(&relay.url, tmp.path(), "cadre");
    let manager = Device::sign_in(&relay.url, tmp.path(), "manager");
    let handler = Device::sign_in(&relay.url, tmp.path(), "handler");
    let phone = Device::sign_in(&relay.url, tmp.path(), "contact");
    let tablet = Device::sign_in(&relay.url, tmp.path(), "contact");
    cadre.sync();
    let pid = cadre
        .store
        .report_problem(NewProblem {
            enterprise_id: ENT_A.into(),
            category: Category::Land,
            title: "用地".into(),
            description: "扩建".into(),
            visit_id: None,
            photos: vec![],
        })
        .unwrap();
    cadre.sync();
    manager.sync();
    manager.store.route_problem(&pid, FINANCE, 1, zhuqi_server::now_ms() + 5 * DAY, "").unwrap();
    manager.sync();
    handler.sync();
    // The handler resolves offline; the relay does not know yet.
    handler.store.resolve_problem(&pid, "已办结").unwrap();
    let resolved_on_phone = handler.store.problem(&pid).unwrap().state.resolved_at.unwrap();
    let today = Period { from: resolved_on_phone - DAY, to: resolved_on_phone + DAY };
    let facts = || relay.state.storage.problem_facts().unwrap();
    let before = figures(&facts(), &[], today, zhuqi_server::now_ms());
    assert_eq!((before.reported, before.resolved), (1, 0));
    std::thread::sleep(std::time::Duration::from_millis(20));
    // It syncs later: the resolution counts at the phone's time, in the same period.
    handler.sync();
    let after = figures(&facts(), &[], today, zhuqi_server::now_ms());
    assert_eq!(after.resolved, 1);
    assert_eq!(facts()[0].resolved_at, Some(resolved_on_phone), "the phone's time, not the arrival time");
    assert_eq!(after.on_time_rate, Some(1.0));
    // The enterprise confirms on its phone and, concurrently, rejects on its tablet: the figures
    // follow the one folded state every replica agrees on, counting the problem once.
    phone.sync();
    tablet.sync();
    phone.store.confirm_resolution(&pid, 5, "").unwrap();
    tablet.store.reject_resolution(&pid, "未到账").unwrap();
    phone.sync();
    tablet.sync();
    phone.sync();
    let f = figures(&facts(), &[], today, zhuqi_server::now_ms());
    let state = phone.store.problem(&pid).unwrap().state;
    assert_eq!(f.reported, 1);
    match state.status {
        zhuqi_core::domain::ProblemStatus::Confirmed => assert_eq!((f.resolved, f.satisfaction_rate), (1, Some(1.0))),
        status => {
            assert_eq!(status, zhuqi_core::domain::ProblemStatus::Routed);
            assert_eq!((f.resolved, f.satisfaction_rate), (0, None));
        }
    }
    assert_eq!(phone.store.problem(&pid).unwrap().summary.conflict_count, 1);
}

#[test]
fn the_notice_form_finds_cadres_instead_of_listing_every_one() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    let storage = relay.state.storage.as_ref();
    seed_directory(storage);
    let cadres = seed_more_cadres(storage, 4000);
    let mut b = Browser::new(&relay.url);
    assert_eq!(b.sign_in("manager", PASSWORD).0, 303);
    let (status, page, _) = b.get("/notices");
    assert_eq!(status, 200);
    eprintln!("/notices for an office over {} cadres: {} bytes", cadres.len() + 1, page.len());
    let boxes = |html: &str| html.matches(r#"name="to" value="cadre:"#).count();
    assert!(page.len() < 60_000, "{} bytes", page.len());
    assert_eq!(boxes(&page), 0, "no cadre is listed before a search");

    // A search sent from the form comes back without the CSRF token in its address, with at most 50
    // cadres and how many more matched, and the fields filled in.
    let csrf = csrf_in(&page);
    let title = zhuqi_tests::browser::url_encode("春节前走访");
    let form = |rest: &str| {
        format!("csrf={csrf}&region={COUNTY}&title={title}&body=%E5%85%A8%E8%A6%86%E7%9B%96&deadline=2099-01-31{rest}")
    };
    let (status, _, location) = b.get(&format!("/notices?{}", form("&q=cadre-1&search=1")));
    assert_eq!(status, 303);
    let location = location.unwrap();
    assert!(location.starts_with("/notices?") && !location.contains("csrf") && location.contains("q=cadre-1"));
    let (status, found, _) = b.get(&location);
    assert_eq!(status, 200);
    eprintln!("/notices after a search matching 1,111 cadres: {} bytes", found.len());
    assert!(found.len() < 60_000, "{} bytes", found.len());
    assert_eq!(boxes(&found), 50);
    // cadre-1, cadre-10…19, cadre-100…199, cadre-1000…1999.
    assert!(found.contains("另有 1061 名干部相符"));
    assert!(found.contains(r#"value="春节前走访">"#) && found.contains(">全覆盖</textarea>"));
    assert!(found.contains(r#"value="2099-01-31">"#));
    // Ticked, then another search: the ticked cadre stays ticked; one of another county is dropped.
    let (_, again, _) =
        b.get(&format!("/notices?title={title}&to=cadre%3Acadre-3999&to=cadre%3Acadre-b&q=cadre-2000&search=1"));
    assert!(again.contains(r#"value="cadre:cadre-3999" checked>"#));
    assert!(again.contains(r#"value="cadre:cadre-2000">"#));
    assert_eq!(boxes(&again), 2);
    assert!(!again.contains("cadre-b") && !again.contains("李干部"), "another county's cadre is not named");
    // Issuing what was ticked (a recipient sent twice counts once).
    let to = "&to=cadre%3Acadre-3999&to=cadre%3Acadre-2000&to=cadre%3Acadre-3999&to=department%3Adept-finance";
    let (status, _) = b.post("/notices", &form(to));
    assert_eq!(status, 303);
    let (_, notices, _) = b.get("/notices");
    let nid = notices.split(r#"<tr data-id=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    let (_, notice, _) = b.get(&format!("/notices/{nid}"));
    assert!(notice.contains("春节前走访") && notice.contains("中原区财政局"));
    assert!(notice.contains("干部cadre-3999") && notice.contains("干部cadre-2000"));
    assert_eq!(notice.matches("<tr>").count(), 1 + 3);
    // A cadre of another county is refused, whatever the form sends.
    let (status, _) = b.post("/notices", &form("&to=cadre%3Acadre-b"));
    assert_eq!(status, 422, "another county's cadre is not the office's to task");
}
