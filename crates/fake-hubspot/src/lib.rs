//! A local stand-in for HubSpot's CRM API, for tests: an axum server on `127.0.0.1:0` that
//! answers the reads Onboard makes after a deal-won webhook, in exactly the shapes HubSpot
//! documents (REFERENCE §1.4):
//!
//! - `GET /crm/v3/objects/deals/{dealId}?properties=…&associations=contacts,companies`
//!   (`SimplePublicObjectWithAssociations`, embedded association lists that page with
//!   `paging.next.after`),
//! - `GET /crm/v4/objects/deals/{dealId}/associations/{contacts|companies}?after=…&limit=…`
//!   (`toObjectId` numbers with `associationTypes`),
//! - `POST /crm/v3/objects/contacts/batch/read` (`BatchResponseSimplePublicObject`; 207 with
//!   `errors` when some ids are missing),
//! - `GET /crm/v3/objects/companies/{companyId}?properties=…`,
//! - `GET /crm/v3/owners/{ownerId}`.
//!
//! Every request needs `Authorization: Bearer <token>`; errors use HubSpot's error body
//! `{"status":"error","message","correlationId","category"}`. Tests seed data with the `add_*`
//! methods, inject failures with [`FakeHubSpot::fail_next`] and read the request log.
//!
//! The fake plays one portal (a HubSpot token belongs to one portal, and the API never names
//! it). It has no writes, search, pipelines or webhooks: only the endpoints the client uses.

mod api;

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::task::JoinHandle;

/// How a [`FakeHubSpot`] behaves. [`Default`] is what [`FakeHubSpot::start`] uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeOptions {
    /// The access token every request must carry as `Authorization: Bearer <token>`.
    pub token: String,
    /// How many rows an embedded association list of a deal read holds before it pages
    /// (HubSpot: 100; small here so that clients must page).
    pub association_page_size: usize,
    /// The most rows one v4 association page holds, whatever `limit` asks (HubSpot: 500).
    pub v4_page_size: usize,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            token: FakeHubSpot::TOKEN.to_owned(),
            association_page_size: 2,
            v4_page_size: 2,
        }
    }
}

/// One request the fake received, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// The HTTP method, e.g. `GET`.
    pub method: String,
    /// The path with its query string as sent, e.g. `/crm/v3/owners/6166860`.
    pub path_and_query: String,
    /// The `Authorization` header as sent, if any.
    pub authorization: Option<String>,
}

/// A running fake HubSpot. The server stops when this value is dropped.
#[derive(Debug)]
pub struct FakeHubSpot {
    base_url: String,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl FakeHubSpot {
    /// The access token the fake accepts unless [`FakeOptions::token`] says otherwise.
    pub const TOKEN: &'static str = "pat-na1-00000000-fake-4000-8000-000000000000";

    /// Starts a fake with [`FakeOptions::default`] on `127.0.0.1` and a free port.
    ///
    /// Panics when no local port can be bound: this is test tooling.
    pub async fn start() -> FakeHubSpot {
        Self::start_with(FakeOptions::default()).await
    }

    /// Starts a fake with `options` on `127.0.0.1` and a free port.
    ///
    /// Panics when no local port can be bound, or when a page size is 0.
    pub async fn start_with(options: FakeOptions) -> FakeHubSpot {
        assert!(
            options.association_page_size > 0 && options.v4_page_size > 0,
            "page sizes must be at least 1"
        );
        let shared = Arc::new(Shared {
            options,
            data: Mutex::new(Data::default()),
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap_or_else(|e| panic!("fake HubSpot cannot bind 127.0.0.1:0: {e}"));
        let address = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("fake HubSpot has no local address: {e}"));
        let app = api::router(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("fake HubSpot stopped: {e}");
            }
        });
        FakeHubSpot {
            base_url: format!("http://{address}"),
            shared,
            server,
        }
    }

    /// The API base to give a client in place of `https://api.hubapi.com`, without a
    /// trailing slash, e.g. `http://127.0.0.1:40123`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The access token this fake accepts.
    pub fn token(&self) -> &str {
        &self.shared.options.token
    }

    /// Adds (or replaces) a deal. `properties` is a JSON object; like HubSpot, the fake keeps
    /// every value as a string (numbers and booleans are written out, `null` stays `null`).
    /// `hs_object_id` is set to the id; `hs_is_closed_won`, when not given, is computed as
    /// `"true"` exactly when `dealstage` is `closedwon` (the default pipeline's won stage).
    /// The first of `company_ids` is the deal's primary company.
    ///
    /// Panics when `properties` is not a JSON object.
    pub fn add_deal(
        &self,
        deal_id: &str,
        properties: Value,
        contact_ids: &[&str],
        company_ids: &[&str],
    ) {
        let mut properties = string_properties(properties, "deal");
        if !properties.contains_key("hs_is_closed_won") {
            let won =
                properties.get("dealstage").cloned().flatten().as_deref() == Some("closedwon");
            properties.insert("hs_is_closed_won".to_owned(), Some(won.to_string()));
        }
        let deal = Deal {
            record: Record::new(deal_id, properties, "hs_lastmodifieddate"),
            contact_ids: unique(contact_ids),
            company_ids: unique(company_ids),
        };
        self.shared.lock().deals.insert(deal_id.to_owned(), deal);
    }

