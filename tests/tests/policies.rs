//! Policies find enterprises, through a real relay and real device stores: a city office issues
//! policies with criteria; they reach every phone of the city (cadres, handlers, enterprise
//! contacts, offices) and no one outside it; a cadre's phone, offline, lists them for an enterprise
//! with the reasons it qualifies and what it lacks; revision and withdrawal reach the phones; and
//! hand-built pushes issuing a policy out of one's region, or as someone who is no office, are
//! refused by the relay.

use zhuqi_core::domain::DocKind;
use zhuqi_core::domain::policy::{Criteria, PolicyText};
use zhuqi_core::domain::text::date_of;
use zhuqi_core::store::SearchScope;
use zhuqi_tests::*;

fn policy(title: &str, criteria: Criteria) -> PolicyText {
    let now = zhuqi_server::now_ms();
    PolicyText {
        title: title.into(),
        issuer: "郑州市工业和信息化局".into(),
        doc_number: "郑工信〔2026〕12号".into(),
        summary: "对认定的专精特新企业给予一次性奖励".into(),
        text: "https://gxj.zhengzhou.gov.cn/".into(),
        valid_from: date_of(now - 30 * DAY),
        valid_until: date_of(now + 300 * DAY),
        contact_department: None,
        criteria,
        excludes: vec![],
    }
}

/// A relay with the test province and its two enterprises.
fn start(dir: &std::path::Path) -> Relay {
    let relay = Relay::start(&dir.join("relay"));
    seed_directory(relay.state.storage.as_ref());
    seed_enterprises(&relay.url, dir);
    relay
}

fn titles(m: &[zhuqi_core::store::PolicyMatch]) -> Vec<(&str, bool)> {
    m.iter().map(|m| (m.policy.title.as_str(), m.matched.qualifies)).collect()
}

