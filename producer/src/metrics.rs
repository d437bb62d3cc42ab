//! Metrics of the command processor and the saga runner, owned here: code reports what
//! happened through typed methods, and [`METRIC_NAMES`] lists every name for dashboards and
//! alert rules to be checked against. The gateway's metrics live with the gateway.

use std::time::Duration;

use prometheus::{HistogramVec, IntCounterVec, Registry};
use tributary_runtime::metrics::{counter_vec, histogram_vec};

/// The name of every metric of the processor and the saga runner, one constant each, so
/// that code, tests and the deploy assets' check share one spelling.
pub mod names {
    /// `tributary_processor_commands_total`.
    pub const COMMANDS_TOTAL: &str = "tributary_processor_commands_total";
    /// `tributary_processor_command_duration_seconds`.
    pub const COMMAND_DURATION_SECONDS: &str = "tributary_processor_command_duration_seconds";
    /// `tributary_processor_read_back_conflicts_total`.
    pub const READ_BACK_CONFLICTS_TOTAL: &str = "tributary_processor_read_back_conflicts_total";
    /// `tributary_processor_rebuilds_total`.
    pub const REBUILDS_TOTAL: &str = "tributary_processor_rebuilds_total";
    /// `tributary_processor_duplicate_commands_total`.
    pub const DUPLICATE_COMMANDS_TOTAL: &str = "tributary_processor_duplicate_commands_total";
    /// `tributary_saga_commands_sent_total`.
    pub const SAGA_COMMANDS_SENT_TOTAL: &str = "tributary_saga_commands_sent_total";
    /// `tributary_processor_commands_blocked_total`.
    pub const COMMANDS_BLOCKED_TOTAL: &str = "tributary_processor_commands_blocked_total";
}

/// The name of every metric of the processor and the saga runner.
pub const METRIC_NAMES: &[&str] = &[
    names::COMMANDS_TOTAL,
    names::COMMAND_DURATION_SECONDS,
    names::READ_BACK_CONFLICTS_TOTAL,
    names::REBUILDS_TOTAL,
    names::DUPLICATE_COMMANDS_TOTAL,
    names::SAGA_COMMANDS_SENT_TOTAL,
    names::COMMANDS_BLOCKED_TOTAL,
];

/// Metrics of the processor and the saga runner.
#[derive(Debug, Clone)]
pub struct ProducerMetrics {
    registry: Registry,
    commands: IntCounterVec,
    duration: HistogramVec,
    conflicts: IntCounterVec,
    rebuilds: IntCounterVec,
    duplicates: IntCounterVec,
    saga_commands: IntCounterVec,
    blocked: IntCounterVec,
}

impl ProducerMetrics {
    /// Metrics registered in `registry`.
    pub fn new(registry: Registry) -> Self {
        let duration = histogram_vec(
            &registry,
            names::COMMAND_DURATION_SECONDS,
            "Time from a command's arrival to its reply, by aggregate.",
            &["aggregate"],
            &[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ],
        );
        Self {
            commands: counter_vec(
                &registry,
                names::COMMANDS_TOTAL,
                "Commands decided, by aggregate and outcome (accepted, rejected).",
                &["aggregate", "outcome"],
            ),
            duration,
            conflicts: counter_vec(
                &registry,
                names::READ_BACK_CONFLICTS_TOTAL,
                "Writes that lost the race for their version to another writer and were decided again.",
                &["aggregate"],
            ),
            rebuilds: counter_vec(
                &registry,
                names::REBUILDS_TOTAL,
                "Partition state rebuilds from the snapshot and the log, by role.",
                &["role"],
            ),
            duplicates: counter_vec(
                &registry,
                names::DUPLICATE_COMMANDS_TOTAL,
                "Repeated command IDs answered with their first outcome.",
                &["aggregate"],
            ),
            saga_commands: counter_vec(
                &registry,
                names::SAGA_COMMANDS_SENT_TOTAL,
                "Commands the saga runner sent, by target aggregate.",
                &["aggregate"],
            ),
            blocked: counter_vec(
                &registry,
                names::COMMANDS_BLOCKED_TOTAL,
                "Commands refused because their aggregate is blocked by a record this build cannot read, by aggregate.",
                &["aggregate"],
            ),
            registry,
        }
    }

    /// The registry to serve on `/metrics`.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// A command was answered.
    pub fn command_answered(
        &self,
        aggregate: &str,
        accepted: bool,
        duplicate: bool,
        conflicts: usize,
        took: Duration,
    ) {
        let outcome = if accepted { "accepted" } else { "rejected" };
        self.commands.with_label_values(&[aggregate, outcome]).inc();
        self.duration
            .with_label_values(&[aggregate])
            .observe(took.as_secs_f64());
        if duplicate {
            self.duplicates.with_label_values(&[aggregate]).inc();
        }
        if conflicts > 0 {
            self.conflicts
                .with_label_values(&[aggregate])
                .inc_by(conflicts as u64);
        }
    }

    /// A command was refused because its aggregate is blocked.
    pub fn command_blocked(&self, aggregate: &str) {
        self.blocked.with_label_values(&[aggregate]).inc();
    }

    /// A partition's state was rebuilt.
    pub fn rebuilt(&self, role: &str) {
        self.rebuilds.with_label_values(&[role]).inc();
    }

    /// The saga runner sent a command.
    pub fn saga_command_sent(&self, aggregate: &str) {
        self.saga_commands.with_label_values(&[aggregate]).inc();
    }
}

#[cfg(test)]
mod tests {
    use tributary_runtime::metrics::missing;

    use super::*;

    #[test]
    fn every_listed_name_is_exported() {
        let metrics = ProducerMetrics::new(Registry::new());
        metrics.command_answered("counter", true, true, 1, Duration::ZERO);
        metrics.rebuilt("processor");
        metrics.saga_command_sent("counter");
        metrics.command_blocked("counter");
        assert_eq!(
            missing(metrics.registry(), METRIC_NAMES),
            Vec::<String>::new()
        );
    }
}
