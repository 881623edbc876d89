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

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use r2d2_postgres::PostgresConnectionManager;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::lease::{project_lease, STORAGE_LEASE, TEACHER_LEASE};
use super::pg_tls::{self, TlsSettings};
use super::{project_blob, project_of_blob, ProjectRow, Write};
use crate::error::{Error, Result};
use crate::tenant::keys::KeyHash;

type Pool = r2d2::Pool<PostgresConnectionManager<MakeRustlsConnect>>;
type Connection = r2d2::PooledConnection<PostgresConnectionManager<MakeRustlsConnect>>;

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
    // 2: leases. `token` grows on every change of owner (the fencing token); `expires_at` is the
    // server's clock, so instances never compare their own clocks.
    "CREATE TABLE ls_leases (
         name text PRIMARY KEY,
         owner text NOT NULL,
         token bigint NOT NULL,
         expires_at timestamptz NOT NULL);",
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
    /// The leases this store writes under, by name, once [`PgStore::try_lease`] granted them.
    fences: parking_lot::Mutex<HashMap<String, Fence>>,
    /// Whether writes are fenced by the leases of the projects they touch (and the `teacher` lease
    /// for the shared teacher), rather than by the one storage lease ([`crate::LeaseScope`]).
    per_project: AtomicBool,
    /// Set once the storage lease was granted: every later write needs it, also once it was found
    /// lost (and so forgotten).
    storage_fenced: AtomicBool,
}

/// A lease held: this holder, and the fencing token it was granted under.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fence {
    owner: String,
    token: i64,
}

