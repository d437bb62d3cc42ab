//! The read API: the read tables over HTTP, with read-your-writes on request.
//!
//! A client that sent a command holds the consistency token the gateway returned (the event's
//! `<topic>:<partition>:<offset>`); passing it as `?consistency=` makes the read wait, up to a
//! bound, until the projection has committed past that event, so the answer includes the
//! write. Reads without a token answer from the tables as they are.
//!
//! Modules, in the order a reader meets them:
//! - [`token`]: the consistency token and its text form;
//! - `progress`: what this process knows of the committed offsets, fed by PostgreSQL
//!   LISTEN/NOTIFY, and the waiting;
//! - `error`: the failures, their status codes and bodies;
//! - `openapi`: `/openapi.json`, the projection's own description (derived from its handlers
//!   and view types) completed with the engine's error bodies.
//!
//! The resources are the projection's: its [`ReadRoutes`] are handlers over a [`ReadApi`]
//! state that call [`ReadApi::consistent`] with the request's [`ConsistencyQuery`] before
//! reading from [`ReadApi::pool`]. The bank's (`tributary_bank::read_api`) are an example.

mod error;
mod openapi;
mod progress;
pub mod token;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::routing::get;
use serde::Deserialize;
use sqlx::postgres::PgPool;
use tokio::task::JoinHandle;
use tributary_runtime::Shutdown;
use utoipa::IntoParams;

use progress::Progress;

pub use error::{
    ApiError, ErrorBody, NotYetConsistentBody, ServiceUnavailableBody, WriteNotAppliedBody,
};
pub use progress::ReadApiError;
pub use token::{ConsistencyToken, TokenError};

/// Where the OpenAPI document of the read routes is served.
pub const OPENAPI_PATH: &str = "/openapi.json";

/// A projection's read routes and their description: what [`ReadApi::router`] serves.
pub struct ReadRoutes {
    /// The handlers, over a [`ReadApi`] state.
    pub router: Router<ReadApi>,
    /// Their OpenAPI description (paths and view types); the engine adds its error bodies and
    /// serves it at [`OPENAPI_PATH`].
    pub openapi: utoipa::openapi::OpenApi,
}

/// The read API of one projection: its router, and the listener that lets reads wait for
/// commits. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ReadApi {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: PgPool,
    progress: Progress,
    topics: Vec<String>,
    wait_bound: Duration,
}

/// Which projection a read API serves, and how its reads with a consistency token behave.
#[derive(Debug, Clone)]
pub struct ReadApiSettings {
    /// The projection whose rows of `projector_offsets` tokens are checked against.
    pub projection: String,
    /// The projector's schema, which gives the channel commits are announced on.
    pub schema: String,
    /// The topics the projection reads: a token of any other topic is refused at once, since
    /// no wait could satisfy it.
    pub topics: Vec<String>,
    /// How long a read with a token waits for the projection at most.
    pub wait_bound: Duration,
}

impl ReadApi {
    /// A read API over `pool`, whose connections must already use the projector's schema
    /// (see [`tributary_store::database::connect`]).
    pub fn new(pool: PgPool, settings: ReadApiSettings) -> Self {
        let progress = Progress::new(settings.projection, &settings.schema);
        let inner = Inner {
            pool,
            progress,
            topics: settings.topics,
            wait_bound: settings.wait_bound,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The projection's `routes` and `/openapi.json`, to merge with the ops router.
    pub fn router(&self, routes: ReadRoutes) -> Router {
        let document = Arc::new(openapi::document_for(routes.openapi));
        let openapi = get(move || openapi::document(Arc::clone(&document)));
        routes
            .router
            .route(OPENAPI_PATH, openapi)
            .with_state(self.clone())
    }

    /// Subscribes to the commit notifications and spawns the task that follows them until
    /// `shutdown`. Once this returns, every later commit wakes the reads waiting for it. The
    /// task holds one connection of its own (not one of the pool's) and subscribes again
    /// whenever it is lost. Without it, a read with a token is still answered when the
    /// token was committed before the read, but waits out its bound otherwise.
    pub async fn start(&self, shutdown: Shutdown) -> Result<JoinHandle<()>, ReadApiError> {
        let listener = self.inner.progress.subscribe(&self.inner.pool).await?;
        let api = self.clone();
        Ok(tokio::spawn(async move {
            let inner = &api.inner;
            inner
                .progress
                .run(inner.pool.clone(), listener, shutdown)
                .await;
        }))
    }

    /// How many reads are waiting for the projection to reach their consistency token.
    pub fn waiting_reads(&self) -> usize {
        self.inner.progress.waiting()
    }

    /// The pool reads are served from, on the projector's schema.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Waits until the projection has passed the token in `consistency`, if there is one: a
    /// read route calls it before reading, so that its answer includes the client's write.
    /// Refuses a malformed token (`400`), one of a topic the projection does not read (`422`)
    /// and one whose event was dead-lettered (`409`); answers `503` when the bound passes.
    pub async fn consistent(&self, consistency: Option<&str>) -> Result<(), ApiError> {
        let Some(token) = consistency else {
            return Ok(());
        };
        let token: ConsistencyToken = token
            .parse()
            .map_err(|error: TokenError| ApiError::BadRequest(error.to_string()))?;
        self.check_read(&token)?;
        let inner = &self.inner;
        inner
            .progress
            .wait_past(&inner.pool, &token, inner.wait_bound)
            .await
    }
}

impl ReadApi {
    /// Refuses a token of a topic the projection does not read: no wait could satisfy it.
    fn check_read(&self, token: &ConsistencyToken) -> Result<(), ApiError> {
        let topics = &self.inner.topics;
        if topics.contains(&token.topic) {
            return Ok(());
        }
        Err(ApiError::TokenNotServed(format!(
            "consistency token {token} names topic {}, which projection {} does not read (it reads {}); pass the token of a command on an aggregate whose events this read API serves",
            token.topic,
            self.inner.progress.projection(),
            topics.join(", ")
        )))
    }
}

/// The query parameter every read accepts; a route lists it in its `#[utoipa::path]` params.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// `<topic>:<partition>:<offset>` of an event, as the command gateway returns it: the
    /// read waits until the projection has applied that event.
    #[param(pattern = r"^[^:]+:(0|[1-9][0-9]{0,8}):(0|[1-9][0-9]{0,17})$")]
    pub consistency: Option<String>,
}

/// The query parameters, or a 400 naming the one that is wrong.
pub fn query_params<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query.map(|Query(params)| params).map_err(|rejection| {
        ApiError::BadRequest(format!(
            "{}; see /openapi.json for the parameters",
            rejection.body_text()
        ))
    })
}

/// The SQL expression that renders a `timestamptz` column as RFC 3339 in UTC, with
/// microseconds (PostgreSQL's precision): `rfc3339!("updated_at")` in a `concat!` of a query.
#[macro_export]
macro_rules! rfc3339 {
    ($column:literal) => {
        concat!(
            "to_char(",
            $column,
            " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS ",
            $column
        )
    };
}
