//! The CloudTrail record of a request. Built for every request — allowed,
//! denied, unauthenticated, malformed — and committed before the response is
//! sent; for a mutation, in the same transaction as the change.

use serde::Serialize;
use serde_json::Value;

use rampart_core::{Principal, Resource, ServiceEvent, ServiceId, Session};
use rampart_store::EventRow;
use rampart_wire::format_iso8601;

/// CloudTrail's current record format version.
const EVENT_VERSION: &str = "1.11";

/// Longest user agent and error message a record keeps: callers choose them,
/// and a record must not be a way to fill the disk.
const MAX_RECORDED_TEXT: usize = 1024;
/// Request parameters whose JSON is longer than this are recorded as omitted.
const MAX_RECORDED_PARAMETERS: usize = 100 * 1024;

/// `text` cut to at most `max` bytes, at a character boundary.
fn truncated(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

/// TLS facts CloudTrail records for calls made over TLS.
#[derive(Debug, Clone)]
pub(crate) struct TlsDetails {
    pub version: String,
    pub cipher_suite: String,
    pub host: String,
}

/// What the pipeline learns about a request as it advances.
#[derive(Debug, Clone)]
pub(crate) struct AuditDraft {
    pub time_ms: i64,
    pub request_id: String,
    pub service: ServiceId,
    pub region: String,
    pub source_ip: String,
    pub user_agent: String,
    pub tls: Option<TlsDetails>,
    pub event_name: Option<String>,
    /// CloudTrail's `readOnly`, from the operation's `OperationMeta`; `None`
    /// for an operation Rampart does not serve (then named by convention).
    pub read_only: Option<bool>,
    /// Who made the call, once authentication proved it.
    pub principal: Option<Principal>,
    /// For a request that failed authentication with a key this node knows:
    /// the account that owns the key. The record goes to that account's
    /// trail, naming the key but no identity (the request did not prove to be
    /// the key owner's).
    pub key_owner: Option<rampart_core::AccountId>,
    /// For temporary credentials: their session.
    pub session: Option<std::sync::Arc<Session>>,
    pub access_key_id: Option<String>,
    pub request_parameters: Value,
    pub response_elements: Value,
    pub resources: Vec<Resource>,
    pub error: Option<(String, String)>,
    /// The policy decision (deciding policy and statement), recorded as
    /// `additionalEventData.authorization`; never sent to the caller.
    pub authorization: Option<AuthorizationNote>,
}

/// Whether an operation no registry describes (one Rampart does not serve)
/// only reads, by AWS's naming convention. Served operations say it in their
/// `OperationMeta`.
fn read_only_by_name(operation: &str) -> bool {
    ["Get", "List", "Describe", "Lookup", "Simulate", "Search", "Head", "Test", "Verify"]
        .iter()
        .any(|p| operation.starts_with(p))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<&'a str>,
    /// For a `WebIdentityUser` or `SAMLUser`: the issuer or name qualifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    identity_provider: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_context: Option<SessionContext<'a>>,
}

/// For temporary credentials: who issued the session, and when.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionContext<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    session_issuer: Option<SessionIssuer<'a>>,
    attributes: SessionAttributes,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_identity: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    web_id_federation_data: Option<WebIdFederationData<'a>>,
}

/// A federated role session's identity provider.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebIdFederationData<'a> {
    federated_provider: &'a str,
    attributes: serde_json::Map<String, Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionIssuer<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    principal_id: &'a str,
    arn: String,
    account_id: &'a str,
    user_name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionAttributes {
    creation_date: String,
    mfa_authenticated: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceRecord<'a> {
    account_id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    /// CloudTrail's `ARN` when the resource is named by one (KMS keys),
    /// else its `resourceName`.
    #[serde(rename = "ARN", skip_serializing_if = "Option::is_none")]
    arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_name: Option<&'a str>,
}

