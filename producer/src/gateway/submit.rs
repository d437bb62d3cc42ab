//! `POST /v1/commands`: validate, produce, wait for the reply, answer.
//!
//! The order of the steps is the guarantee:
//! 1. the body is read within the size limit and parsed — a refusal (`400`, `413`, `422`)
//!    happens before anything is written, so a refused request leaves no trace in Kafka;
//! 2. the waiter is registered *before* the command is produced, so the reply cannot beat it;
//! 3. the command goes to its aggregate's partition of the commands topic (key = aggregate
//!    ID, partition by the placement rule), in an envelope naming this instance as `reply-to`
//!    and carrying the moment the gateway stops waiting (`deadline`);
//! 4. the answer is the reply (`200`/`409`), or `503` when the broker did not take the record,
//!    or `504` when no reply came in time. After a `503` or a `504` the command may or may
//!    not be applied; a retry with the same `command_id` is safe either way, because a repeated
//!    command ID gets the first outcome and writes nothing new — which is why every answer
//!    names the command ID, in the body or in the `X-Command-Id` header.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::util::Timeout;
use tokio::time::Instant;
use tributary_runtime::partition_for_key;
use tributary_schemas::headers::CommandHeaders;
use tributary_schemas::protocol::{self, CommandEnvelope, CommandOutcome, CommandReply};
use uuid::Uuid;

use super::metrics::Outcome;
use super::openapi::CommandRequestRef;
use super::paths::COMMANDS;
use super::waiters::ReplyKey;
use super::{Gateway, Inner};
use crate::command_request::{ReadCommand, record_name};
use crate::responses::{CommandAccepted, CommandRejected, ErrorBody, EventCoordinates};

/// The request header carrying the correlation ID of everything the request causes.
pub const CORRELATION_ID_HEADER: HeaderName = HeaderName::from_static("x-correlation-id");
/// The response header naming the command ID, on every answer to a readable command.
pub const COMMAND_ID_HEADER: HeaderName = HeaderName::from_static("x-command-id");
/// How long a client should wait before retrying after a `503`, in seconds.
pub const RETRY_AFTER_SECONDS: u64 = 5;
/// The longest correlation ID accepted, in characters.
const MAX_CORRELATION_ID_CHARS: usize = 200;

/// Sends a command to its aggregate and answers with the outcome.
#[utoipa::path(
    post,
    path = COMMANDS,
    tag = "commands",
    request_body(content = CommandRequestRef, content_type = "application/json"),
    params(
        ("X-Correlation-Id" = Option<String>, Header, min_length = 1, max_length = 200, pattern = r"^[!-~]([ -~]{0,198}[!-~])?$", description = "Correlation ID given to every event the command causes: 1 to 200 printable ASCII characters, spaces allowed inside (whitespace around the value is not part of it, as in any HTTP header); the command ID when absent.")
    ),
    responses(
        (status = 200, description = "Accepted: the event's coordinates and the consistency token to read it", body = CommandAccepted,
            headers(("X-Command-Id" = String, description = "The command ID"))),
        (status = 400, description = "The body is not JSON, or X-Correlation-Id is malformed; nothing was written", body = ErrorBody),
        (status = 409, description = "Refused by the domain, with the reason; nothing was written", body = CommandRejected,
            headers(("X-Command-Id" = String, description = "The command ID"))),
        (status = 413, description = "The body exceeds the size limit; nothing was written", body = ErrorBody),
        (status = 422, description = "The body is not a valid command, or its command_id was already used for another aggregate; `field` names the member at fault; nothing was written", body = ErrorBody),
        (status = 503, description = "The broker did not take the command, or the gateway cannot hear replies; the command may or may not be applied: retry with the same command_id", body = ErrorBody,
            headers(
                ("Retry-After" = u64, description = "Seconds to wait before retrying"),
                ("X-Command-Id" = String, description = "The command ID to retry with")
            )),
        (status = 504, description = "No reply in time; the command may still be applied: retrying with the same command_id is safe", body = ErrorBody,
            headers(("X-Command-Id" = String, description = "The command ID to retry with"))),
    )
)]
pub(super) async fn post_command(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let received = Instant::now();
    let inner = &gateway.inner;
    let answer = submit(inner, &headers, body).await;
    inner.metrics.command_answered(
        answer.aggregate,
        answer.command,
        answer.outcome,
        received.elapsed(),
    );
    answer.into_response()
}

