//! Certificates (`spec/plugins.md`, "certificates"): a community vouches for a market
//! listing or for a member's skill. A certificate holds when `k` of the community's
//! certifiers (a role of its authority log; `k` set by the owners) signed the same
//! statement, it has not expired, and no owner revoked it; for a listing, also while the
//! listing still says what was certified.
//!
//! Keys (members only):
//! - `s/<hash>/<certifier>`: one certifier's signature, bytes `key (32) ‖ signature (64) ‖
//!   statement`; gathered one by one, carried like any change;
//! - `c/<hash>`: the certificate, written once by a certifier when `k` signatures are
//!   together: `n (1) ‖ n × (key ‖ signature) ‖ statement`;
//! - `r/<hash>`: an owner's revocation (the time, uint).
//!
//! `<hash>` is the statement's hash in hex ([`Statement::hash`]). Every signature proves
//! itself; whether its signer certifies, and how many must sign, is the community's
//! authority log as this node resolves it ([`DocKind::check_with_log`]).

use automerge::{AutoCommit, ROOT, ReadDoc};

use super::ops::{Action, Target};
use super::{Broken, DocKind, Home, Op, Writer, Writers};
use crate::authority::State;
use crate::crypto::{self, CONTEXT_CERT_STATEMENT, CONTEXT_CERTIFICATE};
use crate::doc::{CommunityId, Role};
use crate::identity::{Identity, NodeId};
use crate::limits::{CERT_SIGNERS_MAX, CERT_SKILL_MAX};
use crate::routing::Class;

/// A community's certificates (members only).
pub struct Certificates;

const RULE_SIGNATURE: &str = "a certifier signs only as itself, over the statement its key names";
const RULE_CERTIFIER: &str = "only the community's certifiers sign statements";
const RULE_QUORUM: &str = "a certificate holds the signatures of at least k of the community's certifiers";
const RULE_REVOKE: &str = "only an owner revokes a certificate, once";
const RULE_FORM: &str = "a certificate's parts are written once, well-formed, under their statement's hash";

impl DocKind for Certificates {
    kind_basics!("certs", Home::Members, Writers::Members, Class::Market);

    fn check(&self, by: &Writer, ops: &[Op]) -> Result<(), Broken> {
        self.check_with_log(by, ops, None)
    }

    fn check_with_log(&self, by: &Writer, ops: &[Op], log: Option<&State>) -> Result<(), Broken> {
        let certifies =
            |n: &NodeId| log.is_none_or(|l| l.certifiers.iter().any(|pk| NodeId::from_signing_public(pk) == *n));
        for op in ops {
            let (Target::Root, Some(key)) = (&op.target, op.map_key()) else {
                return Err(Broken { rule: RULE_FORM });
            };
            if op.action != Action::Put || op.overwrites {
                return Err(Broken { rule: if key.starts_with("r/") { RULE_REVOKE } else { RULE_FORM } });
            }
            if let Some(rest) = key.strip_prefix("s/") {
                let (hash, signer) = rest.split_once('/').ok_or(Broken { rule: RULE_FORM })?;
                let sig = op.bytes().and_then(Signature::decode_with_statement).ok_or(Broken { rule: RULE_FORM })?;
                if sig.1.hash_hex() != hash
                    || signer != by.node.to_string()
                    || sig.0.signer() != by.node
                    || !sig.0.holds(&sig.1)
                {
                    return Err(Broken { rule: RULE_SIGNATURE });
                }
                if !certifies(&by.node) {
                    return Err(Broken { rule: RULE_CERTIFIER });
                }
            } else if let Some(hash) = key.strip_prefix("c/") {
                let cert = op.bytes().and_then(Certificate::decode).ok_or(Broken { rule: RULE_FORM })?;
                if cert.statement.hash_hex() != hash {
                    return Err(Broken { rule: RULE_FORM });
                }
                if !cert.signatures.iter().any(|s| s.signer() == by.node) {
                    return Err(Broken { rule: RULE_SIGNATURE });
                }
                let valid = cert.valid_signers(|n| certifies(n)).len();
                let k = log.map_or(1, |l| usize::from(l.threshold));
                if valid < k.max(1) {
                    return Err(Broken { rule: RULE_QUORUM });
                }
            } else if let Some(hash) = key.strip_prefix("r/") {
                if by.role != Some(Role::Owner) || hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(Broken { rule: RULE_REVOKE });
                }
            } else {
                return Err(Broken { rule: RULE_FORM });
            }
        }
        Ok(())
    }

    fn show(&self, doc: &AutoCommit) -> Vec<String> {
        read(doc)
            .iter()
            .map(|c| {
                let revoked = if c.revoked { ", revoked" } else { "" };
                format!("{} {} ({} signatures){revoked}", c.hash_hex, c.statement.describe(), c.signatures.len())
            })
            .collect()
    }
}

