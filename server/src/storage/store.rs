//! The relay's storage logic, written once: [`RelayStorage`] for every [`Backend`]. Each method is
//! statements (in the SQL both databases understand, see `db`) and, for a commit, a plan of plain
//! data (`plan`) that each backend executes its own way.

use super::db::{Backend, Db, Dialect, Query, Row, Value, args, select};
use super::plan::{self, OnConflict, Step};
use super::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use zhuqi_core::domain::photo::Taken;
use zhuqi_core::domain::{CalendarDay, Department, OfficeSettings, Region, RegionLevel, Role};

const USER_COLS: &str =
    "u.id, u.name, u.role, u.region_id, u.department_id, u.enterprise_id, u.mobile, u.position, u.unit";
/// How many columns [`USER_COLS`] names.
const USER_COL_COUNT: usize = 9;

fn user_row(r: &mut Row, o: usize) -> Result<User> {
    let role: String = r.get(o + 2)?;
    Ok(User {
        id: r.get(o)?,
        name: r.get(o + 1)?,
        role: Role::parse(&role).ok_or_else(|| StorageError::Corrupt(format!("role {role}")))?,
        region_id: r.get(o + 3)?,
        department_id: r.get(o + 4)?,
        enterprise_id: r.get(o + 5)?,
        mobile: r.get(o + 6)?,
        position: r.get(o + 7)?,
        unit: r.get(o + 8)?,
    })
}

fn kind_of(kind: String) -> Result<DocKind> {
    DocKind::parse(&kind).ok_or_else(|| StorageError::Corrupt(format!("kind {kind}")))
}

fn assignments_query(user: &User) -> Option<Query<'static>> {
    (user.role == Role::Cadre).then(|| ("SELECT enterprise_id FROM assignments WHERE cadre_id = $1", args![&user.id]))
}

/// The regions whose policies reach the user (see `scope`): their own region (a cadre's or
/// manager's, a department's, an enterprise contact's enterprise's) and every region above it.
fn policy_regions_query(user: &User) -> Query<'static> {
    let sql = "WITH RECURSIVE up(id, parent_id, depth) AS (
                   SELECT id, parent_id, 0 FROM regions WHERE id = COALESCE(
                       CAST($1 AS TEXT),
                       (SELECT region_id FROM departments WHERE id = $2),
                       (SELECT region_id FROM enterprises WHERE id = $3))
                   UNION ALL
                   SELECT r.id, r.parent_id, up.depth + 1 FROM regions r JOIN up ON r.id = up.parent_id WHERE up.depth < 16)
               SELECT id FROM up";
    (sql, args![&user.region_id, &user.department_id, &user.enterprise_id])
}

/// A user's scope keys, from the answers of `assignments_query` and `policy_regions_query`.
fn keys_of(user: &User, assigned: Option<Vec<Row>>, policy_regions: Vec<Row>) -> Result<Vec<String>> {
    let mut keys = crate::storage::scope::static_user_keys(user);
    for mut r in assigned.unwrap_or_default() {
        keys.push(format!("ent:{}", r.get::<String>(0)?));
    }
    if !matches!(user.role, Role::Unknown(_)) {
        for mut r in policy_regions {
            keys.push(format!("policy:{}", r.get::<String>(0)?));
        }
    }
    Ok(keys)
}

/// Reads every row of `sql` with `f`.
fn rows_of<T>(db: &mut dyn Db, sql: &str, params: Vec<Value>, f: impl FnMut(Row) -> Result<T>) -> Result<Vec<T>> {
    db.query(sql, params)?.into_iter().map(f).collect()
}

impl<B: Backend> RelayStorage for B {
    fn listen(&self, sink: ChangeSink) {
        Backend::listen(self, sink)
    }

    fn after_bulk_load(&self) -> Result<()> {
        Backend::after_bulk_load(self)
    }

    fn reproject(&self) -> Result<u64> {
        let asked = self.read(|db| db.opt("SELECT value FROM counters WHERE name = 'reproject'", vec![]))?;
        if asked.is_none() {
            return Ok(0);
        }
        let kinds = vec![DocKind::Enterprise.as_str().to_owned(), DocKind::Policy.as_str().to_owned()];
        let ids: Vec<String> = self.read(|db| {
            rows_of(db, "SELECT id FROM docs WHERE kind = ANY($1) ORDER BY id", args![kinds], |mut r| r.get(0))
        })?;
        // A chunk is read and written in one transaction that holds its documents as a push does: a
        // push of another relay meanwhile can't be overwritten by an older projection.
        for chunk in ids.chunks(200) {
            self.write(|db| {
                self.lock_docs(db, &chunk.iter().map(String::as_str).collect::<Vec<_>>())?;
                let mut steps = Vec::new();
                for id in chunk {
                    let mut rows = db
                        .query(
                            "SELECT d.kind, d.snapshot, c.bytes FROM docs d
                             LEFT JOIN changes c ON c.doc_id = d.id AND c.seq > d.snapshot_seq
                             WHERE d.id = $1 ORDER BY c.seq",
                            args![id],
                        )?
                        .into_iter();
                    let Some(mut first) = rows.next() else { continue };
                    let kind = kind_of(first.get(0)?)?;
                    let corrupt = |e: automerge::AutomergeError| StorageError::Corrupt(format!("document {id}: {e}"));
                    let mut doc = automerge::Automerge::load(&first.get::<Vec<u8>>(1)?).map_err(corrupt)?;
                    for bytes in std::iter::once(first.get::<Option<Vec<u8>>>(2)?)
                        .chain(rows.map(|mut r| r.get(2)).collect::<Result<Vec<_>>>()?)
                        .flatten()
                    {
                        doc.load_incremental(&bytes).map_err(corrupt)?;
                    }
                    let document = zhuqi_core::document::Document::from_automerge(doc);
                    steps.extend(plan::projection(id, &super::projection::project(kind, &document)));
                }
                db.run(&steps)
            })?;
        }
        self.write(|db| db.execute("DELETE FROM counters WHERE name = 'reproject'", vec![]).map(drop))?;
        Ok(ids.len() as u64)
    }

    fn directory(&self) -> Result<(Directory, u64)> {
        self.snapshot(|db| {
            let users = format!("SELECT {USER_COLS} FROM users u ORDER BY u.id");
            let [regions, departments, users, settings, calendar, version] = db.query_all([
                ("SELECT id, name, level, parent_id FROM regions ORDER BY id", vec![]),
                ("SELECT id, name, region_id FROM departments ORDER BY id", vec![]),
                (users.as_str(), vec![]),
                ("SELECT region_id, answer_days, working_days FROM office_settings ORDER BY region_id", vec![]),
                ("SELECT date, working, name FROM calendar_days ORDER BY date", vec![]),
                (db::COUNTER, args!["directory"]),
            ])?;
            let regions = regions
                .into_iter()
                .map(|mut r| {
                    let level: String = r.get(2)?;
                    Ok(Region {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        level: RegionLevel::from_stored(&level),
                        parent_id: r.get(3)?,
                    })
                })
                .collect::<Result<_>>()?;
            let departments = departments
                .into_iter()
                .map(|mut r| Ok(Department { id: r.get(0)?, name: r.get(1)?, region_id: r.get(2)? }))
                .collect::<Result<_>>()?;
            let users = users.into_iter().map(|mut r| user_row(&mut r, 0)).collect::<Result<_>>()?;
            let settings = settings
                .into_iter()
                .map(|mut r| {
                    Ok(OfficeSettings { region_id: r.get(0)?, answer_days: r.get(1)?, working_days: r.get(2)? })
                })
                .collect::<Result<_>>()?;
            let calendar = calendar
                .into_iter()
                .map(|mut r| Ok(CalendarDay { date: r.get(0)?, working: r.get(1)?, name: r.get(2)? }))
                .collect::<Result<_>>()?;
            let version = version.into_iter().next().map(|mut r| r.get(0)).transpose()?.unwrap_or(0);
            Ok((Directory { regions, departments, users, settings, calendar }, version))
        })
    }

