//! The one error type every layer answers with: an AWS error code, message and status.

use crate::ServiceId;

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

    /// Malformed bodies of JSON and CBOR services (CBOR's too: botocore reads the
    /// same code).
    pub fn serialization(message: impl Into<String>) -> AwsError {
        AwsError::new("SerializationException", 400, message)
    }
}

/// The errors every service can answer that no model lists as an exception
/// (AWS's "common errors"), spelled as the service's protocol family spells
/// them: the query services (IAM, STS, CloudWatch) `ValidationError`, EC2
/// `InvalidParameterValue`, the JSON services `ValidationException`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommonError {
    /// Input that the model or the service does not accept.
    Validation,
    /// Refused by policy.
    AccessDenied,
    /// The service failed (a store or key wrapper that does not answer).
    InternalFailure,
}

impl CommonError {
    pub fn error(self, service: ServiceId, message: impl Into<String>) -> AwsError {
        let query = matches!(service, ServiceId::Iam | ServiceId::Sts | ServiceId::Monitoring);
        let (code, status) = match (self, service) {
            (CommonError::Validation, ServiceId::Ec2) => ("InvalidParameterValue", 400),
            (CommonError::Validation, _) if query => ("ValidationError", 400),
            (CommonError::Validation, _) => ("ValidationException", 400),
            (CommonError::AccessDenied, ServiceId::Ec2) => ("UnauthorizedOperation", 403),
            (CommonError::AccessDenied, _) if query => ("AccessDenied", 403),
            (CommonError::AccessDenied, _) => ("AccessDeniedException", 400),
            (CommonError::InternalFailure, ServiceId::Ec2) => ("InternalError", 500),
            (CommonError::InternalFailure, _) if query => ("InternalFailure", 500),
            (CommonError::InternalFailure, _) => ("InternalFailureException", 500),
        };
        AwsError::new(code, status, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_errors_follow_the_protocol_family() {
        let code = |e: CommonError, s| e.error(s, "m").code;
        assert_eq!(code(CommonError::Validation, ServiceId::Iam), "ValidationError");
        assert_eq!(code(CommonError::Validation, ServiceId::Kms), "ValidationException");
        assert_eq!(code(CommonError::Validation, ServiceId::Ec2), "InvalidParameterValue");
        assert_eq!(CommonError::AccessDenied.error(ServiceId::Sts, "m").status, 403);
        assert_eq!(CommonError::InternalFailure.error(ServiceId::CloudTrail, "m").status, 500);
    }
}
