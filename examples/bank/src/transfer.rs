//! The transfer aggregate: the record of one movement of money between two accounts, driven
//! step by step by the transfer saga and ending completed or failed.
//!
//! The transfer holds no money; the accounts do. It remembers how far the saga got, so that a
//! redelivered step is recognised (and changes nothing) while an out-of-order one is refused,
//! and so that its events carry what the saga's next step needs without the saga keeping state.

use crate::records::transfer::{
    FailTransfer, RequestTransfer, TransferCommand, TransferCompleted, TransferEvent,
    TransferFailed, TransferRequested, TransferSourceDebited,
};
use serde::{Deserialize, Serialize};

use super::is_currency_code;
use tributary_domain::{Aggregate, Rejection};

/// How far a transfer has got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferStatus {
    /// No `TransferRequested` yet: the state of every transfer ID before its first event.
    #[default]
    NotRequested,
    /// Requested; the source account is asked for the money.
    Requested,
    /// The source account was debited; the target account is asked to take the money.
    SourceDebited,
    /// The target account was credited: the money moved.
    Completed,
    /// The transfer did not happen (any debit was refunded first).
    Failed,
}

impl TransferStatus {
    /// The status in words, for rejection reasons.
    fn describe(self) -> &'static str {
        match self {
            TransferStatus::NotRequested => "has not been requested",
            TransferStatus::Requested => "is waiting for the debit of its source",
            TransferStatus::SourceDebited => "is waiting for the credit of its target",
            TransferStatus::Completed => "is completed",
            TransferStatus::Failed => "has failed",
        }
    }
}

/// State of one transfer, stored as the JSON snapshot of the aggregate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// How far the transfer has got.
    pub status: TransferStatus,
    /// Account the money is taken from; empty until requested.
    pub source_account_id: String,
    /// Account the money is put into; empty until requested.
    pub target_account_id: String,
    /// Amount in minor units; zero until requested.
    pub amount: i64,
    /// ISO 4217 code; empty until requested.
    pub currency: String,
    /// Why the transfer failed; `None` unless it failed.
    pub failure_reason: Option<String>,
    /// Whether the source's debit was refunded before the transfer failed.
    pub compensated: bool,
}

/// What `decide` returns for a transfer.
type Decision = Result<Option<TransferEvent>, Rejection<TransferEvent>>;

impl Aggregate for Transfer {
    const TYPE: &'static str = "transfer";
    type Command = TransferCommand;
    type Event = TransferEvent;

    fn decide(&self, id: &str, command: &TransferCommand) -> Decision {
        match command {
            TransferCommand::Request(request) => self.request(id, request),
            TransferCommand::RecordSourceDebited(_) => self.record_source_debited(id),
            TransferCommand::Complete(_) => self.complete(id),
            TransferCommand::Fail(fail) => self.fail(id, fail),
        }
    }

    fn apply(&mut self, event: &TransferEvent) {
        match event {
            TransferEvent::Requested(requested) => {
                self.status = TransferStatus::Requested;
                self.source_account_id
                    .clone_from(&requested.source_account_id);
                self.target_account_id
                    .clone_from(&requested.target_account_id);
                self.amount = requested.amount;
                self.currency.clone_from(&requested.currency);
            }
            TransferEvent::SourceDebited(_) => self.status = TransferStatus::SourceDebited,
            TransferEvent::Completed(_) => self.status = TransferStatus::Completed,
            TransferEvent::Failed(failed) => {
                self.status = TransferStatus::Failed;
                self.failure_reason = Some(failed.reason.clone());
                self.compensated = failed.compensated;
            }
            // A refused command changes nothing.
            TransferEvent::CommandRefused(_) => {}
        }
    }
}

impl Transfer {
    /// Starts a transfer of a positive amount between two different accounts.
    fn request(&self, id: &str, request: &RequestTransfer) -> Decision {
        if self.status != TransferStatus::NotRequested {
            return Err(self.refusal(id, "cannot be requested again"));
        }
        check_request(request).map_err(Rejection::new)?;
        Ok(Some(
            TransferRequested {
                source_account_id: request.source_account_id.clone(),
                target_account_id: request.target_account_id.clone(),
                amount: request.amount,
                currency: request.currency.clone(),
            }
            .into(),
        ))
    }

    /// Notes the debit, copying what the credit step needs into the event.
    fn record_source_debited(&self, id: &str) -> Decision {
        match self.status {
            TransferStatus::Requested => Ok(Some(
                TransferSourceDebited {
                    source_account_id: self.source_account_id.clone(),
                    target_account_id: self.target_account_id.clone(),
                    amount: self.amount,
                    currency: self.currency.clone(),
                }
                .into(),
            )),
            // A redelivered step: the debit is already noted.
            TransferStatus::SourceDebited | TransferStatus::Completed => Ok(None),
            TransferStatus::NotRequested | TransferStatus::Failed => {
                Err(self.refusal(id, "cannot note a debit of its source"))
            }
        }
    }

