//! The market: offers and requests in a community, for its members (`market`) or for
//! anyone (`market-public`). Each listing is one map at a root key naming its author
//! (`listing/<author>/<n>`): authors edit and withdraw only their own; expired listings
//! are hidden, and their authors' nodes delete them.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc, ScalarValue, Value};

use super::{Broken, DocKind, Home, Op, Writer, Writers, own_items};
use crate::identity::NodeId;
use crate::routing::Class;

/// Members-only listings of a community.
pub struct Market;
/// A community's listings readable by anyone (members write them).
pub struct PublicMarket;

const RULE: &str = "a member edits and withdraws only its own listings";
const PREFIX: &str = "listing/";

fn listing_author(key: &str) -> Option<&str> {
    key.strip_prefix(PREFIX)?.split('/').next()
}

macro_rules! market_kind {
    ($t:ty, $name:literal, $home:expr) => {
        impl DocKind for $t {
            kind_basics!($name, $home, Writers::Members, Class::Market);
            fn check(&self, by: &Writer, ops: &[Op]) -> Result<(), Broken> {
                own_items(ops, by, listing_author, RULE)
            }
            fn show(&self, doc: &AutoCommit) -> Vec<String> {
                all_listings(doc)
                    .into_iter()
                    .map(|l| {
                        let n = &l.listing;
                        let until = super::builtin::day(n.expires_unix_ms);
                        format!("{} {:?} by {}, until {until} (id {})", n.kind.as_str(), n.title, l.author, l.id)
                    })
                    .collect()
            }
        }
    };
}
market_kind!(Market, "market", Home::Members);
market_kind!(PublicMarket, "market-public", Home::CommunityPublic);

/// Whether a listing offers or asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListingKind {
    /// Something offered.
    Offer,
    /// Something wanted.
    Request,
}

impl ListingKind {
    /// Text name.
    pub fn as_str(self) -> &'static str {
        match self {
            ListingKind::Offer => "offer",
            ListingKind::Request => "request",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "offer" => Some(ListingKind::Offer),
            "request" => Some(ListingKind::Request),
            _ => None,
        }
    }
}

/// A price: an amount (decimal text, as written) and its unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    /// The amount, as the author wrote it ("12.50").
    pub amount: String,
    /// What it is counted in ("EUR", "hours", "eggs").
    pub unit: String,
}

/// What an author writes to list something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewListing {
    /// Offer or request.
    pub kind: ListingKind,
    /// Title.
    pub title: String,
    /// Longer description.
    pub description: String,
    /// Terms, in free text.
    pub terms: String,
    /// An optional price.
    pub price: Option<Price>,
    /// How many.
    pub quantity: Option<u64>,
    /// Where.
    pub place: String,
    /// Until when it stands, milliseconds since the Unix epoch.
    pub expires_unix_ms: u64,
}

/// A listing as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// Its id in the market: `<author>/<n>`.
    pub id: String,
    /// The author's node id.
    pub author: NodeId,
    /// When it was listed (the author's clock), ms since the Unix epoch.
    pub created_unix_ms: u64,
    /// What was listed.
    pub listing: NewListing,
}

/// Lists something as `<author>/<n>`, with the first `n` from `first` up that is free
/// here; returns its id. (Ids are unique per author across the members' and the public
/// market when `first` is above every `n` the author used in either: the list time.)
pub fn put_listing(
    doc: &mut AutoCommit,
    author: &NodeId,
    now_unix_ms: u64,
    first: u64,
    l: &NewListing,
) -> Result<String, automerge::AutomergeError> {
    let mut n = first;
    while doc.get(ROOT, format!("{PREFIX}{author}/{n}").as_str())?.is_some() {
        n += 1;
    }
    let id = format!("{author}/{n}");
    let obj = doc.put_object(ROOT, format!("{PREFIX}{id}"), ObjType::Map)?;
    doc.put(&obj, "kind", l.kind.as_str())?;
    doc.put(&obj, "title", l.title.as_str())?;
    doc.put(&obj, "description", l.description.as_str())?;
    doc.put(&obj, "terms", l.terms.as_str())?;
    if let Some(p) = &l.price {
        doc.put(&obj, "amount", p.amount.as_str())?;
        doc.put(&obj, "unit", p.unit.as_str())?;
    }
    if let Some(q) = l.quantity {
        doc.put(&obj, "quantity", q)?;
    }
    doc.put(&obj, "place", l.place.as_str())?;
    doc.put(&obj, "created", now_unix_ms)?;
    doc.put(&obj, "expires", l.expires_unix_ms)?;
    Ok(id)
}

