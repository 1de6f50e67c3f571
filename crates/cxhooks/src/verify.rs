//! `cxhooks verify`: one payload, one signature, one application secret.

use base64::Engine as _;
use clap::Args;
use cxhooks_signing::PublicKey;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The application's `secret` (PEM public key; the JSON-escaped form with `\n` works too).
    #[arg(long, value_name = "PEM")]
    secret_file: PathBuf,
    /// The `Cx-Signature` header value (base64).
    #[arg(long, value_name = "B64")]
    signature: String,
    /// The raw request body, byte for byte.
    #[arg(long, value_name = "BODY")]
    body_file: PathBuf,
}

/// Exit 0: valid; 1: invalid; 2: the input cannot be used (unreadable file, not a public key,
/// signature not base64).
pub fn run(args: &VerifyArgs) -> ExitCode {
    let unusable = |msg: String| {
        eprintln!("error: {msg}");
        ExitCode::from(2)
    };
    let pem = match std::fs::read_to_string(&args.secret_file) {
        Ok(p) => p,
        Err(e) => return unusable(format!("cannot read {}: {e}", args.secret_file.display())),
    };
    let key = match PublicKey::from_pem(&pem) {
        Ok(k) => k,
        Err(e) => return unusable(format!("{}: {e}", args.secret_file.display())),
    };
    let body = match std::fs::read(&args.body_file) {
        Ok(b) => b,
        Err(e) => return unusable(format!("cannot read {}: {e}", args.body_file.display())),
    };
    let signature = match base64::engine::general_purpose::STANDARD.decode(args.signature.trim()) {
        Ok(s) => s,
        Err(e) => return unusable(format!("the signature is not standard base64: {e}")),
    };
    if key.verify(&body, &signature) {
        outln!("valid: the body was signed by this application's key");
        ExitCode::SUCCESS
    } else {
        outln!("invalid: the signature does not match this body and secret");
        ExitCode::from(1)
    }
}
