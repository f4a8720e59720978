//! The accept loop: one hyper HTTP/1.1 connection task per client, with a header read timeout
//! (slowloris), a write stall timeout (clients that stop reading, `stall`), a bound on the
//! request head, a cap on open connections (beyond it a connection gets a canned 503 and is
//! closed, so the daemon keeps serving the ones it has), and graceful shutdown that stops
//! accepting, lets in-flight requests finish up to a deadline, then returns.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::stall::StallGuard;
use super::{HttpState, Listener, handle};

/// Connection-level limits.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Longest time to receive a request head.
    pub header_timeout: Duration,
    /// Largest request head.
    pub max_header_bytes: usize,
    /// How long in-flight requests may take to finish after shutdown begins.
    pub shutdown_grace: Duration,
    /// Most client connections open at once.
    pub max_connections: usize,
    /// Longest a response write may make no progress (the client stopped reading).
    pub send_timeout: Duration,
}

/// Most connections answered "busy" at the same time.
const REFUSING_AT_ONCE: usize = 256;

/// What a connection beyond `max_connections` is told before it is closed.
const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
retry-after: 1\r\nconnection: close\r\ncontent-length: 82\r\n\r\n\
{\"error\":\"Server busy: too many connections; retry shortly\",\"code\":\"server_busy\"}\n";

/// Serves `listener` until `shutdown` resolves, then drains. Returns whether every connection
/// finished within the grace period.
pub async fn serve(
    listener: TcpListener,
    state: Arc<HttpState>,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) -> bool {
    let graceful = GracefulShutdown::new();
    let open = Arc::new(Semaphore::new(limits.max_connections));
    // Connections being told "busy" hold a descriptor for up to a second each; past this many
    // at once, further ones are closed without a word.
    let refusing = Arc::new(Semaphore::new(REFUSING_AT_ONCE));
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
                let Ok(slot) = open.clone().try_acquire_owned() else {
                    crate::metrics::shed("connection");
                    if let Ok(r) = refusing.clone().try_acquire_owned() {
                        tokio::spawn(async move {
                            refuse(stream).await;
                            drop(r);
                        });
                    }
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let st = state.clone();
                let svc = service_fn(move |req| {
                    let st = st.clone();
                    async move { Ok::<_, Infallible>(handle(st, req, Listener::Public).await) }
                });
                let mut builder = http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.header_timeout)
                    // hyper's own bound is looser; `handle` enforces `max_header_bytes` with a
                    // JSON 431, and only heads past twice that get hyper's bare one.
                    .max_buf_size((limits.max_header_bytes * 2).max(8192))
                    .keep_alive(true);
                let io = TokioIo::new(StallGuard::new(stream, limits.send_timeout));
                let conn = graceful.watch(builder.serve_connection(io, svc));
                tokio::spawn(async move {
                    crate::metrics::connections(1.0);
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    crate::metrics::connections(-1.0);
                    drop(slot);
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

/// Tells a connection beyond the cap that the server is busy, then closes it. The request is
/// drained briefly first: closing a socket with unread bytes sends a reset, which can destroy
/// the 503 before the client reads it.
async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(BUSY_RESPONSE).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busy_response_is_well_formed() {
        let text = std::str::from_utf8(BUSY_RESPONSE).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let len: usize = head.lines().find_map(|l| l.strip_prefix("content-length: ")).unwrap().parse().unwrap();
        assert_eq!(body.len(), len);
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["code"], "server_busy");
    }
}
