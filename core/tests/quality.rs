//! Detection quality on the committed HDFS fixture (20,000 lines, warmup 10,000, tiny models): the
//! active-phase session F1 with the conventions of `score_detect.py --skip-warmup` must stay above a
//! bound on F1 and on the share of normal sessions flagged.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use logsentinel::{Config, JobState, LogFormat, LogRecord, NewProject, Phase, TenantDetector};

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../tests/fixtures/hdfs/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).expect("fixture")
}

#[test]
fn hdfs_fixture_active_session_f1_is_high() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::with_storage_dir(dir.path()).tiny_models();
    config.training_threads = 1;
    let det = TenantDetector::open(config).unwrap();
    let mut np = NewProject::named("quality").format(LogFormat::Hdfs);
    np.warmup_threshold = Some(10_000);
    let key = det.create_project(np).unwrap().api_key;
    let text = fixture("hdfs_dev_20k.log");
    let lines: Vec<&str> = text.lines().collect();
    let mut flagged: HashSet<String> = HashSet::new();
    let mut warm: HashSet<String> = HashSet::new();
    let mut last_line: HashMap<String, usize> = HashMap::new();
    let mut seen = 0usize;
    for chunk in lines.chunks(256) {
        let recs: Vec<LogRecord> = chunk.iter().map(|l| LogRecord::new(*l)).collect();
        for d in det.detect_batch(&key, &recs).unwrap().results {
            seen += 1;
            if let Some(s) = d.session_id {
                last_line.insert(s.clone(), seen);
                if d.phase == Phase::Warmup {
                    warm.insert(s.clone());
                }
                if d.is_anomaly {
                    flagged.insert(s);
                }
            }
        }
        for v in det.poll_session_verdicts(&key, usize::MAX).unwrap() {
            if v.is_anomaly {
                flagged.insert(v.session_id);
            }
        }
        if det.status(&key).unwrap().phase == Phase::Training {
            let st = det
                .wait_for_training(&key, Some(Duration::from_secs(600)))
                .unwrap()
                .unwrap();
            assert_eq!(st.state, JobState::Succeeded, "{:?}", st.error);
        }
    }
    for v in det.close_all_sessions(&key).unwrap() {
        if v.is_anomaly {
            flagged.insert(v.session_id);
        }
    }
    let labels: HashMap<String, bool> = fixture("hdfs_dev_20k_labels.csv")
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(','))
        .map(|(s, y)| (s.to_string(), y.trim() == "Anomaly"))
        .collect();
    let (mut tp, mut fp, mut fn_, mut tn) = (0usize, 0usize, 0usize, 0usize);
    // The fixture is the head of a longer stream: sessions still running near its end are cut (their
    // later lines are not in it) and are left out, as any session not idle for a minute of log time
    // (~4,500 lines at this stream's rate) at the end would be.
    let cut = lines.len().saturating_sub(5_000);
    for (s, &y) in &labels {
        if warm.contains(s) || last_line.get(s).is_none_or(|&l| l > cut) {
            continue;
        }
        match (y, flagged.contains(s)) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => fn_ += 1,
            (false, false) => tn += 1,
        }
    }
    let p = tp as f64 / (tp + fp).max(1) as f64;
    let r = tp as f64 / (tp + fn_).max(1) as f64;
    let f1 = if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    };
    eprintln!("active sessions: P {p:.3} R {r:.3} F1 {f1:.3} (tp {tp} fp {fp} fn {fn_})");
    let fpr = fp as f64 / (fp + tn).max(1) as f64;
    assert!(
        tp + fn_ >= 4,
        "too few anomalous active sessions: {}",
        tp + fn_
    );
    assert!(tn >= 100, "too few normal active sessions: {tn}");
    // Before session shapes and tail calibration, line verdicts flagged several percent of normal
    // sessions here.
    assert!(
        fpr <= 0.01,
        "normal active sessions flagged: {fpr:.4} ({fp})"
    );
    assert!(
        f1 >= 0.6,
        "active-phase session F1 {f1:.3} (P {p:.3} R {r:.3})"
    );
}
