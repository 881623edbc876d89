//! Pre-training the shared teacher on a corpus of log files (`logsentinel teacher pretrain`).
//!
//! Each file goes through a project of its own in a scratch storage, exactly as a tenant's lines
//! would (its header format, template mining, sessions), with a warmup no file reaches, so no
//! student is trained; then one teacher update trains the teacher on the pooled sequences of all
//! files, and the teacher is written as a model directory (see [`super::model_dir`]). The same
//! corpus, config and seed give the same weights.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::Config;
use crate::detector::{TenantDetector, MAX_WARMUP_THRESHOLD};
use crate::error::{Error, Result};
use crate::parse::LogFormat;
use crate::train::job::JobState;
use crate::types::{LogRecord, NewProject};

/// One file of the corpus.
#[derive(Debug, Clone)]
pub struct CorpusFile {
    /// The log file.
    pub path: PathBuf,
    /// Its header format (a preset, or `Auto`).
    pub format: LogFormat,
    /// A header format string (logparser convention), which wins over `format`.
    pub log_format: Option<String>,
}

/// Where a pre-training is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PretrainProgress {
    /// Lines of file `file` (0-based, of `files`) read so far.
    Reading {
        /// Index of the file.
        file: usize,
        /// Number of files.
        files: usize,
        /// Lines of this file read so far.
        lines: u64,
    },
    /// Teacher training, `fraction` in `[0, 1]`.
    Training {
        /// Share done.
        fraction: f32,
    },
}

/// What was read from one corpus file.
#[derive(Debug, Clone, Serialize)]
pub struct CorpusFileReport {
    /// The file.
    pub path: String,
    /// Its format (preset name, or the format string).
    pub format: String,
    /// Lines read.
    pub lines: u64,
    /// Templates mined from it.
    pub templates: usize,
}

/// The outcome of [`pretrain_teacher`], also written into the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct PretrainReport {
    /// Per file.
    pub files: Vec<CorpusFileReport>,
    /// Session sequences the teacher trained on (pooled, capped per file).
    pub sequences: usize,
    /// Templates in the vocabulary.
    pub vocabulary_size: usize,
    /// Parameters of the teacher.
    pub parameters: usize,
    /// Calibrated thresholds (raw units) learned on held-out sequences.
    pub thresholds: std::collections::BTreeMap<String, f32>,
    /// Seconds spent training the teacher.
    pub training_seconds: f64,
    /// Seconds in all.
    pub seconds: f64,
}

