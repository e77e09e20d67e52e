//! Policy documents: the JSON grammar, checked as IAM checks it, compiled into
//! statements ready to evaluate.

use serde_json::{Map, Value};

use crate::condition::{read_date, Condition, DateValue, Operator};
use crate::PolicyError;

/// What a document is used as; it decides which elements are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Inline policies of users, groups and roles; session policies. No
    /// Principal; Resource or NotResource required; Version optional.
    Identity,
    /// Customer managed policies and their versions (CreatePolicy,
    /// CreatePolicyVersion): an `Identity` policy that must also say
    /// `"Version": "2012-10-17"`.
    Managed,
    /// Resource-based policies: key policies, bucket policies. Principal required.
    Resource,
    /// Role trust policies (CreateRole, UpdateAssumeRolePolicy): Principal
    /// required, no Resource or NotResource, only STS actions.
    Trust,
    /// Organizations service control policies.
    ServiceControl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `2008-10-17`, or no Version: policy variables are plain text.
    V2008,
    V2012,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// `Action` or `NotAction`; patterns lower-cased (actions match ignoring case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Actions {
    Only(Vec<String>),
    AllBut(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resources {
    Only(Vec<String>),
    AllBut(Vec<String>),
}

/// A principal pattern of a resource policy: `*`, or a type and its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principals {
    Only(Vec<(String, String)>),
    AllBut(Vec<(String, String)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub(crate) actions: Actions,
    pub(crate) resources: Option<Resources>,
    pub(crate) principals: Option<Principals>,
    pub(crate) conditions: Vec<Condition>,
}

/// A parsed, validated policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub version: Version,
    pub statements: Vec<Statement>,
    /// Which statements can match an action of each service, so a decision
    /// looks only at those.
    pub(crate) index: ActionIndex,
}

/// Statement positions by the service their `Action` names; statements whose
/// service part has a wildcard, or that use `NotAction`, are always candidates.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ActionIndex {
    pub always: Vec<usize>,
    pub by_service: std::collections::HashMap<String, Vec<usize>>,
}

impl ActionIndex {
    fn build(statements: &[Statement]) -> ActionIndex {
        let mut index = ActionIndex::default();
        for (i, s) in statements.iter().enumerate() {
            let services: Option<Vec<&str>> = match &s.actions {
                Actions::Only(patterns) => patterns
                    .iter()
                    .map(|p| p.split_once(':').map(|(svc, _)| svc).filter(|svc| !svc.contains(['*', '?'])))
                    .collect(),
                Actions::AllBut(_) => None,
            };
            match services {
                Some(mut services) => {
                    services.dedup();
                    for svc in services {
                        let list = index.by_service.entry(svc.to_string()).or_default();
                        if list.last() != Some(&i) {
                            list.push(i);
                        }
                    }
                }
                None => index.always.push(i),
            }
        }
        index
    }

    /// Positions of the statements that may match an action of `service`, in order.
    pub(crate) fn candidates(&self, service: &str) -> Vec<usize> {
        let specific = self.by_service.get(service).map(Vec::as_slice).unwrap_or_default();
        let mut out = Vec::with_capacity(self.always.len() + specific.len());
        let (mut a, mut b) = (self.always.iter().peekable(), specific.iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x <= y => a.next(),
                (Some(_), Some(_)) | (None, Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, None) => break,
            };
            if let Some(&i) = next {
                if out.last() != Some(&i) {
                    out.push(i);
                }
            }
        }
        out
    }
}

fn malformed(message: impl Into<String>) -> PolicyError {
    PolicyError::Malformed(message.into())
}

/// IAM's answer to any fault in the document's JSON shape.
const SYNTAX: &str = "Syntax errors in policy.";
/// IAM's answer to a wrongly cased Effect, a Date condition value it cannot
/// read, or a resource with too few ARN parts.
pub(crate) const LEGACY: &str = "The policy failed legacy parsing";

