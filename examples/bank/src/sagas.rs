//! The bank's processes that span aggregates: the transfer saga (debit the source, credit the
//! target, refund on a refused credit, end the transfer) and the user saga (claim the address
//! a user asked for, confirm or refuse the request once the claim is decided, then release the
//! address the user no longer uses).
//!
//! Both are one stateless reaction per event: every event carries what the next step needs
//! (see docs/ARCHITECTURE.md), so the runner keeps nothing but its consumer offsets. Command
//! IDs come from [`step_command_id`] over the saga's ID and the step's name, so an event
//! delivered twice yields the same command ID and the processor drops the duplicate.

use crate::records::account::{
    AccountEvent, CreditForTransfer, DebitForTransfer, RefundForTransfer,
};
use crate::records::email_claim::{
    ClaimEmail, ClaimPurpose, EmailClaimEvent, EmailClaimRejected, EmailClaimed, ReleaseEmail,
};
use crate::records::transfer::{
    CompleteTransfer, FailTransfer, RecordSourceDebited, TransferEvent,
};
use crate::records::user::{ChangeUserEmail, DenyUserEmail, RegisterUser, UserEvent};

use super::email_claim::taken;
use super::{BankCommand, BankEvent};
use tributary_domain::{Saga, SagaStep, step_command_id};

/// Every saga of the bank, as one reaction over the events of all its aggregates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BankSaga;

impl Saga for BankSaga {
    type Event = BankEvent;
    type Command = BankCommand;

    fn react(
        &self,
        aggregate_id: &str,
        version: u64,
        event: &BankEvent,
    ) -> Vec<SagaStep<BankCommand>> {
        let step = match event {
            BankEvent::Transfer(event) => react_to_transfer(aggregate_id, event),
            BankEvent::Account(event) => react_to_account(event),
            BankEvent::EmailClaim(event) => react_to_claim(version, event),
            BankEvent::User(event) => react_to_user(aggregate_id, version, event),
        };
        step.into_iter().collect()
    }
}

/// A step of saga `saga_id` named `step`, sending `command` to `aggregate_id`.
fn step(
    saga_id: &str,
    step: &str,
    aggregate_id: &str,
    command: BankCommand,
) -> SagaStep<BankCommand> {
    SagaStep {
        command_id: step_command_id(saga_id, step),
        aggregate_id: aggregate_id.to_owned(),
        command,
    }
}

/// The transfer saga's steps driven by the transfer itself (saga ID = transfer ID).
fn react_to_transfer(transfer_id: &str, event: &TransferEvent) -> Option<SagaStep<BankCommand>> {
    match event {
        TransferEvent::Requested(requested) => Some(step(
            transfer_id,
            "debit",
            &requested.source_account_id,
            BankCommand::Account(
                DebitForTransfer {
                    transfer_id: transfer_id.to_owned(),
                    amount: requested.amount,
                    currency: requested.currency.clone(),
                }
                .into(),
            ),
        )),
        TransferEvent::SourceDebited(debited) => Some(step(
            transfer_id,
            "credit",
            &debited.target_account_id,
            BankCommand::Account(
                CreditForTransfer {
                    transfer_id: transfer_id.to_owned(),
                    source_account_id: debited.source_account_id.clone(),
                    amount: debited.amount,
                    currency: debited.currency.clone(),
                }
                .into(),
            ),
        )),
        TransferEvent::Completed(_)
        | TransferEvent::Failed(_)
        | TransferEvent::CommandRefused(_) => None,
    }
}

