//! How a read fails, as the client sees it: a status code and a JSON body whose `error` says
//! what failed and what to do about it.
//!
//! The split that matters to a client is between "ask differently" (400, 404, and 422 for a
//! consistency token of a topic the projection does not read), "ask again
//! later" (503: the database is unreachable, or the projection has not caught up with the
//! consistency token yet), "your write is not there and will not be until an operator acts"
//! (409: the token's event was dead-lettered) and "something is broken here" (500). A 503 for
//! a token that was not reached in time also carries how far the projection got.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AnyOfBuilder, Ref, Schema};
use utoipa::{PartialSchema, ToSchema};

/// The body of every error answer but the consistency timeout.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What failed and what to do about it.
    pub error: String,
}

/// The body of a 503 answer to a read whose consistency token the projection did not pass
/// within the wait bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct NotYetConsistentBody {
    /// How far the projection got, and that the client may retry.
    pub error: String,
    /// The projection that was waited for.
    pub projection: String,
    /// The token's topic.
    pub topic: String,
    /// The token's partition.
    pub partition: i32,
    /// The first offset of the partition not yet in the read tables; `null` if the
    /// projection has never committed anything from this partition.
    pub committed_next_offset: Option<i64>,
    /// The token's offset: the read is answered once `committed_next_offset` is above it.
    pub wanted_offset: i64,
}

/// The body of a 409 answer to a read whose consistency token names an event the projection
/// passed but did not apply: it went to the dead-letter topic, so no read table holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct WriteNotAppliedBody {
    /// Which write is missing, why, and what to do.
    pub error: String,
    /// The projection that dead-lettered the event.
    pub projection: String,
    /// The token's topic.
    pub topic: String,
    /// The token's partition.
    pub partition: i32,
    /// The token's offset: the event that was not applied.
    pub offset: i64,
    /// The aggregate the event belongs to, if its key names one.
    pub aggregate_id: Option<String>,
    /// Why it was not applied: a short label such as `parked` (held back behind an earlier
    /// event of its aggregate that could not be applied) or `undecodable`.
    pub reason: String,
}

/// The body of a 503 answer: either kind of "retry later".
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ServiceUnavailableBody {
    /// The projection did not pass the consistency token within the wait bound.
    NotYetConsistent(NotYetConsistentBody),
    /// PostgreSQL is unreachable or refuses work for now.
    DatabaseUnavailable(ErrorBody),
}

// Written by hand because the derive makes an untagged enum `oneOf`, which a timeout body
// breaks: it also matches `ErrorBody`, whose fields it includes. `anyOf` is what holds.
impl PartialSchema for ServiceUnavailableBody {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .item(Ref::from_schema_name(NotYetConsistentBody::name()))
            .item(Ref::from_schema_name(ErrorBody::name()))
            .description(Some(
                "The projection did not pass the consistency token in time (with how far it got), or the database is unavailable.",
            ))
            .into()
    }
}

impl ToSchema for ServiceUnavailableBody {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            NotYetConsistentBody::name().into(),
            NotYetConsistentBody::schema(),
        ));
        schemas.push((ErrorBody::name().into(), ErrorBody::schema()));
    }
}

/// Why a read was not answered.
#[derive(Debug)]
pub enum ApiError {
    /// The request is malformed (bad consistency token, bad query parameter).
    BadRequest(String),
    /// The addressed row does not exist.
    NotFound(String),
    /// The consistency token is well formed but names a topic this projection does not read.
    TokenNotServed(String),
    /// The projection did not pass the consistency token in time.
    NotYetConsistent(Box<NotYetConsistentBody>),
    /// The projection passed the consistency token without applying its event.
    WriteNotApplied(Box<WriteNotAppliedBody>),
    /// PostgreSQL failed to answer.
    Database(sqlx::Error),
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::Database(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::BadRequest(error) => {
                (StatusCode::BAD_REQUEST, Json(ErrorBody { error })).into_response()
            }
            Self::NotFound(error) => {
                (StatusCode::NOT_FOUND, Json(ErrorBody { error })).into_response()
            }
            Self::TokenNotServed(error) => {
                (StatusCode::UNPROCESSABLE_ENTITY, Json(ErrorBody { error })).into_response()
            }
            Self::NotYetConsistent(body) => {
                let body = ServiceUnavailableBody::NotYetConsistent(*body);
                (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
            }
            Self::WriteNotApplied(body) => (StatusCode::CONFLICT, Json(*body)).into_response(),
            Self::Database(error) => database_failure(&error),
        }
    }
}

/// The answer to a failed query, logged because the client cannot fix most of these.
fn database_failure(error: &sqlx::Error) -> Response {
    let (status, error) = if is_unavailable(error) {
        let message = format!(
            "cannot read from PostgreSQL: {error}; the database is unreachable or overloaded, retry later"
        );
        (StatusCode::SERVICE_UNAVAILABLE, message)
    } else if is_schema_mismatch(error) {
        let message = format!(
            "the read tables are not what this projector expects: {error}; run the projector's migrations"
        );
        (StatusCode::INTERNAL_SERVER_ERROR, message)
    } else {
        let message = format!("reading from PostgreSQL failed: {error}; see the projector's log");
        (StatusCode::INTERNAL_SERVER_ERROR, message)
    };
    tracing::warn!(%status, %error, "read API query failed");
    let body = ErrorBody { error };
    if status == StatusCode::SERVICE_UNAVAILABLE {
        let body = ServiceUnavailableBody::DatabaseUnavailable(body);
        (status, Json(body)).into_response()
    } else {
        (status, Json(body)).into_response()
    }
}

/// Failures that go away by themselves: no connection, or a server that refuses work for now
/// (SQLSTATE classes 08 connection exception, 53 insufficient resources, 57 operator
/// intervention such as a restart).
fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(_) => sqlstate_in(error, &["08", "53", "57"]),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

/// A missing table or column (SQLSTATE class 42, or 3F for a missing schema).
fn is_schema_mismatch(error: &sqlx::Error) -> bool {
    sqlstate_in(error, &["42", "3F"])
}

/// Whether the error is PostgreSQL's and its SQLSTATE is in one of `classes`.
fn sqlstate_in(error: &sqlx::Error, classes: &[&str]) -> bool {
    let code = error.as_database_error().and_then(|error| error.code());
    code.is_some_and(|code| classes.iter().any(|class| code.starts_with(class)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_connections_are_temporary_and_the_rest_is_not() {
        let io = sqlx::Error::Io(std::io::Error::other("connection reset"));
        assert!(is_unavailable(&io));
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
    }

    #[test]
    fn database_failures_answer_503_when_temporary() {
        let response = ApiError::Database(sqlx::Error::PoolTimedOut).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let response = ApiError::Database(sqlx::Error::RowNotFound).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
