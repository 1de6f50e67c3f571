//! The master key: seals private keys at rest and hashes client secrets.
//!
//! Two sub-keys are derived from the 32 master bytes with HKDF-SHA-256, one per purpose, so a
//! hash can never be confused with a ciphertext key. Sealing binds each ciphertext to the row it
//! belongs to (the `context`, used as AEAD associated data): a sealed key copied into another
//! tenant's row does not open.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::fmt;

/// Errors from master key handling.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    /// The key material is not 32 bytes.
    #[error("a master key is 32 bytes, this one has {0}")]
    WrongLength(usize),
    /// The base64 text does not decode.
    #[error("the master key is not valid base64: {0}")]
    NotBase64(String),
    /// A sealed value did not open: wrong master key, wrong context, or corrupted bytes.
    #[error(
        "a sealed value did not open: the master key differs from the one that sealed it, or the stored bytes are damaged"
    )]
    Open,
}

/// The 32-byte master key from configuration.
pub struct MasterKey {
    seal: LessSafeKey,
    hash: hmac::Key,
    check: [u8; 32],
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(redacted)")
    }
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn derive(prk: &hkdf::Prk, purpose: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let info = [purpose];
    prk.expand(&info, Len(32))
        .and_then(|okm| okm.fill(&mut out))
        .expect("HKDF-SHA-256 can expand 32 bytes");
    out
}

impl MasterKey {
    /// Generates 32 fresh random bytes.
    pub fn generate_bytes() -> [u8; 32] {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .expect("the system RNG works");
        bytes
    }

    /// Builds the key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MasterKeyError> {
        if bytes.len() != 32 {
            return Err(MasterKeyError::WrongLength(bytes.len()));
        }
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"cxhooks master key v1").extract(bytes);
        let seal_bytes = derive(&prk, b"seal");
        let hash_bytes = derive(&prk, b"client-secret");
        let check = derive(&prk, b"check");
        let seal =
            LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &seal_bytes).expect("32-byte AES key"));
        Ok(Self {
            seal,
            hash: hmac::Key::new(hmac::HMAC_SHA256, &hash_bytes),
            check,
        })
    }

    /// Builds the key from base64 text (`CXHOOKS_KEYS__MASTER_KEY`).
    pub fn from_base64(text: &str) -> Result<Self, MasterKeyError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|e| MasterKeyError::NotBase64(e.to_string()))?;
        Self::from_bytes(&bytes)
    }

    /// A value derived from the key that identifies it without revealing it; stored once so that
    /// a node started with the wrong master key is refused with a clear message.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.check
    }

    /// Encrypts `plaintext` bound to `context`; the result is nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the system RNG works");
        let mut buf = plaintext.to_vec();
        self.seal
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .expect("AES-GCM sealing of a small buffer cannot fail");
        let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        out
    }

    /// Decrypts what [`MasterKey::seal`] produced with the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        if sealed.len() < NONCE_LEN {
            return Err(MasterKeyError::Open);
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| MasterKeyError::Open)?;
        let mut buf = rest.to_vec();
        let plain = self
            .seal
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| MasterKeyError::Open)?;
        Ok(plain.to_vec())
    }

    /// HMAC-SHA-256 of a client secret: what the store keeps instead of the secret.
    pub fn hash_secret(&self, secret: &str) -> Vec<u8> {
        hmac::sign(&self.hash, secret.as_bytes()).as_ref().to_vec()
    }

    /// Compares a presented secret with a stored hash in constant time.
    pub fn verify_secret(&self, secret: &str, stored_hash: &[u8]) -> bool {
        hmac::verify(&self.hash, secret.as_bytes(), stored_hash).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_is_bound_to_context_and_key() {
        let key = MasterKey::from_bytes(&[7; 32]).unwrap();
        let sealed = key.seal("realm:acme", b"private");
        assert_eq!(key.open("realm:acme", &sealed).unwrap(), b"private");
        assert!(key.open("realm:other", &sealed).is_err());
        let other = MasterKey::from_bytes(&[8; 32]).unwrap();
        assert!(other.open("realm:acme", &sealed).is_err());
        assert_ne!(key.fingerprint(), other.fingerprint());
    }

    #[test]
    fn secret_hashes_verify_only_the_same_secret() {
        let key = MasterKey::from_bytes(&[1; 32]).unwrap();
        let h = key.hash_secret("s3cret");
        assert!(key.verify_secret("s3cret", &h));
        assert!(!key.verify_secret("s3cret ", &h));
        assert!(MasterKey::from_bytes(&[0; 31]).is_err());
        assert!(MasterKey::from_base64("!!").is_err());
    }
}
