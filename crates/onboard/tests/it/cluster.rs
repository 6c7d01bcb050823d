//! Several nodes on one PostgreSQL database: work is shared, nothing is done twice.

use crate::support::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// The example program's rules with `after = …, since = "deal.won"`: each `deal.won`
/// schedules one timer per rule, all due within a week.
const TIMED_RULES: [&str; 3] = [
    "no-login-nudge",
    "admin-setup-reminder",
    "stalled-account-csm",
];

const ACCOUNTS: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_postgres_fire_each_timer_exactly_once() {
    let mut ran = false;
    for db in TestDatabase::all().await {
        if db.backend != "postgres" {
            db.finish().await;
            continue;
        }
        ran = true;
        eprintln!("backend: {}", db.backend);
        let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let a = ServerConfig::new(data_a.path(), &db)
            .arg("--node")
            .arg("node-a")
            .start()
            .await;
        let b = ServerConfig::new(data_b.path(), &db)
            .arg("--node")
            .arg("node-b")
            .start()
            .await;

        let accounts: Vec<String> = (0..ACCOUNTS).map(|i| format!("acct-{i:03}")).collect();
        let deals: Vec<Value> = accounts.iter().map(|a| deal_won(a)).collect();
        let answer = a.post_events(&Value::Array(deals)).await;
        assert_eq!(answer["accepted"], ACCOUNTS, "{answer}");
        eventually("every deal.won processed", DEADLINE, || async {
            let deals = a.events("type=deal.won").await;
            (deals.len() == ACCOUNTS && deals.iter().all(|e| e["processed_at"].is_string()))
                .then_some(())
        })
        .await;
        let mut scheduled = 0;
        for account in &accounts {
            for rule in TIMED_RULES {
                let traces = a.traces(account, rule).await;
                scheduled += traces
                    .iter()
                    .filter(|t| t["outcome"] == "scheduled")
                    .count();
            }
        }
        assert_eq!(scheduled, ACCOUNTS * TIMED_RULES.len());

        let (moved_a, moved_b) = tokio::join!(a.advance("8d"), b.advance("8d"));
        assert_eq!(moved_a["now"], moved_b["now"]);

        let fired = a.events("type=timer.fired").await;
        let mut per_timer: HashMap<String, usize> = HashMap::new();
        let mut per_rule: HashSet<(String, String)> = HashSet::new();
        for event in &fired {
            *per_timer.entry(text(&event["data"]["timer"])).or_default() += 1;
            per_rule.insert((text(&event["account"]), text(&event["data"]["rule"])));
        }
        let twice: Vec<_> = per_timer.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "timers fired more than once: {twice:?}");
        // Projects set timers of their own (task unlocks and due dates); the rules' timers
        // are the ones counted here.
        let fired_for_rules = fired
            .iter()
            .filter(|e| TIMED_RULES.contains(&e["data"]["rule"].as_str().unwrap_or("")))
            .count();
        assert_eq!(
            fired_for_rules, scheduled,
            "one timer.fired per timer scheduled"
        );
        for account in &accounts {
            for rule in TIMED_RULES {
                assert!(
                    per_rule.contains(&(account.clone(), rule.to_owned())),
                    "{account}: `{rule}` did not fire"
                );
            }
        }
        // Each reminder is decided once, whichever node processed its timer.
        let reminders = a
            .messages("")
            .await
            .into_iter()
            .filter(|m| m["rule"] == "no-login-nudge")
            .count();
        assert_eq!(reminders, ACCOUNTS);
        a.assert_settled(0).await;
        b.assert_settled(0).await;

        drop((a, b));
        db.finish().await;
    }
    if !ran {
        eprintln!("two_nodes_on_one_postgres_fire_each_timer_exactly_once: no PostgreSQL, skipped");
    }
}
