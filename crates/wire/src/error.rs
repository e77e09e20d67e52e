//! The one error type every layer answers with: an AWS error code, message and status.

/// An error as the client will see it. Each protocol encodes it its own way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} ({status}): {message}")]
pub struct AwsError {
    pub code: String,
    pub message: String,
    pub status: u16,
    /// `Sender` (client fault) or `Receiver` in the query protocol's `<Type>`.
    pub sender_fault: bool,
}

impl AwsError {
    pub fn new(code: impl Into<String>, status: u16, message: impl Into<String>) -> AwsError {
        AwsError { code: code.into(), message: message.into(), status, sender_fault: status < 500 }
    }

    /// Malformed bodies of JSON and CBOR services.
    pub fn serialization(message: impl Into<String>) -> AwsError {
        AwsError::new("SerializationException", 400, message)
    }
}
