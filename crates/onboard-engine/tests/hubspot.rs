//! The HubSpot client against the fake HubSpot, over real HTTP.

use fake_hubspot::{FakeHubSpot, FakeOptions};
use onboard_core::crm::{DealAccount, DealContact, WonDeal};
use onboard_engine::crm::hubspot::{FetchError, FetchedDeal, HubSpotClient};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

const PORTAL: i64 = 44112233;
const DEAL: &str = "18000000042";

fn client(hubspot: &FakeHubSpot) -> HubSpotClient {
    HubSpotClient::new(hubspot.base_url(), hubspot.token()).unwrap_or_else(|e| panic!("{e}"))
}

fn won(properties: serde_json::Value) -> serde_json::Value {
    let mut deal = json!({
        "dealname": "ACME – Pro plan",
        "amount": "12000",
        "dealstage": "closedwon",
        "pipeline": "default",
        "closedate": "2026-11-21T09:13:19Z",
        "hs_is_closed_won": "true",
    });
    if let (Some(deal), Some(extra)) = (deal.as_object_mut(), properties.as_object()) {
        deal.extend(extra.clone());
    }
    deal
}

fn contact(email: &str) -> serde_json::Value {
    json!({"email": email})
}

async fn fetch(hubspot: &FakeHubSpot) -> Result<FetchedDeal, FetchError> {
    client(hubspot).fetch_deal(PORTAL, DEAL).await
}

async fn fetch_won(hubspot: &FakeHubSpot) -> WonDeal {
    match fetch(hubspot).await {
        Ok(FetchedDeal::Won(deal)) => deal,
        other => panic!("expected a won deal, got {other:?}"),
    }
}

