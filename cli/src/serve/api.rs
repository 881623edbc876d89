//! Request and response bodies of the HTTP API, with their OpenAPI schemas.
//!
//! Responses mirror the core's serde types field for field (same names, same enum spellings): each is
//! built from its core type by an exhaustive destructuring, so a field added to the core fails to
//! compile here until the HTTP API (and so `/openapi.json`) carries it too, and a unit test checks that
//! both serialize to the same JSON. Requests refuse unknown fields.

use std::collections::BTreeMap;

use logsentinel as core;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

// ---------------------------------------------------------------------------------------------------
// Requests

/// `POST /projects/{project_id}/fork`: a copy of a project's learned state under a new name.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForkProjectRequest {
    /// Display name of the new project, 1 to 200 printable characters (not only spaces).
    #[schema(
        example = "My Web App (staging)",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub project_name: String,
}

/// `POST /projects`: a new project (tenant).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProjectRequest {
    /// Display name, 1 to 200 printable characters (not only spaces).
    #[schema(
        example = "My Web App",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub project_name: String,
    /// Logs of warmup before the project's student is trained (100 to 1,000,000,000); default
    /// `WARMUP_THRESHOLD` (10,000).
    #[serde(default, deserialize_with = "integer::opt_u64")]
    #[schema(example = 10000, minimum = 100, maximum = 1_000_000_000)]
    pub warmup_threshold: Option<u64>,
    /// Header format of the project's lines (case-insensitive); default `auto`.
    #[serde(default)]
    #[schema(value_type = Option<LogFormat>)]
    pub format: Option<String>,
    /// Header format string, the logparser way (`<Date> <Time> <Level> <Component>: <Content>`:
    /// `<Name>` fields, a run of spaces matches any whitespace, `<Content>` is the message); wins over
    /// `format`. A bad string is refused with 400 `INVALID_INPUT` naming the problem.
    #[serde(default)]
    /// The schema's pattern is the plain form (fields and literal text, no escapes or optional
    /// groups); the server also takes the full logparser form.
    #[schema(
        example = "<Date> <Time> <Level> <Component>: <Content>",
        min_length = 1,
        pattern = r"^[^<>()\[\]\\{}*+?|^$.]*(<[A-Za-z_][A-Za-z0-9_]*>[^<>()\[\]\\{}*+?|^$.]*)*<Content>[^<>()\[\]\\{}*+?|^$.]*$"
    )]
    pub log_format: Option<String>,
    /// Regex (Rust `regex` syntax) whose first match (or first capture group) in a line is its
    /// session id.
    #[serde(default)]
    #[schema(example = "(blk_-?\\d+)", min_length = 1, format = "regex")]
    pub session_pattern: Option<String>,
    /// Extra rules of the project (names unique).
    #[serde(default)]
    #[schema(schema_with = custom_rules_schema)]
    pub custom_rules: Option<Vec<CustomRule>>,
}

/// `custom_rules`: an optional array of distinct [`CustomRule`]s (utoipa's field attributes have no
/// `uniqueItems`).
fn custom_rules_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, SchemaType, Type};
    use utoipa::openapi::{Ref, RefOr};
    ArrayBuilder::new()
        .schema_type(SchemaType::Array(vec![Type::Array, Type::Null]))
        .items(RefOr::Ref(Ref::from_schema_name("CustomRule")))
        .unique_items(true)
        .description(Some("Extra rules of the project (names unique)."))
        .build()
}

/// A user-defined rule: a regex matched on the whole line.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomRule {
    /// Rule name (not blank, unique); hits are named `custom:<name>`.
    #[schema(min_length = 1, pattern = r"\S")]
    pub name: String,
    /// Regular expression (Rust `regex` syntax) searched in the raw line.
    #[schema(format = "regex")]
    pub pattern: String,
    /// Severity of a hit, in `0..=1`.
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub severity: f32,
}

impl CreateProjectRequest {
    /// The core's request; an unknown format or a bad format string is an
    /// [`core::Error::InvalidInput`].
    pub fn into_core(self) -> core::Result<core::NewProject> {
        let mut p = core::NewProject::named(self.project_name);
        p.warmup_threshold = self.warmup_threshold;
        if let Some(f) = self.format {
            p.format = f.parse()?;
        }
        if let Some(f) = &self.log_format {
            // The client's string, so a bad one is the client's mistake (400), not a server setting.
            core::parse::FormatString::compile(f)
                .map_err(|e| core::Error::invalid_input(format!("log_format: {e}")))?;
        }
        p.log_format = self.log_format;
        p.session_pattern = self.session_pattern;
        p.custom_rules = self
            .custom_rules
            .unwrap_or_default()
            .into_iter()
            .map(|r| core::CustomRule {
                name: r.name,
                pattern: r.pattern,
                severity: r.severity,
            })
            .collect();
        Ok(p)
    }
}

/// `POST /detect`: one log line.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DetectRequest {
    /// The raw log line.
    #[schema(
        example = "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating"
    )]
    pub log_line: String,
    /// Session id; when absent, the project's session pattern or its format's default key decides.
    #[serde(default)]
    pub session_id: Option<String>,
}

