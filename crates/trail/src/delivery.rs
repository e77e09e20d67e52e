//! Delivery: each logging trail's records written as files, laid out as
//! CloudTrail lays them out in S3 —
//! `BUCKET/[PREFIX/]AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_UNIQUE.json.gz`
//! holding `{"Records":[…]}` — from the store's event cursor.
//!
//! Exactly once, across restarts and `kill -9`: a pass first commits what
//! it will write (the batch range, each file's name and the positions of its
//! records) as the trail's pending delivery, then writes the files (each to
//! a temporary name, synced, renamed), then commits the cursor past the
//! range. A pass that finds a pending delivery (the node died in between)
//! writes exactly those files again — the same names, the same records —
//! before it reads anything new.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use rampart_core::{Change, SystemChange};
use rampart_store::{EventRow, RecordWrite};

use crate::digest::{Chain, LoggedFile};
use crate::selectors::{self, Selectors};
use crate::trails::TrailEntry;
use crate::{State, Trail};

pub(crate) const DELIVERY_KIND: &str = "cloudtrail-delivery";
/// The service principal a key policy names to let CloudTrail encrypt log files.
pub(crate) const SERVICE_PRINCIPAL: &str = "cloudtrail.amazonaws.com";
/// Batches one delivery reads at most.
const BATCHES_PER_PASS: usize = 500;
/// Records one delivery writes at most (in whole batches; about 30 MB of
/// JSON); a pass makes deliveries until the trail has caught up.
const RECORDS_PER_DELIVERY: usize = 20_000;
/// Deliveries of one trail in one pass at most, so that one busy trail does
/// not hold up the others for long.
const DELIVERIES_PER_PASS: usize = 50;
/// Event sources whose events are global (recorded in us-east-1), which a
/// trail delivers only with `IncludeGlobalServiceEvents`.
const GLOBAL_SOURCES: &[&str] = &["iam.amazonaws.com", "signin.amazonaws.com", "organizations.amazonaws.com"];

/// Where trails' buckets are: a directory per bucket under the data
/// directory's `buckets/`, or where the operator maps a bucket.
#[derive(Debug, Clone)]
pub struct Buckets {
    pub root: PathBuf,
    pub mapped: Vec<(String, PathBuf)>,
}

impl Buckets {
    /// The directory the operator maps a bucket to, if any.
    pub fn mapped(&self, bucket: &str) -> Option<&Path> {
        self.mapped.iter().find(|(name, _)| name == bucket).map(|(_, path)| path.as_path())
    }

    pub fn path(&self, bucket: &str) -> PathBuf {
        match self.mapped.iter().find(|(name, _)| name == bucket) {
            Some((_, path)) => path.clone(),
            None => self.root.join(bucket),
        }
    }

    /// Makes the bucket's directory when it is not there (Rampart has no S3
    /// CreateBucket: a trail's bucket is made with the trail).
    pub fn ensure(&self, bucket: &str) -> std::io::Result<PathBuf> {
        let path = self.path(bucket);
        std::fs::create_dir_all(&path)?;
        Ok(path)
    }
}

/// A trail's delivery state as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct DeliveryRecord {
    /// The last event batch handled.
    pub cursor: i64,
    /// The batches the trail logged: after `.0`, up to `.1` (open while it logs).
    pub windows: Vec<(i64, Option<i64>)>,
    #[serde(default)]
    pub pending: Option<Pending>,
    #[serde(default)]
    pub latest_delivery_time: Option<f64>,
    #[serde(default)]
    pub latest_attempt_time: Option<f64>,
    #[serde(default)]
    pub latest_error: Option<String>,
    /// With log-file validation: each region's digest chain.
    #[serde(default)]
    pub chains: BTreeMap<String, Chain>,
    #[serde(default)]
    pub latest_digest_time: Option<f64>,
    #[serde(default)]
    pub latest_digest_error: Option<String>,
    /// Where the trail's files were last written when the operator maps its
    /// bucket elsewhere than `DATA/buckets/` (for offline validation).
    #[serde(default)]
    pub bucket_dir: Option<String>,
}

