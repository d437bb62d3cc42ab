//! `/openapi.json`: the read API described by the code that serves it.
//!
//! A projection derives its part from its handlers' `#[utoipa::path]` attributes, which name
//! the same path constants its router uses, and from the view types they return, so a route,
//! a parameter or a field cannot change without the document changing with it. The engine adds
//! its own part: the title, and the bodies of the answers every read route may give (errors,
//! not yet consistent, write not applied).

use std::sync::Arc;

use axum::Json;
use utoipa::OpenApi;

use super::error::{ErrorBody, NotYetConsistentBody, ServiceUnavailableBody, WriteNotAppliedBody};

/// The engine's part of the read API's description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tributary read API",
        description = "The projector's read tables. Pass `consistency=<topic>:<partition>:<offset>` (the token the command gateway returned) to read your own writes: the read waits until the projection has applied that event, and answers 409 if the event was dead-lettered instead."
    ),
    components(schemas(
        ErrorBody,
        NotYetConsistentBody,
        ServiceUnavailableBody,
        WriteNotAppliedBody,
    ))
)]
struct EngineDoc;

/// The document of a projection whose routes `routes` describes.
pub(super) fn document_for(routes: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut document = EngineDoc::openapi();
    document.merge(routes);
    document
}

/// Serves the document.
pub(super) async fn document(
    document: Arc<utoipa::openapi::OpenApi>,
) -> Json<utoipa::openapi::OpenApi> {
    Json(document.as_ref().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_adds_its_title_and_error_bodies_to_the_projections_part() {
        #[derive(OpenApi)]
        #[openapi(info(title = "the projection's own"))]
        struct Routes;
        let document = serde_json::to_value(document_for(Routes::openapi())).unwrap();
        assert_eq!(document["info"]["title"], "Tributary read API");
        for body in [
            "ErrorBody",
            "NotYetConsistentBody",
            "ServiceUnavailableBody",
            "WriteNotAppliedBody",
        ] {
            assert!(
                document["components"]["schemas"][body].is_object(),
                "{body} is missing"
            );
        }
    }
}
