//! Validation of pushed changes: the relay accepts a device's changes to a document only if each one
//! appends events to the event log (and nothing else), under an actor id registered to the device,
//! with the signed-in user as the events' author, and only if the rules of `zhuqi_core::rules` allow
//! that user to take those actions on the document as it stood when the author acted (the state at
//! the change's dependencies, which the author cannot forge).

use crate::storage::projection;
use crate::storage::{AcceptedChange, DocWrite};
use automerge::{Automerge, Change, ChangeHash, ObjType, ROOT, ReadDoc, Value};
use std::collections::HashSet;
use zhuqi_core::document::{Document, SCHEMA_VERSION, header_of, parse_events, raw_events_of};
use zhuqi_core::domain::event::{Causality, Fold, fold};
use zhuqi_core::domain::{
    DirectoryLookup, DocKind, EnterpriseAction, EnterpriseState, Event, ProblemAction, ProblemState, TaskNoticeAction,
    TaskNoticeState, User, text,
};
use zhuqi_core::error::{Denied, DomainError};
use zhuqi_core::rules::{self, Actor, EnterpriseFacts};
use zhuqi_core::sync::protocol::{DocChanges, RejectCode, Rejection};

/// Who is pushing.
pub struct Pusher<'a> {
    pub user: &'a User,
    pub device_id: &'a str,
    /// Actor ids bound to the device.
    pub actors: &'a HashSet<Vec<u8>>,
    pub actor: Actor,
}

/// What became of one document of a push. Each carries the document back: the new one when
/// accepted, the untouched base otherwise (`None` when there was none or it was modified).
pub enum Verdict {
    /// New changes to store.
    Accept(Box<DocWrite>, Automerge),
    /// Every change was already stored.
    AlreadyStored(Option<Automerge>),
    Reject(RejectCode, String, Option<Automerge>),
}

/// Headers each kind of document may (and must) carry besides `schema`, `kind`, `id` and `events`.
fn extra_header(kind: DocKind) -> &'static [&'static str] {
    match kind {
        DocKind::Enterprise => &[],
        DocKind::Problem => &["enterprise_id", "enterprise_name", "region_id"],
        DocKind::TaskNotice => &["region_id"],
    }
}

fn str_at(doc: &Automerge, key: &str) -> Option<String> {
    match doc.get(ROOT, key).ok()?? {
        (Value::Scalar(s), _) => s.as_str().map(str::to_owned),
        _ => None,
    }
}

/// A value of the header, owned, to compare before and after a change.
#[derive(Debug, Clone, PartialEq)]
enum HeaderValue {
    Scalar(automerge::ScalarValue),
    Object(ObjType),
}

/// What a change may not alter: the header and the existing events, with their Automerge ids.
struct Before {
    header: Vec<(String, HeaderValue, automerge::ObjId)>,
    events_obj: Option<automerge::ObjId>,
    events: Vec<(automerge::ObjId, String)>,
}

impl Before {
    fn of(doc: &Automerge) -> Result<Before, String> {
        let mut header = Vec::new();
        for k in doc.keys(ROOT) {
            let (v, id) = doc.get(ROOT, k.as_str()).map_err(|e| e.to_string())?.ok_or("vanished key")?;
            let v = match v {
                Value::Scalar(s) => HeaderValue::Scalar(s.into_owned()),
                Value::Object(t) => HeaderValue::Object(t),
            };
            header.push((k, v, id));
        }
        let events_obj = header.iter().find(|(k, ..)| k == "events").map(|(.., id)| id.clone());
        let events = match &events_obj {
            Some(list) => doc
                .values(list)
                .map(|(v, id)| match v {
                    Value::Scalar(s) => (id, s.as_str().unwrap_or_default().to_owned()),
                    Value::Object(_) => (id, String::new()),
                })
                .collect(),
            None => Vec::new(),
        };
        Ok(Before { header, events_obj, events })
    }

    fn raw_events(&self) -> Vec<String> {
        self.events.iter().map(|(_, s)| s.clone()).collect()
    }

    fn header_str(&self, key: &str) -> Option<String> {
        self.header.iter().find(|(k, ..)| k == key).and_then(|(_, v, _)| match v {
            HeaderValue::Scalar(s) => s.as_str().map(str::to_owned),
            HeaderValue::Object(_) => None,
        })
    }
}

