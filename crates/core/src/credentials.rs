//! The in-memory credential table: what authentication reads on every request.
//! Writers (IAM, bootstrap) update it after their change is durable.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};
use rampart_sigv4::{signing_key, CredentialScope, SigningKey};

use crate::{Principal, Secret, Session};

/// Signing keys kept per credential: enough for a few regions and services a day.
const SIGNING_KEY_CACHE: usize = 16;

#[derive(Debug)]
pub struct CredentialEntry {
    pub secret: Secret,
    pub principal: Principal,
    pub active: bool,
    /// For temporary credentials: the session token that must accompany the
    /// key, and what STS issued with it.
    pub session: Option<(Secret, Arc<Session>)>,
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
        CredentialEntry {
            secret,
            principal,
            active,
            session: None,
            signing_keys: Mutex::new(Vec::new()),
            last_used: Mutex::new(None),
        }
    }

    /// Temporary credentials: a key that is valid only with `token`.
    pub fn temporary(secret: Secret, principal: Principal, token: Secret, session: Session) -> CredentialEntry {
        CredentialEntry { session: Some((token, Arc::new(session))), ..CredentialEntry::new(secret, principal, true) }
    }

    /// A copy that keeps this entry's usage record (for replacing an entry).
    fn replaced(&self, principal: Principal, active: bool) -> CredentialEntry {
        let entry = CredentialEntry {
            session: self.session.clone(),
            ..CredentialEntry::new(self.secret.clone(), principal, active)
        };
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

/// Why a credential was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialRefusal {
    /// Not a key of this node, inactive, or a session token that does not
    /// belong to it (`InvalidClientTokenId`).
    Unknown,
    /// Temporary credentials past their expiration (`ExpiredToken`).
    Expired(Box<Principal>),
}

/// Opens a session token the table does not hold yet (its first use, or the
/// first since a restart) into the entry of its temporary credentials.
pub trait SessionOpener: Send + Sync {
    fn open(&self, access_key_id: &str, token: &str) -> Option<CredentialEntry>;
}

/// Drops temporary credentials that have expired, once the table has grown.
fn purge_expired(map: &mut HashMap<String, Arc<CredentialEntry>>, now_ms: i64) {
    const PURGE_ABOVE: usize = 10_000;
    if map.len() > PURGE_ABOVE {
        map.retain(|_, e| e.session.as_ref().is_none_or(|(_, s)| !s.is_expired(now_ms)));
    }
}

#[derive(Default)]
pub struct Credentials {
    by_access_key: RwLock<HashMap<String, Arc<CredentialEntry>>>,
    opener: OnceLock<Arc<dyn SessionOpener>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("keys", &self.by_access_key.read().len()).finish()
    }
}

impl Credentials {
    /// Sets who opens session tokens (STS); once, at start-up.
    pub fn set_session_opener(&self, opener: Arc<dyn SessionOpener>) {
        let _ = self.opener.set(opener);
    }

    /// The entry that may sign a request with `access_key_id` and, for
    /// temporary credentials, the session `token` sent with it.
    pub fn resolve(
        &self,
        access_key_id: &str,
        token: Option<&str>,
        now_ms: i64,
    ) -> Result<Arc<CredentialEntry>, CredentialRefusal> {
        let entry = match (self.get(access_key_id), token, self.opener.get()) {
            (Some(entry), _, _) => entry,
            (None, Some(token), Some(opener)) => {
                let entry = Arc::new(opener.open(access_key_id, token).ok_or(CredentialRefusal::Unknown)?);
                let mut map = self.by_access_key.write();
                purge_expired(&mut map, now_ms);
                map.insert(access_key_id.to_string(), entry.clone());
                entry
            }
            _ => return Err(CredentialRefusal::Unknown),
        };
        if !entry.active {
            return Err(CredentialRefusal::Unknown);
        }
        match (&entry.session, token) {
            (None, None) => Ok(entry),
            (Some((expected, session)), Some(token)) if expected.ct_eq(token) => {
                if session.is_expired(now_ms) {
                    Err(CredentialRefusal::Expired(Box::new(entry.principal.clone())))
                } else {
                    Ok(entry)
                }
            }
            // A long-term key with a token, or temporary credentials without theirs.
            _ => Err(CredentialRefusal::Unknown),
        }
    }

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

    /// Forgets the temporary credentials of a principal (a user or role that
    /// was deleted; ids have a fixed length, so the prefix `ROLE_ID:` names a
    /// role's sessions and a user id the user's): their next use reopens the
    /// token and is refused.
    pub fn forget_sessions_of(&self, principal_id_prefix: &str) {
        self.by_access_key
            .write()
            .retain(|_, e| e.session.is_none() || !e.principal.principal_id().starts_with(principal_id_prefix));
    }

    pub fn clear(&self) {
        self.by_access_key.write().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AccountId;

    struct OneSession;

    impl SessionOpener for OneSession {
        fn open(&self, access_key_id: &str, token: &str) -> Option<CredentialEntry> {
            let account = AccountId::parse("123456789012")?;
            let session = Session { issued_ms: 0, expires_ms: 1_000, ..Session::default() };
            (access_key_id == "ASIA1" && token == "good").then(|| {
                CredentialEntry::temporary(
                    Secret::new("s".into()),
                    Principal::Root { account },
                    Secret::new(token.into()),
                    session,
                )
            })
        }
    }

    #[test]
    fn temporary_credentials_need_their_token_until_they_expire() {
        let table = Credentials::default();
        assert_eq!(table.resolve("ASIA1", Some("good"), 10).err(), Some(CredentialRefusal::Unknown));
        table.set_session_opener(Arc::new(OneSession));
        assert!(table.resolve("ASIA1", Some("good"), 10).is_ok());
        assert!(table.get("ASIA1").is_some(), "opened once, then served from memory");
        assert_eq!(table.resolve("ASIA1", Some("bad"), 10).err(), Some(CredentialRefusal::Unknown));
        assert_eq!(table.resolve("ASIA1", None, 10).err(), Some(CredentialRefusal::Unknown));
        assert!(matches!(table.resolve("ASIA1", Some("good"), 1_000), Err(CredentialRefusal::Expired(_))));
        assert_eq!(table.resolve("ASIA2", Some("good"), 10).err(), Some(CredentialRefusal::Unknown));

        let account = AccountId::parse("123456789012").expect("a valid account id");
        table.insert("AKIA1".into(), CredentialEntry::new(Secret::new("s".into()), Principal::Root { account }, true));
        assert!(table.resolve("AKIA1", None, 10).is_ok());
        assert_eq!(table.resolve("AKIA1", Some("good"), 10).err(), Some(CredentialRefusal::Unknown));
        table.set_active("AKIA1", false);
        assert_eq!(table.resolve("AKIA1", None, 10).err(), Some(CredentialRefusal::Unknown));
    }
}
