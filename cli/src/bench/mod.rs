//! `logsentinel bench ...`: benchmarks, as a group of subcommands.

use clap::{Args, Subcommand};
use logsentinel::Error;

mod detect;
mod parse;
mod peer;
mod python;

/// Arguments of `bench`.
#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Template-mining speed and accuracy: logsentinel against Drain3 (Python) on the same lines.
    Parse(parse::ParseBenchArgs),
    /// Detection throughput, latency, scaling, isolation, cold load and memory, side by side in one run.
    Detect(detect::DetectBenchArgs),
}

/// Runs `bench`.
pub fn run(args: BenchArgs) -> Result<(), Error> {
    match args.command {
        BenchCommand::Parse(args) => parse::run(args),
        BenchCommand::Detect(args) => detect::run(args),
    }
}
