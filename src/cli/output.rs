//! What the commands share for output: JSON lines and library errors as friendly text.

use std::path::Path;

/// Prints one JSON value on its own line.
pub(crate) fn print_json(v: serde_json::Value) {
    println!("{v}");
}

/// A library error as the text shown after `caravan: `.
pub(crate) fn error_text(e: caravan::Error) -> String {
    e.to_string()
}

/// Why the node in `home` did not open: a running daemon is named, since it is the
/// usual cause and the library's own error does not say so.
pub(crate) fn open_error(home: &Path, e: caravan::Error) -> String {
    match caravan::status::read(home).and_then(|s| s.daemon) {
        // redb allows one process at a time.
        Some(d) => format!(
            "the node in {} is in use by a running `caravan daemon` (pid {}); stop it first (`caravan status` works meanwhile)",
            home.display(),
            d.pid
        ),
        None => e.to_string(),
    }
}
