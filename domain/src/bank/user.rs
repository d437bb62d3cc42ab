//! The user aggregate: created, and moved to a new address, only by the saga after the user
//! won the e-mail claim on that address.
//!
//! The user never checks whether an address is free: the claim aggregate already decided that
//! under a single writer. So the user's rules are only about its own life — it is registered
//! once, and a repeated saga step (the same address again) changes nothing. A step it refuses
//! is recorded as `UserEmailRefused`, naming the address, so that the saga releases the claim
//! the user won and the address does not stay taken by nobody.

use serde::{Deserialize, Serialize};
use tributary_schemas::bank::user::{
    ChangeUserEmail, RegisterUser, UserCommand, UserEmailChanged, UserEmailRefused, UserEvent,
    UserRegistered,
};

use crate::{Aggregate, Rejection};

/// Where a user is in its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// No `UserRegistered` yet: the state of every user ID before its first event.
    #[default]
    NotRegistered,
    /// Created from a won registration claim.
    Registered,
}

/// State of one user, stored as the JSON snapshot of the aggregate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Where the user is in its life.
    pub status: UserStatus,
    /// The user's normalized address; empty until registered.
    pub email: String,
    /// The user's name as given at registration; empty until registered.
    pub display_name: String,
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
        }
    }

    fn apply(&mut self, event: &UserEvent) {
        match event {
            UserEvent::Registered(registered) => {
                self.status = UserStatus::Registered;
                self.email.clone_from(&registered.email);
                self.display_name.clone_from(&registered.display_name);
            }
            UserEvent::EmailChanged(changed) => self.email.clone_from(&changed.new_email),
            // A refused command changes nothing.
            UserEvent::EmailRefused(_) | UserEvent::CommandRefused(_) => {}
        }
    }

    fn refusal(event: &UserEvent) -> Option<String> {
        match event {
            UserEvent::EmailRefused(refused) => Some(refused.reason.clone()),
            _ => None,
        }
    }
}

impl User {
    /// Creates the user once; the same registration again changes nothing.
    fn register(&self, id: &str, register: &RegisterUser) -> Decision {
        if self.status == UserStatus::Registered {
            return if self.email == register.email {
                Ok(None)
            } else {
                Err(refused(
                    &register.email,
                    format!(
                        "user {id} is already registered with e-mail address {}",
                        self.email
                    ),
                ))
            };
        }
        check_not_empty("email", &register.email)
            .and_then(|()| check_not_empty("display_name", &register.display_name))
            .map_err(|reason| refused(&register.email, reason))?;
        Ok(Some(
            UserRegistered {
                email: register.email.clone(),
                display_name: register.display_name.clone(),
            }
            .into(),
        ))
    }

    /// Moves a registered user to the address it has claimed.
    fn change_email(&self, id: &str, change: &ChangeUserEmail) -> Decision {
        if self.status != UserStatus::Registered {
            return Err(refused(
                &change.new_email,
                format!("user {id} is not registered, so its e-mail address cannot change"),
            ));
        }
        if self.email == change.new_email {
            return Ok(None);
        }
        check_not_empty("new_email", &change.new_email)
            .map_err(|reason| refused(&change.new_email, reason))?;
        Ok(Some(
            UserEmailChanged {
                old_email: self.email.clone(),
                new_email: change.new_email.clone(),
            }
            .into(),
        ))
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

/// The refusal of a step that brought the user the address `email` it claimed, recorded so the
/// saga releases the claim.
fn refused(email: &str, reason: String) -> Rejection<UserEvent> {
    Rejection::recorded(
        reason.clone(),
        UserEmailRefused {
            email: email.to_owned(),
            reason,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "u-1";

    fn given(events: &[UserEvent]) -> User {
        let mut user = User::default();
        for event in events {
            user.apply(event);
        }
        user
    }

    fn registered() -> UserEvent {
        UserRegistered {
            email: "ann@example.org".into(),
            display_name: "Ann".into(),
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

    #[test]
    fn a_new_user_registers_with_address_and_name() {
        let decision = given(&[]).decide(ID, &register("ann@example.org", "Ann"));
        assert_eq!(decision, Ok(Some(registered())));
        let user = given(&[registered()]);
        assert_eq!(user.status, UserStatus::Registered);
        assert_eq!(user.email, "ann@example.org");
        assert_eq!(user.display_name, "Ann");
    }

    #[test]
    fn registering_again_with_the_same_address_changes_nothing() {
        let decision = given(&[registered()]).decide(ID, &register("ann@example.org", "Other"));
        assert_eq!(decision, Ok(None));
    }

    #[test]
    fn registering_again_with_another_address_is_refused() {
        let decision = given(&[registered()]).decide(ID, &register("bob@example.org", "Bob"));
        let rejection = decision.unwrap_err();
        assert_eq!(
            rejection.reason,
            "user u-1 is already registered with e-mail address ann@example.org"
        );
        let recorded = UserEmailRefused {
            email: "bob@example.org".into(),
            reason: rejection.reason.clone(),
        };
        assert_eq!(rejection.recorded, Some(recorded.into()));
    }

    #[test]
    fn a_registration_with_a_blank_address_or_name_is_refused() {
        assert!(given(&[]).decide(ID, &register("", "Ann")).is_err());
        assert!(
            given(&[])
                .decide(ID, &register("ann@example.org", " "))
                .is_err()
        );
    }

    #[test]
    fn a_registered_user_moves_to_a_new_address() {
        let decision = given(&[registered()]).decide(ID, &change_to("ann@new.example"));
        let expected = UserEmailChanged {
            old_email: "ann@example.org".into(),
            new_email: "ann@new.example".into(),
        };
        assert_eq!(decision, Ok(Some(expected.clone().into())));
        let user = given(&[registered(), expected.into()]);
        assert_eq!(user.email, "ann@new.example");
        assert_eq!(user.display_name, "Ann");
    }

    #[test]
    fn moving_to_the_current_address_changes_nothing() {
        let decision = given(&[registered()]).decide(ID, &change_to("ann@example.org"));
        assert_eq!(decision, Ok(None));
    }

    #[test]
    fn an_unregistered_user_cannot_change_address() {
        let rejection = given(&[])
            .decide(ID, &change_to("ann@new.example"))
            .unwrap_err();
        assert!(rejection.reason.contains("not registered"));
        assert!(
            matches!(&rejection.recorded, Some(UserEvent::EmailRefused(r)) if r.email == "ann@new.example"),
            "{rejection:?}"
        );
    }

    #[test]
    fn the_state_round_trips_through_its_json_snapshot() {
        let user = given(&[registered()]);
        let json = serde_json::to_value(&user).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"status": "registered", "email": "ann@example.org", "display_name": "Ann"})
        );
        assert_eq!(serde_json::from_value::<User>(json).unwrap(), user);
    }
}
