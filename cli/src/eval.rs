//! `logsentinel eval FILE --format FMT (--labels SESSIONS.csv | --line-labels LABELLED.log)
//! [--warmup N] [--session-pattern REGEX] [--plot OUT.png] [--ablation] [--teacher-only]
//! [--distill-alpha A]`: replays a file through one project on a fresh (or given) storage and scores it
//! with the conventions of `../shared/tools/score_detect.py`: a session is anomalous when any of its
//! lines or its session-end verdict is flagged; sessions (or lines) of the warmup phase are reported
//! apart, and the headline is the active phase. Labels only measure: they never reach the detector.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use crate::operator::{Operator, Truth};
use clap::Args;
use logsentinel::summary::Findings;
use logsentinel::{Config, Error, LogFormat, LogRecord, NewProject, Phase, TenantDetector};

/// Lines per `detect_batch` call (as `replay`).
const BATCH: usize = 256;

/// Arguments of `eval`.
#[derive(Args, Clone)]
pub struct EvalArgs {
    /// Log file to stream, in order.
    pub file: PathBuf,
    /// Header format of the file.
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// Header format string (logparser convention, e.g. '<Date> <Time> <Level> <Component>: <Content>');
    /// wins over --format.
    #[arg(long)]
    pub log_format: Option<String>,
    /// Session labels: csv of (session id, label); labels as score_detect.py reads them.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Line labels: a file parallel to FILE whose first token per line is the label (`-` = normal).
    #[arg(long)]
    pub line_labels: Option<PathBuf>,
    /// Warmup threshold (logs).
    #[arg(long)]
    pub warmup: Option<u64>,
    /// Regex whose first match (or first capture group) in a line is its session id.
    #[arg(long)]
    pub session_pattern: Option<String>,
    /// Storage: a directory, or a `postgres://` URL of a shared database (default: a fresh temporary
    /// directory).
    #[arg(long)]
    pub storage: Option<PathBuf>,
    /// Project name (a second eval on the same storage with another name shows transfer).
    #[arg(long, default_value = "eval")]
    pub project: String,
    /// Draw the precision-recall curve of the active phase over score thresholds to this PNG.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Also print the per-component ablation (each component alone, from the same replay).
    #[arg(long)]
    pub ablation: bool,
    /// Print the numbers as one JSON object on the last line too.
    #[arg(long)]
    pub json: bool,
    /// Ablation: the teacher keeps scoring after the student is trained (the student is still
    /// trained, so training times stay comparable).
    #[arg(long)]
    pub teacher_only: bool,
    /// Also score the simple session rule as a baseline, from the product's own templates and no
    /// label: a session holding a template in fewer than 2% of the warmup sessions (or one no
    /// template matched), or lacking a template held by at least 95% of the complete warmup sessions.
    #[arg(long)]
    pub rule_baseline: bool,
    /// Ablation: weight of the distillation term (0: the student learns from the project's data
    /// alone, no teacher; default: the configured 0.5).
    #[arg(long, value_name = "ALPHA")]
    pub distill_alpha: Option<f64>,
    /// Examples shown per cause in the summary of flagged sessions and lines.
    #[arg(long, default_value_t = logsentinel::summary::DEFAULT_EXAMPLES)]
    pub examples: usize,
    /// A simulated operator reviews the first K incidents (in the order raised) and labels each with
    /// the truth from the labels, through the public feedback call; the figures are for K, and the
    /// replay is repeated for K = 0, 5, 10, 20 below K to show the curve.
    #[arg(long, value_name = "K")]
    pub feedback_budget: Option<usize>,
}

/// Budgets the feedback curve is drawn at (those below the one asked for).
const FEEDBACK_BUDGETS: [usize; 4] = [0, 5, 10, 20];

/// One scored line as eval keeps it.
struct LineRec {
    session: Option<String>,
    phase: Phase,
    model: &'static str,
    score: f32,
    flagged: bool,
    sequence: f32,
    forest: f32,
    rules: f32,
    template: u32,
}

/// One session-end verdict.
struct EndRec {
    flagged: bool,
    score: f32,
}

