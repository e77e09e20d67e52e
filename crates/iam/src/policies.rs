//! Inline user policies (Put/Get/List/DeleteUserPolicy) and the compiled
//! policies authorization reads.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;

use rampart_core::{AccountId, AwsError, Call, Outcome, OutputMembers, Resource};
use rampart_policy::{Policy, PolicyKind};
use rampart_wire::{ExceptionId, IamException};

use crate::attachments::non_whitespace_len;
use crate::errors::no_such_user;
use crate::errors::{delete_conflict, malformed, no_such_group};
use crate::listing::{page, page_output};
use crate::render::url_encode;
use crate::state::{policy_key, AccountState, InlinePolicy, State, POLICY_KIND};
use crate::{delete, put, Iam};

/// What an inline policy is embedded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OwnerKind {
    User,
    Group,
    Role,
}

impl OwnerKind {
    /// IAM's quota of all inline policies of one owner together, in characters
    /// (whitespace not counted).
    fn quota(self) -> usize {
        match self {
            OwnerKind::User => 2048,
            OwnerKind::Group => 5120,
            OwnerKind::Role => 10240,
        }
    }

    fn word(self) -> &'static str {
        match self {
            OwnerKind::User => "user",
            OwnerKind::Group => "group",
            OwnerKind::Role => "role",
        }
    }

    fn name_member(self) -> &'static str {
        match self {
            OwnerKind::User => "UserName",
            OwnerKind::Group => "GroupName",
            OwnerKind::Role => "RoleName",
        }
    }

    /// `(id, name)` of the owner called `name`.
    fn resolve(self, state: &AccountState, name: &str) -> Result<(String, String), AwsError> {
        match self {
            OwnerKind::User => {
                state.user(name).map(|u| (u.user_id.clone(), u.name.clone())).ok_or_else(|| no_such_user(name))
            }
            OwnerKind::Group => {
                state.group(name).map(|g| (g.group_id.clone(), g.name.clone())).ok_or_else(|| no_such_group(name))
            }
            OwnerKind::Role => state
                .role(name)
                .map(|r| (r.role_id.clone(), r.name.clone()))
                .ok_or_else(|| crate::errors::no_such_role(name)),
        }
    }
}

/// A service-linked role's inline policies are its service's to change.
fn require_changeable(kind: OwnerKind, a: &AccountState, owner_id: &str) -> Result<(), AwsError> {
    match a.role_by_id(owner_id) {
        Some(role) if kind == OwnerKind::Role && role.is_service_linked() => {
            Err(crate::errors::protected_role(&role.name))
        }
        _ => Ok(()),
    }
}

/// IAM refuses to delete a user, group or role that still has policies.
pub(crate) fn require_no_policies(a: &AccountState, owner_id: &str, attached: &[String]) -> Result<(), AwsError> {
    if !attached.is_empty() {
        return Err(delete_conflict("Cannot delete entity, must detach all policies first."));
    }
    if a.inline_policies.values().any(|p| p.owner_id == owner_id) {
        return Err(delete_conflict("Cannot delete entity, must delete policies first."));
    }
    Ok(())
}

/// Recompiles the policies of every user or role an owner's change affects.
pub(crate) fn recompile(state: &mut State, account: &AccountId, owner_id: &str) {
    let Some(a) = state.accounts.get(account) else { return };
    let users: Vec<String> = match a.groups.values().find(|g| g.group_id == owner_id) {
        Some(group) => group.members.clone(),
        None => vec![owner_id.to_string()],
    };
    for user_id in users {
        let compiled = compile_principal(a, &user_id);
        state.compiled.insert(user_id, compiled);
    }
}

/// A principal's policies, compiled, as authorization reads them.
#[derive(Debug, Default, Clone)]
pub struct PrincipalPolicies {
    /// `(name, policy)`: inline policies by name, managed ones by ARN.
    pub identity: Vec<(String, Policy)>,
    /// The permissions boundary, by ARN.
    pub boundary: Option<(String, Policy)>,
    /// The condition keys these policies refer to, lower-cased: all a request
    /// context needs.
    pub keys: Vec<String>,
}

/// Compiled policies per user or role id, rebuilt when their policies change.
pub(crate) type Compiled = HashMap<String, Arc<PrincipalPolicies>>;

/// Denies everything: what a stored identity policy that no longer parses
/// becomes (the grammar may have grown stricter since it was stored), since
/// dropping it could lift a Deny.
static DENY_ALL: std::sync::LazyLock<Policy> = std::sync::LazyLock::new(|| {
    let text = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;
    Policy::parse(text, PolicyKind::Identity).unwrap_or_else(|_| Policy::empty())
});

