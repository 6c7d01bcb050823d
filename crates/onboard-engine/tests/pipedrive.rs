//! Pipedrive deals fetched by the engine: a raw `pipedrive.deal` (as the webhook logs it)
//! becomes one `pipedrive` outbox entry, which the dispatcher delivers by reading the deal
//! from the fake Pipedrive over real HTTP and appending `deal.won`. Every test runs on
//! SQLite, and on PostgreSQL when reachable.

use fake_pipedrive::FakePipedrive;
use onboard_core::crm::{self, WonDeal};
use onboard_core::Timestamp;
use onboard_engine::clock::ManualClock;
use onboard_engine::mail::DevMailbox;
use onboard_engine::{Engine, EngineConfig, PipedriveSettings};
use onboard_store::testing::TestDatabase;
use onboard_store::{EventFilter, MessageFilter, MessageRecord, Now};
use serde_json::json;
use std::sync::Arc;

/// 2026-01-05T09:00:00Z.
const T0: Timestamp = Timestamp(1_767_603_600_000);
const COMPANY: i64 = FakePipedrive::COMPANY_ID as i64;
const DEAL: u64 = 746;

/// An engine on `db` with the example program, a manual clock at [`T0`], the development
/// mailbox, and Pipedrive's API at the fake.
async fn engine(db: &TestDatabase, pipedrive: &FakePipedrive) -> (Arc<Engine>, tempfile::TempDir) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../program");
    let source = onboard_engine::read_program_dir(&dir).expect("the example program reads");
    let program = onboard_core::program::load(&source).expect("the example program loads");
    let store = onboard_store::connect(&db.url)
        .await
        .expect("the store connects");
    store.migrate().await.expect("the store migrates");
    let mailbox = tempfile::tempdir().expect("a temporary directory");
    let mut config = EngineConfig::new("test-node", "https://onboard.test");
    config.pipedrive = Some(PipedriveSettings {
        api_base: pipedrive.base_url().to_owned(),
        api_token: pipedrive.token().to_owned(),
    });
    let engine = Engine::start(
        config,
        store,
        Arc::new(ManualClock::new(T0)),
        Arc::new(DevMailbox::new(&mailbox.path().join("mailbox"))),
        program,
        &source,
    )
    .await
    .expect("the engine starts");
    (engine, mailbox)
}

/// Runs `test` against a fresh fake, engine and database for each backend.
async fn for_each_backend<F, Fut>(test: F)
where
    F: Fn(Arc<Engine>, FakePipedrive) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let pipedrive = FakePipedrive::start().await;
        let (engine, _mailbox) = engine(&db, &pipedrive).await;
        test(engine.clone(), pipedrive).await;
        assert_settled(&engine).await;
        drop(engine);
        db.finish().await;
    }
}

/// Nothing is stranded: no unprocessed event, no due timer, no message due now.
async fn assert_settled(engine: &Engine) {
    engine.settle().await.expect("the engine settles");
    let store = engine.store();
    let backlog = store.processing_backlog().await.expect("backlog");
    assert_eq!(backlog.n_events, 0, "unprocessed events remain");
    let now = engine.now();
    let timers = store.timer_counts(Now::Manual(now)).await.expect("timers");
    assert_eq!(timers.due, 0, "due timers remain");
    if let Some(due) = store.next_message_due().await.expect("next due") {
        assert!(
            due > now,
            "a message due at {due} was not attempted by {now}"
        );
    }
}

