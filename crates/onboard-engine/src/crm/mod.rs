//! Reads from CRMs after their webhooks, which carry only ids: each client fetches what an
//! onboarding needs and returns the canonical [`onboard_core::crm::WonDeal`]. Deciding what
//! to do with it, and retrying, belong to the engine's jobs, not here.

pub mod hubspot;
