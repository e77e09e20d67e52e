//! Instance profiles: CreateInstanceProfile, GetInstanceProfile,
//! DeleteInstanceProfile, ListInstanceProfiles, the role in one
//! (AddRoleToInstanceProfile, RemoveRoleFromInstanceProfile) and
//! ListInstanceProfilesForRole. A profile holds at most one role, and a role
//! in a profile cannot be deleted.

use serde::Deserialize;
use serde_json::{json, Value};

use rampart_core::{AccountId, AwsError, Call, Outcome, Resource};
use rampart_wire::{ExceptionId, IamException};

use crate::errors::no_such_instance_profile;
use crate::errors::{delete_conflict, no_such_role};
use crate::listing::{page, page_output};
use crate::render::instance_profile_json;

use crate::state::{AccountState, InstanceProfile, State, INSTANCE_PROFILE_KIND};
use crate::tagging::{new_tags, TagInput};
use crate::{delete, now_seconds, put, Iam};

/// IAM's quotas: instance profiles per account, roles per instance profile.
const INSTANCE_PROFILES_PER_ACCOUNT: usize = 1000;
const ROLES_PER_INSTANCE_PROFILE: usize = 1;

fn instance_profile_resource(name: &str) -> Resource {
    Resource { kind: "AWS::IAM::InstanceProfile".into(), name: name.to_string() }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateInstanceProfileInput {
    instance_profile_name: String,
    path: Option<String>,
    #[serde(default)]
    tags: Vec<TagInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct InstanceProfileNameInput {
    instance_profile_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListInstanceProfilesInput {
    path_prefix: Option<String>,
    marker: Option<String>,
    max_items: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ProfileRoleInput {
    instance_profile_name: String,
    role_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RoleProfilesInput {
    role_name: String,
    marker: Option<String>,
    max_items: Option<usize>,
}

impl Iam {
    pub(crate) async fn create_instance_profile(
        &self,
        call: &Call,
        input: CreateInstanceProfileInput,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let tags = new_tags(input.tags)?;
        let guard = self.lock().await;
        {
            let state = self.state.read();
            let a = state.accounts.get(&account);
            if a.and_then(|a| a.instance_profile(&input.instance_profile_name)).is_some() {
                return Err(IamException::EntityAlreadyExistsException
                    .error(format!("Instance Profile {} already exists.", input.instance_profile_name)));
            }
            if a.map_or(0, |a| a.instance_profiles.len()) >= INSTANCE_PROFILES_PER_ACCOUNT {
                return Err(IamException::LimitExceededException.error(format!(
                    "Cannot exceed quota for InstanceProfilesPerAccount: {INSTANCE_PROFILES_PER_ACCOUNT}"
                )));
            }
        }
        let profile = InstanceProfile {
            instance_profile_id: rampart_core::ids::unique_id("AIPA"),
            name: input.instance_profile_name,
            path: input.path.unwrap_or_else(|| "/".to_string()),
            create_date: now_seconds(call),
            roles: Vec::new(),
            tags,
        };
        let output = json!({ "InstanceProfile": instance_profile_json(&account, &AccountState::default(), &profile) });
        self.store_profile(guard, account, profile, output)
    }

    /// Stores a new or changed profile and, once that is durable, keeps it in memory.
    fn store_profile(
        &self,
        guard: tokio::sync::OwnedMutexGuard<()>,
        account: AccountId,
        profile: InstanceProfile,
        output: Value,
    ) -> Result<Outcome, AwsError> {
        let writes = vec![put(INSTANCE_PROFILE_KIND, &account, &profile.instance_profile_id, &profile)?];
        let resources = vec![instance_profile_resource(&profile.name)];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            state.accounts.entry(account).or_default().instance_profiles.insert(profile.name.to_lowercase(), profile);
        });
        Ok(Outcome { output, resources, change: Some(change) })
    }

    /// Changes which role a profile holds: `edit` gets the stored profile and
    /// the role `RoleName` names (both must exist).
    async fn edit_profile_role(
        &self,
        call: &Call,
        input: ProfileRoleInput,
        edit: impl FnOnce(&mut InstanceProfile, &str) -> Result<(), AwsError>,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let profile = {
            let state = self.state.read();
            let a = state.accounts.get(&account);
            let mut profile = a
                .and_then(|a| a.instance_profile(&input.instance_profile_name))
                .cloned()
                .ok_or_else(|| no_such_instance_profile(&input.instance_profile_name))?;
            let role = a.and_then(|a| a.role(&input.role_name)).ok_or_else(|| no_such_role(&input.role_name))?;
            edit(&mut profile, &role.role_id)?;
            profile
        };
        self.store_profile(guard, account, profile, json!({}))
    }

    pub(crate) fn get_instance_profile(
        &self,
        call: &Call,
        input: InstanceProfileNameInput,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account();
        let state = self.state.read();
        let a = state.accounts.get(account);
        let (a, profile) = a
            .and_then(|a| Some((a, a.instance_profile(&input.instance_profile_name)?)))
            .ok_or_else(|| no_such_instance_profile(&input.instance_profile_name))?;
        Ok(Outcome::read(json!({ "InstanceProfile": instance_profile_json(account, a, profile) })))
    }

    pub(crate) async fn delete_instance_profile(
        &self,
        call: &Call,
        input: InstanceProfileNameInput,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let profile = {
            let state = self.state.read();
            let profile = state.accounts.get(&account).and_then(|a| a.instance_profile(&input.instance_profile_name));
            profile.cloned().ok_or_else(|| no_such_instance_profile(&input.instance_profile_name))?
        };
        if !profile.roles.is_empty() {
            return Err(delete_conflict("Cannot delete entity, must remove roles from instance profile first."));
        }
        let writes = vec![delete(INSTANCE_PROFILE_KIND, &account, &profile.instance_profile_id)];
        let resources = vec![instance_profile_resource(&profile.name)];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            if let Some(a) = state.accounts.get_mut(&account) {
                a.instance_profiles.remove(&profile.name.to_lowercase());
            }
        });
        Ok(Outcome { output: json!({}), resources, change: Some(change) })
    }

    pub(crate) fn list_instance_profiles(
        &self,
        call: &Call,
        input: ListInstanceProfilesInput,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account();
        let state = self.state.read();
        let empty = AccountState::default();
        let a = state.accounts.get(account).unwrap_or(&empty);
        let prefix = input.path_prefix.as_deref().unwrap_or("/");
        let listed = a.instance_profiles.iter().filter(|(_, p)| p.path.starts_with(prefix));
        let (items, next) = page(listed, input.marker.as_deref(), input.max_items);
        let items: Vec<Value> = items.into_iter().map(|p| instance_profile_json(account, a, p)).collect();
        Ok(Outcome::read(page_output("InstanceProfiles", items, next)))
    }

    pub(crate) fn list_instance_profiles_for_role(
        &self,
        call: &Call,
        input: RoleProfilesInput,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account();
        let state = self.state.read();
        let a = state.accounts.get(account);
        let (a, role) =
            a.and_then(|a| Some((a, a.role(&input.role_name)?))).ok_or_else(|| no_such_role(&input.role_name))?;
        let listed = a.instance_profiles.iter().filter(|(_, p)| p.roles.contains(&role.role_id));
        let (items, next) = page(listed, input.marker.as_deref(), input.max_items);
        let items: Vec<Value> = items.into_iter().map(|p| instance_profile_json(account, a, p)).collect();
        Ok(Outcome::read(page_output("InstanceProfiles", items, next)))
    }

    pub(crate) async fn add_role_to_instance_profile(
        &self,
        call: &Call,
        input: ProfileRoleInput,
    ) -> Result<Outcome, AwsError> {
        self.edit_profile_role(call, input, |profile, role_id| {
            if profile.roles.len() >= ROLES_PER_INSTANCE_PROFILE {
                return Err(IamException::LimitExceededException.error(format!(
                    "Cannot exceed quota for InstanceSessionsPerInstanceProfile: {ROLES_PER_INSTANCE_PROFILE}"
                )));
            }
            profile.roles.push(role_id.to_string());
            Ok(())
        })
        .await
    }

    pub(crate) async fn remove_role_from_instance_profile(
        &self,
        call: &Call,
        input: ProfileRoleInput,
    ) -> Result<Outcome, AwsError> {
        let role_name = input.role_name.clone();
        self.edit_profile_role(call, input, |profile, role_id| {
            if !profile.roles.iter().any(|id| id == role_id) {
                return Err(no_such_role(&role_name));
            }
            profile.roles.retain(|id| id != role_id);
            Ok(())
        })
        .await
    }
}
