//! Accounts as the processor wrote them: listed page by page, and counted per CSM.

use crate::harness::{account, add_accounts, at, for_each_backend, lease, HOUR};
use onboard_core::state::{AccountState, AccountStatus};
use onboard_core::stored::{PartSet, StatePart};
use onboard_store::{AccountFilter, ProcessedBatch};

fn account_of(id: &str, csm: Option<&str>, status: AccountStatus) -> AccountState {
    let mut account = account(id, at(0));
    account.csm = csm.map(str::to_owned);
    account.status = status;
    account
}

#[tokio::test]
async fn csm_loads_count_only_active_accounts() {
    for_each_backend(|db| async move {
        let store = db.store;
        assert!(store.csm_loads().await.unwrap().is_empty());
        let grace = Some("grace@example.com");
        let alan = Some("alan@example.com");
        add_accounts(
            &*store,
            vec![
                account_of("a1", grace, AccountStatus::Active),
                account_of("a2", grace, AccountStatus::Active),
                account_of("a3", grace, AccountStatus::Paused),
                account_of("a4", alan, AccountStatus::Churned),
                account_of("a5", alan, AccountStatus::Active),
                account_of("a6", None, AccountStatus::Active),
                account_of("a7", Some("zoe@example.com"), AccountStatus::Paused),
            ],
        )
        .await;
        assert_eq!(
            store.csm_loads().await.unwrap(),
            [
                ("alan@example.com".to_owned(), 1),
                ("grace@example.com".to_owned(), 2),
            ]
        );

        let mut churned = account_of("a1", grace, AccountStatus::Churned);
        churned.updated_at = at(HOUR);
        add_accounts(&*store, vec![churned]).await;
        assert_eq!(
            store.csm_loads().await.unwrap(),
            [
                ("alan@example.com".to_owned(), 1),
                ("grace@example.com".to_owned(), 1),
            ],
            "an account that churns leaves its CSM's load"
        );
    })
    .await;
}

