//! The aggregates of one type that a processor partition owns, kept as the log says they are.
//!
//! A book starts from the projector's snapshot of the partition (the aggregate-state table
//! and the offset it is committed through) and folds every later record of the events
//! partition by the version rule: a record is valid only if its version is the aggregate's
//! version plus one; anything else is void and changes nothing. Writes of this processor, of a
//! zombie and of whoever else wrote to the partition are folded alike, so the book is the
//! log's truth up to the position it has read, and a decision made on it is only ever wrong
//! because of records it has not read yet — which the read-back after each write catches.
//!
//! A record of an aggregate that this build cannot read still occupies its version (a newer
//! schema, during a rolling upgrade or after a rollback): the aggregate is **blocked** from
//! that record on. Nothing is decided on a blocked aggregate, since its state is unknown and
//! its next version may already be taken; commands for it are refused, naming the record,
//! until a build that reads the record is deployed. A record that names no aggregate (no
//! key) blocks nothing; one whose version is not the next is void whatever its value.
//!
//! The snapshot's parked aggregates hold their state from before the event they are parked
//! behind, so the book re-reads their events from that offset; records of other aggregates
//! below the snapshot's offset are already in it.
//!
//! Each aggregate also remembers the saga steps it has taken ([`StepsTaken`], from the
//! `cause` header of its valid events), so a saga's command sent again is recognised however
//! many events ago the first one was decided.

use std::collections::{HashMap, VecDeque};

use tributary_domain::{Aggregate, RecordedDecision, Versioned, decide_recorded, refusal_reason};
use tributary_runtime::kafka::SourceRecord;
use tributary_schemas::headers::{Cause, EventHeaders};
use tributary_schemas::{Codec, DecodeError, RecordSet};
use tributary_store::snapshot::PartitionSnapshot;
use tributary_store::snapshot::{RecentCommand, StepsTaken, StoredAggregate};

/// What folding one record of the events partition did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Folded {
    /// The record is the aggregate's next event and was applied.
    Valid,
    /// The record's version is not the next one: void, skipped.
    Void,
    /// The record is below the snapshot's offset and its aggregate's state includes it.
    InSnapshot,
    /// The record names no aggregate (no UTF-8 key): skipped, with why.
    Unreadable(String),
    /// The record's aggregate is blocked: by this record (`newly`), or by an earlier one.
    Blocked {
        /// The aggregate.
        aggregate_id: String,
        /// Why, naming the record that blocks it.
        blocked: Blocked,
        /// Whether this record is the one that blocked it.
        newly: bool,
    },
}

/// Why an aggregate is blocked: the first of its records this build cannot read, which may
/// hold its next version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// Offset of the record.
    pub offset: i64,
    /// The version the record claims, when its headers could be read.
    pub version: Option<u64>,
    /// What is wrong with it.
    pub reason: String,
    /// Whether a newer build reads it (its schema is one this build does not know), rather
    /// than no build (garbage, no value, bad headers).
    pub awaits_newer_build: bool,
}

impl Blocked {
    /// Logs that `record` blocked `aggregate_id`; `consequence` says what the reader stops
    /// doing for it.
    pub fn warn(&self, record: &SourceRecord, aggregate_id: &str, consequence: &str) {
        tracing::warn!(
            topic = record.topic,
            partition = record.partition,
            offset = record.offset,
            aggregate = aggregate_id,
            reason = self.reason,
            "aggregate blocked by a record this build cannot read: {consequence} until a build that reads it is deployed"
        );
    }
}

/// What the domain decided about one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// The command was already handled: its event is at these coordinates.
    Duplicate(RecentCommand),
    /// A saga's step the aggregate has taken already: its cause is at or before the latest
    /// cause it took a step for from that partition.
    StepTaken {
        /// The aggregate's version.
        version: u64,
        /// The position (offset, step) of the latest cause taken from that partition.
        latest: (i64, u32),
    },
    /// Accepted without an event: nothing changes. Answered only once the book has read the
    /// log through its end, so that the answer holds for the log as it is now.
    Unchanged {
        /// The aggregate's version.
        version: u64,
    },
    /// An event to write: accepted, or a refusal recorded as an event (the domain's own or
    /// `CommandRefused`), so the log decides a refusal as it decides an acceptance.
    Write(EventToWrite),
    /// The aggregate is blocked: nothing can be decided; the refusal says why and what to do.
    Blocked(String),
}

