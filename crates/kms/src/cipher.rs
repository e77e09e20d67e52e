//! The cryptographic operations: encryption, data keys, signatures, MACs,
//! key agreement and random bytes. They read memory only (the key's opened
//! material); the audit record is what they commit.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use rampart_core::clusters::ClusterError;
use rampart_core::{Call, Outcome, OutputMembers};
use rampart_wire::{AwsError, ExceptionId, KmsException as E};

use crate::crypto::{self, BlobKey, CryptoError, KeySpec, KeyUsage, Material};
use crate::errors::{self, state_error, validation, wrong_usage};
use crate::state::{Key, KeyState, State};
use crate::{b64, unb64, Kms};

/// Encrypt's and the MAC and signing operations' largest message.
const MESSAGE_BYTES: usize = 4096;

/// Grant tokens must be tokens KMS issued (`grants::read_token`); a grant
/// is usable as soon as CreateGrant returns, so a valid token adds nothing
/// more.
fn check_grant_tokens(tokens: &Option<Vec<String>>) -> Result<(), AwsError> {
    for token in tokens.iter().flatten() {
        if crate::grants::read_token(token).is_none() {
            return Err(E::InvalidGrantTokenException.error("Invalid grant token"));
        }
    }
    Ok(())
}

fn no_recipient(recipient: &Option<Value>) -> Result<(), AwsError> {
    match recipient {
        Some(_) => Err(validation("Recipient attestation documents are not supported: Rampart has no Nitro Enclaves.")),
        None => Ok(()),
    }
}

fn blob_bytes(text: &str) -> Result<Vec<u8>, AwsError> {
    unb64(text).ok_or_else(errors::invalid_ciphertext)
}

fn pairs(context: &Option<BTreeMap<String, String>>) -> Vec<(String, String)> {
    context.iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// A key that can do `operation` now: enabled, and of the usage it needs.
fn usable<'s>(
    state: &'s State,
    call: &Call,
    key_id: &str,
    usage: KeyUsage,
    operation: &str,
) -> Result<&'s Key, AwsError> {
    let key = Kms::find_any(state, call, key_id)?;
    if key.state() != KeyState::Enabled {
        return Err(state_error(key));
    }
    if key.usage != usage {
        return Err(wrong_usage(key, operation));
    }
    Ok(key)
}

/// An asymmetric or HMAC key's material (it has one version).
fn latest_material(key: &Key) -> Result<&Material, AwsError> {
    key.materials.values().next_back().ok_or_else(|| state_error(key))
}

/// A `Message` member's bytes, zeroized when dropped.
fn message_bytes(text: &str) -> Result<Zeroizing<Vec<u8>>, AwsError> {
    Ok(Zeroizing::new(unb64(text).ok_or_else(|| validation("Message is not base64."))?))
}

fn crypto_failure(e: CryptoError) -> AwsError {
    match e {
        CryptoError::Ciphertext => errors::invalid_ciphertext(),
        CryptoError::TooLong => validation("The plaintext is too long for this key and encryption algorithm."),
        CryptoError::Invalid => validation("The public key or message is not valid for this key."),
        CryptoError::Algorithm => E::InvalidKeyUsageException.error("The algorithm is not valid for this key."),
        CryptoError::Material => errors::failure(),
    }
}

fn cluster_failure(e: ClusterError) -> CryptoError {
    match e {
        ClusterError::Ciphertext => CryptoError::Ciphertext,
        other => {
            tracing::error!(error = %other, "a custom key store's cluster failed");
            CryptoError::Material
        }
    }
}

/// What a ciphertext opened to, and with what.
struct Opened {
    plaintext: Zeroizing<Vec<u8>>,
    key_arn: String,
    algorithm: String,
    material_id: Option<String>,
}

