//! [`TenantDetector`]: the multi-tenant detector every surface wraps.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use candle_core::Device;
use parking_lot::{Mutex, RwLock};

use crate::config::{Config, DeviceKind, LeaseScope};
use crate::error::{Error, Result};
use crate::model::ensemble::TeacherView;
use crate::model::vocab::GlobalVocab;
use crate::store::{global_blob, lease, project_blob, Store, Write};
use crate::tenant::feedback::{Feedback, FeedbackScope, FeedbackTarget, NewFeedback};
use crate::tenant::incident::{Incident, IncidentState};
use crate::tenant::keys::{generate_key, hash_key, presented_key_hash, KeyHash};
use crate::tenant::project::{
    compile_session_pattern, LineContext, ProjectRecord, ProjectState, Samples,
};
use crate::train::clock::{Clock, SystemClock};
use crate::train::job::{JobHandle, JobRunner, JobStatus};
use crate::train::model_dir;
use crate::train::pipeline::{TeacherCore, TeacherMeta};
use crate::types::{
    BatchDetection, CreatedProject, Detection, Health, LogRecord, NewProject, Phase, ProjectStatus,
    ProjectSummary, SessionVerdict, TeacherInfo, TeacherUpdate,
};

/// A callback receiving every session verdict as it is produced (on the thread that produced it, after
/// the project's lock is released).
pub type VerdictCallback = Arc<dyn Fn(&SessionVerdict) + Send + Sync>;

/// A callback receiving every incident as it is raised (on the thread that raised it, after the
/// project's lock is released).
pub type IncidentCallback = Arc<dyn Fn(&Incident) + Send + Sync>;

/// The multi-tenant anomaly detector: a cheap `Clone` (`Arc` inside), `Send + Sync`.
///
/// ```
/// use logsentinel::{Config, LogRecord, NewProject, TenantDetector};
/// # let dir = tempfile::tempdir().unwrap();
/// let det = TenantDetector::open(Config::with_storage_dir(dir.path()).tiny_models())?;
/// let p = det.create_project(NewProject::named("My Web App").warmup_threshold(1_000))?;
/// // p.api_key is shown once; only its SHA-256 is stored.
/// let d = det.detect(&p.api_key, LogRecord::new("GET /index.html 200").session("10.0.0.7"))?;
/// assert_eq!(d.phase, logsentinel::Phase::Warmup);
/// # Ok::<(), logsentinel::Error>(())
/// ```
#[derive(Clone)]
pub struct TenantDetector {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) type ProjectSlot = Arc<Mutex<ProjectState>>;

pub(crate) struct Inner {
    pub(crate) config: Config,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) store: Store,
    pub(crate) device: Device,
    pub(crate) projects: RwLock<HashMap<String, ProjectSlot>>,
    pub(crate) keys: RwLock<HashMap<KeyHash, String>>,
    pub(crate) teacher_view: RwLock<Arc<TeacherView>>,
    pub(crate) teacher: Mutex<TeacherCore>,
    pub(crate) vocab: RwLock<GlobalVocab>,
    pub(crate) teacher_meta: Mutex<TeacherMeta>,
    pub(crate) teacher_job: Mutex<Option<JobHandle>>,
    pub(crate) jobs: JobRunner,
    pub(crate) generation: AtomicU64,
    pub(crate) logs_processed: AtomicU64,
    closed: AtomicBool,
    callback: RwLock<Option<VerdictCallback>>,
    incident_callback: RwLock<Option<IncidentCallback>>,
    pub(crate) loaded: Mutex<LoadedStudents>,
    /// Set when another instance took this detector's lease on a shared database over: the instance
    /// holding it now and when it expires. Every call then fails with [`Error::LeaseHeld`].
    lease_lost: Mutex<Option<(String, f64)>>,
    /// This open detector as a lease holder on a shared database (see [`lease::holder_name`]).
    pub(crate) holder: String,
    /// With project leases: the newest teacher update record the teacher in memory reflects (another
    /// instance's update is read back once the history moves past it).
    pub(crate) known_history: AtomicU64,
    pub(crate) self_ref: Weak<Inner>,
}

/// The teacher in `MODEL_DIR` to start from: only when the storage holds no teacher yet (a storage
/// that has one keeps it; the directory is read once, then the storage carries it). Its model must
/// have the configured teacher's shape, and the storage's vocabulary (templates of projects created
/// before) must be the start of the directory's, so that every stored id keeps its template.
fn pretrained_teacher(
    store: &Store,
    config: &Config,
    stored_vocab: &GlobalVocab,
) -> Result<Option<model_dir::StoredTeacher>> {
    let Some(dir) = &config.model_dir else {
        return Ok(None);
    };
    if store.blob(&global_blob("teacher_model"))?.is_some() {
        return Ok(None);
    }
    let Some(teacher) = model_dir::read(dir)? else {
        return Ok(None);
    };
    model_dir::check_dims(dir, &teacher.config, config.teacher)?;
    if !model_dir::extends(&teacher.vocab, stored_vocab) {
        return Err(Error::InvalidConfig {
            name: "MODEL_DIR".into(),
            reason: format!(
                "{}: this storage already holds {} templates that are not the start of the \
                 directory's vocabulary ({} templates): start the pre-trained teacher on a fresh \
                 storage",
                dir.display(),
                stored_vocab.len(),
                teacher.vocab.len()
            ),
        });
    }
    Ok(Some(teacher))
}

/// The largest warmup threshold a project may have.
pub const MAX_WARMUP_THRESHOLD: u64 = 1_000_000_000;

impl TenantDetector {
    /// Opens (or creates) the detector's storage under `config.storage_dir`, with the system clock.
    pub fn open(config: Config) -> Result<Self> {
        Self::open_with_clock(config, Arc::new(SystemClock))
    }

