//! Durable timers: claimed when due, earliest first, under a lease whose attempt number
//! fences firing.

use crate::harness::{
    add_timers, at, commit, event, for_each_backend, now, timer, HOUR, MINUTE, SECOND, T0,
};
use onboard_core::event::NewEvent;
use onboard_core::state::{Decisions, TimerCancel};
use onboard_core::{Duration, Timestamp};
use onboard_store::{ClaimedTimer, EventFilter, Now, Store, TimerCounts};

const LEASE: Duration = Duration(MINUTE);

fn ids(claims: &[ClaimedTimer]) -> Vec<&str> {
    claims.iter().map(|c| c.id.as_str()).collect()
}

/// The `timer.fired` event of a claim; the key names the claim, so a second firing would
/// show as a second event.
fn fired(claim: &ClaimedTimer) -> (ClaimedTimer, NewEvent) {
    let key = format!("timer:{}:{}", claim.id, claim.attempts);
    (
        claim.clone(),
        event(&key, "timer.fired", &claim.account, claim.due_at),
    )
}

async fn fired_events(store: &dyn Store) -> Vec<String> {
    store
        .list_events(&EventFilter {
            kind: Some("timer.fired".to_owned()),
            ..EventFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect()
}

#[tokio::test]
async fn due_timers_are_claimed_earliest_first_and_not_before_due() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_timers(
            &*store,
            vec![
                timer("t3", "acme", "r", at(3 * HOUR)),
                timer("t1", "acme", "welcome", at(HOUR)),
                timer("t10", "globex", "r", at(10 * HOUR)),
                timer("t2", "globex", "r", at(2 * HOUR)),
            ],
        )
        .await;
        assert!(store
            .claim_due_timers("a", now(HOUR - 1), LEASE, 10)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(store.next_timer_due().await.unwrap(), Some(at(HOUR)));
        assert_eq!(
            store.timer_counts(now(2 * HOUR)).await.unwrap(),
            TimerCounts { pending: 4, due: 2 }
        );

        // Leases outlast the test, so nothing is claimed twice.
        let lease = Duration(24 * HOUR);
        let first = store
            .claim_due_timers("a", now(2 * HOUR), lease, 1)
            .await
            .unwrap();
        assert_eq!(
            first,
            [ClaimedTimer {
                id: "t1".to_owned(),
                account: "acme".to_owned(),
                rule: "welcome".to_owned(),
                due_at: at(HOUR),
                since_at: T0,
                program_version: "v1".to_owned(),
                attempts: 1,
            }]
        );
        let rest = store
            .claim_due_timers("a", now(2 * HOUR), lease, 10)
            .await
            .unwrap();
        assert_eq!(ids(&rest), ["t2"]);
        let later = store
            .claim_due_timers("a", now(10 * HOUR), lease, 10)
            .await
            .unwrap();
        assert_eq!(ids(&later), ["t3", "t10"], "earliest first");
    })
    .await;
}

#[tokio::test]
async fn a_claimed_timer_is_not_claimed_again_until_its_lease_expires() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_timers(&*store, vec![timer("t", "acme", "r", T0)]).await;
        let a = store
            .claim_due_timers("node-a", now(0), LEASE, 10)
            .await
            .unwrap();
        assert_eq!(a[0].attempts, 1);
        assert!(store
            .claim_due_timers("node-b", now(59 * SECOND), LEASE, 10)
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .claim_due_timers("node-b", now(MINUTE), LEASE, 10)
            .await
            .unwrap()
            .is_empty());
        let b = store
            .claim_due_timers("node-b", now(MINUTE + 1), LEASE, 10)
            .await
            .unwrap();
        assert_eq!(ids(&b), ["t"]);
        assert_eq!(b[0].attempts, 2, "the attempt number fences the new claim");
        let record = store.timer("t").await.unwrap().unwrap();
        assert_eq!((record.state.as_str(), record.attempts), ("pending", 2));
    })
    .await;
}

