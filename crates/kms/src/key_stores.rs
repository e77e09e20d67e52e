//! Custom key stores of type `AWS_CLOUDHSM`: keys whose material is
//! generated and used inside a cluster of HSMs the customer controls, so
//! that neither the node nor its operator ever holds it. A cluster is a
//! PKCS#11 token (`rampart_core::clusters`); the store logs in as the
//! token's user with the store's password, which the node keeps sealed
//! by its key wrapper and never returns.
//!
//! Connecting and disconnecting finish before the call returns (AWS's take
//! minutes and report `CONNECTING`); a failed attempt leaves the store
//! `FAILED` with AWS's `ConnectionErrorCode`. A store's keys are
//! `Unavailable` while it is not connected. External key stores (an XKS
//! proxy) are not supported.

use std::sync::Arc;

use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use rampart_core::clusters::{ClusterError, ClusterSession, Clusters};
use rampart_core::{Call, Outcome};
use rampart_store::RecordWrite;
use rampart_wire::{AwsError, ExceptionId, KmsException as E};

use crate::errors::{self, validation};
use crate::keys::list_page;
use crate::state::{ConnectionState, KeyStore, KeyStoreRecord, State, KEY_KIND, KEY_STORE_KIND};
use crate::{delete, put, Kms, Mutation};

/// Custom key stores per account and region (AWS's quota).
const STORES_PER_REGION: usize = 10;

/// `(account, region, id)`, as `State::key_stores` keys a store.
type StoreAt = (String, String, String);

fn store_at(call: &Call, id: &str) -> StoreAt {
    (call.caller.account().to_string(), call.region.clone(), id.to_string())
}

pub(crate) fn not_found(id: &str) -> AwsError {
    E::CustomKeyStoreNotFoundException.error(format!("Custom key store {id} does not exist."))
}

fn invalid_state(record: &KeyStoreRecord, needs: &str) -> AwsError {
    E::CustomKeyStoreInvalidStateException.error(format!(
        "Custom key store {} is {}; this operation is valid only when it is {needs}.",
        record.id,
        record.connection.name()
    ))
}

fn record_key(region: &str, id: &str) -> String {
    format!("{region}/{id}")
}

/// What a store's sealed password is bound to.
fn password_context(account: &str, region: &str, id: &str) -> String {
    format!("kms-custom-key-store:{account}:{region}:{id}")
}

/// The `ConnectionErrorCode` of a failed connection.
fn error_code(error: &ClusterError) -> &'static str {
    match error {
        ClusterError::NotFound | ClusterError::Reserved => "CLUSTER_NOT_FOUND",
        ClusterError::InvalidCredentials => "INVALID_CREDENTIALS",
        ClusterError::LockedOut => "USER_LOCKED_OUT",
        ClusterError::LoggedIn => "USER_LOGGED_IN",
        ClusterError::Ciphertext | ClusterError::NoKey(_) | ClusterError::Failed(_) => "INTERNAL_ERROR",
    }
}

/// A cluster that cannot take a new key store.
fn cluster_refusal(cluster_id: &str, error: ClusterError) -> AwsError {
    match error {
        ClusterError::NotFound => {
            E::CloudHsmClusterNotFoundException.error(format!("CloudHSM cluster {cluster_id} does not exist."))
        }
        ClusterError::Reserved => E::CloudHsmClusterInUseException
            .error(format!("CloudHSM cluster {cluster_id} holds this node's root of trust.")),
        other => {
            tracing::error!(error = %other, cluster = cluster_id, "a CloudHSM cluster could not be reached");
            E::CloudHsmClusterNotActiveException.error(format!("CloudHSM cluster {cluster_id} is not active."))
        }
    }
}