/// Encrypts under `key` (checked usable): symmetric keys with the current
/// version and the context bound; RSA keys with OAEP.
fn encrypt_with(
    key: &Key,
    plaintext: &[u8],
    context: &[(String, String)],
    algorithm: Option<&str>,
) -> Result<(Vec<u8>, String), AwsError> {
    let algorithm = algorithm.unwrap_or("SYMMETRIC_DEFAULT");
    if !key.spec.encryption_algorithms(key.usage).contains(&algorithm) {
        return Err(errors::unsupported_algorithm(key, algorithm));
    }
    if key.spec == KeySpec::SymmetricDefault {
        let version = key.current_version().ok_or_else(|| state_error(key))?;
        let blob_key = BlobKey {
            account: key.at.account.clone(),
            region: key.at.region.clone(),
            key_id: key.at.key_id.clone(),
            version,
        };
        let blob = match &key.cluster {
            Some(cluster) => crypto::seal_in_cluster(&blob_key, plaintext, context, |nonce, aad, plaintext| {
                cluster.encrypt(&key.at.key_id, nonce, aad, plaintext).map_err(cluster_failure)
            }),
            None => {
                let material = key.materials.get(&version).ok_or_else(errors::failure)?;
                crypto::seal_symmetric(material, &blob_key, plaintext, context)
            }
        };
        return Ok((blob.map_err(crypto_failure)?, algorithm.to_string()));
    }
    if !context.is_empty() {
        return Err(validation("EncryptionContext is not supported with asymmetric KMS keys."));
    }
    let material = latest_material(key)?;
    let max = crypto::rsa_max_plaintext(key.spec, algorithm).unwrap_or(0);
    if plaintext.len() > max {
        return Err(validation(format!(
            "Algorithm {algorithm} and key spec {} cannot encrypt data larger than {max} bytes.",
            key.spec.name()
        )));
    }
    let ciphertext = crypto::rsa_encrypt(material, algorithm, plaintext).map_err(crypto_failure)?;
    Ok((ciphertext, algorithm.to_string()))
}

/// Decrypts with the key a request names (or, for symmetric ciphertexts,
/// the one the blob names).
fn decrypt_with(
    state: &State,
    call: &Call,
    key_id: Option<&str>,
    blob: &[u8],
    context: &[(String, String)],
    algorithm: Option<&str>,
    operation: &str,
) -> Result<Opened, AwsError> {
    let parsed = crypto::parse_blob(blob);
    let key = match (key_id, &parsed) {
        (Some(id), _) => usable(state, call, id, KeyUsage::EncryptDecrypt, operation)?,
        (None, Some(p)) => {
            let at = crate::access::blob_key_ref(call, p.key.clone());
            usable(state, call, &at.arn(), KeyUsage::EncryptDecrypt, operation)?
        }
        (None, None) => return Err(errors::invalid_ciphertext()),
    };
    let algorithm = algorithm.unwrap_or("SYMMETRIC_DEFAULT");
    if !key.spec.encryption_algorithms(key.usage).contains(&algorithm) {
        return Err(errors::unsupported_algorithm(key, algorithm));
    }
    if key.spec == KeySpec::SymmetricDefault {
        let parsed = parsed.ok_or_else(errors::invalid_ciphertext)?;
        if parsed.key.account != key.at.account || parsed.key.key_id != key.at.key_id {
            return Err(E::IncorrectKeyException
                .error("The key ID in the request does not identify a CMK that can perform this operation."));
        }
        let plaintext = match &key.cluster {
            Some(cluster) if key.current_version() == Some(parsed.key.version) => {
                crypto::open_in_cluster(&parsed, context, |nonce, aad, body| {
                    cluster.decrypt(&key.at.key_id, nonce, aad, body).map_err(cluster_failure)
                })
            }
            Some(_) => return Err(errors::invalid_ciphertext()),
            None => {
                let material = key.materials.get(&parsed.key.version).ok_or_else(errors::invalid_ciphertext)?;
                crypto::open_symmetric(material, &parsed, context)
            }
        };
        let plaintext = plaintext.map_err(crypto_failure)?;
        let material_id =
            key.record.versions.iter().find(|v| v.version == parsed.key.version).map(|v| v.material_id.clone());
        return Ok(Opened { plaintext, key_arn: key.arn(), algorithm: algorithm.to_string(), material_id });
    }
    let material = latest_material(key)?;
    let plaintext = crypto::rsa_decrypt(material, algorithm, blob).map_err(crypto_failure)?;
    Ok(Opened { plaintext, key_arn: key.arn(), algorithm: algorithm.to_string(), material_id: None })
}

/// A data key's length from `NumberOfBytes` or `KeySpec`.
fn data_key_len(bytes: Option<usize>, spec: Option<&str>) -> Result<usize, AwsError> {
    match (bytes, spec) {
        (Some(_), Some(_)) => Err(validation("Please specify either number of bytes or key spec, not both.")),
        (None, None) => Err(validation("Please specify either number of bytes or key spec.")),
        (Some(n), None) if (1..=1024).contains(&n) => Ok(n),
        (Some(n), None) => Err(validation(format!(
            "1 validation error detected: Value '{n}' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024"
        ))),
        (None, Some("AES_256")) => Ok(32),
        (None, Some("AES_128")) => Ok(16),
        (None, Some(other)) => Err(validation(format!("Invalid KeySpec {other}"))),
    }
}

