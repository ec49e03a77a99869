//! Random damage to real bundles (the golden corpus): several flipped bytes, cuts,
//! insertions, splices of two bundles, given to the corpus's reader (which opens them).
//! Nothing panics; every damaged bundle is refused. What a splice can make that is not
//! damage is an authentic cloak under another valid primary block (BPv7 primary blocks
//! are not authenticated): that may be taken in, since its content is exactly a signed
//! original. And a cloak whose tag or ephemeral key is changed opens for nobody: like any
//! carrier, the reader keeps it for others (it cannot tell damage from someone else's).

mod common;

use caravan::Outcome;
use common::{Rng, node};

fn mutate(rng: &mut Rng, all: &[Vec<u8>]) -> Vec<u8> {
    let mut b = all[rng.below(all.len())].clone();
    for _ in 0..1 + rng.below(4) {
        match rng.below(5) {
            0 => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 => b.truncate(rng.below(b.len().max(1))),
            2 => {
                let i = rng.below(b.len() + 1);
                b.insert(i, rng.next() as u8);
            }
            3 => {
                let other = &all[rng.below(all.len())];
                let cut = rng.below(b.len().min(other.len()).max(1));
                b = [&b[..cut], &other[cut..]].concat();
            }
            _ => {
                let i = rng.below(b.len());
                b[i] = [0x00, 0xff, 0x1b, 0x5b, 0x9f][rng.below(5)];
            }
        }
        if b.is_empty() {
            b.push(0x9f);
        }
    }
    b
}

#[test]
fn damaged_bundles_never_panic_and_are_never_stored() {
    let all = common::corpus_bundles();
    // The corpus was made on one day; judge it as of that day.
    let expect: serde_json::Value = serde_json::from_slice(
        &std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bundles/invitation.json")).unwrap(),
    )
    .unwrap();
    let now = expect["created_unix_ms"].as_u64().unwrap() + 60_000;
    // The corpus's reader b, holding the keys its invitation and its friends grant bring.
    let mut n = node("victim");
    let home = n.home.path().to_path_buf();
    drop(n.node);
    std::fs::remove_file(home.join("caravan.redb")).unwrap();
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bundles");
    std::fs::copy(corpus.join("keys/b.key"), home.join("identity.key")).unwrap();
    n.node = caravan::Node::open(&home, "b").unwrap();
    n.node.set_clock(std::sync::Arc::new(move || now));
    let a_card = caravan::ContactCard::parse(&std::fs::read_to_string(corpus.join("keys/a.card")).unwrap()).unwrap();
    n.node.add_contact(&a_card, &[]).unwrap();
    for pre in ["invitation", "profile-friends-grant"] {
        let r = n.node.import(&std::fs::read(corpus.join(format!("{pre}.bundle"))).unwrap()).unwrap();
        assert!(r.rejected().is_empty(), "{r:?}");
    }
    let mut rng = Rng(0xdeadbeef);
    let payloads: Vec<Vec<u8>> =
        all.iter().map(|b| b[caravan::bundle::parse(b, now).map(|i| i.payload).unwrap_or(0..0)].to_vec()).collect();
    assert!(all.iter().all(|b| n.node.open_cloak(b).unwrap().is_some()), "the reader opens the whole corpus");
    let before = n.node.fingerprint().unwrap();
    let (mut refused, mut rewrapped, mut nobodys) = (0, 0, 0);
    for _ in 0..3000 {
        let bad = mutate(&mut rng, &all);
        if all.contains(&bad) {
            continue;
        }
        let report = n.node.import(&bad).unwrap();
        match &report.outcomes[0] {
            Outcome::Rejected(_) => refused += 1,
            Outcome::Waiting(caravan::WaitReason::ForOthers) => {
                assert!(n.node.open_cloak(&bad).unwrap().is_none(), "a damaged cloak it opens was carried");
                nobodys += 1;
            }
            other => {
                let info = caravan::bundle::parse(&bad, now).unwrap();
                assert!(
                    payloads.iter().any(|p| *p == bad[info.payload.clone()]),
                    "a damaged payload was taken in: {other:?}"
                );
                rewrapped += 1;
            }
        }
    }
    assert!(refused > 2500, "{refused} refused, {rewrapped} re-wrapped, {nobodys} for nobody");
    assert!(nobodys < 300, "{nobodys}");
    if rewrapped == 0 && nobodys == 0 {
        // Nothing kept changed (only the memory of what was refused).
        assert_eq!(n.node.fingerprint().unwrap(), before);
    }
}
