//! KMS: keys that really encrypt, key policies and grants that really
//! decide, and key material that is really gone when a key is deleted.
//!
//! Layers, each importing only those before it: `crypto` (pure: material,
//! ciphertext format, signatures, MACs, ECDH), `state` (records and
//! memory), `errors`, `access` (which key a call acts on, its key policy
//! and the grant that may allow it); then the handlers — `keys` (lifecycle,
//! policies, tags, rotation), `cipher` (cryptographic operations),
//! `aliases`, `grants`, `key_stores` (custom key stores, whose keys live in
//! an HSM cluster) — and `lifecycle` (the tasks that rotate keys and
//! destroy them when their waiting period ends).
//!
//! Material is stored only sealed through the node's key wrapper, one
//! record per version; memory holds it opened (zeroized on drop), so a
//! cryptographic call never touches the disk or the root of trust.

mod access;
mod aliases;
mod cipher;
pub mod crypto;
mod errors;
mod grants;
mod import;
mod key_stores;
mod keys;
mod last_used;
mod lifecycle;
mod managed;
mod multi_region;
mod principals;
mod state;

pub use cipher::OfflineKeys;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, LazyLock};

use base64::Engine;
use parking_lot::RwLock;
use serde_json::Value;

use rampart_core::{
    Access, AwsError, BoxFuture, Call, Operation, OperationMeta, Outcome, Registry, Resource, Sealer, Service,
    ServiceId, SystemCommitter,
};
use rampart_store::{RecordWrite, Store};
use rampart_wire::KmsOperation as O;

use state::State;

/// The members that must never reach an audit record although the model
/// does not mark them sensitive: ciphertexts (a record would let anyone who
/// reads the trail decrypt later with the key's permission), private keys,
/// shared secrets, import tokens and material.
const SECRETS: &[&str] = &[
    "CiphertextBlob",
    "SourceCiphertextBlob",
    "CiphertextForRecipient",
    "PrivateKeyCiphertextBlob",
    "PrivateKeyPlaintext",
    "SharedSecret",
    "EncryptedKeyMaterial",
    "ImportToken",
    "Message",
    "Signature",
    "Mac",
    "Plaintext",
];

