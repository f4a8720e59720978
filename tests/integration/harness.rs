//! The harness: runs the real `attachd` binary on port 0 against a temporary data directory,
//! and can stop it (SIGTERM), kill it (SIGKILL) and start it again on the same data.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Extra config lines, in TOML, appended per section.
#[derive(Clone, Default)]
pub struct Opts {
    /// `section.key = value` lines, e.g. `("uploads", "reservation_ttl_secs = 1")`.
    pub settings: Vec<(&'static str, String)>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Use this data directory instead of a fresh one (e.g. a backup).
    pub data_dir: Option<PathBuf>,
}

impl Opts {
    pub fn set(mut self, section: &'static str, line: impl Into<String>) -> Self {
        self.settings.push((section, line.into()));
        self
    }
}

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    child: Option<Child>,
    pub addr: String,
    pub ops_addr: Option<String>,
    pub boot: Value,
    opts: Opts,
    pub http: reqwest::Client,
    pub starts: u32,
}

pub const JWT_SECRET: &str = "integration-test-jwt-secret";

/// The binary under test: this build's, or the one `ATTACHD_TEST_BIN` names (an earlier
/// release, to write the data directory fixture the upgrade test opens).
pub fn daemon_binary() -> PathBuf {
    std::env::var_os("ATTACHD_TEST_BIN").map(PathBuf::from).unwrap_or_else(|| env!("CARGO_BIN_EXE_attachd").into())
}

impl Daemon {
    pub async fn start() -> Self {
        Self::start_with(Opts::default()).await
    }

    pub async fn start_with(opts: Opts) -> Self {
        let mut d = Self::unstarted(opts);
        d.spawn().await;
        d
    }

