//! Integration tests: the real `attachd` binary on an ephemeral port, driven over HTTP.

mod harness;

mod admin;
mod auth;
mod crash;
mod downloads;
mod faults;
mod hostile;
mod lifecycle;
mod listing;
mod nginx;
mod ops;
mod powercut;
mod reliability;
mod reserve;
mod uploads;
