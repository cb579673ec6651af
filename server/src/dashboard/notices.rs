//! The task notices' handlers: the list with the form to issue one (its recipients found by a
//! search, never listed all at once), issuing (a new document by the manager's relay-side actor),
//! and one notice's recipients.

use super::pages::records::{
    FOUND_MAX, ListedNotice, NoticePage, NoticeProgress, NoticeRecipient, NoticesPage, Pick, RecipientPicker,
    RecipientSearch,
};
use super::session::{csrf_ok, managed, manager};
use super::{after_action, clock::day_start, in_subtree, root_path, show};
use crate::http::error::ApiError;
use crate::sync::directory::Snapshot;
use crate::{AppState, now_ms};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashSet;
use std::sync::Arc;
use zhuqi_core::domain::directory::path_covers;
use zhuqi_core::domain::text::parse_date;
use zhuqi_core::domain::{Department, Recipient, Role, User};

/// `GET /notices`: the notices of the manager's subtree and the form to issue one. The form's
/// search button sends the form back here by GET (`q`, the ticked `to` values, the title, body and
/// deadline): the page comes back with the cadres found, what was ticked still ticked, and the
/// fields filled in.
/// Notices listed on the page, the latest first (the overview counts them all).
const LISTED_NOTICES: u32 = 200;

pub async fn notices_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = url_pairs(query.as_deref().unwrap_or_default().as_bytes());
    // A search sends the whole form, its CSRF token too: the same page without it, so that the
    // token stays out of the address bar and the browser's history.
    if pairs.iter().any(|(k, _)| k == "csrf") {
        let kept: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| k != "csrf")
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect();
        return Redirect::to(&format!("/notices?{}", kept.join("&"))).into_response();
    }
    managed(state, headers, move |st, session, viewer| {
        let storage = st.storage.as_ref();
        let dir = st.directory.get(storage)?;
        let now = now_ms();
        // The latest notices of the subtree, with their progress, in one grouped query.
        let scope = super::units::Scope::of(&dir, session);
        let mut lines = Vec::new();
        storage.with_snapshot(&mut |db| {
            lines = crate::storage::figures::notice_lines(db, scope.regions.as_deref(), LISTED_NOTICES)?;
            Ok(())
        })?;
        let notices = lines
            .into_iter()
            .map(|n| {
                let progress = if n.status == "completed" {
                    NoticeProgress::Completed
                } else if n.deadline < now {
                    NoticeProgress::Late
                } else {
                    NoticeProgress::Open
                };
                let (done, recipients) = (n.done as usize, n.recipients as usize);
                ListedNotice { id: n.id, title: n.title, issued_at: n.issued_at, deadline: n.deadline, done, recipients, progress }
            })
            .collect();
        let get = |k: &str| pairs.iter().find(|(x, _)| x == k).map_or("", |(_, v)| v.as_str());
        let ticked: Vec<&str> = pairs.iter().filter(|(k, _)| k == "to").map(|(_, v)| v.as_str()).collect();
        let searched = pairs.iter().any(|(k, _)| k == "search" || k == "q");
        let region = session.user.region_id.as_deref().unwrap_or_default();
        let page = NoticesPage {
            notices,
            region,
            title: get("title"),
            body: get("body"),
            deadline: get("deadline"),
            picker: recipient_picker(&dir, &root_path(&dir, session), region, searched.then(|| get("q")), &ticked),
            csrf: viewer.csrf,
        };
        Ok(show(&page, viewer))
    })
    .await
}

/// Recipients carried over from one search to the next at most (as many as a notice may have).
const TICKED_MAX: usize = 500;
/// Departments below the office's own region a search lists at most.
const FOUND_DEPARTMENTS_MAX: usize = 20;
/// Words of a search at most.
const SEARCH_WORDS_MAX: usize = 8;

