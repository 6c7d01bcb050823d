//! The portfolio: one row per account written with the processor's batches, read a page at
//! a time by CSM, status, stage, flag and search, in any order, with the book's counts.

use crate::harness::{at, for_each_backend, lease, HOUR, T0};
use onboard_core::portfolio::Summary;
use onboard_core::Timestamp;
use onboard_store::{Flag, PortfolioQuery, ProcessedBatch, SortKey, Store};

fn row(account: &str, name: &str, csm: &str) -> Summary {
    Summary {
        account: account.to_owned(),
        name: name.to_owned(),
        status: "active".to_owned(),
        csm: Some(csm.to_owned()),
        stage: "onboarding".to_owned(),
        progress: 0,
        deal_won_at: Some(at(0)),
        aha_at: None,
        health: None,
        goal_status: None,
        overdue_tasks: 0,
        open_alerts: 0,
        last_alert_at: None,
        open_team_tasks: 0,
        stalled_from: None,
        power_user: false,
        people: 1,
        updated_at: at(0),
    }
}

async fn write(store: &dyn Store, summaries: Vec<Summary>) {
    let lease = lease(store, "node-a", 0).await;
    store
        .commit_batch(
            &lease,
            &ProcessedBatch {
                processed_at: T0,
                summaries,
                ..ProcessedBatch::default()
            },
        )
        .await
        .unwrap();
}

fn names(rows: &[Summary]) -> Vec<&str> {
    rows.iter().map(|r| r.name.as_str()).collect()
}

fn query() -> PortfolioQuery {
    PortfolioQuery::at(at(0))
}

#[tokio::test]
async fn a_summary_written_again_replaces_the_row() {
    for_each_backend(|db| async move {
        let store = db.store;
        write(&*store, vec![row("a1", "Acme", "dana@x.example")]).await;
        let mut changed = row("a1", "Acme Corp", "dana@x.example");
        changed.progress = 40;
        changed.health = Some(72);
        changed.goal_status = Some("at_risk".to_owned());
        write(&*store, vec![changed.clone()]).await;
        let page = store.portfolio(&query()).await.unwrap();
        assert_eq!(page.rows, vec![changed]);
        assert_eq!((page.total, page.book), (1, 1));
    })
    .await;
}

#[tokio::test]
async fn a_csm_sees_their_own_book_and_search_finds_by_name_or_key_in_any_case() {
    for_each_backend(|db| async move {
        let store = db.store;
        write(
            &*store,
            vec![
                row("acme", "Acme Corp", "dana@x.example"),
                row("globex", "Globex", "dana@x.example"),
                row("initech", "Initech", "marcus@x.example"),
                row("under_score", "100% Juice", "dana@x.example"),
            ],
        )
        .await;
        let mine = PortfolioQuery {
            csm: Some("dana@x.example".into()),
            ..query()
        };
        let page = store.portfolio(&mine).await.unwrap();
        assert_eq!(names(&page.rows), ["100% Juice", "Acme Corp", "Globex"]);
        let search = |s: &str| PortfolioQuery {
            search: Some(s.into()),
            ..mine.clone()
        };
        let found = store.portfolio(&search("ACME")).await.unwrap();
        assert_eq!(names(&found.rows), ["Acme Corp"]);
        let found = store.portfolio(&search("glob")).await.unwrap();
        assert_eq!(names(&found.rows), ["Globex"]);
        // Wildcards in the search are plain characters.
        let found = store.portfolio(&search("0%")).await.unwrap();
        assert_eq!(names(&found.rows), ["100% Juice"]);
        let found = store.portfolio(&search("_")).await.unwrap();
        assert_eq!(names(&found.rows), ["100% Juice"]);
    })
    .await;
}