/// A trust anchor must be one PEM-encoded X.509 certificate: its armor
/// around base64 of one DER `SEQUENCE` whose length is the whole.
fn check_trust_anchor(text: &str) -> Result<(), AwsError> {
    let refused =
        || E::IncorrectTrustAnchorException.error("The TrustAnchorCertificate is not a PEM-encoded X.509 certificate.");
    let body = text
        .trim()
        .strip_prefix("-----BEGIN CERTIFICATE-----")
        .and_then(|rest| rest.strip_suffix("-----END CERTIFICATE-----"))
        .ok_or_else(refused)?;
    let base64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(base64).map_err(|_| refused())?;
    let (&tag, rest) = der.split_first().ok_or_else(refused)?;
    let (&first, rest) = rest.split_first().ok_or_else(refused)?;
    let (length, rest) = match first {
        0..=0x7f => (usize::from(first), rest),
        0x81..=0x84 => {
            let (bytes, rest) = rest.split_at_checked(usize::from(first & 0x7f)).ok_or_else(refused)?;
            (bytes.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b)), rest)
        }
        _ => return Err(refused()),
    };
    if tag != 0x30 || length != rest.len() || length == 0 {
        return Err(refused());
    }
    Ok(())
}

/// What a cluster key's check value seals (`generate_in_cluster`).
const CHECK_PLAINTEXT: &[u8] = b"rampart custom key store key check";

fn check_aad(label: &str) -> Vec<u8> {
    format!("kms-key-check:{label}").into_bytes()
}

/// Generates a key in a store's cluster, labelled `label`, and returns its
/// check value: `CHECK_PLAINTEXT` sealed by the new key (nonce, then the
/// ciphertext and tag, base64). A cluster holds this key only if it opens
/// the check value, whatever its labels say (`UpdateCustomKeyStore`).
pub(crate) fn generate_in_cluster(session: &dyn ClusterSession, label: &str) -> Result<String, AwsError> {
    let refused = |error: ClusterError| {
        tracing::error!(%error, "a custom key store's cluster could not generate a key");
        E::CloudHsmClusterInvalidConfigurationException
            .error("The custom key store's cluster could not generate the key.")
    };
    session.generate_key(label).map_err(refused)?;
    let nonce = crate::crypto::random_bytes(12).map_err(|_| errors::failure())?;
    match session.encrypt(label, &nonce, &check_aad(label), CHECK_PLAINTEXT) {
        Ok(sealed) => {
            let mut check = nonce.to_vec();
            check.extend_from_slice(&sealed);
            Ok(crate::b64(&check))
        }
        Err(error) => {
            let _ = session.destroy_key(label);
            Err(refused(error))
        }
    }
}

/// Whether `session`'s cluster holds the key a check value was made with.
fn holds_key(session: &dyn ClusterSession, label: &str, check: Option<&str>) -> bool {
    let Some(bytes) = check.and_then(crate::unb64) else { return false };
    let Some((nonce, sealed)) = bytes.split_at_checked(12) else { return false };
    session.decrypt(label, nonce, &check_aad(label), sealed).is_ok_and(|opened| opened.as_slice() == CHECK_PLAINTEXT)
}

/// A store as `DescribeCustomKeyStores` lists it.
fn entry(store: &KeyStoreRecord) -> Value {
    let mut entry = json!({
        "CustomKeyStoreId": store.id,
        "CustomKeyStoreName": store.name,
        "CustomKeyStoreType": "AWS_CLOUDHSM",
        "CloudHsmClusterId": store.cluster_id,
        "TrustAnchorCertificate": store.trust_anchor,
        "ConnectionState": store.connection.name(),
        "CreationDate": store.created,
    });
    if let (ConnectionState::Failed, Some(code), Some(map)) =
        (store.connection, &store.error_code, entry.as_object_mut())
    {
        map.insert("ConnectionErrorCode".to_string(), json!(code));
    }
    entry
}

/// The stores of one account and region.
fn stores_of<'s>(state: &'s State, account: &'s str, region: &'s str) -> impl Iterator<Item = &'s KeyStore> + 's {
    state.key_stores.iter().filter(move |((a, r, _), _)| a == account && r == region).map(|(_, store)| store)
}

fn find<'s>(state: &'s State, call: &Call, id: &str) -> Result<&'s KeyStore, AwsError> {
    state.key_stores.get(&store_at(call, id)).ok_or_else(|| not_found(id))
}

/// Whether a cluster is some store's already (in any account: a token's
/// keys belong to one store).
fn cluster_in_use(state: &State, cluster_id: &str, except: Option<&str>) -> bool {
    state.key_stores.values().any(|s| s.record.cluster_id == cluster_id && Some(s.record.id.as_str()) != except)
}