/// The identity policies and boundary of a user (with its groups'), a role or
/// a group, by its unique id.
pub(crate) fn compile_principal(state: &AccountState, principal_id: &str) -> Arc<PrincipalPolicies> {
    let compile = |name: &str, document: &str| {
        let policy = Policy::parse(document, PolicyKind::Identity).unwrap_or_else(|_| DENY_ALL.clone());
        (name.to_string(), policy)
    };
    let user = state.user_by_id(principal_id);
    let role = state.roles.values().find(|r| r.role_id == principal_id);
    let groups: Vec<&crate::state::Group> = match user {
        Some(_) => state.groups.values().filter(|g| g.members.iter().any(|m| m == principal_id)).collect(),
        None => Vec::new(),
    };
    let owners: Vec<&str> = std::iter::once(principal_id).chain(groups.iter().map(|g| g.group_id.as_str())).collect();
    let mut identity: Vec<(String, Policy)> = state
        .inline_policies
        .values()
        .filter(|p| owners.contains(&p.owner_id.as_str()))
        .map(|p| compile(&p.name, &p.document))
        .collect();
    let group = state.groups.values().find(|g| g.group_id == principal_id);
    let (own_attached, boundary) = match (user, role, group) {
        (Some(u), _, _) => (u.attached.as_slice(), u.permissions_boundary.as_deref()),
        (None, Some(r), _) => (r.attached.as_slice(), r.permissions_boundary.as_deref()),
        (None, None, Some(g)) => (g.attached.as_slice(), None),
        (None, None, None) => (&[][..], None),
    };
    for arn in own_attached.iter().chain(groups.iter().flat_map(|g| g.attached.iter())) {
        if let Some(document) = crate::attachments::document_of(state, arn) {
            identity.push(compile(arn, document));
        }
    }
    // A boundary that cannot be found or read allows nothing: fail closed.
    let boundary = boundary.map(|arn| {
        let policy =
            crate::attachments::document_of(state, arn).and_then(|d| Policy::parse(d, PolicyKind::Identity).ok());
        (arn.to_string(), policy.unwrap_or_else(Policy::empty))
    });
    let keys = rampart_policy::context_keys_of(identity.iter().chain(boundary.as_ref()).map(|(_, p)| p));
    Arc::new(PrincipalPolicies { identity, boundary, keys })
}

/// Recompiles every user and role of an account (a managed policy changed).
pub(crate) fn recompile_account(state: &mut State, account: &AccountId) {
    let Some(a) = state.accounts.get(account) else { return };
    let ids = a.users.values().map(|u| &u.user_id).chain(a.roles.values().map(|r| &r.role_id));
    let compiled: Vec<_> = ids.map(|id| (id.clone(), compile_principal(a, id))).collect();
    state.compiled.extend(compiled);
}