/// The recipients the issue form offers an office whose region is `region` (its path `root`): the
/// departments of that region; those of `ticked` that are in the subtree, ticked (others are
/// dropped unnamed: the form is no oracle of the directory beyond the office's region); and, for a
/// search `q`, the cadres of the subtree (at most [`FOUND_MAX`]) whose name, account, mobile number
/// or work unit contains every word, then the departments below the region whose name or region
/// does.
pub fn recipient_picker<'a>(
    dir: &'a Snapshot,
    root: &str,
    region: &str,
    q: Option<&'a str>,
    ticked: &[&str],
) -> RecipientPicker<'a> {
    let covered = |r: &str| dir.paths.get(r).is_some_and(|p| path_covers(root, p));
    let region_name = |r: &str| dir.regions.get(r).map_or("", |x| x.name.as_str());
    let cadre_pick = |u: &'a User, checked: bool| Pick {
        key: Recipient::Cadre(u.id.clone()).key(),
        name: &u.name,
        detail: match u.unit.as_deref() {
            Some(unit) if !unit.is_empty() => format!("{unit} · {}", u.id),
            _ => u.id.clone(),
        },
        checked,
    };
    let department_pick = |d: &'a Department, checked: bool| Pick {
        key: Recipient::Department(d.id.clone()).key(),
        name: &d.name,
        detail: if d.region_id == region { String::new() } else { region_name(&d.region_id).to_owned() },
        checked,
    };
    // What was ticked, known and in the subtree, once each, in the order given.
    let mut carried: Vec<Recipient> = Vec::new();
    for key in ticked {
        let Some(r) = Recipient::from_key(key) else { continue };
        let known = match &r {
            Recipient::Cadre(id) => {
                dir.users.get(id).is_some_and(|u| u.role == Role::Cadre && u.region_id.as_deref().is_some_and(covered))
            }
            Recipient::Department(id) => dir.departments.get(id).is_some_and(|d| covered(&d.region_id)),
            Recipient::Unknown { .. } => false,
        };
        if known && !carried.contains(&r) && carried.len() < TICKED_MAX {
            carried.push(r);
        }
    }
    let (mut ticked_cadres, mut ticked_departments) = (HashSet::new(), HashSet::new());
    for r in &carried {
        match r {
            Recipient::Cadre(id) => ticked_cadres.insert(id.as_str()),
            Recipient::Department(id) => ticked_departments.insert(id.as_str()),
            Recipient::Unknown { .. } => false,
        };
    }
    let mut own: Vec<&Department> = dir.departments.values().filter(|d| d.region_id == region).collect();
    own.sort_by(|a, b| a.id.cmp(&b.id));
    let departments = own.into_iter().map(|d| department_pick(d, ticked_departments.contains(d.id.as_str()))).collect();
    let ticked = carried
        .iter()
        .filter_map(|r| match r {
            Recipient::Cadre(id) => dir.users.get(id).map(|u| cadre_pick(u, true)),
            Recipient::Department(id) => {
                dir.departments.get(id).filter(|d| d.region_id != region).map(|d| department_pick(d, true))
            }
            Recipient::Unknown { .. } => None,
        })
        .collect();
    let search = q.map(|q| {
        let words: Vec<String> = q.split_whitespace().take(SEARCH_WORDS_MAX).map(str::to_lowercase).collect();
        let has_all = |fields: &[&str]| {
            !words.is_empty() && words.iter().all(|w| fields.iter().any(|f| f.to_lowercase().contains(w.as_str())))
        };
        let mut cadres: Vec<&User> = dir
            .users
            .values()
            .filter(|u| u.role == Role::Cadre && u.region_id.as_deref().is_some_and(covered))
            .filter(|u| !ticked_cadres.contains(u.id.as_str()))
            .filter(|u| {
                let or_empty = |x: &'a Option<String>| x.as_deref().unwrap_or_default();
                has_all(&[&u.name, &u.id, or_empty(&u.mobile), or_empty(&u.unit)])
            })
            .collect();
        let more = cadres.len().saturating_sub(FOUND_MAX);
        cadres.sort_by(|a, b| a.id.cmp(&b.id));
        cadres.truncate(FOUND_MAX);
        let mut below: Vec<&Department> = dir
            .departments
            .values()
            .filter(|d| d.region_id != region && covered(&d.region_id))
            .filter(|d| !ticked_departments.contains(d.id.as_str()))
            .filter(|d| has_all(&[&d.name, &d.id, region_name(&d.region_id)]))
            .collect();
        below.sort_by(|a, b| a.id.cmp(&b.id));
        below.truncate(FOUND_DEPARTMENTS_MAX);
        let found = cadres
            .into_iter()
            .map(|u| cadre_pick(u, false))
            .chain(below.into_iter().map(|d| department_pick(d, false)))
            .collect();
        RecipientSearch { q, found, more }
    });
    RecipientPicker { departments, ticked, search }
}

