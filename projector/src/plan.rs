//! What a batch of one source partition means, decided before any database write: which
//! records are events to apply (folded per aggregate), which are void under the version rule,
//! and which go to the dead-letter topic.
//!
//! This is the projector's logic without I/O, so every rule is unit-tested here:
//! - an event is applied only if its `aggregate-version` is the aggregate's version plus one;
//!   any other version is void (a duplicate or a zombie's write) and skipped, never applied;
//! - a record that cannot be understood (no key, bad headers, undecodable value, a record of
//!   another type) is dead-lettered, and its aggregate is parked: later events of that
//!   aggregate are dead-lettered too, marked as parked behind the first failure, rather than
//!   applied out of order; other aggregates are not held back;
//! - events of one aggregate are folded in memory with the domain's `apply`, so the database
//!   sees one change per aggregate per batch.

use std::collections::HashMap;

use tributary_domain::{Aggregate, refusal_reason};
use tributary_schemas::headers::EventHeaders;
use tributary_schemas::{Codec, RecordSet};

use tributary_runtime::kafka::SourceRecord;
use tributary_store::parked::{NewDeadLetter, ParkedAggregate};
use tributary_store::snapshot::{RecentCommand, StoredAggregate};

/// One event the batch applies.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedEvent<E> {
    /// Index of its record in the batch.
    pub index: usize,
    /// Offset of its record.
    pub offset: i64,
    /// Its aggregate version.
    pub version: u64,
    /// The event.
    pub event: E,
    /// Its headers.
    pub headers: EventHeaders,
}

/// Everything a batch does to one aggregate.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateChange<A: Aggregate> {
    /// The aggregate ID.
    pub aggregate_id: String,
    /// The aggregate before the batch.
    pub before: StoredAggregate<A>,
    /// The events applied, in log order.
    pub events: Vec<AppliedEvent<A::Event>>,
    /// The aggregate after them.
    pub after: StoredAggregate<A>,
}

impl<A: Aggregate> AggregateChange<A> {
    /// Folds `events` onto `before`, keeping the latest `recent_commands` command IDs.
    pub fn fold(
        aggregate_id: String,
        before: StoredAggregate<A>,
        events: Vec<AppliedEvent<A::Event>>,
        recent_commands: usize,
    ) -> Self {
        let mut after = before.clone();
        for applied in &events {
            after.versioned.apply(&applied.event);
            after.recent_commands.push(RecentCommand {
                command_id: applied.headers.command_id.clone(),
                version: applied.version,
                offset: applied.offset,
                event_type: applied.headers.event_type.clone(),
                refusal: refusal_reason::<A>(&applied.event),
            });
            if let Some(cause) = &applied.headers.cause {
                after.steps_taken.take(cause);
            }
        }
        let excess = after.recent_commands.len().saturating_sub(recent_commands);
        after.recent_commands.drain(..excess);
        Self {
            aggregate_id,
            before,
            events,
            after,
        }
    }

    /// Offset of the last event applied.
    pub fn last_offset(&self) -> Option<i64> {
        self.events.last().map(|e| e.offset)
    }
}

/// A record that goes to the dead-letter topic instead of the read tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Index of the record in the batch.
    pub index: usize,
    /// The record's offset.
    pub offset: i64,
    /// The aggregate the record belongs to, if its key names one.
    pub aggregate_id: Option<String>,
    /// Short, stable label (`bad_magic`, `bad_headers`, `parked`, …).
    pub reason: &'static str,
    /// The full explanation.
    pub error: String,
    /// For a parked record: the offset of the failure its aggregate is parked behind.
    pub parked_behind: Option<i64>,
}

impl DeadLetter {
    /// The row of `dead_lettered_records` that keeps it.
    pub fn row(&self) -> NewDeadLetter<'_> {
        NewDeadLetter {
            offset: self.offset,
            aggregate_id: self.aggregate_id.as_deref(),
            reason: self.reason,
            error: &self.error,
            parked_behind: self.parked_behind,
        }
    }
}

/// Why a record was skipped without being applied or dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VoidReason {
    /// Its version is not above the aggregate's: a duplicate or a zombie's write.
    StaleVersion,
    /// Its version skips versions: not the next event of the aggregate.
    VersionGap,
}

impl VoidReason {
    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            VoidReason::StaleVersion => "stale_version",
            VoidReason::VersionGap => "version_gap",
        }
    }
}

