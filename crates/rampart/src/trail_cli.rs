//! `rampart trail`: a trail's files checked offline, as `aws cloudtrail
//! validate-logs` checks them — from the files and the public keys alone,
//! beside a running node or on a copy elsewhere — and Lake queries run
//! over a data directory.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use rampart_trail::validate::{read_regular, stored_keys, stored_target, validate, Target};

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
    /// Run a CloudTrail Lake query over one of the node's event data stores
    /// (read-only; the node may be running), as StartQuery runs it.
    /// Prints the rows tab-separated under a header, or as JSON lines.
    Query {
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The statement: SELECT … FROM <event data store id or ARN> …
        statement: String,
        /// A value for the statement's next `?` placeholder (repeatable).
        #[arg(long = "param", value_name = "VALUE")]
        params: Vec<String>,
        /// One JSON object per row instead of tab-separated text.
        #[arg(long)]
        json: bool,
    },
    /// Decrypt a log file a trail encrypted under a KMS key (with its
    /// `.metadata` beside it) into the gzipped log, with the node's keys.
    Decrypt {
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The encrypted log file.
        file: PathBuf,
        /// Where to write the gzipped log.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
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

/// Opens encrypted log files' data keys with the node's KMS keys, read
/// from its data directory the first time one is needed.
struct OfflineKeyOpener<'d> {
    data: Option<&'d std::path::Path>,
    keys: std::sync::OnceLock<Result<rampart_kms::OfflineKeys, String>>,
}

impl<'d> OfflineKeyOpener<'d> {
    fn new(data: Option<&'d std::path::Path>) -> OfflineKeyOpener<'d> {
        OfflineKeyOpener { data, keys: std::sync::OnceLock::new() }
    }

    fn open(
        &self,
        key_arn: &str,
        context: &[(String, String)],
        ciphertext: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
        let keys = self.keys.get_or_init(|| {
            let data = self.data.ok_or("encrypted log files are read with --data (the node's keys)")?;
            if rampart_hsm::is_marked(data) {
                return Err("the node's keys are in an HSM: its encrypted log files cannot be read offline".to_string());
            }
            if !data.join("node.key").is_file() {
                return Err(format!("{} has no node.key", data.display()));
            }
            let wrapper = rampart_core::FileKeys::load_or_create(data).map_err(|e| e.to_string())?;
            rampart_kms::OfflineKeys::open(data, &rampart_core::Sealer::new(std::sync::Arc::new(wrapper)))
        });
        match keys {
            Ok(keys) => keys.open_data_key(key_arn, context, ciphertext),
            Err(e) => Err(e.clone()),
        }
    }
}

fn print_rows(rows: &[rampart_trail::lake::eval::ResultRow], json: bool) {
    if json {
        for row in rows {
            let object: serde_json::Map<String, serde_json::Value> =
                row.iter().map(|(name, cell)| (name.clone(), cell.clone().into())).collect();
            println!("{}", serde_json::Value::Object(object));
        }
        return;
    }
    // Tabs and newlines inside a cell would break the columns.
    let clean = |text: &str| text.replace(['\t', '\n', '\r'], " ");
    if let Some(first) = rows.first() {
        println!("{}", first.iter().map(|(name, _)| clean(name)).collect::<Vec<_>>().join("\t"));
    }
    for row in rows {
        println!(
            "{}",
            row.iter().map(|(_, cell)| clean(cell.as_deref().unwrap_or("NULL"))).collect::<Vec<_>>().join("\t")
        );
    }
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
        TrailCommand::Decrypt { data, file, out } => {
            // Regular files only (a pipe would block), of bounded size.
            let metadata = read_regular(&rampart_trail::digest::metadata_path(&file), 1 << 20)
                .map_err(|e| format!("{}.metadata: {e}", file.display()))?;
            let metadata: serde_json::Value = serde_json::from_slice(&metadata).map_err(|e| e.to_string())?;
            if !rampart_trail::encryption::is_encrypted(&metadata) {
                return Err(format!("{} is not encrypted under a KMS key", file.display()));
            }
            let sealed = read_regular(&file, 1 << 30).map_err(|e| format!("{}: {e}", file.display()))?;
            let offline = OfflineKeyOpener::new(Some(&data));
            let open_key =
                |arn: &str, context: &[(String, String)], ciphertext: &[u8]| offline.open(arn, context, ciphertext);
            let gz = rampart_trail::encryption::open(&sealed, &metadata, &open_key)?;
            std::fs::write(&out, gz).map_err(|e| format!("{}: {e}", out.display()))?;
            Ok(ExitCode::SUCCESS)
        }
        TrailCommand::Query { data, statement, params, json } => {
            let now_ms = i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
                .map_err(|e| e.to_string())?;
            let (results, stats) = rampart_trail::lake::query_stored(&data, &statement, &params, now_ms)?;
            print_rows(&results.rows, json);
            eprintln!(
                "{} rows; {} events scanned, {} matched, {} ms",
                results.rows.len(),
                stats.events_scanned,
                stats.events_matched,
                stats.execution_ms
            );
            Ok(ExitCode::SUCCESS)
        }
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
            let mut target = match (&data, account, bucket) {
                (_, Some(account), Some(bucket)) => Target {
                    bucket_dir: PathBuf::new(),
                    bucket,
                    prefix: prefix.trim_matches('/').to_string(),
                    account,
                    trail: trail.rsplit('/').next().unwrap_or(&trail).to_string(),
                    home_region,
                    start: None,
                    end: None,
                    newest: HashMap::new(),
                    unlisted: true,
                    undigested: None,
                },
                (Some(data), _, _) => stored_target(data, &trail)?,
                (None, _, _) => return Err("--path without --data needs --account and --bucket".to_string()),
            };
            let keys = match (&public_keys, &data) {
                (Some(dir), _) => file_keys(dir)?,
                (None, Some(data)) => stored_keys(data)?,
                (None, None) => return Err("--path without --data needs --public-keys".to_string()),
            };
            match (path, &data) {
                (Some(path), _) => target.bucket_dir = path,
                (None, Some(_)) => {}
                (None, None) => return Err("--data or --path is required".to_string()),
            }
            if !target.unlisted {
                println!(
                    "Other trails deliver to the same bucket and prefix: log files no digest lists are not reported."
                );
            }
            target.start = seconds(&start_time)?;
            target.end = seconds(&end_time)?;
            let offline = OfflineKeyOpener::new(data.as_deref());
            let open_key =
                |arn: &str, context: &[(String, String)], ciphertext: &[u8]| offline.open(arn, context, ciphertext);
            let report = validate(&target, &keys, Some(&open_key));
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
