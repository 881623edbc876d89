//! `logsentinel parse FILE --format FMT --jsonl OUT`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
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
    /// Write one object per line: {"line", "template_id", "template", "parameters"}.
    #[arg(long)]
    jsonl: Option<PathBuf>,
}

#[derive(serde::Serialize)]
struct ParsedLine<'a> {
    line: usize,
    template_id: u32,
    template: &'a str,
    parameters: &'a [String],
}

/// Runs `parse`.
pub fn run(args: ParseArgs) -> Result<(), Error> {
    let format: LogFormat = args.format.parse()?;
    let lines = crate::read_lines(&args.file)?;
    let parser = HeaderParser::new(format);
    let mut miner = TemplateMiner::new(MinerConfig::default());
    let mut out: Option<Box<dyn Write>> = match &args.jsonl {
        Some(p) => Some(Box::new(std::io::BufWriter::new(
            std::fs::File::create(p)
                .map_err(|e| Error::invalid_input(format!("cannot create {}: {e}", p.display())))?,
        ))),
        None => None,
    };
    let started = Instant::now();
    for (i, line) in lines.iter().enumerate() {
        let header = parser.parse(line);
        let m = miner.learn(&header.content);
        if let Some(w) = out.as_mut() {
            let rec = ParsedLine {
                line: i + 1,
                template_id: m.template_id,
                template: &m.template,
                parameters: &m.parameters,
            };
            serde_json::to_writer(&mut *w, &rec)?;
            w.write_all(b"\n")?;
        }
    }
    if let Some(mut w) = out {
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
    if let Some(w) = miner.quality_warning() {
        eprintln!("warning: {w}");
    }
    Ok(())
}
