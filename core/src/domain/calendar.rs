//! Working days and the campaign offices' own settings: the holiday calendar (法定节假日 and the
//! make-up working days of 调休) that the relay holds and every device receives with the directory,
//! and each office's choices — how many days an enterprise has to answer a resolution before the
//! office may close it as 超时未确认, and whether the deadlines it sets count working days.
//!
//! Days are China Standard Time (UTC+8) days; a deadline of N days ends at 23:59:59.999 of the Nth
//! (working) day after the day it is set on. A day is a working day when the calendar says so, else
//! when it is Monday to Friday.

use super::directory::DirectoryLookup;
use super::error::{DomainError, Invalid, Result};
use super::problem::ANSWER_DAYS;
use super::text::{civil_from_days, parse_date};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

const DAY_MS: i64 = 86_400_000;
/// China Standard Time's offset from UTC, in milliseconds.
const CST_MS: i64 = 8 * 3_600_000;

/// The answer windows an office may choose: from the default (`problem::ANSWER_DAYS`, 15 days) up
/// to a quarter. Never shorter than the default: versions that know no settings judge every closing
/// by 15 days, and a closing they found too early would fold differently on their phones.
pub const ANSWER_DAYS_RANGE: std::ops::RangeInclusive<u32> = ANSWER_DAYS..=90;
/// The longest deadline that can be counted in days (a year).
pub const MAX_DEADLINE_DAYS: u32 = 366;

/// One day of the holiday calendar: a holiday (`working = false`, e.g. 国庆节) or a make-up working
/// day on a weekend (`working = true`, 调休上班). Days not listed follow the week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarDay {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub working: bool,
    /// What the day is, as the State Council's notice names it (国庆节, 春节调休...).
    #[serde(default)]
    pub name: String,
}

impl CalendarDay {
    /// Checks the date and the name (at most 32 characters).
    pub fn validate(self) -> Result<CalendarDay> {
        parse_date("calendar.date", &self.date)?;
        let name = super::text::optional("calendar.name", &self.name, 32)?;
        Ok(CalendarDay { date: self.date.trim().to_owned(), name, ..self })
    }
}

/// A campaign office's settings, for its region and every region below that has none of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficeSettings {
    pub region_id: String,
    /// Days the enterprise has to confirm or reject a resolution (within [`ANSWER_DAYS_RANGE`]).
    pub answer_days: u32,
    /// Whether deadlines set in days count working days rather than calendar days.
    pub working_days: bool,
}

impl OfficeSettings {
    /// The settings in force where no office set any.
    pub fn default_for(region_id: &str) -> OfficeSettings {
        OfficeSettings { region_id: region_id.to_owned(), answer_days: ANSWER_DAYS, working_days: false }
    }

    pub fn validate(self) -> Result<OfficeSettings> {
        let (min, max) = ANSWER_DAYS_RANGE.into_inner();
        super::text::range("settings.answer_days", self.answer_days.into(), min.into(), max.into())?;
        Ok(self)
    }

    /// The settings in force at the region whose path (from the province down) is `region_path`:
    /// those of the nearest region on the path that has any, else the defaults.
    pub fn in_force(dir: &dyn DirectoryLookup, region_path: &str) -> OfficeSettings {
        region_path
            .rsplit('/')
            .find_map(|id| dir.office_settings(id))
            .unwrap_or_else(|| OfficeSettings::default_for(region_path.rsplit('/').next().unwrap_or_default()))
    }
}

/// The holiday calendar, ready to count working days.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    /// Day number (days since 1970-01-01) → working or not, for the listed days.
    days: HashMap<i64, bool>,
}