/// Which signals count as a flag.
#[derive(Clone, Copy, PartialEq)]
enum View {
    All,
    Rules,
    Forest,
    Sequence,
    SessionEnd,
    LinesOnly,
}

impl View {
    fn name(self) -> &'static str {
        match self {
            View::All => "full ensemble",
            View::Rules => "rules only",
            View::Forest => "isolation forest only",
            View::Sequence => "sequence model only",
            View::SessionEnd => "session-end verdicts only",
            View::LinesOnly => "line verdicts only (no session end)",
        }
    }

    fn line(self, l: &LineRec) -> (bool, f32) {
        match self {
            View::All | View::LinesOnly => (l.flagged, l.score),
            View::Rules => (l.rules >= 0.5, l.rules),
            View::Forest => (l.forest >= 0.5, l.forest),
            View::Sequence => (l.sequence >= 0.5, l.sequence),
            View::SessionEnd => (false, 0.0),
        }
    }

    fn end(self) -> bool {
        matches!(self, View::All | View::SessionEnd)
    }
}

/// Precision, recall, F1 and the confusion matrix.
#[derive(Debug, Default, Clone, Copy)]
struct Prf {
    tp: usize,
    fp: usize,
    fn_: usize,
    tn: usize,
}

impl Prf {
    fn add(&mut self, y: bool, p: bool) {
        match (y, p) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }
    fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        }
    }
    fn fpr(&self) -> f64 {
        ratio(self.fp, self.fp + self.tn)
    }
    fn line(&self) -> String {
        format!(
            "P={:.4} R={:.4} F1={:.4}  TP={} FP={} FN={} TN={} FPR={:.5}",
            self.precision(),
            self.recall(),
            self.f1(),
            self.tp,
            self.fp,
            self.fn_,
            self.tn,
            self.fpr()
        )
    }
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "precision": self.precision(), "recall": self.recall(), "f1": self.f1(),
            "tp": self.tp, "fp": self.fp, "fn": self.fn_, "tn": self.tn, "fpr": self.fpr(),
        })
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Session labels as score_detect.py reads them (header optional).
fn load_session_labels(path: &std::path::Path) -> Result<HashMap<String, bool>, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::invalid_input(format!("cannot read {}: {e}", path.display())))?;
    let mut out = HashMap::new();
    for (i, row) in text.lines().enumerate() {
        let mut f = row.split(',');
        let (Some(id), Some(label)) = (f.next(), f.next()) else {
            continue;
        };
        let label = label.trim().to_ascii_lowercase();
        let y = match label.as_str() {
            "anomaly" | "anomalous" | "abnormal" | "1" | "true" | "yes" | "alert" => true,
            "normal" | "0" | "false" | "no" | "-" => false,
            _ if i == 0 => continue,
            _ => {
                return Err(Error::invalid_input(format!(
                    "{}: unknown label {label:?} on row {}",
                    path.display(),
                    i + 1
                )))
            }
        };
        out.insert(id.trim().to_string(), y);
    }
    Ok(out)
}

/// Line labels: the first token of each line of the labelled file, `-` meaning normal.
fn load_line_labels(path: &std::path::Path) -> Result<Vec<bool>, Error> {
    Ok(crate::read_lines(path)?
        .iter()
        .map(|l| l.split_whitespace().next().unwrap_or("-") != "-")
        .collect())
}

/// Result of one replay, kept for scoring.
struct Replay {
    lines: Vec<LineRec>,
    ends: HashMap<String, EndRec>,
    training_secs: Option<(f64, f64, f64)>,
    /// The flagged sessions and lines by cause.
    findings: Findings,
    /// Why no student took over, when none did.
    untrained_reason: Option<String>,
}

