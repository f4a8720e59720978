//! [`Runner`]: the backend's own tokio runtime, which owns the PostgreSQL pool and the object
//! store client, and the bridge from the engine's blocking calls onto it.
//!
//! The catalog trait is blocking (the local backend answers from RocksDB in microseconds), and
//! the service calls it both from blocking threads and from request tasks. A call here runs its
//! future on the runner's runtime and waits for the answer: on a worker of a multi-threaded
//! runtime inside `block_in_place` (the runtime moves its other tasks off that worker), anywhere
//! else by blocking the calling thread. The connections themselves never run on the caller's
//! runtime, so a caller on a current-thread runtime cannot starve them.
//!
//! Errors are sorted here once: a connection that cannot be had, or one that broke, is
//! [`CatalogError::Unavailable`] (503, retryable: PostgreSQL is restarting or unreachable);
//! anything else PostgreSQL reports is [`CatalogError::Backend`].

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

use crate::engine::CatalogError;

/// The backend's runtime and its PostgreSQL pool.
pub struct Runner {
    rt: Option<tokio::runtime::Runtime>,
    pool: Pool,
    lock_pool: Pool,
}

impl Drop for Runner {
    fn drop(&mut self) {
        // A runtime may be dropped on an async thread (the daemon's shutdown): do not block.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Runner {
    /// A runtime of `threads` workers and a pool of at most `pool_size` connections to `url`
    /// (a `postgres://` URL or a libpq key=value string). Connects lazily.
    pub fn new(url: &str, pool_size: usize, threads: usize) -> Result<Self, CatalogError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("attachd-pg")
            .enable_all()
            .build()
            .map_err(|e| CatalogError::Backend(format!("start the backend runtime: {e}")))?;
        let mut pg: tokio_postgres::Config =
            url.parse().map_err(|e| CatalogError::Backend(format!("backend.postgres_url: {e}")))?;
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(Duration::from_secs(5));
        }
        pg.application_name("attachd");
        let mgr = Manager::from_config(
            pg.clone(),
            tokio_postgres::NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let build = |mgr: Manager, size: usize| {
            let _enter = rt.enter();
            Pool::builder(mgr)
                .max_size(size.max(1))
                .runtime(Runtime::Tokio1)
                .wait_timeout(Some(Duration::from_secs(10)))
                .create_timeout(Some(Duration::from_secs(5)))
                .recycle_timeout(Some(Duration::from_secs(5)))
                .build()
                .map_err(|e| CatalogError::Backend(format!("PostgreSQL pool: {e}")))
        };
        let lock_mgr = Manager::from_config(
            pg.clone(),
            tokio_postgres::NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = build(mgr, pool_size)?;
        // Parent locks hold a connection while the upload they guard uses the main pool: their
        // own pool, so that as many slot uploads as connections cannot starve each other.
        let lock_pool = build(lock_mgr, pool_size)?;
        Ok(Self { rt: Some(rt), pool, lock_pool })
    }

    /// The pool (futures run by [`Runner::run`] take connections from it).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The pool parent locks hold their connections from (`locks.rs`).
    pub fn lock_pool(&self) -> &Pool {
        &self.lock_pool
    }

    /// A handle on the runtime, for futures the blob store spawns.
    pub fn handle(&self) -> tokio::runtime::Handle {
        self.runtime().handle().clone()
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("the runtime lives until the runner is dropped")
    }

    /// Runs `fut` on the backend's runtime and waits for its output (see the module docs).
    pub fn run<F, T>(&self, fut: F) -> T
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        wait_on(self.runtime().handle(), fut)
    }
}

/// Runs `fut` on the runtime of `rt` and blocks the calling thread until it is done; on a
/// worker of a multi-threaded runtime, inside `block_in_place`.
pub fn wait_on<F, T>(rt: &tokio::runtime::Handle, fut: F) -> T
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = tx.send(fut.await);
    });
    let wait = move || rx.recv().expect("the backend runtime dropped a call");
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(wait),
        _ => wait(),
    }
}

/// Sorts a pool error: no connection to be had is [`CatalogError::Unavailable`].
pub fn pool_error(e: deadpool_postgres::PoolError) -> CatalogError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg_error(e),
        other => CatalogError::Unavailable(format!("PostgreSQL: {other}")),
    }
}

/// Sorts a PostgreSQL error: a closed or broken connection, a server shutting down, starting
/// or read-only, or a transaction aborted to break a deadlock is [`CatalogError::Unavailable`]
/// (503: the request may be retried as it is); the rest is [`CatalogError::Backend`].
pub fn pg_error(e: tokio_postgres::Error) -> CatalogError {
    use tokio_postgres::error::SqlState;
    let unavailable = e.is_closed()
        || e.code().is_some_and(|c| {
            [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
                SqlState::CONNECTION_EXCEPTION,
                SqlState::CONNECTION_FAILURE,
                SqlState::CONNECTION_DOES_NOT_EXIST,
                SqlState::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
                SqlState::SQLSERVER_REJECTED_ESTABLISHMENT_OF_SQLCONNECTION,
                // A pool still on a demoted primary, or on a standby, after a failover.
                SqlState::READ_ONLY_SQL_TRANSACTION,
                // A transaction PostgreSQL aborted to break a deadlock or a serialization
                // conflict: retrying it as it is succeeds (callers that can, retry themselves).
                SqlState::T_R_DEADLOCK_DETECTED,
                SqlState::T_R_SERIALIZATION_FAILURE,
            ]
            .contains(c)
        })
        || (e.code().is_none() && e.as_db_error().is_none());
    if unavailable {
        CatalogError::Unavailable(format!("PostgreSQL: {e}"))
    } else {
        CatalogError::Backend(format!("PostgreSQL: {e}"))
    }
}

/// Whether a transaction lost a race PostgreSQL resolves by aborting one side (a deadlock or a
/// serialization failure): the caller runs it again.
pub fn is_retryable(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    e.code().is_some_and(|c| *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE)
}
