//! Product usage linked to accounts at intake: held events of unknown users, links by email,
//! group and alias, held events moved into the log when their user is linked.

use crate::harness::{account, at, event, for_each_backend, lease, MINUTE, SECOND, T0};
use onboard_core::EventType;
use onboard_store::{
    Appended, EventFilter, ProcessedBatch, Store, UsageCall, UsageEvent, UsageOutcome,
};
use serde_json::json;

/// A usage event of `user`, keyed `segment:<id>`, at T0 + `ms`.
fn usage(id: &str, kind: &str, user: &str, ms: i64) -> UsageEvent {
    UsageEvent {
        key: format!("segment:{id}"),
        kind: EventType::parse(kind).unwrap(),
        user: user.to_owned(),
        at: at(ms),
        data: json!({ "user": user, "message_id": id }),
        email: None,
        group: None,
        domain: None,
    }
}

fn track(id: &str, user: &str, ms: i64) -> UsageCall {
    let mut event = usage(id, "product.track", user, ms);
    event.data["event"] = json!("Lead Imported");
    UsageCall::Event(event)
}

fn identify(id: &str, user: &str, email: &str, ms: i64) -> UsageCall {
    let mut event = usage(id, "product.identify", user, ms);
    event.email = Some(email.to_owned());
    event.data["traits"] = json!({ "email": email });
    UsageCall::Event(event)
}

fn group(id: &str, user: &str, group: &str, domain: Option<&str>, ms: i64) -> UsageCall {
    let mut event = usage(id, "product.group", user, ms);
    event.group = Some(group.to_owned());
    event.domain = domain.map(str::to_owned);
    event.data["group"] = json!(group);
    UsageCall::Event(event)
}

async fn ingest(store: &dyn Store, calls: Vec<UsageCall>, ms: i64) -> Vec<UsageOutcome> {
    store.append_intake(&[], calls, at(ms)).await.unwrap().usage
}

/// Commits accounts and the people they added, as the processor would.
async fn add_people(store: &dyn Store, accounts: &[(&str, Option<&str>)], people: &[(&str, &str)]) {
    let lease = lease(store, "node-a", 0).await;
    let accounts = accounts
        .iter()
        .map(|(id, domain)| {
            let mut state = account(id, T0);
            state.domain = domain.map(str::to_owned);
            state
        })
        .collect();
    store
        .commit_batch(
            &lease,
            &ProcessedBatch {
                processed_at: T0,
                accounts,
                people: people
                    .iter()
                    .map(|(a, e)| ((*a).to_owned(), (*e).to_owned()))
                    .collect(),
                ..ProcessedBatch::default()
            },
        )
        .await
        .unwrap();
}

/// `(key, kind, email)` of an account's events, in log order.
async fn logged(store: &dyn Store, account: &str) -> Vec<(String, String, Option<String>)> {
    store
        .list_events(&EventFilter {
            account: Some(account.to_owned()),
            ..EventFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            let email = e.data["email"].as_str().map(str::to_owned);
            (e.key, e.kind.as_str().to_owned(), email)
        })
        .collect()
}

fn entry(key: &str, kind: &str, email: Option<&str>) -> (String, String, Option<String>) {
    (key.to_owned(), kind.to_owned(), email.map(str::to_owned))
}

#[tokio::test]
async fn events_of_an_unknown_user_are_held_and_logged_nowhere() {
    for_each_backend(|db| async move {
        let store = db.store;
        let outcomes = ingest(&*store, vec![track("t1", "u1", 0)], 0).await;
        assert_eq!(outcomes, vec![UsageOutcome::Held]);
        let all = store.list_events(&EventFilter::default()).await.unwrap();
        assert!(all.is_empty(), "{all:?}");
        let user = store.product_user("u1").await.unwrap().unwrap();
        assert_eq!(user.account, None);
    })
    .await;
}

