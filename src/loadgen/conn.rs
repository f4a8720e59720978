//! One keep-alive HTTP/1.1 connection per worker, reopened after an error.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A reusable connection to one host.
pub struct Conn {
    authority: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

/// A response: status, the first `KEEP` bytes of the body, and the body's full length.
pub struct Resp {
    pub status: u16,
    pub body: Bytes,
    pub len: u64,
}

/// Body bytes kept per response.
const KEEP: usize = 64 << 10;

impl Conn {
    pub fn new(authority: &str) -> Self {
        Self { authority: authority.to_string(), sender: None }
    }

    async fn sender(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, String> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream =
                TcpStream::connect(&self.authority).await.map_err(|e| format!("connect {}: {e}", self.authority))?;
            let _ = stream.set_nodelay(true);
            let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            self.sender = Some(sender);
        }
        let s = self.sender.as_mut().expect("just set");
        s.ready().await.map_err(|e| e.to_string())?;
        Ok(s)
    }

    /// Sends one request and reads the whole response.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Resp, String> {
        let authority = self.authority.clone();
        let mut req = Request::builder().method(method).uri(path).header("host", authority);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body)).map_err(|e| e.to_string())?;
        let sender = self.sender().await?;
        let result = async {
            let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            // Keep the start of the body (JSON answers are small) and count the rest, so large
            // downloads cost the load tool no copy beyond the socket read.
            let mut body = resp.into_body();
            let mut kept = Vec::new();
            let mut len = 0u64;
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.map_err(|e| e.to_string())?.into_data() {
                    len += data.len() as u64;
                    if kept.len() < KEEP {
                        kept.extend_from_slice(&data[..data.len().min(KEEP - kept.len())]);
                    }
                }
            }
            Ok(Resp { status, body: Bytes::from(kept), len })
        }
        .await;
        if result.is_err() {
            self.sender = None;
        }
        result
    }
}

/// Splits `http://host:port/path` into the authority and the path prefix.
pub fn split_url(url: &str) -> Result<(String, String), String> {
    let uri: Uri = url.parse().map_err(|e| format!("bad URL {url}: {e}"))?;
    let host = uri.host().ok_or_else(|| format!("no host in {url}"))?;
    let port = uri.port_u16().unwrap_or(80);
    Ok((format!("{host}:{port}"), uri.path().trim_end_matches('/').to_string()))
}
