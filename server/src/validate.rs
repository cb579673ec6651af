//! Validation of pushed changes: the relay accepts a device's changes to a document only if each one
//! appends events to the event log (and nothing else), under an actor id registered to the device,
//! with the signed-in user as the events' author, and only if the rules of `zhuqi_core::rules` allow
//! that user to take those actions on the document as it stood when the author acted (the state at
//! the change's dependencies, which the author cannot forge).

use crate::projection;
use crate::storage::{AcceptedChange, DocWrite};
use automerge::{Automerge, Change, ChangeHash, ObjType, ReadDoc, Value, ROOT};
use std::collections::HashSet;
use zhuqi_core::document::{Document, SCHEMA_VERSION};
use zhuqi_core::domain::event::{fold, Causality, Fold};
use zhuqi_core::domain::{
    text, DirectoryLookup, DocKind, EnterpriseAction, EnterpriseState, Event, ProblemAction, ProblemState,
    TaskNoticeAction, TaskNoticeState, User,
};
use zhuqi_core::error::{Denied, Error};
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

/// What became of one document of a push.
pub enum Verdict {
    /// New changes to store.
    Accept(Box<DocWrite>, Automerge),
    /// Every change was already stored.
    AlreadyStored,
    Reject(RejectCode, String),
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

/// Checks that `after` differs from `before` only by strings inserted into `events` (plus the header,
/// when `before` is empty); returns the inserted strings in list order.
fn appended_events(before: &Automerge, after: &Automerge, kind: DocKind, doc_id: &str) -> Result<Vec<String>, String> {
    let creating = before.get(ROOT, "events").map_err(|e| e.to_string())?.is_none();
    let keys_after: Vec<String> = after.keys(ROOT).collect();
    for k in &keys_after {
        if after.get_all(ROOT, k.as_str()).map_err(|e| e.to_string())?.len() != 1 {
            return Err(format!("header field {k} has conflicting values"));
        }
    }
    if creating {
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
        let keys_before: Vec<String> = before.keys(ROOT).collect();
        if keys_before != keys_after {
            return Err("header fields changed".into());
        }
        for k in &keys_before {
            let b = before.get(ROOT, k.as_str()).map_err(|e| e.to_string())?;
            let a = after.get(ROOT, k.as_str()).map_err(|e| e.to_string())?;
            if b != a {
                return Err(format!("header field {k} changed"));
            }
        }
    }
    let list = match after.get(ROOT, "events").map_err(|e| e.to_string())? {
        Some((Value::Object(ObjType::List), id)) => id,
        _ => return Err("events is not a list".into()),
    };
    let old: Vec<(automerge::ObjId, Value<'_>)> = if creating {
        Vec::new()
    } else {
        before.values(&list).map(|(v, id)| (id, v)).collect()
    };
    let mut j = 0;
    let mut added = Vec::new();
    for (i, (value, id)) in after.values(&list).enumerate() {
        if after.get_all(&list, i).map_err(|e| e.to_string())?.len() != 1 {
            return Err(format!("event {i} has conflicting values"));
        }
        if j < old.len() && old[j].0 == id {
            if old[j].1 != value {
                return Err(format!("event {i} was changed"));
            }
            j += 1;
            continue;
        }
        match value {
            Value::Scalar(s) if s.as_str().is_some() => added.push(s.as_str().unwrap_or_default().to_owned()),
            _ => return Err(format!("event {i} is not a string")),
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

fn code_of(e: &Error) -> RejectCode {
    match e {
        Error::NotAllowed { reason: Denied::ForgedAuthor, .. } => RejectCode::ForgedAuthor,
        Error::NotAllowed { .. } => RejectCode::NotAllowed,
        _ => RejectCode::InvalidAction,
    }
}

/// Checks the event's author and `seen` against the pusher and the log it was appended to.
fn check_meta<A>(p: &Pusher<'_>, event: &Event<A>, log: &[Event<A>], verb: &'static str) -> Result<(), (RejectCode, String)> {
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
fn check_events(p: &Pusher<'_>, ctx: &Context<'_>, kind: DocKind, before: &Document, added: &[String]) -> Result<(), (RejectCode, String)> {
    let fail = |e: Error| (code_of(&e), e.to_string());
    match kind {
        DocKind::Problem => {
            let mut log: Vec<Event<ProblemAction>> = before.events();
            let (mut state, _) = fold::<ProblemState>(log.clone());
            let enterprise_id = before.header("enterprise_id");
            for s in added {
                let event: Event<ProblemAction> = parse(s)?;
                check_meta(p, &event, &log, event.action.verb())?;
                let validated = event.action.clone().validate().map_err(fail)?;
                if validated != event.action {
                    return Err((RejectCode::InvalidAction, "values are not normalised".into()));
                }
                let ent_id = match (&event.action, &enterprise_id) {
                    (ProblemAction::Reported { enterprise_id, .. }, _) => enterprise_id.clone(),
                    (_, Some(e)) => e.clone(),
                    (_, None) => return Err((RejectCode::Malformed, "problem has no enterprise".into())),
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
            let mut log: Vec<Event<EnterpriseAction>> = before.events();
            let (mut state, _) = fold::<EnterpriseState>(log.clone());
            for s in added {
                let event: Event<EnterpriseAction> = parse(s)?;
                check_meta(p, &event, &log, event.action.verb())?;
                let today = (event.at + 8 * 3_600_000).div_euclid(86_400_000);
                let normalised = match &event.action {
                    EnterpriseAction::Registered { profile } => profile.clone().validate().map(|p| p == *profile),
                    EnterpriseAction::ProfileUpdated { update } => update.clone().validate().map(|u| u == *update),
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
                let doc_id = before.header("id").unwrap_or_default();
                let facts = EnterpriseFacts { id: &doc_id, region_path: &path, state: &state };
                rules::authorize_enterprise(&p.actor, &event.action, &facts, ctx.dir).map_err(fail)?;
                state.apply(&event).map_err(fail)?;
                log.push(event);
            }
        }
        DocKind::TaskNotice => {
            let mut log: Vec<Event<TaskNoticeAction>> = before.events();
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
fn check_creation_header(kind: DocKind, doc: &Document, ctx: &Context<'_>) -> Result<(), (RejectCode, String)> {
    let bad = |m: &str| Err((RejectCode::Malformed, m.to_owned()));
    match kind {
        DocKind::Problem => {
            let events: Vec<Event<ProblemAction>> = doc.events();
            let Some(ProblemAction::Reported { enterprise_id, .. }) = events.first().map(|e| &e.action) else {
                return bad("a problem starts with its report");
            };
            if doc.header("enterprise_id").as_ref() != Some(enterprise_id) {
                return bad("header names another enterprise");
            }
            let Some(ent) = (ctx.enterprise)(enterprise_id) else {
                return Err((RejectCode::InvalidAction, format!("unknown enterprise {enterprise_id}")));
            };
            if doc.header("region_id").as_deref() != Some(ent.profile.region_id.as_str()) {
                return bad("header names another region than the enterprise's");
            }
        }
        DocKind::TaskNotice => {
            let events: Vec<Event<TaskNoticeAction>> = doc.events();
            let Some(TaskNoticeAction::Issued { region_id, .. }) = events.first().map(|e| &e.action) else {
                return bad("a task notice starts with its issue");
            };
            if doc.header("region_id").as_ref() != Some(region_id) {
                return bad("header names another region");
            }
        }
        DocKind::Enterprise => {}
    }
    Ok(())
}

/// Validates the changes pushed for one document against the relay's copy (`base`).
pub fn validate(p: &Pusher<'_>, ctx: &Context<'_>, base: Option<(DocKind, Automerge)>, push: &DocChanges) -> Verdict {
    match validate_inner(p, ctx, base, push) {
        Ok(v) => v,
        Err((code, message)) => Verdict::Reject(code, message),
    }
}

fn validate_inner(p: &Pusher<'_>, ctx: &Context<'_>, base: Option<(DocKind, Automerge)>, push: &DocChanges) -> Result<Verdict, (RejectCode, String)> {
    let mut changes = Vec::with_capacity(push.changes.len());
    for bytes in &push.changes {
        let change = Change::from_bytes(bytes.clone()).map_err(|e| (RejectCode::Malformed, format!("change does not parse: {e}")))?;
        if !p.actors.contains(change.actor_id().to_bytes()) {
            return Err((RejectCode::ForeignActor, format!("actor {} is not this device's", change.actor_id())));
        }
        changes.push(change);
    }
    let mut doc = match base {
        Some((kind, _)) if kind != push.kind => {
            return Err((RejectCode::Malformed, format!("document is a {}, not a {}", kind.as_str(), push.kind.as_str())));
        }
        Some((_, doc)) => doc,
        None => Automerge::new(),
    };
    let mut seen = HashSet::new();
    let fresh: Vec<Change> = changes
        .into_iter()
        .filter(|c| doc.get_change_meta_by_hash(&c.hash()).is_none() && seen.insert(c.hash()))
        .collect();
    if fresh.is_empty() {
        return Ok(Verdict::AlreadyStored);
    }
    let creating = doc.get_heads().is_empty();
    let mut accepted = Vec::with_capacity(fresh.len());
    for change in fresh {
        let deps: Vec<ChangeHash> = change.deps().to_vec();
        if deps.iter().any(|d| doc.get_change_meta_by_hash(d).is_none()) {
            return Err((RejectCode::MissingDependencies, "a change depends on changes the relay does not have".into()));
        }
        let before = if deps.is_empty() { Automerge::new() } else { doc.fork_at(&deps).map_err(|e| (RejectCode::Malformed, e.to_string()))? };
        let mut after = before.fork();
        after.apply_changes([change.clone()]).map_err(|e| (RejectCode::Malformed, e.to_string()))?;
        let added = appended_events(&before, &after, push.kind, &push.doc).map_err(|m| (RejectCode::NotAppendOnly, m))?;
        let before_doc = Document::from_automerge(before);
        let creation_change = before_doc.automerge().get_heads().is_empty();
        check_events(p, ctx, push.kind, &before_doc, &added)?;
        if creation_change {
            check_creation_header(push.kind, &Document::from_automerge(after), ctx)?;
        }
        let event_ids = added
            .iter()
            .filter_map(|s| serde_json::from_str::<serde_json::Value>(s).ok()?.get("id")?.as_str().map(str::to_owned))
            .collect();
        doc.apply_changes([change.clone()]).map_err(|e| (RejectCode::Malformed, e.to_string()))?;
        accepted.push(AcceptedChange { hash: change.hash().as_ref().to_vec(), bytes: change.raw_bytes().to_vec(), event_ids });
    }
    if creating && doc.get(ROOT, "kind").ok().flatten().is_none() {
        return Err((RejectCode::Malformed, "document has no header".into()));
    }
    let document = Document::from_automerge(doc);
    let projection = projection::project(push.kind, &document);
    let keys = crate::scope::doc_keys(&push.doc, &projection, ctx.dir);
    let snapshot = document.save();
    let write = DocWrite { doc_id: push.doc.clone(), kind: push.kind, changes: accepted, snapshot, keys, projection };
    Ok(Verdict::Accept(Box::new(write), document.into_automerge()))
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
