//! Segment appends by record size and io engine: one group-commit batch (N records, one
//! vectored write, one fdatasync) on a real file in the data directory's filesystem.
//! Set ATTACHD_BENCH_DIR to put the files somewhere else (default: the system temp dir).

use std::sync::Arc;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use attachd::ids::{AttachmentId, Sha256Digest};
use attachd::store::io::{IoEngine, sync::SyncEngine, uring::UringEngine};
use attachd::store::{AppendItem, Segments};

fn engines() -> Vec<Arc<dyn IoEngine>> {
    let mut v: Vec<Arc<dyn IoEngine>> = vec![Arc::new(SyncEngine)];
    if let Ok(u) = UringEngine::start() {
        v.push(Arc::new(u));
    }
    v
}

fn items(n: usize, size: usize) -> Vec<AppendItem> {
    let payload = Bytes::from(vec![7u8; size]);
    (0..n)
        .map(|_| AppendItem {
            id: AttachmentId::random(),
            sha256: Sha256Digest([1; 32]),
            crc: crc32c::crc32c(&payload),
            payload: vec![payload.clone()],
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let base = std::env::var_os("ATTACHD_BENCH_DIR").map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let mut g = c.benchmark_group("segment_append_batch");
    g.measurement_time(std::time::Duration::from_secs(3))
        .warm_up_time(std::time::Duration::from_millis(500))
        .sample_size(20);
    for engine in engines() {
        for (size, batch) in [(1024usize, 1usize), (1024, 32), (4096, 32), (65536, 16), (1 << 20, 4)] {
            let dir = tempfile::tempdir_in(&base).unwrap();
            let segs = Segments::open(dir.path(), engine.clone(), 256 << 20).unwrap();
            let batch_items = items(batch, size);
            g.throughput(Throughput::Bytes((size * batch) as u64));
            let id = BenchmarkId::new(engine.name(), format!("{size}B x{batch}"));
            g.bench_function(id, |b| b.iter(|| segs.append_batch(&batch_items).unwrap()));
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