#[tokio::test]
async fn an_identify_with_a_known_email_links_the_user_and_moves_their_held_events_first() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_people(&*store, &[("acme", None)], &[("acme", "ada@acme.test")]).await;
        ingest(
            &*store,
            vec![track("t1", "u1", 0), track("t2", "u1", SECOND)],
            0,
        )
        .await;
        let outcomes = ingest(
            &*store,
            vec![identify("i1", "u1", "ada@acme.test", MINUTE)],
            MINUTE,
        )
        .await;
        assert!(
            matches!(outcomes[..], [UsageOutcome::Appended(_)]),
            "{outcomes:?}"
        );
        assert_eq!(
            logged(&*store, "acme").await,
            vec![
                entry("segment:t1", "product.track", Some("ada@acme.test")),
                entry("segment:t2", "product.track", Some("ada@acme.test")),
                entry("segment:i1", "product.identify", Some("ada@acme.test")),
            ]
        );
        let user = store.product_user("u1").await.unwrap().unwrap();
        assert_eq!(user.account.as_deref(), Some("acme"));
        assert_eq!(user.linked_at, Some(at(MINUTE)));

        let later = ingest(&*store, vec![track("t3", "u1", 2 * MINUTE)], 2 * MINUTE).await;
        assert!(
            matches!(later[..], [UsageOutcome::Appended(_)]),
            "{later:?}"
        );
        assert_eq!(
            logged(&*store, "acme").await.last(),
            Some(&entry("segment:t3", "product.track", Some("ada@acme.test"))),
            "a linked user's events carry the email they were linked with"
        );
    })
    .await;
}

#[tokio::test]
async fn held_events_earlier_in_the_same_batch_move_before_the_event_that_links() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_people(&*store, &[("acme", None)], &[("acme", "ada@acme.test")]).await;
        let outcomes = ingest(
            &*store,
            vec![
                track("t1", "u1", 0),
                identify("i1", "u1", "ada@acme.test", SECOND),
            ],
            SECOND,
        )
        .await;
        assert!(
            matches!(outcomes[..], [UsageOutcome::Appended(a), UsageOutcome::Appended(b)] if a < b),
            "{outcomes:?}"
        );
        assert_eq!(logged(&*store, "acme").await.len(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_person_added_later_links_the_users_who_identified_with_their_email() {
    for_each_backend(|db| async move {
        let store = db.store;
        let outcomes = ingest(
            &*store,
            vec![
                identify("i1", "u1", "ada@acme.test", 0),
                track("t1", "u1", SECOND),
            ],
            SECOND,
        )
        .await;
        assert_eq!(outcomes, vec![UsageOutcome::Held, UsageOutcome::Held]);

        add_people(&*store, &[("acme", None)], &[("acme", "ada@acme.test")]).await;

        assert_eq!(
            logged(&*store, "acme").await,
            vec![
                entry("segment:i1", "product.identify", Some("ada@acme.test")),
                entry("segment:t1", "product.track", Some("ada@acme.test")),
            ]
        );
        let backlog = store.processing_backlog().await.unwrap();
        assert_eq!(backlog.n_events, 2, "moved events wait for the processor");
        let user = store.product_user("u1").await.unwrap().unwrap();
        assert_eq!(user.account.as_deref(), Some("acme"));
        let again = ingest(&*store, vec![track("t1", "u1", SECOND)], 2 * SECOND).await;
        assert_eq!(again, vec![UsageOutcome::Duplicate], "moved, not copied");
    })
    .await;
}

#[tokio::test]
async fn a_group_links_by_its_domain_when_exactly_one_account_has_it() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_people(
            &*store,
            &[("acme", Some("acme.test")), ("globex", Some("globex.test"))],
            &[],
        )
        .await;
        ingest(&*store, vec![track("t1", "u1", 0)], 0).await;
        let outcomes = ingest(
            &*store,
            vec![group("g1", "u1", "org-42", Some("acme.test"), SECOND)],
            SECOND,
        )
        .await;
        assert!(
            matches!(outcomes[..], [UsageOutcome::Appended(_)]),
            "{outcomes:?}"
        );
        assert_eq!(
            logged(&*store, "acme").await,
            vec![
                entry("segment:t1", "product.track", None),
                entry("segment:g1", "product.group", None),
            ]
        );

        // Another user of the same group, named by `context.groupId` on a track.
        let mut other = usage("t2", "product.track", "u2", 2 * SECOND);
        other.group = Some("org-42".to_owned());
        let outcomes = ingest(&*store, vec![UsageCall::Event(other)], 2 * SECOND).await;
        assert!(
            matches!(outcomes[..], [UsageOutcome::Appended(_)]),
            "{outcomes:?}"
        );
        assert_eq!(
            store
                .product_user("u2")
                .await
                .unwrap()
                .unwrap()
                .account
                .as_deref(),
            Some("acme")
        );
    })
    .await;
}

