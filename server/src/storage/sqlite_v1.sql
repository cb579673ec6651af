-- The relay's SQLite schema at version 1, frozen: the migration test upgrades it and compares the
-- result with a fresh database.
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('seq', 0), ('directory', 0);

CREATE TABLE regions (id TEXT PRIMARY KEY, name TEXT NOT NULL, level TEXT NOT NULL, parent_id TEXT) WITHOUT ROWID;
CREATE TABLE departments (id TEXT PRIMARY KEY, name TEXT NOT NULL, region_id TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    region_id TEXT,
    department_id TEXT,
    enterprise_id TEXT,
    password_hash TEXT
) WITHOUT ROWID;

CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    last_seen_at INTEGER
) WITHOUT ROWID;
CREATE INDEX devices_user ON devices (user_id);
CREATE TABLE device_actors (actor BLOB PRIMARY KEY, device_id TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX device_actors_device ON device_actors (device_id);
CREATE TABLE activation_codes (
    code_hash BLOB PRIMARY KEY,
    user_id TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
) WITHOUT ROWID;
CREATE TABLE sign_in_failures (login TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX sign_in_failures_login ON sign_in_failures (login, at);

-- Documents and every accepted change (the audit trail: who, which device, when received).
CREATE TABLE docs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    snapshot BLOB NOT NULL,
    snapshot_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    hash BLOB NOT NULL UNIQUE,
    bytes BLOB NOT NULL,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX changes_doc ON changes (doc_id, seq);
CREATE TABLE event_receipts (event_id TEXT PRIMARY KEY, change_seq INTEGER NOT NULL, received_at INTEGER NOT NULL) WITHOUT ROWID;

-- Read scope (see scope.rs).
CREATE TABLE doc_keys (
    key TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    added_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (key, doc_id)
) WITHOUT ROWID;
CREATE INDEX doc_keys_last ON doc_keys (key, last_seq);
CREATE INDEX doc_keys_doc ON doc_keys (doc_id);
CREATE TABLE doc_key_removals (key TEXT NOT NULL, doc_id TEXT NOT NULL, seq INTEGER NOT NULL);
CREATE INDEX doc_key_removals_key ON doc_key_removals (key, seq);
CREATE TABLE user_key_events (user_id TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, added INTEGER NOT NULL);
CREATE INDEX user_key_events_user ON user_key_events (user_id, seq);

-- Projections for the dashboard.
CREATE TABLE enterprises (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    uscc TEXT NOT NULL,
    region_id TEXT NOT NULL,
    industry TEXT NOT NULL,
    tags TEXT NOT NULL,
    address TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX enterprises_region ON enterprises (region_id);
CREATE INDEX enterprises_uscc ON enterprises (uscc);
CREATE TABLE assignments (
    enterprise_id TEXT NOT NULL,
    cadre_id TEXT NOT NULL,
    chief INTEGER NOT NULL,
    since INTEGER NOT NULL,
    PRIMARY KEY (enterprise_id, cadre_id)
) WITHOUT ROWID;
CREATE INDEX assignments_cadre ON assignments (cadre_id);
CREATE TABLE visits (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    cadre_id TEXT NOT NULL,
    date TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX visits_enterprise ON visits (enterprise_id, date);
CREATE INDEX visits_cadre ON visits (cadre_id, date);
CREATE TABLE problems (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    enterprise_name TEXT NOT NULL,
    region_id TEXT NOT NULL,
    category TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    level INTEGER NOT NULL,
    department_id TEXT,
    deadline INTEGER,
    reported_by TEXT NOT NULL,
    reporter_role TEXT,
    reported_at INTEGER NOT NULL,
    accepted_at INTEGER,
    first_routed_at INTEGER,
    resolved_at INTEGER,
    confirmed_at INTEGER,
    closed_at INTEGER,
    rating INTEGER,
    urge_count INTEGER NOT NULL,
    escalation_count INTEGER NOT NULL,
    reopen_count INTEGER NOT NULL,
    follow_up_count INTEGER NOT NULL,
    conflict_count INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX problems_region ON problems (region_id, status);
CREATE INDEX problems_department ON problems (department_id, status);
CREATE INDEX problems_enterprise ON problems (enterprise_id);
CREATE TABLE problem_events (
    problem_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    by_user TEXT NOT NULL,
    role TEXT NOT NULL,
    device TEXT NOT NULL,
    at INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    received_at INTEGER,
    PRIMARY KEY (problem_id, position)
) WITHOUT ROWID;
CREATE TABLE task_notices (
    id TEXT PRIMARY KEY,
    region_id TEXT NOT NULL,
    title TEXT NOT NULL,
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
    completed_by TEXT,
    PRIMARY KEY (notice_id, recipient)
) WITHOUT ROWID;
