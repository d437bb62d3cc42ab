//! The bank's contract through the codec: every typed record round-trips in both framings, and
//! the bank's old versions resolve into the new ones. The codec's own behaviour (corrupt
//! input, unknown schemas, arbitrary bytes) is tested in `schemas/tests/codec.rs`.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use apache_avro::types::Value;
use tributary_bank::records::account::*;
use tributary_bank::records::email_claim::*;
use tributary_bank::records::transfer::*;
use tributary_bank::records::user::*;
use tributary_schemas::protocol::*;
use tributary_schemas::{Codec, ConfluentIds, Record, RecordSet};

/// Every ID a Confluent test needs: schema IDs 1..n in registry order.
fn confluent_codec() -> Codec {
    Codec::confluent(
        tributary_bank::schemas(),
        ConfluentIds::new(
            tributary_bank::schemas()
                .versions()
                .iter()
                .enumerate()
                .map(|(i, v)| (i as u32 + 1, v.fingerprint)),
        ),
    )
}

fn round_trip<R: Record + PartialEq + std::fmt::Debug>(record: R) -> &'static str {
    for codec in [tributary_bank::codec(), confluent_codec()] {
        let bytes = codec.encode(&record).unwrap();
        let back: R = codec.decode_record(&bytes).unwrap();
        assert_eq!(
            back,
            record,
            "{} in {:?} framing",
            R::FULL_NAME,
            codec.framing()
        );
    }
    R::FULL_NAME
}

fn s(text: &str) -> String {
    text.to_owned()
}

