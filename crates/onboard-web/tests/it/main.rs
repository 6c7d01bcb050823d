//! The HTTP API's specification, called in-process through the router (no socket), each
//! test against a fresh SQLite database and a fresh PostgreSQL one, on a manual clock.

#![allow(clippy::unwrap_used)]

mod bad_input;
mod clock;
mod events;
mod harness;
mod messages;
mod ops;
mod versions;
