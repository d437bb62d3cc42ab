//! A service binary run as a separate process, so tests can kill it, freeze it and restart
//! it like an orchestrator would, and read its `/metrics` and `/readyz` over HTTP.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A running service process.
#[derive(Debug)]
pub struct ServiceProcess {
    child: Child,
    /// Its HTTP address.
    pub http: SocketAddr,
    /// Where its output goes.
    pub log: PathBuf,
    name: String,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free local port")
}

impl ServiceProcess {
    /// Starts `binary` with `args` and `env`, its HTTP server on a free port given in
    /// `http_env` (e.g. `PROJECTOR_HTTP_ADDR`), its output in a log file.
    pub fn start(
        name: &str,
        binary: &str,
        args: &[&str],
        env: &[(String, String)],
        http_env: &str,
    ) -> Self {
        let http: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let log = std::env::temp_dir().join(format!("{}.log", crate::unique_name(name)));
        let output = std::fs::File::create(&log).expect("create the process log");
        let errors = output.try_clone().expect("clone the log handle");
        let child = Command::new(binary)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(http_env, http.to_string())
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {binary}: {error}"));
        Self {
            child,
            http,
            log,
            name: name.to_owned(),
        }
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines of the process's output, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// The whole output so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&mut self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("query the child") {
                panic!(
                    "{} exited ({status}) before it was ready:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if let Ok((200, _)) = http_get(self.http, "/readyz").await {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} was not ready within {timeout:?}:\n{}",
                self.name,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `GET path` on the process.
    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.http, path)
            .await
            .unwrap_or_else(|error| panic!("GET {path} on {}: {error}", self.name))
    }

    /// The value of a metric sample (`name{labels}` as exposed), summed over every series
    /// whose line starts with `series`.
    pub async fn metric(&self, series: &str) -> f64 {
        let (_, body) = self.get("/metrics").await;
        body.lines()
            .filter(|line| line.starts_with(series))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Sends `signal` (e.g. `KILL`, `TERM`, `STOP`, `CONT`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }

    /// SIGKILLs the process and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and asserts that the process exits with status 0 within `timeout`: the
    /// graceful shutdown every service promises.
    pub async fn stop_gracefully(&mut self, timeout: Duration) {
        self.signal("TERM");
        let code = self.wait_exit(timeout).await;
        assert_eq!(
            code,
            Some(0),
            "graceful shutdown of {}:\n{}",
            self.name,
            self.log_tail()
        );
    }

    /// Waits up to `timeout` for the process to exit; returns its exit code.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("query the child") {
                return status.code();
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 GET: status code and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer within 10 s")
        })??;
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, dechunk(&body)))
}

/// Removes chunked transfer-encoding framing if present.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    loop {
        let Some((size_line, after)) = rest.split_once("\r\n") else {
            return if out.is_empty() { body.to_owned() } else { out };
        };
        let Ok(size) = usize::from_str_radix(size_line.trim(), 16) else {
            return body.to_owned();
        };
        if size == 0 || after.len() < size {
            return out;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
}
