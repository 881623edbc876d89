//! The C++ surface: a `cxx` bridge. C++ code does not use it directly but through
//! `include/logsentinel.hpp` (`logsentinel::Detector`), which turns the `rust::Error` a failing call
//! throws (its `what()` is `"CODE: message"`, e.g. `"INVALID_API_KEY: invalid API key"`) into a
//! `logsentinel::Error` with `.kind()`.
//!
//! cxx aborts the process when an `extern "Rust"` function panics, so every function here runs its
//! body inside `catch_unwind` and reports a panic as a `PANIC` error instead.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use cxx::{CxxString, CxxVector, UniquePtr};
use logsentinel::{
    Clock, Config, Incident, IncidentState, JobHandle, LogRecord, NewFeedback, NewProject,
    SessionVerdict, TenantDetector,
};

use crate::error::{panic_message, FfiError};

/// The bridge itself (the C++ names live in `logsentinel::bridge`).
#[cxx::bridge(namespace = "logsentinel::bridge")]
pub mod ffi {
    /// The hot fields of one line's verdict, plus its full JSON.
    #[derive(Debug, Clone)]
    pub struct Detection {
        /// Whether the line is anomalous.
        pub is_anomaly: bool,
        /// Ensemble score in [0, 1].
        pub anomaly_score: f32,
        /// Decision threshold.
        pub threshold: f32,
        /// "warmup", "training" or "active".
        pub phase: String,
        /// "teacher" or "student".
        pub model_type: String,
        /// Local template id (0 = never seen, in the active phase).
        pub template_id: u32,
        /// Template text (`<*>` for variables).
        pub template_text: String,
        /// Logs the project has seen, this one included.
        pub log_count: u64,
        /// Warmup progress in [0, 1].
        pub warmup_progress: f32,
        /// The line's session ("" when it has none).
        pub session_id: String,
        /// The full verdict as JSON (the same fields as the Rust `Detection`).
        pub json: String,
    }

    /// A created project; `api_key` is shown only here.
    #[derive(Debug, Clone)]
    pub struct CreatedProject {
        /// Project id.
        pub project_id: String,
        /// Display name.
        pub project_name: String,
        /// The API key.
        pub api_key: String,
        /// Warmup threshold in logs.
        pub warmup_threshold: u64,
        /// Index name, `logs-{project_id}`.
        pub es_index_pattern: String,
    }

