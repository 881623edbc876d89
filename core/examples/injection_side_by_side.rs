//! libinjection beside the built-in attack patterns, on labelled access logs (issue 21, item 3).
//!
//! ```text
//! cargo run --release -p logsentinel --example injection_side_by_side -- \
//!     ../shared/data/access_logs/access_dev.log ../shared/data/access_logs/access_dev_lines.csv \
//!     ../shared/data/access_logs_2/ait_russellmitchell.log ../shared/data/access_logs_2/ait_russellmitchell_lines.csv
//! ```
//!
//! Arguments come in pairs: a combined-format access log and its labels (CSV with `LineId` and
//! `Label`, `-` for a normal line). Labels only count; nothing is tuned on them. For each log it
//! prints, for attack lines and normal lines, how many each detector flags:
//! - `patterns sqli/xss`: the built-in `attack:sqli` / `attack:xss` patterns;
//! - `libinjection`: libinjection's SQL and XSS verdicts on the request's arguments;
//! - `libinjection only` / `patterns only`: what one adds to the other;
//! - `any pattern` / `any + libinjection`: every built-in attack rule, without and with it.

use std::collections::HashMap;
use std::error::Error;
use std::fs;
use std::time::{Duration, Instant};

use logsentinel::model::injection::scan_request;
use logsentinel::model::rules::{RuleInput, RuleSet, LIBINJECTION_EVIDENCE};
use logsentinel::parse::{HeaderParser, LogFormat};

/// What the detectors said about one line.
#[derive(Default)]
struct Verdicts {
    pattern_injection: bool,
    any_pattern: bool,
    libinjection: bool,
}

/// A printed row: its name and how it reads a [`Counts`].
type Row = (&'static str, fn(&Counts) -> usize);

/// Counts over the lines of one label (attack or normal).
#[derive(Default)]
struct Counts {
    lines: usize,
    pattern_injection: usize,
    libinjection: usize,
    libinjection_only: usize,
    pattern_only: usize,
    any_pattern: usize,
    any_with_libinjection: usize,
}

impl Counts {
    fn add(&mut self, v: &Verdicts) {
        self.lines += 1;
        self.pattern_injection += usize::from(v.pattern_injection);
        self.libinjection += usize::from(v.libinjection);
        self.libinjection_only += usize::from(v.libinjection && !v.pattern_injection);
        self.pattern_only += usize::from(v.pattern_injection && !v.libinjection);
        self.any_pattern += usize::from(v.any_pattern);
        self.any_with_libinjection += usize::from(v.any_pattern || v.libinjection);
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.len() % 2 != 0 {
        return Err("usage: injection_side_by_side LOG LABELS.csv [LOG LABELS.csv ...]".into());
    }
    let rules = RuleSet::builtin();
    let parser = HeaderParser::new(LogFormat::Combined);
    for pair in args.chunks(2) {
        let (log, labels) = (&pair[0], &pair[1]);
        let labels = read_labels(labels)?;
        let text = fs::read_to_string(log)?;
        let (mut attack, mut normal) = (Counts::default(), Counts::default());
        let mut examples: Vec<String> = Vec::new();
        let (mut only_libinjection, mut only_patterns) = (0, 0);
        let (mut rules_time, mut scan_time) = (Duration::ZERO, Duration::ZERO);
        for (index, line) in text.lines().enumerate() {
            let header = parser.parse(line);
            let Some(http) = header.http.as_ref() else {
                continue;
            };
            let started = Instant::now();
            let hits = rules.evaluate(&RuleInput {
                line,
                content: &header.content,
                level: header.level.as_deref(),
                http_status: http.status,
                http_target: Some(&http.target),
                http_user_agent: http.user_agent.as_deref(),
                http_referrer: http.referrer.as_deref(),
            });
            rules_time += started.elapsed();
            let by_pattern = |h: &&logsentinel::model::rules::RuleHit| {
                h.rule.starts_with("attack:") && !h.evidence.starts_with(LIBINJECTION_EVIDENCE)
            };
            let started = Instant::now();
            let findings = scan_request(
                &http.target,
                http.user_agent.as_deref(),
                http.referrer.as_deref(),
            );
            scan_time += started.elapsed();
            let verdicts = Verdicts {
                pattern_injection: hits
                    .iter()
                    .filter(by_pattern)
                    .any(|h| h.rule == "attack:sqli" || h.rule == "attack:xss"),
                any_pattern: hits.iter().any(|h| by_pattern(&h)),
                libinjection: !findings.is_empty(),
            };
            let is_attack = labels.get(&(index + 1)).is_some_and(|l| l != "-");
            if is_attack {
                attack.add(&verdicts);
                if verdicts.libinjection && !verdicts.pattern_injection && only_libinjection < 4 {
                    only_libinjection += 1;
                    examples.push(format!(
                        "attack line found by libinjection only: {}",
                        http.target
                    ));
                }
                if verdicts.pattern_injection && !verdicts.libinjection && only_patterns < 4 {
                    only_patterns += 1;
                    examples.push(format!(
                        "attack line found by patterns only: {}",
                        http.target
                    ));
                }
            } else {
                normal.add(&verdicts);
                if verdicts.libinjection && examples.len() < 12 {
                    let kind = findings.first().map(|f| f.kind);
                    examples.push(format!(
                        "normal line flagged by libinjection ({kind:?}): {}",
                        http.target
                    ));
                }
            }
        }
        println!("== {log}");
        println!("{:<28}{:>10}{:>10}", "lines flagged by", "attack", "normal");
        println!("{:<28}{:>10}{:>10}", "(lines)", attack.lines, normal.lines);
        let rows: [Row; 6] = [
            ("patterns sqli/xss", |c| c.pattern_injection),
            ("libinjection", |c| c.libinjection),
            ("libinjection only", |c| c.libinjection_only),
            ("patterns sqli/xss only", |c| c.pattern_only),
            ("any pattern", |c| c.any_pattern),
            ("any + libinjection", |c| c.any_with_libinjection),
        ];
        for (name, value) in rows {
            println!("{name:<28}{:>10}{:>10}", value(&attack), value(&normal));
        }
        let lines = (attack.lines + normal.lines).max(1) as f64;
        println!(
            "time per line: all rules (libinjection included) {:.2} us, libinjection alone {:.2} us",
            rules_time.as_secs_f64() * 1e6 / lines,
            scan_time.as_secs_f64() * 1e6 / lines
        );
        for example in &examples {
            println!("  {example}");
        }
    }
    Ok(())
}

/// `LineId -> Label` of a labels CSV (first two columns).
fn read_labels(path: &str) -> Result<HashMap<usize, String>, Box<dyn Error>> {
    let text = fs::read_to_string(path)?;
    let mut labels = HashMap::new();
    for row in text.lines().skip(1) {
        let mut fields = row.split(',');
        let (Some(id), Some(label)) = (fields.next(), fields.next()) else {
            continue;
        };
        labels.insert(id.trim().parse()?, label.trim().to_string());
    }
    Ok(labels)
}
