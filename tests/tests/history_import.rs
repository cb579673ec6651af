//! Importing a previous platform's problem ledger (`zhuqi-server import problems`) into a real
//! relay: the dashboard's figures for the year equal the counts computed from the file itself;
//! importing the file again changes nothing; a bad row is named by its line and nothing is written;
//! phones receive the imported history, marked with its origin; and no phone may write an origin.

use zhuqi_core::domain::{DocKind, ProblemAction, ProblemStatus, uscc};
use zhuqi_core::sync::protocol::RejectCode;
use zhuqi_server::admin::history;
use zhuqi_server::dashboard::kpi::Period;
use zhuqi_tests::*;

const HOUR: i64 = 3_600_000;
/// 2022-01-01 00:00 China Standard Time.
const YEAR_START: i64 = 1_640_966_400_000;
const YEAR_END: i64 = 1_672_502_400_000;

/// One generated row, with the times the file writes (to the minute; a deadline as a day).
struct Row {
    number: String,
    enterprise: String,
    reported_at: i64,
    accepted_at: Option<i64>,
    routed: Option<(i64, i64)>,
    resolved_at: Option<i64>,
    confirmed: Option<(i64, u8)>,
    closed_at: Option<i64>,
}

/// A tiny deterministic generator (the rows must be the same on every run).
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn minute(t: i64) -> i64 {
    t - t.rem_euclid(60_000)
}

fn cst(t: i64) -> String {
    let local = t + 8 * HOUR;
    let (y, m, d) = zhuqi_core::domain::text::civil_from_days(local.div_euclid(DAY));
    let s = local.rem_euclid(DAY) / 1000;
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", s / 3600, s / 60 % 60)
}

fn date(t: i64) -> String {
    cst(t)[..10].to_owned()
}

/// The last moment of the day (CST) of `t`, as a deadline given as a day is read.
fn end_of_day(t: i64) -> i64 {
    let local = t + 8 * HOUR;
    local.div_euclid(DAY) * DAY + DAY - 1000 - 8 * HOUR
}

fn generate(n: usize, seed: u64) -> Vec<Row> {
    let mut g = Lcg(seed);
    let ent_b = uscc::complete("91410103MA55AB3C7").unwrap();
    (0..n)
        .map(|i| {
            // From mid-December 2021 (some rows fall outside the year) to the end of 2022.
            let reported_at = minute(YEAR_START - 15 * DAY + g.below(380) as i64 * DAY + g.below(10 * 60) as i64 * 60_000);
            let stage = g.below(6);
            let accepted_at = (stage >= 1).then(|| minute(reported_at + HOUR + g.below(48) as i64 * HOUR));
            let routed = accepted_at.filter(|_| stage >= 2).map(|a| {
                let at = minute(a + g.below(24) as i64 * HOUR);
                (at, end_of_day(at + (5 + g.below(25) as i64) * DAY))
            });
            let resolved_at = routed.filter(|_| stage >= 3).map(|(at, _)| minute(at + (1 + g.below(40) as i64) * DAY));
            let confirmed =
                resolved_at.filter(|_| stage >= 4).map(|r| (minute(r + (1 + g.below(5) as i64) * DAY), 1 + g.below(5) as u8));
            let closed_at = confirmed.filter(|_| stage >= 5).map(|(c, _)| c + DAY);
            Row {
                number: format!("豫企诉〔2022〕{i:05}号"),
                enterprise: if i % 3 == 0 { ent_b.clone() } else { ENT_A.to_owned() },
                reported_at,
                accepted_at,
                routed,
                resolved_at,
                confirmed,
                closed_at,
            }
        })
        .collect()
}

fn csv(rows: &[Row]) -> Vec<u8> {
    let mut out = String::from(
        "\u{feff}编号,企业,问题类别,标题,问题描述,上报人,上报时间,受理时间,办理层级,责任单位,交办时间,办理时限,办理人,办结时间,办理结果,确认时间,满意度,评价意见,关闭时间\n",
    );
    let t = |v: Option<i64>| v.map(cst).unwrap_or_default();
    for (i, r) in rows.iter().enumerate() {
        let rating = r.confirmed.map(|(_, rating)| match (rating, i % 2) {
            (5, 0) => "满意".to_owned(),
            (3, 0) => "基本满意".to_owned(),
            (1, 0) => "不满意".to_owned(),
            (n, _) => n.to_string(),
        });
        let category = ["融资", "用地", "labour", "审批问题"][i % 4];
        out += &[
            r.number.clone(),
            r.enterprise.clone(),
            category.into(),
            format!("历史问题{i}"),
            "企业反映的问题，原平台记录".into(),
            format!("干部{}", i % 7),
            cst(r.reported_at),
            t(r.accepted_at),
            r.routed.map(|_| (1 + i % 3).to_string()).unwrap_or_default(),
            r.routed.map(|_| if i % 2 == 0 { FINANCE } else { HR }.to_owned()).unwrap_or_default(),
            t(r.routed.map(|(at, _)| at)),
            r.routed.map(|(_, d)| date(d)).unwrap_or_default(),
            r.resolved_at.map(|_| "王科长".to_owned()).unwrap_or_default(),
            t(r.resolved_at),
            r.resolved_at.map(|_| "已协调解决".to_owned()).unwrap_or_default(),
            t(r.confirmed.map(|(c, _)| c)),
            rating.unwrap_or_default(),
            String::new(),
            t(r.closed_at),
        ]
        .join(",");
        out.push('\n');
    }
    out.into_bytes()
}

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

    // What the file says about 2022, counted from the rows themselves.
    let year = Period { from: YEAR_START, to: YEAR_END };
    let reported: Vec<&Row> = rows.iter().filter(|r| year.contains(r.reported_at)).collect();
    let resolved: Vec<&Row> = rows.iter().filter(|r| r.resolved_at.is_some_and(|t| year.contains(t))).collect();
    let on_time = resolved.iter().filter(|r| r.resolved_at.unwrap() <= r.routed.unwrap().1).count();
    let rated: Vec<u8> =
        rows.iter().filter_map(|r| r.confirmed).filter(|(c, _)| year.contains(*c)).map(|(_, rating)| rating).collect();
    let reported_resolved = reported.iter().filter(|r| r.resolved_at.is_some()).count();
    // The generator reaches every stage, some late and some outside the year.
    assert!(resolved.len() > 300 && on_time > 50 && on_time < resolved.len() && rated.len() > 200);
    assert!(reported.len() < rows.len(), "some rows were reported before the year");

    let page = zhuqi_server::dashboard::overview(&relay.state, &manager_session(&relay), year, YEAR_END).unwrap();
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
fn no_device_but_the_import_may_write_an_origin() {
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
    let forged = urge(Some(zhuqi_core::domain::Origin { record: row.number.clone(), person: Some("省领导".into()) }));
    let r = raw.push(&id, DocKind::Problem, vec![forged]);
    assert_eq!(r.rejected.len(), 1, "{:?}", r.rejected);
    assert_eq!(r.rejected[0].code, RejectCode::ForgedAuthor, "{}", r.rejected[0].message);
    // The same urging as the manager's own is accepted.
    let r = raw.push(&id, DocKind::Problem, vec![urge(None)]);
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
}
