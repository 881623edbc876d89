//! `logsentinel replay FILE --format FMT [--warmup N] [--storage DIR] [--project NAME]
//! [--session-pattern REGEX] [--jsonl OUT]`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use logsentinel::summary::Findings;
use logsentinel::{
    Config, Error, LogFormat, LogRecord, NewProject, Phase, SessionVerdict, TenantDetector,
};
use serde::Serialize;

/// Lines per `detect_batch` call.
const BATCH: usize = 256;

/// Arguments of `replay`.
#[derive(Args, Clone)]
pub struct ReplayArgs {
    /// Log file to stream, in order.
    pub file: PathBuf,
    /// Header format of the file.
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// Header format string (logparser convention, e.g. '<Date> <Time> <Level> <Component>: <Content>');
    /// wins over --format.
    #[arg(long)]
    pub log_format: Option<String>,
    /// Warmup threshold of the project (logs); default WARMUP_THRESHOLD or 10,000.
    #[arg(long)]
    pub warmup: Option<u64>,
    /// Storage: a directory, or a `postgres://` URL of a database shared by several instances
    /// (default: STORAGE_URL, else STORAGE_DIR, else a fresh temporary directory removed at the end).
    #[arg(long)]
    pub storage: Option<PathBuf>,
    /// Project name: an existing project of that name in the storage is reused, else it is created.
    #[arg(long, default_value = "replay")]
    pub project: String,
    /// Regex whose first match (or first capture group) in a line is its session id.
    #[arg(long)]
    pub session_pattern: Option<String>,
    /// Write one object per line, and one per closed session, to this file.
    #[arg(long)]
    pub jsonl: Option<PathBuf>,
    /// Do not draw a progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Examples shown per cause in the summary of flagged sessions and lines.
    #[arg(long, default_value_t = logsentinel::summary::DEFAULT_EXAMPLES)]
    pub examples: usize,
}

#[derive(Serialize)]
struct LineOut<'a> {
    line: usize,
    session_id: Option<&'a str>,
    is_anomaly: bool,
    anomaly_score: f32,
    model_type: &'static str,
    phase: &'static str,
    template_id: u32,
    template: &'a str,
    reasons: &'a [String],
    cause: Option<&'a str>,
    pattern: Option<&'a str>,
    incident_id: Option<u64>,
    feedback_id: Option<u64>,
    /// Each ensemble component's calibrated score (0.5 at its threshold), so a reader can tell which
    /// one flagged the line.
    components: logsentinel::Components,
}

#[derive(Serialize)]
struct SessionOut<'a> {
    session_end: bool,
    session_id: &'a str,
    is_anomaly: bool,
    anomaly_score: f32,
    model_type: &'static str,
    phase: &'static str,
    reason: logsentinel::CloseReason,
    lines: u64,
    missing_templates: &'a [String],
    reasons: &'a [String],
    open_at_end_of_input: bool,
    cause: Option<&'a str>,
    pattern: Option<&'a str>,
    incident_id: Option<u64>,
    feedback_id: Option<u64>,
}

/// What a replay found (also printed as its summary).
#[derive(Debug, Default)]
pub struct ReplaySummary {
    /// Lines streamed.
    pub lines: usize,
    /// Lines per phase.
    pub lines_per_phase: HashMap<&'static str, usize>,
    /// Seconds spent scoring per phase (training waits excluded).
    pub secs_per_phase: HashMap<&'static str, f64>,
    /// Line after which the student served (1-based), if it did.
    pub student_from_line: Option<usize>,
    /// Seconds the training took.
    pub training_secs: Option<f64>,
    /// Lines flagged.
    pub anomalous_lines: usize,
    /// Sessions flagged (by a line or at their end).
    pub anomalous_sessions: usize,
    /// Sessions seen.
    pub sessions: usize,
    /// Sessions still open (cut) at the end of the input.
    pub cut_sessions: usize,
    /// Why no student took over, when none did.
    pub untrained_reason: Option<String>,
}

