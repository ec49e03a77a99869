//! The cloak: the outer layer every bundle travels in (`spec/bundle.md`, "The cloak").
//!
//! A carrier sees a BPv7 bundle from `dtn:none` to a rotating tag, a creation time, a
//! lifetime and a padded size. Inside, sealed under a key only the bundle's readers can
//! derive (a *route*), is the whole signed bundle as its author made it. Readers know
//! the tags of their routes for every day a bundle can live, so they recognise what is
//! theirs without trying keys; a bundle for one node carries an ephemeral X25519 key and
//! is recognised by one key agreement.
//!
//! ```
//! use std::time::Duration;
//! use caravan::cloak::{self, Route, To};
//!
//! // The members of a community share its key; their route comes from it.
//! let route = Route::of_key("c/wells", 0, &[7; 32]);
//! let now = 1_796_000_000_000;
//! let inner = b"a whole signed bundle";
//! let c = cloak::cloak(inner, To::Group(route), now, Duration::from_secs(3600), &[0; 32]).unwrap();
//! // A carrier sees a bundle from nobody to a tag, padded to a bucket.
//! let outer = cloak::read(&c.bytes, now).unwrap();
//! assert_eq!(outer.info.source, "dtn:none");
//! assert_eq!(outer.tag, route.tag(cloak::day_of(now)));
//! // A member opens it.
//! assert_eq!(outer.open(&route).unwrap(), inner);
//! ```

use std::time::Duration;

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use data_encoding::BASE32_NOPAD;
use x25519_dalek::{PublicKey as AgreementPublic, StaticSecret};

use crate::bundle::{self, BundleFormatError, BundleInfo};
use crate::crypto::{self, NONCE_BYTES, TAG_BYTES};
use crate::limits::CLOAK_PAYLOAD_MAX;

/// The first byte of every cloak: the wire format's version.
pub const CLOAK_VERSION: u8 = 3;
/// The cloak's own bytes: version, ephemeral key, release hash, nonce, AEAD tag, and the
/// inner length.
pub const CLOAK_OVERHEAD: usize = 1 + 32 + 32 + NONCE_BYTES + TAG_BYTES + 4;
/// Where the sealed part of a cloak starts: after the version, `e` and the release hash.
const CLEAR: usize = 1 + 32 + 32;
/// The source of every cloaked bundle: nobody.
pub const SOURCE: &str = "dtn:none";
/// Milliseconds in a day: tags rotate at 00:00 UTC.
pub const DAY_MS: u64 = 86_400_000;
/// Bytes of a tag.
pub const TAG_LEN: usize = 16;

const CONTEXT_ROUTE: &str = "caravan 2026-12 cloak route v1";
const CONTEXT_TAG: &str = "caravan 2026-12 cloak tag v1";
const CONTEXT_KEY: &str = "caravan 2026-12 cloak key v1";
const CONTEXT_RELEASE_HASH: &str = "caravan 2026-12 cloak release hash v1";
const CONTEXT_DIRECT_RELEASE: &str = "caravan 2026-12 cloak direct release v1";

/// The release secret of a bundle for one node: from its route, so both its writer and
/// its recipient can show it (the recipient once it took the bundle in).
pub fn direct_release(route: &Route) -> [u8; 32] {
    crypto::derive(CONTEXT_DIRECT_RELEASE, &[&route.0])
}

/// The release hash of a release secret: what a cloak shows in clear, so whoever holds
/// it drops the bundle when its author reveals the secret (every destination has it).
pub fn release_hash(secret: &[u8; 32]) -> [u8; 32] {
    crypto::derive(CONTEXT_RELEASE_HASH, &[secret])
}