/// Every KMS operation of the model (`unserved.txt` lists none).
fn registry() -> &'static Registry<Kms, O> {
    macro_rules! op {
        ($kind:ident, $op:ident, $method:ident) => {
            Operation::<Kms, O>::$kind(O::$op, (), |kms, call, input| {
                Box::pin(async move { kms.$method(call, parse_input(input)?).await })
            })
            .secrets(SECRETS)
        };
    }
    static REGISTRY: LazyLock<Registry<Kms, O>> = LazyLock::new(|| {
        Registry::new(vec![
            op!(write, CreateKey, create_key),
            op!(read, DescribeKey, describe_key),
            op!(read, ListKeys, list_keys),
            op!(write, EnableKey, enable_key),
            op!(write, DisableKey, disable_key),
            op!(write, UpdateKeyDescription, update_key_description),
            op!(read, GetKeyPolicy, get_key_policy),
            op!(write, PutKeyPolicy, put_key_policy),
            op!(read, ListKeyPolicies, list_key_policies),
            op!(write, TagResource, tag_resource),
            op!(write, UntagResource, untag_resource),
            op!(read, ListResourceTags, list_resource_tags),
            op!(write, ScheduleKeyDeletion, schedule_key_deletion),
            op!(write, CancelKeyDeletion, cancel_key_deletion),
            op!(write, EnableKeyRotation, enable_key_rotation),
            op!(write, DisableKeyRotation, disable_key_rotation),
            op!(read, GetKeyRotationStatus, get_key_rotation_status),
            op!(write, RotateKeyOnDemand, rotate_key_on_demand),
            op!(read, ListKeyRotations, list_key_rotations),
            op!(read, GetKeyLastUsage, get_key_last_usage),
            // CloudTrail records the cryptographic operations as read-only.
            op!(read, Encrypt, encrypt),
            op!(read, Decrypt, decrypt),
            op!(read, ReEncrypt, re_encrypt),
            op!(read, GenerateDataKey, generate_data_key),
            op!(read, GenerateDataKeyWithoutPlaintext, generate_data_key_without_plaintext),
            op!(read, GenerateDataKeyPair, generate_data_key_pair),
            op!(read, GenerateDataKeyPairWithoutPlaintext, generate_data_key_pair_without_plaintext),
            op!(read, GenerateRandom, generate_random),
            op!(read, GetPublicKey, get_public_key),
            op!(read, Sign, sign),
            op!(read, Verify, verify),
            op!(read, GenerateMac, generate_mac),
            op!(read, VerifyMac, verify_mac),
            op!(read, DeriveSharedSecret, derive_shared_secret),
            op!(write, CreateAlias, create_alias),
            op!(write, UpdateAlias, update_alias),
            op!(write, DeleteAlias, delete_alias),
            op!(read, ListAliases, list_aliases),
            op!(write, CreateGrant, create_grant),
            op!(read, ListGrants, list_grants),
            op!(read, ListRetirableGrants, list_retirable_grants),
            op!(write, RetireGrant, retire_grant),
            op!(write, RevokeGrant, revoke_grant),
            op!(read, GetParametersForImport, get_parameters_for_import),
            op!(write, ImportKeyMaterial, import_key_material),
            op!(write, DeleteImportedKeyMaterial, delete_imported_key_material),
            op!(write, ReplicateKey, replicate_key),
            op!(write, UpdatePrimaryRegion, update_primary_region),
            op!(write, CreateCustomKeyStore, create_custom_key_store),
            op!(write, ConnectCustomKeyStore, connect_custom_key_store),
            op!(write, DisconnectCustomKeyStore, disconnect_custom_key_store),
            op!(read, DescribeCustomKeyStores, describe_custom_key_stores),
            op!(write, UpdateCustomKeyStore, update_custom_key_store),
            op!(write, DeleteCustomKeyStore, delete_custom_key_store),
        ])
    });
    &REGISTRY
}

fn parse_input<T: serde::de::DeserializeOwned>(input: Value) -> Result<T, AwsError> {
    rampart_core::parse_input(ServiceId::Kms, input)
}

/// A clock for the key lifecycle (deletion windows, rotations) that a dev
/// node's tests can move forward (`POST /_rampart/clock`): request signing
/// and every other time stay real.
#[derive(Debug, Default, Clone)]
pub struct LifecycleClock {
    offset_seconds: Arc<AtomicI64>,
}

impl LifecycleClock {
    pub fn advance(&self, seconds: i64) {
        self.offset_seconds.fetch_add(seconds, Ordering::SeqCst);
    }

    /// Seconds since the epoch, moved by `advance`.
    pub fn now(&self) -> f64 {
        let real = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9;
        real + self.offset_seconds.load(Ordering::SeqCst) as f64
    }
}

/// How the KMS service is configured.
#[derive(Clone)]
pub struct KmsConfig {
    /// How often the lifecycle task looks for keys to rotate or destroy.
    pub lifecycle_period: std::time::Duration,
    /// The HSM clusters custom key stores can use; `None` for none.
    pub clusters: Option<Arc<dyn rampart_core::clusters::Clusters>>,
}

impl std::fmt::Debug for KmsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsConfig")
            .field("lifecycle_period", &self.lifecycle_period)
            .field("clusters", &self.clusters.is_some())
            .finish()
    }
}

pub struct Kms {
    /// Commits the AWS managed keys created on first use.
    committer: Arc<dyn SystemCommitter>,
    store: Store,
    sealer: Sealer,
    state: Arc<RwLock<State>>,
    /// Serializes mutations, held until each is committed and applied.
    lock: Arc<tokio::sync::Mutex<()>>,
    clock: LifecycleClock,
    config: KmsConfig,
    /// Each key's last cryptographic use since the last flush (noted in
    /// memory on the request path, stored every minute and at shutdown).
    last_used: parking_lot::Mutex<std::collections::HashMap<state::KeyRef, state::LastUse>>,
}

impl std::fmt::Debug for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kms").finish_non_exhaustive()
    }
}