/// The keys the CLI was given for the projects it created, kept beside the storage.
pub(crate) struct KeyFile {
    /// `cli-keys.json` in the storage directory.
    pub(crate) path: PathBuf,
    /// Project id -> API key.
    pub(crate) keys: HashMap<String, String>,
}

impl KeyFile {
    // The CLI is itself a host of the library: like any host it keeps the keys it was given, outside the
    // database (which holds only their hashes), readable by its owner only.
    pub(crate) fn load(storage: &Path) -> Self {
        let path = storage.join("cli-keys.json");
        let keys = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Self { path, keys }
    }

    fn save(&self) -> Result<(), Error> {
        std::fs::write(&self.path, serde_json::to_vec_pretty(&self.keys)?)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(())
    }
}

/// Runs `replay`.
pub fn run(args: ReplayArgs) -> Result<ReplaySummary, Error> {
    let format: LogFormat = args.format.parse()?;
    let mut config = Config::from_env()?;
    let _temp;
    match &args.storage {
        Some(storage) => crate::set_storage(&mut config, storage),
        None if config.storage_url.is_some()
            || std::env::var_os("STORAGE_DIR").is_some()
            || std::env::var_os("LOGSENTINEL_STORAGE_DIR").is_some() => {}
        None => {
            let t = tempfile::Builder::new()
                .prefix("logsentinel-replay-")
                .tempdir()
                .map_err(|e| {
                    Error::storage(format!("cannot create a temporary storage directory: {e}"))
                })?;
            config.storage_dir = t.path().to_path_buf();
            _temp = t;
        }
    }
    let lines = crate::read_lines(&args.file)?;
    crate::wait_for_lease(&mut config);
    let opening = std::time::Instant::now();
    let det = TenantDetector::open(config.clone())?;
    if config.storage_url.is_some() {
        eprintln!(
            "replay: holding the storage lease of {} (taken in {:.2} s)",
            det.storage_location()?,
            opening.elapsed().as_secs_f64()
        );
    }
    // A shared database has no directory to keep the CLI's keys beside: a project found there gets
    // a fresh key (its hash replaces the old one).
    let mut keys = config
        .storage_url
        .is_none()
        .then(|| KeyFile::load(&config.storage_dir));
    let existing = det
        .list_projects()?
        .into_iter()
        .find(|p| p.project_name == args.project);
    let key = match existing {
        Some(p) => match keys.as_ref().and_then(|k| k.keys.get(&p.project_id)) {
            Some(k) if det.status(k).is_ok() => k.clone(),
            _ => {
                let kept = keys.as_ref().map_or_else(
                    || "a key file (the storage is a database)".to_string(),
                    |k| k.path.display().to_string(),
                );
                eprintln!(
                    "replay: project {:?} exists but its key is not in {kept}: rotating it",
                    args.project,
                );
                det.rotate_key_by_id(&p.project_id)?
            }
        },
        None => {
            let mut np = NewProject::named(&args.project).format(format);
            np.log_format = args.log_format.clone();
            np.warmup_threshold = args.warmup;
            np.session_pattern = args.session_pattern.clone();
            det.create_project(np)?.api_key
        }
    };
    let status = det.status(&key)?;
    if let Some(keys) = &mut keys {
        keys.keys.insert(status.project_id.clone(), key.clone());
        keys.save()?;
    }
    eprintln!(
        "replay: {} lines of {} into project {:?} ({}; warmup {} logs, {} seen so far) under {}",
        lines.len(),
        args.file.display(),
        args.project,
        status.format,
        status.warmup_threshold,
        status.log_count,
        det.storage_location()?
    );

    let mut out: Option<Box<dyn Write>> = match &args.jsonl {
        Some(p) => Some(Box::new(std::io::BufWriter::new(
            std::fs::File::create(p)
                .map_err(|e| Error::invalid_input(format!("cannot create {}: {e}", p.display())))?,
        ))),
        None => None,
    };
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new(lines.len() as u64);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} lines {per_sec} {msg}",
            )
            .map_err(|e| Error::invalid_input(e.to_string()))?,
        );
        b
    };

    let mut summary = ReplaySummary::default();
    let mut template_flags: HashMap<String, usize> = HashMap::new();
    let mut findings = Findings::new(args.examples);
    let mut idx = 0;
    while idx < lines.len() {
        let st = det.status(&key)?;
        let mut size = BATCH;
        if st.phase == Phase::Warmup && st.log_count < st.warmup_threshold {
            size = size.min((st.warmup_threshold - st.log_count) as usize);
        }
        let end = (idx + size).min(lines.len());
        let records: Vec<LogRecord> = lines[idx..end].iter().map(LogRecord::new).collect();
        let started = Instant::now();
        let batch = det.detect_batch(&key, &records)?;
        let phase = batch
            .results
            .first()
            .map(|d| d.phase.as_str())
            .unwrap_or("warmup");
        *summary.secs_per_phase.entry(phase).or_default() += started.elapsed().as_secs_f64();
        for (k, d) in batch.results.iter().enumerate() {
            *summary.lines_per_phase.entry(d.phase.as_str()).or_default() += 1;
            findings.add_line(idx + k + 1, d);
            if d.is_anomaly {
                *template_flags.entry(d.template.clone()).or_default() += 1;
            }
            if d.phase == Phase::Active && summary.student_from_line.is_none() {
                summary.student_from_line = Some(idx + k + 1);
            }
            if let Some(w) = out.as_mut() {
                serde_json::to_writer(
                    &mut *w,
                    &LineOut {
                        line: idx + k + 1,
                        session_id: d.session_id.as_deref(),
                        is_anomaly: d.is_anomaly,
                        anomaly_score: d.anomaly_score,
                        model_type: d.model_type.as_str(),
                        phase: d.phase.as_str(),
                        template_id: d.template_id,
                        template: &d.template,
                        reasons: &d.reasons,
                        cause: d.cause.as_deref(),
                        pattern: d.pattern.as_deref(),
                        incident_id: d.incident_id,
                        feedback_id: d.feedback_id,
                        components: d.components,
                    },
                )?;
                w.write_all(b"\n")?;
            }
        }
        idx = end;
        bar.set_position(idx as u64);
        let verdicts = det.poll_session_verdicts(&key, usize::MAX)?;
        write_verdicts(&mut out, &verdicts, &mut findings)?;

        // At the threshold, wait for the student so a replay is reproducible.
        let st = det.status(&key)?;
        if st.phase == Phase::Training {
            bar.set_message("training the student...");
            let job = det.wait_for_training(&key, None)?;
            bar.set_message("");
            let st = det.status(&key)?;
            summary.training_secs = st.training.last_duration_secs;
            match job {
                Some(j) if j.state == logsentinel::JobState::Succeeded => bar.println(format!(
                    "student trained in {:.1} s (teacher fine-tune {:.1} s, distillation {:.1} s); it serves from line {}",
                    st.training.last_duration_secs.unwrap_or(0.0),
                    st.training.last_teacher_finetune_secs.unwrap_or(0.0),
                    st.training.last_distill_secs.unwrap_or(0.0),
                    idx + 1
                )),
                Some(j) => bar.println(format!(
                    "training ended {:?}: {}; the teacher keeps serving",
                    j.state,
                    j.error.unwrap_or_default()
                )),
                None => {}
            }
        } else if let Some(reason) = st.training.waiting_reason.as_ref().filter(|_| {
            st.phase == Phase::Warmup
                && st.log_count >= st.warmup_threshold
                && idx % (BATCH * 40) == 0
        }) {
            bar.println(format!("still in warmup: {reason}"));
        }
    }
    let verdicts = det.close_all_sessions(&key)?;
    write_verdicts(&mut out, &verdicts, &mut findings)?;
    if let Some(mut w) = out {
        w.flush()?;
    }
    bar.finish_and_clear();
    if summary.student_from_line.is_none() {
        summary.untrained_reason = Some(untrained_reason(&det.status(&key)?));
    }
    det.close()?;

    summary.lines = lines.len();
    summary.anomalous_lines = findings.flagged_lines();
    summary.anomalous_sessions = findings.flagged_sessions();
    summary.sessions = findings.sessions();
    summary.cut_sessions = findings.cut_sessions();
    print_summary(&summary, &template_flags);
    print!("{findings}");
    if let Some(kib) = peak_rss_kib() {
        println!("peak memory: {:.1} MiB", kib as f64 / 1024.0);
    }
    Ok(summary)
}

