//! Community membership proofs: a community's id is the hash of its genesis (root owner
//! key and nonce), and every member carries a certificate chain from the root owner,
//! each link issued by an owner. Any node can check a batch's author against this proof
//! alone, in any delivery order, with no roster lookup.

use std::collections::HashSet;

use crate::crypto::{self, CONTEXT_CERT_SIGNATURE, CONTEXT_COMMUNITY_ID};
use crate::doc::{CommunityId, Role};
use crate::envelope::{Cert, Genesis};
use crate::identity::Identity;
use crate::limits::CERT_CHAIN_LEN_MAX;

/// The community id a genesis hashes to.
pub fn community_id(genesis: &Genesis) -> CommunityId {
    let full = crypto::derive(CONTEXT_COMMUNITY_ID, &[&genesis.root, &genesis.nonce]);
    let mut id = [0u8; 20];
    id.copy_from_slice(&full[..20]);
    CommunityId(id)
}

/// Issues a certificate: `issuer` says `member` holds `role` in `community`.
pub fn issue(issuer: &Identity, community: &CommunityId, member: &[u8; 32], role: Role) -> Cert {
    let issuer_pk = issuer.signing_public();
    let signature = issuer.sign(CONTEXT_CERT_SIGNATURE, &[&community.0, member, &[role.code()], &issuer_pk]);
    Cert { community: community.0, member: *member, role: role.code(), issuer: issuer_pk, signature }
}

fn cert_digest(c: &Cert) -> [u8; 32] {
    blake3::hash(&[&c.community[..], &c.member, &[c.role], &c.issuer, &c.signature].concat()).into()
}

/// Remembers certificates whose signatures already verified, so a chain costs one
/// signature check per certificate per node lifetime rather than per bundle.
#[derive(Default)]
pub struct CertCache {
    verified: HashSet<[u8; 32]>,
}

impl CertCache {
    /// Checks that `chain` proves `author` holds a role in the community of `genesis`,
    /// and returns that role.
    pub fn verify(
        &mut self,
        community: &CommunityId,
        genesis: &Genesis,
        chain: &[Cert],
        author: &[u8; 32],
    ) -> Result<Role, &'static str> {
        let (role, fresh) = check_chain(community, genesis, chain, author, &|d| self.verified.contains(d))?;
        self.learn(fresh);
        Ok(role)
    }

    /// The certificates verified so far (for checks that run on other threads).
    pub fn snapshot(&self) -> HashSet<[u8; 32]> {
        self.verified.clone()
    }

    /// Adds certificates verified elsewhere (by [`check_chain`]).
    pub fn learn(&mut self, verified: impl IntoIterator<Item = [u8; 32]>) {
        self.verified.extend(verified);
    }
}

/// Checks that `chain` proves `author` holds a role in the community of `genesis`:
/// returns the role and the certificates whose signatures it verified (those for which
/// `known` said no). A pure function: any thread may run it.
pub fn check_chain(
    community: &CommunityId,
    genesis: &Genesis,
    chain: &[Cert],
    author: &[u8; 32],
    known: &dyn Fn(&[u8; 32]) -> bool,
) -> Result<(Role, Vec<[u8; 32]>), &'static str> {
    if community_id(genesis) != *community {
        return Err("genesis does not hash to the community id");
    }
    if chain.len() > CERT_CHAIN_LEN_MAX {
        return Err("certificate chain too long");
    }
    let mut fresh = Vec::new();
    let mut holder = genesis.root;
    let mut role = Role::Owner;
    for cert in chain {
        if role != Role::Owner {
            return Err("a certificate was issued by a non-owner");
        }
        if cert.community != community.0 {
            return Err("certificate for another community");
        }
        if cert.issuer != holder {
            return Err("certificate chain is broken");
        }
        let digest = cert_digest(cert);
        if !known(&digest) && !fresh.contains(&digest) {
            crypto::verify(
                &cert.issuer,
                CONTEXT_CERT_SIGNATURE,
                &[&cert.community, &cert.member, &[cert.role], &cert.issuer],
                &cert.signature,
            )
            .map_err(|_| "certificate signature does not verify")?;
            fresh.push(digest);
        }
        role = Role::from_code(cert.role).ok_or("unknown role in certificate")?;
        holder = cert.member;
    }
    if holder != *author {
        return Err("certificate chain does not name the author");
    }
    Ok((role, fresh))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_prove_roles_and_nothing_else() {
        let root = Identity::generate();
        let genesis = Genesis { root: root.signing_public(), nonce: [1; 16] };
        let cid = community_id(&genesis);
        let owner2 = Identity::generate();
        let member = Identity::generate();
        let outsider = Identity::generate();
        let mut cache = CertCache::default();

        assert_eq!(cache.verify(&cid, &genesis, &[], &root.signing_public()), Ok(Role::Owner));
        let c1 = issue(&root, &cid, &owner2.signing_public(), Role::Owner);
        let c2 = issue(&owner2, &cid, &member.signing_public(), Role::Member);
        assert_eq!(cache.verify(&cid, &genesis, &[c1.clone(), c2.clone()], &member.signing_public()), Ok(Role::Member));
        // The member cannot extend the chain.
        let c3 = issue(&member, &cid, &outsider.signing_public(), Role::Owner);
        assert!(cache.verify(&cid, &genesis, &[c1.clone(), c2.clone(), c3], &outsider.signing_public()).is_err());
        // A self-issued certificate proves nothing.
        let forged = issue(&outsider, &cid, &outsider.signing_public(), Role::Owner);
        assert!(cache.verify(&cid, &genesis, &[forged], &outsider.signing_public()).is_err());
        // A chain presented by someone it does not name.
        assert!(cache.verify(&cid, &genesis, &[c1], &outsider.signing_public()).is_err());
        // A tampered role is caught by the signature.
        let mut bad = c2;
        bad.role = Role::Owner.code();
        let c1 = issue(&root, &cid, &owner2.signing_public(), Role::Owner);
        assert!(cache.verify(&cid, &genesis, &[c1, bad], &member.signing_public()).is_err());
    }
}