/// Withdraws a listing. Returns whether it was there.
pub fn withdraw(doc: &mut AutoCommit, id: &str) -> Result<bool, automerge::AutomergeError> {
    let key = format!("{PREFIX}{id}");
    if doc.get(ROOT, key.as_str())?.is_none() {
        return Ok(false);
    }
    doc.delete(ROOT, key)?;
    Ok(true)
}

/// A text value of `obj` (other plug-ins read their maps with it too).
pub(super) fn text(doc: &AutoCommit, obj: &automerge::ObjId, key: &str) -> Option<String> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::Str(t) => Some(t.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// A non-negative number of `obj`.
/// The bytes at `key` of `obj`, if it holds a byte string.
pub(super) fn bytes(doc: &AutoCommit, obj: &automerge::ObjId, key: &str) -> Option<Vec<u8>> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::Bytes(b) => Some(b.clone()),
            _ => None,
        },
        _ => None,
    }
}

pub(super) fn number(doc: &AutoCommit, obj: &automerge::ObjId, key: &str) -> Option<u64> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::Uint(n) => Some(*n),
            ScalarValue::Int(n) => u64::try_from(*n).ok(),
            _ => None,
        },
        _ => None,
    }
}

/// Every listing, expired ones included, oldest first.
pub fn all_listings(doc: &AutoCommit) -> Vec<Listing> {
    let mut out: Vec<Listing> = doc
        .keys(ROOT)
        .filter_map(|key| {
            let id = key.strip_prefix(PREFIX)?.to_string();
            let author = NodeId::parse(listing_author(&key)?)?;
            let (Value::Object(ObjType::Map), obj) = doc.get(ROOT, key.as_str()).ok()?? else { return None };
            let price = match (text(doc, &obj, "amount"), text(doc, &obj, "unit")) {
                (Some(amount), Some(unit)) => Some(Price { amount, unit }),
                _ => None,
            };
            let listing = NewListing {
                kind: ListingKind::parse(&text(doc, &obj, "kind")?)?,
                title: text(doc, &obj, "title").unwrap_or_default(),
                description: text(doc, &obj, "description").unwrap_or_default(),
                terms: text(doc, &obj, "terms").unwrap_or_default(),
                price,
                quantity: number(doc, &obj, "quantity"),
                place: text(doc, &obj, "place").unwrap_or_default(),
                expires_unix_ms: number(doc, &obj, "expires")?,
            };
            Some(Listing { id, author, created_unix_ms: number(doc, &obj, "created").unwrap_or(0), listing })
        })
        .collect();
    out.sort_by(|a, b| (a.created_unix_ms, &a.id).cmp(&(b.created_unix_ms, &b.id)));
    out
}

/// The listings standing at `now` (expired ones hidden), oldest first.
pub fn listings(doc: &AutoCommit, now_unix_ms: u64) -> Vec<Listing> {
    all_listings(doc).into_iter().filter(|l| l.listing.expires_unix_ms > now_unix_ms).collect()
}

/// Ids of `author`'s listings expired at `now`: its node deletes them (only it may).
pub fn expired_of(doc: &AutoCommit, author: &NodeId, now_unix_ms: u64) -> Vec<String> {
    all_listings(doc)
        .into_iter()
        .filter(|l| l.author == *author && l.listing.expires_unix_ms <= now_unix_ms)
        .map(|l| l.id)
        .collect()
}

