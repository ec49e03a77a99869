//! Embedding Caravan in an app: open two nodes, found a community, edit, move bundles
//! as plain bytes, and react to change events.
//!
//! Run with `cargo run --example library`.

use caravan::{Audience, Event, Node, Role, Target};

fn main() -> Result<(), caravan::Error> {
    let homes = (tempfile::tempdir().expect("temp dir"), tempfile::tempdir().expect("temp dir"));
    let mut clinic = Node::open(homes.0.path(), "Clinic")?;
    let mut school = Node::open(homes.1.path(), "School")?;

    // Cards are exchanged once, in person or by message; a contact's invitations are
    // accepted on arrival.
    school.add_contact(&clinic.card(), &[Audience::Friends])?;
    clinic.add_contact(&school.card(), &[Audience::Friends])?;
    let events = school.subscribe();

    let health = clinic.create_community("Health notes", "Opening hours and campaigns")?;
    clinic.invite(&health, &school.card(), Role::Editor)?;
    clinic.put_wiki_page(&health, "Vaccination", "Tuesday 9-12: measles.\n")?;
    clinic.set_profile_field("hours", "Mon-Fri 8-16", Audience::Public)?;
    clinic.set_profile_field("night phone", "+255 700 000 001", Audience::Friends)?;

    // Any link will do: here the bundles are just handed over in memory.
    let bundles = clinic.export(Target::Peer(school.node_id()))?;
    let report = school.import_many(bundles.iter().map(Vec::as_slice))?;
    println!(
        "school took {} bundles ({} changes), {} rejected",
        report.new_bundles(),
        report.new_changes(),
        report.rejected().len()
    );

    for event in events.try_iter() {
        if let Event::DocChanged { doc, heads, .. } = event {
            println!("changed: {doc} ({} heads)", heads.len());
        }
    }
    println!("wiki: {:?}", school.wiki_page(&health, "Vaccination")?);
    for f in school.profile(&clinic.node_id())? {
        println!("clinic profile: {} = {} ({})", f.name, f.value, f.audience);
    }
    Ok(())
}
