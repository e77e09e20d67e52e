//! Log-file validation: digest files as CloudTrail writes them. For each
//! region a trail delivers to, every interval (AWS: an hour) a digest names
//! the log files delivered since the previous digest with the SHA-256 of
//! each uncompressed file, and the previous digest's hash and signature, so
//! the digests form a chain. Each digest is signed SHA256withRSA over AWS's
//! data-to-sign string with the region's signing key, whose private half is
//! sealed by the node's key wrapper; the signature is kept beside the file
//! (`….json.gz.metadata`, as S3 keeps it in `x-amz-meta-signature`).
//!
//! A digest is committed as pending (its end time) before it is written, and
//! RSA PKCS#1 v1.5 signatures are deterministic, so a digest written again
//! after a crash is the same file, byte for byte.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use rampart_store::RecordWrite;

use crate::delivery::{write_file, write_plain, DeliveryRecord};
use crate::trails::TrailEntry;
use crate::Trail;

pub(crate) const SIGNING_KEY_KIND: &str = "cloudtrail-signing-key";
pub const SIGNATURE_ALGORITHM: &str = "SHA256withRSA";
/// What a signing key's sealed private half is bound to.
fn key_context(region: &str, fingerprint: &str) -> String {
    format!("cloudtrail-signing-key:{region}:{fingerprint}")
}

/// A region's digest-signing key as stored: the public half in the clear
/// (what ListPublicKeys serves), the private half sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    pub region: String,
    pub fingerprint: String,
    /// PKCS#1 `RSAPublicKey`, DER, base64.
    pub public_key: String,
    /// PKCS#8, sealed.
    pub private_key: String,
    pub valid_from: f64,
    /// When a newer key replaced it (`--trail-key-rotation-seconds`).
    #[serde(default)]
    pub valid_to: Option<f64>,
}

/// A signing key in memory.
pub(crate) struct SigningKey {
    pub record: SigningKeyRecord,
    pair: RsaKeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("fingerprint", &self.record.fingerprint).finish_non_exhaustive()
    }
}

/// The fingerprint of a public key (PKCS#1 DER): the first 16 bytes of its
/// SHA-256, hex — 32 digits, the length of AWS's.
pub fn fingerprint(public_der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, public_der);
    hex::encode(digest.as_ref().get(..16).unwrap_or_default())
}

/// One region's digest chain of a trail.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Chain {
    /// Where the next digest starts: the last one's end, or when logging began.
    pub start: f64,
    #[serde(default)]
    pub previous: Option<Previous>,
    /// Log files delivered since the last digest.
    #[serde(default)]
    pub files: Vec<LoggedFile>,
    /// A digest committed but perhaps not written: its end time.
    #[serde(default)]
    pub pending_end: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Previous {
    pub path: String,
    pub signature: String,
    pub hash: String,
}

/// A delivered log file as its digest lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LoggedFile {
    pub path: String,
    /// SHA-256 of the uncompressed file, hex.
    pub hash: String,
    pub oldest: String,
    pub newest: String,
}

/// `YYYY-MM-DDTHH:MM:SSZ`, to the second.
pub(crate) fn utc(seconds: f64) -> String {
    rampart_wire::format_iso8601(seconds.floor())
}

/// A digest file's path in its bucket.
fn digest_path(entry: &TrailEntry, region: &str, end: f64) -> String {
    let (stamp, dirs) = crate::delivery::stamp_to_the_second(end);
    let account = &entry.account;
    let name = &entry.record.name;
    // The second region is the trail's home: trails of one name in two
    // regions never name the same digest.
    let home = &entry.record.home_region;
    format!(
        "{}AWSLogs/{account}/CloudTrail-Digest/{region}/{dirs}/{account}_CloudTrail-Digest_{region}_{name}_{home}_{stamp}.json.gz",
        crate::delivery::prefix_of(entry)
    )
}

/// AWS's data-to-sign string: the digest's end time, its S3 path
/// (`bucket/key`), the hex SHA-256 of its content, and the previous
/// digest's hex signature (`null` for the first).
pub fn data_to_sign(end: &str, bucket: &str, key: &str, content: &[u8], previous_signature: Option<&str>) -> String {
    let hash = hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, content).as_ref());
    format!("{end}\n{bucket}/{key}\n{hash}\n{}", previous_signature.unwrap_or("null"))
}

