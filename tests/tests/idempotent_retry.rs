//! The idempotent producer across a forced retry: the broker is frozen while a batch is in
//! flight, the producer's request times out and is sent again, and the log must still hold
//! every record once, in order.
//!
//! This file is its own test binary so that freezing the broker cannot disturb other tests.
//! Freezing needs two shell commands from the environment, `TRIBUTARY_BROKER_PAUSE` and
//! `TRIBUTARY_BROKER_RESUME` (`scripts/test.sh` sets them to SIGSTOP/SIGCONT the broker it
//! started; for a compose broker use `docker compose pause kafka` / `unpause`).

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::statistics::Statistics;
use rdkafka::{Offset, TopicPartitionList};
use tributary_tests::*;

/// Counts the producer's request retries and time-outs from librdkafka statistics.
#[derive(Clone, Default)]
struct RetryCounter {
    retries: Arc<AtomicU64>,
    timeouts: Arc<AtomicU64>,
}

impl ClientContext for RetryCounter {
    fn stats(&self, statistics: Statistics) {
        let retries: u64 = statistics.brokers.values().map(|b| b.txretries).sum();
        let timeouts: u64 = statistics.brokers.values().map(|b| b.req_timeouts).sum();
        self.retries.fetch_max(retries, Ordering::Relaxed);
        self.timeouts.fetch_max(timeouts, Ordering::Relaxed);
    }
}

fn broker_command(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!(
            "{variable} is not set: this test freezes the broker to force a producer retry; run it through scripts/test.sh, or set TRIBUTARY_BROKER_PAUSE and TRIBUTARY_BROKER_RESUME to commands that pause and resume your broker"
        )
    })
}

fn run_shell(command: &str) {
    let status = Command::new("sh").arg("-c").arg(command).status().unwrap();
    assert!(status.success(), "`{command}` failed: {status}");
}

/// Resumes the broker even if the test fails while it is frozen.
struct ResumeOnDrop(String);

impl Drop for ResumeOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("sh").arg("-c").arg(&self.0).status();
    }
}

#[tokio::test]
async fn idempotent_producer_delivers_in_order_without_duplicates_across_a_forced_retry() {
    let (pause, resume) = (
        broker_command("TRIBUTARY_BROKER_PAUSE"),
        broker_command("TRIBUTARY_BROKER_RESUME"),
    );
    let topic = unique_name("idempotence");
    create_topic(&topic, 1).await;

    let counter = RetryCounter::default();
    let mut config = kafka().producer().unwrap();
    // `socket.timeout.ms` is the client's own limit on an unanswered request (the frozen
    // broker never answers); `request.timeout.ms` is only what the broker is told to wait.
    config
        .set("socket.timeout.ms", "2000")
        .set("request.timeout.ms", "2000")
        .set("retry.backoff.ms", "100")
        .set("message.timeout.ms", "120000")
        .set("statistics.interval.ms", "200")
        .set("max.in.flight.requests.per.connection", "5");
    let producer: FutureProducer<RetryCounter> =
        config.create_with_context(counter.clone()).unwrap();

    let send = |i: usize| {
        let producer = producer.clone();
        let topic = topic.clone();
        async move {
            let value = format!("{i:06}");
            producer
                .send(
                    FutureRecord::to(&topic).key("one-key").payload(&value),
                    Duration::from_secs(120),
                )
                .await
                .map_err(|(error, _)| error)
        }
    };

    for i in 0..100 {
        send(i).await.unwrap();
    }

    run_shell(&pause);
    let guard = ResumeOnDrop(resume.clone());
    let in_flight: Vec<_> = (100..300).map(|i| tokio::spawn(send(i))).collect();
    let waited = counter.clone();
    tokio::task::spawn_blocking(move || {
        wait_until(
            Duration::from_secs(60),
            "the producer to time out a request and retry",
            || {
                waited.timeouts.load(Ordering::Relaxed) > 0
                    || waited.retries.load(Ordering::Relaxed) > 0
            },
        )
    })
    .await
    .unwrap();
    run_shell(&resume);
    drop(guard);

    for handle in in_flight {
        handle.await.unwrap().unwrap();
    }
    assert!(
        counter.retries.load(Ordering::Relaxed) + counter.timeouts.load(Ordering::Relaxed) > 0,
        "no retry happened, so this run proved nothing"
    );

    let reader = consumer(&unique_name("idempotence"), &[]);
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&topic, 0, Offset::Beginning)
        .unwrap();
    reader.assign(&assignment).unwrap();
    let mut values = Vec::new();
    wait_until(BROKER_TIMEOUT, "300 records", || {
        while let Some(message) = reader.poll(Duration::from_millis(200)) {
            let message = message.unwrap();
            values.push(String::from_utf8(message.payload().unwrap().to_vec()).unwrap());
        }
        values.len() >= 300
    });
    let expected: Vec<String> = (0..300).map(|i| format!("{i:06}")).collect();
    assert_eq!(values, expected, "every record exactly once, in order");
}
