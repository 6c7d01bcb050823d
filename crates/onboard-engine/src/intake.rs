//! Group commit: concurrent intake requests are gathered into batches, each appended in one
//! transaction, so durability costs one disk flush per batch, not per request. A request is
//! answered only after its batch committed. Up to `writers` batches commit at once (one on
//! SQLite, whose writes are serial anyway; a few on PostgreSQL, where commits overlap).

use crate::clock::Clock;
use crate::{EngineError, Result};
use onboard_core::NewEvent;
use onboard_store::{Appended, Store};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};

/// Most events written in one transaction.
const MAX_BATCH: usize = 2_000;

struct Request {
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<Vec<Appended>, String>>,
}

/// The handle requests go through.
#[derive(Clone)]
pub(crate) struct Intake {
    sender: mpsc::Sender<Request>,
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
        Self { sender }
    }

    /// Appends events durably; returns once they are committed.
    pub(crate) async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Request { events, reply })
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
        let mut n_events = requests[0].events.len();
        while n_events < MAX_BATCH {
            match receiver.try_recv() {
                Ok(request) => {
                    n_events += request.events.len();
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
    requests: Vec<Request>,
) {
    let events: Vec<NewEvent> = requests
        .iter()
        .flat_map(|r| r.events.iter().cloned())
        .collect();
    let result = store.append_events(&events, clock.now()).await;
    metrics::histogram!("onboard_intake_batch_events").record(events.len() as f64);
    match result {
        Ok(outcomes) => {
            let n_new = outcomes
                .iter()
                .filter(|o| matches!(o, Appended::New(_)))
                .count();
            metrics::counter!("onboard_events_ingested_total").increment(n_new as u64);
            metrics::counter!("onboard_events_duplicate_total")
                .increment((outcomes.len() - n_new) as u64);
            let mut rest = outcomes.into_iter();
            for request in requests {
                let mine: Vec<Appended> = rest.by_ref().take(request.events.len()).collect();
                let _ = request.reply.send(Ok(mine));
            }
            if n_new > 0 {
                appended.notify_one();
            }
        }
        Err(error) => {
            tracing::error!(error = %error, n_events = events.len(), "appending events failed");
            metrics::counter!("onboard_intake_failures_total").increment(1);
            for request in requests {
                let _ = request.reply.send(Err(error.to_string()));
            }
        }
    }
}
