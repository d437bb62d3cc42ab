//! Kafka client configuration: a few typed settings, every other librdkafka property passed
//! through from `KAFKA_*` environment variables, and the properties our guarantees depend on
//! pinned so that configuration cannot silently break them.
//!
//! `KAFKA_SECURITY_PROTOCOL=SASL_SSL` becomes `security.protocol=SASL_SSL`: upper case to lower
//! case, `_` to `.`. A pass-through property that contradicts a pinned one is refused at
//! start-up, naming both.

use rdkafka::ClientConfig;
use thiserror::Error;

/// Prefix of environment variables passed to librdkafka.
pub const PASSTHROUGH_PREFIX: &str = "KAFKA_";

/// A pass-through property contradicts one the pipeline's guarantees depend on.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error(
    "{variable}={value} is not allowed: the pipeline needs {property}={required} ({why}); remove the variable"
)]
pub struct ConfigError {
    /// The environment variable.
    pub variable: String,
    /// Its value.
    pub value: String,
    /// The librdkafka property.
    pub property: &'static str,
    /// The value the pipeline pins.
    pub required: &'static str,
    /// Which guarantee needs it.
    pub why: &'static str,
}

/// Connection settings shared by every client of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// librdkafka properties from `KAFKA_*` variables (including `bootstrap.servers`).
    passthrough: Vec<(String, String)>,
}

struct Pinned {
    property: &'static str,
    value: &'static str,
    why: &'static str,
}

const PRODUCER_PINNED: &[Pinned] = &[
    Pinned {
        property: "enable.idempotence",
        value: "true",
        why: "retries must not duplicate or reorder records",
    },
    Pinned {
        property: "acks",
        value: "all",
        why: "an acknowledged event must survive a broker failure",
    },
    Pinned {
        property: "partitioner",
        value: "murmur2_random",
        why: "keys must land where the Java client and our partitioner put them",
    },
];

const CONSUMER_PINNED: &[Pinned] = &[Pinned {
    property: "enable.auto.commit",
    value: "false",
    why: "offsets are committed only after the work they cover is durable",
}];

const POSITIONED_CONSUMER_PINNED: &[Pinned] = &[
    Pinned {
        property: "enable.auto.commit",
        value: "false",
        why: "offsets are committed only after the work they cover is durable",
    },
    Pinned {
        property: "auto.offset.reset",
        value: "error",
        why: "a stored offset the log no longer holds must stop the consumer, not skip records",
    },
];

/// The prefetch bound of [`KafkaSettings::positioned_consumer`]: records per partition and
/// kilobytes that librdkafka fetches ahead of the application, and how soon it fetches again
/// once the application has taken some (librdkafka waits 1 s by default, which with a small
/// prefetch starves the workers). Measured in `bench/RESULTS.md`: this bound keeps a
/// projector catching up on 1M events under 150 MiB at the same speed as the defaults.
pub const POSITIONED_PREFETCH: &[(&str, &str)] = &[
    ("queued.min.messages", "1000"),
    ("queued.max.messages.kbytes", "2048"),
    ("fetch.queue.backoff.ms", "10"),
];

impl KafkaSettings {
    /// Settings from the process environment: every `KAFKA_*` variable, with
    /// `bootstrap.servers` defaulting to `default_bootstrap` when `KAFKA_BOOTSTRAP_SERVERS` is
    /// not set.
    pub fn from_env(default_bootstrap: &str) -> Self {
        Self::from_vars(std::env::vars(), default_bootstrap)
    }

