//! The search index of the device: one row per enterprise (its name; its credit code, address and
//! contacts), per problem (its title; its description and enterprise) and per policy (its title;
//! its summary, issuer and document number), in an SQLite FTS5 table
//! with the trigram tokenizer, which finds any run of three characters in Chinese text without a
//! dictionary (a word segmenter would need one, and would miss names it does not know). Rows are
//! written by the transactions that index the documents, so the search never disagrees with them.

use crate::domain::{EnterpriseState, ProblemState};
use crate::error::Result;
use rusqlite::{Connection, OptionalExtension, params};

/// The search table, as created (and created again by a wipe: deleting its rows would leave their
/// words in its index until it is merged).
pub const CREATE_TABLE: &str =
    "CREATE VIRTUAL TABLE search_text USING fts5(kind UNINDEXED, doc_id UNINDEXED, title, body, tokenize = 'trigram');";

/// Empties the search index, leaving nothing of its text.
pub fn clear(conn: &Connection) -> Result<()> {
    conn.execute_batch(&format!("DROP TABLE search_text; {CREATE_TABLE} DELETE FROM search_docs;"))?;
    Ok(())
}

/// Merges the index, which drops what deleted rows left in it.
pub fn optimize(conn: &Connection) -> Result<()> {
    conn.execute("INSERT INTO search_text (search_text) VALUES ('optimize')", [])?;
    Ok(())
}

/// What a search row is about.
pub const ENTERPRISE: &str = "enterprise";
pub const PROBLEM: &str = "problem";
pub const POLICY: &str = "policy";

/// Writes (or rewrites) the search row of document `doc_id`.
fn write(conn: &Connection, kind: &str, doc_id: &str, title: &str, body: &str) -> Result<()> {
    let row: Option<i64> = conn
        .prepare_cached("SELECT row FROM search_docs WHERE doc_id = ?1")?
        .query_row([doc_id], |r| r.get(0))
        .optional()?;
    let row = match row {
        Some(row) => {
            conn.prepare_cached("DELETE FROM search_text WHERE rowid = ?1")?.execute([row])?;
            row
        }
        None => {
            let row: i64 = conn.query_row("SELECT COALESCE(MAX(row), 0) + 1 FROM search_docs", [], |r| r.get(0))?;
            conn.prepare_cached("INSERT INTO search_docs (doc_id, row) VALUES (?1, ?2)")?
                .execute(params![doc_id, row])?;
            row
        }
    };
    conn.prepare_cached("INSERT INTO search_text (rowid, kind, doc_id, title, body) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![row, kind, doc_id, title, body])?;
    Ok(())
}

/// The search row of an enterprise: found by its name, credit code, address and contacts.
pub fn index_enterprise(conn: &Connection, id: &str, s: &EnterpriseState) -> Result<()> {
    let p = &s.profile;
    let mut body = format!("{} {}", p.uscc, p.address);
    for c in &p.contacts {
        body.push_str(&format!(" {} {} {}", c.name, c.title, c.phone));
    }
    write(conn, ENTERPRISE, id, &p.name, &body)
}

/// The search row of a problem: found by its title, description and enterprise's name.
pub fn index_problem(conn: &Connection, id: &str, enterprise_name: &str, s: &ProblemState) -> Result<()> {
    write(conn, PROBLEM, id, &s.title, &format!("{} {}", s.description, enterprise_name))
}

/// The search row of a policy: found by its title, summary, issuer and document number.
pub fn index_policy(conn: &Connection, id: &str, s: &crate::domain::PolicyState) -> Result<()> {
    let p = &s.policy;
    write(conn, POLICY, id, &p.title, &format!("{} {} {}", p.summary, p.issuer, p.doc_number))
}

/// Removes a document's search row (a purged document).
pub fn remove(conn: &Connection, doc_id: &str) -> Result<()> {
    let row: Option<i64> = conn
        .prepare_cached("SELECT row FROM search_docs WHERE doc_id = ?1")?
        .query_row([doc_id], |r| r.get(0))
        .optional()?;
    if let Some(row) = row {
        conn.prepare_cached("DELETE FROM search_text WHERE rowid = ?1")?.execute([row])?;
        conn.prepare_cached("DELETE FROM search_docs WHERE doc_id = ?1")?.execute([doc_id])?;
    }
    Ok(())
}
