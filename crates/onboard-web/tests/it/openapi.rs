//! `GET /api/openapi.json` describes the router truthfully: every route it serves and no
//! other, the bearer token on the JSON API, and response schemas that match real answers.

use crate::harness::for_each_backend;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use onboard_web::router::ROUTES;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
];

/// The document as served, fetched without a token.
async fn document(app: &crate::harness::App) -> Value {
    let request = Request::get("/api/openapi.json")
        .body(Body::empty())
        .unwrap();
    let (status, headers, document) = app.send(request).await;
    assert_eq!(status, StatusCode::OK, "{document}");
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        document["openapi"]
    );
    document
}

/// The (method, path) of every operation of the document.
fn operations(document: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if METHODS
                .iter()
                .any(|m| m.as_str().eq_ignore_ascii_case(method))
            {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

/// A concrete path for a route: every `{param}` filled in.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment {
            "{file}" => "probe.eml",
            s if s.starts_with('{') => "probe",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether an answer came from the router's fallbacks rather than from a route.
fn is_fallback(status: StatusCode, body: &Value) -> bool {
    status == StatusCode::METHOD_NOT_ALLOWED
        || (status == StatusCode::NOT_FOUND
            && matches!(
                body["error"]["message"].as_str(),
                Some("no such API endpoint" | "no such page")
            ))
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_of_the_router() {
    for_each_backend(|app| async move {
        let document = document(&app).await;
        let routes: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
            .collect();
        assert_eq!(routes.len(), ROUTES.len(), "a route is listed twice");
        assert_eq!(operations(&document), routes);

        for (method, path) in ROUTES {
            let method: Method = method.parse().unwrap();
            let uri = concrete(path);
            // The route answers, with the token and a body that is valid JSON but not what
            // any route takes (nothing is written).
            let (status, bytes) = app
                .raw(
                    method.clone(),
                    &uri,
                    Some(b"{}".to_vec()),
                    Some(crate::harness::TOKEN),
                )
                .await;
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            assert!(
                !is_fallback(status, &body),
                "{method} {uri} is documented but not served: {status} {body}"
            );
            // No other method is served on this path unless it is listed too.
            for other in METHODS {
                if ROUTES
                    .iter()
                    .any(|(m, p)| p == path && *m == other.as_str())
                {
                    continue;
                }
                let (status, _) = app
                    .raw(other.clone(), &uri, None, Some(crate::harness::TOKEN))
                    .await;
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{other} {uri} is served but not documented"
                );
            }
        }

        let schemes = document["components"]["securitySchemes"]
            .as_object()
            .unwrap();
        assert_eq!(schemes["bearer"]["type"], "http");
        assert_eq!(schemes["bearer"]["scheme"], "bearer");
        for (method, path) in ROUTES {
            let operation = &document["paths"][path][method.to_lowercase()];
            for requirement in operation["security"].as_array().into_iter().flatten() {
                for name in requirement.as_object().unwrap().keys() {
                    assert!(schemes.contains_key(name), "{method} {path} cites {name}");
                }
            }
            if !path.starts_with("/api/") || *path == "/api/openapi.json" {
                continue;
            }
            assert_eq!(
                operation["security"],
                json!([{"bearer": []}]),
                "{method} {path} must declare the bearer token"
            );
            assert!(
                operation["responses"]["401"].is_object(),
                "{method} {path} must document its 401"
            );
            let (status, body) = app
                .call_with(method.parse().unwrap(), &concrete(path), Some("{}"), None)
                .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
        }
        assert!(document["paths"]["/api/openapi.json"]["get"]["security"].is_null());
        app
    })
    .await;
}

/// Follows `$ref`s to the schema they name.
fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("not a schema reference: {reference}"));
            resolve(document, &document["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// The JSON schema of an operation's answer.
fn answer_schema<'a>(document: &'a Value, method: &str, path: &str, status: &str) -> &'a Value {
    let schema = &document["paths"][path][method]["responses"][status]["content"]
        ["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path} {status} has no JSON schema"
    );
    resolve(document, schema)
}

fn property<'a>(document: &'a Value, schema: &'a Value, name: &str) -> &'a Value {
    resolve(document, &schema["properties"][name])
}

fn item<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    resolve(document, &schema["items"])
}

