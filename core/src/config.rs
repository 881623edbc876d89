//! Configuration: a plain serde struct with defaults, set in code by the host.
//!
//! [`Config::from_env`] reads the original service's variable names (used by the CLI and the server, never
//! implicitly by the library). Each name is also accepted with a `LOGSENTINEL_` prefix, which wins.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Where models run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// The CPU (always available).
    #[default]
    Cpu,
    /// A CUDA GPU (needs the `cuda` feature).
    Cuda,
}

/// What one lease covers on a shared database (`LEASE_SCOPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LeaseScope {
    /// One lease for the whole database: one instance writes it, others wait as standbys.
    #[default]
    Storage,
    /// One lease per project, taken by the instance that serves the project's first call: many
    /// instances serve one database, each tenant written by one of them at a time; the shared
    /// teacher is written under a `teacher` lease of its own.
    Project,
}

/// Sizes of one sequence model (teacher or student).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelDims {
    /// Transformer layers.
    pub n_layers: usize,
    /// Hidden size.
    pub d_model: usize,
    /// Attention heads (must divide `d_model`).
    pub n_heads: usize,
    /// Feed-forward hidden size.
    pub d_ff: usize,
}

impl ModelDims {
    /// The teacher of DESIGN 4: 4 layers, d 256, 8 heads, FFN 1024.
    pub const TEACHER: ModelDims = ModelDims {
        n_layers: 4,
        d_model: 256,
        n_heads: 8,
        d_ff: 1024,
    };
    /// The student of DESIGN 4: 2 layers, d 128, 4 heads, FFN 512.
    pub const STUDENT: ModelDims = ModelDims {
        n_layers: 2,
        d_model: 128,
        n_heads: 4,
        d_ff: 512,
    };
    /// A tiny model for tests and demos on slow machines.
    pub const TINY: ModelDims = ModelDims {
        n_layers: 1,
        d_model: 32,
        n_heads: 2,
        d_ff: 64,
    };

    fn validate(&self, name: &str) -> Result<()> {
        if self.n_layers == 0 || self.d_model == 0 || self.n_heads == 0 || self.d_ff == 0 {
            return Err(config_error(name, "all dimensions must be positive"));
        }
        if self.d_model % self.n_heads != 0 || (self.d_model / self.n_heads) % 2 != 0 {
            return Err(config_error(
                name,
                "d_model must be a multiple of n_heads with an even head size (rotary positions)",
            ));
        }
        Ok(())
    }
}