fn replay(args: &EvalArgs, operator: &mut Operator<'_>) -> Result<Replay, Error> {
    let format: LogFormat = args.format.parse()?;
    let mut config = Config::from_env()?;
    let _temp;
    match &args.storage {
        Some(storage) => crate::set_storage(&mut config, storage),
        None => {
            config.storage_url = None;
            let t = tempfile::Builder::new()
                .prefix("logsentinel-eval-")
                .tempdir()
                .map_err(|e| Error::storage(format!("cannot create a temporary directory: {e}")))?;
            config.storage_dir = t.path().to_path_buf();
            _temp = t;
        }
    }
    crate::wait_for_lease(&mut config);
    config.ablation_teacher_scores = args.teacher_only;
    if let Some(alpha) = args.distill_alpha {
        config.distill_alpha = alpha;
        config.validate()?;
    }
    let lines = crate::read_lines(&args.file)?;
    let det = TenantDetector::open(config)?;
    let mut np = NewProject::named(&args.project).format(format);
    np.log_format = args.log_format.clone();
    np.warmup_threshold = args.warmup;
    np.session_pattern = args.session_pattern.clone();
    let key = det.create_project(np)?.api_key;
    let mut out = Replay {
        lines: Vec::with_capacity(lines.len()),
        ends: HashMap::new(),
        training_secs: None,
        findings: Findings::new(args.examples),
        untrained_reason: None,
    };
    let take_verdicts =
        |vs: Vec<logsentinel::SessionVerdict>, out: &mut Replay, operator: &mut Operator<'_>| {
            for v in vs {
                operator.observe_verdict(&v);
                out.findings.add_verdict(&v);
                let e = out.ends.entry(v.session_id.clone()).or_insert(EndRec {
                    flagged: false,
                    score: 0.0,
                });
                e.flagged |= v.is_anomaly;
                e.score = e.score.max(v.anomaly_score);
            }
        };
    let mut idx = 0;
    while idx < lines.len() {
        let st = det.status(&key)?;
        let mut size = BATCH;
        if st.phase == Phase::Warmup && st.log_count < st.warmup_threshold {
            size = size.min((st.warmup_threshold - st.log_count) as usize);
        }
        let end = (idx + size).min(lines.len());
        let records: Vec<LogRecord> = lines[idx..end].iter().map(LogRecord::new).collect();
        let batch = det.detect_batch(&key, &records)?;
        for d in batch.results {
            operator.observe_line(out.lines.len(), &d);
            out.findings.add_line(out.lines.len() + 1, &d);
            out.lines.push(LineRec {
                session: d.session_id,
                phase: d.phase,
                model: d.model_type.as_str(),
                score: d.anomaly_score,
                flagged: d.is_anomaly,
                sequence: d.components.sequence,
                forest: d.components.isolation_forest,
                rules: d.components.rules,
                template: d.template_id,
            });
        }
        idx = end;
        take_verdicts(
            det.poll_session_verdicts(&key, usize::MAX)?,
            &mut out,
            operator,
        );
        operator.review(&det, &key)?;
        if det.status(&key)?.phase == Phase::Training {
            det.wait_for_training(&key, None)?;
            let st = det.status(&key)?;
            let t = &st.training;
            if let (Some(a), Some(b), Some(c)) = (
                t.last_duration_secs,
                t.last_teacher_finetune_secs,
                t.last_distill_secs,
            ) {
                out.training_secs = Some((a, b, c));
            }
        }
    }
    take_verdicts(det.close_all_sessions(&key)?, &mut out, operator);
    let st = det.status(&key)?;
    if !st.has_student_model {
        out.untrained_reason = Some(crate::replay::untrained_reason(&st));
    }
    det.close()?;
    Ok(out)
}

/// Session-level metrics of one view: (warmup sessions, active sessions, scored active sessions).
fn score_sessions(
    r: &Replay,
    labels: &HashMap<String, bool>,
    view: View,
) -> (Prf, Prf, Vec<(f32, bool)>) {
    let mut pred: HashMap<&str, (bool, f32)> = HashMap::new();
    let mut warm: HashSet<&str> = HashSet::new();
    for l in &r.lines {
        if let Some(s) = l.session.as_deref().filter(|s| !s.is_empty()) {
            let (f, sc) = view.line(l);
            let e = pred.entry(s).or_insert((false, 0.0));
            e.0 |= f;
            e.1 = e.1.max(sc);
            if l.phase == Phase::Warmup {
                warm.insert(s);
            }
        }
    }
    if view.end() {
        for (s, e) in &r.ends {
            let p = pred.entry(s.as_str()).or_insert((false, 0.0));
            p.0 |= e.flagged;
            p.1 = p.1.max(e.score);
        }
    }
    let (mut w, mut a) = (Prf::default(), Prf::default());
    let mut scored = Vec::new();
    let mut ids: Vec<(&String, &bool)> = labels.iter().collect();
    ids.sort();
    for (s, &y) in ids {
        let (p, sc) = pred.get(s.as_str()).copied().unwrap_or((false, 0.0));
        if warm.contains(s.as_str()) {
            w.add(y, p);
        } else {
            a.add(y, p);
            scored.push((sc, y));
        }
    }
    (w, a, scored)
}

