//! `shop-projector`: the shop's read side (read tables, read API, markers).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tributary_projector::cli::main(tributary_shop::projection::ShopProjection).await
}
