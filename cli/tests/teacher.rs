//! `logsentinel teacher pretrain` end to end: the built binary trains a tiny teacher on a committed
//! HDFS sample, `replay` starts from it through `MODEL_DIR`, and bad arguments are clear errors.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

fn logsentinel(args: &[&str], envs: &[(&str, &Path)], tiny: bool) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_logsentinel"));
    command
        .args(args)
        .env_remove("MODEL_DIR")
        .env_remove("LOGSENTINEL_MODEL_DIR")
        .env_remove("STORAGE_DIR")
        .env_remove("LOGSENTINEL_STORAGE_DIR");
    if tiny {
        command.env("LOGSENTINEL_MODEL_SIZE", "tiny");
    } else {
        command.env_remove("LOGSENTINEL_MODEL_SIZE");
    }
    for (name, value) in envs {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn pretrain_then_replay_from_the_model_dir() {
    let dir = tempfile::tempdir().unwrap();
    let sample = format!(
        "{}/../tests/fixtures/hdfs/hdfs_dev_20k.log",
        env!("CARGO_MANIFEST_DIR")
    );
    let lines: Vec<String> = std::fs::read_to_string(sample)
        .unwrap()
        .lines()
        .take(3000)
        .map(str::to_string)
        .collect();
    let log = dir.path().join("hdfs.log");
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let model = dir.path().join("model");
    let data = format!("hdfs:{}", log.display());

    let out = logsentinel(
        &[
            "teacher",
            "pretrain",
            "--out",
            model.to_str().unwrap(),
            "--data",
            &data,
            "--quiet",
        ],
        &[],
        true,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("teacher written to"), "{stdout}");
    assert!(stdout.contains("3000 lines"), "{stdout}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["corpus"][0]["lines"], 3000);
    assert_eq!(manifest["corpus"][0]["format"], "hdfs");

    let replay = [
        "replay",
        log.to_str().unwrap(),
        "--format",
        "hdfs",
        "--warmup",
        "1000",
        "--quiet",
    ];
    let out = logsentinel(&replay, &[("MODEL_DIR", model.as_path())], true);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("lines: 3000"),
        "{}",
        text(&out.stdout)
    );

    // The directory holds a tiny teacher; a full-size detector refuses it by name.
    let out = logsentinel(&replay, &[("MODEL_DIR", model.as_path())], false);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("MODEL_DIR"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bad_corpus_arguments_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("model");
    let out_arg = out_dir.to_str().unwrap();
    for (data, expected) in [
        ("no-colon-here", "FORMAT:FILE"),
        ("nosuchformat:x.log", "--data nosuchformat:x.log"),
        ("hdfs:/no/such/file.log", "/no/such/file.log"),
    ] {
        let out = logsentinel(
            &[
                "teacher", "pretrain", "--out", out_arg, "--data", data, "--quiet",
            ],
            &[],
            true,
        );
        assert!(!out.status.success(), "{data}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(expected), "{data}: {stderr}");
    }
}