/// What a certificate is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A market listing (`<author>/<n>`) as it read when certified: its content hash
    /// ([`listing_hash`]).
    Listing {
        /// The listing's author.
        author: NodeId,
        /// The author's number for it.
        n: u64,
        /// Its content's hash.
        content: [u8; 32],
    },
    /// A member's skill.
    Skill {
        /// The member.
        node: NodeId,
        /// The skill, in words.
        skill: String,
    },
}

/// What certifiers sign: the community, the subject, the expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The certifying community.
    pub community: CommunityId,
    /// What it vouches for.
    pub subject: Subject,
    /// When it stops holding (ms since the Unix epoch; 0: never).
    pub expires_unix_ms: u64,
}

impl Statement {
    const VERSION: u8 = 1;

    /// `version (1) ‖ community (20) ‖ kind (1: 0 listing, 1 skill) ‖ node (20) ‖ n (8) ‖
    /// content (32) ‖ expires (8) ‖ skill (UTF-8)`; for a skill, `n` is 0 and `content`
    /// the skill's hash.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![Self::VERSION];
        out.extend_from_slice(&self.community.0);
        let (kind, node, n, content, skill) = match &self.subject {
            Subject::Listing { author, n, content } => (0u8, author, *n, *content, ""),
            Subject::Skill { node, skill } => {
                (1u8, node, 0, crypto::derive(CONTEXT_CERT_STATEMENT, &[skill.as_bytes()]), skill.as_str())
            }
        };
        out.push(kind);
        out.extend_from_slice(&node.0);
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&content);
        out.extend_from_slice(&self.expires_unix_ms.to_le_bytes());
        out.extend_from_slice(skill.as_bytes());
        out
    }

    /// From its bytes; `None` unless well-formed.
    pub fn decode(b: &[u8]) -> Option<Self> {
        const FIXED: usize = 1 + 20 + 1 + 20 + 8 + 32 + 8;
        if b.len() < FIXED || b.len() > FIXED + CERT_SKILL_MAX || b[0] != Self::VERSION {
            return None;
        }
        let community = CommunityId(b[1..21].try_into().ok()?);
        let node = NodeId(b[22..42].try_into().ok()?);
        let n = u64::from_le_bytes(b[42..50].try_into().ok()?);
        let content: [u8; 32] = b[50..82].try_into().ok()?;
        let expires_unix_ms = u64::from_le_bytes(b[82..90].try_into().ok()?);
        let skill = std::str::from_utf8(&b[FIXED..]).ok()?;
        let subject = match b[21] {
            0 if skill.is_empty() => Subject::Listing { author: node, n, content },
            1 if n == 0 && !skill.trim().is_empty() => {
                let s = Subject::Skill { node, skill: skill.to_string() };
                if content != crypto::derive(CONTEXT_CERT_STATEMENT, &[skill.as_bytes()]) {
                    return None;
                }
                s
            }
            _ => return None,
        };
        Some(Statement { community, subject, expires_unix_ms })
    }

    /// Its hash: what keys name it by.
    pub fn hash(&self) -> [u8; 32] {
        crypto::derive(CONTEXT_CERT_STATEMENT, &[&self.encode()])
    }

    /// The hash in hex.
    pub fn hash_hex(&self) -> String {
        crate::store::hex(&self.hash())
    }

    /// Whom it is about: the listing's author or the member.
    pub fn about(&self) -> NodeId {
        match &self.subject {
            Subject::Listing { author, .. } => *author,
            Subject::Skill { node, .. } => *node,
        }
    }

    /// The listing id it certifies, if it certifies a listing.
    pub fn listing(&self) -> Option<String> {
        match &self.subject {
            Subject::Listing { author, n, .. } => Some(format!("{author}/{n}")),
            Subject::Skill { .. } => None,
        }
    }

    fn describe(&self) -> String {
        match &self.subject {
            Subject::Listing { author, n, .. } => format!("listing {author}/{n}"),
            Subject::Skill { node, skill } => format!("{node} for {skill:?}"),
        }
    }
}

