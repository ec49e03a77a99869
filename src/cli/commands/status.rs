//! `caravan status`: the node's state, from a running daemon's report or the store.

use std::path::Path;

use super::open;
use crate::cli::output::outp;
use crate::cli::output::{error_text, print_json};

pub(crate) fn run(home: &Path, json: bool) -> Result<(), String> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    // Run in the daemon (for a client), the node's part is read now and the daemon's
    // part (who is connected, the last syncs) comes from its report. A daemon that does
    // not answer on its socket still has its last report read; else the store is read.
    let daemon = caravan::status::running(home);
    if crate::cli::output::is_remote() {
        let mut node = open(home)?;
        let config = caravan::config::Config::load(&home.join("config.toml")).map_err(|e| e.to_string())?;
        let mut status = caravan::status::collect(&mut node, &config, now).map_err(error_text)?;
        if let Some(report) = daemon {
            for p in &mut status.peers {
                p.connected = report.peers.iter().any(|q| q.node == p.node && q.connected);
            }
            status.next_window_unix_ms = report.next_window_unix_ms;
            status.daemon = report.daemon;
        }
        return show(&status, json, now);
    }
    let status = match daemon {
        Some(from_daemon) => from_daemon,
        None => match open(home) {
            Ok(mut node) => {
                let config = caravan::config::Config::load(&home.join("config.toml")).map_err(|e| e.to_string())?;
                caravan::status::collect(&mut node, &config, now).map_err(error_text)?
            }
            Err(err) => caravan::status::read(home).ok_or(err)?,
        },
    };
    show(&status, json, now)
}

fn show(status: &caravan::status::Status, json: bool, now: u64) -> Result<(), String> {
    if json {
        print_json(serde_json::to_value(status).map_err(|e| e.to_string())?);
    } else {
        outp!("{}", caravan::status::render(status, now));
    }
    Ok(())
}
