//! `caravan community`: creating communities, inviting, listing members and invitations,
//! and accepting them.

use std::path::Path;

use super::{card, community, open};
use crate::cli::args::CommunityCommand;
use crate::cli::output::outln;
use crate::cli::output::{error_text, print_json};
use crate::cli::words::Names;

pub(crate) fn run(home: &Path, command: CommunityCommand) -> Result<(), String> {
    match command {
        CommunityCommand::Create { name, description } => {
            let cid = open(home)?.create_community(&name, &description).map_err(error_text)?;
            outln!("Created {name:?}. Commands take its name or its id; invitations carry the id:");
            outln!("{cid}");
        }
        CommunityCommand::Invite { community: c, card: k, role } => {
            let mut node = open(home)?;
            let k = card(&k)?;
            let cid = community(&mut node, &c)?;
            node.invite(&cid, &k, role).map_err(error_text)?;
            let name = node.communities().map_err(error_text)?.into_iter().find(|x| x.id == cid).map(|x| x.name);
            outln!(
                "Invited {} as {} of {}; the invitation leaves with your next sync (a stick or a live link).",
                k.name,
                role.with_article(),
                name.unwrap_or_else(|| cid.to_string())
            );
        }
        CommunityCommand::List { json, verbose } => {
            let list = open(home)?.communities().map_err(error_text)?;
            if json {
                print_json(serde_json::Value::Array(
                    list.iter()
                        .map(|c| serde_json::json!({"id": c.id.to_string(), "name": c.name, "role": c.role.as_str()}))
                        .collect(),
                ));
            } else if list.is_empty() {
                outln!("No communities yet: found one with `caravan community create NAME`, or accept an invitation.");
            } else {
                for c in list {
                    if verbose {
                        outln!("{}  ({})  {}", c.name, c.role, c.id);
                    } else {
                        outln!("{}  ({})", c.name, c.role);
                    }
                }
            }
        }
        CommunityCommand::Members { community: c, json } => {
            let mut node = open(home)?;
            let cid = community(&mut node, &c)?;
            let list = node.members(&cid).map_err(error_text)?;
            if json {
                print_json(serde_json::Value::Array(
                    list.iter()
                        .map(|(n, r, name)| serde_json::json!({"node": n, "role": r.as_str(), "name": name}))
                        .collect(),
                ));
            } else {
                let me = node.node_id().to_string();
                for (n, r, name) in list {
                    outln!("{name}{}  ({r})", if n == me { " (you)" } else { "" });
                }
            }
        }
        CommunityCommand::Invites { json } => {
            let mut node = open(home)?;
            let list = node.invites().map_err(error_text)?;
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
                outln!("No invitations waiting.");
            } else {
                let names = Names::load(&mut node);
                for i in list {
                    outln!(
                        "{:?}, as {}, from {}: accept with `caravan community accept {}`",
                        i.name,
                        i.role.with_article(),
                        names.of(&i.from),
                        i.id
                    );
                }
            }
        }
        CommunityCommand::Accept { id } => {
            let mut node = open(home)?;
            let cid = node.accept_invite(&id).map_err(error_text)?;
            let name = node.communities().map_err(error_text)?.into_iter().find(|x| x.id == cid).map(|x| x.name);
            outln!("Joined {}.", name.unwrap_or_else(|| cid.to_string()));
        }
    }
    Ok(())
}
