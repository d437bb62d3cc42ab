//! Accounts: the current state of one account, and its ledger of money movements.
//!
//! The ledger is paged by version rather than by row number, so a client that pages with
//! `after_version` never sees an entry twice or skips one while the account keeps moving.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::paths::{ACCOUNT, LEDGER};
use tributary_projector::read_api::{
    ApiError, ConsistencyQuery, ErrorBody, ReadApi, ServiceUnavailableBody, WriteNotAppliedBody,
    query_params,
};
use tributary_projector::rfc3339;

/// The most ledger entries one request returns.
const MAX_LIMIT: u32 = 1000;
/// How many ledger entries a request returns when it does not say.
const DEFAULT_LIMIT: u32 = 100;

/// An account as the projection last saw it.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub(crate) struct AccountView {
    /// The account.
    account_id: String,
    /// The user owning it.
    owner_id: String,
    /// ISO 4217 code of the account's currency.
    currency: String,
    /// Balance in minor units (cents).
    balance: i64,
    /// `open` or `closed`.
    status: String,
    /// Version of the account aggregate: the number of its events applied.
    version: i64,
    /// When the last event was recorded, RFC 3339 in UTC.
    #[schema(format = DateTime)]
    updated_at: String,
}

/// One money movement of an account.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub(crate) struct LedgerEntry {
    /// Version of the account after this movement.
    version: i64,
    /// `deposit`, `withdrawal`, `transfer_debit`, `transfer_credit` or `transfer_refund`.
    kind: String,
    /// Signed amount in minor units: positive in, negative out.
    amount: i64,
    /// Balance after the movement, in minor units.
    balance_after: i64,
    /// The transfer this movement belongs to, if any.
    transfer_id: Option<String>,
    /// The client's reference, if any.
    reference: Option<String>,
    /// When the movement was recorded, RFC 3339 in UTC.
    #[schema(format = DateTime)]
    occurred_at: String,
}

/// A page of an account's ledger, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct LedgerView {
    /// The account.
    account_id: String,
    /// Entries in version order.
    entries: Vec<LedgerEntry>,
}

/// Query parameters of the ledger.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LedgerQuery {
    /// `<topic>:<partition>:<offset>` of an event, as the command gateway returns it: the
    /// read waits until the projection has applied that event.
    #[param(pattern = r"^[^:]+:(0|[1-9][0-9]{0,8}):(0|[1-9][0-9]{0,17})$")]
    consistency: Option<String>,
    /// How many entries to return, 1 to 1000; 100 when absent.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Return only entries with a version above this (the last version of the previous page).
    after_version: Option<i64>,
}

const ACCOUNT_SQL: &str = concat!(
    "SELECT account_id, owner_id, currency, balance, status, version, ",
    rfc3339!("updated_at"),
    " FROM accounts WHERE account_id = $1"
);

const LEDGER_SQL: &str = concat!(
    "SELECT version, kind, amount, balance_after, transfer_id, reference, ",
    rfc3339!("occurred_at"),
    " FROM account_ledger WHERE account_id = $1 AND version > $2 ORDER BY version LIMIT $3"
);

/// One account.
#[utoipa::path(
    get,
    path = ACCOUNT,
    tag = "accounts",
    params(("id" = String, Path, description = "The account ID"), ConsistencyQuery),
    responses(
        (status = 200, description = "The account", body = AccountView),
        (status = 400, description = "Malformed consistency token", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 422, description = "The consistency token names a topic this projection does not read", body = ErrorBody),
        (status = 409, description = "The token's event was dead-lettered, so the read tables do not hold the write", body = WriteNotAppliedBody),
        (status = 503, description = "Token not reached in time, or database unreachable; retry", body = ServiceUnavailableBody),
    )
)]
pub(crate) async fn get_account(
    State(api): State<ReadApi>,
    Path(id): Path<String>,
    query: Result<Query<ConsistencyQuery>, QueryRejection>,
) -> Result<Json<AccountView>, ApiError> {
    let query = query_params(query)?;
    api.consistent(query.consistency.as_deref()).await?;
    let account = sqlx::query_as::<_, AccountView>(ACCOUNT_SQL)
        .bind(&id)
        .fetch_optional(api.pool())
        .await?;
    account.map(Json).ok_or_else(|| not_found(&id))
}

/// A page of an account's ledger.
#[utoipa::path(
    get,
    path = LEDGER,
    tag = "accounts",
    params(("id" = String, Path, description = "The account ID"), LedgerQuery),
    responses(
        (status = 200, description = "Ledger entries in version order", body = LedgerView),
        (status = 400, description = "Malformed consistency token or paging parameter", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 422, description = "The consistency token names a topic this projection does not read", body = ErrorBody),
        (status = 409, description = "The token's event was dead-lettered, so the read tables do not hold the write", body = WriteNotAppliedBody),
        (status = 503, description = "Token not reached in time, or database unreachable; retry", body = ServiceUnavailableBody),
    )
)]
pub(crate) async fn get_ledger(
    State(api): State<ReadApi>,
    Path(id): Path<String>,
    query: Result<Query<LedgerQuery>, QueryRejection>,
) -> Result<Json<LedgerView>, ApiError> {
    let query = query_params(query)?;
    let limit = checked_limit(query.limit)?;
    api.consistent(query.consistency.as_deref()).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM accounts WHERE account_id = $1)")
            .bind(&id)
            .fetch_one(api.pool())
            .await?;
    if !exists {
        return Err(not_found(&id));
    }
    let entries = sqlx::query_as::<_, LedgerEntry>(LEDGER_SQL)
        .bind(&id)
        .bind(query.after_version.unwrap_or(i64::MIN))
        .bind(i64::from(limit))
        .fetch_all(api.pool())
        .await?;
    Ok(Json(LedgerView {
        account_id: id,
        entries,
    }))
}

/// The page size asked for, or a 400 if it is out of range.
fn checked_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        limit @ 1..=MAX_LIMIT => Ok(limit),
        limit => Err(ApiError::BadRequest(format!(
            "limit={limit} is out of range; ask for 1 to {MAX_LIMIT} entries and page with after_version"
        ))),
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("account {id} not found"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_size_defaults_to_100_and_stays_within_1_to_1000() {
        assert_eq!(checked_limit(None).ok(), Some(100));
        assert_eq!(checked_limit(Some(1000)).ok(), Some(1000));
        assert!(checked_limit(Some(0)).is_err());
        assert!(checked_limit(Some(1001)).is_err());
    }
}
