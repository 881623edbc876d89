//! `logsentinel bench detect`: throughput, latency, memory and isolation of detection, measured side by
//! side in one run on a real log (default: the committed HDFS sample).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use logsentinel::model::transformer::FIRST_TEMPLATE_TOKEN;
use logsentinel::{Config, Error, LogFormat, LogRecord, NewProject, Phase, TenantDetector};

/// Arguments of `bench detect`.
#[derive(Args)]
pub struct DetectBenchArgs {
    /// Log file (HDFS format) to replay.
    #[arg(long, default_value = "tests/fixtures/hdfs/hdfs_dev_20k.log")]
    file: PathBuf,
    /// Warmup threshold of the benchmark projects.
    #[arg(long, default_value_t = 10_000)]
    warmup: u64,
    /// Idle projects past warmup (forks of a trained tiny-model project) for the memory measurement.
    #[arg(long, default_value_t = 2_000)]
    idle_projects: usize,
    /// Projects of the scale run (0 skips it): `--students` of them forks of a trained project with
    /// their student loaded, the others new.
    #[arg(long, default_value_t = 10_000)]
    projects: usize,
    /// Projects of the scale run with a loaded student.
    #[arg(long, default_value_t = 1_000)]
    students: usize,
    /// Lines per detect_batch call.
    #[arg(long, default_value_t = 512)]
    batch: usize,
    /// Tiny models (a quick smoke run; figures are not the product's).
    #[arg(long)]
    tiny: bool,
    /// Times each throughput figure is measured; the median is reported (a busy machine's noise).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Internal: run one memory measurement (`idle` or `scale`) on the storage `--child-dir` in this
    /// fresh process, whose heap holds nothing else (freed memory of earlier phases stays in a
    /// process's allocator and hides or inflates what is measured).
    #[arg(long, hide = true, requires = "child_dir")]
    child: Option<String>,
    /// Internal: storage directory of `--child`.
    #[arg(long, hide = true)]
    child_dir: Option<PathBuf>,
    /// Internal: the trained project whose forks `--child scale` loads.
    #[arg(long, hide = true)]
    child_source: Option<String>,
    #[command(flatten)]
    peer: super::peer::PeerArgs,
}

/// Runs `bench detect --child KIND --child-dir DIR [--child-source ID]` as a new process of this
/// executable; its table rows go to this process's stdout.
fn run_child(
    kind: &str,
    dir: &std::path::Path,
    file: &std::path::Path,
    source: Option<&str>,
) -> Result<(), Error> {
    let exe = std::env::current_exe().map_err(|e| Error::storage(e.to_string()))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["bench", "detect", "--child", kind, "--child-dir"])
        .arg(dir)
        .arg("--file")
        .arg(file);
    if let Some(source) = source {
        cmd.args(["--child-source", source]);
    }
    let status = cmd.status().map_err(|e| Error::storage(e.to_string()))?;
    if !status.success() {
        return Err(Error::model(format!(
            "bench child `{kind}` failed: {status}"
        )));
    }
    Ok(())
}

/// The measurement `--child` names, in this (fresh) process.
fn child_main(args: &DetectBenchArgs, kind: &str, dir: &std::path::Path) -> Result<(), Error> {
    match kind {
        "idle" => {
            let config = Config::with_storage_dir(dir).tiny_models();
            let before = rss_kib();
            let det = TenantDetector::open(config)?;
            let h = det.health()?;
            let per_project =
                rss_kib().saturating_sub(before) as f64 / h.total_projects.max(1) as f64;
            if h.active_student_models != 0 || h.projects_with_samples_loaded != 0 {
                return Err(Error::model(
                    "idle projects loaded models or samples at open",
                ));
            }
            println!(
                "| RSS per idle project past warmup ({} projects, a fresh process, after open) | {per_project:.1} KiB |",
                h.total_projects
            );
            Ok(())
        }
        "scale" | "scale-restart" => {
            let source = args
                .child_source
                .as_deref()
                .ok_or_else(|| Error::invalid_input("--child scale needs --child-source"))?;
            let lines = crate::read_lines(&args.file)?;
            let line = lines
                .first()
                .ok_or_else(|| Error::invalid_input("empty file"))?;
            let when = if kind == "scale" {
                "a fresh process right after the storage was written"
            } else {
                "the next fresh process (a restart)"
            };
            load_students(dir, source, line, when)
        }
        other => Err(Error::invalid_input(format!(
            "unknown bench child `{other}`"
        ))),
    }
}

