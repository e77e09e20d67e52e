//! A running node's shared state: the store, the services, the credential
//! table, and how it was bootstrapped.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use rampart_core::{
    ids, wrapping::write_private, AccountId, Credentials, FileKeys, KeyWrapper, Sealer, Secret, Service, ServiceEvent,
    ServiceId,
};
use rampart_iam::Iam;
use rampart_kms::{Kms, KmsConfig, LifecycleClock};
use rampart_store::{SqliteBackend, Store};
use rampart_sts::Sts;
use rampart_trail::Trail;

use crate::audit::service_event_row;
use crate::auth::Regions;
use crate::refusals::RefusalBudget;
use crate::shares::Shares;
use crate::tasks::commit_system;

/// The `eventSource` of what the node itself does (a dev reset).
const NODE_EVENT_SOURCE: &str = "rampart";

/// The root credentials a node guarantees at start-up (and after a dev reset).
#[derive(Debug, Clone)]
pub struct RootCredentials {
    pub account: AccountId,
    pub access_key_id: String,
    pub secret: Secret,
}

/// How the node is configured.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: std::net::SocketAddr,
    pub data_dir: PathBuf,
    pub region: String,
    pub dev: bool,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Root credentials from the environment; `None` to generate them once.
    pub root: Option<RootCredentials>,
    /// The regions the node serves; empty for every region of the partition.
    pub regions: Vec<String>,
    pub limits: Limits,
    /// For tests: an output member the model does not define makes the call
    /// fail (`InternalFailure`) instead of being left out of the response.
    pub strict_outputs: bool,
    /// Identity providers' host names and the addresses to reach them at
    /// instead of their DNS ones (`--provider-host NAME=ADDRESS:PORT`).
    pub provider_hosts: HashMap<String, std::net::SocketAddr>,
    /// A seed file of hardware MFA tokens to register in the root's account
    /// at start-up (`--hardware-mfa-tokens`).
    pub hardware_mfa_tokens: Option<PathBuf>,
    /// The root of trust in a PKCS#11 token; `None` for the data
    /// directory's key files.
    pub hsm: Option<rampart_hsm::HsmConfig>,
    /// The PKCS#11 library whose tokens back KMS's custom key stores.
    pub cloudhsm_module: Option<PathBuf>,
    /// How often logging trails deliver their files.
    pub trail_delivery_period: std::time::Duration,
    /// How often trails with log-file validation write a digest.
    pub trail_digest_period: std::time::Duration,
    /// How long a digest-signing key signs before it is replaced.
    pub trail_key_rotation: std::time::Duration,
    /// Trail buckets the operator puts elsewhere than `DATA/buckets/NAME`.
    pub trail_buckets: Vec<(String, PathBuf)>,
}

