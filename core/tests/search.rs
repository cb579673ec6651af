//! Search on the phone: enterprises and problems found by any part of their Chinese names and
//! texts, credit codes and contacts, offline, a page at a time; kept in step with every change, a
//! purge and a wipe; filled for a store that had documents before search existed.

mod common;

use common::*;
use zhuqi_core::domain::{Category, Contact, ProfileUpdate};
use zhuqi_core::store::{NewProblem, SearchScope};

fn titles(hits: &[zhuqi_core::store::SearchHit]) -> Vec<&str> {
    hits.iter().map(|h| h.title.as_str()).collect()
}

#[test]
fn enterprises_and_problems_are_found_by_any_part_of_their_text() {
    let tmp = tempfile::tempdir().unwrap();
    let office = open(tmp.path(), &directory(ENTERPRISE), "mgr-county", &TestClock::new());
    let a = office.register_enterprise(profile("郑州精工机械有限公司", COUNTY)).unwrap();
    let mut other = profile("中原纺织科技有限公司", COUNTY);
    other.uscc = zhuqi_core::domain::uscc::complete("91410102MA55AB3C7").unwrap();
    let b = office.register_enterprise(other).unwrap();
    office
        .update_enterprise(
            &b,
            ProfileUpdate {
                contacts: Some(vec![Contact {
                    name: "赵晓梅".into(),
                    title: "财务总监".into(),
                    phone: "13800001111".into(),
                }]),
                ..Default::default()
            },
        )
        .unwrap();
    let p = office
        .report_problem(NewProblem {
            enterprise_id: a.clone(),
            category: Category::Financing,
            title: "流动资金贷款到期".into(),
            description: "银行抽贷，需要续贷500万元".into(),
            visit_id: None,
            photos: vec![],
        })
        .unwrap();

    let find = |q: &str| office.search(q, SearchScope::All, 0, 20).unwrap();
    let hits = find("精工机械");
    let mut found = titles(&hits);
    found.sort();
    assert_eq!(found, ["流动资金贷款到期", "郑州精工机械有限公司"], "the enterprise, and its problem by its name");
    assert_eq!(titles(&find("有限公司")).len(), 3, "two enterprises, and a problem by its enterprise's name");
    assert_eq!(titles(&find("纺织 科技")), ["中原纺织科技有限公司"], "every term must appear");
    assert_eq!(titles(&find("MA55AB")), ["中原纺织科技有限公司"], "by credit code");
    assert_eq!(titles(&find("赵晓梅")), ["中原纺织科技有限公司"], "by contact");
    assert_eq!(titles(&find("1380000")), ["中原纺织科技有限公司"], "by phone");
    assert_eq!(titles(&find("续贷")), ["流动资金贷款到期"], "two characters: a substring match");
    assert_eq!(titles(&find("贷")).len(), 1);
    assert_eq!(titles(&find("续贷500万")), ["流动资金贷款到期"], "by description");
    assert!(find("钢铁").is_empty());
    let both = find("精工");
    assert_eq!(
        (both.len(), both.iter().filter(|h| h.kind == "problem").count()),
        (2, 1),
        "the problem names its enterprise"
    );
    assert_eq!(titles(&office.search("精工", SearchScope::Problems, 0, 20).unwrap()), ["流动资金贷款到期"]);
    assert_eq!(titles(&office.search("精工", SearchScope::Enterprises, 0, 20).unwrap()), ["郑州精工机械有限公司"]);
    // Hostile queries are text, never syntax.
    for q in ["\"", "精工\" OR \"纺织", "* NEAR(", "%", "_", "\\", "title:精工", "(", "有限公司 -纺织"] {
        office.search(q, SearchScope::All, 0, 20).unwrap_or_else(|e| panic!("{q}: {e}"));
    }
    assert!(find("%").is_empty() && find("_").is_empty(), "LIKE wildcards are literal");
    assert!(office.search(&"长".repeat(101), SearchScope::All, 0, 20).is_err(), "too long");
    assert!(find("  ").is_empty());
    // Pages.
    let first = office.search("有限公司", SearchScope::All, 0, 1).unwrap();
    let second = office.search("有限公司", SearchScope::All, 1, 1).unwrap();
    assert_eq!((first.len(), second.len()), (1, 1));
    assert_ne!(first[0].id, second[0].id);
    assert_eq!(office.search("有限公司", SearchScope::All, 2, 1).unwrap().len(), 1);
    assert!(office.search("有限公司", SearchScope::All, 3, 1).unwrap().is_empty());
    // A change is searchable at once; the old text is not.
    office.update_enterprise(&b, ProfileUpdate { contacts: Some(vec![]), ..Default::default() }).unwrap();
    assert!(find("赵晓梅").is_empty());
    assert_eq!(find("流动资金")[0].id, p);
    // A purge and a wipe take the rows with them.
    office.purge(&[p.clone()]).unwrap();
    assert!(find("流动资金").is_empty());
    office.wipe().unwrap();
    assert!(find("有限公司").is_empty());
}

#[test]
fn a_store_that_held_documents_before_search_existed_is_indexed_when_it_opens() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let dir = directory(ENTERPRISE);
    let office = open(tmp.path(), &dir, "mgr-county", &clock);
    office.register_enterprise(profile("郑州精工机械有限公司", COUNTY)).unwrap();
    drop(office);
    // As a store of version 6 upgraded: no search rows, and the upgrade's request to index.
    let conn = rusqlite::Connection::open(tmp.path().join("mgr-county.db")).unwrap();
    conn.execute_batch(
        "DELETE FROM search_text; DELETE FROM search_docs;
         INSERT INTO meta (key, value) VALUES ('reindex', 'search');",
    )
    .unwrap();
    drop(conn);
    let office = open(tmp.path(), &dir, "mgr-county", &clock);
    assert_eq!(titles(&office.search("精工", SearchScope::All, 0, 10).unwrap()), ["郑州精工机械有限公司"]);
    let conn = rusqlite::Connection::open(tmp.path().join("mgr-county.db")).unwrap();
    let asked: i64 = conn.query_row("SELECT COUNT(*) FROM meta WHERE key = 'reindex'", [], |r| r.get(0)).unwrap();
    assert_eq!(asked, 0, "indexed once");
}
