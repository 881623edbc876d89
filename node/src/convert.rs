//! Arguments in: detector options (the core `Config` in camelCase), project options, log records,
//! operator feedback and ids.
//!
//! Options objects are read strictly: a key that is not an option is an error naming it (a typo such
//! as `warmupTreshold` must not silently fall back to a default), and a value of the wrong type is an
//! error naming its key. Keys may be camelCase (the JavaScript spelling) or the core's snake_case.

use logsentinel::{Config, FeedbackLabel, FeedbackScope, FeedbackTarget, LogRecord, NewProject};
use napi::bindgen_prelude::{Array, Buffer, Object, Unknown};
use napi::{JsValue, ValueType};
use napi_derive::napi;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{invalid_config, invalid_input, IntoJs, Result};

/// `storageDir` -> `storage_dir` (`dFf` -> `d_ff`); snake_case keys are unchanged.
pub fn camel_to_snake(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `storage_dir` -> `storageDir` (`d_ff` -> `dFf`).
pub fn snake_to_camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Integral numbers that napi handed over as floats (every JS number is one beyond 2^32) become
/// integers again, so they deserialize into the core's integer fields; object keys become snake_case.
fn normalize(value: Value) -> Value {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
                if f >= 0.0 {
                    Value::from(f as u64)
                } else {
                    Value::from(f as i64)
                }
            }
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (camel_to_snake(&k), normalize(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The sizes of one sequence model (teacher or student).
#[napi(object)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ModelDims {
    /// Transformer layers.
    pub n_layers: u32,
    /// Hidden size.
    pub d_model: u32,
    /// Attention heads (must divide `dModel`, with an even head size).
    pub n_heads: u32,
    /// Feed-forward hidden size.
    pub d_ff: u32,
}

impl From<logsentinel::ModelDims> for ModelDims {
    fn from(d: logsentinel::ModelDims) -> Self {
        let n = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
        Self {
            n_layers: n(d.n_layers),
            d_model: n(d.d_model),
            n_heads: n(d.n_heads),
            d_ff: n(d.d_ff),
        }
    }
}

/// Every setting of a detector, as `detector.config` returns it and `defaultConfig()` gives the
/// defaults. Pass any subset of these fields (and `tinyModels`) as `DetectorOptions`.
#[napi(object, use_nullable = true)]
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DetectorConfig {
    /// Directory of the embedded database (created if missing). Default `./data`.
    pub storage_dir: String,
    /// A PostgreSQL database (`postgres://...`) to keep the state in instead of `storageDir`, shared
    /// by every detector given the same URL (`STORAGE_URL`).
    pub storage_url: Option<String>,
    /// This instance's name in a shared database, what another instance's `LEASE_HELD` error names
    /// (`INSTANCE_ID`; default `host:pid`).
    pub instance_id: Option<String>,
    /// Seconds a lease on a shared database lasts without renewal (default 5).
    pub lease_ttl_secs: f64,
    /// Seconds opening a shared database leased by another instance waits before `LEASE_HELD`
    /// (default 0).
    pub lease_wait_secs: f64,
    /// What a lease covers on a shared database: `'storage'` (one writer instance, default) or
    /// `'project'` (each project leased by the instance serving it; `LEASE_SCOPE`).
    #[napi(ts_type = "'storage' | 'project'")]
    pub lease_scope: String,
    /// Optional directory holding a pre-trained teacher to start from.
    pub model_dir: Option<String>,
    /// Device for models.
    #[napi(ts_type = "'cpu' | 'cuda'")]
    pub device: String,
    /// Default warmup threshold of new projects, in logs (at least 100). Default 10,000.
    pub warmup_threshold: f64,
    /// Days between scheduled teacher updates. Default 7.
    pub teacher_update_days: f64,
    /// HTTP listen host of `logsentinel serve` (unused by the addon).
    pub host: String,
    /// HTTP listen port of `logsentinel serve` (unused by the addon).
    pub port: u32,
    /// Admin credential of the HTTP API (unused by the addon).
    pub admin_api_key: Option<String>,
    /// A session closes after this many seconds without a line, measured on log time.
    pub session_idle_timeout_secs: f64,
    /// An incident stays open while its pattern recurs within this many seconds of log time.
    pub incident_gap_secs: f64,
    /// At most this many open sessions per project; the least recently used is closed beyond it.
    pub max_sessions_per_project: f64,
    /// At most this many templates per project (LRU eviction beyond it).
    pub max_templates_per_project: f64,
    /// Lines longer than this many bytes are truncated (and `truncated` is set).
    pub max_line_bytes: f64,
    /// Most records accepted by one `detectBatch` call.
    pub max_batch_size: f64,
    /// Minimum number of session sequences before a student is trained.
    pub min_training_sequences: f64,
    /// Most session sequences kept per project for training and teacher updates.
    pub max_training_sequences: f64,
    /// Target false-positive rate each component's threshold is calibrated to on warmup data.
    pub target_false_positive_rate: f64,
    /// Ensemble score at or above which a line is an anomaly.
    pub anomaly_threshold: f64,
    /// Context window of the sequence models, in templates.
    pub window: f64,
    /// Teacher sizes.
    pub teacher: ModelDims,
    /// Student sizes.
    pub student: ModelDims,
    /// Epochs of student distillation.
    pub distill_epochs: f64,
    /// Weight of the distillation term (alpha).
    pub distill_alpha: f64,
    /// Distillation temperature (T).
    pub distill_temperature: f64,
    /// Epochs of a full teacher (re)training on pooled data.
    pub teacher_epochs: f64,
    /// Epochs of the teacher's fine-tune on a project's warmup data before distillation.
    pub teacher_finetune_epochs: f64,
    /// Threads used by background training (bounded so detection keeps its cores).
    pub training_threads: f64,
    /// Fraction of novel templates among recent active-phase logs that triggers a retraining.
    pub drift_retrain_ratio: f64,
    /// Per-log counters and samples are committed at least every this many logs per project.
    pub commit_every_logs: f64,
    /// Memory budget for loaded students, in bytes (least recently used evicted beyond it).
    pub student_memory_budget_bytes: f64,
    /// Seed of every random choice (initialisation, shuffling, forests).
    pub seed: f64,
    /// Header format string of new projects left on format `auto` (`LOG_FORMAT`).
    pub log_format: Option<String>,
}

impl From<&Config> for DetectorConfig {
    fn from(c: &Config) -> Self {
        let n = |x: usize| x as f64;
        Self {
            storage_dir: c.storage_dir.display().to_string(),
            storage_url: c.storage_url.clone(),
            instance_id: c.instance_id.clone(),
            lease_ttl_secs: c.lease_ttl_secs,
            lease_wait_secs: c.lease_wait_secs,
            lease_scope: crate::types::enum_name(&c.lease_scope),
            model_dir: c.model_dir.as_ref().map(|p| p.display().to_string()),
            device: crate::types::enum_name(&c.device),
            warmup_threshold: c.warmup_threshold as f64,
            teacher_update_days: c.teacher_update_days,
            host: c.host.clone(),
            port: u32::from(c.port),
            admin_api_key: c.admin_api_key.clone(),
            session_idle_timeout_secs: c.session_idle_timeout_secs,
            incident_gap_secs: c.incident_gap_secs,
            max_sessions_per_project: n(c.max_sessions_per_project),
            max_templates_per_project: n(c.max_templates_per_project),
            max_line_bytes: n(c.max_line_bytes),
            max_batch_size: n(c.max_batch_size),
            min_training_sequences: n(c.min_training_sequences),
            max_training_sequences: n(c.max_training_sequences),
            target_false_positive_rate: c.target_false_positive_rate,
            anomaly_threshold: c.anomaly_threshold,
            window: n(c.window),
            teacher: c.teacher.into(),
            student: c.student.into(),
            distill_epochs: n(c.distill_epochs),
            distill_alpha: c.distill_alpha,
            distill_temperature: c.distill_temperature,
            teacher_epochs: n(c.teacher_epochs),
            teacher_finetune_epochs: n(c.teacher_finetune_epochs),
            training_threads: n(c.training_threads),
            drift_retrain_ratio: c.drift_retrain_ratio,
            commit_every_logs: c.commit_every_logs as f64,
            student_memory_budget_bytes: n(c.student_memory_budget_bytes),
            seed: c.seed as f64,
            log_format: c.log_format.clone(),
        }
    }
}

/// Options of `new TenantDetector(options)`: any field of `DetectorConfig`, plus `tinyModels`.
/// Fields left out (or `undefined`/`null`) take their defaults; an unknown key is an `INVALID_CONFIG`
/// error naming it.
#[napi(object)]
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DetectorOptions {
    /// Tiny teacher and student (1 layer, d 32) and short training, as Rust's
    /// `Config::tiny_models()`: for tests and demos. `teacher`, `student` and `teacherEpochs` given
    /// here win over it.
    pub tiny_models: Option<bool>,
    /// Directory of the embedded database (created if missing). Default `./data`.
    pub storage_dir: Option<String>,
    /// A PostgreSQL database (`postgres://...`) to keep the state in instead of `storageDir`, shared
    /// by every detector given the same URL (`STORAGE_URL`).
    #[napi(ts_type = "string | null")]
    pub storage_url: Option<String>,
    /// This instance's name in a shared database, what another instance's `LEASE_HELD` error names
    /// (`INSTANCE_ID`; default `host:pid`).
    #[napi(ts_type = "string | null")]
    pub instance_id: Option<String>,
    /// Seconds a lease on a shared database lasts without renewal (default 5).
    pub lease_ttl_secs: Option<f64>,
    /// Seconds opening a shared database leased by another instance waits before `LEASE_HELD`
    /// (default 0).
    pub lease_wait_secs: Option<f64>,
    /// What a lease covers on a shared database: `'storage'` (one writer instance, default) or
    /// `'project'` (each project leased by the instance serving it; `LEASE_SCOPE`).
    #[napi(ts_type = "'storage' | 'project'")]
    pub lease_scope: Option<String>,
    /// Optional directory holding a pre-trained teacher to start from.
    #[napi(ts_type = "string | null")]
    pub model_dir: Option<String>,
    /// Device for models (`'cuda'` needs a build with the core's `cuda` feature).
    #[napi(ts_type = "'cpu' | 'cuda'")]
    pub device: Option<String>,
    /// Default warmup threshold of new projects, in logs (at least 100). Default 10,000.
    pub warmup_threshold: Option<f64>,
    /// Days between scheduled teacher updates. Default 7.
    pub teacher_update_days: Option<f64>,
    /// HTTP listen host of `logsentinel serve` (unused by the addon).
    pub host: Option<String>,
    /// HTTP listen port of `logsentinel serve` (unused by the addon).
    pub port: Option<u32>,
    /// Admin credential of the HTTP API (unused by the addon).
    #[napi(ts_type = "string | null")]
    pub admin_api_key: Option<String>,
    /// A session closes after this many seconds without a line, measured on log time.
    pub session_idle_timeout_secs: Option<f64>,
    /// An incident stays open while its pattern recurs within this many seconds of log time.
    pub incident_gap_secs: Option<f64>,
    /// At most this many open sessions per project.
    pub max_sessions_per_project: Option<f64>,
    /// At most this many templates per project.
    pub max_templates_per_project: Option<f64>,
    /// Lines longer than this many bytes are truncated.
    pub max_line_bytes: Option<f64>,
    /// Most records accepted by one `detectBatch` call.
    pub max_batch_size: Option<f64>,
    /// Minimum number of session sequences before a student is trained.
    pub min_training_sequences: Option<f64>,
    /// Most session sequences kept per project.
    pub max_training_sequences: Option<f64>,
    /// Target false-positive rate of each component's calibrated threshold.
    pub target_false_positive_rate: Option<f64>,
    /// Ensemble score at or above which a line is an anomaly.
    pub anomaly_threshold: Option<f64>,
    /// Context window of the sequence models, in templates.
    pub window: Option<f64>,
    /// Teacher sizes (all four fields).
    pub teacher: Option<ModelDims>,
    /// Student sizes (all four fields).
    pub student: Option<ModelDims>,
    /// Epochs of student distillation.
    pub distill_epochs: Option<f64>,
    /// Weight of the distillation term (alpha).
    pub distill_alpha: Option<f64>,
    /// Distillation temperature (T).
    pub distill_temperature: Option<f64>,
    /// Epochs of a full teacher (re)training.
    pub teacher_epochs: Option<f64>,
    /// Epochs of the teacher's fine-tune before distillation.
    pub teacher_finetune_epochs: Option<f64>,
    /// Threads used by background training.
    pub training_threads: Option<f64>,
    /// Fraction of novel templates that triggers a retraining.
    pub drift_retrain_ratio: Option<f64>,
    /// Per-log counters are committed at least every this many logs per project.
    pub commit_every_logs: Option<f64>,
    /// Memory budget for loaded students, in bytes.
    pub student_memory_budget_bytes: Option<f64>,
    /// Seed of every random choice.
    pub seed: Option<f64>,
    /// Header format string of new projects left on format `auto` (`LOG_FORMAT`).
    #[napi(ts_type = "string | null")]
    pub log_format: Option<String>,
}

/// The option that is not a `Config` field.
const TINY_MODELS: &str = "tiny_models";

/// The `Config` fields (snake_case), from the core's own serialization.
fn config_keys() -> Vec<String> {
    match serde_json::to_value(Config::default()) {
        Ok(Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Builds the core `Config` from the constructor's options object.
pub fn build_config(options: Option<Value>) -> Result<Config> {
    let options = match options {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(invalid_config(
                "options",
                format!("expected an object, got {other}"),
            ))
        }
    };
    let known = config_keys();
    let mut map = Map::new();
    let mut tiny = false;
    let mut given: Vec<(String, String, Value)> = Vec::new();
    for (key, value) in options {
        if value.is_null() {
            continue;
        }
        let snake = camel_to_snake(&key);
        if snake == TINY_MODELS {
            tiny = value.as_bool().ok_or_else(|| {
                invalid_config(key.as_str(), format!("expected a boolean, got {value}"))
            })?;
            continue;
        }
        if !known.contains(&snake) {
            let mut names: Vec<String> = known.iter().map(|k| snake_to_camel(k)).collect();
            names.push(snake_to_camel(TINY_MODELS));
            return Err(invalid_config(
                key.as_str(),
                format!("unknown option (options are: {})", names.join(", ")),
            ));
        }
        given.push((key, snake, normalize(value)));
    }
    if tiny {
        let tiny = serde_json::to_value(Config::default().tiny_models())
            .map_err(|e| invalid_config("tinyModels", e.to_string()))?;
        for key in ["teacher", "student", "teacher_epochs"] {
            if let Some(v) = tiny.get(key) {
                map.insert(key.to_string(), v.clone());
            }
        }
    }
    for (key, snake, value) in given {
        // Each value alone first, so a type error names its option.
        let mut one = Map::new();
        one.insert(snake.clone(), value.clone());
        if let Err(e) = serde_json::from_value::<Config>(Value::Object(one)) {
            return Err(invalid_config(key.as_str(), e.to_string()));
        }
        map.insert(snake, value);
    }
    serde_json::from_value(Value::Object(map)).map_err(|e| invalid_config("options", e.to_string()))
}

/// A user-defined rule: a regex searched in the raw line; hits are named `custom:NAME`.
#[napi(object)]
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CustomRule {
    /// Rule name (non-empty, unique within the project).
    pub name: String,
    /// Regular expression (Rust `regex` syntax).
    pub pattern: String,
    /// Severity of a hit, in `[0, 1]`.
    pub severity: f64,
}

/// Options of `createProject(name, options)`; an unknown key is an `INVALID_INPUT` error.
#[napi(object)]
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProjectOptions {
    /// Logs of warmup before a student is trained (at least 100); default: the detector's
    /// `warmupThreshold`.
    pub warmup_threshold: Option<f64>,
    /// Header format of the project's lines (case-insensitive). Default `'auto'`.
    #[napi(ts_type = "LogFormat")]
    pub format: Option<String>,
    /// Header format string, the logparser way (`'<Date> <Time> <Level> <Component>: <Content>'`);
    /// wins over `format`.
    pub log_format: Option<String>,
    /// Regex whose first match (or first capture group) in a line is the line's session id; a
    /// `sessionId` given with the line wins.
    pub session_pattern: Option<String>,
    /// Extra rules of this project.
    pub custom_rules: Option<Vec<CustomRule>>,
}

/// Builds the core `NewProject` from `createProject`'s arguments.
pub fn build_project(name: String, options: Option<Value>) -> Result<NewProject> {
    let options = match options {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(invalid_input(format!(
                "project options must be an object, got {other}"
            )))
        }
    };
    let mut map = Map::new();
    map.insert("name".into(), Value::String(name));
    for (key, value) in options {
        if value.is_null() {
            continue;
        }
        let snake = camel_to_snake(&key);
        match snake.as_str() {
            "warmup_threshold" | "session_pattern" | "custom_rules" | "log_format" => {
                map.insert(snake, normalize(value));
            }
            "format" => {
                let name = value.as_str().ok_or_else(|| {
                    invalid_input(format!("format must be a string, got {value}"))
                })?;
                let format = name.parse::<logsentinel::LogFormat>().js()?;
                map.insert(snake, Value::String(format.name().to_string()));
            }
            _ => {
                return Err(invalid_input(format!(
                    "unknown project option {key:?} (options are: warmupThreshold, format, \
                     logFormat, sessionPattern, customRules)"
                )))
            }
        }
    }
    serde_json::from_value(Value::Object(map)).map_err(|e| invalid_input(e.to_string()))
}

/// One record of `detectBatch`, as an object (a plain string or Buffer is a line without a session).
/// Without `sessionId`, any key other than `logLine` is an `INVALID_INPUT` error (a misspelt session
/// key must not be dropped silently); with it, other keys are not looked at.
#[napi(object)]
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LogInput {
    /// The raw line; a Buffer is decoded as UTF-8 with invalid bytes replaced (U+FFFD).
    #[napi(ts_type = "string | Buffer")]
    pub log_line: String,
    /// The line's session; when absent, the project's session pattern or its format's default key
    /// (HDFS block id, client IP of access logs...) decides.
    #[napi(ts_type = "string | null")]
    pub session_id: Option<String>,
}

/// A line argument: a string, or a Buffer decoded leniently.
pub fn line_from(value: &Unknown<'_>, what: &str) -> Result<LogRecord> {
    match value.get_type().js()? {
        ValueType::String => {
            // SAFETY: the value was just checked to be a string.
            let s: String = unsafe { value.cast() }.js()?;
            Ok(LogRecord::new(s))
        }
        ValueType::Object if value.is_buffer().js()? => {
            // SAFETY: the value was just checked to be a Buffer.
            let b: Buffer = unsafe { value.cast() }.js()?;
            Ok(LogRecord::from_bytes(&b))
        }
        other => Err(invalid_input(format!(
            "{what} must be a string or a Buffer, got {}",
            type_name(other)
        ))),
    }
}

fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "a boolean",
        ValueType::Number => "a number",
        ValueType::String => "a string",
        ValueType::Symbol => "a symbol",
        ValueType::Object => "an object",
        ValueType::Function => "a function",
        ValueType::External => "an external",
        ValueType::BigInt => "a bigint",
        _ => "an unknown value",
    }
}

/// A session id argument: a string, or `undefined`/`null` for none.
fn session_from(value: Option<Unknown<'_>>, what: &str) -> Result<Option<String>> {
    let Some(value) = value else {
        return Ok(None);
    };
    match value.get_type().js()? {
        ValueType::Undefined | ValueType::Null => Ok(None),
        // SAFETY: the value was just checked to be a string.
        ValueType::String => Ok(Some(unsafe { value.cast::<String>() }.js()?)),
        other => Err(invalid_input(format!(
            "{what} must be a string, got {}",
            type_name(other)
        ))),
    }
}

/// `None` for an absent or `undefined` property.
fn defined<'a>(v: Option<Unknown<'a>>) -> Result<Option<Unknown<'a>>> {
    Ok(match v {
        Some(v) if v.get_type().js()? != ValueType::Undefined => Some(v),
        _ => None,
    })
}