type Object = Map<String, Value>;

const TOP_LEVEL: [&str; 3] = ["Version", "Id", "Statement"];

const STATEMENT_ELEMENTS: [&str; 9] =
    ["Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal", "NotPrincipal", "Condition"];

/// The partitions a resource ARN may name (besides `*`).
const PARTITIONS: [&str; 8] =
    ["aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"];

/// What the resource part of an `arn:…:iam:…` resource may start with (IAM
/// also accepts `*` and `root`, which AWS managed policies such as
/// IAMAuditRootUserCredentials name, and `delegation-request/`, the resource
/// of the temporary-delegation actions, though its message names neither).
const IAM_UNNAMED_RESOURCE_TYPES: [&str; 1] = ["delegation-request/"];
const IAM_RESOURCE_TYPES: [&str; 13] = [
    "user/",
    "federated-user/",
    "role/",
    "group/",
    "instance-profile/",
    "mfa/",
    "server-certificate/",
    "policy/",
    "sms-mfa/",
    "saml-provider/",
    "oidc-provider/",
    "report/",
    "access-report/",
];

/// The S3 resource types whose ARNs name a region: access points, Access
/// Grants (which AWS managed policies name with a region), batch jobs,
/// Storage Lens, and multi-Region access point requests.
const S3_REGIONAL_TYPES: [&str; 6] =
    ["accesspoint/", "access-grants/", "job/", "storage-lens/", "storage-lens-group/", "async-request/"];

/// The actions a role trust policy may name, matched ignoring case: those of
/// STS (IAM's message names only the first three, but accepts the others;
/// wildcards are refused).
const TRUST_ACTIONS: [&str; 12] = [
    "sts:AssumeRole",
    "sts:AssumeRoleWithSAML",
    "sts:AssumeRoleWithWebIdentity",
    "sts:TagSession",
    "sts:SetSourceIdentity",
    "sts:SetContext",
    "sts:DecodeAuthorizationMessage",
    "sts:GetAccessKeyInfo",
    "sts:GetCallerIdentity",
    "sts:GetFederationToken",
    "sts:GetServiceBearerToken",
    "sts:GetSessionToken",
];

const TRUST_ACTIONS_MESSAGE: &str = "Trust Policy statement actions can only be sts:AssumeRole, \
                                     sts:AssumeRoleWithSAML,  and sts:AssumeRoleWithWebIdentity";

/// IAM's first pass, the JSON shape: the statements, or `None` for "Syntax
/// errors in policy."
fn syntax(map: &Object) -> Option<Vec<&Object>> {
    if map.keys().any(|k| !TOP_LEVEL.contains(&k.as_str())) {
        return None;
    }
    match map.get("Version") {
        None => {}
        Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
        Some(_) => return None,
    }
    if map.get("Id").is_some_and(|id| !id.is_string()) {
        return None;
    }
    let statements: Vec<&Object> = match map.get("Statement")? {
        Value::Object(s) => vec![s],
        Value::Array(items) if !items.is_empty() => items.iter().map(Value::as_object).collect::<Option<_>>()?,
        _ => return None,
    };
    statements.iter().all(|s| statement_syntax(s)).then_some(statements)
}

fn statement_syntax(s: &Object) -> bool {
    let both = |a: &str, b: &str| s.contains_key(a) && s.contains_key(b);
    let effect = s.get("Effect").and_then(Value::as_str);
    s.keys().all(|k| STATEMENT_ELEMENTS.contains(&k.as_str()))
        && !both("Action", "NotAction")
        && !both("Resource", "NotResource")
        && !both("Principal", "NotPrincipal")
        && effect.is_some_and(|e| e.eq_ignore_ascii_case("Allow") || e.eq_ignore_ascii_case("Deny"))
        && ["Action", "NotAction"].iter().all(|k| s.get(*k).is_none_or(|v| string_or_list(v, false)))
        // A null in a resource list is accepted, and ignored.
        && ["Resource", "NotResource"].iter().all(|k| s.get(*k).is_none_or(|v| string_or_list(v, true)))
        && s.get("Condition").is_none_or(condition_syntax)
        && s.get("Sid").is_none_or(Value::is_string)
}