/// One certifier's signature over a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    /// The certifier's Ed25519 key.
    pub public: [u8; 32],
    /// Its signature.
    pub signature: [u8; 64],
}

impl Signature {
    /// `me` signs `s`.
    pub fn sign(me: &Identity, s: &Statement) -> Self {
        Signature { public: me.signing_public(), signature: me.sign(CONTEXT_CERTIFICATE, &[&s.encode()]) }
    }

    /// The certifier.
    pub fn signer(&self) -> NodeId {
        NodeId::from_signing_public(&self.public)
    }

    /// Whether it verifies over `s`.
    pub fn holds(&self, s: &Statement) -> bool {
        crypto::verify(&self.public, CONTEXT_CERTIFICATE, &[&s.encode()], &self.signature).is_ok()
    }

    fn encode(&self) -> [u8; 96] {
        let mut out = [0u8; 96];
        out[..32].copy_from_slice(&self.public);
        out[32..].copy_from_slice(&self.signature);
        out
    }

    fn decode(b: &[u8]) -> Option<Self> {
        Some(Signature { public: b.get(..32)?.try_into().ok()?, signature: b.get(32..96)?.try_into().ok()? })
    }

    /// A signature item's bytes: the signature, then the statement.
    pub fn encode_with_statement(&self, s: &Statement) -> Vec<u8> {
        [&self.encode()[..], &s.encode()].concat()
    }

    fn decode_with_statement(b: &[u8]) -> Option<(Self, Statement)> {
        Some((Signature::decode(b)?, Statement::decode(b.get(96..)?)?))
    }
}

/// An assembled certificate: a statement and the signatures gathered for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The statement.
    pub statement: Statement,
    /// The signatures (as written; [`Certificate::valid_signers`] checks them).
    pub signatures: Vec<Signature>,
}

impl Certificate {
    /// `n (1) ‖ n × (key ‖ signature) ‖ statement`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.signatures.len() as u8];
        for s in &self.signatures {
            out.extend_from_slice(&s.encode());
        }
        out.extend_from_slice(&self.statement.encode());
        out
    }

    /// From its bytes; `None` unless well-formed (1 to [`CERT_SIGNERS_MAX`] signatures).
    pub fn decode(b: &[u8]) -> Option<Self> {
        let (&n, rest) = b.split_first()?;
        let n = usize::from(n);
        if n == 0 || n > CERT_SIGNERS_MAX || rest.len() < n * 96 {
            return None;
        }
        let signatures = rest[..n * 96].chunks_exact(96).map(Signature::decode).collect::<Option<Vec<_>>>()?;
        Some(Certificate { statement: Statement::decode(&rest[n * 96..])?, signatures })
    }

    /// The distinct signers whose signature verifies and whom `certifies` admits.
    pub fn valid_signers(&self, certifies: impl Fn(&NodeId) -> bool) -> Vec<NodeId> {
        let mut out: Vec<NodeId> = Vec::new();
        for s in &self.signatures {
            let who = s.signer();
            if !out.contains(&who) && certifies(&who) && s.holds(&self.statement) {
                out.push(who);
            }
        }
        out
    }
}

/// A statement as the document holds it: its certificate if assembled, the signatures
/// gathered, and whether it was revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its hash in hex (its id).
    pub hash_hex: String,
    /// The statement.
    pub statement: Statement,
    /// The assembled certificate, if one was written.
    pub certificate: Option<Certificate>,
    /// Every signature that verifies (certificate and gathered ones), one per signer, not
    /// yet judged against who certifies.
    pub signatures: Vec<Signature>,
    /// Whether an owner revoked it.
    pub revoked: bool,
}

