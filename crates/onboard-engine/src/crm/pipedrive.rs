//! The Pipedrive API client. A deal webhook carries only ids; [`PipedriveClient::fetch_deal`]
//! reads the deal (`GET /api/v2/deals/{id}`), and when its `status` is `won` its primary
//! person (`GET /api/v2/persons/{id}`), every page of its participants
//! (`GET /api/v1/deals/{id}/participants`, `start`/`limit` paging), its organization
//! (`GET /api/v2/organizations/{id}`) and its owner (`GET /api/v1/users/{id}`), and returns a
//! [`WonDeal`] — or [`FetchedDeal::NotWon`] when the deal is not (or no longer) won.
//!
//! Wire formats (REFERENCE §2; Pipedrive's "Responses", "HTTP status codes" and "Rate
//! limiting" pages): every answer is `{"success": true, "data": …, "additional_data": …}` or
//! `{"success": false, "error": "…", "error_info": "…", "data": null, "additional_data":
//! null}`; lists page with `additional_data.pagination.{start, limit,
//! more_items_in_collection, next_start}`; a 429 carries `Retry-After` and the
//! `x-ratelimit-*` headers. The API token travels in the `x-api-token` header, never in the
//! URL. The serde structs below mirror those shapes and ignore fields we do not read.
//!
//! Not here: retries and backoff (the caller's job queue retries a transient [`FetchError`]),
//! and anything that writes to Pipedrive.

