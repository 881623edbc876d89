//! End-to-end tests of the tenant lifecycle on real (committed) HDFS lines, with tiny real models.
#![allow(clippy::unwrap_used)]

mod common;
use common::hdfs_lines;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use logsentinel::{
    Clock, Config, Error, ErrorKind, JobState, LogFormat, LogRecord, ManualClock, ModelType,
    NewProject, Phase, TenantDetector,
};

fn tiny_config(dir: &std::path::Path) -> Config {
    let mut c = Config::with_storage_dir(dir).tiny_models();
    c.training_threads = 1;
    c
}

fn records(lines: &[String]) -> Vec<LogRecord> {
    lines.iter().map(LogRecord::new).collect()
}

/// Streams `lines` through the project in batches, waiting for training when it starts.
fn stream(det: &TenantDetector, key: &str, lines: &[String]) -> Vec<logsentinel::Detection> {
    let mut out = Vec::new();
    for chunk in lines.chunks(200) {
        out.extend(det.detect_batch(key, &records(chunk)).unwrap().results);
        if det.status(key).unwrap().phase == Phase::Training {
            let st = det
                .wait_for_training(key, Some(Duration::from_secs(300)))
                .unwrap()
                .unwrap();
            assert_eq!(st.state, JobState::Succeeded, "{:?}", st.error);
        }
    }
    out
}

#[test]
fn whole_lifecycle_then_restart_serves_the_same_student() {
    let dir = tempfile::tempdir().unwrap();
    let lines = hdfs_lines(3000);
    let (key, project_id, templates_before) = {
        let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
        assert!(
            !det.health().unwrap().teacher_loaded,
            "fresh storage has an untrained teacher"
        );
        let p = det
            .create_project(
                NewProject::named("hdfs")
                    .warmup_threshold(1000)
                    .format(LogFormat::Hdfs),
            )
            .unwrap();
        assert_eq!(p.es_index_pattern, format!("logs-{}", p.project_id));
        assert!(p.api_key.starts_with("sk-"));
        let results = stream(&det, &p.api_key, &lines);
        assert_eq!(results.len(), 3000);
        // Warmup on the teacher, then the student.
        assert_eq!(results[0].phase, Phase::Warmup);
        assert_eq!(results[0].model_type, ModelType::Teacher);
        assert!(results[999].warmup_progress >= 0.999);
        let last = results.last().unwrap();
        assert_eq!(last.phase, Phase::Active);
        assert_eq!(last.model_type, ModelType::Student);
        assert_eq!(last.log_count, 3000);
        // HDFS default session key: the block id.
        assert!(last.session_id.as_deref().unwrap().starts_with("blk_"));
        assert!(last.template_probability.is_some());
        let st = det.status(&p.api_key).unwrap();
        assert!(st.has_student_model);
        assert_eq!(st.training.students_trained, 1);
        assert!(st.training.last_distill_secs.unwrap() > 0.0);
        let h = det.health().unwrap();
        assert!(
            h.teacher_loaded,
            "the teacher was trained before the first distillation"
        );
        assert_eq!(h.active_student_models, 1);
        let info = det.teacher_info().unwrap();
        assert!(info.trained && info.vocabulary_size >= 10, "{info:?}");
        let history = det.update_history().unwrap();
        assert_eq!(history.len(), 1);
        assert!(history[0].success && history[0].trigger == "first-distillation");
        // Session verdicts at the end of input.
        let verdicts = det.close_all_sessions(&p.api_key).unwrap();
        assert!(!verdicts.is_empty());
        assert!(verdicts.iter().all(|v| v.model_type == ModelType::Student));
        det.close().unwrap();
        assert!(matches!(det.status(&p.api_key), Err(Error::Closed)));
        (p.api_key, p.project_id, st.template_count)
    };
    // A new process on the same storage: everything is there, and the student serves without
    // retraining.
    let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
    let st = det.status(&key).unwrap();
    assert_eq!(st.project_id, project_id);
    assert_eq!(st.log_count, 3000);
    assert_eq!(st.template_count, templates_before);
    assert!(st.has_student_model);
    assert!(det.health().unwrap().teacher_loaded);
    assert_eq!(
        det.health().unwrap().projects_with_samples_loaded,
        0,
        "samples stay in storage until the project is fed"
    );
    assert_eq!(det.update_history().unwrap().len(), 1);
    let more = hdfs_lines(3200);
    let d = det.detect_batch(&key, &records(&more[3000..])).unwrap();
    assert_eq!(
        det.health().unwrap().projects_with_samples_loaded,
        0,
        "an active project scores without its samples"
    );
    assert!(d
        .results
        .iter()
        .all(|r| r.model_type == ModelType::Student && r.phase == Phase::Active));
    assert_eq!(
        det.status(&key).unwrap().training.students_trained,
        1,
        "no retraining after restart"
    );
}

