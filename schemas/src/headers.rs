//! Kafka record headers of the contract: their names, and typed views that write and parse
//! them.
//!
//! Every header value is UTF-8 text (numbers in decimal, instants in milliseconds since the
//! Unix epoch), so any Kafka client or tool can read them without our code.

use crate::error::HeaderError;

/// `event-id`: UUIDv7 of the event.
pub const EVENT_ID: &str = "event-id";
/// `event-type`: full Avro name of the event's record.
pub const EVENT_TYPE: &str = "event-type";
/// `aggregate-version`: the aggregate's version after this event (the version rule's input).
pub const AGGREGATE_VERSION: &str = "aggregate-version";
/// `command-id`: the command that caused the event, or the idempotency key of a command.
pub const COMMAND_ID: &str = "command-id";
/// `correlation-id`: shared by everything one external request caused.
pub const CORRELATION_ID: &str = "correlation-id";
/// `occurred-at`: when the event was decided, milliseconds since the Unix epoch.
pub const OCCURRED_AT: &str = "occurred-at";
/// `reply-to`: the gateway instance waiting for a command's reply.
pub const REPLY_TO: &str = "reply-to";
/// `deadline`: when a command's issuer stops waiting, milliseconds since the Unix epoch.
pub const DEADLINE: &str = "deadline";
/// `cause`: on a saga's command, and on the event deciding it, the event the saga reacted to
/// and which of its steps the command is, as `topic/partition/offset/step` (see [`Cause`]).
pub const CAUSE: &str = "cause";

/// The event a saga's command reacts to, and which of the reaction's steps it is.
///
/// A saga sends the steps of one events partition in the partition's order, so the steps an
/// aggregate receives from that partition arrive in the order of their causes — a step sent
/// again (after a crash, a rebalance or lost consumer offsets) never arrives after a later
/// one for the first time. An aggregate that remembers, per source partition, the latest cause
/// it has taken a step for therefore recognises every repeat, however old, with one number
/// per partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// Events topic of the event.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Which of the commands of the saga's reaction to it this one is, from 0.
    pub step: u32,
}

impl Cause {
    /// The events partition the cause is on, as `topic/partition`: the key under which an
    /// aggregate remembers the steps it has taken.
    pub fn source(&self) -> String {
        format!("{}/{}", self.topic, self.partition)
    }

    /// Where the cause is within its source: steps of one source are ordered by it.
    pub fn position(&self) -> (i64, u32) {
        (self.offset, self.step)
    }

    /// The header value.
    pub fn to_header(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.topic, self.partition, self.offset, self.step
        )
    }

    /// Parses a header value (topic names never hold `/`).
    fn parse(value: &str) -> Result<Self, HeaderError> {
        let invalid = || HeaderError::Invalid {
            name: CAUSE,
            value: value.to_owned(),
            expected: "topic/partition/offset/step",
        };
        let mut parts = value.rsplitn(4, '/');
        let step = parts
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(invalid)?;
        let offset = parts
            .next()
            .and_then(|p| p.parse().ok())
            .filter(|offset: &i64| *offset >= 0)
            .ok_or_else(invalid)?;
        let partition = parts
            .next()
            .and_then(|p| p.parse().ok())
            .filter(|partition: &i32| *partition >= 0)
            .ok_or_else(invalid)?;
        let topic = parts.next().filter(|t| !t.is_empty()).ok_or_else(invalid)?;
        Ok(Self {
            topic: topic.to_owned(),
            partition,
            offset,
            step,
        })
    }

    /// The `cause` header of a record, if it has one.
    pub fn from_headers<'a>(
        headers: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
    ) -> Result<Option<Self>, HeaderError> {
        Found::collect(headers).cause()
    }
}

