//! A hostile client against the real relay: Automerge changes built by hand to rewrite the record
//! (insert before a later event, reuse an event id, create a document again, hide ops and fields,
//! replace op ids, back-date and post-date events, spoof copied header values, flood a request with
//! empty changes). Each test asserts the refusal and that the record as every other role sees it
//! is unchanged.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, ObjType, ROOT, ReadDoc};
use zhuqi_core::document::{Document, encode as event_json};
use zhuqi_core::domain::event::Causality;
use zhuqi_core::domain::*;
use zhuqi_core::store::NewProblem;
use zhuqi_core::sync::protocol::*;
use zhuqi_tests::*;

struct World {
    _tmp: tempfile::TempDir,
    relay: Relay,
    manager: Device,
    /// Reported, routed, resolved, and the resolution rejected by the enterprise: back in handling.
    rejected: String,
    /// Resolved and confirmed with one star.
    confirmed: String,
}

fn problem() -> NewProblem {
    NewProblem {
        enterprise_id: ENT_A.into(),
        category: Category::Financing,
        title: "贷款到期".into(),
        description: "续贷需要担保".into(),
        visit_id: None,
        photos: vec![],
    }
}

/// The first event of `problem()`, as a hand-built client writes it.
fn reported() -> ProblemAction {
    let p = problem();
    ProblemAction::Reported {
        enterprise_id: p.enterprise_id,
        category: p.category,
        title: p.title,
        description: p.description,
        visit_id: p.visit_id,
        photos: vec![],
    }
}

/// The header of a problem of enterprise A named `name`, in `region`.
fn header<'a>(name: &'a str, region: &'a str) -> [(&'static str, &'a str); 3] {
    [("enterprise_id", ENT_A), ("enterprise_name", name), ("region_id", region)]
}

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
    let ids: Vec<String> = (0..2).map(|_| cadre.store.report_problem(problem()).unwrap()).collect();
    cadre.sync();
    manager.sync();
    for id in &ids {
        manager.store.route_problem(id, FINANCE, 1, zhuqi_server::now_ms() + 5 * DAY, "").unwrap();
    }
    manager.sync();
    handler.sync();
    for id in &ids {
        handler.store.resolve_problem(id, "已协调担保").unwrap();
    }
    handler.sync();
    contact.sync();
    contact.store.reject_resolution(&ids[0], "担保未落实").unwrap();
    contact.store.confirm_resolution(&ids[1], 1, "没解决").unwrap();
    contact.sync();
    manager.sync();
    World { _tmp: tmp, relay, manager, rejected: ids[0].clone(), confirmed: ids[1].clone() }
}

/// What every other role sees of a problem: its status, its rating and its events.
fn record(w: &World, id: &str) -> (ProblemStatus, Option<u8>, Vec<String>) {
    w.manager.sync();
    let detail = w.manager.store.problem(id).unwrap();
    let doc = Document::load(&relay_snapshot(&w.relay, id)).unwrap();
    (detail.state.status, detail.state.rating, doc.raw_events())
}

/// The event log of a snapshot, the events' heads, and the Automerge list holding them.
fn opened(snapshot: &[u8], actor: &ActorId) -> (Automerge, automerge::ObjId, Vec<Event<ProblemAction>>) {
    let doc = Automerge::load(snapshot).unwrap().with_actor(actor.clone());
    let (_, list) = doc.get(ROOT, "events").unwrap().unwrap();
    let events: Vec<Event<ProblemAction>> = Document::load(snapshot).unwrap().events();
    (doc, list, events)
}

fn heads(events: &[Event<ProblemAction>]) -> Vec<String> {
    Causality::new(events).heads(events)
}