/// The digest's content for a chain ending at `end`.
fn digest_json(entry: &TrailEntry, chain: &Chain, key: &SigningKeyRecord, path: &str, end: f64) -> Vec<u8> {
    let bucket = &entry.record.bucket;
    let files: Vec<Value> = chain
        .files
        .iter()
        .map(|f| {
            json!({
                "s3Bucket": bucket, "s3Object": f.path, "hashValue": f.hash, "hashAlgorithm": "SHA-256",
                "newestEventTime": f.newest, "oldestEventTime": f.oldest,
            })
        })
        .collect();
    let previous = chain.previous.as_ref();
    let digest = json!({
        "awsAccountId": entry.account,
        "digestStartTime": utc(chain.start),
        "digestEndTime": utc(end),
        "digestS3Bucket": bucket,
        "digestS3Object": path,
        "digestPublicKeyFingerprint": key.fingerprint,
        "digestSignatureAlgorithm": SIGNATURE_ALGORITHM,
        "newestEventTime": chain.files.iter().map(|f| f.newest.clone()).max(),
        "oldestEventTime": chain.files.iter().map(|f| f.oldest.clone()).min(),
        "previousDigestS3Bucket": previous.map(|_| bucket),
        "previousDigestS3Object": previous.map(|p| &p.path),
        "previousDigestHashValue": previous.map(|p| &p.hash),
        "previousDigestHashAlgorithm": previous.map(|_| "SHA-256"),
        "previousDigestSignature": previous.map(|p| &p.signature),
        "logFiles": files,
    });
    serde_json::to_vec(&digest).unwrap_or_default()
}

impl Trail {
    /// The region's signing key: made (and committed) on first use, and
    /// replaced by a new one every rotation period; the retired key's
    /// public half stays listed (ListPublicKeys) for the digests it signed.
    async fn signing_key(&self, region: &str) -> Result<Arc<SigningKey>, String> {
        let now = crate::now();
        let current = self.state.read().signing_keys.get(region).cloned();
        if let Some(key) =
            current.as_ref().filter(|k| now - k.record.valid_from < self.config.key_rotation.as_secs_f64())
        {
            return Ok(key.clone());
        }
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|e| e.to_string())?;
        let public = pair.public_key().as_ref().to_vec();
        let pkcs8 = zeroize::Zeroizing::new(pair.as_der().map_err(|e| e.to_string())?.as_ref().to_vec());
        let fingerprint = fingerprint(&public);
        let private_key = self.sealer.seal(&pkcs8, &key_context(region, &fingerprint)).map_err(|e| e.to_string())?;
        let record = SigningKeyRecord {
            region: region.to_string(),
            fingerprint: fingerprint.clone(),
            public_key: crate::b64(&public),
            private_key,
            valid_from: now,
            valid_to: None,
        };
        let retired = current.map(|old| SigningKeyRecord { valid_to: Some(now), ..old.record.clone() });
        let mut writes = Vec::new();
        for record in std::iter::once(&record).chain(retired.as_ref()) {
            writes.push(RecordWrite::Put {
                kind: SIGNING_KEY_KIND,
                account: String::new(),
                key: format!("{}/{}", record.region, record.fingerprint),
                value: serde_json::to_string(record).map_err(|e| e.to_string())?,
            });
        }
        let key = Arc::new(SigningKey { record, pair });
        let (state, stored) = (self.state.clone(), key.clone());
        let apply = Box::new(move || {
            let mut state = state.write();
            state.retired_keys.extend(retired);
            state.signing_keys.insert(stored.record.region.clone(), stored);
        });
        let change = rampart_core::Change { writes, apply };
        self.committer.commit(rampart_core::SystemChange { change, events: Vec::new() }).await?;
        Ok(key)
    }

    /// Writes the digests that are due for one trail (each committed as
    /// pending first): every interval while it logs, and at once for files
    /// not yet in a digest when it has stopped or the node stops (`flush`).
    pub(crate) async fn digests(
        &self,
        entry: &TrailEntry,
        record: &mut DeliveryRecord,
        flush: bool,
    ) -> Result<(), String> {
        let now = crate::now();
        let logging = entry.record.logging;
        if logging && !record.chains.contains_key(&entry.record.home_region) {
            let start = entry.record.start_logging_time.unwrap_or(now);
            record.chains.insert(entry.record.home_region.clone(), Chain { start, ..Chain::default() });
        }
        let interval = self.config.digest_period.as_secs_f64();
        let regions: Vec<String> = record.chains.keys().cloned().collect();
        for region in regions {
            let Some(chain) = record.chains.get(&region) else { continue };
            let due = chain.pending_end.is_some()
                || (logging && now - chain.start >= interval)
                || ((flush || !logging) && !chain.files.is_empty());
            if !due {
                continue;
            }
            // Digests are named to the second: one per second at most, so
            // no digest overwrites the one before it. A flush (the node is
            // stopping) waits for the next second; a pass leaves it to the next.
            let mut now = crate::now();
            if chain.pending_end.is_none() && now.floor() <= chain.start.floor() {
                if !flush {
                    continue;
                }
                tokio::time::sleep(std::time::Duration::from_secs_f64(chain.start.floor() + 1.0 - now)).await;
                now = crate::now();
            }
            if chain.pending_end.is_none() {
                if let Some(chain) = record.chains.get_mut(&region) {
                    chain.pending_end = Some(now);
                }
                self.commit_delivery(entry, record.clone(), Vec::new()).await?;
            }
            let Some(chain) = record.chains.get(&region).cloned() else { continue };
            let end = chain.pending_end.unwrap_or(now);
            let key = self.signing_key(&region).await?;
            let path = digest_path(entry, &region, end);
            let content = digest_json(entry, &chain, &key.record, &path, end);
            let previous = chain.previous.as_ref().map(|p| p.signature.as_str());
            let to_sign = data_to_sign(&utc(end), &entry.record.bucket, &path, &content, previous);
            let mut signature = vec![0u8; key.pair.public_modulus_len()];
            key.pair
                .sign(&RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), to_sign.as_bytes(), &mut signature)
                .map_err(|e| e.to_string())?;
            let signature = hex::encode(&signature);
            let bucket = self.config.buckets.ensure(&entry.record.bucket).map_err(|e| e.to_string())?;
            record.bucket_dir = self.config.buckets.mapped(&entry.record.bucket).map(|p| p.display().to_string());
            let file = bucket.join(&path);
            let metadata =
                json!({ "x-amz-meta-signature": signature, "x-amz-meta-signature-algorithm": SIGNATURE_ALGORITHM });
            let written = write_plain(&metadata_path(&file), metadata.to_string().as_bytes())
                .and_then(|()| write_file(&file, &content));
            if let Err(error) = written {
                tracing::error!(%error, trail = %entry.arn(), "a trail's digest file could not be written");
                record.latest_digest_error = Some(format!("Rampart could not write the digest file: {error}"));
                self.commit_delivery(entry, record.clone(), Vec::new()).await?;
                continue;
            }
            let hash = hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &content).as_ref());
            if let Some(chain) = record.chains.get_mut(&region) {
                chain.previous = Some(Previous { path, signature, hash });
                chain.start = end;
                chain.files.clear();
                chain.pending_end = None;
            }
            record.latest_digest_time = Some(end);
            record.latest_digest_error = None;
            self.commit_delivery(entry, record.clone(), Vec::new()).await?;
        }
        Ok(())
    }
}

