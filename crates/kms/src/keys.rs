//! Keys: creation, description, listing, enabling, key policies, tags,
//! scheduled deletion and rotation.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};

use rampart_core::tags::{TagProblem, TagRules};
use rampart_core::{paging, Call, Outcome, OutputMembers};
use rampart_policy::{evaluate, Caller, Policy, PolicyKind, PolicyRef, PolicySet, Request};
use rampart_wire::{AwsError, ExceptionId, KmsException as E};

use crate::access::{name_key, resolve, Named};
use crate::crypto::{KeySpec, KeyUsage, Material};
use crate::errors::{self, key_not_found, state_error, validation};
use crate::state::{Key, KeyRecord, KeyRef, KeyState, KeyVersion, State, KEY_KIND, MATERIAL_KIND};
use crate::{key_resource, put, Kms, Mutation};

/// KMS's tag rules: 50 per key, keys case-sensitive, `aws:` reserved.
pub(crate) const TAG_RULES: TagRules =
    TagRules { per_resource: 50, keys_ignore_case: false, reserved_prefix: Some("aws:") };
/// Keys per account and region (AWS's default quota).
const KEYS_PER_REGION: usize = 100_000;
/// A key policy's largest size, in bytes.
const POLICY_BYTES: usize = 32_768;
const DEFAULT_ROTATION_DAYS: u32 = 365;
const ON_DEMAND_ROTATIONS: usize = 10;
pub(crate) const DAY_SECONDS: f64 = 86_400.0;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TagInput {
    pub tag_key: String,
    pub tag_value: String,
}

fn tag_pairs(tags: &[TagInput]) -> Vec<(String, String)> {
    tags.iter().map(|t| (t.tag_key.clone(), t.tag_value.clone())).collect()
}

fn tag_problem(problem: TagProblem) -> AwsError {
    match problem {
        TagProblem::DuplicateKey(_) => errors::tag_error("Duplicate tag keys"),
        TagProblem::TooMany(_) => errors::tag_error("Too many tags"),
        TagProblem::Reserved(_) => errors::tag_error("Tags beginning with aws: are reserved"),
    }
}

/// AWS's default key policy: the account root may do everything, which
/// lets the account's IAM policies decide. Spelled as AWS returns it.
pub(crate) fn default_policy(account: &str) -> String {
    format!(
        "{{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {{\n    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {{\n      \"AWS\" : \"arn:aws:iam::{account}:root\"\n    }},\n    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  }} ]\n}}"
    )
}

/// Parses a key policy as KMS checks it.
pub(crate) fn parse_policy(text: &str) -> Result<Policy, AwsError> {
    if text.len() > POLICY_BYTES {
        return Err(errors::limit(format!("Policy document is longer than {POLICY_BYTES} bytes.")));
    }
    // AWS answers a document that is not JSON with an empty message.
    if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
        return Err(errors::malformed_policy(""));
    }
    Policy::parse(text, PolicyKind::Resource).map_err(|e| errors::malformed_policy(e.to_string()))
}

/// AWS's lockout safety check: the new policy must let the caller change
/// the policy again (directly, or through the account, which delegates to
/// IAM policies).
pub(crate) fn check_lockout(policy: &Policy, call: &Call, key_arn: &str, account: &str) -> Result<(), AwsError> {
    static IAM_ALLOWS: std::sync::LazyLock<Option<Policy>> = std::sync::LazyLock::new(|| {
        let all = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        Policy::parse(all, PolicyKind::Identity).ok()
    });
    let arn = call.caller.arn();
    let role_arn = call.caller.role_arn();
    let caller = Caller {
        arn: &arn,
        account: call.caller.account().as_str(),
        role_arn: role_arn.as_deref(),
        service: None,
        federated: None,
    };
    let context = rampart_policy::Context::new();
    let request = Request {
        caller: Some(caller),
        resource_account: Some(account),
        ..Request::identity("kms:PutKeyPolicy", key_arn, &context)
    };
    let set = PolicySet {
        identity: IAM_ALLOWS.iter().map(|p| PolicyRef { name: "iam", policy: p }).collect(),
        resource: vec![PolicyRef { name: "key-policy", policy }],
        resource_required: true,
        ..PolicySet::default()
    };
    if evaluate(&request, &set).is_allowed() {
        return Ok(());
    }
    Err(errors::malformed_policy("The new key policy will not allow you to update the key policy in the future."))
}