/// An event ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventToWrite {
    /// The framed value.
    pub value: Vec<u8>,
    /// Full Avro name of the event.
    pub event_type: &'static str,
    /// The version it must get: the aggregate's version plus one.
    pub version: u64,
    /// `Some(reason)` when the event records a refusal.
    pub refusal: Option<String>,
}

/// A book of one aggregate type, behind a type-erased interface so a partition holds one per
/// aggregate type of the domain.
pub trait Book: Send + Sync {
    /// The aggregate type.
    fn aggregate_type(&self) -> &'static str;

    /// The events topic the book folds.
    fn topic(&self) -> &str;

    /// Folds one record of the events partition, in offset order.
    fn fold(&mut self, codec: &Codec, record: &SourceRecord) -> Folded;

    /// Decides `command` (framed bytes) for aggregate `id`; `cause` is set for a saga's
    /// step.
    fn decide(
        &self,
        codec: &Codec,
        id: &str,
        command_id: &str,
        cause: Option<&Cause>,
        command: &[u8],
    ) -> Result<Decided, DecodeError>;

    /// The latest command of aggregate `id` with this ID, if its event is in the book.
    fn previous(&self, id: &str, command_id: &str) -> Option<RecentCommand>;

    /// The command of aggregate `id`'s latest valid event, with where that event is.
    fn latest(&self, id: &str) -> Option<RecentCommand>;

    /// The aggregate whose recent commands include `command_id`, if one does.
    fn aggregate_of(&self, command_id: &str) -> Option<&str>;

    /// The offset of the earliest record that blocks an aggregate of the book until a newer
    /// build reads it, if any: a reader that must not pass such a record (the saga runner)
    /// takes no step past it and goes back there after a restart.
    fn held_at(&self) -> Option<i64>;
}

/// The aggregates of type `A` of one partition.
#[derive(Debug)]
pub struct AggregateBook<A: Aggregate> {
    topic: String,
    aggregates: HashMap<String, Entry<A>>,
    recent_commands: usize,
    /// The snapshot's offset: records below it are in the snapshot, except those of
    /// `parked` aggregates from their parking offset on.
    snapshot_offset: i64,
    /// Parked aggregates of the snapshot: ID → offset their events are re-read from.
    parked: HashMap<String, i64>,
    /// The aggregate of each command ID among the aggregates' recent commands.
    owners: HashMap<String, String>,
    /// The offset of the earliest record that blocks an aggregate until a newer build reads
    /// it (see [`Book::held_at`]).
    held_at: Option<i64>,
}

#[derive(Debug, Clone, Default)]
struct Entry<A> {
    versioned: Versioned<A>,
    recent: VecDeque<RecentCommand>,
    steps_taken: StepsTaken,
    blocked: Option<Blocked>,
}

impl<A> Entry<A> {
    /// Blocks the aggregate at the record at `offset`, which cannot be read.
    fn block(
        &mut self,
        id: &str,
        offset: i64,
        version: Option<u64>,
        (reason, awaits_newer_build): (String, bool),
    ) -> Folded {
        let blocked = Blocked {
            offset,
            version,
            reason,
            awaits_newer_build,
        };
        self.blocked = Some(blocked.clone());
        Folded::Blocked {
            aggregate_id: id.to_owned(),
            blocked,
            newly: true,
        }
    }
}

impl<A: Aggregate> AggregateBook<A> {
    /// A book of `topic` starting from `snapshot`, remembering up to `recent_commands` commands
    /// per aggregate for de-duplication.
    pub fn new(topic: &str, snapshot: PartitionSnapshot<A>, recent_commands: usize) -> Self {
        let aggregates = snapshot
            .aggregates
            .into_iter()
            .map(|(id, stored): (String, StoredAggregate<A>)| {
                let entry = Entry {
                    versioned: stored.versioned,
                    recent: stored.recent_commands.into(),
                    steps_taken: stored.steps_taken,
                    blocked: None,
                };
                (id, entry)
            })
            .collect::<HashMap<String, Entry<A>>>();
        let owners = aggregates
            .iter()
            .flat_map(|(id, entry)| {
                entry
                    .recent
                    .iter()
                    .map(move |recent| (recent.command_id.clone(), id.clone()))
            })
            .collect();
        Self {
            topic: topic.to_owned(),
            aggregates,
            owners,
            held_at: None,
            recent_commands,
            snapshot_offset: snapshot.next_offset,
            parked: snapshot.parked,
        }
    }