/// Share of warmup sessions below which a template is rare, for the simple rule.
const RULE_RARE_SHARE: f64 = 0.02;
/// Share of complete warmup sessions at or above which a template is expected, for the simple rule.
const RULE_COMMON_SHARE: f64 = 0.95;

/// The simple session rule (`--rule-baseline`) on the active sessions, from the templates the product
/// gave each line: warmup sessions are those whose first line is in the warmup, complete ones those
/// with every line in it; template 0 (no template matched) is always rare.
fn score_rule_baseline(r: &Replay, labels: &HashMap<String, bool>) -> Prf {
    // Per session: templates, whether its first line and whether all its lines are in the warmup.
    let mut sessions: HashMap<&str, (HashSet<u32>, bool, bool)> = HashMap::new();
    for l in &r.lines {
        let Some(s) = l.session.as_deref().filter(|s| !s.is_empty()) else {
            continue;
        };
        let warm = l.phase == Phase::Warmup;
        let e = sessions
            .entry(s)
            .or_insert_with(|| (HashSet::new(), warm, true));
        e.0.insert(l.template);
        e.2 &= warm;
    }
    let (mut warm_n, mut complete_n) = (0usize, 0usize);
    let (mut presence, mut complete_presence): (HashMap<u32, usize>, HashMap<u32, usize>) =
        (HashMap::new(), HashMap::new());
    for (templates, starts_warm, all_warm) in sessions.values() {
        if !starts_warm {
            continue;
        }
        warm_n += 1;
        for &t in templates {
            *presence.entry(t).or_insert(0) += 1;
        }
        if *all_warm {
            complete_n += 1;
            for &t in templates {
                *complete_presence.entry(t).or_insert(0) += 1;
            }
        }
    }
    let common: Vec<u32> = complete_presence
        .iter()
        .filter(|(&t, &c)| t != 0 && c as f64 >= RULE_COMMON_SHARE * complete_n as f64)
        .map(|(&t, _)| t)
        .collect();
    let rare = |t: u32| {
        t == 0 || (presence.get(&t).copied().unwrap_or(0) as f64) < RULE_RARE_SHARE * warm_n as f64
    };
    let mut out = Prf::default();
    for (s, &y) in labels {
        let p = match sessions.get(s.as_str()) {
            Some((_, true, _)) => continue,
            Some((templates, false, _)) => {
                templates.iter().any(|&t| rare(t)) || common.iter().any(|t| !templates.contains(t))
            }
            None => false,
        };
        out.add(y, p);
    }
    out
}

/// Line-level metrics of one view: (warmup lines, active lines, scored active lines).
fn score_lines(r: &Replay, gold: &[bool], view: View) -> (Prf, Prf, Vec<(f32, bool)>) {
    let (mut w, mut a) = (Prf::default(), Prf::default());
    let mut scored = Vec::new();
    for (i, &y) in gold.iter().enumerate() {
        let (p, sc, phase) = match r.lines.get(i) {
            Some(l) => {
                let (p, sc) = view.line(l);
                (p, sc, l.phase)
            }
            None => (false, 0.0, Phase::Active),
        };
        if phase == Phase::Warmup {
            w.add(y, p);
        } else {
            a.add(y, p);
            scored.push((sc, y));
        }
    }
    (w, a, scored)
}

