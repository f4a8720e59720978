//! nginx in front of attachd, with the shipped `docs/nginx/attachd.conf`: uploads through
//! nginx, downloads of small (served by attachd) and large (X-Accel-Redirect) attachments
//! byte for byte, their headers, Range, and refusal of a deleted attachment's old URL.
//!
//! nginx runs in its own process group (master and workers); stopping it ends the whole group
//! (SIGTERM, then SIGKILL after a deadline) and the test asserts that no process of the group
//! is left, so no `nginx: worker process` outlives a test run.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Daemon, Opts, data, reserve_body, sha_hex};

/// A private nginx (own prefix, config and logs) on a loopback port, leading its own process
/// group (its id is the master's pid).
pub struct Nginx {
    child: Child,
    prefix: PathBuf,
    stopped: bool,
}

impl Nginx {
    pub fn pgid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Ends every process of the group: SIGTERM (the master stops its workers), SIGKILL to the
    /// group after five seconds, then reaps the master. Returns the processes of the group that
    /// are still there afterwards (should be none).
    pub fn stop(&mut self) -> Vec<String> {
        if std::mem::replace(&mut self.stopped, true) {
            return group_members(self.pgid());
        }
        let pgid = self.pgid();
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && !group_members(pgid).is_empty() {
            let _ = self.child.try_wait();
            std::thread::sleep(Duration::from_millis(10));
        }
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.child.wait();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && !group_members(pgid).is_empty() {
            std::thread::sleep(Duration::from_millis(10));
        }
        group_members(pgid)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let left = self.stop();
        if std::thread::panicking() {
            eprintln!(
                "---- nginx error.log ----\n{}",
                std::fs::read_to_string(self.prefix.join("error.log")).unwrap_or_default()
            );
        } else {
            assert!(left.is_empty(), "nginx processes outlived the test: {left:?}");
        }
    }
}

/// `pid (comm) state` of every process in group `pgid`, zombies not yet reaped included (from
/// /proc: field 5 of `/proc/<pid>/stat` is the process group).
fn group_members(pgid: i32) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir("/proc") else { return Vec::new() };
    rd.flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            // `pid (comm) state ppid pgrp …`; comm may hold spaces, so split after its `)`.
            let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
            after.split_whitespace().nth(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid)
        })
        .map(|stat| stat.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .collect()
}

