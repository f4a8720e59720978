//! Webhook deliveries, the one call attachd makes out: one JSON body POSTed to a project's
//! webhook URL, signed with the project's webhook secret so the receiver can tell it came
//! from attachd and was not changed. The webhook worker is handed [`deliver`] by the
//! composition root (jobs never name the HTTP layer).
//!
//! The signature header is `X-Attachd-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`, the
//! MAC over `"<t>.<body>"` (the timestamp lets a receiver refuse old replays). A delivery
//! counts as done on any 2xx reply; anything else (another status, no connection, no reply
//! within the timeout) is an error the caller retries. URLs are `http://host[:port]/path`:
//! receivers are expected on the operator's network (behind a TLS-terminating proxy for the
//! internet).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper::header::{CONTENT_TYPE, HOST, USER_AGENT};
use ring::hmac;

/// Why a delivery did not happen.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The URL is not `http://host[:port]/path`.
    #[error("webhook url not usable: {0}")]
    BadUrl(String),
    /// No connection, no reply in time, or a broken exchange.
    #[error("webhook unreachable: {0}")]
    Unreachable(String),
    /// The receiver answered with a status that is not 2xx.
    #[error("webhook answered {0}")]
    Refused(u16),
}

/// The signature header's value for `body` sent at `unix` seconds.
pub fn signature(secret: &str, unix: u64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(unix.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("t={unix},v1={}", hex::encode(ctx.sign().as_ref()))
}

/// Whether `url` is one attachd can deliver to.
pub fn check_url(url: &str) -> Result<(), DeliveryError> {
    target(url).map(|_| ())
}

/// `(host:port for the connection, Host header, path and query)` of `url`.
fn target(url: &str) -> Result<(String, String, String), DeliveryError> {
    let bad = || DeliveryError::BadUrl(url.chars().take(200).collect());
    let uri: hyper::Uri = url.parse().map_err(|_| bad())?;
    if uri.scheme_str() != Some("http") {
        return Err(bad());
    }
    let auth = uri.authority().ok_or_else(bad)?;
    if auth.as_str().contains('@') || auth.host().is_empty() {
        return Err(bad());
    }
    let port = auth.port_u16().unwrap_or(80);
    let path = uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    Ok((format!("{}:{port}", auth.host()), auth.as_str().to_string(), path))
}

/// POSTs `body` (JSON) to `url`, signed with `secret`, with `event` in `X-Attachd-Event` and
/// `delivery` (the same for every attempt at one notice) in `X-Attachd-Delivery`; returns the
/// receiver's 2xx status.
pub async fn deliver(
    url: &str,
    secret: &str,
    event: &str,
    delivery: &str,
    body: Bytes,
    timeout: Duration,
) -> Result<u16, DeliveryError> {
    let (addr, host, path) = target(url)?;
    let unix = crate::clock::Timestamp::now().as_secs();
    let req = Request::post(path)
        .header(HOST, host)
        .header(CONTENT_TYPE, "application/json")
        .header(USER_AGENT, concat!("attachd/", env!("CARGO_PKG_VERSION")))
        .header("x-attachd-event", event)
        .header("x-attachd-delivery", delivery)
        .header("x-attachd-signature", signature(secret, unix, &body))
        .body(Full::new(body))
        .map_err(|e| DeliveryError::BadUrl(e.to_string()))?;
    let exchange = async move {
        let stream =
            tokio::net::TcpStream::connect(&addr).await.map_err(|e| DeliveryError::Unreachable(e.to_string()))?;
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(io).await.map_err(|e| DeliveryError::Unreachable(e.to_string()))?;
        let conn = tokio::spawn(conn);
        let resp = send.send_request(req).await.map_err(|e| DeliveryError::Unreachable(e.to_string()))?;
        // The status decides; the reply's body is never waited for (a receiver that answers
        // 200 and then stalls must not turn a delivery into a retry).
        let status = resp.status().as_u16();
        drop(resp);
        conn.abort();
        if (200..300).contains(&status) { Ok(status) } else { Err(DeliveryError::Refused(status)) }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| DeliveryError::Unreachable(format!("no reply within {timeout:?}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(check_url("http://127.0.0.1:8080/hooks/attachd?x=1").is_ok());
        assert_eq!(
            target("http://example.com/h").unwrap(),
            ("example.com:80".into(), "example.com".into(), "/h".into())
        );
        for bad in ["https://example.com/h", "ftp://x/", "http://user:pw@host/", "not a url", "http:///path", ""] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn signatures_cover_time_and_body() {
        let s = signature("k", 100, b"{}");
        assert!(s.starts_with("t=100,v1=") && s.len() == "t=100,v1=".len() + 64, "{s}");
        assert_ne!(s, signature("k", 101, b"{}"));
        assert_ne!(s, signature("k", 100, b"{ }"));
        assert_ne!(s, signature("j", 100, b"{}"));
    }
}
