//! The shape a pushed change must have, checked op by op before Automerge applies it.
//!
//! A document is a header written once by its creating change and a list of event strings that
//! only grows at its end (see `zhuqi_core::document`). So every valid change is one of two things:
//!
//! - **a creation**, on a document the relay does not hold, with no dependencies: one `set` on the
//!   root per header field (each expected field exactly once), one `makeList` of `events` on the
//!   root, then the first events inserted into that list one after another;
//! - **an append**, on a document the relay holds, with dependencies: events inserted into the
//!   document's `events` list one after another, the first right after the element that was last
//!   in the list as it stood at the change's dependencies (what its author saw).
//!
//! Anything else — a delete, an overwrite (an op with predecessors), an op on another object, a
//! text object, a mark, an insert in the middle of the list, an op counter that does not follow
//! the author's history, a commit message or extra bytes — is refused here, before Automerge applies
//! the change, so crafted op ids never reach Automerge's apply path and no op rides along unseen.

use automerge::{Change, ChangeHash, ObjType, ROOT, ReadDoc, Value};
use serde::Deserialize;
use zhuqi_core::document::SCHEMA_VERSION;
use zhuqi_core::domain::{DocKind, text};

/// Events one change may insert. The apps write one event per change; the bound keeps the work of
/// validating one change small whatever a hostile client builds.
pub const MAX_EVENTS_PER_CHANGE: usize = 16;
/// Events one document may hold: a problem or a task notice has tens, an enterprise a few dozen
/// visits a year. A document at the bound takes no more events.
pub const MAX_EVENTS_PER_DOCUMENT: usize = 2_000;
/// Events already in a document that a new change may not have seen (events concurrent with it).
/// A phone offline for weeks stays far below it; the bound keeps every later view of a document
/// linear in its length (each event lists the events it was concurrent with).
pub const MAX_CONCURRENT_EVENTS: usize = 256;

/// Headers each kind of document carries besides `schema`, `kind`, `id` and `events`.
pub fn extra_header(kind: DocKind) -> &'static [&'static str] {
    match kind {
        DocKind::Enterprise => &[],
        DocKind::Problem => &["enterprise_id", "enterprise_name", "region_id"],
        DocKind::TaskNotice | DocKind::Policy => &["region_id"],
    }
}

/// Where a change must write, as the relay's copy says.
pub enum Target {
    /// The relay holds no such document: the change must create it.
    Create { kind: DocKind, doc_id: String },
    /// The change must insert into the list `list`, starting after element `after` (`_head` when the
    /// list was empty at the change's dependencies).
    Append { list: String, after: String },
}

/// One operation of a change, as Automerge's expanded form describes it. Unknown fields (marks'
/// `name` and `expand`, anything newer) make the op unreadable, hence refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Op {
    action: String,
    obj: String,
    key: Option<String>,
    #[serde(rename = "elemId")]
    elem_id: Option<String>,
    #[serde(default)]
    insert: bool,
    datatype: Option<String>,
    value: Option<serde_json::Value>,
    #[serde(default)]
    pred: Vec<String>,
}

