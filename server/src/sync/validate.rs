//! Validation of pushed changes: the relay accepts a device's changes to a document only if each one
//! creates the document once or appends events at the end of the log its author saw, and nothing
//! else (`shape`), under an actor id registered to the device,
//! with the signed-in user as the events' author, and only if the rules of `zhuqi_core::rules` allow
//! that user to take those actions on the document as it stood when the author acted (the state at
//! the change's dependencies, which the author cannot forge).

use crate::http::error::log_text;
use crate::storage::projection;
use crate::storage::{AcceptedChange, DocWrite};
use crate::sync::shape::{self, Target};
use automerge::{ActorId, Automerge, Change, ChangeHash, ObjType, ROOT, ReadDoc, Value};
use std::collections::{HashMap, HashSet};
use zhuqi_core::document::{Document, encode, header_of, parse_events, raw_events_of};
use zhuqi_core::domain::event::{CLOCK_SKEW_MS, Causality, Fold, fold};
use zhuqi_core::domain::{
    DirectoryLookup, DocKind, EnterpriseAction, EnterpriseState, Event, PolicyAction, PolicyState, ProblemAction,
    ProblemState, TaskNoticeAction, TaskNoticeState, User, is_plain_id, text,
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

impl Pusher<'_> {
    /// Whether the pusher is the relay itself acting for a user (see `sync::author`): its clock is
    /// the relay's, and the times it gives events are facts (the history it records), not claims.
    fn records_history(&self) -> bool {
        crate::sync::author::is_relay_device(self.device_id)
    }

    /// Whether the pusher is the history import: its events are a previous platform's records,
    /// attributed to the importing account, so the rights of that account's role are not what
    /// they are judged by (values, order and transitions still are).
    fn imports_history(&self) -> bool {
        crate::sync::author::is_import_device(self.device_id)
    }
}

/// What became of one document of a push. Each carries the document back: the new one when
/// accepted, the untouched base otherwise (`None` when there was none or it was modified).
pub enum Verdict {
    /// New changes to store, and the hashes of the document's changes left for the next push (the
    /// push's [`Budget`] did not reach them): neither acknowledged nor refused.
    Accept(Box<DocWrite>, Automerge, Vec<Vec<u8>>),
    /// Every change was already stored.
    AlreadyStored(Option<Automerge>),
    /// The push's budget was spent before this document: nothing judged, nothing answered.
    Deferred(Option<Automerge>),
    Reject(RejectCode, String, Option<Automerge>),
}

/// The log a change is judged against, folded: the state, the events' heads and their times at
/// `at` (sorted Automerge heads). It is read at a change's dependencies (what its author saw) and
/// carried on to the next change of the push when that one depends on exactly the change before
/// (as the apps write them), so a document's log is read once per push, not once per change.
struct Log<S> {
    at: Vec<ChangeHash>,
    heads: Vec<String>,
    times: HashMap<String, (i64, String)>,
    state: S,
}

impl<S: Judged> Log<S> {
    fn read(doc: &Automerge, deps: &[ChangeHash]) -> Log<S> {
        let raw = match doc.get(ROOT, "events") {
            Ok(Some((Value::Object(ObjType::List), list))) if shape::is_current(doc, deps) => doc
                .values(&list)
                .filter_map(|(v, _)| match v {
                    Value::Scalar(s) => s.as_str().map(str::to_owned),
                    Value::Object(_) => None,
                })
                .collect(),
            Ok(Some((Value::Object(ObjType::List), list))) => events_at(doc, &list, deps),
            _ => Vec::new(),
        };
        let log: Vec<Event<S::Action>> = parse_events(&raw);
        let mut heads = Causality::new(&log).heads(&log);
        heads.sort();
        let times = log.iter().map(|e| (e.id.clone(), (e.at, e.device.clone()))).collect();
        let (state, _) = fold::<S>(log);
        Log { at: sorted(deps), heads, times, state }
    }
}

fn sorted(hashes: &[ChangeHash]) -> Vec<ChangeHash> {
    let mut v = hashes.to_vec();
    v.sort();
    v
}

/// The event strings of the list `list` as they stood at `deps`.
fn events_at(doc: &Automerge, list: &automerge::ObjId, deps: &[ChangeHash]) -> Vec<String> {
    doc.values_at(list, deps)
        .filter_map(|(v, _)| match v {
            Value::Scalar(s) => s.as_str().map(str::to_owned),
            Value::Object(_) => None,
        })
        .collect()
}

/// The ids of every event of a document: an event id is used once in a document, ever.
fn event_ids(raw: &[String]) -> HashSet<String> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: String,
    }
    raw.iter().filter_map(|s| serde_json::from_str::<Id>(s).ok()).map(|e| e.id).collect()
}

fn code_of(e: &DomainError) -> RejectCode {
    match e {
        DomainError::NotAllowed { reason: Denied::ForgedAuthor, .. } => RejectCode::ForgedAuthor,
        DomainError::NotAllowed { .. } => RejectCode::NotAllowed,
        _ => RejectCode::InvalidAction,
    }
}

