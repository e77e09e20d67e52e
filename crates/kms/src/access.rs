//! Which key (and alias) each call acts on, as stored, with the key's
//! policy, its resource condition keys and the grant that may allow the
//! call — the access descriptor the pipeline authorizes before any handler
//! runs.
//!
//! A key is named by its id (in the caller's account and the call's
//! region), its ARN, an alias name (`alias/NAME`, the caller's) or an alias
//! ARN; only ARNs reach another account's keys. Decrypt may name none: the
//! ciphertext names its key, and that key is the one authorized.

use std::collections::BTreeMap;

use serde_json::Value;

use rampart_core::{Access, AccessTarget, Call, Check, RequestKey, ResourcePolicy};
use rampart_wire::{KmsOperation as O, OperationId};

use crate::crypto;
use crate::state::{Key, KeyRef, State};

/// A key as a request names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Named {
    Key(KeyRef),
    Alias { account: String, region: String, name: String },
}

impl Named {
    /// The ARN the name stands for (a key's or an alias's).
    pub fn arn(&self) -> String {
        match self {
            Named::Key(at) => at.arn(),
            Named::Alias { account, region, name } => alias_arn(account, region, name),
        }
    }
}

pub(crate) fn alias_arn(account: &str, region: &str, name: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:{name}")
}

/// Reads a `KeyId` as a request spells it. `None` for text that names no
/// key at all (an ARN of another service, an empty id).
pub(crate) fn name_key(call: &Call, text: &str) -> Option<Named> {
    if let Some(arn) = text.strip_prefix("arn:") {
        let arn = rampart_core::Arn::parse(&format!("arn:{arn}"))?;
        if arn.partition != "aws" || arn.service != "kms" || arn.region.is_empty() {
            return None;
        }
        rampart_core::AccountId::parse(&arn.account)?;
        if let Some(id) = arn.resource.strip_prefix("key/") {
            return valid_key_id(id).then(|| {
                Named::Key(KeyRef { account: arn.account.clone(), region: arn.region.clone(), key_id: id.to_string() })
            });
        }
        if arn.resource.starts_with("alias/") && arn.resource.len() > "alias/".len() {
            return Some(Named::Alias { account: arn.account, region: arn.region, name: arn.resource });
        }
        return None;
    }
    let account = call.caller.account().to_string();
    let region = call.region.clone();
    if text.starts_with("alias/") {
        return (text.len() > "alias/".len()).then(|| Named::Alias { account, region, name: text.to_string() });
    }
    valid_key_id(text).then(|| Named::Key(KeyRef { account, region, key_id: text.to_string() }))
}

/// A key id: a UUID, or a multi-Region key's `mrk-` and 32 hex digits.
pub(crate) fn valid_key_id(id: &str) -> bool {
    match id.strip_prefix("mrk-") {
        Some(hex) => hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        None => uuid::Uuid::try_parse(id).is_ok() && id.len() == 36,
    }
}

/// Whether an operation's key members take aliases (AWS: the cryptographic
/// operations, DescribeKey and GetPublicKey).
pub(crate) fn takes_aliases(operation: &str) -> bool {
    matches!(
        O::from_name(operation),
        Some(
            O::DescribeKey
                | O::GetPublicKey
                | O::Encrypt
                | O::Decrypt
                | O::ReEncrypt
                | O::GenerateDataKey
                | O::GenerateDataKeyWithoutPlaintext
                | O::GenerateDataKeyPair
                | O::GenerateDataKeyPairWithoutPlaintext
                | O::Sign
                | O::Verify
                | O::GenerateMac
                | O::VerifyMac
                | O::DeriveSharedSecret
        )
    )
}

/// The key a name stands for, if it exists.
pub(crate) fn resolve<'s>(state: &'s State, named: &Named) -> Option<&'s Key> {
    match named {
        Named::Key(at) => state.keys.get(at),
        Named::Alias { account, region, name } => {
            let alias = state.alias(account, region, name)?;
            state.keys.get(&KeyRef { account: account.clone(), region: region.clone(), key_id: alias.target.clone() })
        }
    }
}

/// The key a symmetric ciphertext names, in the call's region: a
/// multi-Region key's ciphertext decrypts wherever the key has a copy.
pub(crate) fn blob_key(call: &Call, blob_b64: &str) -> Option<KeyRef> {
    let bytes = crate::unb64(blob_b64)?;
    let parsed = crypto::parse_blob(&bytes)?;
    Some(blob_key_ref(call, parsed.key))
}

