//! The store the apps hold: opens the SQLite file of a signed-in user, takes every action of the
//! domain as one transaction (document change + pending record + index rows), and answers queries.
//!
//! Every action runs the same path: validate the values, check the rules against the current state,
//! append one event to the document in memory, then write the change, the pending record and the
//! index rows in one SQLite transaction. If anything fails, nothing is written and the in-memory copy
//! of the document is dropped, so memory never runs ahead of disk.

mod photos;
mod policies;
mod query;
mod search;
mod sync_state;
pub mod views;

use crate::document::Document;
use crate::domain::event::{Causality, Fold, fold};
use crate::domain::{
    Category, Correction, Directory, DocKind, EnterpriseAction, EnterpriseState, Event, OfficeSettings, Outcome,
    PhotoRef, PolicyAction, PolicyState, ProblemAction, ProblemState, Profile, ProfileUpdate, Recipient, Role, Scale,
    TaskNoticeAction, TaskNoticeState, VisitRecord, text,
};
use crate::error::DomainError;
use crate::error::{Entity, Error, Invalid, Result};
use crate::rules::{self, Actor, EnterpriseFacts};
use crate::storage::{self, SqlDirectory, schema};
use automerge::{ActorId, ReadDoc};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use serde::{Serialize, de::DeserializeOwned};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

pub use photos::{PHOTO_CACHE_BUDGET, PhotoSize, PhotoUpload};
pub use policies::{PolicyCandidate, PolicyMatch, PolicySummary};
pub use search::{SearchHit, SearchScope};
pub use storage::PendingChange;
pub use sync_state::{DocSyncStatus, QuarantinedChange};
pub use views::*;

/// The signed-in user of a store and the device it runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Identity {
    pub user_id: String,
    pub name: String,
    pub role: Role,
    pub region_id: Option<String>,
    pub department_id: Option<String>,
    pub enterprise_id: Option<String>,
    pub device_id: String,
}

/// Where the store reads the time. Phones use the system clock; tests set their own.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
    }
}

/// A new visit as the cadre enters it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewVisit {
    pub date: String,
    pub people_met: Vec<String>,
    pub notes: String,
    pub policies: Vec<String>,
    /// Policies of the library explained, by id (policies this device holds).
    pub policy_ids: Vec<String>,
    pub location: Option<crate::domain::Location>,
    pub photos: Vec<crate::domain::PhotoRef>,
}

/// A new problem as a cadre or an enterprise enters it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewProblem {
    pub enterprise_id: String,
    pub category: Category,
    pub title: String,
    pub description: String,
    /// The visit during which it was found, if any.
    pub visit_id: Option<String>,
    /// Photos attached on this device ([`Store::attach_photo`]).
    pub photos: Vec<PhotoRef>,
}

impl NewVisit {
    /// The visit as recorded under `id` (values not yet checked).
    fn record(self, id: String) -> VisitRecord {
        VisitRecord {
            id,
            date: self.date,
            people_met: self.people_met,
            notes: self.notes,
            policies: self.policies,
            policy_ids: self.policy_ids,
            location: self.location,
            photos: self.photos,
        }
    }
}

/// A new task notice as a campaign office enters it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTaskNotice {
    pub region_id: String,
    pub title: String,
    pub body: String,
    pub deadline: i64,
    pub recipients: Vec<Recipient>,
}

/// The result of applying changes received from the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Applied {
    /// Whether the document changed (false when every change was already here).
    pub changed: bool,
    /// Changes waiting for others they depend on.
    pub waiting_for_deps: bool,
}

/// The device store. Cheap to share between threads (`Arc<Store>`); calls are serialised.
pub struct Store {
    inner: Mutex<Inner>,
}

/// How many documents are kept parsed in memory.
const CACHE_DOCS: usize = 256;

struct Inner {
    conn: Connection,
    /// The photo files beside the database.
    blobs: crate::storage::blobs::BlobFiles,
    /// Whether the phone is on a metered network (mobile data), as the app last said.
    metered: bool,
    identity: Identity,
    actor_id: ActorId,
    clock: Arc<dyn Clock>,
    cache: HashMap<String, Cached>,
    tick: u64,
    /// The policies in force as last read, with the connection's count of changed rows then: read
    /// again after any write (see `policies::in_force`).
    policies: Option<(u64, Arc<Vec<PolicySummary>>)>,
}

/// A document held in memory with what was derived from it.
struct Cached {
    kind: DocKind,
    doc: Document,
    state: DocState,
    /// Heads of the event graph: the `seen` of the next local event.
    heads: Vec<String>,
    conflicts: usize,
    used: u64,
}

#[derive(Debug, Clone)]
enum DocState {
    Enterprise(EnterpriseState),
    Problem(ProblemState),
    TaskNotice(TaskNoticeState),
    Policy(PolicyState),
}

/// Ties a state type to its document kind and index tables.
trait DocType: Fold + Clone + Sized
where
    Self::Action: Serialize + DeserializeOwned + Clone,
{
    const KIND: DocKind;
    fn of(state: &DocState) -> Option<&Self>;
    fn of_mut(state: &mut DocState) -> Option<&mut Self>;
    fn wrap(self) -> DocState;
    /// Writes the document's index rows. `full` rewrites everything; otherwise only what the latest
    /// local event can have changed is written (one event never changes more).
    fn index(&self, conn: &Connection, id: &str, doc: &Document, conflicts: usize, full: bool) -> Result<()>;
}

impl DocType for EnterpriseState {
    const KIND: DocKind = DocKind::Enterprise;
    fn of(s: &DocState) -> Option<&Self> {
        if let DocState::Enterprise(s) = s { Some(s) } else { None }
    }
    fn of_mut(s: &mut DocState) -> Option<&mut Self> {
        if let DocState::Enterprise(s) = s { Some(s) } else { None }
    }
    fn wrap(self) -> DocState {
        DocState::Enterprise(self)
    }
    fn index(&self, conn: &Connection, id: &str, _: &Document, _: usize, full: bool) -> Result<()> {
        if !self.registered {
            return Ok(());
        }
        let new_visits = if full { &self.visits[..] } else { &self.visits[self.visits.len().saturating_sub(1)..] };
        storage::index_enterprise(conn, id, self, new_visits)
    }
}