/// Every statement in the document.
pub fn read(doc: &AutoCommit) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    let bytes = |key: &str| super::market::bytes(doc, &ROOT, key);
    let mut revoked = Vec::new();
    for key in doc.keys(ROOT) {
        let (hash, statement, sigs, cert) = if let Some(rest) = key.strip_prefix("s/") {
            let Some((hash, _)) = rest.split_once('/') else { continue };
            let Some((sig, st)) = bytes(&key).as_deref().and_then(Signature::decode_with_statement) else { continue };
            (hash.to_string(), st, vec![sig], None)
        } else if let Some(hash) = key.strip_prefix("c/") {
            let Some(c) = bytes(&key).as_deref().and_then(Certificate::decode) else { continue };
            (hash.to_string(), c.statement.clone(), c.signatures.clone(), Some(c))
        } else if let Some(hash) = key.strip_prefix("r/") {
            revoked.push(hash.to_string());
            continue;
        } else {
            continue;
        };
        if statement.hash_hex() != hash {
            continue;
        }
        let at = match out.iter().position(|e| e.hash_hex == hash) {
            Some(i) => i,
            None => {
                out.push(Entry {
                    hash_hex: hash,
                    statement,
                    certificate: None,
                    signatures: Vec::new(),
                    revoked: false,
                });
                out.len() - 1
            }
        };
        let e = &mut out[at];
        for s in sigs {
            if !e.signatures.iter().any(|x| x.signer() == s.signer()) && s.holds(&e.statement) {
                e.signatures.push(s);
            }
        }
        if cert.is_some() {
            e.certificate = cert;
        }
    }
    for e in out.iter_mut() {
        e.revoked = revoked.contains(&e.hash_hex);
    }
    out
}