async fn fetch_error(hubspot: &FakeHubSpot) -> FetchError {
    match fetch(hubspot).await {
        Err(error) => error,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn emails(deal: &WonDeal) -> Vec<&str> {
    deal.contacts.iter().map(|c| c.email.as_str()).collect()
}

#[tokio::test]
async fn a_won_deal_brings_all_its_contacts_its_company_domain_and_owner_email() {
    let hubspot = FakeHubSpot::start().await;
    hubspot.add_deal(
        DEAL,
        won(json!({"hubspot_owner_id": "6166860", "seats": "25", "plan": "pro"})),
        &["501", "502", "503", "504", "505"],
        &["9001"],
    );
    hubspot.add_contact(
        "501",
        json!({"email": " Dana@ACME.example ", "firstname": "Dana", "lastname": "Scully",
               "jobtitle": "VP Operations", "phone": "+1 555 0101"}),
    );
    for (id, email) in [
        ("502", "lee@acme.example"),
        ("503", "kim@acme.example"),
        ("504", "ray@acme.example"),
        ("505", "sam@acme.example"),
    ] {
        hubspot.add_contact(id, contact(email));
    }
    hubspot.add_company(
        "9001",
        json!({"name": "ACME Corp", "domain": "acme.example"}),
    );
    hubspot.add_owner("6166860", "jsmith@example.com", "John", "Smith");

    let deal = fetch_won(&hubspot).await;

    assert_eq!(
        deal,
        WonDeal {
            source: "hubspot".to_owned(),
            tenant: Some("44112233".to_owned()),
            deal_id: DEAL.to_owned(),
            deal_name: Some("ACME – Pro plan".to_owned()),
            account: DealAccount {
                name: "ACME Corp".to_owned(),
                domain: Some("acme.example".to_owned()),
                crm_id: Some("9001".to_owned()),
            },
            owner_email: Some("jsmith@example.com".to_owned()),
            seats: Some(25),
            plan: Some("pro".to_owned()),
            amount: Some(12000.0),
            contacts: deal.contacts.clone(),
        }
    );
    assert_eq!(
        emails(&deal),
        [
            "dana@acme.example",
            "lee@acme.example",
            "kim@acme.example",
            "ray@acme.example",
            "sam@acme.example"
        ]
    );
    assert_eq!(
        deal.contacts[0],
        DealContact {
            email: "dana@acme.example".to_owned(),
            name: Some("Dana Scully".to_owned()),
            title: Some("VP Operations".to_owned()),
            crm_id: Some("501".to_owned()),
            properties: BTreeMap::from([("phone".to_owned(), json!("+1 555 0101"))]),
        }
    );
    // Embedded page of 2, then v4 pages of 2 and 1.
    let paging: Vec<String> = hubspot
        .requests()
        .into_iter()
        .filter(|(_, path)| {
            path.starts_with(&format!(
                "/crm/v4/objects/deals/{DEAL}/associations/contacts?after="
            ))
        })
        .map(|(_, path)| path)
        .collect();
    assert_eq!(paging.len(), 2, "{paging:?}");
    assert!(
        paging.iter().all(|path| path.ends_with("&limit=500")),
        "{paging:?}"
    );
}

#[tokio::test]
async fn a_deal_not_closed_won_is_not_won_and_nothing_else_is_read() {
    let hubspot = FakeHubSpot::start().await;
    hubspot.add_deal(
        DEAL,
        won(json!({"dealstage": "contractsent", "hs_is_closed_won": "false"})),
        &["501"],
        &["9001"],
    );

    let fetched = fetch(&hubspot).await;

    assert_eq!(
        fetched,
        Ok(FetchedDeal::NotWon {
            stage: Some("contractsent".to_owned())
        })
    );
    assert_eq!(hubspot.requests().len(), 1, "{:?}", hubspot.requests());
}

#[tokio::test]
async fn a_missing_contact_is_skipped_and_the_others_kept() {
    let hubspot = FakeHubSpot::start().await;
    hubspot.add_deal(DEAL, won(json!({})), &["501", "999", "502"], &[]);
    hubspot.add_contact("501", contact("dana@acme.example"));
    hubspot.add_contact("502", contact("lee@acme.example"));

    let deal = fetch_won(&hubspot).await;

    assert_eq!(emails(&deal), ["dana@acme.example", "lee@acme.example"]);
}

#[tokio::test]
async fn a_contact_without_an_email_is_skipped() {
    let hubspot = FakeHubSpot::start().await;
    hubspot.add_deal(DEAL, won(json!({})), &["501", "502", "503"], &[]);
    hubspot.add_contact("501", json!({"firstname": "No", "email": null}));
    hubspot.add_contact("502", contact("not an address"));
    hubspot.add_contact("503", contact("lee@acme.example"));

    let deal = fetch_won(&hubspot).await;

    assert_eq!(emails(&deal), ["lee@acme.example"]);
}

#[tokio::test]
async fn a_deal_without_a_company_names_the_account_after_the_deal() {
    let hubspot = FakeHubSpot::start().await;
    hubspot.add_deal(DEAL, won(json!({})), &[], &[]);

    let deal = fetch_won(&hubspot).await;

    assert_eq!(
        deal.account,
        DealAccount {
            name: "ACME – Pro plan".to_owned(),
            domain: None,
            crm_id: None,
        }
    );
}

#[tokio::test]
async fn a_missing_owner_leaves_the_owner_email_empty() {
    let hubspot = FakeHubSpot::start().await;
    hubspot.add_deal(DEAL, won(json!({"hubspot_owner_id": "404"})), &[], &[]);

    let deal = fetch_won(&hubspot).await;

    assert_eq!(deal.owner_email, None);
}

#[tokio::test]
async fn a_503_is_a_transient_error() {
    let hubspot = FakeHubSpot::start().await;
    hubspot.add_deal(DEAL, won(json!({})), &[], &[]);
    hubspot.fail_next(1, 503);

    let error = fetch_error(&hubspot).await;

    assert!(!error.permanent, "{error}");
    assert!(error.message.contains("503"), "{error}");
}

#[tokio::test]
async fn an_unreachable_hubspot_is_a_transient_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    drop(listener);
    let client = HubSpotClient::new(&format!("http://{address}"), FakeHubSpot::TOKEN)
        .unwrap_or_else(|e| panic!("{e}"));

    let error = match client.fetch_deal(PORTAL, DEAL).await {
        Err(error) => error,
        other => panic!("expected an error, got {other:?}"),
    };

    assert!(!error.permanent, "{error}");
}

#[tokio::test]
async fn a_429_is_transient_and_waits_as_long_as_retry_after_says() {
    let hubspot = FakeHubSpot::start().await;
    hubspot.add_deal(DEAL, won(json!({})), &[], &[]);
    hubspot.fail_next(1, 429);

    let error = fetch_error(&hubspot).await;

    assert!(!error.permanent, "{error}");
    assert_eq!(error.retry_after, Some(Duration::from_secs(1)));
}

#[tokio::test]
async fn an_unknown_deal_is_a_permanent_error_with_hubspots_correlation_id() {
    let hubspot = FakeHubSpot::start().await;

    let error = fetch_error(&hubspot).await;

    assert!(error.permanent, "{error}");
    assert!(error.message.contains("deal not found"), "{error}");
    assert!(error.message.contains("correlationId"), "{error}");
}

#[tokio::test]
async fn a_wrong_token_is_a_transient_authentication_error() {
    let hubspot = FakeHubSpot::start().await;
    hubspot.add_deal(DEAL, won(json!({})), &[], &[]);
    let client =
        HubSpotClient::new(hubspot.base_url(), "pat-na1-wrong").unwrap_or_else(|e| panic!("{e}"));

    let error = match client.fetch_deal(PORTAL, DEAL).await {
        Err(error) => error,
        other => panic!("expected an error, got {other:?}"),
    };

    assert!(!error.permanent, "{error}");
    assert!(error.message.contains("authentication"), "{error}");
    assert!(error.message.contains("401"), "{error}");
}

#[tokio::test]
async fn every_request_carries_the_bearer_token() {
    let hubspot = FakeHubSpot::start_with(FakeOptions {
        token: "pat-na1-every-request".to_owned(),
        ..FakeOptions::default()
    })
    .await;
    hubspot.add_deal(
        DEAL,
        won(json!({"hubspot_owner_id": "6166860"})),
        &["501", "502", "503"],
        &["9001"],
    );
    hubspot.add_contact("501", contact("dana@acme.example"));
    hubspot.add_company("9001", json!({"name": "ACME"}));
    hubspot.add_owner("6166860", "jsmith@example.com", "John", "Smith");

    fetch_won(&hubspot).await;

    let requests = hubspot.logged_requests();
    // Deal, one v4 page, batch read, company, owner.
    assert_eq!(requests.len(), 5, "{requests:?}");
    for request in requests {
        assert_eq!(
            request.authorization.as_deref(),
            Some("Bearer pat-na1-every-request"),
            "{request:?}"
        );
    }
}