    /// Settings from the given variables (the testable core of [`KafkaSettings::from_env`]).
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
        default_bootstrap: &str,
    ) -> Self {
        let mut passthrough: Vec<(String, String)> = vars
            .into_iter()
            .filter_map(|(name, value)| {
                let rest = name.strip_prefix(PASSTHROUGH_PREFIX)?;
                (!rest.is_empty()).then(|| (rest.to_ascii_lowercase().replace('_', "."), value))
            })
            .collect();
        passthrough.sort();
        if !passthrough.iter().any(|(k, _)| k == "bootstrap.servers") {
            passthrough.push(("bootstrap.servers".to_owned(), default_bootstrap.to_owned()));
        }
        Self { passthrough }
    }

    /// The broker list clients connect to.
    pub fn bootstrap_servers(&self) -> &str {
        self.passthrough
            .iter()
            .find(|(k, _)| k == "bootstrap.servers")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    /// Configuration for an idempotent producer that places keys with murmur2. A record waits
    /// up to 5 ms (`linger.ms`) for others to share its request.
    pub fn producer(&self) -> Result<ClientConfig, ConfigError> {
        self.producer_with(&[("linger.ms", "5")])
    }

    /// Configuration for a producer on the command path, where a client waits for each
    /// record: like [`KafkaSettings::producer`], but a record is sent at once (`linger.ms=0`).
    /// Under load records still share requests, since they queue while the earlier requests
    /// are in flight. `KAFKA_LINGER_MS` overrides it.
    pub fn low_latency_producer(&self) -> Result<ClientConfig, ConfigError> {
        self.producer_with(&[("linger.ms", "0")])
    }

    fn producer_with(&self, defaults: &[(&str, &str)]) -> Result<ClientConfig, ConfigError> {
        let mut config = self.base(PRODUCER_PINNED)?;
        config.set("message.timeout.ms", "30000");
        for (key, value) in defaults {
            config.set(*key, *value);
        }
        self.apply_passthrough(&mut config);
        pin(&mut config, PRODUCER_PINNED);
        Ok(config)
    }

    /// Configuration for a consumer in `group_id` that commits offsets only by hand.
    pub fn consumer(&self, group_id: &str) -> Result<ClientConfig, ConfigError> {
        self.consumer_with(group_id, &[])
    }

    /// Configuration for a consumer on the command path, where a record waits for its reader:
    /// like [`KafkaSettings::consumer`], but an empty fetch is held by the broker for at most
    /// 100 ms (`fetch.wait.max.ms`, librdkafka's default 500). The broker answers a held fetch
    /// as soon as a record arrives, so this bounds only how often an idle consumer asks again;
    /// 5 ms, as before, made a dozen idle consumers cost the broker thousands of requests a
    /// second and the command path a third of its throughput (bench/RESULTS.md).
    pub fn low_latency_consumer(&self, group_id: &str) -> Result<ClientConfig, ConfigError> {
        self.consumer_with(group_id, &[("fetch.wait.max.ms", "100")])
    }

    /// Configuration for a consumer that starts every partition at an offset it keeps itself
    /// (the projector's offset store): a start offset the log does not hold is an error
    /// (`auto.offset.reset=error`, pinned), never a silent jump to either end.
    ///
    /// It reads a backlog as fast as its workers apply it, so what librdkafka fetches ahead
    /// is bounded ([`POSITIONED_PREFETCH`]) well below librdkafka's defaults (100,000 records
    /// per partition, 64 MiB), which with small events hold hundreds of thousands of records
    /// in memory; `KAFKA_QUEUED_MIN_MESSAGES`, `KAFKA_QUEUED_MAX_MESSAGES_KBYTES` and
    /// `KAFKA_FETCH_QUEUE_BACKOFF_MS` override them.
    pub fn positioned_consumer(&self, group_id: &str) -> Result<ClientConfig, ConfigError> {
        self.consumer_pinned(group_id, POSITIONED_PREFETCH, POSITIONED_CONSUMER_PINNED)
    }

    fn consumer_with(
        &self,
        group_id: &str,
        defaults: &[(&str, &str)],
    ) -> Result<ClientConfig, ConfigError> {
        self.consumer_pinned(group_id, defaults, CONSUMER_PINNED)
    }

    fn consumer_pinned(
        &self,
        group_id: &str,
        defaults: &[(&str, &str)],
        pinned: &[Pinned],
    ) -> Result<ClientConfig, ConfigError> {
        let mut config = self.base(pinned)?;
        config
            .set("group.id", group_id)
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false");
        for (key, value) in defaults {
            config.set(*key, *value);
        }
        self.apply_passthrough(&mut config);
        pin(&mut config, pinned);
        Ok(config)
    }

    /// Configuration for an admin client.
    pub fn admin(&self) -> Result<ClientConfig, ConfigError> {
        let mut config = self.base(&[])?;
        self.apply_passthrough(&mut config);
        Ok(config)
    }

    fn base(&self, pinned: &[Pinned]) -> Result<ClientConfig, ConfigError> {
        for (property, value) in &self.passthrough {
            if let Some(rule) = pinned.iter().find(|rule| rule.property == property)
                && !value.eq_ignore_ascii_case(rule.value)
            {
                return Err(ConfigError {
                    variable: format!(
                        "{PASSTHROUGH_PREFIX}{}",
                        property.replace('.', "_").to_ascii_uppercase()
                    ),
                    value: value.clone(),
                    property: rule.property,
                    required: rule.value,
                    why: rule.why,
                });
            }
        }
        let mut config = ClientConfig::new();
        config.set("client.id", "tributary");
        Ok(config)
    }

    fn apply_passthrough(&self, config: &mut ClientConfig) {
        for (property, value) in &self.passthrough {
            config.set(property, value);
        }
    }
}

