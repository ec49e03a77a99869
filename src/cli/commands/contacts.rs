//! `caravan contact`: adding contacts from their cards and listing them.

use std::path::Path;

use super::{card, open};
use crate::cli::args::ContactCommand;
use crate::cli::output::outln;
use crate::cli::output::{error_text, print_json};

pub(crate) fn run(home: &Path, command: ContactCommand) -> Result<(), String> {
    match command {
        ContactCommand::Add { card: c, audience } => {
            let mut node = open(home)?;
            let c = card(&c)?;
            node.add_contact(&c, &audience).map_err(error_text)?;
            outln!("added {} ({})", c.name, c.node_id());
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
                for c in contacts {
                    let aud: Vec<&str> = c.audiences.iter().map(|a| a.as_str()).collect();
                    outln!("{}  {}  {}", c.card.node_id(), c.card.name, aud.join(","));
                }
            }
        }
    }
    Ok(())
}
