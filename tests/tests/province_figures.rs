//! The dashboard's figures at province shape, on SQLite and on PostgreSQL: every figure of the
//! overview equals a count worked out here from the documents themselves (folded with the core, with
//! the relay's receipts for entries made late), not from the relay's projections; a closed month's
//! ranking stays as published when data arrives late and shows the correction beside it; the problem
//! list's pages hold each problem exactly once while problems are being reported.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use zhuqi_core::document::Document;
use zhuqi_core::domain::event::{fold, judged_time};
use zhuqi_core::domain::problem::is_overdue;
use zhuqi_core::domain::{EnterpriseAction, EnterpriseState, ProblemAction, ProblemState, ProblemStatus, Role};
use zhuqi_server::AppState;
use zhuqi_server::dashboard::kpi::{Counts, Figures, Period};
use zhuqi_server::storage::{RelayStorage, Session};
use zhuqi_tests::Relay;
use zhuqi_tests::campaign::{self, Campaign, CampaignShape};

const DAY: i64 = 86_400_000;

fn session(state: &AppState, login: &str) -> Session {
    let account = state.storage.account_by_login(login).unwrap().expect(login);
    Session { device_id: "web".into(), user: account.user, revoked: false, expires_at: i64::MAX }
}

/// What the figures need of a problem, folded from its document.
struct Problem {
    region: String,
    state: ProblemState,
    /// When the relay received the resolution in force.
    resolution_received: Option<i64>,
}

/// What the figures need of a visit: the enterprise, its region, and the day it counts on.
struct Visit {
    enterprise: String,
    region: String,
    day: i64,
}

/// Every problem and visit of the campaign, read from the documents the relay holds.
fn from_documents(state: &AppState, c: &Campaign) -> (Vec<Problem>, Vec<Visit>) {
    let window = state.offline_window_ms;
    let load = |id: &str| Document::load(&state.document_bytes(id).unwrap().expect(id)).unwrap();
    let mut problems = Vec::new();
    for id in &c.problems {
        let doc = load(id);
        let (s, folded) = fold::<ProblemState>(doc.events::<ProblemAction>());
        let resolutions: Vec<String> = folded
            .iter()
            .filter(|f| {
                matches!(f.event.action, ProblemAction::Resolved { .. })
                    && matches!(f.outcome, zhuqi_core::domain::Outcome::Applied)
            })
            .map(|f| f.event.id.clone())
            .collect();
        let received = state.storage.receipts(std::slice::from_ref(id), &resolutions).unwrap();
        problems.push(Problem {
            region: doc.header("region_id").unwrap(),
            resolution_received: received.iter().map(|r| r.2).max(),
            state: s,
        });
    }
    let mut visits = Vec::new();
    for id in &c.enterprises {
        let (e, _) = fold::<EnterpriseState>(load(id).events::<EnterpriseAction>());
        let events: Vec<String> = e.visits.iter().map(|v| v.event_id.clone()).collect();
        let receipts: HashMap<String, i64> =
            state.storage.receipts(std::slice::from_ref(id), &events).unwrap().into_iter().map(|r| (r.1, r.2)).collect();
        for v in &e.visits {
            let day = zhuqi_core::domain::text::parse_date("date", &v.record.date).unwrap() * DAY - 8 * 3_600_000;
            let judged = judged_time(day, receipts.get(&v.event_id).copied(), window);
            let day = if judged == day { day } else { (judged + 8 * 3_600_000).div_euclid(DAY) * DAY - 8 * 3_600_000 };
            visits.push(Visit { enterprise: id.clone(), region: e.profile.region_id.clone(), day });
        }
    }
    (problems, visits)
}

