//! RSA key pairs and RSASSA-PKCS1-v1_5 with SHA-256.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::fmt;
use std::str::FromStr;

/// Errors from key handling.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key size is not one cxhooks generates.
    #[error("RSA key size {0} is not supported: use 2048, 3072 or 4096")]
    UnsupportedSize(u32),
    /// Key generation failed inside the crypto library.
    #[error("RSA key generation failed")]
    Generate,
    /// Stored private key bytes did not parse as PKCS#8.
    #[error("stored private key is not a valid PKCS#8 RSA key: {0}")]
    BadPrivateKey(String),
    /// A public key (PEM or DER) did not parse.
    #[error("not a valid RSA public key: {0}")]
    BadPublicKey(String),
    /// Signing failed inside the crypto library.
    #[error("RSA signing failed")]
    Sign,
}

/// The key sizes cxhooks generates: never less than 2048 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaBits {
    /// 2048-bit modulus (the default).
    B2048,
    /// 3072-bit modulus.
    B3072,
    /// 4096-bit modulus.
    B4096,
}

impl RsaBits {
    /// Maps a bit count to a supported size.
    pub fn from_bits(bits: u32) -> Result<Self, KeyError> {
        match bits {
            2048 => Ok(Self::B2048),
            3072 => Ok(Self::B3072),
            4096 => Ok(Self::B4096),
            other => Err(KeyError::UnsupportedSize(other)),
        }
    }

    /// The bit count.
    pub fn bits(self) -> u32 {
        match self {
            Self::B2048 => 2048,
            Self::B3072 => 3072,
            Self::B4096 => 4096,
        }
    }
}

impl FromStr for RsaBits {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bits = s.trim().parse().map_err(|_| KeyError::UnsupportedSize(0))?;
        Self::from_bits(bits)
    }
}

/// An RSA private key, parsed once and kept ready to sign.
pub struct PrivateKey {
    pair: RsaKeyPair,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PrivateKey({} bits, redacted)",
            self.pair.public_modulus_len() * 8
        )
    }
}

impl PrivateKey {
    /// Generates a new key pair.
    pub fn generate(bits: RsaBits) -> Result<Self, KeyError> {
        let size = match bits {
            RsaBits::B2048 => aws_lc_rs::rsa::KeySize::Rsa2048,
            RsaBits::B3072 => aws_lc_rs::rsa::KeySize::Rsa3072,
            RsaBits::B4096 => aws_lc_rs::rsa::KeySize::Rsa4096,
        };
        let pair = RsaKeyPair::generate(size).map_err(|_| KeyError::Generate)?;
        Ok(Self { pair })
    }

    /// Parses a PKCS#8 DER private key, as produced by [`PrivateKey::to_pkcs8_der`].
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let pair =
            RsaKeyPair::from_pkcs8(der).map_err(|e| KeyError::BadPrivateKey(e.to_string()))?;
        Ok(Self { pair })
    }

    /// The private key as PKCS#8 DER. Seal it before storing it.
    pub fn to_pkcs8_der(&self) -> Vec<u8> {
        let der: Pkcs8V1Der<'static> = self.pair.as_der().expect("an RSA key pair always encodes");
        der.as_ref().to_vec()
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        let spki: PublicKeyX509Der<'static> = self
            .pair
            .public_key()
            .as_der()
            .expect("an RSA public key always encodes");
        PublicKey {
            spki: spki.as_ref().to_vec(),
        }
    }

    /// Signs `message` with RSASSA-PKCS1-v1_5 and SHA-256, the `Cx-Signature` and RS256 scheme.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut sig = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut sig,
            )
            .map_err(|_| KeyError::Sign)?;
        Ok(sig)
    }

    /// Signs `message` and returns the signature in standard base64, as in `Cx-Signature`.
    pub fn sign_base64(&self, message: &[u8]) -> Result<String, KeyError> {
        Ok(STANDARD.encode(self.sign(message)?))
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.pair.public_modulus_len() * 8
    }
}

/// An RSA public key, kept as SubjectPublicKeyInfo (X.509) DER.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    spki: Vec<u8>,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} bytes SPKI)", self.spki.len())
    }
}

const PEM_BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
const PEM_END: &str = "-----END PUBLIC KEY-----";

