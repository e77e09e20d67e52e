//! The request pipeline, in order: route → authenticate → decode → authorize →
//! validate → handle → audit → encode. Every exit produces an audit record and
//! an AWS-shaped response; nothing in here panics on input.

use bytes::Bytes;
use serde_json::Value;
use time::OffsetDateTime;

use rampart_core::{Access, AwsError, Call, OperationMeta, Service, ServiceId};
use rampart_store::{Commit, RecordWrite};
use rampart_wire::{
    decode, detect_protocol, encode_error, encode_output, operation_name, redact_sensitive, undefined_output_members,
    validate, CommonError, EncodedResponse, Protocol, WireRequest,
};

use crate::audit::AuditDraft;
use crate::auth::{authenticate, millis, Authenticated, Claim, Head};
use crate::authz::{audit_note, authorize, decoded_denial, denial_message, Target};
use crate::errors::{
    access_denied, auth_error, family, not_implemented, request_timeout, too_large, unavailable, validation,
    AuthFailure, Family,
};
use crate::node::Node;
use rampart_sigv4::{AuthParams, SigV4Error};

/// The body limit of a service Rampart carries a model of but does not
/// serve: a valid 1 MB PutMetricData or PutLogEvents is answered "not
/// implemented", not "too large".
const UNSERVED_SERVICE_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Requests that cannot authenticate, or are for no service Rampart knows,
/// have at most this much of their body read (enough to name the operation
/// of a form-encoded request).
pub(crate) const UNAUTHENTICATED_BODY_BYTES: usize = 64 * 1024;

/// What the connection tells about a request.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    pub ip: String,
    /// Whose share of connections and of records of refusals this peer
    /// takes: its address, or for IPv6 its /64 (one host holds a /64).
    pub share: std::net::IpAddr,
    pub tls: Option<(String, String)>,
}

/// A request's body, or why it was not read.
pub(crate) enum Body {
    Complete(Bytes),
    /// The request cannot authenticate (`Claim::can_authenticate`), so only a
    /// small body was read, for naming the operation in its record: an
    /// unauthenticated caller does not get to make the node read a service's
    /// whole body limit.
    Unread,
    /// Refused before the body was read in full.
    Refused(BodyRefusal),
}

/// Why a body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyRefusal {
    TooLarge,
    /// It did not arrive within the read timeout.
    TimedOut,
    /// The node, or this peer's share of it, holds as many request bodies as
    /// it will (`Node::bodies`).
    Busy,
}

fn header<'a>(headers: &'a [(&'a str, &'a str)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
}

/// Signing names of the services Rampart does not serve whose clients read
/// XML errors (the query and rest-xml protocols); every other unserved
/// service's clients read JSON ones (json and rest-json). From botocore's
/// service models.
const XML_SERVICES: &[&str] = &[
    "autoscaling",
    "cloudformation",
    "cloudfront",
    "cloudsearch",
    "elasticache",
    "elasticbeanstalk",
    "elasticloadbalancing",
    "email",
    "importexport",
    "rds",
    "redshift",
    "route53",
    "s3",
    "sdb",
    "sns",
];

/// Where a request goes, decided from its head before its body is read.
pub(crate) struct Routed {
    service: Result<ServiceId, Unrouted>,
    /// The largest body read for it: its service's (`Service::max_body_bytes`).
    pub body_limit: usize,
    /// The largest read when it cannot authenticate: enough to name its
    /// operation, or for the service's unsigned operations
    /// (`Service::max_unsigned_body_bytes`).
    pub unauthenticated_limit: usize,
}

impl Routed {
    pub fn new(node: &Node, head: &Head<'_>, claim: &Claim) -> Routed {
        let service = route(head, &claim.params);
        let served = service.as_ref().ok().and_then(|id| node.services.get(id));
        let body_limit = match (&service, served) {
            (Ok(_), Some(s)) => s.max_body_bytes(),
            (Ok(_), None) => UNSERVED_SERVICE_BODY_BYTES,
            (Err(_), _) => UNAUTHENTICATED_BODY_BYTES,
        };
        let unsigned = served.map_or(0, |s| s.max_unsigned_body_bytes());
        let unauthenticated_limit = UNAUTHENTICATED_BODY_BYTES.max(unsigned).min(body_limit);
        Routed { service, body_limit, unauthenticated_limit }
    }
}

