//! Demo data: a small province with cities, counties, departments, 200 enterprises with valid credit
//! codes, cadres, managers, enterprise contacts, assignments, visits, problems in every state and
//! task notices. Seeded once (`serve --demo`), through the same validation path as phones' pushes.

use crate::AppState;
use crate::http::error::ApiError;
use crate::storage::Account;
use crate::sync::author::Author;
use zhuqi_core::domain::enterprise::KNOWN_TAGS;
use zhuqi_core::domain::{
    Category, Contact, Department, Directory, DocKind, EnterpriseAction, Location, PhotoRef, ProblemAction, Profile,
    Recipient, Region, RegionLevel, Role, TaskNoticeAction, User, VisitRecord, uscc,
};

/// The password of every demo account.
pub const DEMO_PASSWORD: &str = "zhuqi2026";
const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;

/// A photo for the demo: a JPEG of its own colours (one per `seed` below 65,536), stored on the relay as if a phone had
/// uploaded it (unless `uploaded` is false: then it is named but never arrives, 照片未上传).
fn demo_photo(state: &AppState, seed: u32, uploaded: bool) -> Result<Vec<PhotoRef>, ApiError> {
    use sha2::Digest;
    let Some(blobs) = state.blobs.as_ref() else { return Ok(vec![]) };
    let (r, g) = (seed as u8, (seed >> 8) as u8);
    let img = image::RgbImage::from_fn(480, 360, |x, y| image::Rgb([r ^ (x / 3) as u8, g ^ (y / 3) as u8, 120]));
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 80))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let sha256 = format!("{:x}", sha2::Sha256::digest(&bytes));
    if uploaded {
        let stored = blobs.append(&sha256, "demo", 0, &bytes).and_then(|_| blobs.finish(&sha256, "demo"));
        stored.map_err(|e| ApiError::internal(e.to_string()))?;
    }
    Ok(vec![PhotoRef { id: format!("demo-photo-{seed}"), sha256, size_bytes: bytes.len() as u64 }])
}

/// A small deterministic generator, so that every demo relay holds the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const CITIES: &[(&str, &str, &str, &[(&str, &str)])] = &[
    ("410100", "郑州市", "zz", &[("410102", "中原区"), ("410105", "金水区")]),
    ("410200", "开封市", "kf", &[("410202", "龙亭区"), ("410225", "兰考县")]),
    ("411100", "漯河市", "lh", &[("411102", "源汇区"), ("411122", "临颍县")]),
];
const DEPARTMENTS: &[(&str, &str)] = &[
    ("finance", "财政局"),
    ("hr", "人力资源和社会保障局"),
    ("land", "自然资源和规划局"),
    ("ndrc", "发展和改革委员会"),
];
const CADRE_NAMES: &[&str] = &["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙"];
const GIVEN: &[&str] = &["建国", "海燕", "志强", "丽娟", "伟", "静", "明", "秀英", "磊", "军", "洋", "艳"];
const PREFIX: &[&str] =
    &["恒达", "中原", "天瑞", "宇通", "华兴", "金岭", "鼎盛", "瑞丰", "豫能", "新航", "宏图", "安泰"];
const TRADE: &[(&str, &str)] = &[
    ("精密机械", "装备制造"),
    ("食品", "食品加工"),
    ("新材料", "新材料"),
    ("电子科技", "电子信息"),
    ("纺织", "纺织服装"),
    ("生物医药", "生物医药"),
    ("汽车零部件", "汽车制造"),
    ("物流", "现代物流"),
];
const PROBLEMS: &[(Category, &str, &str)] = &[
    (Category::Financing, "流动资金贷款难", "企业需要500万元流动资金贷款，缺少抵押物"),
    (Category::Land, "扩建用地指标", "二期厂房扩建需要新增用地约20亩"),
    (Category::Labour, "技术工人招工难", "数控操作工缺口30人，希望对接职业院校"),
    (Category::Approvals, "环评审批进度慢", "新生产线环评审批已超过两个月"),
    (Category::Utilities, "用电容量不足", "新增设备后需要增容至2000千伏安"),
    (Category::Legal, "合同纠纷", "下游客户拖欠货款，希望提供法律援助"),
    (Category::Policy, "研发费用加计扣除", "不清楚研发费用加计扣除的申报流程"),
    (Category::Market, "拓展销售渠道", "希望参加省级产销对接会"),
    (Category::Other, "厂区道路破损", "厂区门前道路破损，影响货车通行"),
];

