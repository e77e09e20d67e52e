//! The CloudTrail record of a request. Built for every request — allowed,
//! denied, unauthenticated, malformed — and committed before the response is
//! sent; for a mutation, in the same transaction as the change.

use serde_json::{json, Map, Value};

use rampart_core::{Principal, Resource, ServiceId};
use rampart_store::EventRow;
use rampart_wire::format_iso8601;

/// CloudTrail's current record format version.
const EVENT_VERSION: &str = "1.11";

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
    pub principal: Option<Principal>,
    pub access_key_id: Option<String>,
    pub request_parameters: Value,
    pub response_elements: Value,
    pub resources: Vec<Resource>,
    pub error: Option<(String, String)>,
}

/// Operations that only read, by AWS's naming convention.
pub(crate) fn is_read_only(operation: &str) -> bool {
    ["Get", "List", "Describe", "Lookup", "Simulate", "Search", "Head", "Test", "Verify"]
        .iter()
        .any(|p| operation.starts_with(p))
}

fn user_identity(principal: Option<&Principal>, access_key_id: Option<&str>) -> Value {
    let mut out = Map::new();
    match principal {
        Some(p) => {
            out.insert("type".into(), json!(p.identity_type()));
            out.insert("principalId".into(), json!(p.principal_id()));
            out.insert("arn".into(), json!(p.arn()));
            out.insert("accountId".into(), json!(p.account().as_str()));
            if let Some(k) = access_key_id {
                out.insert("accessKeyId".into(), json!(k));
            }
            if let Principal::User { name, .. } = p {
                out.insert("userName".into(), json!(name));
            }
        }
        None => {
            out.insert("type".into(), json!("Unknown"));
            if let Some(k) = access_key_id {
                out.insert("accessKeyId".into(), json!(k));
            }
        }
    }
    Value::Object(out)
}

impl AuditDraft {
    /// The record and the columns lookups filter on. The account is the
    /// caller's (or the attempted key's owner's); unattributable requests are
    /// kept under an empty account, visible to operators only.
    pub fn finish(&self) -> EventRow {
        let event_name = self.event_name.clone().unwrap_or_else(|| "Unknown".to_string());
        let read_only = is_read_only(&event_name);
        let account = self.principal.as_ref().map(|p| p.account().to_string()).unwrap_or_default();
        let event_id = uuid::Uuid::new_v4().to_string();
        let mut record = Map::new();
        record.insert("eventVersion".into(), json!(EVENT_VERSION));
        record.insert("userIdentity".into(), user_identity(self.principal.as_ref(), self.access_key_id.as_deref()));
        record.insert("eventTime".into(), json!(format_iso8601((self.time_ms / 1000) as f64)));
        record.insert("eventSource".into(), json!(self.service.event_source()));
        record.insert("eventName".into(), json!(event_name));
        record.insert("awsRegion".into(), json!(self.region));
        record.insert("sourceIPAddress".into(), json!(self.source_ip));
        record.insert("userAgent".into(), json!(self.user_agent));
        if let Some((code, message)) = &self.error {
            record.insert("errorCode".into(), json!(code));
            record.insert("errorMessage".into(), json!(message));
        }
        let empty = |v: &Value| v.is_null() || v.as_object().is_some_and(Map::is_empty);
        let params = if empty(&self.request_parameters) { Value::Null } else { self.request_parameters.clone() };
        record.insert("requestParameters".into(), params);
        let response = if read_only || self.error.is_some() || empty(&self.response_elements) {
            Value::Null
        } else {
            self.response_elements.clone()
        };
        record.insert("responseElements".into(), response);
        record.insert("requestID".into(), json!(self.request_id));
        record.insert("eventID".into(), json!(event_id));
        record.insert("readOnly".into(), json!(read_only));
        if !self.resources.is_empty() {
            let resources: Vec<Value> = self
                .resources
                .iter()
                .map(|r| json!({"accountId": account, "type": r.kind, "resourceName": r.name}))
                .collect();
            record.insert("resources".into(), Value::Array(resources));
        }
        record.insert("eventType".into(), json!("AwsApiCall"));
        record.insert("managementEvent".into(), json!(true));
        record.insert("recipientAccountId".into(), json!(account));
        record.insert("eventCategory".into(), json!("Management"));
        if let Some(tls) = &self.tls {
            record.insert(
                "tlsDetails".into(),
                json!({"tlsVersion": tls.version, "cipherSuite": tls.cipher_suite, "clientProvidedHostHeader": tls.host}),
            );
        }
        EventRow {
            account,
            event_time_ms: self.time_ms,
            event_id,
            event_name,
            event_source: self.service.event_source(),
            username: self.principal.as_ref().map(|p| p.lookup_username().to_string()),
            access_key_id: self.access_key_id.clone(),
            read_only,
            resources: self.resources.iter().map(|r| (r.kind.clone(), r.name.clone())).collect(),
            record: Value::Object(record).to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_core::AccountId;

    #[test]
    fn records_follow_the_cloudtrail_schema() {
        let account = AccountId::parse("123456789012");
        let Some(account) = account else { return };
        let draft = AuditDraft {
            time_ms: 1_440_938_160_000,
            request_id: "rid".into(),
            service: ServiceId::Iam,
            region: "us-east-1".into(),
            source_ip: "127.0.0.1".into(),
            user_agent: "test".into(),
            tls: None,
            event_name: Some("ListUsers".into()),
            principal: Some(Principal::User { account, user_id: "AIDA1".into(), name: "bob".into(), path: "/".into() }),
            access_key_id: Some("AKIA1".into()),
            request_parameters: json!({}),
            response_elements: Value::Null,
            resources: vec![],
            error: Some(("AccessDenied".into(), "User: x is not authorized".into())),
        };
        let row = draft.finish();
        let record: Value = serde_json::from_str(&row.record).unwrap_or_default();
        assert_eq!(record["eventTime"], "2015-08-30T12:36:00Z");
        assert_eq!(record["userIdentity"]["type"], "IAMUser");
        assert_eq!(record["userIdentity"]["userName"], "bob");
        assert_eq!(record["errorCode"], "AccessDenied");
        assert_eq!(record["readOnly"], true);
        assert_eq!(record["recipientAccountId"], "123456789012");
        assert_eq!(record["requestParameters"], Value::Null);
        assert_eq!(row.username.as_deref(), Some("bob"));
        assert!(row.read_only);
    }
}
