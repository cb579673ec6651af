//! PostgreSQL for tests: each test gets a schema of its own in the machine's database
//! (`ZHUQI_TEST_POSTGRES_URL`, by default `postgres://postgres@127.0.0.1:5432/test`), dropped at the end.

use std::sync::Arc;
use zhuqi_server::storage::postgres::PostgresStorage;

/// The database the tests use.
pub fn base_url() -> String {
    std::env::var("ZHUQI_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A schema of its own in the test database; dropped with everything in it when this is dropped.
pub struct TestDatabase {
    /// A URL whose connections use the schema.
    pub url: String,
    schema: String,
}

/// Runs SQL on a connection of its own (on a thread of its own, so that it also works from async code).
fn admin(sql: String) -> Result<(), String> {
    admin_query(sql, false).map(drop)
}

/// `admin`, returning the rows of the last statement (each row's columns as text, joined by " | ")
/// when `query` is set.
fn admin_query(sql: String, query: bool) -> Result<Vec<String>, String> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        rt.block_on(async {
            let (client, connection) = tokio_postgres::connect(&base_url(), tokio_postgres::NoTls)
                .await
                .map_err(|e| format!("cannot reach PostgreSQL at {}: {e}", base_url()))?;
            let driver = tokio::spawn(connection);
            let result = if query {
                client.simple_query(&sql).await.map_err(|e| e.to_string()).map(|messages| {
                    messages
                        .into_iter()
                        .filter_map(|m| match m {
                            tokio_postgres::SimpleQueryMessage::Row(r) => {
                                Some((0..r.len()).map(|i| r.get(i).unwrap_or("NULL")).collect::<Vec<_>>().join(" | "))
                            }
                            _ => None,
                        })
                        .collect()
                })
            } else {
                client.batch_execute(&sql).await.map_err(|e| e.to_string()).map(|()| Vec::new())
            };
            drop(client);
            let _ = driver.await;
            result
        })
    })
    .join()
    .map_err(|_| "admin thread panicked".to_string())?
}

impl TestDatabase {
    pub fn create() -> TestDatabase {
        let schema = format!("zhuqi_test_{}", uuid::Uuid::new_v4().simple());
        admin(format!("CREATE SCHEMA {schema}")).expect("PostgreSQL for the storage tests");
        let base = base_url();
        let sep = if base.contains('?') { '&' } else { '?' };
        TestDatabase { url: format!("{base}{sep}options=-c%20search_path%3D{schema}"), schema }
    }

    /// Runs SQL in the schema.
    pub fn execute(&self, sql: &str) {
        admin(format!("SET search_path TO {}; {sql}", self.schema)).expect("SQL in the test schema");
    }

    /// The tables, columns and indexes of the schema, one line each, with the schema's name taken out.
    pub fn shape(&self) -> Vec<String> {
        let sql = format!(
            "SELECT 'column', table_name, column_name, data_type, is_nullable, coalesce(column_default, '')
               FROM information_schema.columns WHERE table_schema = '{0}'
             UNION ALL
             SELECT 'index', tablename, indexname, indexdef, '', '' FROM pg_indexes WHERE schemaname = '{0}'
             ORDER BY 1, 2, 3",
            self.schema
        );
        let rows = admin_query(sql, true).expect("the schema's shape");
        rows.into_iter().map(|r| r.replace(&format!("{}.", self.schema), "")).collect()
    }

    /// A store on the schema, as one relay would open it.
    pub fn open(&self) -> Arc<PostgresStorage> {
        Arc::new(PostgresStorage::open(&self.url, 4).expect("open PostgreSQL storage"))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Err(e) = admin(format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema)) {
            eprintln!("cannot drop test schema {}: {e}", self.schema);
        }
    }
}
