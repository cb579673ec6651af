//! The relay's tables, described once for both databases in PostgreSQL's spelling; [`create`] gives
//! them as SQLite spells them (64-bit integers and booleans are `INTEGER`, bytes are `BLOB`, the
//! sign-in failures are ordered by `rowid`). `WITHOUT ROWID` is SQLite's: PostgreSQL's tables are
//! clustered by nothing anyway, and the words are dropped for it.

use super::db::Dialect;

/// Users' mobile number, position and work unit (version 6).
pub const USER_DETAILS: &[&str] = &[
    "ALTER TABLE users ADD COLUMN mobile TEXT;",
    "ALTER TABLE users ADD COLUMN position TEXT;",
    "ALTER TABLE users ADD COLUMN unit TEXT;",
];

/// The campaign offices' settings and the holiday calendar (version 7).
pub const OFFICE_SETTINGS: &[&str] = &[
    "CREATE TABLE office_settings (
        region_id TEXT PRIMARY KEY,
        answer_days BIGINT NOT NULL,
        working_days BOOLEAN NOT NULL
    ) WITHOUT ROWID;",
    "CREATE TABLE calendar_days (date TEXT PRIMARY KEY, working BOOLEAN NOT NULL, name TEXT NOT NULL) WITHOUT ROWID;",
];

/// Which documents named each photo, at what size, in which visit by which cadre (version 8;
/// replaced by [`PHOTO_REFS`] in version 9).
pub const BLOB_REFS: &[&str] = &[
    "CREATE TABLE blob_refs (
        sha256 TEXT NOT NULL,
        doc_id TEXT NOT NULL,
        size BIGINT NOT NULL,
        visit_id TEXT NOT NULL,
        cadre_id TEXT NOT NULL,
        recorded_at BIGINT NOT NULL,
        PRIMARY KEY (sha256, doc_id)
    ) WITHOUT ROWID;",
    "CREATE INDEX blob_refs_recorded ON blob_refs (recorded_at);",
];

const PHOTO_REFS_TABLE: &str = "CREATE TABLE photo_refs (
        sha256 TEXT NOT NULL,
        doc_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        size BIGINT NOT NULL,
        author_id TEXT NOT NULL,
        received_at BIGINT,
        PRIMARY KEY (sha256, doc_id, event_id)
    ) WITHOUT ROWID;";
const PHOTO_REFS_INDEXES: &str = "CREATE INDEX photo_refs_received ON photo_refs (received_at);";
/// What each photo the relay holds whole says of itself (see `blobs::evidence::taken`): when, and
/// where in 10⁻⁷ degrees. Written when it first is needed after the photo is complete.
const PHOTOS_TABLE: &str = "CREATE TABLE photos (
        sha256 TEXT PRIMARY KEY,
        taken_at BIGINT,
        taken_lat_e7 BIGINT,
        taken_lon_e7 BIGINT
    ) WITHOUT ROWID;";

/// Every event that names a photo (version 9): a visit, a problem report, a progress note or a
/// resolution, with the document it is in, the size it gives, its author and when the relay received
/// it. Who may upload and read a photo, and whose photos are still missing, follow from it.
/// And what the photos themselves say (see `PHOTOS_TABLE`).
pub const PHOTO_REFS: &[&str] = &[PHOTO_REFS_TABLE, PHOTO_REFS_INDEXES, PHOTOS_TABLE];

/// Version 9 from version 8: the visits' photo references carried over, each under its visit's event
/// and that event's receipt (its recording time where it has none).
pub const PHOTO_REFS_FROM_BLOB_REFS: &[&str] = &[
    PHOTO_REFS_TABLE,
    "INSERT INTO photo_refs (sha256, doc_id, event_id, size, author_id, received_at)
        SELECT b.sha256, b.doc_id, COALESCE(v.event_id, b.visit_id), b.size, b.cadre_id,
               COALESCE(v.received_at, b.recorded_at)
        FROM blob_refs b LEFT JOIN visits v ON v.id = b.visit_id AND v.enterprise_id = b.doc_id;",
    "DROP TABLE blob_refs;",
    PHOTO_REFS_INDEXES,
    PHOTOS_TABLE,
];

