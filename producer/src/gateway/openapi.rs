//! `/openapi.json`: the gateway's API described by the code that serves it — the handler's
//! `#[utoipa::path]` attribute (naming the same path constant the router uses), the request
//! schema derived from the domain's command catalog, and the response types themselves.

use std::borrow::Cow;

use axum::Json;
use axum::extract::State;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Ref, Schema};
use utoipa::{OpenApi, PartialSchema, ToSchema};

use super::{Gateway, submit};
use crate::command_request::{CommandReader, REQUEST_SCHEMA_NAME};
use crate::responses::{CommandAccepted, CommandRejected, ErrorBody, EventCoordinates};

/// The request body as the handler's description names it: a reference to the
/// `CommandRequest` component, which [`document_for`] fills in from the domain's catalog.
pub(super) struct CommandRequestRef;

impl PartialSchema for CommandRequestRef {
    fn schema() -> RefOr<Schema> {
        Ref::from_schema_name(REQUEST_SCHEMA_NAME).into()
    }
}

impl ToSchema for CommandRequestRef {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed(REQUEST_SCHEMA_NAME)
    }
}

/// The OpenAPI description of the command gateway.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tributary command gateway",
        description = "Send a command to one aggregate and get its outcome: 200 with the event's coordinates and a consistency token for the read API, 409 with the domain's reason, 400/413/422 for a malformed request (nothing written), 503/504 when the outcome is unknown (retry with the same command_id: safe)."
    ),
    paths(submit::post_command),
    components(schemas(CommandAccepted, EventCoordinates, CommandRejected, ErrorBody))
)]
pub(super) struct ApiDoc;

/// The gateway's document with the request schema of the domain `commands` reads.
pub(super) fn document_for(commands: &dyn CommandReader) -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    let (request, components) = commands.request_schemas();
    let schemas = &mut document
        .components
        .get_or_insert_with(Default::default)
        .schemas;
    schemas.insert(REQUEST_SCHEMA_NAME.to_owned(), request);
    schemas.extend(components);
    document
}

/// Serves the document.
pub(super) async fn document(State(gateway): State<Gateway>) -> Json<utoipa::openapi::OpenApi> {
    Json(document_for(gateway.inner.options.commands.as_ref()))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::paths;
    use super::*;

    fn document() -> Value {
        let catalog = crate::command_request::sample::catalog();
        serde_json::to_value(document_for(&catalog)).unwrap()
    }

    #[test]
    fn the_document_describes_post_v1_commands_and_nothing_else() {
        let document = document();
        let paths_listed: Vec<&String> = document["paths"].as_object().unwrap().keys().collect();
        assert_eq!(paths_listed, [paths::COMMANDS]);
        let post = &document["paths"][paths::COMMANDS]["post"];
        assert_eq!(
            post["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/CommandRequest"
        );
        let responses = post["responses"].as_object().unwrap();
        let mut statuses: Vec<&str> = responses.keys().map(String::as_str).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, ["200", "400", "409", "413", "422", "503", "504"]);
        let schema_of = |status: &str| {
            responses[status]["content"]["application/json"]["schema"]["$ref"].clone()
        };
        assert_eq!(
            schema_of("200"),
            json!("#/components/schemas/CommandAccepted")
        );
        assert_eq!(
            schema_of("409"),
            json!("#/components/schemas/CommandRejected")
        );
        for status in ["400", "413", "422", "503", "504"] {
            assert_eq!(schema_of(status), json!("#/components/schemas/ErrorBody"));
        }
        assert!(responses["503"]["headers"]["Retry-After"].is_object());
        assert_eq!(post["parameters"][0]["name"], "X-Correlation-Id");
    }

    #[test]
    fn every_referenced_schema_is_a_component() {
        let document = document();
        let schemas = document["components"]["schemas"].as_object().unwrap();
        for name in [
            "CommandRequest",
            "CommandAccepted",
            "EventCoordinates",
            "CommandRejected",
            "ErrorBody",
            "CounterRequest",
            "Increment",
        ] {
            assert!(schemas.contains_key(name), "{name} is missing");
        }
        let text = document.to_string();
        for reference in text.split("\"$ref\":\"").skip(1) {
            let name = reference
                .split('"')
                .next()
                .unwrap()
                .trim_start_matches("#/components/schemas/");
            assert!(
                schemas.contains_key(name),
                "{name} is referenced but missing"
            );
        }
    }
}
