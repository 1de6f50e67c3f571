//! The `cxhooks` binary as users run it, on both stores.

mod admin;
mod bench;
mod catalog;
mod consumer;
mod delivery;
mod env;
mod sync;
mod sync_life;
mod unix;
