//! The whole problem lifecycle across the four roles, each on its own store, exchanging documents.

mod common;

use common::*;
use zhuqi_core::domain::{Outcome, ProblemAction, ProblemStatus};
use zhuqi_core::store::ProblemFilter;

#[test]
fn a_problem_goes_from_factory_floor_to_closed_and_reviewed() {
    let w = World::new();
    let ent = w.enterprise_id.clone();

    // In the factory, no signal: a visit and a problem found during it.
    let visit_id = w.cadre.record_visit(&ent, visit("2026-03-02")).unwrap();
    let pid = w.cadre.report_problem(problem(&ent, Some(visit_id.clone()))).unwrap();
    let home = w.cadre.home_counts().unwrap();
    assert_eq!((home.open, home.unsynced_changes), (1, 2));
    let mine = w.cadre.my_enterprises().unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].last_visit_date.as_deref(), Some("2026-03-02"));
    assert_eq!(mine[0].open_problems, 1);

    // Back online: the campaign office routes it to the finance bureau, deadline in 7 days.
    w.sync_all();
    assert_eq!(w.manager.problems(&ProblemFilter { awaiting_me: true, ..Default::default() }).unwrap().len(), 1);
    w.clock.advance(HOUR);
    w.manager.accept_problem(&pid, "").unwrap();
    w.manager.route_problem(&pid, FINANCE, 2, T0 + 7 * DAY, "请财政局牵头办理").unwrap();
    w.sync_all();

    // The handler sees it waiting, adds progress, resolves.
    let waiting = w.handler.problems(&ProblemFilter { awaiting_me: true, ..Default::default() }).unwrap();
    assert_eq!(waiting.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), [pid.as_str()]);
    assert_eq!(waiting[0].department_name.as_deref(), Some("中原区财政局"));
    w.handler.add_progress(&pid, "已对接郑州银行").unwrap();
    w.clock.advance(2 * DAY);
    w.handler.resolve_problem(&pid, "郑州银行发放贷款500万元，财政贴息50%").unwrap();
    w.sync_all();

    // The enterprise first rejects, then confirms after more work.
    assert_eq!(w.contact.home_counts().unwrap().awaiting_me, 1);
    w.contact.reject_resolution(&pid, "贷款尚未到账").unwrap();
    w.sync_all();
    assert_eq!(w.handler.problem(&pid).unwrap().state.status, ProblemStatus::Routed);
    w.handler.resolve_problem(&pid, "贷款已到账").unwrap();
    w.sync_all();
    w.contact.confirm_resolution(&pid, 5, "非常满意").unwrap();
    w.sync_all();
    w.manager.close_problem(&pid, "").unwrap();
    w.sync_all();
    w.clock.advance(30 * DAY);
    w.cadre.follow_up(&pid, "回访企业，生产正常", true).unwrap();
    w.sync_all();

    for store in [&w.manager, &w.cadre, &w.handler, &w.contact] {
        let p = store.problem(&pid).unwrap();
        assert_eq!(p.state.status, ProblemStatus::Closed);
        assert_eq!(p.state.rating, Some(5));
        assert_eq!(p.state.reopen_count, 1);
        assert_eq!(p.state.follow_up_count, 1);
        assert_eq!(p.state.resolved_on_time(), Some(true));
        assert_eq!(p.state.visit_id.as_deref(), Some(visit_id.as_str()));
        assert_eq!(p.timeline.len(), 10);
        assert!(p.timeline.iter().all(|e| e.outcome == Outcome::Applied));
        assert!(p.timeline.iter().all(|e| e.concurrent_with.is_empty()));
        assert_eq!(p.timeline[0].by_name.as_deref(), Some("王干部"));
    }
    assert_eq!(w.manager.index_rows().unwrap(), w.cadre.index_rows().unwrap());
}

