//! Console sign-in throttling: after a number of failures in a row, each further attempt of the
//! same account, or from the same address, must wait out a back-off that doubles with every
//! failure (1 s, 2 s, 4 s … up to [`MAX_BACKOFF`]). An attempt made too early is refused without
//! its password being checked, so guessing is slowed and no Argon2id time is spent on it.
//!
//! - An *account* is the tenant and e-mail as typed (the e-mail lower-cased), whether or not such
//!   an operator exists: the answers do not tell which accounts exist.
//! - An *address* is the client's IPv4 address or IPv6 /64 (one host usually holds a whole /64).
//!   Its limit is higher than an account's: it catches one client trying many accounts, and
//!   several people may sign in from behind one address.
//! - An attempt counts as a failure from the moment it is let through, so that attempts sent in
//!   parallel cannot all pass before the first one fails. A success then clears its account and
//!   takes back its own count at the address (it does not clear the address: one valid account
//!   must not reset the count of guesses at others). A failure count is forgotten
//!   [`MAX_BACKOFF`] after the back-off it led to ends.
//!
//! Counts live in memory, per node, keyed by a hash under a per-process random key (so every
//! entry is small whatever was typed), at most [`MAX_ENTRIES`] per kind: when full, forgotten
//! entries go first, then the one whose last failure is oldest. governor, which limits the API,
//! allows a steady rate and cannot express "failures in a row, reset by a success", so this is
//! a small map of its own.

use crate::config::LimitsConfig;
use std::collections::HashMap;
use std::hash::{BuildHasher as _, RandomState};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Duration;

/// The longest back-off.
pub const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// Accounts (and, separately, addresses) counted at most.
pub const MAX_ENTRIES: usize = 100_000;

/// Which limit refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Too many failures for the account.
    Account,
    /// Too many failures from the address.
    Address,
}

/// An attempt refused without checking its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// The limit that refused it (the one with the longer wait, when both did).
    pub limit: Limit,
    /// Whole seconds until the next attempt is let through, at least 1.
    pub retry_after_s: u64,
}

/// An attempt let through, counted as a failure until [`SignInThrottle::succeeded`] or
/// [`SignInThrottle::unchecked`] is told otherwise.
#[derive(Debug)]
#[must_use = "a sign-in attempt is a failure unless told otherwise"]
pub struct Attempt {
    account: Counted,
    address: Option<Counted>,
}

/// One failure counted for a key, and what it changed, so that it can be taken back.
#[derive(Debug, Clone, Copy)]
struct Counted {
    key: u64,
    at_us: i64,
    /// The entry's last failure before this one.
    previous_us: i64,
}

/// The failure counts of accounts and addresses.
#[derive(Debug)]
pub struct SignInThrottle {
    counts: Mutex<Counts>,
    keys: RandomState,
}

#[derive(Debug)]
struct Counts {
    accounts: Failures,
    addresses: Failures,
}

/// One kind of key's failure counts.
#[derive(Debug)]
struct Failures {
    policy: Policy,
    entries: HashMap<u64, Entry>,
}

/// How failures turn into back-offs.
#[derive(Debug, Clone, Copy)]
struct Policy {
    /// Failures allowed before a back-off; 0: never throttled.
    free: u32,
    first_us: i64,
    max_us: i64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    /// When the last failure was counted (µs since the epoch).
    last_us: i64,
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl Policy {
    /// Until when `entry` must wait: its last failure plus the back-off its count has earned.
    fn blocked_until(self, entry: &Entry) -> i64 {
        if self.free == 0 || entry.failures < self.free {
            return entry.last_us;
        }
        let doublings = (entry.failures - self.free).min(40);
        let backoff = self
            .first_us
            .saturating_mul(1 << doublings)
            .min(self.max_us);
        entry.last_us.saturating_add(backoff)
    }

    fn forgotten(self, entry: &Entry, now_us: i64) -> bool {
        now_us >= self.blocked_until(entry).saturating_add(self.max_us)
    }
}

impl Failures {
    fn new(free: u32, first: Duration) -> Self {
        let first_us = micros(first).max(1);
        Self {
            policy: Policy {
                free,
                first_us,
                max_us: micros(MAX_BACKOFF).max(first_us),
            },
            entries: HashMap::new(),
        }
    }

    /// Microseconds `key` must still wait (0: none).
    fn wait_us(&self, key: u64, now_us: i64) -> i64 {
        self.entries
            .get(&key)
            .map_or(0, |e| (self.policy.blocked_until(e) - now_us).max(0))
    }