/// Why a project has no student: what its status knows.
pub fn untrained_reason(st: &logsentinel::ProjectStatus) -> String {
    if let Some(reason) = &st.training.waiting_reason {
        return reason.clone();
    }
    if let Some(error) = &st.training.last_error {
        return format!("training failed: {error}");
    }
    if st.log_count < st.warmup_threshold {
        return format!(
            "warmup threshold not reached: {} of {} logs",
            st.log_count, st.warmup_threshold
        );
    }
    match st.phase {
        Phase::Training => "training had not finished".to_string(),
        _ => "no training ran".to_string(),
    }
}

fn write_verdicts(
    out: &mut Option<Box<dyn Write>>,
    verdicts: &[SessionVerdict],
    findings: &mut Findings,
) -> Result<(), Error> {
    for v in verdicts {
        findings.add_verdict(v);
        if let Some(w) = out.as_mut() {
            serde_json::to_writer(
                &mut *w,
                &SessionOut {
                    session_end: true,
                    session_id: &v.session_id,
                    is_anomaly: v.is_anomaly,
                    anomaly_score: v.anomaly_score,
                    model_type: v.model_type.as_str(),
                    phase: v.phase.as_str(),
                    reason: v.reason,
                    lines: v.lines,
                    missing_templates: &v.missing_templates,
                    reasons: &v.reasons,
                    open_at_end_of_input: v.open_at_end_of_input,
                    cause: v.cause.as_deref(),
                    pattern: v.pattern.as_deref(),
                    incident_id: v.incident_id,
                    feedback_id: v.feedback_id,
                },
            )?;
            w.write_all(b"\n")?;
        }
    }
    Ok(())
}

