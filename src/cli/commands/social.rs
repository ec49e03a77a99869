//! `caravan review`, `reputation`, `follow`, `unfollow`, `following`: what others say of
//! a node, and whose public content to read.

use std::path::Path;

use caravan::{Followed, Tie};

use super::{community, open, who};
use crate::cli::output::{error_text, outln, print_json};
use crate::cli::words::{Names, count, when};

pub(crate) fn review(home: &Path, exchange: &str, rating: u8, text: &str) -> Result<(), String> {
    let mut node = open(home)?;
    let (r, _) = node.review(exchange, rating, text).map_err(error_text)?;
    let names = Names::load(&mut node);
    outln!(
        "You rated {} {} for exchange {}; the review leaves with your next sync.",
        names.of(&r.subject()),
        stars(r.rating),
        crate::cli::words::item(&r.exchange.id())
    );
    Ok(())
}

fn stars(n: u8) -> String {
    format!("{}{} ({n}/5)", "★".repeat(usize::from(n)), "☆".repeat(5 - usize::from(n.min(5))))
}

pub(crate) fn reputation(home: &Path, whom: &str, json: bool) -> Result<(), String> {
    let mut node = open(home)?;
    let id = who(&mut node, whom)?;
    let rep = node.reputation(&id).map_err(error_text)?;
    if json {
        let standing = |s: &caravan::Standing| {
            serde_json::json!({
                "counterparties": s.counterparties, "reviews": s.reviews,
                "distribution": s.distribution, "average": s.average,
            })
        };
        print_json(serde_json::json!({
            "node": id.to_string(),
            "tied": standing(&rep.tied),
            "untied": standing(&rep.untied),
            "reviews": rep.reviews.iter().map(|(r, tie)| serde_json::json!({
                "reviewer": r.reviewer.to_string(), "exchange": r.exchange.id(), "rating": r.rating,
                "text": r.text, "at_unix_ms": r.at_unix_ms,
                "tie": match tie { Tie::Contact => "contact", Tie::Community => "community", Tie::None => "none" },
            })).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    let names = Names::load(&mut node);
    let now = node.now();
    let name = names.of(&id);
    match rep.tied.average {
        Some(avg) => outln!(
            "{name}: {avg:.1} of 5 from {} you are tied to ({}).",
            count(rep.tied.counterparties, "counterparty", "counterparties"),
            spread(&rep.tied.distribution)
        ),
        None => outln!("{name}: no reviews from anyone you are tied to."),
    }
    for (r, tie) in rep.reviews.iter().filter(|(_, t)| *t != Tie::None) {
        let how = if *tie == Tie::Contact { "a contact" } else { "a member of your communities" };
        outln!(
            "  {} {} ({how}), {}: {}",
            stars(r.rating),
            names.of(&r.reviewer),
            when(r.at_unix_ms, now),
            words(&r.text)
        );
    }
    if rep.untied.reviews > 0 {
        outln!(
            "Apart, not counted: {} from {} you have no tie to ({}).",
            count(rep.untied.reviews, "review", "reviews"),
            count(rep.untied.counterparties, "node", "nodes"),
            spread(&rep.untied.distribution)
        );
    }
    Ok(())
}

fn spread(d: &[usize; 5]) -> String {
    (1..=5).rev().map(|i| format!("{i}★ {}", d[i - 1])).collect::<Vec<_>>().join(", ")
}

fn words(text: &str) -> String {
    if text.is_empty() { "(no words)".into() } else { format!("{text:?}") }
}

/// What `source` names: a community (by `--community` id, or the name of one of ours),
/// else a node.
fn source_of(node: &mut caravan::Node, source: &str, is_community: bool) -> Result<Followed, String> {
    if is_community {
        return community(node, source).map(Followed::Community);
    }
    let wanted = source.trim().to_lowercase();
    let ours: Vec<_> =
        node.communities().unwrap_or_default().into_iter().filter(|c| c.name.to_lowercase() == wanted).collect();
    if let [one] = ours.as_slice() {
        return Ok(Followed::Community(one.id));
    }
    // A bare id: a community's if its public part has reached this node (node and
    // community ids look alike), else a node's.
    if let Some(cid) = caravan::CommunityId::parse(source.trim())
        && node.community_name(&cid).ok().flatten().is_some_and(|n| !n.is_empty())
    {
        return Ok(Followed::Community(cid));
    }
    who(node, source).map(Followed::Node)
}

pub(crate) fn follow(home: &Path, source: &str, is_community: bool, on: bool) -> Result<(), String> {
    let mut node = open(home)?;
    let src = source_of(&mut node, source, is_community)?;
    let what = describe(&mut node, &src);
    if on {
        let followed = match caravan::ContactCard::parse(source) {
            Ok(card) => node.follow_card(&card),
            Err(_) => node.follow(src),
        };
        if followed.map_err(error_text)? {
            outln!("Following {what}: every sync now brings its public content, whoever carries it.");
        } else {
            outln!("You follow {what} already.");
        }
    } else if node.unfollow(src).map_err(error_text)? {
        outln!("No longer following {what}.");
    } else {
        outln!("You do not follow {what}.");
    }
    Ok(())
}

fn describe(node: &mut caravan::Node, f: &Followed) -> String {
    match f {
        Followed::Node(n) => Names::load(node).of(n),
        Followed::Community(c) => match node.community_name(c).ok().flatten() {
            Some(name) if !name.is_empty() => format!("the community {name}"),
            _ => format!("a community not heard of yet ({}…)", &c.to_string()[..8]),
        },
    }
}

pub(crate) fn following(home: &Path, budget: Option<&str>, json: bool) -> Result<(), String> {
    let mut node = open(home)?;
    if let Some(b) = budget {
        let bytes = caravan::config::parse_size(b).map_err(|e| format!("--budget {b:?}: {e}"))?;
        node.set_follow_budget(bytes).map_err(error_text)?;
        outln!("You keep and pass on at most {} of each source you follow.", caravan::words::human_bytes(bytes));
        return Ok(());
    }
    let list = node.following().map_err(error_text)?;
    let usage = node.followed_usage().map_err(error_text)?;
    let kept = |f: &Followed| usage.iter().find(|(u, _, _)| u == f).map(|(_, b, n)| (*b, *n));
    if json {
        print_json(serde_json::Value::Array(
            list.iter()
                .map(|f| {
                    let mut v = match f {
                        Followed::Node(n) => serde_json::json!({"node": n.to_string()}),
                        Followed::Community(c) => serde_json::json!({"community": c.to_string()}),
                    };
                    if let Some((bytes, bundles)) = kept(f) {
                        v["kept_bytes"] = bytes.into();
                        v["kept_bundles"] = bundles.into();
                    }
                    v
                })
                .collect(),
        ));
        return Ok(());
    }
    if list.is_empty() {
        outln!("You follow nobody yet (`caravan follow NAME`).");
        return Ok(());
    }
    for f in &list {
        let d = describe(&mut node, f);
        match kept(f) {
            Some((bytes, _)) => outln!("{d} ({} kept)", caravan::words::human_bytes(bytes)),
            None => outln!("{d}"),
        }
    }
    let budget = node.follow_budget().map_err(error_text)?;
    outln!("(You keep and pass on at most {} of each.)", caravan::words::human_bytes(budget));
    Ok(())
}
