//! The command processor: the single writer of each aggregate, checked by the log.
//!
//! - [`book`]: one aggregate type's aggregates as the log says they are (version rule);
//! - [`kinds`]: the domain's aggregate types and how their books are loaded;
//! - [`log_tail`]: following the owned events partitions, for the rebuild and the read-back;
//! - [`partition`]: one owned commands partition — decide, write, read back, reply; run per
//!   owned partition by [`crate::partitioned`].

pub mod book;
pub mod kinds;
pub mod log_tail;
pub mod partition;
