//! The command gateway: `POST /v1/commands` over HTTP, turned into a command record and
//! answered with the reply the processor sends back.
//!
//! The gateway decides nothing. It checks a request's shape, writes the command to its
//! aggregate's partition of the commands topic and waits, bounded, for the processor that
//! owns the partition to reply on this instance's partition of the replies topic. The one
//! guarantee it adds is about *unknown* outcomes: a command it could not confirm (broker down:
//! `503`; no reply in time: `504`) is answered with its command ID and the advice to retry
//! with it, which is safe because a repeated command ID gets the first outcome.
//!
//! Modules, in the order a request meets them:
//! - `submit`: the handler — read, register the waiter, produce, wait, answer;
//! - `waiters`: the requests waiting for replies, by command ID;
//! - `replies`: the listener of this instance's replies partition, and how it is positioned
//!   so that no reply to a command produced after [`Gateway::start`] is missed;
//! - [`metrics`]: every metric the gateway exports;
//! - `openapi`: `/openapi.json`, generated from the handler and the body types.
//!
//! **Without a running listener the gateway refuses to send.** Before [`Gateway::start`] has
//! succeeded (it fails when the broker cannot be reached) and after the listener stopped,
//! `POST /v1/commands` answers `503` without writing anything: a command sent then could
//! never be answered, only timed out.

pub mod metrics;
mod openapi;
mod replies;
mod submit;
mod waiters;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use prometheus::Registry;
use rdkafka::producer::FutureProducer;
use tokio::task::JoinHandle;
use tributary_runtime::kafka::{ConfigError, KafkaSettings};
use tributary_runtime::{Shutdown, Topology, partition_for_key};
use tributary_schemas::Codec;

use crate::command_request::CommandReader;

use metrics::GatewayMetrics;
use replies::{Listener, RepliesPartition, Routing};
use waiters::Waiters;

pub use submit::{COMMAND_ID_HEADER, CORRELATION_ID_HEADER, RETRY_AFTER_SECONDS};

/// The routes, shared by the router and the OpenAPI document so that the two cannot differ.
pub mod paths {
    /// Send a command.
    pub const COMMANDS: &str = "/v1/commands";
    /// The OpenAPI document of the gateway.
    pub const OPENAPI: &str = "/openapi.json";
}

/// The largest request body accepted by default: a command is a small JSON object.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
/// How long a request waits for its reply by default.
pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a broker operation may take by default before the gateway gives up on it.
pub const DEFAULT_BROKER_TIMEOUT: Duration = Duration::from_secs(5);

/// How a gateway behaves.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// This instance's name: the `reply-to` of its commands, and the key that picks its
    /// replies partition. Unique among the gateways of a pipeline, and stable across restarts
    /// only if late replies to an earlier process should be read (they are counted, not used).
    pub instance_id: String,
    /// How long a request waits for its reply before answering `504`; also the envelope's
    /// `deadline`.
    pub reply_timeout: Duration,
    /// The largest request body accepted, in bytes; larger ones get `413`.
    pub body_limit: usize,
    /// How long producing a command may take before the request is answered `503`, and how
    /// long [`Gateway::start`] may take to find the end of the replies partition.
    pub broker_timeout: Duration,
    /// The domain's commands: how a body is read and framed, and how the request is
    /// described in `/openapi.json`.
    pub commands: Arc<dyn CommandReader>,
    /// The codec of envelopes and replies: the domain's, from `commands`, by default.
    pub codec: Codec,
    /// Where the gateway's metrics are registered: a fresh registry by default; pass a
    /// shared one to serve one `/metrics` for the whole process.
    pub registry: Registry,
}

impl GatewayOptions {
    /// The defaults for `instance_id` reading `commands`: 10 s reply timeout, 64 KiB body
    /// limit, 5 s broker timeout, the commands' codec, a fresh metrics registry.
    pub fn new(instance_id: impl Into<String>, commands: Arc<dyn CommandReader>) -> Self {
        Self {
            instance_id: instance_id.into(),
            reply_timeout: DEFAULT_REPLY_TIMEOUT,
            body_limit: DEFAULT_BODY_LIMIT,
            broker_timeout: DEFAULT_BROKER_TIMEOUT,
            codec: commands.codec().clone(),
            commands,
            registry: Registry::new(),
        }
    }
}

/// The gateway could not be set up or started.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The Kafka configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A Kafka client could not be created.
    #[error("cannot create the gateway's {client}: {source}; check the KAFKA_* settings")]
    Client {
        /// Which client.
        client: &'static str,
        /// What librdkafka said.
        source: rdkafka::error::KafkaError,
    },
    /// The end of the replies partition could not be found, so replies could be missed.
    #[error(
        "cannot find the end of replies partition {topic}/{partition} at {bootstrap} within {} ms: {detail}; check that the broker is reachable and the topic exists (tributary-admin ensure)",
        timeout.as_millis()
    )]
    RepliesEnd {
        /// The replies topic.
        topic: String,
        /// This instance's partition of it.
        partition: i32,
        /// The brokers asked.
        bootstrap: String,
        /// How long the lookup was given.
        timeout: Duration,
        /// What went wrong.
        detail: String,
    },
    /// The instance ID is empty.
    #[error("the gateway's instance ID is empty; give each gateway instance a unique name")]
    NoInstanceId,
    /// `start` was called on a gateway that already started its listener.
    #[error("the gateway's replies listener is already started")]
    AlreadyStarted,
}

