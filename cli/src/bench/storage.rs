//! `logsentinel bench storage --storage-url postgres://...`: the embedded redb store and a shared
//! PostgreSQL database side by side in one run: active-phase `detect_batch` throughput (group commits
//! included) and the cold load of students by a fresh instance; with `--scale-projects`, the memory of
//! one instance serving a large population (issue 24: 100,000 projects, 1,000 loaded students).

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use logsentinel::store::lease::project_lease;
use logsentinel::store::PgStore;
use logsentinel::{Config, Error, LeaseScope, LogRecord, TenantDetector};

use super::detect::{first_detects_ms, percentile, trained_project};

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
    /// Projects of the scale run on each backend (0 skips it): `--scale-students` of them forks of
    /// the trained project, the others new; a fresh process then opens the storage and loads every
    /// student.
    #[arg(long, default_value_t = 0)]
    scale_projects: usize,
    /// Projects of the scale run whose student is loaded.
    #[arg(long, default_value_t = 1_000)]
    scale_students: usize,
    /// What a lease covers on the PostgreSQL side (`storage` or `project`, see `LEASE_SCOPE`).
    #[arg(long, default_value = "storage", value_parser = ["storage", "project"])]
    lease_scope: String,
    /// Also time the lease traffic of an instance holding this many project leases (0 skips it):
    /// taking each, and renewing them all in the one statement the lease thread sends.
    #[arg(long, default_value_t = 0)]
    leases: usize,
    /// Internal: in this fresh process, open `--child-storage` and load the student of every project
    /// named by this prefix; prints one JSON line.
    #[arg(long, hide = true, requires = "child_storage")]
    child_load: Option<String>,
    /// Internal: storage (directory or URL) of `--child-load`.
    #[arg(long, hide = true)]
    child_storage: Option<PathBuf>,
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
    if let (Some(prefix), Some(storage)) = (&args.child_load, &args.child_storage) {
        return child_load(prefix, storage, &args.file, args.tiny);
    }
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
    on_pg.storage_url = Some(url.clone());
    if args.lease_scope == "project" {
        on_pg.lease_scope = LeaseScope::Project;
    }
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
    let configs: Vec<Config> = backends.iter().map(|b| b.config.clone()).collect();
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
    if args.leases > 0 {
        lease_traffic(&url, &name, args.leases)?;
    }
    if args.scale_projects > 0 {
        scale_table(&args, &configs, &name)?;
    }
    Ok(())
}

/// Takes `count` project leases as one instance does (one statement each, at a project's first
/// call), then renews them all as its lease thread does (one statement), 20 times: the database
/// work behind project leases.
fn lease_traffic(url: &str, name: &str, count: usize) -> Result<(), Error> {
    let store = PgStore::open(url)?;
    store.use_project_leases();
    let holder = format!("{name}-leases");
    let ttl = Config::default().lease_ttl_secs;
    let mut takes = Vec::with_capacity(count);
    for i in 0..count {
        let t = Instant::now();
        store.try_lease(&project_lease(&format!("{name}-{i}")), &holder, ttl)?;
        takes.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let mut renewals = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let lost = store.renew_leases(ttl)?;
        renewals.push(t.elapsed().as_secs_f64() * 1e3);
        if !lost.is_empty() {
            return Err(Error::storage(format!(
                "{} leases lost while renewing",
                lost.len()
            )));
        }
    }
    store.release_lease()?;
    takes.sort_by(f64::total_cmp);
    renewals.sort_by(f64::total_cmp);
    println!("\n| lease traffic of one instance, PostgreSQL | p50 | p99 |");
    println!("|---|---|---|");
    println!(
        "| taking a project's lease (first call of a project) | {:.2} ms | {:.2} ms |",
        percentile(&takes, 0.5),
        percentile(&takes, 0.99)
    );
    println!(
        "| renewing all {count} project leases, one statement (every third of the TTL) | {:.1} ms | {:.1} ms |",
        percentile(&renewals, 0.5),
        percentile(&renewals, 0.99)
    );
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
    let loads = first_detects_ms(&det, &ids, line)?;
    det.close()?;
    Ok(loads)
}

/// What `--child-load` measured in its fresh process.
#[derive(serde::Serialize, serde::Deserialize)]
struct ScaleLoad {
    projects: usize,
    students: usize,
    open_secs: f64,
    rss_before_open_mib: f64,
    rss_after_open_mib: f64,
    rss_mib: f64,
    loads_ms: Vec<f64>,
}

