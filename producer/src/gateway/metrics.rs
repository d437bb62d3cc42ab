//! Every metric the gateway exports, owned here and nowhere else: the gateway reports what
//! happened through typed methods (`command_answered`, `reply_routed`, …), which update the
//! metric and, where an operator should hear of it, write the log line too. The names are
//! listed in [`METRIC_NAMES`] so dashboards and alert rules can be checked against them.

use std::time::Duration;

use prometheus::{HistogramVec, IntCounter, IntCounterVec, IntGauge, Registry};
use tributary_runtime::metrics::{counter, counter_vec, histogram_vec, int_gauge};

/// The name of every metric the gateway exports, one constant each, so that code, tests and
/// the deploy assets' check share one spelling.
pub mod names {
    /// `tributary_gateway_commands_total`.
    pub const COMMANDS_TOTAL: &str = "tributary_gateway_commands_total";
    /// `tributary_gateway_request_duration_seconds`.
    pub const REQUEST_DURATION_SECONDS: &str = "tributary_gateway_request_duration_seconds";
    /// `tributary_gateway_replies_total`.
    pub const REPLIES_TOTAL: &str = "tributary_gateway_replies_total";
    /// `tributary_gateway_replies_timed_out_total`.
    pub const REPLIES_TIMED_OUT_TOTAL: &str = "tributary_gateway_replies_timed_out_total";
    /// `tributary_gateway_waiting_commands`.
    pub const WAITING_COMMANDS: &str = "tributary_gateway_waiting_commands";
    /// `tributary_gateway_reply_consumer_errors_total`.
    pub const REPLY_CONSUMER_ERRORS_TOTAL: &str = "tributary_gateway_reply_consumer_errors_total";
}

/// The name of every metric the gateway exports.
pub const METRIC_NAMES: &[&str] = &[
    names::COMMANDS_TOTAL,
    names::REQUEST_DURATION_SECONDS,
    names::REPLIES_TOTAL,
    names::REPLIES_TIMED_OUT_TOTAL,
    names::WAITING_COMMANDS,
    names::REPLY_CONSUMER_ERRORS_TOTAL,
];

/// How a request to `POST /v1/commands` ended: the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The domain accepted the command (`200`).
    Accepted,
    /// The domain refused the command (`409`).
    Rejected,
    /// The request was refused before anything was written (`400`, `413`, `422`).
    Invalid,
    /// No reply within the reply timeout (`504`).
    Timeout,
    /// The broker could not take the command, or the gateway cannot hear replies (`503`).
    Unavailable,
    /// A bug: the command could not be encoded (`500`).
    Internal,
}

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Invalid => "invalid",
            Self::Timeout => "timeout",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

/// What the replies listener did with one record: the `result` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyResult {
    /// Handed to the request waiting for it.
    Delivered,
    /// A second reply to a command already answered (the processor redid the command after
    /// a crash or a rebalance, or the client sent the same command ID twice).
    Duplicate,
    /// The request had stopped waiting (timed out, broker error, client gone).
    Late,
    /// Addressed to this instance, but no request of this process ever waited for it (one
    /// of an earlier process with the same instance ID, or forgotten long ago).
    Unknown,
    /// Addressed to another gateway instance whose replies share this partition.
    OtherInstance,
    /// Not a command reply of this contract; skipped.
    Undecodable,
}

impl ReplyResult {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Duplicate => "duplicate",
            Self::Late => "late",
            Self::Unknown => "unknown",
            Self::OtherInstance => "other_instance",
            Self::Undecodable => "undecodable",
        }
    }
}

/// The gateway's metrics, registered in one registry.
#[derive(Clone)]
pub struct GatewayMetrics {
    registry: Registry,
    commands: IntCounterVec,
    request_duration: HistogramVec,
    replies: IntCounterVec,
    replies_timed_out: IntCounter,
    waiting: IntGauge,
    consumer_errors: IntCounter,
}

impl std::fmt::Debug for GatewayMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayMetrics").finish_non_exhaustive()
    }
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// From half a millisecond (a refused body) to the longest reply timeout worth waiting for.
const SECONDS_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

impl GatewayMetrics {
    /// The gateway's metrics in a fresh registry.
    pub fn new() -> Self {
        Self::in_registry(Registry::new())
    }