/// A delivery committed before its files are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Pending {
    pub from: i64,
    pub to: i64,
    pub files: Vec<PendingFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PendingFile {
    /// Relative to the bucket's directory.
    pub path: String,
    pub region: String,
    /// `(batch, index in the batch)` of each record, in order.
    pub positions: Vec<(i64, u32)>,
}

impl DeliveryRecord {
    fn logs(&self, batch: i64) -> bool {
        self.windows.iter().any(|(after, until)| batch > *after && until.is_none_or(|u| batch <= u))
    }

    /// Whether some batch after the cursor may still be the trail's.
    fn has_work(&self) -> bool {
        self.pending.is_some() || self.windows.iter().any(|(_, until)| until.is_none_or(|u| u > self.cursor))
    }

    /// Drops the windows the cursor has passed.
    fn prune(&mut self) {
        let cursor = self.cursor;
        self.windows.retain(|(_, until)| until.is_none_or(|u| u > cursor));
    }

    /// StartLogging: logs from the batch after `latest`.
    pub fn start(&mut self, latest: i64) {
        if !self.windows.iter().any(|(_, until)| until.is_none()) {
            self.windows.push((latest, None));
        }
    }

    /// StopLogging: logs nothing after batch `latest` (what came before is
    /// still delivered).
    pub fn stop(&mut self, latest: i64) {
        for window in self.windows.iter_mut().filter(|(_, until)| until.is_none()) {
            window.1 = Some(latest);
        }
    }
}

pub(crate) fn record_key(entry: &TrailEntry) -> String {
    format!("{}/{}", entry.record.home_region, entry.record.name)
}

pub(crate) fn write(entry: &TrailEntry, record: &DeliveryRecord) -> Result<RecordWrite, String> {
    let value = serde_json::to_string(record).map_err(|e| e.to_string())?;
    Ok(RecordWrite::Put { kind: DELIVERY_KIND, account: entry.account.clone(), key: record_key(entry), value })
}

/// The writes that forget a deleted trail's delivery state.
pub(crate) fn forget(entry: &TrailEntry) -> Vec<RecordWrite> {
    vec![RecordWrite::Delete { kind: DELIVERY_KIND, account: entry.account.clone(), key: record_key(entry) }]
}

/// Event batches by number.
type Batches = BTreeMap<i64, Vec<EventRow>>;

/// Whether a trail delivers an event: its account, its region (or any, for
/// a multi-Region trail; global services' with `IncludeGlobalServiceEvents`),
/// and its selectors (the record is parsed only for advanced ones).
fn delivers(entry: &TrailEntry, selectors: &Selectors, event: &EventRow) -> bool {
    let r = &entry.record;
    let global = GLOBAL_SOURCES.contains(&event.event_source.as_str());
    let region = match (global, r.include_global_service_events) {
        (true, false) => false,
        (true, true) => true,
        (false, _) => r.multi_region || event.region == r.home_region,
    };
    if event.account != entry.account || !region {
        return false;
    }
    match selectors {
        Selectors::Basic(list) => selectors::selects_basic(list, event.read_only, &event.event_source),
        advanced => {
            serde_json::from_str::<Value>(&event.record).is_ok_and(|record| selectors::selects(advanced, &record))
        }
    }
}

/// `YYYYMMDDTHHmmZ` and the date's directories, of a delivery time.
pub(crate) fn stamp(seconds: f64) -> (String, String) {
    let (file, dirs) = stamp_to_the_second(seconds);
    // `YYYYMMDDTHHmmssZ` without its seconds.
    (format!("{}Z", file.get(..13).unwrap_or_default()), dirs)
}

/// `YYYYMMDDTHHmmssZ` and the date's directories (digest file names).
pub(crate) fn stamp_to_the_second(seconds: f64) -> (String, String) {
    let t = time::OffsetDateTime::from_unix_timestamp(seconds as i64).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let (year, month, day) = (t.year(), u8::from(t.month()), t.day());
    let file = format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z", t.hour(), t.minute(), t.second());
    (file, format!("{year:04}/{month:02}/{day:02}"))
}

