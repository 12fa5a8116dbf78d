//! Tests of `route::interval`.

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
