//! The `rampart` binary: command-line parsing and logging; everything else is
//! in `rampart-server`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

mod policy_cli;
mod trail_cli;

use clap::{Parser, Subcommand};
use rampart_core::{AccountId, Secret};
use rampart_server::{Config, Limits, RootCredentials};

/// mimalloc: the request path allocates many small short-lived buffers, and
/// glibc's allocator was a sixth of the server's CPU time under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A self-hosted cloud security control plane that speaks the AWS APIs:
/// IAM, STS, KMS, CloudTrail and more, with every request authenticated,
/// authorized and audited.
#[derive(Parser)]
#[command(name = "rampart", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the AWS APIs.
    ///
    /// On first start with an empty data directory, Rampart creates an account
    /// and its root access key: from RAMPART_ACCOUNT_ID,
    /// RAMPART_ROOT_ACCESS_KEY_ID and RAMPART_ROOT_SECRET_ACCESS_KEY when set,
    /// otherwise generated and written to DATA/root-credentials (mode 0600, aws
    /// credentials-file format; use it with AWS_SHARED_CREDENTIALS_FILE).
    Serve(Box<ServeArgs>),
    /// Evaluate and validate IAM policies offline, with the same engine the server uses.
    #[command(subcommand)]
    Policy(policy_cli::PolicyCommand),
    /// Manage the keys that wrap the secrets the node stores.
    #[command(subcommand)]
    WrappingKey(WrappingKeyCommand),
    /// Work with trails' delivered files offline.
    #[command(subcommand)]
    Trail(trail_cli::TrailCommand),
}

#[derive(Subcommand)]
enum WrappingKeyCommand {
    /// Create a new wrapping key and make it the one that seals new secrets
    /// from the node's next start. Older keys stay: what they sealed still opens.
    Rotate {
        /// Directory holding the node's state.
        #[arg(long, default_value = "./rampart-data")]
        data: PathBuf,
    },
    /// Move the root of trust into a PKCS#11 token: seal the data
    /// directory's key files under the token's wrapping key (generated in
    /// the token if absent) and delete the plain files. From then on the
    /// node serves only with `--hsm-module` and the same token; its first
    /// start seals every stored secret again by the token's key and deletes
    /// the old keys for good (session tokens issued before stop working).
    MigrateToHsm {
        /// Directory holding the node's state (the node must be stopped).
        #[arg(long, default_value = "./rampart-data")]
        data: PathBuf,
        #[command(flatten)]
        hsm: HsmArgs,
    },
}

/// Where the root of trust is when it is a PKCS#11 token (an HSM).
#[derive(clap::Args, Clone)]
struct HsmArgs {
    /// The token's PKCS#11 library (e.g. /usr/lib/softhsm/libsofthsm2.so):
    /// the key wrapper's key is then a non-extractable key in the token.
    #[arg(long, value_name = "PATH", env = "RAMPART_HSM_MODULE")]
    hsm_module: Option<PathBuf>,
    /// The token's slot id.
    #[arg(long, value_name = "N", env = "RAMPART_HSM_SLOT", default_value_t = 0)]
    hsm_slot: u64,
    /// The environment variable that holds the token's user PIN (never
    /// given on the command line).
    #[arg(long, value_name = "VAR", default_value = "RAMPART_HSM_PIN")]
    hsm_pin_env: String,
    /// The label of the wrapping key in the token.
    #[arg(long, value_name = "LABEL", default_value = "rampart-wrapping-key")]
    hsm_key_label: String,
}