/// Judges each new event of a change in turn against `log` (which it carries along): it parses, is
/// written as this build writes it (no unknown fields, nothing hidden), has a new plain id, names
/// the pushing device, has seen exactly the heads of the log before it, is dated honestly
/// (`check_time`), and passes its kind's checks (author, values, rights: [`Judged::authorize`])
/// and transition on the state the events before it left.
fn judge<S: Judged>(
    p: &Pusher<'_>,
    ctx: &Context<'_>,
    doc: &DocFacts<'_>,
    log: &mut Log<S>,
    added: &[String],
    ids: &mut HashSet<String>,
) -> Result<(), (RejectCode, String)> {
    let fail = |e: DomainError| (code_of(&e), e.to_string());
    for s in added {
        let event: Event<S::Action> = parse(s)?;
        if encode(&event).ok().as_deref() != Some(s.as_str()) {
            return Err((RejectCode::Malformed, "event is not written as this relay writes events".into()));
        }
        if !is_plain_id(&event.id) {
            return Err((RejectCode::Malformed, "event id is not a plain id".into()));
        }
        if !ids.insert(event.id.clone()) {
            return Err((RejectCode::Malformed, format!("event id {} is already used in this document", event.id)));
        }
        if event.device != p.device_id {
            return Err((RejectCode::ForgedAuthor, format!("event names device {}", log_text(&event.device))));
        }
        if event.origin.is_some() != p.imports_history() {
            return Err((RejectCode::ForgedAuthor, "only the history import, and all of it, names an origin".into()));
        }
        if let Some(user) = event.origin.as_ref().and_then(|o| o.user.as_deref())
            && ctx.dir.user(user).is_none()
        {
            return Err((RejectCode::InvalidAction, format!("the origin names no account {}", log_text(user))));
        }
        let mut seen = event.seen.clone();
        seen.sort();
        if log.heads != seen {
            return Err((RejectCode::Malformed, "event's `seen` is not what its author had".into()));
        }
        check_time(p, ctx, doc.id, event.at, &event.device, &event.seen, &log.times)?;
        rules::check_author(&p.actor, &event, S::verb(&event.action)).map_err(fail)?;
        S::authorize(p, ctx, doc, &event, &log.state)?;
        log.state.apply(&event).map_err(fail)?;
        log.times.insert(event.id.clone(), (event.at, event.device.clone()));
        // An event that saw every head is the only head after it.
        log.heads = vec![event.id];
    }
    Ok(())
}

/// A device's clock is a claim; the relay's is the fact. An event may be dated neither later than
/// its arrival (plus [`CLOCK_SKEW_MS`] of drift), nor before an event its author had seen, nor
/// before the relay received a seen event of another device (the author can only have seen it
/// after that). Offline work stays possible: an event may be dated any time after what its author
/// saw, however long before its arrival (the figures then judge it by `judged_time`).
fn check_time(
    p: &Pusher<'_>,
    ctx: &Context<'_>,
    doc_id: &str,
    at: i64,
    device: &str,
    seen: &[String],
    times: &HashMap<String, (i64, String)>,
) -> Result<(), (RejectCode, String)> {
    let refuse = |m: String| Err((RejectCode::InvalidAction, m));
    // The relay's own records of history (demo data, imports) are dated by the relay itself; history
    // is in the past (an imported step dated later would hold every device's next event back).
    if p.imports_history() && at > ctx.now.saturating_add(CLOCK_SKEW_MS) {
        return refuse("an imported event is dated after its import".into());
    }
    if p.records_history() {
        return Ok(());
    }
    // Times are claims: any i64. Bounds are computed saturating, so a claim at an end of the range
    // is judged like any other, not wrapped around.
    if at > ctx.now.saturating_add(CLOCK_SKEW_MS) {
        return refuse(format!("event dated {} ms after its arrival", at - ctx.now));
    }
    let mut others = Vec::new();
    for s in seen {
        if let Some((seen_at, seen_device)) = times.get(s) {
            if at < seen_at.saturating_sub(CLOCK_SKEW_MS) {
                return refuse("event dated before an event its author had seen".into());
            }
            if seen_device != device {
                others.push(s.clone());
            }
        }
    }
    // A seen event arrived at the latest now: only an event dated earlier needs its arrival.
    if at < ctx.now.saturating_sub(CLOCK_SKEW_MS) && !others.is_empty() {
        for (_, received) in (ctx.receipts)(doc_id, &others) {
            if at < received.saturating_sub(CLOCK_SKEW_MS) {
                return refuse("event dated before the relay received an event its author had seen".into());
            }
        }
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
    /// The relay's current state of a problem, if it holds the problem.
    pub problem: &'a dyn Fn(&str) -> Option<ProblemState>,
    /// When the relay received the given events of a document (those it knows): (event, received_at).
    pub receipts: &'a dyn Fn(&str, &[String]) -> Vec<(String, i64)>,
    /// The relay's time of the push.
    pub now: i64,
}

/// What validating a push may cost, counted in event readings (an event parsed, checked or folded).
/// A change costs [`CHANGE_COST`] when it depends on exactly the change before it in the push, and
/// the whole log of its document besides when it does not (its author's view must be read); the
/// first change of a document in a push always reads its log. A change that does not fit waits,
/// with the rest of its document's changes, for the next push; the first change of a push is always
/// judged, so every push makes progress. A push also yields to others waiting for the push lock once
/// it has held the lock for its time slice (see `yielding`).
pub struct Budget<'a> {
    left: usize,
    used: bool,
    /// After this moment, no more changes while some other push waits (counted by the atomic).
    yield_at: Option<(std::time::Instant, &'a std::sync::atomic::AtomicUsize)>,
}

/// What a change costs beyond reading its document's log: decoding, its shape, applying it and
/// judging up to [`shape::MAX_EVENTS_PER_CHANGE`] events weigh about as much as reading twice that
/// many events of a log.
pub const CHANGE_COST: usize = 2 * shape::MAX_EVENTS_PER_CHANGE;

impl<'a> Budget<'a> {
    pub fn new(readings: usize) -> Budget<'a> {
        Budget { left: readings, used: false, yield_at: None }
    }

    /// No bound: for the relay's own records of history.
    pub fn unlimited() -> Budget<'a> {
        Budget::new(usize::MAX)
    }

    /// Also ends `slice` from now if, by then, `waiting` counts other pushes waiting their turn.
    pub fn yielding(self, slice: std::time::Duration, waiting: &'a std::sync::atomic::AtomicUsize) -> Budget<'a> {
        Budget { yield_at: Some((std::time::Instant::now() + slice, waiting)), ..self }
    }

    fn yields(&self) -> bool {
        self.yield_at.is_some_and(|(at, waiting)| {
            waiting.load(std::sync::atomic::Ordering::Relaxed) > 0 && std::time::Instant::now() >= at
        })
    }

    /// Whether nothing more will be judged (a change costs at least [`CHANGE_COST`]).
    pub fn spent(&self) -> bool {
        self.used && (self.left < CHANGE_COST || self.yields())
    }

    fn take(&mut self, cost: usize) -> bool {
        if self.used && (cost > self.left || self.yields()) {
            return false;
        }
        self.left = self.left.saturating_sub(cost);
        self.used = true;
        true
    }
}

