//! A service binary (projector or producer) run as a child process: configured by
//! environment, its HTTP server on a free local port, its output in a log file, its peak
//! memory read from `/proc`, and stopped with SIGTERM like an orchestrator stops it.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::http::HttpClient;

/// A running child process.
#[derive(Debug)]
pub struct Service {
    child: Child,
    name: String,
    /// Its HTTP address.
    pub http: SocketAddr,
    /// Where its output goes.
    pub log: PathBuf,
}

impl Service {
    /// Starts `binary args` with `env`, its HTTP address (a free local port) in `http_env`.
    pub fn start(
        name: &str,
        binary: &str,
        args: &[&str],
        env: &[(String, String)],
        http_env: &str,
    ) -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let http: SocketAddr = ([127, 0, 0, 1], port).into();
        let log = std::env::temp_dir().join(format!(
            "tributary-bench-{name}-{}.log",
            uuid::Uuid::new_v4().simple()
        ));
        let output = std::fs::File::create(&log)
            .with_context(|| format!("creating the log {}", log.display()))?;
        let child = Command::new(binary)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(http_env, http.to_string())
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output)
            .spawn()
            .with_context(|| format!("starting {binary}"))?;
        Ok(Self {
            child,
            name: name.to_owned(),
            http,
            log,
        })
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The end of its output, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text
            .char_indices()
            .rev()
            .filter(|(_, c)| *c == '\n')
            .nth(30)
            .map_or(0, |(at, _)| at + 1);
        text[start..].to_owned()
    }

    /// An error if the process has exited.
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

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let client = HttpClient::new(self.http);
        let deadline = Instant::now() + timeout;
        loop {
            self.check_running()?;
            if let Ok(response) = client.get("/readyz").await
                && response.status == 200
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} was not ready within {timeout:?}:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Peak resident memory in kB (`VmHWM` of `/proc/<pid>/status`).
    pub fn peak_rss_kb(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse().ok())
    }

    /// Sends SIGTERM and waits up to `grace` for the exit, then kills.
    pub async fn stop(&mut self, grace: Duration) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::warn!(
            service = self.name,
            "did not stop within {grace:?}; killing it"
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