/// What a batch does.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan<A: Aggregate> {
    /// Changes per aggregate, in the order aggregates first appear.
    pub changes: Vec<AggregateChange<A>>,
    /// Records for the dead-letter topic.
    pub dead_letters: Vec<DeadLetter>,
    /// Aggregates parked by this batch.
    pub newly_parked: Vec<ParkedAggregate>,
    /// Records skipped as void, with why.
    pub void: Vec<(usize, VoidReason)>,
}

/// An applied event that the database refused (found by [`crate::apply::find_faulty_event`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultyEvent {
    /// Index of the change in [`Plan::changes`].
    pub change: usize,
    /// Index of the event in that change.
    pub event: usize,
    /// Short label (`constraint_violation`, `data_exception`).
    pub reason: &'static str,
    /// The database's message.
    pub error: String,
}

impl<A: Aggregate> Plan<A> {
    /// Takes a refused event out of the plan: the aggregate keeps the events before it, the
    /// event is dead-lettered and parks its aggregate, and the events after it are
    /// dead-lettered as parked behind it.
    pub fn remove_faulty(
        &mut self,
        faulty: &FaultyEvent,
        parked: &mut HashMap<String, i64>,
        recent_commands: usize,
    ) {
        let change = self.changes.remove(faulty.change);
        let AggregateChange {
            aggregate_id,
            before,
            mut events,
            ..
        } = change;
        let rest = events.split_off(faulty.event);
        let mut rest = rest.into_iter();
        if let Some(culprit) = rest.next() {
            parked.insert(aggregate_id.clone(), culprit.offset);
            self.newly_parked.push(ParkedAggregate {
                aggregate_id: aggregate_id.clone(),
                first_offset: culprit.offset,
                reason: faulty.reason.to_owned(),
                error: faulty.error.clone(),
            });
            self.dead_letters.push(DeadLetter {
                index: culprit.index,
                offset: culprit.offset,
                aggregate_id: Some(aggregate_id.clone()),
                reason: faulty.reason,
                error: faulty.error.clone(),
                parked_behind: None,
            });
            for later in rest {
                self.dead_letters.push(DeadLetter {
                    index: later.index,
                    offset: later.offset,
                    aggregate_id: Some(aggregate_id.clone()),
                    reason: "parked",
                    error: format!(
                        "aggregate {aggregate_id} is parked behind the event at offset {}, which could not be applied",
                        culprit.offset
                    ),
                    parked_behind: Some(culprit.offset),
                });
            }
        }
        if !events.is_empty() {
            let kept = AggregateChange::fold(aggregate_id, before, events, recent_commands);
            self.changes.insert(faulty.change, kept);
        }
        self.dead_letters.sort_by_key(|d| d.index);
    }
}

/// The aggregate IDs a batch touches, for loading their stored state.
pub fn aggregate_ids(records: &[SourceRecord]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    records
        .iter()
        .filter_map(SourceRecord::aggregate_id)
        .filter(|id| seen.insert(*id))
        .map(str::to_owned)
        .collect()
}

/// Decides what `records` (one partition, in offset order) do, given the stored state of
/// their aggregates and the aggregates parked so far (updated with those this batch parks).
pub fn plan<A: Aggregate>(
    codec: &Codec,
    records: &[SourceRecord],
    stored: &HashMap<String, StoredAggregate<A>>,
    parked: &mut HashMap<String, i64>,
    recent_commands: usize,
) -> Plan<A> {
    let mut builder = Builder::<A>::default();
    for (index, record) in records.iter().enumerate() {
        match understand::<A>(codec, record) {
            Err((reason, error)) => builder.refuse(index, record, reason, error, parked),
            Ok((id, headers, event)) => {
                if let Some(&first) = parked.get(id) {
                    builder.dead_letters.push(DeadLetter {
                        index,
                        offset: record.offset,
                        aggregate_id: Some(id.to_owned()),
                        reason: "parked",
                        error: format!(
                            "aggregate {id} is parked behind the event at offset {first}, which could not be applied"
                        ),
                        parked_behind: Some(first),
                    });
                    continue;
                }
                builder.accept(index, record.offset, id, headers, event, stored);
            }
        }
    }
    builder.finish(stored, recent_commands)
}