impl HsmArgs {
    fn config(&self) -> Result<Option<rampart_hsm::HsmConfig>, String> {
        let Some(module) = &self.hsm_module else { return Ok(None) };
        rampart_hsm::HsmConfig::new(module.clone(), self.hsm_slot, &self.hsm_pin_env, self.hsm_key_label.clone())
            .map(Some)
            .map_err(|e| e.to_string())
    }
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4566")]
    listen: SocketAddr,
    /// Directory holding the node's state.
    #[arg(long, default_value = "./rampart-data")]
    data: PathBuf,
    /// Region used when a request does not name one.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Development mode: enables POST /_rampart/reset (and moto's /moto-api/reset
    /// aliases) and, unless the RAMPART_* variables say otherwise, moto's test
    /// credentials FOOBARKEY / FOOBARSECRET in account 123456789012. Enforcement
    /// stays on.
    #[arg(long)]
    dev: bool,
    /// PEM certificate chain for TLS (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for TLS (with --tls-cert).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address (TLS is required otherwise).
    #[arg(long)]
    insecure_http: bool,
    /// The regions this node serves, comma-separated (default: every region of
    /// the aws partition). Requests signed for another region are refused;
    /// IAM, a global service, is served whatever the list.
    #[arg(long, env = "RAMPART_REGIONS", value_delimiter = ',')]
    regions: Vec<String>,
    /// Open connections the node holds in all.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Open connections one IP address may hold.
    #[arg(long, default_value_t = 256)]
    max_connections_per_peer: usize,
    /// Seconds a request's body may take to arrive (then: RequestTimeout).
    #[arg(long, default_value_t = 30)]
    read_timeout: u64,
    /// Seconds a connection may take to send its next request's headers.
    #[arg(long, default_value_t = 60)]
    idle_timeout: u64,
    /// For tests: a handler output member the model does not define fails
    /// the call instead of being left out of the response.
    #[arg(long, hide = true)]
    strict_outputs: bool,
    /// MiB of request bodies held in memory at once (a quarter of it per
    /// client address); a request over the budget is refused with a 503 that
    /// clients retry.
    #[arg(long, default_value_t = 256)]
    max_body_memory: usize,
    /// Where to reach an OpenID Connect provider's host instead of its DNS
    /// address, as NAME=ADDRESS:PORT (repeatable): web identity federation
    /// fetches the provider's keys from https://NAME/.
    #[arg(long = "provider-host", value_name = "NAME=ADDRESS:PORT", value_parser = parse_provider_host)]
    provider_hosts: Vec<(String, std::net::SocketAddr)>,
    /// A seed file of hardware TOTP tokens (one SERIAL,BASE32SEED per line,
    /// as their vendor supplies them) to register at start-up as MFA devices
    /// of the root's account; users enable them by serial number. Serials
    /// already registered are skipped, so the file can go after the first start.
    #[arg(long, value_name = "FILE", env = "RAMPART_HARDWARE_MFA_TOKENS")]
    hardware_mfa_tokens: Option<PathBuf>,
    #[command(flatten)]
    hsm: HsmArgs,
    /// The PKCS#11 library whose tokens are the CloudHSM clusters of KMS's
    /// custom key stores: a token labelled `cluster-…` is the cluster of
    /// that id, and a key store logs in to it as its user with the key
    /// store's password. The root of trust's token is never one.
    #[arg(long, value_name = "PATH", env = "RAMPART_CLOUDHSM_MODULE")]
    cloudhsm_module: Option<PathBuf>,
    /// How often logging trails deliver their log files, in seconds (AWS
    /// delivers about every 5 minutes; tests use 1).
    #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    trail_delivery_seconds: u64,
    /// How often trails with log-file validation write a digest file, in
    /// seconds (AWS: hourly).
    #[arg(long, value_name = "SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    trail_digest_seconds: u64,
    /// How long a region's digest-signing key signs before a new one
    /// replaces it, in seconds (30 days; the old public key stays listed).
    #[arg(long, value_name = "SECONDS", default_value_t = 30 * 86_400, value_parser = clap::value_parser!(u64).range(1..))]
    trail_key_rotation_seconds: u64,
    /// Where a trail's S3 bucket is, as NAME=DIRECTORY (repeatable); other
    /// buckets are directories under DATA/buckets/.
    #[arg(long = "trail-bucket", value_name = "NAME=DIRECTORY", value_parser = parse_bucket)]
    trail_buckets: Vec<(String, PathBuf)>,
}

fn parse_bucket(text: &str) -> Result<(String, PathBuf), String> {
    let (name, path) = text.split_once('=').ok_or("expected NAME=DIRECTORY")?;
    Ok((name.to_string(), PathBuf::from(path)))
}