/// Why bytes are not a cloak this node can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloakError {
    /// The outer BPv7 bundle is not acceptable.
    #[error(transparent)]
    Bundle(#[from] BundleFormatError),
    /// Not a cloak of the version this code reads (a bundle of an older Caravan, or not
    /// Caravan's).
    #[error("not a cloaked bundle of wire version {CLOAK_VERSION}")]
    Version,
    /// The payload's size is not one of the padding buckets.
    #[error("cloak of {0} bytes is not padded to a bucket")]
    Size(usize),
    /// The destination is not a tag.
    #[error("destination is not a tag")]
    Destination,
    /// The route does not open it, or it was altered.
    #[error("the cloak does not open (wrong route, or altered)")]
    Open,
    /// Opened, but the inner length or padding is wrong.
    #[error("the cloak's padding is malformed")]
    Padding,
    /// What is to be cloaked is bigger than the largest bucket.
    #[error("{0} bytes is over the largest cloak")]
    TooLarge(usize),
    /// The recipient's key cannot be agreed with.
    #[error("the recipient's key is not usable")]
    Recipient,
}

/// A route: the secret that the readers of a bundle share, from which its tags and its
/// cloak key are derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route(pub [u8; 32]);

impl Route {
    /// The route of content sealed under a key (a community's, an audience's, a
    /// friends-of-friends or friends-of-members key) at an epoch.
    pub fn of_key(scope: &str, epoch: u32, key: &[u8; 32]) -> Self {
        Route(crypto::derive(CONTEXT_ROUTE, &[b"key", scope.as_bytes(), &epoch.to_le_bytes(), key]))
    }

    /// The route of public content of `owner` (`p/<node>` or `c/<community>`): anyone
    /// who knows that id can derive it; a carrier that does not, cannot.
    pub fn public(owner: &str) -> Self {
        Route(crypto::derive(CONTEXT_ROUTE, &[b"public", owner.as_bytes()]))
    }

    /// The route of release lists (`crate::envelope::encode_release_record`): everyone
    /// reads them, carriers too, since they name no one.
    pub fn releases() -> Self {
        Route(crypto::derive(CONTEXT_ROUTE, &[b"releases"]))
    }

    /// The route of a slot grant sealed for one pass (friends of friends, friends of
    /// members): whoever holds the pass.
    pub fn pass(pass: &[u8; 32]) -> Self {
        Route(crypto::derive(CONTEXT_ROUTE, &[b"pass", pass]))
    }

    fn direct(shared: &[u8; 32], e: &[u8; 32], recipient: &[u8; 32]) -> Self {
        Route(crypto::derive(CONTEXT_ROUTE, &[b"direct", shared, e, recipient]))
    }

    /// The tag of this route on `day` (days since the Unix epoch).
    pub fn tag(&self, day: u32) -> [u8; TAG_LEN] {
        let d = crypto::derive(CONTEXT_TAG, &[&self.0, &day.to_le_bytes()]);
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&d[..TAG_LEN]);
        tag
    }

    /// The tag of a bundle for one node: its route is fresh, so it need not rotate.
    fn direct_tag(&self) -> [u8; TAG_LEN] {
        self.tag(u32::MAX)
    }

    fn aead(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&crypto::derive(CONTEXT_KEY, &[&self.0])).into())
    }
}

/// The route content of document `doc` travels under: its key's (the document's key
/// scope, `key` and its epoch), or for public content, its owner's public route.
pub fn route_for(doc: &crate::doc::DocId, key: Option<(&[u8; 32], u32)>) -> Route {
    match (doc.key_scope(), key) {
        (Some(scope), Some((k, epoch))) => Route::of_key(&scope, epoch, k),
        _ => Route::public(&match doc {
            crate::doc::DocId::Profile { owner, .. } => format!("p/{owner}"),
            crate::doc::DocId::Community { id, .. } => format!("c/{id}"),
        }),
    }
}

/// A cloak opened: the inner bundle, and what cloaks a changed copy for the same readers.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The inner bundle: the bundle as its author signed it.
    pub inner: Vec<u8>,
    /// The route that opened it.
    pub route: Route,
    /// Its ephemeral key.
    pub e: [u8; 32],
    /// Whether it is for one node.
    pub direct: bool,
    /// Its release hash.
    pub release: [u8; 32],
}

