//! The campaign's rules as an office meets them in its first month: problems that can't get stuck
//! waiting for an enterprise without the app, deadlines that can't be gamed, and authority by level.

mod common;

use common::*;
use zhuqi_core::domain::problem::{ANSWER_DAYS, Confirmation};
use zhuqi_core::domain::{CalendarDay, Directory, OfficeSettings, ProblemAction, ProblemStatus};
use zhuqi_core::store::ProblemFilter;

/// A problem reported by the cadre, accepted and routed by the county at level 2 with a 7-day
/// deadline, and resolved by the handler two days later; every store holds it.
fn resolved(w: &World) -> String {
    let pid = w.cadre.report_problem(problem(&w.enterprise_id, None)).unwrap();
    w.sync_all();
    w.clock.advance(HOUR);
    w.manager.accept_problem(&pid, "").unwrap();
    w.manager.route_problem(&pid, FINANCE, 2, T0 + HOUR + 7 * DAY, "").unwrap();
    w.sync_all();
    w.clock.advance(2 * DAY);
    w.handler.resolve_problem(&pid, "已协调银行放款").unwrap();
    w.sync_all();
    pid
}

#[test]
fn an_enterprise_that_never_answers_is_closed_unanswered_after_the_waiting_time() {
    let w = World::new();
    let pid = resolved(&w);
    let err = w.manager.close_unanswered(&pid, "").unwrap_err();
    assert!(err.user_message().contains(&format!("{ANSWER_DAYS}天")), "{}", err.user_message());
    w.clock.advance(ANSWER_DAYS as i64 * DAY);
    assert!(w.cadre.close_unanswered(&pid, "").is_err(), "the campaign office's decision");
    w.manager.close_unanswered(&pid, "多次联系企业未回复").unwrap();
    w.sync_all();
    for store in [&w.manager, &w.cadre, &w.contact] {
        let p = store.problem(&pid).unwrap();
        assert_eq!(p.state.status, ProblemStatus::Closed);
        assert_eq!((p.state.confirmation, p.state.rating), (Some(Confirmation::Unanswered), None));
        assert!(matches!(p.timeline.last().unwrap().action, ProblemAction::ClosedUnanswered { .. }));
    }
}

#[test]
fn the_answer_window_is_the_offices_setting_and_can_not_be_shortened() {
    let w = World::new();
    // The city gives its enterprises 30 days; the county below it has no setting of its own.
    let thirty = OfficeSettings { region_id: CITY.into(), answer_days: 30, working_days: false };
    let settings = Directory { settings: vec![thirty.clone()], ..Default::default() };
    for store in [&w.manager, &w.cadre, &w.handler, &w.contact] {
        store.import_directory(&settings).unwrap();
    }
    assert_eq!(w.manager.office_settings(COUNTY).unwrap(), thirty);
    assert_eq!(w.manager.office_settings(PROVINCE).unwrap(), OfficeSettings::default_for(PROVINCE));
    let pid = resolved(&w);
    w.clock.advance(ANSWER_DAYS as i64 * DAY);
    let err = w.manager.close_unanswered(&pid, "").unwrap_err();
    assert!(err.user_message().contains("30天"), "{}", err.user_message());
    // A closing that claims the default window is refused by the rules, even once its time has come.
    let claim = ProblemAction::ClosedUnanswered { note: String::new(), answer_days: Some(ANSWER_DAYS) };
    let err = w.manager.act_on_problem(&pid, claim).unwrap_err();
    assert!(err.user_message().contains("不能短于活动办设置的30天"), "{}", err.user_message());
    // An older version's event, without a window, counts as the default: refused the same way.
    let old = ProblemAction::ClosedUnanswered { note: String::new(), answer_days: None };
    assert!(matches!(
        ProblemAction::validate(old.clone()),
        Ok(ProblemAction::ClosedUnanswered { answer_days: None, .. })
    ));
    // A window outside what an office may choose is refused as a value.
    for days in [0, 4, 14, 91, u32::MAX] {
        let bad = ProblemAction::ClosedUnanswered { note: String::new(), answer_days: Some(days) };
        assert!(bad.validate().is_err(), "{days} days");
    }
    w.clock.advance(15 * DAY);
    w.manager.close_unanswered(&pid, "多次联系企业未回复").unwrap();
    w.sync_all();
    for store in [&w.cadre, &w.contact] {
        let p = store.problem(&pid).unwrap();
        assert_eq!((p.state.status, p.state.confirmation), (ProblemStatus::Closed, Some(Confirmation::Unanswered)));
        assert!(matches!(
            p.timeline.last().unwrap().action,
            ProblemAction::ClosedUnanswered { answer_days: Some(30), .. }
        ));
    }
}

