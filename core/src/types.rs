//! Public request and result types. All serialize with serde, so every binding can pass them through as
//! JSON or convert them field by field.

use serde::{Deserialize, Serialize};

use crate::model::rules::CustomRule;
use crate::parse::LogFormat;
use crate::train::job::JobState;

/// One log line to score, with an optional session id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// The raw line (bytes that were not UTF-8 should have been decoded lossily by the caller; see
    /// [`LogRecord::from_bytes`]).
    pub log_line: String,
    /// Session id given by the host; when absent, the project's session pattern or its format's default
    /// key decides.
    #[serde(default)]
    pub session_id: Option<String>,
}

impl LogRecord {
    /// A line without an explicit session.
    pub fn new(line: impl Into<String>) -> Self {
        Self {
            log_line: line.into(),
            session_id: None,
        }
    }

    /// A line from raw bytes: invalid UTF-8 is replaced (U+FFFD), never refused.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self::new(String::from_utf8_lossy(bytes).into_owned())
    }

    /// Sets the session id.
    pub fn session(mut self, id: impl Into<String>) -> Self {
        self.session_id = Some(id.into());
        self
    }
}

/// What to create: [`crate::TenantDetector::create_project`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    /// Display name (1 to 200 characters).
    pub name: String,
    /// Logs of warmup before a student is trained; `None` takes the detector's default.
    #[serde(default)]
    pub warmup_threshold: Option<u64>,
    /// Header format of the project's lines.
    #[serde(default = "default_format")]
    pub format: LogFormat,
    /// Header format string of the project's lines, the logparser way
    /// (`<Date> <Time> <Level> <Component>: <Content>`); wins over `format` when set. `None` takes
    /// [`crate::Config::log_format`] when `format` is `auto`.
    #[serde(default)]
    pub log_format: Option<String>,
    /// Regex whose first match (or first capture group) in a line is its session id.
    #[serde(default)]
    pub session_pattern: Option<String>,
    /// Extra rules of this project.
    #[serde(default)]
    pub custom_rules: Vec<CustomRule>,
}

fn default_format() -> LogFormat {
    LogFormat::Auto
}

impl NewProject {
    /// A project with this name and defaults for everything else (format `auto`).
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            warmup_threshold: None,
            format: LogFormat::Auto,
            log_format: None,
            session_pattern: None,
            custom_rules: Vec::new(),
        }
    }

    /// Sets the warmup threshold.
    pub fn warmup_threshold(mut self, logs: u64) -> Self {
        self.warmup_threshold = Some(logs);
        self
    }

    /// Sets the header format.
    pub fn format(mut self, format: LogFormat) -> Self {
        self.format = format;
        self
    }

    /// Sets the header format string (see [`NewProject::log_format`]).
    pub fn log_format(mut self, format: impl Into<String>) -> Self {
        self.log_format = Some(format.into());
        self
    }

    /// Sets the session pattern.
    pub fn session_pattern(mut self, pattern: impl Into<String>) -> Self {
        self.session_pattern = Some(pattern.into());
        self
    }

    /// Adds a custom rule.
    pub fn rule(mut self, rule: CustomRule) -> Self {
        self.custom_rules.push(rule);
        self
    }
}

/// A created project, with its API key: the only time the key is shown. `Debug` leaves the key out
/// (a logged `{:?}` must not leak it); the field and serialization carry it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedProject {
    /// Project id.
    pub project_id: String,
    /// Display name.
    pub project_name: String,
    /// The API key. Store it now: only its hash is kept.
    pub api_key: String,
    /// Warmup threshold in logs.
    pub warmup_threshold: u64,
    /// Index name, `logs-{project_id}`.
    pub es_index_pattern: String,
}

impl std::fmt::Debug for CreatedProject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedProject")
            .field("project_id", &self.project_id)
            .field("project_name", &self.project_name)
            .field("api_key", &"sk-<redacted>")
            .field("warmup_threshold", &self.warmup_threshold)
            .field("es_index_pattern", &self.es_index_pattern)
            .finish()
    }
}

/// Which model scored a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelType {
    /// The shared teacher.
    Teacher,
    /// The project's own student.
    Student,
}

impl ModelType {
    /// `"teacher"` or `"student"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelType::Teacher => "teacher",
            ModelType::Student => "student",
        }
    }
}

/// Where a project is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Collecting data; the teacher scores.
    Warmup,
    /// The student is being trained; the teacher still scores.
    Training,
    /// The student scores.
    Active,
}

impl Phase {
    /// `"warmup"`, `"training"` or `"active"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Warmup => "warmup",
            Phase::Training => "training",
            Phase::Active => "active",
        }
    }
}

/// The score of each ensemble component, each calibrated to `[0, 1]` (0.5 = at its calibrated threshold).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Components {
    /// Surprise of this template given the session's history (or template novelty when no sequence model
    /// is trained yet).
    pub sequence: f32,
    /// Isolation forest on per-log and per-session features.
    pub isolation_forest: f32,
    /// Rules (severity, HTTP 5xx, web attacks, custom), discounted by how often they fire normally.
    pub rules: f32,
}