/// A request for a service Rampart does not serve, and whether its clients
/// read errors as XML (else JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Unrouted {
    message: String,
    xml: bool,
}

/// The service a request is for: the JSON target or CBOR path names it when
/// present; otherwise the SigV4 credential scope does.
fn route(head: &Head<'_>, params: &Result<AuthParams, SigV4Error>) -> Result<ServiceId, Unrouted> {
    if let Some(target) = head.header("x-amz-target") {
        let prefix = target.rsplit_once('.').map(|(p, _)| p).unwrap_or(target);
        return ServiceId::from_target_prefix(prefix).ok_or_else(|| Unrouted {
            message: format!("Rampart does not serve the target prefix '{prefix}'."),
            xml: false,
        });
    }
    if let Some(rest) = head.path.strip_prefix("/service/") {
        if let Some(service) = rest.split('/').next().and_then(ServiceId::from_target_prefix) {
            return Ok(service);
        }
    }
    match params {
        Ok(p) => ServiceId::from_signing_name(&p.scope.service).ok_or_else(|| {
            let form = head.header("content-type").is_some_and(|ct| ct.contains("x-www-form-urlencoded"));
            Unrouted {
                message: format!("Rampart does not serve the service '{}'.", p.scope.service),
                xml: form || XML_SERVICES.contains(&p.scope.service.as_str()),
            }
        }),
        // Unsigned (or unreadably signed) and unrouted: answer as STS does.
        Err(_) => Ok(ServiceId::Sts),
    }
}

/// Why a request leaves the pipeline before its handler succeeds: the error,
/// in which service's protocol to write it, and whether the caller had
/// authenticated (refusals before that are kept within the refusal budget).
struct Exit {
    service: ServiceId,
    protocol: Protocol,
    error: AwsError,
    authenticated: bool,
}

impl Exit {
    fn unauthenticated(service: ServiceId, protocol: Protocol, error: AwsError) -> Exit {
        Exit { service, protocol, error, authenticated: false }
    }

    /// The same refusal of a request whose caller is not yet identified
    /// (an unsigned request): kept within the refusal budget.
    fn before_authentication(self) -> Exit {
        Exit { authenticated: false, ..self }
    }
}

/// Stage 1: a routed request with its body.
struct Received<'h> {
    service: ServiceId,
    protocol: Protocol,
    family: Family,
    wire: WireRequest<'h>,
    body: Bytes,
}

impl Received<'_> {
    /// The exit of an authenticated request refused with `error`.
    fn refused(&self, error: AwsError) -> Exit {
        Exit { service: self.service, protocol: self.protocol, error, authenticated: true }
    }
}

/// Stage 3: the decoded input, and the service's entry for the operation
/// when it serves it.
struct Decoded<'n> {
    operation: &'static rampart_wire::Operation,
    input: Value,
    served: Option<(&'n dyn Service, OperationMeta)>,
}

/// Stage 4: a call that authorization allowed, of an operation the service
/// serves. Only `authorize_call` makes one, so a handler is only ever given
/// an allowed call.
struct Authorized<'n> {
    call: Call,
    operation: &'static rampart_wire::Operation,
    input: Value,
    handler: &'n dyn Service,
    meta: OperationMeta,
}