pub use super::FetchError;
use onboard_core::crm::{clean_domain, DealAccount, DealContact, WonDeal};
use reqwest::header::{self, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::Duration;

/// The header Pipedrive reads the API token from.
pub const API_TOKEN_HEADER: &str = "x-api-token";
/// Seconds until the rate-limit window resets, on every answer.
const RATE_LIMIT_RESET_HEADER: &str = "x-ratelimit-reset";
/// Participants asked for per page (Pipedrive's default page size).
const PARTICIPANTS_PAGE_LIMIT: u64 = 100;
/// A guard against paging that never ends (far beyond any real deal).
const MAX_PARTICIPANT_PAGES: usize = 1_000;

/// A client of one Pipedrive company's API, with a personal API token.
pub struct PipedriveClient {
    base: Url,
    /// The API token, marked sensitive; never printed.
    token: HeaderValue,
    http: reqwest::Client,
}

impl fmt::Debug for PipedriveClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipedriveClient")
            .field("api_base", &self.base.as_str())
            .field("api_token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// What a deal read found.
#[derive(Debug, Clone, PartialEq)]
// Returned once per fetch and consumed at once; boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum FetchedDeal {
    /// The deal's `status` is `won`, with everything onboarding needs.
    Won(WonDeal),
    /// The deal is not (or no longer) won, or it was deleted.
    NotWon {
        /// The deal's `status` (`open`, `lost`, …), when set.
        status: Option<String>,
    },
}

impl PipedriveClient {
    /// A client for the API at `api_base` (`https://api.pipedrive.com`, a company domain, or
    /// a fake's URL) with `api_token`. Fails when the base is not an http(s) URL or the token
    /// is empty or cannot be sent in a header.
    pub fn new(api_base: &str, api_token: &str) -> Result<Self, String> {
        let base = super::api_base("Pipedrive", api_base, "https://api.pipedrive.com")?;
        let token = super::credential("Pipedrive", "API token", api_token, "{}")?;
        let http = super::http_client()?;
        Ok(Self { base, token, http })
    }

    /// Fetches a deal of `company_id` and everything onboarding needs: its people (the
    /// primary person, then the participants in Pipedrive's order; those with a valid email,
    /// one per email), its organization (name, and the domain of its website when it has
    /// one), its owner's email. A deal whose `status` is not `won` is
    /// [`FetchedDeal::NotWon`] and nothing else is read.
    pub async fn fetch_deal(
        &self,
        company_id: i64,
        deal_id: &str,
    ) -> Result<FetchedDeal, FetchError> {
        if deal_id.is_empty() || !deal_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FetchError::permanent(format!(
                "`{deal_id}` is not a Pipedrive deal id (deal ids are numeric)"
            )));
        }
        let deal = self.read_deal(deal_id).await?;
        let status = deal.status.as_deref().map(str::trim).map(str::to_owned);
        if status.as_deref() != Some("won") || deal.is_deleted {
            tracing::info!(
                pipedrive.company = company_id,
                deal.id = deal_id,
                deal.status = status.as_deref().unwrap_or(""),
                deal.deleted = deal.is_deleted,
                "Pipedrive deal is not won"
            );
            return Ok(FetchedDeal::NotWon { status });
        }

        let mut people = People::default();
        if let Some(person_id) = deal.person_id {
            if let Some(person) = self.read_person(deal_id, person_id).await? {
                people.add(deal_id, person_id, &person);
            }
        }
        self.read_participants(deal_id, &mut people).await?;
        let organization = match deal.org_id {
            Some(org_id) => self.read_organization(deal_id, org_id).await?,
            None => None,
        };
        let owner_email = match deal.owner_id {
            Some(owner_id) => self.read_owner_email(deal_id, owner_id).await?,
            None => None,
        };

        let deal_name = deal
            .title
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        let account = DealAccount {
            name: organization
                .as_ref()
                .and_then(|o| o.name.clone())
                .or_else(|| deal_name.clone())
                .unwrap_or_else(|| format!("Pipedrive deal {deal_id}")),
            domain: organization.and_then(|o| o.domain),
            // The deal's organization even when it could not be read: the account key is
            // then the same as the webhook alone gives.
            crm_id: deal.org_id.map(|id| id.to_string()),
        };
        Ok(FetchedDeal::Won(WonDeal {
            source: "pipedrive".to_owned(),
            tenant: Some(company_id.to_string()),
            deal_id: deal_id.to_owned(),
            deal_name,
            account,
            owner_email,
            seats: None,
            plan: None,
            amount: deal.value.filter(|v| v.is_finite()),
            contacts: people.contacts,
        }))
    }

    /// `GET /api/v2/deals/{id}`. Missing, unauthorised or forbidden is permanent: retrying
    /// the same token on the same id cannot help.
    async fn read_deal(&self, deal_id: &str) -> Result<DealV2, FetchError> {
        const WHAT: &str = "deal read";
        let url = self.url(&["api", "v2", "deals", deal_id])?;
        let reply = self.get(url, WHAT).await?;
        match reply.status {
            StatusCode::OK => reply.data(WHAT),
            StatusCode::NOT_FOUND => Err(FetchError::permanent(format!(
                "deal not found: Pipedrive has no deal {deal_id} in this company (404){}",
                error_detail(&reply.body)
            ))),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(FetchError::permanent(format!(
                    "Pipedrive refused the {WHAT} of deal {deal_id} ({}): the API token is wrong, \
                 revoked or cannot see this deal; fix it and retry the message{}",
                    reply.status,
                    error_detail(&reply.body)
                )))
            }
            _ => Err(reply.error(WHAT)),
        }
    }

    /// `GET /api/v2/persons/{id}`; `None` when the person is gone.
    async fn read_person(
        &self,
        deal_id: &str,
        person_id: u64,
    ) -> Result<Option<Person>, FetchError> {
        const WHAT: &str = "person read";
        let url = self.url(&["api", "v2", "persons", &person_id.to_string()])?;
        let reply = self.get(url, WHAT).await?;
        match reply.status {
            StatusCode::OK => reply.data(WHAT).map(Some),
            StatusCode::NOT_FOUND => {
                tracing::warn!(
                    deal.id = deal_id,
                    person.id = person_id,
                    "the deal's Pipedrive person does not exist; skipped"
                );
                Ok(None)
            }
            _ => Err(reply.error(WHAT)),
        }
    }

    /// Every page of `GET /api/v1/deals/{id}/participants?start=…&limit=…`, each participant's
    /// person added to `people` (the primary person comes back as a participant too; it is
    /// kept once).
    async fn read_participants(
        &self,
        deal_id: &str,
        people: &mut People,
    ) -> Result<(), FetchError> {
        const WHAT: &str = "deal participants list";
        let mut start: u64 = 0;
        for _ in 0..MAX_PARTICIPANT_PAGES {
            let mut url = self.url(&["api", "v1", "deals", deal_id, "participants"])?;
            url.query_pairs_mut()
                .append_pair("start", &start.to_string())
                .append_pair("limit", &PARTICIPANTS_PAGE_LIMIT.to_string());
            let reply = self.get(url, WHAT).await?;
            if reply.status != StatusCode::OK {
                return Err(reply.error(WHAT));
            }
            let page: Envelope<Option<Vec<Participant>>> = reply.parse(WHAT)?;
            page.check(WHAT)?;
            let items = page.data.unwrap_or_default();
            let n_items = items.len() as u64;
            for participant in items {
                match participant.person() {
                    Some((person_id, person)) => people.add(deal_id, person_id, person),
                    None => tracing::info!(
                        deal.id = deal_id,
                        participant.id = participant.id,
                        "Pipedrive participant has no person; skipped"
                    ),
                }
            }
            let pagination = page.additional_data.and_then(AdditionalData::pagination);
            let Some(pagination) = pagination.filter(|p| p.more_items_in_collection) else {
                return Ok(());
            };
            let next = pagination
                .next_start
                .unwrap_or_else(|| pagination.start.unwrap_or(start).saturating_add(n_items));
            if next <= start {
                return Err(FetchError::permanent(format!(
                    "Pipedrive {WHAT} of deal {deal_id} says there are more items but its next \
                     page starts at {next}, not after {start}"
                )));
            }
            start = next;
        }
        Err(FetchError::permanent(format!(
            "Pipedrive {WHAT} of deal {deal_id} did not end after {MAX_PARTICIPANT_PAGES} pages"
        )))
    }

    /// `GET /api/v2/organizations/{id}`; `None` when the organization is gone.
    async fn read_organization(
        &self,
        deal_id: &str,
        org_id: u64,
    ) -> Result<Option<Organization>, FetchError> {
        const WHAT: &str = "organization read";
        let url = self.url(&["api", "v2", "organizations", &org_id.to_string()])?;
        let reply = self.get(url, WHAT).await?;
        match reply.status {
            StatusCode::OK => {
                let org: OrganizationV2 = reply.data(WHAT)?;
                Ok(Some(Organization {
                    name: nonblank(org.name.as_deref()),
                    domain: [org.website, org.domain]
                        .iter()
                        .flatten()
                        .find_map(|site| clean_domain(site)),
                }))
            }
            StatusCode::NOT_FOUND => {
                tracing::warn!(
                    deal.id = deal_id,
                    organization.id = org_id,
                    "the deal's Pipedrive organization does not exist; the account is named \
                     after the deal"
                );
                Ok(None)
            }
            _ => Err(reply.error(WHAT)),
        }
    }

    /// `GET /api/v1/users/{id}` → the owner's email; `None` when the user is gone, has no
    /// email, or the token may not read users.
    async fn read_owner_email(
        &self,
        deal_id: &str,
        owner_id: u64,
    ) -> Result<Option<String>, FetchError> {
        const WHAT: &str = "owner read";
        let url = self.url(&["api", "v1", "users", &owner_id.to_string()])?;
        let reply = self.get(url, WHAT).await?;
        match reply.status {
            StatusCode::OK => {
                let user: User = reply.data(WHAT)?;
                let email = user.email.as_deref().and_then(clean_email);
                tracing::info!(
                    deal.id = deal_id,
                    owner.id = owner_id,
                    owner.name = user.name.as_deref().unwrap_or(""),
                    owner.has_email = email.is_some(),
                    "Pipedrive deal owner read"
                );
                Ok(email)
            }
            StatusCode::NOT_FOUND | StatusCode::FORBIDDEN => {
                tracing::info!(
                    deal.id = deal_id,
                    owner.id = owner_id,
                    status = %reply.status,
                    "the deal's Pipedrive owner cannot be read; no owner email"
                );
                Ok(None)
            }
            _ => Err(reply.error(WHAT)),
        }
    }

    /// The base URL with `segments` appended, each percent-encoded.
    fn url(&self, segments: &[&str]) -> Result<Url, FetchError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| FetchError::permanent("the Pipedrive API base cannot take a path"))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Sends an authenticated GET and reads the whole answer, whatever its status. Only a
    /// failure to get an answer is an error here.
    async fn get(&self, url: Url, what: &str) -> Result<Reply, FetchError> {
        let response = self
            .http
            .get(url)
            .header(
                HeaderName::from_static(API_TOKEN_HEADER),
                self.token.clone(),
            )
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| super::transport_error("Pipedrive", what, &e))?;
        let status = response.status();
        let seconds = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
        };
        // `Retry-After` when sent; on a 429 without it, the rest of the rate-limit window.
        let retry_after = seconds(header::RETRY_AFTER.as_str()).or_else(|| {
            (status == StatusCode::TOO_MANY_REQUESTS)
                .then(|| seconds(RATE_LIMIT_RESET_HEADER))
                .flatten()
        });
        let body = response
            .bytes()
            .await
            .map_err(|e| super::transport_error("Pipedrive", what, &e))?
            .to_vec();
        Ok(Reply {
            status,
            retry_after,
            body,
        })
    }
}

