//! The fake answers in HubSpot's documented shapes (REFERENCE §1.4), over a real socket.

use fake_hubspot::{FakeHubSpot, FakeOptions};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn seeded() -> FakeHubSpot {
    let hubspot = FakeHubSpot::start().await;
    hubspot.add_deal(
        "18000000042",
        json!({"dealname": "ACME – Pro plan", "amount": 12000, "dealstage": "closedwon",
               "hubspot_owner_id": "6166860"}),
        &["501", "502", "503"],
        &["9001", "9002"],
    );
    hubspot.add_contact(
        "501",
        json!({"email": "dana@acme.example", "firstname": "Dana"}),
    );
    hubspot.add_contact("502", json!({"email": "lee@acme.example"}));
    hubspot.add_company("9001", json!({"name": "ACME", "domain": "acme.example"}));
    hubspot.add_owner("6166860", "jsmith@example.com", "John", "Smith");
    hubspot
}

async fn call(
    hubspot: &FakeHubSpot,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", hubspot.base_url());
    let mut request = match method {
        "POST" => client.post(url),
        _ => client.get(url),
    }
    .bearer_auth(hubspot.token());
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_else(|e| panic!("{e}"));
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, headers, body)
}

fn assert_error_shape(body: &Value, category: &str) {
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["category"], category, "{body}");
    assert!(body["message"].is_string(), "{body}");
    assert!(
        body["correlationId"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn a_deal_read_returns_string_properties_and_paged_association_ids() {
    let hubspot = seeded().await;
    let (status, _, body) = call(
        &hubspot,
        "GET",
        "/crm/v3/objects/deals/18000000042?properties=dealname,amount,hs_is_closed_won,seats\
         &associations=contacts,companies",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], "18000000042");
    assert!(body["createdAt"].is_string() && body["updatedAt"].is_string());
    assert_eq!(body["archived"], false);
    let properties = &body["properties"];
    assert_eq!(properties["amount"], "12000", "numbers are kept as strings");
    assert_eq!(properties["hs_is_closed_won"], "true");
    assert_eq!(properties["seats"], Value::Null, "asked for but unset");
    assert_eq!(properties["hs_object_id"], "18000000042");
    assert!(properties.get("dealstage").is_none(), "not asked for");
    let contacts = &body["associations"]["contacts"];
    assert_eq!(
        contacts["results"],
        json!([{"id": "501", "type": "deal_to_contact"}, {"id": "502", "type": "deal_to_contact"}])
    );
    assert!(contacts["paging"]["next"]["after"].is_string());
    // The primary company comes twice: its primary type, then unlabeled.
    let companies = &body["associations"]["companies"];
    assert_eq!(
        companies["results"],
        json!([{"id": "9001", "type": "deal_to_company"},
               {"id": "9001", "type": "deal_to_company_unlabeled"}])
    );
}

#[tokio::test]
async fn v4_associations_page_with_numeric_ids_until_no_next_cursor() {
    let hubspot = seeded().await;
    let (_, _, deal) = call(
        &hubspot,
        "GET",
        "/crm/v3/objects/deals/18000000042?associations=contacts",
        None,
    )
    .await;
    let after = deal["associations"]["contacts"]["paging"]["next"]["after"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, _, page) = call(
        &hubspot,
        "GET",
        &format!("/crm/v4/objects/deals/18000000042/associations/contacts?after={after}&limit=500"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        page["results"],
        json!([{"toObjectId": 503, "associationTypes":
                [{"category": "HUBSPOT_DEFINED", "typeId": 3, "label": null}]}])
    );
    assert!(page.get("paging").is_none(), "{page}");
}

#[tokio::test]
async fn a_batch_read_with_a_missing_id_answers_207_with_errors() {
    let hubspot = seeded().await;
    let (status, _, body) = call(
        &hubspot,
        "POST",
        "/crm/v3/objects/contacts/batch/read",
        Some(
            json!({"properties": ["email", "firstname"], "propertiesWithHistory": [],
                    "inputs": [{"id": "501"}, {"id": "999"}]}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    assert_eq!(body["status"], "COMPLETE");
    assert!(body["startedAt"].is_string() && body["completedAt"].is_string());
    assert_eq!(body["results"][0]["id"], "501");
    assert_eq!(
        body["results"][0]["properties"]["email"],
        "dana@acme.example"
    );
    assert_eq!(body["numErrors"], 1);
    assert_eq!(body["errors"][0]["category"], "OBJECT_NOT_FOUND");
    assert_eq!(body["errors"][0]["context"]["ids"], json!(["999"]));
}

#[tokio::test]
async fn a_batch_read_without_its_required_fields_is_a_validation_error() {
    let hubspot = seeded().await;
    let (status, _, body) = call(
        &hubspot,
        "POST",
        "/crm/v3/objects/contacts/batch/read",
        Some(json!({"properties": ["email"], "inputs": [{"id": "501"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_shape(&body, "VALIDATION_ERROR");
    assert!(body["message"]
        .as_str()
        .is_some_and(|m| m.contains("propertiesWithHistory")));
}

#[tokio::test]
async fn companies_and_owners_are_read_by_id() {
    let hubspot = seeded().await;
    let (status, _, company) = call(
        &hubspot,
        "GET",
        "/crm/v3/objects/companies/9001?properties=name,domain",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(company["properties"]["domain"], "acme.example");
    let (status, _, owner) = call(&hubspot, "GET", "/crm/v3/owners/6166860", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(owner["id"], "6166860");
    assert_eq!(owner["email"], "jsmith@example.com");
    assert_eq!(owner["type"], "PERSON");
    assert!(owner["userId"].is_u64());
}

#[tokio::test]
async fn a_missing_object_is_a_404_in_hubspots_error_shape() {
    let hubspot = seeded().await;
    let (status, _, body) = call(&hubspot, "GET", "/crm/v3/objects/deals/404", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body, "OBJECT_NOT_FOUND");
    let (status, _, body) = call(&hubspot, "GET", "/crm/v3/owners/1", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body, "OBJECT_NOT_FOUND");
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_a_401_in_hubspots_error_shape() {
    let hubspot = seeded().await;
    let url = format!("{}/crm/v3/owners/6166860", hubspot.base_url());
    for token in [None, Some("pat-na1-wrong")] {
        let mut request = reqwest::Client::new().get(&url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body: Value = response.json().await.unwrap_or_else(|e| panic!("{e}"));
        assert_error_shape(&body, "INVALID_AUTHENTICATION");
    }
}

#[tokio::test]
async fn injected_failures_hit_the_next_requests_then_stop() {
    let hubspot = seeded().await;
    hubspot.fail_next(2, 429);
    for _ in 0..2 {
        let (status, headers, body) = call(&hubspot, "GET", "/crm/v3/owners/6166860", None).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers["retry-after"], "1");
        assert_error_shape(&body, "RATE_LIMITS");
    }
    let (status, _, _) = call(&hubspot, "GET", "/crm/v3/owners/6166860", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_request_log_keeps_methods_paths_queries_and_tokens() {
    let hubspot = FakeHubSpot::start_with(FakeOptions {
        token: "pat-custom".to_owned(),
        ..FakeOptions::default()
    })
    .await;
    hubspot.add_owner("1", "a@example.com", "A", "B");
    let (status, _, _) = call(&hubspot, "GET", "/crm/v3/owners/1?archived=false", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        hubspot.requests(),
        vec![(
            "GET".to_owned(),
            "/crm/v3/owners/1?archived=false".to_owned()
        )]
    );
    assert_eq!(
        hubspot.logged_requests()[0].authorization.as_deref(),
        Some("Bearer pat-custom")
    );
}
