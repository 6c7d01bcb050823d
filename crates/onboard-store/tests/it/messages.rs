//! The outbox: messages claimed when due under a fenced lease, every attempt recorded,
//! dead letters kept and retried by hand.

use crate::harness::{add_messages, at, for_each_backend, message, now, HOUR, MINUTE, SECOND, T0};
use onboard_core::Duration;
use onboard_store::{
    AttemptRecord, ClaimedMessage, DeliveryOutcome, MessageFilter, OutboxCounts, StoreError,
};

const LEASE: Duration = Duration(MINUTE);

fn attempt(n: i64, ms: i64, outcome: &str, error: Option<&str>) -> AttemptRecord {
    AttemptRecord {
        n,
        at: at(ms),
        outcome: outcome.to_owned(),
        error: error.map(str::to_owned),
    }
}

#[tokio::test]
async fn messages_are_claimed_when_due_and_completion_is_fenced() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_messages(&*store, T0, vec![message("m1", "acme")]).await;
        assert!(store
            .claim_due_messages("a", now(-1), LEASE, 10)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(store.next_message_due().await.unwrap(), Some(T0));
        assert_eq!(
            store.outbox_counts().await.unwrap(),
            OutboxCounts { queued: 1, dead: 0 }
        );

        let a = store
            .claim_due_messages("node-a", now(0), LEASE, 10)
            .await
            .unwrap();
        assert_eq!(
            a,
            [ClaimedMessage {
                id: "m1".to_owned(),
                account: "acme".to_owned(),
                channel: "email".to_owned(),
                to_email: "ada@example.com".to_owned(),
                to_name: "Ada".to_owned(),
                from_email: "csm@example.com".to_owned(),
                from_name: "Grace".to_owned(),
                subject: "Welcome (m1)".to_owned(),
                body: "Hello".to_owned(),
                message_id: "<m1@onboard.test>".to_owned(),
                rule: "welcome".to_owned(),
                sign_in_email: None,
                calendar: None,
                drafted_by: None,
                holder: "node-a".to_owned(),
                attempts: 1,
            }]
        );
        assert!(store
            .claim_due_messages("node-b", now(30 * SECOND), LEASE, 10)
            .await
            .unwrap()
            .is_empty());
        let b = store
            .claim_due_messages("node-b", now(2 * MINUTE), LEASE, 10)
            .await
            .unwrap();
        assert_eq!((b[0].holder.as_str(), b[0].attempts), ("node-b", 2));
        assert_eq!(
            store.due_work(now(2 * MINUTE)).await.unwrap().messages,
            1,
            "claimed, not done: still due work"
        );

        let stale = store
            .complete_message(&a[0], &DeliveryOutcome::Delivered, at(2 * MINUTE))
            .await
            .unwrap();
        assert!(!stale, "node-a's claim was taken over");
        let m1 = store.message("m1").await.unwrap().unwrap();
        assert_eq!((m1.status.as_str(), m1.attempt_log.len()), ("queued", 0));

        assert!(store
            .complete_message(&b[0], &DeliveryOutcome::Delivered, at(3 * MINUTE))
            .await
            .unwrap());
        let m1 = store.message("m1").await.unwrap().unwrap();
        assert_eq!(m1.status, "delivered");
        assert_eq!(m1.delivered_at, Some(at(3 * MINUTE)));
        assert_eq!(m1.next_attempt_at, None);
        assert_eq!(m1.attempts, 2);
        assert_eq!(m1.attempt_log, [attempt(2, 3 * MINUTE, "delivered", None)]);
        assert_eq!(
            store.outbox_counts().await.unwrap(),
            OutboxCounts::default()
        );
        assert_eq!(store.next_message_due().await.unwrap(), None);
        assert_eq!(store.due_work(now(HOUR)).await.unwrap().total(), 0);
        assert!(!store
            .complete_message(&b[0], &DeliveryOutcome::Delivered, at(4 * MINUTE))
            .await
            .unwrap());
        assert!(store
            .claim_due_messages("node-b", now(HOUR), LEASE, 10)
            .await
            .unwrap()
            .is_empty());
    })
    .await;
}

