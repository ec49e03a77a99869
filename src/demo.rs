//! `caravan demo`: three villages, one community, one stick carried around, on embedded
//! defaults in a temporary directory.

use std::path::Path;

use crate::cli::news::News;
use crate::cli::output::outln;
use crate::cli::words::count;
use caravan::{Audience, DocId, Node, Part, Role};

const PAGE: &str = "Water";
const FIRST: &str = "North well: pump works.\nSouth well: dry since June.\nEast well: not tested.\n";

fn carry(node: &mut Node, stick: &Path, village: &str) -> Result<(), String> {
    let news = News::watch(node);
    let r = caravan::link::stick::sync(node, stick, Default::default()).map_err(|e| e.to_string())?;
    let lines = news.lines(node);
    let took = if lines.is_empty() { "Nothing new.".to_string() } else { lines.join(" ") };
    let left = match (r.exported, r.carried) {
        (0, _) => "Left nothing new".to_string(),
        (n, 0) => format!("Left {}", count(n, "bundle", "bundles")),
        (n, c) => format!("Left {} ({c} carried for others)", count(n, "bundle", "bundles")),
    };
    outln!("  {village}: {took} {left} on the stick.");
    Ok(())
}

/// Homa Bay offers fish; Mbita takes some; each step rides the stick; both review the
/// exchange; Kisumu reads Homa Bay's standing as it sees it.
fn market_day(
    a: &mut Node,
    b: &mut Node,
    c: &mut Node,
    lake: &caravan::CommunityId,
    stick: &Path,
) -> Result<(), String> {
    use caravan::plugin::exchange::StepKind;
    use caravan::plugin::market::{ListingKind, NewListing, Price};
    let e = |e: caravan::Error| e.to_string();
    outln!("\n4. Market day: Homa Bay offers fish, Mbita takes two kilos; every step rides the stick.");
    let fish = NewListing {
        kind: ListingKind::Offer,
        title: "Tilapia, smoked".into(),
        description: "caught this week".into(),
        terms: "pay on delivery".into(),
        price: Some(Price { amount: "4.00".into(), unit: "EUR/kg".into() }),
        quantity: Some(10),
        place: "Homa Bay landing".into(),
        expires_unix_ms: b.now() + 7 * 86_400_000,
    };
    let listing = b.add_listing(lake, false, &fish).map_err(e)?;
    carry(b, stick, "Homa Bay")?;
    carry(c, stick, "Mbita")?;
    let (x, _) = c.propose_exchange(&listing, "two kilos on Thursday?").map_err(e)?;
    carry(c, stick, "Mbita")?;
    carry(b, stick, "Homa Bay")?;
    b.exchange_step(&x, StepKind::Completed).map_err(e)?;
    carry(b, stick, "Homa Bay")?;
    carry(c, stick, "Mbita")?;
    c.exchange_step(&x, StepKind::Completed).map_err(e)?;
    c.review(&x, 5, "fresh, and on time").map_err(e)?;
    carry(c, stick, "Mbita")?;
    carry(b, stick, "Homa Bay")?;
    b.review(&x, 4, "paid as agreed").map_err(e)?;
    for (node, name) in [(&mut *b, "Homa Bay"), (&mut *a, "Kisumu"), (&mut *c, "Mbita")] {
        carry(node, stick, name)?;
    }
    let rep = a.reputation(&b.node_id()).map_err(e)?;
    match rep.tied.average {
        Some(avg) => outln!(
            "  Kisumu reads Homa Bay's standing: {avg:.1} of 5 from {} it is tied to.",
            count(rep.tied.counterparties, "counterparty", "counterparties")
        ),
        None => outln!("  Kisumu has no review of Homa Bay yet."),
    }
    Ok(())
}

