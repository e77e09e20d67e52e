//! GetKeyLastUsage: each key's last successful cryptographic use, noted in
//! memory when a call succeeds and stored by a task every minute and at
//! shutdown (bookkeeping without an audit record of its own: the call's
//! record is the use).

use serde::Deserialize;
use serde_json::{json, Value};

use rampart_core::{Call, Change, Outcome, OutputMembers, SystemChange};
use rampart_wire::{AwsError, KmsOperation as O, OperationId};

use crate::state::{KeyRef, LastUse, State, KEY_KIND};
use crate::{put, Kms};

/// The operations GetKeyLastUsage reports (its `KeyLastUsageTrackingOperation`).
const TRACKED: &[O] = &[
    O::Decrypt,
    O::DeriveSharedSecret,
    O::Encrypt,
    O::GenerateDataKey,
    O::GenerateDataKeyPair,
    O::GenerateDataKeyPairWithoutPlaintext,
    O::GenerateDataKeyWithoutPlaintext,
    O::GenerateMac,
    O::ReEncrypt,
    O::Sign,
    O::Verify,
    O::VerifyMac,
];

impl Kms {
    /// After a tracked operation succeeded: its key (the output's `KeyId`,
    /// always the key's ARN) was used now.
    pub(crate) fn note_use(&self, call: &Call, output: &Value) {
        if !O::from_name(call.operation).is_some_and(|op| TRACKED.contains(&op)) {
            return;
        }
        let Some(arn) = output.get("KeyId").and_then(Value::as_str).and_then(rampart_core::Arn::parse) else {
            return;
        };
        let Some(key_id) = arn.resource.strip_prefix("key/") else { return };
        let at = KeyRef { account: arn.account.clone(), region: arn.region.clone(), key_id: key_id.to_string() };
        let use_ = LastUse {
            time: call.time_ms as f64 / 1000.0,
            operation: call.operation.to_string(),
            request_id: call.request_id.clone(),
        };
        self.last_used.lock().insert(at, use_);
    }

    /// Stores the uses noted since the last flush.
    pub(crate) async fn flush_last_used(&self) -> Result<Option<SystemChange>, String> {
        let guard = self.lock.clone().lock_owned().await;
        let noted: Vec<(KeyRef, LastUse)> = self.last_used.lock().drain().collect();
        if noted.is_empty() {
            return Ok(None);
        }
        let mut writes = Vec::new();
        let mut applied = Vec::new();
        {
            let state = self.state.read();
            for (at, use_) in noted {
                // A key destroyed since has nothing to note.
                let Some(key) = state.keys.get(&at) else { continue };
                let mut record = key.record.clone();
                record.last_used = Some(use_);
                writes.push(put(KEY_KIND, &at.account, &at.record_key(), &record).map_err(|e| e.message)?);
                applied.push((at, record));
            }
        }
        let state = self.state.clone();
        let change = Change {
            writes,
            apply: Box::new(move || {
                let mut state: parking_lot::RwLockWriteGuard<'_, State> = state.write();
                for (at, record) in applied {
                    if let Some(key) = state.keys.get_mut(&at) {
                        key.record.last_used = record.last_used;
                    }
                }
                drop(guard);
            }),
        };
        Ok(Some(SystemChange { change, events: Vec::new() }))
    }

    pub(crate) async fn get_key_last_usage(&self, call: &Call, input: LastUsageInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let key = Kms::find(&state, call, &input.key_id)?;
        let noted = self.last_used.lock().get(&key.at).cloned();
        let mut output = json!({
            "KeyId": key.arn(),
            "TrackingStartDate": key.record.created,
            "KeyCreationDate": key.record.created,
        });
        if let Some(use_) = noted.or_else(|| key.record.last_used.clone()) {
            output.set(
                "KeyLastUsage",
                json!({ "Operation": use_.operation, "Timestamp": use_.time, "KmsRequestId": use_.request_id }),
            );
        }
        Ok(Outcome::read(output))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct LastUsageInput {
    key_id: String,
}
