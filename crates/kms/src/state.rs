//! Every record KMS stores, and the in-memory state built from them.
//!
//! A key's metadata, policy, tags and version list are one `kms-key` record;
//! each version's material is its own `kms-material` record, sealed through
//! the node's key wrapper, so that destroying a key erases exactly those
//! rows (crypto-shredding). Aliases, grants and custom key stores are
//! records of their own; a custom key store's keys have no material rows
//! (their material is in the store's cluster).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use rampart_core::clusters::ClusterSession;
use rampart_policy::Policy;

use crate::crypto::{KeySpec, KeyUsage, Material};

pub(crate) const KEY_KIND: &str = "kms-key";
pub(crate) const MATERIAL_KIND: &str = "kms-material";
pub(crate) const ALIAS_KIND: &str = "kms-alias";
pub(crate) const GRANT_KIND: &str = "kms-grant";
pub(crate) const KEY_STORE_KIND: &str = "kms-custom-key-store";

/// Where a key lives and its id: KMS is regional.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct KeyRef {
    pub account: String,
    pub region: String,
    pub key_id: String,
}

impl KeyRef {
    pub fn arn(&self) -> String {
        format!("arn:aws:kms:{}:{}:key/{}", self.region, self.account, self.key_id)
    }

    /// The record key of the key's metadata.
    pub fn record_key(&self) -> String {
        format!("{}/{}", self.region, self.key_id)
    }

    pub fn material_key(&self, version: u32) -> String {
        format!("{}/{}/{version}", self.region, self.key_id)
    }

    /// What a version's sealed material is bound to.
    pub fn material_context(&self, version: u32) -> String {
        format!("kms-material:{}:{}:{}:{version}", self.account, self.region, self.key_id)
    }
}

/// A key's lifecycle state (`KeyState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
    /// A multi-Region primary scheduled for deletion while replicas remain.
    PendingReplicaDeletion,
    PendingImport,
    Unavailable,
}

impl KeyState {
    pub fn name(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
            KeyState::PendingReplicaDeletion => "PendingReplicaDeletion",
            KeyState::PendingImport => "PendingImport",
            KeyState::Unavailable => "Unavailable",
        }
    }
}

/// One version of a key's material: the first, then one per rotation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeyVersion {
    pub version: u32,
    /// `KeyMaterialId`: the SHA-256 of the version's identity, hex.
    pub material_id: String,
    pub created: f64,
    /// `AUTOMATIC` or `ON_DEMAND` for a rotation's version; `None` for the first.
    pub rotation: Option<String>,
}

/// A key as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeyRecord {
    pub key_id: String,
    pub created: f64,
    pub description: String,
    pub spec: String,
    pub usage: String,
    /// `AWS_KMS` or `EXTERNAL`.
    pub origin: String,
    /// `CUSTOMER` or `AWS` (the `alias/aws/*` keys).
    pub manager: String,
    pub state: KeyState,
    pub policy: String,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    pub versions: Vec<KeyVersion>,
    #[serde(default)]
    pub rotation_enabled: bool,
    #[serde(default)]
    pub rotation_period_days: Option<u32>,
    #[serde(default)]
    pub next_rotation: Option<f64>,
    #[serde(default)]
    pub deletion_date: Option<f64>,
    #[serde(default)]
    pub pending_window_days: Option<u32>,
    #[serde(default)]
    pub multi_region: bool,
    /// A multi-Region key's primary region (the same in every copy).
    #[serde(default)]
    pub primary_region: Option<String>,
    /// Imported material's expiry (`ValidTo`), epoch seconds.
    #[serde(default)]
    pub valid_to: Option<f64>,
    /// Imported material's fingerprint (`import::fingerprint`): a
    /// re-import must bring the same material.
    #[serde(default)]
    pub import_digest: Option<String>,
    /// The last successful cryptographic use (GetKeyLastUsage), as last
    /// stored by the `kms-flush-last-used` task.
    #[serde(default)]
    pub last_used: Option<LastUse>,
    /// The custom key store whose cluster holds the key's material
    /// (`Origin` `AWS_CLOUDHSM`), and that cluster.
    #[serde(default)]
    pub custom_key_store_id: Option<String>,
    #[serde(default)]
    pub cloud_hsm_cluster_id: Option<String>,
    /// A check value the cluster's key sealed when it was made
    /// (`key_stores::generate_in_cluster`): another cluster holds the same
    /// key only if it opens it.
    #[serde(default)]
    pub cluster_check: Option<String>,
}

/// One cryptographic use of a key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LastUse {
    pub time: f64,
    pub operation: String,
    pub request_id: String,
}

/// A key in memory: its record, its parsed policy and its opened material.
pub(crate) struct Key {
    pub at: KeyRef,
    pub record: KeyRecord,
    pub spec: KeySpec,
    pub usage: KeyUsage,
    pub policy: Arc<Policy>,
    /// Opened material per version; empty for a key pending import.
    pub materials: BTreeMap<u32, Material>,
    /// The names of the aliases that point at it (`kms:ResourceAliases`).
    pub aliases: Vec<String>,
    pub grants: Vec<Grant>,
    /// For a key in a custom key store: the store's session with its
    /// cluster while the store is connected.
    pub cluster: Option<Arc<dyn ClusterSession>>,
}

impl Key {
    pub fn arn(&self) -> String {
        self.at.arn()
    }

