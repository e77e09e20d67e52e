//! Multi-Region keys: one key id (`mrk-…`) and one set of material in
//! several regions of an account — a primary and its replicas. Each copy is
//! its own key (its own policy, tags, aliases, grants, state); the material
//! and its versions are shared, so a ciphertext from one region decrypts in
//! another, and only the primary rotates (for all of them).

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};

use rampart_core::tags::TagRules;
use rampart_core::{Call, Outcome};
use rampart_wire::{AwsError, ExceptionId, KmsException as E};

use crate::errors::{self, state_error, validation};
use crate::keys::{default_policy, metadata, parse_policy, TagInput, TAG_RULES};
use crate::state::{Key, KeyRef, KeyState, State, KEY_KIND, MATERIAL_KIND};
use crate::{key_resource, put, Kms, Mutation};

/// The key and, for a multi-Region key, its copies in the other regions.
pub(crate) fn copies<'s>(state: &'s State, key: &'s Key) -> Vec<&'s Key> {
    let mut all = vec![key];
    if key.record.multi_region {
        let mut others: Vec<&Key> = state
            .keys
            .values()
            .filter(|k| k.at.account == key.at.account && k.at.key_id == key.at.key_id && k.at.region != key.at.region)
            .collect();
        others.sort_by(|a, b| a.at.region.cmp(&b.at.region));
        all.extend(others);
    }
    all
}

/// The region of a multi-Region key's primary.
fn primary_region(key: &Key) -> &str {
    key.record.primary_region.as_deref().unwrap_or(&key.at.region)
}

/// Whether the key drives its material: a single-Region key, or a primary.
pub(crate) fn is_primary(key: &Key) -> bool {
    !key.record.multi_region || primary_region(key) == key.at.region
}

pub(crate) fn primary_only(key: &Key) -> Result<(), AwsError> {
    match is_primary(key) {
        true => Ok(()),
        false => Err(errors::unsupported(format!("{} is not a multi-Region primary key.", key.arn()))),
    }
}

/// `MultiRegionConfiguration` of a multi-Region key, from its copies.
pub(crate) fn configuration(copies: &[&Key]) -> Option<Value> {
    let key = copies.first()?;
    let primary = primary_region(key).to_string();
    let arn_in = |region: &str| KeyRef { region: region.to_string(), ..key.at.clone() }.arn();
    let replicas: Vec<Value> = copies
        .iter()
        .filter(|k| k.at.region != primary)
        .map(|k| json!({ "Arn": k.arn(), "Region": k.at.region }))
        .collect();
    Some(json!({
        "MultiRegionKeyType": if key.at.region == primary { "PRIMARY" } else { "REPLICA" },
        "PrimaryKey": { "Arn": arn_in(&primary), "Region": primary },
        "ReplicaKeys": replicas,
    }))
}