/// Every setting of a [`crate::TenantDetector`]. All fields have defaults (`Config::default()`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory of the embedded database (`STORAGE_DIR`). Created if missing.
    pub storage_dir: PathBuf,
    /// A PostgreSQL database to keep the state in instead (`STORAGE_URL`, `postgres://...`), shared by
    /// every detector instance given the same URL; `None` keeps the embedded redb file under
    /// [`Config::storage_dir`].
    pub storage_url: Option<String>,
    /// This instance's name in a shared database (`INSTANCE_ID`; default `host:pid`): what another
    /// instance's [`crate::Error::LeaseHeld`] names, so a router can forward to it.
    pub instance_id: Option<String>,
    /// Seconds a lease on a shared database lasts without renewal (`LEASE_TTL_SECS`, default 5); the
    /// holder renews it every third of that. A standby takes over this long after its holder died.
    pub lease_ttl_secs: f64,
    /// Seconds `open` waits for a shared database leased by another instance before it fails with
    /// [`crate::Error::LeaseHeld`] (`LEASE_WAIT_SECS`, default 0: fail at once).
    pub lease_wait_secs: f64,
    /// What a lease covers on a shared database (`LEASE_SCOPE`: `storage`, the default, or
    /// `project`); see [`LeaseScope`]. With `project`, [`Config::lease_wait_secs`] is also how long a
    /// call waits for a project another instance holds before it fails with
    /// [`crate::Error::LeaseHeld`].
    pub lease_scope: LeaseScope,
    /// Optional directory holding a pre-trained teacher to start from (`MODEL_DIR`).
    pub model_dir: Option<PathBuf>,
    /// Device for models (`DEVICE`: cpu | cuda).
    pub device: DeviceKind,
    /// Default warmup threshold of new projects, in logs (`WARMUP_THRESHOLD`).
    pub warmup_threshold: u64,
    /// Days between scheduled teacher updates (`TEACHER_UPDATE_DAYS`).
    pub teacher_update_days: f64,
    /// HTTP listen host for `logsentinel serve` (`HOST`; default 127.0.0.1, this machine only).
    pub host: String,
    /// HTTP listen port for `logsentinel serve` (`PORT`).
    pub port: u16,
    /// Admin credential for admin operations of the HTTP API (`ADMIN_API_KEY`); `None` refuses them.
    pub admin_api_key: Option<String>,
    /// A session closes after this many seconds without a line, measured on log time.
    pub session_idle_timeout_secs: f64,
    /// An incident stays open while its pattern recurs within this many seconds of log time
    /// (`INCIDENT_GAP_SECS`, default one hour); after that quiet it is resolved.
    pub incident_gap_secs: f64,
    /// At most this many open sessions per project; the least recently used is closed beyond it.
    pub max_sessions_per_project: usize,
    /// At most this many templates per project (LRU eviction beyond it).
    pub max_templates_per_project: usize,
    /// Lines longer than this many bytes are truncated (and the truncation recorded in the result).
    pub max_line_bytes: usize,
    /// Most lines accepted by one `detect_batch` call.
    pub max_batch_size: usize,
    /// Minimum number of session sequences before a student is trained.
    pub min_training_sequences: usize,
    /// Most session sequences kept per project for training and teacher updates.
    pub max_training_sequences: usize,
    /// Target false-positive rate each component's threshold is calibrated to on warmup data.
    pub target_false_positive_rate: f64,
    /// Ensemble score at or above which a line is an anomaly.
    pub anomaly_threshold: f64,
    /// Context window of the sequence models, in templates.
    pub window: usize,
    /// Teacher sizes.
    pub teacher: ModelDims,
    /// Student sizes.
    pub student: ModelDims,
    /// Epochs of student distillation.
    pub distill_epochs: usize,
    /// Weight of the distillation term (alpha).
    pub distill_alpha: f64,
    /// Distillation temperature (T).
    pub distill_temperature: f64,
    /// Epochs of a full teacher (re)training on pooled data.
    pub teacher_epochs: usize,
    /// Epochs of the teacher's fine-tune on a project's warmup data before distillation.
    pub teacher_finetune_epochs: usize,
    /// Threads used by background training (bounded so detection keeps its cores).
    pub training_threads: usize,
    /// Fraction of novel (unknown) templates among recent active-phase logs that triggers a retraining.
    pub drift_retrain_ratio: f64,
    /// Per-log counters and samples are committed at least every this many logs per project.
    pub commit_every_logs: u64,
    /// Memory budget for loaded students, in bytes: beyond it the least recently used are evicted (and
    /// reloaded from storage on their next line).
    pub student_memory_budget_bytes: usize,
    /// Evaluation only (the *teacher only* ablation of `logsentinel eval --teacher-only`): the shared
    /// teacher keeps scoring a project after its student is trained. Never serialized, so no binding,
    /// file or environment variable sets it.
    #[serde(skip)]
    pub ablation_teacher_scores: bool,
    /// Seed of every random choice (initialisation, shuffling, forests).
    pub seed: u64,
    /// Header format string (logparser convention, `<Date> <Time> <Level> <Component>: <Content>`)
    /// of new projects created with format `auto` and no format string of their own (`LOG_FORMAT`).
    pub log_format: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            storage_dir: PathBuf::from("./data"),
            storage_url: None,
            instance_id: None,
            lease_ttl_secs: 5.0,
            lease_wait_secs: 0.0,
            lease_scope: LeaseScope::Storage,
            model_dir: None,
            device: DeviceKind::Cpu,
            warmup_threshold: 10_000,
            teacher_update_days: 7.0,
            host: "127.0.0.1".to_string(),
            port: 8000,
            admin_api_key: None,
            session_idle_timeout_secs: 60.0,
            incident_gap_secs: 3600.0,
            max_sessions_per_project: 10_000,
            max_templates_per_project: 10_000,
            max_line_bytes: 64 * 1024,
            max_batch_size: 100_000,
            min_training_sequences: 100,
            max_training_sequences: 4_000,
            target_false_positive_rate: 0.005,
            anomaly_threshold: 0.5,
            window: 16,
            teacher: ModelDims::TEACHER,
            student: ModelDims::STUDENT,
            distill_epochs: 5,
            distill_alpha: 0.5,
            distill_temperature: 3.0,
            teacher_epochs: 3,
            teacher_finetune_epochs: 1,
            training_threads: default_training_threads(),
            drift_retrain_ratio: 0.05,
            commit_every_logs: 1_000,
            student_memory_budget_bytes: 2 << 30,
            ablation_teacher_scores: false,
            seed: 42,
            log_format: None,
        }
    }
}