fn user(id: &str, name: &str, role: Role, region: Option<&str>, dept: Option<String>, ent: Option<String>) -> User {
    User {
        id: id.into(),
        name: name.into(),
        role,
        region_id: region.map(Into::into),
        department_id: dept,
        enterprise_id: ent,
        mobile: None,
        position: None,
        unit: None,
    }
}

/// The demo accounts, for printing: (login, role, name).
pub struct Seeded {
    pub accounts: Vec<(String, String, String)>,
}

/// Seeds the demo province unless it is already there. Returns the accounts when it seeded.
pub fn seed(state: &AppState, now: i64) -> Result<Option<Seeded>, ApiError> {
    let storage = state.storage.as_ref();
    if storage.account_by_login("province")?.is_some() {
        return Ok(None);
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let hash = crate::auth::hash_password(DEMO_PASSWORD);
    let mut regions =
        vec![Region { id: "410000".into(), name: "河南省".into(), level: RegionLevel::Province, parent_id: None }];
    let mut departments = Vec::new();
    let mut users = Vec::new();
    let mut accounts = Vec::new();
    let mut add = |u: User, login: &str, users: &mut Vec<User>| {
        accounts.push(Account { user: u.clone(), login: login.into(), password_hash: Some(hash.clone()) });
        users.push(u);
    };
    add(user("province", "河南省万人助万企活动办", Role::Manager, Some("410000"), None, None), "province", &mut users);
    let mut counties = Vec::new();
    for (city, city_name, abbr, cs) in CITIES {
        regions.push(Region {
            id: (*city).into(),
            name: (*city_name).into(),
            level: RegionLevel::City,
            parent_id: Some("410000".into()),
        });
        add(
            user(&format!("{abbr}-office"), &format!("{city_name}活动办"), Role::Manager, Some(city), None, None),
            &format!("{abbr}-office"),
            &mut users,
        );
        for (code, name) in *cs {
            regions.push(Region {
                id: (*code).into(),
                name: (*name).into(),
                level: RegionLevel::County,
                parent_id: Some((*city).into()),
            });
            counties.push((*code, *name, *city));
            add(
                user(&format!("{code}-office"), &format!("{name}活动办"), Role::Manager, Some(code), None, None),
                &format!("{code}-office"),
                &mut users,
            );
            for (i, t) in ["001", "002"].iter().enumerate() {
                regions.push(Region {
                    id: format!("{code}{t}"),
                    name: format!("{name}第{}街道", i + 1),
                    level: RegionLevel::Township,
                    parent_id: Some((*code).into()),
                });
            }
            let unit = format!("{name}发展和改革委员会");
            for c in 0..4 {
                let id = format!("{code}-cadre{}", c + 1);
                let name = format!("{}{}", CADRE_NAMES[rng.below(CADRE_NAMES.len())], GIVEN[rng.below(GIVEN.len())]);
                let cadre = User {
                    mobile: Some(format!("13{code}00{}", c + 1)),
                    position: Some(["科员", "副科长", "科长", "副主任"][c].into()),
                    unit: Some(unit.clone()),
                    ..user(&id, &name, Role::Cadre, Some(code), None, None)
                };
                add(cadre, &id, &mut users);
            }
        }
        for region in std::iter::once(*city).chain(cs.iter().map(|(c, _)| *c)) {
            let region_name = regions.iter().find(|r| r.id == region).map(|r| r.name.clone()).unwrap_or_default();
            for (key, dname) in DEPARTMENTS {
                let id = format!("{region}-{key}");
                departments.push(Department {
                    id: id.clone(),
                    name: format!("{region_name}{dname}"),
                    region_id: region.into(),
                });
                add(
                    user(
                        &format!("{id}-handler"),
                        &format!("{region_name}{dname}经办人"),
                        Role::DepartmentHandler,
                        None,
                        Some(id.clone()),
                        None,
                    ),
                    &format!("{id}-handler"),
                    &mut users,
                );
            }
        }
    }
    // Enterprises: ids fixed in advance so that their contacts can be in the directory.
    let enterprise_ids: Vec<String> = (0..200).map(|i| format!("demo-ent-{i:03}")).collect();
    for (i, e) in enterprise_ids.iter().enumerate() {
        let login = format!("ent{i:03}");
        add(
            user(
                &format!("{e}-contact"),
                &format!("企业负责人{i:03}"),
                Role::EnterpriseContact,
                None,
                None,
                Some(e.clone()),
            ),
            &login,
            &mut users,
        );
    }
    storage.upsert_directory(&Directory { regions, departments, ..Default::default() }, &accounts)?;
    let _ = users;

    // Enterprises, registered and assigned by their county's office.
    let start = now - 70 * DAY;
    let mut plan = Vec::new();
    for (i, id) in enterprise_ids.iter().enumerate() {
        let (county, county_name, _) = counties[i % counties.len()];
        let (trade, industry) = *rng.pick(TRADE);
        let town = format!("{county}{:03}", 1 + (i / counties.len()) % 2);
        let first17 = format!("91{county}MA{:07}", 4_000_000 + i * 7919);
        let mut tags = vec![KNOWN_TAGS[rng.below(KNOWN_TAGS.len())].0.to_owned()];
        if i % 3 == 0 {
            tags.push("above_scale".into());
        }
        tags.dedup();
        let profile = Profile {
            name: format!(
                "{}{}{}有限公司",
                county_name.trim_end_matches(['区', '县']),
                PREFIX[i % PREFIX.len()],
                trade
            ),
            uscc: uscc::complete(&first17).expect("demo codes use the alphabet"),
            region_id: town,
            industry: industry.into(),
            tags,
            address: format!("{county_name}工业大道{}号", 10 + i),
            location: Some(Location {
                lat: 34.0 + (i as f64) * 0.003,
                lon: 113.5 + (i as f64) * 0.002,
                accuracy_m: 20.0,
                mock: false,
            }),
            contacts: vec![Contact {
                name: format!("企业负责人{i:03}"),
                title: "总经理".into(),
                phone: format!("1380371{i:04}"),
            }],
            scale: Default::default(),
        };
        plan.push((id.clone(), county, profile));
    }
    for (county, _, _) in &counties {
        let mut office = Author::new(state, &format!("{county}-office"))?;
        for (i, (id, c, profile)) in plan.iter().enumerate() {
            if c != county {
                continue;
            }
            let at = start + (i as i64) * HOUR;
            office.create(
                DocKind::Enterprise,
                id,
                &[],
                EnterpriseAction::Registered { profile: profile.clone() },
                at,
            )?;
            let cadre = format!("{county}-cadre{}", 1 + i % 4);
            office.append(id, EnterpriseAction::CadreAssigned { cadre_id: cadre, chief: true }, at + HOUR)?;
            if i % 5 == 0 {
                let second = format!("{county}-cadre{}", 1 + (i + 1) % 4);
                office.append(id, EnterpriseAction::CadreAssigned { cadre_id: second, chief: false }, at + 2 * HOUR)?;
            }
        }
        office.submit_all()?;
    }

    // Visits by the chief service officers, and problems found during them.
    let mut problems = Vec::new();
    for (county, _, _) in &counties {
        for c in 1..=4 {
            let cadre_id = format!("{county}-cadre{c}");
            let mut cadre = Author::new(state, &cadre_id)?;
            for (i, (id, ec, _)) in plan.iter().enumerate() {
                if ec != county || 1 + i % 4 != c {
                    continue;
                }
                let visits = 1 + rng.below(3);
                for v in 0..visits {
                    let at = start + 3 * DAY + ((i * 5 + v * 17) as i64 % 60) * DAY + 10 * HOUR;
                    let visit_id = format!("{id}-visit{v}");
                    let record = VisitRecord {
                        id: visit_id.clone(),
                        date: zhuqi_core::domain::text::date_of(at),
                        people_met: vec![format!("企业负责人{i:03}")],
                        notes: "了解企业生产经营情况，宣讲惠企政策，收集企业诉求".into(),
                        policies: vec!["稳岗返还".into(), "研发费用加计扣除".into()],
                        policy_ids: vec![],
                        location: Some(Location {
                            lat: 34.0 + (i as f64) * 0.003,
                            lon: 113.5,
                            accuracy_m: 15.0,
                            mock: false,
                        }),
                        // The first enterprise's visits have photos; one of its first visit's
                        // never arrived.
                        photos: match (i, v) {
                            (0, 0) => [demo_photo(state, 0, true)?, demo_photo(state, 1, false)?].concat(),
                            (0, v) => demo_photo(state, v as u32 * 10, true)?,
                            _ => vec![],
                        },
                    };
                    cadre.append(id, EnterpriseAction::VisitRecorded { visit: record }, at)?;
                    if (i + v) % 4 == 0 && problems.len() < 160 {
                        let pid = format!("{id}-problem{v}");
                        let (category, title, description) = *rng.pick(PROBLEMS);
                        let header = [
                            ("enterprise_id", id.as_str()),
                            ("enterprise_name", plan[i].2.name.as_str()),
                            ("region_id", plan[i].2.region_id.as_str()),
                        ];
                        let action = ProblemAction::Reported {
                            enterprise_id: id.clone(),
                            category,
                            title: title.into(),
                            description: description.into(),
                            visit_id: Some(visit_id.clone()),
                            photos: vec![],
                        };
                        problems.push((pid.clone(), county.to_string(), cadre_id.clone(), id.clone(), at));
                        cadre.create(DocKind::Problem, &pid, &header, action, at + HOUR)?;
                    }
                }
            }
            cadre.submit_all()?;
        }
    }
    advance_problems(state, &problems, now, &mut rng)?;
    correct_problems(state, &problems)?;
    issue_notices(state, now)?;

    let dir = state.directory.get(storage)?;
    let mut listed: Vec<(String, String, String)> = accounts_for_print(&dir);
    listed.sort();
    Ok(Some(Seeded { accounts: listed }))
}

fn accounts_for_print(dir: &crate::sync::directory::Snapshot) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for u in dir.users.values() {
        let show = matches!(
            u.id.as_str(),
            "province"
                | "zz-office"
                | "410102-office"
                | "410102-cadre1"
                | "410102-finance-handler"
                | "demo-ent-000-contact"
        );
        if show {
            let login = if u.role == Role::EnterpriseContact { "ent000".to_owned() } else { u.id.clone() };
            out.push((login, u.role.as_str().to_owned(), u.name.clone()));
        }
    }
    out
}

