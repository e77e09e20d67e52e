//! Imported key material (keys of `EXTERNAL` origin): a wrapping key pair
//! and an import token from GetParametersForImport, the wrapped material
//! through ImportKeyMaterial, and DeleteImportedKeyMaterial, which erases it
//! (the key waits for material again).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::Zeroizing;

use rampart_core::{Call, Outcome};
use rampart_wire::{AwsError, ExceptionId, KmsException as E};

use crate::crypto::{self, KeySpec, Material};
use crate::errors::{self, state_error, validation};
use crate::state::{Key, KeyState, KeyVersion, State, KEY_KIND, MATERIAL_KIND};
use crate::{b64, delete, key_resource, put, unb64, Kms, Mutation};

/// How long an import token and its wrapping key are valid (AWS: 24 hours).
const PARAMETERS_SECONDS: f64 = 86_400.0;

/// What an import token holds, sealed by the node's key wrapper.
#[derive(Serialize, Deserialize)]
struct ImportToken {
    key_arn: String,
    algorithm: String,
    /// The wrapping key pair's PKCS#8 private key, base64.
    private_key: String,
    valid_to: f64,
}

/// What identifies imported material across a deletion and a re-import:
/// SHA-256 over a label and the material (a 256-bit key's digest does not
/// reveal it).
fn fingerprint(material: &[u8]) -> String {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    context.update(b"rampart kms imported material\n");
    context.update(material);
    hex::encode(context.finish().as_ref())
}

fn token_context(key_arn: &str) -> String {
    format!("kms-import:{key_arn}")
}

/// A key that takes imported material.
fn external(key: &Key) -> Result<(), AwsError> {
    if key.record.origin != "EXTERNAL" {
        return Err(errors::wrong_origin(key));
    }
    if key.record.state == KeyState::PendingDeletion {
        return Err(state_error(key));
    }
    Ok(())
}

impl Kms {
    pub(crate) async fn get_parameters_for_import(
        &self,
        call: &Call,
        input: ParametersInput,
    ) -> Result<Outcome, AwsError> {
        let spec = match input.wrapping_key_spec.as_str() {
            "RSA_2048" => KeySpec::Rsa2048,
            "RSA_3072" => KeySpec::Rsa3072,
            "RSA_4096" => KeySpec::Rsa4096,
            other => {
                return Err(errors::unsupported(format!("WrappingKeySpec {other} is not supported in this region.")))
            }
        };
        match input.wrapping_algorithm.as_str() {
            "RSAES_OAEP_SHA_1" | "RSAES_OAEP_SHA_256" | "RSA_AES_KEY_WRAP_SHA_1" | "RSA_AES_KEY_WRAP_SHA_256" => {}
            other => return Err(validation(format!("WrappingAlgorithm {other} is not supported for new imports."))),
        }
        let key_arn = {
            let state = self.state.read();
            let key = Kms::find(&state, call, &input.key_id)?;
            external(key)?;
            key.arn()
        };
        // RSA generation is tens to hundreds of milliseconds of one core.
        let pair = tokio::task::spawn_blocking(move || Material::generate(spec)).await;
        let pair = pair.map_err(|_| errors::failure())?.map_err(|_| errors::failure())?;
        let public = pair.public_key_der(spec).map_err(|_| errors::failure())?;
        let valid_to = self.clock.now() + PARAMETERS_SECONDS;
        let token = ImportToken {
            key_arn: key_arn.clone(),
            algorithm: input.wrapping_algorithm,
            private_key: b64(pair.bytes()),
            valid_to,
        };
        let plain = Zeroizing::new(serde_json::to_vec(&token).map_err(|_| errors::failure())?);
        let sealed = self.sealer.seal_token(&plain, &token_context(&key_arn)).map_err(|_| errors::failure())?;
        Ok(Outcome::read(json!({
            "KeyId": key_arn,
            "ImportToken": b64(sealed.as_bytes()),
            "PublicKey": b64(&public),
            "ParametersValidTo": valid_to.floor(),
        })))
    }

