//! The shop's read side: `stock_levels` and `orders`, written set-based per batch, their
//! migrations (`examples/shop/migrations`, history in `_tributary_shop_migrations`), and the
//! routes that read them with the consistency token.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use serde::Serialize;
use sqlx::PgConnection;
use tributary_projector::Projection;
use tributary_projector::plan::AggregateChange;
use tributary_projector::projection::{ReadModelTopic, SourceTopic};
use tributary_projector::read_api::{
    ApiError, ConsistencyQuery, ErrorBody, ReadApi, ReadRoutes, ServiceUnavailableBody,
    WriteNotAppliedBody, query_params,
};
use tributary_projector::read_model::{ReadModel, changed_at, label};
use tributary_projector::rfc3339;
use tributary_runtime::Topology;
use tributary_store::migrations::MigrationSet;
use utoipa::{OpenApi, ToSchema};

use crate::Shop;
use crate::order::{Order, OrderStatus};
use crate::stock::StockItem;

/// The shop's projection.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShopProjection;

/// The read tables' migrations.
pub fn read_model_migrations() -> MigrationSet {
    MigrationSet::new(sqlx::migrate!("./migrations"), "_tributary_shop_migrations")
}

impl Projection for ShopProjection {
    type Domain = Shop;

    fn domain(&self) -> &Shop {
        &Shop
    }

    fn sources(&self, topology: &Topology) -> Vec<Arc<dyn SourceTopic>> {
        vec![
            Arc::new(ReadModelTopic::new(topology, StockLevels)),
            Arc::new(ReadModelTopic::new(topology, Orders)),
        ]
    }

    fn migrations(&self) -> Option<MigrationSet> {
        Some(read_model_migrations())
    }

    fn read_routes(&self) -> ReadRoutes {
        let router: Router<ReadApi> = Router::new()
            .route(STOCK, get(get_stock))
            .route(ORDER, get(get_order));
        ReadRoutes {
            router,
            openapi: ShopReadDoc::openapi(),
        }
    }
}

/// `stock_levels`: one row per item.
#[derive(Debug, Default)]
pub struct StockLevels;

impl ReadModel for StockLevels {
    type Aggregate = StockItem;

    async fn write<'a>(
        &'a self,
        connection: &'a mut PgConnection,
        changes: &'a [AggregateChange<StockItem>],
    ) -> Result<(), sqlx::Error> {
        // An item no stock was ever added for has no row, even when an order named it.
        let stocked: Vec<&AggregateChange<StockItem>> = changes
            .iter()
            .filter(|c| c.after.versioned.state.received > 0)
            .collect();
        if stocked.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = stocked.iter().map(|c| c.aggregate_id.as_str()).collect();
        let items: Vec<&StockItem> = stocked.iter().map(|c| &c.after.versioned.state).collect();
        let available: Vec<i64> = items.iter().map(|item| item.available).collect();
        let reserved: Vec<i64> = items.iter().map(|item| item.reserved).collect();
        let versions: Vec<i64> = stocked
            .iter()
            .map(|c| c.after.versioned.version as i64)
            .collect();
        let times: Vec<i64> = stocked.iter().map(|c| changed_at(c)).collect();
        sqlx::query(
            "INSERT INTO stock_levels (sku, available, reserved, version, updated_at)
             SELECT sku, available, reserved, version,
                    'epoch'::timestamptz + at_ms * interval '1 millisecond'
             FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
                  AS u(sku, available, reserved, version, at_ms)
             ON CONFLICT (sku) DO UPDATE SET
                 available = EXCLUDED.available, reserved = EXCLUDED.reserved,
                 version = EXCLUDED.version, updated_at = EXCLUDED.updated_at",
        )
        .bind(&ids)
        .bind(&available)
        .bind(&reserved)
        .bind(&versions)
        .bind(&times)
        .execute(connection)
        .await?;
        Ok(())
    }
}

/// `orders`: one row per placed order.
#[derive(Debug, Default)]
pub struct Orders;

impl ReadModel for Orders {
    type Aggregate = Order;