/// KeyMetadata as DescribeKey and CreateKey return it; `copies` are a
/// multi-Region key's copies, this one first (`multi_region::copies`).
pub(crate) fn metadata(key: &Key, copies: &[&Key]) -> Value {
    let r = &key.record;
    let mut m = json!({
        "AWSAccountId": key.at.account,
        "KeyId": key.at.key_id,
        "Arn": key.arn(),
        "CreationDate": r.created,
        "Enabled": key.state() == KeyState::Enabled,
        "Description": r.description,
        "KeyUsage": key.usage.name(),
        "KeyState": key.state().name(),
        "Origin": r.origin,
        "KeyManager": r.manager,
        "CustomerMasterKeySpec": key.spec.name(),
        "KeySpec": key.spec.name(),
        "MultiRegion": r.multi_region,
    });
    let encryption = key.spec.encryption_algorithms(key.usage);
    if !encryption.is_empty() {
        m.set("EncryptionAlgorithms", json!(encryption));
    }
    let signing = key.spec.signing_algorithms(key.usage);
    if !signing.is_empty() {
        m.set("SigningAlgorithms", json!(signing));
    }
    if key.spec.is_hmac() {
        m.set("MacAlgorithms", json!(key.spec.mac_algorithms()));
    }
    if key.usage == KeyUsage::KeyAgreement {
        m.set("KeyAgreementAlgorithms", json!(["ECDH"]));
    }
    if matches!(r.state, KeyState::PendingDeletion | KeyState::PendingReplicaDeletion) {
        if let Some(date) = r.deletion_date {
            m.set("DeletionDate", json!(date));
        }
        if let Some(days) = r.pending_window_days {
            m.set("PendingDeletionWindowInDays", json!(days));
        }
    }
    if r.origin == "EXTERNAL" && !key.materials.is_empty() {
        m.set(
            "ExpirationModel",
            json!(if r.valid_to.is_some() { "KEY_MATERIAL_EXPIRES" } else { "KEY_MATERIAL_DOES_NOT_EXPIRE" }),
        );
        if let Some(valid_to) = r.valid_to {
            m.set("ValidTo", json!(valid_to));
        }
    }
    if key.spec == KeySpec::SymmetricDefault {
        if let Some(v) = r.versions.last().filter(|_| key.has_material()) {
            m.set("CurrentKeyMaterialId", json!(v.material_id));
        }
    }
    if let Some(store) = &r.custom_key_store_id {
        m.set("CustomKeyStoreId", json!(store));
    }
    if let Some(cluster) = &r.cloud_hsm_cluster_id {
        m.set("CloudHsmClusterId", json!(cluster));
    }
    if r.multi_region {
        let alone = [key];
        let copies = if copies.is_empty() { &alone[..] } else { copies };
        if let Some(config) = crate::multi_region::configuration(copies) {
            m.set("MultiRegionConfiguration", config);
        }
    }
    m
}