#[tokio::test]
async fn retries_and_dead_letters_record_every_attempt() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_messages(&*store, T0, vec![message("m1", "acme")]).await;
        let claim = |ms: i64| {
            let store = store.clone();
            async move {
                let mut claims = store
                    .claim_due_messages("node-a", now(ms), LEASE, 10)
                    .await
                    .unwrap();
                claims.pop()
            }
        };

        let first = claim(0).await.unwrap();
        let retry = DeliveryOutcome::Retry {
            at: at(MINUTE),
            error: "503 busy".to_owned(),
        };
        assert!(store
            .complete_message(&first, &retry, at(SECOND))
            .await
            .unwrap());
        let m1 = store.message("m1").await.unwrap().unwrap();
        assert_eq!(m1.status, "queued");
        assert_eq!(m1.next_attempt_at, Some(at(MINUTE)));
        assert_eq!(m1.last_error.as_deref(), Some("503 busy"));
        assert!(
            claim(30 * SECOND).await.is_none(),
            "not before the retry time"
        );

        let second = claim(MINUTE).await.unwrap();
        assert_eq!(second.attempts, 2);
        let retry = DeliveryOutcome::Retry {
            at: at(5 * MINUTE),
            error: "timeout".to_owned(),
        };
        assert!(store
            .complete_message(&second, &retry, at(MINUTE + SECOND))
            .await
            .unwrap());

        let third = claim(5 * MINUTE).await.unwrap();
        assert_eq!(third.attempts, 3);
        let dead = DeliveryOutcome::Dead {
            error: "550 no such user".to_owned(),
        };
        assert!(store
            .complete_message(&third, &dead, at(5 * MINUTE + SECOND))
            .await
            .unwrap());

        let m1 = store.message("m1").await.unwrap().unwrap();
        assert_eq!(m1.status, "dead");
        assert_eq!(m1.last_error.as_deref(), Some("550 no such user"));
        assert_eq!(m1.next_attempt_at, None);
        assert_eq!(
            m1.attempt_log,
            [
                attempt(1, SECOND, "failed", Some("503 busy")),
                attempt(2, MINUTE + SECOND, "failed", Some("timeout")),
                attempt(3, 5 * MINUTE + SECOND, "dead", Some("550 no such user")),
            ]
        );
        assert_eq!(
            store.outbox_counts().await.unwrap(),
            OutboxCounts { queued: 0, dead: 1 }
        );
        assert!(
            claim(24 * HOUR).await.is_none(),
            "a dead letter is not retried by itself"
        );
        let listed = store
            .list_messages(&MessageFilter {
                status: Some("dead".to_owned()),
                ..MessageFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(listed, [m1]);
    })
    .await;
}

#[tokio::test]
async fn a_dead_message_can_be_retried_by_hand() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_messages(&*store, T0, vec![message("m1", "acme")]).await;
        let claims = store
            .claim_due_messages("node-a", now(0), LEASE, 10)
            .await
            .unwrap();
        let dead = DeliveryOutcome::Dead {
            error: "bounced".to_owned(),
        };
        assert!(store
            .complete_message(&claims[0], &dead, at(SECOND))
            .await
            .unwrap());

        store.retry_message("m1", at(HOUR)).await.unwrap();
        let m1 = store.message("m1").await.unwrap().unwrap();
        assert_eq!(m1.status, "queued");
        assert_eq!(m1.next_attempt_at, Some(at(HOUR)));
        assert_eq!(
            store.outbox_counts().await.unwrap(),
            OutboxCounts { queued: 1, dead: 0 }
        );
        assert!(
            matches!(
                store.retry_message("m1", at(HOUR)).await,
                Err(StoreError::NotFound)
            ),
            "only a dead message can be retried"
        );

        assert!(store
            .claim_due_messages("node-b", now(HOUR - 1), LEASE, 10)
            .await
            .unwrap()
            .is_empty());
        let again = store
            .claim_due_messages("node-b", now(HOUR), LEASE, 10)
            .await
            .unwrap();
        assert_eq!(again[0].attempts, 2, "attempt numbers keep growing");
        assert!(store
            .complete_message(&again[0], &DeliveryOutcome::Delivered, at(HOUR + SECOND))
            .await
            .unwrap());
        let m1 = store.message("m1").await.unwrap().unwrap();
        assert_eq!(
            m1.attempt_log,
            [
                attempt(1, SECOND, "dead", Some("bounced")),
                attempt(2, HOUR + SECOND, "delivered", None),
            ]
        );
        assert!(matches!(
            store.retry_message("m1", at(HOUR)).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store.retry_message("nope", at(HOUR)).await,
            Err(StoreError::NotFound)
        ));
    })
    .await;
}

