//! The in-memory credential table: what authentication reads on every request.
//! Writers (IAM, bootstrap) update it after their change is durable.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use rampart_sigv4::{signing_key, CredentialScope, SigningKey};

use crate::{Principal, Secret};

/// Signing keys kept per credential: enough for a few regions and services a day.
const SIGNING_KEY_CACHE: usize = 16;

#[derive(Debug)]
pub struct CredentialEntry {
    pub secret: Secret,
    pub principal: Principal,
    pub active: bool,
    signing_keys: Mutex<Vec<(CredentialScope, SigningKey)>>,
    last_used: Mutex<Option<LastUsed>>,
}

/// When and where a credential last authenticated a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastUsed {
    pub time_ms: i64,
    pub service: String,
    pub region: String,
}

impl CredentialEntry {
    pub fn new(secret: Secret, principal: Principal, active: bool) -> CredentialEntry {
        CredentialEntry { secret, principal, active, signing_keys: Mutex::new(Vec::new()), last_used: Mutex::new(None) }
    }

    /// A copy that keeps this entry's usage record (for replacing an entry).
    fn replaced(&self, principal: Principal, active: bool) -> CredentialEntry {
        let entry = CredentialEntry::new(self.secret.clone(), principal, active);
        *entry.last_used.lock() = self.last_used.lock().clone();
        entry
    }

    /// Notes a use; allocates only when the service or region changed.
    pub fn record_use(&self, time_ms: i64, service: &str, region: &str) {
        let mut last = self.last_used.lock();
        match last.as_mut() {
            Some(used) if used.service == service && used.region == region => used.time_ms = time_ms,
            _ => *last = Some(LastUsed { time_ms, service: service.to_string(), region: region.to_string() }),
        }
    }

    pub fn last_used(&self) -> Option<LastUsed> {
        self.last_used.lock().clone()
    }

    /// The signing key for `scope`, derived once and then served from a cache.
    pub fn signing_key(&self, scope: &CredentialScope) -> SigningKey {
        let mut cache = self.signing_keys.lock();
        if let Some((_, key)) = cache.iter().find(|(s, _)| s == scope) {
            return key.clone();
        }
        let key = signing_key(self.secret.expose().as_bytes(), scope);
        if cache.len() >= SIGNING_KEY_CACHE {
            cache.remove(0);
        }
        cache.push((scope.clone(), key.clone()));
        key
    }
}

#[derive(Debug, Default)]
pub struct Credentials {
    by_access_key: RwLock<HashMap<String, Arc<CredentialEntry>>>,
}

impl Credentials {
    pub fn get(&self, access_key_id: &str) -> Option<Arc<CredentialEntry>> {
        self.by_access_key.read().get(access_key_id).cloned()
    }

    pub fn insert(&self, access_key_id: String, entry: CredentialEntry) {
        self.by_access_key.write().insert(access_key_id, Arc::new(entry));
    }

    pub fn remove(&self, access_key_id: &str) {
        self.by_access_key.write().remove(access_key_id);
    }

    pub fn set_active(&self, access_key_id: &str, active: bool) {
        let mut map = self.by_access_key.write();
        if let Some(old) = map.get(access_key_id).cloned() {
            let entry = old.replaced(old.principal.clone(), active);
            map.insert(access_key_id.to_string(), Arc::new(entry));
        }
    }

    /// Replaces the principal of every key whose principal has `principal_id`
    /// (a renamed or moved user).
    pub fn update_principal(&self, principal_id: &str, principal: &Principal) {
        let mut map = self.by_access_key.write();
        let keys: Vec<String> =
            map.iter().filter(|(_, e)| e.principal.principal_id() == principal_id).map(|(k, _)| k.clone()).collect();
        for key in keys {
            if let Some(old) = map.get(&key).cloned() {
                let entry = old.replaced(principal.clone(), old.active);
                map.insert(key, Arc::new(entry));
            }
        }
    }

    pub fn clear(&self) {
        self.by_access_key.write().clear();
    }
}
