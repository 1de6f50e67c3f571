//! The `cxhooks` binary as users run it, on both stores.

mod admin;
mod delivery;
mod env;
