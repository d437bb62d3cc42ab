//! What a result was measured on: CPU, cores, memory, kernel, broker and PostgreSQL versions,
//! the commit, and the exact command line — recorded with every result so figures from
//! different machines are never compared unknowingly.

use std::process::Command;

use sqlx::postgres::PgPool;

/// The machine and software a run used.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Cores available to the process.
    pub cores: usize,
    /// Total memory in MiB.
    pub memory_mib: u64,
    /// Kernel release.
    pub kernel: String,
    /// Broker and its version, as given by `--broker-version` (the scripts ask the binary).
    pub broker: String,
    /// The broker's bootstrap address.
    pub bootstrap_servers: String,
    /// `SELECT version()`.
    pub postgres: String,
    /// `git describe --always --dirty` of the working tree, when available.
    pub commit: String,
}

impl Machine {
    /// Inspects this machine and the database behind `pool`.
    pub async fn inspect(pool: &PgPool, broker: &str, bootstrap_servers: &str) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map(|(_, model)| model.trim().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: u64 = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse().ok())
            .unwrap_or_default();
        let postgres = sqlx::query_scalar::<_, String>("SELECT version()")
            .fetch_one(pool)
            .await
            .unwrap_or_else(|error| format!("unknown ({error})"));
        let commit = Command::new("git")
            .args(["describe", "--always", "--dirty"])
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_mib: memory_kib / 1024,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|k| k.trim().to_owned())
                .unwrap_or_else(|_| "unknown".to_owned()),
            broker: broker.to_owned(),
            bootstrap_servers: bootstrap_servers.to_owned(),
            postgres,
            commit,
        }
    }
}

/// The command line this process was started with, shell-quoted where needed.
pub fn command_line() -> String {
    std::env::args()
        .map(|arg| {
            if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || c == '\'') {
                format!("'{}'", arg.replace('\'', r"'\''"))
            } else {
                arg
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