/// A template the model expected instead of the observed one (always from the project's own templates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectedTemplate {
    /// Local template id.
    pub template_id: u32,
    /// Template text.
    pub template: String,
    /// The model's probability for it.
    pub probability: f32,
}

/// The verdict on one log line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Whether the line is anomalous (`anomaly_score >= threshold`, unless operator feedback decided:
    /// see `feedback_id`).
    pub is_anomaly: bool,
    /// Ensemble score in `[0, 1]`.
    pub anomaly_score: f32,
    /// The decision threshold.
    pub threshold: f32,
    /// Which model scored the line.
    pub model_type: ModelType,
    /// The project's phase when the line was scored.
    pub phase: Phase,
    /// Project id.
    pub project_id: String,
    /// Project name.
    pub project_name: String,
    /// The session the line belongs to (`None` when it has none).
    pub session_id: Option<String>,
    /// Logs the project has seen, this one included.
    pub log_count: u64,
    /// Warmup progress in `[0, 1]`.
    pub warmup_progress: f32,
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
    /// The line's own time (Unix seconds) when its header has one, else arrival time.
    pub timestamp: f64,
    /// Probability the model gave the observed template (absent without a sequence model).
    pub template_probability: Option<f32>,
    /// Rank of the observed template among the model's predictions (1 = most expected).
    pub template_rank: Option<u32>,
    /// Templates the model expected instead.
    pub expected: Vec<ExpectedTemplate>,
    /// Names of the rules that matched.
    pub matched_rules: Vec<String>,
    /// Share of this session's lines with a template the model does not know.
    pub unknown_template_ratio: f32,
    /// Whether the line was cut to `max_line_bytes`.
    pub truncated: bool,
    /// Machine-readable kind of the first (most important) reason, to group verdicts by cause:
    /// `novel_template` (a template never seen, active phase), `new_template` (new after the
    /// project's templates had settled), `sequence` (unexpected in its session), `isolation_forest`,
    /// `rule:NAME` (the strongest rule), `attack_session` (a client that already matched a
    /// web-attack rule) or `truncated`; `None` when there is no reason.
    #[serde(default)]
    pub cause: Option<String>,
    /// The shared signal of the line: its cause and what the cause is about (`rule:attack:sqli`,
    /// `novel_template: <template>`, ...). Incidents group by it and feedback with the pattern scope
    /// matches on it; `None` when there is no cause.
    #[serde(default)]
    pub pattern: Option<String>,
    /// The incident the flagged line joined (see [`crate::TenantDetector::incidents`]): the stable
    /// reference feedback is given on. `None` for a line that was not flagged.
    #[serde(default)]
    pub incident_id: Option<u64>,
    /// The operator feedback that decided the verdict, if one matched (its reason comes first).
    #[serde(default)]
    pub feedback_id: Option<u64>,
}

/// Result of [`crate::TenantDetector::detect_batch`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchDetection {
    /// One result per input line, in order.
    pub results: Vec<Detection>,
    /// Lines scored.
    pub total_logs: usize,
    /// Lines flagged.
    pub anomalies_detected: usize,
    /// Project id.
    pub project_id: String,
}

/// Why a session closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// No line for longer than the idle timeout (log time).
    Expired,
    /// Closed by the host.
    Closed,
    /// Evicted to keep the project under its open-session cap.
    Evicted,
    /// Still open (inside its idle timeout) at the end of the input, closed by
    /// [`crate::TenantDetector::close_all_sessions`]: cut, not finished.
    EndOfInput,
}

/// The verdict on a whole session, given when it closes: it sees what never came (a lifecycle that
/// stopped half way), which no per-line score can.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionVerdict {
    /// Project id.
    pub project_id: String,
    /// Session id.
    pub session_id: String,
    /// Whether the session as a whole is anomalous.
    pub is_anomaly: bool,
    /// Score in `[0, 1]`.
    pub anomaly_score: f32,
    /// Decision threshold.
    pub threshold: f32,
    /// Model that judged it.
    pub model_type: ModelType,
    /// Project phase at close.
    pub phase: Phase,
    /// Why it closed.
    pub reason: CloseReason,
    /// Lines in the session.
    pub lines: u64,
    /// Lines of the session flagged individually.
    pub anomalous_lines: u64,
    /// Calibrated score of the session ending here (end-of-session surprise); 0 when the session holds
    /// exactly what many complete warmup sessions hold (then only its order is unusual).
    pub end_score: f32,
    /// Templates nearly every normal session has that this one lacks.
    pub missing_templates: Vec<String>,
    /// Why, most important first.
    pub reasons: Vec<String>,
    /// Log time of the session's last line.
    pub timestamp: f64,
    /// Whether the session was still open (inside its idle timeout) when the input ended: it was cut,
    /// not finished, so it is judged only on what it holds (rare or never-seen events; its lines have
    /// their own verdicts), never on how or where it ended.
    #[serde(default)]
    pub open_at_end_of_input: bool,
    /// Machine-readable kind of the first reason: `end_surprise` (ended where normal sessions do
    /// not), `rare_template`, `missing_template` or `broken_tie` (two counts that are equal in nearly
    /// every session differ); `None` when there is no reason.
    #[serde(default)]
    pub cause: Option<String>,
    /// The shared signal of the verdict: its cause and the event(s) behind it
    /// (`missing_template: <template>`, `rare_template: <template>`, ...); `None` without a cause.
    #[serde(default)]
    pub pattern: Option<String>,
    /// The incident the flagged verdict joined; `None` when not flagged.
    #[serde(default)]
    pub incident_id: Option<u64>,
    /// The operator feedback that decided the verdict, if one matched.
    #[serde(default)]
    pub feedback_id: Option<u64>,
}

