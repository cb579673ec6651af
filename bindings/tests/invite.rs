//! A cadre's app invites an enterprise without the app: it asks the relay for a contact's web
//! sign-in link through the exported client (the code, the URL its QR code holds, the expiry), the
//! link works in a browser, and the app's reach report then shows the enterprise reached.

use zhuqi_ffi::*;
use zhuqi_tests::{ENT_A, PASSWORD, Relay, seed_directory, seed_enterprises};

#[test]
fn a_cadre_s_app_issues_a_web_link_and_sees_the_enterprise_reached() {
    let tmp = tempfile::tempdir().unwrap();
    let relay = Relay::start(&tmp.path().join("relay"));
    seed_directory(relay.state.storage.as_ref());
    seed_enterprises(&relay.url, tmp.path());
    let options = ClientOptions { allow_insecure_http: true, ..ClientOptions::default() };
    let client = ZhuqiClient::new(tmp.path().join("phone").display().to_string(), relay.url.clone(), options).unwrap();
    client.sign_in("cadre".into(), PASSWORD.into(), "手机".into()).unwrap();

    let report = client.enterprise_reach().unwrap();
    assert_eq!(report.never_reached, 1);
    assert!(report.enterprises[0].never_reached && report.enterprises[0].enterprise_id == ENT_A);

    let link = client.issue_web_link(ENT_A.into(), None, None, None).unwrap();
    assert_eq!(link.contact_user_id, "contact", "the enterprise's only contact");
    assert!(link.url.starts_with(&format!("{}/e/l/", relay.url)), "{}", link.url);
    assert_eq!(link.code.len(), 19);
    assert!(link.expires_at > zhuqi_server::now_ms() + 71 * 3_600_000);
    let report = client.enterprise_reach().unwrap();
    assert_eq!(report.enterprises[0].link_expires_at, Some(link.expires_at), "a link waits");

    // The link signs a browser in.
    let mut browser = zhuqi_tests::browser::Browser::new(&relay.url);
    let (status, page, _) = browser.get(&link.url[relay.url.len()..]);
    assert_eq!(status, 200);
    let code = page.split(r#"name="code" value=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    let csrf = zhuqi_tests::browser::csrf_in(&page);
    assert_eq!(browser.post("/e/sign-in", &format!("csrf={csrf}&code={code}")).0, 303);
    let report = client.enterprise_reach().unwrap();
    assert_eq!((report.never_reached, report.enterprises[0].web_sign_ins), (0, 1));
    assert!(!report.enterprises[0].never_reached);

    // A contact of another enterprise: NotFound-like refusal from the relay.
    let err = client.issue_web_link(ENT_A.into(), Some("contact-b".into()), None, None).unwrap_err();
    assert!(matches!(err, ZhuqiError::Rejected { ref code, .. } if code == "not_found"), "{err:?}");
}
