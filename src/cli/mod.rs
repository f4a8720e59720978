//! The command line: `serve`, `admin …`, `cleanup`, `backup`, `config check`, `healthcheck`.
//! Commands other than `serve` talk to a running daemon over HTTP (admin token from
//! `--token`, `ATTACHD_ADMIN_TOKEN` or `<data_dir>/bootstrap.json`), except `cleanup --offline`,
//! which opens a stopped daemon's data directory itself.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use hyper::Method;
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

/// `attachd admin …`
#[derive(Debug, Subcommand)]
pub enum AdminCmd {
    /// List teams.
    Teams,
    /// Create a team.
    CreateTeam {
        /// Name of the new team.
        #[arg(long)]
        name: String,
    },
    /// List projects.
    Projects,
    /// Create a project.
    CreateProject {
        /// Id of the team that owns the project.
        #[arg(long)]
        team: String,
        /// Name of the new project.
        #[arg(long)]
        name: String,
    },
    /// Soft-delete a project.
    DeleteProject {
        /// Project id.
        id: String,
    },
    /// List apps.
    Apps,
    /// Create an app.
    CreateApp {
        /// Id of the project the app belongs to.
        #[arg(long)]
        project: String,
        /// Name of the new app.
        #[arg(long)]
        name: String,
    },
    /// List keys (never their secrets).
    Keys,
    /// Create a key; prints its secret once.
    CreateKey {
        /// client (app-scoped) or agent (team-scoped).
        #[arg(long)]
        kind: String,
        /// App id (required for client keys).
        #[arg(long)]
        app: Option<String>,
        /// Team id (required for agent keys).
        #[arg(long)]
        team: Option<String>,
        /// Display name (default: "key").
        #[arg(long)]
        name: Option<String>,
        /// Repeat for several (client: events:write; agent: events:read, events:write, projects:write).
        #[arg(long = "permission")]
        permissions: Vec<String>,
    },
    /// Revoke a key.
    RevokeKey {
        /// Key id.
        id: String,
    },
    /// List a team's members.
    Members {
        /// Team id.
        #[arg(long)]
        team: String,
    },
    /// Set a user's role in a team (owner, admin, member).
    SetMember {
        /// Team id.
        #[arg(long)]
        team: String,
        /// User id (a JWT `sub`).
        #[arg(long)]
        user: String,
        /// owner, admin or member.
        #[arg(long)]
        role: String,
    },
    /// Remove a user from a team.
    RemoveMember {
        /// Team id.
        #[arg(long)]
        team: String,
        /// User id (a JWT `sub`).
        #[arg(long)]
        user: String,
    },
    /// Set a project's quota overrides (bytes, any non-negative value; "default" resets).
    SetQuota {
        /// Project id.
        #[arg(long)]
        project: String,
        /// Quota for the whole project in bytes, or "default" (left unchanged when omitted).
        #[arg(long)]
        project_bytes: Option<String>,
        /// Quota for each end user's uploads in the project in bytes, or "default" (left unchanged when omitted).
        #[arg(long)]
        user_bytes: Option<String>,
    },
    /// List admin tokens (never their secrets).
    Tokens,
    /// Create an admin token; prints its secret once. Rotate by creating the new token,
    /// switching to it, then revoking the old one.
    CreateToken {
        /// Name of the new token (1–100 characters).
        #[arg(long)]
        name: String,
    },
    /// Revoke an admin token by id (see `tokens`); the last one cannot be revoked.
    RevokeToken {
        /// Token id (16 hex digits).
        id: String,
    },
    /// Mint a user JWT signed with the daemon's secret.
    MintJwt {
        /// Subject: the user id the token speaks for.
        #[arg(long)]
        sub: String,
        /// Lifetime in seconds (default: 3600).
        #[arg(long)]
        ttl_secs: Option<u64>,
    },
}

