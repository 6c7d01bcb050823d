//! Outbound endpoints through the API: listed with their host only (the URL's path and the
//! signing secret are secrets), and enabled again after a delivery disabled them.

use crate::harness::{app_with_config, example_program, T0};
use axum::http::StatusCode;
use onboard_engine::channels::{Endpoint, EndpointKind};
use onboard_engine::EngineConfig;
use onboard_store::testing::TestDatabase;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn config() -> EngineConfig {
    let mut config = EngineConfig::new("test-node", "https://onboard.test");
    config.endpoints = vec![
        Endpoint {
            name: "sales-slack".to_owned(),
            kind: EndpointKind::Slack,
            url: "https://hooks.slack.com/services/T000/B000/XXXXSECRET".to_owned(),
            secret: None,
        },
        Endpoint {
            name: "crm-hook".to_owned(),
            kind: EndpointKind::Webhook,
            url: "https://crm.example.com:8443/hooks/onboard-PATHSECRET".to_owned(),
            secret: Some(SECRET.to_owned()),
        },
    ];
    config
}

#[tokio::test]
async fn endpoints_are_listed_by_host_and_enabled_again_by_name() {
    for db in TestDatabase::all().await {
        let (_, source) = example_program();
        let app = app_with_config(&db, source, T0, config()).await;
        let store = app.engine.store().clone();
        store
            .disable_endpoint(
                "crm-hook",
                app.engine.now(),
                "the webhook endpoint answered 410 Gone",
            )
            .await
            .unwrap();

        let (status, body) = app.get("/api/endpoints").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let text = body.to_string();
        for secret in ["XXXXSECRET", "PATHSECRET", "whsec_", "/hooks/"] {
            assert!(!text.contains(secret), "{secret} shown: {text}");
        }
        let endpoints = body["endpoints"].as_array().unwrap();
        assert_eq!(endpoints.len(), 2, "{body}");
        assert_eq!(endpoints[0]["name"], "crm-hook");
        assert_eq!(endpoints[0]["kind"], "webhook");
        assert_eq!(endpoints[0]["host"], "crm.example.com:8443");
        assert!(endpoints[0]["disabled_at"].is_string(), "{body}");
        assert_eq!(
            endpoints[0]["reason"],
            "the webhook endpoint answered 410 Gone"
        );
        assert_eq!(endpoints[1]["name"], "sales-slack");
        assert_eq!(endpoints[1]["kind"], "slack");
        assert_eq!(endpoints[1]["host"], "hooks.slack.com");
        assert!(endpoints[1]["disabled_at"].is_null(), "{body}");

        let (status, body) = app.post("/api/endpoints/crm-hook/enable", "").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["name"], "crm-hook");
        assert!(body["disabled_at"].is_null(), "{body}");
        assert!(store.disabled_endpoints().await.unwrap().is_empty());

        let (status, body) = app.post("/api/endpoints/nope/enable", "").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["error"]["code"], "not_found", "{body}");

        app.assert_settled().await;
        drop(app);
        db.finish().await;
    }
}