/// A Pipedrive answer, read whole.
struct Reply {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

impl Reply {
    /// The body as `T`, or a permanent error naming where it departs from the shape.
    fn parse<T: DeserializeOwned>(&self, what: &str) -> Result<T, FetchError> {
        let shape_error = |place: String, error: &serde_json::Error| {
            FetchError::permanent(format!(
                "Pipedrive {what} answered {} with a body that is not the documented \
                 shape{place}: {error}",
                self.status
            ))
        };
        let mut deserializer = serde_json::Deserializer::from_slice(&self.body);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
            let path = e.path().to_string();
            let place = if path == "." {
                String::new()
            } else {
                format!(" at `{path}`")
            };
            shape_error(place, e.inner())
        })?;
        deserializer
            .end()
            .map_err(|e| shape_error(String::new(), &e))?;
        Ok(value)
    }

    /// The `data` of a successful single-object answer.
    fn data<T: DeserializeOwned>(&self, what: &str) -> Result<T, FetchError> {
        let envelope: Envelope<Option<T>> = self.parse(what)?;
        envelope.check(what)?;
        envelope.data.ok_or_else(|| {
            FetchError::permanent(format!(
                "Pipedrive {what} answered {} with `success: true` but no `data`",
                self.status
            ))
        })
    }

    /// The error a non-success answer stands for.
    fn error(&self, what: &str) -> FetchError {
        let status = self.status;
        let detail = error_detail(&self.body);
        match status {
            StatusCode::TOO_MANY_REQUESTS => FetchError {
                permanent: false,
                retry_after: self.retry_after,
                message: format!("Pipedrive rate limit hit on the {what} ({status}){detail}"),
            },
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => FetchError::permanent(format!(
                "Pipedrive refused the {what} ({status}): the API token is wrong, revoked or \
                 lacks access; fix it and retry the message{detail}"
            )),
            StatusCode::REQUEST_TIMEOUT => FetchError::transient(format!(
                "Pipedrive timed out on the {what} ({status}){detail}"
            )),
            s if s.is_server_error() => FetchError {
                permanent: false,
                retry_after: self.retry_after,
                message: format!("Pipedrive failed on the {what} ({status}){detail}"),
            },
            _ => FetchError::permanent(format!("Pipedrive refused the {what} ({status}){detail}")),
        }
    }
}

