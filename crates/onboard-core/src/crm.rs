//! Won deals from any CRM in one shape. Each intake (HubSpot, Pipedrive, the generic
//! `/hooks/deals`) turns what its CRM sends into a [`WonDeal`], and [`WonDeal::to_event`]
//! makes the one `deal.won` event the processor understands.

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
}

/// The account key used for raw input of one HubSpot portal (no account is made for it).
pub fn hubspot_stream(portal: i64) -> String {
    format!("hubspot-portal-{portal}")
}

/// Whether an account key names a connector's raw stream rather than a customer account.
pub fn is_connector_stream(account: &str) -> bool {
    account.starts_with("hubspot-portal-")
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
