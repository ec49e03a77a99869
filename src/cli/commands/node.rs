//! `caravan init` and `caravan id`: creating this node and showing its contact card.

use std::path::Path;

use caravan::Node;

use super::{ask_passphrase, open};
use crate::cli::output::error_text;
use crate::cli::output::outln;

/// Creates the node in `home`, its keys sealed under a passphrase if `passphrase`.
pub(crate) fn init(home: &Path, name: &str, passphrase: bool) -> Result<(), String> {
    if home.join("identity.key").exists() {
        return Err(format!("a node already exists in {}", home.display()));
    }
    let secret = if passphrase {
        let p = match caravan::keystore::passphrase_from_environment().map_err(|e| e.to_string())? {
            Some(p) => p,
            None => {
                let first = ask_passphrase("passphrase to seal this node's keys: ")?;
                let again = ask_passphrase("the same passphrase again: ")?;
                if *first != *again {
                    return Err("the two passphrases differ; nothing was created".into());
                }
                first
            }
        };
        if p.chars().count() < 8 {
            return Err("a passphrase needs at least 8 characters; nothing was created".into());
        }
        Some(p)
    } else {
        None
    };
    let node = Node::open_with(home, name, caravan::store::CACHE_BYTES, secret.as_ref().map(|p| p.as_str()))
        .map_err(error_text)?;
    if secret.is_some() {
        outln!("the node's keys are sealed under your passphrase: keep it safe, nothing opens them without it");
    }
    outln!(
        "Created {} in {}. Your contact card, for the people you trust (`caravan id` shows it again):",
        node.name(),
        home.display()
    );
    outln!("{}", node.card());
    Ok(())
}

/// Prints this node's contact card.
pub(crate) fn id(home: &Path) -> Result<(), String> {
    outln!("{}", open(home)?.card());
    Ok(())
}
