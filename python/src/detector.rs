//! `TenantDetector` for Python: converts arguments, releases the GIL around every call into the core,
//! maps errors, and manages the handle's lifetime (close, context manager, fork).

use std::collections::VecDeque;
use std::sync::Arc;

use logsentinel::{
    Config, FeedbackLabel, FeedbackScope, FeedbackTarget, IncidentState, LogRecord, NewFeedback,
    NewProject,
};
use parking_lot::{Mutex, RwLock};
use pyo3::exceptions::PyTypeError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};
use pyo3::PyTraverseError;
use pyo3::{PyClass, PyClassInitializer};
use serde_json::{Map, Value};

use crate::convert::{py_to_json, to_py_dict};
use crate::error::{new_error, to_py_err, wrong_process, Exc, IntoPyResult};
use crate::job::{timeout_arg, wait_job, JobHandle};
use crate::types::{
    BatchDetection, CreatedProject, Detection, Feedback, Health, Incident, JobStatus,
    ProjectStatus, ProjectSummary, SessionVerdict, TeacherInfo, TeacherUpdate,
};

/// The multi-tenant anomaly detector.
///
/// `TenantDetector(storage_dir=None, warmup_threshold=None, config=None, *, tiny_models=False,
/// **options)` opens (or creates) the storage. `config` is a dict or a `logsentinel.Config` dataclass
/// with any field of the core `Config`; `options` are more fields; `storage_dir` and
/// `warmup_threshold` win over both. `tiny_models=True` starts from tiny teacher and student sizes (tests,
/// demos). Safe to share between threads: every call releases the GIL while it works. Use it as a
/// context manager (`with TenantDetector(...) as d:`) or call `close()`; later calls raise
/// `DetectorClosed`. After `os.fork()` the child must open its own detector: calls on the parent's raise
/// `LogSentinelError` (code `WRONG_PROCESS`).
#[pyclass(module = "logsentinel", name = "TenantDetector", frozen)]
pub struct TenantDetector {
    inner: RwLock<Option<logsentinel::TenantDetector>>,
    /// The verdict callback: the only reference to it (the core's closure reads this slot), so the GC
    /// sees it (`__traverse__`) and a cycle through it (a callback that refers to the detector) is
    /// collected.
    callback: CallbackSlot,
    /// The incident callback, held the same way.
    incident_callback: CallbackSlot,
    storage_dir: String,
    pid: u32,
}

/// Where a Python callback given to the core lives (see `TenantDetector::callback`).
type CallbackSlot = Arc<Mutex<Option<Py<PyAny>>>>;

/// A core callback type: `VerdictCallback`, `IncidentCallback`.
type CoreCallback<T> = Arc<dyn Fn(&T) + Send + Sync>;

/// Stores `callback` (a callable, or `None` to clear) in `slot` and hands `install` the core callback
/// that calls it with each value wrapped as `W`, on the thread that produced the value. Exceptions the
/// callable raises go to `sys.unraisablehook` and never reach the core.
fn set_callback<T, W>(
    slot: &CallbackSlot,
    callback: Option<Bound<'_, PyAny>>,
    install: impl FnOnce(Option<CoreCallback<T>>),
) -> PyResult<()>
where
    T: Clone + 'static,
    W: PyClass + From<T> + Into<PyClassInitializer<W>>,
{
    let Some(callback) = callback.filter(|c| !c.is_none()) else {
        install(None);
        let old = slot.lock().take();
        drop(old);
        return Ok(());
    };
    if !callback.is_callable() {
        return Err(PyTypeError::new_err("callback must be callable or None"));
    }
    let old = slot.lock().replace(callback.unbind());
    drop(old);
    let slot = Arc::clone(slot);
    let f: CoreCallback<T> = Arc::new(move |v: &T| {
        Python::attach(|py| {
            let Some(cb) = slot.lock().as_ref().map(|c| c.clone_ref(py)) else {
                return;
            };
            let result = Py::new(py, W::from(v.clone())).and_then(|arg| cb.call1(py, (arg,)));
            if let Err(e) = result {
                e.write_unraisable(py, Some(cb.bind(py)));
            }
        })
    });
    install(Some(f));
    Ok(())
}