/// Where a digest file's signature is kept: beside it.
pub fn metadata_path(digest: &std::path::Path) -> std::path::PathBuf {
    let mut name = digest.as_os_str().to_os_string();
    name.push(".metadata");
    std::path::PathBuf::from(name)
}

/// Loads the stored signing keys (opening their private halves).
/// Loads the stored signing keys: each region's newest is its current key
/// (its private half opened), the others are retired.
pub(crate) fn load(
    store: &rampart_store::Store,
    sealer: &rampart_core::Sealer,
    current: &mut BTreeMap<String, Arc<SigningKey>>,
    retired: &mut Vec<SigningKeyRecord>,
) -> Result<(), String> {
    let mut records: Vec<SigningKeyRecord> = Vec::new();
    for row in store.scan(SIGNING_KEY_KIND).map_err(|e| e.to_string())? {
        records.push(serde_json::from_str(&row.value).map_err(|e| e.to_string())?);
    }
    records.sort_by(|a, b| a.valid_from.total_cmp(&b.valid_from));
    for record in records {
        if let Some(older) = current.remove(&record.region) {
            retired.push(older.record.clone());
        }
        let pkcs8 = sealer
            .open(&record.private_key, &key_context(&record.region, &record.fingerprint))
            .map_err(|e| format!("the CloudTrail signing key of {}: {e}", record.region))?;
        let pair = RsaKeyPair::from_pkcs8(&pkcs8).map_err(|e| e.to_string())?;
        current.insert(record.region.clone(), Arc::new(SigningKey { record, pair }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_to_sign_is_aws_s_four_lines() {
        let signed = data_to_sign("2015-08-12T04:01:31Z", "bucket", "AWSLogs/x.json.gz", b"{}", None);
        let hash = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
        assert_eq!(signed, format!("2015-08-12T04:01:31Z\nbucket/AWSLogs/x.json.gz\n{hash}\nnull"));
        let next = data_to_sign("2015-08-12T05:01:31Z", "bucket", "k", b"{}", Some("ab01"));
        assert!(next.ends_with("\nab01"));
        assert_eq!(utc(1_439_352_091.0), "2015-08-12T04:01:31Z");
        assert_eq!(fingerprint(b"key").len(), 32);
    }
}
