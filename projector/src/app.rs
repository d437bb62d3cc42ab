//! `projector run`: wires the parts together — database, topics, metrics, dead-letter and
//! marker producers, the consumer thread with its workers, and the HTTP server — and stops
//! them in order on SIGTERM or SIGINT.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureProducer;
use tributary_runtime::http::{self, Readiness};
use tributary_runtime::kafka::{KafkaSettings, admin};
use tributary_runtime::{Shutdown, Topology};

use crate::config::ProjectorConfig;
use crate::consumer::{ConsumerCommands, ConsumerThread, ProjectorContext};
use crate::dead_letters::DeadLetterPublisher;
use crate::markers::Markers;
use crate::metrics::ProjectorMetrics;
use crate::projection::{Projection, SourceTopic};
use crate::read_api::{ReadApi, ReadApiSettings};
use crate::worker::{Shared, Tuning};
use tributary_domain::Domain;
use tributary_store::database;
use tributary_store::offsets;

/// Runs `projection` until SIGTERM or SIGINT.
pub async fn run<P: Projection>(config: ProjectorConfig, projection: P) -> anyhow::Result<()> {
    let domain = projection.domain();
    let topology = config.topics.topology(&domain.aggregate_types());
    let topics = projection.sources(&topology);
    let name = config.projection_name(domain.name());
    let instance_id = config.instance_id();
    let shutdown = Shutdown::new();
    shutdown
        .on_signals()
        .context("cannot install signal handlers")?;
    let readiness = Readiness::default();
    readiness.not_ready("startup", "joining the consumer group");

    let schema = &config.database.schema;
    let pool = database::connect(
        &config.database.database_url,
        schema,
        &format!("tributary-projector {instance_id}"),
        config.db_pool_size,
    )
    .await?;
    if !config.database.no_migrate {
        crate::migrate(&pool, schema, projection.migrations().as_ref()).await?;
    }

    let kafka = KafkaSettings::from_env("127.0.0.1:9092");
    prepare_topics(&config, &kafka, &topology, &topics).await?;

    let metrics = Arc::new(ProjectorMetrics::new(&name));
    let producer: FutureProducer = kafka
        .producer()?
        .create()
        .context("cannot create the Kafka producer for dead letters and markers")?;
    let codec = domain.codec();
    let (markers, marker_task) = Markers::start(
        producer.clone(),
        pool.clone(),
        codec.clone(),
        &name,
        &topology.markers(),
        config.marker_interval(),
        Arc::clone(&metrics),
    );
    let (commands, command_receiver) = ConsumerCommands::channel();
    let shared = Arc::new(Shared {
        projection: name.clone(),
        instance_id: instance_id.clone(),
        pool: pool.clone(),
        codec,
        metrics: Arc::clone(&metrics),
        dead_letters: DeadLetterPublisher::new(producer, &name),
        markers,
        readiness: readiness.clone(),
        consumer: commands,
        notify_channel: offsets::progress_channel(schema),
        tuning: Tuning {
            batch_max_events: config.batch_max_events.max(1),
            batch_max_wait: config.batch_max_wait(),
            recent_commands: config.dedup.recent_commands,
            retry_max_backoff: config.retry_max_backoff(),
        },
    });

    let read_api = ReadApi::new(
        pool.clone(),
        ReadApiSettings {
            projection: name.clone(),
            schema: schema.clone(),
            topics: topics
                .iter()
                .map(|topic| topic.topic().to_owned())
                .collect(),
            wait_bound: config.read_consistency_timeout(),
        },
    );
    let listener_task = read_api.start(shutdown.clone()).await?;
    let router = read_api
        .router(projection.read_routes())
        .merge(http::ops_router(
            metrics.registry().clone(),
            readiness.clone(),
        ));
    let server = tokio::spawn(http::serve(config.http_addr, router, shutdown.clone()));

    let context = ProjectorContext::new(
        tokio::runtime::Handle::current(),
        Arc::clone(&shared),
        &topics,
        shutdown.clone(),
        config.shutdown_grace(),
    );
    let mut consumer_config = kafka.positioned_consumer(&config.group_id(&name))?;
    consumer_config
        .set("statistics.interval.ms", "5000")
        .set("client.id", format!("tributary-projector-{instance_id}"));
    let consumer: BaseConsumer<ProjectorContext> = consumer_config
        .create_with_context(context)
        .context("cannot create the Kafka consumer")?;
    let names = consumer.context().topic_names();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    consumer
        .subscribe(&names)
        .context("cannot subscribe to the events topics")?;
    tracing::info!(instance_id, projection = %name, group = %config.group_id(&name), topics = ?names, http = %config.http_addr, "projector started");

    // The process stops with its consumer, never runs on without it: when the thread ends
    // for any reason, a panic included, it asks the process to stop.
    let thread_shutdown = shutdown.clone();
    let consumer_thread = std::thread::Builder::new()
        .name("kafka-consumer".to_owned())
        .spawn(move || {
            let ended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                ConsumerThread::new(consumer, command_receiver).run()
            }));
            thread_shutdown.trigger();
            ended.unwrap_or_else(|_| Err(anyhow::anyhow!("the consumer thread panicked")))
        })
        .context("cannot start the consumer thread")?;

    shutdown.requested().await;
    let grace = config.shutdown_grace() + Duration::from_secs(5);
    let joined = tokio::time::timeout(
        grace,
        tokio::task::spawn_blocking(move || consumer_thread.join()),
    )
    .await;
    drop(shared);
    marker_task.abort();
    listener_task.abort();
    let _ = server.await;
    match joined {
        Ok(Ok(Ok(Ok(())))) => {
            tracing::info!("projector stopped");
            Ok(())
        }
        Ok(Ok(Ok(Err(unsafe_to_continue)))) => Err(unsafe_to_continue),
        Ok(_) => bail!("the consumer thread failed while stopping"),
        Err(_) => bail!("the consumer did not stop within {grace:?}"),
    }
}

/// Checks (or, with `TOPICS_AUTO_CREATE`, creates) the topics the projection reads and
/// writes: its sources, their dead-letter topics and the markers topic.
async fn prepare_topics(
    config: &ProjectorConfig,
    kafka: &KafkaSettings,
    topology: &Topology,
    topics: &[Arc<dyn SourceTopic>],
) -> anyhow::Result<()> {
    let used: Vec<String> = topics
        .iter()
        .flat_map(|t| {
            [
                t.topic().to_owned(),
                crate::dead_letters::dead_letter_topic(t.topic()),
            ]
        })
        .chain([topology.markers()])
        .collect();
    admin::prepare_topics(
        &kafka.admin()?,
        topology,
        |spec| used.contains(&spec.name),
        config.topics.preparation(),
        Duration::from_secs(30),
    )
    .await
    .context("the topics do not match the projection")?;
    Ok(())
}
