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

/// SIGTERM/SIGINT, as a future. The handlers are registered here, before the daemon binds or
/// announces anything, so a signal that arrives right after start drains instead of killing
/// the process with the default action.
fn shutdown_signal(rt: &tokio::runtime::Runtime) -> std::io::Result<impl std::future::Future<Output = ()> + use<>> {
    use tokio::signal::unix::{SignalKind, signal};
    let _in_runtime = rt.enter();
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("attachd-worker")
        .build()
        .expect("start the tokio runtime")
}

fn main() -> ExitCode {
    // Everything attachd creates (index, segments, blobs, backups, secrets) is private to its
    // user; the systemd unit sets the same with UMask=0077.
    // SAFETY: umask only changes this process's file-creation mask; no thread runs yet.
    unsafe { libc::umask(0o077) };
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
            let rt = runtime();
            let shutdown = match shutdown_signal(&rt) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("attachd: install signal handlers: {e}");
                    return ExitCode::from(1);
                }
            };
            match rt.block_on(attachd::daemon::run(cfg, opts, shutdown)) {
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
                println!("{}", serde_json::to_string_pretty(&cfg.redacted()).unwrap_or_default());
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
        Command::Migrate { from, to } => report(migrate(from.as_deref(), &to)),
        Command::RecoverAdminToken { config, name } => report(recover_admin_token(config.as_deref(), &name)),
        Command::Backup { conn, name } => report(runtime().block_on(attachd::cli::backup(&conn, name.as_deref()))),
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
    svc.refuse_if_repair_interrupted().map_err(|e| e.to_string())?;
    let report = attachd::worker::cleanup::Cleanup::new(svc.clone()).run().map_err(|e| e.to_string())?;
    svc.shutdown();
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    Ok(0)
}

fn recover_admin_token(config: Option<&std::path::Path>, name: &str) -> Result<i32, String> {
    let cfg = Config::load(config).map_err(|e| e.to_string())?;
    let _lock = attachd::daemon::lock_data_dir(&cfg.storage.data_dir).map_err(|e| e.to_string())?;
    let svc = attachd::daemon::open_service(&cfg, String::new(), None).map_err(|e| e.to_string())?;
    let (token, secret) = svc.add_admin_token(name).map_err(|e| e.to_string())?;
    svc.shutdown();
    let token = attachd::frontend::views::admin_token(&token);
    println!("{}", serde_json::json!({ "token": token, "secret": secret }));
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

fn migrate(from: Option<&std::path::Path>, to: &std::path::Path) -> Result<i32, String> {
    let src = Config::load(from).map_err(|e| e.to_string())?;
    let dst = Config::load(Some(to)).map_err(|e| e.to_string())?;
    init_tracing(&src);
    let report = attachd::daemon::migrate::local_to_postgres_s3(&src, &dst).map_err(|e| e.to_string())?;
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    Ok(0)
}

fn report(r: Result<i32, String>) -> i32 {
    r.unwrap_or_else(|e| {
        eprintln!("attachd: {e}");
        1
    })
}
