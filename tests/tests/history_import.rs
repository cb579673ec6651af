//! Importing a previous platform's problem ledger (`zhuqi-server import problems`) into a real
//! relay: the dashboard's figures for the year equal the counts computed from the file itself;
//! importing the file again changes nothing; a bad row is named by its line and nothing is written;
//! phones receive the imported history, marked with its origin; and no phone may write an origin.

use zhuqi_core::domain::{Department, Directory, DocKind, ProblemAction, ProblemStatus, Recipient};
use zhuqi_core::sync::protocol::RejectCode;
use zhuqi_server::admin::history;
use zhuqi_server::dashboard::kpi::Period;
use zhuqi_tests::ledger::{Row, YEAR_END, YEAR_START, csv, generate, xlsx};
use zhuqi_tests::*;

fn start(dir: &std::path::Path) -> Relay {
    let relay = Relay::start(&dir.join("relay"));
    seed_directory(relay.state.storage.as_ref());
    seed_enterprises(&relay.url, dir);
    relay
}

fn manager_session(relay: &Relay) -> zhuqi_server::storage::Session {
    let account = relay.state.storage.account_by_login("city").unwrap().expect("the city's manager");
    zhuqi_server::storage::Session { device_id: "web".into(), user: account.user, revoked: false, expires_at: i64::MAX }
}

/// The dashboard's figures for 2022 equal what the rows say, counted from the rows themselves.
fn assert_figures_of_the_year(relay: &Relay, rows: &[Row]) {
    // What the file says about 2022, counted from the rows themselves.
    let year = Period { from: YEAR_START, to: YEAR_END };
    let reported: Vec<&Row> = rows.iter().filter(|r| year.contains(r.reported_at)).collect();
    let resolved: Vec<&Row> = rows.iter().filter(|r| r.resolved_at.is_some_and(|t| year.contains(t))).collect();
    let on_time = resolved.iter().filter(|r| r.resolved_at.unwrap() <= r.routed.unwrap().1).count();
    let rated: Vec<u8> =
        rows.iter().filter_map(|r| r.confirmed).filter(|(c, _)| year.contains(*c)).map(|(_, rating)| rating).collect();
    let reported_resolved = reported.iter().filter(|r| r.resolved_at.is_some()).count();
    // The generator reaches every stage, some late and some outside the year.
    assert!(resolved.len() > rows.len() / 5 && on_time > 0 && on_time < resolved.len() && rated.len() > rows.len() / 8);
    assert!(reported.len() < rows.len(), "some rows were reported before the year");

    let page = zhuqi_server::dashboard::overview(&relay.state, &manager_session(relay), year, None, YEAR_END).unwrap();
    let f = &page.total;
    assert_eq!(f.reported as usize, reported.len());
    assert_eq!(f.resolved as usize, resolved.len());
    assert_eq!(f.resolution_rate, Some(reported_resolved as f64 / reported.len() as f64));
    assert_eq!(f.on_time_rate, Some(on_time as f64 / resolved.len() as f64));
    assert_eq!(f.own_confirmations as usize, rated.len());
    assert_eq!(f.call_backs, 0);
    let satisfied = rated.iter().filter(|r| **r >= 4).count();
    assert_eq!(f.satisfaction_rate, Some(satisfied as f64 / rated.len() as f64));
    let sum: u32 = rated.iter().map(|r| u32::from(*r)).sum();
    assert_eq!(f.average_rating, Some(f64::from(sum) / rated.len() as f64));
}

#[test]
fn an_imported_ledger_gives_the_years_figures_of_the_file_and_importing_it_again_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = start(tmp.path());
    let rows = generate(1_500, 7);
    let file = csv(&rows);

    let done = history::problems(&relay.state, &file).unwrap();
    let events: usize = rows
        .iter()
        .map(|r| {
            1 + usize::from(r.accepted_at.is_some())
                + usize::from(r.routed.is_some())
                + usize::from(r.resolved_at.is_some())
                + usize::from(r.confirmed.is_some())
                + usize::from(r.closed_at.is_some())
        })
        .sum();
    assert_eq!((done.written, done.already, done.events), (rows.len(), 0, events));

    assert_figures_of_the_year(&relay, &rows);

    // The same file again: nothing written.
    let seq = relay.state.storage.current_seq().unwrap();
    let again = history::problems(&relay.state, &file).unwrap();
    assert_eq!((again.written, again.already, again.events), (0, rows.len(), 0));
    assert_eq!(relay.state.storage.current_seq().unwrap(), seq, "a second import wrote changes");

    // A cadre's phone receives the history with its origin, at its historical times.
    let phone = Device::sign_in(&relay.url, tmp.path(), "cadre");
    phone.sync();
    let closed = rows.iter().position(|r| r.closed_at.is_some() && r.enterprise == ENT_A).unwrap();
    let detail = phone.store.problem(&history::problem_id(&rows[closed].number)).unwrap();
    assert_eq!(detail.state.status, ProblemStatus::Closed);
    assert_eq!(detail.state.reported_at, rows[closed].reported_at);
    assert_eq!(detail.timeline.len(), 6);
    for e in &detail.timeline {
        let origin = e.origin.as_ref().expect("an imported event names its origin");
        assert_eq!(origin.record, rows[closed].number);
        assert!(e.device.starts_with("import:"), "{}", e.device);
    }
    assert_eq!(detail.timeline[0].origin.as_ref().unwrap().person.as_deref(), Some(&*format!("干部{}", closed % 7)));
}