fn name_in_use(state: &State, call: &Call, name: &str, except: Option<&str>) -> Option<AwsError> {
    let account = call.caller.account().to_string();
    let taken =
        stores_of(state, &account, &call.region).any(|s| s.record.name == name && Some(s.record.id.as_str()) != except);
    taken.then(|| E::CustomKeyStoreNameInUseException.error(format!("Custom key store name {name} is in use.")))
}

/// Connect's and Disconnect's change: the store's new connection state, and
/// its session (or none) on the store and its keys. A session replaced is
/// closed now, not when the last call holding it lets go.
fn connection_change(
    account: String,
    region: String,
    record: KeyStoreRecord,
    session: Option<Arc<dyn ClusterSession>>,
) -> Result<Mutation, AwsError> {
    Ok(Mutation {
        writes: vec![write(&account, &region, &record)?],
        apply: Box::new(move |state: &mut State| {
            let at = (account, region, record.id.clone());
            if let Some(store) = state.key_stores.get_mut(&at) {
                store.record = record;
                if let Some(old) = store.session.take() {
                    old.close();
                }
            }
            state.set_session(&at.0, &at.1, &at.2, session);
        }),
        output: json!({}),
        resources: Vec::new(),
    })
}

/// A store record's write.
fn write(account: &str, region: &str, record: &KeyStoreRecord) -> Result<RecordWrite, AwsError> {
    put(KEY_STORE_KIND, account, &record_key(region, &record.id), record)
}

