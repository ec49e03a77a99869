//! `caravan contact`: adding contacts from their cards and listing them.

use std::path::Path;

use super::{card, open, who};
use crate::cli::args::ContactCommand;
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
            match (audience.is_empty(), left.as_slice()) {
                (true, _) => outln!("Forgot {name} as a contact."),
                (false, []) => outln!("{name} was in none of these audiences; nothing changed."),
                (false, l) => outln!(
                    "Took {name} out of {}. They keep the key they were given: what that audience reads stays \
                     readable to them until its key changes.",
                    list(l)
                ),
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
