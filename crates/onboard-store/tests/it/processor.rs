//! The processor's writes: one fenced transaction per batch, and the lease that fences it.

use crate::harness::{
    account, add_timers, at, event, for_each_backend, message, now, timer, HOUR, MINUTE, T0,
};
use onboard_core::state::{Decisions, TimerCancel, Trace, TraceOutcome};
use onboard_core::Duration;
use onboard_store::{Appended, EventFilter, ProcessedBatch, StoreError, TraceRecord};

#[tokio::test]
async fn commit_batch_marks_processed_and_writes_everything_in_one_go() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_timers(
            &*store,
            vec![
                timer("old-nudge", "acme", "nudge", at(HOUR)),
                timer("other-account", "globex", "nudge", at(HOUR)),
            ],
        )
        .await;
        let appended = store
            .append_events(
                &[
                    event("e1", "deal.won", "acme", T0),
                    event("e2", "academy.login", "acme", T0),
                ],
                T0,
            )
            .await
            .unwrap();
        let processed: Vec<i64> = appended
            .iter()
            .map(|a| match a {
                Appended::New(seq) | Appended::Duplicate(seq) => *seq,
            })
            .collect();
        let mut acme = account("acme", T0);
        acme.updated_at = at(MINUTE);
        let trace = Trace {
            account: "acme".to_owned(),
            rule: "welcome".to_owned(),
            event: "e1".to_owned(),
            at: at(MINUTE),
            outcome: TraceOutcome::Fired,
            reason: "deal won".to_owned(),
        };
        let batch = ProcessedBatch {
            processed,
            processed_at: at(MINUTE),
            handled: Vec::new(),
            // An account twice in one batch: the last state wins.
            accounts: vec![account("acme", T0), acme.clone()],
            unchanged: Default::default(),
            decisions: Decisions {
                timers: vec![timer("welcome-72h", "acme", "welcome", at(72 * HOUR))],
                // Cancels every pending timer of the account set before this batch, and
                // none of the batch's own.
                cancels: vec![TimerCancel {
                    account: "acme".to_owned(),
                    rule: None,
                }],
                messages: vec![message("m1", "acme")],
                events: vec![event(
                    "project.launched:acme",
                    "project.launched",
                    "acme",
                    at(MINUTE),
                )],
                traces: vec![trace],
                ..Decisions::default()
            },
            people: Vec::new(),
            summaries: Vec::new(),
        };
        let lease = crate::harness::lease(&*store, "node-a", MINUTE).await;
        store.commit_batch(&lease, &batch).await.unwrap();

        for seq in &batch.processed {
            let e = &store
                .list_events(&EventFilter {
                    after_seq: Some(seq - 1),
                    limit: 1,
                    ..EventFilter::default()
                })
                .await
                .unwrap()[0];
            assert_eq!(e.processed_at, Some(at(MINUTE)));
        }
        assert_eq!(store.account("acme").await.unwrap(), Some(acme.clone()));
        assert_eq!(
            store
                .load_accounts(&["nobody".to_owned(), "acme".to_owned()])
                .await
                .unwrap(),
            [acme]
        );

        assert_eq!(
            store.timer("old-nudge").await.unwrap().unwrap().state,
            "cancelled"
        );
        assert_eq!(
            store.timer("other-account").await.unwrap().unwrap().state,
            "pending"
        );
        let welcome = store.timer("welcome-72h").await.unwrap().unwrap();
        assert_eq!((welcome.state.as_str(), welcome.attempts), ("pending", 0));
        assert_eq!(welcome.due_at, at(72 * HOUR));

        let m1 = store.message("m1").await.unwrap().unwrap();
        assert_eq!(m1.status, "queued");
        assert_eq!(m1.next_attempt_at, Some(at(MINUTE)));
        assert_eq!(m1.created_at, at(MINUTE));
        assert_eq!((m1.attempts, m1.attempt_log.len()), (0, 0));
        assert_eq!(m1.message_id, "<m1@onboard.test>");

        // The derived event waits for the processor like any other.
        let queue = store.unprocessed_events(10).await.unwrap();
        assert_eq!(queue.len(), 1);
        assert_eq!(queue[0].key, "project.launched:acme");
        assert_eq!(queue[0].received_at, at(MINUTE));

        assert_eq!(
            store.traces("acme", 10).await.unwrap(),
            [TraceRecord {
                account: "acme".to_owned(),
                rule: "welcome".to_owned(),
                event: "e1".to_owned(),
                at: at(MINUTE),
                outcome: TraceOutcome::Fired,
                reason: "deal won".to_owned(),
            }]
        );
        assert!(store.traces("globex", 10).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn derived_events_the_batch_already_decided_are_logged_as_processed() {
    for_each_backend(|db| async move {
        let store = db.store;
        let batch = ProcessedBatch {
            processed_at: at(MINUTE),
            handled: vec!["person.enrolled:acme:ann".to_owned()],
            decisions: Decisions {
                events: vec![
                    event(
                        "person.enrolled:acme:ann",
                        "person.enrolled",
                        "acme",
                        at(MINUTE),
                    ),
                    event(
                        "project.launched:acme",
                        "project.launched",
                        "acme",
                        at(MINUTE),
                    ),
                ],
                ..Decisions::default()
            },
            ..ProcessedBatch::default()
        };
        let lease = crate::harness::lease(&*store, "node-a", MINUTE).await;
        store.commit_batch(&lease, &batch).await.unwrap();

        let logged = store
            .list_events(&EventFilter {
                limit: 10,
                ..EventFilter::default()
            })
            .await
            .unwrap();
        let processed: Vec<(&str, Option<onboard_core::Timestamp>)> = logged
            .iter()
            .map(|e| (e.key.as_str(), e.processed_at))
            .collect();
        assert_eq!(
            processed,
            [
                ("person.enrolled:acme:ann", Some(at(MINUTE))),
                ("project.launched:acme", None)
            ]
        );
        let queue = store.unprocessed_events(10).await.unwrap();
        assert_eq!(queue.len(), 1);
        assert_eq!(queue[0].key, "project.launched:acme");
    })
    .await;
}

#[tokio::test]
async fn commit_batch_with_a_lost_lease_writes_nothing() {
    for_each_backend(|db| async move {
        let store = db.store;
        let a = store
            .acquire_lease("processor", "node-a", now(0), Duration(MINUTE))
            .await
            .unwrap()
            .unwrap();
        let b = store
            .acquire_lease("processor", "node-b", now(2 * MINUTE), Duration(MINUTE))
            .await
            .unwrap()
            .expect("node-a's lease expired");
        let appended = store
            .append_events(&[event("e1", "deal.won", "acme", T0)], T0)
            .await
            .unwrap();
        let Appended::New(seq) = appended[0] else {
            panic!("new")
        };
        let batch = ProcessedBatch {
            processed: vec![seq],
            handled: Vec::new(),
            processed_at: at(3 * MINUTE),
            accounts: vec![account("acme", T0)],
            unchanged: Default::default(),
            decisions: Decisions {
                timers: vec![timer("t1", "acme", "welcome", at(HOUR))],
                messages: vec![message("m1", "acme")],
                events: vec![event("derived", "project.launched", "acme", T0)],
                ..Decisions::default()
            },
            people: Vec::new(),
            summaries: Vec::new(),
        };

        let lost = store.commit_batch(&a, &batch).await;
        assert!(
            matches!(&lost, Err(StoreError::LeaseLost(name)) if name == "processor"),
            "{lost:?}"
        );
        assert_eq!(store.account("acme").await.unwrap(), None);
        assert_eq!(store.timer("t1").await.unwrap(), None);
        assert_eq!(store.message("m1").await.unwrap(), None);
        let queue = store.unprocessed_events(10).await.unwrap();
        assert_eq!(
            queue.len(),
            1,
            "the event is still to be processed, and nothing was derived"
        );
        assert_eq!(queue[0].key, "e1");

        store.commit_batch(&b, &batch).await.unwrap();
        assert!(store.account("acme").await.unwrap().is_some());
    })
    .await;
}

#[tokio::test]
async fn lease_is_taken_over_only_after_expiry_with_a_new_epoch() {
    for_each_backend(|db| async move {
        let store = db.store;
        let ttl = Duration(MINUTE);
        let acquire = |holder: &'static str, ms: i64| {
            let store = store.clone();
            async move {
                store
                    .acquire_lease("processor", holder, now(ms), ttl)
                    .await
                    .unwrap()
                    .map(|lease| lease.epoch)
            }
        };
        assert_eq!(acquire("node-a", 0).await, Some(1));
        assert_eq!(
            acquire("node-b", 30_000).await,
            None,
            "node-a's lease is live"
        );
        assert_eq!(
            acquire("node-a", 50_000).await,
            Some(1),
            "renewed, same epoch"
        );
        assert_eq!(
            acquire("node-b", 100_000).await,
            None,
            "renewal moved the expiry"
        );
        assert_eq!(
            acquire("node-b", 110_001).await,
            Some(2),
            "taken over after expiry"
        );
        assert_eq!(acquire("node-a", 110_002).await, None);
        assert_eq!(acquire("node-b", 120_000).await, Some(2));

        let b = store
            .acquire_lease("processor", "node-b", now(120_000), ttl)
            .await
            .unwrap()
            .unwrap();
        store.release_lease(&b).await.unwrap();
        assert_eq!(
            acquire("node-a", 120_001).await,
            Some(3),
            "a released lease is free"
        );
        // Other names are other leases.
        let other = store
            .acquire_lease("other", "node-b", now(120_001), ttl)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(other.epoch, 1);
    })
    .await;
}