/// A change that inserts the given strings at `index` of the event list, then runs `more`.
fn change_at(
    snapshot: &[u8],
    actor: &ActorId,
    index: usize,
    values: &[String],
    more: impl FnOnce(&mut automerge::transaction::Transaction<'_>, &automerge::ObjId),
) -> Vec<u8> {
    let (mut doc, list, _) = opened(snapshot, actor);
    let mut tx = doc.transaction();
    for (i, v) in values.iter().enumerate() {
        tx.insert(&list, index + i, v.as_str()).unwrap();
    }
    more(&mut tx, &list);
    tx.commit();
    doc.get_last_local_change().unwrap().raw_bytes().to_vec()
}

fn refused(r: &SyncResponse) -> RejectCode {
    assert!(r.acked.is_empty(), "nothing is acknowledged: {:?}", r.acked.len());
    assert_eq!(r.rejected.len(), 1, "{r:?}");
    r.rejected[0].code
}

#[test]
fn an_event_inserted_before_a_later_one_or_reusing_an_id_is_refused_and_nothing_is_hidden() {
    let w = world();
    let handler = RawClient::sign_in(&w.relay.url, "handler");
    let storage = w.relay.state.storage.as_ref();
    let seq = storage.current_seq().unwrap();
    for target in [&w.rejected, &w.confirmed] {
        let before = record(&w, target);
        let snapshot = relay_snapshot(&w.relay, target);
        let (_, _, events) = opened(&snapshot, &handler.actor);
        let last = events.last().unwrap();
        // The attack: a progress note reusing the enterprise's answer's id, inserted just
        // before it, as if the handler had written it before the answer (its `seen` says so).
        let before_last = &events[..events.len() - 1];
        let mut forged =
            handler.event(ProblemAction::Progress { note: "继续办理".into(), photos: vec![] }, heads(before_last));
        forged.id = last.id.clone();
        let json = event_json(&forged).unwrap();
        let change = change_at(&snapshot, &handler.actor, events.len() - 1, &[json], |_, _| {});
        assert_eq!(refused(&handler.push(target, DocKind::Problem, vec![change])), RejectCode::NotAppendOnly);
        // The same with a fresh id, and at the head of the list.
        forged.id = uuid::Uuid::now_v7().to_string();
        let json = event_json(&forged).unwrap();
        for index in [events.len() - 1, 0] {
            let change = change_at(&snapshot, &handler.actor, index, std::slice::from_ref(&json), |_, _| {});
            assert_eq!(refused(&handler.push(target, DocKind::Problem, vec![change])), RejectCode::NotAppendOnly);
        }
        // At the end, but reusing the answer's id.
        let mut reused =
            handler.event(ProblemAction::Progress { note: "继续办理".into(), photos: vec![] }, heads(&events));
        reused.id = last.id.clone();
        let change = change_at(&snapshot, &handler.actor, events.len(), &[event_json(&reused).unwrap()], |_, _| {});
        assert_eq!(refused(&handler.push(target, DocKind::Problem, vec![change])), RejectCode::Malformed);
        assert_eq!(record(&w, target), before, "the record is unchanged");
    }
    assert_eq!(record(&w, &w.rejected).0, ProblemStatus::Routed);
    assert_eq!(record(&w, &w.confirmed).1, Some(1));
    assert_eq!(storage.current_seq().unwrap(), seq, "nothing was stored");
}

#[test]
fn a_document_is_created_once() {
    let w = world();
    let mut cadre = RawClient::sign_in(&w.relay.url, "cadre");
    let before = record(&w, &w.rejected);
    let region = w.relay.state.storage.enterprise_region(ENT_A).unwrap().unwrap();
    let report = reported();
    // With the highest actor id its header keys would win every conflict; with any, they would
    // conflict with the real ones and freeze the document.
    for actor in [ActorId::from(vec![0xff; 16]), ActorId::from(vec![0x00; 16])] {
        cadre.actor = actor.clone();
        let header = header("郑州精工机械有限公司", &region);
        let first = cadre.event(report.clone(), vec![]);
        let (_, change) = Document::create(DocKind::Problem, &w.rejected, &header, actor, &first).unwrap();
        let r = cadre.push(&w.rejected, DocKind::Problem, vec![change.raw_bytes().to_vec()]);
        assert_eq!(refused(&r), RejectCode::NotAppendOnly, "{}", r.rejected[0].message);
    }
    assert_eq!(record(&w, &w.rejected), before);
    // The office's own actions still go through.
    w.manager.store.urge_problem(&w.rejected, "请加快").unwrap();
    let report = w.manager.sync();
    assert_eq!(report.rejected, 0, "{report:?}");
    assert_eq!(record(&w, &w.rejected).2.len(), before.2.len() + 1);
}

#[test]
fn a_problem_named_after_another_enterprise_is_refused() {
    let w = world();
    let cadre = RawClient::sign_in(&w.relay.url, "cadre");
    let region = w.relay.state.storage.enterprise_region(ENT_A).unwrap().unwrap();
    let report = reported();
    let id = uuid::Uuid::now_v7().to_string();
    let header = header("某龙头企业", &region);
    let (_, change) =
        Document::create(DocKind::Problem, &id, &header, cadre.actor.clone(), &cadre.event(report, vec![])).unwrap();
    let r = cadre.push(&id, DocKind::Problem, vec![change.raw_bytes().to_vec()]);
    assert_eq!(refused(&r), RejectCode::Malformed, "{}", r.rejected[0].message);
    assert!(w.relay.state.document_bytes(&id).unwrap().is_none());
}

#[test]
fn hidden_ops_fields_and_floods_of_events_are_refused() {
    let w = world();
    let handler = RawClient::sign_in(&w.relay.url, "handler");
    let storage = w.relay.state.storage.as_ref();
    let target = &w.rejected;
    let before = record(&w, target);
    let seq = storage.current_seq().unwrap();
    let snapshot = relay_snapshot(&w.relay, target);
    let (_, _, events) = opened(&snapshot, &handler.actor);
    let n = events.len();
    let honest =
        event_json(&handler.event(ProblemAction::Progress { note: "进展".into(), photos: vec![] }, heads(&events)))
            .unwrap();
    let push = |change: Vec<u8>| handler.push(target, DocKind::Problem, vec![change]);

    // An element inserted and deleted in the same change: nothing to see, but carried to everyone.
    let change = change_at(&snapshot, &handler.actor, n, std::slice::from_ref(&honest), |tx, list| {
        tx.insert(list, n + 1, "隐藏内容").unwrap();
        tx.delete(list, n + 1).unwrap();
    });
    assert_eq!(refused(&push(change)), RejectCode::NotAppendOnly);
    // An op on another object, made in the same change.
    let change = change_at(&snapshot, &handler.actor, n, std::slice::from_ref(&honest), |tx, _| {
        let hidden = tx.put_object(ROOT, "notes", ObjType::Map).unwrap();
        tx.put(&hidden, "x", "隐藏内容").unwrap();
    });
    assert_eq!(refused(&push(change)), RejectCode::NotAppendOnly);
    // An event carrying a field no version writes.
    let mut value: serde_json::Value = serde_json::from_str(&honest).unwrap();
    value["payload"] = "隐藏内容".into();
    let change = change_at(&snapshot, &handler.actor, n, &[value.to_string()], |_, _| {});
    assert_eq!(refused(&push(change)), RejectCode::Malformed);
    // A commit message riding along.
    let (mut doc, list, _) = opened(&snapshot, &handler.actor);
    doc.transact_with(
        |_| CommitOptions::default().with_message("隐藏内容".to_owned()),
        |tx| tx.insert(&list, n, honest.as_str()),
    )
    .unwrap();
    assert_eq!(refused(&push(doc.get_last_local_change().unwrap().raw_bytes().to_vec())), RejectCode::NotAppendOnly);
    // More events in one change than any app writes.
    let mut chain = Vec::new();
    let mut seen = heads(&events);
    for i in 0..17 {
        let e = handler.event(ProblemAction::Progress { note: format!("第{i}条"), photos: vec![] }, seen.clone());
        seen = vec![e.id.clone()];
        chain.push(event_json(&e).unwrap());
    }
    assert_eq!(refused(&push(change_at(&snapshot, &handler.actor, n, &chain, |_, _| {}))), RejectCode::NotAppendOnly);
    // Sixteen are fine.
    let r = push(change_at(&snapshot, &handler.actor, n, &chain[..16], |_, _| {}));
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    assert_eq!(record(&w, target).2.len(), before.2.len() + 16);
    assert_eq!(storage.current_seq().unwrap(), seq + 1);
}

#[test]
fn a_change_whose_op_ids_name_another_actor_is_refused_without_a_panic() {
    let w = world();
    let handler = RawClient::sign_in(&w.relay.url, "handler");
    let target = &w.rejected;
    let before = record(&w, target);
    let snapshot = relay_snapshot(&w.relay, target);
    let change = handler.append(&snapshot, ProblemAction::Progress { note: "进展".into(), photos: vec![] });
    let expanded = automerge::Change::from_bytes(change).unwrap().decode();
    let mut json = serde_json::to_value(&expanded).unwrap();
    // The list's creator (and the element inserted after) replaced by an actor the document never saw.
    let stranger = ActorId::random().to_hex_string();
    for op in json["ops"].as_array_mut().unwrap() {
        for key in ["obj", "elemId"] {
            if let Some(id) = op[key].as_str().filter(|s| s.contains('@')) {
                let counter = id.split('@').next().unwrap().to_owned();
                op[key] = format!("{counter}@{stranger}").into();
            }
        }
    }
    let forged: automerge::ExpandedChange = serde_json::from_value(json).unwrap();
    let bytes = automerge::Change::from(forged).raw_bytes().to_vec();
    let r = handler.push(target, DocKind::Problem, vec![bytes]);
    // Refused before Automerge applies it (which would look the stranger up, and panic).
    assert_eq!(refused(&r), RejectCode::Malformed, "{}", r.rejected[0].message);
    assert!(r.rejected[0].message.contains("wrote nothing in the document"), "{}", r.rejected[0].message);
    assert_eq!(record(&w, target), before);
    // The relay goes on serving the same document.
    let r = handler.push(
        target,
        DocKind::Problem,
        vec![handler.append(&snapshot, ProblemAction::Progress { note: "真实进展".into(), photos: vec![] })],
    );
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
}

#[test]
fn events_dated_after_their_arrival_or_before_what_their_author_saw_are_refused() {
    let w = world();
    let handler = RawClient::sign_in(&w.relay.url, "handler");
    let manager = RawClient::sign_in(&w.relay.url, "manager");
    let storage = w.relay.state.storage.as_ref();
    let target = &w.rejected;
    let before = record(&w, target);
    let seq = storage.current_seq().unwrap();
    let snapshot = relay_snapshot(&w.relay, target);
    let (_, _, events) = opened(&snapshot, &handler.actor);
    let dated = |client: &RawClient, at: i64| {
        let mut e = client.event(ProblemAction::Progress { note: "进展".into(), photos: vec![] }, heads(&events));
        e.at = at;
        change_at(&snapshot, &client.actor, events.len(), &[event_json(&e).unwrap()], |_, _| {})
    };
    let now = zhuqi_server::now_ms();
    // An hour ahead of the relay's clock.
    let r = handler.push(target, DocKind::Problem, vec![dated(&handler, now + 3_600_000)]);
    assert_eq!(refused(&r), RejectCode::InvalidAction, "{}", r.rejected[0].message);
    // Before the rejection its author had seen (a year back, to look resolved on time).
    let r = handler.push(target, DocKind::Problem, vec![dated(&handler, now - 365 * DAY)]);
    assert_eq!(refused(&r), RejectCode::InvalidAction, "{}", r.rejected[0].message);
    assert_eq!(record(&w, target), before);
    assert_eq!(storage.current_seq().unwrap(), seq);

    // A report a cadre's phone dates three days back is fine (it was offline); an office that saw it
    // cannot date its own action before the relay received the report.
    let cadre = RawClient::sign_in(&w.relay.url, "cadre");
    let region = storage.enterprise_region(ENT_A).unwrap().unwrap();
    let report = reported();
    let mut first = cadre.event(report, vec![]);
    first.at = now - 3 * DAY;
    let id = uuid::Uuid::now_v7().to_string();
    let header = header("郑州精工机械有限公司", &region);
    let (doc, change) = Document::create(DocKind::Problem, &id, &header, cadre.actor.clone(), &first).unwrap();
    let r = cadre.push(&id, DocKind::Problem, vec![change.raw_bytes().to_vec()]);
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    let mut doc = doc;
    doc.set_actor(manager.actor.clone());
    let mut accepted = manager.event(ProblemAction::Accepted { note: String::new() }, vec![first.id.clone()]);
    accepted.at = now - 2 * DAY;
    let r = manager.push(&id, DocKind::Problem, vec![doc.append(&accepted).unwrap().raw_bytes().to_vec()]);
    assert_eq!(refused(&r), RejectCode::InvalidAction, "{}", r.rejected[0].message);
}

#[test]
fn an_event_id_used_in_another_document_keeps_its_own_arrival() {
    let w = world();
    let handler = RawClient::sign_in(&w.relay.url, "handler");
    let storage = w.relay.state.storage.as_ref();
    let old = Document::load(&relay_snapshot(&w.relay, &w.confirmed)).unwrap().events::<ProblemAction>();
    let borrowed = old[0].id.clone();
    let original = storage.receipts(&[w.confirmed.clone()], std::slice::from_ref(&borrowed)).unwrap();
    assert_eq!(original.len(), 1);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let snapshot = relay_snapshot(&w.relay, &w.rejected);
    let (_, _, events) = opened(&snapshot, &handler.actor);
    let mut e = handler.event(ProblemAction::Progress { note: "进展".into(), photos: vec![] }, heads(&events));
    e.id = borrowed.clone();
    let change = change_at(&snapshot, &handler.actor, events.len(), &[event_json(&e).unwrap()], |_, _| {});
    let r = handler.push(&w.rejected, DocKind::Problem, vec![change]);
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    let mine = storage.receipts(&[w.rejected.clone()], std::slice::from_ref(&borrowed)).unwrap();
    assert_eq!(mine.len(), 1);
    assert!(mine[0].2 > original[0].2, "its own arrival, not the other document's: {mine:?} vs {original:?}");
}

#[test]
fn a_request_of_millions_of_empty_changes_is_refused_while_decoding() {
    let w = world();
    let cadre = RawClient::sign_in(&w.relay.url, "cadre");
    let request = SyncRequest {
        protocol: PROTOCOL_VERSION,
        cursor: 0,
        directory_version: 0,
        actor: cadre.actor.to_bytes().to_vec(),
        push: vec![DocChanges { doc: w.rejected.clone(), kind: DocKind::Problem, changes: vec![Vec::new(); 2 << 20] }],
        max_bytes: None,
    };
    let body = encode_body(&request);
    assert!(body.len() < 64 << 10, "a small body: {}", body.len());
    let (status, answer) = cadre.post(body, &[("content-encoding", "gzip"), (PROTOCOL_HEADER, "1")]);
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&answer));
}

