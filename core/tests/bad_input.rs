//! Every kind of bad input gets a typed error naming the field, in Chinese and English, and leaves the
//! store exactly as it was.

mod common;

use common::*;
use zhuqi_core::domain::{Location, ProblemAction};
use zhuqi_core::error::{Denied, DomainError, Entity, Error, Invalid};
use zhuqi_core::store::Store;

/// Runs `f`, expects an error, and checks that nothing was written.
fn refused(store: &Store, f: impl FnOnce(&Store) -> zhuqi_core::Result<()>) -> Error {
    let before = (store.index_rows().unwrap(), store.pending_changes().unwrap().len());
    let err = f(store).expect_err("must be refused");
    assert!(!err.user_message().is_empty());
    assert!(!err.to_string().is_empty());
    store.clear_cache(); // compare with what is on disk, not in memory
    assert_eq!((store.index_rows().unwrap(), store.pending_changes().unwrap().len()), before, "nothing written");
    err
}

fn field_of(e: &Error) -> &'static str {
    e.field().unwrap_or_else(|| panic!("not a validation error: {e:?}"))
}

#[test]
fn bad_credit_codes() {
    let w = World::new();
    let good = profile("新企业", COUNTY);
    let mut wrong_digit = good.clone();
    let last = wrong_digit.uscc.pop().unwrap();
    wrong_digit.uscc.push(if last == '1' { '2' } else { '1' });
    let e = refused(&w.manager, |s| s.register_enterprise(wrong_digit).map(drop));
    assert!(matches!(e, Error::Domain(DomainError::Validation { field: "uscc", kind: Invalid::CheckDigit })));
    assert_eq!(e.user_message(), "统一社会信用代码校验位不正确，请核对");
    for code in ["", "9141", "91410102MA44XY8KIO", "９１４１０１０２ＭＡ４４ＸＹ８Ｋ１２"] {
        let mut p = good.clone();
        p.uscc = code.into();
        let e = refused(&w.manager, |s| s.register_enterprise(p).map(drop));
        assert_eq!(field_of(&e), "uscc", "{code}");
    }
}

#[test]
fn empty_and_oversized_text() {
    let w = World::new();
    let ent = w.enterprise_id.clone();
    let mut v = visit("2026-03-02");
    v.notes = "   ".into();
    let e = refused(&w.cadre, |s| s.record_visit(&ent, v).map(drop));
    assert!(matches!(e, Error::Domain(DomainError::Validation { field: "visit.notes", kind: Invalid::Empty })));
    assert_eq!(e.user_message(), "走访记录不能为空");

    let mut v = visit("2026-03-02");
    v.notes = "很".repeat(4001);
    let e = refused(&w.cadre, |s| s.record_visit(&ent, v).map(drop));
    assert!(matches!(
        e,
        Error::Domain(DomainError::Validation { field: "visit.notes", kind: Invalid::TooLong { max: 4000 } })
    ));
    // 4000 Chinese characters are 12,000 bytes and still fine: limits count characters.
    let mut v = visit("2026-03-02");
    v.notes = "很".repeat(4000);
    w.cadre.record_visit(&ent, v).unwrap();

    let mut v = visit("2026-03-02");
    v.people_met = vec![];
    assert_eq!(field_of(&refused(&w.cadre, |s| s.record_visit(&ent, v).map(drop))), "visit.people_met");

    let mut p = problem(&ent, None);
    p.title = "x".repeat(101);
    assert_eq!(field_of(&refused(&w.cadre, |s| s.report_problem(p).map(drop))), "title");
    let mut p = problem(&ent, None);
    p.description = String::new();
    assert_eq!(field_of(&refused(&w.cadre, |s| s.report_problem(p).map(drop))), "description");
    let mut p = problem(&ent, None);
    p.title = "标题\u{7}".into();
    assert_eq!(field_of(&refused(&w.cadre, |s| s.report_problem(p).map(drop))), "title");
}

