//! Configuration: the embedded `config.toml` defaults, an optional file, then `ATTACHD_…` env.
//!
//! `config.toml` at the repository root is compiled in with `include_str!` and is the only place
//! defaults are written, so the documented defaults and the running ones cannot drift apart.
//! `Config::validate` turns a loaded config into something the daemon can trust.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Serialize};

mod apis;
mod backend;

pub use backend::{BackendConfig, BackendKind};

pub use apis::{
    ApiMount, ApisConfig, CatalogApiConfig, FilesApiConfig, ScannerConfig, UploadApiConfig, WebhooksConfig,
};

/// The defaults, exactly as shipped in `config.toml`.
pub const EMBEDDED_DEFAULTS: &str = include_str!("../../config.toml");

/// What [`Config::redacted`] prints in place of a secret that is set.
pub const REDACTED: &str = "<set, not shown>";

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or environment could not be read or did not have the right shape.
    #[error("load configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    /// A value is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The whole configuration, one field per `config.toml` section. The full explanation of
/// each key, and its default, lives in `config.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`: the public listener, its limits and timeouts, and where the admin API answers.
    pub server: ServerConfig,
    /// `[storage]`: the data directory, the write engine, segments and backups.
    pub storage: StorageConfig,
    /// `[auth]`: the JWT and download-signing secrets and the JWT checks.
    pub auth: AuthConfig,
    /// `[downloads]`: serving standalone files through nginx.
    pub downloads: DownloadsConfig,
    /// `[uploads]`: reservation lifetime and the per-project caps on pending reservations.
    pub uploads: UploadsConfig,
    /// `[quota]`: default quotas for projects without overrides.
    pub quota: QuotaConfig,
    /// `[cleanup]`: when the cleanup job runs, its grace periods and compaction.
    pub cleanup: CleanupConfig,
    /// `[rate_limit]`: the per-caller token bucket.
    pub rate_limit: RateLimitConfig,
    /// `[metrics]`: the ops listener.
    pub metrics: MetricsConfig,
    /// `[log]`: log format and filter.
    pub log: LogConfig,
    /// `[apis.*]`: which attachment APIs are served, where, and their own limits.
    pub apis: ApisConfig,
    /// `[scanner]`: the content scanner (clamd) and the scan worker.
    pub scanner: ScannerConfig,
    /// `[webhooks]`: deliveries to projects' webhooks.
    pub webhooks: WebhooksConfig,
    /// `[backend]`: local (RocksDB and files) or postgres_s3 (PostgreSQL and S3 replicas).
    pub backend: BackendConfig,
}

/// `[downloads]`: how downloads of standalone files are served.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadsConfig {
    /// When set (e.g. `/_attachments`), downloads of standalone files answer with an empty body
    /// and `X-Accel-Redirect` under this prefix for nginx to serve. Empty: attachd serves all.
    pub x_accel_prefix: String,
}

/// `[rate_limit]`: one token bucket per API key or user on reserve, upload and list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Whether requests are rate-limited at all (exhausted buckets get 429).
    pub enabled: bool,
    /// Requests a caller may make in a burst (the bucket's size).
    pub burst: u32,
    /// Tokens added back per second, continuously.
    pub per_second: f64,
}

/// `[metrics]`: the ops listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address of the ops listener (`/metrics`, `/health`, `/ready`, and the admin API with
    /// `server.admin_api = "ops"`). Empty disables it.
    pub listen: String,
}

/// `[server]`: the public listener, its limits, timeouts and memory budgets.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the public API listens on (`IP:port`; port 0 picks a free one).
    pub listen: String,
    /// Base URL for `upload_url` and `download_url`; empty means `http://<bound address>`.
    pub public_url: String,
    /// Longest time a client may take to send the request line and headers.
    pub header_timeout_secs: u64,
    /// Longest pause allowed between two pieces of a request body.
    pub body_idle_timeout_secs: u64,
    /// Least average body rate once a body has run `body_idle_timeout_secs`; 0 disables it.
    pub body_min_rate_bytes_per_sec: u64,
    /// Largest request head (request line + headers) accepted.
    pub max_header_bytes: usize,
    /// Largest body the JSON endpoints (reserve, admin API) accept.
    pub max_json_body_bytes: usize,
    /// How long in-flight requests may run on after SIGTERM/SIGINT.
    pub shutdown_grace_secs: u64,
    /// Most client connections open at once; beyond it new ones get 503 and are closed.
    pub max_connections: usize,
    /// Longest a response write may make no progress before the connection is closed.
    pub send_timeout_secs: u64,
    /// Memory budget for upload bodies held at once; beyond it uploads get 503.
    pub upload_memory_bytes: u64,
    /// Memory budget for download chunks held at once; beyond it downloads get 503.
    pub download_memory_bytes: u64,
    /// Which listener serves the admin API.
    pub admin_api: AdminApi,
}