fn encode_body<T: serde::Serialize>(msg: &T) -> Vec<u8> {
    zhuqi_core::sync::protocol::encode(msg)
}

#[test]
fn a_change_whose_checksum_lies_or_that_is_not_a_change_chunk_is_refused() {
    let w = world();
    let handler = RawClient::sign_in(&w.relay.url, "handler");
    let target = &w.rejected;
    let before = record(&w, target);
    let snapshot = relay_snapshot(&w.relay, target);
    let mut change = handler.append(&snapshot, ProblemAction::Progress { note: "进展".into(), photos: vec![] });
    // One bit of the content flipped: devices would refuse to load it, so the relay must too.
    let last = change.len() - 1;
    change[last] ^= 1;
    assert_eq!(refused(&handler.push(target, DocKind::Problem, vec![change])), RejectCode::Malformed);
    // A saved document pushed as a change.
    assert_eq!(refused(&handler.push(target, DocKind::Problem, vec![snapshot.clone()])), RejectCode::Malformed);
    assert_eq!(record(&w, target), before);
}

#[test]
fn a_change_with_an_inflated_op_counter_is_refused() {
    let w = world();
    let handler = RawClient::sign_in(&w.relay.url, "handler");
    let target = &w.rejected;
    let before = record(&w, target);
    let snapshot = relay_snapshot(&w.relay, target);
    let change = handler.append(&snapshot, ProblemAction::Progress { note: "进展".into(), photos: vec![] });
    // A counter far above its history would sort its insert ahead of concurrent ones.
    let mut json = serde_json::to_value(automerge::Change::from_bytes(change).unwrap().decode()).unwrap();
    json["startOp"] = (json["startOp"].as_u64().unwrap() + 1_000).into();
    let forged: automerge::ExpandedChange = serde_json::from_value(json).unwrap();
    let bytes = automerge::Change::from(forged).raw_bytes().to_vec();
    let r = handler.push(target, DocKind::Problem, vec![bytes]);
    assert_eq!(refused(&r), RejectCode::NotAppendOnly, "{}", r.rejected[0].message);
    assert!(r.rejected[0].message.contains("op counter"), "{}", r.rejected[0].message);
    assert_eq!(record(&w, target), before);
}

