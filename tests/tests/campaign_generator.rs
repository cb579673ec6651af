//! The generated campaign (`zhuqi_tests::campaign`) holds what it claims, read back from the relay's
//! storage: problems in every state of their lifecycle (reported, accepted, routed, escalated,
//! resolved, confirmed, closed — by the enterprise, on a call-back, unanswered —, withdrawn,
//! reopened, overdue), resolutions entered late, exactly the visits asked for, every cadre's
//! enterprises in the cadre's own county, task notices done on time and late; and every document
//! passes the relay's own validation, change by change, as its authors' devices would have pushed it.

use std::collections::{BTreeMap, HashMap, HashSet};
use zhuqi_core::document::Document;
use zhuqi_core::domain::directory::path_covers;
use zhuqi_core::domain::event::{OFFLINE_WINDOW_MS, fold};
use zhuqi_core::domain::{DirectoryLookup, ProblemAction, ProblemState, Role};
use zhuqi_tests::Relay;
use zhuqi_tests::campaign::{self, CampaignShape};

#[test]
fn a_small_campaign_holds_what_the_generator_claims() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    let shape = CampaignShape::small();
    let hash = zhuqi_server::auth::hash_password(zhuqi_tests::PASSWORD);
    let c = campaign::generate(&relay.state, &shape, &hash);
    let storage = relay.state.storage.as_ref();
    let dir = relay.state.directory.get(storage).unwrap();
    let n = &c.counts;

    // Problems: every one stored, by status as claimed, each state of the lifecycle present.
    let rows = storage.problem_rows().unwrap();
    assert_eq!((rows.len(), n.problems), (shape.problems, shape.problems));
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for r in &rows {
        *by_status.entry(r.status.clone()).or_default() += 1;
    }
    assert_eq!(by_status, n.by_status);
    for status in ["reported", "accepted", "routed", "resolved", "confirmed", "closed", "withdrawn"] {
        assert!(by_status.get(status).is_some_and(|&k| k > 0), "no {status} problem: {by_status:?}");
    }
    let escalated = rows.iter().filter(|r| r.level > 1).count();
    assert_eq!(escalated, n.above_level_one);
    assert!(rows.iter().any(|r| r.level == 5), "a problem reached the province's platform");
    assert!(rows.iter().any(|r| r.urge_count > 0), "a problem was urged");

    // Who accepted the resolutions: the enterprise, a call-back (代确认), nobody in time (超时未确认).
    let facts = storage.problem_facts().unwrap();
    let mut by_confirmation: BTreeMap<String, usize> = BTreeMap::new();
    for f in &facts {
        if let Some(by) = &f.confirmation {
            *by_confirmation.entry(by.clone()).or_default() += 1;
        }
    }
    assert_eq!(by_confirmation, n.by_confirmation);
    for by in ["enterprise", "call_back", "unanswered"] {
        assert!(by_confirmation.get(by).is_some_and(|&k| k > 0), "none accepted by {by}: {by_confirmation:?}");
    }
    assert!(
        facts.iter().filter(|f| f.confirmation.as_deref() == Some("unanswered")).all(|f| f.status == "closed"),
        "an unanswered resolution is closed"
    );
    // Resolutions entered late, as the figures see them.
    let late = |f: &&zhuqi_server::storage::ProblemFact| {
        f.resolution_received_at.zip(f.resolved_at).is_some_and(|(r, at)| r - at > OFFLINE_WINDOW_MS)
    };
    assert!(facts.iter().any(|f| late(&f)), "a resolution was entered late");

    // The documents themselves: reopened, followed up, rejected; resolution events entered late;
    // overdue at the generator's `now`.
    let (mut reopened, mut followed_up, mut rejected, mut late_resolutions, mut overdue, mut events) =
        (0, 0, 0, 0, 0, 0);
    for id in &c.problems {
        let (stored, _) = storage.load_doc_with_changes(id).unwrap().expect("problem stored");
        let doc = Document::load(&stored.snapshot).unwrap();
        let log: Vec<zhuqi_core::domain::Event<ProblemAction>> = doc.events();
        let ids: Vec<String> = log.iter().map(|e| e.id.clone()).collect();
        let received: HashMap<String, i64> =
            storage.receipts(std::slice::from_ref(id), &ids).unwrap().into_iter().map(|(_, e, at)| (e, at)).collect();
        assert_eq!(received.len(), log.len(), "every event of {id} has its receipt");
        late_resolutions += log
            .iter()
            .filter(|e| {
                matches!(e.action, ProblemAction::Resolved { .. }) && received[&e.id] - e.at > OFFLINE_WINDOW_MS
            })
            .count();
        rejected += usize::from(log.iter().any(|e| matches!(e.action, ProblemAction::Rejected { .. })));
        events += log.len();
        let (state, folded) = fold::<ProblemState>(log);
        assert!(folded.iter().all(|f| f.outcome == zhuqi_core::domain::Outcome::Applied), "{id}: {folded:?}");
        reopened += usize::from(state.reopen_count > 0);
        followed_up += usize::from(state.follow_up_count > 0);
        overdue += usize::from(campaign::overdue(&state, c.now));
    }
    assert_eq!(
        (reopened, followed_up, rejected, late_resolutions, overdue, events),
        (n.reopened, n.followed_up, n.rejected, n.late_resolutions, n.overdue, n.problem_events)
    );
    assert!(reopened > 0 && followed_up > 0 && rejected > 0 && overdue > 0);
    assert!(late_resolutions > 0);
    assert!(n.reported_by_enterprise > 0 && n.reported_by_enterprise < n.problems);

    // Visits: exactly as many as asked.
    let visits = storage.visit_facts().unwrap();
    assert_eq!((visits.len(), n.visits), (shape.visits, shape.visits));

    // Every cadre has enterprises, all of their own county, and a department of that county.
    let regions: HashMap<String, String> =
        storage.enterprise_rows().unwrap().into_iter().map(|(id, _, region)| (id, region)).collect();
    assert_eq!(regions.len(), shape.enterprises);
    let mut per_cadre: HashMap<String, usize> = HashMap::new();
    let assignments = storage.assignments().unwrap();
    assert_eq!(assignments.len(), n.assignments);
    for (enterprise, cadre, _) in &assignments {
        let user = dir.users.get(cadre).expect("the cadre's account");
        assert_eq!(user.role, Role::Cadre);
        let county = dir.region_path(user.region_id.as_deref().unwrap()).unwrap();
        let at = dir.region_path(&regions[enterprise]).unwrap();
        assert!(path_covers(&county, &at), "{cadre} of {county} assigned to {enterprise} at {at}");
        *per_cadre.entry(cadre.clone()).or_default() += 1;
    }
    assert_eq!(per_cadre.len(), shape.cadres, "every cadre has enterprises");
    for id in &c.cadres {
        let user = &dir.users[id];
        let dept = dir.departments.get(user.department_id.as_deref().expect("a cadre's department")).unwrap();
        assert_eq!(Some(&dept.region_id), user.region_id.as_ref(), "{id}'s department is of their county");
    }
    let busiest = per_cadre.values().max().unwrap();
    assert_eq!(per_cadre[&c.busy_cadre], *busiest);

    // Task notices: recipients acknowledged and completed them, some on time and some late.
    let notices = storage.task_notice_rows().unwrap();
    assert_eq!(notices.len(), shape.notices);
    let (mut acknowledged, mut on_time, mut late_done) = (0, 0, 0);
    for (id, _, _, _, _, deadline, _) in &notices {
        for (_, ack, done) in storage.task_recipient_rows(id).unwrap() {
            acknowledged += usize::from(ack.is_some());
            match done {
                Some(d) if d > *deadline => late_done += 1,
                Some(_) => on_time += 1,
                None => {}
            }
        }
    }
    assert_eq!((acknowledged, on_time + late_done, late_done), (n.acknowledged, n.completed, n.completed_late));
    assert!(on_time > 0 && late_done > 0, "notices done on time ({on_time}) and late ({late_done})");

    // The offices named for benchmarks exist and manage what they should.
    for office in [&c.province_office, &c.city_office, &c.county_office] {
        assert_eq!(dir.users[office].role, Role::Manager);
    }
    assert_eq!(dir.users[&c.county_office].region_id.as_deref(), Some(c.county.as_str()));
    assert!(c.problems.contains(&c.problem));

    // Every document as the relay's validation would judge it, change by change.
    let mut judged = 0;
    let ids: HashSet<&String> = c.enterprises.iter().chain(&c.problems).chain(&c.notices).collect();
    for id in ids {
        judged += campaign::revalidate(&relay.state, id).unwrap_or_else(|e| panic!("{id}: {e}"));
    }
    assert_eq!(judged, n.changes);
    assert_eq!(storage.document_count().unwrap() as usize, n.documents);
}
