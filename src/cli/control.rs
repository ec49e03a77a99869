//! One node, many clients: while `caravan daemon` runs, other `caravan` commands for the
//! same home ask it to do their work over a local socket (`control.sock` in the home,
//! mode 0600, only this user's processes are served), since the store opens in one
//! process at a time. The protocol (`spec/control.md`): the client sends one JSON line
//! `{"args": [...], "cwd": "...", "stdin": "..."|null}`; the daemon runs the same
//! command code on its node and answers JSON lines `{"out": "..."}` and `{"err": "..."}`
//! as the command prints, then `{"exit": 0|1}`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use caravan::Handle;
use clap::Parser;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use crate::cli::args::{Cli, Command, WikiCommand};
use crate::cli::output::{Remote, Reply, as_remote};

/// A request may carry stdin (a wiki page): at most this much.
const REQUEST_BYTES_MAX: u64 = 64 << 20;

/// The control socket of the node in `home`.
pub(crate) fn socket(home: &Path) -> PathBuf {
    home.join("control.sock")
}

/// Whether `command` can run in a daemon for this client (everything that works on the
/// node; not what makes a node, runs a daemon or works without a node).
pub(crate) fn can_forward(command: &Command) -> bool {
    !matches!(command, Command::Init { .. } | Command::Daemon { .. } | Command::Demo | Command::Kinds { .. })
}

/// If a daemon answers on `home`'s socket, has it run this command (`args`, without the
/// program name) and returns the exit code; `None` if no daemon answers (then the
/// command runs here).
pub(crate) fn forward(home: &Path, command: &Command, args: Vec<String>) -> Option<Result<bool, String>> {
    let mut stream = std::os::unix::net::UnixStream::connect(socket(home)).ok()?;
    let stdin = match command {
        Command::Wiki(WikiCommand::Put { file: None, .. }) => match std::io::read_to_string(std::io::stdin()) {
            Ok(t) => Some(t),
            Err(e) => return Some(Err(format!("stdin: {e}"))),
        },
        _ => None,
    };
    let cwd = std::env::current_dir().unwrap_or_default();
    let request = serde_json::json!({ "args": args, "cwd": cwd, "stdin": stdin });
    if let Err(e) = writeln!(stream, "{request}") {
        return Some(Err(format!("the running daemon did not take the command: {e}")));
    }
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { break };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if let Some(t) = v["out"].as_str() {
            crate::cli::output::out(t);
        } else if let Some(t) = v["err"].as_str() {
            crate::cli::output::err(t);
        } else if let Some(code) = v["exit"].as_i64() {
            return Some(Ok(code == 0));
        }
    }
    Some(Err("the running daemon stopped before the command finished".into()))
}

/// Serves the control socket for `handle`'s node until the task is dropped. A stale
/// socket file (from a daemon that did not stop cleanly) is replaced; a live one means
/// another daemon runs here, and is an error.
pub(crate) fn bind(home: &Path) -> Result<tokio::net::UnixListener, String> {
    let path = socket(home);
    if std::os::unix::net::UnixStream::connect(&path).is_ok() {
        let pid = caravan::status::running(home).and_then(|s| s.daemon).map(|d| format!(" (process {})", d.pid));
        return Err(format!(
            "a caravan daemon{} is already running for {}; stop it first (`kill -TERM PID`, or stop its service)",
            pid.unwrap_or_default(),
            home.display()
        ));
    }
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(listener)
}

/// Answers clients on `listener` with `handle`'s node.
pub(crate) async fn serve(listener: tokio::net::UnixListener, handle: Handle, home: PathBuf) {
    let me = rustix::process::geteuid();
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        // The socket's mode already keeps others out; the peer's uid says so again.
        if stream.peer_cred().ok().map(|c| c.uid()) != Some(me.as_raw()) {
            continue;
        }
        let (handle, home) = (handle.clone(), home.clone());
        tokio::spawn(async move {
            if let Err(e) = answer(stream, handle, home).await {
                tracing::debug!("a control client: {e}");
            }
        });
    }
}

async fn answer(stream: tokio::net::UnixStream, handle: Handle, home: PathBuf) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    tokio::io::BufReader::new(read.take(REQUEST_BYTES_MAX)).read_line(&mut line).await?;
    let request: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
    let args: Vec<String> = request["args"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let cwd = PathBuf::from(request["cwd"].as_str().unwrap_or("/"));
    let stdin = request["stdin"].as_str().map(str::to_string);
    let (tx, rx) = std::sync::mpsc::channel::<Reply>();
    let node = handle.node().clone();
    let run = tokio::task::spawn_blocking(move || {
        let cli = match Cli::try_parse_from(std::iter::once("caravan".to_string()).chain(args)) {
            Ok(c) => c,
            Err(e) => return Err(e.to_string()),
        };
        let before = node.blocking_lock().store_commits();
        let remote = Remote { node: node.clone(), cwd, stdin, replies: tx };
        let result = as_remote(remote, || crate::cli::dispatch(&home, cli.command));
        let changed = node.blocking_lock().store_commits() != before;
        Ok((result, changed))
    });
    // Replies stream while the command runs.
    let (atx, mut arx) = tokio::sync::mpsc::unbounded_channel::<Reply>();
    std::thread::spawn(move || {
        for r in rx {
            if atx.send(r).is_err() {
                break;
            }
        }
    });
    while let Some(reply) = arx.recv().await {
        let v = match reply {
            Reply::Out(t) => serde_json::json!({ "out": t }),
            Reply::Err(t) => serde_json::json!({ "err": t }),
        };
        write.write_all(format!("{v}\n").as_bytes()).await?;
    }
    let code = match run.await {
        Ok(Ok((Ok(()), changed))) => {
            if changed {
                handle.edited_elsewhere();
            }
            0
        }
        Ok(Ok((Err(e), changed))) => {
            if changed {
                handle.edited_elsewhere();
            }
            write
                .write_all(format!("{}\n", serde_json::json!({ "err": format!("caravan: {e}\n") })).as_bytes())
                .await?;
            1
        }
        Ok(Err(usage)) => {
            write.write_all(format!("{}\n", serde_json::json!({ "err": usage })).as_bytes()).await?;
            2
        }
        Err(_) => {
            let v = serde_json::json!({ "err": "caravan: the daemon failed running this command\n" });
            write.write_all(format!("{v}\n").as_bytes()).await?;
            1
        }
    };
    write.write_all(format!("{}\n", serde_json::json!({ "exit": code })).as_bytes()).await?;
    Ok(())
}