/// The documented definitions (`dashboard::kpi`), applied to what the documents say.
fn count(problems: &[&Problem], visits: &[&Visit], enterprises: u32, p: Period, now: i64, window: i64) -> Counts {
    let mut c = Counts { enterprises, ..Counts::default() };
    let resolved_now = |s: ProblemStatus| matches!(s, ProblemStatus::Resolved | ProblemStatus::Confirmed | ProblemStatus::Closed);
    for x in problems.iter().filter(|x| !x.state.status.is_void()) {
        let s = &x.state;
        if p.contains(s.reported_at) {
            c.reported += 1;
            c.reported_resolved += u32::from(resolved_now(s.status));
            c.reported_by_enterprise += u32::from(s.reported_by_role == Some(Role::EnterpriseContact));
            c.escalated += u32::from(s.escalation_count > 0);
        }
        if let Some(r) = s.resolved_at.map(|r| judged_time(r, x.resolution_received, window))
            && p.contains(r)
            && resolved_now(s.status)
        {
            c.resolved += 1;
            if let Some(d) = s.judged_deadline() {
                c.with_deadline += 1;
                c.on_time += u32::from(r <= d);
            }
        }
        if let (Some(at), Some(rating)) = (s.confirmed_at, s.rating)
            && p.contains(at)
        {
            c.rated += 1;
            c.satisfied += u32::from(rating >= 4);
            c.rating_sum += u32::from(rating);
            if s.confirmation.map(|k| k.as_str()) == Some("call_back") {
                c.call_backs += 1;
            } else {
                c.own_confirmations += 1;
            }
        }
        if s.confirmation.map(|k| k.as_str()) == Some("unanswered") && s.closed_at.is_some_and(|at| p.contains(at)) {
            c.unanswered += 1;
        }
        c.overdue += u32::from(is_overdue(s.status, s.reported_at, s.deadline, now));
    }
    let mut seen = HashSet::new();
    for v in visits.iter().filter(|v| p.contains(v.day)) {
        c.visits += 1;
        seen.insert(&v.enterprise);
    }
    c.enterprises_visited = seen.len() as u32;
    c
}

fn figures_match_the_documents(relay: &Relay) {
    let state = &relay.state;
    let c = campaign::generate(state, &CampaignShape::small(), &zhuqi_server::auth::hash_password("pw"));
    let now = c.now;
    let (problems, visits) = from_documents(state, &c);
    let (dir, _) = state.storage.directory().unwrap();
    // Each region's ancestors, from the directory's parent links.
    let parents: HashMap<&str, Option<&str>> =
        dir.regions.iter().map(|r| (r.id.as_str(), r.parent_id.as_deref())).collect();
    let under = |region: &str, root: &str| {
        let mut cur = Some(region);
        while let Some(r) = cur {
            if r == root {
                return true;
            }
            cur = parents.get(r).copied().flatten();
        }
        false
    };
    let mut enterprises_in: BTreeMap<String, u32> = BTreeMap::new();
    for id in &c.enterprises {
        let region = state.storage.enterprise_region(id).unwrap().unwrap();
        *enterprises_in.entry(region).or_default() += 1;
    }
    let month = zhuqi_server::dashboard::overview::Term::month_of(now).previous().period();
    let year = zhuqi_server::dashboard::overview::Term::year_of(now);
    let periods = [
        (month, None),
        (Period { from: now - 45 * DAY, to: now + DAY }, None),
        (year.period(), Some(now_year(&year))),
    ];
    let mut reached = (0, 0, 0, 0);
    for (login, root) in [(&c.province_office, "410000"), (&c.city_office, c.city.as_str()), (&c.county_office, c.county.as_str())] {
        let s = session(state, login);
        for (period, y) in periods {
            let page = zhuqi_server::dashboard::overview(state, &s, period, y, now).unwrap();
            let ps: Vec<&Problem> = problems.iter().filter(|p| under(&p.region, root)).collect();
            let vs: Vec<&Visit> = visits.iter().filter(|v| under(&v.region, root)).collect();
            let n: u32 = enterprises_in.iter().filter(|(r, _)| under(r, root)).map(|(_, n)| n).sum();
            let expected = count(&ps, &vs, n, period, now, state.offline_window_ms);
            assert_eq!(page.total, Figures::of(&expected), "{login} {period:?}");
            // And each region directly under the manager's.
            for line in &page.by_region {
                let child = dir.regions.iter().find(|r| r.name == line.name && r.parent_id.as_deref() == Some(root)).unwrap();
                let ps: Vec<&Problem> = ps.iter().copied().filter(|p| under(&p.region, &child.id)).collect();
                let vs: Vec<&Visit> = vs.iter().copied().filter(|v| under(&v.region, &child.id)).collect();
                let n: u32 = enterprises_in.iter().filter(|(r, _)| under(r, &child.id)).map(|(_, n)| n).sum();
                assert_eq!(line.figures, Figures::of(&count(&ps, &vs, n, period, now, state.offline_window_ms)), "{}", line.name);
            }
            // Categories: reported in the period, open now; the ages of those overdue now.
            let mut categories: BTreeMap<String, (u32, u32)> = BTreeMap::new();
            let mut ages = [0u32; 4];
            for p in ps.iter().filter(|p| !p.state.status.is_void()) {
                let s = &p.state;
                let open = matches!(s.status, ProblemStatus::Reported | ProblemStatus::Accepted | ProblemStatus::Routed);
                let c = categories.entry(s.category.zh().to_owned()).or_default();
                c.0 += u32::from(period.contains(s.reported_at));
                c.1 += u32::from(open);
                if is_overdue(s.status, s.reported_at, s.deadline, now) {
                    let since = now
                        - match s.status {
                            ProblemStatus::Routed => s.deadline.unwrap(),
                            _ => s.reported_at + zhuqi_core::domain::problem::ACCEPTANCE_LIMIT_MS,
                        };
                    let bucket = [7, 30, 90].iter().position(|d| since <= d * DAY).unwrap_or(3);
                    ages[bucket] += 1;
                }
            }
            categories.retain(|_, c| *c != (0, 0));
            let mut shown: Vec<(String, u32, u32)> =
                page.categories.iter().filter(|c| (c.1, c.2) != (0, 0)).cloned().collect();
            shown.sort();
            let expected_categories: Vec<(String, u32, u32)> = categories.into_iter().map(|(k, (a, b))| (k, a, b)).collect();
            assert_eq!(shown, expected_categories, "{login} {period:?}");
            assert_eq!(page.overdue_ages, ages, "{login} {period:?}");
            reached.0 += expected.reported;
            reached.1 += expected.with_deadline - expected.on_time;
            reached.2 += expected.call_backs + expected.unanswered;
            reached.3 += expected.reported_by_enterprise;
        }
    }
    // The data reached the states the figures tell apart: late resolutions, call-backs and
    // unanswered closures, problems the enterprises reported themselves.
    assert!(reached.0 > 0 && reached.1 > 0 && reached.2 > 0 && reached.3 > 0, "{reached:?}");
    assert!(c.counts.late_resolutions > 0 && c.counts.late_visits > 0, "{:?}", c.counts);
}

