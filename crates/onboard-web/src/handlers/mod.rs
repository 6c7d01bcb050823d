//! Request handlers, one module per resource.

pub mod accounts;
pub mod autopilot;
pub mod clock;
pub mod endpoints;
pub mod events;
pub mod files;
pub mod health;
pub mod mailbox;
pub mod messages;
pub mod projects;
pub mod usage;
