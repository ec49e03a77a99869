//! The `caravan` command: parses the arguments, runs the command from `cli::commands`
//! and turns its error into the exit code.

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod demo;

use cli::args::*;
use cli::commands;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let home = cli.home.unwrap_or_else(default_home);
    let result = match cli.command {
        Command::Init { name, passphrase } => commands::node::init(&home, &name, passphrase),
        Command::Id => commands::node::id(&home),
        Command::Contact(c) => commands::contacts::run(&home, c),
        Command::Profile(c) => commands::profile::run(&home, c),
        Command::Community(c) => commands::community::run(&home, c),
        Command::Wiki(c) => commands::wiki::run(&home, c),
        Command::Market(c) => commands::market::run(&home, c),
        Command::Show { community, kind } => commands::kinds::show(&home, &community, &kind),
        Command::Kinds { json } => commands::kinds::list(json),
        Command::Post { community, text } => commands::feed::post(&home, &community, &text),
        Command::Feed { community, json } => commands::feed::feed(&home, &community, json),
        Command::Export { out, to, community } => commands::bundles::export(&home, &out, to, community),
        Command::Import { paths, json } => commands::bundles::import(&home, &paths, json),
        Command::Daemon { config, passphrase_file } => commands::daemon::run(&home, config, passphrase_file),
        Command::Relay { quota, max_lifetime, json } => commands::relay::run(&home, quota, max_lifetime, json),
        Command::Status { json } => commands::status::run(&home, json),
        Command::Sync { stick, max_bytes, json } => commands::sync::run(&home, &stick, max_bytes, json),
        Command::Demo => demo::run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("caravan: {e}");
            ExitCode::FAILURE
        }
    }
}
