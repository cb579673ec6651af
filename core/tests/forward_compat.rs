//! An app of this version receives what a newer one wrote: a category and a role it does not know, an
//! event type it does not know, a field it does not know. It keeps all of it, shows the unknown values
//! as "需更新版本查看", folds what it can, gives nobody of an unknown role any right, and passes the
//! newer events on byte for byte.
//!
//! The newer events are written straight into an Automerge document (the API refuses such values).

mod common;

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ObjType, ROOT, ReadDoc};
use common::*;
use zhuqi_core::document::{Document, raw_events_of};
use zhuqi_core::domain::open_enum::NEEDS_NEWER_VERSION;
use zhuqi_core::domain::{Category, DocKind, Outcome, ProblemStatus, Role};
use zhuqi_core::error::{DomainError, Error};
use zhuqi_core::store::{Identity, ProblemFilter, Store};

const PROBLEM: &str = "0195a000-0000-7000-8000-00000000f001";

/// The events of a newer app: a report in a new category, a progress note by a user of a new role
/// with a field this version lacks, and an event of a new type.
fn newer_events(enterprise_id: &str) -> Vec<String> {
    vec![
        format!(
            r#"{{"id":"f1","by":"cadre-1","role":"cadre","device":"phone-new","at":{T0},"type":"reported","enterprise_id":"{enterprise_id}","category":"carbon_quota","title":"碳排放配额不足","description":"新上产线需要增加碳排放配额"}}"#
        ),
        format!(
            r#"{{"id":"f2","by":"auditor-1","role":"auditor","device":"pad-auditor","at":{},"seen":["f1"],"type":"progress","note":"已核查排放数据","audit_ref":"A-7"}}"#,
            T0 + HOUR
        ),
        format!(
            r#"{{"id":"f3","by":"auditor-1","role":"auditor","device":"pad-auditor","at":{},"seen":["f2"],"type":"carbon_verified","tonnes":1200}}"#,
            T0 + 2 * HOUR
        ),
    ]
}

/// A problem document as a newer app lays it out, one change per event.
fn newer_document(enterprise_id: &str) -> Automerge {
    let mut doc = Automerge::new().with_actor(ActorId::random());
    let events = newer_events(enterprise_id);
    doc.transact::<_, _, automerge::AutomergeError>(|tx| {
        tx.put(ROOT, "schema", 1)?;
        tx.put(ROOT, "kind", "problem")?;
        tx.put(ROOT, "id", PROBLEM)?;
        tx.put(ROOT, "enterprise_id", enterprise_id)?;
        tx.put(ROOT, "enterprise_name", "郑州精工机械有限公司")?;
        tx.put(ROOT, "region_id", COUNTY)?;
        let list = tx.put_object(ROOT, "events", ObjType::List)?;
        tx.insert(&list, 0, events[0].as_str())?;
        Ok(())
    })
    .unwrap();
    for (i, e) in events.iter().enumerate().skip(1) {
        let (_, list) = doc.get(ROOT, "events").unwrap().unwrap();
        doc.transact::<_, _, automerge::AutomergeError>(|tx| {
            tx.insert(&list, i, e.as_str())?;
            Ok(())
        })
        .unwrap();
    }
    doc
}

#[test]
fn an_older_app_keeps_shows_and_passes_on_what_a_newer_one_wrote() {
    let w = World::new();
    let mut newer = newer_document(&w.enterprise_id);
    let written: Vec<_> = newer.get_changes(&[]).into_iter().map(|c| (c.hash(), c.raw_bytes().to_vec())).collect();
    w.cadre.apply_remote(PROBLEM, DocKind::Problem, &[newer.save()]).unwrap();

    // The problem exists, in its category, on the list (read back from the index) and in detail.
    let listed = w.cadre.problems(&ProblemFilter::default()).unwrap();
    let card = listed.iter().find(|p| p.id == PROBLEM).expect("the problem is on the list");
    assert_eq!(card.category, Category::Unknown("carbon_quota"));
    assert_eq!(card.category.as_str(), "carbon_quota");
    assert_eq!(card.category.zh(), NEEDS_NEWER_VERSION);
    assert_eq!(card.status, ProblemStatus::Reported);
    let detail = w.cadre.problem(PROBLEM).unwrap();
    assert_eq!(detail.state.category, Category::Unknown("carbon_quota"));
    assert_eq!(detail.state.title, "碳排放配额不足");

    // Every event is on the timeline: the progress note of the unknown role applied, the unknown
    // type kept but not interpreted.
    let timeline: Vec<_> = detail.timeline.iter().map(|e| (e.event_id.as_str(), e.role, &e.outcome)).collect();
    assert_eq!(
        timeline,
        [
            ("f1", Role::Cadre, &Outcome::Applied),
            ("f2", Role::Unknown("auditor"), &Outcome::Applied),
            ("f3", Role::Unknown("auditor"), &Outcome::Unknown),
        ]
    );
    assert_eq!(detail.timeline[1].role.zh(), NEEDS_NEWER_VERSION);

    // The older app acts on it; its change is the only one it has to send.
    w.cadre.add_progress(PROBLEM, "已联系生态环境局").unwrap();
    let pending: Vec<_> = w.cadre.pending_changes().unwrap().into_iter().filter(|p| p.doc_id == PROBLEM).collect();
    assert_eq!(pending.len(), 1, "the newer events are not rewritten");

    // What it passes on holds the newer changes unchanged, and the events byte for byte.
    let passed = Automerge::load(&w.cadre.save_document(PROBLEM).unwrap()).unwrap();
    for (hash, bytes) in &written {
        let change = passed.get_change_by_hash(hash).expect("the newer change is passed on");
        assert_eq!(change.raw_bytes(), &bytes[..]);
    }
    let raw = raw_events_of(&passed);
    assert_eq!(raw[..3], newer_events(&w.enterprise_id)[..]);
    assert_eq!(raw.len(), 4);

    // The newer app gets back its own events as it wrote them, with the older app's after them.
    newer.merge(&mut passed.clone()).unwrap();
    assert_eq!(raw_events_of(&newer), raw);

    // Another older app, and the same one after a restart, see the same.
    w.sync_all();
    for store in [&w.manager, &w.store("cadre-1")] {
        store.clear_cache();
        let p = store.problem(PROBLEM).unwrap();
        assert_eq!(p.summary.category, Category::Unknown("carbon_quota"));
        assert_eq!(p.timeline.len(), 4);
        assert_eq!(Document::load(&store.save_document(PROBLEM).unwrap()).unwrap().raw_events(), raw);
    }
}

