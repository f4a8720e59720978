//! RocksDB index operations as attachd issues them, each a record transition: a reservation
//! batch (record, listing, filter, expiry, usage counters; WAL not synced), an upload commit
//! batch of N records with a synced WAL, and reading a page of 50 from a project with 100,000 attachments.
//! Set ATTACHD_BENCH_DIR to place the database (default: the system temp dir).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use attachd::clock::Timestamp;
use attachd::ids::{ProjectId, SegmentId};
use attachd::index::Index;
use attachd::index::listing::After;
use attachd::index::prelude::*;
use attachd::model::example::reservation;
use attachd::model::{Attachment, Location};

fn record(project: ProjectId, created: u64) -> Attachment {
    reservation(project, Some("user_42"), 4096, created)
}

fn bench(c: &mut Criterion) {
    let base = std::env::var_os("ATTACHD_BENCH_DIR").map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).unwrap();
    let idx = Index::open(&dir.path().join("index")).unwrap();
    let project = ProjectId::random();
    let mut g = c.benchmark_group("index");
    g.measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_millis(500));
    let mut t = 1_000_000u64;
    g.throughput(Throughput::Elements(1));
    g.bench_function("reserve_batch", |b| {
        b.iter(|| {
            t += 1;
            let rec = record(project, t);
            let mut batch = idx.batch();
            batch.transition(None, Some(&rec)).unwrap();
            batch.commit(false).unwrap();
        })
    });
    for n in [1usize, 16, 64] {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("upload_commit_synced", n), &n, |b, &n| {
            b.iter(|| {
                let mut batch = idx.batch();
                for i in 0..n {
                    t += 1;
                    let old = record(project, t);
                    let mut rec = old.clone();
                    rec.uploaded_at = Some(Timestamp(t));
                    rec.location = Some(Location::Segment { segment: SegmentId(1), offset: i as u64 * 4168 });
                    batch.transition(Some(&old), Some(&rec)).unwrap();
                }
                batch.commit(true).unwrap();
            })
        });
    }
    // A project with 100,000 rows, then pages of 50 from random places.
    let big = ProjectId::random();
    let mut batch = idx.batch();
    for i in 0..100_000u64 {
        let rec = record(big, 10_000_000 + i);
        batch.transition(None, Some(&rec)).unwrap();
        if batch.len() > 20_000 {
            std::mem::replace(&mut batch, idx.batch()).commit(false).unwrap();
        }
    }
    batch.commit(false).unwrap();
    idx.flush().unwrap();
    g.throughput(Throughput::Elements(50));
    let mut k = 0u64;
    g.bench_function("list_page_of_50_in_100k", |b| {
        b.iter(|| {
            k = (k + 7919) % 99_000;
            let page: Vec<_> =
                idx.list_project(&big, After::OlderThan(Timestamp(10_000_000 + 100_000 - k))).take(50).collect();
            for row in &page {
                let _ = idx.record(row.as_ref().unwrap().id).unwrap();
            }
            page.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