#[test]
fn overdue_problems_are_found_and_urged() {
    let w = World::new();
    let pid = w.cadre.report_problem(problem(&w.enterprise_id, None)).unwrap();
    w.sync_all();
    w.manager.route_problem(&pid, FINANCE, 2, T0 + DAY, "").unwrap();
    assert!(w.manager.problems(&ProblemFilter { overdue: true, ..Default::default() }).unwrap().is_empty());
    w.clock.advance(2 * DAY);
    let overdue = w.manager.problems(&ProblemFilter { overdue: true, ..Default::default() }).unwrap();
    assert_eq!(overdue.len(), 1);
    assert!(overdue[0].overdue);
    assert_eq!(w.manager.home_counts().unwrap().overdue, 1);
    w.manager.urge_problem(&pid, "请加快办理").unwrap();
    // The county cannot move it to a city bureau itself: it escalates, the city office re-routes.
    let err = w.manager.escalate_problem(&pid, 3, "县级无法协调", Some(LAND), None).unwrap_err();
    assert_eq!(err.user_message(), "须由第3级（市级周例会）所在的工作专班办理");
    w.manager.escalate_problem(&pid, 3, "县级无法协调", None, None).unwrap();
    let city = w.store("mgr-city");
    send_all(&w.manager, &city);
    city.route_problem(&pid, LAND, 3, T0 + 10 * DAY, "市自然资源局牵头").unwrap();
    let p = city.problem(&pid).unwrap();
    assert_eq!((p.state.urge_count, p.state.escalation_count, p.state.level), (1, 1, 3));
    assert_eq!(p.state.department_id.as_deref(), Some(LAND));
    assert!(!p.summary.overdue, "the new deadline is ahead");
    assert!(matches!(p.timeline[2].action, ProblemAction::Urged { .. }));
}

#[test]
fn task_notices_are_acknowledged_and_completed_by_their_recipients() {
    let w = World::new();
    use zhuqi_core::domain::Recipient;
    use zhuqi_core::store::NewTaskNotice;
    let id = w
        .manager
        .issue_task_notice(NewTaskNotice {
            region_id: COUNTY.into(),
            title: "一季度走访全覆盖".into(),
            body: "请于3月底前完成包联企业走访".into(),
            deadline: T0 + 20 * DAY,
            recipients: vec![Recipient::Department(FINANCE.into()), Recipient::Cadre("cadre-1".into())],
        })
        .unwrap();
    w.sync_all();
    assert_eq!(w.cadre.home_counts().unwrap().task_notices_open, 1);
    w.cadre.acknowledge_task_notice(&id).unwrap();
    w.cadre.complete_task_notice(&id, "已走访").unwrap();
    w.handler.complete_task_notice(&id, "已完成").unwrap();
    assert!(w.contact.acknowledge_task_notice(&id).is_err());
    w.sync_all();
    let n = w.manager.task_notice(&id).unwrap();
    assert_eq!(n.summary.status, "completed");
    assert_eq!(n.summary.completed, 2);
    assert!(n.recipients.iter().all(|r| r.on_time == Some(true)));
    assert_eq!(w.cadre.task_notices().unwrap()[0].my_completed, Some(true));
    assert_eq!(w.cadre.home_counts().unwrap().task_notices_open, 0);
}

#[test]
fn concurrent_offline_transitions_merge_with_the_conflict_visible() {
    let w = World::new();
    let pid = w.cadre.report_problem(problem(&w.enterprise_id, None)).unwrap();
    w.sync_all();
    w.manager.route_problem(&pid, FINANCE, 1, T0 + 5 * DAY, "").unwrap();
    w.sync_all();
    w.handler.resolve_problem(&pid, "已协调").unwrap();
    w.sync_all();
    // All three offline: the enterprise confirms, the handler adds progress, the office urges.
    w.contact.confirm_resolution(&pid, 4, "").unwrap();
    w.handler.add_progress(&pid, "补充材料已归档").unwrap();
    w.manager.urge_problem(&pid, "").unwrap_err(); // a resolved problem is not urged
    w.cadre.add_progress(&pid, "企业反馈贷款到账").unwrap();
    w.sync_all();
    let states: Vec<_> =
        [&w.manager, &w.cadre, &w.handler, &w.contact].iter().map(|s| s.problem(&pid).unwrap()).collect();
    for s in &states {
        assert_eq!(s.state, states[0].state);
        assert_eq!(s.timeline, states[0].timeline);
        assert_eq!(s.state.status, ProblemStatus::Confirmed);
        assert_eq!(s.timeline.len(), 6);
    }
    // The three concurrent events know of each other.
    let concurrent = states[0].timeline.iter().filter(|e| !e.concurrent_with.is_empty()).count();
    assert_eq!(concurrent, 2);
}

