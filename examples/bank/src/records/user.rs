//! Records of the user aggregate: a client asks for a registration or a change of address,
//! and the saga confirms or refuses it once the address's claim is decided.

use serde::{Deserialize, Serialize};

use tributary_schemas::protocol::CommandRefused;
use tributary_schemas::{avro_record, record_set};

/// A user asked to be registered with an address; the saga claims it next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRegistrationRequested {
    /// The normalized address asked for.
    pub email: String,
    /// The user's name.
    pub display_name: String,
}

/// A registered user asked to move to a new address; the saga claims it next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEmailChangeRequested {
    /// The address the user has.
    pub old_email: String,
    /// The normalized address asked for.
    pub new_email: String,
}

/// A user was registered after it won the claim on its address.
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

/// The request the user was waiting on ended without the address, because its claim was
/// refused: another user holds it. The user never held it, so nothing is released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEmailDenied {
    /// The address the user asked for.
    pub email: String,
    /// Why the claim was refused.
    pub reason: String,
}

/// The user refused an address the saga brought after the user won the claim on it; the saga
/// releases the claim next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEmailRefused {
    /// The address the user had claimed and now gives up.
    pub email: String,
    /// Why the user refused it.
    pub reason: String,
}

/// A client asks to register the user with an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestUserRegistration {
    /// The address asked for; the user normalizes it.
    pub email: String,
    /// The user's name.
    pub display_name: String,
}

/// A client asks to move a registered user to a new address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestUserEmailChange {
    /// The address asked for; the user normalizes it.
    pub new_email: String,
}

/// Saga step: the user won the claim on an address for a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterUser {
    /// The claimed address.
    pub email: String,
    /// The user's name, as the claim carries it.
    pub display_name: String,
}

/// Saga step: the user won the claim on an address for a change of address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeUserEmail {
    /// The claimed address.
    pub new_email: String,
}

/// Saga step: the claim on the address the user asked for was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenyUserEmail {
    /// The refused address.
    pub email: String,
    /// Why the claim was refused.
    pub reason: String,
}

avro_record! {
    UserRegistrationRequested => "tributary.bank.user.UserRegistrationRequested",
    UserEmailChangeRequested => "tributary.bank.user.UserEmailChangeRequested",
    UserRegistered => "tributary.bank.user.UserRegistered",
    UserEmailChanged => "tributary.bank.user.UserEmailChanged",
    UserEmailDenied => "tributary.bank.user.UserEmailDenied",
    UserEmailRefused => "tributary.bank.user.UserEmailRefused",
    RegisterUser => "tributary.bank.user.RegisterUser",
    ChangeUserEmail => "tributary.bank.user.ChangeUserEmail",
    RequestUserRegistration => "tributary.bank.user.RequestUserRegistration",
    RequestUserEmailChange => "tributary.bank.user.RequestUserEmailChange",
    DenyUserEmail => "tributary.bank.user.DenyUserEmail",
}

record_set! {
    /// Every event of the user aggregate.
    pub enum UserEvent {
        /// See [`UserRegistrationRequested`].
        RegistrationRequested(UserRegistrationRequested),
        /// See [`UserEmailChangeRequested`].
        EmailChangeRequested(UserEmailChangeRequested),
        /// See [`UserRegistered`].
        Registered(UserRegistered),
        /// See [`UserEmailChanged`].
        EmailChanged(UserEmailChanged),
        /// See [`UserEmailDenied`].
        EmailDenied(UserEmailDenied),
        /// See [`UserEmailRefused`].
        EmailRefused(UserEmailRefused),
        /// A command the aggregate refused: see [`CommandRefused`].
        CommandRefused(CommandRefused),
    }
}

record_set! {
    /// Every command the user aggregate accepts.
    pub enum UserCommand {
        /// See [`RequestUserRegistration`].
        RequestRegistration(RequestUserRegistration),
        /// See [`RequestUserEmailChange`].
        RequestEmailChange(RequestUserEmailChange),
        /// See [`RegisterUser`].
        Register(RegisterUser),
        /// See [`ChangeUserEmail`].
        ChangeEmail(ChangeUserEmail),
        /// See [`DenyUserEmail`].
        DenyEmail(DenyUserEmail),
    }
}
