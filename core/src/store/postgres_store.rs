//! The shared backend: a PostgreSQL database that several detector instances use at once.
//!
//! The library creates and migrates its schema: [`MIGRATIONS`] are applied in order, each once,
//! under an advisory lock so that instances starting together do not race, and the applied version
//! is kept in `ls_schema`. A database migrated by a newer build is refused rather than misread.
//!
//! Transactions match the redb backend's: a project with its key (and first blobs), a key rotation,
//! a batch of writes. A batch locks the rows of the projects it writes (`FOR KEY SHARE`) so that a
//! concurrent delete either happens before it (the batch's writes for that project are dropped) or
//! waits for it; foreign keys with `ON DELETE CASCADE` take a project's key and blobs with it.
//!
//! Connections come from an `r2d2` pool; the sync `postgres` driver runs its own small runtime per
//! connection, so calls must not be made from inside an async runtime's worker thread (the HTTP
//! server and the bindings already run detector calls on blocking threads).

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use postgres::NoTls;
use r2d2_postgres::PostgresConnectionManager;

use super::{project_blob, project_of_blob, Write};
use crate::error::{Error, Result};
use crate::tenant::keys::KeyHash;

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;
type Connection = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;

/// The schema, one entry per version: entry `i` takes a database from version `i` to `i + 1`.
/// Entries are never edited once released; a change is a new entry.
pub const MIGRATIONS: &[&str] = &[
    // 1: the collections of the redb layout. Blob bytes are stored out of line without compression:
    // model weights do not compress, and reading them back uncompressed keeps a student's cold load
    // fast.
    "CREATE TABLE ls_projects (id text PRIMARY KEY, json bytea NOT NULL);
     CREATE TABLE ls_keys (
         hash bytea PRIMARY KEY,
         project_id text NOT NULL REFERENCES ls_projects (id) ON DELETE CASCADE);
     CREATE TABLE ls_blobs (
         name text PRIMARY KEY,
         project_id text REFERENCES ls_projects (id) ON DELETE CASCADE,
         bytes bytea NOT NULL);
     ALTER TABLE ls_blobs ALTER COLUMN bytes SET STORAGE EXTERNAL;
     CREATE INDEX ls_blobs_project ON ls_blobs (project_id);
     CREATE INDEX ls_keys_project ON ls_keys (project_id);
     CREATE TABLE ls_history (seq bigserial PRIMARY KEY, json bytea NOT NULL);",
];

/// Advisory lock key held while migrating ("logsenti" in ASCII).
const MIGRATION_LOCK: i64 = 0x6c6f_6773_656e_7469;

/// Most connections one instance opens: detection, group commits, training and the HTTP workers
/// share them; a call waits for a free one.
const POOL_SIZE: u32 = 8;

