//! Onboard's engine: the intake (group commit into the event log), the processor (events in
//! order → state, rules, timers, outbox), the scheduler (due timers → `timer.fired` events),
//! the dispatchers (outbox → SMTP or the development mailbox; CRM fetches from HubSpot and
//! Pipedrive; Slack incoming webhooks and signed Standard Webhooks, in [`channels`]; autopilot
//! emails optionally drafted by a language model, in [`llm`]) and the clock.
//!
//! Invariant: the engine reads time only through its [`clock::Clock`]. It knows no HTTP and
//! no SQL: the web crate calls it, the store persists for it.

pub mod channels;
pub mod clock;
pub mod crm;
mod engine;
mod intake;
pub mod llm;
pub mod mail;
mod programs;
pub mod simulate;
mod state_cache;

pub use engine::{Engine, EngineConfig, HubSpotSettings, PipedriveSettings, Progress};
pub use llm::LlmSettings;
pub use programs::{program_from_json, program_to_json, read_program_dir};

/// Engine errors.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] onboard_store::StoreError),
    #[error("the event log could not take the events: {0}")]
    Intake(String),
    #[error("the engine is shutting down")]
    ShuttingDown,
    #[error("the clock is not manual: start with --clock manual to move it")]
    NotManual,
    #[error("cannot move the clock back to {to} (it is {now})")]
    ClockBackwards {
        to: onboard_core::Timestamp,
        now: onboard_core::Timestamp,
    },
    #[error("{0}")]
    Config(String),
    #[error("program version {0} is recorded but cannot be loaded: {1}")]
    Program(String, String),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
