//! CreateUser, GetUser, ListUsers, UpdateUser, DeleteUser.

use serde::Deserialize;
use serde_json::{json, Value};

use rampart_core::{AwsError, Call, Outcome, Principal};
use rampart_wire::{ExceptionId, IamException};

use crate::errors::{delete_conflict, no_such_user};
use crate::listing::{page, page_output};
use crate::render::{user_json, user_resource};
use crate::state::{State, User, USER_KIND};
use crate::tagging::{new_tags, TagInput};
use crate::{delete, now_seconds, put, Iam};

/// IAM's quota of users per account.
const USERS_PER_ACCOUNT: usize = 5000;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateUserInput {
    user_name: String,
    path: Option<String>,
    permissions_boundary: Option<String>,
    #[serde(default)]
    tags: Vec<TagInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UserNameInput {
    user_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListUsersInput {
    path_prefix: Option<String>,
    marker: Option<String>,
    max_items: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateUserInput {
    user_name: String,
    new_path: Option<String>,
    new_user_name: Option<String>,
}

impl Iam {
    pub(crate) async fn create_user(&self, call: &Call, input: CreateUserInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let tags = new_tags(input.tags)?;
        let guard = self.lock().await;
        {
            let state = self.state.read();
            let existing = state.accounts.get(&account);
            if existing.and_then(|a| a.user(&input.user_name)).is_some() {
                return Err(IamException::EntityAlreadyExistsException
                    .error(format!("User with name {} already exists.", input.user_name)));
            }
            if let Some(boundary) = &input.permissions_boundary {
                crate::attachments::require_attachable(existing.unwrap_or(&Default::default()), boundary)?;
            }
            if existing.is_some_and(|a| a.users.len() >= USERS_PER_ACCOUNT) {
                return Err(IamException::LimitExceededException
                    .error(format!("Cannot exceed quota for UsersPerAccount: {USERS_PER_ACCOUNT}")));
            }
        }
        let user = User {
            user_id: rampart_core::ids::unique_id("AIDA"),
            name: input.user_name,
            path: input.path.unwrap_or_else(|| "/".to_string()),
            create_date: now_seconds(call),
            tags,
            permissions_boundary: input.permissions_boundary,
            attached: Vec::new(),
        };
        let output = json!({ "User": user_json(&account, &user, true) });
        let writes = vec![put(USER_KIND, &account, &user.user_id, &user)?];
        let resources = vec![user_resource(&user.name)];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            let a = state.accounts.entry(account).or_default();
            let user_id = user.user_id.clone();
            a.users.insert(user.name.to_lowercase(), user);
            let compiled = crate::policies::compile_principal(a, &user_id);
            state.compiled.insert(user_id, compiled);
        });
        Ok(Outcome { output, resources, change: Some(change) })
    }

    pub(crate) fn get_user(&self, call: &Call, input: UserNameInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account();
        let state = self.state.read();
        let account_state = state.accounts.get(account);
        let user = match (&input.user_name, &call.caller) {
            (Some(name), _) => account_state.and_then(|a| a.user(name)).ok_or_else(|| no_such_user(name))?,
            (None, Principal::User { user_id, name, .. }) => {
                account_state.and_then(|a| a.user_by_id(user_id)).ok_or_else(|| no_such_user(name))?
            }
            (None, Principal::AssumedRole { .. } | Principal::FederatedUser { .. } | Principal::Federated(_)) => {
                return Err(crate::errors::user_name_required())
            }
            (None, Principal::Root { .. }) => {
                let created = account_state.map(|a| a.create_date).unwrap_or_default();
                return Ok(Outcome::read(json!({
                    "User": {"UserId": account.as_str(), "Arn": call.caller.arn(), "CreateDate": created}
                })));
            }
        };
        Ok(Outcome::read(json!({ "User": user_json(account, user, true) })))
    }

    pub(crate) fn list_users(&self, call: &Call, input: ListUsersInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account();
        let state = self.state.read();
        let prefix = input.path_prefix.as_deref().unwrap_or("/");
        let users = state.accounts.get(account).map(|a| &a.users);
        let matching = users.into_iter().flatten().filter(|(_, u)| u.path.starts_with(prefix));
        let (items, next) = page(matching, input.marker.as_deref(), input.max_items);
        let users: Vec<Value> = items.into_iter().map(|u| user_json(account, u, false)).collect();
        Ok(Outcome::read(page_output("Users", users, next)))
    }

    pub(crate) async fn update_user(&self, call: &Call, input: UpdateUserInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let (old_key, old_arn, user) = {
            let state = self.state.read();
            let account_state = state.accounts.get(&account);
            let Some(current) = account_state.and_then(|a| a.user(&input.user_name)) else {
                return Err(no_such_user(&input.user_name));
            };
            let mut user = current.clone();
            if let Some(new_name) = &input.new_user_name {
                let taken = account_state.and_then(|a| a.user(new_name)).is_some_and(|u| u.user_id != user.user_id);
                if taken {
                    return Err(IamException::EntityAlreadyExistsException
                        .error(format!("User with name {new_name} already exists.")));
                }
                user.name = new_name.clone();
            }
            if let Some(path) = &input.new_path {
                user.path = path.clone();
            }
            (current.name.to_lowercase(), current.principal(&account).arn(), user)
        };
        // Trust follows the user, not its old name (AWS keeps principals by unique id).
        let new_arn = user.principal(&account).arn();
        let rewrites = if old_arn == new_arn {
            Vec::new()
        } else {
            crate::trust::forget_trusted_principal(&self.state.read(), &old_arn, &new_arn, None)
        };
        let followers = if old_arn == new_arn { Vec::new() } else { self.follow_principal(&old_arn, &new_arn)? };
        let mut writes = vec![put(USER_KIND, &account, &user.user_id, &user)?];
        writes.extend(crate::trust::trust_rewrite_writes(&rewrites)?);
        let (follower_writes, follower_applies) = rampart_core::split_changes(followers);
        writes.extend(follower_writes);
        let resources = vec![user_resource(&user.name)];
        let change = self.change(guard, writes, move |state: &mut State, credentials| {
            follower_applies();
            credentials.update_principal(&user.user_id, &user.principal(&account));
            let users = &mut state.accounts.entry(account).or_default().users;
            users.remove(&old_key);
            users.insert(user.name.to_lowercase(), user);
            crate::trust::apply_trust_rewrites(state, rewrites);
        });
        Ok(Outcome { output: json!({}), resources, change: Some(change) })
    }

    pub(crate) async fn delete_user(&self, call: &Call, input: UserNameInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let Some(name) = input.user_name else {
            return Err(crate::errors::validation_error("1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null",
            ));
        };
        let guard = self.lock().await;
        let user = {
            let state = self.state.read();
            let account_state = state.accounts.get(&account);
            let user = account_state.and_then(|a| a.user(&name)).ok_or_else(|| no_such_user(&name))?;
            if account_state.is_some_and(|a| !a.keys_of(Some(&user.user_id)).is_empty()) {
                return Err(delete_conflict("Cannot delete entity, must delete access keys first."));
            }
            if !user.attached.is_empty() {
                return Err(delete_conflict("Cannot delete entity, must detach all policies first."));
            }
            if account_state.is_some_and(|a| a.groups.values().any(|g| g.members.contains(&user.user_id))) {
                return Err(delete_conflict("Cannot delete entity, must remove user from all groups first."));
            }
            if account_state.is_some_and(|a| a.inline_policies.values().any(|p| p.owner_id == user.user_id)) {
                return Err(delete_conflict("Cannot delete entity, must delete policies first."));
            }
            if account_state.is_some_and(|a| a.mfa_devices_of(&user.user_id).next().is_some()) {
                return Err(delete_conflict("Cannot delete entity, must delete MFA device first."));
            }
            let referenced = account_state.is_some_and(|a| {
                a.service_credentials.values().any(|c| c.user_id == user.user_id)
                    || a.ssh_keys.values().any(|k| k.user_id == user.user_id)
            });
            if account_state.is_some_and(|a| a.signing_certificates.values().any(|c| c.user_id == user.user_id)) {
                return Err(delete_conflict("Cannot delete entity, must delete signing certificates first."));
            }
            if referenced {
                return Err(delete_conflict("Cannot delete entity, must remove referenced objects first."));
            }
            if account_state.is_some_and(|a| a.login_profiles.contains_key(&user.user_id)) {
                return Err(delete_conflict("Cannot delete entity, must delete login profile first."));
            }
            user.clone()
        };
        let arn = user.principal(&account).arn();
        let rewrites = crate::trust::forget_trusted_principal(&self.state.read(), &arn, &user.user_id, None);
        let followers = self.follow_principal(&arn, &user.user_id)?;
        let mut writes = vec![delete(USER_KIND, &account, &user.user_id)];
        writes.extend(crate::trust::trust_rewrite_writes(&rewrites)?);
        let (follower_writes, follower_applies) = rampart_core::split_changes(followers);
        writes.extend(follower_writes);
        let resources = vec![user_resource(&user.name)];
        let change = self.change(guard, writes, move |state: &mut State, credentials| {
            follower_applies();
            if let Some(a) = state.accounts.get_mut(&account) {
                a.users.remove(&user.name.to_lowercase());
            }
            crate::trust::apply_trust_rewrites(state, rewrites);
            credentials.forget_sessions_of(&user.user_id);
            state.compiled.remove(&user.user_id);
        });
        Ok(Outcome { output: json!({}), resources, change: Some(change) })
    }
}
