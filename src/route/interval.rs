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
mod tests;
