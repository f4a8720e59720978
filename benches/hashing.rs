//! SHA-256 throughput: sha2 (SHA-NI when the CPU has it) against ring, by input size.
//! attachd hashes with sha2 while the body streams; this bench is why.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sha2::{Digest, Sha256};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sha256");
    g.measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    for size in [1usize << 10, 64 << 10, 1 << 20] {
        let data = vec![0xa5u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("sha2", size), &data, |b, d| b.iter(|| Sha256::digest(d)));
        g.bench_with_input(BenchmarkId::new("ring", size), &data, |b, d| {
            b.iter(|| ring::digest::digest(&ring::digest::SHA256, d))
        });
        g.bench_with_input(BenchmarkId::new("crc32c", size), &data, |b, d| b.iter(|| crc32c::crc32c(d)));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