#[test]
fn a_conflict_is_kept_and_marked_not_dropped() {
    let w = World::new();
    let pid = w.cadre.report_problem(problem(&w.enterprise_id, None)).unwrap();
    w.sync_all();
    w.manager.route_problem(&pid, FINANCE, 1, T0 + 5 * DAY, "").unwrap();
    w.sync_all();
    w.handler.resolve_problem(&pid, "已协调").unwrap();
    w.sync_all();
    // Offline at the same time: the enterprise confirms, and another contact device rejects.
    let contact_tablet = zhuqi_core::store::Store::open_with_clock(
        &w.tmp.path().join("contact-tablet.db"),
        identity_of(&w.dir, "contact-1", "tablet-contact-1"),
        w.clock.clone(),
    )
    .unwrap();
    contact_tablet.import_directory(&w.dir).unwrap();
    send_all(&w.contact, &contact_tablet);
    w.contact.confirm_resolution(&pid, 5, "").unwrap();
    contact_tablet.reject_resolution(&pid, "款项未到").unwrap();
    send_all(&contact_tablet, &w.contact);
    send_all(&w.contact, &contact_tablet);
    let a = w.contact.problem(&pid).unwrap();
    let b = contact_tablet.problem(&pid).unwrap();
    assert_eq!(a.state, b.state);
    assert_eq!(a.timeline, b.timeline);
    assert_eq!(a.timeline.len(), 5);
    let conflicts: Vec<_> = a.timeline.iter().filter(|e| matches!(e.outcome, Outcome::Conflict { .. })).collect();
    assert_eq!(conflicts.len(), 1, "{:#?}", a.timeline);
    let Outcome::Conflict { with, .. } = &conflicts[0].outcome else { unreachable!() };
    assert!(a.timeline.iter().any(|e| &e.event_id == with && e.outcome == Outcome::Applied));
    assert_eq!(a.summary.conflict_count, 1);
}

#[test]
fn wiping_a_store_leaves_no_row_of_any_table_but_the_devices_own_keys() {
    let w = World::new();
    // Every kind of data the store holds: documents, pending changes, index tables, the directory
    // with office settings and the calendar, a session.
    let pid = w.cadre.report_problem(problem(&w.enterprise_id, None)).unwrap();
    w.cadre.record_visit(&w.enterprise_id, visit("2026-03-02")).unwrap();
    let policy = zhuqi_core::domain::policy::PolicyText {
        title: "稳岗补贴".into(),
        issuer: "人社局".into(),
        summary: "补贴".into(),
        valid_from: "2026-01-01".into(),
        valid_until: "2026-12-31".into(),
        ..Default::default()
    };
    let policy = w.manager.issue_policy(COUNTY, policy).unwrap();
    send_all(&w.manager, &w.cadre);
    w.cadre.mark_policy(&w.enterprise_id, &policy, "interested").unwrap();
    let settings = zhuqi_core::domain::OfficeSettings { region_id: CITY.into(), answer_days: 30, working_days: true };
    let day = zhuqi_core::domain::CalendarDay { date: "2026-10-01".into(), working: false, name: "国庆节".into() };
    let extra = zhuqi_core::domain::Directory { settings: vec![settings], calendar: vec![day], ..Default::default() };
    w.cadre.import_directory(&extra).unwrap();
    w.cadre.set_session_token("token").unwrap();
    assert!(w.cadre.problem(&pid).is_ok());
    w.cadre.wipe().unwrap();

    let db = rusqlite::Connection::open(w.tmp.path().join("cadre-1.db")).unwrap();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(tables.len() >= 15, "{tables:?}");
    // As many rows as in a store just created (the search index's own bookkeeping, and nothing else).
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh_path = fresh_dir.path().join("fresh.db");
    drop(zhuqi_core::Store::open(&fresh_path, w.cadre.identity()).unwrap());
    let fresh = rusqlite::Connection::open(&fresh_path).unwrap();
    for table in tables {
        let rows: Vec<String> = if table == "meta" {
            db.prepare("SELECT key FROM meta")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        } else {
            let count = |c: &rusqlite::Connection| -> i64 {
                c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).unwrap()
            };
            let (n, new) = (count(&db), count(&fresh));
            vec![format!("{n} rows, {new} when new"); usize::from(n > new)]
        };
        let kept: &[&str] = if table == "meta" { &["actor_id", "identity"] } else { &[] };
        let mut rows = rows;
        rows.sort();
        assert_eq!(rows, kept, "table {table} after the wipe");
    }
}
