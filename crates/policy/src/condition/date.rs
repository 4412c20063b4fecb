//! Date operators: `DateEquals`, `DateNotEquals`, `DateLessThan`,
//! `DateLessThanEquals`, `DateGreaterThan`, `DateGreaterThanEquals`.
//! Values are W3C ISO 8601 dates (`2026-06-01`, `2026-06-01T12:00:00Z`,
//! with fractions and offsets) or epoch seconds.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Date>

use crate::document::OpKind;

const NANOS: i128 = 1_000_000_000;

pub(super) fn any(kind: OpKind, ds: &[Option<i128>], r: Option<i128>) -> bool {
    let Some(r) = r else {
        return false;
    };
    ds.iter().flatten().any(|&p| match kind {
        OpKind::DateEquals | OpKind::DateNotEquals => r == p,
        OpKind::DateLessThan => r < p,
        OpKind::DateLessThanEquals => r <= p,
        OpKind::DateGreaterThan => r > p,
        OpKind::DateGreaterThanEquals => r >= p,
        _ => false,
    })
}

/// Days from 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn num(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parse a date or epoch value into nanoseconds since the epoch.
pub fn parse_date(v: &str) -> Option<i128> {
    let v = v.trim();
    // Epoch seconds (optionally with a fraction).
    let unsigned = v.strip_prefix('-').unwrap_or(v);
    let is_epoch = !unsigned.is_empty()
        && unsigned.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && unsigned.bytes().filter(|&b| b == b'.').count() <= 1;
    if is_epoch {
        let f: f64 = v.parse().ok()?;
        if !f.is_finite() || f.abs() > 1e15 {
            return None;
        }
        #[expect(clippy::cast_possible_truncation, reason = "bounded above")]
        return Some((f * 1e9) as i128);
    }
    let (date, time) = match v.find(['T', 't', ' ']) {
        Some(i) => (v.get(..i)?, Some(v.get(i + 1..)?)),
        None => (v, None),
    };
    let mut dp = date.split('-');
    let y = num(dp.next()?)?;
    let mo = dp.next().map_or(Some(1), num)?;
    let d = dp.next().map_or(Some(1), num)?;
    if dp.next().is_some() || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = days_from_civil(y, mo, d) * 86_400;
    let mut nanos: i128 = 0;
    if let Some(t) = time {
        // Split off the zone.
        let (clock, zone) = if let Some(stripped) = t.strip_suffix(['Z', 'z']) {
            (stripped, 0i64)
        } else if let Some(i) = t.rfind(['+', '-']) {
            let z = t.get(i..)?;
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let zz = z.get(1..)?;
            let (zh, zm) = match zz.len() {
                2 => (num(zz)?, 0),
                4 => (num(zz.get(..2)?)?, num(zz.get(2..)?)?),
                5 if zz.as_bytes().get(2) == Some(&b':') => {
                    (num(zz.get(..2)?)?, num(zz.get(3..)?)?)
                }
                _ => return None,
            };
            (t.get(..i)?, sign * (zh * 3600 + zm * 60))
        } else {
            (t, 0)
        };
        let mut cp = clock.split(':');
        let h = num(cp.next()?)?;
        let mi = cp.next().map_or(Some(0), num)?;
        let (s, frac) = match cp.next() {
            Some(sf) => match sf.split_once(['.', ',']) {
                Some((s, f)) => (num(s)?, f),
                None => (num(sf)?, ""),
            },
            None => (0, ""),
        };
        if cp.next().is_some() || h > 24 || mi > 59 || s > 60 {
            return None;
        }
        if !frac.is_empty() {
            if !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // Nanoseconds from the first nine digits, right-padded with zeros.
            let mut n: i128 = 0;
            for i in 0..9 {
                n = n * 10 + i128::from(frac.as_bytes().get(i).map_or(0, |d| d - b'0'));
            }
            nanos = n;
        }
        secs += h * 3600 + mi * 60 + s - zone;
    }
    Some(i128::from(secs) * NANOS + nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let base = parse_date("2026-06-01T12:00:00Z").unwrap();
        assert_eq!(base, 1_780_315_200 * NANOS);
        assert_eq!(parse_date("2026-06-01T14:00:00+02:00"), Some(base));
        assert_eq!(parse_date("2026-06-01T12:00:00.5Z"), Some(base + NANOS / 2));
        assert_eq!(parse_date("2026-06-01"), Some(base - 12 * 3600 * NANOS));
        assert_eq!(parse_date("1780315200"), Some(base));
        assert_eq!(parse_date("2026-13-01"), None);
        assert_eq!(parse_date("yesterday"), None);
    }
}
