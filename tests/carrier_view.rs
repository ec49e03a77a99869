//! What a carrier holds, through the binary: a stick that a community, its members'
//! circles, friends of friends and friends of members used for weeks (a removal and its
//! new key included), and the store of a relay that carried all of it, hold no node id,
//! no community id, no community name and no audience name, in any spelling
//! (`spec/security.md`, "What a carrier learns").

mod common;

use std::path::Path;

use common::{card, init, node_id, ok, sync_stick, with_stdin};

/// Every spelling of an id a carrier could search for: its text (as Caravan writes it,
/// and upper case), its bytes, and its bytes in hex.
fn spellings(text: &str) -> Vec<Vec<u8>> {
    let bytes = data_encoding::BASE32_NOPAD.decode(text.to_ascii_uppercase().as_bytes()).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    vec![text.as_bytes().to_vec(), text.to_ascii_uppercase().into_bytes(), bytes, hex.into_bytes()]
}

/// The needles found in `haystack`, by name.
fn found(haystack: &[u8], needles: &[(String, Vec<u8>)]) -> Vec<String> {
    needles
        .iter()
        .filter(|(_, n)| haystack.windows(n.len()).any(|w| w == n.as_slice()))
        .map(|(what, _)| what.clone())
        .collect()
}

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_stick_and_a_relays_store_name_no_one_and_nothing() {
    let people: Vec<tempfile::TempDir> = ["Ana", "Bo", "Cy", "Di", "Fe"].iter().map(|n| init(n)).collect();
    let [a, b, c, d, f] = [0, 1, 2, 3, 4].map(|i| people[i].path());
    let relay = init("Relay");
    let r = relay.path();
    let stick = tempfile::tempdir().unwrap();
    let stick = stick.path();

    // Ana and Bo are friends, Di is Ana's family, Cy a business contact; Fe is Bo's friend.
    for (x, y, audience) in [(a, b, "friends"), (a, d, "family"), (a, c, "business"), (b, f, "friends")] {
        ok(x, &["contact", "add", &card(y), "--audience", audience]);
        ok(y, &["contact", "add", &card(x), "--audience", if audience == "family" { "family" } else { "friends" }]);
    }
    ok(a, &["community", "create", "Wells"]);
    ok(a, &["community", "invite", "Wells", &card(b)]);
    ok(a, &["community", "invite", "Wells", &card(c), "--role", "editor"]);
    ok(a, &["profile", "set", "about", "potter by the river", "--audience", "public"]);
    ok(a, &["profile", "set", "phone", "555-0100", "--audience", "friends"]);
    ok(a, &["profile", "set", "home", "the blue house", "--audience", "family"]);
    ok(a, &["profile", "set", "hours", "9 to 5", "--audience", "business"]);
    let everyone = [a, b, c, d, f, r];
    let round = || {
        for n in everyone {
            sync_stick(n, stick);
        }
    };
    round();
    round();
    ok(a, &["profile", "set", "party", "Saturday at the well", "--audience", "friends-of-friends"]);
    ok(a, &["post", "Wells", "market on friday"]);
    assert!(with_stdin(c, &["wiki", "put", "Wells", "North well"], "pump fixed\n").status.success());
    ok(b, &["post", "Wells", "--friends-of-members", "open day on Sunday"]);
    round();
    round();
    // A removal and its new key, and what is written after it.
    ok(a, &["community", "remove", "Wells", &card(c)]);
    ok(a, &["post", "Wells", "after the removal"]);
    round();
    round();

    // It all worked: the content reached its readers.
    assert!(ok(b, &["feed", "Wells"]).contains("after the removal"));
    assert!(ok(b, &["profile", "show", &node_id(a)]).contains("555-0100"));
    assert!(ok(d, &["profile", "show", &node_id(a)]).contains("the blue house"));
    let cid: serde_json::Value = serde_json::from_str(&ok(a, &["community", "list", "--json"])).unwrap();
    let cid = cid[0]["id"].as_str().unwrap().to_string();
    assert!(ok(f, &["feed", &cid, "--friends-of-members"]).contains("open day on Sunday"));
    let mut needles: Vec<(String, Vec<u8>)> = Vec::new();
    for (who, home) in [("Ana", a), ("Bo", b), ("Cy", c), ("Di", d), ("Fe", f)] {
        for s in spellings(&node_id(home)) {
            needles.push((format!("{who}'s node id"), s));
        }
    }
    for s in spellings(&cid) {
        needles.push(("the community id".into(), s));
    }
    for word in ["Wells", "~community", "~profile", "friends", "family", "business", "friends-of-friends", "/fom"] {
        needles.push((format!("\"{word}\""), word.as_bytes().to_vec()));
    }
    for word in ["market on friday", "555-0100", "the blue house", "Saturday at the well", "open day on Sunday"] {
        needles.push((format!("the text \"{word}\""), word.as_bytes().to_vec()));
    }

    // The stick: every file's name and bytes.
    let stick_files = files(stick);
    assert!(stick_files.len() >= 3, "{stick_files:?}");
    let mut on_stick = 0;
    for p in &stick_files {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(p).unwrap();
        on_stick += bytes.len();
        let leaks = found(&[name.as_bytes(), &bytes].concat(), &needles);
        assert!(leaks.is_empty(), "{name} holds {leaks:?}");
    }
    assert!(on_stick > 20_000, "the stick holds {on_stick} bytes");

    // The relay's store: it carries what the stick brought, and names no one else.
    let store = std::fs::read(r.join("caravan.redb")).unwrap();
    let leaks = found(&store, &needles);
    assert!(leaks.is_empty(), "the relay's store holds {leaks:?}");
    let status: serde_json::Value = serde_json::from_str(&ok(r, &["status", "--json"])).unwrap();
    assert!(status["relay"]["used_bytes"].as_u64().unwrap() > 10_000, "the relay carries little: {status}");

    // The same search finds them where they are meant to be: in a member's own store.
    let own = found(&std::fs::read(a.join("caravan.redb")).unwrap(), &needles);
    for expected in ["Ana's node id", "Bo's node id", "the community id", "\"Wells\"", "\"friends\""] {
        assert!(own.iter().any(|w| w == expected), "{expected} not found in Ana's own store: {own:?}");
    }
}