#[test]
fn keys_authenticate_and_tenants_never_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
    let a = det.create_project(NewProject::named("alpha")).unwrap();
    let b = det.create_project(NewProject::named("beta")).unwrap();
    assert_ne!(a.api_key, b.api_key);
    det.detect(
        &a.api_key,
        LogRecord::new("alpha secret line one").session("s-alpha"),
    )
    .unwrap();
    let d = det
        .detect(&b.api_key, LogRecord::new("beta line").session("s-beta"))
        .unwrap();
    assert_eq!(d.project_id, b.project_id);
    assert_eq!(d.log_count, 1, "beta's count never includes alpha's lines");
    let sb = det.status(&b.api_key).unwrap();
    assert_eq!(sb.project_name, "beta");
    assert_eq!(sb.open_sessions, 1);
    // Wrong, malformed and revoked keys.
    for bad in [
        "",
        "sk-nope",
        &a.api_key[..a.api_key.len() - 1],
        "x".repeat(10_000).as_str(),
    ] {
        let e = det.detect(bad, LogRecord::new("x")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidApiKey, "{bad}");
    }
    let forged = format!("sk-{}", "A".repeat(43));
    assert!(matches!(det.status(&forged), Err(Error::InvalidApiKey)));
    let new_key = det.rotate_key(&a.api_key).unwrap();
    assert!(matches!(det.status(&a.api_key), Err(Error::InvalidApiKey)));
    assert_eq!(det.status(&new_key).unwrap().project_id, a.project_id);
    // The listing never carries a key.
    let listing = serde_json::to_string(&det.list_projects().unwrap()).unwrap();
    assert!(!listing.contains(&new_key) && !listing.contains("sk-"));
    det.delete_project(&a.project_id).unwrap();
    assert!(matches!(det.status(&new_key), Err(Error::InvalidApiKey)));
    assert!(matches!(
        det.delete_project(&a.project_id),
        Err(Error::ProjectNotFound { .. })
    ));
    assert_eq!(det.list_projects().unwrap().len(), 1);
    // Keys are never in the storage file, only their hashes.
    det.flush().unwrap();
    let db = std::fs::read(dir.path().join("logsentinel.redb")).unwrap();
    let hay = String::from_utf8_lossy(&db);
    assert!(!hay.contains(&b.api_key[3..]) && !hay.contains(&new_key[3..]));
    drop(det);
    // Deletion is durable.
    let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
    assert!(matches!(det.status(&new_key), Err(Error::InvalidApiKey)));
    assert_eq!(det.status(&b.api_key).unwrap().log_count, 1);
}