#[tokio::test]
async fn firing_with_a_stale_claim_does_nothing() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_timers(&*store, vec![timer("t", "acme", "r", T0)]).await;
        let a = store
            .claim_due_timers("node-a", now(0), LEASE, 10)
            .await
            .unwrap();
        // node-a pauses past its lease; node-b takes the timer over.
        let b = store
            .claim_due_timers("node-b", now(2 * MINUTE), LEASE, 10)
            .await
            .unwrap();
        assert_eq!(ids(&b), ["t"]);

        assert_eq!(
            store
                .fire_timers("node-a", &[fired(&a[0])], at(3 * MINUTE))
                .await
                .unwrap(),
            0
        );
        assert!(fired_events(&*store).await.is_empty());
        assert_eq!(store.timer("t").await.unwrap().unwrap().state, "pending");

        assert_eq!(
            store
                .fire_timers("node-b", &[fired(&b[0])], at(3 * MINUTE))
                .await
                .unwrap(),
            1
        );
        assert_eq!(fired_events(&*store).await, ["timer:t:2"]);
        let record = store.timer("t").await.unwrap().unwrap();
        assert_eq!(record.state, "fired");
        assert_eq!(record.fired_at, Some(at(3 * MINUTE)));
    })
    .await;
}

#[tokio::test]
async fn cancelled_timers_never_fire() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_timers(
            &*store,
            vec![
                timer("welcome", "acme", "welcome", T0),
                timer("nudge", "acme", "nudge", T0),
                timer("other", "globex", "welcome", T0),
            ],
        )
        .await;
        let claims = store
            .claim_due_timers("node-a", now(0), LEASE, 10)
            .await
            .unwrap();
        assert_eq!(claims.len(), 3);
        // The processor cancels acme's welcome timer while the scheduler holds it.
        commit(
            &*store,
            at(SECOND),
            Decisions {
                cancels: vec![TimerCancel {
                    account: "acme".to_owned(),
                    rule: Some("welcome".to_owned()),
                }],
                ..Decisions::default()
            },
        )
        .await;
        let batch: Vec<_> = claims.iter().map(fired).collect();
        assert_eq!(
            store
                .fire_timers("node-a", &batch, at(2 * SECOND))
                .await
                .unwrap(),
            2
        );
        let mut events = fired_events(&*store).await;
        events.sort();
        assert_eq!(events, ["timer:nudge:1", "timer:other:1"]);
        assert_eq!(
            store.timer("welcome").await.unwrap().unwrap().state,
            "cancelled"
        );
        assert!(store
            .claim_due_timers("node-b", now(HOUR), LEASE, 10)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            store.timer_counts(now(HOUR)).await.unwrap(),
            TimerCounts::default()
        );
        assert_eq!(store.next_timer_due().await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn fired_timer_event_is_appended_once() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_timers(&*store, vec![timer("t", "acme", "r", T0)]).await;
        let claims = store
            .claim_due_timers("node-a", now(0), LEASE, 10)
            .await
            .unwrap();
        let batch = [fired(&claims[0]), fired(&claims[0])];
        assert_eq!(
            store
                .fire_timers("node-a", &batch, at(SECOND))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .fire_timers("node-a", &batch, at(SECOND))
                .await
                .unwrap(),
            0
        );
        assert!(store
            .claim_due_timers("node-a", now(HOUR), LEASE, 10)
            .await
            .unwrap()
            .is_empty());
        let events = store
            .list_events(&EventFilter {
                kind: Some("timer.fired".to_owned()),
                ..EventFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].key, "timer:t:1");
        assert_eq!(events[0].account, "acme");
        assert_eq!(events[0].received_at, at(SECOND));
        assert_eq!(
            events[0].processed_at, None,
            "the processor has yet to see it"
        );
        assert_eq!(
            store.fire_timers("node-a", &[], at(SECOND)).await.unwrap(),
            0
        );
    })
    .await;
}

