//! Words people read: names for node ids, local dates ("today 14:02", "3 days ago"),
//! counted nouns ("1 post", "2 posts"). Sizes: `caravan::status::human_bytes`.

use std::collections::HashMap;

use caravan::{Node, NodeId};
use jiff::{Timestamp, Zoned, tz::TimeZone};

/// The names this node knows for other nodes: its own, its contacts', and the members of
/// its communities.
pub(crate) struct Names(HashMap<NodeId, String>);

impl Names {
    /// Reads every name the node knows (best effort: a part it cannot read is skipped).
    pub(crate) fn load(node: &mut Node) -> Self {
        let mut map = HashMap::new();
        if let Ok(communities) = node.communities() {
            for c in communities {
                for (id, _, name) in node.members(&c.id).unwrap_or_default() {
                    if let Some(id) = NodeId::parse(&id) {
                        map.insert(id, name);
                    }
                }
            }
        }
        for c in node.contacts().unwrap_or_default() {
            map.insert(c.card.node_id(), c.card.name.clone());
        }
        map.insert(node.node_id(), format!("{} (you)", node.name()));
        Names(map)
    }

    /// A node's name, or, for a node not known by name, the first characters of its id.
    pub(crate) fn of(&self, id: &NodeId) -> String {
        match self.0.get(id) {
            Some(n) => n.clone(),
            None => format!("someone you do not know yet (node {}…)", &id.to_string()[..8]),
        }
    }
}

fn local(ms: u64) -> Option<Zoned> {
    let ts = Timestamp::from_millisecond(i64::try_from(ms).ok()?).ok()?;
    Some(ts.to_zoned(TimeZone::system()))
}

/// A moment as people say it, from where they stand (`now_ms`): "just now", "5 minutes
/// ago", "today 14:02", "yesterday 09:15", "3 days ago", else the date.
pub(crate) fn when(ms: u64, now_ms: u64) -> String {
    let (Some(t), Some(now)) = (local(ms), local(now_ms)) else { return "at an unknown time".into() };
    let ago = now_ms.saturating_sub(ms) / 1000;
    if ms > now_ms + 60_000 {
        return t.strftime("%Y-%m-%d %H:%M").to_string();
    }
    if ago < 60 {
        return "just now".into();
    }
    if ago < 3600 {
        return count(ago as usize / 60, "minute", "minutes") + " ago";
    }
    let days = (now.date() - t.date()).get_days();
    match days {
        0 => format!("today {}", t.strftime("%H:%M")),
        1 => format!("yesterday {}", t.strftime("%H:%M")),
        2..=6 => format!("{days} days ago"),
        _ => t.strftime("%Y-%m-%d").to_string(),
    }
}

/// "1 post", "2 posts", "no posts".
pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    match n {
        0 => format!("no {many}"),
        1 => format!("1 {one}"),
        _ => format!("{n} {many}"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_sizes_and_counts_read_as_words() {
        let now = 1_796_000_000_000u64;
        assert_eq!(when(now - 5_000, now), "just now");
        assert_eq!(when(now - 60_000, now), "1 minute ago");
        assert_eq!(when(now - 25 * 60_000, now), "25 minutes ago");
        assert_eq!(when(now - 3 * 86_400_000, now), "3 days ago");
        assert!(when(now - 40 * 86_400_000, now).starts_with("2026-"), "{}", when(now - 40 * 86_400_000, now));
        assert!(
            when(now - 2 * 3_600_000, now).starts_with("today ")
                || when(now - 2 * 3_600_000, now).starts_with("yesterday ")
        );
        assert_eq!(count(0, "post", "posts"), "no posts");
        assert_eq!(count(2, "change", "changes"), "2 changes");
    }

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
