//! What a province's policy library costs a phone's first sync: 3,000 policies issued by the
//! province's, a city's and a county's offices (the policies of every region above the cadre reach
//! the cadre), then a cadre of the county signs in on a new phone and syncs. Prints the bytes on the
//! wire and the time, with and without the policies, and the store's size.
//!
//! Run: `cargo bench -p zhuqi-tests --bench policy_sync`.

use std::time::Instant;
use zhuqi_core::domain::policy::{Criteria, PolicyText};
use zhuqi_tests::*;

fn policy(i: usize) -> PolicyText {
    PolicyText {
        title: format!("第{i}号惠企政策：支持企业技术改造和数字化转型"),
        issuer: "河南省工业和信息化厅".into(),
        doc_number: format!("豫工信〔2026〕{i}号"),
        summary:
            "对实施技术改造、智能化改造和数字化转型的企业，按设备投资额的一定比例给予奖补，单个企业最高不超过500万元；\
                  申报材料包括项目备案证明、设备购置发票、财务审计报告等"
                .into(),
        text: format!("https://gxt.henan.gov.cn/policy/{i}"),
        valid_from: "2026-01-01".into(),
        valid_until: "2028-12-31".into(),
        contact_department: None,
        criteria: Criteria {
            industries: if i % 2 == 0 { vec!["装备制造".into()] } else { vec![] },
            tags: if i % 3 == 0 { vec!["srdi".into(), "little_giant".into()] } else { vec![] },
            ..Default::default()
        },
        excludes: vec![],
    }
}

fn first_sync(relay: &Relay, dir: &std::path::Path, label: &str) -> std::path::PathBuf {
    let phone = Device::sign_in(&relay.url, dir, "cadre");
    let t = Instant::now();
    let r = phone.sync();
    let elapsed = t.elapsed().as_secs_f64() * 1e3;
    let held = phone.store.policies().unwrap().len();
    println!(
        "first sync of a county cadre, {label}: {} documents, {held} policies, {:.1} KB received in {} round trips, {elapsed:.0} ms",
        r.pulled,
        r.bytes_received as f64 / 1e3,
        r.round_trips
    );
    phone.path.clone()
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    seed_directory(relay.state.storage.as_ref());
    seed_enterprises(&relay.url, tmp.path());
    std::fs::create_dir_all(tmp.path().join("a")).unwrap();
    let before = first_sync(&relay, &tmp.path().join("a"), "without policies");
    let size = |p: &std::path::Path| {
        let conn = rusqlite::Connection::open(p).unwrap();
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
        std::fs::metadata(p).unwrap().len() as f64 / 1e6
    };
    let t = Instant::now();
    for (login, region, n) in [("city", CITY, 1_000), ("manager", COUNTY, 1_000), ("city", CITY, 1_000)] {
        let office = Device::sign_in(&relay.url, tmp.path(), login);
        office.sync();
        for i in 0..n {
            office.store.issue_policy(region, policy(i)).unwrap();
        }
        office.sync();
    }
    println!("3,000 policies issued and pushed in {:.1} s", t.elapsed().as_secs_f64());
    std::fs::create_dir_all(tmp.path().join("b")).unwrap();
    let after = first_sync(&relay, &tmp.path().join("b"), "with 3,000 policies");
    println!("the phone's store: {:.2} MB without, {:.2} MB with the policies", size(&before), size(&after));
}