impl Kms {
    /// The key a `KeyId` names by key id, key ARN, alias name or alias ARN
    /// (DescribeKey, GetPublicKey and the cryptographic operations take
    /// aliases), or AWS's NotFoundException. A key of another region is
    /// not reachable from this one.
    pub(crate) fn find_any<'s>(state: &'s State, call: &Call, key_id: &str) -> Result<&'s Key, AwsError> {
        let named = name_key(call, key_id).ok_or_else(|| errors::invalid_key_id(key_id))?;
        let region = match &named {
            Named::Key(at) => &at.region,
            Named::Alias { region, .. } => region,
        };
        if region != &call.region {
            return Err(E::NotFoundException.error(format!("Invalid arn {region}")));
        }
        resolve(state, &named).ok_or_else(|| match &named {
            Named::Key(at) => key_not_found(&at.arn()),
            Named::Alias { .. } => errors::alias_not_found(&named.arn()),
        })
    }

    /// The key a `KeyId` names by key id or key ARN, of any account: the
    /// grant operations take no aliases but work across accounts.
    pub(crate) fn find_shared<'s>(state: &'s State, call: &Call, key_id: &str) -> Result<&'s Key, AwsError> {
        match name_key(call, key_id) {
            Some(Named::Alias { .. }) if key_id.starts_with("arn:") => {
                Err(E::InvalidArnException.error("Key Aliases are not supported for this operation."))
            }
            Some(Named::Alias { .. }) => Err(errors::invalid_key_id(key_id)),
            _ => Kms::find_any(state, call, key_id),
        }
    }

    /// The caller's own key that a `KeyId` names by key id or key ARN: key
    /// management takes no aliases and no other account's keys.
    pub(crate) fn find<'s>(state: &'s State, call: &Call, key_id: &str) -> Result<&'s Key, AwsError> {
        let key = Kms::find_shared(state, call, key_id)?;
        if key.at.account != call.caller.account().as_str() {
            return Err(key_not_found(&key.arn()));
        }
        Ok(key)
    }

    /// Seals a version's material for its record.
    pub(crate) fn seal_material(&self, at: &KeyRef, version: u32, material: &Material) -> Result<String, AwsError> {
        self.sealer.seal(material.bytes(), &at.material_context(version)).map_err(|_| errors::failure())
    }

    /// The writes that store a key (its record; its material separately).
    pub(crate) fn key_writes(
        &self,
        key: &Key,
        new_material: Option<(u32, &Material)>,
    ) -> Result<Vec<rampart_store::RecordWrite>, AwsError> {
        let mut writes = vec![put(KEY_KIND, &key.at.account, &key.at.record_key(), &key.record)?];
        if let Some((version, material)) = new_material {
            let sealed = self.seal_material(&key.at, version, material)?;
            writes.push(put(MATERIAL_KIND, &key.at.account, &key.at.material_key(version), &sealed)?);
        }
        Ok(writes)
    }

    /// Changes one key's record, keeping its material: `edit` sees the key
    /// and returns the output.
    pub(crate) async fn edit_key(
        &self,
        call: &Call,
        key_id: &str,
        edit: impl FnOnce(&Key, &mut KeyRecord) -> Result<Value, AwsError>,
    ) -> Result<Outcome, AwsError> {
        self.edit_key_in_state(call, key_id, |_, key, record| edit(key, record)).await
    }

    /// `edit_key` for an edit that depends on other keys too.
    pub(crate) async fn edit_key_in_state(
        &self,
        call: &Call,
        key_id: &str,
        edit: impl FnOnce(&State, &Key, &mut KeyRecord) -> Result<Value, AwsError>,
    ) -> Result<Outcome, AwsError> {
        self.mutate(|state| {
            let key = Kms::find(state, call, key_id)?;
            if key.record.manager == "AWS" {
                return Err(errors::unsupported(format!("{} is an AWS managed key: only AWS changes it.", key.arn())));
            }
            let mut record = key.record.clone();
            let output = edit(state, key, &mut record)?;
            let at = key.at.clone();
            let arn = key.arn();
            let writes = vec![put(KEY_KIND, &at.account, &at.record_key(), &record)?];
            Ok(Mutation {
                writes,
                apply: Box::new(move |state: &mut State| {
                    if let Some(key) = state.keys.get_mut(&at) {
                        if key.record.policy != record.policy {
                            if let Ok(policy) = Policy::parse(&record.policy, PolicyKind::Resource) {
                                key.policy = Arc::new(policy);
                            }
                        }
                        key.record = record;
                    }
                }),
                output,
                resources: vec![key_resource(&arn)],
            })
        })
        .await
    }

    pub(crate) async fn create_key(&self, call: &Call, input: CreateKeyInput) -> Result<Outcome, AwsError> {
        if input.key_spec.is_some() && input.customer_master_key_spec.is_some() {
            return Err(validation("You cannot specify KeySpec and CustomerMasterKeySpec in the same request."));
        }
        let spec_name = input.key_spec.or(input.customer_master_key_spec).unwrap_or_else(|| "SYMMETRIC_DEFAULT".into());
        let spec = KeySpec::parse(&spec_name)
            .ok_or_else(|| errors::unsupported(format!("KeySpec {spec_name} is not supported in this region.")))?;
        let usage = match input.key_usage.as_deref() {
            None if spec.is_hmac() || spec.is_ecc() => {
                return Err(validation(
                    "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.",
                ))
            }
            None => KeyUsage::EncryptDecrypt,
            Some(name) => KeyUsage::parse(name).ok_or_else(|| validation(format!("Invalid KeyUsage {name}")))?,
        };
        if !spec.usages().contains(&usage) {
            return Err(validation(format!("KeyUsage {} is not compatible with KeySpec {spec_name}", usage.name())));
        }
        let origin = input.origin.unwrap_or_else(|| "AWS_KMS".into());
        let multi_region = input.multi_region.unwrap_or(false);
        if input.xks_key_id.is_some() && origin != "EXTERNAL_KEY_STORE" {
            return Err(validation("XksKeyId is valid only for a key with Origin EXTERNAL_KEY_STORE."));
        }
        // A key in a custom key store: the store's cluster makes and keeps it.
        let cluster = match (origin.as_str(), &input.custom_key_store_id) {
            ("AWS_CLOUDHSM", Some(id)) => {
                let (cluster_id, _) = Kms::store_session(&self.state.read(), call, id)?;
                if spec != KeySpec::SymmetricDefault || usage != KeyUsage::EncryptDecrypt || multi_region {
                    return Err(errors::unsupported(
                        "A custom key store holds single-Region symmetric encryption keys only (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT).",
                    ));
                }
                Some((id.clone(), cluster_id))
            }
            ("AWS_CLOUDHSM" | "EXTERNAL_KEY_STORE", None) => {
                return Err(validation(format!("A key with Origin {origin} needs a CustomKeyStoreId.")))
            }
            (_, Some(id)) => {
                let at = (Kms::account_of(call), call.region.clone(), id.clone());
                if !self.state.read().key_stores.contains_key(&at) {
                    return Err(crate::key_stores::not_found(id));
                }
                return Err(validation(format!(
                    "A key in custom key store {id} needs Origin AWS_CLOUDHSM (the store's type)."
                )));
            }
            (_, None) => None,
        };
        match origin.as_str() {
            "AWS_KMS" | "AWS_CLOUDHSM" => {}
            "EXTERNAL" if !spec.is_asymmetric() || spec.is_rsa() || spec.is_ecc() => {}
            _ => return Err(validation(format!("Invalid Origin {origin}"))),
        }
        let account = Kms::account_of(call);
        let key_id = if multi_region {
            format!("mrk-{}", uuid::Uuid::new_v4().simple())
        } else {
            uuid::Uuid::new_v4().to_string()
        };
        let at = KeyRef { account: account.clone(), region: call.region.clone(), key_id };
        let policy_text = match input.policy {
            Some(text) => {
                let policy = parse_policy(&text)?;
                if !input.bypass_policy_lockout_safety_check.unwrap_or(false) {
                    check_lockout(&policy, call, &at.arn(), &account)?;
                }
                text
            }
            None => default_policy(&account),
        };
        let policy = Arc::new(parse_policy(&policy_text)?);
        let tags = tag_pairs(&input.tags.unwrap_or_default());
        TAG_RULES.check_request(&tags).map_err(tag_problem)?;
        let material = if origin == "AWS_KMS" {
            let generated = tokio::task::spawn_blocking(move || Material::generate(spec)).await;
            Some(generated.map_err(|_| errors::failure())?.map_err(|_| errors::failure())?)
        } else {
            None
        };
        let has_material = material.is_some() || cluster.is_some();
        let now = self.clock.now();
        let versions = match has_material {
            true => vec![KeyVersion { version: 1, material_id: errors::random_id()?, created: now, rotation: None }],
            false => Vec::new(),
        };
        let record = KeyRecord {
            key_id: at.key_id.clone(),
            created: now,
            description: input.description.unwrap_or_default(),
            spec: spec.name().to_string(),
            usage: usage.name().to_string(),
            origin,
            manager: "CUSTOMER".to_string(),
            state: if has_material { KeyState::Enabled } else { KeyState::PendingImport },
            policy: policy_text,
            tags,
            versions,
            rotation_enabled: false,
            rotation_period_days: None,
            next_rotation: None,
            deletion_date: None,
            pending_window_days: None,
            multi_region,
            primary_region: multi_region.then(|| call.region.clone()),
            valid_to: None,
            import_digest: None,
            last_used: None,
            custom_key_store_id: cluster.as_ref().map(|(store, _)| store.clone()),
            cloud_hsm_cluster_id: cluster.as_ref().map(|(_, cluster)| cluster.clone()),
            cluster_check: None,
        };
        let materials: BTreeMap<u32, Material> = material.into_iter().map(|m| (1, m)).collect();
        let key = Key {
            at: at.clone(),
            record,
            spec,
            usage,
            policy,
            materials,
            aliases: Vec::new(),
            grants: Vec::new(),
            cluster: None,
        };
        let arn = key.arn();
        let mut key = key;
        self.mutate(move |state| {
            if state.keys_of(&at.account, &at.region).count() >= KEYS_PER_REGION {
                return Err(errors::limit(format!(
                    "Key quota for this account in this region is {KEYS_PER_REGION} but the current usage is {KEYS_PER_REGION}."
                )));
            }
            if let Some(id) = key.record.custom_key_store_id.clone() {
                // Under the service's lock, so the store cannot disconnect
                // between the key's generation and its commit.
                let (_, session) = Kms::store_session(state, call, &id)?;
                key.record.cluster_check = Some(crate::key_stores::generate_in_cluster(session.as_ref(), &at.key_id)?);
                key.cluster = Some(session);
            }
            let writes = self.key_writes(&key, key.materials.get(&1).map(|m| (1, m)))?;
            let output = json!({ "KeyMetadata": metadata(&key, &[]) });
            Ok(Mutation {
                writes,
                apply: Box::new(move |state: &mut State| {
                    state.keys.insert(key.at.clone(), key);
                }),
                output,
                resources: vec![key_resource(&arn)],
            })
        })
        .await
    }

    pub(crate) async fn describe_key(&self, call: &Call, input: KeyIdInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let key = Kms::find_any(&state, call, &input.key_id)?;
        let copies = crate::multi_region::copies(&state, key);
        Ok(Outcome::read(json!({ "KeyMetadata": metadata(key, &copies) })))
    }

    pub(crate) async fn list_keys(&self, call: &Call, input: ListInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let account = call.caller.account().to_string();
        let mut keys: Vec<(String, Value)> = state
            .keys_of(&account, &call.region)
            .map(|k| (k.at.key_id.clone(), json!({"KeyId": k.at.key_id, "KeyArn": k.arn()})))
            .collect();
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        list_page(&keys, input.marker.as_deref(), input.limit.unwrap_or(100), "Keys")
    }

    pub(crate) async fn enable_key(&self, call: &Call, input: KeyIdInput) -> Result<Outcome, AwsError> {
        self.edit_key(call, &input.key_id, |key, record| {
            match key.state() {
                KeyState::Enabled | KeyState::Disabled if key.has_material() => record.state = KeyState::Enabled,
                _ => return Err(state_error(key)),
            }
            Ok(json!({}))
        })
        .await
    }

    pub(crate) async fn disable_key(&self, call: &Call, input: KeyIdInput) -> Result<Outcome, AwsError> {
        self.edit_key(call, &input.key_id, |key, record| {
            match key.state() {
                KeyState::Enabled | KeyState::Disabled => record.state = KeyState::Disabled,
                _ => return Err(state_error(key)),
            }
            Ok(json!({}))
        })
        .await
    }

    pub(crate) async fn update_key_description(
        &self,
        call: &Call,
        input: UpdateKeyDescriptionInput,
    ) -> Result<Outcome, AwsError> {
        self.edit_key(call, &input.key_id, |_, record| {
            record.description = input.description;
            Ok(json!({}))
        })
        .await
    }

    pub(crate) async fn get_key_policy(&self, call: &Call, input: KeyPolicyInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let key = Kms::find(&state, call, &input.key_id)?;
        let name = input.policy_name.unwrap_or_else(|| "default".into());
        if name != "default" {
            return Err(E::NotFoundException.error("No such policy exists"));
        }
        Ok(Outcome::read(json!({ "Policy": key.record.policy, "PolicyName": "default" })))
    }

    pub(crate) async fn put_key_policy(&self, call: &Call, input: PutKeyPolicyInput) -> Result<Outcome, AwsError> {
        let name = input.policy_name.unwrap_or_else(|| "default".into());
        if name != "default" {
            return Err(validation("PolicyName must be default"));
        }
        let bypass = input.bypass_policy_lockout_safety_check.unwrap_or(false);
        self.edit_key(call, &input.key_id, |key, record| {
            let policy = parse_policy(&input.policy)?;
            if !bypass {
                check_lockout(&policy, call, &key.arn(), &key.at.account)?;
            }
            record.policy = input.policy;
            Ok(json!({}))
        })
        .await
    }

    pub(crate) async fn list_key_policies(&self, call: &Call, input: KeyIdInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        Kms::find(&state, call, &input.key_id)?;
        Ok(Outcome::read(json!({ "PolicyNames": ["default"], "Truncated": false })))
    }

    pub(crate) async fn tag_resource(&self, call: &Call, input: TagResourceInput) -> Result<Outcome, AwsError> {
        let new = tag_pairs(&input.tags);
        self.edit_key(call, &input.key_id, |key, record| {
            if record.state == KeyState::PendingDeletion {
                return Err(state_error(key));
            }
            record.tags = TAG_RULES.apply(&record.tags, &new).map_err(tag_problem)?;
            Ok(json!({}))
        })
        .await
    }

    pub(crate) async fn untag_resource(&self, call: &Call, input: UntagResourceInput) -> Result<Outcome, AwsError> {
        self.edit_key(call, &input.key_id, |key, record| {
            if record.state == KeyState::PendingDeletion {
                return Err(state_error(key));
            }
            record.tags = TAG_RULES.remove(&record.tags, &input.tag_keys);
            Ok(json!({}))
        })
        .await
    }

    pub(crate) async fn list_resource_tags(&self, call: &Call, input: ListTagsInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let key = Kms::find(&state, call, &input.key_id)?;
        let tags: Vec<(String, Value)> = key
            .record
            .tags
            .iter()
            .enumerate()
            .map(|(i, (k, v))| (format!("{i:04}"), json!({"TagKey": k, "TagValue": v})))
            .collect();
        list_page(&tags, input.marker.as_deref(), input.limit.unwrap_or(50), "Tags")
    }

    pub(crate) async fn schedule_key_deletion(
        &self,
        call: &Call,
        input: ScheduleKeyDeletionInput,
    ) -> Result<Outcome, AwsError> {
        let days = input.pending_window_in_days.unwrap_or(30);
        if !(7..=30).contains(&days) {
            return Err(validation("PendingWindowInDays must be between 7 and 30"));
        }
        let now = self.clock.now();
        self.edit_key_in_state(call, &input.key_id, |state, key, record| {
            if record.manager == "AWS" {
                return Err(errors::unsupported(format!("{} is an AWS managed key and cannot be deleted.", key.arn())));
            }
            if matches!(record.state, KeyState::PendingDeletion | KeyState::PendingReplicaDeletion) {
                return Err(state_error(key));
            }
            record.pending_window_days = Some(days);
            // A multi-Region primary outlives its replicas: its window
            // begins when the last of them is deleted (`lifecycle`).
            if crate::multi_region::is_primary(key) && crate::multi_region::copies(state, key).len() > 1 {
                record.state = KeyState::PendingReplicaDeletion;
                return Ok(json!({
                    "KeyId": key.arn(),
                    "KeyState": "PendingReplicaDeletion",
                    "PendingWindowInDays": days,
                }));
            }
            let deletion = now + f64::from(days) * DAY_SECONDS;
            record.state = KeyState::PendingDeletion;
            record.deletion_date = Some(deletion);
            Ok(json!({
                "KeyId": key.arn(),
                "DeletionDate": deletion,
                "KeyState": "PendingDeletion",
                "PendingWindowInDays": days,
            }))
        })
        .await
    }

    pub(crate) async fn cancel_key_deletion(&self, call: &Call, input: KeyIdInput) -> Result<Outcome, AwsError> {
        self.edit_key(call, &input.key_id, |key, record| {
            if !matches!(record.state, KeyState::PendingDeletion | KeyState::PendingReplicaDeletion) {
                return Err(E::KMSInvalidStateException.error(format!("{} is not pending deletion.", key.arn())));
            }
            // As in AWS, a key whose deletion is cancelled is disabled (or
            // waits for material, when it has none).
            record.state = if key.has_material() { KeyState::Disabled } else { KeyState::PendingImport };
            record.deletion_date = None;
            record.pending_window_days = None;
            Ok(json!({ "KeyId": key.arn() }))
        })
        .await
    }

    pub(crate) async fn enable_key_rotation(&self, call: &Call, input: RotationInput) -> Result<Outcome, AwsError> {
        let days = input.rotation_period_in_days.unwrap_or(DEFAULT_ROTATION_DAYS);
        if !(90..=2560).contains(&days) {
            return Err(validation(format!(
                "1 validation error detected: Value '{days}' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value less than or equal to 2560 and greater than or equal to 90"
            )));
        }
        let now = self.clock.now();
        self.edit_key(call, &input.key_id, |key, record| {
            rotatable(key)?;
            record.rotation_enabled = true;
            record.rotation_period_days = Some(days);
            record.next_rotation = Some(now + f64::from(days) * DAY_SECONDS);
            Ok(json!({}))
        })
        .await
    }

    pub(crate) async fn disable_key_rotation(&self, call: &Call, input: KeyIdInput) -> Result<Outcome, AwsError> {
        self.edit_key(call, &input.key_id, |key, record| {
            rotatable(key)?;
            record.rotation_enabled = false;
            record.next_rotation = None;
            Ok(json!({}))
        })
        .await
    }

    pub(crate) async fn get_key_rotation_status(&self, call: &Call, input: KeyIdInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let key = Kms::find(&state, call, &input.key_id)?;
        let r = &key.record;
        let mut output = json!({ "KeyRotationEnabled": r.rotation_enabled, "KeyId": key.arn() });
        if r.rotation_enabled {
            output.set("RotationPeriodInDays", json!(r.rotation_period_days.unwrap_or(DEFAULT_ROTATION_DAYS)));
            if let Some(next) = r.next_rotation {
                output.set("NextRotationDate", json!(next));
            }
        }
        Ok(Outcome::read(output))
    }

    pub(crate) async fn rotate_key_on_demand(&self, call: &Call, input: KeyIdInput) -> Result<Outcome, AwsError> {
        let material = Material::generate(KeySpec::SymmetricDefault).map_err(|_| errors::failure())?;
        let now = self.clock.now();
        let id = errors::random_id()?;
        self.mutate(|state| {
            let key = Kms::find(state, call, &input.key_id)?;
            rotatable(key)?;
            let on_demand = key.record.versions.iter().filter(|v| v.rotation.as_deref() == Some("ON_DEMAND")).count();
            if on_demand >= ON_DEMAND_ROTATIONS {
                return Err(errors::limit(format!(
                    "The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {}",
                    key.arn()
                )));
            }
            let output = json!({ "KeyId": key.arn() });
            crate::multi_region::primary_only(key)?;
            self.rotation(state, key, material, id, now, "ON_DEMAND", output)
        })
        .await
    }

    /// A new version of a symmetric key's material, which new ciphertexts
    /// use — in every region of a multi-Region key, which shares its material.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn rotation(
        &self,
        state: &State,
        key: &Key,
        material: Material,
        material_id: String,
        now: f64,
        kind: &str,
        output: Value,
    ) -> Result<Mutation, AwsError> {
        let version = key.current_version().unwrap_or(0) + 1;
        let mut writes = Vec::new();
        let mut edits = Vec::new();
        for copy in crate::multi_region::copies(state, key) {
            let mut record = copy.record.clone();
            record.versions.push(KeyVersion {
                version,
                material_id: material_id.clone(),
                created: now,
                rotation: Some(kind.to_string()),
            });
            if record.rotation_enabled && kind == "AUTOMATIC" {
                let days = record.rotation_period_days.unwrap_or(DEFAULT_ROTATION_DAYS);
                record.next_rotation = Some(now + f64::from(days) * DAY_SECONDS);
            }
            let at = copy.at.clone();
            let sealed = self.seal_material(&at, version, &material)?;
            writes.push(put(KEY_KIND, &at.account, &at.record_key(), &record)?);
            writes.push(put(MATERIAL_KIND, &at.account, &at.material_key(version), &sealed)?);
            edits.push((at, record));
        }
        let arn = key.arn();
        Ok(Mutation {
            writes,
            apply: Box::new(move |state: &mut State| {
                for (at, record) in edits {
                    if let Some(key) = state.keys.get_mut(&at) {
                        key.record = record;
                        key.materials.insert(version, material.clone());
                    }
                }
            }),
            output,
            resources: vec![key_resource(&arn)],
        })
    }

    pub(crate) async fn list_key_rotations(&self, call: &Call, input: ListRotationsInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let key = Kms::find(&state, call, &input.key_id)?;
        rotatable(key)?;
        let rotations: Vec<(String, Value)> = key
            .record
            .versions
            .iter()
            .filter(|v| v.rotation.is_some() || input.include_key_material.as_deref() == Some("ALL_KEY_MATERIAL"))
            .map(|v| {
                let mut entry =
                    json!({ "KeyId": key.arn(), "RotationDate": v.created, "KeyMaterialId": v.material_id });
                if let Some(kind) = &v.rotation {
                    entry.set("RotationType", json!(kind));
                }
                (format!("{:010}", v.version), entry)
            })
            .collect();
        list_page(&rotations, input.marker.as_deref(), input.limit.unwrap_or(100), "Rotations")
    }
}

