//! `caravan kinds` and `caravan show`: document kinds, and any document as its kind reads.

use std::path::Path;

use caravan::plugin::{self, Home, Writers};

use super::{community, open};
use crate::cli::output::outln;
use crate::cli::output::{error_text, print_json};

/// Prints the document kinds this program knows.
pub(crate) fn list(json: bool) -> Result<(), String> {
    let kinds = plugin::registry::all();
    let home = |h: Home| match h {
        Home::Members => "a community's members",
        Home::CommunityPublic => "anyone (a community's public part)",
        Home::Profile => "a profile's audience",
        Home::FriendsOfMembers => "a community's members and their friends",
    };
    let writers = |w: Writers| match w {
        Writers::Owners => "owners",
        Writers::Editors => "owners and editors",
        Writers::Members => "every member",
        Writers::ProfileOwner => "the profile's owner",
    };
    if json {
        print_json(serde_json::Value::Array(
            kinds
                .iter()
                .map(|k| {
                    serde_json::json!({
                        "name": k.name(),
                        "version": k.version(),
                        "readers": home(k.home()),
                        "writers": writers(k.writers()),
                        "per_item_rule": k.inspects_ops(),
                    })
                })
                .collect(),
        ));
    } else {
        for k in kinds {
            outln!("{:<14} read by {}; written by {}", k.name(), home(k.home()), writers(k.writers()));
        }
    }
    Ok(())
}

/// Prints community `c`'s document of kind `kind`, as the kind shows it.
pub(crate) fn show(home: &Path, c: &str, kind: &str) -> Result<(), String> {
    let mut node = open(home)?;
    let cid = community(&mut node, c)?;
    let page = kind.strip_prefix("wiki/");
    let lines = match page {
        // A page by its name is easier to type than by its id.
        Some(name) if caravan::doc::Part::parse(kind).is_none() => {
            match node.wiki_page(&cid, name).map_err(error_text)? {
                Some(t) => t.lines().map(str::to_string).collect(),
                None => return Err(format!("no page {name:?} (or you cannot read this community)")),
            }
        }
        _ => {
            let k = plugin::find(kind.split('/').next().unwrap_or(kind))
                .filter(|_| !kind.contains('/'))
                .ok_or_else(|| format!("this program knows no document kind {kind:?} (see `caravan kinds`)"))?;
            node.read_kind(&cid, kind, |d| k.show(d)).map_err(error_text)?
        }
    };
    if lines.is_empty() {
        outln!("(empty)");
    }
    for l in lines {
        outln!("{l}");
    }
    Ok(())
}
