//! `logsentinel eval-parse DIR`: template-mining accuracy on a Loghub-2k style folder.
//!
//! Scores exactly like `score_parse.py --final-template` (GA, FGA on template ids; PA, FTA on
//! normalised templates), one line per system and the mean. `--jsonl-dir` also writes the
//! `logsentinel parse` JSONL of every system, so the Python scorer can be run on the same output.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use logsentinel::parse::eval::{
    mean_score, predict_file, read_truth, score_predictions, system_dirs, SystemScore,
};
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
}

#[derive(serde::Serialize)]
struct ParsedLine<'a> {
    line: usize,
    template_id: u32,
    template: &'a str,
    parameters: &'a [String],
}

/// Runs `eval-parse`.
pub fn run(args: EvalParseArgs) -> Result<(), Error> {
    let systems = system_dirs(&args.dir)?;
    if let Some(dir) = &args.jsonl_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::invalid_input(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut scores: Vec<SystemScore> = Vec::with_capacity(systems.len());
    println!(
        "{:<12} {:>6} {:>7} {:>7} {:>7} {:>7}",
        "system", "lines", "GA", "PA", "FGA", "FTA"
    );
    for system in &systems {
        let (truth_ids, truth_templates) = read_truth(&system.structured_csv)?;
        let prediction = predict_file(system.format(), &system.log)?;
        if let Some(dir) = &args.jsonl_dir {
            let path = dir.join(format!("{}.jsonl", system.name));
            let file = std::fs::File::create(&path).map_err(|e| {
                Error::invalid_input(format!("cannot create {}: {e}", path.display()))
            })?;
            let mut out = std::io::BufWriter::new(file);
            for (index, ((id, template), parameters)) in prediction
                .template_ids
                .iter()
                .zip(&prediction.templates)
                .zip(&prediction.parameters)
                .enumerate()
            {
                let record = ParsedLine {
                    line: index + 1,
                    template_id: *id,
                    template,
                    parameters,
                };
                serde_json::to_writer(&mut out, &record)?;
                out.write_all(b"\n")?;
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
