//! Soak: mixed single-line and batch detection, session closes and polls, student trainings (first and
//! after drift), forced teacher updates, key rotations and project churn (delete + create) on many
//! projects, with the process's resident memory (VmRSS) sampled every half second. After warm-up (the
//! first half) memory must be flat: the least-squares slope over the second half of the RSS floor (the
//! minimum of each 10-second window; RSS swings by tens of MiB with the batches and trainings in
//! flight) stays under a bound, or, when a short run's few windows give a noisy slope, the last floor
//! stays below the peak of the warm-up (a leak climbs past it). The slope of the raw samples is reported
//! too. Any error fails the run.
//!
//! `LOGSENTINEL_SOAK_SECS` (default 120), `LOGSENTINEL_SOAK_PROJECTS` (default 16),
//! `LOGSENTINEL_SOAK_MAX_SLOPE_MB_PER_MIN` (default 10), `LOGSENTINEL_SOAK_CSV` (default
//! `<target>/tmp/soak_rss.csv`: seconds, RSS, lines, projects created, students trained, teacher
//! version). Run by `scripts/test-reliability.sh` in release.
#![allow(clippy::unwrap_used)]

mod common;
use common::{fixture, slope};

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logsentinel::util::rng::SplitMix64;
use logsentinel::{
    Config, JobState, LogFormat, LogRecord, NewProject, SessionVerdict, TenantDetector,
};

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident set size of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

struct Project {
    key: String,
    id: String,
    ordinal: u64,
    warmup: u64,
    sent: u64,
}

#[derive(Default)]
struct Counters {
    lines: AtomicU64,
    created: AtomicU64,
    trained: AtomicU64,
    retired: AtomicU64,
    verdicts: AtomicU64,
    rotations: AtomicU64,
    teacher_updates: AtomicU64,
}