/// `: <error> (<error_info>)` from Pipedrive's error body, or a short excerpt of a body that
/// is not one (e.g. a proxy's HTML page); empty when there is no body.
fn error_detail(body: &[u8]) -> String {
    if let Ok(error) = serde_json::from_slice::<ErrorBody>(body) {
        if error.error.is_some() || error.error_info.is_some() {
            let mut detail = format!(": {}", error.error.as_deref().unwrap_or("no message"));
            if let Some(info) = error.error_info.as_deref().filter(|i| !i.is_empty()) {
                detail.push_str(&format!(" ({info})"));
            }
            return detail;
        }
    }
    super::body_excerpt(body)
}

/// A trimmed, non-empty string.
fn nonblank(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// An address as an onboarding uses it: trimmed, lower case, `local@domain.tld`.
fn clean_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email.contains(char::is_whitespace);
    ok.then_some(email)
}

/// The deal's people as contacts: each person once, each email once, in the order found.
#[derive(Default)]
struct People {
    person_ids: HashSet<u64>,
    emails: HashSet<String>,
    contacts: Vec<DealContact>,
}

impl People {
    fn add(&mut self, deal_id: &str, person_id: u64, person: &Person) {
        if !self.person_ids.insert(person_id) {
            return;
        }
        match deal_contact(person_id, person) {
            Some(contact) if self.emails.insert(contact.email.clone()) => {
                self.contacts.push(contact);
            }
            Some(_) => tracing::info!(
                deal.id = deal_id,
                person.id = person_id,
                "duplicate person email; skipped"
            ),
            None => tracing::info!(
                deal.id = deal_id,
                person.id = person_id,
                "Pipedrive person has no valid email; skipped"
            ),
        }
    }
}

