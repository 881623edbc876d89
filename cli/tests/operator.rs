//! `logsentinel incidents` and `logsentinel feedback` end to end: the built binary replays a committed
//! HDFS sample into a storage, lists what it grouped into incidents, marks one normal, lists and
//! undoes the mark; bad arguments are clear errors.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

fn logsentinel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_logsentinel"))
        .args(args)
        .env_remove("MODEL_DIR")
        .env_remove("LOGSENTINEL_MODEL_DIR")
        .env_remove("STORAGE_DIR")
        .env_remove("LOGSENTINEL_STORAGE_DIR")
        .env_remove("LOGSENTINEL_API_KEY")
        .env("LOGSENTINEL_MODEL_SIZE", "tiny")
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = logsentinel(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn failure(args: &[&str]) -> String {
    let out = logsentinel(args);
    assert!(!out.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap()
}

/// Replays the sample's first lines (all in warmup: the teacher and the rules judge) into `storage`.
fn replay(storage: &Path, dir: &Path) {
    let sample = format!(
        "{}/../tests/fixtures/hdfs/hdfs_dev_20k.log",
        env!("CARGO_MANIFEST_DIR")
    );
    let lines: Vec<String> = std::fs::read_to_string(sample)
        .unwrap()
        .lines()
        .take(4000)
        .map(str::to_string)
        .collect();
    let log = dir.join("hdfs.log");
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    ok(&[
        "replay",
        log.to_str().unwrap(),
        "--format",
        "hdfs",
        "--warmup",
        "100000",
        "--storage",
        storage.to_str().unwrap(),
        "--project",
        "hdfs",
        "--quiet",
    ]);
}

#[test]
fn incidents_are_listed_marked_normal_and_the_mark_undone() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage");
    replay(&storage, dir.path());
    let storage = storage.to_str().unwrap();
    let project = ["--storage", storage, "--project", "hdfs"];

    let listed = json(&ok(&[&["incidents", "--json"][..], &project].concat()));
    let incidents = listed.as_array().unwrap();
    assert!(!incidents.is_empty(), "the replay raised incidents");
    let first = &incidents[0];
    let id = first["id"].as_u64().unwrap();
    assert!(first["title"].as_str().is_some_and(|t| !t.is_empty()));
    let text = ok(&[&["incidents"][..], &project].concat());
    assert!(text.contains(&format!("#{id} [open]")), "{text}");
    let open = json(&ok(&[
        &["incidents", "--json", "--state", "open"][..],
        &project,
    ]
    .concat()));
    assert_eq!(open.as_array().unwrap().len(), incidents.len());

    let id_text = id.to_string();
    let mark = json(&ok(&[
        &[
            "feedback",
            "give",
            "--incident",
            &id_text,
            "--label",
            "normal",
        ][..],
        &project,
    ]
    .concat()));
    assert_eq!(mark["label"], "normal");
    assert_eq!(mark["scope"], "pattern");
    assert_eq!(mark["key"], first["pattern"]);
    assert_eq!(mark["incident_id"].as_u64(), Some(id));
    let mark_id = mark["id"].as_u64().unwrap().to_string();
    let marks = json(&ok(&[&["feedback", "list"][..], &project].concat()));
    assert_eq!(marks.as_array().unwrap().len(), 1);
    let text = ok(&[&["incidents"][..], &project].concat());
    assert!(
        text.contains(&format!("#{id} [open, marked normal]")),
        "{text}"
    );

    let removed = json(&ok(
        &[&["feedback", "undo", &mark_id][..], &project].concat()
    ));
    assert_eq!(removed["id"].as_u64(), mark["id"].as_u64());
    let marks = json(&ok(&[&["feedback", "list"][..], &project].concat()));
    assert!(marks.as_array().unwrap().is_empty());
    let err = failure(&[&["feedback", "undo", &mark_id][..], &project].concat());
    assert!(err.contains(&format!("no feedback #{mark_id}")), "{err}");

    // Bad input: clear errors, nothing stored.
    let err = failure(
        &[
            &[
                "feedback",
                "give",
                "--incident",
                &id_text,
                "--label",
                "maybe",
            ][..],
            &project,
        ]
        .concat(),
    );
    assert!(err.contains("\"normal\", \"anomaly\""), "{err}");
    let err = failure(
        &[
            &[
                "feedback",
                "give",
                "--incident",
                &id_text,
                "--label",
                "normal",
                "--scope",
                "all",
            ][..],
            &project,
        ]
        .concat(),
    );
    assert!(err.contains("\"client\""), "{err}");
    let err = failure(&[&["incidents", "--state", "closed"][..], &project].concat());
    assert!(err.contains("\"resolved\""), "{err}");
    let err = failure(&["incidents", "--storage", storage, "--project", "nope"]);
    assert!(err.contains("no project named \"nope\""), "{err}");
    let err = failure(&[
        "incidents",
        "--storage",
        storage,
        "--project",
        "hdfs",
        "--api-key",
        "sk-wrong",
    ]);
    assert!(err.contains("API key"), "{err}");
    let err = failure(&["incidents", "--storage", &format!("{storage}/missing")]);
    assert!(err.contains("no storage at"), "{err}");
    let marks = json(&ok(&[&["feedback", "list"][..], &project].concat()));
    assert!(marks.as_array().unwrap().is_empty());
}
