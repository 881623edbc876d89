//! Result objects: plain JavaScript objects typed in `index.d.ts`, with the fields of the core's types in
//! camelCase. Enums are their lowercase names (`'warmup'`, `'student'`, `'end_of_input'`); absent values
//! are `null` (every field is always present, so objects keep one shape); `f32` values become the
//! `number` with the same short decimal form (`0.73`, not `0.7300000190734863`); counts are `number`s.
//!
//! Each type also serializes (serde, camelCase) to exactly the object it becomes in JavaScript, which
//! the batch path uses to build large results off the JavaScript thread (see
//! `crate::detector::DetectBatchTask`).

use std::collections::HashMap;

use napi_derive::napi;
use serde::Serialize;

/// An `f32` as the `f64` with the same short decimal form.
pub fn f32_js(x: f32) -> f64 {
    if !x.is_finite() {
        return f64::from(x);
    }
    x.to_string().parse().unwrap_or(f64::from(x))
}

/// The serde name of a unit enum variant (`"warmup"`, `"student"`, `"succeeded"`...).
pub fn enum_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// A count as a JavaScript number (exact below 2^53).
fn num<T: TryInto<u64>>(x: T) -> f64 {
    x.try_into().map(|v: u64| v as f64).unwrap_or(f64::MAX)
}

/// A created project. `apiKey` is shown only here: store it now.
#[napi(object, use_nullable = true)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedProject {
    /// Project id.
    pub project_id: String,
    /// Display name.
    pub project_name: String,
    /// The API key (`sk-...`); only its hash is stored.
    pub api_key: String,
    /// Warmup threshold in logs.
    pub warmup_threshold: f64,
    /// Index name, `logs-{projectId}`.
    pub es_index_pattern: String,
}

impl From<logsentinel::CreatedProject> for CreatedProject {
    fn from(p: logsentinel::CreatedProject) -> Self {
        Self {
            project_id: p.project_id,
            project_name: p.project_name,
            api_key: p.api_key,
            warmup_threshold: num(p.warmup_threshold),
            es_index_pattern: p.es_index_pattern,
        }
    }
}

/// The calibrated score of each ensemble component, in `[0, 1]` (0.5 = at its threshold).
#[napi(object, use_nullable = true)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Components {
    /// Surprise of the template given the session's history.
    pub sequence: f64,
    /// Isolation forest on per-log and per-session features.
    pub isolation_forest: f64,
    /// Rules (severity, HTTP 5xx, web attacks, custom).
    pub rules: f64,
}

impl From<logsentinel::Components> for Components {
    fn from(c: logsentinel::Components) -> Self {
        Self {
            sequence: f32_js(c.sequence),
            isolation_forest: f32_js(c.isolation_forest),
            rules: f32_js(c.rules),
        }
    }
}

/// A template the model expected instead of the observed one.
#[napi(object, use_nullable = true)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpectedTemplate {
    /// Local template id.
    pub template_id: u32,
    /// Template text.
    pub template: String,
    /// The model's probability for it.
    pub probability: f64,
}

impl From<logsentinel::ExpectedTemplate> for ExpectedTemplate {
    fn from(e: logsentinel::ExpectedTemplate) -> Self {
        Self {
            template_id: e.template_id,
            template: e.template,
            probability: f32_js(e.probability),
        }
    }
}

/// The verdict on one log line.
#[napi(object, use_nullable = true)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Detection {
    /// Whether the line is anomalous (`anomalyScore >= threshold`).
    pub is_anomaly: bool,
    /// Ensemble score in `[0, 1]`.
    pub anomaly_score: f64,
    /// The decision threshold.
    pub threshold: f64,
    /// Which model scored the line.
    #[napi(ts_type = "ModelType")]
    pub model_type: String,
    /// The project's phase when the line was scored.
    #[napi(ts_type = "Phase")]
    pub phase: String,
    /// Project id.
    pub project_id: String,
    /// Project name.
    pub project_name: String,
    /// The line's session (`null` when it has none).
    pub session_id: Option<String>,
    /// Logs the project has seen, this one included.
    pub log_count: f64,
    /// Warmup progress in `[0, 1]`.
    pub warmup_progress: f64,
    /// Local template id (0 = a template never seen, in match-only mode).
    pub template_id: u32,
    /// Template text (`<*>` for variables).
    pub template: String,
    /// Values of the template's variables in this line.
    pub parameters: Vec<String>,
    /// Component scores.
    pub components: Components,
    /// Why the line scored as it did, most important first.
    pub reasons: Vec<String>,
    /// The kind of the strongest reason (`novel_template`, `sequence`, `rule:NAME`...), `null` without one.
    pub cause: Option<String>,
    /// The line's own time (Unix seconds) when its header has one, else arrival time.
    pub timestamp: f64,
    /// Probability the model gave the observed template (`null` without a sequence model).
    pub template_probability: Option<f64>,
    /// Rank of the observed template among the model's predictions (1 = most expected).
    pub template_rank: Option<u32>,
    /// Templates the model expected instead (only ever the project's own templates).
    pub expected: Vec<ExpectedTemplate>,
    /// Names of the rules that matched (`severity:error`, `http:5xx`, `custom:NAME`...).
    pub matched_rules: Vec<String>,
    /// Share of the session's lines with a template the model does not know.
    pub unknown_template_ratio: f64,
    /// Whether the line was cut to `maxLineBytes`.
    pub truncated: bool,
    /// The shared signal: the cause and what it is about (incidents group by it), `null` without a cause.
    pub pattern: Option<String>,
    /// The incident the flagged line joined (what feedback is given on), `null` when not flagged.
    pub incident_id: Option<f64>,
    /// The operator feedback that decided the verdict, `null` when none did.
    pub feedback_id: Option<f64>,
}

