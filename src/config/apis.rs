//! The `[apis.*]` tables (which attachment APIs are served, where, with their own limits), the
//! `[scanner]` table (the content scanner their files may wait for) and the `[webhooks]` table
//! (how verdicts are announced), with their checks.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[apis.*]`: one table per attachment API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApisConfig {
    /// `[apis.events]`: event attachments (reserve → PUT; `/v1/…`).
    pub events: ApiMount,
    /// `[apis.catalog]`: product and ticket files (`/catalog/…`, `/issues/…`).
    pub catalog: CatalogApiConfig,
    /// `[apis.sessions]`: session-point slots (`/api/v1/project/…`).
    pub sessions: UploadApiConfig,
    /// `[apis.assets]`: asset and project attachment records (`/api/v2/…`).
    pub assets: UploadApiConfig,
    /// `[apis.files]`: signed-URL files with scanning (`/v1/files/…`).
    pub files: FilesApiConfig,
}

/// Whether an API is served, and under which path prefix.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiMount {
    /// Served at all.
    pub enabled: bool,
    /// Path prefix its routes are mounted under (`""`: at the root; else `/name`).
    pub prefix: String,
}

/// An API that takes uploads of unknown size.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadApiConfig {
    /// Served at all.
    pub enabled: bool,
    /// Path prefix.
    pub prefix: String,
    /// Largest file it takes (413 past it, while streaming).
    pub max_upload_bytes: u64,
    /// Whether its files wait for a content scan (`[scanner]`) before they are served.
    pub scan: bool,
}

/// `[apis.catalog]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogApiConfig {
    /// Served at all.
    pub enabled: bool,
    /// Path prefix.
    pub prefix: String,
    /// Largest file it takes.
    pub max_upload_bytes: u64,
    /// Lifetime of the signed URLs its product downloads answer with.
    pub download_url_ttl_secs: u64,
    /// Whether its files wait for a content scan (`[scanner]`) before they are served.
    pub scan: bool,
}

/// `[apis.files]`: signed-URL files (seed 004). The per-project settings it names default to
/// these values.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesApiConfig {
    /// Served at all.
    pub enabled: bool,
    /// Path prefix.
    pub prefix: String,
    /// Largest file an upload URL takes (`file_limits.max_size`).
    pub max_upload_bytes: u64,
    /// Types a file may have (`file_limits.allowed_types`), checked by extension at the URL's
    /// request and by extension and content at its upload.
    pub allowed_types: Vec<String>,
    /// Lifetime of an upload URL (`expires_in`).
    pub upload_url_ttl_secs: u64,
    /// Lifetime of a `persist=false` file, and of an upload URL never used, from its request.
    pub ephemeral_ttl_secs: u64,
    /// Whether its files wait for a content scan before they are served.
    pub scan: bool,
}

/// `[scanner]`: the content scanner and the worker that feeds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScannerConfig {
    /// clamd's socket: `unix:/path/to/clamd.sock` or `tcp:host:port`; empty: no scanner (files
    /// of the APIs that scan stay pending, and attachd says so at start).
    pub clamd_address: String,
    /// Scans running at once.
    pub concurrency: usize,
    /// Largest file sent to clamd (keep it at or below clamd's `StreamMaxLength`); larger
    /// files are recorded as failed, never clean.
    pub max_file_bytes: u64,
    /// Limit on one scan: connecting, sending and the verdict.
    pub timeout_secs: u64,
    /// First wait after clamd could not be reached (doubling up to `retry_max_secs`).
    pub retry_min_secs: u64,
    /// Longest wait between attempts while clamd cannot be reached.
    pub retry_max_secs: u64,
}

/// `[webhooks]`: deliveries of notices to projects' webhooks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Limit on one delivery (connect, send, reply).
    pub timeout_secs: u64,
    /// Longest wait between attempts at one notice (retries double from one second).
    pub retry_max_secs: u64,
}

impl WebhooksConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.timeout_secs == 0 || self.retry_max_secs == 0 {
            return Err(ConfigError::Invalid("webhooks.timeout_secs and retry_max_secs must be positive".into()));
        }
        Ok(())
    }
}

impl ScannerConfig {
    /// The parsed address, if a scanner is configured (validated).
    pub fn address(&self) -> Option<crate::scanner::ClamdAddress> {
        (!self.clamd_address.is_empty()).then(|| crate::scanner::ClamdAddress::parse(&self.clamd_address).ok())?
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !self.clamd_address.is_empty() {
            crate::scanner::ClamdAddress::parse(&self.clamd_address).map_err(ConfigError::Invalid)?;
        }
        if self.concurrency == 0 || self.max_file_bytes == 0 || self.timeout_secs == 0 || self.retry_min_secs == 0 {
            return Err(ConfigError::Invalid(
                "scanner.concurrency, max_file_bytes, timeout_secs and retry_min_secs must be positive".into(),
            ));
        }
        if self.retry_max_secs < self.retry_min_secs {
            return Err(ConfigError::Invalid("scanner.retry_max_secs must be at least retry_min_secs".into()));
        }
        Ok(())
    }
}

impl ApisConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let a = self;
        for (name, prefix) in [
            ("events", &a.events.prefix),
            ("catalog", &a.catalog.prefix),
            ("sessions", &a.sessions.prefix),
            ("assets", &a.assets.prefix),
            ("files", &a.files.prefix),
        ] {
            let ok = prefix.is_empty()
                || (prefix.starts_with('/')
                    && !prefix.ends_with('/')
                    && prefix[1..]
                        .split('/')
                        .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))));
            if !ok {
                return Err(ConfigError::Invalid(format!(
                    "apis.{name}.prefix must be empty or like /name (no trailing slash)"
                )));
            }
        }
        let f = &a.files;
        if [
            a.catalog.max_upload_bytes,
            a.sessions.max_upload_bytes,
            a.assets.max_upload_bytes,
            a.catalog.download_url_ttl_secs,
            f.max_upload_bytes,
            f.upload_url_ttl_secs,
            f.ephemeral_ttl_secs,
        ]
        .contains(&0)
        {
            return Err(ConfigError::Invalid("apis.*.max_upload_bytes and apis.*.*_ttl_secs must be positive".into()));
        }
        // Which types attachd can check is the files API's knowledge; here only their shape.
        if f.allowed_types.is_empty()
            || f.allowed_types.iter().any(|t| t.split('/').filter(|p| !p.is_empty()).count() != 2)
        {
            return Err(ConfigError::Invalid("apis.files.allowed_types must list MIME types (type/subtype)".into()));
        }
        if f.upload_url_ttl_secs > f.ephemeral_ttl_secs {
            return Err(ConfigError::Invalid(
                "apis.files.upload_url_ttl_secs must not exceed ephemeral_ttl_secs".into(),
            ));
        }
        Ok(())
    }
}
