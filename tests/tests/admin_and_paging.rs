//! Admin imports (CSV with Chinese headers, all-or-nothing with line numbers), the demo province,
//! and large pulls paged by a byte budget.

use zhuqi_core::domain::ProblemStatus;
use zhuqi_core::sync::protocol::*;
use zhuqi_server::admin::import;
use zhuqi_tests::*;

#[test]
fn csv_imports_accept_chinese_headers_and_refuse_whole_files_with_a_bad_row() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    let st = &relay.state;
    let regions =
        "\u{feff}代码,名称,级别,上级\n410000,河南省,省,\n410100,郑州市,市,410000\n410102,中原区,县区,410100\n";
    assert_eq!(import::regions(st, regions.as_bytes()).unwrap(), 3);
    let depts = "编号,名称,地区\nfin,中原区财政局,410102\n";
    assert_eq!(import::departments(st, depts.as_bytes()).unwrap(), 1);
    let code = |s: &str| zhuqi_core::domain::uscc::complete(s).unwrap();
    let (c1, c2) = (code("91410102MA44XY8K1"), code("91410102MA44XY8K2"));
    let good = format!(
        "企业名称,统一社会信用代码,所属地区,行业,标签,地址\n甲公司,{c1},410102,制造,专精特新;规上,建设路1号\n乙公司,{c2},410102,食品,,建设路2号\n"
    );
    let mut bad_code = c2.clone();
    bad_code.pop();
    bad_code.push(if c2.ends_with('1') { '2' } else { '1' });
    let bad = format!(
        "企业名称,统一社会信用代码,所属地区\n丙公司,{},410102\n丁公司,{bad_code},410102\n",
        code("91410102MA44XY8K3")
    );
    let err = import::enterprises(st, bad.as_bytes()).unwrap_err().to_string();
    assert_eq!(err, "第3行：统一社会信用代码校验位不正确，请核对");
    assert_eq!(st.storage.document_count().unwrap(), 0, "nothing half-imported");
    let err = import::enterprises(st, "名称,统一社会信用代码,地区\n戊公司,91410102MA44XY8K4X,999999\n".as_bytes())
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("第2行"), "{err}");
    assert_eq!(import::enterprises(st, good.as_bytes()).unwrap(), 2);
    assert_eq!(st.storage.document_count().unwrap(), 2);
    let err = import::enterprises(st, good.as_bytes()).unwrap_err().to_string();
    assert!(err.contains("重复"), "{err}");

    let users = "登录名,姓名,角色,地区,部门,企业,密码,手机号,职务,工作单位\n\
                 wang,王干部,干部,410102,,,password1,+86 138-3710-0001,副局长,市发展改革委\n\
                 zhang,张科长,责任单位,,fin,,password2,,科长,\n\
                 liu,刘总,企业,,,"
        .to_owned()
        + &c1
        + ",password3,,,\n";
    assert_eq!(import::users(st, users.as_bytes()).unwrap(), 3);
    let wang = st.storage.account_by_login("wang").unwrap().unwrap().user;
    assert_eq!(
        (wang.mobile.as_deref(), wang.position.as_deref(), wang.unit.as_deref()),
        (Some("13837100001"), Some("副局长"), Some("市发展改革委"))
    );
    let zhang = st.storage.account_by_login("zhang").unwrap().unwrap().user;
    assert_eq!((zhang.mobile, zhang.position.as_deref(), zhang.unit), (None, Some("科长"), None));
    let bad_users = "登录名,姓名,角色,地区\nli,李干部,干部,410102\nli2,李干部,园长,410102\n";
    assert!(import::users(st, bad_users.as_bytes()).unwrap_err().to_string().starts_with("第3行"));
    assert!(st.storage.account_by_login("li").unwrap().is_none(), "nothing half-imported");
    let bad_mobile =
        "登录名,姓名,角色,地区,手机\nli,李干部,干部,410102,13800000000\nli2,李干部,干部,410102,0371-1234\n";
    let err = import::users(st, bad_mobile.as_bytes()).unwrap_err().to_string();
    assert_eq!(err, "第3行：手机号码格式不正确");
    assert!(st.storage.account_by_login("li").unwrap().is_none(), "nothing half-imported");
    let assignments = format!("统一社会信用代码,干部登录名,首席\n{c1},wang,是\n");
    assert_eq!(import::assignments(st, assignments.as_bytes()).unwrap(), 1);
    assert!(
        import::assignments(st, format!("企业,干部\n{c2},nobody\n").as_bytes())
            .unwrap_err()
            .to_string()
            .starts_with("第2行")
    );

    // The imported cadre signs in and receives the assigned enterprise.
    let client = zhuqi_core::sync::SyncClient::new(&relay.url).unwrap();
    let resp = client.sign_in("wang", "password1", "手机").unwrap();
    let d = Device::open(client, tmp.path(), resp);
    assert_eq!(d.sync().pulled, 1);
    assert_eq!(d.store.my_enterprises().unwrap()[0].name, "甲公司");
    assert_eq!(d.store.my_enterprises().unwrap()[0].tags, vec!["专精特新", "规上"]);

    // The enterprise's contact sees who its cadre is and how to reach them.
    let client = zhuqi_core::sync::SyncClient::new(&relay.url).unwrap();
    let resp = client.sign_in("liu", "password3", "手机").unwrap();
    let contact = Device::open(client, tmp.path(), resp);
    contact.sync();
    let ent = contact.store.my_enterprises().unwrap()[0].id.clone();
    let cadre =
        contact.store.enterprise(&ent).unwrap().assignments[0].cadre.clone().expect("the cadre in the directory");
    assert_eq!(
        (cadre.name.as_str(), cadre.mobile.as_deref(), cadre.position.as_deref(), cadre.unit.as_deref()),
        ("王干部", Some("13837100001"), Some("副局长"), Some("市发展改革委"))
    );
}