impl From<logsentinel::Detection> for Detection {
    fn from(d: logsentinel::Detection) -> Self {
        Self {
            is_anomaly: d.is_anomaly,
            anomaly_score: f32_js(d.anomaly_score),
            threshold: f32_js(d.threshold),
            model_type: d.model_type.as_str().to_string(),
            phase: d.phase.as_str().to_string(),
            project_id: d.project_id,
            project_name: d.project_name,
            session_id: d.session_id,
            log_count: num(d.log_count),
            warmup_progress: f32_js(d.warmup_progress),
            template_id: d.template_id,
            template: d.template,
            parameters: d.parameters,
            components: d.components.into(),
            reasons: d.reasons,
            cause: d.cause,
            timestamp: d.timestamp,
            template_probability: d.template_probability.map(f32_js),
            template_rank: d.template_rank,
            expected: d.expected.into_iter().map(Into::into).collect(),
            matched_rules: d.matched_rules,
            unknown_template_ratio: f32_js(d.unknown_template_ratio),
            truncated: d.truncated,
            pattern: d.pattern,
            incident_id: d.incident_id.map(num),
            feedback_id: d.feedback_id.map(num),
        }
    }
}

/// The result of `detectBatch`: one `Detection` per input record, in order.
#[napi(object, use_nullable = true)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchDetection {
    /// One result per input record, in order.
    pub results: Vec<Detection>,
    /// Lines scored.
    pub total_logs: f64,
    /// Lines flagged.
    pub anomalies_detected: f64,
    /// Project id.
    pub project_id: String,
}

impl From<logsentinel::BatchDetection> for BatchDetection {
    fn from(b: logsentinel::BatchDetection) -> Self {
        Self {
            results: b.results.into_iter().map(Into::into).collect(),
            total_logs: num(b.total_logs),
            anomalies_detected: num(b.anomalies_detected),
            project_id: b.project_id,
        }
    }
}

/// The verdict on a whole session, given when it closes: it sees what never came (a lifecycle that
/// stopped half way), which no per-line score can.
#[napi(object, use_nullable = true)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionVerdict {
    /// Project id.
    pub project_id: String,
    /// Session id.
    pub session_id: String,
    /// Whether the session as a whole is anomalous.
    pub is_anomaly: bool,
    /// Score in `[0, 1]`.
    pub anomaly_score: f64,
    /// Decision threshold.
    pub threshold: f64,
    /// Model that judged it.
    #[napi(ts_type = "ModelType")]
    pub model_type: String,
    /// Project phase at close.
    #[napi(ts_type = "Phase")]
    pub phase: String,
    /// Why it closed: idle timeout (log time), `closeSession`, evicted by the open-session cap, or
    /// `closeAllSessions` (end of input).
    #[napi(ts_type = "CloseReason")]
    pub reason: String,
    /// Whether the session was still open at the end of the input: cut, judged only on what it holds.
    pub open_at_end_of_input: bool,
    /// Lines in the session.
    pub lines: f64,
    /// Lines of the session flagged individually.
    pub anomalous_lines: f64,
    /// Calibrated score of the session ending here (end-of-session surprise).
    pub end_score: f64,
    /// Templates nearly every normal session has that this one lacks.
    pub missing_templates: Vec<String>,
    /// Why, most important first.
    pub reasons: Vec<String>,
    /// The kind of the strongest reason (`rare_template`, `missing_template`...), `null` without one.
    pub cause: Option<String>,
    /// Log time of the session's last line (Unix seconds).
    pub timestamp: f64,
    /// The shared signal: the cause, the event(s) behind it and the session's shape, `null` without a cause.
    pub pattern: Option<String>,
    /// The incident the flagged verdict joined, `null` when not flagged.
    pub incident_id: Option<f64>,
    /// The operator feedback that decided the verdict, `null` when none did.
    pub feedback_id: Option<f64>,
}