/// Runs one request through the pipeline's stages — received, authenticated,
/// decoded, authorized, handled — each of which fills in the audit record;
/// `claim` is what the request claims (`Claim::read`) and `routed` where it
/// goes, both read once before its body. Every exit is recorded.
pub(crate) async fn run(
    node: &Node,
    peer: &Peer,
    head: &Head<'_>,
    claim: Claim,
    routed: Routed,
    body: Body,
) -> EncodedResponse {
    let now = OffsetDateTime::now_utc();
    let mut draft = AuditDraft::begin(node, peer, head, millis(now));
    let draft_ref = &mut draft;
    let outcome = async move {
        let received = receive(node, head, routed, body, draft_ref)?;
        let (authenticated, decoded) = if is_unsigned_call(node, &received) {
            let decoded = decode_request(node, &received, draft_ref).map_err(Exit::before_authentication)?;
            (identify_caller(node, &received, &decoded, draft_ref).await?, decoded)
        } else {
            let authenticated = authenticate_request(node, head, &received, claim, now, draft_ref)?;
            (authenticated, decode_request(node, &received, draft_ref)?)
        };
        let authorized = authorize_call(node, peer, &received, authenticated, decoded, draft_ref)?;
        handle_call(node, &received, authorized, draft_ref).await
    };
    match outcome.await {
        Ok(response) => response,
        Err(exit) if exit.authenticated => refuse(node, &mut draft, exit.service, exit.protocol, exit.error).await,
        Err(exit) => refuse_unauthenticated(node, peer, &mut draft, exit.service, exit.protocol, exit.error).await,
    }
}

/// Stage 1: the service (an unserved one gets an error its SDK can read:
/// XML as a query service writes it, which rest-xml clients read too, or
/// JSON as a plain JSON service does) and the body, if it was read.
fn receive<'h>(
    node: &Node,
    head: &Head<'h>,
    routed: Routed,
    body: Body,
    draft: &mut AuditDraft,
) -> Result<Received<'h>, Exit> {
    let service = match routed.service {
        Ok(s) => s,
        Err(Unrouted { message, xml: true }) => {
            let error = AwsError::new("InvalidAction", 400, message);
            return Err(Exit::unauthenticated(ServiceId::Sts, Protocol::Query, error));
        }
        Err(Unrouted { message, xml: false }) => {
            let error = AwsError::new("UnknownOperationException", 400, message);
            return Err(Exit::unauthenticated(ServiceId::Kms, Protocol::Json, error));
        }
    };
    draft.service = service;
    let Head { method, path, query, headers } = *head;
    let wire = WireRequest {
        method,
        path,
        query,
        content_type: header(headers, "content-type"),
        target: header(headers, "x-amz-target"),
        smithy_protocol: header(headers, "smithy-protocol"),
        body: &[],
    };
    let protocol = detect_protocol(service, &wire);
    let family = family(service, protocol);
    let body = match body {
        Body::Complete(body) => body,
        Body::Unread => Bytes::new(),
        Body::Refused(refusal) => {
            name_operation(node, draft, service, operation_name(service, protocol, &wire));
            let error = match refusal {
                BodyRefusal::TooLarge => too_large(routed.body_limit),
                BodyRefusal::TimedOut => request_timeout(),
                BodyRefusal::Busy => unavailable(family),
            };
            return Err(Exit::unauthenticated(service, protocol, error));
        }
    };
    Ok(Received { service, protocol, family, wire, body })
}

/// Stage 2: who is calling. A refusal's record names the operation
/// attempted (only a model's operation, read without decoding the input) and
/// the key tried, but no identity: it is not that principal's activity.
fn authenticate_request(
    node: &Node,
    head: &Head<'_>,
    received: &Received<'_>,
    claim: Claim,
    now: OffsetDateTime,
    draft: &mut AuditDraft,
) -> Result<Authenticated, Exit> {
    let Received { service, protocol, family, .. } = *received;
    let authenticated = authenticate(head, &received.body, service, &node.credentials, &node.regions, now, claim)
        .map_err(|refusal| {
            let name = operation_name(service, protocol, &WireRequest { body: &received.body, ..received.wire });
            name_operation(node, draft, service, name);
            draft.key_owner = refusal.key_owner;
            draft.access_key_id = refusal.access_key_id;
            Exit::unauthenticated(service, protocol, auth_error(family, &refusal.failure))
        })?;
    if authenticated.session.is_some() && !node.iam.is_current(&authenticated.principal) {
        draft.key_owner = Some(authenticated.principal.account().clone());
        draft.access_key_id = Some(authenticated.access_key_id);
        return Err(Exit::unauthenticated(service, protocol, auth_error(family, &AuthFailure::UnknownKey)));
    }
    draft.principal = Some(authenticated.principal.clone());
    draft.session.clone_from(&authenticated.session);
    draft.access_key_id = Some(authenticated.access_key_id.clone());
    // IAM is global: its calls are in us-east-1 (aws:RequestedRegion, the
    // event's region) whatever region the scope names.
    let region = if service == ServiceId::Iam { "us-east-1".to_string() } else { authenticated.region };
    draft.region.clone_from(&region);
    node.iam.note_use(&authenticated.principal, service.action_prefix(), draft.time_ms, &region);
    Ok(Authenticated { region, ..authenticated })
}