    /// A daemon description with its own temporary directory, not running yet. With
    /// `ATTACHD_TEST_BACKEND=postgres_s3`, a daemon whose options name no backend runs on a
    /// fresh database and key prefix of the tests' PostgreSQL cluster and S3 gateway (how the
    /// seed-000 black-box tests are run against that backend).
    pub fn unstarted(mut opts: Opts) -> Self {
        let on_pg = std::env::var("ATTACHD_TEST_BACKEND").is_ok_and(|b| b == "postgres_s3");
        if on_pg && opts.data_dir.is_none() && !opts.settings.iter().any(|(s, _)| *s == "backend") {
            opts.settings.extend(crate::pgs3::Place::fresh().settings());
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let data = opts.data_dir.clone().unwrap_or_else(|| dir.path().join("data"));
        Daemon {
            data,
            dir,
            child: None,
            addr: String::new(),
            ops_addr: None,
            boot: Value::Null,
            opts,
            http: reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap(),
            starts: 0,
        }
    }

    pub fn config_text(&self) -> String {
        let mut sections: Vec<(&str, Vec<String>)> = vec![
            ("server", vec!["listen = \"127.0.0.1:0\"".into(), "shutdown_grace_secs = 10".into()]),
            (
                "storage",
                vec![
                    format!("data_dir = {:?}", self.data.display().to_string()),
                    format!("backup_dir = {:?}", self.dir.path().join("backups").display().to_string()),
                ],
            ),
            ("auth", vec![format!("jwt_secret = {JWT_SECRET:?}")]),
            ("metrics", vec!["listen = \"127.0.0.1:0\"".into()]),
            ("cleanup", vec!["schedule = \"off\"".into()]),
            ("log", vec!["level = \"attachd=debug,info\"".into()]),
        ];
        for (sec, line) in &self.opts.settings {
            match sections.iter_mut().find(|(s, _)| s == sec) {
                Some((_, lines)) => {
                    let key = line.split('=').next().unwrap().trim();
                    lines.retain(|l| l.split('=').next().unwrap().trim() != key);
                    lines.push(line.clone());
                }
                None => sections.push((sec, vec![line.clone()])),
            }
        }
        sections.iter().map(|(s, lines)| format!("[{s}]\n{}\n", lines.join("\n"))).collect()
    }

    async fn spawn(&mut self) {
        self.starts += 1;
        let cfg = self.dir.path().join("config.toml");
        std::fs::write(&cfg, self.config_text()).unwrap();
        let ready = self.dir.path().join("ready");
        let _ = std::fs::remove_file(&ready);
        let log = std::fs::File::options().create(true).append(true).open(self.log_path()).unwrap();
        let mut cmd = Command::new(daemon_binary());
        cmd.arg("serve").arg("--config").arg(&cfg).arg("--ready-file").arg(&ready);
        cmd.stdout(log.try_clone().unwrap()).stderr(log).stdin(Stdio::null());
        for (k, v) in &self.opts.env {
            cmd.env(k, v);
        }
        // If the test process dies (even by SIGKILL), the daemon goes with it.
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn attachd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                let mut lines = text.lines();
                self.addr = lines.next().unwrap_or("").to_string();
                self.ops_addr = lines.next().and_then(|l| l.strip_prefix("ops ")).map(str::to_string);
                if !self.addr.is_empty() {
                    break;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("attachd exited during startup ({status}):\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "attachd did not become ready:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // A restored backup has no bootstrap.json (backups carry no secrets): the test then
        // sets `boot` from the original.
        if let Ok(boot) = std::fs::read(self.data.join("bootstrap.json")) {
            self.boot = serde_json::from_slice(&boot).unwrap();
        }
    }

    /// The running daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("attachd.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn b(&self, field: &str) -> String {
        self.boot[field].as_str().unwrap().to_string()
    }

    pub fn client_key(&self) -> String {
        self.b("client_key")
    }
    pub fn agent_key(&self) -> String {
        self.b("agent_key")
    }
    pub fn admin_token(&self) -> String {
        self.b("admin_token")
    }

    /// SIGTERM and wait for a clean exit.
    pub async fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "attachd did not stop:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL (no cleanup at all).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub async fn restart(&mut self) {
        let s = self.stop().await;
        assert!(s.success(), "attachd exited with {s}:\n{}", self.log());
        self.spawn().await;
    }

    /// Starts again after [`Daemon::stop`].
    pub async fn restart_after_stop(&mut self) {
        self.spawn().await;
    }

    pub async fn kill_and_restart(&mut self) {
        self.kill9();
        self.spawn().await;
    }

    // ---- API helpers ---------------------------------------------------------------------

    pub async fn reserve_json(&self, key: &str, body: Value) -> (u16, Value) {
        let r = self.http.post(self.url("/v1/ingest/attachment")).bearer_auth(key).json(&body).send().await.unwrap();
        json_of(r).await
    }

    /// Reserves `data` with sensible metadata; panics unless 201.
    pub async fn reserve(&self, data: &[u8], user: Option<&str>) -> String {
        let (s, v) = self.reserve_json(&self.client_key(), reserve_body(data, user)).await;
        assert_eq!(s, 201, "reserve: {v}");
        v["attachment_id"].as_str().unwrap().to_string()
    }

    pub async fn put(&self, key: &str, id: &str, data: Vec<u8>) -> (u16, Value) {
        let r = self
            .http
            .put(self.url(&format!("/v1/ingest/attachment/{id}")))
            .bearer_auth(key)
            .header("content-type", "application/octet-stream")
            .body(data)
            .send()
            .await
            .unwrap();
        json_of(r).await
    }

    /// Reserve + PUT; returns the id.
    pub async fn upload(&self, data: &[u8]) -> String {
        let id = self.reserve(data, Some("user_42")).await;
        let (s, v) = self.put(&self.client_key(), &id, data.to_vec()).await;
        assert_eq!(s, 200, "put: {v}");
        id
    }

    pub async fn get(&self, key: &str, path: &str) -> (u16, Value) {
        json_of(self.http.get(self.url(path)).bearer_auth(key).send().await.unwrap()).await
    }

    pub async fn delete(&self, key: &str, id: &str) -> (u16, Value) {
        json_of(self.http.delete(self.url(&format!("/v1/attachments/{id}"))).bearer_auth(key).send().await.unwrap())
            .await
    }

    /// The signed download URL of an uploaded attachment.
    pub async fn download_url(&self, id: &str) -> String {
        let (s, v) = self.get(&self.agent_key(), &format!("/v1/attachments/{id}")).await;
        assert_eq!(s, 200, "{v}");
        v["download_url"]["url"].as_str().expect("download_url").to_string()
    }

    pub async fn download(&self, id: &str) -> Vec<u8> {
        let url = self.download_url(id).await;
        let r = self.http.get(url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap().to_vec()
    }

    /// Base URL of the listener serving the admin API: the ops listener (the default), or the
    /// public one for an in-process daemon (which runs without an ops listener).
    pub fn admin_base(&self) -> String {
        format!("http://{}", self.ops_addr.as_deref().unwrap_or(&self.addr))
    }

    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/admin/v1/{path}", self.admin_base());
        let mut rb = self.http.request(method, url).bearer_auth(self.admin_token());
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        json_of(rb.send().await.unwrap()).await
    }

    pub async fn usage(&self, user: Option<&str>) -> Value {
        let mut p = format!("/v1/projects/{}/attachment-usage", self.b("project_id"));
        if let Some(u) = user {
            p.push_str(&format!("?user_id={u}"));
        }
        let (s, v) = self.get(&self.agent_key(), &p).await;
        assert_eq!(s, 200, "{v}");
        v
    }

    pub async fn cleanup(&self) -> Value {
        let (s, v) = self.admin(reqwest::Method::POST, "cleanup", None).await;
        assert_eq!(s, 200, "{v}");
        v
    }

    /// Bytes the data directory's segments and blobs occupy.
    pub fn store_disk_bytes(&self) -> u64 {
        du(&self.data.join("segments")) + du(&self.data.join("blobs"))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!("---- attachd log ({}) ----\n{}", self.starts, self.log());
        }
    }
}

pub fn du(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => du(&e.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

pub async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let s = r.status().as_u16();
    let b = r.bytes().await.unwrap();
    let v = serde_json::from_slice(&b).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&b).into_owned()));
    (s, v)
}

pub fn sha_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub fn reserve_body(data: &[u8], user: Option<&str>) -> Value {
    let mut v = serde_json::json!({
        "client_event_id": uuid::Uuid::new_v4().to_string(),
        "original_filename": "crash.log",
        "content_type": "text/plain",
        "size_bytes": data.len(),
        "sha256": sha_hex(data),
    });
    if let Some(u) = user {
        v["user_id"] = serde_json::json!(u);
    }
    v
}

/// Deterministic pseudo-random bytes.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    attachd::xorshift::XorShift64::new(seed).bytes(len)
}
