//! The catalog as the gateway holds it: one object-safe [`CommandReader`] that reads a body
//! into the framed command and describes the request in OpenAPI, so the gateway, its router and
//! its handler are the same code for every domain and carry no type parameter.

use serde::Serialize;
use tributary_domain::DomainRecord;
use tributary_schemas::Codec;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use uuid::Uuid;

use super::{CommandCatalog, CommandRequestError, openapi};

/// A client's command read from its body and framed, ready to travel in an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadCommand {
    /// The client's command ID, if it sent one.
    pub command_id: Option<Uuid>,
    /// The aggregate type the command goes to.
    pub aggregate_type: &'static str,
    /// The aggregate ID (the Kafka key), normalized.
    pub aggregate_id: String,
    /// Full Avro name of the command.
    pub full_name: &'static str,
    /// The framed command record.
    pub command: Vec<u8>,
}

/// What the gateway needs of a domain's commands.
pub trait CommandReader: std::fmt::Debug + Send + Sync + 'static {
    /// Reads a client's body (saga steps refused) and frames its command.
    fn read(&self, body: &[u8]) -> Result<ReadCommand, CommandRequestError>;

    /// The codec commands are framed with.
    fn codec(&self) -> &Codec;

    /// The `CommandRequest` schema and the components it refers to, for `/openapi.json`.
    fn request_schemas(&self) -> (RefOr<Schema>, Vec<(String, RefOr<Schema>)>);
}

impl<C: DomainRecord + Serialize + std::fmt::Debug> CommandReader for CommandCatalog<C> {
    fn read(&self, body: &[u8]) -> Result<ReadCommand, CommandRequestError> {
        let request = self.parse(body)?;
        let command = request.command.encode(&self.codec).map_err(|error| {
            CommandRequestError::Unencodable {
                detail: error.to_string(),
            }
        })?;
        Ok(ReadCommand {
            command_id: request.command_id,
            aggregate_type: request.command.aggregate_type(),
            aggregate_id: request.aggregate_id,
            full_name: request.command.full_name(),
            command,
        })
    }

    fn codec(&self) -> &Codec {
        &self.codec
    }

    fn request_schemas(&self) -> (RefOr<Schema>, Vec<(String, RefOr<Schema>)>) {
        (openapi::request_schema(self), openapi::components(self))
    }
}