/// Whether a request is for an operation callable without AWS credentials
/// (`OperationMeta::unsigned`), named from its body. Its caller is who its
/// token says, whatever signature it carries (SDKs send these unsigned).
fn is_unsigned_call(node: &Node, received: &Received<'_>) -> bool {
    let Received { service, protocol, .. } = *received;
    // Only a service with unsigned operations has their body limit: the
    // others' requests are not read for an operation name here.
    let Some(handler) = node.services.get(&service).filter(|s| s.max_unsigned_body_bytes() > 0) else {
        return false;
    };
    let name = operation_name(service, protocol, &WireRequest { body: &received.body, ..received.wire });
    name.and_then(|n| handler.operation(n)).is_some_and(|m| m.unsigned)
}

/// Stage 2 of an unsigned request: the caller that the token in its input
/// identifies, verified by the service (`Service::identify`). Its record
/// names that identity; a refusal is within the refusal budget.
async fn identify_caller(
    node: &Node,
    received: &Received<'_>,
    decoded: &Decoded<'_>,
    draft: &mut AuditDraft,
) -> Result<Authenticated, Exit> {
    let Received { service, protocol, family, .. } = *received;
    let refused = |error| Exit::unauthenticated(service, protocol, error);
    let Some((handler, _)) = decoded.served else {
        return Err(refused(auth_error(family, &AuthFailure::Missing)));
    };
    // The input must be valid before a token is verified (which may fetch
    // the provider's keys).
    let input_shape = decoded.operation.input.as_ref().map(|r| r.shape.as_str()).unwrap_or_default();
    if let Some(message) = validate(service.model(), input_shape, &decoded.input) {
        return Err(refused(validation(family, message)));
    }
    let principal = handler.identify(&decoded.operation.name, &decoded.input, draft.time_ms).await.map_err(refused)?;
    draft.principal = Some(principal.clone());
    let region = node.regions.default_region().to_string();
    draft.region.clone_from(&region);
    Ok(Authenticated { principal, access_key_id: String::new(), region, session: None })
}

/// Stage 3: the input, decoded by the model, and recorded (without secrets).
fn decode_request<'n>(node: &'n Node, received: &Received<'_>, draft: &mut AuditDraft) -> Result<Decoded<'n>, Exit> {
    let Received { service, protocol, .. } = *received;
    let decoded = decode(service, protocol, &WireRequest { body: &received.body, ..received.wire })
        .map_err(|e| received.refused(e))?;
    let operation = decoded.operation;
    let input_shape = operation.input.as_ref().map(|r| r.shape.as_str()).unwrap_or_default();
    draft.event_name = Some(operation.name.clone());
    let served = node.services.get(&service).and_then(|s| Some((s.as_ref(), *s.operation(&operation.name)?)));
    // Action-level last accessed data: an attempt counts, allowed or not,
    // but only of an operation Rampart serves (which bounds what one
    // principal can make the node keep to the served operations).
    if let (Some(principal), Some(_)) = (&draft.principal, served) {
        node.iam.note_action_use(principal, service.action_prefix(), &operation.name, draft.time_ms, &draft.region);
    }
    let meta = served.map(|(_, meta)| meta);
    draft.read_only = meta.map(|m| m.read_only);
    let secrets = meta.map(|m| m.secrets).unwrap_or_default();
    draft.request_parameters = redact_sensitive(service.model(), input_shape, &decoded.input, secrets);
    Ok(Decoded { operation, input: decoded.input, served })
}