fn pin(config: &mut ClientConfig, pinned: &[Pinned]) {
    for rule in pinned {
        config.set(rule.property, rule.value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_positioned_consumer_never_resets_its_offsets_by_itself() {
        let settings = KafkaSettings::from_vars(vars(&[]), "x:1");
        let config = settings.positioned_consumer("g").unwrap();
        assert_eq!(config.get("auto.offset.reset"), Some("error"));
        let latest =
            KafkaSettings::from_vars(vars(&[("KAFKA_AUTO_OFFSET_RESET", "latest")]), "x:1");
        let error = latest.positioned_consumer("g").unwrap_err().to_string();
        assert!(error.contains("KAFKA_AUTO_OFFSET_RESET=latest"), "{error}");
        assert_eq!(
            latest.consumer("g").unwrap().get("auto.offset.reset"),
            Some("latest"),
            "other consumers may choose"
        );
    }

    #[test]
    fn a_positioned_consumer_prefetches_little_unless_told_otherwise() {
        let settings = KafkaSettings::from_vars(vars(&[]), "x:1");
        let config = settings.positioned_consumer("g").unwrap();
        for (property, value) in POSITIONED_PREFETCH {
            assert_eq!(config.get(property), Some(*value), "{property}");
        }
        assert_eq!(
            settings.consumer("g").unwrap().get("queued.min.messages"),
            None,
            "other consumers keep librdkafka's defaults"
        );
        let larger =
            KafkaSettings::from_vars(vars(&[("KAFKA_QUEUED_MIN_MESSAGES", "50000")]), "x:1");
        let config = larger.positioned_consumer("g").unwrap();
        assert_eq!(config.get("queued.min.messages"), Some("50000"));
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn kafka_variables_become_librdkafka_properties() {
        let settings = KafkaSettings::from_vars(
            vars(&[
                ("KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
                ("KAFKA_BOOTSTRAP_SERVERS", "b1:9092,b2:9092"),
                ("PATH", "/bin"),
            ]),
            "127.0.0.1:9092",
        );
        let config = settings.consumer("g").unwrap();
        assert_eq!(config.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(config.get("bootstrap.servers"), Some("b1:9092,b2:9092"));
        assert_eq!(config.get("enable.auto.commit"), Some("false"));
        assert_eq!(config.get("path"), None);
    }

    #[test]
    fn bootstrap_defaults_when_not_given() {
        let settings = KafkaSettings::from_vars(vars(&[]), "127.0.0.1:9092");
        assert_eq!(settings.bootstrap_servers(), "127.0.0.1:9092");
        let config = settings.producer().unwrap();
        assert_eq!(config.get("partitioner"), Some("murmur2_random"));
        assert_eq!(config.get("enable.idempotence"), Some("true"));
    }

    #[test]
    fn contradicting_a_pinned_property_is_refused_by_name() {
        let settings =
            KafkaSettings::from_vars(vars(&[("KAFKA_ENABLE_AUTO_COMMIT", "true")]), "x:1");
        let error = settings.consumer("g").unwrap_err();
        assert_eq!(
            error.to_string(),
            "KAFKA_ENABLE_AUTO_COMMIT=true is not allowed: the pipeline needs enable.auto.commit=false (offsets are committed only after the work they cover is durable); remove the variable"
        );
        assert!(
            settings.producer().is_ok(),
            "the producer does not use that property"
        );
    }

    #[test]
    fn passthrough_overrides_defaults_but_not_pins() {
        let settings = KafkaSettings::from_vars(
            vars(&[("KAFKA_LINGER_MS", "50"), ("KAFKA_ACKS", "all")]),
            "x:1",
        );
        let config = settings.producer().unwrap();
        assert_eq!(config.get("linger.ms"), Some("50"));
        assert_eq!(config.get("acks"), Some("all"));
        let config = settings.low_latency_producer().unwrap();
        assert_eq!(config.get("linger.ms"), Some("50"));
    }

    #[test]
    fn the_command_path_producer_sends_at_once_and_the_others_wait_for_company() {
        let settings = KafkaSettings::from_vars(vars(&[]), "x:1");
        let config = settings.low_latency_producer().unwrap();
        assert_eq!(config.get("linger.ms"), Some("0"));
        assert_eq!(config.get("enable.idempotence"), Some("true"));
        assert_eq!(settings.producer().unwrap().get("linger.ms"), Some("5"));
    }
}
