//! Result objects: each wraps the core's serde type, exposes its fields as read-only attributes
//! (enums as their lowercase names, `f32` values as the nearest short decimal) and `to_dict()` (the same
//! JSON shape as the HTTP API and the CLI's JSONL).

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3::IntoPyObjectExt;

use crate::convert::{enum_name, json_to_py};

/// An `f32` as the `float` with the same short decimal form (`0.73`, not `0.7300000190734863`).
pub(crate) fn f32_py(x: f32) -> f64 {
    if !x.is_finite() {
        return f64::from(x);
    }
    x.to_string().parse().unwrap_or(f64::from(x))
}

/// `to_dict()` of a core value: serialized as JSON text (so `f32` keep their short form) and converted.
pub(crate) fn record_dict<'py, T: serde::Serialize>(
    py: Python<'py>,
    value: &T,
) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value).map_err(|e| {
        pyo3::exceptions::PyValueError::new_err(format!("cannot serialize result: {e}"))
    })?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        pyo3::exceptions::PyValueError::new_err(format!("cannot serialize result: {e}"))
    })?;
    json_to_py(py, &json)
}

macro_rules! field_value {
    ($py:ident, $v:expr, val) => {
        $v.clone().into_bound_py_any($py)
    };
    ($py:ident, $v:expr, f32) => {
        f32_py($v).into_bound_py_any($py)
    };
    ($py:ident, $v:expr, opt_f32) => {
        $v.map(f32_py).into_bound_py_any($py)
    };
    ($py:ident, $v:expr, f32_map) => {{
        let d = PyDict::new($py);
        for (k, v) in $v.iter() {
            d.set_item(k, f32_py(*v))?;
        }
        Ok::<_, PyErr>(d.into_any())
    }};
    ($py:ident, $v:expr, name) => {
        enum_name(&$v).into_bound_py_any($py)
    };
    ($py:ident, $v:expr, opt_name) => {
        $v.as_ref().map(enum_name).into_bound_py_any($py)
    };
    ($py:ident, $v:expr, obj($t:ident)) => {
        Bound::new($py, $t::from($v.clone())).map(Bound::into_any)
    };
    ($py:ident, $v:expr, objs($t:ident)) => {{
        let items = $v
            .iter()
            .map(|x| Py::new($py, $t::from(x.clone())))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new($py, items).map(Bound::into_any)
    }};
}