/// Where the admin API (`/admin/v1/…`) is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminApi {
    /// Only on the ops listener (`metrics.listen`, loopback by default).
    Ops,
    /// On the public listener too (only behind a proxy that does not expose `/admin`).
    Public,
    /// Nowhere.
    Off,
}

/// `[storage]`: where and how attachments are stored, and where backups go.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Where everything lives: the index, segments, blobs, `bootstrap.json` and the secrets.
    pub data_dir: PathBuf,
    /// Write engine for segment appends and standalone blobs.
    pub io_engine: IoEngineChoice,
    /// Attachments up to this size go into shared segments; larger ones become standalone files.
    pub standalone_threshold_bytes: u64,
    /// Size each segment file is preallocated to.
    pub segment_bytes: u64,
    /// Free space on the data volume that uploads must leave (507 otherwise).
    pub min_free_bytes: u64,
    /// Most bytes one group commit writes before its fdatasync.
    pub max_commit_batch_bytes: u64,
    /// Where online backups are written (`<backup_dir>/<name>`); empty disables backups.
    pub backup_dir: PathBuf,
}

/// Which write engine to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IoEngineChoice {
    /// io_uring when the kernel allows it, else sync.
    Auto,
    /// io_uring or fail to start.
    Uring,
    /// Portable pwrite/fdatasync.
    Sync,
}

/// `[auth]`: signing secrets and the checks on dashboard JWTs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// HS256 secret for dashboard-user JWTs; empty: generated on first start (`secrets.json`).
    pub jwt_secret: String,
    /// HMAC-SHA256 key for download tokens; empty: generated on first start (`secrets.json`).
    pub download_signing_secret: String,
    /// How long a signed download URL stays valid.
    pub download_url_ttl_secs: u64,
    /// Audience a JWT's `aud` must name; empty: not checked.
    pub jwt_audience: String,
    /// Issuer a JWT's `iss` must equal; empty: not checked.
    pub jwt_issuer: String,
}

/// `[uploads]`: reservation lifetime and the caps on pending reservations.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadsConfig {
    /// How long a reservation may wait for its upload before it expires.
    pub reservation_ttl_secs: u64,
    /// How often expired reservations are swept and their quota released.
    pub reservation_sweep_interval_secs: u64,
    /// Most reservations a project may hold not yet uploaded (429 beyond).
    pub max_pending_per_project: u64,
    /// Most bytes a project's pending reservations may declare together (429 beyond); also the
    /// largest single attachment it can reserve.
    pub max_pending_bytes_per_project: u64,
}

/// `[quota]`: defaults for projects without overrides.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    /// Bytes a project may store.
    pub project_bytes: u64,
    /// Bytes each end user may store within a project.
    pub user_bytes: u64,
}

/// `[cleanup]`: the cleanup job's schedule, grace periods and compaction.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanupConfig {
    /// When the cleanup job runs: `"HH:MM"` (daily, UTC), `"every N"` (seconds) or `"off"`.
    pub schedule: String,
    /// How long soft-deleted attachments keep their bytes before cleanup reclaims them.
    pub soft_delete_grace_secs: u64,
    /// Age past which files in the blob area that no record points at are removed.
    pub orphan_grace_secs: u64,
    /// A sealed segment whose live bytes fall below this fraction of its used bytes is compacted.
    pub compaction_live_ratio: f64,
    /// Most bytes per second compaction copies.
    pub compaction_bytes_per_sec: u64,
}

