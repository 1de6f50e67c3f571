//! Key material for cxhooks.
//!
//! # Layout
//! - [`rsa`]: RSA key pairs (generated with aws-lc-rs), PKCS#1 v1.5 SHA-256 signatures as sent in
//!   `Cx-Signature` and used for RS256 tokens, and the public key as the PEM "secret" that the
//!   seed documents' Java, Node.js and PHP verifiers accept.
//! - [`standard`]: Standard Webhooks' `v1` HMAC-SHA256 signatures and `whsec_` secrets, sent
//!   next to `Cx-Signature` by applications that ask for them.
//! - [`master`]: the master key, which seals private keys at rest (AES-256-GCM) and hashes client
//!   secrets (HMAC-SHA-256).
//!
//! Secret-bearing types redact themselves in `Debug` so that they cannot leak into logs.
#![warn(missing_docs)]

pub mod master;
pub mod rsa;
pub mod standard;

pub use master::{MasterKey, MasterKeyError};
pub use rsa::{KeyError, PrivateKey, PublicKey, RsaBits};
pub use standard::StandardKey;

/// A fresh 256-bit random value as unpadded base64url text: client secrets, one-time tokens.
pub fn random_secret() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(MasterKey::generate_bytes())
}