/// A symmetric key for data keys: GenerateDataKey* need one.
fn data_key_key<'s>(state: &'s State, call: &Call, key_id: &str, operation: &str) -> Result<&'s Key, AwsError> {
    let key = usable(state, call, key_id, KeyUsage::EncryptDecrypt, operation)?;
    if key.spec != KeySpec::SymmetricDefault {
        return Err(wrong_usage(key, operation));
    }
    Ok(key)
}

fn message_type(text: Option<&str>) -> Result<bool, AwsError> {
    match text.unwrap_or("RAW") {
        "RAW" => Ok(false),
        "DIGEST" => Ok(true),
        "EXTERNAL_MU" => Err(validation("MessageType EXTERNAL_MU applies only to ML-DSA keys.")),
        other => Err(validation(format!("Invalid MessageType {other}"))),
    }
}

fn check_message(message: &[u8], is_digest: bool, algorithm: &str) -> Result<(), AwsError> {
    if message.is_empty() || message.len() > MESSAGE_BYTES {
        return Err(validation("Message must be between 1 and 4096 bytes."));
    }
    if is_digest && crypto::digest_len(algorithm).is_some_and(|n| n != message.len()) {
        return Err(validation(format!("Digest is invalid length for algorithm {algorithm}.")));
    }
    Ok(())
}

impl Kms {
    pub(crate) async fn encrypt(&self, call: &Call, input: EncryptInput) -> Result<Outcome, AwsError> {
        let plaintext = Zeroizing::new(unb64(&input.plaintext).ok_or_else(|| validation("Plaintext is not base64."))?);
        if plaintext.is_empty() {
            return Err(validation(
                "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length greater than or equal to 1",
            ));
        }
        if plaintext.len() > MESSAGE_BYTES {
            return Err(validation(
                "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096",
            ));
        }
        check_grant_tokens(&input.grant_tokens)?;
        let state = self.state.read();
        let key = usable(&state, call, &input.key_id, KeyUsage::EncryptDecrypt, "Encrypt")?;
        errors::dry_run(input.dry_run)?;
        let (blob, algorithm) =
            encrypt_with(key, &plaintext, &pairs(&input.encryption_context), input.encryption_algorithm.as_deref())?;
        Ok(Outcome::read(json!({ "CiphertextBlob": b64(&blob), "KeyId": key.arn(), "EncryptionAlgorithm": algorithm })))
    }

    pub(crate) async fn decrypt(&self, call: &Call, input: DecryptInput) -> Result<Outcome, AwsError> {
        no_recipient(&input.recipient)?;
        check_grant_tokens(&input.grant_tokens)?;
        let blob = blob_bytes(&input.ciphertext_blob)?;
        let state = self.state.read();
        let opened = decrypt_with(
            &state,
            call,
            input.key_id.as_deref(),
            &blob,
            &pairs(&input.encryption_context),
            input.encryption_algorithm.as_deref(),
            "Decrypt",
        )?;
        errors::dry_run(input.dry_run)?;
        let mut output = json!({
            "KeyId": opened.key_arn,
            "Plaintext": b64(&opened.plaintext),
            "EncryptionAlgorithm": opened.algorithm,
        });
        if let Some(id) = opened.material_id {
            output.set("KeyMaterialId", json!(id));
        }
        Ok(Outcome::read(output))
    }

    pub(crate) async fn re_encrypt(&self, call: &Call, input: ReEncryptInput) -> Result<Outcome, AwsError> {
        check_grant_tokens(&input.grant_tokens)?;
        let blob = blob_bytes(&input.ciphertext_blob)?;
        let state = self.state.read();
        let opened = decrypt_with(
            &state,
            call,
            input.source_key_id.as_deref(),
            &blob,
            &pairs(&input.source_encryption_context),
            input.source_encryption_algorithm.as_deref(),
            "ReEncrypt",
        )?;
        let destination = usable(&state, call, &input.destination_key_id, KeyUsage::EncryptDecrypt, "ReEncrypt")?;
        errors::dry_run(input.dry_run)?;
        let (new_blob, algorithm) = encrypt_with(
            destination,
            &opened.plaintext,
            &pairs(&input.destination_encryption_context),
            input.destination_encryption_algorithm.as_deref(),
        )?;
        Ok(Outcome::read(json!({
            "CiphertextBlob": b64(&new_blob),
            "SourceKeyId": opened.key_arn,
            "KeyId": destination.arn(),
            "SourceEncryptionAlgorithm": opened.algorithm,
            "DestinationEncryptionAlgorithm": algorithm,
        })))
    }