pub(super) fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Times the first detect of each project (the load of its student from storage), in ms, sorted.
/// Admin access by id: each project gets a fresh key (keys are shown once).
pub(super) fn first_detects_ms(
    det: &TenantDetector,
    ids: &[String],
    line: &str,
) -> Result<Vec<f64>, Error> {
    let mut loads = Vec::with_capacity(ids.len());
    for id in ids {
        let key = det.rotate_key_by_id(id)?;
        let t = Instant::now();
        det.detect(&key, LogRecord::new(line))?;
        loads.push(t.elapsed().as_secs_f64() * 1e3);
    }
    loads.sort_by(f64::total_cmp);
    Ok(loads)
}

pub(super) fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Lines/s of `detect_batch` over `lines`.
fn batch_rate(
    det: &TenantDetector,
    key: &str,
    lines: &[String],
    batch: usize,
) -> Result<f64, Error> {
    let started = Instant::now();
    for chunk in lines.chunks(batch) {
        let recs: Vec<LogRecord> = chunk.iter().map(LogRecord::new).collect();
        det.detect_batch(key, &recs)?;
    }
    Ok(lines.len() as f64 / started.elapsed().as_secs_f64().max(1e-9))
}

/// The median of `repeat` measurements of [`batch_rate`].
fn median_batch_rate(
    det: &TenantDetector,
    key: &str,
    lines: &[String],
    batch: usize,
    repeat: usize,
) -> Result<f64, Error> {
    let mut rates = (0..repeat.max(1))
        .map(|_| batch_rate(det, key, lines, batch))
        .collect::<Result<Vec<_>, _>>()?;
    rates.sort_by(f64::total_cmp);
    Ok(rates[rates.len() / 2])
}

/// Latencies (µs, sorted) of single `detect` calls.
fn latencies(det: &TenantDetector, key: &str, lines: &[String]) -> Result<Vec<f64>, Error> {
    let mut v = Vec::with_capacity(lines.len());
    for l in lines {
        let t = Instant::now();
        det.detect(key, LogRecord::new(l))?;
        v.push(t.elapsed().as_secs_f64() * 1e6);
    }
    v.sort_by(f64::total_cmp);
    Ok(v)
}

pub(super) fn trained_project(
    det: &TenantDetector,
    name: &str,
    lines: &[String],
    warmup: u64,
) -> Result<String, Error> {
    let p = det.create_project(
        NewProject::named(name)
            .warmup_threshold(warmup)
            .format(LogFormat::Hdfs),
    )?;
    let w = warmup as usize;
    for chunk in lines[..w].chunks(512) {
        det.detect_batch(
            &p.api_key,
            &chunk.iter().map(LogRecord::new).collect::<Vec<_>>(),
        )?;
    }
    det.wait_for_training(&p.api_key, None)?;
    if det.status(&p.api_key)?.phase != Phase::Active {
        return Err(Error::model(format!(
            "benchmark project {name} did not reach the active phase"
        )));
    }
    Ok(p.api_key)
}