/// What the checks of one kind of document read of the document besides its log.
struct DocFacts<'a> {
    id: &'a str,
    /// The enterprise a problem is about, from its header.
    enterprise_id: Option<String>,
}

/// A kind of document as the relay judges its events: beyond the checks common to every event
/// (`judge`), the author's right to take the action and the action's values.
trait Judged: Fold<Action: serde::de::DeserializeOwned + serde::Serialize + Clone + PartialEq> {
    fn verb(action: &Self::Action) -> &'static str;
    fn authorize(
        p: &Pusher<'_>,
        ctx: &Context<'_>,
        doc: &DocFacts<'_>,
        event: &Event<Self::Action>,
        state: &Self,
    ) -> Result<(), (RejectCode, String)>;
}

fn fail(e: DomainError) -> (RejectCode, String) {
    (code_of(&e), e.to_string())
}

fn unnormalised() -> (RejectCode, String) {
    (RejectCode::InvalidAction, "values are not normalised".to_owned())
}

impl Judged for ProblemState {
    fn verb(action: &ProblemAction) -> &'static str {
        action.verb()
    }

    fn authorize(
        p: &Pusher<'_>,
        ctx: &Context<'_>,
        doc: &DocFacts<'_>,
        event: &Event<ProblemAction>,
        state: &ProblemState,
    ) -> Result<(), (RejectCode, String)> {
        if event.action.clone().validate().map_err(fail)? != event.action {
            return Err(unnormalised());
        }
        // Devices keep a category of a newer version, but the relay accepts only those it knows,
        // as it does event types.
        if let ProblemAction::Reported { category, .. } = &event.action
            && !category.is_known()
        {
            return Err((RejectCode::InvalidAction, format!("unknown category {}", category.as_str())));
        }
        let ent_id = match (&event.action, &doc.enterprise_id) {
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
        // A duplicate goes into another problem of its enterprise that is still one of its own.
        if let ProblemAction::Merged { into, .. } = &event.action {
            let target = (ctx.problem)(into).filter(|t| into != doc.id && t.enterprise_id == ent_id);
            if target.is_none_or(|t| t.status.is_void()) {
                return Err((
                    RejectCode::InvalidAction,
                    "a problem is merged only into another problem of the same enterprise, not withdrawn or merged"
                        .into(),
                ));
            }
        }
        let path = ctx.dir.region_path(&ent.profile.region_id).unwrap_or_default();
        if p.imports_history() {
            return Ok(());
        }
        let facts = EnterpriseFacts { id: &ent_id, region_path: &path, state: &ent };
        rules::authorize_problem(&p.actor, &event.action, state, &facts, ctx.dir).map_err(fail)
    }
}

impl Judged for EnterpriseState {
    fn verb(action: &EnterpriseAction) -> &'static str {
        action.verb()
    }

    fn authorize(
        p: &Pusher<'_>,
        ctx: &Context<'_>,
        doc: &DocFacts<'_>,
        event: &Event<EnterpriseAction>,
        state: &EnterpriseState,
    ) -> Result<(), (RejectCode, String)> {
        // The relay's own records skip the time checks: their `at` may be any i64.
        let today = event.at.saturating_add(8 * 3_600_000).div_euclid(86_400_000);
        let normalised = match &event.action {
            EnterpriseAction::Registered { profile } => profile.clone().validate().map(|p| p == *profile),
            EnterpriseAction::ProfileUpdated { update } => update.clone().validate().map(|u| u == *update),
            EnterpriseAction::Corrected { correction } => correction.clone().validate().map(|c| c == *correction),
            EnterpriseAction::ScaleSet { scale } => scale.clone().validate().map(|s| s == *scale),
            EnterpriseAction::VisitRecorded { visit } => visit.clone().validate(today).map(|v| v == *visit),
            EnterpriseAction::VisitCorrected { visit, reason } => visit
                .clone()
                .validate(today)
                .and_then(|v| Ok(v == *visit && text::required("reason", reason, text::MEDIUM)? == *reason)),
            EnterpriseAction::AssignmentEnded { reason, .. } => {
                text::optional("reason", reason, text::MEDIUM).map(|r| r == *reason)
            }
            // Its values are checked by the fold (a plain id, a known mark).
            EnterpriseAction::CadreAssigned { .. }
            | EnterpriseAction::PolicyMarked { .. }
            | EnterpriseAction::Unknown => Ok(true),
        };
        if !normalised.map_err(fail)? {
            return Err(unnormalised());
        }
        let region = match &event.action {
            EnterpriseAction::Registered { profile } => profile.region_id.clone(),
            _ => state.profile.region_id.clone(),
        };
        let path = ctx.dir.region_path(&region).unwrap_or_default();
        if p.imports_history() {
            return Ok(());
        }
        let facts = EnterpriseFacts { id: doc.id, region_path: &path, state };
        rules::authorize_enterprise(&p.actor, &event.action, &facts, ctx.dir).map_err(fail)
    }
}

impl Judged for TaskNoticeState {
    fn verb(action: &TaskNoticeAction) -> &'static str {
        action.verb()
    }

    fn authorize(
        p: &Pusher<'_>,
        ctx: &Context<'_>,
        _doc: &DocFacts<'_>,
        event: &Event<TaskNoticeAction>,
        state: &TaskNoticeState,
    ) -> Result<(), (RejectCode, String)> {
        if event.action.clone().validate(event.at).map_err(fail)? != event.action {
            return Err(unnormalised());
        }
        if p.imports_history() {
            return Ok(());
        }
        rules::authorize_task_notice(&p.actor, &event.action, state, ctx.dir).map_err(fail)
    }
}