/// The records of `detectBatch`: strings, Buffers or `{ logLine, sessionId }` objects.
pub fn records_from(records: &Array<'_>) -> Result<Vec<LogRecord>> {
    let n = records.len();
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let Some(item) = records.get::<Unknown<'_>>(i).js()? else {
            return Err(invalid_input(format!("record {i} is missing")));
        };
        let t = item.get_type().js()?;
        if t == ValueType::String || (t == ValueType::Object && item.is_buffer().js()?) {
            out.push(line_from(&item, &format!("record {i}"))?);
            continue;
        }
        if t != ValueType::Object {
            return Err(invalid_input(format!(
                "record {i}: expected a string, a Buffer or {{ logLine, sessionId }}, got {}",
                type_name(t)
            )));
        }
        // SAFETY: the value was just checked to be an object.
        let obj: Object<'_> = unsafe { item.cast() }.js()?;
        let line = defined(obj.get::<Unknown<'_>>("logLine").js()?)?;
        let session = defined(obj.get::<Unknown<'_>>("sessionId").js()?)?;
        if session.is_none() {
            // A misspelt session key (`sessionID`, `session`) must not be dropped silently. Listing the
            // keys is slow (a few µs), so only records without `sessionId` pay for it.
            for key in Object::keys(&obj).js()? {
                if key != "logLine" && key != "sessionId" {
                    return Err(invalid_input(format!(
                        "record {i}: unknown key {key:?} (expected logLine, sessionId)"
                    )));
                }
            }
        }
        let Some(line) = line else {
            return Err(invalid_input(format!("record {i} has no logLine")));
        };
        let mut record = line_from(&line, &format!("record {i}: logLine"))?;
        record.session_id = session_from(session, &format!("record {i}: sessionId"))?;
        out.push(record);
    }
    Ok(out)
}

