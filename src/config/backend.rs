//! `[backend]`: which backend holds the data — the local one (RocksDB and files under
//! `storage.data_dir`, the default) or `postgres_s3` (PostgreSQL and an S3-compatible store,
//! for stateless replicas).

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Which backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// RocksDB and files on this machine.
    Local,
    /// PostgreSQL and an S3-compatible object store, shared by any number of replicas.
    PostgresS3,
}

/// `[backend]` (each key also `ATTACHD_BACKEND__<KEY>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    /// `local` or `postgres_s3`.
    pub kind: BackendKind,
    /// PostgreSQL: `postgres://user:password@host:port/database`.
    pub postgres_url: String,
    /// Most PostgreSQL connections one replica holds.
    pub postgres_pool_size: usize,
    /// The S3 endpoint, `http(s)://host:port`; empty: AWS S3 in `s3_region`.
    pub s3_endpoint: String,
    /// The S3 region.
    pub s3_region: String,
    /// The bucket (must exist).
    pub s3_bucket: String,
    /// The access key id.
    pub s3_access_key_id: String,
    /// The secret access key.
    pub s3_secret_access_key: String,
    /// Path-style requests (`endpoint/bucket/key`): what self-hosted stores need.
    pub s3_path_style: bool,
    /// A prefix for every object key, so a bucket can be shared (e.g. `attachd/`).
    pub s3_prefix: String,
    /// `0`: downloads stream through attachd; otherwise a download is a 302 to a presigned
    /// `GET` on the store, valid this many seconds.
    pub s3_presign_ttl_secs: u64,
}

impl BackendConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.kind == BackendKind::Local {
            return Ok(());
        }
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        if self.postgres_url.is_empty() {
            return bad("backend.postgres_url is required when backend.kind = \"postgres_s3\"");
        }
        if self.s3_bucket.is_empty() {
            return bad("backend.s3_bucket is required when backend.kind = \"postgres_s3\"");
        }
        if self.postgres_pool_size == 0 {
            return bad("backend.postgres_pool_size must be at least 1");
        }
        if !self.s3_endpoint.is_empty()
            && !self.s3_endpoint.starts_with("http://")
            && !self.s3_endpoint.starts_with("https://")
        {
            return bad("backend.s3_endpoint must be empty or start with http:// or https://");
        }
        if !self.s3_prefix.is_empty() && !self.s3_prefix.ends_with('/') {
            return bad("backend.s3_prefix must be empty or end with '/'");
        }
        Ok(())
    }

    /// The backend's own settings, for `postgres_s3`.
    pub fn postgres_s3(&self) -> crate::postgres_s3::PgS3Config {
        crate::postgres_s3::PgS3Config {
            postgres_url: self.postgres_url.clone(),
            postgres_pool_size: self.postgres_pool_size,
            s3_endpoint: self.s3_endpoint.clone(),
            s3_region: self.s3_region.clone(),
            s3_bucket: self.s3_bucket.clone(),
            s3_access_key_id: self.s3_access_key_id.clone(),
            s3_secret_access_key: self.s3_secret_access_key.clone(),
            s3_path_style: self.s3_path_style,
            s3_prefix: self.s3_prefix.clone(),
            s3_presign_ttl_secs: self.s3_presign_ttl_secs,
        }
    }
}
