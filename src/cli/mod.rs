//! The `caravan` binary's parts: its arguments, progress bars and bundle files.

pub(crate) mod args;
pub(crate) mod files;
pub(crate) mod progress;