/// A person as a [`DealContact`]: the primary email (else the first valid one), the name,
/// the job title, and as properties the primary phone and the custom fields that hold a
/// plain value. `None` without a valid email.
fn deal_contact(person_id: u64, person: &Person) -> Option<DealContact> {
    let items = person.emails.items();
    let email = items
        .iter()
        .filter(|e| e.is_primary())
        .chain(items.iter())
        .find_map(|e| e.value.as_deref().and_then(clean_email))?;
    let name = nonblank(person.name.as_deref()).or_else(|| {
        let parts: Vec<String> = [&person.first_name, &person.last_name]
            .into_iter()
            .filter_map(|p| nonblank(p.as_deref()))
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    let mut properties = BTreeMap::new();
    let phones = person.phones.items();
    if let Some(phone) = phones
        .iter()
        .filter(|p| p.is_primary())
        .chain(phones.iter())
        .find_map(|p| nonblank(p.value.as_deref()))
    {
        properties.insert("phone".to_owned(), serde_json::Value::String(phone));
    }
    for (key, value) in &person.custom_fields {
        let plain = match value {
            serde_json::Value::String(s) if !s.trim().is_empty() => {
                Some(serde_json::Value::String(s.trim().to_owned()))
            }
            serde_json::Value::Number(_) | serde_json::Value::Bool(_) => Some(value.clone()),
            _ => None,
        };
        if let Some(plain) = plain {
            properties.insert(key.clone(), plain);
        }
    }
    Some(DealContact {
        email,
        name,
        title: nonblank(person.job_title.as_deref()),
        crm_id: Some(person_id.to_string()),
        properties,
    })
}

struct Organization {
    name: Option<String>,
    domain: Option<String>,
}

// Pipedrive's documented shapes, as far as we read them. Unknown fields are ignored.

/// `{"success", "data", "additional_data"}`, every answer's envelope.
#[derive(Debug, Deserialize)]
struct Envelope<T> {
    success: bool,
    #[serde(default)]
    data: T,
    #[serde(default)]
    additional_data: Option<AdditionalData>,
    #[serde(default)]
    error: Option<String>,
}

impl<T> Envelope<T> {
    /// A 200 that says `success: false` is not an answer we can use.
    fn check(&self, what: &str) -> Result<(), FetchError> {
        if self.success {
            Ok(())
        } else {
            Err(FetchError::permanent(format!(
                "Pipedrive {what} answered `success: false`: {}",
                self.error.as_deref().unwrap_or("no error message")
            )))
        }
    }
}

/// `additional_data` of a v1 list: `{"pagination": {…}}` (the Responses page), or the same
/// fields at the top (the OpenAPI schema of some lists).
#[derive(Debug, Deserialize)]
struct AdditionalData {
    #[serde(default)]
    pagination: Option<Pagination>,
    #[serde(flatten)]
    flat: Pagination,
}

impl AdditionalData {
    fn pagination(self) -> Option<Pagination> {
        self.pagination.or(Some(self.flat))
    }
}

/// `{start, limit, more_items_in_collection, next_start}`.
#[derive(Debug, Default, Deserialize)]
struct Pagination {
    #[serde(default)]
    start: Option<u64>,
    #[serde(default)]
    more_items_in_collection: bool,
    #[serde(default)]
    next_start: Option<u64>,
}

/// A v2 deal (`DealItem`), as far as we read it.
#[derive(Debug, Deserialize)]
struct DealV2 {
    #[serde(rename = "id")]
    _id: u64,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    is_deleted: bool,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    person_id: Option<u64>,
    #[serde(default)]
    org_id: Option<u64>,
    #[serde(default)]
    owner_id: Option<u64>,
}

/// A person: v2 (`emails`, `phones`, `custom_fields`) or v1 as embedded in a participant
/// (`email`, `phone`).
#[derive(Debug, Default, Deserialize)]
struct Person {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    job_title: Option<String>,
    #[serde(default, alias = "email")]
    emails: Channels,
    #[serde(default, alias = "phone")]
    phones: Channels,
    #[serde(default)]
    custom_fields: BTreeMap<String, serde_json::Value>,
}

/// A person's emails or phones: `[{value, primary, label}]`, or one plain string (older
/// v1 shapes), or null.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum Channels {
    List(Vec<Channel>),
    One(String),
    #[default]
    None,
}

impl Channels {
    fn items(&self) -> Vec<Channel> {
        match self {
            Channels::List(items) => items.clone(),
            Channels::One(value) => vec![Channel {
                value: Some(value.clone()),
                primary: Some(serde_json::Value::Bool(true)),
            }],
            Channels::None => Vec::new(),
        }
    }
}

/// `{value, primary, label}`; `primary` is a boolean (some v1 answers write `"true"`).
#[derive(Debug, Clone, Deserialize)]
struct Channel {
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    primary: Option<serde_json::Value>,
}

impl Channel {
    fn is_primary(&self) -> bool {
        match &self.primary {
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::String(s)) => s == "true",
            _ => false,
        }
    }
}