    /// The gateway's metrics in `registry`, to share one `/metrics` with the other parts of
    /// a process (the processor's metrics, say).
    pub fn in_registry(registry: Registry) -> Self {
        let r = &registry;
        Self {
            commands: counter_vec(
                r,
                names::COMMANDS_TOTAL,
                "Requests to POST /v1/commands, by aggregate type, command and outcome (accepted, rejected, invalid, timeout, unavailable, internal); aggregate and command are \"unknown\" when the body could not be read.",
                &["aggregate", "command", "outcome"],
            ),
            request_duration: histogram_vec(
                r,
                names::REQUEST_DURATION_SECONDS,
                "Time from receiving a command request to answering it, by outcome.",
                &["outcome"],
                &SECONDS_BUCKETS,
            ),
            replies: counter_vec(
                r,
                names::REPLIES_TOTAL,
                "Records read from this instance's replies partition, by what became of them (delivered, duplicate, late, unknown, other_instance, undecodable).",
                &["result"],
            ),
            replies_timed_out: counter(
                r,
                names::REPLIES_TIMED_OUT_TOTAL,
                "Commands answered 504 because no reply arrived within the reply timeout.",
            ),
            waiting: int_gauge(
                r,
                names::WAITING_COMMANDS,
                "Requests waiting for their command's reply.",
            ),
            consumer_errors: counter(
                r,
                names::REPLY_CONSUMER_ERRORS_TOTAL,
                "Errors of the replies consumer (the broker unreachable, for instance); it keeps trying.",
            ),
            registry,
        }
    }

    /// The registry to serve on `/metrics`.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// A request was answered with `outcome` after `duration`; `aggregate` and `command` are
    /// `None` when the body could not be read.
    pub fn command_answered(
        &self,
        aggregate: Option<&str>,
        command: Option<&str>,
        outcome: Outcome,
        duration: Duration,
    ) {
        self.commands
            .with_label_values(&[
                aggregate.unwrap_or("unknown"),
                command.unwrap_or("unknown"),
                outcome.as_str(),
            ])
            .inc();
        self.request_duration
            .with_label_values(&[outcome.as_str()])
            .observe(duration.as_secs_f64());
    }

    /// A record of the replies partition was handled with `result`.
    pub fn reply_routed(&self, result: ReplyResult, command_id: &str) {
        self.replies.with_label_values(&[result.as_str()]).inc();
        match result {
            ReplyResult::Late => tracing::info!(
                command_id,
                "reply arrived after its request stopped waiting; the client was told to retry with the same command_id"
            ),
            ReplyResult::Duplicate => {
                tracing::debug!(command_id, "duplicate reply of an answered command")
            }
            _ => {}
        }
    }

    /// A record of the replies partition was addressed to another instance.
    pub fn reply_for_another_instance(&self) {
        self.replies
            .with_label_values(&[ReplyResult::OtherInstance.as_str()])
            .inc();
    }

    /// A record of the replies partition could not be read as a command reply.
    pub fn reply_undecodable(&self, partition: i32, offset: i64, error: &str) {
        self.replies
            .with_label_values(&[ReplyResult::Undecodable.as_str()])
            .inc();
        tracing::warn!(
            partition,
            offset,
            error,
            "replies record is not a command reply; skipped"
        );
    }

    /// No reply to `command_id` arrived within `timeout`.
    pub fn reply_timed_out(&self, command_id: &str, timeout: Duration) {
        self.replies_timed_out.inc();
        tracing::warn!(
            command_id,
            timeout_ms = timeout.as_millis() as u64,
            "no reply within the reply timeout; answered 504"
        );
    }

    /// `count` requests are waiting for replies.
    pub fn waiting(&self, count: usize) {
        self.waiting.set(count as i64);
    }

    /// The replies consumer reported an error.
    pub fn consumer_error(&self, error: &str) {
        self.consumer_errors.inc();
        tracing::warn!(error, "replies consumer error; it keeps trying");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_is_exported() {
        let metrics = GatewayMetrics::new();
        metrics.command_answered(
            Some("counter"),
            Some("Add"),
            Outcome::Accepted,
            Duration::ZERO,
        );
        metrics.reply_routed(ReplyResult::Delivered, "c");
        metrics.reply_for_another_instance();
        metrics.reply_timed_out("c", Duration::ZERO);
        metrics.waiting(1);
        metrics.consumer_error("x");
        let exported: Vec<String> = metrics
            .registry()
            .gather()
            .iter()
            .map(|family| family.name().to_owned())
            .collect();
        for name in METRIC_NAMES {
            assert!(
                exported.iter().any(|e| e == name),
                "{name} is not exported: {exported:?}"
            );
        }
        assert_eq!(exported.len(), METRIC_NAMES.len(), "{exported:?}");
    }

    #[test]
    fn an_unreadable_body_is_counted_under_unknown() {
        let metrics = GatewayMetrics::new();
        metrics.command_answered(None, None, Outcome::Invalid, Duration::ZERO);
        let count = metrics
            .commands
            .with_label_values(&["unknown", "unknown", "invalid"])
            .get();
        assert_eq!(count, 1);
    }
}