/// Only symmetric keys with KMS-made material rotate.
fn rotatable(key: &Key) -> Result<(), AwsError> {
    if key.record.origin != "AWS_KMS" {
        return Err(errors::wrong_origin(key));
    }
    if key.spec != KeySpec::SymmetricDefault {
        return Err(errors::unsupported(""));
    }
    match key.state() {
        KeyState::Enabled => Ok(()),
        _ => Err(state_error(key)),
    }
}

/// A page of a listing sorted by key, in KMS's spelling (`Truncated`,
/// `NextMarker`); a marker must be one this listing gave out.
pub(crate) fn list_page(
    items: &[(String, Value)],
    marker: Option<&str>,
    limit: usize,
    member: &str,
) -> Result<Outcome, AwsError> {
    if marker.is_some_and(|m| !items.iter().any(|(k, _)| k == m)) {
        return Err(E::InvalidMarkerException.error("Invalid marker"));
    }
    let page = paging::page(items.iter().map(|(k, v)| (k, v.clone())), marker, limit);
    Ok(Outcome::read(page.output(member, paging::PageSpelling::Kms)))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateKeyInput {
    policy: Option<String>,
    description: Option<String>,
    key_usage: Option<String>,
    customer_master_key_spec: Option<String>,
    key_spec: Option<String>,
    origin: Option<String>,
    custom_key_store_id: Option<String>,
    bypass_policy_lockout_safety_check: Option<bool>,
    tags: Option<Vec<TagInput>>,
    multi_region: Option<bool>,
    xks_key_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct KeyIdInput {
    pub key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListInput {
    pub limit: Option<usize>,
    pub marker: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateKeyDescriptionInput {
    key_id: String,
    description: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct KeyPolicyInput {
    key_id: String,
    policy_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutKeyPolicyInput {
    key_id: String,
    policy_name: Option<String>,
    policy: String,
    bypass_policy_lockout_safety_check: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TagResourceInput {
    key_id: String,
    tags: Vec<TagInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UntagResourceInput {
    key_id: String,
    tag_keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListTagsInput {
    key_id: String,
    limit: Option<usize>,
    marker: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ScheduleKeyDeletionInput {
    key_id: String,
    pending_window_in_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RotationInput {
    key_id: String,
    rotation_period_in_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListRotationsInput {
    key_id: String,
    include_key_material: Option<String>,
    limit: Option<usize>,
    marker: Option<String>,
}