#[tokio::test]
async fn program_versions_are_recorded_once() {
    for_each_backend(|db| async move {
        let store = db.store;
        store
            .save_program_version("v1", r#"{"rules":[]}"#, T0)
            .await
            .unwrap();
        store
            .save_program_version("v1", r#"{"changed":true}"#, at(HOUR))
            .await
            .unwrap();
        assert_eq!(
            store.program_source("v1").await.unwrap().as_deref(),
            Some(r#"{"rules":[]}"#)
        );
        assert_eq!(store.program_source("v2").await.unwrap(), None);
    })
    .await;
}

/// A batch of many accounts (whose states are serialised beside the transaction on SQLite)
/// stores every state whole, and under a lost lease still stores none.
#[tokio::test]
async fn a_batch_of_many_accounts_stores_every_state_and_none_under_a_lost_lease() {
    for_each_backend(|db| async move {
        let store = db.store;
        let states = |prefix: &str| -> Vec<onboard_core::state::AccountState> {
            (0..40)
                .map(|i| {
                    let mut state = account(&format!("{prefix}-{i}"), T0);
                    state.rule_runs.insert(
                        "welcome".into(),
                        onboard_core::state::RuleRuns {
                            n: i,
                            last_at: at(MINUTE),
                        },
                    );
                    state
                })
                .collect()
        };
        let a = store
            .acquire_lease("processor", "node-a", now(0), Duration(MINUTE))
            .await
            .unwrap()
            .unwrap();
        let many = states("many");
        store
            .commit_batch(
                &a,
                &ProcessedBatch {
                    processed_at: at(MINUTE),
                    accounts: many.clone(),
                    ..ProcessedBatch::default()
                },
            )
            .await
            .unwrap();
        for state in &many {
            assert_eq!(
                store.account(&state.id).await.unwrap().as_ref(),
                Some(state)
            );
        }

        store
            .acquire_lease("processor", "node-b", now(2 * MINUTE), Duration(MINUTE))
            .await
            .unwrap()
            .expect("node-a's lease expired");
        let lost = store
            .commit_batch(
                &a,
                &ProcessedBatch {
                    processed_at: at(3 * MINUTE),
                    accounts: states("lost"),
                    ..ProcessedBatch::default()
                },
            )
            .await;
        assert!(matches!(lost, Err(StoreError::LeaseLost(_))), "{lost:?}");
        assert_eq!(store.account("lost-0").await.unwrap(), None);
        assert_eq!(store.account("lost-39").await.unwrap(), None);
    })
    .await;
}