fn nginx_binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"].iter().map(PathBuf::from).find(|p| p.exists()).or_else(|| {
        // Install Debian's nginx when we can (the test command does this too).
        let root = unsafe { libc::geteuid() } == 0;
        if root {
            let _ = Command::new("apt-get")
                .args(["install", "-y", "-qq", "nginx"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status();
        }
        ["/usr/sbin/nginx"].iter().map(PathBuf::from).find(|p| p.exists())
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs the shipped `docs/nginx/<conf>` with each `(needle, replacement)` substituted (every
/// needle must be in the file, so the config cannot drift from what is tested).
fn start_nginx(bin: &Path, prefix: &Path, port: u16, conf: &str, subst: &[(&str, String)]) -> Nginx {
    let shipped = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/nginx").join(conf)).unwrap();
    let mut rendered = shipped.clone();
    for (needle, with) in subst {
        assert!(shipped.contains(needle), "the shipped {conf} lost `{needle}`");
        rendered = rendered.replace(needle, with);
    }
    assert!(!rendered.contains("listen 80;"), "{conf}: the listen address must be substituted (port {port})");
    std::fs::write(prefix.join("attachd.conf"), rendered).unwrap();
    let user = if unsafe { libc::geteuid() } == 0 { "user root;" } else { "" };
    let p = prefix.display();
    let main = format!(
        "{user}\ndaemon off;\nworker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/error.log info;\n\
         events {{ worker_connections 512; }}\n\
         http {{\n  access_log {p}/access.log;\n  client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n\
           fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n\
           include {p}/attachd.conf;\n}}\n"
    );
    std::fs::write(prefix.join("nginx.conf"), main).unwrap();
    let test = Command::new(bin)
        .arg("-t")
        .arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(prefix.join("nginx.conf"))
        .arg("-e")
        .arg(prefix.join("error.log"))
        .output()
        .unwrap();
    assert!(test.status.success(), "nginx -t: {}", String::from_utf8_lossy(&test.stderr));
    let mut cmd = Command::new(bin);
    cmd.arg("-p").arg(prefix).arg("-c").arg(prefix.join("nginx.conf")).arg("-e").arg(prefix.join("error.log"));
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    // Its own process group, so the whole of it (workers too) can be signalled and checked.
    cmd.process_group(0);
    // If the test process dies, the master is told to stop (and it stops its workers).
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    let mut nginx = Nginx { child, prefix: prefix.to_path_buf(), stopped: false };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not start");
        assert!(nginx.child.try_wait().unwrap().is_none(), "nginx exited during startup");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The master listens before it forks its worker: wait for the worker to appear.
    while group_members(nginx.pgid()).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "nginx runs a master and a worker in its group: {:?}",
            group_members(nginx.pgid())
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    nginx
}

/// attachd (X-Accel offload on, 64 KiB standalone threshold) behind the shipped `docs/nginx/<conf>`
/// on a fresh loopback port, with `extra` substitutions besides attachd's address, the listen
/// port and the blob path. Returns the daemon, nginx and the public origin.
pub async fn behind_nginx(conf: &str, extra: Vec<(&str, String)>) -> (Daemon, Nginx, String) {
    behind_nginx_with(conf, extra, Opts::default()).await
}

/// [`behind_nginx`] with more settings for attachd.
pub async fn behind_nginx_with(conf: &str, extra: Vec<(&str, String)>, opts: Opts) -> (Daemon, Nginx, String) {
    let bin = nginx_binary().expect("nginx is not installed and could not be installed: run ./scripts/test.sh");
    let port = free_port();
    let origin = format!("http://127.0.0.1:{port}");
    let d = Daemon::start_with(
        opts.set("server", format!("public_url = {origin:?}"))
            .set("downloads", "x_accel_prefix = \"/_attachments\"")
            .set("storage", "standalone_threshold_bytes = 65536"),
    )
    .await;
    let prefix = d.dir.path().join("nginx");
    std::fs::create_dir_all(&prefix).unwrap();
    let mut subst = vec![
        ("server 127.0.0.1:7380;", format!("server {};", d.addr)),
        ("listen 80;", format!("listen 127.0.0.1:{port};")),
        ("alias /var/lib/attachd/blobs/;", format!("alias {}/;", d.data.join("blobs").display())),
    ];
    subst.extend(extra);
    let nginx = start_nginx(&bin, &prefix, port, conf, &subst);
    (d, nginx, origin)
}

#[tokio::test(flavor = "multi_thread")]
async fn nginx_in_front_uploads_and_offloads_large_downloads() {
    let (d, mut nginx, nginx_url) = behind_nginx("attachd.conf", Vec::new()).await;
    let workers = group_members(nginx.pgid()).len();
    let via = |p: &str| format!("{nginx_url}{p}");
    let http = &d.http;

    for (len, ct, name) in [(5_000usize, "text/plain", "small.log"), (700_000, "application/pdf", "große Datei.pdf")] {
        let bytes = data(len, len as u64);
        // Reserve and upload through nginx.
        let mut body = reserve_body(&bytes, Some("user_42"));
        body["content_type"] = json!(ct);
        body["original_filename"] = json!(name);
        let r = http.post(via("/v1/ingest/attachment")).bearer_auth(d.client_key()).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let v: serde_json::Value = r.json().await.unwrap();
        let id = v["attachment_id"].as_str().unwrap().to_string();
        assert!(v["upload_url"].as_str().unwrap().starts_with(&nginx_url), "{v}");
        let r = http
            .put(v["upload_url"].as_str().unwrap())
            .bearer_auth(d.client_key())
            .header("content-type", "application/octet-stream")
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        // Fetch the signed URL through nginx and download through nginx.
        let r = http.get(via(&format!("/v1/attachments/{id}"))).bearer_auth(d.agent_key()).send().await.unwrap();
        let v: serde_json::Value = r.json().await.unwrap();
        let url = v["download_url"]["url"].as_str().unwrap().to_string();
        assert!(url.starts_with(&nginx_url));
        let r = http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let h = r.headers().clone();
        assert_eq!(h["content-type"], ct, "len {len}");
        assert!(h["content-disposition"].to_str().unwrap().starts_with("attachment; filename="), "len {len}");
        assert_eq!(h["x-content-type-options"], "nosniff", "len {len}");
        assert_eq!(h["cache-control"], "private, no-store", "len {len}");
        assert_eq!(h["etag"], format!("\"{}\"", sha_hex(&bytes)).as_str(), "len {len}");
        assert_eq!(h.get_all("etag").iter().count(), 1);
        assert_eq!(h.get_all("x-content-type-options").iter().count(), 1);
        assert!(r.bytes().await.unwrap()[..] == bytes[..], "len {len}: bytes through nginx");
        // Range through nginx.
        let r = http.get(&url).header("range", "bytes=100-199").send().await.unwrap();
        assert_eq!(r.status(), 206);
        assert_eq!(&r.bytes().await.unwrap()[..], &bytes[100..200]);
        // The large one really is offloaded: attachd itself answers with X-Accel-Redirect.
        let direct = url.replace(&nginx_url, &format!("http://{}", d.addr));
        let r = http.get(&direct).send().await.unwrap();
        let accel = r.headers().get("x-accel-redirect").map(|v| v.to_str().unwrap().to_string());
        if len > 65536 {
            let month = time_month();
            assert_eq!(accel, Some(format!("/_attachments/{}/{month}/{id}", d.b("project_id"))));
            assert!(r.bytes().await.unwrap().is_empty());
        } else {
            assert_eq!(accel, None, "small attachments are served by attachd");
        }
        // Deleted: the old signed URL is refused through nginx.
        let r = http.delete(via(&format!("/v1/attachments/{id}"))).bearer_auth(d.client_key()).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let r = http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 404, "len {len}");
    }
    // Everything the test started ends with it: no worker outlives its master.
    let left = nginx.stop();
    assert!(left.is_empty(), "nginx processes left after stopping ({workers} were running): {left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn people_and_signed_url_files_keep_their_headers_through_nginx() {
    // A seed-001 ticket file and a seed-004 file, both past the standalone threshold, so nginx
    // serves their bytes (X-Accel-Redirect): the sandbox CSP and the other headers attachd
    // set survive the offload.
    let (d, mut nginx, origin) =
        behind_nginx_with("attachd.conf", Vec::new(), Opts::default().set("apis.files", "scan = false")).await;
    let w = crate::people::World::on(d).await;
    let big = crate::people::pdf(300_000, 9);
    let form = crate::people::Form::default().file("file", "trace.pdf", "application/pdf", &big).end();
    let r =
        w.d.http
            .post(format!("{origin}/issues/tickets/T-1/attachments"))
            .bearer_auth(&w.bob)
            .header("content-type", crate::people::Form::content_type())
            .body(form)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let direct = w.d.http.get(w.d.url(&format!("/issues/attachments/{id}"))).bearer_auth(&w.bob).send().await.unwrap();
    assert!(direct.headers().get("x-accel-redirect").is_some(), "offloaded to nginx");
    let r = w.d.http.get(format!("{origin}/issues/attachments/{id}")).bearer_auth(&w.bob).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-security-policy"], "sandbox");
    assert_eq!(h.get_all("content-security-policy").iter().count(), 1);
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-type"], "application/pdf");
    assert!(r.bytes().await.unwrap() == big, "the ticket file's bytes through nginx");

    // Seed 004: asked for, uploaded and downloaded through nginx.
    let csv: Vec<u8> = b"a,b\n1,2\n".iter().copied().cycle().take(200_000).collect();
    let ask =
        |p: &str| w.d.http.get(format!("{origin}{p}")).header("api-key", w.d.client_key()).header("user-id", "u1");
    let v: serde_json::Value = ask("/v1/files/signed-url?filename=big.csv").send().await.unwrap().json().await.unwrap();
    let url = v["file_url"].as_str().unwrap();
    assert!(url.starts_with(&origin), "{v}");
    assert_eq!(w.d.http.put(url).body(csv.clone()).send().await.unwrap().status(), 200);
    let r = ask(&format!("/v1/files/{}", v["file_id"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv");
    assert!(r.bytes().await.unwrap() == csv, "the signed-URL file's bytes through nginx");
    nginx.stop();
}

fn time_month() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!("{:04}-{:02}", now.year(), u8::from(now.month()))
}