impl From<logsentinel::SessionVerdict> for SessionVerdict {
    fn from(v: logsentinel::SessionVerdict) -> Self {
        Self {
            project_id: v.project_id,
            session_id: v.session_id,
            is_anomaly: v.is_anomaly,
            anomaly_score: f32_js(v.anomaly_score),
            threshold: f32_js(v.threshold),
            model_type: v.model_type.as_str().to_string(),
            phase: v.phase.as_str().to_string(),
            reason: enum_name(&v.reason),
            open_at_end_of_input: v.open_at_end_of_input,
            lines: num(v.lines),
            anomalous_lines: num(v.anomalous_lines),
            end_score: f32_js(v.end_score),
            missing_templates: v.missing_templates,
            reasons: v.reasons,
            cause: v.cause,
            timestamp: v.timestamp,
            pattern: v.pattern,
            incident_id: v.incident_id.map(num),
            feedback_id: v.feedback_id.map(num),
        }
    }
}

/// A name with how many of an incident's anomalies carry it.
#[napi(object, use_nullable = true)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counted {
    /// A template or rule name.
    pub name: String,
    /// Anomalies of the incident with it.
    pub count: f64,
}

impl From<logsentinel::Counted> for Counted {
    fn from(c: logsentinel::Counted) -> Self {
        Self {
            name: c.name,
            count: num(c.count),
        }
    }
}

/// One anomaly of an incident, as it was reported.
#[napi(object, use_nullable = true)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IncidentExample {
    /// Its session (`null` when it has none).
    pub session_id: Option<String>,
    /// Its log time (Unix seconds).
    pub timestamp: f64,
    /// The line's template, or the session's cause in words.
    pub template: String,
    /// The explanations it was given.
    pub reasons: Vec<String>,
    /// Whether it is a session verdict (else a line).
    pub session_verdict: bool,
}

impl From<logsentinel::IncidentExample> for IncidentExample {
    fn from(e: logsentinel::IncidentExample) -> Self {
        Self {
            session_id: e.session_id,
            timestamp: e.timestamp,
            template: e.template,
            reasons: e.reasons,
            session_verdict: e.session_verdict,
        }
    }
}

/// A group of a project's anomalies with a shared cause (`Detection.pattern`) and closeness in time.
/// Every flagged line and session verdict in it carries its `id` as `incidentId`.
#[napi(object, use_nullable = true)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    /// Id within the project (never reused).
    pub id: f64,
    /// Project id.
    pub project_id: String,
    /// The shared signal in words.
    pub title: String,
    /// The pattern that raised it (see `Detection.pattern`).
    pub pattern: String,
    /// `'open'` while its pattern recurs, `'resolved'` once quiet for longer than `incidentGapSecs`.
    #[napi(ts_type = "IncidentState")]
    pub state: String,
    /// Log time of its first anomaly (Unix seconds).
    pub first_seen: f64,
    /// Log time of its latest anomaly (Unix seconds).
    pub last_seen: f64,
    /// The project's line count at its latest anomaly.
    pub last_line: f64,
    /// Flagged lines in it.
    pub lines: f64,
    /// Distinct sessions in it (flagged lines' sessions and flagged session verdicts).
    pub sessions: f64,
    /// Flagged session verdicts in it.
    pub session_verdicts: f64,
    /// Most frequent templates, most first.
    pub top_templates: Vec<Counted>,
    /// Most frequent matched rules, most first.
    pub top_rules: Vec<Counted>,
    /// The first anomalies, as reported.
    pub examples: Vec<IncidentExample>,
    /// The first sessions.
    pub session_ids: Vec<String>,
    /// The label of the operator feedback given on it, `null` when none.
    #[napi(ts_type = "FeedbackLabel")]
    pub feedback: Option<String>,
}

impl From<logsentinel::Incident> for Incident {
    fn from(i: logsentinel::Incident) -> Self {
        Self {
            id: num(i.id),
            project_id: i.project_id,
            title: i.title,
            pattern: i.pattern,
            state: enum_name(&i.state),
            first_seen: i.first_seen,
            last_seen: i.last_seen,
            last_line: num(i.last_line),
            lines: num(i.lines),
            sessions: num(i.sessions),
            session_verdicts: num(i.session_verdicts),
            top_templates: i.top_templates.into_iter().map(Into::into).collect(),
            top_rules: i.top_rules.into_iter().map(Into::into).collect(),
            examples: i.examples.into_iter().map(Into::into).collect(),
            session_ids: i.session_ids,
            feedback: i.feedback.as_ref().map(enum_name),
        }
    }
}

/// A stored operator feedback mark: from its creation on, the project's results it matches are
/// judged by it (`normal`: they stop alerting; `anomaly`: they keep alerting), each saying so in
/// `feedbackId` and its first reason.
#[napi(object, use_nullable = true)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Feedback {
    /// Id within the project (never reused): what `undoFeedback` takes.
    pub id: f64,
    /// What the operator said.
    #[napi(ts_type = "FeedbackLabel")]
    pub label: String,
    /// What it applies to.
    #[napi(ts_type = "FeedbackScope")]
    pub scope: String,
    /// The pattern, template, rule or client (session id) it matches.
    pub key: String,
    /// The incident it was given on, `null` when given on a key.
    pub incident_id: Option<f64>,
    /// When it was given (Unix seconds).
    pub created_at: f64,
    /// When it stops applying (Unix seconds), `null`: never.
    pub expires_at: Option<f64>,
    /// Free text kept with it.
    pub note: Option<String>,
}

