//! The bank's commands as the gateway reads them from JSON: the table of aggregates, commands
//! and fields in [`table`](self) drives the parser, its messages and the OpenAPI schema.

#[cfg(test)]
mod openapi_tests;
mod table;
#[cfg(test)]
mod tests;

use tributary_producer::GatewayCommands;
use tributary_producer::command_request::CommandCatalog;

use crate::{Bank, BankCommand};

/// The bank's command catalog, over the bank's codec.
pub fn catalog() -> CommandCatalog<BankCommand> {
    CommandCatalog {
        aggregates: &table::AGGREGATES,
        codec: crate::codec(),
    }
}

impl GatewayCommands for Bank {
    fn catalog(&self) -> CommandCatalog<BankCommand> {
        catalog()
    }
}
