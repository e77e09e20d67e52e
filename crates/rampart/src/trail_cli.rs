//! `rampart trail`: a trail's files checked offline, as `aws cloudtrail
//! validate-logs` checks them — from the files and the public keys alone,
//! beside a running node or on a copy elsewhere.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine;
use clap::Subcommand;
use serde_json::Value;

use rampart_trail::validate::{validate, Target};

#[derive(Subcommand)]
pub enum TrailCommand {
    /// Validate a trail's log files against its signed digest chain. Walks
    /// the digests newest to oldest and names every digest and log file that
    /// is modified, deleted, missing or forged; exits non-zero on any.
    Validate {
        /// The node's data directory: the trail, its bucket and the public
        /// keys are read from it (read-only; the node may be running).
        #[arg(long, value_name = "DIR", required_unless_present = "path")]
        data: Option<PathBuf>,
        /// The trail's name or ARN.
        #[arg(long)]
        trail: String,
        /// The bucket's files copied elsewhere (instead of DATA/buckets/BUCKET);
        /// with `--public-keys` (and `--account`, `--bucket`) no data directory is needed.
        #[arg(long, value_name = "DIR")]
        path: Option<PathBuf>,
        /// A directory of public keys, FINGERPRINT.der each (PKCS#1 DER, as
        /// ListPublicKeys returns them and `rampart trail export-public-keys` writes them).
        #[arg(long, value_name = "DIR")]
        public_keys: Option<PathBuf>,
        /// The trail's account (with `--path` and no `--data`).
        #[arg(long)]
        account: Option<String>,
        /// The trail's bucket name (with `--path` and no `--data`).
        #[arg(long)]
        bucket: Option<String>,
        /// The trail's S3 key prefix (with `--path` and no `--data`).
        #[arg(long, default_value = "")]
        prefix: String,
        /// The trail's home region (with `--path` and no `--data`): only
        /// digests that name it are the trail's.
        #[arg(long)]
        home_region: Option<String>,
        /// Only digests that end at or after this time (RFC 3339).
        #[arg(long, value_name = "TIME")]
        start_time: Option<String>,
        /// Only digests that end at or before this time (RFC 3339).
        #[arg(long, value_name = "TIME")]
        end_time: Option<String>,
    },
    /// Write the node's digest-signing public keys as FINGERPRINT.der files.
    ExportPublicKeys {
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

fn seconds(text: &Option<String>) -> Result<Option<f64>, String> {
    text.as_deref()
        .map(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .map(|t| t.unix_timestamp() as f64)
                .map_err(|e| format!("{t}: {e}"))
        })
        .transpose()
}

/// The node's public keys by fingerprint.
fn stored_keys(data: &std::path::Path) -> Result<HashMap<String, Vec<u8>>, String> {
    let mut keys = HashMap::new();
    for row in rampart_store::read_records(data, rampart_trail::digest::SIGNING_KEY_KIND).map_err(|e| e.to_string())? {
        let record: rampart_trail::digest::SigningKeyRecord =
            serde_json::from_str(&row.value).map_err(|e| e.to_string())?;
        let der = base64::engine::general_purpose::STANDARD.decode(&record.public_key).map_err(|e| e.to_string())?;
        keys.insert(record.fingerprint, der);
    }
    Ok(keys)
}

fn file_keys(dir: &std::path::Path) -> Result<HashMap<String, Vec<u8>>, String> {
    let mut keys = HashMap::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if let Some(fingerprint) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".der")) {
            keys.insert(fingerprint.to_string(), std::fs::read(&path).map_err(|e| e.to_string())?);
        }
    }
    Ok(keys)
}

/// A trail as the data directory knows it.
struct StoredTrail {
    account: String,
    home_region: String,
    bucket: String,
    prefix: String,
    /// Where its files were written, each region's newest digest, and
    /// whether another trail delivers to the same place.
    bucket_dir: Option<PathBuf>,
    newest: HashMap<String, String>,
    /// The log files delivered and not yet in a digest, when the node's
    /// delivery state is known.
    undigested: Option<std::collections::HashSet<String>>,
    shared: bool,
}