impl DocType for ProblemState {
    const KIND: DocKind = DocKind::Problem;
    fn of(s: &DocState) -> Option<&Self> {
        if let DocState::Problem(s) = s { Some(s) } else { None }
    }
    fn of_mut(s: &mut DocState) -> Option<&mut Self> {
        if let DocState::Problem(s) = s { Some(s) } else { None }
    }
    fn wrap(self) -> DocState {
        DocState::Problem(self)
    }
    fn index(&self, conn: &Connection, id: &str, doc: &Document, conflicts: usize, _: bool) -> Result<()> {
        if self.status == crate::domain::ProblemStatus::New {
            return Ok(());
        }
        let name = doc.header("enterprise_name").unwrap_or_default();
        let region = doc.header("region_id").unwrap_or_default();
        let header = storage::ProblemHeader { enterprise_name: &name, region_id: &region };
        storage::index_problem(conn, id, &header, self, conflicts)?;
        storage::search::index_problem(conn, id, &name, self)?;
        Ok(storage::blobs::queue_referenced(conn, &self.photos)?)
    }
}

impl DocType for TaskNoticeState {
    const KIND: DocKind = DocKind::TaskNotice;
    fn of(s: &DocState) -> Option<&Self> {
        if let DocState::TaskNotice(s) = s { Some(s) } else { None }
    }
    fn of_mut(s: &mut DocState) -> Option<&mut Self> {
        if let DocState::TaskNotice(s) = s { Some(s) } else { None }
    }
    fn wrap(self) -> DocState {
        DocState::TaskNotice(self)
    }
    fn index(&self, conn: &Connection, id: &str, _: &Document, _: usize, _: bool) -> Result<()> {
        if self.issued { storage::index_task_notice(conn, id, self) } else { Ok(()) }
    }
}

impl DocType for PolicyState {
    const KIND: DocKind = DocKind::Policy;
    fn of(s: &DocState) -> Option<&Self> {
        if let DocState::Policy(s) = s { Some(s) } else { None }
    }
    fn of_mut(s: &mut DocState) -> Option<&mut Self> {
        if let DocState::Policy(s) = s { Some(s) } else { None }
    }
    fn wrap(self) -> DocState {
        DocState::Policy(self)
    }
    fn index(&self, conn: &Connection, id: &str, _: &Document, _: usize, _: bool) -> Result<()> {
        if self.issued { storage::index_policy(conn, id, self) } else { Ok(()) }
    }
}

/// Folds a document's events into its state, with the heads and the number of conflicts.
fn derive_typed<S: DocType>(doc: &Document) -> (S, Vec<String>, usize)
where
    S::Action: Serialize + DeserializeOwned + Clone,
{
    let events: Vec<Event<S::Action>> = doc.events();
    let heads = Causality::new(&events).heads(&events);
    let (state, folded) = fold::<S>(events);
    let conflicts = folded.iter().filter(|f| matches!(f.outcome, Outcome::Conflict { .. })).count();
    (state, heads, conflicts)
}

fn derive(kind: DocKind, doc: &Document) -> (DocState, Vec<String>, usize) {
    match kind {
        DocKind::Enterprise => {
            let (s, h, c) = derive_typed::<EnterpriseState>(doc);
            (s.wrap(), h, c)
        }
        DocKind::Problem => {
            let (s, h, c) = derive_typed::<ProblemState>(doc);
            (s.wrap(), h, c)
        }
        DocKind::TaskNotice => {
            let (s, h, c) = derive_typed::<TaskNoticeState>(doc);
            (s.wrap(), h, c)
        }
        DocKind::Policy => {
            let (s, h, c) = derive_typed::<PolicyState>(doc);
            (s.wrap(), h, c)
        }
    }
}

fn index_state(conn: &Connection, id: &str, doc: &Document, state: &DocState, conflicts: usize) -> Result<()> {
    match state {
        DocState::Enterprise(s) => s.index(conn, id, doc, conflicts, true),
        DocState::Problem(s) => s.index(conn, id, doc, conflicts, true),
        DocState::TaskNotice(s) => s.index(conn, id, doc, conflicts, true),
        DocState::Policy(s) => s.index(conn, id, doc, conflicts, true),
    }
}