impl From<logsentinel::Feedback> for Feedback {
    fn from(f: logsentinel::Feedback) -> Self {
        Self {
            id: num(f.id),
            label: enum_name(&f.label),
            scope: enum_name(&f.scope),
            key: f.key,
            incident_id: f.incident_id.map(num),
            created_at: f.created_at,
            expires_at: f.expires_at,
            note: f.note,
        }
    }
}

/// Training state of a project.
#[napi(object, use_nullable = true)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrainingStatus {
    /// State of the latest training job (`null`: never trained).
    #[napi(ts_type = "JobState")]
    pub state: Option<String>,
    /// Progress of the running job in `[0, 1]`.
    pub progress: f64,
    /// Error of the last failed training.
    pub last_error: Option<String>,
    /// Why the project is still in warmup past its threshold, if it is.
    pub waiting_reason: Option<String>,
    /// Seconds the last successful training took (teacher fine-tune and distillation together).
    pub last_duration_secs: Option<f64>,
    /// Seconds of the teacher's fine-tune within it.
    pub last_teacher_finetune_secs: Option<f64>,
    /// Seconds of distillation within it.
    pub last_distill_secs: Option<f64>,
    /// Students trained so far.
    pub students_trained: f64,
}

impl From<logsentinel::TrainingStatus> for TrainingStatus {
    fn from(t: logsentinel::TrainingStatus) -> Self {
        Self {
            state: t.state.as_ref().map(enum_name),
            progress: f32_js(t.progress),
            last_error: t.last_error,
            waiting_reason: t.waiting_reason,
            last_duration_secs: t.last_duration_secs,
            last_teacher_finetune_secs: t.last_teacher_finetune_secs,
            last_distill_secs: t.last_distill_secs,
            students_trained: num(t.students_trained),
        }
    }
}

/// A project's status.
#[napi(object, use_nullable = true)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectStatus {
    /// Project id.
    pub project_id: String,
    /// Display name.
    pub project_name: String,
    /// Header format (`'auto'`, `'hdfs'`, `'combined'`, `'json'`...).
    #[napi(ts_type = "LogFormat")]
    pub format: String,
    /// Header format string, when the project was given one (it wins over `format`).
    pub log_format: Option<String>,
    /// Lines whose header did not match the format.
    pub header_unmatched: f64,
    /// Of those, lines whose message the header fallback still found.
    pub header_recovered: f64,
    /// Phase.
    #[napi(ts_type = "Phase")]
    pub phase: String,
    /// Logs seen.
    pub log_count: f64,
    /// Lines flagged.
    pub anomaly_count: f64,
    /// Warmup threshold.
    pub warmup_threshold: f64,
    /// Warmup progress in `[0, 1]`.
    pub warmup_progress: f64,
    /// Whether a student serves (or is stored and will serve).
    pub has_student_model: bool,
    /// Training state.
    pub training: TrainingStatus,
    /// Templates mined.
    pub template_count: f64,
    /// Sequences collected for training.
    pub training_sequences: f64,
    /// Open sessions.
    pub open_sessions: f64,
    /// Share of recent active-phase lines whose template the student does not know.
    pub drift: f64,
    /// Lines with an unknown template since the student took over.
    pub novel_logs: f64,
    /// A warning when the project's logs do not mine well.
    pub parsing_warning: Option<String>,
    /// Index name, `logs-{projectId}`.
    pub es_index_pattern: String,
    /// Creation time (Unix seconds).
    pub created_at: f64,
    /// Time of the last call for this project (Unix seconds).
    pub last_activity: f64,
}

impl From<logsentinel::ProjectStatus> for ProjectStatus {
    fn from(s: logsentinel::ProjectStatus) -> Self {
        Self {
            project_id: s.project_id,
            project_name: s.project_name,
            format: s.format.to_string(),
            log_format: s.log_format,
            header_unmatched: num(s.header_unmatched),
            header_recovered: num(s.header_recovered),
            phase: s.phase.as_str().to_string(),
            log_count: num(s.log_count),
            anomaly_count: num(s.anomaly_count),
            warmup_threshold: num(s.warmup_threshold),
            warmup_progress: f32_js(s.warmup_progress),
            has_student_model: s.has_student_model,
            training: s.training.into(),
            template_count: num(s.template_count),
            training_sequences: num(s.training_sequences),
            open_sessions: num(s.open_sessions),
            drift: f32_js(s.drift),
            novel_logs: num(s.novel_logs),
            parsing_warning: s.parsing_warning,
            es_index_pattern: s.es_index_pattern,
            created_at: s.created_at,
            last_activity: s.last_activity,
        }
    }
}

