//! `cxhooks verify`: one payload, one signature, and the application's key: its `secret`
//! (PEM), or its JWKS URL with the key picked by id.

use base64::Engine as _;
use clap::Args;
use cxhooks_consumer::{RemoteError, RemoteKeys, VerifyError};
use cxhooks_signing::PublicKey;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("key").required(true).args(["secret_file", "jwks_url"])))]
pub struct VerifyArgs {
    /// The application's `secret` (PEM public key; the JSON-escaped form with `\n` works too).
    #[arg(long, value_name = "PEM")]
    secret_file: Option<PathBuf>,
    /// The application's JWKS URL (its public `jwksUrl`): the key is picked by `--key-id`.
    #[arg(long, value_name = "URL")]
    jwks_url: Option<String>,
    /// The `Cx-Signature-Key-Id` header value; without it, any key of the JWKS may match.
    #[arg(long, value_name = "KID", requires = "jwks_url")]
    key_id: Option<String>,
    /// The `Cx-Signature` header value (base64).
    #[arg(long, value_name = "B64")]
    signature: String,
    /// The raw request body, byte for byte.
    #[arg(long, value_name = "BODY")]
    body_file: PathBuf,
}

/// Exit 0: valid; 1: invalid; 2: the input cannot be used (unreadable file, not a public key,
/// signature not base64, a JWKS URL that answers no JWKS).
pub async fn run(args: &VerifyArgs) -> ExitCode {
    let unusable = |msg: String| {
        eprintln!("error: {msg}");
        ExitCode::from(2)
    };
    let body = match std::fs::read(&args.body_file) {
        Ok(b) => b,
        Err(e) => return unusable(format!("cannot read {}: {e}", args.body_file.display())),
    };
    if let Err(e) = base64::engine::general_purpose::STANDARD.decode(args.signature.trim()) {
        return unusable(format!("the signature is not standard base64: {e}"));
    }
    let invalid = || {
        outln!("invalid: the signature does not match this body and key");
        ExitCode::from(1)
    };
    if let Some(url) = &args.jwks_url {
        let keys = RemoteKeys::new(url.clone());
        let signature = args.signature.trim();
        return match keys.verify(args.key_id.as_deref(), &body, signature).await {
            Ok(()) => {
                outln!("valid: the body was signed by a key of the application's JWKS");
                ExitCode::SUCCESS
            }
            Err(RemoteError::Verify(VerifyError::UnknownKey(kid))) => {
                outln!("invalid: the JWKS at {url} has no key '{kid}'");
                ExitCode::from(1)
            }
            Err(RemoteError::Verify(_)) => invalid(),
            Err(e @ RemoteError::Fetch { .. }) => unusable(e.to_string()),
        };
    }
    let file = args.secret_file.as_ref().expect("clap requires a key");
    let pem = match std::fs::read_to_string(file) {
        Ok(p) => p,
        Err(e) => return unusable(format!("cannot read {}: {e}", file.display())),
    };
    let key = match PublicKey::from_pem(&pem) {
        Ok(k) => k,
        Err(e) => return unusable(format!("{}: {e}", file.display())),
    };
    if key.verify_base64(&body, args.signature.trim()) {
        outln!("valid: the body was signed by this application's key");
        ExitCode::SUCCESS
    } else {
        invalid()
    }
}
