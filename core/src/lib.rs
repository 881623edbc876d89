//! # logsentinel
//!
//! An embeddable, multi-tenant log anomaly detector with a student–teacher design.
//!
//! Each **project** (tenant) sends its log lines to one [`TenantDetector`]. During **warmup** a shared
//! **teacher** (a causal Transformer over log-template sequences, an isolation forest and rules,
//! calibrated into one ensemble) scores every line while the project mines its own templates and collects
//! session sequences. At the warmup threshold a small project-specific **student** is distilled from the
//! teacher in the background and takes over. The teacher is retrained on all projects' data on a schedule,
//! so what one project teaches it carries to the next.
//!
//! ```
//! use logsentinel::{Config, LogRecord, NewProject, TenantDetector};
//!
//! # let dir = tempfile::tempdir().unwrap();
//! let det = TenantDetector::open(Config::with_storage_dir(dir.path()))?;
//! let p = det.create_project(NewProject::named("My Web App").warmup_threshold(10_000))?;
//! // p.api_key is shown once; only its SHA-256 is stored.
//! let line = "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating";
//! let d = det.detect(&p.api_key, LogRecord::new(line).session("blk_38865049064139660"))?;
//! if d.is_anomaly {
//!     eprintln!("{} {:.2} {}", d.template, d.anomaly_score, d.reasons.join("; "));
//! }
//! # Ok::<(), logsentinel::Error>(())
//! ```
//!
//! Storage is [redb](https://docs.rs/redb) under `Config::storage_dir`: projects, key hashes, templates,
//! models and the teacher's update history survive restarts. Project and key changes are durable before a
//! call returns; per-log counters, templates and training samples are group-committed at least every
//! [`Config::commit_every_logs`] logs per project (and at most once a second), on [`TenantDetector::flush`],
//! on [`TenantDetector::close`] and when the last handle drops: a crash loses at most that window, never
//! consistency.
#![deny(missing_docs)]

pub mod config;
pub mod detector;
pub mod error;
mod fleet;
pub mod model;
pub mod parse;
pub mod store;
pub mod summary;
pub mod tenant;
pub mod train;
pub mod types;
pub mod util;

pub use config::{Config, DeviceKind, LeaseScope, ModelDims};
pub use detector::{IncidentCallback, TenantDetector, VerdictCallback};
pub use error::{Error, ErrorKind, Result};
pub use model::rules::{CustomRule, RuleCategory};
pub use parse::LogFormat;
pub use tenant::feedback::{Feedback, FeedbackLabel, FeedbackScope, FeedbackTarget, NewFeedback};
pub use tenant::incident::{Counted, Incident, IncidentExample, IncidentState};
pub use train::clock::{Clock, ManualClock, SystemClock};
pub use train::job::{JobHandle, JobState, JobStatus};
pub use types::*;
