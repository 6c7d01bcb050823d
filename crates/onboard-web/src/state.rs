//! What every handler can reach.

use metrics_exporter_prometheus::PrometheusHandle;
use onboard_engine::Engine;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;

/// A secret value that never prints.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Compares in time independent of where the values differ.
    pub fn matches(&self, candidate: &str) -> bool {
        let a = Sha256::digest(self.0.as_bytes());
        let b = Sha256::digest(candidate.as_bytes());
        a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Shared state of the HTTP surface.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    /// Bearer token of the JSON API.
    pub admin_token: Secret,
    /// Renders `/metrics`.
    pub metrics: Option<PrometheusHandle>,
    /// The development mailbox folder, when emails are kept there.
    pub mailbox: Option<PathBuf>,
}
