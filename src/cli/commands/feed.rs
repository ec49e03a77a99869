//! `caravan post` and `caravan feed`: a community's posts.

use std::path::Path;

use super::{community, open};
use crate::cli::output::outln;
use crate::cli::output::{error_text, print_json};
use crate::cli::words::{Names, when};

/// Posts `text` to the community `c`.
pub(crate) fn post(home: &Path, c: &str, text: &str, friends_of_members: bool) -> Result<(), String> {
    let mut node = open(home)?;
    let cid = community(&mut node, c)?;
    if friends_of_members {
        node.post_for_friends_of_members(&cid, text).map_err(error_text)?;
        outln!("Posted for the members and their friends; it leaves with your next sync.");
        Ok(())
    } else {
        node.post(&cid, text).map_err(error_text)
    }
}

/// Prints the community `c`'s posts.
pub(crate) fn feed(home: &Path, c: &str, friends_of_members: bool, json: bool) -> Result<(), String> {
    let mut node = open(home)?;
    let cid = community(&mut node, c)?;
    let posts = if friends_of_members { node.friends_of_members_posts(&cid) } else { node.feed(&cid) };
    let posts = posts.map_err(error_text)?;
    if json {
        print_json(serde_json::Value::Array(
            posts
                .iter()
                .map(|p| serde_json::json!({"author": p.author, "at_unix_ms": p.at_unix_ms, "text": p.text}))
                .collect(),
        ));
    } else if posts.is_empty() {
        outln!("No posts yet.");
    } else {
        let names = Names::load(&mut node);
        let now = node.now();
        for p in posts {
            let who = caravan::NodeId::parse(&p.author).map_or_else(|| p.author.clone(), |id| names.of(&id));
            outln!("{}, {who}: {}", when(p.at_unix_ms, now), p.text);
        }
    }
    Ok(())
}
