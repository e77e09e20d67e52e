//! Managed policy versions: CreatePolicyVersion, GetPolicyVersion,
//! ListPolicyVersions, DeletePolicyVersion, SetDefaultPolicyVersion. Changing
//! the default version changes what every attached principal may do.

use serde::Deserialize;
use serde_json::{json, Value};

use rampart_core::{AwsError, Call, Outcome, Resource};
use rampart_policy::{Policy, PolicyKind};
use rampart_wire::{ExceptionId, IamException};

use crate::attachments::check_managed_size;
use crate::aws_managed::aws_managed_policy;
use crate::errors::{malformed, not_attachable};
use crate::listing::page_output;
use crate::policies::recompile_account;
use crate::render::{aws_policy_view, version_json};
use crate::state::{ManagedPolicy, PolicyVersion, State, MANAGED_KIND};
use crate::{now_seconds, put, Iam};

/// IAM's quota of versions per managed policy.
const VERSIONS_PER_POLICY: usize = 5;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateVersionInput {
    policy_arn: String,
    policy_document: String,
    set_as_default: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct VersionInput {
    policy_arn: String,
    version_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListVersionsInput {
    policy_arn: String,
}

fn no_such_version(arn: &str, id: &str) -> AwsError {
    IamException::NoSuchEntityException.error(format!("Policy {arn} version {id} does not exist or is not attachable."))
}

impl Iam {
    fn customer_policy(&self, call: &Call, arn: &str) -> Result<ManagedPolicy, AwsError> {
        self.state
            .read()
            .accounts
            .get(call.caller.account())
            .and_then(|a| a.managed.get(arn))
            .cloned()
            .ok_or_else(|| not_attachable(arn))
    }

    /// A policy whose versions the caller may read: the account's own, or an
    /// AWS managed policy, which shows only its default version.
    fn readable_policy(&self, call: &Call, arn: &str) -> Result<ManagedPolicy, AwsError> {
        match aws_managed_policy(arn) {
            Some(aws) => Ok(aws_policy_view(aws)),
            None => self.customer_policy(call, arn),
        }
    }

    /// Writes a changed policy and recompiles the principals it applies to.
    async fn save_policy(
        &self,
        call: &Call,
        arn: &str,
        edit: impl FnOnce(&mut ManagedPolicy) -> Result<Value, AwsError>,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let mut policy = self.customer_policy(call, arn)?;
        let output = edit(&mut policy)?;
        let arn = arn.to_string();
        let writes = vec![put(MANAGED_KIND, &account, &arn, &policy)?];
        let resources = vec![Resource { kind: "AWS::IAM::ManagedPolicy".into(), name: policy.name.clone() }];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            state.accounts.entry(account.clone()).or_default().managed.insert(arn, policy);
            recompile_account(state, &account);
        });
        Ok(Outcome { output, resources, change: Some(change) })
    }

    pub(crate) async fn create_policy_version(
        &self,
        call: &Call,
        input: CreateVersionInput,
    ) -> Result<Outcome, AwsError> {
        Policy::parse(&input.policy_document, PolicyKind::Managed).map_err(|e| malformed(e.to_string()))?;
        check_managed_size(&input.policy_document)?;
        let created = now_seconds(call);
        self.save_policy(call, &input.policy_arn, |p| {
            if p.versions.len() >= VERSIONS_PER_POLICY {
                return Err(IamException::LimitExceededException.error(format!(
                    "A managed policy can have up to {VERSIONS_PER_POLICY} versions. Before you create a new \\
                         version, you must delete an existing version."
                )));
            }
            p.last_version += 1;
            let version = PolicyVersion {
                id: format!("v{}", p.last_version),
                document: input.policy_document,
                create_date: created,
            };
            if input.set_as_default == Some(true) {
                p.default_version = version.id.clone();
            }
            p.versions.push(version);
            let newest = p.versions.last().map(|v| version_json(p, v, false)).unwrap_or_default();
            Ok(json!({ "PolicyVersion": newest }))
        })
        .await
    }

    pub(crate) fn get_policy_version(&self, call: &Call, input: VersionInput) -> Result<Outcome, AwsError> {
        let p = self.readable_policy(call, &input.policy_arn)?;
        let v = p.versions.iter().find(|v| v.id == input.version_id);
        let v = v.ok_or_else(|| no_such_version(&input.policy_arn, &input.version_id))?;
        Ok(Outcome::read(json!({ "PolicyVersion": version_json(&p, v, true) })))
    }

    pub(crate) fn list_policy_versions(&self, call: &Call, input: ListVersionsInput) -> Result<Outcome, AwsError> {
        let p = self.readable_policy(call, &input.policy_arn)?;
        let versions: Vec<Value> = p.versions.iter().rev().map(|v| version_json(&p, v, false)).collect();
        Ok(Outcome::read(page_output("Versions", versions, None)))
    }

    pub(crate) async fn delete_policy_version(&self, call: &Call, input: VersionInput) -> Result<Outcome, AwsError> {
        let arn = input.policy_arn.clone();
        self.save_policy(call, &input.policy_arn, |p| {
            if !p.versions.iter().any(|v| v.id == input.version_id) {
                return Err(no_such_version(&arn, &input.version_id));
            }
            if p.default_version == input.version_id {
                return Err(IamException::DeleteConflictException
                    .error("Cannot delete the default version of a policy.".to_string()));
            }
            p.versions.retain(|v| v.id != input.version_id);
            Ok(json!({}))
        })
        .await
    }

    pub(crate) async fn set_default_policy_version(
        &self,
        call: &Call,
        input: VersionInput,
    ) -> Result<Outcome, AwsError> {
        let arn = input.policy_arn.clone();
        self.save_policy(call, &input.policy_arn, |p| {
            if !p.versions.iter().any(|v| v.id == input.version_id) {
                return Err(no_such_version(&arn, &input.version_id));
            }
            p.default_version = input.version_id;
            Ok(json!({}))
        })
        .await
    }
}
