//! A generated province for load tests and benchmarks, written straight into a relay's storage:
//! counties with their offices (managers), cadres each assigned 5–20 enterprises of their county,
//! enterprises as real Automerge documents (registered, cadres assigned), and problems reported by
//! their chief cadres. Documents are built with zhuqi-core and stored with the projections and scope
//! keys the relay itself computes, in large batches, which makes a province of a million documents a
//! matter of minutes instead of hours through the validation path.

use automerge::ActorId;
use std::collections::HashMap;
use zhuqi_core::document::Document;
use zhuqi_core::domain::*;
use zhuqi_server::AppState;
use zhuqi_server::storage::{AcceptedChange, Account, Commit, DocWrite, NewDevice};

/// How big a province to generate.
#[derive(Debug, Clone)]
pub struct Shape {
    pub counties: usize,
    pub cadres: usize,
    pub enterprises: usize,
    /// Problems, spread evenly over the enterprises that have cadres.
    pub problems: usize,
    /// Each cadre is assigned between these many enterprises of their county.
    pub assigned: (usize, usize),
}

/// What was generated: ids and logins.
#[derive(Debug, Default)]
pub struct Province {
    /// County region ids.
    pub counties: Vec<String>,
    /// One manager (campaign office) per county, login = id.
    pub managers: Vec<String>,
    /// Cadres, login = id.
    pub cadres: Vec<String>,
    pub enterprises: Vec<String>,
    pub problems: Vec<String>,
    /// Documents stored.
    pub documents: usize,
}

pub const CITY: &str = "419900";
pub const PROVINCE: &str = "410000";
const DAY: i64 = 86_400_000;

/// A small deterministic generator (the same province every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() as usize) % (hi - lo + 1)
    }
}

fn event<A>(id: String, by: &str, role: Role, at: i64, seen: Vec<String>, action: A) -> Event<A> {
    Event { id, by: by.into(), role, device: "generator".into(), at, seen, origin: None, action }
}

