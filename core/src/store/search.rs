//! Search on the phone, offline: enterprises by name, credit code, address or contact, problems by
//! title, description or enterprise (`storage::search` keeps the index). Terms of three characters
//! or more are looked up in the trigram index and ranked by it; shorter ones (a two-character name,
//! 贷款) are matched as substrings of the same rows. Results come a page at a time.

use super::Store;
use crate::error::{Error, Invalid, Result};
use crate::storage::search::{ENTERPRISE, POLICY, PROBLEM};
use rusqlite::types::Value;
use serde::Serialize;

/// What to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchScope {
    All,
    Enterprises,
    Problems,
    Policies,
}

/// One thing found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchHit {
    /// `enterprise`, `problem` or `policy`.
    pub kind: String,
    pub id: String,
    /// The enterprise's name, or the problem's or policy's title.
    pub title: String,
    /// What else was indexed for it (credit code, address and contacts; description and enterprise).
    pub detail: String,
}

/// The longest query taken, in characters.
pub const MAX_QUERY_CHARS: usize = 100;
/// The most results one page holds.
pub const MAX_PAGE: u32 = 200;

impl Store {
    /// Searches what this device holds for `query` (terms separated by spaces, all of which must
    /// appear), best matches first, `limit` (at most 200) results from `offset`.
    pub fn search(&self, query: &str, scope: SearchScope, offset: u32, limit: u32) -> Result<Vec<SearchHit>> {
        let query = query.trim();
        if query.chars().count() > MAX_QUERY_CHARS {
            return Err(Error::invalid("query", Invalid::TooLong { max: MAX_QUERY_CHARS }));
        }
        let terms: Vec<&str> = query.split_whitespace().collect();
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let (long, short): (Vec<&str>, Vec<&str>) = terms.iter().partition(|t| t.chars().count() >= 3);
        let mut conditions = Vec::new();
        let mut args: Vec<Value> = Vec::new();
        if !long.is_empty() {
            // Each term a quoted phrase: nothing in it is read as FTS5 syntax.
            let phrase = long.iter().map(|t| format!("\"{}\"", t.replace('"', "\"\""))).collect::<Vec<_>>().join(" ");
            conditions.push("search_text MATCH ?".to_owned());
            args.push(Value::Text(phrase));
        }
        for t in &short {
            let pattern = format!("%{}%", t.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
            conditions.push("(title LIKE ? ESCAPE '\\' OR body LIKE ? ESCAPE '\\')".to_owned());
            args.push(Value::Text(pattern.clone()));
            args.push(Value::Text(pattern));
        }
        match scope {
            SearchScope::All => {}
            SearchScope::Enterprises => conditions.push(format!("kind = '{ENTERPRISE}'")),
            SearchScope::Problems => conditions.push(format!("kind = '{PROBLEM}'")),
            SearchScope::Policies => conditions.push(format!("kind = '{POLICY}'")),
        }
        let order = if long.is_empty() { "title, doc_id" } else { "rank, doc_id" };
        let sql = format!(
            "SELECT kind, doc_id, title, body FROM search_text WHERE {} ORDER BY {order} LIMIT ? OFFSET ?",
            conditions.join(" AND ")
        );
        args.push(Value::Integer(limit.min(MAX_PAGE).into()));
        args.push(Value::Integer(offset.into()));
        let inner = self.lock();
        let mut stmt = inner.conn.prepare_cached(&sql)?;
        let hits = stmt.query_map(rusqlite::params_from_iter(args), |r| {
            Ok(SearchHit { kind: r.get(0)?, id: r.get(1)?, title: r.get(2)?, detail: r.get(3)? })
        })?;
        Ok(hits.collect::<rusqlite::Result<_>>()?)
    }
}