impl Kms {
    /// Runs cluster work off the async threads (PKCS#11 calls block).
    async fn on_clusters<T: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn Clusters) -> Result<T, ClusterError> + Send + 'static,
    ) -> Result<T, ClusterError> {
        let Some(clusters) = self.config.clusters.clone() else {
            return Err(ClusterError::NotFound);
        };
        tokio::task::spawn_blocking(move || work(clusters.as_ref()))
            .await
            .unwrap_or_else(|_| Err(ClusterError::Failed("the cluster call panicked".to_string())))
    }

    fn open_password(&self, account: &str, region: &str, record: &KeyStoreRecord) -> Result<String, AwsError> {
        let bytes = self
            .sealer
            .open(&record.password, &password_context(account, region, &record.id))
            .map_err(|_| errors::failure())?;
        String::from_utf8(bytes.to_vec()).map_err(|_| errors::failure())
    }

    /// The session of a connected store of the caller's, for CreateKey and
    /// GenerateRandom: `(cluster id, session)`.
    pub(crate) fn store_session(
        state: &State,
        call: &Call,
        id: &str,
    ) -> Result<(String, Arc<dyn ClusterSession>), AwsError> {
        let store = find(state, call, id)?;
        match (&store.session, store.record.connection) {
            (Some(session), ConnectionState::Connected) => Ok((store.record.cluster_id.clone(), session.clone())),
            _ => Err(invalid_state(&store.record, "CONNECTED")),
        }
    }

    pub(crate) async fn create_custom_key_store(
        &self,
        call: &Call,
        input: CreateKeyStoreInput,
    ) -> Result<Outcome, AwsError> {
        let kind = input.custom_key_store_type.as_deref().unwrap_or("AWS_CLOUDHSM");
        if kind == "EXTERNAL_KEY_STORE" {
            return Err(errors::unsupported(
                "Rampart has no external key stores (XKS proxies): use an AWS_CLOUDHSM key store, which a PKCS#11 token backs.",
            ));
        }
        input.xks.refuse()?;
        let required = |value: Option<String>, member: &str| {
            value.ok_or_else(|| validation(format!("{member} is required for an AWS_CLOUDHSM custom key store.")))
        };
        let cluster_id = required(input.cloud_hsm_cluster_id, "CloudHsmClusterId")?;
        let trust_anchor = required(input.trust_anchor_certificate, "TrustAnchorCertificate")?;
        let password = Zeroizing::new(required(input.key_store_password, "KeyStorePassword")?);
        check_trust_anchor(&trust_anchor)?;
        let cluster = cluster_id.clone();
        self.on_clusters(move |clusters| clusters.find(&cluster)).await.map_err(|e| cluster_refusal(&cluster_id, e))?;
        let id = format!("cks-{}", &errors::random_id()?[..17]);
        let (account, region) = (Kms::account_of(call), call.region.clone());
        let sealed = self
            .sealer
            .seal(password.as_bytes(), &password_context(&account, &region, &id))
            .map_err(|_| errors::failure())?;
        let record = KeyStoreRecord {
            id: id.clone(),
            name: input.custom_key_store_name,
            cluster_id,
            trust_anchor,
            password: sealed,
            created: self.clock.now(),
            connection: ConnectionState::Disconnected,
            error_code: None,
        };
        self.mutate(move |state| {
            if let Some(error) = name_in_use(state, call, &record.name, None) {
                return Err(error);
            }
            if cluster_in_use(state, &record.cluster_id, None) {
                return Err(E::CloudHsmClusterInUseException.error(format!(
                    "CloudHSM cluster {} is associated with another custom key store.",
                    record.cluster_id
                )));
            }
            if stores_of(state, &account, &region).count() >= STORES_PER_REGION {
                return Err(errors::limit(format!(
                    "Custom key store quota for this account in this region is {STORES_PER_REGION}."
                )));
            }
            Ok(Mutation {
                writes: vec![write(&account, &region, &record)?],
                apply: Box::new(move |state: &mut State| {
                    state.key_stores.insert((account, region, record.id.clone()), KeyStore { record, session: None });
                }),
                output: json!({ "CustomKeyStoreId": id }),
                resources: Vec::new(),
            })
        })
        .await
    }

    pub(crate) async fn connect_custom_key_store(
        &self,
        call: &Call,
        input: KeyStoreIdInput,
    ) -> Result<Outcome, AwsError> {
        let id = input.custom_key_store_id;
        let (account, region) = (Kms::account_of(call), call.region.clone());
        let (cluster_id, password) = {
            let state = self.state.read();
            let store = find(&state, call, &id)?;
            match store.record.connection {
                ConnectionState::Connected => return Ok(Outcome::read(json!({}))),
                ConnectionState::Failed => return Err(invalid_state(&store.record, "DISCONNECTED or CONNECTED")),
                ConnectionState::Disconnected => {}
            }
            (store.record.cluster_id.clone(), Zeroizing::new(self.open_password(&account, &region, &store.record)?))
        };
        self.mutate(move |state| {
            let store = find(state, call, &id)?;
            match store.record.connection {
                // Another call connected it meanwhile: so is this one.
                ConnectionState::Connected => {
                    return Ok(Mutation {
                        writes: Vec::new(),
                        apply: Box::new(|_: &mut State| {}),
                        output: json!({}),
                        resources: Vec::new(),
                    })
                }
                ConnectionState::Failed => return Err(invalid_state(&store.record, "DISCONNECTED or CONNECTED")),
                ConnectionState::Disconnected => {}
            }
            // Logged in under the service's lock: of connections racing,
            // the first logs in and the others find the store connected.
            let connected = match &self.config.clusters {
                Some(clusters) => clusters.connect(&cluster_id, &password),
                None => Err(ClusterError::NotFound),
            };
            let mut record = store.record.clone();
            let session = match connected {
                Ok(session) => {
                    record.connection = ConnectionState::Connected;
                    record.error_code = None;
                    Some(session)
                }
                Err(error) => {
                    tracing::warn!(%error, store = %record.id, "a custom key store could not connect");
                    record.connection = ConnectionState::Failed;
                    record.error_code = Some(error_code(&error).to_string());
                    None
                }
            };
            connection_change(account, region, record, session)
        })
        .await
    }

    pub(crate) async fn disconnect_custom_key_store(
        &self,
        call: &Call,
        input: KeyStoreIdInput,
    ) -> Result<Outcome, AwsError> {
        let (account, region) = (Kms::account_of(call), call.region.clone());
        self.mutate(move |state| {
            let store = find(state, call, &input.custom_key_store_id)?;
            if store.record.connection == ConnectionState::Disconnected {
                return Err(invalid_state(&store.record, "CONNECTED or FAILED"));
            }
            let mut record = store.record.clone();
            record.connection = ConnectionState::Disconnected;
            record.error_code = None;
            connection_change(account, region, record, None)
        })
        .await
    }

    pub(crate) async fn describe_custom_key_stores(
        &self,
        call: &Call,
        input: DescribeKeyStoresInput,
    ) -> Result<Outcome, AwsError> {
        if input.custom_key_store_id.is_some() && input.custom_key_store_name.is_some() {
            return Err(validation("Specify CustomKeyStoreId or CustomKeyStoreName, not both."));
        }
        let state = self.state.read();
        let account = call.caller.account().to_string();
        let mut stores: Vec<(String, Value)> = stores_of(&state, &account, &call.region)
            .filter(|s| input.custom_key_store_id.as_ref().is_none_or(|id| *id == s.record.id))
            .filter(|s| input.custom_key_store_name.as_ref().is_none_or(|name| *name == s.record.name))
            .map(|s| (s.record.id.clone(), entry(&s.record)))
            .collect();
        if stores.is_empty() {
            if let Some(named) = input.custom_key_store_id.or(input.custom_key_store_name) {
                return Err(not_found(&named));
            }
        }
        stores.sort_by(|a, b| a.0.cmp(&b.0));
        list_page(&stores, input.marker.as_deref(), input.limit.unwrap_or(100), "CustomKeyStores")
    }

    pub(crate) async fn update_custom_key_store(
        &self,
        call: &Call,
        input: UpdateKeyStoreInput,
    ) -> Result<Outcome, AwsError> {
        input.xks.refuse()?;
        let id = input.custom_key_store_id;
        let (account, region) = (Kms::account_of(call), call.region.clone());
        let password = input.key_store_password.map(Zeroizing::new);
        let (current, keys) = {
            let state = self.state.read();
            let store = find(&state, call, &id)?;
            if (password.is_some() || input.cloud_hsm_cluster_id.is_some())
                && store.record.connection != ConnectionState::Disconnected
            {
                return Err(invalid_state(&store.record, "DISCONNECTED"));
            }
            let keys: Vec<(String, Option<String>)> = state
                .keys_of(&account, &region)
                .filter(|k| k.record.custom_key_store_id.as_deref() == Some(id.as_str()))
                .map(|k| (k.at.key_id.clone(), k.record.cluster_check.clone()))
                .collect();
            (store.record.clone(), keys)
        };
        let new_cluster = input.cloud_hsm_cluster_id.filter(|c| *c != current.cluster_id);
        if let Some(cluster_id) = &new_cluster {
            let not_related = || {
                E::CloudHsmClusterNotRelatedException
                    .error(format!("CloudHSM cluster {cluster_id} does not hold the keys of custom key store {id}."))
            };
            if cluster_in_use(&self.state.read(), cluster_id, Some(&id)) {
                return Err(not_related());
            }
            let cluster = cluster_id.clone();
            self.on_clusters(move |clusters| clusters.find(&cluster))
                .await
                .map_err(|e| cluster_refusal(cluster_id, e))?;
            // The new cluster must hold every key of the store, the same
            // material (AWS: a cluster that shares the original's backups).
            if !keys.is_empty() {
                let secret = match &password {
                    Some(p) => p.clone(),
                    None => Zeroizing::new(self.open_password(&account, &region, &current)?),
                };
                let cluster = cluster_id.clone();
                let holds = self
                    .on_clusters(move |clusters| {
                        let session = clusters.connect(&cluster, &secret)?;
                        let all = keys.iter().all(|(key, check)| holds_key(session.as_ref(), key, check.as_deref()));
                        session.close();
                        Ok(all)
                    })
                    .await;
                if holds != Ok(true) {
                    return Err(not_related());
                }
            }
        }
        let sealed = match &password {
            Some(p) => Some(
                self.sealer
                    .seal(p.as_bytes(), &password_context(&account, &region, &id))
                    .map_err(|_| errors::failure())?,
            ),
            None => None,
        };
        self.mutate(move |state| {
            let store = find(state, call, &id)?;
            let mut record = store.record.clone();
            if new_cluster.as_ref().is_some_and(|cluster| cluster_in_use(state, cluster, Some(&id))) {
                return Err(E::CloudHsmClusterNotRelatedException
                    .error("The CloudHSM cluster is associated with another custom key store."));
            }
            if let Some(name) = input.new_custom_key_store_name {
                if let Some(error) = name_in_use(state, call, &name, Some(&id)) {
                    return Err(error);
                }
                record.name = name;
            }
            let mut key_records = Vec::new();
            if sealed.is_some() || new_cluster.is_some() {
                if record.connection != ConnectionState::Disconnected {
                    return Err(invalid_state(&record, "DISCONNECTED"));
                }
                if let Some(cluster) = new_cluster {
                    // Each key names its cluster too (DescribeKey's CloudHsmClusterId).
                    for key in state.keys_of(&account, &region) {
                        if key.record.custom_key_store_id.as_deref() == Some(id.as_str()) {
                            let mut key_record = key.record.clone();
                            key_record.cloud_hsm_cluster_id = Some(cluster.clone());
                            key_records.push((key.at.clone(), key_record));
                        }
                    }
                    record.cluster_id = cluster;
                }
                if let Some(sealed) = sealed {
                    record.password = sealed;
                }
            }
            let mut writes = vec![write(&account, &region, &record)?];
            for (at, key_record) in &key_records {
                writes.push(put(KEY_KIND, &at.account, &at.record_key(), key_record)?);
            }
            Ok(Mutation {
                writes,
                apply: Box::new(move |state: &mut State| {
                    for (at, key_record) in key_records {
                        if let Some(key) = state.keys.get_mut(&at) {
                            key.record = key_record;
                        }
                    }
                    if let Some(store) = state.key_stores.get_mut(&(account, region, record.id.clone())) {
                        store.record = record;
                    }
                }),
                output: json!({}),
                resources: Vec::new(),
            })
        })
        .await
    }

    pub(crate) async fn delete_custom_key_store(
        &self,
        call: &Call,
        input: KeyStoreIdInput,
    ) -> Result<Outcome, AwsError> {
        let (account, region) = (Kms::account_of(call), call.region.clone());
        self.mutate(move |state| {
            let id = input.custom_key_store_id;
            let store = find(state, call, &id)?;
            if store.record.connection != ConnectionState::Disconnected {
                return Err(invalid_state(&store.record, "DISCONNECTED"));
            }
            if state.keys_of(&account, &region).any(|k| k.record.custom_key_store_id.as_deref() == Some(id.as_str())) {
                return Err(E::CustomKeyStoreHasCMKsException
                    .error(format!("Custom key store {id} still has KMS keys: delete them before the key store.")));
            }
            Ok(Mutation {
                writes: vec![delete(KEY_STORE_KIND, &account, &record_key(&region, &id))],
                apply: Box::new(move |state: &mut State| {
                    state.key_stores.remove(&(account, region, id));
                }),
                output: json!({}),
                resources: Vec::new(),
            })
        })
        .await
    }
}

