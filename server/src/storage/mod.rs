//! The relay's storage, behind one trait so that the embedded SQLite store and the PostgreSQL store are
//! interchangeable (`conformance` tests both the same way). Its logic is written once (`store`, over
//! the seam of `db`, with the tables of `schema` and the writes planned by `plan`); `sqlite` and
//! `postgres` only reach their database. Calls are blocking: the relay makes them from
//! `spawn_blocking`, next to the CPU-bound Automerge work of the same request.
//!
//! What is stored:
//! - accounts: users with password hashes, devices with hashed tokens, actor ids bound to devices,
//!   one-time activation codes, failed sign-ins;
//! - the directory (regions, departments, users) with a version number;
//! - every accepted Automerge change with who sent it, from which device and when (the audit trail),
//!   numbered by one global sequence that is also the devices' sync cursor;
//! - per document: kind, a current snapshot, and its scope keys (see `scope`);
//! - relational projections of the documents for the dashboard.

pub mod db;
pub mod figures;
pub mod plan;
pub mod projection;
pub mod schema;
pub mod scope;
mod store;

pub mod postgres;
pub mod sqlite;

use zhuqi_core::domain::{Directory, DocKind, User};

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("database pool: {0}")]
    Pool(String),
    /// A write was computed from a copy of a document that another relay has since changed; nothing
    /// was written, and the writer should reload the document and try again.
    #[error("document {0} was changed by another relay")]
    Stale(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Conflict(String),
}

/// A user with their sign-in name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub user: User,
    pub login: String,
    /// Argon2id PHC string; `None` for users who sign in with activation codes only.
    pub password_hash: Option<String>,
}

/// A signed-in device, found from its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub device_id: String,
    pub user: User,
    pub revoked: bool,
    pub expires_at: i64,
}

/// Failed sign-ins kept at most (about 6 MB): a flood from many addresses forgets its oldest.
pub const MAX_FAILURE_ROWS: i64 = 100_000;
/// Failed sign-ins are remembered an hour: the throttles count within it.
pub const FAILURE_MEMORY_MS: i64 = 3_600_000;
/// A login's successful sign-in from an address is remembered 90 days.
pub const KNOWN_SIGN_IN_MS: i64 = 90 * 86_400_000;

/// Used and expired activation codes are kept about this long (as a record of who was activated
/// when), then forgotten when a new code is issued.
pub const CODE_KEPT_MS: i64 = 30 * 86_400_000;

/// A dashboard session as stored: the SHA-256 of its cookie, its user and its lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    pub id_hash: Vec<u8>,
    pub user_id: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A one-time web sign-in link of an enterprise contact, as stored: the SHA-256 of its code (see
/// `portal::links`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebLink {
    pub code_hash: Vec<u8>,
    /// The contact it signs in as, and that contact's enterprise.
    pub user_id: String,
    pub enterprise_id: String,
    /// Who issued it (a cadre or a campaign office), and when.
    pub issued_by: String,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// What a web sign-in creates besides the session: its secret's hash, the `web:` device naming the
/// browser (with a token nobody is given) and the session's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSignIn {
    pub id_hash: Vec<u8>,
    pub device_id: String,
    pub device_name: String,
    pub device_token_hash: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// An enterprise contact's web session: bound to the contact, their enterprise and the device
/// standing for the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnterpriseSession {
    pub id_hash: Vec<u8>,
    pub user_id: String,
    pub enterprise_id: String,
    pub device_id: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Whether an enterprise was ever reached: the devices its contacts signed in on (apps, then
/// browsers through web links; never the relay's own devices acting for them), and any link still
/// waiting to be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    pub enterprise_id: String,
    pub enterprise_name: String,
    /// Apps activated or signed in by any of its contacts (revoked ones included: they were reached).
    pub app_devices: u32,
    /// Web sign-ins by any of its contacts.
    pub web_sign_ins: u32,
    /// The latest of those sign-ins, of either kind.
    pub last_sign_in_at: Option<i64>,
    /// When the latest unused, unexpired web link of its contacts expires.
    pub link_expires_at: Option<i64>,
}

impl Reach {
    /// Never reached: no app and no web sign-in by any contact.
    pub fn never_reached(&self) -> bool {
        self.app_devices == 0 && self.web_sign_ins == 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDevice {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub token_hash: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A document as stored: a snapshot (saved at `snapshot_seq`) and the sequence number of its latest
/// change. Changes after `snapshot_seq` are in the change log (`changes_after`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDoc {
    pub kind: DocKind,
    pub snapshot: Vec<u8>,
    pub snapshot_seq: u64,
    pub last_seq: u64,
}

/// A stored change: its sequence number and bytes.
pub type StoredChange = (u64, Vec<u8>);

/// One accepted change, with its audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedChange {
    pub hash: Vec<u8>,
    pub bytes: Vec<u8>,
    /// The events the change appended: their ids, and the time to record as their receipt when it
    /// is not the commit's (events the relay itself records as history: see `sync::author`).
    pub events: Vec<(String, Option<i64>)>,
}

/// Everything to write for one document of a push.
#[derive(Debug, Clone, PartialEq)]
pub struct DocWrite {
    pub doc_id: String,
    pub kind: DocKind,
    pub changes: Vec<AcceptedChange>,
    /// A fresh snapshot to store; required for a new document, otherwise written every so often.
    pub snapshot: Option<Vec<u8>>,
    /// The document's scope keys after the push.
    pub keys: Vec<String>,
    pub projection: crate::storage::projection::Projection,
    /// The sequence number of the latest stored change the writer's copy holds (0 for a new document).
    /// The snapshot, keys and projection were computed from that copy plus `changes`, so the commit is
    /// refused as [`StorageError::Stale`] if another writer stored a change of the document after it.
    pub base_seq: u64,
}

/// A push to store in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    pub user_id: String,
    pub device_id: String,
    pub received_at: i64,
    pub docs: Vec<DocWrite>,
}

impl Commit {
    /// The scope keys a commit touched, as announced to live listeners: the documents' keys, and the
    /// own key of every cadre whose assignments it may have changed (their scope grows or shrinks).
    pub fn notice_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for d in &self.docs {
            keys.extend(d.keys.iter().cloned());
            if let crate::storage::projection::Projection::Enterprise(s) = &d.projection {
                keys.extend(s.assignments.iter().map(|a| format!("user:{}", a.cadre_id)));
            }
        }
        keys.sort();
        keys.dedup();
        keys
    }
}

