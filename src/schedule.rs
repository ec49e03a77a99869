//! Sync windows, free of I/O: whether a moment is inside a window, and when the next
//! window opens (`spec/config.md`). Times are milliseconds since the Unix epoch; windows
//! are civil times in a named time zone, so "18:00-19:00 in Africa/Nairobi" stays right
//! across daylight-saving changes.

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// Why a window could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("window {text:?}: {reason}")]
pub struct WindowError {
    /// The text as written.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

/// When a window recurs.
#[derive(Debug, Clone, PartialEq)]
pub enum Recurrence {
    /// Every day.
    Daily,
    /// Every week on this day (the start's day for windows that cross midnight).
    Weekly(Weekday),
    /// Once, on this date (the start's date).
    Once(Date),
}

/// A sync window: from `start` to `end` (civil times in `zone`), recurring.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Recurrence.
    pub recurrence: Recurrence,
    /// Opening time.
    pub start: Time,
    /// Closing time; before `start` means the window crosses midnight.
    pub end: Time,
    /// The time zone the times are in.
    pub zone: TimeZone,
}

fn err(text: &str, reason: impl Into<String>) -> WindowError {
    WindowError { text: text.to_string(), reason: reason.into() }
}

fn parse_span(text: &str, span: &str) -> Result<(Time, Time), WindowError> {
    let (a, b) = span.split_once('-').ok_or_else(|| err(text, "expected HH:MM-HH:MM"))?;
    let t = |s: &str| -> Result<Time, WindowError> {
        Time::strptime("%H:%M", s.trim()).map_err(|_| err(text, format!("{:?} is not a time (HH:MM)", s.trim())))
    };
    let (start, end) = (t(a)?, t(b)?);
    if start == end {
        return Err(err(text, "a window must not be empty"));
    }
    Ok((start, end))
}

fn zone(text: &str, name: &str) -> Result<TimeZone, WindowError> {
    TimeZone::get(name).map_err(|_| err(text, format!("unknown time zone {name:?} (use names like Africa/Nairobi)")))
}

impl Window {
    /// A daily window, `"18:00-19:00"`, in the named zone.
    pub fn daily(span: &str, zone_name: &str) -> Result<Window, WindowError> {
        let (start, end) = parse_span(span, span)?;
        Ok(Window { recurrence: Recurrence::Daily, start, end, zone: zone(span, zone_name)? })
    }

    /// A weekly window, `"sat 09:00-12:00"`, in the named zone.
    pub fn weekly(text: &str, zone_name: &str) -> Result<Window, WindowError> {
        let (day, span) = text.trim().split_once(' ').ok_or_else(|| err(text, "expected e.g. \"sat 09:00-12:00\""))?;
        let weekday = match day.to_ascii_lowercase().get(..3) {
            Some("mon") => Weekday::Monday,
            Some("tue") => Weekday::Tuesday,
            Some("wed") => Weekday::Wednesday,
            Some("thu") => Weekday::Thursday,
            Some("fri") => Weekday::Friday,
            Some("sat") => Weekday::Saturday,
            Some("sun") => Weekday::Sunday,
            _ => return Err(err(text, format!("{day:?} is not a day of the week"))),
        };
        let (start, end) = parse_span(text, span)?;
        Ok(Window { recurrence: Recurrence::Weekly(weekday), start, end, zone: zone(text, zone_name)? })
    }

    /// A one-off window, `"2026-12-01 10:00-12:00"`, in the named zone.
    pub fn once(text: &str, zone_name: &str) -> Result<Window, WindowError> {
        let (date, span) =
            text.trim().split_once(' ').ok_or_else(|| err(text, "expected e.g. \"2026-12-01 10:00-12:00\""))?;
        let date: Date = date.parse().map_err(|_| err(text, format!("{date:?} is not a date (YYYY-MM-DD)")))?;
        let (start, end) = parse_span(text, span)?;
        Ok(Window { recurrence: Recurrence::Once(date), start, end, zone: zone(text, zone_name)? })
    }

    /// The openings (start, end as Unix ms) of this window around `now_ms`: on the
    /// civil dates from two days before to eight days after, in order.
    fn openings(&self, now_ms: u64) -> Vec<(u64, u64)> {
        let Ok(now) = Timestamp::from_millisecond(now_ms as i64) else { return Vec::new() };
        let today = now.to_zoned(self.zone.clone()).date();
        let mut out = Vec::new();
        // A one-off window has one date, however far; recurring ones open within a week.
        let dates: Vec<Date> = match &self.recurrence {
            Recurrence::Once(d) => vec![*d],
            _ => (-2i64..=8).filter_map(|o| today.checked_add(jiff::Span::new().days(o)).ok()).collect(),
        };
        for date in dates {
            let wanted = match &self.recurrence {
                Recurrence::Daily => true,
                Recurrence::Weekly(d) => date.weekday() == *d,
                Recurrence::Once(d) => date == *d,
            };
            if !wanted {
                continue;
            }
            let end_date = if self.end <= self.start { date.tomorrow().unwrap_or(date) } else { date };
            let at = |d: Date, t: Time| -> Option<u64> {
                let z: Zoned = DateTime::from_parts(d, t).to_zoned(self.zone.clone()).ok()?;
                u64::try_from(z.timestamp().as_millisecond()).ok()
            };
            if let (Some(s), Some(e)) = (at(date, self.start), at(end_date, self.end)) {
                out.push((s, e));
            }
        }
        out
    }

