//! The certificates plug-in's library API (`plugin::certificate`): owners name the
//! community's certifiers and how many must sign; certifiers sign statements about
//! listings and members' skills; a certificate is assembled once `k` have signed; anyone
//! in the community reads whether a certificate still holds.

use super::*;
use crate::authority::Action;
use crate::plugin::certificate::{self, Certificate, Entry, Signature, Statement, Subject};
use crate::plugin::market;

const CERTS: &str = "certs";

/// What to certify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Certify {
    /// A market listing, by its id (`<author>/<n>`), as it reads now.
    Listing(String),
    /// A member's skill.
    Skill(NodeId, String),
}

/// A certificate (or a statement still gathering signatures) as this node judges it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertView {
    /// The certifying community.
    pub community: CommunityId,
    /// The statement, its signatures and certificate.
    pub entry: Entry,
    /// Signers who are the community's certifiers now.
    pub certifiers: Vec<NodeId>,
    /// How many must sign (the community's threshold now).
    pub needed: usize,
    /// Whether it holds; if not, why.
    pub holds: Result<(), &'static str>,
}

impl Node {
    /// Makes `who` one of community `cid`'s certifiers, or no longer (owners).
    pub fn set_certifier(&mut self, cid: &CommunityId, who: &NodeId, on: bool) -> Result<(), Error> {
        self.authority_op(cid, "name certifiers", |this, t| {
            let member = this.member_key(t, cid, who)?;
            let state = this.resolved(&*t, cid)?.state.clone();
            if state.certifiers.contains(&member) == on {
                return Err(Error::Invalid(format!("{who} is {} a certifier", if on { "already" } else { "not" })));
            }
            Ok(Action::Certifier { member, on })
        })
    }

    /// Sets how many certifiers must sign the same statement (owners; 1 to 16).
    pub fn set_certification_threshold(&mut self, cid: &CommunityId, k: u8) -> Result<(), Error> {
        if !(1..=crate::limits::CERT_THRESHOLD_MAX).contains(&k) {
            return Err(Error::Invalid(format!(
                "a certificate needs 1 to {} signatures (not {k})",
                crate::limits::CERT_THRESHOLD_MAX
            )));
        }
        self.authority_op(cid, "set the certification threshold", |_, _| Ok(Action::Threshold { k }))
    }

    fn authority_op(
        &mut self,
        cid: &CommunityId,
        what: &'static str,
        action: impl FnOnce(&mut Self, &mut Txn) -> Result<Action, Error>,
    ) -> Result<(), Error> {
        let mut imp = super::import::Import::new(self.write_txn()?, (self.clock)());
        let result = (|| {
            self.require_owner(&imp.t, cid, what)?;
            let action = action(self, &mut imp.t)?;
            let (event, _) = self.append_op(&mut imp.t, cid, action, false)?;
            self.queued.push(event);
            Ok(())
        })();
        let super::import::Import { t, touched, .. } = imp;
        if result.is_err() {
            self.authority.remove(cid);
            self.queued.clear();
        }
        self.finish(t, result, touched)
    }

    /// Signs a statement about `what` for community `cid`, as one of its certifiers, to
    /// hold until `expires_unix_ms` (0: no end). Once the community's threshold of
    /// certifiers signed it, this node writes the certificate. Returns it as it stands.
    pub fn certify(&mut self, cid: &CommunityId, what: &Certify, expires_unix_ms: u64) -> Result<CertView, Error> {
        let view = self.store.read()?;
        let state = self.resolved(&view, cid)?.state.clone();
        drop(view);
        if !state.certifiers.contains(&self.identity.signing_public()) {
            return Err(Error::Invalid(format!(
                "you are not a certifier of this community (an owner makes you one: `caravan community certifier {cid} NAME`)"
            )));
        }
        let subject = match what {
            Certify::Listing(id) => {
                let l = self
                    .listing_in(cid, id)?
                    .ok_or_else(|| Error::Invalid(format!("no listing {id} in this community's markets")))?;
                let n = id.rsplit('/').next().and_then(|n| n.parse().ok()).unwrap_or(0);
                Subject::Listing { author: l.author, n, content: certificate::listing_hash(&l.listing) }
            }
            Certify::Skill(node, skill) => {
                let skill = skill.trim();
                if skill.is_empty() || skill.len() > crate::limits::CERT_SKILL_MAX {
                    return Err(Error::Invalid(format!(
                        "a skill is 1 to {} bytes of words",
                        crate::limits::CERT_SKILL_MAX
                    )));
                }
                if state.role(&self.member_pk(cid, node)?).is_none() {
                    return Err(Error::Invalid(format!("{node} is not a member of this community")));
                }
                Subject::Skill { node: *node, skill: skill.to_string() }
            }
        };
        let statement = Statement { community: *cid, subject, expires_unix_ms };
        let hash = statement.hash_hex();
        let mine = Signature::sign(&self.identity, &statement);
        let me = self.node_id();
        let k = usize::from(state.threshold.max(1));
        let certifies = |n: &NodeId| state.certifiers.iter().any(|pk| NodeId::from_signing_public(pk) == *n);
        self.edit_kind(cid, CERTS, |d, _, _| {
            use automerge::ReadDoc;
            use automerge::transaction::Transactable;
            let key = format!("s/{hash}/{me}");
            if d.get(automerge::ROOT, key.as_str())?.is_none() {
                d.put(automerge::ROOT, key, mine.encode_with_statement(&statement))?;
            }
            let entry = certificate::read(d).into_iter().find(|e| e.hash_hex == hash);
            if let Some(e) = entry
                && e.certificate.is_none()
            {
                let signatures: Vec<Signature> = e
                    .signatures
                    .iter()
                    .filter(|s| certifies(&s.signer()))
                    .take(crate::limits::CERT_SIGNERS_MAX)
                    .copied()
                    .collect();
                if signatures.len() >= k {
                    let c = Certificate { statement: statement.clone(), signatures };
                    d.put(automerge::ROOT, format!("c/{hash}"), c.encode())?;
                }
            }
            Ok(())
        })?;
        self.certificates_in(cid)?
            .into_iter()
            .find(|c| c.entry.hash_hex == hash)
            .ok_or_else(|| Error::Invalid("the signature was not stored".into()))
    }

