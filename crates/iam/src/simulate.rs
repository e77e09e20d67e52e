//! The policy simulator: SimulatePrincipalPolicy, SimulateCustomPolicy and
//! GetContextKeysFor{Principal,Custom}Policy. The same compiled policies and
//! the same engine as enforcement, so both give the same answers for the same
//! context. Like AWS's simulator, it uses only the context entries given.

use serde::Deserialize;
use serde_json::{json, Value};

use rampart_core::{AwsError, Call, Outcome, OutputMembers};
use rampart_policy::{
    evaluate, missing_context_keys, Context, Decision, Policy, PolicyKind, PolicyRef, PolicySet, Request,
};
use rampart_wire::{ExceptionId, IamException};

use crate::errors::malformed;
use crate::policies::{compile_principal, PrincipalPolicies};
use crate::Iam;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContextEntry {
    context_key_name: String,
    #[serde(default)]
    context_key_values: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SimulateInput {
    policy_source_arn: Option<String>,
    #[serde(default)]
    policy_input_list: Vec<String>,
    #[serde(default)]
    permissions_boundary_policy_input_list: Vec<String>,
    action_names: Vec<String>,
    #[serde(default)]
    resource_arns: Vec<String>,
    #[serde(default)]
    context_entries: Vec<ContextEntry>,
    max_items: Option<usize>,
    marker: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ContextKeysInput {
    policy_source_arn: Option<String>,
    #[serde(default)]
    policy_input_list: Vec<String>,
}

/// `SourcePolicyType` of a deciding policy, from the name it was compiled under.
fn source_type(name: &str) -> &'static str {
    if name.starts_with("arn:aws:iam::aws:policy") {
        "aws-managed"
    } else if name.starts_with("arn:") {
        "user-managed"
    } else if name.starts_with("PolicyInputList.") || name.starts_with("PermissionsBoundaryPolicyInputList.") {
        "none"
    } else {
        "user"
    }
}

fn parse_inputs(prefix: &str, documents: &[String]) -> Result<Vec<(String, Policy)>, AwsError> {
    documents
        .iter()
        .enumerate()
        .map(|(i, d)| {
            Policy::parse(d, PolicyKind::Identity)
                .map(|p| (format!("{prefix}.{}", i + 1), p))
                .map_err(|e| malformed(e.to_string()))
        })
        .collect()
}

impl Iam {
    /// The identity policies and boundary of the user, group or role `arn`
    /// names, compiled.
    fn principal_policies(&self, call: &Call, arn: &str) -> Result<PrincipalPolicies, AwsError> {
        let state = self.state.read();
        let account = call.caller.account();
        let account_state = state.accounts.get(account);
        let id = account_state.and_then(|a| {
            let named = |kind: &str, path: &str, name: &str| rampart_core::iam_arn(account, kind, path, name) == arn;
            let user = a.users.values().find(|u| named("user", &u.path, &u.name)).map(|u| &u.user_id);
            let role = || a.roles.values().find(|r| named("role", &r.path, &r.name)).map(|r| &r.role_id);
            let group = || a.groups.values().find(|g| named("group", &g.path, &g.name)).map(|g| &g.group_id);
            user.or_else(role).or_else(group)
        });
        let (Some(a), Some(id)) = (account_state, id) else {
            return Err(IamException::NoSuchEntityException.error(format!("The user with ARN {arn} cannot be found.")));
        };
        Ok(compile_principal(a, id).as_ref().clone())
    }

    pub(crate) fn simulate(&self, call: &Call, input: SimulateInput) -> Result<Outcome, AwsError> {
        let PrincipalPolicies { mut identity, mut boundary, .. } = match &input.policy_source_arn {
            Some(arn) => self.principal_policies(call, arn)?,
            None => PrincipalPolicies::default(),
        };
        identity.extend(parse_inputs("PolicyInputList", &input.policy_input_list)?);
        if let Some(first) =
            parse_inputs("PermissionsBoundaryPolicyInputList", &input.permissions_boundary_policy_input_list)?
                .into_iter()
                .next()
        {
            boundary = Some(first);
        }
        let mut context = Context::new();
        for entry in input.context_entries {
            context.set_all(&entry.context_key_name, entry.context_key_values);
        }
        let set = PolicySet {
            identity: identity.iter().map(|(name, policy)| PolicyRef { name, policy }).collect(),
            boundary: boundary.as_ref().map(|(name, policy)| PolicyRef { name, policy }),
            ..Default::default()
        };
        let resources = if input.resource_arns.is_empty() { vec!["*".to_string()] } else { input.resource_arns };
        let mut results = Vec::new();
        for action in &input.action_names {
            for resource in &resources {
                let request = Request::identity(action, resource, &context);
                let decision = evaluate(&request, &set);
                let (eval, matched) = match &decision {
                    Decision::Allow { statement } => ("allowed", Some(statement)),
                    Decision::ExplicitDeny { statement, .. } => ("explicitDeny", Some(statement)),
                    Decision::ImplicitDeny { .. } => ("implicitDeny", None),
                };
                let matched: Vec<Value> = matched
                    .map(|s| json!({"SourcePolicyId": s.policy, "SourcePolicyType": source_type(&s.policy)}))
                    .into_iter()
                    .collect();
                let mut result = json!({
                    "EvalActionName": action,
                    "EvalResourceName": resource,
                    "EvalDecision": eval,
                    "MatchedStatements": matched,
                    "MissingContextValues": missing_context_keys(&request, &set),
                });
                if let Some(b) = &set.boundary {
                    let alone = PolicySet { identity: vec![*b], boundary: None, ..Default::default() };
                    result.set(
                        "PermissionsBoundaryDecisionDetail",
                        json!({"AllowedByPermissionsBoundary": evaluate(&request, &alone).is_allowed()}),
                    );
                }
                results.push(result);
            }
        }
        let start = input.marker.as_deref().and_then(|m| m.parse::<usize>().ok()).unwrap_or_default();
        let max = input.max_items.unwrap_or(100);
        let end = start.saturating_add(max).min(results.len());
        let page: Vec<Value> = results.get(start..end).map(<[Value]>::to_vec).unwrap_or_default();
        let mut output = json!({ "EvaluationResults": page, "IsTruncated": end < results.len() });
        if end < results.len() {
            output.set("Marker", json!(end.to_string()));
        }
        Ok(Outcome::read(output))
    }

    pub(crate) fn context_keys(&self, call: &Call, input: ContextKeysInput) -> Result<Outcome, AwsError> {
        let mut policies = match &input.policy_source_arn {
            Some(arn) => {
                let PrincipalPolicies { identity, boundary, .. } = self.principal_policies(call, arn)?;
                identity.into_iter().chain(boundary).collect()
            }
            None => Vec::new(),
        };
        policies.extend(parse_inputs("PolicyInputList", &input.policy_input_list)?);
        let mut keys: Vec<String> = Vec::new();
        for key in policies.iter().flat_map(|(_, p)| p.context_keys()) {
            if !keys.iter().any(|k| k.eq_ignore_ascii_case(&key)) {
                keys.push(key);
            }
        }
        Ok(Outcome::read(json!({ "ContextKeyNames": keys })))
    }
}
