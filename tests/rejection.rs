//! Bad input: tampered, forged or unauthorised bundles are refused with a reason that
//! names the problem, and the store file does not change by a single byte.

mod common;

use caravan::envelope::Genesis;
use caravan::{Audience, DocId, Identity, Outcome, Part, Rejection, Role, Target};
use common::{TestNode, changes_by, forge_batch, node};

struct World {
    a: TestNode,
    b: TestNode,
    c: TestNode,
    wells: caravan::CommunityId,
    a_bundles: Vec<Vec<u8>>,
}

/// A founds Wells, B is an editor, C a member; B and C have taken in everything.
fn world() -> World {
    let mut a = node("A");
    let mut b = node("B");
    let mut c = node("C");
    b.node.add_contact(&a.node.card(), &[]).unwrap();
    c.node.add_contact(&a.node.card(), &[]).unwrap();
    a.node.add_contact(&b.node.card(), &[Audience::Friends]).unwrap();
    let wells = a.node.create_community("Wells", "public description").unwrap();
    a.node.invite(&wells, &b.node.card(), Role::Editor).unwrap();
    a.node.invite(&wells, &c.node.card(), Role::Member).unwrap();
    a.node.put_wiki_page(&wells, "Water", "members only text\n").unwrap();
    a.node.set_profile_field("name", "Amina", Audience::Public).unwrap();
    a.node.set_profile_field("phone", "555-0100", Audience::Friends).unwrap();
    let a_bundles = a.node.export(Target::Everyone).unwrap();
    for n in [&mut b, &mut c] {
        let r = n.node.import_many(a_bundles.iter().map(Vec::as_slice)).unwrap();
        assert!(r.rejected().is_empty(), "{:?}", r.rejected());
    }
    World { a, b, c, wells, a_bundles }
}

fn rejected(report: &caravan::ImportReport) -> Rejection {
    match report.outcomes.as_slice() {
        [Outcome::Rejected(r)] => r.clone(),
        other => panic!("expected one rejection, got {other:?}"),
    }
}

/// Every byte of every bundle flipped, given to a node that opens it (a carrier cannot
/// check what it cannot open: it carries it, and the reader refuses it).
#[test]
fn flipping_any_byte_gets_a_bundle_rejected_and_changes_nothing() {
    let mut w = world();
    // A fresh contact of A's (it opens A's public profile) beside the members.
    let mut d = node("D");
    d.node.add_contact(&w.a.node.card(), &[]).unwrap();
    let before: Vec<_> = [&w.b, &w.c, &d].iter().map(|n| n.node.fingerprint().unwrap()).collect();
    let mut tried = 0;
    for bundle in &w.a_bundles {
        let mut readers = [&mut w.b, &mut w.c, &mut d];
        let Some(reader) = readers.iter_mut().find(|n| n.node.open_cloak(bundle).unwrap().is_some()) else {
            continue;
        };
        // A cloak for one node whose ephemeral key is damaged is nobody's: its reader
        // carries it for others, as any carrier would. Every other byte is checked.
        let direct = reader.node.open_cloak(bundle).unwrap().is_some_and(|o| o.direct);
        let e = caravan::bundle::parse_untimed(bundle).unwrap().payload.start + 1;
        for i in (0..bundle.len()).filter(|i| !direct || !(e..e + 32).contains(i)) {
            let mut bad = bundle.clone();
            bad[i] ^= 0x20;
            let report = reader.node.import(&bad).unwrap();
            assert!(
                matches!(report.outcomes.as_slice(), [Outcome::Rejected(_)]),
                "byte {i} of a {}-byte bundle flipped was not rejected: {report:?}",
                bundle.len()
            );
            tried += 1;
        }
        // Cut short at a few points.
        for cut in [1, bundle.len() / 2, bundle.len() - 1] {
            assert!(matches!(reader.node.import(&bundle[..cut]).unwrap().outcomes.as_slice(), [Outcome::Rejected(_)]));
        }
    }
    assert!(tried > 5000, "{tried}");
    let after: Vec<_> = [&w.b, &w.c, &d].iter().map(|n| n.node.fingerprint().unwrap()).collect();
    assert_eq!(after, before, "a rejected bundle changed what a node keeps");
    // The untampered originals are all accepted (D is not a member: it carries them).
    let report = d.node.import_many(w.a_bundles.iter().map(Vec::as_slice)).unwrap();
    assert!(report.rejected().is_empty());
    assert_ne!(d.node.fingerprint().unwrap(), before[2]);
}

