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
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        rt.block_on(async {
            let (client, connection) = tokio_postgres::connect(&base_url(), tokio_postgres::NoTls)
                .await
                .map_err(|e| format!("cannot reach PostgreSQL at {}: {e}", base_url()))?;
            let driver = tokio::spawn(connection);
            let result = client.batch_execute(&sql).await.map_err(|e| e.to_string());
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