fn no_such_policy(kind: OwnerKind, name: &str) -> AwsError {
    IamException::NoSuchEntityException.error(format!("The {} policy with name {name} cannot be found.", kind.word()))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutPolicyInput {
    #[serde(rename = "UserName", alias = "GroupName", alias = "RoleName")]
    owner_name: String,
    policy_name: String,
    policy_document: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct OwnerPolicyInput {
    #[serde(rename = "UserName", alias = "GroupName", alias = "RoleName")]
    owner_name: String,
    policy_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListPoliciesOfInput {
    #[serde(rename = "UserName", alias = "GroupName", alias = "RoleName")]
    owner_name: String,
    marker: Option<String>,
    max_items: Option<usize>,
}

fn policy_resource(name: &str) -> Resource {
    Resource { kind: "AWS::IAM::Policy".into(), name: name.to_string() }
}

impl Iam {
    pub(crate) async fn put_inline_policy(
        &self,
        call: &Call,
        kind: OwnerKind,
        input: PutPolicyInput,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        Policy::parse(&input.policy_document, PolicyKind::Identity).map_err(|e| malformed(e.to_string()))?;
        let guard = self.lock().await;
        let policy = {
            let state = self.state.read();
            let empty = AccountState::default();
            let account_state = state.accounts.get(&account).unwrap_or(&empty);
            let (owner_id, owner_name) = kind.resolve(account_state, &input.owner_name)?;
            require_changeable(kind, account_state, &owner_id)?;
            let policy = InlinePolicy { owner_id, name: input.policy_name.clone(), document: input.policy_document };
            let others: usize = account_state
                .inline_policies
                .values()
                .filter(|p| p.owner_id == policy.owner_id && p.key() != policy.key())
                .map(|p| non_whitespace_len(&p.document))
                .sum();
            if others + non_whitespace_len(&policy.document) > kind.quota() {
                return Err(IamException::LimitExceededException.error(format!(
                    "Maximum policy size of {} bytes exceeded for {} {owner_name}",
                    kind.quota(),
                    kind.word()
                )));
            }
            policy
        };
        let writes = vec![put(POLICY_KIND, &account, &policy.key(), &policy)?];
        let resources = vec![policy_resource(&policy.name)];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            let owner_id = policy.owner_id.clone();
            state.accounts.entry(account.clone()).or_default().inline_policies.insert(policy.key(), policy);
            recompile(state, &account, &owner_id);
        });
        Ok(Outcome { output: json!({}), resources, change: Some(change) })
    }

    fn find_inline(
        &self,
        call: &Call,
        kind: OwnerKind,
        owner_name: &str,
        policy_name: &str,
    ) -> Result<(InlinePolicy, String), AwsError> {
        let state = self.state.read();
        let empty = AccountState::default();
        let account_state = state.accounts.get(call.caller.account()).unwrap_or(&empty);
        let (owner_id, owner_name) = kind.resolve(account_state, owner_name)?;
        let policy = account_state
            .inline_policies
            .get(&policy_key(&owner_id, policy_name))
            .cloned()
            .ok_or_else(|| no_such_policy(kind, policy_name))?;
        Ok((policy, owner_name))
    }

    pub(crate) fn get_inline_policy(
        &self,
        call: &Call,
        kind: OwnerKind,
        input: OwnerPolicyInput,
    ) -> Result<Outcome, AwsError> {
        let (policy, owner_name) = self.find_inline(call, kind, &input.owner_name, &input.policy_name)?;
        let mut output = json!({ "PolicyName": policy.name, "PolicyDocument": url_encode(&policy.document) });
        output.set(kind.name_member(), json!(owner_name));
        Ok(Outcome::read(output))
    }

    pub(crate) fn list_inline_policies(
        &self,
        call: &Call,
        kind: OwnerKind,
        input: ListPoliciesOfInput,
    ) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let empty = AccountState::default();
        let account_state = state.accounts.get(call.caller.account()).unwrap_or(&empty);
        let (owner_id, _) = kind.resolve(account_state, &input.owner_name)?;
        let names =
            account_state.inline_policies.iter().filter(|(_, p)| p.owner_id == owner_id).map(|(k, p)| (k, &p.name));
        let (items, next) = page(names, input.marker.as_deref(), input.max_items);
        Ok(Outcome::read(page_output("PolicyNames", items, next)))
    }

    pub(crate) async fn delete_inline_policy(
        &self,
        call: &Call,
        kind: OwnerKind,
        input: OwnerPolicyInput,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let (policy, _) = self.find_inline(call, kind, &input.owner_name, &input.policy_name)?;
        {
            let state = self.state.read();
            let empty = AccountState::default();
            require_changeable(kind, state.accounts.get(&account).unwrap_or(&empty), &policy.owner_id)?;
        }
        let writes = vec![delete(POLICY_KIND, &account, &policy.key())];
        let resources = vec![policy_resource(&policy.name)];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            if let Some(a) = state.accounts.get_mut(&account) {
                a.inline_policies.remove(&policy.key());
            }
            recompile(state, &account, &policy.owner_id);
        });
        Ok(Outcome { output: json!({}), resources, change: Some(change) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_returned_url_encoded() {
        assert_eq!(url_encode(r#"{"a": "b/c"}"#), "%7B%22a%22%3A%20%22b%2Fc%22%7D");
        assert_eq!(non_whitespace_len("{ \"a\" :\n 1 }"), 7);
    }

    #[test]
    fn a_stored_policy_that_no_longer_parses_denies_everything() {
        let mut state = AccountState::default();
        let user = crate::state::User {
            user_id: "AIDA1".into(),
            name: "bob".into(),
            path: "/".into(),
            create_date: 0.0,
            tags: Vec::new(),
            permissions_boundary: None,
            attached: Vec::new(),
        };
        state.users.insert("bob".into(), user);
        for (name, document) in [
            ("ok", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#),
            ("stale", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3*:Get","Resource":"*"}]}"#),
        ] {
            let policy = InlinePolicy { owner_id: "AIDA1".into(), name: name.into(), document: document.into() };
            state.inline_policies.insert(policy.key(), policy);
        }
        let compiled = compile_principal(&state, "AIDA1");
        assert_eq!(compiled.identity.len(), 2, "no policy is dropped");
        let stale = compiled.identity.iter().find(|(name, _)| name == "stale").map(|(_, p)| p);
        assert_eq!(stale, Some(&*DENY_ALL));
    }
}
