//! Property: replicas that apply random valid actions and exchange their changes in random orders and
//! subsets end, once everything has been exchanged, with identical documents, identical derived states
//! and identical index rows.

mod common;

use automerge::Automerge;
use common::*;
use proptest::prelude::*;
use zhuqi_core::Error;
use zhuqi_core::domain::Recipient;
use zhuqi_core::error::DomainError;
use zhuqi_core::store::{NewTaskNotice, ProblemFilter, Store};

#[derive(Debug, Clone)]
enum Op {
    /// Replica `who` tries action `what` on its `target`-th problem (or notice), with parameter `p`.
    Act { who: usize, what: u8, target: usize, p: u8 },
    /// Replica `from` sends the changes selected by `mask` (in an order shuffled by `seed`) to `to`.
    Send { from: usize, to: usize, mask: u64, seed: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4usize, any::<u8>(), 0..2usize, any::<u8>()).prop_map(|(who, what, target, p)| Op::Act { who, what, target, p }),
        3 => (0..4usize, 0..4usize, prop_oneof![Just(u64::MAX), any::<u64>()], any::<u64>()).prop_map(|(from, to, mask, seed)| Op::Send { from, to, mask, seed }),
    ]
}

/// Every individual change held by `from`, for documents it holds.
fn changes_of(from: &Store) -> Vec<(String, zhuqi_core::domain::DocKind, Vec<u8>)> {
    let mut out = Vec::new();
    for (id, kind) in from.document_ids().unwrap() {
        let doc = Automerge::load(&from.save_document(&id).unwrap()).unwrap();
        for c in doc.get_changes(&[]) {
            out.push((id.clone(), kind, c.raw_bytes().to_vec()));
        }
    }
    out
}

fn send(from: &Store, to: &Store, mask: u64, seed: u64) {
    let mut changes: Vec<_> =
        changes_of(from).into_iter().enumerate().filter(|(i, _)| mask & (1 << (i % 64)) != 0).map(|(_, c)| c).collect();
    // A deterministic shuffle from the seed (out-of-order delivery: dependencies may come later).
    let mut s = seed | 1;
    for i in (1..changes.len()).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        changes.swap(i, (s % (i as u64 + 1)) as usize);
    }
    for (id, kind, bytes) in changes {
        to.apply_remote(&id, kind, &[bytes]).unwrap();
    }
}

/// Takes the action; refusals by the rules are expected, storage failures are not.
fn act(w: &World, who: usize, what: u8, target: usize, p: u8) {
    let stores = [&w.manager, &w.cadre, &w.handler, &w.contact];
    let s = stores[who];
    let problems = s.problems(&ProblemFilter::default()).unwrap();
    let mut ids: Vec<String> = problems.into_iter().map(|p| p.id).collect();
    ids.sort();
    let pid = ids.get(target % ids.len().max(1)).cloned().unwrap_or_default();
    let notices = s.task_notices().unwrap();
    let nid = notices.get(target % notices.len().max(1)).map(|n| n.id.clone()).unwrap_or_default();
    let deadline = T0 + i64::from(p % 10 + 1) * DAY;
    let level = p % 5 + 1;
    // Each role draws from the actions it takes, so that lifecycles get far.
    const MANAGER: &[u8] = &[2, 3, 3, 5, 6, 10, 10, 12, 15];
    const CADRE: &[u8] = &[0, 1, 2, 4, 4, 5, 11, 11, 13, 14, 15];
    const HANDLER: &[u8] = &[4, 5, 7, 7, 7, 13, 14];
    const CONTACT: &[u8] = &[1, 8, 8, 8, 8, 9, 9, 9];
    let menu = [MANAGER, CADRE, HANDLER, CONTACT][who];
    let what = menu[usize::from(what) % menu.len()];
    let r: zhuqi_core::Result<()> = match what {
        0 => s.record_visit(&w.enterprise_id, visit("2026-03-01")).map(drop),
        1 => s.report_problem(problem(&w.enterprise_id, None)).map(drop),
        2 => s.accept_problem(&pid, ""),
        3 => s.route_problem(&pid, FINANCE, level, deadline, "交办"),
        4 => s.add_progress(&pid, "进展"),
        5 => s.escalate_problem(&pid, level, "提级", None, None),
        6 => s.urge_problem(&pid, ""),
        7 => s.resolve_problem(&pid, "已办结"),
        8 => s.confirm_resolution(&pid, p % 5 + 1, ""),
        9 => s.reject_resolution(&pid, "未解决"),
        10 => s.close_problem(&pid, ""),
        11 => s.follow_up(&pid, "回头看", p % 2 == 0),
        12 => s
            .issue_task_notice(NewTaskNotice {
                region_id: COUNTY.into(),
                title: "任务".into(),
                body: "内容".into(),
                deadline,
                recipients: vec![Recipient::Department(FINANCE.into()), Recipient::Cadre("cadre-1".into())],
            })
            .map(drop),
        13 => s.acknowledge_task_notice(&nid),
        14 => s.complete_task_notice(&nid, "完成"),
        _ => s.update_enterprise(
            &w.enterprise_id,
            zhuqi_core::domain::ProfileUpdate { address: Some(format!("地址{p}")), ..Default::default() },
        ),
    };
    if let Err(e) = r {
        assert!(
            matches!(
                e,
                Error::Domain(DomainError::Validation { .. })
                    | Error::Domain(DomainError::NotAllowed { .. })
                    | Error::Domain(DomainError::InvalidTransition { .. })
                    | Error::Domain(DomainError::NotFound { .. })
            ),
            "unexpected error {e:?}"
        );
    }
    w.clock.advance(7 * 60_000);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge(ops in prop::collection::vec(op(), 20..150)) {
        let w = World::new();
        let stores = [&w.manager, &w.cadre, &w.handler, &w.contact];
        for op in ops {
            match op {
                Op::Act { who, what, target, p } => act(&w, who, what, target, p),
                Op::Send { from, to, mask, seed } if from != to => send(stores[from], stores[to], mask, seed),
                Op::Send { .. } => {}
            }
        }
        // Everything reaches everybody, in a shuffled order.
        for round in 0..2u64 {
            for a in stores {
                for b in stores {
                    if !std::ptr::eq(a, b) {
                        send(a, b, u64::MAX, round + 7);
                    }
                }
            }
        }
        let ids = w.manager.document_ids().unwrap();
        for s in stores {
            prop_assert_eq!(&s.document_ids().unwrap(), &ids);
            for (id, _) in &ids {
                prop_assert_eq!(s.document_heads(id).unwrap(), w.manager.document_heads(id).unwrap());
            }
            prop_assert_eq!(s.index_rows().unwrap(), w.manager.index_rows().unwrap());
            for p in w.manager.problems(&ProblemFilter::default()).unwrap() {
                let a = s.problem(&p.id).unwrap();
                let b = w.manager.problem(&p.id).unwrap();
                prop_assert_eq!(&a.state, &b.state);
                prop_assert_eq!(&a.timeline, &b.timeline);
            }
            // The derived state does not depend on what was cached: reloading from disk agrees.
            let before = s.index_rows().unwrap();
            s.clear_cache();
            s.compact_all().unwrap();
            prop_assert_eq!(s.index_rows().unwrap(), before);
        }
    }
}