fn stored_trail(data: &std::path::Path, name: &str) -> Result<StoredTrail, String> {
    let rows = rampart_store::read_records(data, rampart_trail::TRAIL_KIND).map_err(|e| e.to_string())?;
    let mut all = Vec::new();
    for row in rows {
        let record: Value = serde_json::from_str(&row.value).map_err(|e| e.to_string())?;
        let text = |m: &str| record.get(m).and_then(Value::as_str).unwrap_or_default().to_string();
        all.push((
            row.account.clone(),
            row.key.clone(),
            text("name"),
            text("home_region"),
            text("bucket"),
            text("key_prefix"),
        ));
    }
    let arn = |t: &(String, String, String, String, String, String)| {
        format!("arn:aws:cloudtrail:{}:{}:trail/{}", t.3, t.0, t.2)
    };
    let found: Vec<_> = all.iter().filter(|t| t.2 == name || arn(t) == name).collect();
    let trail = match found.as_slice() {
        [trail] => *trail,
        [] => return Err(format!("no trail named {name} in {}", data.display())),
        many => {
            let arns: Vec<String> = many.iter().map(|t| arn(t)).collect();
            return Err(format!("several trails are named {name}: give one's ARN ({})", arns.join(", ")));
        }
    };
    let shared = all.iter().any(|t| t.0 == trail.0 && t.4 == trail.4 && t.5 == trail.5 && t.1 != trail.1);
    let mut stored = StoredTrail {
        account: trail.0.clone(),
        home_region: trail.3.clone(),
        bucket: trail.4.clone(),
        prefix: trail.5.clone(),
        bucket_dir: None,
        newest: HashMap::new(),
        undigested: None,
        shared,
    };
    for row in rampart_store::read_records(data, rampart_trail::DELIVERY_KIND).map_err(|e| e.to_string())? {
        if row.account != trail.0 || row.key != trail.1 {
            continue;
        }
        let record: Value = serde_json::from_str(&row.value).map_err(|e| e.to_string())?;
        stored.bucket_dir = record.get("bucket_dir").and_then(Value::as_str).map(PathBuf::from);
        let mut undigested = std::collections::HashSet::new();
        for (region, chain) in record.get("chains").and_then(Value::as_object).into_iter().flatten() {
            if let Some(path) = chain.pointer("/previous/path").and_then(Value::as_str) {
                stored.newest.insert(region.clone(), path.to_string());
            }
            let files = chain.get("files").and_then(Value::as_array).into_iter().flatten();
            undigested.extend(files.filter_map(|f| f.get("path").and_then(Value::as_str)).map(str::to_string));
        }
        stored.undigested = Some(undigested);
    }
    Ok(stored)
}

pub fn run(command: TrailCommand) -> ExitCode {
    match run_command(command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rampart: {e}");
            ExitCode::from(2)
        }
    }
}

fn run_command(command: TrailCommand) -> Result<ExitCode, String> {
    match command {
        TrailCommand::ExportPublicKeys { data, out } => {
            std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
            for (fingerprint, der) in stored_keys(&data)? {
                std::fs::write(out.join(format!("{fingerprint}.der")), der).map_err(|e| e.to_string())?;
                println!("{fingerprint}");
            }
            Ok(ExitCode::SUCCESS)
        }
        TrailCommand::Validate {
            data,
            trail,
            path,
            public_keys,
            account,
            bucket,
            prefix,
            home_region,
            start_time,
            end_time,
        } => {
            let stored = match (&data, &account, &bucket) {
                (_, Some(account), Some(bucket)) => StoredTrail {
                    account: account.clone(),
                    home_region: home_region.unwrap_or_default(),
                    bucket: bucket.clone(),
                    prefix,
                    bucket_dir: None,
                    newest: HashMap::new(),
                    undigested: None,
                    shared: false,
                },
                (Some(data), _, _) => stored_trail(data, &trail)?,
                (None, _, _) => return Err("--path without --data needs --account and --bucket".to_string()),
            };
            let keys = match (&public_keys, &data) {
                (Some(dir), _) => file_keys(dir)?,
                (None, Some(data)) => stored_keys(data)?,
                (None, None) => return Err("--path without --data needs --public-keys".to_string()),
            };
            let bucket_dir = match (path, &data, &stored.bucket_dir) {
                (Some(path), _, _) => path,
                (None, _, Some(dir)) => dir.clone(),
                (None, Some(data), None) => data.join("buckets").join(&stored.bucket),
                (None, None, None) => return Err("--data or --path is required".to_string()),
            };
            if stored.shared {
                println!(
                    "Other trails deliver to the same bucket and prefix: log files no digest lists are not reported."
                );
            }
            let name = trail.rsplit('/').next().unwrap_or(&trail).to_string();
            let target = Target {
                bucket_dir,
                bucket: stored.bucket,
                prefix: stored.prefix.trim_matches('/').to_string(),
                account: stored.account,
                trail: name,
                home_region: Some(stored.home_region).filter(|h| !h.is_empty()),
                start: seconds(&start_time)?,
                end: seconds(&end_time)?,
                newest: stored.newest,
                unlisted: !stored.shared,
                undigested: stored.undigested,
            };
            let report = validate(&target, &keys);
            println!("Validating log files for trail {trail}\n");
            for line in &report.lines {
                println!("{line}");
            }
            println!("\n{}", report.summary());
            if report.digests_valid + report.digests_invalid == 0 {
                println!("No digest files were found for trail {trail}.");
            }
            Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}
