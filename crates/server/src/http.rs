//! HTTP/1.1 over TCP or TLS, graceful shutdown, and the node's own endpoints.
//! Only this module knows hyper.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::auth::{Claim, Head};
use crate::node::{Node, StartError};
use crate::pipeline::{run, Body, BodyRefusal, Peer, Routed, UNAUTHENTICATED_BODY_BYTES};
use crate::shares::{share_of, Held, Shares};
use crate::tasks::Tasks;

/// In-flight requests get this long to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

fn plain(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

/// The OpenID discovery documents of an account's outbound token issuer
/// (`https://UUID.tokens.sts.global.api.aws`, named by the Host header):
/// public, unauthenticated and unaudited, like the keys of any OIDC issuer.
fn issuer_document(node: &Node, req: &Request<Incoming>) -> Option<Response<Full<Bytes>>> {
    let path = req.uri().path();
    if req.method() != http::Method::GET
        || !matches!(path, "/.well-known/openid-configuration" | "/.well-known/jwks.json")
    {
        return None;
    }
    let host = req.headers().get(http::header::HOST).and_then(|h| h.to_str().ok())?;
    let (issuer, jwks) = node.iam.outbound_jwks(host)?;
    let body = if path == "/.well-known/jwks.json" {
        jwks
    } else {
        serde_json::json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": rampart_iam::OUTBOUND_ALGORITHMS,
        })
    };
    Some(plain(StatusCode::OK, &body.to_string()))
}