#[test]
fn forged_and_unauthorised_batches_are_rejected_with_their_reason() {
    let mut w = world();
    let wells = w.wells;
    let key = w.b.node.community_key(&wells).unwrap();
    let public_doc = DocId::Community { id: wells, part: Part::PUBLIC };
    let wiki_doc = DocId::Community { id: wells, part: Part::WIKI };
    let roster_doc = DocId::Community { id: wells, part: Part::ROSTER };
    let endpoint = wells.endpoint();
    let before = w.b.node.fingerprint().unwrap();

    // 1. A non-member signs a change to the community's public document.
    let outsider = Identity::generate();
    let outsider_src = outsider.node_id().endpoint();
    let changes = changes_by(&outsider.signing_public(), "name", "Hijacked");
    let forged =
        forge_batch(&outsider, &outsider_src, &public_doc.to_string(), &endpoint, None, None, vec![], &changes);
    assert!(matches!(rejected(&w.b.node.import(&forged).unwrap()), Rejection::NotMember { .. }));

    // ...claiming to be the founder with a genesis of its own making.
    let fake = Genesis { root: outsider.signing_public(), nonce: [0; 16] };
    let forged =
        forge_batch(&outsider, &outsider_src, &public_doc.to_string(), &endpoint, None, Some(fake), vec![], &changes);
    assert!(matches!(rejected(&w.b.node.import(&forged).unwrap()), Rejection::NotMember { .. }));

    // ...with a self-issued owner certificate, even holding the (leaked) key.
    let wells_id = wells;
    let real_genesis = genesis_of(&w);
    let self_cert = caravan::membership::issue(&outsider, &wells_id, &outsider.signing_public(), Role::Owner);
    let forged = forge_batch(
        &outsider,
        &outsider_src,
        &wiki_doc.to_string(),
        &endpoint,
        Some(key),
        Some(real_genesis),
        vec![self_cert],
        &changes,
    );
    assert!(matches!(rejected(&w.b.node.import(&forged).unwrap()), Rejection::NotMember { .. }));

    // 2. A signer whose key is not the actor of the changes (in a document it may write).
    let c_identity = identity_of(&w.c);
    let a_actor_changes = changes_by(&identity_of(&w.a).signing_public(), "post/1/x", "overwritten");
    let c_chain = chain_of(&w.c, &wells);
    let feed_doc = DocId::Community { id: wells, part: Part::FEED };
    let forged = forge_batch(
        &c_identity,
        &w.c.node.node_id().endpoint(),
        &feed_doc.to_string(),
        &endpoint,
        Some(key),
        Some(real_genesis),
        c_chain.clone(),
        &a_actor_changes,
    );
    let r = rejected(&w.b.node.import(&forged).unwrap());
    assert!(matches!(r, Rejection::WrongActor { .. }), "{r:?}");

    // 3. A member (not editor) writing the wiki, and the roster.
    let c_changes = changes_by(&c_identity.signing_public(), "page/Water", "member edit");
    for (doc, part) in [(wiki_doc, Part::WIKI), (roster_doc, Part::ROSTER)] {
        let forged = forge_batch(
            &c_identity,
            &w.c.node.node_id().endpoint(),
            &doc.to_string(),
            &endpoint,
            Some(key),
            Some(real_genesis),
            c_chain.clone(),
            &c_changes,
        );
        assert_eq!(rejected(&w.b.node.import(&forged).unwrap()), Rejection::Permission { role: Role::Member, part });
    }

    // 4. Signed by C but claiming to come from A.
    let forged = forge_batch(
        &c_identity,
        &w.a.node.node_id().endpoint(),
        &DocId::Community { id: wells, part: Part::FEED }.to_string(),
        &endpoint,
        Some(key),
        Some(real_genesis),
        c_chain.clone(),
        &c_changes,
    );
    assert!(matches!(rejected(&w.b.node.import(&forged).unwrap()), Rejection::AuthorNotSource(_)));

    // 5. Someone else writing A's profile.
    let a_profile = DocId::Profile { owner: w.a.node.node_id(), audience: Audience::Public };
    let forged = forge_batch(
        &outsider,
        &outsider_src,
        &a_profile.to_string(),
        &a_profile.endpoint(),
        None,
        None,
        vec![],
        &changes_by(&outsider.signing_public(), "field/name", "Not Amina"),
    );
    assert!(matches!(rejected(&w.b.node.import(&forged).unwrap()), Rejection::NotProfileOwner(_)));

    // 6. Members-only content sent in the clear, and content under a wrong key.
    let forged = forge_batch(
        &c_identity,
        &w.c.node.node_id().endpoint(),
        &DocId::Community { id: wells, part: Part::FEED }.to_string(),
        &endpoint,
        None,
        Some(real_genesis),
        c_chain.clone(),
        &c_changes,
    );
    assert!(matches!(rejected(&w.b.node.import(&forged).unwrap()), Rejection::Protection(_)));
    // (In a cloak members open: under the wrong key's own route nobody here would open it.)
    let feed = DocId::Community { id: wells, part: Part::FEED }.to_string();
    let forged = common::cloak_for(
        &common::forge_inner(
            &c_identity,
            &w.c.node.node_id().endpoint(),
            &feed,
            &endpoint,
            Some(([7; 32], key.1)),
            Some(real_genesis),
            c_chain.clone(),
            &c_changes,
        ),
        &feed,
        Some((&key.0, key.1)),
    );
    assert!(matches!(rejected(&w.b.node.import(&forged).unwrap()), Rejection::Decrypt(_)));

    assert_eq!(w.b.node.fingerprint().unwrap(), before, "a rejection changed what B keeps");
    assert_eq!(w.b.node.wiki_page(&wells, "Water").unwrap().as_deref(), Some("members only text\n"));

    // The same member, posting to the feed as a member may (a post under its own name),
    // is accepted.
    let feed = DocId::Community { id: wells, part: Part::FEED };
    let own_post = format!("post/1796000000000/{}", w.c.node.node_id());
    let c_changes = changes_by(&c_identity.signing_public(), &own_post, "member post");
    let ok = forge_batch(
        &c_identity,
        &w.c.node.node_id().endpoint(),
        &feed.to_string(),
        &endpoint,
        Some(key),
        Some(real_genesis),
        c_chain,
        &c_changes,
    );
    assert!(matches!(w.b.node.import(&ok).unwrap().outcomes.as_slice(), [Outcome::New { .. }]));
}

