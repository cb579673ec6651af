//! The device's SQLite schema and its migrations.
//!
//! `CREATE_SCHEMA` is the current schema, used for a new database. An existing database is upgraded
//! one version at a time by `upgrade_from`, each step in its own immediate transaction. To change the
//! schema: bump [`VERSION`], edit `CREATE_SCHEMA`, add the step to `upgrade_from`, and copy the old
//! `CREATE_SCHEMA` into `tests::PAST_SCHEMAS` so the migration test upgrades it and compares the result
//! with a fresh database, table by table.

use crate::error::{Error, Result};
use rusqlite::{Connection, TransactionBehavior};

pub const VERSION: i64 = 9;

pub const CREATE_SCHEMA: &str = r#"
-- Key/value facts about this store: the signed-in user, this device's Automerge actor.
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

-- Automerge documents: a compacted snapshot plus the changes stored since.
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    snapshot BLOB,
    change_count INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE document_changes (
    seq INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    bytes BLOB NOT NULL
);
CREATE INDEX document_changes_doc ON document_changes (doc_id, seq);

-- Local changes the relay has not acknowledged yet, in the order they were made.
CREATE TABLE pending_changes (
    seq INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    hash BLOB NOT NULL UNIQUE,
    bytes BLOB NOT NULL
);
CREATE INDEX pending_changes_doc ON pending_changes (doc_id);

-- The part of the directory this device needs.
CREATE TABLE regions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level TEXT NOT NULL,
    parent_id TEXT,
    path TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE departments (id TEXT PRIMARY KEY, name TEXT NOT NULL, region_id TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    region_id TEXT,
    department_id TEXT,
    enterprise_id TEXT,
    mobile TEXT,
    position TEXT,
    unit TEXT
) WITHOUT ROWID;

