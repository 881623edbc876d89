//! `logsentinel`: the command line over the core crate.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod eval;
mod eval_parse;
mod operator;
mod operator_cmd;
mod parse_cmd;
mod replay;
mod serve;
mod teacher;

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
    /// The shared teacher (`teacher pretrain`: train it on a corpus and write a MODEL_DIR).
    #[command(subcommand)]
    Teacher(teacher::TeacherCommand),
    /// A project's incidents: its anomalies grouped by shared cause (`--json` for the whole record).
    Incidents(operator_cmd::IncidentsArgs),
    /// Operator feedback on a project (`give`, `list`, `undo`).
    #[command(subcommand)]
    Feedback(operator_cmd::FeedbackCommand),
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
        Command::Teacher(command) => teacher::run(command),
        Command::Incidents(args) => operator_cmd::run_incidents(args),
        Command::Feedback(command) => operator_cmd::run_feedback(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// An I/O failure about `path` that does not say which file: the path is added (`Error::Storage` from
/// `std::io::Error` carries only the OS message, such as "No such file or directory").
pub(crate) fn with_path(e: logsentinel::Error, path: &std::path::Path) -> logsentinel::Error {
    match e {
        logsentinel::Error::Storage(reason) => {
            logsentinel::Error::Storage(format!("{}: {reason}", path.display()))
        }
        other => other,
    }
}

/// The systems of a Loghub-2k style folder (`<System>/<System>_2k.log` and its
/// `<System>_2k.log_structured.csv`). A folder that is not there is an error naming it and `flag`, how
/// to give another (e.g. `--data DIR`).
pub(crate) fn loghub_systems(
    dir: &std::path::Path,
    flag: &str,
) -> Result<Vec<logsentinel::parse::eval::SystemFiles>, logsentinel::Error> {
    if !dir.is_dir() {
        return Err(logsentinel::Error::invalid_input(format!(
            "no data folder at {}: pass {flag}: a Loghub-2k style folder (<System>/<System>_2k.log \
             and <System>/<System>_2k.log_structured.csv for each system; Loghub: \
             https://github.com/logpai/loghub)",
            dir.display()
        )));
    }
    logsentinel::parse::eval::system_dirs(dir).map_err(|e| with_path(e, dir))
}

/// Applies `--storage`: a `postgres://` (or `postgresql://`) URL selects the shared PostgreSQL store,
/// anything else is the directory of the embedded one.
pub(crate) fn set_storage(config: &mut logsentinel::Config, storage: &std::path::Path) {
    match storage
        .to_str()
        .filter(|s| s.starts_with("postgres://") || s.starts_with("postgresql://"))
    {
        Some(url) => config.storage_url = Some(url.to_string()),
        None => {
            config.storage_dir = storage.to_path_buf();
            config.storage_url = None;
        }
    }
}

/// Batch commands (`replay`, `eval`) wait for a shared database's lease held by another instance
/// (a standby's takeover), unless LEASE_WAIT_SECS says otherwise.
pub(crate) fn wait_for_lease(config: &mut logsentinel::Config) {
    if std::env::var_os("LEASE_WAIT_SECS").is_none()
        && std::env::var_os("LOGSENTINEL_LEASE_WAIT_SECS").is_none()
    {
        config.lease_wait_secs = f64::INFINITY;
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
    // An empty file has no lines; a last line ends with or without a newline.
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        lines.pop();
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_data_folder_is_named_with_the_option_to_pass() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("loghub_2k");
        let e = loghub_systems(&missing, "--data DIR")
            .unwrap_err()
            .to_string();
        assert!(e.contains(&missing.display().to_string()), "{e}");
        assert!(e.contains("pass --data DIR"), "{e}");
        // An I/O error of the core names the file it was about.
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let e = with_path(logsentinel::Error::from(io), &missing).to_string();
        assert!(e.starts_with("storage error: "), "{e}");
        assert!(e.contains(&missing.display().to_string()), "{e}");
        let other = with_path(logsentinel::Error::invalid_input("x"), &missing);
        assert_eq!(
            other.to_string(),
            logsentinel::Error::invalid_input("x").to_string()
        );
    }

    #[test]
    fn lines_are_counted_as_a_reader_would() {
        let dir = tempfile::tempdir().unwrap();
        for (bytes, want) in [
            (&b""[..], 0),
            (b"\n", 1),
            (b"a", 1),
            (b"a\n", 1),
            (b"a\r\nb", 2),
            (b"a\n\n", 2),
        ] {
            let path = dir.path().join("f.log");
            std::fs::write(&path, bytes).unwrap();
            let lines = read_lines(&path).unwrap();
            assert_eq!(lines.len(), want, "{bytes:?}: {lines:?}");
        }
    }
}
