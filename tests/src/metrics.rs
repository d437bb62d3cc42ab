//! Reading a service's `/metrics` (the Prometheus text format) in tests and benchmarks: the
//! one parser of samples, so that every test sums a metric the same way and every benchmark
//! reads a histogram the same way.

/// The sum of the samples of metric `name` (a counter or a gauge: the name exactly, not its
/// histogram's `_bucket`/`_sum`/`_count` lines nor a longer name it is a prefix of) whose
/// labels include every pair of `labels`.
pub fn sum(exposition: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    exposition
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels_text, value) = match rest.strip_prefix('{') {
                Some(labelled) => labelled.split_once("} ")?,
                None => ("", rest.strip_prefix(' ')?),
            };
            labels
                .iter()
                .all(|(key, wanted)| has_label(labels_text, key, wanted))
                .then(|| value.trim().parse::<f64>().ok())?
        })
        .sum()
}

/// A histogram's samples summed over the series that match some labels: cumulative bucket
/// counts by upper bound, the sum and the count. The difference of two readings
/// ([`Histogram::since`]) describes what was observed between them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// `(le, cumulative count)`, by increasing `le`; the last bound is `+Inf`.
    pub buckets: Vec<(f64, f64)>,
    /// Sum of the observations.
    pub sum: f64,
    /// Number of observations.
    pub count: f64,
}

impl Histogram {
    /// Histogram `name` (its `_bucket`, `_sum` and `_count` lines) summed over the series whose
    /// labels include every pair of `labels`.
    pub fn read(exposition: &str, name: &str, labels: &[(&str, &str)]) -> Self {
        let bucket_name = format!("{name}_bucket");
        let mut bounds: Vec<f64> = exposition
            .lines()
            .filter_map(|line| line.strip_prefix(&bucket_name)?.strip_prefix('{'))
            .filter_map(|labelled| label_value(labelled.split_once("} ")?.0, "le"))
            .filter_map(|le| le.replace("+Inf", "inf").parse::<f64>().ok())
            .collect();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        let buckets = bounds
            .into_iter()
            .map(|bound| (bound, bucket_count(exposition, &bucket_name, labels, bound)))
            .collect();
        Self {
            buckets,
            sum: sum(exposition, &format!("{name}_sum"), labels),
            count: sum(exposition, &format!("{name}_count"), labels),
        }
    }

    /// What was observed after `earlier` (a reading of the same histogram) and up to this one.
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        let before = |bound: f64| {
            earlier
                .buckets
                .iter()
                .find(|(b, _)| *b == bound)
                .map_or(0.0, |(_, count)| *count)
        };
        Histogram {
            buckets: self
                .buckets
                .iter()
                .map(|(bound, count)| (*bound, count - before(*bound)))
                .collect(),
            sum: self.sum - earlier.sum,
            count: self.count - earlier.count,
        }
    }

    /// The mean observation, or `None` without observations.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0.0).then(|| self.sum / self.count)
    }

    /// The `q` quantile (0 < q ≤ 1), interpolated linearly inside its bucket as Prometheus's
    /// `histogram_quantile` does; the upper bound of the highest finite bucket when it falls in
    /// `+Inf`. `None` without observations.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.buckets.last()?.1;
        if total <= 0.0 {
            return None;
        }
        let rank = q * total;
        let mut lower = (0.0, 0.0);
        for &(bound, count) in &self.buckets {
            if count >= rank {
                if bound.is_infinite() {
                    return Some(lower.0);
                }
                let inside = count - lower.1;
                let fraction = if inside > 0.0 {
                    (rank - lower.1) / inside
                } else {
                    1.0
                };
                return Some(lower.0 + (bound - lower.0) * fraction);
            }
            lower = (bound, count);
        }
        Some(lower.0)
    }
}

/// The sum of the bucket samples of `bucket_name` with upper bound `bound` (compared as a
/// number: `0.5` and `0.50` are one bound) whose labels include every pair of `labels`.
fn bucket_count(exposition: &str, bucket_name: &str, labels: &[(&str, &str)], bound: f64) -> f64 {
    exposition
        .lines()
        .filter_map(|line| {
            let (labels_text, value) = line
                .strip_prefix(bucket_name)?
                .strip_prefix('{')?
                .split_once("} ")?;
            let le = label_value(labels_text, "le")?.replace("+Inf", "inf");
            let same_bound = le.parse::<f64>().ok()? == bound;
            let matching = labels
                .iter()
                .all(|(key, wanted)| has_label(labels_text, key, wanted));
            (same_bound && matching).then(|| value.trim().parse::<f64>().ok())?
        })
        .sum()
}

