//! Trust policies follow the principals they name: when a user or role is
//! deleted, renamed or moved, the trust policies that name it are rewritten in
//! the same commit (users' and roles' handlers both do it).

use serde_json::Value;

use rampart_core::{AccountId, AwsError};

use crate::put;
use crate::state::{Role, State, ROLE_KIND};

/// The roles (in any account on this node) whose trust policies name
/// `principal_arn`, with that principal replaced by `replacement`: its unique
/// id when a user or role is deleted, so that a namesake created later is not
/// trusted; its new ARN when a user is renamed or moved, so that the trust
/// follows it. `skip` is the role being deleted itself, if any.
pub(crate) fn forget_trusted_principal(
    state: &State,
    principal_arn: &str,
    replacement: &str,
    skip: Option<&str>,
) -> Vec<(AccountId, Role)> {
    let mut out = Vec::new();
    for (account, a) in &state.accounts {
        for role in a.roles.values().filter(|r| Some(r.role_id.as_str()) != skip) {
            let Ok(mut document) = serde_json::from_str::<Value>(&role.trust_policy) else { continue };
            if rampart_policy::replace_aws_principal(&mut document, principal_arn, replacement) {
                let mut role = role.clone();
                role.trust_policy = document.to_string();
                out.push((account.clone(), role));
            }
        }
    }
    out
}

/// The store writes of roles whose trust policies were rewritten.
pub(crate) fn trust_rewrite_writes(
    rewrites: &[(AccountId, Role)],
) -> Result<Vec<rampart_store::RecordWrite>, AwsError> {
    rewrites.iter().map(|(account, role)| put(ROLE_KIND, account, &role.role_id, role)).collect()
}

/// Puts roles whose trust policies were rewritten into memory.
pub(crate) fn apply_trust_rewrites(state: &mut State, rewrites: Vec<(AccountId, Role)>) {
    for (account, role) in rewrites {
        state.accounts.entry(account).or_default().roles.insert(role.name.to_lowercase(), role);
    }
}