/// Checks that `after` differs from `before` only by strings inserted into `events` (plus the header,
/// when `before` is empty); returns the inserted strings in list order.
fn appended_events(before: &Before, after: &Automerge, kind: DocKind, doc_id: &str) -> Result<Vec<String>, String> {
    let creating = before.events_obj.is_none();
    let keys_after: Vec<String> = after.keys(ROOT).collect();
    for k in &keys_after {
        if after.get_all(ROOT, k.as_str()).map_err(|e| e.to_string())?.len() != 1 {
            return Err(format!("header field {k} has conflicting values"));
        }
    }
    if creating {
        if !before.header.is_empty() {
            return Err("a document without events".into());
        }
        let mut expected: Vec<&str> = vec!["events", "id", "kind", "schema"];
        expected.extend(extra_header(kind));
        expected.sort_unstable();
        let mut got: Vec<&str> = keys_after.iter().map(String::as_str).collect();
        got.sort_unstable();
        if got != expected {
            return Err(format!("header fields {got:?}, expected {expected:?}"));
        }
        let schema = match after.get(ROOT, "schema").map_err(|e| e.to_string())? {
            Some((Value::Scalar(s), _)) => s.as_i64(),
            _ => None,
        };
        if !schema.is_some_and(|v| (1..=SCHEMA_VERSION).contains(&v)) {
            return Err(format!("schema {schema:?}"));
        }
        if str_at(after, "kind").as_deref() != Some(kind.as_str()) || str_at(after, "id").as_deref() != Some(doc_id) {
            return Err("kind or id does not match the document".into());
        }
        for k in extra_header(kind) {
            if str_at(after, k).is_none_or(|v| v.is_empty() || v.chars().count() > text::SHORT) {
                return Err(format!("header field {k} is missing or invalid"));
            }
        }
    } else {
        if keys_after.len() != before.header.len() {
            return Err("header fields changed".into());
        }
        for (k, v, id) in &before.header {
            let now = match after.get(ROOT, k.as_str()).map_err(|e| e.to_string())? {
                Some((Value::Scalar(s), i)) => (HeaderValue::Scalar(s.into_owned()), i),
                Some((Value::Object(t), i)) => (HeaderValue::Object(t), i),
                None => return Err(format!("header field {k} deleted")),
            };
            if &now.0 != v || &now.1 != id {
                return Err(format!("header field {k} changed"));
            }
        }
    }
    let list = match after.get(ROOT, "events").map_err(|e| e.to_string())? {
        Some((Value::Object(ObjType::List), id)) => id,
        _ => return Err("events is not a list".into()),
    };
    let old = &before.events;
    let mut j = 0;
    let mut added = Vec::new();
    for (i, (value, id)) in after.values(&list).enumerate() {
        if after.get_all(&list, i).map_err(|e| e.to_string())?.len() != 1 {
            return Err(format!("event {i} has conflicting values"));
        }
        let text = match &value {
            Value::Scalar(s) => s.as_str(),
            Value::Object(_) => None,
        };
        if j < old.len() && old[j].0 == id {
            if text != Some(old[j].1.as_str()) {
                return Err(format!("event {i} was changed"));
            }
            j += 1;
            continue;
        }
        match text {
            Some(t) => added.push(t.to_owned()),
            None => return Err(format!("event {i} is not a string")),
        }
    }
    if j != old.len() {
        return Err("events were deleted or replaced".into());
    }
    if added.is_empty() {
        return Err("a change must append at least one event".into());
    }
    Ok(added)
}

fn code_of(e: &DomainError) -> RejectCode {
    match e {
        DomainError::NotAllowed { reason: Denied::ForgedAuthor, .. } => RejectCode::ForgedAuthor,
        DomainError::NotAllowed { .. } => RejectCode::NotAllowed,
        _ => RejectCode::InvalidAction,
    }
}

/// Checks the event's author and `seen` against the pusher and the log it was appended to.
fn check_meta<A>(
    p: &Pusher<'_>,
    event: &Event<A>,
    log: &[Event<A>],
    verb: &'static str,
) -> Result<(), (RejectCode, String)> {
    rules::check_author(&p.actor, event, verb).map_err(|e| (code_of(&e), e.to_string()))?;
    if event.device != p.device_id {
        return Err((RejectCode::ForgedAuthor, format!("event names device {}", event.device)));
    }
    let mut heads = Causality::new(log).heads(log);
    let mut seen = event.seen.clone();
    heads.sort();
    seen.sort();
    if heads != seen {
        return Err((RejectCode::Malformed, "event's `seen` is not what its author had".into()));
    }
    Ok(())
}