    fn count(&mut self, key: u64, now_us: i64) -> Counted {
        let policy = self.policy;
        let mut counted = Counted {
            key,
            at_us: now_us,
            previous_us: now_us,
        };
        if policy.free == 0 {
            return counted;
        }
        if self.entries.len() >= MAX_ENTRIES && !self.entries.contains_key(&key) {
            self.make_room(now_us);
        }
        let entry = self.entries.entry(key).or_insert(Entry {
            failures: 0,
            last_us: now_us,
        });
        if policy.forgotten(entry, now_us) {
            entry.failures = 0;
        }
        counted.previous_us = entry.last_us;
        entry.failures = entry.failures.saturating_add(1);
        entry.last_us = now_us;
        counted
    }

    /// Drops the forgotten entries, or else the one whose last failure is oldest.
    fn make_room(&mut self, now_us: i64) {
        let policy = self.policy;
        self.entries.retain(|_, e| !policy.forgotten(e, now_us));
        if self.entries.len() >= MAX_ENTRIES
            && let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_us)
                .map(|(k, _)| *k)
        {
            self.entries.remove(&oldest);
        }
    }

    /// Takes back a counted failure: its count, and its time unless another failure came since
    /// (so a success does not restart the address's back-off).
    fn take_back(&mut self, counted: Counted) {
        if let Some(e) = self.entries.get_mut(&counted.key) {
            e.failures = e.failures.saturating_sub(1);
            if e.last_us == counted.at_us {
                e.last_us = counted.previous_us;
            }
            if e.failures == 0 {
                self.entries.remove(&counted.key);
            }
        }
    }
}

/// The address as counted: IPv4 (also when mapped into IPv6), or the IPv6 /64.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

