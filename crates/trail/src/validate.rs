//! Offline validation of a trail's files, as `aws cloudtrail validate-logs`
//! does it, from the files and the public keys alone: the digests are
//! walked newest to oldest; each must be signed by a known key over AWS's
//! data-to-sign string, and be the file (hash and signature) that the next
//! digest names as its previous; each log file a valid digest lists must be
//! there and hash to the value listed. A digest that names no previous one
//! starts its chain; an older digest begins another (a trail deleted and
//! made again, validation turned off and on). Beyond AWS's tool: the newest
//! digest must be the one the node last wrote (when it is known), so the
//! newest files cannot be cut off unseen, and a log file in the digested
//! period that no digest lists is reported as added. Everything is named.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use serde_json::Value;

use crate::digest::{data_to_sign, metadata_path};

/// What to validate.
#[derive(Debug, Clone)]
pub struct Target {
    /// The bucket's directory (what `s3Object` paths are relative to).
    pub bucket_dir: PathBuf,
    pub bucket: String,
    /// The trail's key prefix, without slashes at its ends; empty for none.
    pub prefix: String,
    pub account: String,
    pub trail: String,
    /// The trail's home region, the second region of its digests' names;
    /// `None` for any.
    pub home_region: Option<String>,
    /// Only digests that end within this range (epoch seconds).
    pub start: Option<f64>,
    pub end: Option<f64>,
    /// Each region's newest digest as the node recorded it (`--data`):
    /// a newer digest that is gone is then reported.
    pub newest: HashMap<String, String>,
    /// Report log files that no digest lists (off when other trails
    /// deliver to the same bucket and prefix: their files are theirs).
    pub unlisted: bool,
    /// The log files the node delivered but has not put in a digest yet
    /// (`--data`): every other file since the chain began must be listed.
    /// `None` (a copy elsewhere): files are judged by the minute in their
    /// names, and those of the newest digest's minute are given the benefit.
    pub undigested: Option<std::collections::HashSet<String>>,
}

/// The outcome: one line per file, and the counts.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Report {
    pub lines: Vec<String>,
    pub digests_valid: usize,
    pub digests_invalid: usize,
    pub logs_valid: usize,
    pub logs_invalid: usize,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.digests_invalid == 0 && self.logs_invalid == 0 && self.digests_valid > 0
    }

    fn digest(&mut self, path: &str, problem: Option<String>) {
        match problem {
            None => {
                self.digests_valid += 1;
                self.lines.push(format!("Digest file\t{path}\tvalid"));
            }
            Some(problem) => {
                self.digests_invalid += 1;
                self.lines.push(format!("Digest file\t{path}\tINVALID: {problem}"));
            }
        }
    }

    fn log(&mut self, path: &str, problem: Option<String>) {
        match problem {
            None => {
                self.logs_valid += 1;
                self.lines.push(format!("Log file\t{path}\tvalid"));
            }
            Some(problem) => {
                self.logs_invalid += 1;
                self.lines.push(format!("Log file\t{path}\tINVALID: {problem}"));
            }
        }
    }

    /// As `aws cloudtrail validate-logs` ends: the valid counts, and the
    /// invalid ones when there are any.
    pub fn summary(&self) -> String {
        let count = |valid: usize, invalid: usize, what: &str| {
            let all = valid + invalid;
            match invalid {
                0 => format!("{valid}/{all} {what} valid"),
                _ => format!("{valid}/{all} {what} valid, {invalid}/{all} {what} INVALID"),
            }
        };
        format!(
            "{}\n{}",
            count(self.digests_valid, self.digests_invalid, "digest files"),
            count(self.logs_valid, self.logs_invalid, "log files")
        )
    }
}

/// The largest uncompressed file the validator reads (a larger one is
/// reported, not read: a gzip bomb must not exhaust memory).
const MAX_FILE_BYTES: u64 = 1 << 30;

/// One digest file found in the bucket.
struct Found {
    /// Relative to the bucket, `/`-separated (its `s3Object`).
    key: String,
    region: String,
    /// Its end time from its name, epoch seconds.
    end: f64,
}