/// Whether a listing matches a search: every word of `text` (case-insensitive) appears
/// in its title, description, terms or place.
pub fn matches(l: &Listing, text: &str) -> bool {
    let hay =
        format!("{} {} {} {}", l.listing.title, l.listing.description, l.listing.terms, l.listing.place).to_lowercase();
    text.split_whitespace().all(|w| hay.contains(&w.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::Role;
    use crate::plugin::ops::ops_of;

    fn sample(kind: ListingKind, title: &str, expires: u64) -> NewListing {
        NewListing {
            kind,
            title: title.into(),
            description: "fresh".into(),
            terms: "pick up at the farm".into(),
            price: Some(Price { amount: "2.50".into(), unit: "EUR".into() }),
            quantity: Some(12),
            place: "Hill farm".into(),
            expires_unix_ms: expires,
        }
    }

    fn actor(n: &NodeId, seed: u8) -> automerge::ActorId {
        let _ = n;
        automerge::ActorId::from(vec![seed; 32])
    }

    #[test]
    fn listings_round_trip_hide_when_expired_and_search() {
        let me = NodeId([1; 20]);
        let mut doc = AutoCommit::new().with_actor(actor(&me, 1));
        let eggs = put_listing(&mut doc, &me, 1_000, 1, &sample(ListingKind::Offer, "Eggs", 10_000)).unwrap();
        let ride = put_listing(&mut doc, &me, 2_000, 1, &sample(ListingKind::Request, "Ride to town", 5_000)).unwrap();
        assert_ne!(eggs, ride);
        let all = listings(&doc, 3_000);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].listing, sample(ListingKind::Offer, "Eggs", 10_000));
        assert_eq!(all[0].author, me);
        assert_eq!(listings(&doc, 6_000).len(), 1, "the expired request is hidden");
        assert_eq!(expired_of(&doc, &me, 6_000), vec![ride.clone()]);
        assert!(matches(&all[0], "EGGS farm"));
        assert!(!matches(&all[0], "eggs milk"));
        assert!(withdraw(&mut doc, &eggs).unwrap());
        assert!(!withdraw(&mut doc, &eggs).unwrap());
        assert_eq!(listings(&doc, 3_000).len(), 1);
    }

    #[test]
    fn the_rule_admits_the_authors_own_listings_only() {
        let (me, other) = (NodeId([1; 20]), NodeId([2; 20]));
        let mut doc = AutoCommit::new().with_actor(actor(&me, 1));
        let id = put_listing(&mut doc, &me, 1, 1, &sample(ListingKind::Offer, "Eggs", 10)).unwrap();
        doc.commit();
        let by_me = Writer { node: me, role: Some(Role::Member) };
        let by_other = Writer { node: other, role: Some(Role::Owner) };
        let change = doc.get_last_local_change().unwrap();
        assert_eq!(Market.check(&by_me, &ops_of(&change).unwrap()), Ok(()));
        // Another member edits the listing's title: an object it did not make.
        let mut theirs = doc.fork().with_actor(actor(&other, 2));
        let (_, obj) = theirs.get(ROOT, format!("listing/{id}").as_str()).unwrap().unwrap();
        theirs.put(&obj, "title", "Rotten eggs").unwrap();
        theirs.commit();
        let change = theirs.get_last_local_change().unwrap();
        assert_eq!(Market.check(&by_other, &ops_of(&change).unwrap()), Err(Broken { rule: RULE }));
        // Or withdraws it.
        let mut theirs = doc.fork().with_actor(actor(&other, 2));
        withdraw(&mut theirs, &id).unwrap();
        theirs.commit();
        let change = theirs.get_last_local_change().unwrap();
        assert_eq!(PublicMarket.check(&by_other, &ops_of(&change).unwrap()), Err(Broken { rule: RULE }));
    }
}