-- Index tables: derived from the documents, rewritten in the same transaction as each document write.
CREATE TABLE enterprises (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    uscc TEXT NOT NULL,
    region_id TEXT NOT NULL,
    industry TEXT NOT NULL,
    tags TEXT NOT NULL,
    address TEXT NOT NULL,
    visit_count INTEGER NOT NULL,
    last_visit_date TEXT,
    updated_at INTEGER NOT NULL,
    -- Its scale (version 9): employees, revenue in 万元, founding day.
    employees INTEGER,
    revenue INTEGER,
    founded TEXT
) WITHOUT ROWID;
CREATE TABLE assignments (
    cadre_id TEXT NOT NULL,
    enterprise_id TEXT NOT NULL,
    chief INTEGER NOT NULL,
    since INTEGER NOT NULL,
    PRIMARY KEY (cadre_id, enterprise_id)
) WITHOUT ROWID;
CREATE INDEX assignments_enterprise ON assignments (enterprise_id);
CREATE TABLE visits (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    cadre_id TEXT NOT NULL,
    date TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX visits_enterprise ON visits (enterprise_id, date);
CREATE TABLE problems (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    enterprise_name TEXT NOT NULL,
    region_id TEXT NOT NULL,
    category TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    level INTEGER NOT NULL,
    department_id TEXT,
    deadline INTEGER,
    reported_by TEXT NOT NULL,
    reported_at INTEGER NOT NULL,
    resolved_at INTEGER,
    rating INTEGER,
    urge_count INTEGER NOT NULL,
    follow_up_count INTEGER NOT NULL,
    conflict_count INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX problems_status_deadline ON problems (status, deadline);
CREATE INDEX problems_enterprise ON problems (enterprise_id);
CREATE INDEX problems_department ON problems (department_id, status);
CREATE TABLE task_notices (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    region_id TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    status TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE task_recipients (
    notice_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    acknowledged_at INTEGER,
    completed_at INTEGER,
    PRIMARY KEY (notice_id, recipient)
) WITHOUT ROWID;
CREATE INDEX task_recipients_recipient ON task_recipients (recipient);

-- Local changes the relay refused, kept for the user to see and export (version 2).
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    hash BLOB NOT NULL,
    bytes BLOB NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    quarantined_at INTEGER NOT NULL
);
CREATE INDEX quarantine_doc ON quarantine (doc_id);

-- The campaign offices' settings and the holiday calendar, from the directory (version 4).
CREATE TABLE office_settings (
    region_id TEXT PRIMARY KEY,
    answer_days INTEGER NOT NULL,
    working_days INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE calendar_days (date TEXT PRIMARY KEY, working INTEGER NOT NULL, name TEXT NOT NULL) WITHOUT ROWID;

-- Photos this device holds (files in the store's photo folder, named by SHA-256) and how far each
-- has reached the relay (version 5). `state`: attached (copied in, no event refers to it yet),
-- waiting, done, failed (`reason`); `uploaded`: bytes the relay holds (the size once done).
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    state TEXT NOT NULL,
    uploaded INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    added_at INTEGER NOT NULL
) WITHOUT ROWID;
-- Photos fetched from the relay to show them (version 6): originals and thumbnails of photos other
-- devices took, kept in the photo folder's `cache/` within a budget, the least recently shown
-- dropped first. Photos this device took are in `blobs`, never here, so never dropped before upload.
CREATE TABLE photo_cache (
    sha256 TEXT NOT NULL,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL,
    used_at INTEGER NOT NULL,
    PRIMARY KEY (sha256, kind)
) WITHOUT ROWID;
CREATE INDEX photo_cache_used ON photo_cache (used_at);
-- Search (version 7, see `storage::search`): one row per enterprise and problem, found by any three
-- characters of its title or body; `search_docs` gives each document's row.
CREATE VIRTUAL TABLE search_text USING fts5(kind UNINDEXED, doc_id UNINDEXED, title, body, tokenize = 'trigram');
CREATE TABLE search_docs (doc_id TEXT PRIMARY KEY, row INTEGER NOT NULL UNIQUE) WITHOUT ROWID;
-- Policies (version 8): one row per policy held, its criteria as JSON for the matching.
CREATE TABLE policies (
    id TEXT PRIMARY KEY,
    region_id TEXT NOT NULL,
    title TEXT NOT NULL,
    issuer TEXT NOT NULL,
    doc_number TEXT NOT NULL,
    summary TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_until TEXT NOT NULL,
    withdrawn INTEGER NOT NULL,
    criteria TEXT NOT NULL,
    excludes TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
-- What each enterprise held knows of each policy (version 9): told on a visit, and its latest mark.
CREATE TABLE enterprise_policies (
    policy_id TEXT NOT NULL,
    enterprise_id TEXT NOT NULL,
    told INTEGER NOT NULL,
    mark TEXT,
    PRIMARY KEY (policy_id, enterprise_id)
) WITHOUT ROWID;
CREATE INDEX enterprise_policies_enterprise ON enterprise_policies (enterprise_id);
"#;

/// Sets the connection up (WAL before any transaction) and brings the schema to [`VERSION`].
/// Opens the encrypted database at `path` with its SQLCipher key, and checks that the key opens it.
#[cfg(feature = "encryption")]
pub fn open_encrypted(path: &std::path::Path, keys: &super::crypto::StoreKeys) -> Result<Connection> {
    use rusqlite::OptionalExtension;
    let conn = Connection::open(path)?;
    conn.execute_batch(&keys.pragma())?;
    // The on-disk format pinned to SQLCipher 4's, whatever a later SQLCipher's defaults become.
    conn.execute_batch("PRAGMA cipher_compatibility = 4;")?;
    let cipher: Option<String> = conn.query_row("PRAGMA cipher_version", [], |r| r.get(0)).optional()?;
    if cipher.is_none() {
        return Err(Error::KeyRejected("this build's SQLite cannot encrypt".into()));
    }
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)) {
        Ok(_) => Ok(conn),
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::NotADatabase => {
            Err(Error::KeyRejected("the key does not open the database".into()))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(feature = "encryption"))]
pub fn open_encrypted(_: &std::path::Path, _: &super::crypto::StoreKeys) -> Result<Connection> {
    Err(Error::KeyRejected("this build has no encryption (feature `encryption`)".into()))
}

/// Encrypts the plain database at `path` in place: copied whole into an encrypted file beside it
/// (`sqlcipher_export`), which is flushed and renamed over it. Cut off midway, the plain file is
/// still there, and the next open starts again.
#[cfg(feature = "encryption")]
pub fn encrypt_plain_database(path: &std::path::Path, keys: &super::crypto::StoreKeys) -> Result<()> {
    let sealing = path.with_extension("db-sealing");
    let _ = std::fs::remove_file(&sealing);
    {
        let conn = Connection::open(path)?;
        // Folds the write-ahead log into the file and removes it.
        let mode: String = conn.pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("delete") {
            return Err(Error::File(format!("encrypting the store: journal mode stays {mode}")));
        }
        conn.execute_batch("PRAGMA cipher_default_compatibility = 4;")?;
        let raw = keys.raw_key();
        conn.execute("ATTACH DATABASE ?1 AS sealed KEY ?2", rusqlite::params![sealing.to_string_lossy(), &*raw])?;
        conn.query_row("SELECT sqlcipher_export('sealed')", [], |_| Ok(()))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        conn.pragma_update(Some("sealed"), "user_version", version)?;
        conn.execute("DETACH DATABASE sealed", [])?;
    }
    let io = |e: std::io::Error| Error::File(format!("encrypting the store: {e}"));
    std::fs::File::open(&sealing).and_then(|f| f.sync_all()).map_err(io)?;
    std::fs::rename(&sealing, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        crate::storage::crypto::sync_dir(dir);
    }
    Ok(())
}

#[cfg(not(feature = "encryption"))]
pub fn encrypt_plain_database(_: &std::path::Path, _: &super::crypto::StoreKeys) -> Result<()> {
    Err(Error::KeyRejected("this build has no encryption (feature `encryption`)".into()))
}

pub fn prepare(conn: &mut Connection) -> Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a committed action survives a power cut too, not only an app crash.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    migrate(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > VERSION {
        return Err(Error::SchemaTooNew { found: version, supported: VERSION });
    }
    if version == 0 {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(CREATE_SCHEMA)?;
        tx.pragma_update(None, "user_version", VERSION)?;
        tx.commit()?;
        return Ok(());
    }
    for from in version..VERSION {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        upgrade_from(&tx, from)?;
        tx.pragma_update(None, "user_version", from + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// One upgrade step, from version `from` to `from + 1`.
fn upgrade_from(tx: &rusqlite::Transaction<'_>, from: i64) -> Result<()> {
    match from {
        1 => tx.execute_batch(
            "CREATE TABLE quarantine (
                 id INTEGER PRIMARY KEY,
                 doc_id TEXT NOT NULL,
                 kind TEXT NOT NULL,
                 hash BLOB NOT NULL,
                 bytes BLOB NOT NULL,
                 code TEXT NOT NULL,
                 message TEXT NOT NULL,
                 quarantined_at INTEGER NOT NULL
             );
             CREATE INDEX quarantine_doc ON quarantine (doc_id);",
        )?,
        // 3: users' mobile number, position and work unit.
        2 => tx.execute_batch(
            "ALTER TABLE users ADD COLUMN mobile TEXT;
             ALTER TABLE users ADD COLUMN position TEXT;
             ALTER TABLE users ADD COLUMN unit TEXT;",
        )?,
        // 4: the campaign offices' settings and the holiday calendar.
        3 => tx.execute_batch(
            "CREATE TABLE office_settings (
                 region_id TEXT PRIMARY KEY,
                 answer_days INTEGER NOT NULL,
                 working_days INTEGER NOT NULL
             ) WITHOUT ROWID;
             CREATE TABLE calendar_days (date TEXT PRIMARY KEY, working INTEGER NOT NULL, name TEXT NOT NULL) WITHOUT ROWID;
             -- The directory already received came without them: the next sync asks for all of it.
             DELETE FROM meta WHERE key = 'directory_version';",
        )?,
        // 5: photos and their uploads.
        4 => tx.execute_batch(
            "CREATE TABLE blobs (
                 sha256 TEXT PRIMARY KEY,
                 size INTEGER NOT NULL,
                 content_type TEXT NOT NULL,
                 state TEXT NOT NULL,
                 uploaded INTEGER NOT NULL DEFAULT 0,
                 reason TEXT,
                 added_at INTEGER NOT NULL
             ) WITHOUT ROWID;",
        )?,
        // 6: photos fetched from the relay to show them.
        5 => tx.execute_batch(
            "CREATE TABLE photo_cache (
                 sha256 TEXT NOT NULL,
                 kind TEXT NOT NULL,
                 size INTEGER NOT NULL,
                 used_at INTEGER NOT NULL,
                 PRIMARY KEY (sha256, kind)
             ) WITHOUT ROWID;
             CREATE INDEX photo_cache_used ON photo_cache (used_at);",
        )?,
        // 7: search; the documents held are indexed for it when the store opens.
        6 => tx.execute_batch(
            "CREATE VIRTUAL TABLE search_text USING fts5(kind UNINDEXED, doc_id UNINDEXED, title, body, tokenize = 'trigram');
             CREATE TABLE search_docs (doc_id TEXT PRIMARY KEY, row INTEGER NOT NULL UNIQUE) WITHOUT ROWID;
             INSERT OR REPLACE INTO meta (key, value) VALUES ('reindex', 'search');",
        )?,
        // 8: policies (none was held before).
        7 => tx.execute_batch(
            "CREATE TABLE policies (
                 id TEXT PRIMARY KEY,
                 region_id TEXT NOT NULL,
                 title TEXT NOT NULL,
                 issuer TEXT NOT NULL,
                 doc_number TEXT NOT NULL,
                 summary TEXT NOT NULL,
                 valid_from TEXT NOT NULL,
                 valid_until TEXT NOT NULL,
                 withdrawn INTEGER NOT NULL,
                 criteria TEXT NOT NULL,
                 excludes TEXT NOT NULL,
                 updated_at INTEGER NOT NULL
             ) WITHOUT ROWID;",
        )?,
        // 9: enterprises' scale, and what each knows of each policy; both filled from the documents held.
        8 => tx.execute_batch(
            "ALTER TABLE enterprises ADD COLUMN employees INTEGER;
             ALTER TABLE enterprises ADD COLUMN revenue INTEGER;
             ALTER TABLE enterprises ADD COLUMN founded TEXT;
             CREATE TABLE enterprise_policies (
                 policy_id TEXT NOT NULL,
                 enterprise_id TEXT NOT NULL,
                 told INTEGER NOT NULL,
                 mark TEXT,
                 PRIMARY KEY (policy_id, enterprise_id)
             ) WITHOUT ROWID;
             CREATE INDEX enterprise_policies_enterprise ON enterprise_policies (enterprise_id);
             INSERT OR REPLACE INTO meta (key, value) VALUES ('reindex', 'enterprises');",
        )?,
        _ => return Err(Error::Corrupt(format!("no upgrade from schema version {from}"))),
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The `CREATE_SCHEMA` of every past version, oldest first.
    const PAST_SCHEMAS: &[(i64, &str)] = &[(1, V1), (2, V2), (3, V3), (4, V4), (5, V5), (6, V6), (7, V7), (8, V8)];

    const V8: &str = r#"
-- Key/value facts about this store: the signed-in user, this device's Automerge actor.
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

-- Automerge documents: a compacted snapshot plus the changes stored since.
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    snapshot BLOB,
    change_count INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE document_changes (
    seq INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    bytes BLOB NOT NULL
);
CREATE INDEX document_changes_doc ON document_changes (doc_id, seq);

-- Local changes the relay has not acknowledged yet, in the order they were made.
CREATE TABLE pending_changes (
    seq INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    hash BLOB NOT NULL UNIQUE,
    bytes BLOB NOT NULL
);
CREATE INDEX pending_changes_doc ON pending_changes (doc_id);

-- The part of the directory this device needs.
CREATE TABLE regions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level TEXT NOT NULL,
    parent_id TEXT,
    path TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE departments (id TEXT PRIMARY KEY, name TEXT NOT NULL, region_id TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    region_id TEXT,
    department_id TEXT,
    enterprise_id TEXT,
    mobile TEXT,
    position TEXT,
    unit TEXT
) WITHOUT ROWID;

-- Index tables: derived from the documents, rewritten in the same transaction as each document write.
CREATE TABLE enterprises (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    uscc TEXT NOT NULL,
    region_id TEXT NOT NULL,
    industry TEXT NOT NULL,
    tags TEXT NOT NULL,
    address TEXT NOT NULL,
    visit_count INTEGER NOT NULL,
    last_visit_date TEXT,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE assignments (
    cadre_id TEXT NOT NULL,
    enterprise_id TEXT NOT NULL,
    chief INTEGER NOT NULL,
    since INTEGER NOT NULL,
    PRIMARY KEY (cadre_id, enterprise_id)
) WITHOUT ROWID;
CREATE INDEX assignments_enterprise ON assignments (enterprise_id);
CREATE TABLE visits (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    cadre_id TEXT NOT NULL,
    date TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX visits_enterprise ON visits (enterprise_id, date);
CREATE TABLE problems (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    enterprise_name TEXT NOT NULL,
    region_id TEXT NOT NULL,
    category TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    level INTEGER NOT NULL,
    department_id TEXT,
    deadline INTEGER,
    reported_by TEXT NOT NULL,
    reported_at INTEGER NOT NULL,
    resolved_at INTEGER,
    rating INTEGER,
    urge_count INTEGER NOT NULL,
    follow_up_count INTEGER NOT NULL,
    conflict_count INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX problems_status_deadline ON problems (status, deadline);
CREATE INDEX problems_enterprise ON problems (enterprise_id);
CREATE INDEX problems_department ON problems (department_id, status);
CREATE TABLE task_notices (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    region_id TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    status TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE task_recipients (
    notice_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    acknowledged_at INTEGER,
    completed_at INTEGER,
    PRIMARY KEY (notice_id, recipient)
) WITHOUT ROWID;
CREATE INDEX task_recipients_recipient ON task_recipients (recipient);

-- Local changes the relay refused, kept for the user to see and export (version 2).
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    hash BLOB NOT NULL,
    bytes BLOB NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    quarantined_at INTEGER NOT NULL
);
CREATE INDEX quarantine_doc ON quarantine (doc_id);

-- The campaign offices' settings and the holiday calendar, from the directory (version 4).
CREATE TABLE office_settings (
    region_id TEXT PRIMARY KEY,
    answer_days INTEGER NOT NULL,
    working_days INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE calendar_days (date TEXT PRIMARY KEY, working INTEGER NOT NULL, name TEXT NOT NULL) WITHOUT ROWID;

-- Photos this device holds (files in the store's photo folder, named by SHA-256) and how far each
-- has reached the relay (version 5). `state`: attached (copied in, no event refers to it yet),
-- waiting, done, failed (`reason`); `uploaded`: bytes the relay holds (the size once done).
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    state TEXT NOT NULL,
    uploaded INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    added_at INTEGER NOT NULL
) WITHOUT ROWID;
-- Photos fetched from the relay to show them (version 6): originals and thumbnails of photos other
-- devices took, kept in the photo folder's `cache/` within a budget, the least recently shown
-- dropped first. Photos this device took are in `blobs`, never here, so never dropped before upload.
CREATE TABLE photo_cache (
    sha256 TEXT NOT NULL,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL,
    used_at INTEGER NOT NULL,
    PRIMARY KEY (sha256, kind)
) WITHOUT ROWID;
CREATE INDEX photo_cache_used ON photo_cache (used_at);
-- Search (version 7, see `storage::search`): one row per enterprise and problem, found by any three
-- characters of its title or body; `search_docs` gives each document's row.
CREATE VIRTUAL TABLE search_text USING fts5(kind UNINDEXED, doc_id UNINDEXED, title, body, tokenize = 'trigram');
CREATE TABLE search_docs (doc_id TEXT PRIMARY KEY, row INTEGER NOT NULL UNIQUE) WITHOUT ROWID;
-- Policies (version 8): one row per policy held, its criteria as JSON for the matching.
CREATE TABLE policies (
    id TEXT PRIMARY KEY,
    region_id TEXT NOT NULL,
    title TEXT NOT NULL,
    issuer TEXT NOT NULL,
    doc_number TEXT NOT NULL,
    summary TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_until TEXT NOT NULL,
    withdrawn INTEGER NOT NULL,
    criteria TEXT NOT NULL,
    excludes TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
"#;

    const V7: &str = r#"
-- Key/value facts about this store: the signed-in user, this device's Automerge actor.
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

-- Automerge documents: a compacted snapshot plus the changes stored since.
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    snapshot BLOB,
    change_count INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE document_changes (
    seq INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    bytes BLOB NOT NULL
);
CREATE INDEX document_changes_doc ON document_changes (doc_id, seq);

-- Local changes the relay has not acknowledged yet, in the order they were made.
CREATE TABLE pending_changes (
    seq INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    hash BLOB NOT NULL UNIQUE,
    bytes BLOB NOT NULL
);
CREATE INDEX pending_changes_doc ON pending_changes (doc_id);

-- The part of the directory this device needs.
CREATE TABLE regions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level TEXT NOT NULL,
    parent_id TEXT,
    path TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE departments (id TEXT PRIMARY KEY, name TEXT NOT NULL, region_id TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    region_id TEXT,
    department_id TEXT,
    enterprise_id TEXT,
    mobile TEXT,
    position TEXT,
    unit TEXT
) WITHOUT ROWID;

-- Index tables: derived from the documents, rewritten in the same transaction as each document write.
CREATE TABLE enterprises (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    uscc TEXT NOT NULL,
    region_id TEXT NOT NULL,
    industry TEXT NOT NULL,
    tags TEXT NOT NULL,
    address TEXT NOT NULL,
    visit_count INTEGER NOT NULL,
    last_visit_date TEXT,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE assignments (
    cadre_id TEXT NOT NULL,
    enterprise_id TEXT NOT NULL,
    chief INTEGER NOT NULL,
    since INTEGER NOT NULL,
    PRIMARY KEY (cadre_id, enterprise_id)
) WITHOUT ROWID;
CREATE INDEX assignments_enterprise ON assignments (enterprise_id);
CREATE TABLE visits (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    cadre_id TEXT NOT NULL,
    date TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX visits_enterprise ON visits (enterprise_id, date);
CREATE TABLE problems (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    enterprise_name TEXT NOT NULL,
    region_id TEXT NOT NULL,
    category TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    level INTEGER NOT NULL,
    department_id TEXT,
    deadline INTEGER,
    reported_by TEXT NOT NULL,
    reported_at INTEGER NOT NULL,
    resolved_at INTEGER,
    rating INTEGER,
    urge_count INTEGER NOT NULL,
    follow_up_count INTEGER NOT NULL,
    conflict_count INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX problems_status_deadline ON problems (status, deadline);
CREATE INDEX problems_enterprise ON problems (enterprise_id);
CREATE INDEX problems_department ON problems (department_id, status);
CREATE TABLE task_notices (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    region_id TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    status TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE task_recipients (
    notice_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    acknowledged_at INTEGER,
    completed_at INTEGER,
    PRIMARY KEY (notice_id, recipient)
) WITHOUT ROWID;
CREATE INDEX task_recipients_recipient ON task_recipients (recipient);

-- Local changes the relay refused, kept for the user to see and export (version 2).
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    hash BLOB NOT NULL,
    bytes BLOB NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    quarantined_at INTEGER NOT NULL
);
CREATE INDEX quarantine_doc ON quarantine (doc_id);

-- The campaign offices' settings and the holiday calendar, from the directory (version 4).
CREATE TABLE office_settings (
    region_id TEXT PRIMARY KEY,
    answer_days INTEGER NOT NULL,
    working_days INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE calendar_days (date TEXT PRIMARY KEY, working INTEGER NOT NULL, name TEXT NOT NULL) WITHOUT ROWID;

-- Photos this device holds (files in the store's photo folder, named by SHA-256) and how far each
-- has reached the relay (version 5). `state`: attached (copied in, no event refers to it yet),
-- waiting, done, failed (`reason`); `uploaded`: bytes the relay holds (the size once done).
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    state TEXT NOT NULL,
    uploaded INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    added_at INTEGER NOT NULL
) WITHOUT ROWID;
-- Photos fetched from the relay to show them (version 6): originals and thumbnails of photos other
-- devices took, kept in the photo folder's `cache/` within a budget, the least recently shown
-- dropped first. Photos this device took are in `blobs`, never here, so never dropped before upload.
CREATE TABLE photo_cache (
    sha256 TEXT NOT NULL,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL,
    used_at INTEGER NOT NULL,
    PRIMARY KEY (sha256, kind)
) WITHOUT ROWID;
CREATE INDEX photo_cache_used ON photo_cache (used_at);
-- Search (version 7, see `storage::search`): one row per enterprise and problem, found by any three
-- characters of its title or body; `search_docs` gives each document's row.
CREATE VIRTUAL TABLE search_text USING fts5(kind UNINDEXED, doc_id UNINDEXED, title, body, tokenize = 'trigram');
CREATE TABLE search_docs (doc_id TEXT PRIMARY KEY, row INTEGER NOT NULL UNIQUE) WITHOUT ROWID;
"#;

    const V6: &str = r#"
-- Key/value facts about this store: the signed-in user, this device's Automerge actor.
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

-- Automerge documents: a compacted snapshot plus the changes stored since.
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    snapshot BLOB,
    change_count INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE document_changes (
    seq INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    bytes BLOB NOT NULL
);
CREATE INDEX document_changes_doc ON document_changes (doc_id, seq);

-- Local changes the relay has not acknowledged yet, in the order they were made.
CREATE TABLE pending_changes (
    seq INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    hash BLOB NOT NULL UNIQUE,
    bytes BLOB NOT NULL
);
CREATE INDEX pending_changes_doc ON pending_changes (doc_id);

-- The part of the directory this device needs.
CREATE TABLE regions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level TEXT NOT NULL,
    parent_id TEXT,
    path TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE departments (id TEXT PRIMARY KEY, name TEXT NOT NULL, region_id TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    region_id TEXT,
    department_id TEXT,
    enterprise_id TEXT,
    mobile TEXT,
    position TEXT,
    unit TEXT
) WITHOUT ROWID;

-- Index tables: derived from the documents, rewritten in the same transaction as each document write.
CREATE TABLE enterprises (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    uscc TEXT NOT NULL,
    region_id TEXT NOT NULL,
    industry TEXT NOT NULL,
    tags TEXT NOT NULL,
    address TEXT NOT NULL,
    visit_count INTEGER NOT NULL,
    last_visit_date TEXT,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE assignments (
    cadre_id TEXT NOT NULL,
    enterprise_id TEXT NOT NULL,
    chief INTEGER NOT NULL,
    since INTEGER NOT NULL,
    PRIMARY KEY (cadre_id, enterprise_id)
) WITHOUT ROWID;
CREATE INDEX assignments_enterprise ON assignments (enterprise_id);
CREATE TABLE visits (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    cadre_id TEXT NOT NULL,
    date TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX visits_enterprise ON visits (enterprise_id, date);
CREATE TABLE problems (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    enterprise_name TEXT NOT NULL,
    region_id TEXT NOT NULL,
    category TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    level INTEGER NOT NULL,
    department_id TEXT,
    deadline INTEGER,
    reported_by TEXT NOT NULL,
    reported_at INTEGER NOT NULL,
    resolved_at INTEGER,
    rating INTEGER,
    urge_count INTEGER NOT NULL,
    follow_up_count INTEGER NOT NULL,
    conflict_count INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX problems_status_deadline ON problems (status, deadline);
CREATE INDEX problems_enterprise ON problems (enterprise_id);
CREATE INDEX problems_department ON problems (department_id, status);
CREATE TABLE task_notices (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    region_id TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    status TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE task_recipients (
    notice_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    acknowledged_at INTEGER,
    completed_at INTEGER,
    PRIMARY KEY (notice_id, recipient)
) WITHOUT ROWID;
CREATE INDEX task_recipients_recipient ON task_recipients (recipient);

-- Local changes the relay refused, kept for the user to see and export (version 2).
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    hash BLOB NOT NULL,
    bytes BLOB NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    quarantined_at INTEGER NOT NULL
);
CREATE INDEX quarantine_doc ON quarantine (doc_id);

-- The campaign offices' settings and the holiday calendar, from the directory (version 4).
CREATE TABLE office_settings (
    region_id TEXT PRIMARY KEY,
    answer_days INTEGER NOT NULL,
    working_days INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE calendar_days (date TEXT PRIMARY KEY, working INTEGER NOT NULL, name TEXT NOT NULL) WITHOUT ROWID;

-- Photos this device holds (files in the store's photo folder, named by SHA-256) and how far each
-- has reached the relay (version 5). `state`: attached (copied in, no event refers to it yet),
-- waiting, done, failed (`reason`); `uploaded`: bytes the relay holds (the size once done).
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    state TEXT NOT NULL,
    uploaded INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    added_at INTEGER NOT NULL
) WITHOUT ROWID;
-- Photos fetched from the relay to show them (version 6): originals and thumbnails of photos other
-- devices took, kept in the photo folder's `cache/` within a budget, the least recently shown
-- dropped first. Photos this device took are in `blobs`, never here, so never dropped before upload.
CREATE TABLE photo_cache (
    sha256 TEXT NOT NULL,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL,
    used_at INTEGER NOT NULL,
    PRIMARY KEY (sha256, kind)
) WITHOUT ROWID;
CREATE INDEX photo_cache_used ON photo_cache (used_at);
"#;

    const V5: &str = r#"
-- Key/value facts about this store: the signed-in user, this device's Automerge actor.
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

-- Automerge documents: a compacted snapshot plus the changes stored since.
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    snapshot BLOB,
    change_count INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE document_changes (
    seq INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    bytes BLOB NOT NULL
);
CREATE INDEX document_changes_doc ON document_changes (doc_id, seq);

-- Local changes the relay has not acknowledged yet, in the order they were made.
CREATE TABLE pending_changes (
    seq INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    hash BLOB NOT NULL UNIQUE,
    bytes BLOB NOT NULL
);
CREATE INDEX pending_changes_doc ON pending_changes (doc_id);

-- The part of the directory this device needs.
CREATE TABLE regions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level TEXT NOT NULL,
    parent_id TEXT,
    path TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE departments (id TEXT PRIMARY KEY, name TEXT NOT NULL, region_id TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    region_id TEXT,
    department_id TEXT,
    enterprise_id TEXT,
    mobile TEXT,
    position TEXT,
    unit TEXT
) WITHOUT ROWID;

-- Index tables: derived from the documents, rewritten in the same transaction as each document write.
CREATE TABLE enterprises (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    uscc TEXT NOT NULL,
    region_id TEXT NOT NULL,
    industry TEXT NOT NULL,
    tags TEXT NOT NULL,
    address TEXT NOT NULL,
    visit_count INTEGER NOT NULL,
    last_visit_date TEXT,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE assignments (
    cadre_id TEXT NOT NULL,
    enterprise_id TEXT NOT NULL,
    chief INTEGER NOT NULL,
    since INTEGER NOT NULL,
    PRIMARY KEY (cadre_id, enterprise_id)
) WITHOUT ROWID;
CREATE INDEX assignments_enterprise ON assignments (enterprise_id);
CREATE TABLE visits (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    cadre_id TEXT NOT NULL,
    date TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX visits_enterprise ON visits (enterprise_id, date);
CREATE TABLE problems (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    enterprise_name TEXT NOT NULL,
    region_id TEXT NOT NULL,
    category TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    level INTEGER NOT NULL,
    department_id TEXT,
    deadline INTEGER,
    reported_by TEXT NOT NULL,
    reported_at INTEGER NOT NULL,
    resolved_at INTEGER,
    rating INTEGER,
    urge_count INTEGER NOT NULL,
    follow_up_count INTEGER NOT NULL,
    conflict_count INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX problems_status_deadline ON problems (status, deadline);
CREATE INDEX problems_enterprise ON problems (enterprise_id);
CREATE INDEX problems_department ON problems (department_id, status);
CREATE TABLE task_notices (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    region_id TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    status TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE task_recipients (
    notice_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    acknowledged_at INTEGER,
    completed_at INTEGER,
    PRIMARY KEY (notice_id, recipient)
) WITHOUT ROWID;
CREATE INDEX task_recipients_recipient ON task_recipients (recipient);

-- Local changes the relay refused, kept for the user to see and export (version 2).
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    hash BLOB NOT NULL,
    bytes BLOB NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    quarantined_at INTEGER NOT NULL
);
CREATE INDEX quarantine_doc ON quarantine (doc_id);

-- The campaign offices' settings and the holiday calendar, from the directory (version 4).
CREATE TABLE office_settings (
    region_id TEXT PRIMARY KEY,
    answer_days INTEGER NOT NULL,
    working_days INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE calendar_days (date TEXT PRIMARY KEY, working INTEGER NOT NULL, name TEXT NOT NULL) WITHOUT ROWID;

-- Photos this device holds (files in the store's photo folder, named by SHA-256) and how far each
-- has reached the relay (version 5). `state`: attached (copied in, no event refers to it yet),
-- waiting, uploading, done, failed (`reason`); `uploaded`: bytes the relay acknowledged.
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    state TEXT NOT NULL,
    uploaded INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    added_at INTEGER NOT NULL
) WITHOUT ROWID;
"#;

    const V4: &str = r#"
-- Key/value facts about this store: the signed-in user, this device's Automerge actor.
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

-- Automerge documents: a compacted snapshot plus the changes stored since.
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    snapshot BLOB,
    change_count INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE document_changes (
    seq INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    bytes BLOB NOT NULL
);
CREATE INDEX document_changes_doc ON document_changes (doc_id, seq);

-- Local changes the relay has not acknowledged yet, in the order they were made.
CREATE TABLE pending_changes (
    seq INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    hash BLOB NOT NULL UNIQUE,
    bytes BLOB NOT NULL
);
CREATE INDEX pending_changes_doc ON pending_changes (doc_id);

-- The part of the directory this device needs.
CREATE TABLE regions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level TEXT NOT NULL,
    parent_id TEXT,
    path TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE departments (id TEXT PRIMARY KEY, name TEXT NOT NULL, region_id TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    region_id TEXT,
    department_id TEXT,
    enterprise_id TEXT,
    mobile TEXT,
    position TEXT,
    unit TEXT
) WITHOUT ROWID;

-- Index tables: derived from the documents, rewritten in the same transaction as each document write.
CREATE TABLE enterprises (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    uscc TEXT NOT NULL,
    region_id TEXT NOT NULL,
    industry TEXT NOT NULL,
    tags TEXT NOT NULL,
    address TEXT NOT NULL,
    visit_count INTEGER NOT NULL,
    last_visit_date TEXT,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE assignments (
    cadre_id TEXT NOT NULL,
    enterprise_id TEXT NOT NULL,
    chief INTEGER NOT NULL,
    since INTEGER NOT NULL,
    PRIMARY KEY (cadre_id, enterprise_id)
) WITHOUT ROWID;
CREATE INDEX assignments_enterprise ON assignments (enterprise_id);
CREATE TABLE visits (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    cadre_id TEXT NOT NULL,
    date TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX visits_enterprise ON visits (enterprise_id, date);
CREATE TABLE problems (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    enterprise_name TEXT NOT NULL,
    region_id TEXT NOT NULL,
    category TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    level INTEGER NOT NULL,
    department_id TEXT,
    deadline INTEGER,
    reported_by TEXT NOT NULL,
    reported_at INTEGER NOT NULL,
    resolved_at INTEGER,
    rating INTEGER,
    urge_count INTEGER NOT NULL,
    follow_up_count INTEGER NOT NULL,
    conflict_count INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX problems_status_deadline ON problems (status, deadline);
CREATE INDEX problems_enterprise ON problems (enterprise_id);
CREATE INDEX problems_department ON problems (department_id, status);
CREATE TABLE task_notices (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    region_id TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    status TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE task_recipients (
    notice_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    acknowledged_at INTEGER,
    completed_at INTEGER,
    PRIMARY KEY (notice_id, recipient)
) WITHOUT ROWID;
CREATE INDEX task_recipients_recipient ON task_recipients (recipient);

-- Local changes the relay refused, kept for the user to see and export (version 2).
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    hash BLOB NOT NULL,
    bytes BLOB NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    quarantined_at INTEGER NOT NULL
);
CREATE INDEX quarantine_doc ON quarantine (doc_id);

-- The campaign offices' settings and the holiday calendar, from the directory (version 4).
CREATE TABLE office_settings (
    region_id TEXT PRIMARY KEY,
    answer_days INTEGER NOT NULL,
    working_days INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE calendar_days (date TEXT PRIMARY KEY, working INTEGER NOT NULL, name TEXT NOT NULL) WITHOUT ROWID;
"#;

    const V3: &str = r#"
-- Key/value facts about this store: the signed-in user, this device's Automerge actor.
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

-- Automerge documents: a compacted snapshot plus the changes stored since.
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    snapshot BLOB,
    change_count INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE document_changes (
    seq INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    bytes BLOB NOT NULL
);
CREATE INDEX document_changes_doc ON document_changes (doc_id, seq);

-- Local changes the relay has not acknowledged yet, in the order they were made.
CREATE TABLE pending_changes (
    seq INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    hash BLOB NOT NULL UNIQUE,
    bytes BLOB NOT NULL
);
CREATE INDEX pending_changes_doc ON pending_changes (doc_id);

-- The part of the directory this device needs.
CREATE TABLE regions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level TEXT NOT NULL,
    parent_id TEXT,
    path TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE departments (id TEXT PRIMARY KEY, name TEXT NOT NULL, region_id TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    region_id TEXT,
    department_id TEXT,
    enterprise_id TEXT,
    mobile TEXT,
    position TEXT,
    unit TEXT
) WITHOUT ROWID;

-- Index tables: derived from the documents, rewritten in the same transaction as each document write.
CREATE TABLE enterprises (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    uscc TEXT NOT NULL,
    region_id TEXT NOT NULL,
    industry TEXT NOT NULL,
    tags TEXT NOT NULL,
    address TEXT NOT NULL,
    visit_count INTEGER NOT NULL,
    last_visit_date TEXT,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE assignments (
    cadre_id TEXT NOT NULL,
    enterprise_id TEXT NOT NULL,
    chief INTEGER NOT NULL,
    since INTEGER NOT NULL,
    PRIMARY KEY (cadre_id, enterprise_id)
) WITHOUT ROWID;
CREATE INDEX assignments_enterprise ON assignments (enterprise_id);
CREATE TABLE visits (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    cadre_id TEXT NOT NULL,
    date TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX visits_enterprise ON visits (enterprise_id, date);
CREATE TABLE problems (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    enterprise_name TEXT NOT NULL,
    region_id TEXT NOT NULL,
    category TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    level INTEGER NOT NULL,
    department_id TEXT,
    deadline INTEGER,
    reported_by TEXT NOT NULL,
    reported_at INTEGER NOT NULL,
    resolved_at INTEGER,
    rating INTEGER,
    urge_count INTEGER NOT NULL,
    follow_up_count INTEGER NOT NULL,
    conflict_count INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX problems_status_deadline ON problems (status, deadline);
CREATE INDEX problems_enterprise ON problems (enterprise_id);
CREATE INDEX problems_department ON problems (department_id, status);
CREATE TABLE task_notices (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    region_id TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    status TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE task_recipients (
    notice_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    acknowledged_at INTEGER,
    completed_at INTEGER,
    PRIMARY KEY (notice_id, recipient)
) WITHOUT ROWID;
CREATE INDEX task_recipients_recipient ON task_recipients (recipient);

-- Local changes the relay refused, kept for the user to see and export (version 2).
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    hash BLOB NOT NULL,
    bytes BLOB NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    quarantined_at INTEGER NOT NULL
);
CREATE INDEX quarantine_doc ON quarantine (doc_id);
"#;

    const V2: &str = r#"
-- Key/value facts about this store: the signed-in user, this device's Automerge actor.
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

-- Automerge documents: a compacted snapshot plus the changes stored since.
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    snapshot BLOB,
    change_count INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE document_changes (
    seq INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    bytes BLOB NOT NULL
);
CREATE INDEX document_changes_doc ON document_changes (doc_id, seq);

-- Local changes the relay has not acknowledged yet, in the order they were made.
CREATE TABLE pending_changes (
    seq INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    hash BLOB NOT NULL UNIQUE,
    bytes BLOB NOT NULL
);
CREATE INDEX pending_changes_doc ON pending_changes (doc_id);

-- The part of the directory this device needs.
CREATE TABLE regions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level TEXT NOT NULL,
    parent_id TEXT,
    path TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE departments (id TEXT PRIMARY KEY, name TEXT NOT NULL, region_id TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    region_id TEXT,
    department_id TEXT,
    enterprise_id TEXT
) WITHOUT ROWID;

-- Index tables: derived from the documents, rewritten in the same transaction as each document write.
CREATE TABLE enterprises (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    uscc TEXT NOT NULL,
    region_id TEXT NOT NULL,
    industry TEXT NOT NULL,
    tags TEXT NOT NULL,
    address TEXT NOT NULL,
    visit_count INTEGER NOT NULL,
    last_visit_date TEXT,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE assignments (
    cadre_id TEXT NOT NULL,
    enterprise_id TEXT NOT NULL,
    chief INTEGER NOT NULL,
    since INTEGER NOT NULL,
    PRIMARY KEY (cadre_id, enterprise_id)
) WITHOUT ROWID;
CREATE INDEX assignments_enterprise ON assignments (enterprise_id);
CREATE TABLE visits (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    cadre_id TEXT NOT NULL,
    date TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX visits_enterprise ON visits (enterprise_id, date);
CREATE TABLE problems (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    enterprise_name TEXT NOT NULL,
    region_id TEXT NOT NULL,
    category TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    level INTEGER NOT NULL,
    department_id TEXT,
    deadline INTEGER,
    reported_by TEXT NOT NULL,
    reported_at INTEGER NOT NULL,
    resolved_at INTEGER,
    rating INTEGER,
    urge_count INTEGER NOT NULL,
    follow_up_count INTEGER NOT NULL,
    conflict_count INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX problems_status_deadline ON problems (status, deadline);
CREATE INDEX problems_enterprise ON problems (enterprise_id);
CREATE INDEX problems_department ON problems (department_id, status);
CREATE TABLE task_notices (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    region_id TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    status TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE task_recipients (
    notice_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    acknowledged_at INTEGER,
    completed_at INTEGER,
    PRIMARY KEY (notice_id, recipient)
) WITHOUT ROWID;
CREATE INDEX task_recipients_recipient ON task_recipients (recipient);

-- Local changes the relay refused, kept for the user to see and export (version 2).
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    hash BLOB NOT NULL,
    bytes BLOB NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    quarantined_at INTEGER NOT NULL
);
CREATE INDEX quarantine_doc ON quarantine (doc_id);
"#;

    const V1: &str = r#"
-- Key/value facts about this store: the signed-in user, this device's Automerge actor.
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

-- Automerge documents: a compacted snapshot plus the changes stored since.
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    snapshot BLOB,
    change_count INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE document_changes (
    seq INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    bytes BLOB NOT NULL
);
CREATE INDEX document_changes_doc ON document_changes (doc_id, seq);

-- Local changes the relay has not acknowledged yet, in the order they were made.
CREATE TABLE pending_changes (
    seq INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    hash BLOB NOT NULL UNIQUE,
    bytes BLOB NOT NULL
);
CREATE INDEX pending_changes_doc ON pending_changes (doc_id);

-- The part of the directory this device needs.
CREATE TABLE regions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level TEXT NOT NULL,
    parent_id TEXT,
    path TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE departments (id TEXT PRIMARY KEY, name TEXT NOT NULL, region_id TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    region_id TEXT,
    department_id TEXT,
    enterprise_id TEXT
) WITHOUT ROWID;

-- Index tables: derived from the documents, rewritten in the same transaction as each document write.
CREATE TABLE enterprises (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    uscc TEXT NOT NULL,
    region_id TEXT NOT NULL,
    industry TEXT NOT NULL,
    tags TEXT NOT NULL,
    address TEXT NOT NULL,
    visit_count INTEGER NOT NULL,
    last_visit_date TEXT,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE assignments (
    cadre_id TEXT NOT NULL,
    enterprise_id TEXT NOT NULL,
    chief INTEGER NOT NULL,
    since INTEGER NOT NULL,
    PRIMARY KEY (cadre_id, enterprise_id)
) WITHOUT ROWID;
CREATE INDEX assignments_enterprise ON assignments (enterprise_id);
CREATE TABLE visits (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    cadre_id TEXT NOT NULL,
    date TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX visits_enterprise ON visits (enterprise_id, date);
CREATE TABLE problems (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    enterprise_name TEXT NOT NULL,
    region_id TEXT NOT NULL,
    category TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    level INTEGER NOT NULL,
    department_id TEXT,
    deadline INTEGER,
    reported_by TEXT NOT NULL,
    reported_at INTEGER NOT NULL,
    resolved_at INTEGER,
    rating INTEGER,
    urge_count INTEGER NOT NULL,
    follow_up_count INTEGER NOT NULL,
    conflict_count INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX problems_status_deadline ON problems (status, deadline);
CREATE INDEX problems_enterprise ON problems (enterprise_id);
CREATE INDEX problems_department ON problems (department_id, status);
CREATE TABLE task_notices (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    region_id TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    status TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE task_recipients (
    notice_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    acknowledged_at INTEGER,
    completed_at INTEGER,
    PRIMARY KEY (notice_id, recipient)
) WITHOUT ROWID;
CREATE INDEX task_recipients_recipient ON task_recipients (recipient);
"#;

    /// Every table, index and column of a database, in a stable order.
    pub(crate) fn describe(conn: &Connection) -> Vec<String> {
        let mut out = Vec::new();
        let mut stmt = conn
            .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
            .unwrap();
        let rows: Vec<(String, String, String, Option<String>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (ty, name, table, sql) in rows {
            if ty == "table" {
                let mut cols = conn.prepare(&format!("PRAGMA table_xinfo({name})")).unwrap();
                let cols: Vec<String> = cols
                    .query_map([], |r| {
                        Ok(format!(
                            "{}:{}:notnull={}:default={:?}:pk={}",
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, Option<String>>(4)?,
                            r.get::<_, i64>(5)?
                        ))
                    })
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                out.push(format!("table {name}: {}", cols.join(", ")));
                let without_rowid = sql.as_deref().is_some_and(|s| s.contains("WITHOUT ROWID"));
                out.push(format!("table {name} without_rowid={without_rowid}"));
            } else {
                let mut cols = conn.prepare(&format!("PRAGMA index_xinfo({name})")).unwrap();
                let cols: Vec<String> = cols
                    .query_map([], |r| Ok(format!("{:?}", r.get::<_, Option<String>>(2)?)))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                out.push(format!("{ty} {name} on {table}: {}", cols.join(",")));
            }
        }
        out
    }

    #[test]
    fn fresh_schema_is_current() {
        let mut conn = Connection::open_in_memory().unwrap();
        prepare(&mut conn).unwrap();
        let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v, VERSION);
        assert!(describe(&conn).iter().any(|l| l.starts_with("table problems:")));
    }

    #[test]
    fn every_past_version_upgrades_to_the_fresh_schema() {
        let mut fresh = Connection::open_in_memory().unwrap();
        prepare(&mut fresh).unwrap();
        let expected = describe(&fresh);
        assert_eq!(PAST_SCHEMAS.len() as i64, VERSION - 1, "keep every past schema here");
        for (version, sql) in PAST_SCHEMAS {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("old.db");
            {
                let conn = Connection::open(&path).unwrap();
                conn.execute_batch(sql).unwrap();
                conn.pragma_update(None, "user_version", version).unwrap();
            }
            let mut conn = Connection::open(&path).unwrap();
            prepare(&mut conn).unwrap();
            assert_eq!(describe(&conn), expected, "upgrade from version {version}");
            let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
            assert_eq!(v, VERSION);
        }
    }

    #[test]
    fn a_newer_schema_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        Connection::open(&path).unwrap().pragma_update(None, "user_version", VERSION + 1).unwrap();
        let mut conn = Connection::open(&path).unwrap();
        assert!(matches!(prepare(&mut conn), Err(Error::SchemaTooNew { .. })));
        let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v, VERSION + 1);
    }
}
