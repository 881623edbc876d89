//! `logsentinel bench ...`: benchmarks, as a group of subcommands.

use clap::{Args, Subcommand};
use logsentinel::Error;

mod detect;
mod parse;
mod peer;
mod python;
mod storage;

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
    /// The embedded redb store against a shared PostgreSQL database: detect_batch throughput and
    /// cold loads of students, side by side in one run.
    Storage(storage::StorageBenchArgs),
}

/// Runs `bench`.
pub fn run(args: BenchArgs) -> Result<(), Error> {
    match args.command {
        BenchCommand::Parse(args) => parse::run(args),
        BenchCommand::Detect(args) => detect::run(args),
        BenchCommand::Storage(args) => storage::run(args),
    }
}