#[test]
fn bad_input_is_typed_or_recorded_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(dir.path());
    cfg.max_batch_size = 100_000;
    let det = TenantDetector::open(cfg).unwrap();
    let p = det.create_project(NewProject::named("bad input")).unwrap();
    let k = &p.api_key;
    // Empty, NUL, invalid UTF-8 (decoded lossily), control characters.
    det.detect(k, LogRecord::new("")).unwrap();
    det.detect(k, LogRecord::new("nul\0in\0the middle"))
        .unwrap();
    let lossy = LogRecord::from_bytes(b"bytes \xff\xfe not utf8");
    assert!(lossy.log_line.contains('\u{FFFD}'));
    det.detect(k, lossy).unwrap();
    det.detect(k, LogRecord::new("\x1b[31mred\x1b[0m \r\t"))
        .unwrap();
    // A 10 MB line is truncated, and says so.
    let huge = "x".repeat(10 * 1024 * 1024);
    let d = det.detect(k, LogRecord::new(huge)).unwrap();
    assert!(d.truncated);
    assert!(d.reasons.iter().any(|r| r.contains("truncated")));
    // Unknown format, bad session pattern, bad names and thresholds: typed errors.
    assert_eq!(
        "klingon".parse::<LogFormat>().unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let e = det
        .create_project(NewProject::named("p").session_pattern("(unclosed"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        det.create_project(NewProject::named("  "))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    let e = det
        .create_project(NewProject::named("p").warmup_threshold(5))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        det.detect_batch(k, &[]).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    // A batch of 100,000 lines is scored whole; one line more is refused without scoring anything.
    let lines = hdfs_lines(20_000);
    let batch: Vec<LogRecord> = (0..100_000)
        .map(|i| LogRecord::new(&lines[i % lines.len()]))
        .collect();
    let before = det.status(k).unwrap().log_count;
    let r = det.detect_batch(k, &batch).unwrap();
    assert_eq!(r.total_logs, 100_000);
    assert_eq!(r.results.len(), 100_000);
    assert_eq!(det.status(k).unwrap().log_count, before + 100_000);
    let mut too_many = batch;
    too_many.push(LogRecord::new("one more"));
    assert_eq!(
        det.detect_batch(k, &too_many).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        det.status(k).unwrap().log_count,
        before + 100_000,
        "a refused batch scores nothing"
    );
}

#[test]
fn threads_detect_on_several_projects_while_a_student_trains() {
    let dir = tempfile::tempdir().unwrap();
    let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
    let lines = Arc::new(hdfs_lines(2400));
    let trainee = det
        .create_project(
            NewProject::named("trainee")
                .warmup_threshold(1000)
                .format(LogFormat::Hdfs),
        )
        .unwrap();
    for chunk in lines[..1200].chunks(300) {
        det.detect_batch(&trainee.api_key, &records(chunk)).unwrap();
    }
    assert!(matches!(
        det.status(&trainee.api_key).unwrap().phase,
        Phase::Training | Phase::Active
    ));
    let others: Vec<_> = (0..3)
        .map(|i| {
            det.create_project(NewProject::named(format!("other-{i}")).format(LogFormat::Hdfs))
                .unwrap()
        })
        .collect();
    let done = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = others
        .iter()
        .map(|p| {
            let det = det.clone();
            let key = p.api_key.clone();
            let lines = lines.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                for l in lines.iter().take(400) {
                    let d = det.detect(&key, LogRecord::new(l)).unwrap();
                    assert_eq!(d.model_type, ModelType::Teacher);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(done.load(Ordering::Relaxed), 1200);
    for p in &others {
        assert_eq!(det.status(&p.api_key).unwrap().log_count, 400);
    }
    let st = det
        .wait_for_training(&trainee.api_key, Some(Duration::from_secs(300)))
        .unwrap()
        .unwrap();
    assert_eq!(st.state, JobState::Succeeded, "{:?}", st.error);
    let d = det
        .detect(&trainee.api_key, LogRecord::new(&lines[1300]))
        .unwrap();
    assert_eq!(d.model_type, ModelType::Student);
}

#[test]
fn too_few_sequences_keeps_warmup_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
    let p = det
        .create_project(NewProject::named("one session").warmup_threshold(100))
        .unwrap();
    for i in 0..150 {
        det.detect(
            &p.api_key,
            LogRecord::new(format!("step {} of the only job", i % 7)).session("only"),
        )
        .unwrap();
    }
    let st = det.status(&p.api_key).unwrap();
    assert_eq!(st.phase, Phase::Warmup);
    assert!(st
        .training
        .waiting_reason
        .unwrap()
        .contains("still collecting"));
}

#[test]
fn teacher_updates_run_on_schedule_and_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_700_000_000.0));
    let mut cfg = tiny_config(dir.path());
    cfg.teacher_update_days = 7.0;
    let det = TenantDetector::open_with_clock(cfg.clone(), clock.clone()).unwrap();
    let p = det
        .create_project(NewProject::named("sched").format(LogFormat::Hdfs))
        .unwrap();
    // No data yet: a forced update fails cleanly and is recorded.
    let job = det.force_teacher_update().unwrap();
    assert_eq!(job.wait(None).unwrap().state, JobState::Failed);
    let h = det.update_history().unwrap();
    assert_eq!(h.len(), 1);
    assert!(!h[0].success && h[0].error.as_deref().unwrap().contains("no training data"));
    let lines = hdfs_lines(1500);
    det.detect_batch(&p.api_key, &records(&lines)).unwrap();
    det.close_all_sessions(&p.api_key).unwrap();
    let next = det.teacher_info().unwrap().next_update;
    clock.advance(6.0 * 86_400.0);
    det.health().unwrap();
    assert_eq!(det.update_history().unwrap().len(), 1, "not due yet");
    clock.advance(2.0 * 86_400.0);
    assert!(clock.now() >= next);
    det.health().unwrap(); // any call notices the schedule
    let info = loop {
        let info = det.teacher_info().unwrap();
        if !info.update_in_progress && info.version > 0 {
            break info;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(info.trained);
    let h = det.update_history().unwrap();
    assert_eq!(h.len(), 2);
    assert!(h[1].success && h[1].trigger == "scheduled" && h[1].samples_used > 0);
    assert!(info.next_update > clock.now() + 6.0 * 86_400.0);
    drop(det);
    // The schedule and history persist.
    let det = TenantDetector::open_with_clock(cfg, clock.clone()).unwrap();
    let info2 = det.teacher_info().unwrap();
    assert_eq!(info2.next_update, info.next_update);
    assert!(info2.trained);
    assert_eq!(det.update_history().unwrap().len(), 2);
}

#[test]
fn sessions_close_with_verdicts_by_poll_callback_and_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let s2 = seen.clone();
    det.set_verdict_callback(Some(Arc::new(move |_v: &logsentinel::SessionVerdict| {
        s2.fetch_add(1, Ordering::SeqCst);
    })));
    let p = det
        .create_project(
            NewProject::named("sessions")
                .format(LogFormat::Hdfs)
                .session_pattern(r"blk_-?\d+"),
        )
        .unwrap();
    let lines = hdfs_lines(2000);
    det.detect_batch(&p.api_key, &records(&lines)).unwrap();
    // Log time advanced ~27 s over 2000 lines: early sessions expired (60 s idle timeout) only if idle
    // long enough; closing one explicitly always gives a verdict.
    let open = det.status(&p.api_key).unwrap().open_sessions;
    assert!(open > 10);
    let sid = lines[1999]
        .split_whitespace()
        .find(|w| w.starts_with("blk_"))
        .unwrap()
        .trim_end_matches('.');
    let v = det
        .close_session(&p.api_key, sid)
        .unwrap()
        .expect("open session");
    assert_eq!(v.session_id, sid);
    assert!(det
        .close_session(&p.api_key, "no-such-session")
        .unwrap()
        .is_none());
    let polled = det.poll_session_verdicts(&p.api_key, 10).unwrap();
    assert_eq!(polled.len(), 1);
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    // A line an hour later (log time) expires every idle session.
    let late =
        "081109 213518 35 INFO dfs.FSNamesystem: BLOCK* NameSystem.allocateBlock: /user/x. blk_42";
    det.detect(&p.api_key, LogRecord::new(late)).unwrap();
    let expired = det.poll_session_verdicts(&p.api_key, usize::MAX).unwrap();
    assert_eq!(expired.len(), open - 1);
    assert!(expired
        .iter()
        .all(|v| v.reason == logsentinel::CloseReason::Expired));
    assert_eq!(det.reset_sessions(&p.api_key).unwrap(), 1);
    assert_eq!(det.status(&p.api_key).unwrap().open_sessions, 0);
}

#[test]
fn students_beyond_the_memory_budget_are_evicted_and_reload_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(dir.path());
    cfg.student_memory_budget_bytes = 1; // room for one student only
    let det = TenantDetector::open(cfg).unwrap();
    let lines = hdfs_lines(1600);
    let keys: Vec<String> = (0..2)
        .map(|i| {
            let p = det
                .create_project(
                    NewProject::named(format!("p{i}"))
                        .warmup_threshold(1000)
                        .format(LogFormat::Hdfs),
                )
                .unwrap();
            stream(&det, &p.api_key, &lines[..1400]);
            p.api_key
        })
        .collect();
    for k in &keys {
        assert_eq!(
            det.detect(k, LogRecord::new(&lines[1500]))
                .unwrap()
                .model_type,
            ModelType::Student
        );
        assert_eq!(
            det.health().unwrap().active_student_models,
            1,
            "only the last used stays loaded"
        );
    }
    // Both projects' samples went back to storage after their training: their status still counts
    // them, and a teacher update pools them from storage.
    let sequences = det.status(&keys[0]).unwrap().training_sequences;
    assert_eq!(
        det.health().unwrap().projects_with_samples_loaded,
        0,
        "active projects keep their samples in storage"
    );
    det.force_teacher_update()
        .unwrap()
        .wait(Some(Duration::from_secs(300)))
        .unwrap();
    let update = det.update_history().unwrap().pop().unwrap();
    assert!(update.success, "{update:?}");
    assert_eq!(
        update.projects, 2,
        "the idle project's spilled samples are pooled"
    );
    assert_eq!(det.status(&keys[0]).unwrap().training_sequences, sequences);
    for k in &keys {
        let d = det.detect(k, LogRecord::new(&lines[1550])).unwrap();
        assert_eq!(
            d.model_type,
            ModelType::Student,
            "an evicted student reloads from storage"
        );
        assert_eq!(
            det.status(k).unwrap().training.students_trained,
            1,
            "reloaded, not retrained"
        );
    }
}

#[test]
fn a_forked_project_starts_from_the_source_state_and_lives_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let lines = hdfs_lines(1600);
    let (fork_key, fork_id, source_key) = {
        let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
        let source = det
            .create_project(
                NewProject::named("production")
                    .warmup_threshold(1000)
                    .format(LogFormat::Hdfs),
            )
            .unwrap();
        stream(&det, &source.api_key, &lines[..1400]);
        assert_eq!(det.status(&source.api_key).unwrap().phase, Phase::Active);
        let before = det.status(&source.api_key).unwrap();

        let fork = det.fork_project(&source.project_id, " staging ").unwrap();
        assert_eq!(fork.project_name, "staging");
        assert_ne!(fork.project_id, source.project_id);
        assert_ne!(fork.api_key, source.api_key);
        assert!(matches!(
            det.fork_project("no-such-project", "x").unwrap_err(),
            Error::ProjectNotFound { .. }
        ));
        assert!(matches!(
            det.fork_project(&source.project_id, "").unwrap_err(),
            Error::InvalidInput { .. }
        ));
        let st = det.status(&fork.api_key).unwrap();
        assert_eq!(st.phase, Phase::Active, "the fork skips the warmup");
        assert_eq!(st.template_count, before.template_count);
        assert_eq!(st.training_sequences, before.training_sequences);
        // Same student, same (fresh) session context: the same scores.
        det.reset_sessions(&source.api_key).unwrap();
        let a = det
            .detect(&fork.api_key, LogRecord::new(&lines[1500]))
            .unwrap();
        let b = det
            .detect(&source.api_key, LogRecord::new(&lines[1500]))
            .unwrap();
        assert_eq!(a.model_type, ModelType::Student);
        assert_eq!(a.template_id, b.template_id);
        assert_eq!(
            a.anomaly_score, b.anomaly_score,
            "the same student scores alike"
        );
        assert_eq!(
            det.status(&fork.api_key).unwrap().training.students_trained,
            1
        );
        (fork.api_key, fork.project_id, source.api_key)
    };
    // Both survive a restart; deleting the source leaves the fork serving its student.
    let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
    let source_id = det.status(&source_key).unwrap().project_id;
    det.delete_project(&source_id).unwrap();
    assert_eq!(det.status(&fork_key).unwrap().project_id, fork_id);
    let d = det.detect(&fork_key, LogRecord::new(&lines[1550])).unwrap();
    assert_eq!(d.model_type, ModelType::Student);
}