fn config_error(py: Python<'_>, reason: String) -> PyErr {
    to_py_err(
        py,
        logsentinel::Error::InvalidConfig {
            name: "config".into(),
            reason,
        },
    )
}

/// Builds the core `Config` from the constructor's arguments.
fn build_config(
    py: Python<'_>,
    storage_dir: Option<&Bound<'_, PyAny>>,
    warmup_threshold: Option<u64>,
    config: Option<&Bound<'_, PyAny>>,
    tiny_models: bool,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Config> {
    let mut map = Map::new();
    if tiny_models {
        let tiny = serde_json::to_value(Config::default().tiny_models())
            .map_err(|e| config_error(py, e.to_string()))?;
        for key in ["teacher", "student", "teacher_epochs"] {
            if let Some(v) = tiny.get(key) {
                map.insert(key.to_string(), v.clone());
            }
        }
    }
    let mut merge = |value: Value, what: &str| -> PyResult<()> {
        match value {
            Value::Object(m) => {
                map.extend(m);
                Ok(())
            }
            Value::Null => Ok(()),
            other => Err(config_error(
                py,
                format!("{what} must be a dict or a dataclass, got {other}"),
            )),
        }
    };
    if let Some(c) = config {
        merge(py_to_json(c)?, "config")?;
    }
    if let Some(o) = options {
        merge(py_to_json(o.as_any())?, "options")?;
    }
    if let Some(dir) = storage_dir {
        map.insert("storage_dir".into(), py_to_json(dir)?);
    }
    if let Some(w) = warmup_threshold {
        map.insert("warmup_threshold".into(), Value::from(w));
    }
    serde_json::from_value(Value::Object(map)).map_err(|e| config_error(py, e.to_string()))
}

/// One record of `detect_batch`: a `str` (or `bytes`), a dict with `log_line` and optional
/// `session_id`, or a `(log_line, session_id)` tuple.
fn extract_record(index: usize, item: &Bound<'_, PyAny>) -> PyResult<LogRecord> {
    let py = item.py();
    if let Ok(s) = item.cast::<PyString>() {
        return Ok(LogRecord::new(s.to_cow()?.into_owned()));
    }
    if let Ok(b) = item.cast::<PyBytes>() {
        return Ok(LogRecord::from_bytes(b.as_bytes()));
    }
    if let Ok(d) = item.cast::<PyDict>() {
        let mut record: Option<LogRecord> = None;
        let mut session: Option<String> = None;
        for (k, v) in d.iter() {
            let key: String = k.extract()?;
            match key.as_str() {
                "log_line" => record = Some(line_arg(&v)?),
                "session_id" => session = v.extract()?,
                other => {
                    return Err(new_error(
                        py,
                        Exc::InvalidInput,
                        &format!(
                            "record {index}: unknown key {other:?} (expected log_line, session_id)"
                        ),
                        &[],
                    ))
                }
            }
        }
        let mut record = record.ok_or_else(|| {
            new_error(
                py,
                Exc::InvalidInput,
                &format!("record {index} has no \"log_line\""),
                &[],
            )
        })?;
        record.session_id = session;
        return Ok(record);
    }
    if let Ok(t) = item.cast::<PyTuple>() {
        if t.len() == 2 {
            let mut record = line_arg(&t.get_item(0)?)?;
            record.session_id = t.get_item(1)?.extract()?;
            return Ok(record);
        }
    }
    Err(PyTypeError::new_err(format!(
        "record {index}: expected str, bytes, a dict with \"log_line\" (and \"session_id\") or a \
         (log_line, session_id) tuple, got {}",
        item.get_type().name()?
    )))
}

/// A log line argument: `str`, or `bytes` decoded as UTF-8 with invalid bytes replaced.
fn line_arg(obj: &Bound<'_, PyAny>) -> PyResult<LogRecord> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(LogRecord::new(s.to_cow()?.into_owned()));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(LogRecord::from_bytes(b.as_bytes()));
    }
    Err(PyTypeError::new_err(format!(
        "log_line must be str or bytes, got {}",
        obj.get_type().name()?
    )))
}

