//! Authentication: SigV4 against the in-memory credential table. Never touches the disk.

use time::macros::format_description;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

use std::sync::Arc;

use rampart_core::{
    regions, AccountId, CredentialEntry, CredentialRefusal, Credentials, Principal, ServiceId, Session,
};
use rampart_sigv4::{
    canonical_request, parse_authorization_header, parse_presigned_query, sha256_hex, string_to_sign, verify_signature,
    AuthParams, RequestView, SigV4Error, UNSIGNED_PAYLOAD,
};

use crate::errors::{skew_window_minutes, AuthFailure, SIGNATURE_MISMATCH};

/// The parts of a request authentication reads.
#[derive(Clone, Copy)]
pub(crate) struct Head<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
}

impl Head<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Authenticated {
    pub principal: Principal,
    pub access_key_id: String,
    pub region: String,
    pub session: Option<std::sync::Arc<Session>>,
}

/// A refusal, with what the audit record may say about the caller: the key
/// tried and the account that owns it — never the key's principal, since the
/// request did not prove to be theirs.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub failure: AuthFailure,
    pub access_key_id: Option<String>,
    pub key_owner: Option<AccountId>,
}

fn refuse(failure: AuthFailure) -> Box<Refusal> {
    Box::new(Refusal { failure, access_key_id: None, key_owner: None })
}

/// The regions a node serves (`--regions`); every region of the partition by default.
#[derive(Debug, Clone)]
pub(crate) struct Regions {
    served: Option<Vec<String>>,
}

impl Regions {
    pub fn new(served: &[String]) -> Regions {
        Regions { served: (!served.is_empty()).then(|| served.to_vec()) }
    }

    /// The region of a request that names none (an unsigned one): the
    /// first region served, else us-east-1 (STS's global endpoint).
    pub fn default_region(&self) -> &str {
        self.served.as_ref().and_then(|s| s.first()).map_or("us-east-1", String::as_str)
    }

    /// Whether a request signed for `region` is served: a region of the
    /// partition, and for a regional service one this node serves. IAM is
    /// global: any region of the partition will do (see `authenticate`).
    fn serves(&self, service: ServiceId, region: &str) -> bool {
        regions::is_partition_region(region)
            && (service == ServiceId::Iam || self.served.as_ref().is_none_or(|s| s.iter().any(|r| r == region)))
    }
}

/// The request's SigV4 parameters, from the Authorization header or a presigned
/// query string. Parsed once per request ([`Claim::read`]): routing reads the
/// scope's service, authentication the rest.
pub(crate) fn signature_params(head: &Head<'_>) -> Result<AuthParams, SigV4Error> {
    match head.header("authorization") {
        Some(auth) => parse_authorization_header(auth),
        None => match parse_presigned_query(head.query) {
            Ok(Some(params)) => Ok(params),
            Ok(None) => Err(SigV4Error::Missing),
            Err(e) => Err(e),
        },
    }
}

/// What a request claims before its body is read: its signature parameters
/// and the credentials they name, each looked up once. A request whose claim
/// cannot authenticate (no parameters, an unknown or inactive key, a session
/// token that does not open) does not get its body read; for the others only
/// the signature is left to check, which needs the body.
pub(crate) struct Claim {
    pub params: Result<AuthParams, SigV4Error>,
    /// `None` when there are no readable parameters.
    credentials: Option<Result<Arc<CredentialEntry>, CredentialRefusal>>,
}

impl Claim {
    pub fn read(head: &Head<'_>, credentials: &Credentials, now: OffsetDateTime) -> Claim {
        let params = signature_params(head);
        let resolved = params.as_ref().ok().map(|p| {
            let token = head.header("x-amz-security-token").or(p.presigned_security_token.as_deref());
            credentials.resolve(&p.access_key_id, token, millis(now))
        });
        Claim { params, credentials: resolved }
    }

    pub fn can_authenticate(&self) -> bool {
        matches!(self.credentials, Some(Ok(_)))
    }
}

/// Milliseconds since the epoch.
pub(crate) fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn basic_format(t: OffsetDateTime) -> String {
    let fmt = format_description!("[year][month][day]T[hour][minute][second]Z");
    t.format(&fmt).unwrap_or_default()
}

fn parse_amz_date(text: &str) -> Option<OffsetDateTime> {
    let fmt = format_description!("[year][month][day]T[hour][minute][second]Z");
    PrimitiveDateTime::parse(text, &fmt).ok().map(PrimitiveDateTime::assume_utc)
}

fn sigv4_failure(error: SigV4Error) -> AuthFailure {
    match error {
        SigV4Error::Missing => AuthFailure::Missing,
        SigV4Error::Incomplete(m) | SigV4Error::BadDate(m) => AuthFailure::Incomplete(m),
        SigV4Error::UnsupportedAlgorithm(a) => AuthFailure::Incomplete(format!("Unsupported AWS 'algorithm': '{a}'.")),
        SigV4Error::ExpiresTooLong => {
            AuthFailure::Incomplete("X-Amz-Expires must be less than a week (in seconds) that is 604800".to_string())
        }
        SigV4Error::HeaderNotSigned(m) => AuthFailure::Signature(m),
        SigV4Error::PayloadHashMismatch => AuthFailure::Signature(
            "The provided 'x-amz-content-sha256' header does not match what was computed.".into(),
        ),
        SigV4Error::Mismatch => AuthFailure::Signature(SIGNATURE_MISMATCH.to_string()),
        e @ (SigV4Error::TooOld { .. } | SigV4Error::TooNew { .. }) => AuthFailure::Expired(e.to_string()),
    }
}