impl From<DetectRequest> for core::LogRecord {
    fn from(r: DetectRequest) -> Self {
        core::LogRecord {
            log_line: r.log_line,
            session_id: r.session_id,
        }
    }
}

/// `POST /detect/batch`: lines scored in order, in one call.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// The lines (1 to `LOGSENTINEL_MAX_BATCH_SIZE`, default 100,000).
    #[schema(min_items = 1)]
    pub logs: Vec<DetectRequest>,
}

/// `POST /project/close-session`: close one session now.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseSessionRequest {
    /// The session to close.
    pub session_id: String,
}

/// Query of `GET /project/session-verdicts`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerdictsQuery {
    /// Most verdicts to take (1 to 10,000; default 100). Taken verdicts are removed from the queue.
    #[serde(default, deserialize_with = "integer::opt_u64_text")]
    #[param(minimum = 1, maximum = 10000, value_type = Option<u32>)]
    pub max: Option<u64>,
}

/// JSON Schema integers: `482` and `482.0` are the same integer, so both are accepted (serde alone
/// refuses the second for an integer field). Query strings give text, parsed the same way.
mod integer {
    use serde::de::{self, Deserializer, Visitor};
    use std::fmt;

    /// A non-negative integer; from text too when `text` (query strings carry only text).
    struct U64 {
        text: bool,
    }

    impl Visitor<'_> for U64 {
        type Value = u64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a non-negative integer")
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom(format!("{v} is negative")))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
            if v.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&v) {
                Ok(v as u64)
            } else {
                Err(E::custom(format!("{v} is not a non-negative integer")))
            }
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            if !self.text {
                return Err(E::invalid_type(de::Unexpected::Str(v), &self));
            }
            match v.trim().parse::<u64>() {
                Ok(n) => Ok(n),
                Err(_) => match v.trim().parse::<f64>() {
                    Ok(f) => self.visit_f64(f),
                    Err(_) => Err(E::custom(format!("{v:?} is not an integer"))),
                },
            }
        }
    }

    /// An optional non-negative JSON integer (absent or `null` is `None`).
    pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        opt(d, false)
    }

    /// A non-negative JSON integer (`3` or `3.0`).
    pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        d.deserialize_any(U64 { text: false })
    }

    /// An optional non-negative integer written as text (a query parameter).
    pub fn opt_u64_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        opt(d, true)
    }

    fn opt<'de, D: Deserializer<'de>>(d: D, text: bool) -> Result<Option<u64>, D::Error> {
        struct Opt {
            text: bool,
        }

        impl<'de> Visitor<'de> for Opt {
            type Value = Option<u64>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer or null")
            }

            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }

            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }

            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(U64 { text: self.text }).map(Some)
            }
        }

        d.deserialize_option(Opt { text })
    }
}

// ---------------------------------------------------------------------------------------------------
// Small responses of the HTTP layer

/// Every error: a message and a stable machine-readable code.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// What went wrong, in words.
    pub error: String,
    /// Stable code: the core's error kind (`INVALID_API_KEY`, `PROJECT_NOT_FOUND`, `INVALID_INPUT`, ...)
    /// or one of the HTTP layer (`UNAUTHORIZED`, `FORBIDDEN`, `MALFORMED_JSON`,
    /// `UNSUPPORTED_MEDIA_TYPE`, `PAYLOAD_TOO_LARGE`, `BATCH_TOO_LARGE`, `NOT_FOUND`,
    /// `METHOD_NOT_ALLOWED`, `INTERNAL`).
    #[schema(example = "INVALID_API_KEY")]
    pub code: String,
}

/// `GET /`: what this service is.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceInfo {
    /// `logsentinel`.
    pub service: String,
    /// Version of the server.
    pub version: String,
    /// `running`.
    pub status: String,
    /// Where the OpenAPI document is.
    pub openapi: String,
    /// Every endpoint, as `METHOD /path`.
    pub endpoints: Vec<String>,
}

/// A new API key (shown only here).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotatedKey {
    /// Project id.
    pub project_id: String,
    /// The new API key; the old one stopped working.
    pub api_key: String,
}

/// `POST /project/reset-sessions`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionsReset {
    /// `ok`.
    pub status: String,
    /// Open sessions dropped (without verdicts).
    pub sessions_reset: usize,
}

/// `GET /project/session-verdicts`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionVerdicts {
    /// Verdicts of closed sessions, oldest first.
    pub verdicts: Vec<SessionVerdict>,
    /// How many were returned.
    pub count: usize,
}

/// `POST /project/close-session`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionClosed {
    /// Whether such a session was open.
    pub closed: bool,
    /// Its verdict, when it was open.
    pub verdict: Option<SessionVerdict>,
}

/// `GET /projects` (admin).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectList {
    /// Every project, oldest first (never a key).
    pub projects: Vec<ProjectSummary>,
    /// How many.
    pub total: usize,
}

/// `DELETE /projects/{project_id}` (admin).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectDeleted {
    /// `true`.
    pub deleted: bool,
    /// The deleted project.
    pub project_id: String,
}

