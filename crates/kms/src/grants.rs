//! Grants: permissions on one key for one principal, usable as soon as
//! CreateGrant returns (it returns once the grant is committed and in
//! memory), retired by their retiring principal or grantee, revoked by the
//! key's administrators.

use std::collections::BTreeMap;

use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use rampart_core::{Call, Outcome, OutputMembers};
use rampart_wire::{AwsError, ExceptionId, KmsException as E};

use crate::crypto::{KeySpec, KeyUsage};
use crate::errors::{self, state_error, validation};
use crate::keys::list_page;
use crate::state::{Constraints, Grant, Key, KeyRef, KeyState, State, GRANT_KIND};
use crate::{delete, key_resource, put, Kms, Mutation};

/// Grants one key may have (AWS's quota).
const GRANTS_PER_KEY: usize = 50_000;
const TOKEN_PREFIX: &str = "rgt1";

/// A grant token: it names the grant and its key. Tokens are handles, not
/// secrets (AWS's are opaque too, and a grant allows only its grantee).
fn token(at: &KeyRef, grant_id: &str) -> String {
    let body = format!("{}\n{grant_id}", at.arn());
    format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body))
}

/// The key and grant id of a token `token` made.
pub(crate) fn read_token(text: &str) -> Option<(KeyRef, String)> {
    let body = text.strip_prefix(TOKEN_PREFIX)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(body).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (arn, grant_id) = text.split_once('\n')?;
    let arn = rampart_core::Arn::parse(arn)?;
    let key_id = arn.resource.strip_prefix("key/")?.to_string();
    (grant_id.len() == 64 && grant_id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(())?;
    Some((KeyRef { account: arn.account, region: arn.region, key_id }, grant_id.to_string()))
}

/// A CreateGrant input's `Constraints`.
pub(crate) fn constraints_of(input: &Value) -> Constraints {
    let map = |member: &str| -> Option<BTreeMap<String, String>> {
        let object = input.get("Constraints")?.get(member)?.as_object()?;
        Some(object.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
    };
    Constraints { equals: map("EncryptionContextEquals"), subset: map("EncryptionContextSubset") }
}

/// The grant operations a key supports (AWS: others are a ValidationError).
fn supported_operations(key: &Key) -> &'static [&'static str] {
    match (key.spec, key.usage) {
        (KeySpec::SymmetricDefault, _) => &[
            "Decrypt",
            "Encrypt",
            "GenerateDataKey",
            "GenerateDataKeyWithoutPlaintext",
            "ReEncryptFrom",
            "ReEncryptTo",
            "GenerateDataKeyPair",
            "GenerateDataKeyPairWithoutPlaintext",
            "DescribeKey",
            "CreateGrant",
            "RetireGrant",
        ],
        (_, KeyUsage::EncryptDecrypt) => &[
            "Decrypt",
            "Encrypt",
            "ReEncryptFrom",
            "ReEncryptTo",
            "GetPublicKey",
            "DescribeKey",
            "CreateGrant",
            "RetireGrant",
        ],
        (_, KeyUsage::SignVerify) => &["Sign", "Verify", "GetPublicKey", "DescribeKey", "CreateGrant", "RetireGrant"],
        (_, KeyUsage::GenerateVerifyMac) => &["GenerateMac", "VerifyMac", "DescribeKey", "CreateGrant", "RetireGrant"],
        (_, KeyUsage::KeyAgreement) => {
            &["DeriveSharedSecret", "GetPublicKey", "DescribeKey", "CreateGrant", "RetireGrant"]
        }
    }
}

/// A principal a grant may name: an IAM or STS ARN, or a service principal.
fn valid_principal(text: &str) -> bool {
    text.starts_with("arn:aws:iam::") || text.starts_with("arn:aws:sts::") || text.ends_with(".amazonaws.com")
}

fn grant_entry(key: &Key, grant: &Grant) -> Value {
    let mut entry = json!({
        "KeyId": key.arn(),
        "GrantId": grant.grant_id,
        "CreationDate": grant.created,
        "GranteePrincipal": grant.grantee,
        "IssuingAccount": format!("arn:aws:iam::{}:root", grant.issuing_account),
        "Operations": grant.operations,
    });
    if let Some(name) = &grant.name {
        entry.set("Name", json!(name));
    }
    if let Some(retiring) = &grant.retiring {
        entry.set("RetiringPrincipal", json!(retiring));
    }
    if !grant.constraints.is_empty() {
        let mut c = json!({});
        if let Some(equals) = &grant.constraints.equals {
            c.set("EncryptionContextEquals", json!(equals));
        }
        if let Some(subset) = &grant.constraints.subset {
            c.set("EncryptionContextSubset", json!(subset));
        }
        entry.set("Constraints", c);
    }
    entry
}

fn grant_record_key(at: &KeyRef, grant_id: &str) -> String {
    format!("{}/{}/{grant_id}", at.region, at.key_id)
}

/// The writes and memory change that remove a grant.
fn removal(key: &Key, grant_id: &str) -> Mutation {
    let at = key.at.clone();
    let id = grant_id.to_string();
    Mutation {
        writes: vec![delete(GRANT_KIND, &at.account, &grant_record_key(&at, grant_id))],
        apply: Box::new(move |state: &mut State| {
            if let Some(key) = state.keys.get_mut(&at) {
                key.grants.retain(|g| g.grant_id != id);
            }
        }),
        output: json!({}),
        resources: vec![key_resource(&key.arn())],
    }
}

impl Kms {
    pub(crate) async fn create_grant(&self, call: &Call, input: CreateGrantInput) -> Result<Outcome, AwsError> {
        if !valid_principal(&input.grantee_principal) {
            return Err(validation(format!("Invalid principal {}", input.grantee_principal)));
        }
        if let Some(retiring) = input.retiring_principal.as_deref().filter(|r| !valid_principal(r)) {
            return Err(validation(format!("Invalid principal {retiring}")));
        }
        if input.operations.is_empty() {
            return Err(validation("Operations must name at least one operation."));
        }
        let constraints = Constraints {
            equals: input.constraints.as_ref().and_then(|c| c.encryption_context_equals.clone()),
            subset: input.constraints.as_ref().and_then(|c| c.encryption_context_subset.clone()),
        };
        let now = self.clock.now();
        let grant_id = errors::random_id()?;
        self.mutate(|state| {
            let key = Kms::find_shared(state, call, &input.key_id)?;
            // A key of a disconnected custom key store (Unavailable) takes
            // grants, as AWS's key-state table allows.
            if key.record.state != KeyState::Enabled {
                return Err(state_error(key));
            }
            let supported = supported_operations(key);
            if let Some(op) = input.operations.iter().find(|op| !supported.contains(&op.as_str())) {
                return Err(validation(format!("Grant operation {op} is not supported for {}.", key.arn())));
            }
            if !constraints.is_empty() && key.spec != KeySpec::SymmetricDefault {
                return Err(validation("Grant constraints are supported only for symmetric encryption KMS keys."));
            }
            errors::dry_run(input.dry_run)?;
            // A grant of the same name and parameters is the same grant.
            if let Some(existing) = key.grants.iter().find(|g| {
                input.name.is_some()
                    && g.name == input.name
                    && g.grantee == input.grantee_principal
                    && g.retiring == input.retiring_principal
                    && g.operations == input.operations
                    && g.constraints == constraints
            }) {
                let output = json!({ "GrantToken": token(&key.at, &existing.grant_id), "GrantId": existing.grant_id });
                return Ok(Mutation {
                    writes: Vec::new(),
                    apply: Box::new(|_| {}),
                    output,
                    resources: vec![key_resource(&key.arn())],
                });
            }
            if key.grants.len() >= GRANTS_PER_KEY {
                return Err(errors::limit(format!("{} already has {GRANTS_PER_KEY} grants.", key.arn())));
            }
            let grant = Grant {
                grant_id: grant_id.clone(),
                key_id: key.at.key_id.clone(),
                name: input.name.clone(),
                grantee: input.grantee_principal.clone(),
                retiring: input.retiring_principal.clone(),
                operations: input.operations.clone(),
                constraints: constraints.clone(),
                created: now,
                issuing_account: call.caller.account().to_string(),
            };
            let at = key.at.clone();
            let writes = vec![put(GRANT_KIND, &at.account, &grant_record_key(&at, &grant_id), &grant)?];
            let output = json!({ "GrantToken": token(&at, &grant_id), "GrantId": grant_id });
            let resources = vec![key_resource(&key.arn())];
            Ok(Mutation {
                writes,
                apply: Box::new(move |state: &mut State| {
                    if let Some(key) = state.keys.get_mut(&at) {
                        key.grants.push(grant);
                    }
                }),
                output,
                resources,
            })
        })
        .await
    }

    pub(crate) async fn list_grants(&self, call: &Call, input: ListGrantsInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let key = Kms::find_shared(&state, call, &input.key_id)?;
        if let Some(id) = &input.grant_id {
            if !key.grants.iter().any(|g| &g.grant_id == id) {
                return Err(E::InvalidGrantIdException.error(""));
            }
        }
        let grants: Vec<(String, Value)> = key
            .grants
            .iter()
            .enumerate()
            .filter(|(_, g)| input.grant_id.as_ref().is_none_or(|id| &g.grant_id == id))
            .filter(|(_, g)| input.grantee_principal.as_ref().is_none_or(|p| &g.grantee == p))
            .map(|(i, g)| (format!("{i:06}"), grant_entry(key, g)))
            .collect();
        list_page(&grants, input.marker.as_deref(), input.limit.unwrap_or(50), "Grants")
    }

    pub(crate) async fn list_retirable_grants(
        &self,
        call: &Call,
        input: ListRetirableGrantsInput,
    ) -> Result<Outcome, AwsError> {
        // AWS: the principal must be of the caller's account (its grants may
        // be on any account's keys).
        let account = input.retiring_principal.split(':').nth(4).unwrap_or_default();
        if account != call.caller.account().as_str() {
            return Err(validation("RetiringPrincipal must be a principal in your AWS account."));
        }
        let state = self.state.read();
        let mut keys: Vec<&Key> = state.keys.values().collect();
        keys.sort_by(|a, b| a.at.cmp(&b.at));
        let grants: Vec<(String, Value)> = keys
            .iter()
            .flat_map(|key| {
                key.grants
                    .iter()
                    .filter(|g| g.retiring.as_deref() == Some(input.retiring_principal.as_str()))
                    .map(move |g| (format!("{}/{}", key.arn(), g.grant_id), grant_entry(key, g)))
            })
            .collect();
        list_page(&grants, input.marker.as_deref(), input.limit.unwrap_or(50), "Grants")
    }

    pub(crate) async fn retire_grant(&self, call: &Call, input: RetireGrantInput) -> Result<Outcome, AwsError> {
        let (key_name, grant_id) = match (&input.grant_token, &input.key_id, &input.grant_id) {
            (Some(token), _, _) => {
                let (at, id) =
                    read_token(token).ok_or_else(|| E::InvalidGrantTokenException.error("Invalid grant token"))?;
                (at.arn(), id)
            }
            (None, Some(key), Some(id)) => (key.clone(), id.clone()),
            _ => return Err(validation("Grant token OR (grant ID, key ID) must be specified")),
        };
        self.mutate(|state| {
            let key = Kms::find_shared(state, call, &key_name)?;
            if !key.grants.iter().any(|g| g.grant_id == grant_id) {
                return Err(E::InvalidGrantIdException.error(""));
            }
            errors::dry_run(input.dry_run)?;
            Ok(removal(key, &grant_id))
        })
        .await
    }

    pub(crate) async fn revoke_grant(&self, call: &Call, input: RevokeGrantInput) -> Result<Outcome, AwsError> {
        self.mutate(|state| {
            let key = Kms::find_shared(state, call, &input.key_id)?;
            if !key.grants.iter().any(|g| g.grant_id == input.grant_id) {
                return Err(E::NotFoundException.error(format!("Grant ID {} not found", input.grant_id)));
            }
            errors::dry_run(input.dry_run)?;
            Ok(removal(key, &input.grant_id))
        })
        .await
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ConstraintsInput {
    encryption_context_subset: Option<BTreeMap<String, String>>,
    encryption_context_equals: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateGrantInput {
    key_id: String,
    grantee_principal: String,
    retiring_principal: Option<String>,
    operations: Vec<String>,
    constraints: Option<ConstraintsInput>,
    name: Option<String>,
    dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListGrantsInput {
    key_id: String,
    limit: Option<usize>,
    marker: Option<String>,
    grant_id: Option<String>,
    grantee_principal: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListRetirableGrantsInput {
    retiring_principal: String,
    limit: Option<usize>,
    marker: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RetireGrantInput {
    grant_token: Option<String>,
    key_id: Option<String>,
    grant_id: Option<String>,
    dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RevokeGrantInput {
    key_id: String,
    grant_id: String,
    dry_run: Option<bool>,
}
