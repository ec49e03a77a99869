//! Release lists (`spec/custody.md`, "Forgetting"): once every destination holds one of
//! our bundles, its release secret goes out in a list from nobody that everyone opens,
//! and every holder of a copy, a carrier that never opened it too, drops it.

use super::import::Import;
use super::seal::Control;
use super::*;
use crate::cloak::{Route, To};

/// What a stored release list is (its `doc` in the bundle metadata).
pub(super) const RELEASES_DOC: &str = "releases";

/// Settings keys of release secrets waiting for our next release list: `release/<hex>`,
/// the bundle's expiry (le64).
pub(super) const RELEASE_META: &str = "release/";

fn unhex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Queues a release secret for our next release list (`seal_releases`).
pub(super) fn queue_release(t: &mut Txn, secret: &[u8; 32], expires_ms: u64) -> Result<(), Error> {
    t.set_meta(&format!("{RELEASE_META}{}", hex(secret)), &expires_ms.to_le_bytes())?;
    Ok(())
}

impl Node {
    /// Queues the release secret of our bundle `m` (stored as `digest`) for our next
    /// release list: from its payload, or for a bundle for one node, from its route.
    pub(super) fn release_later(&self, t: &mut Txn, digest: &[u8; 32], m: &BundleMeta) -> Result<(), Error> {
        let direct = match (m.opener, t.bundle(digest)?) {
            (Some(route), Some(bytes)) => {
                crate::cloak::read_untimed(&bytes).ok().filter(|o| o.is_direct(&route)).map(|_| route)
            }
            _ => None,
        };
        let secret = match direct {
            Some(route) => crate::cloak::direct_release(&route),
            None => self.release_secret(&m.payload),
        };
        queue_release(t, &secret, m.expires_unix_ms)
    }

    /// Turns the release secrets of bundles every destination now holds into release
    /// lists (`spec/custody.md`, "Forgetting"): from nobody, cloaked for the route
    /// everyone reads, so that any holder of a copy, a carrier that never opened it
    /// too, drops it. A list names no one: only the secrets.
    pub(super) fn seal_releases(&mut self, t: &mut Txn) -> Result<(), Error> {
        let waiting = t.meta_prefix(RELEASE_META)?;
        if waiting.is_empty() {
            return Ok(());
        }
        let now = (self.clock)();
        let mut secrets = Vec::new();
        let mut until = now;
        for (key, expires) in &waiting {
            let hex = &key[RELEASE_META.len()..];
            let Some(secret) = unhex32(hex) else { continue };
            let expires = expires.as_slice().try_into().map(u64::from_le_bytes).unwrap_or(now);
            // Copies of an expired bundle are gone anyway.
            if expires > now {
                secrets.push(secret);
                until = until.max(expires);
            }
        }
        // A list lives as long as the copies it releases can.
        let lifetime = Duration::from_millis(until.saturating_sub(now).max(60_000)).min(self.lifetime);
        for chunk in secrets.chunks(crate::limits::RELEASES_MAX) {
            let record = envelope::encode_release_record(chunk);
            let nobody = crate::cloak::SOURCE;
            let control = Control { source: nobody, destination: nobody, seq: 0, doc: RELEASES_DOC };
            self.mint_control(t, control, &record, To::Group(Route::releases()), lifetime)?;
        }
        for (key, _) in waiting {
            t.remove_meta(&key)?;
        }
        Ok(())
    }

    /// Takes in a release list: every bundle we hold (not ours) whose cloak shows the
    /// hash of one of its secrets goes, remembered until it expires (a copy that comes
    /// back is a duplicate); the list travels on to everyone, within the relay quota.
    pub(super) fn take_release(
        &mut self,
        imp: &mut Import,
        bytes: &[u8],
        digest: [u8; 32],
        info: &BundleInfo,
        payload: [u8; 32],
        secrets: &[[u8; 32]],
    ) -> Result<Outcome, Error> {
        let me = self.node_id();
        let hashes: HashSet<[u8; 32]> = secrets.iter().map(crate::cloak::release_hash).collect();
        let mut released = 0;
        // By the release index: a list costs a lookup per secret, not a catalog scan.
        for h in &hashes {
            for d in imp.t.bundles_by_release(h)? {
                let Some(m) = imp.t.bundle_meta(&d)? else { continue };
                if m.release == *h && m.author != me {
                    self.drop_stored(&mut imp.t, &d)?;
                    imp.t.set_forgotten(&d, m.expires_unix_ms)?;
                    imp.t.set_forgotten(&m.release, m.expires_unix_ms)?;
                    released += 1;
                }
            }
        }
        let meta = super::signal::control_meta(info, bytes.len(), payload, NodeId([0; 20]), false, RELEASES_DOC);
        if let Err(o) = self.keep(&mut imp.t, digest, bytes, &meta)? {
            return Ok(o);
        }
        // A copy that comes later (from a stick still holding it) is known for what it
        // is, as long as the list is kept (within the relay quota, like the list itself).
        for h in &hashes {
            imp.t.set_forgotten(h, meta.expires_unix_ms)?;
        }
        tracing::debug!(released, "release list");
        Ok(Outcome::Waiting(WaitReason::ForOthers))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, carry, community, import, is_release_list, new_since};
    use super::*;
    use crate::cloak;