impl<'a> ResourceRecord<'a> {
    fn new(account_id: &'a str, resource: &'a rampart_core::Resource) -> ResourceRecord<'a> {
        let is_arn = resource.name.starts_with("arn:");
        ResourceRecord {
            account_id,
            kind: &resource.kind,
            arn: is_arn.then_some(resource.name.as_str()),
            resource_name: (!is_arn).then_some(resource.name.as_str()),
        }
    }
}

/// How a request was decided: `additionalEventData.authorization` (never sent
/// to the caller). Typed rather than a JSON tree: it is in most records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct AuthorizationNote {
    pub decision: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<StatementNote>,
}

/// The deciding statement: its policy's name (or ARN), Sid and position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct StatementNote {
    pub policy: String,
    pub sid: Option<String>,
    pub index: usize,
}

#[derive(Serialize)]
struct AdditionalEventData<'a> {
    authorization: &'a AuthorizationNote,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TlsRecord<'a> {
    tls_version: &'a str,
    cipher_suite: &'a str,
    client_provided_host_header: &'a str,
}

/// A CloudTrail record, fields in the order CloudTrail writes them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    event_version: &'static str,
    user_identity: UserIdentity<'a>,
    event_time: String,
    event_source: &'static str,
    event_name: &'a str,
    aws_region: &'a str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: &'a str,
    user_agent: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    request_parameters: Option<&'a Value>,
    response_elements: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_event_data: Option<AdditionalEventData<'a>>,
    #[serde(rename = "requestID")]
    request_id: &'a str,
    #[serde(rename = "eventID")]
    event_id: &'a str,
    read_only: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resources: Vec<ResourceRecord<'a>>,
    event_type: &'static str,
    management_event: bool,
    recipient_account_id: &'a str,
    event_category: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_details: Option<TlsRecord<'a>>,
}

fn session_context<'a>(principal: &'a Principal, session: &'a Session) -> SessionContext<'a> {
    let session_issuer = match principal {
        Principal::AssumedRole { account, role_id, role_name, .. } => Some(SessionIssuer {
            kind: "Role",
            principal_id: role_id,
            arn: principal.role_arn().unwrap_or_default(),
            account_id: account.as_str(),
            user_name: role_name,
        }),
        Principal::FederatedUser { account, user_id, user_name, user_path, .. } => Some(SessionIssuer {
            kind: "IAMUser",
            principal_id: user_id,
            arn: rampart_core::iam_arn(account, "user", user_path, user_name),
            account_id: account.as_str(),
            user_name,
        }),
        _ => None,
    };
    SessionContext {
        session_issuer,
        attributes: SessionAttributes {
            creation_date: format_iso8601((session.issued_ms / 1000) as f64),
            mfa_authenticated: if session.mfa_authenticated_ms.is_some() { "true" } else { "false" },
        },
        source_identity: session.source_identity.as_deref(),
        web_id_federation_data: session
            .federated_provider
            .as_deref()
            .map(|federated_provider| WebIdFederationData { federated_provider, attributes: Default::default() }),
    }
}

fn user_identity<'a>(
    principal: Option<&'a Principal>,
    key_owner: Option<&'a str>,
    access_key_id: Option<&'a str>,
    session: Option<&'a Session>,
) -> UserIdentity<'a> {
    let federated = match principal {
        Some(Principal::Federated(identity)) => Some(identity),
        _ => None,
    };
    // An identity provider's subject is no AWS principal: CloudTrail names
    // it by provider and subject, with no ARN or account.
    let aws_principal = principal.filter(|_| federated.is_none());
    UserIdentity {
        session_context: principal.zip(session).map(|(p, s)| session_context(p, s)),
        kind: principal.map_or("Unknown", Principal::identity_type),
        principal_id: principal.map(Principal::principal_id),
        arn: aws_principal.map(Principal::arn),
        account_id: aws_principal.map(|p| p.account().as_str()).or(key_owner),
        access_key_id,
        user_name: match principal {
            Some(Principal::User { name, .. }) => Some(name),
            Some(Principal::Federated(identity)) => Some(&identity.subject),
            _ => None,
        },
        identity_provider: federated.map(|identity| identity.identity_provider.as_str()),
    }
}

