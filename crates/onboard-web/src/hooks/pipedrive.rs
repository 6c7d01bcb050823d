//! `POST /hooks/pipedrive`: Pipedrive deal webhooks, v2 and legacy v1 (REFERENCE §2).
//!
//! Pipedrive signs nothing: the webhook is created with HTTP Basic credentials, compared
//! here in constant time with the configured `user:password`.
//!
//! A deal that just became won is recognised by:
//! - v2 (`meta.version` `"2.0"` or a `meta.entity`): `meta.entity == "deal"`,
//!   `meta.action == "change"`, `data.status == "won"`, and `previous.status` present and
//!   not `"won"`;
//! - v1 (`v: 1` or `event: "updated.deal"`): `current.status == "won"` and
//!   `previous.status != "won"`.
//!
//! Everything else is answered 200 and ignored.
//!
//! Pipedrive's webhooks carry only ids (person, organization, owner), so when the engine has
//! Pipedrive's API configured the won deal is logged as a raw `pipedrive.deal` event on the
//! company's stream ([`raw_event`], keyed by the delivery's `meta.id`): the answer goes out at
//! once, and the engine fetches the deal, its people, organization and owner, then appends
//! `deal.won` (one fetch per deal). Without an API token the deal is built from the webhook
//! alone: one `deal.won` event ([`WonDeal`] with source `pipedrive` and the Pipedrive company
//! as tenant), keyed per deal, whose people are only those the body carries. Either way a
//! redelivery is a duplicate.

use crate::error::{ApiError, ApiResult};
use crate::extract::parse_json;
use crate::hooks::{answer, id_text, invalid, looks_like_email, problem, text, RawBody};
use crate::state::{AppState, Secret};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use onboard_core::crm::{self, DealAccount, DealContact, WonDeal};
use onboard_core::event::InputError;
use onboard_core::{NewEvent, Timestamp};
use serde_json::{Map, Value};

/// The challenge sent with every 401.
pub const CHALLENGE: &str = r#"Basic realm="onboard""#;

