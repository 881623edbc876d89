//! Storage: the few transactions the detector needs, on one of two backends.
//!
//! - **redb** (the embedded default): one database file, `logsentinel.redb` under `STORAGE_DIR`.
//! - **PostgreSQL** (`STORAGE_URL=postgres://...`): a database several detector instances share
//!   (issue 24); its schema is created and migrated by [`postgres_store`].
//!
//! Both hold the same four collections with the same transactions:
//! - `projects`: project id → JSON [`crate::tenant::ProjectRecord`]
//! - `keys`: SHA-256 of an API key → project id (the key itself is never stored)
//! - `blobs`: `"{project_id}/{name}"` or `"global/{name}"` → bytes (miners, samples, models, vocabularies)
//! - `history`: sequence number → JSON teacher update record
//!
//! Project and key changes commit before the call returns. Per-log state (counters, templates, samples)
//! is group-committed by the detector (see [`crate::Config::commit_every_logs`]).

use std::path::Path;

use bincode::Options;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::tenant::keys::KeyHash;

pub mod lease;
pub mod pg_tls;
pub mod postgres_store;
pub mod redb_store;

pub use postgres_store::PgStore;
pub use redb_store::{RedbStore, DB_FILE};

/// One write in a batch committed atomically by [`super::Store::commit`].
#[derive(Debug)]
pub enum Write {
    /// Insert or replace a project record.
    Project {
        /// Project id.
        id: String,
        /// JSON bytes of the record.
        json: Vec<u8>,
    },
    /// Insert or replace a blob.
    Blob {
        /// Blob name (`"{project}/{name}"` or `"global/{name}"`).
        name: String,
        /// Contents.
        bytes: Vec<u8>,
    },
    /// Remove a blob (no-op when absent).
    RemoveBlob {
        /// Blob name.
        name: String,
    },
}

/// A project id, its record (JSON bytes) and one of its blobs, if present.
pub type ProjectRow = (String, Vec<u8>, Option<Vec<u8>>);

/// The detector's storage, on whichever backend the configuration names.
pub struct Store {
    backend: Backend,
}

enum Backend {
    Redb(RedbStore),
    Postgres(PgStore),
}

/// Calls the same method on whichever backend is open.
macro_rules! dispatch {
    ($self:ident, $store:ident => $call:expr) => {
        match &$self.backend {
            Backend::Redb($store) => $call,
            Backend::Postgres($store) => $call,
        }
    };
}