/// `[log]`: logging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Log line format.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `attachd=debug,info`; `RUST_LOG` overrides it.
    pub level: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// When the cleanup job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Daily at this UTC time (seconds after midnight).
    DailyAt(u32),
    /// Every this many seconds.
    Every(Duration),
    /// Only on demand.
    Off,
}

impl Schedule {
    /// Parses `"HH:MM"`, `"every N"` or `"off"`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s == "off" {
            return Some(Self::Off);
        }
        if let Some(n) = s.strip_prefix("every ") {
            let secs: u64 = n.trim().parse().ok()?;
            return (secs > 0).then(|| Self::Every(Duration::from_secs(secs)));
        }
        let (h, m) = s.split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(Self::DailyAt(h * 3600 + m * 60))
    }

    /// How long from `now_secs` (Unix seconds) until the next run; `None` when off.
    pub fn next_delay(&self, now_secs: u64) -> Option<Duration> {
        match *self {
            Self::Off => None,
            Self::Every(d) => Some(d),
            Self::DailyAt(at) => {
                let into_day = (now_secs % 86_400) as u32;
                let wait = if at > into_day { at - into_day } else { 86_400 - into_day + at };
                Some(Duration::from_secs(wait as u64))
            }
        }
    }
}

impl Config {
    /// Loads the embedded defaults, then `file` if given, then the `ATTACHD_` environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Toml::string(EMBEDDED_DEFAULTS));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Invalid(format!("config file {} does not exist", path.display())));
            }
            fig = fig.merge(Toml::file(path));
        }
        // Only `ATTACHD_<SECTION>__<KEY>` names are configuration; other `ATTACHD_` variables
        // (ATTACHD_CONFIG, ATTACHD_ADMIN_TOKEN for the CLI, test knobs) must not be taken for
        // unknown keys.
        fig = fig.merge(Env::prefixed("ATTACHD_").filter(|k| k.as_str().contains("__")).split("__"));
        let cfg: Config = fig.extract().map_err(Box::new)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks ranges and cross-field rules.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        self.backend.validate()?;
        if self.backend.kind == BackendKind::PostgresS3
            && (self.auth.jwt_secret.is_empty() || self.auth.download_signing_secret.is_empty())
        {
            return bad("backend.kind = \"postgres_s3\" needs auth.jwt_secret and auth.download_signing_secret set \
                 (every replica must sign and check with the same secrets)");
        }
        if self.server.listen.parse::<SocketAddr>().is_err() {
            return bad("server.listen must be an IP:port address such as 127.0.0.1:7380");
        }
        if !self.server.public_url.is_empty()
            && !(self.server.public_url.starts_with("http://") || self.server.public_url.starts_with("https://"))
        {
            return bad("server.public_url must be empty or start with http:// or https://");
        }
        if self.server.max_header_bytes < 1024 {
            return bad("server.max_header_bytes must be at least 1024");
        }
        if self.server.max_connections == 0 || self.server.send_timeout_secs == 0 {
            return bad("server.max_connections and server.send_timeout_secs must be positive");
        }
        if self.server.upload_memory_bytes < self.storage.standalone_threshold_bytes + (64 << 10)
            || self.server.upload_memory_bytes < 2 << 20
        {
            return bad(
                "server.upload_memory_bytes must hold at least one upload: 2 MiB and above storage.standalone_threshold_bytes + 64 KiB",
            );
        }
        if self.server.download_memory_bytes < self.storage.standalone_threshold_bytes.max(1 << 20) {
            return bad(
                "server.download_memory_bytes must hold at least one download: 1 MiB and storage.standalone_threshold_bytes",
            );
        }
        if self.storage.segment_bytes < 1 << 20 {
            return bad("storage.segment_bytes must be at least 1 MiB");
        }
        self.apis.validate()?;
        self.scanner.validate()?;
        self.webhooks.validate()?;
        if self.storage.standalone_threshold_bytes + 4096 > self.storage.segment_bytes {
            return bad("storage.standalone_threshold_bytes must leave room for a record in one segment");
        }
        if self.auth.download_url_ttl_secs == 0 {
            return bad("auth.download_url_ttl_secs must be positive");
        }
        if self.uploads.reservation_ttl_secs == 0 || self.uploads.reservation_sweep_interval_secs == 0 {
            return bad("uploads.reservation_ttl_secs and reservation_sweep_interval_secs must be positive");
        }
        if Schedule::parse(&self.cleanup.schedule).is_none() {
            return bad("cleanup.schedule must be \"HH:MM\", \"every N\" (seconds) or \"off\"");
        }
        if !(0.0..=1.0).contains(&self.cleanup.compaction_live_ratio) {
            return bad("cleanup.compaction_live_ratio must be between 0 and 1");
        }
        if !self.downloads.x_accel_prefix.is_empty() && !self.downloads.x_accel_prefix.starts_with('/') {
            return bad("downloads.x_accel_prefix must be empty or start with /");
        }
        if self.rate_limit.enabled && (self.rate_limit.burst == 0 || !(self.rate_limit.per_second > 0.0)) {
            return bad("rate_limit.burst and rate_limit.per_second must be positive");
        }
        if !self.metrics.listen.is_empty() && self.metrics.listen.parse::<SocketAddr>().is_err() {
            return bad("metrics.listen must be empty or an IP:port address");
        }
        if self.server.admin_api == AdminApi::Ops && self.metrics.listen.is_empty() {
            return bad(
                "server.admin_api = \"ops\" needs the ops listener (metrics.listen); or set it to \"public\" or \"off\"",
            );
        }
        // Usage counters are signed 64-bit sums bounded by the quota.
        if self.quota.project_bytes > 1 << 62 || self.quota.user_bytes > 1 << 62 {
            return bad("quota.project_bytes and quota.user_bytes must be at most 2^62");
        }
        if self.cleanup.compaction_bytes_per_sec == 0 {
            return bad("cleanup.compaction_bytes_per_sec must be positive");
        }
        Ok(())
    }

    /// A copy that is safe to print or log: every secret is replaced by a marker saying only
    /// whether one is set (`attachd config check` prints this, and systemd logs it).
    pub fn redacted(&self) -> Self {
        let mut c = self.clone();
        for secret in [&mut c.auth.jwt_secret, &mut c.auth.download_signing_secret] {
            if !secret.is_empty() {
                *secret = REDACTED.to_string();
            }
        }
        c
    }

    /// The cleanup schedule (validated).
    pub fn schedule(&self) -> Schedule {
        Schedule::parse(&self.cleanup.schedule).unwrap_or(Schedule::Off)
    }

    /// Seconds → `Duration` helper for the `_secs` keys.
    pub fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_load_and_validate() {
        let cfg: Config = Figment::from(Toml::string(EMBEDDED_DEFAULTS)).extract().unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.quota.project_bytes, 5 * 1024 * 1024 * 1024);
        assert_eq!(cfg.quota.user_bytes, 250 * 1024 * 1024);
        assert_eq!(cfg.auth.download_url_ttl_secs, 60);
        assert_eq!(cfg.schedule(), Schedule::DailyAt(5 * 3600));
    }

    #[test]
    fn redacted_hides_every_secret() {
        let mut cfg: Config = Figment::from(Toml::string(EMBEDDED_DEFAULTS)).extract().unwrap();
        cfg.auth.jwt_secret = "jwt-s3cret".into();
        cfg.auth.download_signing_secret = "dl-s3cret".into();
        let shown = serde_json::to_string(&cfg.redacted()).unwrap();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains(REDACTED));
    }

    #[test]
    fn schedule_parsing_and_next_delay() {
        assert_eq!(Schedule::parse("every 5"), Some(Schedule::Every(Duration::from_secs(5))));
        assert_eq!(Schedule::parse("off"), Some(Schedule::Off));
        assert_eq!(Schedule::parse("24:00"), None);
        assert_eq!(Schedule::parse("every 0"), None);
        let daily = Schedule::parse("05:00").unwrap();
        // 04:00 UTC → one hour to go; 06:00 → 23 hours.
        assert_eq!(daily.next_delay(4 * 3600), Some(Duration::from_secs(3600)));
        assert_eq!(daily.next_delay(6 * 3600), Some(Duration::from_secs(23 * 3600)));
        assert_eq!(daily.next_delay(5 * 3600), Some(Duration::from_secs(86_400)));
    }
}