    extern "Rust" {
        /// A detector (wraps `logsentinel::TenantDetector`).
        type RustDetector;
        /// A background job handle, possibly empty (no job).
        type RustJob;

        /// Opens a detector; `config_json` as for the C `ls_detector_open` ("" = defaults).
        fn open_detector(config_json: &CxxString) -> Result<Box<RustDetector>>;
        /// Opens a detector with a host clock.
        fn open_detector_with_clock(
            config_json: &CxxString,
            clock: UniquePtr<ClockSource>,
        ) -> Result<Box<RustDetector>>;
        /// See `TenantDetector::close`.
        fn close(self: &RustDetector) -> Result<()>;
        /// Whether `close` was called.
        fn is_closed(self: &RustDetector) -> bool;
        /// Creates a project from `NewProject` JSON.
        fn create_project(
            self: &RustDetector,
            new_project_json: &CxxString,
        ) -> Result<CreatedProject>;
        /// Every project as JSON.
        fn list_projects(self: &RustDetector) -> Result<String>;
        /// Deletes a project by id.
        fn delete_project(self: &RustDetector, project_id: &CxxString) -> Result<()>;
        /// Rotates a key; returns the new one.
        fn rotate_key(self: &RustDetector, api_key: &CxxString) -> Result<String>;
        /// Rotates a project's key by id.
        fn rotate_key_by_id(self: &RustDetector, project_id: &CxxString) -> Result<String>;
        /// Creates a project from another's learned state under a new name and key.
        fn fork_project(
            self: &RustDetector,
            source_project_id: &CxxString,
            name: &CxxString,
        ) -> Result<CreatedProject>;
        /// Scores one line ("" session id: none).
        fn detect(
            self: &RustDetector,
            api_key: &CxxString,
            log_line: &CxxString,
            session_id: &CxxString,
        ) -> Result<Detection>;
        /// Scores lines in order; `session_ids` is empty or one per line ("" = none).
        fn detect_batch(
            self: &RustDetector,
            api_key: &CxxString,
            lines: &CxxVector<CxxString>,
            session_ids: &CxxVector<CxxString>,
        ) -> Result<Vec<Detection>>;
        /// Like `detect_batch`, the whole result as JSON.
        fn detect_batch_json(
            self: &RustDetector,
            api_key: &CxxString,
            lines: &CxxVector<CxxString>,
            session_ids: &CxxVector<CxxString>,
        ) -> Result<String>;
        /// Closes a session: its verdict as JSON, or "" when no such session is open.
        fn close_session(
            self: &RustDetector,
            api_key: &CxxString,
            session_id: &CxxString,
        ) -> Result<String>;
        /// Closes every session: a JSON array of verdicts.
        fn close_all_sessions(self: &RustDetector, api_key: &CxxString) -> Result<String>;
        /// Takes up to `max` queued verdicts: a JSON array.
        fn poll_session_verdicts(
            self: &RustDetector,
            api_key: &CxxString,
            max: usize,
        ) -> Result<String>;
        /// Sets (or with a null pointer clears) the verdict sink.
        fn set_verdict_callback(self: &RustDetector, sink: UniquePtr<VerdictSink>) -> Result<()>;
        /// Drops every open session; returns how many.
        fn reset_sessions(self: &RustDetector, api_key: &CxxString) -> Result<usize>;
        /// Takes up to `max` newly raised incidents: a JSON array.
        fn poll_incidents(self: &RustDetector, api_key: &CxxString, max: usize) -> Result<String>;
        /// The kept incidents ("" state: all; "open", "resolved"): a JSON array.
        fn incidents(self: &RustDetector, api_key: &CxxString, state: &CxxString)
            -> Result<String>;
        /// One incident as JSON.
        fn incident(self: &RustDetector, api_key: &CxxString, incident_id: u64) -> Result<String>;
        /// Sets (or with a null pointer clears) the incident sink.
        fn set_incident_callback(self: &RustDetector, sink: UniquePtr<VerdictSink>) -> Result<()>;
        /// Gives feedback (`POST /feedback` JSON body); the stored mark as JSON.
        fn feedback(
            self: &RustDetector,
            api_key: &CxxString,
            feedback_json: &CxxString,
        ) -> Result<String>;
        /// The project's feedback marks: a JSON array.
        fn list_feedback(self: &RustDetector, api_key: &CxxString) -> Result<String>;
        /// Undoes a feedback mark; the removed mark as JSON.
        fn undo_feedback(
            self: &RustDetector,
            api_key: &CxxString,
            feedback_id: u64,
        ) -> Result<String>;
        /// The project's status as JSON.
        fn status(self: &RustDetector, api_key: &CxxString) -> Result<String>;
        /// A project's status by id as JSON.
        fn project_status(self: &RustDetector, project_id: &CxxString) -> Result<String>;
        /// The project's training job (possibly empty).
        fn training_job(self: &RustDetector, api_key: &CxxString) -> Result<Box<RustJob>>;
        /// Waits for the project's training (negative timeout: none): final status JSON, or "" when
        /// no training was started.
        fn wait_for_training(
            self: &RustDetector,
            api_key: &CxxString,
            timeout_ms: i64,
        ) -> Result<String>;
        /// Health as JSON.
        fn health(self: &RustDetector) -> Result<String>;
        /// The teacher's state as JSON.
        fn teacher_info(self: &RustDetector) -> Result<String>;
        /// Starts a teacher update.
        fn force_teacher_update(self: &RustDetector) -> Result<Box<RustJob>>;
        /// The teacher update history as JSON.
        fn update_history(self: &RustDetector) -> Result<String>;
        /// Persists every project now.
        fn flush(self: &RustDetector) -> Result<()>;

        /// Whether the handle holds a job.
        fn has_job(self: &RustJob) -> bool;
        /// The job's status as JSON.
        fn job_status(self: &RustJob) -> Result<String>;
        /// Waits for the job (negative timeout: none); final status as JSON.
        fn wait(self: &RustJob, timeout_ms: i64) -> Result<String>;
        /// Asks the job to stop.
        fn cancel(self: &RustJob) -> Result<()>;
    }