/// Loads the stored key stores into `state` (after its keys), connecting
/// again each that was connected; one that cannot connect now is `FAILED`
/// in memory, as AWS reports a store that lost its cluster.
pub(crate) fn load(
    store: &rampart_store::Store,
    sealer: &rampart_core::Sealer,
    clusters: Option<&dyn Clusters>,
    state: &mut State,
) -> Result<(), String> {
    for row in store.scan(KEY_STORE_KIND).map_err(|e| e.to_string())? {
        let mut record: KeyStoreRecord =
            serde_json::from_str(&row.value).map_err(|e| format!("KMS custom key store {}: {e}", row.key))?;
        let region = row.key.split('/').next().unwrap_or_default().to_string();
        let at = (row.account.clone(), region, record.id.clone());
        let mut session = None;
        if record.connection == ConnectionState::Connected {
            let password = sealer
                .open(&record.password, &password_context(&at.0, &at.1, &at.2))
                .map_err(|e| format!("KMS custom key store {}: {e}", record.id))?;
            let connected = match (clusters, std::str::from_utf8(&password)) {
                (Some(clusters), Ok(password)) => clusters.connect(&record.cluster_id, password),
                _ => Err(ClusterError::NotFound),
            };
            match connected {
                Ok(connected) => session = Some(connected),
                Err(error) => {
                    tracing::warn!(%error, store = %record.id, "a custom key store could not connect again");
                    record.connection = ConnectionState::Failed;
                    record.error_code = Some(error_code(&error).to_string());
                }
            }
        }
        state.key_stores.insert(at.clone(), KeyStore { record, session: None });
        state.set_session(&at.0, &at.1, &at.2, session);
    }
    Ok(())
}