fn string_or_list(value: &Value, nulls: bool) -> bool {
    match value {
        Value::String(_) => true,
        Value::Array(items) => items.iter().all(|i| i.is_string() || (nulls && i.is_null())),
        _ => false,
    }
}

/// A condition block maps operators to blocks of keys and values; an
/// operator IAM does not know is accepted only with an empty block.
fn condition_syntax(block: &Value) -> bool {
    let Value::Object(block) = block else { return false };
    block.iter().all(|(operator, keys)| {
        let Value::Object(keys) = keys else { return false };
        let scalar = |v: &Value| v.is_string() || v.is_boolean() || v.is_number();
        let values_ok = keys.values().all(|v| scalar(v) || v.as_array().is_some_and(|a| a.iter().all(scalar)));
        values_ok && (keys.is_empty() || Operator::known(operator))
    })
}

/// IAM's legacy pass over one statement: the Effect's case and the values of
/// Date conditions.
fn legacy_statement(s: &Object) -> bool {
    let date_value = |v: &Value| match v {
        Value::String(text) => read_date(text) != DateValue::Invalid,
        Value::Number(n) => read_date(&n.to_string()) != DateValue::Invalid,
        _ => false,
    };
    let dates_ok = |keys: &Value| {
        keys.as_object().is_none_or(|keys| {
            keys.values().all(|v| match v {
                Value::Array(items) => items.iter().all(date_value),
                other => date_value(other),
            })
        })
    };
    matches!(s.get("Effect").and_then(Value::as_str), Some("Allow" | "Deny"))
        && s.get("Condition")
            .and_then(Value::as_object)
            .is_none_or(|block| block.iter().all(|(op, keys)| !Operator::is_date(op) || dates_ok(keys)))
}