    fn data_key(
        &self,
        call: &Call,
        input: &GenerateDataKeyInput,
        operation: &str,
        with_plaintext: bool,
    ) -> Result<Outcome, AwsError> {
        no_recipient(&input.recipient)?;
        check_grant_tokens(&input.grant_tokens)?;
        let len = data_key_len(input.number_of_bytes, input.key_spec.as_deref())?;
        let state = self.state.read();
        let key = data_key_key(&state, call, &input.key_id, operation)?;
        errors::dry_run(input.dry_run)?;
        let data_key = crypto::random_bytes(len).map_err(crypto_failure)?;
        let (blob, _) = encrypt_with(key, &data_key, &pairs(&input.encryption_context), None)?;
        let mut output = json!({ "CiphertextBlob": b64(&blob), "KeyId": key.arn() });
        if with_plaintext {
            output.set("Plaintext", json!(b64(&data_key)));
        }
        if let Some(v) = key.record.versions.last() {
            output.set("KeyMaterialId", json!(v.material_id));
        }
        Ok(Outcome::read(output))
    }

    pub(crate) async fn generate_data_key(
        &self,
        call: &Call,
        input: GenerateDataKeyInput,
    ) -> Result<Outcome, AwsError> {
        self.data_key(call, &input, "GenerateDataKey", true)
    }

    pub(crate) async fn generate_data_key_without_plaintext(
        &self,
        call: &Call,
        input: GenerateDataKeyInput,
    ) -> Result<Outcome, AwsError> {
        self.data_key(call, &input, "GenerateDataKeyWithoutPlaintext", false)
    }

    async fn data_key_pair(
        &self,
        call: &Call,
        input: DataKeyPairInput,
        operation: &str,
        with_plaintext: bool,
    ) -> Result<Outcome, AwsError> {
        no_recipient(&input.recipient)?;
        check_grant_tokens(&input.grant_tokens)?;
        let spec = KeySpec::parse(&input.key_pair_spec).filter(|s| s.is_asymmetric()).ok_or_else(|| {
            errors::unsupported(format!("KeyPairSpec {} is not supported in this region.", input.key_pair_spec))
        })?;
        {
            let state = self.state.read();
            data_key_key(&state, call, &input.key_id, operation)?;
        }
        errors::dry_run(input.dry_run)?;
        // RSA generation is tens of milliseconds of one core.
        let generated = tokio::task::spawn_blocking(move || crypto::data_key_pair(spec)).await;
        let (private, public) = generated.map_err(|_| errors::failure())?.map_err(crypto_failure)?;
        let state = self.state.read();
        let key = data_key_key(&state, call, &input.key_id, operation)?;
        let (blob, _) = encrypt_with(key, private.bytes(), &pairs(&input.encryption_context), None)?;
        let mut output = json!({
            "PrivateKeyCiphertextBlob": b64(&blob),
            "PublicKey": b64(&public),
            "KeyId": key.arn(),
            "KeyPairSpec": spec.name(),
        });
        if with_plaintext {
            output.set("PrivateKeyPlaintext", json!(b64(private.bytes())));
        }
        if let Some(v) = key.record.versions.last() {
            output.set("KeyMaterialId", json!(v.material_id));
        }
        Ok(Outcome::read(output))
    }

    pub(crate) async fn generate_data_key_pair(
        &self,
        call: &Call,
        input: DataKeyPairInput,
    ) -> Result<Outcome, AwsError> {
        self.data_key_pair(call, input, "GenerateDataKeyPair", true).await
    }

    pub(crate) async fn generate_data_key_pair_without_plaintext(
        &self,
        call: &Call,
        input: DataKeyPairInput,
    ) -> Result<Outcome, AwsError> {
        self.data_key_pair(call, input, "GenerateDataKeyPairWithoutPlaintext", false).await
    }