/// The transfer saga's steps driven by the accounts' answers; every such event names its
/// transfer, which is the saga's ID.
///
/// "fail" is one step name for both ways a transfer fails: only one of them can happen to a
/// transfer (a refused debit is never refunded), and sharing the name makes a second failure
/// of the same transfer a duplicate command.
fn react_to_account(event: &AccountEvent) -> Option<SagaStep<BankCommand>> {
    match event {
        AccountEvent::DebitedForTransfer(debited) => Some(step(
            &debited.transfer_id,
            "record-debit",
            &debited.transfer_id,
            BankCommand::Transfer(RecordSourceDebited {}.into()),
        )),
        AccountEvent::TransferDebitRejected(rejected) => Some(fail_transfer(
            &rejected.transfer_id,
            &rejected.reason,
            false,
        )),
        AccountEvent::CreditedForTransfer(credited) => Some(step(
            &credited.transfer_id,
            "complete",
            &credited.transfer_id,
            BankCommand::Transfer(CompleteTransfer {}.into()),
        )),
        AccountEvent::TransferCreditRejected(rejected) => Some(step(
            &rejected.transfer_id,
            "refund",
            &rejected.source_account_id,
            BankCommand::Account(
                RefundForTransfer {
                    transfer_id: rejected.transfer_id.clone(),
                    amount: rejected.amount,
                    reason: rejected.reason.clone(),
                }
                .into(),
            ),
        )),
        AccountEvent::RefundedForTransfer(refunded) => {
            Some(fail_transfer(&refunded.transfer_id, &refunded.reason, true))
        }
        AccountEvent::Opened(_)
        | AccountEvent::Deposited(_)
        | AccountEvent::Withdrawn(_)
        | AccountEvent::Closed(_)
        | AccountEvent::CommandRefused(_) => None,
    }
}

/// The last step of a transfer that did not happen.
fn fail_transfer(transfer_id: &str, reason: &str, compensated: bool) -> SagaStep<BankCommand> {
    step(
        transfer_id,
        "fail",
        transfer_id,
        BankCommand::Transfer(
            FailTransfer {
                reason: reason.to_owned(),
                compensated,
            }
            .into(),
        ),
    )
}

/// The user saga's step after a claim was decided: confirm the request to the user, or tell
/// it the address was refused (saga ID = user ID; the step names the address and the claim's
/// version, because one user may claim the same address more than once over its life).
fn react_to_claim(version: u64, event: &EmailClaimEvent) -> Option<SagaStep<BankCommand>> {
    match event {
        EmailClaimEvent::Claimed(claimed) => Some(confirm_claim(claimed, version)),
        EmailClaimEvent::ClaimRejected(rejected) => Some(deny_claim(rejected, version)),
        EmailClaimEvent::Released(_) | EmailClaimEvent::CommandRefused(_) => None,
    }
}

/// The won claim confirmed to the user that asked for it: registered with the address, or
/// moved to it (the same steps, and step names, as before requests went through the user).
fn confirm_claim(claimed: &EmailClaimed, version: u64) -> SagaStep<BankCommand> {
    let user_id = &claimed.user_id;
    let email = &claimed.email;
    match claimed.purpose {
        ClaimPurpose::Registration => step(
            user_id,
            &format!("register:{email}@{version}"),
            user_id,
            BankCommand::User(
                RegisterUser {
                    email: email.clone(),
                    // The claim refuses a registration without a name; should one slip
                    // through, the user refuses the empty name and the address is released.
                    display_name: claimed.display_name.clone().unwrap_or_default(),
                }
                .into(),
            ),
        ),
        ClaimPurpose::EmailChange => step(
            user_id,
            &format!("change-email:{email}@{version}"),
            user_id,
            BankCommand::User(
                ChangeUserEmail {
                    new_email: email.clone(),
                }
                .into(),
            ),
        ),
    }
}

/// The refused claim reported to the user that asked for it.
fn deny_claim(rejected: &EmailClaimRejected, version: u64) -> SagaStep<BankCommand> {
    let email = &rejected.email;
    step(
        &rejected.user_id,
        &format!("deny:{email}@{version}"),
        &rejected.user_id,
        BankCommand::User(
            DenyUserEmail {
                email: email.clone(),
                reason: taken(email),
            }
            .into(),
        ),
    )
}

/// The user saga's steps driven by the user: claim the address it asked for; after a change
/// of address, give the old one up; after the user refused an address whose claim it won,
/// give that one up. A denied request held no claim, so it releases nothing: a release then
/// could only free the address of a later request that won it.
fn react_to_user(user_id: &str, version: u64, event: &UserEvent) -> Option<SagaStep<BankCommand>> {
    match event {
        UserEvent::RegistrationRequested(requested) => Some(claim_for(
            user_id,
            version,
            &requested.email,
            ClaimPurpose::Registration,
            Some(requested.display_name.clone()),
        )),
        UserEvent::EmailChangeRequested(requested) => Some(claim_for(
            user_id,
            version,
            &requested.new_email,
            ClaimPurpose::EmailChange,
            None,
        )),
        UserEvent::EmailChanged(changed) => Some(release_for(
            user_id,
            &format!("release:{}@{version}", changed.old_email),
            &changed.old_email,
        )),
        UserEvent::EmailRefused(refused) => Some(release_for(
            user_id,
            &format!("release-refused:{}@{version}", refused.email),
            &refused.email,
        )),
        UserEvent::Registered(_) | UserEvent::EmailDenied(_) | UserEvent::CommandRefused(_) => None,
    }
}