/// Stage 4: the call, allowed by policy, of an operation the service serves,
/// with input the model accepts. An operation Rampart does not serve has no
/// resource mapping: it was only checked on `*`, where a Deny on one
/// resource does not apply. So it is refused, and its record carries no
/// decision: none may say "allowed" for a call a Deny could cover.
fn authorize_call<'n>(
    node: &'n Node,
    peer: &Peer,
    received: &Received<'_>,
    authenticated: Authenticated,
    decoded: Decoded<'n>,
    draft: &mut AuditDraft,
) -> Result<Authorized<'n>, Exit> {
    let Received { service, family, .. } = *received;
    let refused = |error| received.refused(error);
    let Authenticated { principal, access_key_id, region, session } = authenticated;
    let call = Call {
        request_id: draft.request_id.clone(),
        service,
        operation: decoded.operation.name.as_str(),
        caller: principal,
        access_key_id,
        session,
        region,
        source_ip: peer.ip.clone(),
        user_agent: draft.user_agent.clone(),
        secure_transport: peer.tls.is_some(),
        time_ms: draft.time_ms,
    };
    // What the call needs allowed: from the service for an operation it
    // serves; otherwise the action alone, on `*`.
    let access = match decoded.served {
        Some((s, _)) => s.access(&call, &decoded.input),
        None => Access::own(&call, Vec::new()),
    };
    let meta = decoded.served.map(|(_, meta)| meta);
    let target = Target { access: &access, input: &decoded.input, meta: meta.as_ref() };
    let decided = authorize(&call, &target, &node.iam);
    if !decided.verdict.is_allowed() {
        draft.authorization = audit_note(&decided.verdict);
        let mut message = denial_message(&call.caller, decided.action, decided.resource, &decided.verdict);
        // EC2 says why in an encoded message that STS's
        // DecodeAuthorizationMessage opens for the caller's account.
        if family == Family::Ec2 {
            let decoded = decoded_denial(&call, &decided);
            match rampart_core::encode_authorization_message(&node.sealer, call.caller.account(), &decoded) {
                Ok(encoded) => message = format!("{message} Encoded authorization failure message: {encoded}"),
                Err(error) => tracing::error!(%error, "an authorization message could not be sealed"),
            }
        }
        return Err(refused(access_denied(family, message)));
    }
    let Some((handler, meta)) = decoded.served else {
        return Err(refused(not_implemented(family, service, call.operation)));
    };
    draft.authorization = audit_note(&decided.verdict);
    let input_shape = decoded.operation.input.as_ref().map(|r| r.shape.as_str()).unwrap_or_default();
    if let Some(message) = validate(service.model(), input_shape, &decoded.input) {
        return Err(refused(validation(family, message)));
    }
    Ok(Authorized { call, operation: decoded.operation, input: decoded.input, handler, meta })
}

/// Stage 5: the handler, then its change and the record committed together,
/// then the change applied to memory, then the answer.
async fn handle_call(
    node: &Node,
    received: &Received<'_>,
    authorized: Authorized<'_>,
    draft: &mut AuditDraft,
) -> Result<EncodedResponse, Exit> {
    let Received { service, protocol, .. } = *received;
    let refused = |error| received.refused(error);
    let Authorized { call, operation, input, handler, meta } = authorized;
    let outcome = handler.handle(&call, input).await.map_err(refused)?;
    let model = service.model();
    let output_shape = operation.output.as_ref().map(|r| r.shape.as_str()).unwrap_or_default();
    if node.config.strict_outputs {
        let undefined = undefined_output_members(model, output_shape, &outcome.output);
        if !undefined.is_empty() {
            tracing::error!(operation = call.operation, ?undefined, "output members the model does not define");
            let message = format!("The output has members the model does not define: {}", undefined.join(", "));
            return Err(refused(CommonError::InternalFailure.error(service, message)));
        }
    }
    // CloudTrail records response elements for mutations only.
    if !meta.read_only {
        draft.response_elements = redact_sensitive(model, output_shape, &outcome.output, meta.secrets);
    }
    draft.resources = outcome.resources;
    let (writes, apply) = match outcome.change {
        Some(change) => (change.writes, Some(change.apply)),
        None => (Vec::new(), None),
    };
    if let Err(e) = commit_with_record(node, writes, draft).await {
        tracing::error!(error = %e, "commit failed; refusing the request");
        return Ok(encode_error(service, protocol, &draft.request_id, &unrecorded()));
    }
    if let Some(apply) = apply {
        apply();
    }
    Ok(encode_output(service, protocol, operation, &draft.request_id, &outcome.output))
}

