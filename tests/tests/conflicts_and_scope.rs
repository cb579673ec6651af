//! Through a real relay: concurrent offline transitions from three devices converge with the conflict
//! visible; a re-routed problem leaves the old department's phones and reaches the new one whole; a
//! change the relay refuses is quarantined on the phone, never silently dropped; a revoked phone is
//! refused and told to wipe; live events announce changes in scope; a document the phone wrote alone
//! comes back whole when its scope returns.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use zhuqi_core::domain::{Category, Outcome, ProblemStatus};
use zhuqi_core::store::{DocSyncStatus, NewProblem};
use zhuqi_tests::*;

fn setup() -> (tempfile::TempDir, Relay) {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    seed_directory(relay.state.storage.as_ref());
    seed_enterprises(&relay.url, tmp.path());
    (tmp, relay)
}

fn report(d: &Device) -> String {
    d.store
        .report_problem(NewProblem {
            enterprise_id: ENT_A.into(),
            category: Category::Labour,
            title: "招工难".into(),
            description: "缺技术工人".into(),
            visit_id: None,
            photos: vec![],
        })
        .unwrap()
}

#[test]
fn three_offline_devices_converge_and_the_conflict_shows() {
    let (tmp, relay) = setup();
    let cadre = Device::sign_in(&relay.url, tmp.path(), "cadre");
    let manager = Device::sign_in(&relay.url, tmp.path(), "manager");
    let handler = Device::sign_in(&relay.url, tmp.path(), "handler");
    let contact = Device::sign_in(&relay.url, tmp.path(), "contact");
    let tablet = Device::sign_in(&relay.url, tmp.path(), "contact");
    cadre.sync();
    let pid = report(&cadre);
    cadre.sync();
    manager.sync();
    manager.store.route_problem(&pid, FINANCE, 1, zhuqi_server::now_ms() + 3 * DAY, "").unwrap();
    manager.sync();
    handler.sync();
    handler.store.resolve_problem(&pid, "已协调").unwrap();
    handler.sync();
    for d in [&contact, &tablet, &cadre] {
        d.sync();
    }
    // Offline at once: the enterprise confirms on its phone and rejects on its tablet; the cadre
    // adds a note.
    contact.store.confirm_resolution(&pid, 4, "").unwrap();
    tablet.store.reject_resolution(&pid, "款项未到").unwrap();
    cadre.store.add_progress(&pid, "企业两位负责人意见不一").unwrap();
    for d in [&tablet, &cadre, &contact] {
        let r = d.sync();
        assert_eq!(r.rejected, 0, "concurrent transitions are accepted, not refused");
    }
    let all = [&cadre, &manager, &handler, &contact, &tablet];
    for d in all {
        d.sync();
    }
    let reference = cadre.store.problem(&pid).unwrap();
    assert_eq!(reference.timeline.len(), 6, "no event lost");
    let conflicts: Vec<_> =
        reference.timeline.iter().filter(|e| matches!(e.outcome, Outcome::Conflict { .. })).collect();
    assert_eq!(conflicts.len(), 1, "{:#?}", reference.timeline);
    assert_eq!(reference.summary.conflict_count, 1);
    for d in all {
        let p = d.store.problem(&pid).unwrap();
        assert_eq!(p.state, reference.state);
        assert_eq!(p.timeline, reference.timeline);
    }
    assert!(matches!(reference.state.status, ProblemStatus::Confirmed | ProblemStatus::Routed));
    // The relay's projection agrees with the devices.
    let doc = zhuqi_core::document::Document::load(&relay.state.document_bytes(&pid).unwrap().unwrap()).unwrap();
    let (state, _) = zhuqi_core::domain::event::fold::<zhuqi_core::domain::ProblemState>(doc.events());
    assert_eq!(state, reference.state);
}

