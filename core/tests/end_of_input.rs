//! The end of the input is not the end of a session; rules are "common in this project" only on real
//! evidence; a line no template matches still shows a readable template. Real detector, real storage,
//! tiny real models.
#![allow(clippy::unwrap_used)]

mod common;
use common::hdfs_lines;

use std::time::Duration;

use logsentinel::{
    CloseReason, Config, JobState, LogFormat, LogRecord, NewProject, Phase, SessionVerdict,
    TenantDetector,
};

fn tiny_config(dir: &std::path::Path) -> Config {
    let mut c = Config::with_storage_dir(dir).tiny_models();
    c.training_threads = 1;
    c
}

/// An HDFS line at `secs` seconds after 20:00:00 of 2008-11-09.
fn hdfs(secs: u32, level: &str, component: &str, content: &str) -> String {
    let t = 20 * 3600 + secs;
    format!(
        "081109 {:02}{:02}{:02} {} {level} {component}: {content}",
        t / 3600,
        t / 60 % 60,
        t % 60,
        100 + secs % 900
    )
}

/// The four events of a normal block's life, at `secs`: `upto` of them.
fn block(id: u64, secs: u32, upto: usize) -> Vec<String> {
    let blk = format!("blk_{id}");
    let ip = format!("10.250.{}.{}", id % 200, id % 97);
    let size = 67_000_000 + id % 1000;
    vec![
        hdfs(
            secs,
            "INFO",
            "dfs.DataNode$DataXceiver",
            &format!("Receiving block {blk} src: /{ip}:50010 dest: /{ip}:50010"),
        ),
        hdfs(
            secs,
            "INFO",
            "dfs.DataNode$PacketResponder",
            &format!("Received block {blk} of size {size} from /{ip}"),
        ),
        hdfs(
            secs + 1,
            "INFO",
            "dfs.DataNode$PacketResponder",
            &format!("PacketResponder 0 for block {blk} terminating"),
        ),
        hdfs(
            secs + 1,
            "INFO",
            "dfs.FSNamesystem",
            &format!(
                "BLOCK* NameSystem.addStoredBlock: blockMap updated: {ip}:50010 is added to {blk} size {size}"
            ),
        ),
    ]
    .into_iter()
    .take(upto)
    .collect()
}

fn feed(det: &TenantDetector, key: &str, lines: &[String]) -> Vec<logsentinel::Detection> {
    let records: Vec<LogRecord> = lines.iter().map(LogRecord::new).collect();
    let mut out = Vec::new();
    for chunk in records.chunks(256) {
        out.extend(det.detect_batch(key, chunk).unwrap().results);
    }
    out
}

fn verdict_of(verdicts: &[SessionVerdict], id: u64) -> &SessionVerdict {
    let blk = format!("blk_{id}");
    verdicts
        .iter()
        .find(|v| v.session_id == blk)
        .unwrap_or_else(|| panic!("no verdict for {blk}"))
}