impl Opened {
    /// `inner` cloaked for the same readers, created at `created_ms`, with the same
    /// release hash.
    pub fn cloak_again(&self, inner: &[u8], created_ms: u64, lifetime: Duration) -> Result<Vec<u8>, CloakError> {
        let again = To::Again { route: self.route, e: self.e, direct: self.direct };
        Ok(cloak(inner, again, created_ms, lifetime, &self.release)?.bytes)
    }
}

/// The day (since the Unix epoch) of a time in milliseconds.
pub fn day_of(unix_ms: u64) -> u32 {
    u32::try_from(unix_ms / DAY_MS).unwrap_or(u32::MAX)
}

/// The endpoint id a tag is written as: `dtn://<tag in base32>/t`.
pub fn endpoint(tag: &[u8; TAG_LEN]) -> String {
    format!("dtn://{}/t", BASE32_NOPAD.encode(tag).to_ascii_lowercase())
}

/// The tag an endpoint id names, if it is one.
pub fn tag_of(endpoint: &str) -> Option<[u8; TAG_LEN]> {
    let name = endpoint.strip_prefix("dtn://")?.strip_suffix("/t")?;
    if name.len() != 26 {
        return None;
    }
    BASE32_NOPAD.decode(name.to_ascii_uppercase().as_bytes()).ok()?.try_into().ok()
}

/// The padding buckets: below 64 KiB two sizes per doubling (512 B, 768 B, 1 KiB,
/// 1.5 KiB, ... 48 KiB: at most a third of a small cloak is padding), from 64 KiB eight
/// (64, 72, 80, ... 120 KiB, 128 KiB, ...: at most an eighth), up to 64 MiB; 95 sizes in
/// all. The size of a cloak (the whole payload) is always one of them.
pub fn bucket(len: usize) -> Option<usize> {
    let mut size = 512usize;
    while size <= CLOAK_PAYLOAD_MAX {
        let steps = if size < 64 * 1024 { 2 } else { 8 };
        for k in 0..steps {
            let candidate = size + size * k / steps;
            if candidate > CLOAK_PAYLOAD_MAX {
                return None;
            }
            if len <= candidate {
                return Some(candidate);
            }
        }
        size *= 2;
    }
    None
}

/// Who a cloak is for.
#[derive(Debug, Clone, Copy)]
pub enum To<'a> {
    /// The holders of a route (a group, an audience, the public of an id, a pass).
    Group(Route),
    /// One node, by its Ed25519 public key (its X25519 form is agreed with).
    Node(&'a [u8; 32]),
    /// Again, as before (a renewal): the same route and ephemeral key.
    Again {
        /// The route it was cloaked for.
        route: Route,
        /// Its ephemeral key.
        e: [u8; 32],
        /// Whether it is for one node (its tag does not rotate).
        direct: bool,
    },
}

/// A cloaked bundle and the route that opens it.
pub struct Cloaked {
    /// The bundle as it travels.
    pub bytes: Vec<u8>,
    /// What opens it (kept by the writer to read its own bundle again).
    pub route: Route,
}

