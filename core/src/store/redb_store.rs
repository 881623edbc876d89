//! The embedded default backend: one redb file, `logsentinel.redb` under `STORAGE_DIR`.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::{project_blob, project_of_blob, ProjectRow, Write};
use crate::error::{Error, Result};
use crate::tenant::keys::KeyHash;

const PROJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("projects");
const KEYS: TableDefinition<&[u8], &str> = TableDefinition::new("keys");
const BLOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("blobs");
const HISTORY: TableDefinition<u64, &[u8]> = TableDefinition::new("history");

/// File name of the database inside the storage directory.
pub const DB_FILE: &str = "logsentinel.redb";

/// redb's page cache. Its default (1 GiB) kept every page read once: each student loaded from storage
/// left its 1.6 MB of pages resident beside the model built from them, about as much again. Blobs are
/// read once per load, so the cache earns its keep only on the B-tree's interior pages.
const PAGE_CACHE_BYTES: usize = 32 << 20;

/// The embedded database.
pub struct RedbStore {
    db: Database,
    path: std::path::PathBuf,
}

impl RedbStore {
    /// Opens (creating when needed) the database under `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::Storage(format!(
                "cannot create storage directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join(DB_FILE);
        let db = redb::Builder::new()
            .set_cache_size(PAGE_CACHE_BYTES)
            .create(&path)
            .map_err(|e| Error::Storage(format!("cannot open {}: {e}", path.display())))?;
        let tx = db.begin_write()?;
        {
            tx.open_table(PROJECTS)?;
            tx.open_table(KEYS)?;
            tx.open_table(BLOBS)?;
            tx.open_table(HISTORY)?;
        }
        tx.commit()?;
        Ok(Self { db, path })
    }

    /// The database file.
    pub fn location(&self) -> String {
        self.path.display().to_string()
    }

    /// Creates a project, its key and its first blobs (named without the `"{id}/"` prefix) in one
    /// durable transaction.
    pub fn create_project_with(
        &self,
        id: &str,
        json: &[u8],
        key: &KeyHash,
        blobs: &[(&str, Vec<u8>)],
    ) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut projects = tx.open_table(PROJECTS)?;
            if projects.get(id)?.is_some() {
                return Err(Error::invalid_input(format!("project {id} already exists")));
            }
            projects.insert(id, json)?;
            tx.open_table(KEYS)?.insert(key.0.as_slice(), id)?;
            let mut table = tx.open_table(BLOBS)?;
            for (name, bytes) in blobs {
                table.insert(project_blob(id, name).as_str(), bytes.as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Replaces a project's key: the old hash stops working in the same transaction.
    pub fn rotate_key(&self, id: &str, old: &KeyHash, new: &KeyHash, json: &[u8]) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut keys = tx.open_table(KEYS)?;
            keys.remove(old.0.as_slice())?;
            keys.insert(new.0.as_slice(), id)?;
            tx.open_table(PROJECTS)?.insert(id, json)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Deletes a project, its key and every blob under `"{id}/"`.
    pub fn delete_project(&self, id: &str, key: &KeyHash) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            tx.open_table(PROJECTS)?.remove(id)?;
            tx.open_table(KEYS)?.remove(key.0.as_slice())?;
            let mut blobs = tx.open_table(BLOBS)?;
            let prefix = format!("{id}/");
            let names: Vec<String> = blobs
                .range(prefix.as_str()..)?
                .map(|r| r.map(|(k, _)| k.value().to_string()))
                .take_while(|r| r.as_ref().map(|k| k.starts_with(&prefix)).unwrap_or(true))
                .collect::<std::result::Result<_, _>>()?;
            for name in names {
                blobs.remove(name.as_str())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Applies a batch of writes atomically and durably.
    pub fn commit(&self, writes: &[Write]) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut projects = tx.open_table(PROJECTS)?;
            let mut blobs = tx.open_table(BLOBS)?;
            for w in writes {
                match w {
                    Write::Project { id, json } => {
                        // A record written after a concurrent delete must not resurrect the project.
                        if projects.get(id.as_str())?.is_some() {
                            projects.insert(id.as_str(), json.as_slice())?;
                        }
                    }
                    Write::Blob { name, bytes } => {
                        if project_of_blob(name)
                            .is_none_or(|p| projects.get(p).ok().flatten().is_some())
                        {
                            blobs.insert(name.as_str(), bytes.as_slice())?;
                        }
                    }
                    Write::RemoveBlob { name } => {
                        blobs.remove(name.as_str())?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every project record, as JSON bytes.
    pub fn projects(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(PROJECTS)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (k, v) = row?;
            out.push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// See [`super::Store::projects_with_blob`]: one read transaction for all.
    pub fn projects_with_blob(&self, part: &str) -> Result<Vec<ProjectRow>> {
        let tx = self.db.begin_read()?;
        let projects = tx.open_table(PROJECTS)?;
        let blobs = tx.open_table(BLOBS)?;
        let mut out = Vec::new();
        for row in projects.iter()? {
            let (k, v) = row?;
            let id = k.value().to_string();
            let blob = blobs
                .get(project_blob(&id, part).as_str())?
                .map(|b| b.value().to_vec());
            out.push((id, v.value().to_vec(), blob));
        }
        Ok(out)
    }

    /// Every key hash with its project id.
    pub fn keys(&self) -> Result<Vec<(KeyHash, String)>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(KEYS)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (k, v) = row?;
            let bytes: [u8; 32] = k
                .value()
                .try_into()
                .map_err(|_| Error::storage("corrupt key hash in keys table"))?;
            out.push((KeyHash(bytes), v.value().to_string()));
        }
        Ok(out)
    }

    /// `read` applied to a blob's bytes where they lie in the read transaction, if the blob is
    /// present: a large blob (a student's weights) is decoded without a copy first.
    pub fn read_blob<T>(
        &self,
        name: &str,
        read: impl FnOnce(&[u8]) -> Result<T>,
    ) -> Result<Option<T>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(BLOBS)?;
        let Some(guard) = table.get(name)? else {
            return Ok(None);
        };
        read(guard.value()).map(Some)
    }

    /// Appends one JSON record to the update history.
    pub fn append_history(&self, json: &[u8]) -> Result<u64> {
        let tx = self.db.begin_write()?;
        let seq;
        {
            let mut table = tx.open_table(HISTORY)?;
            seq = table.last()?.map(|(k, _)| k.value() + 1).unwrap_or(1);
            table.insert(seq, json)?;
        }
        tx.commit()?;
        Ok(seq)
    }

    /// The update history, oldest first.
    pub fn history(&self) -> Result<Vec<Vec<u8>>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(HISTORY)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            out.push(row?.1.value().to_vec());
        }
        Ok(out)
    }
}
