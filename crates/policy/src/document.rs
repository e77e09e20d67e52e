//! Policy documents: the JSON grammar, checked as IAM checks it, compiled into
//! statements ready to evaluate.

use serde_json::{Map, Value};

use crate::condition::{Condition, Operator};
use crate::PolicyError;

/// What a document is used as; it decides which elements are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Inline or managed policies of users, groups and roles; permissions boundaries.
    Identity,
    /// Resource-based policies: role trust policies, key policies, bucket policies.
    Resource,
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

/// A string or an array of strings (IAM accepts both almost everywhere).
fn strings(value: &Value, element: &str) -> Result<Vec<String>, PolicyError> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    malformed(format!("Syntax errors in policy. {element} must be a string or an array of strings."))
                })
            })
            .collect(),
        _ => Err(malformed(format!("Syntax errors in policy. {element} must be a string or an array of strings."))),
    }
}

fn check_action(action: &str) -> Result<(), PolicyError> {
    if action == "*" {
        return Ok(());
    }
    let Some((vendor, name)) = action.split_once(':') else {
        return Err(malformed("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."));
    };
    let vendor_ok =
        !vendor.is_empty() && vendor.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '*' || c == '?');
    let name_ok =
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | '?' | '-' | '_'));
    if vendor_ok && name_ok {
        Ok(())
    } else {
        Err(malformed(format!("Action vendor or name is invalid: {action}")))
    }
}

fn check_resource(resource: &str) -> Result<(), PolicyError> {
    if resource == "*" || resource.starts_with("arn:") {
        Ok(())
    } else {
        Err(malformed(format!("Resource {resource} must be in ARN format or \"*\".")))
    }
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
                for v in strings(values, "Principal")? {
                    out.push((kind.clone(), v));
                }
            }
            Ok(out)
        }
        _ => Err(malformed("Invalid principal in policy")),
    }
}

fn parse_statement(value: &Value, kind: PolicyKind) -> Result<Statement, PolicyError> {
    let Value::Object(map) = value else {
        return Err(malformed("Syntax errors in policy. Statement must be an object."));
    };
    const KNOWN: [&str; 10] = [
        "Sid",
        "Effect",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Principal",
        "NotPrincipal",
        "Condition",
        "Id",
    ];
    if let Some(unknown) = map.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(malformed(format!("Syntax errors in policy. Unknown field {unknown}")));
    }
    let sid = match map.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(malformed("Syntax errors in policy. Sid must be a string.")),
    };
    let effect = match map.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        Some(other) => return Err(malformed(format!("Invalid effect: {other}"))),
        None => return Err(malformed("Missing required field Effect")),
    };
    let actions = match (map.get("Action"), map.get("NotAction")) {
        (Some(_), Some(_)) => return Err(malformed("Statement cannot have both Action and NotAction.")),
        (Some(v), None) => Actions::Only(strings(v, "Action")?),
        (None, Some(v)) => Actions::AllBut(strings(v, "NotAction")?),
        (None, None) => return Err(malformed("Policy statement must contain actions.")),
    };
    let patterns = match &actions {
        Actions::Only(p) | Actions::AllBut(p) => p,
    };
    patterns.iter().try_for_each(|a| check_action(a))?;
    let actions = match actions {
        Actions::Only(p) => Actions::Only(p.iter().map(|a| a.to_ascii_lowercase()).collect()),
        Actions::AllBut(p) => Actions::AllBut(p.iter().map(|a| a.to_ascii_lowercase()).collect()),
    };
    let resources = match (map.get("Resource"), map.get("NotResource")) {
        (Some(_), Some(_)) => return Err(malformed("Statement cannot have both Resource and NotResource.")),
        (Some(v), None) => Some(Resources::Only(strings(v, "Resource")?)),
        (None, Some(v)) => Some(Resources::AllBut(strings(v, "NotResource")?)),
        (None, None) => None,
    };
    if let Some(Resources::Only(r) | Resources::AllBut(r)) = &resources {
        r.iter().try_for_each(|r| check_resource(r))?;
    }
    let principals = match (map.get("Principal"), map.get("NotPrincipal")) {
        (Some(_), Some(_)) => return Err(malformed("Statement cannot have both Principal and NotPrincipal.")),
        (Some(v), None) => Some(Principals::Only(parse_principals(v)?)),
        (None, Some(v)) => Some(Principals::AllBut(parse_principals(v)?)),
        (None, None) => None,
    };
    match kind {
        PolicyKind::Identity | PolicyKind::ServiceControl => {
            if principals.is_some() {
                return Err(malformed("Policy document should not specify a principal."));
            }
            if resources.is_none() {
                return Err(malformed("Policy statement must contain resources."));
            }
        }
        PolicyKind::Resource => {
            if principals.is_none() {
                return Err(malformed("Policy document should specify a principal."));
            }
        }
    }
    let conditions = match map.get("Condition") {
        None => Vec::new(),
        Some(v) => parse_conditions(v)?,
    };
    Ok(Statement { sid, effect, actions, resources, principals, conditions })
}

fn parse_conditions(value: &Value) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(block) = value else {
        return Err(malformed("Syntax errors in policy. Condition must be an object."));
    };
    let mut out = Vec::new();
    for (operator, keys) in block {
        let operator =
            Operator::parse(operator).ok_or_else(|| malformed(format!("Invalid Condition type : {operator}.")))?;
        let Value::Object(keys) = keys else {
            return Err(malformed("Syntax errors in policy. A condition operator must map keys to values."));
        };
        for (key, values) in keys {
            let values = condition_values(values)?;
            out.push(Condition::new(operator.clone(), key, values)?);
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
        _ => Err(malformed("Syntax errors in policy. Condition values must be strings, numbers or booleans.")),
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

    /// Parses and validates a policy document of `kind`.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        let value: Value = serde_json::from_str(text).map_err(|_| malformed("Syntax errors in policy."))?;
        let Value::Object(map) = value else {
            return Err(malformed("Syntax errors in policy."));
        };
        Policy::from_map(&map, kind)
    }

    fn from_map(map: &Map<String, Value>, kind: PolicyKind) -> Result<Policy, PolicyError> {
        if let Some(unknown) = map.keys().find(|k| !matches!(k.as_str(), "Version" | "Statement" | "Id")) {
            return Err(malformed(format!("Syntax errors in policy. Unknown field {unknown}")));
        }
        let version = match map.get("Version") {
            None => Version::V2008,
            Some(Value::String(v)) if v == "2012-10-17" => Version::V2012,
            Some(Value::String(v)) if v == "2008-10-17" => Version::V2008,
            Some(_) => return Err(malformed("The policy failed legacy parsing")),
        };
        let statements = match map.get("Statement") {
            Some(Value::Array(items)) if !items.is_empty() => {
                items.iter().map(|s| parse_statement(s, kind)).collect::<Result<Vec<_>, _>>()?
            }
            Some(v @ Value::Object(_)) => vec![parse_statement(v, kind)?],
            Some(_) => {
                return Err(malformed("Syntax errors in policy. Statement must be an object or a non-empty array."))
            }
            None => return Err(malformed("Syntax errors in policy. Missing required field Statement")),
        };
        let mut sids = std::collections::HashSet::new();
        for sid in statements.iter().filter_map(|s| s.sid.as_deref()) {
            if !sids.insert(sid) {
                return Err(malformed(format!("Statement IDs (SID) in a single policy must be unique: {sid}")));
            }
        }
        let index = ActionIndex::build(&statements);
        Ok(Policy { version, statements, index })
    }
}