/// A regular file's bytes; anything else (absent, a directory, a pipe that
/// would block, a device) is refused without being opened.
fn open_regular(path: &Path) -> Result<std::fs::File, String> {
    match std::fs::symlink_metadata(path) {
        Err(_) => Err("not found (deleted)".to_string()),
        Ok(meta) if !meta.file_type().is_file() => Err("not a regular file (replaced)".to_string()),
        Ok(_) => std::fs::File::open(path).map_err(|_| "cannot be read".to_string()),
    }
}

fn gunzip(path: &Path) -> Result<Vec<u8>, String> {
    inflate(open_regular(path)?)
}

/// Gzipped bytes inflated, at most `MAX_FILE_BYTES` of them.
fn inflate(compressed: impl Read) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(compressed)
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|_| "not a gzip file (modified)".to_string())?;
    if out.len() as u64 > MAX_FILE_BYTES {
        return Err("larger than 1 GiB uncompressed (modified)".to_string());
    }
    Ok(out)
}

fn read_small(path: &Path) -> Option<Vec<u8>> {
    read_regular(path, 1 << 20).ok()
}

/// A regular file's bytes, refused when it is not one or holds more than
/// `most` bytes (`rampart trail decrypt` reads its inputs so).
pub fn read_regular(path: &Path, most: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    open_regular(path)?.take(most + 1).read_to_end(&mut out).map_err(|_| "cannot be read".to_string())?;
    match out.len() as u64 > most {
        true => Err(format!("larger than {most} bytes")),
        false => Ok(out),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

/// `YYYYMMDDTHHMMSSZ` as epoch seconds.
fn stamp_seconds(stamp: &str) -> Option<f64> {
    let digits: String = stamp.chars().filter(char::is_ascii_digit).collect();
    let n = |range: std::ops::Range<usize>| digits.get(range).and_then(|s| s.parse::<u32>().ok());
    let month = time::Month::try_from(u8::try_from(n(4..6)?).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::try_from(n(0..4)?).ok()?, month, u8::try_from(n(6..8)?).ok()?).ok()?;
    let time = time::Time::from_hms(
        u8::try_from(n(8..10)?).ok()?,
        u8::try_from(n(10..12)?).ok()?,
        u8::try_from(n(12..14)?).ok()?,
    )
    .ok()?;
    Some(time::PrimitiveDateTime::new(date, time).assume_utc().unix_timestamp() as f64)
}

fn relative_key(bucket_dir: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(bucket_dir).ok()?;
    let parts: Option<Vec<&str>> = relative.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

/// Every file under `dir`; symbolic links are not followed (a link is not a
/// file CloudTrail delivered, and a loop of them must not hang the walk).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => walk(&entry.path(), out),
            Ok(kind) if kind.is_file() => out.push(entry.path()),
            _ => {}
        }
    }
}

/// A bucket key as a path under the bucket's directory, if it stays there.
fn inside(bucket_dir: &Path, key: &str) -> Option<PathBuf> {
    let parts_ok = key.split('/').all(|p| !p.is_empty() && p != "." && p != ".." && !p.contains('\\'));
    parts_ok.then(|| bucket_dir.join(key))
}

/// The trail's digest files, newest first.
fn digests_of(target: &Target) -> Vec<Found> {
    let mut root = target.bucket_dir.clone();
    if !target.prefix.is_empty() {
        root.push(&target.prefix);
    }
    root.push("AWSLogs");
    root.push(&target.account);
    root.push("CloudTrail-Digest");
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut found: Vec<Found> = files
        .iter()
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?;
            let rest = name.strip_prefix(&format!("{}_CloudTrail-Digest_", target.account))?;
            let rest = rest.strip_suffix(".json.gz")?;
            // REGION_TRAIL_HOME_STAMP, where a trail's name may hold `_`.
            let (region, rest) = rest.split_once('_')?;
            let (rest, stamp) = rest.rsplit_once('_')?;
            let (trail, home) = rest.rsplit_once('_')?;
            if trail != target.trail || target.home_region.as_ref().is_some_and(|h| h != home) {
                return None;
            }
            Some(Found {
                key: relative_key(&target.bucket_dir, path)?,
                region: region.to_string(),
                end: stamp_seconds(stamp)?,
            })
        })
        .collect();
    found.sort_by(|a, b| b.end.total_cmp(&a.end).then_with(|| b.key.cmp(&a.key)));
    found
}

/// What the next (newer) digest says its previous digest is.
struct Expected {
    key: String,
    hash: Option<String>,
    signature: Option<String>,
}