    /// Like [`TenantDetector::open`] with a clock of the host's choosing (tests advance a
    /// [`crate::ManualClock`] to run schedules).
    pub fn open_with_clock(config: Config, clock: Arc<dyn Clock>) -> Result<Self> {
        config.validate()?;
        let device = match config.device {
            DeviceKind::Cpu => Device::Cpu,
            DeviceKind::Cuda if !cfg!(feature = "cuda") => {
                return Err(Error::InvalidConfig {
                    name: "DEVICE".into(),
                    reason: "cuda: this build has no CUDA support (build with the `cuda` feature: \
                             cargo --features cuda, maturin --features cuda, napi build --features cuda)"
                        .into(),
                })
            }
            DeviceKind::Cuda => Device::new_cuda(0).map_err(|e| Error::InvalidConfig {
                name: "DEVICE".into(),
                reason: format!("cuda unavailable: {e}"),
            })?,
        };
        let store = Store::open_config(&config)?;
        let holder = lease::holder_name(&config);
        let per_project = config.lease_scope == LeaseScope::Project;
        // On a shared database, one instance writes at a time: take its lease before reading any
        // state, so that what is read is what the last holder committed. With project leases each
        // project is taken at its first call instead, and read back then.
        let mut adopting = false;
        if let Some(shared) = store.shared() {
            if per_project {
                shared.use_project_leases();
                // A pre-trained teacher is adopted into the database once, under the teacher lease.
                adopting = config.model_dir.is_some()
                    && store.blob(&global_blob("teacher_model"))?.is_none();
                if adopting {
                    lease::take_named(
                        shared,
                        lease::TEACHER_LEASE,
                        &holder,
                        &config,
                        f64::INFINITY,
                    )?;
                }
            } else {
                lease::take(shared, &holder, &config)?;
            }
            if let Some(owner) = shared.other_scope_holder(&holder, per_project)? {
                shared.release_lease()?;
                return Err(Error::InvalidConfig {
                    name: "LEASE_SCOPE".into(),
                    reason: format!(
                        "{} serves this database with LEASE_SCOPE={}: every instance of one \
                         database needs the same scope",
                        crate::store::postgres_store::public_owner(&owner),
                        if per_project { "storage" } else { "project" }
                    ),
                });
            }
        }
        let known_history = match store.shared() {
            Some(shared) if per_project => shared.newest_history()?,
            _ => 0,
        };
        let mut vocab: GlobalVocab = match store.blob(&global_blob("vocab"))? {
            Some(b) => serde_json::from_slice(&b)?,
            None => GlobalVocab::default(),
        };
        vocab.reindex();
        let pretrained = pretrained_teacher(&store, &config, &vocab)?;
        if let Some(teacher) = &pretrained {
            vocab = teacher.vocab.clone();
        }
        let now = clock.now();
        let (core, view, meta) =
            TeacherCore::load(&store, &config, &device, &vocab, now, pretrained)?;
        if let (true, Some(shared)) = (adopting, store.shared()) {
            shared.release(lease::TEACHER_LEASE)?;
        }
        let mut projects = HashMap::new();
        for (id, json, miner) in store.projects_with_blob("miner")? {
            // Samples stay in storage until the project is fed (thousands of idle projects open fast
            // and small).
            let state = crate::fleet::state_from_storage(&json, miner, &config)?;
            projects.insert(id, Arc::new(Mutex::new(state)));
        }
        let keys = store.keys()?.into_iter().collect();
        let jobs = JobRunner::new(config.training_threads)?;
        let inner = Arc::new_cyclic(|weak| Inner {
            generation: AtomicU64::new(view.generation + 1),
            config,
            clock,
            store,
            device,
            projects: RwLock::new(projects),
            keys: RwLock::new(keys),
            teacher_view: RwLock::new(Arc::new(view)),
            teacher: Mutex::new(core),
            vocab: RwLock::new(vocab),
            teacher_meta: Mutex::new(meta),
            teacher_job: Mutex::new(None),
            jobs,
            logs_processed: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            callback: RwLock::new(None),
            incident_callback: RwLock::new(None),
            loaded: Mutex::new(LoadedStudents::default()),
            lease_lost: Mutex::new(None),
            holder,
            known_history: AtomicU64::new(known_history),
            self_ref: weak.clone(),
        });
        if inner.store.shared().is_some() {
            let weak = Arc::downgrade(&inner);
            let ttl = inner.config.lease_ttl_secs;
            std::thread::Builder::new()
                .name("logsentinel-lease".into())
                .spawn(move || keep_lease(&weak, ttl))
                .map_err(|e| Error::storage(format!("cannot start the lease thread: {e}")))?;
        }
        // Redo trainings a crash or shutdown interrupted, and start those now due (with project
        // leases, when a project is taken).
        let ids: Vec<String> = if inner.project_leases().is_some() {
            Vec::new()
        } else {
            inner.projects.read().keys().cloned().collect()
        };
        for id in ids {
            if let Some(slot) = inner.projects.read().get(&id).cloned() {
                let mut st = slot.lock();
                inner.maybe_start_training(&mut st);
            }
        }
        Ok(Self { inner })
    }

