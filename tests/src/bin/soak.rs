//! `cargo xtask soak --cycles N`: the crash test of the suite, for as many cycles as wanted.

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(about = "kill -9 the runtime at random moments of concurrent sends, N times, and check every feed")]
struct Args {
    /// Crash cycles to run.
    #[arg(long, default_value_t = 200)]
    cycles: usize,
    /// The runtime binary to crash.
    #[arg(long)]
    binary: PathBuf,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let report = messaging_tests::crash::run(&args.binary, args.cycles).await;
    println!(
        "soak passed: {} kill -9 cycles in {:.1?}; {} acknowledged direct and {} acknowledged group messages, \
         each in every recipient's feed exactly once; every pre-crash cursor stayed valid",
        report.cycles, report.elapsed, report.acknowledged_direct, report.acknowledged_group
    );
}
