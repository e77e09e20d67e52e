//! Service-linked roles: CreateServiceLinkedRole, DeleteServiceLinkedRole and
//! GetServiceLinkedRoleDeletionStatus. A service-linked role is named and
//! placed by its service (`/aws-service-role/<service>/AWSServiceRoleFor…`),
//! trusts only that service, carries the service's AWS managed policy, and
//! cannot be changed by the account (`roles::require_modifiable`).

use serde::Deserialize;
use serde_json::json;

use rampart_core::{AwsError, Call, Outcome};
use rampart_wire::{ExceptionId, IamException};

use crate::errors::no_such_role;
use crate::roles::role_resource;
use crate::state::Role;
use crate::state::SERVICE_ROLE_PATH;
use crate::{now_seconds, put, Iam};

/// The services Rampart knows service-linked roles of: service principal,
/// role name, and the AWS managed policy (under `/aws-service-role/`) the
/// role carries.
const SERVICES: &[(&str, &str, &str)] = &[
    ("access-analyzer.amazonaws.com", "AWSServiceRoleForAccessAnalyzer", "AccessAnalyzerServiceRolePolicy"),
    ("autoscaling.amazonaws.com", "AWSServiceRoleForAutoScaling", "AutoScalingServiceRolePolicy"),
    ("backup.amazonaws.com", "AWSServiceRoleForBackup", "AWSBackupServiceLinkedRolePolicyForBackup"),
    (
        "cks.kms.amazonaws.com",
        "AWSServiceRoleForKeyManagementServiceCustomKeyStores",
        "AWSKeyManagementServiceCustomKeyStoresServiceRolePolicy",
    ),
    ("cloudtrail.amazonaws.com", "AWSServiceRoleForCloudTrail", "CloudTrailServiceRolePolicy"),
    ("config.amazonaws.com", "AWSServiceRoleForConfig", "AWSConfigServiceRolePolicy"),
    (
        "custom-resource.application-autoscaling.amazonaws.com",
        "AWSServiceRoleForApplicationAutoScaling_CustomResource",
        "AWSApplicationAutoScalingCustomResourcePolicy",
    ),
    ("detective.amazonaws.com", "AWSServiceRoleForDetective", "AmazonDetectiveServiceLinkedRolePolicy"),
    (
        "dynamodb.application-autoscaling.amazonaws.com",
        "AWSServiceRoleForApplicationAutoScaling_DynamoDBTable",
        "AWSApplicationAutoscalingDynamoDBTablePolicy",
    ),
    ("ecs.amazonaws.com", "AWSServiceRoleForECS", "AmazonECSServiceRolePolicy"),
    (
        "ecs.application-autoscaling.amazonaws.com",
        "AWSServiceRoleForApplicationAutoScaling_ECSService",
        "AWSApplicationAutoscalingECSServicePolicy",
    ),
    ("eks-nodegroup.amazonaws.com", "AWSServiceRoleForAmazonEKSNodegroup", "AWSServiceRoleForAmazonEKSNodegroup"),
    ("eks.amazonaws.com", "AWSServiceRoleForAmazonEKS", "AmazonEKSServiceRolePolicy"),
    ("elasticache.amazonaws.com", "AWSServiceRoleForElastiCache", "ElastiCacheServiceRolePolicy"),
    ("elasticbeanstalk.amazonaws.com", "AWSServiceRoleForElasticBeanstalk", "AWSElasticBeanstalkServiceRolePolicy"),
    (
        "elasticloadbalancing.amazonaws.com",
        "AWSServiceRoleForElasticLoadBalancing",
        "AWSElasticLoadBalancingServiceRolePolicy",
    ),
    ("es.amazonaws.com", "AWSServiceRoleForAmazonElasticsearchService", "AmazonElasticsearchServiceRolePolicy"),
    ("guardduty.amazonaws.com", "AWSServiceRoleForAmazonGuardDuty", "AmazonGuardDutyServiceRolePolicy"),
    ("inspector2.amazonaws.com", "AWSServiceRoleForAmazonInspector2", "AmazonInspector2ServiceRolePolicy"),
    (
        "lambda.application-autoscaling.amazonaws.com",
        "AWSServiceRoleForApplicationAutoScaling_LambdaConcurrency",
        "AWSApplicationAutoscalingLambdaConcurrencyPolicy",
    ),
    ("macie.amazonaws.com", "AWSServiceRoleForAmazonMacie", "AmazonMacieServiceRolePolicy"),
    (
        "opensearchservice.amazonaws.com",
        "AWSServiceRoleForAmazonOpenSearchService",
        "AmazonOpenSearchServiceRolePolicy",
    ),
    ("organizations.amazonaws.com", "AWSServiceRoleForOrganizations", "AWSOrganizationsServiceTrustPolicy"),
    ("rds.amazonaws.com", "AWSServiceRoleForRDS", "AmazonRDSServiceRolePolicy"),
    (
        "rds.application-autoscaling.amazonaws.com",
        "AWSServiceRoleForApplicationAutoScaling_RDSCluster",
        "AWSApplicationAutoscalingRDSClusterPolicy",
    ),
    ("redshift.amazonaws.com", "AWSServiceRoleForRedshift", "AmazonRedshiftServiceLinkedRolePolicy"),
    (
        "replication.dynamodb.amazonaws.com",
        "AWSServiceRoleForDynamoDBReplication",
        "DynamoDBReplicationServiceRolePolicy",
    ),
    ("replicator.lambda.amazonaws.com", "AWSServiceRoleForLambdaReplicator", "AWSLambdaReplicator"),
    ("securityhub.amazonaws.com", "AWSServiceRoleForSecurityHub", "AWSSecurityHubServiceRolePolicy"),
    ("spot.amazonaws.com", "AWSServiceRoleForEC2Spot", "AWSEC2SpotServiceRolePolicy"),
    ("ssm.amazonaws.com", "AWSServiceRoleForAmazonSSM", "AmazonSSMServiceRolePolicy"),
    ("sso.amazonaws.com", "AWSServiceRoleForSSO", "AWSSSOServiceRolePolicy"),
    ("support.amazonaws.com", "AWSServiceRoleForSupport", "AWSSupportServiceRolePolicy"),
    ("trustedadvisor.amazonaws.com", "AWSServiceRoleForTrustedAdvisor", "AWSTrustedAdvisorServiceRolePolicy"),
];