    fn live(&self) -> Result<&Arc<Inner>> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed);
        }
        if let Some((owner, expires_in_secs)) = self.inner.lease_lost.lock().clone() {
            return Err(Error::LeaseHeld {
                owner,
                expires_in_secs,
            });
        }
        Ok(&self.inner)
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Creates a project. The returned API key is shown only here.
    pub fn create_project(&self, new: NewProject) -> Result<CreatedProject> {
        let inner = self.live()?;
        let name = validate_project_name(&new.name)?;
        let warmup = new
            .warmup_threshold
            .unwrap_or(inner.config.warmup_threshold);
        if !(100..=MAX_WARMUP_THRESHOLD).contains(&warmup) {
            return Err(Error::invalid_input(
                "warmup_threshold must be between 100 and 1,000,000,000 logs",
            ));
        }
        compile_session_pattern(new.session_pattern.as_deref())?;
        crate::model::rules::RuleSet::new(new.custom_rules.clone())?;
        // A project's own format string wins; a project left on `auto` takes the detector's.
        let log_format = new.log_format.filter(|f| !f.trim().is_empty()).or_else(|| {
            (new.format == crate::parse::LogFormat::Auto)
                .then(|| inner.config.log_format.clone())
                .flatten()
        });
        if let Some(format) = &log_format {
            crate::parse::FormatString::compile(format)?;
        }
        let key = generate_key()?;
        let key_hash = hash_key(&key);
        let now = inner.clock.now();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let record = ProjectRecord {
            id: id.clone(),
            name: name.to_string(),
            key_hash: key_hash.to_hex(),
            warmup_threshold: warmup,
            format: new.format,
            log_format,
            header_unmatched: 0,
            header_recovered: 0,
            session_pattern: new.session_pattern,
            feedback: Default::default(),
            custom_rules: new.custom_rules,
            created_at: now,
            last_activity: now,
            log_count: 0,
            anomaly_count: 0,
            novel_logs: 0,
            active_logs: 0,
            students_trained: 0,
            has_student: false,
            training_pending: false,
            last_training_error: None,
            last_training_secs: None,
            stored_sequences: 0,
            stored_additions: 0,
        };
        let state = ProjectState::new(
            record.clone(),
            None,
            Some(Samples::default()),
            &inner.config,
        )?;
        inner
            .store
            .create_project(&id, &serde_json::to_vec(&record)?, &key_hash)?;
        inner
            .projects
            .write()
            .insert(id.clone(), Arc::new(Mutex::new(state)));
        inner.keys.write().insert(key_hash, id.clone());
        Ok(CreatedProject {
            es_index_pattern: format!("logs-{id}"),
            project_id: id,
            project_name: record.name,
            api_key: key,
            warmup_threshold: warmup,
        })
    }

    /// Creates a project that starts from another project's learned state (admin): its format,
    /// session pattern, rules, templates, training samples and student, under a new id and key. A
    /// staging copy of a production tenant, or many tenants seeded from one, skip the warmup.
    pub fn fork_project(&self, source_project_id: &str, name: &str) -> Result<CreatedProject> {
        let inner = self.live()?;
        let name = validate_project_name(name)?;
        let slot = inner.claimed_slot(source_project_id)?;
        let key = generate_key()?;
        let key_hash = hash_key(&key);
        let id = uuid::Uuid::new_v4().simple().to_string();
        let now = inner.clock.now();
        let (record, miner, mut blobs) = {
            let st = slot.lock();
            if st.deleted {
                return Err(Error::ProjectNotFound {
                    id: source_project_id.to_string(),
                });
            }
            let mut record = st.record.clone();
            record.id = id.clone();
            record.name = name.to_string();
            record.key_hash = key_hash.to_hex();
            record.created_at = now;
            record.last_activity = now;
            record.training_pending = false;
            record.last_training_error = None;
            // The fork's samples hold the source's additions merged.
            let samples = st.samples_view(&inner.store)?;
            record.stored_sequences = samples.sequences.len();
            record.stored_additions = 0;
            let blobs = vec![
                ("miner", serde_json::to_vec(&st.miner)?),
                ("samples", crate::store::encode(&*samples)?),
            ];
            (record, st.miner.clone(), blobs)
        };
        if record.has_student {
            // The student was committed with `has_student`, so storage holds it.
            for part in ["student", "student_meta"] {
                let bytes = inner
                    .store
                    .blob(&project_blob(source_project_id, part))?
                    .ok_or_else(|| {
                        Error::storage(format!(
                            "{part} of project {source_project_id} missing from storage"
                        ))
                    })?;
                blobs.push((part, bytes));
            }
        }
        let state = ProjectState::new(record.clone(), Some(miner), None, &inner.config)?;
        inner
            .store
            .create_project_with(&id, &serde_json::to_vec(&record)?, &key_hash, &blobs)?;
        inner
            .projects
            .write()
            .insert(id.clone(), Arc::new(Mutex::new(state)));
        inner.keys.write().insert(key_hash, id.clone());
        Ok(CreatedProject {
            es_index_pattern: format!("logs-{id}"),
            project_id: id,
            project_name: record.name,
            api_key: key,
            warmup_threshold: record.warmup_threshold,
        })
    }

    /// Every project (admin): never a key or key hash.
    pub fn list_projects(&self) -> Result<Vec<ProjectSummary>> {
        let inner = self.live()?;
        // With project leases, other instances create and delete projects too.
        inner.refresh_projects()?;
        let slots: Vec<ProjectSlot> = inner.projects.read().values().cloned().collect();
        let mut out: Vec<ProjectSummary> = slots
            .iter()
            .map(|s| {
                let st = s.lock();
                ProjectSummary {
                    project_id: st.record.id.clone(),
                    project_name: st.record.name.clone(),
                    phase: st.phase(),
                    log_count: st.record.log_count,
                    warmup_threshold: st.record.warmup_threshold,
                    created_at: st.record.created_at,
                }
            })
            .collect();
        out.sort_by(|a, b| {
            a.created_at
                .total_cmp(&b.created_at)
                .then(a.project_id.cmp(&b.project_id))
        });
        Ok(out)
    }

    /// Deletes a project (admin): its key stops working immediately, its data is removed.
    pub fn delete_project(&self, project_id: &str) -> Result<()> {
        let inner = self.live()?;
        // Taken first (with project leases): only its holder deletes it.
        inner.claimed_slot(project_id)?;
        let slot =
            inner
                .projects
                .write()
                .remove(project_id)
                .ok_or_else(|| Error::ProjectNotFound {
                    id: project_id.to_string(),
                })?;
        let mut st = slot.lock();
        inner.keys.write().remove(&st.key_hash);
        st.deleted = true;
        st.student = None;
        {
            let mut l = inner.loaded.lock();
            if let Some((_, b)) = l.by_project.remove(project_id) {
                l.total_bytes -= b;
            }
        }
        if let Some(job) = &st.job {
            job.cancel();
        }
        inner.store.delete_project(project_id, &st.key_hash)?;
        if let Some(shared) = inner.project_leases() {
            // Nothing of it is left to write: stop renewing its lease.
            shared.release(&lease::project_lease(project_id))?;
        }
        Ok(())
    }

    /// Replaces a project's key; the old one stops working at once. Returns the new key (shown once).
    pub fn rotate_key(&self, api_key: &str) -> Result<String> {
        let inner = self.live()?;
        let slot = inner.authenticate(api_key)?;
        let mut st = slot.lock();
        if st.deleted {
            return Err(Error::InvalidApiKey);
        }
        let new_key = generate_key()?;
        let new_hash = hash_key(&new_key);
        let old_hash = st.key_hash;
        st.record.key_hash = new_hash.to_hex();
        inner.store.rotate_key(
            &st.record.id,
            &old_hash,
            &new_hash,
            &serde_json::to_vec(&st.record)?,
        )?;
        {
            let mut keys = inner.keys.write();
            keys.remove(&old_hash);
            keys.insert(new_hash, st.record.id.clone());
        }
        st.key_hash = new_hash;
        Ok(new_key)
    }

    /// Like [`TenantDetector::rotate_key`] by project id (admin): revokes the current key.
    pub fn rotate_key_by_id(&self, project_id: &str) -> Result<String> {
        let inner = self.live()?;
        let slot = inner.claimed_slot(project_id)?;
        let hash = slot.lock().key_hash;
        let new_key = generate_key()?;
        let new_hash = hash_key(&new_key);
        let mut st = slot.lock();
        if st.key_hash != hash || st.deleted {
            return Err(Error::ProjectNotFound {
                id: project_id.to_string(),
            });
        }
        st.record.key_hash = new_hash.to_hex();
        inner.store.rotate_key(
            project_id,
            &hash,
            &new_hash,
            &serde_json::to_vec(&st.record)?,
        )?;
        {
            let mut keys = inner.keys.write();
            keys.remove(&hash);
            keys.insert(new_hash, project_id.to_string());
        }
        st.key_hash = new_hash;
        Ok(new_key)
    }

    /// Scores one line.
    pub fn detect(&self, api_key: &str, record: LogRecord) -> Result<Detection> {
        let mut out = self.detect_many(api_key, std::slice::from_ref(&record))?;
        out.pop()
            .ok_or_else(|| Error::model("no result for the line"))
    }

    /// Scores lines in order, with one batched model step per round of distinct sessions (faster per
    /// line than [`TenantDetector::detect`]). An empty batch or one over `max_batch_size` is refused.
    pub fn detect_batch(&self, api_key: &str, records: &[LogRecord]) -> Result<BatchDetection> {
        if records.is_empty() {
            return Err(Error::invalid_input("batch is empty"));
        }
        if records.len() > self.inner.config.max_batch_size {
            return Err(Error::invalid_input(format!(
                "batch of {} lines exceeds max_batch_size {}",
                records.len(),
                self.inner.config.max_batch_size
            )));
        }
        let results = self.detect_many(api_key, records)?;
        let anomalies = results.iter().filter(|d| d.is_anomaly).count();
        let project_id = results
            .first()
            .map(|d| d.project_id.clone())
            .unwrap_or_default();
        Ok(BatchDetection {
            total_logs: results.len(),
            anomalies_detected: anomalies,
            project_id,
            results,
        })
    }

    fn detect_many(&self, api_key: &str, records: &[LogRecord]) -> Result<Vec<Detection>> {
        let inner = self.live()?;
        let slot = inner.authenticate(api_key)?;
        inner.maybe_schedule_teacher_update();
        let teacher = inner.teacher_view.read().clone();
        let vocab = inner.vocab.read();
        let (detections, verdicts) = {
            let mut st = slot.lock();
            if st.deleted {
                return Err(Error::InvalidApiKey);
            }
            inner.ensure_loaded(&mut st)?;
            let ctx = LineContext {
                config: &inner.config,
                teacher: &teacher,
                vocab: &vocab,
                now: inner.clock.now(),
            };
            let out = st.process(&ctx, records);
            inner.after_lines(&mut st)?;
            let raised = st.take_fresh_incidents();
            let student_bytes = st.student.as_ref().map(|s| s.seq.memory_bytes());
            let id = st.record.id.clone();
            drop(st);
            if let Some(bytes) = student_bytes {
                inner.touch_student(&id, bytes);
            }
            inner.deliver_incidents(&raised);
            out
        };
        drop(vocab);
        inner
            .logs_processed
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        inner.deliver(&verdicts);
        Ok(detections)
    }

    /// Closes one session now and returns its verdict (`None` when no such session is open).
    pub fn close_session(&self, api_key: &str, session_id: &str) -> Result<Option<SessionVerdict>> {
        let inner = self.live()?;
        let slot = inner.authenticate(api_key)?;
        let teacher = inner.teacher_view.read().clone();
        let verdicts = {
            let mut st = slot.lock();
            inner.ensure_loaded(&mut st)?;
            let v = st.close_sessions(&teacher, Some(session_id), &inner.config, inner.clock.now());
            (v, st.take_fresh_incidents())
        };
        let (verdicts, raised) = verdicts;
        inner.deliver(&verdicts);
        inner.deliver_incidents(&raised);
        Ok(verdicts.into_iter().next())
    }

    /// Closes every open session (the end of the input) and returns their verdicts. A session idle
    /// past the idle timeout (log time), or silent longer than nearly every pause inside the
    /// project's warmup sessions (see [`crate::model::pause`]), finished and is judged as an expired
    /// one; any other was cut
    /// by the end of the input: its verdict has `open_at_end_of_input` and reason `end_of_input`, and
    /// judges only what it holds (rare or never-seen events), never a missing end.
    pub fn close_all_sessions(&self, api_key: &str) -> Result<Vec<SessionVerdict>> {
        let inner = self.live()?;
        let slot = inner.authenticate(api_key)?;
        let teacher = inner.teacher_view.read().clone();
        let verdicts = {
            let mut st = slot.lock();
            inner.ensure_loaded(&mut st)?;
            let v = st.close_sessions(&teacher, None, &inner.config, inner.clock.now());
            inner.after_lines(&mut st)?;
            (v, st.take_fresh_incidents())
        };
        let (verdicts, raised) = verdicts;
        inner.deliver(&verdicts);
        inner.deliver_incidents(&raised);
        Ok(verdicts)
    }

    /// Takes up to `max` queued session verdicts of the project, oldest first.
    pub fn poll_session_verdicts(&self, api_key: &str, max: usize) -> Result<Vec<SessionVerdict>> {
        let inner = self.live()?;
        let slot = inner.authenticate(api_key)?;
        let mut st = slot.lock();
        Ok(st.take_verdicts(max))
    }

    /// Sets (or clears) a callback receiving every session verdict of every project as it is produced.
    /// Verdicts are also queued for [`TenantDetector::poll_session_verdicts`].
    pub fn set_verdict_callback(&self, callback: Option<VerdictCallback>) {
        *self.inner.callback.write() = callback;
    }

    /// Sets (or clears) a callback receiving every incident of every project as it is raised.
    /// Incidents are also queued for [`TenantDetector::poll_incidents`].
    pub fn set_incident_callback(&self, callback: Option<IncidentCallback>) {
        *self.inner.incident_callback.write() = callback;
    }

    /// Takes up to `max` of the project's newly raised incidents, oldest first, each as it was when
    /// raised (see [`TenantDetector::incident`] for its state now).
    pub fn poll_incidents(&self, api_key: &str, max: usize) -> Result<Vec<Incident>> {
        let inner = self.live()?;
        let slot = inner.authenticate(api_key)?;
        let mut st = slot.lock();
        st.load_incidents(&inner.store)?;
        Ok(st
            .incidents_mut()
            .map(|b| b.take_raised(max))
            .unwrap_or_default())
    }

    /// The project's incidents, open ones first (each group newest first); `state` filters. At
    /// most [`crate::tenant::incident::MAX_OPEN`] open and
    /// [`crate::tenant::incident::MAX_RESOLVED`] resolved ones are kept.
    pub fn incidents(&self, api_key: &str, state: Option<IncidentState>) -> Result<Vec<Incident>> {
        let inner = self.live()?;
        let slot = inner.authenticate(api_key)?;
        let mut st = slot.lock();
        st.load_incidents(&inner.store)?;
        Ok(st.incidents().map(|b| b.list(state)).unwrap_or_default())
    }

    /// One incident of the project, as it is now.
    pub fn incident(&self, api_key: &str, incident_id: u64) -> Result<Incident> {
        let inner = self.live()?;
        let slot = inner.authenticate(api_key)?;
        let mut st = slot.lock();
        st.load_incidents(&inner.store)?;
        st.incidents()
            .and_then(|b| b.get(incident_id))
            .ok_or_else(|| no_incident(incident_id))
    }

    /// Operator feedback: marks an incident (or a key the scope matches: a result's pattern, a
    /// template, a rule, a session id) normal or anomalous, for a period or for good. It applies to the project's next line at once,
    /// is stored before this returns (it survives a restart), and never touches another project.
    /// An incident the project does not hold, a scope the incident has no key for (a rule scope on
    /// an incident no rule matched), an empty or oversized key or note, or a duration that is not a
    /// positive number of seconds is an invalid input.
    pub fn feedback(&self, api_key: &str, new: NewFeedback) -> Result<Feedback> {
        let inner = self.live()?;
        let slot = inner.authenticate(api_key)?;
        let mut st = slot.lock();
        st.load_incidents(&inner.store)?;
        let (key, incident_id) = match &new.target {
            FeedbackTarget::Key(key) => (key.clone(), None),
            FeedbackTarget::Incident(id) => {
                let incident = st
                    .incidents()
                    .and_then(|b| b.get(*id))
                    .ok_or_else(|| no_incident(*id))?;
                (feedback_key(&incident, new.scope)?, Some(*id))
            }
        };
        let now = inner.clock.now();
        let entry = st.record.feedback.add(&new, key, incident_id, now)?;
        if let (Some(id), Some(book)) = (incident_id, st.incidents_mut()) {
            book.set_feedback(id, Some(new.label));
        }
        inner.commit_now(&mut st)?;
        Ok(entry)
    }

    /// The project's feedback marks, oldest first.
    pub fn list_feedback(&self, api_key: &str) -> Result<Vec<Feedback>> {
        let inner = self.live()?;
        let slot = inner.authenticate(api_key)?;
        let st = slot.lock();
        Ok(st.record.feedback.entries.clone())
    }

    /// Undoes a feedback mark: results it decided are judged as before from the next line on.
    /// Returns the removed mark; an id the project does not hold is an invalid input.
    pub fn undo_feedback(&self, api_key: &str, feedback_id: u64) -> Result<Feedback> {
        let inner = self.live()?;
        let slot = inner.authenticate(api_key)?;
        let mut st = slot.lock();
        st.load_incidents(&inner.store)?;
        let removed = st.record.feedback.undo(feedback_id).ok_or_else(|| {
            Error::invalid_input(format!("no feedback #{feedback_id} in this project"))
        })?;
        if let Some(id) = removed.incident_id {
            let still = st
                .record
                .feedback
                .entries
                .iter()
                .rev()
                .find(|f| f.incident_id == Some(id))
                .map(|f| f.label);
            if let Some(book) = st.incidents_mut() {
                book.set_feedback(id, still);
            }
        }
        inner.commit_now(&mut st)?;
        Ok(removed)
    }

    /// Drops every open session of the project without verdicts; returns how many were open.
    pub fn reset_sessions(&self, api_key: &str) -> Result<usize> {
        let inner = self.live()?;
        let slot = inner.authenticate(api_key)?;
        let mut st = slot.lock();
        Ok(st.reset_sessions())
    }

    /// The project's status.
    pub fn status(&self, api_key: &str) -> Result<ProjectStatus> {
        let inner = self.live()?;
        let slot = inner.authenticate(api_key)?;
        let st = slot.lock();
        Ok(st.status(&inner.config))
    }

    /// A project's status by id (admin).
    pub fn project_status(&self, project_id: &str) -> Result<ProjectStatus> {
        let inner = self.live()?;
        let slot = inner.claimed_slot(project_id)?;
        let st = slot.lock();
        Ok(st.status(&inner.config))
    }

    /// The project's current or last training job, if any.
    pub fn training_job(&self, api_key: &str) -> Result<Option<JobHandle>> {
        let inner = self.live()?;
        let slot = inner.authenticate(api_key)?;
        let st = slot.lock();
        Ok(st.job.clone())
    }

    /// Waits until the project's training (if one runs or is queued) finishes; `None` timeout waits
    /// without limit. Returns the job's final status, or `None` when no training was started.
    pub fn wait_for_training(
        &self,
        api_key: &str,
        timeout: Option<Duration>,
    ) -> Result<Option<JobStatus>> {
        let job = self.training_job(api_key)?;
        job.map(|j| j.wait(timeout)).transpose()
    }

    /// Where this detector keeps its state: the redb file, or the PostgreSQL database (never its
    /// password).
    pub fn storage_location(&self) -> Result<String> {
        Ok(self.live()?.store.location())
    }

    /// Detector health.
    pub fn health(&self) -> Result<Health> {
        let inner = self.live()?;
        inner.maybe_schedule_teacher_update();
        let slots: Vec<ProjectSlot> = inner.projects.read().values().cloned().collect();
        let mut students = 0;
        let mut training = inner
            .teacher_job
            .lock()
            .as_ref()
            .is_some_and(|j| !j.status().state.is_finished());
        let mut with_samples = 0;
        for s in &slots {
            let st = s.lock();
            if st.student.is_some() {
                students += 1;
            }
            if st.samples().is_some() {
                with_samples += 1;
            }
            if st.phase() == Phase::Training {
                training = true;
            }
        }
        Ok(Health {
            status: "healthy".into(),
            teacher_loaded: inner.teacher_view.read().seq.is_some(),
            total_projects: slots.len(),
            active_student_models: students,
            loaded_student_bytes: inner.loaded_students().1,
            projects_with_samples_loaded: with_samples,
            training_in_progress: training,
        })
    }

    /// The teacher's state.
    pub fn teacher_info(&self) -> Result<TeacherInfo> {
        let inner = self.live()?;
        let view = inner.teacher_view.read().clone();
        let vocab = inner.vocab.read();
        let meta = inner.teacher_meta.lock().clone();
        let mut thresholds = std::collections::BTreeMap::new();
        thresholds.insert(
            "sequence_nll".to_string(),
            view.thresholds.sequence_nll.value,
        );
        thresholds.insert("isolation_forest".to_string(), view.thresholds.forest.value);
        thresholds.insert(
            "end_of_session_nll".to_string(),
            view.thresholds.end_nll.value,
        );
        Ok(TeacherInfo {
            vocabulary_size: vocab.len(),
            model_vocabulary_size: view
                .model_tokens
                .saturating_sub(crate::model::transformer::FIRST_TEMPLATE_TOKEN as usize),
            templates: vocab.sample(50),
            trained: view.seq.is_some(),
            parameters: meta.parameters,
            thresholds,
            logs_processed: inner.logs_processed.load(Ordering::Relaxed)
                + meta.logs_processed_before,
            update_in_progress: inner
                .teacher_job
                .lock()
                .as_ref()
                .is_some_and(|j| !j.status().state.is_finished()),
            last_update: meta.last_update,
            next_update: meta.next_update,
            version: meta.version,
        })
    }

    /// Writes the current teacher to `dir` as a model directory (weights, model config, vocabulary,
    /// thresholds and forest, and `manifest`, completed with the format version, the model's shape
    /// and vocabulary size): what a detector opened with [`Config::model_dir`] on a fresh storage
    /// starts from. Errors with [`Error::Model`] when no teacher has been trained yet.
    pub fn export_teacher(&self, dir: &std::path::Path, manifest: serde_json::Value) -> Result<()> {
        let inner = self.live()?;
        // Lock order as in a teacher update: the model, then metadata, then vocabulary.
        let core = inner.teacher.lock();
        let model = core
            .model
            .as_ref()
            .ok_or_else(|| Error::model("no trained teacher to export yet"))?;
        let meta = inner.teacher_meta.lock().clone();
        let vocab = inner.vocab.read().clone();
        let teacher = model_dir::StoredTeacher {
            weights: model.to_bytes()?,
            config: model.config().clone(),
            vocab,
            calibration: meta.thresholds.map(|thresholds| model_dir::Calibration {
                thresholds,
                forest: meta.forest.clone(),
            }),
        };
        let mut manifest = match manifest {
            serde_json::Value::Object(map) => map,
            other => {
                let mut map = serde_json::Map::new();
                map.insert("notes".into(), other);
                map
            }
        };
        manifest.insert("format".into(), model_dir::MODEL_DIR_FORMAT.into());
        manifest.insert(
            "logsentinel_version".into(),
            env!("CARGO_PKG_VERSION").into(),
        );
        manifest.insert("model".into(), serde_json::to_value(&teacher.config)?);
        manifest.insert("parameters".into(), model.parameter_count().into());
        manifest.insert("vocabulary_size".into(), teacher.vocab.len().into());
        manifest.insert("teacher_version".into(), meta.version.into());
        model_dir::write(dir, &teacher, &serde_json::Value::Object(manifest))
    }

    /// Starts a teacher update now (admin). Returns its job.
    pub fn force_teacher_update(&self) -> Result<JobHandle> {
        let inner = self.live()?;
        inner.submit_teacher_update("forced")
    }

    /// The teacher update history, oldest first.
    pub fn update_history(&self) -> Result<Vec<TeacherUpdate>> {
        let inner = self.live()?;
        inner
            .store
            .history()?
            .into_iter()
            .map(|b| serde_json::from_slice(&b).map_err(Error::from))
            .collect()
    }

    /// Persists every project's state now (also done by group commits, on close and on drop).
    pub fn flush(&self) -> Result<()> {
        self.inner.flush_all()
    }

    /// Stops background work (a running training is cancelled and redone at the next open), persists
    /// everything and refuses further calls on every clone of this handle.
    pub fn close(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.inner.jobs.shutdown();
        let flushed = self.inner.flush_all();
        let released = self.inner.release_lease();
        flushed.and(released)
    }

    /// Whether [`TenantDetector::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }
}

