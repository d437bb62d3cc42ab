//! Registration of Prometheus metrics, shared by every binary's metrics module: each module
//! owns its metric names (one constant each) and help texts; this is only the plumbing, one
//! constructor per metric type.

use prometheus::core::Collector;
use prometheus::{
    GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

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

/// A counter `name` with `labels`, registered in `registry`.
pub fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(
        registry,
        name,
        IntCounterVec::new(Opts::new(name, help), labels),
    )
}

/// A counter `name` without labels, registered in `registry`.
pub fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    register(registry, name, IntCounter::new(name, help))
}

/// An integer gauge `name` with `labels`, registered in `registry`.
pub fn int_gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(
        registry,
        name,
        IntGaugeVec::new(Opts::new(name, help), labels),
    )
}

/// An integer gauge `name` without labels, registered in `registry`.
pub fn int_gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    register(registry, name, IntGauge::new(name, help))
}

/// A floating-point gauge `name` with `labels`, registered in `registry`.
pub fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    register(registry, name, GaugeVec::new(Opts::new(name, help), labels))
}

/// A histogram `name` with `labels` and `buckets`, registered in `registry`.
pub fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> HistogramVec {
    register(
        registry,
        name,
        HistogramVec::new(
            HistogramOpts::new(name, help).buckets(buckets.to_vec()),
            labels,
        ),
    )
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