#[test]
fn a_bad_row_is_named_by_its_line_and_nothing_is_imported() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = start(tmp.path());
    let rows = generate(40, 11);
    let good = String::from_utf8(csv(&rows)).unwrap();
    let seq = relay.state.storage.current_seq().unwrap();
    let lines: Vec<&str> = good.lines().collect();
    // Each broken the way a real export is: the line of the file (the header is line 1) is named.
    let resolved = rows.iter().position(|r| r.resolved_at.is_some()).unwrap() + 2;
    // (line, field, new value, what the error says)
    let cases = [
        (5, 1, "ent-nowhere", "不存在"),
        (7, 6, "2022-13-01 10:00", "日期"),
        (9, 2, "天气", "类别"),
        (11, 6, "", "上报时间"),
        (13, 6, "2099-01-01 10:00", "晚于"),
        (15, 0, "", "编号"),
        // Resolved before it was routed: the events do not fold in the order of their times.
        (resolved, 13, "2021-01-01 00:00", "早于"),
    ];
    for (line, field, value, says) in cases {
        let mut broken: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        let mut fields: Vec<&str> = lines[line - 1].split(',').collect();
        fields[field] = value;
        broken[line - 1] = fields.join(",");
        let err = history::problems(&relay.state, broken.join("\n").as_bytes()).unwrap_err().to_string();
        assert!(err.contains(&format!("第{line}行")) && err.contains(says), "line {line}: {err}");
        assert_eq!(relay.state.storage.current_seq().unwrap(), seq, "a refused file wrote something");
    }
    // The same number twice.
    let mut twice: Vec<&str> = lines.clone();
    twice.push(lines[3]);
    let err = history::problems(&relay.state, twice.join("\n").as_bytes()).unwrap_err().to_string();
    assert!(err.contains(&format!("第{}行", lines.len() + 1)) && err.contains("重复"), "{err}");
    assert_eq!(relay.state.storage.current_seq().unwrap(), seq);
    // Fixed, the file imports.
    assert_eq!(history::problems(&relay.state, good.as_bytes()).unwrap().written, rows.len());
}

#[test]
fn no_device_but_the_import_may_write_an_origin_or_take_an_imported_id() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = start(tmp.path());
    let rows = generate(60, 3);
    history::problems(&relay.state, &csv(&rows)).unwrap();
    // A problem routed and not yet resolved: the city's manager may urge it.
    let row = rows.iter().find(|r| r.routed.is_some() && r.resolved_at.is_none()).expect("a routed row");
    let id = history::problem_id(&row.number);
    let snapshot = relay_snapshot(&relay, &id);
    let raw = RawClient::sign_in(&relay.url, "city");
    let urge = |origin: Option<zhuqi_core::domain::Origin>| {
        let mut doc = zhuqi_core::document::Document::load(&snapshot).unwrap();
        doc.set_actor(raw.actor.clone());
        let events: Vec<zhuqi_core::domain::Event<ProblemAction>> = doc.events();
        let seen = zhuqi_core::domain::event::Causality::new(&events).heads(&events);
        let mut event = raw.event(ProblemAction::Urged { note: "请加快办理".into() }, seen);
        event.origin = origin;
        doc.append(&event).unwrap().raw_bytes().to_vec()
    };
    // The manager claims the urging comes from the previous platform's history.
    let forged = urge(Some(zhuqi_core::domain::Origin {
        record: row.number.clone(),
        person: Some("省领导".into()),
        user: None,
    }));
    let r = raw.push(&id, DocKind::Problem, vec![forged]);
    assert_eq!(r.rejected.len(), 1, "{:?}", r.rejected);
    assert_eq!(r.rejected[0].code, RejectCode::ForgedAuthor, "{}", r.rejected[0].message);
    // The same urging as the manager's own is accepted.
    let r = raw.push(&id, DocKind::Problem, vec![urge(None)]);
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);

    // A cadre takes the id the import will give a record not imported yet: refused, so the import
    // does not skip that record as already there.
    let cadre = RawClient::sign_in(&relay.url, "cadre");
    let squatted = history::problem_id("豫企诉〔2022〕99999号");
    let report = |doc_id: &str| {
        let event = cadre.event(
            ProblemAction::Reported {
                enterprise_id: ENT_A.into(),
                category: zhuqi_core::domain::Category::Land,
                title: "用地指标".into(),
                description: "新厂房用地".into(),
                visit_id: None,
                photos: vec![],
            },
            vec![],
        );
        let header = [("enterprise_id", ENT_A), ("enterprise_name", "郑州精工机械有限公司"), ("region_id", COUNTY)];
        let (_, change) =
            zhuqi_core::document::Document::create(DocKind::Problem, doc_id, &header, cadre.actor.clone(), &event)
                .unwrap();
        cadre.push(doc_id, DocKind::Problem, vec![change.raw_bytes().to_vec()])
    };
    let r = report(&squatted);
    assert_eq!(r.rejected.len(), 1, "{:?}", r.rejected);
    assert!(r.rejected[0].message.contains("hist-"), "{}", r.rejected[0].message);
    // The same report under an id of its own is accepted.
    let r = report(&uuid::Uuid::now_v7().to_string());
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
}