impl Inner {
    /// The project of a presented key: [`Error::InvalidApiKey`] for anything else, never a hint about
    /// other tenants.
    pub(crate) fn authenticate(&self, api_key: &str) -> Result<ProjectSlot> {
        let hash = presented_key_hash(api_key)?;
        let known = self.keys.read().get(&hash).cloned();
        let id = match known {
            Some(id) => id,
            None => self
                .find_key_elsewhere(&hash)?
                .ok_or(Error::InvalidApiKey)?,
        };
        let slot = self
            .projects
            .read()
            .get(&id)
            .cloned()
            .ok_or(Error::InvalidApiKey)?;
        // Taken first: the key may have been rotated, or the project deleted, by its last holder.
        self.claim(&id, &slot).map_err(|e| match e {
            Error::ProjectNotFound { .. } => Error::InvalidApiKey,
            other => other,
        })?;
        if !slot.lock().key_hash.ct_eq(&hash) {
            return Err(Error::InvalidApiKey);
        }
        Ok(slot)
    }

    fn deliver_incidents(&self, incidents: &[Incident]) {
        if incidents.is_empty() {
            return;
        }
        let cb = self.incident_callback.read().clone();
        if let Some(cb) = cb {
            for i in incidents {
                // A panicking host callback must not poison the detector.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(i)));
            }
        }
    }