    pub(crate) async fn generate_random(&self, call: &Call, input: GenerateRandomInput) -> Result<Outcome, AwsError> {
        no_recipient(&input.recipient)?;
        let n = input.number_of_bytes.ok_or_else(|| validation("NumberOfBytes is required."))?;
        if !(1..=1024).contains(&n) {
            return Err(validation(format!(
                "1 validation error detected: Value '{n}' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024"
            )));
        }
        let bytes = match input.custom_key_store_id {
            // Random bytes from the store's cluster, as AWS draws them from its CloudHSM cluster.
            Some(id) => {
                let (_, session) = Kms::store_session(&self.state.read(), call, &id)?;
                let drawn =
                    tokio::task::spawn_blocking(move || session.random(n)).await.map_err(|_| errors::failure())?;
                Zeroizing::new(drawn.map_err(|e| crypto_failure(cluster_failure(e)))?)
            }
            None => crypto::random_bytes(n).map_err(crypto_failure)?,
        };
        Ok(Outcome::read(json!({ "Plaintext": b64(&bytes) })))
    }

    pub(crate) async fn get_public_key(&self, call: &Call, input: GetPublicKeyInput) -> Result<Outcome, AwsError> {
        check_grant_tokens(&input.grant_tokens)?;
        let state = self.state.read();
        let key = Kms::find_any(&state, call, &input.key_id)?;
        if key.state() != KeyState::Enabled {
            return Err(state_error(key));
        }
        if !key.spec.is_asymmetric() {
            return Err(E::UnsupportedOperationException.error(format!(
                "{} key usage is not supported for GetPublicKey: it is not an asymmetric key.",
                key.arn()
            )));
        }
        let material = latest_material(key)?;
        let public = material.public_key_der(key.spec).map_err(crypto_failure)?;
        let mut output = json!({
            "KeyId": key.arn(),
            "PublicKey": b64(&public),
            "CustomerMasterKeySpec": key.spec.name(),
            "KeySpec": key.spec.name(),
            "KeyUsage": key.usage.name(),
        });
        match key.usage {
            KeyUsage::EncryptDecrypt => {
                output.set("EncryptionAlgorithms", json!(key.spec.encryption_algorithms(key.usage)))
            }
            KeyUsage::SignVerify => output.set("SigningAlgorithms", json!(key.spec.signing_algorithms(key.usage))),
            KeyUsage::KeyAgreement => output.set("KeyAgreementAlgorithms", json!(["ECDH"])),
            KeyUsage::GenerateVerifyMac => {}
        }
        Ok(Outcome::read(output))
    }

