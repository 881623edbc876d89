//! `logsentinel bench storage --storage-url postgres://...`: the embedded redb store and a shared
//! PostgreSQL database side by side in one run: active-phase `detect_batch` throughput (group commits
//! included) and the cold load of students by a fresh instance.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use logsentinel::{Config, Error, LogRecord, TenantDetector};

use super::detect::{percentile, trained_project};

/// Arguments of `bench storage`.
#[derive(Args)]
pub struct StorageBenchArgs {
    /// The PostgreSQL database to measure (`postgres://...`; default STORAGE_URL). The run adds
    /// projects named `bench-storage-*` to it.
    #[arg(long)]
    storage_url: Option<String>,
    /// Log file (HDFS format) to replay.
    #[arg(long, default_value = "tests/fixtures/hdfs/hdfs_dev_20k.log")]
    file: PathBuf,
    /// Warmup threshold of the benchmark project.
    #[arg(long, default_value_t = 10_000)]
    warmup: u64,
    /// Students loaded cold by a fresh instance (forks of the trained project).
    #[arg(long, default_value_t = 50)]
    students: usize,
    /// Lines per detect_batch call.
    #[arg(long, default_value_t = 512)]
    batch: usize,
    /// Rounds of the throughput measurement, the backends alternating; medians are reported.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Tiny models (a quick smoke run; figures are not the product's).
    #[arg(long)]
    tiny: bool,
}

/// One backend under measurement.
struct Backend {
    config: Config,
    det: TenantDetector,
    key: String,
    rates: Vec<f64>,
}

/// Runs the benchmark and prints its table.
pub fn run(args: StorageBenchArgs) -> Result<(), Error> {
    let url = args
        .storage_url
        .clone()
        .or_else(|| std::env::var("STORAGE_URL").ok())
        .ok_or_else(|| {
            Error::invalid_input("pass --storage-url postgres://... (or set STORAGE_URL)")
        })?;
    let lines = crate::read_lines(&args.file)?;
    let w = args.warmup as usize;
    if lines.len() < w + 2_000 {
        return Err(Error::invalid_input(
            "the file needs at least warmup + 2,000 lines",
        ));
    }
    let dir = tempfile::tempdir().map_err(|e| Error::storage(e.to_string()))?;
    let mut base = Config::default();
    if args.tiny {
        base = base.tiny_models();
    }
    base.training_threads = 1;
    let mut on_redb = base.clone();
    on_redb.storage_dir = dir.path().to_path_buf();
    let mut on_pg = base;
    on_pg.storage_url = Some(url);
    let name = format!("bench-storage-{}", std::process::id());

    let mut backends = Vec::new();
    for (label, config) in [("redb", on_redb), ("PostgreSQL", on_pg)] {
        let det = TenantDetector::open(config.clone())?;
        let t = Instant::now();
        let key = trained_project(&det, &name, &lines, args.warmup)?;
        eprintln!(
            "bench storage: {label}: warmup and training in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        backends.push(Backend {
            config,
            det,
            key,
            rates: Vec::new(),
        });
    }
    // Alternating rounds, so that a busy moment of the machine hits both.
    let active = &lines[w..];
    for _ in 0..args.repeat.max(1) {
        for b in &mut backends {
            let t = Instant::now();
            for chunk in active.chunks(args.batch) {
                let recs: Vec<LogRecord> = chunk.iter().map(LogRecord::new).collect();
                b.det.detect_batch(&b.key, &recs)?;
            }
            b.det.flush()?;
            b.rates
                .push(active.len() as f64 / t.elapsed().as_secs_f64().max(1e-9));
        }
    }
    let mut loads = Vec::new();
    let mut rates = Vec::new();
    for mut b in backends {
        b.rates.sort_by(f64::total_cmp);
        rates.push(b.rates[b.rates.len() / 2]);
        loads.push(cold_loads(b, &name, args.students, &active[0])?);
    }

    println!(
        "\n| storage, {} models, {} active lines x {} rounds | redb | PostgreSQL | PostgreSQL / redb |",
        if args.tiny { "tiny" } else { "full-size" },
        active.len(),
        args.repeat.max(1)
    );
    println!("|---|---|---|---|");
    println!(
        "| detect_batch ({} lines a call, group commits and a flush included), median | {:.0} lines/s | {:.0} lines/s | {:.3} |",
        args.batch,
        rates[0],
        rates[1],
        rates[1] / rates[0]
    );
    for (q, label) in [(0.5, "p50"), (0.99, "p99")] {
        println!(
            "| cold load of a student by a fresh instance, first detect, {} students: {label} | {:.2} ms | {:.2} ms | {:.3} |",
            loads[0].len(),
            percentile(&loads[0], q),
            percentile(&loads[1], q),
            percentile(&loads[1], q) / percentile(&loads[0], q).max(1e-9)
        );
    }
    Ok(())
}

/// Forks the trained project into `students` projects, reopens the storage as a fresh instance
/// would, and times each student's first detect (its load from storage); sorted, in ms.
fn cold_loads(b: Backend, name: &str, students: usize, line: &str) -> Result<Vec<f64>, Error> {
    let source = b.det.status(&b.key)?.project_id;
    for i in 1..students.max(1) {
        b.det
            .fork_project(&source, &format!("{name}-student-{i}"))?;
    }
    b.det.close()?;
    // The storage is free for the next instance only once this one is gone (redb locks its file).
    drop(b.det);
    let det = TenantDetector::open(b.config.clone())?;
    let ids: Vec<String> = det
        .list_projects()?
        .into_iter()
        .filter(|p| {
            p.project_id == source || p.project_name.starts_with(&format!("{name}-student-"))
        })
        .map(|p| p.project_id)
        .collect();
    let mut loads = Vec::with_capacity(ids.len());
    for id in &ids {
        let key = det.rotate_key_by_id(id)?;
        let t = Instant::now();
        det.detect(&key, LogRecord::new(line))?;
        loads.push(t.elapsed().as_secs_f64() * 1e3);
    }
    det.close()?;
    loads.sort_by(f64::total_cmp);
    Ok(loads)
}
