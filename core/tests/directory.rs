//! What the apps' pickers read from the device's directory (regions, the departments and cadres of a
//! region) and the list of documents not yet synced.

mod common;

use common::*;
use zhuqi_core::Error;
use zhuqi_core::domain::error::Entity;
use zhuqi_core::domain::{Directory, DocKind, DomainError, Region, RegionLevel};
use zhuqi_core::store::DocSyncStatus;

fn ids<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| id(i).to_owned()).collect()
}

#[test]
fn regions_come_in_tree_order() {
    let w = World::new();
    let regions = w.cadre.regions().unwrap();
    assert_eq!(ids(&regions, |r| &r.id), [PROVINCE, CITY, COUNTY, OTHER_COUNTY]);
    assert_eq!(regions[2].level, RegionLevel::County);
    assert_eq!(regions[2].parent_id.as_deref(), Some(CITY));
}

#[test]
fn departments_of_a_region_and_of_its_subtree() {
    let w = World::new();
    let city = w.store("mgr-city");
    // A campaign office's own region by default; its subtree, top down, for routing.
    assert_eq!(ids(&city.departments(None, true).unwrap(), |d| &d.id), [LAND, FINANCE, OTHER_DEPT]);
    assert_eq!(ids(&city.departments(None, false).unwrap(), |d| &d.id), [LAND]);
    assert_eq!(ids(&w.manager.departments(None, true).unwrap(), |d| &d.id), [FINANCE]);
    assert_eq!(ids(&w.manager.departments(Some(CITY), false).unwrap(), |d| &d.id), [LAND]);
    // A handler's own region is its department's.
    assert_eq!(ids(&w.handler.departments(None, false).unwrap(), |d| &d.id), [FINANCE]);
    // An enterprise contact's is its enterprise's.
    assert_eq!(ids(&w.contact.departments(None, false).unwrap(), |d| &d.id), [FINANCE]);
}

#[test]
fn cadres_of_a_region_and_of_its_subtree() {
    let w = World::new();
    let city = w.store("mgr-city");
    assert_eq!(ids(&city.cadres(None, true).unwrap(), |u| &u.id), ["cadre-1", "cadre-2"]);
    assert!(city.cadres(None, false).unwrap().is_empty(), "no cadre works at the city itself");
    assert_eq!(ids(&w.manager.cadres(None, true).unwrap(), |u| &u.id), ["cadre-1"]);
    assert_eq!(ids(&city.cadres(Some(OTHER_COUNTY), true).unwrap(), |u| &u.id), ["cadre-2"]);
    let cadre = &w.manager.cadres(None, true).unwrap()[0];
    assert_eq!((cadre.name.as_str(), cadre.region_id.as_deref()), ("王干部", Some(COUNTY)));
}

#[test]
fn a_subtree_is_whole_segments_and_an_unknown_region_is_not_found() {
    let w = World::new();
    // A sibling whose id starts with the county's: not within the county.
    let sibling = Region {
        id: format!("{COUNTY}9"),
        name: "邻区".into(),
        level: RegionLevel::County,
        parent_id: Some(CITY.into()),
    };
    let mut dir = Directory { regions: vec![sibling.clone()], ..Default::default() };
    dir.departments.push(zhuqi_core::domain::Department {
        id: "dept-sibling".into(),
        name: "邻区财政局".into(),
        region_id: sibling.id.clone(),
    });
    w.manager.import_directory(&dir).unwrap();
    assert_eq!(ids(&w.manager.departments(Some(COUNTY), true).unwrap(), |d| &d.id), [FINANCE]);
    assert_eq!(ids(&w.manager.departments(Some(&sibling.id), true).unwrap(), |d| &d.id), ["dept-sibling"]);
    match w.manager.cadres(Some("no-such-region"), true) {
        Err(Error::Domain(DomainError::NotFound { what: Entity::Region, id })) => assert_eq!(id, "no-such-region"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unsynced_lists_waiting_and_refused_documents_with_what_they_are() {
    let w = World::new();
    let ent = w.enterprise_id.clone();
    // The office registered and assigned the enterprise: two changes wait on its phone.
    let waiting = w.manager.unsynced().unwrap();
    assert_eq!(waiting.len(), 1);
    let e = &waiting[0];
    assert_eq!((e.doc_id.as_str(), e.kind, e.status), (ent.as_str(), DocKind::Enterprise, DocSyncStatus::Waiting));
    assert_eq!((e.waiting, e.refused, e.title.as_deref()), (2, 0, Some("郑州精工机械有限公司")));

    assert!(w.cadre.unsynced().unwrap().is_empty());
    w.cadre.record_visit(&ent, visit("2026-03-02")).unwrap();
    let pid = w.cadre.report_problem(problem(&ent, None)).unwrap();
    let listed = w.cadre.unsynced().unwrap();
    assert_eq!(ids(&listed, |d| &d.doc_id), [ent.clone(), pid.clone()], "oldest first");
    assert_eq!((listed[1].kind, listed[1].title.as_deref()), (DocKind::Problem, Some("流动资金贷款")));

    // The problem leaves the cadre's scope before its report was sent: kept in the quarantine.
    w.cadre.purge(std::slice::from_ref(&pid)).unwrap();
    let listed = w.cadre.unsynced().unwrap();
    let p = listed.iter().find(|d| d.doc_id == pid).unwrap();
    assert_eq!((p.status, p.waiting, p.refused, p.title.as_deref()), (DocSyncStatus::Rejected, 0, 1, None));
    assert_eq!(listed.iter().find(|d| d.doc_id == ent).unwrap().status, DocSyncStatus::Waiting);
}
