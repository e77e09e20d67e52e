//! Inline user policies (Put/Get/List/DeleteUserPolicy) and the compiled
//! policies authorization reads.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use rampart_core::{AwsError, Call, Outcome, Resource};
use rampart_policy::{Policy, PolicyKind};

use crate::state::{State, POLICY_KIND};
use crate::users::page;
use crate::{delete, model_error, no_such_user, put, Iam};

/// IAM's quota: all inline policies of one user together, in characters
/// (whitespace not counted).
const USER_INLINE_POLICY_CHARS: usize = 2048;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct InlinePolicy {
    pub user_id: String,
    pub name: String,
    pub document: String,
}

impl InlinePolicy {
    pub fn key(&self) -> String {
        format!("{}/{}", self.user_id, self.name.to_lowercase())
    }
}

/// A principal's policies, compiled, as authorization reads them.
#[derive(Debug, Default, Clone)]
pub struct PrincipalPolicies {
    /// `(name, policy)`: inline policies by name, managed ones by ARN.
    pub identity: Vec<(String, Policy)>,
    /// The permissions boundary, by ARN.
    pub boundary: Option<(String, Policy)>,
}

/// Compiled policies per user id, rebuilt when a user's policies change.
pub(crate) type Compiled = HashMap<String, Arc<PrincipalPolicies>>;

pub(crate) fn compile_user(state: &crate::state::AccountState, user_id: &str) -> Arc<PrincipalPolicies> {
    let compile =
        |name: &str, document: &str| Policy::parse(document, PolicyKind::Identity).ok().map(|p| (name.to_string(), p));
    let mut identity: Vec<(String, Policy)> = state
        .inline_policies
        .values()
        .filter(|p| p.user_id == user_id)
        .filter_map(|p| compile(&p.name, &p.document))
        .collect();
    let user = state.user_by_id(user_id);
    for arn in user.map(|u| u.attached.as_slice()).unwrap_or_default() {
        if let Some(compiled) = crate::managed::document_of(state, arn).and_then(|d| compile(arn, d)) {
            identity.push(compiled);
        }
    }
    let boundary = user.and_then(|u| u.permissions_boundary.as_deref()).map(|arn| {
        match crate::managed::document_of(state, arn).and_then(|d| compile(arn, d)) {
            Some(compiled) => compiled,
            // A boundary that cannot be read allows nothing: fail closed.
            None => (arn.to_string(), Policy { version: rampart_policy::Version::V2012, statements: Vec::new() }),
        }
    });
    Arc::new(PrincipalPolicies { identity, boundary })
}

fn non_whitespace_len(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

/// RFC 3986 percent-encoding: IAM returns policy documents URL-encoded, and
/// the SDKs decode them. Written here because it is one small loop.
pub(crate) fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn malformed(message: String) -> AwsError {
    model_error("MalformedPolicyDocumentException", message)
}

fn no_such_policy(name: &str) -> AwsError {
    model_error("NoSuchEntityException", format!("The user policy with name {name} cannot be found."))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutUserPolicyInput {
    user_name: String,
    policy_name: String,
    policy_document: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UserPolicyInput {
    user_name: String,
    policy_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListUserPoliciesInput {
    user_name: String,
    marker: Option<String>,
    max_items: Option<usize>,
}

fn policy_resource(name: &str) -> Resource {
    Resource { kind: "AWS::IAM::Policy".into(), name: name.to_string() }
}

impl Iam {
    pub(crate) async fn put_user_policy(&self, call: &Call, input: PutUserPolicyInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        Policy::parse(&input.policy_document, PolicyKind::Identity).map_err(|e| malformed(e.to_string()))?;
        let guard = self.lock().await;
        let policy = {
            let state = self.state.read();
            let account_state = state.accounts.get(&account);
            let user =
                account_state.and_then(|a| a.user(&input.user_name)).ok_or_else(|| no_such_user(&input.user_name))?;
            let policy = InlinePolicy {
                user_id: user.user_id.clone(),
                name: input.policy_name.clone(),
                document: input.policy_document,
            };
            let others: usize = account_state
                .map(|a| {
                    a.inline_policies
                        .values()
                        .filter(|p| p.user_id == user.user_id && p.key() != policy.key())
                        .map(|p| non_whitespace_len(&p.document))
                        .sum()
                })
                .unwrap_or_default();
            if others + non_whitespace_len(&policy.document) > USER_INLINE_POLICY_CHARS {
                return Err(model_error(
                    "LimitExceededException",
                    format!("Maximum policy size of {USER_INLINE_POLICY_CHARS} bytes exceeded for user {}", user.name),
                ));
            }
            policy
        };
        let writes = vec![put(POLICY_KIND, &account, &policy.key(), &policy)];
        let resources = vec![policy_resource(&policy.name)];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            let a = state.accounts.entry(account).or_default();
            let user_id = policy.user_id.clone();
            a.inline_policies.insert(policy.key(), policy);
            let compiled = compile_user(a, &user_id);
            state.compiled.insert(user_id, compiled);
        });
        Ok(Outcome { output: json!({}), resources, change: Some(change) })
    }

    fn find_inline(&self, call: &Call, user_name: &str, policy_name: &str) -> Result<InlinePolicy, AwsError> {
        let state = self.state.read();
        let account_state = state.accounts.get(call.caller.account());
        let user = account_state.and_then(|a| a.user(user_name)).ok_or_else(|| no_such_user(user_name))?;
        let key = format!("{}/{}", user.user_id, policy_name.to_lowercase());
        account_state.and_then(|a| a.inline_policies.get(&key)).cloned().ok_or_else(|| no_such_policy(policy_name))
    }

    pub(crate) fn get_user_policy(&self, call: &Call, input: UserPolicyInput) -> Result<Outcome, AwsError> {
        let policy = self.find_inline(call, &input.user_name, &input.policy_name)?;
        let state = self.state.read();
        let user_name = state
            .accounts
            .get(call.caller.account())
            .and_then(|a| a.user_by_id(&policy.user_id))
            .map(|u| u.name.clone())
            .unwrap_or(input.user_name);
        Ok(Outcome::read(json!({
            "UserName": user_name,
            "PolicyName": policy.name,
            "PolicyDocument": url_encode(&policy.document),
        })))
    }

    pub(crate) fn list_user_policies(&self, call: &Call, input: ListUserPoliciesInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let account_state = state.accounts.get(call.caller.account());
        let user =
            account_state.and_then(|a| a.user(&input.user_name)).ok_or_else(|| no_such_user(&input.user_name))?;
        let names: Vec<(&String, &String)> = account_state
            .map(|a| {
                a.inline_policies.iter().filter(|(_, p)| p.user_id == user.user_id).map(|(k, p)| (k, &p.name)).collect()
            })
            .unwrap_or_default();
        let (items, next) = page(names.into_iter(), input.marker.as_deref(), input.max_items);
        let mut output = json!({ "PolicyNames": items, "IsTruncated": next.is_some() });
        if let Some(marker) = next {
            output["Marker"] = json!(marker);
        }
        Ok(Outcome::read(output))
    }

    pub(crate) async fn delete_user_policy(&self, call: &Call, input: UserPolicyInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let policy = self.find_inline(call, &input.user_name, &input.policy_name)?;
        let writes = vec![delete(POLICY_KIND, &account, &policy.key())];
        let resources = vec![policy_resource(&policy.name)];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            let a = state.accounts.entry(account).or_default();
            a.inline_policies.remove(&policy.key());
            let compiled = compile_user(a, &policy.user_id);
            state.compiled.insert(policy.user_id, compiled);
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
}
