//! `logsentinel bench parse`: lines/s of the template miner against Drain3 on the same lines.
//!
//! Every system of a Loghub-2k folder is repeated to `--lines / systems` lines (1M lines in all by
//! default) and mined from scratch, one thread:
//! - logsentinel `header+learn`: header parsing of the raw line, then [`TemplateMiner::learn_line`]
//!   (template id + parameter ranges; the template text is one lookup away);
//! - logsentinel `learn`: [`TemplateMiner::learn_line`] on the message alone (the Loghub `Content`
//!   column), which is exactly what Drain3 is fed;
//! - logsentinel `learn (owned)`: [`TemplateMiner::learn`], which also clones the template text and
//!   the parameters into Strings (the API the tenant pipeline uses);
//! - with `--drain3`: Drain3 (logpai, PyPI `drain3`, installed into `.venv-bench` on first use) with
//!   its example configuration (IP, number, hex masks...), fed the same message lines by
//!   `scripts/bench/drain3_bench.py`. Drain3 is timed `--drain3-runs` times and logsentinel
//!   `--repeat` times; each keeps its fastest run, so the ratio compares best against best.
//!
//! The headline ratio is `header+learn` against Drain3: logsentinel parses each raw line's header
//! (timestamp, level, component, session hint; [`HeaderParser::parse_ref`]) and mines its message,
//! while Drain3 is only fed the messages, so the ratio understates logsentinel. The ratio on the
//! very same messages (`learn`) is printed next to it.
//!
//! GA and PA are computed on the 2k files (final templates, as `score_parse.py --final-template`),
//! for Drain3 too. HDFS alone is also repeated to `--lines` for its lines/s. Memory is
//! [`TemplateMiner::approx_memory_bytes`] over the template count after each run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use logsentinel::parse::eval::{
    mean_score, read_truth, score_predictions, SystemFiles, SystemScore,
};
use logsentinel::parse::{HeaderParser, LogFormat, MinerConfig, TemplateMiner};
use logsentinel::Error;
use serde::Serialize;

/// The Drain3 release the benchmark installs.
const DRAIN3_VERSION: &str = "0.9.11";

