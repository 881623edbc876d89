//! `logsentinel parse FILE --format FMT --jsonl OUT`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use logsentinel::parse::jsonl::write_parsed_line;
use logsentinel::parse::{HeaderParser, LogFormat, MinerConfig, TemplateMiner};
use logsentinel::Error;

/// Arguments of `parse`.
#[derive(Args)]
pub struct ParseArgs {
    /// Log file to parse.
    file: PathBuf,
    /// Header format (auto, raw, hdfs, bgl, hadoop, spark, zookeeper, hpc, thunderbird, windows, linux,
    /// android, healthapp, apache, proxifier, openssh, openstack, mac, combined, common, syslog, json).
    #[arg(long, default_value = "auto")]
    format: String,
    /// Header format string (logparser convention), e.g. '<Date> <Time> <Level> <Component>: <Content>'
    /// or '\[<Time>\] \[<Level>\] <Content>'; wins over --format.
    #[arg(long)]
    log_format: Option<String>,
    /// Write one object per line: {"line", "template_id", "template", "parameters"}.
    #[arg(long)]
    jsonl: Option<PathBuf>,
}

/// Runs `parse`.
pub fn run(args: ParseArgs) -> Result<(), Error> {
    let format: LogFormat = args.format.parse()?;
    let lines = crate::read_lines(&args.file)?;
    let parser = HeaderParser::from_settings(format, args.log_format.as_deref())?;
    let mut miner = TemplateMiner::new(MinerConfig::default());
    let mut out: Option<Box<dyn Write>> = match &args.jsonl {
        Some(p) => Some(Box::new(std::fs::File::create(p).map_err(|e| {
            Error::invalid_input(format!("cannot create {}: {e}", p.display()))
        })?)),
        None => None,
    };
    let started = Instant::now();
    // One buffer for the records, handed to the file in large writes.
    let mut buffer: Vec<u8> = Vec::with_capacity(1 << 17);
    for (i, line) in lines.iter().enumerate() {
        let header = parser.parse_ref(line);
        let m = miner.learn(&header.content);
        if let Some(w) = out.as_mut() {
            write_parsed_line(
                &mut buffer,
                i + 1,
                m.template_id,
                &m.template,
                &m.parameters,
            );
            if buffer.len() >= 1 << 16 {
                w.write_all(&buffer)?;
                buffer.clear();
            }
        }
    }
    if let Some(mut w) = out {
        w.write_all(&buffer)?;
        w.flush()?;
    }
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let stats = miner.stats();
    eprintln!(
        "{} lines, {} templates ({} singletons), {:.0} lines/s",
        lines.len(),
        stats.templates,
        stats.singletons,
        lines.len() as f64 / secs
    );
    let counts = parser.header_counts();
    eprintln!(
        "{} headers did not match the format, {} of them recovered",
        counts.unmatched, counts.recovered
    );
    if let Some(w) = miner.quality_warning() {
        eprintln!("warning: {w}");
    }
    Ok(())
}
