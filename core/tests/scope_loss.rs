//! A document leaving the phone (its scope changed on the relay) never takes the user's unsent work
//! with it.

mod common;

use common::*;

#[test]
fn a_change_made_while_its_document_leaves_the_phone_is_kept_in_the_quarantine() {
    let w = World::new();
    // Reported while a sync was under way; the sync's answer purges the problem (say the cadre's
    // assignment ended meanwhile) before the report was ever sent.
    let pid = w.cadre.report_problem(problem(&w.enterprise_id, None)).unwrap();
    let visit_before = w.cadre.record_visit(&w.enterprise_id, visit("2026-03-02")).unwrap();
    assert_eq!(w.cadre.pending_changes().unwrap().len(), 2);
    assert_eq!(w.cadre.purge(std::slice::from_ref(&pid)).unwrap(), 1);
    assert!(w.cadre.problem(&pid).is_err(), "the problem left the phone");
    let q = w.cadre.quarantined().unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!((q[0].doc_id.as_str(), q[0].code.as_str()), (pid.as_str(), "out_of_scope"));
    assert!(q[0].events[0].contains("流动资金贷款"), "the user can see what was not sent: {:?}", q[0].events);
    assert!(w.cadre.export_quarantine().unwrap().contains("流动资金贷款"));
    // The other document's change still waits to be sent, and new work goes on with a fresh actor.
    assert_eq!(w.cadre.pending_changes().unwrap().len(), 1);
    let visit_after = w.cadre.record_visit(&w.enterprise_id, visit("2026-03-03")).unwrap();
    assert_ne!(visit_before, visit_after);
    assert_eq!(w.cadre.pending_changes().unwrap().len(), 2);
    send_all(&w.cadre, &w.manager);
    assert_eq!(w.manager.enterprise(&w.enterprise_id).unwrap().visits.len(), 2);
}
