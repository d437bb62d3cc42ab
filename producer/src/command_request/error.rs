//! Why a request body was refused, in the two classes a client handles differently: `400` for
//! a body that is not JSON at all (a broken client or proxy), `422` for well-formed JSON that
//! is not a valid command (a mistake in what was sent), naming the member at fault by its JSON
//! path so that a form can point at it.

use axum::http::StatusCode;

use super::fields::Invalid;

/// A refused request body. Its `Display` is the message the gateway sends as `error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandRequestError {
    /// The body is not JSON (`400`).
    #[error("request body is not valid JSON: {detail}")]
    NotJson {
        /// What the JSON parser said, with the line and column.
        detail: String,
    },
    /// The body is JSON but not an object (`422`).
    #[error("request body must be a JSON object with aggregate, id and command, got {found}")]
    NotAnObject {
        /// The body, cut short if long.
        found: String,
    },
    /// A member of the body is missing, unknown, or has a value of the wrong shape (`422`).
    #[error("{field}: {problem}")]
    InvalidField {
        /// The member's JSON path, e.g. `command.amount`.
        field: String,
        /// What is wrong with it, e.g. `missing`.
        problem: String,
    },
    /// The command read from a valid body does not fit its own schema (`500`): the domain's
    /// catalog builds a value its `.avsc` refuses, a bug of the domain, not of the client.
    #[error("cannot encode the command: {detail}")]
    Unencodable {
        /// What the encoder said.
        detail: String,
    },
}

impl CommandRequestError {
    /// The HTTP status the gateway answers with: `400`, `422`, or `500` for a command that
    /// cannot be encoded.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotJson { .. } => StatusCode::BAD_REQUEST,
            Self::NotAnObject { .. } | Self::InvalidField { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::Unencodable { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON path of the member at fault, when one member is.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidField { field, .. } => Some(field),
            Self::NotJson { .. } | Self::NotAnObject { .. } | Self::Unencodable { .. } => None,
        }
    }
}

impl From<Invalid> for CommandRequestError {
    fn from(invalid: Invalid) -> Self {
        Self::InvalidField {
            field: invalid.field,
            problem: invalid.problem,
        }
    }
}