/// The value of label `key` in the label list `text`.
fn label_value(text: &str, key: &str) -> Option<String> {
    text.split(',')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
}

/// Whether the label list `text` (`a="1",b="2"`) holds `key="wanted"`.
fn has_label(text: &str, key: &str, wanted: &str) -> bool {
    text.split(',')
        .filter_map(|pair| pair.split_once('='))
        .any(|(k, v)| k.trim() == key && v.trim_matches('"') == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPOSITION: &str = "# HELP a_total x\n\
        a_total{p=\"0\",reason=\"parked\"} 2\n\
        a_total{p=\"1\",reason=\"bad\"} 3.5\n\
        ab_total 100\n\
        d_seconds_bucket{le=\"1\"} 7\n\
        d_seconds_count 7\n\
        g 4\n";

    #[test]
    fn a_metric_is_summed_over_its_labels_and_nothing_else() {
        assert_eq!(sum(EXPOSITION, "a_total", &[]), 5.5);
        assert_eq!(sum(EXPOSITION, "a_total", &[("reason", "bad")]), 3.5);
        assert_eq!(sum(EXPOSITION, "a_total", &[("reason", "other")]), 0.0);
        assert_eq!(sum(EXPOSITION, "g", &[]), 4.0);
        assert_eq!(sum(EXPOSITION, "d_seconds", &[]), 0.0);
        assert_eq!(sum(EXPOSITION, "missing", &[]), 0.0);
    }

    fn histogram_text(fast: u32, slow: u32, other_series: u32) -> String {
        let series = |role: &str, a: u32, b: u32| {
            format!(
                "h_seconds_bucket{{role=\"{role}\",le=\"0.01\"}} {a}\n\
                 h_seconds_bucket{{role=\"{role}\",le=\"0.1\"}} {}\n\
                 h_seconds_bucket{{role=\"{role}\",le=\"+Inf\"}} {}\n\
                 h_seconds_sum{{role=\"{role}\"}} {}\n\
                 h_seconds_count{{role=\"{role}\"}} {}\n",
                a + b,
                a + b,
                f64::from(a) * 0.005 + f64::from(b) * 0.05,
                a + b
            )
        };
        series("gateway", fast, slow) + &series("other", other_series, 0)
    }

    #[test]
    fn a_histogram_reads_its_buckets_sum_and_count_for_the_labels_asked() {
        let histogram = Histogram::read(
            &histogram_text(3, 1, 50),
            "h_seconds",
            &[("role", "gateway")],
        );
        assert_eq!(
            histogram.buckets,
            vec![(0.01, 3.0), (0.1, 4.0), (f64::INFINITY, 4.0)]
        );
        assert_eq!(histogram.count, 4.0);
        assert!((histogram.sum - 0.065).abs() < 1e-9);
        let everything = Histogram::read(&histogram_text(3, 1, 50), "h_seconds", &[]);
        assert_eq!(everything.count, 54.0);
    }

    #[test]
    fn the_difference_of_two_readings_holds_only_what_came_between() {
        let earlier = Histogram::read(&histogram_text(100, 0, 0), "h_seconds", &[]);
        let later = Histogram::read(&histogram_text(100, 10, 0), "h_seconds", &[]);
        let between = later.since(&earlier);
        assert_eq!(between.count, 10.0);
        assert_eq!(between.buckets[0], (0.01, 0.0));
        assert!((between.mean().unwrap() - 0.05).abs() < 1e-9);
        // Every observation between the readings was in (0.01, 0.1].
        let median = between.quantile(0.5).unwrap();
        assert!((median - 0.055).abs() < 1e-9, "{median}");
        assert_eq!(earlier.since(&earlier).quantile(0.5), None);
    }

    #[test]
    fn a_quantile_in_the_open_bucket_is_the_highest_finite_bound() {
        let text = "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 10\nh_sum 100\nh_count 10\n";
        let histogram = Histogram::read(text, "h", &[]);
        assert_eq!(histogram.quantile(0.99), Some(1.0));
        assert_eq!(histogram.quantile(0.05), Some(0.5));
    }
}
