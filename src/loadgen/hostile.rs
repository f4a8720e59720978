//! Hostile clients for `attachd bench attachd --hostile-…`: while the ordinary workers reserve
//! and upload, this holds open idle connections (headers never finished), chunked uploads that
//! stall before their last byte, and downloads that never read, and samples the daemon's RSS.
//! The report then says whether everyone else was still served, how many hostile requests were
//! refused (503 `server_busy`) and how high the daemon's memory went.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use hyper::Method;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::conn::Conn;

/// The hostile load, all off by default.
#[derive(Debug, Clone, Default, Args)]
pub struct HostileArgs {
    /// Connections that send part of a request head and wait (reopened when the daemon
    /// closes them).
    #[arg(long, default_value_t = 0)]
    pub hostile_idle: usize,
    /// Chunked uploads that stall before their last byte.
    #[arg(long, default_value_t = 0)]
    pub hostile_stalled_uploads: usize,
    /// Downloads of a large attachment that never read the body.
    #[arg(long, default_value_t = 0)]
    pub hostile_unread_downloads: usize,
    /// Size of each stalled upload.
    #[arg(long, default_value_t = 1 << 20)]
    pub hostile_upload_size: usize,
    /// Bytes per chunk of the stalled uploads.
    #[arg(long, default_value_t = 64)]
    pub hostile_chunk: usize,
    /// Size of the attachment the unread downloads ask for.
    #[arg(long, default_value_t = 32 << 20)]
    pub hostile_download_size: usize,
    /// The daemon's process id, to sample its resident memory.
    #[arg(long)]
    pub pid: Option<u32>,
}

impl HostileArgs {
    fn any(&self) -> bool {
        self.hostile_idle + self.hostile_stalled_uploads + self.hostile_unread_downloads > 0 || self.pid.is_some()
    }
}

/// What the hostile clients saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HostileReport {
    /// Stalled uploads the daemon took in (not answered 503 within two seconds).
    pub stalled_uploads_admitted: u64,
    /// Stalled uploads refused with 503.
    pub stalled_uploads_refused: u64,
    /// Unread downloads answered 200.
    pub unread_downloads_admitted: u64,
    /// Unread downloads not answered 200 (refused, or failed).
    pub unread_downloads_refused: u64,
    /// Idle connections opened, reopenings included.
    pub idle_connections_opened: u64,
    /// The daemon's resident memory when the hostile clients started, in MiB (0 without `--pid`).
    pub rss_start_mib: f64,
    /// The highest resident memory sampled (every 50 ms), in MiB; at least `rss_start_mib`.
    pub rss_peak_mib: f64,
}

#[derive(Default)]
struct Counts {
    up_ok: AtomicU64,
    up_503: AtomicU64,
    down_ok: AtomicU64,
    down_503: AtomicU64,
    idle: AtomicU64,
    rss_peak: AtomicU64,
}

/// The running hostile clients; [`Hostile::finish`] stops them and reports.
pub struct Hostile {
    counts: Arc<Counts>,
    rss_start: u64,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    held: Arc<tokio::sync::Mutex<Vec<TcpStream>>>,
}