/// `POST /admin/teacher/update` (admin).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeacherUpdateStarted {
    /// `started` (or `already_running` when an update was running: its job is returned).
    pub status: String,
    /// The update's job.
    pub job: JobStatus,
}

/// `GET /admin/update-history` (admin).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateHistory {
    /// Teacher updates, oldest first.
    pub updates: Vec<TeacherUpdate>,
    /// How many.
    pub total: usize,
}

// ---------------------------------------------------------------------------------------------------
// Mirrors of the core's types

/// A log header format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
    /// Syslog (RFC 3164 or 5424).
    Syslog,
    /// One JSON object per line.
    Json,
}

impl From<core::LogFormat> for LogFormat {
    fn from(f: core::LogFormat) -> Self {
        use core::LogFormat as L;
        match f {
            L::Auto => Self::Auto,
            L::Raw => Self::Raw,
            L::Hdfs => Self::Hdfs,
            L::Bgl => Self::Bgl,
            L::Hadoop => Self::Hadoop,
            L::Spark => Self::Spark,
            L::Zookeeper => Self::Zookeeper,
            L::Hpc => Self::Hpc,
            L::Thunderbird => Self::Thunderbird,
            L::Windows => Self::Windows,
            L::Linux => Self::Linux,
            L::Android => Self::Android,
            L::Healthapp => Self::Healthapp,
            L::Apache => Self::Apache,
            L::Proxifier => Self::Proxifier,
            L::Openssh => Self::Openssh,
            L::Openstack => Self::Openstack,
            L::Mac => Self::Mac,
            L::Combined => Self::Combined,
            L::Common => Self::Common,
            L::Syslog => Self::Syslog,
            L::Json => Self::Json,
        }
    }
}

/// Which model scored a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModelType {
    /// The shared teacher.
    Teacher,
    /// The project's own student.
    Student,
}

impl From<core::ModelType> for ModelType {
    fn from(m: core::ModelType) -> Self {
        match m {
            core::ModelType::Teacher => Self::Teacher,
            core::ModelType::Student => Self::Student,
        }
    }
}

/// Where a project is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Collecting data; the teacher scores.
    Warmup,
    /// The student is being trained; the teacher still scores.
    Training,
    /// The student scores.
    Active,
}

impl From<core::Phase> for Phase {
    fn from(p: core::Phase) -> Self {
        match p {
            core::Phase::Warmup => Self::Warmup,
            core::Phase::Training => Self::Training,
            core::Phase::Active => Self::Active,
        }
    }
}

/// Why a session closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// No line for longer than the idle timeout (log time).
    Expired,
    /// Closed by the host.
    Closed,
    /// Evicted to keep the project under its open-session cap.
    Evicted,
    /// Closed at the end of the input.
    EndOfInput,
}

impl From<core::CloseReason> for CloseReason {
    fn from(r: core::CloseReason) -> Self {
        match r {
            core::CloseReason::Expired => Self::Expired,
            core::CloseReason::Closed => Self::Closed,
            core::CloseReason::Evicted => Self::Evicted,
            core::CloseReason::EndOfInput => Self::EndOfInput,
        }
    }
}

/// Where a background job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// Running.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Cancelled before it finished.
    Cancelled,
}

impl From<core::JobState> for JobState {
    fn from(s: core::JobState) -> Self {
        match s {
            core::JobState::Queued => Self::Queued,
            core::JobState::Running => Self::Running,
            core::JobState::Succeeded => Self::Succeeded,
            core::JobState::Failed => Self::Failed,
            core::JobState::Cancelled => Self::Cancelled,
        }
    }
}

/// A created project, with its API key: the only time the key is shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatedProject {
    /// Project id.
    pub project_id: String,
    /// Display name.
    pub project_name: String,
    /// The API key (`sk-...`). Store it now: only its hash is kept.
    pub api_key: String,
    /// Warmup threshold in logs.
    pub warmup_threshold: u64,
    /// Elasticsearch index name, `logs-{project_id}`.
    pub es_index_pattern: String,
}

impl From<core::CreatedProject> for CreatedProject {
    fn from(c: core::CreatedProject) -> Self {
        let core::CreatedProject {
            project_id,
            project_name,
            api_key,
            warmup_threshold,
            es_index_pattern,
        } = c;
        Self {
            project_id,
            project_name,
            api_key,
            warmup_threshold,
            es_index_pattern,
        }
    }
}

/// Component scores, each calibrated to `[0, 1]` (0.5 = at its calibrated threshold).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Components {
    /// Surprise of the template given the session's history (or template novelty).
    pub sequence: f32,
    /// Isolation forest on per-log and per-session features.
    pub isolation_forest: f32,
    /// Rules (severity, HTTP 5xx, web attacks, custom).
    pub rules: f32,
}

impl From<core::Components> for Components {
    fn from(c: core::Components) -> Self {
        let core::Components {
            sequence,
            isolation_forest,
            rules,
        } = c;
        Self {
            sequence,
            isolation_forest,
            rules,
        }
    }
}

/// A template the model expected instead of the observed one.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedTemplate {
    /// Local template id.
    pub template_id: u32,
    /// Template text.
    pub template: String,
    /// The model's probability for it.
    pub probability: f32,
}

