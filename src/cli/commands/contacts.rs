//! `caravan contact`: adding contacts from their cards and listing them.

use std::path::Path;

use super::{card, open, who};
use crate::cli::args::{CircleCommand, ContactCommand};
use crate::cli::output::outln;
use crate::cli::output::{error_text, print_json};

pub(crate) fn run(home: &Path, command: ContactCommand) -> Result<(), String> {
    match command {
        ContactCommand::Add { card: c, audience } => {
            let mut node = open(home)?;
            let c = card(&c)?;
            let change = node.add_contact(&c, &audience).map_err(error_text)?;
            let added: Vec<&str> = change.audiences_added.iter().map(|a| a.as_str()).collect();
            if change.new {
                match added.as_slice() {
                    [] => outln!("Added {} as a contact.", c.name),
                    a => outln!("Added {} as a contact, in {}.", c.name, list(a)),
                }
            } else {
                let mut what = Vec::new();
                if let Some(old) = &change.renamed {
                    what.push(format!("renamed from {old:?}"));
                }
                if !added.is_empty() {
                    what.push(format!("now also in {}", list(&added)));
                }
                if what.is_empty() {
                    outln!("{} is already a contact; nothing changed.", c.name);
                } else {
                    outln!("Updated {}: {}.", c.name, what.join("; "));
                }
            }
        }
        ContactCommand::Remove { who: w, audience } => {
            let mut node = open(home)?;
            let id = who(&mut node, &w)?;
            let name =
                node.contacts().map_err(error_text)?.into_iter().find(|c| c.card.node_id() == id).map(|c| c.card.name);
            let Some(name) = name else { return Err(format!("{w:?} is not one of your contacts")) };
            let left = node.remove_contact(&id, &audience).map_err(error_text)?;
            let left: Vec<&str> = left.iter().map(|a| a.as_str()).collect();
            let rekeyed = if left.iter().any(|a| *a != "public") {
                format!(
                    " {} a new key, for the others in it: what you write there from now on is not readable by \
                     {name}; what they could read before stays readable to them.",
                    if left.len() == 1 { "It has" } else { "Each has" }
                )
            } else {
                String::new()
            };
            match (audience.is_empty(), left.as_slice()) {
                (true, []) => outln!("Forgot {name} as a contact."),
                (true, l) => outln!("Forgot {name} as a contact, and took them out of {}.{rekeyed}", list(l)),
                (false, []) => outln!("{name} was in none of these audiences; nothing changed."),
                (false, l) => outln!("Took {name} out of {}.{rekeyed}", list(l)),
            }
        }
        ContactCommand::List { json } => {
            let node = open(home)?;
            let contacts = node.contacts().map_err(error_text)?;
            if json {
                print_json(serde_json::Value::Array(
                    contacts
                        .iter()
                        .map(|c| {
                            let audiences: Vec<&str> = c.audiences.iter().map(|a| a.as_str()).collect();
                            serde_json::json!({"node": c.card.node_id().to_string(), "name": c.card.name, "audiences": audiences})
                        })
                        .collect(),
                ));
            } else {
                if contacts.is_empty() {
                    outln!("No contacts yet: add one with `caravan contact add CARD`.");
                }
                for c in contacts {
                    let aud: Vec<&str> = c.audiences.iter().map(|a| a.as_str()).collect();
                    match aud.as_slice() {
                        [] => outln!("{}", c.card.name),
                        a => outln!("{}  ({})", c.card.name, list(a)),
                    }
                }
            }
        }
    }
    Ok(())
}

/// "friends", "friends and family", "friends, family and business".
fn list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Blocks (or unblocks) the node `w` names.
pub(crate) fn block(home: &Path, w: &str, on: bool) -> Result<(), String> {
    let mut node = open(home)?;
    let id = who(&mut node, w)?;
    let name = crate::cli::words::Names::load(&mut node).of(&id);
    let changed = if on { node.block(&id) } else { node.unblock(&id) }.map_err(error_text)?;
    match (on, changed) {
        (true, true) => {
            outln!("Blocked {name}: nothing of theirs is taken in or passed on, and live links refuse them.")
        }
        (true, false) => outln!("{name} was blocked already."),
        (false, true) => outln!("Unblocked {name}: their bundles are taken again the next time they come."),
        (false, false) => outln!("{name} was not blocked."),
    }
    Ok(())
}

/// Lists the blocked nodes.
pub(crate) fn blocked(home: &Path, json: bool) -> Result<(), String> {
    let mut node = open(home)?;
    let list = node.blocked().map_err(error_text)?;
    if json {
        print_json(serde_json::json!(list.iter().map(|n| n.to_string()).collect::<Vec<_>>()));
    } else if list.is_empty() {
        outln!("Nobody is blocked.");
    } else {
        let names = crate::cli::words::Names::load(&mut node);
        for n in list {
            outln!("{}", names.of(&n));
        }
    }
    Ok(())
}

/// `caravan circle list`.
pub(crate) fn circles(home: &Path, command: CircleCommand) -> Result<(), String> {
    let CircleCommand::List { json } = command;
    let mut node = open(home)?;
    let circles = node.circles().map_err(error_text)?;
    if json {
        print_json(serde_json::Value::Array(
            circles
                .iter()
                .map(|c| {
                    let members: Vec<String> = c.members.iter().map(|n| n.to_string()).collect();
                    serde_json::json!({"audience": c.audience.as_str(), "members": members, "epoch": c.epoch})
                })
                .collect(),
        ));
        return Ok(());
    }
    let names = crate::cli::words::Names::load(&mut node);
    for c in circles {
        let who: Vec<String> = c.members.iter().map(|n| names.of(n)).collect();
        let key = match c.epoch {
            None => "no key yet".to_string(),
            Some(0) => "its first key".to_string(),
            Some(e) => format!("key epoch {e}"),
        };
        let who = if c.audience == caravan::Audience::FriendsOfFriends {
            "your friends and their friends".to_string()
        } else if who.is_empty() {
            "nobody".to_string()
        } else {
            who.join(", ")
        };
        outln!("{}: {who}  ({key})", c.audience);
    }
    Ok(())
}