#[test]
fn sessions_cut_by_the_end_of_input_are_judged_only_on_what_they_hold() {
    let dir = tempfile::tempdir().unwrap();
    let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
    let key = det
        .create_project(
            NewProject::named("cut")
                .format(LogFormat::Hdfs)
                .warmup_threshold(100_000),
        )
        .unwrap()
        .api_key;
    // 200 complete blocks, one every 5 s of log time: those idle for a minute expire (finished).
    let mut lines = Vec::new();
    for i in 0..200u64 {
        lines.extend(block(1_000 + i, i as u32 * 5, 4));
    }
    // A block that stopped after two events, then more than a minute of other complete blocks.
    let stopped = 9_001;
    lines.extend(block(stopped, 1_000, 2));
    for i in 0..20u64 {
        lines.extend(block(5_000 + i, 1_005 + i as u32 * 5, 4));
    }
    // At the very end: a block cut after two events, and one cut after two events and a
    // never-seen one.
    let (cut_normal, cut_novel) = (9_002, 9_003);
    lines.extend(block(cut_normal, 1_110, 2));
    lines.extend(block(cut_novel, 1_110, 2));
    lines.push(hdfs(
        1_111,
        "WARN",
        "dfs.DataNode$DataXceiver",
        "Exception in receiveBlock for block blk_9003 java.io.InterruptedIOException: Interruped while waiting for IO",
    ));
    feed(&det, &key, &lines);
    let mut verdicts = det.poll_session_verdicts(&key, usize::MAX).unwrap();
    assert!(
        verdicts.len() >= 180,
        "{} blocks finished before the end",
        verdicts.len()
    );
    verdicts.extend(det.close_all_sessions(&key).unwrap());

    // Finished and stopped early: flagged for what never came.
    let v = verdict_of(&verdicts, stopped);
    assert_eq!(v.reason, CloseReason::Expired);
    assert!(!v.open_at_end_of_input);
    assert!(v.is_anomaly, "{v:?}");
    assert!(!v.missing_templates.is_empty(), "{v:?}");
    assert_eq!(v.cause.as_deref(), Some("missing_template"));

    // Cut mid-way with only normal events: not flagged, and said to be cut.
    let v = verdict_of(&verdicts, cut_normal);
    assert_eq!(v.reason, CloseReason::EndOfInput);
    assert!(v.open_at_end_of_input);
    assert!(!v.is_anomaly, "{v:?}");
    assert!(v.missing_templates.is_empty(), "{v:?}");
    assert!(
        v.reasons
            .iter()
            .any(|r| r.contains("still open at the end of the input")),
        "{v:?}"
    );

    // Cut, but holding a never-seen event: flagged for it.
    let v = verdict_of(&verdicts, cut_novel);
    assert!(v.open_at_end_of_input);
    assert!(v.is_anomaly, "{v:?}");
    assert_eq!(v.cause.as_deref(), Some("rare_template"), "{v:?}");
    assert!(v.missing_templates.is_empty(), "{v:?}");

    // A complete block silent for 10 s at the end, inside its idle timeout but longer than the
    // project's sessions ever pause (a second), finished: judged whole, and passes.
    let settled = verdict_of(&verdicts, 5_019);
    assert!(
        !settled.open_at_end_of_input && !settled.is_anomaly,
        "{settled:?}"
    );
    // Every finished complete block passes.
    for i in 0..200u64 {
        let v = verdict_of(&verdicts, 1_000 + i);
        assert!(!v.open_at_end_of_input && !v.is_anomaly, "{v:?}");
    }
}

#[test]
fn a_session_silent_longer_than_the_projects_sessions_pause_finished_even_at_the_end_of_input() {
    let dir = tempfile::tempdir().unwrap();
    let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
    let key = det
        .create_project(
            NewProject::named("settled")
                .format(LogFormat::Hdfs)
                .warmup_threshold(100_000),
        )
        .unwrap()
        .api_key;
    // 400 complete blocks (1,200 pauses of at most a second inside them, enough to know the
    // 99.5% quantile at the default target false-positive rate), one every 5 s.
    let mut lines = Vec::new();
    for i in 0..400u64 {
        lines.extend(block(1_000 + i, i as u32 * 5, 4));
    }
    // A block that stopped after two events 30 s before the end (inside the 60 s idle timeout),
    // one cut in the last second, and complete blocks in between.
    let (stopped, cut) = (9_001, 9_002);
    lines.extend(block(stopped, 2_000, 2));
    for i in 0..6u64 {
        lines.extend(block(5_000 + i, 2_002 + i as u32 * 5, 4));
    }
    lines.extend(block(cut, 2_030, 2));
    feed(&det, &key, &lines);
    let verdicts = det.close_all_sessions(&key).unwrap();

    // Silent for 30 s where sessions pause a second at most: finished, and judged for what never came.
    let v = verdict_of(&verdicts, stopped);
    assert_eq!(v.reason, CloseReason::Expired, "{v:?}");
    assert!(!v.open_at_end_of_input);
    assert!(v.is_anomaly && !v.missing_templates.is_empty(), "{v:?}");
    assert!(
        v.reasons.iter().any(|r| r.contains("finished, not cut")),
        "{v:?}"
    );
    // Finished complete blocks pass.
    for i in 0..5u64 {
        let v = verdict_of(&verdicts, 5_000 + i);
        assert!(!v.open_at_end_of_input && !v.is_anomaly, "{v:?}");
    }
    // The block of the last second is still cut, and passes.
    let v = verdict_of(&verdicts, cut);
    assert_eq!(v.reason, CloseReason::EndOfInput);
    assert!(v.open_at_end_of_input && !v.is_anomaly, "{v:?}");
}

/// A session id per line: `sessions` clients in turn.
fn client(i: usize, sessions: usize) -> String {
    format!("10.0.{}.{}", (i % sessions) / 250, (i % sessions) % 250 + 1)
}