/// A record's aggregate ID, headers and event, or why it cannot be understood.
fn understand<'r, A: Aggregate>(
    codec: &Codec,
    record: &'r SourceRecord,
) -> Result<(&'r str, EventHeaders, A::Event), (&'static str, String)> {
    let id = record.aggregate_id().ok_or_else(|| {
        (
            "no_key",
            "the record has no UTF-8 key; the key must be the aggregate ID".to_owned(),
        )
    })?;
    let headers = EventHeaders::parse(record.header_pairs())
        .map_err(|error| ("bad_headers", error.to_string()))?;
    let value = record.value.as_deref().ok_or_else(|| {
        (
            "no_value",
            "the record has no value (a tombstone on an events topic)".to_owned(),
        )
    })?;
    let event =
        A::Event::decode(codec, value).map_err(|error| (error.reason(), error.to_string()))?;
    if event.full_name() != headers.event_type {
        return Err((
            "header_mismatch",
            format!(
                "the event-type header says {} but the value is a {}",
                headers.event_type,
                event.full_name()
            ),
        ));
    }
    Ok((id, headers, event))
}

struct Builder<A: Aggregate> {
    order: Vec<String>,
    events: HashMap<String, Vec<AppliedEvent<A::Event>>>,
    versions: HashMap<String, u64>,
    dead_letters: Vec<DeadLetter>,
    newly_parked: Vec<ParkedAggregate>,
    void: Vec<(usize, VoidReason)>,
}

impl<A: Aggregate> Default for Builder<A> {
    fn default() -> Self {
        Self {
            order: Vec::new(),
            events: HashMap::new(),
            versions: HashMap::new(),
            dead_letters: Vec::new(),
            newly_parked: Vec::new(),
            void: Vec::new(),
        }
    }
}

impl<A: Aggregate> Builder<A> {
    fn refuse(
        &mut self,
        index: usize,
        record: &SourceRecord,
        reason: &'static str,
        error: String,
        parked: &mut HashMap<String, i64>,
    ) {
        let behind = record.aggregate_id().and_then(|id| parked.get(id).copied());
        if let Some(first) = behind {
            self.dead_letters.push(DeadLetter {
                index,
                offset: record.offset,
                aggregate_id: record.aggregate_id().map(str::to_owned),
                reason: "parked",
                error: format!(
                    "parked behind the event at offset {first}; this record is also bad: {error}"
                ),
                parked_behind: Some(first),
            });
            return;
        }
        if let Some(id) = record.aggregate_id() {
            parked.insert(id.to_owned(), record.offset);
            self.newly_parked.push(ParkedAggregate {
                aggregate_id: id.to_owned(),
                first_offset: record.offset,
                reason: reason.to_owned(),
                error: error.clone(),
            });
        }
        self.dead_letters.push(DeadLetter {
            index,
            offset: record.offset,
            aggregate_id: record.aggregate_id().map(str::to_owned),
            reason,
            error,
            parked_behind: None,
        });
    }

    fn accept(
        &mut self,
        index: usize,
        offset: i64,
        id: &str,
        headers: EventHeaders,
        event: A::Event,
        stored: &HashMap<String, StoredAggregate<A>>,
    ) {
        let current = *self.versions.entry(id.to_owned()).or_insert_with(|| {
            stored
                .get(id)
                .map(|s| s.versioned.version)
                .unwrap_or_default()
        });
        let version = headers.aggregate_version;
        if version != current + 1 {
            let reason = if version <= current {
                VoidReason::StaleVersion
            } else {
                VoidReason::VersionGap
            };
            self.void.push((index, reason));
            return;
        }
        self.versions.insert(id.to_owned(), version);
        let events = self.events.entry(id.to_owned()).or_insert_with(|| {
            self.order.push(id.to_owned());
            Vec::new()
        });
        events.push(AppliedEvent {
            index,
            offset,
            version,
            event,
            headers,
        });
    }

    fn finish(
        mut self,
        stored: &HashMap<String, StoredAggregate<A>>,
        recent_commands: usize,
    ) -> Plan<A> {
        let changes = self
            .order
            .iter()
            .map(|id| {
                let before = stored.get(id).cloned().unwrap_or_default();
                let events = self.events.remove(id).unwrap_or_default();
                AggregateChange::fold(id.clone(), before, events, recent_commands)
            })
            .collect();
        Plan {
            changes,
            dead_letters: self.dead_letters,
            newly_parked: self.newly_parked,
            void: self.void,
        }
    }
}

#[cfg(test)]
mod tests {
    use tributary_domain::testing::{self, Add, Added, Counter, CounterEvent, CounterOpened};

    use super::*;

    const TOPIC: &str = "t.counter.events";