#[test]
fn deadlines_in_days_count_working_days_where_the_office_chooses() {
    let w = World::new();
    // T0 is Monday 2026-03-02 08:00. The county counts working days; a holiday falls on Wednesday
    // 03-04 and Saturday 03-07 is a make-up working day.
    let calendar = vec![
        CalendarDay { date: "2026-03-04".into(), working: false, name: "假日".into() },
        CalendarDay { date: "2026-03-07".into(), working: true, name: "调休上班".into() },
    ];
    let end_of = |day: i64| T0 - 8 * HOUR + (day + 1) * DAY - 1; // the last moment of T0's day + `day`
    assert_eq!(w.manager.deadline_in(5).unwrap(), end_of(5), "calendar days until the office chooses");
    let working = OfficeSettings { region_id: COUNTY.into(), answer_days: 15, working_days: true };
    let dir = Directory { settings: vec![working], calendar, ..Default::default() };
    w.manager.import_directory(&dir).unwrap();
    // Tue 03-03, (Wed holiday), Thu 03-05, Fri 03-06, Sat 03-07 (调休), (Sun), Mon 03-09.
    assert_eq!(w.manager.deadline_in(5).unwrap(), end_of(7));
    assert!(w.manager.deadline_in(0).is_err());
    // The deadline routes like any other.
    let pid = w.cadre.report_problem(problem(&w.enterprise_id, None)).unwrap();
    w.sync_all();
    let deadline = w.manager.deadline_in(5).unwrap();
    w.manager.route_problem(&pid, FINANCE, 2, deadline, "").unwrap();
    assert_eq!(w.manager.problem(&pid).unwrap().state.deadline, Some(end_of(7)));
}

#[test]
fn the_office_records_the_enterprises_answer_on_a_call_back() {
    let w = World::new();
    let pid = resolved(&w);
    // Neither the cadre nor the handler may answer for the enterprise.
    assert!(w.cadre.record_call_back(&pid, "刘总", true, Some(5), "").is_err());
    assert!(w.handler.record_call_back(&pid, "刘总", true, Some(5), "").is_err());
    // An accepted answer needs a rating; a refusal needs a reason.
    assert!(w.manager.record_call_back(&pid, "刘总", true, None, "").is_err());
    assert!(w.manager.record_call_back(&pid, "刘总", false, None, "").is_err());
    // The enterprise does not accept it yet: back to the handler, with a new 7-day deadline.
    w.clock.advance(10 * DAY);
    w.manager.record_call_back(&pid, "刘总（电话）", false, None, "贷款尚未到账").unwrap();
    let p = w.manager.problem(&pid).unwrap();
    assert_eq!((p.state.status, p.state.reopen_count), (ProblemStatus::Routed, 1));
    assert_eq!(p.state.deadline, Some(T0 + HOUR + 12 * DAY + 7 * DAY));
    assert!(!p.summary.overdue, "reopened with time to work, not with the passed deadline");
    w.sync_all();
    w.handler.resolve_problem(&pid, "贷款已到账").unwrap();
    w.sync_all();
    w.manager.record_call_back(&pid, "刘总（电话）", true, Some(4), "企业表示满意").unwrap();
    w.sync_all();
    for store in [&w.manager, &w.contact] {
        let p = store.problem(&pid).unwrap();
        assert_eq!(p.state.status, ProblemStatus::Confirmed);
        assert_eq!((p.state.confirmation, p.state.rating), (Some(Confirmation::CallBack), Some(4)));
    }
    // The office closes it as usual.
    w.manager.close_problem(&pid, "").unwrap();
}

