//! `caravan community`: creating communities, inviting, listing members and invitations,
//! and accepting them.

use std::path::Path;

use caravan::NodeId;
use caravan::authority::{Action, Entry, Outcome};

use super::{card, community, open, who};
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
                        .map(|c| {
                            serde_json::json!({
                                "id": c.id.to_string(), "name": c.name, "role": c.role.as_str(), "removed": c.removed,
                            })
                        })
                        .collect(),
                ));
            } else if list.is_empty() {
                outln!("No communities yet: found one with `caravan community create NAME`, or accept an invitation.");
            } else {
                for c in list {
                    let role = if c.removed { "no longer a member".to_string() } else { c.role.to_string() };
                    if verbose {
                        outln!("{}  ({role})  {}", c.name, c.id);
                    } else {
                        outln!("{}  ({role})", c.name);
                    }
                }
            }
        }
        CommunityCommand::Members { community: c, json } => {
            let mut node = open(home)?;
            let cid = community(&mut node, &c)?;
            let list = node.members(&cid).map_err(error_text)?;
            let hidden: std::collections::HashSet<String> =
                node.quarantined(&cid).map_err(error_text)?.iter().map(ToString::to_string).collect();
            if json {
                print_json(serde_json::Value::Array(
                    list.iter()
                        .map(|(n, r, name)| {
                            serde_json::json!({
                                "node": n, "role": r.as_str(), "name": name, "quarantined": hidden.contains(n),
                            })
                        })
                        .collect(),
                ));
            } else {
                let me = node.node_id().to_string();
                for (n, r, name) in list {
                    let you = if n == me { " (you)" } else { "" };
                    let q = if hidden.contains(&n) { ", quarantined" } else { "" };
                    outln!("{name}{you}  ({r}{q})");
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
        CommunityCommand::Remove { community: c, member } => {
            let mut node = open(home)?;
            let cid = community(&mut node, &c)?;
            let id = who(&mut node, &member)?;
            let names = Names::load(&mut node);
            let (them, place) = (names.of(&id), community_name(&mut node, &cid));
            let r = node.remove_member(&cid, &id).map_err(error_text)?;
            outln!(
                "Removed {them} from {place}. A new key (epoch {}) goes to the {} remaining {} with your next sync: \
                 nothing sealed from now on is readable by {them}; what was shared before stays readable to them.",
                r.epoch,
                r.rekeyed,
                if r.rekeyed == 1 { "member" } else { "members" }
            );
            if !r.unreachable.is_empty() {
                let list: Vec<String> = r.unreachable.iter().map(|n| names.of(n)).collect();
                outln!(
                    "This node does not know the key of {}: they get the new key when an owner who does rekeys, \
                     or when invited again.",
                    list.join(", ")
                );
            }
        }
        CommunityCommand::Role { community: c, member, role } => {
            let mut node = open(home)?;
            let cid = community(&mut node, &c)?;
            let id = who(&mut node, &member)?;
            let them = Names::load(&mut node).of(&id);
            node.set_member_role(&cid, &id, role).map_err(error_text)?;
            let place = community_name(&mut node, &cid);
            outln!("{them} is now {} of {place}; everyone hears it with your next sync.", role.with_article());
        }
        CommunityCommand::Quarantine { community: c, member } => quarantine(home, &c, &member, true)?,
        CommunityCommand::Release { community: c, member } => quarantine(home, &c, &member, false)?,
        CommunityCommand::Link { community: c, other, shares } => super::links::link(home, &c, &other, &shares)?,
        CommunityCommand::Links { community: c, json } => super::links::list(home, &c, json)?,
        CommunityCommand::Unlink { community: c, other } => super::links::unlink(home, &c, &other)?,
        CommunityCommand::Certifier { community: c, member, remove } => {
            let mut node = open(home)?;
            let cid = community(&mut node, &c)?;
            let who = super::who(&mut node, &member)?;
            node.set_certifier(&cid, &who, !remove).map_err(error_text)?;
            let name = Names::load(&mut node).of(&who);
            if remove {
                outln!(
                    "{name} no longer certifies for {}; it leaves with your next sync.",
                    community_name(&mut node, &cid)
                );
            } else {
                outln!("{name} now certifies for {}; it leaves with your next sync.", community_name(&mut node, &cid));
            }
        }
        CommunityCommand::Threshold { community: c, k } => {
            let mut node = open(home)?;
            let cid = community(&mut node, &c)?;
            node.set_certification_threshold(&cid, k).map_err(error_text)?;
            outln!(
                "Certificates of {} now need {}; it leaves with your next sync.",
                community_name(&mut node, &cid),
                caravan::words::count(usize::from(k), "certifier's signature", "certifiers' signatures")
            );
        }
        CommunityCommand::Leave { community: c } => {
            let mut node = open(home)?;
            let cid = community(&mut node, &c)?;
            let place = community_name(&mut node, &cid);
            node.leave_community(&cid).map_err(error_text)?;
            outln!(
                "You left {place}. The members hear it with your next sync and stop sending you anything new; \
                 what you have stays readable here."
            );
        }
        CommunityCommand::Log { community: c, json } => {
            let mut node = open(home)?;
            let cid = community(&mut node, &c)?;
            let state = node.authority(&cid).map_err(error_text)?;
            if json {
                print_json(serde_json::Value::Array(state.log.iter().map(log_json).collect()));
            } else {
                let names = Names::load(&mut node);
                for e in &state.log {
                    outln!("{}", log_line(&names, e));
                }
                for (who, n) in node.set_aside(&cid).map_err(error_text)? {
                    outln!(
                        "Set aside, kept for audit and not shown: {n} {} by {}, made before they heard of their \
                         removal or new role",
                        if n == 1 { "bundle" } else { "bundles" },
                        names.of(&who)
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

fn community_name(node: &mut caravan::Node, cid: &caravan::CommunityId) -> String {
    node.communities()
        .ok()
        .and_then(|l| l.into_iter().find(|x| x.id == *cid))
        .map_or_else(|| cid.to_string(), |c| c.name)
}

/// One operation of the log, in words.
fn log_line(names: &Names, e: &Entry) -> String {
    let by = names.of(&NodeId::from_signing_public(&e.author));
    let of = |pk: &[u8; 32]| names.of(&NodeId::from_signing_public(pk));
    let what = match &e.action {
        Action::Add { member, role, .. } if *member == e.author => {
            format!("{by} founded it, as {}", role.with_article())
        }
        Action::Add { member, role, .. } => format!("{by} invited {} as {}", of(member), role.with_article()),
        Action::SetRole { member, role } => format!("{by} made {} {}", of(member), role.with_article()),
        Action::Remove { member } => format!("{by} removed {}", of(member)),
        Action::Leave => format!("{by} left"),
        Action::Quarantine { member } => format!("{by} quarantined {}", of(member)),
        Action::Release { member } => format!("{by} lifted the quarantine of {}", of(member)),
        Action::Rekey => format!("{by} gave the members a new key"),
        Action::Certifier { member, on: true } => format!("{by} made {} a certifier", of(member)),
        Action::Certifier { member, on: false } => format!("{by} made {} no longer a certifier", of(member)),
        Action::Threshold { k } => {
            format!(
                "{by} set certificates to need {}",
                caravan::words::count(usize::from(*k), "signature", "signatures")
            )
        }
    };
    match &e.outcome {
        Outcome::Applied => what,
        Outcome::Void(reason) => format!("{what}: void, {reason}"),
        Outcome::Waiting => format!("{what}: waiting for earlier changes of the log"),
    }
}

fn log_json(e: &Entry) -> serde_json::Value {
    let node = |pk: &[u8; 32]| NodeId::from_signing_public(pk).to_string();
    let (role, member) = match &e.action {
        Action::Add { member, role, .. } | Action::SetRole { member, role } => {
            (Some(role.as_str()), Some(node(member)))
        }
        Action::Remove { member }
        | Action::Quarantine { member }
        | Action::Release { member }
        | Action::Certifier { member, .. } => (None, Some(node(member))),
        Action::Leave | Action::Rekey | Action::Threshold { .. } => (None, None),
    };
    let (outcome, reason) = match &e.outcome {
        Outcome::Applied => ("applied", None),
        Outcome::Void(r) => ("void", Some(*r)),
        Outcome::Waiting => ("waiting", None),
    };
    serde_json::json!({
        "id": caravan::store::hex(&e.id), "by": node(&e.author), "action": e.action.name(),
        "member": member, "role": role, "outcome": outcome, "reason": reason,
    })
}

fn quarantine(home: &Path, c: &str, member: &str, on: bool) -> Result<(), String> {
    let mut node = open(home)?;
    let cid = community(&mut node, c)?;
    let id = who(&mut node, member)?;
    let them = Names::load(&mut node).of(&id);
    if on { node.quarantine(&cid, &id) } else { node.release(&cid, &id) }.map_err(error_text)?;
    let place = community_name(&mut node, &cid);
    if on {
        outln!(
            "Quarantined {them} in {place}: their posts and listings are hidden for everyone once they hear it \
             (with your next sync); what they send is kept for audit, not shown."
        );
    } else {
        outln!("Lifted the quarantine of {them} in {place}: what they sent shows again.");
    }
    Ok(())
}