/// Another relay's commit, as a store that several relays share reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignCommit {
    /// The sequence number of its last change.
    pub seq: u64,
    /// The scope keys it touched; [`ALL_KEYS`] alone stands for "anything may have changed" (after
    /// a lost connection, or a commit too large to describe).
    pub keys: Vec<String>,
    /// The documents it wrote (none when `keys` is [`ALL_KEYS`]).
    pub docs: Vec<String>,
}

impl ForeignCommit {
    /// Whether anything may have changed.
    pub fn is_everything(&self) -> bool {
        self.keys.iter().any(|k| k == ALL_KEYS)
    }
}

/// Where a store that several relays share reports the commits of the others.
pub type ChangeSink = std::sync::Arc<dyn Fn(ForeignCommit) + Send + Sync>;

/// The key of a notice that concerns every listener.
pub const ALL_KEYS: &str = "*";

/// A problem as the dashboard lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProblemRow {
    pub id: String,
    pub enterprise_id: String,
    pub enterprise_name: String,
    pub region_id: String,
    pub category: String,
    pub title: String,
    pub description: String,
    pub status: String,
    pub level: u8,
    pub department_id: Option<String>,
    pub deadline: Option<i64>,
    pub reported_at: i64,
    pub resolved_at: Option<i64>,
    pub rating: Option<u8>,
    pub urge_count: u32,
    pub conflict_count: u32,
}

/// What a sync reads before it pushes and pulls.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncContext {
    /// The user's scope keys (see `scope::user_keys`).
    pub keys: Vec<String>,
    pub directory_version: u64,
    /// The actor ids bound to the device.
    pub actors: Vec<Vec<u8>>,
}

/// What a pull returns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pull {
    pub docs: Vec<zhuqi_core::sync::protocol::PulledDoc>,
    pub purge: Vec<String>,
    pub cursor: u64,
    pub more: bool,
}

/// The steps of a pull that need no database, the same for every store.
///
/// A page's cursor promises that the device holds everything in its scope up to it, so a document
/// is placed in the page order at the first sequence number after the request's cursor from which
/// the device needs it (`from`): for a document going whole, the earliest gain of a key it is read
/// with; for the others, their first change after the cursor. A page takes every document up to the
/// cut, each with its data up to the cut (a saved document whole), so a document left for a later page
/// has neither gained a key nor changed at or before the cut: the next pull, from the cut, still sends
/// it whole, or sends all of its changes; and a document taken gets its later changes from the pull
/// whose page reaches them.
pub(crate) mod pull_plan {
    use std::cmp::Reverse;
    use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
    use zhuqi_core::sync::protocol::PulledDoc;

