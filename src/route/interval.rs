//! Recurring time intervals (`time_intervals:`), Alertmanager's semantics: a time is in a named
//! interval when it is in any of its entries; an entry holds when every field it sets holds, in
//! its `location`'s time zone (UTC by default).
//!
//! As in Alertmanager: `times` compare the local hour and minute (start inclusive, end
//! exclusive, `24:00` the end of the day); `weekdays` run from sunday (0) to saturday (6), so a
//! range cannot wrap (`saturday:sunday` is refused: list both days instead); `days_of_month`
//! count from the end when negative (`-1` is the last day) and a range is clamped to the month's
//! length (`1:31` is every day of February; a range that starts after the month's last day, such
//! as `31` in April, holds on no day of that month).
//!
//! [`TimeInterval::next_change`] looks for the first instant after a time at which the answer
//! flips. The answer depends only on the local date and minute, so it can change only where the
//! local clock reaches a day's start, the start or end of a `times` range, or jumps (a time
//! zone transition). Those instants are computed day by day (both occurrences of a repeated
//! local time at the end of summer time; the transition itself when a local time is skipped),
//! and `contains` is asked at each, in order: the result is exact to the minute and right
//! across DST.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::config::{TimeIntervalConfig, TimeIntervalSpec};

/// How far [`TimeInterval::next_change`] looks: about a year and a half, enough for a yearly
/// interval and its end.
const HORIZON_DAYS: i64 = 560;

/// One named interval, compiled.
#[derive(Debug, Clone)]
pub struct TimeInterval {
    pub name: String,
    entries: Vec<Entry>,
}

/// One entry of `time_intervals:`: an empty list holds always.
#[derive(Debug, Clone)]
struct Entry {
    /// Minutes of the day, `[start, end)`.
    times: Vec<(u16, u16)>,
    /// Sunday = 0, inclusive.
    weekdays: Vec<(i8, i8)>,
    /// As written: negative counts from the end of the month, inclusive.
    days_of_month: Vec<(i8, i8)>,
    /// 1 to 12, inclusive.
    months: Vec<(i8, i8)>,
    /// Inclusive.
    years: Vec<(i16, i16)>,
    zone: TimeZone,
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

impl TimeInterval {
    /// Compiles a configured interval; every problem in words, each with its place inside the
    /// interval (`time_intervals[0].weekdays[1]: ...`).
    pub fn compile(config: &TimeIntervalConfig) -> Result<TimeInterval, Vec<String>> {
        let mut errors = Vec::new();
        if config.name.trim().is_empty() {
            errors.push("name: must not be empty".to_owned());
        }
        let mut entries = Vec::with_capacity(config.time_intervals.len());
        for (index, spec) in config.time_intervals.iter().enumerate() {
            let place = format!("time_intervals[{index}]");
            if let Some(entry) = Entry::compile(spec, &place, &mut errors) {
                entries.push(entry);
            }
        }
        if errors.is_empty() {
            Ok(TimeInterval {
                name: config.name.clone(),
                entries,
            })
        } else {
            Err(errors)
        }
    }

    /// Whether `at` is inside the interval.
    pub fn contains(&self, at: Timestamp) -> bool {
        self.entries.iter().any(|entry| entry.contains(at))
    }

