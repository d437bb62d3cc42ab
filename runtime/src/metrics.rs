//! Registration of Prometheus metrics, shared by every binary's metrics module: each module
//! owns its metric names and help texts; this is only the plumbing.

use prometheus::Registry;
use prometheus::core::Collector;

/// Registers `metric` under `name` in `registry` and returns it.
///
/// Metrics are built from constants of the calling module and each name is registered once,
/// so a failure here is a programming error, reported by the first test that builds the
/// module's metrics: it panics with the metric's name.
pub fn register<M: Collector + Clone + 'static>(
    registry: &Registry,
    name: &str,
    metric: Result<M, prometheus::Error>,
) -> M {
    let metric = metric.unwrap_or_else(|error| panic!("metric {name} is malformed: {error}"));
    registry
        .register(Box::new(metric.clone()))
        .unwrap_or_else(|error| panic!("metric {name} cannot be registered: {error}"));
    metric
}

/// The names of `expected` that `registry` does not export (yet): what a metrics module's
/// test asserts is empty once every metric has been touched.
pub fn missing(registry: &Registry, expected: &[&str]) -> Vec<String> {
    let exported: Vec<String> = registry
        .gather()
        .iter()
        .map(|family| family.name().to_owned())
        .collect();
    expected
        .iter()
        .filter(|name| !exported.iter().any(|e| e == *name))
        .map(|name| (*name).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use prometheus::{IntCounterVec, Opts};

    use super::*;

    #[test]
    fn a_registered_metric_is_exported_once_touched() {
        let registry = Registry::new();
        let counter = register(
            &registry,
            "t_total",
            IntCounterVec::new(Opts::new("t_total", "help"), &["l"]),
        );
        assert_eq!(missing(&registry, &["t_total"]), vec!["t_total"]);
        counter.with_label_values(&["x"]).inc();
        assert!(missing(&registry, &["t_total"]).is_empty());
    }
}