/// Trains the shared teacher of `config` (its dims, window, epochs and seed) on `corpus` and writes
/// it to `out` as a model directory. `out` may exist; a scratch storage is made inside it and
/// removed at the end. `progress` is called as lines are read and as the teacher trains.
pub fn pretrain_teacher(
    config: &Config,
    corpus: &[CorpusFile],
    out: &Path,
    progress: &mut dyn FnMut(PretrainProgress),
) -> Result<PretrainReport> {
    if corpus.is_empty() {
        return Err(Error::invalid_input(
            "no corpus: give at least one file (--data FORMAT:FILE)",
        ));
    }
    for file in corpus {
        if !file.path.is_file() {
            return Err(Error::invalid_input(format!(
                "{}: no such file",
                file.path.display()
            )));
        }
    }
    let started = Instant::now();
    std::fs::create_dir_all(out).map_err(|e| io_error(out, e))?;
    let scratch = out.join(".pretrain-storage");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).map_err(|e| io_error(&scratch, e))?;
    }
    let result = run(config, corpus, out, &scratch, started, progress);
    // The scratch storage is only a means: it goes whatever happened.
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn run(
    config: &Config,
    corpus: &[CorpusFile],
    out: &Path,
    scratch: &Path,
    started: Instant,
    progress: &mut dyn FnMut(PretrainProgress),
) -> Result<PretrainReport> {
    let mut scratch_config = config.clone();
    scratch_config.storage_dir = scratch.to_path_buf();
    // The scratch store is always a private redb file, even for a detector kept in PostgreSQL.
    scratch_config.storage_url = None;
    scratch_config.model_dir = None;
    // No file reaches it: projects only collect, nothing trains before the teacher update.
    scratch_config.warmup_threshold = MAX_WARMUP_THRESHOLD;
    let detector = TenantDetector::open(scratch_config)?;
    let mut files = Vec::with_capacity(corpus.len());
    for (index, file) in corpus.iter().enumerate() {
        let report = feed_file(&detector, config, file, index, corpus.len(), progress)?;
        files.push(report);
    }
    let training = Instant::now();
    let job = detector.force_teacher_update()?;
    let status = loop {
        let status = job.status();
        if status.state.is_finished() {
            break status;
        }
        progress(PretrainProgress::Training {
            fraction: status.progress,
        });
        std::thread::sleep(Duration::from_millis(200));
    };
    if status.state != JobState::Succeeded {
        return Err(Error::model(format!(
            "teacher training {:?}: {}",
            status.state,
            status.error.unwrap_or_default()
        )));
    }
    progress(PretrainProgress::Training { fraction: 1.0 });
    let training_seconds = training.elapsed().as_secs_f64();
    let info = detector.teacher_info()?;
    let sequences = detector
        .update_history()?
        .last()
        .map_or(0, |update| update.samples_used);
    let mut report = PretrainReport {
        files,
        sequences,
        vocabulary_size: info.vocabulary_size,
        parameters: info.parameters,
        thresholds: info.thresholds,
        training_seconds,
        seconds: 0.0,
    };
    report.seconds = started.elapsed().as_secs_f64();
    let manifest = serde_json::json!({
        "corpus": report.files,
        "seed": config.seed,
        "teacher": config.teacher,
        "window": config.window,
        "epochs": config.teacher_epochs,
        "metrics": {
            "sequences": report.sequences,
            "thresholds": report.thresholds,
            "training_seconds": report.training_seconds,
        },
    });
    detector.export_teacher(out, manifest)?;
    detector.close()?;
    Ok(report)
}

/// Streams one file through a project of its own; returns what it read.
fn feed_file(
    detector: &TenantDetector,
    config: &Config,
    file: &CorpusFile,
    index: usize,
    files: usize,
    progress: &mut dyn FnMut(PretrainProgress),
) -> Result<CorpusFileReport> {
    let stem = file
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut project = NewProject::named(format!("corpus-{index:03}-{stem}"));
    project.format = file.format;
    project.log_format = file.log_format.clone();
    project.warmup_threshold = Some(MAX_WARMUP_THRESHOLD);
    let created = detector.create_project(project)?;
    let reader = BufReader::new(File::open(&file.path).map_err(|e| io_error(&file.path, e))?);
    // Batches small enough for steady progress, never above the configured limit.
    let batch_size = config.max_batch_size.clamp(1, 4096);
    let mut batch: Vec<LogRecord> = Vec::with_capacity(batch_size);
    let mut lines = 0u64;
    for line in reader.split(b'\n') {
        let line = line.map_err(|e| io_error(&file.path, e))?;
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        if line.is_empty() {
            continue;
        }
        batch.push(LogRecord::from_bytes(line));
        if batch.len() == batch_size {
            lines += batch.len() as u64;
            detector.detect_batch(&created.api_key, &batch)?;
            batch.clear();
            progress(PretrainProgress::Reading {
                file: index,
                files,
                lines,
            });
        }
    }
    if !batch.is_empty() {
        lines += batch.len() as u64;
        detector.detect_batch(&created.api_key, &batch)?;
    }
    progress(PretrainProgress::Reading {
        file: index,
        files,
        lines,
    });
    detector.close_all_sessions(&created.api_key)?;
    let status = detector.status(&created.api_key)?;
    Ok(CorpusFileReport {
        path: file.path.display().to_string(),
        format: file
            .log_format
            .clone()
            .unwrap_or_else(|| file.format.name().to_string()),
        lines,
        templates: status.template_count,
    })
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::Storage(format!("{}: {e}", path.display()))
}
