//! Integration tests: the real `attachd` binary on an ephemeral port, driven over HTTP.

mod harness;

mod admin;
mod assets;
mod auth;
mod catalog;
mod compaction;
mod crash;
mod deployment;
mod downloads;
mod faults;
mod files;
mod hardening;
mod hostile;
mod hosts;
mod inprocess;
mod lifecycle;
mod limits;
mod listing;
mod nginx;
mod ops;
mod oracle;
mod people;
mod pgs3;
mod powercut;
mod reliability;
mod repair;
mod reserve;
mod scanner;
mod scanning;
mod sessions;
mod upgrade;
mod uploads;
mod webhooks;
