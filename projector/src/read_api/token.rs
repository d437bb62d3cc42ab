//! The consistency token: the Kafka coordinates of an event, written
//! `<topic>:<partition>:<offset>`.
//!
//! The command gateway returns it for an accepted command; a client passes it back to a read
//! to see its own write. The text form splits on `:` alone because topic names never contain
//! one, so the same string always parses the same way and a malformed token is rejected with
//! the part that is wrong rather than guessed at.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Where an event landed: a read holding this token waits until the projection has committed
/// past `offset` in `topic`/`partition`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConsistencyToken {
    /// The topic the event was written to.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset: the read is consistent once the committed next offset is above it.
    pub offset: i64,
}

impl ConsistencyToken {
    /// Whether a partition committed up to `next_offset` (the first offset not yet applied)
    /// includes the token's event.
    pub fn is_passed_by(&self, next_offset: i64) -> bool {
        next_offset > self.offset
    }
}

/// A consistency token that does not parse; the message quotes it and names the bad part.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenError {
    /// Not three `:`-separated parts, or an empty topic.
    #[error("consistency token {0:?} is not <topic>:<partition>:<offset>")]
    Shape(String),
    /// The partition part is not a non-negative 32-bit integer.
    #[error(
        "consistency token {token:?} has partition {part:?}, which is not a non-negative integer; expected <topic>:<partition>:<offset>"
    )]
    Partition {
        /// The whole token.
        token: String,
        /// The partition part.
        part: String,
    },
    /// The offset part is not a non-negative 64-bit integer.
    #[error(
        "consistency token {token:?} has offset {part:?}, which is not a non-negative integer; expected <topic>:<partition>:<offset>"
    )]
    Offset {
        /// The whole token.
        token: String,
        /// The offset part.
        part: String,
    },
}

impl FromStr for ConsistencyToken {
    type Err = TokenError;

    fn from_str(token: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = token.split(':').collect();
        let [topic, partition, offset] = parts[..] else {
            return Err(TokenError::Shape(token.to_owned()));
        };
        if topic.is_empty() {
            return Err(TokenError::Shape(token.to_owned()));
        }
        let partition = parse_non_negative(partition).ok_or_else(|| TokenError::Partition {
            token: token.to_owned(),
            part: partition.to_owned(),
        })?;
        let offset = parse_non_negative(offset).ok_or_else(|| TokenError::Offset {
            token: token.to_owned(),
            part: offset.to_owned(),
        })?;
        Ok(Self {
            topic: topic.to_owned(),
            partition,
            offset,
        })
    }
}

impl fmt::Display for ConsistencyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.topic, self.partition, self.offset)
    }
}

/// Digits only (no sign, no spaces), within range of `T`.
fn parse_non_negative<T: FromStr>(part: &str) -> Option<T> {
    let digits_only = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    digits_only.then(|| part.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(token: &str) -> Result<ConsistencyToken, TokenError> {
        token.parse()
    }

    #[test]
    fn a_well_formed_token_names_topic_partition_and_offset() {
        assert_eq!(
            parse("shop.orders:3:41"),
            Ok(ConsistencyToken {
                topic: "shop.orders".to_owned(),
                partition: 3,
                offset: 41,
            })
        );
    }

    #[test]
    fn display_is_the_text_that_parses_back() {
        let token = ConsistencyToken {
            topic: "shop-carts".to_owned(),
            partition: 0,
            offset: 9_000_000_000,
        };
        assert_eq!(parse(&token.to_string()), Ok(token));
    }

    #[test]
    fn tokens_without_three_parts_or_topic_are_rejected_whole() {
        for bad in ["", "x", "t:1", "t:1:2:3", ":1:2", "t::"] {
            let error = parse(bad).err();
            assert!(
                matches!(
                    error,
                    Some(TokenError::Shape(_)) | Some(TokenError::Partition { .. })
                ),
                "{bad:?} gave {error:?}"
            );
        }
        assert_eq!(
            parse("x").err().map(|e| e.to_string()),
            Some("consistency token \"x\" is not <topic>:<partition>:<offset>".to_owned())
        );
    }

    #[test]
    fn a_bad_partition_is_named() {
        for bad in [
            "t:a:1",
            "t:-1:1",
            "t:+1:1",
            "t: 1:1",
            "t:2147483648:1",
            "t::1",
        ] {
            let error = parse(bad).err();
            assert!(
                matches!(error, Some(TokenError::Partition { .. })),
                "{bad:?} gave {error:?}"
            );
        }
        let message = parse("t:a:1").err().map(|e| e.to_string());
        assert!(message.is_some_and(|m| m.contains("partition \"a\"")));
    }

    #[test]
    fn a_bad_offset_is_named() {
        for bad in [
            "t:1:",
            "t:1:x",
            "t:1:-5",
            "t:1:1.5",
            "t:1:99999999999999999999",
        ] {
            let error = parse(bad).err();
            assert!(
                matches!(error, Some(TokenError::Offset { .. })),
                "{bad:?} gave {error:?}"
            );
        }
    }

    #[test]
    fn the_token_is_passed_once_the_next_offset_is_above_it() {
        let token = parse("t:0:10").unwrap();
        assert!(!token.is_passed_by(10));
        assert!(token.is_passed_by(11));
    }
}
