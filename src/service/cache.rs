//! A read-through cache of the control plane (API keys by secret hash, apps, projects), so the
//! hot paths (reserve, upload, list) do not read and decode JSON from RocksDB on every request.
//!
//! Every control-plane change goes through this process's service, which calls
//! [`ControlCache::clear`] after committing it; entries are therefore never stale. Key expiry is
//! still checked on every request (it depends on the clock, not on a write).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};

use crate::ids::{AppId, ProjectId};
use crate::index::control::{ApiKey, App, Project};
use crate::index::{Index, IndexError};

/// Cached control-plane objects.
#[derive(Default)]
pub struct ControlCache {
    keys: RwLock<HashMap<[u8; 32], Arc<ApiKey>>>,
    apps: RwLock<HashMap<AppId, Arc<App>>>,
    projects: RwLock<HashMap<ProjectId, Arc<Project>>>,
}

/// Upper bound on entries per map; past it the map is emptied (entries are cheap to reload).
const MAX_ENTRIES: usize = 100_000;

fn get_or_load<K: Eq + Hash + Copy, V>(
    map: &RwLock<HashMap<K, Arc<V>>>,
    key: K,
    load: impl FnOnce() -> Result<Option<V>, IndexError>,
) -> Result<Option<Arc<V>>, IndexError> {
    if let Some(v) = map.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(Some(v.clone()));
    }
    let Some(v) = load()? else { return Ok(None) };
    let v = Arc::new(v);
    let mut w = map.write().unwrap_or_else(|e| e.into_inner());
    if w.len() >= MAX_ENTRIES {
        w.clear();
    }
    w.insert(key, v.clone());
    Ok(Some(v))
}

impl ControlCache {
    /// The key whose secret hashes to `hash`.
    pub fn key(&self, index: &Index, hash: &[u8; 32]) -> Result<Option<Arc<ApiKey>>, IndexError> {
        get_or_load(&self.keys, *hash, || index.api_key_by_hash(hash))
    }

    /// An app.
    pub fn app(&self, index: &Index, id: &AppId) -> Result<Option<Arc<App>>, IndexError> {
        get_or_load(&self.apps, *id, || index.app(id))
    }

    /// A project.
    pub fn project(&self, index: &Index, id: &ProjectId) -> Result<Option<Arc<Project>>, IndexError> {
        get_or_load(&self.projects, *id, || index.project(id))
    }

    /// Forgets everything (after any control-plane write).
    pub fn clear(&self) {
        self.keys.write().unwrap_or_else(|e| e.into_inner()).clear();
        self.apps.write().unwrap_or_else(|e| e.into_inner()).clear();
        self.projects.write().unwrap_or_else(|e| e.into_inner()).clear();
    }
}