    unsafe extern "C++" {
        include!("logsentinel/cxx_shim.h");

        /// A C++ callable receiving session verdicts or incidents as JSON (see
        /// `logsentinel/cxx_shim.h`).
        type VerdictSink;
        /// Calls the sink; a C++ exception becomes an `Err` that is ignored.
        fn on_verdict(self: &VerdictSink, json: &str) -> Result<()>;

        /// A C++ clock (see `logsentinel/cxx_shim.h`).
        type ClockSource;
        /// Unix seconds; an exception falls back to the system clock.
        fn now(self: &ClockSource) -> Result<f64>;
    }
}

use ffi::{ClockSource, CreatedProject, Detection, VerdictSink};

// SAFETY: `VerdictSink` holds an immutable `std::function` that `logsentinel.hpp` documents must be
// callable from any thread, concurrently; the object is never mutated after construction.
unsafe impl Send for VerdictSink {}
// SAFETY: as above.
unsafe impl Sync for VerdictSink {}
// SAFETY: `ClockSource` holds an immutable `std::function` documented as thread-safe.
unsafe impl Send for ClockSource {}
// SAFETY: as above.
unsafe impl Sync for ClockSource {}

/// An error crossing into C++: thrown as `rust::Error` whose `what()` is `"CODE: message"`.
#[derive(Debug)]
pub struct BridgeError {
    code: &'static str,
    message: String,
}

impl fmt::Display for BridgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for BridgeError {}

impl From<FfiError> for BridgeError {
    fn from(e: FfiError) -> Self {
        Self {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl From<logsentinel::Error> for BridgeError {
    fn from(e: logsentinel::Error) -> Self {
        FfiError::Core(e).into()
    }
}

type BResult<T> = Result<T, BridgeError>;

/// Runs `f`, reporting a panic as a `PANIC` error (cxx would abort the process).
fn guard<T>(f: impl FnOnce() -> BResult<T>) -> BResult<T> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|p| Err(FfiError::Panic(panic_message(p.as_ref())).into()))
}

/// A created project as the bridge's shared struct.
fn created(p: logsentinel::CreatedProject) -> CreatedProject {
    CreatedProject {
        project_id: p.project_id,
        project_name: p.project_name,
        api_key: p.api_key,
        warmup_threshold: p.warmup_threshold,
        es_index_pattern: p.es_index_pattern,
    }
}

fn text<'a>(s: &'a CxxString, what: &'static str) -> BResult<&'a str> {
    s.to_str().map_err(|_| FfiError::InvalidUtf8(what).into())
}

fn json<T: serde::Serialize + ?Sized>(v: &T) -> BResult<String> {
    serde_json::to_string(v).map_err(|e| {
        BridgeError::from(logsentinel::Error::model(format!(
            "cannot encode result: {e}"
        )))
    })
}

fn timeout_from_ms(timeout_ms: i64) -> Option<Duration> {
    u64::try_from(timeout_ms).ok().map(Duration::from_millis)
}

fn parse_config(s: &CxxString) -> BResult<Config> {
    let s = text(s, "config_json")?;
    if s.trim().is_empty() {
        return Ok(Config::default());
    }
    serde_json::from_str(s).map_err(|e| {
        logsentinel::Error::InvalidConfig {
            name: "config_json".into(),
            reason: e.to_string(),
        }
        .into()
    })
}

fn records(
    lines: &CxxVector<CxxString>,
    session_ids: &CxxVector<CxxString>,
) -> BResult<Vec<LogRecord>> {
    if !session_ids.is_empty() && session_ids.len() != lines.len() {
        return Err(FfiError::invalid_input(format!(
            "session_ids has {} entries for {} lines (give none or one per line)",
            session_ids.len(),
            lines.len()
        ))
        .into());
    }
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let mut rec = LogRecord::new(text(line, "lines[i]")?);
        if let Some(sid) = session_ids.get(i) {
            let sid = text(sid, "session_ids[i]")?;
            if !sid.is_empty() {
                rec = rec.session(sid);
            }
        }
        out.push(rec);
    }
    Ok(out)
}

fn detection(d: &logsentinel::Detection) -> BResult<Detection> {
    Ok(Detection {
        is_anomaly: d.is_anomaly,
        anomaly_score: d.anomaly_score,
        threshold: d.threshold,
        phase: d.phase.as_str().to_string(),
        model_type: d.model_type.as_str().to_string(),
        template_id: d.template_id,
        template_text: d.template.clone(),
        log_count: d.log_count,
        warmup_progress: d.warmup_progress,
        session_id: d.session_id.clone().unwrap_or_default(),
        json: json(d)?,
    })
}