/// Detector health.
#[napi(object, use_nullable = true)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `'healthy'`.
    pub status: String,
    /// Whether the teacher has a trained sequence model.
    pub teacher_loaded: bool,
    /// Projects.
    pub total_projects: f64,
    /// Students currently loaded in memory.
    pub active_student_models: f64,
    /// Bytes of the loaded students' models (counted against `studentMemoryBudgetBytes`).
    pub loaded_student_bytes: f64,
    /// Projects whose training samples are in memory; the others (idle past warmup, or not fed since
    /// the detector opened) hold only their record and templates.
    pub projects_with_samples_loaded: f64,
    /// Whether any training job runs.
    pub training_in_progress: bool,
}

impl From<logsentinel::Health> for Health {
    fn from(h: logsentinel::Health) -> Self {
        Self {
            status: h.status,
            teacher_loaded: h.teacher_loaded,
            total_projects: num(h.total_projects),
            active_student_models: num(h.active_student_models),
            loaded_student_bytes: num(h.loaded_student_bytes),
            projects_with_samples_loaded: num(h.projects_with_samples_loaded),
            training_in_progress: h.training_in_progress,
        }
    }
}

/// The shared teacher.
#[napi(object, use_nullable = true)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TeacherInfo {
    /// Global vocabulary size (templates from all projects).
    pub vocabulary_size: f64,
    /// Templates the teacher's sequence model was trained with.
    pub model_vocabulary_size: f64,
    /// A sample of the global templates (at most 50).
    pub templates: Vec<String>,
    /// Whether the sequence model is trained.
    pub trained: bool,
    /// Parameters of the sequence model.
    pub parameters: f64,
    /// Calibrated thresholds (raw units) of its components, by name (`sequence_nll`,
    /// `isolation_forest`, `end_of_session_nll`).
    pub thresholds: HashMap<String, f64>,
    /// Logs it has scored.
    pub logs_processed: f64,
    /// Whether an update runs now.
    pub update_in_progress: bool,
    /// Time of the last update (Unix seconds).
    pub last_update: Option<f64>,
    /// Time the next scheduled update is due (Unix seconds).
    pub next_update: f64,
    /// Number of updates so far.
    pub version: f64,
}

impl From<logsentinel::TeacherInfo> for TeacherInfo {
    fn from(t: logsentinel::TeacherInfo) -> Self {
        Self {
            vocabulary_size: num(t.vocabulary_size),
            model_vocabulary_size: num(t.model_vocabulary_size),
            templates: t.templates,
            trained: t.trained,
            parameters: num(t.parameters),
            thresholds: t
                .thresholds
                .into_iter()
                .map(|(k, v)| (k, f32_js(v)))
                .collect(),
            logs_processed: num(t.logs_processed),
            update_in_progress: t.update_in_progress,
            last_update: t.last_update,
            next_update: t.next_update,
            version: num(t.version),
        }
    }
}

/// One teacher update in the history.
#[napi(object, use_nullable = true)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TeacherUpdate {
    /// Start time (Unix seconds).
    pub started_at: f64,
    /// Duration in seconds.
    pub duration_secs: f64,
    /// Training sequences used.
    pub samples_used: f64,
    /// Projects that contributed.
    pub projects: f64,
    /// Whether it succeeded.
    pub success: bool,
    /// The error, when it failed.
    pub error: Option<String>,
    /// What triggered it: `'scheduled'`, `'forced'`, `'first-distillation'` or `'project-finetune'`.
    pub trigger: String,
}

impl From<logsentinel::TeacherUpdate> for TeacherUpdate {
    fn from(u: logsentinel::TeacherUpdate) -> Self {
        Self {
            started_at: u.started_at,
            duration_secs: u.duration_secs,
            samples_used: num(u.samples_used),
            projects: num(u.projects),
            success: u.success,
            error: u.error,
            trigger: u.trigger,
        }
    }
}

/// A project in the admin listing (never a key).
#[napi(object, use_nullable = true)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSummary {
    /// Project id.
    pub project_id: String,
    /// Display name.
    pub project_name: String,
    /// Phase.
    #[napi(ts_type = "Phase")]
    pub phase: String,
    /// Logs seen.
    pub log_count: f64,
    /// Warmup threshold.
    pub warmup_threshold: f64,
    /// Creation time (Unix seconds).
    pub created_at: f64,
}

impl From<logsentinel::ProjectSummary> for ProjectSummary {
    fn from(p: logsentinel::ProjectSummary) -> Self {
        Self {
            project_id: p.project_id,
            project_name: p.project_name,
            phase: p.phase.as_str().to_string(),
            log_count: num(p.log_count),
            warmup_threshold: num(p.warmup_threshold),
            created_at: p.created_at,
        }
    }
}

