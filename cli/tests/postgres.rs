//! `--storage postgres://...` end to end (issue 24): the built binary replays the committed HDFS sample
//! into a PostgreSQL database, and a second run (another process, as a second instance would be)
//! continues the same project from what the first committed. Run by `scripts/test-postgres.sh`, which
//! starts a throwaway PostgreSQL; ignored otherwise.
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
        .env_remove("STORAGE_URL")
        .env_remove("LOGSENTINEL_STORAGE_URL")
        .env_remove("LOGSENTINEL_API_KEY")
        .env("LOGSENTINEL_MODEL_SIZE", "tiny")
        .env("LOGSENTINEL_TRAINING_THREADS", "1")
        .output()
        .unwrap()
}

fn run(args: &[&str], success: bool) -> (String, String) {
    let out = logsentinel(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.success(),
        success,
        "{args:?}: {stdout}\n{stderr}"
    );
    (stdout, stderr)
}

/// A new, empty database on the test server; its URL.
fn fresh_database() -> String {
    let dir = std::env::var("LOGSENTINEL_TEST_POSTGRES_SOCKET_DIR")
        .expect("LOGSENTINEL_TEST_POSTGRES_SOCKET_DIR: run these through scripts/test-postgres.sh");
    let admin = format!("postgres://postgres@localhost/postgres?host={dir}");
    let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
    let name = format!("ls_cli_{}", std::process::id());
    // Each statement on its own: neither may run inside a transaction block.
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .unwrap();
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    format!("postgres://postgres@localhost/{name}?host={dir}")
}

fn sample(dir: &Path, name: &str, lines: std::ops::Range<usize>) -> String {
    let sample = format!(
        "{}/../tests/fixtures/hdfs/hdfs_dev_20k.log",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(sample).unwrap();
    let part: Vec<&str> = text.lines().skip(lines.start).take(lines.len()).collect();
    let path = dir.join(name);
    std::fs::write(&path, part.join("\n") + "\n").unwrap();
    path.to_str().unwrap().to_string()
}

/// The line at which the replay's summary says the student took over.
fn took_over_at(summary: &str) -> Option<usize> {
    let rest = summary.split("student took over at line ").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-postgres.sh"]
fn replay_keeps_a_project_in_postgres_and_a_second_process_continues_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database();
    let first = sample(dir.path(), "first.log", 0..3000);
    let second = sample(dir.path(), "second.log", 3000..3500);
    let replay = |file: &str| {
        run(
            &[
                "replay",
                file,
                "--format",
                "hdfs",
                "--warmup",
                "1000",
                "--storage",
                &url,
                "--project",
                "hdfs",
                "--quiet",
            ],
            true,
        )
    };

    let (summary, log) = replay(&first);
    let took_over = took_over_at(&summary);
    assert!(took_over.is_some_and(|l| l > 1000), "{summary}");
    assert!(log.contains("0 seen so far"), "{log}");
    assert!(log.contains("under postgres://postgres@"), "{log}");

    // Another process finds the project with its student: no warmup, no retraining. The database
    // keeps only key hashes, so it gets the project under a fresh key.
    let (summary, log) = replay(&second);
    assert!(log.contains("3000 seen so far"), "{log}");
    assert!(log.contains("rotating it"), "{log}");
    assert_eq!(took_over_at(&summary), Some(1), "{summary}");

    // The operator commands need the key there.
    let (_, err) = run(
        &["incidents", "--storage", &url, "--project", "hdfs"],
        false,
    );
    assert!(err.contains("pass --api-key"), "{err}");
}