impl Judged for PolicyState {
    fn verb(action: &PolicyAction) -> &'static str {
        action.verb()
    }

    fn authorize(
        p: &Pusher<'_>,
        ctx: &Context<'_>,
        _doc: &DocFacts<'_>,
        event: &Event<PolicyAction>,
        state: &PolicyState,
    ) -> Result<(), (RejectCode, String)> {
        if event.action.clone().validate().map_err(fail)? != event.action {
            return Err(unnormalised());
        }
        if p.imports_history() {
            return Ok(());
        }
        rules::authorize_policy(&p.actor, &event.action, state, ctx.dir).map_err(fail)
    }
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
            // The copied values are the enterprise's own, so lists, search and exports that show them
            // show the truth.
            if header("region_id").as_deref() != Some(ent.profile.region_id.as_str()) {
                return bad("header names another region than the enterprise's");
            }
            // A phone that had not yet received a correction of the name writes the name it replaced.
            let names = std::iter::once(&ent.profile.name)
                .chain(ent.corrections.iter().filter_map(|c| c.previous.name.as_ref()));
            if !names.into_iter().any(|n| header("enterprise_name").as_deref() == Some(n.as_str())) {
                return bad("header names the enterprise otherwise than it is or was registered");
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
        DocKind::Policy => {
            let events: Vec<Event<PolicyAction>> = parse_events(&raw);
            let Some(PolicyAction::Issued { region_id, .. }) = events.first().map(|e| &e.action) else {
                return bad("a policy starts with its issue");
            };
            if header("region_id").as_ref() != Some(region_id) {
                return bad("header names another region");
            }
        }
        DocKind::Enterprise => {}
    }
    Ok(())
}

/// The furthest from 1970 a change's time (seconds) may be: a document's change carries its first
/// event's time (milliseconds in an `i64`) in seconds, so no honest change is further. Automerge keeps
/// its changes' times delta-encoded: two times further apart than an `i64` holds overflowed its
/// apply (a panic, found by fuzzing).
pub const MAX_CHANGE_TIME: u64 = (i64::MAX / 1000) as u64;

/// Reads one pushed chunk as an Automerge change. Only an uncompressed change chunk (type 1, as
/// `Change::raw_bytes` gives) is read — other chunk types (a document, a bundle) are refused before
/// Automerge's decoder sees them, since some declare counts it would allocate for — and its
/// checksum must match its content (Automerge's reader does not check it; devices do, and would
/// skip a change the relay kept). A panic of the decoder is answered as a refusal, and so is a change
/// whose ops do not expand (`Change::decode`, which the shape check reads them with, panics on an op
/// naming an actor the change does not list; Automerge's reader lets such a change through).
pub fn parse_change(bytes: &[u8]) -> Result<Change, String> {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    if bytes.len() < 9 || bytes[..4] != MAGIC || bytes[8] != 1 {
        return Err("not an uncompressed Automerge change chunk".into());
    }
    let change = std::panic::catch_unwind(|| Change::from_bytes(bytes.to_vec()))
        .map_err(|_| "change does not parse".to_owned())?
        .map_err(|e| format!("change does not parse: {e}"))?;
    if bytes[4..8] != change.hash().as_ref()[..4] {
        return Err("change checksum does not match its content".into());
    }
    if change.timestamp().unsigned_abs() > MAX_CHANGE_TIME {
        return Err("change time out of range".into());
    }
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| change.decode())).is_err() {
        return Err("change does not parse: an op names an actor the change does not list".into());
    }
    Ok(change)
}

/// Validates the changes pushed for one document against the relay's copy (`base`), with no bound
/// on the cost (see [`validate_within`]).
pub fn validate(p: &Pusher<'_>, ctx: &Context<'_>, base: Option<(DocKind, Automerge)>, push: &DocChanges) -> Verdict {
    validate_within(p, ctx, base, push, &mut Budget::unlimited())
}

/// Validates the changes pushed for one document against the relay's copy (`base`), as far as
/// `budget` allows. The base is handed back when it was left untouched, so the caller can cache it
/// again without a copy.
pub fn validate_within(
    p: &Pusher<'_>,
    ctx: &Context<'_>,
    base: Option<(DocKind, Automerge)>,
    push: &DocChanges,
    budget: &mut Budget<'_>,
) -> Verdict {
    let mut slot = base.map(|(_, d)| d);
    let result = match push.kind {
        DocKind::Problem => validate_inner::<ProblemState>(p, ctx, &mut slot, push, budget),
        DocKind::Enterprise => validate_inner::<EnterpriseState>(p, ctx, &mut slot, push, budget),
        DocKind::TaskNotice => validate_inner::<TaskNoticeState>(p, ctx, &mut slot, push, budget),
        DocKind::Policy => validate_inner::<PolicyState>(p, ctx, &mut slot, push, budget),
    };
    match result {
        Ok(Outcome::Write(write, deferred)) => Verdict::Accept(write, slot.unwrap_or_default(), deferred),
        Ok(Outcome::Nothing) => Verdict::AlreadyStored(slot),
        Ok(Outcome::Deferred) => Verdict::Deferred(slot),
        Err((code, message)) => Verdict::Reject(code, message, slot),
    }
}

enum Outcome {
    /// New changes to store, and the hashes of those left for the next push (over the budget).
    Write(Box<DocWrite>, Vec<Vec<u8>>),
    /// Every change was already stored.
    Nothing,
    /// The budget allowed no change to be judged.
    Deferred,
}

