//! The `caravan` binary, as a person uses it: two homes, cards swapped, a community,
//! bundles carried in a directory, and clear errors for bad input.

mod common;

use common::{caravan, ok};
use std::path::Path;

#[test]
fn two_villages_through_the_command_line() {
    let (a, b, stick) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    ok(a.path(), &["init", "--name", "Kisumu"]);
    ok(b.path(), &["init", "--name", "Homa Bay"]);
    let card_a = ok(a.path(), &["id"]).trim().to_string();
    let card_b = ok(b.path(), &["id"]).trim().to_string();
    assert_eq!(card_a.lines().count(), 1);
    ok(b.path(), &["contact", "add", &card_a]);
    ok(a.path(), &["contact", "add", &card_b, "--audience", "friends"]);
    ok(a.path(), &["profile", "set", "phone", "555-0100", "--audience", "friends"]);

    let created = ok(a.path(), &["community", "create", "Lake Villages", "--description", "around the lake"]);
    let cid = created.lines().last().unwrap().trim().to_string();
    ok(a.path(), &["community", "invite", &cid, &card_b, "--role", "editor"]);
    let page = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(page.path(), "North well: pump works.\n").unwrap();
    ok(a.path(), &["wiki", "put", &cid, "Water", "--file", page.path().to_str().unwrap()]);

    let stick_dir = stick.path().join("caravan");
    ok(a.path(), &["export", "--out", stick_dir.to_str().unwrap()]);
    let summary = ok(b.path(), &["import", stick_dir.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(summary.trim()).unwrap();
    assert_eq!(v["rejected"], 0, "{summary}");
    // Files are read in name order, so content may come before the invitation holding its
    // key: it waits, and is opened ("unlocked") when the key arrives in the same import.
    assert!(v["new"].as_u64().unwrap() + v["unlocked"].as_u64().unwrap() >= 4, "{summary}");

    assert_eq!(ok(b.path(), &["wiki", "get", &cid, "Water"]), "North well: pump works.\n");
    let members: serde_json::Value =
        serde_json::from_str(&ok(b.path(), &["community", "members", &cid, "--json"])).unwrap();
    assert_eq!(members.as_array().unwrap().len(), 2);
    let profile = ok(b.path(), &["profile", "show", &card_node(&card_a, a.path())]);
    assert!(profile.contains("phone = 555-0100"), "{profile}");

    // Importing the same stick again changes nothing and says so.
    let again: serde_json::Value =
        serde_json::from_str(ok(b.path(), &["import", stick_dir.to_str().unwrap(), "--json"]).trim()).unwrap();
    assert_eq!(again["new"], 0);
}

fn card_node(_card: &str, home: &Path) -> String {
    let status: serde_json::Value = serde_json::from_str(&ok(home, &["status", "--json"])).unwrap();
    status["node"].as_str().unwrap().to_string()
}

#[test]
fn bad_input_gets_one_clear_line_and_a_failure_status() {
    let home = tempfile::tempdir().unwrap();
    let out = caravan(home.path(), &["id"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("caravan init"));

    ok(home.path(), &["init", "--name", "X"]);
    let cases: &[&[&str]] = &[
        &["contact", "add", "caravan1_notacard"],
        &["contact", "add", "hello"],
        &["wiki", "get", "not-a-community", "P"],
        &["post", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "hi"],
        &["import", "/no/such/dir"],
    ];
    for args in cases {
        let out = caravan(home.path(), args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("caravan: "), "{args:?}: {err}");
    }

    // A damaged bundle file is reported by name, and the rest of the import goes on.
    let dir = tempfile::tempdir().unwrap();
    ok(home.path(), &["profile", "set", "about", "the well keeper"]);
    ok(home.path(), &["export", "--out", dir.path().to_str().unwrap()]);
    std::fs::write(dir.path().join("bad.bundle"), b"\x9f\x89\x07garbage").unwrap();
    let out = caravan(home.path(), &["import", dir.path().to_str().unwrap()]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.bundle"));

    // A file that is not a bundle at all is named, and importing nothing is a failure.
    let photo = dir.path().join("photo.jpg");
    std::fs::write(&photo, b"\xff\xd8\xff\xe0 JFIF").unwrap();
    let out = caravan(home.path(), &["import", photo.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("photo.jpg: not a Caravan bundle") && err.contains("nothing could be imported"), "{err}");
    assert!(!err.contains("CBOR"), "{err}");
}

#[test]
fn a_blocked_node_gets_nothing_in_until_unblocked() {
    let (a, b, s) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b, s) = (a.path(), b.path(), s.path().to_str().unwrap());
    ok(a, &["init", "--name", "Kisumu"]);
    ok(b, &["init", "--name", "Spammer"]);
    let card_b = ok(b, &["id"]).trim().to_string();
    ok(a, &["contact", "add", &card_b, "--audience", "friends"]);
    ok(b, &["contact", "add", ok(a, &["id"]).trim(), "--audience", "friends"]);
    ok(b, &["profile", "set", "offer", "cheap pills", "--audience", "friends"]);
    assert!(ok(a, &["block", "Spammer"]).contains("Blocked Spammer"));
    assert!(ok(a, &["blocked"]).contains("Spammer"));
    ok(b, &["sync", "--stick", s]);
    let out = caravan(a, &["sync", "--stick", s]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("from nodes you blocked"), "{out:?}");
    assert!(!ok(a, &["profile", "show", "Spammer"]).contains("cheap pills"));
    assert!(ok(a, &["unblock", "Spammer"]).contains("Unblocked Spammer"));
    ok(a, &["sync", "--stick", s]);
    assert!(ok(a, &["profile", "show", "Spammer"]).contains("cheap pills"));
    assert!(ok(a, &["blocked"]).contains("Nobody is blocked"));
}

#[test]
fn contacts_are_updated_removed_and_found_by_name() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    ok(a.path(), &["init", "--name", "Kisumu"]);
    ok(b.path(), &["init", "--name", "Homa Bay"]);
    let card_a = ok(a.path(), &["id"]).trim().to_string();
    let card_b = ok(b.path(), &["id"]).trim().to_string();
    // A card wrapped over lines (as email does), with spaces around it.
    let wrapped: String = card_b.as_bytes().chunks(40).map(|c| format!("  {}\n", String::from_utf8_lossy(c))).collect();
    assert!(ok(a.path(), &["contact", "add", &wrapped, "--audience", "friends"]).contains("Added Homa Bay"));
    // Adding it again keeps its audiences and says what changed.
    let again = ok(a.path(), &["contact", "add", &card_b]);
    assert!(again.contains("already a contact; nothing changed"), "{again}");
    let more = ok(a.path(), &["contact", "add", &card_b, "--audience", "family"]);
    assert!(more.contains("now also in family"), "{more}");
    let listed = ok(a.path(), &["contact", "list"]);
    assert!(listed.contains("Homa Bay  (friends and family)"), "{listed}");
    // Your own card is refused.
    let own = caravan(a.path(), &["contact", "add", &card_a]);
    assert!(!own.status.success());
    assert!(String::from_utf8_lossy(&own.stderr).contains("own card"));
    // A profile by name; out of one audience by name; then forgotten.
    ok(b.path(), &["contact", "add", &card_a, "--audience", "friends"]);
    ok(b.path(), &["profile", "set", "phone", "555-0100", "--audience", "friends"]);
    let s = tempfile::tempdir().unwrap();
    ok(b.path(), &["sync", "--stick", s.path().to_str().unwrap()]);
    ok(a.path(), &["sync", "--stick", s.path().to_str().unwrap()]);
    assert!(ok(a.path(), &["profile", "show", "homa bay"]).contains("phone = 555-0100"));
    let out = ok(a.path(), &["contact", "remove", "Homa Bay", "--audience", "family"]);
    assert!(out.contains("Took Homa Bay out of family"), "{out}");
    assert!(ok(a.path(), &["contact", "list"]).contains("Homa Bay  (friends)"));
    assert!(ok(a.path(), &["contact", "remove", "Homa Bay"]).contains("Forgot Homa Bay"));
    assert!(!ok(a.path(), &["contact", "list"]).contains("Homa Bay"));
    let unknown = caravan(a.path(), &["contact", "remove", "Nobody"]);
    assert!(!unknown.status.success());
    // --help lists the audiences a contact can be put in, and says what friends-of-friends
    // is (not a list: it is computed).
    let help = ok(a.path(), &["contact", "add", "--help"]);
    assert!(help.contains("friends, family or business"), "{help}");
    assert!(help.contains("Friends-of-friends is not a list"), "{help}");
    let out = caravan(a.path(), &["contact", "add", &card_b, "--audience", "friends-of-friends"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("put people in friends"), "{out:?}");
}

#[test]
fn the_relay_quota_is_set_kept_and_shown_and_custody_is_reported() {
    let home = tempfile::tempdir().unwrap();
    ok(home.path(), &["init", "--name", "Relay"]);
    let shown: serde_json::Value = serde_json::from_str(&ok(home.path(), &["relay", "--json"])).unwrap();
    assert_eq!(shown["quota_bytes"], 1u64 << 30, "default quota is 1 GiB");
    ok(home.path(), &["relay", "--quota", "2MiB"]);
    let status: serde_json::Value = serde_json::from_str(&ok(home.path(), &["status", "--json"])).unwrap();
    assert_eq!(status["relay"]["quota_bytes"], 2u64 << 20, "the quota is kept: {status}");
    assert_eq!(status["relay"]["used_bytes"], 0);
    assert_eq!(status["custody"]["open"], 0);
    let bad = caravan(home.path(), &["relay", "--quota", "5 parsecs"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("parsecs") && err.lines().count() == 1, "{err}");
    assert!(ok(home.path(), &["status"]).contains("relay: keeping 0 bytes for others, of a quota of 2 MiB"));
    // The lifetime cap: set, kept, shown.
    let shown: serde_json::Value = serde_json::from_str(&ok(home.path(), &["relay", "--json"])).unwrap();
    assert_eq!(shown["max_lifetime_days"], 60);
    let out = ok(home.path(), &["relay", "--max-lifetime", "20"]);
    assert!(out.contains("nothing kept longer than 20 days"), "{out}");
    let shown: serde_json::Value = serde_json::from_str(&ok(home.path(), &["relay", "--json"])).unwrap();
    assert_eq!(shown["max_lifetime_days"], 20);
    assert!(!caravan(home.path(), &["relay", "--max-lifetime", "0"]).status.success());
}

#[test]
fn status_shows_configured_peers_and_the_next_window() {
    let (home, hub) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    ok(home.path(), &["init", "--name", "Village"]);
    ok(hub.path(), &["init", "--name", "Hub"]);
    let card = ok(hub.path(), &["id"]).trim().to_string();
    std::fs::write(
        home.path().join("config.toml"),
        format!("[[peer]]\ncard = \"{card}\"\naddress = \"hub.example:4433\"\n[[window]]\nonce = \"2099-01-01 18:00-19:00\"\n"),
    )
    .unwrap();
    let status: serde_json::Value = serde_json::from_str(&ok(home.path(), &["status", "--json"])).unwrap();
    assert_eq!(status["peers"][0]["name"], "Hub", "{status}");
    assert_eq!(status["peers"][0]["last_seen_unix_ms"], serde_json::Value::Null);
    assert!(status["next_window_unix_ms"].as_u64().unwrap() > 4_000_000_000_000, "{status}");
    let text = ok(home.path(), &["status"]);
    assert!(
        text.contains("Hub at hub.example:4433: never synced") && text.contains("next window opens on 2099-01-01"),
        "{text}"
    );
    // A broken config is named, not ignored.
    std::fs::write(home.path().join("config.toml"), "[[window]]\ndaily = \"18:00-19:00\"\ntz = \"UTC\"\n").unwrap();
    let bad = caravan(home.path(), &["status"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("tz"));
}