/// The headers every event record carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventHeaders {
    /// UUIDv7 of the event.
    pub event_id: String,
    /// Full Avro name of the event's record.
    pub event_type: String,
    /// The aggregate's version after this event.
    pub aggregate_version: u64,
    /// The command that caused the event.
    pub command_id: String,
    /// Shared by everything one external request caused.
    pub correlation_id: String,
    /// When the event was decided, milliseconds since the Unix epoch.
    pub occurred_at: i64,
    /// For an event deciding a saga's command, the event the saga reacted to.
    pub cause: Option<Cause>,
}

impl EventHeaders {
    /// The headers as (name, value) pairs, in a fixed order.
    pub fn to_pairs(&self) -> Vec<(&'static str, Vec<u8>)> {
        let mut pairs = vec![
            (EVENT_ID, self.event_id.clone().into_bytes()),
            (EVENT_TYPE, self.event_type.clone().into_bytes()),
            (
                AGGREGATE_VERSION,
                self.aggregate_version.to_string().into_bytes(),
            ),
            (COMMAND_ID, self.command_id.clone().into_bytes()),
            (CORRELATION_ID, self.correlation_id.clone().into_bytes()),
            (OCCURRED_AT, self.occurred_at.to_string().into_bytes()),
        ];
        if let Some(cause) = &self.cause {
            pairs.push((CAUSE, cause.to_header().into_bytes()));
        }
        pairs
    }

    /// Parses the headers of an event record, naming the first one missing or malformed.
    pub fn parse<'a>(
        headers: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
    ) -> Result<Self, HeaderError> {
        let found = Found::collect(headers);
        Ok(Self {
            event_id: found.text(EVENT_ID)?,
            event_type: found.text(EVENT_TYPE)?,
            aggregate_version: found.number(AGGREGATE_VERSION, "a positive whole number")?,
            command_id: found.text(COMMAND_ID)?,
            correlation_id: found.text(CORRELATION_ID)?,
            occurred_at: found.number(OCCURRED_AT, "milliseconds since the Unix epoch")?,
            cause: found.cause()?,
        })
    }
}

/// The headers every command record carries, mirroring its envelope for tools that do not
/// decode Avro.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandHeaders {
    /// Idempotency key.
    pub command_id: String,
    /// Gateway instance waiting for the reply, if any.
    pub reply_to: Option<String>,
    /// When the issuer stops waiting, milliseconds since the Unix epoch.
    pub deadline: Option<i64>,
    /// For a saga's command, the event it reacts to.
    pub cause: Option<Cause>,
}

impl CommandHeaders {
    /// The headers as (name, value) pairs; absent optional headers are left out.
    pub fn to_pairs(&self) -> Vec<(&'static str, Vec<u8>)> {
        let mut pairs = vec![(COMMAND_ID, self.command_id.clone().into_bytes())];
        if let Some(reply_to) = &self.reply_to {
            pairs.push((REPLY_TO, reply_to.clone().into_bytes()));
        }
        if let Some(deadline) = self.deadline {
            pairs.push((DEADLINE, deadline.to_string().into_bytes()));
        }
        if let Some(cause) = &self.cause {
            pairs.push((CAUSE, cause.to_header().into_bytes()));
        }
        pairs
    }

    /// Parses the headers of a command record.
    pub fn parse<'a>(
        headers: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
    ) -> Result<Self, HeaderError> {
        let found = Found::collect(headers);
        Ok(Self {
            command_id: found.text(COMMAND_ID)?,
            reply_to: found.optional_text(REPLY_TO)?,
            deadline: match found.optional_text(DEADLINE)? {
                None => None,
                Some(_) => Some(found.number(DEADLINE, "milliseconds since the Unix epoch")?),
            },
            cause: found.cause()?,
        })
    }
}

/// Headers of one record, looked up by name (the first occurrence wins, as in Kafka's
/// `lastHeader` counterpart for unique names).
struct Found<'a>(Vec<(&'a str, Option<&'a [u8]>)>);

impl<'a> Found<'a> {
    fn collect(headers: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>) -> Self {
        Self(headers.into_iter().collect())
    }