    /// Whether the record at `offset` of aggregate `id` is already in the snapshot.
    fn in_snapshot(&self, id: &str, offset: i64) -> bool {
        offset < self.snapshot_offset
            && self
                .parked
                .get(id)
                .is_none_or(|&parked_from| offset < parked_from)
    }

    /// The version of aggregate `id` (0 if it has no event).
    pub fn version(&self, id: &str) -> u64 {
        self.aggregates
            .get(id)
            .map(|e| e.versioned.version)
            .unwrap_or_default()
    }

    /// The state of aggregate `id`.
    pub fn state(&self, id: &str) -> Option<&A> {
        self.aggregates.get(id).map(|e| &e.versioned.state)
    }

    /// Folds one record by the version rule (see [`Book::fold`]).
    fn fold_record(&mut self, codec: &Codec, record: &SourceRecord) -> Folded {
        let Some(id) = record.aggregate_id() else {
            return Folded::Unreadable("the record has no UTF-8 key".to_owned());
        };
        if self.in_snapshot(id, record.offset) {
            return Folded::InSnapshot;
        }
        let keep = self.recent_commands;
        let entry = self.aggregates.entry(id.to_owned()).or_default();
        if let Some(blocked) = &entry.blocked {
            return Folded::Blocked {
                aggregate_id: id.to_owned(),
                blocked: blocked.clone(),
                newly: false,
            };
        }
        let headers = match EventHeaders::parse(record.header_pairs()) {
            Ok(headers) => headers,
            Err(error) => return entry.block(id, record.offset, None, (error.to_string(), false)),
        };
        let version = headers.aggregate_version;
        if version != entry.versioned.version + 1 {
            return Folded::Void;
        }
        let decoded = match record.value.as_deref() {
            Some(value) => A::Event::decode(codec, value).map_err(|error| {
                let newer = matches!(
                    error,
                    DecodeError::UnknownFingerprint { .. } | DecodeError::UnknownSchemaId { .. }
                );
                (error.to_string(), newer)
            }),
            None => Err(("the record has no value".to_owned(), false)),
        };
        let event = match decoded {
            Ok(event) => event,
            Err(reason) => return entry.block(id, record.offset, Some(version), reason),
        };
        entry.versioned.apply(&event);
        self.owners
            .entry(headers.command_id.clone())
            .or_insert_with(|| id.to_owned());
        entry.recent.push_back(RecentCommand {
            command_id: headers.command_id,
            version,
            offset: record.offset,
            event_type: headers.event_type,
            refusal: refusal_reason::<A>(&event),
        });
        while entry.recent.len() > keep {
            if let Some(forgotten) = entry.recent.pop_front()
                && self
                    .owners
                    .get(&forgotten.command_id)
                    .is_some_and(|owner| owner == id)
            {
                self.owners.remove(&forgotten.command_id);
            }
        }
        if let Some(cause) = &headers.cause {
            entry.steps_taken.take(cause);
        }
        Folded::Valid
    }

    /// The refusal for a command on a blocked aggregate.
    fn blocked_refusal(&self, id: &str, blocked: &Blocked) -> String {
        let version = blocked.version.map_or_else(
            || "an unknown version".to_owned(),
            |v| format!("version {v}"),
        );
        format!(
            "{} {id} is blocked: the record at offset {} of {} (which may hold {version}) cannot \
             be read by this build ({}); no command is decided for it until a build that reads \
             that record is deployed (docs/OPERATIONS.md, \"A blocked aggregate\")",
            A::TYPE,
            blocked.offset,
            self.topic,
            blocked.reason
        )
    }
}