fn print_summary(s: &ReplaySummary, template_flags: &HashMap<String, usize>) {
    println!("lines: {}", s.lines);
    for phase in ["warmup", "training", "active"] {
        let n = s.lines_per_phase.get(phase).copied().unwrap_or(0);
        if n > 0 {
            let secs = s
                .secs_per_phase
                .get(phase)
                .copied()
                .unwrap_or(0.0)
                .max(1e-9);
            println!(
                "  {phase:<8} {n:>9} lines  {:>10.0} lines/s",
                n as f64 / secs
            );
        }
    }
    match s.student_from_line {
        Some(l) => println!(
            "student took over at line {l}{}",
            s.training_secs
                .map(|t| format!(" (trained in {t:.1} s)"))
                .unwrap_or_default()
        ),
        None => println!(
            "student: not trained during this replay ({})",
            s.untrained_reason.as_deref().unwrap_or("no reason known")
        ),
    }
    println!(
        "anomalies: {} lines, {} of {} sessions ({} still open at the end of the input)",
        s.anomalous_lines, s.anomalous_sessions, s.sessions, s.cut_sessions
    );
    let mut top: Vec<(&String, &usize)> = template_flags.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    if !top.is_empty() {
        println!("top anomalous templates:");
        for (t, n) in top.into_iter().take(10) {
            println!("  {n:>7}  {t}");
        }
    }
}

/// Peak resident memory of this process (Linux).
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}