/// Writes the directory and every document of a province of `shape`; each account's password hash is
/// `password_hash` (hashing one per account would take longer than everything else).
pub fn generate(state: &AppState, shape: &Shape, password_hash: &str) -> Province {
    let storage = state.storage.as_ref();
    let mut p = Province::default();
    let mut regions = vec![
        Region { id: PROVINCE.into(), name: "河南省".into(), level: RegionLevel::Province, parent_id: None },
        Region {
            id: CITY.into(), name: "生成市".into(), level: RegionLevel::City, parent_id: Some(PROVINCE.into())
        },
    ];
    let mut departments = Vec::new();
    let account = |id: &str, role: Role, region: &str| Account {
        login: id.into(),
        password_hash: Some(password_hash.into()),
        user: User {
            id: id.into(),
            name: id.into(),
            role,
            region_id: Some(region.into()),
            department_id: None,
            enterprise_id: None,
            mobile: None,
            position: None,
            unit: None,
        },
    };
    let mut accounts = Vec::new();
    for c in 0..shape.counties {
        let county = format!("4199{:02}", c + 1);
        regions.push(Region {
            id: county.clone(),
            name: format!("第{}区", c + 1),
            level: RegionLevel::County,
            parent_id: Some(CITY.into()),
        });
        departments
            .push(Department { id: format!("fin-{county}"), name: "财政局".into(), region_id: county.clone() });
        let manager = format!("office-{county}");
        accounts.push(account(&manager, Role::Manager, &county));
        p.managers.push(manager);
        p.counties.push(county);
    }
    for i in 0..shape.cadres {
        let id = format!("cadre-{i:06}");
        accounts.push(account(&id, Role::Cadre, &p.counties[i % shape.counties]));
        p.cadres.push(id);
    }
    storage.upsert_directory(&Directory { regions, departments, ..Default::default() }, &accounts).expect("directory");
    let dir = state.directory.get(storage).expect("directory");

    // Enterprise e lies in county e % counties; each cadre takes 5–20 of its county's, in turn.
    let mut rng = Lcg(2026);
    let per_county: Vec<Vec<usize>> =
        (0..shape.counties).map(|c| (c..shape.enterprises).step_by(shape.counties).collect()).collect();
    let mut next_in_county = vec![0usize; shape.counties];
    let mut cadres_of: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, _) in p.cadres.iter().enumerate() {
        let county = i % shape.counties;
        let pool = &per_county[county];
        if pool.is_empty() {
            continue;
        }
        for _ in 0..rng.between(shape.assigned.0, shape.assigned.1).min(pool.len()) {
            let e = pool[next_in_county[county] % pool.len()];
            next_in_county[county] += 1;
            cadres_of.entry(e).or_default().push(i);
        }
    }

    let now = zhuqi_server::now_ms();
    let actor = ActorId::random();
    let office_device = "generator";
    let mut batch: Vec<DocWrite> = Vec::new();
    let flush = |batch: &mut Vec<DocWrite>| {
        if batch.is_empty() {
            return;
        }
        let commit = Commit {
            user_id: "generator".into(),
            device_id: office_device.into(),
            received_at: now,
            docs: std::mem::take(batch),
        };
        storage.commit(&[&commit]).expect("store generated documents");
    };
    for e in 0..shape.enterprises {
        let county = &p.counties[e % shape.counties];
        let manager = &p.managers[e % shape.counties];
        let id = format!("ent-{e:07}");
        let name = format!("第{e}号精密制造有限公司");
        let profile = Profile {
            name: name.clone(),
            uscc: uscc::complete(&format!("914199{:011}", e)).expect("generated credit code"),
            region_id: county.clone(),
            industry: "装备制造".into(),
            tags: vec!["above_scale".into()],
            address: format!("建设路{e}号"),
            location: None,
            contacts: vec![Contact { name: "刘总".into(), title: "总经理".into(), phone: "13800000000".into() }],
            // Sizes from micro to large and ages from 1 to 36 years, spread over the enterprises.
            scale: Scale {
                employees: Some((e * 37 % 2_000) as u32),
                revenue: Some((e * 131 % 60_000) as u64),
                founded: Some(format!("{}-{:02}-01", 1990 + e % 36, 1 + e % 12)),
            },
        };
        let at = now - 60 * DAY;
        let first =
            event(format!("{id}-r"), manager, Role::Manager, at, vec![], EnterpriseAction::Registered { profile });
        let (mut doc, change) = Document::create(DocKind::Enterprise, &id, &[], actor.clone(), &first).unwrap();
        let mut changes = vec![change];
        let mut last = first.id.clone();
        let cadres = cadres_of.remove(&e).unwrap_or_default();
        for (n, c) in cadres.iter().enumerate() {
            let ev = event(
                format!("{id}-a{n}"),
                manager,
                Role::Manager,
                at + 1 + n as i64,
                vec![last.clone()],
                EnterpriseAction::CadreAssigned { cadre_id: p.cadres[*c].clone(), chief: n == 0 },
            );
            changes.push(doc.append(&ev).unwrap());
            last = ev.id;
        }
        batch.push(write(&dir, &id, DocKind::Enterprise, &doc, changes));
        p.enterprises.push(id.clone());

        let due = (e + 1) * shape.problems / shape.enterprises.max(1);
        while p.problems.len() < due && !cadres.is_empty() {
            let pid = format!("prb-{:07}", p.problems.len());
            let chief = &p.cadres[cadres[0]];
            let header = [("enterprise_id", id.as_str()), ("enterprise_name", name.as_str()), ("region_id", county)];
            let reported = event(
                format!("{pid}-r"),
                chief,
                Role::Cadre,
                now - 20 * DAY,
                vec![],
                ProblemAction::Reported {
                    enterprise_id: id.clone(),
                    category: Category::Financing,
                    title: "流动资金贷款".into(),
                    description: "企业需要流动资金贷款，希望协调银行".into(),
                    visit_id: None,
                    photos: vec![],
                },
            );
            let (doc, change) = Document::create(DocKind::Problem, &pid, &header, actor.clone(), &reported).unwrap();
            batch.push(write(&dir, &pid, DocKind::Problem, &doc, vec![change]));
            p.problems.push(pid);
        }
        if batch.len() >= 500 {
            flush(&mut batch);
        }
    }
    flush(&mut batch);
    storage.after_bulk_load().expect("statistics");
    p.documents = p.enterprises.len() + p.problems.len();
    p
}

fn write(
    dir: &zhuqi_server::sync::directory::Snapshot,
    id: &str,
    kind: DocKind,
    doc: &Document,
    changes: Vec<automerge::Change>,
) -> DocWrite {
    let projection = zhuqi_server::storage::projection::project(kind, doc);
    let keys = zhuqi_server::storage::scope::doc_keys(id, &projection, dir);
    DocWrite {
        doc_id: id.into(),
        kind,
        changes: changes
            .into_iter()
            .map(|c| AcceptedChange {
                hash: c.hash().as_ref().to_vec(),
                bytes: c.raw_bytes().to_vec(),
                events: Vec::new(),
            })
            .collect(),
        snapshot: Some(doc.save()),
        keys,
        projection,
        base_seq: 0,
    }
}

/// Signs a device of `user_id` in without a password check (as if it had signed in the day before);
/// returns its id and token.
pub fn mint_device(state: &AppState, user_id: &str) -> (String, String) {
    let token = uuid::Uuid::new_v4().simple().to_string();
    let id = uuid::Uuid::now_v7().to_string();
    state
        .storage
        .create_device(&NewDevice {
            id: id.clone(),
            user_id: user_id.into(),
            name: "generated".into(),
            token_hash: zhuqi_server::auth::token_hash(&token),
            created_at: zhuqi_server::now_ms(),
            expires_at: zhuqi_server::now_ms() + 30 * DAY,
        })
        .expect("device");
    (id, token)
}