#[test]
fn a_follow_up_that_finds_the_problem_back_reopens_it_with_a_new_deadline() {
    let w = World::new();
    let pid = resolved(&w);
    w.contact.confirm_resolution(&pid, 5, "").unwrap();
    w.sync_all();
    w.manager.close_problem(&pid, "").unwrap();
    w.sync_all();
    w.clock.advance(30 * DAY);
    let now = T0 + HOUR + 32 * DAY;
    w.cadre.follow_up(&pid, "回访发现资金再次短缺", false).unwrap();
    let p = w.cadre.problem(&pid).unwrap();
    assert_eq!((p.state.status, p.state.reopen_count, p.state.follow_up_count), (ProblemStatus::Routed, 1, 1));
    assert_eq!(p.state.deadline, Some(now + 7 * DAY));
    assert_eq!((p.state.closed_at, p.state.rating, p.state.confirmation), (None, None, None));
}

#[test]
fn a_deadline_already_passed_when_it_is_set_is_refused() {
    let w = World::new();
    let pid = w.cadre.report_problem(problem(&w.enterprise_id, None)).unwrap();
    w.sync_all();
    w.clock.advance(3 * DAY);
    // After the report, but before the moment it is set: it would be overdue at once.
    let err = w.manager.route_problem(&pid, FINANCE, 2, T0 + DAY, "").unwrap_err();
    assert_eq!(err.user_message(), "办理时限不能早于当前时间");
    w.manager.route_problem(&pid, FINANCE, 2, T0 + 10 * DAY, "").unwrap();
    assert!(w.manager.escalate_problem(&pid, 3, "协调难度大", None, Some(T0 + 2 * DAY)).is_err());
}

#[test]
fn a_new_deadline_does_not_erase_lateness() {
    let w = World::new();
    let pid = w.cadre.report_problem(problem(&w.enterprise_id, None)).unwrap();
    w.sync_all();
    w.manager.route_problem(&pid, FINANCE, 2, T0 + DAY, "").unwrap();
    w.clock.advance(3 * DAY);
    // Late; re-routed with a fresh deadline, then resolved by it.
    w.manager.route_problem(&pid, FINANCE, 2, T0 + 10 * DAY, "改由财政局重新办理").unwrap();
    w.sync_all();
    w.handler.resolve_problem(&pid, "已办结").unwrap();
    let p = w.handler.problem(&pid).unwrap();
    assert_eq!((p.state.deadline, p.state.missed_deadline), (Some(T0 + 10 * DAY), Some(T0 + DAY)));
    assert_eq!(p.state.resolved_on_time(), Some(false));
}

#[test]
fn a_problem_left_unaccepted_falls_overdue_after_the_acceptance_limit() {
    let w = World::new();
    let pid = w.cadre.report_problem(problem(&w.enterprise_id, None)).unwrap();
    w.sync_all();
    let overdue = || w.manager.problems(&ProblemFilter { overdue: true, ..Default::default() }).unwrap();
    assert!(overdue().is_empty());
    w.clock.advance(4 * DAY);
    assert_eq!(overdue().iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), [pid.as_str()]);
    assert_eq!(w.manager.home_counts().unwrap().overdue, 1);
    w.manager.route_problem(&pid, FINANCE, 2, T0 + 10 * DAY, "").unwrap();
    assert!(overdue().is_empty());
}

