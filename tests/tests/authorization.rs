//! The authorization matrix, enforced by the relay against a hand-built client that skips the core's
//! own checks: every role × action on a document in and out of its scope, guessed document ids,
//! forged authors, foreign actor ids and edits that are not appends. Then read scope: each role's
//! device holds exactly the documents it may read.

use std::collections::BTreeSet;
use zhuqi_core::domain::*;
use zhuqi_core::store::{NewProblem, NewTaskNotice};
use zhuqi_core::sync::protocol::RejectCode;
use zhuqi_tests::*;

const USERS: [&str; 10] =
    ["cadre", "cadre-b", "manager", "manager-b", "city", "handler", "handler-hr", "handler-b", "contact", "contact-b"];

fn problem() -> NewProblem {
    NewProblem {
        enterprise_id: ENT_A.into(),
        category: Category::Land,
        title: "用地指标".into(),
        description: "扩建需要用地".into(),
        visit_id: None,
        photos: vec![],
    }
}

struct World {
    _tmp: tempfile::TempDir,
    relay: Relay,
    reported: String,
    routed: String,
    resolved: String,
    confirmed: String,
    closed: String,
}

/// One problem of enterprise A in each state, made by the legitimate devices.
fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    seed_directory(relay.state.storage.as_ref());
    seed_enterprises(&relay.url, tmp.path());
    let cadre = Device::sign_in(&relay.url, tmp.path(), "cadre");
    let manager = Device::sign_in(&relay.url, tmp.path(), "manager");
    let handler = Device::sign_in(&relay.url, tmp.path(), "handler");
    let contact = Device::sign_in(&relay.url, tmp.path(), "contact");
    cadre.sync();
    let ids: Vec<String> = (0..5).map(|_| cadre.store.report_problem(problem()).unwrap()).collect();
    cadre.sync();
    manager.sync();
    let deadline = zhuqi_server::now_ms() + 5 * DAY;
    for id in &ids[1..] {
        manager.store.route_problem(id, FINANCE, 1, deadline, "").unwrap();
    }
    manager.sync();
    handler.sync();
    for id in &ids[2..] {
        handler.store.resolve_problem(id, "已办结").unwrap();
    }
    handler.sync();
    contact.sync();
    for id in &ids[3..] {
        contact.store.confirm_resolution(id, 5, "").unwrap();
    }
    contact.sync();
    manager.sync();
    manager.store.close_problem(&ids[4], "").unwrap();
    manager.sync();
    World {
        _tmp: tmp,
        relay,
        reported: ids[0].clone(),
        routed: ids[1].clone(),
        resolved: ids[2].clone(),
        confirmed: ids[3].clone(),
        closed: ids[4].clone(),
    }
}

