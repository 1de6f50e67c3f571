//! The `cxhooks` binary as users run it, on both stores.

mod admin;
mod consumer;
mod delivery;
mod env;
mod sync;
mod unix;
