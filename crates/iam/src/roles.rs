//! Roles: CreateRole, GetRole, ListRoles, UpdateRole, UpdateAssumeRolePolicy,
//! DeleteRole, attached managed policies and permissions boundaries. A role's
//! trust policy is checked as a resource-based policy; who may assume the role
//! comes with STS AssumeRole.

use serde::Deserialize;
use serde_json::{json, Value};

use rampart_core::{AccountId, AwsError, Call, Outcome, OutputMembers, Resource};
use rampart_policy::{Policy, PolicyKind};
use rampart_wire::{ExceptionId, IamException};

use crate::attachments::{attach, detach, require_attachable};
use crate::errors::{delete_conflict, malformed, no_such_role};
use crate::listing::{page, page_output};
use crate::policies::{recompile, require_no_policies};
use crate::render::role_json;
use crate::state::{AccountState, Role, State, ROLE_KIND};
use crate::tagging::{new_tags, TagInput};
use crate::trust::{apply_trust_rewrites, forget_trusted_principal, trust_rewrite_writes};
use crate::{delete, now_seconds, put, Iam};

/// IAM's quotas.
const TRUST_POLICY_CHARS: usize = 2048;
const POLICIES_PER_ROLE: usize = 10;
const DEFAULT_MAX_SESSION_SECONDS: i64 = 3600;

/// Checks a trust policy: a resource-based policy with IAM's size quota, whose
/// users and roles exist (when their account is on this node). When one is
/// deleted, trust policies name it by its unique id instead
/// (`forget_trusted_principal`), so a namesake does not inherit the trust.
fn check_trust_policy(document: &str, state: &State) -> Result<(), AwsError> {
    let policy = Policy::parse(document, PolicyKind::Trust).map_err(|e| malformed(e.to_string()))?;
    for (kind, value) in policy.statements.iter().flat_map(|s| s.named_principals()) {
        if kind == "AWS" && !principal_exists(value, state) {
            return Err(malformed(format!("Invalid principal in policy: \"AWS\":\"{value}\"")));
        }
    }
    if crate::attachments::non_whitespace_len(document) > TRUST_POLICY_CHARS {
        return Err(IamException::LimitExceededException
            .error(format!("Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_CHARS}")));
    }
    Ok(())
}

/// Whether an IAM user or role ARN names one that exists; other principals
/// (accounts, sessions, wildcards, accounts this node does not hold) pass.
fn principal_exists(arn: &str, state: &State) -> bool {
    let Some((account, resource)) = arn.strip_prefix("arn:aws:iam::").and_then(|rest| rest.split_once(':')) else {
        return true;
    };
    let Some(a) = AccountId::parse(account).and_then(|id| state.accounts.get(&id)) else { return true };
    if resource.contains(['*', '?']) {
        return true;
    }
    if let Some(rest) = resource.strip_prefix("user/") {
        return a.users.values().any(|u| format!("{}{}", u.path, u.name) == format!("/{rest}"));
    }
    if let Some(rest) = resource.strip_prefix("role/") {
        return a.roles.values().any(|r| format!("{}{}", r.path, r.name) == format!("/{rest}"));
    }
    true
}

