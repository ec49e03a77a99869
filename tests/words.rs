//! The default output speaks to people: names instead of node ids, local times instead of
//! raw timestamps, and plain news of what a sync brought (a community joined, an
//! invitation waiting, new posts and pages).

mod common;

use common::ok;

/// Node ids (32 base32 characters) and raw timestamps (10 digits or more) in `text`.
fn raw_ids_and_times(text: &str, ids: &[&str]) -> Vec<String> {
    let mut found: Vec<String> = ids.iter().filter(|id| text.contains(&id[..12])).map(|id| id.to_string()).collect();
    let mut digits = 0;
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() {
            digits += 1;
        } else {
            if digits >= 10 {
                found.push(format!("a {digits}-digit number"));
            }
            digits = 0;
        }
    }
    found
}

fn node_id(home: &std::path::Path) -> String {
    let v: serde_json::Value = serde_json::from_str(&ok(home, &["status", "--json"])).unwrap();
    v["node"].as_str().unwrap().to_string()
}

#[test]
fn sync_feed_status_and_invites_speak_in_names_and_local_times() {
    let (a, b, stick) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b, s) = (a.path(), b.path(), stick.path().to_str().unwrap());
    ok(a, &["init", "--name", "Kisumu"]);
    ok(b, &["init", "--name", "Homa Bay"]);
    let (id_a, id_b) = (node_id(a), node_id(b));
    let ids = [id_a.as_str(), id_b.as_str()];
    let card_b = ok(b, &["id"]).trim().to_string();
    ok(a, &["contact", "add", &card_b]);
    ok(a, &["community", "create", "Lake Villages"]);
    // Commands take a community's name as well as its id.
    let invited = ok(a, &["community", "invite", "lake villages", &card_b, "--role", "editor"]);
    assert!(
        invited.contains("Invited Homa Bay as an editor of Lake Villages") && invited.contains("next sync"),
        "{invited}"
    );
    ok(a, &["post", "Lake Villages", "Market day moved to Thursday"]);
    let page = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(page.path(), "North well: pump works.\n").unwrap();
    ok(a, &["wiki", "put", "Lake Villages", "Water", "--file", page.path().to_str().unwrap()]);
    ok(a, &["sync", "--stick", s]);

    // B does not know A: the invitation waits for consent, and the sync says so.
    let first = ok(b, &["sync", "--stick", s]);
    assert!(first.contains("An invitation to \"Lake Villages\" waits"), "{first}");
    assert!(raw_ids_and_times(&first, &ids).is_empty(), "{first}");
    let invites = ok(b, &["community", "invites"]);
    // The inviter is not a contact of B's: said so, with no more of its id than a glance needs.
    assert!(invites.contains("\"Lake Villages\", as an editor, from someone you do not know yet"), "{invites}");
    let invite_id = invites.split("community accept ").nth(1).unwrap().trim().trim_end_matches('`').to_string();
    // The invitation's id is the handle to accept it by (hex, so it may hold a run of
    // digits): everything else is checked.
    assert!(raw_ids_and_times(&invites.replace(&invite_id, "ID"), &ids).is_empty(), "{invites}");
    assert!(ok(b, &["community", "accept", &invite_id]).contains("Joined Lake Villages."));

    ok(a, &["post", "Lake Villages", "Who has a spare rope?"]);
    ok(a, &["sync", "--stick", s]);
    let second = ok(b, &["sync", "--stick", s]);
    assert!(second.contains("Lake Villages:") && second.contains("new post"), "{second}");
    assert!(raw_ids_and_times(&second, &ids).is_empty(), "{second}");

    let feed = ok(b, &["feed", "Lake Villages"]);
    assert!(feed.contains("Kisumu: Market day moved to Thursday"), "{feed}");
    assert!(feed.contains("just now") || feed.contains("minute"), "{feed}");
    assert!(raw_ids_and_times(&feed, &ids).is_empty(), "{feed}");

    let status = ok(b, &["status"]);
    assert!(status.contains("1 contact, 1 community") || status.contains("no contacts, 1 community"), "{status}");
    assert!(status.contains("Lake Villages (editor)"), "{status}");
    assert!(raw_ids_and_times(&status, &ids).is_empty(), "{status}");
    let members = ok(b, &["community", "members", "Lake Villages"]);
    assert!(members.contains("Kisumu  (owner)") && members.contains("Homa Bay (you)  (editor)"), "{members}");
    assert!(raw_ids_and_times(&members, &ids).is_empty(), "{members}");
    // Ids are still there for scripts.
    let json: serde_json::Value = serde_json::from_str(&ok(b, &["feed", "Lake Villages", "--json"])).unwrap();
    assert_eq!(json[0]["author"], id_a.as_str());
}

/// The market, exchanges and polls name their items by short handles people can type:
/// no node id or raw timestamp in their default output, and each handle works as the
/// item's id in the next command.
#[test]
fn listings_exchanges_and_polls_speak_in_handles_people_can_type() {
    let (a, b) = (common::init("Kisumu"), common::init("Homa Bay"));
    let (a, b) = (a.path(), b.path());
    let stick = tempfile::tempdir().unwrap();
    ok(a, &["contact", "add", &common::card(b)]);
    ok(b, &["contact", "add", &common::card(a)]);
    ok(a, &["community", "create", "Lake Villages"]);
    ok(a, &["community", "invite", "Lake Villages", &common::card(b)]);
    let ids = [node_id(a), node_id(b)];
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let listed = ok(a, &["market", "offer", "Lake Villages", "Tilapia", "--price", "3", "KES"]);
    let asked = ok(a, &["poll", "create", "Lake Villages", "Market on Friday?", "--option", "Yes", "--option", "No"]);
    for n in [a, b, a] {
        common::sync_stick(n, stick.path());
    }
    let market = ok(b, &["market", "list", "Lake Villages"]);
    let polls = ok(b, &["poll", "list"]);
    for text in [&listed, &asked, &market, &polls] {
        assert!(raw_ids_and_times(text, &ids).is_empty(), "{text}");
    }
    let listing = market.split("id ").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    let proposed = ok(b, &["exchange", "propose", &listing, "--note", "ten?"]);
    let poll = polls.split_whitespace().next().unwrap().to_string();
    let voted = ok(b, &["vote", &poll, "Yes"]);
    let exchanges = ok(b, &["exchange", "list"]);
    let shown = ok(b, &["poll", "show", &poll]);
    for text in [&proposed, &voted, &exchanges, &shown] {
        assert!(raw_ids_and_times(text, &ids).is_empty(), "{text}");
    }
    assert!(exchanges.contains("proposed between Homa Bay") && exchanges.contains(&listing), "{exchanges}");
    // The whole ids are in --json, beside the handles.
    let json: serde_json::Value = serde_json::from_str(&ok(b, &["market", "list", "Lake Villages", "--json"])).unwrap();
    assert_eq!(json[0]["handle"], listing.as_str());
    assert!(json[0]["id"].as_str().unwrap().starts_with(ids[0]), "{json}");
}