#[test]
fn a_city_policy_finds_its_enterprises_on_every_phone_of_the_city_and_no_other() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = start(tmp.path());

    // The city office issues two policies: one for 专精特新 manufacturers of 中原区, one for 小巨人.
    let city = Device::sign_in(&relay.url, tmp.path(), "city");
    city.sync();
    let srdi =
        Criteria { regions: vec![COUNTY.into()], industries: vec!["装备制造".into()], tags: vec!["srdi".into()] };
    let reward = city.store.issue_policy(CITY, policy("专精特新企业奖励", srdi)).unwrap();
    let giant = Criteria { tags: vec!["little_giant".into()], ..Default::default() };
    let giants = city.store.issue_policy(CITY, policy("小巨人企业研发补助", giant)).unwrap();
    assert_eq!(city.sync().pushed, 2);
    // A county's own policy reaches its county only.
    let county = Device::sign_in(&relay.url, tmp.path(), "manager");
    county.sync();
    let local = county.store.issue_policy(COUNTY, policy("中原区稳岗补贴", Criteria::default())).unwrap();
    county.sync();

    // Every phone of the city holds the city's policies; the county's reaches its county only.
    let held = |login: &str| {
        let d = Device::sign_in(&relay.url, tmp.path(), login);
        d.sync();
        let mut ids: Vec<String> = d.store.policies().unwrap().into_iter().map(|p| p.id).collect();
        ids.sort();
        (d, ids)
    };
    let mut all = vec![reward.clone(), giants.clone(), local.clone()];
    all.sort();
    let mut city_only = vec![reward.clone(), giants.clone()];
    city_only.sort();
    for login in ["cadre", "handler", "contact", "manager"] {
        assert_eq!(held(login).1, all, "{login}");
    }
    for login in ["cadre-b", "handler-b", "contact-b", "manager-b"] {
        assert_eq!(held(login).1, city_only, "{login}");
    }

    // The cadre's phone, offline: for enterprise A the reward qualifies with its reasons, the
    // 小巨人 subsidy does not, saying why; for the city's policy list, only A qualifies.
    let (cadre, _) = held("cadre");
    let for_a = cadre.store.policies_for(ENT_A).unwrap();
    let mut qualifying: Vec<_> = titles(&for_a).into_iter().filter(|(_, q)| *q).map(|(t, _)| t).collect();
    qualifying.sort();
    let mut expected = ["中原区稳岗补贴", "专精特新企业奖励"];
    expected.sort();
    assert_eq!(qualifying, expected);
    let reward_match = for_a.iter().find(|m| m.policy.id == reward).unwrap();
    assert!(reward_match.matched.qualifies);
    assert_eq!(reward_match.matched.reasons, ["地区：中原区", "行业：装备制造", "标签：专精特新"]);
    let giant_match = for_a.iter().find(|m| m.policy.id == giants).unwrap();
    assert!(!giant_match.matched.qualifies);
    assert_eq!(giant_match.matched.missing, ["标签：需为小巨人之一"]);
    assert_eq!(for_a.last().unwrap().policy.id, giants, "what qualifies comes first");
    assert_eq!(cadre.store.enterprises_for(&reward).unwrap(), [(ENT_A.to_owned(), "郑州精工机械有限公司".to_owned())]);
    // The visit records the policy explained, by id; an id of no policy the phone holds is refused.
    let mut explained = zhuqi_tests::photo::visit_with(vec![]);
    explained.policy_ids = vec![reward.clone()];
    let visit = cadre.store.record_visit(ENT_A, explained).unwrap();
    let mut unknown = zhuqi_tests::photo::visit_with(vec![]);
    unknown.policy_ids = vec!["no-such-policy".into()];
    assert!(cadre.store.record_visit(ENT_A, unknown).is_err());
    assert_eq!(cadre.sync().rejected, 0);
    let recorded = cadre.store.enterprise(ENT_A).unwrap();
    assert_eq!(recorded.visits.iter().find(|v| v.id == visit).unwrap().policy_ids, [reward.clone()]);
    let found = cadre.store.search("研发补助", SearchScope::Policies, 0, 10).unwrap();
    assert_eq!(found.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), [giants.as_str()]);
    assert_eq!(cadre.store.search("郑工信", SearchScope::Policies, 0, 10).unwrap().len(), 3, "by document number");
    // The other county's cadre: enterprise B is outside the reward's region.
    let (cadre_b, _) = held("cadre-b");
    let for_b = cadre_b.store.policies_for(ENT_B).unwrap();
    let b_reward = for_b.iter().find(|m| m.policy.id == reward).unwrap();
    assert_eq!(b_reward.matched.missing, ["地区：需在中原区"]);
    // The city office sees which enterprises qualify among all it holds.
    city.sync();
    assert_eq!(city.store.enterprises_for(&reward).unwrap().len(), 1);

    // A revision and a withdrawal reach the phones.
    let mut revised = policy("专精特新企业奖励（修订）", Criteria { tags: vec!["srdi".into()], ..Default::default() });
    revised.summary = "奖励标准提高到50万元".into();
    city.store.revise_policy(&reward, revised, "奖励标准调整").unwrap();
    city.store.withdraw_policy(&giants, "政策到期").unwrap();
    city.sync();
    cadre_b.sync();
    let for_b = cadre_b.store.policies_for(ENT_B).unwrap();
    assert!(for_b.iter().all(|m| m.policy.id != giants), "withdrawn: offered to nobody");
    let b_reward = for_b.iter().find(|m| m.policy.id == reward).unwrap();
    assert!(b_reward.matched.qualifies, "the revision drops the region: {:?}", b_reward.matched);
    assert_eq!(b_reward.policy.title, "专精特新企业奖励（修订）");
    assert!(cadre_b.store.policies().unwrap().iter().any(|p| p.id == giants && p.withdrawn));
    // Only offices over the policy's region may change it.
    assert!(county.store.withdraw_policy(&reward, "越权").is_err());
    assert!(county.store.issue_policy(CITY, policy("越权发布", Criteria::default())).is_err());
}

#[test]
fn hand_built_policies_out_of_region_or_by_anyone_but_an_office_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    seed_directory(relay.state.storage.as_ref());
    for (login, region, criteria_region, accepted) in [
        ("manager", CITY, None, false),                 // above its own region
        ("manager", COUNTY, Some(OTHER_COUNTY), false), // criteria outside the issuing region
        ("manager-b", COUNTY, None, false),             // another county's
        ("cadre", COUNTY, None, false),                 // not an office
        ("contact", COUNTY, None, false),
        ("handler", COUNTY, None, false),
        ("manager", COUNTY, Some(COUNTY), true),
        ("city", COUNTY, None, true), // an office over the region
    ] {
        let c = RawClient::sign_in(&relay.url, login);
        let id = uuid::Uuid::now_v7().to_string();
        let criteria =
            Criteria { regions: criteria_region.into_iter().map(Into::into).collect(), ..Default::default() };
        let issue =
            zhuqi_core::domain::PolicyAction::Issued { region_id: region.into(), policy: policy("政策", criteria) };
        let (_, change) = zhuqi_core::document::Document::create(
            DocKind::Policy,
            &id,
            &[("region_id", region)],
            c.actor.clone(),
            &c.event(issue.clone(), vec![]),
        )
        .unwrap();
        let resp = c.push(&id, DocKind::Policy, vec![change.raw_bytes().to_vec()]);
        assert_eq!(resp.rejected.is_empty(), accepted, "{login} issuing for {region} ({criteria_region:?})");
        // A header naming another region than the issue is refused whoever writes it.
        let id = uuid::Uuid::now_v7().to_string();
        let (_, change) = zhuqi_core::document::Document::create(
            DocKind::Policy,
            &id,
            &[("region_id", OTHER_COUNTY)],
            c.actor.clone(),
            &c.event(issue, vec![]),
        )
        .unwrap();
        assert!(!c.push(&id, DocKind::Policy, vec![change.raw_bytes().to_vec()]).rejected.is_empty());
    }
}

