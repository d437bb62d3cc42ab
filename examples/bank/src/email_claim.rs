//! The e-mail claim aggregate: one per normalized address, the single writer that makes e-mail
//! uniqueness race-free.
//!
//! Uniqueness across users cannot be decided by the user aggregate, which only sees itself.
//! Keying a claim by the address instead routes every competing claim on one address to the
//! same partition and the same writer, which decides them one after the other; the winner's
//! `EmailClaimed` then drives the user saga. A refused claim is recorded, so that the saga tells
//! the user that asked for the address that it was taken.

use crate::records::email_claim::{
    ClaimEmail, ClaimPurpose, EmailClaimCommand, EmailClaimEvent, EmailClaimRejected, EmailClaimed,
    EmailReleased, ReleaseEmail,
};
use serde::{Deserialize, Serialize};

use tributary_domain::{Aggregate, Rejection};

/// The form of an address that is its claim's aggregate ID: trimmed and lower case, so that
/// `Ann@Example.org ` and `ann@example.org` are one address and cannot be held by two users.
pub fn normalize_email(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// State of the claim on one address, stored as the JSON snapshot of the aggregate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailClaim {
    /// The normalized address; empty until it is first claimed.
    pub email: String,
    /// The user ID holding the address; `None` when it is free.
    pub holder: Option<String>,
}

/// What `decide` returns for an e-mail claim.
type Decision = Result<Option<EmailClaimEvent>, Rejection<EmailClaimEvent>>;

impl Aggregate for EmailClaim {
    const TYPE: &'static str = "email-claim";
    type Command = EmailClaimCommand;
    type Event = EmailClaimEvent;

    fn decide(&self, id: &str, command: &EmailClaimCommand) -> Decision {
        check_normalized(id)?;
        match command {
            EmailClaimCommand::Claim(claim) => self.claim(id, claim),
            EmailClaimCommand::Release(release) => self.release(id, release),
        }
    }

    fn apply(&mut self, event: &EmailClaimEvent) {
        match event {
            EmailClaimEvent::Claimed(claimed) => {
                self.email.clone_from(&claimed.email);
                self.holder = Some(claimed.user_id.clone());
            }
            // The refusal is recorded for whoever waits on the claim; the holder stays.
            EmailClaimEvent::ClaimRejected(_) => {}
            EmailClaimEvent::Released(_) => self.holder = None,
            // A refused command changes nothing.
            EmailClaimEvent::CommandRefused(_) => {}
        }
    }

    fn refusal(event: &EmailClaimEvent) -> Option<String> {
        match event {
            EmailClaimEvent::ClaimRejected(rejected) => Some(taken(&rejected.email)),
            _ => None,
        }
    }
}

/// The reason a claim on a held address is refused.
pub(crate) fn taken(email: &str) -> String {
    format!("e-mail address {email} is already taken")
}

impl EmailClaim {
    /// Gives a free address to the user; repeating the holder's claim changes nothing. (Telling
    /// the holder again would let a stray claim, sent outside the user's own requests, confirm
    /// an address to a user after that user's own release of it had been decided.)
    fn claim(&self, email: &str, claim: &ClaimEmail) -> Decision {
        check_user_id(&claim.user_id)?;
        let display_name = registration_name(claim)?;
        match &self.holder {
            Some(holder) if *holder != claim.user_id => Err(Rejection::recorded(
                taken(email),
                EmailClaimRejected {
                    email: email.to_owned(),
                    user_id: claim.user_id.clone(),
                    claimed_by: holder.clone(),
                },
            )),
            Some(_) => Ok(None),
            None => Ok(Some(
                EmailClaimed {
                    email: email.to_owned(),
                    user_id: claim.user_id.clone(),
                    purpose: claim.purpose,
                    display_name,
                }
                .into(),
            )),
        }
    }

