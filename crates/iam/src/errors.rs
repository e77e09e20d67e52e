//! IAM's errors that more than one handler module answers, with AWS's
//! messages. Codes and statuses come from the model (`IamException`).

use rampart_core::{AwsError, ServiceId, WrapError};
use rampart_wire::{CommonError, ExceptionId, IamException};

pub(crate) fn no_such_user(name: &str) -> AwsError {
    IamException::NoSuchEntityException.error(format!("The user with name {name} cannot be found."))
}

/// IAM's own 500: something on Rampart's side failed, and nothing is stored.
pub(crate) fn service_failure() -> AwsError {
    IamException::ServiceFailureException.error("The request processing has failed because of an internal error.")
}

/// The key wrapper could not seal a new secret (an HSM that is down).
pub(crate) fn sealing_failed(error: WrapError) -> AwsError {
    tracing::error!(%error, "a secret could not be sealed");
    service_failure()
}

/// Input IAM does not accept (its `ValidationError`).
pub(crate) fn validation_error(message: impl Into<String>) -> AwsError {
    CommonError::Validation.error(ServiceId::Iam, message)
}

/// Operations on "the calling user" need a user name when a role session calls.
pub(crate) fn user_name_required() -> AwsError {
    CommonError::Validation.error(ServiceId::Iam, "Must specify userName when calling with non-User credentials")
}

pub(crate) fn no_such_group(name: &str) -> AwsError {
    IamException::NoSuchEntityException.error(format!("The group with name {name} cannot be found."))
}

pub(crate) fn delete_conflict(message: &str) -> AwsError {
    IamException::DeleteConflictException.error(message.to_string())
}

pub(crate) fn malformed(message: String) -> AwsError {
    IamException::MalformedPolicyDocumentException.error(message)
}

pub(crate) fn no_such_role(name: &str) -> AwsError {
    IamException::NoSuchEntityException.error(format!("The role with name {name} cannot be found."))
}

pub(crate) fn not_attachable(arn: &str) -> AwsError {
    IamException::NoSuchEntityException.error(format!("Policy {arn} does not exist or is not attachable."))
}

pub(crate) fn no_such_instance_profile(name: &str) -> AwsError {
    IamException::NoSuchEntityException.error(format!("Instance Profile {name} cannot be found."))
}

/// A change to a service-linked role, which only its service may make.
pub(crate) fn protected_role(name: &str) -> AwsError {
    IamException::UnmodifiableEntityException.error(format!(
        "Cannot perform the operation on the protected role '{name}' - this role is only modifiable by AWS"
    ))
}