/// A mutation of KMS's memory.
pub(crate) type Mutation = rampart_core::Mutation<State>;

pub(crate) fn key_resource(arn: &str) -> Resource {
    Resource { kind: "AWS::KMS::Key".to_string(), name: arn.to_string() }
}

pub(crate) fn put<T: serde::Serialize>(
    kind: &'static str,
    account: &str,
    key: &str,
    value: &T,
) -> Result<RecordWrite, AwsError> {
    let value = serde_json::to_string(value).map_err(|_| errors::failure())?;
    Ok(RecordWrite::Put { kind, account: account.to_string(), key: key.to_string(), value })
}

pub(crate) fn delete(kind: &'static str, account: &str, key: &str) -> RecordWrite {
    RecordWrite::Delete { kind, account: account.to_string(), key: key.to_string() }
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(crate) fn unb64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

impl Kms {
    pub fn new(
        store: Store,
        sealer: Sealer,
        clock: LifecycleClock,
        config: KmsConfig,
        committer: Arc<dyn SystemCommitter>,
    ) -> Kms {
        Kms {
            committer,
            store,
            sealer,
            state: Arc::new(RwLock::new(State::default())),
            lock: Arc::new(tokio::sync::Mutex::new(())),
            clock,
            config,
            last_used: parking_lot::Mutex::default(),
        }
    }

    /// Runs a mutation under the service's lock: `build` sees the current
    /// state and returns the writes; memory changes once they are committed.
    pub(crate) async fn mutate(
        &self,
        build: impl FnOnce(&State) -> Result<Mutation, AwsError>,
    ) -> Result<Outcome, AwsError> {
        let guard = self.lock.clone().lock_owned().await;
        let mutation = build(&self.state.read())?;
        Ok(mutation.into_outcome(self.state.clone(), guard))
    }

    /// The account of a call's caller, as a record's account column.
    pub(crate) fn account_of(call: &Call) -> String {
        call.caller.account().to_string()
    }
}

impl Service for Kms {
    fn id(&self) -> ServiceId {
        ServiceId::Kms
    }

    fn operation(&self, name: &str) -> Option<&OperationMeta> {
        registry().meta(name)
    }

    fn access(&self, call: &Call, input: &Value) -> Access {
        access::access(&self.state.read(), call, input)
    }

    fn handle<'a>(&'a self, call: &'a Call, input: Value) -> BoxFuture<'a, Result<Outcome, AwsError>> {
        Box::pin(async move {
            self.create_managed_keys(call, &input).await?;
            let mut outcome = registry().dispatch(self, call, input).await?;
            self.note_use(call, &outcome.output);
            // CloudTrail lists the key a call used, reads included.
            if outcome.resources.is_empty() {
                let arn = outcome.output.get("KeyId").and_then(Value::as_str).filter(|id| id.starts_with("arn:"));
                outcome.resources.extend(arn.map(key_resource));
            }
            Ok(outcome)
        })
    }

    /// The largest input is a key policy: the model allows 131,072
    /// characters (the quota, 32 KB, is KMS's answer), at most 786 KB as
    /// JSON with every character escaped.
    fn max_body_bytes(&self) -> usize {
        1024 * 1024
    }

    fn tasks(self: Arc<Self>) -> Vec<rampart_core::Task> {
        lifecycle::tasks(self)
    }

    fn reseal(&self) -> Result<Vec<RecordWrite>, String> {
        let mut writes = lifecycle::reseal(&self.store, &self.sealer)?;
        writes.extend(key_stores::reseal(&self.store, &self.sealer)?);
        Ok(writes)
    }

    fn load(&self) -> Result<(), String> {
        let mut state = lifecycle::load(&|kind| self.store.scan(kind).map_err(|e| e.to_string()), &self.sealer)?;
        key_stores::load(&self.store, &self.sealer, self.config.clusters.as_deref(), &mut state)?;
        *self.state.write() = state;
        self.last_used.lock().clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_and_unserved_operations_are_the_model() {
        if let Err(problems) = registry().coverage(include_str!("../unserved.txt")) {
            panic!("{problems}");
        }
    }
}