impl<A: Aggregate> Book for AggregateBook<A> {
    fn aggregate_type(&self) -> &'static str {
        A::TYPE
    }

    fn topic(&self) -> &str {
        &self.topic
    }

    fn fold(&mut self, codec: &Codec, record: &SourceRecord) -> Folded {
        let folded = self.fold_record(codec, record);
        if let Folded::Blocked {
            blocked,
            newly: true,
            ..
        } = &folded
            && blocked.awaits_newer_build
        {
            self.held_at = Some(
                self.held_at
                    .map_or(blocked.offset, |h| h.min(blocked.offset)),
            );
        }
        folded
    }

    fn decide(
        &self,
        codec: &Codec,
        id: &str,
        command_id: &str,
        cause: Option<&Cause>,
        command: &[u8],
    ) -> Result<Decided, DecodeError> {
        if let Some(previous) = self.previous(id, command_id) {
            return Ok(Decided::Duplicate(previous));
        }
        let entry = self.aggregates.get(id).cloned().unwrap_or_default();
        if let Some(latest) = cause.and_then(|cause| entry.steps_taken.covering(cause)) {
            let version = entry.versioned.version;
            return Ok(Decided::StepTaken { version, latest });
        }
        let command = A::Command::decode(codec, command)?;
        if let Some(blocked) = &entry.blocked {
            return Ok(Decided::Blocked(self.blocked_refusal(id, blocked)));
        }
        let version = entry.versioned.version;
        let to_write = |event: A::Event, refusal: Option<String>| -> Result<Decided, DecodeError> {
            let value = event
                .encode(codec)
                .map_err(|error| DecodeError::DoesNotMatchSchema {
                    schema: event.full_name().to_owned(),
                    reason: format!("the decided event cannot be encoded: {error}"),
                })?;
            Ok(Decided::Write(EventToWrite {
                value,
                event_type: event.full_name(),
                version: version + 1,
                refusal,
            }))
        };
        match decide_recorded(&entry.versioned.state, id, &command) {
            RecordedDecision::Accepted(event) => to_write(event, None),
            RecordedDecision::Unchanged => Ok(Decided::Unchanged { version }),
            RecordedDecision::Refused { reason, event } => to_write(event, Some(reason)),
        }
    }

    fn previous(&self, id: &str, command_id: &str) -> Option<RecentCommand> {
        self.aggregates
            .get(id)?
            .recent
            .iter()
            .rev()
            .find(|c| c.command_id == command_id)
            .cloned()
    }

    fn aggregate_of(&self, command_id: &str) -> Option<&str> {
        self.owners.get(command_id).map(String::as_str)
    }

    fn latest(&self, id: &str) -> Option<RecentCommand> {
        self.aggregates.get(id)?.recent.back().cloned()
    }

    fn held_at(&self) -> Option<i64> {
        self.held_at
    }
}

#[cfg(test)]
mod tests {
    use tributary_domain::testing::{
        self, Add, Added, Counter, CounterCommand, CounterEvent, CounterOpened, Take,
    };
    use tributary_schemas::Record;
    use tributary_schemas::protocol::CommandRefused;

    use super::*;

