//! The codec against the real embedded contract: every typed record round-trips in both
//! framings, old versions resolve into new ones, and no input makes the decoder panic.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use apache_avro::types::Value;
use proptest::prelude::*;
use tributary_bank::records::account::*;
use tributary_bank::records::email_claim::*;
use tributary_bank::records::transfer::*;
use tributary_bank::records::user::*;
use tributary_schemas::protocol::*;
use tributary_schemas::{Codec, ConfluentIds, DecodeError, EncodeError, Record, RecordSet};

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

#[test]
fn a_record_set_refuses_a_record_of_another_aggregate() {
    let codec = tributary_bank::codec();
    let bytes = codec
        .encode(&UserRegistered {
            email: s("a@b.c"),
            display_name: s("Ada"),
        })
        .unwrap();
    let error = AccountEvent::decode(&codec, &bytes).unwrap_err();
    assert_eq!(
        error,
        DecodeError::UnexpectedRecord {
            expected: s("one of AccountEvent"),
            found: s(UserRegistered::FULL_NAME)
        }
    );
}

#[test]
fn an_unknown_fingerprint_is_named_in_hex() {
    let mut bytes = tributary_bank::codec()
        .encode(&Withdrawn { amount: 1 })
        .unwrap();
    bytes[2..10].copy_from_slice(&[0xDE, 0xAD, 0xBE, 0xEF, 0, 0, 0, 1]);
    let error = tributary_bank::codec().decode(&bytes).unwrap_err();
    assert_eq!(
        error,
        DecodeError::UnknownFingerprint {
            fingerprint: s("DE AD BE EF 00 00 00 01")
        }
    );
    assert_eq!(error.reason(), "unknown_fingerprint");
}

#[test]
fn an_unknown_confluent_id_is_named() {
    let error = tributary_bank::codec()
        .decode(&[0, 0, 0, 0x30, 0x39, 2])
        .unwrap_err();
    assert_eq!(error, DecodeError::UnknownSchemaId { id: 12345 });
    assert!(error.to_string().contains("12345"));
}

#[test]
fn confluent_encoding_without_an_id_is_refused() {
    let error = Codec::confluent(tributary_bank::schemas(), ConfluentIds::default())
        .encode(&Withdrawn { amount: 1 })
        .unwrap_err();
    assert!(
        matches!(error, EncodeError::NoSchemaId { ref schema } if schema.contains("Withdrawn v1")),
        "{error}"
    );
}

#[test]
fn trailing_bytes_and_truncated_data_do_not_match_the_schema() {
    let codec = tributary_bank::codec();
    let mut bytes = codec
        .encode(&AccountOpened {
            owner_id: s("owner"),
            currency: s("EUR"),
        })
        .unwrap();
    let mut longer = bytes.clone();
    longer.push(0);
    let error = codec.decode(&longer).unwrap_err();
    assert!(
        matches!(error, DecodeError::DoesNotMatchSchema { ref reason, .. } if reason.contains("1 bytes left over")),
        "{error}"
    );
    bytes.truncate(bytes.len() - 2);
    let error = codec.decode(&bytes).unwrap_err();
    assert_eq!(error.reason(), "does_not_match_schema", "{error}");
    assert!(error.to_string().contains("AccountOpened v1"), "{error}");
}

#[test]
fn a_huge_length_prefix_is_an_error_not_an_allocation() {
    // A string field claiming ~1 GiB (zig-zag varint) behind a valid header.
    let mut bytes = tributary_bank::codec()
        .encode(&AccountOpened {
            owner_id: s(""),
            currency: s(""),
        })
        .unwrap();
    bytes.truncate(10);
    bytes.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x08]);
    assert_eq!(
        tributary_bank::codec().decode(&bytes).unwrap_err().reason(),
        "does_not_match_schema"
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = tributary_bank::codec().decode(&bytes);
    }

    #[test]
    fn arbitrary_bodies_behind_every_known_header_never_panic(
        index in 0usize..64,
        body in proptest::collection::vec(any::<u8>(), 0..48),
    ) {
        let versions = tributary_bank::schemas().versions();
        let version = &versions[index % versions.len()];
        let mut bytes = vec![0xC3, 0x01];
        bytes.extend_from_slice(&version.fingerprint);
        bytes.extend_from_slice(&body);
        let codec = confluent_codec();
        if let Ok(decoded) = codec.decode(&bytes) {
            prop_assert_eq!(&decoded.writer.full_name, &version.full_name);
        }
    }

    #[test]
    fn deposits_round_trip_for_any_amount_and_reference(amount in any::<i64>(), reference in proptest::option::of(".{0,40}")) {
        let record = Deposited { amount, reference };
        let codec = tributary_bank::codec();
        let back: Deposited = codec.decode_record(&codec.encode(&record).unwrap()).unwrap();
        prop_assert_eq!(back, record);
    }
}
