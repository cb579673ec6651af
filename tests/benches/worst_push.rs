//! The worst pushes the relay's limits allow, timed through the real relay on loopback, and what
//! they cost honest phones syncing meanwhile. Each hostile push ends in a refused event, so it pays
//! the whole validation, stores nothing and can be sent again and again:
//! - long: one problem, as many single-event changes as one push judges (each after the one before);
//! - wide: one 16-event change to each of 64 problems holding 1,970 events, every change written
//!   at the state 256 events back (the most a change may not have seen), so none can be judged on
//!   the state the change before left.
//!
//! Then the wide push back to back for 10 s while 8 honest devices record visits (each to an
//! enterprise of its own) and sync.
//!
//! Run: `cargo bench -p zhuqi-tests --bench worst_push`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};
use zhuqi_core::domain::*;
use zhuqi_core::store::NewVisit;
use zhuqi_core::sync::protocol::*;
use zhuqi_server::sync::VALIDATION_BUDGET;
use zhuqi_server::sync::author::Author;
use zhuqi_server::sync::shape::MAX_EVENTS_PER_DOCUMENT;
use zhuqi_server::sync::validate::CHANGE_COST;
use zhuqi_tests::*;

/// Problems filled to the brim for the wide push.
const WIDE: usize = 64;
const PER_CHANGE: usize = 16;
const UNSEEN: usize = 256;
const HONEST: usize = 8;

fn progress(n: usize) -> Vec<ProblemAction> {
    (0..n).map(|i| ProblemAction::Progress { note: format!("办理进展{i}"), photos: vec![] }).collect()
}

/// An action the handler may not take: the push is refused once it reaches it.
fn forbidden() -> ProblemAction {
    ProblemAction::Confirmed { rating: 5, comment: String::new() }
}

fn push(raw: &RawClient, docs: Vec<DocChanges>) -> (SyncResponse, f64) {
    let t = Instant::now();
    let r = raw.push_docs(docs);
    (r, t.elapsed().as_secs_f64() * 1e3)
}