    fn optional_text(&self, name: &'static str) -> Result<Option<String>, HeaderError> {
        let Some((_, value)) = self.0.iter().find(|(key, _)| *key == name) else {
            return Ok(None);
        };
        let bytes = value.unwrap_or_default();
        std::str::from_utf8(bytes)
            .map(|text| Some(text.to_owned()))
            .map_err(|_| HeaderError::Invalid {
                name,
                value: String::from_utf8_lossy(bytes).into_owned(),
                expected: "UTF-8 text",
            })
    }

    fn cause(&self) -> Result<Option<Cause>, HeaderError> {
        self.optional_text(CAUSE)?
            .map(|value| Cause::parse(&value))
            .transpose()
    }

    fn text(&self, name: &'static str) -> Result<String, HeaderError> {
        match self.optional_text(name)? {
            Some(text) if !text.is_empty() => Ok(text),
            _ => Err(HeaderError::Missing { name }),
        }
    }

    fn number<T: std::str::FromStr>(
        &self,
        name: &'static str,
        expected: &'static str,
    ) -> Result<T, HeaderError> {
        let text = self.text(name)?;
        text.parse().map_err(|_| HeaderError::Invalid {
            name,
            value: text,
            expected,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> EventHeaders {
        EventHeaders {
            event_id: "0190f0d2-7c1e-7a4b-9b7e-1c2d3e4f5a6b".to_owned(),
            event_type: "testing.counter.Added".to_owned(),
            aggregate_version: 7,
            command_id: "c0ffee00-0000-4000-8000-000000000001".to_owned(),
            correlation_id: "c0ffee00-0000-4000-8000-000000000002".to_owned(),
            occurred_at: 1_790_000_000_123,
            cause: Some(Cause {
                topic: "tributary.order.events".to_owned(),
                partition: 3,
                offset: 41,
                step: 0,
            }),
        }
    }

    fn borrowed<'a>(pairs: &'a [(&'static str, Vec<u8>)]) -> Vec<(&'static str, Option<&'a [u8]>)> {
        pairs
            .iter()
            .map(|(k, v)| (*k, Some(v.as_slice())))
            .collect()
    }

    #[test]
    fn event_headers_round_trip() {
        let pairs = sample().to_pairs();
        assert_eq!(EventHeaders::parse(borrowed(&pairs)), Ok(sample()));
    }

    #[test]
    fn missing_version_is_named() {
        let pairs: Vec<_> = sample()
            .to_pairs()
            .into_iter()
            .filter(|(k, _)| *k != AGGREGATE_VERSION)
            .collect();
        let error = EventHeaders::parse(borrowed(&pairs)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "record has no `aggregate-version` header; every record of this topic must carry it"
        );
    }

    #[test]
    fn malformed_version_is_named_with_its_value() {
        let mut pairs = sample().to_pairs();
        pairs[2].1 = b"-3".to_vec();
        let error = EventHeaders::parse(borrowed(&pairs)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "header `aggregate-version` has value \"-3\", which is not a positive whole number"
        );
    }

    #[test]
    fn command_headers_leave_out_absent_optionals() {
        let headers = CommandHeaders {
            command_id: "id".to_owned(),
            reply_to: None,
            deadline: Some(5),
            cause: None,
        };
        let pairs = headers.to_pairs();
        assert_eq!(pairs.len(), 2);
        assert_eq!(CommandHeaders::parse(borrowed(&pairs)), Ok(headers));
    }

    #[test]
    fn a_malformed_cause_is_named_with_its_value() {
        for value in ["t/1/2", "t/x/2/0", "/1/2/0", "t/1/-2/0"] {
            let pairs = [(CAUSE, Some(value.as_bytes()))];
            let error = Cause::from_headers(pairs).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!(
                    "header `cause` has value {value:?}, which is not topic/partition/offset/step"
                )
            );
        }
    }
}
