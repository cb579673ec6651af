//! What the sync client needs from the store: the cursor, the session token, acknowledging pushed
//! changes, quarantining refused ones and restoring the relay's copy, purging documents that left the
//! user's scope, and per-document sync status.

use super::Store;
use crate::domain::{Directory, DocKind};
use crate::error::{Error, Result};
use crate::storage;
use crate::sync::protocol::{RejectCode, Rejection};

/// Why changes of a purged document were kept in the quarantine.
const PURGED_UNSENT: &str = "the document left your scope before these changes were sent";
use automerge::ActorId;
use rusqlite::{Transaction, TransactionBehavior, params};
use serde::Serialize;

/// Where a document stands with the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DocSyncStatus {
    /// The relay holds every local change.
    Synced,
    /// Local changes wait to be pushed.
    Waiting,
    /// The relay refused local changes; they are in the quarantine.
    Rejected,
}

/// A local change the relay refused, kept for the user.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuarantinedChange {
    pub id: i64,
    pub doc_id: String,
    pub kind: DocKind,
    /// Hex hash of the Automerge change.
    pub hash: String,
    /// Reason code (see `RejectCode`) and English detail.
    pub code: String,
    pub message: String,
    /// The events the change carried, as JSON, so the user can see what was refused.
    pub events: Vec<String>,
    pub quarantined_at: i64,
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The event strings a change inserts (a change is decoded without its document).
fn events_in_change(bytes: &[u8]) -> Vec<String> {
    let Ok(change) = automerge::Change::from_bytes(bytes.to_vec()) else { return Vec::new() };
    change
        .decode()
        .operations
        .iter()
        .filter_map(|op| match &op.action {
            automerge::legacy::OpType::Put(automerge::ScalarValue::Str(s)) if op.insert => Some(s.to_string()),
            _ => None,
        })
        .collect()
}

impl Store {
    /// The cursor and directory version to send on the next sync.
    pub fn sync_cursor(&self) -> Result<(u64, u64)> {
        let inner = self.lock();
        let get =
            |k| -> Result<u64> { Ok(storage::meta_get(&inner.conn, k)?.and_then(|v| v.parse().ok()).unwrap_or(0)) };
        Ok((get("cursor")?, get("directory_version")?))
    }

    /// The bearer token of the signed-in session, if any.
    pub fn session_token(&self) -> Result<Option<String>> {
        storage::meta_get(&self.lock().conn, "token")
    }

    pub fn set_session_token(&self, token: &str) -> Result<()> {
        storage::meta_set(&self.lock().conn, "token", token)
    }

    /// This device's actor id as raw bytes (what the relay binds to the device).
    pub fn actor_bytes(&self) -> Vec<u8> {
        self.lock().actor_id.to_bytes().to_vec()
    }

