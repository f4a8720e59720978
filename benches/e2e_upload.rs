//! End to end through the real server, in process: reserve + PUT over HTTP/1.1 from
//! `attachd bench`'s client into `attachd::daemon::run`, for small and large uploads and 1 or
//! 64 concurrent clients. Every measured upload is durable (segment fdatasync + synced index).
//! Set ATTACHD_BENCH_DIR to place the data directory (default: the system temp dir).

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use attachd::loadgen::{BenchArgs, Target};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let base = std::env::var_os("ATTACHD_BENCH_DIR").map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).unwrap();
    let cfg_path = dir.path().join("config.toml");
    std::fs::write(
        &cfg_path,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_api = \"off\"\n[storage]\ndata_dir = {:?}\n[metrics]\nlisten = \"\"\n[cleanup]\nschedule = \"off\"\n[log]\nlevel = \"error\"\n",
            dir.path().join("data").display().to_string()
        ),
    )
    .unwrap();
    let cfg = attachd::config::Config::load(Some(&cfg_path)).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(attachd::daemon::run(
        cfg,
        attachd::daemon::RunOptions { on_bound: Some(tx), ..Default::default() },
        async move {
            let _ = stop_rx.await;
        },
    ));
    let addr = rt.block_on(rx.recv()).unwrap();
    let mut g = c.benchmark_group("e2e_upload");
    g.sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    for (size, conc) in [(1024usize, 1usize), (1024, 64), (4096, 64), (1 << 20, 8), (16 << 20, 4)] {
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(
            BenchmarkId::new(format!("{size}B"), format!("{conc} clients")),
            &(size, conc),
            |b, &(size, conc)| {
                b.iter_custom(|iters| {
                    let args = BenchArgs {
                        target: Target::Attachd,
                        url: format!("http://{addr}"),
                        bootstrap: dir.path().join("data/bootstrap.json"),
                        size,
                        concurrency: conc,
                        duration: 3600.0,
                        ops: iters,
                        fsync: false,
                        objects: 0,
                        user_key: String::new(),
                        form_path: String::new(),
                        label: None,
                        hostile: Default::default(),
                    };
                    let t = Instant::now();
                    let r = rt.block_on(attachd::loadgen::run(args)).unwrap();
                    assert_eq!(r.errors, 0, "{:?}", r.first_error);
                    t.elapsed()
                })
            },
        );
    }
    g.finish();
    let _ = stop_tx.send(());
    let _ = rt.block_on(server);
}

criterion_group!(benches, bench);
criterion_main!(benches);