#[test]
fn a_ledger_saved_as_a_workbook_imports_as_its_csv_does() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = start(tmp.path());
    let rows = generate(400, 19);
    let done = history::problems(&relay.state, &xlsx(&rows)).unwrap();
    assert_eq!((done.written, done.already), (rows.len(), 0));
    assert_figures_of_the_year(&relay, &rows);
    // Its CSV names the same problems: nothing more to write.
    let again = history::problems(&relay.state, &csv(&rows)).unwrap();
    assert_eq!((again.written, again.already), (0, rows.len()));
}

#[test]
fn an_imported_visit_log_counts_each_visit_for_its_cadre_once() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = start(tmp.path());
    let (file, rows) = zhuqi_tests::ledger::visit_log(300);
    let done = history::visits(&relay.state, &file).unwrap();
    assert_eq!((done.written, done.already), (rows.len(), 0));

    // The figures count each visit for its cadre, on its own day, not as entered late.
    let mut facts = relay.state.storage.visit_facts().unwrap();
    zhuqi_server::dashboard::kpi::judge_times(&mut [], &mut facts, relay.state.offline_window_ms);
    for cadre in ["cadre", "cadre-b", "cadre-c"] {
        let mut expected: Vec<i64> = rows.iter().filter(|(c, _)| *c == cadre).map(|(_, d)| *d).collect();
        let mut counted: Vec<i64> = facts.iter().filter(|f| f.cadre_id == cadre).map(|f| f.day).collect();
        expected.sort();
        counted.sort();
        assert_eq!(counted.len(), expected.len(), "{cadre}");
        let days = |v: &[i64]| v.iter().map(|t| (t + 8 * 3_600_000).div_euclid(DAY)).collect::<Vec<_>>();
        assert_eq!(days(&counted), days(&expected), "{cadre}");
    }
    let year = Period { from: YEAR_START, to: YEAR_END };
    let page = zhuqi_server::dashboard::overview(&relay.state, &manager_session(&relay), year, None, YEAR_END).unwrap();
    assert_eq!(page.total.visits as usize, rows.iter().filter(|(_, d)| year.contains(*d)).count());
    assert_eq!(page.total.enterprises_visited, 2);

    // Again: nothing written.
    let seq = relay.state.storage.current_seq().unwrap();
    let again = history::visits(&relay.state, &file).unwrap();
    assert_eq!((again.written, again.already), (0, rows.len()));
    assert_eq!(relay.state.storage.current_seq().unwrap(), seq);

    // A visit by someone without an account is named by its line, and nothing is written.
    let text = String::from_utf8(file).unwrap().replacen(",cadre-b,", ",nobody,", 1);
    let err = history::visits(&relay.state, text.as_bytes()).unwrap_err().to_string();
    assert!(err.starts_with("第3行") && err.contains("nobody"), "{err}");
}