pub(crate) fn blob_key_ref(call: &Call, key: crypto::BlobKey) -> KeyRef {
    let region = if key.key_id.starts_with("mrk-") { call.region.clone() } else { key.region };
    KeyRef { account: key.account, region, key_id: key.key_id }
}

/// An encryption context member of the input, as a sorted map.
pub(crate) fn context_of(input: &Value, member: &str) -> BTreeMap<String, String> {
    input
        .get(member)
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

/// Whether a grant's grantee is the caller: its ARN, or for a role
/// session the role's.
fn is_grantee(call: &Call, grantee: &str) -> bool {
    call.caller.arn() == grantee || call.caller.role_arn().as_deref() == Some(grantee)
}

/// The grant of `key` that allows `operation` to the caller with this
/// encryption context (a grant's constraints hold only when the context
/// meets them).
fn grant_for(key: &Key, call: &Call, operation: &str, context: &BTreeMap<String, String>) -> Option<String> {
    key.grants
        .iter()
        .find(|g| {
            is_grantee(call, &g.grantee) && g.operations.iter().any(|o| o == operation) && g.constraints.allow(context)
        })
        .map(|g| g.grant_id.clone())
}

/// The key's resource condition keys (`kms:KeySpec`, `kms:ResourceAliases`, …).
fn key_condition_keys(key: &Key) -> Vec<(&'static str, String)> {
    let mut keys = vec![
        ("kms:KeySpec", key.spec.name().to_string()),
        ("kms:CustomerMasterKeySpec", key.spec.name().to_string()),
        ("kms:KeyUsage", key.usage.name().to_string()),
        ("kms:CustomerMasterKeyUsage", key.usage.name().to_string()),
        ("kms:KeyOrigin", key.record.origin.clone()),
        ("kms:MultiRegion", key.record.multi_region.to_string()),
    ];
    keys.extend(key.aliases.iter().map(|a| ("kms:ResourceAliases", a.clone())));
    keys
}

/// The check of `action` on the key `named` stands for. A key that does not
/// exist is checked on the ARN the request names, with no key policy: IAM
/// decides, and the handler answers NotFoundException.
fn key_check(state: &State, action: &str, named: Option<&Named>, grant: impl Fn(&Key) -> Option<String>) -> Check {
    let Some(named) = named else {
        return unscoped_check(action);
    };
    let Some(key) = resolve(state, named) else {
        // An AWS managed key that this call will create is authorized as it
        // will be: its ARN, its key policy.
        if let Some((at, policy)) = crate::managed::pending_managed_key(state, named) {
            let target = AccessTarget {
                arn: Some(at.arn()),
                tags: Vec::new(),
                condition_keys: vec![
                    ("kms:KeySpec", "SYMMETRIC_DEFAULT".to_string()),
                    ("kms:KeyUsage", "ENCRYPT_DECRYPT".to_string()),
                ],
            };
            let resource_policy = rampart_core::AccountId::parse(&at.account).map(|account| ResourcePolicy {
                name: "key-policy".to_string(),
                policy: std::sync::Arc::new(policy),
                account,
                required: true,
                binds_root: true,
            });
            return Check {
                action: action.to_string(),
                target,
                resource_policy,
                grant: None,
                request_keys: Vec::new(),
            };
        }
        let target = AccessTarget { arn: Some(named.arn()), ..AccessTarget::default() };
        return Check {
            action: action.to_string(),
            target,
            resource_policy: None,
            grant: None,
            request_keys: Vec::new(),
        };
    };
    let target =
        AccessTarget { arn: Some(key.arn()), tags: key.record.tags.clone(), condition_keys: key_condition_keys(key) };
    let resource_policy = rampart_core::AccountId::parse(&key.at.account).map(|account| ResourcePolicy {
        name: "key-policy".to_string(),
        policy: key.policy.clone(),
        account,
        required: true,
        binds_root: true,
    });
    Check { action: action.to_string(), target, resource_policy, grant: grant(key), request_keys: Vec::new() }
}

fn alias_check(action: &str, named: Option<&Named>) -> Check {
    let arn = named.map(Named::arn);
    Check {
        action: action.to_string(),
        target: AccessTarget { arn, ..AccessTarget::default() },
        resource_policy: None,
        grant: None,
        request_keys: Vec::new(),
    }
}

/// A check of an action with no resource (`*`), such as `kms:CreateKey`.
fn unscoped_check(action: &str) -> Check {
    alias_check(action, None)
}

/// One encryption context's condition keys: each pair
/// (`kms:EncryptionContext:KEY`) and the keys (`kms:EncryptionContextKeys`).
fn context_keys(context: &BTreeMap<String, String>) -> Vec<(String, Vec<String>)> {
    let mut keys: Vec<(String, Vec<String>)> =
        context.iter().map(|(k, v)| (format!("kms:EncryptionContext:{k}"), vec![v.clone()])).collect();
    if !context.is_empty() {
        keys.push(("kms:EncryptionContextKeys".to_string(), context.keys().cloned().collect()));
    }
    keys
}

/// The service condition keys a KMS request carries.
const REQUEST_KEYS: &[RequestKey] = &[
    // ReEncrypt's source and destination contexts and algorithms are each
    // their own check's (`Check::request_keys`).
    RequestKey::Family { prefix: "kms:EncryptionContext:", member: "EncryptionContext" },
    RequestKey::Member { key: "kms:EncryptionAlgorithm", member: "EncryptionAlgorithm" },
    RequestKey::Member { key: "kms:SigningAlgorithm", member: "SigningAlgorithm" },
    RequestKey::Member { key: "kms:MacAlgorithm", member: "MacAlgorithm" },
    RequestKey::Member { key: "kms:MessageType", member: "MessageType" },
    RequestKey::Member { key: "kms:KeyAgreementAlgorithm", member: "KeyAgreementAlgorithm" },
    RequestKey::Member { key: "kms:GrantOperations", member: "Operations" },
    RequestKey::Member { key: "kms:GranteePrincipal", member: "GranteePrincipal" },
    RequestKey::Member { key: "kms:RetiringPrincipal", member: "RetiringPrincipal" },
    RequestKey::Member { key: "kms:BypassPolicyLockoutSafetyCheck", member: "BypassPolicyLockoutSafetyCheck" },
    RequestKey::Member { key: "kms:ScheduleKeyDeletionPendingWindowInDays", member: "PendingWindowInDays" },
    RequestKey::Member { key: "kms:RotationPeriodInDays", member: "RotationPeriodInDays" },
    RequestKey::Member { key: "kms:DataKeyPairSpec", member: "KeyPairSpec" },
    RequestKey::Member { key: "kms:WrappingAlgorithm", member: "WrappingAlgorithm" },
    RequestKey::Member { key: "kms:WrappingKeySpec", member: "WrappingKeySpec" },
    RequestKey::Member { key: "kms:ExpirationModel", member: "ExpirationModel" },
];

/// CreateKey's: what the new key will be.
const CREATE_KEY_KEYS: &[RequestKey] = &[
    RequestKey::Member { key: "kms:KeySpec", member: "KeySpec" },
    RequestKey::Member { key: "kms:CustomerMasterKeySpec", member: "CustomerMasterKeySpec" },
    RequestKey::Member { key: "kms:KeyUsage", member: "KeyUsage" },
    RequestKey::Member { key: "kms:CustomerMasterKeyUsage", member: "KeyUsage" },
    RequestKey::Member { key: "kms:KeyOrigin", member: "Origin" },
    RequestKey::Member { key: "kms:MultiRegion", member: "MultiRegion" },
    RequestKey::Member { key: "kms:BypassPolicyLockoutSafetyCheck", member: "BypassPolicyLockoutSafetyCheck" },
];

pub(crate) fn access(state: &State, call: &Call, input: &Value) -> Access {
    let operation = O::from_name(call.operation);
    let text = |member: &str| input.get(member).and_then(Value::as_str);
    let named = |member: &str| text(member).and_then(|t| name_key(call, t));
    let own = |op: &str| format!("kms:{op}");
    let mut checks = Vec::new();
    let mut request_alias: Option<String> = None;
    match operation {
        // No resource (`*`), as the Service Authorization Reference lists them.
        None
        | Some(
            O::CreateKey
            | O::ListKeys
            | O::ListAliases
            | O::GenerateRandom
            | O::ListRetirableGrants
            | O::CreateCustomKeyStore
            | O::ConnectCustomKeyStore
            | O::DisconnectCustomKeyStore
            | O::DescribeCustomKeyStores
            | O::UpdateCustomKeyStore
            | O::DeleteCustomKeyStore,
        ) => {}
        Some(O::Decrypt) => {
            let target =
                named("KeyId").or_else(|| text("CiphertextBlob").and_then(|b| blob_key(call, b)).map(Named::Key));
            let context = context_of(input, "EncryptionContext");
            checks.push(key_check(state, "kms:Decrypt", target.as_ref(), |k| grant_for(k, call, "Decrypt", &context)));
        }
        Some(O::ReEncrypt) => {
            let source =
                named("SourceKeyId").or_else(|| text("CiphertextBlob").and_then(|b| blob_key(call, b)).map(Named::Key));
            let from = context_of(input, "SourceEncryptionContext");
            let to = context_of(input, "DestinationEncryptionContext");
            let mut from_check =
                key_check(state, "kms:ReEncryptFrom", source.as_ref(), |k| grant_for(k, call, "ReEncryptFrom", &from));
            from_check.request_keys = context_keys(&from);
            from_check.request_keys.extend(
                text("SourceEncryptionAlgorithm").map(|a| ("kms:EncryptionAlgorithm".to_string(), vec![a.to_string()])),
            );
            let mut to_check = key_check(state, "kms:ReEncryptTo", named("DestinationKeyId").as_ref(), |k| {
                grant_for(k, call, "ReEncryptTo", &to)
            });
            to_check.request_keys = context_keys(&to);
            to_check.request_keys.extend(
                text("DestinationEncryptionAlgorithm")
                    .map(|a| ("kms:EncryptionAlgorithm".to_string(), vec![a.to_string()])),
            );
            checks.push(from_check);
            checks.push(to_check);
        }
        Some(O::ReplicateKey) => {
            checks.push(key_check(state, "kms:ReplicateKey", named("KeyId").as_ref(), |_| None));
            // AWS: the replica is a new key in its region — kms:CreateKey
            // there, and kms:TagResource for its tags.
            checks.push(unscoped_check("kms:CreateKey"));
            if has_tags(input) {
                checks.push(unscoped_check("kms:TagResource"));
            }
        }
        Some(O::UpdatePrimaryRegion) => {
            // Both the primary that steps down and the replica that becomes primary.
            let current = named("KeyId");
            checks.push(key_check(state, "kms:UpdatePrimaryRegion", current.as_ref(), |_| None));
            if let (Some(Named::Key(at)), Some(region)) = (&current, text("PrimaryRegion")) {
                let replica = Named::Key(KeyRef { region: region.to_string(), ..at.clone() });
                checks.push(key_check(state, "kms:UpdatePrimaryRegion", Some(&replica), |_| None));
            }
        }
        Some(op @ (O::CreateAlias | O::UpdateAlias | O::DeleteAlias)) => {
            let action = own(op.name());
            let alias = named("AliasName").filter(|n| matches!(n, Named::Alias { .. }));
            checks.push(alias_check(&action, alias.as_ref()));
            let current = alias.as_ref().and_then(|a| resolve(state, a)).map(|k| Named::Key(k.at.clone()));
            if op != O::CreateAlias {
                checks.push(key_check(state, &action, current.as_ref(), |_| None));
            }
            if op != O::DeleteAlias {
                checks.push(key_check(state, &action, named("TargetKeyId").as_ref(), |_| None));
            }
        }
        Some(O::RetireGrant) => {
            let by_token = text("GrantToken").and_then(crate::grants::read_token);
            let target = match &by_token {
                Some((at, _)) => Some(Named::Key(at.clone())),
                None => named("KeyId"),
            };
            let grant_id = by_token.map(|(_, g)| g).or_else(|| text("GrantId").map(str::to_string));
            checks.push(key_check(state, "kms:RetireGrant", target.as_ref(), |key| {
                let grant = key.grants.iter().find(|g| Some(&g.grant_id) == grant_id.as_ref())?;
                let retiring = grant.retiring.as_deref().is_some_and(|r| is_grantee(call, r));
                let grantee_may =
                    is_grantee(call, &grant.grantee) && grant.operations.iter().any(|o| o == "RetireGrant");
                (retiring || grantee_may).then(|| grant.grant_id.clone())
            }));
        }
        Some(O::CreateGrant) => {
            let wanted: Vec<String> = input
                .get("Operations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|o| o.as_str().map(str::to_string))
                .collect();
            let constraints = crate::grants::constraints_of(input);
            checks.push(key_check(state, "kms:CreateGrant", named("KeyId").as_ref(), |key| {
                // A grant that allows CreateGrant allows only grants no wider than itself.
                key.grants
                    .iter()
                    .find(|g| {
                        is_grantee(call, &g.grantee)
                            && g.operations.iter().any(|o| o == "CreateGrant")
                            && wanted.iter().all(|w| g.operations.contains(w))
                            && (g.constraints.is_empty() || g.constraints == constraints)
                    })
                    .map(|g| g.grant_id.clone())
            }));
        }
        Some(op) => {
            let context = context_of(input, "EncryptionContext");
            let name = op.name();
            let target = named("KeyId");
            if let Some(Named::Alias { name, .. }) = &target {
                request_alias = Some(name.clone());
            }
            checks.push(key_check(state, &own(name), target.as_ref(), |k| grant_for(k, call, name, &context)));
        }
    }
    if matches!(operation, Some(O::Decrypt | O::ReEncrypt)) {
        if let Some(Named::Alias { name, .. }) = named("KeyId").or_else(|| named("SourceKeyId")) {
            request_alias = Some(name);
        }
    }
    // CreateKey with tags also needs kms:TagResource (AWS).
    if operation == Some(O::CreateKey) && has_tags(input) {
        checks.push(unscoped_check("kms:TagResource"));
    }
    let mut access = if checks.is_empty() { Access::own(call, Vec::new()) } else { own_checks(call, checks) };
    let keys = if operation == Some(O::CreateKey) { CREATE_KEY_KEYS } else { REQUEST_KEYS };
    access = access.with_request_keys(input, keys);
    let mut extra = vec![("kms:CallerAccount".to_string(), vec![call.caller.account().to_string()])];
    if operation == Some(O::CreateKey) {
        // A parameter left out is its default, and conditions see that.
        let defaults = [
            ("kms:KeySpec", "SYMMETRIC_DEFAULT"),
            ("kms:CustomerMasterKeySpec", "SYMMETRIC_DEFAULT"),
            ("kms:KeyUsage", "ENCRYPT_DECRYPT"),
            ("kms:CustomerMasterKeyUsage", "ENCRYPT_DECRYPT"),
            ("kms:KeyOrigin", "AWS_KMS"),
            ("kms:MultiRegion", "false"),
        ];
        for (key, default) in defaults {
            if !access.request_keys.iter().any(|(k, _)| k == key) {
                extra.push((key.to_string(), vec![default.to_string()]));
            }
        }
    }
    let keys_of_context = context_keys(&context_of(input, "EncryptionContext"));
    extra.extend(keys_of_context.into_iter().filter(|(k, _)| k == "kms:EncryptionContextKeys"));
    if let Some(alias) = request_alias {
        extra.push(("kms:RequestAlias".to_string(), vec![alias]));
    }
    if operation == Some(O::CreateGrant) {
        let constraints = crate::grants::constraints_of(input);
        let mut types = Vec::new();
        if constraints.equals.is_some() {
            types.push("EncryptionContextEquals".to_string());
        }
        if constraints.subset.is_some() {
            types.push("EncryptionContextSubset".to_string());
        }
        if !types.is_empty() {
            extra.push(("kms:GrantConstraintType".to_string(), types));
        }
        // Only AWS services create grants for their resources.
        extra.push(("kms:GrantIsForAWSResource".to_string(), vec!["false".to_string()]));
    }
    if operation == Some(O::ReEncrypt) {
        let same = access.checks.first().and_then(|c| c.target.arn.clone())
            == access.checks.get(1).and_then(|c| c.target.arn.clone());
        extra.push(("kms:ReEncryptOnSameKey".to_string(), vec![same.to_string()]));
    }
    access.request_keys.extend(extra);
    access
}

fn has_tags(input: &Value) -> bool {
    input.get("Tags").and_then(Value::as_array).is_some_and(|t| !t.is_empty())
}

fn own_checks(call: &Call, checks: Vec<Check>) -> Access {
    let mut access = Access::own(call, Vec::new());
    access.checks = checks;
    access
}