fn text(value: &Value, member: &str) -> Option<String> {
    value.get(member).and_then(Value::as_str).map(str::to_string)
}

/// Checks one digest file: its content, where it says it is, and its
/// signature. Returns its parsed content (even when invalid, to follow
/// its links) and its signature.
fn check_digest(
    target: &Target,
    keys: &HashMap<String, Vec<u8>>,
    found: &Found,
) -> (Option<Value>, Option<String>, Option<String>, Vec<u8>) {
    let path = target.bucket_dir.join(&found.key);
    let content = match gunzip(&path) {
        Ok(content) => content,
        Err(problem) => return (None, None, Some(problem), Vec::new()),
    };
    let Ok(digest) = serde_json::from_slice::<Value>(&content) else {
        return (None, None, Some("not a digest file (modified)".to_string()), content);
    };
    let metadata = read_small(&metadata_path(&path)).and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    let signature = metadata.as_ref().and_then(|m| text(m, "x-amz-meta-signature"));
    let problem = (|| {
        if text(&digest, "digestS3Object").as_deref() != Some(found.key.as_str())
            || text(&digest, "digestS3Bucket").as_deref() != Some(target.bucket.as_str())
        {
            return Some("it does not name this location (moved or forged)".to_string());
        }
        let Some(signature) = &signature else { return Some("it has no signature".to_string()) };
        let fingerprint = text(&digest, "digestPublicKeyFingerprint").unwrap_or_default();
        let Some(key) = keys.get(&fingerprint) else {
            return Some(format!("signed by an unknown key ({fingerprint}): forged"));
        };
        let end = text(&digest, "digestEndTime").unwrap_or_default();
        let previous = text(&digest, "previousDigestSignature");
        let to_sign = data_to_sign(&end, &target.bucket, &found.key, &content, previous.as_deref());
        let Ok(signature) = hex::decode(signature) else { return Some("its signature is not hex".to_string()) };
        match UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key).verify(to_sign.as_bytes(), &signature) {
            Ok(()) => None,
            Err(_) => Some("the signature does not match (modified or forged)".to_string()),
        }
    })();
    (Some(digest), signature, problem, content)
}

/// Validates a trail's digests and log files; see the module's doc.
/// Validates a trail's files; `open_key` opens the data keys of log files
/// encrypted under a KMS key (without it, such files are reported as not
/// readable).
pub fn validate(
    target: &Target,
    keys: &HashMap<String, Vec<u8>>,
    open_key: Option<crate::encryption::DataKeyOpener<'_>>,
) -> Report {
    let mut report = Report::default();
    let digests = digests_of(target);
    let mut regions: Vec<String> =
        digests.iter().map(|d| d.region.clone()).chain(target.newest.keys().cloned()).collect();
    regions.sort();
    regions.dedup();
    for region in regions {
        let mine: Vec<&Found> = digests.iter().filter(|d| d.region == region).collect();
        // The newest digest the node wrote must still be there.
        if let Some(newest) = target.newest.get(&region).filter(|_| target.end.is_none()) {
            if !mine.iter().any(|d| &d.key == newest) {
                report.digest(newest, Some("not found (deleted): the newest digest the node wrote".to_string()));
            }
        }
        let mut expected: Option<Expected> = None;
        let mut listed = std::collections::HashSet::new();
        let (mut first_start, mut last_end): (Option<f64>, Option<f64>) = (None, None);
        for found in &mine {
            if target.end.is_some_and(|end| found.end > end) {
                continue;
            }
            if target.start.is_some_and(|start| found.end < start) {
                expected = None;
                break;
            }
            if let Some(wanted) = expected.as_ref().filter(|w| w.key != found.key) {
                // The digest the chain names is not there.
                report.digest(&wanted.key, Some("not found (deleted): the chain is broken".to_string()));
                expected = None;
            }
            let (digest, signature, mut problem, content) = check_digest(target, keys, found);
            if let Some(wanted) = &expected {
                if problem.is_none() && wanted.hash.as_deref() != Some(sha256_hex(&content).as_str()) {
                    problem = Some("its hash is not the one the next digest names (modified)".to_string());
                }
                if problem.is_none() && wanted.signature != signature {
                    problem = Some("its signature is not the one the next digest names (re-signed)".to_string());
                }
            }
            let valid = problem.is_none();
            report.digest(&found.key, problem);
            let digest = match digest {
                Some(digest) if valid => digest,
                invalid => {
                    // An invalid digest vouches for nothing: the files it
                    // lists are unproven, and its links are not followed
                    // (the next older digest is checked on its own).
                    let listing = invalid.as_ref().and_then(|d| d.get("logFiles")).and_then(Value::as_array);
                    for key in listing.into_iter().flatten().filter_map(|f| text(f, "s3Object")) {
                        report.log(&key, Some("listed only by an invalid digest (unproven)".to_string()));
                        listed.insert(key);
                    }
                    expected = None;
                    continue;
                }
            };
            for file in digest.get("logFiles").and_then(Value::as_array).into_iter().flatten() {
                listed.extend(text(file, "s3Object"));
                check_log(target, &mut report, file, open_key);
            }
            last_end = last_end.or(Some(found.end));
            first_start = text(&digest, "digestStartTime")
                .and_then(|t| time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok())
                .map(|t| t.unix_timestamp() as f64)
                .or(first_start);
            expected = text(&digest, "previousDigestS3Object").map(|key| Expected {
                key,
                hash: text(&digest, "previousDigestHashValue"),
                signature: text(&digest, "previousDigestSignature"),
            });
        }
        if let Some(wanted) = expected {
            report.digest(&wanted.key, Some("not found (deleted): the chain is broken".to_string()));
        }
        if let (true, Some(from), Some(to)) = (target.unlisted, first_start, last_end) {
            unlisted_logs(target, &region, from, to, &listed, &mut report);
        }
    }
    report
}

