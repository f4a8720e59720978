//! Scanning as an engine stage, on the real binary with a real clamd (`scanner.rs` starts it
//! with a test signature database): clean files are served; EICAR, EICAR inside a ZIP and EICAR
//! in the middle of a large file are infected and refused with 409 by every API that serves
//! them (seed 004 and seed 001 with scanning switched on); a file past the scanner's limit
//! fails, never clean; clamd stopped mid-queue leaves files processing (503 on use, the admin
//! status says so) and the queue drains when it returns; a kill -9 of attachd with files
//! queued loses none. Prints the scan throughput through attachd.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::files::{get_as, new_file, put_to, status_of, wait_status};
use crate::harness::{Daemon, Opts, json_of};
use crate::people::{Form, World};
use crate::scanner::{ClamdProc, EICAR};

fn with_clamd(clamd: &ClamdProc) -> Opts {
    Opts::default().set("scanner", format!("clamd_address = \"unix:{}\"", clamd.socket.display()))
}

/// A text file of `n` bytes (seed 004 allows text/plain).
fn text(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| if i % 64 == 63 { b'\n' } else { b'a' + ((i as u8) ^ seed) % 26 }).collect()
}

/// A ZIP archive holding `name` with `body`, deflated (fixed Huffman codes, literals only), so
/// the body's bytes never appear in the archive as they are: only a scanner that unpacks it
/// can find them.
fn zipped(name: &str, body: &[u8]) -> Vec<u8> {
    let data = deflate_literals(body);
    let crc = crc32(body);
    let mut z = Vec::new();
    let put16 = |z: &mut Vec<u8>, v: u16| z.extend_from_slice(&v.to_le_bytes());
    let put32 = |z: &mut Vec<u8>, v: u32| z.extend_from_slice(&v.to_le_bytes());
    // Local file header, then the data.
    put32(&mut z, 0x0403_4b50);
    for v in [20u16, 0, 8, 0, 0x21] {
        put16(&mut z, v); // version, flags, method (deflate), time, date (1980-01-01)
    }
    for v in [crc, data.len() as u32, body.len() as u32] {
        put32(&mut z, v);
    }
    put16(&mut z, name.len() as u16);
    put16(&mut z, 0);
    z.extend_from_slice(name.as_bytes());
    z.extend_from_slice(&data);
    // Central directory, then its end record.
    let cd = z.len() as u32;
    put32(&mut z, 0x0201_4b50);
    for v in [20u16, 20, 0, 8, 0, 0x21] {
        put16(&mut z, v);
    }
    for v in [crc, data.len() as u32, body.len() as u32] {
        put32(&mut z, v);
    }
    for v in [name.len() as u16, 0, 0, 0, 0] {
        put16(&mut z, v);
    }
    put32(&mut z, 0);
    put32(&mut z, 0);
    z.extend_from_slice(name.as_bytes());
    let cd_len = z.len() as u32 - cd;
    put32(&mut z, 0x0605_4b50);
    for v in [0u16, 0, 1, 1] {
        put16(&mut z, v);
    }
    put32(&mut z, cd_len);
    put32(&mut z, cd);
    put16(&mut z, 0);
    z
}

/// One final DEFLATE block with the fixed Huffman codes (RFC 1951 §3.2.6), every byte a literal.
fn deflate_literals(body: &[u8]) -> Vec<u8> {
    let (mut out, mut acc, mut n) = (Vec::new(), 0u64, 0u32);
    let mut bits = |value: u32, len: u32, reverse: bool, out: &mut Vec<u8>| {
        let v = if reverse { value.reverse_bits() >> (32 - len) } else { value };
        acc |= (v as u64) << n;
        n += len;
        while n >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            n -= 8;
        }
    };
    bits(1, 1, false, &mut out); // BFINAL
    bits(1, 2, false, &mut out); // BTYPE = 01, fixed codes
    for &b in body {
        match b {
            0..=143 => bits(0x30 + b as u32, 8, true, &mut out),
            _ => bits(0x190 + (b as u32 - 144), 9, true, &mut out),
        }
    }
    bits(0, 7, true, &mut out); // end of block
    bits(0, 7, false, &mut out); // flush the last partial byte
    out
}

/// CRC-32 (IEEE), as ZIP records it.
fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
        }
    }
    !c
}

