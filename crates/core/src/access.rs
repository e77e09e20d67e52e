//! What authorization checks a call against, computed once per call from
//! the service's memory and the decoded input, before any handler runs: the
//! access descriptor.

use serde_json::Value;

use crate::{AccessTarget, Call, ResourcePolicy};

/// One action on one resource that the call needs allowed.
#[derive(Debug, Clone)]
pub struct Check {
    /// e.g. `kms:ReEncryptFrom`.
    pub action: String,
    pub target: AccessTarget,
    /// The resource's resource-based policy (a key or trust policy), if any.
    pub resource_policy: Option<ResourcePolicy>,
    /// The id of a grant that allows the action on this resource to this
    /// caller (KMS): a further source of allow, which an explicit deny still
    /// overrides. The service that keeps grants decides whether one applies.
    pub grant: Option<String>,
    /// Service condition keys of the request that apply to this check
    /// alone, ahead of `Access::request_keys` (ReEncrypt's source and
    /// destination encryption contexts: each check sees its own).
    pub request_keys: Vec<(String, Vec<String>)>,
}

/// Every check a call needs, and the service condition keys its request
/// carries. Built by `Service::access`.
#[derive(Debug, Clone)]
pub struct Access {
    /// Never empty: an action without a resource is checked on `*`.
    pub checks: Vec<Check>,
    /// Service condition keys read from the request (`RequestKey`), each
    /// with its values as policy conditions compare them.
    pub request_keys: Vec<(String, Vec<String>)>,
    /// The request carries an MFA code that the handler verifies before it
    /// acts (AssumeRole's `TokenCode`): authorization sees MFA as present,
    /// of age 0, and a wrong code is refused by the handler.
    pub mfa_in_request: bool,
}

impl Access {
    /// The call's own action (`iam:CreateUser`) on each of `targets` (on `*`
    /// when there are none).
    pub fn own(call: &Call, targets: Vec<AccessTarget>) -> Access {
        let action = format!("{}:{}", call.service.action_prefix(), call.operation);
        let targets = if targets.is_empty() { vec![AccessTarget::default()] } else { targets };
        let checks = targets
            .into_iter()
            .map(|target| Check {
                action: action.clone(),
                target,
                resource_policy: None,
                grant: None,
                request_keys: Vec::new(),
            })
            .collect();
        Access { checks, request_keys: Vec::new(), mfa_in_request: false }
    }

    /// Adds the service condition keys `keys` reads from `input`.
    pub fn with_request_keys(mut self, input: &Value, keys: &[RequestKey]) -> Access {
        self.request_keys = request_keys(input, keys);
        self
    }
}

/// Where a service condition key's value is in a request.
#[derive(Debug, Clone, Copy)]
pub enum RequestKey {
    /// The key `key` is the member `member` (a string, number, boolean or a
    /// list of them), e.g. `kms:ScheduleKeyDeletionPendingWindowInDays` from
    /// `PendingWindowInDays`.
    Member { key: &'static str, member: &'static str },
    /// The family `prefix` + map key, from the map member `member`, e.g.
    /// `kms:EncryptionContext:` from `EncryptionContext`.
    Family { prefix: &'static str, member: &'static str },
}

/// A value as policy conditions read it: numbers and booleans in their JSON
/// spelling (`7`, `true`), which the numeric and boolean operators parse.
fn condition_values(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Number(n) => Some(vec![n.to_string()]),
        Value::Bool(b) => Some(vec![b.to_string()]),
        Value::Array(items) => Some(items.iter().filter_map(condition_values).flatten().collect()),
        Value::Null | Value::Object(_) => None,
    }
}

/// The values of `keys` in `input`. Family keys are returned by their full
/// name, e.g. `kms:EncryptionContext:project`.
pub fn request_keys(input: &Value, keys: &[RequestKey]) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    for key in keys {
        match *key {
            RequestKey::Member { key, member } => {
                if let Some(values) = input.get(member).and_then(condition_values) {
                    found.push((key.to_string(), values));
                }
            }
            RequestKey::Family { prefix, member } => {
                for (name, value) in input.get(member).and_then(Value::as_object).into_iter().flatten() {
                    if let Some(values) = condition_values(value) {
                        found.push((format!("{prefix}{name}"), values));
                    }
                }
            }
        }
    }
    found
}

