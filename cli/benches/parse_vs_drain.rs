//! logsentinel's template miner against the Rust Drain crates from crates.io (`drain3`, `logdrain`),
//! on the same messages, one thread:
//!
//! ```text
//! LOGSENTINEL_BENCH_DATA=DIR cargo bench -p logsentinel-cli --bench parse_vs_drain
//! LOGSENTINEL_BENCH_DATA=DIR LOGSENTINEL_BENCH_LINES=1000000 cargo bench -p logsentinel-cli --bench parse_vs_drain
//! ```
//!
//! DIR is a Loghub-2k style folder (`<System>/<System>_2k.log` and `<System>_2k.log_structured.csv`;
//! the development data set, if you have it, is `../shared/data/loghub_2k`). Without it the bench
//! prints what to set and runs nothing.
//!
//! Every Loghub system is repeated to lines / systems messages (the `Content` column: the line
//! after its header, what Drain is fed) and mined from scratch by each parser; each is timed
//! (best of 3) and scored on the 2k file (GA/PA with final templates, as `score_parse.py
//! --final-template`). Both crates get Drain3's example settings: similarity 0.4, depth 4, 100
//! children, and its masks (IDs, IPs, hex sequences, hex numbers, numbers), written for the `regex`
//! crate (no look-around: the leading context is captured and re-emitted, the trailing check is
//! `\b`).

use std::path::PathBuf;
use std::time::Instant;

use logsentinel::parse::eval::{
    mean_score, read_truth, score_predictions, system_dirs, SystemScore,
};
use logsentinel::parse::{HeaderParser, MinerConfig, TemplateMiner};

/// Drain3's example masks as (pattern, replacement) for the `regex` crate.
const MASKS: [(&str, &str); 6] = [
    (
        r"(^|[^A-Za-z0-9])((?:[0-9a-f]{2,}:){3,}[0-9a-f]{2,})\b",
        "${1}<:ID:>",
    ),
    (
        r"(^|[^A-Za-z0-9])(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})\b",
        "${1}<:IP:>",
    ),
    (r"(^|[^A-Za-z0-9])((?:[0-9a-f]{6,} ?){3,})\b", "${1}<:SEQ:>"),
    (r"(^|[^A-Za-z0-9])((?:[0-9A-F]{4} ?){4,})\b", "${1}<:SEQ:>"),
    (r"(^|[^A-Za-z0-9])(0x[a-f0-9A-F]+)\b", "${1}<:HEX:>"),
    (r"(^|[^A-Za-z0-9])([\-\+]?\d+)\b", "${1}<:NUM:>"),
];

struct System {
    name: String,
    content: Vec<String>,
    truth_ids: Vec<String>,
    truth_templates: Vec<String>,
}

/// A parser under test: ids and final templates per line.
trait Parser {
    /// Mines `lines` from scratch; returns (template id per line, final template per id).
    fn run(&self, lines: &[&str]) -> (Vec<u64>, std::collections::HashMap<u64, String>);
}

struct Logsentinel;

impl Parser for Logsentinel {
    fn run(&self, lines: &[&str]) -> (Vec<u64>, std::collections::HashMap<u64, String>) {
        let mut miner = TemplateMiner::new(MinerConfig::default());
        let mut spans = Vec::new();
        let ids: Vec<u64> = lines
            .iter()
            .map(|line| u64::from(miner.learn_line(line, &mut spans).template_id))
            .collect();
        let templates = miner
            .templates()
            .into_iter()
            .map(|t| (u64::from(t.id), t.template))
            .collect();
        (ids, templates)
    }
}

struct Drain3Crate;

impl Parser for Drain3Crate {
    fn run(&self, lines: &[&str]) -> (Vec<u64>, std::collections::HashMap<u64, String>) {
        let config = drain3::Config::builder()
            .depth(4)
            .similarity_threshold(0.4)
            .max_children(100)
            .max_clusters(1024)
            .extra_delimiters(vec!["_".to_string()])
            .masking(
                MASKS
                    .iter()
                    .map(|(pattern, mask)| drain3::MaskingInstruction {
                        pattern: pattern.to_string(),
                        mask: mask.to_string(),
                    })
                    .collect(),
            )
            .build();
        let mut matcher = drain3::Matcher::new(config);
        let ids: Vec<u64> = lines
            .iter()
            .map(|line| {
                matcher
                    .add_log_message(line)
                    .map_or(u64::MAX, |template| template.id() as u64)
            })
            .collect();
        let templates = matcher
            .templates()
            .iter()
            .map(|template| {
                let mut literals = template.tokens().iter();
                let words: Vec<&str> = (0..template.token_count())
                    .map(|index| {
                        if template.is_param(index) {
                            "<*>"
                        } else {
                            literals.next().map_or("", |word| word.as_ref())
                        }
                    })
                    .collect();
                (template.id() as u64, words.join(" "))
            })
            .collect();
        (ids, templates)
    }
}

struct Logdrain;

