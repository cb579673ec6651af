//! A minimal browser for the dashboard's end-to-end tests: keeps cookies per name (as a browser
//! would), follows no redirects, and signs in through the real form with its CSRF token.

use std::collections::BTreeMap;

pub struct Browser {
    pub http: reqwest::blocking::Client,
    pub base: String,
    /// Cookies by name, as set by the relay (expired ones removed).
    pub cookies: BTreeMap<String, String>,
}

/// The value of the first `name="csrf"` field of a page.
pub fn csrf_in(html: &str) -> String {
    html.split(r#"name="csrf" value=""#).nth(1).expect("a CSRF field").split('"').next().unwrap().to_owned()
}

impl Browser {
    pub fn new(base: &str) -> Browser {
        let http = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { http, base: base.into(), cookies: BTreeMap::new() }
    }

    /// The `Cookie` header this browser would send.
    pub fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep_cookies(&mut self, r: &reqwest::blocking::Response) {
        for set in r.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            assert!(set.contains("HttpOnly") && set.contains("Secure") && set.contains("SameSite=Strict"), "{set}");
            let (name, value) = set.split(';').next().unwrap().split_once('=').unwrap();
            if value.is_empty() || set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    /// GET: status, body and `Location`.
    pub fn get(&mut self, path: &str) -> (u16, String, Option<String>) {
        let r = self.http.get(format!("{}{path}", self.base)).header("cookie", self.cookie_header()).send().unwrap();
        self.keep_cookies(&r);
        let loc = r.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
        (r.status().as_u16(), r.text().unwrap(), loc)
    }

    /// POST of a URL-encoded form: status and body.
    pub fn post(&mut self, path: &str, form: &str) -> (u16, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", self.cookie_header())
            .body(form.to_owned())
            .send()
            .unwrap();
        self.keep_cookies(&r);
        (r.status().as_u16(), r.text().unwrap())
    }

    /// Opens the sign-in page and submits it: status and body of the answer.
    pub fn sign_in(&mut self, login: &str, password: &str) -> (u16, String) {
        let (status, html, _) = self.get("/login");
        assert_eq!(status, 200);
        let csrf = csrf_in(&html);
        let enc = |s: &str| url_encode(s);
        self.post("/login", &format!("csrf={csrf}&login={}&password={}", enc(login), enc(password)))
    }
}

/// Percent-encodes a form value.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
