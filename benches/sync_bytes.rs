//! Bytes on the wire to converge two replicas that diverged by 1,000 changes each:
//! Caravan's one-way bundles (each side sends once, no round trip) next to Automerge's
//! own sync protocol on the same two documents. Goal: <= 0.5x Automerge's bytes.

#![allow(missing_docs)]

use automerge::AutoCommit;
use automerge::sync::{Message, State, SyncDoc};
use caravan::{DocId, Node, Part, Role, Target};

const DIVERGENCE: usize = 1_000;

fn automerge_sync(a: &mut AutoCommit, b: &mut AutoCommit) -> (usize, usize, usize) {
    let (mut sa, mut sb) = (State::new(), State::new());
    let (mut bytes, mut messages, mut round_trips) = (0, 0, 0);
    loop {
        let mut moved = false;
        if let Some(m) = a.sync().generate_sync_message(&mut sa) {
            let enc = m.encode();
            bytes += enc.len();
            messages += 1;
            b.sync().receive_sync_message(&mut sb, Message::decode(&enc).unwrap()).unwrap();
            moved = true;
        }
        if let Some(m) = b.sync().generate_sync_message(&mut sb) {
            let enc = m.encode();
            bytes += enc.len();
            messages += 1;
            a.sync().receive_sync_message(&mut sa, Message::decode(&enc).unwrap()).unwrap();
            moved = true;
        }
        if !moved {
            break;
        }
        round_trips += 1;
    }
    assert_eq!(a.get_heads(), b.get_heads());
    (bytes, messages, round_trips)
}

fn main() {
    let (ha, hb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = Node::open(ha.path(), "A").unwrap();
    let mut b = Node::open(hb.path(), "B").unwrap();
    b.add_contact(&a.card(), &[]).unwrap();
    let cid = a.create_community("Sync", "").unwrap();
    a.invite(&cid, &b.card(), Role::Editor).unwrap();
    a.post(&cid, "common ancestor").unwrap();
    // Full exchange first: both sides know what the other has.
    for x in a.export(Target::Peer(b.node_id())).unwrap() {
        b.import(&x).unwrap();
    }
    for x in b.export(Target::Peer(a.node_id())).unwrap() {
        a.import(&x).unwrap();
    }
    let feed = DocId::Community { id: cid, part: Part::FEED };
    assert_eq!(a.heads(feed).unwrap(), b.heads(feed).unwrap());

    // Diverge: 1,000 posts on each side, concurrently.
    for i in 0..DIVERGENCE {
        a.post(&cid, &format!("from A #{i}")).unwrap();
        b.post(&cid, &format!("from B #{i}")).unwrap();
    }
    let mut am_a = AutoCommit::load(&a.document_bytes(feed).unwrap()).unwrap();
    let mut am_b = AutoCommit::load(&b.document_bytes(feed).unwrap()).unwrap();

    // Caravan: each side exports once for the other, blind; then each imports.
    let to_b = a.export(Target::Peer(b.node_id())).unwrap();
    let to_a = b.export(Target::Peer(a.node_id())).unwrap();
    let caravan_bytes: usize = to_b.iter().chain(&to_a).map(Vec::len).sum();
    b.import_many(to_b.iter().map(Vec::as_slice)).unwrap();
    a.import_many(to_a.iter().map(Vec::as_slice)).unwrap();
    assert_eq!(a.heads(feed).unwrap(), b.heads(feed).unwrap(), "one-way exchange did not converge");
    assert_eq!(a.feed(&cid).unwrap().len(), 2 * DIVERGENCE + 1);

    if std::env::var_os("SYNC_BYTES_DETAIL").is_some() {
        let base = am_b.get_heads();
        let new: Vec<_> = am_a.get_changes(&base).iter().map(|c| c.hash()).collect();
        let raw: usize = am_a.get_changes(&base).iter().map(|c| c.raw_bytes().len()).sum();
        let compact = am_a.bundle(new.clone()).unwrap().bytes().len();
        let bundle_bytes = am_a.bundle(new.clone()).unwrap().bytes().to_vec();
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut z, &bundle_bytes).unwrap();
        eprintln!("deflate(bundle) = {} B", z.finish().unwrap().len());
        eprintln!(
            "A's {} new changes: raw {raw} B, bundle() {compact} B; caravan bundle sizes {:?} {:?}",
            new.len(),
            to_b.iter().map(Vec::len).collect::<Vec<_>>(),
            to_a.iter().map(Vec::len).collect::<Vec<_>>()
        );
    }
    let (am_bytes, am_messages, am_round_trips) = automerge_sync(&mut am_a, &mut am_b);
    println!("two replicas diverged by {DIVERGENCE} changes each (community feed posts)");
    println!("{:<32} {:>9} {:>9} {:>12}", "", "bytes", "messages", "round trips");
    println!("{:<32} {:>9} {:>9} {:>12}", "caravan one-way bundles", caravan_bytes, to_b.len() + to_a.len(), 0);
    println!("{:<32} {:>9} {:>9} {:>12}", "automerge sync protocol", am_bytes, am_messages, am_round_trips);
    println!("caravan / automerge bytes: {:.2}x (goal <= 0.5x)", caravan_bytes as f64 / am_bytes as f64);
}