    /// Revokes community `cid`'s certificate (or statement) whose id starts with `hash`
    /// (owners).
    pub fn revoke_certificate(&mut self, cid: &CommunityId, hash: &str) -> Result<CertView, Error> {
        let found: Vec<CertView> =
            self.certificates_in(cid)?.into_iter().filter(|c| c.entry.hash_hex.starts_with(hash.trim())).collect();
        let c = match found.as_slice() {
            [one] => one.clone(),
            [] => return Err(Error::Invalid(format!("no certificate {hash} in this community"))),
            _ => return Err(Error::Invalid(format!("{hash} names several certificates: give more of the id"))),
        };
        if c.entry.revoked {
            return Err(Error::Invalid("that certificate is revoked already".into()));
        }
        let key = format!("r/{}", c.entry.hash_hex);
        self.edit_kind(cid, CERTS, |d, _, now| {
            use automerge::transaction::Transactable;
            d.put(automerge::ROOT, key, now)
        })?;
        self.certificates_in(cid)?
            .into_iter()
            .find(|x| x.entry.hash_hex == c.entry.hash_hex)
            .ok_or_else(|| Error::Invalid("the revocation was not stored".into()))
    }

    /// Every statement of community `cid`, judged now.
    pub fn certificates_in(&mut self, cid: &CommunityId) -> Result<Vec<CertView>, Error> {
        let view = self.store.read()?;
        let state = self.resolved(&view, cid)?.state.clone();
        drop(view);
        let now = (self.clock)();
        let entries = self.read_kind(cid, CERTS, certificate::read)?;
        let mut out = Vec::new();
        for entry in entries {
            let certifiers: Vec<NodeId> = entry
                .signatures
                .iter()
                .map(|s| s.signer())
                .filter(|n| state.certifiers.iter().any(|pk| NodeId::from_signing_public(pk) == *n))
                .collect();
            let needed = usize::from(state.threshold.max(1));
            let current = match &entry.statement.subject {
                Subject::Listing { author, n, content } => match self.listing_in(cid, &format!("{author}/{n}"))? {
                    None => Err("the listing is gone"),
                    Some(l) if certificate::listing_hash(&l.listing) != *content => {
                        Err("the listing changed since it was certified")
                    }
                    Some(_) => Ok(()),
                },
                Subject::Skill { .. } => Ok(()),
            };
            let valid =
                entry.certificate.as_ref().map(|c| c.valid_signers(|n| certifiers.contains(n)).len()).unwrap_or(0);
            let holds = if entry.revoked {
                Err("revoked by the community")
            } else if entry.statement.expires_unix_ms != 0 && entry.statement.expires_unix_ms <= now {
                Err("expired")
            } else if entry.certificate.is_none() {
                Err("still gathering signatures")
            } else if valid < needed {
                Err("fewer of its signers certify now than the community asks")
            } else {
                current
            };
            out.push(CertView { community: *cid, entry, certifiers, needed, holds });
        }
        Ok(out)
    }

    /// The certificates about a node (its skills and its listings) or about one listing,
    /// in all our communities.
    pub fn certificates(&mut self, about: &Certify) -> Result<Vec<CertView>, Error> {
        let mut out = Vec::new();
        for c in self.communities()?.into_iter().filter(|c| !c.removed) {
            for v in self.certificates_in(&c.id)? {
                let s = &v.entry.statement;
                let hit = match about {
                    Certify::Listing(id) => s.listing().as_deref() == Some(id.as_str()),
                    Certify::Skill(node, _) => s.about() == *node,
                };
                if hit {
                    out.push(v);
                }
            }
        }
        Ok(out)
    }

    /// Listing `id` in community `cid`'s markets (members' or public).
    fn listing_in(&mut self, cid: &CommunityId, id: &str) -> Result<Option<market::Listing>, Error> {
        for kind in ["market", "market-public"] {
            if let Some(l) = self.read_kind(cid, kind, |d| market::all_listings(d).into_iter().find(|l| l.id == id))? {
                return Ok(Some(l));
            }
        }
        Ok(None)
    }

