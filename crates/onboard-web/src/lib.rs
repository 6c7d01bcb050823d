//! Onboard's HTTP surface: the JSON API (`/api/...`), health and metrics. Handlers are
//! grouped by resource; every route is in [`router::router`], a pure function tests call
//! without a socket.
//!
//! Invariant: this is the only crate that knows HTTP. Every 4xx and 5xx answer has the same
//! JSON shape ([`error::ApiError`]); a 5xx never says more than "internal error".

pub mod error;
mod extract;
mod handlers;
pub mod router;
mod state;

pub use router::router;
pub use state::{AppState, Secret};