#[test]
#[ignore = "two minutes or more: run by scripts/test-reliability.sh (release)"]
fn soak_mixed_load_keeps_memory_flat() {
    let secs: u64 = env_num("LOGSENTINEL_SOAK_SECS", 120);
    let n_projects: usize = env_num("LOGSENTINEL_SOAK_PROJECTS", 16);
    let max_slope: f64 = env_num("LOGSENTINEL_SOAK_MAX_SLOPE_MB_PER_MIN", 10.0);
    let csv_path: PathBuf = std::env::var("LOGSENTINEL_SOAK_CSV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("soak_rss.csv"));
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::with_storage_dir(dir.path()).tiny_models();
    cfg.training_threads = 1;
    cfg.min_training_sequences = 50;
    // Room for a few students only: eviction and reload run all the time.
    cfg.student_memory_budget_bytes = 512 * 1024;
    let det = TenantDetector::open(cfg).unwrap();
    let counters = Arc::new(Counters::default());
    {
        let c = counters.clone();
        det.set_verdict_callback(Some(Arc::new(move |_v: &SessionVerdict| {
            c.verdicts.fetch_add(1, Ordering::Relaxed);
        })));
    }
    let hdfs = Arc::new(fixture("../tests/fixtures/hdfs/hdfs_dev_20k.log"));
    let other = Arc::new(fixture("tests/fixtures/loghub/Zookeeper/Zookeeper_2k.log"));
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let workers = 2;

    let new_project = |det: &TenantDetector, ordinal: u64, counters: &Counters| -> Project {
        let warmup = 500 + 250 * (ordinal % 5);
        let p = det
            .create_project(
                NewProject::named(format!("soak-{ordinal}"))
                    .warmup_threshold(warmup)
                    .format(LogFormat::Hdfs),
            )
            .unwrap();
        counters.created.fetch_add(1, Ordering::Relaxed);
        Project {
            key: p.api_key,
            id: p.project_id,
            ordinal,
            warmup,
            sent: 0,
        }
    };

    let mut handles = Vec::new();
    for w in 0..workers {
        let det = det.clone();
        let (hdfs, other, stop, counters) =
            (hdfs.clone(), other.clone(), stop.clone(), counters.clone());
        let mut projects: Vec<Project> = (0..n_projects / workers)
            .map(|i| new_project(&det, (i * workers + w) as u64, &counters))
            .collect();
        let mut next_ordinal = (n_projects + w) as u64;
        handles.push(std::thread::spawn(move || {
            let mut rng = SplitMix64::new(0x50A4 + w as u64);
            let line_of = |p: &Project, i: u64| -> LogRecord {
                let i = i as usize;
                // Projects with an odd ordinal drift once active: a third of their lines are new.
                if p.ordinal % 2 == 1 && i > p.warmup as usize + 1_500 && i % 3 == 0 {
                    return LogRecord::new(&other[(i + p.ordinal as usize) % other.len()]);
                }
                LogRecord::new(&hdfs[(p.ordinal as usize * 1_777 + i) % hdfs.len()])
            };
            while !stop.load(Ordering::Relaxed) {
                let pi = rng.below(projects.len());
                let p = &mut projects[pi];
                let dice = rng.below(100);
                if dice < 55 {
                    let n = 50 + rng.below(350) as u64;
                    let recs: Vec<LogRecord> =
                        (p.sent..p.sent + n).map(|i| line_of(p, i)).collect();
                    let r = det.detect_batch(&p.key, &recs).unwrap();
                    assert_eq!(r.total_logs as u64, n);
                    p.sent += n;
                    counters.lines.fetch_add(n, Ordering::Relaxed);
                } else if dice < 75 {
                    for _ in 0..20 {
                        det.detect(&p.key, line_of(p, p.sent)).unwrap();
                        p.sent += 1;
                    }
                    counters.lines.fetch_add(20, Ordering::Relaxed);
                } else if dice < 80 {
                    det.close_all_sessions(&p.key).unwrap();
                } else if dice < 88 {
                    det.poll_session_verdicts(&p.key, usize::MAX).unwrap();
                } else if dice < 95 {
                    let st = det.status(&p.key).unwrap();
                    assert_eq!(st.log_count, p.sent);
                    assert!(
                        st.training.last_error.is_none(),
                        "training failed: {:?}",
                        st.training.last_error
                    );
                    det.health().unwrap();
                } else if dice < 97 {
                    p.key = det.rotate_key(&p.key).unwrap();
                    counters.rotations.fetch_add(1, Ordering::Relaxed);
                } else {
                    det.flush().unwrap();
                }
                // Churn: a project that has lived its life is deleted and replaced.
                if p.sent > p.warmup + 6_000 {
                    let st = det.status(&p.key).unwrap();
                    let trained = st.training.students_trained;
                    // A drifting project lives until its student was retrained (or 20,000 lines).
                    if p.ordinal % 2 == 1 && trained < 2 && p.sent < p.warmup + 20_000 {
                        continue;
                    }
                    if trained == 0 {
                        // Not trained yet: wait for it rather than churn it away.
                        if let Some(s) = det
                            .wait_for_training(&p.key, Some(Duration::from_secs(600)))
                            .unwrap()
                        {
                            assert_eq!(s.state, JobState::Succeeded, "{:?}", s.error);
                        }
                        continue;
                    }
                    counters.trained.fetch_add(trained, Ordering::Relaxed);
                    counters.retired.fetch_add(1, Ordering::Relaxed);
                    det.delete_project(&p.id).unwrap();
                    projects[pi] = new_project(&det, next_ordinal, &counters);
                    next_ordinal += workers as u64;
                }
            }
        }));
    }
    // Teacher updates every 20 s.
    {
        let (det, stop, counters) = (det.clone(), stop.clone(), counters.clone());
        handles.push(std::thread::spawn(move || {
            let mut next = Instant::now() + Duration::from_secs(20);
            while !stop.load(Ordering::Relaxed) {
                if Instant::now() >= next {
                    let s = det
                        .force_teacher_update()
                        .unwrap()
                        .wait(Some(Duration::from_secs(600)))
                        .unwrap();
                    assert_ne!(s.state, JobState::Failed, "{:?}", s.error);
                    counters.teacher_updates.fetch_add(1, Ordering::Relaxed);
                    next = Instant::now() + Duration::from_secs(20);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }));
    }

    // Sample RSS every half second until the deadline.
    let started = Instant::now();
    let mut csv = std::fs::File::create(&csv_path).unwrap();
    writeln!(
        csv,
        "secs,rss_mib,lines,projects_created,verdicts,teacher_version"
    )
    .unwrap();
    let mut samples: Vec<(f64, f64)> = Vec::new();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        if handles.iter().any(|h| h.is_finished()) {
            break; // a worker panicked: joined below
        }
        let t = started.elapsed().as_secs_f64();
        let rss = rss_kib() as f64 / 1024.0;
        let version = det.teacher_info().unwrap().version;
        writeln!(
            csv,
            "{t:.1},{rss:.1},{},{},{},{version}",
            counters.lines.load(Ordering::Relaxed),
            counters.created.load(Ordering::Relaxed),
            counters.verdicts.load(Ordering::Relaxed)
        )
        .unwrap();
        samples.push((t, rss));
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    let history = det.update_history().unwrap();
    assert!(history.iter().all(|h| h.success), "{history:?}");
    det.close().unwrap();

    let half = samples.len() / 2;
    let (xs, ys): (Vec<f64>, Vec<f64>) =
        samples[half..].iter().map(|&(t, r)| (t / 60.0, r)).unzip();
    let per_min = slope(&xs, &ys);
    // RSS swings by tens of MiB with batches and trainings in flight; a leak raises the floor too, so
    // the bound applies to the floor: the minimum of each 10-second window.
    let (fx, fy): (Vec<f64>, Vec<f64>) = samples[half..]
        .chunks(20)
        .filter(|c| c.len() == 20)
        .map(|c| {
            let t = c.iter().map(|s| s.0).sum::<f64>() / c.len() as f64;
            (t / 60.0, c.iter().map(|s| s.1).fold(f64::MAX, f64::min))
        })
        .unzip();
    let floor_per_min = slope(&fx, &fy);
    let all: Vec<f64> = samples.iter().map(|s| s.1).collect();
    let max = all.iter().cloned().fold(f64::MIN, f64::max);
    eprintln!(
        "soak: {secs} s, {} lines, {} projects created, {} retired after training {} students ({} retrainings after drift), {} verdicts, {} rotations, {} teacher updates; RSS MiB first {:.0}, at half {:.0}, last {:.0}, max {max:.0}; slope over the second half {per_min:.2} MiB/min (of the 10-s floors: {floor_per_min:.2}); samples in {}",
        counters.lines.load(Ordering::Relaxed),
        counters.created.load(Ordering::Relaxed),
        counters.retired.load(Ordering::Relaxed),
        counters.trained.load(Ordering::Relaxed),
        counters.trained.load(Ordering::Relaxed) - counters.retired.load(Ordering::Relaxed),
        counters.verdicts.load(Ordering::Relaxed),
        counters.rotations.load(Ordering::Relaxed),
        counters.teacher_updates.load(Ordering::Relaxed),
        all[0],
        all[half],
        all[all.len() - 1],
        csv_path.display()
    );
    assert!(fx.len() >= 3, "the run was cut short");
    let warmup_peak = all[..half].iter().cloned().fold(f64::MIN, f64::max);
    let last_floor = fy[fy.len() - 1];
    assert!(
        floor_per_min < max_slope || last_floor < warmup_peak,
        "RSS floor grows by {floor_per_min:.2} MiB/min after warm-up (bound {max_slope}) and ended at \
         {last_floor:.0} MiB, above the warm-up peak {warmup_peak:.0} MiB"
    );
}