/// One answer, with what the metrics and the response headers need.
#[derive(Debug)]
struct Answer {
    outcome: Outcome,
    status: StatusCode,
    body: Body,
    aggregate: Option<&'static str>,
    command: Option<&'static str>,
    command_id: Option<Uuid>,
    correlation_id: Option<String>,
}

#[derive(Debug)]
enum Body {
    Accepted(CommandAccepted),
    Rejected(CommandRejected),
    Error(ErrorBody),
}

/// A command read from a request, with its identity.
struct Submission {
    request: ReadCommand,
    command_id: Uuid,
    correlation_id: String,
}

async fn submit(
    gateway: &Inner,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let submission = match read(gateway, headers, body) {
        Ok(submission) => submission,
        Err((StatusCode::INTERNAL_SERVER_ERROR, body)) => return Answer::internal(body.error),
        Err((status, body)) => return Answer::error(Outcome::Invalid, status, body),
    };
    let answer = send_and_wait(gateway, &submission).await;
    Answer {
        aggregate: Some(submission.request.aggregate_type),
        command: Some(record_name(submission.request.full_name)),
        command_id: Some(submission.command_id),
        correlation_id: Some(submission.correlation_id),
        ..answer
    }
}

/// Reads the request, or says why it is refused (before anything is written).
fn read(
    gateway: &Inner,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Submission, (StatusCode, ErrorBody)> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!(
                "request body exceeds the limit of {} bytes; a command request is a small JSON object: send one command per request",
                gateway.options.body_limit
            )
        } else {
            format!("cannot read the request body: {}", rejection.body_text())
        };
        (status, ErrorBody::new(message))
    })?;
    let request = gateway
        .options
        .commands
        .read(&body)
        .map_err(|error| (error.status(), ErrorBody::from(&error)))?;
    let command_id = request.command_id.unwrap_or_else(Uuid::new_v4);
    let correlation_id = correlation_id(headers)
        .map_err(|message| (StatusCode::BAD_REQUEST, ErrorBody::new(message)))?
        .unwrap_or_else(|| command_id.to_string());
    Ok(Submission {
        request,
        command_id,
        correlation_id,
    })
}

/// The `X-Correlation-Id` header, if there is one, or why it is refused.
fn correlation_id(headers: &HeaderMap) -> Result<Option<String>, String> {
    let Some(value) = headers.get(&CORRELATION_ID_HEADER) else {
        return Ok(None);
    };
    let refused = || {
        format!(
            "header X-Correlation-Id must be 1 to {MAX_CORRELATION_ID_CHARS} printable ASCII characters (spaces only inside), got {:?}; send a valid one or leave it out to use the command ID",
            String::from_utf8_lossy(value.as_bytes())
        )
    };
    let text = value
        .to_str()
        .map_err(|_| refused())?
        .trim_matches([' ', '\t']);
    let printable = text.bytes().all(|byte| (b' '..=b'~').contains(&byte));
    if text.is_empty() || text.len() > MAX_CORRELATION_ID_CHARS || !printable {
        return Err(refused());
    }
    Ok(Some(text.to_owned()))
}

/// Produces the command and waits for its reply.
async fn send_and_wait(gateway: &Inner, submission: &Submission) -> Answer {
    let options = &gateway.options;
    let command_id = submission.command_id.to_string();
    if !gateway.is_listening() {
        return Answer::unavailable(format!(
            "the gateway is not listening for command replies (starting, stopping, or it could not reach the broker), so command {command_id} was not sent; retry with the same command_id"
        ));
    }
    let request = &submission.request;
    let issued_at = now_ms();
    let timeout_ms = i64::try_from(options.reply_timeout.as_millis()).unwrap_or(i64::MAX);
    let envelope = CommandEnvelope {
        command_id: command_id.clone(),
        correlation_id: submission.correlation_id.clone(),
        aggregate_type: request.aggregate_type.to_owned(),
        aggregate_id: request.aggregate_id.clone(),
        issued_at,
        reply_to: Some(options.instance_id.clone()),
        deadline: Some(issued_at.saturating_add(timeout_ms)),
        command: request.command.clone(),
    };
    let value = match options.codec.encode(&envelope) {
        Ok(value) => value,
        Err(error) => return Answer::internal(format!("cannot encode the envelope: {error}")),
    };
    let deadline = Instant::now() + options.reply_timeout;
    let key = ReplyKey::new(
        &envelope.aggregate_type,
        &envelope.aggregate_id,
        &envelope.command_id,
    );
    let mut waiter = gateway.waiters.register(key);
    gateway.metrics.waiting(gateway.waiters.waiting());
    let answer = match produce(gateway, &envelope, &value).await {
        Err(problem) => Answer::unavailable(format!(
            "command {command_id} could not be written to Kafka topic {} (brokers {}): {problem}. It may or may not have been written: retry in {RETRY_AFTER_SECONDS} s with the same command_id {command_id}, which is safe",
            gateway.topology.commands(),
            gateway.kafka.bootstrap_servers(),
        )),
        Ok(()) => match waiter.reply_by(deadline).await {
            Some(reply) => Answer::from_reply(submission, reply),
            None => {
                gateway
                    .metrics
                    .reply_timed_out(&command_id, options.reply_timeout);
                Answer::error(
                    Outcome::Timeout,
                    StatusCode::GATEWAY_TIMEOUT,
                    ErrorBody::new(format!(
                        "no reply to command {command_id} within {} ms; the command may still be applied: retrying with the same command_id {command_id} is safe (a repeated command ID gets the first outcome and writes nothing new)",
                        options.reply_timeout.as_millis()
                    )),
                )
            }
        },
    };
    drop(waiter);
    gateway.metrics.waiting(gateway.waiters.waiting());
    answer
}

