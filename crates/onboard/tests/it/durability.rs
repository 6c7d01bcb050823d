//! Nothing lost: an acknowledged event survives `kill -9`, and SIGTERM drains and exits 0.

use crate::support::*;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::task::JoinSet;

/// Clients sending events as fast as the server acknowledges them, until it stops answering.
struct Load {
    acked: Arc<Mutex<Vec<String>>>,
    n_acked: Arc<AtomicUsize>,
    tasks: JoinSet<()>,
}

impl Load {
    /// `clients` concurrent clients, each sending requests of one to three events with
    /// unique ids, recording the ids of every request answered 200.
    fn start(api: &Api, clients: usize, prefix: &str) -> Load {
        let acked = Arc::new(Mutex::new(Vec::new()));
        let n_acked = Arc::new(AtomicUsize::new(0));
        let mut tasks = JoinSet::new();
        for client in 0..clients {
            let api = api.clone();
            let acked = acked.clone();
            let n_acked = n_acked.clone();
            let prefix = prefix.to_owned();
            tasks.spawn(async move {
                for request in 0..100_000 {
                    let ids: Vec<String> = (0..1 + request % 3)
                        .map(|i| format!("{prefix}-{client}-{request}-{i}"))
                        .collect();
                    let events: Vec<Value> = ids
                        .iter()
                        .map(|id| {
                            json!({
                                "id": id,
                                "type": "usage.ping",
                                "account": format!("acct-{}", client % 4),
                                "data": { "client": client, "request": request },
                            })
                        })
                        .collect();
                    match api.post_raw("/api/events", &Value::Array(events)).await {
                        Ok(response) if response.status() == 200 => {
                            let n = ids.len();
                            acked.lock().unwrap().extend(ids);
                            n_acked.fetch_add(n, Ordering::SeqCst);
                        }
                        Ok(_) => {}
                        Err(_) => return,
                    }
                }
            });
        }
        Load {
            acked,
            n_acked,
            tasks,
        }
    }

    async fn wait_for_acks(&self, n: usize) {
        eventually(&format!("{n} acknowledged events"), DEADLINE, || async {
            (self.n_acked.load(Ordering::SeqCst) >= n).then_some(())
        })
        .await;
    }

    /// Waits for every client to stop (the server is gone); the acknowledged ids.
    async fn finish(mut self) -> Vec<String> {
        let deadline = std::time::Duration::from_secs(60);
        tokio::time::timeout(deadline, async {
            while let Some(joined) = self.tasks.join_next().await {
                joined.unwrap();
            }
        })
        .await
        .expect("the clients stop once the server is gone");
        let acked = self.acked.lock().unwrap().clone();
        acked
    }
}

/// Checks that each acknowledged id is in the log exactly once and that no id is twice.
/// Returns how many events are in the log.
async fn assert_all_present(api: &Api, acked: &[String]) -> usize {
    let events = api.events("type=usage.ping").await;
    let mut count: HashMap<String, usize> = HashMap::new();
    for event in &events {
        *count.entry(text(&event["id"])).or_default() += 1;
    }
    let doubled: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "ids in the log twice: {doubled:?}");
    let seqs: HashSet<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs.len(), events.len(), "every seq is unique");
    let missing: Vec<_> = acked.iter().filter(|id| !count.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events are lost, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(10)]
    );
    events.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_event_survives_a_kill_9() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let config = ServerConfig::new(data.path(), &db);
        let mut server = config.start().await;

        let load = Load::start(&server, 16, "k9");
        load.wait_for_acks(300).await;
        server.kill9();
        let acked = load.finish().await;
        assert!(acked.len() >= 300);

        let server = config.start().await;
        let present = assert_all_present(&server, &acked).await;
        eprintln!(
            "{} events acknowledged before the kill, {present} in the log after it",
            acked.len()
        );

        drop(server);
        db.finish().await;
    }
}

/// Kills a node with `kill -9` after its first deal, starts a node on the same database
/// (in the same data directory, so under the same name, or in another one), and checks the
/// new node processes a new deal once the clock moves by `advance`.
async fn a_node_after_a_kill_9_processes_new_events(same_data_dir: bool, advance: &str) {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let first_data = tempfile::tempdir().unwrap();
        let mut server = ServerConfig::new(first_data.path(), &db).start().await;
        server.post_events(&deal_won("acme")).await;
        server.advance("1s").await;
        server.kill9();

        let second_data = tempfile::tempdir().unwrap();
        let data = if same_data_dir {
            first_data.path()
        } else {
            second_data.path()
        };
        let server = ServerConfig::new(data, &db).start().await;
        server.post_events(&deal_won("globex")).await;
        let advanced = tokio::time::timeout(DEADLINE, server.advance(advance)).await;
        assert!(
            advanced.is_ok(),
            "POST /api/clock/advance did not answer within {DEADLINE:?}"
        );
        let welcome = server.messages_of_rule("globex", "welcome-email").await;
        assert_eq!(welcome.len(), 1, "{welcome:#?}");
        server.assert_settled(0).await;

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restarted_after_a_kill_9_processes_new_events() {
    // Same data directory, same node name: it renews its own leases at once.
    a_node_after_a_kill_9_processes_new_events(true, "1s").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_node_takes_over_the_lease_of_a_killed_node_once_it_expires() {
    // Another node name: the dead node's lease (30 s) expires as the clock moves on.
    a_node_after_a_kill_9_processes_new_events(false, "1m").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_drains_and_exits_zero() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let config = ServerConfig::new(data.path(), &db);
        let mut server = config.start().await;
        server.post_events(&deal_won("acme")).await;

        let load = Load::start(&server, 4, "term");
        load.wait_for_acks(100).await;
        let status = server.terminate(DEADLINE).await;
        let acked = load.finish().await;
        assert_eq!(status.code(), Some(0), "exit status {status}");

        let server = config.start().await;
        assert_all_present(&server, &acked).await;
        assert_eq!(server.events("type=deal.won").await.len(), 1);
        server.advance("1s").await;
        server.assert_settled(0).await;

        drop(server);
        db.finish().await;
    }
}