#[test]
fn office_settings_and_the_holiday_calendar_import_and_reach_every_phone() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    let st = &relay.state;
    seed_directory(st.storage.as_ref());
    // Bad rows are refused by line, and nothing of their file is kept.
    let bad = [
        ("地区,确认期限,工作日\n410100,30,是\n999999,30,否\n", "第3行：地区 999999 不存在"),
        ("地区,确认期限\n410100,30\n410102,14\n", "第3行：企业确认期限应在15到90之间"),
        ("地区,确认期限,工作日\n410100,30天,也许\n", "第2行：按工作日计“也许”应为 是 或 否"),
        ("地区,确认期限\n410100,30\n410100,20\n", "第3行：地区 410100 重复"),
    ];
    for (file, message) in bad {
        assert_eq!(import::office_settings(st, file.as_bytes()).unwrap_err().to_string(), message);
    }
    let bad_days = [
        ("日期,类型,名称\n2026-10-01,休,国庆节\n2026-02-30,休,\n", "第3行：日期“2026-02-30”不是日期（如 2026-10-01）"),
        ("日期,类型\n2026-10-01,休\n2026-10-09,班\n", "第3行：2026-10-09 本是工作日：“班”只用于周末调休上班"),
        ("日期,类型\n2026-10-01,休\n2026-10-10,上午班\n", "第3行：类型“上午班”应为 休 或 班"),
        ("日期,类型\n2026-10-01,休\n2026/10/1,休\n", "第3行：日期 2026-10-01 重复"),
    ];
    for (file, message) in bad_days {
        assert_eq!(import::calendar(st, file.as_bytes()).unwrap_err().to_string(), message);
    }
    assert_eq!(st.storage.directory().unwrap().0.settings, vec![], "nothing half-imported");
    assert_eq!(st.storage.directory().unwrap().0.calendar, vec![], "nothing half-imported");

    // The city gives enterprises 30 days and counts working days; 中原区 keeps 15 calendar days.
    let settings = "区划代码,企业确认期限,按工作日计\n410100,30天,是\n410102,15,否\n";
    assert_eq!(import::office_settings(st, settings.as_bytes()).unwrap(), 2);
    let calendar = "2026年节假日安排\n日期,类型,名称\n2026/10/1,休,国庆节\n2026-10-02,休,国庆节\n2026-10-05,休,国庆节\n\
                    2026-10-03,班,国庆节调休\n";
    assert_eq!(import::calendar(st, calendar.as_bytes()).unwrap(), 4);
    // A corrected notice is imported over the old one: Saturday 10-03 is a holiday after all.
    assert_eq!(import::calendar(st, "日期,类型,名称\n2026-10-03,休,更正\n".as_bytes()).unwrap(), 1);

    let city = Device::sign_in(&relay.url, tmp.path(), "city");
    city.sync();
    let county = Device::sign_in(&relay.url, tmp.path(), "manager");
    county.sync();
    let working = city.store.office_settings(CITY).unwrap();
    assert_eq!((working.answer_days, working.working_days), (30, true));
    let other = city.store.office_settings(OTHER_COUNTY).unwrap();
    assert_eq!((other.region_id.as_str(), other.answer_days), (CITY, 30), "a county without its own inherits");
    let own = county.store.office_settings(COUNTY).unwrap();
    assert_eq!((own.region_id.as_str(), own.answer_days, own.working_days), (COUNTY, 15, false));
    // The phones count a deadline as their office does, with the calendar they received: from
    // Wednesday 2026-09-30, 3 working days skip 10-01 and 10-02 (休), the weekend (10-03 corrected
    // to 休) and Monday 10-05 (休), and count 10-06, 10-07 and 10-08.
    let wednesday = 1_790_726_400_000 + 2 * 3_600_000; // 2026-09-30 10:00 China time
    assert_eq!(zhuqi_core::domain::text::date_of(wednesday), "2026-09-30");
    let cal = zhuqi_core::domain::Calendar::new(&st.storage.directory().unwrap().0.calendar);
    assert_eq!(zhuqi_core::domain::text::date_of(cal.deadline(wednesday, 3, true).unwrap()), "2026-10-08");
    let from_now = |d: &Device| d.store.deadline_in(3).unwrap();
    let now = zhuqi_server::now_ms();
    assert_eq!(from_now(&city), cal.deadline(now, 3, true).unwrap());
    assert_eq!(from_now(&county), cal.deadline(now, 3, false).unwrap());
}

