//! A local stand-in for Pipedrive's API, for tests: an axum server on `127.0.0.1:0` that
//! answers the reads Onboard makes after a deal webhook, in the shapes Pipedrive documents
//! (REFERENCE §2; Pipedrive's "Responses", "HTTP status codes" and "Rate limiting" pages):
//!
//! - `GET /api/v2/deals/{id}` (a v2 deal: ids as numbers, `status`, `is_deleted`),
//! - `GET /api/v2/persons/{id}` (`emails` and `phones` as `[{value, primary, label}]`),
//! - `GET /api/v1/deals/{id}/participants?start=…&limit=…` (v1 participants, each with its
//!   `person_id` summary and full `person`; pages of [`FakeOptions::participants_page_size`]
//!   with `additional_data.pagination.{more_items_in_collection, next_start}`),
//! - `GET /api/v2/organizations/{id}` (with the nullable `website`),
//! - `GET /api/v1/users/{id}`.
//!
//! Every answer is `{"success": true, "data": …, "additional_data": …}` or Pipedrive's error
//! body `{"success": false, "error", "error_info", "data": null, "additional_data": null}`,
//! and carries the `x-ratelimit-*` headers. Every request needs the API token in the
//! `x-api-token` header (401 otherwise). Tests seed data with the `add_*` methods, inject
//! failures with [`FakePipedrive::fail_next`] and read the request log.
//!
//! The fake plays one company. It has no writes, search, filters or webhooks: only the
//! endpoints the client uses.

mod api;

use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::task::JoinHandle;

/// How a [`FakePipedrive`] behaves. [`Default`] is what [`FakePipedrive::start`] uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeOptions {
    /// The API token every request must carry in `x-api-token`.
    pub token: String,
    /// The company (Pipedrive account) the fake plays.
    pub company_id: u64,
    /// The most participants one page holds, whatever `limit` asks (Pipedrive: up to 500;
    /// small here so that clients must page).
    pub participants_page_size: usize,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            token: FakePipedrive::TOKEN.to_owned(),
            company_id: FakePipedrive::COMPANY_ID,
            participants_page_size: 2,
        }
    }
}

/// One request the fake received, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// The HTTP method, e.g. `GET`.
    pub method: String,
    /// The path with its query string as sent, e.g. `/api/v2/deals/746`.
    pub path_and_query: String,
    /// The `x-api-token` header as sent, if any.
    pub api_token: Option<String>,
}

/// A running fake Pipedrive. The server stops when this value is dropped.
#[derive(Debug)]
pub struct FakePipedrive {
    base_url: String,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl FakePipedrive {
    /// The API token the fake accepts unless [`FakeOptions::token`] says otherwise.
    pub const TOKEN: &'static str = "fake0pipedrive0api0token0000000000000000";
    /// The company id the fake plays unless [`FakeOptions::company_id`] says otherwise.
    pub const COMPANY_ID: u64 = 123;

    /// Starts a fake with [`FakeOptions::default`] on `127.0.0.1` and a free port.
    ///
    /// Panics when no local port can be bound: this is test tooling.
    pub async fn start() -> FakePipedrive {
        Self::start_with(FakeOptions::default()).await
    }

    /// Starts a fake with `options` on `127.0.0.1` and a free port.
    ///
    /// Panics when no local port can be bound, or when the page size is 0.
    pub async fn start_with(options: FakeOptions) -> FakePipedrive {
        assert!(
            options.participants_page_size > 0,
            "the page size must be at least 1"
        );
        let shared = Arc::new(Shared {
            options,
            data: Mutex::new(Data::default()),
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap_or_else(|e| panic!("fake Pipedrive cannot bind 127.0.0.1:0: {e}"));
        let address = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("fake Pipedrive has no local address: {e}"));
        let app = api::router(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("fake Pipedrive stopped: {e}");
            }
        });
        FakePipedrive {
            base_url: format!("http://{address}"),
            shared,
            server,
        }
    }

    /// The API base to give a client in place of `https://api.pipedrive.com`, without a
    /// trailing slash, e.g. `http://127.0.0.1:40123`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The API token this fake accepts.
    pub fn token(&self) -> &str {
        &self.shared.options.token
    }

    /// The company id this fake plays.
    pub fn company_id(&self) -> u64 {
        self.shared.options.company_id
    }

    /// Adds (or replaces) a deal: `fields` (a JSON object, e.g. `{"title": "ACME – Pro",
    /// "status": "won", "value": 12000, "person_id": 3, "org_id": 2, "owner_id": 456}`) over
    /// the fields every v2 deal has.
    ///
    /// Panics when `fields` is not a JSON object.
    pub fn add_deal(&self, deal_id: u64, fields: Value) {
        let now = now();
        let defaults = json!({
            "id": deal_id, "title": format!("Deal {deal_id}"), "creator_user_id": 1,
            "owner_id": null, "person_id": null, "org_id": null, "pipeline_id": 1,
            "stage_id": 1, "value": 0, "currency": "USD", "add_time": now,
            "update_time": now, "stage_change_time": now, "is_deleted": false,
            "status": "open", "probability": null, "lost_reason": null, "visible_to": 3,
            "close_time": null, "won_time": null, "lost_time": null,
            "expected_close_date": null, "label_ids": [], "origin": "ManuallyCreated",
            "origin_id": null, "channel": null, "channel_id": null, "arr": null, "mrr": null,
            "acv": null, "custom_fields": {},
        });
        let deal = merged(defaults, fields, "deal");
        self.shared.lock().deals.insert(deal_id, deal);
    }