#[test]
fn every_role_and_action_is_checked_by_the_relay() {
    let w = world();
    let deadline = zhuqi_server::now_ms() + 9 * DAY;
    // (name, document, action builder, users allowed)
    type Build = Box<dyn Fn(&RawClient, &[u8]) -> Vec<u8>>;
    let problem_action = |a: ProblemAction| -> Build { Box::new(move |c, snap| c.append(snap, a.clone())) };
    let enterprise_action = |a: EnterpriseAction| -> Build { Box::new(move |c, snap| c.append(snap, a.clone())) };
    let cases: Vec<(&str, &str, Build, &[&str])> = vec![
        (
            "accept",
            &w.reported,
            problem_action(ProblemAction::Accepted { note: String::new() }),
            // The office of the problem's level (the county's, at level 1), not the reporting cadre.
            &["manager"],
        ),
        (
            "route",
            &w.reported,
            problem_action(ProblemAction::Routed {
                department_id: FINANCE.into(),
                level: 1,
                deadline,
                note: String::new(),
            }),
            &["manager"],
        ),
        (
            "progress",
            &w.routed,
            problem_action(ProblemAction::Progress { note: "进展".into(), photos: vec![] }),
            &["cadre", "manager", "city", "handler"],
        ),
        (
            "escalate",
            &w.routed,
            problem_action(ProblemAction::Escalated {
                level: 2,
                reason: "提级".into(),
                department_id: None,
                deadline: None,
            }),
            &["cadre", "manager", "city", "handler"],
        ),
        ("urge", &w.routed, problem_action(ProblemAction::Urged { note: String::new() }), &["manager", "city"]),
        (
            "resolve",
            &w.routed,
            problem_action(ProblemAction::Resolved { resolution: "办结".into(), photos: vec![] }),
            &["handler"],
        ),
        (
            "confirm",
            &w.resolved,
            problem_action(ProblemAction::Confirmed { rating: 5, comment: String::new() }),
            &["contact"],
        ),
        ("reject", &w.resolved, problem_action(ProblemAction::Rejected { reason: "未解决".into() }), &["contact"]),
        (
            "record a call-back",
            &w.resolved,
            problem_action(ProblemAction::CalledBack {
                contact: "刘总".into(),
                accepted: true,
                rating: Some(4),
                note: String::new(),
            }),
            &["manager", "city"],
        ),
        ("close", &w.confirmed, problem_action(ProblemAction::Closed { note: String::new() }), &["manager", "city"]),
        (
            "follow up",
            &w.closed,
            problem_action(ProblemAction::FollowedUp { note: "回访".into(), still_solved: true }),
            &["cadre", "manager", "city"],
        ),
        (
            "record visit",
            ENT_A,
            Box::new(|c: &RawClient, snap: &[u8]| {
                let visit = VisitRecord {
                    id: uuid::Uuid::new_v4().to_string(),
                    date: text::date_of(zhuqi_server::now_ms()),
                    people_met: vec!["刘总".into()],
                    notes: "走访".into(),
                    policies: vec![],
                    policy_ids: vec![],
                    location: None,
                    photos: vec![],
                };
                c.append(snap, EnterpriseAction::VisitRecorded { visit })
            }),
            &["cadre"],
        ),
        (
            "update profile",
            ENT_A,
            enterprise_action(EnterpriseAction::ProfileUpdated {
                update: ProfileUpdate { address: Some("新地址".into()), ..Default::default() },
            }),
            &["cadre", "manager", "city"],
        ),
        (
            "correct enterprise",
            ENT_A,
            enterprise_action(EnterpriseAction::Corrected {
                correction: Correction {
                    name: Some("更正后的企业名称".into()),
                    uscc: None,
                    address: None,
                    reason: "登记有误".into(),
                },
            }),
            &["manager", "city"],
        ),
        (
            "assign cadre",
            ENT_A,
            enterprise_action(EnterpriseAction::CadreAssigned { cadre_id: "cadre-c".into(), chief: false }),
            &["manager", "city"],
        ),
    ];
    let mut clients: Vec<RawClient> = USERS.iter().map(|u| RawClient::sign_in(&w.relay.url, u)).collect();
    // Every change is built on the documents as prepared, so each is judged on the state its
    // author saw (the accepted ones are concurrent with each other).
    let snapshots: std::collections::HashMap<&str, Vec<u8>> =
        cases.iter().map(|(_, doc, _, _)| (*doc, relay_snapshot(&w.relay, doc))).collect();
    let mut checked = 0;
    for (name, doc, build, allowed) in &cases {
        let snapshot = &snapshots[doc];
        let kind = if *doc == ENT_A { DocKind::Enterprise } else { DocKind::Problem };
        for c in clients.iter_mut() {
            // Concurrent changes of one document need distinct actors (Automerge numbers each
            // actor's changes); a device may register as many as it likes.
            c.actor = automerge::ActorId::random();
            let change = build(c, snapshot);
            let resp = c.push(doc, kind, vec![change]);
            let ok = allowed.contains(&c.user_id.as_str());
            if ok {
                assert!(resp.rejected.is_empty(), "{} may {name}: {:?}", c.user_id, resp.rejected);
                assert_eq!(resp.acked.len(), 1);
            } else {
                assert_eq!(resp.rejected.len(), 1, "{} may not {name}", c.user_id);
                let r = &resp.rejected[0];
                assert!(resp.acked.is_empty());
                // Outside the user's scope the refusal says so, and never carries the document (the
                // scope itself is checked against a hand-written table in `each_role_reads_exactly_its_scope`).
                let storage = w.relay.state.storage.as_ref();
                let user = w.relay.state.directory.get(storage).unwrap().users[&c.user_id].clone();
                let may_read = storage.doc_in_scope(doc, &storage.user_keys(&user).unwrap()).unwrap();
                if ["cadre-b", "manager-b", "handler-hr", "handler-b", "contact-b"].contains(&c.user_id.as_str()) {
                    assert!(!may_read, "{} reads {doc}", c.user_id);
                }
                let expected = if may_read { RejectCode::NotAllowed } else { RejectCode::OutOfScope };
                assert_eq!(r.code, expected, "{} {name}: {}", c.user_id, r.message);
                assert_eq!(
                    r.document.is_some(),
                    may_read,
                    "{} {name}: document returned = {}",
                    c.user_id,
                    r.document.is_some()
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, cases.len() * USERS.len());

    // Creating documents: a problem of A, an enterprise in the county, a task notice.
    for c in &clients {
        let pid = uuid::Uuid::now_v7().to_string();
        let report = ProblemAction::Reported {
            enterprise_id: ENT_A.into(),
            category: Category::Market,
            title: "市场".into(),
            description: "拓展市场".into(),
            visit_id: None,
            photos: vec![],
        };
        let header = [("enterprise_id", ENT_A), ("enterprise_name", "郑州精工机械有限公司"), ("region_id", COUNTY)];
        let (_, change) = zhuqi_core::document::Document::create(
            DocKind::Problem,
            &pid,
            &header,
            c.actor.clone(),
            &c.event(report, vec![]),
        )
        .unwrap();
        let resp = c.push(&pid, DocKind::Problem, vec![change.raw_bytes().to_vec()]);
        let ok = ["cadre", "manager", "city", "contact"].contains(&c.user_id.as_str());
        assert_eq!(
            resp.rejected.is_empty(),
            ok,
            "{} reporting: {:?}",
            c.user_id,
            resp.rejected.first().map(|r| r.code)
        );

        let nid = uuid::Uuid::now_v7().to_string();
        let issue = TaskNoticeAction::Issued {
            region_id: COUNTY.into(),
            title: "任务".into(),
            body: "内容".into(),
            deadline: zhuqi_server::now_ms() + DAY,
            recipients: vec![Recipient::Department(FINANCE.into())],
        };
        let (_, change) = zhuqi_core::document::Document::create(
            DocKind::TaskNotice,
            &nid,
            &[("region_id", COUNTY)],
            c.actor.clone(),
            &c.event(issue, vec![]),
        )
        .unwrap();
        let resp = c.push(&nid, DocKind::TaskNotice, vec![change.raw_bytes().to_vec()]);
        assert_eq!(
            resp.rejected.is_empty(),
            ["manager", "city"].contains(&c.user_id.as_str()),
            "{} issuing",
            c.user_id
        );
    }
}

#[test]
fn forged_authors_foreign_actors_and_rewritten_history_are_refused() {
    let w = world();
    let cadre = RawClient::sign_in(&w.relay.url, "cadre");
    let handler = RawClient::sign_in(&w.relay.url, "handler");
    let snapshot = relay_snapshot(&w.relay, &w.routed);

    // The event claims the handler resolved it; the cadre pushes it.
    let mut doc = zhuqi_core::document::Document::load(&snapshot).unwrap();
    doc.set_actor(cadre.actor.clone());
    let events: Vec<Event<ProblemAction>> = doc.events();
    let seen = event::Causality::new(&events).heads(&events);
    let mut forged =
        handler.event(ProblemAction::Resolved { resolution: "已办结".into(), photos: vec![] }, seen.clone());
    forged.device = cadre.device_id.clone();
    let change = doc.append(&forged).unwrap().raw_bytes().to_vec();
    let r = cadre.push(&w.routed, DocKind::Problem, vec![change]);
    assert_eq!(r.rejected[0].code, RejectCode::ForgedAuthor);

    // Right author, but another device's name.
    let mut doc = zhuqi_core::document::Document::load(&snapshot).unwrap();
    doc.set_actor(cadre.actor.clone());
    let mut e = cadre.event(ProblemAction::Progress { note: "进展".into(), photos: vec![] }, seen.clone());
    e.device = "someone-elses-phone".into();
    let r = cadre.push(&w.routed, DocKind::Problem, vec![doc.append(&e).unwrap().raw_bytes().to_vec()]);
    assert_eq!(r.rejected[0].code, RejectCode::ForgedAuthor);

    // A change under the handler's actor id, pushed by the cadre.
    handler.push(
        &w.routed,
        DocKind::Problem,
        vec![handler.append(&snapshot, ProblemAction::Progress { note: "登记 actor".into(), photos: vec![] })],
    );
    let mut doc = zhuqi_core::document::Document::load(&snapshot).unwrap();
    doc.set_actor(handler.actor.clone());
    let e = cadre.event(ProblemAction::Progress { note: "冒用".into(), photos: vec![] }, seen.clone());
    let r = cadre.push(&w.routed, DocKind::Problem, vec![doc.append(&e).unwrap().raw_bytes().to_vec()]);
    assert_eq!(r.rejected[0].code, RejectCode::ForeignActor);

    // Rewriting history: deleting the first event, or changing the header.
    let mut am = automerge::Automerge::load(&snapshot).unwrap().with_actor(cadre.actor.clone());
    let mut tx = am.transaction();
    use automerge::ReadDoc;
    use automerge::transaction::Transactable;
    let (_, events_id) = tx.get(automerge::ROOT, "events").unwrap().unwrap();
    tx.delete(&events_id, 0).unwrap();
    tx.commit();
    let change = am.get_last_local_change().unwrap().raw_bytes().to_vec();
    let r = cadre.push(&w.routed, DocKind::Problem, vec![change]);
    assert_eq!(r.rejected[0].code, RejectCode::NotAppendOnly);

    let mut am = automerge::Automerge::load(&snapshot).unwrap().with_actor(cadre.actor.clone());
    let mut tx = am.transaction();
    tx.put(automerge::ROOT, "enterprise_id", ENT_B).unwrap();
    tx.commit();
    let r = cadre.push(&w.routed, DocKind::Problem, vec![am.get_last_local_change().unwrap().raw_bytes().to_vec()]);
    assert_eq!(r.rejected[0].code, RejectCode::NotAppendOnly);

    // An event that is not valid JSON of an event, and a deadline before the report.
    let mut am = automerge::Automerge::load(&snapshot).unwrap().with_actor(cadre.actor.clone());
    let mut tx = am.transaction();
    let (_, events_id) = tx.get(automerge::ROOT, "events").unwrap().unwrap();
    let len = tx.length(&events_id);
    tx.insert(&events_id, len, "{not json").unwrap();
    tx.commit();
    let r = cadre.push(&w.routed, DocKind::Problem, vec![am.get_last_local_change().unwrap().raw_bytes().to_vec()]);
    assert_eq!(r.rejected[0].code, RejectCode::Malformed);

    let manager = RawClient::sign_in(&w.relay.url, "manager");
    let change = manager.append(
        &snapshot,
        ProblemAction::Routed { department_id: FINANCE.into(), level: 1, deadline: 1, note: String::new() },
    );
    let r = manager.push(&w.routed, DocKind::Problem, vec![change]);
    assert_eq!(r.rejected[0].code, RejectCode::InvalidAction);

    // A change that depends on one the relay never accepted.
    let mut doc = zhuqi_core::document::Document::load(&snapshot).unwrap();
    doc.set_actor(cadre.actor.clone());
    let first =
        doc.append(&cadre.event(ProblemAction::Progress { note: "一".into(), photos: vec![] }, seen.clone())).unwrap();
    let events: Vec<Event<ProblemAction>> = doc.events();
    let seen2 = event::Causality::new(&events).heads(&events);
    let second =
        doc.append(&cadre.event(ProblemAction::Progress { note: "二".into(), photos: vec![] }, seen2)).unwrap();
    let r = cadre.push(&w.routed, DocKind::Problem, vec![second.raw_bytes().to_vec()]);
    assert_eq!(r.rejected[0].code, RejectCode::MissingDependencies);
    // Both together are fine, and pushing them again changes nothing (idempotent).
    let both = vec![first.raw_bytes().to_vec(), second.raw_bytes().to_vec()];
    let r = cadre.push(&w.routed, DocKind::Problem, both.clone());
    assert!(r.rejected.is_empty() && r.acked.len() == 2);
    let seq = w.relay.state.storage.current_seq().unwrap();
    let r = cadre.push(&w.routed, DocKind::Problem, both);
    assert!(r.rejected.is_empty() && r.acked.len() == 2);
    assert_eq!(w.relay.state.storage.current_seq().unwrap(), seq, "a retried push stores nothing twice");
}

#[test]
fn each_role_reads_exactly_its_scope() {
    let w = world();
    let tmp = tempfile::tempdir().unwrap();
    // A task notice for the finance bureau and the cadre; a problem of B routed in the other county.
    let manager = Device::sign_in(&w.relay.url, tmp.path(), "manager");
    manager.sync();
    let notice = manager
        .store
        .issue_task_notice(NewTaskNotice {
            region_id: COUNTY.into(),
            title: "走访".into(),
            body: "全覆盖走访".into(),
            deadline: zhuqi_server::now_ms() + DAY,
            recipients: vec![Recipient::Department(FINANCE.into()), Recipient::Cadre("cadre".into())],
        })
        .unwrap();
    manager.sync();
    let cadre_b = Device::sign_in(&w.relay.url, tmp.path(), "cadre-b");
    cadre_b.sync();
    let pb = cadre_b.store.report_problem(NewProblem { enterprise_id: ENT_B.into(), ..problem() }).unwrap();
    cadre_b.sync();

    let a_problems: BTreeSet<String> =
        [&w.reported, &w.routed, &w.resolved, &w.confirmed, &w.closed].into_iter().cloned().collect();
    let routed_a: BTreeSet<String> = [&w.routed, &w.resolved, &w.confirmed, &w.closed].into_iter().cloned().collect();
    let set = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<BTreeSet<String>>();
    let union = |a: &BTreeSet<String>, b: BTreeSet<String>| a.union(&b).cloned().collect::<BTreeSet<String>>();
    let expected: Vec<(&str, BTreeSet<String>)> = vec![
        ("cadre", union(&a_problems, set(&[ENT_A, &notice]))),
        ("cadre-b", set(&[ENT_B, &pb])),
        ("manager", union(&a_problems, set(&[ENT_A, &notice]))),
        ("manager-b", set(&[ENT_B, &pb])),
        ("city", union(&a_problems, set(&[ENT_A, ENT_B, &pb, &notice]))),
        ("handler", union(&routed_a, set(&[&notice]))),
        ("handler-hr", set(&[])),
        ("handler-b", set(&[])),
        ("contact", union(&a_problems, set(&[ENT_A]))),
        ("contact-b", set(&[ENT_B, &pb])),
    ];
    for (login, want) in expected {
        let d = Device::sign_in(&w.relay.url, tmp.path(), login);
        d.sync();
        let got: BTreeSet<String> = d.store.document_ids().unwrap().into_iter().map(|(id, _)| id).collect();
        assert_eq!(got, want, "{login}");
    }
}

#[test]
fn a_deadline_already_passed_and_an_early_unanswered_closure_are_refused() {
    let w = world();
    let manager = RawClient::sign_in(&w.relay.url, "manager");
    let storage = w.relay.state.storage.as_ref();
    let before = storage.current_seq().unwrap();
    // Routed with a deadline an hour ago: it would be overdue at once.
    let past = zhuqi_server::now_ms() - 3_600_000;
    let routed = ProblemAction::Routed { department_id: FINANCE.into(), level: 1, deadline: past, note: String::new() };
    let r = manager.push(
        &w.reported,
        DocKind::Problem,
        vec![manager.append(&relay_snapshot(&w.relay, &w.reported), routed)],
    );
    assert_eq!(r.rejected.len(), 1);
    assert_eq!(r.rejected[0].code, RejectCode::InvalidAction, "{}", r.rejected[0].message);
    // Closed as unanswered minutes after the resolution, not after the enterprise's 15 days.
    let close = ProblemAction::ClosedUnanswered { note: String::new(), answer_days: None };
    let r = manager.push(
        &w.resolved,
        DocKind::Problem,
        vec![manager.append(&relay_snapshot(&w.relay, &w.resolved), close)],
    );
    assert_eq!(r.rejected.len(), 1);
    assert_eq!(r.rejected[0].code, RejectCode::InvalidAction, "{}", r.rejected[0].message);
    // Nothing of either was stored.
    assert_eq!(storage.current_seq().unwrap(), before);
}
