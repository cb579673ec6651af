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
    let srdi = Criteria {
        regions: vec![COUNTY.into()],
        industries: vec!["装备制造".into()],
        tags: vec!["srdi".into()],
        ..Default::default()
    };
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
    let told = |d: &Device| -> Vec<(String, String, bool)> {
        let candidates = d.store.enterprises_for(&reward).unwrap();
        candidates.into_iter().map(|c| (c.enterprise_id, c.name, c.told)).collect()
    };
    assert_eq!(told(&cadre), [(ENT_A.into(), "郑州精工机械有限公司".into(), false)]);
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
    assert_eq!(told(&cadre), [(ENT_A.into(), "郑州精工机械有限公司".into(), true)], "told on the visit");
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
    assert_eq!(told(&city), [(ENT_A.into(), "郑州精工机械有限公司".into(), true)]);

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

/// The rows of a CSV export (its BOM dropped), header first.
fn csv_rows(body: &str) -> Vec<Vec<String>> {
    let body = body.trim_start_matches('\u{feff}');
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(body.as_bytes());
    reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect()
}

#[test]
fn an_office_sets_scale_imports_policies_and_sees_their_reach_on_the_dashboard() {
    use zhuqi_core::domain::{EnterpriseAction, Scale};
    let tmp = tempfile::tempdir().unwrap();
    let relay = start(tmp.path());
    let now = zhuqi_server::now_ms();

    // The county office gives enterprise A its scale: 50 people and 1,000 万元 (small), founded
    // 400 days ago. Its cadre can't; hand-built, neither the cadre, another county's office nor
    // impossible figures get through.
    let office = Device::sign_in(&relay.url, tmp.path(), "manager");
    office.sync();
    let scale = Scale { employees: Some(50), revenue: Some(1_000), founded: Some(date_of(now - 400 * DAY)) };
    office.store.set_enterprise_scale(ENT_A, scale.clone()).unwrap();
    assert_eq!(office.sync().rejected, 0);
    let cadre = Device::sign_in(&relay.url, tmp.path(), "cadre");
    cadre.sync();
    assert!(cadre.store.set_enterprise_scale(ENT_A, Scale::default()).is_err());
    assert_eq!(cadre.store.enterprise(ENT_A).unwrap().profile.scale, scale);
    for (login, scale) in [
        ("cadre", Scale { employees: Some(5), ..Default::default() }),
        ("manager-b", Scale { employees: Some(5), ..Default::default() }),
        ("manager", Scale { employees: Some(6_000_000), ..Default::default() }),
        ("manager", Scale { founded: Some("2026-02-30".into()), ..Default::default() }),
    ] {
        let raw = RawClient::sign_in(&relay.url, login);
        let change = raw.append(&relay_snapshot(&relay, ENT_A), EnterpriseAction::ScaleSet { scale: scale.clone() });
        assert!(!raw.push(ENT_A, DocKind::Enterprise, vec![change]).rejected.is_empty(), "{login} {scale:?}");
    }

    // The city office imports its policies from a spreadsheet export. A bad row is reported with
    // its line and nothing is imported.
    let (from, until) = (date_of(now - 30 * DAY), date_of(now + 300 * DAY));
    let header = "发布地区,政策名称,发文单位,文号,摘要,生效日期,截止日期,企业规模,成立满年数,成立不满年数,不可叠加";
    let small = format!(
        "郑州市,小微企业稳岗补贴,郑州市人力资源和社会保障局,郑人社〔2026〕3号,按参保人数给予补贴,{from},{until},小型、微型,,3,"
    );
    let old = format!(
        "{CITY},老字号技改补助,郑州市工业和信息化局,郑工信〔2026〕8号,技术改造投资补助,{from},{until},,5,,郑人社〔2026〕3号"
    );
    let bad = format!("郑州市,大企业奖励,郑州市人民政府,郑政〔2026〕1号,奖励,{from},{until},巨型,,,");
    let file = |rows: &[&str]| format!("2026年惠企政策清单\n{header}\n{}\n", rows.join("\n")).into_bytes();
    let err = zhuqi_server::admin::import::policies(&relay.state, &file(&[&small, &bad])).unwrap_err().to_string();
    assert!(err.contains("第4行") && err.contains("巨型"), "{err}");
    let unknown_exclude = old.replace("郑人社〔2026〕3号", "豫政〔1999〕1号");
    for (rows, wanted) in [
        (vec![small.replace("郑州市,小微", "火星市,小微")], "地区 火星市 不存在"),
        (vec![small.replace("小型、微型", "小型、巨型")], "巨型"),
        (vec![small.clone(), small.clone()], "重复"),
        (vec![unknown_exclude], "豫政〔1999〕1号 不存在"),
        (vec![small.replace(&from, "2026-13-01")], "生效日期"),
        (vec![small.replace(",3,", ",三年,")], "年数应为整数"),
    ] {
        let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
        let err = zhuqi_server::admin::import::policies(&relay.state, &file(&rows)).unwrap_err().to_string();
        assert!(err.starts_with("第") && err.contains(wanted), "{wanted}: {err}");
    }
    assert!(relay.state.storage.policy_rows().unwrap().is_empty(), "nothing of a bad file is imported");
    assert_eq!(zhuqi_server::admin::import::policies(&relay.state, &file(&[&small, &old])).unwrap(), 2);
    let err = zhuqi_server::admin::import::policies(&relay.state, &file(&[&small])).unwrap_err().to_string();
    assert!(err.contains("第3行") && err.contains("已发布"), "a file imported twice: {err}");
    let stored = relay.state.storage.policy_rows().unwrap();
    let id_of = |title: &str| stored.iter().find(|p| p.title == title).unwrap().id.clone();
    let (small_id, old_id) = (id_of("小微企业稳岗补贴"), id_of("老字号技改补助"));

    // On the cadre's phone, offline: A qualifies for the small-business subsidy by its size and
    // age, not (yet) for the old-brand one; B, with no figures, for neither.
    cadre.sync();
    let for_a = cadre.store.policies_for(ENT_A).unwrap();
    let m = |id: &str| for_a.iter().find(|m| m.policy.id == id).unwrap().clone();
    assert_eq!(m(&small_id).matched.reasons, ["地区：郑州市", "规模：小型企业", "成立年限：1年"]);
    assert_eq!(m(&old_id).matched.missing, ["成立年限：需成立满5年（现1年）"]);
    assert_eq!(m(&old_id).policy.excludes, [small_id.clone()], "不可叠加 by 文号, resolved to the policy");
    let cadre_b = Device::sign_in(&relay.url, tmp.path(), "cadre-b");
    cadre_b.sync();
    let b_small = cadre_b.store.policies_for(ENT_B).unwrap().into_iter().find(|m| m.policy.id == small_id).unwrap();
    assert_eq!(
        b_small.matched.missing,
        ["规模：需为小型、微型企业（未登记从业人员或营业收入）", "成立年限：需成立不满3年（未登记成立日期）"]
    );

    // The cadre explains it on a visit; the enterprise applies.
    let mut visit = zhuqi_tests::photo::visit_with(vec![]);
    visit.policy_ids = vec![small_id.clone(), old_id.clone()];
    let visit_id = cadre.store.record_visit(ENT_A, visit.clone()).unwrap();
    assert_eq!(cadre.sync().rejected, 0);
    // A correction: the old-brand policy was not explained after all.
    visit.policy_ids = vec![small_id.clone()];
    cadre.store.correct_visit(ENT_A, &visit_id, visit, "误选政策").unwrap();
    assert_eq!(cadre.sync().rejected, 0);
    let contact = Device::sign_in(&relay.url, tmp.path(), "contact");
    contact.sync();
    contact.store.mark_policy(ENT_A, &small_id, "applied").unwrap();
    contact.store.mark_policy(ENT_A, &old_id, "interested").unwrap();
    assert_eq!(contact.sync().rejected, 0);

    // The city office's dashboard: each policy's reach, each county's, and who matches nothing.
    let export = |login: &str| {
        let mut b = zhuqi_tests::browser::Browser::new(&relay.url);
        b.sign_in(login, PASSWORD);
        let (status, page, _) = b.get("/policies");
        assert_eq!(status, 200);
        let (status, csv, _) = b.get("/export/policies.csv");
        assert_eq!(status, 200);
        (page, csv_rows(&csv))
    };
    let (page, rows) = export("city");
    let heads = ["政策", "文号", "发文单位", "状态", "符合条件企业", "已宣讲", "有意向", "已申报"];
    assert_eq!(rows[0], heads);
    let row = |rows: &[Vec<String>], title: &str| -> Vec<String> {
        rows.iter().find(|r| r[0] == title).unwrap_or_else(|| panic!("{title} in {rows:?}"))[3..].to_vec()
    };
    assert_eq!(row(&rows, "小微企业稳岗补贴"), ["在效", "1", "1", "0", "1"]);
    assert_eq!(row(&rows, "老字号技改补助"), ["在效", "0", "0", "1", "0"]);
    assert!(page.contains("无匹配政策的企业（1家）") && page.contains("二七纺织有限公司"), "{page}");
    assert!(page.contains(r#"id="region-reach""#) && page.contains("中原区") && page.contains("二七区"));
    // Another county's office sees its own enterprises only.
    let (page_b, rows_b) = export("manager-b");
    assert_eq!(row(&rows_b, "小微企业稳岗补贴"), ["在效", "0", "0", "0", "0"]);
    assert!(page_b.contains("二七纺织有限公司") && !page_b.contains("郑州精工机械有限公司"));

    // The projections written before an upgrade are rebuilt from the documents when it asks.
    let db = rusqlite::Connection::open(tmp.path().join("relay").join("relay.db")).unwrap();
    db.execute_batch(
        "DELETE FROM policies; DELETE FROM enterprise_policies; UPDATE enterprises SET employees = NULL;
         INSERT INTO counters (name, value) VALUES ('reproject', 1);",
    )
    .unwrap();
    assert_eq!(export("city").1.len(), 1, "nothing projected");
    assert_eq!(relay.state.storage.reproject().unwrap(), 4, "two enterprises, two policies");
    assert_eq!(export("city").1, rows);
    assert_eq!(relay.state.storage.reproject().unwrap(), 0, "once");

    // A year's figures for enterprises registered before: B, now known to be small and young,
    // qualifies and no enterprise is left unmatched. An unknown enterprise is refused by line.
    let scales = |rows: &str| format!("统一社会信用代码,从业人员,营业收入,成立日期\n{rows}").into_bytes();
    let founded = date_of(now - 700 * DAY);
    let err = zhuqi_server::admin::import::scales(&relay.state, &scales("91410105MA00000000,1,1,\n")).unwrap_err();
    assert!(err.to_string().starts_with("第2行"), "{err}");
    let rows = format!("{ENT_B},\"1,200\",800.4,{founded}\n");
    assert_eq!(zhuqi_server::admin::import::scales(&relay.state, &scales(&rows)).unwrap(), 1);
    cadre_b.sync();
    let b = cadre_b.store.enterprise(ENT_B).unwrap().profile.scale;
    assert_eq!(b, Scale { employees: Some(1_200), revenue: Some(800), founded: Some(founded) }, "800.4 万元 rounded");
    let (page, rows) = export("city");
    assert_eq!(row(&rows, "小微企业稳岗补贴"), ["在效", "2", "1", "0", "1"]);
    assert!(page.contains("无匹配政策的企业（0家）"), "{page}");
}
