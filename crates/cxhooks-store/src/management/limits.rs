//! A webhook's own delivery limits (issue 25), validated once: how many of its deliveries may be
//! in flight at once, and how many may start each second. The management API checks them with
//! these bounds; the delivery workers enforce them.

use crate::model::InvalidValue;
use serde::{Deserialize, Serialize};

/// At most this many deliveries of one webhook in flight at once: 1 to [`MaxInFlight::MAX`].
/// A webhook without one uses `delivery.max_in_flight_per_webhook`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct MaxInFlight(u32);

impl MaxInFlight {
    /// The smallest limit: one delivery at a time.
    pub const MIN: u32 = 1;
    /// The largest limit: more concurrent requests than this to one receiver help nobody, and
    /// each holds a connection.
    pub const MAX: u32 = 1000;

    /// Validates a limit.
    pub fn new(n: u32) -> Result<Self, InvalidValue> {
        if (Self::MIN..=Self::MAX).contains(&n) {
            Ok(Self(n))
        } else {
            Err(InvalidValue(format!(
                "a limit of deliveries in flight is {} to {}, not {n}",
                Self::MIN,
                Self::MAX
            )))
        }
    }

    /// The limit.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for MaxInFlight {
    type Error = InvalidValue;
    fn try_from(n: u32) -> Result<Self, InvalidValue> {
        Self::new(n)
    }
}

impl From<MaxInFlight> for u32 {
    fn from(m: MaxInFlight) -> u32 {
        m.0
    }
}

/// At most this many deliveries of one webhook started per second: a finite number above 0 (a
/// fraction such as 0.5 is one every two seconds), at most [`MaxPerSecond::MAX`]. Deliveries past
/// the rate wait; they never fail for it. Never NaN, so it is `Eq`.
///
/// Very small rates are valid: whoever turns one into an interval (`1 / rate` seconds) must
/// allow for one longer than a `Duration` holds (`Duration::try_from_secs_f64`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct MaxPerSecond(f64);

impl Eq for MaxPerSecond {}

impl MaxPerSecond {
    /// The largest rate: beyond it a limit limits nothing one node can send.
    pub const MAX: f64 = 100_000.0;

    /// Validates a rate.
    pub fn new(rate: f64) -> Result<Self, InvalidValue> {
        if rate.is_finite() && rate > 0.0 && rate <= Self::MAX {
            Ok(Self(rate))
        } else {
            Err(InvalidValue(format!(
                "a rate is a number above 0 and at most {}, not {rate}",
                Self::MAX
            )))
        }
    }

    /// The rate, deliveries per second.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for MaxPerSecond {
    type Error = InvalidValue;
    fn try_from(rate: f64) -> Result<Self, InvalidValue> {
        Self::new(rate)
    }
}

impl From<MaxPerSecond> for f64 {
    fn from(m: MaxPerSecond) -> f64 {
        m.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive_and_nan_is_refused() {
        assert!(MaxInFlight::new(0).is_err());
        assert_eq!(MaxInFlight::new(1).unwrap().get(), 1);
        assert_eq!(MaxInFlight::new(1000).unwrap().get(), 1000);
        assert!(MaxInFlight::new(1001).is_err());
        for bad in [0.0, -0.0, -1.0, 100_000.5, f64::NAN, f64::INFINITY] {
            assert!(MaxPerSecond::new(bad).is_err(), "{bad}");
        }
        for good in [f64::MIN_POSITIVE, 0.5, 1.0, 100_000.0] {
            assert_eq!(MaxPerSecond::new(good).unwrap().get(), good);
        }
    }
}
