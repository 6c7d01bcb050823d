//! Time as the domain sees it: instants in epoch milliseconds and durations parsed from
//! short human forms such as `72h`, `30m`, `3d`, `1w` or `1h30m`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An instant, in milliseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// Parses an RFC 3339 instant such as `2026-01-02T03:04:05Z` or `…+02:00`.
    pub fn parse_rfc3339(text: &str) -> Result<Self, TimeError> {
        let ts: jiff::Timestamp = text.parse().map_err(|e: jiff::Error| TimeError::Instant {
            text: text.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self(ts.as_millisecond()))
    }

    /// The instant in RFC 3339 form, UTC, millisecond precision when needed.
    pub fn to_rfc3339(self) -> String {
        match jiff::Timestamp::from_millisecond(self.0) {
            Ok(ts) => ts.to_string(),
            Err(_) => format!("@{}ms", self.0),
        }
    }

    /// This instant moved forward by `d` (saturating).
    pub fn plus(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d.0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// A length of time in milliseconds, never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Duration(pub i64);

/// Why a time or a duration could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("`{text}` is not an RFC 3339 time ({reason}); write e.g. 2026-01-31T09:00:00Z")]
    Instant { text: String, reason: String },
    #[error("`{text}` is not a duration; write a number and a unit (s, m, h, d, w), e.g. 72h, 30m, 3d or 1h30m")]
    Duration { text: String },
}

impl Duration {
    pub const SECOND: Duration = Duration(1_000);
    pub const MINUTE: Duration = Duration(60_000);
    pub const HOUR: Duration = Duration(3_600_000);
    pub const DAY: Duration = Duration(86_400_000);

    /// Milliseconds.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// Parses `72h`, `30m`, `3d`, `1w`, `90s`, `1h30m`, `1d 12h` (units s, m, h, d, w;
    /// the whole must be positive and below 100 years).
    pub fn parse(text: &str) -> Result<Self, TimeError> {
        let err = || TimeError::Duration {
            text: text.to_owned(),
        };
        let mut total: i64 = 0;
        let mut number: Option<i64> = None;
        let mut n_parts = 0;
        for c in text.trim().chars() {
            if let Some(digit) = c.to_digit(10) {
                let n = number.unwrap_or(0);
                number = Some(
                    n.checked_mul(10)
                        .and_then(|n| n.checked_add(i64::from(digit)))
                        .ok_or_else(err)?,
                );
                continue;
            }
            if c.is_whitespace() && number.is_none() {
                continue;
            }
            let unit = match c {
                's' => Duration::SECOND.0,
                'm' => Duration::MINUTE.0,
                'h' => Duration::HOUR.0,
                'd' => Duration::DAY.0,
                'w' => 7 * Duration::DAY.0,
                _ => return Err(err()),
            };
            let n = number.take().ok_or_else(err)?;
            total = n
                .checked_mul(unit)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(err)?;
            n_parts += 1;
        }
        if number.is_some() || n_parts == 0 || total <= 0 || total > 100 * 365 * Duration::DAY.0 {
            return Err(err());
        }
        Ok(Duration(total))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        let mut wrote = false;
        for (unit, name) in [
            (Duration::DAY.0, "d"),
            (Duration::HOUR.0, "h"),
            (Duration::MINUTE.0, "m"),
            (Duration::SECOND.0, "s"),
        ] {
            if rest >= unit {
                write!(f, "{}{}", rest / unit, name)?;
                rest %= unit;
                wrote = true;
            }
        }
        if rest > 0 || !wrote {
            write!(f, "{rest}ms")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Duration {
    type Err = TimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Duration::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit_and_combination() {
        assert_eq!(Duration::parse("72h"), Ok(Duration(72 * 3_600_000)));
        assert_eq!(Duration::parse("30m"), Ok(Duration(30 * 60_000)));
        assert_eq!(Duration::parse("3d"), Ok(Duration(3 * 86_400_000)));
        assert_eq!(Duration::parse("1w"), Ok(Duration(7 * 86_400_000)));
        assert_eq!(Duration::parse("1h30m"), Ok(Duration(90 * 60_000)));
        assert_eq!(Duration::parse("1d 12h"), Ok(Duration(36 * 3_600_000)));
    }

    #[test]
    fn bad_durations_are_refused() {
        for bad in [
            "",
            "h",
            "72",
            "72x",
            "-1h",
            "0h",
            "1h 30",
            "99999999999999999999h",
        ] {
            assert!(Duration::parse(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn durations_print_in_the_form_they_parse_from() {
        for text in ["72h", "3d", "1d12h", "1h30m", "45s"] {
            let d = Duration::parse(text).expect("valid");
            let printed = d.to_string();
            assert_eq!(Duration::parse(&printed), Ok(d), "{text} -> {printed}");
        }
    }

    #[test]
    fn instants_round_trip_through_rfc3339() {
        let t = Timestamp::parse_rfc3339("2026-01-02T03:04:05Z").expect("valid");
        assert_eq!(t.to_rfc3339(), "2026-01-02T03:04:05Z");
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
    }
}