#[test]
fn non_members_and_relays_learn_only_public_content() {
    let w = world();
    let mut d = node("D, not a member");
    let mut relay = node("Relay with no keys");
    for n in [&mut d, &mut relay] {
        let r = n.node.import_many(w.a_bundles.iter().map(Vec::as_slice)).unwrap();
        assert!(r.rejected().is_empty());
        assert_eq!(
            n.node.community_about(&w.wells).unwrap(),
            (Some("Wells".into()), Some("public description".into()))
        );
        assert_eq!(n.node.wiki_page(&w.wells, "Water").unwrap(), None);
        assert!(n.node.members(&w.wells).unwrap().is_empty());
        let fields: Vec<String> = n.node.profile(&w.a.node.node_id()).unwrap().into_iter().map(|f| f.value).collect();
        assert_eq!(fields, vec!["Amina".to_string()]);
    }
    // The relay carries what it cannot read, and a member who only meets the relay
    // gets everything from it.
    let carried = relay.node.export(Target::Everyone).unwrap();
    assert!(carried.len() >= w.a_bundles.len() - 1);
    assert!(carried.iter().all(|b| !b.windows(17).any(|x| x == b"members only text")));
    assert!(carried.iter().all(|b| !b.windows(8).any(|x| x == b"555-0100")));
    let mut late = node("Late member");
    late.node.add_contact(&w.a.node.card(), &[]).unwrap();
    let mut a = w.a;
    a.node.invite(&w.wells, &late.node.card(), Role::Member).unwrap();
    let invitation: Vec<Vec<u8>> = a
        .node
        .export(Target::Peer(late.node.node_id()))
        .unwrap()
        .into_iter()
        // The one cloaked for the newcomer alone: it opens it.
        .filter(|b| late.node.open_cloak(b).unwrap().is_some_and(|o| o.direct))
        .collect();
    assert_eq!(invitation.len(), 1);
    late.node.import_many(carried.iter().map(Vec::as_slice)).unwrap();
    let report = late.node.import(&invitation[0]).unwrap();
    assert!(report.unlocked > 0);
    assert_eq!(late.node.wiki_page(&w.wells, "Water").unwrap().as_deref(), Some("members only text\n"));
}

fn identity_of(n: &TestNode) -> Identity {
    let secret: [u8; 64] = std::fs::read(n.home.path().join("identity.key")).unwrap().try_into().unwrap();
    Identity::from_secret_bytes(&secret)
}

fn genesis_of(w: &World) -> Genesis {
    w.b.node.membership_proof(&w.wells).unwrap().0
}

