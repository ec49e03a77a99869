//! Keys and data at rest: a node's home is private (0700, its files 0600), and with a
//! passphrase the identity and every community and audience key are sealed, so a copy of
//! the home opens nothing without it.

#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;

use caravan::{Audience, Node, Role, Target};

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_home_is_private_and_loosened_files_are_tightened_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("village");
    drop(Node::open(&home, "Village").unwrap());
    assert_eq!(mode(&home), 0o700);
    assert_eq!(mode(&home.join("identity.key")), 0o600);
    assert_eq!(mode(&home.join("caravan.redb")), 0o600);
    // Loosened by hand (a backup restored with the wrong mode): tightened at the next open.
    for (p, m) in [(home.clone(), 0o755), (home.join("identity.key"), 0o644), (home.join("caravan.redb"), 0o644)] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).unwrap();
    }
    drop(Node::open(&home, "").unwrap());
    assert_eq!(mode(&home), 0o700);
    assert_eq!(mode(&home.join("identity.key")), 0o600);
    assert_eq!(mode(&home.join("caravan.redb")), 0o600);
    // A shared directory used as a home is not changed (only warned about).
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("someone-else.txt"), "x").unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
    drop(Node::open(&shared, "").unwrap());
    assert_eq!(mode(&shared), 0o755);
    assert_eq!(mode(&shared.join("identity.key")), 0o600);
}

#[test]
fn sealed_keys_open_only_with_the_passphrase_and_are_nowhere_in_the_clear() {
    let dir = tempfile::tempdir().unwrap();
    let (ha, hb) = (dir.path().join("a"), dir.path().join("b"));
    let mut a = Node::open_sealed(&ha, "A", "a long passphrase").unwrap();
    let mut b = Node::open(&hb, "B").unwrap();
    b.add_contact(&a.card(), &[]).unwrap();
    a.add_contact(&b.card(), &[Audience::Friends]).unwrap();
    let wells = a.create_community("Wells", "").unwrap();
    a.invite(&wells, &b.card(), Role::Editor).unwrap();
    a.put_wiki_page(&wells, "Water", "members only\n").unwrap();
    a.set_profile_field("phone", "555", Audience::Friends).unwrap();
    let (community_key, _) = a.community_key(&wells).unwrap();
    let sent = a.export(Target::Everyone).unwrap();
    drop(a);
    // The identity secret and the community key appear in no file of the home.
    let mut files = vec![ha.join("identity.key"), ha.join("caravan.redb")];
    files.retain(|f| f.exists());
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        assert!(!bytes.windows(32).any(|w| w == community_key), "{} holds the community key", f.display());
    }
    // Without the passphrase, or with another, nothing opens.
    let err = Node::open(&ha, "").err().expect("opened sealed keys without a passphrase");
    assert!(err.to_string().contains("passphrase"), "{err}");
    assert!(Node::open_sealed(&ha, "", "wrong passphrase").is_err());
    // With it, the node works as before, and B reads what it sealed.
    let mut a = Node::open_sealed(&ha, "", "a long passphrase").unwrap();
    assert_eq!(a.community_key(&wells).unwrap().0, community_key);
    assert_eq!(a.wiki_page(&wells, "Water").unwrap().as_deref(), Some("members only\n"));
    b.import_many(sent.iter().map(Vec::as_slice)).unwrap();
    assert_eq!(b.wiki_page(&wells, "Water").unwrap().as_deref(), Some("members only\n"));
}

#[test]
fn the_binary_asks_for_the_passphrase_or_reads_it_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "a long passphrase\n").unwrap();
    let run = |args: &[&str], with: Option<&std::path::Path>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_caravan"));
        c.arg("--home").arg(&home).args(args).stdin(std::process::Stdio::null());
        c.env_remove("CARAVAN_PASSPHRASE_FILE").env_remove("CREDENTIALS_DIRECTORY");
        if let Some(p) = with {
            c.env("CARAVAN_PASSPHRASE_FILE", p);
        }
        c.output().unwrap()
    };
    let out = run(&["init", "--name", "Hub", "--passphrase"], Some(&pass));
    assert!(out.status.success(), "{out:?}");
    assert!(run(&["community", "create", "Wells"], Some(&pass)).status.success());
    // Without a terminal and without the file: one clear line, a failure status.
    let out = run(&["community", "list"], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sealed under a passphrase") && err.contains("CARAVAN_PASSPHRASE_FILE"), "{err}");
    let out = run(&["community", "list"], Some(&pass));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Wells"), "{out:?}");
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "not it").unwrap();
    let out = run(&["community", "list"], Some(&wrong));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("passphrase does not open"), "{out:?}");
}
