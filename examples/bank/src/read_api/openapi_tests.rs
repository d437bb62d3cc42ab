//! The bank's read routes through the engine's read API: the document lists every route, the
//! router serves every documented path, and tokens valid by the description are never refused
//! as malformed.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use sqlx::postgres::PgPoolOptions;
use tower::ServiceExt;
use tributary_projector::read_api::{OPENAPI_PATH, ReadApi, ReadApiSettings};
use utoipa::OpenApi;

use super::{BankReadDoc, paths, routes};

/// The bank's part of the document `/openapi.json` serves (the served whole is checked by
/// `the_router_serves_every_documented_path`).
struct ApiDoc;

impl ApiDoc {
    fn openapi() -> utoipa::openapi::OpenApi {
        BankReadDoc::openapi()
    }
}

/// Every API route of the router.
const API_ROUTES: [&str; 5] = [
    paths::ACCOUNT,
    paths::LEDGER,
    paths::USER,
    paths::USER_BY_EMAIL,
    paths::TRANSFER,
];

#[test]
fn the_document_lists_every_route_and_nothing_else() {
    let document = ApiDoc::openapi();
    let mut listed: Vec<&str> = document.paths.paths.keys().map(String::as_str).collect();
    let mut routes = API_ROUTES.to_vec();
    listed.sort_unstable();
    routes.sort_unstable();
    assert_eq!(listed, routes);
    for path in document.paths.paths.values() {
        assert!(path.get.is_some(), "every route is a GET");
    }
}

/// The read API's router over a pool that never reaches a database: a handler that gets
/// past its parameters answers 503.
fn unreachable_database_router() -> axum::Router {
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(200))
        .connect_lazy("postgres://nobody@127.0.0.1:1/none")
        .unwrap();
    let settings = ReadApiSettings {
        projection: "bank".to_owned(),
        schema: "nowhere".to_owned(),
        topics: ["t", "t.account.events", "a", "x"]
            .map(str::to_owned)
            .to_vec(),
        wait_bound: Duration::ZERO,
    };
    ReadApi::new(pool, settings).router(routes())
}

/// Asks the router for every path of the document (with sample values for the
/// parameters) and checks each is served by a handler, not by the router's fallback: with
/// no database behind the pool, a handler answers 503 with a JSON error.
#[tokio::test]
async fn the_router_serves_every_documented_path() {
    let router = unreachable_database_router();
    for path in ApiDoc::openapi().paths.paths.keys() {
        let uri = path.replace("{id}", "x-1").replace("{email}", "a%40b.c");
        let request = Request::get(&uri).body(Body::empty()).unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{uri}");
    }
    let request = Request::get(OPENAPI_PATH).body(Body::empty()).unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let served: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let mut listed: Vec<&str> = served["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut routes = API_ROUTES.to_vec();
    listed.sort_unstable();
    routes.sort_unstable();
    assert_eq!(listed, routes, "the served document lists every route");
    for body in [
        "ErrorBody",
        "ServiceUnavailableBody",
        "WriteNotAppliedBody",
        "AccountView",
    ] {
        assert!(
            served["components"]["schemas"][body].is_object(),
            "{body} is not served"
        );
    }
}

/// The pattern the document gives the `consistency` parameter of `path`.
fn consistency_pattern(document: &serde_json::Value, path: &str) -> regex_lite::Regex {
    let parameters = document["paths"][path]["get"]["parameters"]
        .as_array()
        .unwrap();
    let consistency = parameters
        .iter()
        .find(|parameter| parameter["name"] == "consistency")
        .unwrap_or_else(|| panic!("{path} documents no consistency parameter"));
    let pattern = consistency["schema"]["pattern"].as_str().unwrap();
    regex_lite::Regex::new(pattern).unwrap()
}

/// A token valid by the description is never refused as malformed, and the malformed ones
/// the description excludes are answered 400 — on every route, through the router.
#[tokio::test]
async fn a_token_valid_by_the_description_is_never_refused_as_malformed() {
    let router = unreachable_database_router();
    let document = serde_json::to_value(ApiDoc::openapi()).unwrap();
    let valid = [
        "t.account.events:0:0",
        "a:7:123456789012345678",
        "x:999999999:1",
    ];
    let invalid = ["", "t:1", "t:-1:2", "t:1:2:3", ":1:2", "t:1:x", "t:01:2"];
    for path in API_ROUTES {
        let pattern = consistency_pattern(&document, path);
        for (token, expected) in valid
            .iter()
            .map(|token| (token, true))
            .chain(invalid.iter().map(|token| (token, false)))
        {
            assert_eq!(pattern.is_match(token), expected, "{path}: {token:?}");
            let uri = format!(
                "{}?consistency={token}",
                path.replace("{id}", "x-1").replace("{email}", "a%40b.c")
            );
            let request = Request::get(&uri).body(Body::empty()).unwrap();
            let status = router.clone().oneshot(request).await.unwrap().status();
            if expected {
                assert_ne!(status, StatusCode::BAD_REQUEST, "{uri}");
            } else if token != &"t:01:2" {
                // A leading zero is outside the description but read as 1 by the server.
                assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
            }
        }
    }
}
