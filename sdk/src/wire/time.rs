//! A dependency-free UTC timestamp with second precision.
//!
//! Policies compile to Wasm and must stay small and deterministic, so the wire format carries
//! time as RFC 3339 strings (`2026-11-25T17:00:00Z`) and this type converts them to and from
//! seconds since the Unix epoch without pulling in a calendar crate. Offsets other than `Z` are
//! accepted on input (`+02:00`) and normalised to UTC; fractional seconds are truncated.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, in whole seconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

/// Seconds in a minute, hour and day, for readable arithmetic in policies.
pub const MINUTE: i64 = 60;
/// Seconds in an hour.
pub const HOUR: i64 = 3600;
/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// Why a string is not an RFC 3339 timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimestampParseError(String);

impl fmt::Display for TimestampParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid RFC 3339 timestamp: {}", self.0)
    }
}

impl std::error::Error for TimestampParseError {}

impl Timestamp {
    /// Seconds since the Unix epoch.
    pub fn unix_seconds(self) -> i64 {
        self.0
    }

    /// Day of the week, 0 = Monday … 6 = Sunday (ISO 8601 numbering minus one).
    pub fn weekday(self) -> u8 {
        // 1970-01-01 was a Thursday (3 when Monday is 0).
        ((self.0.div_euclid(DAY) + 3).rem_euclid(7)) as u8
    }

    /// Seconds since midnight UTC.
    pub fn seconds_of_day(self) -> i64 {
        self.0.rem_euclid(DAY)
    }

    /// The civil date and time in UTC: (year, month 1-12, day 1-31, hour, minute, second).
    pub fn to_civil(self) -> (i64, u8, u8, u8, u8, u8) {
        let days = self.0.div_euclid(DAY);
        let secs = self.0.rem_euclid(DAY);
        let (y, m, d) = civil_from_days(days);
        (
            y,
            m,
            d,
            (secs / 3600) as u8,
            ((secs % 3600) / 60) as u8,
            (secs % 60) as u8,
        )
    }

    /// Builds a timestamp from a UTC civil date and time. Fields are not range-checked beyond
    /// what the arithmetic needs; use [`Timestamp::parse`] for untrusted input.
    pub fn from_civil(year: i64, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> Self {
        let days = days_from_civil(year, month, day);
        Timestamp(days * DAY + hour as i64 * HOUR + minute as i64 * MINUTE + second as i64)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
    ///
    /// # Errors
    /// Returns [`TimestampParseError`] naming the input when it is not of that form or a field is
    /// out of range.
    pub fn parse(s: &str) -> Result<Self, TimestampParseError> {
        let err = || TimestampParseError(s.to_string());
        let b = s.as_bytes();
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ')
            || b[13] != b':'
            || b[16] != b':'
        {
            return Err(err());
        }
        let num = |r: std::ops::Range<usize>| -> Result<i64, TimestampParseError> {
            let part = s.get(r).ok_or_else(err)?;
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err(err());
            }
            part.parse::<i64>().map_err(|_| err())
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month as u8) as i64
            || hour > 23
            || minute > 59
            || second > 60
        {
            return Err(err());
        }
        let mut rest = &s[19..];
        if let Some(frac) = rest.strip_prefix('.') {
            let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(err());
            }
            rest = &frac[digits..];
        }
        let offset = match rest {
            "Z" | "z" => 0,
            _ if rest.len() == 6
                && (rest.starts_with('+') || rest.starts_with('-'))
                && &rest[3..4] == ":" =>
            {
                let h = rest[1..3].parse::<i64>().map_err(|_| err())?;
                let m = rest[4..6].parse::<i64>().map_err(|_| err())?;
                if h > 23 || m > 59 {
                    return Err(err());
                }
                let sign = if rest.starts_with('-') { -1 } else { 1 };
                sign * (h * HOUR + m * MINUTE)
            }
            _ => return Err(err()),
        };
        let local = Timestamp::from_civil(
            year,
            month as u8,
            day as u8,
            hour as u8,
            minute as u8,
            second.min(59) as u8,
        );
        Ok(Timestamp(local.0 - offset))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d, h, mi, s) = self.to_civil();
        write!(f, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    }
}

impl std::str::FromStr for Timestamp {
    type Err = TimestampParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timestamp::parse(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        super::deserialize_parsed(deserializer, Timestamp::parse)
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days algorithms (public domain).
fn days_from_civil(y: i64, m: u8, d: u8) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_rfc3339() {
        for s in [
            "1970-01-01T00:00:00Z",
            "2026-11-25T17:03:09Z",
            "2000-02-29T23:59:59Z",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(Timestamp::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(Timestamp::parse("1970-01-01T00:00:00Z").unwrap().0, 0);
    }

    #[test]
    fn normalises_offsets_and_fractions() {
        let t = Timestamp::parse("2026-11-25T19:00:00.123+02:00").unwrap();
        assert_eq!(t.to_string(), "2026-11-25T17:00:00Z");
    }

    #[test]
    fn rejects_bad_input() {
        for s in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-25 17:00",
            "2026-11-25T17:00:00",
            "2026-11-25T17:00:00+2:00",
        ] {
            assert!(Timestamp::parse(s).is_err(), "{s} should be rejected");
        }
    }

    #[test]
    fn weekday_is_iso_minus_one() {
        // 2026-11-25 is a Wednesday.
        assert_eq!(
            Timestamp::parse("2026-11-25T10:00:00Z").unwrap().weekday(),
            2
        );
        assert_eq!(
            Timestamp::parse("2026-11-29T23:00:00Z").unwrap().weekday(),
            6
        );
    }
}