    /// What a pull sends of a document: whether it goes whole, and from which sequence number the
    /// device needs it (its place in the page order).
    pub type Wanted = (bool, u64);

    /// Sorts a user's key events since the cursor (oldest first, with their sequence numbers) into the
    /// keys they gained and hold now, each with its earliest gain, and those they lost and do not hold
    /// now (a cadre's assignments).
    pub fn gained_and_lost(events: Vec<(String, bool, u64)>, keys: &[String]) -> (Vec<(String, u64)>, Vec<String>) {
        let held: HashSet<&str> = keys.iter().map(String::as_str).collect();
        let (mut gained, mut lost): (Vec<(String, u64)>, Vec<String>) = (Vec::new(), Vec::new());
        for (k, added, seq) in events {
            if added && held.contains(k.as_str()) {
                if !gained.iter().any(|(g, _)| *g == k) {
                    gained.push((k, seq));
                }
            } else if !added && !held.contains(k.as_str()) {
                lost.push(k);
            }
        }
        (gained, lost)
    }

    /// The keys the user held at `top`, from the keys they hold now (read before the pull's snapshot)
    /// and their key events after the cursor in that snapshot (oldest first): a key with events is
    /// held as the last of them up to `top` says, or, when all came later, as before the first. Returns
    /// those keys and the events up to `top`.
    pub fn keys_at(
        keys: &[String],
        events: Vec<(String, bool, u64)>,
        top: u64,
    ) -> (Vec<String>, Vec<(String, bool, u64)>) {
        let mut at_top: HashMap<&str, bool> = HashMap::new();
        for (k, added, seq) in &events {
            if *seq <= top {
                at_top.insert(k, *added);
            } else {
                at_top.entry(k).or_insert(!*added);
            }
        }
        let mut held: Vec<String> = keys.iter().filter(|k| at_top.get(k.as_str()) != Some(&false)).cloned().collect();
        let mut more: Vec<String> = at_top
            .iter()
            .filter(|(k, held_)| **held_ && !keys.iter().any(|h| h == *k))
            .map(|(k, _)| k.to_string())
            .collect();
        more.sort();
        held.extend(more);
        let events = events.into_iter().filter(|(_, _, seq)| *seq <= top).collect();
        (held, events)
    }

    /// Notes that `doc` is read under a key of the user added to it at `added`, and changed after the
    /// cursor first at `first`: the document goes whole if any such key came after the cursor.
    pub fn changed(docs: &mut BTreeMap<String, Wanted>, doc: String, added: u64, first: u64, cursor: u64) {
        if added > cursor {
            gained(docs, doc, added);
        } else {
            let e = docs.entry(doc).or_insert((false, first));
            if !e.0 {
                e.1 = e.1.min(first);
            }
        }
    }

    /// Notes that `doc` entered the user's scope at `at` (after the cursor): it goes whole, needed from
    /// its earliest gain.
    pub fn gained(docs: &mut BTreeMap<String, Wanted>, doc: String, at: u64) {
        let e = docs.entry(doc).or_insert((true, at));
        *e = if e.0 { (true, e.1.min(at)) } else { (true, at) };
    }

    /// The documents to send, (id, whole, from), in the order pages are filled: by `from`, then id.
    pub fn page_order(docs: BTreeMap<String, Wanted>) -> Vec<(String, bool, u64)> {
        let mut order: Vec<(String, bool, u64)> = docs.into_iter().map(|(d, (w, f))| (d, w, f)).collect();
        // Stable sort of a map ordered by id: equal `from` keeps id order.
        order.sort_by_key(|(_, _, f)| *f);
        order
    }

    /// Of the documents that may have left the user's scope, those the user reads through no key
    /// now (`visible` holds the others): they leave `docs` and are purged, in id order.
    pub fn purge(
        docs: &mut BTreeMap<String, Wanted>,
        candidates: HashSet<String>,
        visible: &HashSet<String>,
    ) -> Vec<String> {
        let mut purge: Vec<String> = candidates.into_iter().filter(|d| !visible.contains(d)).collect();
        for d in &purge {
            docs.remove(d);
        }
        purge.sort();
        purge
    }

    /// Documents whose data a store fetches at once while filling pages.
    pub const CHUNK: usize = 64;