    /// Whether `now_ms` is inside the window.
    pub fn contains(&self, now_ms: u64) -> bool {
        self.openings(now_ms).iter().any(|&(s, e)| s <= now_ms && now_ms < e)
    }

    /// The next opening after `now_ms` (or the current one's start if inside), as Unix
    /// ms; `None` for a one-off window that is over.
    pub fn next_open(&self, now_ms: u64) -> Option<u64> {
        self.openings(now_ms).into_iter().find(|&(_, e)| e > now_ms).map(|(s, _)| s)
    }
}

/// Whether any of `windows` is open at `now_ms`. No windows means always open.
pub fn open(windows: &[Window], now_ms: u64) -> bool {
    windows.is_empty() || windows.iter().any(|w| w.contains(now_ms))
}

/// A clock running `scale` times faster than the one it reads, from `origin_ms` (both
/// Unix ms): testnets compress a day of windows into minutes.
pub fn scaled(origin_ms: u64, real_now_ms: u64, scale: f64) -> u64 {
    let elapsed = real_now_ms.saturating_sub(origin_ms) as f64 * scale.max(0.0);
    origin_ms.saturating_add(elapsed as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> u64 {
        let z: Zoned = s.parse().unwrap();
        z.timestamp().as_millisecond() as u64
    }

    #[test]
    fn daily_window_in_a_named_zone() {
        let w = Window::daily("18:00-19:00", "Africa/Nairobi").unwrap();
        assert!(w.contains(ms("2026-11-23T18:30+03:00[Africa/Nairobi]")));
        assert!(!w.contains(ms("2026-11-23T19:00+03:00[Africa/Nairobi]")));
        assert!(!w.contains(ms("2026-11-23T18:30+00:00[UTC]")));
        assert_eq!(
            w.next_open(ms("2026-11-23T20:00+03:00[Africa/Nairobi]")),
            Some(ms("2026-11-24T18:00+03:00[Africa/Nairobi]"))
        );
    }

    #[test]
    fn windows_across_midnight_and_daylight_saving() {
        let w = Window::daily("22:00-02:00", "Europe/Paris").unwrap();
        assert!(w.contains(ms("2026-03-29T01:30+01:00[Europe/Paris]")));
        assert!(w.contains(ms("2026-03-28T23:00+01:00[Europe/Paris]")));
        assert!(!w.contains(ms("2026-03-29T03:30+02:00[Europe/Paris]")));
        // Summer time: 18:00 Paris is 16:00 UTC.
        let d = Window::daily("18:00-19:00", "Europe/Paris").unwrap();
        assert!(d.contains(ms("2026-07-01T16:30+00:00[UTC]")));
    }

    #[test]
    fn weekly_and_one_off() {
        let w = Window::weekly("sat 09:00-12:00", "UTC").unwrap();
        assert!(w.contains(ms("2026-11-28T10:00+00:00[UTC]")));
        assert!(!w.contains(ms("2026-11-27T10:00+00:00[UTC]")));
        let o = Window::once("2026-12-01 10:00-12:00", "UTC").unwrap();
        assert!(o.contains(ms("2026-12-01T11:00+00:00[UTC]")));
        assert_eq!(o.next_open(ms("2026-12-02T11:00+00:00[UTC]")), None);
        let far = Window::once("2099-01-01 18:00-19:00", "UTC").unwrap();
        assert_eq!(far.next_open(ms("2026-12-02T11:00+00:00[UTC]")), Some(ms("2099-01-01T18:00+00:00[UTC]")));
    }

    #[test]
    fn bad_windows_say_what_is_wrong() {
        let e = Window::daily("18:00", "UTC").unwrap_err();
        assert!(e.to_string().contains("HH:MM-HH:MM"), "{e}");
        let e = Window::daily("18:00-25:00", "UTC").unwrap_err();
        assert!(e.to_string().contains("25:00"), "{e}");
        let e = Window::daily("18:00-19:00", "Mars/Olympus").unwrap_err();
        assert!(e.to_string().contains("Mars/Olympus"), "{e}");
        let e = Window::weekly("someday 09:00-10:00", "UTC").unwrap_err();
        assert!(e.to_string().contains("someday"), "{e}");
    }

    #[test]
    fn no_windows_means_always_and_scaled_clocks_run_fast() {
        assert!(open(&[], 0));
        assert_eq!(scaled(1000, 2000, 60.0), 61_000);
    }
}
