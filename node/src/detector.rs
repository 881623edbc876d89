//! `TenantDetector` for JavaScript: converts arguments, maps errors, keeps heavy work off the
//! JavaScript thread, and manages the handle's lifetime (`close()`, later calls throw `CLOSED`).
//!
//! What runs where:
//! - single-line and admin calls (`detect`, `status`, `createProject`...) run synchronously: they take
//!   microseconds (a storage write for project and key changes);
//! - `detectBatch` is an `AsyncTask` on libuv's worker pool: parsing, scoring and preparing the results
//!   happen there; only building the JavaScript objects runs on the JavaScript thread, in slices with
//!   the event loop free in between for large batches (see [`crate::deliver`]);
//! - waits for training (`waitForTraining`, `JobHandle.wait`) run on a thread of their own (see
//!   [`crate::job`]);
//! - incidents and operator feedback (`incidents`, `feedback`...) run synchronously too: they read
//!   the project's incident book, and a feedback change is one storage commit;
//! - session verdicts and incidents reach their callbacks through threadsafe functions, always
//!   asynchronously on the JavaScript thread, whichever thread produced them (see
//!   [`crate::deliver::event_callback`]).

use logsentinel::LogRecord;
use napi::bindgen_prelude::{Array, AsyncTask, Env, Object, Unknown};
use napi::ScopedTask;
use napi_derive::napi;
use parking_lot::RwLock;

use crate::convert::{
    build_config, build_feedback, build_project, id_arg, incident_state_arg, line_from,
    records_from, timeout_arg, DetectorConfig,
};
use crate::deliver::{batch_to_js, event_callback, EventFn};
use crate::error::{reject_with, to_js_err, IntoJs, Result};
use crate::job::{promise_on_thread, wait_job, JobHandle};
use crate::types::{
    BatchDetection, CreatedProject, Detection, Feedback, Health, Incident, JobStatus,
    ProjectStatus, ProjectSummary, SessionVerdict, TeacherInfo, TeacherUpdate,
};

/// The multi-tenant anomaly detector.
///
/// `new TenantDetector({ storageDir, warmupThreshold, tinyModels, ... })` opens (or creates) the
/// storage; every field of `DetectorConfig` can be set. One detector per storage directory and process
/// (the storage is locked). Call `close()` when done: it stops background training, persists everything
/// and releases the storage; later calls throw `code === 'CLOSED'`.
#[napi]
pub struct TenantDetector {
    inner: RwLock<Option<logsentinel::TenantDetector>>,
    storage_dir: String,
}

/// The work of one `detectBatch` call, run on libuv's worker pool.
pub struct DetectBatchTask {
    /// The detector, key and records, or the error to reject with (argument errors reject the
    /// promise rather than throw, like every failure of an async call).
    input: Option<Result<(logsentinel::TenantDetector, String, Vec<LogRecord>)>>,
}

impl<'task> ScopedTask<'task> for DetectBatchTask {
    type Output = Result<BatchDetection>;
    type JsValue = Unknown<'task>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(match self.input.take() {
            Some(Ok((det, key, records))) => det
                .detect_batch(&key, &records)
                .map(BatchDetection::from)
                .js(),
            Some(Err(e)) => Err(e),
            None => Err(to_js_err(logsentinel::Error::invalid_input(
                "detectBatch task ran twice",
            ))),
        })
    }

    fn resolve(&mut self, env: &'task Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        let batch = output.map_err(|e| reject_with(env, e))?;
        batch_to_js(env, batch)
    }
}

impl TenantDetector {
    /// The live core handle, or `CLOSED`.
    fn det(&self) -> Result<logsentinel::TenantDetector> {
        self.inner
            .read()
            .clone()
            .ok_or_else(|| to_js_err(logsentinel::Error::Closed))
    }

    /// Runs `f` on the core handle and maps its error.
    fn call<T>(
        &self,
        f: impl FnOnce(&logsentinel::TenantDetector) -> logsentinel::Result<T>,
    ) -> Result<T> {
        let det = self.det()?;
        f(&det).js()
    }
}

#[napi]
impl TenantDetector {
    /// Opens (or creates) the storage. `options` may set any field of `DetectorConfig` (camelCase) and
    /// `tinyModels`; an unknown key or a bad value throws `code === 'INVALID_CONFIG'` naming it, a
    /// storage that cannot be opened (or is locked by another detector) `'STORAGE_ERROR'`.
    #[napi(constructor, ts_args_type = "options?: DetectorOptions")]
    pub fn new(options: Option<serde_json::Value>) -> Result<Self> {
        let config = build_config(options)?;
        let storage_dir = config.storage_dir.display().to_string();
        let det = logsentinel::TenantDetector::open(config).js()?;
        Ok(Self {
            inner: RwLock::new(Some(det)),
            storage_dir,
        })
    }