/// The strings of a string-or-list element (nulls dropped).
fn listed(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// What IAM finds wrong with a resource's format, if anything. The first
/// part need not say `arn` for IAM (`a:b` names partition `b`); Rampart
/// refuses such resources last, as not being ARNs.
fn resource_format_error(resource: &str) -> Option<String> {
    if resource == "*" {
        return None;
    }
    let Some((prefix, rest)) = resource.split_once(':') else {
        return Some(format!("Resource {resource} must be in ARN format or \"*\"."));
    };
    let (partition, rest) = match rest.split_once(':') {
        Some((p, rest)) => (p, Some(rest)),
        None => (rest, None),
    };
    if partition != "*" && !PARTITIONS.contains(&partition) {
        let parts: Vec<&str> = rest.unwrap_or_default().split(':').collect();
        let part = |i: usize| parts.get(i).copied().unwrap_or("*");
        let first = if parts.len() == 1 && part(0).is_empty() { "*" } else { part(0) };
        let last = if parts.len() > 3 { parts.get(3..).unwrap_or_default().join(":") } else { "*".to_string() };
        return Some(format!(
            "Partition \"{partition}\" is not valid for resource \"arn:{partition}:{first}:{}:{}:{last}\".",
            part(1),
            part(2)
        ));
    }
    let Some(rest) = rest else {
        return Some("Resource vendor must be fully qualified and cannot contain regexes.".to_string());
    };
    let (service, after_service) = rest.split_once(':').unwrap_or((rest, ""));
    let after_region = after_service.split_once(':').map_or("", |(_, r)| r);
    let resource_part = after_region.split_once(':').map_or("", |(_, r)| r);
    let has_region = !after_service.starts_with(':');
    if service == "iam" && has_region {
        return Some(format!("IAM resource {resource} cannot contain region information."));
    }
    if service == "s3" && has_region && !S3_REGIONAL_TYPES.iter().any(|t| resource_part.starts_with(t)) {
        return Some(format!("Resource {resource} can not contain region information."));
    }
    if service == "iam"
        && !matches!(resource_part, "*" | "root")
        && !IAM_RESOURCE_TYPES.iter().chain(&IAM_UNNAMED_RESOURCE_TYPES).any(|t| resource_part.starts_with(t))
    {
        return Some(format!(
            "IAM resource path must either be \"*\" or start with {}.",
            IAM_RESOURCE_TYPES.join(", ")
        ));
    }
    if prefix != "arn" {
        return Some(format!("Resource {resource} must be in ARN format or \"*\"."));
    }
    None
}

/// IAM's legacy reading of a resource: enough ARN parts, and a service.
fn legacy_resource(resource: &str) -> bool {
    resource == "*"
        || ((resource.matches(':').count() >= 5 || !resource.contains("::"))
            && resource.split(':').nth(2).is_some_and(|service| !service.is_empty()))
}

/// IAM's resource pass: a legacy parsing failure at once, or the format
/// error to report once SIDs and actions are checked. As IAM does, each
/// statement's resources are checked in reverse order and the last error
/// found is the one reported; a statement's legacy reading is skipped once
/// an error has been found.
fn resource_formats(statements: &[&Object]) -> Result<Option<String>, PolicyError> {
    let mut error = None;
    for key in ["Resource", "NotResource"] {
        for s in statements {
            if !s.contains_key(key) {
                continue;
            }
            let mut resources = listed(s.get(key));
            resources.sort_unstable_by(|a, b| b.cmp(a));
            for r in &resources {
                if let Some(e) = resource_format_error(r) {
                    error = Some(e);
                }
            }
            if error.is_none() && !resources.iter().all(|r| legacy_resource(r)) {
                return Err(malformed(LEGACY));
            }
        }
    }
    Ok(error)
}

/// Whether a statement has `Action` or `NotAction`, not an empty list.
fn has_actions(s: &Object) -> bool {
    match s.get("Action").or_else(|| s.get("NotAction")) {
        Some(Value::Array(items)) => !items.is_empty(),
        Some(_) => true,
        None => false,
    }
}

/// Whether a statement has `Resource` or `NotResource`, not an empty list.
fn has_resources(s: &Object) -> bool {
    match s.get("Resource").or_else(|| s.get("NotResource")) {
        Some(Value::Array(items)) => !items.is_empty(),
        Some(_) => true,
        None => false,
    }
}

/// IAM checks only an action's vendor: one colon, and letters, digits, `-`
/// and `.` (or `*` alone). The name after the colon may be anything.
fn action_error(action: &str) -> Option<String> {
    let Some((vendor, name)) = action.split_once(':') else {
        return (action != "*")
            .then(|| "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.".to_string());
    };
    if name.contains(':') {
        return Some("Actions/Condition can contain only one colon.".to_string());
    }
    let vendor_ok = vendor == "*" || vendor.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    (!vendor_ok).then(|| format!("Vendor {vendor} is not valid"))
}

/// A trust policy statement names only STS actions, with `Action`.
fn trust_actions(s: &Object) -> bool {
    s.contains_key("Action")
        && listed(s.get("Action")).iter().all(|a| TRUST_ACTIONS.iter().any(|t| t.eq_ignore_ascii_case(a)))
}

/// The checks that depend on what the document is used as.
fn kind_rules(statements: &[&Object], kind: PolicyKind) -> Result<(), PolicyError> {
    let principal = |s: &&Object| s.contains_key("Principal") || s.contains_key("NotPrincipal");
    match kind {
        PolicyKind::Identity | PolicyKind::Managed | PolicyKind::ServiceControl => {
            if statements.iter().any(principal) {
                return Err(malformed("Policy document should not specify a principal."));
            }
            if !statements.iter().all(|s| has_resources(s)) {
                return Err(malformed("Policy statement must contain resources."));
            }
        }
        PolicyKind::Trust => {
            if !statements.iter().all(|s| trust_actions(s)) {
                return Err(malformed(TRUST_ACTIONS_MESSAGE));
            }
            if statements.iter().any(|s| s.contains_key("Resource") || s.contains_key("NotResource")) {
                return Err(malformed("Has prohibited field Resource."));
            }
            if !statements.iter().all(principal) {
                return Err(malformed("Policy document should specify a principal."));
            }
        }
        PolicyKind::Resource => {
            if !statements.iter().all(principal) {
                return Err(malformed("Policy document should specify a principal."));
            }
        }
    }
    Ok(())
}

fn parse_principals(value: &Value) -> Result<Vec<(String, String)>, PolicyError> {
    match value {
        Value::String(s) if s == "*" => Ok(vec![("AWS".to_string(), "*".to_string())]),
        Value::Object(map) => {
            let mut out = Vec::new();
            for (kind, values) in map {
                if !matches!(kind.as_str(), "AWS" | "Service" | "Federated" | "CanonicalUser") {
                    return Err(malformed(format!("Invalid principal in policy: \"{kind}\"")));
                }
                if !string_or_list(values, false) {
                    return Err(malformed(SYNTAX));
                }
                out.extend(listed(Some(values)).into_iter().map(|v| (kind.clone(), v.to_string())));
            }
            Ok(out)
        }
        _ => Err(malformed("Invalid principal in policy")),
    }
}

/// Compiles a statement that passed every check.
fn compile(s: &Object) -> Result<Statement, PolicyError> {
    let effect = if s.get("Effect").and_then(Value::as_str) == Some("Deny") { Effect::Deny } else { Effect::Allow };
    let lower = |v: Option<&Value>| listed(v).into_iter().map(str::to_ascii_lowercase).collect();
    let actions = if s.contains_key("Action") {
        Actions::Only(lower(s.get("Action")))
    } else {
        Actions::AllBut(lower(s.get("NotAction")))
    };
    let owned = |v: Option<&Value>| listed(v).into_iter().map(str::to_string).collect();
    let resources = match (s.get("Resource"), s.get("NotResource")) {
        (Some(v), _) => Some(Resources::Only(owned(Some(v)))),
        (None, Some(v)) => Some(Resources::AllBut(owned(Some(v)))),
        (None, None) => None,
    };
    let principals = match (s.get("Principal"), s.get("NotPrincipal")) {
        (Some(v), _) => Some(Principals::Only(parse_principals(v)?)),
        (None, Some(v)) => Some(Principals::AllBut(parse_principals(v)?)),
        (None, None) => None,
    };
    let conditions = match s.get("Condition") {
        None => Vec::new(),
        Some(v) => parse_conditions(v, effect)?,
    };
    let sid = s.get("Sid").and_then(Value::as_str).map(str::to_string);
    Ok(Statement { sid, effect, actions, resources, principals, conditions })
}

fn parse_conditions(value: &Value, effect: Effect) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(block) = value else { return Err(malformed(SYNTAX)) };
    let mut out = Vec::new();
    for (name, keys) in block {
        let Value::Object(keys) = keys else { return Err(malformed(SYNTAX)) };
        if keys.is_empty() {
            continue;
        }
        let operator = Operator::parse(name).ok_or_else(|| malformed(format!("Invalid Condition type : {name}.")))?;
        for (key, values) in keys {
            out.push(Condition::new(operator.clone(), key, condition_values(values)?, effect)?);
        }
    }
    Ok(out)
}

