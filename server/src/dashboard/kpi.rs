//! The campaign's figures (考核指标), computed from the relay's projections. Pure functions over
//! "facts" (one row per problem, one per visit), so that every storage backend feeds them the same way
//! and tests can work the right answers out by hand.
//!
//! Times are the devices' times of the events (a problem resolved on a phone on the 3rd and synced on
//! the 9th counts as resolved on the 3rd) when the event reached the relay within its offline window
//! (`--offline-window-days`, 7 by default); an event that arrived later is entered late (补录) and
//! counts at its arrival, the relay's own time (`judge_times`): a resolution back-dated to meet its
//! deadline, or visits back-dated into a closed month, count when they were really entered. Figures
//! are recomputed on every request, so data arriving within the window changes the figures of the
//! period it belongs to.
//!
//! Definitions, for a set of problems (a region's subtree, a department) and a period `[from, to)`:
//! - **reported**: problems reported in the period;
//! - **resolved**: problems whose (latest) resolution was recorded in the period and that are
//!   resolved, confirmed or closed now;
//! - **resolution rate (解决率)**: of the problems reported in the period, the share resolved,
//!   confirmed or closed now;
//! - **on-time rate**: of the problems resolved in the period that had a deadline, the share resolved
//!   by it — by the first deadline missed, if one was (a re-routing or escalation after a deadline
//!   passed does not erase the lateness), else by the deadline in force;
//! - **satisfaction rate (满意率)**: of the answers to resolutions in the period — the enterprise's own
//!   confirmations, those the campaign office recorded on a call-back (代确认), and the problems it
//!   closed because the enterprise did not answer in time (超时未确认) — the share rated 4 or 5. A
//!   closure without an answer counts as not satisfied, so that letting enterprises' answers time out
//!   never raises the figure, and a call-back's rating counts as the enterprise's answer. The three are
//!   also counted apart (`own_confirmations`, `call_backs`, `unanswered`) so that a unit relying on
//!   call-backs shows as such; **average rating** over the rated answers;
//! - **overdue now**: problems overdue at the moment of computing (`zhuqi_core::domain::problem::
//!   is_overdue`: routed and past the deadline, or not routed within the acceptance limit);
//! - **visits** made in the period and **enterprises visited** (distinct).
//!
//! Monthly ranking score of a unit (0–100):
//! `40 × resolution rate + 25 × on-time rate + 25 × satisfaction rate + 10 × visit coverage`, where
//! visit coverage is the share of the unit's enterprises visited in the month. A rate with nothing to
//! measure (no problem reported, say) counts as 1: a unit is not punished for having no problems.

pub use crate::storage::figures::Counts;
pub use crate::storage::{ProblemFact, VisitFact};
use std::collections::HashSet;
use zhuqi_core::domain::ProblemStatus;
use zhuqi_core::domain::problem::is_overdue;

/// Replaces the times of events entered late (see [`zhuqi_core::domain::event::judged_time`]) by
/// their arrival: a late resolution counts when it arrived, a late visit on the day it arrived.
pub fn judge_times(problems: &mut [ProblemFact], visits: &mut [VisitFact], window_ms: i64) {
    use zhuqi_core::domain::event::judged_time;
    for p in problems {
        p.resolved_at = p.resolved_at.map(|r| judged_time(r, p.resolution_received_at, window_ms));
    }
    for v in visits {
        let judged = judged_time(v.day, v.received_at, window_ms);
        if judged != v.day {
            // The day (China Standard Time) it arrived.
            v.day = (judged + 8 * 3_600_000).div_euclid(86_400_000) * 86_400_000 - 8 * 3_600_000;
        }
    }
}

impl ProblemFact {
    /// Withdrawn or merged: left out of every figure (see `ProblemStatus::is_void`).
    fn is_void(&self) -> bool {
        ProblemStatus::parse(&self.status).is_some_and(ProblemStatus::is_void)
    }

    fn is_resolved(&self) -> bool {
        matches!(self.status.as_str(), "resolved" | "confirmed" | "closed")
    }
}

impl crate::storage::ProblemRow {
    /// Whether the problem is overdue at `now` (the core's one rule).
    pub fn is_overdue(&self, now: i64) -> bool {
        is_overdue(ProblemStatus::parse(&self.status).unwrap_or_default(), self.reported_at, self.deadline, now)
    }
}

/// A time span `[from, to)`, milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: i64,
    pub to: i64,
}

