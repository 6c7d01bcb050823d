//! The clock. Nothing in the engine reads the wall clock except [`SystemClock`]; tests and
//! `--clock manual` use a [`ManualClock`] that moves only when told to.

use onboard_core::Timestamp;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
    /// The manual clock, when this is one.
    fn manual(&self) -> Option<&ManualClock> {
        None
    }
}

/// The system's real time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp(millis)
    }
}

/// A clock that stands still until moved (forward only).
#[derive(Debug)]
pub struct ManualClock {
    millis: AtomicI64,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self {
            millis: AtomicI64::new(start.millis()),
        }
    }

    /// Moves the clock to `to`; a time in the past leaves it where it is. Returns the time.
    pub fn set(&self, to: Timestamp) -> Timestamp {
        let previous = self.millis.fetch_max(to.millis(), Ordering::SeqCst);
        Timestamp(previous.max(to.millis()))
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.millis.load(Ordering::SeqCst))
    }
    fn manual(&self) -> Option<&ManualClock> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_only_moves_forward() {
        let clock = ManualClock::new(Timestamp(1_000));
        assert_eq!(clock.set(Timestamp(5_000)), Timestamp(5_000));
        assert_eq!(clock.set(Timestamp(2_000)), Timestamp(5_000));
        assert_eq!(clock.now(), Timestamp(5_000));
    }
}