/// A snapshot of a background job (student training, teacher update).
#[napi(object, use_nullable = true)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    /// What the job does, e.g. `train-student:PROJECT` or `teacher-update:forced`.
    pub name: String,
    /// Where it stands.
    #[napi(ts_type = "JobState")]
    pub state: String,
    /// Progress in `[0, 1]`.
    pub progress: f64,
    /// The error text when it failed.
    pub error: Option<String>,
    /// Whether the job will not change any more (succeeded, failed or cancelled).
    pub finished: bool,
}

impl From<logsentinel::JobStatus> for JobStatus {
    fn from(s: logsentinel::JobStatus) -> Self {
        Self {
            name: s.name,
            state: enum_name(&s.state),
            progress: f32_js(s.progress),
            error: s.error,
            finished: s.state.is_finished(),
        }
    }
}

/// Which model scored a line (`Detection.modelType`). In TypeScript a union of the string values.
#[napi(string_enum = "lowercase")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelType {
    /// The shared teacher.
    Teacher,
    /// The project's own student.
    Student,
}

/// Where a project is in its lifecycle.
#[napi(string_enum = "lowercase")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Collecting data; the teacher scores.
    Warmup,
    /// The student is being trained; the teacher still scores.
    Training,
    /// The student scores.
    Active,
}

/// Why a session closed.
#[napi(string_enum = "snake_case")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// No line for longer than the idle timeout (log time).
    Expired,
    /// Closed by `closeSession`.
    Closed,
    /// Evicted to keep the project under its open-session cap.
    Evicted,
    /// Closed by `closeAllSessions` (the end of the input).
    EndOfInput,
}

/// The states of a background job (`JobStatus.state`).
#[napi(string_enum = "snake_case")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// Running.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished with an error (see `JobStatus.error`).
    Failed,
    /// Cancelled before it finished.
    Cancelled,
}

/// Whether an incident still gathers anomalies (`Incident.state`, the filter of `incidents`).
#[napi(string_enum = "snake_case")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    /// Its pattern recurred recently.
    Open,
    /// Quiet for longer than the incident gap.
    Resolved,
}

/// What operator feedback says about its target.
#[napi(string_enum = "snake_case")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackLabel {
    /// Normal for this project: matching results stop alerting.
    Normal,
    /// A real anomaly: matching results keep alerting.
    Anomaly,
}

/// What a feedback mark applies to.
#[napi(string_enum = "snake_case")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackScope {
    /// Results with the same pattern (`Detection.pattern`, `SessionVerdict.pattern`). The default.
    Pattern,
    /// Lines with this template in any context, and sessions holding it as their rare or missing
    /// event.
    Template,
    /// Lines on which this rule matched.
    Rule,
    /// Everything of this client (session id).
    Client,
}

/// A header format of a project's lines (`'auto'` detects it line by line, `'raw'` takes the whole
/// line as the message).
#[napi(string_enum = "lowercase")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Detect the format line by line.
    Auto,
    /// No header: the whole line is the message.
    Raw,
    /// Hadoop HDFS.
    Hdfs,
    /// Blue Gene/L RAS.
    Bgl,
    /// Hadoop MapReduce.
    Hadoop,
    /// Spark.
    Spark,
    /// Zookeeper.
    Zookeeper,
    /// HPC cluster.
    Hpc,
    /// Thunderbird.
    Thunderbird,
    /// Windows CBS.
    Windows,
    /// Linux syslog as in Loghub.
    Linux,
    /// Android logcat.
    Android,
    /// HealthApp.
    Healthapp,
    /// Apache error log.
    Apache,
    /// Proxifier.
    Proxifier,
    /// OpenSSH.
    Openssh,
    /// OpenStack.
    Openstack,
    /// macOS syslog.
    Mac,
    /// Apache/Nginx combined access log.
    Combined,
    /// Common Log Format.
    Common,
    /// Syslog (RFC 3164 or RFC 5424).
    Syslog,
    /// One JSON object per line (`message`/`msg`, `level`, `time`... keys): pino, bunyan, winston JSON.
    Json,
}

impl LogFormat {
    /// Every variant (checked against the core's list in the tests).
    pub const ALL: &'static [LogFormat] = &[
        LogFormat::Auto,
        LogFormat::Raw,
        LogFormat::Hdfs,
        LogFormat::Bgl,
        LogFormat::Hadoop,
        LogFormat::Spark,
        LogFormat::Zookeeper,
        LogFormat::Hpc,
        LogFormat::Thunderbird,
        LogFormat::Windows,
        LogFormat::Linux,
        LogFormat::Android,
        LogFormat::Healthapp,
        LogFormat::Apache,
        LogFormat::Proxifier,
        LogFormat::Openssh,
        LogFormat::Openstack,
        LogFormat::Mac,
        LogFormat::Combined,
        LogFormat::Common,
        LogFormat::Syslog,
        LogFormat::Json,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The camelCase form of a snake_case key.
    fn camel(key: &str) -> String {
        crate::convert::snake_to_camel(key)
    }

    /// The keys of a value's JSON object.
    fn keys<T: Serialize>(value: &T) -> BTreeSet<String> {
        match serde_json::to_value(value) {
            Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
            other => panic!("not an object: {other:?}"),
        }
    }

