//! `caravan post` and `caravan feed`: a community's posts.

use std::path::Path;

use super::{community, open};
use crate::cli::output::outln;
use crate::cli::output::{error_text, print_json};
use crate::cli::words::{Names, when};

/// Posts `text` to the community `c`.
pub(crate) fn post(home: &Path, c: &str, text: &str, friends_of_members: bool, public: bool) -> Result<(), String> {
    let mut node = open(home)?;
    let cid = community(&mut node, c)?;
    if public {
        node.post_public(&cid, text).map_err(error_text)?;
        outln!("Posted publicly: anyone who follows the community reads it; it leaves with your next sync.");
        Ok(())
    } else if friends_of_members {
        node.post_for_friends_of_members(&cid, text).map_err(error_text)?;
        outln!("Posted for the members and their friends; it leaves with your next sync.");
        Ok(())
    } else {
        node.post(&cid, text).map_err(error_text)
    }
}

/// Prints the community `c`'s posts.
pub(crate) fn feed(home: &Path, c: &str, friends_of_members: bool, public: bool, json: bool) -> Result<(), String> {
    let mut node = open(home)?;
    let cid = community(&mut node, c)?;
    let posts = if friends_of_members {
        node.friends_of_members_posts(&cid)
    } else if public {
        node.public_posts(&cid)
    } else {
        node.feed(&cid)
    };
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

/// Prints the public posts of everything followed, newest first.
pub(crate) fn following(home: &Path, json: bool) -> Result<(), String> {
    let mut node = open(home)?;
    let all = node.following_feed().map_err(error_text)?;
    if json {
        print_json(serde_json::Value::Array(
            all.iter()
                .map(|(f, p)| {
                    let source = match f {
                        caravan::Followed::Node(n) => serde_json::json!({"node": n.to_string()}),
                        caravan::Followed::Community(c) => serde_json::json!({"community": c.to_string()}),
                    };
                    serde_json::json!({"source": source, "author": p.author, "at_unix_ms": p.at_unix_ms, "text": p.text})
                })
                .collect(),
        ));
        return Ok(());
    }
    if all.is_empty() {
        let n = node.following().map_err(error_text)?.len();
        if n == 0 {
            outln!("You follow nobody yet (`caravan follow NAME`).");
        } else {
            outln!("Nothing public yet from the {} you follow.", crate::cli::words::count(n, "source", "sources"));
        }
        return Ok(());
    }
    let names = Names::load(&mut node);
    let now = node.now();
    for (f, p) in all {
        let who = caravan::NodeId::parse(&p.author).map_or_else(|| p.author.clone(), |id| names.of(&id));
        let place = match f {
            caravan::Followed::Node(_) => String::new(),
            caravan::Followed::Community(c) => match node.community_name(&c).ok().flatten() {
                Some(name) if !name.is_empty() => format!(" in {name}"),
                _ => String::new(),
            },
        };
        outln!("{}, {who}{place}: {}", when(p.at_unix_ms, now), p.text);
    }
    Ok(())
}