/// Training is reproducible: two detectors on fresh storage, fed the same lines (two projects, so the
/// teacher pools both, with sessions still open at the warmup cut), give
/// bit-identical scores from their students. Session order and project order used to follow
/// per-process random hash orders.
#[test]
fn same_input_same_seed_gives_identical_students() {
    let lines = hdfs_lines(2000);
    let run = || {
        let dir = tempfile::tempdir().unwrap();
        let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
        let mut scores = Vec::new();
        for name in ["first", "second"] {
            let p = det
                .create_project(
                    NewProject::named(name)
                        .warmup_threshold(1000)
                        .format(LogFormat::Hdfs),
                )
                .unwrap();
            for r in stream(&det, &p.api_key, &lines) {
                scores.push((r.anomaly_score.to_bits(), r.model_type, r.is_anomaly));
            }
        }
        scores
    };
    let (a, b) = (run(), run());
    assert_eq!(a.len(), 4000);
    assert!(a.iter().any(|s| s.1 == ModelType::Student));
    assert_eq!(a, b);
}

#[test]
fn an_active_project_collects_without_loading_its_samples_and_retrains_on_them() {
    let dir = tempfile::tempdir().unwrap();
    let lines = hdfs_lines(4000);
    let (key, project_id, collected) = {
        let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
        let p = det
            .create_project(
                NewProject::named("collector")
                    .warmup_threshold(1000)
                    .format(LogFormat::Hdfs),
            )
            .unwrap();
        stream(&det, &p.api_key, &lines[..1400]);
        assert_eq!(det.status(&p.api_key).unwrap().phase, Phase::Active);
        assert_eq!(
            det.health().unwrap().projects_with_samples_loaded,
            0,
            "the samples went back to storage once the student took over"
        );
        let trained_on = det.status(&p.api_key).unwrap().training_sequences;
        stream(&det, &p.api_key, &lines[1400..3000]);
        det.close_all_sessions(&p.api_key).unwrap();
        let collected = det.status(&p.api_key).unwrap().training_sequences;
        assert!(
            collected > trained_on,
            "active sessions are collected for the next retraining: {trained_on} -> {collected}"
        );
        assert_eq!(det.health().unwrap().projects_with_samples_loaded, 0);
        det.close().unwrap();
        (p.api_key, p.project_id, collected)
    };
    // A new process: the additions were stored beside the samples.
    let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
    assert_eq!(det.status(&key).unwrap().training_sequences, collected);
    // A fork copies the samples with the additions merged.
    let fork = det.fork_project(&project_id, "fork").unwrap();
    assert_eq!(
        det.status(&fork.api_key).unwrap().training_sequences,
        collected
    );
    // Drift (a third of the lines from another system) retrains on samples and additions merged.
    let other = common::fixture("tests/fixtures/loghub/Zookeeper/Zookeeper_2k.log");
    let mixed: Vec<String> = lines[3000..4000]
        .iter()
        .zip(other.iter().cycle())
        .flat_map(|(h, z)| [h.clone(), h.clone(), z.clone()])
        .collect();
    for chunk in mixed.chunks(100) {
        det.detect_batch(&key, &records(chunk)).unwrap();
        if det.status(&key).unwrap().training.students_trained >= 2
            || det
                .training_job(&key)
                .unwrap()
                .is_some_and(|j| !j.status().state.is_finished())
        {
            break;
        }
    }
    let job = det
        .wait_for_training(&key, Some(Duration::from_secs(300)))
        .unwrap()
        .expect("drift started a retraining");
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let st = det.status(&key).unwrap();
    assert_eq!(st.training.students_trained, 2);
    assert!(
        st.training_sequences >= collected,
        "the retraining's samples hold the additions: {} < {collected}",
        st.training_sequences
    );
    assert_eq!(det.health().unwrap().projects_with_samples_loaded, 0);
}

