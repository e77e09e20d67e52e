//! Loading KMS's state, and the work it does on its own: rotating keys
//! whose rotation is due and destroying keys whose deletion window has
//! ended. Destruction erases the key's sealed material rows and then has
//! the store scrub its files (secure delete and a truncating WAL
//! checkpoint), so no copy of the wrapped material remains on disk; a key
//! of a custom key store is destroyed in its cluster.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use rampart_core::clusters::ClusterSession;
use rampart_core::{Change, Sealer, ServiceEvent, SystemChange, Task};
use rampart_policy::{Policy, PolicyKind};
use rampart_store::{RecordWrite, Store};

use crate::crypto::{KeySpec, KeyUsage, Material};
use crate::keys::DAY_SECONDS;
use crate::state::{
    AliasRecord, Grant, Key, KeyRecord, KeyRef, KeyState, State, ALIAS_KIND, GRANT_KIND, KEY_KIND, MATERIAL_KIND,
};
use crate::{delete, key_resource, Kms};

const EVENT_SOURCE: &str = "kms.amazonaws.com";

/// Splits a record key `REGION/ID[/REST]`.
fn split_key(key: &str) -> Option<(&str, &str, Option<&str>)> {
    let mut parts = key.splitn(3, '/');
    Some((parts.next()?, parts.next()?, parts.next()))
}

/// Every record of a kind, from the store or read-only from a data directory.
pub(crate) type Scan<'a> = &'a dyn Fn(&str) -> Result<Vec<rampart_store::Record>, String>;

/// Builds the state from the records `scan` reads, opening every version's material.
pub(crate) fn load(scan: Scan<'_>, sealer: &Sealer) -> Result<State, String> {
    let mut state = State::default();
    for record in scan(KEY_KIND)? {
        let key_record: KeyRecord =
            serde_json::from_str(&record.value).map_err(|e| format!("KMS key {}: {e}", record.key))?;
        let (region, _, _) = split_key(&record.key).ok_or_else(|| format!("KMS key record {}", record.key))?;
        let at =
            KeyRef { account: record.account.clone(), region: region.to_string(), key_id: key_record.key_id.clone() };
        let spec = KeySpec::parse(&key_record.spec).ok_or_else(|| format!("KMS key {}: spec", at.arn()))?;
        let usage = KeyUsage::parse(&key_record.usage).ok_or_else(|| format!("KMS key {}: usage", at.arn()))?;
        // A stored policy that no longer parses allows nothing (fail closed).
        let policy = Policy::parse(&key_record.policy, PolicyKind::Resource).unwrap_or_else(|_| Policy::empty());
        let key = Key {
            at: at.clone(),
            record: key_record,
            spec,
            usage,
            policy: Arc::new(policy),
            materials: BTreeMap::new(),
            aliases: Vec::new(),
            grants: Vec::new(),
            cluster: None,
        };
        state.keys.insert(at, key);
    }
    for record in scan(MATERIAL_KIND)? {
        let Some((region, key_id, Some(version))) = split_key(&record.key) else { continue };
        let at = KeyRef { account: record.account.clone(), region: region.to_string(), key_id: key_id.to_string() };
        let version: u32 = version.parse().map_err(|_| format!("KMS material record {}", record.key))?;
        let sealed: String = serde_json::from_str(&record.value).map_err(|e| e.to_string())?;
        let bytes = sealer
            .open(&sealed, &at.material_context(version))
            .map_err(|e| format!("KMS key {} version {version}: {e}", at.arn()))?;
        if let Some(key) = state.keys.get_mut(&at) {
            key.materials.insert(version, Material::from_bytes(bytes));
        }
    }
    for record in scan(ALIAS_KIND)? {
        let alias: AliasRecord = serde_json::from_str(&record.value).map_err(|e| e.to_string())?;
        let Some((region, _, _)) = split_key(&record.key) else { continue };
        state.put_alias(&record.account, region, alias);
    }
    for record in scan(GRANT_KIND)? {
        let grant: Grant = serde_json::from_str(&record.value).map_err(|e| e.to_string())?;
        let Some((region, _, _)) = split_key(&record.key) else { continue };
        let at = KeyRef { account: record.account.clone(), region: region.to_string(), key_id: grant.key_id.clone() };
        if let Some(key) = state.keys.get_mut(&at) {
            key.grants.push(grant);
        }
    }
    for key in state.keys.values_mut() {
        key.grants.sort_by(|a, b| a.created.total_cmp(&b.created));
    }
    Ok(state)
}

