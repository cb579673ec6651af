//! The seam between the relay's storage logic (`store`, written once) and the two databases: a
//! [`Db`] runs statements and plans on one connection, a [`Backend`] opens reads and transactions.
//! The SQLite and PostgreSQL stores implement only these two traits.
//!
//! Statements are written once, in SQL both databases understand, spelled as PostgreSQL spells it
//! where they differ: parameters are `$1`, `$2`…, and a list parameter is matched with `= ANY($n)`.
//! The SQLite store rewrites both before preparing ([`sqlite_sql`]: `?n`, and `IN rarray(?n)`, the
//! table function of SQLite's carray extension).

use super::plan::Step;
use super::{ChangeSink, Result, StorageError};

/// A value passed to a statement or read from a row. Absent values keep their type (PostgreSQL types
/// the arrays of a plan's rows by their values).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
    Blob(Option<Vec<u8>>),
    /// A list, matched with `= ANY($n)`.
    Texts(Vec<String>),
    Blobs(Vec<Vec<u8>>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Text(None) | Value::Int(None) | Value::Blob(None))
    }

    fn kind(&self) -> &'static str {
        match self {
            Value::Text(_) => "text",
            Value::Int(_) => "integer",
            Value::Bool(_) => "boolean",
            Value::Blob(_) => "bytes",
            Value::Texts(_) | Value::Blobs(_) => "list",
        }
    }
}

macro_rules! value_from {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {
        $(impl From<$t> for Value {
            fn from($v: $t) -> Self {
                $e
            }
        })*
    };
}

value_from! {
    &str => |v| Value::Text(Some(v.to_owned())),
    &String => |v| Value::Text(Some(v.clone())),
    String => |v| Value::Text(Some(v)),
    Option<&str> => |v| Value::Text(v.map(str::to_owned)),
    &Option<String> => |v| Value::Text(v.clone()),
    i64 => |v| Value::Int(Some(v)),
    &i64 => |v| Value::Int(Some(*v)),
    Option<i64> => |v| Value::Int(v),
    u64 => |v| Value::Int(Some(v as i64)),
    u32 => |v| Value::Int(Some(v.into())),
    u8 => |v| Value::Int(Some(v.into())),
    Option<u8> => |v| Value::Int(v.map(i64::from)),
    bool => |v| Value::Bool(v),
    &[u8] => |v| Value::Blob(Some(v.to_vec())),
    &Vec<u8> => |v| Value::Blob(Some(v.clone())),
    &[String] => |v| Value::Texts(v.to_vec()),
    Vec<String> => |v| Value::Texts(v),
    Vec<Vec<u8>> => |v| Value::Blobs(v),
}

/// The parameters of a statement: `args![a, b]` is `vec![Value::from(a), Value::from(b)]`.
macro_rules! args {
    ($($v:expr),* $(,)?) => { vec![$($crate::storage::db::Value::from($v)),*] };
}
pub(crate) use args;

/// What a column holds, read out of a row.
pub trait FromValue: Sized {
    fn from_value(v: Value) -> Option<Self>;
}

macro_rules! from_value {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {
        $(impl FromValue for $t {
            fn from_value($v: Value) -> Option<Self> {
                $e
            }
        })*
    };
}

from_value! {
    String => |v| if let Value::Text(Some(s)) = v { Some(s) } else { None },
    i64 => |v| match v { Value::Int(Some(i)) => Some(i), _ => None },
    u64 => |v| i64::from_value(v).and_then(|i| u64::try_from(i).ok()),
    u32 => |v| i64::from_value(v).and_then(|i| u32::try_from(i).ok()),
    u8 => |v| i64::from_value(v).and_then(|i| u8::try_from(i).ok()),
    bool => |v| match v { Value::Bool(b) => Some(b), Value::Int(Some(i)) => Some(i != 0), _ => None },
    Vec<u8> => |v| if let Value::Blob(Some(b)) = v { Some(b) } else { None },
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: Value) -> Option<Self> {
        if v.is_null() { Some(None) } else { T::from_value(v).map(Some) }
    }
}

