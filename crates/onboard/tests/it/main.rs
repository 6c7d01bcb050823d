//! Process-level tests of the real `onboard` binary: each test starts `onboard serve` (or
//! another command) as a child process on a fresh database of every backend (SQLite always,
//! PostgreSQL when reachable), talks to it over HTTP and a real SMTP server, and moves its
//! manual clock. One binary, so the suite links once.

#![allow(clippy::unwrap_used)]

mod academy;
mod audit;
mod autopilot;
mod brief;
mod browser;
mod cli;
mod cluster;
mod console;
mod crm;
mod delivery;
mod durability;
mod isolation;
mod nudges;
mod pages;
mod rules;
mod segment;
mod simulate;
mod space;
mod space_booking;
mod space_files;
mod support;
mod usage;