/// The services that accept a `CustomSuffix` (AWS: Auto Scaling among those Rampart knows).
const SUFFIX_SERVICES: &[&str] = &["autoscaling.amazonaws.com"];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateServiceLinkedRoleInput {
    #[serde(rename = "AWSServiceName")]
    service: String,
    description: Option<String>,
    custom_suffix: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DeleteServiceLinkedRoleInput {
    role_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DeletionStatusInput {
    deletion_task_id: String,
}

fn invalid_input(message: String) -> AwsError {
    IamException::InvalidInputException.error(message)
}

fn trust_policy(service: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Principal": { "Service": service }, "Action": "sts:AssumeRole" }],
    })
    .to_string()
}

/// The name a service's linked role gets, if Rampart knows the service.
pub(crate) fn role_name_for(service: &str, suffix: Option<&str>) -> Option<String> {
    let (_, base, _) = SERVICES.iter().find(|(s, _, _)| *s == service)?;
    Some(match suffix {
        Some(suffix) => format!("{base}_{suffix}"),
        None => (*base).to_string(),
    })
}

impl Iam {
    pub(crate) async fn create_service_linked_role(
        &self,
        call: &Call,
        input: CreateServiceLinkedRoleInput,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let service = input.service;
        let Some((_, base_name, policy)) = SERVICES.iter().find(|(s, _, _)| *s == service) else {
            return Err(invalid_input(format!("Service name {service} is not supported for service-linked roles.")));
        };
        let name = match &input.custom_suffix {
            Some(suffix) if SUFFIX_SERVICES.contains(&service.as_str()) => format!("{base_name}_{suffix}"),
            Some(_) => return Err(invalid_input(format!("Custom suffix is not allowed for {service}"))),
            None => (*base_name).to_string(),
        };
        let guard = self.lock().await;
        crate::roles::require_role_quota(self.state.read().accounts.get(&account))?;
        if self.state.read().accounts.get(&account).and_then(|a| a.role(&name)).is_some() {
            return Err(invalid_input(format!(
                "Service role name {name} has been taken in this account, please try a different suffix."
            )));
        }
        let role = Role {
            role_id: rampart_core::ids::unique_id("AROA"),
            name,
            path: format!("{SERVICE_ROLE_PATH}{service}/"),
            create_date: now_seconds(call),
            trust_policy: trust_policy(&service),
            description: input.description,
            max_session_duration: 3600,
            permissions_boundary: None,
            tags: Vec::new(),
            attached: vec![format!("arn:aws:iam::aws:policy{SERVICE_ROLE_PATH}{policy}")],
        };
        self.insert_role(guard, account, role)
    }

    /// Deletes the role at once (Rampart has no service resources that
    /// could still use it) and keeps the task's outcome for the status call.
    pub(crate) async fn delete_service_linked_role(
        &self,
        call: &Call,
        input: DeleteServiceLinkedRoleInput,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let (role, settings) = {
            let state = self.state.read();
            let a = state.accounts.get(&account);
            let role = a.and_then(|a| a.role(&input.role_name)).ok_or_else(|| no_such_role(&input.role_name))?;
            if !role.is_service_linked() {
                return Err(invalid_input(format!("{} is not a service-linked role.", role.name)));
            }
            (role.clone(), a.map(|a| a.settings.clone()).unwrap_or_default())
        };
        let task = format!("task{}{}/{}", role.path, role.name, uuid::Uuid::new_v4());
        let mut settings = settings;
        settings.deletion_tasks.push(task.clone());
        // AWS keeps a task's status for a while; Rampart keeps the last 100.
        let excess = settings.deletion_tasks.len().saturating_sub(100);
        settings.deletion_tasks.drain(..excess);
        let more = vec![put(crate::state::SETTINGS_KIND, &account, account.as_str(), &settings)?];
        let resources = vec![role_resource(&role.name)];
        let change = self.role_removal(guard, account, role, more, move |a| a.settings = settings)?;
        Ok(Outcome { output: json!({ "DeletionTaskId": task }), resources, change: Some(change) })
    }

    pub(crate) fn get_service_linked_role_deletion_status(
        &self,
        call: &Call,
        input: DeletionStatusInput,
    ) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let known = state
            .accounts
            .get(call.caller.account())
            .is_some_and(|a| a.settings.deletion_tasks.contains(&input.deletion_task_id));
        if !known {
            return Err(IamException::NoSuchEntityException
                .error(format!("Deletion task {} cannot be found.", input.deletion_task_id)));
        }
        Ok(Outcome::read(json!({ "Status": "SUCCEEDED" })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws_managed::aws_managed_policy;

    #[test]
    fn every_service_linked_role_carries_a_known_aws_managed_policy() {
        for (service, role, policy) in SERVICES {
            let arn = format!("arn:aws:iam::aws:policy{SERVICE_ROLE_PATH}{policy}");
            assert!(
                aws_managed_policy(&arn).is_some(),
                "{service}: {role} names {arn}, which is not in the policy set"
            );
            assert!(role.starts_with("AWSServiceRoleFor"), "{role}");
        }
    }
}