/// Names a refused request's operation in its record (`wire::operation_name`),
/// with CloudTrail's `readOnly` when the service serves it.
fn name_operation(node: &Node, draft: &mut AuditDraft, service: ServiceId, name: Option<&str>) {
    draft.read_only = name.and_then(|n| node.services.get(&service)?.operation(n)).map(|m| m.read_only);
    draft.event_name = name.map(str::to_string);
}

/// Refuses a request that has not authenticated (every refusal before
/// authentication succeeds). Its record is kept only within the peer's and
/// the key's budget (`RefusalBudget`): beyond it the refusal is counted, not
/// stored, so that nobody can fill the disk or a key owner's trail without
/// credentials.
async fn refuse_unauthenticated(
    node: &Node,
    peer: &Peer,
    draft: &mut AuditDraft,
    service: ServiceId,
    protocol: Protocol,
    error: AwsError,
) -> EncodedResponse {
    if node.refusals.admit(peer.share, draft.access_key_id.as_deref(), draft.time_ms) {
        return refuse(node, draft, service, protocol, error).await;
    }
    encode_error(service, protocol, &draft.request_id, &error)
}

/// Records a refused request and encodes its error. If even the record cannot
/// be written, the answer is an internal failure: no unaudited response leaves.
async fn refuse(
    node: &Node,
    draft: &mut AuditDraft,
    service: ServiceId,
    protocol: Protocol,
    error: AwsError,
) -> EncodedResponse {
    draft.error = Some((error.code.clone(), error.message.clone()));
    let error = match commit_with_record(node, Vec::new(), draft).await {
        Ok(()) => error,
        Err(e) => {
            tracing::error!(error = %e, "audit record could not be written");
            unrecorded()
        }
    };
    encode_error(service, protocol, &draft.request_id, &error)
}

/// Commits `writes` with the request's record, in one transaction.
async fn commit_with_record(node: &Node, writes: Vec<RecordWrite>, draft: &AuditDraft) -> Result<(), String> {
    let event = draft.finish().map_err(|e| format!("the audit record could not be serialized: {e}"))?;
    node.store.commit(Commit { writes, events: vec![event] }).await.map_err(|e| e.to_string())
}

/// The answer when a request's record could not be written: no unaudited
/// response leaves.
fn unrecorded() -> AwsError {
    AwsError::new("InternalFailure", 500, "The request could not be recorded.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::signature_params;

    #[test]
    fn routes_by_target_path_and_scope() {
        let auth = [(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=00",
        )];
        let route_of = |path, headers: &[(&str, &str)]| {
            let head = Head { method: "POST", path, query: "", headers };
            route(&head, &signature_params(&head))
        };
        assert_eq!(route_of("/", &[("x-amz-target", "TrentService.Encrypt")]), Ok(ServiceId::Kms));
        assert_eq!(
            route_of("/service/GraniteServiceVersion20100801/operation/ListMetrics", &[]),
            Ok(ServiceId::Monitoring)
        );
        assert_eq!(route_of("/", &auth), Ok(ServiceId::Iam));
        assert_eq!(route_of("/", &[]), Ok(ServiceId::Sts));
        assert!(route_of("/", &[("x-amz-target", "Nope.Op")]).is_err());
        let signed_for = |service: &str| {
            format!(
                "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/{service}/aws4_request, SignedHeaders=host, \
                 Signature=00"
            )
        };
        let xml = |service: &str, content_type: &str| {
            let auth = signed_for(service);
            let headers = [("authorization", auth.as_str()), ("content-type", content_type)];
            route_of("/", &headers).err().map(|u| u.xml)
        };
        assert_eq!(xml("lambda", "application/json"), Some(false), "rest-json");
        assert_eq!(xml("s3", ""), Some(true), "rest-xml");
        assert_eq!(xml("sns", "application/x-www-form-urlencoded"), Some(true), "query");
        assert_eq!(xml("newservice", "application/x-www-form-urlencoded; charset=utf-8"), Some(true));
    }
}
