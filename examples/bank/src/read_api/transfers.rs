//! Transfers: where a transfer between two accounts has got.
//!
//! A transfer is a saga over two accounts, so its row says not only whether the money moved
//! but, when it did not, why, and whether a debit already taken was refunded.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::Serialize;
use utoipa::ToSchema;

use super::paths::TRANSFER;
use tributary_projector::read_api::{
    ApiError, ConsistencyQuery, ErrorBody, ReadApi, ServiceUnavailableBody, WriteNotAppliedBody,
    query_params,
};
use tributary_projector::rfc3339;

/// A transfer as the projection last saw it.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub(crate) struct TransferView {
    /// The transfer.
    transfer_id: String,
    /// The account the money comes from.
    source_account_id: String,
    /// The account the money goes to.
    target_account_id: String,
    /// Amount in minor units.
    amount: i64,
    /// ISO 4217 code of the currency.
    currency: String,
    /// `requested`, `source_debited`, `completed` or `failed`.
    status: String,
    /// Why the transfer failed, when it did.
    failure_reason: Option<String>,
    /// Whether the source's debit was refunded before the transfer failed.
    compensated: bool,
    /// Version of the transfer aggregate: the number of its events applied.
    version: i64,
    /// When the last event was recorded, RFC 3339 in UTC.
    #[schema(format = DateTime)]
    updated_at: String,
}

const TRANSFER_SQL: &str = concat!(
    "SELECT transfer_id, source_account_id, target_account_id, amount, currency, status, ",
    "failure_reason, compensated, version, ",
    rfc3339!("updated_at"),
    " FROM transfers WHERE transfer_id = $1"
);

/// One transfer.
#[utoipa::path(
    get,
    path = TRANSFER,
    tag = "transfers",
    params(("id" = String, Path, description = "The transfer ID"), ConsistencyQuery),
    responses(
        (status = 200, description = "The transfer", body = TransferView),
        (status = 400, description = "Malformed consistency token", body = ErrorBody),
        (status = 404, description = "No such transfer", body = ErrorBody),
        (status = 422, description = "The consistency token names a topic this projection does not read", body = ErrorBody),
        (status = 409, description = "The token's event was dead-lettered, so the read tables do not hold the write", body = WriteNotAppliedBody),
        (status = 503, description = "Token not reached in time, or database unreachable; retry", body = ServiceUnavailableBody),
    )
)]
pub(crate) async fn get_transfer(
    State(api): State<ReadApi>,
    Path(id): Path<String>,
    query: Result<Query<ConsistencyQuery>, QueryRejection>,
) -> Result<Json<TransferView>, ApiError> {
    let query = query_params(query)?;
    api.consistent(query.consistency.as_deref()).await?;
    let transfer = sqlx::query_as::<_, TransferView>(TRANSFER_SQL)
        .bind(&id)
        .fetch_optional(api.pool())
        .await?;
    transfer
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("transfer {id} not found")))
}