impl From<core::ExpectedTemplate> for ExpectedTemplate {
    fn from(e: core::ExpectedTemplate) -> Self {
        let core::ExpectedTemplate {
            template_id,
            template,
            probability,
        } = e;
        Self {
            template_id,
            template,
            probability,
        }
    }
}

/// The verdict on one log line.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Detection {
    /// Whether the line is anomalous (`anomaly_score >= threshold`).
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
    /// The session the line belongs to (`null` when it has none).
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
    /// Kind of the first reason (`novel_template`, `new_template`, `sequence`, `isolation_forest`,
    /// `rule:NAME`, `attack_session`, `truncated`), to group verdicts by cause.
    pub cause: Option<String>,
    /// The shared signal (cause and what it is about): incidents group by it, pattern-scoped
    /// feedback matches on it.
    pub pattern: Option<String>,
    /// The incident a flagged result joined: the reference feedback is given on.
    pub incident_id: Option<u64>,
    /// The operator feedback that decided the verdict, if any.
    pub feedback_id: Option<u64>,
}

impl From<core::Detection> for Detection {
    fn from(d: core::Detection) -> Self {
        let core::Detection {
            is_anomaly,
            anomaly_score,
            threshold,
            model_type,
            phase,
            project_id,
            project_name,
            session_id,
            log_count,
            warmup_progress,
            template_id,
            template,
            parameters,
            components,
            reasons,
            timestamp,
            template_probability,
            template_rank,
            expected,
            matched_rules,
            unknown_template_ratio,
            truncated,
            cause,
            pattern,
            incident_id,
            feedback_id,
        } = d;
        Self {
            is_anomaly,
            anomaly_score,
            threshold,
            model_type: model_type.into(),
            phase: phase.into(),
            project_id,
            project_name,
            session_id,
            log_count,
            warmup_progress,
            template_id,
            template,
            parameters,
            components: components.into(),
            reasons,
            timestamp,
            template_probability,
            template_rank,
            expected: expected.into_iter().map(Into::into).collect(),
            matched_rules,
            unknown_template_ratio,
            truncated,
            cause,
            pattern,
            incident_id,
            feedback_id,
        }
    }
}

/// Result of `POST /detect/batch`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
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

impl From<core::BatchDetection> for BatchDetection {
    fn from(b: core::BatchDetection) -> Self {
        let core::BatchDetection {
            results,
            total_logs,
            anomalies_detected,
            project_id,
        } = b;
        Self {
            results: results.into_iter().map(Into::into).collect(),
            total_logs,
            anomalies_detected,
            project_id,
        }
    }
}

/// The verdict on a whole session, given when it closes.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
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
    /// Calibrated score of the session ending here.
    pub end_score: f32,
    /// Templates nearly every normal session has that this one lacks.
    pub missing_templates: Vec<String>,
    /// Why, most important first.
    pub reasons: Vec<String>,
    /// Log time of the session's last line.
    pub timestamp: f64,
    /// Whether the session was still open at the end of the input (cut, not finished: judged only on
    /// what it holds).
    pub open_at_end_of_input: bool,
    /// Kind of the first reason (`end_surprise`, `rare_template`, `missing_template`, `broken_tie`).
    pub cause: Option<String>,
    /// The shared signal (cause and what it is about): incidents group by it, pattern-scoped
    /// feedback matches on it.
    pub pattern: Option<String>,
    /// The incident a flagged result joined: the reference feedback is given on.
    pub incident_id: Option<u64>,
    /// The operator feedback that decided the verdict, if any.
    pub feedback_id: Option<u64>,
}

impl From<core::SessionVerdict> for SessionVerdict {
    fn from(v: core::SessionVerdict) -> Self {
        let core::SessionVerdict {
            project_id,
            session_id,
            is_anomaly,
            anomaly_score,
            threshold,
            model_type,
            phase,
            reason,
            lines,
            anomalous_lines,
            end_score,
            missing_templates,
            reasons,
            timestamp,
            open_at_end_of_input,
            cause,
            pattern,
            incident_id,
            feedback_id,
        } = v;
        Self {
            project_id,
            session_id,
            is_anomaly,
            anomaly_score,
            threshold,
            model_type: model_type.into(),
            phase: phase.into(),
            reason: reason.into(),
            lines,
            anomalous_lines,
            end_score,
            missing_templates,
            reasons,
            timestamp,
            open_at_end_of_input,
            cause,
            pattern,
            incident_id,
            feedback_id,
        }
    }
}

/// Training state of a project.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingStatus {
    /// State of the latest training job (`null`: never trained).
    pub state: Option<JobState>,
    /// Progress of the running job in `[0, 1]`.
    pub progress: f32,
    /// Error of the last failed training.
    pub last_error: Option<String>,
    /// Why the project is still in warmup past its threshold, if it is.
    pub waiting_reason: Option<String>,
    /// Seconds the last successful training took.
    pub last_duration_secs: Option<f64>,
    /// Seconds of the teacher's fine-tune within it.
    pub last_teacher_finetune_secs: Option<f64>,
    /// Seconds of distillation within it.
    pub last_distill_secs: Option<f64>,
    /// Number of students trained so far.
    pub students_trained: u64,
}