impl PublicKey {
    /// Parses SubjectPublicKeyInfo DER.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        aws_lc_rs::rsa::PublicKey::from_der(der)
            .map_err(|e| KeyError::BadPublicKey(e.to_string()))?;
        Ok(Self { spki: der.to_vec() })
    }

    /// Parses a PEM public key. Besides the standard form it accepts the forms consumers copy
    /// out of JSON: literal `\n` sequences instead of newlines, or the base64 body alone, as in
    /// seed 004's application model.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let body: String = pem
            .replace("\\n", "\n")
            .replace(PEM_BEGIN, "")
            .replace(PEM_END, "")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = STANDARD
            .decode(body.as_bytes())
            .map_err(|e| KeyError::BadPublicKey(format!("the base64 body does not decode: {e}")))?;
        Self::from_spki_der(&der)
    }

    /// SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The standard PEM text: header line, base64 in 64-character lines, footer line, each ended
    /// by a real newline. This is the application `secret` of the API.
    pub fn to_pem(&self) -> String {
        let b64 = STANDARD.encode(&self.spki);
        let mut pem = String::with_capacity(b64.len() + b64.len() / 64 + 64);
        pem.push_str(PEM_BEGIN);
        pem.push('\n');
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str(PEM_END);
        pem.push('\n');
        pem
    }

    /// The RSA modulus and public exponent, big-endian without leading zeros (for JWKS).
    pub fn components(&self) -> (Vec<u8>, Vec<u8>) {
        let key = aws_lc_rs::rsa::PublicKey::from_der(&self.spki)
            .expect("a PublicKey holds a parsed SPKI");
        (
            key.modulus().big_endian_without_leading_zero().to_vec(),
            key.exponent().big_endian_without_leading_zero().to_vec(),
        )
    }

    /// The key from its JWK members: the modulus `n` and exponent `e`, big-endian.
    pub fn from_components(n: &[u8], e: &[u8]) -> Result<Self, KeyError> {
        // Verification takes 2048 to 8192 bits: say so here rather than fail every signature.
        let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
        if !(2048..=8192).contains(&bits) {
            return Err(KeyError::BadPublicKey(format!(
                "a modulus of about {bits} bits; RSA keys here have 2048 to 8192"
            )));
        }
        let der = aws_lc_rs::rsa::PublicKeyComponents { n, e }
            .as_der()
            .map_err(|e| KeyError::BadPublicKey(format!("not an RSA public key: {e}")))?;
        Self::from_spki_der(der.as_ref())
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url without padding): the key's `kid` in an
    /// application's JWKS and in `Cx-Signature-Key-Id`. The JSON hashed is the required
    /// members in lexicographic order without whitespace, as §3.2 prescribes.
    pub fn thumbprint(&self) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (n, e) = self.components();
        let canonical = format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            URL_SAFE_NO_PAD.encode(e),
            URL_SAFE_NO_PAD.encode(n)
        );
        URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            canonical.as_bytes(),
        ))
    }

    /// The key as PKCS#1 `RSAPublicKey` DER, the form jsonwebtoken's `DecodingKey::from_rsa_der`
    /// expects.
    pub fn pkcs1_der(&self) -> Vec<u8> {
        let key = aws_lc_rs::rsa::PublicKey::from_der(&self.spki)
            .expect("a PublicKey holds a parsed SPKI");
        key.as_ref().to_vec()
    }

    /// Verifies an RSASSA-PKCS1-v1_5 SHA-256 signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &self.spki)
            .verify(message, signature)
            .is_ok()
    }

    /// Verifies a standard-base64 signature (the `Cx-Signature` header value).
    pub fn verify_base64(&self, message: &[u8], signature_b64: &str) -> bool {
        match STANDARD.decode(signature_b64.trim()) {
            Ok(sig) => self.verify(message, &sig),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_round_trip_and_the_thumbprint_is_stable() {
        let key = PrivateKey::generate(RsaBits::B2048).unwrap();
        let public = key.public_key();
        let (n, e) = public.components();
        let again = PublicKey::from_components(&n, &e).unwrap();
        assert_eq!(again, public);
        assert_eq!(again.thumbprint(), public.thumbprint());
        assert_eq!(
            public.thumbprint().len(),
            43,
            "SHA-256 in base64url without padding"
        );
        let other = PrivateKey::generate(RsaBits::B2048).unwrap().public_key();
        assert_ne!(other.thumbprint(), public.thumbprint());
        assert!(PublicKey::from_components(&[1, 2, 3], &e).is_err());
    }

    #[test]
    fn sign_then_verify_and_pem_round_trip() {
        let key = PrivateKey::generate(RsaBits::B2048).unwrap();
        let public = key.public_key();
        let sig = key.sign_base64(b"{\"id\":1}").unwrap();
        assert!(public.verify_base64(b"{\"id\":1}", &sig));
        assert!(!public.verify_base64(b"{\"id\":2}", &sig));

        let pem = public.to_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(pem.ends_with("-----END PUBLIC KEY-----\n"));
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert_eq!(PublicKey::from_pem(&pem).unwrap(), public);
        // The form a consumer copies out of raw JSON text.
        assert_eq!(
            PublicKey::from_pem(&pem.replace('\n', "\\n")).unwrap(),
            public
        );

        let again = PrivateKey::from_pkcs8_der(&key.to_pkcs8_der()).unwrap();
        assert_eq!(again.public_key(), public);
        let (n, e) = public.components();
        assert_eq!(n.len(), 256);
        assert_eq!(e, vec![1, 0, 1]);
    }

    #[test]
    fn sizes_below_2048_are_refused() {
        assert!(matches!(
            RsaBits::from_bits(1024),
            Err(KeyError::UnsupportedSize(1024))
        ));
        assert_eq!(RsaBits::from_bits(4096).unwrap().bits(), 4096);
    }

    #[test]
    fn garbage_public_keys_are_errors() {
        assert!(PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nnot base64!\n").is_err());
        assert!(PublicKey::from_pem("AAAA").is_err());
    }
}
