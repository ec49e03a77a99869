//! `caravan post` and `caravan feed`: a community's posts.

use std::path::Path;

use super::{community, open};
use crate::cli::output::outln;
use crate::cli::output::{error_text, print_json};
use crate::cli::words::{Names, when};

/// Posts `text` to the community `c`.
pub(crate) fn post(home: &Path, c: &str, text: &str) -> Result<(), String> {
    let mut node = open(home)?;
    let cid = community(&mut node, c)?;
    node.post(&cid, text).map_err(error_text)
}

/// Prints the community `c`'s posts.
pub(crate) fn feed(home: &Path, c: &str, json: bool) -> Result<(), String> {
    let mut node = open(home)?;
    let cid = community(&mut node, c)?;
    let posts = node.feed(&cid).map_err(error_text)?;
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