#[test]
fn the_demo_province_has_every_state_and_seeds_once() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    let seeded = zhuqi_server::admin::demo::seed(&relay.state, zhuqi_server::now_ms()).unwrap().expect("seeded");
    assert!(seeded.accounts.len() >= 5);
    assert!(zhuqi_server::admin::demo::seed(&relay.state, zhuqi_server::now_ms()).unwrap().is_none(), "only once");
    // A county office's phone receives its county: 200 / 6 enterprises and their problems.
    let client = zhuqi_core::sync::SyncClient::new(&relay.url).unwrap();
    let resp = client.sign_in("410102-office", zhuqi_server::admin::demo::DEMO_PASSWORD, "手机").unwrap();
    let d = Device::open(client, tmp.path(), resp);
    d.sync();
    let enterprises = d.store.my_enterprises().unwrap();
    assert!((33..=34).contains(&enterprises.len()), "{}", enterprises.len());
    for e in &enterprises {
        zhuqi_core::domain::uscc::validate(&e.uscc).unwrap();
    }
    let problems = d.store.problems(&Default::default()).unwrap();
    assert!(!problems.is_empty());
    assert!(
        d.store.problems(&zhuqi_core::store::ProblemFilter { overdue: true, ..Default::default() }).unwrap().len() > 0
    );
    // Province-wide, every status occurs.
    let p = Device::open(
        zhuqi_core::sync::SyncClient::new(&relay.url).unwrap(),
        tmp.path(),
        zhuqi_core::sync::SyncClient::new(&relay.url)
            .unwrap()
            .sign_in("province", zhuqi_server::admin::demo::DEMO_PASSWORD, "电脑")
            .unwrap(),
    );
    p.sync();
    for status in ProblemStatus::ALL {
        let n = p
            .store
            .problems(&zhuqi_core::store::ProblemFilter { statuses: vec![status], ..Default::default() })
            .unwrap()
            .len();
        assert!(n > 0, "no {status:?} problem");
    }
    assert_eq!(p.store.my_enterprises().unwrap().len(), 200);
}

#[test]
fn large_pulls_are_paged_by_the_byte_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    zhuqi_server::admin::demo::seed(&relay.state, zhuqi_server::now_ms()).unwrap();
    let raw_client = zhuqi_core::sync::SyncClient::new(&relay.url).unwrap();
    let resp = raw_client.sign_in("province", zhuqi_server::admin::demo::DEMO_PASSWORD, "x").unwrap();
    let http = reqwest::blocking::Client::new();
    let mut cursor = 0;
    let mut pages = 0;
    let mut docs = std::collections::HashSet::new();
    loop {
        let req = SyncRequest {
            protocol: 1,
            cursor,
            directory_version: 0,
            actor: vec![],
            push: vec![],
            max_bytes: Some(64 * 1024),
        };
        let body = http
            .post(format!("{}/v1/sync", relay.url))
            .bearer_auth(&resp.token)
            .header("content-encoding", "gzip")
            .body(encode(&req))
            .send()
            .unwrap()
            .bytes()
            .unwrap();
        let r: SyncResponse = decode(&body, 64 << 20).unwrap();
        let page_bytes: usize = r.docs.iter().flat_map(|d| d.data.iter()).map(Vec::len).sum();
        assert!(page_bytes < 64 * 1024 + 16 * 1024, "a page stays near its budget: {page_bytes}");
        assert!(r.cursor > cursor || !r.more);
        docs.extend(r.docs.into_iter().map(|d| d.doc));
        pages += 1;
        cursor = r.cursor;
        if !r.more {
            break;
        }
    }
    assert!(pages > 3, "{pages} pages");
    assert_eq!(docs.len() as u64, relay.state.storage.document_count().unwrap(), "every document, exactly once");
}