async fn upload_file(d: &Daemon, name: &str, body: Vec<u8>) -> String {
    let (id, url) = new_file(d, "u1", name).await;
    let (s, _, text) = put_to(d, &url, body).await;
    assert_eq!(s, 200, "{text}");
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn verdicts_decide_what_is_served() {
    let clamd = ClamdProc::start("60M");
    let opts = with_clamd(&clamd)
        .set("scanner", "max_file_bytes = 12000000")
        .set("apis.files", "allowed_types = [\"text/plain\", \"text/csv\", \"application/zip\", \"application/vnd.openxmlformats-officedocument.wordprocessingml.document\"]")
        .set("apis.files", "max_upload_bytes = 20000000")
        .set("apis.catalog", "scan = true");
    let w = World::with(opts).await;
    let d = &w.d;
    let clean = upload_file(d, "clean.txt", text(10_000, 1)).await;
    let eicar = upload_file(d, "eicar.txt", EICAR.to_vec()).await;
    let in_zip = upload_file(d, "archive.zip", zipped("readme.txt", EICAR)).await;
    let mut big = text(5 << 20, 2);
    big.extend_from_slice(EICAR);
    big.extend(text(5 << 20, 3));
    let middle = upload_file(d, "big.txt", big).await;
    let too_large = upload_file(d, "huge.txt", text(13_000_000, 4)).await;
    let within = Duration::from_secs(60);
    let v = wait_status(d, "u1", &clean, "processing", within).await;
    assert_eq!(v["status"], "processed", "{v}");
    let r = get_as(d, "u1", &format!("/v1/files/{clean}")).await;
    assert_eq!(r.status(), 200);
    for (id, what) in [(&eicar, "EICAR"), (&in_zip, "EICAR in a ZIP"), (&middle, "EICAR in the middle of 10 MiB")] {
        let v = wait_status(d, "u1", id, "processing", within).await;
        assert_eq!(v["status"], "infected", "{what}: {v}");
        let (s, body) = json_of(get_as(d, "u1", &format!("/v1/files/{id}")).await).await;
        assert_eq!((s, body["error_code"].as_str()), (409, Some("conflict")), "{what}: {body}");
        assert_eq!(body["detail"], "Conflict - File is infected with a virus or it's still being processed");
    }
    let v = wait_status(d, "u1", &too_large, "processing", within).await;
    assert_eq!(v["status"], "failed", "past the scanner's limit: never clean: {v}");
    let (s, _) = json_of(get_as(d, "u1", &format!("/v1/files/{too_large}")).await).await;
    assert_eq!(s, 409);
    assert!(d.log().contains("infected file quarantined"), "infections are logged");

    // Seed 001 with scanning switched on: an infected ticket file is never served, a clean
    // one is once scanned.
    let infected = ticket_file(&w, "eicar.zip", zipped("x.txt", EICAR)).await;
    let clean = ticket_file(&w, "ok.zip", zipped("ok.txt", b"hello")).await;
    let deadline = Instant::now() + within;
    let (mut bad_done, mut good_done) = (false, false);
    while !(bad_done && good_done) {
        assert!(Instant::now() < deadline, "seed 001 files not scanned in time");
        let (s, body) = ticket_download(&w, &infected).await;
        assert!(s == 409, "an infected or unscanned file is never served: {s} {body}");
        bad_done = body["code"] == "infected";
        let (s, body) = ticket_download(&w, &clean).await;
        assert!(s == 200 || (s == 409 && body["code"] == "scan_pending"), "{s} {body}");
        good_done = s == 200;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const TICKET: &str = "/issues/tickets/T-1/attachments";

async fn ticket_file(w: &World, name: &str, body: Vec<u8>) -> String {
    let form = Form::default().file("file", name, "application/zip", &body).end();
    let r = w.d.http.post(w.d.url(TICKET)).bearer_auth(&w.bob).header("content-type", Form::content_type()).body(form);
    let (s, v) = json_of(r.send().await.unwrap()).await;
    assert_eq!(s, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

async fn ticket_download(w: &World, id: &str) -> (u16, Value) {
    let r = w.d.http.get(w.d.url(&format!("/issues/attachments/{id}"))).bearer_auth(&w.bob).send().await.unwrap();
    let s = r.status().as_u16();
    if s == 200 {
        return (s, Value::Null);
    }
    json_of(r).await
}

#[tokio::test(flavor = "multi_thread")]
async fn clamd_down_keeps_files_queued_and_a_restart_loses_none() {
    let mut clamd = ClamdProc::start("60M");
    let opts = with_clamd(&clamd).set("scanner", "retry_min_secs = 1").set("scanner", "retry_max_secs = 2");
    let mut d = Daemon::start_with(opts).await;
    clamd.stop();
    let mut ids = Vec::new();
    for i in 0..3u8 {
        ids.push(upload_file(&d, &format!("f{i}.txt"), text(1000, i)).await);
    }
    ids.push(upload_file(&d, "eicar.txt", EICAR.to_vec()).await);
    // The worker finds clamd gone: files stay processing, use is 503, the status says so.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, body) = json_of(get_as(&d, "u1", &format!("/v1/files/{}", ids[0])).await).await;
        if s == 503 {
            assert_eq!(body["error_code"], "attachment_document_not_reachable", "{body}");
            break;
        }
        assert!(s == 409 && Instant::now() < deadline, "{s} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for id in &ids {
        assert_eq!(status_of(&d, "u1", id).await.1["status"], "processing");
    }
    let (s, v) = d.admin(reqwest::Method::GET, "scanner", None).await;
    assert_eq!(s, 200);
    assert_eq!(v, serde_json::json!({"configured": true, "reachable": false, "queue_depth": 4}));
    // attachd killed with the queue full; clamd back; the queue drains after the restart.
    d.kill_and_restart().await;
    clamd.restart();
    for id in &ids[..3] {
        let v = wait_status(&d, "u1", id, "processing", Duration::from_secs(60)).await;
        assert_eq!(v["status"], "processed", "{v}");
    }
    let v = wait_status(&d, "u1", &ids[3], "processing", Duration::from_secs(60)).await;
    assert_eq!(v["status"], "infected", "{v}");
    let (_, v) = d.admin(reqwest::Method::GET, "scanner", None).await;
    assert_eq!(v, serde_json::json!({"configured": true, "reachable": true, "queue_depth": 0}));
    let r = get_as(&d, "u1", &format!("/v1/files/{}", ids[0])).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn scan_throughput_through_attachd() {
    // The scan stage alone: files are uploaded with clamd stopped, then clamd comes back and
    // the queue's drain is timed from its first verdict to its last (the admin API's
    // queue_depth), with the worker's default concurrency (2; SCAN_CONCURRENCY=n to compare).
    let mut clamd = ClamdProc::start("60M");
    let conc = std::env::var("SCAN_CONCURRENCY").unwrap_or_else(|_| "2".into());
    let opts = with_clamd(&clamd)
        .set("scanner", "retry_max_secs = 1")
        .set("scanner", format!("concurrency = {conc}"))
        .set("quota", "user_bytes = 10000000000")
        .set("quota", "project_bytes = 10000000000");
    let d = Daemon::start_with(opts).await;
    for (size, n) in [(10usize << 10, 600usize), (10 << 20, 16)] {
        clamd.stop();
        for i in 0..n {
            upload_file(&d, &format!("t{i}.txt"), text(size - 1, i as u8)).await;
        }
        clamd.restart();
        let depth = || async {
            let (_, v) = d.admin(reqwest::Method::GET, "scanner", None).await;
            v["queue_depth"].as_u64().unwrap() as usize
        };
        let deadline = Instant::now() + Duration::from_secs(300);
        let (mut first, mut at_first) = (None, n);
        loop {
            let left = depth().await;
            if first.is_none() && left < n {
                (first, at_first) = (Some(Instant::now()), left);
            }
            if left == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "{left} files still queued");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let secs = first.unwrap().elapsed().as_secs_f64().max(1e-3);
        let done = at_first;
        eprintln!(
            "scan stage through attachd (clamd, concurrency {conc}), {} KiB files: {:.1} files/s, {:.1} MB/s ({done} files in {secs:.2} s)",
            size >> 10,
            done as f64 / secs,
            (done * size) as f64 / secs / 1e6
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_that_never_gets_a_verdict_cannot_jam_the_queue() {
    // A stored file whose bytes are damaged cannot be sent whole; clamd itself answers, so the
    // file is the trouble: after a few attempts it is recorded as failed, and the files behind
    // it are scanned.
    let mut clamd = ClamdProc::start("60M");
    let d = Daemon::start_with(with_clamd(&clamd)).await;
    clamd.stop();
    let damaged = upload_file(&d, "big.txt", text(3 << 20, 7)).await;
    let behind = upload_file(&d, "small.txt", text(1000, 8)).await;
    let path = walk(&d.data.join("blobs")).into_iter().find(|p| p.ends_with(&damaged)).expect("a standalone blob");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[2 << 20] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    clamd.restart();
    let v = wait_status(&d, "u1", &behind, "processing", Duration::from_secs(60)).await;
    assert_eq!(v["status"], "processed", "{v}");
    let v = wait_status(&d, "u1", &damaged, "processing", Duration::from_secs(60)).await;
    assert_eq!(v["status"], "failed", "{v}");
    let (_, s) = d.admin(reqwest::Method::GET, "scanner", None).await;
    assert_eq!((s["reachable"].as_bool(), s["queue_depth"].as_u64()), (Some(true), Some(0)), "{s}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}