/// `/_rampart/*` and moto's `/moto-api/*` aliases, and outbound issuers' documents.
async fn node_endpoint(node: &Node, req: &Request<Incoming>) -> Option<Response<Full<Bytes>>> {
    let path = req.uri().path();
    if path == "/_rampart/health" {
        return Some(plain(StatusCode::OK, r#"{"status": "ok"}"#));
    }
    if let Some(document) = issuer_document(node, req) {
        return Some(document);
    }
    if path == "/_rampart/clock" {
        return Some(advance_clock(node, req));
    }
    if !matches!(path, "/_rampart/reset" | "/moto-api/reset" | "/moto-api/reset-auth") {
        return None;
    }
    if !node.config.dev {
        return Some(plain(
            StatusCode::NOT_FOUND,
            r#"{"Error": "resetting is only available in dev mode (rampart serve --dev)"}"#,
        ));
    }
    if req.method() != http::Method::POST {
        return Some(plain(StatusCode::BAD_REQUEST, r#"{"Error": "Need to POST to reset"}"#));
    }
    Some(match node.reset().await {
        Ok(()) if path == "/moto-api/reset-auth" => {
            // Rampart has no unauthenticated warm-up: enforcement is always on.
            plain(StatusCode::OK, r#"{"status": "ok", "PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT": "0"}"#)
        }
        Ok(()) => plain(StatusCode::OK, r#"{"status": "ok"}"#),
        Err(e) => {
            tracing::error!(error = %e, "reset failed");
            plain(StatusCode::INTERNAL_SERVER_ERROR, r#"{"Error": "reset failed"}"#)
        }
    })
}

/// Dev mode: `POST /_rampart/clock?advance=SECONDS` moves the key lifecycle's
/// clock forward (KMS deletion windows and rotations), so tests need not
/// wait days. Request signing and every other time stay real.
fn advance_clock(node: &Node, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if !node.config.dev {
        return plain(
            StatusCode::NOT_FOUND,
            r#"{"Error": "the clock can only be moved in dev mode (rampart serve --dev)"}"#,
        );
    }
    let seconds = form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "advance")
        .and_then(|(_, v)| v.parse::<i64>().ok())
        .filter(|s| (0..=100 * 365 * 86_400).contains(s));
    match (req.method() == http::Method::POST, seconds) {
        (true, Some(seconds)) => {
            node.lifecycle_clock.advance(seconds);
            plain(StatusCode::OK, &serde_json::json!({ "advanced_seconds": seconds }).to_string())
        }
        _ => plain(StatusCode::BAD_REQUEST, r#"{"Error": "POST /_rampart/clock?advance=SECONDS (0 to 100 years)"}"#),
    }
}

/// Reads the body within the read timeout, the service's limit and the node's budget
/// of bodies in memory (the returned share is held until the request is
/// answered; bodies up to `UNAUTHENTICATED_BODY_BYTES` take none: the
/// connection caps bound them). A request that cannot authenticate gets only
/// `Routed::unauthenticated_limit` read; beyond that it is left unread.
async fn read_body(
    node: &Node,
    peer: &Peer,
    body: Incoming,
    declared: Option<u64>,
    routed: &Routed,
    authenticable: bool,
) -> (Body, Option<Held>) {
    // A request that cannot authenticate is refused for that, whatever its
    // size (unless it is for an operation that needs no credentials).
    let limit = if authenticable { routed.body_limit } else { routed.unauthenticated_limit };
    if declared.is_some_and(|len| len > limit as u64) {
        let refusal = if authenticable { Body::Refused(BodyRefusal::TooLarge) } else { Body::Unread };
        return (refusal, None);
    }
    // A body of unknown length may take up to the limit.
    let bytes = declared.and_then(|len| usize::try_from(len).ok()).unwrap_or(limit);
    let share = if bytes <= UNAUTHENTICATED_BODY_BYTES {
        None
    } else {
        match node.bodies.take(peer.share, bytes.div_ceil(1024)) {
            Some(held) => Some(held),
            None => return (Body::Refused(BodyRefusal::Busy), None),
        }
    };
    let body = match tokio::time::timeout(node.config.limits.read_timeout, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Body::Complete(collected.to_bytes()),
        Ok(Err(_)) if authenticable => Body::Refused(BodyRefusal::TooLarge),
        Ok(Err(_)) => Body::Unread,
        Err(_) => Body::Refused(BodyRefusal::TimedOut),
    };
    (body, share)
}

async fn handle(node: Arc<Node>, peer: Arc<Peer>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if let Some(response) = node_endpoint(&node, &req).await {
        return Ok(response);
    }
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let values: Vec<(&str, std::borrow::Cow<'_, str>)> =
        parts.headers.iter().map(|(n, v)| (n.as_str(), String::from_utf8_lossy(v.as_bytes()))).collect();
    let headers: Vec<(&str, &str)> = values.iter().map(|(n, v)| (*n, v.as_ref())).collect();
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or_default();
    let head = Head { method: parts.method.as_str(), path, query, headers: &headers };
    let claim = Claim::read(&head, &node.credentials, time::OffsetDateTime::now_utc());
    let routed = Routed::new(&node, &head, &claim);
    let (body, _share) = read_body(&node, &peer, body, declared, &routed, claim.can_authenticate()).await;
    // A body left (partly) unread ends the connection after this response.
    let close = !matches!(body, Body::Complete(_));
    let encoded = run(&node, &peer, &head, claim, routed, body).await;
    let mut response = Response::new(Full::new(Bytes::from(encoded.body)));
    *response.status_mut() = StatusCode::from_u16(encoded.status).unwrap_or(StatusCode::BAD_REQUEST);
    let out = response.headers_mut();
    out.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(encoded.content_type));
    for (name, value) in encoded.headers {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            out.insert(name, value);
        }
    }
    if close {
        out.insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
    }
    Ok(response)
}

fn load_tls(cert: &std::path::Path, key: &std::path::Path) -> Result<TlsAcceptor, StartError> {
    let tls_err = |e: String| StartError::Tls(e);
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(cert).map_err(|e| tls_err(format!("{}: {e}", cert.display())))?,
    ))
    .collect::<Result<Vec<_>, _>>()
    .map_err(|e| tls_err(format!("{}: {e}", cert.display())))?;
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(key).map_err(|e| tls_err(format!("{}: {e}", key.display())))?,
    ))
    .map_err(|e| tls_err(e.to_string()))?
    .ok_or_else(|| tls_err(format!("{}: no private key found", key.display())))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls_err(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Serves HTTP/1.1 on one connection until it closes or the node shuts down.
async fn serve_connection<S>(node: Arc<Node>, peer: Peer, io: S, watcher: hyper_util::server::graceful::Watcher)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = Arc::new(peer);
    let idle_timeout = node.config.limits.idle_timeout;
    let service = service_fn(move |req| handle(node.clone(), peer.clone(), req));
    // The next request's headers must arrive within the idle timeout (hyper
    // runs it from when the connection opens or the last response went), the
    // body within the read timeout (`read_body`): a slow or silent client
    // cannot hold a connection open.
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(idle_timeout)
        .serve_connection(TokioIo::new(io), service);
    let _ = watcher.watch(conn).await;
}

/// The TLS version and cipher suite CloudTrail records, after the handshake.
fn tls_details(session: &rustls::ServerConnection) -> (String, String) {
    let version = session.protocol_version().and_then(|v| v.as_str()).unwrap_or("TLS").replace("TLSv1_", "TLSv1.");
    let suite = session.negotiated_cipher_suite().and_then(|s| s.suite().as_str()).unwrap_or_default().to_string();
    (version, suite)
}

/// Opens the node and serves until SIGTERM or SIGINT, then lets in-flight
/// requests finish. Every acknowledged write is already durable.
pub async fn serve(config: crate::Config) -> Result<(), StartError> {
    let addr: SocketAddr = config.listen;
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(load_tls(cert, key)?),
        (None, None) => None,
        _ => return Err(StartError::Tls("--tls-cert and --tls-key must be given together".into())),
    };
    let node = Arc::new(Node::open(config).await?);
    let listener = TcpListener::bind(addr).await.map_err(|source| StartError::Listen { addr, source })?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!("rampart listening on {scheme}://{}", listener.local_addr().unwrap_or(addr));
    let tasks = Tasks::start(&node);
    // A connection over either cap is closed as soon as it is accepted.
    let limits = node.config.limits;
    let connections = Shares::new(limits.max_connections, limits.max_connections_per_peer);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, remote)) = accepted else { continue };
                let share = share_of(remote.ip());
                let Some(slot) = connections.take(share, 1) else {
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let ip = remote.ip().to_string();
                let (node, watcher, tls) = (node.clone(), graceful.watcher(), tls.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    match tls {
                        None => serve_connection(node, Peer { ip, share, tls: None }, stream, watcher).await,
                        Some(acceptor) => {
                            let handshake = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                            let Ok(Ok(stream)) = handshake.await else { return };
                            let details = tls_details(stream.get_ref().1);
                            serve_connection(node, Peer { ip, share, tls: Some(details) }, stream, watcher).await;
                        }
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    tracing::info!("shutting down");
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("in-flight connections did not finish within {SHUTDOWN_GRACE:?}");
    }
    tasks.stop(&node).await;
    Ok(())
}