#[tokio::test]
async fn flags_narrow_the_page_and_are_counted_over_the_book() {
    for_each_backend(|db| async move {
        let store = db.store;
        let mut stalled = row("s", "Stalled", "d");
        stalled.stalled_from = Some(at(72 * HOUR));
        let mut overdue = row("o", "Overdue", "d");
        overdue.overdue_tasks = 2;
        overdue.aha_at = Some(at(HOUR));
        let mut risky = row("r", "Risky", "d");
        risky.goal_status = Some("missed".to_owned());
        let mut power = row("p", "Power", "d");
        power.power_user = true;
        power.open_alerts = 1;
        power.last_alert_at = Some(at(HOUR));
        let mut paused = row("z", "Paused", "d");
        paused.status = "paused".to_owned();
        paused.stalled_from = Some(at(0));
        write(&*store, vec![stalled, overdue, risky, power, paused]).await;

        let before = store.portfolio(&query()).await.unwrap();
        let count = |page: &onboard_store::PortfolioPage, flag: Flag| {
            page.flags.iter().find(|(f, _)| *f == flag).unwrap().1
        };
        assert_eq!(count(&before, Flag::Stalled), 0, "not yet 72 hours");
        let later = PortfolioQuery {
            now: at(72 * HOUR),
            ..query()
        };
        let page = store.portfolio(&later).await.unwrap();
        assert_eq!(
            count(&page, Flag::Stalled),
            1,
            "a paused account is not stalled"
        );
        assert_eq!(count(&page, Flag::Overdue), 1);
        assert_eq!(count(&page, Flag::AtRisk), 1);
        assert_eq!(count(&page, Flag::PowerUser), 1);
        assert_eq!(count(&page, Flag::Alerts), 1);
        assert_eq!(count(&page, Flag::NoAha), 4);
        let only = |flag| PortfolioQuery {
            flag: Some(flag),
            ..later.clone()
        };
        let page = store.portfolio(&only(Flag::Stalled)).await.unwrap();
        assert_eq!(
            (names(&page.rows), page.total, page.book),
            (vec!["Stalled"], 1, 5)
        );
        let page = store.portfolio(&only(Flag::Alerts)).await.unwrap();
        assert_eq!(names(&page.rows), ["Power"]);
    })
    .await;
}

#[tokio::test]
async fn pages_are_stable_in_any_order_with_unknown_values_last() {
    for_each_backend(|db| async move {
        let store = db.store;
        let mut rows = Vec::new();
        for i in 0..7 {
            let mut r = row(&format!("a{i}"), &format!("Account {i}"), "d");
            r.health = (i % 3 != 0).then_some(10 * i);
            r.deal_won_at = Some(Timestamp(T0.0 + i64::from(i) * HOUR));
            rows.push(r);
        }
        write(&*store, rows).await;
        let by_health = |descending, offset| PortfolioQuery {
            sort: SortKey::Health,
            descending,
            offset,
            limit: 3,
            ..query()
        };
        let first = store.portfolio(&by_health(false, 0)).await.unwrap();
        let second = store.portfolio(&by_health(false, 3)).await.unwrap();
        let third = store.portfolio(&by_health(false, 6)).await.unwrap();
        assert_eq!(names(&first.rows), ["Account 1", "Account 2", "Account 4"]);
        assert_eq!(names(&second.rows), ["Account 5", "Account 0", "Account 3"]);
        assert_eq!(names(&third.rows), ["Account 6"]);
        assert_eq!(first.total, 7);
        let down = store.portfolio(&by_health(true, 0)).await.unwrap();
        assert_eq!(names(&down.rows), ["Account 5", "Account 4", "Account 2"]);
        let newest = PortfolioQuery {
            sort: SortKey::Deal,
            descending: true,
            limit: 2,
            ..query()
        };
        let page = store.portfolio(&newest).await.unwrap();
        assert_eq!(names(&page.rows), ["Account 6", "Account 5"]);
    })
    .await;
}

#[tokio::test]
async fn search_folds_the_case_of_any_letter_alike_on_both_backends() {
    for_each_backend(|db| async move {
        let store = db.store;
        write(
            &*store,
            vec![
                row("emile", "Émile Ørsted GmbH", "d"),
                row("acme", "Acme Corp", "d"),
            ],
        )
        .await;
        let search = |s: &str| PortfolioQuery {
            search: Some(s.into()),
            ..query()
        };
        for needle in ["émile", "ÉMILE", "ØRSTED gmbh"] {
            let found = store.portfolio(&search(needle)).await.unwrap();
            assert_eq!(names(&found.rows), ["Émile Ørsted GmbH"], "{needle}");
        }
        // The name and the key are searched apart, never as one text.
        let found = store.portfolio(&search("corp\nacme")).await.unwrap();
        assert!(found.rows.is_empty());
        assert_eq!(found.total, 0);
    })
    .await;
}

#[tokio::test]
async fn a_renamed_account_is_found_by_its_new_name_only() {
    for_each_backend(|db| async move {
        let store = db.store;
        write(&*store, vec![row("a1", "Acme", "d")]).await;
        write(&*store, vec![row("a1", "Zenith", "d")]).await;
        let search = |s: &str| PortfolioQuery {
            search: Some(s.into()),
            ..query()
        };
        let found = store.portfolio(&search("zen")).await.unwrap();
        assert_eq!(names(&found.rows), ["Zenith"]);
        assert_eq!((found.total, found.book), (1, 1));
        assert!(store
            .portfolio(&search("acme"))
            .await
            .unwrap()
            .rows
            .is_empty());
    })
    .await;
}