impl TenantDetector {
    /// The live core handle: raises `DetectorClosed` after `close()` and `LogSentinelError`
    /// (`WRONG_PROCESS`) in a forked child.
    fn det(&self, py: Python<'_>) -> PyResult<logsentinel::TenantDetector> {
        if std::process::id() != self.pid {
            return Err(wrong_process(py, "TenantDetector"));
        }
        self.inner
            .read()
            .clone()
            .ok_or_else(|| to_py_err(py, logsentinel::Error::Closed))
    }

    /// Runs `f` on the core handle with the GIL released and maps its error.
    fn call<T, F>(&self, py: Python<'_>, f: F) -> PyResult<T>
    where
        T: Send,
        F: FnOnce(&logsentinel::TenantDetector) -> logsentinel::Result<T> + Send,
    {
        let det = self.det(py)?;
        py.detach(move || f(&det)).py_err(py)
    }
}

fn verdicts_list(
    py: Python<'_>,
    v: Vec<logsentinel::SessionVerdict>,
) -> PyResult<Vec<Py<SessionVerdict>>> {
    v.into_iter()
        .map(|x| Py::new(py, SessionVerdict::from(x)))
        .collect()
}

#[pymethods]
impl TenantDetector {
    #[new]
    #[pyo3(signature = (storage_dir=None, warmup_threshold=None, config=None, *, tiny_models=false, **options))]
    fn new(
        py: Python<'_>,
        storage_dir: Option<Bound<'_, PyAny>>,
        warmup_threshold: Option<u64>,
        config: Option<Bound<'_, PyAny>>,
        tiny_models: bool,
        options: Option<Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let config = build_config(
            py,
            storage_dir.as_ref(),
            warmup_threshold,
            config.as_ref(),
            tiny_models,
            options.as_ref(),
        )?;
        let storage_dir = config.storage_dir.display().to_string();
        let det = py
            .detach(move || logsentinel::TenantDetector::open(config))
            .py_err(py)?;
        Ok(Self {
            inner: RwLock::new(Some(det)),
            callback: Arc::new(Mutex::new(None)),
            incident_callback: Arc::new(Mutex::new(None)),
            storage_dir,
            pid: std::process::id(),
        })
    }

    /// The storage directory.
    #[getter]
    fn storage_dir(&self) -> &str {
        &self.storage_dir
    }

    /// Whether `close()` was called (or the handle belongs to a parent process).
    #[getter]
    fn closed(&self) -> bool {
        std::process::id() != self.pid || self.inner.read().as_ref().is_none_or(|d| d.is_closed())
    }

    /// The configuration in force, as a dict.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let det = self.det(py)?;
        to_py_dict(py, det.config())
    }

    /// Creates a project and returns it with its API key (shown only here). `format` is a header format
    /// name (`"auto"`, `"hdfs"`, `"combined"`...), `session_pattern` a regex whose first match (or first
    /// group) is a line's session id, `custom_rules` a list of `{"name", "pattern", "severity"}` dicts,
    /// `log_format` a header format string the logparser way (`"<Date> <Time> <Level> <Component>:
    /// <Content>"`) that wins over `format`.
    #[pyo3(signature = (name, warmup_threshold=None, format=None, session_pattern=None, custom_rules=None, log_format=None))]
    #[allow(clippy::too_many_arguments)]
    fn create_project(
        &self,
        py: Python<'_>,
        name: String,
        warmup_threshold: Option<u64>,
        format: Option<String>,
        session_pattern: Option<String>,
        custom_rules: Option<Bound<'_, PyAny>>,
        log_format: Option<String>,
    ) -> PyResult<CreatedProject> {
        let mut map = Map::new();
        map.insert("name".into(), Value::String(name));
        if let Some(w) = warmup_threshold {
            map.insert("warmup_threshold".into(), Value::from(w));
        }
        if let Some(f) = format {
            map.insert("format".into(), Value::String(f.to_ascii_lowercase()));
        }
        if let Some(p) = session_pattern {
            map.insert("session_pattern".into(), Value::String(p));
        }
        if let Some(f) = log_format {
            map.insert("log_format".into(), Value::String(f));
        }
        if let Some(rules) = custom_rules {
            map.insert("custom_rules".into(), py_to_json(&rules)?);
        }
        let new: NewProject = serde_json::from_value(Value::Object(map))
            .map_err(|e| to_py_err(py, logsentinel::Error::invalid_input(e.to_string())))?;
        Ok(self.call(py, move |d| d.create_project(new))?.into())
    }

