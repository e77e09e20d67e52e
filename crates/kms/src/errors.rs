//! KMS's errors, with AWS's wording.

use rampart_wire::{AwsError, CommonError, ExceptionId, KmsException as E, ServiceId};

use crate::state::{Key, KeyState};

pub(crate) fn key_not_found(arn: &str) -> AwsError {
    E::NotFoundException.error(format!("Key '{arn}' does not exist"))
}

pub(crate) fn alias_not_found(alias_arn: &str) -> AwsError {
    E::NotFoundException.error(format!("Alias {alias_arn} is not found."))
}

pub(crate) fn invalid_key_id(text: &str) -> AwsError {
    E::NotFoundException.error(format!("Invalid keyId '{text}'"))
}

pub(crate) fn validation(message: impl Into<String>) -> AwsError {
    CommonError::Validation.error(ServiceId::Kms, message)
}

pub(crate) fn failure() -> AwsError {
    E::KMSInternalException.error("The request could not be completed because of an internal error.")
}

/// The error of a key that is not in a state the operation accepts.
pub(crate) fn state_error(key: &Key) -> AwsError {
    let arn = key.arn();
    match key.state() {
        KeyState::Disabled => E::DisabledException.error(format!("{arn} is disabled.")),
        KeyState::PendingDeletion => E::KMSInvalidStateException.error(format!("{arn} is pending deletion.")),
        KeyState::PendingReplicaDeletion => {
            E::KMSInvalidStateException.error(format!("{arn} is pending replica deletion."))
        }
        KeyState::PendingImport => E::KMSInvalidStateException.error(format!("{arn} is pending import.")),
        KeyState::Unavailable => E::KMSInvalidStateException.error(format!("{arn} is unavailable.")),
        KeyState::Enabled => E::KMSInvalidStateException.error(format!("{arn} is enabled.")),
    }
}

/// An operation for keys of another origin (rotation of imported
/// material, import into a KMS-made key).
pub(crate) fn wrong_origin(key: &Key) -> AwsError {
    unsupported(format!("{} origin is {} which is not valid for this operation.", key.arn(), key.record.origin))
}

pub(crate) fn wrong_usage(key: &Key, operation: &str) -> AwsError {
    E::InvalidKeyUsageException.error(format!(
        "{} key usage is {} which is not valid for {operation}.",
        key.arn(),
        key.usage.name()
    ))
}

pub(crate) fn unsupported_algorithm(key: &Key, algorithm: &str) -> AwsError {
    E::InvalidKeyUsageException
        .error(format!("Algorithm {algorithm} is incompatible with key spec {}.", key.spec.name()))
}

pub(crate) fn invalid_ciphertext() -> AwsError {
    E::InvalidCiphertextException.error("")
}

pub(crate) fn limit(message: impl Into<String>) -> AwsError {
    E::LimitExceededException.error(message)
}

pub(crate) fn malformed_policy(message: impl Into<String>) -> AwsError {
    E::MalformedPolicyDocumentException.error(message)
}

pub(crate) fn tag_error(message: impl Into<String>) -> AwsError {
    E::TagException.error(message)
}

pub(crate) fn unsupported(message: impl Into<String>) -> AwsError {
    E::UnsupportedOperationException.error(message)
}

/// `DryRun`: the call would have succeeded; nothing is done.
pub(crate) fn dry_run(dry: Option<bool>) -> Result<(), AwsError> {
    match dry {
        Some(true) => {
            Err(E::DryRunOperationException.error("The request would have succeeded, but the DryRun option is set."))
        }
        _ => Ok(()),
    }
}

/// A new 256-bit identifier in hex: a version's `KeyMaterialId`, a grant id.
pub(crate) fn random_id() -> Result<String, AwsError> {
    Ok(hex::encode(&crate::crypto::random_bytes(32).map_err(|_| failure())?[..]))
}