    fn directory_version(&self) -> Result<u64> {
        self.read(|db| db.counter("directory"))
    }

    fn upsert_directory(&self, d: &Directory, accounts: &[Account]) -> Result<u64> {
        self.write(|db| {
            let mut steps = Vec::new();
            let regions = d.regions.iter().map(|r| args![&r.id, &r.name, r.level.as_str(), &r.parent_id]);
            if !d.regions.is_empty() {
                let columns = &["id", "name", "level", "parent_id"];
                steps.push(plan::rows("regions", columns, OnConflict::Update(&["id"]), regions.collect()));
            }
            if !d.departments.is_empty() {
                let departments = d.departments.iter().map(|x| args![&x.id, &x.name, &x.region_id]).collect();
                let columns = &["id", "name", "region_id"];
                steps.push(plan::rows("departments", columns, OnConflict::Update(&["id"]), departments));
            }
            if !d.settings.is_empty() {
                let settings = d.settings.iter().map(|o| args![&o.region_id, o.answer_days, o.working_days]).collect();
                let columns = &["region_id", "answer_days", "working_days"];
                steps.push(plan::rows("office_settings", columns, OnConflict::Update(&["region_id"]), settings));
            }
            if !d.calendar.is_empty() {
                let days = d.calendar.iter().map(|c| args![&c.date, c.working, &c.name]).collect();
                steps.push(plan::rows(
                    "calendar_days",
                    &["date", "working", "name"],
                    OnConflict::Update(&["date"]),
                    days,
                ));
            }
            for a in accounts {
                let u = &a.user;
                let taken: Option<String> = db.column("SELECT id FROM users WHERE login = $1", args![&a.login])?.pop();
                if taken.is_some_and(|id| id != u.id) {
                    return Err(StorageError::Conflict(format!("login {} is taken", a.login)));
                }
                steps.push(Step::exec(
                    "users",
                    "INSERT INTO users (id, login, name, role, region_id, department_id, enterprise_id, password_hash,
                         mobile, position, unit)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     ON CONFLICT (id) DO UPDATE SET login = excluded.login, name = excluded.name, role = excluded.role,
                         region_id = excluded.region_id, department_id = excluded.department_id,
                         enterprise_id = excluded.enterprise_id,
                         password_hash = COALESCE(excluded.password_hash, users.password_hash),
                         mobile = excluded.mobile, position = excluded.position, unit = excluded.unit",
                    args![
                        &u.id,
                        &a.login,
                        &u.name,
                        u.role.as_str(),
                        &u.region_id,
                        &u.department_id,
                        &u.enterprise_id,
                        &a.password_hash,
                        &u.mobile,
                        &u.position,
                        &u.unit
                    ],
                ));
            }
            db.run(&steps)?;
            db.one("UPDATE counters SET value = value + 1 WHERE name = 'directory' RETURNING value", vec![])
        })
    }

    fn account_by_login(&self, login: &str) -> Result<Option<Account>> {
        let sql = format!("SELECT {USER_COLS}, u.login, u.password_hash FROM users u WHERE u.login = $1");
        self.read(|db| {
            db.opt(&sql, args![login])?
                .map(|mut r| {
                    let (login, password_hash) = (r.get(USER_COL_COUNT)?, r.get(USER_COL_COUNT + 1)?);
                    Ok(Account { user: user_row(&mut r, 0)?, login, password_hash })
                })
                .transpose()
        })
    }

    fn set_password(&self, user_id: &str, hash: &str) -> Result<bool> {
        self.write(|db| Ok(db.execute("UPDATE users SET password_hash = $2 WHERE id = $1", args![user_id, hash])? > 0))
    }

    fn record_failed_sign_in(&self, keys: &[String], at: i64) -> Result<()> {
        self.write(|db| {
            let rows = keys.iter().map(|k| args![k, at]).collect();
            db.run(&[plan::rows("sign_in_failures", &["key", "at"], OnConflict::Insert, rows)])?;
            db.execute("DELETE FROM sign_in_failures WHERE at < $1", args![at - FAILURE_MEMORY_MS])?;
            let id = if db.dialect() == Dialect::Sqlite { "rowid" } else { "id" };
            let oldest =
                format!("DELETE FROM sign_in_failures WHERE {id} <= (SELECT MAX({id}) FROM sign_in_failures) - $1");
            db.execute(&oldest, args![MAX_FAILURE_ROWS]).map(drop)
        })
    }

    fn sign_in_failures(&self, keys: &[String], since: i64) -> Result<Vec<(u32, i64)>> {
        self.read(|db| {
            let sql = "SELECT COUNT(*), COALESCE(MAX(at), 0) FROM sign_in_failures WHERE key = $1 AND at >= $2";
            let answers = db.query_many(keys.iter().map(|k| (sql, args![k, since])).collect())?;
            answers.into_iter().flatten().map(|mut r| Ok((r.get(0)?, r.get(1)?))).collect()
        })
    }

    fn forget_sign_in_failures(&self, key: &str) -> Result<()> {
        self.write(|db| db.execute("DELETE FROM sign_in_failures WHERE key = $1", args![key]).map(drop))
    }

    fn note_sign_in(&self, key: &str, at: i64) -> Result<()> {
        self.write(|db| {
            let sql =
                "INSERT INTO known_sign_ins (key, at) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET at = excluded.at";
            db.execute(sql, args![key, at])?;
            db.execute("DELETE FROM known_sign_ins WHERE at < $1", args![at - KNOWN_SIGN_IN_MS]).map(drop)
        })
    }

    fn signed_in_before(&self, key: &str, since: i64) -> Result<bool> {
        self.read(|db| db.exists("SELECT 1 FROM known_sign_ins WHERE key = $1 AND at >= $2", args![key, since]))
    }

    fn create_web_session(&self, s: &WebSession) -> Result<()> {
        self.write(|db| {
            db.execute(
                "INSERT INTO web_sessions (id_hash, user_id, created_at, last_seen, expires_at) VALUES ($1, $2, $3, $3, $4)",
                args![&s.id_hash, &s.user_id, s.created_at, s.expires_at],
            )?;
            db.execute("DELETE FROM web_sessions WHERE expires_at < $1", args![s.created_at]).map(drop)
        })
    }

    fn web_session(&self, id_hash: &[u8], now: i64, idle_ms: i64) -> Result<Option<String>> {
        self.write(|db| {
            let sql = "UPDATE web_sessions SET last_seen = $2
                       WHERE id_hash = $1 AND expires_at > $2 AND last_seen >= $3 RETURNING user_id";
            Ok(db.column(sql, args![id_hash, now, now - idle_ms])?.pop())
        })
    }

    fn end_web_session(&self, id_hash: &[u8]) -> Result<()> {
        self.write(|db| db.execute("DELETE FROM web_sessions WHERE id_hash = $1", args![id_hash]).map(drop))
    }

    fn create_device(&self, d: &NewDevice) -> Result<()> {
        self.write(|db| {
            db.execute(
                "INSERT INTO devices (id, user_id, name, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                args![&d.id, &d.user_id, &d.name, &d.token_hash, d.created_at, d.expires_at],
            )
            .map(drop)
        })
    }

    fn session(&self, token_hash: &[u8]) -> Result<Option<Session>> {
        let sql = format!(
            "SELECT d.id, d.revoked_at IS NOT NULL, d.expires_at, {USER_COLS}
             FROM devices d JOIN users u ON u.id = d.user_id WHERE d.token_hash = $1"
        );
        self.read(|db| {
            db.opt(&sql, args![token_hash])?
                .map(|mut r| {
                    Ok(Session {
                        device_id: r.get(0)?,
                        revoked: r.get(1)?,
                        expires_at: r.get(2)?,
                        user: user_row(&mut r, 3)?,
                    })
                })
                .transpose()
        })
    }

    fn revoke_device(&self, device_id: &str) -> Result<bool> {
        let now = crate::now_ms();
        self.write(|db| {
            let sql = "UPDATE devices SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1";
            Ok(db.execute(sql, args![device_id, now])? > 0)
        })
    }

    fn devices_of(&self, user_id: &str) -> Result<Vec<(String, String, i64, bool)>> {
        self.read(|db| {
            let sql = "SELECT id, name, created_at, revoked_at IS NOT NULL FROM devices WHERE user_id = $1 ORDER BY created_at";
            rows_of(db, sql, args![user_id], |mut r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        })
    }

    fn bind_actor(&self, device_id: &str, actor: &[u8]) -> Result<bool> {
        const OWNER: &str = "SELECT device_id FROM device_actors WHERE actor = $1";
        if let Some(owner) = self.read(|db| db.column::<String>(OWNER, args![actor]))?.pop() {
            return Ok(owner == device_id);
        }
        self.write(|db| {
            let sql = "INSERT INTO device_actors (actor, device_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
            db.execute(sql, args![actor, device_id])?;
            Ok(db.column::<String>(OWNER, args![actor])?.pop().as_deref() == Some(device_id))
        })
    }

    fn device_actors(&self, device_id: &str) -> Result<Vec<Vec<u8>>> {
        self.read(|db| db.column(DEVICE_ACTORS, args![device_id]))
    }

    fn create_activation_code(&self, code_hash: &[u8], user_id: &str, issued_by: &str, expires_at: i64) -> Result<()> {
        self.write(|db| {
            // One live code per contact: a new one replaces any unused one; long-expired codes go.
            db.execute("DELETE FROM activation_codes WHERE user_id = $1 AND used_at IS NULL", args![user_id])?;
            db.execute("DELETE FROM activation_codes WHERE expires_at < $1", args![expires_at - 2 * CODE_KEPT_MS])?;
            db.execute(
                "INSERT INTO activation_codes (code_hash, user_id, issued_by, expires_at) VALUES ($1, $2, $3, $4)",
                args![code_hash, user_id, issued_by, expires_at],
            )
            .map(drop)
        })
    }

    fn consume_activation_code(&self, code_hash: &[u8], now: i64) -> Result<Option<String>> {
        self.write(|db| {
            let sql = "UPDATE activation_codes SET used_at = $2
                       WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id";
            Ok(db.column(sql, args![code_hash, now])?.pop())
        })
    }

    fn connected_devices(&self, since: i64) -> Result<u64> {
        self.read(|db| {
            db.one("SELECT COUNT(*) FROM devices WHERE revoked_at IS NULL AND last_seen_at >= $1", args![since])
        })
    }

    fn touch_devices(&self, device_ids: &[String], at: i64) -> Result<()> {
        self.write(|db| {
            if db.dialect() == Dialect::Postgres {
                // A last-seen time is not worth a disk flush of its own.
                db.execute("SET LOCAL synchronous_commit = off", vec![])?;
            }
            db.execute("UPDATE devices SET last_seen_at = $2 WHERE id = ANY($1)", args![device_ids, at]).map(drop)
        })
    }

    fn load_doc(&self, doc_id: &str) -> Result<Option<StoredDoc>> {
        self.read(|db| {
            let sql = "SELECT kind, snapshot, snapshot_seq, last_seq FROM docs WHERE id = $1";
            db.opt(sql, args![doc_id])?.map(|mut r| stored_doc(&mut r)).transpose()
        })
    }

    fn load_doc_with_changes(&self, doc_id: &str) -> Result<Option<(StoredDoc, Vec<StoredChange>)>> {
        // One statement: the document's row first, then its changes after the snapshot.
        let rows = self.read(|db| {
            db.query(
                "SELECT kind, snapshot, snapshot_seq, last_seq, CAST(NULL AS BIGINT) AS seq, CAST(NULL AS BYTEA) AS bytes
                 FROM docs WHERE id = $1
                 UNION ALL
                 SELECT NULL, NULL, NULL, NULL, c.seq, c.bytes
                 FROM docs d JOIN changes c ON c.doc_id = d.id AND c.seq > d.snapshot_seq WHERE d.id = $1
                 ORDER BY seq NULLS FIRST",
                args![doc_id],
            )
        })?;
        let mut rows = rows.into_iter();
        let Some(mut first) = rows.next() else { return Ok(None) };
        let later = rows.map(|mut r| Ok((r.get(4)?, r.get(5)?))).collect::<Result<_>>()?;
        Ok(Some((stored_doc(&mut first)?, later)))
    }

    fn changes_after(&self, doc_id: &str, after: u64) -> Result<Vec<(u64, Vec<u8>)>> {
        self.read(|db| {
            let sql = "SELECT seq, bytes FROM changes WHERE doc_id = $1 AND seq > $2 ORDER BY seq";
            rows_of(db, sql, args![doc_id, after], |mut r| Ok((r.get(0)?, r.get(1)?)))
        })
    }

    fn known_hashes(&self, hashes: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|db| db.column(KNOWN_HASHES, args![hashes.to_vec()]))
    }

    fn commit(&self, commits: &[&Commit]) -> Result<Vec<u64>> {
        let docs: Vec<&str> = commits.iter().flat_map(|c| &c.docs).map(|d| d.doc_id.as_str()).collect();
        let out = self.write_changes(&docs, |db| write_commits(self, db, commits))?;
        self.after_commit(commits, &out);
        Ok(out)
    }

    fn user_keys(&self, user: &User) -> Result<Vec<String>> {
        self.read(|db| {
            let mut queries = vec![policy_regions_query(user)];
            queries.extend(assignments_query(user));
            let mut answers = db.query_many(queries)?.into_iter();
            let policy_regions = answers.next().unwrap_or_default();
            keys_of(user, answers.next(), policy_regions)
        })
    }

    fn sync_context(&self, user: &User, device_id: &str) -> Result<SyncContext> {
        self.read(|db| {
            let mut queries =
                vec![(db::COUNTER, args!["directory"]), (DEVICE_ACTORS, args![device_id]), policy_regions_query(user)];
            queries.extend(assignments_query(user));
            let mut answers = db.query_many(queries)?.into_iter();
            let mut next = || answers.next().unwrap_or_default();
            let directory_version = next().pop().map(|mut r| r.get(0)).transpose()?.unwrap_or(0);
            let actors = next().into_iter().map(|mut r| r.get(0)).collect::<Result<_>>()?;
            let policy_regions = next();
            let assigned = (user.role == Role::Cadre).then(next);
            Ok(SyncContext { keys: keys_of(user, assigned, policy_regions)?, directory_version, actors })
        })
    }

    fn pull(&self, user_id: &str, keys: &[String], cursor: u64, device_id: &str, budget: usize) -> Result<Pull> {
        self.at_horizon(|db, horizon| pull(db, user_id, keys, cursor, device_id, budget, horizon))
    }

    fn doc_in_scope(&self, doc_id: &str, keys: &[String]) -> Result<bool> {
        Ok(!self.docs_in_scope(&[doc_id], keys)?.is_empty())
    }

    fn docs_in_scope(&self, doc_ids: &[&str], keys: &[String]) -> Result<Vec<String>> {
        if keys.is_empty() || doc_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = doc_ids.iter().map(|d| (*d).to_owned()).collect();
        self.read(|db| db.column(IN_SCOPE, args![ids, keys]))
    }

    fn current_seq(&self) -> Result<u64> {
        self.at_horizon(|db, horizon| db.one(TOP, args![horizon]))
    }

    fn enterprise_region(&self, enterprise_id: &str) -> Result<Option<String>> {
        self.read(|db| Ok(db.column("SELECT region_id FROM enterprises WHERE id = $1", args![enterprise_id])?.pop()))
    }

    fn enterprise_by_uscc(&self, uscc: &str) -> Result<Option<String>> {
        self.read(|db| Ok(db.column("SELECT id FROM enterprises WHERE uscc = $1", args![uscc])?.pop()))
    }

    fn document_count(&self) -> Result<u64> {
        self.read(|db| db.one("SELECT COUNT(*) FROM docs", vec![]))
    }

    fn problem_facts(&self) -> Result<Vec<ProblemFact>> {
        self.read(|db| {
            select!(db, ProblemFact {
                id, region_id, department_id, status, reported_at, resolved_at, deadline, confirmed_at, rating,
                confirmation, closed_at, missed_deadline, resolution_received_at, reporter_role, escalation_count
            } FROM "problems", vec![])
        })
    }

    fn visit_facts(&self) -> Result<Vec<VisitFact>> {
        let rows = self.read(|db| {
            db.query(
                "SELECT v.enterprise_id, e.region_id, v.cadre_id, v.date, v.received_at \
                 FROM visits v JOIN enterprises e ON e.id = v.enterprise_id",
                vec![],
            )
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for mut r in rows {
            let date: String = r.get(3)?;
            let Ok(day) = zhuqi_core::domain::text::parse_date("date", &date) else { continue };
            let (enterprise_id, region_id, cadre_id, received_at) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(4)?);
            let day = day * 86_400_000 - 8 * 3_600_000;
            out.push(VisitFact { enterprise_id, region_id, cadre_id, day, received_at });
        }
        Ok(out)
    }

    fn problem_rows(&self) -> Result<Vec<ProblemRow>> {
        self.read(|db| {
            select!(db, ProblemRow {
                id, enterprise_id, enterprise_name, region_id, category, title, description, status, level,
                department_id, deadline, reported_at, resolved_at, rating, urge_count, conflict_count
            } FROM "problems ORDER BY reported_at DESC, id", vec![])
        })
    }

    fn event_receipts(&self, problem_id: &str) -> Result<Vec<(String, i64)>> {
        self.read(|db| {
            let sql =
                "SELECT event_id, received_at FROM problem_events WHERE problem_id = $1 AND received_at IS NOT NULL";
            rows_of(db, sql, args![problem_id], |mut r| Ok((r.get(0)?, r.get(1)?)))
        })
    }

    fn receipts(&self, doc_ids: &[String], event_ids: &[String]) -> Result<Vec<(String, String, i64)>> {
        if doc_ids.is_empty() || event_ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|db| {
            let sql = "SELECT doc_id, event_id, received_at FROM event_receipts WHERE doc_id = ANY($1) AND event_id = ANY($2)";
            rows_of(db, sql, args![doc_ids.to_vec(), event_ids.to_vec()], |mut r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        })
    }

    fn assignments(&self) -> Result<Vec<(String, String, bool)>> {
        self.read(|db| {
            let sql = "SELECT enterprise_id, cadre_id, chief FROM assignments ORDER BY enterprise_id, cadre_id";
            rows_of(db, sql, vec![], |mut r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        })
    }

    fn enterprise_rows(&self) -> Result<Vec<(String, String, String)>> {
        self.read(|db| {
            let sql = "SELECT id, name, region_id FROM enterprises ORDER BY name, id";
            rows_of(db, sql, vec![], |mut r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        })
    }

    fn photo_refs(&self, sha256: &str) -> Result<Vec<(String, u64)>> {
        self.read(|db| {
            let sql = "SELECT DISTINCT doc_id, size FROM photo_refs WHERE sha256 = $1 ORDER BY doc_id, size";
            rows_of(db, sql, args![sha256], |mut r| Ok((r.get(0)?, r.get(1)?)))
        })
    }

    fn photo_regions(&self, sha256: &str) -> Result<Vec<String>> {
        self.read(|db| {
            let sql = "SELECT e.region_id FROM photo_refs r JOIN enterprises e ON e.id = r.doc_id WHERE r.sha256 = $1
                       UNION SELECT p.region_id FROM photo_refs r JOIN problems p ON p.id = r.doc_id WHERE r.sha256 = $1";
            db.column(sql, args![sha256])
        })
    }

    fn photos_received(&self, since: i64, before: i64, limit: u32) -> Result<Vec<PhotoRow>> {
        self.read(|db| {
            // One row per photo and document (a visit's photo named again by its correction, or
            // carried over from version 8, counts once), at its first receipt.
            let sql = "SELECT r.sha256, MIN(COALESCE(e.id, p.enterprise_id)), MIN(COALESCE(e.name, p.enterprise_name)),
                              MIN(COALESCE(e.region_id, p.region_id)), MIN(p.id), MIN(r.event_id), MIN(r.author_id),
                              MIN(r.received_at)
                       FROM photo_refs r
                       LEFT JOIN enterprises e ON e.id = r.doc_id
                       LEFT JOIN problems p ON p.id = r.doc_id
                       WHERE r.received_at >= $1 AND r.received_at < $2 AND (e.id IS NOT NULL OR p.id IS NOT NULL)
                       GROUP BY r.sha256, r.doc_id
                       ORDER BY MIN(r.received_at), r.sha256, r.doc_id
                       LIMIT $3";
            rows_of(db, sql, args![since, before, i64::from(limit)], |mut r| {
                Ok(PhotoRow {
                    sha256: r.get(0)?,
                    enterprise_id: r.get(1)?,
                    enterprise_name: r.get(2)?,
                    region_id: r.get(3)?,
                    problem_id: r.get(4)?,
                    event_id: r.get(5)?,
                    author_id: r.get(6)?,
                    received_at: r.get(7)?,
                })
            })
        })
    }

    fn photo_taken(&self, sha256: &str) -> Result<Option<Taken>> {
        self.read(|db| {
            let sql = "SELECT taken_at, taken_lat_e7, taken_lon_e7 FROM photos WHERE sha256 = $1";
            let mut rows = rows_of(db, sql, args![sha256], |mut r| {
                let (at, lat, lon): (Option<i64>, Option<i64>, Option<i64>) = (r.get(0)?, r.get(1)?, r.get(2)?);
                let lat_lon = lat.zip(lon).map(|(lat, lon)| (lat as f64 / 1e7, lon as f64 / 1e7));
                Ok(Taken { at, lat_lon })
            })?;
            Ok(rows.pop())
        })
    }

    fn record_photo(&self, sha256: &str, taken: &Taken) -> Result<()> {
        let e7 = |v: f64| (v * 1e7).round() as i64;
        let (lat, lon) = (taken.lat_lon.map(|l| e7(l.0)), taken.lat_lon.map(|l| e7(l.1)));
        self.write(|db| {
            let sql = "INSERT INTO photos (sha256, taken_at, taken_lat_e7, taken_lon_e7) VALUES ($1, $2, $3, $4)
                       ON CONFLICT DO NOTHING";
            db.execute(sql, args![sha256, taken.at, lat, lon]).map(drop)
        })
    }

    fn task_notice_rows(&self) -> Result<Vec<(String, String, String, String, i64, i64, String)>> {
        self.read(|db| {
            let sql = "SELECT id, region_id, title, issued_by, issued_at, deadline, status FROM task_notices
                       ORDER BY issued_at DESC, id";
            rows_of(db, sql, vec![], |mut r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
            })
        })
    }

    fn task_recipient_rows(&self, notice_id: &str) -> Result<Vec<(String, Option<i64>, Option<i64>)>> {
        self.read(|db| {
            let sql = "SELECT recipient, acknowledged_at, completed_at FROM task_recipients WHERE notice_id = $1
                       ORDER BY recipient";
            rows_of(db, sql, args![notice_id], |mut r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        })
    }

    fn enterprises_per_region(&self) -> Result<Vec<(String, u32)>> {
        self.read(|db| {
            let sql = "SELECT region_id, COUNT(*) FROM enterprises GROUP BY region_id";
            rows_of(db, sql, vec![], |mut r| Ok((r.get(0)?, r.get(1)?)))
        })
    }

    fn policy_rows(&self) -> Result<Vec<PolicyRow>> {
        self.read(|db| {
            rows_of(db, &format!("SELECT {POLICY_COLS} FROM policies ORDER BY issued_at, id"), vec![], policy_row)
        })
    }

    fn enterprise_profiles(&self, regions: Option<&[String]>) -> Result<Vec<(String, zhuqi_core::domain::Profile)>> {
        self.read(|db| {
            let sql = "SELECT id, name, uscc, region_id, industry, tags, employees, revenue, founded
                       FROM enterprises WHERE $1 OR region_id = ANY($2)";
            let params = args![regions.is_none(), regions.unwrap_or_default()];
            rows_of(db, sql, params, |mut r| {
                let id = r.get(0)?;
                let tags: String = r.get(5)?;
                let profile = zhuqi_core::domain::Profile {
                    name: r.get(1)?,
                    uscc: r.get(2)?,
                    region_id: r.get(3)?,
                    industry: r.get(4)?,
                    tags: tags.split(',').filter(|t| !t.is_empty()).map(str::to_owned).collect(),
                    scale: zhuqi_core::domain::Scale { employees: r.get(6)?, revenue: r.get(7)?, founded: r.get(8)? },
                    ..Default::default()
                };
                Ok((id, profile))
            })
        })
    }

    fn enterprise_policy_rows(&self, regions: Option<&[String]>) -> Result<Vec<EnterprisePolicyRow>> {
        self.read(|db| {
            let sql = "SELECT k.enterprise_id, k.policy_id, k.told, k.mark
                       FROM enterprise_policies k JOIN enterprises e ON e.id = k.enterprise_id
                       WHERE $1 OR e.region_id = ANY($2)";
            let params = args![regions.is_none(), regions.unwrap_or_default()];
            rows_of(db, sql, params, |mut r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        })
    }

    fn with_snapshot(&self, f: &mut dyn FnMut(&mut dyn Db) -> Result<()>) -> Result<()> {
        self.snapshot(|db| f(db))
    }

    fn publish_figures(&self, period: &str, units: &[(String, String)], at: i64) -> Result<bool> {
        self.write(|db| super::figures::publish(db, period, units, at))
    }

    fn set_offline_window(&self, window_ms: i64) -> Result<bool> {
        self.write(|db| super::figures::set_offline_window(db, window_ms))
    }

    fn create_web_link(&self, l: &WebLink) -> Result<()> {
        self.write(|db| {
            // One live link per contact: a new one voids any unused one; long-expired links go.
            db.execute("DELETE FROM web_links WHERE user_id = $1 AND used_at IS NULL", args![&l.user_id])?;
            db.execute("DELETE FROM web_links WHERE expires_at < $1", args![l.issued_at - CODE_KEPT_MS])?;
            db.execute(
                "INSERT INTO web_links (code_hash, user_id, enterprise_id, issued_by, issued_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                args![&l.code_hash, &l.user_id, &l.enterprise_id, &l.issued_by, l.issued_at, l.expires_at],
            )
            .map(drop)
        })
    }

    fn web_link_live(&self, code_hash: &[u8], now: i64) -> Result<bool> {
        self.read(|db| {
            let sql = "SELECT 1 FROM web_links WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2";
            db.exists(sql, args![code_hash, now])
        })
    }

    fn sign_in_with_web_link(&self, code_hash: &[u8], now: i64, w: &WebSignIn) -> Result<Option<EnterpriseSession>> {
        self.write(|db| {
            let sql = "UPDATE web_links SET used_at = $2
                       WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id, enterprise_id";
            let Some(mut r) = db.opt(sql, args![code_hash, now])? else { return Ok(None) };
            let (user_id, enterprise_id): (String, String) = (r.get(0)?, r.get(1)?);
            db.execute(
                "INSERT INTO devices (id, user_id, name, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                args![&w.device_id, &user_id, &w.device_name, &w.device_token_hash, w.created_at, w.expires_at],
            )?;
            db.execute(
                "INSERT INTO enterprise_sessions (id_hash, user_id, enterprise_id, device_id, created_at, last_seen, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $5, $6)",
                args![&w.id_hash, &user_id, &enterprise_id, &w.device_id, w.created_at, w.expires_at],
            )?;
            db.execute("DELETE FROM enterprise_sessions WHERE expires_at < $1", args![w.created_at])?;
            Ok(Some(EnterpriseSession {
                id_hash: w.id_hash.clone(),
                user_id,
                enterprise_id,
                device_id: w.device_id.clone(),
                created_at: w.created_at,
                expires_at: w.expires_at,
            }))
        })
    }

    fn enterprise_session(&self, id_hash: &[u8], now: i64, idle_ms: i64) -> Result<Option<EnterpriseSession>> {
        self.write(|db| {
            let sql = "UPDATE enterprise_sessions SET last_seen = $2
                       WHERE id_hash = $1 AND expires_at > $2 AND last_seen >= $3
                       RETURNING user_id, enterprise_id, device_id, created_at, expires_at";
            db.opt(sql, args![id_hash, now, now - idle_ms])?
                .map(|mut r| {
                    Ok(EnterpriseSession {
                        id_hash: id_hash.to_vec(),
                        user_id: r.get(0)?,
                        enterprise_id: r.get(1)?,
                        device_id: r.get(2)?,
                        created_at: r.get(3)?,
                        expires_at: r.get(4)?,
                    })
                })
                .transpose()
        })
    }

    fn end_enterprise_session(&self, id_hash: &[u8], now: i64) -> Result<()> {
        self.write(|db| {
            let sql = "DELETE FROM enterprise_sessions WHERE id_hash = $1 RETURNING device_id";
            for device in db.column::<String>(sql, args![id_hash])? {
                let revoke = "UPDATE devices SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1";
                db.execute(revoke, args![&device, now])?;
            }
            Ok(())
        })
    }

    fn enterprise_reach(&self, enterprise_ids: &[String], now: i64) -> Result<Vec<Reach>> {
        if enterprise_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT e.id, e.name,
                (SELECT COUNT(*) FROM {CONTACT_DEVICES} AND {APP_DEVICE}),
                (SELECT COUNT(*) FROM {CONTACT_DEVICES} AND {WEB_DEVICE}),
                (SELECT MAX(d.created_at) FROM {CONTACT_DEVICES} AND ({APP_DEVICE} OR {WEB_DEVICE})),
                (SELECT MAX(w.expires_at) FROM web_links w
                 WHERE w.enterprise_id = e.id AND w.used_at IS NULL AND w.expires_at > $2)
             FROM enterprises e WHERE e.id = ANY($1) ORDER BY e.name, e.id"
        );
        self.read(|db| {
            rows_of(db, &sql, args![enterprise_ids, now], |mut r| {
                Ok(Reach {
                    enterprise_id: r.get(0)?,
                    enterprise_name: r.get(1)?,
                    app_devices: r.get(2)?,
                    web_sign_ins: r.get(3)?,
                    last_sign_in_at: r.get(4)?,
                    link_expires_at: r.get(5)?,
                })
            })
        })
    }

    fn unreached_enterprises(
        &self,
        regions: Option<&[String]>,
        limit: u32,
    ) -> Result<(Vec<(String, String, String)>, u64)> {
        let (filter, params) = match regions {
            Some(r) => ("e.region_id = ANY($1) AND ", args![r]),
            None => ("", vec![]),
        };
        let unreached = format!(
            "FROM enterprises e WHERE {filter}NOT EXISTS
                 (SELECT 1 FROM {CONTACT_DEVICES} AND ({APP_DEVICE} OR {WEB_DEVICE}))"
        );
        let count = format!("SELECT COUNT(*) {unreached}");
        let mut listed = params.clone();
        listed.push(limit.into());
        let list = format!("SELECT e.id, e.name, e.region_id {unreached} ORDER BY e.region_id, e.id LIMIT ${}", listed.len());
        self.snapshot(|db| {
            let [rows, total] = db.query_all([(list.as_str(), listed), (count.as_str(), params)])?;
            let rows = rows.into_iter().map(|mut r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).collect::<Result<_>>()?;
            let total = total.into_iter().next().map(|mut r| r.get(0)).transpose()?.unwrap_or(0);
            Ok((rows, total))
        })
    }

    fn enterprise_problems(&self, enterprise_id: &str, limit: u32) -> Result<Vec<ProblemRow>> {
        self.read(|db| {
            select!(db, ProblemRow {
                id, enterprise_id, enterprise_name, region_id, category, title, description, status, level,
                department_id, deadline, reported_at, resolved_at, rating, urge_count, conflict_count
            } FROM "problems WHERE enterprise_id = $1 AND status NOT IN ('withdrawn', 'merged')
                    ORDER BY reported_at DESC, id DESC LIMIT $2", args![enterprise_id, limit])
        })
    }

    fn policies_of_regions(&self, regions: &[String]) -> Result<Vec<PolicyRow>> {
        self.read(|db| {
            let sql = format!("SELECT {POLICY_COLS} FROM policies WHERE region_id = ANY($1) ORDER BY issued_at, id");
            rows_of(db, &sql, args![regions], policy_row)
        })
    }
}

/// The devices of an enterprise `e`'s contacts (`d`), for the reach's subqueries.
const CONTACT_DEVICES: &str =
    "users u JOIN devices d ON d.user_id = u.id WHERE u.enterprise_id = e.id AND u.role = 'enterprise_contact'";
/// A device an app registered: not one the relay acts or imports through, not a browser's (the
/// prefixes of `sync::author`).
const APP_DEVICE: &str = "d.id NOT LIKE 'relay:%' AND d.id NOT LIKE 'import:%' AND d.id NOT LIKE 'web:%'";
/// A browser signed in with a web link.
const WEB_DEVICE: &str = "d.id LIKE 'web:%'";

const POLICY_COLS: &str = "id, region_id, title, issuer, doc_number, valid_from, valid_until, criteria, withdrawn_at";

/// A policy's row, from [`POLICY_COLS`].
fn policy_row(mut r: Row) -> Result<PolicyRow> {
    let id: String = r.get(0)?;
    let criteria: String = r.get(7)?;
    let criteria =
        serde_json::from_str(&criteria).map_err(|e| StorageError::Corrupt(format!("criteria of policy {id}: {e}")))?;
    Ok(PolicyRow {
        region_id: r.get(1)?,
        title: r.get(2)?,
        issuer: r.get(3)?,
        doc_number: r.get(4)?,
        valid_from: r.get(5)?,
        valid_until: r.get(6)?,
        criteria,
        withdrawn_at: r.get(8)?,
        id,
    })
}

const DEVICE_ACTORS: &str = "SELECT actor FROM device_actors WHERE device_id = $1";
const KNOWN_HASHES: &str = "SELECT hash FROM changes WHERE hash = ANY($1)";
const IN_SCOPE: &str = "SELECT DISTINCT doc_id FROM doc_keys WHERE doc_id = ANY($1) AND key = ANY($2)";

fn stored_doc(r: &mut Row) -> Result<StoredDoc> {
    Ok(StoredDoc { kind: kind_of(r.get(0)?)?, snapshot: r.get(1)?, snapshot_seq: r.get(2)?, last_seq: r.get(3)? })
}

/// Stores pushes in the caller's transaction (of `Backend::write_changes`, which holds their
/// documents); returns, for each, the sequence number of its last write. Reads what the writes
/// depend on first, then takes the numbers of the new changes, then executes the change log as one
/// plan and every document's rows as another.
fn write_commits(backend: &impl Backend, db: &mut dyn Db, commits: &[&Commit]) -> Result<Vec<u64>> {
    let writer = backend.writer_id();
    let writes: Vec<&DocWrite> = commits.iter().flat_map(|c| &c.docs).collect();
    // 1. Writes computed from copies another relay has changed since are refused; changes stored
    // already (a retried push) are skipped; enterprises' stored assignments are compared.
    let hashes: Vec<Vec<u8>> = writes.iter().flat_map(|d| &d.changes).map(|c| c.hash.clone()).collect();
    let enterprises: Vec<String> =
        writes.iter().filter(|d| plan::assigned(&d.projection).is_some()).map(|d| d.doc_id.clone()).collect();
    let mut queries = vec![
        (KNOWN_HASHES, args![hashes]),
        (
            "SELECT enterprise_id, cadre_id, chief, since FROM assignments WHERE enterprise_id = ANY($1)",
            args![enterprises],
        ),
    ];
    const STALE: &str = "SELECT doc_id FROM changes WHERE doc_id = $1 AND seq > $2 AND writer <> $3 LIMIT 1";
    queries.extend(writes.iter().map(|d| (STALE, args![&d.doc_id, d.base_seq, writer])));
    let mut answers = db.query_many(queries)?.into_iter();
    let mut stored: HashSet<Vec<u8>> =
        answers.next().unwrap_or_default().into_iter().map(|mut r| r.get(0)).collect::<Result<_>>()?;
    let mut assigned: HashMap<String, plan::Assignments> = HashMap::new();
    for mut r in answers.next().unwrap_or_default() {
        let (enterprise, cadre): (String, String) = (r.get(0)?, r.get(1)?);
        assigned.entry(enterprise).or_default().insert(cadre, (r.get(2)?, r.get(3)?));
    }
    for (d, mut found) in writes.iter().zip(answers) {
        if let Some(r) = found.first_mut() {
            return Err(StorageError::Stale(r.get(0).unwrap_or_else(|_| d.doc_id.clone())));
        }
    }

    // 2. Number the new changes (not those stored already, nor one given twice), in order; the rows
    // of a document are written for each of its writes that added any, in order.
    let new: Vec<bool> = writes.iter().flat_map(|d| &d.changes).map(|ch| stored.insert(ch.hash.clone())).collect();
    let (first, numbers) = backend.take_numbers(db, new.iter().filter(|n| **n).count())?;
    let (mut new, mut numbers) = (new.into_iter(), numbers.into_iter());
    let mut seq = first;
    let mut out = Vec::with_capacity(commits.len());
    let (mut changes, mut receipts, mut docs) = (Vec::new(), Vec::new(), Vec::new());
    for c in commits {
        let mut written = Vec::new();
        for d in &c.docs {
            let before = seq;
            for ch in &d.changes {
                if !new.next().unwrap_or(false) {
                    continue;
                }
                seq = numbers.next().ok_or_else(|| StorageError::Corrupt("too few sequence numbers".into()))?;
                changes.push(args![
                    seq,
                    &d.doc_id,
                    &ch.hash,
                    &ch.bytes,
                    &c.user_id,
                    &c.device_id,
                    c.received_at,
                    writer
                ]);
                receipts.extend(ch.events.iter().map(|(e, at)| args![&d.doc_id, e, seq, at.unwrap_or(c.received_at)]));
            }
            if seq > before {
                docs.extend(doc_steps(d, seq, &mut assigned));
                written.push(d.doc_id.as_str());
            }
        }
        out.push(seq);
        docs.extend(backend.announce(seq, c.notice_keys(), &written));
    }
    if seq == first {
        return Ok(out);
    }
    // 3. The change log and the receipts of the events (which the problems' timelines read), then
    // the documents' rows, keys and projections, and the counter where the store keeps one.
    const CHANGE_COLUMNS: &[&str] =
        &["seq", "doc_id", "hash", "bytes", "user_id", "device_id", "received_at", "writer"];
    let mut log = vec![plan::rows("changes", CHANGE_COLUMNS, OnConflict::Insert, changes)];
    if !receipts.is_empty() {
        let columns = &["doc_id", "event_id", "change_seq", "received_at"];
        log.push(plan::rows("event_receipts", columns, OnConflict::Ignore, receipts));
    }
    db.run(&log)?;
    docs.extend(backend.numbered(seq));
    db.run(&docs)?;
    Ok(out)
}

/// What one document's write changes besides the log: its row (a fresh snapshot, or its last sequence
/// number), its scope keys and its projection.
fn doc_steps(d: &DocWrite, last: u64, assigned: &mut HashMap<String, plan::Assignments>) -> Vec<Step> {
    let mut steps = vec![match &d.snapshot {
        Some(snapshot) => Step::exec(
            "docs",
            "INSERT INTO docs (id, kind, snapshot, snapshot_seq, last_seq) VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (id) DO UPDATE SET snapshot = excluded.snapshot,
                 snapshot_seq = excluded.snapshot_seq, last_seq = excluded.last_seq",
            args![&d.doc_id, d.kind.as_str(), snapshot, last],
        ),
        // A document the store does not hold can't be written without a snapshot.
        None => Step::Exec {
            chain: "docs",
            sql: "UPDATE docs SET last_seq = $2 WHERE id = $1".into(),
            params: args![&d.doc_id, last],
            must_change: true,
        },
    }];
    // Scope keys: those the document lost are logged as removals and go; the others are added at
    // `last` or refreshed (one chain: the log reads the keys before they go).
    steps.push(Step::exec(
        "doc_keys",
        "INSERT INTO doc_key_removals (key, doc_id, seq)
         SELECT key, $2, $3 FROM doc_keys WHERE doc_id = $2 AND NOT (key = ANY($1))",
        args![&d.keys[..], &d.doc_id, last],
    ));
    let gone = "DELETE FROM doc_keys WHERE doc_id = $2 AND NOT (key = ANY($1))";
    steps.push(Step::exec("doc_keys", gone, args![&d.keys[..], &d.doc_id]));
    if !d.keys.is_empty() {
        let rows = d.keys.iter().map(|k| args![k, &d.doc_id, last, last]).collect();
        let columns = &["key", "doc_id", "added_seq", "last_seq"];
        steps.push(plan::rows("doc_keys", columns, OnConflict::Refresh(&["key", "doc_id"], &["last_seq"]), rows));
    }
    steps.extend(plan::projection(&d.doc_id, &d.projection));
    if let Some(s) = plan::assigned(&d.projection) {
        let stored = assigned.entry(d.doc_id.clone()).or_default();
        steps.extend(plan::assignments(&d.doc_id, s, stored, last as i64));
        *stored = s.assignments.iter().map(|a| (a.cadre_id.clone(), (a.chief, a.since))).collect();
    }
    steps
}

/// The last stored change up to a horizon: a pull's top. (Where numbers come from a sequence, a
/// failed commit leaves its numbers unused.)
const TOP: &str = "SELECT COALESCE(MAX(seq), 0) FROM changes WHERE seq <= $1";

/// The documents changed under keys `$1` after the cursor `$2`, with the place from which the device
/// needs each (see `pull_plan`: where the key was added, if after the cursor, else the first change
/// after the cursor) and the key.
const CHANGED: &str = "SELECT doc_id, added_seq, CASE WHEN added_seq > $2 THEN added_seq ELSE COALESCE(
         (SELECT MIN(c.seq) FROM changes c WHERE c.doc_id = doc_keys.doc_id AND c.seq > $2), last_seq) END, key
     FROM doc_keys WHERE key = ANY($1) AND last_seq > $2";

/// What changed for a user since `cursor` (see `scope`), in one snapshot, up to the last change
/// stored at or below `horizon` (see `Backend::at_horizon`). The snapshot may hold commits numbered
/// above it: their changes wait for a later pull, and a document, its keys and the user's keys are
/// read as they were at the top.
fn pull(
    db: &mut dyn Db,
    user_id: &str,
    keys: &[String],
    cursor: u64,
    device_id: &str,
    budget: usize,
    horizon: u64,
) -> Result<Pull> {
    // Most syncs find nothing new: nothing after the cursor can be read yet.
    if cursor >= horizon {
        return Ok(Pull { cursor, ..Pull::default() });
    }
    // The top; the user's key events after the cursor (also those after the top: they tell which keys
    // the user held at the top), the documents changed under their keys (with the first change after
    // the cursor of those that do not go whole: see `pull_plan`) and the keys removed from documents
    // since the cursor. Nothing is committed between the top and the horizon.
    let [top, events, changed, removed] = db.query_all([
        (TOP, args![horizon]),
        (
            "SELECT key, added, seq FROM user_key_events WHERE user_id = $1 AND seq > $2 ORDER BY seq",
            args![user_id, cursor],
        ),
        (CHANGED, args![keys, cursor]),
        (
            "SELECT doc_id FROM doc_key_removals WHERE key = ANY($1) AND seq > $2 AND seq <= $3",
            args![keys, cursor, horizon],
        ),
    ])?;
    let top: u64 = top.into_iter().next().map(|mut r| r.get(0)).transpose()?.unwrap_or(0);
    if keys.is_empty() || cursor >= top {
        return Ok(Pull { cursor: top.max(cursor), ..Pull::default() });
    }
    let events: Vec<(String, bool, u64)> =
        events.into_iter().map(|mut r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).collect::<Result<_>>()?;
    let (held, events) = pull_plan::keys_at(keys, events, top);
    let (gained, lost) = pull_plan::gained_and_lost(events, &held);
    // Keys held at the top but not now, nor gained since the cursor: their documents' changes too.
    let mut changed = changed;
    let again: Vec<String> =
        held.iter().filter(|k| !keys.contains(k) && !gained.iter().any(|(g, _)| g == *k)).cloned().collect();
    if !again.is_empty() {
        changed.extend(db.query(CHANGED, args![again, cursor])?);
    }
    let held_set: HashSet<&str> = held.iter().map(String::as_str).collect();
    let mut docs: BTreeMap<String, pull_plan::Wanted> = BTreeMap::new();
    for mut r in changed {
        let (doc, added, from, key): (String, u64, u64, String) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
        // Needed from beyond the top (it waits for a later pull), or read with a key the user did not
        // hold at the top.
        if from > top || !held_set.contains(key.as_str()) {
            continue;
        }
        pull_plan::changed(&mut docs, doc, added, from, cursor);
    }
    let mut purge_candidates: HashSet<String> = removed.into_iter().map(|mut r| r.get(0)).collect::<Result<_>>()?;
    // Documents under keys gained (sent whole) and under keys lost (perhaps purged).
    let mut queries: Vec<Query<'_>> = Vec::new();
    for (k, _) in &gained {
        queries.push(("SELECT doc_id FROM doc_keys WHERE key = $1 AND added_seq <= $2", args![k, top]));
    }
    for k in &lost {
        queries.push(("SELECT doc_id FROM doc_keys WHERE key = $1", args![k]));
    }
    for (i, rows) in db.query_many(queries)?.into_iter().enumerate() {
        for mut r in rows {
            match gained.get(i) {
                Some((_, at)) => pull_plan::gained(&mut docs, r.get(0)?, *at),
                None => {
                    purge_candidates.insert(r.get(0)?);
                }
            }
        }
    }
    let visible: HashSet<String> = if purge_candidates.is_empty() {
        HashSet::new()
    } else {
        let candidates: Vec<String> = purge_candidates.iter().cloned().collect();
        db.column(IN_SCOPE, args![candidates, &held[..]])?.into_iter().collect()
    };
    let purge = pull_plan::purge(&mut docs, purge_candidates, &visible);
    let mut pages = pull_plan::Pages::new(pull_plan::page_order(docs), budget, top);
    while let Some(chunk) = pages.next_chunk() {
        let fetched = page_data(db, chunk, cursor, top, device_id)?;
        pages.add(fetched)?;
    }
    Ok(pages.finish(purge))
}

/// What a pull sends of these documents: whole ones as their snapshot and the changes stored after it
/// (even when every change came from this device: it may have purged the document when it left its
/// scope), the others as the changes other devices made after the cursor; each chunk with its
/// sequence number (0 for a snapshot), so that a page cut before the top keeps only what lies up to
/// its cursor. Two round trips on PostgreSQL.
fn page_data(
    db: &mut dyn Db,
    chunk: &[(String, bool, u64)],
    cursor: u64,
    top: u64,
    device_id: &str,
) -> Result<pull_plan::Fetched> {
    let ids: Vec<String> = chunk.iter().map(|(d, ..)| d.clone()).collect();
    let whole: Vec<String> = chunk.iter().filter(|(_, w, _)| *w).map(|(d, ..)| d.clone()).collect();
    let partial: Vec<String> = chunk.iter().filter(|(_, w, _)| !*w).map(|(d, ..)| d.clone()).collect();
    // The documents' rows, and the changes other devices made to the others.
    let [docs, partial_changes] = db.query_all([
        (
            "SELECT id, kind, snapshot_seq, CASE WHEN id = ANY($2) THEN snapshot END FROM docs WHERE id = ANY($1)",
            args![ids, &whole[..]],
        ),
        (
            "SELECT doc_id, seq, bytes FROM changes
             WHERE doc_id = ANY($1) AND seq > $2 AND seq <= $3 AND device_id <> $4 ORDER BY doc_id, seq",
            args![partial, cursor, top, device_id],
        ),
    ])?;
    let mut out = pull_plan::Fetched::new();
    // Whole documents: their snapshot, then the changes after it.
    let mut after = Vec::new();
    for mut r in docs {
        let id: String = r.get(0)?;
        let kind = kind_of(r.get(1)?)?;
        let since: u64 = r.get(2)?;
        let mut data = Vec::new();
        if let Some(snapshot) = r.get::<Option<Vec<u8>>>(3)? {
            data.push((0, snapshot));
            after.push((id.clone(), since));
        }
        out.insert(id, (kind, data));
    }
    let later = "SELECT doc_id, seq, bytes FROM changes WHERE doc_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq";
    let queries = after.iter().map(|(id, since)| (later, args![id, *since, top])).collect();
    for mut r in db.query_many(queries)?.into_iter().flatten().chain(partial_changes) {
        if let Some(e) = out.get_mut(&r.get::<String>(0)?) {
            e.1.push((r.get(1)?, r.get(2)?));
        }
    }
    Ok(out)
}
