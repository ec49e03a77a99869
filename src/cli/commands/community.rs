//! `caravan community`: creating communities, inviting, listing members and invitations,
//! and accepting them.

use std::path::Path;

use super::{card, community, open};
use crate::cli::args::CommunityCommand;
use crate::cli::output::outln;
use crate::cli::output::{error_text, print_json};

pub(crate) fn run(home: &Path, command: CommunityCommand) -> Result<(), String> {
    match command {
        CommunityCommand::Create { name, description } => {
            let cid = open(home)?.create_community(&name, &description).map_err(error_text)?;
            outln!("created community {name:?}");
            outln!("{cid}");
        }
        CommunityCommand::Invite { community: c, card: k, role } => {
            let mut node = open(home)?;
            let k = card(&k)?;
            node.invite(&community(&c)?, &k, role).map_err(error_text)?;
            outln!("invited {} as {role}; the invitation leaves with the next export", k.name);
        }
        CommunityCommand::List { json } => {
            let list = open(home)?.communities().map_err(error_text)?;
            if json {
                print_json(serde_json::Value::Array(
                    list.iter()
                        .map(|c| serde_json::json!({"id": c.id.to_string(), "name": c.name, "role": c.role.as_str()}))
                        .collect(),
                ));
            } else {
                for c in list {
                    outln!("{}  {}  ({})", c.id, c.name, c.role);
                }
            }
        }
        CommunityCommand::Members { community: c, json } => {
            let list = open(home)?.members(&community(&c)?).map_err(error_text)?;
            if json {
                print_json(serde_json::Value::Array(
                    list.iter()
                        .map(|(n, r, name)| serde_json::json!({"node": n, "role": r.as_str(), "name": name}))
                        .collect(),
                ));
            } else {
                for (n, r, name) in list {
                    outln!("{n}  {r}  {name}");
                }
            }
        }
        CommunityCommand::Invites { json } => {
            let list = open(home)?.invites().map_err(error_text)?;
            if json {
                print_json(serde_json::Value::Array(
                    list.iter()
                        .map(|i| {
                            serde_json::json!({
                                "id": i.id, "community": i.community.to_string(), "name": i.name,
                                "from": i.from.to_string(), "role": i.role.as_str(),
                            })
                        })
                        .collect(),
                ));
            } else if list.is_empty() {
                outln!("no invitations waiting");
            } else {
                for i in list {
                    outln!("{}  {} as {} from {}", i.id, i.name, i.role, i.from);
                }
            }
        }
        CommunityCommand::Accept { id } => {
            let cid = open(home)?.accept_invite(&id).map_err(error_text)?;
            outln!("joined {cid}");
        }
    }
    Ok(())
}