/// Reads the ops of a change. An op that does not read as an `Op` is refused.
fn ops(change: &Change) -> Result<(Vec<Op>, u64, String), String> {
    let expanded = change.decode();
    let actor = expanded.actor_id.to_hex_string();
    let start = expanded.start_op.get();
    let ops = expanded
        .operations
        .iter()
        .map(|op| serde_json::to_value(op).and_then(serde_json::from_value::<Op>).map_err(|e| format!("op: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((ops, start, actor))
}

/// Whether `deps` are the document's current heads.
pub fn is_current(doc: &automerge::Automerge, deps: &[ChangeHash]) -> bool {
    let mut heads = doc.get_heads();
    if heads.len() != deps.len() {
        return false;
    }
    heads.sort();
    let mut deps = deps.to_vec();
    deps.sort();
    heads == deps
}

/// The highest op counter in the history of `deps`: a change made on that history starts after it.
pub fn max_op_at(doc: &automerge::Automerge, deps: &[ChangeHash]) -> u64 {
    deps.iter().filter_map(|h| doc.get_change_meta_by_hash(h)).map(|m| m.max_op).max().unwrap_or(0)
}

/// Checks the shape of `change` against `target`; returns the event strings it inserts, in order.
/// `start_expected` is the op counter its first op must have (one past [`max_op_at`] its deps).
pub fn check(change: &Change, target: &Target, start_expected: u64) -> Result<Vec<String>, String> {
    if change.message().is_some() || !change.extra_bytes().is_empty() || change.author().is_some() {
        return Err("a change carries a message, an author or extra bytes".into());
    }
    if change.len() > 2 * MAX_EVENTS_PER_CHANGE + 16 {
        return Err(format!("a change of {} operations", change.len()));
    }
    let (ops, start, actor) = ops(change)?;
    if start != start_expected {
        return Err(format!("op counter starts at {start}, not {start_expected} after its dependencies"));
    }
    let id_of = |i: usize| format!("{}@{actor}", start + i as u64);
    if let Some(i) = ops.iter().position(|op| !op.pred.is_empty()) {
        return Err(format!("op {i} overwrites or deletes ({})", ops[i].action));
    }
    let (list, mut after, mut i) = match target {
        Target::Append { list, after } => (list.clone(), after.clone(), 0),
        Target::Create { kind, doc_id } => {
            let header = creation_header(&ops, *kind, doc_id)?;
            (id_of(header), "_head".to_owned(), header + 1)
        }
    };
    let mut events = Vec::new();
    while i < ops.len() {
        let op = &ops[i];
        if op.obj != list {
            return Err(format!("op {i} writes to another object than the event list"));
        }
        if op.action != "set" || !op.insert || op.key.is_some() || op.datatype.is_some() {
            return Err(format!("op {i} is not an insert into the event list ({})", op.action));
        }
        if op.elem_id.as_deref() != Some(after.as_str()) {
            return Err(format!("op {i} inserts elsewhere than at the end of the event list its author saw"));
        }
        let Some(serde_json::Value::String(s)) = &op.value else {
            return Err(format!("op {i} inserts something other than a string"));
        };
        events.push(s.clone());
        after = id_of(i);
        i += 1;
    }
    if events.is_empty() {
        return Err("a change must append at least one event".into());
    }
    if events.len() > MAX_EVENTS_PER_CHANGE {
        return Err(format!("{} events in one change; at most {MAX_EVENTS_PER_CHANGE}", events.len()));
    }
    Ok(events)
}

/// Checks a creation's header ops (everything before the event list is made, and the `makeList`
/// itself); returns the index of the `makeList` op.
fn creation_header(ops: &[Op], kind: DocKind, doc_id: &str) -> Result<usize, String> {
    let mut expected: Vec<&str> = vec!["id", "kind", "schema"];
    expected.extend(extra_header(kind));
    let mut got: Vec<&str> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if op.obj != "_root" || op.insert || op.elem_id.is_some() {
            return Err(format!("op {i} of a creation is not a header field or the event list"));
        }
        let key = op.key.as_deref().unwrap_or_default();
        if op.action == "makeList" && key == "events" {
            got.sort_unstable();
            expected.sort_unstable();
            if got != expected {
                return Err(format!("header fields {got:?}, expected {expected:?}"));
            }
            return Ok(i);
        }
        if op.action != "set" || got.contains(&key) || !expected.contains(&key) {
            return Err(format!("op {i} of a creation writes header field {key:?}"));
        }
        got.push(key);
        let value = match (key, op.datatype.as_deref(), &op.value) {
            ("schema", Some("int" | "uint"), Some(v)) => {
                if !v.as_i64().is_some_and(|v| (1..=SCHEMA_VERSION).contains(&v)) {
                    return Err(format!("schema {v}"));
                }
                continue;
            }
            (_, None, Some(serde_json::Value::String(s))) => s.as_str(),
            _ => return Err(format!("header field {key} has a value of the wrong type")),
        };
        let fits = match key {
            "kind" => value == kind.as_str(),
            "id" => value == doc_id,
            _ => !value.is_empty() && value.chars().count() <= text::SHORT,
        };
        if !fits {
            return Err(format!("header field {key} is {value:?}"));
        }
    }
    Err("a creation without an event list".into())
}

/// The relay's event list of `doc` and where a change depending on `deps` must insert: the list's
/// id, the id of its last element at `deps`, and how many elements the list has now beyond those
/// (events concurrent with the change). `None` when the document has no event list.
pub fn append_target(doc: &automerge::Automerge, deps: &[ChangeHash]) -> Option<(Target, usize, usize)> {
    let Ok(Some((Value::Object(ObjType::List), list))) = doc.get(ROOT, "events") else { return None };
    let now = doc.length(&list);
    // Reading at the current heads needs no walk through the history (the usual case).
    let current = is_current(doc, deps);
    let at_deps = if current { now } else { doc.length_at(&list, deps) };
    let after = match at_deps.checked_sub(1) {
        None => "_head".to_owned(),
        Some(last) if current => doc.get(&list, last).ok()??.1.to_string(),
        Some(last) => doc.get_at(&list, last, deps).ok()??.1.to_string(),
    };
    Some((Target::Append { list: list.to_string(), after }, now, now.saturating_sub(at_deps)))
}
