//! The HubSpot CRM v3 client. A deal-won webhook carries only ids; [`HubSpotClient::fetch_deal`]
//! reads the deal with its association ids, pages the rest of its contacts (v4 associations),
//! batch-reads the contacts, reads the company and the owner, and returns a
//! [`WonDeal`] — or [`FetchedDeal::NotWon`] when `hs_is_closed_won` is not `"true"`.
//! Wire formats: REFERENCE §1.4; the serde structs below mirror HubSpot's documented response
//! shapes and ignore fields we do not read.
//!
//! Not here: retries and backoff (the caller's job queue retries a transient [`FetchError`]),
//! won-stage configuration, and anything that writes to HubSpot.

pub use super::FetchError;
use onboard_core::crm::{DealAccount, DealContact, WonDeal};
use reqwest::header::{self, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::Duration;

/// The deal properties read (HubSpot returns exactly these, each a string or null).
const DEAL_PROPERTIES: &str =
    "dealname,amount,dealstage,pipeline,closedate,hubspot_owner_id,hs_is_closed_won,seats,plan";
/// The contact properties read.
const CONTACT_PROPERTIES: [&str; 5] = ["email", "firstname", "lastname", "jobtitle", "phone"];
/// Properties HubSpot returns on every object whether asked or not: bookkeeping, not data.
const BOOKKEEPING_PROPERTIES: [&str; 4] = [
    "hs_object_id",
    "createdate",
    "lastmodifieddate",
    "hs_lastmodifieddate",
];
/// The most ids one batch read takes.
const BATCH_READ_SIZE: usize = 100;
/// The largest page the v4 association list serves.
const V4_PAGE_LIMIT: &str = "500";
/// A guard against a cursor that never ends (500 ids a page: far beyond any real deal).
const MAX_ASSOCIATION_PAGES: usize = 1_000;
/// The v3 name of HubSpot's primary deal → company association type (type id 5); other
/// companies come as `deal_to_company_unlabeled` (341) or a custom label.
const PRIMARY_COMPANY_TYPE: &str = "deal_to_company";

/// A client of one HubSpot account's CRM API, with a private-app or OAuth access token.
pub struct HubSpotClient {
    base: Url,
    /// `Bearer <token>`, marked sensitive; never printed.
    authorization: HeaderValue,
    http: reqwest::Client,
}

impl fmt::Debug for HubSpotClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubSpotClient")
            .field("api_base", &self.base.as_str())
            .field("access_token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// What a deal read found.
#[derive(Debug, Clone, PartialEq)]
// Returned once per fetch and consumed at once; boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum FetchedDeal {
    /// The deal is closed won (`hs_is_closed_won` is `"true"`), with everything onboarding
    /// needs.
    Won(WonDeal),
    /// The deal is not (or no longer) won.
    NotWon {
        /// The deal's `dealstage` (the stage id, not its label), when set.
        stage: Option<String>,
    },
}

impl HubSpotClient {
    /// A client for the API at `api_base` (`https://api.hubapi.com`, or a fake's URL) with
    /// `access_token`. Fails when the base is not an http(s) URL or the token is empty or
    /// cannot be sent in a header.
    pub fn new(api_base: &str, access_token: &str) -> Result<Self, String> {
        let base = super::api_base("HubSpot", api_base, "https://api.hubapi.com")?;
        let authorization =
            super::credential("HubSpot", "access token", access_token, "Bearer {}")?;
        let http = super::http_client()?;
        Ok(Self {
            base,
            authorization,
            http,
        })
    }

    /// Fetches a deal of `portal` and everything onboarding needs: its contacts (with a
    /// valid email, deduplicated, in association order), its primary company, its owner's
    /// email. A deal whose `hs_is_closed_won` is not `"true"` is [`FetchedDeal::NotWon`] and
    /// nothing else is read.
    pub async fn fetch_deal(&self, portal: i64, deal_id: &str) -> Result<FetchedDeal, FetchError> {
        if deal_id.is_empty() || !deal_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FetchError::permanent(format!(
                "`{deal_id}` is not a HubSpot deal id (deal ids are numeric)"
            )));
        }
        let deal = self.read_deal(deal_id).await?;
        let properties = &deal.properties;
        if property(properties, "hs_is_closed_won") != Some("true") {
            let stage = property(properties, "dealstage").map(str::to_owned);
            tracing::info!(
                hubspot.portal = portal,
                deal.id = deal_id,
                deal.stage = stage.as_deref().unwrap_or(""),
                "HubSpot deal is not closed won"
            );
            return Ok(FetchedDeal::NotWon { stage });
        }

        let contact_ids = self.contact_ids(deal_id, &deal).await?;
        let contacts = self.read_contacts(deal_id, &contact_ids).await?;
        let company = match primary_company(&deal) {
            Some(company_id) => self.read_company(deal_id, company_id).await?,
            None => None,
        };
        let owner_email = match property(properties, "hubspot_owner_id") {
            Some(owner_id) => self.read_owner_email(deal_id, owner_id).await?,
            None => None,
        };

        let deal_name = property(properties, "dealname").map(str::to_owned);
        let account = match company {
            Some(company) => DealAccount {
                name: company
                    .name
                    .or_else(|| deal_name.clone())
                    .unwrap_or_else(|| format!("HubSpot deal {deal_id}")),
                domain: company.domain,
                crm_id: Some(company.id),
            },
            None => DealAccount {
                name: deal_name
                    .clone()
                    .unwrap_or_else(|| format!("HubSpot deal {deal_id}")),
                domain: None,
                crm_id: None,
            },
        };
        Ok(FetchedDeal::Won(WonDeal {
            source: "hubspot".to_owned(),
            tenant: Some(portal.to_string()),
            deal_id: deal_id.to_owned(),
            deal_name,
            account,
            owner_email,
            seats: property(properties, "seats").and_then(parse_seats),
            plan: property(properties, "plan").map(str::to_owned),
            amount: property(properties, "amount").and_then(parse_amount),
            contacts,
        }))
    }

    /// `GET /crm/v3/objects/deals/{dealId}` with the properties and association ids.
    async fn read_deal(
        &self,
        deal_id: &str,
    ) -> Result<SimplePublicObjectWithAssociations, FetchError> {
        const WHAT: &str = "deal read";
        let mut url = self.url(&["crm", "v3", "objects", "deals", deal_id])?;
        // Only fixed, URL-safe characters: written as HubSpot documents them.
        url.set_query(Some(&format!(
            "properties={DEAL_PROPERTIES}&associations=contacts,companies"
        )));
        let reply = self.send(self.http.get(url), WHAT).await?;
        match reply.status {
            StatusCode::OK => reply.parse(WHAT),
            StatusCode::NOT_FOUND => Err(FetchError::permanent(format!(
                "deal not found: HubSpot has no deal {deal_id} in this account (404){}",
                error_detail(&reply.body)
            ))),
            _ => Err(reply.error(WHAT)),
        }
    }

    /// The deal's contact ids, deduplicated in first-seen order: the embedded page, then the
    /// rest from the v4 association list while it has a next page.
    async fn contact_ids(
        &self,
        deal_id: &str,
        deal: &SimplePublicObjectWithAssociations,
    ) -> Result<Vec<String>, FetchError> {
        const WHAT: &str = "deal → contact associations";
        let mut ids = UniqueIds::default();
        let Some(embedded) = deal.associations.get("contacts") else {
            return Ok(ids.into_vec());
        };
        for row in &embedded.results {
            ids.push(&row.id);
        }
        // The embedded list's cursor continues in the v4 association list.
        let mut after = embedded.paging.next_after();
        let mut n_pages = 0;
        while let Some(cursor) = after {
            n_pages += 1;
            if n_pages > MAX_ASSOCIATION_PAGES {
                return Err(FetchError::permanent(format!(
                    "HubSpot {WHAT} of deal {deal_id} did not end after {MAX_ASSOCIATION_PAGES} pages"
                )));
            }
            let mut url = self.url(&[
                "crm",
                "v4",
                "objects",
                "deals",
                deal_id,
                "associations",
                "contacts",
            ])?;
            url.query_pairs_mut()
                .append_pair("after", &cursor)
                .append_pair("limit", V4_PAGE_LIMIT);
            let reply = self.send(self.http.get(url), WHAT).await?;
            if reply.status != StatusCode::OK {
                return Err(reply.error(WHAT));
            }
            let page: CollectionResponseMultiAssociatedObjectWithLabel = reply.parse(WHAT)?;
            for row in &page.results {
                ids.push(&row.to_object_id.0);
            }
            after = page.paging.next_after();
            if after.as_deref() == Some(cursor.as_str()) {
                return Err(FetchError::permanent(format!(
                    "HubSpot {WHAT} of deal {deal_id} returned the same paging cursor twice"
                )));
            }
        }
        Ok(ids.into_vec())
    }

    /// Batch-reads the contacts, 100 ids a request, and keeps those with a valid email, in
    /// the order of `ids`, one per email.
    async fn read_contacts(
        &self,
        deal_id: &str,
        ids: &[String],
    ) -> Result<Vec<DealContact>, FetchError> {
        const WHAT: &str = "contacts batch read";
        let mut found: HashMap<String, SimplePublicObject> = HashMap::new();
        for chunk in ids.chunks(BATCH_READ_SIZE) {
            let body = BatchReadInputSimplePublicObjectId {
                properties: &CONTACT_PROPERTIES,
                properties_with_history: &[],
                inputs: chunk.iter().map(|id| SimplePublicObjectId { id }).collect(),
            };
            let url = self.url(&["crm", "v3", "objects", "contacts", "batch", "read"])?;
            let reply = self.send(self.http.post(url).json(&body), WHAT).await?;
            match reply.status {
                // 207 Multi-Status: some ids are missing; `errors` says which.
                StatusCode::OK | StatusCode::MULTI_STATUS => {
                    let batch: BatchResponseSimplePublicObject = reply.parse(WHAT)?;
                    if batch.status != "COMPLETE" {
                        tracing::warn!(
                            deal.id = deal_id,
                            hubspot.batch_status = batch.status,
                            "HubSpot contacts batch read is not COMPLETE; using its results"
                        );
                    }
                    for error in &batch.errors {
                        tracing::warn!(
                            deal.id = deal_id,
                            hubspot.category = error.category.as_deref().unwrap_or(""),
                            contact.ids = ?error.context.get("ids"),
                            "HubSpot could not read some contacts; skipped: {}",
                            error.message.as_deref().unwrap_or("")
                        );
                    }
                    for contact in batch.results {
                        found.insert(contact.id.clone(), contact);
                    }
                }
                // Batch endpoints may answer 404 when none of the ids exist: a 207 with no
                // results. Any other 404 (a wrong path) stays an error.
                StatusCode::NOT_FOUND
                    if reply.category().as_deref() == Some("OBJECT_NOT_FOUND") =>
                {
                    tracing::warn!(
                        deal.id = deal_id,
                        contact.ids = ?chunk,
                        "HubSpot has none of these contacts; skipped"
                    );
                }
                _ => return Err(reply.error(WHAT)),
            }
        }
        let mut emails = HashSet::new();
        let mut contacts = Vec::new();
        for id in ids {
            let Some(object) = found.remove(id) else {
                continue;
            };
            match deal_contact(object) {
                Some(contact) if emails.insert(contact.email.clone()) => contacts.push(contact),
                Some(_) => {
                    tracing::info!(
                        deal.id = deal_id,
                        contact.id = id,
                        "duplicate contact email; skipped"
                    );
                }
                None => {
                    tracing::info!(
                        deal.id = deal_id,
                        contact.id = id,
                        "HubSpot contact has no valid email; skipped"
                    );
                }
            }
        }
        Ok(contacts)
    }

    /// `GET /crm/v3/objects/companies/{companyId}`; `None` when the company is gone.
    async fn read_company(
        &self,
        deal_id: &str,
        company_id: &str,
    ) -> Result<Option<Company>, FetchError> {
        const WHAT: &str = "company read";
        let mut url = self.url(&["crm", "v3", "objects", "companies", company_id])?;
        url.set_query(Some("properties=name,domain"));
        let reply = self.send(self.http.get(url), WHAT).await?;
        match reply.status {
            StatusCode::OK => {
                let object: SimplePublicObject = reply.parse(WHAT)?;
                Ok(Some(Company {
                    name: property(&object.properties, "name").map(str::to_owned),
                    domain: property(&object.properties, "domain").map(str::to_owned),
                    id: object.id,
                }))
            }
            StatusCode::NOT_FOUND => {
                tracing::warn!(
                    deal.id = deal_id,
                    company.id = company_id,
                    "the deal's HubSpot company does not exist; the account is named after the deal"
                );
                Ok(None)
            }
            _ => Err(reply.error(WHAT)),
        }
    }

    /// `GET /crm/v3/owners/{ownerId}` → the owner's email; `None` when the owner is gone or
    /// has no email.
    async fn read_owner_email(
        &self,
        deal_id: &str,
        owner_id: &str,
    ) -> Result<Option<String>, FetchError> {
        const WHAT: &str = "owner read";
        let url = self.url(&["crm", "v3", "owners", owner_id])?;
        let reply = self.send(self.http.get(url), WHAT).await?;
        match reply.status {
            StatusCode::OK => {
                let owner: PublicOwner = reply.parse(WHAT)?;
                Ok(owner.email.as_deref().and_then(clean_email))
            }
            StatusCode::NOT_FOUND => {
                tracing::info!(
                    deal.id = deal_id,
                    owner.id = owner_id,
                    "the deal's HubSpot owner does not exist; no owner email"
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
            .map_err(|()| FetchError::permanent("the HubSpot API base cannot take a path"))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Sends an authenticated request and reads the whole answer, whatever its status.
    /// Only a failure to get an answer is an error here.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Reply, FetchError> {
        let response = request
            .header(header::AUTHORIZATION, self.authorization.clone())
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| super::transport_error("HubSpot", what, &e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response
            .bytes()
            .await
            .map_err(|e| super::transport_error("HubSpot", what, &e))?
            .to_vec();
        Ok(Reply {
            status,
            retry_after,
            body,
        })
    }
}

/// A HubSpot answer, read whole.
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
                "HubSpot {what} answered {} with a body that is not the documented shape{place}: \
                 {error}",
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

    /// The error's `category`, when the body is HubSpot's error shape.
    fn category(&self) -> Option<String> {
        serde_json::from_slice::<ErrorBody>(&self.body)
            .ok()?
            .category
    }

    /// The error a non-success answer stands for.
    fn error(&self, what: &str) -> FetchError {
        let status = self.status;
        let detail = error_detail(&self.body);
        match status {
            StatusCode::TOO_MANY_REQUESTS => FetchError {
                permanent: false,
                retry_after: self.retry_after,
                message: format!("HubSpot rate limit hit on the {what} ({status}){detail}"),
            },
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => FetchError::transient(format!(
                "HubSpot authentication failed on the {what} ({status}): the access token is \
                 missing, wrong, expired or lacks a scope; fix it and the job retries{detail}"
            )),
            StatusCode::REQUEST_TIMEOUT => FetchError::transient(format!(
                "HubSpot timed out on the {what} ({status}){detail}"
            )),
            s if s.is_server_error() => FetchError {
                permanent: false,
                retry_after: self.retry_after,
                message: format!("HubSpot failed on the {what} ({status}){detail}"),
            },
            _ => FetchError::permanent(format!("HubSpot refused the {what} ({status}){detail}")),
        }
    }
}

/// `: <message> (correlationId …, category …)` from HubSpot's error body, or a short excerpt
/// of a body that is not one (e.g. a proxy's HTML page); empty when there is no body.
fn error_detail(body: &[u8]) -> String {
    if let Ok(error) = serde_json::from_slice::<ErrorBody>(body) {
        let mut detail = format!(": {}", error.message.as_deref().unwrap_or("no message"));
        let ids: Vec<String> = [
            error.correlation_id.map(|id| format!("correlationId {id}")),
            error.category.map(|c| format!("category {c}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !ids.is_empty() {
            detail.push_str(&format!(" ({})", ids.join(", ")));
        }
        return detail;
    }
    super::body_excerpt(body)
}

/// A property's value, trimmed; `None` when absent, null or blank.
fn property<'p>(properties: &'p BTreeMap<String, Option<String>>, name: &str) -> Option<&'p str> {
    properties
        .get(name)?
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn parse_amount(raw: &str) -> Option<f64> {
    raw.parse::<f64>().ok().filter(|a| a.is_finite())
}

/// Seats from a number property: `"12"`, or a whole `"12.0"`.
fn parse_seats(raw: &str) -> Option<u32> {
    raw.parse::<u32>().ok().or_else(|| {
        let n = raw.parse::<f64>().ok()?;
        (n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&n)).then_some(n as u32)
    })
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

/// A batch-read contact as a [`DealContact`]; `None` without a valid email.
fn deal_contact(object: SimplePublicObject) -> Option<DealContact> {
    let SimplePublicObject { id, mut properties } = object;
    let email = properties
        .remove("email")
        .flatten()
        .as_deref()
        .and_then(clean_email)?;
    let mut take = |name: &str| {
        properties
            .remove(name)
            .flatten()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let first = take("firstname");
    let last = take("lastname");
    let title = take("jobtitle");
    let name = [first, last]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let others = properties
        .into_iter()
        .filter(|(name, _)| !BOOKKEEPING_PROPERTIES.contains(&name.as_str()))
        .filter_map(|(name, value)| {
            let value = value?.trim().to_owned();
            (!value.is_empty()).then_some((name, serde_json::Value::String(value)))
        })
        .collect();
    Some(DealContact {
        email,
        name: (!name.is_empty()).then_some(name),
        title,
        crm_id: Some(id),
        properties: others,
    })
}

/// The company to onboard: the primary one when HubSpot marks it, else the first.
fn primary_company(deal: &SimplePublicObjectWithAssociations) -> Option<&str> {
    let companies = &deal.associations.get("companies")?.results;
    companies
        .iter()
        .find(|row| row.kind.as_deref() == Some(PRIMARY_COMPANY_TYPE))
        .or_else(|| companies.first())
        .map(|row| row.id.as_str())
}

/// Ids in first-seen order, each once.
#[derive(Default)]
struct UniqueIds {
    seen: HashSet<String>,
    ids: Vec<String>,
}

impl UniqueIds {
    fn push(&mut self, id: &str) {
        let id = id.trim();
        if !id.is_empty() && self.seen.insert(id.to_owned()) {
            self.ids.push(id.to_owned());
        }
    }

    fn into_vec(self) -> Vec<String> {
        self.ids
    }
}

struct Company {
    id: String,
    name: Option<String>,
    domain: Option<String>,
}

// HubSpot's documented shapes, as far as we read them. Unknown fields are ignored.

/// `SimplePublicObjectWithAssociations`: a deal read with `associations=…`.
#[derive(Debug, Deserialize)]
struct SimplePublicObjectWithAssociations {
    #[serde(rename = "id")]
    _id: String,
    properties: BTreeMap<String, Option<String>>,
    /// Keyed by the plural object name (`contacts`, `companies`); absent when none.
    #[serde(default)]
    associations: BTreeMap<String, CollectionResponseAssociatedId>,
}

/// `SimplePublicObject`: a contact or company.
#[derive(Debug, Deserialize)]
struct SimplePublicObject {
    id: String,
    properties: BTreeMap<String, Option<String>>,
}

/// `CollectionResponseAssociatedId`: one embedded association list.
#[derive(Debug, Deserialize)]
struct CollectionResponseAssociatedId {
    results: Vec<AssociatedId>,
    #[serde(default)]
    paging: Option<Paging>,
}

/// `AssociatedId`: `{"id": "501", "type": "deal_to_contact"}`.
#[derive(Debug, Deserialize)]
struct AssociatedId {
    id: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

/// `Paging`; `next` appears only when more exist.
#[derive(Debug, Deserialize)]
struct Paging {
    #[serde(default)]
    next: Option<NextPage>,
}

/// `NextPage`: the cursor of the next page (`link` is deprecated and ignored).
#[derive(Debug, Deserialize)]
struct NextPage {
    after: String,
}

trait NextAfter {
    fn next_after(&self) -> Option<String>;
}

impl NextAfter for Option<Paging> {
    fn next_after(&self) -> Option<String> {
        self.as_ref()?
            .next
            .as_ref()
            .map(|next| next.after.clone())
            .filter(|after| !after.is_empty())
    }
}

/// `CollectionResponseMultiAssociatedObjectWithLabel`: a v4 association page.
#[derive(Debug, Deserialize)]
struct CollectionResponseMultiAssociatedObjectWithLabel {
    results: Vec<MultiAssociatedObjectWithLabel>,
    #[serde(default)]
    paging: Option<Paging>,
}

/// `MultiAssociatedObjectWithLabel`: `{"toObjectId": 501, "associationTypes": […]}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MultiAssociatedObjectWithLabel {
    to_object_id: ObjectId,
    #[serde(default, rename = "associationTypes")]
    _association_types: Vec<AssociationSpecWithLabel>,
}

/// `AssociationSpecWithLabel`: `{"category": "HUBSPOT_DEFINED", "typeId": 3, "label": null}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssociationSpecWithLabel {
    #[serde(rename = "category")]
    _category: String,
    #[serde(rename = "typeId")]
    _type_id: i64,
}

/// An object id written as a number (v4 examples) or a string (some OpenAPI schemas).
#[derive(Debug)]
struct ObjectId(String);

impl<'de> Deserialize<'de> for ObjectId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer) {
            Ok(Raw::Number(n)) => Ok(Self(n.to_string())),
            Ok(Raw::Text(s)) => Ok(Self(s)),
            Err(_) => Err(serde::de::Error::custom(
                "expected an object id as a number or a string",
            )),
        }
    }
}

