//! Lenient `format` checks. The real server validates many formats through a registry; the
//! emulator checks only the ones whose violations a Fleetward test could plausibly rely on
//! (`date-time`, `date`, `uuid`) and accepts every other format unchecked.

/// Whether `value` is acceptable for `format`. Unknown formats are always accepted.
pub(super) fn conforms(format: &str, value: &str) -> bool {
    match format {
        "date-time" | "datetime" => is_date_time(value),
        "date" => is_date(value.as_bytes()),
        "uuid" => is_uuid(value),
        _ => true,
    }
}

fn digits(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(u8::is_ascii_digit)
}

fn two_digit(b: &[u8], max: u8) -> bool {
    digits(b) && b.len() == 2 && (b[0] - b'0') * 10 + (b[1] - b'0') <= max
}

/// `YYYY-MM-DD`.
fn is_date(b: &[u8]) -> bool {
    b.len() == 10
        && digits(&b[0..4])
        && b[4] == b'-'
        && two_digit(&b[5..7], 12)
        && b[7] == b'-'
        && two_digit(&b[8..10], 31)
        && &b[5..7] != b"00"
        && &b[8..10] != b"00"
}

/// RFC 3339: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, `t`/`z` and a space separator accepted.
fn is_date_time(value: &str) -> bool {
    let b = value.as_bytes();
    if b.len() < 20 || !is_date(&b[..10]) || !matches!(b[10], b'T' | b't' | b' ') {
        return false;
    }
    let time = &b[11..];
    if !(two_digit(&time[0..2], 23)
        && time[2] == b':'
        && two_digit(&time[3..5], 59)
        && time[5] == b':'
        && two_digit(&time[6..8], 60))
    {
        return false;
    }
    let mut rest = &time[8..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            two_digit(&[*h1, *h2], 23) && two_digit(&[*m1, *m2], 59)
        }
        _ => false,
    }
}

/// `8-4-4-4-12` hexadecimal digits.
fn is_uuid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_time() {
        for ok in [
            "2026-01-05T00:00:00Z",
            "2026-01-05T10:20:30.123456+02:00",
            "2026-12-31t23:59:60z",
        ] {
            assert!(conforms("date-time", ok), "{ok}");
        }
        for bad in [
            "2026-01-05",
            "yesterday",
            "2026-13-05T00:00:00Z",
            "2026-01-05T24:00:00Z",
            "2026-01-05T00:00:00",
            "2026-01-05T00:00:00.Z",
            "2026-01-05T00:00:00+2:00",
        ] {
            assert!(!conforms("date-time", bad), "{bad}");
        }
    }

    #[test]
    fn date_uuid_and_unknown_formats() {
        assert!(conforms("date", "2026-01-05"));
        assert!(!conforms("date", "2026-1-5"));
        assert!(!conforms("date", "2026-00-05"));
        assert!(conforms("uuid", "123e4567-e89b-12d3-a456-426614174000"));
        assert!(!conforms("uuid", "123e4567"));
        assert!(conforms("hostname", "anything goes"));
        assert!(conforms("int32", "x"));
    }
}
