//! `shop-producer`: the shop's command side (gateway, processor, saga runner).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tributary_producer::cli::main(tributary_shop::Shop).await
}
