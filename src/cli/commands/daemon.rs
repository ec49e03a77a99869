//! `caravan daemon`: the long-running node, with its logging, allocator settings and
//! shutdown on signals.

use std::path::{Path, PathBuf};

use caravan::daemon::OPEN_WAIT;

use crate::cli::control;
use crate::cli::output::errln;
use crate::cli::output::open_error;
use crate::cli::words::count;

/// Runs the daemon for the node in `home` until SIGINT or SIGTERM. Everything that can
/// fail at start (the store held by another process, the port taken, a bad config) is
/// said before "listening", in one line.
pub(crate) fn run(home: &Path, config: Option<PathBuf>, passphrase_file: Option<PathBuf>) -> Result<(), String> {
    if !home.join("identity.key").exists() {
        return Err(format!("no node in {}; create one with `caravan init --name NAME`", home.display()));
    }
    // A file given by name must exist; only the home's own config.toml may be absent.
    if let Some(given) = &config
        && !given.exists()
    {
        return Err(format!("{}: no such file (leave out --config to use the defaults)", given.display()));
    }
    let path = config.unwrap_or_else(|| home.join("config.toml"));
    let config = caravan::config::Config::load(&path).map_err(|e| e.to_string())?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("CARAVAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("caravan=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    release_large_buffers();
    let sealed = std::fs::read(home.join("identity.key")).is_ok_and(|b| caravan::keystore::is_sealed(&b));
    let passphrase = match (passphrase_file, sealed) {
        (_, false) => None,
        (Some(f), true) => Some(caravan::keystore::read_passphrase_file(&f).map_err(|e| e.to_string())?),
        (None, true) => Some(caravan::keystore::passphrase_from_environment().map_err(|e| e.to_string())?.ok_or(
            "this node's keys are sealed under a passphrase: give the daemon --passphrase-file FILE, \
                     CARAVAN_PASSPHRASE_FILE, or the systemd credential caravan-passphrase",
        )?),
    };
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let control = control::bind(home)?;
        let handle = caravan::Handle::open_with(home, caravan::store::DAEMON_CACHE_BYTES, passphrase, OPEN_WAIT)
            .await
            .map_err(|e| open_error(home, e))?;
        let (listen, peers, windows) = (config.listen, config.peers.len(), config.windows.len());
        let discovery = config.discovery.then_some(config.discovery_group);
        let live = handle.serve(config).await.map_err(|e| match e {
            caravan::daemon::DaemonError::Listen { addr, source } if source.kind() == std::io::ErrorKind::AddrInUse => {
                format!(
                    "cannot listen on {addr}: port {} is in use by another program (set `listen` in the config)",
                    addr.port()
                )
            }
            e => e.to_string(),
        })?;
        let server = tokio::spawn(control::serve(control, handle.clone(), home.to_path_buf()));
        errln!(
            "caravan daemon: listening on {} (QUIC), {}, {}; other caravan commands for {} run here meanwhile",
            live.local_addr(),
            count(peers, "peer", "peers"),
            count(windows, "window", "windows"),
            home.display()
        );
        let _ = listen;
        if let Some(group) = discovery {
            errln!("caravan daemon: LAN discovery on {group}");
        }
        if let Some(addr) = live.dashboard_addr() {
            errln!("caravan daemon: dashboard on http://{addr}/");
        }
        shutdown_signal().await;
        server.abort();
        let _ = std::fs::remove_file(control::socket(home));
        let stats = live.stop().await;
        errln!(
            "caravan daemon: stopped ({} accepted, {} dialled, {} failed dials, {} discovered)",
            stats.accepted,
            stats.dialled,
            stats.dial_failures,
            stats.discovered
        );
        Ok(())
    })
}

/// A daemon moves bundles of up to tens of MiB for weeks. glibc serves a large buffer
/// from its own mapping and unmaps it on free, but after the first such free it raises
/// that threshold, and later large buffers come from heaps that are not given back: a
/// sender daemon's resident size then held about three such buffers it had freed. A
/// fixed threshold keeps every buffer of 1 MiB or more a mapping of its own; two arenas
/// (instead of one per thread) keep freed store pages from scattering across threads.
#[allow(unsafe_code)]
fn release_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