/// Log files of the region delivered within `[from, to)` (by the minute in
/// their names) that no digest lists: added to the bucket, not delivered.
fn unlisted_logs(
    target: &Target,
    region: &str,
    from: f64,
    to: f64,
    listed: &std::collections::HashSet<String>,
    report: &mut Report,
) {
    let mut root = target.bucket_dir.clone();
    if !target.prefix.is_empty() {
        root.push(&target.prefix);
    }
    root.extend(["AWSLogs", target.account.as_str(), "CloudTrail", region]);
    let mut files = Vec::new();
    walk(&root, &mut files);
    let minute = |t: f64| (t / 60.0).floor();
    let prefix = format!("{}_CloudTrail_{region}_", target.account);
    let mut unlisted: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?;
            // An encrypted log file's metadata beside it is not a log file.
            if name.ends_with(".json.gz.metadata") {
                return None;
            }
            let stamp = name.strip_prefix(&prefix)?.split('_').next()?;
            let delivered = stamp_seconds(&format!("{}00Z", stamp.trim_end_matches('Z')))?;
            let key = relative_key(&target.bucket_dir, path)?;
            let within = minute(delivered) >= minute(from)
                && match &target.undigested {
                    Some(undigested) => !undigested.contains(&key),
                    None => minute(delivered) < minute(to),
                };
            (within && !listed.contains(&key)).then_some(key)
        })
        .collect();
    unlisted.sort();
    for key in unlisted {
        report.log(&key, Some("listed in no digest (added or forged)".to_string()));
    }
}

/// A log file's uncompressed content: as it is, or decrypted first when its
/// metadata says it is encrypted under a KMS key — and bound to this
/// bucket and key, so a file copied over another does not pass for it.
fn log_content(
    target: &Target,
    key: &str,
    path: &Path,
    open_key: Option<crate::encryption::DataKeyOpener<'_>>,
) -> Result<Vec<u8>, String> {
    let metadata = read_small(&metadata_path(path)).and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    let Some(metadata) = metadata.filter(crate::encryption::is_encrypted) else { return gunzip(path) };
    let Some(open_key) = open_key else {
        return Err("encrypted under a KMS key: validate it with --data, on the node's data directory".to_string());
    };
    if crate::encryption::bound_object(&metadata) != Some(crate::encryption::object_arn(&target.bucket, key)) {
        return Err("its encryption names another file (replaced)".to_string());
    }
    let sealed = read_regular(path, MAX_FILE_BYTES)?;
    let gz = crate::encryption::open(&sealed, &metadata, open_key)?;
    inflate(gz.as_slice())
}

