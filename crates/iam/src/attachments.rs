//! The rules of managed policies that several handler modules apply:
//! attaching and detaching (with the per-entity quotas), the size quota, which
//! ARNs can be attached, and how many entities use a policy.

use serde_json::{json, Value};

use rampart_core::AwsError;
use rampart_wire::{ExceptionId, IamException};

use crate::aws_managed::aws_managed_policy;
use crate::errors::not_attachable;
use crate::listing::{page, page_output};
use crate::state::{AccountState, ManagedPolicy};

/// IAM's quotas: characters of a managed policy (whitespace not counted) and
/// managed policies attached to one user.
pub(crate) const MANAGED_POLICY_CHARS: usize = 6144;

/// The document of a policy ARN the account may attach: its own, or AWS's.
pub(crate) fn document_of<'a>(account_state: &'a AccountState, arn: &str) -> Option<&'a str> {
    if let Some(p) = aws_managed_policy(arn) {
        return Some(p.document());
    }
    account_state.managed.get(arn).map(ManagedPolicy::document)
}

/// A page of `AttachedPolicies` (users' and groups' alike).
pub(crate) fn attached_page(
    attached: &[String],
    prefix: &Option<String>,
    marker: &Option<String>,
    max: Option<usize>,
) -> Value {
    let prefix = prefix.as_deref().unwrap_or("/");
    let mut items: Vec<(String, Value)> = attached
        .iter()
        .filter(|arn| arn.rsplit_once(":policy").is_some_and(|(_, p)| p.starts_with(prefix)))
        .map(|arn| {
            let name = arn.rsplit('/').next().unwrap_or_default();
            (arn.clone(), json!({"PolicyName": name, "PolicyArn": arn}))
        })
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let (items, next) = page(items.iter().map(|(k, v)| (k, v.clone())), marker.as_deref(), max);
    page_output("AttachedPolicies", items, next)
}

pub(crate) fn check_managed_size(document: &str) -> Result<(), AwsError> {
    if non_whitespace_len(document) > MANAGED_POLICY_CHARS {
        return Err(IamException::LimitExceededException
            .error(format!("Cannot exceed quota for PolicySize: {MANAGED_POLICY_CHARS}")));
    }
    Ok(())
}

/// Fails unless `arn` names a policy the account may attach.
pub(crate) fn require_attachable(account_state: &AccountState, arn: &str) -> Result<(), AwsError> {
    match document_of(account_state, arn) {
        Some(_) => Ok(()),
        None => Err(not_attachable(arn)),
    }
}

/// Adds `arn` to a principal's attached policies, within the `quota` named
/// `quota_name` (PoliciesPerUser, PoliciesPerGroup, PoliciesPerRole).
pub(crate) fn attach(
    account_state: &AccountState,
    attached: &mut Vec<String>,
    arn: &str,
    quota: usize,
    quota_name: &str,
) -> Result<(), AwsError> {
    require_attachable(account_state, arn)?;
    if attached.iter().any(|a| a == arn) {
        return Ok(());
    }
    if attached.len() >= quota {
        return Err(
            IamException::LimitExceededException.error(format!("Cannot exceed quota for {quota_name}: {quota}"))
        );
    }
    attached.push(arn.to_string());
    Ok(())
}

/// Removes `arn` from a principal's attached policies.
pub(crate) fn detach(attached: &mut Vec<String>, arn: &str) -> Result<(), AwsError> {
    let before = attached.len();
    attached.retain(|a| a != arn);
    if attached.len() == before {
        return Err(IamException::NoSuchEntityException.error(format!("Policy {arn} was not found.")));
    }
    Ok(())
}

pub(crate) fn non_whitespace_len(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

/// How many users and groups use `arn`, as an attached policy, and how many
/// users have it as their boundary.
pub(crate) fn usage(account_state: &AccountState, arn: &str) -> (usize, usize) {
    let attached = account_state.users.values().filter(|u| u.attached.iter().any(|a| a == arn)).count()
        + account_state.groups.values().filter(|g| g.attached.iter().any(|a| a == arn)).count()
        + account_state.roles.values().filter(|r| r.attached.iter().any(|a| a == arn)).count();
    let boundary = account_state.users.values().filter(|u| u.permissions_boundary.as_deref() == Some(arn)).count()
        + account_state.roles.values().filter(|r| r.permissions_boundary.as_deref() == Some(arn)).count();
    (attached, boundary)
}

/// `usage` of every policy that is attached or a boundary somewhere, by ARN.
pub(crate) fn usage_by_arn(account_state: &AccountState) -> std::collections::HashMap<&str, (usize, usize)> {
    let mut usage: std::collections::HashMap<&str, (usize, usize)> = std::collections::HashMap::new();
    let attached = account_state.users.values().flat_map(|u| &u.attached);
    let attached = attached.chain(account_state.groups.values().flat_map(|g| &g.attached));
    for arn in attached.chain(account_state.roles.values().flat_map(|r| &r.attached)) {
        usage.entry(arn.as_str()).or_default().0 += 1;
    }
    let users = account_state.users.values().filter_map(|u| u.permissions_boundary.as_deref());
    for arn in users.chain(account_state.roles.values().filter_map(|r| r.permissions_boundary.as_deref())) {
        usage.entry(arn).or_default().1 += 1;
    }
    usage
}
