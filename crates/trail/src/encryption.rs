//! Log files encrypted under a trail's KMS key, as S3 keeps SSE-KMS
//! objects: each file has its own data key from KMS (generated for
//! `cloudtrail.amazonaws.com`, which the key's policy must allow), with the
//! encryption context `aws:cloudtrail:arn` (the trail) and `aws:s3:arn` (the
//! file). The file holds a random 12-byte nonce and the gzipped log
//! sealed with AES-256-GCM under the data key, the file's S3 ARN as
//! additional data (a file moved elsewhere does not open). Beside it,
//! `FILE.metadata` holds what S3 keeps as the object's metadata: the
//! `x-amz-server-side-encryption` headers and the encrypted data key.
//! Digests list the hash of the uncompressed plaintext, as AWS's do.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::Engine;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use rampart_core::service_keys::DataKey;

/// Opens a file's data key: given the KMS key's ARN, the encryption
/// context and the encrypted data key, the data key's plaintext.
pub type DataKeyOpener<'a> =
    &'a (dyn Fn(&str, &[(String, String)], &[u8]) -> Result<Zeroizing<Vec<u8>>, String> + Sync);

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The file's S3 ARN: its bucket and key.
pub(crate) fn object_arn(bucket: &str, key: &str) -> String {
    format!("arn:aws:s3:::{bucket}/{key}")
}

/// The encryption context of a trail's log file.
pub(crate) fn context(trail_arn: &str, object_arn: &str) -> Vec<(String, String)> {
    vec![("aws:cloudtrail:arn".to_string(), trail_arn.to_string()), ("aws:s3:arn".to_string(), object_arn.to_string())]
}

/// A log file's bytes (`gz`) sealed under a data key: the file's contents
/// and its metadata.
pub(crate) fn seal(gz: &[u8], data_key: &DataKey, context: &[(String, String)]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let object = context.iter().find(|(k, _)| k == "aws:s3:arn").map(|(_, v)| v.as_str()).unwrap_or_default();
    let key =
        UnboundKey::new(&AES_256_GCM, &data_key.plaintext).map_err(|_| "a data key is not 256 bits".to_string())?;
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| "no random nonce".to_string())?;
    let mut sealed = gz.to_vec();
    LessSafeKey::new(key)
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(object.as_bytes()), &mut sealed)
        .map_err(|_| "the log file could not be encrypted".to_string())?;
    let mut contents = nonce.to_vec();
    contents.extend_from_slice(&sealed);
    let context_json: serde_json::Map<String, Value> = context.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let metadata = json!({
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id": data_key.key_arn,
        "x-amz-server-side-encryption-context": b64(Value::Object(context_json).to_string().as_bytes()),
        "x-rampart-encrypted-data-key": b64(&data_key.ciphertext),
    });
    Ok((contents, metadata.to_string().into_bytes()))
}

/// Whether a file's metadata says it is encrypted under a KMS key.
pub fn is_encrypted(metadata: &Value) -> bool {
    metadata.get("x-amz-server-side-encryption").and_then(Value::as_str) == Some("aws:kms")
}

/// A sealed file's gzipped log, opened with its metadata and `open_key`.
pub fn open(contents: &[u8], metadata: &Value, open_key: DataKeyOpener<'_>) -> Result<Vec<u8>, String> {
    let text = |member: &str| {
        metadata.get(member).and_then(Value::as_str).ok_or_else(|| format!("its metadata has no {member} (modified)"))
    };
    let unb64 = |member: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(text(member)?)
            .map_err(|_| format!("its metadata's {member} is not base64 (modified)"))
    };
    let key_arn = text("x-amz-server-side-encryption-aws-kms-key-id")?;
    let context: serde_json::Map<String, Value> =
        serde_json::from_slice(&unb64("x-amz-server-side-encryption-context")?)
            .map_err(|_| "its metadata's encryption context is not JSON (modified)".to_string())?;
    let context: Vec<(String, String)> =
        context.into_iter().map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string())).collect();
    let object = context.iter().find(|(k, _)| k == "aws:s3:arn").map(|(_, v)| v.clone()).unwrap_or_default();
    let data_key = open_key(key_arn, &context, &unb64("x-rampart-encrypted-data-key")?)
        .map_err(|e| format!("its data key does not open: {e}"))?;
    let key =
        UnboundKey::new(&AES_256_GCM, &data_key).map_err(|_| "its data key is not 256 bits (modified)".to_string())?;
    let (nonce, sealed) = contents.split_at_checked(NONCE_LEN).ok_or("it is too short to be encrypted (modified)")?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| "it has no nonce (modified)".to_string())?;
    let mut opened = sealed.to_vec();
    let plain = LessSafeKey::new(key)
        .open_in_place(nonce, Aad::from(object.as_bytes()), &mut opened)
        .map_err(|_| "it does not decrypt (modified)".to_string())?;
    Ok(plain.to_vec())
}

/// The object ARN a file's metadata binds it to (its bucket and key).
pub fn bound_object(metadata: &Value) -> Option<String> {
    let context = metadata.get("x-amz-server-side-encryption-context")?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(context).ok()?;
    let context: Value = serde_json::from_slice(&bytes).ok()?;
    context.get("aws:s3:arn")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn data_key() -> DataKey {
        DataKey {
            key_arn: "arn:aws:kms:us-east-1:111122223333:key/k".into(),
            plaintext: Zeroizing::new(vec![7; 32]),
            ciphertext: b"wrapped".to_vec(),
        }
    }

    /// Opens with `key` as the data key (checking what `open` asks for).
    fn try_open(contents: &[u8], metadata: &Value, key: &[u8]) -> Result<Vec<u8>, String> {
        let opener = |arn: &str, context: &[(String, String)], wrapped: &[u8]| {
            assert_eq!(arn, "arn:aws:kms:us-east-1:111122223333:key/k");
            assert_eq!(wrapped, b"wrapped");
            assert_eq!(context[0].0, "aws:cloudtrail:arn");
            Ok(Zeroizing::new(key.to_vec()))
        };
        open(contents, metadata, &opener)
    }

    #[test]
    fn sealed_files_open_with_their_key_at_their_place_only() {
        let ctx = context("arn:aws:cloudtrail:us-east-1:111122223333:trail/t", &object_arn("b", "AWSLogs/x.json.gz"));
        let (contents, metadata) = seal(b"gzipped log", &data_key(), &ctx).unwrap();
        let metadata: Value = serde_json::from_slice(&metadata).unwrap();
        assert!(is_encrypted(&metadata));
        assert_eq!(bound_object(&metadata).as_deref(), Some("arn:aws:s3:::b/AWSLogs/x.json.gz"));
        assert_eq!(try_open(&contents, &metadata, &[7; 32]).unwrap(), b"gzipped log");
        assert!(try_open(&contents, &metadata, &[8; 32]).is_err(), "another data key");
        let mut flipped = contents.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(try_open(&flipped, &metadata, &[7; 32]).is_err(), "a modified file");
        assert!(try_open(&contents[..5], &metadata, &[7; 32]).is_err(), "a truncated file");
        // The same file claimed to be elsewhere (its context edited) does not open.
        let moved_context =
            context("arn:aws:cloudtrail:us-east-1:111122223333:trail/t", &object_arn("b", "AWSLogs/y.json.gz"));
        let (_, moved) = seal(b"x", &data_key(), &moved_context).unwrap();
        let mut moved: Value = serde_json::from_slice(&moved).unwrap();
        moved["x-rampart-encrypted-data-key"] = metadata["x-rampart-encrypted-data-key"].clone();
        assert!(try_open(&contents, &moved, &[7; 32]).is_err());
    }
}
