//! The mailer of simulations and dry runs: it sends nothing and writes nothing, and keeps who
//! got an email and when, so the simulated people can answer it. What was decided stays in
//! the scratch database's outbox, like any message.

use crate::clock::Clock;
use crate::mail::{Mailer, SendError};
use async_trait::async_trait;
use onboard_core::Timestamp;
use onboard_store::ClaimedMessage;
use std::sync::{Arc, Mutex};

/// Emails "delivered" since the last [`Inbox::drain`]: recipient (lower case) and time.
pub struct Inbox {
    clock: Arc<dyn Clock>,
    received: Mutex<Vec<(String, Timestamp)>>,
}

impl Inbox {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            received: Mutex::new(Vec::new()),
        }
    }

    /// The emails received since the last call, in delivery order.
    pub fn drain(&self) -> Vec<(String, Timestamp)> {
        match self.received.lock() {
            Ok(mut received) => std::mem::take(&mut *received),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }
}

#[async_trait]
impl Mailer for Inbox {
    async fn send(&self, message: &ClaimedMessage) -> Result<(), SendError> {
        let entry = (message.to_email.to_lowercase(), self.clock.now());
        match self.received.lock() {
            Ok(mut received) => received.push(entry),
            Err(poisoned) => poisoned.into_inner().push(entry),
        }
        Ok(())
    }
}