/// A trail's key prefix as the start of a path (`PREFIX/`, or nothing).
pub(crate) fn prefix_of(entry: &TrailEntry) -> String {
    entry.record.key_prefix.as_deref().map(|p| format!("{}/", p.trim_end_matches('/'))).unwrap_or_default()
}

/// The file a delivery writes for one region: named from the trail, the
/// batch range and the region, so writing it again names the same file.
fn file_path(entry: &TrailEntry, region: &str, from: i64, to: i64, time: f64) -> String {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{}\n{from}\n{to}\n{region}", entry.arn()).as_bytes(),
    );
    let unique = hex::encode(digest.as_ref()).chars().take(16).collect::<String>();
    let (file_time, dirs) = stamp(time);
    let account = &entry.account;
    let prefix = prefix_of(entry);
    format!(
        "{prefix}AWSLogs/{account}/CloudTrail/{region}/{dirs}/{account}_CloudTrail_{region}_{file_time}_{unique}.json.gz"
    )
}

/// Writes `contents` gzipped at `path`, atomically (`write_atomically`).
pub(crate) fn write_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    write_atomically(path, |file| {
        // The fastest level: delivery competes with requests for the CPU.
        let mut encoder = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        encoder.write_all(contents)?;
        encoder.finish()?.sync_all()
    })
}

/// Writes `contents` as they are at `path`, atomically.
pub(crate) fn write_plain(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    write_atomically(path, |mut file| {
        file.write_all(contents)?;
        file.sync_all()
    })
}

/// A temporary file beside `path`, filled and synced by `fill`, renamed
/// over `path`, and the directory synced: readers see the old file or the
/// whole new one.
fn write_atomically(path: &Path, fill: impl FnOnce(std::fs::File) -> std::io::Result<()>) -> std::io::Result<()> {
    let dir = path.parent().ok_or_else(|| std::io::Error::other("a delivery path has no directory"))?;
    std::fs::create_dir_all(dir)?;
    let mut name = path.as_os_str().to_os_string();
    name.push(".partial");
    let temporary = PathBuf::from(name);
    fill(std::fs::File::create(&temporary)?)?;
    std::fs::rename(&temporary, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Writes `{"Records":[…]}` of the stored records, as stored, into `out`
/// piece by piece (a file's records are never one buffer).
fn write_records<'a>(out: &mut impl Write, records: impl Iterator<Item = &'a str>) -> std::io::Result<()> {
    out.write_all(b"{\"Records\":[")?;
    for (i, record) in records.enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(record.as_bytes())?;
    }
    out.write_all(b"]}")
}

/// A writer that hashes (SHA-256) what passes through it: a log file's hash
/// is of its uncompressed content.
struct Hashing<W> {
    inner: W,
    hash: aws_lc_rs::digest::Context,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.hash.update(bytes.get(..written).unwrap_or_default());
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes a log file of `records` gzipped and encrypted under a data key
/// of the trail's KMS key (`encryption`), with its metadata beside it;
/// returns the hex SHA-256 of its uncompressed content, and the record of
/// CloudTrail's call to KMS.
fn write_encrypted_log_file<'a>(
    keys: &dyn rampart_core::service_keys::ServiceKeys,
    entry: &TrailEntry,
    key_id: &str,
    object_key: &str,
    path: &Path,
    records: impl Iterator<Item = &'a str>,
) -> Result<(String, rampart_core::ServiceEvent), String> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut out = Hashing { inner: encoder, hash: aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256) };
    write_records(&mut out, records).map_err(|e| e.to_string())?;
    let hash = hex::encode(out.hash.finish().as_ref());
    let gz = out.inner.finish().map_err(|e| e.to_string())?;
    let trail_arn = entry.arn();
    let context =
        crate::encryption::context(&trail_arn, &crate::encryption::object_arn(&entry.record.bucket, object_key));
    let request = rampart_core::service_keys::KeyUse {
        service: SERVICE_PRINCIPAL,
        account: &entry.account,
        region: &entry.record.home_region,
        key_id,
        context: &context,
        source_arn: &trail_arn,
    };
    let data_key = keys.generate_data_key(&request).map_err(|e| format!("KMS: {e}"))?;
    let (contents, metadata) = crate::encryption::seal(&gz, &data_key, &context)?;
    write_plain(path, &contents).map_err(|e| e.to_string())?;
    write_plain(&crate::digest::metadata_path(path), &metadata).map_err(|e| e.to_string())?;
    let context: serde_json::Map<String, Value> = context.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    let event = rampart_core::ServiceEvent {
        source: "kms.amazonaws.com",
        invoked_by: Some(SERVICE_PRINCIPAL),
        account: rampart_core::AccountId::parse(&entry.account).ok_or("a trail's account is not an account id")?,
        region: entry.record.home_region.clone(),
        event_name: "GenerateDataKey".to_string(),
        read_only: true,
        resources: vec![rampart_core::Resource { kind: "AWS::KMS::Key".to_string(), name: data_key.key_arn.clone() }],
        details: serde_json::json!({
            "keyId": data_key.key_arn,
            "keySpec": "AES_256",
            "encryptionContext": context,
        }),
    };
    Ok((hash, event))
}