#[test]
fn the_teacher_only_ablation_keeps_the_teacher_scoring_after_training() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(dir.path());
    cfg.ablation_teacher_scores = true;
    let det = TenantDetector::open(cfg).unwrap();
    let p = det
        .create_project(
            NewProject::named("teacher-only")
                .warmup_threshold(1000)
                .format(LogFormat::Hdfs),
        )
        .unwrap();
    let out = stream(&det, &p.api_key, &hdfs_lines(1600));
    let st = det.status(&p.api_key).unwrap();
    assert_eq!(st.phase, Phase::Active);
    assert_eq!(
        st.training.students_trained, 1,
        "the student is still trained"
    );
    let active: Vec<_> = out.iter().filter(|d| d.phase == Phase::Active).collect();
    assert!(!active.is_empty());
    assert!(active.iter().all(|d| d.model_type == ModelType::Teacher));
    // The teacher learned the project's templates at the first distillation: lines scored after it
    // use them (a template cached as unknown before the teacher knew it stayed unknown for good).
    let later = stream(&det, &p.api_key, &hdfs_lines(3000)[1600..]);
    let unknown = later.iter().map(|d| d.unknown_template_ratio).sum::<f32>() / later.len() as f32;
    assert!(
        unknown < 0.5,
        "mean unknown-template ratio {unknown} (1.0 when all are unknown)"
    );
    let verdicts = det.close_all_sessions(&p.api_key).unwrap();
    assert!(!verdicts.is_empty());
    assert!(verdicts.iter().all(|v| v.model_type == ModelType::Teacher));
    assert_eq!(
        det.health().unwrap().projects_with_samples_loaded,
        1,
        "the teacher's live profile needs the samples"
    );
}

