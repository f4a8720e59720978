//! The `attachd` binary: parse the command line, load configuration, set up logging, run.

use std::process::ExitCode;

use clap::Parser;

use attachd::cli::{Cli, Command, ConfigCmd};
use attachd::config::{Config, LogFormat};

fn init_tracing(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log.level));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match cfg.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("attachd-worker")
        .build()
        .expect("start the tokio runtime")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Serve { config, ready_file } => {
            let cfg = match Config::load(config.as_deref()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("attachd: {e}");
                    return ExitCode::from(2);
                }
            };
            init_tracing(&cfg);
            attachd::metrics::install();
            let opts = attachd::daemon::RunOptions { ready_file, ..Default::default() };
            match runtime().block_on(attachd::daemon::run(cfg, opts, shutdown_signal())) {
                Ok(()) => 0,
                Err(e) => {
                    tracing::error!(error = %e, "attachd failed");
                    eprintln!("attachd: {e}");
                    1
                }
            }
        }
        Command::Config { what: ConfigCmd::Check { config } } => match Config::load(config.as_deref()) {
            Ok(cfg) => {
                println!("{}", serde_json::to_string_pretty(&cfg).unwrap_or_default());
                eprintln!("attachd: configuration is valid");
                0
            }
            Err(e) => {
                eprintln!("attachd: {e}");
                1
            }
        },
        Command::Admin { conn, what } => report(runtime().block_on(attachd::cli::admin(&conn, &what))),
        Command::Fsck { config, repair } => report(offline_fsck(config.as_deref(), repair)),
        Command::Backup { conn, dest } => report(runtime().block_on(attachd::cli::backup(&conn, &dest))),
        Command::Bench { args, json } => match runtime().block_on(attachd::loadgen::run(args)) {
            Ok(r) => {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                if !json {
                    let _ = writeln!(out, "{}", r.human());
                }
                let _ = writeln!(out, "{}", serde_json::to_string(&r).unwrap_or_default());
                if r.ops == 0 { 1 } else { 0 }
            }
            Err(e) => {
                eprintln!("attachd bench: {e}");
                1
            }
        },
        Command::BenchDiscard { listen } => match runtime().block_on(attachd::loadgen::discard::serve(&listen)) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("attachd bench-discard: {e}");
                1
            }
        },
        Command::Healthcheck { conn } => report(runtime().block_on(attachd::cli::healthcheck(&conn))),
        Command::Cleanup { conn, offline } => {
            if offline {
                report(offline_cleanup(&conn))
            } else {
                report(runtime().block_on(attachd::cli::cleanup_online(&conn)))
            }
        }
    };
    ExitCode::from(code as u8)
}

fn offline_cleanup(conn: &attachd::cli::Conn) -> Result<i32, String> {
    let cfg = Config::load(conn.config.as_deref()).map_err(|e| e.to_string())?;
    init_tracing(&cfg);
    let _lock = attachd::daemon::lock_data_dir(&cfg.storage.data_dir).map_err(|e| e.to_string())?;
    let svc = attachd::daemon::open_service(&cfg, String::new(), None).map_err(|e| e.to_string())?;
    let report = attachd::worker::cleanup::Cleanup::new(svc.clone()).run().map_err(|e| e.to_string())?;
    svc.shutdown();
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    Ok(0)
}

fn offline_fsck(config: Option<&std::path::Path>, repair: bool) -> Result<i32, String> {
    let cfg = Config::load(config).map_err(|e| e.to_string())?;
    init_tracing(&cfg);
    let _lock = attachd::daemon::lock_data_dir(&cfg.storage.data_dir).map_err(|e| e.to_string())?;
    let svc = attachd::daemon::open_service(&cfg, String::new(), None).map_err(|e| e.to_string())?;
    let report = svc.fsck(repair).map_err(|e| e.to_string())?;
    svc.shutdown();
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    Ok(if report.ok { 0 } else { 1 })
}

fn report(r: Result<i32, String>) -> i32 {
    r.unwrap_or_else(|e| {
        eprintln!("attachd: {e}");
        1
    })
}
