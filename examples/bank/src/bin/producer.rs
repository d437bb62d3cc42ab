//! `producer`: the bank's command side (gateway, processor, saga runner); `--help` lists the
//! modes and settings.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tributary_producer::cli::main(tributary_bank::Bank).await
}
