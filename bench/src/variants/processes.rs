//! Real `projector run` processes catching up from the broker: the end-to-end figure.
//!
//! The processes are configured only through the environment, as an operator would, and
//! are done when the offsets table of their schema shows every partition at its end offset
//! (polled; no fixed sleeps). Their peak resident memory is read from `/proc/<pid>/status`
//! (`VmHWM`) before they are stopped with SIGTERM.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sqlx::postgres::PgPool;

use crate::broker::Ends;
use tributary_store::offsets;
use tributary_tests::process::ServiceProcess;

/// How the projector processes are started.
#[derive(Debug, Clone)]
pub struct ProjectorLaunch {
    /// The `projector` binary.
    pub binary: String,
    /// Environment every process gets (broker, database, topics, schema, projection).
    pub env: Vec<(String, String)>,
    /// Projection name, to read its offsets.
    pub projection: String,
    /// Longest the catch-up may take.
    pub timeout: Duration,
}

/// What a group of projector processes did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProcessesOutcome {
    /// From starting the processes to every partition committed at its end.
    pub wall: Duration,
    /// From starting the processes to the first partition claimed (start-up, migrations,
    /// joining the group).
    pub start_up: Duration,
    /// Peak resident memory of each process, in kB (`VmHWM`).
    pub peak_rss_kb: Vec<u64>,
}

/// Starts `workers` projector processes and waits until they have committed `ends`.
pub async fn run(
    launch: &ProjectorLaunch,
    pool: &PgPool,
    workers: usize,
    ends: &Ends,
) -> anyhow::Result<ProcessesOutcome> {
    let started = Instant::now();
    let mut services = Vec::with_capacity(workers);
    for worker in 0..workers {
        let mut env = launch.env.clone();
        env.push((
            "PROJECTOR_INSTANCE_ID".to_owned(),
            format!("bench-projector-{worker}"),
        ));
        let name = format!("projector-{}-{worker}", launch.projection);
        services.push(ServiceProcess::start(
            &name,
            &launch.binary,
            &["run"],
            &env,
            "PROJECTOR_HTTP_ADDR",
        )?);
    }
    let outcome = wait_for_ends(launch, pool, ends, &mut services, started).await;
    let peak_rss_kb = services
        .iter()
        .map(|s| s.peak_rss_kb().unwrap_or_default())
        .collect();
    for service in &mut services {
        service.stop(Duration::from_secs(30)).await;
    }
    let (wall, start_up) = outcome?;
    Ok(ProcessesOutcome {
        wall,
        start_up,
        peak_rss_kb,
    })
}

async fn wait_for_ends(
    launch: &ProjectorLaunch,
    pool: &PgPool,
    ends: &Ends,
    services: &mut [ServiceProcess],
    started: Instant,
) -> anyhow::Result<(Duration, Duration)> {
    let mut start_up = None;
    loop {
        let committed = offsets::committed_offsets(pool, &launch.projection).await?;
        if start_up.is_none() && !committed.is_empty() {
            start_up = Some(started.elapsed());
        }
        let behind: Vec<String> = ends
            .iter()
            .filter(|(key, end)| **end > 0 && committed.get(*key).copied().unwrap_or(0) < **end)
            .map(|((topic, partition), end)| {
                let at = committed
                    .get(&(topic.clone(), *partition))
                    .copied()
                    .unwrap_or(0);
                format!("{topic}/{partition} at {at} of {end}")
            })
            .collect();
        if behind.is_empty() {
            let wall = started.elapsed();
            return Ok((wall, start_up.unwrap_or(wall)));
        }
        for service in services.iter_mut() {
            service
                .check_running()
                .with_context(|| format!("while catching up ({})", behind.join(", ")))?;
        }
        if started.elapsed() > launch.timeout {
            bail!(
                "the projector did not catch up within {:?}: {}",
                launch.timeout,
                behind.join(", ")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