/// Policy reach (version 10): enterprises' scale, the policies (their criteria as JSON, for the
/// matching) and what each enterprise knows of each policy (told on a visit, its latest mark). The
/// rows of the documents stored before are written after the upgrade (see [`ASK_REPROJECT`]).
pub const POLICY_REACH: &[&str] = &[
    "ALTER TABLE enterprises ADD COLUMN employees BIGINT;",
    "ALTER TABLE enterprises ADD COLUMN revenue BIGINT;",
    "ALTER TABLE enterprises ADD COLUMN founded TEXT;",
    "CREATE TABLE policies (
        id TEXT PRIMARY KEY,
        region_id TEXT NOT NULL,
        title TEXT NOT NULL,
        issuer TEXT NOT NULL,
        doc_number TEXT NOT NULL,
        valid_from TEXT NOT NULL,
        valid_until TEXT NOT NULL,
        criteria TEXT NOT NULL,
        issued_at BIGINT NOT NULL,
        withdrawn_at BIGINT,
        updated_at BIGINT NOT NULL
    ) WITHOUT ROWID;",
    "CREATE INDEX policies_region ON policies (region_id);",
    "CREATE TABLE enterprise_policies (
        enterprise_id TEXT NOT NULL,
        policy_id TEXT NOT NULL,
        told BOOLEAN NOT NULL,
        mark TEXT,
        PRIMARY KEY (enterprise_id, policy_id)
    ) WITHOUT ROWID;",
    "CREATE INDEX enterprise_policies_policy ON enterprise_policies (policy_id);",
];

/// Figures at province scale (version 11): each visit's region (its enterprise's), day, the day it
/// counts on (its own, or its arrival's when entered late: see `zhuqi_core::domain::event::
/// judged_time`) and the department of the cadre who made it; each enterprise's visits per year; a
/// problem's last resolution's arrival; indexes by region and period; the months of the calendar
/// (filled by [`calendar_months`]) and the figures published when a month or a year closed. The
/// offline window the counted days were worked out with is counter `offline_window_ms`.
pub const PROVINCE_SCALE: &[&str] = &[
    "ALTER TABLE visits ADD COLUMN region_id TEXT;",
    "ALTER TABLE visits ADD COLUMN day BIGINT;",
    "ALTER TABLE visits ADD COLUMN counted_day BIGINT;",
    "ALTER TABLE visits ADD COLUMN cadre_department_id TEXT;",
    "CREATE INDEX visits_counted ON visits (counted_day, region_id, cadre_department_id, enterprise_id);",
    "CREATE INDEX visits_region ON visits (region_id, counted_day, enterprise_id, cadre_department_id);",
    "CREATE TABLE visit_years (
        enterprise_id TEXT NOT NULL,
        year BIGINT NOT NULL,
        region_id TEXT NOT NULL,
        visits BIGINT NOT NULL,
        PRIMARY KEY (enterprise_id, year)
    ) WITHOUT ROWID;",
    "CREATE INDEX visit_years_year ON visit_years (year, region_id, visits);",
    "ALTER TABLE problems ADD COLUMN resolution_received_at BIGINT;",
    "CREATE INDEX problems_listed ON problems (reported_at, id);",
    "CREATE INDEX problems_region_listed ON problems (region_id, reported_at, id);",
    "CREATE INDEX problems_figures ON problems (region_id, department_id, status, reported_at, resolved_at,
        resolution_received_at, deadline, missed_deadline, confirmed_at, closed_at, rating, confirmation,
        reporter_role, escalation_count, category);",
    "CREATE INDEX problems_reported ON problems (reported_at, category, status, region_id);",
    "CREATE INDEX task_notices_region ON task_notices (region_id, issued_at);",
    "CREATE TABLE calendar_months (month BIGINT PRIMARY KEY, starts BIGINT NOT NULL, ends BIGINT NOT NULL) WITHOUT ROWID;",
    "CREATE TABLE published_figures (
        period TEXT NOT NULL,
        unit TEXT NOT NULL,
        counts TEXT NOT NULL,
        published_at BIGINT NOT NULL,
        PRIMARY KEY (period, unit)
    ) WITHOUT ROWID;",
    "INSERT INTO counters (name, value) VALUES ('offline_window_ms', 604800000) ON CONFLICT (name) DO NOTHING;",
];

/// Enterprise contacts on the web (version 12, see `portal`): one-time sign-in links (stored as
/// the SHA-256 of their code; single use, voided when another is issued to the same contact), the
/// contacts' web sessions (each bound to its contact, its enterprise and the `web:` device that
/// names the browser in the audit trail), and the index that finds an enterprise's contacts — whose
/// devices tell whether the enterprise was ever reached (`RelayStorage::enterprise_reach`).
pub const ENTERPRISE_WEB: &[&str] = &[
    "CREATE TABLE web_links (
        code_hash BYTEA PRIMARY KEY,
        user_id TEXT NOT NULL,
        enterprise_id TEXT NOT NULL,
        issued_by TEXT NOT NULL,
        issued_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT
    ) WITHOUT ROWID;",
    "CREATE INDEX web_links_user ON web_links (user_id);",
    "CREATE INDEX web_links_enterprise ON web_links (enterprise_id, expires_at);",
    "CREATE TABLE enterprise_sessions (
        id_hash BYTEA PRIMARY KEY,
        user_id TEXT NOT NULL,
        enterprise_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        last_seen BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
    ) WITHOUT ROWID;",
    "CREATE INDEX enterprise_sessions_expires ON enterprise_sessions (expires_at);",
    "CREATE INDEX users_enterprise ON users (enterprise_id);",
];