fn parse<A: serde::de::DeserializeOwned>(s: &str) -> Result<Event<A>, (RejectCode, String)> {
    serde_json::from_str(s).map_err(|e| (RejectCode::Malformed, format!("event does not parse: {e}")))
}

/// Lookups the validation needs beyond the document itself.
pub struct Context<'a> {
    pub dir: &'a dyn DirectoryLookup,
    /// The relay's current state of an enterprise, if it holds the enterprise.
    pub enterprise: &'a dyn Fn(&str) -> Option<EnterpriseState>,
}

/// Validates the new events of one change (`added`, appended to the log of `before`).
fn check_events(
    p: &Pusher<'_>,
    ctx: &Context<'_>,
    kind: DocKind,
    doc_id: &str,
    before: &Before,
    added: &[String],
) -> Result<(), (RejectCode, String)> {
    let fail = |e: DomainError| (code_of(&e), e.to_string());
    match kind {
        DocKind::Problem => {
            let mut log: Vec<Event<ProblemAction>> = parse_events(&before.raw_events());
            let (mut state, _) = fold::<ProblemState>(log.clone());
            let enterprise_id = before.header_str("enterprise_id");
            for s in added {
                let event: Event<ProblemAction> = parse(s)?;
                check_meta(p, &event, &log, event.action.verb())?;
                let validated = event.action.clone().validate().map_err(fail)?;
                if validated != event.action {
                    return Err((RejectCode::InvalidAction, "values are not normalised".into()));
                }
                // Devices keep a category of a newer version, but the relay accepts only those it
                // knows, as it does event types.
                if let ProblemAction::Reported { category, .. } = &event.action
                    && !category.is_known()
                {
                    return Err((RejectCode::InvalidAction, format!("unknown category {}", category.as_str())));
                }
                let ent_id = match (&event.action, &enterprise_id) {
                    (ProblemAction::Reported { enterprise_id, .. }, _) => enterprise_id.clone(),
                    (_, Some(e)) => e.clone(),
                    (_, None) => {
                        return Err((RejectCode::Malformed, "problem has no enterprise".into()));
                    }
                };
                let ent = (ctx.enterprise)(&ent_id).unwrap_or_default();
                if let ProblemAction::Reported { visit_id: Some(v), .. } = &event.action
                    && !ent.visits.iter().any(|x| &x.record.id == v)
                {
                    return Err((RejectCode::InvalidAction, format!("unknown visit {v}")));
                }
                let path = ctx.dir.region_path(&ent.profile.region_id).unwrap_or_default();
                let facts = EnterpriseFacts { id: &ent_id, region_path: &path, state: &ent };
                rules::authorize_problem(&p.actor, &event.action, &state, &facts, ctx.dir).map_err(fail)?;
                state.apply(&event).map_err(fail)?;
                log.push(event);
            }
        }
        DocKind::Enterprise => {
            let mut log: Vec<Event<EnterpriseAction>> = parse_events(&before.raw_events());
            let (mut state, _) = fold::<EnterpriseState>(log.clone());
            for s in added {
                let event: Event<EnterpriseAction> = parse(s)?;
                check_meta(p, &event, &log, event.action.verb())?;
                let today = (event.at + 8 * 3_600_000).div_euclid(86_400_000);
                let normalised = match &event.action {
                    EnterpriseAction::Registered { profile } => profile.clone().validate().map(|p| p == *profile),
                    EnterpriseAction::ProfileUpdated { update } => update.clone().validate().map(|u| u == *update),
                    EnterpriseAction::Corrected { correction } => {
                        correction.clone().validate().map(|c| c == *correction)
                    }
                    EnterpriseAction::VisitRecorded { visit } => visit.clone().validate(today).map(|v| v == *visit),
                    EnterpriseAction::AssignmentEnded { reason, .. } => {
                        text::optional("reason", reason, text::MEDIUM).map(|r| r == *reason)
                    }
                    EnterpriseAction::CadreAssigned { .. } | EnterpriseAction::Unknown => Ok(true),
                };
                if !normalised.map_err(fail)? {
                    return Err((RejectCode::InvalidAction, "values are not normalised".into()));
                }
                let region = match &event.action {
                    EnterpriseAction::Registered { profile } => profile.region_id.clone(),
                    _ => state.profile.region_id.clone(),
                };
                let path = ctx.dir.region_path(&region).unwrap_or_default();
                let facts = EnterpriseFacts { id: doc_id, region_path: &path, state: &state };
                rules::authorize_enterprise(&p.actor, &event.action, &facts, ctx.dir).map_err(fail)?;
                state.apply(&event).map_err(fail)?;
                log.push(event);
            }
        }
        DocKind::TaskNotice => {
            let mut log: Vec<Event<TaskNoticeAction>> = parse_events(&before.raw_events());
            let (mut state, _) = fold::<TaskNoticeState>(log.clone());
            for s in added {
                let event: Event<TaskNoticeAction> = parse(s)?;
                check_meta(p, &event, &log, event.action.verb())?;
                let validated = event.action.clone().validate(event.at).map_err(fail)?;
                if validated != event.action {
                    return Err((RejectCode::InvalidAction, "values are not normalised".into()));
                }
                rules::authorize_task_notice(&p.actor, &event.action, &state, ctx.dir).map_err(fail)?;
                state.apply(&event).map_err(fail)?;
                log.push(event);
            }
        }
    }
    Ok(())
}