impl Kms {
    pub(crate) async fn replicate_key(&self, call: &Call, input: ReplicateKeyInput) -> Result<Outcome, AwsError> {
        if !rampart_core::regions::is_partition_region(&input.replica_region) {
            return Err(validation(format!("{} is not a valid region.", input.replica_region)));
        }
        let tags: Vec<(String, String)> =
            input.tags.iter().flatten().map(|t| (t.tag_key.clone(), t.tag_value.clone())).collect();
        let rules: &TagRules = &TAG_RULES;
        rules.check_request(&tags).map_err(|_| errors::tag_error("Invalid tags"))?;
        let now = self.clock.now();
        self.mutate(|state| {
            let key = Kms::find(state, call, &input.key_id)?;
            if !key.record.multi_region {
                return Err(errors::unsupported(format!("{} is not a multi-Region key.", key.arn())));
            }
            primary_only(key)?;
            if key.record.state != KeyState::Enabled && key.record.state != KeyState::Disabled {
                return Err(state_error(key));
            }
            if input.replica_region == key.at.region {
                return Err(validation(format!("The replica region {} is the primary key's region.", key.at.region)));
            }
            let at = KeyRef { region: input.replica_region.clone(), ..key.at.clone() };
            if state.keys.contains_key(&at) {
                return Err(E::AlreadyExistsException.error(format!(
                    "{} already has a replica in {}.",
                    key.arn(),
                    input.replica_region
                )));
            }
            let policy_text = match &input.policy {
                Some(text) => {
                    let policy = parse_policy(text)?;
                    if !input.bypass_policy_lockout_safety_check.unwrap_or(false) {
                        crate::keys::check_lockout(&policy, call, &at.arn(), &at.account)?;
                    }
                    text.clone()
                }
                None => default_policy(&at.account),
            };
            let mut record = key.record.clone();
            record.policy = policy_text.clone();
            record.tags = tags.clone();
            record.primary_region = Some(key.at.region.clone());
            record.created = now;
            if let Some(description) = &input.description {
                record.description = description.clone();
            }
            let replica = Key {
                at: at.clone(),
                record,
                spec: key.spec,
                usage: key.usage,
                policy: Arc::new(parse_policy(&policy_text)?),
                materials: key.materials.clone(),
                aliases: Vec::new(),
                grants: Vec::new(),
                cluster: None,
            };
            let mut writes = vec![put(KEY_KIND, &at.account, &at.record_key(), &replica.record)?];
            for (version, material) in &replica.materials {
                let sealed = self.seal_material(&at, *version, material)?;
                writes.push(put(MATERIAL_KIND, &at.account, &at.material_key(*version), &sealed)?);
            }
            // The primary knows its region is the primary's.
            let mut primary = key.record.clone();
            primary.primary_region = Some(key.at.region.clone());
            writes.push(put(KEY_KIND, &key.at.account, &key.at.record_key(), &primary)?);
            let mut view = vec![&replica];
            view.extend(copies(state, key));
            let replica_meta = metadata(&replica, &view);
            let output = json!({
                "ReplicaKeyMetadata": replica_meta,
                "ReplicaPolicy": policy_text,
                "ReplicaTags": tags.iter().map(|(k, v)| json!({"TagKey": k, "TagValue": v})).collect::<Vec<_>>(),
            });
            let resources = vec![key_resource(&key.arn()), key_resource(&at.arn())];
            let primary_at = key.at.clone();
            Ok(Mutation {
                writes,
                apply: Box::new(move |state: &mut State| {
                    if let Some(key) = state.keys.get_mut(&primary_at) {
                        key.record.primary_region = primary.primary_region;
                    }
                    state.keys.insert(at, replica);
                }),
                output,
                resources,
            })
        })
        .await
    }

    pub(crate) async fn update_primary_region(
        &self,
        call: &Call,
        input: UpdatePrimaryRegionInput,
    ) -> Result<Outcome, AwsError> {
        self.mutate(|state| {
            let key = Kms::find(state, call, &input.key_id)?;
            if !key.record.multi_region {
                return Err(errors::unsupported(format!("{} is not a multi-Region key.", key.arn())));
            }
            primary_only(key)?;
            if key.record.state != KeyState::Enabled {
                return Err(state_error(key));
            }
            let all = copies(state, key);
            if !all.iter().any(|k| k.at.region == input.primary_region && k.at.region != key.at.region) {
                return Err(E::NotFoundException.error(format!(
                    "{} has no replica in {}.",
                    key.arn(),
                    input.primary_region
                )));
            }
            let mut writes = Vec::new();
            let mut edits = Vec::new();
            for copy in all {
                let mut record = copy.record.clone();
                record.primary_region = Some(input.primary_region.clone());
                writes.push(put(KEY_KIND, &copy.at.account, &copy.at.record_key(), &record)?);
                edits.push(copy.at.clone());
            }
            let region = input.primary_region.clone();
            Ok(Mutation {
                writes,
                apply: Box::new(move |state: &mut State| {
                    for at in edits {
                        if let Some(key) = state.keys.get_mut(&at) {
                            key.record.primary_region = Some(region.clone());
                        }
                    }
                }),
                output: json!({}),
                resources: vec![key_resource(&key.arn())],
            })
        })
        .await
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ReplicateKeyInput {
    key_id: String,
    replica_region: String,
    policy: Option<String>,
    bypass_policy_lockout_safety_check: Option<bool>,
    description: Option<String>,
    tags: Option<Vec<TagInput>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdatePrimaryRegionInput {
    key_id: String,
    primary_region: String,
}