    /// The first instant after `after` at which `contains` changes, if any within about a year
    /// and a half.
    pub fn next_change(&self, after: Timestamp) -> Option<Timestamp> {
        let inside = self.contains(after);
        // Week by week in absolute time; each entry's candidates come from the local days that
        // may overlap the week (two days of margin each side cover any UTC offset).
        const WEEK: i64 = 7;
        let mut candidates = Vec::new();
        for week in 0..HORIZON_DAYS / WEEK {
            let from = after
                .checked_add(SignedDuration::from_hours(24 * WEEK * week))
                .ok()?;
            let to = from
                .checked_add(SignedDuration::from_hours(24 * WEEK))
                .ok()?;
            candidates.clear();
            for entry in &self.entries {
                let first = entry.zone.to_datetime(from).date();
                for offset in -2..WEEK + 2 {
                    let Ok(day) = first.checked_add(jiff::Span::new().days(offset)) else {
                        continue;
                    };
                    entry.day_candidates(day, &mut candidates);
                }
            }
            candidates
                .retain(|&candidate| candidate > after && candidate >= from && candidate < to);
            candidates.sort_unstable();
            candidates.dedup();
            if let Some(&change) = candidates
                .iter()
                .find(|&&candidate| self.contains(candidate) != inside)
            {
                return Some(change);
            }
        }
        None
    }
}

impl Entry {
    fn compile(spec: &TimeIntervalSpec, place: &str, errors: &mut Vec<String>) -> Option<Entry> {
        let before = errors.len();
        let mut times = Vec::with_capacity(spec.times.len());
        for (index, range) in spec.times.iter().enumerate() {
            let at = format!("{place}.times[{index}]");
            let start = parse_time(&range.start_time);
            let end = parse_time(&range.end_time);
            match (start, end) {
                (Ok(start), Ok(end)) if start < end => times.push((start, end)),
                (Ok(_), Ok(_)) => errors.push(format!(
                    "{at}: start_time {:?} must be before end_time {:?} (a range over midnight is two ranges: 22:00 to 24:00 and 00:00 to 06:00)",
                    range.start_time, range.end_time
                )),
                (start, end) => {
                    for message in [start.err(), end.err()].into_iter().flatten() {
                        errors.push(format!("{at}: {message}"));
                    }
                }
            }
        }
        let weekdays = ranges(
            &spec.weekdays,
            &format!("{place}.weekdays"),
            errors,
            |text| {
                name_index(text, &WEEKDAYS)
                    .map(|day| day as i8)
                    .ok_or_else(|| {
                        format!("{text:?} is not a weekday (sunday, monday, ..., saturday)")
                    })
            },
        );
        let months = ranges(&spec.months, &format!("{place}.months"), errors, |text| {
            if let Some(month) = name_index(text, &MONTHS) {
                return Ok(month as i8 + 1);
            }
            match text.parse::<i8>() {
                Ok(month @ 1..=12) => Ok(month),
                _ => Err(format!(
                    "{text:?} is not a month (january to december, or 1 to 12)"
                )),
            }
        });
        let years = ranges(
            &spec.years,
            &format!("{place}.years"),
            errors,
            |text| match text.parse::<i16>() {
                Ok(year @ 1..=9999) => Ok(year),
                _ => Err(format!("{text:?} is not a year (such as 2026)")),
            },
        );
        let days_of_month = days_of_month(
            &spec.days_of_month,
            &format!("{place}.days_of_month"),
            errors,
        );
        let location = spec.location.as_deref().unwrap_or("UTC");
        let zone = match TimeZone::get(location) {
            Ok(zone) => Some(zone),
            Err(err) => {
                errors.push(format!(
                    "{place}.location: {location:?} is not a known IANA time zone (such as Europe/Paris or America/New_York): {err}"
                ));
                None
            }
        };
        if errors.len() > before {
            return None;
        }
        Some(Entry {
            times,
            weekdays,
            days_of_month,
            months,
            years,
            zone: zone?,
        })
    }

    fn contains(&self, at: Timestamp) -> bool {
        self.contains_local(self.zone.to_datetime(at))
    }

    fn contains_local(&self, local: DateTime) -> bool {
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        let weekday = local.weekday().to_sunday_zero_offset();
        (self.times.is_empty()
            || self
                .times
                .iter()
                .any(|&(start, end)| minute >= start && minute < end))
            && (self.weekdays.is_empty()
                || self
                    .weekdays
                    .iter()
                    .any(|&(first, last)| weekday >= first && weekday <= last))
            && (self.days_of_month.is_empty() || self.day_of_month_holds(local.date()))
            && (self.months.is_empty()
                || self
                    .months
                    .iter()
                    .any(|&(first, last)| local.month() >= first && local.month() <= last))
            && (self.years.is_empty()
                || self
                    .years
                    .iter()
                    .any(|&(first, last)| local.year() >= first && local.year() <= last))
    }