/// Operator feedback, as `feedback(apiKey, feedback)` takes it: exactly one of `incidentId` and
/// `key` says what was looked at; `label` is required. Any other key, or a value of the wrong type, is
/// an `INVALID_INPUT` error naming it; `null` is the same as left out.
#[napi(object)]
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct NewFeedback {
    /// The incident looked at (every flagged result carries its `incidentId`); the scope picks what
    /// of it the mark matches (its pattern, top template, top rule or first client).
    #[napi(ts_type = "number | null")]
    pub incident_id: Option<f64>,
    /// What the scope matches, given directly: a result's `pattern`, a template, a rule name
    /// (`custom:NAME`, `severity:error`...) or a session id.
    #[napi(ts_type = "string | null")]
    pub key: Option<String>,
    /// `'normal'`: matching results stop alerting; `'anomaly'`: they keep alerting.
    #[napi(ts_type = "FeedbackLabel")]
    pub label: String,
    /// What the mark applies to. Default `'pattern'`.
    #[napi(ts_type = "FeedbackScope | null")]
    pub scope: Option<String>,
    /// How long it applies, in seconds from now (left out: for good).
    #[napi(ts_type = "number | null")]
    pub duration_secs: Option<f64>,
    /// Free text kept with the mark.
    #[napi(ts_type = "string | null")]
    pub note: Option<String>,
}

