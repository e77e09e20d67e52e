//! The signing keys of OpenID Connect providers, fetched as AWS fetches
//! them: the issuer's `/.well-known/openid-configuration`, then its
//! `jwks_uri`, both over HTTPS. The only outbound connections Rampart makes.
//!
//! The server's certificate is trusted through the provider's registered
//! thumbprints (IAM's `ThumbprintList`): some certificate of the chain the
//! server presents must have one of them as its SHA-1 fingerprint, and the
//! chain must verify up to that certificate, for the host's name, as
//! WebPKI verifies any chain. A provider created without thumbprints gets
//! one as AWS gives it: the top intermediate CA's of the chain its host
//! presents then (`top_thumbprint`, for IAM through `ThumbprintProbe`).
//! Rampart carries no library of public root CAs.
//!
//! Keys are cached per issuer and thumbprint list for `CACHE_FOR`; a token
//! naming a key id the cache lacks refetches, at most once per
//! `REFETCH_AFTER`, so unsigned requests cannot make Rampart fetch at will.
//! One fetch per provider runs at a time; the others' callers wait for it,
//! not for each other.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Deserialize;

use crate::jwt::{parse_jwk_set, Jwk};

const CACHE_FOR: Duration = Duration::from_secs(600);
const REFETCH_AFTER: Duration = Duration::from_secs(30);
/// Each of the two fetches: connect, TLS, request and body.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// Why a provider's keys could not be had (STS's
/// `IDPCommunicationError`); logged, never told to the unsigned caller.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("the provider has no thumbprints to trust its certificate by")]
    NoThumbprints,
    #[error("{0} is not an https URL without a port")]
    Url(String),
    #[error("{0}: no address")]
    Resolve(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("{url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("{0}: the document is too large or unreadable")]
    Body(String),
    #[error("{0}: not the JSON document expected")]
    Document(String),
    #[error("timed out")]
    Timeout,
    #[error("the last fetch failed less than 30 s ago")]
    RecentlyFailed,
    #[error("too many thumbprint probes at once")]
    Busy,
}

struct Cached {
    /// `None` when the fetch failed: not retried before `REFETCH_AFTER`.
    keys: Option<Vec<Jwk>>,
    fetched: Instant,
}

/// Fetches and caches providers' keys.
pub(crate) struct KeyFetcher {
    /// Where a host name connects to instead of its DNS address (the test
    /// harness's local issuer; the operator's split-horizon names).
    hosts: HashMap<String, SocketAddr>,
    cache: parking_lot::Mutex<HashMap<CacheKey, Cached>>,
    /// One lock per provider, held while its keys are fetched. Only
    /// registered providers are fetched, so this stays small.
    fetching: parking_lot::Mutex<HashMap<CacheKey, Arc<tokio::sync::Mutex<()>>>>,
    /// Thumbprint probes under way (`top_thumbprint`), at most `PROBES`.
    probes: tokio::sync::Semaphore,
    provider: Arc<CryptoProvider>,
}

/// Thumbprint probes at once.
const PROBES: usize = 4;

/// An issuer and the thumbprints its keys were fetched under.
type CacheKey = (String, Vec<String>);

impl KeyFetcher {
    pub fn new(hosts: HashMap<String, SocketAddr>) -> KeyFetcher {
        KeyFetcher {
            hosts,
            cache: parking_lot::Mutex::new(HashMap::new()),
            fetching: parking_lot::Mutex::new(HashMap::new()),
            probes: tokio::sync::Semaphore::new(PROBES),
            provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        }
    }

    /// The keys of the provider whose issuer is `https://{issuer}`, with a
    /// key named `key_id` among them if the provider has it.
    pub async fn keys(
        &self,
        issuer: &str,
        thumbprints: &[String],
        key_id: Option<&str>,
    ) -> Result<Vec<Jwk>, FetchError> {
        let pins: Vec<String> = thumbprints.iter().map(|t| t.to_ascii_lowercase()).collect();
        let cache_key = (issuer.to_string(), pins.clone());
        if let Some(keys) = self.cached(&cache_key, key_id) {
            return keys;
        }
        let lock = self.fetching.lock().entry(cache_key.clone()).or_default().clone();
        let _fetching = lock.lock().await;
        // Another caller may have fetched while this one waited.
        if let Some(keys) = self.cached(&cache_key, key_id) {
            return keys;
        }
        let fetched = self.fetch(issuer, &pins).await;
        let mut cache = self.cache.lock();
        cache.retain(|_, c| c.fetched.elapsed() < CACHE_FOR);
        cache.insert(cache_key, Cached { keys: fetched.as_ref().ok().cloned(), fetched: Instant::now() });
        fetched
    }

    /// What the cache answers: its keys, unless they are stale or lack
    /// `key_id` and were fetched long enough ago to fetch again; a recent
    /// failure. `None` to fetch.
    fn cached(&self, cache_key: &CacheKey, key_id: Option<&str>) -> Option<Result<Vec<Jwk>, FetchError>> {
        let cache = self.cache.lock();
        let cached = cache.get(cache_key)?;
        let age = cached.fetched.elapsed();
        let Some(keys) = &cached.keys else {
            return (age < REFETCH_AFTER).then_some(Err(FetchError::RecentlyFailed));
        };
        let has_key = key_id.is_none_or(|id| keys.iter().any(|k| k.key_id.as_deref() == Some(id)));
        (age < CACHE_FOR && (has_key || age < REFETCH_AFTER)).then(|| Ok(keys.clone()))
    }

    async fn fetch(&self, issuer: &str, pins: &[String]) -> Result<Vec<Jwk>, FetchError> {
        if pins.is_empty() {
            return Err(FetchError::NoThumbprints);
        }
        #[derive(Deserialize)]
        struct Configuration {
            jwks_uri: String,
        }
        let configuration_url = format!("https://{issuer}/.well-known/openid-configuration");
        let document = self.get(&configuration_url, pins).await?;
        let configuration: Configuration =
            serde_json::from_slice(&document).map_err(|_| FetchError::Document(configuration_url))?;
        let document = self.get(&configuration.jwks_uri, pins).await?;
        parse_jwk_set(&document).ok_or(FetchError::Document(configuration.jwks_uri))
    }

    /// GETs an https URL (no port: 443, as IAM's provider URLs are), trusting
    /// the server by `pins`. No redirects are followed.
    async fn get(&self, url: &str, pins: &[String]) -> Result<Bytes, FetchError> {
        let rest = url.strip_prefix("https://").ok_or_else(|| FetchError::Url(url.to_string()))?;
        let (host, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
        if host.is_empty() || host.contains([':', '@']) {
            return Err(FetchError::Url(url.to_string()));
        }
        let fetch = async {
            let address = self.address_of(host, false).await?;
            let trust = Trust::Pinned(pins.to_vec());
            let tls =
                self.connect(host, address, Arc::new(ChainVerifier { trust, provider: self.provider.clone() })).await?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await?;
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%error, "OIDC key fetch connection");
                }
            });
            let request = http::Request::get(path)
                .header(http::header::HOST, host)
                .header(http::header::USER_AGENT, "rampart-sts")
                .header(http::header::ACCEPT, "application/json")
                .body(Empty::<Bytes>::new())
                .map_err(|_| FetchError::Url(url.to_string()))?;
            let response = sender.send_request(request).await?;
            if response.status() != http::StatusCode::OK {
                return Err(FetchError::Status { url: url.to_string(), status: response.status().as_u16() });
            }
            let body = Limited::new(response.into_body(), MAX_DOCUMENT_BYTES).collect().await;
            Ok(body.map_err(|_| FetchError::Body(url.to_string()))?.to_bytes())
        };
        tokio::time::timeout(FETCH_TIMEOUT, fetch).await.map_err(|_| FetchError::Timeout)?
    }

    /// The thumbprint of the top intermediate CA (the last certificate of
    /// the chain) that `host` presents on port 443: what AWS registers for a
    /// provider created without thumbprints. Trust on first use, as on AWS:
    /// the chain is not verified here, but every later fetch verifies it up
    /// to the certificate this names.
    pub async fn top_thumbprint(&self, host: &str) -> Result<String, FetchError> {
        if host.is_empty() || host.contains([':', '@', '/']) {
            return Err(FetchError::Url(host.to_string()));
        }
        // A few at a time: each may take the whole timeout.
        let _permit = self.probes.try_acquire().map_err(|_| FetchError::Busy)?;
        let probe = async {
            // The caller reads the answer back (the thumbprint), so only
            // public addresses are probed: an internal provider is named by
            // --provider-host or given its thumbprints.
            let address = self.address_of(host, true).await?;
            let trust = Trust::RecordTop(parking_lot::Mutex::new(None));
            let verifier = Arc::new(ChainVerifier { trust, provider: self.provider.clone() });
            self.connect(host, address, verifier.clone()).await?;
            let top = match &verifier.trust {
                Trust::RecordTop(top) => top.lock().take(),
                Trust::Pinned(_) => None,
            };
            top.ok_or_else(|| FetchError::Url(host.to_string()))
        };
        tokio::time::timeout(FETCH_TIMEOUT, probe).await.map_err(|_| FetchError::Timeout)?
    }

    /// Where `host` is reached on port 443: the address `--provider-host`
    /// names, else its first DNS address (only a public one if `public_only`).
    async fn address_of(&self, host: &str, public_only: bool) -> Result<SocketAddr, FetchError> {
        if let Some(address) = self.hosts.get(host) {
            return Ok(*address);
        }
        tokio::net::lookup_host((host, 443))
            .await?
            .find(|address| !public_only || is_public(address.ip()))
            .ok_or_else(|| FetchError::Resolve(host.to_string()))
    }

    /// A TLS connection to `host` at `address`, its server checked by `verifier`.
    async fn connect(
        &self,
        host: &str,
        address: SocketAddr,
        verifier: Arc<ChainVerifier>,
    ) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, FetchError> {
        let config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        let name = ServerName::try_from(host.to_string()).map_err(|_| FetchError::Url(host.to_string()))?;
        let tcp = tokio::net::TcpStream::connect(address).await?;
        Ok(tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await?)
    }
}

