//! A service (the projector or producer binary, or the benchmark's Kafka Connect worker) run
//! as a child process, for the tests and the benchmarks alike: configured by environment (or
//! by files the caller wrote), its HTTP server on a free local port, its output in a log
//! file, its peak memory read from `/proc`, and stopped, killed or frozen by signals like an
//! orchestrator would. Every operation that can fail says so in its result, with the end of
//! the process's log.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::http::{HttpClient, HttpResponse};

/// How many lines of its output a failure message shows.
const LOG_TAIL_LINES: usize = 40;

/// Longest one `/readyz` probe of [`ServiceProcess::wait_ready`] may take before the next.
const READINESS_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// A running service process; killed when dropped.
#[derive(Debug)]
pub struct ServiceProcess {
    child: Child,
    name: String,
    client: HttpClient,
    /// Its HTTP address.
    pub http: SocketAddr,
    /// Where its output goes.
    pub log: PathBuf,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free local port")
}

impl ServiceProcess {
    /// The name it was started with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Starts `binary` with `args` and `env`, its HTTP server on a free port given in
    /// `http_env` (e.g. `PROJECTOR_HTTP_ADDR`), its output in a log file.
    pub fn start(
        name: &str,
        binary: &str,
        args: &[&str],
        env: &[(String, String)],
        http_env: &str,
    ) -> anyhow::Result<Self> {
        let http: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let mut env = env.to_vec();
        env.push((http_env.to_owned(), http.to_string()));
        Self::start_listening_on(name, binary, args, &env, http)
    }

    /// Starts `binary` with `args` and `env`, its output in a log file, for a process whose
    /// own configuration (a file or an argument the caller wrote) makes it serve HTTP on
    /// `http` (a [`free_port`]).
    pub fn start_listening_on(
        name: &str,
        binary: &str,
        args: &[&str],
        env: &[(String, String)],
        http: SocketAddr,
    ) -> anyhow::Result<Self> {
        let log = std::env::temp_dir().join(format!("{}.log", crate::unique_name(name)));
        let output = std::fs::File::create(&log)
            .with_context(|| format!("creating the log {}", log.display()))?;
        let child = Command::new(binary)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output)
            .spawn()
            .with_context(|| format!("starting {binary} {}", args.join(" ")))?;
        Ok(Self {
            child,
            name: name.to_owned(),
            client: HttpClient::new(http),
            http,
            log,
        })
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines of the process's output, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }

    /// The whole output so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// An error, with the end of its log, if the process has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited ({status}); its log {}:\n{}",
                self.name,
                self.log.display(),
                self.log_tail()
            );
        }
        Ok(())
    }

    /// Waits until `/readyz` answers 200; an error if the process exits first or is not
    /// ready within `timeout`.
    pub async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            self.check_running()?;
            let probe = tokio::time::timeout(READINESS_PROBE_TIMEOUT, self.client.get("/readyz"));
            if let Ok(Ok(response)) = probe.await
                && response.status == 200
            {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "{} was not ready within {timeout:?}:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `GET path` on the process; an error names the process.
    pub async fn get(&self, path: &str) -> std::io::Result<HttpResponse> {
        self.client
            .get(path)
            .await
            .map_err(|error| std::io::Error::new(error.kind(), format!("{}: {error}", self.name)))
    }

    /// The value of metric `name` (a counter or gauge) as the process exposes it, summed over
    /// all its label values.
    pub async fn metric(&self, name: &str) -> anyhow::Result<f64> {
        let response = self.get("/metrics").await?;
        if response.status != 200 {
            bail!(
                "GET /metrics on {} answered {}: {}",
                self.name,
                response.status,
                response.body
            );
        }
        Ok(crate::metrics::sum(&response.body, name, &[]))
    }

    /// Sends `signal` (e.g. `KILL`, `TERM`, `STOP`, `CONT`).
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .context("running kill")?;
        if !status.success() {
            bail!(
                "kill -{signal} {} ({}) failed: {status}",
                self.pid(),
                self.name
            );
        }
        Ok(())
    }

    /// SIGKILLs the process and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits up to `grace` for the exit, as an orchestrator stops a pod;
    /// kills it if it does not exit in time. The exit code, if it exited by itself.
    pub async fn stop(&mut self, grace: Duration) -> Option<i32> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status.code();
        }
        if self.signal("TERM").is_err() {
            self.kill();
            return None;
        }
        let code = self.wait_exit(grace).await;
        if code.is_none() {
            self.kill();
        }
        code
    }

    /// Sends SIGTERM and checks that the process exits with status 0 within `timeout`: the
    /// graceful shutdown every service promises.
    pub async fn stop_gracefully(&mut self, timeout: Duration) -> anyhow::Result<()> {
        match self.stop(timeout).await {
            Some(0) => Ok(()),
            other => bail!(
                "{} did not shut down gracefully (exit {other:?}):\n{}",
                self.name,
                self.log_tail()
            ),
        }
    }

    /// Waits up to `timeout` for the process to exit; returns its exit code.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Peak resident memory in kB (`VmHWM` of `/proc/<pid>/status`), while it runs.
    pub fn peak_rss_kb(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse().ok())
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_binary_that_cannot_start_or_exits_at_once_is_an_error_naming_it() {
        let missing = ServiceProcess::start("ghost", "/nonexistent/ghost", &[], &[], "X")
            .unwrap_err()
            .to_string();
        assert!(missing.contains("/nonexistent/ghost"), "{missing}");

        let env = [("WORDS".to_owned(), "said before the end".to_owned())];
        let mut exited =
            ServiceProcess::start("shell", "sh", &["-c", "echo $WORDS; exit 3"], &env, "X")
                .unwrap();
        assert_eq!(exited.wait_exit(Duration::from_secs(10)).await, Some(3));
        let error = exited
            .wait_ready(Duration::from_secs(10))
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("shell exited"), "{error}");
        assert!(error.contains("said before the end"), "{error}");
    }
}
