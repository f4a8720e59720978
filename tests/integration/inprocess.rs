//! attachd run inside the test process, for tests that inject a write engine or an index
//! commit hook (faults, power loss). It has no ops listener, so it serves the admin API on its
//! public port.

use std::time::Duration;

use crate::harness::{Daemon, Opts};

/// attachd run inside the test process (`attachd::daemon::run`), for tests that inject a
/// write engine; answers the same HTTP helpers through [`Daemon`]'s fields.
pub struct InProcess {
    pub d: Daemon,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), attachd::daemon::DaemonError>>>,
}

impl InProcess {
    pub async fn start(opts: Opts, engine: std::sync::Arc<dyn attachd::store::io::IoEngine>) -> Self {
        Self::start_hooked(opts, engine, None).await
    }

    /// [`InProcess::start`] with a hook on every index commit (the power-loss test).
    pub async fn start_hooked(
        opts: Opts,
        engine: std::sync::Arc<dyn attachd::store::io::IoEngine>,
        index_hook: Option<std::sync::Arc<dyn attachd::index::CommitHook>>,
    ) -> Self {
        let mut d = Daemon::unstarted(opts);
        d.starts = 1;
        let text = d.config_text();
        let cfg_path = d.dir.path().join("config.toml");
        let text = text
            .replace("[metrics]\nlisten = \"127.0.0.1:0\"", "[metrics]\nlisten = \"\"")
            .replace("[server]\n", "[server]\nadmin_api = \"public\"\n");
        std::fs::write(&cfg_path, text).unwrap();
        let cfg = attachd::config::Config::load(Some(&cfg_path)).unwrap();
        let (bound_tx, mut bound_rx) = tokio::sync::mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let opts = attachd::daemon::RunOptions {
            on_bound: Some(bound_tx),
            engine: Some(engine),
            index_hook,
            ..Default::default()
        };
        let task = tokio::spawn(attachd::daemon::run(cfg, opts, async move {
            let _ = stop_rx.await;
        }));
        let addr = tokio::time::timeout(Duration::from_secs(30), bound_rx.recv())
            .await
            .expect("bound in time")
            .expect("bound");
        d.addr = addr.to_string();
        d.boot = serde_json::from_slice(&std::fs::read(d.data.join("bootstrap.json")).unwrap()).unwrap();
        Self { d, stop: Some(stop_tx), task: Some(task) }
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }
}
