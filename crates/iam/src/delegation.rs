//! Temporary delegation: a partner asks for temporary access to a customer's
//! account (CreateDelegationRequest), the customer accepts or rejects it, and
//! SendDelegationToken sends the partner a trade-in token for STS's
//! GetDelegatedAccessToken. Only partners that AWS has onboarded may create
//! requests, and a standalone node has none: no delegation request ever
//! exists here, so these operations answer as AWS answers an account that no
//! partner has asked (the customer's reads and decisions name no request,
//! the listing is empty) and refuse a caller that is not an onboarded partner.

use serde::Deserialize;
use serde_json::json;

use rampart_core::{AwsError, Call, Outcome, ServiceId};
use rampart_wire::{CommonError, ExceptionId, IamException};

use crate::Iam;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DelegationRequestInput {
    delegation_request_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SummaryInput {
    entity_arn: String,
}

fn no_such_request(id: &str) -> AwsError {
    IamException::NoSuchEntityException.error(format!("The delegation request with id {id} cannot be found."))
}

impl Iam {
    pub(crate) fn create_delegation_request(&self, _: &Call, _: crate::NoInput) -> Result<Outcome, AwsError> {
        Err(CommonError::AccessDenied.error(
            ServiceId::Iam,
            "Only partners onboarded to temporary delegation may create delegation requests, and this node has none.",
        ))
    }

    /// Get, Accept, Associate, Reject, Send and Update: the request named.
    pub(crate) fn delegation_request(&self, _: &Call, input: DelegationRequestInput) -> Result<Outcome, AwsError> {
        Err(no_such_request(&input.delegation_request_id))
    }

    pub(crate) fn list_delegation_requests(&self, _: &Call, _: crate::NoInput) -> Result<Outcome, AwsError> {
        Ok(Outcome::read(json!({ "DelegationRequests": [], "isTruncated": false })))
    }

    /// A summary of a delegation request, the only entity AWS summarizes.
    pub(crate) fn human_readable_summary(&self, _: &Call, input: SummaryInput) -> Result<Outcome, AwsError> {
        let id = rampart_core::Arn::parse(&input.entity_arn)
            .filter(|arn| arn.service == "iam")
            .and_then(|arn| arn.resource.strip_prefix("delegation-request/").map(str::to_string));
        match id {
            Some(id) => Err(no_such_request(&id)),
            None => Err(IamException::InvalidInputException
                .error("At this time, the only supported entity type is delegation-request.")),
        }
    }
}
