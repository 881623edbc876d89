//! Per-line scores of a replay, for studying the sequence model against simple baselines (issue 22,
//! item 1).
//!
//! ```text
//! cargo run --release -p logsentinel --example line_scores -- FILE FORMAT WARMUP OUT.tsv
//! python3 scripts/seq_vs_bigram.py OUT.tsv LABELS.csv
//! ```
//!
//! Replays FILE (full-size models, a fresh temporary storage) as `logsentinel replay` does, waiting
//! for the student at the warmup threshold, and writes one row per line: session id, phase, model,
//! the observed template's negative log-likelihood under the serving model (NaN where none scored
//! it), the calibrated sequence component, and the project's template id. Labels are not read here.

use std::io::Write;

use logsentinel::{Config, Error, LogFormat, LogRecord, NewProject, Phase, TenantDetector};

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let [_, file, format, warmup, out] = args.as_slice() else {
        return Err(Error::invalid_input(
            "usage: line_scores FILE FORMAT WARMUP OUT.tsv",
        ));
    };
    let format: LogFormat = format.parse()?;
    let warmup: u64 = warmup
        .parse()
        .map_err(|e| Error::invalid_input(format!("WARMUP {warmup:?}: {e}")))?;
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::invalid_input(format!("cannot read {file}: {e}")))?;
    let dir = tempfile::tempdir()?;
    let mut config = Config::with_storage_dir(dir.path());
    config.training_threads = 1;
    let det = TenantDetector::open(config)?;
    let project = det.create_project(
        NewProject::named("line-scores")
            .warmup_threshold(warmup)
            .format(format),
    )?;
    let mut writer = std::io::BufWriter::new(std::fs::File::create(out)?);
    let lines: Vec<&str> = text.lines().collect();
    for chunk in lines.chunks(512) {
        let records: Vec<LogRecord> = chunk.iter().map(|l| LogRecord::new(*l)).collect();
        for d in det.detect_batch(&project.api_key, &records)?.results {
            let nll = d
                .template_probability
                .map_or(f32::NAN, |p| -p.max(f32::MIN_POSITIVE).ln());
            writeln!(
                writer,
                "{}\t{:?}\t{:?}\t{nll}\t{}\t{}",
                d.session_id.unwrap_or_default(),
                d.phase,
                d.model_type,
                d.components.sequence,
                d.template_id
            )?;
        }
        if det.status(&project.api_key)?.phase == Phase::Training {
            det.wait_for_training(&project.api_key, None)?;
        }
    }
    writer.flush()?;
    Ok(())
}
