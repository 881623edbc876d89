//! Many instances on one shared database, each tenant written by one of them at a time
//! ([`crate::LeaseScope::Project`], issue 24).
//!
//! - A project is **taken** at its first call on an instance: its lease is granted (or the call
//!   waits up to [`Config::lease_wait_secs`], then fails with [`Error::LeaseHeld`] naming the
//!   holder, so a router can forward), and whenever the fencing token is not the one the state in
//!   memory was read under, the project is read back from the database first: another instance may
//!   have served it in between. An interrupted training is redone then.
//! - A key or project created on another instance is found in the database on a miss; one deleted
//!   there is gone at the next take.
//! - Every write is fenced by the leases of the projects it touches (see
//!   [`crate::store::PgStore`]); a lease found lost at a renewal drops the project's state in memory.
//! - The shared teacher (model, vocabulary, metadata, history) is written only under the teacher
//!   lease, once for the fleet: an instance that takes it first reads back any update another
//!   instance made, and every instance reads back the teacher when the history moves.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::config::{Config, LeaseScope};
use crate::detector::{Inner, ProjectSlot};
use crate::error::{Error, Result};
use crate::model::vocab::GlobalVocab;
use crate::parse::TemplateMiner;
use crate::store::lease::{self, project_lease, TEACHER_LEASE};
use crate::store::{global_blob, PgStore};
use crate::tenant::keys::KeyHash;
use crate::tenant::project::{ProjectRecord, ProjectState};
use crate::train::pipeline::TeacherCore;

/// A project's state as read from its stored record and miner (samples and student stay in storage
/// until a call needs them).
pub(crate) fn state_from_storage(
    json: &[u8],
    miner: Option<Vec<u8>>,
    config: &Config,
) -> Result<ProjectState> {
    let record: ProjectRecord = serde_json::from_slice(json)?;
    let miner: Option<TemplateMiner> = miner.map(|b| serde_json::from_slice(&b)).transpose()?;
    ProjectState::new(record, miner, None, config)
}

impl Inner {
    /// The shared database, when projects are leased one by one.
    pub(crate) fn project_leases(&self) -> Option<&PgStore> {
        match self.config.lease_scope {
            LeaseScope::Project => self.store.shared(),
            LeaseScope::Storage => None,
        }
    }

    /// Whether this instance may write the project whose state is `st` (always, without project
    /// leases).
    pub(crate) fn holds(&self, st: &ProjectState) -> bool {
        match self.project_leases() {
            Some(shared) => {
                st.lease_token.is_some()
                    && shared.held_token(&project_lease(&st.record.id)) == st.lease_token
            }
            None => true,
        }
    }

    /// Takes the project's lease if this instance does not hold it (see the module doc), reading
    /// the project back from the database when another holder may have changed it. Nothing to do
    /// without project leases.
    pub(crate) fn claim(&self, id: &str, slot: &ProjectSlot) -> Result<()> {
        let Some(shared) = self.project_leases() else {
            return Ok(());
        };
        let mut st = slot.lock();
        if st.deleted {
            return Err(Error::ProjectNotFound { id: id.to_string() });
        }
        if self.holds(&st) {
            return Ok(());
        }
        let token = lease::take_named(
            shared,
            &project_lease(id),
            &self.holder,
            &self.config,
            self.config.lease_wait_secs,
        )?;
        if st.lease_token != Some(token) {
            if let Err(e) = self.reload_project(shared, id, &mut st) {
                // Not ours to keep: the next call takes it again.
                let _ = shared.release(&project_lease(id));
                return Err(e);
            }
            st.lease_token = Some(token);
            self.maybe_start_training(&mut st);
        }
        Ok(())
    }

    /// Replaces the project's state in memory with what the database holds (another instance may
    /// have served it); a project deleted there is dropped here too.
    fn reload_project(&self, shared: &PgStore, id: &str, st: &mut ProjectState) -> Result<()> {
        if let Some(job) = &st.job {
            // A training of the state held before would install a stale student.
            job.cancel();
        }
        self.forget_student(id);
        let Some((json, miner)) = shared.project_with_blob(id, "miner")? else {
            st.deleted = true;
            self.projects.write().remove(id);
            self.keys.write().remove(&st.key_hash);
            return Err(Error::ProjectNotFound { id: id.to_string() });
        };
        let fresh = state_from_storage(&json, miner, &self.config)?;
        if fresh.key_hash != st.key_hash {
            let mut keys = self.keys.write();
            keys.remove(&st.key_hash);
            keys.insert(fresh.key_hash, id.to_string());
        }
        *st = fresh;
        Ok(())
    }

