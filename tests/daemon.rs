//! Daemons on loopback QUIC, in one process: a village dials its hub and they sync; and
//! outside its windows a daemon makes no outbound connection.

use std::time::Duration;

use caravan::config::{Config, Peer};
use caravan::schedule::Window;
use caravan::{Node, Role};

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Setup {
    hub_home: tempfile::TempDir,
    village_home: tempfile::TempDir,
    hub: Config,
    village: Config,
    wells: caravan::CommunityId,
}

fn setup() -> Setup {
    let (hub_home, village_home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = Node::open(hub_home.path(), "Hub").unwrap();
    let mut b = Node::open(village_home.path(), "Village").unwrap();
    b.add_contact(&a.card(), &[]).unwrap();
    let wells = a.create_community("Wells", "").unwrap();
    a.invite(&wells, &b.card(), Role::Editor).unwrap();
    a.put_wiki_page(&wells, "North well", "Pump fixed in May.\n").unwrap();
    let port = free_port();
    let hub = Config { listen: format!("127.0.0.1:{port}").parse().unwrap(), ..Config::default() };
    let village = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        peers: vec![Peer { card: a.card(), address: format!("127.0.0.1:{port}") }],
        ..Config::default()
    };
    Setup { hub_home, village_home, hub, village, wells }
}