/// The request time in ISO 8601 basic format (as the string to sign has it),
/// checked against the clock-skew window (and a presigned URL's expiry).
fn check_time(
    params: &AuthParams,
    head: &Head<'_>,
    service: ServiceId,
    now: OffsetDateTime,
) -> Result<String, SigV4Error> {
    let (text, time) = match &params.presigned_date {
        Some(date) => (date.clone(), parse_amz_date(date)),
        None => match (head.header("x-amz-date"), head.header("date")) {
            (Some(d), _) => (d.to_string(), parse_amz_date(d)),
            (None, Some(d)) => {
                (d.to_string(), OffsetDateTime::parse(d, &time::format_description::well_known::Rfc2822).ok())
            }
            (None, None) => {
                // Unlike AWS, the header is not quoted back: it carries the signature.
                return Err(SigV4Error::Incomplete(
                    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.".to_string(),
                ));
            }
        },
    };
    let Some(time) = time else {
        return Err(SigV4Error::BadDate(format!("Date must be in ISO-8601 'basic format'. Got '{text}'.")));
    };
    let amz = basic_format(time);
    if amz.get(..8) != Some(params.scope.date.as_str()) {
        return Err(SigV4Error::HeaderNotSigned(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{amz}'.",
            params.scope.date,
            amz.get(..8).unwrap_or_default()
        )));
    }
    let window = skew_window_minutes(service);
    let skew = Duration::minutes(window);
    if let Some(expires) = params.presigned_expires {
        if now > time + Duration::seconds(expires) {
            return Err(SigV4Error::TooOld {
                request: amz,
                earliest: basic_format(now - Duration::seconds(expires)),
                now: basic_format(now),
                window_minutes: expires / 60,
            });
        }
    } else if now - time > skew {
        return Err(SigV4Error::TooOld {
            request: amz,
            earliest: basic_format(now - skew),
            now: basic_format(now),
            window_minutes: window,
        });
    }
    if time - now > skew {
        return Err(SigV4Error::TooNew {
            request: amz,
            latest: basic_format(now + skew),
            now: basic_format(now),
            window_minutes: window,
        });
    }
    Ok(amz)
}

/// Verifies the request's signature against its [`Claim`] and returns who
/// signed it.
pub(crate) fn authenticate(
    head: &Head<'_>,
    body: &[u8],
    service: ServiceId,
    credentials: &Credentials,
    regions: &Regions,
    now: OffsetDateTime,
    claim: Claim,
) -> Result<Authenticated, Box<Refusal>> {
    let params = claim.params.map_err(|e| refuse(sigv4_failure(e)))?;
    let akid = params.access_key_id.clone();
    // The account the key belongs to, for the record of a refusal (also of a
    // key that is inactive or lacks its token).
    let owner = match &claim.credentials {
        Some(Ok(entry)) => Some(entry.principal.account().clone()),
        Some(Err(CredentialRefusal::Expired(principal))) => Some(principal.account().clone()),
        _ => credentials.get(&akid).map(|e| e.principal.account().clone()),
    };
    let with_key = |failure: AuthFailure, key_owner: Option<AccountId>| {
        Box::new(Refusal { failure, access_key_id: Some(akid.clone()), key_owner })
    };
    if params.scope.service != service.signing_name() {
        return Err(with_key(
            AuthFailure::Signature(format!(
                "Credential should be scoped to correct service: '{}'. ",
                service.signing_name()
            )),
            owner,
        ));
    }
    // IAM is global and AWS accepts only us-east-1 in its scope. Rampart
    // accepts any region of the partition (the signature is verified with the
    // scope given): the SDKs sign IAM with the client's region when an
    // endpoint URL is set, so anyone with another default region could not
    // call IAM otherwise.
    if !regions.serves(service, &params.scope.region) {
        let message = format!("Credential should be scoped to a valid region, not '{}'. ", params.scope.region);
        return Err(with_key(AuthFailure::Signature(message), owner));
    }
    let amz_date = check_time(&params, head, service, now).map_err(|e| with_key(sigv4_failure(e), owner.clone()))?;
    let entry = match claim.credentials {
        Some(Ok(entry)) => entry,
        Some(Err(CredentialRefusal::Expired(_))) => return Err(with_key(AuthFailure::ExpiredToken, owner)),
        Some(Err(CredentialRefusal::Unknown)) | None => return Err(with_key(AuthFailure::UnknownKey, None)),
    };
    let body_hash = sha256_hex(body);
    let payload_hash = match head.header("x-amz-content-sha256") {
        Some(claimed) if claimed == body_hash => claimed.to_string(),
        Some(UNSIGNED_PAYLOAD) if body.is_empty() => UNSIGNED_PAYLOAD.to_string(),
        Some(_) => return Err(with_key(sigv4_failure(SigV4Error::PayloadHashMismatch), owner)),
        None => body_hash,
    };
    let view = RequestView { method: head.method, path: head.path, query: head.query, headers: head.headers };
    let canonical =
        canonical_request(&view, &params, &payload_hash).map_err(|e| with_key(sigv4_failure(e), owner.clone()))?;
    let sts = string_to_sign(&amz_date, &params.scope, &canonical);
    let key = entry.signing_key(&params.scope);
    verify_signature(&key, &sts, &params.signature).map_err(|e| with_key(sigv4_failure(e), owner))?;
    entry.record_use(millis(now), service.signing_name(), &params.scope.region);
    Ok(Authenticated {
        principal: entry.principal.clone(),
        access_key_id: akid,
        region: params.scope.region,
        session: entry.session.as_ref().map(|(_, session)| session.clone()),
    })
}