macro_rules! record {
    (
        $(#[$meta:meta])*
        $py_ty:ident($core:ty) as $name:literal {
            $( $(#[$fmeta:meta])* $field:ident : $kind:ident $(($arg:ident))? ),* $(,)?
        }
        $( extra { $($extra:tt)* } )?
    ) => {
        $(#[$meta])*
        #[pyclass(module = "logsentinel", name = $name, frozen)]
        pub struct $py_ty {
            /// The core value.
            pub(crate) inner: $core,
        }

        impl From<$core> for $py_ty {
            fn from(inner: $core) -> Self {
                Self { inner }
            }
        }

        #[pymethods]
        impl $py_ty {
            $(
                $(#[$fmeta])*
                #[getter]
                fn $field<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                    field_value!(py, self.inner.$field, $kind $(($arg))?)
                }
            )*

            /// The fields as a plain `dict` (nested objects as dicts, enums as strings): the same JSON
            /// shape as the HTTP API.
            fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                record_dict(py, &self.inner)
            }

            fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
                let d = record_dict(py, &self.inner)?;
                let mut parts = Vec::new();
                for name in [$(stringify!($field)),*] {
                    if let Ok(v) = d.get_item(name) {
                        parts.push(format!("{name}={}", v.repr()?));
                    }
                }
                Ok(format!("{}({})", $name, parts.join(", ")))
            }

            fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
                other
                    .cast::<$py_ty>()
                    .map(|o| o.get().inner == self.inner)
                    .unwrap_or(false)
            }

            $($($extra)*)?
        }
    };
}

record! {
    /// A created project. `api_key` is shown only here: store it now.
    CreatedProject(logsentinel::CreatedProject) as "CreatedProject" {
        /// Project id.
        project_id: val,
        /// Display name.
        project_name: val,
        /// The API key (`sk-...`); only its hash is stored.
        api_key: val,
        /// Warmup threshold in logs.
        warmup_threshold: val,
        /// Index name, `logs-{project_id}`.
        es_index_pattern: val,
    }
}

record! {
    /// The calibrated score of each ensemble component, in `[0, 1]` (0.5 = at its threshold).
    Components(logsentinel::Components) as "Components" {
        /// Surprise of the template given the session's history.
        sequence: f32,
        /// Isolation forest on per-log and per-session features.
        isolation_forest: f32,
        /// Rules (severity, HTTP 5xx, web attacks, custom).
        rules: f32,
    }
}

record! {
    /// A template the model expected instead of the observed one.
    ExpectedTemplate(logsentinel::ExpectedTemplate) as "ExpectedTemplate" {
        /// Local template id.
        template_id: val,
        /// Template text.
        template: val,
        /// The model's probability for it.
        probability: f32,
    }
}

record! {
    /// The verdict on one log line.
    Detection(logsentinel::Detection) as "Detection" {
        /// Whether the line is anomalous (`anomaly_score >= threshold`).
        is_anomaly: val,
        /// Ensemble score in `[0, 1]`.
        anomaly_score: f32,
        /// The decision threshold.
        threshold: f32,
        /// `"teacher"` or `"student"`.
        model_type: name,
        /// `"warmup"`, `"training"` or `"active"`.
        phase: name,
        /// Project id.
        project_id: val,
        /// Project name.
        project_name: val,
        /// The line's session (`None` when it has none).
        session_id: val,
        /// Logs the project has seen, this one included.
        log_count: val,
        /// Warmup progress in `[0, 1]`.
        warmup_progress: f32,
        /// Local template id (0 = unknown template in match-only mode).
        template_id: val,
        /// Template text (`<*>` for variables).
        template: val,
        /// Values of the template's variables.
        parameters: val,
        /// Component scores.
        components: obj(Components),
        /// Why the line scored as it did, most important first.
        reasons: val,
        /// The kind of the strongest reason (`novel_template`, `sequence`, `rule:NAME`...).
        cause: val,
        /// The line's own time (Unix seconds) when its header has one, else arrival time.
        timestamp: val,
        /// Probability the model gave the observed template.
        template_probability: opt_f32,
        /// Rank of the observed template among the model's predictions (1 = most expected).
        template_rank: val,
        /// Templates the model expected instead.
        expected: objs(ExpectedTemplate),
        /// Names of the rules that matched.
        matched_rules: val,
        /// Share of the session's lines with a template the model does not know.
        unknown_template_ratio: f32,
        /// Whether the line was cut to `max_line_bytes`.
        truncated: val,
        /// The line's shared signal: its cause and what the cause is about (`rule:attack:sqli`,
        /// `novel_template: <template>`...); incidents group by it. `None` without a cause.
        pattern: val,
        /// The incident the flagged line joined (`None` when not flagged).
        incident_id: val,
        /// The operator feedback mark that decided the verdict, if one matched.
        feedback_id: val,
    }
}

record! {
    /// The verdict on a whole session, given when it closes.
    SessionVerdict(logsentinel::SessionVerdict) as "SessionVerdict" {
        /// Project id.
        project_id: val,
        /// Session id.
        session_id: val,
        /// Whether the session as a whole is anomalous.
        is_anomaly: val,
        /// Score in `[0, 1]`.
        anomaly_score: f32,
        /// Decision threshold.
        threshold: f32,
        /// `"teacher"` or `"student"`.
        model_type: name,
        /// Project phase at close.
        phase: name,
        /// Why it closed: `"expired"`, `"closed"`, `"evicted"` or `"end_of_input"`.
        reason: name,
        /// Whether the session was still open at the end of the input (cut, judged on what it holds).
        open_at_end_of_input: val,
        /// Lines in the session.
        lines: val,
        /// Lines of the session flagged individually.
        anomalous_lines: val,
        /// Calibrated score of the session ending here.
        end_score: f32,
        /// Templates nearly every normal session has that this one lacks.
        missing_templates: val,
        /// Why, most important first.
        reasons: val,
        /// The kind of the strongest reason (`rare_template`, `missing_template`...).
        cause: val,
        /// Log time of the session's last line.
        timestamp: val,
        /// The verdict's shared signal: its cause and the event(s) behind it; incidents group by it.
        /// `None` without a cause.
        pattern: val,
        /// The incident the flagged verdict joined (`None` when not flagged).
        incident_id: val,
        /// The operator feedback mark that decided the verdict, if one matched.
        feedback_id: val,
    }
}

record! {
    /// A template or rule name with how many of an incident's anomalies carry it.
    Counted(logsentinel::Counted) as "Counted" {
        /// The template or rule name.
        name: val,
        /// Anomalies of the incident with it.
        count: val,
    }
}

record! {
    /// One anomaly of an incident, as it was reported.
    IncidentExample(logsentinel::IncidentExample) as "IncidentExample" {
        /// Its session (`None` when it has none).
        session_id: val,
        /// Its log time (Unix seconds).
        timestamp: val,
        /// The line's template, or the session's cause in words.
        template: val,
        /// The explanations it was given.
        reasons: val,
        /// Whether it is a session verdict (else a line).
        session_verdict: val,
    }
}

record! {
    /// A group of a project's anomalies with a shared cause: what an operator reads and gives
    /// feedback on.
    Incident(logsentinel::Incident) as "Incident" {
        /// Id within the project (never reused); every result in it carries it as `incident_id`.
        id: val,
        /// Project id.
        project_id: val,
        /// The shared signal in words.
        title: val,
        /// The pattern that raised it (see `Detection.pattern`).
        pattern: val,
        /// `"open"` or `"resolved"`.
        state: name,
        /// Log time of its first anomaly (Unix seconds).
        first_seen: val,
        /// Log time of its latest anomaly (Unix seconds).
        last_seen: val,
        /// The project's line count at its latest anomaly.
        last_line: val,
        /// Flagged lines in it.
        lines: val,
        /// Distinct sessions in it.
        sessions: val,
        /// Flagged session verdicts in it.
        session_verdicts: val,
        /// Most frequent templates, most first.
        top_templates: objs(Counted),
        /// Most frequent matched rules, most first.
        top_rules: objs(Counted),
        /// The first anomalies, as reported.
        examples: objs(IncidentExample),
        /// The first sessions.
        session_ids: val,
        /// The label of the operator feedback given on it (`"normal"`, `"anomaly"` or `None`).
        feedback: opt_name,
    }
}

record! {
    /// A stored operator feedback mark.
    Feedback(logsentinel::Feedback) as "Feedback" {
        /// Id within the project (never reused).
        id: val,
        /// `"normal"` or `"anomaly"`.
        label: name,
        /// `"pattern"`, `"template"`, `"rule"` or `"client"`.
        scope: name,
        /// The pattern, template, rule or client it matches.
        key: val,
        /// The incident it was given on, if any.
        incident_id: val,
        /// When it was given (Unix seconds).
        created_at: val,
        /// When it stops applying (`None`: never).
        expires_at: val,
        /// Free text kept with it.
        note: val,
    }
}

record! {
    /// Training state of a project.
    TrainingStatus(logsentinel::TrainingStatus) as "TrainingStatus" {
        /// State of the latest training job (`None`: never trained).
        state: opt_name,
        /// Progress of the running job in `[0, 1]`.
        progress: f32,
        /// Error of the last failed training.
        last_error: val,
        /// Why the project is still in warmup past its threshold, if it is.
        waiting_reason: val,
        /// Seconds the last successful training took.
        last_duration_secs: val,
        /// Seconds of the teacher's fine-tune within it.
        last_teacher_finetune_secs: val,
        /// Seconds of distillation within it.
        last_distill_secs: val,
        /// Students trained so far.
        students_trained: val,
    }
}

record! {
    /// A project's status.
    ProjectStatus(logsentinel::ProjectStatus) as "ProjectStatus" {
        /// Project id.
        project_id: val,
        /// Display name.
        project_name: val,
        /// Header format (`"auto"`, `"hdfs"`...).
        format: name,
        /// Header format string, when the project was given one (it wins over `format`).
        log_format: val,
        /// Lines whose header did not match the format.
        header_unmatched: val,
        /// Of those, lines whose message the header fallback still found.
        header_recovered: val,
        /// `"warmup"`, `"training"` or `"active"`.
        phase: name,
        /// Logs seen.
        log_count: val,
        /// Lines flagged.
        anomaly_count: val,
        /// Warmup threshold.
        warmup_threshold: val,
        /// Warmup progress in `[0, 1]`.
        warmup_progress: f32,
        /// Whether a student serves.
        has_student_model: val,
        /// Training state.
        training: obj(TrainingStatus),
        /// Templates mined.
        template_count: val,
        /// Sequences collected for training.
        training_sequences: val,
        /// Open sessions.
        open_sessions: val,
        /// Share of recent active-phase lines whose template the student does not know.
        drift: f32,
        /// Lines with an unknown template since the student took over.
        novel_logs: val,
        /// A warning when the project's logs do not mine well.
        parsing_warning: val,
        /// Index name, `logs-{project_id}`.
        es_index_pattern: val,
        /// Creation time (Unix seconds).
        created_at: val,
        /// Time of the last call for this project (Unix seconds).
        last_activity: val,
    }
}

record! {
    /// Detector health.
    Health(logsentinel::Health) as "Health" {
        /// `"healthy"`.
        status: val,
        /// Whether the teacher has a trained sequence model.
        teacher_loaded: val,
        /// Projects.
        total_projects: val,
        /// Students loaded in memory.
        active_student_models: val,
        /// Bytes of the loaded students' models.
        loaded_student_bytes: val,
        /// Projects whose training samples are in memory.
        projects_with_samples_loaded: val,
        /// Whether any training job runs.
        training_in_progress: val,
    }
}

record! {
    /// The shared teacher.
    TeacherInfo(logsentinel::TeacherInfo) as "TeacherInfo" {
        /// Global vocabulary size (templates from all projects).
        vocabulary_size: val,
        /// Templates the teacher's sequence model was trained with.
        model_vocabulary_size: val,
        /// A sample of the global templates (at most 50).
        templates: val,
        /// Whether the sequence model is trained.
        trained: val,
        /// Parameters of the sequence model.
        parameters: val,
        /// Calibrated thresholds (raw units) of its components.
        thresholds: f32_map,
        /// Logs it has scored.
        logs_processed: val,
        /// Whether an update runs now.
        update_in_progress: val,
        /// Time of the last update (Unix seconds).
        last_update: val,
        /// Time the next scheduled update is due.
        next_update: val,
        /// Number of updates so far.
        version: val,
    }
}

record! {
    /// One teacher update in the history.
    TeacherUpdate(logsentinel::TeacherUpdate) as "TeacherUpdate" {
        /// Start time (Unix seconds).
        started_at: val,
        /// Duration in seconds.
        duration_secs: val,
        /// Training sequences used.
        samples_used: val,
        /// Projects that contributed.
        projects: val,
        /// Whether it succeeded.
        success: val,
        /// The error, when it failed.
        error: val,
        /// What triggered it: `scheduled`, `forced`, `first-distillation` or `project-finetune`.
        trigger: val,
    }
}

record! {
    /// A project in the admin listing (never a key).
    ProjectSummary(logsentinel::ProjectSummary) as "ProjectSummary" {
        /// Project id.
        project_id: val,
        /// Display name.
        project_name: val,
        /// `"warmup"`, `"training"` or `"active"`.
        phase: name,
        /// Logs seen.
        log_count: val,
        /// Warmup threshold.
        warmup_threshold: val,
        /// Creation time.
        created_at: val,
    }
}

record! {
    /// A snapshot of a background job.
    JobStatus(logsentinel::JobStatus) as "JobStatus" {
        /// What the job does, e.g. `train-student:PROJECT`.
        name: val,
        /// `"queued"`, `"running"`, `"succeeded"`, `"failed"` or `"cancelled"`.
        state: name,
        /// Progress in `[0, 1]`.
        progress: f32,
        /// The error text when it failed.
        error: val,
    }
    extra {
        /// Whether the job will not change any more (succeeded, failed or cancelled).
        #[getter]
        fn finished(&self) -> bool {
            self.inner.state.is_finished()
        }
    }
}

/// The result of `detect_batch`: one `Detection` per input line, in order. Iterable and indexable
/// like its `results` list.
#[pyclass(module = "logsentinel", name = "BatchDetection", frozen)]
pub struct BatchDetection {
    results: Py<PyList>,
    total_logs: usize,
    anomalies_detected: usize,
    project_id: String,
}

impl BatchDetection {
    /// Wraps a core batch result (one Python `Detection` per line, built once).
    pub(crate) fn new(py: Python<'_>, batch: logsentinel::BatchDetection) -> PyResult<Self> {
        let items = batch
            .results
            .into_iter()
            .map(|d| Py::new(py, Detection::from(d)))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(Self {
            results: PyList::new(py, items)?.unbind(),
            total_logs: batch.total_logs,
            anomalies_detected: batch.anomalies_detected,
            project_id: batch.project_id,
        })
    }
}

#[pymethods]
impl BatchDetection {
    /// One result per input line, in order.
    #[getter]
    fn results(&self, py: Python<'_>) -> Py<PyList> {
        self.results.clone_ref(py)
    }

    /// Lines scored.
    #[getter]
    fn total_logs(&self) -> usize {
        self.total_logs
    }

    /// Lines flagged.
    #[getter]
    fn anomalies_detected(&self) -> usize {
        self.anomalies_detected
    }

    /// Project id.
    #[getter]
    fn project_id(&self) -> &str {
        &self.project_id
    }

    /// The results flagged as anomalies.
    #[getter]
    fn anomalies<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for item in self.results.bind(py).iter() {
            if item.cast::<Detection>()?.get().inner.is_anomaly {
                out.append(item)?;
            }
        }
        Ok(out)
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.results.bind(py).len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.results.bind(py).try_iter()?.into_any())
    }

    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        index: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.results.bind(py).as_any().get_item(index)
    }

    /// `{"results": [...], "total_logs", "anomalies_detected", "project_id"}` as plain Python values.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let results = PyList::empty(py);
        for item in self.results.bind(py).iter() {
            results.append(record_dict(py, &item.cast::<Detection>()?.get().inner)?)?;
        }
        let d = PyDict::new(py);
        d.set_item("results", results)?;
        d.set_item("total_logs", self.total_logs)?;
        d.set_item("anomalies_detected", self.anomalies_detected)?;
        d.set_item("project_id", &self.project_id)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "BatchDetection(total_logs={}, anomalies_detected={}, project_id={:?})",
            self.total_logs, self.anomalies_detected, self.project_id
        )
    }
}

/// Adds every result class to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<CreatedProject>()?;
    m.add_class::<Components>()?;
    m.add_class::<ExpectedTemplate>()?;
    m.add_class::<Detection>()?;
    m.add_class::<BatchDetection>()?;
    m.add_class::<SessionVerdict>()?;
    m.add_class::<Counted>()?;
    m.add_class::<IncidentExample>()?;
    m.add_class::<Incident>()?;
    m.add_class::<Feedback>()?;
    m.add_class::<TrainingStatus>()?;
    m.add_class::<ProjectStatus>()?;
    m.add_class::<Health>()?;
    m.add_class::<TeacherInfo>()?;
    m.add_class::<TeacherUpdate>()?;
    m.add_class::<ProjectSummary>()?;
    m.add_class::<JobStatus>()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::f32_py;

    #[test]
    fn f32_keeps_its_short_decimal_form() {
        assert_eq!(f32_py(0.73), 0.73);
        assert_eq!(f32_py(1.0), 1.0);
        assert!(f32_py(f32::NAN).is_nan());
    }
}
