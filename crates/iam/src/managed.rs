//! Customer managed policies (CreatePolicy, GetPolicy, ListPolicies,
//! DeletePolicy), the AWS managed policies Rampart carries, attaching them to
//! users, and users' permissions boundaries.

use serde::Deserialize;
use serde_json::{json, Value};

use rampart_core::{AwsError, Call, Outcome, Resource};
use rampart_policy::{Policy, PolicyKind};
use rampart_wire::{ExceptionId, IamException};

use crate::attachments::{attach, attached_page, check_managed_size, detach, require_attachable, usage, usage_by_arn};
use crate::aws_managed::{aws_managed_policies, aws_managed_policy};
use crate::errors::{malformed, no_such_user, not_attachable};
use crate::listing::{multi_page_output, page, page_output};
use crate::policies::recompile;
use crate::render::{aws_policy_json, customer_policy_json, PolicyView};
use crate::state::{AccountState, ManagedPolicy, PolicyVersion, State, MANAGED_KIND, USER_KIND};
use crate::tagging::{new_tags, TagInput};
use crate::{now_seconds, put, Iam};

const POLICIES_PER_USER: usize = 10;
/// IAM's quota of customer managed policies per account.
pub(crate) const POLICIES_PER_ACCOUNT: usize = 1500;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreatePolicyInput {
    policy_name: String,
    path: Option<String>,
    policy_document: String,
    description: Option<String>,
    #[serde(default)]
    tags: Vec<TagInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListEntitiesInput {
    policy_arn: String,
    entity_filter: Option<String>,
    path_prefix: Option<String>,
    policy_usage_filter: Option<String>,
    marker: Option<String>,
    max_items: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PolicyArnInput {
    policy_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListPoliciesInput {
    scope: Option<String>,
    only_attached: Option<bool>,
    path_prefix: Option<String>,
    marker: Option<String>,
    max_items: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UserPolicyArnInput {
    user_name: String,
    policy_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListAttachedInput {
    user_name: String,
    path_prefix: Option<String>,
    marker: Option<String>,
    max_items: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct BoundaryInput {
    user_name: String,
    permissions_boundary: Option<String>,
}

fn policy_resource(name: &str) -> Resource {
    Resource { kind: "AWS::IAM::ManagedPolicy".into(), name: name.to_string() }
}

impl Iam {
    pub(crate) async fn create_policy(&self, call: &Call, input: CreatePolicyInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        Policy::parse(&input.policy_document, PolicyKind::Managed).map_err(|e| malformed(e.to_string()))?;
        check_managed_size(&input.policy_document)?;
        let tags = new_tags(input.tags)?;
        let guard = self.lock().await;
        let created = now_seconds(call);
        let policy = ManagedPolicy {
            policy_id: rampart_core::ids::unique_id("ANPA"),
            name: input.policy_name,
            path: input.path.unwrap_or_else(|| "/".to_string()),
            description: input.description,
            create_date: created,
            versions: vec![PolicyVersion { id: "v1".into(), document: input.policy_document, create_date: created }],
            default_version: "v1".into(),
            last_version: 1,
            tags,
        };
        let arn = policy.arn(&account);
        {
            let state = self.state.read();
            let exists = state
                .accounts
                .get(&account)
                .is_some_and(|a| a.managed.values().any(|p| p.name.eq_ignore_ascii_case(&policy.name)));
            if exists {
                return Err(IamException::EntityAlreadyExistsException.error(format!(
                    "A policy called {} already exists. Duplicate names are not allowed.",
                    policy.name
                )));
            }
            if state.accounts.get(&account).is_some_and(|a| a.managed.len() >= POLICIES_PER_ACCOUNT) {
                return Err(IamException::LimitExceededException
                    .error(format!("Cannot exceed quota for PoliciesPerAccount: {POLICIES_PER_ACCOUNT}")));
            }
        }
        let output = json!({ "Policy": customer_policy_json(&account, &policy, (0, 0), PolicyView::Create) });
        let writes = vec![put(MANAGED_KIND, &account, &arn, &policy)?];
        let resources = vec![policy_resource(&policy.name)];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            state.accounts.entry(account).or_default().managed.insert(arn, policy);
        });
        Ok(Outcome { output, resources, change: Some(change) })
    }

    pub(crate) fn get_policy(&self, call: &Call, input: PolicyArnInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let account_state =
            state.accounts.get(call.caller.account()).ok_or_else(|| not_attachable(&input.policy_arn))?;
        let usage = usage(account_state, &input.policy_arn);
        if let Some(p) = account_state.managed.get(&input.policy_arn) {
            let out = customer_policy_json(call.caller.account(), p, usage, PolicyView::Get);
            return Ok(Outcome::read(json!({ "Policy": out })));
        }
        match aws_managed_policy(&input.policy_arn) {
            Some(p) => Ok(Outcome::read(json!({ "Policy": aws_policy_json(p, usage) }))),
            None => Err(not_attachable(&input.policy_arn)),
        }
    }

    pub(crate) fn list_policies(&self, call: &Call, input: ListPoliciesInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account();
        let state = self.state.read();
        let empty = AccountState::default();
        let account_state = state.accounts.get(account).unwrap_or(&empty);
        let scope = input.scope.as_deref().unwrap_or("All");
        let prefix = input.path_prefix.as_deref().unwrap_or("/");
        // Usage counted once for the whole listing; documents rendered only for the page.
        let usages = usage_by_arn(account_state);
        let usage_of = |arn: &str| usages.get(arn).copied().unwrap_or((0, 0));
        enum Listed<'a> {
            Aws(&'static crate::aws_managed::AwsManagedPolicy),
            Customer(&'a crate::state::ManagedPolicy),
        }
        let mut all: Vec<(String, Listed<'_>)> = Vec::new();
        if scope != "Local" {
            all.extend(
                aws_managed_policies().iter().filter(|p| p.path.starts_with(prefix)).map(|p| (p.arn(), Listed::Aws(p))),
            );
        }
        if scope != "AWS" {
            let local = account_state.managed.iter().filter(|(_, p)| p.path.starts_with(prefix));
            all.extend(local.map(|(arn, p)| (arn.clone(), Listed::Customer(p))));
        }
        if input.only_attached == Some(true) {
            all.retain(|(arn, _)| usage_of(arn).0 > 0);
        }
        all.sort_by(|a, b| a.0.cmp(&b.0));
        let (items, next) = page(all.iter().map(|(k, v)| (k, (k, v))), input.marker.as_deref(), input.max_items);
        let items: Vec<Value> = items
            .into_iter()
            .map(|(arn, listed)| match listed {
                Listed::Aws(p) => aws_policy_json(p, usage_of(arn)),
                Listed::Customer(p) => customer_policy_json(account, p, usage_of(arn), PolicyView::List),
            })
            .collect();
        Ok(Outcome::read(page_output("Policies", items, next)))
    }

    pub(crate) async fn delete_policy(&self, call: &Call, input: PolicyArnInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let policy = {
            let state = self.state.read();
            let account_state = state.accounts.get(&account);
            let policy = account_state
                .and_then(|a| a.managed.get(&input.policy_arn))
                .ok_or_else(|| not_attachable(&input.policy_arn))?;
            if account_state.is_some_and(|a| usage(a, &input.policy_arn) != (0, 0)) {
                return Err(IamException::DeleteConflictException
                    .error("Cannot delete a policy attached to entities.".to_string()));
            }
            policy.clone()
        };
        let arn = input.policy_arn;
        let writes = vec![crate::delete(MANAGED_KIND, &account, &arn)];
        let resources = vec![policy_resource(&policy.name)];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            if let Some(a) = state.accounts.get_mut(&account) {
                a.managed.remove(&arn);
            }
        });
        Ok(Outcome { output: json!({}), resources, change: Some(change) })
    }

    /// Changes a user's attachments or boundary through `edit`, then recompiles its policies.
    async fn edit_user(
        &self,
        call: &Call,
        user_name: &str,
        edit: impl FnOnce(&AccountState, &mut crate::state::User) -> Result<(), AwsError>,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let user = {
            let state = self.state.read();
            let account_state = state.accounts.get(&account).ok_or_else(|| no_such_user(user_name))?;
            let mut user = account_state.user(user_name).ok_or_else(|| no_such_user(user_name))?.clone();
            edit(account_state, &mut user)?;
            user
        };
        let writes = vec![put(USER_KIND, &account, &user.user_id, &user)?];
        let resources = vec![Resource { kind: "AWS::IAM::User".into(), name: user.name.clone() }];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            let user_id = user.user_id.clone();
            state.accounts.entry(account.clone()).or_default().users.insert(user.name.to_lowercase(), user);
            recompile(state, &account, &user_id);
        });
        Ok(Outcome { output: json!({}), resources, change: Some(change) })
    }

    pub(crate) async fn attach_user_policy(&self, call: &Call, input: UserPolicyArnInput) -> Result<Outcome, AwsError> {
        let arn = input.policy_arn;
        self.edit_user(call, &input.user_name, |a, user| {
            attach(a, &mut user.attached, &arn, POLICIES_PER_USER, "PoliciesPerUser")
        })
        .await
    }

    pub(crate) async fn detach_user_policy(&self, call: &Call, input: UserPolicyArnInput) -> Result<Outcome, AwsError> {
        let arn = input.policy_arn;
        self.edit_user(call, &input.user_name, |_, user| detach(&mut user.attached, &arn)).await
    }

    pub(crate) fn list_attached_user_policies(
        &self,
        call: &Call,
        input: ListAttachedInput,
    ) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let account_state = state.accounts.get(call.caller.account()).ok_or_else(|| no_such_user(&input.user_name))?;
        let user = account_state.user(&input.user_name).ok_or_else(|| no_such_user(&input.user_name))?;
        Ok(Outcome::read(attached_page(&user.attached, &input.path_prefix, &input.marker, input.max_items)))
    }

    pub(crate) async fn put_user_permissions_boundary(
        &self,
        call: &Call,
        input: BoundaryInput,
    ) -> Result<Outcome, AwsError> {
        let arn = input.permissions_boundary.unwrap_or_default();
        self.edit_user(call, &input.user_name, |a, user| {
            require_attachable(a, &arn)?;
            user.permissions_boundary = Some(arn.clone());
            Ok(())
        })
        .await
    }

    pub(crate) async fn delete_user_permissions_boundary(
        &self,
        call: &Call,
        input: BoundaryInput,
    ) -> Result<Outcome, AwsError> {
        self.edit_user(call, &input.user_name, |_, user| {
            user.permissions_boundary = None;
            Ok(())
        })
        .await
    }

    /// The users, groups and roles a managed policy is attached to, or is the
    /// permissions boundary of.
    pub(crate) fn list_entities_for_policy(&self, call: &Call, input: ListEntitiesInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let empty = AccountState::default();
        let a = state.accounts.get(call.caller.account()).unwrap_or(&empty);
        require_attachable(a, &input.policy_arn)?;
        let arn = input.policy_arn.as_str();
        let usage = input.policy_usage_filter.as_deref();
        let uses = |attached: &[String], boundary: Option<&str>| {
            let as_permissions = usage != Some("PermissionsBoundary") && attached.iter().any(|x| x == arn);
            let as_boundary = usage != Some("PermissionsPolicy") && boundary == Some(arn);
            as_permissions || as_boundary
        };
        let prefix = input.path_prefix.as_deref().unwrap_or("/");
        let wanted = |kind: &str| input.entity_filter.as_deref().is_none_or(|f| f == kind);
        // One listing, sorted by kind then name, so a marker resumes across kinds.
        let mut entities: Vec<(String, &str, Value)> = Vec::new();
        if wanted("Group") {
            for g in a.groups.values().filter(|g| g.path.starts_with(prefix) && uses(&g.attached, None)) {
                entities.push((
                    format!("1{}", g.name),
                    "PolicyGroups",
                    json!({"GroupName": g.name, "GroupId": g.group_id}),
                ));
            }
        }
        if wanted("Role") {
            for r in a.roles.values() {
                if r.path.starts_with(prefix) && uses(&r.attached, r.permissions_boundary.as_deref()) {
                    entities.push((
                        format!("2{}", r.name),
                        "PolicyRoles",
                        json!({"RoleName": r.name, "RoleId": r.role_id}),
                    ));
                }
            }
        }
        if wanted("User") {
            for u in a.users.values() {
                if u.path.starts_with(prefix) && uses(&u.attached, u.permissions_boundary.as_deref()) {
                    entities.push((
                        format!("3{}", u.name),
                        "PolicyUsers",
                        json!({"UserName": u.name, "UserId": u.user_id}),
                    ));
                }
            }
        }
        entities.sort_by(|x, y| x.0.cmp(&y.0));
        let members = ["PolicyGroups", "PolicyRoles", "PolicyUsers"];
        Ok(Outcome::read(multi_page_output(&members, &entities, input.marker.as_deref(), input.max_items)))
    }
}