    /// Commits the project now (a change the caller must not lose: feedback).
    fn commit_now(&self, st: &mut ProjectState) -> Result<()> {
        let writes = st.persist_writes(self.clock.now())?;
        self.store.commit(writes)?;
        st.mark_persisted();
        Ok(())
    }

    fn deliver(&self, verdicts: &[SessionVerdict]) {
        if verdicts.is_empty() {
            return;
        }
        let cb = self.callback.read().clone();
        if let Some(cb) = cb {
            for v in verdicts {
                // A panicking host callback must not poison the detector.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(v)));
            }
        }
    }

    /// Training trigger and group commit after lines were processed (project lock held).
    /// Loads what a call feeding the project needs: its samples and its student (project lock held).
    fn ensure_loaded(&self, st: &mut ProjectState) -> Result<()> {
        st.load_for_lines(&self.store)?;
        self.ensure_student_loaded(st)
    }

    fn after_lines(&self, st: &mut ProjectState) -> Result<()> {
        self.maybe_start_training(st);
        let now = self.clock.now();
        if st.needs_commit(&self.config, now) {
            let writes = st.persist_writes(now)?;
            self.store.commit(writes)?;
            st.mark_persisted();
        }
        Ok(())
    }

    pub(crate) fn flush_all(&self) -> Result<()> {
        let mut slots: Vec<(String, ProjectSlot)> = self
            .projects
            .read()
            .iter()
            .map(|(id, s)| (id.clone(), s.clone()))
            .collect();
        slots.sort_by(|a, b| a.0.cmp(&b.0));
        if self.project_leases().is_some() {
            return self.flush_held(&slots);
        }
        let now = self.clock.now();
        // Each project's lock is held from its snapshot to the commit: a group commit or a training's
        // commit of the project cannot land in between and then be overwritten by this older snapshot
        // (which rolled counters, samples and even an acknowledged student back). No other code holds
        // two project locks.
        let mut guards = Vec::with_capacity(slots.len());
        let mut writes: Vec<Write> = Vec::new();
        for (_, s) in &slots {
            let mut st = s.lock();
            if !st.deleted {
                writes.extend(st.persist_writes(now)?);
            }
            guards.push(st);
        }
        self.store.commit(writes)?;
        drop(guards);
        // The global blobs are snapshotted and committed under the teacher metadata lock, as every
        // writer of them does: a snapshot taken before a teacher update committed can then never land
        // after it (that rolled the stored teacher version back, and could pair the new model with
        // the old model config and vocabulary). Lock order: metadata, then vocabulary.
        let mut meta = self.teacher_meta.lock();
        meta.logs_processed_before += self.logs_processed.swap(0, Ordering::Relaxed);
        let writes = vec![
            Write::Blob {
                name: global_blob("vocab"),
                bytes: serde_json::to_vec(&*self.vocab.read())?,
            },
            Write::Blob {
                name: global_blob("teacher_meta"),
                bytes: serde_json::to_vec(&*meta)?,
            },
        ];
        self.store.commit(writes)
    }