/// A form value percent-encoded (spaces as `+`), as a browser sends it.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Issues a task notice from the desk (a new document by the manager's relay-side actor).
pub async fn issue_notice(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    // Repeated `to` fields: parsed by hand (a form may list many recipients).
    let pairs: Vec<(String, String)> = url_pairs(&body);
    let get = |k: &str| pairs.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let (session, token) = match manager(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !csrf_ok(&get("csrf"), &token) {
        return ApiError::forbidden("bad CSRF token").into_response();
    }
    // Each once (a recipient ticked twice is one recipient), in the order given.
    let mut recipients: Vec<Recipient> = Vec::new();
    for r in pairs.iter().filter(|(k, _)| k == "to").filter_map(|(_, v)| Recipient::from_key(v)) {
        if !recipients.contains(&r) {
            recipients.push(r);
        }
    }
    let Ok(day) = parse_date("deadline", &get("deadline")) else {
        return ApiError::bad_request("deadline").into_response();
    };
    let action = zhuqi_core::domain::TaskNoticeAction::Issued {
        region_id: get("region"),
        title: get("title"),
        body: get("body"),
        deadline: day_start(day + 1) - 1,
        recipients,
    };
    let st = state.clone();
    let id = uuid::Uuid::now_v7().to_string();
    let nid = id.clone();
    let result = tokio::task::spawn_blocking(move || {
        let now = now_ms();
        let action = action
            .validate(now)
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string(), "输入内容有误"))?;
        let region = match &action {
            zhuqi_core::domain::TaskNoticeAction::Issued { region_id, .. } => region_id.clone(),
            _ => String::new(),
        };
        let mut author = crate::sync::author::Author::new(&st, &session.user.id)?;
        author.create(zhuqi_core::domain::DocKind::TaskNotice, &nid, &[("region_id", &region)], action, now)?;
        author.submit_all()
    })
    .await;
    after_action(result, &format!("/notices/{id}"))
}