/// On success returns what to store and leaves the new document in `slot`. On failure, or when
/// nothing is stored, `slot` holds the untouched base, or `None` if it had been modified.
fn validate_inner<S: Judged>(
    p: &Pusher<'_>,
    ctx: &Context<'_>,
    slot: &mut Option<Automerge>,
    push: &DocChanges,
    budget: &mut Budget<'_>,
) -> Result<Outcome, (RejectCode, String)> {
    let kind = push.kind;
    if budget.spent() {
        return Ok(Outcome::Deferred);
    }
    let mut changes = Vec::with_capacity(push.changes.len());
    for bytes in &push.changes {
        let change = parse_change(bytes).map_err(|m| (RejectCode::Malformed, m))?;
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
        return Ok(Outcome::Nothing);
    }
    let mut doc = slot.take().unwrap_or_default();
    if existing && header_of(&doc, "kind").as_deref() != Some(kind.as_str()) {
        *slot = Some(doc);
        return Err((RejectCode::Malformed, format!("document is not a {}", kind.as_str())));
    }
    // Reading the document's event ids costs its length, as does reading a log afresh.
    let held = zhuqi_core::document::event_count(&doc);
    if !budget.take(held + CHANGE_COST) {
        *slot = existing.then_some(doc);
        return Ok(Outcome::Deferred);
    }
    let mut touched = false;
    let mut accepted = Vec::with_capacity(fresh.len());
    let mut deferred = Vec::new();
    let mut ids = event_ids(&raw_events_of(&doc));
    let mut log: Option<Log<S>> = None;
    // Automerge numbers each actor's changes 1, 2, 3…, and asserts it (a panic) when it applies a
    // change numbered past its actor's next: each change must be its actor's next. And an op id
    // (counter, actor) is one op: a change whose counters start at or below the highest its actor
    // has used (made on a history missing the actor's own last change) would give two ops one id,
    // which Automerge's apply does not check (its op set is left out of order).
    let mut actors: HashMap<ActorId, (u64, u64)> = HashMap::new();
    for m in doc.get_changes_meta(&[]) {
        let (changes, max_op) = actors.entry(m.actor.into_owned()).or_default();
        *changes += 1;
        *max_op = (*max_op).max(m.max_op);
    }
    let result = (|| {
        for (i, change) in fresh.iter().enumerate() {
            let deps = sorted(change.deps());
            let follows = log.as_ref().is_some_and(|l| l.at == deps);
            // The first change was paid for above; a later one pays its events, and the log besides
            // when it does not follow the change before.
            let cost = CHANGE_COST + if follows { 0 } else { zhuqi_core::document::event_count(&doc) };
            if i > 0 && !budget.take(cost) {
                deferred.extend(fresh[i..].iter().map(|c| c.hash().as_ref().to_vec()));
                break;
            }
            if deps.iter().any(|d| doc.get_change_meta_by_hash(d).is_none()) {
                return Err((
                    RejectCode::MissingDependencies,
                    "a change depends on changes the relay does not have".into(),
                ));
            }
            let (held, used) = actors.get(change.actor_id()).copied().unwrap_or_default();
            let next = held + 1;
            if change.seq() != next {
                return Err((
                    RejectCode::Malformed,
                    format!("change number {} of its actor, whose next is {next}", change.seq()),
                ));
            }
            // Automerge looks each actor a change names up among the document's authors when it
            // applies the change (and panics on one it does not know): an op naming an actor that
            // wrote nothing in the document can refer to nothing in it anyway.
            if let Some(a) = change.other_actor_ids().iter().find(|a| !actors.contains_key(*a)) {
                return Err((
                    RejectCode::Malformed,
                    format!("the change names actor {a}, who wrote nothing in the document"),
                ));
            }
            if change.start_op().get() <= used {
                return Err((
                    RejectCode::Malformed,
                    format!("op counters from {}, which its actor has used up to {used}", change.start_op()),
                ));
            }
            let not_append_only = |m: String| (RejectCode::NotAppendOnly, m);
            let (target, held, concurrent) = match shape::append_target(&doc, &deps) {
                Some(_) if deps.is_empty() => {
                    return Err(not_append_only(
                        "the document exists: a change without dependencies would create it again".into(),
                    ));
                }
                Some(t) => t,
                None => (Target::Create { kind, doc_id: push.doc.clone() }, 0, 0),
            };
            if concurrent > shape::MAX_CONCURRENT_EVENTS {
                return Err((
                    RejectCode::Malformed,
                    format!(
                        "the change has not seen {concurrent} events of the document; at most {}",
                        shape::MAX_CONCURRENT_EVENTS
                    ),
                ));
            }
            let creating = matches!(target, Target::Create { .. });
            let added = shape::check(change, &target, shape::max_op_at(&doc, &deps) + 1).map_err(not_append_only)?;
            if held + added.len() > shape::MAX_EVENTS_PER_DOCUMENT {
                return Err((
                    RejectCode::Malformed,
                    format!("the document would hold more than {} events", shape::MAX_EVENTS_PER_DOCUMENT),
                ));
            }
            let mut before = match log.take() {
                Some(l) if follows => l,
                _ => Log::read(&doc, &deps),
            };
            touched = true;
            // The shape check leaves nothing Automerge should fail on; a panic in it is still answered
            // as a refusal, and the document it may have left half-changed is dropped (`touched`).
            let applied =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| doc.apply_changes([change.clone()])));
            match applied {
                Ok(Ok(())) => {
                    actors.insert(change.actor_id().clone(), (next, change.max_op()));
                }
                Ok(Err(e)) => return Err((RejectCode::Malformed, e.to_string())),
                Err(_) => return Err((RejectCode::Malformed, "the change could not be applied".into())),
            }
            // The header is written once, by the creation (perhaps this change).
            let facts = DocFacts { id: &push.doc, enterprise_id: header_of(&doc, "enterprise_id") };
            judge(p, ctx, &facts, &mut before, &added, &mut ids)?;
            if creating {
                check_creation_header(kind, &doc, ctx)?;
                // Ids of imported history are the import's: a device that took one first would
                // have the import skip that record as already there.
                if push.doc.starts_with(crate::admin::history::ID_PREFIX) != p.imports_history() {
                    return Err((
                        RejectCode::Malformed,
                        "document ids starting with hist- are the history import's".into(),
                    ));
                }
            }
            before.at = vec![change.hash()];
            log = Some(before);
            #[derive(serde::Deserialize)]
            struct Stamp {
                id: String,
                at: i64,
            }
            let events = added
                .iter()
                .filter_map(|s| serde_json::from_str::<Stamp>(s).ok())
                .map(|e| (e.id, p.records_history().then_some(e.at)))
                .collect();
            accepted.push(AcceptedChange {
                hash: change.hash().as_ref().to_vec(),
                bytes: change.raw_bytes().to_vec(),
                events,
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
    Ok(Outcome::Write(Box::new(write), deferred))
}

/// The rejection to send back for one document.
pub fn rejection(push: &DocChanges, code: RejectCode, message: String, document: Option<Vec<u8>>) -> Rejection {
    let hashes = push.changes.iter().filter_map(|b| parse_change(b).ok().map(|c| c.hash().as_ref().to_vec())).collect();
    Rejection { doc: push.doc.clone(), kind: push.kind, hashes, code, message, document }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use zhuqi_core::domain::{Category, Department, OfficeSettings, Origin, Profile, ProfileUpdate, Role};

    const NOW: i64 = 1_767_225_600_000;
    const HOUR: i64 = 3_600_000;
    const COUNTY: &str = "410102";
    const NAME: &str = "郑州精工机械有限公司";

    struct Dir;

    impl DirectoryLookup for Dir {
        fn region_path(&self, id: &str) -> Option<String> {
            (id == COUNTY).then(|| "410000/410100/410102".into())
        }
        fn department(&self, id: &str) -> Option<Department> {
            (id == "dept-1").then(|| Department {
                id: id.into(),
                name: "中原区财政局".into(),
                region_id: COUNTY.into(),
            })
        }
        fn user(&self, _: &str) -> Option<User> {
            None
        }
        /// The city gives its enterprises 30 days to answer a resolution.
        fn office_settings(&self, id: &str) -> Option<OfficeSettings> {
            (id == "410100").then(|| OfficeSettings { region_id: id.into(), answer_days: 30, working_days: false })
        }
    }

    fn profile() -> Profile {
        Profile {
            name: NAME.into(),
            uscc: zhuqi_core::domain::uscc::complete("91410102MA44XY8K1").unwrap(),
            region_id: COUNTY.into(),
            ..Default::default()
        }
    }

    /// The county's campaign office, on one of its devices.
    struct Office {
        user: User,
        device: String,
        actor: ActorId,
        actors: HashSet<Vec<u8>>,
    }

    impl Office {
        fn on(device: &str) -> Office {
            let user = User {
                id: "office".into(),
                name: "中原区活动办".into(),
                role: Role::Manager,
                region_id: Some(COUNTY.into()),
                department_id: None,
                enterprise_id: None,
                mobile: None,
                position: None,
                unit: None,
            };
            let actor = ActorId::from(vec![0xa1; 16]);
            Office { user, device: device.into(), actors: HashSet::from([actor.to_bytes().to_vec()]), actor }
        }

        fn event<A>(&self, id: &str, at: i64, seen: &[&str], action: A) -> Event<A> {
            let seen = seen.iter().map(|s| s.to_string()).collect();
            Event {
                id: id.into(),
                by: self.user.id.clone(),
                role: Role::Manager,
                device: self.device.clone(),
                at,
                seen,
                origin: None,
                action,
            }
        }

        /// Validates a push of `changes` to `doc` against `base`, as the relay holds it.
        fn judge(&self, base: Option<&Document>, doc: &str, kind: DocKind, changes: Vec<Vec<u8>>) -> Verdict {
            let pusher = Pusher {
                user: &self.user,
                device_id: &self.device,
                actors: &self.actors,
                actor: Actor {
                    user_id: self.user.id.clone(),
                    role: Role::Manager,
                    region_path: Dir.region_path(COUNTY),
                    department_id: None,
                    enterprise_id: None,
                },
            };
            let enterprise =
                |_: &str| Some(EnterpriseState { registered: true, profile: profile(), ..Default::default() });
            let ctx = Context {
                dir: &Dir,
                enterprise: &enterprise,
                problem: &|_| None,
                receipts: &|_, _| Vec::new(),
                now: NOW,
            };
            let push = DocChanges { doc: doc.into(), kind, changes };
            validate(&pusher, &ctx, base.map(|d| (kind, d.automerge().clone())), &push)
        }

        /// An enterprise the office registered a day ago.
        fn enterprise(&self) -> Document {
            let first = self.event("e-1", NOW - 24 * HOUR, &[], EnterpriseAction::Registered { profile: profile() });
            Document::create(DocKind::Enterprise, "ent-1", &[], self.actor.clone(), &first).unwrap().0
        }

        /// A change of the office updating that enterprise at `at`.
        fn update(&self, enterprise: &Document, at: i64) -> Vec<u8> {
            let update = ProfileUpdate { industry: Some("装备制造".into()), ..Default::default() };
            let mut doc = enterprise.clone();
            let event = self.event("e-2", at, &["e-1"], EnterpriseAction::ProfileUpdated { update });
            doc.append(&event).unwrap().raw_bytes().to_vec()
        }
    }

    #[test]
    fn the_history_import_names_origins_of_known_accounts_in_the_past_and_nothing_else_does() {
        let import = Office::on("import:office");
        let enterprise = import.enterprise();
        let recorded = |id: &str, at: i64| EnterpriseAction::VisitRecorded {
            visit: zhuqi_core::domain::VisitRecord {
                id: id.into(),
                date: zhuqi_core::domain::text::date_of(at),
                people_met: vec!["刘总".into()],
                notes: "了解生产经营情况".into(),
                policies: vec![],
                policy_ids: vec![],
                location: None,
                photos: vec![],
            },
        };
        let visit = |at: i64, origin: Option<Origin>| {
            let mut doc = enterprise.clone();
            let event = Event { origin, ..import.event("e-2", at, &["e-1"], recorded("v-1", at)) };
            doc.append(&event).unwrap().raw_bytes().to_vec()
        };
        let origin =
            |user: Option<&str>| Some(Origin { record: "走访-1".into(), person: None, user: user.map(Into::into) });
        let judge = |change: Vec<u8>| import.judge(Some(&enterprise), "ent-1", DocKind::Enterprise, vec![change]);
        let refused = |v: Verdict| match v {
            Verdict::Reject(code, message, _) => (code, message),
            _ => panic!("accepted"),
        };
        // A year ago, naming nobody's account: accepted (the import's rights are not the office's).
        match judge(visit(NOW - 365 * 24 * HOUR, origin(None))) {
            Verdict::Accept(..) => {}
            Verdict::Reject(code, message, _) => panic!("refused {code:?}: {message}"),
            _ => panic!("not judged"),
        }
        // Naming an account the directory does not know, dated after its arrival, or without an
        // origin at all: refused.
        let (code, message) = refused(judge(visit(NOW - HOUR, origin(Some("ghost")))));
        assert_eq!(code, RejectCode::InvalidAction, "{message}");
        assert!(message.contains("ghost"), "{message}");
        let (code, message) = refused(judge(visit(NOW + 24 * HOUR, origin(None))));
        assert_eq!(code, RejectCode::InvalidAction, "{message}");
        assert!(message.contains("after its import"), "{message}");
        assert_eq!(refused(judge(visit(NOW - HOUR, None))).0, RejectCode::ForgedAuthor);
        // The office's own device may not name an origin.
        let office = Office::on("pc-office");
        let mut doc = office.enterprise();
        let event = Event { origin: origin(None), ..office.event("e-2", NOW, &["e-1"], recorded("v-2", NOW)) };
        let change = doc.append(&event).unwrap().raw_bytes().to_vec();
        let v = office.judge(Some(&office.enterprise()), "ent-1", DocKind::Enterprise, vec![change]);
        assert_eq!(refused(v).0, RejectCode::ForgedAuthor);
    }

    /// A report of a financing problem of `ent-1`.
    fn reported() -> ProblemAction {
        ProblemAction::Reported {
            enterprise_id: "ent-1".into(),
            category: Category::Financing,
            title: "贷款到期".into(),
            description: "续贷需要担保".into(),
            visit_id: None,
            photos: vec![],
        }
    }

    fn raw(changes: &[Change]) -> Vec<Vec<u8>> {
        changes.iter().map(|c| c.raw_bytes().to_vec()).collect()
    }

    fn code(v: &Verdict) -> Option<RejectCode> {
        match v {
            Verdict::Reject(code, ..) => Some(*code),
            _ => None,
        }
    }

    #[test]
    fn every_bit_flip_of_a_pushed_change_is_answered_not_a_panic() {
        // Automerge reads a change one of whose ops names an actor the change does not list; the
        // shape check, expanding its ops, panicked. One flipped bit makes such a change.
        let office = Office::on("dev-office");
        let base = office.enterprise();
        let change = office.update(&base, NOW - HOUR);
        let verdict = office.judge(Some(&base), "ent-1", DocKind::Enterprise, vec![change.clone()]);
        assert!(matches!(verdict, Verdict::Accept(..)), "refused: {:?}", code(&verdict));
        let mut unlisted = 0;
        for i in 8..change.len() {
            for bit in 0..8 {
                let mut flipped = change.clone();
                flipped[i] ^= 1 << bit;
                // The checksum made to match, so the flip reaches Automerge's reader and beyond.
                let hash = Sha256::digest(&flipped[8..]);
                flipped[4..8].copy_from_slice(&hash[..4]);
                if parse_change(&flipped).is_err_and(|e| e.contains("does not list")) {
                    unlisted += 1;
                }
                office.judge(Some(&base), "ent-1", DocKind::Enterprise, vec![flipped]);
            }
        }
        assert!(unlisted > 0, "no flip made an op name an actor the change does not list");
    }

    #[test]
    fn a_change_numbered_past_its_actors_next_is_refused_before_automerge_applies_it() {
        // Automerge asserts an actor's changes are numbered 1, 2, 3… as it applies them: a change
        // numbered 3 after the actor's first (or 1 again) reached it, and it panicked.
        let office = Office::on("dev-office");
        let base = office.enterprise();
        let change = Change::from_bytes(office.update(&base, NOW - HOUR)).unwrap();
        assert_eq!(change.seq(), 2);
        for seq in [3, 1, u64::MAX] {
            let mut expanded = change.decode();
            expanded.seq = seq;
            let renumbered = Change::from(expanded).raw_bytes().to_vec();
            let verdict = office.judge(Some(&base), "ent-1", DocKind::Enterprise, vec![renumbered]);
            match verdict {
                Verdict::Reject(RejectCode::Malformed, message, Some(_)) => assert!(message.contains("next is 2")),
                other => panic!("numbered {seq}: {:?}", code(&other)),
            }
        }
    }

    #[test]
    fn a_change_reusing_op_counters_of_its_actor_is_refused_before_automerge_applies_it() {
        // The office's third change, made on a history without its second (numbered 3 by hand, as
        // the next): its counters start where the second's did. Automerge applied it, and its op
        // set held two ops with one id (a release build does not check; a debug build asserts).
        let office = Office::on("dev-office");
        let mut base = office.enterprise();
        let first = base.automerge().get_heads();
        Change::from_bytes(office.update(&base, NOW - 2 * HOUR))
            .map(|c| base.automerge_mut().apply_changes([c]))
            .unwrap()
            .unwrap();
        let mut older = Document::from_automerge(base.automerge().fork_at(&first).unwrap());
        older.set_actor(office.actor.clone());
        let event = office.event(
            "e-3",
            NOW - HOUR,
            &["e-1"],
            EnterpriseAction::ProfileUpdated { update: ProfileUpdate::default() },
        );
        let mut expanded = older.append(&event).unwrap().decode();
        assert_eq!(expanded.seq, 2);
        expanded.seq = 3;
        let change = Change::from(expanded).raw_bytes().to_vec();
        match office.judge(Some(&base), "ent-1", DocKind::Enterprise, vec![change]) {
            Verdict::Reject(RejectCode::Malformed, message, Some(_)) => {
                assert!(message.contains("used up to"), "{message}")
            }
            other => panic!("{:?}", code(&other)),
        }
    }

    #[test]
    fn a_record_of_the_relay_dated_at_the_end_of_time_is_judged() {
        // The relay's own records skip the time checks: the day of an event dated i64::MAX overflowed.
        let office = Office::on(&crate::sync::author::relay_device_id("office"));
        let base = office.enterprise();
        let change = office.update(&base, i64::MAX);
        let verdict = office.judge(Some(&base), "ent-1", DocKind::Enterprise, vec![change]);
        assert!(matches!(verdict, Verdict::Accept(..)), "refused: {:?}", code(&verdict));
    }

    #[test]
    fn events_after_an_event_dated_at_the_start_of_time_are_judged() {
        // A device's clock is a claim: a report dated i64::MIN is accepted; an event that saw it was
        // refused (its bound, `seen at - 10 min`, wrapped around) or overflowed the fold.
        let office = Office::on("dev-office");
        let header = [("enterprise_id", "ent-1"), ("enterprise_name", NAME), ("region_id", COUNTY)];
        let reported = reported();
        let first = office.event("p-1", i64::MIN, &[], reported);
        let (mut doc, c1) =
            Document::create(DocKind::Problem, "prob-1", &header, office.actor.clone(), &first).unwrap();
        let accepted = ProblemAction::Accepted { note: String::new() };
        let c2 = doc.append(&office.event("p-2", i64::MIN, &["p-1"], accepted)).unwrap();
        let deadline = NOW + 120 * HOUR;
        let routed = ProblemAction::Routed { department_id: "dept-1".into(), level: 1, deadline, note: String::new() };
        let c3 = doc.append(&office.event("p-3", i64::MIN + 1, &["p-2"], routed)).unwrap();
        let verdict = office.judge(None, "prob-1", DocKind::Problem, raw(&[c1, c2, c3]));
        assert!(matches!(verdict, Verdict::Accept(..)), "refused: {:?}", code(&verdict));
    }

    #[test]
    fn closing_unanswered_is_held_to_the_window_the_offices_settings_give() {
        // Resolved 31 days ago, in a county whose city gives enterprises 30 days to answer.
        let office = Office::on("dev-office");
        let header = [("enterprise_id", "ent-1"), ("enterprise_name", NAME), ("region_id", COUNTY)];
        let reported = reported();
        let day = 24 * HOUR;
        let (mut doc, _) = Document::create(
            DocKind::Problem,
            "prob-1",
            &header,
            office.actor.clone(),
            &office.event("p-1", NOW - 40 * day, &[], reported),
        )
        .unwrap();
        let routed = ProblemAction::Routed {
            department_id: "dept-1".into(),
            level: 1,
            deadline: NOW - 32 * day,
            note: String::new(),
        };
        doc.append(&office.event("p-2", NOW - 39 * day, &["p-1"], routed)).unwrap();
        let resolved = ProblemAction::Resolved { resolution: "已放款".into(), photos: vec![] };
        doc.append(&office.event("p-3", NOW - 31 * day, &["p-2"], resolved)).unwrap();
        let close = |answer_days: Option<u32>| {
            let mut d = doc.clone();
            let action = ProblemAction::ClosedUnanswered { note: String::new(), answer_days };
            let change = d.append(&office.event("p-4", NOW, &["p-3"], action)).unwrap().raw_bytes().to_vec();
            office.judge(Some(&doc), "prob-1", DocKind::Problem, vec![change])
        };
        // The default window (named, or left out as older versions do) is shorter than the city's:
        // refused, though 15 days have long passed. A window outside what an office may choose is
        // refused as a value.
        for answer_days in [Some(15), None, Some(29), Some(0), Some(365)] {
            let verdict = close(answer_days);
            assert_eq!(code(&verdict), Some(RejectCode::InvalidAction), "{answer_days:?}");
        }
        let verdict = close(Some(30));
        assert!(matches!(verdict, Verdict::Accept(..)), "refused: {:?}", code(&verdict));
    }

    #[test]
    fn a_change_dated_beyond_any_event_time_is_refused_before_automerge_applies_it() {
        // A change's time 2^63 seconds from another's overflowed Automerge's delta-encoded column of
        // change times as it applied it (a panic, caught and answered, but reached).
        let office = Office::on("dev-office");
        let base = office.enterprise();
        let change = Change::from_bytes(office.update(&base, NOW - HOUR)).unwrap();
        let edge = i64::MAX / 1000;
        for (time, refused) in
            [(i64::MIN + 1, true), (i64::MAX, true), (-edge - 1, true), (edge, false), (-edge, false)]
        {
            let mut expanded = change.decode();
            expanded.time = time;
            let redated = Change::from(expanded).raw_bytes().to_vec();
            match office.judge(Some(&base), "ent-1", DocKind::Enterprise, vec![redated]) {
                Verdict::Reject(RejectCode::Malformed, message, Some(_)) if refused => {
                    assert_eq!(message, "change time out of range")
                }
                Verdict::Accept(..) if !refused => {}
                other => panic!("dated {time}: {:?}", code(&other)),
            }
        }
    }
}