impl Parser for Logdrain {
    fn run(&self, lines: &[&str]) -> (Vec<u64>, std::collections::HashMap<u64, String>) {
        let masks: Vec<logdrain::Mask> = MASKS
            .iter()
            .filter_map(|(pattern, mask)| logdrain::Mask::new(pattern, mask).ok())
            .collect();
        let Ok(miner) = logdrain::Miner::builder()
            .sim_threshold(0.4)
            .depth(4)
            .max_clusters_per_leaf(100)
            .masks(masks)
            .build()
        else {
            return (Vec::new(), Default::default());
        };
        let ids: Vec<u64> = lines
            .iter()
            .map(|line| miner.add(line).cluster_id)
            .collect();
        let templates = miner
            .clusters()
            .iter()
            .map(|cluster| (cluster.id(), cluster.template().to_string()))
            .collect();
        (ids, templates)
    }
}

fn load(data: &std::path::Path) -> Vec<System> {
    let Ok(dirs) = system_dirs(data) else {
        return Vec::new();
    };
    dirs.into_iter()
        .filter_map(|files| {
            let raw = std::fs::read(&files.log).ok()?;
            let text = String::from_utf8_lossy(&raw);
            let parser = HeaderParser::new(files.format());
            let content = text
                .lines()
                .map(|line| parser.parse(line).content)
                .collect();
            let (truth_ids, truth_templates) = read_truth(&files.structured_csv).ok()?;
            Some(System {
                name: files.name,
                content,
                truth_ids,
                truth_templates,
            })
        })
        .collect()
}

fn score(parser: &dyn Parser, system: &System) -> SystemScore {
    let lines: Vec<&str> = system.content.iter().map(String::as_str).collect();
    let (ids, templates) = parser.run(&lines);
    let predicted_templates: Vec<String> = ids
        .iter()
        .map(|id| templates.get(id).cloned().unwrap_or_default())
        .collect();
    let predicted_ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    score_predictions(
        &system.name,
        &system.truth_ids,
        &system.truth_templates,
        &predicted_ids,
        &predicted_templates,
    )
}

fn main() {
    let Some(data) = std::env::var_os("LOGSENTINEL_BENCH_DATA").map(PathBuf::from) else {
        eprintln!(
            "parse_vs_drain: set LOGSENTINEL_BENCH_DATA=DIR, a Loghub-2k style folder \
             (<System>/<System>_2k.log and <System>_2k.log_structured.csv); nothing run"
        );
        return;
    };
    if !data.is_dir() {
        eprintln!(
            "parse_vs_drain: no folder at {} (LOGSENTINEL_BENCH_DATA); nothing run",
            data.display()
        );
        return;
    }
    let total: usize = std::env::var("LOGSENTINEL_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let systems = load(&data);
    if systems.is_empty() {
        eprintln!(
            "no Loghub-2k systems under {} (set LOGSENTINEL_BENCH_DATA)",
            data.display()
        );
        return;
    }
    let per_system = total / systems.len();
    let parsers: [&dyn Parser; 3] = [&Logsentinel, &Drain3Crate, &Logdrain];
    println!(
        "{} systems x {per_system} messages (2k files repeated), one thread, best of 3",
        systems.len()
    );
    let mut seconds = [0.0f64; 3];
    let mut scores: [Vec<SystemScore>; 3] = Default::default();
    println!(
        "{:<11} {:>14} {:>14} {:>14}   GA: {:>6} {:>6} {:>6}",
        "system", "logsentinel", "drain3 crate", "logdrain", "ls", "drain3", "logdr"
    );
    for system in &systems {
        let lines: Vec<&str> = system
            .content
            .iter()
            .map(String::as_str)
            .cycle()
            .take(per_system)
            .collect();
        let mut rates = [0.0f64; 3];
        for (index, parser) in parsers.iter().enumerate() {
            let mut best = f64::MAX;
            for _ in 0..3 {
                let started = Instant::now();
                let result = parser.run(&lines);
                best = best.min(started.elapsed().as_secs_f64());
                std::hint::black_box(result);
            }
            seconds[index] += best;
            rates[index] = lines.len() as f64 / best.max(1e-9);
            scores[index].push(score(*parser, system));
        }
        println!(
            "{:<11} {:>14.0} {:>14.0} {:>14.0}       {:>6.4} {:>6.4} {:>6.4}",
            system.name,
            rates[0],
            rates[1],
            rates[2],
            scores[0].last().map_or(0.0, |s| s.ga),
            scores[1].last().map_or(0.0, |s| s.ga),
            scores[2].last().map_or(0.0, |s| s.ga),
        );
    }
    let lines = (per_system * systems.len()) as f64;
    let rate = |index: usize| lines / seconds[index].max(1e-9);
    let means: Vec<SystemScore> = scores.iter().map(|s| mean_score(s)).collect();
    println!(
        "{:<11} {:>14.0} {:>14.0} {:>14.0}       {:>6.4} {:>6.4} {:>6.4}",
        "All",
        rate(0),
        rate(1),
        rate(2),
        means[0].ga,
        means[1].ga,
        means[2].ga
    );
    // The drain3 crate's templates are rebuilt from its dense token list; its PA is not reported.
    println!(
        "mean PA: logsentinel {:.4}, logdrain {:.4}",
        means[0].pa, means[2].pa
    );
    let fastest = rate(1).max(rate(2));
    println!(
        "logsentinel / fastest Rust Drain crate: {:.2}x (lines/s over all systems)",
        rate(0) / fastest.max(1e-9)
    );
}