/// Writes the envelope to the aggregate's partition of the commands topic.
async fn produce(gateway: &Inner, envelope: &CommandEnvelope, value: &[u8]) -> Result<(), String> {
    let topic = gateway.topology.commands();
    let key = envelope.aggregate_id.as_str();
    let partition = partition_for_key(key.as_bytes(), gateway.topology.partitions());
    let pairs = CommandHeaders {
        command_id: envelope.command_id.clone(),
        reply_to: envelope.reply_to.clone(),
        deadline: envelope.deadline,
        cause: None,
    }
    .to_pairs();
    let headers = pairs
        .iter()
        .fold(OwnedHeaders::new(), |headers, (name, value)| {
            headers.insert(Header {
                key: name,
                value: Some(value),
            })
        });
    let record = FutureRecord::to(&topic)
        .partition(partition)
        .key(key)
        .payload(value)
        .headers(headers);
    let broker_timeout = gateway.options.broker_timeout;
    let delivery = gateway
        .producer
        .send(record, Timeout::After(broker_timeout));
    // The producer's own delivery timeout (`message.timeout.ms`, see `gateway::producer`)
    // normally ends the wait with librdkafka's reason; this bound holds even for a producer
    // configured with a longer one.
    let bound = broker_timeout + Duration::from_secs(1);
    match tokio::time::timeout(bound, delivery).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((error, _))) => Err(error.to_string()),
        Err(_) => Err(format!(
            "the broker did not acknowledge the record within {} ms",
            bound.as_millis()
        )),
    }
}

impl Answer {
    fn error(outcome: Outcome, status: StatusCode, body: ErrorBody) -> Self {
        Self {
            outcome,
            status,
            body: Body::Error(body),
            aggregate: None,
            command: None,
            command_id: None,
            correlation_id: None,
        }
    }

    fn unavailable(message: String) -> Self {
        tracing::warn!(error = message, "command not sent; answered 503");
        Self::error(
            Outcome::Unavailable,
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorBody::new(message),
        )
    }

    fn internal(message: String) -> Self {
        tracing::error!(error = message, "command not sent; answered 500");
        Self::error(
            Outcome::Internal,
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorBody::new(message),
        )
    }