    async fn write<'a>(
        &'a self,
        connection: &'a mut PgConnection,
        changes: &'a [AggregateChange<Order>],
    ) -> Result<(), sqlx::Error> {
        let placed: Vec<&AggregateChange<Order>> = changes
            .iter()
            .filter(|c| c.after.versioned.state.status != OrderStatus::NotPlaced)
            .collect();
        if placed.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = placed.iter().map(|c| c.aggregate_id.as_str()).collect();
        let orders: Vec<&Order> = placed.iter().map(|c| &c.after.versioned.state).collect();
        let skus: Vec<&str> = orders.iter().map(|o| o.sku.as_str()).collect();
        let quantities: Vec<i64> = orders.iter().map(|o| o.quantity).collect();
        let statuses: Vec<String> = orders.iter().map(|o| label(&o.status)).collect();
        let reasons: Vec<Option<&str>> = orders.iter().map(|o| o.reason.as_deref()).collect();
        let versions: Vec<i64> = placed
            .iter()
            .map(|c| c.after.versioned.version as i64)
            .collect();
        let times: Vec<i64> = placed.iter().map(|c| changed_at(c)).collect();
        sqlx::query(
            "INSERT INTO orders (order_id, sku, quantity, status, reason, version, updated_at)
             SELECT id, sku, quantity, status, reason, version,
                    'epoch'::timestamptz + at_ms * interval '1 millisecond'
             FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[],
                         $6::bigint[], $7::bigint[])
                  AS u(id, sku, quantity, status, reason, version, at_ms)
             ON CONFLICT (order_id) DO UPDATE SET
                 status = EXCLUDED.status, reason = EXCLUDED.reason,
                 version = EXCLUDED.version, updated_at = EXCLUDED.updated_at",
        )
        .bind(&ids)
        .bind(&skus)
        .bind(&quantities)
        .bind(&statuses)
        .bind(&reasons)
        .bind(&versions)
        .bind(&times)
        .execute(connection)
        .await?;
        Ok(())
    }
}

/// One item's stock.
const STOCK: &str = "/v1/stock/{sku}";
/// One order.
const ORDER: &str = "/v1/orders/{id}";

/// An item's stock as the projection last saw it.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
struct StockView {
    /// The item.
    sku: String,
    /// Units that can be reserved.
    available: i64,
    /// Units set aside for orders.
    reserved: i64,
    /// Version of the stock item: the number of its events applied.
    version: i64,
    /// When the last event was recorded, RFC 3339 in UTC.
    #[schema(format = DateTime)]
    updated_at: String,
}

/// An order as the projection last saw it.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
struct OrderView {
    /// The order.
    order_id: String,
    /// The item ordered.
    sku: String,
    /// How many units.
    quantity: i64,
    /// `placed` until the stock decides, then `confirmed` or `rejected`.
    #[schema(pattern = "^(placed|confirmed|rejected)$")]
    status: String,
    /// Why it was rejected.
    reason: Option<String>,
    /// Version of the order: the number of its events applied.
    version: i64,
    /// When the last event was recorded, RFC 3339 in UTC.
    #[schema(format = DateTime)]
    updated_at: String,
}

/// One item's stock.
#[utoipa::path(
    get,
    path = STOCK,
    tag = "stock",
    params(("sku" = String, Path, description = "The item"), ConsistencyQuery),
    responses(
        (status = 200, description = "The item's stock", body = StockView),
        (status = 400, description = "Malformed consistency token", body = ErrorBody),
        (status = 404, description = "No stock recorded for the item", body = ErrorBody),
        (status = 409, description = "The token's event was dead-lettered", body = WriteNotAppliedBody),
        (status = 422, description = "The token names a topic this projection does not read", body = ErrorBody),
        (status = 503, description = "Token not reached in time, or database unreachable; retry", body = ServiceUnavailableBody),
    )
)]
async fn get_stock(
    State(api): State<ReadApi>,
    Path(sku): Path<String>,
    query: Result<Query<ConsistencyQuery>, QueryRejection>,
) -> Result<Json<StockView>, ApiError> {
    let query = query_params(query)?;
    api.consistent(query.consistency.as_deref()).await?;
    let sql = concat!(
        "SELECT sku, available, reserved, version, ",
        rfc3339!("updated_at"),
        " FROM stock_levels WHERE sku = $1"
    );
    let stock = sqlx::query_as::<_, StockView>(sql)
        .bind(&sku)
        .fetch_optional(api.pool())
        .await?;
    stock
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no stock recorded for item {sku}")))
}

/// One order.
#[utoipa::path(
    get,
    path = ORDER,
    tag = "orders",
    params(("id" = String, Path, description = "The order ID"), ConsistencyQuery),
    responses(
        (status = 200, description = "The order", body = OrderView),
        (status = 400, description = "Malformed consistency token", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 409, description = "The token's event was dead-lettered", body = WriteNotAppliedBody),
        (status = 422, description = "The token names a topic this projection does not read", body = ErrorBody),
        (status = 503, description = "Token not reached in time, or database unreachable; retry", body = ServiceUnavailableBody),
    )
)]
async fn get_order(
    State(api): State<ReadApi>,
    Path(id): Path<String>,
    query: Result<Query<ConsistencyQuery>, QueryRejection>,
) -> Result<Json<OrderView>, ApiError> {
    let query = query_params(query)?;
    api.consistent(query.consistency.as_deref()).await?;
    let sql = concat!(
        "SELECT order_id, sku, quantity, status, reason, version, ",
        rfc3339!("updated_at"),
        " FROM orders WHERE order_id = $1"
    );
    let order = sqlx::query_as::<_, OrderView>(sql)
        .bind(&id)
        .fetch_optional(api.pool())
        .await?;
    order
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no order {id}")))
}

/// The description of the shop's read routes.
#[derive(OpenApi)]
#[openapi(paths(get_stock, get_order), components(schemas(StockView, OrderView)))]
struct ShopReadDoc;
