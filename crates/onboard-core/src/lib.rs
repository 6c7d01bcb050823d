//! Onboard's domain: the program model (onboarding as code), the condition language of its
//! rules, events, timers, outbox messages, account state and the pure decision function that
//! the engine's processor runs.
//!
//! Invariant: this crate does no I/O, has no async, and never reads the wall clock. Time
//! comes in as a [`Timestamp`] argument; files come in as a [`program::ProgramSource`].

pub mod audit;
pub mod booking;
pub mod brief;
pub mod calendar;
pub mod crm;
pub mod decide;
pub mod event;
pub mod expr;
pub mod health;
pub mod portfolio;
pub mod program;
pub mod shared;
pub mod state;
pub mod stored;
pub mod time;
pub mod token;

pub use event::{Event, EventType, NewEvent};
pub use time::{Duration, Timestamp};