#[test]
fn a_change_dated_2_pow_63_seconds_from_the_others_is_refused_without_a_panic() {
    let w = world();
    let handler = RawClient::sign_in(&w.relay.url, "handler");
    let target = &w.rejected;
    let before = record(&w, target);
    let snapshot = relay_snapshot(&w.relay, target);
    // A change's own time (seconds), set to the far ends of an i64: Automerge's delta-encoded column
    // of change times overflowed as it applied it. Every event inside is honest.
    for time in [i64::MIN + 1, i64::MAX] {
        let change = handler.append(&snapshot, ProblemAction::Progress { note: "进展".into(), photos: vec![] });
        let mut expanded = automerge::Change::from_bytes(change).unwrap().decode();
        expanded.time = time;
        let r = handler.push(target, DocKind::Problem, vec![automerge::Change::from(expanded).raw_bytes().to_vec()]);
        assert_eq!(refused(&r), RejectCode::Malformed, "{}", r.rejected[0].message);
        assert_eq!(r.rejected[0].message, "change time out of range");
        assert_eq!(record(&w, target), before);
    }
    let honest = handler.append(&snapshot, ProblemAction::Progress { note: "真实进展".into(), photos: vec![] });
    assert!(handler.push(target, DocKind::Problem, vec![honest]).rejected.is_empty());
}