/// `BatchResponseSimplePublicObject` (200), with `errors` when 207.
#[derive(Debug, Deserialize)]
struct BatchResponseSimplePublicObject {
    status: String,
    results: Vec<SimplePublicObject>,
    #[serde(default)]
    errors: Vec<StandardError>,
}

/// `StandardError`: one entry of a batch's `errors`.
#[derive(Debug, Deserialize)]
struct StandardError {
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    message: Option<String>,
    /// E.g. `{"ids": ["999"]}`; only logged, so any JSON is accepted.
    #[serde(default)]
    context: BTreeMap<String, serde_json::Value>,
}

/// `PublicOwner`, as far as we read it.
#[derive(Debug, Deserialize)]
struct PublicOwner {
    #[serde(rename = "id")]
    _id: String,
    #[serde(default)]
    email: Option<String>,
}

/// HubSpot's error body: `{"status":"error","message","correlationId","category"}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
    #[serde(default)]
    category: Option<String>,
}

/// `BatchReadInputSimplePublicObjectId`: all three fields are required by the API.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BatchReadInputSimplePublicObjectId<'a> {
    properties: &'a [&'a str],
    properties_with_history: &'a [&'a str],
    inputs: Vec<SimplePublicObjectId<'a>>,
}

#[derive(Serialize)]
struct SimplePublicObjectId<'a> {
    id: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deal_with_companies(rows: serde_json::Value) -> SimplePublicObjectWithAssociations {
        serde_json::from_value(serde_json::json!({
            "id": "1", "properties": {}, "createdAt": "x", "updatedAt": "x",
            "associations": {"companies": {"results": rows}},
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_primary_company_is_preferred_over_the_first() {
        let deal = deal_with_companies(serde_json::json!([
            {"id": "7", "type": "deal_to_company_unlabeled"},
            {"id": "9", "type": "deal_to_company"},
        ]));
        assert_eq!(primary_company(&deal), Some("9"));
    }

    #[test]
    fn without_a_primary_company_the_first_is_taken() {
        let deal = deal_with_companies(serde_json::json!([
            {"id": "7", "type": "deal_to_company_unlabeled"},
            {"id": "9", "type": "reseller"},
        ]));
        assert_eq!(primary_company(&deal), Some("7"));
    }

    #[test]
    fn seats_and_amounts_are_read_from_number_strings() {
        assert_eq!(parse_seats("12"), Some(12));
        assert_eq!(parse_seats("12.0"), Some(12));
        assert_eq!(parse_seats("12.5"), None);
        assert_eq!(parse_seats("-1"), None);
        assert_eq!(parse_amount("12000.50"), Some(12000.5));
        assert_eq!(parse_amount("NaN"), None);
        assert_eq!(parse_amount("lots"), None);
    }

    #[test]
    fn a_v4_object_id_may_be_a_number_or_a_string() {
        let row: MultiAssociatedObjectWithLabel =
            serde_json::from_str(r#"{"toObjectId":"501","associationTypes":[]}"#)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(row.to_object_id.0, "501");
        let row: MultiAssociatedObjectWithLabel =
            serde_json::from_str(r#"{"toObjectId":501}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(row.to_object_id.0, "501");
    }

    #[test]
    fn a_body_in_another_shape_is_a_permanent_error_naming_the_field() {
        let reply = Reply {
            status: StatusCode::OK,
            retry_after: None,
            body: br#"{"id":"1","properties":{"amount":12000}}"#.to_vec(),
        };
        let error = reply
            .parse::<SimplePublicObjectWithAssociations>("deal read")
            .map(|_| ())
            .expect_err("the amount is a number, not a string");
        assert!(error.permanent, "{error}");
        assert!(error.message.contains("`properties.amount`"), "{error}");
    }

    #[test]
    fn the_token_never_prints() {
        let client = HubSpotClient::new("https://api.hubapi.com", "pat-secret")
            .unwrap_or_else(|e| panic!("{e}"));
        let printed = format!("{client:?}");
        assert!(!printed.contains("pat-secret"), "{printed}");
        assert!(printed.contains("api.hubapi.com"), "{printed}");
    }
}