#[tokio::test]
async fn a_domain_of_several_accounts_links_nobody() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_people(
            &*store,
            &[
                ("acme-eu", Some("acme.test")),
                ("acme-us", Some("acme.test")),
            ],
            &[],
        )
        .await;
        let outcomes = ingest(
            &*store,
            vec![group("g1", "u1", "org-42", Some("acme.test"), 0)],
            0,
        )
        .await;
        assert_eq!(outcomes, vec![UsageOutcome::Held]);
    })
    .await;
}

#[tokio::test]
async fn a_group_whose_id_is_an_account_id_links_its_users() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_people(&*store, &[("acme", None)], &[]).await;
        let outcomes = ingest(&*store, vec![group("g1", "u1", "acme", None, 0)], 0).await;
        assert!(
            matches!(outcomes[..], [UsageOutcome::Appended(_)]),
            "{outcomes:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn an_email_known_at_several_accounts_waits_for_the_users_group() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_people(
            &*store,
            &[("acme", None), ("globex", None)],
            &[("acme", "ada@consult.test"), ("globex", "ada@consult.test")],
        )
        .await;
        let outcomes = ingest(
            &*store,
            vec![identify("i1", "u1", "ada@consult.test", 0)],
            0,
        )
        .await;
        assert_eq!(outcomes, vec![UsageOutcome::Held], "ambiguous: kept back");
        let outcomes = ingest(
            &*store,
            vec![group("g1", "u1", "globex", None, SECOND)],
            SECOND,
        )
        .await;
        assert!(
            matches!(outcomes[..], [UsageOutcome::Appended(_)]),
            "{outcomes:?}"
        );
        assert_eq!(
            logged(&*store, "globex").await,
            vec![
                entry("segment:i1", "product.identify", Some("ada@consult.test")),
                entry("segment:g1", "product.group", Some("ada@consult.test")),
            ]
        );
        assert!(logged(&*store, "acme").await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_message_id_seen_before_is_a_duplicate_whether_logged_or_held() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_people(&*store, &[("acme", None)], &[("acme", "ada@acme.test")]).await;
        ingest(&*store, vec![identify("i1", "u1", "ada@acme.test", 0)], 0).await;
        ingest(&*store, vec![track("h1", "stranger", 0)], 0).await;
        let outcomes = ingest(
            &*store,
            vec![
                track("x1", "u1", SECOND),
                identify("i1", "u1", "ada@acme.test", 0),
                track("h1", "stranger", 0),
                track("x1", "u1", SECOND),
            ],
            SECOND,
        )
        .await;
        assert!(
            matches!(
                outcomes[..],
                [
                    UsageOutcome::Appended(_),
                    UsageOutcome::Duplicate,
                    UsageOutcome::Duplicate,
                    UsageOutcome::Duplicate
                ]
            ),
            "{outcomes:?}"
        );
        assert_eq!(logged(&*store, "acme").await.len(), 2);
    })
    .await;
}

