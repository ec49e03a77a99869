//! `caravan exchange`: agreeing on a market listing, one signed step at a time.

use std::path::Path;

use caravan::plugin::exchange::{Exchange, StepKind};

use super::open;
use crate::cli::args::ExchangeCommand;
use crate::cli::output::outln;
use crate::cli::output::{error_text, print_json};
use crate::cli::words::{Names, item};

pub(crate) fn run(home: &Path, command: ExchangeCommand) -> Result<(), String> {
    let mut node = open(home)?;
    let step = match command {
        ExchangeCommand::Propose { listing, note } => {
            let (id, _) = node.propose_exchange(&listing, &note).map_err(error_text)?;
            outln!("Proposed exchange {}; it leaves with your next sync.", item(&id));
            return Ok(());
        }
        ExchangeCommand::List { json } => return list(&mut node, json),
        ExchangeCommand::Accept { id } => (id, StepKind::Accepted),
        ExchangeCommand::Complete { id } => (id, StepKind::Completed),
        ExchangeCommand::Cancel { id } => (id, StepKind::Cancelled),
    };
    let (x, _) = node.exchange_step(&step.0, step.1).map_err(error_text)?;
    let names = Names::load(&mut node);
    outln!(
        "Exchange {} with {} is now {}; it leaves with your next sync.",
        item(&x.id),
        other(&names, &node, &x),
        x.state.as_str()
    );
    Ok(())
}

/// The other party, by name.
fn other(names: &Names, node: &caravan::Node, x: &Exchange) -> String {
    if x.proposer == node.node_id() { names.of(&x.seller) } else { names.of(&x.proposer) }
}

fn list(node: &mut caravan::Node, json: bool) -> Result<(), String> {
    let me = node.node_id();
    let mut all = node.exchanges().map_err(error_text)?;
    let reviewed = node.reviewed().map_err(error_text)?;
    // Ours first.
    all.sort_by_key(|(_, x)| !x.has_party(&me));
    if json {
        print_json(serde_json::Value::Array(
            all.iter()
                .map(|(cid, x)| {
                    serde_json::json!({
                        "id": x.id, "handle": item(&x.id), "community": cid.to_string(), "listing": x.listing,
                        "proposer": x.proposer.to_string(), "seller": x.seller.to_string(),
                        "note": x.note, "proposed_unix_ms": x.proposed_unix_ms, "state": x.state.as_str(),
                        "completed_by": x.completed_by.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>(),
                        "reviewed_by_me": reviewed.contains(&x.reference()),
                    })
                })
                .collect(),
        ));
        return Ok(());
    }
    if all.is_empty() {
        outln!("No exchanges yet (`caravan exchange propose LISTING`).");
        return Ok(());
    }
    let names = Names::load(node);
    // Listings by their titles where they are still listed.
    let mut titles: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for cid in all.iter().map(|(c, _)| *c).collect::<std::collections::BTreeSet<_>>() {
        for (_, l) in node.listings(&cid).map_err(error_text)? {
            titles.insert(l.id.clone(), format!("{:?} ({})", l.listing.title, item(&l.id)));
        }
    }
    for (_, x) in &all {
        let note = if x.note.is_empty() { String::new() } else { format!(": {:?}", x.note) };
        let listing = titles.get(&x.listing).cloned().unwrap_or_else(|| item(&x.listing));
        outln!(
            "{} {} between {} and {} about listing {}{note}",
            item(&x.id),
            x.state.as_str(),
            names.of(&x.proposer),
            names.of(&x.seller),
            listing
        );
        if x.state == caravan::plugin::exchange::State::Completed
            && x.has_party(&me)
            && !reviewed.contains(&x.reference())
        {
            outln!("    not reviewed by you yet: `caravan review {} --rating 1-5`", item(&x.id));
        }
    }
    Ok(())
}