async fn run_both(
    s: &Setup,
    village: Config,
    secs: u64,
) -> (caravan::daemon::DaemonStats, caravan::daemon::DaemonStats) {
    let stop = || tokio::time::sleep(Duration::from_secs(secs));
    let (hub, village) = tokio::join!(
        caravan::daemon::run(s.hub_home.path(), s.hub.clone(), stop()),
        caravan::daemon::run(s.village_home.path(), village, stop()),
    );
    (hub.unwrap(), village.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_village_daemon_dials_its_hub_and_they_sync() {
    let s = setup();
    let (hub, village) = run_both(&s, s.village.clone(), 3).await;
    assert!(village.dialled >= 1, "{village:?}");
    assert!(hub.accepted >= 1, "{hub:?}");
    let mut b = Node::open(s.village_home.path(), "").unwrap();
    assert_eq!(b.wiki_page(&s.wells, "North well").unwrap().as_deref(), Some("Pump fixed in May.\n"));
    // Both remember the contact, for `caravan status`.
    let hub_id = s.village.peers[0].card.node_id();
    assert!(b.contacts_seen().unwrap().iter().any(|(n, _)| *n == hub_id));
    let a = Node::open(s.hub_home.path(), "").unwrap();
    assert!(a.contacts_seen().unwrap().iter().any(|(n, _)| *n == b.node_id()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_its_windows_a_daemon_makes_no_outbound_connection() {
    let s = setup();
    let closed = Config { windows: vec![Window::once("2001-01-01 10:00-11:00", "UTC").unwrap()], ..s.village.clone() };
    let (hub, village) = run_both(&s, closed, 2).await;
    assert_eq!(village.dialled + village.dial_failures, 0, "{village:?}");
    assert_eq!(hub.accepted, 0, "{hub:?}");
    let mut b = Node::open(s.village_home.path(), "").unwrap();
    assert_eq!(b.wiki_page(&s.wells, "North well").unwrap(), None);
}

#[test]
fn the_daemon_process_refuses_a_bad_config_and_stops_cleanly_on_sigterm() {
    let home = tempfile::tempdir().unwrap();
    Node::open(home.path(), "Hub").unwrap();
    let exe = env!("CARGO_BIN_EXE_caravan");
    std::fs::write(home.path().join("config.toml"), "listen = \"127.0.0.1:0\"\nrelay_qouta = \"1GiB\"\n").unwrap();
    let bad = std::process::Command::new(exe).arg("--home").arg(home.path()).arg("daemon").output().unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("relay_qouta") && err.contains("config.toml"), "{err}");

    std::fs::write(home.path().join("config.toml"), format!("listen = \"127.0.0.1:{}\"\n", free_port())).unwrap();
    let child = std::process::Command::new(exe)
        .arg("--home")
        .arg(home.path())
        .arg("daemon")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // While it runs it holds the store: `status` and every other command run in it.
    let run =
        |args: &[&str]| std::process::Command::new(exe).arg("--home").arg(home.path()).args(args).output().unwrap();
    let pid = u64::from(child.id());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        let out = run(&["status", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        // The daemon announces itself first, then its full report (with the node's name).
        if (v["daemon"]["pid"].as_u64() == Some(pid) && v["name"] == "Hub") || std::time::Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status["daemon"]["pid"].as_u64(), Some(pid), "{status}");
    let pid = pid.to_string();
    assert_eq!(status["name"], "Hub");
    let beside = run(&["community", "create", "Wells"]);
    let listed = run(&["community", "list"]);
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(beside.status.success(), "{beside:?}");
    assert!(String::from_utf8_lossy(&listed.stdout).contains("Wells"), "{listed:?}");
    let start = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped"), "{out:?}");
    let after: serde_json::Value = serde_json::from_slice(&run(&["status", "--json"]).stdout).unwrap();
    assert_eq!(after["daemon"], serde_json::Value::Null, "a stopped daemon leaves no report behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_discovery_only_two_daemons_on_a_lan_find_each_other_and_sync() {
    let s = setup();
    // A group and port of this test's own, so other tests' daemons are not heard.
    let group: std::net::SocketAddrV4 = format!("239.255.67.87:{}", free_port()).parse().unwrap();
    if let Err(e) = caravan::link::lan::socket(group, None) {
        eprintln!("SKIPPED: no multicast on this machine ({e})");
        return;
    }
    let lan = |c: &Config| Config { discovery: true, discovery_group: group, peers: vec![], ..c.clone() };
    let stop = || tokio::time::sleep(Duration::from_secs(6));
    let (hub, village) = tokio::join!(
        caravan::daemon::run(s.hub_home.path(), lan(&s.hub), stop()),
        caravan::daemon::run(s.village_home.path(), lan(&s.village), stop()),
    );
    let (hub, village) = (hub.unwrap(), village.unwrap());
    assert_eq!((hub.discovered, village.discovered), (1, 1), "{hub:?} {village:?}");
    // One side dials (the smaller node id), the other accepts.
    assert_eq!(hub.dialled + village.dialled, 1, "{hub:?} {village:?}");
    assert_eq!(hub.accepted + village.accepted, 1, "{hub:?} {village:?}");
    let mut b = Node::open(s.village_home.path(), "").unwrap();
    assert_eq!(b.wiki_page(&s.wells, "North well").unwrap().as_deref(), Some("Pump fixed in May.\n"));
}

/// Reads one frame of the exchange: a big-endian u32 length, then bytes.
async fn read_frame(recv: &mut quinn::RecvStream) -> Vec<u8> {
    let mut len = [0u8; 4];
    recv.read_exact(&mut len).await.unwrap();
    let mut frame = vec![0u8; u32::from_be_bytes(len) as usize];
    recv.read_exact(&mut frame).await.unwrap();
    frame
}

/// A stranger dials the hub with a key of its own: it proves who it is, and then learns
/// nothing private: no community endpoint, no digest of members-only or audience-only
/// bundles. And while it holds its connection open without a word, a real peer still
/// syncs at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_learns_nothing_private_and_a_silent_one_keeps_no_one_out() {
    let s = setup();
    {
        let mut a = Node::open(s.hub_home.path(), "").unwrap();
        a.set_profile_field("name", "Hub", caravan::Audience::Public).unwrap();
        a.set_profile_field("phone", "555", caravan::Audience::Family).unwrap();
        a.export(caravan::Target::Everyone).unwrap();
    }
    let (private, public): (Vec<[u8; 32]>, Vec<[u8; 32]>) = {
        let a = Node::open(s.hub_home.path(), "").unwrap();
        let all = caravan::link::quic::parse_summary(&caravan::link::quic::encode_summary(&a.held_digests().unwrap()))
            .unwrap();
        let mut private = Vec::new();
        let mut public = Vec::new();
        for d in all {
            let b = a.bundle_bytes(&d).unwrap().unwrap();
            let Some(opened) = a.open_cloak(&b).unwrap() else { continue };
            let b = opened.inner;
            let info = caravan::bundle::parse_untimed(&b).unwrap();
            let Ok(env) = caravan::envelope::decode_envelope(&b[info.payload.clone()]) else { continue };
            // Members-only and audience-only content, and key grants, are private; public
            // profiles and community public parts are for anyone.
            if env.header.encrypted {
                private.push(d);
            } else {
                public.push(d);
            }
        }
        (private, public)
    };
    assert!(!private.is_empty() && !public.is_empty());
    let hub_card = Node::open(s.hub_home.path(), "").unwrap().card();
    let hub = caravan::daemon::run(s.hub_home.path(), s.hub.clone(), tokio::time::sleep(Duration::from_secs(8)));
    let visitors = async {
        tokio::time::sleep(Duration::from_millis(500)).await;

        let stranger = caravan::Identity::generate();
        let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        ep.set_default_client_config(caravan::link::quic::client_config(&stranger, &hub_card.signing_public).unwrap());
        let conn = ep.connect(s.hub.listen, "caravan").unwrap().await.unwrap();
        let mut recv = conn.accept_uni().await.unwrap();
        let summary = caravan::link::quic::parse_summary(&read_frame(&mut recv).await).unwrap();
        let endpoints = String::from_utf8(read_frame(&mut recv).await).unwrap();
        assert_eq!(endpoints, hub_card.node_id().endpoint(), "a stranger learned the hub's other endpoints");
        assert!(private.iter().all(|d| !summary.contains(d)), "a stranger learned digests of private bundles");
        assert!(public.iter().all(|d| summary.contains(d)));

        // The stranger now says nothing and keeps the connection open; the village dials and
        // syncs all the same.
        let started = std::time::Instant::now();
        let village =
            caravan::daemon::run(s.village_home.path(), s.village.clone(), tokio::time::sleep(Duration::from_secs(4)))
                .await
                .unwrap();
        assert!(village.dialled >= 1, "{village:?}");
        assert!(started.elapsed() < Duration::from_secs(6));
        let mut b = Node::open(s.village_home.path(), "").unwrap();
        assert_eq!(b.wiki_page(&s.wells, "North well").unwrap().as_deref(), Some("Pump fixed in May.\n"));
        drop(conn);
    };
    let (hub, ()) = tokio::join!(hub, visitors);
    hub.unwrap();
}