/// Condition values may be strings, numbers or booleans, alone or in an array.
fn condition_values(value: &Value) -> Result<Vec<String>, PolicyError> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(malformed(SYNTAX)),
    };
    match value {
        Value::Array(items) => items.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

impl Policy {
    /// A policy that allows nothing (what an unreadable boundary stands for).
    pub fn empty() -> Policy {
        Policy { version: Version::V2012, statements: Vec::new(), index: ActionIndex::default() }
    }

    /// Every context key the policy reads: condition keys and the variables of
    /// resources and condition values, each once, in order of appearance.
    pub fn context_keys(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in &self.statements {
            let resource_vars = match &s.resources {
                Some(Resources::Only(r) | Resources::AllBut(r)) => {
                    r.iter().flat_map(|r| crate::variables::names(r)).collect()
                }
                None => Vec::new(),
            };
            for key in resource_vars.into_iter().chain(s.conditions.iter().flat_map(|c| c.keys())) {
                if !out.iter().any(|k| k.eq_ignore_ascii_case(&key)) {
                    out.push(key);
                }
            }
        }
        out
    }

    /// Parses and validates a policy document of `kind`, with IAM's checks in
    /// IAM's order, so that a document with several faults gets IAM's message:
    /// the JSON shape; the Version (managed policies); Effect case, Date
    /// values and short ARNs (legacy parsing); unique SIDs; actions present;
    /// resource formats; action vendors; then what `kind` requires.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        let value: Value = serde_json::from_str(text).map_err(|_| malformed(SYNTAX))?;
        let map = value.as_object().ok_or_else(|| malformed(SYNTAX))?;
        let statements = syntax(map).ok_or_else(|| malformed(SYNTAX))?;
        let version = match map.get("Version").and_then(Value::as_str) {
            Some("2012-10-17") => Version::V2012,
            _ => Version::V2008,
        };
        if kind == PolicyKind::Managed && version != Version::V2012 {
            return Err(malformed("Policy document must be version 2012-10-17 or greater."));
        }
        if !statements.iter().all(|s| legacy_statement(s)) {
            return Err(malformed(LEGACY));
        }
        let resource_error = resource_formats(&statements)?;
        let mut sids = std::collections::HashSet::new();
        let mut all_sids = statements.iter().filter_map(|s| s.get("Sid").and_then(Value::as_str));
        if !all_sids.all(|sid| sid.is_empty() || sids.insert(sid)) {
            return Err(malformed("Statement IDs (SID) in a single policy must be unique."));
        }
        if !statements.iter().all(|s| has_actions(s)) {
            return Err(malformed("Policy statement must contain actions."));
        }
        if let Some(error) = resource_error {
            return Err(malformed(error));
        }
        for key in ["Action", "NotAction"] {
            if let Some(error) = statements.iter().flat_map(|s| listed(s.get(key))).find_map(action_error) {
                return Err(malformed(error));
            }
        }
        kind_rules(&statements, kind)?;
        let statements = statements.into_iter().map(compile).collect::<Result<Vec<_>, _>>()?;
        let index = ActionIndex::build(&statements);
        Ok(Policy { version, statements, index })
    }
}

/// Replaces `from` by `to` among a policy document's `"AWS"` principals
/// (`Principal` and `NotPrincipal`); whether it did. Resource policies follow
/// the principals they name: a deleted user or role is named by its unique
/// id, so a namesake created later is not the one they meant.
pub fn replace_aws_principal(document: &mut serde_json::Value, from: &str, to: &str) -> bool {
    let statements = match document.get_mut("Statement") {
        Some(serde_json::Value::Array(list)) => list.iter_mut().collect::<Vec<_>>(),
        Some(single) => vec![single],
        None => return false,
    };
    let mut changed = false;
    for statement in statements {
        for element in ["Principal", "NotPrincipal"] {
            let values = match statement.get_mut(element).and_then(|p| p.get_mut("AWS")) {
                Some(serde_json::Value::Array(values)) => values.iter_mut().collect::<Vec<_>>(),
                Some(value) => vec![value],
                None => continue,
            };
            for value in values.into_iter().filter(|v| v.as_str() == Some(from)) {
                *value = serde_json::Value::String(to.to_string());
                changed = true;
            }
        }
    }
    changed
}