/// Cloaks `inner` (a whole signed bundle) for `to`, created at `created_ms` and living
/// `lifetime`, showing `release` (a [`release_hash`], or random bytes for a bundle that
/// is never released). A bundle for one node shows the hash of its [`direct_release`]
/// instead, whatever `release` says.
pub fn cloak(
    inner: &[u8],
    to: To<'_>,
    created_ms: u64,
    lifetime: Duration,
    release: &[u8; 32],
) -> Result<Cloaked, CloakError> {
    let size = bucket(inner.len() + CLOAK_OVERHEAD).ok_or(CloakError::TooLarge(inner.len()))?;
    let (route, e, tag) = match to {
        To::Group(route) => {
            // A fresh X25519 public key where a direct bundle has its ephemeral key:
            // the two look alike.
            let e = AgreementPublic::from(&StaticSecret::from(crypto::random_32())).to_bytes();
            (route, e, route.tag(day_of(created_ms)))
        }
        To::Node(signing_public) => {
            let recipient = agreement_of(signing_public).ok_or(CloakError::Recipient)?;
            let eph = StaticSecret::from(crypto::random_32());
            let e = AgreementPublic::from(&eph).to_bytes();
            let shared = eph.diffie_hellman(&AgreementPublic::from(recipient));
            if !shared.was_contributory() {
                return Err(CloakError::Recipient);
            }
            let route = Route::direct(shared.as_bytes(), &e, &recipient);
            (route, e, route.direct_tag())
        }
        To::Again { route, e, direct } => {
            (route, e, if direct { route.direct_tag() } else { route.tag(day_of(created_ms)) })
        }
    };
    let direct = match to {
        To::Node(_) => true,
        To::Again { direct, .. } => direct,
        To::Group(_) => false,
    };
    let release = if direct { release_hash(&direct_release(&route)) } else { *release };
    let release = &release;
    let mut payload = Vec::with_capacity(size);
    payload.push(CLOAK_VERSION);
    payload.extend_from_slice(&e);
    payload.extend_from_slice(release);
    let mut nonce = [0u8; NONCE_BYTES];
    crypto::fill_random(&mut nonce);
    payload.extend_from_slice(&nonce);
    let start = payload.len();
    payload.extend_from_slice(&(inner.len() as u32).to_le_bytes());
    payload.extend_from_slice(inner);
    payload.resize(size - TAG_BYTES, 0);
    let aad = aad(&tag, &e, release);
    let sealed = route
        .aead()
        .encrypt_inout_detached(&XNonce::from(nonce), &aad, (&mut payload[start..]).into())
        .map_err(|_| CloakError::TooLarge(inner.len()))?;
    payload.extend_from_slice(&sealed);
    let bytes = bundle::build(SOURCE, &endpoint(&tag), created_ms, 0, lifetime, &payload)?;
    Ok(Cloaked { bytes, route })
}

fn aad(tag: &[u8; TAG_LEN], e: &[u8; 32], release: &[u8; 32]) -> Vec<u8> {
    let mut aad = vec![CLOAK_VERSION];
    aad.extend_from_slice(tag);
    aad.extend_from_slice(e);
    aad.extend_from_slice(release);
    aad
}

/// The X25519 form of a node's Ed25519 public key (what a bundle for one node is agreed
/// with), or `None` for a key that is not a valid point.
pub fn agreement_of(signing_public: &[u8; 32]) -> Option<[u8; 32]> {
    let key = ed25519_dalek::VerifyingKey::from_bytes(signing_public).ok()?;
    Some(key.to_montgomery().to_bytes())
}

/// A cloak as a carrier sees it: checked, not opened.
#[derive(Debug, Clone)]
pub struct Outer<'a> {
    /// The outer bundle: `dtn:none` to the tag, its times, its payload.
    pub info: BundleInfo,
    /// The tag in its destination.
    pub tag: [u8; TAG_LEN],
    /// The ephemeral key (for one node) or a fresh key that looks the same.
    pub e: [u8; 32],
    /// The release hash: the bundle goes wherever its author's release secret is shown.
    pub release: [u8; 32],
    nonce: [u8; NONCE_BYTES],
    sealed: &'a [u8],
}

/// Reads a cloak's outer bundle, checking it at `now` ([`bundle::parse`]); cheap: nothing
/// is decrypted.
pub fn read(bytes: &[u8], now: u64) -> Result<Outer<'_>, CloakError> {
    outer(bytes, bundle::parse(bytes, now)?)
}

/// [`read`], whatever the time.
pub fn read_untimed(bytes: &[u8]) -> Result<Outer<'_>, CloakError> {
    outer(bytes, bundle::parse_untimed(bytes)?)
}