/// Whether `ip` is an address of the public internet (not loopback, private,
/// link-local, shared, documentation, multicast or unspecified).
fn is_public(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        std::net::IpAddr::V6(v6) => {
            let [first, ..] = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| !is_public(std::net::IpAddr::V4(v4))))
        }
    }
}

/// The SHA-1 fingerprint of a DER certificate, lower-case hex: IAM's thumbprint.
pub(crate) fn thumbprint(der: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der))
}

/// How a `ChainVerifier` trusts a server's certificate chain.
#[derive(Debug)]
enum Trust {
    /// Some certificate of the chain has a pinned thumbprint, and the chain
    /// verifies with that certificate as its root (key fetches).
    Pinned(Vec<String>),
    /// Any chain, for this one handshake, noting the thumbprint of its last
    /// certificate (`KeyFetcher::top_thumbprint`).
    RecordTop(parking_lot::Mutex<Option<String>>),
}

/// A server certificate verifier that trusts by `Trust`; the handshake's
/// signatures are checked either way.
#[derive(Debug)]
struct ChainVerifier {
    trust: Trust,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ChainVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let pins = match &self.trust {
            Trust::RecordTop(top) => {
                *top.lock() = Some(thumbprint(intermediates.last().unwrap_or(end_entity)));
                return Ok(ServerCertVerified::assertion());
            }
            Trust::Pinned(pins) => pins,
        };
        let mut roots = RootCertStore::empty();
        for certificate in std::iter::once(end_entity).chain(intermediates) {
            if pins.contains(&thumbprint(certificate)) {
                roots.add(certificate.clone().into_owned())?;
            }
        }
        if roots.is_empty() {
            return Err(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer));
        }
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        verifier.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