    /// Creates a project from another's learned state (admin): its templates, training samples and
    /// student are copied under a new id and a new API key (shown only here), so the new project skips
    /// warmup. `project_id` names the source, `name` the new project.
    fn fork_project(
        &self,
        py: Python<'_>,
        project_id: String,
        name: String,
    ) -> PyResult<CreatedProject> {
        Ok(self
            .call(py, move |d| d.fork_project(&project_id, &name))?
            .into())
    }

    /// Every project (admin): never a key.
    fn list_projects(&self, py: Python<'_>) -> PyResult<Vec<ProjectSummary>> {
        Ok(self
            .call(py, |d| d.list_projects())?
            .into_iter()
            .map(ProjectSummary::from)
            .collect())
    }

    /// Deletes a project (admin): its key stops working at once and its data is removed.
    fn delete_project(&self, py: Python<'_>, project_id: String) -> PyResult<()> {
        self.call(py, move |d| d.delete_project(&project_id))
    }

    /// Replaces the project's key and returns the new one; the old one stops working at once.
    fn rotate_key(&self, py: Python<'_>, api_key: String) -> PyResult<String> {
        self.call(py, move |d| d.rotate_key(&api_key))
    }

    /// Like `rotate_key`, by project id (admin).
    fn rotate_key_by_id(&self, py: Python<'_>, project_id: String) -> PyResult<String> {
        self.call(py, move |d| d.rotate_key_by_id(&project_id))
    }

    /// Scores one line (`str`, or `bytes` decoded leniently). `session_id` overrides the project's
    /// session pattern and its format's default session key.
    #[pyo3(signature = (api_key, log_line, session_id=None))]
    fn detect(
        &self,
        py: Python<'_>,
        api_key: String,
        log_line: &Bound<'_, PyAny>,
        session_id: Option<String>,
    ) -> PyResult<Detection> {
        let mut record = line_arg(log_line)?;
        record.session_id = session_id;
        Ok(self.call(py, move |d| d.detect(&api_key, record))?.into())
    }

    /// Scores lines in order with one batched model step per round of sessions: faster per line than
    /// `detect`. `records` is a list of strings, of dicts with `log_line` and optional `session_id`, or
    /// of `(log_line, session_id)` tuples.
    fn detect_batch(
        &self,
        py: Python<'_>,
        api_key: String,
        records: &Bound<'_, PyAny>,
    ) -> PyResult<BatchDetection> {
        if records.is_instance_of::<PyString>() || records.is_instance_of::<PyBytes>() {
            return Err(PyTypeError::new_err(
                "records must be a list of lines, not a single string",
            ));
        }
        let mut recs = Vec::with_capacity(records.len().unwrap_or(0));
        for (i, item) in records.try_iter()?.enumerate() {
            recs.push(extract_record(i, &item?)?);
        }
        let batch = self.call(py, move |d| d.detect_batch(&api_key, &recs))?;
        BatchDetection::new(py, batch)
    }

    /// Closes one session now and returns its verdict (`None` when no such session is open).
    fn close_session(
        &self,
        py: Python<'_>,
        api_key: String,
        session_id: String,
    ) -> PyResult<Option<SessionVerdict>> {
        Ok(self
            .call(py, move |d| d.close_session(&api_key, &session_id))?
            .map(SessionVerdict::from))
    }

    /// Closes every open session of the project (the end of the input) and returns their verdicts.
    fn close_all_sessions(
        &self,
        py: Python<'_>,
        api_key: String,
    ) -> PyResult<Vec<Py<SessionVerdict>>> {
        let v = self.call(py, move |d| d.close_all_sessions(&api_key))?;
        verdicts_list(py, v)
    }