#[test]
fn rerouting_moves_the_problem_between_departments_and_late_writes_are_quarantined() {
    let (tmp, relay) = setup();
    let cadre = Device::sign_in(&relay.url, tmp.path(), "cadre");
    let manager = Device::sign_in(&relay.url, tmp.path(), "manager");
    let finance = Device::sign_in(&relay.url, tmp.path(), "handler");
    let hr = Device::sign_in(&relay.url, tmp.path(), "handler-hr");
    cadre.sync();
    let pid = report(&cadre);
    cadre.sync();
    manager.sync();
    manager.store.route_problem(&pid, FINANCE, 1, zhuqi_server::now_ms() + 3 * DAY, "").unwrap();
    manager.sync();
    assert_eq!(finance.sync().pulled, 1);
    assert_eq!(hr.sync().pulled, 0);

    // The finance bureau works offline; meanwhile the office re-routes the problem to HR.
    finance.store.add_progress(&pid, "正在核实").unwrap();
    manager.store.route_problem(&pid, HR, 1, zhuqi_server::now_ms() + 5 * DAY, "改由人社局办理").unwrap();
    manager.sync();

    let r = hr.sync();
    assert_eq!(r.pulled, 1, "the new department receives the problem whole");
    assert_eq!(hr.store.problem(&pid).unwrap().state.department_id.as_deref(), Some(HR));

    // Finance reconnects: its note is refused (no longer its problem), kept in the quarantine, and the
    // problem leaves its phone.
    let r = finance.sync();
    assert_eq!((r.rejected, r.purged), (1, 1), "{r:?}");
    assert!(finance.store.problem(&pid).is_err());
    assert!(finance.store.pending_changes().unwrap().is_empty());
    let q = finance.store.quarantined().unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].code, "out_of_scope");
    assert!(q[0].events[0].contains("正在核实"), "the user can see what was refused");
    assert_eq!(finance.store.sync_status(&pid).unwrap(), DocSyncStatus::Rejected);
    let export = finance.store.export_quarantine().unwrap();
    assert!(export.contains("正在核实") && export.contains("change_hex"));
    // A later sync is clean.
    let r = finance.sync();
    assert_eq!((r.rejected, r.pushed, r.purged), (0, 0, 0));

    // Ending an assignment takes the enterprise and its problems off the cadre's phone.
    manager.store.end_assignment(ENT_A, "cadre", "岗位调整").unwrap();
    manager.sync();
    let r = cadre.sync();
    assert_eq!(r.purged, 2, "{r:?}");
    assert!(cadre.store.my_enterprises().unwrap().is_empty());
    assert!(cadre.store.document_ids().unwrap().is_empty());
}

#[test]
fn a_refused_change_is_quarantined_and_the_relays_version_restored() {
    let (tmp, relay) = setup();
    let cadre = Device::sign_in(&relay.url, tmp.path(), "cadre");
    cadre.sync();
    let pid = report(&cadre);
    cadre.sync();
    // A tampered app on the cadre's second phone: a store that believes the user is a campaign office.
    let client = zhuqi_core::sync::SyncClient::new(&relay.url).unwrap();
    let session = client.sign_in("cadre", PASSWORD, "第二部手机").unwrap();
    let mut identity = session.identity.clone();
    identity.role = zhuqi_core::domain::Role::Manager;
    let tampered = zhuqi_core::store::Store::open(&tmp.path().join("tampered.db"), identity).unwrap();
    tampered.set_session_token(&session.token).unwrap();
    client.sync_now(&tampered).unwrap();
    let old_actor = tampered.actor_id();
    tampered.route_problem(&pid, FINANCE, 1, zhuqi_server::now_ms() + DAY, "自行交办").unwrap();
    assert_eq!(tampered.problem(&pid).unwrap().state.status, ProblemStatus::Routed);

    let r = client.sync_now(&tampered).unwrap();
    assert_eq!((r.rejected, r.pushed), (1, 0));
    // The relay's version is back, the refused edit is kept for the user, nothing is pending.
    assert_eq!(tampered.problem(&pid).unwrap().state.status, ProblemStatus::Reported);
    assert_eq!(tampered.document_heads(&pid).unwrap(), cadre.store.document_heads(&pid).unwrap());
    let q = tampered.quarantined().unwrap();
    assert_eq!((q.len(), q[0].code.as_str()), (1, "forged_author"));
    assert!(q[0].events[0].contains("自行交办"));
    assert!(tampered.pending_changes().unwrap().is_empty());
    assert_ne!(tampered.actor_id(), old_actor, "a fresh actor after a refusal");
    assert_eq!(tampered.sync_status(&pid).unwrap(), DocSyncStatus::Rejected);
    tampered.dismiss_quarantined(q[0].id).unwrap();
    assert_eq!(tampered.sync_status(&pid).unwrap(), DocSyncStatus::Synced);
    // Nothing of it reached the relay.
    cadre.sync();
    assert_eq!(cadre.store.problem(&pid).unwrap().state.status, ProblemStatus::Reported);
}