/// Training state of a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingStatus {
    /// State of the latest training job (`None`: never trained).
    pub state: Option<JobState>,
    /// Progress of the running job in `[0, 1]`.
    pub progress: f32,
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
    /// Number of students trained so far.
    pub students_trained: u64,
}

/// A project's status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectStatus {
    /// Project id.
    pub project_id: String,
    /// Display name.
    pub project_name: String,
    /// Header format.
    pub format: LogFormat,
    /// Header format string, when the project was given one (it wins over `format`).
    #[serde(default)]
    pub log_format: Option<String>,
    /// Lines whose header did not match the format.
    #[serde(default)]
    pub header_unmatched: u64,
    /// Of those, lines whose message the header fallback still found (the others were mined whole).
    #[serde(default)]
    pub header_recovered: u64,
    /// Phase.
    pub phase: Phase,
    /// Logs seen.
    pub log_count: u64,
    /// Lines flagged.
    pub anomaly_count: u64,
    /// Warmup threshold.
    pub warmup_threshold: u64,
    /// Warmup progress in `[0, 1]`.
    pub warmup_progress: f32,
    /// Whether a student serves (or is stored and will serve).
    pub has_student_model: bool,
    /// Training state.
    pub training: TrainingStatus,
    /// Templates mined.
    pub template_count: usize,
    /// Sequences collected for training.
    pub training_sequences: usize,
    /// Open sessions.
    pub open_sessions: usize,
    /// Share of recent active-phase lines whose template the student does not know.
    pub drift: f32,
    /// Lines with an unknown template since the student took over.
    pub novel_logs: u64,
    /// A warning when the project's logs do not mine well.
    pub parsing_warning: Option<String>,
    /// Index name, `logs-{project_id}`.
    pub es_index_pattern: String,
    /// Creation time (Unix seconds).
    pub created_at: f64,
    /// Time of the last call for this project (Unix seconds).
    pub last_activity: f64,
}

/// Detector health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// `"healthy"`.
    pub status: String,
    /// Whether the teacher has a trained sequence model.
    pub teacher_loaded: bool,
    /// Projects.
    pub total_projects: usize,
    /// Students currently loaded in memory.
    pub active_student_models: usize,
    /// Bytes of the loaded students' models (counted against `student_memory_budget_bytes`).
    pub loaded_student_bytes: usize,
    /// Projects whose training samples are in memory; the others (idle past warmup, or not fed since
    /// the detector opened) hold only their record and templates.
    pub projects_with_samples_loaded: usize,
    /// Whether any training job runs.
    pub training_in_progress: bool,
}

/// The teacher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeacherInfo {
    /// Global vocabulary size (templates from all projects).
    pub vocabulary_size: usize,
    /// Templates the teacher's sequence model was trained with.
    pub model_vocabulary_size: usize,
    /// A sample of the global templates (at most 50).
    pub templates: Vec<String>,
    /// Whether the sequence model is trained.
    pub trained: bool,
    /// Parameters of the sequence model.
    pub parameters: usize,
    /// Calibrated thresholds (raw units) of its components.
    pub thresholds: std::collections::BTreeMap<String, f32>,
    /// Logs it has scored.
    pub logs_processed: u64,
    /// Whether an update runs now.
    pub update_in_progress: bool,
    /// Time of the last update (Unix seconds).
    pub last_update: Option<f64>,
    /// Time the next scheduled update is due.
    pub next_update: f64,
    /// Number of updates so far.
    pub version: u64,
}

/// One teacher update in the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeacherUpdate {
    /// Start time (Unix seconds).
    pub started_at: f64,
    /// Duration in seconds.
    pub duration_secs: f64,
    /// Training sequences used.
    pub samples_used: usize,
    /// Projects that contributed.
    pub projects: usize,
    /// Whether it succeeded.
    pub success: bool,
    /// The error, when it failed.
    pub error: Option<String>,
    /// What triggered it: `scheduled`, `forced`, `first-distillation` or `project-finetune`.
    pub trigger: String,
}

/// A project in the admin listing (no key, not even its hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectSummary {
    /// Project id.
    pub project_id: String,
    /// Display name.
    pub project_name: String,
    /// Phase.
    pub phase: Phase,
    /// Logs seen.
    pub log_count: u64,
    /// Warmup threshold.
    pub warmup_threshold: u64,
    /// Creation time.
    pub created_at: f64,
}