#[test]
fn the_office_of_the_problems_level_accepts_routes_and_escalates_past_one_level() {
    let w = World::new();
    let city = w.store("mgr-city");
    let province = w.store("mgr-province");
    let pid = w.cadre.report_problem(problem(&w.enterprise_id, None)).unwrap();
    w.sync_all();
    send_all(&w.manager, &city);
    send_all(&w.manager, &province);
    // A cadre does not accept their own report; the city is not the office of a level-1 problem.
    assert!(w.cadre.accept_problem(&pid, "").is_err());
    let err = city.accept_problem(&pid, "").unwrap_err();
    assert!(err.user_message().contains("第1级"), "{}", err.user_message());
    // The county routes within its own levels (1–2), not at the city's or the province's.
    assert!(w.manager.route_problem(&pid, FINANCE, 5, T0 + 5 * DAY, "").is_err());
    assert!(w.manager.route_problem(&pid, FINANCE, 3, T0 + 5 * DAY, "").is_err());
    w.manager.accept_problem(&pid, "").unwrap();
    w.manager.route_problem(&pid, FINANCE, 2, T0 + 5 * DAY, "").unwrap();
    w.sync_all();
    // The handler may escalate one level up, not straight to the province.
    assert!(w.handler.escalate_problem(&pid, 5, "需省级协调", None, None).is_err());
    w.handler.escalate_problem(&pid, 3, "需市级协调", None, None).unwrap();
    w.sync_all();
    // Now at the city's level: the county may no longer re-route it; the city does.
    send_all(&w.handler, &city);
    assert!(w.manager.route_problem(&pid, FINANCE, 3, T0 + 6 * DAY, "").is_err());
    city.route_problem(&pid, LAND, 3, T0 + 6 * DAY, "市自然资源局牵头").unwrap();
    // Straight to the province: only by the province's office.
    assert!(city.escalate_problem(&pid, 5, "需省级协调", None, None).is_err());
    send_all(&city, &province);
    province.escalate_problem(&pid, 5, "省级挂牌督办", None, None).unwrap();
    assert_eq!(province.problem(&pid).unwrap().state.level, 5);
}

#[test]
fn the_office_corrects_an_enterprises_registered_facts_and_the_original_stays_in_the_history() {
    use zhuqi_core::domain::{Correction, uscc};
    let w = World::new();
    let ent = w.enterprise_id.clone();
    let code = uscc::complete("91410102MA44XY9K1").unwrap();
    let fix = Correction {
        name: Some("郑州精工机械股份有限公司".into()),
        uscc: Some(code.clone()),
        address: None,
        reason: "营业执照登记名称已变更".into(),
    };
    // Only the campaign office corrects; a reason and a valid credit code are required.
    assert!(w.cadre.correct_enterprise(&ent, fix.clone()).is_err());
    assert!(w.manager.correct_enterprise(&ent, Correction { reason: String::new(), ..fix.clone() }).is_err());
    let bad = Correction { uscc: Some("91410102MA44XY9K10".into()), ..fix.clone() };
    assert_eq!(w.manager.correct_enterprise(&ent, bad).unwrap_err().field(), Some("uscc"));
    assert!(w.manager.correct_enterprise(&ent, Correction { name: None, uscc: None, ..fix.clone() }).is_err());
    w.manager.correct_enterprise(&ent, fix).unwrap();
    w.sync_all();
    for store in [&w.manager, &w.cadre, &w.contact] {
        let e = store.enterprise(&ent).unwrap();
        assert_eq!((e.profile.name.as_str(), e.profile.uscc.as_str()), ("郑州精工机械股份有限公司", code.as_str()));
        assert_eq!(e.corrections.len(), 1);
        let c = &e.corrections[0];
        assert_eq!(c.previous.name.as_deref(), Some("郑州精工机械有限公司"));
        assert_eq!(c.previous.address, None, "only the fields corrected");
        assert_eq!((c.by.as_str(), c.correction.reason.as_str()), ("mgr-county", "营业执照登记名称已变更"));
    }
}

