//! `logsentinel teacher pretrain`: train the shared teacher on a corpus and write a model directory.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use logsentinel::train::pretrain::{pretrain_teacher, CorpusFile, PretrainProgress};
use logsentinel::{Config, Error, LogFormat};

/// `teacher` subcommands.
#[derive(Subcommand)]
pub enum TeacherCommand {
    /// Train the shared teacher on log files and write it as a MODEL_DIR (weights, vocabulary,
    /// thresholds, manifest) that a detector on a fresh storage starts from.
    Pretrain(PretrainArgs),
}

/// Arguments of `teacher pretrain`.
#[derive(Args)]
pub struct PretrainArgs {
    /// Directory to write the teacher to (created if missing; its teacher files are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// A corpus file as FORMAT:FILE (a preset such as `hdfs`, `bgl`, `combined`, `auto`); repeat
    /// for every file.
    #[arg(long = "data", value_name = "FORMAT:FILE", required = true)]
    pub data: Vec<String>,
    /// Training epochs of the teacher (default: the configured teacher epochs).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Seed of every random choice (default: LOGSENTINEL_SEED or the configured seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Do not draw progress.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs a `teacher` subcommand.
pub fn run(command: TeacherCommand) -> Result<(), Error> {
    match command {
        TeacherCommand::Pretrain(args) => pretrain(args),
    }
}

fn pretrain(args: PretrainArgs) -> Result<(), Error> {
    let corpus = args
        .data
        .iter()
        .map(|spec| corpus_file(spec))
        .collect::<Result<Vec<_>, _>>()?;
    let mut config = Config::from_env()?;
    if let Some(epochs) = args.epochs {
        config.teacher_epochs = epochs;
    }
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                .map_err(|e| Error::invalid_input(e.to_string()))?,
        );
        bar
    };
    let names: Vec<String> = corpus
        .iter()
        .map(|f| f.path.display().to_string())
        .collect();
    let report = pretrain_teacher(&config, &corpus, &args.out, &mut |step| match step {
        PretrainProgress::Reading { file, files, lines } => bar.set_message(format!(
            "reading {}/{} {}: {lines} lines",
            file + 1,
            files,
            names.get(file).map_or("", String::as_str)
        )),
        PretrainProgress::Training { fraction } => {
            bar.set_message(format!("training the teacher: {:.0}%", fraction * 100.0))
        }
    });
    bar.finish_and_clear();
    let report = report?;
    println!("teacher written to {}", args.out.display());
    for file in &report.files {
        println!(
            "  {} ({}): {} lines, {} templates",
            file.path, file.format, file.lines, file.templates
        );
    }
    println!(
        "  {} templates in the vocabulary, {} sequences, {} parameters, trained in {:.1} s ({:.1} s in all)",
        report.vocabulary_size,
        report.sequences,
        report.parameters,
        report.training_seconds,
        report.seconds
    );
    println!(
        "start a detector from it on a fresh storage: MODEL_DIR={} logsentinel replay ...",
        args.out.display()
    );
    Ok(())
}

/// `FORMAT:FILE` into a corpus file; the format is a preset name (they hold no `:`).
fn corpus_file(spec: &str) -> Result<CorpusFile, Error> {
    let (format, path) = spec.split_once(':').ok_or_else(|| {
        Error::invalid_input(format!(
            "--data {spec}: expected FORMAT:FILE (e.g. hdfs:logs/hdfs.log)"
        ))
    })?;
    let format: LogFormat = format
        .parse()
        .map_err(|e| Error::invalid_input(format!("--data {spec}: {e}")))?;
    Ok(CorpusFile {
        path: PathBuf::from(path),
        format,
        log_format: None,
    })
}
