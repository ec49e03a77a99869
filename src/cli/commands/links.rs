//! `caravan community link|links|unlink`: formal links between communities.

use std::path::Path;

use caravan::{LinkStatus, LinkView};

use super::{community, open};
use crate::cli::output::{error_text, outln, print_json};

fn name(v: &LinkView) -> String {
    match &v.other_name {
        Some(n) if !n.is_empty() => n.clone(),
        _ => format!("a community not heard of yet ({}…)", &v.other.to_string()[..8]),
    }
}

pub(crate) fn link(home: &Path, c: &str, other: &str, shares: &[String]) -> Result<(), String> {
    let mut node = open(home)?;
    let mine = community(&mut node, c)?;
    let other = community(&mut node, other)?;
    let v = node.link_communities(&mine, &other, shares).map_err(error_text)?;
    let what = v.shares.join(", ");
    match v.state {
        LinkStatus::Linked => outln!("Linked with {}, sharing {what}; it leaves with your next sync.", name(&v)),
        _ => outln!(
            "Proposed a link with {} sharing {what}; it holds once an owner there runs `caravan community link \
             THEIRS {mine} --share ...` with the same shares. It leaves with your next sync.",
            name(&v)
        ),
    }
    Ok(())
}

pub(crate) fn unlink(home: &Path, c: &str, other: &str) -> Result<(), String> {
    let mut node = open(home)?;
    let mine = community(&mut node, c)?;
    let other = community(&mut node, other)?;
    node.unlink_communities(&mine, &other).map_err(error_text)?;
    outln!("Unlinked: nothing new flows between the two communities after your next sync.");
    Ok(())
}

pub(crate) fn list(home: &Path, c: &str, json: bool) -> Result<(), String> {
    let mut node = open(home)?;
    let cid = community(&mut node, c)?;
    let all = node.community_links(&cid).map_err(error_text)?;
    let state = |s: LinkStatus| match s {
        LinkStatus::ProposedByUs => "proposed by us",
        LinkStatus::ProposedToUs => "proposed to us",
        LinkStatus::Linked => "linked",
        LinkStatus::Ended { by_us: true } => "ended by us",
        LinkStatus::Ended { by_us: false } => "ended by them",
    };
    if json {
        print_json(serde_json::Value::Array(
            all.iter()
                .map(|v| {
                    serde_json::json!({"id": v.id, "other": v.other.to_string(), "other_name": v.other_name,
                        "shares": v.shares, "state": state(v.state)})
                })
                .collect(),
        ));
        return Ok(());
    }
    if all.is_empty() {
        outln!("No links yet (`caravan community link {c} OTHER --share market`).");
    }
    for v in &all {
        outln!("{}: {}, sharing {}", name(v), state(v.state), v.shares.join(", "));
    }
    Ok(())
}