    /// Takes up to `max` queued session verdicts of the project, oldest first.
    #[pyo3(signature = (api_key, max=100))]
    fn poll_session_verdicts(
        &self,
        py: Python<'_>,
        api_key: String,
        max: usize,
    ) -> PyResult<Vec<Py<SessionVerdict>>> {
        let v = self.call(py, move |d| d.poll_session_verdicts(&api_key, max))?;
        verdicts_list(py, v)
    }

    /// An iterator over the project's queued session verdicts, oldest first, polling `batch` at a
    /// time; it stops when none is left (iterate again later for newer ones).
    #[pyo3(signature = (api_key, batch=100))]
    fn iter_session_verdicts(
        slf: Bound<'_, Self>,
        api_key: String,
        batch: usize,
    ) -> PyResult<SessionVerdictIterator> {
        slf.get().det(slf.py())?;
        Ok(SessionVerdictIterator {
            detector: slf.unbind(),
            api_key,
            batch: batch.max(1),
            buffer: Mutex::new(VecDeque::new()),
        })
    }

    /// Sets (or with `None` clears) a callable receiving every `SessionVerdict` of every project as it
    /// is produced, on the thread whose call produced it. Verdicts stay queued for
    /// `poll_session_verdicts` as well. Exceptions raised by the callback are reported through
    /// `sys.unraisablehook` and never reach the detector.
    #[pyo3(signature = (callback))]
    fn set_verdict_callback(
        &self,
        py: Python<'_>,
        callback: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let det = self.det(py)?;
        set_callback::<logsentinel::SessionVerdict, SessionVerdict>(&self.callback, callback, |f| {
            det.set_verdict_callback(f)
        })
    }

    /// Takes up to `max` of the project's newly raised incidents, oldest first, each as it was when
    /// raised (`incident(api_key, id)` gives its state now).
    #[pyo3(signature = (api_key, max=100))]
    fn poll_incidents(
        &self,
        py: Python<'_>,
        api_key: String,
        max: usize,
    ) -> PyResult<Vec<Incident>> {
        Ok(self
            .call(py, move |d| d.poll_incidents(&api_key, max))?
            .into_iter()
            .map(Incident::from)
            .collect())
    }

    /// The project's incidents, open ones first (each group newest first). `state` (`"open"` or
    /// `"resolved"`) keeps only those; any other string raises `InvalidInput`.
    #[pyo3(signature = (api_key, state=None))]
    fn incidents(
        &self,
        py: Python<'_>,
        api_key: String,
        state: Option<String>,
    ) -> PyResult<Vec<Incident>> {
        let state = state
            .map(|s| s.parse::<IncidentState>())
            .transpose()
            .py_err(py)?;
        Ok(self
            .call(py, move |d| d.incidents(&api_key, state))?
            .into_iter()
            .map(Incident::from)
            .collect())
    }

    /// One incident of the project, as it is now (`InvalidInput` when the project holds none with this
    /// id).
    fn incident(&self, py: Python<'_>, api_key: String, incident_id: u64) -> PyResult<Incident> {
        Ok(self
            .call(py, move |d| d.incident(&api_key, incident_id))?
            .into())
    }

    /// Sets (or with `None` clears) a callable receiving every `Incident` of every project as it is
    /// raised, on the thread whose call raised it. Incidents stay queued for `poll_incidents` as well.
    /// Exceptions raised by the callback are reported through `sys.unraisablehook` and never reach the
    /// detector.
    #[pyo3(signature = (callback))]
    fn set_incident_callback(
        &self,
        py: Python<'_>,
        callback: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let det = self.det(py)?;
        set_callback::<logsentinel::Incident, Incident>(&self.incident_callback, callback, |f| {
            det.set_incident_callback(f)
        })
    }

