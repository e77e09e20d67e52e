//! IAM's tag rules (`rampart_core::tags::IAM_TAG_RULES`) as its handlers
//! apply them: a request's tags, checked and stored, and IAM's errors.

use serde::Deserialize;

use rampart_core::tags::{TagProblem, IAM_TAG_RULES};
use rampart_core::AwsError;
use rampart_wire::{ExceptionId, IamException};

use crate::state::Tag;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TagInput {
    pub key: String,
    pub value: String,
}

/// IAM's error for a `TagProblem`.
pub(crate) fn tag_error(problem: TagProblem) -> AwsError {
    match problem {
        TagProblem::DuplicateKey(_) | TagProblem::Reserved(_) => IamException::InvalidInputException
            .error("Duplicate tag keys found. Please note that Tag keys are case insensitive."),
        TagProblem::TooMany(quota) => {
            IamException::LimitExceededException.error(format!("Cannot exceed quota for TagsPerResource: {quota}"))
        }
    }
}

pub(crate) fn pairs(tags: &[Tag]) -> Vec<(String, String)> {
    tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect()
}

pub(crate) fn records(pairs: Vec<(String, String)>) -> Vec<Tag> {
    pairs.into_iter().map(|(key, value)| Tag { key, value }).collect()
}

/// The tags of a create request, as stored (IAM's rules, `IAM_TAG_RULES`:
/// no key twice, ignoring case).
pub(crate) fn new_tags(input: Vec<TagInput>) -> Result<Vec<Tag>, AwsError> {
    let requested: Vec<(String, String)> = input.into_iter().map(|t| (t.key, t.value)).collect();
    IAM_TAG_RULES.check_request(&requested).map_err(tag_error)?;
    Ok(records(requested))
}