/// What one client, or all of them, may hold of the node (the defaults are
/// the command line's, `rampart serve --help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open connections in all.
    pub max_connections: usize,
    /// Open connections from one IP address.
    pub max_connections_per_peer: usize,
    /// A request's body must arrive within this once its headers have.
    pub read_timeout: std::time::Duration,
    /// A connection must send the headers of its next request within this
    /// (from when it opens, or from the last response).
    pub idle_timeout: std::time::Duration,
    /// Request bodies held in memory at once, in all, in MiB.
    pub body_memory_mib: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Store(#[from] rampart_store::StoreError),
    #[error("{0}")]
    Keys(#[from] rampart_core::WrapError),
    #[error("cannot load state: {0}")]
    Load(String),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
}

pub(crate) struct Node {
    pub config: Config,
    pub store: Store,
    pub credentials: Arc<Credentials>,
    pub iam: Arc<Iam>,
    /// Seals what the node hands out to be brought back (EC2's encoded
    /// authorization messages).
    pub sealer: Sealer,
    pub services: HashMap<ServiceId, Arc<dyn Service>>,
    /// The clock of KMS's key lifecycle, which dev mode can move forward.
    pub lifecycle_clock: LifecycleClock,
    /// The root credentials to restore on a dev reset; `None` when an existing
    /// data directory has lost its generated credentials file.
    pub root: Option<RootCredentials>,
    pub regions: Regions,
    /// How many records of failed authentication are kept.
    pub refusals: RefusalBudget,
    /// Request bodies held in memory, in KiB (`Limits::body_memory_mib` in
    /// all, a quarter of it per peer): many concurrent large requests must not
    /// exhaust the node's memory, nor one client hold all of it.
    pub bodies: Arc<Shares>,
}

fn now_seconds() -> f64 {
    (time::OffsetDateTime::now_utc().unix_timestamp()) as f64
}

impl Node {
    pub async fn open(config: Config) -> Result<Node, StartError> {
        for region in config.regions.iter().chain(std::iter::once(&config.region)) {
            if !rampart_core::regions::is_partition_region(region) {
                return Err(StartError::Config(format!("'{region}' is not a region of the aws partition")));
            }
        }
        if !config.regions.is_empty() && !config.regions.contains(&config.region) {
            return Err(StartError::Config(format!("--region {} is not one of --regions", config.region)));
        }
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|source| StartError::Write { path: config.data_dir.clone(), source })?;
        // The store holds sealed secrets and the audit trail: owner only.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|source| StartError::Write { path: config.data_dir.clone(), source })?;
        }
        let (wrapper, hsm_keys) = key_wrapper(&config)?;
        let sealer = Sealer::new(wrapper);
        // Parse the action catalog now (~10 ms), not during the first request;
        // without it service condition keys would go unset: refuse to start.
        if rampart_policy::catalog().services().is_empty() {
            return Err(StartError::Load("the compiled-in action catalog could not be read".into()));
        }
        let store: Store = SqliteBackend::open(&config.data_dir)?;
        let credentials = Arc::new(Credentials::default());
        let iam = Arc::new(Iam::new(store.clone(), sealer.clone(), credentials.clone()));
        let sts = Arc::new(Sts::new(iam.clone(), sealer.clone(), config.provider_hosts.clone()));
        credentials.set_session_opener(sts.clone());
        iam.set_thumbprint_probe(sts.clone());
        let mut services: HashMap<ServiceId, Arc<dyn Service>> = HashMap::new();
        services.insert(ServiceId::Iam, iam.clone());
        services.insert(ServiceId::Sts, sts);
        let lifecycle_clock = LifecycleClock::default();
        // A dev node's tests move the clock and want the effect at once.
        let lifecycle_period = std::time::Duration::from_secs(if config.dev { 1 } else { 60 });
        let committer = Arc::new(crate::tasks::StoreCommitter(store.clone()));
        let clusters = match &config.cloudhsm_module {
            Some(module) => {
                let root_of_trust = hsm_keys.as_ref().map(|keys| keys.token_identity());
                let clusters = rampart_hsm::TokenClusters::open(module.clone(), root_of_trust)
                    .map_err(|e| StartError::Config(e.to_string()))?;
                Some(Arc::new(clusters) as Arc<dyn rampart_core::clusters::Clusters>)
            }
            None => None,
        };
        let kms_config = KmsConfig { lifecycle_period, clusters };
        let kms = Kms::new(store.clone(), sealer.clone(), lifecycle_clock.clone(), kms_config, committer);
        let kms = Arc::new(kms);
        iam.set_principal_followers(vec![kms.clone()]);
        let trail_config = rampart_trail::TrailConfig {
            buckets: rampart_trail::Buckets {
                root: config.data_dir.join("buckets"),
                mapped: config.trail_buckets.clone(),
            },
            delivery_period: config.trail_delivery_period,
            digest_period: config.trail_digest_period,
            key_rotation: config.trail_key_rotation,
            service_keys: Some(kms.clone()),
        };
        let trail_committer = Arc::new(crate::tasks::StoreCommitter(store.clone()));
        services.insert(
            ServiceId::CloudTrail,
            Arc::new(Trail::new(store.clone(), sealer.clone(), trail_committer, trail_config)),
        );
        services.insert(ServiceId::Kms, kms);
        for (id, service) in &services {
            // The served services' models now, not during the first request
            // (the others' when they are first asked for: EC2's alone is 20 MB
            // in memory). A model that does not parse is a build defect.
            id.load_model().map_err(|e| StartError::Load(format!("the {id:?} model: {e}")))?;
            service.load().map_err(StartError::Load)?;
        }
        let root = match (&config.root, iam.accounts().is_empty()) {
            (Some(root), _) => Some(root.clone()),
            (None, true) => Some(generate_root(&config)?),
            (None, false) => read_root_file(&config),
        };
        if let Some(root) = &root {
            let tokens = config.hardware_mfa_tokens.as_deref();
            bootstrap(&iam, &store, root, tokens, true).await.map_err(StartError::Load)?;
        }
        if let Some(hsm) = hsm_keys.filter(|hsm| hsm.has_legacy()) {
            rewrap(&store, &services, &hsm, &config, root.as_ref()).await?;
        }
        let regions = Regions::new(&config.regions);
        let body_kib = config.limits.body_memory_mib.saturating_mul(1024);
        let bodies = Shares::new(body_kib, body_kib / 4);
        Ok(Node {
            config,
            store,
            credentials,
            iam,
            sealer,
            services,
            lifecycle_clock,
            root,
            regions,
            refusals: RefusalBudget::default(),
            bodies,
        })
    }

    /// Dev mode: back to a fresh bootstrap. The wipe leaves one record, of
    /// the reset itself (an `AwsServiceEvent` of `rampart`, in the root's
    /// account), written in the wipe's transaction; the bootstrap that
    /// follows is recorded as at start-up.
    pub async fn reset(&self) -> Result<(), String> {
        let record = self.root.as_ref().map(|root| {
            let event = ServiceEvent {
                source: NODE_EVENT_SOURCE,
                invoked_by: None,
                account: root.account.clone(),
                region: self.config.region.clone(),
                event_name: "ResetNode".to_string(),
                read_only: false,
                resources: Vec::new(),
                details: serde_json::json!({ "reason": "POST /_rampart/reset (dev mode)" }),
            };
            service_event_row(&event, crate::auth::millis(time::OffsetDateTime::now_utc()))
        });
        let events = record.transpose().map_err(|e| e.to_string())?.into_iter().collect();
        self.store.wipe(events).await.map_err(|e| e.to_string())?;
        for service in self.services.values() {
            service.load()?;
        }
        if let Some(root) = &self.root {
            bootstrap(&self.iam, &self.store, root, self.config.hardware_mfa_tokens.as_deref(), false).await?;
        }
        Ok(())
    }
}

