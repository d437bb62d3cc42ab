//! A consumed Kafka record as the pipeline keeps it between the consumer and its handler:
//! owned, with the coordinates, key, value and headers the version rule and the dead-letter
//! topic need. The projector's workers, the processor and the saga runner all take these.

use rdkafka::message::{BorrowedMessage, Headers, Message};

/// One record of a source partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    /// Source topic.
    pub topic: String,
    /// Source partition.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// Record key: the aggregate ID.
    pub key: Option<Vec<u8>>,
    /// Record value: the framed Avro event.
    pub value: Option<Vec<u8>>,
    /// Headers in order, as sent.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Record timestamp, milliseconds since the Unix epoch, when the broker gave one.
    pub timestamp_ms: Option<i64>,
}

impl SourceRecord {
    /// Copies a consumed message.
    pub fn from_message(message: &BorrowedMessage<'_>) -> Self {
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
            headers,
            timestamp_ms: message.timestamp().to_millis(),
        }
    }

    /// The headers as borrowed pairs, the shape the header parsers take.
    pub fn header_pairs(&self) -> impl Iterator<Item = (&str, Option<&[u8]>)> {
        self.headers
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_deref()))
    }

    /// The key as an aggregate ID, if it is UTF-8.
    pub fn aggregate_id(&self) -> Option<&str> {
        self.key
            .as_deref()
            .and_then(|key| std::str::from_utf8(key).ok())
            .filter(|id| !id.is_empty())
    }
}