/// On PostgreSQL the system clock is the database's, whatever time the node passes; on
/// SQLite and the in-memory store it is the node's.
#[tokio::test]
async fn the_system_clock_is_the_databases_on_postgres() {
    for_each_backend(|db| async move {
        let store = db.store;
        let wall = Timestamp(
            i64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis(),
            )
            .unwrap(),
        );
        add_timers(
            &*store,
            vec![
                timer("past", "acme", "r", Timestamp(wall.0 - HOUR)),
                timer("future", "acme", "r", Timestamp(wall.0 + HOUR)),
            ],
        )
        .await;
        let skewed = Now::System(Timestamp(wall.0 + 2 * HOUR));
        let claims = store
            .claim_due_timers("node-a", skewed, LEASE, 10)
            .await
            .unwrap();
        let expected: &[&str] = if db.backend == "postgres" {
            &["past"]
        } else {
            &["past", "future"]
        };
        assert_eq!(ids(&claims), expected);

        store
            .acquire_lease("clock", "node-a", Now::System(wall), Duration(HOUR))
            .await
            .unwrap()
            .unwrap();
        let taken = store
            .acquire_lease("clock", "node-b", skewed, Duration(HOUR))
            .await
            .unwrap();
        assert_eq!(taken.is_some(), db.backend != "postgres");
    })
    .await;
}

#[tokio::test]
async fn a_due_timer_counts_as_due_work_while_claimed_until_it_fires() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_timers(
            &*store,
            vec![
                timer("t1", "acme", "r", at(HOUR)),
                timer("t2", "acme", "r", at(2 * HOUR)),
            ],
        )
        .await;
        let due = |t| {
            let store = store.clone();
            async move { store.due_work(now(t)).await.unwrap() }
        };
        assert_eq!(due(HOUR - 1).await.timers, 0);
        assert_eq!(due(HOUR).await.timers, 1);
        let claims = store
            .claim_due_timers("node-a", now(HOUR), LEASE, 10)
            .await
            .unwrap();
        assert_eq!(due(HOUR).await.timers, 1, "claimed, not fired");
        store
            .fire_timers("node-a", &[fired(&claims[0])], at(HOUR))
            .await
            .unwrap();
        assert_eq!(due(HOUR).await.total(), 0);
        assert_eq!(due(2 * HOUR).await.timers, 1);
    })
    .await;
}

#[tokio::test]
async fn an_account_s_pending_timers_are_listed_earliest_first() {
    for_each_backend(|db| async move {
        let store = db.store;
        add_timers(
            &*store,
            vec![
                timer("late", "acme", "nudge", at(3 * HOUR)),
                timer("early", "acme", "welcome", at(HOUR)),
                timer("other", "globex", "nudge", at(HOUR)),
                timer("gone", "acme", "stale", at(2 * HOUR)),
            ],
        )
        .await;
        commit(
            &*store,
            at(MINUTE),
            Decisions {
                cancels: vec![TimerCancel {
                    account: "acme".to_owned(),
                    rule: Some("stale".to_owned()),
                }],
                ..Decisions::default()
            },
        )
        .await;
        let pending = store.pending_timers("acme", 10).await.unwrap();
        let listed: Vec<(&str, Timestamp)> =
            pending.iter().map(|t| (t.id.as_str(), t.due_at)).collect();
        assert_eq!(listed, [("early", at(HOUR)), ("late", at(3 * HOUR))]);
        assert_eq!(store.pending_timers("acme", 1).await.unwrap().len(), 1);
    })
    .await;
}

/// A deterministic stream of small numbers (an LCG): the same run on every backend.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }

    fn ms(&mut self, n: u64, unit: i64) -> i64 {
        i64::try_from(self.roll(n)).unwrap() * unit
    }
}

