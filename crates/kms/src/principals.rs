//! Key policies and grants follow the IAM principals they name: when a user
//! or role is deleted (or a user renamed), IAM has KMS rewrite them in its
//! own commit (`rampart_core::PrincipalFollower`) — a deleted principal is
//! named by its unique id, so a namesake created later inherits nothing.

use std::sync::Arc;

use rampart_core::{Busy, Change, PrincipalFollower};
use rampart_policy::{Policy, PolicyKind};

use crate::state::{Grant, KeyRef, State, GRANT_KIND, KEY_KIND};
use crate::{put, Kms};

impl PrincipalFollower for Kms {
    fn follow(&self, from: &str, to: &str) -> Result<Option<Change>, Busy> {
        // Held until the change is applied: nothing it rewrites changes first.
        let guard = self.lock.clone().try_lock_owned().map_err(|_| Busy)?;
        let mut writes = Vec::new();
        let mut policies: Vec<(KeyRef, String, Policy)> = Vec::new();
        let mut grants: Vec<(KeyRef, Grant)> = Vec::new();
        {
            let state = self.state.read();
            for key in state.keys.values() {
                let at = &key.at;
                if let Ok(mut document) = serde_json::from_str::<serde_json::Value>(&key.record.policy) {
                    if rampart_policy::replace_aws_principal(&mut document, from, to) {
                        let text = document.to_string();
                        let policy = Policy::parse(&text, PolicyKind::Resource).unwrap_or_else(|_| Policy::empty());
                        let mut record = key.record.clone();
                        record.policy = text.clone();
                        writes.extend(put(KEY_KIND, &at.account, &at.record_key(), &record).ok());
                        policies.push((at.clone(), text, policy));
                    }
                }
                for grant in key.grants.iter().filter(|g| g.grantee == from || g.retiring.as_deref() == Some(from)) {
                    let mut grant = grant.clone();
                    if grant.grantee == from {
                        grant.grantee = to.to_string();
                    }
                    if grant.retiring.as_deref() == Some(from) {
                        grant.retiring = Some(to.to_string());
                    }
                    let record_key = format!("{}/{}/{}", at.region, at.key_id, grant.grant_id);
                    writes.extend(put(GRANT_KIND, &at.account, &record_key, &grant).ok());
                    grants.push((at.clone(), grant));
                }
            }
        }
        if policies.is_empty() && grants.is_empty() {
            return Ok(None);
        }
        let state = self.state.clone();
        Ok(Some(Change {
            writes,
            apply: Box::new(move || {
                let mut state: parking_lot::RwLockWriteGuard<'_, State> = state.write();
                for (at, text, policy) in policies {
                    if let Some(key) = state.keys.get_mut(&at) {
                        key.record.policy = text;
                        key.policy = Arc::new(policy);
                    }
                }
                for (at, grant) in grants {
                    if let Some(key) = state.keys.get_mut(&at) {
                        if let Some(g) = key.grants.iter_mut().find(|g| g.grant_id == grant.grant_id) {
                            *g = grant;
                        }
                    }
                }
                drop(guard);
            }),
        }))
    }
}