    /// Forgets the pending records of changes the relay acknowledged.
    pub fn acknowledge(&self, hashes: &[Vec<u8>]) -> Result<usize> {
        let inner = self.lock();
        let tx = Transaction::new_unchecked(&inner.conn, TransactionBehavior::Immediate)?;
        let mut n = 0;
        {
            let mut del = tx.prepare_cached("DELETE FROM pending_changes WHERE hash = ?1")?;
            for h in hashes {
                n += del.execute([h])?;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// Moves a refused document's pending changes to the quarantine, replaces the document by the
    /// relay's copy (or removes it if the relay has none), and starts a fresh actor id so that no
    /// future change can collide with a refused one. One transaction.
    pub fn quarantine(&self, r: &Rejection) -> Result<usize> {
        let mut inner = self.lock();
        let now = inner.now();
        inner.cache.remove(&r.doc);
        let tx = Transaction::new_unchecked(&inner.conn, TransactionBehavior::Immediate)?;
        let moved = tx.execute(
            "INSERT INTO quarantine (doc_id, kind, hash, bytes, code, message, quarantined_at)
             SELECT doc_id, kind, hash, bytes, ?2, ?3, ?4 FROM pending_changes WHERE doc_id = ?1 ORDER BY seq",
            params![r.doc, serde_plain(&r.code), r.message, now],
        )?;
        tx.execute("DELETE FROM pending_changes WHERE doc_id = ?1", [&r.doc])?;
        remove_document(&tx, &r.doc)?;
        let new_actor = ActorId::random();
        storage::meta_set(&tx, "actor_id", &new_actor.to_hex_string())?;
        tx.commit()?;
        inner.actor_id = new_actor;
        inner.cache.clear();
        drop(inner);
        if let Some(doc) = &r.document {
            self.apply_remote(&r.doc, r.kind, std::slice::from_ref(doc))?;
        }
        Ok(moved)
    }

    /// Deletes documents the user may no longer hold, with their index rows. Changes made to them
    /// and not yet sent (an action taken while the sync was under way) are not lost: they move to the
    /// quarantine as `out_of_scope`, where the user sees and can export them, and a fresh actor id is
    /// started (as for a refused change). Returns how many changes were kept so.
    pub fn purge(&self, doc_ids: &[String]) -> Result<usize> {
        let mut inner = self.lock();
        let now = inner.now();
        let tx = Transaction::new_unchecked(&inner.conn, TransactionBehavior::Immediate)?;
        let mut kept = 0;
        for id in doc_ids {
            kept += tx.execute(
                "INSERT INTO quarantine (doc_id, kind, hash, bytes, code, message, quarantined_at)
                 SELECT doc_id, kind, hash, bytes, ?2, ?3, ?4 FROM pending_changes WHERE doc_id = ?1 ORDER BY seq",
                params![id, serde_plain(&RejectCode::OutOfScope), PURGED_UNSENT, now],
            )?;
            tx.execute("DELETE FROM pending_changes WHERE doc_id = ?1", [id])?;
            remove_document(&tx, id)?;
        }
        if !doc_ids.is_empty() {
            // Merged, so that the purged documents' words leave the index's pages too.
            crate::storage::search::optimize(&tx)?;
        }
        let new_actor = (kept > 0).then(ActorId::random);
        if let Some(a) = &new_actor {
            storage::meta_set(&tx, "actor_id", &a.to_hex_string())?;
        }
        tx.commit()?;
        if let Some(a) = new_actor {
            inner.actor_id = a;
            inner.cache.clear();
        }
        for id in doc_ids {
            inner.cache.remove(id);
        }
        Ok(kept)
    }

    /// Records the cursor (and directory) of a fully applied sync response.
    pub fn finish_sync(&self, cursor: u64, directory: Option<&Directory>, directory_version: u64) -> Result<()> {
        let inner = self.lock();
        let tx = Transaction::new_unchecked(&inner.conn, TransactionBehavior::Immediate)?;
        if let Some(d) = directory {
            storage::import_directory(&tx, d)?;
        }
        storage::meta_set(&tx, "cursor", &cursor.to_string())?;
        storage::meta_set(&tx, "directory_version", &directory_version.to_string())?;
        tx.commit()?;
        Ok(())
    }

    /// The sync status of every document that is not plainly synced.
    pub fn unsynced_documents(&self) -> Result<Vec<(String, DocSyncStatus)>> {
        let inner = self.lock();
        let mut stmt = inner.conn.prepare(
            "SELECT doc_id, 'rejected' FROM quarantine
             UNION SELECT doc_id, 'waiting' FROM pending_changes WHERE doc_id NOT IN (SELECT doc_id FROM quarantine)
             ORDER BY 1",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, s) = row?;
            out.push((id, if s == "rejected" { DocSyncStatus::Rejected } else { DocSyncStatus::Waiting }));
        }
        Ok(out)
    }

    /// The sync status of one document.
    pub fn sync_status(&self, doc_id: &str) -> Result<DocSyncStatus> {
        let inner = self.lock();
        let count = |sql: &str| -> Result<i64> { Ok(inner.conn.query_row(sql, [doc_id], |r| r.get(0))?) };
        Ok(if count("SELECT COUNT(*) FROM quarantine WHERE doc_id = ?1")? > 0 {
            DocSyncStatus::Rejected
        } else if count("SELECT COUNT(*) FROM pending_changes WHERE doc_id = ?1")? > 0 {
            DocSyncStatus::Waiting
        } else {
            DocSyncStatus::Synced
        })
    }

    /// The quarantine, oldest first.
    pub fn quarantined(&self) -> Result<Vec<QuarantinedChange>> {
        let inner = self.lock();
        let mut stmt = inner.conn.prepare(
            "SELECT id, doc_id, kind, hash, bytes, code, message, quarantined_at FROM quarantine ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get::<_, Vec<u8>>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, i64>(7)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, doc_id, kind, hash, bytes, code, message, at) = row?;
            out.push(QuarantinedChange {
                id,
                kind: DocKind::parse(&kind).ok_or_else(|| Error::Corrupt(format!("kind {kind}")))?,
                doc_id,
                hash: hex(&hash),
                code,
                message,
                events: events_in_change(&bytes),
                quarantined_at: at,
                bytes,
            });
        }
        Ok(out)
    }

    /// The quarantine as a JSON document the user can save or send (change bytes in hex).
    pub fn export_quarantine(&self) -> Result<String> {
        let items: Vec<serde_json::Value> = self
            .quarantined()?
            .into_iter()
            .map(|q| {
                serde_json::json!({
                    "doc_id": q.doc_id, "kind": q.kind, "hash": q.hash, "code": q.code, "message": q.message,
                    "events": q.events, "quarantined_at": q.quarantined_at, "change_hex": hex(&q.bytes),
                })
            })
            .collect();
        serde_json::to_string_pretty(&items).map_err(|e| Error::Corrupt(e.to_string()))
    }

    /// Removes one entry from the quarantine (the user has dealt with it).
    pub fn dismiss_quarantined(&self, id: i64) -> Result<()> {
        self.lock().conn.execute("DELETE FROM quarantine WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Deletes everything in the store file and every photo file (sign-out with wipe, revoked device). The store stays
    /// usable but empty; the caller normally deletes the file afterwards.
    pub fn wipe(&self) -> Result<()> {
        let mut inner = self.lock();
        inner.cache.clear();
        let tx = Transaction::new_unchecked(&inner.conn, TransactionBehavior::Immediate)?;
        for table in [
            "documents",
            "document_changes",
            "pending_changes",
            "quarantine",
            "regions",
            "departments",
            "users",
            "office_settings",
            "calendar_days",
            "blobs",
            "photo_cache",
            "enterprises",
            "assignments",
            "visits",
            "problems",
            "task_notices",
            "task_recipients",
            "policies",
            "enterprise_policies",
        ] {
            tx.execute(&format!("DELETE FROM {table}"), [])?;
        }
        crate::storage::search::clear(&tx)?;
        tx.execute("DELETE FROM meta WHERE key IN ('token', 'cursor', 'directory_version', 'photos_on_metered', 'photo_cache_budget')", [])?;
        tx.commit()?;
        inner.blobs.remove_all()
    }

    /// Erases the store for good (sign-out with wipe, a revoked device): its key file is destroyed
    /// first (crypto-shredding: what the flash keeps of an encrypted store can no longer be read),
    /// then every row and photo is deleted and the files are removed. The store must not be used
    /// afterwards; each step is tried even when an earlier one failed, and the first failure is told.
    pub fn erase(&self) -> Result<()> {
        let path = self.lock().conn.path().map(std::path::PathBuf::from);
        let Some(path) = path else { return self.wipe() };
        let encrypted = crate::storage::crypto::is_encrypted(&path);
        let shredded = crate::storage::crypto::shred_key(&path);
        // Once its key is gone an encrypted store is unreadable: deleting row by row would only
        // prolong the time an interrupted erase can leave files behind (removed at the next open).
        let wiped = if encrypted && shredded.is_ok() { Ok(()) } else { self.wipe() };
        crate::storage::crypto::remove_store_files(&path);
        shredded.and(wiped)
    }
}

fn serde_plain<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// Deletes a document, its changes and its index rows.
fn remove_document(tx: &rusqlite::Connection, id: &str) -> Result<()> {
    tx.execute("DELETE FROM document_changes WHERE doc_id = ?1", [id])?;
    tx.execute("DELETE FROM documents WHERE id = ?1", [id])?;
    for sql in [
        "DELETE FROM enterprises WHERE id = ?1",
        "DELETE FROM assignments WHERE enterprise_id = ?1",
        "DELETE FROM visits WHERE enterprise_id = ?1",
        "DELETE FROM enterprise_policies WHERE enterprise_id = ?1",
        "DELETE FROM problems WHERE id = ?1",
        "DELETE FROM task_notices WHERE id = ?1",
        "DELETE FROM task_recipients WHERE notice_id = ?1",
        "DELETE FROM policies WHERE id = ?1",
    ] {
        tx.execute(sql, [id])?;
    }
    crate::storage::search::remove(tx, id)
}