#[test]
fn dates_and_locations_out_of_range() {
    let w = World::new();
    let ent = w.enterprise_id.clone();
    for (date, field) in [("2026-02-30", "visit.date"), ("2026/03/01", "visit.date"), ("2026-03-09", "visit.date")] {
        let v = visit(date);
        assert_eq!(field_of(&refused(&w.cadre, |s| s.record_visit(&ent, v).map(drop))), field, "{date}");
    }
    for (lat, lon, acc, field) in [
        (91.0, 113.0, 5.0, "location.lat"),
        (-90.5, 113.0, 5.0, "location.lat"),
        (34.0, 180.1, 5.0, "location.lon"),
        (34.0, f64::INFINITY, 5.0, "location.lon"),
        (34.0, 113.0, -1.0, "location.accuracy"),
    ] {
        let mut v = visit("2026-03-01");
        v.location = Some(Location { lat, lon, accuracy_m: acc, mock: false });
        let e = refused(&w.cadre, |s| s.record_visit(&ent, v).map(drop));
        assert_eq!(field_of(&e), field);
    }
}

#[test]
fn ratings_deadlines_and_levels() {
    let w = World::new();
    let pid = w.cadre.report_problem(problem(&w.enterprise_id, None)).unwrap();
    w.sync_all();
    // Deadline before the report time.
    let e = refused(&w.manager, |s| s.route_problem(&pid, FINANCE, 1, T0 - HOUR, ""));
    assert!(matches!(
        e,
        Error::Domain(DomainError::Validation { field: "deadline", kind: Invalid::DeadlineBeforeReport })
    ));
    assert_eq!(e.user_message(), "办理时限不能早于问题上报时间");
    let e = refused(&w.manager, |s| s.route_problem(&pid, FINANCE, 6, T0 + DAY, ""));
    assert_eq!(field_of(&e), "level");
    w.manager.route_problem(&pid, FINANCE, 2, T0 + DAY, "").unwrap();
    let e = refused(&w.manager, |s| s.escalate_problem(&pid, 2, "原因", None, None));
    assert!(matches!(
        e,
        Error::Domain(DomainError::Validation { field: "level", kind: Invalid::LevelNotHigher { current: 2 } })
    ));
    let e = refused(&w.manager, |s| s.escalate_problem(&pid, 3, "", None, None));
    assert_eq!(field_of(&e), "reason");
    w.sync_all();
    w.handler.resolve_problem(&pid, "已办结").unwrap();
    w.sync_all();
    for rating in [0u8, 6, 255] {
        let e = refused(&w.contact, |s| s.confirm_resolution(&pid, rating, ""));
        assert!(matches!(
            e,
            Error::Domain(DomainError::Validation { field: "rating", kind: Invalid::OutOfRange { min: 1, max: 5 } })
        ));
        assert_eq!(e.user_message(), "满意度评分应在1到5之间");
    }
}

#[test]
fn unknown_ids() {
    let w = World::new();
    let e = refused(&w.cadre, |s| s.record_visit("no-such-enterprise", visit("2026-03-01")).map(drop));
    assert!(matches!(e, Error::Domain(DomainError::NotFound { what: Entity::Enterprise, .. })));
    assert_eq!(e.user_message(), "找不到该企业");
    let e = refused(&w.cadre, |s| s.add_progress("no-such-problem", "进展"));
    assert!(matches!(e, Error::Domain(DomainError::NotFound { what: Entity::Problem, .. })));
    let e = refused(&w.cadre, |s| s.report_problem(problem(&w.enterprise_id, Some("no-such-visit".into()))).map(drop));
    assert!(matches!(e, Error::Domain(DomainError::NotFound { what: Entity::Visit, .. })));
    let pid = w.cadre.report_problem(problem(&w.enterprise_id, None)).unwrap();
    w.sync_all();
    let e = refused(&w.manager, |s| s.route_problem(&pid, "no-such-dept", 1, T0 + DAY, ""));
    assert!(matches!(e, Error::Domain(DomainError::NotFound { what: Entity::Department, .. })));
    let e = refused(&w.manager, |s| s.assign_cadre(&w.enterprise_id, "no-such-cadre", false));
    assert!(matches!(e, Error::Domain(DomainError::NotFound { what: Entity::User, .. })));
    // The id of a problem is not the id of an enterprise.
    let e = refused(&w.cadre, |s| s.record_visit(&pid, visit("2026-03-01")).map(drop));
    assert!(matches!(e, Error::Domain(DomainError::NotFound { what: Entity::Enterprise, .. })));
    // Sync plumbing asks for a document of any kind, and names it so.
    for e in [w.cadre.save_document("no-such-doc").unwrap_err(), w.cadre.document_heads("no-such-doc").unwrap_err()] {
        assert!(matches!(e, Error::Domain(DomainError::NotFound { what: Entity::Document, .. })), "{e:?}");
        assert_eq!(e.user_message(), "找不到该数据文档");
    }
}

