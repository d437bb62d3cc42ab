//! `bench`: runs one benchmark scenario (see `bench --help` and `scripts/bench.sh`).

use clap::Parser;
use tributary_bench::cli::{Cli, run};
use tributary_runtime::telemetry::{LogFormat, init_logging};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_logging(LogFormat::Text, "info");
    run(Cli::parse()).await
}
