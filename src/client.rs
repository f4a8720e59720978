//! A minimal HTTP/1.1 client on hyper, for the CLI's calls to a running daemon (admin,
//! cleanup, healthcheck). Plain `http://` only: attachd's admin surface is meant for loopback
//! or a private network; put TLS in front with nginx.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Uri};

/// The request method type the client takes (callers name it through the client, not hyper).
pub use hyper::Method;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

/// Sends one request and returns the status and the body parsed as JSON (or as a string).
pub async fn call(
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let uri: Uri = url.parse().map_err(|e| format!("bad URL {url}: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("only http:// URLs are supported: {url}"));
    }
    let host = uri.host().ok_or_else(|| format!("URL has no host: {url}"))?;
    let port = uri.port_u16().unwrap_or(80);
    let stream = TcpStream::connect((host, port)).await.map_err(|e| format!("connect to {host}:{port}: {e}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut req = Request::builder().method(method).uri(path).header("host", format!("{host}:{port}"));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let payload = match body {
        Some(v) => {
            req = req.header("content-type", "application/json");
            Bytes::from(serde_json::to_vec(v).expect("JSON serializes"))
        }
        None => Bytes::new(),
    };
    let resp = sender
        .send_request(req.body(Full::new(payload)).map_err(|e| e.to_string())?)
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    let v =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Ok((status, v))
}
