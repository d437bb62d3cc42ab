//! Wiring of the `producer` binary: the gateway, the processor and the saga runner, each
//! alone or together in one process, with their HTTP server, stopped in order on SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::producer::FutureProducer;

use crate::GatewayCommands;
use tributary_runtime::Shutdown;
use tributary_runtime::http::{self, Readiness};
use tributary_runtime::kafka::{KafkaSettings, admin};

use crate::config::ProducerConfig;
use crate::context::CommandSide;
use crate::gateway::{self, Gateway, GatewayOptions};
use crate::metrics::ProducerMetrics;
use crate::partitioned::{self, GroupMember, HandlerFactory};
use crate::processor::kinds::kinds_of;
use crate::processor::partition::ProcessorFactory;
use crate::saga_runner::SagaFactory;

/// Which parts of the command side a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// The HTTP command gateway.
    pub gateway: bool,
    /// The command processor.
    pub processor: bool,
    /// The saga runner.
    pub saga: bool,
}

/// Runs `roles` of `domain`'s command side until SIGTERM or SIGINT.
pub async fn run<D: GatewayCommands>(
    domain: D,
    config: ProducerConfig,
    roles: Roles,
) -> anyhow::Result<()> {
    let domain = Arc::new(domain);
    let instance_id = config.instance_id();
    let shutdown = Shutdown::new();
    shutdown
        .on_signals()
        .context("cannot install signal handlers")?;
    let readiness = Readiness::default();
    let registry = prometheus::Registry::new();
    let metrics = ProducerMetrics::new(registry.clone());
    let topology = config.topics.topology(&domain.aggregate_types());
    let kafka = KafkaSettings::from_env("127.0.0.1:9092");
    // The command side reads and writes every topic but the dead-letter ones.
    admin::prepare_topics(
        &kafka.admin()?,
        &topology,
        |spec| !spec.name.ends_with(".dlq"),
        config.topics.preparation(),
        Duration::from_secs(30),
    )
    .await
    .context("the topics do not match the command side")?;
    // Events and replies are written while a client waits for them: sent at once.
    let producer: FutureProducer = kafka
        .low_latency_producer()?
        .create()
        .context("cannot create the Kafka producer")?;

    let mut router = http::ops_router(registry.clone(), readiness.clone());
    let mut tasks = Vec::new();
    if roles.gateway {
        let mut options = GatewayOptions::new(&instance_id, Arc::new(domain.catalog()));
        options.reply_timeout = config.command_timeout();
        options.body_limit = config.body_limit_bytes;
        options.registry = registry.clone();
        let gateway_producer = gateway::producer(&kafka, options.broker_timeout)?;
        let gateway = Gateway::new(kafka.clone(), topology.clone(), options, gateway_producer);
        tasks.push(gateway.start(shutdown.clone()).await?);
        router = router.merge(gateway.router());
    }
    if roles.processor || roles.saga {
        let pool = tributary_store::database::connect(
            &config.database.database_url,
            &config.database.schema,
            &format!("tributary-producer {instance_id}"),
            4,
        )
        .await?;
        if !config.database.no_migrate {
            tributary_store::database::migrate_engine(&pool, &config.database.schema).await?;
        }
        let side = Arc::new(CommandSide {
            kafka: kafka.clone(),
            topology: topology.clone(),
            pool,
            projection: config
                .projection
                .clone()
                .unwrap_or_else(|| domain.name().to_owned()),
            kinds: kinds_of(domain.as_ref()),
            codec: domain.codec(),
            producer: producer.clone(),
            recent_commands: config.dedup.recent_commands,
            instance_id: instance_id.clone(),
            metrics: metrics.clone(),
        });
        if roles.processor {
            let member = GroupMember {
                role: "processor",
                group_id: format!("{}.processor", config.topics.topic_prefix),
                topics: vec![topology.commands()],
                readiness: readiness.clone(),
            };
            let factory = Arc::new(ProcessorFactory(Arc::clone(&side)));
            tasks.push(spawn_member(
                factory,
                kafka.clone(),
                member,
                shutdown.clone(),
            ));
        }
        if roles.saga {
            let member = GroupMember {
                role: "saga",
                group_id: format!("{}.saga", config.topics.topic_prefix),
                topics: side.event_topics(),
                readiness: readiness.clone(),
            };
            let factory = Arc::new(SagaFactory {
                shared: Arc::clone(&side),
                domain: Arc::clone(&domain),
            });
            tasks.push(spawn_member(
                factory,
                kafka.clone(),
                member,
                shutdown.clone(),
            ));
        }
    }
    let server = tokio::spawn(http::serve(config.http_addr, router, shutdown.clone()));
    tracing::info!(instance_id, ?roles, http = %config.http_addr, "producer started");
    shutdown.requested().await;
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(20), task).await;
    }
    server.await.context("the HTTP server task failed")??;
    tracing::info!("producer stopped");
    Ok(())
}

/// Runs one consumer-group role until shutdown; a role that fails stops the process, so the
/// orchestrator restarts it rather than leaving it half-working.
fn spawn_member<F: HandlerFactory>(
    factory: Arc<F>,
    kafka: KafkaSettings,
    member: GroupMember,
    shutdown: Shutdown,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let role = member.role;
        if let Err(error) = partitioned::run(factory, &kafka, member, shutdown.clone()).await {
            tracing::error!(role, error = format!("{error:#}"), "stopped");
            shutdown.trigger();
        }
    })
}
