//! Won deals from any CRM in one shape. Each intake (HubSpot, Pipedrive, the generic
//! `/hooks/deals`) turns what its CRM sends into a [`WonDeal`], and [`WonDeal::to_event`]
//! makes the one `deal.won` event the processor understands. A CRM whose webhooks carry
//! only ids (HubSpot, Pipedrive with an API token) first logs a raw event on a connector
//! stream; [`hubspot_fetch`] and [`pipedrive_fetch`] turn it into the outbox entry that asks
//! the CRM for the deal.

use crate::decide::derived_id;
use crate::event::{types, Event, EventType, NewEvent, MAX_KEY_LEN};
use crate::state::NewMessage;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The event types of raw CRM input kept in the log before the CRM is asked for details.
pub mod raw {
    /// A HubSpot deal that moved into (or was created in) a won stage: the engine fetches
    /// the deal, its contacts and company, then appends `deal.won`.
    pub const HUBSPOT_DEAL: &str = "hubspot.deal";
    /// A Pipedrive deal whose status became `won`: the engine fetches the deal, its people,
    /// organization and owner, then appends `deal.won`.
    pub const PIPEDRIVE_DEAL: &str = "pipedrive.deal";
}

const HUBSPOT_STREAM_PREFIX: &str = "hubspot-portal-";
const PIPEDRIVE_STREAM_PREFIX: &str = "pipedrive-company-";

/// The account key used for raw input of one HubSpot portal (no account is made for it).
pub fn hubspot_stream(portal: i64) -> String {
    format!("{HUBSPOT_STREAM_PREFIX}{portal}")
}

/// The account key used for raw input of one Pipedrive company (no account is made for it).
pub fn pipedrive_stream(company_id: i64) -> String {
    format!("{PIPEDRIVE_STREAM_PREFIX}{company_id}")
}

/// Whether an account key names a connector's raw stream rather than a customer account:
/// a connector's prefix followed by an integer (so a domain such as
/// `hubspot-portal-1.example` stays a customer account).
pub fn is_connector_stream(account: &str) -> bool {
    [HUBSPOT_STREAM_PREFIX, PIPEDRIVE_STREAM_PREFIX]
        .iter()
        .filter_map(|prefix| account.strip_prefix(prefix))
        .any(|id| {
            let digits = id.strip_prefix('-').unwrap_or(id);
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        })
}

/// The outbox channel of HubSpot fetches: each is delivered by asking HubSpot's CRM API for
/// the deal, with the outbox's retries, backoff and dead letters.
pub const HUBSPOT_CHANNEL: &str = "hubspot";

/// What to fetch from HubSpot (the body of a [`HUBSPOT_CHANNEL`] outbox entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubSpotFetch {
    pub portal: i64,
    pub deal_id: String,
    /// `stage_change` or `creation`.
    pub trigger: String,
    /// When HubSpot saw the change: the time of the `deal.won` it leads to.
    pub occurred_at: Timestamp,
}

/// The outbox entry that fetches the deal a raw `hubspot.deal` event names. One per deal and
/// trigger: HubSpot's retries and a deal won again fetch nothing more.
pub fn hubspot_fetch(event: &Event) -> Option<NewMessage> {
    if event.kind.as_str() != raw::HUBSPOT_DEAL {
        return None;
    }
    let portal = event.data.get("portal_id")?.as_i64()?;
    let deal_id = match event.data.get("deal_id")? {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let trigger = event
        .data
        .get("trigger")
        .and_then(|v| v.as_str())
        .unwrap_or("stage_change")
        .to_owned();
    let id = derived_id("job", &["hubspot", &portal.to_string(), &deal_id, &trigger]);
    let fetch = HubSpotFetch {
        portal,
        deal_id: deal_id.clone(),
        trigger,
        occurred_at: event.at,
    };
    Some(NewMessage {
        message_id: id.clone(),
        id,
        account: event.account.clone(),
        channel: HUBSPOT_CHANNEL.to_owned(),
        to_email: format!("portal-{portal}@api.hubapi.com"),
        to_name: format!("HubSpot portal {portal}"),
        from_email: String::new(),
        from_name: String::new(),
        subject: format!("Fetch HubSpot deal {deal_id}"),
        body: serde_json::to_string(&fetch).unwrap_or_default(),
        rule: "crm.hubspot".to_owned(),
        cause: event.key.clone(),
        sign_in_email: None,
        calendar: None,
    })
}

/// The outbox channel of Pipedrive fetches: each is delivered by asking Pipedrive's API for the
/// deal, with the outbox's retries, backoff and dead letters.
pub const PIPEDRIVE_CHANNEL: &str = "pipedrive";

/// What to fetch from Pipedrive (the body of a [`PIPEDRIVE_CHANNEL`] outbox entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipedriveFetch {
    /// The Pipedrive company (account) the deal belongs to.
    pub company_id: i64,
    pub deal_id: String,
    /// When the deal was won (else when Pipedrive sent the webhook): the time of the
    /// `deal.won` it leads to.
    pub occurred_at: Timestamp,
}

