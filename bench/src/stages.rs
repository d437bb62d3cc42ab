//! Where a command's time goes: the pipeline's own latency histograms, read from the
//! producer's and the projector's `/metrics` before and after a step of the command-path
//! scenario, so each step reports the share of each stage next to what the client measured.
//!
//! The stages nest as a command travels: the gateway's request (command produced → reply
//! consumed) contains the processor's handling of the batch of commands it arrived in (decide,
//! write the events, read them back, send the replies), and the rest of it is the two trips
//! through the broker (commands topic, replies topic); after the answer, the projector's batch (its first record → commit) contains
//! its PostgreSQL transaction. What the client sees beyond the gateway's request is its own
//! HTTP, and beyond the batch the commit notification reaching the read API.

use serde::Serialize;
use tributary_producer::gateway::metrics::names as gateway;
use tributary_producer::metrics::names as processor;
use tributary_projector::metrics::names as projector;
use tributary_tests::metrics::Histogram;
use tributary_tests::process::ServiceProcess;

/// The histograms read, in the order they are reported: (stage, which process, metric).
const STAGES: [(&str, Process, &str); 4] = [
    (
        "gateway request",
        Process::Producer,
        gateway::REQUEST_DURATION_SECONDS,
    ),
    (
        "processor handling",
        Process::Producer,
        processor::COMMAND_DURATION_SECONDS,
    ),
    (
        "projector batch",
        Process::Projector,
        projector::BATCH_DURATION_SECONDS,
    ),
    (
        "projector transaction",
        Process::Projector,
        projector::DB_TRANSACTION_SECONDS,
    ),
];

#[derive(Debug, Clone, Copy)]
enum Process {
    Producer,
    Projector,
}

/// One reading of every stage's histogram.
#[derive(Debug, Clone, Default)]
pub struct Reading(Vec<Histogram>);

/// One stage's figures over a step, in milliseconds (histogram estimates: the quantiles are
/// interpolated inside the metric's buckets).
#[derive(Debug, Clone, Serialize)]
pub struct StageFigures {
    /// The stage.
    pub stage: &'static str,
    /// Observations in the step: commands for the gateway and the processor (each command
    /// observes the time of the batch it was handled in), batches for the projector.
    pub observations: f64,
    /// Mean.
    pub mean_ms: Option<f64>,
    /// Median.
    pub p50_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
}

impl Reading {
    /// Reads every stage's histogram from the two processes.
    pub async fn take(
        producer: &ServiceProcess,
        projector: &ServiceProcess,
    ) -> anyhow::Result<Self> {
        let producer_text = metrics_text(producer).await?;
        let projector_text = metrics_text(projector).await?;
        let histograms = STAGES
            .iter()
            .map(|(_, process, name)| {
                let text = match process {
                    Process::Producer => &producer_text,
                    Process::Projector => &projector_text,
                };
                Histogram::read(text, name, &[])
            })
            .collect();
        Ok(Self(histograms))
    }

    /// Each stage's figures for what was observed after `earlier` and up to this reading.
    pub fn since(&self, earlier: &Reading) -> Vec<StageFigures> {
        let empty = Histogram::default();
        STAGES
            .iter()
            .enumerate()
            .map(|(index, (stage, _, _))| {
                let before = earlier.0.get(index).unwrap_or(&empty);
                let between = self.0.get(index).unwrap_or(&empty).since(before);
                let ms = |seconds: Option<f64>| seconds.map(|s| s * 1000.0);
                StageFigures {
                    stage,
                    observations: between.count,
                    mean_ms: ms(between.mean()),
                    p50_ms: ms(between.quantile(0.5)),
                    p99_ms: ms(between.quantile(0.99)),
                }
            })
            .collect()
    }
}

async fn metrics_text(service: &ServiceProcess) -> anyhow::Result<String> {
    let response = service.get("/metrics").await?;
    anyhow::ensure!(
        response.status == 200,
        "{}'s /metrics answered {}",
        service.name(),
        response.status
    );
    Ok(response.body)
}
