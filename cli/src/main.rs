//! `logsentinel`: the command line over the core crate.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod eval;
mod eval_parse;
mod parse_cmd;
mod replay;
mod serve;

/// Multi-tenant log anomaly detection with a student-teacher Transformer.
#[derive(Parser)]
#[command(name = "logsentinel", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Mine templates from a log file and write one JSON object per line.
    Parse(parse_cmd::ParseArgs),
    /// Score template mining (GA, PA per system and mean) on a Loghub-2k style folder.
    EvalParse(eval_parse::EvalParseArgs),
    /// Benchmarks (`bench parse`: logsentinel against Drain3).
    Bench(bench::BenchArgs),
    /// Stream a log file through one project (warmup, student training, active phase) and report what
    /// was found.
    Replay(replay::ReplayArgs),
    /// Replay a labelled file and print precision, recall, F1 and the confusion matrix per phase.
    Eval(eval::EvalArgs),
    /// Serve the HTTP API (`/detect`, `/detect/batch`, `/projects`, ...; `GET /openapi.json`).
    Serve(serve::ServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Parse(args) => parse_cmd::run(args),
        Command::Eval(args) => eval::run(args),
        Command::EvalParse(args) => eval_parse::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Replay(args) => replay::run(args).map(|_| ()),
        Command::Serve(args) => serve::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads a file as lines of bytes (LF or CRLF), each decoded lossily: invalid UTF-8 never stops a run.
pub(crate) fn read_lines(path: &std::path::Path) -> Result<Vec<String>, logsentinel::Error> {
    let bytes = std::fs::read(path).map_err(|e| {
        logsentinel::Error::invalid_input(format!("cannot read {}: {e}", path.display()))
    })?;
    let mut lines: Vec<String> = bytes
        .split(|&b| b == b'\n')
        .map(|l| String::from_utf8_lossy(l.strip_suffix(b"\r").unwrap_or(l)).into_owned())
        .collect();
    if bytes.ends_with(b"\n") {
        lines.pop();
    }
    Ok(lines)
}