    /// Operator feedback: marks an incident (`incident_id`) or a key the scope matches (`key`: a
    /// result's pattern, a template, a rule name or a session id) `"normal"` (matching results stop
    /// alerting) or `"anomaly"` (they keep alerting). `scope` is `"pattern"`, `"template"`, `"rule"` or
    /// `"client"`; `duration_secs` limits it to a period (`None`: for good); `note` is kept with it. It
    /// applies from the project's next line, is stored before this returns and never leaves the
    /// project. Exactly one of `incident_id` and `key` must be given; that, an unknown label or scope,
    /// an incident the project does not hold or a duration that is not a positive number of seconds
    /// raises `InvalidInput`.
    #[pyo3(signature = (api_key, *, incident_id=None, key=None, label, scope="pattern", duration_secs=None, note=None))]
    #[allow(clippy::too_many_arguments)]
    fn feedback(
        &self,
        py: Python<'_>,
        api_key: String,
        incident_id: Option<u64>,
        key: Option<String>,
        label: &str,
        scope: &str,
        duration_secs: Option<f64>,
        note: Option<String>,
    ) -> PyResult<Feedback> {
        let target = match (incident_id, key) {
            (Some(id), None) => FeedbackTarget::Incident(id),
            (None, Some(key)) => FeedbackTarget::Key(key),
            (Some(_), Some(_)) | (None, None) => {
                return Err(to_py_err(
                    py,
                    logsentinel::Error::invalid_input(
                        "feedback needs exactly one of incident_id and key",
                    ),
                ))
            }
        };
        let new = NewFeedback {
            target,
            label: label.parse::<FeedbackLabel>().py_err(py)?,
            scope: scope.parse::<FeedbackScope>().py_err(py)?,
            duration_secs,
            note,
        };
        Ok(self.call(py, move |d| d.feedback(&api_key, new))?.into())
    }

    /// The project's feedback marks, oldest first.
    fn list_feedback(&self, py: Python<'_>, api_key: String) -> PyResult<Vec<Feedback>> {
        Ok(self
            .call(py, move |d| d.list_feedback(&api_key))?
            .into_iter()
            .map(Feedback::from)
            .collect())
    }

    /// Undoes a feedback mark (results it decided are judged as before from the next line) and
    /// returns it; an id the project does not hold raises `InvalidInput`.
    fn undo_feedback(
        &self,
        py: Python<'_>,
        api_key: String,
        feedback_id: u64,
    ) -> PyResult<Feedback> {
        Ok(self
            .call(py, move |d| d.undo_feedback(&api_key, feedback_id))?
            .into())
    }

    /// Drops every open session of the project without verdicts; returns how many were open.
    fn reset_sessions(&self, py: Python<'_>, api_key: String) -> PyResult<usize> {
        self.call(py, move |d| d.reset_sessions(&api_key))
    }

    /// The project's status.
    fn status(&self, py: Python<'_>, api_key: String) -> PyResult<ProjectStatus> {
        Ok(self.call(py, move |d| d.status(&api_key))?.into())
    }

    /// A project's status by id (admin).
    fn project_status(&self, py: Python<'_>, project_id: String) -> PyResult<ProjectStatus> {
        Ok(self
            .call(py, move |d| d.project_status(&project_id))?
            .into())
    }

    /// The project's current or last training job (`None` before its first training).
    fn training_job(&self, py: Python<'_>, api_key: String) -> PyResult<Option<JobHandle>> {
        Ok(self
            .call(py, move |d| d.training_job(&api_key))?
            .map(JobHandle::new))
    }

    /// Waits (without the GIL) until the project's training finishes; returns its final status, or
    /// `None` when no training was started. Raises `logsentinel.TimeoutError` after `timeout` seconds
    /// (`None`: no limit).
    #[pyo3(signature = (api_key, timeout=None))]
    fn wait_for_training(
        &self,
        py: Python<'_>,
        api_key: String,
        timeout: Option<f64>,
    ) -> PyResult<Option<JobStatus>> {
        let timeout = timeout_arg(timeout)?;
        let Some(job) = self.call(py, move |d| d.training_job(&api_key))? else {
            return Ok(None);
        };
        Ok(Some(wait_job(py, &job, timeout)?.into()))
    }