fn default_training_threads() -> usize {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    cores.div_ceil(2).max(1)
}

fn config_error(name: &str, reason: impl Into<String>) -> Error {
    Error::InvalidConfig {
        name: name.to_string(),
        reason: reason.into(),
    }
}

impl Config {
    /// A config storing under `dir`, other fields default.
    pub fn with_storage_dir(dir: impl Into<PathBuf>) -> Self {
        Self {
            storage_dir: dir.into(),
            ..Self::default()
        }
    }

    /// Tiny teacher and student (1 layer, d 32) and short training: for tests and quick demos.
    pub fn tiny_models(mut self) -> Self {
        self.teacher = ModelDims::TINY;
        self.student = ModelDims::TINY;
        self.teacher_epochs = 2;
        self
    }

    /// Reads the environment: `MODEL_DIR, STORAGE_DIR, STORAGE_URL, HOST, PORT, DEVICE, WARMUP_THRESHOLD,
    /// TEACHER_UPDATE_DAYS, ADMIN_API_KEY, LOG_FORMAT`, and `LOGSENTINEL_*` names for thresholds and limits
    /// (`LOGSENTINEL_SESSION_IDLE_TIMEOUT_SECS`, `LOGSENTINEL_MAX_SESSIONS_PER_PROJECT`,
    /// `LOGSENTINEL_MAX_TEMPLATES_PER_PROJECT`, `LOGSENTINEL_MAX_LINE_BYTES`, `LOGSENTINEL_MAX_BATCH_SIZE`,
    /// `LOGSENTINEL_TARGET_FALSE_POSITIVE_RATE`, `LOGSENTINEL_ANOMALY_THRESHOLD`,
    /// `LOGSENTINEL_TRAINING_THREADS`, `LOGSENTINEL_SEED`, `LOGSENTINEL_STUDENT_MEMORY_BUDGET_BYTES`, `LOGSENTINEL_MODEL_SIZE` = full | tiny).
    /// Every name is also accepted with the `LOGSENTINEL_` prefix, which wins. An invalid value is an
    /// [`Error::InvalidConfig`] naming the variable.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Config::from_env`] with an arbitrary variable source (testable without touching the
    /// process environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |name: &str| -> Option<(String, String)> {
            let prefixed = format!("LOGSENTINEL_{name}");
            if let Some(v) = lookup(&prefixed) {
                return Some((prefixed, v));
            }
            lookup(name).map(|v| (name.to_string(), v))
        };
        let mut c = Config::default();
        if let Some((_, v)) = get("STORAGE_DIR") {
            c.storage_dir = PathBuf::from(v);
        }
        if let Some((_, v)) = get("STORAGE_URL") {
            c.storage_url = (!v.trim().is_empty()).then(|| v.trim().to_string());
        }
        if let Some((_, v)) = get("MODEL_DIR") {
            c.model_dir = (!v.is_empty()).then(|| PathBuf::from(v));
        }
        if let Some((n, v)) = get("DEVICE") {
            c.device = match v.trim().to_ascii_lowercase().as_str() {
                "cpu" => DeviceKind::Cpu,
                "cuda" | "gpu" => DeviceKind::Cuda,
                _ => return Err(config_error(&n, format!("expected cpu or cuda, got {v:?}"))),
            };
        }
        if let Some((n, v)) = get("LEASE_SCOPE") {
            c.lease_scope = match v.trim().to_ascii_lowercase().as_str() {
                "storage" => LeaseScope::Storage,
                "project" => LeaseScope::Project,
                _ => {
                    return Err(config_error(
                        &n,
                        format!("expected storage or project, got {v:?}"),
                    ))
                }
            };
        }
        if let Some((n, v)) = get("HOST") {
            if v.trim().is_empty() {
                return Err(config_error(&n, "must not be empty"));
            }
            c.host = v.trim().to_string();
        }
        if let Some((_, v)) = get("LOG_FORMAT") {
            c.log_format = (!v.trim().is_empty()).then_some(v);
        }
        if let Some((_, v)) = get("ADMIN_API_KEY") {
            c.admin_api_key = (!v.is_empty()).then_some(v);
        }
        if let Some((n, v)) = get("PORT") {
            c.port = parse_num(&n, &v)?;
        }
        if let Some((n, v)) = get("WARMUP_THRESHOLD") {
            c.warmup_threshold = parse_num(&n, &v)?;
        }
        if let Some((n, v)) = get("TEACHER_UPDATE_DAYS") {
            c.teacher_update_days = parse_num(&n, &v)?;
        }
        macro_rules! num {
            ($field:ident, $var:literal) => {
                if let Some((n, v)) = get($var) {
                    c.$field = parse_num(&n, &v)?;
                }
            };
        }
        if let Some((_, v)) = get("INSTANCE_ID") {
            c.instance_id = (!v.trim().is_empty()).then(|| v.trim().to_string());
        }
        num!(lease_ttl_secs, "LEASE_TTL_SECS");
        num!(lease_wait_secs, "LEASE_WAIT_SECS");
        num!(session_idle_timeout_secs, "SESSION_IDLE_TIMEOUT_SECS");
        num!(incident_gap_secs, "INCIDENT_GAP_SECS");
        num!(max_sessions_per_project, "MAX_SESSIONS_PER_PROJECT");
        num!(max_templates_per_project, "MAX_TEMPLATES_PER_PROJECT");
        num!(max_line_bytes, "MAX_LINE_BYTES");
        num!(max_batch_size, "MAX_BATCH_SIZE");
        num!(target_false_positive_rate, "TARGET_FALSE_POSITIVE_RATE");
        num!(anomaly_threshold, "ANOMALY_THRESHOLD");
        num!(training_threads, "TRAINING_THREADS");
        num!(seed, "SEED");
        num!(student_memory_budget_bytes, "STUDENT_MEMORY_BUDGET_BYTES");
        if let Some((n, v)) = get("MODEL_SIZE") {
            match v.trim().to_ascii_lowercase().as_str() {
                "full" | "default" => {}
                "tiny" => c = c.tiny_models(),
                _ => {
                    return Err(config_error(
                        &n,
                        format!("expected full or tiny, got {v:?}"),
                    ))
                }
            }
        }
        c.validate()?;
        Ok(c)
    }

    /// Checks every field; the error names the offending field.
    pub fn validate(&self) -> Result<()> {
        if let Some(format) = &self.log_format {
            crate::parse::FormatString::compile(format).map_err(|e| match e {
                Error::InvalidConfig { reason, .. } => config_error("LOG_FORMAT", reason),
                other => other,
            })?;
        }
        if self.warmup_threshold < 100 {
            return Err(config_error("WARMUP_THRESHOLD", "must be at least 100"));
        }
        if !(self.teacher_update_days.is_finite() && self.teacher_update_days > 0.0) {
            return Err(config_error(
                "TEACHER_UPDATE_DAYS",
                "must be a positive number of days",
            ));
        }
        if !(self.session_idle_timeout_secs.is_finite() && self.session_idle_timeout_secs > 0.0) {
            return Err(config_error(
                "session_idle_timeout_secs",
                "must be positive",
            ));
        }
        if !(self.incident_gap_secs.is_finite() && self.incident_gap_secs > 0.0) {
            return Err(config_error("incident_gap_secs", "must be positive"));
        }
        if let Some(url) = &self.storage_url {
            crate::store::postgres_store::parse_url(url)?;
        }
        if !(self.lease_ttl_secs.is_finite() && (0.5..=3600.0).contains(&self.lease_ttl_secs)) {
            return Err(config_error(
                "lease_ttl_secs",
                "must be between 0.5 and 3600 seconds",
            ));
        }
        if self.lease_wait_secs.is_nan() || self.lease_wait_secs < 0.0 {
            return Err(config_error(
                "lease_wait_secs",
                "must be a number of seconds >= 0 (inf: wait for good)",
            ));
        }
        if self.max_sessions_per_project == 0 {
            return Err(config_error("max_sessions_per_project", "must be positive"));
        }
        if self.max_templates_per_project < 16 {
            return Err(config_error(
                "max_templates_per_project",
                "must be at least 16",
            ));
        }
        if self.max_line_bytes < 64 {
            return Err(config_error("max_line_bytes", "must be at least 64"));
        }
        if self.max_batch_size == 0 {
            return Err(config_error("max_batch_size", "must be positive"));
        }
        if !(self.target_false_positive_rate > 0.0 && self.target_false_positive_rate < 0.5) {
            return Err(config_error(
                "target_false_positive_rate",
                "must be in (0, 0.5)",
            ));
        }
        if !(self.anomaly_threshold > 0.0 && self.anomaly_threshold < 1.0) {
            return Err(config_error("anomaly_threshold", "must be in (0, 1)"));
        }
        if !(2..=256).contains(&self.window) {
            return Err(config_error("window", "must be in 2..=256"));
        }
        self.teacher.validate("teacher")?;
        self.student.validate("student")?;
        if self.distill_epochs == 0 || self.teacher_epochs == 0 {
            return Err(config_error("distill_epochs", "epochs must be positive"));
        }
        if !(0.0..=1.0).contains(&self.distill_alpha) {
            return Err(config_error("distill_alpha", "must be in [0, 1]"));
        }
        if self.distill_temperature.is_nan() || self.distill_temperature <= 0.0 {
            return Err(config_error("distill_temperature", "must be positive"));
        }
        if self.training_threads == 0 {
            return Err(config_error("training_threads", "must be at least 1"));
        }
        if self.min_training_sequences == 0
            || self.max_training_sequences < self.min_training_sequences
        {
            return Err(config_error(
                "max_training_sequences",
                "must be at least min_training_sequences (and both positive)",
            ));
        }
        if self.commit_every_logs == 0 {
            return Err(config_error("commit_every_logs", "must be positive"));
        }
        Ok(())
    }
}