    fn from_reply(submission: &Submission, reply: CommandReply) -> Self {
        let request = &submission.request;
        let (outcome, status, body) = match reply.outcome {
            CommandOutcome::Accepted => {
                let accepted = CommandAccepted::new(
                    submission.command_id,
                    request.aggregate_type,
                    request.aggregate_id.clone(),
                    u64::try_from(reply.version).unwrap_or_default(),
                    reply.event.map(coordinates),
                );
                (Outcome::Accepted, StatusCode::OK, Body::Accepted(accepted))
            }
            CommandOutcome::Rejected if reply.reused_for.is_some() => (
                Outcome::Invalid,
                StatusCode::UNPROCESSABLE_ENTITY,
                Body::Error(ErrorBody::for_field(
                    "command_id",
                    reply
                        .reason
                        .unwrap_or_else(|| "the command ID was used for another aggregate".into()),
                )),
            ),
            CommandOutcome::Rejected => {
                let rejected = CommandRejected {
                    command_id: submission.command_id,
                    aggregate: request.aggregate_type.to_owned(),
                    id: request.aggregate_id.clone(),
                    reason: reply
                        .reason
                        .unwrap_or_else(|| "refused by the domain without a reason".to_owned()),
                };
                (
                    Outcome::Rejected,
                    StatusCode::CONFLICT,
                    Body::Rejected(rejected),
                )
            }
        };
        Self {
            outcome,
            status,
            body,
            aggregate: None,
            command: None,
            command_id: None,
            correlation_id: None,
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = match self.body {
            Body::Accepted(body) => (self.status, Json(body)).into_response(),
            Body::Rejected(body) => (self.status, Json(body)).into_response(),
            Body::Error(body) => (self.status, Json(body)).into_response(),
        };
        let headers = response.headers_mut();
        if let Some(command_id) = self.command_id
            && let Ok(value) = HeaderValue::from_str(&command_id.to_string())
        {
            headers.insert(COMMAND_ID_HEADER, value);
        }
        if let Some(correlation_id) = self.correlation_id
            && let Ok(value) = HeaderValue::from_str(&correlation_id)
        {
            headers.insert(CORRELATION_ID_HEADER, value);
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        response
    }
}

/// The reply's event coordinates as the answer shows them.
fn coordinates(event: protocol::EventCoordinates) -> EventCoordinates {
    EventCoordinates {
        topic: event.topic,
        partition: event.partition,
        offset: event.offset,
        event_type: event.event_type,
    }
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pattern the OpenAPI document gives the `X-Correlation-Id` header.
    fn documented_pattern() -> regex_lite::Regex {
        let catalog = crate::command_request::sample::catalog();
        let document = serde_json::to_value(super::super::openapi::document_for(&catalog))
            .expect("the document serializes");
        let parameter = &document["paths"]["/v1/commands"]["post"]["parameters"][0];
        assert_eq!(parameter["name"], "X-Correlation-Id");
        let schema = &parameter["schema"];
        assert_eq!(
            (&schema["minLength"], &schema["maxLength"]),
            (
                &serde_json::json!(1),
                &serde_json::json!(MAX_CORRELATION_ID_CHARS)
            )
        );
        regex_lite::Regex::new(schema["pattern"].as_str().expect("a pattern")).expect("a regex")
    }

    #[test]
    fn a_correlation_id_valid_by_the_description_is_accepted_and_others_refused() {
        let pattern = documented_pattern();
        let longest = "x".repeat(MAX_CORRELATION_ID_CHARS);
        let too_long = "x".repeat(MAX_CORRELATION_ID_CHARS + 1);
        let valid = [
            "req-7",
            "a",
            "order 42 / retry 1",
            "~!@#$%^&*()",
            longest.as_str(),
        ];
        let invalid = ["", " ", "a\tb", too_long.as_str()];
        for (value, expected) in valid
            .iter()
            .map(|v| (v, true))
            .chain(invalid.iter().map(|v| (v, false)))
        {
            assert_eq!(
                pattern.is_match(value),
                expected,
                "the pattern on {value:?}"
            );
            let mut headers = HeaderMap::new();
            headers.insert(CORRELATION_ID_HEADER, HeaderValue::from_str(value).unwrap());
            assert_eq!(
                correlation_id(&headers).is_ok(),
                expected,
                "the gateway on {value:?}"
            );
        }
    }

    #[test]
    fn a_correlation_id_is_visible_ascii_of_bounded_length() {
        let mut headers = HeaderMap::new();
        assert_eq!(correlation_id(&headers), Ok(None));
        headers.insert(CORRELATION_ID_HEADER, HeaderValue::from_static(" req-7 "));
        assert_eq!(correlation_id(&headers), Ok(Some("req-7".to_owned())));
        headers.insert(CORRELATION_ID_HEADER, HeaderValue::from_static(""));
        assert!(correlation_id(&headers).is_err());
        let long = "x".repeat(MAX_CORRELATION_ID_CHARS + 1);
        headers.insert(CORRELATION_ID_HEADER, HeaderValue::from_str(&long).unwrap());
        assert!(correlation_id(&headers).is_err());
    }

    #[test]
    fn the_command_label_is_the_record_name() {
        assert_eq!(record_name("testing.counter.Add"), "Add");
        assert_eq!(record_name("Add"), "Add");
    }
}