#[test]
fn a_task_notice_deadline_that_has_passed() {
    use zhuqi_core::domain::Recipient;
    use zhuqi_core::store::NewTaskNotice;
    let w = World::new();
    let notice = |deadline| NewTaskNotice {
        region_id: COUNTY.into(),
        title: "报送走访台账".into(),
        body: "请按期报送".into(),
        deadline,
        recipients: vec![Recipient::Department(FINANCE.into())],
    };
    for deadline in [T0 - DAY, T0] {
        let e = refused(&w.manager, |s| s.issue_task_notice(notice(deadline)).map(drop));
        assert!(
            matches!(e, Error::Domain(DomainError::Validation { field: "deadline", kind: Invalid::DeadlinePassed })),
            "{e:?}"
        );
        assert_eq!(e.user_message(), "办理时限不能早于当前时间");
    }
    w.manager.issue_task_notice(notice(T0 + DAY)).unwrap();
}

#[test]
fn a_category_of_a_newer_version_cannot_be_reported() {
    use zhuqi_core::domain::Category;
    let w = World::new();
    let mut p = problem(&w.enterprise_id, None);
    p.category = Category::from_stored("carbon_quota");
    let e = refused(&w.cadre, |s| s.report_problem(p).map(drop));
    assert_eq!(field_of(&e), "category");
}

#[test]
fn a_user_of_an_unknown_role_is_nobody_s_cadre() {
    use zhuqi_core::domain::{Role, User};
    let w = World::new();
    let mut dir = w.dir.clone();
    dir.users.push(User {
        id: "auditor-1".into(),
        name: "审计员".into(),
        role: Role::from_stored("auditor"),
        region_id: Some(COUNTY.into()),
        department_id: None,
        enterprise_id: None,
        mobile: None,
        position: None,
        unit: None,
    });
    w.manager.import_directory(&dir).unwrap();
    // Read back from the device's database, the role is not taken for a cadre's.
    let e = refused(&w.manager, |s| s.assign_cadre(&w.enterprise_id, "auditor-1", false));
    assert!(matches!(e, Error::Domain(DomainError::NotFound { what: Entity::User, .. })), "{e:?}");
}

#[test]
fn invalid_transitions() {
    let w = World::new();
    let pid = w.cadre.report_problem(problem(&w.enterprise_id, None)).unwrap();
    w.sync_all();
    let e = refused(&w.contact, |s| s.confirm_resolution(&pid, 5, ""));
    assert!(matches!(e, Error::Domain(DomainError::InvalidTransition { action: "confirm", status: "reported" })));
    assert_eq!(e.user_message(), "当前状态为“已上报”，不能确认");
    let e = refused(&w.manager, |s| s.close_problem(&pid, ""));
    assert!(matches!(e, Error::Domain(DomainError::InvalidTransition { action: "close", .. })));
    let e = refused(&w.manager, |s| s.urge_problem(&pid, ""));
    assert!(matches!(e, Error::Domain(DomainError::InvalidTransition { action: "urge", .. })));
    w.manager.route_problem(&pid, FINANCE, 1, T0 + DAY, "").unwrap();
    w.sync_all();
    w.handler.resolve_problem(&pid, "办结").unwrap();
    w.sync_all();
    w.contact.confirm_resolution(&pid, 4, "").unwrap();
    w.sync_all();
    w.manager.close_problem(&pid, "").unwrap();
    w.sync_all();
    let e = refused(&w.handler, |s| s.resolve_problem(&pid, "再次办结"));
    assert!(matches!(e, Error::Domain(DomainError::InvalidTransition { action: "resolve", status: "closed" })));
    assert_eq!(e.user_message(), "当前状态为“已销号”，不能办结");
    let e = refused(&w.contact, |s| s.reject_resolution(&pid, "不满意"));
    assert!(matches!(e, Error::Domain(DomainError::InvalidTransition { action: "reject", .. })));
    let e = refused(&w.cadre, |s| s.act_on_problem(&pid, ProblemAction::Unknown));
    assert!(matches!(e, Error::Domain(DomainError::InvalidTransition { .. })));
    let e = refused(&w.manager, |s| s.assign_cadre(&w.enterprise_id, "cadre-1", false));
    assert!(matches!(e, Error::Domain(DomainError::InvalidTransition { .. })));
}

