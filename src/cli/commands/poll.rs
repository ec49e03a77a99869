//! `caravan poll` and `caravan vote`: questions to a community, open ballots, a count any
//! member can check.

use std::path::Path;

use caravan::PollView;

use super::{community, open};
use crate::cli::args::PollCommand;
use crate::cli::output::{error_text, outln, print_json};
use crate::cli::words::{Names, count, item, when};

pub(crate) fn run(home: &Path, command: PollCommand) -> Result<(), String> {
    let mut node = open(home)?;
    match command {
        PollCommand::Create { community: c, question, options, closes } => {
            let cid = community(&mut node, &c)?;
            let closes = closes.map(|d| node.now() + u64::from(d) * 86_400_000);
            let p = node.create_poll(&cid, &question, &options, closes).map_err(error_text)?;
            outln!(
                "Asked poll {}; it leaves with your next sync. Vote with `caravan vote {} OPTION`.",
                item(&p.id()),
                item(&p.id())
            );
        }
        PollCommand::List { community: c, json } => {
            let cid = c.map(|c| community(&mut node, &c)).transpose()?;
            let all = node.polls(cid.as_ref()).map_err(error_text)?;
            if json {
                print_json(serde_json::Value::Array(all.iter().map(to_json).collect()));
                return Ok(());
            }
            if all.is_empty() {
                outln!("No polls yet (`caravan poll create COMMUNITY QUESTION --option A --option B`).");
            }
            let now = node.now();
            for v in &all {
                let state = if v.closed() { "closed" } else { "open" };
                outln!(
                    "{} {state}, asked {}: {:?} ({})",
                    item(&v.poll.id.id()),
                    when(v.poll.at_unix_ms, now),
                    v.poll.question,
                    count(v.tally.counted.len(), "vote", "votes")
                );
            }
        }
        PollCommand::Show { poll, json } => {
            let v = node.poll(&poll).map_err(error_text)?;
            if json {
                print_json(to_json(&v));
                return Ok(());
            }
            show(&mut node, &v);
        }
        PollCommand::Close { poll } => {
            let v = node.close_poll(&poll).map_err(error_text)?;
            outln!("Closed poll {}; the count leaves with your next sync.", item(&v.poll.id.id()));
            show(&mut node, &v);
        }
    }
    Ok(())
}

pub(crate) fn vote(home: &Path, poll: &str, option: &str) -> Result<(), String> {
    let mut node = open(home)?;
    let (v, i) = node.vote(poll, option).map_err(error_text)?;
    outln!("You voted {:?} in poll {}; it leaves with your next sync.", v.poll.options[i], item(&v.poll.id.id()));
    Ok(())
}

fn show(node: &mut caravan::Node, v: &PollView) {
    let names = Names::load(node);
    let p = &v.poll;
    outln!("{} (asked by {}, {})", p.question, names.of(&p.id.author), when(p.at_unix_ms, node.now()));
    // A closed poll reads as counted: the close's numbers, the recount's voters.
    let (counts, counted) = match (&p.close, &v.recount) {
        (Some(c), Some(r)) => (&c.counts, &r.tally.counted),
        (Some(c), None) => (&c.counts, &v.tally.counted),
        (None, _) => (&v.tally.counts, &v.tally.counted),
    };
    for (i, o) in p.options.iter().enumerate() {
        let voters: Vec<String> = counted.iter().filter(|(_, x)| *x == i).map(|(n, _)| names.of(n)).collect();
        let n = counts.get(i).copied().unwrap_or(0) as usize;
        let who = if voters.is_empty() { String::new() } else { format!(" ({})", voters.join(", ")) };
        outln!("  {}. {o}: {}{who}", i + 1, count(n, "vote", "votes"));
    }
    outln!(
        "Voted: {} of the {} who may vote (the members when it was asked).",
        counted.len(),
        count(v.eligible.len(), "member", "members")
    );
    if !v.authority_complete {
        outln!("Part of the membership log it cites has not reached this node yet: some voters may show later.");
    }
    match (&p.close, &v.recount) {
        (None, _) => outln!("Open: an owner closes it (`caravan poll close {}`).", item(&p.id.id())),
        (Some(_), Some(r)) if r.matches => outln!(
            "Closed. Your recount of the {} counted matches the owner's count.",
            count(r.tally.counted.len(), "vote", "votes")
        ),
        (Some(_), Some(_)) => {
            outln!("Closed, but your recount does NOT match the owner's count: the close misstates the votes.")
        }
        (Some(_), None) => {
            outln!("Closed; the votes it counted have not all reached this node yet, so it cannot be recounted here.")
        }
    }
}

fn to_json(v: &PollView) -> serde_json::Value {
    let hex = |b: &[u8; 32]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let p = &v.poll;
    serde_json::json!({
        "id": p.id.id(), "handle": item(&p.id.id()), "community": v.community.to_string(), "question": p.question,
        "options": p.options, "asked_unix_ms": p.at_unix_ms, "closes_unix_ms": p.closes_unix_ms,
        "eligible": v.eligible.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        "authority_complete": v.authority_complete,
        "tally": {
            "counts": v.tally.counts, "root": hex(&v.tally.root),
            "counted": v.tally.counted.iter().map(|(n, i)| serde_json::json!({"voter": n.to_string(), "option": i})).collect::<Vec<_>>(),
        },
        "close": p.close.as_ref().map(|c| serde_json::json!({"counts": c.counts, "root": hex(&c.root), "heads": c.heads.iter().map(hex).collect::<Vec<_>>()})),
        "recount": v.recount.as_ref().map(|r| serde_json::json!({"counts": r.tally.counts, "root": hex(&r.tally.root), "matches": r.matches})),
    })
}