    /// Fills a pull's pages: documents in `page_order`, their data fetched a chunk at a time by the
    /// store; the page is cut once `budget` bytes are used, only between distinct `from` (documents
    /// that entered the scope together, under one assignment, go together), and its cursor is the
    /// last `from` it took. Of each document it carries the changes up to its cursor only: the others
    /// come with the document's place in a later page, and are counted in this one's budget only as
    /// far as the page reaches.
    pub struct Pages {
        order: Vec<(String, bool, u64)>,
        budget: usize,
        /// Bytes the page sends if it is cut after the last document taken.
        used: usize,
        /// Sizes of the changes taken that lie beyond the last document's place, by sequence number:
        /// they count once the page reaches them, and stay out if it is cut before.
        beyond: BinaryHeap<Reverse<(u64, usize)>>,
        next: usize,
        /// The documents taken, each with the sequence number of each of its chunks.
        out: Vec<(PulledDoc, Vec<u64>)>,
        cursor: u64,
        more: bool,
    }

    /// What a store fetched of a document: its kind and the data to send (none when the device
    /// already holds it all), each chunk with its sequence number — 0 for a saved document, which
    /// goes whatever the cut.
    pub type Fetched = std::collections::HashMap<String, (zhuqi_core::domain::DocKind, Vec<(u64, Vec<u8>)>)>;

    impl Pages {
        pub fn new(order: Vec<(String, bool, u64)>, budget: usize, top: u64) -> Pages {
            Pages {
                order,
                budget,
                used: 0,
                beyond: BinaryHeap::new(),
                next: 0,
                out: Vec::new(),
                cursor: top,
                more: false,
            }
        }

        /// The documents whose data the store fetches next, or `None` when the page is full or done.
        pub fn next_chunk(&self) -> Option<&[(String, bool, u64)]> {
            (!self.more && self.next < self.order.len())
                .then(|| &self.order[self.next..(self.next + CHUNK).min(self.order.len())])
        }

        /// Adds the fetched data of the chunk `next_chunk` gave, in order, until the page is full.
        pub fn add(&mut self, mut fetched: Fetched) -> super::Result<()> {
            let end = (self.next + CHUNK).min(self.order.len());
            for j in self.next..end {
                let (doc, whole, from) = &self.order[j];
                if self.used >= self.budget && !self.out.is_empty() && self.order[j - 1].2 != *from {
                    self.cursor = self.order[j - 1].2;
                    self.more = true;
                    return Ok(());
                }
                let (kind, data) = fetched
                    .remove(doc)
                    .ok_or_else(|| super::StorageError::Corrupt(format!("document {doc} has keys but no row")))?;
                for (seq, bytes) in &data {
                    if seq <= from {
                        self.used += bytes.len();
                    } else {
                        self.beyond.push(Reverse((*seq, bytes.len())));
                    }
                }
                while let Some(&Reverse((seq, len))) = self.beyond.peek()
                    && seq <= *from
                {
                    self.used += len;
                    self.beyond.pop();
                }
                if !data.is_empty() {
                    let (seqs, data) = data.into_iter().unzip();
                    self.out.push((PulledDoc { doc: doc.clone(), kind, whole: *whole, data }, seqs));
                }
            }
            self.next = end;
            Ok(())
        }