#[tokio::test]
async fn an_alias_links_the_previous_id_to_the_users_account() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_people(&*store, &[("acme", None)], &[("acme", "ada@acme.test")]).await;
        ingest(&*store, vec![track("p1", "anon:a-1", 0)], 0).await;
        ingest(
            &*store,
            vec![identify("i1", "u1", "ada@acme.test", SECOND)],
            SECOND,
        )
        .await;
        let outcomes = ingest(
            &*store,
            vec![UsageCall::Alias {
                previous: "anon:a-1".to_owned(),
                user: "u1".to_owned(),
            }],
            2 * SECOND,
        )
        .await;
        assert_eq!(outcomes, vec![UsageOutcome::Aliased]);
        assert_eq!(
            logged(&*store, "acme").await,
            vec![
                entry("segment:i1", "product.identify", Some("ada@acme.test")),
                entry("segment:p1", "product.track", Some("ada@acme.test")),
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn usage_and_other_events_share_one_transaction() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_people(&*store, &[("acme", None)], &[("acme", "ada@acme.test")]).await;
        let both = store
            .append_intake(
                &[event("deal-1", "deal.won", "acme", T0)],
                vec![identify("i1", "u1", "ada@acme.test", 0)],
                at(0),
            )
            .await
            .unwrap();
        let (Appended::New(deal), [UsageOutcome::Appended(usage)]) =
            (both.events[0], both.usage.as_slice())
        else {
            panic!("{both:?}");
        };
        assert!(deal < *usage);
    })
    .await;
}

/// A held event whose key reached the log meanwhile (as an ordinary event of another
/// intake) is left out when its user is linked: the logged one stands, and the link, the
/// user's other events and the intake's other events go through. The same whether an
/// identify links the user or a batch that adds a person with their email.
#[tokio::test]
async fn a_held_event_whose_key_reached_the_log_meanwhile_is_left_out_when_its_user_is_linked() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_people(&*store, &[("acme", None)], &[("acme", "ada@acme.test")]).await;
        ingest(&*store, vec![track("t1", "u1", 0)], 0).await;
        ingest(
            &*store,
            vec![
                identify("i2", "u2", "bob@acme.test", 0),
                track("t2", "u2", 0),
            ],
            0,
        )
        .await;
        let taken = [
            event("segment:t1", "academy.login", "acme", at(0)),
            event("segment:t2", "academy.login", "acme", at(0)),
        ];
        store.append_events(&taken, at(SECOND)).await.unwrap();

        // u1 is linked by the email of an identify: its held `t1` meets the logged one.
        let both = store
            .append_intake(
                &[event("plain", "academy.login", "acme", at(MINUTE))],
                vec![identify("i1", "u1", "ada@acme.test", MINUTE)],
                at(MINUTE),
            )
            .await
            .unwrap();
        assert!(matches!(both.events[0], Appended::New(_)), "{both:?}");
        assert!(
            matches!(both.usage[..], [UsageOutcome::Appended(_)]),
            "{both:?}"
        );
        assert_eq!(
            store.product_user("u1").await.unwrap().unwrap().account,
            Some("acme".to_owned())
        );

        // u2 is linked by a batch that adds a person with its email: `t2` meets the logged one.
        let lease = lease(&*store, "node-a", 0).await;
        store
            .commit_batch(
                &lease,
                &ProcessedBatch {
                    processed_at: T0,
                    people: vec![("acme".to_owned(), "bob@acme.test".to_owned())],
                    ..ProcessedBatch::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            store.product_user("u2").await.unwrap().unwrap().account,
            Some("acme".to_owned())
        );
        assert_eq!(
            logged(&*store, "acme").await,
            vec![
                entry("segment:t1", "academy.login", None),
                entry("segment:t2", "academy.login", None),
                entry("plain", "academy.login", None),
                entry("segment:i1", "product.identify", Some("ada@acme.test")),
                entry("segment:i2", "product.identify", Some("bob@acme.test")),
            ]
        );
        // Nothing of u2 is held any more: another event of theirs goes straight to the log.
        let outcomes = ingest(&*store, vec![track("t3", "u2", MINUTE)], MINUTE).await;
        assert!(
            matches!(outcomes[..], [UsageOutcome::Appended(_)]),
            "{outcomes:?}"
        );
    })
    .await;
}