/// Cross-checks the header of a newly created document against its first event.
fn check_creation_header(kind: DocKind, doc: &Automerge, ctx: &Context<'_>) -> Result<(), (RejectCode, String)> {
    let header = |k: &str| header_of(doc, k);
    let raw = raw_events_of(doc);
    let bad = |m: &str| Err((RejectCode::Malformed, m.to_owned()));
    match kind {
        DocKind::Problem => {
            let events: Vec<Event<ProblemAction>> = parse_events(&raw);
            let Some(ProblemAction::Reported { enterprise_id, .. }) = events.first().map(|e| &e.action) else {
                return bad("a problem starts with its report");
            };
            if header("enterprise_id").as_ref() != Some(enterprise_id) {
                return bad("header names another enterprise");
            }
            let Some(ent) = (ctx.enterprise)(enterprise_id) else {
                return Err((RejectCode::InvalidAction, format!("unknown enterprise {enterprise_id}")));
            };
            if header("region_id").as_deref() != Some(ent.profile.region_id.as_str()) {
                return bad("header names another region than the enterprise's");
            }
        }
        DocKind::TaskNotice => {
            let events: Vec<Event<TaskNoticeAction>> = parse_events(&raw);
            let Some(TaskNoticeAction::Issued { region_id, .. }) = events.first().map(|e| &e.action) else {
                return bad("a task notice starts with its issue");
            };
            if header("region_id").as_ref() != Some(region_id) {
                return bad("header names another region");
            }
        }
        DocKind::Enterprise => {}
    }
    Ok(())
}

/// Validates the changes pushed for one document against the relay's copy (`base`). The base is
/// handed back when it was left untouched, so the caller can cache it again without a copy.
pub fn validate(p: &Pusher<'_>, ctx: &Context<'_>, base: Option<(DocKind, Automerge)>, push: &DocChanges) -> Verdict {
    let mut slot = base.map(|(_, d)| d);
    let kind = push.kind;
    match validate_inner(p, ctx, &mut slot, kind, push) {
        Ok(Some(write)) => Verdict::Accept(write, slot.unwrap_or_default()),
        Ok(None) => Verdict::AlreadyStored(slot),
        Err((code, message)) => Verdict::Reject(code, message, slot),
    }
}