        /// The page: each document's chunks up to the cursor (all of them when the pull is complete).
        pub fn finish(self, purge: Vec<String>) -> super::Pull {
            let cursor = self.cursor;
            let docs = self
                .out
                .into_iter()
                .filter_map(|(mut d, seqs)| {
                    d.data = d.data.into_iter().zip(seqs).filter(|(_, seq)| *seq <= cursor).map(|(b, _)| b).collect();
                    (!d.data.is_empty()).then_some(d)
                })
                .collect();
            super::Pull { docs, purge, cursor, more: self.more }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use zhuqi_core::domain::DocKind;

        #[test]
        fn a_document_is_placed_where_the_device_first_needs_it() {
            let cursor = 4;
            let mut docs = BTreeMap::new();
            // Routed to the user's department at 5 (after the cursor), and changed again later: whole
            // from 5.
            changed(&mut docs, "routed".into(), 5, 5, cursor);
            // Read since 1, changed first at 6 after the cursor (and again later): its changes from 6.
            changed(&mut docs, "held".into(), 1, 6, cursor);
            // Under a key the user gained at 7, lost and gained again at 9: whole from 7, however it
            // is also read.
            let events = vec![("ent:e".to_string(), true, 7), ("ent:e".into(), false, 8), ("ent:e".into(), true, 9)];
            let (gained_keys, lost) = gained_and_lost(events, &["ent:e".into()]);
            assert_eq!((gained_keys, lost), (vec![("ent:e".to_string(), 7)], vec![]));
            changed(&mut docs, "assigned".into(), 1, 8, cursor);
            gained(&mut docs, "assigned".into(), 7);
            let order = page_order(docs);
            let expected = [("routed", true, 5), ("held", false, 6), ("assigned", true, 7)];
            assert_eq!(order, expected.map(|(d, w, f)| (d.to_string(), w, f)));
        }

        #[test]
        fn keys_are_read_as_they_were_at_the_top() {
            let keys: Vec<String> = ["region:1", "ent:a", "ent:b"].map(String::from).into();
            let events = [("ent:a", true, 5), ("ent:c", true, 6), ("ent:d", false, 7), ("ent:b", true, 12)];
            let events = events.map(|(k, a, s)| (k.to_string(), a, s)).into();
            let (held, events) = keys_at(&keys, events, 10);
            // b was gained after the top; c at 6, after the keys were read; d was lost at 7 and was
            // held before (the keys were read before): held at the top are a and c.
            assert_eq!(held, ["region:1", "ent:a", "ent:c"]);
            assert_eq!(events.len(), 3);
            // A key lost after the top was still held at it.
            let (held, _) = keys_at(&keys[..1], vec![("ent:e".into(), false, 11)], 10);
            assert_eq!(held, ["region:1", "ent:e"]);
        }

        #[test]
        fn a_page_is_cut_only_between_distinct_places_and_ends_at_the_last_taken() {
            let order: Vec<(String, bool, u64)> = [("a", true, 5), ("b", true, 7), ("c", true, 7), ("d", false, 9)]
                .map(|(d, w, f)| (d.into(), w, f))
                .into();
            let mut pages = Pages::new(order, 15, 20);
            let chunk: Vec<String> = pages.next_chunk().unwrap().iter().map(|(d, ..)| d.clone()).collect();
            pages.add(chunk.into_iter().map(|d| (d, (DocKind::Problem, vec![(0, vec![0; 10])]))).collect()).unwrap();
            assert!(pages.next_chunk().is_none());
            let pull = pages.finish(vec![]);
            // b fills the budget, c entered the scope with it, d waits: the cursor stops at 7.
            assert_eq!(pull.docs.iter().map(|d| d.doc.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
            assert_eq!((pull.cursor, pull.more), (7, true));
        }

        #[test]
        fn a_page_carries_changes_up_to_its_cursor_and_counts_only_those() {
            let order: Vec<(String, bool, u64)> = [("a", true, 2), ("b", false, 3), ("c", false, 6), ("d", false, 9)]
                .map(|(d, w, f)| (d.into(), w, f))
                .into();
            // a: its saved form and a change at 6; b: changes at 3 and 8; c: at 6; d: at 9. Ten bytes each.
            let chunks = |seqs: &[u64]| seqs.iter().map(|s| (*s, vec![*s as u8; 10])).collect::<Vec<_>>();
            let fetched = [("a", chunks(&[0, 6])), ("b", chunks(&[3, 8])), ("c", chunks(&[6])), ("d", chunks(&[9]))]
                .map(|(d, data)| (d.to_string(), (DocKind::Problem, data)))
                .into();
            let mut pages = Pages::new(order, 25, 9);
            pages.add(fetched).unwrap();
            let pull = pages.finish(vec![]);
            // b's change at 8 does not count, so c still fits; d is cut off, and the cursor is 6.
            assert_eq!((pull.cursor, pull.more), (6, true));
            let sent: Vec<(&str, Vec<u8>)> =
                pull.docs.iter().map(|d| (d.doc.as_str(), d.data.iter().map(|c| c[0]).collect())).collect();
            assert_eq!(sent, [("a", vec![0, 6]), ("b", vec![3]), ("c", vec![6])]);
        }
    }
}

/// A photo an event names, with where and by whom (see `RelayStorage::photos_received`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoRow {
    pub sha256: String,
    pub enterprise_id: String,
    pub enterprise_name: String,
    /// The region of the document naming it (the enterprise's, or the problem's).
    pub region_id: String,
    /// The problem, when a problem's event names it (else a visit does).
    pub problem_id: Option<String>,
    pub event_id: String,
    pub author_id: String,
    /// When the relay received the event (none for one imported without a receipt).
    pub received_at: Option<i64>,
}

/// A policy as projected (see `schema::POLICY_REACH`).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRow {
    pub id: String,
    /// The issuing office's region.
    pub region_id: String,
    pub title: String,
    pub issuer: String,
    pub doc_number: String,
    pub valid_from: String,
    pub valid_until: String,
    pub criteria: zhuqi_core::domain::policy::Criteria,
    pub withdrawn_at: Option<i64>,
}

/// What an enterprise knows of a policy: (enterprise id, policy id, told on a visit, its mark).
pub type EnterprisePolicyRow = (String, String, bool, Option<String>);

/// The relay's storage. Implementations must make `commit` atomic and must hand out sequence numbers
/// such that every change with a sequence number ≤ a returned cursor is visible to later pulls, also
/// when several relays share the store.
pub trait RelayStorage: Send + Sync + 'static {
    /// Starts reporting other relays' commits to `sink`. A store only one relay uses has none to report.
    fn listen(&self, sink: ChangeSink);
    /// Called after loading many rows at once (an import, a generated province): refreshes what the
    /// database plans its queries with.
    fn after_bulk_load(&self) -> Result<()>;
    /// Writes the projection rows of every enterprise and policy again when an upgrade asked for it
    /// (new projection tables to fill; see `schema::POLICY_REACH`); returns how many documents.
    fn reproject(&self) -> Result<u64>;