#[test]
fn an_enterprise_marks_a_policy_applied_and_is_warned_of_a_second_or_exclusive_application() {
    use zhuqi_core::domain::EnterpriseAction;
    let tmp = tempfile::tempdir().unwrap();
    let relay = start(tmp.path());
    let city = Device::sign_in(&relay.url, tmp.path(), "city");
    city.sync();
    let reward = city.store.issue_policy(CITY, policy("专精特新企业奖励", Criteria::default())).unwrap();
    let mut other = policy("企业研发费用补助", Criteria::default());
    other.excludes = vec![reward.clone()];
    let exclusive = city.store.issue_policy(CITY, other).unwrap();
    city.sync();

    // The enterprise's own phone: it applies, is warned when it applies again, and when it applies
    // for a policy that may not be combined with the first.
    let contact = Device::sign_in(&relay.url, tmp.path(), "contact");
    contact.sync();
    assert!(contact.store.policies_for(ENT_A).unwrap().iter().all(|m| m.mark.is_none()));
    assert!(contact.store.mark_policy(ENT_A, &reward, "applied").unwrap().is_empty());
    assert_eq!(
        contact.store.mark_policy(ENT_A, &reward, "applied").unwrap(),
        ["已申报过《专精特新企业奖励》，请勿重复申报"]
    );
    assert!(contact.store.mark_policy(ENT_A, &exclusive, "interested").unwrap().is_empty(), "interest is free");
    assert_eq!(
        contact.store.mark_policy(ENT_A, &exclusive, "applied").unwrap(),
        ["与已申报的《专精特新企业奖励》不可叠加享受"]
    );
    assert!(contact.store.mark_policy(ENT_A, &reward, "finished").is_err(), "an unknown mark");
    assert!(contact.store.mark_policy(ENT_A, "no-such-policy", "applied").is_err());
    assert_eq!(contact.sync().rejected, 0);
    // Its cadre sees where the enterprise stands.
    let cadre = Device::sign_in(&relay.url, tmp.path(), "cadre");
    cadre.sync();
    let marks: Vec<_> = cadre.store.policies_for(ENT_A).unwrap().into_iter().map(|m| (m.policy.id, m.mark)).collect();
    assert!(
        marks.contains(&(reward.clone(), Some("applied".into())))
            && marks.contains(&(exclusive, Some("applied".into())))
    );

    // Nobody else marks for it: a handler's or another enterprise's hand-built mark is refused.
    for login in ["handler", "contact-b", "manager-b"] {
        let raw = RawClient::sign_in(&relay.url, login);
        let change = raw.append(
            &relay_snapshot(&relay, ENT_A),
            EnterpriseAction::PolicyMarked { policy_id: reward.clone(), mark: "applied".into() },
        );
        assert!(!raw.push(ENT_A, DocKind::Enterprise, vec![change]).rejected.is_empty(), "{login}");
    }
}

#[test]
fn hand_built_visits_naming_too_many_or_malformed_policy_ids_are_refused_and_change_nothing() {
    use zhuqi_core::domain::{EnterpriseAction, VisitRecord};
    let tmp = tempfile::tempdir().unwrap();
    let relay = start(tmp.path());
    let cadre = RawClient::sign_in(&relay.url, "cadre");
    let visit = |policy_ids: Vec<String>| VisitRecord {
        id: uuid::Uuid::now_v7().to_string(),
        date: date_of(zhuqi_server::now_ms()),
        people_met: vec!["刘总".into()],
        notes: "宣讲政策".into(),
        policies: vec![],
        policy_ids,
        location: None,
        photos: vec![],
    };
    let before = relay_snapshot(&relay, ENT_A);
    for ids in [(0..31).map(|i| format!("policy-{i}")).collect::<Vec<_>>(), vec!["../etc".into()], vec![String::new()]]
    {
        let change = cadre.append(&before, EnterpriseAction::VisitRecorded { visit: visit(ids.clone()) });
        assert!(!cadre.push(ENT_A, DocKind::Enterprise, vec![change]).rejected.is_empty(), "{ids:?}");
        assert_eq!(relay_snapshot(&relay, ENT_A), before, "nothing stored");
    }
    // Thirty well-formed ids pass the relay's checks (whether they name policies is the phone's).
    let ids: Vec<String> = (0..30).map(|i| format!("policy-{i}")).collect();
    let change = cadre.append(&before, EnterpriseAction::VisitRecorded { visit: visit(ids) });
    assert!(cadre.push(ENT_A, DocKind::Enterprise, vec![change]).rejected.is_empty());
}