/// The months 2000-01 to 2100-12 (`month` = year × 100 + month; `[starts, ends)` in ms, China
/// Standard Time), as one statement that adds those missing.
pub fn calendar_months() -> String {
    use zhuqi_core::domain::text::days_from_civil;
    let start = |y: i64, m: u32| days_from_civil(y, m, 1) * 86_400_000 - 8 * 3_600_000;
    let rows: Vec<String> = (2000..=2100)
        .flat_map(|y| (1..=12u32).map(move |m| (y, m)))
        .map(|(y, m)| {
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            format!("({}, {}, {})", y * 100 + i64::from(m), start(y, m), start(ny, nm))
        })
        .collect();
    format!("INSERT INTO calendar_months (month, starts, ends) VALUES {} ON CONFLICT (month) DO NOTHING;", rows.join(", "))
}

/// Run after an upgrade from a version below [`REPROJECT_BELOW`]: the projections of the documents
/// stored are written again by the new code (`RelayStorage::reproject`), filling the tables and
/// columns the upgrade added. A counter, so that an upgrade cut off before the relay wrote them all
/// still asks for them.
pub const ASK_REPROJECT: &str =
    "INSERT INTO counters (name, value) VALUES ('reproject', 1) ON CONFLICT (name) DO NOTHING;";

/// The version that last added projection tables or columns ([`PROVINCE_SCALE`]).
pub const REPROJECT_BELOW: i64 = 11;

/// Every table of a fresh database but those of [`SIGN_IN_TABLES`], [`OFFICE_SETTINGS`],
/// [`PHOTO_REFS`], [`POLICY_REACH`], [`PROVINCE_SCALE`] and [`ENTERPRISE_WEB`].
pub const TABLES: &str = r#"
CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL) WITHOUT ROWID;
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
    password_hash TEXT,
    mobile TEXT,
    position TEXT,
    unit TEXT
) WITHOUT ROWID;

CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    last_seen_at BIGINT
) WITHOUT ROWID;
CREATE INDEX devices_user ON devices (user_id);
CREATE TABLE device_actors (actor BYTEA PRIMARY KEY, device_id TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX device_actors_device ON device_actors (device_id);
CREATE TABLE activation_codes (
    code_hash BYTEA PRIMARY KEY,
    user_id TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
) WITHOUT ROWID;

-- Documents and every accepted change (the audit trail: who, which device, when received).
CREATE TABLE docs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    snapshot BYTEA NOT NULL,
    snapshot_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL
) WITHOUT ROWID;
CREATE TABLE changes (
    seq BIGINT PRIMARY KEY,
    doc_id TEXT NOT NULL,
    hash BYTEA NOT NULL UNIQUE,
    bytes BYTEA NOT NULL,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    writer TEXT NOT NULL DEFAULT ''
);
CREATE INDEX changes_doc ON changes (doc_id, seq);
-- When the relay first stored each event of each document (the relay's time: a fact, where an
-- event's own time is its device's claim).
CREATE TABLE event_receipts (
    doc_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    change_seq BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (doc_id, event_id)
) WITHOUT ROWID;

