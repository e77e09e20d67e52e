//! What IAM answers about AWS Organizations and account-level features for
//! a standalone account: the organizations-root operations and
//! ListOrganizationsFeatures answer as AWS answers an account outside any
//! organization, an Organizations access report fails for the same reason;
//! and ListPoliciesGrantingServiceAccess reads the entity's policies.
//! (Outbound web identity federation is in `outbound`.)

use serde::Deserialize;
use serde_json::{json, Value};

use rampart_core::{AwsError, Call, Outcome, OutputMembers};
use rampart_policy::{Policy, PolicyKind};
use rampart_wire::{ExceptionId, IamException};

use crate::attachments::document_of;
use crate::state::AccountState;
use crate::Iam;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GrantingInput {
    arn: String,
    service_namespaces: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct JobInput {
    job_id: String,
}

fn not_in_organization() -> AwsError {
    IamException::OrganizationNotFoundException
        .error("The request failed because your account is not a member of an organization in AWS Organizations.")
}

/// One policy that grants access, as ListPoliciesGrantingServiceAccess lists it.
struct Granting {
    name: String,
    arn: Option<String>,
    entity_type: &'static str,
    entity_name: String,
    document: String,
}

impl Iam {
    /// Answers for a standalone account: it is in no organization.
    pub(crate) fn not_in_organization(&self, _: &Call, _: crate::NoInput) -> Result<Outcome, AwsError> {
        Err(not_in_organization())
    }

    /// A report of an organization's entities: its job fails, since the
    /// account is in none (as AWS's job does, with its error details).
    pub(crate) fn generate_organizations_report(&self, call: &Call, _: crate::NoInput) -> Result<Outcome, AwsError> {
        // 36 characters, the length of AWS's job ids; it carries its own creation time.
        let job = format!("{}-{:013}-orgreport", call.caller.account(), call.time_ms);
        Ok(Outcome::read(json!({ "JobId": job })))
    }

    pub(crate) fn get_organizations_report(&self, call: &Call, input: JobInput) -> Result<Outcome, AwsError> {
        let created = input
            .job_id
            .strip_prefix(&format!("{}-", call.caller.account()))
            .and_then(|rest| rest.strip_suffix("-orgreport"))
            .and_then(|ms| ms.parse::<i64>().ok())
            .ok_or_else(|| IamException::NoSuchEntityException.error(format!("Job {} not found.", input.job_id)))?;
        let created = (created / 1000) as f64;
        Ok(Outcome::read(json!({
            "JobStatus": "FAILED",
            "JobCreationDate": created,
            "JobCompletionDate": created,
            "ErrorDetails": {
                "Code": "OrganizationNotFoundException",
                "Message": "The request failed because your account is not a member of an organization in AWS Organizations.",
            },
        })))
    }

    pub(crate) fn list_policies_granting_service_access(
        &self,
        call: &Call,
        input: GrantingInput,
    ) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let empty = AccountState::default();
        let a = state.accounts.get(call.caller.account()).unwrap_or(&empty);
        let policies = entity_policies(a, &input.arn).ok_or_else(|| {
            IamException::NoSuchEntityException.error(format!("The entity {} cannot be found.", input.arn))
        })?;
        let compiled: Vec<(Granting, Policy)> = policies
            .into_iter()
            .filter_map(|g| Policy::parse(&g.document, PolicyKind::Identity).ok().map(|p| (g, p)))
            .collect();
        let entries: Vec<Value> = input
            .service_namespaces
            .iter()
            .map(|service| {
                let granting: Vec<Value> = compiled
                    .iter()
                    .filter(|(_, p)| p.grants_service(service))
                    .map(|(g, _)| {
                        let mut item = json!({
                            "PolicyName": g.name,
                            "PolicyType": if g.arn.is_some() { "MANAGED" } else { "INLINE" },
                        });
                        match &g.arn {
                            Some(arn) => item.set("PolicyArn", json!(arn)),
                            None => {
                                item.set("EntityType", json!(g.entity_type));
                                item.set("EntityName", json!(g.entity_name));
                            }
                        }
                        item
                    })
                    .collect();
                json!({ "ServiceNamespace": service, "Policies": granting })
            })
            .collect();
        Ok(Outcome::read(json!({ "PoliciesGrantingServiceAccess": entries, "IsTruncated": false })))
    }
}

/// The identity policies of the user, group or role `arn` names: its own
/// inline and attached ones, and for a user its groups'.
fn entity_policies(a: &AccountState, arn: &str) -> Option<Vec<Granting>> {
    let resource = rampart_core::Arn::parse(arn)?.resource;
    let (kind, rest) = resource.split_once('/')?;
    let name = rest.rsplit('/').next()?;
    let mut out = Vec::new();
    let mut add = |owner_id: &str, attached: &[String], entity_type: &'static str, entity_name: &str| {
        for p in a.inline_policies.values().filter(|p| p.owner_id == owner_id) {
            out.push(Granting {
                name: p.name.clone(),
                arn: None,
                entity_type,
                entity_name: entity_name.to_string(),
                document: p.document.clone(),
            });
        }
        for policy_arn in attached {
            if let Some(document) = document_of(a, policy_arn) {
                out.push(Granting {
                    name: policy_arn.rsplit('/').next().unwrap_or_default().to_string(),
                    arn: Some(policy_arn.clone()),
                    entity_type,
                    entity_name: entity_name.to_string(),
                    document: document.to_string(),
                });
            }
        }
    };
    match kind {
        "user" => {
            let user = a.user(name)?;
            add(&user.user_id, &user.attached, "USER", &user.name);
            for group in a.groups.values().filter(|g| g.members.contains(&user.user_id)) {
                add(&group.group_id, &group.attached, "GROUP", &group.name);
            }
        }
        "group" => {
            let group = a.group(name)?;
            add(&group.group_id, &group.attached, "GROUP", &group.name);
        }
        "role" => {
            let role = a.role(name)?;
            add(&role.role_id, &role.attached, "ROLE", &role.name);
        }
        _ => return None,
    }
    Some(out)
}
