//! The user aggregate: a client asks it for a registration or a change of address, and the
//! saga confirms or refuses the request once the address's claim is decided.
//!
//! The user never checks whether an address is free: the claim aggregate decides that under a
//! single writer. The user keeps what it asked for (`pending_email`) until the saga brings the
//! claim's answer, so a client that sent the request holds a consistency token of the user's
//! own topic, and a read of the user with that token shows the request and later its outcome.
//! A refused claim ends the request as `UserEmailDenied`; the user never held the address, so
//! nothing is released. A confirmation the user did not ask for is refused and recorded as
//! `UserEmailRefused`, so that the saga releases the claim it won and the address does not stay
//! taken by nobody.

use serde::{Deserialize, Serialize};
use tributary_schemas::bank::user::{
    ChangeUserEmail, ConfirmUserEmail, DenyUserEmail, RegisterUser, UserCommand,
    UserEmailChangeRequested, UserEmailChanged, UserEmailDenied, UserEmailRefused, UserEvent,
    UserRegistered, UserRegistrationRequested,
};

use crate::bank::email_claim::normalize_email;
use crate::{Aggregate, Rejection};

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
            UserCommand::Register(register) => self.register(id, register),
            UserCommand::ChangeEmail(change) => self.change_email(id, change),
            UserCommand::ConfirmEmail(confirm) => self.confirm_email(id, confirm),
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
    /// Asks for a registration with an address; the same request again changes nothing.
    fn register(&self, id: &str, register: &RegisterUser) -> Decision {
        let email = normalize_email(&register.email);
        match (self.status, &self.pending_email) {
            (UserStatus::Registered, _) if self.email == email => Ok(None),
            (UserStatus::Registered, _) => Err(Rejection::new(format!(
                "user {id} is already registered with e-mail address {}",
                self.email
            ))),
            (UserStatus::Registering, Some(pending)) if *pending == email => Ok(None),
            (UserStatus::Registering, pending) => Err(in_progress(id, "registration", pending)),
            (UserStatus::NotRegistered, _) => {
                check_not_empty("email", &email)
                    .and_then(|()| check_not_empty("display_name", &register.display_name))
                    .map_err(Rejection::new)?;
                Ok(Some(
                    UserRegistrationRequested {
                        email,
                        display_name: register.display_name.clone(),
                    }
                    .into(),
                ))
            }
        }
    }

    /// Asks to move a registered user to a new address.
    fn change_email(&self, id: &str, change: &ChangeUserEmail) -> Decision {
        let email = normalize_email(&change.new_email);
        if self.status != UserStatus::Registered {
            return Err(Rejection::new(format!(
                "user {id} is not registered, so its e-mail address cannot change"
            )));
        }
        match &self.pending_email {
            Some(pending) if *pending == email => return Ok(None),
            Some(_) => return Err(in_progress(id, "change of address", &self.pending_email)),
            None if self.email == email => return Ok(None),
            None => {}
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

    /// The saga won the claim on an address: the user is registered with it, or moves to it,
    /// if that is what it asked for; a confirmation it did not ask for is refused and recorded
    /// so that the saga gives the address up again.
    fn confirm_email(&self, id: &str, confirm: &ConfirmUserEmail) -> Decision {
        let email = &confirm.email;
        if self.pending_email.as_ref() == Some(email) {
            return Ok(Some(self.granted(email)));
        }
        if self.status == UserStatus::Registered && self.email == *email {
            return Ok(None);
        }
        let reason = format!("user {id} has not asked for e-mail address {email}");
        Err(Rejection::recorded(
            reason.clone(),
            UserEmailRefused {
                email: email.clone(),
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

/// The refusal of a request while another one of the user is still being decided.
fn in_progress(id: &str, what: &str, pending: &Option<String>) -> Rejection<UserEvent> {
    let pending = pending.as_deref().unwrap_or_default();
    Rejection::new(format!(
        "a {what} of user {id} with e-mail address {pending} is in progress; retry once it has ended"
    ))
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

    fn requested() -> UserEvent {
        UserRegistrationRequested {
            email: ANN.into(),
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

    fn register(email: &str, display_name: &str) -> UserCommand {
        RegisterUser {
            email: email.into(),
            display_name: display_name.into(),
        }
        .into()
    }

    fn change_to(new_email: &str) -> UserCommand {
        ChangeUserEmail {
            new_email: new_email.into(),
        }
        .into()
    }

    fn confirm(email: &str) -> UserCommand {
        ConfirmUserEmail {
            email: email.into(),
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
        let decision = given(&[]).decide(ID, &register(" Ann@Example.org ", "Ann"));
        assert_eq!(decision, Ok(Some(requested())));
        let user = given(&[requested()]);
        assert_eq!(user.status, UserStatus::Registering);
        assert_eq!(user.pending_email.as_deref(), Some(ANN));
        assert_eq!(user.email, "");
    }

    #[test]
    fn the_won_claim_registers_the_user() {
        let user = given(&[requested()]);
        assert_eq!(user.decide(ID, &confirm(ANN)), Ok(Some(registered())));
        let user = given(&[requested(), registered()]);
        assert_eq!(user.status, UserStatus::Registered);
        assert_eq!(user.email, ANN);
        assert_eq!(user.display_name, "Ann");
        assert_eq!(user.pending_email, None);
    }

    #[test]
    fn a_denied_claim_ends_the_registration_and_says_why() {
        let user = given(&[requested()]);
        let rejection = user.decide(ID, &deny(ANN)).unwrap_err();
        assert_eq!(rejection.recorded, Some(denied(ANN, "taken")));
        let user = given(&[requested(), denied(ANN, "taken")]);
        assert_eq!(user.status, UserStatus::NotRegistered);
        assert_eq!(user.pending_email, None);
        assert_eq!(user.refusal.as_deref(), Some("taken"));
        // It may ask again, which clears the refusal.
        let again = user.decide(ID, &register("ann@other.example", "Ann"));
        assert!(matches!(
            again,
            Ok(Some(UserEvent::RegistrationRequested(_)))
        ));
    }

    #[test]
    fn the_same_request_again_changes_nothing_and_another_waits_for_the_first() {
        assert_eq!(
            given(&[requested()]).decide(ID, &register(ANN, "Ann")),
            Ok(None)
        );
        let other = given(&[requested()]).decide(ID, &register("bob@example.org", "Bob"));
        assert!(other.unwrap_err().reason.contains("in progress"));
        let done = [requested(), registered()];
        assert_eq!(given(&done).decide(ID, &register(ANN, "Other")), Ok(None));
        let rejection = given(&done)
            .decide(ID, &register("bob@example.org", "Bob"))
            .unwrap_err();
        assert_eq!(
            rejection.reason,
            "user u-1 is already registered with e-mail address ann@example.org"
        );
        assert_eq!(rejection.recorded, None);
    }

    #[test]
    fn a_registration_with_a_blank_address_or_name_is_refused() {
        assert!(given(&[]).decide(ID, &register("", "Ann")).is_err());
        assert!(given(&[]).decide(ID, &register(ANN, " ")).is_err());
    }

    #[test]
    fn a_registered_user_asks_for_a_new_address_and_moves_once_it_is_won() {
        let user = given(&[requested(), registered()]);
        let decision = user.decide(ID, &change_to("Ann@New.example"));
        assert_eq!(decision, Ok(Some(change_requested("ann@new.example"))));
        let user = given(&[
            requested(),
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
            user.decide(ID, &confirm("ann@new.example")),
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
            requested(),
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
    fn moving_to_the_current_or_pending_address_changes_nothing() {
        let user = given(&[requested(), registered()]);
        assert_eq!(user.decide(ID, &change_to(ANN)), Ok(None));
        let pending = given(&[requested(), registered(), change_requested("b@example.org")]);
        assert_eq!(pending.decide(ID, &change_to("b@example.org")), Ok(None));
        let other = pending.decide(ID, &change_to("c@example.org")).unwrap_err();
        assert!(other.reason.contains("in progress"), "{}", other.reason);
    }

    #[test]
    fn an_unregistered_user_cannot_change_address() {
        let rejection = given(&[])
            .decide(ID, &change_to("ann@new.example"))
            .unwrap_err();
        assert!(rejection.reason.contains("not registered"));
        assert_eq!(rejection.recorded, None);
    }

    #[test]
    fn a_confirmation_not_asked_for_is_refused_and_recorded_and_changes_nothing() {
        let user = given(&[requested()]);
        let rejection = user.decide(ID, &confirm("bob@example.org")).unwrap_err();
        assert!(
            matches!(&rejection.recorded, Some(UserEvent::EmailRefused(r)) if r.email == "bob@example.org"),
            "{rejection:?}"
        );
        let mut after = user.clone();
        after.apply(&rejection.recorded.unwrap());
        assert_eq!(after, user, "the pending registration is untouched");
        let registered = given(&[requested(), registered()]);
        assert_eq!(registered.decide(ID, &confirm(ANN)), Ok(None));
    }

    #[test]
    fn a_denial_of_an_address_not_pending_changes_nothing() {
        let user = given(&[requested(), registered()]);
        assert_eq!(user.decide(ID, &deny("bob@example.org")), Ok(None));
    }

    #[test]
    fn the_state_round_trips_through_its_json_snapshot() {
        let user = given(&[requested(), registered()]);
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