    /// [`Inner::flush_all`] with project leases: each project this instance holds in a transaction
    /// of its own (a lease lost meanwhile refuses that project's writes only). The shared teacher's
    /// blobs are written by teacher updates alone, under the teacher lease. Returns the first error
    /// after trying every project.
    fn flush_held(&self, slots: &[(String, ProjectSlot)]) -> Result<()> {
        let now = self.clock.now();
        let mut first_error = None;
        for (_, s) in slots {
            let mut st = s.lock();
            if st.deleted || !self.holds(&st) {
                continue;
            }
            let committed = st
                .persist_writes(now)
                .and_then(|writes| self.store.commit(writes));
            match committed {
                Ok(()) => st.mark_persisted(),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Lets a shared database's lease go (nothing on redb).
    fn release_lease(&self) -> Result<()> {
        match self.store.shared() {
            Some(shared) if self.lease_lost.lock().is_none() => shared.release_lease(),
            _ => Ok(()),
        }
    }

    pub(crate) fn next_generation(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// Which students are in memory, for the memory budget (least recently used evicted first).
#[derive(Default)]
pub(crate) struct LoadedStudents {
    tick: u64,
    pub(crate) total_bytes: usize,
    pub(crate) by_project: HashMap<String, (u64, usize)>,
}

impl Inner {
    /// Records a use of a project's loaded student and evicts the least recently used students while
    /// the loaded total exceeds the budget (the one just used always stays).
    fn touch_student(&self, project_id: &str, bytes: usize) {
        let victims = {
            let mut l = self.loaded.lock();
            l.tick += 1;
            let tick = l.tick;
            if let Some((_, old)) = l.by_project.insert(project_id.to_string(), (tick, bytes)) {
                l.total_bytes -= old;
            }
            l.total_bytes += bytes;
            let mut victims = Vec::new();
            while l.total_bytes > self.config.student_memory_budget_bytes && l.by_project.len() > 1
            {
                let Some(oldest) = l
                    .by_project
                    .iter()
                    .filter(|(id, _)| id.as_str() != project_id)
                    .min_by_key(|(_, (t, _))| *t)
                    .map(|(id, _)| id.clone())
                else {
                    break;
                };
                if let Some((_, b)) = l.by_project.remove(&oldest) {
                    l.total_bytes -= b;
                }
                victims.push(oldest);
            }
            victims
        };
        for id in victims {
            let slot = self.projects.read().get(&id).cloned();
            if let Some(slot) = slot {
                // Dropping the student frees it once no in-flight call holds it; the next line of the
                // project reloads it from storage (session caches rebuild from their history). A
                // project idle enough to lose its student also gives its samples back to storage.
                let mut st = slot.lock();
                st.student = None;
                st.drop_session_caches();
                if st.samples_dirty() && !st.deleted {
                    let now = self.clock.now();
                    let committed = st
                        .persist_writes(now)
                        .and_then(|writes| self.store.commit(writes));
                    if committed.is_err() {
                        // Kept in memory; the next group commit retries.
                        continue;
                    }
                    st.mark_persisted();
                }
                st.spill_samples();
            }
        }
    }

    /// Students loaded now and their bytes.
    pub(crate) fn loaded_students(&self) -> (usize, usize) {
        let l = self.loaded.lock();
        (l.by_project.len(), l.total_bytes)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.closed.load(Ordering::SeqCst) {
            self.jobs.shutdown();
            let _ = self.flush_all();
            let _ = self.release_lease();
        }
    }
}

/// Renews the detector's leases on a shared database every third of their time-to-live until the
/// detector is closed or dropped. A storage lease found taken over is recorded (every call then
/// fails with [`Error::LeaseHeld`]; the store already refuses this holder's writes); a project lease
/// found taken over drops the project's state here (the next call takes it again). With project
/// leases it also reads back the teacher another instance updated. A failed renewal (the database
/// unreachable for a moment) is retried at the next tick.
fn keep_lease(weak: &Weak<Inner>, ttl_secs: f64) {
    let every = Duration::from_secs_f64(ttl_secs / 3.0);
    let tick = Duration::from_millis(50).min(every);
    let mut renewed = std::time::Instant::now();
    loop {
        std::thread::sleep(tick);
        let Some(inner) = weak.upgrade() else {
            return;
        };
        if inner.closed.load(Ordering::SeqCst) {
            return;
        }
        if renewed.elapsed() < every {
            continue;
        }
        let Some(shared) = inner.store.shared() else {
            return;
        };
        let Ok(lost) = shared.renew_leases(ttl_secs) else {
            continue;
        };
        renewed = std::time::Instant::now();
        for (name, error) in lost {
            let Error::LeaseHeld {
                owner,
                expires_in_secs,
            } = error
            else {
                continue;
            };
            if name == lease::STORAGE_LEASE {
                eprintln!(
                    "logsentinel: the storage lease was taken over by {owner}: this detector \
                     stops serving (its writes are refused)"
                );
                *inner.lease_lost.lock() = Some((owner, expires_in_secs));
                return;
            }
            if let Some(id) = name.strip_prefix("project/") {
                inner.release_project_state(id);
            }
        }
        if inner.config.lease_scope == LeaseScope::Project {
            if let Err(e) = inner.follow_teacher_updates() {
                eprintln!("logsentinel: cannot read back the shared teacher: {e}");
            }
        }
    }
}

/// The trimmed project name, when it is 1 to 200 printable characters.
fn validate_project_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(Error::invalid_input(
            "project name must be 1 to 200 printable characters",
        ));
    }
    Ok(name)
}

fn no_incident(id: u64) -> Error {
    Error::invalid_input(format!("no incident {id} in this project"))
}

/// What a mark on `incident` matches under `scope`.
fn feedback_key(incident: &Incident, scope: FeedbackScope) -> Result<String> {
    let first = |list: &[crate::tenant::incident::Counted]| list.first().map(|c| c.name.clone());
    let key = match scope {
        FeedbackScope::Pattern => Some(incident.pattern.clone()),
        FeedbackScope::Template => first(&incident.top_templates).or_else(|| {
            crate::tenant::feedback::pattern_subject(&incident.pattern).map(str::to_string)
        }),
        FeedbackScope::Rule => first(&incident.top_rules),
        FeedbackScope::Client => incident.session_ids.first().cloned(),
    };
    key.ok_or_else(|| {
        Error::invalid_input(format!(
            "incident {} has no {} to mark (it holds no such signal)",
            incident.id,
            format!("{scope:?}").to_lowercase()
        ))
    })
}