    /// Closes a transfer whose target was credited.
    fn complete(&self, id: &str) -> Decision {
        match self.status {
            TransferStatus::SourceDebited => Ok(Some(TransferCompleted {}.into())),
            TransferStatus::Completed => Ok(None),
            _ => Err(self.refusal(id, "cannot complete")),
        }
    }

    /// Ends a transfer that could not be carried out. `compensated` must say truthfully
    /// whether a debit happened (and so was refunded), or the final state would lie about
    /// where the money went.
    fn fail(&self, id: &str, fail: &FailTransfer) -> Decision {
        let accepted = match self.status {
            TransferStatus::Requested => !fail.compensated,
            TransferStatus::SourceDebited => fail.compensated,
            TransferStatus::Failed => return Ok(None),
            TransferStatus::NotRequested | TransferStatus::Completed => {
                return Err(self.refusal(id, "cannot fail"));
            }
        };
        if !accepted {
            return Err(self.refusal(
                id,
                &format!(
                    "cannot fail with compensated = {}: a transfer fails compensated exactly \
                     when its source was debited and refunded",
                    fail.compensated
                ),
            ));
        }
        Ok(Some(
            TransferFailed {
                reason: fail.reason.clone(),
                compensated: fail.compensated,
            }
            .into(),
        ))
    }

    /// A refusal naming the transfer, its status and what it cannot do.
    fn refusal(&self, id: &str, what: &str) -> Rejection<TransferEvent> {
        Rejection::new(format!(
            "transfer {id} {} and {what}",
            self.status.describe()
        ))
    }
}

