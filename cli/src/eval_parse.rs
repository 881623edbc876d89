//! `logsentinel eval-parse DIR`: template-mining accuracy on a Loghub-2k style folder.
//!
//! Scores exactly like `score_parse.py --final-template` (GA, FGA on template ids; PA, FTA on
//! normalised templates), one line per system and the mean. `--jsonl-dir` also writes the
//! `logsentinel parse` JSONL of every system, so the Python scorer can be run on the same output.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use logsentinel::parse::eval::{
    mean_score, predict_file_with, read_log_formats, read_truth, score_predictions, SystemScore,
};
use logsentinel::parse::jsonl::write_parsed_line;
use logsentinel::parse::HeaderParser;
use logsentinel::Error;

/// Arguments of `eval-parse`.
#[derive(Args)]
pub struct EvalParseArgs {
    /// Folder of `<System>/<System>_2k.log` + `<System>_2k.log_structured.csv` (Loghub-2k layout).
    dir: PathBuf,
    /// Also write `<System>.jsonl` (the `parse --jsonl` records) for every system into this folder.
    #[arg(long)]
    jsonl_dir: Option<PathBuf>,
    /// Also write the scores as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Header format string for every system of the folder (logparser convention, e.g.
    /// '<Date> <Time> <Level> <Component>: <Content>'), instead of the preset named like the folder.
    #[arg(long, conflicts_with = "log_format_file")]
    log_format: Option<String>,
    /// File of format strings per system: one `System<TAB or spaces>format string` per line (`#`
    /// comments), or a JSON object {"System": "format string"}. Systems are matched to folder names
    /// case-insensitively; a folder not in the file uses the preset named like it.
    #[arg(long)]
    log_format_file: Option<PathBuf>,
}

/// Runs `eval-parse`.
pub fn run(args: EvalParseArgs) -> Result<(), Error> {
    let systems = crate::loghub_systems(&args.dir, "another DIR")?;
    if let Some(dir) = &args.jsonl_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::invalid_input(format!("cannot create {}: {e}", dir.display())))?;
    }
    let formats = match &args.log_format_file {
        Some(path) => read_log_formats(path)?,
        None => Vec::new(),
    };
    let mut scores: Vec<SystemScore> = Vec::with_capacity(systems.len());
    println!(
        "{:<12} {:>6} {:>7} {:>7} {:>7} {:>7}",
        "system", "lines", "GA", "PA", "FGA", "FTA"
    );
    for system in &systems {
        let (truth_ids, truth_templates) = read_truth(&system.structured_csv)
            .map_err(|e| crate::with_path(e, &system.structured_csv))?;
        let log_format = args.log_format.as_deref().or_else(|| {
            formats
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(&system.name))
                .map(|(_, format)| format.as_str())
        });
        if args.log_format_file.is_some() && log_format.is_none() {
            eprintln!(
                "{}: not in the format file, parsed with --format {}",
                system.name,
                system.format()
            );
        }
        let parser = HeaderParser::from_settings(system.format(), log_format)?;
        let prediction = predict_file_with(&parser, &system.log)
            .map_err(|e| crate::with_path(e, &system.log))?;
        let counts = parser.header_counts();
        if counts.unmatched > 0 {
            eprintln!(
                "{}: {} headers did not match, {} recovered",
                system.name, counts.unmatched, counts.recovered
            );
        }
        if let Some(dir) = &args.jsonl_dir {
            let path = dir.join(format!("{}.jsonl", system.name));
            let file = std::fs::File::create(&path).map_err(|e| {
                Error::invalid_input(format!("cannot create {}: {e}", path.display()))
            })?;
            let mut out = std::io::BufWriter::new(file);
            let mut buffer = Vec::new();
            for (index, ((id, template), parameters)) in prediction
                .template_ids
                .iter()
                .zip(&prediction.templates)
                .zip(&prediction.parameters)
                .enumerate()
            {
                // The `parse --jsonl` record, byte for byte.
                buffer.clear();
                write_parsed_line(&mut buffer, index + 1, *id, template, parameters);
                out.write_all(&buffer)?;
            }
            out.flush()?;
        }
        let ids: Vec<String> = prediction
            .template_ids
            .iter()
            .map(|id| id.to_string())
            .collect();
        let score = score_predictions(
            &system.name,
            &truth_ids,
            &truth_templates,
            &ids,
            &prediction.templates,
        );
        print_row(&score);
        scores.push(score);
    }
    let mean = mean_score(&scores);
    print_row(&mean);
    if let Some(path) = &args.json {
        let report = serde_json::json!({ "systems": scores, "mean": mean });
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .map_err(|e| Error::invalid_input(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}

fn print_row(score: &SystemScore) {
    println!(
        "{:<12} {:>6} {:>7.4} {:>7.4} {:>7.4} {:>7.4}",
        score.system, score.lines, score.ga, score.pa, score.fga, score.fta
    );
}