/// The command gateway of one instance. Cheap to clone: clones share the listener, the
/// waiting requests and the metrics.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    kafka: KafkaSettings,
    topology: Topology,
    options: GatewayOptions,
    producer: FutureProducer,
    metrics: GatewayMetrics,
    waiters: Arc<Waiters>,
    started: AtomicBool,
    listening: Arc<AtomicBool>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("instance_id", &self.inner.options.instance_id)
            .field("commands", &self.inner.topology.commands())
            .field("listening", &self.is_listening())
            .finish_non_exhaustive()
    }
}

/// A producer for the gateway: the command path's (a command is sent at once), with
/// `message.timeout.ms` set to `broker_timeout`, so that a command the broker does not take fails (and is answered
/// `503`) within that time instead of librdkafka's default of minutes.
pub fn producer(
    kafka: &KafkaSettings,
    broker_timeout: Duration,
) -> Result<FutureProducer, GatewayError> {
    let mut config = kafka.low_latency_producer()?;
    config.set(
        "message.timeout.ms",
        broker_timeout.as_millis().max(1).to_string(),
    );
    config.create().map_err(|source| GatewayError::Client {
        client: "producer",
        source,
    })
}

/// The OpenAPI document of a gateway reading `commands`, as `/openapi.json` serves it.
pub fn openapi(commands: &dyn CommandReader) -> utoipa::openapi::OpenApi {
    openapi::document_for(commands)
}

impl Gateway {
    /// A gateway writing to `topology`'s commands topic with `producer` (see [`producer`] for
    /// one whose failures come within the broker timeout) and reading replies with a consumer
    /// made from `kafka`. Nothing runs until [`Gateway::start`].
    pub fn new(
        kafka: KafkaSettings,
        topology: Topology,
        options: GatewayOptions,
        producer: FutureProducer,
    ) -> Self {
        let metrics = GatewayMetrics::in_registry(options.registry.clone());
        let inner = Inner {
            kafka,
            topology,
            options,
            producer,
            metrics,
            waiters: Arc::new(Waiters::default()),
            started: AtomicBool::new(false),
            listening: Arc::new(AtomicBool::new(false)),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Starts the replies listener and returns once it is positioned: every reply to a
    /// command produced after this returns will be read. Fails when the end of the replies
    /// partition cannot be found within the broker timeout (the broker unreachable, the topic
    /// missing); the gateway then answers `503` until a later `start` succeeds. The listener
    /// runs until `shutdown`.
    pub async fn start(&self, shutdown: Shutdown) -> Result<JoinHandle<()>, GatewayError> {
        let inner = &self.inner;
        if inner.options.instance_id.is_empty() {
            return Err(GatewayError::NoInstanceId);
        }
        if inner.started.swap(true, Ordering::SeqCst) {
            return Err(GatewayError::AlreadyStarted);
        }
        let routing = Routing {
            instance_id: inner.options.instance_id.clone(),
            codec: inner.options.codec.clone(),
            waiters: Arc::clone(&inner.waiters),
            metrics: inner.metrics.clone(),
            listening: Arc::clone(&inner.listening),
        };
        let positioned = Listener::position(
            &inner.kafka,
            &self.replies_partition_spec(),
            routing,
            inner.options.broker_timeout,
        )
        .await;
        match positioned {
            Ok(listener) => Ok(tokio::spawn(listener.run(shutdown))),
            Err(error) => {
                inner.started.store(false, Ordering::SeqCst);
                Err(error)
            }
        }
    }

    /// `POST /v1/commands` and `/openapi.json`, to merge with the ops router.
    pub fn router(&self) -> Router {
        Router::new()
            .route(paths::COMMANDS, post(submit::post_command))
            .route(paths::OPENAPI, get(openapi::document))
            .layer(DefaultBodyLimit::max(self.inner.options.body_limit))
            .with_state(self.clone())
    }

    /// The gateway's metrics.
    pub fn metrics(&self) -> &GatewayMetrics {
        &self.inner.metrics
    }

    /// Whether the replies listener is running, so that commands can be answered: for
    /// `/readyz`.
    pub fn is_listening(&self) -> bool {
        self.inner.is_listening()
    }

    /// This instance's name, the `reply-to` of its commands.
    pub fn instance_id(&self) -> &str {
        &self.inner.options.instance_id
    }

    /// The replies topic and this instance's partition of it.
    pub fn replies_partition(&self) -> (String, i32) {
        let replies = self.replies_partition_spec();
        (replies.topic, replies.partition)
    }

    fn replies_partition_spec(&self) -> RepliesPartition {
        let topology = &self.inner.topology;
        RepliesPartition {
            topic: topology.command_replies(),
            partition: partition_for_key(
                self.inner.options.instance_id.as_bytes(),
                topology.partitions(),
            ),
        }
    }
}

impl Inner {
    fn is_listening(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }
}