    /// Adds (or replaces) a person: `fields` (a JSON object, e.g. `{"name": "Ada Byron",
    /// "emails": [{"value": "ada@acme.example", "primary": true, "label": "work"}],
    /// "job_title": "IT Administrator"}`) over the fields every v2 person has.
    ///
    /// Panics when `fields` is not a JSON object.
    pub fn add_person(&self, person_id: u64, fields: Value) {
        let now = now();
        let defaults = json!({
            "id": person_id, "name": format!("Person {person_id}"), "first_name": null,
            "last_name": null, "owner_id": 1, "org_id": null, "add_time": now,
            "update_time": now, "emails": [], "phones": [], "is_deleted": false,
            "visible_to": 3, "label_ids": [], "picture_id": null, "custom_fields": {},
        });
        let person = merged(defaults, fields, "person");
        self.shared.lock().persons.insert(person_id, person);
    }

    /// Adds (or replaces) an organization: `fields` (a JSON object, e.g. `{"name": "ACME",
    /// "website": "https://www.acme.example"}`) over the fields every v2 organization has.
    ///
    /// Panics when `fields` is not a JSON object.
    pub fn add_org(&self, org_id: u64, fields: Value) {
        let now = now();
        let defaults = json!({
            "id": org_id, "name": format!("Organization {org_id}"), "owner_id": 1,
            "add_time": now, "update_time": now, "is_deleted": false, "visible_to": 3,
            "address": null, "label_ids": [], "custom_fields": {},
        });
        let org = merged(defaults, fields, "organization");
        self.shared.lock().orgs.insert(org_id, org);
    }

    /// Adds (or replaces) a user (a deal's `owner_id` names one).
    pub fn add_user(&self, user_id: u64, email: &str, name: &str) {
        let user = User {
            email: email.to_owned(),
            name: name.to_owned(),
            created: now_v1(),
        };
        self.shared.lock().users.insert(user_id, user);
    }

    /// Makes `person_id` a participant of `deal_id`, after those added before (Pipedrive
    /// lists participants in the order they were added; the deal's own person is usually
    /// the first).
    pub fn add_participant(&self, deal_id: u64, person_id: u64) {
        let mut data = self.shared.lock();
        data.n_participants += 1;
        let participant_id = data.n_participants;
        data.participants
            .entry(deal_id)
            .or_default()
            .push((participant_id, person_id));
    }

    /// Makes the next request, whatever it is, fail with `status` and Pipedrive's error body;
    /// with `retry_after`, a `Retry-After` header of that many seconds.
    ///
    /// Panics when `status` is not an HTTP error status (400–599).
    pub fn fail_next(&self, status: u16, retry_after: Option<u64>) {
        self.fail_next_times(1, status, retry_after);
    }

    /// Makes the next `n` requests fail as [`FakePipedrive::fail_next`] does.
    ///
    /// Panics when `status` is not an HTTP error status (400–599).
    pub fn fail_next_times(&self, n: usize, status: u16, retry_after: Option<u64>) {
        assert!(
            (400..=599).contains(&status),
            "{status} is not an error status"
        );
        self.shared.lock().failure = Some(Failure {
            remaining: n,
            status,
            retry_after,
        });
    }

    /// Every request received so far as `(method, path_and_query)`, in arrival order
    /// (including those answered with an error).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.shared
            .lock()
            .log
            .iter()
            .map(|r| (r.method.clone(), r.path_and_query.clone()))
            .collect()
    }

    /// Every request received so far with its `x-api-token` header, in arrival order.
    pub fn logged_requests(&self) -> Vec<LoggedRequest> {
        self.shared.lock().log.clone()
    }
}

impl Drop for FakePipedrive {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// What the handlers share.
#[derive(Debug)]
struct Shared {
    options: FakeOptions,
    data: Mutex<Data>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Data> {
        // A panicking test thread must not take the fake down with it.
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug, Default)]
struct Data {
    deals: HashMap<u64, Value>,
    persons: HashMap<u64, Value>,
    orgs: HashMap<u64, Value>,
    users: HashMap<u64, User>,
    /// Per deal: `(participant id, person id)` in the order added.
    participants: BTreeMap<u64, Vec<(u64, u64)>>,
    n_participants: u64,
    failure: Option<Failure>,
    log: Vec<LoggedRequest>,
}

impl Data {
    /// The injected failure for this request, if any is left.
    fn take_failure(&mut self) -> Option<(u16, Option<u64>)> {
        let failure = self.failure.as_mut()?;
        if failure.remaining == 0 {
            self.failure = None;
            return None;
        }
        failure.remaining -= 1;
        Some((failure.status, failure.retry_after))
    }
}

#[derive(Debug)]
struct Failure {
    remaining: usize,
    status: u16,
    retry_after: Option<u64>,
}

#[derive(Debug, Clone)]
struct User {
    email: String,
    name: String,
    created: String,
}

/// `fields` over `defaults`.
fn merged(defaults: Value, fields: Value, what: &str) -> Value {
    let Value::Object(fields) = fields else {
        panic!("the fields of a {what} must be a JSON object, not {fields}");
    };
    let mut object: Map<String, Value> = match defaults {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    object.extend(fields);
    Value::Object(object)
}

/// The current time as v2 writes it: RFC 3339, UTC, seconds.
fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The current time as v1 writes it: `YYYY-MM-DD HH:MM:SS`, UTC.
fn now_v1() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}