    /// Frees the address if the user holds it. Releasing a free address, or one another user
    /// holds, changes nothing: a release step sent again late (or by a stray client of an
    /// older build) must not free what someone else holds now.
    fn release(&self, email: &str, release: &ReleaseEmail) -> Decision {
        match &self.holder {
            Some(holder) if *holder == release.user_id => Ok(Some(
                EmailReleased {
                    email: email.to_owned(),
                    user_id: release.user_id.clone(),
                }
                .into(),
            )),
            _ => Ok(None),
        }
    }
}

/// Refuses an aggregate ID that is not a normalized address: a claim under another spelling
/// would not compete with the claims on the normalized one.
fn check_normalized(id: &str) -> Result<(), Rejection<EmailClaimEvent>> {
    let normalized = normalize_email(id);
    if normalized.is_empty() {
        Err(Rejection::new("the e-mail address must not be empty"))
    } else if normalized != id {
        Err(Rejection::new(format!(
            "e-mail claim ID {id:?} is not a normalized address: send it as {normalized:?}"
        )))
    } else {
        Ok(())
    }
}

/// Refuses a claim without a user to hold the address.
fn check_user_id(user_id: &str) -> Result<(), Rejection<EmailClaimEvent>> {
    if user_id.trim().is_empty() {
        Err(Rejection::new("user_id must not be empty"))
    } else {
        Ok(())
    }
}

