//! Words people read: moments in local time ("today 14:02", "3 days ago"), counted
//! nouns ("1 post", "no posts"), sizes in KiB and MiB, and how an unknown node is named.
//! The command line, `caravan status` and the dashboard all speak through these.

use jiff::{Timestamp, Zoned, tz::TimeZone};

fn local(ms: u64) -> Option<Zoned> {
    let ts = Timestamp::from_millisecond(i64::try_from(ms).ok()?).ok()?;
    Some(ts.to_zoned(TimeZone::system()))
}

/// A moment as people say it, from where they stand (`now_ms`): "just now", "5 minutes
/// ago", "today 14:02", "yesterday 09:15", "3 days ago", else the date.
pub fn when(ms: u64, now_ms: u64) -> String {
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
pub fn count(n: usize, one: &str, many: &str) -> String {
    match n {
        0 => format!("no {many}"),
        1 => format!("1 {one}"),
        _ => format!("{n} {many}"),
    }
}

/// A moment in this machine's time zone, as people write it.
pub fn local_time(ms: u64) -> String {
    local(ms).map_or_else(|| "an unknown date".into(), |t| t.strftime("%Y-%m-%d %H:%M").to_string())
}

/// A node no name is known for: said so, with no more of its id than a glance needs.
pub fn unknown(id: &str) -> String {
    format!("someone you do not know yet (node {}…)", id.get(..8).unwrap_or(id))
}

/// A size for people: bytes, then KiB, MiB, GiB with one decimal.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if v >= 100.0 || v.fract() == 0.0 { format!("{v:.0} {}", UNITS[unit]) } else { format!("{v:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_and_counts_read_as_words() {
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
        assert_eq!(human_bytes(1), "1 bytes");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(1 << 30), "1 GiB");
        assert!(unknown("abcdefghijklmnop").ends_with("(node abcdefgh…)"));
        assert_eq!(count(0, "post", "posts"), "no posts");
        assert_eq!(count(2, "change", "changes"), "2 changes");
    }
}