/// What asking for a lease found.
#[derive(Debug, Clone, PartialEq)]
pub enum LeaseAttempt {
    /// Held by the caller until the time-to-live passes without a renewal.
    Granted {
        /// The fencing token: the same while one holder renews, larger after every change of holder.
        token: i64,
    },
    /// Held by another holder.
    Held {
        /// That holder.
        owner: String,
        /// Seconds until it expires unless renewed (server clock).
        expires_in_secs: f64,
    },
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`, or with `?host=/socket/dir`
    /// for a Unix socket), then creates or migrates the schema.
    pub fn open(url: &str) -> Result<Self> {
        let (config, tls) = parse_url(url)?;
        let location = describe(&config);
        let tls = tls.connector()?;
        let mut first = config
            .connect(tls.clone())
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
            .build(PostgresConnectionManager::new(config, tls))
            .map_err(|e| Error::storage(format!("cannot connect to {location}: {e}")))?;
        Ok(Self {
            pool,
            location,
            fences: parking_lot::Mutex::new(HashMap::new()),
            per_project: AtomicBool::new(false),
            storage_fenced: AtomicBool::new(false),
        })
    }

    /// Fences every later write by the leases of the projects it touches (and the `teacher` lease
    /// for the shared teacher and its history) instead of the storage lease.
    pub fn use_project_leases(&self) {
        self.per_project.store(true, Ordering::SeqCst);
    }

    /// Takes or renews the lease `name` for `owner` for `ttl_secs` (server clock). A lease held by
    /// another owner is granted only once expired, with a larger token. Once granted, every write of
    /// this store checks, in its own transaction, that the lease still has this owner and token: a
    /// holder whose lease was taken over has its writes refused ([`Error::LeaseHeld`] naming the new
    /// owner), never interleaved with the new holder's, and a takeover waits for a write in flight.
    pub fn try_lease(&self, name: &str, owner: &str, ttl_secs: f64) -> Result<LeaseAttempt> {
        let mut conn = self.conn()?;
        let granted = conn.query_opt(
            "INSERT INTO ls_leases AS l (name, owner, token, expires_at)
             VALUES ($1, $2, 1, clock_timestamp() + make_interval(secs => $3))
             ON CONFLICT (name) DO UPDATE SET
                 owner = EXCLUDED.owner,
                 token = CASE WHEN l.owner = EXCLUDED.owner THEN l.token ELSE l.token + 1 END,
                 expires_at = EXCLUDED.expires_at
             WHERE l.owner = EXCLUDED.owner OR l.expires_at <= clock_timestamp()
             RETURNING token",
            &[&name, &owner, &ttl_secs],
        )?;
        if let Some(row) = granted {
            let token: i64 = row.get(0);
            if name == STORAGE_LEASE {
                self.storage_fenced.store(true, Ordering::SeqCst);
            }
            self.fences.lock().insert(
                name.to_string(),
                Fence {
                    owner: owner.to_string(),
                    token,
                },
            );
            return Ok(LeaseAttempt::Granted { token });
        }
        holder(&mut *conn, name)
    }

    /// The token of the lease `name` while this store holds it (as far as it knows: a lease taken
    /// over shows at the next renewal or write).
    pub fn held_token(&self, name: &str) -> Option<i64> {
        self.fences.lock().get(name).map(|f| f.token)
    }

    /// Extends every lease this store holds by `ttl_secs`, in one statement, each only while it
    /// still has this holder and token: a lease taken over in between stays lost (renewing must
    /// never take it back, since this holder's state of it is then stale). Returns the leases found
    /// lost, each with the [`Error::LeaseHeld`] naming who holds it now; they no longer fence writes.
    pub fn renew_leases(&self, ttl_secs: f64) -> Result<Vec<(String, Error)>> {
        let held: Vec<(String, Fence)> = self
            .fences
            .lock()
            .iter()
            .map(|(n, f)| (n.clone(), f.clone()))
            .collect();
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<&str> = held.iter().map(|(n, _)| n.as_str()).collect();
        let owners: Vec<&str> = held.iter().map(|(_, f)| f.owner.as_str()).collect();
        let tokens: Vec<i64> = held.iter().map(|(_, f)| f.token).collect();
        let mut conn = self.conn()?;
        let rows = conn.query(
            "UPDATE ls_leases l SET expires_at = clock_timestamp() + make_interval(secs => $4)
             FROM unnest($1::text[], $2::text[], $3::int8[]) AS h (name, owner, token)
             WHERE l.name = h.name AND l.owner = h.owner AND l.token = h.token
             RETURNING l.name",
            &[&names, &owners, &tokens, &ttl_secs],
        )?;
        let renewed: HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
        let mut lost_leases = Vec::new();
        for (name, fence) in held {
            if renewed.contains(&name) {
                continue;
            }
            self.forget(&name, &fence);
            lost_leases.push((name.clone(), lost(holder(&mut *conn, &name)?)));
        }
        Ok(lost_leases)
    }

    /// Drops the fence of `name` if it is still `fence` (a newer grant stays).
    fn forget(&self, name: &str, fence: &Fence) {
        let mut fences = self.fences.lock();
        if fences.get(name) == Some(fence) {
            fences.remove(name);
        }
    }

    /// Lets every lease go (each expires now; a next holder's token is still larger). Writes are no
    /// longer fenced by them.
    pub fn release_lease(&self) -> Result<()> {
        let names: Vec<String> = self.fences.lock().keys().cloned().collect();
        for name in names {
            self.release(&name)?;
        }
        Ok(())
    }

    /// Lets the lease `name` go, if this store holds it.
    pub fn release(&self, name: &str) -> Result<()> {
        let Some(fence) = self.fences.lock().remove(name) else {
            return Ok(());
        };
        self.conn()?.execute(
            "UPDATE ls_leases SET expires_at = clock_timestamp()
             WHERE name = $1 AND owner = $2 AND token = $3",
            &[&name, &fence.owner, &fence.token],
        )?;
        Ok(())
    }

    /// The leases a write must hold: the storage lease (once one was granted), or with project leases
    /// those of the projects it touches and, for a global blob or the history, the teacher's.
    fn leases_for<'a>(
        &self,
        projects: impl IntoIterator<Item = &'a str>,
        global: bool,
    ) -> Vec<String> {
        if !self.per_project.load(Ordering::SeqCst) {
            return if self.storage_fenced.load(Ordering::SeqCst) {
                vec![STORAGE_LEASE.to_string()]
            } else {
                Vec::new()
            };
        }
        let mut names: Vec<String> = projects.into_iter().map(project_lease).collect();
        if global {
            names.push(TEACHER_LEASE.to_string());
        }
        names.sort_unstable();
        names.dedup();
        names
    }

    /// A transaction that holds the leases `needed` (see [`PgStore::leases_for`]) until it ends: each
    /// must still have this holder and the token it was granted under, else the write is refused
    /// with [`Error::LeaseHeld`] naming who holds it now.
    fn fenced<'c>(
        &self,
        conn: &'c mut Connection,
        needed: &[String],
    ) -> Result<postgres::Transaction<'c>> {
        let mut tx = conn.transaction()?;
        if needed.is_empty() {
            return Ok(tx);
        }
        let expected: Vec<(&String, Option<Fence>)> = {
            let fences = self.fences.lock();
            needed.iter().map(|n| (n, fences.get(n).cloned())).collect()
        };
        let found: HashMap<String, (String, i64)> = tx
            .query(
                "SELECT name, owner, token FROM ls_leases WHERE name = ANY($1) FOR SHARE",
                &[&needed],
            )?
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect();
        for (name, fence) in expected {
            let holds = fence.as_ref().is_some_and(|f| {
                found
                    .get(name)
                    .is_some_and(|(owner, token)| *owner == f.owner && *token == f.token)
            });
            if !holds {
                drop(tx);
                if let Some(f) = &fence {
                    self.forget(name, f);
                }
                return Err(lost(holder(&mut *self.conn()?, name)?));
            }
        }
        Ok(tx)
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
        // A new project needs no lease of its own yet (its creator claims it next).
        let mut tx = self.fenced(&mut conn, &self.leases_for([], false))?;
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
        let mut tx = self.fenced(&mut conn, &self.leases_for([id], false))?;
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
        let mut tx = self.fenced(&mut conn, &self.leases_for([id], false))?;
        tx.execute("DELETE FROM ls_keys WHERE hash = $1", &[&key.0.as_slice()])?;
        tx.execute("DELETE FROM ls_projects WHERE id = $1", &[&id])?;
        tx.commit()?;
        Ok(())
    }

    /// See [`super::Store::commit`].
    pub fn commit(&self, writes: &[Write]) -> Result<()> {
        let projects = writes.iter().filter_map(|w| match w {
            Write::Project { id, .. } => Some(id.as_str()),
            Write::Blob { name, .. } | Write::RemoveBlob { name } => project_of_blob(name),
        });
        let global = writes.iter().any(|w| match w {
            Write::Project { .. } => false,
            Write::Blob { name, .. } | Write::RemoveBlob { name } => {
                project_of_blob(name).is_none()
            }
        });
        let needed = self.leases_for(projects, global);
        let mut conn = self.conn()?;
        let mut tx = self.fenced(&mut conn, &needed)?;
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

    /// See [`super::Store::projects_with_blob`]: one query (a join on the blobs' primary key), where
    /// a read per project cost a round trip each (100,000 projects: 20 s at open).
    pub fn projects_with_blob(&self, part: &str) -> Result<Vec<ProjectRow>> {
        let suffix = format!("/{part}");
        let rows = self.conn()?.query(
            "SELECT p.id, p.json, b.bytes FROM ls_projects p \
             LEFT JOIN ls_blobs b ON b.name = p.id || $1 ORDER BY p.id",
            &[&suffix],
        )?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
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
        let mut conn = self.conn()?;
        let mut tx = self.fenced(&mut conn, &self.leases_for([], true))?;
        let row = tx.query_one(
            "INSERT INTO ls_history (json) VALUES ($1) RETURNING seq",
            &[&json],
        )?;
        tx.commit()?;
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

/// A project's record (JSON bytes) and one of its blobs, if present.
pub type StoredProject = (Vec<u8>, Option<Vec<u8>>);

impl PgStore {
    /// One project's record (JSON) and its blob `part`, if the project exists.
    pub fn project_with_blob(&self, id: &str, part: &str) -> Result<Option<StoredProject>> {
        let row = self.conn()?.query_opt(
            "SELECT p.json, b.bytes FROM ls_projects p \
             LEFT JOIN ls_blobs b ON b.name = p.id || $2 WHERE p.id = $1",
            &[&id, &format!("/{part}")],
        )?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// The project a key hash belongs to, if any.
    pub fn project_of_key(&self, key: &KeyHash) -> Result<Option<String>> {
        let row = self.conn()?.query_opt(
            "SELECT project_id FROM ls_keys WHERE hash = $1",
            &[&key.0.as_slice()],
        )?;
        Ok(row.map(|r| r.get(0)))
    }

    /// An instance other than `owner` holding a live lease of the other scope: the storage lease
    /// when `per_project`, else a project's or the teacher's. Instances of one database must share
    /// one [`crate::LeaseScope`]; this finds one that does not.
    pub fn other_scope_holder(&self, owner: &str, per_project: bool) -> Result<Option<String>> {
        let row = self.conn()?.query_opt(
            "SELECT owner FROM ls_leases
             WHERE expires_at > clock_timestamp() AND owner <> $1
               AND (CASE WHEN $2 THEN name = $3 ELSE name <> $3 END)
             LIMIT 1",
            &[&owner, &per_project, &STORAGE_LEASE],
        )?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Who holds the lease `name` now, if anyone (an expired lease is nobody's).
    pub fn lease_holder(&self, name: &str) -> Result<Option<String>> {
        Ok(match holder(&mut *self.conn()?, name)? {
            LeaseAttempt::Held { owner, .. } => Some(owner),
            LeaseAttempt::Granted { .. } => None,
        })
    }

    /// The sequence number of the newest teacher update record (0: none yet).
    pub fn newest_history(&self) -> Result<u64> {
        let seq: i64 = self
            .conn()?
            .query_one("SELECT coalesce(max(seq), 0) FROM ls_history", &[])?
            .get(0);
        u64::try_from(seq).map_err(|_| Error::storage(format!("negative history number {seq}")))
    }
}

/// Who holds `name` now: [`LeaseAttempt::Held`], or `Granted` when nobody holds it.
fn holder(client: &mut impl postgres::GenericClient, name: &str) -> Result<LeaseAttempt> {
    let row = client.query_opt(
        "SELECT owner, token, greatest(0, extract(epoch FROM expires_at - clock_timestamp()))::float8
         FROM ls_leases WHERE name = $1",
        &[&name],
    )?;
    Ok(match row {
        Some(r) if r.get::<_, f64>(2) > 0.0 => LeaseAttempt::Held {
            owner: r.get(0),
            expires_in_secs: r.get(2),
        },
        Some(r) => LeaseAttempt::Granted { token: r.get(1) },
        None => LeaseAttempt::Granted { token: 0 },
    })
}

/// The error of a holder that lost its lease, naming who holds it now.
fn lost(now: LeaseAttempt) -> Error {
    match now {
        LeaseAttempt::Held {
            owner,
            expires_in_secs,
        } => Error::LeaseHeld {
            owner: public_owner(&owner).to_string(),
            expires_in_secs,
        },
        LeaseAttempt::Granted { .. } => Error::LeaseHeld {
            owner: "nobody now (it was taken over, then lapsed)".into(),
            expires_in_secs: 0.0,
        },
    }
}

/// The part of a lease owner a router can use: `instance#nonce` names the instance.
pub fn public_owner(owner: &str) -> &str {
    owner
        .split_once('#')
        .map_or(owner, |(instance, _)| instance)
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

/// Parses a connection URL and its TLS settings ([`pg_tls`]); anything else is a configuration
/// error naming `STORAGE_URL`.
pub fn parse_url(url: &str) -> Result<(postgres::Config, TlsSettings)> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(Error::InvalidConfig {
            name: "STORAGE_URL".into(),
            reason: "expected a postgres:// or postgresql:// URL".into(),
        });
    }
    let (url, tls) = pg_tls::split_url(url)?;
    let mut config = postgres::Config::from_str(&url).map_err(|e| Error::InvalidConfig {
        name: "STORAGE_URL".into(),
        reason: format!("not a PostgreSQL connection URL: {e}"),
    })?;
    config.ssl_mode(tls.ssl_mode());
    Ok((config, tls))
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
