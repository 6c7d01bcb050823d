//! Group commit: concurrent intake requests are gathered into batches, each appended in one
//! transaction, so durability costs one disk flush per batch, not per request. A request is
//! answered only after its batch committed. Up to `writers` batches commit at once (one on
//! SQLite, whose writes are serial anyway; a few on PostgreSQL, where commits overlap).
//! Product-usage calls (the Segment-compatible intake) go through the same queue and share
//! the same transactions: the store links them to accounts as it appends them.

use crate::clock::Clock;
use crate::{EngineError, Result};
use onboard_core::NewEvent;
use onboard_store::{Appended, IntakeAppended, Store, UsageCall, UsageOutcome};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};

/// Most events written in one transaction: room for every request of a busy usage intake
/// (32 clients of 100 events each) in one commit.
const MAX_BATCH: usize = 4_000;

struct Request {
    events: Vec<NewEvent>,
    usage: Vec<UsageCall>,
    reply: oneshot::Sender<Result<IntakeAppended, String>>,
}

impl Request {
    fn len(&self) -> usize {
        self.events.len() + self.usage.len()
    }
}

/// The handle requests go through.
#[derive(Clone)]
pub(crate) struct Intake {
    sender: mpsc::Sender<Request>,
    /// Requests sent so far, and those not answered yet: the processor sizes its batches by
    /// whether intake is active.
    requests: Arc<AtomicU64>,
    in_flight: Arc<AtomicU64>,
}

/// Counts a request in flight until it is answered (or its caller gives up).
struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Intake {
    /// Starts the writer task. `appended` is notified after each commit with new events.
    pub(crate) fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        appended: Arc<Notify>,
        writers: usize,
    ) -> Self {
        let (sender, receiver) = mpsc::channel(4_096);
        tokio::spawn(gather_batches(
            store,
            clock,
            appended,
            receiver,
            writers.max(1),
        ));
        Self {
            sender,
            requests: Arc::new(AtomicU64::new(0)),
            in_flight: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many requests were sent to the intake so far, and whether any waits for its
    /// answer now (one waiting for the writer sends nothing new meanwhile).
    pub(crate) fn activity(&self) -> (u64, bool) {
        (
            self.requests.load(Ordering::Relaxed),
            self.in_flight.load(Ordering::Relaxed) > 0,
        )
    }

    /// Appends events durably; returns once they are committed.
    pub(crate) async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>> {
        Ok(self.send(events, Vec::new()).await?.events)
    }

    /// Links and appends (or holds) product-usage calls durably; returns once committed.
    pub(crate) async fn append_usage(&self, usage: Vec<UsageCall>) -> Result<Vec<UsageOutcome>> {
        Ok(self.send(Vec::new(), usage).await?.usage)
    }

    async fn send(&self, events: Vec<NewEvent>, usage: Vec<UsageCall>) -> Result<IntakeAppended> {
        let (reply, answer) = oneshot::channel();
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let _in_flight = InFlight(&self.in_flight);
        self.sender
            .send(Request {
                events,
                usage,
                reply,
            })
            .await
            .map_err(|_| EngineError::ShuttingDown)?;
        match answer.await {
            Ok(Ok(appended)) => Ok(appended),
            Ok(Err(message)) => Err(EngineError::Intake(message)),
            Err(_) => Err(EngineError::ShuttingDown),
        }
    }
}

async fn gather_batches(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    appended: Arc<Notify>,
    mut receiver: mpsc::Receiver<Request>,
    writers: usize,
) {
    let in_flight = Arc::new(Semaphore::new(writers));
    loop {
        // Wait for a free writer first: requests keep gathering in the channel meanwhile.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = receiver.recv().await else {
            return;
        };
        let mut requests = vec![first];
        let mut n_events = requests[0].len();
        while n_events < MAX_BATCH {
            match receiver.try_recv() {
                Ok(request) => {
                    n_events += request.len();
                    requests.push(request);
                }
                Err(_) => break,
            }
        }
        let store = store.clone();
        let clock = clock.clone();
        let appended = appended.clone();
        tokio::spawn(async move {
            write_batch(store.as_ref(), clock.as_ref(), &appended, requests).await;
            drop(permit);
        });
    }
}

async fn write_batch(
    store: &dyn Store,
    clock: &dyn Clock,
    appended: &Notify,
    mut requests: Vec<Request>,
) {
    // The calls move out of their requests (each request's counts are kept to split the
    // outcomes): a product event's properties are a tree, not worth copying.
    let counts: Vec<(usize, usize)> = requests
        .iter()
        .map(|r| (r.events.len(), r.usage.len()))
        .collect();
    let events: Vec<NewEvent> = requests
        .iter_mut()
        .flat_map(|r| std::mem::take(&mut r.events))
        .collect();
    let usage: Vec<UsageCall> = requests
        .iter_mut()
        .flat_map(|r| std::mem::take(&mut r.usage))
        .collect();
    let received_at = clock.now();
    let n_calls = usage.len();
    let result = if usage.is_empty() {
        store
            .append_events(&events, received_at)
            .await
            .map(|events| IntakeAppended {
                events,
                usage: Vec::new(),
            })
    } else {
        store.append_intake(&events, usage, received_at).await
    };
    metrics::histogram!("onboard_intake_batch_events").record((events.len() + n_calls) as f64);
    match result {
        Ok(outcome) => {
            let n_new = outcome
                .events
                .iter()
                .filter(|o| matches!(o, Appended::New(_)))
                .count();
            metrics::counter!("onboard_events_ingested_total").increment(n_new as u64);
            metrics::counter!("onboard_events_duplicate_total")
                .increment((outcome.events.len() - n_new) as u64);
            let mut by_outcome = [0_u64; 4];
            for usage in &outcome.usage {
                by_outcome[match usage {
                    UsageOutcome::Appended(_) => 0,
                    UsageOutcome::Held => 1,
                    UsageOutcome::Duplicate => 2,
                    UsageOutcome::Aliased => 3,
                }] += 1;
            }
            for (label, n) in ["appended", "held", "duplicate", "alias"]
                .iter()
                .zip(by_outcome)
            {
                if n > 0 {
                    metrics::counter!("onboard_usage_events_total", "outcome" => *label)
                        .increment(n);
                }
            }
            let n_usage_new = by_outcome[0];
            // An alias may have moved held events into the log: new to the processor too.
            let moved = outcome
                .usage
                .iter()
                .any(|u| matches!(u, UsageOutcome::Aliased));
            let mut events = outcome.events.into_iter();
            let mut usage = outcome.usage.into_iter();
            for (request, (n_events, n_usage)) in requests.into_iter().zip(counts) {
                let mine = IntakeAppended {
                    events: events.by_ref().take(n_events).collect(),
                    usage: usage.by_ref().take(n_usage).collect(),
                };
                let _ = request.reply.send(Ok(mine));
            }
            if n_new > 0 || n_usage_new > 0 || moved {
                appended.notify_one();
            }
        }
        Err(error) => {
            tracing::error!(
                error = %error,
                n_events = events.len() + n_calls,
                "appending events failed"
            );
            metrics::counter!("onboard_intake_failures_total").increment(1);
            for request in requests {
                let _ = request.reply.send(Err(error.to_string()));
            }
        }
    }
}