fn outer(bytes: &[u8], info: BundleInfo) -> Result<Outer<'_>, CloakError> {
    let payload = &bytes[info.payload.clone()];
    if payload.first() != Some(&CLOAK_VERSION) || info.admin_record || info.source != SOURCE {
        return Err(CloakError::Version);
    }
    if bucket(payload.len()) != Some(payload.len()) {
        return Err(CloakError::Size(payload.len()));
    }
    let tag = tag_of(&info.destination).ok_or(CloakError::Destination)?;
    let field = |r: std::ops::Range<usize>| payload.get(r).ok_or(CloakError::Size(payload.len()));
    let e: [u8; 32] = field(1..33)?.try_into().map_err(|_| CloakError::Size(payload.len()))?;
    let release: [u8; 32] = field(33..CLEAR)?.try_into().map_err(|_| CloakError::Size(payload.len()))?;
    let nonce: [u8; NONCE_BYTES] =
        field(CLEAR..CLEAR + NONCE_BYTES)?.try_into().map_err(|_| CloakError::Size(payload.len()))?;
    let sealed = field(CLEAR + NONCE_BYTES..payload.len())?;
    if sealed.len() < TAG_BYTES + 4 {
        return Err(CloakError::Size(payload.len()));
    }
    Ok(Outer { info, tag, e, release, nonce, sealed })
}

impl Outer<'_> {
    /// The route of a bundle for the holder of `secret` (its X25519 form of its signing
    /// key), if it is one: one key agreement.
    pub fn direct_route(&self, secret: &StaticSecret) -> Option<Route> {
        let shared = secret.diffie_hellman(&AgreementPublic::from(self.e));
        if !shared.was_contributory() {
            return None;
        }
        let me = AgreementPublic::from(secret).to_bytes();
        let route = Route::direct(shared.as_bytes(), &self.e, &me);
        (route.direct_tag() == self.tag).then_some(route)
    }

    /// Whether this is a bundle for one node (its tag is the day-less one of `route`).
    pub fn is_direct(&self, route: &Route) -> bool {
        route.direct_tag() == self.tag
    }

    /// Opens the cloak with `route`: the inner bundle's bytes.
    pub fn open(&self, route: &Route) -> Result<Vec<u8>, CloakError> {
        // (`outer` checked the sealed part holds at least the tag and the length.)
        let (body, tag) = self.sealed.split_at(self.sealed.len().saturating_sub(TAG_BYTES));
        let mut plain = body.to_vec();
        route
            .aead()
            .decrypt_inout_detached(
                &XNonce::from(self.nonce),
                &aad(&self.tag, &self.e, &self.release),
                (&mut plain[..]).into(),
                tag.try_into().map_err(|_| CloakError::Open)?,
            )
            .map_err(|_| CloakError::Open)?;
        let len: [u8; 4] = plain.get(..4).and_then(|b| b.try_into().ok()).ok_or(CloakError::Padding)?;
        let len = u32::from_le_bytes(len) as usize;
        let end = len.checked_add(4).filter(|&end| end <= plain.len()).ok_or(CloakError::Padding)?;
        // One spelling: the padding is zeros, and no smaller bucket would have done.
        if plain[end..].iter().any(|&b| b != 0)
            || bucket(len + CLOAK_OVERHEAD) != Some(self.sealed.len() + CLEAR + NONCE_BYTES)
        {
            return Err(CloakError::Padding);
        }
        plain.truncate(end);
        plain.drain(..4);
        Ok(plain)
    }
}

