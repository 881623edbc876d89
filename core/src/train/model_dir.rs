//! A teacher on disk (`MODEL_DIR`): what `logsentinel teacher pretrain` writes and what a detector
//! opened with [`crate::Config::model_dir`] on a fresh storage starts from.
//!
//! | file | holds |
//! |---|---|
//! | `teacher.safetensors` | the weights |
//! | `teacher.json` | the model's [`SeqModelConfig`] |
//! | `vocabulary.json` | the template vocabulary: token ids keep their meaning on a fresh storage |
//! | `calibration.json` | thresholds and the isolation forest learned with the weights |
//! | `manifest.json` | format version, corpus, config, seed and metrics (for people; not read back) |
//!
//! Weights without a vocabulary are refused: their token ids would point at other templates.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::ModelDims;
use crate::error::{Error, Result};
use crate::model::ensemble::Thresholds;
use crate::model::forest::IsolationForest;
use crate::model::transformer::{SeqModelConfig, FIRST_TEMPLATE_TOKEN};
use crate::model::vocab::GlobalVocab;

/// Version of the directory layout, written to the manifest.
pub const MODEL_DIR_FORMAT: u32 = 1;

const WEIGHTS: &str = "teacher.safetensors";
const MODEL_CONFIG: &str = "teacher.json";
const VOCABULARY: &str = "vocabulary.json";
const CALIBRATION: &str = "calibration.json";
const MANIFEST: &str = "manifest.json";

/// Thresholds and forest stored beside the weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Calibration {
    /// Calibrated thresholds of the sequence model and forest.
    pub thresholds: Thresholds,
    /// Isolation forest over pooled features, when one was fitted.
    pub forest: Option<IsolationForest>,
}

/// A teacher read from or written to a model directory.
#[derive(Debug, Clone)]
pub struct StoredTeacher {
    /// Safetensors bytes of the weights.
    pub weights: Vec<u8>,
    /// The model's configuration.
    pub config: SeqModelConfig,
    /// The vocabulary its token ids refer to.
    pub vocab: GlobalVocab,
    /// Thresholds and forest (absent in a directory written by hand).
    pub calibration: Option<Calibration>,
}

/// Reads the teacher in `dir`; `None` when the directory holds no weights. Unreadable files, weights
/// without a vocabulary, or a vocabulary shorter than the model's are [`Error::Model`] errors naming
/// the file.
pub fn read(dir: &Path) -> Result<Option<StoredTeacher>> {
    let weights_path = dir.join(WEIGHTS);
    if !weights_path.exists() {
        return Ok(None);
    }
    let config: SeqModelConfig = read_json(&dir.join(MODEL_CONFIG))?;
    config.validate()?;
    let vocab_path = dir.join(VOCABULARY);
    if !vocab_path.exists() {
        return Err(Error::model(format!(
            "{}: teacher weights without {VOCABULARY}: their token ids would point at other \
             templates (write the directory with `logsentinel teacher pretrain`)",
            dir.display()
        )));
    }
    let mut vocab: GlobalVocab = read_json(&vocab_path)?;
    vocab.reindex();
    if vocab.token_count() < config.vocab_size {
        return Err(Error::model(format!(
            "{}: the vocabulary holds {} templates, the model {}",
            vocab_path.display(),
            vocab.len(),
            config
                .vocab_size
                .saturating_sub(FIRST_TEMPLATE_TOKEN as usize)
        )));
    }
    let calibration_path = dir.join(CALIBRATION);
    let calibration = if calibration_path.exists() {
        Some(read_json(&calibration_path)?)
    } else {
        None
    };
    let weights = std::fs::read(&weights_path).map_err(|e| io_error(&weights_path, e))?;
    Ok(Some(StoredTeacher {
        weights,
        config,
        vocab,
        calibration,
    }))
}

/// Writes `teacher` and `manifest` into `dir` (created if missing). Each file is written to a
/// temporary name and renamed, so a reader never sees half a file.
pub fn write(dir: &Path, teacher: &StoredTeacher, manifest: &serde_json::Value) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    write_file(&dir.join(WEIGHTS), &teacher.weights)?;
    write_file(
        &dir.join(MODEL_CONFIG),
        &serde_json::to_vec_pretty(&teacher.config)?,
    )?;
    write_file(&dir.join(VOCABULARY), &serde_json::to_vec(&teacher.vocab)?)?;
    if let Some(calibration) = &teacher.calibration {
        write_file(
            &dir.join(CALIBRATION),
            &serde_json::to_vec_pretty(calibration)?,
        )?;
    }
    write_file(&dir.join(MANIFEST), &serde_json::to_vec_pretty(manifest)?)?;
    Ok(())
}

/// A clear error when the stored model's shape is not the configured teacher's.
pub fn check_dims(dir: &Path, model: &SeqModelConfig, configured: ModelDims) -> Result<()> {
    let stored = ModelDims {
        n_layers: model.n_layers,
        d_model: model.d_model,
        n_heads: model.n_heads,
        d_ff: model.d_ff,
    };
    if stored == configured {
        return Ok(());
    }
    Err(Error::InvalidConfig {
        name: "MODEL_DIR".into(),
        reason: format!(
            "{}: the teacher there has {} layers, d_model {}, {} heads, FFN {}; this detector is \
             configured for {} layers, d_model {}, {} heads, FFN {} (set the same model size, e.g. \
             LOGSENTINEL_MODEL_SIZE, as when it was trained)",
            dir.display(),
            stored.n_layers,
            stored.d_model,
            stored.n_heads,
            stored.d_ff,
            configured.n_layers,
            configured.d_model,
            configured.n_heads,
            configured.d_ff
        ),
    })
}

/// Whether every template of `stored` (a storage's vocabulary) has the same id in `pretrained`.
pub fn extends(pretrained: &GlobalVocab, stored: &GlobalVocab) -> bool {
    stored.len() <= pretrained.len()
        && (0..stored.len()).all(|i| {
            let token = FIRST_TEMPLATE_TOKEN + i as u32;
            stored.text(token) == pretrained.text(token)
        })
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| io_error(path, e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::model(format!("{}: not a valid file: {e}", path.display())))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut temporary = PathBuf::from(path);
    temporary.set_extension("partial");
    std::fs::write(&temporary, bytes).map_err(|e| io_error(&temporary, e))?;
    std::fs::rename(&temporary, path).map_err(|e| io_error(path, e))
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::model(format!("{}: {e}", path.display()))
}