/// The step that claims `email` for the user's request at `version`.
fn claim_for(
    user_id: &str,
    version: u64,
    email: &str,
    purpose: ClaimPurpose,
    display_name: Option<String>,
) -> SagaStep<BankCommand> {
    step(
        user_id,
        &format!("claim:{email}@{version}"),
        email,
        BankCommand::EmailClaim(
            ClaimEmail {
                user_id: user_id.to_owned(),
                purpose,
                display_name,
            }
            .into(),
        ),
    )
}

/// The step named `name` that gives up the user's claim on `email`.
fn release_for(user_id: &str, name: &str, email: &str) -> SagaStep<BankCommand> {
    step(
        user_id,
        name,
        email,
        BankCommand::EmailClaim(
            ReleaseEmail {
                user_id: user_id.to_owned(),
            }
            .into(),
        ),
    )
}

#[cfg(test)]
mod tests {
    use crate::records::account::{
        AccountClosed, AccountOpened, CreditedForTransfer, DebitedForTransfer, Deposited,
        RefundedForTransfer, TransferCreditRejected, TransferDebitRejected, Withdrawn,
    };
    use crate::records::email_claim::EmailReleased;
    use crate::records::transfer::{
        TransferCompleted, TransferFailed, TransferRequested, TransferSourceDebited,
    };
    use crate::records::user::{
        UserEmailChangeRequested, UserEmailChanged, UserEmailDenied, UserEmailRefused,
        UserRegistered, UserRegistrationRequested,
    };

    use super::*;

    fn react(aggregate_id: &str, event: impl Into<BankEvent>) -> Vec<SagaStep<BankCommand>> {
        BankSaga.react(aggregate_id, 1, &event.into())
    }

    fn account(event: impl Into<AccountEvent>) -> BankEvent {
        BankEvent::Account(event.into())
    }

    fn transfer(event: impl Into<TransferEvent>) -> BankEvent {
        BankEvent::Transfer(event.into())
    }

    fn claim(event: impl Into<EmailClaimEvent>) -> BankEvent {
        BankEvent::EmailClaim(event.into())
    }

    fn user(event: impl Into<UserEvent>) -> BankEvent {
        BankEvent::User(event.into())
    }

    fn expect_step(
        saga_id: &str,
        step: &str,
        aggregate_id: &str,
        command: BankCommand,
    ) -> Vec<SagaStep<BankCommand>> {
        vec![SagaStep {
            command_id: step_command_id(saga_id, step),
            aggregate_id: aggregate_id.into(),
            command,
        }]
    }

    fn claimed(purpose: ClaimPurpose, display_name: Option<&str>) -> BankEvent {
        claim(EmailClaimed {
            email: "ann@example.org".into(),
            user_id: "u-1".into(),
            purpose,
            display_name: display_name.map(Into::into),
        })
    }

    #[test]
    fn a_requested_transfer_debits_its_source() {
        let event = transfer(TransferRequested {
            source_account_id: "acc-a".into(),
            target_account_id: "acc-b".into(),
            amount: 250,
            currency: "EUR".into(),
        });
        let command = DebitForTransfer {
            transfer_id: "t-1".into(),
            amount: 250,
            currency: "EUR".into(),
        };
        assert_eq!(
            react("t-1", event),
            expect_step(
                "t-1",
                "debit",
                "acc-a",
                BankCommand::Account(command.into())
            )
        );
    }

    #[test]
    fn a_debited_source_is_noted_on_the_transfer() {
        let event = account(DebitedForTransfer {
            transfer_id: "t-1".into(),
            amount: 250,
        });
        let command = BankCommand::Transfer(RecordSourceDebited {}.into());
        assert_eq!(
            react("acc-a", event),
            expect_step("t-1", "record-debit", "t-1", command)
        );
    }

