//! The operational HTTP endpoints every binary serves: `/metrics` (Prometheus text format),
//! `/healthz` (the process is alive) and `/readyz` (it can do its work now).
//!
//! Readiness is a set of named reasons for not being ready ("postgres unreachable",
//! "partitions not assigned"); a component adds its reason when it stops being able to work and
//! clears it when it recovers, and `/readyz` answers 503 listing them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus::{Encoder, Registry, TextEncoder};

use crate::shutdown::Shutdown;

/// Named reasons why the process is not ready; ready when there are none.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    reasons: Arc<Mutex<BTreeMap<&'static str, String>>>,
}

impl Readiness {
    /// Marks `component` not ready, with a reason an operator can act on.
    pub fn not_ready(&self, component: &'static str, reason: impl Into<String>) {
        self.with_reasons(|reasons| {
            reasons.insert(component, reason.into());
        });
    }

    /// Marks `component` ready again.
    pub fn ready(&self, component: &'static str) {
        self.with_reasons(|reasons| {
            reasons.remove(component);
        });
    }

    /// The current reasons, by component.
    pub fn reasons(&self) -> BTreeMap<&'static str, String> {
        self.with_reasons(|reasons| reasons.clone())
    }

    fn with_reasons<T>(&self, f: impl FnOnce(&mut BTreeMap<&'static str, String>) -> T) -> T {
        // A poisoned lock only means another thread panicked mid-update of a plain map; the
        // map itself is still usable.
        let mut guard = self
            .reasons
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }
}

#[derive(Clone)]
struct OpsState {
    registry: Registry,
    readiness: Readiness,
}

/// A router with `/metrics`, `/healthz` and `/readyz`, to merge with a binary's own routes.
pub fn ops_router(registry: Registry, readiness: Readiness) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(OpsState {
            registry,
            readiness,
        })
}

/// Serves `router` on `addr` until `shutdown` is triggered.
pub async fn serve(addr: SocketAddr, router: Router, shutdown: Shutdown) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|error| {
        std::io::Error::new(
            error.kind(),
            format!("cannot listen on {addr}: {error}; choose another port or stop the process holding it"),
        )
    })?;
    tracing::info!(%addr, "serving HTTP");
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.requested().await })
        .await
}

async fn metrics(State(state): State<OpsState>) -> Response {
    let mut body = Vec::new();
    match TextEncoder::new().encode(&state.registry.gather(), &mut body) {
        Ok(()) => ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], body).into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode metrics: {error}\n"),
        )
            .into_response(),
    }
}

async fn readyz(State(state): State<OpsState>) -> Response {
    let reasons = state.readiness.reasons();
    if reasons.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        let lines: String = reasons
            .iter()
            .map(|(component, reason)| format!("{component}: {reason}\n"))
            .collect();
        (StatusCode::SERVICE_UNAVAILABLE, lines).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_lists_reasons_until_cleared() {
        let readiness = Readiness::default();
        readiness.not_ready("postgres", "connection refused at 127.0.0.1:5432");
        assert_eq!(readiness.reasons().len(), 1);
        readiness.ready("postgres");
        assert!(readiness.reasons().is_empty());
    }
}
