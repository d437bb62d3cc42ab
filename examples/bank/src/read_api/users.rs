//! Users, by ID or by e-mail address.
//!
//! Addresses are stored normalized, the way the e-mail claim aggregate compares them, so a
//! lookup normalizes the address it is given the same way: `Ann@Example.com` finds the user
//! who registered `ann@example.com`.

use crate::email_claim::normalize_email;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::Serialize;
use utoipa::ToSchema;

use super::paths::{USER, USER_BY_EMAIL};
use tributary_projector::read_api::{
    ApiError, ConsistencyQuery, ErrorBody, ReadApi, ServiceUnavailableBody, WriteNotAppliedBody,
    query_params,
};
use tributary_projector::rfc3339;

/// A user as the projection last saw them.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub(crate) struct UserView {
    /// The user.
    user_id: String,
    /// `registering` from the registration request until its address's claim is decided,
    /// then `registered`, or `not_registered` again with `refusal` saying why.
    #[schema(pattern = "^(not_registered|registering|registered)$")]
    status: String,
    /// The address the user holds, normalized (trimmed, lower case); `null` until registered.
    email: Option<String>,
    /// The address the user asked for, while its claim is being decided.
    pending_email: Option<String>,
    /// Why the user's latest request ended without its address, until the next request.
    refusal: Option<String>,
    /// The name shown for them.
    display_name: String,
    /// Version of the user aggregate: the number of its events applied.
    version: i64,
    /// When the last event was recorded, RFC 3339 in UTC.
    #[schema(format = DateTime)]
    updated_at: String,
}

const BY_ID_SQL: &str = concat!(
    "SELECT user_id, status, email, pending_email, refusal, display_name, version, ",
    rfc3339!("updated_at"),
    " FROM users WHERE user_id = $1"
);

const BY_EMAIL_SQL: &str = concat!(
    "SELECT user_id, status, email, pending_email, refusal, display_name, version, ",
    rfc3339!("updated_at"),
    " FROM users WHERE email = $1 ORDER BY updated_at DESC, user_id LIMIT 1"
);

/// One user.
#[utoipa::path(
    get,
    path = USER,
    tag = "users",
    params(("id" = String, Path, description = "The user ID"), ConsistencyQuery),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 400, description = "Malformed consistency token", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "The consistency token names a topic this projection does not read", body = ErrorBody),
        (status = 409, description = "The token's event was dead-lettered, so the read tables do not hold the write", body = WriteNotAppliedBody),
        (status = 503, description = "Token not reached in time, or database unreachable; retry", body = ServiceUnavailableBody),
    )
)]
pub(crate) async fn get_user(
    State(api): State<ReadApi>,
    Path(id): Path<String>,
    query: Result<Query<ConsistencyQuery>, QueryRejection>,
) -> Result<Json<UserView>, ApiError> {
    let query = query_params(query)?;
    api.consistent(query.consistency.as_deref()).await?;
    let user = sqlx::query_as::<_, UserView>(BY_ID_SQL)
        .bind(&id)
        .fetch_optional(api.pool())
        .await?;
    user.map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("user {id} not found")))
}

/// The user holding an e-mail address.
///
/// Users are projected per partition, so while one lags, a user who moved away from the
/// address can still show it next to the user who took it over; the answer is the user whose
/// row changed last (by the time of its latest event), which is the later holder unless the
/// processors' clocks disagree by more than the time between the release and the new claim.
#[utoipa::path(
    get,
    path = USER_BY_EMAIL,
    tag = "users",
    params(
        ("email" = String, Path, description = "The address, in any case; it is trimmed and lower-cased before the lookup"),
        ConsistencyQuery,
    ),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 400, description = "Malformed consistency token", body = ErrorBody),
        (status = 404, description = "No user has this address", body = ErrorBody),
        (status = 422, description = "The consistency token names a topic this projection does not read", body = ErrorBody),
        (status = 409, description = "The token's event was dead-lettered, so the read tables do not hold the write", body = WriteNotAppliedBody),
        (status = 503, description = "Token not reached in time, or database unreachable; retry", body = ServiceUnavailableBody),
    )
)]
pub(crate) async fn get_user_by_email(
    State(api): State<ReadApi>,
    Path(email): Path<String>,
    query: Result<Query<ConsistencyQuery>, QueryRejection>,
) -> Result<Json<UserView>, ApiError> {
    let query = query_params(query)?;
    api.consistent(query.consistency.as_deref()).await?;
    let email = normalize_email(&email);
    let user = sqlx::query_as::<_, UserView>(BY_EMAIL_SQL)
        .bind(&email)
        .fetch_optional(api.pool())
        .await?;
    user.map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no user has e-mail address {email}")))
}
