//! The whole loop through a real relay: a cadre offline records a visit and reports a problem and
//! reconnects; the campaign office routes it; the department resolves it; the enterprise activates
//! its phone with a code from its cadre and confirms with a rating; every device converges.

use zhuqi_core::domain::Category;
use zhuqi_core::domain::ProblemStatus;
use zhuqi_core::store::{NewProblem, NewVisit, ProblemFilter};
use zhuqi_tests::*;

#[test]
fn from_the_factory_floor_to_the_enterprises_rating() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    seed_directory(relay.state.storage.as_ref());
    seed_enterprises(&relay.url, tmp.path());

    let cadre = Device::sign_in(&relay.url, tmp.path(), "cadre");
    let first = cadre.sync();
    assert_eq!(first.pulled, 1, "the cadre receives the assigned enterprise only");
    assert_eq!(cadre.store.my_enterprises().unwrap().len(), 1);

    // In the factory, offline.
    let visit = cadre
        .store
        .record_visit(
            ENT_A,
            NewVisit {
                date: zhuqi_core::domain::text::date_of(zhuqi_server::now_ms()),
                people_met: vec!["刘总".into()],
                notes: "企业反映流动资金紧张".into(),
                policies: vec!["稳企贷".into()],
                policy_ids: vec![],
                location: None,
                photos: vec![],
            },
        )
        .unwrap();
    let pid = cadre
        .store
        .report_problem(NewProblem {
            enterprise_id: ENT_A.into(),
            category: Category::Financing,
            title: "流动资金贷款".into(),
            description: "需要500万元贷款".into(),
            visit_id: Some(visit),
            photos: vec![],
        })
        .unwrap();
    assert_eq!(cadre.store.sync_status(&pid).unwrap(), zhuqi_core::store::DocSyncStatus::Waiting);
    let r = cadre.sync();
    assert_eq!((r.pushed, r.rejected, r.round_trips), (2, 0, 1));
    assert_eq!(cadre.store.sync_status(&pid).unwrap(), zhuqi_core::store::DocSyncStatus::Synced);

    // The county office sees it and routes it with a deadline.
    let manager = Device::sign_in(&relay.url, tmp.path(), "manager");
    manager.sync();
    let waiting = manager.store.problems(&ProblemFilter { awaiting_me: true, ..Default::default() }).unwrap();
    assert_eq!(waiting.len(), 1);
    manager.store.route_problem(&pid, FINANCE, 2, zhuqi_server::now_ms() + 7 * DAY, "请财政局办理").unwrap();
    assert_eq!(manager.sync().pushed, 1);

    // The department handler receives it (whole: it was not theirs before) and resolves it.
    let handler = Device::sign_in(&relay.url, tmp.path(), "handler");
    let r = handler.sync();
    assert_eq!(r.pulled, 1);
    assert!(handler.store.my_enterprises().unwrap().is_empty(), "a department never receives the enterprise's file");
    handler.store.add_progress(&pid, "已对接银行").unwrap();
    handler.store.resolve_problem(&pid, "贷款已发放").unwrap();
    assert_eq!(handler.sync().pushed, 2);

    // The enterprise activates its phone with a code its cadre issued, and confirms.
    let token = cadre.store.session_token().unwrap().unwrap();
    let code = cadre.client.issue_activation_code(&token, ENT_A, "contact").unwrap();
    let client = zhuqi_core::sync::SyncClient::new(&relay.url).unwrap();
    let activated = client.activate(&code.code.to_lowercase(), "企业的手机").unwrap();
    assert_eq!(activated.identity.enterprise_id.as_deref(), Some(ENT_A));
    assert!(client.activate(&code.code, "另一部手机").is_err(), "a code works once");
    let contact = Device::open(client, tmp.path(), activated);
    contact.sync();
    assert_eq!(contact.store.home_counts().unwrap().awaiting_me, 1);
    contact.store.confirm_resolution(&pid, 5, "非常满意").unwrap();
    contact.sync();

    manager.sync();
    manager.store.close_problem(&pid, "").unwrap();
    manager.sync();
    for d in [&cadre, &manager, &handler, &contact] {
        d.sync();
    }
    let heads = cadre.store.document_heads(&pid).unwrap();
    for d in [&manager, &handler, &contact] {
        assert_eq!(d.store.document_heads(&pid).unwrap(), heads);
        let p = d.store.problem(&pid).unwrap();
        assert_eq!(p.state.status, ProblemStatus::Closed);
        assert_eq!(p.state.rating, Some(5));
        assert_eq!(p.timeline.len(), 6);
        assert!(d.store.pending_changes().unwrap().is_empty());
    }
    // An up-to-date device learns so in one small round trip.
    let r = manager.sync();
    assert_eq!((r.round_trips, r.pulled, r.pushed), (1, 0, 0));
    assert!(r.bytes_sent < 200 && r.bytes_received < 200, "{r:?}");
}