    /// Drops a project's state in memory after its lease was found taken over: samples, sessions
    /// and student go (they are the new holder's to write); the next call here takes the lease
    /// again and reads the project back.
    pub(crate) fn release_project_state(&self, id: &str) {
        let Some(slot) = self.projects.read().get(id).cloned() else {
            return;
        };
        let mut st = slot.lock();
        if let Some(job) = &st.job {
            job.cancel();
        }
        self.forget_student(id);
        match ProjectState::new(
            st.record.clone(),
            Some(st.miner.clone()),
            None,
            &self.config,
        ) {
            Ok(idle) => *st = idle,
            Err(_) => st.lease_token = None,
        }
    }

    /// Removes a project's student from the memory accounting.
    fn forget_student(&self, id: &str) {
        let mut loaded = self.loaded.lock();
        if let Some((_, bytes)) = loaded.by_project.remove(id) {
            loaded.total_bytes -= bytes;
        }
    }

    /// The project of a key this instance does not know: created, or given a new key, on another
    /// instance. `None` without project leases or when no project has the key.
    pub(crate) fn find_key_elsewhere(&self, hash: &KeyHash) -> Result<Option<String>> {
        let Some(shared) = self.project_leases() else {
            return Ok(None);
        };
        let Some(id) = shared.project_of_key(hash)? else {
            return Ok(None);
        };
        if self.find_project_elsewhere(&id)?.is_none() {
            return Ok(None);
        }
        self.keys.write().insert(*hash, id.clone());
        Ok(Some(id))
    }

    /// The slot of a project by id, read from the database when this instance does not know it
    /// (created on another instance). `None` when no such project exists.
    pub(crate) fn find_project_elsewhere(&self, id: &str) -> Result<Option<ProjectSlot>> {
        if let Some(slot) = self.projects.read().get(id).cloned() {
            return Ok(Some(slot));
        }
        let Some(shared) = self.project_leases() else {
            return Ok(None);
        };
        let Some((json, miner)) = shared.project_with_blob(id, "miner")? else {
            return Ok(None);
        };
        let state = state_from_storage(&json, miner, &self.config)?;
        let slot = self
            .projects
            .write()
            .entry(id.to_string())
            .or_insert_with(|| Arc::new(Mutex::new(state)))
            .clone();
        Ok(Some(slot))
    }

    /// The slot of a project by id (admin calls), taken as [`Inner::claim`] does.
    pub(crate) fn claimed_slot(&self, id: &str) -> Result<ProjectSlot> {
        let slot = self
            .find_project_elsewhere(id)?
            .ok_or_else(|| Error::ProjectNotFound { id: id.to_string() })?;
        self.claim(id, &slot)?;
        Ok(slot)
    }

    /// Brings the list of projects in memory up to the database's (projects created or deleted on
    /// other instances): before a listing or a teacher update pools every project's data.
    pub(crate) fn refresh_projects(&self) -> Result<()> {
        if self.project_leases().is_none() {
            return Ok(());
        }
        let rows = self.store.projects_with_blob("miner")?;
        let stored: std::collections::HashSet<&str> =
            rows.iter().map(|(id, _, _)| id.as_str()).collect();
        let gone: Vec<(String, ProjectSlot)> = self
            .projects
            .read()
            .iter()
            .filter(|(id, _)| !stored.contains(id.as_str()))
            .map(|(id, slot)| (id.clone(), slot.clone()))
            .collect();
        for (id, slot) in gone {
            let mut st = slot.lock();
            if !self.holds(&st) {
                st.deleted = true;
                self.keys.write().remove(&st.key_hash);
                self.projects.write().remove(&id);
            }
        }
        for (id, json, miner) in rows {
            let known = self.projects.read().get(&id).cloned();
            match known {
                // Held here: memory is newer than the database.
                Some(slot) if self.holds(&slot.lock()) => {}
                Some(slot) => {
                    let fresh = state_from_storage(&json, miner, &self.config)?;
                    let mut st = slot.lock();
                    let mut keys = self.keys.write();
                    keys.remove(&st.key_hash);
                    keys.insert(fresh.key_hash, id.clone());
                    *st = fresh;
                }
                None => {
                    let state = state_from_storage(&json, miner, &self.config)?;
                    self.keys.write().insert(state.key_hash, id.clone());
                    self.projects
                        .write()
                        .entry(id)
                        .or_insert_with(|| Arc::new(Mutex::new(state)));
                }
            }
        }
        Ok(())
    }