/// ACME's deal as Pipedrive holds it: won, with its primary person, four participants (the
/// primary person again, two colleagues, and one without an email) across three pages, its
/// organization and its owner.
fn seed_acme(pipedrive: &FakePipedrive, status: &str) {
    pipedrive.add_deal(
        DEAL,
        json!({"title": "ACME – Pro", "status": status, "value": 12000, "person_id": 3,
               "org_id": 2, "owner_id": 456, "won_time": "2026-01-05T08:59:00Z"}),
    );
    for (id, name, email, title) in [
        (3, "Ada Byron", Some("ada@acme.example"), "IT Administrator"),
        (4, "Vic Chief", Some("vic@acme.example"), "VP Sales"),
        (
            5,
            "Eve Seller",
            Some("eve@acme.example"),
            "Account Executive",
        ),
        (6, "No Mail", None, "Intern"),
    ] {
        let emails = match email {
            Some(email) => json!([{"value": email, "primary": true, "label": "work"}]),
            None => json!([]),
        };
        pipedrive.add_person(
            id,
            json!({"name": name, "emails": emails, "job_title": title, "org_id": 2,
                   "phones": [{"value": "+1 555 0100", "primary": true, "label": "work"}]}),
        );
    }
    for person in [3, 4, 6, 5] {
        pipedrive.add_participant(DEAL, person);
    }
    pipedrive.add_org(
        2,
        json!({"name": "ACME", "website": "https://www.acme.example/"}),
    );
    pipedrive.add_user(456, "tom@pipeflow.example", "Tom Becker");
}

/// Logs the raw event of one webhook delivery, as `POST /hooks/pipedrive` does.
async fn deliver(engine: &Engine, delivery_id: &str) {
    let event = crm::pipedrive_deal_event(COMPANY, &DEAL.to_string(), Some(delivery_id), T0);
    engine
        .ingest(vec![event])
        .await
        .expect("the intake takes it");
}

async fn deals_won(engine: &Engine) -> Vec<WonDeal> {
    let filter = EventFilter {
        kind: Some("deal.won".to_owned()),
        limit: 100,
        ..EventFilter::default()
    };
    engine
        .store()
        .list_events(&filter)
        .await
        .expect("events")
        .into_iter()
        .map(|e| serde_json::from_value(e.data).expect("a deal.won holds a WonDeal"))
        .collect()
}

async fn fetches(engine: &Engine) -> Vec<MessageRecord> {
    let filter = MessageFilter {
        account: Some(crm::pipedrive_stream(COMPANY)),
        limit: 100,
        ..MessageFilter::default()
    };
    engine
        .store()
        .list_messages(&filter)
        .await
        .expect("messages")
}