impl From<core::TrainingStatus> for TrainingStatus {
    fn from(t: core::TrainingStatus) -> Self {
        let core::TrainingStatus {
            state,
            progress,
            last_error,
            waiting_reason,
            last_duration_secs,
            last_teacher_finetune_secs,
            last_distill_secs,
            students_trained,
        } = t;
        Self {
            state: state.map(Into::into),
            progress,
            last_error,
            waiting_reason,
            last_duration_secs,
            last_teacher_finetune_secs,
            last_distill_secs,
            students_trained,
        }
    }
}

/// A project's status.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectStatus {
    /// Project id.
    pub project_id: String,
    /// Display name.
    pub project_name: String,
    /// Header format.
    pub format: LogFormat,
    /// Header format string, when the project was given one (it wins over `format`).
    pub log_format: Option<String>,
    /// Lines whose header did not match the format.
    pub header_unmatched: u64,
    /// Of those, lines whose message the header fallback still found (the others were mined whole).
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

impl From<core::ProjectStatus> for ProjectStatus {
    fn from(s: core::ProjectStatus) -> Self {
        let core::ProjectStatus {
            project_id,
            project_name,
            format,
            log_format,
            header_unmatched,
            header_recovered,
            phase,
            log_count,
            anomaly_count,
            warmup_threshold,
            warmup_progress,
            has_student_model,
            training,
            template_count,
            training_sequences,
            open_sessions,
            drift,
            novel_logs,
            parsing_warning,
            es_index_pattern,
            created_at,
            last_activity,
        } = s;
        Self {
            project_id,
            project_name,
            format: format.into(),
            log_format,
            header_unmatched,
            header_recovered,
            phase: phase.into(),
            log_count,
            anomaly_count,
            warmup_threshold,
            warmup_progress,
            has_student_model,
            training: training.into(),
            template_count,
            training_sequences,
            open_sessions,
            drift,
            novel_logs,
            parsing_warning,
            es_index_pattern,
            created_at,
            last_activity,
        }
    }
}

/// Detector health.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// `healthy`.
    pub status: String,
    /// Whether the teacher has a trained sequence model.
    pub teacher_loaded: bool,
    /// Projects.
    pub total_projects: usize,
    /// Students currently loaded in memory.
    pub active_student_models: usize,
    /// Bytes of the loaded students' models (counted against the student memory budget).
    pub loaded_student_bytes: usize,
    /// Projects whose training samples are in memory (the others hold only their record and
    /// templates).
    pub projects_with_samples_loaded: usize,
    /// Whether any training job runs.
    pub training_in_progress: bool,
}

impl From<core::Health> for Health {
    fn from(h: core::Health) -> Self {
        let core::Health {
            status,
            teacher_loaded,
            total_projects,
            active_student_models,
            loaded_student_bytes,
            projects_with_samples_loaded,
            training_in_progress,
        } = h;
        Self {
            status,
            teacher_loaded,
            total_projects,
            active_student_models,
            loaded_student_bytes,
            projects_with_samples_loaded,
            training_in_progress,
        }
    }
}

/// The shared teacher.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
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
    pub thresholds: BTreeMap<String, f32>,
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

impl From<core::TeacherInfo> for TeacherInfo {
    fn from(t: core::TeacherInfo) -> Self {
        let core::TeacherInfo {
            vocabulary_size,
            model_vocabulary_size,
            templates,
            trained,
            parameters,
            thresholds,
            logs_processed,
            update_in_progress,
            last_update,
            next_update,
            version,
        } = t;
        Self {
            vocabulary_size,
            model_vocabulary_size,
            templates,
            trained,
            parameters,
            thresholds,
            logs_processed,
            update_in_progress,
            last_update,
            next_update,
            version,
        }
    }
}

/// One teacher update in the history.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
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

impl From<core::TeacherUpdate> for TeacherUpdate {
    fn from(u: core::TeacherUpdate) -> Self {
        let core::TeacherUpdate {
            started_at,
            duration_secs,
            samples_used,
            projects,
            success,
            error,
            trigger,
        } = u;
        Self {
            started_at,
            duration_secs,
            samples_used,
            projects,
            success,
            error,
            trigger,
        }
    }
}

/// A project in the admin listing (no key, not even its hash).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
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

impl From<core::ProjectSummary> for ProjectSummary {
    fn from(p: core::ProjectSummary) -> Self {
        let core::ProjectSummary {
            project_id,
            project_name,
            phase,
            log_count,
            warmup_threshold,
            created_at,
        } = p;
        Self {
            project_id,
            project_name,
            phase: phase.into(),
            log_count,
            warmup_threshold,
            created_at,
        }
    }
}

/// A snapshot of a background job.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobStatus {
    /// What the job does, e.g. `teacher-update:forced`.
    pub name: String,
    /// Its state.
    pub state: JobState,
    /// Progress in `[0, 1]`.
    pub progress: f32,
    /// The error text when it failed.
    pub error: Option<String>,
}