    /// Runs `write` (a teacher training that publishes) under the teacher lease when projects are
    /// leased one by one: the lease is waited for, the teacher another instance published meanwhile
    /// is read back first, and the lease goes back after. Without project leases, `write` runs as is.
    pub(crate) fn with_teacher_lease<T>(
        &self,
        core: &mut TeacherCore,
        write: impl FnOnce(&mut TeacherCore) -> Result<T>,
    ) -> Result<T> {
        let Some(shared) = self.project_leases() else {
            return write(core);
        };
        lease::take_named(
            shared,
            TEACHER_LEASE,
            &self.holder,
            &self.config,
            f64::INFINITY,
        )?;
        let result = (|| -> Result<T> {
            if shared.newest_history()? > self.known_history.load(Ordering::SeqCst) {
                self.adopt_stored_teacher(shared, core)?;
            }
            self.refresh_projects()?;
            let out = write(core)?;
            self.known_history
                .store(shared.newest_history()?, Ordering::SeqCst);
            Ok(out)
        })();
        let released = shared.release(TEACHER_LEASE);
        let out = result?;
        released?;
        Ok(out)
    }

    /// Reads the teacher back when another instance published an update (the history moved past
    /// the one this instance's teacher reflects). Called from the lease thread; skipped while a
    /// teacher training of this instance holds the model.
    pub(crate) fn follow_teacher_updates(&self) -> Result<()> {
        let Some(shared) = self.project_leases() else {
            return Ok(());
        };
        if shared.newest_history()? <= self.known_history.load(Ordering::SeqCst) {
            return Ok(());
        }
        // An update records its history before its schedule and version: read it back once its
        // writer let the teacher lease go (or the lease expired), never half-way.
        if shared
            .lease_holder(TEACHER_LEASE)?
            .is_some_and(|owner| owner != self.holder)
        {
            return Ok(());
        }
        // A teacher training of this instance holds the model's lock while it waits for the teacher
        // lease and trains; it reads the published teacher back itself once it has the lease. The
        // lease thread must not wait for it: its renewals keep every project lease alive.
        let Some(mut core) = self.teacher.try_lock() else {
            return Ok(());
        };
        self.adopt_stored_teacher(shared, &mut core)
    }

    /// Replaces the teacher, its metadata and the vocabulary with the stored ones (`core` locked by
    /// the caller; lock order as in a teacher update: the model, then metadata, then vocabulary).
    fn adopt_stored_teacher(&self, shared: &PgStore, core: &mut TeacherCore) -> Result<()> {
        let newest = shared.newest_history()?;
        let mut vocab: GlobalVocab = match self.store.blob(&global_blob("vocab"))? {
            Some(b) => serde_json::from_slice(&b)?,
            None => GlobalVocab::default(),
        };
        vocab.reindex();
        let (stored, mut view, stored_meta) = TeacherCore::load(
            &self.store,
            &self.config,
            &self.device,
            &vocab,
            self.clock.now(),
            None,
        )?;
        let mut meta = self.teacher_meta.lock();
        *core = stored;
        let logs_before = meta.logs_processed_before;
        *meta = stored_meta;
        meta.logs_processed_before = logs_before;
        let mut shared_vocab = self.vocab.write();
        *shared_vocab = vocab;
        view.generation = self.next_generation();
        *self.teacher_view.write() = Arc::new(view);
        drop(shared_vocab);
        drop(meta);
        self.known_history.store(newest, Ordering::SeqCst);
        Ok(())
    }
}