    fn member_pk(&mut self, cid: &CommunityId, node: &NodeId) -> Result<[u8; 32], Error> {
        let view = self.store.read()?;
        self.member_key(&view, cid, node)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, carry, community};
    use super::*;

    /// Two certifiers of two must sign; the first alone leaves it gathering; the second
    /// completes it; a revocation ends it; a plain member cannot certify.
    #[test]
    fn a_skill_is_certified_by_k_certifiers_and_revoked_by_an_owner() {
        let kit = Kit::new();
        let (mut o, mut c) = (kit.node("Owner"), kit.node("Certifier"));
        let cid = community(&mut o, &mut c, Role::Member);
        let skill = Certify::Skill(c.node_id(), "beekeeping".into());
        assert!(c.certify(&cid, &skill, 0).is_err(), "not a certifier yet");
        o.set_certifier(&cid, &o.node_id(), true).unwrap();
        o.set_certifier(&cid, &c.node_id(), true).unwrap();
        o.set_certification_threshold(&cid, 2).unwrap();
        assert!(c.set_certification_threshold(&cid, 1).is_err(), "members set no threshold");
        carry(&mut o, &mut c);
        let first = c.certify(&cid, &skill, 0).unwrap();
        assert_eq!(first.holds, Err("still gathering signatures"));
        carry(&mut c, &mut o);
        let second = o.certify(&cid, &skill, 0).unwrap();
        assert_eq!(second.holds, Ok(()));
        assert_eq!(second.certifiers.len(), 2);
        carry(&mut o, &mut c);
        let seen = c.certificates(&Certify::Skill(c.node_id(), String::new())).unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].holds, Ok(()));
        assert!(c.revoke_certificate(&cid, &seen[0].entry.hash_hex).is_err(), "members do not revoke");
        o.revoke_certificate(&cid, &seen[0].entry.hash_hex[..8]).unwrap();
        carry(&mut o, &mut c);
        assert_eq!(
            c.certificates(&Certify::Skill(c.node_id(), String::new())).unwrap()[0].holds,
            Err("revoked by the community")
        );
    }

    /// A certifier named and its certificate signed in one stick load: the member that
    /// takes both in one import judges the certificate against the log as that import
    /// moves it, and keeps it.
    #[test]
    fn a_certifier_named_and_signing_in_one_import_is_judged_with_the_new_log() {
        let kit = Kit::new();
        let (mut o, mut c) = (kit.node("Owner"), kit.node("Member"));
        let cid = community(&mut o, &mut c, Role::Member);
        o.set_certifier(&cid, &o.node_id(), true).unwrap();
        o.certify(&cid, &Certify::Skill(c.node_id(), "thatching".into()), 0).unwrap();
        carry(&mut o, &mut c);
        let seen = c.certificates(&Certify::Skill(c.node_id(), String::new())).unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].holds, Ok(()));
    }

    /// A certificate that arrives before the log naming its certifier (its signer saw
    /// that operation) waits for the log: once the log comes, it is read, without the
    /// stick offering it again.
    #[test]
    fn a_certificate_ahead_of_its_log_waits_and_is_read_when_the_log_comes() {
        let kit = Kit::new();
        let (mut o, mut c) = (kit.node("Owner"), kit.node("Member"));
        let cid = community(&mut o, &mut c, Role::Member);
        o.set_certifier(&cid, &o.node_id(), true).unwrap();
        o.certify(&cid, &Certify::Skill(c.node_id(), "thatching".into()), 0).unwrap();
        let all = o.export(crate::sync::Target::Everyone).unwrap();
        let doc_of = |b: &Vec<u8>| -> String {
            let Some(inner) = o.inner(b) else { return String::new() };
            let Ok(info) = crate::bundle::parse_untimed(&inner) else { return String::new() };
            crate::envelope::decode_envelope(&inner[info.payload]).map(|e| e.header.doc).unwrap_or_default()
        };
        let (log, rest): (Vec<Vec<u8>>, Vec<Vec<u8>>) =
            all.iter().cloned().partition(|b| doc_of(b).ends_with("/authority"));
        let certs: Vec<Vec<u8>> = rest.iter().filter(|b| doc_of(b).ends_with("/certs")).cloned().collect();
        assert!(!log.is_empty() && !certs.is_empty());
        let r = c.import_many(certs.iter().map(Vec::as_slice)).unwrap();
        assert!(r.outcomes.iter().any(|o| matches!(o, Outcome::Waiting(WaitReason::Log { .. }))), "{r:?}");
        assert!(!r.outcomes.iter().any(|o| matches!(o, Outcome::Rejected(_))), "{r:?}");
        assert!(c.certificates(&Certify::Skill(c.node_id(), String::new())).unwrap().is_empty());
        c.import_many(log.iter().map(Vec::as_slice)).unwrap();
        let seen = c.certificates(&Certify::Skill(c.node_id(), String::new())).unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].holds, Ok(()));
    }
}
