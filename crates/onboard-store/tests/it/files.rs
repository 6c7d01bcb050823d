//! The Shared Space's files (their records) and the kickoff slots of CSMs' calendars: a
//! file recorded is found by id and listed with its account's, newest first; a slot taken
//! by one task is refused to any other, a rebooking moves its task's slot, and a CSM's
//! slots are read by time; an outbox message keeps the calendar invite it carries.

use crate::harness::{add_messages, at, for_each_backend, message, now, HOUR, MINUTE};
use onboard_core::Duration;
use onboard_store::{FileRecord, KickoffSlot, StoreError, SLOT_TAKEN};

fn file(id: &str, account: &str, minute: i64) -> FileRecord {
    FileRecord {
        id: id.to_owned(),
        account: account.to_owned(),
        name: format!("{id}.pdf"),
        size: 1_234,
        content_type: "application/pdf".to_owned(),
        sha256: "ab".repeat(32),
        uploaded_by: format!("ada@{account}.example"),
        uploaded_at: at(minute * MINUTE),
        project: (account == "acme").then(|| "prj-1".to_owned()),
    }
}

fn slot(account: &str, task: &str, hour: i64) -> KickoffSlot {
    KickoffSlot {
        csm: "dana@pipeflow.example".to_owned(),
        start_at: at(hour * HOUR),
        end_at: at(hour * HOUR + 30 * MINUTE),
        account: account.to_owned(),
        project: "prj-1".to_owned(),
        task: task.to_owned(),
        booked_at: at(0),
    }
}

#[tokio::test]
async fn a_file_recorded_is_found_by_id_and_listed_with_its_account_s_newest_first() {
    for_each_backend(|db| async move {
        let store = db.store;
        for record in [
            file("f1", "acme", 1),
            file("f2", "acme", 2),
            file("g1", "globex", 3),
        ] {
            store.insert_file(&record).await.unwrap();
        }

        assert_eq!(store.file("f1").await.unwrap(), Some(file("f1", "acme", 1)));
        assert_eq!(
            store.file("g1").await.unwrap(),
            Some(file("g1", "globex", 3))
        );
        assert_eq!(store.file("nope").await.unwrap(), None);
        let ids: Vec<String> = store
            .account_files("acme")
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(ids, ["f2", "f1"]);
        assert!(store.account_files("initech").await.unwrap().is_empty());
        // An id is recorded once.
        assert!(matches!(
            store.insert_file(&file("f1", "acme", 4)).await,
            Err(StoreError::Conflict(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn a_slot_taken_by_one_task_is_refused_to_another_and_changes_nothing() {
    for_each_backend(|db| async move {
        let store = db.store;
        store
            .reserve_kickoff_slot(&slot("acme", "kickoff", 30))
            .await
            .unwrap();

        let refused = store
            .reserve_kickoff_slot(&slot("globex", "kickoff", 30))
            .await;
        assert!(
            matches!(&refused, Err(StoreError::Conflict(name)) if name == SLOT_TAKEN),
            "{refused:?}"
        );
        let taken = store
            .csm_kickoff_slots("dana@pipeflow.example", at(0), at(48 * HOUR))
            .await
            .unwrap();
        assert_eq!(taken, [slot("acme", "kickoff", 30)]);
        // Another CSM's calendar is their own.
        let mut marcus = slot("globex", "kickoff", 30);
        marcus.csm = "marcus@pipeflow.example".to_owned();
        store.reserve_kickoff_slot(&marcus).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_rebooking_moves_its_task_s_slot_and_frees_the_old_one() {
    for_each_backend(|db| async move {
        let store = db.store;
        store
            .reserve_kickoff_slot(&slot("acme", "kickoff", 30))
            .await
            .unwrap();
        store
            .reserve_kickoff_slot(&slot("acme", "kickoff", 34))
            .await
            .unwrap();

        let taken = store
            .csm_kickoff_slots("dana@pipeflow.example", at(0), at(48 * HOUR))
            .await
            .unwrap();
        assert_eq!(taken, [slot("acme", "kickoff", 34)]);
        store
            .reserve_kickoff_slot(&slot("globex", "kickoff", 30))
            .await
            .unwrap();
        // Read by time: only the slots overlapping the window.
        let early = store
            .csm_kickoff_slots("dana@pipeflow.example", at(0), at(31 * HOUR))
            .await
            .unwrap();
        assert_eq!(early, [slot("globex", "kickoff", 30)]);
    })
    .await;
}

#[tokio::test]
async fn a_message_keeps_the_calendar_invite_it_carries() {
    for_each_backend(|db| async move {
        let store = db.store;
        let invite = "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n".to_owned();
        let mut with_invite = message("m1", "acme");
        with_invite.calendar = Some(invite.clone());
        add_messages(&*store, at(0), vec![with_invite, message("m2", "acme")]).await;

        let stored = store.message("m1").await.unwrap().unwrap();
        assert_eq!(stored.calendar.as_deref(), Some(invite.as_str()));
        assert_eq!(store.message("m2").await.unwrap().unwrap().calendar, None);
        let mut claimed: Vec<(String, Option<String>)> = store
            .claim_due_messages("node-a", now(0), Duration(MINUTE), 10)
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.id, c.calendar))
            .collect();
        claimed.sort();
        assert_eq!(
            claimed,
            [("m1".to_owned(), Some(invite)), ("m2".to_owned(), None)]
        );
    })
    .await;
}