/// Writes a log file of `records` gzipped at `path`, atomically; returns the
/// hex SHA-256 of its uncompressed content.
fn write_log_file<'a>(path: &Path, records: impl Iterator<Item = &'a str>) -> std::io::Result<String> {
    let mut hash = None;
    write_atomically(path, |file| {
        let encoder = flate2::write::GzEncoder::new(std::io::BufWriter::new(file), flate2::Compression::fast());
        let mut out = Hashing { inner: encoder, hash: aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256) };
        write_records(&mut out, records)?;
        hash = Some(hex::encode(out.hash.finish().as_ref()));
        out.inner.finish()?.into_inner().map_err(|e| e.into_error())?.sync_all()
    })?;
    hash.ok_or_else(|| std::io::Error::other("the log file was not written"))
}

impl Trail {
    /// One pass over every trail; each trail's progress is committed as it
    /// goes. `flush`: the node is stopping (or starting), so every file not
    /// yet in a digest gets one now.
    pub(crate) async fn deliver(&self, flush: bool) -> Result<Option<SystemChange>, String> {
        let _guard = self.lock.clone().lock_owned().await;
        let trails: Vec<TrailEntry> = self.state.read().trails.values().cloned().collect();
        for entry in trails {
            let mut record = self.state.read().deliveries.get(&entry.arn()).cloned().unwrap_or_default();
            // Another delivery in this pass only while the last was cut
            // short: the delivery's own records (CloudTrail's KMS data
            // keys) wait for the next pass, as in AWS.
            for _ in 0..DELIVERIES_PER_PASS {
                let cursor = record.cursor;
                if !record.has_work() || !self.deliver_trail(&entry, &mut record).await? || record.cursor == cursor {
                    break;
                }
            }
            if entry.record.log_file_validation {
                self.digests(&entry, &mut record, flush).await?;
            }
        }
        Ok(None)
    }

