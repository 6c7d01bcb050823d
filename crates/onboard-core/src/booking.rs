//! Self-serve kickoff booking: the slots a CSM's weekly hours ([`Availability`]) offer from
//! a given time, minus those already taken, and whether a slot asked for is one of them.
//! Pure: the caller gives the time (the engine's clock) and the slots taken (the store's).

use crate::program::Availability;
use crate::time::{Duration, Timestamp};

/// One call slot, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Slot {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Slot {
    fn overlaps(&self, other: &Slot) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// Weekday of a day counted from the Unix epoch (1970-01-01 was a Thursday): Monday 0.
fn weekday(epoch_day: i64) -> u8 {
    // In 0..7, so the cast cannot truncate.
    (epoch_day + 3).rem_euclid(7) as u8
}

/// Every slot the hours give from `now` on, in time order: each listed day from today (in
/// the member's local time) up to `days_ahead` days later, calls of `slot` from `from` until
/// `to`, starting no sooner than `notice` after `now`.
fn all(hours: &Availability, now: Timestamp) -> impl Iterator<Item = Slot> + '_ {
    let today = local_day(hours, now);
    let earliest = now.millis() + hours.notice.millis();
    let length = hours.slot.millis().max(Duration::MINUTE.millis());
    let from = i64::from(hours.from_minute) * Duration::MINUTE.millis();
    let to = i64::from(hours.to_minute) * Duration::MINUTE.millis();
    (today..=today + i64::from(hours.days_ahead))
        .filter(move |d| hours.days.contains(&weekday(*d)))
        .flat_map(move |d| {
            (0..)
                .map(move |i| from + i * length)
                .take_while(move |start| start + length <= to)
                .filter_map(move |start| {
                    let start = utc_of(hours, d, start)?;
                    Some(Slot {
                        start: Timestamp(start),
                        end: Timestamp(start + length),
                    })
                })
        })
        .filter(move |s| s.start.millis() >= earliest)
}

/// The member's local day of `now`, counted from the Unix epoch.
fn local_day(hours: &Availability, now: Timestamp) -> i64 {
    let day = Duration::DAY.millis();
    let offset = match &hours.time_zone {
        Some(zone) => jiff::Timestamp::from_millisecond(now.millis())
            .map(|t| i64::from(zone.tz.to_offset(t).seconds()) * 1_000)
            .unwrap_or(0),
        None => i64::from(hours.utc_offset_minutes) * Duration::MINUTE.millis(),
    };
    (now.millis() + offset).div_euclid(day)
}

/// The UTC instant (epoch milliseconds) of `local` milliseconds after midnight of the
/// member's local day `day`: by the fixed offset, or by the time zone's rules on that date
/// (a time the clocks skip is taken as after the change, as calendars do).
fn utc_of(hours: &Availability, day: i64, local: i64) -> Option<i64> {
    let Some(zone) = &hours.time_zone else {
        let offset = i64::from(hours.utc_offset_minutes) * Duration::MINUTE.millis();
        return Some(day * Duration::DAY.millis() + local - offset);
    };
    let wall = jiff::Timestamp::from_millisecond(day * Duration::DAY.millis() + local).ok()?;
    let civil = wall.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    let instant = zone.tz.to_ambiguous_timestamp(civil).compatible().ok()?;
    Some(instant.as_millisecond())
}

/// The next `limit` free slots from `now`: those the hours give, minus any overlapping a
/// slot in `taken`.
pub fn offered(hours: &Availability, now: Timestamp, taken: &[Slot], limit: usize) -> Vec<Slot> {
    all(hours, now)
        .filter(|s| !taken.iter().any(|t| t.overlaps(s)))
        .take(limit)
        .collect()
}

