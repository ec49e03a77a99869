//! A hub run as a service: `caravan daemon` runs, and every command works beside it
//! (the daemon does the work for the command), a stick sync included; an edit made
//! through the command line reaches a peer's daemon at once, not at the next resync;
//! a second daemon and a taken port are refused before "listening".

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{caravan, daemon, free_port, ok, with_stdin};

/// Waits for `f`; on failure says what it waited for (`what`, with the daemons' logs).
fn until(what: impl Fn() -> String, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "{}: not within {limit:?}", what());
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

#[test]
fn every_command_works_beside_a_running_hub_and_an_edit_reaches_the_peer_at_once() {
    let (hub, village, stick) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (h, v) = (hub.path(), village.path());
    ok(h, &["init", "--name", "Lake Hub"]);
    ok(v, &["init", "--name", "Mbita"]);
    let (card_h, card_v) = (ok(h, &["id"]).trim().to_string(), ok(v, &["id"]).trim().to_string());
    ok(h, &["contact", "add", &card_v]);
    ok(v, &["contact", "add", &card_h]);
    let (port_h, port_v) = (free_port(), free_port());
    std::fs::write(
        h.join("config.toml"),
        format!("listen = \"127.0.0.1:{port_h}\"\n[[peer]]\ncard = \"{card_v}\"\naddress = \"127.0.0.1:{port_v}\"\n"),
    )
    .unwrap();
    std::fs::write(
        v.join("config.toml"),
        format!("listen = \"127.0.0.1:{port_v}\"\n[[peer]]\ncard = \"{card_h}\"\naddress = \"127.0.0.1:{port_h}\"\n"),
    )
    .unwrap();

    let _hub = daemon(h);
    let _village = daemon(v);

    // Beside the hub's daemon, the README's commands work; the daemon does the work.
    let cid = ok(h, &["community", "create", "Lake Villages"]).lines().last().unwrap().trim().to_string();
    ok(h, &["community", "invite", &cid, &card_v, "--role", "editor"]);
    let put = with_stdin(h, &["wiki", "put", &cid, "Water"], "North well: pump works.\n");
    assert!(put.status.success(), "{}", String::from_utf8_lossy(&put.stderr));
    assert_eq!(ok(h, &["wiki", "get", &cid, "Water"]), "North well: pump works.\n");
    ok(h, &["post", &cid, "Market day on Thursday"]);
    assert!(ok(h, &["feed", &cid]).contains("Market day on Thursday"));
    ok(h, &["market", "offer", &cid, "Eggs", "--price", "2.50", "EUR"]);
    assert!(ok(h, &["market", "list", &cid]).contains("Eggs"));
    assert!(ok(h, &["wiki", "history", &cid, "Water"]).contains("Lake Hub (you)"));
    let status = ok(h, &["status"]);
    assert!(status.contains("1 communit") && status.contains("daemon: running"), "{status}");
    // A relative stick path is the caller's, not the daemon's.
    let synced = Command::new(env!("CARGO_BIN_EXE_caravan"))
        .current_dir(stick.path())
        .arg("--home")
        .arg(h)
        .args(["sync", "--stick", ".", "--json"])
        .output()
        .unwrap();
    assert!(synced.status.success(), "{}", String::from_utf8_lossy(&synced.stderr));
    let report: serde_json::Value = serde_json::from_slice(&synced.stdout).unwrap();
    assert!(report["exported"].as_u64().unwrap() > 0, "{report}");
    assert!(stick.path().join("caravan").is_dir());
    // The rest of the README's commands, beside the daemon too.
    assert_eq!(ok(h, &["id"]).trim(), card_h);
    let third = tempfile::tempdir().unwrap();
    ok(third.path(), &["init", "--name", "Homa Bay"]);
    let card_t = ok(third.path(), &["id"]).trim().to_string();
    assert!(ok(h, &["contact", "add", &card_t, "--audience", "friends"]).contains("Added Homa Bay"));
    ok(h, &["profile", "set", "phone", "555-0100", "--audience", "friends"]);
    assert!(ok(h, &["profile", "show"]).contains("phone = 555-0100"));
    assert!(ok(h, &["show", &cid, "feed"]).contains("Market day on Thursday"));
    assert!(ok(h, &["market", "list", &cid, "--search", "eggs"]).contains("Eggs"));
    // A relative --file is the caller's.
    std::fs::write(stick.path().join("slip.txt"), "a slip\n").unwrap();
    let put = Command::new(env!("CARGO_BIN_EXE_caravan"))
        .current_dir(stick.path())
        .arg("--home")
        .arg(h)
        .args(["wiki", "put", &cid, "Water", "--file", "slip.txt"])
        .output()
        .unwrap();
    assert!(put.status.success(), "{}", String::from_utf8_lossy(&put.stderr));
    assert_eq!(ok(h, &["wiki", "get", &cid, "Water"]), "a slip\n");
    assert!(ok(h, &["wiki", "restore", &cid, "Water", "--at", "1"]).contains("version 1"));
    assert_eq!(ok(h, &["wiki", "get", &cid, "Water"]), "North well: pump works.\n");
    let relay: serde_json::Value = serde_json::from_str(&ok(h, &["relay", "--json"])).unwrap();
    assert_eq!(relay["quota_bytes"], 1u64 << 30);
    let exported = Command::new(env!("CARGO_BIN_EXE_caravan"))
        .current_dir(stick.path())
        .arg("--home")
        .arg(h)
        .args(["export", "--out", "bundles"])
        .output()
        .unwrap();
    assert!(exported.status.success(), "{}", String::from_utf8_lossy(&exported.stderr));
    assert!(stick.path().join("bundles").read_dir().unwrap().count() > 0);
    let imported: serde_json::Value =
        serde_json::from_str(&ok(h, &["import", stick.path().join("bundles").to_str().unwrap(), "--json"])).unwrap();
    assert_eq!(imported["rejected"], 0, "{imported}");
    // Errors come back as errors.
    let bad = caravan(h, &["wiki", "get", &cid, "No such page"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).starts_with("caravan: no page"));

    // The village's daemon got the invitation and the page live (its commands also run
    // in its daemon).
    let logs = || {
        let read = |p: &std::path::Path| std::fs::read_to_string(p.join("daemon.log")).unwrap_or_default();
        format!("hub:\n{}\nvillage:\n{}", read(h), read(v))
    };
    until(
        || format!("the village joins\n{}", logs()),
        Duration::from_secs(40),
        || caravan(v, &["wiki", "get", &cid, "Water"]).stdout == b"North well: pump works.\n",
    );
    // An edit on the hub now reaches the village well before the next resync (30 s).
    let edit = with_stdin(h, &["wiki", "put", &cid, "Water"], "North well: pump works, new handle.\n");
    assert!(edit.status.success());
    let took = until(
        || format!("the edit reaches the village\n{}", logs()),
        Duration::from_secs(20),
        || caravan(v, &["wiki", "get", &cid, "Water"]).stdout == b"North well: pump works, new handle.\n",
    );
    assert!(took < Duration::from_secs(10), "the edit took {took:?}: it waited for a resync");
    let status = ok(h, &["status"]);
    assert!(status.contains("Mbita") || status.contains("sync"), "{status}");

    // A second daemon for the same home is refused in one line, before listening.
    let second = caravan(h, &["daemon"]);
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("already running") && !err.contains("listening"), "{err}");
    assert!(err.contains(&format!("(process {})", _hub.0.id())), "names the other process: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // A daemon whose port is taken says so, naming the port, before listening.
    let other = tempfile::tempdir().unwrap();
    ok(other.path(), &["init", "--name", "Other"]);
    std::fs::write(other.path().join("config.toml"), format!("listen = \"127.0.0.1:{port_h}\"\n")).unwrap();
    let taken = caravan(other.path(), &["daemon"]);
    assert!(!taken.status.success());
    let err = String::from_utf8_lossy(&taken.stderr);
    assert!(err.contains(&format!("port {port_h} is in use")) && !err.contains("listening"), "{err}");
    // A missing --config file is an error too.
    let missing = caravan(other.path(), &["daemon", "--config", "/no/such.toml"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such file"));
}

#[test]
fn after_the_daemon_stops_commands_open_the_store_again() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    ok(h, &["init", "--name", "Hub"]);
    std::fs::write(h.join("config.toml"), format!("listen = \"127.0.0.1:{}\"\n", free_port())).unwrap();
    let d = daemon(h);
    let cid = ok(h, &["community", "create", "Wells"]).lines().last().unwrap().trim().to_string();
    drop(d);
    assert!(!h.join("control.sock").exists(), "the socket goes with the daemon");
    assert!(ok(h, &["community", "list"]).contains("Wells"), "{cid}");
}