impl Store {
    /// Opens (creating when needed) the embedded database under `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        Ok(Self {
            backend: Backend::Redb(RedbStore::open(dir)?),
        })
    }

    /// Connects to a PostgreSQL database (`postgres://` or `postgresql://` URL), creating or
    /// migrating its schema.
    pub fn open_url(url: &str) -> Result<Self> {
        Ok(Self {
            backend: Backend::Postgres(PgStore::open(url)?),
        })
    }

    /// Opens what `config` names: [`Config::storage_url`] when set, else [`Config::storage_dir`].
    pub fn open_config(config: &Config) -> Result<Self> {
        match &config.storage_url {
            Some(url) => Self::open_url(url),
            None => Self::open(&config.storage_dir),
        }
    }

    /// The shared database, when the state is kept in one (leases apply there only: a redb file is
    /// locked by the one process that opened it).
    pub fn shared(&self) -> Option<&PgStore> {
        match &self.backend {
            Backend::Redb(_) => None,
            Backend::Postgres(s) => Some(s),
        }
    }

    /// Where the data lives, for messages (a PostgreSQL password is never shown).
    pub fn location(&self) -> String {
        match &self.backend {
            Backend::Redb(s) => s.location(),
            Backend::Postgres(s) => s.location(),
        }
    }

    /// Creates a project and its key in one durable transaction.
    pub fn create_project(&self, id: &str, json: &[u8], key: &KeyHash) -> Result<()> {
        self.create_project_with(id, json, key, &[])
    }

    /// Creates a project, its key and its first blobs (named without the `"{id}/"` prefix) in one
    /// durable transaction. An id already taken is [`Error::InvalidInput`].
    pub fn create_project_with(
        &self,
        id: &str,
        json: &[u8],
        key: &KeyHash,
        blobs: &[(&str, Vec<u8>)],
    ) -> Result<()> {
        dispatch!(self, s => s.create_project_with(id, json, key, blobs))
    }

    /// Replaces a project's key: the old hash stops working in the same transaction.
    pub fn rotate_key(&self, id: &str, old: &KeyHash, new: &KeyHash, json: &[u8]) -> Result<()> {
        dispatch!(self, s => s.rotate_key(id, old, new, json))
    }

    /// Deletes a project, its key and every blob under `"{id}/"`.
    pub fn delete_project(&self, id: &str, key: &KeyHash) -> Result<()> {
        dispatch!(self, s => s.delete_project(id, key))
    }

    /// Applies a batch of writes atomically and durably. A record or blob of a project that no longer
    /// exists is dropped: a write racing a delete never resurrects the project.
    pub fn commit(&self, writes: Vec<Write>) -> Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        dispatch!(self, s => s.commit(&writes))
    }

    /// Every project record, as JSON bytes, ordered by id.
    pub fn projects(&self) -> Result<Vec<(String, Vec<u8>)>> {
        dispatch!(self, s => s.projects())
    }

    /// Every project record with its blob `part` (`"{id}/{part}"`, when present), ordered by id: what
    /// a detector reads at open, in one pass.
    pub fn projects_with_blob(&self, part: &str) -> Result<Vec<ProjectRow>> {
        dispatch!(self, s => s.projects_with_blob(part))
    }

    /// Every key hash with its project id.
    pub fn keys(&self) -> Result<Vec<(KeyHash, String)>> {
        dispatch!(self, s => s.keys())
    }

    /// A blob, if present.
    pub fn blob(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.read_blob(name, |bytes| Ok(bytes.to_vec()))
    }

    /// `read` applied to a blob's bytes, if the blob is present (on redb, where they lie in the read
    /// transaction: a large blob, a student's weights, is decoded without a copy first).
    pub fn read_blob<T>(
        &self,
        name: &str,
        read: impl FnOnce(&[u8]) -> Result<T>,
    ) -> Result<Option<T>> {
        dispatch!(self, s => s.read_blob(name, read))
    }

    /// Appends one JSON record to the update history; returns its sequence number.
    pub fn append_history(&self, json: &[u8]) -> Result<u64> {
        dispatch!(self, s => s.append_history(json))
    }

    /// The update history, oldest first.
    pub fn history(&self) -> Result<Vec<Vec<u8>>> {
        dispatch!(self, s => s.history())
    }
}

/// The project id a blob name belongs to (`None` for global blobs).
fn project_of_blob(name: &str) -> Option<&str> {
    let (head, _) = name.split_once('/')?;
    (head != "global").then_some(head)
}

/// Marks a blob in the compact binary encoding (bincode 1, fields in declaration order). A change to
/// the fields of a type stored this way needs a new marker and a reader for the old one.
const BINARY_MARKER: &[u8; 4] = b"LSB1";

/// Encodes a large, often rewritten value (training samples, student metadata): an order of magnitude
/// faster to write and read back than JSON.
pub fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut out = BINARY_MARKER.to_vec();
    bincode::serialize_into(&mut out, value)
        .map_err(|e| Error::storage(format!("encoding a stored value: {e}")))?;
    Ok(out)
}

/// Decodes a value written by [`encode`], or the JSON that earlier versions wrote.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    match bytes.strip_prefix(BINARY_MARKER.as_slice()) {
        Some(body) => bincode::options()
            .with_fixint_encoding()
            .allow_trailing_bytes()
            .with_limit(body.len() as u64 * 64 + 1024)
            .deserialize(body)
            .map_err(|e| Error::storage(format!("decoding a stored value: {e}"))),
        None => Ok(serde_json::from_slice(bytes)?),
    }
}

/// Name of a project's blob.
pub fn project_blob(project_id: &str, name: &str) -> String {
    format!("{project_id}/{name}")
}

