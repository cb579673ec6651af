//! Days and times as the managers read them: in China Standard Time (UTC+8, no daylight saving),
//! whatever the relay machine's own zone. Periods are `[from, to)` in milliseconds since the epoch.

use zhuqi_core::domain::text::date_of;

/// One day, in milliseconds.
pub const DAY: i64 = 86_400_000;
/// China Standard Time's offset from UTC, in milliseconds.
pub const CST: i64 = 8 * 3_600_000;

/// 00:00 China Standard Time of a day number (days since 1970-01-01).
pub fn day_start(day: i64) -> i64 {
    day * DAY - CST
}

/// The day number of an instant, in China Standard Time.
pub fn day_of(ms: i64) -> i64 {
    (ms + CST).div_euclid(DAY)
}

/// `YYYY-MM-DD hh:mm:ss` of an instant.
pub fn time_of(ms: i64) -> String {
    let s = (ms + CST).div_euclid(1000).rem_euclid(86_400);
    format!("{} {:02}:{:02}:{:02}", date_of(ms), s / 3600, s / 60 % 60, s % 60)
}
