//! Signing people in: single-use sign-in tokens (only their hashes are stored), the newest
//! link of a person revoking the older ones, and the sessions a sign-in opens.

use crate::harness::{at, for_each_backend, HOUR, MINUTE, T0};
use onboard_core::Timestamp;
use onboard_store::{NewSession, NewSignInToken, SessionRecord, SignInGrant, StoreError};

/// A sign-in token for `email` at account `acme`, issued at `issued` (ms after T0) for
/// 15 minutes.
fn token(hash: &str, email: &str, issued: i64, message: Option<&str>) -> NewSignInToken {
    NewSignInToken {
        token_hash: hash.to_owned(),
        account: "acme".to_owned(),
        email: email.to_owned(),
        purpose: "sign_in".to_owned(),
        message_id: message.map(str::to_owned),
        created_at: at(issued),
        expires_at: at(issued + 15 * MINUTE),
    }
}

fn grant(email: &str) -> SignInGrant {
    SignInGrant {
        account: "acme".to_owned(),
        email: email.to_owned(),
        purpose: "sign_in".to_owned(),
    }
}

fn session(id_hash: &str, expires_at: Timestamp) -> NewSession {
    NewSession {
        id_hash: id_hash.to_owned(),
        account: "acme".to_owned(),
        email: "ada@example.com".to_owned(),
        kind: "magic_link".to_owned(),
        created_at: T0,
        expires_at,
    }
}