#[test]
fn a_reporter_withdraws_before_acceptance_and_the_office_merges_duplicates() {
    let w = World::new();
    let open = |s: &zhuqi_core::Store| s.home_counts().unwrap().open;
    // Withdrawal: by the reporter only, with a reason, only before the office accepts.
    let withdrawn = w.cadre.report_problem(problem(&w.enterprise_id, None)).unwrap();
    w.sync_all();
    assert!(w.manager.withdraw_problem(&withdrawn, "重复上报").is_err(), "only the reporter withdraws");
    assert!(w.cadre.withdraw_problem(&withdrawn, " ").is_err(), "a reason is required");
    w.cadre.withdraw_problem(&withdrawn, "企业已自行解决").unwrap();
    w.sync_all();
    for store in [&w.manager, &w.cadre, &w.contact] {
        let p = store.problem(&withdrawn).unwrap();
        assert_eq!(p.state.status, ProblemStatus::Withdrawn);
        assert!(
            matches!(&p.timeline.last().unwrap().action, ProblemAction::Withdrawn { reason } if reason == "企业已自行解决")
        );
        assert_eq!(open(store), 0, "a withdrawn problem is no open work");
    }
    assert!(w.manager.accept_problem(&withdrawn, "").is_err(), "nothing more happens to it");
    let accepted = w.cadre.report_problem(problem(&w.enterprise_id, None)).unwrap();
    w.sync_all();
    w.manager.accept_problem(&accepted, "").unwrap();
    w.sync_all();
    assert!(w.cadre.withdraw_problem(&accepted, "不需要了").is_err(), "accepted: too late to withdraw");

    // Merging: a duplicate into another problem of the same enterprise, by the office of its level.
    let duplicate = w.cadre.report_problem(problem(&w.enterprise_id, None)).unwrap();
    w.sync_all();
    assert_eq!(open(&w.manager), 2);
    assert!(w.cadre.merge_problem(&duplicate, &accepted, "重复").is_err(), "the office's decision");
    assert!(w.handler.merge_problem(&duplicate, &accepted, "重复").is_err());
    assert!(w.manager.merge_problem(&duplicate, &duplicate, "重复").is_err(), "not into itself");
    assert!(w.manager.merge_problem(&duplicate, &withdrawn, "重复").is_err(), "not into a withdrawn one");
    assert!(w.manager.merge_problem(&duplicate, &accepted, "").is_err(), "a reason is required");
    w.manager.merge_problem(&duplicate, &accepted, "与已受理问题重复").unwrap();
    w.sync_all();
    for store in [&w.manager, &w.cadre, &w.contact] {
        let p = store.problem(&duplicate).unwrap();
        assert_eq!((p.state.status, p.state.merged_into.as_deref()), (ProblemStatus::Merged, Some(accepted.as_str())));
        assert_eq!(store.problem(&accepted).unwrap().state.status, ProblemStatus::Accepted, "the other carries on");
        assert_eq!(open(store), 1);
    }
    assert!(w.manager.merge_problem(&accepted, &duplicate, "重复").is_err(), "not into a merged one");
    // A merged problem is never overdue, however long it waits.
    w.clock.advance(30 * DAY);
    assert!(!w.manager.problem(&duplicate).unwrap().summary.overdue);
}

#[test]
fn a_cadre_corrects_a_visit_within_seven_days_and_the_original_stays() {
    let w = World::new();
    let first = w.cadre.record_visit(&w.enterprise_id, visit("2026-03-02")).unwrap();
    w.sync_all();
    let mut fixed = visit("2026-03-01");
    fixed.notes = "了解融资需求，企业反映续贷困难".into();
    assert!(w.manager.correct_visit(&w.enterprise_id, &first, fixed.clone(), "日期记错").is_err(), "only its recorder");
    assert!(w.cadre.correct_visit(&w.enterprise_id, &first, fixed.clone(), "").is_err(), "a reason is required");
    assert!(w.cadre.correct_visit(&w.enterprise_id, "no-such-visit", fixed.clone(), "日期记错").is_err());
    w.cadre.correct_visit(&w.enterprise_id, &first, fixed.clone(), "日期记错").unwrap();
    w.sync_all();
    for store in [&w.manager, &w.cadre] {
        let v = store.enterprise(&w.enterprise_id).unwrap().visits.into_iter().find(|v| v.id == first).unwrap();
        assert_eq!((v.date.as_str(), v.notes.as_str()), ("2026-03-01", fixed.notes.as_str()));
        assert_eq!(v.corrections.len(), 1);
        assert_eq!(
            (v.corrections[0].previous.date.as_str(), v.corrections[0].reason.as_str()),
            ("2026-03-02", "日期记错")
        );
    }
    // Seven days after it was recorded, the record stands.
    w.clock.advance(7 * DAY + HOUR);
    let err = w.cadre.correct_visit(&w.enterprise_id, &first, visit("2026-03-03"), "再次更正").unwrap_err();
    assert!(err.user_message().contains("7天"), "{}", err.user_message());
}