impl Period {
    pub fn contains(&self, t: i64) -> bool {
        (self.from..self.to).contains(&t)
    }
}

/// The figures of one unit for one period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub reported: u32,
    pub resolved: u32,
    pub resolution_rate: Option<f64>,
    pub on_time_rate: Option<f64>,
    pub satisfaction_rate: Option<f64>,
    pub average_rating: Option<f64>,
    /// Answers in the period: the enterprise's own confirmations, call-backs, closures unanswered.
    pub own_confirmations: u32,
    pub call_backs: u32,
    pub unanswered: u32,
    pub overdue_now: u32,
    pub visits: u32,
    pub enterprises_visited: u32,
    /// Problems reported in the period by the enterprise itself, and escalated at least once.
    pub reported_by_enterprise: u32,
    pub escalated: u32,
    /// Share of the unit's enterprises visited in the period (none without enterprises).
    pub visit_coverage: Option<f64>,
}

impl Figures {
    /// The rates and counts of `c`.
    pub fn of(c: &Counts) -> Figures {
        let u = |x: u32| x as usize;
        Figures {
            reported: c.reported,
            resolved: c.resolved,
            resolution_rate: ratio(u(c.reported_resolved), u(c.reported)),
            on_time_rate: ratio(u(c.on_time), u(c.with_deadline)),
            satisfaction_rate: ratio(u(c.satisfied), u(c.rated + c.unanswered)),
            average_rating: (c.rated > 0).then(|| f64::from(c.rating_sum) / f64::from(c.rated)),
            own_confirmations: c.own_confirmations,
            call_backs: c.call_backs,
            unanswered: c.unanswered,
            overdue_now: c.overdue,
            visits: c.visits,
            enterprises_visited: c.enterprises_visited,
            reported_by_enterprise: c.reported_by_enterprise,
            escalated: c.escalated,
            visit_coverage: ratio(u(c.enterprises_visited), u(c.enterprises)),
        }
    }
}

fn ratio(n: usize, d: usize) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// The counts of `problems` and `visits` (already restricted to one unit) for `period`, at `now`,
/// worked out in Rust from whole rows: the definitions above, which the database's grouped counts
/// (`storage::figures`) must equal.
pub fn counts<'a>(
    problems: impl IntoIterator<Item = &'a ProblemFact>,
    visits: impl IntoIterator<Item = &'a VisitFact>,
    period: Period,
    now: i64,
) -> Counts {
    let mut c = Counts::default();
    for p in problems.into_iter().filter(|p| !p.is_void()) {
        if period.contains(p.reported_at) {
            c.reported += 1;
            c.reported_resolved += u32::from(p.is_resolved());
            c.reported_by_enterprise += u32::from(p.reporter_role.as_deref() == Some("enterprise_contact"));
            c.escalated += u32::from(p.escalation_count > 0);
        }
        if let Some(r) = p.resolved_at.filter(|r| period.contains(*r) && p.is_resolved()) {
            c.resolved += 1;
            if let Some(d) = p.missed_deadline.or(p.deadline) {
                c.with_deadline += 1;
                c.on_time += u32::from(r <= d);
            }
        }
        if let (Some(at), Some(rating)) = (p.confirmed_at, p.rating)
            && period.contains(at)
        {
            c.rated += 1;
            c.satisfied += u32::from(rating >= 4);
            c.rating_sum += u32::from(rating);
            match p.confirmation.as_deref() {
                Some("call_back") => c.call_backs += 1,
                _ => c.own_confirmations += 1,
            }
        }
        if p.confirmation.as_deref() == Some("unanswered") && p.closed_at.is_some_and(|at| period.contains(at)) {
            c.unanswered += 1;
        }
        let status = ProblemStatus::parse(&p.status).unwrap_or_default();
        c.overdue += u32::from(is_overdue(status, p.reported_at, p.deadline, now));
    }
    let mut visited = HashSet::new();
    for v in visits {
        if period.contains(v.day) {
            c.visits += 1;
            visited.insert(v.enterprise_id.as_str());
        }
    }
    c.enterprises_visited = visited.len() as u32;
    c
}

/// The figures of `problems` and `visits` (already restricted to one unit) for `period`, at `now`.
pub fn figures<'a>(
    problems: impl IntoIterator<Item = &'a ProblemFact>,
    visits: impl IntoIterator<Item = &'a VisitFact>,
    period: Period,
    now: i64,
) -> Figures {
    Figures::of(&counts(problems, visits, period, now))
}

