//! Subscriptions through the binary: a follower two hops away gets a node's and a
//! community's public posts through a relay that follows them too (and carries nothing
//! else for others), never meeting the author, over sticks and over real QUIC on
//! loopback; unfollowing stops what comes next; a per-source budget keeps the newest
//! and passes them on.

mod common;

use common::{caravan, card, init, node_id, ok, sync_stick};

#[test]
fn a_follower_two_hops_away_gets_public_posts_through_a_relay_that_follows() {
    let people: Vec<tempfile::TempDir> = ["Author", "Relay", "Reader"].iter().map(|n| init(n)).collect();
    let [a, r, f] = [0, 1, 2].map(|i| people[i].path());
    let (near, far) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (near, far) = (near.path(), far.path());
    let author = node_id(a);
    ok(a, &["community", "create", "Beekeepers"]);
    let cid = ok(a, &["community", "list", "--json"]);
    let cid: serde_json::Value = serde_json::from_str(&cid).unwrap();
    let cid = cid[0]["id"].as_str().unwrap().to_string();
    // The relay carries nothing for others, but keeps what it follows.
    ok(r, &["relay", "--quota", "0"]);
    assert!(ok(r, &["follow", &author]).contains("Following"));
    ok(r, &["follow", &cid, "--community"]);
    ok(f, &["follow", &card(a)]);
    ok(f, &["follow", &cid, "--community"]);
    let again = ok(f, &["follow", &author]);
    assert!(again.contains("already"), "{again}");
    assert!(ok(f, &["feed", "--following"]).contains("Nothing public yet from the 2 sources you follow"));

    ok(a, &["profile", "post", "Swarm season starts Monday"]);
    ok(a, &["post", "Beekeepers", "Open hive day on Saturday", "--public"]);
    ok(a, &["post", "Beekeepers", "members only: the key is under the mat"]);
    sync_stick(a, near);
    sync_stick(r, near);
    sync_stick(r, far);
    sync_stick(f, far);
    let feed = ok(f, &["feed", "--following"]);
    assert!(feed.contains("Author: Swarm season starts Monday"), "{feed}");
    assert!(feed.contains("in Beekeepers: Open hive day on Saturday"), "{feed}");
    assert!(!feed.contains("key is under the mat"), "members-only content leaked: {feed}");
    let json: serde_json::Value = serde_json::from_str(&ok(f, &["feed", "--following", "--json"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    let listed = ok(f, &["following"]);
    assert!(listed.contains("the community Beekeepers"), "{listed}");

    // Unfollowed: what comes next is not read (nor kept: the reader carries nothing).
    ok(f, &["relay", "--quota", "0"]);
    assert!(ok(f, &["unfollow", &author]).contains("No longer following"));
    ok(a, &["profile", "post", "Queens for sale"]);
    for (n, stick) in [(a, near), (r, near), (r, far), (f, far)] {
        sync_stick(n, stick);
    }
    let feed = ok(f, &["feed", "--following"]);
    assert!(!feed.contains("Queens for sale"), "{feed}");
    assert!(feed.contains("Open hive day"), "{feed}");
    let bad = caravan(f, &["follow", &node_id(f)]);
    assert!(!bad.status.success());
}

/// A relay that follows keeps at most its budget of a source, the oldest going first,
/// and still passes each new post on to a follower that takes them as they come.
#[test]
fn a_followers_budget_keeps_the_newest_and_passes_them_on() {
    let people: Vec<tempfile::TempDir> = ["Author", "Relay", "Reader"].iter().map(|n| init(n)).collect();
    let [a, r, f] = [0, 1, 2].map(|i| people[i].path());
    let (near, far) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (near, far) = (near.path(), far.path());
    let author = node_id(a);
    ok(r, &["relay", "--quota", "0"]);
    ok(f, &["relay", "--quota", "0"]);
    ok(r, &["follow", &author]);
    ok(f, &["follow", &author]);
    assert!(ok(r, &["following", "--budget", "12KiB"]).contains("at most 12 KiB of each"));
    // One bundle per post, each a few KiB, carried as it comes.
    let long = "pollen ".repeat(400);
    for i in 0..8 {
        ok(a, &["profile", "post", &format!("post {i}: {long}")]);
        for (n, stick) in [(a, near), (r, near), (r, far), (f, far)] {
            sync_stick(n, stick);
        }
    }
    let feed = ok(f, &["feed", "--following"]);
    for i in 0..8 {
        assert!(feed.contains(&format!("post {i}:")), "post {i} did not come through: {feed}");
    }
    let kept: serde_json::Value = serde_json::from_str(&ok(r, &["following", "--json"])).unwrap();
    let bytes = kept[0]["kept_bytes"].as_u64().unwrap();
    assert!(bytes <= 12 * 1024, "the relay keeps {bytes} bytes of the author");
    assert!(kept[0]["kept_bundles"].as_u64().unwrap() >= 1);
    // What the relay read stays readable there.
    let own = ok(r, &["feed", "--following"]);
    assert!(own.contains("post 0:") && own.contains("post 7:"), "{own}");
    // A follower that starts late, from what the relay kept alone (a fresh stick): the
    // author's public snapshot among the newest bundles brings every post.
    let late_reader = init("Late reader");
    let g = late_reader.path();
    ok(g, &["follow", &author]);
    let fresh = tempfile::tempdir().unwrap();
    sync_stick(r, fresh.path());
    sync_stick(g, fresh.path());
    let feed = ok(g, &["feed", "--following"]);
    for i in 0..8 {
        assert!(feed.contains(&format!("post {i}:")), "post {i} missing for the late reader: {feed}");
    }
}

/// The second hop over QUIC: the relay got the author's post from a stick; the reader's
/// daemon dials the relay's daemon and takes it, never meeting the author.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_gets_public_posts_from_a_following_relay_over_quic() {
    use caravan::config::{Config, Peer};
    use caravan::{Audience, Followed, Node};
    use std::time::Duration;
    let (a, r, f) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut author = Node::open(a.path(), "Author").unwrap();
    let mut relay = Node::open(r.path(), "Relay").unwrap();
    let mut reader = Node::open(f.path(), "Reader").unwrap();
    relay.set_relay_quota(0).unwrap();
    relay.follow(Followed::Node(author.node_id())).unwrap();
    reader.follow_card(&author.card()).unwrap();
    author.add_profile_post("Swarm season starts Monday", Audience::Public).unwrap();
    let bundles = author.export(caravan::Target::Everyone).unwrap();
    relay.import_many(bundles.iter().map(Vec::as_slice)).unwrap();
    let relay_card = relay.card();
    let author_id = author.node_id();
    drop((author, relay, reader));
    let port = common::free_port();
    let hub = Config { listen: format!("127.0.0.1:{port}").parse().unwrap(), ..Config::default() };
    let village = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        peers: vec![Peer { card: relay_card, address: format!("127.0.0.1:{port}") }],
        ..Config::default()
    };
    let stop = || tokio::time::sleep(Duration::from_secs(3));
    let (x, y) =
        tokio::join!(caravan::daemon::run(r.path(), hub, stop()), caravan::daemon::run(f.path(), village, stop()),);
    x.unwrap();
    assert!(y.unwrap().dialled >= 1);
    let mut reader = Node::open(f.path(), "").unwrap();
    let posts = reader.profile_posts(&author_id, Audience::Public).unwrap();
    assert_eq!(posts.len(), 1, "the post crossed the relay");
    assert_eq!(posts[0].text, "Swarm season starts Monday");
}
