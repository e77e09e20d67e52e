//! Aliases: friendly names for keys, one account and region each.

use serde::Deserialize;
use serde_json::{json, Value};

use rampart_core::{Call, Outcome};
use rampart_wire::{AwsError, ExceptionId, KmsException as E};

use crate::access::{alias_arn, name_key, Named};
use crate::errors::{self, state_error, validation};
use crate::keys::list_page;
use crate::state::{AliasRecord, Key, KeyRef, KeyState, State, ALIAS_KIND};
use crate::{delete, key_resource, put, Kms, Mutation};

/// Aliases one key may have (AWS's quota).
const ALIASES_PER_KEY: usize = 50;

fn check_alias_name(name: &str) -> Result<(), AwsError> {
    if !name.starts_with("alias/") {
        return Err(validation(
            "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html",
        ));
    }
    if name.starts_with("alias/aws/") {
        // The AWS managed keys' names belong to AWS.
        return Err(AwsError::new("NotAuthorizedException", 400, ""));
    }
    let rest = name.strip_prefix("alias/").unwrap_or_default();
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-')) {
        return Err(E::InvalidAliasNameException.error(format!("{name} contains invalid characters for an alias")));
    }
    Ok(())
}

/// The key an alias may point at: named by id or key ARN, in the alias's
/// account and region, not pending deletion.
fn target<'s>(state: &'s State, call: &Call, text: &str) -> Result<&'s Key, AwsError> {
    match name_key(call, text) {
        Some(Named::Alias { .. }) => Err(validation("Aliases must refer to keys. Not aliases")),
        _ => {
            let key = Kms::find(state, call, text)?;
            if key.at.account != call.caller.account().as_str() || key.at.region != call.region {
                return Err(errors::key_not_found(&key.arn()));
            }
            if key.record.state == KeyState::PendingDeletion {
                return Err(state_error(key));
            }
            Ok(key)
        }
    }
}

fn alias_entry(account: &str, region: &str, alias: &AliasRecord) -> Value {
    json!({
        "AliasName": alias.name,
        "AliasArn": alias_arn(account, region, &alias.name),
        "TargetKeyId": alias.target,
        "CreationDate": alias.created,
        "LastUpdatedDate": alias.updated,
    })
}

impl Kms {
    pub(crate) async fn create_alias(&self, call: &Call, input: AliasInput) -> Result<Outcome, AwsError> {
        check_alias_name(&input.alias_name)?;
        let target_text = input.target_key_id.ok_or_else(|| validation("TargetKeyId is required."))?;
        let now = self.clock.now();
        self.mutate(|state| {
            let key = target(state, call, &target_text)?;
            let (account, region) = (key.at.account.clone(), key.at.region.clone());
            if state.alias(&account, &region, &input.alias_name).is_some() {
                return Err(E::AlreadyExistsException.error(format!(
                    "An alias with the name {} already exists",
                    alias_arn(&account, &region, &input.alias_name)
                )));
            }
            if key.aliases.len() >= ALIASES_PER_KEY {
                return Err(errors::limit(format!("{} already has {ALIASES_PER_KEY} aliases.", key.arn())));
            }
            let record = AliasRecord {
                name: input.alias_name.clone(),
                target: key.at.key_id.clone(),
                created: now,
                updated: now,
            };
            let writes = vec![put(ALIAS_KIND, &account, &format!("{region}/{}", record.name), &record)?];
            let arn = key.arn();
            Ok(Mutation {
                writes,
                apply: Box::new(move |state: &mut State| state.put_alias(&account, &region, record)),
                output: json!({}),
                resources: vec![key_resource(&arn)],
            })
        })
        .await
    }

    pub(crate) async fn update_alias(&self, call: &Call, input: AliasInput) -> Result<Outcome, AwsError> {
        check_alias_name(&input.alias_name)?;
        let target_text = input.target_key_id.ok_or_else(|| validation("TargetKeyId is required."))?;
        let now = self.clock.now();
        let account = Kms::account_of(call);
        let region = call.region.clone();
        self.mutate(|state| {
            let alias = state
                .alias(&account, &region, &input.alias_name)
                .ok_or_else(|| errors::alias_not_found(&alias_arn(&account, &region, &input.alias_name)))?;
            let new = target(state, call, &target_text)?;
            let old_at = KeyRef { account: account.clone(), region: region.clone(), key_id: alias.target.clone() };
            if let Some(old) = state.keys.get(&old_at) {
                let same_kind = old.spec.is_asymmetric() == new.spec.is_asymmetric()
                    && old.spec.is_hmac() == new.spec.is_hmac()
                    && old.usage == new.usage;
                if !same_kind {
                    return Err(validation(format!(
                        "{} is not the same type of KMS key as the alias's current key, {}.",
                        new.arn(),
                        old.arn()
                    )));
                }
            }
            let mut record = alias.clone();
            record.target = new.at.key_id.clone();
            record.updated = now;
            let writes = vec![put(ALIAS_KIND, &account, &format!("{region}/{}", record.name), &record)?];
            let arn = new.arn();
            Ok(Mutation {
                writes,
                apply: Box::new(move |state: &mut State| state.put_alias(&account, &region, record)),
                output: json!({}),
                resources: vec![key_resource(&arn)],
            })
        })
        .await
    }

    pub(crate) async fn delete_alias(&self, call: &Call, input: AliasInput) -> Result<Outcome, AwsError> {
        check_alias_name(&input.alias_name)?;
        let account = Kms::account_of(call);
        let region = call.region.clone();
        self.mutate(|state| {
            let alias = state
                .alias(&account, &region, &input.alias_name)
                .ok_or_else(|| errors::alias_not_found(&alias_arn(&account, &region, &input.alias_name)))?;
            let at = KeyRef { account: account.clone(), region: region.clone(), key_id: alias.target.clone() };
            let name = alias.name.clone();
            let writes = vec![delete(ALIAS_KIND, &account, &format!("{region}/{name}"))];
            let resources = vec![key_resource(&at.arn())];
            Ok(Mutation {
                writes,
                apply: Box::new(move |state: &mut State| state.remove_alias(&account, &region, &name)),
                output: json!({}),
                resources,
            })
        })
        .await
    }

    pub(crate) async fn list_aliases(&self, call: &Call, input: ListAliasesInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let account = Kms::account_of(call);
        let key_id = match &input.key_id {
            Some(text) => Some(Kms::find(&state, call, text)?.at.key_id.clone()),
            None => None,
        };
        let aliases: Vec<(String, Value)> = state
            .aliases
            .range((account.clone(), call.region.clone(), String::new())..)
            .take_while(|((a, r, _), _)| a == &account && r == &call.region)
            .filter(|(_, alias)| key_id.as_ref().is_none_or(|k| &alias.target == k))
            .map(|((a, r, name), alias)| (name.clone(), alias_entry(a, r, alias)))
            .collect();
        list_page(&aliases, input.marker.as_deref(), input.limit.unwrap_or(100), "Aliases")
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AliasInput {
    alias_name: String,
    target_key_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListAliasesInput {
    key_id: Option<String>,
    limit: Option<usize>,
    marker: Option<String>,
}
