//! A server that reads every request body and throws it away (`attachd bench-discard`): the
//! ceiling for what the network path and the load tool can carry, measured on the same stack.

use std::convert::Infallible;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Serves until the process ends.
pub async fn serve(listen: &str) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    println!("discarding request bodies on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let svc = service_fn(|req: Request<Incoming>| async move {
                let mut body = req.into_body();
                let mut n = 0u64;
                while let Some(Ok(frame)) = body.frame().await {
                    if let Ok(d) = frame.into_data() {
                        n += d.len() as u64;
                    }
                }
                let mut r = Response::new(http_body_util::Full::new(bytes::Bytes::from(n.to_string())));
                *r.status_mut() = hyper::StatusCode::CREATED;
                Ok::<_, Infallible>(r)
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}
