//! IAM's sealed secrets, sealed again under the key wrapper's current key
//! (`Service::reseal`): access-key secrets, MFA seeds, server certificates'
//! private keys and the outbound token-signing keys, each with the context
//! it was sealed with.

use serde_json::Value;

use rampart_core::{AccountId, Sealer};
use rampart_store::{RecordWrite, Store};

use crate::state::{KEY_KIND, MFA_KIND, SERVER_CERTIFICATE_KIND, SETTINGS_KIND};

/// How one record's sealed members are found and what each is bound to.
fn reseal_record(sealer: &Sealer, kind: &str, account: &str, key: &str, value: &mut Value) -> Result<bool, String> {
    let text = |value: &Value, member: &str| value.get(member).and_then(Value::as_str).unwrap_or_default().to_string();
    let changed = match kind {
        KEY_KIND => sealer.reseal_member(value, "sealed_secret", key),
        MFA_KIND => {
            let account = AccountId::parse(account).ok_or_else(|| format!("an MFA device of account '{account}'"))?;
            let hardware = value.get("hardware").and_then(Value::as_bool).unwrap_or(false);
            let context = crate::mfa::seed_context(&account, &text(value, "serial"), hardware);
            sealer.reseal_member(value, "sealed_seed", &context)
        }
        SERVER_CERTIFICATE_KIND => {
            let id = text(value, "id");
            sealer.reseal_member(value, "sealed_private_key", &id)
        }
        SETTINGS_KIND => {
            let mut changed = false;
            for outbound in value.get_mut("outbound_keys").and_then(Value::as_array_mut).into_iter().flatten() {
                let context = crate::outbound::outbound_key_context(account, &text(outbound, "kid"));
                changed |= sealer.reseal_member(outbound, "sealed_pkcs8", &context).map_err(|e| e.to_string())?;
            }
            Ok(changed)
        }
        _ => Ok(false),
    };
    changed.map_err(|e| format!("IAM {kind} {key} of account {account}: {e}"))
}

pub(crate) fn writes(store: &Store, sealer: &Sealer) -> Result<Vec<RecordWrite>, String> {
    let mut writes = Vec::new();
    for kind in [KEY_KIND, MFA_KIND, SERVER_CERTIFICATE_KIND, SETTINGS_KIND] {
        for record in store.scan(kind).map_err(|e| e.to_string())? {
            let mut value: Value = serde_json::from_str(&record.value).map_err(|e| format!("IAM {kind}: {e}"))?;
            if reseal_record(sealer, kind, &record.account, &record.key, &mut value)? {
                let value = serde_json::to_string(&value).map_err(|e| e.to_string())?;
                writes.push(RecordWrite::Put { kind, account: record.account, key: record.key, value });
            }
        }
    }
    Ok(writes)
}