fn now_year(t: &zhuqi_server::dashboard::overview::Term) -> i64 {
    t.name().parse().unwrap()
}

#[test]
fn figures_match_the_documents_on_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    figures_match_the_documents(&Relay::start(tmp.path()));
}

#[test]
fn figures_match_the_documents_on_postgres() {
    let db = zhuqi_tests::pg::TestDatabase::create();
    let storage: Arc<dyn RelayStorage> = db.open();
    figures_match_the_documents(&Relay::start_with(storage));
}

/// A closed month's ranking is published once; a resolution arriving later leaves it as published
/// and shows beside it as a correction.
#[test]
fn a_published_ranking_stays_and_late_data_shows_as_a_correction() {
    use zhuqi_server::dashboard::overview::{Term, rankings};
    use zhuqi_server::dashboard::units::Scope;
    use zhuqi_server::storage::figures::{ProblemSelection, problem_page};
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(tmp.path());
    let state = &relay.state;
    let c = campaign::generate(state, &CampaignShape::small(), &zhuqi_server::auth::hash_password("pw"));
    let now = zhuqi_server::now_ms();
    // A closed month (two or more back, closed whatever today's date) with a problem of its own
    // still being handled.
    let mut term = Term::month_of(now).previous();
    let problem = loop {
        term = term.previous();
        let p = term.period();
        let q = ProblemSelection {
            status: Some("routed".into()),
            reported_from: Some(p.from),
            reported_to: Some(p.to),
            ..Default::default()
        };
        let mut routed = Vec::new();
        state.storage.with_snapshot(&mut |db| {
            routed = problem_page(db, &q, 1)?;
            Ok(())
        })
        .unwrap();
        if let Some(p) = routed.pop() {
            break p;
        }
        assert!(p.from > now - 400 * DAY, "no month with a problem still routed");
    };
    let dir = state.directory.get(state.storage.as_ref()).unwrap();
    let office = session(state, &c.province_office);
    let scope = Scope::of(&dir, &office);
    let before = rankings(state, &scope, term.clone(), now).unwrap();
    let published_at = before.published_at.expect("a closed month is published");
    assert!(before.counties.iter().all(|l| l.correction.is_none()), "nothing arrived since");
    // It is resolved now, by its department.
    let dept = problem.department_id.clone().unwrap();
    let handler = format!("handler-{}", dept.trim_start_matches("dept-"));
    let mut author = zhuqi_server::sync::author::Author::new(state, &handler).unwrap();
    let resolved = ProblemAction::Resolved { resolution: "已协调解决".into(), photos: vec![] };
    author.append(&problem.id, resolved, zhuqi_server::now_ms()).unwrap();
    author.submit_all().unwrap();

    // Until the term is counted again (every 10 minutes), the corrections are those counted before.
    let unchanged = rankings(state, &scope, term.clone(), zhuqi_server::now_ms()).unwrap();
    assert!(unchanged.counties.iter().all(|l| l.correction.is_none()));
    state.recounts.count(state, &term, zhuqi_server::now_ms()).unwrap();
    let after = rankings(state, &scope, term, zhuqi_server::now_ms()).unwrap();
    assert!(after.recounted_at > unchanged.recounted_at);
    assert_eq!(after.published_at, Some(published_at), "published once");
    let county = dir.paths[&problem.region_id].split('/').find(|id| dir.regions[*id].level == zhuqi_core::domain::RegionLevel::County);
    let county_name = &dir.regions[county.unwrap()].name;
    for (b, a) in before.counties.iter().zip(&after.counties) {
        assert_eq!((&b.name, b.ranked.score, b.ranked.rank), (&a.name, a.ranked.score, a.ranked.rank), "as published");
        if &a.name == county_name {
            let (score, _) = a.correction.expect("the resolution shows as a correction");
            assert!(score > a.ranked.score, "{score} after {}", a.ranked.score);
        } else {
            assert!(a.correction.is_none() || a.correction.unwrap().1 != a.ranked.rank, "{}", a.name);
        }
    }
}

