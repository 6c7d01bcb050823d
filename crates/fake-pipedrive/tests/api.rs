//! The fake answers in Pipedrive's documented shapes (REFERENCE §2), over a real socket.

use fake_pipedrive::FakePipedrive;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn seeded() -> FakePipedrive {
    let pipedrive = FakePipedrive::start().await;
    pipedrive.add_deal(
        746,
        json!({"title": "ACME – Pro", "status": "won", "value": 12000, "person_id": 3,
               "org_id": 2, "owner_id": 456}),
    );
    for (id, email) in [
        (3, "ada@acme.example"),
        (4, "vic@acme.example"),
        (5, "eve@acme.example"),
    ] {
        pipedrive.add_person(
            id,
            json!({"emails": [{"value": email, "primary": true, "label": "work"}]}),
        );
        pipedrive.add_participant(746, id);
    }
    pipedrive.add_org(
        2,
        json!({"name": "ACME", "website": "https://acme.example"}),
    );
    pipedrive.add_user(456, "tom@pipeflow.example", "Tom Becker");
    pipedrive
}

async fn get(
    pipedrive: &FakePipedrive,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = reqwest::Client::new().get(format!("{}{path}", pipedrive.base_url()));
    if let Some(token) = token {
        request = request.header("x-api-token", token);
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_else(|e| panic!("{e}"));
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, headers, body)
}

fn assert_error_shape(body: &Value) {
    assert_eq!(body["success"], false, "{body}");
    assert!(body["error"].is_string(), "{body}");
    assert!(body["error_info"].is_string(), "{body}");
    assert!(
        body["data"].is_null() && body["additional_data"].is_null(),
        "{body}"
    );
}

#[tokio::test]
async fn reads_answer_in_the_success_envelope_with_rate_limit_headers() {
    let pipedrive = seeded().await;
    let token = Some(FakePipedrive::TOKEN);

    let (status, headers, deal) = get(&pipedrive, "/api/v2/deals/746", token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deal["success"], true);
    assert_eq!(deal["data"]["status"], "won");
    assert_eq!(deal["data"]["org_id"], 2);
    assert!(headers.contains_key("x-ratelimit-remaining"), "{headers:?}");

    let (_, _, person) = get(&pipedrive, "/api/v2/persons/3", token).await;
    assert_eq!(person["data"]["emails"][0]["value"], "ada@acme.example");
    let (_, _, org) = get(&pipedrive, "/api/v2/organizations/2", token).await;
    assert_eq!(org["data"]["website"], "https://acme.example");
    let (_, _, user) = get(&pipedrive, "/api/v1/users/456", token).await;
    assert_eq!(user["data"]["email"], "tom@pipeflow.example");
}

#[tokio::test]
async fn participants_page_with_next_start_until_the_last_page() {
    let pipedrive = seeded().await;
    let token = Some(FakePipedrive::TOKEN);

    let (_, _, first) = get(
        &pipedrive,
        "/api/v1/deals/746/participants?start=0&limit=100",
        token,
    )
    .await;
    assert_eq!(first["data"].as_array().map(Vec::len), Some(2), "{first}");
    assert_eq!(first["data"][0]["person_id"]["value"], 3);
    assert_eq!(
        first["data"][0]["person"]["email"][0]["value"],
        "ada@acme.example"
    );
    let pagination = &first["additional_data"]["pagination"];
    assert_eq!(pagination["more_items_in_collection"], true, "{first}");
    assert_eq!(pagination["next_start"], 2);

    let (_, _, last) = get(
        &pipedrive,
        "/api/v1/deals/746/participants?start=2&limit=100",
        token,
    )
    .await;
    assert_eq!(last["data"].as_array().map(Vec::len), Some(1), "{last}");
    assert_eq!(
        last["additional_data"]["pagination"]["more_items_in_collection"],
        false
    );
    assert!(last["additional_data"]["pagination"]
        .get("next_start")
        .is_none());
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_401_in_pipedrives_error_shape() {
    let pipedrive = seeded().await;
    for token in [None, Some("wrong")] {
        let (status, _, body) = get(&pipedrive, "/api/v2/deals/746", token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_error_shape(&body);
    }
    let (status, _, body) = get(&pipedrive, "/api/v2/deals/999", Some(FakePipedrive::TOKEN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body);
}

#[tokio::test]
async fn an_injected_429_carries_retry_after_once_then_reads_succeed() {
    let pipedrive = seeded().await;
    pipedrive.fail_next(429, Some(3));
    let token = Some(FakePipedrive::TOKEN);

    let (status, headers, body) = get(&pipedrive, "/api/v2/deals/746", token).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "3");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    assert_error_shape(&body);

    let (status, _, _) = get(&pipedrive, "/api/v2/deals/746", token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pipedrive.requests().len(), 2);
    assert!(pipedrive
        .logged_requests()
        .iter()
        .all(|r| r.api_token.as_deref() == Some(FakePipedrive::TOKEN)));
}