/// Every store's password sealed again under the wrapper's current key
/// (`Service::reseal`).
pub(crate) fn reseal(store: &rampart_store::Store, sealer: &rampart_core::Sealer) -> Result<Vec<RecordWrite>, String> {
    let mut writes = Vec::new();
    for row in store.scan(KEY_STORE_KIND).map_err(|e| e.to_string())? {
        let mut record: KeyStoreRecord =
            serde_json::from_str(&row.value).map_err(|e| format!("KMS custom key store {}: {e}", row.key))?;
        let region = row.key.split('/').next().unwrap_or_default();
        let context = password_context(&row.account, region, &record.id);
        let resealed = sealer.reseal(&record.password, &context).map_err(|e| format!("{}: {e}", record.id))?;
        if let Some(resealed) = resealed {
            record.password = resealed;
            let value = serde_json::to_string(&record).map_err(|e| e.to_string())?;
            writes.push(RecordWrite::Put { kind: KEY_STORE_KIND, account: row.account, key: row.key, value });
        }
    }
    Ok(writes)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateKeyStoreInput {
    custom_key_store_name: String,
    cloud_hsm_cluster_id: Option<String>,
    trust_anchor_certificate: Option<String>,
    key_store_password: Option<String>,
    custom_key_store_type: Option<String>,
    #[serde(flatten)]
    xks: XksProxyMembers,
}

/// An external key store's members, which no `AWS_CLOUDHSM` store takes.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct XksProxyMembers {
    xks_proxy_uri_endpoint: Option<Value>,
    xks_proxy_uri_path: Option<Value>,
    xks_proxy_vpc_endpoint_service_name: Option<Value>,
    xks_proxy_vpc_endpoint_service_owner: Option<Value>,
    xks_proxy_authentication_credential: Option<Value>,
    xks_proxy_connectivity: Option<Value>,
}

