//! A page's history through the binary: an empty put is refused, every edit is a
//! version with its author's name, an old text comes back as a new edit that travels
//! over a stick, and the default output shows no raw node id or raw timestamp.

mod common;

use common::{caravan, ok, with_stdin};

/// `caravan wiki put` with `text` on stdin.
fn put_stdin(home: &std::path::Path, cid: &str, page: &str, text: &str, extra: &[&str]) -> std::process::Output {
    let args: Vec<&str> = ["wiki", "put", cid, page].into_iter().chain(extra.iter().copied()).collect();
    with_stdin(home, &args, text)
}

#[test]
fn history_restore_and_the_empty_put_guard() {
    let (a, b, stick) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    ok(a.path(), &["init", "--name", "Kisumu"]);
    ok(b.path(), &["init", "--name", "Homa Bay"]);
    let card_a = ok(a.path(), &["id"]).trim().to_string();
    let card_b = ok(b.path(), &["id"]).trim().to_string();
    ok(a.path(), &["contact", "add", &card_b]);
    ok(b.path(), &["contact", "add", &card_a]);
    let cid = ok(a.path(), &["community", "create", "Lake Villages"]).lines().last().unwrap().trim().to_string();
    ok(a.path(), &["community", "invite", &cid, &card_b, "--role", "editor"]);

    let page = "Water";
    let long: String = (0..2000).map(|i| format!("line {i} of the water notes\n")).collect();
    assert!(put_stdin(a.path(), &cid, page, &long, &[]).status.success());
    assert!(put_stdin(a.path(), &cid, page, "North well: pump works.\n", &[]).status.success());

    // Empty input is refused and the page is untouched.
    let refused = put_stdin(a.path(), &cid, page, "", &[]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("--allow-empty") && err.contains("stdin is empty"), "{err}");
    assert_eq!(ok(a.path(), &["wiki", "get", &cid, page]), "North well: pump works.\n");

    // B takes the page over a stick and empties it on purpose.
    let s = stick.path().to_str().unwrap();
    ok(a.path(), &["sync", "--stick", s]);
    ok(b.path(), &["sync", "--stick", s]);
    assert!(put_stdin(b.path(), &cid, page, "", &["--allow-empty"]).status.success());
    assert_eq!(ok(b.path(), &["wiki", "get", &cid, page]), "");

    let history = ok(b.path(), &["wiki", "history", &cid, page]);
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 3, "{history}");
    assert!(lines[0].contains("Kisumu") && lines[0].contains("+2000 -0 lines"), "{history}");
    assert!(lines[1].contains("Kisumu") && lines[1].contains("-2000"), "{history}");
    assert!(lines[2].contains("Homa Bay (you)") && lines[2].contains("+0 -1 line"), "{history}");
    assert!(lines.iter().all(|l| l.contains("just now") || l.contains("minute")), "{history}");
    let node_a = serde_json::from_str::<serde_json::Value>(&ok(a.path(), &["status", "--json"])).unwrap()["node"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!history.contains(&node_a[..8]), "a raw node id in the history: {history}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(b.path(), &["wiki", "history", &cid, page, "--json"])).unwrap();
    assert_eq!(json[0]["author"], node_a.as_str());
    assert_eq!(json[2]["lines_removed"], 1);

    // Old texts by number; a version that does not exist is a clear error.
    assert_eq!(ok(b.path(), &["wiki", "get", &cid, page, "--at", "1"]), long);
    let missing = caravan(b.path(), &["wiki", "get", &cid, page, "--at", "7"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("versions 1 to 3, not 7"));
    let today = jiff::Zoned::now().date().to_string();
    assert_eq!(ok(b.path(), &["wiki", "get", &cid, page, "--at", &today]), "");

    // Restore is a new edit: it comes back on A over the stick.
    let said = ok(b.path(), &["wiki", "restore", &cid, page, "--at", "2"]);
    assert!(said.contains("version 2") && said.contains("version 4"), "{said}");
    assert_eq!(ok(b.path(), &["wiki", "get", &cid, page]), "North well: pump works.\n");
    ok(b.path(), &["sync", "--stick", s]);
    ok(a.path(), &["sync", "--stick", s]);
    assert_eq!(ok(a.path(), &["wiki", "get", &cid, page]), "North well: pump works.\n");
    assert_eq!(ok(a.path(), &["wiki", "history", &cid, page]).lines().count(), 4);

    // The feed speaks in names and local times.
    ok(a.path(), &["post", &cid, "Market day on Friday"]);
    let feed = ok(a.path(), &["feed", &cid]);
    assert!(feed.contains("Kisumu (you): Market day on Friday"), "{feed}");
    assert!(!feed.contains(&node_a[..8]) && !feed.contains("179"), "{feed}");
}
