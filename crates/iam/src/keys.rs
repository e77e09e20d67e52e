//! CreateAccessKey, ListAccessKeys, UpdateAccessKey, DeleteAccessKey, GetAccessKeyLastUsed.

use serde::Deserialize;
use serde_json::{json, Value};

use rampart_core::{
    ids, AwsError, Call, Change, CredentialEntry, Outcome, OutputMembers, Principal, Resource, Secret, SystemChange,
};
use rampart_wire::{ExceptionId, IamException};

use crate::errors::{no_such_user, sealing_failed};
use crate::listing::{page, page_output};
use crate::state::{AccessKey, AccountState, State, StoredLastUsed, KEY_KIND, LAST_USED_KIND, SERVICE_LAST_USED_KIND};
use crate::{delete, now_seconds, put, Iam};

/// IAM's quota of access keys per user (and per root user).
const ACCESS_KEYS_PER_USER: usize = 2;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateAccessKeyInput {
    user_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListAccessKeysInput {
    user_name: Option<String>,
    marker: Option<String>,
    max_items: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateAccessKeyInput {
    user_name: Option<String>,
    access_key_id: String,
    status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AccessKeyIdInput {
    user_name: Option<String>,
    access_key_id: String,
}

/// Whose keys an operation means: the named user, or else the caller itself.
#[derive(Debug, Clone)]
struct Owner {
    /// `None` for the root user.
    user_id: Option<String>,
    user_name: Option<String>,
    principal: Principal,
}

fn owner(call: &Call, account_state: Option<&AccountState>, user_name: Option<&str>) -> Result<Owner, AwsError> {
    let account = call.caller.account();
    match (user_name, &call.caller) {
        (Some(name), _) => {
            let user = account_state.and_then(|a| a.user(name)).ok_or_else(|| no_such_user(name))?;
            Ok(Owner {
                user_id: Some(user.user_id.clone()),
                user_name: Some(user.name.clone()),
                principal: user.principal(account),
            })
        }
        (None, Principal::Root { .. }) => Ok(Owner { user_id: None, user_name: None, principal: call.caller.clone() }),
        (None, Principal::AssumedRole { .. } | Principal::FederatedUser { .. } | Principal::Federated(_)) => {
            Err(crate::errors::user_name_required())
        }
        (None, Principal::User { user_id, name, .. }) => {
            let user = account_state.and_then(|a| a.user_by_id(user_id)).ok_or_else(|| no_such_user(name))?;
            Ok(Owner {
                user_id: Some(user.user_id.clone()),
                user_name: Some(user.name.clone()),
                principal: user.principal(account),
            })
        }
    }
}

fn no_such_key(access_key_id: &str) -> AwsError {
    IamException::NoSuchEntityException.error(format!("The Access Key with id {access_key_id} cannot be found."))
}

fn status(active: bool) -> &'static str {
    if active {
        "Active"
    } else {
        "Inactive"
    }
}

pub(crate) fn key_resource(access_key_id: &str) -> Resource {
    Resource { kind: "AWS::IAM::AccessKey".into(), name: access_key_id.to_string() }
}

impl Iam {
    pub(crate) async fn create_access_key(
        &self,
        call: &Call,
        input: CreateAccessKeyInput,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let owner = {
            let state = self.state.read();
            let account_state = state.accounts.get(&account);
            let owner = owner(call, account_state, input.user_name.as_deref())?;
            let existing = account_state.map(|a| a.keys_of(owner.user_id.as_deref()).len()).unwrap_or_default();
            if existing >= ACCESS_KEYS_PER_USER {
                return Err(IamException::LimitExceededException
                    .error(format!("Cannot exceed quota for AccessKeysPerUser: {ACCESS_KEYS_PER_USER}")));
            }
            owner
        };
        let access_key_id = ids::access_key_id(&account);
        let secret = Secret::new(ids::secret_access_key());
        let key = AccessKey {
            access_key_id: access_key_id.clone(),
            user_id: owner.user_id.clone(),
            active: true,
            create_date: now_seconds(call),
            created_ms: call.time_ms,
            sealed_secret: self.sealer.seal(secret.expose().as_bytes(), &access_key_id).map_err(sealing_failed)?,
        };
        let mut access_key = json!({
            "AccessKeyId": access_key_id,
            "Status": "Active",
            "SecretAccessKey": secret.expose(),
            "CreateDate": key.create_date,
        });
        if let Some(name) = &owner.user_name {
            access_key.set("UserName", json!(name));
        }
        let writes = vec![put(KEY_KIND, &account, &access_key_id, &key)?];
        let resources = vec![key_resource(&access_key_id)];
        let change = self.change(guard, writes, move |state: &mut State, credentials| {
            credentials.insert(access_key_id.clone(), CredentialEntry::new(secret, owner.principal, true));
            state.accounts.entry(account).or_default().keys.insert(access_key_id, key);
        });
        Ok(Outcome { output: json!({ "AccessKey": access_key }), resources, change: Some(change) })
    }

    pub(crate) fn list_access_keys(&self, call: &Call, input: ListAccessKeysInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let account_state = state.accounts.get(call.caller.account());
        let owner = owner(call, account_state, input.user_name.as_deref())?;
        let keys = account_state.map(|a| a.keys_of(owner.user_id.as_deref())).unwrap_or_default();
        // The marker is a key's place in creation order (`keys_of`'s order).
        let places: Vec<String> = keys
            .iter()
            .map(|k| format!("{:020}/{:020}/{}", k.create_date as i64, k.created_ms, k.access_key_id))
            .collect();
        let keyed = places.iter().zip(keys.iter().copied());
        let (items, next) = page(keyed, input.marker.as_deref(), input.max_items);
        let metadata: Vec<Value> = items
            .into_iter()
            .map(|k| {
                let mut m =
                    json!({"AccessKeyId": k.access_key_id, "Status": status(k.active), "CreateDate": k.create_date});
                if let Some(name) = &owner.user_name {
                    m.set("UserName", json!(name));
                }
                m
            })
            .collect();
        Ok(Outcome::read(page_output("AccessKeyMetadata", metadata, next)))
    }

    /// The key `access_key_id` if it belongs to the owner the call names.
    fn owned_key(&self, call: &Call, user_name: Option<&str>, access_key_id: &str) -> Result<AccessKey, AwsError> {
        let state = self.state.read();
        let account_state = state.accounts.get(call.caller.account());
        let owner = owner(call, account_state, user_name)?;
        account_state
            .and_then(|a| a.keys.get(access_key_id))
            .filter(|k| k.user_id == owner.user_id)
            .cloned()
            .ok_or_else(|| no_such_key(access_key_id))
    }

    pub(crate) async fn update_access_key(
        &self,
        call: &Call,
        input: UpdateAccessKeyInput,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let mut key = self.owned_key(call, input.user_name.as_deref(), &input.access_key_id)?;
        key.active = match input.status.as_str() {
            "Active" => true,
            "Inactive" => false,
            other => {
                return Err(crate::errors::validation_error(format!("1 validation error detected: Value '{other}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"),
                ))
            }
        };
        let writes = vec![put(KEY_KIND, &account, &key.access_key_id, &key)?];
        let resources = vec![key_resource(&key.access_key_id)];
        let change = self.change(guard, writes, move |state: &mut State, credentials| {
            credentials.set_active(&key.access_key_id, key.active);
            if let Some(a) = state.accounts.get_mut(&account) {
                a.keys.insert(key.access_key_id.clone(), key);
            }
        });
        Ok(Outcome { output: json!({}), resources, change: Some(change) })
    }

    pub(crate) async fn delete_access_key(&self, call: &Call, input: AccessKeyIdInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let key = self.owned_key(call, input.user_name.as_deref(), &input.access_key_id)?;
        let writes =
            vec![delete(KEY_KIND, &account, &key.access_key_id), delete(LAST_USED_KIND, &account, &key.access_key_id)];
        let resources = vec![key_resource(&key.access_key_id)];
        let change = self.change(guard, writes, move |state: &mut State, credentials| {
            credentials.remove(&key.access_key_id);
            if let Some(a) = state.accounts.get_mut(&account) {
                a.keys.remove(&key.access_key_id);
            }
        });
        Ok(Outcome { output: json!({}), resources, change: Some(change) })
    }

    pub(crate) fn get_access_key_last_used(&self, call: &Call, input: AccessKeyIdInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let account_state = state.accounts.get(call.caller.account());
        let key = account_state
            .and_then(|a| a.keys.get(&input.access_key_id))
            .ok_or_else(|| no_such_key(&input.access_key_id))?;
        let mut last_used = json!({"ServiceName": "N/A", "Region": "N/A"});
        if let Some(used) = self.credentials.get(&key.access_key_id).and_then(|e| e.last_used()) {
            last_used = json!({
                "LastUsedDate": (used.time_ms / 60_000 * 60) as f64,
                "ServiceName": used.service,
                "Region": used.region,
            });
        }
        let mut output = json!({ "AccessKeyLastUsed": last_used });
        if let Some(user) = key.user_id.as_deref().and_then(|id| account_state.and_then(|a| a.user_by_id(id))) {
            output.set("UserName", json!(user.name));
        }
        Ok(Outcome::read(output))
    }
}

impl Iam {
    /// Stores the last use of every key used since the last flush (a task:
    /// AWS records no event for it).
    pub(crate) async fn flush_last_used(&self) -> Result<Option<SystemChange>, String> {
        let guard = self.lock().await;
        let mut writes = Vec::new();
        let mut flushed = Vec::new();
        {
            let state = self.state.read();
            let done = self.last_used_flushed.lock();
            for (account, a) in &state.accounts {
                for akid in a.keys.keys() {
                    let Some(used) = self.credentials.get(akid).and_then(|e| e.last_used()) else { continue };
                    if done.get(akid) == Some(&used.time_ms) {
                        continue;
                    }
                    let stored = StoredLastUsed { time_ms: used.time_ms, service: used.service, region: used.region };
                    writes.push(put(LAST_USED_KIND, account, akid, &stored).map_err(|e| e.message)?);
                    flushed.push((akid.clone(), used.time_ms));
                }
            }
        }
        // Users' and roles' last use of each service, by the same rule;
        // the records of entities deleted since are deleted.
        {
            let state = self.state.read();
            let done = self.last_used_flushed.lock();
            let owner = |id: &str| {
                state.accounts.iter().find_map(|(account, a)| {
                    (a.role_by_id(id).is_some() || a.user_by_id(id).is_some()).then_some(account)
                })
            };
            for (entity, service, used) in self.last_access.entries() {
                let key = format!("{entity}/{service}");
                let marker = format!("use/{key}");
                match owner(&entity) {
                    Some(account) if done.get(&marker) != Some(&used.time_ms) => {
                        let stored = StoredLastUsed { time_ms: used.time_ms, service, region: used.region };
                        writes.push(put(SERVICE_LAST_USED_KIND, account, &key, &stored).map_err(|e| e.message)?);
                        flushed.push((marker, used.time_ms));
                    }
                    Some(_) => {}
                    None => {
                        self.last_access.forget(&entity);
                        let account = used.account.clone();
                        writes.push(rampart_store::RecordWrite::Delete { kind: SERVICE_LAST_USED_KIND, account, key });
                    }
                }
            }
        }
        if writes.is_empty() {
            return Ok(None);
        }
        let done = self.last_used_flushed.clone();
        let apply = Box::new(move || {
            done.lock().extend(flushed);
            drop(guard);
        });
        Ok(Some(SystemChange { change: Change { writes, apply }, events: Vec::new() }))
    }
}