/// The hash of a listing's content as certified: kind, title, description, terms, price
/// and quantity (not its place or dates).
pub fn listing_hash(l: &super::market::NewListing) -> [u8; 32] {
    let price = l.price.as_ref().map(|p| format!("{} {}", p.amount, p.unit)).unwrap_or_default();
    let quantity = l.quantity.map(|q| q.to_string()).unwrap_or_default();
    let parts: [&[u8]; 6] = [
        l.kind.as_str().as_bytes(),
        l.title.as_bytes(),
        l.description.as_bytes(),
        l.terms.as_bytes(),
        price.as_bytes(),
        quantity.as_bytes(),
    ];
    let mut hasher = blake3::Hasher::new_derive_key(CONTEXT_CERT_STATEMENT);
    for p in parts {
        hasher.update(&(p.len() as u64).to_le_bytes());
        hasher.update(p);
    }
    *hasher.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::super::ops::Key;
    use super::*;

    fn put(key: &str, value: Vec<u8>) -> Op {
        Op { value: Some(value.into()), ..Op::new(Target::Root, Key::Map(key.into()), Action::Put) }
    }

    fn statement(node: NodeId) -> Statement {
        Statement {
            community: CommunityId([5; 20]),
            subject: Subject::Skill { node, skill: "beekeeping".into() },
            expires_unix_ms: 9,
        }
    }

    /// A log where `certifiers` certify and `k` must sign.
    fn log(certifiers: &[&Identity], k: u8) -> State {
        let mut s = crate::authority::resolve([0; 32], &[]);
        s.certifiers = certifiers.iter().map(|i| i.signing_public()).collect();
        s.threshold = k;
        s
    }

    #[test]
    fn statements_round_trip_and_refuse_damage() {
        let st = statement(NodeId([1; 20]));
        assert_eq!(Statement::decode(&st.encode()), Some(st.clone()));
        let listing =
            Statement { subject: Subject::Listing { author: NodeId([2; 20]), n: 7, content: [3; 32] }, ..st.clone() };
        assert_eq!(Statement::decode(&listing.encode()), Some(listing));
        let mut bad = st.encode();
        bad[60] ^= 1; // the skill's hash no longer matches it
        assert_eq!(Statement::decode(&bad), None);
        assert_eq!(Statement::decode(&[1, 2, 3]), None);
    }

    #[test]
    fn a_certificate_needs_k_certifiers_signatures() {
        let (a, b, c) = (Identity::generate(), Identity::generate(), Identity::generate());
        let st = statement(NodeId([1; 20]));
        let h = st.hash_hex();
        let by = |i: &Identity, role| Writer { node: i.node_id(), role: Some(role) };
        let two = log(&[&a, &b], 2);
        let cert = |signers: &[&Identity]| {
            Certificate { statement: st.clone(), signatures: signers.iter().map(|i| Signature::sign(i, &st)).collect() }
                .encode()
        };
        let k = Certificates;
        let ck = format!("c/{h}");
        assert_eq!(k.check_with_log(&by(&a, Role::Member), &[put(&ck, cert(&[&a, &b]))], Some(&two)), Ok(()));
        assert_eq!(
            k.check_with_log(&by(&a, Role::Member), &[put(&ck, cert(&[&a]))], Some(&two)),
            Err(Broken { rule: RULE_QUORUM }),
            "one of two"
        );
        assert_eq!(
            k.check_with_log(&by(&a, Role::Member), &[put(&ck, cert(&[&a, &a]))], Some(&two)),
            Err(Broken { rule: RULE_QUORUM }),
            "the same certifier twice"
        );
        assert_eq!(
            k.check_with_log(&by(&a, Role::Member), &[put(&ck, cert(&[&a, &c]))], Some(&two)),
            Err(Broken { rule: RULE_QUORUM }),
            "a signer who does not certify"
        );
        assert!(
            k.check_with_log(&by(&c, Role::Member), &[put(&ck, cert(&[&a, &b]))], Some(&two)).is_err(),
            "written by a non-signer"
        );
        assert!(
            k.check_with_log(
                &by(&a, Role::Member),
                &[put(&format!("c/{}", "0".repeat(64)), cert(&[&a, &b]))],
                Some(&two)
            )
            .is_err()
        );
        // Signatures: only one's own, only as a certifier.
        let sig = |i: &Identity| Signature::sign(i, &st).encode_with_statement(&st);
        assert_eq!(
            k.check_with_log(&by(&a, Role::Member), &[put(&format!("s/{h}/{}", a.node_id()), sig(&a))], Some(&two)),
            Ok(())
        );
        assert!(
            k.check_with_log(&by(&a, Role::Member), &[put(&format!("s/{h}/{}", b.node_id()), sig(&b))], Some(&two))
                .is_err()
        );
        assert_eq!(
            k.check_with_log(&by(&c, Role::Member), &[put(&format!("s/{h}/{}", c.node_id()), sig(&c))], Some(&two)),
            Err(Broken { rule: RULE_CERTIFIER })
        );
        // Revocation: owners only, once.
        let r = Op { value: Some(automerge::ScalarValue::Uint(1)), ..put(&format!("r/{h}"), vec![]) };
        assert_eq!(k.check_with_log(&by(&a, Role::Owner), std::slice::from_ref(&r), Some(&two)), Ok(()));
        assert!(k.check_with_log(&by(&a, Role::Member), std::slice::from_ref(&r), Some(&two)).is_err());
        assert!(k.check_with_log(&by(&a, Role::Owner), &[Op { overwrites: true, ..r }], Some(&two)).is_err());
    }

    #[test]
    fn the_view_gathers_signatures_per_statement() {
        use automerge::transaction::Transactable;
        let (a, b) = (Identity::generate(), Identity::generate());
        let st = statement(NodeId([1; 20]));
        let h = st.hash_hex();
        let mut doc = AutoCommit::new();
        doc.put(ROOT, format!("s/{h}/{}", a.node_id()), Signature::sign(&a, &st).encode_with_statement(&st)).unwrap();
        let e = read(&doc);
        assert_eq!((e.len(), e[0].signatures.len(), e[0].certificate.is_some()), (1, 1, false));
        let c =
            Certificate { statement: st.clone(), signatures: vec![Signature::sign(&a, &st), Signature::sign(&b, &st)] };
        doc.put(ROOT, format!("c/{h}"), c.encode()).unwrap();
        doc.put(ROOT, format!("r/{h}"), 5u64).unwrap();
        let e = read(&doc);
        assert_eq!((e.len(), e[0].signatures.len(), e[0].revoked), (1, 2, true));
        assert_eq!(e[0].certificate.as_ref().unwrap().valid_signers(|_| true).len(), 2);
    }
}
