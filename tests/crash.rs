//! Crash consistency: a `caravan import` killed with SIGKILL at any moment leaves a store
//! that reopens cleanly, and re-importing converges to the sender's state.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use caravan::{DocId, Node, Part, Role, Target};
use common::{Rng, node};

#[test]
fn sigkill_during_import_never_corrupts_the_store() {
    let mut a = node("A");
    let b_home = tempfile::tempdir().unwrap();
    let b_card = {
        let mut b = Node::open(b_home.path(), "B").unwrap();
        b.add_contact(&a.node.card(), &[]).unwrap();
        b.card()
    };
    let wells = a.node.create_community("Wells", "").unwrap();
    a.node.invite(&wells, &b_card, Role::Member).unwrap();

    // Many bundles: a post, then an export, again and again.
    let dir = tempfile::tempdir().unwrap();
    let mut seen = std::collections::HashSet::new();
    for i in 0..300 {
        a.node.post(&wells, &format!("post {i}: {}", "x".repeat(200))).unwrap();
        if i % 2 == 1 {
            for b in a.node.export(Target::Everyone).unwrap() {
                if seen.insert(b.clone()) {
                    std::fs::write(dir.path().join(format!("{:05}.bundle", seen.len())), &b).unwrap();
                }
            }
        }
    }
    let total = seen.len();
    assert!(total > 150);

    let exe = env!("CARGO_BIN_EXE_caravan");
    let import = || {
        Command::new(exe)
            .arg("--home")
            .arg(b_home.path())
            .arg("import")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // How long a whole import takes here, to spread the kills across it.
    let probe_home = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let status = Command::new(exe)
        .arg("--home")
        .arg(probe_home.path())
        .args(["init", "--name", "probe"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let out = Command::new(exe).arg("--home").arg(probe_home.path()).arg("import").arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let full = start.elapsed().max(Duration::from_millis(50));

    // Kills spread by a controller: B's imports get shorter as it holds more (and the
    // machine's load varies), so the window shrinks when a kill came too late and grows
    // when it landed.
    let mut rng = Rng(0x5eed);
    let mut killed_mid_way = 0;
    let mut window = full.as_micros() as u64;
    for round in 0..48 {
        if killed_mid_way >= 12 {
            break;
        }
        let mut child = import();
        let delay = Duration::from_micros(rng.next() % (window + 1));
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            killed_mid_way += 1;
            window = window * 9 / 8;
        } else {
            window = (window * 3 / 4).max(1_000);
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        // The store reopens cleanly after every kill, and what it holds is consistent.
        let mut b = Node::open(b_home.path(), "B").unwrap();
        let feed = b.feed(&wells).unwrap();
        for (i, post) in feed.iter().enumerate() {
            assert!(post.text.starts_with("post "), "round {round}: damaged post {i}");
        }
    }
    assert!(killed_mid_way >= 8, "only {killed_mid_way} kills landed during an import");

    let mut b = Node::open(b_home.path(), "B").unwrap();
    let files: Vec<Vec<u8>> = {
        let mut paths: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
        paths.sort();
        paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
    };
    let report = b.import_many(files.iter().map(Vec::as_slice)).unwrap();
    assert!(report.rejected().is_empty());
    assert_eq!(b.feed(&wells).unwrap().len(), 300);
    for part in Part::BUILT_IN {
        let id = DocId::Community { id: wells, part };
        assert_eq!(b.heads(id).unwrap(), a.node.heads(id).unwrap(), "{part:?}");
    }
}
