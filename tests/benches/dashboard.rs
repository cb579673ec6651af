//! Dashboard benchmark: server time of the managers' pages for a county with 5,000 enterprises,
//! 20,000 problems and 500 policies. Run: `cargo bench -p zhuqi-tests --bench dashboard`.

use std::time::{Duration, Instant};
use zhuqi_core::domain::*;
use zhuqi_server::storage::Account;
use zhuqi_server::sync::author::Author;
use zhuqi_tests::Relay;

const COUNTY: &str = "410102";
const DAY: i64 = 86_400_000;

fn seed(relay: &Relay) {
    let region = |id: &str, level, parent: Option<&str>| Region {
        id: id.into(),
        name: format!("地区{id}"),
        level,
        parent_id: parent.map(Into::into),
    };
    let mut regions = vec![
        region("410000", RegionLevel::Province, None),
        region("410100", RegionLevel::City, Some("410000")),
        region(COUNTY, RegionLevel::County, Some("410100")),
    ];
    regions.extend((0..10).map(|t| region(&format!("{COUNTY}{t:03}"), RegionLevel::Township, Some(COUNTY))));
    let departments = (0..20)
        .map(|i| Department { id: format!("dept-{i}"), name: format!("第{i}局"), region_id: COUNTY.into() })
        .collect();
    let hash = zhuqi_server::auth::hash_password("bench password");
    let acct = |id: String, role, region: Option<&str>| Account {
        login: id.clone(),
        password_hash: Some(hash.clone()),
        user: User {
            id,
            name: "用户".into(),
            role,
            region_id: region.map(Into::into),
            department_id: None,
            enterprise_id: None,
            mobile: None,
            position: None,
            unit: None,
        },
    };
    let mut accounts = vec![acct("manager".into(), Role::Manager, Some(COUNTY))];
    accounts.extend((0..500).map(|i| acct(format!("cadre-{i}"), Role::Cadre, Some(COUNTY))));
    relay.state.storage.upsert_directory(&Directory { regions, departments, ..Default::default() }, &accounts).unwrap();
    let now = zhuqi_server::now_ms();
    let t0 = now - 60 * DAY;
    for batch in 0..5 {
        let mut a = Author::new(&relay.state, "manager").unwrap();
        for i in batch * 1000..(batch + 1) * 1000 {
            let id = format!("ent-{i:05}");
            let profile = Profile {
                name: format!("企业{i}"),
                uscc: uscc::complete(&format!("914101027{i:08}")).unwrap(),
                region_id: format!("{COUNTY}{:03}", i % 10),
                industry: ["制造", "食品", "纺织"][i % 3].into(),
                tags: if i % 4 == 0 { vec!["srdi".into()] } else { vec![] },
                address: String::new(),
                location: None,
                contacts: vec![],
                scale: Scale {
                    employees: Some((i * 37 % 2_000) as u32),
                    revenue: Some((i * 131 % 60_000) as u64),
                    founded: Some(format!("{}-{:02}-01", 1990 + i % 36, 1 + i % 12)),
                },
            };
            a.create(DocKind::Enterprise, &id, &[], EnterpriseAction::Registered { profile }, t0).unwrap();
            a.append(
                &id,
                EnterpriseAction::CadreAssigned { cadre_id: format!("cadre-{}", i % 500), chief: true },
                t0 + 1,
            )
            .unwrap();
        }
        a.submit_all().unwrap();
    }
    // 500 policies of the county, each narrowed by a township, an industry, a tag, a size or an age.
    let mut a = Author::new(&relay.state, "manager").unwrap();
    for i in 0..500usize {
        let criteria = policy::Criteria {
            regions: if i % 3 == 0 { vec![format!("{COUNTY}{:03}", i % 10)] } else { vec![] },
            industries: if i % 2 == 0 { vec!["制造".into()] } else { vec![] },
            tags: if i % 5 == 0 { vec!["srdi".into()] } else { vec![] },
            sizes: if i % 4 == 0 { vec!["small".into(), "micro".into()] } else { vec![] },
            min_age_years: (i % 7 == 0).then_some(3),
            under_age_years: None,
        };
        let text = policy::PolicyText {
            title: format!("第{i}号惠企政策"),
            issuer: "中原区人民政府".into(),
            doc_number: format!("中政〔2026〕{i}号"),
            summary: "对符合条件的企业给予奖励".into(),
            valid_from: "2020-01-01".into(),
            valid_until: "2099-12-31".into(),
            criteria,
            ..Default::default()
        };
        let issue = PolicyAction::Issued { region_id: COUNTY.into(), policy: text };
        a.create(DocKind::Policy, &format!("policy-{i:03}"), &[("region_id", COUNTY)], issue, t0).unwrap();
    }
    a.submit_all().unwrap();
    for batch in 0..20 {
        let mut a = Author::new(&relay.state, "manager").unwrap();
        for i in batch * 1000..(batch + 1) * 1000 {
            let ent = format!("ent-{:05}", i % 5000);
            let id = format!("problem-{i:05}");
            let t = t0 + (i as i64 % 50) * DAY;
            let header = [
                ("enterprise_id", ent.as_str()),
                ("enterprise_name", "企业"),
                ("region_id", &format!("{COUNTY}{:03}", (i % 5000) % 10) as &str),
            ];
            let report = ProblemAction::Reported {
                enterprise_id: ent.clone(),
                category: Category::ALL[i % 9],
                title: format!("问题{i}"),
                description: "描述".into(),
                visit_id: None,
                photos: vec![],
            };
            a.create(DocKind::Problem, &id, &header, report, t).unwrap();
            if i % 4 != 0 {
                let deadline = t + if i % 3 == 0 { 3 * DAY } else { 90 * DAY };
                a.append(
                    &id,
                    ProblemAction::Routed {
                        department_id: format!("dept-{}", i % 20),
                        level: 1,
                        deadline,
                        note: String::new(),
                    },
                    t + 1000,
                )
                .unwrap();
            }
        }
        a.submit_all().unwrap();
    }
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    let t = Instant::now();
    seed(&relay);
    println!("seeded 5,000 enterprises and 20,000 problems in {:.1} s", t.elapsed().as_secs_f64());
    let mut browser = zhuqi_tests::browser::Browser::new(&relay.url);
    assert_eq!(browser.sign_in("manager", "bench password").0, 303);
    let (http, cookie) = (browser.http.clone(), browser.cookie_header());
    let month = zhuqi_core::domain::text::date_of(zhuqi_server::now_ms())[..7].to_owned();
    for (name, path) in [
        ("overview (current month)", "/".to_owned()),
        ("overview (all time)", "/?from=2000-01-01&to=2099-12-31".to_owned()),
        ("problem list, all 20,000", "/problems".to_owned()),
        ("problem list, overdue", "/problems?overdue=1".to_owned()),
        ("problem page", "/problems/problem-00001".to_owned()),
        ("monthly ranking", format!("/ranking?month={month}")),
        ("cadre page", "/cadres/cadre-1".to_owned()),
        ("problem list export, XLSX", "/export/problems.xlsx".to_owned()),
        ("policy reach, 500 × 5,000", "/policies".to_owned()),
    ] {
        let mut times: Vec<Duration> = (0..15)
            .map(|_| {
                let t = Instant::now();
                let r = http.get(format!("{}{path}", relay.url)).header("cookie", &cookie).send().unwrap();
                assert_eq!(r.status().as_u16(), 200, "{path}");
                let bytes = r.bytes().unwrap().len();
                assert!(bytes > 0);
                t.elapsed()
            })
            .collect();
        times.sort();
        println!(
            "{name:<32} median {:>7.1} ms   p95 {:>7.1} ms",
            times[7].as_secs_f64() * 1e3,
            times[14].as_secs_f64() * 1e3
        );
    }
}