    fn record(offset: i64, id: &str, version: u64, event: CounterEvent) -> SourceRecord {
        let headers = EventHeaders {
            event_id: format!("e-{offset}"),
            event_type: event.full_name().to_owned(),
            aggregate_version: version,
            command_id: format!("c-{offset}"),
            correlation_id: "k".to_owned(),
            occurred_at: 1_000 + offset,
            cause: None,
        };
        SourceRecord {
            topic: TOPIC.to_owned(),
            partition: 0,
            offset,
            key: Some(id.as_bytes().to_vec()),
            value: Some(event.encode(&testing::codec()).unwrap()),
            headers: headers
                .to_pairs()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Some(v)))
                .collect(),
            timestamp_ms: Some(1_000 + offset),
        }
    }

    fn opened() -> CounterEvent {
        CounterOpened {}.into()
    }

    fn added(amount: i64) -> CounterEvent {
        Added { by: amount }.into()
    }

    fn run(
        records: &[SourceRecord],
        stored: &HashMap<String, StoredAggregate<Counter>>,
        parked: &mut HashMap<String, i64>,
    ) -> Plan<Counter> {
        plan::<Counter>(&testing::codec(), records, stored, parked, 3)
    }

    #[test]
    fn events_of_one_aggregate_fold_into_one_change() {
        let records = vec![
            record(0, "a", 1, opened()),
            record(1, "b", 1, opened()),
            record(2, "a", 2, added(5)),
            record(3, "a", 3, added(7)),
        ];
        let plan = run(&records, &HashMap::new(), &mut HashMap::new());
        assert_eq!(plan.changes.len(), 2);
        let a = &plan.changes[0];
        assert_eq!(a.aggregate_id, "a");
        assert_eq!(a.events.len(), 3);
        assert_eq!(a.after.versioned.version, 3);
        assert_eq!(a.after.versioned.state.value, 12);
        assert!(a.after.versioned.state.opened);
        let ids: Vec<&str> = a
            .after
            .recent_commands
            .iter()
            .map(|c| c.command_id.as_str())
            .collect();
        assert_eq!(ids, vec!["c-0", "c-2", "c-3"]);
        assert_eq!(
            a.after.recent_commands[2],
            RecentCommand {
                command_id: "c-3".into(),
                version: 3,
                offset: 3,
                event_type: "testing.counter.Added".into(),
                refusal: None,
            }
        );
        assert_eq!(a.last_offset(), Some(3));
        assert!(plan.dead_letters.is_empty() && plan.void.is_empty());
    }

    #[test]
    fn recent_command_ids_keep_only_the_newest() {
        let mut stored = HashMap::new();
        let mut before = StoredAggregate::<Counter>::default();
        before.versioned.apply(&opened());
        before.recent_commands = ["x", "y", "z"]
            .iter()
            .enumerate()
            .map(|(i, id)| RecentCommand {
                command_id: (*id).into(),
                version: 1,
                offset: i as i64,
                event_type: "t".into(),
                refusal: None,
            })
            .collect();
        stored.insert("a".to_owned(), before);
        let plan = run(&[record(9, "a", 2, added(1))], &stored, &mut HashMap::new());
        let ids: Vec<&str> = plan.changes[0]
            .after
            .recent_commands
            .iter()
            .map(|c| c.command_id.as_str())
            .collect();
        assert_eq!(ids, vec!["y", "z", "c-9"]);
    }

    #[test]
    fn a_version_that_is_not_the_next_is_void_and_never_applied() {
        let mut stored = HashMap::new();
        let mut before = StoredAggregate::<Counter>::default();
        before.versioned.apply(&opened());
        stored.insert("a".to_owned(), before);
        let records = vec![
            record(5, "a", 1, opened()),  // duplicate of version 1
            record(6, "a", 2, added(10)), // the event
            record(7, "a", 2, added(99)), // a zombie's second version 2
            record(8, "a", 4, added(50)), // skips version 3
            record(9, "a", 3, added(1)),  // the next valid one
        ];
        let plan = run(&records, &stored, &mut HashMap::new());
        assert_eq!(
            plan.void,
            vec![
                (0, VoidReason::StaleVersion),
                (2, VoidReason::StaleVersion),
                (3, VoidReason::VersionGap)
            ]
        );
        let change = &plan.changes[0];
        assert_eq!(change.after.versioned.version, 3);
        assert_eq!(change.after.versioned.state.value, 11);
    }

    #[test]
    fn an_undecodable_record_parks_its_aggregate_but_not_others() {
        let mut garbage = record(1, "a", 2, added(5));
        garbage.value = Some(b"not avro".to_vec());
        let records = vec![
            record(0, "a", 1, opened()),
            garbage,
            record(2, "b", 1, opened()),
            record(3, "a", 2, added(5)),
        ];
        let mut parked = HashMap::new();
        let plan = run(&records, &HashMap::new(), &mut parked);
        assert_eq!(plan.dead_letters.len(), 2);
        assert_eq!(plan.dead_letters[0].reason, "bad_magic");
        assert_eq!(plan.dead_letters[0].parked_behind, None);
        assert_eq!(plan.dead_letters[1].index, 3);
        assert_eq!(plan.dead_letters[1].reason, "parked");
        assert_eq!(plan.dead_letters[1].parked_behind, Some(1));
        assert_eq!(parked.get("a"), Some(&1));
        assert_eq!(plan.newly_parked.len(), 1);
        // a's first event, before the failure, is applied; b is untouched by a's trouble.
        let ids: Vec<_> = plan
            .changes
            .iter()
            .map(|c| (c.aggregate_id.as_str(), c.events.len()))
            .collect();
        assert_eq!(ids, vec![("a", 1), ("b", 1)]);
    }

    #[test]
    fn an_aggregate_parked_earlier_stays_parked() {
        let mut parked = HashMap::from([("a".to_owned(), 40)]);
        let plan = run(
            &[record(41, "a", 1, opened())],
            &HashMap::new(),
            &mut parked,
        );
        assert!(plan.changes.is_empty());
        assert_eq!(plan.dead_letters[0].parked_behind, Some(40));
        assert!(plan.newly_parked.is_empty());
    }

    #[test]
    fn a_record_of_another_aggregate_type_is_dead_lettered() {
        let mut wrong = record(0, "a", 1, opened());
        wrong.value = Some(testing::codec().encode(&Add { by: 1 }).unwrap());
        let plan = run(&[wrong], &HashMap::new(), &mut HashMap::new());
        assert_eq!(plan.dead_letters[0].reason, "unexpected_record");
    }

    #[test]
    fn missing_headers_and_keys_are_named() {
        let mut no_headers = record(0, "a", 1, opened());
        no_headers.headers.clear();
        let mut no_key = record(1, "b", 1, opened());
        no_key.key = None;
        let mut parked = HashMap::new();
        let plan = run(&[no_headers, no_key], &HashMap::new(), &mut parked);
        assert_eq!(plan.dead_letters[0].reason, "bad_headers");
        assert!(plan.dead_letters[0].error.contains("event-id"));
        assert_eq!(plan.dead_letters[1].reason, "no_key");
        assert_eq!(parked.len(), 1, "a record without a key parks nothing");
    }

    #[test]
    fn a_faulty_event_is_cut_out_with_the_events_after_it() {
        let records = vec![
            record(0, "a", 1, opened()),
            record(1, "b", 1, opened()),
            record(2, "a", 2, added(5)),
            record(3, "a", 3, added(7)),
        ];
        let mut parked = HashMap::new();
        let mut plan = run(&records, &HashMap::new(), &mut parked);
        let faulty = FaultyEvent {
            change: 0,
            event: 1,
            reason: "constraint_violation",
            error: "check failed".into(),
        };
        plan.remove_faulty(&faulty, &mut parked, 3);
        let kept: Vec<_> = plan
            .changes
            .iter()
            .map(|c| (c.aggregate_id.as_str(), c.events.len()))
            .collect();
        assert_eq!(kept, vec![("a", 1), ("b", 1)]);
        assert_eq!(plan.changes[0].after.versioned.version, 1);
        let dead: Vec<_> = plan
            .dead_letters
            .iter()
            .map(|d| (d.index, d.reason, d.parked_behind))
            .collect();
        assert_eq!(
            dead,
            vec![(2, "constraint_violation", None), (3, "parked", Some(2))]
        );
        assert_eq!(parked.get("a"), Some(&2));
    }

    #[test]
    fn an_event_type_header_that_lies_is_dead_lettered() {
        let mut lying = record(0, "a", 1, opened());
        for (key, value) in &mut lying.headers {
            if key == "event-type" {
                *value = Some(b"testing.counter.Taken".to_vec());
            }
        }
        let plan = run(&[lying], &HashMap::new(), &mut HashMap::new());
        assert_eq!(plan.dead_letters[0].reason, "header_mismatch");
    }
}