#[tokio::test]
async fn accounts_are_listed_in_id_order_page_by_page() {
    for_each_backend(|db| async move {
        let store = db.store;
        let accounts: Vec<AccountState> = ["c", "a", "e", "b", "d"]
            .into_iter()
            .map(|id| account(id, at(0)))
            .collect();
        add_accounts(&*store, accounts.clone()).await;
        let page = |after: Option<&str>, limit: i64| {
            let store = store.clone();
            let filter = AccountFilter {
                after: after.map(str::to_owned),
                limit,
                ..AccountFilter::default()
            };
            async move {
                store
                    .list_accounts(&filter)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|a| a.id)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(page(None, 2).await, ["a", "b"]);
        assert_eq!(page(Some("b"), 2).await, ["c", "d"]);
        assert_eq!(page(Some("d"), 2).await, ["e"]);
        assert!(page(Some("e"), 2).await.is_empty());
        assert_eq!(
            page(None, 0).await,
            ["a", "b", "c", "d", "e"],
            "no limit: a full page"
        );

        let first = store
            .list_accounts(&AccountFilter {
                limit: 1,
                ..AccountFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(
            first,
            [accounts[1].clone()],
            "the whole state, as `account` gives it"
        );
    })
    .await;
}

#[tokio::test]
async fn accounts_are_listed_by_csm_and_by_status() {
    for_each_backend(|db| async move {
        let store = db.store;
        let grace = Some("grace@example.com");
        let alan = Some("alan@example.com");
        add_accounts(
            &*store,
            vec![
                account_of("a1", grace, AccountStatus::Active),
                account_of("a2", alan, AccountStatus::Active),
                account_of("a3", grace, AccountStatus::Paused),
                account_of("a4", grace, AccountStatus::Active),
                account_of("a5", None, AccountStatus::Paused),
            ],
        )
        .await;
        let list = |filter: AccountFilter| {
            let store = store.clone();
            async move {
                store
                    .list_accounts(&filter)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|a| a.id)
                    .collect::<Vec<_>>()
            }
        };
        let grace_s = || grace.map(str::to_owned);
        assert_eq!(
            list(AccountFilter {
                csm: grace_s(),
                ..AccountFilter::default()
            })
            .await,
            ["a1", "a3", "a4"]
        );
        assert_eq!(
            list(AccountFilter {
                status: Some("paused".to_owned()),
                ..AccountFilter::default()
            })
            .await,
            ["a3", "a5"]
        );
        assert_eq!(
            list(AccountFilter {
                csm: grace_s(),
                status: Some("active".to_owned()),
                ..AccountFilter::default()
            })
            .await,
            ["a1", "a4"]
        );
        assert_eq!(
            list(AccountFilter {
                csm: grace_s(),
                status: Some("active".to_owned()),
                after: Some("a1".to_owned()),
                limit: 1,
            })
            .await,
            ["a4"],
            "filters and the cursor together"
        );
        assert!(list(AccountFilter {
            csm: Some("nobody@example.com".to_owned()),
            ..AccountFilter::default()
        })
        .await
        .is_empty());
    })
    .await;
}

/// An account with a person, a deal and a field: something in the core and in parts.
fn won(id: &str) -> AccountState {
    let mut account = account(id, at(0));
    account
        .fields
        .insert("tier".into(), serde_json::json!("gold"));
    account.people.push(
        serde_json::from_value(serde_json::json!({"email": "ada@acme.test", "name": "Ada"}))
            .unwrap(),
    );
    account.alerts.push(
        serde_json::from_value(serde_json::json!({
            "identity": "acme/stalled/no login", "rule": "stalled", "channel": "success",
            "reason": "no login", "status": "open", "opened_at": at(0), "updated_at": at(0),
            "count": 1, "cause": "e1"
        }))
        .unwrap(),
    );
    account
}

#[tokio::test]
async fn a_batch_that_leaves_parts_unchanged_keeps_them_as_stored() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_accounts(&*store, vec![won("acme")]).await;
        let mut next = store.account("acme").await.unwrap().unwrap();
        assert_eq!(next, won("acme"), "read back whole");
        // A batch that says its parts are as stored writes the core only: a change to the
        // people it did not declare is not written.
        next.status = AccountStatus::Paused;
        next.updated_at = at(HOUR);
        let mut undeclared = next.clone();
        undeclared.people.clear();
        let lease = lease(&*store, "node-a", 0).await;
        let unchanged = PartSet::all();
        store
            .commit_batch(
                &lease,
                &ProcessedBatch {
                    processed_at: at(HOUR),
                    accounts: vec![undeclared],
                    unchanged: [("acme".to_owned(), unchanged)].into(),
                    ..ProcessedBatch::default()
                },
            )
            .await
            .unwrap();
        for read in [
            store.account("acme").await.unwrap().unwrap(),
            store
                .load_accounts(&["acme".into()])
                .await
                .unwrap()
                .remove(0),
            store
                .list_accounts(&AccountFilter::default())
                .await
                .unwrap()
                .remove(0),
        ] {
            assert_eq!(read, next);
        }

        // A part the batch changed is written, the others stay.
        next.people[0].name = "Ada L.".into();
        next.fields.clear();
        store
            .commit_batch(
                &lease,
                &ProcessedBatch {
                    processed_at: at(2 * HOUR),
                    accounts: vec![next.clone()],
                    unchanged: [("acme".to_owned(), PartSet::all().without(StatePart::People))]
                        .into(),
                    ..ProcessedBatch::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(store.account("acme").await.unwrap().unwrap(), next);
    })
    .await;
}

#[tokio::test]
async fn a_new_account_needs_no_rows_for_its_empty_parts() {
    for_each_backend(|db| async move {
        let store = db.store;
        let lease = lease(&*store, "node-a", 0).await;
        let state = won("acme");
        // As the processor says of an account it creates: the parts still empty are as
        // stored (none), so only the people and the alerts are written.
        let empty = PartSet::all()
            .without(StatePart::People)
            .without(StatePart::Alerts);
        store
            .commit_batch(
                &lease,
                &ProcessedBatch {
                    accounts: vec![state.clone()],
                    unchanged: [("acme".to_owned(), empty)].into(),
                    ..ProcessedBatch::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(store.account("acme").await.unwrap().unwrap(), state);
    })
    .await;
}

#[tokio::test]
async fn a_batch_that_keeps_the_lookup_columns_leaves_them_and_writes_the_rest() {
    for_each_backend(|db| async move {
        let store = db.store;
        let grace = Some("grace@example.com");
        add_accounts(
            &*store,
            vec![account_of("a1", grace, AccountStatus::Active)],
        )
        .await;
        let mut next = store.account("a1").await.unwrap().unwrap();
        next.name = "Acme Renamed".into();
        next.updated_at = at(HOUR);
        // Says the status, CSM and domain are as stored, yet moves the CSM: the column
        // the CSM loads are counted by is not rewritten; the state and the name are.
        let mut undeclared = next.clone();
        undeclared.csm = Some("alan@example.com".into());
        let lease = lease(&*store, "node-a", 0).await;
        store
            .commit_batch(
                &lease,
                &ProcessedBatch {
                    processed_at: at(HOUR),
                    accounts: vec![undeclared.clone()],
                    unchanged: [("a1".to_owned(), PartSet::all().with_lookups())].into(),
                    ..ProcessedBatch::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            store.csm_loads().await.unwrap(),
            [("grace@example.com".to_owned(), 1)]
        );
        assert_eq!(store.account("a1").await.unwrap().unwrap(), undeclared);
        let listed = store
            .list_accounts(&AccountFilter {
                csm: Some("grace@example.com".into()),
                ..AccountFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name, "Acme Renamed");
    })
    .await;
}