#[test]
fn an_imported_notice_ledger_reaches_its_recipients_with_their_own_times() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = start(tmp.path());
    let st = &relay.state;
    // Two notices, one row a recipient; a notice's shared values on its first row only, as merged
    // cells read. Recipients by department name or id, and by cadre login.
    let header = "\u{feff}2022年任务通知台账\n编号,标题,内容,地区,下发人,下发时间,办理时限,接收对象,签收时间,完成时间,完成情况\n";
    let rows = "通〔2022〕1号,开展惠企政策宣讲,逐户宣讲稳岗政策,410102,中原区活动办,2022-03-01 09:00,2022-03-15,中原区财政局,2022-03-01 10:00,2022-03-10 17:00,已宣讲12户\n\
                通〔2022〕1号,,,,,,,cadre,2022-03-02 08:00,,\n\
                通〔2022〕2号,摸排用工缺口,报送缺工企业名单,410100,郑州市活动办,2022-04-01 09:00,2022-04-30,dept-hr,,,\n\
                通〔2022〕2号,摸排用工缺口,,410100,,,,cadre-b,2022-04-02 09:00,2022-04-20 16:00,已报送\n";
    let file = format!("{header}{rows}");
    let done = history::notices(st, file.as_bytes()).unwrap();
    assert_eq!((done.written, done.already, done.events), (2, 0, 7));
    // Again: nothing written.
    let seq = st.storage.current_seq().unwrap();
    let again = history::notices(st, file.as_bytes()).unwrap();
    assert_eq!((again.written, again.already), (0, 2));
    assert_eq!(st.storage.current_seq().unwrap(), seq);

    // Each recipient's phone receives its notice with the times the ledger gives.
    let time = |s: &str| history::parse_time(s, false).unwrap();
    let first = history::notice_id("通〔2022〕1号");
    let handler = Device::sign_in(&relay.url, tmp.path(), "handler");
    handler.sync();
    let n = handler.store.task_notice(&first).unwrap();
    assert_eq!((n.summary.title.as_str(), n.summary.issued_at), ("开展惠企政策宣讲", time("2022-03-01 09:00")));
    assert_eq!(n.summary.deadline, history::parse_time("2022-03-15", true).unwrap());
    let finance = n.recipients.iter().find(|r| r.recipient == Recipient::Department(FINANCE.into())).unwrap();
    assert_eq!(
        (finance.acknowledged_at, finance.completed_at, finance.note.as_str(), finance.on_time),
        (Some(time("2022-03-01 10:00")), Some(time("2022-03-10 17:00")), "已宣讲12户", Some(true))
    );
    let cadre = Device::sign_in(&relay.url, tmp.path(), "cadre");
    cadre.sync();
    let n = cadre.store.task_notice(&first).unwrap();
    let mine = n.recipients.iter().find(|r| r.recipient == Recipient::Cadre("cadre".into())).unwrap();
    assert_eq!((mine.acknowledged_at, mine.completed_at), (Some(time("2022-03-02 08:00")), None));
    assert_eq!(n.summary.status, "issued");
    let cadre_b = Device::sign_in(&relay.url, tmp.path(), "cadre-b");
    cadre_b.sync();
    let ids: Vec<String> = cadre_b.store.task_notices().unwrap().into_iter().map(|n| n.id).collect();
    assert_eq!(ids, vec![history::notice_id("通〔2022〕2号")], "only its own notice");

    // Bad rows are named by their line, and nothing is written.
    let bad = [
        (rows.replacen(",cadre,", ",nobody,", 1), "第4行：接收对象 nobody 不是责任单位或干部"),
        (rows.replacen(",cadre,", ",cadre-b,", 1), "第4行：接收干部 cadre-b 不在通知的地区内"),
        (rows.replacen("摸排用工缺口,,", "摸排用工短板,,", 1), "第6行：编号 通〔2022〕2号 的标题与第5行不一致"),
        (rows.replacen("2022-04-20 16:00", "2022-03-20 16:00", 1), "第6行：签收、完成时间须依次不早于下发时间"),
        (
            rows.replacen(",dept-hr,", ",中原区财政局,", 1).replacen(",cadre-b,", ",中原区财政局,", 1),
            "第6行：编号 通〔2022〕2号 的接收对象 中原区财政局 重复",
        ),
        (rows.replacen("2022-03-15", "2022-02-15", 1), "第3行：办理时限不能早于当前时间"),
        (rows.replace(",410100,", ",999999,"), "第5行：地区 999999 不存在或不在导入账号的地区内"),
    ];
    for (rows, message) in bad {
        let err = history::notices(st, format!("{header}{rows}").as_bytes()).unwrap_err().to_string();
        assert_eq!(err, message);
    }
    // A department named as another of the notice's region is also named is refused, not guessed;
    // within one county the name is clear.
    let twin = Department { id: "dept-twin".into(), name: "中原区财政局".into(), region_id: OTHER_COUNTY.into() };
    st.storage.upsert_directory(&Directory { departments: vec![twin], ..Default::default() }, &[]).unwrap();
    let ambiguous = rows.replacen(",dept-hr,", ",中原区财政局,", 1);
    let err = history::notices(st, format!("{header}{ambiguous}").as_bytes()).unwrap_err().to_string();
    assert_eq!(err, "第5行：责任单位名称 中原区财政局 对应多个单位，请写单位编号");
    assert_eq!(st.storage.current_seq().unwrap(), seq, "nothing half-imported");
}