/// Why a transfer request is malformed, if it is.
fn check_request(request: &RequestTransfer) -> Result<(), String> {
    if request.source_account_id.trim().is_empty() || request.target_account_id.trim().is_empty() {
        return Err("source_account_id and target_account_id must not be empty".to_owned());
    }
    if request.source_account_id == request.target_account_id {
        return Err(format!(
            "source and target are both account {}: a transfer needs two different accounts",
            request.source_account_id
        ));
    }
    if request.amount <= 0 {
        return Err(format!(
            "amount must be positive (minor units), got {}",
            request.amount
        ));
    }
    if !is_currency_code(&request.currency) {
        return Err(format!(
            "currency {:?} is not an ISO 4217 code: use three upper-case letters such as EUR",
            request.currency
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::records::transfer::{CompleteTransfer, RecordSourceDebited};

    use super::*;

    const ID: &str = "t-1";

    fn given(events: &[TransferEvent]) -> Transfer {
        let mut transfer = Transfer::default();
        for event in events {
            transfer.apply(event);
        }
        transfer
    }

    fn request_cmd(source: &str, target: &str, amount: i64, currency: &str) -> TransferCommand {
        RequestTransfer {
            source_account_id: source.into(),
            target_account_id: target.into(),
            amount,
            currency: currency.into(),
        }
        .into()
    }

    fn requested() -> TransferEvent {
        TransferRequested {
            source_account_id: "acc-a".into(),
            target_account_id: "acc-b".into(),
            amount: 250,
            currency: "EUR".into(),
        }
        .into()
    }

    fn source_debited() -> TransferEvent {
        TransferSourceDebited {
            source_account_id: "acc-a".into(),
            target_account_id: "acc-b".into(),
            amount: 250,
            currency: "EUR".into(),
        }
        .into()
    }

    fn completed() -> TransferEvent {
        TransferCompleted {}.into()
    }

    fn failed(compensated: bool) -> TransferEvent {
        TransferFailed {
            reason: "insufficient funds".into(),
            compensated,
        }
        .into()
    }

    fn record_debit() -> TransferCommand {
        RecordSourceDebited {}.into()
    }

    fn complete() -> TransferCommand {
        CompleteTransfer {}.into()
    }

    fn fail(compensated: bool) -> TransferCommand {
        FailTransfer {
            reason: "insufficient funds".into(),
            compensated,
        }
        .into()
    }

    fn assert_refused(decision: Decision) {
        match decision {
            Err(Rejection {
                recorded: None,
                reason,
            }) => assert!(reason.starts_with("transfer t-1 "), "{reason}"),
            other => panic!("expected an unrecorded rejection, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_request_is_recorded_with_its_accounts_amount_and_currency() {
        let decision = given(&[]).decide(ID, &request_cmd("acc-a", "acc-b", 250, "EUR"));
        assert_eq!(decision, Ok(Some(requested())));
        let transfer = given(&[requested()]);
        assert_eq!(transfer.status, TransferStatus::Requested);
        assert_eq!(transfer.source_account_id, "acc-a");
        assert_eq!(transfer.target_account_id, "acc-b");
        assert_eq!(transfer.amount, 250);
        assert_eq!(transfer.currency, "EUR");
    }

    #[test]
    fn a_transfer_cannot_be_requested_twice() {
        let decision = given(&[requested()]).decide(ID, &request_cmd("acc-a", "acc-b", 250, "EUR"));
        assert_eq!(
            decision.unwrap_err().reason,
            "transfer t-1 is waiting for the debit of its source and cannot be requested again"
        );
    }

    #[test]
    fn a_malformed_request_is_refused() {
        let cases = [
            (request_cmd("acc-a", "acc-b", 0, "EUR"), "got 0"),
            (request_cmd("acc-a", "acc-b", -5, "EUR"), "got -5"),
            (
                request_cmd("acc-a", "acc-a", 5, "EUR"),
                "two different accounts",
            ),
            (request_cmd("acc-a", "acc-b", 5, "eur"), "ISO 4217"),
            (request_cmd("", "acc-b", 5, "EUR"), "must not be empty"),
        ];
        for (command, expected) in cases {
            let rejection = given(&[]).decide(ID, &command).unwrap_err();
            assert!(rejection.reason.contains(expected), "{}", rejection.reason);
            assert_eq!(rejection.recorded, None);
        }
    }

    #[test]
    fn the_debit_is_noted_with_what_the_credit_needs() {
        let decision = given(&[requested()]).decide(ID, &record_debit());
        assert_eq!(decision, Ok(Some(source_debited())));
        assert_eq!(
            given(&[requested(), source_debited()]).status,
            TransferStatus::SourceDebited
        );
    }

    #[test]
    fn a_redelivered_debit_changes_nothing() {
        let debited = given(&[requested(), source_debited()]);
        assert_eq!(debited.decide(ID, &record_debit()), Ok(None));
        let done = given(&[requested(), source_debited(), completed()]);
        assert_eq!(done.decide(ID, &record_debit()), Ok(None));
    }

    #[test]
    fn a_debit_of_an_unrequested_or_failed_transfer_is_refused() {
        assert_refused(given(&[]).decide(ID, &record_debit()));
        assert_refused(given(&[requested(), failed(false)]).decide(ID, &record_debit()));
    }

    #[test]
    fn a_debited_transfer_completes() {
        let decision = given(&[requested(), source_debited()]).decide(ID, &complete());
        assert_eq!(decision, Ok(Some(completed())));
        let transfer = given(&[requested(), source_debited(), completed()]);
        assert_eq!(transfer.status, TransferStatus::Completed);
        assert_eq!(transfer.decide(ID, &complete()), Ok(None));
    }

    #[test]
    fn a_transfer_not_yet_debited_or_failed_cannot_complete() {
        assert_refused(given(&[]).decide(ID, &complete()));
        assert_refused(given(&[requested()]).decide(ID, &complete()));
        assert_refused(given(&[requested(), failed(false)]).decide(ID, &complete()));
    }

    #[test]
    fn a_requested_transfer_fails_uncompensated() {
        let decision = given(&[requested()]).decide(ID, &fail(false));
        assert_eq!(decision, Ok(Some(failed(false))));
        let transfer = given(&[requested(), failed(false)]);
        assert_eq!(transfer.status, TransferStatus::Failed);
        assert_eq!(
            transfer.failure_reason.as_deref(),
            Some("insufficient funds")
        );
        assert!(!transfer.compensated);
    }

    #[test]
    fn a_debited_transfer_fails_compensated() {
        let decision = given(&[requested(), source_debited()]).decide(ID, &fail(true));
        assert_eq!(decision, Ok(Some(failed(true))));
        assert!(given(&[requested(), source_debited(), failed(true)]).compensated);
    }

    #[test]
    fn a_failure_that_misstates_the_compensation_is_refused() {
        assert_refused(given(&[requested()]).decide(ID, &fail(true)));
        assert_refused(given(&[requested(), source_debited()]).decide(ID, &fail(false)));
    }

    #[test]
    fn failing_a_failed_transfer_changes_nothing() {
        let transfer = given(&[requested(), failed(false)]);
        assert_eq!(transfer.decide(ID, &fail(false)), Ok(None));
    }

    #[test]
    fn a_completed_or_unrequested_transfer_cannot_fail() {
        let done = given(&[requested(), source_debited(), completed()]);
        assert_refused(done.decide(ID, &fail(true)));
        assert_refused(given(&[]).decide(ID, &fail(false)));
    }

    #[test]
    fn the_state_round_trips_through_its_json_snapshot() {
        let transfer = given(&[requested(), source_debited(), failed(true)]);
        let json = serde_json::to_value(&transfer).unwrap();
        assert_eq!(json["status"], "failed");
        assert_eq!(json["failure_reason"], "insufficient funds");
        assert_eq!(serde_json::from_value::<Transfer>(json).unwrap(), transfer);
        assert_eq!(
            serde_json::to_value(TransferStatus::SourceDebited).unwrap(),
            "source_debited"
        );
    }
}
