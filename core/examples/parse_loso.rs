//! Leave-one-system-out check of the miner's constants (issue 20, item 4).
//!
//! ```text
//! cargo run --release -p logsentinel --example parse_loso -- ../shared/data/loghub_2k
//! ```
//!
//! For each knob of [`MinerConfig`] (similarity threshold, prefix depth, protected capitals,
//! protected words) and each system S of the folder, the value with the best mean GA on the
//! *other* systems is picked (the default wins ties), and S is scored with it. A default that every
//! held-out system would have got without its own data is justified by the others; a knob whose
//! pick moves with the held-out system is fitted. Per-value GA of every system is printed too, so
//! a value that helps one system and costs another shows.

use std::path::PathBuf;

use logsentinel::parse::eval::{read_truth, score_predictions, system_dirs};
use logsentinel::parse::{HeaderParser, MinerConfig, ProtectedWords, TemplateMiner};
use logsentinel::Error;

/// One system's message contents and ground truth.
struct System {
    name: String,
    contents: Vec<String>,
    truth_ids: Vec<String>,
    truth_templates: Vec<String>,
}

/// GA of `config` on `system` (a fresh miner, final templates).
fn ga(system: &System, config: &MinerConfig) -> f64 {
    let mut miner = TemplateMiner::new(config.clone());
    let mut ids = Vec::with_capacity(system.contents.len());
    let mut templates = Vec::with_capacity(system.contents.len());
    for content in &system.contents {
        let matched = miner.learn(content);
        ids.push(matched.template_id.to_string());
        templates.push(matched.template);
    }
    score_predictions(
        &system.name,
        &system.truth_ids,
        &system.truth_templates,
        &ids,
        &templates,
    )
    .ga
}

/// The knobs and the values tried, the default first.
fn knobs() -> Vec<(&'static str, Vec<(String, MinerConfig)>)> {
    let base = MinerConfig::default();
    let threshold = [0.6, 0.4, 0.5, 0.7, 0.8]
        .iter()
        .map(|&value| {
            (
                format!("{value}"),
                MinerConfig {
                    similarity_threshold: value,
                    ..base.clone()
                },
            )
        })
        .collect();
    let depth = [1usize, 0, 2]
        .iter()
        .map(|&value| {
            (
                format!("{value}"),
                MinerConfig {
                    prefix_depth: value,
                    ..base.clone()
                },
            )
        })
        .collect();
    let capitals = [true, false]
        .iter()
        .map(|&value| {
            (
                format!("{value}"),
                MinerConfig {
                    protect_uppercase: value,
                    ..base.clone()
                },
            )
        })
        .collect();
    let words = vec![
        ("default".to_string(), base.clone()),
        (
            "none".to_string(),
            MinerConfig {
                protected_tokens: ProtectedWords::none(),
                ..base.clone()
            },
        ),
    ];
    vec![
        ("similarity_threshold", threshold),
        ("prefix_depth", depth),
        ("protect_uppercase", capitals),
        ("protected_tokens", words),
    ]
}

fn main() -> Result<(), Error> {
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("../shared/data/loghub_2k"), PathBuf::from);
    let mut systems = Vec::new();
    for files in system_dirs(&dir)? {
        let raw = std::fs::read(&files.log)?;
        let text = String::from_utf8_lossy(&raw);
        let parser = HeaderParser::new(files.format());
        let contents = text
            .lines()
            .map(|line| parser.parse_ref(line).content.into_owned())
            .collect();
        let (truth_ids, truth_templates) = read_truth(&files.structured_csv)?;
        systems.push(System {
            name: files.name,
            contents,
            truth_ids,
            truth_templates,
        });
    }
    for (knob, values) in knobs() {
        // scores[value][system]
        let scores: Vec<Vec<f64>> = values
            .iter()
            .map(|(_, config)| systems.iter().map(|system| ga(system, config)).collect())
            .collect();
        println!("== {knob} (GA per system; default first)");
        print!("{:<10}", "value");
        for system in &systems {
            print!(" {:>9}", system.name);
        }
        println!(" {:>7}", "mean");
        for ((value, _), row) in values.iter().zip(&scores) {
            print!("{value:<10}");
            for score in row {
                print!(" {score:>9.4}");
            }
            println!(
                " {:>7.4}",
                row.iter().sum::<f64>() / row.len().max(1) as f64
            );
        }
        let mut held_out_total = 0.0;
        let mut moved = Vec::new();
        for (held, system) in systems.iter().enumerate() {
            let others = |row: &Vec<f64>| {
                row.iter()
                    .enumerate()
                    .filter(|&(index, _)| index != held)
                    .map(|(_, score)| score)
                    .sum::<f64>()
            };
            // The default (index 0) wins ties: a strict improvement is needed to move.
            let mut pick = 0;
            for (index, row) in scores.iter().enumerate().skip(1) {
                if others(row) > others(&scores[pick]) + 1e-9 {
                    pick = index;
                }
            }
            held_out_total += scores[pick][held];
            if pick != 0 {
                moved.push(format!("{} -> {}", system.name, values[pick].0));
            }
        }
        println!(
            "LOSO: held-out mean GA {:.4} with the value picked without each system; default picked for {} of {} systems{}",
            held_out_total / systems.len().max(1) as f64,
            systems.len() - moved.len(),
            systems.len(),
            if moved.is_empty() {
                String::new()
            } else {
                format!(" (other picks: {})", moved.join(", "))
            }
        );
    }
    Ok(())
}
