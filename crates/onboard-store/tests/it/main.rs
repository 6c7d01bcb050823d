//! The store's specification, one behaviour per test, each run against a fresh SQLite file
//! and a fresh PostgreSQL database (see `harness`). One binary, so the suite links once.

#![allow(clippy::unwrap_used)]

mod accounts;
mod concurrency;
mod durability;
mod endpoints;
mod events;
mod files;
mod harness;
mod messages;
mod portfolio;
mod processor;
mod schema;
mod sign_in;
mod timers;
mod usage;