/// A v1 deal participant (`DealParticipantItem`): `person_id` is a short person object whose
/// id is `value`; `person` is the full person when Pipedrive includes it.
#[derive(Debug, Deserialize)]
struct Participant {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    person_id: Option<ParticipantPerson>,
    #[serde(default)]
    person: Option<Person>,
}

#[derive(Debug, Deserialize)]
struct ParticipantPerson {
    #[serde(default)]
    value: Option<u64>,
    #[serde(flatten)]
    person: Person,
}

impl Participant {
    /// The participant's person id and its fullest record.
    fn person(&self) -> Option<(u64, &Person)> {
        let short = self.person_id.as_ref();
        let id = short
            .and_then(|p| p.value)
            .or_else(|| self.person.as_ref().and_then(|p| p.id))?;
        let person = self.person.as_ref().or(short.map(|p| &p.person))?;
        Some((id, person))
    }
}

/// A v2 organization, as far as we read it (`website` is one of the nullable fields added
/// to v2 organizations; `domain` in case a company keeps one).
#[derive(Debug, Deserialize)]
struct OrganizationV2 {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    website: Option<String>,
    #[serde(default)]
    domain: Option<String>,
}

/// A v1 user, as far as we read it.
#[derive(Debug, Deserialize)]
struct User {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

/// Pipedrive's error body: `{"success": false, "error", "error_info", "data": null}`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_info: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(value: serde_json::Value) -> Person {
        serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_primary_email_wins_and_other_fields_become_properties() {
        let ada = person(serde_json::json!({
            "id": 3, "name": "Ada Byron", "job_title": "IT Administrator",
            "emails": [{"value": "other@acme.example", "primary": false, "label": "home"},
                       {"value": " Ada@ACME.example ", "primary": true, "label": "work"}],
            "phones": [{"value": "+1 555 0101", "primary": true, "label": "work"}],
            "custom_fields": {"0123456789abcdef0123456789abcdef01234567": "EMEA",
                              "1123456789abcdef0123456789abcdef01234567": null}
        }));
        let contact = deal_contact(3, &ada).unwrap_or_else(|| panic!("no contact"));
        assert_eq!(contact.email, "ada@acme.example");
        assert_eq!(contact.name.as_deref(), Some("Ada Byron"));
        assert_eq!(contact.title.as_deref(), Some("IT Administrator"));
        assert_eq!(contact.crm_id.as_deref(), Some("3"));
        assert_eq!(
            contact.properties,
            BTreeMap::from([
                (
                    "0123456789abcdef0123456789abcdef01234567".to_owned(),
                    serde_json::json!("EMEA")
                ),
                ("phone".to_owned(), serde_json::json!("+1 555 0101")),
            ])
        );
    }

