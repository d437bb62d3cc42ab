//! The projector's configuration: one typed struct, read from environment variables (12-factor)
//! with a flag for each, printed with defaults by `projector --help`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use tributary_runtime::telemetry::LogFormat;
use tributary_runtime::topology::TopicArgs;
use tributary_store::database::DatabaseArgs;
use tributary_store::snapshot::DedupWindowArgs;

/// Everything `projector run` needs. Kafka client properties beyond these come from `KAFKA_*`
/// variables (see the README).
#[derive(Debug, Clone, Args)]
pub struct ProjectorConfig {
    /// Database location.
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Name of the projection; keys its offsets, markers and consumer group [default: the
    /// domain's name, e.g. `bank`].
    #[arg(long, env = "PROJECTOR_NAME")]
    pub projection: Option<String>,

    /// Topic layout.
    #[command(flatten)]
    pub topics: TopicArgs,

    /// Consumer group; defaults to `<prefix>.projector.<projection>`.
    #[arg(long, env = "PROJECTOR_GROUP_ID")]
    pub group_id: Option<String>,

    /// Most events in one batch (one PostgreSQL transaction per partition).
    #[arg(long, env = "PROJECTOR_BATCH_MAX_EVENTS", default_value_t = 2000)]
    pub batch_max_events: usize,

    /// Longest a batch waits for more events after its first, in milliseconds. At 0 a batch
    /// is what is queued when its worker is free: one event when idle, more under load, since
    /// events queue while the previous batch commits.
    #[arg(long, env = "PROJECTOR_BATCH_MAX_WAIT_MS", default_value_t = 0)]
    pub batch_max_wait_ms: u64,

    /// Least time between two markers of one partition, in milliseconds (a marker is also
    /// published whenever a partition goes idle or is revoked).
    #[arg(long, env = "PROJECTOR_MARKER_INTERVAL_MS", default_value_t = 1000)]
    pub marker_interval_ms: u64,

    /// The dedup window of command IDs stored in `aggregate_state`.
    #[command(flatten)]
    pub dedup: DedupWindowArgs,

    /// Connections in the PostgreSQL pool.
    #[arg(long, env = "PROJECTOR_DB_POOL_SIZE", default_value_t = 8)]
    pub db_pool_size: u32,

    /// Longest pause between retries of a batch that failed for a transient reason, in
    /// milliseconds (the pause doubles from 100 ms up to this).
    #[arg(long, env = "PROJECTOR_RETRY_MAX_BACKOFF_MS", default_value_t = 10_000)]
    pub retry_max_backoff_ms: u64,

    /// Address of the HTTP server (read API, /metrics, /healthz, /readyz).
    #[arg(long, env = "PROJECTOR_HTTP_ADDR", default_value = "0.0.0.0:8081")]
    pub http_addr: SocketAddr,

    /// Longest a read with a consistency token waits for the projection, in milliseconds.
    #[arg(long, env = "READ_CONSISTENCY_TIMEOUT_MS", default_value_t = 5000)]
    pub read_consistency_timeout_ms: u64,

    /// Time allowed, after SIGTERM, to finish the in-flight batches, publish final markers and
    /// leave the group, in milliseconds.
    #[arg(long, env = "SHUTDOWN_GRACE_MS", default_value_t = 20_000)]
    pub shutdown_grace_ms: u64,

    /// Identifies this process in the offset store and in logs; defaults to
    /// `<hostname>-<pid>`.
    #[arg(long, env = "PROJECTOR_INSTANCE_ID")]
    pub instance_id: Option<String>,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,
}

impl ProjectorConfig {
    /// The consumer group of projection `projection`: `PROJECTOR_GROUP_ID`, or
    /// `<prefix>.projector.<projection>`.
    pub fn group_id(&self, projection: &str) -> String {
        self.group_id
            .clone()
            .unwrap_or_else(|| format!("{}.projector.{projection}", self.topics.topic_prefix))
    }

    /// The projection's name: `PROJECTOR_NAME`, or `domain_name` (the domain's own).
    pub fn projection_name(&self, domain_name: &str) -> String {
        self.projection
            .clone()
            .unwrap_or_else(|| domain_name.to_owned())
    }

    /// The instance ID, defaulted from the host name and process ID.
    pub fn instance_id(&self) -> String {
        tributary_runtime::instance::instance_id(self.instance_id.as_deref(), "projector")
    }

    /// [`ProjectorConfig::batch_max_wait_ms`] as a duration.
    pub fn batch_max_wait(&self) -> Duration {
        Duration::from_millis(self.batch_max_wait_ms)
    }

    /// [`ProjectorConfig::marker_interval_ms`] as a duration.
    pub fn marker_interval(&self) -> Duration {
        Duration::from_millis(self.marker_interval_ms)
    }

    /// [`ProjectorConfig::retry_max_backoff_ms`] as a duration.
    pub fn retry_max_backoff(&self) -> Duration {
        Duration::from_millis(self.retry_max_backoff_ms)
    }

    /// [`ProjectorConfig::read_consistency_timeout_ms`] as a duration.
    pub fn read_consistency_timeout(&self) -> Duration {
        Duration::from_millis(self.read_consistency_timeout_ms)
    }

    /// [`ProjectorConfig::shutdown_grace_ms`] as a duration.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}