/// The X25519 secret that opens bundles for a node: the scalar of its Ed25519 signing key.
pub fn direct_secret(signing: &ed25519_dalek::SigningKey) -> StaticSecret {
    StaticSecret::from(signing.to_scalar_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_795_000_000_000;
    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn buckets_are_few_and_tight() {
        assert_eq!(bucket(1), Some(512));
        assert_eq!(bucket(513), Some(768));
        assert_eq!(bucket(1025), Some(1536));
        assert_eq!(bucket(1537), Some(2048));
        assert_eq!(bucket(3 * 1024 * 1024 + 1), Some(3 * 1024 * 1024 + 256 * 1024));
        assert_eq!(bucket(CLOAK_PAYLOAD_MAX), Some(CLOAK_PAYLOAD_MAX));
        assert_eq!(bucket(CLOAK_PAYLOAD_MAX + 1), None);
        assert_eq!(bucket(64 * 1024 + 1), Some(72 * 1024));
        assert_eq!(bucket(16 * 1024 * 1024 + 200), Some(18 * 1024 * 1024));
        // Walk every bucket from the length just past the one before (the worst case).
        let mut sizes = Vec::new();
        let mut len = 1;
        while let Some(b) = bucket(len) {
            // At most a third padding below 64 KiB, an eighth above.
            assert!(b >= len && (b <= 512 || b * 2 <= len * 3) && (b <= 64 * 1024 || b * 8 <= len * 9), "{len} -> {b}");
            sizes.push(b);
            len = b + 1;
        }
        assert_eq!(sizes.len(), 95);
    }

    #[test]
    fn a_group_reads_what_a_carrier_cannot_link() {
        let route = Route::of_key("c/x", 0, &[7; 32]);
        let inner = b"a whole signed bundle".to_vec();
        let c = cloak(&inner, To::Group(route), NOW, DAY, &[5; 32]).unwrap();
        let outer = read(&c.bytes, NOW).unwrap();
        assert_eq!(outer.info.source, "dtn:none");
        assert_eq!(outer.tag, route.tag(day_of(NOW)));
        assert_eq!(outer.info.payload.len(), 512, "padded to the first bucket");
        assert_eq!(outer.open(&route).unwrap(), inner);
        assert_eq!(outer.open(&Route::of_key("c/x", 1, &[7; 32])), Err(CloakError::Open));
        // The same route the next day has an unrelated tag, and the same content twice
        // is two different-looking bundles.
        assert_ne!(route.tag(day_of(NOW)), route.tag(day_of(NOW) + 1));
        let again = cloak(&inner, To::Group(route), NOW, DAY, &[5; 32]).unwrap();
        assert_ne!(again.bytes, c.bytes);
        // Nothing of the inner bytes shows.
        assert!(!c.bytes.windows(8).any(|w| w == b"a whole "));
    }

    #[test]
    fn one_node_recognises_its_own_by_one_agreement() {
        let alice = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
        let bob = ed25519_dalek::SigningKey::from_bytes(&[2; 32]);
        let c = cloak(b"grant", To::Node(&alice.verifying_key().to_bytes()), NOW, DAY, &[5; 32]).unwrap();
        let outer = read(&c.bytes, NOW).unwrap();
        let route = outer.direct_route(&direct_secret(&alice)).expect("alice's");
        assert_eq!(route, c.route);
        assert_eq!(outer.open(&route).unwrap(), b"grant");
        assert!(outer.direct_route(&direct_secret(&bob)).is_none());
        // A renewal: same route and key, a new time; still alice's.
        let renewed =
            cloak(b"grant", To::Again { route, e: outer.e, direct: true }, NOW + 9 * 86_400_000, DAY, &[5; 32])
                .unwrap();
        let r = read(&renewed.bytes, NOW + 9 * 86_400_000).unwrap();
        assert_eq!(r.direct_route(&direct_secret(&alice)), Some(route));
    }

    #[test]
    fn every_altered_byte_is_refused() {
        let route = Route::public("p/someone");
        let c = cloak(b"public profile", To::Group(route), NOW, DAY, &[5; 32]).unwrap();
        for i in 0..c.bytes.len() {
            let mut bad = c.bytes.clone();
            bad[i] ^= 0x10;
            assert!(read(&bad, NOW).and_then(|o| o.open(&route)).is_err(), "flip at {i} accepted");
        }
        assert!(read(&c.bytes[..c.bytes.len() - 1], NOW).is_err());
    }

    #[test]
    fn tags_read_back_from_endpoints() {
        let t = Route::pass(&[3; 32]).tag(20_000);
        assert_eq!(tag_of(&endpoint(&t)), Some(t));
        assert_eq!(tag_of("dtn://abc/t"), None);
        assert_eq!(tag_of("dtn://aaaaaaaaaaaaaaaaaaaaaaaaaa/caravan"), None);
    }
}
