//! The producer's configuration: one typed struct, from environment variables, printed with
//! defaults by `producer --help`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use tributary_runtime::telemetry::LogFormat;
use tributary_runtime::topology::TopicArgs;
use tributary_store::database::DatabaseArgs;
use tributary_store::snapshot::DedupWindowArgs;

/// Everything the gateway, the processor and the saga runner need. Kafka client properties
/// beyond these come from `KAFKA_*` variables (see the README).
#[derive(Debug, Clone, Args)]
pub struct ProducerConfig {
    /// Where the projector's snapshot (aggregate-state table and offsets) is read from.
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Projection whose snapshot the processor and the saga runner rebuild from [default: the
    /// domain's name, e.g. `bank`].
    #[arg(long, env = "PROJECTOR_NAME")]
    pub projection: Option<String>,

    /// Topic layout.
    #[command(flatten)]
    pub topics: TopicArgs,

    /// Address of the HTTP server (gateway API, /metrics, /healthz, /readyz).
    #[arg(long, env = "PRODUCER_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,

    /// Longest the gateway waits for a command's reply before answering 504, in milliseconds.
    #[arg(long, env = "COMMAND_TIMEOUT_MS", default_value_t = 10_000)]
    pub command_timeout_ms: u64,

    /// Largest command body the gateway accepts, in bytes (larger ones get 413).
    #[arg(long, env = "COMMAND_BODY_LIMIT_BYTES", default_value_t = 65_536)]
    pub body_limit_bytes: usize,

    /// The dedup window of command IDs the processor keeps.
    #[command(flatten)]
    pub dedup: DedupWindowArgs,

    /// Identifies this process (reply routing, logs); defaults to `<hostname>-<pid>`.
    #[arg(long, env = "PRODUCER_INSTANCE_ID")]
    pub instance_id: Option<String>,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,
}

impl ProducerConfig {
    /// The instance ID, defaulted from the host name and process ID.
    pub fn instance_id(&self) -> String {
        tributary_runtime::instance::instance_id(self.instance_id.as_deref(), "producer")
    }

    /// [`ProducerConfig::command_timeout_ms`] as a duration.
    pub fn command_timeout(&self) -> Duration {
        Duration::from_millis(self.command_timeout_ms)
    }
}
