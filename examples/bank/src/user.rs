//! The user aggregate: a client asks it for a registration or a change of address
//! (`RequestUserRegistration`, `RequestUserEmailChange`), and the saga confirms the request
//! once the address's claim is won (`RegisterUser`, `ChangeUserEmail`, the same steps a build
//! before requests took after a client's own claim) or denies it (`DenyUserEmail`).
//!
//! The user never checks whether an address is free: the claim aggregate decides that under a
//! single writer. The user keeps what it asked for (`pending_email`) until the saga brings the
//! claim's answer, so a client that sent the request holds a consistency token of the user's
//! own topic, and a read of the user with that token shows the request and later its outcome.
//! A refused claim ends the request as `UserEmailDenied`; the user never held the address, so
//! nothing is released. A confirmation the user did not ask for is refused and recorded as
//! `UserEmailRefused`, so that the saga releases the claim it won and the address does not stay
//! taken by nobody.

use crate::records::user::{
    DenyUserEmail, RequestUserEmailChange, RequestUserRegistration, UserCommand,
    UserEmailChangeRequested, UserEmailChanged, UserEmailDenied, UserEmailRefused, UserEvent,
    UserRegistered, UserRegistrationRequested,
};
use serde::{Deserialize, Serialize};

use crate::email_claim::normalize_email;
use tributary_domain::{Aggregate, Rejection};

/// Where a user is in its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// Not registered: the state of every user ID before its first event, and after a
    /// registration that was refused.
    #[default]
    NotRegistered,
    /// Asked to be registered; the claim on its address is being decided.
    Registering,
    /// Registered with the address it won.
    Registered,
}

/// State of one user, stored as the JSON snapshot of the aggregate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct User {
    /// Where the user is in its life.
    pub status: UserStatus,
    /// The normalized address the user holds; empty until registered.
    pub email: String,
    /// The user's name as given with the registration request.
    pub display_name: String,
    /// The address the user asked for and whose claim is being decided, if any.
    pub pending_email: Option<String>,
    /// Why the latest request ended without its address, until the next request.
    pub refusal: Option<String>,
}

/// What `decide` returns for a user.
type Decision = Result<Option<UserEvent>, Rejection<UserEvent>>;

impl Aggregate for User {
    const TYPE: &'static str = "user";
    type Command = UserCommand;
    type Event = UserEvent;

    fn decide(&self, id: &str, command: &UserCommand) -> Decision {
        match command {
            UserCommand::RequestRegistration(request) => self.request_registration(id, request),
            UserCommand::RequestEmailChange(request) => self.request_email_change(id, request),
            UserCommand::Register(register) => {
                self.confirm(id, &register.email, Some(&register.display_name))
            }
            UserCommand::ChangeEmail(change) => self.confirm(id, &change.new_email, None),
            UserCommand::DenyEmail(deny) => self.deny_email(deny),
        }
    }

    fn apply(&mut self, event: &UserEvent) {
        match event {
            UserEvent::RegistrationRequested(requested) => {
                self.status = UserStatus::Registering;
                self.pending_email = Some(requested.email.clone());
                self.display_name.clone_from(&requested.display_name);
                self.refusal = None;
            }
            UserEvent::EmailChangeRequested(requested) => {
                self.pending_email = Some(requested.new_email.clone());
                self.refusal = None;
            }
            UserEvent::Registered(registered) => {
                self.status = UserStatus::Registered;
                self.email.clone_from(&registered.email);
                self.display_name.clone_from(&registered.display_name);
                self.pending_email = None;
            }
            UserEvent::EmailChanged(changed) => {
                self.email.clone_from(&changed.new_email);
                self.pending_email = None;
            }
            UserEvent::EmailDenied(denied) => {
                self.end_request_without(&denied.email, &denied.reason)
            }
            UserEvent::EmailRefused(refused) => {
                self.end_request_without(&refused.email, &refused.reason)
            }
            // A refused command changes nothing.
            UserEvent::CommandRefused(_) => {}
        }
    }

    fn refusal(event: &UserEvent) -> Option<String> {
        match event {
            UserEvent::EmailDenied(denied) => Some(denied.reason.clone()),
            UserEvent::EmailRefused(refused) => Some(refused.reason.clone()),
            _ => None,
        }
    }
}

impl User {
    /// Asks for a registration with an address. A request while another is pending replaces
    /// it (and drives the saga again, should the first claim step have been lost); a
    /// registered user asking for its own address again changes nothing.
    fn request_registration(&self, id: &str, request: &RequestUserRegistration) -> Decision {
        let email = normalize_email(&request.email);
        if self.status == UserStatus::Registered {
            return if self.email == email {
                Ok(None)
            } else {
                Err(Rejection::new(format!(
                    "user {id} is already registered with e-mail address {}",
                    self.email
                )))
            };
        }
        check_not_empty("email", &email)
            .and_then(|()| check_not_empty("display_name", &request.display_name))
            .map_err(Rejection::new)?;
        Ok(Some(
            UserRegistrationRequested {
                email,
                display_name: request.display_name.clone(),
            }
            .into(),
        ))
    }

