//! A read-through cache of the control plane (API keys by secret hash, apps, projects), so the
//! hot paths (reserve, upload, list) do not go to the catalog's control plane on every request.
//!
//! Every control-plane change goes through this process's service, which calls
//! [`ControlCache::clear`] after committing it. A lookup that loaded its value before that commit
//! must not put it back after the clear (a revoked key would then authenticate until the next
//! control write), so every clear bumps a generation and a load is cached only if the
//! generation it started under is still current when it inserts. Entries are therefore never
//! stale within one process. Replicas sharing a catalog also watch its control version
//! ([`ControlCache::refresh`], every second by the daemon's control watch): a change made
//! through another replica empties this cache within that period. Key expiry is still checked on every request (it depends on the clock, not on a write).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::engine::{Catalog, CatalogResult};
use crate::ids::{AppId, ProjectId};
use crate::model::control::{ApiKey, App, Project};

/// Cached control-plane objects.
#[derive(Default)]
pub struct ControlCache {
    keys: RwLock<HashMap<[u8; 32], Arc<ApiKey>>>,
    apps: RwLock<HashMap<AppId, Arc<App>>>,
    projects: RwLock<HashMap<ProjectId, Arc<Project>>>,
    /// Bumped by every clear, before the maps are emptied.
    generation: AtomicU64,
    /// The catalog's control version when last looked at ([`ControlCache::refresh`]).
    seen: AtomicU64,
}

/// Upper bound on entries per map; past it the map is emptied (entries are cheap to reload).
const MAX_ENTRIES: usize = 100_000;

fn get_or_load<K: Eq + Hash + Copy, V>(
    map: &RwLock<HashMap<K, Arc<V>>>,
    generation: &AtomicU64,
    key: K,
    load: impl FnOnce() -> CatalogResult<Option<V>>,
) -> CatalogResult<Option<Arc<V>>> {
    if let Some(v) = map.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(Some(v.clone()));
    }
    let started = generation.load(Ordering::SeqCst);
    let Some(v) = load()? else { return Ok(None) };
    let v = Arc::new(v);
    let mut w = map.write().unwrap_or_else(|e| e.into_inner());
    // A clear since `started` means the value may predate a committed change: use it for this
    // lookup (which overlapped the change) but do not keep it. A clear that bumps the
    // generation after this check empties the map after this insert.
    if generation.load(Ordering::SeqCst) == started {
        if w.len() >= MAX_ENTRIES {
            w.clear();
        }
        w.insert(key, v.clone());
    }
    Ok(Some(v))
}

impl ControlCache {
    /// The key whose secret hashes to `hash`.
    pub fn key(&self, catalog: &dyn Catalog, hash: &[u8; 32]) -> CatalogResult<Option<Arc<ApiKey>>> {
        get_or_load(&self.keys, &self.generation, *hash, || catalog.api_key_by_hash(hash))
    }

    /// An app.
    pub fn app(&self, catalog: &dyn Catalog, id: &AppId) -> CatalogResult<Option<Arc<App>>> {
        get_or_load(&self.apps, &self.generation, *id, || catalog.app(id))
    }

    /// A project.
    pub fn project(&self, catalog: &dyn Catalog, id: &ProjectId) -> CatalogResult<Option<Arc<Project>>> {
        get_or_load(&self.projects, &self.generation, *id, || catalog.project(id))
    }

    /// Forgets everything if the catalog's control version moved since the last look (a change
    /// made through another process sharing the catalog); returns whether it did.
    pub fn refresh(&self, catalog: &dyn Catalog) -> CatalogResult<bool> {
        let now = catalog.control_version()?;
        let moved = self.seen.swap(now, Ordering::SeqCst) != now;
        if moved {
            self.clear();
        }
        Ok(moved)
    }

    /// Forgets everything (after any control-plane write).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.keys.write().unwrap_or_else(|e| e.into_inner()).clear();
        self.apps.write().unwrap_or_else(|e| e.into_inner()).clear();
        self.projects.write().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A load that started before a control write (and its clear) is not cached after it.
    #[test]
    fn a_load_overlapping_a_clear_is_not_kept() {
        let cache = ControlCache::default();
        let id = AppId::random();
        let stale = |name: &str| App {
            id,
            project_id: ProjectId::random(),
            team_id: crate::ids::TeamId::random(),
            name: name.into(),
            created_at: crate::clock::Timestamp(1),
            deleted_at: None,
        };
        let got = get_or_load(&cache.apps, &cache.generation, id, || {
            cache.clear(); // the write commits and clears while this load is in flight
            Ok(Some(stale("before the write")))
        })
        .unwrap()
        .unwrap();
        assert_eq!(got.name, "before the write", "the overlapping lookup itself may see it");
        let got =
            get_or_load(&cache.apps, &cache.generation, id, || Ok(Some(stale("after the write")))).unwrap().unwrap();
        assert_eq!(got.name, "after the write", "the next lookup reloads");
        let again = get_or_load(&cache.apps, &cache.generation, id, || panic!("a kept entry is not reloaded"));
        assert_eq!(again.unwrap().unwrap().name, "after the write");
    }
}