#[test]
fn a_rule_is_common_in_a_project_only_over_enough_lines_and_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
    let key = det
        .create_project(NewProject::named("README example").warmup_threshold(100_000))
        .unwrap()
        .api_key;
    // The README's HTTP example: an error as the project's very first line is news.
    let first = det
        .detect(
            &key,
            LogRecord::new("ERROR db connection refused").session("10.0.0.7"),
        )
        .unwrap();
    assert!(first.is_anomaly, "{first:?}");
    assert!(first.reasons[0].starts_with("rule "), "{first:?}");
    assert!(
        first.cause.as_deref().unwrap().starts_with("rule:"),
        "{first:?}"
    );
    assert!(
        !first
            .reasons
            .iter()
            .any(|r| r.contains("common in this project")),
        "{first:?}"
    );

    // Hundreds of errors from a single client are that client's incident, not the project's
    // normal: still flagged.
    let mut lines = Vec::new();
    for i in 0..3_000 {
        let record = if i % 10 == 0 {
            LogRecord::new(format!("ERROR db connection refused after {} ms", i % 97))
                .session("10.9.9.9")
        } else {
            LogRecord::new(format!("INFO GET /item/{} served in {} ms", i % 50, i % 13))
                .session(client(i, 300))
        };
        lines.push(record);
    }
    let results = det.detect_batch(&key, &lines).unwrap().results;
    let late_errors: Vec<_> = results[2_000..]
        .iter()
        .filter(|d| !d.matched_rules.is_empty())
        .collect();
    assert!(late_errors.len() >= 90);
    assert!(
        late_errors.iter().all(|d| d.is_anomaly),
        "errors confined to one session are not normal"
    );

    // The same share of errors spread over hundreds of clients is this project's normal.
    let dir = tempfile::tempdir().unwrap();
    let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
    let key = det
        .create_project(NewProject::named("spread").warmup_threshold(100_000))
        .unwrap()
        .api_key;
    let lines: Vec<LogRecord> = (0..3_000)
        .map(|i| {
            let text = if i % 10 == 0 {
                format!("ERROR db connection refused after {} ms", i % 97)
            } else {
                format!("INFO GET /item/{} served in {} ms", i % 50, i % 13)
            };
            LogRecord::new(text).session(client(i * 7, 300))
        })
        .collect();
    // In small batches, as a service gets them (a batch is judged with its own lines counted).
    let results: Vec<_> = lines
        .chunks(50)
        .flat_map(|chunk| det.detect_batch(&key, chunk).unwrap().results)
        .collect();
    assert!(results[0].is_anomaly, "the first error is still news");
    let late_errors: Vec<_> = results[2_000..]
        .iter()
        .filter(|d| !d.matched_rules.is_empty())
        .collect();
    assert!(late_errors.len() >= 90);
    assert!(late_errors.iter().all(|d| !d.is_anomaly));
    assert!(late_errors.iter().all(|d| d
        .reasons
        .iter()
        .any(|r| r.contains("(common in this project)"))));
}

#[test]
fn a_line_no_template_matches_shows_its_masked_text() {
    let dir = tempfile::tempdir().unwrap();
    let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
    let key = det
        .create_project(
            NewProject::named("novel")
                .format(LogFormat::Hdfs)
                .warmup_threshold(1_000),
        )
        .unwrap()
        .api_key;
    for chunk in hdfs_lines(2_000).chunks(200) {
        let records: Vec<LogRecord> = chunk.iter().map(LogRecord::new).collect();
        det.detect_batch(&key, &records).unwrap();
        if det.status(&key).unwrap().phase == Phase::Training {
            let job = det
                .wait_for_training(&key, Some(Duration::from_secs(300)))
                .unwrap()
                .unwrap();
            assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        }
    }
    let d = det
        .detect(
            &key,
            LogRecord::new(
                "081109 214043 2561 WARN dfs.DataNode$DataXceiver: Quota exceeded on volume 17 for blk_-5009020203888190378 by 4096 bytes",
            ),
        )
        .unwrap();
    assert_eq!(d.phase, Phase::Active);
    assert_eq!(d.template_id, 0, "{d:?}");
    assert_eq!(
        d.template, "Quota exceeded on volume <*> for <*> by <*> bytes",
        "{d:?}"
    );
    assert_eq!(d.parameters, ["17", "blk_-5009020203888190378", "4096"]);
    assert_eq!(d.cause.as_deref(), Some("novel_template"));
}