    /// Asks to move a registered user to a new address; a request while another is pending
    /// replaces it.
    fn request_email_change(&self, id: &str, request: &RequestUserEmailChange) -> Decision {
        let email = normalize_email(&request.new_email);
        if self.status != UserStatus::Registered {
            return Err(Rejection::new(format!(
                "user {id} is not registered, so its e-mail address cannot change"
            )));
        }
        if self.email == email {
            return match &self.pending_email {
                None => Ok(None),
                Some(pending) => Err(Rejection::new(format!(
                    "a change of address of user {id} to {pending} is in progress; ask for another address to replace it"
                ))),
            };
        }
        check_not_empty("new_email", &email).map_err(Rejection::new)?;
        Ok(Some(
            UserEmailChangeRequested {
                old_email: self.email.clone(),
                new_email: email,
            }
            .into(),
        ))
    }

    /// The saga won the claim on `email` (for a registration when `display_name` is given, for
    /// a change of address otherwise): the user gets the address if it asked for it, or if it
    /// asked for nothing and the claim's purpose fits (a claim sent by a client of a build
    /// before requests went through the user). Any other won claim is refused and recorded,
    /// so that the saga gives the address up again.
    fn confirm(&self, id: &str, email: &str, display_name: Option<&str>) -> Decision {
        if self.pending_email.as_deref() == Some(email) {
            return Ok(Some(self.granted(email)));
        }
        if self.status == UserStatus::Registered && self.email == email {
            return Ok(None);
        }
        let unrequested = match (self.status, display_name) {
            _ if self.pending_email.is_some() => None,
            (UserStatus::NotRegistered, Some(name)) if !name.trim().is_empty() => Some(
                UserRegistered {
                    email: email.to_owned(),
                    display_name: name.to_owned(),
                }
                .into(),
            ),
            (UserStatus::Registered, None) => Some(
                UserEmailChanged {
                    old_email: self.email.clone(),
                    new_email: email.to_owned(),
                }
                .into(),
            ),
            _ => None,
        };
        if let Some(event) = unrequested {
            return Ok(Some(event));
        }
        let reason = format!("user {id} has not asked for e-mail address {email}");
        Err(Rejection::recorded(
            reason.clone(),
            UserEmailRefused {
                email: email.to_owned(),
                reason,
            },
        ))
    }

    /// The event that gives the user the address it asked for.
    fn granted(&self, email: &str) -> UserEvent {
        if self.status == UserStatus::Registering {
            UserRegistered {
                email: email.to_owned(),
                display_name: self.display_name.clone(),
            }
            .into()
        } else {
            UserEmailChanged {
                old_email: self.email.clone(),
                new_email: email.to_owned(),
            }
            .into()
        }
    }

    /// The saga lost the claim on the address the user asked for: the request ends without
    /// it. A denial of an address the user is not waiting for changes nothing.
    fn deny_email(&self, deny: &DenyUserEmail) -> Decision {
        if self.pending_email.as_ref() != Some(&deny.email) {
            return Ok(None);
        }
        Err(Rejection::recorded(
            deny.reason.clone(),
            UserEmailDenied {
                email: deny.email.clone(),
                reason: deny.reason.clone(),
            },
        ))
    }

    /// Ends the pending request for `email`, if that is the pending one, saying why.
    fn end_request_without(&mut self, email: &str, reason: &str) {
        if self.pending_email.as_deref() != Some(email) {
            return;
        }
        self.pending_email = None;
        self.refusal = Some(reason.to_owned());
        if self.status == UserStatus::Registering {
            self.status = UserStatus::NotRegistered;
        }
    }
}