fn parse_num<T: std::str::FromStr>(name: &str, value: &str) -> Result<T> {
    value
        .trim()
        .parse::<T>()
        .map_err(|_| config_error(name, format!("not a valid number: {value:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
        Config::default().tiny_models().validate().unwrap();
    }

    #[test]
    fn env_names_and_prefix_precedence() {
        let c = Config::from_lookup(lookup(&[
            ("STORAGE_DIR", "/tmp/a"),
            ("LOGSENTINEL_STORAGE_DIR", "/tmp/b"),
            ("WARMUP_THRESHOLD", "500"),
            ("TEACHER_UPDATE_DAYS", "1.5"),
            ("PORT", "9000"),
            ("DEVICE", "CPU"),
            ("LOGSENTINEL_MODEL_SIZE", "tiny"),
            ("LOG_FORMAT", r"\[<Time>\] \[<Level>\] <Content>"),
        ]))
        .unwrap();
        assert_eq!(
            c.log_format.as_deref(),
            Some(r"\[<Time>\] \[<Level>\] <Content>")
        );
        assert_eq!(c.storage_dir, PathBuf::from("/tmp/b"));
        assert_eq!(c.storage_url, None);
        let shared = Config::from_lookup(lookup(&[(
            "STORAGE_URL",
            "postgres://ls:secret@db.internal:5433/logs",
        )]))
        .unwrap();
        assert_eq!(
            shared.storage_url.as_deref(),
            Some("postgres://ls:secret@db.internal:5433/logs")
        );
        assert_eq!(shared.lease_scope, LeaseScope::Storage);
        let fleet =
            Config::from_lookup(lookup(&[("LOGSENTINEL_LEASE_SCOPE", " Project ")])).unwrap();
        assert_eq!(fleet.lease_scope, LeaseScope::Project);
        assert_eq!(c.warmup_threshold, 500);
        assert_eq!(c.teacher_update_days, 1.5);
        assert_eq!(c.port, 9000);
        assert_eq!(c.teacher, ModelDims::TINY);
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (var, val) in [
            ("WARMUP_THRESHOLD", "ten"),
            ("WARMUP_THRESHOLD", "5"),
            ("PORT", "70000"),
            ("DEVICE", "tpu"),
            ("LEASE_SCOPE", "tenant"),
            ("LOGSENTINEL_TEACHER_UPDATE_DAYS", "-1"),
            ("LOG_FORMAT", "<Date> <Time> <Level>"),
            ("STORAGE_URL", "mysql://db/logs"),
            ("STORAGE_URL", "postgres://db:notaport/logs"),
        ] {
            let err = Config::from_lookup(lookup(&[(var, val)])).unwrap_err();
            match err {
                Error::InvalidConfig { name, .. } => assert!(
                    var.ends_with(&name) || name.ends_with(var.trim_start_matches("LOGSENTINEL_")),
                    "{var} -> {name}"
                ),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn config_deserializes_from_json_with_defaults() {
        let c: Config = serde_json::from_str(r#"{"warmup_threshold": 300}"#).unwrap();
        assert_eq!(c.warmup_threshold, 300);
        assert!(serde_json::from_str::<Config>(r#"{"warmup_treshold": 300}"#).is_err());
    }
}