fn progress(n: usize) -> Vec<ProblemAction> {
    (0..n).map(|i| ProblemAction::Progress { note: format!("办理进展{i}"), photos: vec![] }).collect()
}

#[test]
fn a_document_takes_at_most_2000_events_and_a_change_may_miss_at_most_256() {
    let w = world();
    let mut handler = RawClient::sign_in(&w.relay.url, "handler");
    let storage = w.relay.state.storage.as_ref();
    let mut held = HeldDoc::open(&w.relay, &w.rejected, &handler);
    // Filled to 1,984 events by one push of changes of up to 16 events, each after the one before.
    let first = (1984 - held.len()) % 16;
    let mut changes: Vec<Vec<u8>> =
        (first > 0).then(|| held.change(&handler, progress(first), 0, true)).into_iter().collect();
    changes.extend((0..(1984 - held.len()) / 16).map(|_| held.change(&handler, progress(16), 0, true)));
    let n = changes.len();
    let r = handler.push(&w.rejected, DocKind::Problem, changes);
    assert_eq!((r.acked.len(), r.rejected.len()), (n, 0), "{:?}", r.rejected.first().map(|x| &x.message));
    assert_eq!(held.len(), 1984);
    let seq = storage.current_seq().unwrap();
    // Written 272 events back: refused; 256 back: accepted (the change is concurrent with them).
    handler.bind_new_actor();
    let missed_too_many = held.change(&handler, progress(16), 17, false);
    let r = handler.push(&w.rejected, DocKind::Problem, vec![missed_too_many]);
    assert_eq!(refused(&r), RejectCode::Malformed);
    assert!(r.rejected[0].message.contains("272"), "{}", r.rejected[0].message);
    assert_eq!(storage.current_seq().unwrap(), seq, "nothing was stored");
    let missed_256 = held.change(&handler, progress(8), 16, true);
    let r = handler.push(&w.rejected, DocKind::Problem, vec![missed_256]);
    assert_eq!((r.acked.len(), r.rejected.len()), (1, 0), "{:?}", r.rejected.first().map(|x| &x.message));
    // 1,992 events: 9 more would be 2,001, 8 fill the document, and then it takes no more.
    let seq = storage.current_seq().unwrap();
    let over = held.change(&handler, progress(9), 0, false);
    let r = handler.push(&w.rejected, DocKind::Problem, vec![over]);
    assert_eq!(refused(&r), RejectCode::Malformed);
    assert!(r.rejected[0].message.contains("2000"), "{}", r.rejected[0].message);
    assert_eq!(storage.current_seq().unwrap(), seq, "nothing was stored");
    let last = held.change(&handler, progress(8), 0, true);
    assert_eq!(handler.push(&w.rejected, DocKind::Problem, vec![last]).acked.len(), 1);
    assert_eq!(Document::load(&relay_snapshot(&w.relay, &w.rejected)).unwrap().raw_events().len(), 2000);
    let one_more = held.change(&handler, progress(1), 0, false);
    assert_eq!(refused(&handler.push(&w.rejected, DocKind::Problem, vec![one_more])), RejectCode::Malformed);
    // The manager's phone still reads the whole problem.
    let (status, _, events) = record(&w, &w.rejected);
    assert_eq!((status, events.len()), (ProblemStatus::Routed, 2000));
}

