//! Everything a node keeps for others is bounded: a flood of strangers' public profiles,
//! bundles for groups nobody here is in, bundles under an epoch nobody holds, grants and
//! signals for other nodes, invitations from strangers, and bundles with lifetimes of a
//! century. The node keeps at most its relay quota of it, its store grows by no more than
//! the quota and a small margin, and it reports what it keeps truthfully.

mod common;

use std::time::Duration;

use caravan::crypto::CONTEXT_CUSTODY_SIGNAL;
use caravan::custody::{BundleId, Disposition, Signal};
use caravan::envelope;
use caravan::{Audience, CommunityId, DocId, Identity, Outcome, Part, Role, Target};
use common::{changes_by, forge_batch, node};

const QUOTA: u64 = 1 << 20;

fn file_size(n: &common::TestNode) -> u64 {
    std::fs::metadata(n.home.path().join("caravan.redb")).unwrap().len()
}

/// A custody signal from a stranger for another stranger's bundles.
fn stranger_signal(pad_entries: usize) -> Vec<u8> {
    let signer = Identity::generate();
    let custodian = Identity::generate().node_id();
    let answers = (0..pad_entries as u64).map(|i| (Disposition::Accepted, BundleId { source: custodian, seq: i * 2 }));
    let signal = Signal::aggregate(answers);
    let inner = envelope::encode_signal(&signer.signing_public(), &signal);
    let sig = signer.sign(CONTEXT_CUSTODY_SIGNAL, &[&inner]);
    let record = envelope::encode_signal_record(&inner, &sig);
    caravan::bundle::build_admin_record(
        &signer.node_id().endpoint(),
        &custodian.endpoint(),
        common::now_ms(),
        1,
        Duration::from_secs(59 * 86_400),
        &record,
    )
    .unwrap()
}

/// A re-wrap of `bytes` with a new lifetime (a carrier can do it without keys).
fn with_lifetime(bytes: &[u8], lifetime: Duration) -> Vec<u8> {
    let info = caravan::bundle::parse_untimed(bytes).unwrap();
    caravan::bundle::build(
        &info.source,
        &info.destination,
        info.created_unix_ms,
        info.sequence,
        lifetime,
        &bytes[info.payload.clone()],
    )
    .unwrap()
}

