//! `caravan status`: the node's state, from a running daemon's report or the store.

use std::path::Path;

use super::open;
use crate::cli::output::{error_text, print_json};

pub(crate) fn run(home: &Path, json: bool) -> Result<(), String> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    // A running daemon holds the store and keeps its report in a file; otherwise
    // the store is read directly.
    let status = match caravan::status::running(home) {
        Some(from_daemon) => from_daemon,
        None => match open(home) {
            Ok(mut node) => {
                let config = caravan::config::Config::load(&home.join("config.toml")).map_err(|e| e.to_string())?;
                caravan::status::collect(&mut node, &config, now).map_err(error_text)?
            }
            Err(err) => caravan::status::read(home).ok_or(err)?,
        },
    };
    if json {
        print_json(serde_json::to_value(&status).map_err(|e| e.to_string())?);
    } else {
        print!("{}", caravan::status::render(&status, now));
    }
    Ok(())
}