    #[test]
    fn a_refused_debit_fails_the_transfer_uncompensated() {
        let event = account(TransferDebitRejected {
            transfer_id: "t-1".into(),
            amount: 250,
            reason: "insufficient funds: balance 0, transfer 250".into(),
        });
        let command = FailTransfer {
            reason: "insufficient funds: balance 0, transfer 250".into(),
            compensated: false,
        };
        assert_eq!(
            react("acc-a", event),
            expect_step("t-1", "fail", "t-1", BankCommand::Transfer(command.into()))
        );
    }

    #[test]
    fn a_noted_debit_credits_the_target() {
        let event = transfer(TransferSourceDebited {
            source_account_id: "acc-a".into(),
            target_account_id: "acc-b".into(),
            amount: 250,
            currency: "EUR".into(),
        });
        let command = CreditForTransfer {
            transfer_id: "t-1".into(),
            source_account_id: "acc-a".into(),
            amount: 250,
            currency: "EUR".into(),
        };
        assert_eq!(
            react("t-1", event),
            expect_step(
                "t-1",
                "credit",
                "acc-b",
                BankCommand::Account(command.into())
            )
        );
    }

    #[test]
    fn a_credited_target_completes_the_transfer() {
        let event = account(CreditedForTransfer {
            transfer_id: "t-1".into(),
            amount: 250,
        });
        let command = BankCommand::Transfer(CompleteTransfer {}.into());
        assert_eq!(
            react("acc-b", event),
            expect_step("t-1", "complete", "t-1", command)
        );
    }

    #[test]
    fn a_refused_credit_refunds_the_source() {
        let event = account(TransferCreditRejected {
            transfer_id: "t-1".into(),
            source_account_id: "acc-a".into(),
            amount: 250,
            reason: "account acc-b is closed".into(),
        });
        let command = RefundForTransfer {
            transfer_id: "t-1".into(),
            amount: 250,
            reason: "account acc-b is closed".into(),
        };
        assert_eq!(
            react("acc-b", event),
            expect_step(
                "t-1",
                "refund",
                "acc-a",
                BankCommand::Account(command.into())
            )
        );
    }

    #[test]
    fn a_refund_fails_the_transfer_compensated() {
        let event = account(RefundedForTransfer {
            transfer_id: "t-1".into(),
            amount: 250,
            reason: "account acc-b is closed".into(),
        });
        let command = FailTransfer {
            reason: "account acc-b is closed".into(),
            compensated: true,
        };
        assert_eq!(
            react("acc-a", event),
            expect_step("t-1", "fail", "t-1", BankCommand::Transfer(command.into()))
        );
    }

    #[test]
    fn a_registration_request_claims_the_address_with_the_name() {
        let event = user(UserRegistrationRequested {
            email: "ann@example.org".into(),
            display_name: "Ann".into(),
        });
        let command = ClaimEmail {
            user_id: "u-1".into(),
            purpose: ClaimPurpose::Registration,
            display_name: Some("Ann".into()),
        };
        assert_eq!(
            react("u-1", event),
            expect_step(
                "u-1",
                "claim:ann@example.org@1",
                "ann@example.org",
                BankCommand::EmailClaim(command.into())
            )
        );
    }

    #[test]
    fn a_change_request_claims_the_new_address() {
        let event = user(UserEmailChangeRequested {
            old_email: "ann@old.example".into(),
            new_email: "ann@example.org".into(),
        });
        let command = ClaimEmail {
            user_id: "u-1".into(),
            purpose: ClaimPurpose::EmailChange,
            display_name: None,
        };
        assert_eq!(
            react("u-1", event),
            expect_step(
                "u-1",
                "claim:ann@example.org@1",
                "ann@example.org",
                BankCommand::EmailClaim(command.into())
            )
        );
    }

    #[test]
    fn a_won_registration_claim_registers_the_user() {
        let command = RegisterUser {
            email: "ann@example.org".into(),
            display_name: "Ann".into(),
        };
        assert_eq!(
            react(
                "ann@example.org",
                claimed(ClaimPurpose::Registration, Some("Ann"))
            ),
            expect_step(
                "u-1",
                "register:ann@example.org@1",
                "u-1",
                BankCommand::User(command.into())
            )
        );
    }