/// Runs the benchmark and prints its table.
pub fn run(args: DetectBenchArgs) -> Result<(), Error> {
    if let (Some(kind), Some(dir)) = (args.child.as_deref(), args.child_dir.as_deref()) {
        return child_main(&args, kind, dir);
    }
    let lines = crate::read_lines(&args.file)?;
    let w = args.warmup as usize;
    if lines.len() < w + 2_000 {
        return Err(Error::invalid_input(
            "the file needs at least warmup + 2,000 lines",
        ));
    }
    let dir = tempfile::tempdir().map_err(|e| Error::storage(e.to_string()))?;
    let mut config = Config::with_storage_dir(dir.path());
    if args.tiny {
        config = config.tiny_models();
    }
    config.training_threads = 1;
    // Memory first, while the heap is fresh: idle projects past warmup (no model loaded, no open
    // session), measured after a restart, per project.
    let idle_dir = tempfile::tempdir().map_err(|e| Error::storage(e.to_string()))?;
    write_idle_projects(idle_dir.path(), &lines, args.idle_projects)?;

    let det = TenantDetector::open(config)?;
    let active_lines = &lines[w..];
    println!(
        "bench detect: {} ({} lines, warmup {w})",
        args.file.display(),
        lines.len()
    );

    let t = Instant::now();
    let a = trained_project(&det, "bench-a", &lines, args.warmup)?;
    let st = det.status(&a)?;
    println!(
        "first project: warmup + training {:.1} s (teacher {:.1} s, distillation {:.1} s)",
        t.elapsed().as_secs_f64(),
        st.training.last_teacher_finetune_secs.unwrap_or(0.0),
        st.training.last_distill_secs.unwrap_or(0.0)
    );

    // Throughput, one calling thread.
    let student_rate = median_batch_rate(&det, &a, active_lines, args.batch, args.repeat)?;
    let teacher_key = det
        .create_project(
            NewProject::named("bench-teacher")
                .warmup_threshold(1_000_000)
                .format(LogFormat::Hdfs),
        )?
        .api_key;
    let teacher_rate =
        median_batch_rate(&det, &teacher_key, active_lines, args.batch, args.repeat)?;
    let lat = latencies(&det, &a, &active_lines[..active_lines.len().min(5_000)])?;
    println!("| measure | value |");
    println!("|---|---|");
    println!("| detect_batch, student (active), 1 thread | {student_rate:.0} lines/s |");
    println!("| detect_batch, teacher (warmup), 1 thread | {teacher_rate:.0} lines/s |");
    println!(
        "| detect, student, latency p50 / p99 / max | {:.0} / {:.0} / {:.0} us |",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0)
    );

    // Full-size models at this project's vocabulary sizes in ONNX Runtime, recomputing the window per
    // line (skipped with --no-peer; with --tiny the product's rates, a tiny model's, are not put beside them).
    let student_vocab = det.status(&a)?.template_count + FIRST_TEMPLATE_TOKEN as usize;
    let teacher_vocab = det.teacher_info()?.model_vocabulary_size.max(student_vocab);
    super::peer::run(
        &args.peer,
        student_vocab,
        teacher_vocab,
        (!args.tiny).then_some(&super::peer::ProductRates {
            student: student_rate,
            teacher: teacher_rate,
        }),
    )?;

    // Scaling: two projects on two threads against one thread doing both.
    let b = trained_project(&det, "bench-b", &lines, args.warmup)?;
    let half = &active_lines[..active_lines.len() / 2];
    // Medians of `--repeat` runs of each, alternated: one run of each swings by 1.5x on a shared VM.
    let (mut ones, mut twos) = (Vec::new(), Vec::new());
    for _ in 0..args.repeat.max(1) {
        let t = Instant::now();
        batch_rate(&det, &a, half, args.batch)?;
        batch_rate(&det, &b, half, args.batch)?;
        ones.push(2.0 * half.len() as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        std::thread::scope(|s| -> Result<(), Error> {
            let ha = s.spawn(|| batch_rate(&det, &a, half, args.batch));
            let hb = s.spawn(|| batch_rate(&det, &b, half, args.batch));
            ha.join()
                .map_err(|_| Error::model("bench thread panicked"))??;
            hb.join()
                .map_err(|_| Error::model("bench thread panicked"))??;
            Ok(())
        })?;
        twos.push(2.0 * half.len() as f64 / t.elapsed().as_secs_f64());
    }
    ones.sort_by(f64::total_cmp);
    twos.sort_by(f64::total_cmp);
    let (one, two) = (percentile(&ones, 0.5), percentile(&twos, 0.5));
    println!(
        "| 2 threads on 2 projects vs 1 thread | {two:.0} vs {one:.0} lines/s = {:.2}x (medians of {} runs) |",
        two / one,
        ones.len()
    );

    // Isolation: p99 of one project's single detects, alone and while another project's student trains.
    let base = latencies(&det, &a, &active_lines[..2_000])?;
    let trainee = det
        .create_project(
            NewProject::named("bench-trainee")
                .warmup_threshold(args.warmup)
                .format(LogFormat::Hdfs),
        )?
        .api_key;
    for chunk in lines[..w].chunks(512) {
        det.detect_batch(
            &trainee,
            &chunk.iter().map(LogRecord::new).collect::<Vec<_>>(),
        )?;
    }
    let mut during = Vec::new();
    while det.status(&trainee)?.phase == Phase::Training && during.len() < 200_000 {
        for l in active_lines.iter().take(500) {
            let t = Instant::now();
            det.detect(&a, LogRecord::new(l))?;
            during.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    during.sort_by(f64::total_cmp);
    println!(
        "| detect p99 alone vs while another project trains | {:.0} vs {:.0} us = {:.2}x ({} samples during training) |",
        percentile(&base, 0.99),
        percentile(&during, 0.99),
        percentile(&during, 0.99) / percentile(&base, 0.99).max(1e-9),
        during.len()
    );
    det.wait_for_training(&trainee, Some(Duration::from_secs(600)))?;

    // Cold load: evict every student, then time the first detect (which loads it from redb).
    det.flush()?;
    let cold_dir = dir.path().to_path_buf();
    drop(det);
    let mut cfg = Config::with_storage_dir(&cold_dir);
    if args.tiny {
        cfg = cfg.tiny_models();
    }
    let det = TenantDetector::open(cfg)?;
    let warm = latencies(&det, &b, &active_lines[..1])?;
    let t = Instant::now();
    det.detect(&a, LogRecord::new(&active_lines[0]))?;
    let cold = t.elapsed().as_secs_f64() * 1e3;
    let again = latencies(&det, &a, &active_lines[1..200])?;
    println!(
        "| cold load of a student (first detect after open) | {cold:.2} ms (a warm detect: {:.0} us; first detect of another: {:.2} ms) |",
        percentile(&again, 0.5),
        warm.first().copied().unwrap_or(0.0) / 1e3
    );

    if args.idle_projects > 0 {
        run_child("idle", idle_dir.path(), &args.file, None)?;
    }
    let h = det.health()?;
    println!(
        "| students loaded: count / model bytes each / RSS of the process | {} / {:.2} MiB / {:.1} MiB |",
        h.active_student_models,
        h.loaded_student_bytes as f64 / h.active_student_models.max(1) as f64 / (1 << 20) as f64,
        rss_kib() as f64 / 1024.0
    );
    drop(det);
    if args.projects > 0 {
        scale_run(&cold_dir, &a, &args.file, args.projects, args.students)?;
    }
    Ok(())
}

/// Writes `projects` idle projects past warmup to `dir`: tiny-model forks of one trained project (the
/// samples and templates an idle project keeps do not depend on the model size), measured by
/// `--child idle` after a restart.
fn write_idle_projects(
    dir: &std::path::Path,
    lines: &[String],
    projects: usize,
) -> Result<(), Error> {
    if projects == 0 {
        return Ok(());
    }
    let det = TenantDetector::open(Config::with_storage_dir(dir).tiny_models())?;
    let warmup = 10_000.min(lines.len() / 2) as u64;
    let key = trained_project(&det, "idle-source", lines, warmup)?;
    det.close_all_sessions(&key)?;
    let source = det.status(&key)?.project_id;
    for i in 0..projects {
        det.fork_project(&source, &format!("idle-{i}"))?;
    }
    det.close()
}

/// `projects` projects in one process, `students` of them (forks of the trained project `key`)
/// with a loaded student: RSS, and the cold loads of every student from redb.
fn scale_run(
    dir: &std::path::Path,
    key: &str,
    file: &std::path::Path,
    projects: usize,
    students: usize,
) -> Result<(), Error> {
    let students = students.min(projects);
    let source = {
        let det = TenantDetector::open(Config::with_storage_dir(dir))?;
        let source = det.status(key)?.project_id;
        let t = Instant::now();
        for i in 1..students {
            det.fork_project(&source, &format!("scale-student-{i}"))?;
        }
        for i in students..projects {
            det.create_project(NewProject::named(format!("scale-{i}")).format(LogFormat::Hdfs))?;
        }
        eprintln!(
            "scale run: {} forks and {} new projects written in {:.1} s",
            students.saturating_sub(1),
            projects - students,
            t.elapsed().as_secs_f64()
        );
        det.close()?;
        source
    };
    run_child("scale", dir, file, Some(&source))?;
    // A second process on the same storage, the case of a host restarting. Both processes fault in the
    // same pages (the models'), but on this VM the first one's kernel time zeroing them is about twice
    // the second's right after the writer exited (see README, Performance).
    run_child("scale-restart", dir, file, Some(&source))
}

/// Opens the scale run's storage and loads the student of `source` and each of its forks by a
/// first detect: RSS and the distribution of cold loads.
fn load_students(dir: &std::path::Path, source: &str, line: &str, when: &str) -> Result<(), Error> {
    let before = rss_kib();
    let det = TenantDetector::open(Config::with_storage_dir(dir))?;
    let ids: Vec<String> = det
        .list_projects()?
        .into_iter()
        .filter(|p| p.project_id == source || p.project_name.starts_with("scale-student-"))
        .map(|p| p.project_id)
        .collect();
    let loads = first_detects_ms(&det, &ids, line)?;
    let h = det.health()?;
    println!(
        "| {} projects, {} with a loaded student, {when}: RSS | {:.0} MiB ({:.0} MiB over the process before open) |",
        h.total_projects,
        h.active_student_models,
        rss_kib() as f64 / 1024.0,
        rss_kib().saturating_sub(before) as f64 / 1024.0
    );
    println!(
        "| cold load of a student, first detect, {} students, {when}: p50 / p99 / max | {:.2} / {:.2} / {:.2} ms |",
        loads.len(),
        percentile(&loads, 0.5),
        percentile(&loads, 0.99),
        percentile(&loads, 1.0)
    );
    Ok(())
}
