//! What each listener serves: the probes and every attachment API `[apis.*]` enables on the
//! public listener, the admin API where `server.admin_api` puts it.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{AdminApi, Config};
use crate::http::{HttpConfig, HttpState, Router};
use crate::service::Service;
use crate::worker::Job;
use crate::worker::cleanup::Cleanup;

/// The HTTP state: the front ends mounted on each listener. The public listener serves the
/// probes and each attachment API `[apis.*]` enables (under its prefix), and the admin API
/// where `server.admin_api` puts it (with `cleanup` as its on-demand cleanup, run on a
/// blocking thread).
pub(super) fn http_state(
    cfg: &Config,
    service: &Arc<Service>,
    cleanup: Arc<Cleanup>,
    ready: &Arc<std::sync::atomic::AtomicBool>,
) -> Arc<HttpState> {
    use crate::frontend::assets::{AssetsApi, AssetsSettings};
    use crate::frontend::catalog::{CatalogApi, CatalogSettings};
    use crate::frontend::sessions::{SessionsApi, SessionsSettings};
    use crate::frontend::signed::{FilesApi, FilesSettings};
    use crate::frontend::{admin::AdminApi as Admin, events::EventsApi, probes::Probes};
    let run_cleanup = Arc::new(move || {
        let c = cleanup.clone();
        tokio::task::spawn_blocking(move || c.run_once())
    });
    let http_cfg = HttpConfig {
        body_idle_timeout: Duration::from_secs(cfg.server.body_idle_timeout_secs),
        body_min_rate: cfg.server.body_min_rate_bytes_per_sec,
        max_json_body: cfg.server.max_json_body_bytes,
        max_header_bytes: cfg.server.max_header_bytes,
    };
    let admin = Admin::new(service.clone(), http_cfg.clone(), run_cleanup);
    let mut public = Router::new().mount(Arc::new(Probes { ready: ready.clone(), service: service.clone() }));
    let apis = &cfg.apis;
    if apis.events.enabled {
        let events = EventsApi::new(service.clone(), http_cfg.clone(), &apis.events.prefix);
        public = public.mount_at(&apis.events.prefix, events);
    }
    if apis.catalog.enabled {
        let settings = CatalogSettings {
            prefix: apis.catalog.prefix.clone(),
            max_upload_bytes: apis.catalog.max_upload_bytes,
            download_ttl: Duration::from_secs(apis.catalog.download_url_ttl_secs),
            scan: apis.catalog.scan,
        };
        public = public.mount_at(&apis.catalog.prefix, CatalogApi::new(service.clone(), http_cfg.clone(), settings));
    }
    if apis.sessions.enabled {
        let settings = SessionsSettings { max_upload_bytes: apis.sessions.max_upload_bytes, scan: apis.sessions.scan };
        public = public.mount_at(&apis.sessions.prefix, SessionsApi::new(service.clone(), http_cfg.clone(), settings));
    }
    if apis.files.enabled {
        let f = &apis.files;
        let settings = FilesSettings {
            prefix: f.prefix.clone(),
            max_upload_bytes: f.max_upload_bytes,
            allowed_types: f.allowed_types.clone(),
            upload_url_ttl: Duration::from_secs(f.upload_url_ttl_secs),
            ephemeral_ttl: Duration::from_secs(f.ephemeral_ttl_secs),
            scan: f.scan,
        };
        public = public.mount_at(&f.prefix, FilesApi::new(service.clone(), http_cfg.clone(), settings));
    }
    if apis.assets.enabled {
        let settings = AssetsSettings { max_upload_bytes: apis.assets.max_upload_bytes, scan: apis.assets.scan };
        public = public.mount_at(&apis.assets.prefix, AssetsApi::new(service.clone(), http_cfg.clone(), settings));
    }
    let mut ops = Router::new();
    match cfg.server.admin_api {
        AdminApi::Public => public = public.mount(admin),
        AdminApi::Ops => ops = ops.mount(admin),
        AdminApi::Off => {}
    }
    Arc::new(HttpState::new(http_cfg, public, ops))
}
