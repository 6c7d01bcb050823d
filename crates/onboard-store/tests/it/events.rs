//! The event log: idempotent appends, filtered lists, the processor's queue.

use crate::harness::{account, at, event, for_each_backend, lease, HOUR, SECOND, T0};
use onboard_core::Event;
use onboard_store::{Appended, Backlog, EventFilter, ProcessedBatch};

fn keys(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.key.as_str()).collect()
}

#[tokio::test]
async fn duplicate_event_keys_are_reported_and_change_nothing() {
    for_each_backend(|db| async move {
        let store = db.store;
        let first = store
            .append_events(
                &[
                    event("a", "deal.won", "acme", T0),
                    event("b", "academy.login", "acme", T0),
                    event("a", "deal.won", "acme", T0),
                ],
                T0,
            )
            .await
            .unwrap();
        let (Appended::New(a), Appended::New(b)) = (first[0], first[1]) else {
            panic!("expected two new events, got {first:?}");
        };
        assert!(a < b, "sequence follows append order");
        assert_eq!(
            first[2],
            Appended::Duplicate(a),
            "a repeat within the batch"
        );

        let mut changed = event("b", "academy.login", "globex", at(HOUR));
        changed.data = serde_json::json!({ "changed": true });
        let second = store
            .append_events(&[changed, event("c", "deal.won", "acme", T0)], at(SECOND))
            .await
            .unwrap();
        assert_eq!(second[0], Appended::Duplicate(b));
        assert!(matches!(second[1], Appended::New(c) if c > b));

        let log = store.list_events(&EventFilter::default()).await.unwrap();
        assert_eq!(keys(&log), ["a", "b", "c"]);
        let stored_b = &log[1];
        assert_eq!(stored_b.account, "acme", "the duplicate changed nothing");
        assert_eq!(
            stored_b.data,
            serde_json::json!({ "key": "b", "nested": { "n": 1 } })
        );
        assert_eq!(stored_b.received_at, T0);
        assert_eq!(stored_b.processed_at, None);
        assert_eq!(log[2].received_at, at(SECOND));
        assert_eq!(store.append_events(&[], T0).await.unwrap(), []);
    })
    .await;
}

#[tokio::test]
async fn events_list_filters_by_account_type_and_time_and_paginates() {
    for_each_backend(|db| async move {
        let store = db.store;
        store
            .append_events(
                &[
                    event("e0", "deal.won", "acme", T0),
                    event("e1", "academy.login", "acme", at(HOUR)),
                    event("e2", "deal.won", "globex", at(2 * HOUR)),
                    event("e3", "academy.login", "acme", at(3 * HOUR)),
                    event("e4", "product.track", "globex", at(4 * HOUR)),
                ],
                T0,
            )
            .await
            .unwrap();
        let list = |filter: EventFilter| {
            let store = store.clone();
            async move { store.list_events(&filter).await.unwrap() }
        };

        let acme = list(EventFilter {
            account: Some("acme".to_owned()),
            ..EventFilter::default()
        })
        .await;
        assert_eq!(keys(&acme), ["e0", "e1", "e3"]);

        let logins = list(EventFilter {
            kind: Some("academy.login".to_owned()),
            ..EventFilter::default()
        })
        .await;
        assert_eq!(keys(&logins), ["e1", "e3"]);

        let window = list(EventFilter {
            from: Some(at(HOUR)),
            until: Some(at(3 * HOUR)),
            ..EventFilter::default()
        })
        .await;
        assert_eq!(
            keys(&window),
            ["e1", "e2"],
            "from is inclusive, until exclusive"
        );

        let globex_deals = list(EventFilter {
            account: Some("globex".to_owned()),
            kind: Some("deal.won".to_owned()),
            ..EventFilter::default()
        })
        .await;
        assert_eq!(keys(&globex_deals), ["e2"]);
        assert_eq!(globex_deals[0].at, at(2 * HOUR));
        assert_eq!(globex_deals[0].kind.as_str(), "deal.won");

        let mut pages = Vec::new();
        let mut after = None;
        loop {
            let page = list(EventFilter {
                after_seq: after,
                limit: 2,
                ..EventFilter::default()
            })
            .await;
            let Some(last) = page.last() else { break };
            after = Some(last.seq);
            pages.push(keys(&page).join(","));
        }
        assert_eq!(pages, ["e0,e1", "e2,e3", "e4"]);
    })
    .await;
}

#[tokio::test]
async fn unprocessed_events_come_in_sequence_order() {
    for_each_backend(|db| async move {
        let store = db.store;
        let mut seqs = Vec::new();
        for (keys, received) in [(&["e1", "e2", "e3"][..], T0), (&["e4"][..], at(SECOND))] {
            let batch: Vec<_> = keys.iter().map(|k| event(k, "deal.won", k, T0)).collect();
            for appended in store.append_events(&batch, received).await.unwrap() {
                let Appended::New(seq) = appended else {
                    panic!("new")
                };
                seqs.push(seq);
            }
        }
        assert_eq!(
            store.processing_backlog().await.unwrap(),
            Backlog {
                n_events: 4,
                oldest_received_at: Some(T0)
            }
        );

        let lease = lease(&*store, "node-a", 0).await;
        let process = |seqs: Vec<i64>, accounts: Vec<&str>| ProcessedBatch {
            processed: seqs,
            processed_at: at(2 * SECOND),
            accounts: accounts.into_iter().map(|id| account(id, T0)).collect(),
            ..ProcessedBatch::default()
        };
        store
            .commit_batch(&lease, &process(vec![seqs[1]], vec!["e2"]))
            .await
            .unwrap();
        let queue = store.unprocessed_events(10).await.unwrap();
        assert_eq!(keys(&queue), ["e1", "e3", "e4"]);
        assert!(queue.iter().all(|e| e.processed_at.is_none()));
        assert_eq!(
            keys(&store.unprocessed_events(2).await.unwrap()),
            ["e1", "e3"]
        );

        store
            .commit_batch(&lease, &process(vec![seqs[0], seqs[2]], vec!["e1", "e3"]))
            .await
            .unwrap();
        assert_eq!(
            store.processing_backlog().await.unwrap(),
            Backlog {
                n_events: 1,
                oldest_received_at: Some(at(SECOND))
            }
        );
        store
            .commit_batch(&lease, &process(vec![seqs[3]], vec!["e4"]))
            .await
            .unwrap();
        assert_eq!(
            store.processing_backlog().await.unwrap(),
            Backlog::default()
        );
        assert!(store.unprocessed_events(10).await.unwrap().is_empty());
        let log = store.list_events(&EventFilter::default()).await.unwrap();
        assert!(log.iter().all(|e| e.processed_at == Some(at(2 * SECOND))));
    })
    .await;
}
