//! Groups: CreateGroup, GetGroup, ListGroups, UpdateGroup, DeleteGroup,
//! membership (AddUserToGroup, RemoveUserFromGroup, ListGroupsForUser) and
//! attached managed policies (Attach/Detach/ListAttachedGroupPolicies).
//! A group's policies apply to its members.

use serde::Deserialize;
use serde_json::{json, Value};

use rampart_core::{AwsError, Call, Outcome, OutputMembers, Resource};
use rampart_wire::{ExceptionId, IamException};

use crate::attachments::{attach, detach};
use crate::errors::{delete_conflict, no_such_group, no_such_user};
use crate::listing::{page, page_output};
use crate::policies::{recompile, require_no_policies};
use crate::render::{group_json, user_json};
use crate::state::{AccountState, Group, State, GROUP_KIND};

use crate::{delete, now_seconds, put, Iam};

/// IAM's quotas.
const GROUPS_PER_USER: usize = 10;
/// IAM's quota of groups per account.
pub(crate) const GROUPS_PER_ACCOUNT: usize = 300;
const POLICIES_PER_GROUP: usize = 10;

fn group_resource(name: &str) -> Resource {
    Resource { kind: "AWS::IAM::Group".into(), name: name.to_string() }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateGroupInput {
    group_name: String,
    path: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GroupPageInput {
    group_name: String,
    path_prefix: Option<String>,
    marker: Option<String>,
    max_items: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListGroupsInput {
    path_prefix: Option<String>,
    marker: Option<String>,
    max_items: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateGroupInput {
    group_name: String,
    new_group_name: Option<String>,
    new_path: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GroupNameInput {
    group_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct MembershipInput {
    group_name: String,
    user_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UserPageInput {
    user_name: String,
    marker: Option<String>,
    max_items: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GroupPolicyArnInput {
    group_name: String,
    policy_arn: String,
}

fn paged(items: Vec<(String, Value)>, member: &str, marker: Option<&str>, max: Option<usize>) -> Value {
    let (items, next) = page(items.iter().map(|(k, v)| (k, v.clone())), marker, max);
    page_output(member, items, next)
}

impl Iam {
    pub(crate) async fn create_group(&self, call: &Call, input: CreateGroupInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        if self.state.read().accounts.get(&account).and_then(|a| a.group(&input.group_name)).is_some() {
            return Err(IamException::EntityAlreadyExistsException
                .error(format!("Group with name {} already exists.", input.group_name)));
        }
        if self.state.read().accounts.get(&account).is_some_and(|a| a.groups.len() >= GROUPS_PER_ACCOUNT) {
            return Err(IamException::LimitExceededException
                .error(format!("Cannot exceed quota for GroupsPerAccount: {GROUPS_PER_ACCOUNT}")));
        }
        let group = Group {
            group_id: rampart_core::ids::unique_id("AGPA"),
            name: input.group_name,
            path: input.path.unwrap_or_else(|| "/".to_string()),
            create_date: now_seconds(call),
            members: Vec::new(),
            attached: Vec::new(),
        };
        let output = json!({ "Group": group_json(&account, &group) });
        let writes = vec![put(GROUP_KIND, &account, &group.group_id, &group)?];
        let resources = vec![group_resource(&group.name)];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            state.accounts.entry(account).or_default().groups.insert(group.name.to_lowercase(), group);
        });
        Ok(Outcome { output, resources, change: Some(change) })
    }

    pub(crate) fn get_group(&self, call: &Call, input: GroupPageInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account();
        let state = self.state.read();
        let empty = AccountState::default();
        let a = state.accounts.get(account).unwrap_or(&empty);
        let group = a.group(&input.group_name).ok_or_else(|| no_such_group(&input.group_name))?;
        let mut users: Vec<(String, Value)> = group
            .members
            .iter()
            .filter_map(|id| a.user_by_id(id))
            .map(|u| (u.name.to_lowercase(), user_json(account, u, false)))
            .collect();
        users.sort_by(|x, y| x.0.cmp(&y.0));
        let mut output = paged(users, "Users", input.marker.as_deref(), input.max_items);
        output.set("Group", group_json(account, group));
        Ok(Outcome::read(output))
    }

    pub(crate) fn list_groups(&self, call: &Call, input: ListGroupsInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account();
        let state = self.state.read();
        let prefix = input.path_prefix.as_deref().unwrap_or("/");
        let groups: Vec<(String, Value)> = state
            .accounts
            .get(account)
            .map(|a| {
                a.groups
                    .iter()
                    .filter(|(_, g)| g.path.starts_with(prefix))
                    .map(|(k, g)| (k.clone(), group_json(account, g)))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Outcome::read(paged(groups, "Groups", input.marker.as_deref(), input.max_items)))
    }

    /// Changes a group through `edit` and recompiles its members' policies.
    async fn edit_group(
        &self,
        call: &Call,
        group_name: &str,
        edit: impl FnOnce(&AccountState, &mut Group) -> Result<(), AwsError>,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let (old_key, group, before) = {
            let state = self.state.read();
            let empty = AccountState::default();
            let a = state.accounts.get(&account).unwrap_or(&empty);
            let current = a.group(group_name).ok_or_else(|| no_such_group(group_name))?;
            let mut group = current.clone();
            edit(a, &mut group)?;
            (current.name.to_lowercase(), group, current.members.clone())
        };
        let writes = vec![put(GROUP_KIND, &account, &group.group_id, &group)?];
        let resources = vec![group_resource(&group.name)];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            let a = state.accounts.entry(account.clone()).or_default();
            a.groups.remove(&old_key);
            let group_id = group.group_id.clone();
            a.groups.insert(group.name.to_lowercase(), group);
            // Members who left lose the group's policies; the others gain any change.
            for user_id in before {
                recompile(state, &account, &user_id);
            }
            recompile(state, &account, &group_id);
        });
        Ok(Outcome { output: json!({}), resources, change: Some(change) })
    }

    pub(crate) async fn update_group(&self, call: &Call, input: UpdateGroupInput) -> Result<Outcome, AwsError> {
        self.edit_group(call, &input.group_name, |a, group| {
            if let Some(new_name) = &input.new_group_name {
                if a.group(new_name).is_some_and(|g| g.group_id != group.group_id) {
                    return Err(IamException::EntityAlreadyExistsException
                        .error(format!("Group with name {new_name} already exists.")));
                }
                group.name = new_name.clone();
            }
            if let Some(path) = &input.new_path {
                group.path = path.clone();
            }
            Ok(())
        })
        .await
    }

    pub(crate) async fn add_user_to_group(&self, call: &Call, input: MembershipInput) -> Result<Outcome, AwsError> {
        let user_name = input.user_name;
        self.edit_group(call, &input.group_name, |a, group| {
            let user = a.user(&user_name).ok_or_else(|| no_such_user(&user_name))?;
            if !group.members.contains(&user.user_id) {
                let groups_of_user = a.groups.values().filter(|g| g.members.contains(&user.user_id)).count();
                if groups_of_user >= GROUPS_PER_USER {
                    return Err(IamException::LimitExceededException
                        .error(format!("Cannot exceed quota for GroupsPerUser: {GROUPS_PER_USER}")));
                }
                group.members.push(user.user_id.clone());
            }
            Ok(())
        })
        .await
    }

    pub(crate) async fn remove_user_from_group(
        &self,
        call: &Call,
        input: MembershipInput,
    ) -> Result<Outcome, AwsError> {
        let user_name = input.user_name;
        self.edit_group(call, &input.group_name, |a, group| {
            let user = a.user(&user_name).ok_or_else(|| no_such_user(&user_name))?;
            let before = group.members.len();
            group.members.retain(|m| m != &user.user_id);
            if group.members.len() == before {
                return Err(IamException::NoSuchEntityException
                    .error(format!("User {} is not in group {}.", user.name, group.name)));
            }
            Ok(())
        })
        .await
    }

    pub(crate) fn list_groups_for_user(&self, call: &Call, input: UserPageInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account();
        let state = self.state.read();
        let empty = AccountState::default();
        let a = state.accounts.get(account).unwrap_or(&empty);
        let user = a.user(&input.user_name).ok_or_else(|| no_such_user(&input.user_name))?;
        let groups: Vec<(String, Value)> = a
            .groups
            .iter()
            .filter(|(_, g)| g.members.contains(&user.user_id))
            .map(|(k, g)| (k.clone(), group_json(account, g)))
            .collect();
        Ok(Outcome::read(paged(groups, "Groups", input.marker.as_deref(), input.max_items)))
    }

    pub(crate) async fn attach_group_policy(
        &self,
        call: &Call,
        input: GroupPolicyArnInput,
    ) -> Result<Outcome, AwsError> {
        let arn = input.policy_arn;
        self.edit_group(call, &input.group_name, |a, group| {
            attach(a, &mut group.attached, &arn, POLICIES_PER_GROUP, "PoliciesPerGroup")
        })
        .await
    }

    pub(crate) async fn detach_group_policy(
        &self,
        call: &Call,
        input: GroupPolicyArnInput,
    ) -> Result<Outcome, AwsError> {
        let arn = input.policy_arn;
        self.edit_group(call, &input.group_name, |_, group| detach(&mut group.attached, &arn)).await
    }

    pub(crate) fn list_attached_group_policies(&self, call: &Call, input: GroupPageInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let empty = AccountState::default();
        let a = state.accounts.get(call.caller.account()).unwrap_or(&empty);
        let group = a.group(&input.group_name).ok_or_else(|| no_such_group(&input.group_name))?;
        let output =
            crate::attachments::attached_page(&group.attached, &input.path_prefix, &input.marker, input.max_items);
        Ok(Outcome::read(output))
    }

    pub(crate) async fn delete_group(&self, call: &Call, input: GroupNameInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let group = {
            let state = self.state.read();
            let empty = AccountState::default();
            let a = state.accounts.get(&account).unwrap_or(&empty);
            let group = a.group(&input.group_name).ok_or_else(|| no_such_group(&input.group_name))?;
            if !group.members.is_empty() {
                return Err(delete_conflict("Cannot delete entity, must remove users from group first."));
            }
            require_no_policies(a, &group.group_id, &group.attached)?;
            group.clone()
        };
        let writes = vec![delete(GROUP_KIND, &account, &group.group_id)];
        let resources = vec![group_resource(&group.name)];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            if let Some(a) = state.accounts.get_mut(&account) {
                a.groups.remove(&group.name.to_lowercase());
            }
        });
        Ok(Outcome { output: json!({}), resources, change: Some(change) })
    }
}