/// Paging through the problem list while problems are reported: each problem there before is listed
/// exactly once, none twice.
fn pages_hold_each_problem_once(relay: &Relay) {
    use zhuqi_server::storage::figures::{ProblemSelection, problem_page};
    let state = relay.state.clone();
    let c = campaign::generate(&state, &CampaignShape::small(), &zhuqi_server::auth::hash_password("pw"));
    let before: HashSet<String> = c.problems.iter().cloned().collect();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (state, stop, cadre) = (state.clone(), stop.clone(), c.busy_cadre.clone());
        let enterprise = c.big_enterprise.clone();
        std::thread::spawn(move || {
            let name = state.storage.enterprise_rows().unwrap().into_iter().find(|e| e.0 == enterprise).unwrap();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 200 {
                let mut a = zhuqi_server::sync::author::Author::new(&state, &cadre).unwrap();
                let id = uuid::Uuid::now_v7().to_string();
                let header = [("enterprise_id", enterprise.as_str()), ("enterprise_name", name.1.as_str()), ("region_id", name.2.as_str())];
                let report = ProblemAction::Reported {
                    enterprise_id: enterprise.clone(),
                    category: zhuqi_core::domain::Category::Financing,
                    title: format!("新问题{n}"),
                    description: "分页时上报".into(),
                    visit_id: None,
                    photos: vec![],
                };
                // Reported at times spread over the year: before and after the pages read so far.
                let at = zhuqi_server::now_ms() - (n as i64 * 7_919 % 360) * DAY;
                a.create(zhuqi_core::domain::DocKind::Problem, &id, &header, report, at).unwrap();
                a.submit_all().unwrap();
                n += 1;
            }
            n
        })
    };
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut q = ProblemSelection::default();
    let mut pages = 0;
    loop {
        let mut rows = Vec::new();
        state.storage.with_snapshot(&mut |db| {
            rows = problem_page(db, &q, 7)?;
            Ok(())
        })
        .unwrap();
        let Some(last) = rows.last() else { break };
        q.after = Some((last.reported_at, last.id.clone()));
        for r in &rows {
            *seen.entry(r.id.clone()).or_default() += 1;
        }
        pages += 1;
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(written > 0 && pages > 10, "{written} written while {pages} pages were read");
    assert!(seen.values().all(|n| *n == 1), "a problem listed twice");
    let void: HashSet<String> = state.storage.problem_facts().unwrap().into_iter()
        .filter(|f| f.status == "withdrawn" || f.status == "merged").map(|f| f.id).collect();
    for id in before.iter().filter(|id| !void.contains(*id)) {
        assert_eq!(seen.get(id), Some(&1), "{id} listed once");
    }
    assert!(seen.len() > before.len() - void.len(), "some of those reported meanwhile were listed too");
}

#[test]
fn pages_hold_each_problem_once_on_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    pages_hold_each_problem_once(&Relay::start(tmp.path()));
}

#[test]
fn pages_hold_each_problem_once_on_postgres() {
    let db = zhuqi_tests::pg::TestDatabase::create();
    let storage: Arc<dyn RelayStorage> = db.open();
    pages_hold_each_problem_once(&Relay::start_with(storage));
}