    pub(crate) async fn import_key_material(&self, call: &Call, input: ImportInput) -> Result<Outcome, AwsError> {
        let expires = match (input.expiration_model.as_deref(), input.valid_to) {
            (Some("KEY_MATERIAL_EXPIRES") | None, Some(t)) => Some(t),
            (Some("KEY_MATERIAL_EXPIRES"), None) => {
                return Err(validation("A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES"))
            }
            (Some(_), Some(_)) => {
                return Err(validation(
                    "A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE",
                ))
            }
            (_, None) => None,
        };
        let now = self.clock.now();
        if expires.is_some_and(|t| t <= now) {
            return Err(validation("The validTo date must be in the future."));
        }
        let token_text = unb64(&input.import_token).and_then(|b| String::from_utf8(b).ok());
        let wrapped =
            unb64(&input.encrypted_key_material).ok_or_else(|| validation("EncryptedKeyMaterial is not base64."))?;
        let material_id = errors::random_id()?;
        self.mutate(|state| {
            let key = Kms::find(state, call, &input.key_id)?;
            external(key)?;
            let invalid = || E::InvalidImportTokenException.error("Import token expired or invalid");
            let plain = token_text
                .as_deref()
                .and_then(|t| self.sealer.open_token(t, &token_context(&key.arn())).ok())
                .ok_or_else(invalid)?;
            let token: ImportToken = serde_json::from_slice(&plain).map_err(|_| invalid())?;
            if token.valid_to <= now {
                return Err(E::ExpiredImportTokenException.error("Import token expired"));
            }
            let wrapping = Material::from_bytes(Zeroizing::new(unb64(&token.private_key).ok_or_else(invalid)?));
            let bytes = crypto::unwrap_import(&wrapping, &token.algorithm, &wrapped)
                .map_err(|_| E::InvalidCiphertextException.error(""))?;
            if !crypto::valid_import(key.spec, &bytes) {
                return Err(E::IncorrectKeyMaterialException
                    .error(format!("The key material is not valid for a {} key.", key.spec.name())));
            }
            // Material imported before (deleted since, or still there) must
            // be the same: its fingerprint is kept, never the material.
            let digest = fingerprint(&bytes);
            if key.record.import_digest.as_ref().is_some_and(|d| d != &digest) {
                return Err(E::IncorrectKeyMaterialException
                    .error("The key material does not match the key material previously imported into this KMS key."));
            }
            let material = Material::from_bytes(bytes);
            let mut record = key.record.clone();
            let id = record.versions.first().map(|v| v.material_id.clone()).unwrap_or(material_id);
            record.versions = vec![KeyVersion { version: 1, material_id: id.clone(), created: now, rotation: None }];
            record.valid_to = expires;
            record.import_digest = Some(digest);
            if record.state == KeyState::PendingImport {
                record.state = KeyState::Enabled;
            }
            let at = key.at.clone();
            let sealed = self.seal_material(&at, 1, &material)?;
            let writes = vec![
                put(KEY_KIND, &at.account, &at.record_key(), &record)?,
                put(MATERIAL_KIND, &at.account, &at.material_key(1), &sealed)?,
            ];
            let arn = key.arn();
            Ok(Mutation {
                writes,
                apply: Box::new(move |state: &mut State| {
                    if let Some(key) = state.keys.get_mut(&at) {
                        key.record = record;
                        key.materials = BTreeMap::from([(1, material)]);
                    }
                }),
                output: json!({ "KeyId": arn, "KeyMaterialId": id }),
                resources: vec![key_resource(&arn)],
            })
        })
        .await
    }

    pub(crate) async fn delete_imported_key_material(
        &self,
        call: &Call,
        input: DeleteImportedInput,
    ) -> Result<Outcome, AwsError> {
        let outcome = self
            .mutate(|state| {
                let key = Kms::find(state, call, &input.key_id)?;
                external(key)?;
                Ok(self.material_erasure(key))
            })
            .await?;
        Ok(outcome)
    }

    /// Erases a key's material (its rows, then the store's files are
    /// scrubbed): the key waits for material again.
    pub(crate) fn material_erasure(&self, key: &Key) -> Mutation {
        let at = key.at.clone();
        let mut record = key.record.clone();
        let id = record.versions.first().map(|v| v.material_id.clone()).unwrap_or_default();
        if record.state != KeyState::PendingDeletion {
            record.state = KeyState::PendingImport;
        }
        record.valid_to = None;
        let mut writes: Vec<_> =
            key.materials.keys().map(|v| delete(MATERIAL_KIND, &at.account, &at.material_key(*v))).collect();
        let arn = key.arn();
        let store = self.store.clone();
        match put(KEY_KIND, &at.account, &at.record_key(), &record) {
            Ok(write) => writes.push(write),
            Err(e) => tracing::error!(error = %e.message, "a KMS key record could not be serialized"),
        }
        Mutation {
            writes,
            apply: Box::new(move |state: &mut State| {
                if let Some(key) = state.keys.get_mut(&at) {
                    key.record = record;
                    key.materials.clear();
                }
                tokio::spawn(async move {
                    if let Err(error) = store.scrub().await {
                        tracing::error!(%error, "the store could not be scrubbed after deleting key material");
                    }
                });
            }),
            output: json!({ "KeyId": arn, "KeyMaterialId": id }),
            resources: vec![key_resource(&arn)],
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ParametersInput {
    key_id: String,
    wrapping_algorithm: String,
    wrapping_key_spec: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ImportInput {
    key_id: String,
    import_token: String,
    encrypted_key_material: String,
    valid_to: Option<f64>,
    expiration_model: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DeleteImportedInput {
    key_id: String,
}