impl From<core::JobStatus> for JobStatus {
    fn from(j: core::JobStatus) -> Self {
        let core::JobStatus {
            name,
            state,
            progress,
            error,
        } = j;
        Self {
            name,
            state: state.into(),
            progress,
            error,
        }
    }
}

/// An operator's verdict on an incident or pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackLabel {
    /// Normal for this project: matching results stop alerting.
    Normal,
    /// A real anomaly: matching results keep alerting.
    Anomaly,
}

impl From<core::FeedbackLabel> for FeedbackLabel {
    fn from(l: core::FeedbackLabel) -> Self {
        match l {
            core::FeedbackLabel::Normal => Self::Normal,
            core::FeedbackLabel::Anomaly => Self::Anomaly,
        }
    }
}

impl From<FeedbackLabel> for core::FeedbackLabel {
    fn from(l: FeedbackLabel) -> Self {
        match l {
            FeedbackLabel::Normal => Self::Normal,
            FeedbackLabel::Anomaly => Self::Anomaly,
        }
    }
}

/// What a feedback mark applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackScope {
    /// Results with the same pattern (cause and what it is about).
    Pattern,
    /// Lines with this template, sessions whose rare or missing event it is.
    Template,
    /// Lines this rule matched.
    Rule,
    /// Everything of this client (session id).
    Client,
}

impl From<core::FeedbackScope> for FeedbackScope {
    fn from(s: core::FeedbackScope) -> Self {
        match s {
            core::FeedbackScope::Pattern => Self::Pattern,
            core::FeedbackScope::Template => Self::Template,
            core::FeedbackScope::Rule => Self::Rule,
            core::FeedbackScope::Client => Self::Client,
        }
    }
}

impl From<FeedbackScope> for core::FeedbackScope {
    fn from(s: FeedbackScope) -> Self {
        match s {
            FeedbackScope::Pattern => Self::Pattern,
            FeedbackScope::Template => Self::Template,
            FeedbackScope::Rule => Self::Rule,
            FeedbackScope::Client => Self::Client,
        }
    }
}

/// What a feedback mark is given on: `{"incident_id": 3}` or `{"key": "..."}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FeedbackTarget {
    /// The incident reviewed (every flagged result carries its `incident_id`).
    IncidentId(#[serde(deserialize_with = "integer::u64")] u64),
    /// What the scope matches, given directly: a result's `pattern`, a template, a rule name or a
    /// session id (1 byte to 16 KiB).
    Key(String),
}

// Written out, as the derive gives each variant object no `additionalProperties: false` (and no
// length bounds for the key), which clients and schema-driven tests then read as allowed.
impl utoipa::PartialSchema for FeedbackTarget {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            AdditionalProperties, KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type,
        };
        let closed = |name: &str, value: ObjectBuilder, description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .description(Some(description))
                .property(name, value)
                .required(name)
                .additional_properties(Some(
                    AdditionalProperties::<utoipa::openapi::schema::Schema>::FreeForm(false),
                ))
        };
        let incident = closed(
            "incident_id",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(0)),
            "The incident reviewed (every flagged result carries its `incident_id`).",
        );
        let key = closed(
            "key",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(16 * 1024)),
            "What the scope matches, given directly: a result's `pattern`, a template, a rule \
             name or a session id.",
        );
        OneOfBuilder::new()
            .item(incident)
            .item(key)
            .description(Some(
                "What a feedback mark is given on: `{\"incident_id\": 3}` or `{\"key\": \"...\"}`.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for FeedbackTarget {}

/// `POST /feedback`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// What was reviewed.
    pub target: FeedbackTarget,
    /// What the operator says.
    pub label: FeedbackLabel,
    /// What the mark applies to (default `pattern`).
    #[serde(default)]
    pub scope: Option<FeedbackScope>,
    /// How long it applies, in seconds (default: for good).
    #[serde(default)]
    #[schema(exclusive_minimum = 0.0, maximum = 3.0e9)]
    pub duration_secs: Option<f64>,
    /// Free text kept with the mark.
    #[serde(default)]
    #[schema(max_length = 4096)]
    pub note: Option<String>,
}

impl FeedbackRequest {
    /// The core request.
    pub fn into_core(self) -> core::NewFeedback {
        core::NewFeedback {
            target: match self.target {
                FeedbackTarget::IncidentId(id) => core::FeedbackTarget::Incident(id),
                FeedbackTarget::Key(key) => core::FeedbackTarget::Key(key),
            },
            label: self.label.into(),
            scope: self.scope.unwrap_or(FeedbackScope::Pattern).into(),
            duration_secs: self.duration_secs,
            note: self.note,
        }
    }
}

/// A stored feedback mark.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    /// Id within the project.
    pub id: u64,
    /// What the operator said.
    pub label: FeedbackLabel,
    /// What it applies to.
    pub scope: FeedbackScope,
    /// The pattern, template, rule or client it matches.
    pub key: String,
    /// The incident it was given on.
    pub incident_id: Option<u64>,
    /// When it was given (Unix seconds).
    pub created_at: f64,
    /// When it stops applying (`null`: never).
    pub expires_at: Option<f64>,
    /// Free text.
    pub note: Option<String>,
}