    /// One delivery of a trail's next records; whether there may be more
    /// right away.
    async fn deliver_trail(&self, entry: &TrailEntry, record: &mut DeliveryRecord) -> Result<bool, String> {
        // The batches the plan read, kept for writing; a pending delivery
        // found after a restart reads them again.
        let mut read = None;
        // A pending delivery found after a restart may have more behind it.
        let mut more = true;
        if record.pending.is_none() {
            let (store, planned_entry, planning) = (self.store.clone(), entry.clone(), record.clone());
            let planned = tokio::task::spawn_blocking(move || {
                let mut planning = planning;
                plan(&store, &planned_entry, &mut planning).map(|batches| (planning, batches))
            });
            let (planned, (batches, cut_short)) = planned.await.map_err(|e| e.to_string())??;
            *record = planned;
            more = cut_short;
            match batches {
                Some(batches) => {
                    self.commit_delivery(entry, record.clone(), Vec::new()).await?;
                    read = Some(batches);
                }
                None => {
                    // Nothing of the trail's: the cursor moves on in memory
                    // (until the next commit; a restart reads those batches again).
                    self.state.write().deliveries.insert(entry.arn(), record.clone());
                    return Ok(more);
                }
            }
        }
        let Some(pending) = record.pending.clone() else { return Ok(false) };
        let now = crate::now();
        record.latest_attempt_time = Some(now);
        let (store, buckets, writing, to_write) =
            (self.store.clone(), self.config.buckets.clone(), entry.clone(), pending.clone());
        let keys = self.config.service_keys.clone();
        let written = tokio::task::spawn_blocking(move || {
            write_pending(&store, &buckets, keys.as_deref(), &writing, &to_write, read)
        })
        .await;
        let key_uses = match written.map_err(|e| e.to_string()).and_then(|w| w) {
            Ok((files, uses)) => {
                record.bucket_dir = self.config.buckets.mapped(&entry.record.bucket).map(|p| p.display().to_string());
                record.cursor = pending.to;
                record.pending = None;
                record.latest_delivery_time = Some(now);
                record.latest_error = None;
                record.prune();
                if entry.record.log_file_validation {
                    let start = entry.record.start_logging_time.unwrap_or(now);
                    for (region, file) in files {
                        record
                            .chains
                            .entry(region)
                            .or_insert_with(|| Chain { start, ..Chain::default() })
                            .files
                            .push(file);
                    }
                }
                uses
            }
            Err(error) => {
                tracing::error!(%error, trail = %entry.arn(), "a trail's log files could not be written");
                record.latest_error = Some(format!("Rampart could not write the log files: {error}"));
                self.commit_delivery(entry, record.clone(), Vec::new()).await?;
                return Ok(false);
            }
        };
        // The data keys KMS made for the files are recorded with the delivery.
        self.commit_delivery(entry, record.clone(), key_uses).await?;
        Ok(more)
    }

    /// Commits a trail's delivery state, with `events` (KMS calls it made).
    pub(crate) async fn commit_delivery(
        &self,
        entry: &TrailEntry,
        record: DeliveryRecord,
        events: Vec<rampart_core::ServiceEvent>,
    ) -> Result<(), String> {
        let writes = vec![write(entry, &record)?];
        let state = self.state.clone();
        let arn = entry.arn();
        let apply = Box::new(move || {
            state.write().deliveries.insert(arn, record);
        });
        self.committer.commit(SystemChange { change: Change { writes, apply }, events }).await
    }
}

/// Reads the batches after the cursor and plans the files of the
/// trail's events among them; `false` when there are none (the cursor
/// moves on all the same).
fn plan(
    store: &rampart_store::Store,
    entry: &TrailEntry,
    record: &mut DeliveryRecord,
) -> Result<(Option<Batches>, bool), String> {
    let batches = store.event_batches_after(record.cursor, BATCHES_PER_PASS).map_err(|e| e.to_string())?;
    let Some(last) = batches.last().map(|(seq, _)| *seq) else { return Ok((None, false)) };
    let to = last;
    let selectors = entry.selectors();
    let mut by_region: BTreeMap<String, Vec<(i64, u32)>> = BTreeMap::new();
    let mut to = to;
    let mut selected = 0;
    for (seq, events) in &batches {
        if selected >= RECORDS_PER_DELIVERY {
            break;
        }
        to = *seq;
        if !record.logs(*seq) {
            continue;
        }
        for (index, event) in events.iter().enumerate() {
            if delivers(entry, &selectors, event) {
                let index = u32::try_from(index).map_err(|e| e.to_string())?;
                by_region.entry(event.region.clone()).or_default().push((*seq, index));
                selected += 1;
            }
        }
    }
    // Cut short (by the page of batches or the records per delivery):
    // there may be more right away.
    let more = batches.len() >= BATCHES_PER_PASS || to < last;
    let from = record.cursor;
    if by_region.is_empty() {
        record.cursor = to;
        record.prune();
        return Ok((None, more));
    }
    let now = crate::now();
    let files = by_region
        .into_iter()
        .map(|(region, positions)| PendingFile { path: file_path(entry, &region, from, to, now), region, positions })
        .collect();
    record.pending = Some(Pending { from, to, files });
    Ok((Some(batches.into_iter().filter(|(seq, _)| *seq <= to).collect()), more))
}

/// What a delivery wrote: each region's file, and the records of the KMS
/// calls it made (the data keys of encrypted files).
type Written = (Vec<(String, LoggedFile)>, Vec<rampart_core::ServiceEvent>);