fn doc(id: &str, changes: Vec<Vec<u8>>) -> DocChanges {
    DocChanges { doc: id.into(), kind: DocKind::Problem, changes }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    seed_directory(relay.state.storage.as_ref());
    seed_enterprises(&relay.url, tmp.path());
    // Problems of enterprise A routed to the finance department, recorded by the relay itself.
    let now = zhuqi_server::now_ms();
    let ids: Vec<String> = (0..=WIDE).map(|i| format!("problem-{i:03}")).collect();
    let mut a = Author::new(&relay.state, "cadre").unwrap();
    for id in &ids {
        let header = [("enterprise_id", ENT_A), ("enterprise_name", "郑州精工机械有限公司"), ("region_id", COUNTY)];
        let report = ProblemAction::Reported {
            enterprise_id: ENT_A.into(),
            category: Category::Financing,
            title: "贷款到期".into(),
            description: "续贷需要担保".into(),
            visit_id: None,
            photos: vec![],
        };
        a.create(DocKind::Problem, id, &header, report, now - 2 * DAY).unwrap();
    }
    a.submit_all().unwrap();
    let mut a = Author::new(&relay.state, "manager").unwrap();
    for id in &ids {
        let routed = ProblemAction::Routed {
            department_id: FINANCE.into(),
            level: 1,
            deadline: now + 30 * DAY,
            note: String::new(),
        };
        a.append(id, routed, now - DAY).unwrap();
    }
    a.submit_all().unwrap();

    // One enterprise of the cadre's for each honest device (a cadre visits several enterprises; one
    // document written by eight devices at ten visits a second would measure that document).
    let mut a = Author::new(&relay.state, "manager").unwrap();
    let honest_enterprises: Vec<String> = (0..2 * HONEST).map(|i| format!("ent-honest-{i}")).collect();
    for (i, id) in honest_enterprises.iter().enumerate() {
        let profile = Profile {
            name: format!("郑州第{i}机械有限公司"),
            uscc: zhuqi_core::domain::uscc::complete(&format!("91410102MA44XY{i:03}")).unwrap(),
            region_id: COUNTY.into(),
            industry: "装备制造".into(),
            tags: vec![],
            address: "郑州市".into(),
            location: None,
            contacts: vec![],
            scale: Default::default(),
        };
        a.create(DocKind::Enterprise, id, &[], EnterpriseAction::Registered { profile }, now - DAY).unwrap();
        a.append(id, EnterpriseAction::CadreAssigned { cadre_id: "cadre".into(), chief: false }, now - DAY).unwrap();
    }
    a.submit_all().unwrap();

    let raw = RawClient::sign_in(&relay.url, "handler");
    // Fill the wide push's problems: 124 changes of 16 events each, one problem per request.
    let mut held: Vec<HeldDoc> = ids[1..].iter().map(|id| HeldDoc::open(&relay, id, &raw)).collect();
    // Room is left for one more change of 16 events: the report, the routing and 123 changes.
    let n = (MAX_EVENTS_PER_DOCUMENT - PER_CHANGE - 2) / PER_CHANGE;
    let mut fill_ms = Vec::new();
    for h in &mut held {
        let changes: Vec<Vec<u8>> = (0..n).map(|_| h.change(&raw, progress(PER_CHANGE), 0, true)).collect();
        let (r, ms) = push(&raw, vec![doc(&h.id, changes)]);
        assert_eq!((r.acked.len(), r.rejected.len()), (n, 0), "{:?}", r.rejected.first().map(|r| &r.message));
        fill_ms.push(ms);
    }
    fill_ms.sort_by(f64::total_cmp);
    println!(
        "filling: {WIDE} problems to {} events, each by one request of {} 16-event changes: median {:.0} ms, max {:.0} ms",
        held[0].len(),
        held[0].changes_written(),
        pct(&fill_ms, 0.5),
        pct(&fill_ms, 1.0)
    );

    // Long: as many single-event changes to one problem as one push judges, the last one refused.
    let mut long = HeldDoc::open(&relay, &ids[0], &raw);
    let judged = 1 + (VALIDATION_BUDGET - long.len() - CHANGE_COST) / CHANGE_COST;
    let mut changes: Vec<Vec<u8>> = (1..judged).map(|_| long.change(&raw, progress(1), 0, true)).collect();
    changes.push(long.change(&raw, vec![forbidden()], 0, false));
    let mut times = Vec::new();
    for _ in 0..3 {
        let (r, ms) = push(&raw, vec![doc(&ids[0], changes.clone())]);
        let deferred = changes.len() - r.acked.len() - r.rejected.iter().map(|x| x.hashes.len()).sum::<usize>();
        times.push(ms);
        println!(
            "long push ({} changes, {} bytes): {ms:.0} ms; acknowledged {}, refused {}, left for the next sync {deferred}",
            changes.len(),
            changes.iter().map(Vec::len).sum::<usize>(),
            r.acked.len(),
            r.rejected.len()
        );
    }

    // Wide: one change to each full problem, written 256 events back, the last event refused. They
    // come from an actor of their own (the handler's is further on in each problem); being refused,
    // its changes can be written again and again.
    let mut raw = raw;
    raw.bind_new_actor();
    let raw = raw;
    let wide = |held: &mut Vec<HeldDoc>| -> Vec<DocChanges> {
        held.iter_mut()
            .map(|h| {
                let mut actions = progress(PER_CHANGE - 1);
                actions.push(forbidden());
                let id = h.id.clone();
                doc(&id, vec![h.change(&raw, actions, UNSEEN / PER_CHANGE, false)])
            })
            .collect()
    };
    // Refused, the same push can be sent again: it is built once (building it costs the client
    // more than the relay, and the client is not the relay's machine).
    let wide_push = wide(&mut held);
    for _ in 0..3 {
        let docs = wide_push.clone();
        let bytes: usize = docs.iter().flat_map(|d| &d.changes).map(Vec::len).sum();
        let (r, ms) = push(&raw, docs);
        println!(
            "wide push ({WIDE} documents of {} events, one 16-event change each, {UNSEEN} events unseen, {bytes} bytes): {ms:.0} ms; refused {}, left for the next sync {}",
            held[0].len(),
            r.rejected.len(),
            WIDE - r.rejected.len()
        );
    }

    // Honest devices recording visits and syncing, alone and then while the wide push is sent back
    // to back. Two kinds, each in a run of its own: phones (the core's store and sync client: each
    // sync also writes the phone's own SQLite file and pulls), and light clients that push a visit
    // built by hand and time the relay's answer alone. Both run in this process, on the same two
    // cores as the relay and the attacker: the phones' figures include their own work.
    let honest = |phones: bool, hostile: bool| {
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..HONEST)
            .map(|i| {
                let ent = honest_enterprises[if phones { HONEST + i } else { i }].clone();
                let stop = stop.clone();
                // `sync` records a visit and syncs it; it returns how long the sync took (ms).
                let timed = |sync: Box<dyn FnMut() -> f64 + Send>| {
                    let mut sync = sync;
                    std::thread::spawn(move || {
                        let mut times = Vec::new();
                        while !stop.load(Relaxed) {
                            times.push(sync());
                            std::thread::sleep(Duration::from_millis(100));
                        }
                        times
                    })
                };
                if phones {
                    let d = Device::sign_in(&relay.url, tmp.path(), "cadre");
                    d.sync();
                    timed(Box::new(move || {
                        d.store.record_visit(&ent, new_visit()).unwrap();
                        let t = Instant::now();
                        assert_eq!(d.sync().rejected, 0);
                        t.elapsed().as_secs_f64() * 1e3
                    }))
                } else {
                    let raw = RawClient::sign_in(&relay.url, "cadre");
                    let mut held = HeldDoc::open(&relay, &ent, &raw);
                    timed(Box::new(move || {
                        let change = held.change(&raw, vec![visit_recorded("走访")], 0, true);
                        let docs =
                            vec![DocChanges { doc: ent.clone(), kind: DocKind::Enterprise, changes: vec![change] }];
                        let (r, ms) = push(&raw, docs);
                        assert_eq!(r.acked.len(), 1, "{:?}", r.rejected.first().map(|r| (r.code, &r.message)));
                        ms
                    }))
                }
            })
            .collect();
        let begun = Instant::now();
        let mut pushes = Vec::new();
        while begun.elapsed() < Duration::from_secs(10) {
            if hostile {
                pushes.push(push(&raw, wide_push.clone()).1);
            } else {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        stop.store(true, Relaxed);
        let mut times: Vec<f64> = threads.into_iter().flat_map(|p| p.join().unwrap()).collect();
        times.sort_by(f64::total_cmp);
        pushes.sort_by(f64::total_cmp);
        let during = if hostile {
            format!(
                "under the wide push back to back ({} pushes, median {:.0} ms, max {:.0} ms)",
                pushes.len(),
                pct(&pushes, 0.5),
                pct(&pushes, 1.0)
            )
        } else {
            "alone".to_owned()
        };
        let who = if phones { "phones' syncs with a visit" } else { "light clients' visit pushes" };
        println!(
            "{during}: {HONEST} {who}: {} syncs, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            times.len(),
            pct(&times, 0.5),
            pct(&times, 0.99),
            pct(&times, 1.0)
        );
    };
    // Light clients alone twice: two quiet runs show how far apart the same figure falls.
    honest(false, false);
    for phones in [false, true] {
        honest(phones, false);
        honest(phones, true);
    }
}

fn new_visit() -> NewVisit {
    NewVisit {
        date: zhuqi_core::domain::text::date_of(zhuqi_server::now_ms()),
        people_met: vec!["刘总".into()],
        notes: "走访".into(),
        policies: vec![],
        policy_ids: vec![],
        location: None,
        photos: vec![],
    }
}