impl Calendar {
    /// The calendar of these days; entries with a bad date are skipped (the relay checks them when
    /// they are imported).
    pub fn new<'a>(days: impl IntoIterator<Item = &'a CalendarDay>) -> Calendar {
        Calendar {
            days: days
                .into_iter()
                .filter_map(|d| Some((parse_date("calendar.date", &d.date).ok()?, d.working)))
                .collect(),
        }
    }

    /// The day number (days since 1970-01-01) of an instant, in China Standard Time.
    pub fn day_of(ms: i64) -> i64 {
        (ms + CST_MS).div_euclid(DAY_MS)
    }

    /// Whether a day (a day number) is a working day.
    pub fn is_working(&self, day: i64) -> bool {
        self.days.get(&day).copied().unwrap_or_else(|| {
            // 1970-01-01 was a Thursday: 0 is Monday.
            (day + 3).rem_euclid(7) < 5
        })
    }

    /// The deadline `days` days after the instant `from`: the last millisecond of the `days`th day
    /// after `from`'s own day — of the `days`th working day when `working` is set.
    pub fn deadline(&self, from: i64, days: u32, working: bool) -> Result<i64> {
        if !(1..=MAX_DEADLINE_DAYS).contains(&days) {
            let max = MAX_DEADLINE_DAYS.into();
            return Err(DomainError::invalid("deadline_days", Invalid::OutOfRange { min: 1, max }));
        }
        let mut day = Calendar::day_of(from);
        let mut left = days;
        while left > 0 {
            day += 1;
            if !working || self.is_working(day) {
                left -= 1;
            }
        }
        Ok((day + 1) * DAY_MS - CST_MS - 1)
    }

    /// The calendar's listed days of a year, for showing.
    pub fn listed_in(&self, year: i64) -> usize {
        self.days.keys().filter(|d| civil_from_days(**d).0 == year).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(date: &str, working: bool) -> CalendarDay {
        CalendarDay { date: date.into(), working, name: String::new() }
    }

    fn at(date: &str, hour: i64) -> i64 {
        parse_date("d", date).unwrap() * DAY_MS - CST_MS + hour * 3_600_000
    }

    #[test]
    fn calendar_days_count_every_day_and_working_days_skip_weekends_and_holidays() {
        // A National Day holiday from Thursday 10-01 to 10-08, with make-up working days (调休) on
        // Sunday 09-27 and Saturday 10-10.
        let mut days: Vec<CalendarDay> = (1..=8).map(|d| day(&format!("2026-10-{d:02}"), false)).collect();
        days.push(day("2026-09-27", true));
        days.push(day("2026-10-10", true));
        let cal = Calendar::new(&days);
        let end_of = |date: &str| at(date, 24) - 1;

        // Calendar days: Friday 09-25 10:00 + 3 days ends Monday 09-28.
        assert_eq!(cal.deadline(at("2026-09-25", 10), 3, false).unwrap(), end_of("2026-09-28"));
        // Working days from Friday 09-25: Sunday 09-27 works (调休), Monday 09-28, Tuesday 09-29.
        assert_eq!(cal.deadline(at("2026-09-25", 10), 3, true).unwrap(), end_of("2026-09-29"));
        // From Wednesday 09-30: the whole holiday is skipped; Friday 10-09 and Saturday 10-10 (调休).
        assert_eq!(cal.deadline(at("2026-09-30", 23), 2, true).unwrap(), end_of("2026-10-10"));
        // Without a calendar, only weekends are skipped.
        let plain = Calendar::default();
        assert_eq!(plain.deadline(at("2026-09-30", 9), 2, true).unwrap(), end_of("2026-10-02"));
        assert_eq!(plain.deadline(at("2026-10-02", 9), 1, true).unwrap(), end_of("2026-10-05"));
        // A moment late in the evening China time is still that day (UTC is 8 hours behind).
        assert_eq!(cal.deadline(at("2026-09-25", 23), 1, false).unwrap(), end_of("2026-09-26"));

        assert!(cal.deadline(0, 0, true).is_err());
        assert!(cal.deadline(0, MAX_DEADLINE_DAYS + 1, false).is_err());
        assert_eq!(cal.listed_in(2026), 10);
        assert_eq!(cal.listed_in(2025), 0);
    }

    #[test]
    fn bad_calendar_days_and_settings_are_refused() {
        assert!(day("2026-02-30", false).validate().is_err());
        assert!(day("2026/10/01", false).validate().is_err());
        assert!(CalendarDay { name: "节".repeat(33), ..day("2026-10-01", false) }.validate().is_err());
        assert!(OfficeSettings { answer_days: 14, ..OfficeSettings::default_for("410000") }.validate().is_err());
        assert!(OfficeSettings { answer_days: 91, ..OfficeSettings::default_for("410000") }.validate().is_err());
        assert!(OfficeSettings { answer_days: 30, ..OfficeSettings::default_for("410000") }.validate().is_ok());
    }

    #[test]
    fn the_nearest_office_with_settings_decides() {
        struct Dir(Vec<OfficeSettings>);
        impl DirectoryLookup for Dir {
            fn region_path(&self, _: &str) -> Option<String> {
                None
            }
            fn department(&self, _: &str) -> Option<crate::domain::Department> {
                None
            }
            fn user(&self, _: &str) -> Option<crate::domain::User> {
                None
            }
            fn office_settings(&self, region_id: &str) -> Option<OfficeSettings> {
                self.0.iter().find(|s| s.region_id == region_id).cloned()
            }
        }
        let city = OfficeSettings { region_id: "410100".into(), answer_days: 30, working_days: true };
        let county = OfficeSettings { region_id: "410102".into(), answer_days: 20, working_days: false };
        let dir = Dir(vec![city.clone(), county.clone()]);
        assert_eq!(OfficeSettings::in_force(&dir, "410000/410100/410102"), county);
        assert_eq!(OfficeSettings::in_force(&dir, "410000/410100/410103"), city);
        assert_eq!(OfficeSettings::in_force(&dir, "410000/410200"), OfficeSettings::default_for("410200"));
    }
}
