//! Maintenance windows: weekly time ranges in a fixed UTC offset, e.g. `sat,sun 01:00-05:00 +01:00`.
//!
//! Pure arithmetic on [`Timestamp`] seconds (no time-zone database: offsets are fixed, so a
//! tenant that observes daylight saving writes two configs or a wider window).

use std::fmt;

use serde::{Deserialize, Deserializer};

use fleetward_sdk::wire::{DAY, MINUTE, Timestamp};

/// A day of the week, `mon` ... `sun`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    /// Monday.
    Mon,
    /// Tuesday.
    Tue,
    /// Wednesday.
    Wed,
    /// Thursday.
    Thu,
    /// Friday.
    Fri,
    /// Saturday.
    Sat,
    /// Sunday.
    Sun,
}

impl Day {
    fn index(self) -> u8 {
        self as u8
    }

    fn name(self) -> &'static str {
        ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][self as usize]
    }
}

/// A time of day `HH:MM` (`24:00` allowed as an end), stored as minutes since midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeOfDay(pub u32);

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_hhmm(&s)
            .filter(|m| *m <= 24 * 60)
            .map(TimeOfDay)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid time {s:?}: expected HH:MM")))
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// A fixed offset from UTC: `Z`, `+HH:MM` or `-HH:MM`, stored in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UtcOffset(pub i64);

impl<'de> Deserialize<'de> for UtcOffset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let err = || {
            serde::de::Error::custom(format!(
                "invalid UTC offset {s:?}: expected Z, +HH:MM or -HH:MM"
            ))
        };
        if s == "Z" {
            return Ok(UtcOffset(0));
        }
        let (sign, rest) = match s.as_bytes().first() {
            Some(b'+') => (1, &s[1..]),
            Some(b'-') => (-1, &s[1..]),
            _ => return Err(err()),
        };
        let minutes = parse_hhmm(rest).filter(|m| *m <= 18 * 60).ok_or_else(err)?;
        Ok(UtcOffset(sign * i64::from(minutes) * MINUTE))
    }
}

impl fmt::Display for UtcOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("UTC");
        }
        let sign = if self.0 < 0 { '-' } else { '+' };
        let m = self.0.abs() / MINUTE;
        write!(f, "UTC{sign}{:02}:{:02}", m / 60, m % 60)
    }
}

fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60).then_some(h * 60 + m)
}

/// A weekly window. `end` before `start` wraps past midnight (the day is the start's day).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Days the window opens on.
    pub days: Vec<Day>,
    /// Opening time, local to `utc_offset`.
    pub start: TimeOfDay,
    /// Closing time, local to `utc_offset`.
    pub end: TimeOfDay,
    /// The offset `start` and `end` are in. Default `Z`.
    #[serde(default)]
    pub utc_offset: UtcOffset,
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days: Vec<_> = self.days.iter().map(|d| d.name()).collect();
        write!(
            f,
            "{} {}-{} {}",
            days.join(","),
            self.start,
            self.end,
            self.utc_offset
        )
    }
}

impl Window {
    /// Length in seconds (wrapping windows span midnight).
    fn length(&self) -> i64 {
        let (s, e) = (i64::from(self.start.0), i64::from(self.end.0));
        (if e > s { e - s } else { e + 24 * 60 - s }) * MINUTE
    }

    /// The opening of this window on the local day starting at local midnight `day_start`
    /// (seconds, local), if it opens that day, in UTC.
    fn opening_on(&self, local_midnight: i64) -> Option<i64> {
        let weekday = Timestamp(local_midnight).weekday();
        self.days
            .iter()
            .any(|d| d.index() == weekday)
            .then(|| local_midnight + i64::from(self.start.0) * MINUTE - self.utc_offset.0)
    }

    /// Whether the window is open at `now`.
    pub fn is_open(&self, now: Timestamp) -> bool {
        let local_midnight = (now.0 + self.utc_offset.0).div_euclid(DAY) * DAY;
        // An opening today or yesterday (for windows that wrap) may still be running.
        [local_midnight - DAY, local_midnight]
            .into_iter()
            .filter_map(|m| self.opening_on(m))
            .any(|open| open <= now.0 && now.0 < open + self.length())
    }

    /// The next opening strictly after `now` (within the coming eight days).
    pub fn next_opening(&self, now: Timestamp) -> Option<Timestamp> {
        let local_midnight = (now.0 + self.utc_offset.0).div_euclid(DAY) * DAY;
        (0..=8)
            .filter_map(|d| self.opening_on(local_midnight + d * DAY))
            .find(|open| *open > now.0)
            .map(Timestamp)
    }
}

/// Whether any of `windows` is open (an empty list means "always").
pub fn any_open(windows: &[Window], now: Timestamp) -> bool {
    windows.is_empty() || windows.iter().any(|w| w.is_open(now))
}

/// The earliest next opening among `windows`.
pub fn next_opening(windows: &[Window], now: Timestamp) -> Option<Timestamp> {
    windows.iter().filter_map(|w| w.next_opening(now)).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(json: &str) -> Window {
        serde_json::from_str(json).unwrap()
    }

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn weekend_window_in_utc() {
        let w = window(r#"{"days": ["sat", "sun"], "start": "01:00", "end": "05:00"}"#);
        // 2026-11-25 is a Wednesday; the next Saturday is the 28th.
        assert!(!w.is_open(t("2026-11-25T17:00:00Z")));
        assert_eq!(
            w.next_opening(t("2026-11-25T17:00:00Z")),
            Some(t("2026-11-28T01:00:00Z"))
        );
        assert!(w.is_open(t("2026-11-28T01:00:00Z")));
        assert!(w.is_open(t("2026-11-29T04:59:59Z")));
        assert!(!w.is_open(t("2026-11-29T05:00:00Z")));
        assert_eq!(
            w.next_opening(t("2026-11-28T02:00:00Z")),
            Some(t("2026-11-29T01:00:00Z"))
        );
        assert_eq!(w.to_string(), "Sat,Sun 01:00-05:00 UTC");
    }

    #[test]
    fn offsets_and_wrapping_windows() {
        // Friday 22:00 to Saturday 02:00 in UTC+02:00 = Friday 20:00 to Saturday 00:00 UTC.
        let w = window(
            r#"{"days": ["fri"], "start": "22:00", "end": "02:00", "utc_offset": "+02:00"}"#,
        );
        assert!(!w.is_open(t("2026-11-27T19:59:59Z")));
        assert!(w.is_open(t("2026-11-27T20:00:00Z")));
        assert!(w.is_open(t("2026-11-27T23:59:59Z")));
        assert!(!w.is_open(t("2026-11-28T00:00:00Z")));
        assert_eq!(
            w.next_opening(t("2026-11-25T00:00:00Z")),
            Some(t("2026-11-27T20:00:00Z"))
        );
        assert_eq!(w.to_string(), "Fri 22:00-02:00 UTC+02:00");
    }

    #[test]
    fn rejects_bad_times_and_offsets() {
        for bad in [
            r#"{"days": ["sat"], "start": "25:00", "end": "05:00"}"#,
            r#"{"days": ["sat"], "start": "1:00", "end": "05:00"}"#,
            r#"{"days": ["sat"], "start": "01:00", "end": "05:00", "utc_offset": "+2"}"#,
            r#"{"days": ["saturday"], "start": "01:00", "end": "05:00"}"#,
        ] {
            assert!(serde_json::from_str::<Window>(bad).is_err(), "{bad}");
        }
    }
}