    /// The key's state as callers see it: a key of a disconnected custom
    /// key store is `Unavailable` until the store is connected again.
    pub fn state(&self) -> KeyState {
        match self.record.state {
            KeyState::Enabled | KeyState::Disabled
                if self.record.custom_key_store_id.is_some() && self.cluster.is_none() =>
            {
                KeyState::Unavailable
            }
            state => state,
        }
    }

    /// Whether the key has material to use: opened in memory, or in its
    /// cluster (not a key pending import).
    pub fn has_material(&self) -> bool {
        !self.materials.is_empty() || self.record.custom_key_store_id.is_some()
    }

    /// The version new ciphertexts use.
    pub fn current_version(&self) -> Option<u32> {
        self.record.versions.last().map(|v| v.version)
    }
}

/// An alias as stored: `alias/NAME` in one account and region.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AliasRecord {
    pub name: String,
    pub target: String,
    pub created: f64,
    pub updated: f64,
}

/// A grant's encryption-context constraint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Constraints {
    #[serde(default)]
    pub equals: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub subset: Option<BTreeMap<String, String>>,
}

impl Constraints {
    /// Whether a request's encryption context meets the constraint.
    pub fn allow(&self, context: &BTreeMap<String, String>) -> bool {
        if let Some(equals) = &self.equals {
            if equals != context {
                return false;
            }
        }
        if let Some(subset) = &self.subset {
            if !subset.iter().all(|(k, v)| context.get(k) == Some(v)) {
                return false;
            }
        }
        true
    }

    pub fn is_empty(&self) -> bool {
        self.equals.is_none() && self.subset.is_none()
    }
}

/// A grant as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Grant {
    pub grant_id: String,
    pub key_id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub grantee: String,
    #[serde(default)]
    pub retiring: Option<String>,
    pub operations: Vec<String>,
    #[serde(default)]
    pub constraints: Constraints,
    pub created: f64,
    pub issuing_account: String,
}

/// A custom key store's connection state (`ConnectionState`). Connecting
/// and disconnecting finish before the call returns, so the `…ING` states
/// are never seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ConnectionState {
    #[serde(rename = "CONNECTED")]
    Connected,
    #[serde(rename = "DISCONNECTED")]
    Disconnected,
    #[serde(rename = "FAILED")]
    Failed,
}

impl ConnectionState {
    pub fn name(self) -> &'static str {
        match self {
            ConnectionState::Connected => "CONNECTED",
            ConnectionState::Disconnected => "DISCONNECTED",
            ConnectionState::Failed => "FAILED",
        }
    }
}

/// A custom key store as stored (type `AWS_CLOUDHSM`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeyStoreRecord {
    pub id: String,
    pub name: String,
    pub cluster_id: String,
    pub trust_anchor: String,
    /// The cluster user's password, sealed by the node's key wrapper.
    pub password: String,
    pub created: f64,
    pub connection: ConnectionState,
    /// Why the last connection failed (`ConnectionErrorCode`).
    #[serde(default)]
    pub error_code: Option<String>,
}

/// A custom key store in memory: its record and, while connected, its
/// session with the cluster.
pub(crate) struct KeyStore {
    pub record: KeyStoreRecord,
    pub session: Option<Arc<dyn ClusterSession>>,
}

/// KMS's memory: keys by where they are, aliases by account, region and name.
#[derive(Default)]
pub(crate) struct State {
    pub keys: HashMap<KeyRef, Key>,
    /// `(account, region, alias/NAME)` → its record.
    pub aliases: BTreeMap<(String, String, String), AliasRecord>,
    /// `(account, region, cks-ID)` → the store.
    pub key_stores: BTreeMap<(String, String, String), KeyStore>,
}

impl State {
    pub fn alias(&self, account: &str, region: &str, name: &str) -> Option<&AliasRecord> {
        self.aliases.get(&(account.to_string(), region.to_string(), name.to_string()))
    }

    /// Puts an alias — new, or pointing at another key — keeping each key's
    /// list of its aliases (`Key::aliases`) in step.
    pub fn put_alias(&mut self, account: &str, region: &str, record: AliasRecord) {
        self.remove_alias(account, region, &record.name);
        let at = KeyRef { account: account.to_string(), region: region.to_string(), key_id: record.target.clone() };
        if let Some(key) = self.keys.get_mut(&at) {
            key.aliases.push(record.name.clone());
        }
        self.aliases.insert((account.to_string(), region.to_string(), record.name.clone()), record);
    }

    pub fn remove_alias(&mut self, account: &str, region: &str, name: &str) {
        let Some(old) = self.aliases.remove(&(account.to_string(), region.to_string(), name.to_string())) else {
            return;
        };
        let at = KeyRef { account: account.to_string(), region: region.to_string(), key_id: old.target };
        if let Some(key) = self.keys.get_mut(&at) {
            key.aliases.retain(|a| a != name);
        }
    }

    /// Puts a store's session (or none, when it disconnects) on the store
    /// and on every key of the store.
    pub fn set_session(&mut self, account: &str, region: &str, id: &str, session: Option<Arc<dyn ClusterSession>>) {
        for key in self.keys.values_mut() {
            if key.at.account == account
                && key.at.region == region
                && key.record.custom_key_store_id.as_deref() == Some(id)
            {
                key.cluster = session.clone();
            }
        }
        if let Some(store) = self.key_stores.get_mut(&(account.to_string(), region.to_string(), id.to_string())) {
            store.session = session;
        }
    }

    /// Keys of one account and region, by key id.
    pub fn keys_of<'a>(&'a self, account: &'a str, region: &'a str) -> impl Iterator<Item = &'a Key> + 'a {
        self.keys.values().filter(move |k| k.at.account == account && k.at.region == region)
    }
}
