//! `caravan daemon`: the long-running node, with its logging, allocator settings and
//! shutdown on signals.

use std::path::{Path, PathBuf};

/// Runs the daemon for the node in `home` until SIGINT or SIGTERM.
pub(crate) fn run(home: &Path, config: Option<PathBuf>, passphrase_file: Option<PathBuf>) -> Result<(), String> {
    // Only check there is a node here: the daemon opens the store itself (and waits
    // for a command that holds it for a moment).
    if !home.join("identity.key").exists() {
        return Err(format!("no node in {}; create one with `caravan init --name NAME`", home.display()));
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("CARAVAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("caravan=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    release_large_buffers();
    // A file given by name must exist; only the home's own config.toml may be absent.
    if let Some(given) = &config
        && !given.exists()
    {
        return Err(format!("{}: no such file (leave out --config to use the defaults)", given.display()));
    }
    let path = config.unwrap_or_else(|| home.join("config.toml"));
    let config = caravan::config::Config::load(&path).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    eprintln!(
        "caravan daemon: listening on {} (QUIC), {} peers, {} windows",
        config.listen,
        config.peers.len(),
        config.windows.len()
    );
    if config.discovery {
        eprintln!("caravan daemon: LAN discovery on {}", config.discovery_group);
    }
    let sealed = std::fs::read(home.join("identity.key")).is_ok_and(|b| caravan::keystore::is_sealed(&b));
    let passphrase = match (passphrase_file, sealed) {
        (_, false) => None,
        (Some(f), true) => Some(caravan::keystore::read_passphrase_file(&f).map_err(|e| e.to_string())?),
        (None, true) => Some(caravan::keystore::passphrase_from_environment().map_err(|e| e.to_string())?.ok_or(
            "this node's keys are sealed under a passphrase: give the daemon --passphrase-file FILE, \
                     CARAVAN_PASSPHRASE_FILE, or the systemd credential caravan-passphrase",
        )?),
    };
    let stats = runtime
        .block_on(caravan::daemon::run_with(home, config, passphrase, shutdown_signal()))
        .map_err(|e| e.to_string())?;
    eprintln!(
        "caravan daemon: stopped ({} accepted, {} dialled, {} failed dials, {} discovered)",
        stats.accepted, stats.dialled, stats.dial_failures, stats.discovered
    );
    Ok(())
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