/// Name of a global blob.
pub fn global_blob(name: &str) -> String {
    format!("global/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::keys::hash_key;

    #[test]
    fn projects_keys_blobs_survive_reopen_and_delete_cascades() {
        let dir = tempfile::tempdir().unwrap();
        let key = hash_key("sk-test");
        {
            let s = Store::open(dir.path()).unwrap();
            s.create_project("p1", b"{}", &key).unwrap();
            assert!(s.create_project("p1", b"{}", &key).is_err());
            s.commit(vec![
                Write::Blob {
                    name: project_blob("p1", "miner"),
                    bytes: vec![1, 2, 3],
                },
                Write::Blob {
                    name: global_blob("vocab"),
                    bytes: vec![9],
                },
                // a blob for a project that does not exist is dropped, never resurrecting it
                Write::Blob {
                    name: project_blob("ghost", "miner"),
                    bytes: vec![1],
                },
            ])
            .unwrap();
            s.append_history(b"{\"a\":1}").unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.projects().unwrap().len(), 1);
        assert_eq!(s.keys().unwrap()[0].1, "p1");
        assert_eq!(s.blob("p1/miner").unwrap(), Some(vec![1, 2, 3]));
        assert_eq!(s.blob("ghost/miner").unwrap(), None);
        s.create_project("p2", b"{\"b\":2}", &hash_key("sk-other"))
            .unwrap();
        assert_eq!(
            s.projects_with_blob("miner").unwrap(),
            vec![
                ("p1".to_string(), b"{}".to_vec(), Some(vec![1, 2, 3])),
                ("p2".to_string(), b"{\"b\":2}".to_vec(), None),
            ]
        );
        s.delete_project("p2", &hash_key("sk-other")).unwrap();
        assert_eq!(s.history().unwrap().len(), 1);
        s.delete_project("p1", &key).unwrap();
        assert!(s.projects().unwrap().is_empty());
        assert!(s.keys().unwrap().is_empty());
        assert_eq!(s.blob("p1/miner").unwrap(), None);
        assert_eq!(s.blob("global/vocab").unwrap(), Some(vec![9]));
    }

    #[test]
    fn read_blob_hands_the_stored_bytes_and_the_reader_errors_through() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // Blobs of a project are kept only while it exists.
        store
            .create_project("p1", b"{}", &hash_key("sk-test"))
            .unwrap();
        let name = project_blob("p1", "student");
        assert_eq!(store.read_blob(&name, |b| Ok(b.len())).unwrap(), None);
        store
            .commit(vec![Write::Blob {
                name: name.clone(),
                bytes: vec![7; 3 << 20],
            }])
            .unwrap();
        let sum = store
            .read_blob(&name, |b| Ok(b.iter().map(|&x| x as u64).sum::<u64>()))
            .unwrap();
        assert_eq!(sum, Some(7 * (3 << 20)));
        let failed = store.read_blob(&name, |_| Err::<(), _>(Error::model("bad weights")));
        assert!(matches!(failed, Err(Error::Model(m)) if m == "bad weights"));
    }

    #[test]
    fn stored_values_round_trip_in_binary_and_read_old_json() {
        use crate::tenant::project::{Samples, StoredSequence};
        let mut samples = Samples::default();
        samples.sequences.push_back(StoredSequence {
            templates: vec![1, 2, 3],
            complete: true,
        });
        samples.rule_counts.insert("sql_injection".into(), 4);
        samples.pending_novel.push_back("a line never seen".into());
        let bytes = encode(&samples).unwrap();
        assert!(bytes.starts_with(b"LSB1"));
        let back: Samples = decode(&bytes).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&samples).unwrap()
        );
        // Storage written by earlier versions (JSON) still reads.
        let old: Samples = decode(&serde_json::to_vec(&samples).unwrap()).unwrap();
        assert_eq!(old.sequences, samples.sequences);
        // Damaged bytes are a storage error, never a panic or a huge allocation.
        for cut in [4, 5, 9, bytes.len() - 1] {
            assert!(decode::<Samples>(&bytes[..cut]).is_err());
        }
        let mut hostile = b"LSB1".to_vec();
        hostile.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode::<Samples>(&hostile).is_err());
    }
}
