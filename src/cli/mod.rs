//! The command line: `serve`, `admin …`, `cleanup`, `backup`, `fsck`, `migrate`, `config check`,
//! `healthcheck`.
//! Commands other than `serve` talk to a running daemon over HTTP (admin token from
//! `--token`, `ATTACHD_ADMIN_TOKEN` or `<data_dir>/bootstrap.json`), except `cleanup --offline`,
//! which opens a stopped daemon's data directory itself.

mod admin;

pub use admin::{AdminCmd, admin};

use std::path::PathBuf;

use crate::client::Method;
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

use crate::config::Config;

/// attachd: a storage daemon for file attachments.
#[derive(Debug, Parser)]
#[command(name = "attachd", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon.
    Serve {
        /// Configuration file (keys override the embedded defaults).
        #[arg(long, env = "ATTACHD_CONFIG")]
        config: Option<PathBuf>,
        /// Write the bound address here (atomically) once serving.
        #[arg(long)]
        ready_file: Option<PathBuf>,
    },
    /// Manage teams, projects, apps, keys, members and quotas of a running daemon.
    Admin {
        /// How to reach the daemon.
        #[command(flatten)]
        conn: Conn,
        /// The admin command.
        #[command(subcommand)]
        what: AdminCmd,
    },
    /// Run the cleanup job now (reclaim soft-deleted, release lapsed reservations, sweep
    /// orphans, compact segments).
    Cleanup {
        /// How to reach the daemon (the data directory comes from its config with `--offline`).
        #[command(flatten)]
        conn: Conn,
        /// Open the data directory directly (the daemon must be stopped).
        #[arg(long)]
        offline: bool,
    },
    /// Write an online backup (RocksDB checkpoint + segments + blobs, no secrets) of a running
    /// daemon's data directory to <storage.backup_dir>/NAME on the daemon's machine. Restore by
    /// starting attachd with `storage.data_dir` set to that directory.
    Backup {
        /// How to reach the daemon.
        #[command(flatten)]
        conn: Conn,
        /// Name of the backup directory to create (default: the current UTC time).
        #[arg(long)]
        name: Option<String>,
    },
    /// Check every record against its bytes, rows and counters (the daemon must be stopped;
    /// a running daemon answers the read-only check at POST /admin/v1/fsck). Exits 1 when
    /// problems remain.
    Fsck {
        /// Configuration file (to find the data directory).
        #[arg(long, env = "ATTACHD_CONFIG")]
        config: Option<PathBuf>,
        /// Re-point damaged records to intact copies in the segments and rebuild every
        /// derived row and counter from the records.
        #[arg(long)]
        repair: bool,
    },
    /// Copy a stopped local deployment into a postgres_s3 one: the control plane (keys, tokens,
    /// projects…), then every record with its bytes. Safe to run again after an interruption
    /// (records already copied are skipped). Prints what it did as JSON.
    Migrate {
        /// The local deployment's configuration (its data directory is read; stop it first).
        #[arg(long)]
        from: Option<PathBuf>,
        /// The target's configuration (backend.kind = "postgres_s3").
        #[arg(long)]
        to: PathBuf,
    },
    /// Create an admin token directly in the data directory (the daemon must be stopped): the
    /// way back in when every admin token is lost. Prints the secret once.
    RecoverAdminToken {
        /// Configuration file (to find the data directory).
        #[arg(long, env = "ATTACHD_CONFIG")]
        config: Option<PathBuf>,
        /// What to call the token.
        #[arg(long, default_value = "recovered")]
        name: String,
    },
    /// Configuration tools.
    Config {
        /// The configuration command.
        #[command(subcommand)]
        what: ConfigCmd,
    },
    /// Exit 0 if the daemon answers ready, 1 otherwise (for container and systemd checks).
    Healthcheck {
        /// How to reach the daemon.
        #[command(flatten)]
        conn: Conn,
    },
    /// Serve a body-discarding HTTP endpoint (the ceiling for `attachd bench discard`).
    #[command(hide = true)]
    BenchDiscard {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8482")]
        listen: String,
    },
    /// Load-test a running attachd (or a peer, for comparison): ops/s, MB/s, latency
    /// percentiles and errors, as a line and as JSON.
    Bench {
        /// What to load, how hard and for how long.
        #[command(flatten)]
        args: crate::loadgen::BenchArgs,
        /// Print only the JSON line.
        #[arg(long)]
        json: bool,
    },
}