fn check_log(
    target: &Target,
    report: &mut Report,
    file: &Value,
    open_key: Option<crate::encryption::DataKeyOpener<'_>>,
) {
    let key = text(file, "s3Object").unwrap_or_default();
    let Some(path) = inside(&target.bucket_dir, &key) else {
        report.log(&key, Some("its name leads out of the bucket (forged)".to_string()));
        return;
    };
    let problem = match log_content(target, &key, &path, open_key) {
        Err(problem) => Some(problem),
        Ok(content) if Some(sha256_hex(&content)) != text(file, "hashValue") => {
            Some("hash value doesn't match (modified)".to_string())
        }
        Ok(_) => None,
    };
    report.log(&key, problem);
}

/// The `Target` of a trail (named by name or ARN) as the node's data
/// directory describes it, read-only beside a running node: its bucket
/// where the node wrote it, each region's newest digest, the files not yet
/// in a digest, and whether another trail delivers to the same place (then
/// unlisted files are not reported).
pub fn stored_target(data: &Path, name: &str) -> Result<Target, String> {
    use crate::trails::{TrailEntry, TrailRecord, TRAIL_KIND};
    let mut trails = Vec::new();
    for row in rampart_store::read_records(data, TRAIL_KIND).map_err(|e| e.to_string())? {
        let record: TrailRecord = serde_json::from_str(&row.value).map_err(|e| format!("trail {}: {e}", row.key))?;
        trails.push(TrailEntry { account: row.account, record });
    }
    let found: Vec<&TrailEntry> = trails.iter().filter(|t| t.record.name == name || t.arn() == name).collect();
    let entry = match found.as_slice() {
        [entry] => *entry,
        [] => return Err(format!("no trail named {name} in {}", data.display())),
        many => {
            let arns: Vec<String> = many.iter().map(|t| t.arn()).collect();
            return Err(format!("several trails are named {name}: give one's ARN ({})", arns.join(", ")));
        }
    };
    let same_place = |t: &TrailEntry| {
        t.account == entry.account
            && t.record.bucket == entry.record.bucket
            && t.record.key_prefix == entry.record.key_prefix
    };
    let shared = trails.iter().any(|t| same_place(t) && t.arn() != entry.arn());
    let key = crate::delivery::record_key(entry);
    let delivery = rampart_store::read_records(data, crate::delivery::DELIVERY_KIND)
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|row| row.account == entry.account && row.key == key)
        .map(|row| serde_json::from_str::<crate::delivery::DeliveryRecord>(&row.value))
        .transpose()
        .map_err(|e| format!("the delivery state of {}: {e}", entry.arn()))?
        .unwrap_or_default();
    let newest =
        delivery.chains.iter().filter_map(|(r, c)| Some((r.clone(), c.previous.as_ref()?.path.clone()))).collect();
    let undigested = delivery.chains.values().flat_map(|c| c.files.iter().map(|f| f.path.clone())).collect();
    Ok(Target {
        bucket_dir: delivery
            .bucket_dir
            .map(PathBuf::from)
            .unwrap_or_else(|| data.join("buckets").join(&entry.record.bucket)),
        bucket: entry.record.bucket.clone(),
        prefix: entry.record.key_prefix.as_deref().unwrap_or_default().trim_matches('/').to_string(),
        account: entry.account.clone(),
        trail: entry.record.name.clone(),
        home_region: Some(entry.record.home_region.clone()),
        start: None,
        end: None,
        newest,
        unlisted: !shared,
        undigested: Some(undigested),
    })
}

/// The node's digest-signing public keys (PKCS#1 DER) by fingerprint.
pub fn stored_keys(data: &Path) -> Result<HashMap<String, Vec<u8>>, String> {
    let mut keys = HashMap::new();
    for row in rampart_store::read_records(data, crate::digest::SIGNING_KEY_KIND).map_err(|e| e.to_string())? {
        let record: crate::digest::SigningKeyRecord = serde_json::from_str(&row.value).map_err(|e| e.to_string())?;
        let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &record.public_key)
            .map_err(|e| e.to_string())?;
        keys.insert(record.fingerprint, der);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_names_give_their_end_time() {
        assert_eq!(stamp_seconds("20150812T040131Z"), Some(1_439_352_091.0));
        assert_eq!(stamp_seconds("2015081"), None);
        assert_eq!(stamp_seconds("20151340T000000Z"), None);
    }
}