/// Runs the demo and prints what each village sees: in a temporary directory, or in
/// `keep_in` (which must be empty or new), where the villages stay to be looked at.
pub fn run(keep_in: Option<&Path>) -> Result<(), String> {
    let e = |e: caravan::Error| e.to_string();
    let temp;
    let dir: &Path = match keep_in {
        Some(d) => {
            let used = std::fs::read_dir(d).map(|mut entries| entries.next().is_some()).unwrap_or(false);
            if used {
                return Err(format!(
                    "{} is not empty: the demo writes three villages and a stick there; give it a new or empty \
                     directory, or leave out --home",
                    d.display()
                ));
            }
            d
        }
        None => {
            temp = tempfile::tempdir().map_err(|e| e.to_string())?;
            temp.path()
        }
    };
    let stick = dir.join("stick");
    std::fs::create_dir_all(&stick).map_err(|e| format!("{}: {e}", stick.display()))?;
    outln!("Caravan demo in {}", dir.display());
    let mut a = Node::open(&dir.join("kisumu"), "Kisumu").map_err(e)?;
    let mut b = Node::open(&dir.join("homa-bay"), "Homa Bay").map_err(e)?;
    let mut c = Node::open(&dir.join("mbita"), "Mbita").map_err(e)?;

    outln!("\n1. The villages met once and swapped contact cards.");
    a.add_contact(&b.card(), &[Audience::Friends]).map_err(e)?;
    a.add_contact(&c.card(), &[]).map_err(e)?;
    b.add_contact(&a.card(), &[Audience::Friends]).map_err(e)?;
    c.add_contact(&a.card(), &[]).map_err(e)?;
    a.set_profile_field("name", "Kisumu water committee", Audience::Public).map_err(e)?;
    a.set_profile_field("phone", "+254 700 111 222", Audience::Friends).map_err(e)?;

    outln!("2. Kisumu founds \"Lake Villages\", invites Homa Bay (editor) and Mbita (member), writes a wiki page.");
    let lake = a.create_community("Lake Villages", "Water, markets and news around the lake").map_err(e)?;
    a.invite(&lake, &b.card(), Role::Editor).map_err(e)?;
    a.invite(&lake, &c.card(), Role::Member).map_err(e)?;
    a.put_wiki_page(&lake, PAGE, FIRST).map_err(e)?;

    outln!("3. The stick travels Kisumu -> Homa Bay -> Mbita -> Kisumu, twice; the villages edit in between.");
    carry(&mut a, &stick, "Kisumu")?;
    carry(&mut b, &stick, "Homa Bay")?;
    b.put_wiki_page(&lake, PAGE, &FIRST.replace("not tested", "tested clean on Monday")).map_err(e)?;
    b.post(&lake, "Market day moved to Thursday.").map_err(e)?;
    // Meanwhile, Kisumu edits another line of the same page.
    a.put_wiki_page(&lake, PAGE, &FIRST.replace("pump works", "pump works, new handle")).map_err(e)?;
    carry(&mut c, &stick, "Mbita")?;
    c.post(&lake, "Who has a spare rope for the south well?").map_err(e)?;
    for (node, name) in [(&mut a, "Kisumu"), (&mut b, "Homa Bay"), (&mut c, "Mbita")] {
        carry(node, &stick, name)?;
    }
    carry(&mut a, &stick, "Kisumu")?;
    carry(&mut b, &stick, "Homa Bay")?;
    carry(&mut c, &stick, "Mbita")?;

    market_day(&mut a, &mut b, &mut c, &lake, &stick)?;

    outln!("\n5. What each village sees:");
    let a_id = a.node_id();
    let mut converged = true;
    let reference: Vec<Vec<[u8; 32]>> = Part::BUILT_IN
        .iter()
        .map(|p| a.heads(DocId::Community { id: lake, part: *p }))
        .collect::<Result<_, _>>()
        .map_err(e)?;
    for (node, name) in [(&mut a, "Kisumu"), (&mut b, "Homa Bay"), (&mut c, "Mbita")] {
        let page = node.wiki_page(&lake, PAGE).map_err(e)?.unwrap_or_default();
        let feed = node.feed(&lake).map_err(e)?;
        let fields = node.profile(&a_id).map_err(e)?;
        let phone = fields.iter().find(|f| f.name == "phone").map(|f| f.value.clone());
        let heads: Vec<Vec<[u8; 32]>> = Part::BUILT_IN
            .iter()
            .map(|p| node.heads(DocId::Community { id: lake, part: *p }))
            .collect::<Result<_, _>>()
            .map_err(e)?;
        let same = heads == reference;
        converged &= same;
        outln!(
            "\n  {name} ({} members, {} posts, heads {}):",
            node.members(&lake).map_err(e)?.len(),
            feed.len(),
            if same { "identical" } else { "DIFFERENT" }
        );
        for line in page.lines() {
            outln!("    | {line}");
        }
        outln!("    Kisumu's phone (friends only): {}", phone.as_deref().unwrap_or("hidden (not a friend)"));
    }
    outln!();
    if converged {
        if keep_in.is_some() {
            outln!(
                "The villages stay in {}: try `caravan --home {} wiki history \"Lake Villages\" {PAGE:?}`.",
                dir.display(),
                dir.join("homa-bay").display()
            );
        }
        outln!("All three villages converged: same document heads, both wiki edits kept.");
        Ok(())
    } else {
        Err("the villages did not converge".into())
    }
}