#[test]
fn a_user_of_an_unknown_role_may_do_nothing() {
    let w = World::new();
    w.cadre.apply_remote(PROBLEM, DocKind::Problem, &[newer_document(&w.enterprise_id).save()]).unwrap();
    // A device signed in with a role of a newer version, in the enterprise's county, holding its
    // documents: it is neither a cadre nor a manager there.
    let identity = Identity {
        user_id: "auditor-1".into(),
        name: "审计员".into(),
        role: Role::from_stored("auditor"),
        region_id: Some(COUNTY.into()),
        department_id: None,
        enterprise_id: None,
        device_id: "pad-auditor".into(),
    };
    let auditor = Store::open_with_clock(&w.tmp.path().join("auditor.db"), identity.clone(), w.clock.clone()).unwrap();
    auditor.import_directory(&w.dir).unwrap();
    send_all(&w.cadre, &auditor);
    send_all(&w.manager, &auditor);
    let denied = |r: zhuqi_core::Result<()>| {
        let e = r.expect_err("an unknown role has no rights");
        assert!(matches!(e, Error::Domain(DomainError::NotAllowed { .. })), "{e:?}");
    };
    denied(auditor.report_problem(problem(&w.enterprise_id, None)).map(drop));
    denied(auditor.add_progress(PROBLEM, "进展"));
    denied(auditor.accept_problem(PROBLEM, ""));
    denied(auditor.urge_problem(PROBLEM, ""));
    denied(auditor.record_visit(&w.enterprise_id, visit("2026-03-01")).map(drop));
    denied(auditor.assign_cadre(&w.enterprise_id, "cadre-1", false));
    assert!(auditor.pending_changes().unwrap().is_empty());
    // The store keeps the role as written across a restart.
    drop(auditor);
    let reopened = Store::open_with_clock(&w.tmp.path().join("auditor.db"), identity, w.clock.clone()).unwrap();
    assert_eq!(reopened.identity().role, Role::Unknown("auditor"));
}

#[test]
fn a_notice_to_a_recipient_of_an_unknown_kind_is_kept_and_its_known_recipients_act_on_it() {
    const NOTICE: &str = "0195a000-0000-7000-8000-00000000f002";
    let w = World::new();
    // A newer app's notice: to the cadre, and to a kind of recipient this version does not know.
    let issued = format!(
        r#"{{"id":"n1","by":"mgr-county","role":"manager","device":"pc-new","at":{T0},"type":"issued","region_id":"{COUNTY}","title":"排查碳排放","body":"请于月底前完成排查","deadline":{},"recipients":[{{"kind":"cadre","id":"cadre-1"}},{{"kind":"village","id":"v-7"}}]}}"#,
        T0 + 10 * 24 * HOUR
    );
    let mut doc = Automerge::new().with_actor(ActorId::random());
    doc.transact::<_, _, automerge::AutomergeError>(|tx| {
        tx.put(ROOT, "schema", 1)?;
        tx.put(ROOT, "kind", "task_notice")?;
        tx.put(ROOT, "id", NOTICE)?;
        tx.put(ROOT, "region_id", COUNTY)?;
        let list = tx.put_object(ROOT, "events", ObjType::List)?;
        tx.insert(&list, 0, issued.as_str())?;
        Ok(())
    })
    .unwrap();
    w.cadre.apply_remote(NOTICE, DocKind::TaskNotice, &[doc.save()]).unwrap();

    let detail = w.cadre.task_notice(NOTICE).unwrap();
    let names: Vec<_> = detail.recipients.iter().map(|r| (r.recipient.parts(), r.name.clone())).collect();
    assert_eq!(names.len(), 2, "the notice and both recipients are kept: {names:?}");
    assert_eq!(names[1], (("village", "v-7"), Some(NEEDS_NEWER_VERSION.to_owned())));
    assert!(!detail.recipients[1].recipient.is_known());

    // The cadre acknowledges; the newer event passes on byte for byte.
    w.cadre.acknowledge_task_notice(NOTICE).unwrap();
    assert!(w.cadre.task_notice(NOTICE).unwrap().recipients[0].acknowledged_at.is_some());
    let raw = raw_events_of(&Automerge::load(&w.cadre.save_document(NOTICE).unwrap()).unwrap());
    assert_eq!(raw.len(), 2);
    assert_eq!(raw[0], issued);
}