impl Conn {
    fn resolve(&self) -> Result<(String, Option<String>), String> {
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

fn quota_value(s: &Option<String>) -> Result<Option<Value>, String> {
    match s.as_deref() {
        None => Ok(None),
        Some("default") | Some("null") => Ok(Some(Value::Null)),
        Some(n) => n.parse::<u64>().map(|n| Some(json!(n))).map_err(|_| format!("not a byte count: {n}")),
    }
}

/// Runs an admin command; returns the process exit code.
pub async fn admin(conn: &Conn, what: &AdminCmd) -> Result<i32, String> {
    let (url, token) = conn.resolve()?;
    let token = token.ok_or("no admin token: pass --token or set ATTACHD_ADMIN_TOKEN")?;
    let a = |p: &str| format!("{url}/admin/v1/{p}");
    let (method, path, body) = match what {
        AdminCmd::Teams => (Method::GET, a("teams"), None),
        AdminCmd::CreateTeam { name } => (Method::POST, a("teams"), Some(json!({"name": name}))),
        AdminCmd::Projects => (Method::GET, a("projects"), None),
        AdminCmd::CreateProject { team, name } => {
            (Method::POST, a(&format!("teams/{team}/projects")), Some(json!({"name": name})))
        }
        AdminCmd::DeleteProject { id } => (Method::DELETE, a(&format!("projects/{id}")), None),
        AdminCmd::Apps => (Method::GET, a("apps"), None),
        AdminCmd::CreateApp { project, name } => {
            (Method::POST, a(&format!("projects/{project}/apps")), Some(json!({"name": name})))
        }
        AdminCmd::Keys => (Method::GET, a("keys"), None),
        AdminCmd::CreateKey { kind, app, team, name, permissions } => {
            let mut b = json!({"kind": kind, "app_id": app, "team_id": team, "name": name});
            if !permissions.is_empty() {
                b["permissions"] = json!(permissions);
            }
            (Method::POST, a("keys"), Some(b))
        }
        AdminCmd::RevokeKey { id } => (Method::DELETE, a(&format!("keys/{id}")), None),
        AdminCmd::Members { team } => (Method::GET, a(&format!("teams/{team}/members")), None),
        AdminCmd::SetMember { team, user, role } => {
            let u = percent_encoding::utf8_percent_encode(user, percent_encoding::NON_ALPHANUMERIC);
            (Method::PUT, a(&format!("teams/{team}/members/{u}")), Some(json!({"role": role})))
        }
        AdminCmd::RemoveMember { team, user } => {
            let u = percent_encoding::utf8_percent_encode(user, percent_encoding::NON_ALPHANUMERIC);
            (Method::DELETE, a(&format!("teams/{team}/members/{u}")), None)
        }
        AdminCmd::SetQuota { project, project_bytes, user_bytes } => {
            let mut b = json!({});
            if let Some(v) = quota_value(project_bytes)? {
                b["project_bytes"] = v;
            }
            if let Some(v) = quota_value(user_bytes)? {
                b["user_bytes"] = v;
            }
            (Method::PUT, a(&format!("projects/{project}/quota")), Some(b))
        }
        AdminCmd::Tokens => (Method::GET, a("tokens"), None),
        AdminCmd::CreateToken { name } => (Method::POST, a("tokens"), Some(json!({"name": name}))),
        AdminCmd::RevokeToken { id } => (Method::DELETE, a(&format!("tokens/{id}")), None),
        AdminCmd::MintJwt { sub, ttl_secs } => {
            (Method::POST, a("jwt"), Some(json!({"sub": sub, "ttl_secs": ttl_secs})))
        }
    };
    print_reply(crate::client::call(method, &path, Some(&token), body.as_ref()).await?)
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

fn print_reply((status, body): (u16, Value)) -> Result<i32, String> {
    let text = serde_json::to_string_pretty(&body).unwrap_or_default();
    if (200..300).contains(&status) {
        println!("{text}");
        Ok(0)
    } else {
        eprintln!("HTTP {status}: {text}");
        Ok(1)
    }
}