/// A row of a query's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    /// Takes column `i` out of the row (each column is read once).
    pub fn get<T: FromValue>(&mut self, i: usize) -> Result<T> {
        let v = self.0.get_mut(i).map(|v| std::mem::replace(v, Value::Text(None)));
        let kind = v.as_ref().map_or("nothing", Value::kind);
        v.and_then(T::from_value).ok_or_else(|| {
            StorageError::Corrupt(format!("column {i} holds {kind}, not {}", std::any::type_name::<T>()))
        })
    }
}

/// Reads rows into a struct whose fields are named as the columns:
/// `select!(db, T { a, b } FROM "t WHERE c = $1", params)` is every `T { a, b }` of `SELECT a, b FROM t …`.
macro_rules! select {
    ($db:expr, $t:ident { $($f:ident),* $(,)? } FROM $from:expr, $params:expr) => {{
        let sql = format!("SELECT {} FROM {}", [$(stringify!($f)),*].join(", "), $from);
        $db.query(&sql, $params)?
            .into_iter()
            .map(|mut r| {
                let mut _i = 0..;
                Ok($t { $($f: r.get(_i.next().unwrap_or_default())?),* })
            })
            .collect::<Result<Vec<$t>>>()
    }};
}
pub(crate) use select;

/// The database behind a [`Db`], where the logic must tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A query: its SQL and parameters.
pub type Query<'a> = (&'a str, Vec<Value>);