    /// Adds (or replaces) a contact, e.g. `{"email": "dana@acme.example", "firstname":
    /// "Dana"}`; values are kept as strings as in [`FakeHubSpot::add_deal`].
    ///
    /// Panics when `properties` is not a JSON object.
    pub fn add_contact(&self, contact_id: &str, properties: Value) {
        let properties = string_properties(properties, "contact");
        let record = Record::new(contact_id, properties, "lastmodifieddate");
        self.shared
            .lock()
            .contacts
            .insert(contact_id.to_owned(), record);
    }

    /// Adds (or replaces) a company, e.g. `{"name": "ACME", "domain": "acme.example"}`;
    /// values are kept as strings as in [`FakeHubSpot::add_deal`].
    ///
    /// Panics when `properties` is not a JSON object.
    pub fn add_company(&self, company_id: &str, properties: Value) {
        let properties = string_properties(properties, "company");
        let record = Record::new(company_id, properties, "hs_lastmodifieddate");
        self.shared
            .lock()
            .companies
            .insert(company_id.to_owned(), record);
    }

    /// Adds (or replaces) an owner (a `PERSON`), found by its `id` — the value of a deal's
    /// `hubspot_owner_id` — or by its generated numeric `userId`.
    pub fn add_owner(&self, owner_id: &str, email: &str, first_name: &str, last_name: &str) {
        let mut data = self.shared.lock();
        data.n_users += 1;
        let owner = Owner {
            id: owner_id.to_owned(),
            email: email.to_owned(),
            first_name: first_name.to_owned(),
            last_name: last_name.to_owned(),
            user_id: 1_296_600 + data.n_users,
            created_at: now(),
        };
        data.owners.insert(owner_id.to_owned(), owner);
    }

    /// Makes the next `n` requests, whatever they are, fail with `status` and HubSpot's error
    /// body. A 429 carries `Retry-After: 1`, as [`FakeHubSpot::fail_next_with`] can change.
    pub fn fail_next(&self, n: usize, status: u16) {
        let retry_after = (status == 429).then_some(1);
        self.fail_next_with(n, status, retry_after);
    }

    /// Makes the next `n` requests fail with `status`, HubSpot's error body and, when
    /// `retry_after` is set, a `Retry-After` header of that many seconds.
    ///
    /// Panics when `status` is not an HTTP error status (400–599).
    pub fn fail_next_with(&self, n: usize, status: u16, retry_after: Option<u64>) {
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

    /// Every request received so far with its `Authorization` header, in arrival order.
    pub fn logged_requests(&self) -> Vec<LoggedRequest> {
        self.shared.lock().log.clone()
    }
}

impl Drop for FakeHubSpot {
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
    deals: HashMap<String, Deal>,
    contacts: HashMap<String, Record>,
    companies: HashMap<String, Record>,
    owners: HashMap<String, Owner>,
    failure: Option<Failure>,
    log: Vec<LoggedRequest>,
    n_users: u64,
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

/// A CRM object: its properties (values are strings or null) and timestamps.
#[derive(Debug, Clone)]
struct Record {
    properties: BTreeMap<String, Option<String>>,
    created_at: String,
}

impl Record {
    /// A record with HubSpot's bookkeeping properties, which every read returns unasked:
    /// `hs_object_id`, `createdate` and the object's last-modified property.
    fn new(
        id: &str,
        mut properties: BTreeMap<String, Option<String>>,
        modified_property: &str,
    ) -> Self {
        let created_at = now();
        properties.insert("hs_object_id".to_owned(), Some(id.to_owned()));
        properties
            .entry("createdate".to_owned())
            .or_insert_with(|| Some(created_at.clone()));
        properties
            .entry(modified_property.to_owned())
            .or_insert_with(|| Some(created_at.clone()));
        Self {
            properties,
            created_at,
        }
    }
}

#[derive(Debug, Clone)]
struct Deal {
    record: Record,
    contact_ids: Vec<String>,
    company_ids: Vec<String>,
}

#[derive(Debug, Clone)]
struct Owner {
    id: String,
    email: String,
    first_name: String,
    last_name: String,
    user_id: u64,
    created_at: String,
}

/// Property values as HubSpot keeps them: strings, or null.
fn string_properties(properties: Value, what: &str) -> BTreeMap<String, Option<String>> {
    let Value::Object(map) = properties else {
        panic!("the properties of a {what} must be a JSON object, not {properties}");
    };
    map.into_iter()
        .map(|(name, value)| {
            let value = match value {
                Value::Null => None,
                Value::String(s) => Some(s),
                other => Some(other.to_string()),
            };
            (name, value)
        })
        .collect()
}

fn unique(ids: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.iter().any(|seen| seen == id) {
            out.push((*id).to_owned());
        }
    }
    out
}

/// The current time as HubSpot writes it: RFC 3339, UTC, milliseconds.
fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}
