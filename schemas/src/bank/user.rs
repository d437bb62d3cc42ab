//! Records of the user aggregate, created from a won e-mail claim.

use serde::{Deserialize, Serialize};

use crate::protocol::CommandRefused;
use crate::record::{avro_record, record_set};

/// A user was created after it won the claim on its address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRegistered {
    /// The normalized address.
    pub email: String,
    /// The user's name.
    pub display_name: String,
}

/// The user moved to a new address it had claimed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEmailChanged {
    /// The address the user had.
    pub old_email: String,
    /// The address the user has now.
    pub new_email: String,
}

/// The user refused the registration or change of address its won claim led to; the saga
/// releases the claim next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEmailRefused {
    /// The address the user had claimed and now gives up.
    pub email: String,
    /// Why the user refused it.
    pub reason: String,
}

/// Saga step: create the user whose claim succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterUser {
    /// The claimed address.
    pub email: String,
    /// The user's name.
    pub display_name: String,
}

/// Saga step: move the user to a newly claimed address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeUserEmail {
    /// The claimed address.
    pub new_email: String,
}

avro_record! {
    UserRegistered => "tributary.bank.user.UserRegistered",
    UserEmailChanged => "tributary.bank.user.UserEmailChanged",
    UserEmailRefused => "tributary.bank.user.UserEmailRefused",
    RegisterUser => "tributary.bank.user.RegisterUser",
    ChangeUserEmail => "tributary.bank.user.ChangeUserEmail",
}

record_set! {
    /// Every event of the user aggregate.
    pub enum UserEvent {
        /// See [`UserRegistered`].
        Registered(UserRegistered),
        /// See [`UserEmailChanged`].
        EmailChanged(UserEmailChanged),
        /// See [`UserEmailRefused`].
        EmailRefused(UserEmailRefused),
        /// A command the aggregate refused: see [`CommandRefused`].
        CommandRefused(CommandRefused),
    }
}

record_set! {
    /// Every command the user aggregate accepts.
    pub enum UserCommand {
        /// See [`RegisterUser`].
        Register(RegisterUser),
        /// See [`ChangeUserEmail`].
        ChangeEmail(ChangeUserEmail),
    }
}