#[test]
fn changes_beyond_a_pushs_validation_budget_wait_for_the_next_push() {
    let tmp = tempfile::tempdir().unwrap();
    let config = zhuqi_server::Config { push_budget: 3_000, ..Default::default() };
    let relay = Relay::start_configured(&tmp.path().join("relay"), config, Default::default());
    seed_directory(relay.state.storage.as_ref());
    seed_enterprises(&relay.url, tmp.path());
    let ids: Vec<String> = (0..3).map(|i| format!("problem-{i}")).collect();
    let now = zhuqi_server::now_ms();
    let mut a = zhuqi_server::sync::author::Author::new(&relay.state, "cadre").unwrap();
    for id in &ids {
        a.create(DocKind::Problem, id, &header("郑州精工机械有限公司", COUNTY), reported(), now - DAY).unwrap();
    }
    a.submit_all().unwrap();
    let mut a = zhuqi_server::sync::author::Author::new(&relay.state, "manager").unwrap();
    for id in &ids {
        let routed = ProblemAction::Routed {
            department_id: FINANCE.into(),
            level: 1,
            deadline: now + 9 * DAY,
            note: String::new(),
        };
        a.append(id, routed, now - DAY + 1).unwrap();
    }
    a.submit_all().unwrap();
    let mut handler = RawClient::sign_in(&relay.url, "handler");
    let mut held: Vec<HeldDoc> = ids.iter().map(|id| HeldDoc::open(&relay, id, &handler)).collect();
    for h in &mut held {
        let changes: Vec<Vec<u8>> = (0..62).map(|_| h.change(&handler, progress(16), 0, true)).collect();
        assert_eq!(handler.push(&h.id.clone(), DocKind::Problem, changes).acked.len(), 62);
        assert_eq!(h.len(), 994);
    }
    // Each document costs its 994 events and 32 for the change: two fit in 3,000, the third waits.
    let changes: Vec<Vec<u8>> = held.iter_mut().map(|h| h.change(&handler, progress(1), 0, true)).collect();
    let docs = |picked: &[usize]| -> Vec<DocChanges> {
        picked
            .iter()
            .map(|&i| DocChanges { doc: ids[i].clone(), kind: DocKind::Problem, changes: vec![changes[i].clone()] })
            .collect()
    };
    let hash = |bytes: &Vec<u8>| automerge::Change::from_bytes(bytes.clone()).unwrap().hash().as_ref().to_vec();
    let r = handler.push_docs(docs(&[0, 1, 2]));
    assert_eq!(r.rejected.len(), 0);
    assert_eq!(r.acked, vec![hash(&changes[0]), hash(&changes[1])]);
    let r = handler.push_docs(docs(&[2]));
    assert_eq!((r.acked.len(), r.rejected.len()), (1, 0), "pushed again, the third is judged");
    // Within one document: changes written at the same state do not follow one another, so each
    // reads the log afresh (about 1,030 readings): the third waits, then goes through on its own.
    let concurrent: Vec<Vec<u8>> = (0..3)
        .map(|_| {
            handler.bind_new_actor();
            held[0].change(&handler, progress(1), 0, false)
        })
        .collect();
    let r = handler.push_docs(vec![DocChanges {
        doc: ids[0].clone(),
        kind: DocKind::Problem,
        changes: concurrent.clone(),
    }]);
    assert_eq!((r.acked.len(), r.rejected.len()), (2, 0), "{:?}", r.rejected.first().map(|x| &x.message));
    let r = handler.push_docs(vec![DocChanges {
        doc: ids[0].clone(),
        kind: DocKind::Problem,
        changes: concurrent.clone(),
    }]);
    assert_eq!(r.acked.len(), 3, "the two stored are acknowledged again with the third");
    // Changes that follow one another cost 32 each, not the log: 50 of them in one push.
    let chain: Vec<Vec<u8>> = (0..50).map(|_| held[1].change(&handler, progress(1), 0, true)).collect();
    let r = handler.push_docs(vec![DocChanges { doc: ids[1].clone(), kind: DocKind::Problem, changes: chain }]);
    assert_eq!((r.acked.len(), r.rejected.len()), (50, 0));
    // A phone with more to push than one push's budget sends the rest again in the same sync.
    let cadre = Device::sign_in(&relay.url, tmp.path(), "cadre");
    cadre.sync();
    for i in 0..120 {
        let visit = zhuqi_core::store::NewVisit {
            date: zhuqi_core::domain::text::date_of(zhuqi_server::now_ms()),
            people_met: vec!["刘总".into()],
            notes: format!("第{i}次走访"),
            policies: vec![],
            policy_ids: vec![],
            location: None,
            photos: vec![],
        };
        cadre.store.record_visit(ENT_A, visit).unwrap();
    }
    let r = cadre.sync();
    assert_eq!((r.pushed, r.rejected), (120, 0), "{r:?}");
    assert!(r.round_trips >= 2, "{r:?}");
    assert!(cadre.store.pending_changes().unwrap().is_empty());
}

