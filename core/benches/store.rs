//! Benchmarks of the device store: the actions a cadre takes in a factory, opening a manager's store
//! of 7,000 documents, the overdue query among 5,000 problems, search over all of them, and
//! matching 3,000 policies. With `--features encryption`, the same store encrypted (SQLCipher and
//! sealed photos) beside the plain one: `cargo bench -p zhuqi-core --features encryption --bench
//! store -- encrypted`.

mod support;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::sync::Arc;
use support::*;
use zhuqi_core::domain::Role;
use zhuqi_core::store::{ProblemFilter, Store};

fn cadre_actions(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let manager_path = copy_fixture(tmp.path());
    // The cadre's phone: the enterprises assigned to cadre-0 (10 of them), copied from the manager's store.
    let manager = Store::open(&manager_path, identity("mgr", Role::Manager)).unwrap();
    let cadre = Store::open(&tmp.path().join("cadre.db"), identity("cadre-0", Role::Cadre)).unwrap();
    cadre.import_directory(&directory()).unwrap();
    let mut mine = Vec::new();
    for e in manager.my_enterprises().unwrap() {
        let detail = manager.enterprise(&e.id).unwrap();
        if detail.assignments.iter().any(|a| a.cadre_id == "cadre-0") {
            cadre
                .apply_remote(&e.id, zhuqi_core::domain::DocKind::Enterprise, &[manager.save_document(&e.id).unwrap()])
                .unwrap();
            mine.push(e.id);
        }
    }
    assert_eq!(mine.len(), 10);
    let mut i = 0;
    c.bench_function("record_visit", |b| {
        b.iter(|| {
            i += 1;
            cadre.record_visit(&mine[i % mine.len()], new_visit()).unwrap()
        })
    });
    c.bench_function("report_problem", |b| {
        b.iter(|| {
            i += 1;
            cadre.report_problem(new_problem(&mine[i % mine.len()], i)).unwrap()
        })
    });
    c.bench_function("record_visit_and_report_problem", |b| {
        b.iter(|| {
            i += 1;
            let e = &mine[i % mine.len()];
            let v = cadre.record_visit(e, new_visit()).unwrap();
            let mut p = new_problem(e, i);
            p.visit_id = Some(v);
            cadre.report_problem(p).unwrap()
        })
    });
}

fn manager_store(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let path = copy_fixture(tmp.path());
    let mut g = c.benchmark_group("manager_store_7000_docs");
    g.sample_size(20);
    g.bench_function("open", |b| {
        b.iter_batched(|| (), |()| Store::open(&path, identity("mgr", Role::Manager)).unwrap(), BatchSize::PerIteration)
    });
    g.bench_function("open_and_home_counts", |b| {
        b.iter(|| Store::open(&path, identity("mgr", Role::Manager)).unwrap().home_counts().unwrap())
    });
    g.finish();

    let store = Arc::new(Store::open(&path, identity("mgr", Role::Manager)).unwrap());
    let overdue = store.problems(&ProblemFilter { overdue: true, ..Default::default() }).unwrap();
    assert!(overdue.len() > 1000, "fixture has overdue problems: {}", overdue.len());
    c.bench_function("query_overdue_among_5000", |b| {
        b.iter(|| store.problems(&ProblemFilter { overdue: true, ..Default::default() }).unwrap().len())
    });
    c.bench_function("query_overdue_first_page_of_50", |b| {
        b.iter(|| {
            store.problems(&ProblemFilter { overdue: true, limit: Some(50), ..Default::default() }).unwrap().len()
        })
    });
    c.bench_function("home_counts", |b| b.iter(|| store.home_counts().unwrap()));
    // Search over all 7,000 documents: a term many match (first page), one that names one
    // enterprise, and a two-character term (matched as a substring of every row).
    use zhuqi_core::store::SearchScope::All;
    assert_eq!(store.search("精密制造", All, 0, 20).unwrap().len(), 20);
    assert!(!store.search("第1234精密", All, 0, 20).unwrap().is_empty());
    c.bench_function("search_7000_docs_common_term_page_of_20", |b| {
        b.iter(|| store.search("精密制造", All, 0, 20).unwrap().len())
    });
    c.bench_function("search_7000_docs_one_enterprise", |b| {
        b.iter(|| store.search("第1234精密", All, 0, 20).unwrap().len())
    });
    c.bench_function("search_7000_docs_two_characters", |b| b.iter(|| store.search("困难", All, 0, 20).unwrap().len()));
    let some = overdue[0].id.clone();
    c.bench_function("problem_with_timeline", |b| b.iter(|| store.problem(&some).unwrap()));
}

