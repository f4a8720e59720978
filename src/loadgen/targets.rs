//! What each worker does per operation, for every target.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use hyper::Method;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::conn::{Conn, split_url};
use super::{BenchArgs, Target};

/// Deterministic pseudo-random payload (incompressible enough for every peer).
pub fn payload(len: usize) -> Vec<u8> {
    crate::xorshift::XorShift64::new(1).bytes(len)
}

/// Everything workers share.
pub struct Plan {
    target: Target,
    authority: String,
    prefix: String,
    payload: Bytes,
    sha_hex: String,
    client_auth: String,
    agent_auth: String,
    fsync: bool,
    downloads: Vec<(String, String)>,
    /// SeaweedFS and attachd-form: the payload as a multipart form, built once.
    multipart: Bytes,
    /// attachd-form: `Bearer <user key>` and the path.
    form: (String, String),
}

const MULTIPART_BOUNDARY: &str = "attachdbenchboundary7MA4YWxk";

fn multipart(payload: &[u8], file_name: &str) -> Bytes {
    let mut body = Vec::with_capacity(payload.len() + 256);
    body.extend_from_slice(
        format!("--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(payload);
    body.extend_from_slice(format!("\r\n--{MULTIPART_BOUNDARY}--\r\n").as_bytes());
    Bytes::from(body)
}

/// Reserves an attachment of `size` bytes hashing to `sha_hex`; returns its id.
pub async fn reserve(
    c: &mut Conn,
    prefix: &str,
    client_auth: &str,
    size: usize,
    sha_hex: &str,
) -> Result<String, String> {
    let body = serde_json::json!({
        "client_event_id": uuid::Uuid::new_v4().to_string(),
        "original_filename": "bench.bin",
        "content_type": "application/octet-stream",
        "size_bytes": size,
        "sha256": sha_hex,
    });
    let hdr = [("authorization", client_auth), ("content-type", "application/json")];
    let r =
        c.send(Method::POST, &format!("{prefix}/v1/ingest/attachment"), &hdr, Bytes::from(body.to_string())).await?;
    if r.status != 201 {
        return Err(format!("reserve: {} {}", r.status, String::from_utf8_lossy(&r.body)));
    }
    let v: Value = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
    Ok(v["attachment_id"].as_str().ok_or("no attachment_id")?.to_string())
}

/// The path (with its token) of a fresh signed download URL for `id`.
pub async fn signed_path(c: &mut Conn, prefix: &str, agent_auth: &str, id: &str) -> Result<String, String> {
    let hdr = [("authorization", agent_auth)];
    let r = c.send(Method::GET, &format!("{prefix}/v1/attachments/{id}"), &hdr, Bytes::new()).await?;
    let v: Value = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
    let url = v["download_url"]["url"].as_str().ok_or(format!("no download_url: {v}"))?;
    Ok(url.find("/v1/").map(|i| url[i..].to_string()).unwrap_or_default())
}

/// What one worker measured.
pub struct WorkerResult {
    pub latencies_us: Vec<u32>,
    pub errors: u64,
    pub first_error: Option<String>,
}

fn keys(path: &std::path::Path) -> Result<(String, String), String> {
    let b = std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let v: Value = serde_json::from_slice(&b).map_err(|e| e.to_string())?;
    let k = |f: &str| v[f].as_str().map(|s| format!("Bearer {s}")).ok_or(format!("{f} missing in {}", path.display()));
    Ok((k("client_key")?, k("agent_key")?))
}

impl Plan {
    pub async fn prepare(args: &BenchArgs, payload: Bytes) -> Result<Self, String> {
        let (authority, prefix) = split_url(&args.url)?;
        let sha_hex = hex::encode(Sha256::digest(&payload));
        let needs_keys = matches!(
            args.target,
            Target::Attachd | Target::AttachdDownload | Target::AttachdList | Target::AttachdReserve
        );
        let (client_auth, agent_auth) = if needs_keys { keys(&args.bootstrap)? } else { Default::default() };
        let form_body = match args.target {
            Target::Seaweedfs | Target::SeaweedfsDownload => multipart(&payload, "bench.bin"),
            Target::AttachdForm => {
                // The product API takes allowlisted types, checked by content: a PDF signature
                // over the same payload (same size).
                const PDF: &[u8] = b"%PDF-1.7\n";
                let mut pdf = payload.to_vec();
                let n = PDF.len().min(pdf.len());
                pdf[..n].copy_from_slice(&PDF[..n]);
                multipart(&pdf, "bench.pdf")
            }
            _ => Bytes::new(),
        };
        if args.target == Target::AttachdForm && args.user_key.is_empty() {
            return Err("attachd-form needs --user-key (a user-bound key; see benches/forms.sh)".into());
        }
        let form_path = format!("{prefix}{}", args.form_path);
        let mut plan = Self {
            target: args.target,
            authority,
            prefix,
            payload,
            sha_hex,
            client_auth,
            agent_auth,
            fsync: args.fsync,
            downloads: Vec::new(),
            multipart: form_body,
            form: (format!("Bearer {}", args.user_key), form_path),
        };
        if args.target == Target::SeaweedfsDownload {
            let mut conns = HashMap::new();
            for _ in 0..args.objects.max(1) {
                let (vol, fid) = plan.seaweed_upload(&mut conns).await?;
                plan.downloads.push((vol, format!("/{fid}")));
            }
        }
        if args.target == Target::AttachdDownload {
            let mut c = Conn::new(&plan.authority);
            for _ in 0..args.objects.max(1) {
                let id = plan.attachd_upload(&mut c).await?;
                plan.downloads.push((id, String::new()));
            }
            for i in 0..plan.downloads.len() {
                let id = plan.downloads[i].0.clone();
                plan.downloads[i].1 = plan.signed_path(&mut c, &id).await?;
            }
        }
        Ok(plan)
    }

    async fn attachd_reserve(&self, c: &mut Conn) -> Result<String, String> {
        reserve(c, &self.prefix, &self.client_auth, self.payload.len(), &self.sha_hex).await
    }

    /// Where the daemon is and the `Authorization` values of its client and agent keys.
    pub fn endpoint(&self) -> (&str, &str, &str) {
        (&self.authority, &self.client_auth, &self.agent_auth)
    }

    async fn seaweed_upload(&self, conns: &mut HashMap<String, Conn>) -> Result<(String, String), String> {
        let main = conns.entry(self.authority.clone()).or_insert_with(|| Conn::new(&self.authority));
        let r = main.send(Method::GET, "/dir/assign", &[], Bytes::new()).await?;
        let v: Value = serde_json::from_slice(&r.body).map_err(|e| format!("assign: {e}"))?;
        let (fid, url) = (v["fid"].as_str().ok_or(format!("assign: {v}"))?, v["url"].as_str().ok_or("assign: no url")?);
        let ct = format!("multipart/form-data; boundary={MULTIPART_BOUNDARY}");
        let path = if self.fsync { format!("/{fid}?fsync=true") } else { format!("/{fid}") };
        let vol = conns.entry(url.to_string()).or_insert_with(|| Conn::new(url));
        let r = vol.send(Method::POST, &path, &[("content-type", ct.as_str())], self.multipart.clone()).await?;
        if (200..300).contains(&r.status) {
            Ok((url.to_string(), fid.to_string()))
        } else {
            Err(format!("upload: {} {}", r.status, String::from_utf8_lossy(&r.body)))
        }
    }

    async fn attachd_upload(&self, c: &mut Conn) -> Result<String, String> {
        let id = self.attachd_reserve(c).await?;
        let hdr = [("authorization", self.client_auth.as_str()), ("content-type", "application/octet-stream")];
        let r = c
            .send(Method::PUT, &format!("{}/v1/ingest/attachment/{id}", self.prefix), &hdr, self.payload.clone())
            .await?;
        if r.status != 200 {
            return Err(format!("upload: {} {}", r.status, String::from_utf8_lossy(&r.body)));
        }
        Ok(id)
    }

    async fn signed_path(&self, c: &mut Conn, id: &str) -> Result<String, String> {
        signed_path(c, &self.prefix, &self.agent_auth, id).await
    }

    /// One operation.
    async fn op(
        &self,
        conns: &mut HashMap<String, Conn>,
        worker: usize,
        n: u64,
        downloads: &mut [(String, String)],
    ) -> Result<(), String> {
        let main = conns.entry(self.authority.clone()).or_insert_with(|| Conn::new(&self.authority));
        match self.target {
            Target::Attachd => self.attachd_upload(main).await.map(|_| ()),
            Target::AttachdDownload => {
                let i = (n as usize + worker) % downloads.len();
                let r = main.send(Method::GET, &downloads[i].1, &[], Bytes::new()).await?;
                match r.status {
                    200 if r.len == self.payload.len() as u64 => Ok(()),
                    401 => {
                        // The signed URL expired: fetch a fresh one (counted as an error).
                        let id = downloads[i].0.clone();
                        downloads[i].1 = self.signed_path(main, &id).await?;
                        Err("download URL expired; refreshed".into())
                    }
                    s => Err(format!("download: {s}, {} bytes", r.len)),
                }
            }
            Target::AttachdList => {
                let hdr = [("authorization", self.agent_auth.as_str())];
                let r = main
                    .send(Method::GET, &format!("{}/v1/attachments?limit=50", self.prefix), &hdr, Bytes::new())
                    .await?;
                if r.status == 200 { Ok(()) } else { Err(format!("list: {}", r.status)) }
            }
            Target::Webdav | Target::Discard => {
                let path = format!("{}/w{worker}-{n}", self.prefix);
                let r = main
                    .send(Method::PUT, &path, &[("content-type", "application/octet-stream")], self.payload.clone())
                    .await?;
                if (200..300).contains(&r.status) { Ok(()) } else { Err(format!("PUT: {}", r.status)) }
            }
            Target::Seaweedfs => self.seaweed_upload(conns).await.map(|_| ()),
            Target::SeaweedfsDownload => {
                let i = (n as usize + worker) % downloads.len();
                let (vol, path) = (downloads[i].0.clone(), downloads[i].1.clone());
                let c = conns.entry(vol.clone()).or_insert_with(|| Conn::new(&vol));
                let r = c.send(Method::GET, &path, &[], Bytes::new()).await?;
                if r.status == 200 && r.len == self.payload.len() as u64 {
                    Ok(())
                } else {
                    Err(format!("download: {}", r.status))
                }
            }
            Target::AttachdReserve => self.attachd_reserve(main).await.map(|_| ()),
            Target::AttachdForm => {
                let ct = format!("multipart/form-data; boundary={MULTIPART_BOUNDARY}");
                let hdr = [("authorization", self.form.0.as_str()), ("content-type", ct.as_str())];
                let r = main.send(Method::POST, &self.form.1, &hdr, self.multipart.clone()).await?;
                if r.status == 201 {
                    Ok(())
                } else {
                    Err(format!("form upload: {} {}", r.status, String::from_utf8_lossy(&r.body)))
                }
            }
        }
    }
}

/// Runs operations until `deadline` or until the shared budget is spent.
pub async fn worker(plan: Arc<Plan>, w: usize, deadline: Instant, budget: Arc<AtomicU64>) -> WorkerResult {
    let mut conns = HashMap::new();
    let mut downloads = plan.downloads.clone();
    let mut res = WorkerResult { latencies_us: Vec::with_capacity(4096), errors: 0, first_error: None };
    let mut n = 0u64;
    while Instant::now() < deadline
        && budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1)).is_ok()
    {
        let t = Instant::now();
        match plan.op(&mut conns, w, n, &mut downloads).await {
            Ok(()) => res.latencies_us.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32),
            Err(e) => {
                res.errors += 1;
                res.first_error.get_or_insert(e);
            }
        }
        n += 1;
    }
    res
}