#[tokio::test]
async fn a_sign_in_token_is_consumed_once_then_refused() {
    for_each_backend(|db| async move {
        let store = db.store;
        store
            .issue_sign_in_token(&token("h1", "ada@example.com", 0, Some("m1")))
            .await
            .unwrap();
        assert_eq!(
            store.consume_sign_in_token("h1", at(MINUTE)).await.unwrap(),
            Some(grant("ada@example.com"))
        );
        assert_eq!(
            store
                .consume_sign_in_token("h1", at(2 * MINUTE))
                .await
                .unwrap(),
            None
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sign_in_token_consumed_by_many_at_once_is_granted_once() {
    for_each_backend(|db| async move {
        let store = db.store.clone();
        store
            .issue_sign_in_token(&token("h1", "ada@example.com", 0, None))
            .await
            .unwrap();
        let mut nodes = vec![store.clone()];
        for _ in 0..3 {
            nodes.push(db.another_node().await);
        }
        let attempts = nodes.iter().cycle().take(16).map(|node| {
            let node = node.clone();
            tokio::spawn(async move { node.consume_sign_in_token("h1", at(MINUTE)).await })
        });
        let grants = futures::future::join_all(attempts)
            .await
            .into_iter()
            .map(|joined| joined.unwrap().unwrap())
            .filter(Option::is_some)
            .count();
        assert_eq!(grants, 1);
    })
    .await;
}

#[tokio::test]
async fn a_sign_in_token_is_refused_from_the_instant_it_expires() {
    for_each_backend(|db| async move {
        let store = db.store;
        let issued = token("h1", "ada@example.com", 0, None);
        store.issue_sign_in_token(&issued).await.unwrap();
        assert_eq!(
            store
                .consume_sign_in_token("h1", issued.expires_at)
                .await
                .unwrap(),
            None,
            "expired at expires_at"
        );
        assert_eq!(
            store
                .consume_sign_in_token("h1", Timestamp(issued.expires_at.0 - 1))
                .await
                .unwrap(),
            Some(grant("ada@example.com")),
            "valid until just before, and the refusal did not use it up"
        );
    })
    .await;
}

#[tokio::test]
async fn an_unknown_sign_in_token_is_refused() {
    for_each_backend(|db| async move {
        let store = db.store;
        store
            .issue_sign_in_token(&token("h1", "ada@example.com", 0, None))
            .await
            .unwrap();
        assert_eq!(
            store.consume_sign_in_token("h2", at(MINUTE)).await.unwrap(),
            None
        );
    })
    .await;
}

#[tokio::test]
async fn issuing_a_sign_in_token_revokes_the_older_unused_ones_of_the_same_person() {
    for_each_backend(|db| async move {
        let store = db.store;
        for issued in [
            token("ada-1", "ada@example.com", 0, Some("m1")),
            token("bob-1", "bob@example.com", 0, Some("m2")),
            token("ada-2", "ada@example.com", MINUTE, Some("m1")),
        ] {
            store.issue_sign_in_token(&issued).await.unwrap();
        }
        let consume = |hash: &'static str| {
            let store = store.clone();
            async move {
                store
                    .consume_sign_in_token(hash, at(2 * MINUTE))
                    .await
                    .unwrap()
            }
        };
        assert_eq!(consume("ada-1").await, None, "revoked by ada-2");
        assert_eq!(
            consume("bob-1").await,
            Some(grant("bob@example.com")),
            "another person's token stays valid"
        );
        assert_eq!(consume("ada-2").await, Some(grant("ada@example.com")));
    })
    .await;
}

#[tokio::test]
async fn issuing_a_sign_in_token_whose_hash_is_taken_is_a_conflict_and_revokes_nothing() {
    for_each_backend(|db| async move {
        let store = db.store;
        store
            .issue_sign_in_token(&token("h1", "ada@example.com", 0, None))
            .await
            .unwrap();
        let again = store
            .issue_sign_in_token(&token("h1", "ada@example.com", MINUTE, None))
            .await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
        assert_eq!(
            store
                .consume_sign_in_token("h1", at(2 * MINUTE))
                .await
                .unwrap(),
            Some(grant("ada@example.com")),
            "the revocation was rolled back with the insert"
        );
    })
    .await;
}

#[tokio::test]
async fn sign_in_links_before_counts_every_token_issued_but_those_of_the_given_message() {
    for_each_backend(|db| async move {
        let store = db.store;
        let count = |email: &'static str, other_than: Option<&'static str>| {
            let store = store.clone();
            async move {
                store
                    .sign_in_links_before("acme", email, other_than)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(count("ada@example.com", None).await, 0);
        assert_eq!(count("ada@example.com", Some("m1")).await, 0);
        for issued in [
            token("h1", "ada@example.com", 0, Some("m1")),
            // A retried delivery of the same message makes a fresh token.
            token("h2", "ada@example.com", MINUTE, Some("m1")),
            token("h3", "ada@example.com", 2 * MINUTE, Some("m2")),
            token("h4", "ada@example.com", 3 * MINUTE, None),
            token("h5", "bob@example.com", 3 * MINUTE, Some("m1")),
        ] {
            store.issue_sign_in_token(&issued).await.unwrap();
        }
        store
            .consume_sign_in_token("h4", at(4 * MINUTE))
            .await
            .unwrap()
            .unwrap();

        assert_eq!(
            count("ada@example.com", None).await,
            4,
            "revoked and used ones too"
        );
        assert_eq!(count("ada@example.com", Some("m1")).await, 2);
        assert_eq!(count("ada@example.com", Some("m2")).await, 3);
        assert_eq!(count("ada@example.com", Some("m9")).await, 4);
        assert_eq!(count("bob@example.com", Some("m1")).await, 0);
        assert_eq!(
            store
                .sign_in_links_before("globex", "ada@example.com", None)
                .await
                .unwrap(),
            0,
            "another account's person is another person"
        );
    })
    .await;
}

#[tokio::test]
async fn the_counts_of_a_delivery_round_are_read_at_once_in_order() {
    for_each_backend(|db| async move {
        let store = db.store;
        for issued in [
            token("h1", "ada@example.com", 0, Some("m1")),
            token("h2", "ada@example.com", MINUTE, Some("m2")),
            token("h3", "bob@example.com", MINUTE, Some("m3")),
        ] {
            store.issue_sign_in_token(&issued).await.unwrap();
        }
        let wanted = |account: &str, email: &str, message: &str| {
            (account.to_owned(), email.to_owned(), message.to_owned())
        };
        let counts = store
            .sign_in_links_before_each(&[
                wanted("acme", "ada@example.com", "m1"),
                wanted("acme", "bob@example.com", "m9"),
                wanted("acme", "ada@example.com", "m9"),
                wanted("globex", "ada@example.com", "m1"),
                wanted("acme", "eve@example.com", "m4"),
            ])
            .await
            .unwrap();
        assert_eq!(counts, [1, 1, 2, 0, 0]);
        assert!(store
            .sign_in_links_before_each(&[])
            .await
            .unwrap()
            .is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_session_is_found_until_it_expires() {
    for_each_backend(|db| async move {
        let store = db.store;
        store
            .create_session(&session("s1", at(HOUR)))
            .await
            .unwrap();
        let expected = SessionRecord {
            account: "acme".to_owned(),
            email: "ada@example.com".to_owned(),
            kind: "magic_link".to_owned(),
            created_at: T0,
            expires_at: at(HOUR),
        };
        assert_eq!(
            store.session("s1", T0).await.unwrap(),
            Some(expected.clone())
        );
        assert_eq!(
            store.session("s1", at(HOUR - 1)).await.unwrap(),
            Some(expected)
        );
        assert_eq!(store.session("s1", at(HOUR)).await.unwrap(), None);
        assert_eq!(store.session("nope", T0).await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn a_session_is_not_found_once_ended() {
    for_each_backend(|db| async move {
        let store = db.store;
        store
            .create_session(&session("s1", at(HOUR)))
            .await
            .unwrap();
        store
            .create_session(&session("s2", at(HOUR)))
            .await
            .unwrap();
        store.end_session("s1", at(MINUTE)).await.unwrap();
        assert_eq!(store.session("s1", at(2 * MINUTE)).await.unwrap(), None);
        assert!(
            store.session("s2", at(2 * MINUTE)).await.unwrap().is_some(),
            "the person's other session lives on"
        );
        store.end_session("s1", at(2 * MINUTE)).await.unwrap();
        store.end_session("nope", at(2 * MINUTE)).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn creating_a_session_whose_id_hash_is_taken_is_a_conflict() {
    for_each_backend(|db| async move {
        let store = db.store;
        store
            .create_session(&session("s1", at(HOUR)))
            .await
            .unwrap();
        let again = store.create_session(&session("s1", at(2 * HOUR))).await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    })
    .await;
}

#[tokio::test]
async fn the_accounts_where_an_email_was_sent_a_link_are_found_by_the_email_alone() {
    for_each_backend(|db| async move {
        let store = db.store;
        let mut globex = token("h2", "ada@example.com", 0, None);
        globex.account = "globex".to_owned();
        store.issue_sign_in_token(&globex).await.unwrap();
        store
            .issue_sign_in_token(&token("h1", "ada@example.com", 0, None))
            .await
            .unwrap();
        store
            .issue_sign_in_token(&token("h3", "ada@example.com", MINUTE, None))
            .await
            .unwrap();
        store
            .issue_sign_in_token(&token("h4", "bob@example.com", 0, None))
            .await
            .unwrap();
        assert_eq!(
            store.sign_in_accounts("ada@example.com").await.unwrap(),
            ["acme", "globex"]
        );
        assert!(store
            .sign_in_accounts("nobody@example.com")
            .await
            .unwrap()
            .is_empty());
    })
    .await;
}

/// A one-time code of `email` at account `acme`, issued at `issued` (ms after T0) for 15
/// minutes, stored under `hash`.
fn code(hash: &str, email: &str, issued: i64) -> NewSignInToken {
    NewSignInToken {
        purpose: onboard_store::SIGN_IN_CODE.to_owned(),
        ..token(hash, email, issued, Some("m-code"))
    }
}

fn code_grant(email: &str) -> SignInGrant {
    SignInGrant {
        purpose: onboard_store::SIGN_IN_CODE.to_owned(),
        ..grant(email)
    }
}

const ADA: &str = "ada@example.com";

fn hashes(of: &[&str]) -> Vec<String> {
    of.iter().map(|h| (*h).to_owned()).collect()
}

#[tokio::test]
async fn a_sign_in_code_is_used_once() {
    for_each_backend(|db| async move {
        let store = db.store;
        store
            .issue_sign_in_token(&code("c1", ADA, 0))
            .await
            .unwrap();
        let try_code = |hash: &'static str, at_ms: i64| {
            let store = store.clone();
            async move {
                store
                    .consume_sign_in_code(ADA, &hashes(&[hash]), 5, at(at_ms))
                    .await
                    .unwrap()
            }
        };
        assert_eq!(try_code("c1", MINUTE).await, Some(code_grant(ADA)));
        assert_eq!(try_code("c1", 2 * MINUTE).await, None);
    })
    .await;
}

#[tokio::test]
async fn a_sign_in_code_is_refused_from_the_instant_it_expires() {
    for_each_backend(|db| async move {
        let store = db.store;
        store
            .issue_sign_in_token(&code("c1", ADA, 0))
            .await
            .unwrap();
        assert_eq!(
            store
                .consume_sign_in_code(ADA, &hashes(&["c1"]), 5, at(15 * MINUTE))
                .await
                .unwrap(),
            None
        );
    })
    .await;
}

#[tokio::test]
async fn a_sign_in_code_dies_after_the_given_number_of_wrong_tries() {
    for_each_backend(|db| async move {
        let store = db.store;
        store
            .issue_sign_in_token(&code("c1", ADA, 0))
            .await
            .unwrap();
        for _ in 0..5 {
            let wrong = store
                .consume_sign_in_code(ADA, &hashes(&["wrong"]), 5, at(MINUTE))
                .await
                .unwrap();
            assert_eq!(wrong, None);
        }
        assert_eq!(
            store
                .consume_sign_in_code(ADA, &hashes(&["c1"]), 5, at(MINUTE))
                .await
                .unwrap(),
            None,
            "dead"
        );
    })
    .await;
}

#[tokio::test]
async fn wrong_tries_of_another_address_leave_a_code_alone() {
    for_each_backend(|db| async move {
        let store = db.store;
        store
            .issue_sign_in_token(&code("c1", ADA, 0))
            .await
            .unwrap();
        for _ in 0..5 {
            store
                .consume_sign_in_code("eve@example.com", &hashes(&["c1"]), 5, at(MINUTE))
                .await
                .unwrap();
        }
        assert_eq!(
            store
                .consume_sign_in_code(ADA, &hashes(&["c1"]), 5, at(MINUTE))
                .await
                .unwrap(),
            Some(code_grant(ADA))
        );
    })
    .await;
}

#[tokio::test]
async fn a_newer_code_revokes_the_older_but_not_the_persons_link() {
    for_each_backend(|db| async move {
        let store = db.store;
        store
            .issue_sign_in_token(&token("link", ADA, 0, Some("m1")))
            .await
            .unwrap();
        store
            .issue_sign_in_token(&code("c1", ADA, MINUTE))
            .await
            .unwrap();
        store
            .issue_sign_in_token(&code("c2", ADA, 2 * MINUTE))
            .await
            .unwrap();
        assert_eq!(
            store
                .consume_sign_in_code(ADA, &hashes(&["c1"]), 5, at(3 * MINUTE))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .consume_sign_in_code(ADA, &hashes(&["c2"]), 5, at(3 * MINUTE))
                .await
                .unwrap(),
            Some(code_grant(ADA))
        );
        assert_eq!(
            store
                .consume_sign_in_token("link", at(3 * MINUTE))
                .await
                .unwrap(),
            Some(grant(ADA))
        );
        assert_eq!(
            store.sign_in_links_before("acme", ADA, None).await.unwrap(),
            1,
            "codes are not links"
        );
    })
    .await;
}

#[tokio::test]
async fn a_code_is_never_spent_as_a_links_token() {
    for_each_backend(|db| async move {
        let store = db.store;
        store
            .issue_sign_in_token(&code("c1", ADA, 0))
            .await
            .unwrap();
        assert_eq!(
            store.consume_sign_in_token("c1", at(MINUTE)).await.unwrap(),
            None
        );
        assert_eq!(
            store
                .consume_sign_in_code(ADA, &hashes(&["c1"]), 5, at(MINUTE))
                .await
                .unwrap(),
            Some(code_grant(ADA))
        );
    })
    .await;
}

/// Who each token signs in when spent at `when` (`None`: refused), token by token.
async fn spent(
    store: &dyn onboard_store::Store,
    hashes: &[&str],
    when: Timestamp,
) -> Vec<Option<String>> {
    let mut who = Vec::new();
    for hash in hashes {
        let grant = store.consume_sign_in_token(hash, when).await.unwrap();
        who.push(grant.map(|g| g.email));
    }
    who
}

#[tokio::test]
async fn tokens_issued_at_once_each_revoke_only_their_own_person_s_earlier_ones() {
    for_each_backend(|db| async move {
        let store = db.store;
        store
            .issue_sign_in_tokens(&[
                token("ada-1", "ada@example.com", 0, None),
                token("bob-1", "bob@example.com", 0, None),
            ])
            .await
            .unwrap();
        store
            .issue_sign_in_tokens(&[
                token("ada-2", "ada@example.com", MINUTE, None),
                token("eve-1", "eve@example.com", MINUTE, None),
            ])
            .await
            .unwrap();

        assert_eq!(
            spent(
                &*store,
                &["ada-1", "ada-2", "bob-1", "eve-1"],
                at(2 * MINUTE)
            )
            .await,
            [
                None,
                Some("ada@example.com".to_owned()),
                Some("bob@example.com".to_owned()),
                Some("eve@example.com".to_owned())
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn of_two_tokens_issued_at_once_for_one_person_the_later_one_stands() {
    for_each_backend(|db| async move {
        let store = db.store;
        store
            .issue_sign_in_tokens(&[
                token("ada-1", "ada@example.com", 0, None),
                token("bob-1", "bob@example.com", 0, None),
                token("ada-2", "ada@example.com", 0, None),
            ])
            .await
            .unwrap();

        assert_eq!(
            spent(&*store, &["ada-1", "ada-2", "bob-1"], at(MINUTE)).await,
            [
                None,
                Some("ada@example.com".to_owned()),
                Some("bob@example.com".to_owned())
            ]
        );
    })
    .await;
}
