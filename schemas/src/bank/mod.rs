//! Typed records of the reference domain (a bank): one module per aggregate, each with its
//! events and commands as they travel on the wire. The domain crate folds and decides over
//! these types; the field docs are in the `.avsc` files, which are the contract.

pub mod account;
pub mod email_claim;
pub mod transfer;
pub mod user;
