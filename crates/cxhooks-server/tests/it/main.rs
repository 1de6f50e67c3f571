//! End-to-end tests of the service over real HTTP on a loopback port, on both stores.

mod cluster;
mod conformance;
mod console;
mod delivery;
mod external;
mod hardening;
mod harness;
mod identity;
mod layers;
mod management;
mod ordering;
mod outage;
mod outbound;
mod permissions;
mod receiver;
mod records;
mod refusals;
mod retention;
mod revocation;
mod schedule;
mod seeds;
mod standard;
mod telemetry;
mod throttling;
mod tombstones;
mod webhook_limits;
