//! The control watch: every [`PERIOD`], asks the catalog whether the control plane changed
//! through another process (a replica sharing a PostgreSQL catalog) and, if so, empties this
//! process's control cache. It bounds how long a revoked key, a deleted app or a changed quota
//! stays in effect on other replicas: [`PERIOD`] plus one lookup in flight. On the local
//! backend the version never moves and the watch costs one read.

use std::sync::Arc;
use std::time::Duration;

use crate::service::Service;

use super::Job;

/// How often the watch looks.
pub const PERIOD: Duration = Duration::from_secs(1);

/// The control watch.
pub struct ControlWatch {
    /// The service.
    pub service: Arc<Service>,
}

impl Job for ControlWatch {
    fn name(&self) -> &'static str {
        "control-watch"
    }

    fn run_once(&self) -> serde_json::Value {
        match self.service.refresh_control() {
            Ok(moved) => serde_json::json!({ "changed": moved }),
            Err(e) => {
                tracing::warn!(error = %e, "control watch: the catalog could not be read");
                serde_json::json!({ "error": e.to_string() })
            }
        }
    }
}