/// Precision-recall points over every distinct score threshold, highest threshold first.
fn pr_curve(scored: &[(f32, bool)]) -> Vec<(f64, f64, f32)> {
    let mut v: Vec<(f32, bool)> = scored.to_vec();
    v.sort_by(|a, b| b.0.total_cmp(&a.0));
    let pos = v.iter().filter(|x| x.1).count();
    let mut out = Vec::new();
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut i = 0;
    while i < v.len() {
        let t = v[i].0;
        while i < v.len() && v[i].0 == t {
            if v[i].1 {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        out.push((ratio(tp, pos), ratio(tp, tp + fp), t));
    }
    out
}

/// Runs `eval`.
pub fn run(args: EvalArgs) -> Result<(), Error> {
    if args.labels.is_none() && args.line_labels.is_none() {
        return Err(Error::invalid_input(
            "give --labels SESSIONS.csv and/or --line-labels LABELLED.log",
        ));
    }
    let session_labels = args
        .labels
        .as_deref()
        .map(load_session_labels)
        .transpose()?;
    let line_labels = args
        .line_labels
        .as_deref()
        .map(load_line_labels)
        .transpose()?;
    let truth = || Truth {
        sessions: session_labels.as_ref(),
        lines: line_labels.as_deref(),
    };
    let budget = args.feedback_budget.unwrap_or(0);
    let mut feedback_rows = Vec::new();
    if args.feedback_budget.is_some() {
        for b in FEEDBACK_BUDGETS.into_iter().filter(|&b| b < budget) {
            let mut op = Operator::new(b, truth());
            let r = replay(&args, &mut op)?;
            feedback_rows.push(feedback_row(
                b,
                &r,
                &op,
                session_labels.as_ref(),
                line_labels.as_deref(),
            ));
        }
    }
    let started = Instant::now();
    let mut op = Operator::new(budget, truth());
    let r = replay(&args, &mut op)?;
    println!(
        "eval: {} ({} lines, replayed in {:.1} s)",
        args.file.display(),
        r.lines.len(),
        started.elapsed().as_secs_f64()
    );
    if let Some((total, teacher, distill)) = r.training_secs {
        println!(
            "training: {total:.1} s (teacher {teacher:.1} s, student distillation {distill:.1} s)"
        );
    }
    if let Some(reason) = &r.untrained_reason {
        println!("student: not trained during this replay ({reason})");
    }
    let mut per: HashMap<(&str, &str), (usize, usize)> = HashMap::new();
    for l in &r.lines {
        let e = per.entry((l.phase.as_str(), l.model)).or_default();
        e.0 += 1;
        e.1 += l.flagged as usize;
    }
    let mut keys: Vec<_> = per.keys().copied().collect();
    keys.sort();
    for k in keys {
        let (n, f) = per[&k];
        println!("  lines {}/{}: {n} (flagged {f})", k.0, k.1);
    }
    let mut json = serde_json::Map::new();
    let views: &[View] = if args.ablation {
        &[
            View::All,
            View::Rules,
            View::Forest,
            View::Sequence,
            View::LinesOnly,
            View::SessionEnd,
        ]
    } else {
        &[View::All]
    };
    let mut curve = Vec::new();
    if let Some(labels) = &session_labels {
        for &v in views {
            let (w, a, scored) = score_sessions(&r, labels, v);
            if v == View::All {
                println!("SESSION warmup  {}", w.line());
                println!("SESSION active  {}", a.line());
                println!(
                    "  confusion (active): anomalous sessions {} flagged / {} missed; normal {} flagged / {} passed",
                    a.tp, a.fn_, a.fp, a.tn
                );
                json.insert("session_warmup".into(), w.json());
                json.insert("session_active".into(), a.json());
                curve = scored;
                if args.rule_baseline {
                    let b = score_rule_baseline(&r, labels);
                    println!("  baseline session active [simple rule] {}", b.line());
                    json.insert("session_active[simple rule]".into(), b.json());
                }
            } else {
                println!("  ablation session active [{}] {}", v.name(), a.line());
                json.insert(format!("session_active[{}]", v.name()), a.json());
            }
        }
    }
    if let Some(gold) = &line_labels {
        for &v in views {
            if v == View::SessionEnd {
                continue;
            }
            let (w, a, scored) = score_lines(&r, gold, v);
            if v == View::All {
                println!("LINE warmup  {}", w.line());
                println!("LINE active  {}", a.line());
                println!(
                    "  confusion (active): anomalous lines {} flagged / {} missed; normal {} flagged / {} passed",
                    a.tp, a.fn_, a.fp, a.tn
                );
                json.insert("line_warmup".into(), w.json());
                json.insert("line_active".into(), a.json());
                if args.labels.is_none() {
                    curve = scored;
                }
            } else {
                println!("  ablation line active [{}] {}", v.name(), a.line());
                json.insert(format!("line_active[{}]", v.name()), a.json());
            }
        }
    }
    if let Some(png) = &args.plot {
        let pts = pr_curve(&curve);
        plot::write_pr_png(png, &pts)?;
        println!(
            "precision-recall curve ({} thresholds) written to {}",
            pts.len(),
            png.display()
        );
    }
    let incidents = incident_figures(&r, &op);
    json.insert("incidents".into(), incidents.clone());
    if args.feedback_budget.is_some() {
        feedback_rows.push(feedback_row(
            budget,
            &r,
            &op,
            session_labels.as_ref(),
            line_labels.as_deref(),
        ));
        println!("FEEDBACK (a simulated operator labels the first K incidents with the truth)");
        for row in &feedback_rows {
            println!("  {}", feedback_line(row));
        }
        for (id, label, title) in op.reviewed() {
            println!("  reviewed #{id}: {label:?} - {title}");
        }
        json.insert("feedback".into(), serde_json::Value::Array(feedback_rows));
    }
    println!(
        "incidents: {} ({:.1} per 10,000 lines, {:.1} flagged lines and verdicts each)",
        incidents["count"], incidents["per_10k_lines"], incidents["anomalies_per_incident"]
    );
    print!("{}", r.findings);
    if args.json {
        println!("{}", serde_json::Value::Object(json));
    }
    Ok(())
}

/// Incident volume of a replay: how many, per 10,000 lines, anomalies each, and how their sizes
/// spread (an attack burst or failure episode should land in few, large ones).
fn incident_figures(r: &Replay, op: &Operator<'_>) -> serde_json::Value {
    let sizes = op.incident_sizes();
    let count = sizes.len();
    let anomalies: u64 = sizes.values().sum();
    let bucket = |lo: u64, hi: u64| sizes.values().filter(|&&n| n >= lo && n <= hi).count();
    serde_json::json!({
        "count": count,
        "per_10k_lines": ratio(count * 10_000, r.lines.len()),
        "anomalies_per_incident": ratio(anomalies as usize, count),
        "sizes": {
            "1": bucket(1, 1),
            "2-9": bucket(2, 9),
            "10-99": bucket(10, 99),
            "100+": bucket(100, u64::MAX),
        },
        "reviewed": op.reviewed().len(),
    })
}

/// One row of the feedback curve: the budget, the active-phase figures and the incident volume.
fn feedback_row(
    budget: usize,
    r: &Replay,
    op: &Operator<'_>,
    sessions: Option<&HashMap<String, bool>>,
    lines: Option<&[bool]>,
) -> serde_json::Value {
    let mut row = serde_json::Map::new();
    row.insert("budget".into(), budget.into());
    row.insert("reviewed".into(), op.reviewed().len().into());
    if let Some(labels) = sessions {
        let (_, a, _) = score_sessions(r, labels, View::All);
        row.insert("session_active".into(), a.json());
    }
    if let Some(gold) = lines {
        let (_, a, _) = score_lines(r, gold, View::All);
        row.insert("line_active".into(), a.json());
    }
    row.insert("incidents".into(), incident_figures(r, op));
    serde_json::Value::Object(row)
}

/// A feedback row in words.
fn feedback_line(row: &serde_json::Value) -> String {
    let mut out = format!("K={:<3} reviewed {:<3}", row["budget"], row["reviewed"]);
    for (key, name) in [("session_active", "session"), ("line_active", "line")] {
        if let Some(prf) = row.get(key) {
            out.push_str(&format!(
                " {name} active F1={:.4} FPR={:.5}",
                prf["f1"].as_f64().unwrap_or(0.0),
                prf["fpr"].as_f64().unwrap_or(0.0)
            ));
        }
    }
    out.push_str(&format!(" incidents {}", row["incidents"]["count"]));
    out
}

/// A minimal PNG writer for the precision-recall plot (stored deflate blocks, no dependency).
mod plot {
    use logsentinel::Error;

    const W: usize = 480;
    const H: usize = 400;
    const MARGIN: usize = 40;

    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }

    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }

    fn zlib_stored(raw: &[u8]) -> Vec<u8> {
        let mut out = vec![0x78, 0x01];
        let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
        for (i, b) in blocks.iter().enumerate() {
            out.push(u8::from(i + 1 == blocks.len()));
            let n = b.len() as u16;
            out.extend_from_slice(&n.to_le_bytes());
            out.extend_from_slice(&(!n).to_le_bytes());
            out.extend_from_slice(b);
        }
        let (mut a, mut b) = (1u32, 0u32);
        for &x in raw {
            a = (a + x as u32) % 65_521;
            b = (b + a) % 65_521;
        }
        out.extend_from_slice(&((b << 16) | a).to_be_bytes());
        out
    }

    /// Draws recall (x) against precision (y), axes and a 0.1 grid, and writes a PNG.
    pub fn write_pr_png(path: &std::path::Path, pts: &[(f64, f64, f32)]) -> Result<(), Error> {
        let mut img = vec![255u8; W * H * 3];
        let mut put = |x: usize, y: usize, c: [u8; 3]| {
            if x < W && y < H {
                let i = (y * W + x) * 3;
                img[i..i + 3].copy_from_slice(&c);
            }
        };
        let pw = W - 2 * MARGIN;
        let ph = H - 2 * MARGIN;
        let to_px = |r: f64, p: f64| {
            (
                MARGIN + (r.clamp(0.0, 1.0) * pw as f64).round() as usize,
                H - MARGIN - (p.clamp(0.0, 1.0) * ph as f64).round() as usize,
            )
        };
        for k in 0..=10 {
            let f = k as f64 / 10.0;
            let c = if k == 0 { [0, 0, 0] } else { [220, 220, 220] };
            for t in 0..=pw {
                let (x, y) = to_px(t as f64 / pw as f64, f);
                put(x, y, c);
            }
            for t in 0..=ph {
                let (x, y) = to_px(f, t as f64 / ph as f64);
                put(x, y, c);
            }
        }
        let mut last: Option<(usize, usize)> = None;
        for &(r, p, _) in pts {
            let (x, y) = to_px(r, p);
            if let Some((lx, ly)) = last {
                let steps = lx.abs_diff(x).max(ly.abs_diff(y)).max(1);
                for s in 0..=steps {
                    let f = s as f64 / steps as f64;
                    let xi = (lx as f64 + (x as f64 - lx as f64) * f).round() as usize;
                    let yi = (ly as f64 + (y as f64 - ly as f64) * f).round() as usize;
                    put(xi, yi, [200, 30, 30]);
                    put(xi, yi + 1, [200, 30, 30]);
                }
            }
            for dx in 0..3 {
                for dy in 0..3 {
                    put(x + dx, y + dy, [30, 30, 200]);
                }
            }
            last = Some((x, y));
        }
        let mut raw = Vec::with_capacity((W * 3 + 1) * H);
        for row in img.chunks(W * 3) {
            raw.push(0);
            raw.extend_from_slice(row);
        }
        let mut png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&(W as u32).to_be_bytes());
        ihdr.extend_from_slice(&(H as u32).to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        chunk(&mut png, b"IHDR", &ihdr);
        chunk(&mut png, b"IDAT", &zlib_stored(&raw));
        chunk(&mut png, b"IEND", &[]);
        std::fs::write(path, png)
            .map_err(|e| Error::invalid_input(format!("cannot write {}: {e}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prf_and_curve() {
        let mut p = Prf::default();
        p.add(true, true);
        p.add(false, true);
        p.add(true, false);
        p.add(false, false);
        assert_eq!((p.tp, p.fp, p.fn_, p.tn), (1, 1, 1, 1));
        assert!((p.f1() - 0.5).abs() < 1e-9);
        let c = pr_curve(&[(0.9, true), (0.8, false), (0.7, true), (0.1, false)]);
        assert_eq!(c.len(), 4);
        assert!((c[0].1 - 1.0).abs() < 1e-9 && (c[0].0 - 0.5).abs() < 1e-9);
        assert!((c[3].0 - 1.0).abs() < 1e-9);
    }
}
