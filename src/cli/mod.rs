//! The `caravan` binary's parts: its arguments, commands, output helpers, progress bars
//! and bundle files.

pub(crate) mod args;
pub(crate) mod commands;
pub(crate) mod files;
pub(crate) mod output;
pub(crate) mod progress;
pub(crate) mod words;