/// Moves the demo problems through their lifecycle so that every state is represented.
/// Corrections: the first report (left as reported) taken back by its cadre (撤回), and the second
/// reported again by its cadre, the copy merged by the county office into it (合并).
fn correct_problems(state: &AppState, problems: &[(String, String, String, String, i64)]) -> Result<(), ApiError> {
    let [(withdrawn, _, cadre, _, t), (original, county, dup_cadre, ent, t2), ..] = problems else { return Ok(()) };
    let mut a = Author::new(state, cadre)?;
    a.append(withdrawn, ProblemAction::Withdrawn { reason: "企业已自行解决".into() }, t + 2 * HOUR)?;
    a.submit_all()?;
    let Some(bytes) = state.document_bytes(original)? else { return Ok(()) };
    let doc = zhuqi_core::document::Document::load(&bytes).map_err(|e| ApiError::internal(e.to_string()))?;
    let Some(ProblemAction::Reported { category, title, description, .. }) =
        doc.events::<ProblemAction>().into_iter().next().map(|e| e.action)
    else {
        return Ok(());
    };
    let header: Vec<(String, String)> = ["enterprise_id", "enterprise_name", "region_id"]
        .into_iter()
        .map(|k| (k.to_owned(), doc.header(k).unwrap_or_default()))
        .collect();
    let header: Vec<(&str, &str)> = header.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let copy = format!("{original}-copy");
    let report = ProblemAction::Reported {
        enterprise_id: ent.clone(),
        category,
        title,
        description,
        visit_id: None,
        photos: vec![],
    };
    let mut a = Author::new(state, dup_cadre)?;
    a.create(DocKind::Problem, &copy, &header, report, t2 + 2 * HOUR)?;
    a.submit_all()?;
    let mut office = Author::new(state, &format!("{county}-office"))?;
    let merged =
        ProblemAction::Merged { into: original.clone(), reason: "与同一企业已上报问题重复".into() };
    office.append(&copy, merged, t2 + 5 * HOUR)?;
    office.submit_all()
}

