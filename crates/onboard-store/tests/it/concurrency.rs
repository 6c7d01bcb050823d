//! Several nodes on one database: racing schedulers fire each timer exactly once.

use crate::harness::{add_timers, event, for_each_backend, now, timer, HOUR, T0};
use onboard_core::Duration;
use onboard_store::{EventFilter, Store};
use std::collections::HashSet;
use std::sync::Arc;

const N_TIMERS: usize = 1000;

/// One scheduler node: claims and fires until nothing is due; returns how many it fired.
async fn scheduler(store: Arc<dyn Store>, node: &'static str) -> usize {
    let mut n_fired = 0;
    loop {
        let claims = store
            .claim_due_timers(node, now(HOUR), Duration(HOUR), 25)
            .await
            .unwrap();
        if claims.is_empty() {
            return n_fired;
        }
        // The key names the node and attempt, so a double firing would leave two events.
        let fired: Vec<_> = claims
            .into_iter()
            .map(|claim| {
                let key = format!("{}|{node}|{}", claim.id, claim.attempts);
                let e = event(&key, "timer.fired", &claim.account, claim.due_at);
                (claim, e)
            })
            .collect();
        n_fired += store.fire_timers(node, &fired, T0).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_racing_for_the_same_timers_fire_each_exactly_once() {
    for_each_backend(|db| async move {
        let timers = (0..N_TIMERS)
            .map(|i| timer(&format!("t{i:04}"), &format!("acct{}", i % 17), "r", T0))
            .collect();
        add_timers(&*db.store, timers).await;
        let other = db.another_node().await;
        let a = tokio::spawn(scheduler(db.store.clone(), "node-a"));
        let b = tokio::spawn(scheduler(other, "node-b"));
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        assert_eq!(a + b, N_TIMERS, "node-a fired {a}, node-b {b}");

        let mut keys = Vec::new();
        let mut after = None;
        loop {
            let page = db
                .store
                .list_events(&EventFilter {
                    kind: Some("timer.fired".to_owned()),
                    after_seq: after,
                    ..EventFilter::default()
                })
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.seq);
            keys.extend(page.into_iter().map(|e| e.key));
        }
        assert_eq!(keys.len(), N_TIMERS);
        let timers: HashSet<&str> = keys.iter().filter_map(|k| k.split('|').next()).collect();
        assert_eq!(timers.len(), N_TIMERS, "no timer fired twice");
        let counts = db.store.timer_counts(now(HOUR)).await.unwrap();
        assert_eq!((counts.pending, counts.due), (0, 0));
    })
    .await;
}
