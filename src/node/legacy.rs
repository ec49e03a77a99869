//! Bundles a store kept from before the cloak (wire version 2, `spec/store.md`,
//! "Upgrades"): our own are cloaked again before the next export, in place, so their
//! custody goes on; the rest (others' bundles, our old signals) cannot travel any more
//! and go (their authors, once upgraded, offer them again).

use super::*;
use crate::cloak::{Route, To};

/// Settings key the store upgrade sets when it kept uncloaked bundles.
pub(crate) const LEGACY_BUNDLES: &str = crate::store::LEGACY_BUNDLES_META;

impl Node {
    /// Cloaks our own stored bundles of wire version 2 and drops the rest, once.
    pub(super) fn recloak_legacy(&mut self, t: &mut Txn) -> Result<(), Error> {
        if t.meta(LEGACY_BUNDLES)?.is_none() {
            return Ok(());
        }
        let me = self.node_id();
        let rows: HashMap<[u8; 32], CustodyRow> = t.custody_records(me)?.into_iter().map(|r| (r.digest, r)).collect();
        let (mut recloaked, mut dropped) = (0usize, 0usize);
        for (digest, meta) in t.all_bundle_meta()? {
            if meta.opener.is_some() {
                continue;
            }
            let Some(bytes) = t.bundle(&digest)? else { continue };
            // A cloak carried unopened (taken in after the upgrade): nothing to do.
            if crate::cloak::read_untimed(&bytes).is_ok() {
                continue;
            }
            let own = meta.author == me && meta.kind != PayloadKind::Record;
            let to = if own { self.legacy_route(t, &meta, &bytes)? } else { None };
            let payload = bundle::parse_untimed(&bytes).ok().and_then(|i| bytes.get(i.payload).map(<[u8]>::to_vec));
            let row = rows.get(&digest).cloned();
            match (to, payload) {
                (Some(LegacyTo::Group(r)), Some(p)) => {
                    self.reissue(t, digest, &meta, &p, To::Group(r), row)?;
                    recloaked += 1;
                }
                (Some(LegacyTo::Node(pk)), Some(p)) => {
                    self.reissue(t, digest, &meta, &p, To::Node(&pk), row)?;
                    recloaked += 1;
                }
                _ => {
                    self.drop_stored(t, &digest)?;
                    dropped += 1;
                }
            }
        }
        // Slot grants are minted again for the passes of now (their old bundles went).
        t.remove_meta("fof-passes")?;
        for (k, _) in t.meta_prefix("fom/")? {
            t.remove_meta(&k)?;
        }
        t.remove_meta(LEGACY_BUNDLES)?;
        tracing::info!(recloaked, dropped, "bundles of wire version 2 cloaked again or dropped");
        Ok(())
    }

    /// Who one of our old bundles is for, as a cloak: its key's route (or its owner's
    /// public route), or its recipient alone; `None` when that cannot be known any more.
    fn legacy_route(&self, t: &Txn, meta: &BundleMeta, bytes: &[u8]) -> Result<Option<LegacyTo>, Error> {
        let Ok(info) = bundle::parse_untimed(bytes) else { return Ok(None) };
        let Ok(env) = envelope::decode_envelope(&bytes[info.payload.clone()]) else { return Ok(None) };
        Ok(match env.header.kind {
            Kind::Batch | Kind::Snapshot => {
                let Some(doc) = DocId::parse(&env.header.doc) else { return Ok(None) };
                match doc.key_scope() {
                    None => Some(LegacyTo::Group(Route::public(&super::cloaking::public_owner(doc)))),
                    Some(scope) => t
                        .grant(&format!("{scope}#{}", env.header.epoch))?
                        .and_then(|g| Grant::decode(&g).ok())
                        .map(|g| LegacyTo::Group(Route::of_key(&scope, g.epoch, &g.key))),
                }
            }
            Kind::Grant => {
                let Some(node) = source_node(&meta.destination) else { return Ok(None) };
                self.contact_card(t, &node)?.map(|c| LegacyTo::Node(c.signing_public))
            }
            // Minted again for the passes of now.
            Kind::Slots => None,
        })
    }
}

enum LegacyTo {
    Group(Route),
    Node([u8; 32]),
}