    fn record(
        offset: i64,
        id: &str,
        version: u64,
        command_id: &str,
        event: CounterEvent,
    ) -> SourceRecord {
        let headers = EventHeaders {
            event_id: format!("e{offset}"),
            event_type: event.full_name().to_owned(),
            aggregate_version: version,
            command_id: command_id.to_owned(),
            correlation_id: command_id.to_owned(),
            occurred_at: 1,
            cause: None,
        };
        SourceRecord {
            topic: "t.counter.events".into(),
            partition: 0,
            offset,
            key: Some(id.as_bytes().to_vec()),
            value: Some(event.encode(&testing::codec()).unwrap()),
            headers: headers
                .to_pairs()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Some(v)))
                .collect(),
            timestamp_ms: None,
        }
    }

    fn book() -> AggregateBook<Counter> {
        AggregateBook::new("t.counter.events", PartitionSnapshot::empty(), 8)
    }

    fn opened() -> CounterEvent {
        CounterOpened {}.into()
    }

    fn command(command: impl Into<CounterCommand>) -> Vec<u8> {
        command.into().encode(&testing::codec()).unwrap()
    }

    #[test]
    fn the_first_record_of_a_version_wins_and_later_ones_are_void() {
        let mut book = book();
        let codec = testing::codec();
        assert_eq!(
            book.fold(&codec, &record(0, "a", 1, "c1", opened())),
            Folded::Valid
        );
        let added = |amount| Added { by: amount }.into();
        assert_eq!(
            book.fold(&codec, &record(1, "a", 2, "c2", added(10))),
            Folded::Valid
        );
        assert_eq!(
            book.fold(&codec, &record(2, "a", 2, "zombie", added(99))),
            Folded::Void
        );
        assert_eq!(
            book.fold(&codec, &record(3, "a", 4, "gap", added(5))),
            Folded::Void
        );
        assert_eq!(book.version("a"), 2);
        assert_eq!(book.state("a").map(|s| s.value), Some(10));
        assert_eq!(book.previous("a", "zombie"), None);
        assert_eq!(
            book.previous("a", "c2").map(|c| (c.version, c.offset)),
            Some((2, 1))
        );
    }

    #[test]
    fn a_decision_names_the_next_version_and_a_repeat_is_a_duplicate() {
        let mut book = book();
        let codec = testing::codec();
        book.fold(&codec, &record(0, "a", 1, "c1", opened()));
        let decided = book
            .decide(&codec, "a", "c2", None, &command(Add { by: 5 }))
            .unwrap();
        let Decided::Write(write) = decided else {
            panic!("expected an event, got {decided:?}")
        };
        assert_eq!(write.version, 2);
        assert_eq!(write.refusal, None);
        let repeat = book
            .decide(&codec, "a", "c1", None, &command(Take { by: 1 }))
            .unwrap();
        assert!(matches!(
            repeat,
            Decided::Duplicate(RecentCommand {
                version: 1,
                offset: 0,
                ..
            })
        ));
    }

    #[test]
    fn a_refusal_is_recorded_with_the_domain_reason_and_changes_nothing() {
        let mut book = book();
        let codec = testing::codec();
        book.fold(&codec, &record(0, "a", 1, "c1", opened()));
        let decided = book
            .decide(&codec, "a", "c2", None, &command(Take { by: 1 }))
            .unwrap();
        let Decided::Write(write) = decided else {
            panic!("expected the refusal as an event, got {decided:?}")
        };
        let reason = "counter a holds 0, so 1 cannot be taken";
        assert_eq!(write.version, 2);
        assert_eq!(write.refusal.as_deref(), Some(reason));
        assert_eq!(write.event_type, CommandRefused::FULL_NAME);
        let refused = CounterEvent::decode(&codec, &write.value).unwrap();
        assert_eq!(
            book.fold(&codec, &record(1, "a", 2, "c2", refused)),
            Folded::Valid
        );
        assert_eq!(book.version("a"), 2);
        assert_eq!(book.state("a").map(|s| s.value), Some(0));
        let repeat = book.previous("a", "c2").unwrap();
        assert_eq!(repeat.refusal.as_deref(), Some(reason));
        assert_eq!((repeat.version, repeat.offset), (2, 1));
    }

    /// `record` with its value replaced by bytes no schema of this build reads.
    fn unreadable(mut record: SourceRecord) -> SourceRecord {
        record.value = Some(vec![0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        record
    }

    fn added(amount: i64) -> CounterEvent {
        Added { by: amount }.into()
    }

    #[test]
    fn an_unreadable_record_at_the_next_version_blocks_its_aggregate_only() {
        let mut book = book();
        let codec = testing::codec();
        book.fold(&codec, &record(0, "a", 1, "c1", opened()));
        book.fold(&codec, &record(1, "b", 1, "c1", opened()));
        let folded = book.fold(&codec, &unreadable(record(2, "a", 2, "new", added(1))));
        let Folded::Blocked { blocked, newly, .. } = folded else {
            panic!("expected a block, got {folded:?}")
        };
        assert!(newly);
        assert_eq!((blocked.offset, blocked.version), (2, Some(2)));
        // What follows is not folded onto a state that misses the unread record.
        let later = book.fold(&codec, &record(3, "a", 3, "c3", added(5)));
        assert!(
            matches!(later, Folded::Blocked { newly: false, .. }),
            "{later:?}"
        );
        assert_eq!(book.version("a"), 1);
        let decided = book
            .decide(&codec, "a", "c4", None, &command(Add { by: 1 }))
            .unwrap();
        let Decided::Blocked(reason) = decided else {
            panic!("expected a refusal for a blocked aggregate, got {decided:?}")
        };
        for needle in [
            "counter a is blocked",
            "offset 2",
            "version 2",
            "A blocked aggregate",
        ] {
            assert!(reason.contains(needle), "{needle:?} missing from {reason}");
        }
        let other = book
            .decide(&codec, "b", "c4", None, &command(Add { by: 1 }))
            .unwrap();
        assert!(matches!(other, Decided::Write(_)), "{other:?}");
    }

    #[test]
    fn an_unreadable_record_at_a_void_version_is_void() {
        let mut book = book();
        let codec = testing::codec();
        book.fold(&codec, &record(0, "a", 1, "c1", opened()));
        let stale = unreadable(record(1, "a", 1, "zombie", added(1)));
        assert_eq!(book.fold(&codec, &stale), Folded::Void);
        assert_eq!(
            book.fold(&codec, &record(2, "a", 2, "c2", added(3))),
            Folded::Valid
        );
    }

    #[test]
    fn a_keyed_record_without_headers_blocks_its_aggregate() {
        let mut book = book();
        let codec = testing::codec();
        book.fold(&codec, &record(0, "a", 1, "c1", opened()));
        let mut junk = unreadable(record(1, "a", 2, "x", added(1)));
        junk.headers.clear();
        let folded = book.fold(&codec, &junk);
        assert!(
            matches!(&folded, Folded::Blocked { blocked, .. } if blocked.version.is_none()),
            "{folded:?}"
        );
        assert_eq!(
            book.held_at(),
            None,
            "no build reads it: nothing waits for one"
        );
    }

    #[test]
    fn a_record_of_an_unknown_schema_holds_the_book_at_the_earliest_one() {
        let mut book = book();
        let codec = testing::codec();
        book.fold(&codec, &record(0, "a", 1, "c1", opened()));
        book.fold(&codec, &record(1, "b", 1, "c2", opened()));
        let folded = book.fold(&codec, &unreadable(record(5, "b", 2, "x", added(1))));
        assert!(
            matches!(&folded, Folded::Blocked { blocked, .. } if blocked.awaits_newer_build),
            "{folded:?}"
        );
        book.fold(&codec, &unreadable(record(7, "a", 2, "y", added(1))));
        assert_eq!(book.held_at(), Some(5));
    }

    #[test]
    fn a_parked_aggregate_is_read_again_from_its_parking_offset() {
        let codec = testing::codec();
        let mut stale = book();
        stale.fold(&codec, &record(0, "a", 1, "c1", opened()));
        stale.fold(&codec, &record(1, "b", 1, "c1", opened()));
        let as_parked = |id: &str| StoredAggregate {
            versioned: Versioned {
                state: stale.state(id).cloned().unwrap(),
                version: 1,
            },
            recent_commands: Vec::new(),
            steps_taken: StepsTaken::default(),
        };
        // The projector applied both openings, parked "a" at offset 2 and moved on to 4.
        let snapshot = PartitionSnapshot {
            next_offset: 4,
            aggregates: HashMap::from([("a".into(), as_parked("a")), ("b".into(), as_parked("b"))]),
            parked: HashMap::from([("a".into(), 2)]),
        };
        assert_eq!(snapshot.replay_from(), 2);
        let mut book = AggregateBook::<Counter>::new("t.counter.events", snapshot, 8);
        assert_eq!(
            book.fold(&codec, &record(2, "a", 2, "c2", added(7))),
            Folded::Valid
        );
        assert_eq!(
            book.fold(&codec, &record(3, "b", 2, "c2", added(9))),
            Folded::InSnapshot
        );
        assert_eq!(book.version("a"), 2);
        assert_eq!(book.state("a").map(|s| s.value), Some(7));
        assert_eq!(book.version("b"), 1, "the snapshot's state of b is kept");
    }

    #[test]
    fn an_undecodable_command_is_an_error_not_a_panic() {
        let book = book();
        let error = book
            .decide(&testing::codec(), "a", "c", None, b"nope")
            .unwrap_err();
        assert_eq!(error.reason(), "bad_magic");
    }

    fn cause(offset: i64) -> Cause {
        Cause {
            topic: "t.source.events".into(),
            partition: 5,
            offset,
            step: 0,
        }
    }

    fn caused(mut record: SourceRecord, offset: i64) -> SourceRecord {
        record
            .headers
            .push(("cause".into(), Some(cause(offset).to_header().into_bytes())));
        record
    }

    #[test]
    fn a_saga_step_taken_is_recognised_long_after_its_command_id_is_forgotten() {
        let mut book = book();
        let codec = testing::codec();
        book.fold(&codec, &record(0, "a", 1, "c1", opened()));
        book.fold(&codec, &caused(record(1, "a", 2, "step-40", added(5)), 40));
        for version in 3..20 {
            let filler = record(
                version as i64,
                "a",
                version,
                &format!("f{version}"),
                added(1),
            );
            assert_eq!(book.fold(&codec, &filler), Folded::Valid);
        }
        let add_command = command(Add { by: 5 });
        for (offset, expected) in [(40, true), (12, true), (41, false)] {
            let decided = book
                .decide(
                    &codec,
                    "a",
                    "step-again",
                    Some(&cause(offset)),
                    &add_command,
                )
                .unwrap();
            assert_eq!(
                matches!(
                    decided,
                    Decided::StepTaken {
                        latest: (40, 0),
                        ..
                    }
                ),
                expected,
                "cause at {offset}: {decided:?}"
            );
        }
        let other_partition = Cause {
            partition: 6,
            ..cause(12)
        };
        let decided = book
            .decide(&codec, "a", "step-b", Some(&other_partition), &add_command)
            .unwrap();
        assert!(matches!(decided, Decided::Write(_)), "{decided:?}");
    }
}
