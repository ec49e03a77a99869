//! The `caravan` binary's parts: its arguments, commands, output helpers, progress bars
//! and bundle files.

pub(crate) mod args;
pub(crate) mod commands;
pub(crate) mod control;
pub(crate) mod files;
pub(crate) mod news;
pub(crate) mod output;
pub(crate) mod progress;
pub(crate) mod words;

use std::path::Path;

use args::Command;
use output::resolve;

/// Runs one command for the node in `home` (here, or in the daemon for a client: paths
/// are the client's, `output::resolve`).
pub(crate) fn dispatch(home: &Path, command: Command) -> Result<(), String> {
    match command {
        Command::Init { name, passphrase } => commands::node::init(home, &name, passphrase),
        Command::Id => commands::node::id(home),
        Command::Contact(c) => commands::contacts::run(home, c),
        Command::Circle(c) => commands::contacts::circles(home, c),
        Command::Profile(c) => commands::profile::run(home, c),
        Command::Community(c) => commands::community::run(home, c),
        Command::Wiki(args::WikiCommand::Put { community, page, file, allow_empty }) => {
            let file = file.map(|f| resolve(&f));
            commands::wiki::run(home, args::WikiCommand::Put { community, page, file, allow_empty })
        }
        Command::Wiki(c) => commands::wiki::run(home, c),
        Command::Market(c) => commands::market::run(home, c),
        Command::Exchange(c) => commands::exchange::run(home, c),
        Command::Review { exchange, rating, text } => commands::social::review(home, &exchange, rating, &text),
        Command::Reputation { node, json } => commands::social::reputation(home, &node, json),
        Command::Certify { community, target, skill, expires, revoke } => {
            commands::certify::certify(home, &community, &target, skill, expires, revoke)
        }
        Command::Certificates { target, json } => commands::certify::list(home, &target, json),
        Command::Poll(c) => commands::poll::run(home, c),
        Command::Vote { poll, option } => commands::poll::vote(home, &poll, &option),
        Command::Follow { source, community } => commands::social::follow(home, &source, community, true),
        Command::Unfollow { source, community } => commands::social::follow(home, &source, community, false),
        Command::Following { budget, json } => commands::social::following(home, budget.as_deref(), json),
        Command::Show { community, kind } => commands::kinds::show(home, &community, &kind),
        Command::Kinds { json } => commands::kinds::list(json),
        Command::Post { community, text, friends_of_members, public } => {
            commands::feed::post(home, &community, &text, friends_of_members, public)
        }
        Command::Feed { community: None, json, .. } => commands::feed::following(home, json),
        Command::Feed { community: Some(community), friends_of_members, public, json, .. } => {
            commands::feed::feed(home, &community, friends_of_members, public, json)
        }
        Command::Export { out, to, community } => commands::bundles::export(home, &resolve(&out), to, community),
        Command::Import { paths, json } => {
            let paths: Vec<_> = paths.iter().map(|p| resolve(p)).collect();
            commands::bundles::import(home, &paths, json)
        }
        Command::Daemon { config, passphrase_file } => commands::daemon::run(home, config, passphrase_file),
        Command::Relay { quota, max_lifetime, member_bytes_per_day, member_bundles_per_day, json } => {
            commands::relay::run(home, quota, max_lifetime, member_bytes_per_day, member_bundles_per_day, json)
        }
        Command::Status { json } => commands::status::run(home, json),
        Command::Sync { stick, max_bytes, json, verbose } => {
            commands::sync::run(home, &resolve(&stick), max_bytes, json, verbose)
        }
        Command::Block { who } => commands::contacts::block(home, &who, true),
        Command::Unblock { who } => commands::contacts::block(home, &who, false),
        Command::Blocked { json } => commands::contacts::blocked(home, json),
        Command::Demo => Err("the demo runs on its own, not in a daemon".into()),
    }
}