/// On success returns the write (or `None` if nothing was new) and leaves the new document in
/// `slot`. On failure `slot` holds the untouched base, or `None` if it had been modified.
fn validate_inner(
    p: &Pusher<'_>,
    ctx: &Context<'_>,
    slot: &mut Option<Automerge>,
    kind: DocKind,
    push: &DocChanges,
) -> Result<Option<Box<DocWrite>>, (RejectCode, String)> {
    let mut changes = Vec::with_capacity(push.changes.len());
    for bytes in &push.changes {
        let change = Change::from_bytes(bytes.clone())
            .map_err(|e| (RejectCode::Malformed, format!("change does not parse: {e}")))?;
        if !p.actors.contains(change.actor_id().to_bytes()) {
            return Err((RejectCode::ForeignActor, format!("actor {} is not this device's", change.actor_id())));
        }
        changes.push(change);
    }
    let existing = slot.is_some();
    let mut seen = HashSet::new();
    let fresh: Vec<Change> = {
        let doc = slot.get_or_insert_with(Automerge::new);
        changes
            .into_iter()
            .filter(|c| doc.get_change_meta_by_hash(&c.hash()).is_none() && seen.insert(c.hash()))
            .collect()
    };
    if fresh.is_empty() {
        if !existing {
            *slot = None;
        }
        return Ok(None);
    }
    let mut doc = slot.take().unwrap_or_default();
    if existing && header_of(&doc, "kind").as_deref() != Some(kind.as_str()) {
        *slot = Some(doc);
        return Err((RejectCode::Malformed, format!("document is not a {}", kind.as_str())));
    }
    let mut touched = false;
    let mut accepted = Vec::with_capacity(fresh.len());
    let result = (|| {
        for change in fresh {
            let deps: Vec<ChangeHash> = change.deps().to_vec();
            if deps.iter().any(|d| doc.get_change_meta_by_hash(d).is_none()) {
                return Err((
                    RejectCode::MissingDependencies,
                    "a change depends on changes the relay does not have".into(),
                ));
            }
            let mut heads = doc.get_heads();
            heads.sort();
            let mut sorted_deps = deps.clone();
            sorted_deps.sort();
            // Usually the author had everything the relay has: judge the change on the document
            // itself; otherwise on a fork as of its dependencies.
            let (before, added) = if sorted_deps == heads {
                let before = Before::of(&doc).map_err(|m| (RejectCode::Malformed, m))?;
                touched = true;
                doc.apply_changes([change.clone()]).map_err(|e| (RejectCode::Malformed, e.to_string()))?;
                let added =
                    appended_events(&before, &doc, kind, &push.doc).map_err(|m| (RejectCode::NotAppendOnly, m))?;
                (before, added)
            } else {
                let mut view = if deps.is_empty() {
                    Automerge::new()
                } else {
                    doc.fork_at(&deps).map_err(|e| (RejectCode::Malformed, e.to_string()))?
                };
                let before = Before::of(&view).map_err(|m| (RejectCode::Malformed, m))?;
                view.apply_changes([change.clone()]).map_err(|e| (RejectCode::Malformed, e.to_string()))?;
                let added =
                    appended_events(&before, &view, kind, &push.doc).map_err(|m| (RejectCode::NotAppendOnly, m))?;
                touched = true;
                doc.apply_changes([change.clone()]).map_err(|e| (RejectCode::Malformed, e.to_string()))?;
                (before, added)
            };
            check_events(p, ctx, kind, &push.doc, &before, &added)?;
            if before.events_obj.is_none() {
                check_creation_header(kind, &doc, ctx)?;
            }
            let event_ids = added
                .iter()
                .filter_map(|s| {
                    serde_json::from_str::<serde_json::Value>(s).ok()?.get("id")?.as_str().map(str::to_owned)
                })
                .collect();
            accepted.push(AcceptedChange {
                hash: change.hash().as_ref().to_vec(),
                bytes: change.raw_bytes().to_vec(),
                event_ids,
            });
        }
        Ok(())
    })();
    if let Err(e) = result {
        *slot = if touched { None } else { Some(doc) };
        return Err(e);
    }
    let document = Document::from_automerge(doc);
    let projection = projection::project(kind, &document);
    let keys = crate::storage::scope::doc_keys(&push.doc, &projection, ctx.dir);
    let write =
        DocWrite { doc_id: push.doc.clone(), kind, changes: accepted, snapshot: None, keys, projection, base_seq: 0 };
    *slot = Some(document.into_automerge());
    Ok(Some(Box::new(write)))
}

/// The rejection to send back for one document.
pub fn rejection(push: &DocChanges, code: RejectCode, message: String, document: Option<Vec<u8>>) -> Rejection {
    let hashes = push
        .changes
        .iter()
        .filter_map(|b| Change::from_bytes(b.clone()).ok().map(|c| c.hash().as_ref().to_vec()))
        .collect();
    Rejection { doc: push.doc.clone(), kind: push.kind, hashes, code, message, document }
}