    fn core_keys<T: Serialize>(value: &T) -> BTreeSet<String> {
        keys(value).iter().map(|k| camel(k)).collect()
    }

    #[test]
    fn f32_keeps_its_short_decimal_form() {
        assert_eq!(f32_js(0.73), 0.73);
        assert_eq!(f32_js(1.0), 1.0);
        assert!(f32_js(f32::NAN).is_nan());
    }

    /// Real values of every core result type, from a real (tiny) detector: no field list to keep in
    /// step with the core.
    struct Samples {
        created: logsentinel::CreatedProject,
        detection: logsentinel::Detection,
        batch: logsentinel::BatchDetection,
        verdict: logsentinel::SessionVerdict,
        status: logsentinel::ProjectStatus,
        health: logsentinel::Health,
        teacher: logsentinel::TeacherInfo,
        update: logsentinel::TeacherUpdate,
        summary: logsentinel::ProjectSummary,
        job: logsentinel::JobStatus,
        incident: logsentinel::Incident,
        feedback: logsentinel::Feedback,
    }

    fn samples() -> Samples {
        use logsentinel::{
            Config, CustomRule, FeedbackLabel, LogFormat, LogRecord, NewFeedback, NewProject,
            TenantDetector,
        };
        let dir = tempfile::tempdir().unwrap();
        let det = TenantDetector::open(Config::with_storage_dir(dir.path()).tiny_models()).unwrap();
        // A teacher update with no data fails at once and is recorded in the history.
        let job = det
            .force_teacher_update()
            .unwrap()
            .wait(Some(std::time::Duration::from_secs(120)))
            .unwrap();
        let created = det
            .create_project(NewProject::named("p").format(LogFormat::Hdfs))
            .unwrap();
        let line =
            "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block \
                    blk_38865049064139660 terminating";
        let detection = det.detect(&created.api_key, LogRecord::new(line)).unwrap();
        let batch = det
            .detect_batch(&created.api_key, &[LogRecord::new(line).session("s")])
            .unwrap();
        let verdict = det.close_all_sessions(&created.api_key).unwrap().remove(0);
        // A custom rule at full severity flags its line: an incident, and feedback on it.
        let rule = CustomRule {
            name: "boom".into(),
            pattern: "BOOM".into(),
            severity: 1.0,
        };
        let ruled = det
            .create_project(NewProject::named("r").rule(rule))
            .unwrap();
        let flagged = det
            .detect(
                &ruled.api_key,
                LogRecord::new("BOOM at the core").session("s"),
            )
            .unwrap();
        let incident_id = flagged.incident_id.expect("the rule flags the line");
        let feedback = det
            .feedback(
                &ruled.api_key,
                NewFeedback {
                    note: Some("known".into()),
                    ..NewFeedback::incident(incident_id, FeedbackLabel::Normal).for_secs(60.0)
                },
            )
            .unwrap();
        let incident = det.incident(&ruled.api_key, incident_id).unwrap();
        let out = Samples {
            detection,
            batch,
            verdict,
            status: det.status(&created.api_key).unwrap(),
            health: det.health().unwrap(),
            teacher: det.teacher_info().unwrap(),
            update: det.update_history().unwrap().remove(0),
            summary: det
                .list_projects()
                .unwrap()
                .into_iter()
                .find(|s| s.project_id == created.project_id)
                .unwrap(),
            job,
            incident,
            feedback,
            created,
        };
        det.close().unwrap();
        out
    }

    /// Every field of the core's result types is exposed (a field added to the core fails here until
    /// it is added to the Node type).
    #[test]
    fn every_core_field_is_exposed() {
        let s = samples();
        assert_eq!(
            keys(&CreatedProject::from(s.created.clone())),
            core_keys(&s.created)
        );
        let d = Detection::from(s.detection.clone());
        assert_eq!(keys(&d), core_keys(&s.detection));
        assert_eq!(
            keys(&Components::from(s.detection.components)),
            core_keys(&s.detection.components)
        );
        assert_eq!(
            keys(&BatchDetection::from(s.batch.clone())),
            core_keys(&s.batch)
        );
        let v = SessionVerdict::from(s.verdict.clone());
        assert_eq!(v.reason, "end_of_input");
        assert_eq!(keys(&v), core_keys(&s.verdict));
        let st = ProjectStatus::from(s.status.clone());
        assert_eq!(st.format, "hdfs");
        assert_eq!(keys(&st), core_keys(&s.status));
        assert_eq!(
            keys(&TrainingStatus::from(s.status.training.clone())),
            core_keys(&s.status.training)
        );
        assert_eq!(keys(&Health::from(s.health.clone())), core_keys(&s.health));
        assert_eq!(
            keys(&TeacherInfo::from(s.teacher.clone())),
            core_keys(&s.teacher)
        );
        assert_eq!(
            keys(&TeacherUpdate::from(s.update.clone())),
            core_keys(&s.update)
        );
        assert_eq!(
            keys(&ProjectSummary::from(s.summary.clone())),
            core_keys(&s.summary)
        );
        let j = JobStatus::from(s.job.clone());
        assert!(j.finished);
        let mut expected = core_keys(&s.job);
        expected.insert("finished".into());
        assert_eq!(keys(&j), expected);
        let i = Incident::from(s.incident.clone());
        assert_eq!(
            (i.state.as_str(), i.feedback.as_deref()),
            ("open", Some("normal"))
        );
        assert_eq!(keys(&i), core_keys(&s.incident));
        assert_eq!(
            keys(&Counted::from(s.incident.top_templates[0].clone())),
            core_keys(&s.incident.top_templates[0])
        );
        assert_eq!(
            keys(&IncidentExample::from(s.incident.examples[0].clone())),
            core_keys(&s.incident.examples[0])
        );
        let f = Feedback::from(s.feedback.clone());
        assert_eq!((f.label.as_str(), f.scope.as_str()), ("normal", "pattern"));
        assert_eq!(f.incident_id, Some(i.id));
        assert_eq!(keys(&f), core_keys(&s.feedback));
    }