/// One connection (in a transaction or not, as the [`Backend`] opened it).
pub trait Db {
    fn dialect(&self) -> Dialect;
    /// Runs queries that do not depend on each other's answers and returns their rows, in order.
    /// PostgreSQL sends them together (one round trip for all).
    fn query_many(&mut self, queries: Vec<Query<'_>>) -> Result<Vec<Vec<Row>>>;
    /// Runs a statement; returns how many rows it changed.
    fn execute(&mut self, sql: &str, params: Vec<Value>) -> Result<u64>;
    /// Executes a plan: the steps of one chain in order, the chains in any order (PostgreSQL sends
    /// them together, and a plan's rows of a table as one statement).
    fn run(&mut self, steps: &[Step]) -> Result<()>;
}

impl dyn Db + '_ {
    /// [`Db::query_many`] of a fixed number of queries.
    pub fn query_all<const N: usize>(&mut self, queries: [Query<'_>; N]) -> Result<[Vec<Row>; N]> {
        let answers = self.query_many(queries.into())?;
        answers.try_into().map_err(|_| StorageError::Corrupt("an answer is missing".into()))
    }

    pub fn query(&mut self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>> {
        Ok(self.query_many(vec![(sql, params)])?.pop().unwrap_or_default())
    }

    /// The first row of the answer, if any.
    pub fn opt(&mut self, sql: &str, params: Vec<Value>) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The first column of the first row.
    pub fn one<T: FromValue>(&mut self, sql: &str, params: Vec<Value>) -> Result<T> {
        self.opt(sql, params)?.ok_or_else(|| StorageError::Corrupt(format!("no row from: {sql}")))?.get(0)
    }

    /// The first column of every row.
    pub fn column<T: FromValue>(&mut self, sql: &str, params: Vec<Value>) -> Result<Vec<T>> {
        self.query(sql, params)?.into_iter().map(|mut r| r.get(0)).collect()
    }

    pub fn exists(&mut self, sql: &str, params: Vec<Value>) -> Result<bool> {
        Ok(self.opt(sql, params)?.is_some())
    }

    /// A counter of table `counters` (`seq`, `directory`).
    pub fn counter(&mut self, name: &str) -> Result<u64> {
        self.one(COUNTER, args![name])
    }
}

pub const COUNTER: &str = "SELECT value FROM counters WHERE name = $1";

/// A database that holds the relay's tables: how to reach a connection. The storage logic, written
/// once for every backend, is `RelayStorage` for every `Backend` (see `store`).
pub trait Backend: Send + Sync + 'static {
    /// Runs `f` on a connection where each statement sees the latest commits.
    fn read<T>(&self, f: impl FnOnce(&mut dyn Db) -> Result<T>) -> Result<T>;
    /// Runs `f` in a read-only transaction: every statement sees the same snapshot.
    fn snapshot<T>(&self, f: impl FnOnce(&mut dyn Db) -> Result<T>) -> Result<T>;
    /// Runs `f` in a transaction, committed if `f` succeeds and rolled back otherwise.
    fn write<T>(&self, f: impl FnOnce(&mut dyn Db) -> Result<T>) -> Result<T>;
    /// This instance's name in `changes.writer`.
    fn writer_id(&self) -> &str;

    // Sequence numbers. A pull's cursor promises that every change numbered up to it is visible;
    // the defaults below suit a store with one writer whose write transaction holds the whole
    // database (SQLite): numbers come from counter `seq`, so commits become visible in the order of
    // their numbers. A store where commits run side by side (PostgreSQL) overrides them.

    /// Runs `f` in a transaction that stores changes of the documents `docs`, numbered with
    /// [`Backend::take_numbers`]: no other commit writes those documents meanwhile.
    fn write_changes<T>(&self, _docs: &[&str], f: impl FnOnce(&mut dyn Db) -> Result<T>) -> Result<T> {
        self.write(f)
    }
    /// Takes `n` sequence numbers in a transaction of [`Backend::write_changes`]: the highest number
    /// handed out before (at least that of every stored change of the transaction's documents, and
    /// below every number a later commit of them gets), and the `n` numbers, ascending.
    fn take_numbers(&self, db: &mut dyn Db, n: usize) -> Result<(u64, Vec<u64>)> {
        let last = db.counter("seq")?;
        Ok((last, (last + 1..=last + n as u64).collect()))
    }
    /// The step that records `last` as the highest number handed out, if the store keeps it so.
    fn numbered(&self, last: u64) -> Option<Step> {
        Some(Step::exec("counters", "UPDATE counters SET value = $1 WHERE name = 'seq'", args![last]))
    }
    /// Runs `f` in a snapshot (as [`Backend::snapshot`]) with its horizon: every change numbered up
    /// to the horizon is visible in the snapshot, or never will be (its commit failed). Changes
    /// numbered above it may be visible too.
    fn at_horizon<T>(&self, f: impl FnOnce(&mut dyn Db, u64) -> Result<T>) -> Result<T> {
        self.snapshot(|db| {
            let horizon = db.counter("seq")?;
            f(db, horizon)
        })
    }
    /// Keeps other commits from writing the documents `docs` until the transaction of `db` ends.
    fn lock_docs(&self, _db: &mut dyn Db, _docs: &[&str]) -> Result<()> {
        Ok(())
    }
    /// Called once `commits` are stored (each with the number of its last write, `seqs`), before the
    /// relay announces them to its own listeners: a store where a pull may not reach them yet
    /// announces them again once it can.
    fn after_commit(&self, _commits: &[&super::Commit], _seqs: &[u64]) {}
    /// The step that tells the other relays sharing the store of a commit (its last sequence number,
    /// the scope keys and documents it touched), if any share it.
    fn announce(&self, _seq: u64, _keys: Vec<String>, _docs: &[&str]) -> Option<Step> {
        None
    }
    /// Starts reporting other relays' commits to `sink`.
    fn listen(&self, _sink: ChangeSink) {}
    /// Refreshes what the database plans its queries with, after a bulk load.
    fn after_bulk_load(&self) -> Result<()> {
        Ok(())
    }
}

/// A statement as SQLite spells it: `$n` becomes `?n` and `= ANY($n)` becomes `IN rarray(?n)`.
pub fn sqlite_sql(sql: &str) -> String {
    let sql = sql.replace("= ANY($", "IN rarray($");
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_spelled_for_sqlite() {
        assert_eq!(
            sqlite_sql("SELECT 1 FROM t WHERE a = $1 AND NOT (b = ANY($2)) AND c = $10"),
            "SELECT 1 FROM t WHERE a = ?1 AND NOT (b IN rarray(?2)) AND c = ?10"
        );
    }

    #[test]
    fn columns_are_read_as_their_types() {
        let mut r = Row(vec![Value::Int(Some(3)), Value::Text(None), Value::Int(Some(1)), Value::Int(Some(-1))]);
        assert_eq!(r.get::<u64>(0).unwrap(), 3);
        assert_eq!(r.get::<Option<String>>(1).unwrap(), None);
        assert!(r.get::<bool>(2).unwrap());
        assert!(matches!(r.get::<u64>(3), Err(StorageError::Corrupt(_))), "a negative count is corrupt");
        assert!(matches!(r.get::<String>(9), Err(StorageError::Corrupt(_))));
    }
}