/// Refuses a blank value for the field `name`.
fn check_not_empty(name: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err(format!("{name} must not be empty"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::records::user::{ChangeUserEmail, RegisterUser};

    use super::*;

    const ID: &str = "u-1";
    const ANN: &str = "ann@example.org";

    fn given(events: &[UserEvent]) -> User {
        let mut user = User::default();
        for event in events {
            user.apply(event);
        }
        user
    }

    fn requested(email: &str) -> UserEvent {
        UserRegistrationRequested {
            email: email.into(),
            display_name: "Ann".into(),
        }
        .into()
    }

    fn registered() -> UserEvent {
        UserRegistered {
            email: ANN.into(),
            display_name: "Ann".into(),
        }
        .into()
    }

    fn change_requested(new_email: &str) -> UserEvent {
        UserEmailChangeRequested {
            old_email: ANN.into(),
            new_email: new_email.into(),
        }
        .into()
    }

    fn denied(email: &str, reason: &str) -> UserEvent {
        UserEmailDenied {
            email: email.into(),
            reason: reason.into(),
        }
        .into()
    }

    fn request_registration(email: &str, display_name: &str) -> UserCommand {
        RequestUserRegistration {
            email: email.into(),
            display_name: display_name.into(),
        }
        .into()
    }

    fn request_change(new_email: &str) -> UserCommand {
        RequestUserEmailChange {
            new_email: new_email.into(),
        }
        .into()
    }

    /// The saga's step after a won registration claim.
    fn won_registration(email: &str, display_name: &str) -> UserCommand {
        RegisterUser {
            email: email.into(),
            display_name: display_name.into(),
        }
        .into()
    }

    /// The saga's step after a won change claim.
    fn won_change(new_email: &str) -> UserCommand {
        ChangeUserEmail {
            new_email: new_email.into(),
        }
        .into()
    }

    fn deny(email: &str) -> UserCommand {
        DenyUserEmail {
            email: email.into(),
            reason: "taken".into(),
        }
        .into()
    }

    #[test]
    fn a_registration_is_asked_for_with_the_normalized_address() {
        let decision = given(&[]).decide(ID, &request_registration(" Ann@Example.org ", "Ann"));
        assert_eq!(decision, Ok(Some(requested(ANN))));
        let user = given(&[requested(ANN)]);
        assert_eq!(user.status, UserStatus::Registering);
        assert_eq!(user.pending_email.as_deref(), Some(ANN));
        assert_eq!(user.email, "");
    }

    #[test]
    fn the_won_claim_registers_the_user() {
        let user = given(&[requested(ANN)]);
        let decision = user.decide(ID, &won_registration(ANN, "Ann"));
        assert_eq!(decision, Ok(Some(registered())));
        let user = given(&[requested(ANN), registered()]);
        assert_eq!(user.status, UserStatus::Registered);
        assert_eq!(user.email, ANN);
        assert_eq!(user.display_name, "Ann");
        assert_eq!(user.pending_email, None);
    }

    #[test]
    fn a_denied_claim_ends_the_registration_and_says_why() {
        let user = given(&[requested(ANN)]);
        let rejection = user.decide(ID, &deny(ANN)).unwrap_err();
        assert_eq!(rejection.recorded, Some(denied(ANN, "taken")));
        let user = given(&[requested(ANN), denied(ANN, "taken")]);
        assert_eq!(user.status, UserStatus::NotRegistered);
        assert_eq!(user.pending_email, None);
        assert_eq!(user.refusal.as_deref(), Some("taken"));
        // It may ask again, which clears the refusal.
        let again = user.decide(ID, &request_registration("ann@other.example", "Ann"));
        assert!(matches!(
            again,
            Ok(Some(UserEvent::RegistrationRequested(_)))
        ));
    }

    #[test]
    fn a_new_request_while_one_is_pending_replaces_it() {
        let pending = given(&[requested(ANN)]);
        for email in [ANN, "bob@example.org"] {
            let decision = pending.decide(ID, &request_registration(email, "Ann"));
            assert_eq!(decision, Ok(Some(requested(email))), "{email}");
        }
        // The first request's claim, won late, is refused: the user asked for another one.
        let replaced = given(&[requested(ANN), requested("bob@example.org")]);
        let late = replaced
            .decide(ID, &won_registration(ANN, "Ann"))
            .unwrap_err();
        assert!(
            matches!(late.recorded, Some(UserEvent::EmailRefused(_))),
            "{late:?}"
        );
    }

    #[test]
    fn a_registered_user_asking_for_its_address_changes_nothing_and_another_is_refused() {
        let done = [requested(ANN), registered()];
        assert_eq!(
            given(&done).decide(ID, &request_registration(ANN, "Other")),
            Ok(None)
        );
        let rejection = given(&done)
            .decide(ID, &request_registration("bob@example.org", "Bob"))
            .unwrap_err();
        assert_eq!(
            rejection.reason,
            "user u-1 is already registered with e-mail address ann@example.org"
        );
        assert_eq!(rejection.recorded, None);
    }

    #[test]
    fn a_registration_with_a_blank_address_or_name_is_refused() {
        assert!(
            given(&[])
                .decide(ID, &request_registration("", "Ann"))
                .is_err()
        );
        assert!(
            given(&[])
                .decide(ID, &request_registration(ANN, " "))
                .is_err()
        );
    }

    #[test]
    fn a_registered_user_asks_for_a_new_address_and_moves_once_it_is_won() {
        let user = given(&[requested(ANN), registered()]);
        let decision = user.decide(ID, &request_change("Ann@New.example"));
        assert_eq!(decision, Ok(Some(change_requested("ann@new.example"))));
        let user = given(&[
            requested(ANN),
            registered(),
            change_requested("ann@new.example"),
        ]);
        assert_eq!(
            user.email, ANN,
            "the user keeps its address until the claim is won"
        );
        let expected = UserEmailChanged {
            old_email: ANN.into(),
            new_email: "ann@new.example".into(),
        };
        assert_eq!(
            user.decide(ID, &won_change("ann@new.example")),
            Ok(Some(expected.clone().into()))
        );
        let mut moved = user.clone();
        moved.apply(&expected.into());
        assert_eq!(moved.email, "ann@new.example");
        assert_eq!(moved.pending_email, None);
    }

    #[test]
    fn a_denied_change_keeps_the_old_address() {
        let events = [
            requested(ANN),
            registered(),
            change_requested("ann@new.example"),
            denied("ann@new.example", "taken"),
        ];
        let user = given(&events);
        assert_eq!(user.status, UserStatus::Registered);
        assert_eq!(user.email, ANN);
        assert_eq!(user.pending_email, None);
        assert_eq!(user.refusal.as_deref(), Some("taken"));
    }

    #[test]
    fn asking_to_move_to_the_current_address_changes_nothing_unless_a_move_is_pending() {
        let user = given(&[requested(ANN), registered()]);
        assert_eq!(user.decide(ID, &request_change(ANN)), Ok(None));
        let pending = given(&[
            requested(ANN),
            registered(),
            change_requested("b@example.org"),
        ]);
        let stay = pending.decide(ID, &request_change(ANN)).unwrap_err();
        assert!(stay.reason.contains("in progress"), "{}", stay.reason);
        let other = pending.decide(ID, &request_change("c@example.org"));
        assert_eq!(other, Ok(Some(change_requested("c@example.org"))));
    }

    #[test]
    fn an_unregistered_user_cannot_ask_for_a_new_address() {
        let rejection = given(&[])
            .decide(ID, &request_change("ann@new.example"))
            .unwrap_err();
        assert!(rejection.reason.contains("not registered"));
        assert_eq!(rejection.recorded, None);
    }

    #[test]
    fn a_won_claim_of_a_client_of_an_older_build_registers_or_moves_a_user_that_asked_for_nothing()
    {
        assert_eq!(
            given(&[]).decide(ID, &won_registration(ANN, "Ann")),
            Ok(Some(registered()))
        );
        let moved = UserEmailChanged {
            old_email: ANN.into(),
            new_email: "b@example.org".into(),
        };
        assert_eq!(
            given(&[registered()]).decide(ID, &won_change("b@example.org")),
            Ok(Some(moved.into()))
        );
    }

    #[test]
    fn a_won_claim_that_does_not_fit_is_refused_and_recorded_and_changes_nothing() {
        let cases = [
            (
                vec![requested(ANN)],
                won_registration("bob@example.org", "Bob"),
            ),
            (
                vec![registered()],
                won_registration("bob@example.org", "Bob"),
            ),
            (vec![], won_change("bob@example.org")),
        ];
        for (history, step) in cases {
            let user = given(&history);
            let rejection = user.decide(ID, &step).unwrap_err();
            assert!(
                matches!(&rejection.recorded, Some(UserEvent::EmailRefused(r)) if r.email == "bob@example.org"),
                "{rejection:?}"
            );
            let mut after = user.clone();
            after.apply(&rejection.recorded.unwrap());
            assert_eq!(after, user, "the user is untouched");
        }
        let registered = given(&[requested(ANN), registered()]);
        assert_eq!(
            registered.decide(ID, &won_registration(ANN, "Ann")),
            Ok(None)
        );
    }

    #[test]
    fn a_denial_of_an_address_not_pending_changes_nothing() {
        let user = given(&[requested(ANN), registered()]);
        assert_eq!(user.decide(ID, &deny("bob@example.org")), Ok(None));
    }

    #[test]
    fn the_state_round_trips_through_its_json_snapshot() {
        let user = given(&[requested(ANN), registered()]);
        let json = serde_json::to_value(&user).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"status": "registered", "email": ANN, "display_name": "Ann", "pending_email": null, "refusal": null})
        );
        assert_eq!(serde_json::from_value::<User>(json).unwrap(), user);
        let before_requests =
            serde_json::json!({"status": "registered", "email": ANN, "display_name": "Ann"});
        assert_eq!(
            serde_json::from_value::<User>(before_requests).unwrap(),
            user
        );
    }
}