    // ---- directory and accounts ----
    fn directory(&self) -> Result<(Directory, u64)>;
    fn directory_version(&self) -> Result<u64>;
    /// Adds or updates regions, departments and users (with their logins and password hashes).
    fn upsert_directory(&self, directory: &Directory, accounts: &[Account]) -> Result<u64>;
    fn account_by_login(&self, login: &str) -> Result<Option<Account>>;
    fn set_password(&self, user_id: &str, password_hash: &str) -> Result<bool>;
    /// Records a failed sign-in (or activation) under each of `keys` (fixed-length hashes, see
    /// `auth::throttle::key`), forgetting failures older than `FAILURE_MEMORY_MS` and, beyond
    /// `MAX_FAILURE_ROWS`, the oldest.
    fn record_failed_sign_in(&self, keys: &[String], at: i64) -> Result<()>;
    /// For each of `keys`, in order: its failures since `since`, and the time of the last (0 if none).
    fn sign_in_failures(&self, keys: &[String], since: i64) -> Result<Vec<(u32, i64)>>;
    fn forget_sign_in_failures(&self, key: &str) -> Result<()>;
    /// Remembers a successful sign-in under `key` (a login at an address), forgetting those older
    /// than `KNOWN_SIGN_IN_MS`.
    fn note_sign_in(&self, key: &str, at: i64) -> Result<()>;
    fn signed_in_before(&self, key: &str, since: i64) -> Result<bool>;
    /// Starts a dashboard session (a cookie, not a device token: it never opens `/v1/*`).
    fn create_web_session(&self, session: &WebSession) -> Result<()>;
    /// The user of a live web session — not expired, used within `idle_ms` — marking it used now.
    fn web_session(&self, id_hash: &[u8], now: i64, idle_ms: i64) -> Result<Option<String>>;
    fn end_web_session(&self, id_hash: &[u8]) -> Result<()>;
    fn create_device(&self, device: &NewDevice) -> Result<()>;
    fn session(&self, token_hash: &[u8]) -> Result<Option<Session>>;
    /// Revokes a device; returns whether it existed.
    fn revoke_device(&self, device_id: &str) -> Result<bool>;
    /// Devices of a user: (id, name, created_at, revoked).
    fn devices_of(&self, user_id: &str) -> Result<Vec<(String, String, i64, bool)>>;
    /// Binds an actor id to a device. Returns false if another device holds it.
    fn bind_actor(&self, device_id: &str, actor: &[u8]) -> Result<bool>;
    fn device_actors(&self, device_id: &str) -> Result<Vec<Vec<u8>>>;
    fn create_activation_code(&self, code_hash: &[u8], user_id: &str, issued_by: &str, expires_at: i64) -> Result<()>;
    /// Uses up a code; returns the user it signs in as, if it was valid and unused.
    fn consume_activation_code(&self, code_hash: &[u8], now: i64) -> Result<Option<String>>;
    fn connected_devices(&self, since: i64) -> Result<u64>;
    /// Records that these devices were seen at `at` (a last-seen time: need not survive a crash).
    fn touch_devices(&self, device_ids: &[String], at: i64) -> Result<()>;