/// Grows each backend's storage to `--scale-projects` projects (`--scale-students` of them forks of
/// the trained project, whose students `cold_loads` already forked in part), then has a fresh
/// process per backend open it and load every student: RSS and cold loads, side by side.
fn scale_table(args: &StorageBenchArgs, configs: &[Config], name: &str) -> Result<(), Error> {
    let students = args.scale_students.min(args.scale_projects).max(1);
    let mut rows = Vec::new();
    for config in configs {
        let det = TenantDetector::open(config.clone())?;
        let source = det
            .list_projects()?
            .into_iter()
            .find(|p| p.project_name == name)
            .ok_or_else(|| Error::model("the trained benchmark project is gone"))?
            .project_id;
        let t = Instant::now();
        for i in args.students.max(1)..students {
            det.fork_project(&source, &format!("{name}-student-{i}"))?;
        }
        let fresh = args.scale_projects - students;
        for i in 0..fresh {
            det.create_project(
                logsentinel::NewProject::named(format!("{name}-idle-{i}"))
                    .format(logsentinel::LogFormat::Hdfs),
            )?;
            if (i + 1) % 10_000 == 0 {
                eprintln!(
                    "bench storage: {}: {} of {fresh} new projects in {:.0} s",
                    backend_label(config),
                    i + 1,
                    t.elapsed().as_secs_f64()
                );
            }
        }
        let written = t.elapsed().as_secs_f64();
        det.close()?;
        drop(det);
        let storage = match &config.storage_url {
            Some(url) => PathBuf::from(url),
            None => config.storage_dir.clone(),
        };
        let load = run_child_load(name, &storage, &args.file, args.tiny)?;
        eprintln!(
            "bench storage: {}: {} projects written in {written:.0} s, opened in {:.1} s",
            backend_label(config),
            load.projects,
            load.open_secs
        );
        rows.push(load);
    }
    println!(
        "\n| one fresh instance, {} projects in storage, {} students loaded | redb | PostgreSQL | PostgreSQL / redb |",
        rows[0].projects, rows[0].students
    );
    println!("|---|---|---|---|");
    let ratio_row = |label: &str, a: f64, b: f64, unit: &str| {
        println!(
            "| {label} | {a:.1} {unit} | {b:.1} {unit} | {:.3} |",
            b / a.max(1e-9)
        );
    };
    ratio_row(
        "open (every project record read)",
        rows[0].open_secs,
        rows[1].open_secs,
        "s",
    );
    ratio_row(
        "RSS after open, over the process before",
        rows[0].rss_after_open_mib - rows[0].rss_before_open_mib,
        rows[1].rss_after_open_mib - rows[1].rss_before_open_mib,
        "MiB",
    );
    ratio_row(
        "RSS with every student loaded",
        rows[0].rss_mib,
        rows[1].rss_mib,
        "MiB",
    );
    for (q, label) in [(0.5, "p50"), (0.99, "p99")] {
        ratio_row(
            &format!("cold load of a student, first detect: {label}"),
            percentile(&rows[0].loads_ms, q),
            percentile(&rows[1].loads_ms, q),
            "ms",
        );
    }
    Ok(())
}

fn backend_label(config: &Config) -> &'static str {
    if config.storage_url.is_some() {
        "PostgreSQL"
    } else {
        "redb"
    }
}

/// Runs `bench storage --child-load PREFIX --child-storage STORAGE` as a new process of this
/// executable, whose heap holds nothing of this one's, and reads its JSON line.
fn run_child_load(
    prefix: &str,
    storage: &std::path::Path,
    file: &std::path::Path,
    tiny: bool,
) -> Result<ScaleLoad, Error> {
    let exe = std::env::current_exe().map_err(|e| Error::storage(e.to_string()))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args([
        "bench",
        "storage",
        "--child-load",
        prefix,
        "--child-storage",
    ])
    .arg(storage)
    .arg("--file")
    .arg(file)
    .stderr(std::process::Stdio::inherit());
    if tiny {
        cmd.arg("--tiny");
    }
    let out = cmd.output().map_err(|e| Error::storage(e.to_string()))?;
    if !out.status.success() {
        return Err(Error::model(format!(
            "bench child `--child-load` failed: {}",
            out.status
        )));
    }
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    Ok(serde_json::from_str(&last)?)
}

/// `--child-load`: opens the storage and loads the student of the project named `prefix` and of
/// every project named `{prefix}-student-*` by a first detect of the file's first line.
fn child_load(
    prefix: &str,
    storage: &std::path::Path,
    file: &std::path::Path,
    tiny: bool,
) -> Result<(), Error> {
    let lines = crate::read_lines(file)?;
    let line = lines
        .first()
        .ok_or_else(|| Error::invalid_input("empty file"))?;
    let mut config = Config::default();
    if tiny {
        config = config.tiny_models();
    }
    crate::set_storage(&mut config, storage);
    let rss_before_open_mib = super::detect::rss_kib() as f64 / 1024.0;
    let t = Instant::now();
    let det = TenantDetector::open(config)?;
    let open_secs = t.elapsed().as_secs_f64();
    let rss_after_open_mib = super::detect::rss_kib() as f64 / 1024.0;
    let students = format!("{prefix}-student-");
    let ids: Vec<String> = det
        .list_projects()?
        .into_iter()
        .filter(|p| p.project_name == prefix || p.project_name.starts_with(&students))
        .map(|p| p.project_id)
        .collect();
    let loads_ms = first_detects_ms(&det, &ids, line)?;
    let h = det.health()?;
    let load = ScaleLoad {
        projects: h.total_projects,
        students: h.active_student_models,
        open_secs,
        rss_before_open_mib,
        rss_after_open_mib,
        rss_mib: super::detect::rss_kib() as f64 / 1024.0,
        loads_ms,
    };
    det.close()?;
    println!("{}", serde_json::to_string(&load)?);
    Ok(())
}
