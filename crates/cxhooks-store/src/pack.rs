//! Notification payloads as the store keeps them: compressed with zstd and a dictionary trained
//! on notifications (`dict/`), which takes a typical payload from about 333 bytes to 125. The
//! bytes given back are exactly the bytes given in, so signatures over them hold.
//!
//! Format: a payload that starts with `{` is stored as is (every payload before this format,
//! and any that would not get smaller); one that starts with the byte `1` is a zstd frame made
//! with `dict/payload-v1.dict`. A new dictionary would be format `2`, `1` still read.

use std::cell::RefCell;
use std::io;
use std::sync::LazyLock;
use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::{DecoderDictionary, EncoderDictionary};
use zstd::zstd_safe::CParameter;

const DICTIONARY_V1: &[u8] = include_bytes!("../dict/payload-v1.dict");
const FORMAT_V1: u8 = 1;
/// zstd's level 3 (its default): within a byte or two of level 9 here, at a fraction of the
/// time.
const LEVEL: i32 = 3;
/// The largest payload unpacked: far above any notification (a change carries at most the
/// catalog's field paths), so a damaged frame cannot claim gigabytes.
const MAX_UNPACKED: u64 = 16 << 20;

static ENCODER_V1: LazyLock<EncoderDictionary<'static>> =
    LazyLock::new(|| EncoderDictionary::copy(DICTIONARY_V1, LEVEL));
static DECODER_V1: LazyLock<DecoderDictionary<'static>> =
    LazyLock::new(|| DecoderDictionary::copy(DICTIONARY_V1));

thread_local! {
    static COMPRESSOR: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

/// The bytes to store for a payload (a notification, or a change's body).
pub fn pack(payload: &[u8]) -> Vec<u8> {
    let packed = COMPRESSOR.with(|cell| -> io::Result<Vec<u8>> {
        let mut slot = cell.borrow_mut();
        let compressor = match slot.as_mut() {
            Some(c) => c,
            None => {
                let mut c = Compressor::with_prepared_dictionary(&ENCODER_V1)?;
                // The format byte says which dictionary; the frame need not.
                c.set_parameter(CParameter::DictIdFlag(false))?;
                c.set_parameter(CParameter::ChecksumFlag(false))?;
                slot.insert(c)
            }
        };
        let mut out = Vec::with_capacity(payload.len() / 2 + 16);
        out.push(FORMAT_V1);
        out.extend_from_slice(&compressor.compress(payload)?);
        Ok(out)
    });
    match packed {
        Ok(p) if p.len() < payload.len() => p,
        // Incompressible, or zstd failed (out of memory): stored as is, still correct.
        _ => payload.to_vec(),
    }
}

/// The stored form of each delivery's payload, in order.
pub(crate) fn pack_all(deliveries: &[crate::NewDelivery]) -> Vec<Vec<u8>> {
    deliveries.iter().map(|d| pack(&d.payload)).collect()
}

/// The payload stored as `stored`.
pub fn unpack(stored: Vec<u8>) -> io::Result<Vec<u8>> {
    match stored.first() {
        Some(&FORMAT_V1) => DECOMPRESSOR.with(|cell| {
            let frame = &stored[1..];
            let size = zstd::zstd_safe::get_frame_content_size(frame)
                .ok()
                .flatten()
                .filter(|&n| n <= MAX_UNPACKED)
                .ok_or_else(|| damaged("its frame gives no usable size"))?;
            let mut slot = cell.borrow_mut();
            let decompressor = match slot.as_mut() {
                Some(d) => d,
                None => slot.insert(Decompressor::with_prepared_dictionary(&DECODER_V1)?),
            };
            let payload = decompressor
                .decompress(frame, size as usize)
                .map_err(|e| damaged(&e.to_string()))?;
            if payload.len() as u64 != size {
                return Err(damaged("it unpacks to fewer bytes than its frame says"));
            }
            Ok(payload)
        }),
        Some(b'{') | None => Ok(stored),
        Some(other) => Err(damaged(&format!("unknown format byte {other}"))),
    }
}

fn damaged(why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("a stored payload is damaged: {why}"),
    )
}

/// A payload column as read: unpacked by `#[sqlx(try_from = "Packed")]` on a `Vec<u8>` field.
#[derive(sqlx::Type)]
#[sqlx(transparent)]
pub(crate) struct Packed(Vec<u8>);

impl TryFrom<Packed> for Vec<u8> {
    type Error = io::Error;

    fn try_from(p: Packed) -> io::Result<Vec<u8>> {
        unpack(p.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTIFICATION: &[u8] = br#"{"id":"019ac8a4-1f2e-7b3c-9d4e-5f6a7b8c9d0e","time":"2026-11-28T23:05:00Z","type":"cremployee:updated","applicationId":"26426bfd-f224-4feb-893f-28b7d8484826","webhookId":"653f3ab4-df6e-4b34-8602-2be3a28e6f00","tenant":"acme","data":{"entityId":"4521","changedFields":["touser","touser.lastname","modificationdate"]}}"#;

    #[test]
    fn a_notification_packs_small_and_unpacks_to_the_same_bytes() {
        let packed = pack(NOTIFICATION);
        assert_eq!(packed[0], FORMAT_V1);
        assert!(
            packed.len() < NOTIFICATION.len() / 2,
            "{} bytes packed from {}",
            packed.len(),
            NOTIFICATION.len()
        );
        assert_eq!(unpack(packed).unwrap(), NOTIFICATION);
    }

    #[test]
    fn payloads_stored_before_packing_read_as_they_are() {
        assert_eq!(unpack(NOTIFICATION.to_vec()).unwrap(), NOTIFICATION);
        assert_eq!(unpack(Vec::new()).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn what_would_not_get_smaller_is_stored_as_is() {
        let tiny = br#"{}"#;
        assert_eq!(pack(tiny), tiny);
    }

    #[test]
    fn damaged_payloads_are_errors_not_garbage() {
        let mut packed = pack(NOTIFICATION);
        packed.truncate(packed.len() - 5);
        let e = unpack(packed).unwrap_err();
        assert!(e.to_string().contains("damaged"), "{e}");
        assert!(
            unpack(vec![7, 1, 2])
                .unwrap_err()
                .to_string()
                .contains("format byte 7")
        );
        assert!(unpack(vec![FORMAT_V1, 0, 0]).is_err());
    }
}