    // ---- documents ----
    fn load_doc(&self, doc_id: &str) -> Result<Option<StoredDoc>>;
    /// Changes of a document with a sequence number above `after`, oldest first: (seq, bytes).
    fn changes_after(&self, doc_id: &str, after: u64) -> Result<Vec<(u64, Vec<u8>)>>;
    /// A document and the changes stored after its snapshot, read together.
    fn load_doc_with_changes(&self, doc_id: &str) -> Result<Option<(StoredDoc, Vec<StoredChange>)>>;
    /// Which of these change hashes are stored.
    fn known_hashes(&self, hashes: &[Vec<u8>]) -> Result<Vec<Vec<u8>>>;
    /// Stores several pushes in one transaction (all or none); returns, for each, the sequence
    /// number of its last write. Fails with [`StorageError::Stale`] when a document's `base_seq` is
    /// behind a change another writer stored (see [`DocWrite::base_seq`]).
    fn commit(&self, commits: &[&Commit]) -> Result<Vec<u64>>;
    /// The scope keys a user reads with (see `scope::user_keys`).
    fn user_keys(&self, user: &User) -> Result<Vec<String>>;
    /// What changed in `keys` since `cursor`, up to about `budget` bytes.
    fn pull(&self, user_id: &str, keys: &[String], cursor: u64, device_id: &str, budget: usize) -> Result<Pull>;
    /// Whether a document has any of the keys.
    fn doc_in_scope(&self, doc_id: &str, keys: &[String]) -> Result<bool>;
    /// Which of these documents have any of the keys.
    fn docs_in_scope(&self, doc_ids: &[&str], keys: &[String]) -> Result<Vec<String>>;
    /// The user's keys, the directory's version and the device's actors, read together.
    fn sync_context(&self, user: &User, device_id: &str) -> Result<SyncContext>;
    fn current_seq(&self) -> Result<u64>;
    /// The region of an enterprise, from the projection.
    fn enterprise_region(&self, enterprise_id: &str) -> Result<Option<String>>;
    /// The id of the enterprise with this unified social credit code.
    fn enterprise_by_uscc(&self, uscc: &str) -> Result<Option<String>>;
    fn document_count(&self) -> Result<u64>;
    /// One fact per problem, for the figures (`kpi`).
    fn problem_facts(&self) -> Result<Vec<ProblemFact>>;
    /// One fact per visit (with its enterprise's region), for the figures.
    fn visit_facts(&self) -> Result<Vec<VisitFact>>;
    /// Every problem's projected row, for lists.
    fn problem_rows(&self) -> Result<Vec<ProblemRow>>;
    /// When each event of a problem reached the relay: (event id, ms since the epoch).
    fn event_receipts(&self, problem_id: &str) -> Result<Vec<(String, i64)>>;
    /// When the relay first stored the events `event_ids` of the documents `doc_ids` (those it
    /// holds): (document, event, received_at).
    fn receipts(&self, doc_ids: &[String], event_ids: &[String]) -> Result<Vec<(String, String, i64)>>;
    /// Every assignment: (enterprise id, cadre id, chief).
    fn assignments(&self) -> Result<Vec<(String, String, bool)>>;
    /// Every enterprise: (id, name, region id).
    fn enterprise_rows(&self) -> Result<Vec<(String, String, String)>>;
    /// The documents that name a photo, each with the size it gives: (document id, size).
    fn photo_refs(&self, sha256: &str) -> Result<Vec<(String, u64)>>;
    /// The regions of the documents (enterprises and problems) that name a photo.
    fn photo_regions(&self, sha256: &str) -> Result<Vec<String>>;
    /// The photos named by events the relay received from `since` to before `before`, each once per
    /// document, oldest first, at most `limit`.
    fn photos_received(&self, since: i64, before: i64, limit: u32) -> Result<Vec<PhotoRow>>;
    /// What a photo held whole says of itself, once recorded ([`RelayStorage::record_photo`]).
    fn photo_taken(&self, sha256: &str) -> Result<Option<zhuqi_core::domain::photo::Taken>>;
    /// Records what a photo held whole says of itself (the first record stays).
    fn record_photo(&self, sha256: &str, taken: &zhuqi_core::domain::photo::Taken) -> Result<()>;
    /// Every task notice: (id, region id, title, issued by, issued at, deadline, status).
    fn task_notice_rows(&self) -> Result<Vec<(String, String, String, String, i64, i64, String)>>;
    /// A notice's recipients: (recipient key, acknowledged at, completed at).
    fn task_recipient_rows(&self, notice_id: &str) -> Result<Vec<(String, Option<i64>, Option<i64>)>>;
    /// Enterprise counts per region.
    fn enterprises_per_region(&self) -> Result<Vec<(String, u32)>>;
    /// Every policy, by issue.
    fn policy_rows(&self) -> Result<Vec<PolicyRow>>;
    /// The id and profile, as far as policies are matched on it (no contacts, address or location),
    /// of every enterprise of the given regions (of all, for `None`).
    fn enterprise_profiles(&self, regions: Option<&[String]>) -> Result<Vec<(String, zhuqi_core::domain::Profile)>>;
    /// What each enterprise of the given regions (of all, for `None`) knows of each policy it was
    /// told of or marked.
    fn enterprise_policy_rows(&self, regions: Option<&[String]>) -> Result<Vec<EnterprisePolicyRow>>;
    /// Runs `f` in a read-only snapshot: the queries of `figures` that make one page all see the
    /// same data.
    fn with_snapshot(&self, f: &mut dyn FnMut(&mut dyn db::Db) -> Result<()>) -> Result<()>;
    /// Publishes a period's counts per unit (JSON) once (see `figures::publish`).
    fn publish_figures(&self, period: &str, units: &[(String, String)], at: i64) -> Result<bool>;
    /// Sets the offline window visits are counted with (see `figures::set_offline_window`).
    fn set_offline_window(&self, window_ms: i64) -> Result<bool>;