/// Checks that every one of `ids` not in `already` (those a corrected visit had) names a policy this
/// device holds: a visit explains policies the cadre can see.
fn check_policies_held(conn: &Connection, ids: &[String], already: &[String]) -> Result<()> {
    for id in ids.iter().filter(|id| !already.contains(id)) {
        let held: i64 = conn.query_row("SELECT COUNT(*) FROM policies WHERE id = ?1", [id], |r| r.get(0))?;
        if held == 0 {
            return Err(Error::not_found(Entity::Policy, id.clone()));
        }
    }
    Ok(())
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl Store {
    /// Opens (creating if needed) the store at `path` for the signed-in user.
    pub fn open(path: &Path, identity: Identity) -> Result<Store> {
        Self::open_with_clock(path, identity, Arc::new(SystemClock))
    }

    pub fn open_with_clock(path: &Path, identity: Identity, clock: Arc<dyn Clock>) -> Result<Store> {
        Self::open_with(path, identity, None, clock)
    }

    /// Opens (creating if needed) the store at `path`, encrypted under `app_key` (32 bytes from
    /// Android Keystore or the iOS Keychain) when one is given: the database by SQLCipher, the photo
    /// files sealed (see `storage::crypto`). A store left unencrypted by an earlier version is
    /// encrypted as it opens with a key. An encrypted store opened without its key, or with another
    /// key, is refused with [`Error::KeyRejected`] and left as it is.
    pub fn open_encrypted(path: &Path, identity: Identity, app_key: Option<&[u8]>) -> Result<Store> {
        Self::open_with(path, identity, app_key, Arc::new(SystemClock))
    }

    pub fn open_with(path: &Path, identity: Identity, app_key: Option<&[u8]>, clock: Arc<dyn Clock>) -> Result<Store> {
        use storage::crypto::{self, DatabaseFile};
        let mut file = crypto::database_file(path)?;
        if file == DatabaseFile::Encrypted && !crypto::is_encrypted(path) {
            // Its key file is gone (an erase cut off after destroying it): nothing here can ever be
            // read again. What is left goes, and the store starts afresh.
            tracing::warn!("an encrypted store without its key file: removing what is left of it");
            crypto::remove_store_files(path);
            file = DatabaseFile::Absent;
        }
        let keys = match app_key {
            None if crypto::is_encrypted(path) => {
                return Err(Error::KeyRejected("the store is encrypted and no key was given".into()));
            }
            None => None,
            Some(_) if !cfg!(feature = "encryption") => {
                return Err(Error::KeyRejected("this build has no encryption (feature `encryption`)".into()));
            }
            Some(key) => Some(crypto::unlock_or_create(path, key)?),
        };
        let mut conn = match &keys {
            None => Connection::open(path)?,
            Some(keys) => {
                if file == DatabaseFile::Plain {
                    schema::encrypt_plain_database(path, keys)?;
                }
                schema::open_encrypted(path, keys)?
            }
        };
        schema::prepare(&mut conn)?;
        let tx = Transaction::new_unchecked(&conn, TransactionBehavior::Immediate)?;
        if let Some(stored) = storage::meta_get(&tx, "identity")? {
            let stored: Identity =
                serde_json::from_str(&stored).map_err(|e| Error::Corrupt(format!("stored identity: {e}")))?;
            if stored.user_id != identity.user_id {
                return Err(Error::StoreOfAnotherUser);
            }
        }
        let identity_json = serde_json::to_string(&identity).map_err(|e| Error::Corrupt(e.to_string()))?;
        storage::meta_set(&tx, "identity", &identity_json)?;
        let actor_id = match storage::meta_get(&tx, "actor_id")? {
            Some(hex) => ActorId::try_from(hex.as_str()).map_err(|e| Error::Corrupt(format!("actor id: {e}")))?,
            None => {
                let actor = ActorId::random();
                storage::meta_set(&tx, "actor_id", &actor.to_hex_string())?;
                actor
            }
        };
        tx.commit()?;
        let blobs = crate::storage::blobs::BlobFiles::beside(path, keys);
        blobs.remove_leftovers();
        blobs.seal_plain_files()?;
        let store = Store {
            inner: Mutex::new(Inner {
                conn,
                blobs,
                metered: false,
                identity,
                actor_id,
                clock,
                cache: HashMap::new(),
                tick: 0,
                policies: None,
            }),
        };
        store.reindex_if_asked()?;
        Ok(store)
    }

    /// Writes every document's index rows again when a schema upgrade asked for it (a new index
    /// table to fill), in one transaction.
    fn reindex_if_asked(&self) -> Result<()> {
        let inner = self.lock();
        if storage::meta_get(&inner.conn, "reindex")?.is_none() {
            return Ok(());
        }
        let tx = Transaction::new_unchecked(&inner.conn, TransactionBehavior::Immediate)?;
        let ids: Vec<String> = tx
            .prepare("SELECT id FROM documents ORDER BY id")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for id in ids {
            let Some((kind, doc)) = storage::load_document(&tx, &id)? else { continue };
            let (state, _, conflicts) = derive(kind, &doc);
            index_state(&tx, &id, &doc, &state, conflicts)?;
        }
        tx.execute("DELETE FROM meta WHERE key = 'reindex'", [])?;
        tx.commit()?;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave SQLite half-written (transactions roll back), and
        // the cache is rebuilt from disk on demand: continuing after a poisoned lock is safe.
        self.inner.lock().unwrap_or_else(|p| {
            let mut inner = p.into_inner();
            inner.cache.clear();
            inner
        })
    }

    pub fn identity(&self) -> Identity {
        self.lock().identity.clone()
    }

    /// This device's Automerge actor id, hex.
    pub fn actor_id(&self) -> String {
        self.lock().actor_id.to_hex_string()
    }

    /// The campaign office settings in force at a region: those of the nearest office above it (or
    /// its own) that chose any, else the defaults.
    pub fn office_settings(&self, region_id: &str) -> Result<OfficeSettings> {
        let inner = self.lock();
        inner.settings_at(&inner.region_path(region_id)?)
    }

    /// The deadline `days` days from now, as the signed-in user's office counts them: working days
    /// (skipping weekends and the calendar's holidays, counting its make-up working days) where its
    /// settings say so, else calendar days. It ends at the last moment of that day (China time).
    pub fn deadline_in(&self, days: u32) -> Result<i64> {
        let inner = self.lock();
        let actor = inner.actor()?;
        let path = match (&actor.region_path, &actor.department_id) {
            (Some(p), _) => p.clone(),
            (None, Some(d)) => match storage::department(&inner.conn, d)? {
                Some(d) => inner.region_path(&d.region_id)?,
                None => String::new(),
            },
            (None, None) => String::new(),
        };
        let working = inner.settings_at(&path)?.working_days;
        Ok(storage::calendar(&inner.conn)?.deadline(inner.now(), days, working)?)
    }

    /// Adds or updates directory records (regions, departments, users, office settings, calendar days).
    pub fn import_directory(&self, dir: &Directory) -> Result<()> {
        let inner = self.lock();
        let tx = Transaction::new_unchecked(&inner.conn, TransactionBehavior::Immediate)?;
        storage::import_directory(&tx, dir)?;
        tx.commit()?;
        Ok(())
    }

    // ---- enterprises ----

    /// Registers an enterprise (campaign office). Returns its id.
    pub fn register_enterprise(&self, profile: Profile) -> Result<String> {
        let id = new_id();
        self.register_enterprise_with_id(&id, profile)?;
        Ok(id)
    }

    /// Registers an enterprise under an id chosen in advance (imports, whose contacts name it).
    pub fn register_enterprise_with_id(&self, id: &str, profile: Profile) -> Result<()> {
        if !crate::domain::is_plain_id(id) {
            return Err(Error::invalid(
                "id",
                Invalid::Format { expected: "1-64 letters, digits, '-', '_', ':' or '.'" },
            ));
        }
        let profile = profile.validate()?;
        let mut inner = self.lock();
        if inner.load(id)?.is_some() {
            return Err(
                DomainError::InvalidTransition { action: "register an enterprise", status: "registered" }.into()
            );
        }
        let id = id.to_owned();
        let path = inner.region_path(&profile.region_id)?;
        let action = EnterpriseAction::Registered { profile };
        let actor = inner.actor()?;
        let empty = EnterpriseState::default();
        let facts = EnterpriseFacts { id: &id, region_path: &path, state: &empty };
        let dir = SqlDirectory::new(&inner.conn);
        dir.check(rules::authorize_enterprise(&actor, &action, &facts, &dir))?;
        inner.create::<EnterpriseState>(&id, &[], action)
    }

    pub fn update_enterprise(&self, enterprise_id: &str, update: ProfileUpdate) -> Result<()> {
        let update = update.validate()?;
        self.lock().act_on_enterprise(enterprise_id, EnterpriseAction::ProfileUpdated { update }).map(drop)
    }

    /// The campaign office corrects an enterprise's registered name, credit code or address (更正),
    /// saying why; the registration stays in the history.
    pub fn correct_enterprise(&self, enterprise_id: &str, correction: Correction) -> Result<()> {
        let correction = correction.validate()?;
        self.lock().act_on_enterprise(enterprise_id, EnterpriseAction::Corrected { correction }).map(drop)
    }

    /// The campaign office sets the figures of an enterprise's size and age (规模) that policies
    /// are matched on; a figure left out becomes unknown.
    pub fn set_enterprise_scale(&self, enterprise_id: &str, scale: Scale) -> Result<()> {
        let scale = scale.validate()?;
        self.lock().act_on_enterprise(enterprise_id, EnterpriseAction::ScaleSet { scale }).map(drop)
    }

    /// Assigns a cadre to an enterprise (包联); `chief` makes them its chief service officer.
    pub fn assign_cadre(&self, enterprise_id: &str, cadre_id: &str, chief: bool) -> Result<()> {
        let action = EnterpriseAction::CadreAssigned { cadre_id: cadre_id.to_owned(), chief };
        self.lock().act_on_enterprise(enterprise_id, action).map(drop)
    }

    pub fn end_assignment(&self, enterprise_id: &str, cadre_id: &str, reason: &str) -> Result<()> {
        let reason = text::optional("reason", reason, text::MEDIUM)?;
        let action = EnterpriseAction::AssignmentEnded { cadre_id: cadre_id.to_owned(), reason };
        self.lock().act_on_enterprise(enterprise_id, action).map(drop)
    }

    /// Records a visit to an assigned enterprise. Returns the visit's id.
    pub fn record_visit(&self, enterprise_id: &str, visit: NewVisit) -> Result<String> {
        let mut inner = self.lock();
        let today = (inner.now() + 8 * 3_600_000).div_euclid(86_400_000);
        let id = new_id();
        let record = visit.record(id.clone()).validate(today)?;
        photos::check_held(&inner.conn, &record.photos, &[])?;
        check_policies_held(&inner.conn, &record.policy_ids, &[])?;
        inner.act_on_enterprise(enterprise_id, EnterpriseAction::VisitRecorded { visit: record })?;
        Ok(id)
    }

    /// Corrects a visit one recorded, within
    /// [`VISIT_CORRECTION_DAYS`](crate::domain::VISIT_CORRECTION_DAYS) of recording it (更正): every
    /// value as it should be, and why; the values it replaces stay in the visit's history.
    pub fn correct_visit(&self, enterprise_id: &str, visit_id: &str, visit: NewVisit, reason: &str) -> Result<()> {
        let mut inner = self.lock();
        let today = (inner.now() + 8 * 3_600_000).div_euclid(86_400_000);
        let record = visit.record(visit_id.to_owned()).validate(today)?;
        let reason = text::required("reason", reason, text::MEDIUM)?;
        // Photos and policies the visit had may be another device's; a new one must be this one's.
        let had =
            inner.enterprise(enterprise_id)?.visits.iter().find(|v| v.record.id == visit_id).map(|v| v.record.clone());
        let (had_photos, had_policies) = had.map(|r| (r.photos, r.policy_ids)).unwrap_or_default();
        photos::check_held(&inner.conn, &record.photos, &had_photos)?;
        check_policies_held(&inner.conn, &record.policy_ids, &had_policies)?;
        inner.act_on_enterprise(enterprise_id, EnterpriseAction::VisitCorrected { visit: record, reason }).map(drop)
    }

    // ---- problems ----

    /// Reports a problem of an enterprise (cadre, enterprise contact or campaign office). Returns its id.
    pub fn report_problem(&self, p: NewProblem) -> Result<String> {
        if !p.category.is_known() {
            // Only a newer version may write a category this one does not know.
            return Err(Error::invalid("category", Invalid::Format { expected: "a known category" }));
        }
        let action = ProblemAction::Reported {
            enterprise_id: p.enterprise_id.clone(),
            category: p.category,
            title: p.title,
            description: p.description,
            visit_id: p.visit_id.clone(),
            photos: p.photos,
        }
        .validate()?;
        let mut inner = self.lock();
        photos::check_held(&inner.conn, action.photos(), &[])?;
        let (name, region_id) = {
            let ent = inner.enterprise(&p.enterprise_id)?;
            if let Some(v) = &p.visit_id
                && !ent.visits.iter().any(|x| &x.record.id == v)
            {
                return Err(Error::not_found(Entity::Visit, v.clone()));
            }
            (ent.profile.name.clone(), ent.profile.region_id.clone())
        };
        let path = inner.region_path(&region_id)?;
        let actor = inner.actor()?;
        let ent = inner
            .held_enterprise(&p.enterprise_id)
            .ok_or_else(|| Error::not_found(Entity::Enterprise, &p.enterprise_id))?;
        let facts = EnterpriseFacts { id: &p.enterprise_id, region_path: &path, state: ent };
        let dir = SqlDirectory::new(&inner.conn);
        dir.check(rules::authorize_problem(&actor, &action, &ProblemState::default(), &facts, &dir))?;
        let id = new_id();
        let header = [
            ("enterprise_id", p.enterprise_id.as_str()),
            ("enterprise_name", name.as_str()),
            ("region_id", region_id.as_str()),
        ];
        inner.create::<ProblemState>(&id, &header, action)?;
        Ok(id)
    }

    /// Takes any action on an existing problem; the named methods below are shorthands (a progress
    /// note or a resolution with photos is taken here). Photos must have been attached on this device.
    pub fn act_on_problem(&self, problem_id: &str, action: ProblemAction) -> Result<()> {
        let action = action.validate()?;
        if matches!(action, ProblemAction::Reported { .. } | ProblemAction::Unknown) {
            return Err(DomainError::InvalidTransition { action: action.verb(), status: "reported" }.into());
        }
        let mut inner = self.lock();
        photos::check_held(&inner.conn, action.photos(), &[])?;
        inner.act_on_problem(problem_id, action)
    }

    pub fn accept_problem(&self, problem_id: &str, note: &str) -> Result<()> {
        self.act_on_problem(problem_id, ProblemAction::Accepted { note: note.into() })
    }

    /// Routes (交办) a problem to a department at a handling level with a deadline (ms since epoch).
    pub fn route_problem(
        &self,
        problem_id: &str,
        department_id: &str,
        level: u8,
        deadline: i64,
        note: &str,
    ) -> Result<()> {
        let action = ProblemAction::Routed { department_id: department_id.into(), level, deadline, note: note.into() };
        self.act_on_problem(problem_id, action)
    }

    pub fn add_progress(&self, problem_id: &str, note: &str) -> Result<()> {
        self.act_on_problem(problem_id, ProblemAction::Progress { note: note.into(), photos: vec![] })
    }

    pub fn escalate_problem(
        &self,
        problem_id: &str,
        level: u8,
        reason: &str,
        department_id: Option<&str>,
        deadline: Option<i64>,
    ) -> Result<()> {
        let action = ProblemAction::Escalated {
            level,
            reason: reason.into(),
            department_id: department_id.map(str::to_owned),
            deadline,
        };
        self.act_on_problem(problem_id, action)
    }

    pub fn urge_problem(&self, problem_id: &str, note: &str) -> Result<()> {
        self.act_on_problem(problem_id, ProblemAction::Urged { note: note.into() })
    }

    pub fn resolve_problem(&self, problem_id: &str, resolution: &str) -> Result<()> {
        self.act_on_problem(problem_id, ProblemAction::Resolved { resolution: resolution.into(), photos: vec![] })
    }

    /// The enterprise confirms the resolution and rates its satisfaction, 1 to 5.
    pub fn confirm_resolution(&self, problem_id: &str, rating: u8, comment: &str) -> Result<()> {
        self.act_on_problem(problem_id, ProblemAction::Confirmed { rating, comment: comment.into() })
    }

    /// The enterprise rejects the resolution; the problem goes back to its department.
    pub fn reject_resolution(&self, problem_id: &str, reason: &str) -> Result<()> {
        self.act_on_problem(problem_id, ProblemAction::Rejected { reason: reason.into() })
    }

    pub fn close_problem(&self, problem_id: &str, note: &str) -> Result<()> {
        self.act_on_problem(problem_id, ProblemAction::Closed { note: note.into() })
    }

    /// The campaign office records the enterprise's answer to a resolution, given on a call-back (回访,
    /// 代确认): whom it spoke to, whether the enterprise accepts it (with its rating) or not (with why).
    pub fn record_call_back(
        &self,
        problem_id: &str,
        contact: &str,
        accepted: bool,
        rating: Option<u8>,
        note: &str,
    ) -> Result<()> {
        let action = ProblemAction::CalledBack { contact: contact.into(), accepted, rating, note: note.into() };
        self.act_on_problem(problem_id, action)
    }

    /// The campaign office closes a resolved problem the enterprise has not answered within the
    /// window its settings give (超时未确认; [`Store::office_settings`]).
    pub fn close_unanswered(&self, problem_id: &str, note: &str) -> Result<()> {
        self.act_on_problem(problem_id, ProblemAction::ClosedUnanswered { note: note.into(), answer_days: None })
    }

    /// Records a follow-up review (回头看) of a closed problem; not solved after all, it reopens.
    pub fn follow_up(&self, problem_id: &str, note: &str, still_solved: bool) -> Result<()> {
        self.act_on_problem(problem_id, ProblemAction::FollowedUp { note: note.into(), still_solved })
    }

    /// The reporter withdraws a problem the office has not accepted yet (撤回).
    pub fn withdraw_problem(&self, problem_id: &str, reason: &str) -> Result<()> {
        self.act_on_problem(problem_id, ProblemAction::Withdrawn { reason: reason.into() })
    }

    /// The campaign office merges a duplicate problem into another of the same enterprise (合并);
    /// the other carries on.
    pub fn merge_problem(&self, problem_id: &str, into: &str, reason: &str) -> Result<()> {
        let target = self.problem(into)?;
        let duplicate = self.problem(problem_id)?;
        if into == problem_id || target.state.enterprise_id != duplicate.state.enterprise_id {
            return Err(DomainError::invalid(
                "into",
                Invalid::Format { expected: "another problem of the same enterprise" },
            )
            .into());
        }
        if target.state.status.is_void() {
            return Err(
                DomainError::InvalidTransition { action: "merge into", status: target.state.status.as_str() }.into()
            );
        }
        self.act_on_problem(problem_id, ProblemAction::Merged { into: into.into(), reason: reason.into() })
    }

    // ---- task notices ----

    /// Issues a task notice (campaign office). Returns its id.
    pub fn issue_task_notice(&self, n: NewTaskNotice) -> Result<String> {
        let mut inner = self.lock();
        let action = TaskNoticeAction::Issued {
            region_id: n.region_id.clone(),
            title: n.title,
            body: n.body,
            deadline: n.deadline,
            recipients: n.recipients,
        }
        .validate(inner.now())?;
        let actor = inner.actor()?;
        let dir = SqlDirectory::new(&inner.conn);
        dir.check(rules::authorize_task_notice(&actor, &action, &TaskNoticeState::default(), &dir))?;
        let id = new_id();
        inner.create::<TaskNoticeState>(&id, &[("region_id", n.region_id.as_str())], action)?;
        Ok(id)
    }

    // ---- policies ----

    /// Issues a policy for the enterprises of `region_id` (the campaign office's region, or one
    /// within it). Returns its id.
    pub fn issue_policy(&self, region_id: &str, policy: crate::domain::policy::PolicyText) -> Result<String> {
        let mut inner = self.lock();
        let action = PolicyAction::Issued { region_id: region_id.to_owned(), policy }.validate()?;
        let actor = inner.actor()?;
        let dir = SqlDirectory::new(&inner.conn);
        dir.check(rules::authorize_policy(&actor, &action, &PolicyState::default(), &dir))?;
        let id = new_id();
        inner.create::<PolicyState>(&id, &[("region_id", region_id)], action)?;
        Ok(id)
    }

    /// Replaces a policy's text with a revision (修订), saying why.
    pub fn revise_policy(
        &self,
        policy_id: &str,
        policy: crate::domain::policy::PolicyText,
        reason: &str,
    ) -> Result<()> {
        let action = PolicyAction::Revised { policy, reason: reason.to_owned() }.validate()?;
        self.lock().act_on_policy(policy_id, action)
    }

    /// Withdraws a policy (废止): it is offered to nobody any more.
    pub fn withdraw_policy(&self, policy_id: &str, reason: &str) -> Result<()> {
        let action = PolicyAction::Withdrawn { reason: reason.to_owned() }.validate()?;
        self.lock().act_on_policy(policy_id, action)
    }

    pub fn acknowledge_task_notice(&self, notice_id: &str) -> Result<()> {
        self.lock().act_on_task_notice(notice_id, |recipient| TaskNoticeAction::Acknowledged { recipient })
    }

    pub fn complete_task_notice(&self, notice_id: &str, note: &str) -> Result<()> {
        let note = text::optional("note", note, text::MEDIUM)?;
        self.lock().act_on_task_notice(notice_id, |recipient| TaskNoticeAction::Completed { recipient, note })
    }

    // ---- sync plumbing ----

    /// Local changes not yet acknowledged by the relay, oldest first.
    pub fn pending_changes(&self) -> Result<Vec<PendingChange>> {
        storage::pending(&self.lock().conn)
    }

    /// Applies changes (or whole saved documents) of one document received from the relay: the
    /// document, its stored changes and its index rows are updated in one transaction.
    pub fn apply_remote(&self, doc_id: &str, kind: DocKind, chunks: &[Vec<u8>]) -> Result<Applied> {
        self.lock().apply_remote(doc_id, kind, chunks)
    }

    /// Applies the documents of a pulled page (id, kind, chunks) as [`Store::apply_remote`] does,
    /// in one transaction: one disk flush for the page instead of one per document. All or none:
    /// if one fails, nothing of the page is stored (and the page is pulled again).
    pub fn apply_remote_page(&self, docs: &[(&str, DocKind, &[Vec<u8>])]) -> Result<Vec<Applied>> {
        self.lock().apply_remote_page(docs)
    }

    /// Heads of a document's Automerge history, hex.
    pub fn document_heads(&self, doc_id: &str) -> Result<Vec<String>> {
        let mut inner = self.lock();
        let c = inner.load(doc_id)?.ok_or_else(|| Error::not_found(Entity::Document, doc_id))?;
        Ok(c.doc.automerge().get_heads().iter().map(|h| h.to_string()).collect())
    }

    /// The whole document, saved in Automerge's compact format.
    pub fn save_document(&self, doc_id: &str) -> Result<Vec<u8>> {
        let mut inner = self.lock();
        let c = inner.load(doc_id)?.ok_or_else(|| Error::not_found(Entity::Document, doc_id))?;
        Ok(c.doc.save())
    }

    /// Ids and kinds of every document in the store.
    pub fn document_ids(&self) -> Result<Vec<(String, DocKind)>> {
        let inner = self.lock();
        let mut stmt = inner.conn.prepare("SELECT id, kind FROM documents ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, kind) = row?;
            out.push((id, DocKind::parse(&kind).ok_or_else(|| Error::Corrupt(format!("kind {kind}")))?));
        }
        Ok(out)
    }

    /// Rewrites every document as one snapshot (the store also does this by itself as changes pile up).
    pub fn compact_all(&self) -> Result<()> {
        let ids = self.document_ids()?;
        let mut inner = self.lock();
        for (id, _) in ids {
            let tx = Transaction::new_unchecked(&inner.conn, TransactionBehavior::Immediate)?;
            let (_, doc) = storage::load_document(&tx, &id)?.ok_or_else(|| Error::Corrupt(id.clone()))?;
            storage::compact(&tx, &id, &doc)?;
            tx.commit()?;
            inner.cache.remove(&id);
        }
        Ok(())
    }

    /// Drops the parsed documents held in memory (they are re-read from disk when needed).
    pub fn clear_cache(&self) {
        self.lock().cache.clear();
    }
}

impl Inner {
    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    fn region_path(&self, region_id: &str) -> Result<String> {
        storage::region_path(&self.conn, region_id)?.ok_or_else(|| Error::not_found(Entity::Region, region_id))
    }

    /// The office settings in force at the region whose path is `region_path`.
    fn settings_at(&self, region_path: &str) -> Result<OfficeSettings> {
        let dir = SqlDirectory::new(&self.conn);
        dir.check(Ok(OfficeSettings::in_force(&dir, region_path)))
    }

    fn actor(&self) -> Result<Actor> {
        let id = &self.identity;
        let region_path = match &id.region_id {
            Some(r) => Some(self.region_path(r)?),
            None => None,
        };
        Ok(Actor {
            user_id: id.user_id.clone(),
            role: id.role,
            region_path,
            department_id: id.department_id.clone(),
            enterprise_id: id.enterprise_id.clone(),
        })
    }

    fn new_event<A>(&self, action: A, seen: Vec<String>) -> Event<A> {
        Event {
            id: new_id(),
            by: self.identity.user_id.clone(),
            role: self.identity.role,
            device: self.identity.device_id.clone(),
            at: self.now(),
            seen,
            origin: None,
            action,
        }
    }

    /// The cached document, loading and deriving it from disk if needed.
    fn load(&mut self, id: &str) -> Result<Option<&mut Cached>> {
        self.tick += 1;
        let tick = self.tick;
        if !self.cache.contains_key(id) {
            let Some((kind, mut doc)) = storage::load_document(&self.conn, id)? else { return Ok(None) };
            doc.set_actor(self.actor_id.clone());
            let (state, heads, conflicts) = derive(kind, &doc);
            if self.cache.len() >= CACHE_DOCS
                && let Some(oldest) = self.cache.iter().min_by_key(|(_, c)| c.used).map(|(k, _)| k.clone())
            {
                self.cache.remove(&oldest);
            }
            self.cache.insert(id.to_owned(), Cached { kind, doc, state, heads, conflicts, used: tick });
        }
        let c = self.cache.get_mut(id).expect("inserted above");
        c.used = tick;
        Ok(Some(c))
    }

    /// The state of a document of type `S`, loading it if needed.
    fn state<S: DocType>(&mut self, id: &str, what: Entity) -> Result<&S>
    where
        S::Action: Serialize + DeserializeOwned + Clone,
    {
        let c = self.load(id)?.ok_or_else(|| Error::not_found(what, id))?;
        S::of(&c.state).ok_or_else(|| Error::not_found(what, id))
    }

    /// A registered enterprise's state, loading it if needed.
    fn enterprise(&mut self, id: &str) -> Result<&EnterpriseState> {
        let s: &EnterpriseState = self.state(id, Entity::Enterprise)?;
        if !s.registered {
            return Err(Error::not_found(Entity::Enterprise, id));
        }
        Ok(s)
    }

    /// An enterprise's state if this device holds it (an already loaded one: see `act_on_problem`).
    fn held_enterprise(&self, id: &str) -> Option<&EnterpriseState> {
        self.cache.get(id).and_then(|c| EnterpriseState::of(&c.state)).filter(|s| s.registered)
    }

    /// Creates a document whose first event is `action` (already validated and authorised).
    fn create<S: DocType>(&mut self, id: &str, header: &[(&str, &str)], action: S::Action) -> Result<()>
    where
        S::Action: Serialize + DeserializeOwned + Clone,
    {
        let event = self.new_event(action, Vec::new());
        let mut state = S::default();
        state.apply(&event)?;
        let (doc, change) = Document::create(S::KIND, id, header, self.actor_id.clone(), &event)?;
        self.persist_local(id, S::KIND, &doc, &change, |conn| state.index(conn, id, &doc, 0, true))?;
        let heads = vec![event.id];
        self.tick += 1;
        self.cache.insert(
            id.to_owned(),
            Cached { kind: S::KIND, doc, state: state.wrap(), heads, conflicts: 0, used: self.tick },
        );
        Ok(())
    }

    /// Appends `action` to an existing document after `authorize` passed on its current state.
    fn append<S: DocType>(
        &mut self,
        id: &str,
        what: Entity,
        action: S::Action,
        authorize: impl FnOnce(&Self, &S) -> Result<()>,
    ) -> Result<()>
    where
        S::Action: Serialize + DeserializeOwned + Clone,
    {
        self.state::<S>(id, what)?;
        let c = self.cache.get(id).ok_or_else(|| Error::not_found(what, id))?;
        let state = S::of(&c.state).ok_or_else(|| Error::not_found(what, id))?;
        authorize(self, state)?;
        let event = self.new_event(action, c.heads.clone());
        state.check(&event)?;
        let result = self.write_event::<S>(id, &event);
        if result.is_err() {
            // The in-memory document and state may be ahead of what reached disk.
            self.cache.remove(id);
        }
        result
    }

    /// Applies a checked event to the cached document and state, then writes it.
    fn write_event<S: DocType>(&mut self, id: &str, event: &Event<S::Action>) -> Result<()>
    where
        S::Action: Serialize + DeserializeOwned + Clone,
    {
        let cached = self.cache.get_mut(id).ok_or_else(|| Error::Corrupt(format!("{id} left the cache")))?;
        let change = cached.doc.append(event)?;
        if let Some(state) = S::of_mut(&mut cached.state) {
            state.mutate(event);
        }
        cached.heads = vec![event.id.clone()];
        let cached = self.cache.get(id).expect("present above");
        let state = S::of(&cached.state).ok_or_else(|| Error::Corrupt(format!("{id} changed kind")))?;
        self.persist_local(id, S::KIND, &cached.doc, &change, |conn| {
            state.index(conn, id, &cached.doc, cached.conflicts, false)
        })
    }

    /// Writes a local change, its pending record and the index rows in one transaction.
    fn persist_local(
        &self,
        id: &str,
        kind: DocKind,
        doc: &Document,
        change: &automerge::Change,
        index: impl FnOnce(&Connection) -> Result<()>,
    ) -> Result<()> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        let bytes = change.raw_bytes();
        storage::store_changes(&tx, id, kind, doc, &[bytes])?;
        storage::add_pending(&tx, id, kind, change.hash().as_ref(), bytes)?;
        index(&tx)?;
        tx.commit()?;
        Ok(())
    }

    fn act_on_enterprise(&mut self, id: &str, action: EnterpriseAction) -> Result<()> {
        let region_id = self.enterprise(id)?.profile.region_id.clone();
        let path = self.region_path(&region_id)?;
        let actor = self.actor()?;
        self.append::<EnterpriseState>(id, Entity::Enterprise, action.clone(), |inner, state| {
            let facts = EnterpriseFacts { id, region_path: &path, state };
            let dir = SqlDirectory::new(&inner.conn);
            dir.check(rules::authorize_enterprise(&actor, &action, &facts, &dir))
        })
    }

    fn act_on_problem(&mut self, id: &str, action: ProblemAction) -> Result<()> {
        let (enterprise_id, region_id) = {
            let c = self.load(id)?.ok_or_else(|| Error::not_found(Entity::Problem, id))?;
            (c.doc.header("enterprise_id").unwrap_or_default(), c.doc.header("region_id").unwrap_or_default())
        };
        // Load the enterprise (a cadre's assignment decides), then the problem again so that it is the
        // most recently used entry and cannot have been evicted.
        match self.enterprise(&enterprise_id) {
            Ok(_) | Err(Error::Domain(DomainError::NotFound { .. })) => {}
            Err(e) => return Err(e),
        }
        // A region this device does not hold leaves the path empty (the rules then find no manager);
        // a failed read is an error.
        let path = storage::region_path(&self.conn, &region_id)?.unwrap_or_default();
        let actor = self.actor()?;
        // Closing as unanswered names the window in force at the problem's region.
        let action = match action {
            ProblemAction::ClosedUnanswered { note, answer_days: None } => {
                ProblemAction::ClosedUnanswered { note, answer_days: Some(self.settings_at(&path)?.answer_days) }
            }
            action => action,
        };
        let empty = EnterpriseState::default();
        self.append::<ProblemState>(id, Entity::Problem, action.clone(), |inner, state| {
            // A department handler does not hold the enterprise's document: its facts are then empty.
            let ent = inner.held_enterprise(&enterprise_id).unwrap_or(&empty);
            let facts = EnterpriseFacts { id: &enterprise_id, region_path: &path, state: ent };
            let dir = SqlDirectory::new(&inner.conn);
            dir.check(rules::authorize_problem(&actor, &action, state, &facts, &dir))
        })
    }

    fn act_on_policy(&mut self, id: &str, action: PolicyAction) -> Result<()> {
        let actor = self.actor()?;
        self.append::<PolicyState>(id, Entity::Policy, action.clone(), |inner, state| {
            let dir = SqlDirectory::new(&inner.conn);
            dir.check(rules::authorize_policy(&actor, &action, state, &dir))
        })
    }

    fn act_on_task_notice(&mut self, id: &str, make: impl FnOnce(Recipient) -> TaskNoticeAction) -> Result<()> {
        let actor = self.actor()?;
        let state: &TaskNoticeState = self.state(id, Entity::TaskNotice)?;
        let recipient = rules::recipient_for(&actor, state)
            .ok_or(DomainError::NotAllowed { action: "acknowledge", reason: crate::error::Denied::NotRecipient })?;
        let action = make(recipient);
        self.append::<TaskNoticeState>(id, Entity::TaskNotice, action.clone(), |inner, state| {
            let dir = SqlDirectory::new(&inner.conn);
            dir.check(rules::authorize_task_notice(&actor, &action, state, &dir))
        })
    }

    fn apply_remote(&mut self, id: &str, kind: DocKind, chunks: &[Vec<u8>]) -> Result<Applied> {
        let result = self.apply_remote_inner(id, kind, chunks, true);
        if result.is_err() {
            self.cache.remove(id);
        }
        result
    }

    fn apply_remote_page(&mut self, docs: &[(&str, DocKind, &[Vec<u8>])]) -> Result<Vec<Applied>> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let mut applied = Vec::with_capacity(docs.len());
        let mut result = Ok(());
        for (id, kind, chunks) in docs {
            match self.apply_remote_inner(id, *kind, chunks, false) {
                Ok(a) => applied.push(a),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if let Err(e) = result.and_then(|()| Ok(self.conn.execute_batch("COMMIT")?)) {
            // The page's documents in memory may hold what was just rolled back: read again later.
            let _ = self.conn.execute_batch("ROLLBACK");
            for (id, ..) in docs {
                self.cache.remove(*id);
            }
            return Err(e);
        }
        Ok(applied)
    }

    /// Applies a document's pulled chunks; in a transaction of its own, or in the caller's.
    fn apply_remote_inner(
        &mut self,
        id: &str,
        kind: DocKind,
        chunks: &[Vec<u8>],
        own_transaction: bool,
    ) -> Result<Applied> {
        let actor_id = self.actor_id.clone();
        let existing = self.load(id)?.is_some();
        let mut cached = match self.cache.remove(id) {
            Some(c) if c.kind == kind => c,
            Some(c) => return Err(Error::Corrupt(format!("{id} is a {}, not a {}", c.kind.as_str(), kind.as_str()))),
            None => {
                let doc = Document::from_automerge(automerge::Automerge::new().with_actor(actor_id));
                let (state, heads, conflicts) = derive(kind, &doc);
                Cached { kind, doc, state, heads, conflicts, used: self.tick }
            }
        };
        let before = cached.doc.automerge().get_heads();
        let mut stored: Vec<&[u8]> = Vec::new();
        for chunk in chunks {
            // Skip a change already held; keep anything else (changes and whole-document chunks).
            if let Ok(change) = automerge::Change::from_bytes(chunk.clone())
                && cached.doc.automerge().get_change_meta_by_hash(&change.hash()).is_some()
            {
                continue;
            }
            cached.doc.automerge_mut().load_incremental(chunk)?;
            stored.push(chunk);
        }
        let after = cached.doc.automerge().get_heads();
        let waiting_for_deps = !cached.doc.automerge().get_missing_deps(&[]).is_empty();
        if stored.is_empty() || (before == after && !waiting_for_deps) {
            if existing {
                self.cache.insert(id.to_owned(), cached);
            }
            return Ok(Applied { changed: false, waiting_for_deps });
        }
        if let Some(k) = cached.doc.kind()
            && k != kind
        {
            return Err(Error::Corrupt(format!("{id} says it is a {}", k.as_str())));
        }
        let (state, heads, conflicts) = derive(kind, &cached.doc);
        let tx = match own_transaction {
            true => Some(Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?),
            false => None,
        };
        storage::store_changes(&self.conn, id, kind, &cached.doc, &stored)?;
        index_state(&self.conn, id, &cached.doc, &state, conflicts)?;
        if let Some(tx) = tx {
            tx.commit()?;
        }
        cached.state = state;
        cached.heads = heads;
        cached.conflicts = conflicts;
        self.cache.insert(id.to_owned(), cached);
        Ok(Applied { changed: before != after, waiting_for_deps })
    }
}