/// The node's key wrapper, and the HSM's keys when it is one.
type RootOfTrust = (Arc<dyn KeyWrapper>, Option<Arc<rampart_hsm::HsmKeys>>);

/// The root of trust: the HSM's key when one is configured, else the data
/// directory's key files. A data directory whose keys are in an HSM is not
/// served without it (a fresh `node.key` would open none of its secrets).
fn key_wrapper(config: &Config) -> Result<RootOfTrust, StartError> {
    if let Some(hsm) = &config.hsm {
        let keys = rampart_hsm::HsmKeys::open(hsm, &config.data_dir).map_err(|e| StartError::Config(e.to_string()))?;
        let keys = Arc::new(keys);
        return Ok((keys.clone(), Some(keys)));
    }
    if rampart_hsm::is_marked(&config.data_dir) {
        return Err(StartError::Config(format!(
            "the keys of {} are sealed by an HSM: serve it with --hsm-module",
            config.data_dir.display()
        )));
    }
    Ok((Arc::new(FileKeys::load_or_create(&config.data_dir)?), None))
}

/// The first start on an HSM after `rampart wrapping-key migrate-to-hsm`:
/// every secret the store holds sealed by the data directory's old keys is
/// sealed again by the token's key, in one commit recorded as a service
/// event; then the old keys are deleted and every service reloads what it
/// holds. Bearer tokens the old keys sealed (STS session tokens issued
/// before) stop opening.
async fn rewrap(
    store: &Store,
    services: &HashMap<ServiceId, Arc<dyn Service>>,
    hsm: &rampart_hsm::HsmKeys,
    config: &Config,
    root: Option<&RootCredentials>,
) -> Result<(), StartError> {
    let mut writes = Vec::new();
    for service in services.values() {
        writes.extend(service.reseal().map_err(StartError::Load)?);
    }
    let resealed = writes.len();
    let events = root
        .map(|root| ServiceEvent {
            source: NODE_EVENT_SOURCE,
            invoked_by: None,
            account: root.account.clone(),
            region: config.region.clone(),
            event_name: "RewrapSecrets".to_string(),
            read_only: false,
            resources: Vec::new(),
            details: serde_json::json!({ "reason": "the root of trust moved into an HSM", "records": resealed }),
        })
        .into_iter()
        .collect();
    let change = rampart_core::Change { writes, apply: Box::new(|| ()) };
    commit_system(store, rampart_core::SystemChange { change, events }).await.map_err(StartError::Load)?;
    hsm.forget_legacy(&config.data_dir).map_err(|e| StartError::Config(e.to_string()))?;
    for service in services.values() {
        service.load().map_err(StartError::Load)?;
    }
    tracing::info!(records = resealed, "every stored secret is sealed by the HSM now; the old file keys are deleted");
    Ok(())
}