#[test]
fn a_flood_of_everything_a_stranger_can_send_stays_within_the_relay_quota() {
    let mut v = node("Village");
    v.node.set_relay_quota(QUOTA).unwrap();
    // The village's own life: a community with a member, a profile.
    let mut friend = node("Friend");
    friend.node.add_contact(&v.node.card(), &[]).unwrap();
    let wells = v.node.create_community("Wells", "").unwrap();
    v.node.invite(&wells, &friend.node.card(), Role::Member).unwrap();
    v.node.put_wiki_page(&wells, "Water", &"north well ".repeat(2000)).unwrap();
    v.node.set_profile_field("name", "Village", Audience::Public).unwrap();
    let own = v.node.export(Target::Everyone).unwrap();
    friend.node.import_many(own.iter().map(Vec::as_slice)).unwrap();
    let (own_count, own_bytes) = v.node.stored().unwrap();
    let file_before = file_size(&v);

    let mut flood: Vec<Vec<u8>> = Vec::new();
    let long = Duration::from_secs(59 * 86_400);
    let mut rng = common::Rng(7);
    for i in 0..60 {
        // A stranger's public profile with a 40 KB field.
        let s = Identity::generate();
        let doc = DocId::Profile { owner: s.node_id(), audience: Audience::Public };
        let big = "x".repeat(40_000 + i);
        let b = forge_batch(
            &s,
            &s.node_id().endpoint(),
            &doc.to_string(),
            &doc.endpoint(),
            None,
            None,
            vec![],
            &changes_by(&s.signing_public(), "field/about", &big),
        );
        flood.push(with_lifetime(&b, long));
        // Content of a community nobody here is in, 40 KB, under a key nobody here holds.
        let cid = CommunityId([rng.next() as u8; 20]);
        let wiki = DocId::Community { id: cid, part: Part::WIKI };
        let b = forge_batch(
            &s,
            &s.node_id().endpoint(),
            &wiki.to_string(),
            &cid.endpoint(),
            Some(([3; 32], 0)),
            None,
            vec![],
            &changes_by(&s.signing_public(), "page/x", &big),
        );
        flood.push(with_lifetime(&b, long));
        // Content claiming to be for the village's own community, under an epoch nobody holds.
        let ours = DocId::Community { id: wells, part: Part::FEED };
        let b = forge_batch(
            &s,
            &s.node_id().endpoint(),
            &ours.to_string(),
            &wells.endpoint(),
            Some(([4; 32], 9 + i as u32)),
            None,
            vec![],
            &changes_by(&s.signing_public(), "post/1/x", &big),
        );
        flood.push(with_lifetime(&b, long));
        // Custody signals for other nodes, as big as a signal may be.
        flood.push(stranger_signal(400));
    }
    // Invitations from strangers (each a real community of its own).
    for i in 0..80 {
        let mut s = node(&format!("Stranger {i}"));
        let c = s.node.create_community(&format!("Club {i}"), &"about us ".repeat(100)).unwrap();
        s.node.invite(&c, &v.node.card(), Role::Member).unwrap();
        flood.extend(s.node.export(Target::Peer(v.node.node_id())).unwrap());
    }
    // Strangers who add the village as a friend and grant it their friends-only profile:
    // reading them takes the village's consent (adding them), so it is all kept for others.
    for i in 0..30 {
        let mut s = node(&format!("Admirer {i}"));
        s.node.add_contact(&v.node.card(), &[Audience::Friends]).unwrap();
        s.node.set_profile_field("letter", &"z".repeat(30_000), Audience::Friends).unwrap();
        flood.extend(s.node.export(Target::Everyone).unwrap());
    }
    // A century-long lifetime is refused outright.
    let century = with_lifetime(&flood[0], Duration::from_secs(100 * 365 * 86_400));
    let report = v.node.import(&century).unwrap();
    assert!(matches!(report.outcomes[0], Outcome::Rejected(_)), "{report:?}");

    let flood_bytes: u64 = flood.iter().map(|b| b.len() as u64).sum();
    assert!(flood_bytes > 6 * QUOTA, "the flood is {flood_bytes} bytes");
    for chunk in flood.chunks(50) {
        v.node.import_many(chunk.iter().map(Vec::as_slice)).unwrap();
        let (used, quota) = v.node.relay_usage().unwrap();
        assert!(used <= quota, "kept {used} for others over a quota of {quota}");
    }
    let (count, bytes) = v.node.stored().unwrap();
    let (used, _) = v.node.relay_usage().unwrap();
    assert!(used > QUOTA / 2, "the quota was used ({used}), so the flood really reached it");
    assert!(bytes <= own_bytes + QUOTA, "stored {bytes} bytes: own {own_bytes} + quota {QUOTA} exceeded");
    assert!(count > own_count);
    assert!(v.node.invites().unwrap().len() <= caravan::limits::INVITES_PENDING_MAX);
    // The file grows by at most the quota and a small fixed margin (pages, indexes, the
    // memory of refusals).
    let grown = file_size(&v).saturating_sub(file_before);
    assert!(grown <= QUOTA + 8 * 1024 * 1024, "the store file grew by {grown} bytes");
    // The village's own documents are intact, and it still syncs with its member.
    assert!(v.node.wiki_page(&wells, "Water").unwrap().unwrap().starts_with("north well"));
    friend.node.post(&wells, "still here").unwrap();
    let back = friend.node.export(Target::Peer(v.node.node_id())).unwrap();
    v.node.import_many(back.iter().map(Vec::as_slice)).unwrap();
    assert!(v.node.feed(&wells).unwrap().iter().any(|p| p.text == "still here"));
    // The stick it writes carries what it keeps, no more.
    let stick = tempfile::tempdir().unwrap();
    let r = caravan::link::stick::sync(&mut v.node, stick.path(), Default::default()).unwrap();
    assert!(r.bytes_written <= own_bytes + QUOTA + 1024 * 1024 + (r.exported as u64) * 128, "{r:?}");
}