/// `application/x-www-form-urlencoded` pairs, decoded.
fn url_pairs(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                        Ok(b) => {
                            out.push(b);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

pub async fn notice_page(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    managed(state, headers, move |st, session, viewer| {
        let storage = st.storage.as_ref();
        let dir = st.directory.get(storage)?;
        let Some((_, region, title, issued_by, issued_at, deadline, status)) =
            storage.task_notice_rows()?.into_iter().find(|n| n.0 == id)
        else {
            return Err(ApiError::not_found("no such notice in your region"));
        };
        if !in_subtree(&dir, session, &region) {
            return Err(ApiError::not_found("no such notice in your region"));
        }
        let name = |key: &str| match zhuqi_core::domain::Recipient::from_key(key) {
            Some(zhuqi_core::domain::Recipient::Department(d)) => dir.departments.get(&d).map_or(d, |x| x.name.clone()),
            Some(zhuqi_core::domain::Recipient::Cadre(c)) => dir.users.get(&c).map_or(c, |x| x.name.clone()),
            Some(zhuqi_core::domain::Recipient::Unknown { .. }) | None => key.to_owned(),
        };
        let recipients = storage
            .task_recipient_rows(&id)?
            .into_iter()
            .map(|(key, ack, done)| NoticeRecipient { name: name(&key), acknowledged_at: ack, completed_at: done })
            .collect();
        let page = NoticePage {
            title: &title,
            issued_by: dir.users.get(&issued_by).map_or(issued_by.as_str(), |u| u.name.as_str()),
            issued_at,
            deadline,
            completed: status == "completed",
            recipients,
            now: now_ms(),
        };
        Ok(show(&page, viewer))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::pages::{Viewer, render};
    use zhuqi_core::domain::{Region, RegionLevel};

    /// A province: 19 cities of 8 counties; `per_city` cadres in the counties of each city, a bureau
    /// in each city and county.
    fn province(per_city: usize) -> Snapshot {
        let mut dir = Snapshot::default();
        let mut region = |id: String, name: String, level, parent: Option<&str>| {
            let path = match parent {
                Some(p) => format!("{}/{id}", dir.paths[p]),
                None => id.clone(),
            };
            dir.paths.insert(id.clone(), path);
            dir.regions.insert(id.clone(), Region { id, name, level, parent_id: parent.map(Into::into) });
        };
        region("410000".into(), "河南省".into(), RegionLevel::Province, None);
        for c in 0..19 {
            let city = format!("41{:02}00", c + 1);
            region(city.clone(), format!("第{c}市"), RegionLevel::City, Some("410000"));
            for k in 0..8 {
                region(
                    format!("41{:02}{:02}", c + 1, k + 1),
                    format!("第{c}市第{k}区"),
                    RegionLevel::County,
                    Some(&city),
                );
            }
        }
        for r in dir.regions.keys().cloned().collect::<Vec<_>>() {
            let id = format!("{r}-finance");
            let name = format!("{}财政局", dir.regions[&r].name);
            dir.departments.insert(id.clone(), Department { id, name, region_id: r });
        }
        for c in 0..19 {
            for i in 0..per_city {
                let county = format!("41{:02}{:02}", c + 1, i % 8 + 1);
                let id = format!("{county}-cadre{i}");
                let user = User {
                    id: id.clone(),
                    name: format!("干部{c}-{i}"),
                    role: Role::Cadre,
                    region_id: Some(county.clone()),
                    department_id: None,
                    enterprise_id: None,
                    mobile: Some(format!("139{:04}{:04}", c, i)),
                    position: None,
                    unit: Some(format!("{}发展和改革委员会", dir.regions[&county].name)),
                };
                dir.users.insert(id, user);
            }
        }
        dir
    }

    /// The notices page of the office of `region`, after a search `q` with `ticked` carried over.
    fn page(dir: &Snapshot, region: &str, q: Option<&str>, ticked: &[&str]) -> String {
        let page = NoticesPage {
            notices: vec![],
            region,
            title: "春节前走访",
            body: "全覆盖",
            deadline: "2099-01-31",
            picker: recipient_picker(dir, &dir.paths[region], region, q, ticked),
            csrf: "token",
        };
        render(&page, Some(Viewer { name: "活动办", csrf: "token" })).into_string()
    }

    fn cadre_boxes(html: &str) -> usize {
        html.matches(r#"type="checkbox" name="to" value="cadre:"#).count()
    }

    #[test]
    fn the_form_finds_cadres_and_never_lists_them_all() {
        let dir = province(4_000);
        assert_eq!(dir.users.len(), 76_000);
        for region in ["410100", "410000"] {
            let html = page(&dir, region, None, &[]);
            assert!(html.len() < 60_000, "{region}: {} bytes", html.len());
            assert_eq!(cadre_boxes(&html), 0);
            assert_eq!(html.matches(r#"value="department:"#).count(), 1, "the bureau of the office's own region");
            // A search matching every cadre: 50 of them, and how many more.
            let html = page(&dir, region, Some("干部"), &[]);
            assert!(html.len() < 60_000, "{region}: {} bytes", html.len());
            assert_eq!(cadre_boxes(&html), FOUND_MAX);
            let all = if region == "410000" { 76_000 } else { 4_000 };
            assert!(html.contains(&format!("另有 {} 名干部相符", all - FOUND_MAX)), "{region}");
        }
        // Every word must match, in the name, account, mobile number or work unit.
        let found = |q: &str| {
            let p = recipient_picker(&dir, &dir.paths["410100"], "410100", Some(q), &[]);
            let s = p.search.unwrap();
            (s.found.into_iter().map(|f| f.key).collect::<Vec<_>>(), s.more)
        };
        let one = || (vec!["cadre:410108-cadre3999".to_owned()], 0);
        assert_eq!(found("干部0-3999"), one());
        assert_eq!(found("13900003999"), one(), "a mobile number");
        assert_eq!(found("410108-CADRE3999"), one(), "an account, in any case");
        assert_eq!(found("第0市第7区发展 干部0-3999"), one(), "a work unit and a name");
        assert_eq!(found("第0市第6区发展 干部0-3999"), (vec![], 0), "every word");
        assert_eq!(found("干部1-3999"), (vec![], 0), "another city's cadre");
        assert_eq!(found("   "), (vec![], 0));
        // Departments below the office's region are found too (its own are always listed).
        assert_eq!(found("第0市第3区 财政").0, vec!["department:410104-finance".to_owned()]);
    }

    #[test]
    fn ticked_recipients_come_back_ticked_and_only_those_of_the_region() {
        let dir = province(100);
        let ticked = [
            "cadre:410102-cadre1",
            "cadre:410102-cadre1", // twice: once
            "cadre:410201-cadre0", // another city's
            "cadre:no-such-cadre",
            "department:410100-finance", // the office's own bureau: ticked where it is listed
            "department:410105-finance",
            "department:410205-finance", // another city's
            "survey:x",
            "garbage",
        ];
        let p = recipient_picker(&dir, &dir.paths["410100"], "410100", Some("第0市第1区"), &ticked);
        let keys = |v: &[Pick<'_>]| v.iter().map(|p| (p.key.clone(), p.checked)).collect::<Vec<_>>();
        assert_eq!(keys(&p.departments), vec![("department:410100-finance".to_owned(), true)]);
        assert_eq!(
            keys(&p.ticked),
            vec![("cadre:410102-cadre1".to_owned(), true), ("department:410105-finance".to_owned(), true)]
        );
        let s = p.search.as_ref().unwrap();
        // The county's 13 cadres but the ticked one, then its bureau; none ticked.
        assert_eq!(s.found.len(), 12 + 1);
        assert!(s.found.iter().all(|f| !f.checked && f.key != "cadre:410102-cadre1"));
        assert_eq!(s.found.last().unwrap().key, "department:410102-finance");
        let html = page(&dir, "410100", Some("第0市第1区"), &ticked);
        assert_eq!(html.matches(" checked>").count(), 3);
        assert_eq!(cadre_boxes(&html), 12 + 1);
        assert!(
            !html.contains("410201")
                && !html.contains("410205")
                && !html.contains("no-such")
                && !html.contains("survey")
        );
        // The fields come back filled in, the search button sends the form by GET.
        assert!(html.contains(r#"<input name="title" placeholder="标题" required size="40" value="春节前走访">"#));
        assert!(html.contains(r#"placeholder="内容" required>全覆盖</textarea>"#));
        assert!(html.contains(r#"name="deadline" required value="2099-01-31">"#));
        assert!(html.contains(r#"value="第0市第1区"></label> <button name="search" value="1" formmethod="get" formaction="/notices#issue" formnovalidate>"#));
        assert!(html.find(r#"name="search""#) < html.find(r#"<button class="primary">下发"#), "Enter searches");
        assert!(html.contains(r#"<input type="hidden" name="csrf" value="token">"#));
    }

    #[test]
    fn form_values_encode_as_a_browser_sends_them() {
        assert_eq!(form_encode("a b&c=d/中+"), "a+b%26c%3Dd%2F%E4%B8%AD%2B");
        let query = format!("{}={}&to=cadre%3Ax", form_encode("k&"), form_encode("a b&c=d/中+"));
        assert_eq!(
            url_pairs(query.as_bytes()),
            vec![("k&".to_owned(), "a b&c=d/中+".to_owned()), ("to".to_owned(), "cadre:x".to_owned())]
        );
    }
}