/// The display name the claimed event carries: required for a registration, which creates the
/// user from it, and dropped for a change of address, which has no use for it.
fn registration_name(claim: &ClaimEmail) -> Result<Option<String>, Rejection<EmailClaimEvent>> {
    match claim.purpose {
        ClaimPurpose::EmailChange => Ok(None),
        ClaimPurpose::Registration => match &claim.display_name {
            Some(name) if !name.trim().is_empty() => Ok(Some(name.clone())),
            _ => Err(Rejection::new(
                "a registration needs a non-empty display_name",
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMAIL: &str = "ann@example.org";

    fn given(events: &[EmailClaimEvent]) -> EmailClaim {
        let mut claim = EmailClaim::default();
        for event in events {
            claim.apply(event);
        }
        claim
    }

    fn claimed_by(user_id: &str) -> EmailClaimEvent {
        EmailClaimed {
            email: EMAIL.into(),
            user_id: user_id.into(),
            purpose: ClaimPurpose::Registration,
            display_name: Some("Ann".into()),
        }
        .into()
    }

    fn released_by(user_id: &str) -> EmailClaimEvent {
        EmailReleased {
            email: EMAIL.into(),
            user_id: user_id.into(),
        }
        .into()
    }

    fn register(user_id: &str, display_name: Option<&str>) -> EmailClaimCommand {
        ClaimEmail {
            user_id: user_id.into(),
            purpose: ClaimPurpose::Registration,
            display_name: display_name.map(Into::into),
        }
        .into()
    }

    fn change_to(user_id: &str) -> EmailClaimCommand {
        ClaimEmail {
            user_id: user_id.into(),
            purpose: ClaimPurpose::EmailChange,
            display_name: Some("ignored".into()),
        }
        .into()
    }

    fn release(user_id: &str) -> EmailClaimCommand {
        ReleaseEmail {
            user_id: user_id.into(),
        }
        .into()
    }

    #[test]
    fn addresses_are_normalized_by_trimming_and_lower_casing() {
        assert_eq!(normalize_email("  Ann@Example.ORG\n"), "ann@example.org");
        assert_eq!(normalize_email("ann@example.org"), "ann@example.org");
    }

    #[test]
    fn a_free_address_is_claimed_for_registration_with_the_display_name() {
        let decision = given(&[]).decide(EMAIL, &register("u-1", Some("Ann")));
        assert_eq!(decision, Ok(Some(claimed_by("u-1"))));
        let claim = given(&[claimed_by("u-1")]);
        assert_eq!(claim.holder.as_deref(), Some("u-1"));
        assert_eq!(claim.email, EMAIL);
    }

    #[test]
    fn a_free_address_is_claimed_for_a_change_without_a_display_name() {
        let decision = given(&[]).decide(EMAIL, &change_to("u-1"));
        let expected = EmailClaimed {
            email: EMAIL.into(),
            user_id: "u-1".into(),
            purpose: ClaimPurpose::EmailChange,
            display_name: None,
        };
        assert_eq!(decision, Ok(Some(expected.into())));
    }

    #[test]
    fn a_registration_without_a_display_name_is_refused() {
        for name in [None, Some(""), Some("  ")] {
            let decision = given(&[]).decide(EMAIL, &register("u-1", name));
            let rejection = decision.unwrap_err();
            assert!(rejection.reason.contains("display_name"));
            assert_eq!(rejection.recorded, None);
        }
    }

    #[test]
    fn the_holder_claiming_again_changes_nothing() {
        let claim = given(&[claimed_by("u-1")]);
        assert_eq!(claim.decide(EMAIL, &register("u-1", Some("Ann"))), Ok(None));
        assert_eq!(claim.decide(EMAIL, &change_to("u-1")), Ok(None));
    }

    #[test]
    fn a_claim_on_an_address_held_by_another_user_is_refused_and_recorded() {
        let decision = given(&[claimed_by("u-1")]).decide(EMAIL, &register("u-2", Some("Bob")));
        let expected = EmailClaimRejected {
            email: EMAIL.into(),
            user_id: "u-2".into(),
            claimed_by: "u-1".into(),
        };
        assert_eq!(
            decision,
            Err(Rejection::recorded(
                "e-mail address ann@example.org is already taken",
                expected.clone()
            ))
        );
        assert_eq!(
            EmailClaim::refusal(&expected.into()).as_deref(),
            Some("e-mail address ann@example.org is already taken")
        );
    }

    #[test]
    fn a_recorded_refusal_leaves_the_holder_in_place() {
        let rejected = EmailClaimRejected {
            email: EMAIL.into(),
            user_id: "u-2".into(),
            claimed_by: "u-1".into(),
        };
        let claim = given(&[claimed_by("u-1"), rejected.into()]);
        assert_eq!(claim, given(&[claimed_by("u-1")]));
    }

    #[test]
    fn a_claim_under_a_non_normalized_or_empty_id_is_refused() {
        let decision = given(&[]).decide("Ann@Example.org", &register("u-1", Some("Ann")));
        assert!(decision.unwrap_err().reason.contains("\"ann@example.org\""));
        assert!(
            given(&[])
                .decide("", &register("u-1", Some("Ann")))
                .is_err()
        );
    }

    #[test]
    fn a_claim_without_a_user_is_refused() {
        assert!(
            given(&[])
                .decide(EMAIL, &register(" ", Some("Ann")))
                .is_err()
        );
    }

    #[test]
    fn the_holder_releases_the_address_and_it_can_be_claimed_again() {
        let claim = given(&[claimed_by("u-1")]);
        assert_eq!(
            claim.decide(EMAIL, &release("u-1")),
            Ok(Some(released_by("u-1")))
        );
        let freed = given(&[claimed_by("u-1"), released_by("u-1")]);
        assert_eq!(freed.holder, None);
        assert!(matches!(
            freed.decide(EMAIL, &register("u-2", Some("Bob"))),
            Ok(Some(EmailClaimEvent::Claimed(_)))
        ));
    }

    #[test]
    fn releasing_a_free_address_changes_nothing() {
        assert_eq!(given(&[]).decide(EMAIL, &release("u-1")), Ok(None));
        let freed = given(&[claimed_by("u-1"), released_by("u-1")]);
        assert_eq!(freed.decide(EMAIL, &release("u-1")), Ok(None));
    }

    #[test]
    fn a_user_that_does_not_hold_the_address_releases_nothing() {
        let held = given(&[claimed_by("u-1")]);
        assert_eq!(held.decide(EMAIL, &release("u-2")), Ok(None));
    }

    #[test]
    fn the_state_round_trips_through_its_json_snapshot() {
        let claim = given(&[claimed_by("u-1")]);
        let json = serde_json::to_value(&claim).unwrap();
        assert_eq!(json, serde_json::json!({"email": EMAIL, "holder": "u-1"}));
        assert_eq!(serde_json::from_value::<EmailClaim>(json).unwrap(), claim);
    }
}
