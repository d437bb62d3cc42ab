//! Typed records of the bank: one module per aggregate, each with its events and commands as
//! they travel on the wire. The aggregates fold and decide over these types; the field docs are
//! in the `.avsc` files under `examples/bank/avro`, which are the contract.

pub mod account;
pub mod email_claim;
pub mod transfer;
pub mod user;
