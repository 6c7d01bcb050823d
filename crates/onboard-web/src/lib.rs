//! Onboard's HTTP surface: the JSON API (`/api/...`), the CRM hooks (`/hooks/...`), health
//! and metrics. Handlers are grouped by resource; every route is in [`router::router`], a
//! pure function tests call without a socket.
//!
//! Invariant: this is the only crate that knows HTTP. Every 4xx and 5xx answer has the same
//! JSON shape ([`error::ApiError`]); a 5xx never says more than "internal error".

pub mod academy;
pub mod audit;
pub mod console;
pub mod error;
mod extract;
mod handlers;
pub mod hooks;
pub mod ingest;
pub mod nudges;
pub mod openapi;
pub mod router;
pub mod space;
mod state;

pub use console::SignInLimits;
pub use router::router;
pub use state::{AppState, HookSecrets, Secret, WallClock, WebhookSecret};