/// What the in-memory store answers is what SQLite answers, step by step, over a random run
/// of timer inserts (with ties of due time), cancels, claims (both kinds, by two nodes, with
/// leases that expire and limits that cut through ties) and firings.
#[tokio::test]
async fn the_memory_store_claims_and_fires_what_sqlite_does() {
    let db = onboard_store::testing::TestDatabase::sqlite().unwrap();
    let sqlite = onboard_store::connect(&db.url).await.unwrap();
    sqlite.migrate().await.unwrap();
    let memory = onboard_store::connect("memory:").await.unwrap();
    let (mut n_claimed, mut n_fired) = (0, 0);
    for seed in 1..=4 {
        let mut dice = Dice(seed);
        let mut n_timers = 0;
        for step in 0..120 {
            let clock = now(dice.ms(12, MINUTE));
            let holder = ["node-a", "node-b"][usize::try_from(dice.roll(2)).unwrap()];
            let lease = Duration(1 + dice.ms(4, MINUTE));
            let limit = i64::try_from(dice.roll(5)).unwrap();
            let (a, b) = match dice.roll(5) {
                0 => {
                    let mut decisions = Decisions::default();
                    for _ in 0..=dice.roll(4) {
                        n_timers += 1;
                        decisions.timers.push(timer(
                            &format!("s{seed}-t{n_timers:03}"),
                            &format!("s{seed}-a{}", dice.roll(4)),
                            &format!("r{}", dice.roll(3)),
                            at(dice.ms(10, MINUTE)),
                        ));
                    }
                    if dice.roll(3) == 0 {
                        decisions.cancels.push(TimerCancel {
                            account: format!("s{seed}-a{}", dice.roll(4)),
                            rule: (dice.roll(2) == 0).then(|| format!("r{}", dice.roll(3))),
                        });
                    }
                    commit(&*sqlite, T0, decisions.clone()).await;
                    commit(&*memory, T0, decisions).await;
                    continue;
                }
                1 | 2 => {
                    let earliest = dice.roll(2) == 0;
                    let mut answers = Vec::new();
                    for store in [&sqlite, &memory] {
                        let claims = if earliest {
                            store
                                .claim_earliest_timers(holder, clock, lease, limit)
                                .await
                        } else {
                            store.claim_due_timers(holder, clock, lease, limit).await
                        };
                        let claims = claims.unwrap();
                        // Fire some of them, as the node that claimed them.
                        let firing: Vec<_> = claims.iter().step_by(2).map(fired).collect();
                        let n = store.fire_timers(holder, &firing, at(step)).await.unwrap();
                        answers.push(format!("{claims:?} fired {n}"));
                        n_claimed += claims.len();
                        n_fired += n;
                    }
                    (answers.remove(0), answers.remove(0))
                }
                _ => {
                    let mut answers = Vec::new();
                    for store in [&sqlite, &memory] {
                        let counts = store.timer_counts(clock).await.unwrap();
                        let next = store.next_timer_due().await.unwrap();
                        let account = format!("s{seed}-a{}", step % 4);
                        let pending = store.pending_timers(&account, limit).await.unwrap();
                        answers.push(format!("{counts:?} {next:?} {pending:?}"));
                    }
                    (answers.remove(0), answers.remove(0))
                }
            };
            assert_eq!(a, b, "seed {seed}, step {step}");
        }
    }
    assert!(
        n_claimed > 40 && n_fired > 20,
        "claimed {n_claimed}, fired {n_fired}"
    );
    let everything = EventFilter::default();
    let strip = |events: Vec<onboard_core::Event>| -> Vec<String> {
        events
            .into_iter()
            .map(|e| format!("{} {} {} {}", e.seq, e.key, e.account, e.received_at))
            .collect()
    };
    assert_eq!(
        strip(sqlite.list_events(&everything).await.unwrap()),
        strip(memory.list_events(&everything).await.unwrap())
    );
    drop(sqlite);
    db.finish().await;
}