#[test]
fn every_record_in_the_contract_round_trips_in_both_framings() {
    let mut names = vec![
        round_trip(AccountOpened {
            owner_id: s("u-1"),
            currency: s("EUR"),
        }),
        round_trip(Deposited {
            amount: 1250,
            reference: Some(s("SEPA-77")),
        }),
        round_trip(Deposited {
            amount: 1,
            reference: None,
        }),
        round_trip(Withdrawn { amount: 99 }),
        round_trip(AccountClosed {}),
        round_trip(DebitedForTransfer {
            transfer_id: s("t-1"),
            amount: 10,
        }),
        round_trip(CreditedForTransfer {
            transfer_id: s("t-1"),
            amount: 10,
        }),
        round_trip(RefundedForTransfer {
            transfer_id: s("t-1"),
            amount: 10,
            reason: s("target closed"),
        }),
        round_trip(TransferDebitRejected {
            transfer_id: s("t-1"),
            amount: 10,
            reason: s("insufficient funds"),
        }),
        round_trip(TransferCreditRejected {
            transfer_id: s("t-1"),
            source_account_id: s("a"),
            amount: 10,
            reason: s("account closed"),
        }),
        round_trip(OpenAccount {
            owner_id: s("u-1"),
            currency: s("EUR"),
        }),
        round_trip(Deposit {
            amount: 5,
            reference: Some(s("r")),
        }),
        round_trip(Withdraw { amount: 5 }),
        round_trip(CloseAccount {}),
        round_trip(DebitForTransfer {
            transfer_id: s("t"),
            amount: 3,
            currency: s("EUR"),
        }),
        round_trip(CreditForTransfer {
            transfer_id: s("t"),
            source_account_id: s("a"),
            amount: 3,
            currency: s("EUR"),
        }),
        round_trip(RefundForTransfer {
            transfer_id: s("t"),
            amount: 3,
            reason: s("target closed"),
        }),
        round_trip(EmailClaimed {
            email: s("a@b.c"),
            user_id: s("u"),
            purpose: ClaimPurpose::Registration,
            display_name: Some(s("Ada")),
        }),
        round_trip(EmailClaimRejected {
            email: s("a@b.c"),
            user_id: s("u2"),
            claimed_by: s("u"),
        }),
        round_trip(EmailReleased {
            email: s("a@b.c"),
            user_id: s("u"),
        }),
        round_trip(ClaimEmail {
            user_id: s("u"),
            purpose: ClaimPurpose::EmailChange,
            display_name: None,
        }),
        round_trip(ReleaseEmail { user_id: s("u") }),
        round_trip(UserRegistered {
            email: s("a@b.c"),
            display_name: s("Ada"),
        }),
        round_trip(UserEmailChanged {
            old_email: s("a@b.c"),
            new_email: s("d@e.f"),
        }),
        round_trip(UserEmailRefused {
            email: s("a@b.c"),
            reason: s("user u is already registered with e-mail address d@e.f"),
        }),
        round_trip(RegisterUser {
            email: s("a@b.c"),
            display_name: s("Ada"),
        }),
        round_trip(ChangeUserEmail {
            new_email: s("d@e.f"),
        }),
        round_trip(RequestUserRegistration {
            email: s("A@b.c "),
            display_name: s("Ada"),
        }),
        round_trip(RequestUserEmailChange {
            new_email: s("d@e.f"),
        }),
        round_trip(DenyUserEmail {
            email: s("d@e.f"),
            reason: s("e-mail address d@e.f is already taken"),
        }),
        round_trip(UserRegistrationRequested {
            email: s("a@b.c"),
            display_name: s("Ada"),
        }),
        round_trip(UserEmailChangeRequested {
            old_email: s("a@b.c"),
            new_email: s("d@e.f"),
        }),
        round_trip(UserEmailDenied {
            email: s("d@e.f"),
            reason: s("e-mail address d@e.f is already taken"),
        }),
        round_trip(TransferRequested {
            source_account_id: s("a"),
            target_account_id: s("b"),
            amount: 7,
            currency: s("EUR"),
        }),
        round_trip(TransferSourceDebited {
            source_account_id: s("a"),
            target_account_id: s("b"),
            amount: 7,
            currency: s("EUR"),
        }),
        round_trip(TransferCompleted {}),
        round_trip(TransferFailed {
            reason: s("target closed"),
            compensated: true,
        }),
        round_trip(RequestTransfer {
            source_account_id: s("a"),
            target_account_id: s("b"),
            amount: 7,
            currency: s("EUR"),
        }),
        round_trip(RecordSourceDebited {}),
        round_trip(CompleteTransfer {}),
        round_trip(FailTransfer {
            reason: s("insufficient funds"),
            compensated: false,
        }),
        round_trip(CommandEnvelope {
            command_id: s("c"),
            correlation_id: s("k"),
            aggregate_type: s("account"),
            aggregate_id: s("a"),
            issued_at: 1_790_000_000_000,
            reply_to: Some(s("gw-1")),
            deadline: Some(1_790_000_005_000),
            command: tributary_bank::codec()
                .encode(&Withdraw { amount: 5 })
                .unwrap(),
        }),
        round_trip(CommandReply {
            command_id: s("c"),
            aggregate_type: s("account"),
            aggregate_id: s("a"),
            outcome: CommandOutcome::Accepted,
            reason: None,
            reused_for: None,
            event: Some(EventCoordinates {
                topic: s("tributary.account.events"),
                partition: 3,
                offset: 42,
                version: 2,
                event_type: s(Withdrawn::FULL_NAME),
            }),
            version: 2,
            replied_at: 1_790_000_000_001,
        }),
        round_trip(CommandReply {
            command_id: s("c"),
            aggregate_type: s("account"),
            aggregate_id: s("a"),
            outcome: CommandOutcome::Rejected,
            reason: Some(s("insufficient funds")),
            reused_for: Some(s("account acc-1")),
            event: None,
            version: 1,
            replied_at: 1,
        }),
        round_trip(CommandRefused {
            command_type: s("tributary.bank.account.Withdraw"),
            reason: s("insufficient funds: balance 0, withdrawal 1"),
        }),
        round_trip(ProjectionMarker {
            projection: s("bank"),
            topic: s("tributary.account.events"),
            partition: 0,
            next_offset: 100,
            committed_at: 5,
            epoch: 3,
        }),
    ];
    names.sort_unstable();
    names.dedup();
    assert_eq!(
        names,
        tributary_bank::schemas().record_names(),
        "every schema needs a typed record and a round-trip here"
    );
}

fn v1_deposited() -> &'static tributary_schemas::SchemaVersion {
    tributary_bank::schemas()
        .history(Deposited::FULL_NAME)
        .next()
        .unwrap()
}

#[test]
fn version_1_data_is_read_as_version_2_with_the_default() {
    let v1 = v1_deposited();
    assert_eq!(v1.version, 1);
    let value = Value::Record(vec![("amount".to_owned(), Value::Long(250))]);
    for codec in [tributary_bank::codec(), confluent_codec()] {
        let bytes = codec.encode_value(v1, value.clone()).unwrap();
        let decoded = codec.decode(&bytes).unwrap();
        assert_eq!((decoded.writer.version, decoded.reader.version), (1, 2));
        let event = AccountEvent::from_decoded(decoded).unwrap();
        assert_eq!(
            event,
            AccountEvent::Deposited(Deposited {
                amount: 250,
                reference: None
            })
        );
    }
}
