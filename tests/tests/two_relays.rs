//! Two relays on one PostgreSQL database, as behind a load balancer: what a device pushes to one is
//! pulled from the other, live events cross over, and devices writing the same document through both
//! relays at once all get their changes stored and converge.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use zhuqi_core::domain::{Category, ProblemStatus};
use zhuqi_core::store::{NewProblem, NewVisit};
use zhuqi_tests::pg::TestDatabase;
use zhuqi_tests::*;

fn visit(notes: &str) -> NewVisit {
    NewVisit {
        date: zhuqi_core::domain::text::date_of(zhuqi_server::now_ms()),
        people_met: vec!["刘总".into()],
        notes: notes.into(),
        policies: vec![],
        policy_ids: vec![],
        location: None,
        photos: vec![],
    }
}

#[test]
fn a_change_pushed_to_one_relay_reaches_devices_of_the_other() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDatabase::create();
    let (a, b) = (Relay::start_with(db.open()), Relay::start_with(db.open()));
    seed_directory(a.state.storage.as_ref());
    seed_enterprises(&a.url, tmp.path());

    // The county office listens for live events on relay B.
    let manager = Device::sign_in(&b.url, tmp.path(), "manager");
    assert_eq!(manager.sync().pulled, 1, "the enterprise registered through A");
    let (cursor, _) = manager.store.sync_cursor().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let token = manager.store.session_token().unwrap().unwrap();
        let client = zhuqi_core::sync::SyncClient::new(&b.url).unwrap();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let _ = client.watch(&token, cursor, &stop, |c| {
                let _ = tx.send(c);
            });
        });
    }
    std::thread::sleep(Duration::from_millis(500));

    // A cadre reports a problem through relay A.
    let cadre = Device::sign_in(&a.url, tmp.path(), "cadre");
    cadre.sync();
    let v = cadre.store.record_visit(ENT_A, visit("走访")).unwrap();
    let pid = cadre
        .store
        .report_problem(NewProblem {
            enterprise_id: ENT_A.into(),
            category: Category::Financing,
            title: "流动资金贷款".into(),
            description: "需要500万元".into(),
            visit_id: Some(v),
            photos: vec![],
        })
        .unwrap();
    assert_eq!(cadre.sync().pushed, 2);

    // B's listener hears of it, and B serves it.
    let c = rx.recv_timeout(Duration::from_secs(15)).expect("a live event on relay B");
    assert!(c > cursor);
    assert_eq!(manager.sync().pulled, 2);
    manager.store.route_problem(&pid, FINANCE, 2, zhuqi_server::now_ms() + 7 * DAY, "请财政局办理").unwrap();
    assert_eq!(manager.sync().pushed, 1);
    stop.store(true, Ordering::SeqCst);

    // The handler works through A; everybody converges whichever relay they use.
    let handler = Device::sign_in(&a.url, tmp.path(), "handler");
    assert_eq!(handler.sync().pulled, 1);
    handler.store.resolve_problem(&pid, "贷款已发放").unwrap();
    handler.sync();
    for d in [&cadre, &manager, &handler] {
        d.sync();
    }
    let heads = cadre.store.document_heads(&pid).unwrap();
    for d in [&manager, &handler] {
        assert_eq!(d.store.document_heads(&pid).unwrap(), heads);
        assert_eq!(d.store.problem(&pid).unwrap().state.status, ProblemStatus::Resolved);
    }
    // The dashboard of either relay shows the same row.
    let rows_a = a.state.storage.problem_rows().unwrap();
    assert_eq!(rows_a, b.state.storage.problem_rows().unwrap());
    assert_eq!(rows_a[0].status, "resolved");
}

#[test]
fn the_same_document_written_through_both_relays_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDatabase::create();
    let (a, b) = (Relay::start_with(db.open()), Relay::start_with(db.open()));
    seed_directory(a.state.storage.as_ref());
    seed_enterprises(&a.url, tmp.path());
    // Six devices of the cadre (three through each relay) record visits to enterprise A, many times
    // over, at the same moment: commits of the two relays to one document interleave.
    let devices: Vec<Device> =
        (0..6).map(|i| Device::sign_in(if i % 2 == 0 { &a.url } else { &b.url }, tmp.path(), "cadre")).collect();
    for d in &devices {
        d.sync();
    }
    const ROUNDS: usize = 10;
    std::thread::scope(|s| {
        for (n, d) in devices.iter().enumerate() {
            s.spawn(move || {
                for i in 0..ROUNDS {
                    d.store.record_visit(ENT_A, visit(&format!("设备{n}第{i}次走访"))).unwrap();
                    let r = d.sync();
                    assert_eq!(r.rejected, 0, "{r:?}");
                }
            });
        }
    });
    for d in devices.iter().chain(&devices) {
        d.sync();
        assert!(d.store.pending_changes().unwrap().is_empty());
    }
    let heads = devices[0].store.document_heads(ENT_A).unwrap();
    for d in &devices {
        assert_eq!(d.store.document_heads(ENT_A).unwrap(), heads);
    }
    // Every visit is on the relays' dashboard, whichever relay stored it.
    let visits = a.state.storage.visit_facts().unwrap();
    assert_eq!(visits.len(), devices.len() * ROUNDS);
    // And each relay's copy of the document holds all of them.
    for relay in [&a, &b] {
        let doc = zhuqi_core::document::Document::load(&relay_snapshot(relay, ENT_A)).unwrap();
        let (state, _) = zhuqi_core::domain::event::fold::<zhuqi_core::domain::EnterpriseState>(doc.events());
        assert_eq!(state.visits.len(), devices.len() * ROUNDS);
    }
}
