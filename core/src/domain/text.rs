//! Checks on user-entered values shared by every action: trimmed, non-empty, bounded text; bounded
//! lists; coordinates; calendar dates.

use crate::domain::error::{DomainError, Invalid, Result};
use serde::{Deserialize, Serialize};

/// Limits on text, in characters (not bytes: Chinese text is three bytes a character in UTF-8).
pub const SHORT: usize = 100;
pub const MEDIUM: usize = 500;
pub const LONG: usize = 4000;

/// Trims `value`; fails if it is empty or longer than `max` characters.
pub fn required(field: &'static str, value: &str, max: usize) -> Result<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(DomainError::invalid(field, Invalid::Empty));
    }
    bounded(field, v, max)
}

/// Trims `value`; fails only if it is longer than `max` characters. Empty is allowed.
pub fn optional(field: &'static str, value: &str, max: usize) -> Result<String> {
    bounded(field, value.trim(), max)
}

fn bounded(field: &'static str, v: &str, max: usize) -> Result<String> {
    if v.chars().count() > max {
        return Err(DomainError::invalid(field, Invalid::TooLong { max }));
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(DomainError::invalid(field, Invalid::Format { expected: "text without control characters" }));
    }
    Ok(v.to_owned())
}

/// Validates each entry of a list with `required`, bounds the list's length and drops duplicates.
pub fn list(field: &'static str, values: &[String], max_items: usize, max_len: usize) -> Result<Vec<String>> {
    if values.len() > max_items {
        return Err(DomainError::invalid(field, Invalid::TooMany { max: max_items }));
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for v in values {
        let v = required(field, v, max_len)?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(out)
}

/// A position measured by the phone (WGS-84), with its accuracy radius in metres.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: f64,
    /// The phone said the position came from a mock-location provider (Android's
    /// `Location.isMock`, iOS's `sourceInformation.isSimulatedBySoftware`): kept, and shown to
    /// managers as such.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mock: bool,
}

impl Location {
    /// Distance to `other` in metres along the earth's surface (haversine, mean radius).
    pub fn distance_m(&self, other: &Location) -> f64 {
        const R: f64 = 6_371_008.8;
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let (dp, dl) = (p2 - p1, (other.lon - self.lon).to_radians());
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * R * a.sqrt().atan2((1.0 - a).sqrt())
    }
}

impl Location {
    pub fn validate(self) -> Result<Self> {
        range_f("location.lat", self.lat, -90.0, 90.0)?;
        range_f("location.lon", self.lon, -180.0, 180.0)?;
        range_f("location.accuracy", self.accuracy_m, 0.0, 100_000.0)?;
        Ok(self)
    }
}

fn range_f(field: &'static str, v: f64, min: f64, max: f64) -> Result<()> {
    if v.is_finite() && (min..=max).contains(&v) {
        Ok(())
    } else {
        Err(DomainError::invalid(field, Invalid::OutOfRangeF { min, max }))
    }
}

/// Checks `v` lies in `min..=max`.
pub fn range(field: &'static str, v: i64, min: i64, max: i64) -> Result<()> {
    if (min..=max).contains(&v) { Ok(()) } else { Err(DomainError::invalid(field, Invalid::OutOfRange { min, max })) }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day number since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Parses `YYYY-MM-DD` into a day number, checking that the day exists (years 2000 to 2100: the
/// days of the campaign's records).
pub fn parse_date(field: &'static str, s: &str) -> Result<i64> {
    parse_date_in(field, s, 2000..=2100)
}

/// Parses `YYYY-MM-DD` of a year in `years` into a day number, checking that the day exists.
pub fn parse_date_in(field: &'static str, s: &str, years: std::ops::RangeInclusive<i64>) -> Result<i64> {
    let bad = || DomainError::invalid(field, Invalid::Format { expected: "YYYY-MM-DD" });
    let b = s.trim().as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64> {
        std::str::from_utf8(&b[r])
            .ok()
            .filter(|t| t.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|t| t.parse().ok())
            .ok_or_else(bad)
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !years.contains(&y) || !(1..=12).contains(&m) || d < 1 {
        return Err(bad());
    }
    let days = days_from_civil(y, m as u32, d as u32);
    if civil_from_days(days) != (y, m as u32, d as u32) {
        return Err(bad());
    }
    Ok(days)
}

/// `YYYY-MM-DD` of a moment in milliseconds since the epoch, in China Standard Time (UTC+8).
pub fn date_of(ms: i64) -> String {
    let (y, m, d) = civil_from_days((ms + 8 * 3_600_000).div_euclid(86_400_000));
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_reject_impossible_days() {
        assert_eq!(parse_date("d", "1970-01-01").ok(), None, "years before 2000 are refused");
        let d = parse_date("d", "2024-02-29").unwrap();
        assert_eq!(civil_from_days(d), (2024, 2, 29));
        assert!(parse_date("d", "2023-02-29").is_err());
        assert!(parse_date("d", "2023-13-01").is_err());
        assert!(parse_date("d", "2023-1-01").is_err());
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(16 * 3_600_000), "1970-01-02");
    }

    #[test]
    fn text_limits_count_characters() {
        assert_eq!(required("name", "  测试  ", 2).unwrap(), "测试");
        assert!(required("name", "测试企业", 3).is_err());
        assert!(required("name", "   ", 3).is_err());
        assert!(optional("note", "a\u{0}b", 10).is_err());
        assert_eq!(list("tags", &["a".into(), "a".into()], 5, 5).unwrap(), vec!["a"]);
    }

    #[test]
    fn locations_are_bounded() {
        assert!(Location { lat: 34.7, lon: 113.6, accuracy_m: 10.0, mock: false }.validate().is_ok());
        assert!(Location { lat: 91.0, lon: 113.6, accuracy_m: 10.0, mock: false }.validate().is_err());
        assert!(Location { lat: 34.0, lon: -181.0, accuracy_m: 10.0, mock: false }.validate().is_err());
        assert!(Location { lat: f64::NAN, lon: 1.0, accuracy_m: 1.0, mock: false }.validate().is_err());
        assert!(Location { lat: 1.0, lon: 1.0, accuracy_m: -1.0, mock: false }.validate().is_err());
        // Zhengzhou to Kaifeng: about 64 km.
        let zhengzhou = Location { lat: 34.7466, lon: 113.6253, accuracy_m: 0.0, mock: false };
        let kaifeng = Location { lat: 34.7971, lon: 114.3076, accuracy_m: 0.0, mock: false };
        assert!((62_000.0..64_000.0).contains(&zhengzhou.distance_m(&kaifeng)), "{}", zhengzhou.distance_m(&kaifeng));
        assert_eq!(zhengzhou.distance_m(&zhengzhou), 0.0);
    }
}