    /// Alertmanager's rule: negative days count from the month's end; a range whose start is
    /// past the month's last day holds on no day; otherwise both ends are clamped to the month.
    fn day_of_month_holds(&self, date: Date) -> bool {
        let length = date.days_in_month();
        let day = date.day();
        self.days_of_month.iter().any(|&(first, last)| {
            let resolve = |day: i8| if day < 0 { length + day + 1 } else { day };
            let begin = resolve(first);
            let end = resolve(last);
            if begin > length {
                return false;
            }
            let begin = begin.clamp(-length, length);
            let end = end.clamp(-length, length);
            day >= begin && day <= end
        })
    }

    /// Pushes the instants of local day `day` at which this entry's answer may change: the
    /// day's start, each start and end of `times` (both occurrences of a repeated local time),
    /// and the zone's transitions during the day.
    fn day_candidates(&self, day: Date, out: &mut Vec<Timestamp>) {
        let Ok(start) = self.zone.to_ambiguous_timestamp(day.at(0, 0, 0, 0)).later() else {
            return;
        };
        out.push(start);
        // A skipped midnight: the day starts at the transition (found below).
        for &(first, last) in &self.times {
            for minute in [first, last] {
                let time = if minute >= 24 * 60 {
                    match day.tomorrow() {
                        Ok(next) => next.at(0, 0, 0, 0),
                        Err(_) => continue,
                    }
                } else {
                    day.at((minute / 60) as i8, (minute % 60) as i8, 0, 0)
                };
                let ambiguous = self.zone.to_ambiguous_timestamp(time);
                out.extend(ambiguous.earlier().ok());
                out.extend(ambiguous.later().ok());
            }
        }
        let Ok(end) = start.checked_add(SignedDuration::from_hours(30)) else {
            return;
        };
        let Ok(before_start) = start.checked_sub(SignedDuration::from_hours(6)) else {
            return;
        };
        out.extend(
            self.zone
                .following(before_start)
                .map(|transition| transition.timestamp())
                .take_while(|&at| at < end),
        );
    }
}

/// `HH:MM` from `00:00` to `24:00`, as minutes of the day.
fn parse_time(text: &str) -> Result<u16, String> {
    let invalid = || format!("{text:?} is not a time of day written HH:MM (00:00 to 24:00)");
    let (hours, minutes) = text.split_once(':').ok_or_else(invalid)?;
    if hours.len() != 2 || minutes.len() != 2 {
        return Err(invalid());
    }
    let hours: u16 = hours.parse().map_err(|_| invalid())?;
    let minutes: u16 = minutes.parse().map_err(|_| invalid())?;
    match (hours, minutes) {
        (24, 0) => Ok(24 * 60),
        (0..=23, 0..=59) => Ok(hours * 60 + minutes),
        _ => Err(invalid()),
    }
}

/// The index of `text` (any case) in `names`.
fn name_index(text: &str, names: &[&str]) -> Option<usize> {
    names
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text.trim()))
}