/// Whether `slot` is one the hours give at `now` (taken or not): a booking for any other
/// time, or one too soon or already past, is refused.
pub fn is_offered(hours: &Availability, now: Timestamp, slot: Slot) -> bool {
    all(hours, now)
        .take_while(|s| s.start <= slot.start)
        .any(|s| s == slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).expect("a valid time")
    }

    /// Monday to Thursday, 09:00 to 11:00 in UTC-5, half-hour calls, a week ahead, a day's
    /// notice.
    fn hours() -> Availability {
        Availability {
            days: vec![0, 1, 2, 3],
            from_minute: 9 * 60,
            to_minute: 11 * 60,
            utc_offset_minutes: -5 * 60,
            time_zone: None,
            slot: Duration(30 * 60_000),
            days_ahead: 7,
            notice: Duration::DAY,
        }
    }

    fn slot(start: &str, end: &str) -> Slot {
        Slot {
            start: at(start),
            end: at(end),
        }
    }

    #[test]
    fn slots_follow_the_weekly_hours_in_the_members_time_zone() {
        // Monday 5 January 2026, 09:00 UTC (04:00 in UTC-5): a day's notice leaves Tuesday.
        let free = offered(&hours(), at("2026-01-05T09:00:00Z"), &[], 6);
        assert_eq!(
            free,
            vec![
                slot("2026-01-06T14:00:00Z", "2026-01-06T14:30:00Z"),
                slot("2026-01-06T14:30:00Z", "2026-01-06T15:00:00Z"),
                slot("2026-01-06T15:00:00Z", "2026-01-06T15:30:00Z"),
                slot("2026-01-06T15:30:00Z", "2026-01-06T16:00:00Z"),
                slot("2026-01-07T14:00:00Z", "2026-01-07T14:30:00Z"),
                slot("2026-01-07T14:30:00Z", "2026-01-07T15:00:00Z"),
            ]
        );
    }

    #[test]
    fn days_off_and_days_beyond_the_horizon_offer_nothing() {
        let free = offered(&hours(), at("2026-01-05T09:00:00Z"), &[], 100);
        // Tue, Wed and Thu of the first week, then Mon 12th (7 days ahead of Mon 5th in
        // local time; Monday 5th itself is within the notice): four slots a day.
        assert_eq!(free.len(), 4 * 4);
        assert!(free.iter().all(|s| {
            let day = s.start.millis().div_euclid(Duration::DAY.millis());
            weekday(day) <= 3
        }));
        assert_eq!(free[free.len() - 1].start, at("2026-01-12T15:30:00Z"));
    }

    #[test]
    fn a_taken_slot_is_not_offered_again() {
        let now = at("2026-01-05T09:00:00Z");
        let taken = [slot("2026-01-06T14:00:00Z", "2026-01-06T14:30:00Z")];
        let free = offered(&hours(), now, &taken, 1);
        assert_eq!(
            free,
            vec![slot("2026-01-06T14:30:00Z", "2026-01-06T15:00:00Z")]
        );
    }

    #[test]
    fn only_a_slot_of_the_hours_far_enough_ahead_is_offered() {
        let now = at("2026-01-05T09:00:00Z");
        let good = slot("2026-01-07T15:00:00Z", "2026-01-07T15:30:00Z");
        assert!(is_offered(&hours(), now, good));
        for bad in [
            // Off the half-hour grid, too long, outside the hours, a Friday, too soon, past.
            slot("2026-01-07T15:10:00Z", "2026-01-07T15:40:00Z"),
            slot("2026-01-07T15:00:00Z", "2026-01-07T16:00:00Z"),
            slot("2026-01-07T20:00:00Z", "2026-01-07T20:30:00Z"),
            slot("2026-01-09T14:00:00Z", "2026-01-09T14:30:00Z"),
            slot("2026-01-05T14:00:00Z", "2026-01-05T14:30:00Z"),
            slot("2026-01-01T14:00:00Z", "2026-01-01T14:30:00Z"),
        ] {
            assert!(!is_offered(&hours(), now, bad), "{bad:?}");
        }
    }

    #[test]
    fn a_member_in_a_time_zone_keeps_their_local_hours_across_daylight_saving() {
        // New York moves from UTC-5 to UTC-4 on Sunday 8 March 2026.
        let zoned = Availability {
            days: vec![0, 1, 2, 3, 4],
            from_minute: 10 * 60,
            to_minute: 10 * 60 + 30,
            time_zone: crate::program::Zone::named("America/New_York"),
            ..hours()
        };
        assert!(
            zoned.time_zone.is_some(),
            "the compiled-in database knows New York"
        );
        let free = offered(&zoned, at("2026-03-04T12:00:00Z"), &[], 4);
        assert_eq!(
            free,
            vec![
                slot("2026-03-05T15:00:00Z", "2026-03-05T15:30:00Z"),
                slot("2026-03-06T15:00:00Z", "2026-03-06T15:30:00Z"),
                // 10:00 in New York is 14:00 UTC from the Monday after the change.
                slot("2026-03-09T14:00:00Z", "2026-03-09T14:30:00Z"),
                slot("2026-03-10T14:00:00Z", "2026-03-10T14:30:00Z"),
            ]
        );
        assert!(is_offered(&zoned, at("2026-03-04T12:00:00Z"), free[2]));
    }

    #[test]
    fn the_epoch_was_a_thursday() {
        assert_eq!(weekday(0), 3);
        assert_eq!(weekday(-1), 2);
    }
}
