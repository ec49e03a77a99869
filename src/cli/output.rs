//! What the commands share for output: where it goes (this terminal, or the client a
//! daemon runs a command for), JSON lines, and library errors as friendly text.

use std::path::Path;

/// Prints one JSON value on its own line.
pub(crate) fn print_json(v: serde_json::Value) {
    out(&format!("{v}\n"));
}

/// A library error as the text shown after `caravan: `.
pub(crate) fn error_text(e: caravan::Error) -> String {
    e.to_string()
}

/// Why the node in `home` did not open, in one line: the store held by another process
/// is named (a daemon by its pid), since the library's own error cannot say who.
pub(crate) fn open_error(home: &Path, e: caravan::Error) -> String {
    let in_use = matches!(e, caravan::Error::Store(caravan::store::StoreError::InUse(_)));
    match (in_use, caravan::status::read(home).and_then(|s| s.daemon)) {
        (true, Some(d)) => format!(
            "the node in {} is in use by a caravan daemon (pid {}) that does not answer on {}; \
             wait for it to start, or stop it",
            home.display(),
            d.pid,
            home.join("control.sock").display()
        ),
        (true, None) => format!(
            "the node in {} is in use by another caravan process (a command still running); try again when it ends",
            home.display()
        ),
        _ => e.to_string(),
    }
}

/// Where a command's output goes: this process's stdout and stderr, or, for a command a
/// running daemon runs for a `caravan` client (`cli::control`), that client.
pub(crate) enum Reply {
    /// Text for the client's stdout.
    Out(String),
    /// Text for the client's stderr.
    Err(String),
}

/// What a command run for a client works with instead of this process's own: the
/// daemon's node, the client's directory, its stdin, and the way back.
pub(crate) struct Remote {
    pub(crate) node: std::sync::Arc<tokio::sync::Mutex<caravan::Node>>,
    pub(crate) cwd: std::path::PathBuf,
    pub(crate) stdin: Option<String>,
    pub(crate) replies: std::sync::mpsc::Sender<Reply>,
}

thread_local! {
    static REMOTE: std::cell::RefCell<Option<Remote>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` as a command for a client: its output, node, directory and stdin are the
/// client's (for this thread, until `f` returns).
pub(crate) fn as_remote<T>(remote: Remote, f: impl FnOnce() -> T) -> T {
    /// Clears the thread's client even if the command panics (the thread is reused).
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            REMOTE.with(|r| *r.borrow_mut() = None);
        }
    }
    REMOTE.with(|r| *r.borrow_mut() = Some(remote));
    let _clear = Clear;
    f()
}

/// The daemon's node, when running a command for a client.
pub(crate) fn remote_node() -> Option<std::sync::Arc<tokio::sync::Mutex<caravan::Node>>> {
    REMOTE.with(|r| r.borrow().as_ref().map(|r| r.node.clone()))
}

/// Whether output goes to a client (so no terminal of ours is involved).
pub(crate) fn is_remote() -> bool {
    REMOTE.with(|r| r.borrow().is_some())
}

/// A path as the person typing it meant it: relative to their directory.
pub(crate) fn resolve(p: &Path) -> std::path::PathBuf {
    REMOTE.with(|r| match r.borrow().as_ref() {
        Some(remote) if p.is_relative() => remote.cwd.join(p),
        _ => p.to_path_buf(),
    })
}

/// All of stdin (the client's, for a command run for one).
pub(crate) fn read_stdin() -> std::io::Result<String> {
    if let Some(text) = REMOTE.with(|r| r.borrow().as_ref().map(|r| r.stdin.clone().unwrap_or_default())) {
        return Ok(text);
    }
    std::io::read_to_string(std::io::stdin())
}

/// Writes to stdout (or the client's). A reader that went away (`caravan ... | head`)
/// ends the program quietly, as other command-line tools do.
pub(crate) fn out(text: &str) {
    use std::io::Write;
    let sent = REMOTE.with(|r| r.borrow().as_ref().map(|r| r.replies.send(Reply::Out(text.to_string()))));
    if sent.is_some() {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(text.as_bytes()).and_then(|_| stdout.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// Writes to stderr (or the client's).
pub(crate) fn err(text: &str) {
    use std::io::Write;
    let sent = REMOTE.with(|r| r.borrow().as_ref().map(|r| r.replies.send(Reply::Err(text.to_string()))));
    if sent.is_none() {
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

/// `println!` to [`out`].
macro_rules! outln {
    () => { $crate::cli::output::out("\n") };
    ($($arg:tt)*) => { $crate::cli::output::out(&format!("{}\n", format_args!($($arg)*))) };
}

/// `print!` to [`out`].
macro_rules! outp {
    ($($arg:tt)*) => { $crate::cli::output::out(&format!($($arg)*)) };
}

/// `eprintln!` to [`err`].
macro_rules! errln {
    ($($arg:tt)*) => { $crate::cli::output::err(&format!("{}\n", format_args!($($arg)*))) };
}

pub(crate) use {errln, outln, outp};
