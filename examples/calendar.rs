//! A document kind built only on Caravan's public API: a community calendar. Every
//! member adds events and changes or cancels only its own; the kernel seals, encrypts,
//! carries and merges it like any other document.
//!
//! Run with `cargo run --example calendar`: two villages share an event over a stick.

use caravan::automerge::transaction::Transactable;
use caravan::automerge::{AutoCommit, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use caravan::plugin::{Broken, DocKind, Home, Op, Writer, Writers, own_items};
use caravan::routing::Class;
use caravan::{CommunityId, Node, NodeId};

/// The kind: events at root keys `event/<author node id>/<n>`, each a map.
pub struct Calendar;

/// The one value registered (kinds are registered once per process).
pub static CALENDAR: Calendar = Calendar;

fn event_author(key: &str) -> Option<&str> {
    key.strip_prefix("event/")?.split('/').next()
}

impl DocKind for Calendar {
    fn name(&self) -> &'static str {
        "calendar"
    }
    fn version(&self) -> u32 {
        1
    }
    fn home(&self) -> Home {
        Home::Members
    }
    fn writers(&self) -> Writers {
        Writers::Members
    }
    fn class(&self) -> Class {
        Class::Content
    }
    fn check(&self, by: &Writer, ops: &[Op]) -> Result<(), Broken> {
        own_items(ops, by, event_author, "a member changes and cancels only its own events")
    }
}

/// An event as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `<author>/<n>`.
    pub id: String,
    /// Who added it.
    pub author: NodeId,
    /// What.
    pub title: String,
    /// When it starts, ms since the Unix epoch.
    pub starts_unix_ms: u64,
    /// Where.
    pub place: String,
}

/// Adds an event to community `cid`'s calendar; returns its id.
pub fn add_event(
    node: &mut Node,
    cid: &CommunityId,
    title: &str,
    starts_unix_ms: u64,
    place: &str,
) -> Result<String, caravan::Error> {
    node.edit_kind(cid, "calendar", |doc, me, _now| {
        let mut n = 1;
        while doc.get(ROOT, format!("event/{me}/{n}").as_str())?.is_some() {
            n += 1;
        }
        let id = format!("{me}/{n}");
        let event = doc.put_object(ROOT, format!("event/{id}"), ObjType::Map)?;
        doc.put(&event, "title", title)?;
        doc.put(&event, "starts", starts_unix_ms)?;
        doc.put(&event, "place", place)?;
        Ok(id)
    })
}

/// Cancels one of our events.
pub fn cancel_event(node: &mut Node, cid: &CommunityId, id: &str) -> Result<(), caravan::Error> {
    node.edit_kind(cid, "calendar", |doc, _, _| doc.delete(ROOT, format!("event/{id}")))
}

fn text(doc: &AutoCommit, obj: &caravan::automerge::ObjId, key: &str) -> String {
    match doc.get(obj, key) {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Str(t) => t.to_string(),
            _ => String::new(),
        },
        _ => String::new(),
    }
}

/// The calendar of community `cid`, soonest first.
pub fn events(node: &mut Node, cid: &CommunityId) -> Result<Vec<Event>, caravan::Error> {
    node.read_kind(cid, "calendar", |doc| {
        let mut out: Vec<Event> = doc
            .keys(ROOT)
            .filter_map(|key| {
                let id = key.strip_prefix("event/")?.to_string();
                let author = NodeId::parse(event_author(&key)?)?;
                let (Value::Object(ObjType::Map), obj) = doc.get(ROOT, key.as_str()).ok()?? else { return None };
                let starts_unix_ms = match doc.get(&obj, "starts").ok()?? {
                    (Value::Scalar(s), _) => match s.as_ref() {
                        ScalarValue::Uint(n) => *n,
                        _ => return None,
                    },
                    _ => return None,
                };
                Some(Event {
                    id,
                    author,
                    title: text(doc, &obj, "title"),
                    starts_unix_ms,
                    place: text(doc, &obj, "place"),
                })
            })
            .collect();
        out.sort_by_key(|e| e.starts_unix_ms);
        out
    })
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    caravan::plugin::register(&CALENDAR)?;
    let dir = tempfile::tempdir()?;
    let (a_home, b_home, stick) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("stick"));
    std::fs::create_dir_all(&stick)?;
    let mut a = Node::open(&a_home, "Hill village")?;
    let mut b = Node::open(&b_home, "River village")?;
    b.add_contact(&a.card(), &[])?;
    let growers = a.create_community("Growers", "")?;
    a.invite(&growers, &b.card(), caravan::Role::Member)?;
    let saturday = a.now() + 5 * 24 * 3600 * 1000;
    add_event(&mut a, &growers, "Seed swap", saturday, "the old school")?;
    // The stick goes from Hill to River.
    caravan::link::stick::sync(&mut a, &stick, Default::default())?;
    caravan::link::stick::sync(&mut b, &stick, Default::default())?;
    for e in events(&mut b, &growers)? {
        println!("River village sees: {} at {}", e.title, e.place);
    }
    Ok(())
}