#[test]
fn a_rule_common_in_the_warmup_stops_flagging_before_any_session_closes() {
    // "Got exception while serving" lines are normal in HDFS (a client went away): about 4% of the
    // first 5,000 lines. Sessions idle for a minute of log time close, but these 5,000 lines span
    // well under that at first, so the rules' normal shares must follow the lines, not the sessions.
    let dir = tempfile::tempdir().unwrap();
    let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
    let mut np = NewProject::named("rules").format(LogFormat::Hdfs);
    np.warmup_threshold = Some(10_000);
    let key = det.create_project(np).unwrap().api_key;
    let lines = hdfs_lines(5_000);
    let results = stream(&det, &key, &lines);
    assert!(results.iter().all(|d| d.phase == Phase::Warmup));
    let flagged_exceptions = |range: std::ops::Range<usize>| {
        range
            .filter(|&i| lines[i].contains("Got exception while serving"))
            .map(|i| results[i].is_anomaly)
            .fold((0, 0), |(n, f), a| (n + 1, f + usize::from(a)))
    };
    let (early, early_flagged) = flagged_exceptions(0..500);
    let (late, late_flagged) = flagged_exceptions(2_500..5_000);
    assert!(early >= 1 && late >= 50, "{early} early, {late} late");
    assert!(early_flagged >= 1, "the first exceptions are news");
    assert_eq!(late_flagged, 0, "a rule on 4% of lines is normal here");
}

/// `DEVICE=cuda` on a build without the `cuda` feature is a clear `InvalidConfig` that names `DEVICE`
/// and how to get a CUDA build, and opening writes nothing.
#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_on_a_build_without_it_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("store");
    let storage_text = storage.display().to_string();
    let config = Config::from_lookup(|name| match name {
        "DEVICE" => Some("cuda".to_string()),
        "STORAGE_DIR" => Some(storage_text.clone()),
        _ => None,
    })
    .unwrap();
    let Err(err) = TenantDetector::open(config) else {
        panic!("DEVICE=cuda opened on a build without CUDA");
    };
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    let text = err.to_string();
    assert!(
        text.contains("DEVICE") && text.contains("`cuda` feature"),
        "{text}"
    );
    assert!(
        !storage.exists(),
        "opening with a bad device wrote {storage:?}"
    );
}