/// One unit's line of a ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub unit: String,
    pub figures: Figures,
    pub score: f64,
    pub rank: u32,
    pub last_rank: Option<u32>,
}

/// The score of the documented formula; a rate with nothing to measure counts as 1.
pub fn score(f: &Figures, visit_coverage: Option<f64>) -> f64 {
    let r = |x: Option<f64>| x.unwrap_or(1.0);
    100.0
        * (0.40 * r(f.resolution_rate)
            + 0.25 * r(f.on_time_rate)
            + 0.25 * r(f.satisfaction_rate)
            + 0.10 * r(visit_coverage))
}

/// Ranks units by their counts: by score, then unit id; ties share a rank. `coverage` says whether
/// visit coverage is part of the score (counties) or counts as 1 (departments, which have no
/// enterprises of their own). `last` ranks the same units for the period before (its ranks, by unit).
pub fn ranking(units: Vec<(String, Counts)>, coverage: bool, last: Option<&[Ranked]>) -> Vec<Ranked> {
    let mut rows: Vec<Ranked> = units
        .into_iter()
        .map(|(unit, c)| {
            let figures = Figures::of(&c);
            let score = score(&figures, if coverage { figures.visit_coverage } else { None });
            Ranked { unit, figures, score, rank: 0, last_rank: None }
        })
        .collect();
    rows.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.unit.cmp(&b.unit)));
    for i in 0..rows.len() {
        rows[i].rank = if i > 0 && (rows[i - 1].score - rows[i].score).abs() < 1e-9 { rows[i - 1].rank } else { i as u32 + 1 };
    }
    if let Some(last) = last {
        let by_unit: std::collections::HashMap<&str, u32> = last.iter().map(|r| (r.unit.as_str(), r.rank)).collect();
        for r in &mut rows {
            r.last_rank = by_unit.get(r.unit.as_str()).copied();
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;
    /// 2026-03-01 00:00 CST.
    const MARCH: i64 = 1_772_294_400_000;

    fn p(id: &str, region: &str, dept: Option<&str>, status: &str, reported: i64) -> ProblemFact {
        ProblemFact {
            reporter_role: Some("cadre".into()),
            escalation_count: 0,
            id: id.into(),
            region_id: region.into(),
            department_id: dept.map(Into::into),
            status: status.into(),
            reported_at: reported,
            resolved_at: None,
            deadline: None,
            confirmed_at: None,
            rating: None,
            confirmation: None,
            closed_at: None,
            missed_deadline: None,
            resolution_received_at: None,
        }
    }

    fn visit(ent: &str, region: &str, day: i64) -> VisitFact {
        VisitFact { enterprise_id: ent.into(), region_id: region.into(), cadre_id: "c".into(), day, received_at: None }
    }

    #[test]
    fn events_entered_after_the_offline_window_count_at_their_arrival() {
        let window = 7 * DAY;
        // Resolved on the 9th by the phone's claim, before the deadline of the 10th: on time when it
        // arrived on the 12th, late when it arrived on the 20th (and counted on the 20th).
        let mut ok = p("A", "r1", Some("d"), "resolved", MARCH);
        (ok.deadline, ok.resolved_at, ok.resolution_received_at) =
            (Some(MARCH + 9 * DAY), Some(MARCH + 8 * DAY), Some(MARCH + 11 * DAY));
        let mut late = ok.clone();
        late.id = "B".into();
        late.resolution_received_at = Some(MARCH + 19 * DAY);
        // A visit of 27 February entered on 2 March counts in February; one of 2 February entered on
        // 2 March counts in March.
        let mut visits = vec![visit("e1", "r1", MARCH - 2 * DAY), visit("e2", "r1", MARCH - 27 * DAY)];
        visits[0].received_at = Some(MARCH + DAY + 3_600_000);
        visits[1].received_at = Some(MARCH + DAY + 3_600_000);
        let mut problems = vec![ok, late];
        judge_times(&mut problems, &mut visits, window);
        assert_eq!(problems[0].resolved_at, Some(MARCH + 8 * DAY));
        assert_eq!(problems[1].resolved_at, Some(MARCH + 19 * DAY));
        let f = figures(&problems, &visits, Period { from: MARCH, to: MARCH + 31 * DAY }, MARCH + 25 * DAY);
        assert_eq!(f.on_time_rate, Some(0.5));
        assert_eq!(visits[0].day, MARCH - 2 * DAY);
        assert_eq!(visits[1].day, MARCH + DAY);
    }

    /// March 2026, worked by hand:
    /// - A reported 2nd, routed, deadline 10th, resolved 3rd (on time), confirmed 5th rating 5, closed.
    /// - B reported 4th, deadline 6th, resolved 9th (late), confirmed 10th rating 3.
    /// - C reported 5th, routed, deadline 8th, not resolved: overdue on the 20th.
    /// - D reported 20 Feb, resolved 2 March (on time, deadline 5 March), confirmed 3 March rating 4.
    /// - E reported 1 April: outside.
    fn march() -> Vec<ProblemFact> {
        let mut a = p("A", "county-1", Some("fin"), "closed", MARCH + DAY);
        a.deadline = Some(MARCH + 9 * DAY);
        a.resolved_at = Some(MARCH + 2 * DAY);
        a.confirmed_at = Some(MARCH + 4 * DAY);
        a.rating = Some(5);
        let mut b = p("B", "county-1", Some("fin"), "confirmed", MARCH + 3 * DAY);
        b.deadline = Some(MARCH + 5 * DAY);
        b.resolved_at = Some(MARCH + 8 * DAY);
        b.confirmed_at = Some(MARCH + 9 * DAY);
        b.rating = Some(3);
        let mut c = p("C", "county-2", Some("hr"), "routed", MARCH + 4 * DAY);
        c.deadline = Some(MARCH + 7 * DAY);
        let mut d = p("D", "county-2", Some("hr"), "confirmed", MARCH - 9 * DAY);
        d.deadline = Some(MARCH + 4 * DAY);
        d.resolved_at = Some(MARCH + DAY);
        d.confirmed_at = Some(MARCH + 2 * DAY);
        d.rating = Some(4);
        let e = p("E", "county-2", None, "reported", MARCH + 31 * DAY);
        vec![a, b, c, d, e]
    }

    #[test]
    fn figures_of_a_month_worked_by_hand() {
        let period = Period { from: MARCH, to: MARCH + 31 * DAY };
        let visits = vec![
            visit("e1", "county-1", MARCH),
            visit("e1", "county-1", MARCH + DAY),
            visit("e2", "county-2", MARCH - DAY),
        ];
        let f = figures(&march(), &visits, period, MARCH + 19 * DAY);
        // Reported in March: A, B, C (D was February, E April) = 3; of those resolved now: A, B = 2/3.
        assert_eq!(f.reported, 3);
        assert_eq!(f.resolution_rate, Some(2.0 / 3.0));
        // Resolved in March: A (3rd), B (9th), D (2nd) = 3; on time: A, D = 2/3.
        assert_eq!(f.resolved, 3);
        assert_eq!(f.on_time_rate, Some(2.0 / 3.0));
        // Confirmed in March: A 5, B 3, D 4 → satisfied A, D = 2/3, average 4.
        assert_eq!(f.satisfaction_rate, Some(2.0 / 3.0));
        assert_eq!(f.average_rating, Some(4.0));
        // Overdue on the 20th: C.
        assert_eq!(f.overdue_now, 1);
        assert_eq!((f.visits, f.enterprises_visited), (2, 1));
    }

    #[test]
    fn call_backs_and_unanswered_closures_are_answers_counted_apart() {
        let period = Period { from: MARCH, to: MARCH + 31 * DAY };
        let mut problems = march(); // own confirmations in March: A 5, B 3, D 4
        // F: the office called the enterprise back on the 6th, rating 5.
        let mut f = p("F", "county-1", Some("fin"), "confirmed", MARCH + DAY);
        (f.resolved_at, f.confirmed_at, f.rating) = (Some(MARCH + 2 * DAY), Some(MARCH + 5 * DAY), Some(5));
        f.confirmation = Some("call_back".into());
        // G: resolved on the 1st, no answer in 15 days, closed unanswered on the 17th.
        let mut g = p("G", "county-1", Some("fin"), "closed", MARCH - DAY);
        (g.resolved_at, g.closed_at) = (Some(MARCH), Some(MARCH + 16 * DAY));
        g.confirmation = Some("unanswered".into());
        problems.extend([f, g]);
        let fig = figures(&problems, &[], period, MARCH + 19 * DAY);
        assert_eq!((fig.own_confirmations, fig.call_backs, fig.unanswered), (3, 1, 1));
        // Satisfied: A, D, F of five answers (G counts as not satisfied); average of the four ratings.
        assert_eq!(fig.satisfaction_rate, Some(3.0 / 5.0));
        assert_eq!(fig.average_rating, Some(17.0 / 4.0));
    }

    #[test]
    fn a_missed_deadline_stays_missed_and_unrouted_problems_fall_overdue() {
        let period = Period { from: MARCH, to: MARCH + 31 * DAY };
        // Deadline the 5th missed, re-routed with a new one (the 20th), resolved the 10th: late.
        let mut h = p("H", "county-1", Some("fin"), "resolved", MARCH + DAY);
        (h.deadline, h.missed_deadline, h.resolved_at) =
            (Some(MARCH + 19 * DAY), Some(MARCH + 4 * DAY), Some(MARCH + 9 * DAY));
        // Reported the 1st and never accepted: past the acceptance limit by the 20th.
        let i = p("I", "county-1", None, "reported", MARCH);
        let fig = figures(&[h, i], &[], period, MARCH + 19 * DAY);
        assert_eq!(fig.on_time_rate, Some(0.0));
        assert_eq!(fig.overdue_now, 1);
    }

    #[test]
    fn late_data_counts_on_the_day_it_happened() {
        let period = Period { from: MARCH, to: MARCH + 7 * DAY }; // 1st–7th
        let mut problems = march();
        let before = figures(&problems, &[], period, MARCH + 9 * DAY);
        // C's resolution, done on the 6th offline, arrives on the 9th: the first week changes.
        let c = problems.iter_mut().find(|p| p.id == "C").unwrap();
        c.status = "resolved".into();
        c.resolved_at = Some(MARCH + 5 * DAY);
        let after = figures(&problems, &[], period, MARCH + 9 * DAY);
        assert_eq!((before.resolved, after.resolved), (2, 3)); // A, D, then C
        assert_eq!(before.on_time_rate, Some(1.0)); // A, D
        assert_eq!(after.on_time_rate, Some(1.0)); // C by its deadline (8th) too
        assert_eq!((before.overdue_now, after.overdue_now), (1, 0));
    }

    #[test]
    fn monthly_ranking_by_the_documented_formula() {
        let problems = march();
        let visits = vec![visit("e1", "county-1", MARCH + 3 * DAY), visit("e3", "county-2", MARCH + 3 * DAY)];
        let enterprises = [("county-1", 2), ("county-2", 1)];
        let now = MARCH + 19 * DAY;
        let units = |period: Period| -> Vec<(String, Counts)> {
            enterprises
                .iter()
                .map(|(u, n)| {
                    let mut c = counts(
                        problems.iter().filter(|p| p.region_id == *u),
                        visits.iter().filter(|v| v.region_id == *u),
                        period,
                        now,
                    );
                    c.enterprises = *n;
                    (u.to_string(), c)
                })
                .collect()
        };
        let feb = ranking(units(Period { from: MARCH - 28 * DAY, to: MARCH }), true, None);
        let r = ranking(units(Period { from: MARCH, to: MARCH + 31 * DAY }), true, Some(&feb));
        // county-1: reported A, B both resolved → 1; resolved A (on time), B (late) → 0.5;
        //   confirmed A 5, B 3 → 0.5; coverage 1 of 2 → 0.5.  40 + 12.5 + 12.5 + 5 = 70.
        // county-2: reported C, unresolved → 0; resolved D on time → 1; confirmed D 4 → 1;
        //   coverage 1 of 1 → 1.  0 + 25 + 25 + 10 = 60.
        assert_eq!(r[0].unit, "county-1");
        assert!((r[0].score - 70.0).abs() < 1e-9, "{}", r[0].score);
        assert!((r[1].score - 60.0).abs() < 1e-9, "{}", r[1].score);
        assert_eq!((r[0].rank, r[1].rank), (1, 2));
        // February: county-2 reported D (resolved in March: counted now) → 1, no visit of its one
        // enterprise → coverage 0: 90; county-1 has nothing measured but its coverage (0 of 2): 90 as
        // well: both rank 1.
        assert_eq!((r[0].last_rank, r[1].last_rank), (Some(1), Some(1)));
        // Without coverage (departments), nothing measured counts as 1: 100.
        let d = ranking(vec![("d".into(), Counts::default())], false, None);
        assert!((d[0].score - 100.0).abs() < 1e-9);
    }
}