impl XksProxyMembers {
    fn refuse(&self) -> Result<(), AwsError> {
        let given = [
            &self.xks_proxy_uri_endpoint,
            &self.xks_proxy_uri_path,
            &self.xks_proxy_vpc_endpoint_service_name,
            &self.xks_proxy_vpc_endpoint_service_owner,
            &self.xks_proxy_authentication_credential,
            &self.xks_proxy_connectivity,
        ];
        match given.iter().any(|m| m.is_some()) {
            true => Err(validation("XksProxy parameters are valid only for an EXTERNAL_KEY_STORE custom key store.")),
            false => Ok(()),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct KeyStoreIdInput {
    custom_key_store_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DescribeKeyStoresInput {
    custom_key_store_id: Option<String>,
    custom_key_store_name: Option<String>,
    limit: Option<usize>,
    marker: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateKeyStoreInput {
    custom_key_store_id: String,
    new_custom_key_store_name: Option<String>,
    key_store_password: Option<String>,
    cloud_hsm_cluster_id: Option<String>,
    #[serde(flatten)]
    xks: XksProxyMembers,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trust_anchor_is_one_pem_certificate() {
        // A DER SEQUENCE of three bytes (short form) and of 130 (long form).
        let short = base64::engine::general_purpose::STANDARD.encode([0x30, 0x03, 1, 2, 3]);
        let mut long = vec![0x30, 0x81, 0x82];
        long.extend(std::iter::repeat_n(7u8, 0x82));
        let long = base64::engine::general_purpose::STANDARD.encode(long);
        let pem = |b: &str| format!("-----BEGIN CERTIFICATE-----\n{b}\n-----END CERTIFICATE-----\n");
        assert!(check_trust_anchor(&pem(&short)).is_ok());
        assert!(check_trust_anchor(&pem(&long)).is_ok());
        for bad in [
            "not a certificate".to_string(),
            pem("bm90IGRlcg=="),                                                     // not DER
            pem(&base64::engine::general_purpose::STANDARD.encode([0x31, 0x01, 0])), // a SET
            pem(&base64::engine::general_purpose::STANDARD.encode([0x30, 0x05, 1])), // truncated
            pem(&base64::engine::general_purpose::STANDARD.encode([0x30, 0x00])),    // empty
            format!("-----BEGIN PRIVATE KEY-----\n{short}\n-----END PRIVATE KEY-----"),
        ] {
            assert!(check_trust_anchor(&bad).is_err(), "{bad}");
        }
    }
}