fn non_empty(value: &Value) -> Option<&Value> {
    let empty = value.is_null() || value.as_object().is_some_and(serde_json::Map::is_empty);
    (!empty).then_some(value)
}

impl AuditDraft {
    /// The record of a request as it arrives: when, from where, by which
    /// client; the pipeline's stages fill in the rest.
    pub fn begin(
        node: &crate::node::Node,
        peer: &crate::pipeline::Peer,
        head: &crate::auth::Head<'_>,
        time_ms: i64,
    ) -> AuditDraft {
        let header = |name: &str| head.header(name).unwrap_or_default().to_string();
        AuditDraft {
            time_ms,
            request_id: uuid::Uuid::new_v4().to_string(),
            service: ServiceId::Sts,
            region: node.config.region.clone(),
            source_ip: peer.ip.clone(),
            user_agent: header("user-agent"),
            tls: peer.tls.as_ref().map(|(version, cipher_suite)| TlsDetails {
                version: version.clone(),
                cipher_suite: cipher_suite.clone(),
                host: header("host"),
            }),
            event_name: None,
            read_only: None,
            principal: None,
            key_owner: None,
            session: None,
            access_key_id: None,
            request_parameters: Value::Null,
            response_elements: Value::Null,
            resources: Vec::new(),
            error: None,
            authorization: None,
        }
    }

    /// The record and the columns lookups filter on. The account is the
    /// caller's (or the attempted key's owner's); unattributable requests are
    /// kept under an empty account, visible to operators only.
    pub fn finish(&self) -> Result<EventRow, serde_json::Error> {
        let event_name = self.event_name.as_deref().unwrap_or("Unknown");
        let read_only = self.read_only.unwrap_or_else(|| read_only_by_name(event_name));
        let account = match (&self.principal, &self.key_owner) {
            (Some(p), _) => p.account().as_str(),
            (None, Some(owner)) => owner.as_str(),
            (None, None) => "",
        };
        // Time-ordered: the store finds an event by its id through its time.
        let event_id = uuid::Uuid::now_v7().to_string();
        let mut record = Record {
            event_version: EVENT_VERSION,
            user_identity: user_identity(
                self.principal.as_ref(),
                self.key_owner.as_ref().map(|a| a.as_str()),
                self.access_key_id.as_deref(),
                self.session.as_deref(),
            ),
            event_time: format_iso8601((self.time_ms / 1000) as f64),
            event_source: self.service.event_source(),
            event_name,
            aws_region: &self.region,
            source_ip_address: &self.source_ip,
            user_agent: truncated(&self.user_agent, MAX_RECORDED_TEXT),
            error_code: self.error.as_ref().map(|(code, _)| code.as_str()),
            error_message: self.error.as_ref().map(|(_, message)| truncated(message, MAX_RECORDED_TEXT)),
            request_parameters: non_empty(&self.request_parameters),
            // Reads and failures carry no response elements, as in CloudTrail.
            response_elements: if read_only || self.error.is_some() {
                None
            } else {
                non_empty(&self.response_elements)
            },
            additional_event_data: self
                .authorization
                .as_ref()
                .map(|authorization| AdditionalEventData { authorization }),
            request_id: &self.request_id,
            event_id: &event_id,
            read_only,
            resources: self.resources.iter().map(|r| ResourceRecord::new(account, r)).collect(),
            event_type: "AwsApiCall",
            management_event: true,
            recipient_account_id: account,
            event_category: "Management",
            tls_details: self.tls.as_ref().map(|t| TlsRecord {
                tls_version: &t.version,
                cipher_suite: &t.cipher_suite,
                client_provided_host_header: &t.host,
            }),
        };
        let mut text = serde_json::to_string(&record)?;
        // Measured only when the whole record is long: most are a few hundred bytes.
        let omitted;
        if text.len() > MAX_RECORDED_PARAMETERS {
            let size = record.request_parameters.map(|p| p.to_string().len()).unwrap_or_default();
            if size > MAX_RECORDED_PARAMETERS {
                omitted = serde_json::json!({ "omitted": true, "originalSize": size });
                record.request_parameters = Some(&omitted);
                text = serde_json::to_string(&record)?;
            }
        }
        Ok(EventRow {
            account: account.to_string(),
            event_time_ms: self.time_ms,
            event_id,
            event_name: event_name.to_string(),
            event_source: self.service.event_source().to_string(),
            region: self.region.clone(),
            username: self.principal.as_ref().map(|p| p.lookup_username().to_string()),
            access_key_id: self.access_key_id.clone(),
            read_only,
            resources: self.resources.iter().map(|r| (r.kind.clone(), r.name.clone())).collect(),
            record: text,
        })
    }
}

