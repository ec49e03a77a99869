//! Words people read on the command line: names for node ids, and versions given as
//! numbers or local dates. Moments, counts and sizes: `caravan::words`.

use std::collections::HashMap;

use caravan::{Node, NodeId};
use jiff::tz::TimeZone;

pub(crate) use caravan::words::{count, when};

/// The names this node knows for other nodes: its own, its contacts', and the members of
/// its communities.
pub(crate) struct Names(HashMap<NodeId, String>);

impl Names {
    /// Reads every name the node knows (`Node::names`); this node is "NAME (you)".
    pub(crate) fn load(node: &mut Node) -> Self {
        let mut map: HashMap<NodeId, String> = node.names().unwrap_or_default().into_iter().collect();
        map.insert(node.node_id(), format!("{} (you)", node.name()));
        Names(map)
    }

    /// A node's name, or, for a node not known by name, the first characters of its id.
    pub(crate) fn of(&self, id: &NodeId) -> String {
        match self.0.get(id) {
            Some(n) => n.clone(),
            None => caravan::words::unknown(&id.to_string()),
        }
    }
}

/// Reads a version as given on the command line: a number (`3`), a local date
/// (`2026-11-30`: as it was at the end of that day) or a local date and time
/// (`2026-11-30 14:02`, or with a `T`).
pub(crate) fn parse_at(s: &str) -> Result<caravan::PageAt, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<usize>() {
        return if n == 0 { Err("versions count from 1".into()) } else { Ok(caravan::PageAt::Version(n)) };
    }
    let tz = TimeZone::system();
    // A date alone would also parse a date and time (dropping the time): time first.
    let has_time = s.contains([' ', 'T']);
    let end = if let (true, Ok(dt)) = (has_time, s.replacen(' ', "T", 1).parse::<jiff::civil::DateTime>()) {
        dt.to_zoned(tz).map(|z| z.timestamp().as_millisecond() + 59_999)
    } else if let (false, Ok(d)) = (has_time, s.parse::<jiff::civil::Date>()) {
        d.to_zoned(tz).map(|z| z.timestamp().as_millisecond() + 24 * 3600 * 1000 - 1)
    } else {
        return Err(format!(
            "{s:?} is not a version number, a date (2026-11-30) or a date and time (2026-11-30 14:02)"
        ));
    };
    let ms = end.map_err(|e| format!("{s:?}: {e}"))?;
    Ok(caravan::PageAt::Time(u64::try_from(ms).map_err(|_| format!("{s:?} is before 1970"))?))
}

/// An item (listing, exchange, poll) as people read and type it: its handle (no `#`,
/// which a shell would take for a comment).
pub(crate) fn item(id: &str) -> String {
    caravan::plugin::handle(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_by_number_or_local_date() {
        assert_eq!(parse_at("3"), Ok(caravan::PageAt::Version(3)));
        assert!(parse_at("0").is_err());
        let day = parse_at("2026-11-30").unwrap();
        let minute = parse_at("2026-11-30 14:02").unwrap();
        let (caravan::PageAt::Time(d), caravan::PageAt::Time(m)) = (day, minute) else { panic!("{day:?} {minute:?}") };
        assert!(m < d, "a minute within the day is before the day's end");
        assert!(parse_at("last tuesday").unwrap_err().contains("not a version number"));
    }
}