#[test]
fn a_problem_is_merged_only_into_another_of_its_enterprise() {
    let w = world();
    let manager = RawClient::sign_in(&w.relay.url, "manager");
    let storage = w.relay.state.storage.as_ref();
    // A problem of enterprise B, in the other county.
    let other = "problem-of-b";
    let mut a = zhuqi_server::sync::author::Author::new(&w.relay.state, "cadre-b").unwrap();
    let report = ProblemAction::Reported {
        enterprise_id: ENT_B.into(),
        category: Category::Labour,
        title: "招工难".into(),
        description: "缺技术工人".into(),
        visit_id: None,
        photos: vec![],
    };
    let header = [("enterprise_id", ENT_B), ("enterprise_name", "二七纺织有限公司"), ("region_id", OTHER_COUNTY)];
    a.create(DocKind::Problem, other, &header, report, zhuqi_server::now_ms() - DAY).unwrap();
    a.submit_all().unwrap();
    let before = record(&w, &w.rejected);
    let seq = storage.current_seq().unwrap();
    for into in [other, w.rejected.as_str(), "no-such-problem"] {
        let merged = ProblemAction::Merged { into: into.into(), reason: "重复".into() };
        let change = manager.append(&relay_snapshot(&w.relay, &w.rejected), merged);
        let r = manager.push(&w.rejected, DocKind::Problem, vec![change]);
        assert_eq!(refused(&r), RejectCode::InvalidAction, "into {into}: {}", r.rejected[0].message);
    }
    assert_eq!(storage.current_seq().unwrap(), seq, "nothing was stored");
    assert_eq!(record(&w, &w.rejected), before);
    // Into another problem of enterprise A: the duplicate leaves every figure.
    let merged = ProblemAction::Merged { into: w.confirmed.clone(), reason: "重复".into() };
    let change = manager.append(&relay_snapshot(&w.relay, &w.rejected), merged);
    assert_eq!(manager.push(&w.rejected, DocKind::Problem, vec![change]).acked.len(), 1);
    assert_eq!(record(&w, &w.rejected).0, ProblemStatus::Merged);
}
