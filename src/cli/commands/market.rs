//! `caravan market`: offers and requests in a community.

use std::collections::HashMap;
use std::path::Path;

use caravan::plugin::market::{Listing, ListingKind, NewListing, Price};

use super::{community, open};
use crate::cli::args::{ListingArgs, MarketCommand};
use crate::cli::output::outln;
use crate::cli::output::{error_text, print_json};
use crate::cli::words::item;

const DAY_MS: u64 = 24 * 3600 * 1000;

pub(crate) fn run(home: &Path, command: MarketCommand) -> Result<(), String> {
    match command {
        MarketCommand::Offer(a) => add(home, ListingKind::Offer, a),
        MarketCommand::Request(a) => add(home, ListingKind::Request, a),
        MarketCommand::List { community: c, json, search, mine, kind } => {
            let mut node = open(home)?;
            let cid = community(&mut node, &c)?;
            let names: HashMap<String, String> =
                node.members(&cid).map_err(error_text)?.into_iter().map(|(n, _, name)| (n, name)).collect();
            let me = node.node_id();
            let shown: Vec<(bool, Listing)> = node
                .listings(&cid)
                .map_err(error_text)?
                .into_iter()
                .filter(|(_, l)| search.as_deref().is_none_or(|s| caravan::plugin::market::matches(l, s)))
                .filter(|(_, l)| !mine || l.author == me)
                .filter(|(_, l)| kind.as_deref().is_none_or(|k| l.listing.kind.as_str() == k))
                .collect();
            // Certificates the community signed about its listings (`caravan certify`).
            let certs = node.certificates_in(&cid).map_err(error_text)?;
            let about = |l: &Listing| -> Vec<&caravan::CertView> {
                certs.iter().filter(|v| v.entry.statement.listing().as_deref() == Some(l.id.as_str())).collect()
            };
            // Listings of linked communities sharing their market (`caravan community link`).
            let linked: Vec<(caravan::CommunityId, Listing)> = node
                .linked_listings(&cid)
                .map_err(error_text)?
                .into_iter()
                .filter(|(_, l)| search.as_deref().is_none_or(|s| caravan::plugin::market::matches(l, s)))
                .filter(|(_, l)| kind.as_deref().is_none_or(|k| l.listing.kind.as_str() == k))
                .filter(|_| !mine)
                .collect();
            if json {
                let mut all: Vec<serde_json::Value> = shown
                    .iter()
                    .map(|(public, l)| {
                        let mut v = to_json(*public, l);
                        v["certificates"] =
                            about(l).into_iter().map(super::certify::to_json).collect::<Vec<_>>().into();
                        v
                    })
                    .collect();
                for (from, l) in &linked {
                    let mut v = to_json(true, l);
                    v["linked_from"] = from.to_string().into();
                    all.push(v);
                }
                print_json(serde_json::Value::Array(all));
            } else if shown.is_empty() && linked.is_empty() {
                outln!("nothing listed");
            } else {
                let name =
                    |n: &caravan::NodeId| names.get(&n.to_string()).cloned().unwrap_or_else(|| short(&n.to_string()));
                for (public, l) in &shown {
                    outln!("{}", line(*public, l, &name(&l.author)));
                    for v in about(l) {
                        let by: Vec<String> = v.entry.signatures.iter().map(|s| name(&s.signer())).collect();
                        match v.holds {
                            Ok(()) => outln!("    certified by the community ({})", by.join(", ")),
                            Err(why) => outln!("    certificate ({}) does not hold: {why}", by.join(", ")),
                        }
                    }
                }
                let mut from_before = None;
                for (from, l) in &linked {
                    if from_before != Some(*from) {
                        let place = node.community_name(from).ok().flatten().unwrap_or_else(|| from.to_string());
                        outln!("From {place} (linked):");
                        from_before = Some(*from);
                    }
                    outln!("  {}", line(true, l, &short(&l.author.to_string())));
                }
            }
            Ok(())
        }
        MarketCommand::Withdraw { community: c, id } => {
            let mut node = open(home)?;
            let cid = community(&mut node, &c)?;
            if node.withdraw_listing(&cid, &id).map_err(error_text)? {
                outln!("withdrawn; the withdrawal leaves with the next sync");
                Ok(())
            } else {
                Err(format!("no listing {id:?} of yours in this community (see `caravan market list {c} --mine`)"))
            }
        }
    }
}

fn add(home: &Path, kind: ListingKind, a: ListingArgs) -> Result<(), String> {
    let mut node = open(home)?;
    let cid = community(&mut node, &a.community)?;
    let price = match a.price.as_deref() {
        None => None,
        Some([amount, unit]) => {
            if amount.parse::<f64>().is_err() {
                return Err(format!("--price {amount:?} {unit:?}: the amount must be a number, like 2.50"));
            }
            Some(Price { amount: amount.clone(), unit: unit.clone() })
        }
        Some(_) => return Err("--price takes an amount and a unit, like `--price 2.50 EUR`".into()),
    };
    if a.expires == 0 {
        return Err("--expires must be at least 1 day".into());
    }
    let listing = NewListing {
        kind,
        title: a.title,
        description: a.description.unwrap_or_default(),
        terms: a.terms.unwrap_or_default(),
        price,
        quantity: a.quantity,
        place: a.place.unwrap_or_default(),
        expires_unix_ms: node.now().saturating_add(a.expires.saturating_mul(DAY_MS)),
    };
    let id = node.add_listing(&cid, a.public, &listing).map_err(error_text)?;
    let whom = if a.public { "anyone" } else { "the community's members" };
    outln!(
        "listed for {whom} until {} (id {}); it leaves with the next sync",
        date(listing.expires_unix_ms),
        item(&id)
    );
    Ok(())
}

fn short(id: &str) -> String {
    format!("{}…", &id[..8.min(id.len())])
}

/// A day as people write it (UTC).
fn date(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(ms as i64).map(|t| t.strftime("%Y-%m-%d").to_string()).unwrap_or_default()
}

fn line(public: bool, l: &Listing, who: &str) -> String {
    let n = &l.listing;
    let mut s = format!("{} {:?} by {who}", n.kind.as_str(), n.title);
    if let Some(p) = &n.price {
        s.push_str(&format!(", {} {}", p.amount, p.unit));
    }
    if let Some(q) = n.quantity {
        s.push_str(&format!(", {q} available"));
    }
    if !n.place.is_empty() {
        s.push_str(&format!(", at {}", n.place));
    }
    s.push_str(&format!(", until {}", date(n.expires_unix_ms)));
    if public {
        s.push_str(", public");
    }
    if !n.description.is_empty() {
        s.push_str(&format!("\n    {}", n.description));
    }
    if !n.terms.is_empty() {
        s.push_str(&format!("\n    terms: {}", n.terms));
    }
    s.push_str(&format!("\n    id {}", item(&l.id)));
    s
}

fn to_json(public: bool, l: &Listing) -> serde_json::Value {
    let n = &l.listing;
    serde_json::json!({
        "id": l.id, "handle": item(&l.id),
        "author": l.author.to_string(),
        "kind": n.kind.as_str(),
        "public": public,
        "title": n.title,
        "description": n.description,
        "terms": n.terms,
        "price": n.price.as_ref().map(|p| serde_json::json!({"amount": p.amount, "unit": p.unit})),
        "quantity": n.quantity,
        "place": n.place,
        "created_unix_ms": l.created_unix_ms,
        "expires_unix_ms": n.expires_unix_ms,
    })
}