impl From<core::Feedback> for Feedback {
    fn from(f: core::Feedback) -> Self {
        let core::Feedback {
            id,
            label,
            scope,
            key,
            incident_id,
            created_at,
            expires_at,
            note,
        } = f;
        Self {
            id,
            label: label.into(),
            scope: scope.into(),
            key,
            incident_id,
            created_at,
            expires_at,
            note,
        }
    }
}

/// `GET /feedback`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackList {
    /// The project's marks, oldest first.
    pub feedback: Vec<Feedback>,
    /// How many.
    pub count: usize,
}

/// Whether an incident still gathers anomalies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    /// Its pattern recurred recently.
    Open,
    /// Quiet for longer than the incident gap.
    Resolved,
}

impl From<core::IncidentState> for IncidentState {
    fn from(s: core::IncidentState) -> Self {
        match s {
            core::IncidentState::Open => Self::Open,
            core::IncidentState::Resolved => Self::Resolved,
        }
    }
}

impl From<IncidentState> for core::IncidentState {
    fn from(s: IncidentState) -> Self {
        match s {
            IncidentState::Open => Self::Open,
            IncidentState::Resolved => Self::Resolved,
        }
    }
}

/// A template or rule with how many of an incident's anomalies carry it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Counted {
    /// Template or rule.
    pub name: String,
    /// Anomalies with it.
    pub count: u64,
}

/// One anomaly of an incident, as reported.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentExample {
    /// Its session.
    pub session_id: Option<String>,
    /// Its log time (Unix seconds).
    pub timestamp: f64,
    /// The line's template, or the session's cause in words.
    pub template: String,
    /// Its explanations.
    pub reasons: Vec<String>,
    /// Whether it is a session verdict.
    pub session_verdict: bool,
}

/// A group of a project's anomalies with a shared cause.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    /// Id within the project (results in it carry it as `incident_id`).
    pub id: u64,
    /// Project id.
    pub project_id: String,
    /// The shared signal in words.
    pub title: String,
    /// The pattern that raised it.
    pub pattern: String,
    /// Open or resolved.
    pub state: IncidentState,
    /// Log time of its first anomaly.
    pub first_seen: f64,
    /// Log time of its latest anomaly.
    pub last_seen: f64,
    /// The project's line count at its latest anomaly.
    pub last_line: u64,
    /// Flagged lines in it.
    pub lines: u64,
    /// Distinct sessions in it.
    pub sessions: u64,
    /// Flagged session verdicts in it.
    pub session_verdicts: u64,
    /// Most frequent templates.
    pub top_templates: Vec<Counted>,
    /// Most frequent matched rules.
    pub top_rules: Vec<Counted>,
    /// The first anomalies.
    pub examples: Vec<IncidentExample>,
    /// The first sessions.
    pub session_ids: Vec<String>,
    /// The operator's label, if any.
    pub feedback: Option<FeedbackLabel>,
}

impl From<core::Incident> for Incident {
    fn from(i: core::Incident) -> Self {
        let counted = |v: Vec<core::Counted>| {
            v.into_iter()
                .map(|c| Counted {
                    name: c.name,
                    count: c.count,
                })
                .collect()
        };
        Self {
            id: i.id,
            project_id: i.project_id,
            title: i.title,
            pattern: i.pattern,
            state: i.state.into(),
            first_seen: i.first_seen,
            last_seen: i.last_seen,
            last_line: i.last_line,
            lines: i.lines,
            sessions: i.sessions,
            session_verdicts: i.session_verdicts,
            top_templates: counted(i.top_templates),
            top_rules: counted(i.top_rules),
            examples: i
                .examples
                .into_iter()
                .map(|e| IncidentExample {
                    session_id: e.session_id,
                    timestamp: e.timestamp,
                    template: e.template,
                    reasons: e.reasons,
                    session_verdict: e.session_verdict,
                })
                .collect(),
            session_ids: i.session_ids,
            feedback: i.feedback.map(Into::into),
        }
    }
}

/// Query of `GET /incidents`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentsQuery {
    /// Only incidents in this state (default: both, open first).
    #[serde(default)]
    pub state: Option<IncidentState>,
}