/// Writes a pending delivery's files from the batches it was planned
/// from (read again when `None`); each file as a digest will list it.
fn write_pending(
    store: &rampart_store::Store,
    buckets: &Buckets,
    keys: Option<&dyn rampart_core::service_keys::ServiceKeys>,
    entry: &TrailEntry,
    pending: &Pending,
    read: Option<Batches>,
) -> Result<Written, String> {
    let batches = match read {
        Some(batches) => batches,
        None => {
            let count = usize::try_from(pending.to - pending.from).unwrap_or(BATCHES_PER_PASS);
            let batches = store.event_batches_after(pending.from, count).map_err(|e| e.to_string())?;
            batches.into_iter().filter(|(seq, _)| *seq <= pending.to).collect()
        }
    };
    let bucket = buckets.ensure(&entry.record.bucket).map_err(|e| e.to_string())?;
    let (mut written, mut key_uses) = (Vec::new(), Vec::new());
    for file in &pending.files {
        let events: Vec<&EventRow> = file
            .positions
            .iter()
            .filter_map(|(seq, index)| batches.get(seq).and_then(|events| events.get(*index as usize)))
            .collect();
        let records = events.iter().map(|e| e.record.as_str());
        let path = bucket.join(&file.path);
        let hash = match (&entry.record.kms_key_id, keys) {
            (Some(key_id), Some(keys)) => {
                let (hash, key_use) = write_encrypted_log_file(keys, entry, key_id, &file.path, &path, records)?;
                key_uses.push(key_use);
                hash
            }
            (Some(_), None) => return Err("this node has no KMS to encrypt the trail's log files with".to_string()),
            (None, _) => {
                // A delivery written again after the trail stopped encrypting
                // leaves no encryption metadata of its earlier writing beside it.
                let metadata = crate::digest::metadata_path(&path);
                match std::fs::remove_file(&metadata) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.to_string()),
                    _ => {}
                }
                write_log_file(&path, records).map_err(|e| e.to_string())?
            }
        };
        let times = events.iter().map(|e| crate::digest::utc(e.event_time_ms as f64 / 1000.0));
        written.push((
            file.region.clone(),
            LoggedFile {
                path: file.path.clone(),
                hash,
                oldest: times.clone().min().unwrap_or_default(),
                newest: times.max().unwrap_or_default(),
            },
        ));
    }
    Ok((written, key_uses))
}

/// Loads the stored delivery states into `state` (after its trails).
pub(crate) fn load(store: &rampart_store::Store, state: &mut State) -> Result<(), String> {
    for row in store.scan(DELIVERY_KIND).map_err(|e| e.to_string())? {
        let record: DeliveryRecord =
            serde_json::from_str(&row.value).map_err(|e| format!("CloudTrail delivery {}: {e}", row.key))?;
        let Some(entry) = state.trails.values().find(|t| t.account == row.account && record_key(t) == row.key) else {
            continue;
        };
        state.deliveries.insert(entry.arn(), record);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_decide_which_batches_a_trail_logged() {
        let mut record = DeliveryRecord::default();
        assert!(!record.has_work());
        record.start(10);
        assert!(!record.logs(10) && record.logs(11) && record.logs(1_000));
        record.stop(20);
        assert!(record.logs(20) && !record.logs(21));
        record.start(30);
        assert!(!record.logs(25) && record.logs(31));
        record.cursor = 25;
        record.prune();
        assert_eq!(record.windows, vec![(30, None)]);
        assert!(record.has_work());
    }

    #[test]
    fn file_names_are_aws_layout_and_stable() {
        let (file, dirs) = stamp(1_700_000_000.0);
        assert_eq!((file.as_str(), dirs.as_str()), ("20231114T2213Z", "2023/11/14"));
        let json = |records: &[&str]| {
            let mut out = Vec::new();
            write_records(&mut out, records.iter().copied()).unwrap_or_default();
            out
        };
        assert_eq!(json(&["{\"a\":1}", "{\"b\":2}"]), b"{\"Records\":[{\"a\":1},{\"b\":2}]}");
        assert_eq!(json(&[]), b"{\"Records\":[]}");
    }
}
