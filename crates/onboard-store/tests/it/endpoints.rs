//! Outbound endpoints disabled by a delivery (410 Gone, a revoked Slack webhook) and
//! enabled again by an operator; every node sees the same state.

use crate::harness::{at, for_each_backend, for_each_shared_backend, HOUR};

#[tokio::test]
async fn no_endpoint_is_disabled_at_first() {
    for_each_backend(|db| async move {
        assert!(db.store.disabled_endpoints().await.unwrap().is_empty());
    })
    .await;
}

// Not on the in-memory store: "another node sees it" means another connection to the same
// database, and connecting to `memory:` makes a new, empty store.
#[tokio::test]
async fn a_disabled_endpoint_is_listed_with_its_time_and_reason_until_enabled() {
    for_each_shared_backend(|db| async move {
        let store = &db.store;
        store
            .disable_endpoint("sales-slack", at(HOUR), "410 channel_is_archived")
            .await
            .unwrap();
        store
            .disable_endpoint("crm-hook", at(2 * HOUR), "410 Gone")
            .await
            .unwrap();
        assert_eq!(
            store.disabled_endpoints().await.unwrap(),
            vec![
                ("crm-hook".to_owned(), at(2 * HOUR), "410 Gone".to_owned()),
                (
                    "sales-slack".to_owned(),
                    at(HOUR),
                    "410 channel_is_archived".to_owned()
                ),
            ]
        );

        // Another node sees it too.
        let other = db.reopen().await;
        assert_eq!(other.disabled_endpoints().await.unwrap().len(), 2);

        assert!(store.enable_endpoint("crm-hook").await.unwrap());
        assert_eq!(
            store.disabled_endpoints().await.unwrap(),
            vec![(
                "sales-slack".to_owned(),
                at(HOUR),
                "410 channel_is_archived".to_owned()
            )]
        );
    })
    .await;
}

#[tokio::test]
async fn disabling_twice_keeps_the_first_time_and_reason() {
    for_each_backend(|db| async move {
        let store = &db.store;
        store
            .disable_endpoint("crm-hook", at(HOUR), "410 Gone")
            .await
            .unwrap();
        store
            .disable_endpoint("crm-hook", at(3 * HOUR), "something else")
            .await
            .unwrap();
        assert_eq!(
            store.disabled_endpoints().await.unwrap(),
            vec![("crm-hook".to_owned(), at(HOUR), "410 Gone".to_owned())]
        );
    })
    .await;
}

#[tokio::test]
async fn enabling_an_endpoint_that_is_not_disabled_changes_nothing() {
    for_each_backend(|db| async move {
        assert!(!db.store.enable_endpoint("crm-hook").await.unwrap());
        assert!(db.store.disabled_endpoints().await.unwrap().is_empty());
    })
    .await;
}