    /// Detector health.
    fn health(&self, py: Python<'_>) -> PyResult<Health> {
        Ok(self.call(py, |d| d.health())?.into())
    }

    /// The shared teacher's state.
    fn teacher_info(&self, py: Python<'_>) -> PyResult<TeacherInfo> {
        Ok(self.call(py, |d| d.teacher_info())?.into())
    }

    /// Starts a teacher update now (admin) and returns its job.
    fn force_teacher_update(&self, py: Python<'_>) -> PyResult<JobHandle> {
        Ok(JobHandle::new(self.call(py, |d| d.force_teacher_update())?))
    }

    /// The teacher update history, oldest first.
    fn update_history(&self, py: Python<'_>) -> PyResult<Vec<TeacherUpdate>> {
        Ok(self
            .call(py, |d| d.update_history())?
            .into_iter()
            .map(TeacherUpdate::from)
            .collect())
    }

    /// Persists every project's state now (also done by group commits and on close).
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        self.call(py, |d| d.flush())
    }

    /// Stops background work (a running training is redone at the next open), persists everything
    /// and closes the storage. Idempotent; later calls raise `DetectorClosed`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if std::process::id() != self.pid {
            return Err(wrong_process(py, "TenantDetector"));
        }
        let Some(det) = self.inner.write().take() else {
            return Ok(());
        };
        det.set_verdict_callback(None);
        det.set_incident_callback(None);
        let callback = self.callback.lock().take();
        drop(callback);
        let callback = self.incident_callback.lock().take();
        drop(callback);
        py.detach(move || {
            let r = det.close();
            drop(det);
            r
        })
        .py_err(py)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // Never block in the GC: a slot being changed right now is skipped this round.
        for slot in [&self.callback, &self.incident_callback] {
            if let Some(slot) = slot.try_lock() {
                if let Some(cb) = slot.as_ref() {
                    visit.call(cb)?;
                }
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        let old = self.callback.lock().take();
        drop(old);
        let old = self.incident_callback.lock().take();
        drop(old);
    }

    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().det(slf.py())?;
        Ok(slf)
    }

    #[pyo3(signature = (_exc_type=None, _exc=None, _tb=None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<Bound<'_, PyAny>>,
        _exc: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!(
            "TenantDetector(storage_dir={:?}{})",
            self.storage_dir,
            if self.closed() { ", closed" } else { "" }
        )
    }
}

impl Drop for TenantDetector {
    fn drop(&mut self) {
        let Some(det) = self.inner.get_mut().take() else {
            return;
        };
        if std::process::id() != self.pid {
            // A forked child: the parent's worker threads do not exist here, and the storage belongs to
            // the parent. Dropping would join threads that are gone and write the parent's database.
            std::mem::forget(det);
            return;
        }
        det.set_verdict_callback(None);
        det.set_incident_callback(None);
        // The last handle flushes and joins the training worker: not while holding the GIL.
        Python::attach(|py| py.detach(move || drop(det)));
    }
}

/// Iterator returned by `TenantDetector.iter_session_verdicts`.
#[pyclass(module = "logsentinel", name = "SessionVerdictIterator", frozen)]
pub struct SessionVerdictIterator {
    detector: Py<TenantDetector>,
    api_key: String,
    batch: usize,
    buffer: Mutex<VecDeque<logsentinel::SessionVerdict>>,
}

#[pymethods]
impl SessionVerdictIterator {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<SessionVerdict>> {
        if let Some(v) = self.buffer.lock().pop_front() {
            return Ok(Some(v.into()));
        }
        let key = self.api_key.clone();
        let batch = self.batch;
        let polled = self
            .detector
            .get()
            .call(py, move |d| d.poll_session_verdicts(&key, batch))?;
        let mut buf = self.buffer.lock();
        buf.extend(polled);
        Ok(buf.pop_front().map(SessionVerdict::from))
    }
}

/// Adds the detector classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TenantDetector>()?;
    m.add_class::<SessionVerdictIterator>()?;
    m.add_class::<JobHandle>()?;
    Ok(())
}
