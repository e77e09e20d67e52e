//! GetAccountAuthorizationDetails: every user, group, role and managed policy
//! of the account with their policies, in one (paginated) answer — what
//! security scanners read first.

use serde::Deserialize;
use serde_json::{json, Value};

use rampart_core::{AwsError, Call, Outcome, OutputMembers};

use crate::attachments::usage;
use crate::aws_managed::aws_managed_policy;
use crate::render::{
    aws_policy_json, aws_policy_view, customer_policy_json, group_json, instance_profile_json, role_json, url_encode,
    user_json, version_json, PolicyView,
};

use crate::listing::multi_page_output;

use crate::state::AccountState;
use crate::state::ManagedPolicy;

use crate::Iam;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DetailsInput {
    #[serde(default)]
    filter: Vec<String>,
    marker: Option<String>,
    max_items: Option<usize>,
}

/// The inline policies of an owner, as `PolicyDetail`s.
fn inline_policies(a: &AccountState, owner_id: &str) -> Value {
    let policies = a.inline_policies.values().filter(|p| p.owner_id == owner_id);
    json!(policies
        .map(|p| json!({"PolicyName": p.name, "PolicyDocument": url_encode(&p.document)}))
        .collect::<Vec<_>>())
}

fn attached_policies(attached: &[String]) -> Value {
    let named =
        attached.iter().map(|arn| json!({"PolicyName": arn.rsplit('/').next().unwrap_or_default(), "PolicyArn": arn}));
    json!(named.collect::<Vec<_>>())
}

/// A managed policy with all its versions' documents (`ManagedPolicyDetail`
/// has no tags).
fn policy_detail(mut detail: Value, policy: &ManagedPolicy) -> Value {
    detail.unset("Tags");
    detail.set(
        "PolicyVersionList",
        json!(policy.versions.iter().map(|v| version_json(policy, v, true)).collect::<Vec<_>>()),
    );
    detail
}

impl Iam {
    pub(crate) fn account_authorization_details(&self, call: &Call, input: DetailsInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account();
        let state = self.state.read();
        let empty = AccountState::default();
        let a = state.accounts.get(account).unwrap_or(&empty);
        let wanted = |kind: &str| input.filter.is_empty() || input.filter.iter().any(|f| f == kind);
        // One listing sorted by kind, then name, so a marker resumes across kinds.
        let mut items: Vec<(String, &str, Value)> = Vec::new();
        if wanted("User") {
            for u in a.users.values() {
                let mut detail = user_json(account, u, true);
                detail.set("UserPolicyList", inline_policies(a, &u.user_id));
                let groups = a.groups.values().filter(|g| g.members.contains(&u.user_id)).map(|g| g.name.clone());
                detail.set("GroupList", json!(groups.collect::<Vec<_>>()));
                detail.set("AttachedManagedPolicies", attached_policies(&u.attached));
                items.push((format!("1{}", u.name.to_lowercase()), "UserDetailList", detail));
            }
        }
        if wanted("Group") {
            for g in a.groups.values() {
                let mut detail = group_json(account, g);
                detail.set("GroupPolicyList", inline_policies(a, &g.group_id));
                detail.set("AttachedManagedPolicies", attached_policies(&g.attached));
                items.push((format!("2{}", g.name.to_lowercase()), "GroupDetailList", detail));
            }
        }
        if wanted("Role") {
            for r in a.roles.values() {
                let mut detail = role_json(account, r, true);
                detail.set("RoleLastUsed", self.role_last_used_json(&r.role_id));
                // `RoleDetail` has no session duration.
                detail.unset("MaxSessionDuration");
                let profiles = a.instance_profiles.values().filter(|p| p.roles.contains(&r.role_id));
                let profiles: Vec<Value> = profiles.map(|p| instance_profile_json(account, a, p)).collect();
                detail.set("InstanceProfileList", json!(profiles));
                detail.set("RolePolicyList", inline_policies(a, &r.role_id));
                detail.set("AttachedManagedPolicies", attached_policies(&r.attached));
                items.push((format!("3{}", r.name.to_lowercase()), "RoleDetailList", detail));
            }
        }
        if wanted("LocalManagedPolicy") {
            for (arn, p) in &a.managed {
                let detail = customer_policy_json(account, p, usage(a, arn), PolicyView::Get);
                items.push((format!("4{arn}"), "Policies", policy_detail(detail, p)));
            }
        }
        if wanted("AWSManagedPolicy") {
            // AWS lists the AWS managed policies the account uses.
            let mut used: Vec<&String> = a
                .users
                .values()
                .flat_map(|u| u.attached.iter().chain(&u.permissions_boundary))
                .chain(a.groups.values().flat_map(|g| g.attached.iter()))
                .chain(a.roles.values().flat_map(|r| r.attached.iter().chain(&r.permissions_boundary)))
                .filter(|arn| arn.starts_with("arn:aws:iam::aws:policy"))
                .collect();
            used.sort();
            used.dedup();
            for aws in used.into_iter().filter_map(|arn| aws_managed_policy(arn)) {
                let detail = aws_policy_json(aws, usage(a, &aws.arn()));
                items.push((format!("5{}", aws.arn()), "Policies", policy_detail(detail, &aws_policy_view(aws))));
            }
        }
        let members = ["UserDetailList", "GroupDetailList", "RoleDetailList", "Policies"];
        Ok(Outcome::read(multi_page_output(&members, &items, input.marker.as_deref(), input.max_items)))
    }
}
