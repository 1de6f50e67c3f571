//! Measuring: what the receivers and publishers saw (latency histograms), where the machine's
//! time went (CPU from `/proc`), peak memory, and what each node counts as delivered.

use super::acks::Acks;
use super::drain::{Drain, Side};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What one receiver saw: the deliveries it answered 2xx, their latencies from the publish
/// request (µs) and from its `202` (µs).
pub(super) struct Seen {
    pub(super) count: AtomicU64,
    pub(super) latencies_us: Latencies,
    pub(super) after_ack_us: Latencies,
    /// The latencies since `--series` last took them.
    pub(super) interval_us: Latencies,
    acks: Arc<Acks>,
    /// With `--recover-after`: the run's drain, and which side of it this receiver is.
    drain: Option<(Arc<Drain>, Side)>,
}

impl Seen {
    pub(super) fn new(acks: Arc<Acks>, drain: Option<(Arc<Drain>, Side)>) -> Self {
        Self {
            count: AtomicU64::default(),
            latencies_us: Latencies::default(),
            after_ack_us: Latencies::default(),
            interval_us: Latencies::default(),
            acks,
            drain,
        }
    }

    /// A delivery with `body` arrived (and is answered 2xx).
    pub(super) fn receive(&self, body: &[u8]) {
        let now = now_us();
        let entity = sent_in(body);
        // Every delivery counts down its batch's, warm-up or not.
        let after_ack = entity.and_then(|(_, b)| self.acks.delivered(b, now));
        let measured = entity
            .filter(|&(at, _)| at >= self.acks.measure_from_us.load(Ordering::Relaxed))
            .map(|(at, _)| now.saturating_sub(at));
        if let Some(latency) = measured {
            self.latencies_us.record(latency);
            self.interval_us.record(latency);
            if let Some(after) = after_ack {
                self.after_ack_us.record(after);
            }
        }
        if let Some((drain, side)) = &self.drain {
            drain.received(*side, now, measured.map(|l| (l, after_ack)));
        }
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// Latencies (µs) counted in a histogram of fixed size: 1 µs to an hour at 3 significant
/// digits, under 200 KB. Kept one by one, the samples of a 30-minute soak at 500 changes/s
/// (two per change, 8 bytes each) grew the process by 0.45 MB a minute, which hid whether the
/// service's own memory stayed flat.
pub(super) struct Latencies(pub(super) Mutex<Histogram<u64>>);

impl Default for Latencies {
    fn default() -> Self {
        Self(Mutex::new(
            Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
        ))
    }
}

impl Latencies {
    pub(super) fn record(&self, us: u64) {
        self.0.lock().expect("not poisoned").saturating_record(us);
    }

    /// How many were recorded.
    pub(super) fn len(&self) -> u64 {
        self.0.lock().expect("not poisoned").len()
    }

    /// These and `other`'s, together.
    pub(super) fn merged(&self, other: &Self) -> Self {
        let mut both = self.0.lock().expect("not poisoned").clone();
        both.add(&*other.0.lock().expect("not poisoned"))
            .expect("same bounds");
        Self(Mutex::new(both))
    }

    /// p50, p99 and max, in ms (nulls when there are none).
    pub(super) fn percentiles(&self) -> Value {
        let counted = self.0.lock().expect("not poisoned");
        let ms = |us: u64| (!counted.is_empty()).then(|| round(us as f64 / 1000.0));
        json!({
            "p50": ms(counted.value_at_quantile(0.50)),
            "p99": ms(counted.value_at_quantile(0.99)),
            "max": ms(counted.max()),
        })
    }
}

pub(super) fn now_us() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_micros()).unwrap_or(0)
}

/// When the change a notification is about was published (µs) and its batch, from its
/// `entityId` (`{µs}-{batch}-{n}`). Found by a scan rather than by parsing the JSON: the
/// receivers run in the bench's process and share its two cores with the service, so what they
/// spend is taken from what is measured.
pub(super) fn sent_in(body: &[u8]) -> Option<(u64, u64)> {
    const KEY: &[u8] = br#""entityId":""#;
    let start = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let number = |from: usize| -> Option<(u64, usize)> {
        let digits = body
            .get(from..)?
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let n = std::str::from_utf8(&body[from..from + digits])
            .ok()?
            .parse()
            .ok()?;
        Some((n, from + digits))
    };
    let (at, end) = number(start)?;
    let (batch, _) = body
        .get(end)
        .filter(|&&c| c == b'-')
        .and_then(|_| number(end + 1))?;
    Some((at, batch))
}