    // ---- enterprise contacts on the web (`portal`) ----
    /// Stores a web link, voiding the contact's unused ones and forgetting links expired long ago.
    fn create_web_link(&self, link: &WebLink) -> Result<()>;
    /// Whether a link is unused and unexpired at `now` (a preview: nothing changes).
    fn web_link_live(&self, code_hash: &[u8], now: i64) -> Result<bool>;
    /// Uses up a live link and, in the same transaction, creates the sign-in's device and session;
    /// the session, or `None` when the link is unknown, used or expired (nothing is written then).
    fn sign_in_with_web_link(&self, code_hash: &[u8], now: i64, sign_in: &WebSignIn) -> Result<Option<EnterpriseSession>>;
    /// A live enterprise session — not expired, used within `idle_ms` — marked used now.
    fn enterprise_session(&self, id_hash: &[u8], now: i64, idle_ms: i64) -> Result<Option<EnterpriseSession>>;
    /// Ends an enterprise session and revokes its device.
    fn end_enterprise_session(&self, id_hash: &[u8], now: i64) -> Result<()>;
    /// The reach of each of these enterprises the relay holds, by name (links counted live at `now`).
    fn enterprise_reach(&self, enterprise_ids: &[String], now: i64) -> Result<Vec<Reach>>;
    /// The enterprises of the given regions (of all, for `None`) never reached, by region then id:
    /// at most `limit` of them as (id, name, region id), and how many there are.
    fn unreached_enterprises(&self, regions: Option<&[String]>, limit: u32) -> Result<(Vec<(String, String, String)>, u64)>;
    /// An enterprise's problems (but withdrawn and merged ones), newest first, at most `limit`.
    fn enterprise_problems(&self, enterprise_id: &str, limit: u32) -> Result<Vec<ProblemRow>>;
    /// The policies issued for any of these regions (an enterprise's region and those above it).
    fn policies_of_regions(&self, regions: &[String]) -> Result<Vec<PolicyRow>>;
}

/// What the figures need of one problem.
#[derive(Debug, Clone, PartialEq)]
pub struct ProblemFact {
    pub id: String,
    pub region_id: String,
    pub department_id: Option<String>,
    /// `reported`, `accepted`, `routed`, `resolved`, `confirmed` or `closed`.
    pub status: String,
    pub reported_at: i64,
    pub resolved_at: Option<i64>,
    pub deadline: Option<i64>,
    pub confirmed_at: Option<i64>,
    pub rating: Option<u8>,
    /// Who accepted the resolution: `enterprise`, `call_back` or `unanswered` (none before it was recorded).
    pub confirmation: Option<String>,
    pub closed_at: Option<i64>,
    /// The first deadline missed while the problem was being handled (on-time is judged against it).
    pub missed_deadline: Option<i64>,
    /// When the relay received the last resolution (none for those stored before receipts were kept).
    pub resolution_received_at: Option<i64>,
    /// The role of its reporter (`enterprise`, `cadre`…) and how often it was escalated.
    pub reporter_role: Option<String>,
    pub escalation_count: u32,
}

/// What the figures need of one visit.
#[derive(Debug, Clone, PartialEq)]
pub struct VisitFact {
    pub enterprise_id: String,
    pub region_id: String,
    pub cadre_id: String,
    /// Milliseconds since the epoch of the visit's day (00:00 China Standard Time).
    pub day: i64,
    /// When the relay first stored the visit (none for visits stored before receipts were kept).
    pub received_at: Option<i64>,
}