    /// The material of a signing key and the checked message.
    fn signing<'s>(
        state: &'s State,
        call: &Call,
        key_id: &str,
        algorithm: &str,
        operation: &str,
    ) -> Result<(&'s Key, &'s Material), AwsError> {
        let key = usable(state, call, key_id, KeyUsage::SignVerify, operation)?;
        if !key.spec.signing_algorithms(key.usage).contains(&algorithm) {
            return Err(errors::unsupported_algorithm(key, algorithm));
        }
        let material = latest_material(key)?;
        Ok((key, material))
    }

    pub(crate) async fn sign(&self, call: &Call, input: SignInput) -> Result<Outcome, AwsError> {
        check_grant_tokens(&input.grant_tokens)?;
        let message = message_bytes(&input.message)?;
        let is_digest = message_type(input.message_type.as_deref())?;
        check_message(&message, is_digest, &input.signing_algorithm)?;
        let (spec, material, arn) = {
            let state = self.state.read();
            let (key, material) = Kms::signing(&state, call, &input.key_id, &input.signing_algorithm, "Sign")?;
            (key.spec, material.clone(), key.arn())
        };
        errors::dry_run(input.dry_run)?;
        let algorithm = input.signing_algorithm.clone();
        // An RSA-4096 signature is several milliseconds of one core.
        let signed =
            tokio::task::spawn_blocking(move || crypto::sign(&material, spec, &algorithm, &message, is_digest)).await;
        let signature = signed.map_err(|_| errors::failure())?.map_err(crypto_failure)?;
        Ok(Outcome::read(json!({
            "KeyId": arn,
            "Signature": b64(&signature),
            "SigningAlgorithm": input.signing_algorithm,
        })))
    }

    pub(crate) async fn verify(&self, call: &Call, input: VerifyInput) -> Result<Outcome, AwsError> {
        check_grant_tokens(&input.grant_tokens)?;
        let message = message_bytes(&input.message)?;
        let signature = unb64(&input.signature).ok_or_else(|| validation("Signature is not base64."))?;
        let is_digest = message_type(input.message_type.as_deref())?;
        check_message(&message, is_digest, &input.signing_algorithm)?;
        let state = self.state.read();
        let (key, material) = Kms::signing(&state, call, &input.key_id, &input.signing_algorithm, "Verify")?;
        errors::dry_run(input.dry_run)?;
        let valid = crypto::verify(material, key.spec, &input.signing_algorithm, &message, is_digest, &signature)
            .map_err(crypto_failure)?;
        if !valid {
            return Err(E::KMSInvalidSignatureException.error(""));
        }
        Ok(Outcome::read(json!({
            "KeyId": key.arn(),
            "SignatureValid": true,
            "SigningAlgorithm": input.signing_algorithm,
        })))
    }

    fn mac_key<'s>(
        state: &'s State,
        call: &Call,
        key_id: &str,
        algorithm: &str,
        operation: &str,
    ) -> Result<&'s Key, AwsError> {
        let key = usable(state, call, key_id, KeyUsage::GenerateVerifyMac, operation)?;
        if !key.spec.mac_algorithms().contains(&algorithm) {
            return Err(errors::unsupported_algorithm(key, algorithm));
        }
        Ok(key)
    }

    pub(crate) async fn generate_mac(&self, call: &Call, input: MacInput) -> Result<Outcome, AwsError> {
        check_grant_tokens(&input.grant_tokens)?;
        let message = message_bytes(&input.message)?;
        check_message(&message, false, &input.mac_algorithm)?;
        let state = self.state.read();
        let key = Kms::mac_key(&state, call, &input.key_id, &input.mac_algorithm, "GenerateMac")?;
        errors::dry_run(input.dry_run)?;
        let material = latest_material(key)?;
        let tag = crypto::mac(material, key.spec, &input.mac_algorithm, &message).map_err(crypto_failure)?;
        Ok(Outcome::read(json!({ "Mac": b64(&tag), "MacAlgorithm": input.mac_algorithm, "KeyId": key.arn() })))
    }

    pub(crate) async fn verify_mac(&self, call: &Call, input: MacInput) -> Result<Outcome, AwsError> {
        check_grant_tokens(&input.grant_tokens)?;
        let message = message_bytes(&input.message)?;
        let tag = input.mac.as_deref().and_then(unb64).ok_or_else(|| validation("Mac is required."))?;
        check_message(&message, false, &input.mac_algorithm)?;
        let state = self.state.read();
        let key = Kms::mac_key(&state, call, &input.key_id, &input.mac_algorithm, "VerifyMac")?;
        errors::dry_run(input.dry_run)?;
        let material = latest_material(key)?;
        let valid =
            crypto::verify_mac(material, key.spec, &input.mac_algorithm, &message, &tag).map_err(crypto_failure)?;
        if !valid {
            return Err(E::KMSInvalidMacException.error(""));
        }
        Ok(Outcome::read(json!({ "KeyId": key.arn(), "MacValid": true, "MacAlgorithm": input.mac_algorithm })))
    }

    pub(crate) async fn derive_shared_secret(
        &self,
        call: &Call,
        input: DeriveSharedSecretInput,
    ) -> Result<Outcome, AwsError> {
        no_recipient(&input.recipient)?;
        check_grant_tokens(&input.grant_tokens)?;
        if input.key_agreement_algorithm != "ECDH" {
            return Err(validation(format!("Invalid KeyAgreementAlgorithm {}", input.key_agreement_algorithm)));
        }
        let peer = unb64(&input.public_key).ok_or_else(|| validation("PublicKey is not base64."))?;
        let state = self.state.read();
        let key = usable(&state, call, &input.key_id, KeyUsage::KeyAgreement, "DeriveSharedSecret")?;
        errors::dry_run(input.dry_run)?;
        let material = latest_material(key)?;
        let secret = crypto::derive_shared_secret(material, key.spec, &peer).map_err(|_| {
            validation(format!(
                "The public key is not a valid {} public key (DER SubjectPublicKeyInfo).",
                key.spec.name()
            ))
        })?;
        Ok(Outcome::read(json!({
            "KeyId": key.arn(),
            "SharedSecret": b64(&secret),
            "KeyAgreementAlgorithm": "ECDH",
            "KeyOrigin": key.record.origin,
        })))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct EncryptInput {
    key_id: String,
    plaintext: String,
    encryption_context: Option<BTreeMap<String, String>>,
    grant_tokens: Option<Vec<String>>,
    encryption_algorithm: Option<String>,
    dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DecryptInput {
    ciphertext_blob: String,
    encryption_context: Option<BTreeMap<String, String>>,
    grant_tokens: Option<Vec<String>>,
    key_id: Option<String>,
    encryption_algorithm: Option<String>,
    recipient: Option<Value>,
    dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ReEncryptInput {
    ciphertext_blob: String,
    source_encryption_context: Option<BTreeMap<String, String>>,
    source_key_id: Option<String>,
    destination_key_id: String,
    destination_encryption_context: Option<BTreeMap<String, String>>,
    source_encryption_algorithm: Option<String>,
    destination_encryption_algorithm: Option<String>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GenerateDataKeyInput {
    key_id: String,
    encryption_context: Option<BTreeMap<String, String>>,
    number_of_bytes: Option<usize>,
    key_spec: Option<String>,
    grant_tokens: Option<Vec<String>>,
    recipient: Option<Value>,
    dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DataKeyPairInput {
    key_id: String,
    encryption_context: Option<BTreeMap<String, String>>,
    key_pair_spec: String,
    grant_tokens: Option<Vec<String>>,
    recipient: Option<Value>,
    dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GenerateRandomInput {
    number_of_bytes: Option<usize>,
    custom_key_store_id: Option<String>,
    recipient: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetPublicKeyInput {
    key_id: String,
    grant_tokens: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SignInput {
    key_id: String,
    message: String,
    message_type: Option<String>,
    grant_tokens: Option<Vec<String>>,
    signing_algorithm: String,
    dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct VerifyInput {
    key_id: String,
    message: String,
    message_type: Option<String>,
    signature: String,
    signing_algorithm: String,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct MacInput {
    key_id: String,
    message: String,
    mac_algorithm: String,
    mac: Option<String>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DeriveSharedSecretInput {
    key_id: String,
    key_agreement_algorithm: String,
    public_key: String,
    grant_tokens: Option<Vec<String>>,
    recipient: Option<Value>,
    dry_run: Option<bool>,
}

/// A call that only names keys as the account's own (`Kms::find_any` reads
/// its account and region): a service's use is authorized by the key's
/// policy alone, never as this caller.
fn naming_call(account: &rampart_core::AccountId, region: &str, operation: &'static str) -> Call {
    Call {
        request_id: String::new(),
        service: rampart_core::ServiceId::Kms,
        operation,
        caller: rampart_core::Principal::Root { account: account.clone() },
        access_key_id: String::new(),
        session: None,
        region: region.to_string(),
        source_ip: String::new(),
        user_agent: String::new(),
        secure_transport: true,
        time_ms: 0,
    }
}

fn key_use_error(e: AwsError) -> rampart_core::service_keys::KeyUseError {
    use rampart_core::service_keys::KeyUseError;
    match e.code.as_str() {
        "NotFoundException" => KeyUseError::NotFound(e.message),
        "InvalidCiphertextException" | "IncorrectKeyException" => KeyUseError::Invalid(e.message),
        _ => KeyUseError::Unusable(e.message),
    }
}

/// Whether the key's policy lets the service do `action` with this use's
/// context (`kms:EncryptionContext:KEY`, `kms:EncryptionContextKeys`,
/// `aws:SourceArn`, `aws:SourceAccount`).
fn service_allowed(key: &Key, request: &rampart_core::service_keys::KeyUse<'_>, action: &str) -> bool {
    let mut context = rampart_policy::Context::new();
    for (k, v) in request.context {
        context.set(&format!("kms:EncryptionContext:{k}"), v.clone());
    }
    context.set_all("kms:EncryptionContextKeys", request.context.iter().map(|(k, _)| k.clone()).collect());
    context.set("aws:SourceArn", request.source_arn);
    context.set("aws:SourceAccount", request.account);
    // The service acts within the key's account: the key policy alone
    // decides (a statement naming the account delegates to IAM policies,
    // which a service has none of, so it grants the service nothing).
    // Only a `Service` entry (or `AWS: *`) names a service principal.
    let caller = rampart_policy::Caller {
        arn: request.service,
        account: request.account,
        role_arn: None,
        service: Some(request.service),
        federated: None,
    };
    let arn = key.arn();
    let evaluated = rampart_policy::Request {
        caller: Some(caller),
        resource_account: Some(request.account),
        ..rampart_policy::Request::identity(action, &arn, &context)
    };
    let set = rampart_policy::PolicySet {
        resource: vec![rampart_policy::PolicyRef { name: "key-policy", policy: &key.policy }],
        resource_required: true,
        ..rampart_policy::PolicySet::default()
    };
    rampart_policy::evaluate(&evaluated, &set).is_allowed()
}

impl rampart_core::service_keys::ServiceKeys for Kms {
    fn generate_data_key(
        &self,
        request: &rampart_core::service_keys::KeyUse<'_>,
    ) -> Result<rampart_core::service_keys::DataKey, rampart_core::service_keys::KeyUseError> {
        use rampart_core::service_keys::{DataKey, KeyUseError};
        let account = rampart_core::AccountId::parse(request.account)
            .ok_or_else(|| KeyUseError::NotFound(format!("Invalid account {}", request.account)))?;
        let call = naming_call(&account, request.region, "GenerateDataKey");
        let state = self.state.read();
        let key = data_key_key(&state, &call, request.key_id, "GenerateDataKey").map_err(key_use_error)?;
        if !service_allowed(key, request, "kms:GenerateDataKey") {
            return Err(KeyUseError::Denied(format!(
                "The key policy of {} does not allow {} to call kms:GenerateDataKey.",
                key.arn(),
                request.service
            )));
        }
        let plaintext = crypto::random_bytes(32).map_err(|e| KeyUseError::Unusable(e.to_string()))?;
        let (ciphertext, _) = encrypt_with(key, &plaintext, request.context, None).map_err(key_use_error)?;
        Ok(DataKey { key_arn: key.arn(), plaintext, ciphertext })
    }

    fn decrypt(
        &self,
        request: &rampart_core::service_keys::KeyUse<'_>,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, rampart_core::service_keys::KeyUseError> {
        use rampart_core::service_keys::KeyUseError;
        let account = rampart_core::AccountId::parse(request.account)
            .ok_or_else(|| KeyUseError::NotFound(format!("Invalid account {}", request.account)))?;
        let call = naming_call(&account, request.region, "Decrypt");
        let state = self.state.read();
        let key = usable(&state, &call, request.key_id, KeyUsage::EncryptDecrypt, "Decrypt").map_err(key_use_error)?;
        if !service_allowed(key, request, "kms:Decrypt") {
            return Err(KeyUseError::Denied(format!(
                "The key policy of {} does not allow {} to call kms:Decrypt.",
                key.arn(),
                request.service
            )));
        }
        let opened = decrypt_with(&state, &call, Some(&key.arn()), ciphertext, request.context, None, "Decrypt")
            .map_err(key_use_error)?;
        Ok(opened.plaintext)
    }
}

/// A data directory's KMS keys opened offline: its records read-only
/// (beside a running node) with the node's key wrapper — for `rampart
/// trail validate` reading encrypted log files. A key opens data keys while
/// it is enabled and holds the version's material (a destroyed key opens
/// nothing); no policy is consulted: whoever holds the node's keys can open
/// every secret of its data directory anyway.
pub struct OfflineKeys {
    state: State,
}

impl std::fmt::Debug for OfflineKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineKeys").field("keys", &self.state.keys.len()).finish_non_exhaustive()
    }
}

impl OfflineKeys {
    pub fn open(data: &std::path::Path, sealer: &rampart_core::Sealer) -> Result<OfflineKeys, String> {
        let scan = |kind: &str| rampart_store::read_records(data, kind).map_err(|e| e.to_string());
        Ok(OfflineKeys { state: crate::lifecycle::load(&scan, sealer)? })
    }

    /// The plaintext of a data key the key `key_arn` encrypted with `context`.
    pub fn open_data_key(
        &self,
        key_arn: &str,
        context: &[(String, String)],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, String> {
        let arn = rampart_core::Arn::parse(key_arn).ok_or_else(|| format!("{key_arn} is not a key ARN"))?;
        let account =
            rampart_core::AccountId::parse(&arn.account).ok_or_else(|| format!("{key_arn} names no account"))?;
        let call = naming_call(&account, &arn.region, "Decrypt");
        let opened = decrypt_with(&self.state, &call, Some(key_arn), ciphertext, context, None, "Decrypt")
            .map_err(|e| e.message)?;
        Ok(opened.plaintext)
    }
}