/// How to reach a running daemon.
#[derive(Debug, Args)]
pub struct Conn {
    /// Configuration file (to find the listen address and data directory).
    #[arg(long, env = "ATTACHD_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Base URL of the daemon (default: the listener serving the admin API: http://<metrics.listen>
    /// with server.admin_api = "ops", else http://<server.listen>).
    #[arg(long, global = true)]
    pub url: Option<String>,
    /// Admin token (default: ATTACHD_ADMIN_TOKEN, then <data_dir>/bootstrap.json).
    #[arg(long, env = "ATTACHD_ADMIN_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
}

/// `attachd config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Validate a configuration (embedded defaults + file + environment) and print it.
    Check {
        /// Configuration file.
        #[arg(long, env = "ATTACHD_CONFIG")]
        config: Option<PathBuf>,
    },
}

impl Conn {
    pub(crate) fn resolve(&self) -> Result<(String, Option<String>), String> {
        let cfg = Config::load(self.config.as_deref()).map_err(|e| e.to_string())?;
        let url = match &self.url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => {
                let (key, listen) = match cfg.server.admin_api {
                    crate::config::AdminApi::Ops => ("metrics.listen", &cfg.metrics.listen),
                    _ => ("server.listen", &cfg.server.listen),
                };
                if listen.ends_with(":0") {
                    return Err(format!("{key} uses port 0: pass --url with the bound address"));
                }
                format!("http://{listen}")
            }
        };
        let token = self.token.clone().or_else(|| {
            let b = std::fs::read(cfg.storage.data_dir.join("bootstrap.json")).ok()?;
            serde_json::from_slice::<Value>(&b).ok()?.get("admin_token")?.as_str().map(str::to_string)
        });
        Ok((url, token))
    }
}

/// `attachd cleanup` against a running daemon.
pub async fn cleanup_online(conn: &Conn) -> Result<i32, String> {
    let (url, token) = conn.resolve()?;
    let token = token.ok_or("no admin token: pass --token or set ATTACHD_ADMIN_TOKEN")?;
    print_reply(crate::client::call(Method::POST, &format!("{url}/admin/v1/cleanup"), Some(&token), None).await?)
}

/// `attachd backup`.
pub async fn backup(conn: &Conn, name: Option<&str>) -> Result<i32, String> {
    let (url, token) = conn.resolve()?;
    let token = token.ok_or("no admin token: pass --token or set ATTACHD_ADMIN_TOKEN")?;
    let body = match name {
        Some(n) => json!({ "name": n }),
        None => json!({}),
    };
    print_reply(crate::client::call(Method::POST, &format!("{url}/admin/v1/backup"), Some(&token), Some(&body)).await?)
}

/// `attachd healthcheck`.
pub async fn healthcheck(conn: &Conn) -> Result<i32, String> {
    let (url, _) = conn.resolve()?;
    let (status, body) = crate::client::call(Method::GET, &format!("{url}/ready"), None, None).await?;
    println!("{body}");
    Ok(if status == 200 { 0 } else { 1 })
}

pub(crate) fn print_reply((status, body): (u16, Value)) -> Result<i32, String> {
    let text = serde_json::to_string_pretty(&body).unwrap_or_default();
    if (200..300).contains(&status) {
        println!("{text}");
        Ok(0)
    } else {
        eprintln!("HTTP {status}: {text}");
        Ok(1)
    }
}