/// The keys of a feedback object, for error messages.
const FEEDBACK_KEYS: &str = "incidentId, key, label, scope, durationSecs, note";

/// A string value of an arguments object.
fn string_value(value: Value, what: &str) -> Result<String> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(invalid_input(format!(
            "{what} must be a string, got {other}"
        ))),
    }
}

/// A number value of an arguments object.
fn number_value(value: &Value, what: &str) -> Result<f64> {
    value
        .as_f64()
        .ok_or_else(|| invalid_input(format!("{what} must be a number, got {value}")))
}

/// Builds the core `NewFeedback` from `feedback`'s argument.
pub fn build_feedback(feedback: Value) -> Result<logsentinel::NewFeedback> {
    let map = match feedback {
        Value::Object(m) => m,
        other => {
            return Err(invalid_input(format!(
                "feedback must be an object ({{ incidentId | key, label, ... }}), got {other}"
            )))
        }
    };
    let (mut incident, mut key, mut label, mut scope) = (None, None, None, None);
    let (mut duration_secs, mut note) = (None, None);
    for (name, value) in map {
        if value.is_null() {
            continue;
        }
        match camel_to_snake(&name).as_str() {
            "incident_id" => {
                incident = Some(id_arg(number_value(&value, "incidentId")?, "incidentId")?)
            }
            "key" => key = Some(string_value(value, "key")?),
            "label" => {
                label = Some(
                    string_value(value, "label")?
                        .parse::<FeedbackLabel>()
                        .js()?,
                )
            }
            "scope" => {
                scope = Some(
                    string_value(value, "scope")?
                        .parse::<FeedbackScope>()
                        .js()?,
                )
            }
            "duration_secs" => duration_secs = Some(number_value(&value, "durationSecs")?),
            "note" => note = Some(string_value(value, "note")?),
            _ => {
                return Err(invalid_input(format!(
                    "unknown feedback key {name:?} (keys are: {FEEDBACK_KEYS})"
                )))
            }
        }
    }
    let target = match (incident, key) {
        (Some(id), None) => FeedbackTarget::Incident(id),
        (None, Some(key)) => FeedbackTarget::Key(key),
        (Some(_), Some(_)) => {
            return Err(invalid_input(
                "feedback takes one of incidentId and key, not both",
            ))
        }
        (None, None) => {
            return Err(invalid_input(
                "feedback needs incidentId or key (what was looked at)",
            ))
        }
    };
    let label =
        label.ok_or_else(|| invalid_input("feedback needs a label: \"normal\" or \"anomaly\""))?;
    Ok(logsentinel::NewFeedback {
        target,
        label,
        scope: scope.unwrap_or_default(),
        duration_secs,
        note,
    })
}

