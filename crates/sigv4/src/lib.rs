//! AWS Signature Version 4: parsing what a client sent, rebuilding the canonical
//! request, deriving signing keys and verifying signatures.
//!
//! Pure: no I/O, no clock, no async. The caller supplies the current time and
//! looks up the secret for an access key; this crate only computes.

mod canonical;
mod encoding;
mod parse;
mod signing;

pub use canonical::{canonical_request, string_to_sign, CanonicalRequest};
pub use encoding::{uri_encode, uri_encode_path};
pub use parse::{parse_authorization_header, parse_presigned_query, AuthParams, CredentialScope};
pub use signing::{sha256_hex, sign, signing_key, verify_signature, SigningKey};

/// The only signing algorithm AWS SigV4 defines for HMAC.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash clients may send when they do not sign the body.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// Longest validity of a presigned URL: seven days.
pub const MAX_PRESIGNED_EXPIRES_SECS: i64 = 7 * 24 * 3600;

/// A borrowed view of an HTTP request, enough to rebuild its canonical form.
/// No hyper or http types: the server adapts its request to this.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    pub method: &'a str,
    /// The path exactly as it appeared on the request line (still percent-encoded).
    pub path: &'a str,
    /// The raw query string, without the leading `?`.
    pub query: &'a str,
    /// Header names and values in the order received; names in any case.
    pub headers: &'a [(&'a str, &'a str)],
}

/// Everything that can be wrong with a SigV4 request, before or after the secret is known.
/// The server maps each to the error code and status of the service that was called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// No Authorization header and no presigned query parameters.
    #[error("request is missing authentication token")]
    Missing,
    /// The Authorization header or presigned parameters are malformed; the
    /// message is the one AWS returns (IncompleteSignature).
    #[error("{0}")]
    Incomplete(String),
    /// An algorithm other than AWS4-HMAC-SHA256.
    #[error("unsupported algorithm `{0}`")]
    UnsupportedAlgorithm(String),
    /// The date could not be parsed or disagrees with the credential scope.
    #[error("{0}")]
    BadDate(String),
    /// The presigned URL asked for more than seven days of validity.
    #[error("X-Amz-Expires must be less than a week (in seconds) that is 604800")]
    ExpiresTooLong,
    /// The request time is too far in the past.
    #[error("Signature expired: {request} is now earlier than {earliest} ({now} - {window_minutes} min.)")]
    TooOld { request: String, earliest: String, now: String, window_minutes: i64 },
    /// The request time is too far in the future.
    #[error("Signature not yet current: {request} is still later than {latest} ({now} + {window_minutes} min.)")]
    TooNew { request: String, latest: String, now: String, window_minutes: i64 },
    /// A header listed in SignedHeaders is absent, or `host` is not signed.
    #[error("{0}")]
    HeaderNotSigned(String),
    /// The payload hash header disagrees with the body.
    #[error("the provided x-amz-content-sha256 header does not match what was computed")]
    PayloadHashMismatch,
    /// The signature is well formed but wrong.
    #[error("signature does not match")]
    Mismatch,
}