    /// The storage directory.
    #[napi(getter)]
    pub fn storage_dir(&self) -> String {
        self.storage_dir.clone()
    }

    /// Whether `close()` was called.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.inner.read().as_ref().is_none_or(|d| d.is_closed())
    }

    /// The configuration in force.
    #[napi(getter)]
    pub fn config(&self) -> Result<DetectorConfig> {
        Ok(DetectorConfig::from(self.det()?.config()))
    }

    /// Creates a project and returns it with its API key (shown only here). `options.format` is a
    /// header format (`'auto'` by default, `'hdfs'`, `'combined'`, `'json'`...), `sessionPattern` a
    /// regex whose first match (or first group) is a line's session id, `customRules` a list of
    /// `{ name, pattern, severity }`. Bad options throw `code === 'INVALID_INPUT'`.
    #[napi(ts_args_type = "name: string, options?: ProjectOptions")]
    pub fn create_project(
        &self,
        name: String,
        options: Option<serde_json::Value>,
    ) -> Result<CreatedProject> {
        let new = build_project(name, options)?;
        Ok(self.call(move |d| d.create_project(new))?.into())
    }

    /// Every project (admin): never a key.
    #[napi]
    pub fn list_projects(&self) -> Result<Vec<ProjectSummary>> {
        Ok(self
            .call(|d| d.list_projects())?
            .into_iter()
            .map(ProjectSummary::from)
            .collect())
    }

    /// Deletes a project (admin): its key stops working at once and its data is removed.
    #[napi]
    pub fn delete_project(&self, project_id: String) -> Result<()> {
        self.call(|d| d.delete_project(&project_id))
    }

    /// Replaces the project's key and returns the new one; the old one stops working at once.
    #[napi]
    pub fn rotate_key(&self, api_key: String) -> Result<String> {
        self.call(|d| d.rotate_key(&api_key))
    }

    /// Creates a project (admin) from another project's learned state: its format, session pattern,
    /// rules, templates, training samples and student, under a new id and a new key (shown only here).
    /// A staging copy of a tenant, or tenants seeded from one, skip the warmup.
    #[napi]
    pub fn fork_project(&self, source_project_id: String, name: String) -> Result<CreatedProject> {
        Ok(self
            .call(move |d| d.fork_project(&source_project_id, &name))?
            .into())
    }

    /// Like `rotateKey`, by project id (admin).
    #[napi]
    pub fn rotate_key_by_id(&self, project_id: String) -> Result<String> {
        self.call(|d| d.rotate_key_by_id(&project_id))
    }

    /// Scores one line, synchronously (tens of microseconds). `logLine` is a string or a Buffer
    /// (decoded as UTF-8, invalid bytes replaced); `sessionId` overrides the project's session pattern
    /// and its format's default session key.
    #[napi(
        ts_args_type = "apiKey: string, logLine: string | Buffer, sessionId?: string | null | undefined"
    )]
    pub fn detect(
        &self,
        api_key: String,
        log_line: Unknown<'_>,
        session_id: Option<String>,
    ) -> Result<Detection> {
        let mut record = line_from(&log_line, "logLine")?;
        record.session_id = session_id;
        Ok(self.call(|d| d.detect(&api_key, record))?.into())
    }

    /// Scores records in order, with one batched model step per round of sessions: faster per line
    /// than `detect`, and computed off the JavaScript thread. Each record is a string, a Buffer or
    /// `{ logLine, sessionId }`. Every failure (a bad key, a bad record, a closed detector) rejects the
    /// promise; concurrent calls run in parallel.
    #[napi(
        ts_args_type = "apiKey: string, records: Array<string | Buffer | LogInput>",
        ts_return_type = "Promise<BatchDetection>"
    )]
    pub fn detect_batch(&self, api_key: String, records: Array<'_>) -> AsyncTask<DetectBatchTask> {
        let input = self
            .det()
            .and_then(|det| Ok((det, api_key, records_from(&records)?)));
        AsyncTask::new(DetectBatchTask { input: Some(input) })
    }

    /// Closes one session now and returns its verdict (`null` when no such session is open).
    #[napi]
    pub fn close_session(
        &self,
        api_key: String,
        session_id: String,
    ) -> Result<Option<SessionVerdict>> {
        Ok(self
            .call(|d| d.close_session(&api_key, &session_id))?
            .map(SessionVerdict::from))
    }

    /// Closes every open session of the project (the end of the input) and returns their verdicts.
    #[napi]
    pub fn close_all_sessions(&self, api_key: String) -> Result<Vec<SessionVerdict>> {
        Ok(self
            .call(|d| d.close_all_sessions(&api_key))?
            .into_iter()
            .map(SessionVerdict::from)
            .collect())
    }

    /// Takes up to `max` (default 100) queued session verdicts of the project, oldest first. Every
    /// verdict is queued, whether or not a callback is set.
    #[napi]
    pub fn poll_session_verdicts(
        &self,
        api_key: String,
        max: Option<u32>,
    ) -> Result<Vec<SessionVerdict>> {
        let max = max.unwrap_or(100) as usize;
        Ok(self
            .call(|d| d.poll_session_verdicts(&api_key, max))?
            .into_iter()
            .map(SessionVerdict::from)
            .collect())
    }

    /// Sets (or with `null` clears) a function receiving every session verdict of every project as it
    /// is produced. It is always called asynchronously on the JavaScript thread (after the call that
    /// produced the verdict returned); it does not keep the process alive; an exception it throws is
    /// reported as an uncaught exception. Verdicts stay queued for `pollSessionVerdicts` as well.
    #[napi(ts_args_type = "callback: ((verdict: SessionVerdict) => void) | null")]
    pub fn set_verdict_callback(&self, callback: Option<EventFn<SessionVerdict>>) -> Result<()> {
        let det = self.det()?;
        det.set_verdict_callback(callback.map(event_callback));
        Ok(())
    }

    /// Takes up to `max` (default 100) of the project's newly raised incidents, oldest first, each as
    /// it was when raised (`incident(apiKey, id)` gives its state now). Every incident is queued,
    /// whether or not a callback is set; the queue starts empty when the detector opens.
    #[napi]
    pub fn poll_incidents(&self, api_key: String, max: Option<u32>) -> Result<Vec<Incident>> {
        let max = max.unwrap_or(100) as usize;
        Ok(self
            .call(|d| d.poll_incidents(&api_key, max))?
            .into_iter()
            .map(Incident::from)
            .collect())
    }

    /// The project's incidents, open ones first (each group newest first); `state` (`'open'` or
    /// `'resolved'`) filters. A state of another name throws `code === 'INVALID_INPUT'` naming the
    /// allowed ones.
    #[napi(ts_args_type = "apiKey: string, state?: IncidentState | null | undefined")]
    pub fn incidents(&self, api_key: String, state: Option<String>) -> Result<Vec<Incident>> {
        let state = incident_state_arg(state)?;
        Ok(self
            .call(|d| d.incidents(&api_key, state))?
            .into_iter()
            .map(Incident::from)
            .collect())
    }

    /// One incident of the project (a flagged result's `incidentId`), as it is now. An id the
    /// project does not hold throws `code === 'INVALID_INPUT'`.
    #[napi]
    pub fn incident(&self, api_key: String, incident_id: f64) -> Result<Incident> {
        let id = id_arg(incident_id, "incidentId")?;
        Ok(self.call(|d| d.incident(&api_key, id))?.into())
    }

    /// Sets (or with `null` clears) a function receiving every incident of every project as it is
    /// raised (its first anomaly; later ones join it). Called like the verdict callback: always
    /// asynchronously on the JavaScript thread, without keeping the process alive, an exception it
    /// throws reported as an uncaught exception. Incidents stay queued for `pollIncidents` as well.
    #[napi(ts_args_type = "callback: ((incident: Incident) => void) | null")]
    pub fn set_incident_callback(&self, callback: Option<EventFn<Incident>>) -> Result<()> {
        let det = self.det()?;
        det.set_incident_callback(callback.map(event_callback));
        Ok(())
    }

    /// Operator feedback: marks an incident (`incidentId`) or a key the scope matches (`key`: a
    /// result's `pattern`, a template, a rule name, a session id) `'normal'` or `'anomaly'`, for
    /// `durationSecs` or for good. It applies to the project's next line at once (no retraining), is
    /// stored before this returns and never touches another project; results it decides carry its id
    /// as `feedbackId`. Both or neither of `incidentId` and `key`, a label or scope of another name,
    /// an incident the project does not hold or a scope it has no key for throw
    /// `code === 'INVALID_INPUT'`.
    #[napi(ts_args_type = "apiKey: string, feedback: NewFeedback")]
    pub fn feedback(&self, api_key: String, feedback: serde_json::Value) -> Result<Feedback> {
        let new = build_feedback(feedback)?;
        Ok(self.call(move |d| d.feedback(&api_key, new))?.into())
    }

    /// The project's feedback marks, oldest first.
    #[napi]
    pub fn list_feedback(&self, api_key: String) -> Result<Vec<Feedback>> {
        Ok(self
            .call(|d| d.list_feedback(&api_key))?
            .into_iter()
            .map(Feedback::from)
            .collect())
    }

    /// Undoes a feedback mark (by its `id`) and returns it: results it decided are judged as before
    /// from the next line on. An id the project does not hold throws `code === 'INVALID_INPUT'`.
    #[napi]
    pub fn undo_feedback(&self, api_key: String, feedback_id: f64) -> Result<Feedback> {
        let id = id_arg(feedback_id, "feedbackId")?;
        Ok(self.call(|d| d.undo_feedback(&api_key, id))?.into())
    }

    /// Drops every open session of the project without verdicts; returns how many were open.
    #[napi]
    pub fn reset_sessions(&self, api_key: String) -> Result<u32> {
        let n = self.call(|d| d.reset_sessions(&api_key))?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// The project's status.
    #[napi]
    pub fn status(&self, api_key: String) -> Result<ProjectStatus> {
        Ok(self.call(|d| d.status(&api_key))?.into())
    }

    /// A project's status by id (admin).
    #[napi]
    pub fn project_status(&self, project_id: String) -> Result<ProjectStatus> {
        Ok(self.call(|d| d.project_status(&project_id))?.into())
    }

    /// The project's current or last training job (`null` before its first training).
    #[napi]
    pub fn training_job(&self, api_key: String) -> Result<Option<JobHandle>> {
        Ok(self.call(|d| d.training_job(&api_key))?.map(JobHandle::new))
    }

    /// Resolves when the project's training (running or queued) finishes, with its final status, or
    /// with `null` when no training was started; rejects with `code === 'TIMEOUT'` after `timeoutMs`
    /// milliseconds (no limit by default). Waits off the JavaScript thread.
    #[napi(ts_return_type = "Promise<JobStatus | null>")]
    pub fn wait_for_training<'env>(
        &self,
        env: &'env Env,
        api_key: String,
        timeout_ms: Option<f64>,
    ) -> Result<Object<'env>> {
        let det = self.det();
        let timeout = timeout_arg(timeout_ms);
        promise_on_thread::<Option<JobStatus>, _, _>(env, "logsentinel-wait", move || {
            let (det, timeout) = (det?, timeout?);
            let Some(job) = det.training_job(&api_key).js()? else {
                return Ok(None);
            };
            Ok(Some(JobStatus::from(wait_job(&job, timeout, false).js()?)))
        })
    }

    /// Detector health.
    #[napi]
    pub fn health(&self) -> Result<Health> {
        Ok(self.call(|d| d.health())?.into())
    }

    /// The shared teacher's state.
    #[napi]
    pub fn teacher_info(&self) -> Result<TeacherInfo> {
        Ok(self.call(|d| d.teacher_info())?.into())
    }

    /// Starts a teacher update now (admin) and returns its job.
    #[napi]
    pub fn force_teacher_update(&self) -> Result<JobHandle> {
        Ok(JobHandle::new(self.call(|d| d.force_teacher_update())?))
    }

    /// The teacher update history, oldest first.
    #[napi]
    pub fn update_history(&self) -> Result<Vec<TeacherUpdate>> {
        Ok(self
            .call(|d| d.update_history())?
            .into_iter()
            .map(TeacherUpdate::from)
            .collect())
    }

    /// Persists every project's state now (also done by group commits and on close).
    #[napi]
    pub fn flush(&self) -> Result<()> {
        self.call(|d| d.flush())
    }

    /// Stops background work (a running training is redone at the next open), persists everything and
    /// releases the storage. Idempotent; later calls throw (or reject with) `code === 'CLOSED'`.
    /// Pending `detectBatch` promises settle (with `'CLOSED'` if they had not started); pending waits
    /// resolve with the cancelled job's status.
    #[napi]
    pub fn close(&self) -> Result<()> {
        let Some(det) = self.inner.write().take() else {
            return Ok(());
        };
        det.set_verdict_callback(None);
        det.set_incident_callback(None);
        det.close().js()
    }

    /// `TenantDetector(storageDir[, closed])`, for logs and the REPL.
    #[napi(js_name = "toString")]
    pub fn to_js_string(&self) -> String {
        format!(
            "TenantDetector(storageDir={:?}{})",
            self.storage_dir,
            if self.closed() { ", closed" } else { "" }
        )
    }
}