    #[test]
    fn a_person_without_a_valid_email_is_no_contact() {
        for emails in [
            serde_json::json!([]),
            serde_json::json!(null),
            serde_json::json!([{"value": "not an address", "primary": true}]),
        ] {
            let p = person(serde_json::json!({"id": 4, "name": "No Mail", "emails": emails}));
            assert!(deal_contact(4, &p).is_none(), "{emails}");
        }
    }

    #[test]
    fn a_v1_participant_gives_its_person_id_and_email_array() {
        let participant: Participant = serde_json::from_value(serde_json::json!({
            "id": 77, "active_flag": true, "add_time": "2026-01-05 09:00:00",
            "person_id": {"name": "Vic Chief", "value": 5, "active_flag": true,
                          "email": [{"value": "vic@acme.example", "primary": "true"}],
                          "phone": [{"value": "", "primary": true}]},
            "related_item_type": "deal", "related_item_id": 746
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let (id, p) = participant.person().unwrap_or_else(|| panic!("no person"));
        assert_eq!(id, 5);
        let contact = deal_contact(id, p).unwrap_or_else(|| panic!("no contact"));
        assert_eq!(contact.email, "vic@acme.example");
        assert!(contact.properties.is_empty(), "{:?}", contact.properties);
    }

    #[test]
    fn pagination_is_read_nested_or_flat() {
        let nested: AdditionalData = serde_json::from_value(serde_json::json!(
            {"pagination": {"start": 0, "limit": 2, "more_items_in_collection": true, "next_start": 2}}
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let nested = nested.pagination().unwrap_or_default();
        assert!(nested.more_items_in_collection);
        assert_eq!(nested.next_start, Some(2));
        let flat: AdditionalData = serde_json::from_value(serde_json::json!(
            {"start": 2, "limit": 2, "more_items_in_collection": false}
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !flat
                .pagination()
                .unwrap_or_default()
                .more_items_in_collection
        );
    }

    #[test]
    fn the_token_never_prints() {
        let client = PipedriveClient::new("https://api.pipedrive.com", "pd-secret-token")
            .unwrap_or_else(|e| panic!("{e}"));
        let printed = format!("{client:?}");
        assert!(!printed.contains("pd-secret-token"), "{printed}");
        assert!(printed.contains("api.pipedrive.com"), "{printed}");
    }

    #[test]
    fn a_base_that_is_not_http_or_an_empty_token_is_refused() {
        assert!(PipedriveClient::new("ftp://api.pipedrive.com", "t").is_err());
        assert!(PipedriveClient::new("https://api.pipedrive.com", " ").is_err());
    }
}
