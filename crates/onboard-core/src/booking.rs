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
    let day = Duration::DAY.millis();
    let offset = i64::from(hours.utc_offset_minutes) * Duration::MINUTE.millis();
    let today = (now.millis() + offset).div_euclid(day);
    let earliest = now.millis() + hours.notice.millis();
    let length = hours.slot.millis().max(Duration::MINUTE.millis());
    let from = i64::from(hours.from_minute) * Duration::MINUTE.millis();
    let to = i64::from(hours.to_minute) * Duration::MINUTE.millis();
    (today..=today + i64::from(hours.days_ahead))
        .filter(move |d| hours.days.contains(&weekday(*d)))
        .flat_map(move |d| {
            let midnight_utc = d * day - offset;
            (0..)
                .map(move |i| from + i * length)
                .take_while(move |start| start + length <= to)
                .map(move |start| Slot {
                    start: Timestamp(midnight_utc + start),
                    end: Timestamp(midnight_utc + start + length),
                })
        })
        .filter(move |s| s.start.millis() >= earliest)
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
    fn the_epoch_was_a_thursday() {
        assert_eq!(weekday(0), 3);
        assert_eq!(weekday(-1), 2);
    }
}