/// Where the machine's time went, from `/proc` (Linux): for telling a pipeline that waits
/// (idle cores) from one that works (CPU per delivery), which a ratio of rates cannot.
pub(super) struct CpuTimes {
    /// All CPUs' jiffies: (total, idle + iowait, steal).
    machine: Option<(u64, u64, u64)>,
    /// This process's user + system time, in clock ticks.
    process: Option<u64>,
    /// The same, of its signing threads (`cxhooks-sign-*`).
    signing: Option<u64>,
}

/// User + system clock ticks of a `/proc/…/stat` line: fields 14 and 15, counted after the `)`
/// that ends the command name.
fn stat_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

impl CpuTimes {
    pub(super) fn now() -> Self {
        let machine = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
            let fields: Vec<u64> = s
                .lines()
                .next()?
                .split_whitespace()
                .skip(1)
                .filter_map(|f| f.parse().ok())
                .collect();
            let idle = fields.get(3)? + fields.get(4)?;
            // Guest time is counted in user time already.
            let total = fields.iter().take(8).sum();
            Some((total, idle, *fields.get(7)?))
        });
        let process = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| stat_ticks(&s));
        let signing = std::fs::read_dir("/proc/self/task").ok().map(|tasks| {
            tasks
                .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("stat")).ok())
                .filter(|s| s.contains("(cxhooks-sign-"))
                .filter_map(|s| stat_ticks(&s))
                .sum()
        });
        Self {
            machine,
            process,
            signing,
        }
    }

    /// (the machine's idle share, its steal share — time the hypervisor gave to other guests —,
    /// this process's CPU seconds, its signing threads' CPU seconds) since `before`.
    pub(super) fn since(&self, before: &Self) -> Option<(f64, f64, f64, f64)> {
        let ((total, idle, steal), (total0, idle0, steal0)) = (self.machine?, before.machine?);
        let total = (total - total0).max(1) as f64;
        let ticks_per_s = 100.0; // USER_HZ, 100 on every Linux that runs this
        let process_s = (self.process? - before.process?) as f64 / ticks_per_s;
        let signing_s = (self.signing? - before.signing?) as f64 / ticks_per_s;
        Some((
            (idle - idle0) as f64 / total,
            (steal - steal0) as f64 / total,
            process_s,
            signing_s,
        ))
    }
}

/// Peak resident set size of this process, MB (Linux `VmHWM`).
pub(super) fn peak_rss_mb() -> Option<f64> {
    status_mb("VmHWM:")
}

/// A size of this process's `/proc/self/status` (`key` with its colon), MB to 0.1.
pub(super) fn status_mb(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

pub(super) fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Waits until the receivers have seen `expected` deliveries; fails if none arrive for 30 s.
pub(super) async fn wait_for(seen: &Seen, expected: u64) -> Result<(), String> {
    let mut last = (0, Instant::now());
    loop {
        let n = seen.count.load(Ordering::Relaxed);
        if n >= expected {
            return Ok(());
        }
        if n != last.0 {
            last = (n, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(30) {
            return Err(format!("deliveries stopped at {n} of {expected} for 30 s"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What a node's `/metrics` counts as delivered.
pub(super) async fn delivered_by(http: &reqwest::Client, url: &str) -> Result<u64, String> {
    Ok(outcomes_of(http, url)
        .await?
        .get("delivered")
        .copied()
        .unwrap_or(0))
}

/// A node's attempts and cancellations by outcome (`delivered`, `retrying`, `failed`, …), from
/// its `/metrics`.
pub(super) async fn outcomes_of(
    http: &reqwest::Client,
    url: &str,
) -> Result<BTreeMap<String, u64>, String> {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("reading {url}/metrics: {e}"))?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    Ok(text
        .lines()
        .filter_map(|l| l.strip_prefix("cxhooks_deliveries_total{outcome=\""))
        .filter_map(|l| {
            let (outcome, value) = l.split_once("\"} ")?;
            Some((outcome.to_owned(), value.parse::<f64>().ok()? as u64))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::sent_in;

    #[test]
    fn the_publish_time_and_batch_are_read_from_the_entity_id() {
        let body = br#"{"id":"x","type":"cremployee:updated","data":{"entityId":"1795906679243203-42-7","changedFields":[]}}"#;
        assert_eq!(sent_in(body), Some((1_795_906_679_243_203, 42)));
        assert_eq!(sent_in(br#"{"data":{"entityId":""}}"#), None);
        assert_eq!(sent_in(br#"{"data":{"entityId":"17"}}"#), None);
        assert_eq!(sent_in(b"not json"), None);
    }
}
