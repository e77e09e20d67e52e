//! Key derivation and HMAC signatures.

use aws_lc_rs::{digest, hmac};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{CredentialScope, SigV4Error};

/// A derived `kSigning` key. It is as sensitive as the secret for its scope.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SigningKey([u8; 32]);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(**redacted**)")
    }
}

impl SigningKey {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data);
    // An HMAC-SHA256 tag is always 32 bytes.
    <[u8; 32]>::try_from(tag.as_ref()).unwrap_or([0; 32])
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
pub fn signing_key(secret: &[u8], scope: &CredentialScope) -> SigningKey {
    let mut k_secret = Vec::with_capacity(secret.len() + 4);
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret);
    let k_date = hmac(&k_secret, scope.date.as_bytes());
    k_secret.zeroize();
    let k_region = hmac(&k_date, scope.region.as_bytes());
    let k_service = hmac(&k_region, scope.service.as_bytes());
    SigningKey(hmac(&k_service, b"aws4_request"))
}

/// Lower-case hex of a 32-byte digest. `hex::encode_to_slice` is several
/// times faster than `hex::encode`'s character iterator, and this runs three
/// times per request.
pub(crate) fn hex32(digest: &[u8]) -> String {
    let mut out = [0u8; 64];
    match hex::encode_to_slice(digest, &mut out).map(|()| std::str::from_utf8(&out)) {
        Ok(Ok(text)) => text.to_string(),
        _ => hex::encode(digest),
    }
}

/// Lower-case hex SHA-256 of `bytes` (a payload hash).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex32(digest::digest(&digest::SHA256, bytes).as_ref())
}

/// Lower-case hex signature of a string to sign.
pub fn sign(key: &SigningKey, string_to_sign: &str) -> String {
    hex32(&hmac(&key.0, string_to_sign.as_bytes()))
}

/// Compares the expected signature with the provided one in constant time.
pub fn verify_signature(key: &SigningKey, string_to_sign: &str, provided_hex: &str) -> Result<(), SigV4Error> {
    let expected = sign(key, string_to_sign);
    let provided = provided_hex.to_ascii_lowercase();
    if expected.len() == provided.len() && bool::from(expected.as_bytes().ct_eq(provided.as_bytes())) {
        Ok(())
    } else {
        Err(SigV4Error::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of AWS's "Examples of how to derive a signing key for Signature Version 4".
    #[test]
    fn derives_the_documented_signing_key() {
        let scope = CredentialScope { date: "20150830".into(), region: "us-east-1".into(), service: "iam".into() };
        let key = signing_key(b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", &scope);
        assert_eq!(hex::encode(key.as_bytes()), "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let scope = CredentialScope { date: "20150830".into(), region: "r".into(), service: "s".into() };
        let key = signing_key(b"secret", &scope);
        assert_eq!(format!("{key:?}"), "SigningKey(**redacted**)");
    }
}