/// How long a call waits for a connection before it fails with a storage error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A PostgreSQL database holding the detector's state.
pub struct PgStore {
    pool: Pool,
    location: String,
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`, or with `?host=/socket/dir`
    /// for a Unix socket), then creates or migrates the schema.
    pub fn open(url: &str) -> Result<Self> {
        let config = parse_url(url)?;
        let location = describe(&config);
        let mut first = config
            .connect(NoTls)
            .map_err(|e| Error::storage(format!("cannot connect to {location}: {}", why(&e))))?;
        migrate(&mut first).map_err(|e| match e {
            Error::Storage(m) => Error::storage(format!("{location}: {m}")),
            other => other,
        })?;
        drop(first);
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(CONNECT_TIMEOUT)
            .build(PostgresConnectionManager::new(config, NoTls))
            .map_err(|e| Error::storage(format!("cannot connect to {location}: {e}")))?;
        Ok(Self { pool, location })
    }

    /// The database, without credentials.
    pub fn location(&self) -> String {
        self.location.clone()
    }

    fn conn(&self) -> Result<Connection> {
        self.pool.get().map_err(|e| {
            Error::storage(format!(
                "no connection to {} within {} s: {e}",
                self.location,
                CONNECT_TIMEOUT.as_secs()
            ))
        })
    }

    /// See [`super::Store::create_project_with`].
    pub fn create_project_with(
        &self,
        id: &str,
        json: &[u8],
        key: &KeyHash,
        blobs: &[(&str, Vec<u8>)],
    ) -> Result<()> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let inserted = tx.execute(
            "INSERT INTO ls_projects (id, json) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            &[&id, &json],
        )?;
        if inserted == 0 {
            return Err(Error::invalid_input(format!("project {id} already exists")));
        }
        tx.execute(
            "INSERT INTO ls_keys (hash, project_id) VALUES ($1, $2)",
            &[&key.0.as_slice(), &id],
        )?;
        let upsert = tx.prepare(UPSERT_BLOB)?;
        for (name, bytes) in blobs {
            let name = project_blob(id, name);
            tx.execute(&upsert, &[&name, &Some(id), &bytes.as_slice()])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// See [`super::Store::rotate_key`].
    pub fn rotate_key(&self, id: &str, old: &KeyHash, new: &KeyHash, json: &[u8]) -> Result<()> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        tx.execute("DELETE FROM ls_keys WHERE hash = $1", &[&old.0.as_slice()])?;
        tx.execute(
            "INSERT INTO ls_keys (hash, project_id) VALUES ($1, $2)",
            &[&new.0.as_slice(), &id],
        )?;
        tx.execute(
            "UPDATE ls_projects SET json = $2 WHERE id = $1",
            &[&id, &json],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// See [`super::Store::delete_project`]: the key and blobs go with the project (cascade).
    pub fn delete_project(&self, id: &str, key: &KeyHash) -> Result<()> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        tx.execute("DELETE FROM ls_keys WHERE hash = $1", &[&key.0.as_slice()])?;
        tx.execute("DELETE FROM ls_projects WHERE id = $1", &[&id])?;
        tx.commit()?;
        Ok(())
    }

    /// See [`super::Store::commit`].
    pub fn commit(&self, writes: &[Write]) -> Result<()> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let live = lock_live_projects(&mut tx, writes)?;
        let upsert = tx.prepare(UPSERT_BLOB)?;
        for w in writes {
            match w {
                Write::Project { id, json } => {
                    if live.contains(id.as_str()) {
                        tx.execute(
                            "UPDATE ls_projects SET json = $2 WHERE id = $1",
                            &[id, &json.as_slice()],
                        )?;
                    }
                }
                Write::Blob { name, bytes } => {
                    let project = project_of_blob(name);
                    if project.is_none_or(|p| live.contains(p)) {
                        tx.execute(&upsert, &[name, &project, &bytes.as_slice()])?;
                    }
                }
                Write::RemoveBlob { name } => {
                    tx.execute("DELETE FROM ls_blobs WHERE name = $1", &[name])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// See [`super::Store::projects`].
    pub fn projects(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let rows = self
            .conn()?
            .query("SELECT id, json FROM ls_projects ORDER BY id", &[])?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// See [`super::Store::keys`].
    pub fn keys(&self) -> Result<Vec<(KeyHash, String)>> {
        let rows = self
            .conn()?
            .query("SELECT hash, project_id FROM ls_keys ORDER BY hash", &[])?;
        rows.iter()
            .map(|r| {
                let hash: &[u8] = r.get(0);
                let bytes: [u8; 32] = hash
                    .try_into()
                    .map_err(|_| Error::storage("corrupt key hash in ls_keys"))?;
                Ok((KeyHash(bytes), r.get(1)))
            })
            .collect()
    }

    /// See [`super::Store::read_blob`].
    pub fn read_blob<T>(
        &self,
        name: &str,
        read: impl FnOnce(&[u8]) -> Result<T>,
    ) -> Result<Option<T>> {
        let row = self
            .conn()?
            .query_opt("SELECT bytes FROM ls_blobs WHERE name = $1", &[&name])?;
        match row {
            Some(row) => read(row.get::<_, &[u8]>(0)).map(Some),
            None => Ok(None),
        }
    }

    /// See [`super::Store::append_history`].
    pub fn append_history(&self, json: &[u8]) -> Result<u64> {
        let row = self.conn()?.query_one(
            "INSERT INTO ls_history (json) VALUES ($1) RETURNING seq",
            &[&json],
        )?;
        let seq: i64 = row.get(0);
        u64::try_from(seq).map_err(|_| Error::storage(format!("negative history number {seq}")))
    }

    /// See [`super::Store::history`].
    pub fn history(&self) -> Result<Vec<Vec<u8>>> {
        let rows = self
            .conn()?
            .query("SELECT json FROM ls_history ORDER BY seq", &[])?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

const UPSERT_BLOB: &str = "INSERT INTO ls_blobs (name, project_id, bytes) VALUES ($1, $2, $3)
     ON CONFLICT (name) DO UPDATE SET bytes = EXCLUDED.bytes";

/// Locks the rows of the projects `writes` touch against deletion until the transaction ends and
/// returns those that still exist.
fn lock_live_projects(
    tx: &mut postgres::Transaction<'_>,
    writes: &[Write],
) -> Result<HashSet<String>> {
    let mut ids: Vec<&str> = writes
        .iter()
        .filter_map(|w| match w {
            Write::Project { id, .. } => Some(id.as_str()),
            Write::Blob { name, .. } => project_of_blob(name),
            Write::RemoveBlob { .. } => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let rows = tx.query(
        "SELECT id FROM ls_projects WHERE id = ANY($1) ORDER BY id FOR KEY SHARE",
        &[&ids],
    )?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Brings the schema to the newest version this build knows.
fn migrate(client: &mut postgres::Client) -> Result<()> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS ls_schema (version integer NOT NULL)")?;
    let current: Option<i32> = tx
        .query_opt("SELECT version FROM ls_schema", &[])?
        .map(|r| r.get(0));
    let applied = usize::try_from(current.unwrap_or(0))
        .map_err(|_| Error::storage("negative schema version in ls_schema"))?;
    if applied > MIGRATIONS.len() {
        return Err(Error::storage(format!(
            "schema version {applied} was written by a newer logsentinel (this build knows {})",
            MIGRATIONS.len()
        )));
    }
    for migration in &MIGRATIONS[applied..] {
        tx.batch_execute(migration)?;
    }
    let newest = MIGRATIONS.len() as i32;
    if current.is_some() {
        tx.execute("UPDATE ls_schema SET version = $1", &[&newest])?;
    } else {
        tx.execute("INSERT INTO ls_schema (version) VALUES ($1)", &[&newest])?;
    }
    tx.commit()?;
    Ok(())
}

/// Parses a connection URL; anything else is a configuration error naming `STORAGE_URL`.
pub fn parse_url(url: &str) -> Result<postgres::Config> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(Error::InvalidConfig {
            name: "STORAGE_URL".into(),
            reason: "expected a postgres:// or postgresql:// URL".into(),
        });
    }
    postgres::Config::from_str(url).map_err(|e| Error::InvalidConfig {
        name: "STORAGE_URL".into(),
        reason: format!("not a PostgreSQL connection URL: {e}"),
    })
}

/// `postgres://user@host:port/database`, never the password.
fn describe(config: &postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

/// The server's own message where there is one (the driver's `Display` says only "db error").
fn why(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        Error::Storage(format!("postgres: {}", why(&e)))
    }
}
