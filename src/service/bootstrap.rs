//! First start: create a default team, project, app, one client key, one agent key and an admin
//! token, and write their plaintext secrets to `<data_dir>/bootstrap.json` (mode 0600). Once the
//! file is durable a marker is committed; later starts see it and do nothing.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::control::{ControlChange, KeyKind};

use super::admin::NewKey;
use super::auth::EVENTS_READ;
use super::{Result, Service, ServiceError};

/// Control-plane marker set once the first-start bootstrap completed.
const BOOTSTRAPPED: &str = "bootstrapped";

/// The contents of `bootstrap.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bootstrap {
    /// Admin API token.
    pub admin_token: String,
    /// Default team.
    pub team_id: String,
    /// Default project.
    pub project_id: String,
    /// Default app.
    pub app_id: String,
    /// Client key (app-scoped, `events:write`).
    pub client_key: String,
    /// Agent key (team-scoped, `events:read`).
    pub agent_key: String,
}

/// Where the bootstrap file lives.
pub fn bootstrap_path(data_dir: &Path) -> PathBuf {
    data_dir.join("bootstrap.json")
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename, fsync dir) with `mode`.
pub fn write_file_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    // A bare file name's parent is "", which is the working directory.
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

impl Service {
    /// Creates the defaults if the catalog has no team yet; returns the file written, if any.
    pub fn bootstrap_if_empty(&self, data_dir: &Path) -> Result<Option<PathBuf>> {
        // The marker is written only after bootstrap.json is durable, so a crash in between
        // bootstraps again (the half-made team stays, unused) instead of leaving no admin token.
        if self.catalog.marker(BOOTSTRAPPED)?.is_some() {
            return Ok(None);
        }
        let team = self.create_team(Some("default".into()))?;
        let project = self.create_project(team.id, Some("default".into()))?;
        let app = self.create_app(project.id, Some("default".into()))?;
        let (_, client_key) = self.create_key(NewKey {
            kind: KeyKind::Client,
            name: Some("bootstrap client key".into()),
            app_id: Some(app.id),
            team_id: None,
            user_id: None,
            project_id: None,
            permissions: None,
            expires_in_secs: None,
        })?;
        let (_, agent_key) = self.create_key(NewKey {
            kind: KeyKind::Agent,
            name: Some("bootstrap agent key".into()),
            app_id: None,
            team_id: Some(team.id),
            user_id: None,
            project_id: None,
            permissions: Some(vec![EVENTS_READ.into()]),
            expires_in_secs: None,
        })?;
        let admin_token = self.create_admin_token("bootstrap")?;
        let b = Bootstrap {
            admin_token,
            team_id: team.id.to_string(),
            project_id: project.id.to_string(),
            app_id: app.id.to_string(),
            client_key,
            agent_key,
        };
        let path = bootstrap_path(data_dir);
        let json = serde_json::to_vec_pretty(&b).expect("bootstrap serializes");
        write_file_atomic(&path, &json, 0o600)
            .map_err(|e| ServiceError::Internal(format!("write {}: {e}", path.display())))?;
        let value = serde_json::json!(crate::clock::Timestamp::now().to_iso());
        self.commit_control(vec![ControlChange::PutMarker { name: BOOTSTRAPPED.into(), value }])?;
        Ok(Some(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_file_atomic_takes_a_bare_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let abs = dir.path().join("ready");
        write_file_atomic(&abs, b"a", 0o600).unwrap();
        assert_eq!(std::fs::read(&abs).unwrap(), b"a");
        // A bare name: the file lands in the working directory, which is the one fsynced.
        let cwd = std::env::current_dir().unwrap();
        let name = format!("attachd-test-ready-{}", std::process::id());
        write_file_atomic(Path::new(&name), b"b", 0o600).unwrap();
        assert_eq!(std::fs::read(cwd.join(&name)).unwrap(), b"b");
        std::fs::remove_file(cwd.join(&name)).unwrap();
    }
}