#[tokio::test]
async fn messages_are_listed_newest_first_with_a_cursor() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_messages(
            &*store,
            T0,
            vec![message("a1", "acme"), message("a2", "acme")],
        )
        .await;
        add_messages(&*store, at(SECOND), vec![message("b1", "globex")]).await;
        add_messages(&*store, at(2 * SECOND), vec![message("a3", "acme")]).await;
        let list = |filter: MessageFilter| {
            let store = store.clone();
            async move {
                store
                    .list_messages(&filter)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|m| m.id)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            list(MessageFilter {
                limit: 2,
                ..MessageFilter::default()
            })
            .await,
            ["a3", "b1"]
        );
        assert_eq!(
            list(MessageFilter {
                before: Some((at(SECOND), "b1".to_owned())),
                limit: 2,
                ..MessageFilter::default()
            })
            .await,
            ["a2", "a1"]
        );
        assert_eq!(
            list(MessageFilter {
                before: Some((T0, "a2".to_owned())),
                ..MessageFilter::default()
            })
            .await,
            ["a1"]
        );
        assert_eq!(
            list(MessageFilter {
                account: Some("acme".to_owned()),
                status: Some("queued".to_owned()),
                ..MessageFilter::default()
            })
            .await,
            ["a3", "a2", "a1"]
        );
        assert!(list(MessageFilter {
            status: Some("delivered".to_owned()),
            ..MessageFilter::default()
        })
        .await
        .is_empty());
        assert_eq!(store.message("nope").await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn a_message_keeps_the_sign_in_email_it_was_written_with() {
    for_each_backend(|db| async move {
        let store = db.store;
        let mut with_link = message("m1", "acme");
        with_link.sign_in_email = Some("ada@example.com".to_owned());
        add_messages(&*store, T0, vec![with_link, message("m2", "acme")]).await;

        let stored = |id: &'static str| {
            let store = store.clone();
            async move { store.message(id).await.unwrap().unwrap().sign_in_email }
        };
        assert_eq!(stored("m1").await.as_deref(), Some("ada@example.com"));
        assert_eq!(stored("m2").await, None);
        let listed: Vec<(String, Option<String>)> = store
            .list_messages(&MessageFilter::default())
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.id, m.sign_in_email))
            .collect();
        assert_eq!(
            listed,
            [
                ("m2".to_owned(), None),
                ("m1".to_owned(), Some("ada@example.com".to_owned())),
            ]
        );

        let mut claimed: Vec<(String, Option<String>)> = store
            .claim_due_messages("node-a", now(0), LEASE, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|claim| (claim.id, claim.sign_in_email))
            .collect();
        claimed.sort();
        assert_eq!(
            claimed,
            [
                ("m1".to_owned(), Some("ada@example.com".to_owned())),
                ("m2".to_owned(), None),
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn a_round_of_outcomes_is_recorded_at_once_each_fenced_by_its_own_claim() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_messages(
            &*store,
            T0,
            vec![
                message("m1", "acme"),
                message("m2", "acme"),
                message("m3", "acme"),
                message("m4", "acme"),
            ],
        )
        .await;
        let mut claims = store
            .claim_due_messages("node-a", now(0), LEASE, 10)
            .await
            .unwrap();
        claims.sort_by(|a, b| a.id.cmp(&b.id));
        // m4's claim is taken over by node-b once node-a's lease is over.
        let taken = store
            .claim_due_messages("node-b", now(2 * MINUTE), LEASE, 10)
            .await
            .unwrap();
        assert_eq!(taken.len(), 4);
        let taken_m4 = taken.iter().find(|c| c.id == "m4").unwrap().clone();
        let mut fresh: Vec<ClaimedMessage> = taken.into_iter().filter(|c| c.id != "m4").collect();
        fresh.sort_by(|a, b| a.id.cmp(&b.id));

        let retry = DeliveryOutcome::Retry {
            at: at(HOUR),
            error: "503 busy".to_owned(),
        };
        let recorded = store
            .complete_messages(
                &[
                    (fresh[0].clone(), DeliveryOutcome::Delivered),
                    (fresh[1].clone(), retry),
                    (fresh[2].clone(), DeliveryOutcome::Delivered),
                    (claims[3].clone(), DeliveryOutcome::Delivered),
                ],
                at(3 * MINUTE),
            )
            .await
            .unwrap();

        assert_eq!(recorded, 3, "node-a's stale claim of m4 is not recorded");
        let m1 = store.message("m1").await.unwrap().unwrap();
        assert_eq!(m1.status, "delivered");
        assert_eq!(m1.delivered_at, Some(at(3 * MINUTE)));
        assert_eq!(m1.attempt_log, [attempt(2, 3 * MINUTE, "delivered", None)]);
        let m2 = store.message("m2").await.unwrap().unwrap();
        assert_eq!(
            (m2.status.as_str(), m2.next_attempt_at),
            ("queued", Some(at(HOUR)))
        );
        assert_eq!(
            m2.attempt_log,
            [attempt(2, 3 * MINUTE, "failed", Some("503 busy"))]
        );
        assert_eq!(
            store.message("m3").await.unwrap().unwrap().status,
            "delivered"
        );
        let m4 = store.message("m4").await.unwrap().unwrap();
        assert_eq!((m4.status.as_str(), m4.attempt_log.len()), ("queued", 0));
        assert!(store
            .complete_message(&taken_m4, &DeliveryOutcome::Delivered, at(4 * MINUTE))
            .await
            .unwrap());
    })
    .await;
}

#[tokio::test]
async fn a_claim_named_twice_in_a_round_is_recorded_once() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_messages(&*store, T0, vec![message("m1", "acme")]).await;
        let claim = store
            .claim_due_messages("node-a", now(0), LEASE, 10)
            .await
            .unwrap()
            .remove(0);

        let recorded = store
            .complete_messages(
                &[
                    (claim.clone(), DeliveryOutcome::Delivered),
                    (claim, DeliveryOutcome::Delivered),
                ],
                at(SECOND),
            )
            .await
            .unwrap();

        assert_eq!(recorded, 1);
        let m1 = store.message("m1").await.unwrap().unwrap();
        assert_eq!(m1.attempt_log, [attempt(1, SECOND, "delivered", None)]);
    })
    .await;
}