fn names(values: Option<&Vec<Value>>) -> BTreeSet<String> {
    values
        .into_iter()
        .flatten()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// The answer has no field the schema does not describe, and every field it requires.
fn assert_fits(document: &Value, schema: &Value, answer: &Value, what: &str) {
    let keys: BTreeSet<String> = answer.as_object().unwrap().keys().cloned().collect();
    let properties: BTreeSet<String> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let required = names(schema["required"].as_array());
    assert!(
        keys.is_subset(&properties),
        "{what}: undocumented fields {:?}",
        keys.difference(&properties).collect::<Vec<_>>()
    );
    assert!(
        required.is_subset(&keys),
        "{what}: required but missing {:?}",
        required.difference(&keys).collect::<Vec<_>>()
    );
    for (key, value) in answer.as_object().unwrap() {
        let field = property(document, schema, key);
        if let Some(values) = field["enum"].as_array() {
            assert!(
                values.contains(value),
                "{what}.{key}: {value} not in {values:?}"
            );
        }
    }
}

#[tokio::test]
async fn the_documented_account_schemas_match_real_answers() {
    for_each_backend(|app| async move {
        let document = document(&app).await;
        let deal = json!({
            "id": "deal-1", "type": "deal.won", "account": "acme",
            "data": {
                "account_name": "Acme Corp", "domain": "acme.test", "deal_id": "D-1",
                "deal_name": "Acme – Pro", "plan": "pro", "seats": 25, "amount": 12000,
                "contacts": [{"email": "ann@acme.test", "name": "Ann Lee", "title": "IT admin",
                              "persona": "admin", "crm_id": "c-1", "properties": {"team": "it"}}]
            }
        });
        let (status, body) = app.post("/api/events", &deal.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        app.advance("1s").await;

        // The list: exactly the documented fields, in every item.
        let (status, page) = app.get("/api/accounts").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let page_schema = answer_schema(&document, "get", "/api/accounts", "200");
        let summary = item(&document, property(&document, page_schema, "accounts"));
        let documented: BTreeSet<String> = summary["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let accounts = page["accounts"].as_array().unwrap();
        assert_eq!(accounts.len(), 1);
        for account in accounts {
            let fields: BTreeSet<String> = account.as_object().unwrap().keys().cloned().collect();
            assert_eq!(fields, documented, "{account}");
            assert_fits(&document, summary, account, "AccountSummary");
        }
        assert_fits(&document, page_schema, &page, "AccountPage");

        // The account document, its people, deals and timeline.
        let (status, account) = app.get("/api/accounts/acme").await;
        assert_eq!(status, StatusCode::OK, "{account}");
        let schema = answer_schema(&document, "get", "/api/accounts/{id}", "200");
        assert_fits(&document, schema, &account, "Account");
        for (field, list) in [("people", &account["people"]), ("deals", &account["deals"])] {
            let item_schema = item(&document, property(&document, schema, field));
            assert!(
                !list.as_array().unwrap().is_empty(),
                "no {field}: {account}"
            );
            for value in list.as_array().unwrap() {
                assert_fits(&document, item_schema, value, field);
            }
        }
        let timeline = property(&document, schema, "timeline");
        assert_fits(&document, timeline, &account["timeline"], "timeline");
        for field in ["events", "messages"] {
            let item_schema = item(&document, property(&document, timeline, field));
            let list = account["timeline"][field].as_array().unwrap();
            assert!(!list.is_empty(), "no {field} in the timeline");
            for value in list {
                assert_fits(&document, item_schema, value, field);
            }
        }

        // An error answer has the documented error shape.
        let (status, error) = app.get("/api/accounts/missing").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let error_schema = answer_schema(&document, "get", "/api/accounts/{id}", "404");
        assert_fits(&document, error_schema, &error, "ErrorBody");
        let inner = property(&document, error_schema, "error");
        assert_fits(&document, inner, &error["error"], "Error");
        app
    })
    .await;
}

#[test]
fn every_reference_of_the_openapi_document_resolves_and_operation_ids_are_unique() {
    let document: Value =
        serde_json::from_str(onboard_web::openapi::document_json().unwrap()).unwrap();
    fn references(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("$ref", Value::String(reference)) => found.push(reference.clone()),
                        _ => references(value, found),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| references(v, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    references(&document, &mut found);
    assert!(!found.is_empty());
    for reference in found {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external reference {reference}"));
        assert!(
            document.pointer(pointer).is_some(),
            "{reference} does not resolve"
        );
    }
    let mut ids = BTreeSet::new();
    for item in document["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            let id = operation["operationId"].as_str().unwrap().to_owned();
            assert!(ids.insert(id.clone()), "operationId {id} is used twice");
        }
    }
}