impl SignInThrottle {
    /// Counts as `limits` says.
    pub fn new(limits: &LimitsConfig) -> Self {
        Self {
            counts: Mutex::new(Counts {
                accounts: Failures::new(
                    limits.sign_in_failures_per_account,
                    limits.sign_in_backoff,
                ),
                addresses: Failures::new(
                    limits.sign_in_failures_per_address,
                    limits.sign_in_backoff,
                ),
            }),
            keys: RandomState::new(),
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        // The counts stay consistent whatever a panicking holder was doing.
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Lets a sign-in attempt of `tenant`/`email` from `address` through (counting it as a
    /// failure), or refuses it. `address` is `None` when the server was not given connection
    /// information (the router served without [`crate::run`]): only the account is counted.
    pub fn begin(
        &self,
        tenant: &str,
        email: &str,
        address: Option<IpAddr>,
        now_us: i64,
    ) -> Result<Attempt, Throttled> {
        let account = self
            .keys
            .hash_one(("account", tenant.trim(), email.trim().to_lowercase()));
        let address = address.map(|ip| self.keys.hash_one(("address", address_key(ip))));
        let mut counts = self.counts();
        let account_wait = counts.accounts.wait_us(account, now_us);
        let address_wait = address.map_or(0, |k| counts.addresses.wait_us(k, now_us));
        let wait = account_wait.max(address_wait);
        if wait > 0 {
            let secs = u64::try_from(wait).unwrap_or(0).div_ceil(1_000_000).max(1);
            return Err(Throttled {
                limit: if account_wait >= address_wait {
                    Limit::Account
                } else {
                    Limit::Address
                },
                retry_after_s: secs,
            });
        }
        let account = counts.accounts.count(account, now_us);
        let address = address.map(|k| counts.addresses.count(k, now_us));
        Ok(Attempt { account, address })
    }

    /// The password was right: the account starts afresh, the address gets its count back.
    pub fn succeeded(&self, attempt: Attempt) {
        let mut counts = self.counts();
        counts.accounts.entries.remove(&attempt.account.key);
        if let Some(counted) = attempt.address {
            counts.addresses.take_back(counted);
        }
    }

    /// The password could not be checked (the store failed): the attempt does not count.
    pub fn unchecked(&self, attempt: Attempt) {
        let mut counts = self.counts();
        counts.accounts.take_back(attempt.account);
        if let Some(counted) = attempt.address {
            counts.addresses.take_back(counted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    fn throttle(account: u32, address: u32) -> SignInThrottle {
        SignInThrottle::new(&LimitsConfig {
            sign_in_failures_per_account: account,
            sign_in_failures_per_address: address,
            ..LimitsConfig::default()
        })
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    /// Fails `n` attempts at `now`; panics if one is refused.
    fn fail(t: &SignInThrottle, email: &str, from: &str, now: i64, n: u32) {
        for i in 0..n {
            let attempt = t.begin("acme", email, ip(from), now);
            assert!(attempt.is_ok(), "attempt {i} of {email}: {attempt:?}");
        }
    }

    #[test]
    fn back_off_doubles_after_the_free_failures_up_to_the_cap() {
        let t = throttle(5, 0);
        fail(&t, "ops@acme.example", "192.0.2.1", 0, 5);
        let mut now = 0;
        for expected in [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900] {
            let refused = t.begin("acme", "ops@acme.example", ip("192.0.2.1"), now);
            assert_eq!(
                refused.unwrap_err(),
                Throttled {
                    limit: Limit::Account,
                    retry_after_s: expected
                }
            );
            now += expected as i64 * S;
            fail(&t, "ops@acme.example", "192.0.2.1", now, 1);
        }
    }

    #[test]
    fn accounts_are_the_tenant_and_the_lower_cased_email_whether_or_not_they_exist() {
        let t = throttle(2, 0);
        fail(&t, " OPS@acme.example ", "192.0.2.1", 0, 1);
        fail(&t, "ops@acme.example", "192.0.2.2", 0, 1);
        assert!(t.begin("acme", "Ops@Acme.Example", None, 0).is_err());
        assert!(t.begin("beta", "ops@acme.example", None, 0).is_ok());
        assert!(t.begin("acme", "other@acme.example", None, 0).is_ok());
    }

    #[test]
    fn a_success_clears_its_account_and_takes_back_its_own_count_at_the_address() {
        let t = throttle(3, 4);
        fail(&t, "a@acme.example", "192.0.2.1", 0, 2);
        fail(&t, "b@acme.example", "192.0.2.1", 0, 1);
        let ok = t
            .begin("acme", "a@acme.example", ip("192.0.2.1"), 0)
            .unwrap();
        t.succeeded(ok);
        // a starts afresh; the address still holds the three failures.
        fail(&t, "a@acme.example", "192.0.2.1", 0, 1);
        let refused = t.begin("acme", "c@acme.example", ip("192.0.2.1"), 0);
        assert_eq!(refused.unwrap_err().limit, Limit::Address);
        // Another address is not affected.
        fail(&t, "c@acme.example", "192.0.2.9", 0, 1);
    }

    #[test]
    fn a_success_does_not_restart_the_address_back_off() {
        let t = throttle(0, 2);
        fail(&t, "a@acme.example", "192.0.2.1", 0, 2);
        // Blocked until 1 s; a success at 1 s leaves the address as it was: free again.
        let ok = t
            .begin("acme", "b@acme.example", ip("192.0.2.1"), S)
            .unwrap();
        t.succeeded(ok);
        fail(&t, "c@acme.example", "192.0.2.1", S, 1);
        // That was the third failure: the back-off is now 2 s.
        let refused = t.begin("acme", "d@acme.example", ip("192.0.2.1"), S);
        assert_eq!(refused.unwrap_err().retry_after_s, 2);
    }

    #[test]
    fn an_unchecked_attempt_does_not_count() {
        let t = throttle(1, 1);
        let attempt = t
            .begin("acme", "a@acme.example", ip("192.0.2.1"), 0)
            .unwrap();
        t.unchecked(attempt);
        fail(&t, "a@acme.example", "192.0.2.1", 0, 1);
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let t = throttle(0, 2);
        fail(&t, "a@acme.example", "2001:db8::1", 0, 1);
        fail(&t, "b@acme.example", "2001:db8::ffff:2", 0, 1);
        assert!(
            t.begin("acme", "c@acme.example", ip("2001:db8::3"), 0)
                .is_err()
        );
        assert!(
            t.begin("acme", "c@acme.example", ip("2001:db8:0:1::3"), 0)
                .is_ok()
        );
        fail(&t, "a@acme.example", "192.0.2.1", 0, 1);
        fail(&t, "b@acme.example", "::ffff:192.0.2.1", 0, 1);
        assert!(
            t.begin("acme", "c@acme.example", ip("192.0.2.1"), 0)
                .is_err()
        );
    }

    #[test]
    fn counts_are_forgotten_a_max_backoff_after_their_back_off_ends() {
        let t = throttle(2, 0);
        fail(&t, "a@acme.example", "192.0.2.1", 0, 2);
        // Blocked for 1 s; forgotten 15 min after that.
        let forgotten = S + micros(MAX_BACKOFF);
        fail(&t, "a@acme.example", "192.0.2.1", forgotten, 1);
        assert!(
            t.begin("acme", "a@acme.example", None, forgotten).is_ok(),
            "two failures again before a back-off"
        );
    }

    #[test]
    fn the_maps_stay_bounded() {
        let mut f = Failures::new(5, Duration::from_secs(1));
        for key in 0..(MAX_ENTRIES as u64 + 10) {
            f.count(key, key as i64);
        }
        assert_eq!(f.entries.len(), MAX_ENTRIES);
        // The oldest went first.
        assert!(!f.entries.contains_key(&0));
        assert!(f.entries.contains_key(&(MAX_ENTRIES as u64 + 9)));
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let t = throttle(0, 0);
        fail(&t, "a@acme.example", "192.0.2.1", 0, 100);
    }
}