fn parse_provider_host(text: &str) -> Result<(String, std::net::SocketAddr), String> {
    let (name, address) = text.split_once('=').ok_or("expected NAME=ADDRESS:PORT")?;
    let address = address.parse().map_err(|e| format!("{address}: {e}"))?;
    Ok((name.to_ascii_lowercase(), address))
}

fn root_from_env(dev: bool) -> Result<Option<RootCredentials>, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (account, key, secret) =
        (var("RAMPART_ACCOUNT_ID"), var("RAMPART_ROOT_ACCESS_KEY_ID"), var("RAMPART_ROOT_SECRET_ACCESS_KEY"));
    let (key, secret) = match (key, secret, dev) {
        (Some(k), Some(s), _) => (k, s),
        (None, None, true) => ("FOOBARKEY".to_string(), "FOOBARSECRET".to_string()),
        (None, None, false) => return Ok(None),
        _ => return Err("set both RAMPART_ROOT_ACCESS_KEY_ID and RAMPART_ROOT_SECRET_ACCESS_KEY, or neither".into()),
    };
    let account = account.unwrap_or_else(|| "123456789012".to_string());
    let account =
        AccountId::parse(&account).ok_or_else(|| format!("RAMPART_ACCOUNT_ID must be 12 digits, not '{account}'"))?;
    Ok(Some(RootCredentials { account, access_key_id: key, secret: Secret::new(secret) }))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("RAMPART_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: logs written to a file or a
        // journal stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = match cli.command {
        Command::Serve(args) => *args,
        Command::Policy(command) => return policy_cli::run(command),
        Command::Trail(command) => return trail_cli::run(command),
        Command::WrappingKey(WrappingKeyCommand::Rotate { data }) => {
            return match rampart_core::FileKeys::rotate(&data) {
                Ok(id) => {
                    println!("{id}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("rampart: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::WrappingKey(WrappingKeyCommand::MigrateToHsm { data, hsm }) => {
            let moved = match hsm.config() {
                Ok(Some(config)) => rampart_hsm::HsmKeys::migrate(&config, &data).map_err(|e| e.to_string()),
                Ok(None) => Err("--hsm-module is required".to_string()),
                Err(e) => Err(e),
            };
            return match moved {
                Ok(n) => {
                    println!("{n} key file(s) sealed under the HSM's key and deleted");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("rampart: {e}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    let hsm = match args.hsm.config() {
        Ok(hsm) => hsm,
        Err(e) => {
            eprintln!("rampart: {e}");
            return ExitCode::from(2);
        }
    };
    let root = match root_from_env(args.dev) {
        Ok(root) => root,
        Err(e) => {
            eprintln!("rampart: {e}");
            return ExitCode::from(2);
        }
    };
    if args.tls_cert.is_none() && !args.listen.ip().is_loopback() && !args.insecure_http {
        eprintln!("rampart: refusing plain HTTP on {}: use --tls-cert/--tls-key, or --insecure-http", args.listen);
        return ExitCode::from(2);
    }
    let config = Config {
        listen: args.listen,
        data_dir: args.data,
        region: args.region,
        dev: args.dev,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        root,
        regions: args.regions,
        strict_outputs: args.strict_outputs,
        provider_hosts: args.provider_hosts.into_iter().collect(),
        hardware_mfa_tokens: args.hardware_mfa_tokens,
        hsm,
        cloudhsm_module: args.cloudhsm_module,
        trail_delivery_period: std::time::Duration::from_secs(args.trail_delivery_seconds),
        trail_digest_period: std::time::Duration::from_secs(args.trail_digest_seconds),
        trail_key_rotation: std::time::Duration::from_secs(args.trail_key_rotation_seconds),
        trail_buckets: args.trail_buckets,
        limits: Limits {
            max_connections: args.max_connections,
            max_connections_per_peer: args.max_connections_per_peer,
            read_timeout: std::time::Duration::from_secs(args.read_timeout),
            idle_timeout: std::time::Duration::from_secs(args.idle_timeout),
            body_memory_mib: args.max_body_memory,
        },
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rampart: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(rampart_server::serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rampart: {e}");
            ExitCode::FAILURE
        }
    }
}
