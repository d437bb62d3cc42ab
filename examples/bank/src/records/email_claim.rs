//! Records of the e-mail claim aggregate, keyed by the normalized address: the single writer
//! that makes e-mail uniqueness race-free.

use serde::{Deserialize, Serialize};

use tributary_schemas::protocol::CommandRefused;
use tributary_schemas::{avro_record, record_set};

/// Why an address is claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClaimPurpose {
    /// A new user registers with the address.
    Registration,
    /// An existing user moves to the address.
    EmailChange,
}

/// The address now belongs to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailClaimed {
    /// The normalized address.
    pub email: String,
    /// The holder.
    pub user_id: String,
    /// Registration or change of address.
    pub purpose: ClaimPurpose,
    /// Name of the user to register (registration only).
    pub display_name: Option<String>,
}

/// A claim was refused because another user holds the address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailClaimRejected {
    /// The normalized address.
    pub email: String,
    /// The user whose claim was refused.
    pub user_id: String,
    /// The holder.
    pub claimed_by: String,
}

/// The address was given up and may be claimed again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailReleased {
    /// The normalized address.
    pub email: String,
    /// The user that released it.
    pub user_id: String,
}

/// Claim an address for a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimEmail {
    /// The user claiming the address.
    pub user_id: String,
    /// Registration or change of address.
    pub purpose: ClaimPurpose,
    /// Name of the user to register (registration only).
    pub display_name: Option<String>,
}

/// Give up an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseEmail {
    /// The user releasing the address.
    pub user_id: String,
}

avro_record! {
    EmailClaimed => "tributary.bank.emailclaim.EmailClaimed",
    EmailClaimRejected => "tributary.bank.emailclaim.EmailClaimRejected",
    EmailReleased => "tributary.bank.emailclaim.EmailReleased",
    ClaimEmail => "tributary.bank.emailclaim.ClaimEmail",
    ReleaseEmail => "tributary.bank.emailclaim.ReleaseEmail",
}

record_set! {
    /// Every event of the e-mail claim aggregate.
    pub enum EmailClaimEvent {
        /// See [`EmailClaimed`].
        Claimed(EmailClaimed),
        /// See [`EmailClaimRejected`].
        ClaimRejected(EmailClaimRejected),
        /// See [`EmailReleased`].
        Released(EmailReleased),
        /// A command the aggregate refused: see [`CommandRefused`].
        CommandRefused(CommandRefused),
    }
}

record_set! {
    /// Every command the e-mail claim aggregate accepts.
    pub enum EmailClaimCommand {
        /// See [`ClaimEmail`].
        Claim(ClaimEmail),
        /// See [`ReleaseEmail`].
        Release(ReleaseEmail),
    }
}
