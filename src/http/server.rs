//! The accept loop: one hyper HTTP/1.1 connection task per client, with a header read timeout
//! (slowloris), a bound on the request head, and graceful shutdown that stops accepting, lets
//! in-flight requests finish up to a deadline, then returns.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use super::{HttpState, handle};

/// Connection-level limits.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Longest time to receive a request head.
    pub header_timeout: Duration,
    /// Largest request head.
    pub max_header_bytes: usize,
    /// How long in-flight requests may take to finish after shutdown begins.
    pub shutdown_grace: Duration,
}

/// Serves `listener` until `shutdown` resolves, then drains. Returns whether every connection
/// finished within the grace period.
pub async fn serve(
    listener: TcpListener,
    state: Arc<HttpState>,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) -> bool {
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let st = state.clone();
                let svc = service_fn(move |req| {
                    let st = st.clone();
                    async move { Ok::<_, Infallible>(handle(st, req).await) }
                });
                let mut builder = http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.header_timeout)
                    // hyper's own bound is looser; `handle` enforces `max_header_bytes` with a
                    // JSON 431, and only heads past twice that get hyper's bare one.
                    .max_buf_size((limits.max_header_bytes * 2).max(8192))
                    .keep_alive(true);
                let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), svc));
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => true,
        _ = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("shutdown grace period elapsed with requests still running");
            false
        }
    }
}