/// The daemon's resident set size in bytes (0 when unknown).
pub fn rss_of(pid: u32) -> u64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return 0 };
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn status_of(head: &[u8]) -> u16 {
    std::str::from_utf8(head).ok().and_then(|t| t.split(' ').nth(1)).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// Starts the hostile clients, if any were asked for; returns once they are all in place.
pub async fn start(
    args: &HostileArgs,
    authority: &str,
    client_auth: &str,
    agent_auth: &str,
) -> Result<Option<Hostile>, String> {
    if !args.any() {
        return Ok(None);
    }
    let counts = Arc::new(Counts::default());
    let held = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    let rss_start = args.pid.map_or(0, rss_of);
    if let Some(pid) = args.pid {
        let c = counts.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                c.rss_peak.fetch_max(rss_of(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    let mut conn = Conn::new(authority);
    // The attachment the unread downloads ask for, uploaded before the stalled uploads take
    // the upload budget.
    let mut download_path = None;
    if args.hostile_unread_downloads > 0 {
        let big = Bytes::from(vec![0xa5u8; args.hostile_download_size]);
        let sha = hex::encode(Sha256::digest(&big));
        let id = super::targets::reserve(&mut conn, "", client_auth, big.len(), &sha).await?;
        let hdr = [("authorization", client_auth), ("content-type", "application/octet-stream")];
        let r = conn.send(Method::PUT, &format!("/v1/ingest/attachment/{id}"), &hdr, big).await?;
        if r.status != 200 {
            return Err(format!("upload for the unread downloads: {}", r.status));
        }
        let path = super::targets::signed_path(&mut conn, "", agent_auth, &id).await?;
        download_path = Some(path);
    }
    // Stalled uploads: reserve, then send all but the last byte in small chunks.
    let body = Bytes::from(vec![0x5au8; args.hostile_upload_size]);
    let sha = hex::encode(Sha256::digest(&body));
    for _ in 0..args.hostile_stalled_uploads {
        let id = super::targets::reserve(&mut conn, "", client_auth, body.len(), &sha).await?;
        let mut s = TcpStream::connect(authority).await.map_err(|e| e.to_string())?;
        let head = format!(
            "PUT /v1/ingest/attachment/{id} HTTP/1.1\r\nhost: bench\r\nauthorization: {client_auth}\r\n\
             content-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        let mut wire = head.into_bytes();
        for piece in body[..body.len() - 1].chunks(args.hostile_chunk.max(1)) {
            wire.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            wire.extend_from_slice(piece);
            wire.extend_from_slice(b"\r\n");
        }
        let c = counts.clone();
        let held = held.clone();
        tasks.push(tokio::spawn(async move {
            let write = s.write_all(&wire).await;
            let mut head = [0u8; 12];
            // Refused uploads are answered at once; an admitted one stays silent until its
            // body is complete, which it never is.
            match tokio::time::timeout(Duration::from_secs(2), s.read_exact(&mut head)).await {
                Ok(Ok(_)) if status_of(&head) == 503 => c.up_503.fetch_add(1, Ordering::Relaxed),
                _ if write.is_ok() => c.up_ok.fetch_add(1, Ordering::Relaxed),
                _ => 0,
            };
            held.lock().await.push(s);
        }));
    }
    // Unread downloads of that attachment.
    if let Some(path) = download_path {
        let addr: std::net::SocketAddr = authority.parse().map_err(|e| format!("{authority}: {e}"))?;
        for _ in 0..args.hostile_unread_downloads {
            let sock = TcpSocket::new_v4().map_err(|e| e.to_string())?;
            let _ = sock.set_recv_buffer_size(4096);
            let mut s = sock.connect(addr).await.map_err(|e| e.to_string())?;
            s.write_all(format!("GET {path} HTTP/1.1\r\nhost: bench\r\n\r\n").as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            let mut head = [0u8; 12];
            let counter = match s.read_exact(&mut head).await.map(|_| status_of(&head)) {
                Ok(200) => &counts.down_ok,
                _ => &counts.down_503,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            held.lock().await.push(s);
        }
    }
    // Idle connections, reopened whenever the daemon closes one.
    for _ in 0..args.hostile_idle {
        let (c, authority) = (counts.clone(), authority.to_string());
        tasks.push(tokio::spawn(async move {
            loop {
                let Ok(mut s) = TcpStream::connect(&authority).await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                c.idle.fetch_add(1, Ordering::Relaxed);
                let _ = s.write_all(b"GET /v1/attachments HTTP/1.1\r\nhost: bench\r\n").await;
                let mut sink = [0u8; 512];
                while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
            }
        }));
    }
    let settle = Instant::now() + Duration::from_secs(3);
    while Instant::now() < settle
        && counts.up_ok.load(Ordering::Relaxed) + counts.up_503.load(Ordering::Relaxed)
            < args.hostile_stalled_uploads as u64
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Some(Hostile { counts, rss_start, tasks, held }))
}

impl Hostile {
    /// Stops every hostile client and reports what they saw.
    pub async fn finish(self) -> HostileReport {
        for t in &self.tasks {
            t.abort();
        }
        self.held.lock().await.clear();
        let c = &self.counts;
        let mib = |b: u64| (b as f64 / (1 << 20) as f64 * 10.0).round() / 10.0;
        HostileReport {
            stalled_uploads_admitted: c.up_ok.load(Ordering::Relaxed),
            stalled_uploads_refused: c.up_503.load(Ordering::Relaxed),
            unread_downloads_admitted: c.down_ok.load(Ordering::Relaxed),
            unread_downloads_refused: c.down_503.load(Ordering::Relaxed),
            idle_connections_opened: c.idle.load(Ordering::Relaxed),
            rss_start_mib: mib(self.rss_start),
            rss_peak_mib: mib(c.rss_peak.load(Ordering::Relaxed).max(self.rss_start)),
        }
    }
}
