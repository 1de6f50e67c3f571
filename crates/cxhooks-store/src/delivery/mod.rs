//! Changes, deliveries, attempts: the durable outbox.
//!
//! A publish writes its changes and every delivery they produce in one transaction
//! ([`Store::accept_changes`]). Workers claim due deliveries with a lease
//! ([`Store::claim_due`], backend-specific SQL), send them, and write the outcomes back in
//! batches ([`Store::complete`]). A delivery whose lease expires unfinished (its node died) is
//! claimed again: delivery is at least once.
//!
//! By job: `types` (what crosses the store boundary), `accept` (publishes) with `quota`
//! (monthly usage counts), `changes` (stored changes read back, for backtests), `feed` (pull webhooks' feeds), `claim` (leases, releases, redelivery, queue depth), `complete`
//! (outcomes, cancellations), `log` (the request log), `recover` (bulk recovery), `log_parts` (PostgreSQL's partitioned
//! log of finished deliveries), `purge` (retention), and `rows` (the shape and size of
//! multi-row statements). SQL that one backend alone runs lives in `sqlite.rs` and
//! `postgres/delivery.rs`.
//!
//! [`Store::accept_changes`]: crate::Store::accept_changes
//! [`Store::claim_due`]: crate::Store::claim_due
//! [`Store::complete`]: crate::Store::complete

pub(crate) mod accept;
mod changes;
mod claim;
pub(crate) mod complete;
mod feed;
mod log;
pub(crate) mod log_parts;
mod purge;
pub(crate) mod quota;
mod recover;
pub(crate) mod rows;
mod types;

pub use changes::{ChangePage, StoredChange};
pub use claim::Claimed;
pub(crate) use claim::{Claim, in_entity_order};
pub use feed::{FeedEntry, FeedPosition, FeedRead};
pub use log_parts::LogRetention;
pub use purge::{Purge, Purged};
pub use quota::month_of;
pub use recover::RecoveryRecord;
pub use types::*;