/// Whether an `Authorization` header carries the expected Basic `user:password`
/// (compared in constant time).
pub fn basic_auth_matches(expected: &Secret, authorization: Option<&str>) -> bool {
    let Some(value) = authorization else {
        return false;
    };
    let Some((scheme, encoded)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    match String::from_utf8(decoded) {
        Ok(credentials) => expected.matches(&credentials),
        Err(_) => false,
    }
}

/// What a Pipedrive delivery asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// A deal that just became won, at its won time (else the delivery's time) when known.
    Won(Box<WonDeal>, Option<Timestamp>),
    /// Not a deal becoming won; why.
    Ignored(&'static str),
}

/// Reads a v1 or v2 body.
pub fn parse_delivery(body: &Value) -> Result<Delivery, Vec<InputError>> {
    let Value::Object(root) = body else {
        return Err(vec![problem("", "the body must be a JSON object")]);
    };
    let empty = Map::new();
    let meta = root
        .get("meta")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let status = |object: Option<&Value>| {
        object
            .and_then(|o| o.get("status"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let is_v2 =
        meta.get("version").and_then(Value::as_str) == Some("2.0") || meta.contains_key("entity");
    let is_v1 = root.get("v").and_then(Value::as_i64) == Some(1)
        || root.get("event").and_then(Value::as_str) == Some("updated.deal");
    let (current, current_at) = if is_v2 {
        if meta.get("entity").and_then(Value::as_str) != Some("deal") {
            return Ok(Delivery::Ignored("not a deal"));
        }
        if meta.get("action").and_then(Value::as_str) != Some("change") {
            return Ok(Delivery::Ignored("not a change"));
        }
        let previous = root.get("previous").and_then(Value::as_object);
        let was_won = match previous.and_then(|p| p.get("status")) {
            None => return Ok(Delivery::Ignored("the status did not change")),
            Some(status) => status.as_str() == Some("won"),
        };
        if status(root.get("data")).as_deref() != Some("won") || was_won {
            return Ok(Delivery::Ignored("the deal did not become won"));
        }
        (root.get("data"), "data")
    } else if is_v1 {
        let event = root.get("event").and_then(Value::as_str);
        let object = meta.get("object").and_then(Value::as_str);
        if event.is_some_and(|e| !e.ends_with(".deal")) || object.is_some_and(|o| o != "deal") {
            return Ok(Delivery::Ignored("not a deal"));
        }
        if status(root.get("current")).as_deref() != Some("won")
            || status(root.get("previous")).as_deref() == Some("won")
        {
            return Ok(Delivery::Ignored("the deal did not become won"));
        }
        (root.get("current"), "current")
    } else {
        return Ok(Delivery::Ignored("not a Pipedrive deal webhook"));
    };
    let Some(current) = current.and_then(Value::as_object) else {
        return Err(vec![problem(current_at, "the deal must be an object")]);
    };

    let deal_id = current
        .get("id")
        .and_then(id_text)
        .or_else(|| {
            let key = if is_v2 { "entity_id" } else { "id" };
            meta.get(key).and_then(id_text)
        })
        .ok_or_else(|| vec![problem(format!("{current_at}.id"), "the deal has no id")])?;
    let title = text(current.get("title"));
    let org = current.get("org_id");
    let org_name = text(current.get("org_name")).or_else(|| text(org.and_then(|o| o.get("name"))));
    let org_id = org.and_then(|o| match o {
        Value::Object(o) => o.get("value").and_then(id_text),
        other => id_text(other),
    });
    let owner_email = text(current.get("owner_email"))
        .or_else(|| text(current.get("user_id").and_then(|u| u.get("email"))))
        .filter(|e| looks_like_email(e));
    let amount = current.get("value").and_then(|v| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    let at = current
        .get("won_time")
        .and_then(parse_time)
        .or_else(|| meta.get("timestamp").and_then(parse_time));
    let account_name = org_name
        .or_else(|| title.clone())
        .unwrap_or_else(|| format!("Pipedrive deal {deal_id}"));
    Ok(Delivery::Won(
        Box::new(WonDeal {
            source: "pipedrive".to_owned(),
            tenant: meta.get("company_id").and_then(id_text),
            deal_id,
            deal_name: title,
            account: DealAccount {
                name: account_name,
                domain: None,
                crm_id: org_id,
            },
            owner_email,
            seats: None,
            plan: None,
            amount,
            contacts: person(current).into_iter().collect(),
        }),
        at,
    ))
}

/// The id of a v2 delivery (`meta.id`, the same on Pipedrive's retries of it); `None` for v1,
/// whose `meta.id` is the object's id.
pub fn delivery_id(body: &Value) -> Option<String> {
    let meta = body.get("meta")?.as_object()?;
    let is_v2 =
        meta.get("version").and_then(Value::as_str) == Some("2.0") || meta.contains_key("entity");
    if is_v2 {
        meta.get("id").and_then(id_text)
    } else {
        None
    }
}

/// The raw `pipedrive.deal` event of a won deal, for the engine to fetch from Pipedrive's
/// API: the company's stream, the deal, the delivery (for dedupe) and the time. The company
/// id is needed to name the stream and the tenant.
pub fn raw_event(
    deal: &WonDeal,
    at: Timestamp,
    delivery_id: Option<&str>,
) -> Result<NewEvent, Vec<InputError>> {
    let company_id = deal
        .tenant
        .as_deref()
        .and_then(super::decimal)
        .ok_or_else(|| {
            vec![problem(
                "meta.company_id",
                "a won deal needs its Pipedrive company id (digits) to be fetched from the API",
            )]
        })?;
    Ok(crm::pipedrive_deal_event(
        company_id,
        &deal.deal_id,
        delivery_id,
        at,
    ))
}

/// The deal's person when the payload carries an email (v1 `person_id` as an object).
fn person(current: &Map<String, Value>) -> Option<DealContact> {
    let person = current.get("person_id")?.as_object()?;
    let emails: Vec<(&str, bool)> = match person.get("email")? {
        Value::String(email) => vec![(email.as_str(), true)],
        Value::Array(items) => items
            .iter()
            .filter_map(|item| {
                let value = item.get("value")?.as_str()?;
                let primary = item.get("primary").and_then(Value::as_bool) == Some(true);
                Some((value, primary))
            })
            .collect(),
        _ => return None,
    };
    let email = emails
        .iter()
        .find(|(_, primary)| *primary)
        .or_else(|| emails.first())
        .map(|(email, _)| email.trim())
        .filter(|email| looks_like_email(email))?;
    Some(DealContact {
        email: email.to_owned(),
        name: text(person.get("name")).or_else(|| text(current.get("person_name"))),
        title: None,
        crm_id: person.get("value").and_then(id_text),
        properties: Default::default(),
    })
}

/// Pipedrive's times: RFC 3339, `2026-11-21 09:13:19` (UTC), or unix seconds,
/// milliseconds or microseconds as a number.
fn parse_time(value: &Value) -> Option<Timestamp> {
    match value {
        Value::String(text) => {
            let text = text.trim();
            Timestamp::parse_rfc3339(text).ok().or_else(|| {
                let (date, time) = text.split_once(' ')?;
                Timestamp::parse_rfc3339(&format!("{date}T{time}Z")).ok()
            })
        }
        Value::Number(n) => {
            let n = n.as_i64()?;
            let millis = if n < 100_000_000_000 {
                n.checked_mul(1000)?
            } else if n < 100_000_000_000_000 {
                n
            } else {
                n / 1000
            };
            Some(Timestamp(millis))
        }
        _ => None,
    }
}

/// `POST /hooks/pipedrive`.
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<Value>, Response> {
    handle(state, headers, body).await.map_err(|error| {
        let unauthorized = error.status == axum::http::StatusCode::UNAUTHORIZED;
        let mut response = error.into_response();
        if unauthorized {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(CHALLENGE),
            );
        }
        response
    })
}

async fn handle(state: AppState, headers: HeaderMap, body: bytes::Bytes) -> ApiResult<Json<Value>> {
    let Some(credentials) = &state.hooks.pipedrive_basic_auth else {
        return Err(ApiError::not_found(
            "the Pipedrive hook is not configured (set ONBOARD_PIPEDRIVE_BASIC_AUTH)",
        ));
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !basic_auth_matches(credentials, authorization) {
        tracing::warn!(hook = "pipedrive", "refused a webhook: bad credentials");
        return Err(ApiError::unauthorized(
            "send the HTTP Basic credentials configured for this hook",
        ));
    }
    let payload = parse_json(&body)?;
    let (deal, at) = match parse_delivery(&payload).map_err(invalid)? {
        Delivery::Won(deal, at) => (deal, at),
        Delivery::Ignored(reason) => {
            tracing::debug!(hook = "pipedrive", reason, "ignored a webhook");
            return Ok(Json(answer(&[], 1)));
        }
    };
    let at = at.unwrap_or_else(|| state.engine.now());
    // With the API, the deal is fetched later (people, organization, owner); without it, the
    // webhook's own fields are all there is.
    let fetch = state.engine.config().pipedrive.is_some();
    let event = if fetch {
        raw_event(&deal, at, delivery_id(&payload).as_deref()).map_err(invalid)?
    } else {
        deal.to_event(at)
    };
    let outcomes = state.engine.ingest(vec![event]).await?;
    let answer = answer(&outcomes, 0);
    tracing::info!(hook = "pipedrive", deal.id = %deal.deal_id, fetch, result = %answer, "webhook received");
    Ok(Json(answer))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v2(status: &str, previous: Value) -> Value {
        json!({"meta": {"action": "change", "entity": "deal", "entity_id": "746", "id": "2f0e-uuid",
                "company_id": "123", "user_id": "456", "version": "2.0", "timestamp": "2026-11-21T09:13:20.000Z"},
               "data": {"id": 746, "title": "ACME – Pro", "status": status, "value": 12000, "currency": "USD",
                "person_id": 3, "org_id": 2, "owner_id": 456, "won_time": "2026-11-21 09:13:19"},
               "previous": previous})
    }

    #[test]
    fn credentials_are_checked() {
        let secret = Secret::new("hook:s3cret".to_owned());
        let header = |c: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(c)
            )
        };
        assert!(basic_auth_matches(&secret, Some(&header("hook:s3cret"))));
        assert!(basic_auth_matches(
            &secret,
            Some(&header("hook:s3cret").replace("Basic", "basic"))
        ));
        assert!(!basic_auth_matches(&secret, Some(&header("hook:s3creT"))));
        assert!(!basic_auth_matches(&secret, Some(&header("hook:"))));
        assert!(!basic_auth_matches(&secret, Some("Bearer hook:s3cret")));
        assert!(!basic_auth_matches(&secret, Some("Basic !!!")));
        assert!(!basic_auth_matches(&secret, Some("Basic")));
        assert!(!basic_auth_matches(&secret, None));
    }

    #[test]
    fn a_v2_deal_that_became_won_is_a_won_deal() {
        let Delivery::Won(deal, at) =
            parse_delivery(&v2("won", json!({"status": "open"}))).unwrap()
        else {
            panic!("not won")
        };
        assert_eq!(
            at,
            Some(Timestamp::parse_rfc3339("2026-11-21T09:13:19Z").unwrap())
        );
        assert_eq!(deal.source, "pipedrive");
        assert_eq!(deal.tenant.as_deref(), Some("123"));
        assert_eq!(deal.deal_id, "746");
        assert_eq!(deal.deal_name.as_deref(), Some("ACME – Pro"));
        assert_eq!(deal.account.name, "ACME – Pro");
        assert_eq!(deal.account.crm_id.as_deref(), Some("2"));
        assert_eq!(deal.amount, Some(12000.0));
        assert!(deal.contacts.is_empty());
        assert_eq!(deal.event_key(), "pipedrive-123:deal:746:won");
    }

    #[test]
    fn v2_changes_that_do_not_make_a_deal_won_are_ignored() {
        for body in [
            v2("lost", json!({"status": "open"})),
            v2("won", json!({"status": "won"})),
            v2("won", json!({"value": 10})),
            v2("won", Value::Null),
            json!({"meta": {"entity": "person", "action": "change", "version": "2.0"}, "data": {"status": "won"}, "previous": {"status": "open"}}),
            json!({"meta": {"entity": "deal", "action": "create", "version": "2.0"}, "data": {"status": "won"}, "previous": null}),
            json!({"hello": "world"}),
        ] {
            assert!(
                matches!(parse_delivery(&body), Ok(Delivery::Ignored(_))),
                "{body}"
            );
        }
    }

    #[test]
    fn a_v1_deal_that_became_won_carries_its_org_owner_and_person() {
        let body = json!({"v": 1, "event": "updated.deal", "matches_filters": {"current": []},
            "meta": {"v": 1, "action": "updated", "object": "deal", "id": 746, "company_id": 123,
                     "timestamp": 1763716400},
            "current": {"id": 746, "title": "ACME – Pro", "status": "won", "value": 12000, "org_id": 2,
                        "org_name": "ACME", "owner_email": "tom@pipeflow.example", "person_name": "Ada Lovelace",
                        "person_id": {"value": 3, "name": "Ada Lovelace",
                                      "email": [{"value": "other@acme.example", "primary": false},
                                                {"value": "ada@acme.example", "primary": true}]}},
            "previous": {"id": 746, "status": "open"}});
        let Delivery::Won(deal, at) = parse_delivery(&body).unwrap() else {
            panic!("not won")
        };
        assert_eq!(at, Some(Timestamp(1_763_716_400_000)));
        assert_eq!(deal.tenant.as_deref(), Some("123"));
        assert_eq!(deal.account.name, "ACME");
        assert_eq!(deal.owner_email.as_deref(), Some("tom@pipeflow.example"));
        assert_eq!(deal.contacts.len(), 1);
        assert_eq!(deal.contacts[0].email, "ada@acme.example");
        assert_eq!(deal.contacts[0].crm_id.as_deref(), Some("3"));
    }

    #[test]
    fn v1_updates_of_won_deals_or_other_objects_are_ignored() {
        let body = json!({"v": 1, "event": "updated.deal", "current": {"id": 1, "status": "won"}, "previous": {"status": "won"}});
        assert!(matches!(parse_delivery(&body), Ok(Delivery::Ignored(_))));
        let body = json!({"v": 1, "event": "updated.person", "current": {"id": 1, "status": "won"}, "previous": {}});
        assert!(matches!(parse_delivery(&body), Ok(Delivery::Ignored(_))));
    }

    fn won(body: &Value) -> (WonDeal, Timestamp) {
        match parse_delivery(body).unwrap() {
            Delivery::Won(deal, at) => (*deal, at.unwrap()),
            other => panic!("not won: {other:?}"),
        }
    }

    #[test]
    fn a_v2_won_deal_is_logged_raw_on_the_company_stream_keyed_by_the_delivery() {
        let body = v2("won", json!({"status": "open"}));
        let (deal, at) = won(&body);
        let event = raw_event(&deal, at, delivery_id(&body).as_deref()).unwrap();
        assert_eq!(event.kind.as_str(), "pipedrive.deal");
        assert_eq!(event.account, "pipedrive-company-123");
        assert_eq!(event.key, "pipedrive:123:746:2f0e-uuid");
        assert_eq!(
            event.at,
            Timestamp::parse_rfc3339("2026-11-21T09:13:19Z").unwrap()
        );
        assert_eq!(
            event.data,
            json!({"company_id": 123, "deal_id": "746", "delivery_id": "2f0e-uuid"})
        );
    }

    #[test]
    fn a_redelivery_is_the_same_raw_event_and_another_delivery_names_the_same_deal() {
        let body = v2("won", json!({"status": "open"}));
        let mut retried = body.clone();
        retried["meta"]["attempt"] = json!(2);
        let mut other = body.clone();
        other["meta"]["id"] = json!("9a1c-uuid");
        let event = |body: &Value| {
            let (deal, at) = won(body);
            raw_event(&deal, at, delivery_id(body).as_deref()).unwrap()
        };
        assert_eq!(event(&body), event(&retried));
        let other = event(&other);
        assert_ne!(other.key, event(&body).key);
        assert_eq!(other.data["deal_id"], "746");
        assert_eq!(other.account, event(&body).account);
    }

    #[test]
    fn a_v1_won_deal_is_logged_raw_once_per_deal() {
        let body = json!({"v": 1, "event": "updated.deal",
            "meta": {"v": 1, "action": "updated", "object": "deal", "id": 746, "company_id": 123,
                     "timestamp": 1763716400},
            "current": {"id": 746, "status": "won", "org_id": 2}, "previous": {"status": "open"}});
        assert_eq!(delivery_id(&body), None, "v1's meta.id is the deal's");
        let (deal, at) = won(&body);
        let event = raw_event(&deal, at, delivery_id(&body).as_deref()).unwrap();
        assert_eq!(event.key, "pipedrive:123:746:won");
        assert_eq!(event.at, Timestamp(1_763_716_400_000));
    }

    #[test]
    fn a_won_deal_without_a_company_id_cannot_be_fetched() {
        let mut body = v2("won", json!({"status": "open"}));
        body["meta"].as_object_mut().unwrap().remove("company_id");
        let (deal, at) = won(&body);
        let errors = raw_event(&deal, at, delivery_id(&body).as_deref()).unwrap_err();
        assert_eq!(errors[0].at, "meta.company_id");
    }

    #[test]
    fn a_won_deal_without_an_id_is_refused() {
        let body = json!({"v": 1, "event": "updated.deal", "current": {"status": "won"}, "previous": {"status": "open"}});
        assert_eq!(parse_delivery(&body).unwrap_err()[0].at, "current.id");
        assert!(parse_delivery(&json!([])).is_err());
    }
}
