//! Request and response bodies: the adapter that lets the service read a hyper body without
//! knowing hyper, bounded JSON reads, and the response body types.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Incoming;
use tokio::sync::mpsc;

use super::HttpConfig;
use crate::service::ServiceError;
use crate::service::upload::{BodyError, BodySource};

/// The response body type of every handler.
pub type RespBody = BoxBody<Bytes, std::io::Error>;

/// A whole response body.
pub fn full(b: impl Into<Bytes>) -> RespBody {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// An empty response body.
pub fn empty() -> RespBody {
    full(Bytes::new())
}

/// A hyper request body read with an idle timeout between chunks and a minimum average rate.
pub struct HyperBody {
    inner: Incoming,
    idle: Duration,
    min_rate: u64,
    started: std::time::Instant,
    got: u64,
}

impl HyperBody {
    /// Wraps `inner` with the limits of `cfg`: a pause longer than the idle timeout, or — once
    /// the body has run for that long — an average below `body_min_rate_bytes_per_sec` since,
    /// ends it with `TimedOut`. The rate closes what the idle timeout alone leaves open: a
    /// client that trickles a byte just inside every idle period would otherwise hold its
    /// upload (and its memory budget) for as long as it likes.
    pub fn new(inner: Incoming, cfg: &HttpConfig) -> Self {
        let (idle, min_rate) = (cfg.body_idle_timeout, cfg.body_min_rate);
        Self { inner, idle, min_rate, started: std::time::Instant::now(), got: 0 }
    }

    fn too_slow(&self) -> bool {
        let past_grace = self.started.elapsed().saturating_sub(self.idle);
        self.min_rate > 0 && (self.got as f64) < self.min_rate as f64 * past_grace.as_secs_f64()
    }
}

impl BodySource for HyperBody {
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        loop {
            let frame = match tokio::time::timeout(self.idle, self.inner.frame()).await {
                Err(_) => return Err(BodyError::TimedOut),
                Ok(None) => return Ok(None),
                Ok(Some(Err(_))) => return Err(BodyError::Aborted),
                Ok(Some(Ok(f))) => f,
            };
            if let Ok(data) = frame.into_data() {
                if !data.is_empty() {
                    self.got += data.len() as u64;
                    if self.too_slow() {
                        return Err(BodyError::TimedOut);
                    }
                    return Ok(Some(data));
                }
            }
            // Trailers and empty frames: keep reading.
        }
    }
}

/// Reads the JSON body of `req` (see [`read_json`]). A body must be declared
/// `application/json` (or `application/<x>+json`): a cross-site form or `text/plain` POST, which
/// a browser sends without asking the server first, is refused with 415 before it is read.
pub async fn read_json_request(req: Request<Incoming>, cfg: &HttpConfig) -> Result<serde_json::Value, ServiceError> {
    let has_body = !http_body::Body::is_end_stream(req.body());
    if has_body && !is_json(req.headers()) {
        return Err(ServiceError::NotJson);
    }
    let mut body = HyperBody::new(req.into_body(), cfg);
    read_json(&mut body, cfg.max_json_body).await
}

fn is_json(headers: &hyper::HeaderMap) -> bool {
    let Some(ct) = headers.get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let base = crate::model::mime::essence(ct);
    base == "application/json" || (base.starts_with("application/") && base.ends_with("+json"))
}

/// Reads a JSON body of at most `limit` bytes. Empty bodies read as `null` (the reference
/// treats a missing body as `{}`).
pub async fn read_json(body: &mut HyperBody, limit: usize) -> Result<serde_json::Value, ServiceError> {
    let mut buf = Vec::new();
    while let Some(chunk) = body.next_chunk().await.map_err(ServiceError::from)? {
        if buf.len() + chunk.len() > limit {
            return Err(ServiceError::BodyTooLarge(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    if buf.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(&buf).map_err(|e| ServiceError::BadJson(format!("Request body is not valid JSON: {e}")))
}

/// A response body fed by a channel of chunks; an `Err` ends the response abruptly, so the
/// client sees a broken transfer rather than wrong bytes.
pub struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, ServiceError>>,
}

impl ChannelBody {
    /// Wraps a receiver.
    pub fn new(rx: mpsc::Receiver<Result<Bytes, ServiceError>>) -> Self {
        Self { rx }
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Ok(b))) => Poll::Ready(Some(Ok(Frame::data(b)))),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(std::io::Error::other(e.to_string())))),
        }
    }
}