    /// The TypeScript unions list exactly the core's names.
    #[test]
    fn string_enums_match_the_core() {
        let names = |v: Vec<String>| v.into_iter().collect::<BTreeSet<_>>();
        assert_eq!(
            names(LogFormat::ALL.iter().map(enum_name).collect()),
            names(
                logsentinel::LogFormat::ALL
                    .iter()
                    .map(|f| f.name().to_string())
                    .collect()
            )
        );
        use logsentinel as core;
        let pairs = [
            (enum_name(&Phase::Warmup), core::Phase::Warmup.as_str()),
            (enum_name(&Phase::Training), core::Phase::Training.as_str()),
            (enum_name(&Phase::Active), core::Phase::Active.as_str()),
            (
                enum_name(&ModelType::Teacher),
                core::ModelType::Teacher.as_str(),
            ),
            (
                enum_name(&ModelType::Student),
                core::ModelType::Student.as_str(),
            ),
        ];
        for (a, b) in pairs {
            assert_eq!(a, b);
        }
        let close = [
            (CloseReason::Expired, core::CloseReason::Expired),
            (CloseReason::Closed, core::CloseReason::Closed),
            (CloseReason::Evicted, core::CloseReason::Evicted),
            (CloseReason::EndOfInput, core::CloseReason::EndOfInput),
        ];
        for (a, b) in close {
            assert_eq!(enum_name(&a), enum_name(&b));
        }
        let jobs = [
            (JobState::Queued, core::JobState::Queued),
            (JobState::Running, core::JobState::Running),
            (JobState::Succeeded, core::JobState::Succeeded),
            (JobState::Failed, core::JobState::Failed),
            (JobState::Cancelled, core::JobState::Cancelled),
        ];
        for (a, b) in jobs {
            assert_eq!(enum_name(&a), enum_name(&b));
        }
        let states = [
            (IncidentState::Open, core::IncidentState::Open),
            (IncidentState::Resolved, core::IncidentState::Resolved),
        ];
        for (a, b) in states {
            assert_eq!(enum_name(&a), enum_name(&b));
            assert_eq!(enum_name(&a).parse::<core::IncidentState>().unwrap(), b);
        }
        let labels = [
            (FeedbackLabel::Normal, core::FeedbackLabel::Normal),
            (FeedbackLabel::Anomaly, core::FeedbackLabel::Anomaly),
        ];
        for (a, b) in labels {
            assert_eq!(enum_name(&a), enum_name(&b));
            assert_eq!(enum_name(&a).parse::<core::FeedbackLabel>().unwrap(), b);
        }
        let scopes = [
            (FeedbackScope::Pattern, core::FeedbackScope::Pattern),
            (FeedbackScope::Template, core::FeedbackScope::Template),
            (FeedbackScope::Rule, core::FeedbackScope::Rule),
            (FeedbackScope::Client, core::FeedbackScope::Client),
        ];
        for (a, b) in scopes {
            assert_eq!(enum_name(&a), enum_name(&b));
            assert_eq!(enum_name(&a).parse::<core::FeedbackScope>().unwrap(), b);
        }
    }

    #[test]
    fn absent_values_serialize_as_null() {
        let v = ExpectedTemplate::from(logsentinel::ExpectedTemplate {
            template_id: 1,
            template: "t".into(),
            probability: 0.73,
        });
        assert_eq!(serde_json::to_value(v).unwrap()["probability"], 0.73);
        let t = TrainingStatus {
            state: None,
            progress: 0.0,
            last_error: None,
            waiting_reason: None,
            last_duration_secs: None,
            last_teacher_finetune_secs: None,
            last_distill_secs: None,
            students_trained: 0.0,
        };
        let json = serde_json::to_value(t).unwrap();
        assert!(json["state"].is_null() && json["lastError"].is_null());
    }
}
