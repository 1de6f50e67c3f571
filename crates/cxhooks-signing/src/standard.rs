//! Standard Webhooks signatures (<https://www.standardwebhooks.com>, the `v1` scheme): an
//! HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}` with a per-application secret,
//! sent as `webhook-signature: v1,{base64}`. The secret is shown to integrators as `whsec_`
//! followed by its bytes in standard base64, which is what the official verifiers take.

use crate::MasterKey;
use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::fmt;

/// What a `whsec_` secret starts with.
pub const PREFIX: &str = "whsec_";

/// An application's Standard Webhooks secret.
#[derive(Clone)]
pub struct StandardKey {
    bytes: Vec<u8>,
    key: hmac::Key,
}

impl fmt::Debug for StandardKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StandardKey(redacted)")
    }
}

/// Why a `whsec_` text is not a secret.
#[derive(Debug, thiserror::Error)]
pub enum StandardKeyError {
    /// Not `whsec_` followed by base64 of 24 to 64 bytes.
    #[error("a Standard Webhooks secret is 'whsec_' followed by 24 to 64 bytes in base64")]
    Malformed,
}

impl StandardKey {
    /// A fresh random 32-byte secret.
    pub fn generate() -> Self {
        Self::from_bytes(&MasterKey::generate_bytes())
    }

    /// The secret of these bytes (as stored, sealed).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self {
            bytes: bytes.to_vec(),
            key: hmac::Key::new(hmac::HMAC_SHA256, bytes),
        }
    }

    /// Parses `whsec_…` (the prefix may be left out, as the official verifiers allow).
    pub fn from_whsec(text: &str) -> Result<Self, StandardKeyError> {
        let b64 = text.strip_prefix(PREFIX).unwrap_or(text);
        let bytes = STANDARD
            .decode(b64)
            .map_err(|_| StandardKeyError::Malformed)?;
        if !(24..=64).contains(&bytes.len()) {
            return Err(StandardKeyError::Malformed);
        }
        Ok(Self::from_bytes(&bytes))
    }

    /// The bytes, to seal for the store.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The secret as integrators configure it: `whsec_` and standard base64.
    pub fn to_whsec(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.bytes))
    }

    /// The `webhook-signature` value for message `id` sent at `timestamp` (seconds since the
    /// epoch) with `body`: `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(id.as_bytes());
        ctx.update(b".");
        ctx.update(timestamp.to_string().as_bytes());
        ctx.update(b".");
        ctx.update(body);
        format!("v1,{}", STANDARD.encode(ctx.sign().as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification (and of Svix's documentation).
    #[test]
    fn signs_the_specifications_example() {
        let key = StandardKey::from_whsec("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            key.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn round_trips_and_refuses_what_is_not_a_secret() {
        let key = StandardKey::generate();
        let text = key.to_whsec();
        assert!(text.starts_with("whsec_"), "{text}");
        let again = StandardKey::from_whsec(&text).unwrap();
        assert_eq!(again.as_bytes(), key.as_bytes());
        assert_eq!(again.sign("a", 1, b"x"), key.sign("a", 1, b"x"));
        for bad in ["whsec_", "whsec_!!!", "whsec_c2hvcnQ=", ""] {
            assert!(StandardKey::from_whsec(bad).is_err(), "{bad}");
        }
        assert_eq!(format!("{key:?}"), "StandardKey(redacted)");
    }
}