-- Read scope (see scope.rs).
CREATE TABLE doc_keys (
    key TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    added_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    PRIMARY KEY (key, doc_id)
) WITHOUT ROWID;
CREATE INDEX doc_keys_last ON doc_keys (key, last_seq);
CREATE INDEX doc_keys_doc ON doc_keys (doc_id);
CREATE TABLE doc_key_removals (key TEXT NOT NULL, doc_id TEXT NOT NULL, seq BIGINT NOT NULL);
CREATE INDEX doc_key_removals_key ON doc_key_removals (key, seq);
CREATE TABLE user_key_events (user_id TEXT NOT NULL, key TEXT NOT NULL, seq BIGINT NOT NULL, added BOOLEAN NOT NULL);
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
    updated_at BIGINT NOT NULL
) WITHOUT ROWID;
CREATE INDEX enterprises_region ON enterprises (region_id);
CREATE INDEX enterprises_uscc ON enterprises (uscc);
CREATE TABLE assignments (
    enterprise_id TEXT NOT NULL,
    cadre_id TEXT NOT NULL,
    chief BOOLEAN NOT NULL,
    since BIGINT NOT NULL,
    PRIMARY KEY (enterprise_id, cadre_id)
) WITHOUT ROWID;
CREATE INDEX assignments_cadre ON assignments (cadre_id);
CREATE TABLE visits (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    cadre_id TEXT NOT NULL,
    date TEXT NOT NULL,
    recorded_at BIGINT NOT NULL,
    event_id TEXT,
    received_at BIGINT
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
    level BIGINT NOT NULL,
    department_id TEXT,
    deadline BIGINT,
    reported_by TEXT NOT NULL,
    reporter_role TEXT,
    reported_at BIGINT NOT NULL,
    accepted_at BIGINT,
    first_routed_at BIGINT,
    resolved_at BIGINT,
    confirmed_at BIGINT,
    closed_at BIGINT,
    rating BIGINT,
    urge_count BIGINT NOT NULL,
    escalation_count BIGINT NOT NULL,
    reopen_count BIGINT NOT NULL,
    follow_up_count BIGINT NOT NULL,
    conflict_count BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    confirmation TEXT,
    missed_deadline BIGINT
) WITHOUT ROWID;
CREATE INDEX problems_region ON problems (region_id, status);
CREATE INDEX problems_department ON problems (department_id, status);
CREATE INDEX problems_enterprise ON problems (enterprise_id);
CREATE TABLE problem_events (
    problem_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    by_user TEXT NOT NULL,
    role TEXT NOT NULL,
    device TEXT NOT NULL,
    at BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    received_at BIGINT,
    PRIMARY KEY (problem_id, position)
) WITHOUT ROWID;
CREATE TABLE task_notices (
    id TEXT PRIMARY KEY,
    region_id TEXT NOT NULL,
    title TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    deadline BIGINT NOT NULL,
    status TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE task_recipients (
    notice_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    acknowledged_at BIGINT,
    completed_at BIGINT,
    completed_by TEXT,
    PRIMARY KEY (notice_id, recipient)
) WITHOUT ROWID;
"#;

/// Version 5 of both stores: event receipts keyed by document and event (an event id borrowed from
/// another document must not borrow its arrival time), and each visit's event and arrival.
pub const RECEIPTS_BY_DOCUMENT: &[&str] = &[
    "CREATE TABLE event_receipts_by_doc (
        doc_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        change_seq BIGINT NOT NULL,
        received_at BIGINT NOT NULL,
        PRIMARY KEY (doc_id, event_id)
    ) WITHOUT ROWID;",
    "INSERT INTO event_receipts_by_doc (doc_id, event_id, change_seq, received_at)
        SELECT c.doc_id, r.event_id, r.change_seq, r.received_at
        FROM event_receipts r JOIN changes c ON c.seq = r.change_seq;",
    "DROP TABLE event_receipts;",
    "ALTER TABLE event_receipts_by_doc RENAME TO event_receipts;",
    // PostgreSQL keeps the primary key's index name through the rename; SQLite names it itself.
    "ALTER INDEX event_receipts_by_doc_pkey RENAME TO event_receipts_pkey;",
    "ALTER TABLE visits ADD COLUMN event_id TEXT;",
    "ALTER TABLE visits ADD COLUMN received_at BIGINT;",
];

/// The tables of sign-in throttling and dashboard sessions (also created by a migration).
pub const SIGN_IN_TABLES: &str = "
CREATE TABLE sign_in_failures (id BIGSERIAL PRIMARY KEY, key TEXT NOT NULL, at BIGINT NOT NULL);
CREATE INDEX sign_in_failures_key ON sign_in_failures (key, at);
CREATE INDEX sign_in_failures_at ON sign_in_failures (at);
CREATE TABLE known_sign_ins (key TEXT PRIMARY KEY, at BIGINT NOT NULL) WITHOUT ROWID;
CREATE INDEX known_sign_ins_at ON known_sign_ins (at);
CREATE TABLE web_sessions (
    id_hash BYTEA PRIMARY KEY,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
) WITHOUT ROWID;
";

/// `sql` (of this module) as `dialect` spells it.
pub fn create(sql: &str, dialect: Dialect) -> String {
    match dialect {
        Dialect::Postgres => sql.replace(" WITHOUT ROWID", ""),
        // SQLite has no index renames (nor needs them: it names primary keys' indexes itself).
        Dialect::Sqlite if sql.starts_with("ALTER INDEX") => String::new(),
        Dialect::Sqlite => sql
            .replace("id BIGSERIAL PRIMARY KEY, ", "")
            .replace("BIGINT", "INTEGER")
            .replace("BOOLEAN", "INTEGER")
            .replace("BYTEA", "BLOB"),
    }
}
