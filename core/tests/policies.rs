//! Policies matched on the phone by an enterprise's scale (size band and age), and a store that
//! held enterprises before their scale was indexed: filled when it opens.

mod common;

use common::*;
use zhuqi_core::domain::Scale;
use zhuqi_core::domain::policy::{Criteria, PolicyText};

#[test]
fn scale_criteria_match_and_an_upgraded_store_indexes_its_enterprises_scale() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let office = open(tmp.path(), &directory(ENTERPRISE), "mgr-county", &clock);
    let mut p = profile("郑州精工机械有限公司", COUNTY);
    p.scale = Scale { employees: Some(350), revenue: Some(2_500), founded: Some("2015-05-01".into()) };
    let ent = office.register_enterprise(p).unwrap();
    let policy = |title: &str, criteria: Criteria| PolicyText {
        title: title.into(),
        issuer: "中原区工业和信息化局".into(),
        summary: "奖励".into(),
        valid_from: "2020-01-01".into(),
        valid_until: "2099-12-31".into(),
        criteria,
        ..Default::default()
    };
    let medium = Criteria { sizes: vec!["medium".into()], min_age_years: Some(5), ..Default::default() };
    let medium = office.issue_policy(COUNTY, policy("中型企业技改奖励", medium)).unwrap();
    let young = Criteria { under_age_years: Some(3), ..Default::default() };
    let young = office.issue_policy(COUNTY, policy("初创企业房租补贴", young)).unwrap();
    let matched = |store: &zhuqi_core::store::Store| {
        let m = store.policies_for(&ent).unwrap();
        let of = |id: &str| m.iter().find(|m| m.policy.id == id).unwrap().matched.clone();
        (of(&medium), of(&young))
    };
    let (m, y) = matched(&office);
    assert!(m.qualifies, "{m:?}");
    assert!(m.reasons.contains(&"规模：中型企业".to_owned()), "{m:?}");
    assert!(!y.qualifies && y.missing[0].starts_with("成立年限：需成立不满3年（现"), "{y:?}");
    assert_eq!(office.enterprises_for(&medium).unwrap().len(), 1);
    // The figures change: a small enterprise now, and nothing qualifies.
    office.set_enterprise_scale(&ent, Scale { employees: Some(30), ..Default::default() }).unwrap();
    let (m, _) = matched(&office);
    assert_eq!(m.missing[0], "规模：需为中型企业（未登记从业人员或营业收入）");
    office
        .set_enterprise_scale(
            &ent,
            Scale { employees: Some(350), revenue: Some(2_500), founded: Some("2015-05-01".into()) },
        )
        .unwrap();
    drop(office);

    // As a store of version 8 upgraded: no scale in the index, and the upgrade's request to index.
    let conn = rusqlite::Connection::open(tmp.path().join("mgr-county.db")).unwrap();
    conn.execute_batch(
        "UPDATE enterprises SET employees = NULL, revenue = NULL, founded = NULL;
         DELETE FROM enterprise_policies;
         INSERT INTO meta (key, value) VALUES ('reindex', 'enterprises');",
    )
    .unwrap();
    drop(conn);
    let office = open(tmp.path(), &directory(ENTERPRISE), "mgr-county", &clock);
    assert!(matched(&office).0.qualifies, "the scale is back in the index");
}