thread_local! {
    /// Depth of verdict and incident sinks running on this thread (to refuse re-registering or
    /// closing from inside one).
    static IN_SINK: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

fn in_sink() -> bool {
    IN_SINK.try_with(|d| d.get() > 0).unwrap_or(false)
}

/// Refuses `what` from inside a verdict or incident callback (it would wait for that very callback).
fn not_in_sink(what: &str) -> BResult<()> {
    if in_sink() {
        return Err(FfiError::invalid_input(format!(
            "{what} cannot be called from inside a verdict or incident callback"
        ))
        .into());
    }
    Ok(())
}

/// The host's verdict or incident sink, shared with the core's callback. Replacing it takes the
/// write lock, so it waits for calls in progress.
#[derive(Default)]
struct SinkSlot {
    sink: parking_lot::RwLock<Option<UniquePtr<VerdictSink>>>,
}

impl SinkSlot {
    /// Calls the sink, if any, with `event` as JSON.
    fn dispatch<T: serde::Serialize>(&self, event: &T) {
        let guard = self.sink.read_recursive();
        let Some(sink) = guard.as_ref().and_then(|s| s.as_ref()) else {
            return;
        };
        if let Ok(j) = serde_json::to_string(event) {
            let _ = IN_SINK.try_with(|d| d.set(d.get() + 1));
            // A C++ exception from the host's function is caught by cxx (Result) and dropped.
            let _ = sink.on_verdict(&j);
            let _ = IN_SINK.try_with(|d| d.set(d.get().saturating_sub(1)));
        }
    }
}

struct CxxClock {
    source: UniquePtr<ClockSource>,
}

impl Clock for CxxClock {
    fn now(&self) -> f64 {
        match self.source.as_ref().map(ClockSource::now) {
            Some(Ok(t)) => t,
            _ => logsentinel::SystemClock.now(),
        }
    }
}

/// A detector for C++ (`logsentinel::Detector` wraps it).
pub struct RustDetector {
    det: TenantDetector,
    sinks: Arc<SinkSlot>,
    incident_sinks: Arc<SinkSlot>,
}

/// A job handle for C++ (empty when there is no job).
pub struct RustJob {
    job: Option<JobHandle>,
}

fn boxed(det: TenantDetector) -> Box<RustDetector> {
    let sinks = Arc::new(SinkSlot::default());
    let s = sinks.clone();
    det.set_verdict_callback(Some(Arc::new(move |v: &SessionVerdict| s.dispatch(v))));
    let incident_sinks = Arc::new(SinkSlot::default());
    let s = incident_sinks.clone();
    det.set_incident_callback(Some(Arc::new(move |i: &Incident| s.dispatch(i))));
    Box::new(RustDetector {
        det,
        sinks,
        incident_sinks,
    })
}

fn open_detector(config_json: &CxxString) -> BResult<Box<RustDetector>> {
    guard(|| Ok(boxed(TenantDetector::open(parse_config(config_json)?)?)))
}

fn open_detector_with_clock(
    config_json: &CxxString,
    clock: UniquePtr<ClockSource>,
) -> BResult<Box<RustDetector>> {
    guard(|| {
        if clock.is_null() {
            return Err(FfiError::NullPointer("clock").into());
        }
        let config = parse_config(config_json)?;
        let clock: Arc<dyn Clock> = Arc::new(CxxClock { source: clock });
        Ok(boxed(TenantDetector::open_with_clock(config, clock)?))
    })
}

impl RustDetector {
    fn live(&self) -> BResult<&TenantDetector> {
        if self.det.is_closed() {
            return Err(logsentinel::Error::Closed.into());
        }
        Ok(&self.det)
    }

    fn close(&self) -> BResult<()> {
        guard(|| {
            not_in_sink("close")?;
            let r = self.det.close();
            *self.sinks.sink.write() = None;
            *self.incident_sinks.sink.write() = None;
            Ok(r?)
        })
    }

    fn is_closed(&self) -> bool {
        self.det.is_closed()
    }

    fn create_project(&self, new_project_json: &CxxString) -> BResult<CreatedProject> {
        guard(|| {
            let new: NewProject = serde_json::from_str(text(new_project_json, "new_project_json")?)
                .map_err(|e| FfiError::invalid_input(format!("new_project_json: {e}")))?;
            Ok(created(self.live()?.create_project(new)?))
        })
    }

    fn fork_project(
        &self,
        source_project_id: &CxxString,
        name: &CxxString,
    ) -> BResult<CreatedProject> {
        guard(|| {
            Ok(created(self.live()?.fork_project(
                text(source_project_id, "source_project_id")?,
                text(name, "name")?,
            )?))
        })
    }

    fn list_projects(&self) -> BResult<String> {
        guard(|| json(&self.live()?.list_projects()?))
    }

    fn delete_project(&self, project_id: &CxxString) -> BResult<()> {
        guard(|| {
            Ok(self
                .live()?
                .delete_project(text(project_id, "project_id")?)?)
        })
    }

    fn rotate_key(&self, api_key: &CxxString) -> BResult<String> {
        guard(|| Ok(self.live()?.rotate_key(text(api_key, "api_key")?)?))
    }

    fn rotate_key_by_id(&self, project_id: &CxxString) -> BResult<String> {
        guard(|| {
            Ok(self
                .live()?
                .rotate_key_by_id(text(project_id, "project_id")?)?)
        })
    }

    fn detect(
        &self,
        api_key: &CxxString,
        log_line: &CxxString,
        session_id: &CxxString,
    ) -> BResult<Detection> {
        guard(|| {
            let key = text(api_key, "api_key")?;
            let mut rec = LogRecord::new(text(log_line, "log_line")?);
            let sid = text(session_id, "session_id")?;
            if !sid.is_empty() {
                rec = rec.session(sid);
            }
            detection(&self.live()?.detect(key, rec)?)
        })
    }

    fn detect_batch(
        &self,
        api_key: &CxxString,
        lines: &CxxVector<CxxString>,
        session_ids: &CxxVector<CxxString>,
    ) -> BResult<Vec<Detection>> {
        guard(|| {
            let key = text(api_key, "api_key")?;
            let recs = records(lines, session_ids)?;
            self.live()?
                .detect_batch(key, &recs)?
                .results
                .iter()
                .map(detection)
                .collect()
        })
    }

    fn detect_batch_json(
        &self,
        api_key: &CxxString,
        lines: &CxxVector<CxxString>,
        session_ids: &CxxVector<CxxString>,
    ) -> BResult<String> {
        guard(|| {
            let key = text(api_key, "api_key")?;
            let recs = records(lines, session_ids)?;
            json(&self.live()?.detect_batch(key, &recs)?)
        })
    }

    fn close_session(&self, api_key: &CxxString, session_id: &CxxString) -> BResult<String> {
        guard(|| {
            let key = text(api_key, "api_key")?;
            let sid = text(session_id, "session_id")?;
            match self.live()?.close_session(key, sid)? {
                Some(v) => json(&v),
                None => Ok(String::new()),
            }
        })
    }

    fn close_all_sessions(&self, api_key: &CxxString) -> BResult<String> {
        guard(|| json(&self.live()?.close_all_sessions(text(api_key, "api_key")?)?))
    }

    fn poll_session_verdicts(&self, api_key: &CxxString, max: usize) -> BResult<String> {
        guard(|| {
            json(
                &self
                    .live()?
                    .poll_session_verdicts(text(api_key, "api_key")?, max)?,
            )
        })
    }

    fn set_verdict_callback(&self, sink: UniquePtr<VerdictSink>) -> BResult<()> {
        guard(|| {
            not_in_sink("set_verdict_callback")?;
            self.live()?;
            *self.sinks.sink.write() = (!sink.is_null()).then_some(sink);
            Ok(())
        })
    }

    fn reset_sessions(&self, api_key: &CxxString) -> BResult<usize> {
        guard(|| Ok(self.live()?.reset_sessions(text(api_key, "api_key")?)?))
    }

    fn poll_incidents(&self, api_key: &CxxString, max: usize) -> BResult<String> {
        guard(|| {
            json(
                &self
                    .live()?
                    .poll_incidents(text(api_key, "api_key")?, max)?,
            )
        })
    }

    fn incidents(&self, api_key: &CxxString, state: &CxxString) -> BResult<String> {
        guard(|| {
            let state = match text(state, "state")? {
                "" => None,
                name => Some(name.parse::<IncidentState>()?),
            };
            json(&self.live()?.incidents(text(api_key, "api_key")?, state)?)
        })
    }

    fn incident(&self, api_key: &CxxString, incident_id: u64) -> BResult<String> {
        guard(|| {
            json(
                &self
                    .live()?
                    .incident(text(api_key, "api_key")?, incident_id)?,
            )
        })
    }

    fn set_incident_callback(&self, sink: UniquePtr<VerdictSink>) -> BResult<()> {
        guard(|| {
            not_in_sink("set_incident_callback")?;
            self.live()?;
            *self.incident_sinks.sink.write() = (!sink.is_null()).then_some(sink);
            Ok(())
        })
    }

    fn feedback(&self, api_key: &CxxString, feedback_json: &CxxString) -> BResult<String> {
        guard(|| {
            let new: NewFeedback = serde_json::from_str(text(feedback_json, "feedback_json")?)
                .map_err(|e| FfiError::invalid_input(format!("feedback_json: {e}")))?;
            json(&self.live()?.feedback(text(api_key, "api_key")?, new)?)
        })
    }

    fn list_feedback(&self, api_key: &CxxString) -> BResult<String> {
        guard(|| json(&self.live()?.list_feedback(text(api_key, "api_key")?)?))
    }

    fn undo_feedback(&self, api_key: &CxxString, feedback_id: u64) -> BResult<String> {
        guard(|| {
            json(
                &self
                    .live()?
                    .undo_feedback(text(api_key, "api_key")?, feedback_id)?,
            )
        })
    }

    fn status(&self, api_key: &CxxString) -> BResult<String> {
        guard(|| json(&self.live()?.status(text(api_key, "api_key")?)?))
    }

    fn project_status(&self, project_id: &CxxString) -> BResult<String> {
        guard(|| {
            json(
                &self
                    .live()?
                    .project_status(text(project_id, "project_id")?)?,
            )
        })
    }

    fn training_job(&self, api_key: &CxxString) -> BResult<Box<RustJob>> {
        guard(|| {
            let job = self.live()?.training_job(text(api_key, "api_key")?)?;
            Ok(Box::new(RustJob { job }))
        })
    }

    fn wait_for_training(&self, api_key: &CxxString, timeout_ms: i64) -> BResult<String> {
        guard(|| {
            let key = text(api_key, "api_key")?;
            match self
                .live()?
                .wait_for_training(key, timeout_from_ms(timeout_ms))?
            {
                Some(st) => json(&st),
                None => Ok(String::new()),
            }
        })
    }

    fn health(&self) -> BResult<String> {
        guard(|| json(&self.live()?.health()?))
    }

    fn teacher_info(&self) -> BResult<String> {
        guard(|| json(&self.live()?.teacher_info()?))
    }

    fn force_teacher_update(&self) -> BResult<Box<RustJob>> {
        guard(|| {
            Ok(Box::new(RustJob {
                job: Some(self.live()?.force_teacher_update()?),
            }))
        })
    }

    fn update_history(&self) -> BResult<String> {
        guard(|| json(&self.live()?.update_history()?))
    }

    fn flush(&self) -> BResult<()> {
        guard(|| Ok(self.live()?.flush()?))
    }
}

impl RustJob {
    fn job(&self) -> BResult<&JobHandle> {
        self.job
            .as_ref()
            .ok_or_else(|| FfiError::invalid_input("empty job handle").into())
    }

    fn has_job(&self) -> bool {
        self.job.is_some()
    }

    fn job_status(&self) -> BResult<String> {
        guard(|| json(&self.job()?.status()))
    }

    fn wait(&self, timeout_ms: i64) -> BResult<String> {
        guard(|| json(&self.job()?.wait(timeout_from_ms(timeout_ms))?))
    }

    fn cancel(&self) -> BResult<()> {
        guard(|| {
            self.job()?.cancel();
            Ok(())
        })
    }
}

impl Drop for RustDetector {
    fn drop(&mut self) {
        // Close (joining background work, persisting) before the sinks go, so no C++ callable runs
        // after the C++ object owning this detector is gone.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let _ = self.det.close();
            *self.sinks.sink.write() = None;
            *self.incident_sinks.sink.write() = None;
        }));
    }
}
