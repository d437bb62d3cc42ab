//! `projector`: the bank's read side (read tables, read API, markers); `--help` lists the
//! commands and settings.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tributary_projector::cli::main(tributary_bank::read_model::BankProjection).await
}