fn chain_of(n: &TestNode, cid: &caravan::CommunityId) -> Vec<caravan::envelope::Cert> {
    n.node.membership_proof(cid).unwrap().1
}

#[test]
fn an_equivocating_author_is_refused_without_sinking_the_rest_of_the_import() {
    let mut w = world();
    let wells = w.wells;
    // C posts for real (its first change in the feed); B takes it in.
    w.c.node.post(&wells, "the real first post").unwrap();
    let from_c = w.c.node.export(Target::Everyone).unwrap();
    w.b.node.import_many(from_c.iter().map(Vec::as_slice)).unwrap();
    // C then signs a different change with the same actor and sequence number.
    let c_identity = identity_of(&w.c);
    let feed = DocId::Community { id: wells, part: Part::FEED };
    let forged = forge_batch(
        &c_identity,
        &w.c.node.node_id().endpoint(),
        &feed.to_string(),
        &wells.endpoint(),
        Some(w.b.node.community_key(&wells).unwrap()),
        Some(genesis_of(&w)),
        chain_of(&w.c, &wells),
        &changes_by(
            &c_identity.signing_public(),
            &format!("post/0000000000001/{}", w.c.node.node_id()),
            "a second history",
        ),
    );
    // In the same import, legitimate changes from A to the same feed and to the wiki.
    w.a.node.put_wiki_page(&wells, "Water", "members only text\nand more\n").unwrap();
    w.a.node.post(&wells, "a post from A").unwrap();
    let from_a: Vec<Vec<u8>> =
        w.a.node.export(Target::Everyone).unwrap().into_iter().filter(|b| !w.a_bundles.contains(b)).collect();
    let mut batch = vec![forged];
    batch.extend(from_a);
    let report = w.b.node.import_many(batch.iter().map(Vec::as_slice)).unwrap();
    assert!(matches!(&report.outcomes[0], Outcome::Rejected(Rejection::Changes(_))), "{report:?}");
    assert!(report.new_changes() >= 1, "{report:?}");
    assert_eq!(w.b.node.wiki_page(&wells, "Water").unwrap().as_deref(), Some("members only text\nand more\n"));
    let feed_text: Vec<String> = w.b.node.feed(&wells).unwrap().into_iter().map(|p| p.text).collect();
    assert_eq!(feed_text.len(), 2, "{feed_text:?}");
    assert!(feed_text.contains(&"the real first post".to_string()) && feed_text.contains(&"a post from A".to_string()));
}

/// What a carrier without keys sees of a bundle is exactly what `spec/security.md`
/// states: a BPv7 primary block from nobody (`dtn:none`) to a rotating tag, its creation
/// time and lifetime, and a payload padded to a bucket. Not the author, the community,
/// the document, the epoch, the heads, the text, or any member, in any spelling.
#[test]
fn a_carrier_sees_only_the_stated_metadata_of_a_private_bundle() {
    let w = world();
    let a = &w.a.node;
    let wiki = w
        .a_bundles
        .iter()
        .find(|b| {
            let inner = a.open_cloak(b).unwrap().unwrap().inner;
            let info = caravan::bundle::parse_untimed(&inner).unwrap();
            caravan::envelope::decode_envelope(&inner[info.payload.clone()])
                .is_ok_and(|e| e.header.doc.ends_with("/wiki") && e.header.encrypted)
        })
        .unwrap();
    let outer = caravan::cloak::read_untimed(wiki).unwrap();
    // Readable: nobody's, to a tag, padded.
    assert_eq!(outer.info.source, "dtn:none");
    assert_eq!(caravan::cloak::tag_of(&outer.info.destination), Some(outer.tag));
    assert_eq!(caravan::cloak::bucket(outer.info.payload.len()), Some(outer.info.payload.len()));
    // Not readable: anything that names someone or something.
    let contains = |needle: &[u8]| wiki.windows(needle.len()).any(|x| x == needle);
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert!(!contains(b"members only text"));
    assert!(!contains(b"wiki") && !contains(b"Wells") && !contains(b"~community"));
    assert!(!contains(&w.wells.0) && !contains(hex(&w.wells.0).as_bytes()));
    assert!(!contains(w.wells.to_string().as_bytes()));
    for n in [&w.a, &w.b, &w.c] {
        let id = n.node.node_id();
        assert!(!contains(&n.node.card().signing_public), "a signing key is visible");
        assert!(!contains(&id.0) && !contains(id.to_string().as_bytes()) && !contains(hex(&id.0).as_bytes()));
    }
}