/// Arguments of `bench parse`.
#[derive(Args)]
pub struct ParseBenchArgs {
    /// Loghub-2k style folder (`<System>/<System>_2k.log` + `*_structured.csv`); the default is where
    /// the development data set keeps it, if you have it.
    #[arg(long, default_value = "../shared/data/loghub_2k")]
    data: PathBuf,
    /// Lines mined in all (each system repeated to lines / systems); HDFS alone is repeated to it.
    #[arg(long, default_value_t = 1_000_000)]
    lines: usize,
    /// Also run Drain3 (Python) on the same lines; installs it into `--venv` when missing.
    #[arg(long)]
    drain3: bool,
    /// Virtual environment for Drain3.
    #[arg(long, default_value = ".venv-bench")]
    venv: PathBuf,
    /// Python used to create the virtual environment.
    #[arg(long, default_value = "python3")]
    python: String,
    /// The Drain3 driver script (default: scripts/bench/drain3_bench.py of the repository).
    #[arg(long)]
    drain3_script: Option<PathBuf>,
    /// Runs of each logsentinel measurement; the fastest is kept.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Timed runs of Drain3 over all the files; each file's fastest is kept, as for logsentinel
    /// (Drain3's speed varies by several percent between runs).
    #[arg(long, default_value_t = 3)]
    drain3_runs: usize,
    /// Write every number as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One system's results.
#[derive(Serialize)]
struct SystemRow {
    system: String,
    lines: usize,
    templates: usize,
    bytes_per_template: f64,
    miner_bytes: usize,
    header_learn_lines_per_s: f64,
    learn_lines_per_s: f64,
    learn_owned_lines_per_s: f64,
    drain3_lines_per_s: Option<f64>,
    ratio_header_learn_vs_drain3: Option<f64>,
    ratio_learn_vs_drain3: Option<f64>,
    score: SystemScore,
    drain3_score: Option<SystemScore>,
}

/// Totals over all systems (lines over summed seconds).
#[derive(Serialize)]
struct Totals {
    lines: usize,
    header_learn_lines_per_s: f64,
    learn_lines_per_s: f64,
    learn_owned_lines_per_s: f64,
    drain3_lines_per_s: Option<f64>,
    ratio_header_learn_vs_drain3: Option<f64>,
    ratio_learn_vs_drain3: Option<f64>,
    hdfs_lines: usize,
    hdfs_header_learn_lines_per_s: f64,
    hdfs_learn_lines_per_s: f64,
    templates: usize,
    bytes_per_template: f64,
    mean: SystemScore,
    drain3_mean: Option<SystemScore>,
}

#[derive(Serialize)]
struct Report {
    systems: Vec<SystemRow>,
    totals: Totals,
}

/// One system, loaded: raw lines and messages of the 2k file, and the truth.
struct Loaded {
    files: SystemFiles,
    raw: Vec<String>,
    content: Vec<String>,
    truth_ids: Vec<String>,
    truth_templates: Vec<String>,
}

fn load(files: SystemFiles) -> Result<Loaded, Error> {
    let raw = crate::read_lines(&files.log)?;
    let parser = HeaderParser::new(files.format());
    let content = raw.iter().map(|line| parser.parse(line).content).collect();
    let (truth_ids, truth_templates) = read_truth(&files.structured_csv)
        .map_err(|e| crate::with_path(e, &files.structured_csv))?;
    Ok(Loaded {
        files,
        raw,
        content,
        truth_ids,
        truth_templates,
    })
}

/// `lines` repeated to `count` lines.
fn repeat_to(lines: &[String], count: usize) -> Vec<&str> {
    lines
        .iter()
        .map(String::as_str)
        .cycle()
        .take(if lines.is_empty() { 0 } else { count })
        .collect()
}

/// Seconds of the fastest of `repeat` runs of `run`, and the miner of that run.
fn fastest(repeat: usize, mut run: impl FnMut() -> (f64, TemplateMiner)) -> (f64, TemplateMiner) {
    let mut best = run();
    for _ in 1..repeat.max(1) {
        let next = run();
        if next.0 < best.0 {
            best = next;
        }
    }
    best
}

/// Header parsing + `learn_line` over raw lines.
fn time_header_learn(format: LogFormat, raw: &[&str]) -> (f64, TemplateMiner) {
    let parser = HeaderParser::new(format);
    let mut miner = TemplateMiner::new(MinerConfig::default());
    let mut spans = Vec::new();
    let mut checksum = 0u64;
    let started = Instant::now();
    for line in raw {
        // Every header field is parsed (timestamp, level, component, session hint), borrowing
        // from the line instead of copying it into Strings.
        let header = parser.parse_ref(line);
        let matched = miner.learn_line(&header.content, &mut spans);
        checksum = checksum.wrapping_add(u64::from(matched.template_id) + spans.len() as u64);
    }
    let seconds = started.elapsed().as_secs_f64();
    std::hint::black_box(checksum);
    (seconds, miner)
}

/// `learn_line` over messages.
fn time_learn(content: &[&str]) -> (f64, TemplateMiner) {
    let mut miner = TemplateMiner::new(MinerConfig::default());
    let mut spans = Vec::new();
    let mut checksum = 0u64;
    let started = Instant::now();
    for line in content {
        let matched = miner.learn_line(line, &mut spans);
        checksum = checksum.wrapping_add(u64::from(matched.template_id) + spans.len() as u64);
    }
    let seconds = started.elapsed().as_secs_f64();
    std::hint::black_box(checksum);
    (seconds, miner)
}

/// `learn` (owned template text and parameters) over messages.
fn time_learn_owned(content: &[&str]) -> (f64, TemplateMiner) {
    let mut miner = TemplateMiner::new(MinerConfig::default());
    let mut checksum = 0u64;
    let started = Instant::now();
    for line in content {
        let matched = miner.learn(line);
        checksum =
            checksum.wrapping_add(matched.template.len() as u64 + matched.parameters.len() as u64);
    }
    let seconds = started.elapsed().as_secs_f64();
    std::hint::black_box(checksum);
    (seconds, miner)
}

/// GA/PA of logsentinel on the 2k file (final templates).
fn score_logsentinel(system: &Loaded) -> SystemScore {
    let mut miner = TemplateMiner::new(MinerConfig::default());
    let mut ids = Vec::with_capacity(system.content.len());
    let mut templates = Vec::with_capacity(system.content.len());
    for line in &system.content {
        let matched = miner.learn(line);
        ids.push(matched.template_id.to_string());
        templates.push(matched.template);
    }
    score_predictions(
        &system.files.name,
        &system.truth_ids,
        &system.truth_templates,
        &ids,
        &templates,
    )
}

fn per_s(lines: usize, seconds: f64) -> f64 {
    lines as f64 / seconds.max(1e-9)
}

/// Runs `bench parse`.
pub fn run(args: ParseBenchArgs) -> Result<(), Error> {
    let systems: Vec<Loaded> = crate::loghub_systems(&args.data, "--data DIR")?
        .into_iter()
        .map(load)
        .collect::<Result<_, _>>()?;
    let per_system = (args.lines / systems.len().max(1)).max(1);
    let drain3 = if args.drain3 {
        Some(Drain3::prepare(&args, &systems, per_system)?)
    } else {
        None
    };

    println!(
        "logsentinel bench parse: {} systems x {per_system} lines (the 2k files repeated), one thread; best of {} runs{}",
        systems.len(),
        args.repeat.max(1),
        if args.drain3 {
            format!(" (Drain3: best of {})", args.drain3_runs.max(1))
        } else {
            String::new()
        }
    );
    println!(
        "{:<11} {:>8} {:>13} {:>11} {:>11} {:>9} {:>8} {:>8} {:>6} {:>6} {:>6} {:>6} {:>9}",
        "system",
        "lines",
        "header+learn",
        "learn",
        "learn(own)",
        "Drain3",
        "ratio",
        "ratio(l)",
        "GA",
        "PA",
        "D3 GA",
        "D3 PA",
        "B/templ"
    );
    let mut rows = Vec::new();
    let (mut secs_header, mut secs_learn, mut secs_owned) = (0.0, 0.0, 0.0);
    let mut secs_drain3 = 0.0;
    let mut total_lines = 0usize;
    let mut total_templates = 0usize;
    let mut total_bytes = 0usize;
    for (index, system) in systems.iter().enumerate() {
        let raw = repeat_to(&system.raw, per_system);
        let content = repeat_to(&system.content, per_system);
        let format = system.files.format();
        let (header_s, miner) = fastest(args.repeat, || time_header_learn(format, &raw));
        let (learn_s, _) = fastest(args.repeat, || time_learn(&content));
        let (owned_s, _) = fastest(args.repeat, || time_learn_owned(&content));
        let score = score_logsentinel(system);
        let templates = miner.len();
        let bytes = miner.approx_memory_bytes();
        let drain3_result = drain3.as_ref().and_then(|d| d.results.get(index));
        let drain3_rate = drain3_result.map(|r| r.lines_per_s);
        if let Some(r) = drain3_result {
            secs_drain3 += r.seconds;
        }
        let header_rate = per_s(raw.len(), header_s);
        let learn_rate = per_s(content.len(), learn_s);
        let row = SystemRow {
            system: system.files.name.clone(),
            lines: raw.len(),
            templates,
            bytes_per_template: bytes as f64 / templates.max(1) as f64,
            miner_bytes: bytes,
            header_learn_lines_per_s: header_rate,
            learn_lines_per_s: learn_rate,
            learn_owned_lines_per_s: per_s(content.len(), owned_s),
            drain3_lines_per_s: drain3_rate,
            ratio_header_learn_vs_drain3: drain3_rate.map(|d| header_rate / d.max(1e-9)),
            ratio_learn_vs_drain3: drain3_rate.map(|d| learn_rate / d.max(1e-9)),
            score,
            drain3_score: drain3_result.and_then(|r| r.score.clone()),
        };
        print_row(&row);
        secs_header += header_s;
        secs_learn += learn_s;
        secs_owned += owned_s;
        total_lines += raw.len();
        total_templates += templates;
        total_bytes += bytes;
        rows.push(row);
    }

    // HDFS alone, repeated to --lines.
    let hdfs = systems
        .iter()
        .find(|s| s.files.name.eq_ignore_ascii_case("hdfs"));
    let (hdfs_lines, hdfs_header, hdfs_learn) = match hdfs {
        Some(system) => {
            let raw = repeat_to(&system.raw, args.lines);
            let content = repeat_to(&system.content, args.lines);
            let (header_s, _) = fastest(args.repeat, || {
                time_header_learn(system.files.format(), &raw)
            });
            let (learn_s, _) = fastest(args.repeat, || time_learn(&content));
            (
                raw.len(),
                per_s(raw.len(), header_s),
                per_s(content.len(), learn_s),
            )
        }
        None => (0, 0.0, 0.0),
    };

    let scores: Vec<SystemScore> = rows.iter().map(|r| r.score.clone()).collect();
    let drain3_scores: Vec<SystemScore> =
        rows.iter().filter_map(|r| r.drain3_score.clone()).collect();
    let drain3_rate = drain3.as_ref().map(|_| per_s(total_lines, secs_drain3));
    let header_rate = per_s(total_lines, secs_header);
    let learn_rate = per_s(total_lines, secs_learn);
    let totals = Totals {
        lines: total_lines,
        header_learn_lines_per_s: header_rate,
        learn_lines_per_s: learn_rate,
        learn_owned_lines_per_s: per_s(total_lines, secs_owned),
        drain3_lines_per_s: drain3_rate,
        ratio_header_learn_vs_drain3: drain3_rate.map(|d| header_rate / d.max(1e-9)),
        ratio_learn_vs_drain3: drain3_rate.map(|d| learn_rate / d.max(1e-9)),
        hdfs_lines,
        hdfs_header_learn_lines_per_s: hdfs_header,
        hdfs_learn_lines_per_s: hdfs_learn,
        templates: total_templates,
        bytes_per_template: total_bytes as f64 / total_templates.max(1) as f64,
        mean: mean_score(&scores),
        drain3_mean: (!drain3_scores.is_empty()).then(|| mean_score(&drain3_scores)),
    };
    let total_row = SystemRow {
        system: "All".to_string(),
        lines: total_lines,
        templates: total_templates,
        bytes_per_template: totals.bytes_per_template,
        miner_bytes: total_bytes,
        header_learn_lines_per_s: header_rate,
        learn_lines_per_s: learn_rate,
        learn_owned_lines_per_s: totals.learn_owned_lines_per_s,
        drain3_lines_per_s: drain3_rate,
        ratio_header_learn_vs_drain3: totals.ratio_header_learn_vs_drain3,
        ratio_learn_vs_drain3: totals.ratio_learn_vs_drain3,
        score: totals.mean.clone(),
        drain3_score: totals.drain3_mean.clone(),
    };
    print_row(&total_row);
    println!(
        "HDFS x{hdfs_lines}: header+learn {hdfs_header:.0} lines/s, learn {hdfs_learn:.0} lines/s"
    );
    if let (Some(a), Some(b)) = (
        totals.ratio_header_learn_vs_drain3,
        totals.ratio_learn_vs_drain3,
    ) {
        println!(
            "logsentinel / Drain3 per core: {a:.1}x (header+learn on the raw lines, Drain3 on the messages alone); {b:.1}x on the same messages (learn)"
        );
    }
    if let Some(path) = &args.json {
        let report = Report {
            systems: rows,
            totals,
        };
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .map_err(|e| Error::invalid_input(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}

fn print_row(row: &SystemRow) {
    let ratio = |ratio: Option<f64>| ratio.map_or("-".to_string(), |r| format!("{r:.1}x"));
    let drain3 = row
        .drain3_lines_per_s
        .map_or("-".to_string(), |rate| format!("{rate:.0}"));
    let (d3_ga, d3_pa) = match &row.drain3_score {
        Some(score) => (format!("{:.4}", score.ga), format!("{:.4}", score.pa)),
        None => ("-".to_string(), "-".to_string()),
    };
    println!(
        "{:<11} {:>8} {:>13.0} {:>11.0} {:>11.0} {:>9} {:>8} {:>8} {:>6.4} {:>6.4} {:>6} {:>6} {:>9.0}",
        row.system,
        row.lines,
        row.header_learn_lines_per_s,
        row.learn_lines_per_s,
        row.learn_owned_lines_per_s,
        drain3,
        ratio(row.ratio_header_learn_vs_drain3),
        ratio(row.ratio_learn_vs_drain3),
        row.score.ga,
        row.score.pa,
        d3_ga,
        d3_pa,
        row.bytes_per_template
    );
}

/// Drain3's results per system, in system order.
struct Drain3 {
    results: Vec<Drain3Result>,
}

struct Drain3Result {
    seconds: f64,
    lines_per_s: f64,
    score: Option<SystemScore>,
}

#[derive(serde::Deserialize)]
struct Drain3Line {
    seconds: f64,
    lines_per_s: f64,
}

impl Drain3 {
    /// Installs Drain3 if needed, then runs it on every system: once on the 2k messages (for GA/PA)
    /// and `--drain3-runs` times on the messages repeated to `per_system` lines (timed; each
    /// file's fastest run is kept).
    fn prepare(
        args: &ParseBenchArgs,
        systems: &[Loaded],
        per_system: usize,
    ) -> Result<Drain3, Error> {
        let python = super::python::ensure_venv(
            &args.venv,
            &args.python,
            "import drain3",
            &[&format!("drain3=={DRAIN3_VERSION}")],
        )?;
        let script = match &args.drain3_script {
            Some(path) => path.clone(),
            None => super::python::find_script("drain3_bench.py")?,
        };
        let work = tempfile::tempdir()?;
        let mut small = Vec::new();
        let mut large = Vec::new();
        for (index, system) in systems.iter().enumerate() {
            let small_path = work
                .path()
                .join(format!("{index}_{}.txt", system.files.name));
            let large_path = work
                .path()
                .join(format!("{index}_{}.big.txt", system.files.name));
            write_lines(
                &small_path,
                &repeat_to(&system.content, system.content.len()),
            )?;
            write_lines(&large_path, &repeat_to(&system.content, per_system))?;
            small.push(small_path);
            large.push(large_path);
        }
        eprintln!("running Drain3 {DRAIN3_VERSION} on the 2k messages (accuracy)...");
        run_script(&python, &script, Some(work.path()), &small)?;
        let runs = args.drain3_runs.max(1);
        let mut timed: Vec<Drain3Line> = Vec::new();
        for run in 1..=runs {
            eprintln!(
                "running Drain3 on {} x {per_system} messages, run {run} of {runs} (speed; Python is slow, this takes a while)...",
                systems.len()
            );
            let lines = run_script(&python, &script, None, &large)?;
            if timed.is_empty() {
                timed = lines;
                continue;
            }
            // Each file's fastest run.
            for (best, line) in timed.iter_mut().zip(lines) {
                if line.seconds < best.seconds {
                    *best = line;
                }
            }
        }
        let mut results = Vec::new();
        for (index, system) in systems.iter().enumerate() {
            let Some(line) = timed.get(index) else {
                return Err(Error::invalid_input(
                    "Drain3 printed fewer results than files",
                ));
            };
            let ids_path = work.path().join(format!(
                "{}.ids",
                small[index]
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
            ));
            let score = std::fs::read_to_string(&ids_path).ok().map(|text| {
                let mut ids = Vec::new();
                let mut templates = Vec::new();
                for row in text.lines() {
                    let (id, template) = row.split_once('\t').unwrap_or((row, ""));
                    ids.push(id.to_string());
                    templates.push(template.to_string());
                }
                score_predictions(
                    &system.files.name,
                    &system.truth_ids,
                    &system.truth_templates,
                    &ids,
                    &templates,
                )
            });
            results.push(Drain3Result {
                seconds: line.seconds,
                lines_per_s: line.lines_per_s,
                score,
            });
        }
        Ok(Drain3 { results })
    }
}

fn write_lines(path: &Path, lines: &[&str]) -> Result<(), Error> {
    let mut text = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for line in lines {
        // A message never holds a newline (lines were split on them); be safe anyway.
        text.push_str(&line.replace('\n', " "));
        text.push('\n');
    }
    std::fs::write(path, text)
        .map_err(|e| Error::storage(format!("cannot write {}: {e}", path.display())))?;
    Ok(())
}

fn run_script(
    python: &Path,
    script: &Path,
    ids_dir: Option<&Path>,
    files: &[PathBuf],
) -> Result<Vec<Drain3Line>, Error> {
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    if let Some(dir) = ids_dir {
        args.extend(["--ids-dir".into(), dir.as_os_str().to_owned()]);
    }
    args.extend(files.iter().map(|f| f.as_os_str().to_owned()));
    let stdout = super::python::run_script(python, script, args)?;
    stdout
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).map_err(Error::from))
        .collect()
}