/// An id (incident, feedback mark) from JavaScript: a non-negative integer number.
pub fn id_arg(id: f64, what: &str) -> Result<u64> {
    if id.is_finite() && id >= 0.0 && id.fract() == 0.0 && id < 9_007_199_254_740_992.0 {
        Ok(id as u64)
    } else {
        Err(invalid_input(format!(
            "{what} must be a non-negative integer, got {id}"
        )))
    }
}

/// An incident state filter: `'open'`, `'resolved'`, or `undefined`/`null` for every incident.
pub fn incident_state_arg(state: Option<String>) -> Result<Option<logsentinel::IncidentState>> {
    state
        .map(|s| s.parse::<logsentinel::IncidentState>().js())
        .transpose()
}

/// A timeout in milliseconds from JavaScript as a `Duration` (`undefined`: no limit).
pub fn timeout_arg(timeout_ms: Option<f64>) -> Result<Option<std::time::Duration>> {
    match timeout_ms {
        None => Ok(None),
        Some(t) if t.is_finite() && t >= 0.0 => std::time::Duration::try_from_secs_f64(t / 1000.0)
            .map(Some)
            .map_err(|e| invalid_input(format!("invalid timeoutMs: {e}"))),
        Some(t) => Err(invalid_input(format!(
            "timeoutMs must be a non-negative number of milliseconds, got {t}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeSet;

    fn keys<T: Serialize>(value: &T) -> BTreeSet<String> {
        match serde_json::to_value(value) {
            Ok(Value::Object(m)) => m.keys().cloned().collect(),
            other => panic!("not an object: {other:?}"),
        }
    }

    #[test]
    fn case_conversions() {
        assert_eq!(camel_to_snake("storageDir"), "storage_dir");
        assert_eq!(camel_to_snake("dFf"), "d_ff");
        assert_eq!(camel_to_snake("max_line_bytes"), "max_line_bytes");
        assert_eq!(
            snake_to_camel("student_memory_budget_bytes"),
            "studentMemoryBudgetBytes"
        );
        assert_eq!(snake_to_camel("d_ff"), "dFf");
    }

    /// The TypeScript option and config types list exactly the core's `Config` fields.
    #[test]
    fn option_types_cover_every_config_field() {
        let core: BTreeSet<String> = config_keys().iter().map(|k| snake_to_camel(k)).collect();
        let config = DetectorConfig::from(&Config::default());
        assert_eq!(keys(&config), core);
        let mut options = keys(&DetectorOptions::default());
        assert!(options.remove("tinyModels"));
        assert_eq!(options, core);
        assert_eq!(
            keys(&ModelDims::default()),
            ["nLayers", "dModel", "nHeads", "dFf"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        );
        // Round trip: the config's own JSON is valid options.
        let back = build_config(Some(serde_json::to_value(&config).unwrap())).unwrap();
        assert_eq!(back, Config::default());
    }

    #[test]
    fn options_in_camel_case_with_tiny_models() {
        let c = build_config(Some(json!({
            "storageDir": "/tmp/x",
            "warmupThreshold": 500.0,
            "tinyModels": true,
            "studentMemoryBudgetBytes": 8_000_000_000.0,
            "maxBatchSize": null,
            "student": {"nLayers": 2, "dModel": 64, "nHeads": 4, "dFf": 128}
        })))
        .unwrap();
        assert_eq!(c.storage_dir, std::path::PathBuf::from("/tmp/x"));
        assert_eq!(c.warmup_threshold, 500);
        assert_eq!(c.teacher, logsentinel::ModelDims::TINY);
        assert_eq!(c.student.d_model, 64);
        assert_eq!(c.student_memory_budget_bytes, 8_000_000_000);
        assert_eq!(c.max_batch_size, Config::default().max_batch_size);
        assert_eq!(build_config(None).unwrap(), Config::default());
    }

    #[test]
    fn bad_options_name_the_key() {
        let err = |v: Value| build_config(Some(v)).unwrap_err().reason;
        let e = err(json!({"warmupTreshold": 500}));
        assert!(
            e.contains("warmupTreshold") && e.contains("warmupThreshold"),
            "{e}"
        );
        let e = err(json!({"maxBatchSize": "ten"}));
        assert!(e.contains("maxBatchSize"), "{e}");
        let e = err(json!({"tinyModels": "yes"}));
        assert!(e.contains("tinyModels"), "{e}");
        let e = err(json!({"teacher": {"nLayers": 1}}));
        assert!(e.contains("teacher") && e.contains("missing field"), "{e}");
        let e = err(json!({"warmupThreshold": 1.5}));
        assert!(e.contains("warmupThreshold"), "{e}");
        assert!(err(json!("tiny")).contains("expected an object"));
    }

    #[test]
    fn project_options() {
        let p = build_project(
            "web".into(),
            Some(json!({
                "warmupThreshold": 1000,
                "format": "HDFS",
                "sessionPattern": "blk_-?\\d+",
                "customRules": [{"name": "boom", "pattern": "BOOM", "severity": 1.0}]
            })),
        )
        .unwrap();
        assert_eq!(p.warmup_threshold, Some(1000));
        assert_eq!(p.format, logsentinel::LogFormat::Hdfs);
        assert_eq!(p.custom_rules.len(), 1);
        let e = build_project("x".into(), Some(json!({"format": "nope"}))).unwrap_err();
        assert_eq!(e.status.as_ref(), "INVALID_INPUT");
        assert!(e.reason.contains("unknown log format"), "{}", e.reason);
        let e = build_project("x".into(), Some(json!({"sesionPattern": "x"}))).unwrap_err();
        assert!(e.reason.contains("sesionPattern"), "{}", e.reason);
        assert_eq!(
            keys(&ProjectOptions::default()),
            [
                "warmupThreshold",
                "format",
                "logFormat",
                "sessionPattern",
                "customRules"
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        );
    }

    #[test]
    fn feedback_arguments() {
        let f = build_feedback(json!({"incidentId": 3, "label": "normal"})).unwrap();
        assert_eq!(
            f,
            logsentinel::NewFeedback::incident(3, FeedbackLabel::Normal)
        );
        let f = build_feedback(json!({
            "key": "10.9.9.9", "label": "anomaly", "scope": "client",
            "durationSecs": 60, "note": "pen test", "incidentId": null
        }))
        .unwrap();
        assert_eq!(f.target, FeedbackTarget::Key("10.9.9.9".into()));
        assert_eq!(f.scope, FeedbackScope::Client);
        assert_eq!(f.duration_secs, Some(60.0));
        assert_eq!(f.note.as_deref(), Some("pen test"));
        let f =
            build_feedback(json!({"incident_id": 4.0, "label": "normal", "duration_secs": 1.5}))
                .unwrap();
        assert_eq!(f.target, FeedbackTarget::Incident(4));
        assert_eq!(f.duration_secs, Some(1.5));
        let err = |v: Value| {
            let e = build_feedback(v).unwrap_err();
            assert_eq!(e.status.as_ref(), "INVALID_INPUT");
            e.reason
        };
        let e = err(json!({"incidentId": 1, "label": "fine"}));
        assert!(e.contains(r#""normal", "anomaly""#), "{e}");
        let e = err(json!({"incidentId": 1, "label": "normal", "scope": "everything"}));
        assert!(
            e.contains(r#""pattern", "template", "rule", "client""#),
            "{e}"
        );
        let e = err(json!({"incidentId": 1, "key": "k", "label": "normal"}));
        assert!(e.contains("not both"), "{e}");
        assert!(err(json!({"label": "normal"})).contains("incidentId or key"));
        assert!(err(json!({"incidentId": 1})).contains("label"));
        assert!(err(json!({"incidentId": 1, "label": "normal", "scop": "rule"})).contains("scop"));
        assert!(err(json!({"incidentId": -1, "label": "normal"})).contains("incidentId"));
        assert!(err(json!({"incidentId": 1.5, "label": "normal"})).contains("incidentId"));
        assert!(err(json!({"incidentId": "1", "label": "normal"})).contains("incidentId"));
        assert!(err(json!({"key": 7, "label": "normal"})).contains("key must be a string"));
        assert!(err(json!("normal")).contains("must be an object"));
        // The typed shape lists the core's fields, with the target as its two keys.
        assert_eq!(
            keys(&NewFeedback::default()),
            FEEDBACK_KEYS.split(", ").map(str::to_string).collect()
        );
        let core = keys(&logsentinel::NewFeedback::incident(
            1,
            FeedbackLabel::Normal,
        ));
        let mut core: BTreeSet<String> = core.iter().map(|k| snake_to_camel(k)).collect();
        assert!(core.remove("target"));
        core.extend(["incidentId".to_string(), "key".to_string()]);
        assert_eq!(keys(&NewFeedback::default()), core);
    }

    #[test]
    fn ids_and_states() {
        assert_eq!(id_arg(7.0, "id").unwrap(), 7);
        for bad in [-1.0, 0.5, f64::NAN, f64::INFINITY, 1e300] {
            assert!(id_arg(bad, "id").is_err(), "{bad}");
        }
        assert_eq!(incident_state_arg(None).unwrap(), None);
        assert_eq!(
            incident_state_arg(Some("resolved".into())).unwrap(),
            Some(logsentinel::IncidentState::Resolved)
        );
        let e = incident_state_arg(Some("closed".into())).unwrap_err();
        assert_eq!(e.status.as_ref(), "INVALID_INPUT");
        assert!(e.reason.contains(r#""open", "resolved""#), "{}", e.reason);
    }

    #[test]
    fn timeouts() {
        assert_eq!(timeout_arg(None).unwrap(), None);
        assert_eq!(
            timeout_arg(Some(1500.0)).unwrap(),
            Some(std::time::Duration::from_millis(1500))
        );
        assert!(timeout_arg(Some(-1.0)).is_err());
        assert!(timeout_arg(Some(f64::NAN)).is_err());
    }
}
