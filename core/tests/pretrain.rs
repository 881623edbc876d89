//! `teacher pretrain` and `MODEL_DIR` (issue 22, item 3): a teacher trained on a corpus, written with
//! its vocabulary, starts a fresh storage with ids that keep their meaning; the same corpus and seed
//! give the same weights; a directory that does not fit is a clear error.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use logsentinel::train::pretrain::{pretrain_teacher, CorpusFile, PretrainProgress};
use logsentinel::{Config, Error, LogFormat, LogRecord, NewProject, TenantDetector};

fn tiny_config(dir: &Path) -> Config {
    let mut c = Config::with_storage_dir(dir).tiny_models();
    c.training_threads = 1;
    c
}

/// Two corpus files: the first 4,000 HDFS lines of the committed sample, in two halves.
fn corpus(dir: &Path) -> Vec<CorpusFile> {
    let lines = common::hdfs_lines(4000);
    let mut files = Vec::new();
    for (i, half) in lines.chunks(2000).enumerate() {
        let path = dir.join(format!("part{i}.log"));
        std::fs::write(&path, half.join("\n") + "\n").unwrap();
        files.push(CorpusFile {
            path,
            format: LogFormat::Hdfs,
            log_format: None,
        });
    }
    files
}

fn pretrain(dir: &Path, seed: u64) -> PathBuf {
    let out = dir.join(format!("model-{seed}"));
    let mut config = tiny_config(&dir.join("unused"));
    config.seed = seed;
    let mut reads = 0;
    let mut trained = false;
    let report = pretrain_teacher(&config, &corpus(dir), &out, &mut |step| match step {
        PretrainProgress::Reading { .. } => reads += 1,
        PretrainProgress::Training { fraction } => trained |= fraction >= 1.0,
    })
    .unwrap();
    assert!(reads >= 2 && trained, "progress is reported");
    assert_eq!(report.files.len(), 2);
    assert_eq!(report.files[0].lines, 2000);
    assert!(report.vocabulary_size >= 5, "{report:?}");
    assert!(report.sequences > 100, "{report:?}");
    assert!(!out.join(".pretrain-storage").exists(), "scratch removed");
    out
}

#[test]
fn a_pretrained_teacher_serves_a_fresh_storage_from_the_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let model = pretrain(dir.path(), 7);
    for file in [
        "teacher.safetensors",
        "teacher.json",
        "vocabulary.json",
        "calibration.json",
        "manifest.json",
    ] {
        assert!(model.join(file).exists(), "{file}");
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["seed"], 7);
    assert_eq!(manifest["corpus"].as_array().unwrap().len(), 2);

    // Without MODEL_DIR a fresh storage has no trained teacher: no next-template probabilities.
    let lines = common::hdfs_lines(600);
    let records: Vec<LogRecord> = lines.iter().map(LogRecord::new).collect();
    let bare = TenantDetector::open(tiny_config(&dir.path().join("bare"))).unwrap();
    let key = bare.create_project(NewProject::named("p")).unwrap().api_key;
    let plain = bare.detect_batch(&key, &records).unwrap();
    assert!(plain
        .results
        .iter()
        .all(|d| d.template_probability.is_none()));

    // With it, the warmup of a brand-new tenant gets the teacher's probabilities for its templates.
    let mut config = tiny_config(&dir.path().join("fresh"));
    config.model_dir = Some(model.clone());
    let det = TenantDetector::open(config).unwrap();
    let info = det.teacher_info().unwrap();
    assert!(info.trained);
    assert!(info.vocabulary_size >= 5);
    assert_eq!(info.model_vocabulary_size, info.vocabulary_size);
    let key = det.create_project(NewProject::named("p")).unwrap().api_key;
    let served = det.detect_batch(&key, &records).unwrap();
    let known = served
        .results
        .iter()
        .filter(|d| d.template_probability.is_some() && d.unknown_template_ratio == 0.0)
        .count();
    assert!(
        known * 10 >= served.results.len() * 9,
        "{known} of {} lines scored with known templates",
        served.results.len()
    );
    det.close().unwrap();
    drop(det);

    // The storage now carries the teacher: reopened without MODEL_DIR it is still there.
    let reopened = TenantDetector::open(tiny_config(&dir.path().join("fresh"))).unwrap();
    let again = reopened.teacher_info().unwrap();
    assert!(again.trained);
    assert_eq!(again.vocabulary_size, info.vocabulary_size);
    assert_eq!(again.parameters, info.parameters);
    assert_eq!(again.thresholds, info.thresholds);
}