/// 3,000 policies on the 7,000-document store: policies for one enterprise, enterprises for one
/// policy (among 2,000), and the store's size with them.
fn policies(c: &mut Criterion) {
    use zhuqi_core::domain::policy::{Criteria, PolicyText};
    let tmp = tempfile::tempdir().unwrap();
    let path = copy_fixture(tmp.path());
    let before = std::fs::metadata(&path).unwrap().len();
    let store = Store::open(&path, identity("mgr", Role::Manager)).unwrap();
    let started = std::time::Instant::now();
    for i in 0..3_000usize {
        let criteria = Criteria {
            regions: if i % 3 == 0 { vec![format!("{COUNTY}{:03}", i % 10)] } else { vec![] },
            industries: if i % 2 == 0 { vec!["装备制造".into()] } else { vec!["纺织".into(), "食品".into()] },
            tags: if i % 5 == 0 { vec!["above_scale".into(), "srdi".into()] } else { vec![] },
            sizes: if i % 4 == 0 { vec!["small".into(), "micro".into()] } else { vec![] },
            min_age_years: (i % 7 == 0).then_some(3),
            under_age_years: (i % 11 == 0).then_some(10),
        };
        let text = PolicyText {
            title: format!("第{i}号惠企政策"),
            issuer: "中原区人民政府".into(),
            doc_number: format!("中政〔2026〕{i}号"),
            summary: "对符合条件的企业给予资金奖励和政策扶持，申报材料包括营业执照、财务报表等".into(),
            text: String::new(),
            valid_from: "2026-01-01".into(),
            valid_until: "2030-12-31".into(),
            contact_department: None,
            criteria,
            excludes: vec![],
        };
        store.issue_policy(COUNTY, text).unwrap();
    }
    eprintln!("3,000 policies issued in {:.1} s", started.elapsed().as_secs_f64());
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    drop(conn);
    let after = std::fs::metadata(&path).unwrap().len();
    eprintln!("store: {:.1} MB before, {:.1} MB with 3,000 policies", before as f64 / 1e6, after as f64 / 1e6);
    let store = Store::open(&path, identity("mgr", Role::Manager)).unwrap();
    let enterprise = store.my_enterprises().unwrap()[0].id.clone();
    let policy = store.policies().unwrap()[0].id.clone();
    let matched = store.policies_for(&enterprise).unwrap();
    assert_eq!(matched.len(), 3_000);
    assert!(matched.iter().any(|m| m.matched.qualifies));
    c.bench_function("policies_for_one_enterprise_among_3000", |b| {
        b.iter(|| store.policies_for(&enterprise).unwrap().len())
    });
    c.bench_function("enterprises_for_one_policy_among_2000", |b| {
        b.iter(|| store.enterprises_for(&policy).unwrap().len())
    });
}

/// The costs encryption adds: a cadre's action, and opening a manager's store of 7,000 documents
/// (encrypted from the plain fixture once, before measuring), against the same plain.
#[cfg(feature = "encryption")]
fn encrypted(c: &mut Criterion) {
    const KEY: [u8; 32] = [0x42; 32];
    let tmp = tempfile::tempdir().unwrap();
    let plain = copy_fixture(tmp.path());
    let sealed_dir = tmp.path().join("sealed");
    std::fs::create_dir_all(&sealed_dir).unwrap();
    let sealed = copy_fixture(&sealed_dir);
    drop(Store::open_encrypted(&sealed, identity("mgr", Role::Manager), Some(&KEY)).unwrap());
    let mut g = c.benchmark_group("encrypted");
    g.sample_size(20);
    for (name, path, key) in [("plain", &plain, None), ("encrypted", &sealed, Some(&KEY[..]))] {
        g.bench_function(format!("open_7000_docs/{name}"), |b| {
            b.iter(|| Store::open_encrypted(path, identity("mgr", Role::Manager), key).unwrap())
        });
        g.bench_function(format!("open_and_home_counts/{name}"), |b| {
            b.iter(|| Store::open_encrypted(path, identity("mgr", Role::Manager), key).unwrap().home_counts().unwrap())
        });
        // A cadre's phone holding one of the manager's enterprises, assigned to it.
        let manager = Store::open_encrypted(path, identity("mgr", Role::Manager), key).unwrap();
        let cadre_path = path.with_file_name("cadre.db");
        let cadre = Store::open_encrypted(&cadre_path, identity("cadre-0", Role::Cadre), key).unwrap();
        cadre.import_directory(&directory()).unwrap();
        let mine = manager
            .my_enterprises()
            .unwrap()
            .into_iter()
            .find(|e| manager.enterprise(&e.id).unwrap().assignments.iter().any(|a| a.cadre_id == "cadre-0"))
            .unwrap()
            .id;
        let doc = manager.save_document(&mine).unwrap();
        cadre.apply_remote(&mine, zhuqi_core::domain::DocKind::Enterprise, &[doc]).unwrap();
        g.bench_function(format!("record_visit/{name}"), |b| b.iter(|| cadre.record_visit(&mine, new_visit()).unwrap()));
    }
    g.finish();
}

#[cfg(not(feature = "encryption"))]
fn encrypted(_: &mut Criterion) {}

criterion_group!(benches, cadre_actions, manager_store, policies, encrypted);
criterion_main!(benches);