/// The raw `pipedrive.deal` event of one webhook delivery about a deal that became won, at
/// `at` (its won time, else the delivery's): on the company's stream, keyed by the delivery
/// (Pipedrive's `meta.id`; without one, by the deal) so that a redelivery is a duplicate.
pub fn pipedrive_deal_event(
    company_id: i64,
    deal_id: &str,
    delivery_id: Option<&str>,
    at: Timestamp,
) -> NewEvent {
    let delivery = delivery_id.unwrap_or("won");
    let mut key = format!("pipedrive:{company_id}:{deal_id}:{delivery}");
    if key.len() > MAX_KEY_LEN {
        // Only ids this long get here; a digest keeps the key unique and short.
        key = derived_id(
            &format!("pipedrive:{company_id}:sha256"),
            &[deal_id, delivery],
        );
    }
    NewEvent {
        key,
        kind: EventType::parse(raw::PIPEDRIVE_DEAL).unwrap_or_else(|_| unreachable!()),
        account: pipedrive_stream(company_id),
        at,
        data: serde_json::json!({
            "company_id": company_id,
            "deal_id": deal_id,
            "delivery_id": delivery_id,
        }),
    }
}

/// The outbox entry that fetches the deal a raw `pipedrive.deal` event names. One per deal:
/// Pipedrive's redeliveries, later changes and a deal won again fetch nothing more.
pub fn pipedrive_fetch(event: &Event) -> Option<NewMessage> {
    if event.kind.as_str() != raw::PIPEDRIVE_DEAL {
        return None;
    }
    let company_id = event.data.get("company_id")?.as_i64()?;
    let deal_id = match event.data.get("deal_id")? {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let id = derived_id("job", &["pipedrive", &company_id.to_string(), &deal_id]);
    let fetch = PipedriveFetch {
        company_id,
        deal_id: deal_id.clone(),
        occurred_at: event.at,
    };
    Some(NewMessage {
        message_id: id.clone(),
        id,
        account: event.account.clone(),
        channel: PIPEDRIVE_CHANNEL.to_owned(),
        to_email: format!("company-{company_id}@api.pipedrive.com"),
        to_name: format!("Pipedrive company {company_id}"),
        from_email: String::new(),
        from_name: String::new(),
        subject: format!("Fetch Pipedrive deal {deal_id}"),
        body: serde_json::to_string(&fetch).unwrap_or_default(),
        rule: "crm.pipedrive".to_owned(),
        cause: event.key.clone(),
        sign_in_email: None,
        calendar: None,
    })
}

/// A deal that was won, with the customer company and its contacts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WonDeal {
    /// Which intake: `hubspot`, `pipedrive` or `deals`.
    pub source: String,
    /// The CRM's tenant where it has one (HubSpot portal id, Pipedrive company id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The deal's id in its CRM.
    pub deal_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deal_name: Option<String>,
    /// The customer company.
    pub account: DealAccount,
    /// The deal owner's email in the CRM (mapped to a CSM by the program).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seats: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    #[serde(default)]
    pub contacts: Vec<DealContact>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealAccount {
    pub name: String,
    /// The company's web domain, e.g. `acme.example`; the account key when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The company's id in the CRM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crm_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DealContact {
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The contact's id in the CRM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crm_id: Option<String>,
    /// Any other contact properties, for the program's segmentation.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, serde_json::Value>,
}

impl WonDeal {
    /// The account this deal belongs to: the company's domain, else its CRM id, else the
    /// deal's own id. The same company won twice is the same account.
    pub fn account_key(&self) -> String {
        let key = if let Some(domain) = self.account.domain.as_deref().and_then(clean_domain) {
            domain
        } else {
            let scope = self.scope();
            match &self.account.crm_id {
                Some(id) => format!("{scope}-company-{id}"),
                None => format!("{scope}-deal-{}", self.deal_id),
            }
        };
        truncate(key)
    }

    /// The dedupe key of the `deal.won` event: one onboarding per deal per CRM tenant.
    pub fn event_key(&self) -> String {
        truncate(format!("{}:deal:{}:won", self.scope(), self.deal_id))
    }

    fn scope(&self) -> String {
        match &self.tenant {
            Some(tenant) => format!("{}-{tenant}", self.source),
            None => self.source.clone(),
        }
    }

    /// The `deal.won` event for this deal, at `at`.
    pub fn to_event(&self, at: Timestamp) -> NewEvent {
        NewEvent {
            key: self.event_key(),
            kind: EventType::parse(types::DEAL_WON).unwrap_or_else(|_| unreachable!()),
            account: self.account_key(),
            at,
            data: serde_json::to_value(self).unwrap_or_default(),
        }
    }
}

/// A domain as an account key: lower case, without scheme, `www.`, path or port.
pub fn clean_domain(raw: &str) -> Option<String> {
    let raw = raw.trim().to_ascii_lowercase();
    let raw = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
        .unwrap_or(&raw);
    let host = raw.split(['/', ':', '?', '#']).next().unwrap_or("");
    let host = host.strip_prefix("www.").unwrap_or(host);
    let ok = host.contains('.')
        && !host.starts_with('.')
        && !host.ends_with('.')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    ok.then(|| host.to_owned())
}

fn truncate(mut key: String) -> String {
    if key.len() > MAX_KEY_LEN {
        let mut end = MAX_KEY_LEN;
        while !key.is_char_boundary(end) {
            end -= 1;
        }
        key.truncate(end);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deal(domain: Option<&str>, crm_id: Option<&str>) -> WonDeal {
        WonDeal {
            source: "hubspot".into(),
            tenant: Some("44112233".into()),
            deal_id: "18000000042".into(),
            deal_name: None,
            account: DealAccount {
                name: "ACME".into(),
                domain: domain.map(Into::into),
                crm_id: crm_id.map(Into::into),
            },
            owner_email: None,
            seats: None,
            plan: None,
            amount: None,
            contacts: vec![],
        }
    }

    #[test]
    fn the_account_key_is_the_domain_else_the_company_else_the_deal() {
        assert_eq!(
            deal(Some("https://www.ACME.example/about"), Some("9")).account_key(),
            "acme.example"
        );
        assert_eq!(
            deal(Some("not a domain"), Some("9")).account_key(),
            "hubspot-44112233-company-9"
        );
        assert_eq!(
            deal(None, None).account_key(),
            "hubspot-44112233-deal-18000000042"
        );
    }

    fn raw_event(kind: &str, key: &str, account: &str, data: serde_json::Value) -> Event {
        Event {
            seq: 1,
            key: key.to_owned(),
            kind: EventType::parse(kind).unwrap_or_else(|e| panic!("{e}")),
            account: account.to_owned(),
            at: Timestamp(1_767_603_600_123),
            data,
            received_at: Timestamp(1_767_603_600_200),
            processed_at: None,
        }
    }

    fn pipedrive_deal(key: &str, deal_id: serde_json::Value) -> Event {
        raw_event(
            raw::PIPEDRIVE_DEAL,
            key,
            &pipedrive_stream(123),
            serde_json::json!({"company_id": 123, "deal_id": deal_id, "delivery_id": key}),
        )
    }

    #[test]
    fn a_raw_pipedrive_deal_becomes_one_fetch_on_the_pipedrive_channel() {
        let event = pipedrive_deal("pipedrive:123:746:2f0e-uuid", serde_json::json!("746"));
        let fetch = pipedrive_fetch(&event).unwrap_or_else(|| panic!("no fetch"));
        assert_eq!(fetch.channel, PIPEDRIVE_CHANNEL);
        assert_eq!(fetch.account, "pipedrive-company-123");
        assert_eq!(fetch.cause, event.key);
        assert_eq!(fetch.id, fetch.message_id);
        assert!(fetch.sign_in_email.is_none());
        let body: PipedriveFetch =
            serde_json::from_str(&fetch.body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            body,
            PipedriveFetch {
                company_id: 123,
                deal_id: "746".to_owned(),
                occurred_at: event.at,
            }
        );
    }

    #[test]
    fn every_delivery_of_one_pipedrive_deal_is_the_same_fetch() {
        let first = pipedrive_fetch(&pipedrive_deal("delivery-1", serde_json::json!("746")));
        let again = pipedrive_fetch(&pipedrive_deal("delivery-2", serde_json::json!(746)));
        let other = pipedrive_fetch(&pipedrive_deal("delivery-3", serde_json::json!("747")));
        let id = |m: Option<NewMessage>| m.map(|m| m.id).unwrap_or_default();
        let first = id(first);
        assert!(first.starts_with("job_"), "{first}");
        assert_eq!(first, id(again));
        assert_ne!(first, id(other));
    }

    #[test]
    fn each_connector_fetches_only_its_own_raw_events() {
        let pipedrive = pipedrive_deal("delivery-1", serde_json::json!("746"));
        assert!(hubspot_fetch(&pipedrive).is_none());
        let hubspot = raw_event(
            raw::HUBSPOT_DEAL,
            "hubspot:1",
            &hubspot_stream(44112233),
            serde_json::json!({"portal_id": 44112233, "deal_id": "18000000042", "trigger": "creation"}),
        );
        assert!(pipedrive_fetch(&hubspot).is_none());
        assert_eq!(
            hubspot_fetch(&hubspot).map(|m| m.channel).as_deref(),
            Some(HUBSPOT_CHANNEL)
        );
        let malformed = raw_event(
            raw::PIPEDRIVE_DEAL,
            "pipedrive:x",
            &pipedrive_stream(123),
            serde_json::json!({"company_id": "not a number", "deal_id": "746"}),
        );
        assert!(pipedrive_fetch(&malformed).is_none());
    }

    #[test]
    fn a_pipedrive_delivery_is_keyed_by_its_id_and_long_ids_stay_short() {
        let at = Timestamp(1_767_603_600_000);
        let event = pipedrive_deal_event(123, "746", Some("2f0e-uuid"), at);
        assert_eq!(event.key, "pipedrive:123:746:2f0e-uuid");
        assert_eq!(event.kind.as_str(), raw::PIPEDRIVE_DEAL);
        assert_eq!(event.account, "pipedrive-company-123");
        assert_eq!(event.at, at);
        assert_eq!(
            event.data,
            serde_json::json!({"company_id": 123, "deal_id": "746", "delivery_id": "2f0e-uuid"})
        );
        assert_eq!(
            pipedrive_deal_event(123, "746", None, at).key,
            "pipedrive:123:746:won"
        );
        let long = "x".repeat(300);
        let a = pipedrive_deal_event(123, "746", Some(&long), at).key;
        let b = pipedrive_deal_event(123, "747", Some(&long), at).key;
        assert!(
            a.len() <= MAX_KEY_LEN && a.starts_with("pipedrive:123:sha256_"),
            "{a}"
        );
        assert_ne!(a, b);
    }

    #[test]
    fn connector_streams_are_a_prefix_and_an_integer() {
        assert!(is_connector_stream(&hubspot_stream(44112233)));
        assert!(is_connector_stream(&pipedrive_stream(123)));
        assert!(is_connector_stream(&hubspot_stream(-5)));
        for customer in [
            "acme.example",
            "pipedrive-123-company-2",
            "pipedrive-company-1.example",
            "hubspot-portal-",
            "pipedrive-company-",
        ] {
            assert!(!is_connector_stream(customer), "{customer}");
        }
    }

    #[test]
    fn the_event_key_is_one_per_deal_and_tenant() {
        assert_eq!(
            deal(None, None).event_key(),
            "hubspot-44112233:deal:18000000042:won"
        );
        let event = deal(Some("acme.example"), None).to_event(Timestamp(5));
        assert_eq!(event.kind.as_str(), "deal.won");
        assert_eq!(event.data["account"]["name"], "ACME");
    }
}