/// Each `first:last` or single value, parsed by `parse`; a range whose start is after its end
/// is an error.
fn ranges<T: PartialOrd + Copy>(
    texts: &[String],
    place: &str,
    errors: &mut Vec<String>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Vec<(T, T)> {
    let mut parsed = Vec::with_capacity(texts.len());
    for (index, text) in texts.iter().enumerate() {
        let at = format!("{place}[{index}]");
        let (first, last) = text.split_once(':').unwrap_or((text, text));
        match (parse(first.trim()), parse(last.trim())) {
            (Ok(first), Ok(last)) if first <= last => parsed.push((first, last)),
            (Ok(_), Ok(_)) => errors.push(format!(
                "{at}: {text:?} starts after it ends (a range cannot wrap around: list its two parts)"
            )),
            (first, last) => {
                let mut messages: Vec<String> = [first.err(), last.err()].into_iter().flatten().collect();
                messages.dedup();
                for message in messages {
                    errors.push(format!("{at}: {message}"));
                }
            }
        }
    }
    parsed
}

/// `days_of_month`: 1 to 31 or -31 to -1 (from the end), single or `first:last`. A range from
/// a positive to a negative day (`1:-1`, the whole month) is allowed; from a negative to a
/// positive one is not (its meaning would change with the month's length).
fn days_of_month(texts: &[String], place: &str, errors: &mut Vec<String>) -> Vec<(i8, i8)> {
    let mut parsed = Vec::with_capacity(texts.len());
    for (index, text) in texts.iter().enumerate() {
        let at = format!("{place}[{index}]");
        let parse = |part: &str| match part.trim().parse::<i8>() {
            Ok(day @ (1..=31 | -31..=-1)) => Ok(day),
            _ => Err(format!(
                "{part:?} is not a day of the month (1 to 31, or -31 to -1 counting from the end)"
            )),
        };
        let (first, last) = text.split_once(':').unwrap_or((text, text));
        match (parse(first), parse(last)) {
            (Ok(first), Ok(last)) => {
                if first < 0 && last > 0 {
                    errors.push(format!(
                        "{at}: {text:?} goes from a day counted from the end to one counted from the start; write both the same way"
                    ));
                } else if (first < 0) == (last < 0) && first > last {
                    errors.push(format!("{at}: {text:?} starts after it ends"));
                } else {
                    parsed.push((first, last));
                }
            }
            (first, last) => {
                let mut messages: Vec<String> =
                    [first.err(), last.err()].into_iter().flatten().collect();
                messages.dedup();
                for message in messages {
                    errors.push(format!("{at}: {message}"));
                }
            }
        }
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(yaml: &str) -> TimeInterval {
        TimeInterval::compile(&config(yaml)).unwrap()
    }

    fn config(yaml: &str) -> TimeIntervalConfig {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn errors(yaml: &str) -> String {
        TimeInterval::compile(&config(yaml)).unwrap_err().join("\n")
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    /// Every change of `interval` from `from` on, `count` of them.
    fn changes(interval: &TimeInterval, from: &str, count: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut now = at(from);
        for _ in 0..count {
            match interval.next_change(now) {
                Some(next) => {
                    out.push(next.to_string());
                    now = next;
                }
                None => break,
            }
        }
        out
    }

    const PARIS_BUSINESS_HOURS: &str = "
name: business-hours
time_intervals:
  - weekdays: ['monday:friday']
    times: [{start_time: '09:00', end_time: '17:00'}]
    location: Europe/Paris
";

    #[test]
    fn business_hours_in_paris_follow_the_local_clock_across_the_dst_change() {
        let hours = interval(PARIS_BUSINESS_HOURS);
        // Friday 2026-03-27, winter time (UTC+1): 09:00 local is 08:00 UTC.
        assert!(!hours.contains(at("2026-03-27T07:59:59Z")));
        assert!(hours.contains(at("2026-03-27T08:00:00Z")));
        assert!(hours.contains(at("2026-03-27T15:59:59Z")));
        assert!(!hours.contains(at("2026-03-27T16:00:00Z")));
        // Summer time starts on Sunday 2026-03-29; Monday 09:00 local is 07:00 UTC.
        assert!(!hours.contains(at("2026-03-30T06:59:00Z")));
        assert!(hours.contains(at("2026-03-30T07:00:00Z")));
        assert!(!hours.contains(at("2026-03-30T15:00:00Z")));
        assert_eq!(
            changes(&hours, "2026-03-27T12:00:00Z", 3),
            [
                "2026-03-27T16:00:00Z",
                "2026-03-30T07:00:00Z",
                "2026-03-30T15:00:00Z"
            ]
        );
    }

    #[test]
    fn an_interval_in_the_skipped_or_repeated_hour_changes_at_the_right_instants() {
        let night = interval(
            "
name: night
time_intervals:
  - times: [{start_time: '02:15', end_time: '02:45'}]
    location: Europe/Paris
",
        );
        // 2026-03-29: 02:00 to 03:00 local does not exist; the interval never holds that day.
        assert_eq!(
            changes(&night, "2026-03-28T12:00:00Z", 2),
            ["2026-03-30T00:15:00Z", "2026-03-30T00:45:00Z"]
        );
        // 2026-10-25: 02:00 to 03:00 local happens twice (UTC+2, then UTC+1): so does the
        // interval.
        assert_eq!(
            changes(&night, "2026-10-24T12:00:00Z", 4),
            [
                "2026-10-25T00:15:00Z",
                "2026-10-25T00:45:00Z",
                "2026-10-25T01:15:00Z",
                "2026-10-25T01:45:00Z"
            ]
        );
    }

    #[test]
    fn weekends_are_whole_days_in_their_zone() {
        let weekend = interval(
            "
name: weekend
time_intervals:
  - weekdays: [saturday, sunday]
    location: America/New_York
",
        );
        // Saturday 2026-12-12 00:00 in New York is 05:00 UTC.
        assert!(!weekend.contains(at("2026-12-12T04:59:59Z")));
        assert!(weekend.contains(at("2026-12-12T05:00:00Z")));
        assert!(weekend.contains(at("2026-12-14T04:59:59Z")));
        assert!(!weekend.contains(at("2026-12-14T05:00:00Z")));
        assert_eq!(
            changes(&weekend, "2026-12-09T00:00:00Z", 2),
            ["2026-12-12T05:00:00Z", "2026-12-14T05:00:00Z"]
        );
    }

    #[test]
    fn the_last_day_of_the_month_follows_the_months_length() {
        let last = interval(
            "
name: month-end
time_intervals:
  - days_of_month: ['-1']
",
        );
        assert!(last.contains(at("2026-02-28T12:00:00Z")));
        assert!(!last.contains(at("2026-02-27T12:00:00Z")));
        assert!(last.contains(at("2028-02-29T12:00:00Z")));
        assert!(!last.contains(at("2028-02-28T12:00:00Z")));
        assert!(last.contains(at("2026-04-30T00:00:00Z")));
        assert!(!last.contains(at("2026-05-30T00:00:00Z")));
        assert_eq!(
            changes(&last, "2026-02-01T00:00:00Z", 3),
            [
                "2026-02-28T00:00:00Z",
                "2026-03-01T00:00:00Z",
                "2026-03-31T00:00:00Z"
            ]
        );
    }

    #[test]
    fn days_past_the_months_end_clamp_as_in_alertmanager() {
        let ranges = interval(
            "
name: clamped
time_intervals:
  - days_of_month: ['29:31']
  - days_of_month: ['-3:-1']
    months: [april]
",
        );
        // February 2026 has 28 days: 29:31 starts past its end and holds on none of them.
        assert!(!ranges.contains(at("2026-02-28T12:00:00Z")));
        assert!(ranges.contains(at("2026-01-29T12:00:00Z")));
        assert!(ranges.contains(at("2026-04-30T12:00:00Z")));
        // -3:-1 in April (30 days) is 28 to 30.
        assert!(ranges.contains(at("2026-04-28T00:00:00Z")));
        assert!(!ranges.contains(at("2026-05-28T00:00:00Z")));
        // A whole month written 1:-1.
        let whole =
            interval("name: m\ntime_intervals:\n  - days_of_month: ['1:-1']\n    months: ['2']\n");
        assert!(whole.contains(at("2026-02-01T00:00:00Z")));
        assert!(whole.contains(at("2026-02-28T23:59:00Z")));
        assert!(!whole.contains(at("2026-03-01T00:00:00Z")));
    }

    #[test]
    fn month_and_year_ranges_take_names_and_numbers() {
        let quarter = interval(
            "
name: freeze
time_intervals:
  - months: ['november:december', '1']
    years: ['2026:2027']
",
        );
        assert!(!quarter.contains(at("2026-10-31T23:59:59Z")));
        assert!(quarter.contains(at("2026-11-01T00:00:00Z")));
        assert!(quarter.contains(at("2027-01-31T23:59:59Z")));
        assert!(!quarter.contains(at("2027-02-01T00:00:00Z")));
        assert!(!quarter.contains(at("2028-01-15T00:00:00Z")));
        assert_eq!(
            changes(&quarter, "2026-06-01T00:00:00Z", 3),
            [
                "2026-11-01T00:00:00Z",
                "2027-02-01T00:00:00Z",
                "2027-11-01T00:00:00Z"
            ]
        );
        // After 2027 the interval never holds again: no change within the horizon.
        assert_eq!(quarter.next_change(at("2028-02-01T00:00:00Z")), None);
    }

    #[test]
    fn an_end_of_24_00_runs_to_midnight_and_adjacent_days_make_one_stretch() {
        let evening = interval(
            "
name: evening
time_intervals:
  - times: [{start_time: '22:00', end_time: '24:00'}, {start_time: '00:00', end_time: '06:00'}]
    weekdays: ['monday:friday']
",
        );
        assert!(evening.contains(at("2026-12-07T23:59:59Z")));
        assert!(evening.contains(at("2026-12-08T00:00:00Z")));
        // A weekday night runs into the next weekday morning without a change at midnight.
        assert_eq!(
            changes(&evening, "2026-12-07T12:00:00Z", 3),
            [
                "2026-12-07T22:00:00Z",
                "2026-12-08T06:00:00Z",
                "2026-12-08T22:00:00Z"
            ]
        );
        // Friday's night ends at midnight: Saturday is not one of the weekdays.
        assert_eq!(
            changes(&evening, "2026-12-11T12:00:00Z", 3),
            [
                "2026-12-11T22:00:00Z",
                "2026-12-12T00:00:00Z",
                "2026-12-14T00:00:00Z"
            ]
        );
    }

    #[test]
    fn next_change_is_exact_to_the_minute_and_strictly_after() {
        let hours = interval(PARIS_BUSINESS_HOURS);
        // Exactly at a change, the next one is the following change.
        assert_eq!(
            hours.next_change(at("2026-03-27T08:00:00Z")),
            Some(at("2026-03-27T16:00:00Z"))
        );
        // Half a minute before the end: the end, to the second.
        assert_eq!(
            hours.next_change(at("2026-03-27T15:59:30Z")),
            Some(at("2026-03-27T16:00:00Z"))
        );
        // Checked minute by minute over the DST weekend: every change is found, no other.
        let mut now = at("2026-03-27T00:00:00Z");
        let end = at("2026-03-31T00:00:00Z");
        while now < end {
            let next = hours.next_change(now).unwrap();
            let mut probe = now.checked_add(SignedDuration::from_mins(1)).unwrap();
            while probe < next {
                assert_eq!(hours.contains(probe), hours.contains(now), "{probe}");
                probe = probe.checked_add(SignedDuration::from_mins(1)).unwrap();
            }
            assert_ne!(hours.contains(next), hours.contains(now), "{next}");
            now = next;
        }
    }

    #[test]
    fn an_interval_that_always_or_never_holds_never_changes() {
        let always = interval("name: always\ntime_intervals:\n  - {}\n");
        assert!(always.contains(at("2026-01-01T00:00:00Z")));
        assert_eq!(always.next_change(at("2026-01-01T00:00:00Z")), None);
        let never = interval("name: never\ntime_intervals: []\n");
        assert!(!never.contains(at("2026-01-01T00:00:00Z")));
        assert_eq!(never.next_change(at("2026-01-01T00:00:00Z")), None);
    }

    #[test]
    fn configuration_mistakes_are_reported_with_their_place() {
        let text = errors(
            "
name: broken
time_intervals:
  - times: [{start_time: '9:00', end_time: '17:00'}, {start_time: '18:00', end_time: '08:00'}, {start_time: '00:00', end_time: '24:01'}]
    weekdays: ['saturday:sunday', 'funday']
    days_of_month: ['0', '-3:2', '5:1']
    months: ['13', 'march:january']
    years: ['next']
    location: Mars/Olympus
",
        );
        for expected in [
            "time_intervals[0].times[0]: \"9:00\" is not a time of day",
            "time_intervals[0].times[1]: start_time \"18:00\" must be before end_time \"08:00\"",
            "time_intervals[0].times[2]: \"24:01\" is not a time of day",
            "time_intervals[0].weekdays[0]: \"saturday:sunday\" starts after it ends",
            "time_intervals[0].weekdays[1]: \"funday\" is not a weekday",
            "time_intervals[0].days_of_month[0]: \"0\" is not a day of the month",
            "time_intervals[0].days_of_month[1]: \"-3:2\" goes from a day counted from the end",
            "time_intervals[0].days_of_month[2]: \"5:1\" starts after it ends",
            "time_intervals[0].months[0]: \"13\" is not a month",
            "time_intervals[0].months[1]: \"march:january\" starts after it ends",
            "time_intervals[0].years[0]: \"next\" is not a year",
            "time_intervals[0].location: \"Mars/Olympus\" is not a known IANA time zone",
        ] {
            assert!(text.contains(expected), "{expected}\nnot in\n{text}");
        }
        assert_eq!(text.lines().count(), 12, "{text}");
    }
}