#[test]
fn the_same_corpus_and_seed_give_the_same_teacher() {
    let dir = tempfile::tempdir().unwrap();
    let a = std::fs::read(pretrain(dir.path(), 11).join("teacher.safetensors")).unwrap();
    let again_dir = tempfile::tempdir().unwrap();
    let b = std::fs::read(pretrain(again_dir.path(), 11).join("teacher.safetensors")).unwrap();
    assert!(a == b, "same seed, same bytes");
    let c = std::fs::read(pretrain(dir.path(), 12).join("teacher.safetensors")).unwrap();
    assert!(a != c, "another seed, other weights");
}

#[test]
fn a_model_dir_that_does_not_fit_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let model = pretrain(dir.path(), 3);

    // Another model size than the directory's.
    let mut config = Config::with_storage_dir(dir.path().join("full"));
    config.model_dir = Some(model.clone());
    match TenantDetector::open(config) {
        Err(Error::InvalidConfig { name, reason }) => {
            assert_eq!(name, "MODEL_DIR");
            assert!(reason.contains("layers"), "{reason}");
        }
        other => panic!("expected InvalidConfig, got {:?}", other.err()),
    }

    // A storage whose projects already gave other templates their ids.
    let used = dir.path().join("used");
    {
        let det = TenantDetector::open(tiny_config(&used)).unwrap();
        let key = det.create_project(NewProject::named("p")).unwrap().api_key;
        let lines: Vec<LogRecord> = (0..300)
            .map(|i| LogRecord::new(format!("widget {} frobnicated in {i} ms", i % 7)))
            .collect();
        det.detect_batch(&key, &lines).unwrap();
        det.force_teacher_update()
            .unwrap()
            .wait(Some(std::time::Duration::from_secs(120)))
            .unwrap();
        // A teacher now exists: the directory is not read at all.
        det.close().unwrap();
    }
    let mut config = tiny_config(&used);
    config.model_dir = Some(model.clone());
    let kept = TenantDetector::open(config).unwrap();
    assert!(kept
        .teacher_info()
        .unwrap()
        .templates
        .iter()
        .any(|t| t.contains("frobnicated")));
    kept.close().unwrap();

    // Weights without a vocabulary.
    let bare = dir.path().join("weights-only");
    std::fs::create_dir_all(&bare).unwrap();
    for file in ["teacher.safetensors", "teacher.json"] {
        std::fs::copy(model.join(file), bare.join(file)).unwrap();
    }
    let mut config = tiny_config(&dir.path().join("s2"));
    config.model_dir = Some(bare);
    match TenantDetector::open(config) {
        Err(Error::Model(reason)) => assert!(reason.contains("vocabulary.json"), "{reason}"),
        other => panic!("expected a model error, got {:?}", other.err()),
    }

    // No corpus, or a file that is not there.
    let config = tiny_config(&dir.path().join("unused"));
    let out = dir.path().join("out");
    let err = pretrain_teacher(&config, &[], &out, &mut |_| {}).unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
    let missing = [CorpusFile {
        path: dir.path().join("nope.log"),
        format: LogFormat::Hdfs,
        log_format: None,
    }];
    let err = pretrain_teacher(&config, &missing, &out, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("nope.log"), "{err}");
}