fn advance_problems(
    state: &AppState,
    problems: &[(String, String, String, String, i64)],
    now: i64,
    rng: &mut Rng,
) -> Result<(), ApiError> {
    for (n, (pid, county, cadre, ent, reported)) in problems.iter().enumerate() {
        let stage = n % 10; // 0 reported, 1 accepted, 2-3 routed (3 overdue), 4 resolved, 5 confirmed, 6-7 closed, 8 rejected+routed, 9 escalated
        let t = *reported;
        if stage == 0 {
            continue;
        }
        let mut office = Author::new(state, &format!("{county}-office"))?;
        office.append(pid, ProblemAction::Accepted { note: String::new() }, t + 4 * HOUR)?;
        if stage == 1 {
            office.submit_all()?;
            continue;
        }
        let dept = format!("{county}-{}", DEPARTMENTS[rng.below(DEPARTMENTS.len())].0);
        let deadline = if stage == 3 { t + 3 * DAY } else { (now + 10 * DAY).max(t + 14 * DAY) };
        office.append(
            pid,
            ProblemAction::Routed { department_id: dept.clone(), level: 1, deadline, note: "请按时办结".into() },
            t + DAY,
        )?;
        if stage == 3 && t + 4 * DAY < now {
            office.append(pid, ProblemAction::Urged { note: "已超期，请加快办理".into() }, t + 4 * DAY)?;
        }
        if stage == 9 {
            office.append(
                pid,
                ProblemAction::Escalated {
                    level: 2,
                    reason: "涉及多个部门，提交县级周例会".into(),
                    department_id: None,
                    deadline: None,
                },
                t + 2 * DAY,
            )?;
        }
        office.submit_all()?;
        if matches!(stage, 2 | 3 | 9) {
            continue;
        }
        let mut handler = Author::new(state, &format!("{dept}-handler"))?;
        handler.append(
            pid,
            ProblemAction::Progress { note: "已与企业对接，正在协调".into(), photos: vec![] },
            t + 2 * DAY,
        )?;
        handler.append(
            pid,
            ProblemAction::Resolved {
                resolution: "已协调解决，企业诉求已落实".into(),
                photos: demo_photo(state, 1000 + n as u32, true)?,
            },
            t + 5 * DAY,
        )?;
        handler.submit_all()?;
        if stage == 4 {
            continue;
        }
        let mut contact = Author::new(state, &format!("{ent}-contact"))?;
        if stage == 8 {
            contact.append(pid, ProblemAction::Rejected { reason: "问题尚未完全解决".into() }, t + 6 * DAY)?;
            contact.submit_all()?;
            continue;
        }
        let rating = [5, 5, 4, 5, 3][n % 5];
        contact.append(pid, ProblemAction::Confirmed { rating, comment: "感谢帮助".into() }, t + 6 * DAY)?;
        contact.submit_all()?;
        if stage == 5 {
            continue;
        }
        let mut office = Author::new(state, &format!("{county}-office"))?;
        office.append(pid, ProblemAction::Closed { note: String::new() }, t + 7 * DAY)?;
        office.submit_all()?;
        if stage == 7 {
            let mut c = Author::new(state, cadre)?;
            c.append(
                pid,
                ProblemAction::FollowedUp { note: "回头看：企业生产正常".into(), still_solved: true },
                t + 20 * DAY,
            )?;
            c.submit_all()?;
        }
    }
    Ok(())
}

