//! The Rust side of the binding benchmarks: the same work as `examples/node/bench.mjs` and
//! `python/examples/bench.py`, through the core crate directly, printed as one JSON line of lines/s.
//!
//! ```sh
//! cargo run --release -p logsentinel --example binding_bench -- tests/fixtures/hdfs/hdfs_dev_20k.log 4000
//! ```
//!
//! Work (identical in the three languages): tiny models; a project trained at warmup 1,000 on lines
//! 0..2000 (untimed); then `n` lines scored in the warmup phase (teacher) one call per line on a fresh
//! project, the same lines in batches of 256 on another fresh project, then lines 2000..2000+n on the
//! trained project (student) one call per line, its sessions reset, and the same lines again in
//! batches. Each cell is the best of 3 runs.

use std::time::{Duration, Instant};

use logsentinel::{Config, LogFormat, LogRecord, NewProject, TenantDetector};

const BATCH: usize = 256;
const REPEATS: usize = 3;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "tests/fixtures/hdfs/hdfs_dev_20k.log".into());
    let n: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(4000);
    let text = std::fs::read_to_string(&path)?;
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() < 2000 + n {
        return Err(format!("{path} has {} lines, need {}", lines.len(), 2000 + n).into());
    }
    let storage = std::env::temp_dir().join(format!("logsentinel-bench-{}", std::process::id()));
    let mut config = Config::with_storage_dir(&storage).tiny_models();
    config.warmup_threshold = 1000;
    let det = TenantDetector::open(config)?;

    // Untimed: one project past its first training.
    let active = det.create_project(NewProject::named("bench-active").format(LogFormat::Hdfs))?;
    for chunk in lines[..2000].chunks(500) {
        det.detect_batch(&active.api_key, &records(chunk))?;
    }
    det.wait_for_training(&active.api_key, Some(Duration::from_secs(600)))?;

    // Each cell is the best of REPEATS runs (fresh warmup projects each time; the trained project's
    // sessions reset between runs).
    let warm = &lines[..n];
    let act = &lines[2000..2000 + n];
    let (mut warmup_detect, mut warmup_batch, mut active_detect, mut active_batch) =
        (0f64, 0f64, 0f64, 0f64);
    for rep in 0..REPEATS {
        let a = det.create_project(project(&format!("bench-warmup-single-{rep}")))?;
        warmup_detect = warmup_detect.max(rate(n, || {
            for l in warm {
                det.detect(&a.api_key, LogRecord::new(*l))?;
            }
            Ok(())
        })?);
        let b = det.create_project(project(&format!("bench-warmup-batch-{rep}")))?;
        warmup_batch = warmup_batch.max(rate(n, || {
            for chunk in warm.chunks(BATCH) {
                det.detect_batch(&b.api_key, &records(chunk))?;
            }
            Ok(())
        })?);
        det.reset_sessions(&active.api_key)?;
        active_detect = active_detect.max(rate(n, || {
            for l in act {
                det.detect(&active.api_key, LogRecord::new(*l))?;
            }
            Ok(())
        })?);
        det.reset_sessions(&active.api_key)?;
        active_batch = active_batch.max(rate(n, || {
            for chunk in act.chunks(BATCH) {
                det.detect_batch(&active.api_key, &records(chunk))?;
            }
            Ok(())
        })?);
    }
    det.close()?;
    let _ = std::fs::remove_dir_all(&storage);
    println!(
        "{}",
        serde_json::json!({
            "lang": "rust",
            "lines": n,
            "warmup_detect": warmup_detect,
            "warmup_batch": warmup_batch,
            "active_detect": active_detect,
            "active_batch": active_batch,
        })
    );
    Ok(())
}

fn project(name: &str) -> NewProject {
    // A threshold never reached: the whole measurement stays in warmup (teacher scoring).
    NewProject::named(name)
        .format(LogFormat::Hdfs)
        .warmup_threshold(1_000_000_000)
}

fn records(lines: &[&str]) -> Vec<LogRecord> {
    lines.iter().map(|l| LogRecord::new(*l)).collect()
}

fn rate(
    n: usize,
    f: impl FnOnce() -> Result<(), logsentinel::Error>,
) -> Result<f64, logsentinel::Error> {
    let start = Instant::now();
    f()?;
    Ok(n as f64 / start.elapsed().as_secs_f64())
}