pub(crate) fn role_resource(name: &str) -> Resource {
    Resource { kind: "AWS::IAM::Role".into(), name: name.to_string() }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateRoleInput {
    role_name: String,
    path: Option<String>,
    assume_role_policy_document: String,
    description: Option<String>,
    max_session_duration: Option<i64>,
    permissions_boundary: Option<String>,
    #[serde(default)]
    tags: Vec<TagInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RoleNameInput {
    role_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListRolesInput {
    path_prefix: Option<String>,
    marker: Option<String>,
    max_items: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateRoleInput {
    role_name: String,
    description: Option<String>,
    max_session_duration: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateRoleDescriptionInput {
    role_name: String,
    description: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateTrustInput {
    role_name: String,
    policy_document: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RolePolicyArnInput {
    role_name: String,
    policy_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RoleBoundaryInput {
    role_name: String,
    permissions_boundary: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListAttachedRoleInput {
    role_name: String,
    path_prefix: Option<String>,
    marker: Option<String>,
    max_items: Option<usize>,
}

/// IAM's quota of roles per account.
pub(crate) const ROLES_PER_ACCOUNT: usize = 1000;

pub(crate) fn require_role_quota(a: Option<&AccountState>) -> Result<(), AwsError> {
    if a.is_some_and(|a| a.roles.len() >= ROLES_PER_ACCOUNT) {
        return Err(IamException::LimitExceededException
            .error(format!("Cannot exceed quota for RolesPerAccount: {ROLES_PER_ACCOUNT}")));
    }
    Ok(())
}

/// A service-linked role's trust, permissions and boundary are the
/// service's: IAM refuses to change them (UnmodifiableEntity).
pub(crate) fn require_modifiable(role: &Role) -> Result<(), AwsError> {
    if role.is_service_linked() {
        return Err(crate::errors::protected_role(&role.name));
    }
    Ok(())
}

impl Iam {
    pub(crate) async fn create_role(&self, call: &Call, input: CreateRoleInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let tags = new_tags(input.tags)?;
        let guard = self.lock().await;
        check_trust_policy(&input.assume_role_policy_document, &self.state.read())?;
        {
            let state = self.state.read();
            let a = state.accounts.get(&account);
            if a.and_then(|a| a.role(&input.role_name)).is_some() {
                return Err(IamException::EntityAlreadyExistsException
                    .error(format!("Role with name {} already exists.", input.role_name)));
            }
            require_role_quota(a)?;
            if let Some(boundary) = &input.permissions_boundary {
                require_attachable(a.unwrap_or(&AccountState::default()), boundary)?;
            }
        }
        let role = Role {
            role_id: rampart_core::ids::unique_id("AROA"),
            name: input.role_name,
            path: input.path.unwrap_or_else(|| "/".to_string()),
            create_date: now_seconds(call),
            trust_policy: input.assume_role_policy_document,
            description: input.description,
            max_session_duration: input.max_session_duration.unwrap_or(DEFAULT_MAX_SESSION_SECONDS),
            permissions_boundary: input.permissions_boundary,
            tags,
            attached: Vec::new(),
        };
        self.insert_role(guard, account, role)
    }

    /// Stores a new role and, once that is durable, compiles its policies:
    /// CreateRole's and CreateServiceLinkedRole's output.
    pub(crate) fn insert_role(
        &self,
        guard: tokio::sync::OwnedMutexGuard<()>,
        account: AccountId,
        role: Role,
    ) -> Result<Outcome, AwsError> {
        let output = json!({ "Role": role_json(&account, &role, true) });
        let writes = vec![put(ROLE_KIND, &account, &role.role_id, &role)?];
        let resources = vec![role_resource(&role.name)];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            let role_id = role.role_id.clone();
            state.accounts.entry(account.clone()).or_default().roles.insert(role.name.to_lowercase(), role);
            recompile(state, &account, &role_id);
        });
        Ok(Outcome { output, resources, change: Some(change) })
    }

    pub(crate) fn get_role(&self, call: &Call, input: RoleNameInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account();
        let state = self.state.read();
        let role = state.accounts.get(account).and_then(|a| a.role(&input.role_name));
        let role = role.ok_or_else(|| no_such_role(&input.role_name))?;
        let mut output = role_json(account, role, true);
        output.set("RoleLastUsed", self.role_last_used_json(&role.role_id));
        Ok(Outcome::read(json!({ "Role": output })))
    }

    pub(crate) fn list_roles(&self, call: &Call, input: ListRolesInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account();
        let state = self.state.read();
        let prefix = input.path_prefix.as_deref().unwrap_or("/");
        let roles = state.accounts.get(account).map(|a| &a.roles);
        let matching = roles.into_iter().flatten().filter(|(_, r)| r.path.starts_with(prefix));
        let (items, next) = page(matching, input.marker.as_deref(), input.max_items);
        let roles: Vec<Value> = items.into_iter().map(|r| role_json(account, r, false)).collect();
        Ok(Outcome::read(page_output("Roles", roles, next)))
    }

    /// Changes a role through `edit` and writes it back.
    async fn edit_role(
        &self,
        call: &Call,
        role_name: &str,
        edit: impl FnOnce(&AccountState, &mut Role) -> Result<(), AwsError>,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let role = {
            let state = self.state.read();
            let empty = AccountState::default();
            let a = state.accounts.get(&account).unwrap_or(&empty);
            let mut role = a.role(role_name).ok_or_else(|| no_such_role(role_name))?.clone();
            edit(a, &mut role)?;
            role
        };
        let writes = vec![put(ROLE_KIND, &account, &role.role_id, &role)?];
        let resources = vec![role_resource(&role.name)];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            let role_id = role.role_id.clone();
            state.accounts.entry(account.clone()).or_default().roles.insert(role.name.to_lowercase(), role);
            recompile(state, &account, &role_id);
        });
        Ok(Outcome { output: json!({}), resources, change: Some(change) })
    }

    pub(crate) async fn update_role(&self, call: &Call, input: UpdateRoleInput) -> Result<Outcome, AwsError> {
        self.edit_role(call, &input.role_name, |_, role| {
            if let Some(d) = input.description {
                role.description = Some(d);
            }
            if let Some(m) = input.max_session_duration {
                role.max_session_duration = m;
            }
            Ok(())
        })
        .await
    }

    /// UpdateRoleDescription: UpdateRole's description alone, answering with the role.
    pub(crate) async fn update_role_description(
        &self,
        call: &Call,
        input: UpdateRoleDescriptionInput,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let mut updated = None;
        let mut outcome = self
            .edit_role(call, &input.role_name, |_, role| {
                role.description = Some(input.description);
                updated = Some(role_json(&account, role, true));
                Ok(())
            })
            .await?;
        outcome.output = json!({ "Role": updated });
        Ok(outcome)
    }

    pub(crate) async fn update_assume_role_policy(
        &self,
        call: &Call,
        input: UpdateTrustInput,
    ) -> Result<Outcome, AwsError> {
        let state = self.state.clone();
        self.edit_role(call, &input.role_name, move |_, role| {
            // Under the mutation lock, so a principal cannot be deleted in between
            // (and a recursive read: edit_role holds a read guard).
            require_modifiable(role)?;
            check_trust_policy(&input.policy_document, &state.read_recursive())?;
            role.trust_policy = input.policy_document;
            Ok(())
        })
        .await
    }

    pub(crate) async fn attach_role_policy(&self, call: &Call, input: RolePolicyArnInput) -> Result<Outcome, AwsError> {
        let arn = input.policy_arn;
        self.edit_role(call, &input.role_name, |a, role| {
            require_modifiable(role)?;
            attach(a, &mut role.attached, &arn, POLICIES_PER_ROLE, "PoliciesPerRole")
        })
        .await
    }

    pub(crate) async fn detach_role_policy(&self, call: &Call, input: RolePolicyArnInput) -> Result<Outcome, AwsError> {
        let arn = input.policy_arn;
        self.edit_role(call, &input.role_name, |_, role| {
            require_modifiable(role)?;
            detach(&mut role.attached, &arn)
        })
        .await
    }

    pub(crate) fn list_attached_role_policies(
        &self,
        call: &Call,
        input: ListAttachedRoleInput,
    ) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let role = state.accounts.get(call.caller.account()).and_then(|a| a.role(&input.role_name));
        let role = role.ok_or_else(|| no_such_role(&input.role_name))?;
        Ok(Outcome::read(crate::attachments::attached_page(
            &role.attached,
            &input.path_prefix,
            &input.marker,
            input.max_items,
        )))
    }

    pub(crate) async fn put_role_permissions_boundary(
        &self,
        call: &Call,
        input: RoleBoundaryInput,
    ) -> Result<Outcome, AwsError> {
        let arn = input.permissions_boundary.unwrap_or_default();
        self.edit_role(call, &input.role_name, |a, role| {
            require_modifiable(role)?;
            require_attachable(a, &arn)?;
            role.permissions_boundary = Some(arn.clone());
            Ok(())
        })
        .await
    }

    pub(crate) async fn delete_role_permissions_boundary(
        &self,
        call: &Call,
        input: RoleBoundaryInput,
    ) -> Result<Outcome, AwsError> {
        self.edit_role(call, &input.role_name, |_, role| {
            require_modifiable(role)?;
            role.permissions_boundary = None;
            Ok(())
        })
        .await
    }

    pub(crate) async fn delete_role(&self, call: &Call, input: RoleNameInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let role = {
            let state = self.state.read();
            let empty = AccountState::default();
            let a = state.accounts.get(&account).unwrap_or(&empty);
            let role = a.role(&input.role_name).ok_or_else(|| no_such_role(&input.role_name))?;
            require_modifiable(role)?;
            require_no_policies(a, &role.role_id, &role.attached)?;
            if a.instance_profiles.values().any(|p| p.roles.contains(&role.role_id)) {
                return Err(delete_conflict("Cannot delete entity, must remove roles from instance profile first."));
            }
            role.clone()
        };
        let resources = vec![role_resource(&role.name)];
        let change = self.role_removal(guard, account, role, Vec::new(), |_| ())?;
        Ok(Outcome { output: json!({}), resources, change: Some(change) })
    }

    /// Deletes `role`: its record, the trust policies that name it rewritten
    /// as AWS rewrites them, and its sessions ended; `more` writes go with
    /// it, and `then` is applied to the account's state with it.
    pub(crate) fn role_removal(
        &self,
        guard: tokio::sync::OwnedMutexGuard<()>,
        account: AccountId,
        role: Role,
        more: Vec<rampart_store::RecordWrite>,
        then: impl FnOnce(&mut AccountState) + Send + 'static,
    ) -> Result<rampart_core::Change, AwsError> {
        let arn = rampart_core::iam_arn(&account, "role", &role.path, &role.name);
        let rewrites = forget_trusted_principal(&self.state.read(), &arn, &role.role_id, Some(&role.role_id));
        let followers = self.follow_principal(&arn, &role.role_id)?;
        let mut writes = vec![delete(ROLE_KIND, &account, &role.role_id)];
        writes.extend(trust_rewrite_writes(&rewrites)?);
        writes.extend(more);
        let (follower_writes, follower_applies) = rampart_core::split_changes(followers);
        writes.extend(follower_writes);
        Ok(self.change(guard, writes, move |state: &mut State, credentials| {
            follower_applies();
            if let Some(a) = state.accounts.get_mut(&account) {
                a.roles.remove(&role.name.to_lowercase());
                then(a);
            }
            apply_trust_rewrites(state, rewrites);
            state.compiled.remove(&role.role_id);
            // Its sessions end with it: their next request is refused.
            credentials.forget_sessions_of(&format!("{}:", role.role_id));
        }))
    }
}