fn issue_notices(state: &AppState, now: i64) -> Result<(), ApiError> {
    let mut office = Author::new(state, "410102-office")?;
    let recipients = vec![
        Recipient::Department("410102-finance".into()),
        Recipient::Department("410102-hr".into()),
        Recipient::Cadre("410102-cadre1".into()),
        Recipient::Cadre("410102-cadre2".into()),
    ];
    office.create(
        DocKind::TaskNotice,
        "demo-notice-1",
        &[("region_id", "410102")],
        TaskNoticeAction::Issued {
            region_id: "410102".into(),
            title: "开展包联企业全覆盖走访".into(),
            body: "请各包联干部本月内完成包联企业走访，各责任单位做好问题办理。".into(),
            deadline: now + 20 * DAY,
            recipients,
        },
        now - 10 * DAY,
    )?;
    office.submit_all()?;
    let mut handler = Author::new(state, "410102-finance-handler")?;
    handler.append(
        "demo-notice-1",
        TaskNoticeAction::Acknowledged { recipient: Recipient::Department("410102-finance".into()) },
        now - 9 * DAY,
    )?;
    handler.submit_all()?;
    let mut cadre = Author::new(state, "410102-cadre1")?;
    cadre.append(
        "demo-notice-1",
        TaskNoticeAction::Completed { recipient: Recipient::Cadre("410102-cadre1".into()), note: "已完成".into() },
        now - 5 * DAY,
    )?;
    cadre.submit_all()?;
    Ok(())
}
