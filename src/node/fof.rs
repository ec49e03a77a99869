//! Friends of friends (`crypto.md`): our friends-of-friends audience is read by our
//! friends and by their friends, with no round trip. Each friend's circle key yields a
//! *friends pass* its holders can derive; we seal our friends-of-friends key once per
//! pass we can derive (our own friends circle's, and each friend's whose circle we are
//! in), in anonymous slots of one signed bundle. A new key epoch starts whenever that set
//! of passes changes (a friend rekeyed its circle, a friend came or went).

use super::*;
use crate::envelope::SlotGrant;

const FOF_PASSES_META: &str = "fof-passes";

impl Node {
    /// The friends passes we can seal for: (what they are, for the fingerprint; the pass).
    fn fof_passes(&self, r: &impl Reads) -> Result<Vec<(String, [u8; 32])>, Error> {
        let me = self.node_id();
        let mut out = Vec::new();
        if let Some(g) = self.latest_grant(r, &format!("p/{me}/friends"))? {
            out.push((format!("p/{me}/friends#{}", g.epoch), crypto::friends_pass(&g.key)));
        }
        for (id, bits, _) in r.contacts()? {
            if bits & Audience::Friends.bit() == 0 {
                continue;
            }
            let scope = format!("p/{id}/friends");
            if let Some(g) = self.latest_grant(r, &scope)? {
                out.push((format!("{scope}#{}", g.epoch), crypto::friends_pass(&g.key)));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Makes sure our friends-of-friends key is sealed for exactly the passes we hold now:
    /// if they changed since the last slot grant, a new epoch and a new slot grant (in
    /// `t`). Called before our friends-of-friends audience is sealed.
    pub(super) fn ensure_fof_slots(&mut self, t: &mut Txn) -> Result<(), Error> {
        let me = self.node_id();
        let scope = format!("p/{me}/{}", Audience::FriendsOfFriends);
        let passes = self.fof_passes(&*t)?;
        let fingerprint =
            blake3::hash(passes.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>().join("\n").as_bytes());
        let current = self.latest_grant(&*t, &scope)?;
        if current.is_some() && t.meta(FOF_PASSES_META)?.as_deref() == Some(fingerprint.as_bytes().as_slice()) {
            return Ok(());
        }
        let epoch = current.map_or(0, |g| g.epoch + 1);
        let key = crypto::random_32();
        let signer = self.identity.signing_public();
        let own = Grant { granter: signer, recipient: signer, scope: scope.clone(), epoch, key, invitation: None };
        t.put_grant(&format!("{scope}#{epoch}"), &own.encode())?;
        t.set_meta(FOF_PASSES_META, fingerprint.as_bytes())?;
        let destination = DocId::Profile { owner: me, audience: Audience::FriendsOfFriends }.endpoint();
        let friends: Vec<NodeId> = t
            .contacts()?
            .into_iter()
            .filter(|(_, bits, _)| bits & Audience::Friends.bit() != 0)
            .filter_map(|(n, _, _)| NodeId::parse(&n))
            .collect();
        let mut nonce = [0u8; 16];
        crypto::fill_random(&mut nonce);
        // Our own circle's pass is held by all our friends; a friend's, by that friend
        // (and its friends, whom we do not know).
        let own = format!("p/{me}/friends#");
        let passes: Vec<([u8; 32], Vec<NodeId>)> = passes
            .into_iter()
            .map(|(label, pass)| {
                let holders = if label.starts_with(&own) {
                    friends.clone()
                } else {
                    doc::parse_scope(label.split('#').next().unwrap_or_default())
                        .and_then(|o| match o {
                            ScopeOwner::Profile(owner, _) => Some(vec![owner]),
                            _ => None,
                        })
                        .unwrap_or_default()
                };
                (pass, holders)
            })
            .collect();
        let slots = Slots { scope: &scope, epoch, nonce, key, passes: &passes };
        self.mint_slots(t, slots, &destination)
    }

    /// Mints a slot grant (`crypto.md`) per pass: `key` sealed in one slot, signed,
    /// addressed to `destination`, cloaked for the pass's holders (so a reader
    /// recognises it by its tag), in custody for the holders we know.
    pub(super) fn mint_slots(&mut self, t: &mut Txn, s: Slots<'_>, destination: &str) -> Result<(), Error> {
        let (me, signer, identity) = (self.node_id(), self.identity.signing_public(), self.identity.clone());
        for (pass, holders) in s.passes {
            let seal = |seq| {
                let header = Header {
                    kind: Kind::Slots,
                    author: me,
                    seq,
                    doc: s.scope.to_string(),
                    epoch: s.epoch,
                    heads: vec![],
                    encrypted: true,
                };
                let header_bytes = header.encode();
                let slots = vec![crypto::slot_seal(pass, &s.nonce, &header_bytes, &s.key)];
                let inner =
                    SlotGrant { granter: signer, scope: s.scope.to_string(), epoch: s.epoch, nonce: s.nonce, slots }
                        .encode();
                let signature = identity.sign(crypto::CONTEXT_SLOTS_SIGNATURE, &[&header_bytes, &inner]);
                Ok((header_bytes, envelope::encode_signed(&inner, &signature)))
            };
            let mint = Mint {
                destination,
                to: crate::cloak::To::Group(crate::cloak::Route::pass(pass)),
                doc: s.scope.to_string(),
                state: BundleState::Grant,
                kind: PayloadKind::Grant,
                heads: &[],
            };
            self.mint(t, mint, seal, &[], holders.clone())?;
        }
        Ok(())
    }
}

/// A pass, with the nodes we know hold it (custody waits for them).
pub(super) type Pass = ([u8; 32], Vec<NodeId>);

/// What a slot grant seals: a key of a scope and epoch, for passes, with a nonce.
pub(super) struct Slots<'a> {
    pub(super) scope: &'a str,
    pub(super) epoch: u32,
    pub(super) nonce: [u8; 16],
    pub(super) key: [u8; 32],
    /// Each pass, with the nodes we know hold it (custody waits for them).
    pub(super) passes: &'a [Pass],
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, carry};
    use super::*;

    fn befriend(a: &mut Node, b: &mut Node) {
        a.add_contact(&b.card(), &[Audience::Friends]).unwrap();
        b.add_contact(&a.card(), &[Audience::Friends]).unwrap();
    }

    fn reads(n: &mut Node, owner: &NodeId, value: &str) -> bool {
        n.profile(owner).unwrap().iter().any(|f| f.value == value)
    }

    /// Exactly the author's friends and their friends read a friends-of-friends field;
    /// when a friend takes someone out of its circle, the author's next field is sealed
    /// past them.
    #[test]
    fn friends_of_friends_reach_exactly_their_readers() {
        let kit = Kit::new();
        let (mut a, mut b, mut c, mut d, mut e, mut f) =
            (kit.node("A"), kit.node("B"), kit.node("C"), kit.node("D"), kit.node("E"), kit.node("F"));
        befriend(&mut a, &mut b); // A and B are friends
        befriend(&mut b, &mut c); // C is a friend of A's friend B
        befriend(&mut c, &mut d); // D is a friend of a friend of a friend: not a reader
        a.add_contact(&e.card(), &[Audience::Business]).unwrap(); // E: a contact, not a friend
        e.add_contact(&a.card(), &[]).unwrap();
        f.add_contact(&b.card(), &[]).unwrap(); // F knows B, B does not count F a friend
        // Everyone's keys travel (a stick passed around).
        for _ in 0..2 {
            for (x, y) in [(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (0, 4), (1, 5)] {
                let nodes = [&mut a, &mut b, &mut c, &mut d, &mut e, &mut f];
                let bundles = nodes[x].export(Target::Everyone).unwrap();
                nodes[y].import_many(bundles.iter().map(Vec::as_slice)).unwrap();
            }
        }
        assert!(a.add_contact(&d.card(), &[Audience::FriendsOfFriends]).is_err(), "not a list to fill");
        a.set_profile_field("party", "Saturday at the well", Audience::FriendsOfFriends).unwrap();
        let from_a = a.export(Target::Everyone).unwrap();
        let me = a.node_id();
        let mut readers = Vec::new();
        for (name, n) in [("B", &mut b), ("C", &mut c), ("D", &mut d), ("E", &mut e), ("F", &mut f)] {
            n.import_many(from_a.iter().map(Vec::as_slice)).unwrap();
            if reads(n, &me, "Saturday at the well") {
                readers.push(name);
            }
        }
        assert_eq!(readers, ["B", "C"]);

        // B takes C out of its friends: B's circle gets a new key; once A has it, A's
        // next friends-of-friends field is sealed past C.
        b.remove_contact(&c.node_id(), &[Audience::Friends]).unwrap();
        carry(&mut b, &mut a);
        a.set_profile_field("moved", "Sunday instead", Audience::FriendsOfFriends).unwrap();
        let from_a = a.export(Target::Everyone).unwrap();
        for n in [&mut b, &mut c] {
            n.import_many(from_a.iter().map(Vec::as_slice)).unwrap();
        }
        assert!(reads(&mut b, &me, "Sunday instead"));
        assert!(!reads(&mut c, &me, "Sunday instead"), "C left B's circle");
        assert!(reads(&mut c, &me, "Saturday at the well"), "what came before stays readable");
    }
}