#[test]
fn a_revoked_phone_is_refused_and_told_to_wipe() {
    let (tmp, relay) = setup();
    let cadre = Device::sign_in(&relay.url, tmp.path(), "cadre");
    cadre.sync();
    let device_id = cadre.store.identity().device_id;
    assert!(relay.state.storage.revoke_device(&device_id).unwrap());
    // Refused every time: the relay remembered the session of the device's last sync, and checks
    // it again before serving.
    for _ in 0..3 {
        let err = cadre.client.sync_now(&cadre.store).unwrap_err();
        assert!(matches!(err, zhuqi_core::Error::DeviceRevoked), "{err:?}");
    }
    let err = cadre.client.sync_now(&cadre.store).unwrap_err();
    assert_eq!(err.user_message(), "本设备已被停用，本机数据将被清除");
    cadre.store.wipe().unwrap();
    assert!(cadre.store.document_ids().unwrap().is_empty());
    // Signing in again registers a new device.
    let again = Device::sign_in(&relay.url, tmp.path(), "cadre");
    assert_eq!(again.sync().pulled, 1);
}

#[test]
fn live_events_announce_changes_in_scope_only() {
    let (tmp, relay) = setup();
    let cadre = Device::sign_in(&relay.url, tmp.path(), "cadre");
    let other = Device::sign_in(&relay.url, tmp.path(), "cadre-b");
    cadre.sync();
    other.sync();
    let (cursor, _) = cadre.store.sync_cursor().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    for (d, name) in [(&cadre, "cadre"), (&other, "cadre-b")] {
        let token = d.store.session_token().unwrap().unwrap();
        let client = zhuqi_core::sync::SyncClient::new(&relay.url).unwrap();
        let stop = stop.clone();
        let tx = tx.clone();
        std::thread::spawn(move || {
            let _ = client.watch(&token, cursor, &stop, |c| {
                let _ = tx.send((name, c));
            });
        });
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let manager = Device::sign_in(&relay.url, tmp.path(), "manager");
    manager.sync();
    manager
        .store
        .update_enterprise(
            ENT_A,
            zhuqi_core::domain::ProfileUpdate { address: Some("新址".into()), ..Default::default() },
        )
        .unwrap();
    manager.sync();
    let (who, c) = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("an event");
    assert_eq!(who, "cadre");
    assert!(c > cursor);
    assert!(rx.recv_timeout(std::time::Duration::from_millis(500)).is_err(), "cadre-b hears nothing of enterprise A");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(cadre.sync().pulled, 1);
}

#[test]
fn a_document_written_only_by_this_phone_comes_back_whole_when_its_scope_returns() {
    let (tmp, relay) = setup();
    let cadre = Device::sign_in(&relay.url, tmp.path(), "cadre");
    let manager = Device::sign_in(&relay.url, tmp.path(), "manager");
    cadre.sync();
    manager.sync();
    // A report nobody else has touched: every change of it came from the cadre's phone.
    let id = report(&cadre);
    cadre.sync();
    manager.store.end_assignment(ENT_A, "cadre", "调整包联").unwrap();
    manager.sync();
    cadre.sync();
    assert!(cadre.store.problem(&id).is_err(), "the phone let go of the problem with its enterprise");
    manager.store.assign_cadre(ENT_A, "cadre", true).unwrap();
    manager.sync();
    cadre.sync();
    let back = cadre.store.problem(&id).expect("the problem is back on the phone");
    assert_eq!(back.state.status, ProblemStatus::Reported);
    assert_eq!(back.state.title, "招工难");
}

#[test]
fn a_corrected_visit_counts_on_its_corrected_day() {
    let (tmp, relay) = setup();
    let cadre = Device::sign_in(&relay.url, tmp.path(), "cadre");
    cadre.sync();
    let today = zhuqi_core::domain::text::date_of(zhuqi_server::now_ms());
    let yesterday = zhuqi_core::domain::text::date_of(zhuqi_server::now_ms() - DAY);
    let visit = |date: &str| zhuqi_core::store::NewVisit {
        date: date.into(),
        people_met: vec!["刘总".into()],
        notes: "走访".into(),
        policies: vec![],
        policy_ids: vec![],
        location: None,
        photos: vec![],
    };
    let id = cadre.store.record_visit(ENT_A, visit(&today)).unwrap();
    cadre.sync();
    cadre.store.correct_visit(ENT_A, &id, visit(&yesterday), "日期记错").unwrap();
    let r = cadre.sync();
    assert_eq!((r.pushed, r.rejected), (1, 0));
    let facts = relay.state.storage.visit_facts().unwrap();
    let fact = facts.iter().find(|v| v.enterprise_id == ENT_A).expect("the visit counts");
    assert_eq!(zhuqi_core::domain::text::date_of(fact.day), yesterday, "on its corrected day");
}
