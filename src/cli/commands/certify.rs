//! `caravan certify` and `caravan certificates`: a community vouching for a listing or a
//! member's skill.

use std::path::Path;

use caravan::{CertView, Certify};

use super::{community, open, who};
use crate::cli::output::{error_text, outln, print_json};
use crate::cli::words::{Names, count};

/// A listing (its id `<author>/<n>` or its handle, as `market list` shows it) or a
/// member.
fn target(node: &mut caravan::Node, t: &str, skill: Option<String>) -> Result<Certify, String> {
    let t = t.trim();
    let listing = if let Some((author, n)) = t.split_once('/')
        && caravan::NodeId::parse(author).is_some()
        && n.parse::<u64>().is_ok()
    {
        Some(t.to_string())
    } else {
        match who(node, t) {
            Ok(member) => return Ok(Certify::Skill(member, skill.unwrap_or_default())),
            Err(not_member) => match node.find_listing(None, t).map_err(error_text)? {
                Some((_, id)) => Some(id),
                // A listing gone since (withdrawn, expired): as its certificates name it.
                None => match certified_listing(node, t)? {
                    Some(id) => Some(id),
                    None => return Err(not_member),
                },
            },
        }
    };
    if skill.is_some() {
        return Err("--skill is for a member, not a listing".into());
    }
    Ok(Certify::Listing(listing.unwrap_or_default()))
}

/// The listing id a certificate in one of our communities names, if `t` names one.
fn certified_listing(node: &mut caravan::Node, t: &str) -> Result<Option<String>, String> {
    let mut ids: Vec<String> = Vec::new();
    for c in node.communities().map_err(error_text)? {
        for v in node.certificates_in(&c.id).map_err(error_text)? {
            if let Some(id) = v.entry.statement.listing()
                && caravan::plugin::names_item(&id, t)
                && !ids.contains(&id)
            {
                ids.push(id);
            }
        }
    }
    match ids.len() {
        0 => Ok(None),
        1 => Ok(ids.pop()),
        _ => Err(format!("{t} names several listings: give more of it")),
    }
}

pub(crate) fn certify(
    home: &Path,
    c: &str,
    t: &str,
    skill: Option<String>,
    expires: Option<u32>,
    revoke: bool,
) -> Result<(), String> {
    let mut node = open(home)?;
    let cid = community(&mut node, c)?;
    if let Ok(Certify::Skill(_, s)) = target(&mut node, t, skill.clone())
        && s.is_empty()
        && !revoke
    {
        return Err("give the member's skill with --skill (or a listing's id)".into());
    }
    let what = target(&mut node, t, skill)?;
    if revoke {
        let matching: Vec<CertView> = node
            .certificates_in(&cid)
            .map_err(error_text)?
            .into_iter()
            .filter(|v| about(&v.entry.statement, &what))
            .filter(|v| !v.entry.revoked)
            .collect();
        if matching.is_empty() {
            return Err("no certificate of this community about that".into());
        }
        for v in &matching {
            node.revoke_certificate(&cid, &v.entry.hash_hex).map_err(error_text)?;
        }
        outln!("Revoked {}; it leaves with your next sync.", count(matching.len(), "certificate", "certificates"));
        return Ok(());
    }
    let expires = expires.map_or(0, |d| node.now() + u64::from(d) * 86_400_000);
    let v = node.certify(&cid, &what, expires).map_err(error_text)?;
    let names = Names::load(&mut node);
    match v.holds {
        Ok(()) => outln!(
            "Certified: {} holds, signed by {}; it leaves with your next sync.",
            subject(&names, &v),
            signers(&names, &v)
        ),
        Err(why) => outln!(
            "Signed: {} — {why} ({} of {}); it leaves with your next sync.",
            subject(&names, &v),
            v.certifiers.len(),
            v.needed
        ),
    }
    Ok(())
}

fn about(s: &caravan::plugin::certificate::Statement, what: &Certify) -> bool {
    match (what, &s.subject) {
        (Certify::Listing(id), _) => s.listing().as_deref() == Some(id.as_str()),
        (Certify::Skill(n, skill), caravan::plugin::certificate::Subject::Skill { node, skill: s }) => {
            n == node && (skill.is_empty() || skill.eq_ignore_ascii_case(s))
        }
        _ => false,
    }
}

fn subject(names: &Names, v: &CertView) -> String {
    use caravan::plugin::certificate::Subject;
    match &v.entry.statement.subject {
        Subject::Listing { author, n, .. } => {
            format!("listing {} of {}", caravan::plugin::handle(&format!("{author}/{n}")), names.of(author))
        }
        Subject::Skill { node, skill } => format!("{} for {skill:?}", names.of(node)),
    }
}

fn signers(names: &Names, v: &CertView) -> String {
    v.entry.signatures.iter().map(|s| names.of(&s.signer())).collect::<Vec<_>>().join(", ")
}

pub(crate) fn list(home: &Path, t: &str, json: bool) -> Result<(), String> {
    let mut node = open(home)?;
    let what = target(&mut node, t, None)?;
    let all = node.certificates(&what).map_err(error_text)?;
    if json {
        print_json(serde_json::Value::Array(all.iter().map(to_json).collect()));
        return Ok(());
    }
    if all.is_empty() {
        outln!("No certificates about that in your communities.");
        return Ok(());
    }
    let names = Names::load(&mut node);
    for v in &all {
        let by = node.community_name(&v.community).ok().flatten().unwrap_or_default();
        let until = match v.entry.statement.expires_unix_ms {
            0 => String::new(),
            t => format!(", until {}", caravan::words::local_time(t)),
        };
        let state = match v.holds {
            Ok(()) => "holds".to_string(),
            Err(why) => format!("does not hold: {why}"),
        };
        outln!("{} certified by {by}{until} ({}): {state}", subject(&names, v), signers(&names, v));
    }
    Ok(())
}

pub(crate) fn to_json(v: &CertView) -> serde_json::Value {
    let s = &v.entry.statement;
    serde_json::json!({
        "id": v.entry.hash_hex, "community": v.community.to_string(),
        "about": s.about().to_string(), "listing": s.listing(),
        "skill": match &s.subject { caravan::plugin::certificate::Subject::Skill { skill, .. } => Some(skill.clone()), _ => None },
        "expires_unix_ms": s.expires_unix_ms,
        "signers": v.entry.signatures.iter().map(|x| x.signer().to_string()).collect::<Vec<_>>(),
        "certifiers": v.certifiers.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        "needed": v.needed, "revoked": v.entry.revoked,
        "holds": v.holds.is_ok(), "why_not": v.holds.err(),
    })
}