fn deal_reads(pipedrive: &FakePipedrive) -> usize {
    pipedrive
        .requests()
        .iter()
        .filter(|(_, path)| path == &format!("/api/v2/deals/{DEAL}"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_won_deal_is_fetched_with_its_people_across_participant_pages_its_org_and_owner() {
    for_each_backend(|engine, pipedrive| async move {
        seed_acme(&pipedrive, "won");

        deliver(&engine, "2f0e-uuid-1").await;
        engine.settle().await.expect("settles");

        let deals = deals_won(&engine).await;
        assert_eq!(deals.len(), 1, "{deals:#?}");
        let deal = &deals[0];
        assert_eq!(deal.source, "pipedrive");
        assert_eq!(deal.tenant.as_deref(), Some("123"));
        assert_eq!(deal.deal_id, "746");
        assert_eq!(deal.deal_name.as_deref(), Some("ACME – Pro"));
        assert_eq!(deal.account.name, "ACME");
        assert_eq!(deal.account.domain.as_deref(), Some("acme.example"));
        assert_eq!(deal.account.crm_id.as_deref(), Some("2"));
        assert_eq!(deal.owner_email.as_deref(), Some("tom@pipeflow.example"));
        assert_eq!(deal.amount, Some(12000.0));
        let people: Vec<(&str, Option<&str>, Option<&str>)> = deal
            .contacts
            .iter()
            .map(|c| (c.email.as_str(), c.title.as_deref(), c.crm_id.as_deref()))
            .collect();
        assert_eq!(
            people,
            [
                ("ada@acme.example", Some("IT Administrator"), Some("3")),
                ("vic@acme.example", Some("VP Sales"), Some("4")),
                ("eve@acme.example", Some("Account Executive"), Some("5")),
            ]
        );
        assert_eq!(deal.contacts[0].properties["phone"], "+1 555 0100");

        let account = engine
            .store()
            .account("acme.example")
            .await
            .expect("account read")
            .expect("the account is keyed by the organization's website");
        assert_eq!(account.people.len(), 3, "{account:#?}");
        let pages: Vec<String> = pipedrive
            .requests()
            .into_iter()
            .map(|(_, path)| path)
            .filter(|path| path.starts_with(&format!("/api/v1/deals/{DEAL}/participants")))
            .collect();
        assert_eq!(
            pages,
            [
                "/api/v1/deals/746/participants?start=0&limit=100",
                "/api/v1/deals/746/participants?start=2&limit=100",
            ],
            "two pages of two"
        );
        assert!(pipedrive
            .logged_requests()
            .iter()
            .all(|r| r.api_token.as_deref() == Some(FakePipedrive::TOKEN)));
        let fetches = fetches(&engine).await;
        assert_eq!(fetches.len(), 1);
        assert_eq!(fetches[0].channel, crm::PIPEDRIVE_CHANNEL);
        assert_eq!(fetches[0].status, "delivered");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deal_the_api_says_is_not_won_starts_nothing() {
    for_each_backend(|engine, pipedrive| async move {
        seed_acme(&pipedrive, "lost");

        deliver(&engine, "2f0e-uuid-1").await;
        engine.settle().await.expect("settles");

        assert!(deals_won(&engine).await.is_empty());
        assert_eq!(pipedrive.requests().len(), 1, "{:?}", pipedrive.requests());
        let fetches = fetches(&engine).await;
        assert_eq!(
            fetches[0].status, "delivered",
            "the fetch is done: nothing to do"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_retried_no_sooner_than_retry_after_then_succeeds() {
    for_each_backend(|engine, pipedrive| async move {
        seed_acme(&pipedrive, "won");
        // Longer than the first backoff (30 s ± 20 %): the wait is Pipedrive's.
        pipedrive.fail_next(429, Some(120));

        deliver(&engine, "2f0e-uuid-1").await;
        engine.settle().await.expect("settles");
        let fetch = &fetches(&engine).await[0];
        assert_eq!(fetch.status, "queued");
        assert_eq!(fetch.attempt_log[0].outcome, "failed");
        assert!(
            fetch.last_error.as_deref().unwrap_or("").contains("429"),
            "{fetch:#?}"
        );
        assert_eq!(
            fetch.next_attempt_at,
            Some(T0.plus(onboard_core::Duration(120_000)))
        );

        engine
            .advance_to(T0.plus(onboard_core::Duration(119_000)))
            .await
            .expect("advances");
        assert!(
            deals_won(&engine).await.is_empty(),
            "not before Retry-After"
        );
        engine
            .advance_to(T0.plus(onboard_core::Duration(120_000)))
            .await
            .expect("advances");

        assert_eq!(deals_won(&engine).await.len(), 1);
        let fetch = &fetches(&engine).await[0];
        assert_eq!(fetch.status, "delivered");
        assert_eq!(fetch.attempts, 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_is_a_dead_letter() {
    for_each_backend(|engine, pipedrive| async move {
        seed_acme(&pipedrive, "won");
        pipedrive.fail_next(401, None);

        deliver(&engine, "2f0e-uuid-1").await;
        engine.settle().await.expect("settles");

        let fetch = &fetches(&engine).await[0];
        assert_eq!(fetch.status, "dead", "{fetch:#?}");
        assert_eq!(fetch.attempts, 1);
        assert!(
            fetch.last_error.as_deref().unwrap_or("").contains("401"),
            "{fetch:#?}"
        );
        assert!(deals_won(&engine).await.is_empty());
        assert_eq!(pipedrive.requests().len(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_webhook_makes_one_fetch_and_one_account() {
    for_each_backend(|engine, pipedrive| async move {
        seed_acme(&pipedrive, "won");

        deliver(&engine, "2f0e-uuid-1").await;
        deliver(&engine, "2f0e-uuid-1").await;
        engine.settle().await.expect("settles");
        // A later change of the same deal is another delivery, but the same job.
        deliver(&engine, "2f0e-uuid-2").await;
        engine.settle().await.expect("settles");

        assert_eq!(fetches(&engine).await.len(), 1);
        assert_eq!(deal_reads(&pipedrive), 1);
        assert_eq!(deals_won(&engine).await.len(), 1);
        let accounts = engine
            .store()
            .list_accounts(&onboard_store::AccountFilter {
                limit: 100,
                ..onboard_store::AccountFilter::default()
            })
            .await
            .expect("accounts");
        let ids: Vec<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["acme.example"]);
    })
    .await;
}
