//! The HTTP API's specification, called in-process through the router (no socket), each
//! test against a fresh SQLite database and a fresh PostgreSQL one, on a manual clock.

#![allow(clippy::unwrap_used)]

mod academy;
mod accounts;
mod bad_input;
mod brief;
mod clock;
mod endpoints;
mod events;
mod harness;
mod hooks;
mod messages;
mod openapi;
mod ops;
mod projects;
mod versions;
