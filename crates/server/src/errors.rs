//! The AWS error each refusal becomes, per service family. One table, so every
//! stage answers the same way for the same service.

use rampart_core::{AwsError, ServiceId};
use rampart_wire::Protocol;

/// The error vocabularies AWS services speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// IAM, STS and CloudWatch (query-compatible even over JSON or CBOR).
    Query,
    /// KMS, CloudTrail, Config, Logs.
    Json,
    Ec2,
}

pub(crate) fn family(service: ServiceId, protocol: Protocol) -> Family {
    match (service, protocol) {
        (ServiceId::Ec2, _) => Family::Ec2,
        (ServiceId::Monitoring, _) | (_, Protocol::Query) => Family::Query,
        _ => Family::Json,
    }
}

/// Why authentication refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    Missing,
    Incomplete(String),
    UnknownKey,
    /// A wrong signature, a wrong scope, or a payload hash that does not match.
    Signature(String),
    /// Outside the clock-skew window or past a presigned URL's expiry.
    Expired(String),
    /// Temporary credentials past their expiration.
    ExpiredToken,
}

pub(crate) const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you \
     provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const INVALID_TOKEN: &str = "The security token included in the request is invalid.";
const EXPIRED_TOKEN: &str = "The security token included in the request is expired";

pub(crate) fn auth_error(family: Family, failure: &AuthFailure) -> AwsError {
    use AuthFailure::*;
    match (family, failure) {
        (Family::Query, Missing) => {
            AwsError::new("MissingAuthenticationToken", 403, "Request is missing Authentication Token")
        }
        (Family::Query, Incomplete(m)) => AwsError::new("IncompleteSignature", 400, m.clone()),
        (Family::Query, UnknownKey) => AwsError::new("InvalidClientTokenId", 403, INVALID_TOKEN),
        (Family::Query, Signature(m) | Expired(m)) => AwsError::new("SignatureDoesNotMatch", 403, m.clone()),
        (Family::Query, ExpiredToken) => AwsError::new("ExpiredToken", 403, EXPIRED_TOKEN),
        (Family::Json, Missing) => {
            AwsError::new("MissingAuthenticationTokenException", 403, "Missing Authentication Token")
        }
        (Family::Json, Incomplete(m)) => AwsError::new("IncompleteSignatureException", 400, m.clone()),
        (Family::Json, UnknownKey) => AwsError::new("UnrecognizedClientException", 400, INVALID_TOKEN),
        (Family::Json, Signature(m) | Expired(m)) => AwsError::new("InvalidSignatureException", 400, m.clone()),
        (Family::Json, ExpiredToken) => AwsError::new("ExpiredTokenException", 400, EXPIRED_TOKEN),
        (Family::Ec2, Missing) => {
            AwsError::new("MissingAuthenticationToken", 401, "Request is missing Authentication Token")
        }
        (Family::Ec2, Incomplete(m)) => AwsError::new("IncompleteSignature", 400, m.clone()),
        (Family::Ec2, UnknownKey | Signature(_)) => {
            AwsError::new("AuthFailure", 401, "AWS was not able to validate the provided access credentials")
        }
        (Family::Ec2, Expired(_) | ExpiredToken) => AwsError::new("RequestExpired", 400, "Request has expired."),
    }
}

/// The refusal of an action the caller's policies do not allow.
pub(crate) fn access_denied(family: Family, message: String) -> AwsError {
    match family {
        Family::Query => AwsError::new("AccessDenied", 403, message),
        Family::Json => AwsError::new("AccessDeniedException", 400, message),
        Family::Ec2 => AwsError::new(
            "UnauthorizedOperation",
            403,
            format!("You are not authorized to perform this operation. {message}"),
        ),
    }
}

/// Input that breaks the model's constraints.
pub(crate) fn validation(family: Family, message: String) -> AwsError {
    match family {
        Family::Query => AwsError::new("ValidationError", 400, message),
        Family::Json => AwsError::new("ValidationException", 400, message),
        Family::Ec2 => AwsError::new("InvalidParameterValue", 400, message),
    }
}

/// An operation of the model that Rampart does not serve yet.
pub(crate) fn not_implemented(family: Family, service: ServiceId, operation: &str) -> AwsError {
    let message = format!("Rampart does not implement {}:{operation} yet.", service.action_prefix());
    match family {
        Family::Query | Family::Ec2 => AwsError::new("InvalidAction", 400, message),
        Family::Json => AwsError::new("UnknownOperationException", 400, message),
    }
}

/// The body is larger than any operation accepts.
pub(crate) fn too_large(limit: usize) -> AwsError {
    AwsError::new("RequestEntityTooLarge", 413, format!("Request body is larger than {limit} bytes."))
}

/// The node is too busy to take the request now (clients retry it).
pub(crate) fn unavailable(family: Family) -> AwsError {
    let message = "The service is busy; retry the request.";
    match family {
        Family::Query => AwsError::new("ServiceUnavailable", 503, message),
        Family::Json => AwsError::new("ServiceUnavailableException", 503, message),
        Family::Ec2 => AwsError::new("Unavailable", 503, message),
    }
}

/// The body did not arrive within the read timeout.
pub(crate) fn request_timeout() -> AwsError {
    AwsError::new(
        "RequestTimeout",
        400,
        "Your socket connection to the server was not read from or written to within the timeout period.",
    )
}

/// Clock-skew window: 15 minutes for the older query services, 5 for the rest.
pub(crate) fn skew_window_minutes(service: ServiceId) -> i64 {
    match service {
        ServiceId::Iam | ServiceId::Sts | ServiceId::Ec2 => 15,
        _ => 5,
    }
}