/// The identity of a service acting by itself.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceIdentity<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    invoked_by: &'a str,
}

/// The record of something a service did by itself (`AwsServiceEvent`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceEventRecord<'a> {
    event_version: &'static str,
    user_identity: ServiceIdentity<'a>,
    event_time: String,
    event_source: &'a str,
    event_name: &'a str,
    aws_region: &'a str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: &'a str,
    user_agent: &'a str,
    request_parameters: Option<&'a Value>,
    response_elements: Option<&'a Value>,
    #[serde(rename = "eventID")]
    event_id: &'a str,
    read_only: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resources: Vec<ResourceRecord<'a>>,
    event_type: &'static str,
    management_event: bool,
    recipient_account_id: &'a str,
    service_event_details: &'a Value,
    event_category: &'static str,
}

/// The record and lookup columns of a service event at `time_ms`, as
/// CloudTrail writes one: the service is the identity, the source address
/// and the user agent.
pub(crate) fn service_event_row(event: &ServiceEvent, time_ms: i64) -> Result<EventRow, serde_json::Error> {
    let event_id = uuid::Uuid::now_v7().to_string();
    let account = event.account.as_str();
    let caller = event.invoked_by.unwrap_or(event.source);
    let record = ServiceEventRecord {
        event_version: EVENT_VERSION,
        user_identity: ServiceIdentity { kind: "AWSService", invoked_by: caller },
        event_time: format_iso8601((time_ms / 1000) as f64),
        event_source: event.source,
        event_name: &event.event_name,
        aws_region: &event.region,
        source_ip_address: caller,
        user_agent: caller,
        request_parameters: None,
        response_elements: None,
        event_id: &event_id,
        read_only: event.read_only,
        resources: event.resources.iter().map(|r| ResourceRecord::new(account, r)).collect(),
        event_type: "AwsServiceEvent",
        management_event: true,
        recipient_account_id: account,
        service_event_details: &event.details,
        event_category: "Management",
    };
    Ok(EventRow {
        account: account.to_string(),
        event_time_ms: time_ms,
        event_id: event_id.clone(),
        event_name: event.event_name.clone(),
        event_source: event.source.to_string(),
        region: event.region.clone(),
        username: None,
        access_key_id: None,
        read_only: event.read_only,
        resources: event.resources.iter().map(|r| (r.kind.clone(), r.name.clone())).collect(),
        record: serde_json::to_string(&record)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_core::AccountId;
    use serde_json::json;

    #[test]
    fn records_follow_the_cloudtrail_schema() {
        let account = AccountId::parse("123456789012").expect("a valid account id");
        let draft = AuditDraft {
            time_ms: 1_440_938_160_000,
            request_id: "rid".into(),
            service: ServiceId::Iam,
            region: "us-east-1".into(),
            source_ip: "127.0.0.1".into(),
            user_agent: "test".into(),
            tls: None,
            event_name: Some("ListUsers".into()),
            read_only: None,
            principal: Some(Principal::User { account, user_id: "AIDA1".into(), name: "bob".into(), path: "/".into() }),
            key_owner: None,
            session: None,
            access_key_id: Some("AKIA1".into()),
            request_parameters: json!({}),
            response_elements: Value::Null,
            resources: vec![],
            error: Some(("AccessDenied".into(), "User: x is not authorized".into())),
            authorization: Some(AuthorizationNote {
                decision: "ImplicitDeny",
                source: None,
                missing: Some("Identity"),
                statement: None,
            }),
        };
        let row = draft.finish().expect("a record");
        let record: Value = serde_json::from_str(&row.record).expect("JSON");
        assert_eq!(record["eventTime"], "2015-08-30T12:36:00Z");
        assert_eq!(record["userIdentity"]["type"], "IAMUser");
        assert_eq!(record["userIdentity"]["userName"], "bob");
        assert_eq!(record["errorCode"], "AccessDenied");
        assert_eq!(record["readOnly"], true);
        assert_eq!(record["recipientAccountId"], "123456789012");
        assert_eq!(record["requestParameters"], Value::Null);
        assert_eq!(record["additionalEventData"]["authorization"]["decision"], "ImplicitDeny");
        assert_eq!(row.username.as_deref(), Some("bob"));
        assert!(row.read_only);
    }

    fn refused(key_owner: Option<AccountId>, user_agent: String, parameters: Value) -> AuditDraft {
        AuditDraft {
            time_ms: 0,
            request_id: "rid".into(),
            service: ServiceId::Sts,
            region: "us-east-1".into(),
            source_ip: "10.0.0.1".into(),
            user_agent,
            tls: None,
            event_name: Some("GetCallerIdentity".into()),
            read_only: None,
            principal: None,
            key_owner,
            session: None,
            access_key_id: Some("AKIA1".into()),
            request_parameters: parameters,
            response_elements: Value::Null,
            resources: vec![],
            error: Some(("SignatureDoesNotMatch".into(), "é".repeat(2000))),
            authorization: None,
        }
    }

    #[test]
    fn a_failed_authentication_names_the_key_and_its_account_only() {
        let owner = AccountId::parse("123456789012");
        let row = refused(owner, "ua".into(), Value::Null).finish().expect("a record");
        assert_eq!(row.account, "123456789012", "the key owner's trail");
        assert_eq!(row.username, None);
        let record: Value = serde_json::from_str(&row.record).expect("JSON");
        assert_eq!(
            record["userIdentity"],
            json!({"type": "Unknown", "accountId": "123456789012", "accessKeyId": "AKIA1"})
        );
        let unknown = refused(None, "ua".into(), Value::Null).finish().expect("a record");
        assert_eq!(unknown.account, "", "an unknown key: no account");
    }

    #[test]
    fn callers_texts_are_bounded() {
        let huge = json!({"PolicyDocument": "x".repeat(200 * 1024)});
        let row = refused(None, "ü".repeat(300 * 1024), huge).finish().expect("a record");
        let record: Value = serde_json::from_str(&row.record).expect("JSON");
        let agent = record["userAgent"].as_str().unwrap_or_default();
        assert!(agent.len() <= MAX_RECORDED_TEXT && agent.len() > MAX_RECORDED_TEXT - 4 && agent.starts_with('ü'));
        assert!(record["errorMessage"].as_str().is_some_and(|m| m.len() <= MAX_RECORDED_TEXT));
        assert_eq!(record["requestParameters"]["omitted"], true);
        assert!(record["requestParameters"]["originalSize"].as_u64().is_some_and(|n| n > 200 * 1024));
        assert!(row.record.len() < 8 * 1024);
    }
}