/// Every version's material sealed again under the wrapper's current key
/// (`Service::reseal`).
pub(crate) fn reseal(store: &Store, sealer: &Sealer) -> Result<Vec<RecordWrite>, String> {
    let mut writes = Vec::new();
    for record in store.scan(MATERIAL_KIND).map_err(|e| e.to_string())? {
        let Some((region, key_id, Some(version))) = split_key(&record.key) else { continue };
        let at = KeyRef { account: record.account.clone(), region: region.to_string(), key_id: key_id.to_string() };
        let version: u32 = version.parse().map_err(|_| format!("KMS material record {}", record.key))?;
        let sealed: String = serde_json::from_str(&record.value).map_err(|e| e.to_string())?;
        let resealed = sealer
            .reseal(&sealed, &at.material_context(version))
            .map_err(|e| format!("KMS key {} version {version}: {e}", at.arn()))?;
        if let Some(resealed) = resealed {
            let value = serde_json::to_string(&resealed).map_err(|e| e.to_string())?;
            writes.push(RecordWrite::Put { kind: MATERIAL_KIND, account: record.account, key: record.key, value });
        }
    }
    Ok(writes)
}

/// Every write that erases a key: its record, each version's material, its
/// aliases and its grants.
fn destruction(key: &Key) -> Vec<RecordWrite> {
    let at = &key.at;
    let mut writes = vec![delete(KEY_KIND, &at.account, &at.record_key())];
    for version in key.record.versions.iter().map(|v| v.version).chain(key.materials.keys().copied()) {
        writes.push(delete(MATERIAL_KIND, &at.account, &at.material_key(version)));
    }
    writes.sort_by_key(|w| format!("{w:?}"));
    writes.dedup();
    for alias in &key.aliases {
        writes.push(delete(ALIAS_KIND, &at.account, &format!("{}/{alias}", at.region)));
    }
    for grant in &key.grants {
        writes.push(delete(GRANT_KIND, &at.account, &format!("{}/{}/{}", at.region, at.key_id, grant.grant_id)));
    }
    writes
}

fn event(key: &Key, name: &str, details: serde_json::Value) -> Option<ServiceEvent> {
    Some(ServiceEvent {
        source: EVENT_SOURCE,
        invoked_by: None,
        account: rampart_core::AccountId::parse(&key.at.account)?,
        region: key.at.region.clone(),
        event_name: name.to_string(),
        read_only: false,
        resources: vec![key_resource(&key.arn())],
        details,
    })
}

