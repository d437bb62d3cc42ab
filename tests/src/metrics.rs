//! Reading a service's `/metrics` (the Prometheus text format) in tests and benchmarks: the
//! one parser of samples, so that every test sums a metric the same way.

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
}