/// The tags a request sets (`aws:RequestTag/*`) and the tag keys it names
/// (`aws:TagKeys`), from every shape the models use: a `Tags` list of
/// `Key`/`Value` (IAM, STS, EC2) or `TagKey`/`TagValue` (KMS) pairs, a `Tags`
/// map (CloudWatch Logs), CloudTrail's `TagsList`, EC2's
/// `TagSpecifications[].Tags`, and `TagKeys`.
pub fn request_tags(input: &Value) -> (Vec<(String, String)>, Vec<String>) {
    let mut tags = Vec::new();
    let mut read = |value: Option<&Value>| match value {
        Some(Value::Array(items)) => {
            for tag in items {
                let key = tag.get("Key").or_else(|| tag.get("TagKey")).and_then(Value::as_str);
                let value = tag.get("Value").or_else(|| tag.get("TagValue")).and_then(Value::as_str);
                if let Some(key) = key {
                    tags.push((key.to_string(), value.unwrap_or_default().to_string()));
                }
            }
        }
        Some(Value::Object(map)) => {
            tags.extend(map.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))));
        }
        _ => {}
    };
    read(input.get("Tags"));
    read(input.get("TagsList"));
    for spec in input.get("TagSpecifications").and_then(Value::as_array).into_iter().flatten() {
        read(spec.get("Tags"));
    }
    let mut keys: Vec<String> = tags.iter().map(|(k, _)| k.clone()).collect();
    keys.extend(
        input
            .get("TagKeys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_str().map(str::to_string)),
    );
    (tags, keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_tags_are_read_from_every_shape() {
        let pairs = |input: Value| request_tags(&input);
        let iam = pairs(json!({"Tags": [{"Key": "team", "Value": "red"}]}));
        assert_eq!(iam, (vec![("team".into(), "red".into())], vec!["team".into()]));
        let kms = pairs(json!({"Tags": [{"TagKey": "team", "TagValue": "blue"}]}));
        assert_eq!(kms.0, vec![("team".to_string(), "blue".to_string())]);
        let logs = pairs(json!({"Tags": {"env": "prod"}}));
        assert_eq!(logs.0, vec![("env".to_string(), "prod".to_string())]);
        let ec2 = pairs(json!({"TagSpecifications": [{"ResourceType": "vpc", "Tags": [{"Key": "a", "Value": "1"}]},
                                                     {"Tags": [{"Key": "b", "Value": "2"}]}]}));
        assert_eq!(ec2.1, vec!["a".to_string(), "b".to_string()]);
        let untag = pairs(json!({"TagKeys": ["x", "y"]}));
        assert_eq!(untag, (vec![], vec!["x".to_string(), "y".to_string()]));
        let cloudtrail = pairs(json!({"ResourceId": "arn", "TagsList": [{"Key": "owner", "Value": "me"}]}));
        assert_eq!(cloudtrail, (vec![("owner".into(), "me".into())], vec!["owner".into()]));
    }

    #[test]
    fn request_keys_keep_numbers_booleans_and_families() {
        let keys = [
            RequestKey::Member { key: "kms:ScheduleKeyDeletionPendingWindowInDays", member: "PendingWindowInDays" },
            RequestKey::Member { key: "kms:BypassPolicyLockoutSafetyCheck", member: "BypassPolicyLockoutSafetyCheck" },
            RequestKey::Member { key: "iam:PolicyARN", member: "PolicyArn" },
            RequestKey::Family { prefix: "kms:EncryptionContext:", member: "EncryptionContext" },
        ];
        let input = json!({"PendingWindowInDays": 7, "BypassPolicyLockoutSafetyCheck": true,
                           "EncryptionContext": {"project": "x"}});
        let found = request_keys(&input, &keys);
        let pair = |k: &str, v: &str| (k.to_string(), vec![v.to_string()]);
        assert_eq!(found[0], pair("kms:ScheduleKeyDeletionPendingWindowInDays", "7"));
        assert_eq!(found[1], pair("kms:BypassPolicyLockoutSafetyCheck", "true"));
        assert_eq!(found[2], pair("kms:EncryptionContext:project", "x"));
        assert_eq!(found.len(), 3, "PolicyArn is absent");
    }
}