impl Kms {
    /// One pass: every key due for destruction or rotation, in one change.
    async fn lifecycle_pass(&self) -> Result<Option<SystemChange>, String> {
        let guard = self.lock.clone().lock_owned().await;
        let now = self.clock.now();
        let mut writes = Vec::new();
        let mut events = Vec::new();
        let mut destroyed: Vec<KeyRef> = Vec::new();
        // Keys of custom key stores, whose material their cluster destroys.
        let mut in_clusters = Vec::new();
        let mut edits: Vec<(KeyRef, crate::Mutation)> = Vec::new();
        {
            let state = self.state.read();
            for key in state.keys.values() {
                let r = &key.record;
                if r.state == KeyState::PendingDeletion && r.deletion_date.is_some_and(|d| d <= now) {
                    writes.extend(destruction(key));
                    events.extend(event(key, "DeleteKey", json!({ "keyId": key.arn() })));
                    destroyed.push(key.at.clone());
                    if key.record.custom_key_store_id.is_some() {
                        in_clusters.push((key.arn(), key.cluster.clone()));
                    }
                } else if r.state == KeyState::PendingReplicaDeletion
                    && crate::multi_region::copies(&state, key).len() == 1
                {
                    // The last replica is gone: the primary's window begins.
                    let mut record = r.clone();
                    record.state = KeyState::PendingDeletion;
                    record.deletion_date = Some(now + f64::from(r.pending_window_days.unwrap_or(30)) * DAY_SECONDS);
                    let at = key.at.clone();
                    let mutation = crate::Mutation {
                        writes: vec![
                            crate::put(KEY_KIND, &at.account, &at.record_key(), &record).map_err(|e| e.message)?
                        ],
                        apply: Box::new(move |state: &mut State| {
                            if let Some(key) = state.keys.get_mut(&at) {
                                key.record = record;
                            }
                        }),
                        output: json!({}),
                        resources: Vec::new(),
                    };
                    edits.push((key.at.clone(), mutation));
                } else if r.valid_to.is_some_and(|t| t <= now) && !key.materials.is_empty() {
                    // Imported material whose ValidTo passed is deleted, as AWS deletes it.
                    let erasure = self.material_erasure(key);
                    events.extend(event(key, "DeleteExpiredKeyMaterial", json!({ "keyId": key.arn() })));
                    edits.push((key.at.clone(), erasure));
                } else if r.state == KeyState::Enabled
                    && crate::multi_region::is_primary(key)
                    && r.rotation_enabled
                    && r.next_rotation.is_some_and(|n| n <= now)
                {
                    let material = Material::generate(KeySpec::SymmetricDefault).map_err(|e| e.to_string())?;
                    let id = crate::errors::random_id().map_err(|e| e.message)?;
                    let mutation = self
                        .rotation(&state, key, material, id, now, "AUTOMATIC", json!({}))
                        .map_err(|e| e.message.clone())?;
                    events.extend(event(key, "RotateKey", json!({ "keyId": key.arn(), "rotationType": "AUTOMATIC" })));
                    edits.push((key.at.clone(), mutation));
                }
            }
        }
        if events.is_empty() && edits.is_empty() {
            return Ok(None);
        }
        let mut applies = Vec::new();
        for (_, mutation) in edits {
            writes.extend(mutation.writes);
            applies.push(mutation.apply);
        }
        let state = self.state.clone();
        let store = self.store.clone();
        let scrub = !destroyed.is_empty();
        let change = Change {
            writes,
            apply: Box::new(move || {
                {
                    let mut state = state.write();
                    for at in &destroyed {
                        if let Some(key) = state.keys.remove(at) {
                            for alias in &key.aliases {
                                state.remove_alias(&at.account, &at.region, alias);
                            }
                        }
                    }
                    for apply in applies {
                        apply(&mut state);
                    }
                }
                drop(guard);
                for (arn, cluster) in in_clusters {
                    destroy_in_cluster(arn, cluster);
                }
                if scrub {
                    // The rows are gone; now the pages and the WAL that held them.
                    tokio::spawn(async move {
                        if let Err(error) = store.scrub().await {
                            tracing::error!(%error, "the store could not be scrubbed after destroying KMS keys");
                        }
                    });
                }
            }),
        };
        Ok(Some(SystemChange { change, events }))
    }
}

/// Destroys a deleted key's material in its custom key store's cluster.
/// A store that is not connected keeps it, as AWS leaves the material of a
/// key deleted while its store was disconnected in the cluster.
fn destroy_in_cluster(arn: String, cluster: Option<Arc<dyn ClusterSession>>) {
    let Some(cluster) = cluster else {
        tracing::warn!(%arn, "the key's custom key store is disconnected: its material stays in the cluster");
        return;
    };
    let label = arn.rsplit('/').next().unwrap_or_default().to_string();
    tokio::task::spawn_blocking(move || {
        if let Err(error) = cluster.destroy_key(&label) {
            tracing::error!(%error, %arn, "the cluster could not destroy a deleted key's material");
        }
    });
}

pub(crate) fn tasks(kms: Arc<Kms>) -> Vec<Task> {
    let period = kms.config.lifecycle_period;
    let flusher = kms.clone();
    vec![
        Task {
            name: "kms-key-lifecycle",
            period,
            at_shutdown: false,
            run: Arc::new(move || {
                let kms = kms.clone();
                Box::pin(async move { kms.lifecycle_pass().await })
            }),
        },
        Task {
            name: "kms-flush-last-used",
            period: std::time::Duration::from_secs(60),
            at_shutdown: true,
            run: Arc::new(move || {
                let kms = flusher.clone();
                Box::pin(async move { kms.flush_last_used().await })
            }),
        },
    ]
}