/// `GET /incidents`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentList {
    /// Open incidents first, each group newest first.
    pub incidents: Vec<Incident>,
    /// How many.
    pub count: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn same<C: Serialize, D: Serialize + From<C>>(c: C) {
        let want = serde_json::to_value(&c).unwrap();
        let got = serde_json::to_value(D::from(c)).unwrap();
        assert_eq!(got, want);
    }

    fn detection() -> core::Detection {
        core::Detection {
            is_anomaly: true,
            anomaly_score: 0.75,
            threshold: 0.5,
            model_type: core::ModelType::Student,
            phase: core::Phase::Active,
            project_id: "p".into(),
            project_name: "n".into(),
            session_id: Some("s".into()),
            log_count: 7,
            warmup_progress: 1.0,
            template_id: 3,
            template: "a <*>".into(),
            parameters: vec!["x".into()],
            components: core::Components {
                sequence: 0.5,
                isolation_forest: 0.25,
                rules: 0.0,
            },
            reasons: vec!["r".into()],
            timestamp: 1.5,
            template_probability: Some(0.125),
            template_rank: Some(2),
            expected: vec![core::ExpectedTemplate {
                template_id: 1,
                template: "b".into(),
                probability: 0.5,
            }],
            matched_rules: vec!["severity:error".into()],
            unknown_template_ratio: 0.0,
            truncated: false,
            cause: Some("sequence".into()),
            pattern: None,
            incident_id: None,
            feedback_id: None,
        }
    }

    #[test]
    fn mirrors_serialize_exactly_like_the_core_types() {
        same::<_, Detection>(detection());
        same::<_, BatchDetection>(core::BatchDetection {
            results: vec![detection()],
            total_logs: 1,
            anomalies_detected: 1,
            project_id: "p".into(),
        });
        same::<_, SessionVerdict>(core::SessionVerdict {
            project_id: "p".into(),
            session_id: "s".into(),
            is_anomaly: false,
            anomaly_score: 0.25,
            threshold: 0.5,
            model_type: core::ModelType::Teacher,
            phase: core::Phase::Warmup,
            reason: core::CloseReason::EndOfInput,
            lines: 3,
            anomalous_lines: 0,
            end_score: 0.0,
            missing_templates: vec![],
            reasons: vec![],
            timestamp: 2.0,
            open_at_end_of_input: true,
            cause: None,
            pattern: None,
            incident_id: None,
            feedback_id: None,
        });
        for state in [
            None,
            Some(core::JobState::Queued),
            Some(core::JobState::Running),
            Some(core::JobState::Succeeded),
            Some(core::JobState::Failed),
            Some(core::JobState::Cancelled),
        ] {
            same::<_, TrainingStatus>(core::TrainingStatus {
                state,
                progress: 0.5,
                last_error: None,
                waiting_reason: Some("w".into()),
                last_duration_secs: Some(1.0),
                last_teacher_finetune_secs: None,
                last_distill_secs: Some(0.5),
                students_trained: 1,
            });
        }
        for format in core::LogFormat::ALL {
            let v = serde_json::to_value(LogFormat::from(*format)).unwrap();
            assert_eq!(v, json!(format.name()));
            assert_eq!(v, serde_json::to_value(format).unwrap());
        }
        same::<_, Health>(core::Health {
            status: "healthy".into(),
            teacher_loaded: true,
            total_projects: 2,
            active_student_models: 1,
            loaded_student_bytes: 1024,
            projects_with_samples_loaded: 2,
            training_in_progress: false,
        });
        same::<_, TeacherUpdate>(core::TeacherUpdate {
            started_at: 1.0,
            duration_secs: 2.0,
            samples_used: 3,
            projects: 1,
            success: false,
            error: Some("e".into()),
            trigger: "forced".into(),
        });
        same::<_, ProjectSummary>(core::ProjectSummary {
            project_id: "p".into(),
            project_name: "n".into(),
            phase: core::Phase::Training,
            log_count: 1,
            warmup_threshold: 100,
            created_at: 1.0,
        });
        same::<_, CreatedProject>(core::CreatedProject {
            project_id: "p".into(),
            project_name: "n".into(),
            api_key: "sk-x".into(),
            warmup_threshold: 100,
            es_index_pattern: "logs-p".into(),
        });
        for reason in [
            core::CloseReason::Expired,
            core::CloseReason::Closed,
            core::CloseReason::Evicted,
        ] {
            assert_eq!(
                serde_json::to_value(CloseReason::from(reason)).unwrap(),
                serde_json::to_value(reason).unwrap()
            );
        }
    }

    #[test]
    fn requests_refuse_unknown_fields_and_parse_formats_leniently() {
        assert!(
            serde_json::from_value::<DetectRequest>(json!({"log_line": "x", "extra": 1})).is_err()
        );
        let r: CreateProjectRequest =
            serde_json::from_value(json!({"project_name": "a", "format": "HDFS"})).unwrap();
        assert_eq!(r.into_core().unwrap().format, core::LogFormat::Hdfs);
        for (v, want) in [
            (json!(500), Some(500)),
            (json!(500.0), Some(500)),
            (json!(null), None),
        ] {
            let r: CreateProjectRequest =
                serde_json::from_value(json!({"project_name": "a", "warmup_threshold": v}))
                    .unwrap();
            assert_eq!(r.warmup_threshold, want);
        }
        for bad in [json!(500.5), json!(-1), json!("500"), json!(true)] {
            assert!(serde_json::from_value::<CreateProjectRequest>(
                json!({"project_name": "a", "warmup_threshold": bad})
            )
            .is_err());
        }
        let r: CreateProjectRequest =
            serde_json::from_value(json!({"project_name": "a", "format": "nope"})).unwrap();
        assert_eq!(
            r.into_core().unwrap_err().kind(),
            core::ErrorKind::InvalidInput
        );
        let v: Value = serde_json::to_value(ErrorBody {
            error: "e".into(),
            code: "C".into(),
        })
        .unwrap();
        assert_eq!(v, json!({"error": "e", "code": "C"}));
    }
}
