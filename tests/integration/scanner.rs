//! The clamd client against a real clamd (Debian's `clamav-daemon`, installed by the test
//! command) started here on a private unix socket with a signature database made at test time
//! (the official databases cannot be downloaded here): a `.hdb` with the EICAR test file's MD5
//! and an `.ndb` body signature, so EICAR is found whole and inside a larger file. Covers clean,
//! infected, the size limit (failed, never clean), clamd stopped (unreachable, then back), and
//! prints the scan throughput for 10 KiB and 10 MiB files.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use attachd::scanner::{Clamd, ClamdAddress, ScanError, Verdict};
use bytes::Bytes;

use crate::harness::data;

/// The EICAR anti-virus test file.
pub const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// A clamd of our own, killed on drop.
pub struct ClamdProc {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// Its socket.
    pub socket: PathBuf,
    stream_max: String,
}

impl ClamdProc {
    /// Starts clamd with the test signatures; `stream_max` is its `StreamMaxLength` (e.g. `200M`).
    pub fn start(stream_max: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        std::fs::create_dir_all(&db).unwrap();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        let md5 = {
            use md5::Digest as _;
            hex::encode(md5::Md5::digest(EICAR))
        };
        std::fs::write(db.join("attachd-test.hdb"), format!("{md5}:{}:Attachd.Test.Eicar.Hash\n", EICAR.len()))
            .unwrap();
        let body = hex::encode(b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE");
        std::fs::write(db.join("attachd-test.ndb"), format!("Attachd.Test.Eicar.Body:0:*:{body}\n")).unwrap();
        let socket = dir.path().join("clamd.sock");
        let mut me = Self { child: None, dir, socket, stream_max: stream_max.to_string() };
        me.restart();
        me
    }

    /// Starts (again) a stopped clamd on the same socket and waits until it answers.
    pub fn restart(&mut self) {
        let d = self.dir.path();
        let conf = d.join("clamd.conf");
        let max = &self.stream_max;
        std::fs::write(
            &conf,
            format!(
                "LocalSocket {}\nDatabaseDirectory {}\nTemporaryDirectory {}\nForeground yes\nLogFile {}\n\
                 StreamMaxLength {max}\nMaxFileSize {max}\nMaxScanSize 1000M\n",
                self.socket.display(),
                d.join("db").display(),
                d.join("tmp").display(),
                d.join("clamd.log").display()
            ),
        )
        .unwrap();
        let _ = std::fs::remove_file(&self.socket);
        let child = Command::new("clamd")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("clamd (Debian clamav-daemon; scripts/test.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.socket.exists() {
            assert!(
                Instant::now() < deadline,
                "clamd did not start: {}",
                std::fs::read_to_string(d.join("clamd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills clamd (as a crash or an operator would stop it).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The client for it.
    pub fn client(&self) -> Clamd {
        Clamd::new(ClamdAddress::Unix(self.socket.clone()), Duration::from_secs(30))
    }
}

impl Drop for ClamdProc {
    fn drop(&mut self) {
        self.stop();
    }
}

fn chunks(b: &[u8]) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + use<> {
    let parts: Vec<Result<Bytes, std::io::Error>> = b.chunks(64 << 10).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    futures_util::stream::iter(parts)
}

#[tokio::test(flavor = "multi_thread")]
async fn clamd_verdicts_are_read_strictly() {
    let mut clamd = ClamdProc::start("12M");
    let c = clamd.client();
    assert!(c.ping().await);
    assert_eq!(c.scan(chunks(&data(10_240, 1))).await.unwrap(), Verdict::Clean);
    let found = c.scan(chunks(EICAR)).await.unwrap();
    assert!(matches!(&found, Verdict::Infected(n) if n.starts_with("Attachd.Test.Eicar")), "{found:?}");
    let mut middle = data(5 << 20, 2);
    middle.extend_from_slice(EICAR);
    middle.extend(data(5 << 20, 3));
    let found = c.scan(chunks(&middle)).await.unwrap();
    assert!(matches!(&found, Verdict::Infected(_)), "EICAR in the middle of 10 MiB: {found:?}");
    // Past StreamMaxLength clamd stops reading: never clean.
    match c.scan(chunks(&data(13 << 20, 4))).await {
        Ok(Verdict::Failed(why)) => eprintln!("over the limit: failed ({why})"),
        Err(ScanError::Unreachable(why)) => eprintln!("over the limit: incomplete ({why})"),
        other => panic!("a file past clamd's limit must not be clean or infected: {other:?}"),
    }
    // clamd stopped: unreachable (to be retried), then back.
    clamd.stop();
    assert!(!c.ping().await);
    assert!(matches!(c.scan(chunks(b"x")).await, Err(ScanError::Unreachable(_))));
    clamd.restart();
    assert_eq!(c.scan(chunks(b"hello")).await.unwrap(), Verdict::Clean);
}

#[tokio::test(flavor = "multi_thread")]
async fn clamd_scan_throughput() {
    let clamd = ClamdProc::start("200M");
    let c = clamd.client();
    // Random bytes, and text (which clamd normalises before matching: slower per byte).
    let text =
        |n: usize| -> Vec<u8> { (0..n).map(|i| if i % 64 == 63 { b'\n' } else { b'a' + (i % 26) as u8 }).collect() };
    for (size, n) in [(10 << 10, 200usize), (10 << 20, 8)] {
        for (kind, body) in [("random", data(size, 5)), ("text", text(size))] {
            let t = Instant::now();
            for _ in 0..n {
                assert_eq!(c.scan(chunks(&body)).await.unwrap(), Verdict::Clean);
            }
            let secs = t.elapsed().as_secs_f64();
            eprintln!(
                "clamd scan throughput, {} KiB {kind} files, one at a time: {:.1} files/s, {:.1} MB/s",
                size >> 10,
                n as f64 / secs,
                (n * size) as f64 / secs / 1e6
            );
        }
    }
}
