//! The exported object called from many threads at once, as apps do (UI-adjacent workers,
//! WorkManager, a watch thread): no deadlock, no panic, nothing lost.

use std::sync::Arc;
use zhuqi_ffi::*;
use zhuqi_tests::{ENT_A, PASSWORD, Relay, seed_directory, seed_enterprises};

#[test]
fn many_threads_share_one_client() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    seed_directory(relay.state.storage.as_ref());
    seed_enterprises(&relay.url, tmp.path());
    let options = ClientOptions { store_key: Some(vec![7; 32]), allow_insecure_http: true, ..ClientOptions::default() };
    let client = ZhuqiClient::new(tmp.path().join("phone").display().to_string(), relay.url.clone(), options).unwrap();
    client.sign_in("cadre".into(), PASSWORD.into(), "手机".into()).unwrap();
    Arc::clone(&client).sync_now().unwrap();
    let today = zhuqi_core::domain::text::date_of(zhuqi_server::now_ms());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let client = Arc::clone(&client);
            let today = today.clone();
            std::thread::spawn(move || {
                for i in 0..15 {
                    match (t + i) % 4 {
                        0 => {
                            let visit = VisitInput {
                                date: today.clone(),
                                people_met: vec![format!("线程{t}-{i}")],
                                notes: "走访".into(),
                                policies: vec![],
                                policy_ids: vec![],
                                location: None,
                                photos: vec![],
                            };
                            client.record_visit(ENT_A.into(), visit).unwrap();
                        }
                        1 => {
                            let p = ProblemInput {
                                enterprise_id: ENT_A.into(),
                                category: Category::Other,
                                title: format!("问题{t}-{i}"),
                                description: "描述".into(),
                                visit_id: None,
                                photos: vec![],
                            };
                            client.report_problem(p).unwrap();
                        }
                        2 => {
                            Arc::clone(&client).sync_now().unwrap();
                        }
                        _ => {
                            client.home_counts().unwrap();
                            client.my_enterprises().unwrap();
                            client.problems(ProblemQuery::default()).unwrap();
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no panic");
    }
    Arc::clone(&client).sync_now().unwrap();
    let counts = client.home_counts().unwrap();
    assert_eq!(counts.unsynced_changes, 0);
    let detail = client.enterprise(ENT_A.into()).unwrap();
    // 8 threads × 15 calls, a quarter of them visits and a quarter problems.
    assert_eq!(detail.visits.len(), 30);
    assert_eq!(client.problems(ProblemQuery::default()).unwrap().len(), 30);
    // The relay has them too.
    let doc = zhuqi_core::document::Document::load(&relay.state.document_bytes(ENT_A).unwrap().unwrap()).unwrap();
    let events: Vec<zhuqi_core::domain::Event<zhuqi_core::domain::EnterpriseAction>> = doc.events();
    assert_eq!(events.len(), 2 + 30);
}