    #[test]
    fn a_won_change_claim_moves_the_user_to_the_address() {
        let command = ChangeUserEmail {
            new_email: "ann@example.org".into(),
        };
        assert_eq!(
            react("ann@example.org", claimed(ClaimPurpose::EmailChange, None)),
            expect_step(
                "u-1",
                "change-email:ann@example.org@1",
                "u-1",
                BankCommand::User(command.into())
            )
        );
    }

    #[test]
    fn a_refused_claim_is_denied_to_the_user_that_asked() {
        let event = claim(EmailClaimRejected {
            email: "ann@example.org".into(),
            user_id: "u-2".into(),
            claimed_by: "u-1".into(),
        });
        let command = DenyUserEmail {
            email: "ann@example.org".into(),
            reason: "e-mail address ann@example.org is already taken".into(),
        };
        assert_eq!(
            react("ann@example.org", event),
            expect_step(
                "u-2",
                "deny:ann@example.org@1",
                "u-2",
                BankCommand::User(command.into())
            )
        );
    }

    #[test]
    fn a_changed_address_releases_the_old_one() {
        let event = user(UserEmailChanged {
            old_email: "ann@old.example".into(),
            new_email: "ann@example.org".into(),
        });
        let command = ReleaseEmail {
            user_id: "u-1".into(),
        };
        assert_eq!(
            react("u-1", event),
            expect_step(
                "u-1",
                "release:ann@old.example@1",
                "ann@old.example",
                BankCommand::EmailClaim(command.into())
            )
        );
    }

    #[test]
    fn an_address_the_user_refused_is_released() {
        let event = user(UserEmailRefused {
            email: "ann@example.org".into(),
            reason: "user u-1 is already registered with e-mail address ann@old.example".into(),
        });
        let command = ReleaseEmail {
            user_id: "u-1".into(),
        };
        assert_eq!(
            react("u-1", event),
            expect_step(
                "u-1",
                "release-refused:ann@example.org@1",
                "ann@example.org",
                BankCommand::EmailClaim(command.into())
            )
        );
    }

    #[test]
    fn events_that_end_or_start_nothing_cause_no_steps() {
        let quiet = [
            account(AccountOpened {
                owner_id: "o".into(),
                currency: "EUR".into(),
            }),
            account(Deposited {
                amount: 1,
                reference: None,
            }),
            account(Withdrawn { amount: 1 }),
            account(AccountClosed {}),
            transfer(TransferCompleted {}),
            transfer(TransferFailed {
                reason: "r".into(),
                compensated: false,
            }),
            claim(EmailReleased {
                email: "ann@example.org".into(),
                user_id: "u-1".into(),
            }),
            user(UserRegistered {
                email: "ann@example.org".into(),
                display_name: "Ann".into(),
            }),
            user(UserEmailDenied {
                email: "ann@example.org".into(),
                reason: "taken".into(),
            }),
        ];
        for event in quiet {
            assert_eq!(BankSaga.react("x", 1, &event), Vec::new(), "{event:?}");
        }
    }

    #[test]
    fn claiming_the_same_address_again_later_is_a_new_step() {
        let event = claimed(ClaimPurpose::EmailChange, None);
        let first = BankSaga.react("ann@example.org", 1, &event);
        let later = BankSaga.react("ann@example.org", 3, &event);
        assert_ne!(first[0].command_id, later[0].command_id);
    }

    #[test]
    fn a_redelivered_event_yields_the_same_command_id() {
        let event = transfer(TransferRequested {
            source_account_id: "acc-a".into(),
            target_account_id: "acc-b".into(),
            amount: 250,
            currency: "EUR".into(),
        });
        let first = BankSaga.react("t-1", 1, &event);
        let again = BankSaga.react("t-1", 1, &event);
        assert_eq!(first, again);
        let event = claimed(ClaimPurpose::Registration, Some("Ann"));
        assert_eq!(
            BankSaga.react("ann@example.org", 1, &event),
            BankSaga.react("ann@example.org", 1, &event)
        );
    }

    #[test]
    fn each_step_of_each_transfer_has_its_own_command_id() {
        let steps = [
            "debit",
            "record-debit",
            "credit",
            "complete",
            "refund",
            "fail",
        ];
        let mut ids = std::collections::HashSet::new();
        for transfer_id in ["t-1", "t-2"] {
            for name in steps {
                assert!(ids.insert(step_command_id(transfer_id, name)));
            }
        }
        assert_eq!(ids.len(), 12);
    }
}