#[test]
fn forbidden_actions_are_refused_before_anything_is_stored() {
    let w = World::new();
    let ent = w.enterprise_id.clone();
    let pid = w.cadre.report_problem(problem(&ent, None)).unwrap();
    w.sync_all();
    // An enterprise may not resolve its own problem, nor route it.
    let e = refused(&w.contact, |s| s.resolve_problem(&pid, "自己解决了"));
    assert!(matches!(e, Error::Domain(DomainError::NotAllowed { action: "resolve", .. })));
    refused(&w.contact, |s| s.route_problem(&pid, FINANCE, 1, T0 + DAY, ""));
    // A cadre not assigned to the enterprise may not record a visit there.
    let other = w.store("cadre-2");
    send_all(&w.manager, &other);
    let e = refused(&other, |s| s.record_visit(&ent, visit("2026-03-01")).map(drop));
    assert!(matches!(e, Error::Domain(DomainError::NotAllowed { reason: Denied::NotAssigned, .. })));
    assert_eq!(e.user_message(), "您未包联该企业，无权操作");
    // Another county's office may not route it; nor route to another county's department.
    let other_mgr = w.store("mgr-other");
    send_all(&w.manager, &other_mgr);
    let e = refused(&other_mgr, |s| s.route_problem(&pid, OTHER_DEPT, 1, T0 + DAY, ""));
    assert!(matches!(e, Error::Domain(DomainError::NotAllowed { reason: Denied::OutOfRegion, .. })));
    let e = refused(&w.manager, |s| s.route_problem(&pid, OTHER_DEPT, 1, T0 + DAY, ""));
    assert!(matches!(e, Error::Domain(DomainError::NotAllowed { reason: Denied::OutOfRegion, .. })));
    w.manager.route_problem(&pid, FINANCE, 1, T0 + DAY, "").unwrap();
    w.sync_all();
    // Another department's handler may not resolve it.
    let other_handler = w.store("handler-other");
    send_all(&w.manager, &other_handler);
    let e = refused(&other_handler, |s| s.resolve_problem(&pid, "办结"));
    assert!(matches!(e, Error::Domain(DomainError::NotAllowed { reason: Denied::NotRoutedToDepartment, .. })));
    // A handler may not confirm; a cadre may not close.
    w.handler.resolve_problem(&pid, "办结").unwrap();
    w.sync_all();
    refused(&w.handler, |s| s.confirm_resolution(&pid, 5, ""));
    refused(&w.cadre, |s| s.confirm_resolution(&pid, 5, ""));
    // Only the campaign office registers enterprises and assigns cadres.
    refused(&w.cadre, |s| s.register_enterprise(profile("某企业", COUNTY)).map(drop));
    refused(&w.cadre, |s| s.assign_cadre(&ent, "cadre-2", false));
    // A store belongs to one user.
    let e = Store::open(&w.tmp.path().join("cadre-1.db"), identity_of(&w.dir, "cadre-2", "p")).err().unwrap();
    assert!(matches!(e, Error::StoreOfAnotherUser));
}

/// A pulled page is stored in one transaction: a document in it that cannot be applied leaves
/// nothing of the page behind (on disk or in memory), and the whole page, pulled again, is stored.
#[test]
fn a_pulled_page_is_stored_whole_or_not_at_all() {
    use zhuqi_core::domain::DocKind;
    let w = World::new();
    let first = w.cadre.report_problem(problem(&w.enterprise_id, None)).unwrap();
    let second = w.cadre.report_problem(problem(&w.enterprise_id, None)).unwrap();
    let (a, b) = (vec![w.cadre.save_document(&first).unwrap()], vec![w.cadre.save_document(&second).unwrap()]);
    let garbage = vec![b"not an automerge change".to_vec()];
    let held = |s: &Store| s.document_ids().unwrap().into_iter().map(|(id, _)| id).collect::<Vec<_>>();
    let before = held(&w.handler);
    assert!(!before.contains(&first) && !before.contains(&second));

    let refused = w.handler.apply_remote_page(&[(&first, DocKind::Problem, &a), (&second, DocKind::Problem, &garbage)]);
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(held(&w.handler), before, "nothing of the refused page is kept");
    assert!(w.handler.save_document(&first).is_err(), "nor held in memory");

    let applied = w.handler.apply_remote_page(&[(&first, DocKind::Problem, &a), (&second, DocKind::Problem, &b)]).unwrap();
    assert!(applied.iter().all(|x| x.changed));
    let reopened = w.store("handler-1");
    let now = held(&reopened);
    assert!(now.contains(&first) && now.contains(&second));
    assert_eq!(reopened.save_document(&second).unwrap(), b[0]);
}