    /// A release list drops exactly what it releases, wherever a copy is, even at a
    /// carrier that never opened it; a list made without the author's secrets (random
    /// ones, or the very hashes the cloaks show) drops nothing.
    #[test]
    fn a_release_list_drops_exactly_what_it_releases() {
        let kit = Kit::new();
        let (mut a, mut b, mut relay) = (kit.node("A"), kit.node("B"), kit.node("R"));
        let cid = community(&mut a, &mut b, Role::Member);
        let mut seen: HashSet<[u8; 32]> = a.held_digests().unwrap().into_iter().collect();
        a.post(&cid, "market on friday").unwrap();
        let post = new_since(&mut a, &mut seen);
        import(&mut relay, &post);
        let held = |n: &Node| n.store.read().unwrap().all_bundle_meta().unwrap().len();
        let before = held(&relay);
        assert!(before > 0);
        // Forged lists: random secrets, and the release hashes themselves.
        let hashes: Vec<[u8; 32]> = post.iter().map(|x| cloak::read_untimed(x).unwrap().release).collect();
        for secrets in [vec![crypto::random_32()], hashes] {
            let record = envelope::encode_release_record(&secrets);
            let now = a.now();
            let inner =
                bundle::build_admin_record(cloak::SOURCE, cloak::SOURCE, now, 0, Duration::from_secs(3600), &record)
                    .unwrap();
            let forged =
                cloak::cloak(&inner, cloak::To::Group(Route::releases()), now, Duration::from_secs(3600), &[9; 32])
                    .unwrap()
                    .bytes;
            let forged_digest = bundle_digest(&forged);
            import(&mut relay, &[forged]);
            assert_eq!(held(&relay), before + 1, "a forged list dropped something (it is kept itself)");
            // (The forged list itself goes, so the count stays comparable.)
            let mut t = relay.write_txn().unwrap();
            relay.drop_stored(&mut t, &forged_digest).unwrap();
            t.commit().unwrap();
        }
        // B takes the post and answers; A releases it and its list reaches the relay.
        carry(&mut a, &mut b);
        carry(&mut b, &mut a);
        let from_a = new_since(&mut a, &mut seen);
        assert!(from_a.iter().any(|x| is_release_list(x)), "A wrote no release list");
        import(&mut relay, &from_a);
        // The post itself (the feed batch, in custody for B) is released.
        let feed = DocId::Community { id: cid, part: Part::FEED }.to_string();
        let is_post = |x: &Vec<u8>| {
            a.inner(x).is_some_and(|inner| {
                let info = bundle::parse_untimed(&inner).unwrap();
                envelope::decode_envelope(&inner[info.payload.clone()]).is_ok_and(|e| e.header.doc == feed)
            })
        };
        let posts: Vec<Vec<u8>> = post.iter().filter(|x| is_post(x)).cloned().collect();
        assert_eq!(posts.len(), 1);
        let r = relay.store.read().unwrap();
        assert!(r.bundle_meta(&bundle_digest(&posts[0])).unwrap().is_none(), "the relay still holds a released copy");
        drop(r);
        // A copy that comes again, re-wrapped by a carrier, is a duplicate.
        let info = bundle::parse_untimed(&posts[0]).unwrap();
        let rewrapped = bundle::build(
            &info.source,
            &info.destination,
            info.created_unix_ms + 5,
            7,
            Duration::from_millis(info.lifetime_ms),
            &posts[0][info.payload.clone()],
        )
        .unwrap();
        let again = relay.import_many([posts[0].as_slice(), rewrapped.as_slice()]).unwrap();
        assert_eq!(again.duplicates(), 2, "{again:?}");
    }
}
