//! Human-friendly durations for configuration and the command line: `500ms`, `30s`, `5m`, `1h`, `7d`, or
//! a bare number of seconds.

use std::time::Duration;

/// Parses `500ms`, `30s`, `5m`, `2h`, `7d` or a bare integer (seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: expected a number with an optional unit ms, s, m, h or d, such as 30s"))?;
    let seconds = match unit.trim() {
        "" | "s" => Some(value),
        "ms" => return Ok(Duration::from_millis(value)),
        "us" => return Ok(Duration::from_micros(value)),
        "m" => value.checked_mul(60),
        "h" => value.checked_mul(3600),
        "d" => value.checked_mul(86_400),
        other => {
            return Err(format!(
                "invalid duration {text:?}: unknown unit {other:?} (use us, ms, s, m, h or d)"
            ));
        }
    };
    seconds
        .map(Duration::from_secs)
        .ok_or_else(|| format!("invalid duration {text:?}: too long"))
}

/// Serde support: accepts a string such as `30s` or a bare integer number of seconds.
pub mod serde_duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        match Raw::deserialize(deserializer)? {
            Raw::Seconds(seconds) => Ok(Duration::from_secs(seconds)),
            Raw::Text(text) => super::parse_duration(&text).map_err(serde::de::Error::custom),
        }
    }
}

/// Serde support for an optional duration (`group_wait: 10s`, or left out).
pub mod serde_duration_opt {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super::serde_duration")] Duration);
        Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(duration)| duration))
    }
}

/// A list of durations (`[1h, 24h]`).
pub mod serde_durations {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super::serde_duration")] Duration);
        Ok(Vec::<Wrapped>::deserialize(deserializer)?
            .into_iter()
            .map(|Wrapped(duration)| duration)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_bare_seconds() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
    }

    #[test]
    fn rejects_unknown_units_with_a_hint() {
        let error = parse_duration("3 days").unwrap_err();
        assert!(error.contains("unknown unit"), "{error}");
        assert!(parse_duration("fast").is_err());
    }

    /// Found by fuzzing: `700000000000000007d` overflowed (a panic in debug builds).
    #[test]
    fn rejects_a_duration_too_long_to_count() {
        let error = parse_duration("700000000000000007d").unwrap_err();
        assert!(error.contains("too long"), "{error}");
        assert_eq!(
            parse_duration("18446744073709551615s"),
            Ok(Duration::from_secs(u64::MAX))
        );
    }
}