/// The root's account and key, then the hardware MFA tokens of the seed
/// file, each committed with its service events. At start-up the file must
/// be there; at a dev reset it may have been removed since.
async fn bootstrap(
    iam: &Iam,
    store: &Store,
    root: &RootCredentials,
    hardware_tokens: Option<&std::path::Path>,
    at_start: bool,
) -> Result<(), String> {
    let change = iam.bootstrap_root(&root.account, &root.access_key_id, &root.secret, now_seconds());
    if let Some(change) = change.await? {
        commit_system(store, change).await?;
    }
    if let Some(path) = hardware_tokens {
        // The file holds seeds: its text never reaches an error or a log.
        let text = match std::fs::read_to_string(path) {
            Ok(text) => zeroize::Zeroizing::new(text),
            // Removed after the first start, as the operator may: the tokens
            // are stored (a dev reset, which forgets them, says so).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !at_start => {
                tracing::warn!(path = %path.display(), "the hardware MFA seed file is gone: no tokens registered");
                return Ok(());
            }
            Err(e) => return Err(format!("--hardware-mfa-tokens {}: {e}", path.display())),
        };
        let tokens = rampart_iam::parse_hardware_tokens(&text)
            .map_err(|e| format!("--hardware-mfa-tokens {}: {e}", path.display()))?;
        if let Some(change) = iam.register_hardware_tokens(&root.account, &tokens, now_seconds()).await? {
            commit_system(store, change).await?;
        }
    }
    Ok(())
}

/// Creates root credentials and writes them to `DATA/root-credentials` (mode 0600)
/// in the aws credentials-file format.
fn generate_root(config: &Config) -> Result<RootCredentials, StartError> {
    let account = AccountId::parse(&ids::account_id()).ok_or_else(|| StartError::Load("bad account id".into()))?;
    let root = RootCredentials {
        access_key_id: ids::access_key_id(&account),
        account,
        secret: Secret::new(ids::secret_access_key()),
    };
    let path = config.data_dir.join("root-credentials");
    let contents = format!(
        "# Root credentials of the Rampart account {}. Keep this file secret.\n[default]\n\
         aws_access_key_id = {}\naws_secret_access_key = {}\naws_account_id = {}\n",
        root.account,
        root.access_key_id,
        root.secret.expose(),
        root.account
    );
    write_private(&path, contents.as_bytes()).map_err(|source| StartError::Write { path, source })?;
    Ok(root)
}

/// The generated credentials of an earlier start, so a reset can restore them.
fn read_root_file(config: &Config) -> Option<RootCredentials> {
    let text = std::fs::read_to_string(config.data_dir.join("root-credentials")).ok()?;
    let value = |key: &str| {
        text.lines().filter_map(|l| l.split_once('=')).find(|(k, _)| k.trim() == key).map(|(_, v)| v.trim().to_string())
    };
    Some(RootCredentials {
        account: AccountId::parse(&value("aws_account_id")?)?,
        access_key_id: value("aws_access_key_id")?,
        secret: Secret::new(value("aws_secret_access_key")?),
    })
}
