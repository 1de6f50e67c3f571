//! `--sign-only` and the signing bound: signatures per second of a typical notification on the
//! server's signing threads, which an end-to-end run is compared with.

use super::measure::{Latencies, peak_rss_mb, round};
use cxhooks_server::delivery::payload::{Notification, NotificationData};
use cxhooks_signing::{PrivateKey, RsaBits};
use serde_json::json;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(super) fn sign_only(bits: RsaBits, seconds: u64) -> Result<ExitCode, String> {
    let (per_s, payload_bytes, threads) = signing_bound(bits, seconds)?;
    outln!(
        "{}",
        json!({
            "mode": "sign-only", "store": null, "rsa_bits": bits.bits(), "signing_threads": threads,
            "payload_bytes": payload_bytes, "changes_per_s": null, "deliveries_per_s": per_s,
            "latency_ms": Latencies::default().percentiles(),
            "ack_latency_ms": Latencies::default().percentiles(), "signatures_per_s": per_s,
            "peak_rss_mb": peak_rss_mb(), "store_bytes_per_delivery": null,
        })
    );
    Ok(ExitCode::SUCCESS)
}

/// Signatures per second of a typical notification on the server's signing threads for
/// `seconds`, with the payload's size and the number of threads.
pub(super) fn signing_bound(bits: RsaBits, seconds: u64) -> Result<(f64, usize, usize), String> {
    let key = Arc::new(PrivateKey::generate(bits).map_err(|e| e.to_string())?);
    let changed = ["touser.lastname".to_owned(), "modificationdate".to_owned()];
    let payload = Notification {
        id: uuid::Uuid::new_v4().into(),
        time: "2026-11-28T10:00:00Z",
        event_type: "cremployee:updated",
        application_id: uuid::Uuid::new_v4().into(),
        webhook_id: uuid::Uuid::new_v4().into(),
        tenant: "bench",
        data: NotificationData {
            entity_id: "12345",
            changed_fields: &changed,
        },
        metadata: None,
    }
    .to_bytes();
    let threads = cxhooks_server::delivery::signing_threads();
    let deadline = Instant::now() + Duration::from_secs(seconds.max(1));
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (key, payload) = (key.clone(), payload.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    key.sign_base64(&payload).expect("signing works");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let signed: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    let per_s = round(signed as f64 / started.elapsed().as_secs_f64());
    Ok((per_s, payload.len(), threads))
}
