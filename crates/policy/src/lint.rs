//! Advice on a policy that IAM accepts but that cannot work as written, from
//! AWS's action catalog: the checks of IAM Access Analyzer's `ValidatePolicy`
//! that need the Service Authorization Reference, under its issue codes.
//!
//! Findings never change whether a policy is valid; `Policy::parse` decides that.

use std::fmt;

use serde_json::{Map, Value};

use crate::catalog::{catalog, global_condition_key, ActionInfo, Catalog, ServiceInfo, ValueType};

/// Access Analyzer's classes of finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingType {
    /// A part of the policy does nothing (an unknown action, a key no request has).
    Error,
    /// The policy may grant more than it seems to.
    SecurityWarning,
    /// The policy probably does not work as meant.
    Warning,
}

/// One piece of advice about a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub finding_type: FindingType,
    /// Access Analyzer's issue code, e.g. `INVALID_ACTION`.
    pub issue_code: &'static str,
    /// Where in the document, e.g. `Statement[0].Action[1]`.
    pub location: String,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}: {}", self.issue_code, self.location, self.message)
    }
}

/// Checks a policy document (one `Policy::parse` accepted) against the action
/// catalog; parts it cannot read are skipped, not reported.
pub fn lint(text: &str) -> Vec<Finding> {
    let catalog = catalog();
    let mut out = Vec::new();
    let Ok(Value::Object(document)) = serde_json::from_str::<Value>(text) else { return out };
    if catalog.services().is_empty() {
        return out;
    }
    match document.get("Statement") {
        Some(Value::Array(statements)) => {
            for (i, statement) in statements.iter().enumerate() {
                if let Value::Object(statement) = statement {
                    lint_statement(catalog, &format!("Statement[{i}]"), statement, &mut out);
                }
            }
        }
        Some(Value::Object(statement)) => lint_statement(catalog, "Statement", statement, &mut out),
        _ => {}
    }
    out
}

/// What one entry of `Action` stands for, as far as condition keys go.
enum Scope<'c> {
    /// `*`, a wildcard service or an unknown action: not checked.
    Unknown,
    /// One action of the catalog.
    One(&'c ServiceInfo, &'c ActionInfo),
    /// A wildcard within one service.
    Service(&'c ServiceInfo),
}

/// A string or an array of strings, each with its location.
fn entries<'v>(value: Option<&'v Value>, location: &str) -> Vec<(String, &'v str)> {
    match value {
        Some(Value::String(s)) => vec![(location.to_string(), s.as_str())],
        Some(Value::Array(items)) => {
            items.iter().enumerate().filter_map(|(i, v)| v.as_str().map(|s| (format!("{location}[{i}]"), s))).collect()
        }
        _ => Vec::new(),
    }
}

fn lint_statement(catalog: &Catalog, location: &str, statement: &Map<String, Value>, out: &mut Vec<Finding>) {
    let mut scope = Vec::new();
    for element in ["Action", "NotAction"] {
        for (at, action) in entries(statement.get(element), &format!("{location}.{element}")) {
            let resolved = check_action(catalog, &at, action, out);
            if element == "Action" {
                scope.push((action, resolved));
            }
        }
    }
    let Some(Value::Object(block)) = statement.get("Condition") else { return };
    for (operator, keys) in block {
        let Value::Object(keys) = keys else { continue };
        for key in keys.keys() {
            let at = format!("{location}.Condition.{operator}.{key}");
            check_condition(catalog, &at, operator, key, &scope, out);
        }
    }
}

fn finding(finding_type: FindingType, issue_code: &'static str, location: &str, message: String) -> Finding {
    Finding { finding_type, issue_code, location: location.to_string(), message }
}

fn check_action<'c>(catalog: &'c Catalog, at: &str, action: &str, out: &mut Vec<Finding>) -> Scope<'c> {
    let Some((prefix, name)) = action.split_once(':') else { return Scope::Unknown };
    let wildcard = |s: &str| s.contains(['*', '?']);
    if wildcard(prefix) {
        if catalog.actions_matching(action).is_empty() {
            let message = format!("`{action}` matches no action of any service");
            out.push(finding(FindingType::Error, "INVALID_ACTION", at, message));
        }
        return Scope::Unknown;
    }
    let Some(service) = catalog.service(prefix) else {
        let hint = closest(prefix, catalog.services().iter().map(|s| s.prefix))
            .map(|p| format!("; did you mean `{p}`?"))
            .unwrap_or_default();
        let message = format!("the service `{prefix}` in `{action}` does not exist{hint}");
        out.push(finding(FindingType::Error, "INVALID_SERVICE_IN_ACTION", at, message));
        return Scope::Unknown;
    };
    if wildcard(name) {
        if service.actions_matching(name).is_empty() {
            let message = format!("`{action}` matches no action of the service `{}`", service.prefix);
            out.push(finding(FindingType::Error, "INVALID_ACTION", at, message));
            return Scope::Unknown;
        }
        return Scope::Service(service);
    }
    match service.action(name) {
        Some(info) => Scope::One(service, info),
        None => {
            let hint = closest(name, service.actions().iter().map(|a| a.name))
                .map(|n| format!("; did you mean `{}:{n}`?", service.prefix))
                .unwrap_or_default();
            let message = format!("the action `{action}` does not exist{hint}");
            out.push(finding(FindingType::Error, "INVALID_ACTION", at, message));
            Scope::Unknown
        }
    }
}

/// The candidate nearest to `word` by edit distance ignoring case, if it is near
/// enough to be a likely typo.
fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (1 + word.len() / 8).min(3);
    candidates.map(|c| (distance(word, c), c)).filter(|(d, _)| *d <= limit).min_by_key(|(d, _)| *d).map(|(_, c)| c)
}

/// Levenshtein distance ignoring ASCII case.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<u8> = b.bytes().map(|c| c.to_ascii_lowercase()).collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().map(|c| c.to_ascii_lowercase()).enumerate() {
        let mut row = Vec::with_capacity(previous.len());
        row.push(i + 1);
        for ((cb, diagonal), up) in b.iter().zip(&previous).zip(previous.iter().skip(1)) {
            let left = row.last().copied().unwrap_or(usize::MAX - 1);
            row.push((diagonal + usize::from(ca != *cb)).min(up + 1).min(left + 1));
        }
        previous = row;
    }
    previous.last().copied().unwrap_or_default()
}

/// The kind of values a condition operator compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operand {
    String,
    Numeric,
    Date,
    Bool,
    Binary,
    IpAddress,
    Arn,
    Null,
}

/// `ForAllValues:StringLikeIfExists` → (String, is `StringLike`, ForAllValues).
fn operand(operator: &str) -> Option<(Operand, bool, bool)> {
    let (for_all, rest) = match operator.strip_prefix("ForAllValues:") {
        Some(rest) => (true, rest),
        None => (false, operator.strip_prefix("ForAnyValue:").unwrap_or(operator)),
    };
    let base = rest.strip_suffix("IfExists").unwrap_or(rest);
    let kind = if base.starts_with("String") {
        Operand::String
    } else if base.starts_with("Numeric") {
        Operand::Numeric
    } else if base.starts_with("Date") {
        Operand::Date
    } else if base == "Bool" {
        Operand::Bool
    } else if base == "BinaryEquals" {
        Operand::Binary
    } else if base == "IpAddress" || base == "NotIpAddress" {
        Operand::IpAddress
    } else if base.starts_with("Arn") {
        Operand::Arn
    } else if base == "Null" {
        Operand::Null
    } else {
        return None;
    };
    Some((kind, base == "StringLike", for_all))
}

/// The operators that suit a key type, as the message names them.
fn suitable(value: ValueType) -> &'static str {
    match value {
        ValueType::String => "String",
        ValueType::Arn => "ARN",
        ValueType::Bool => "Bool",
        ValueType::Date => "Date",
        ValueType::Numeric => "Numeric",
        ValueType::IpAddress => "IP address",
        ValueType::DateOrNumeric => "Date or Numeric",
    }
}

fn check_condition(
    catalog: &Catalog,
    at: &str,
    operator: &str,
    key: &str,
    scope: &[(&str, Scope)],
    out: &mut Vec<Finding>,
) {
    let Some((prefix, _)) = key.split_once(':') else { return };
    let key_type = match global_condition_key(key) {
        Some(t) => t,
        None if prefix.eq_ignore_ascii_case("aws") => {
            let message = format!("`{key}` is not one of AWS's global condition keys");
            out.push(finding(FindingType::Error, "INVALID_GLOBAL_CONDITION_KEY", at, message));
            return;
        }
        None => match catalog.condition_key_type(key) {
            Some(t) => {
                check_key_applies(at, key, scope, out);
                t
            }
            // Keys of identity providers (`accounts.google.com:aud`, an OIDC
            // issuer's `…:sub`) are not in the reference.
            None if prefix.contains(['.', '/']) => return,
            None => {
                let (code, message) = if key_prefix_known(catalog, prefix) {
                    ("INVALID_SERVICE_CONDITION_KEY", format!("the service `{prefix}` has no condition key `{key}`"))
                } else {
                    ("INVALID_SERVICE", format!("no service has the prefix `{prefix}` of condition key `{key}`"))
                };
                out.push(finding(FindingType::Error, code, at, message));
                return;
            }
        },
    };
    let Some((operand, string_like, for_all)) = operand(operator) else { return };
    let fits = matches!(
        (operand, key_type.value),
        (Operand::Null | Operand::Binary, _)
            | (Operand::String, ValueType::String | ValueType::Arn)
            | (Operand::Numeric, ValueType::Numeric | ValueType::DateOrNumeric)
            | (Operand::Date, ValueType::Date | ValueType::DateOrNumeric)
            | (Operand::Bool, ValueType::Bool)
            | (Operand::IpAddress, ValueType::IpAddress)
            | (Operand::Arn, ValueType::Arn)
    );
    if !fits {
        let message =
            format!("`{key}` is of type {key_type}: use a {} operator, not `{operator}`", suitable(key_type.value));
        out.push(finding(FindingType::Warning, "TYPE_MISMATCH", at, message));
    } else if string_like && key_type.value == ValueType::Arn {
        let message = format!("`{key}` holds ARNs: compare it with `ArnLike`, not `{operator}`");
        out.push(finding(FindingType::SecurityWarning, "STRING_LIKE_OPERATOR_WITH_ARN_CONDITION_KEYS", at, message));
    }
    if for_all && !key_type.multivalued && operand != Operand::Null {
        let message = format!(
            "`{key}` has a single value; `ForAllValues:` also holds when a request lacks it, which can grant \
             more than meant: drop the qualifier"
        );
        out.push(finding(FindingType::SecurityWarning, "FORALLVALUES_WITH_SINGLE_VALUED_KEY", at, message));
    }
}

/// Whether some service, or some key of the catalog, uses `prefix` (`saml:` keys are STS's).
fn key_prefix_known(catalog: &Catalog, prefix: &str) -> bool {
    catalog.service(prefix).is_some()
        || catalog.services().iter().any(|s| {
            s.condition_keys()
                .iter()
                .any(|(k, _)| k.split_once(':').is_some_and(|(p, _)| p.eq_ignore_ascii_case(prefix)))
        })
}

/// A service key in a statement whose actions' requests do not carry it: the
/// condition cannot hold for them (or always holds, for a negated operator).
fn check_key_applies(at: &str, key: &str, scope: &[(&str, Scope)], out: &mut Vec<Finding>) {
    let lacking: Vec<String> = scope
        .iter()
        .filter(|(_, s)| match s {
            Scope::Unknown => false,
            Scope::One(service, action) => !service.action_has_key(action, key),
            Scope::Service(service) => service.condition_key(key).is_none(),
        })
        .map(|(written, _)| format!("`{written}`"))
        .collect();
    if !lacking.is_empty() {
        let message = format!(
            "requests for {} do not carry `{key}`, so this condition does not test them: move them to a \
             statement without it",
            lacking.join(", ")
        );
        out.push(finding(FindingType::Error, "UNSUPPORTED_ACTION_FOR_CONDITION_KEY", at, message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The findings for a statement with `actions` and `condition`, as `CODE at LOCATION`.
    fn check(actions: &str, condition: &str, want: &[&str]) {
        let condition = if condition.is_empty() { String::new() } else { format!(r#","Condition":{condition}"#) };
        let text = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":{actions},"Resource":"*"{condition}}}]}}"#
        );
        assert!(crate::Policy::parse(&text, crate::PolicyKind::Identity).is_ok(), "not a valid policy: {text}");
        let got: Vec<String> = lint(&text).iter().map(|f| format!("{} at {}", f.issue_code, f.location)).collect();
        assert_eq!(got, want, "{text}\n{:#?}", lint(&text));
    }

    #[test]
    fn actions() {
        check(r#"["iam:GetUser","IAM:listusers","iam:Get*","*","*:Get*","s3:*"]"#, "", &[]);
        check(r#""iam:GetUsr""#, "", &["INVALID_ACTION at Statement[0].Action"]);
        check(r#"["iam:GetUser","iam:Gett*"]"#, "", &["INVALID_ACTION at Statement[0].Action[1]"]);
        check(r#"["iamm:GetUser"]"#, "", &["INVALID_SERVICE_IN_ACTION at Statement[0].Action[0]"]);
    }

    #[test]
    fn suggestions() {
        let text =
            r#"{"Statement":{"Effect":"Allow","NotAction":["iam:GetUsr","iamm:GetUser","iam:Xyzzy"],"Resource":"*"}}"#;
        let messages: Vec<String> = lint(text).into_iter().map(|f| f.to_string()).collect();
        assert_eq!(
            messages,
            [
                "INVALID_ACTION at Statement.NotAction[0]: the action `iam:GetUsr` does not exist; did you mean `iam:GetUser`?",
                "INVALID_SERVICE_IN_ACTION at Statement.NotAction[1]: the service `iamm` in `iamm:GetUser` does not exist; did you mean `iam`?",
                "INVALID_ACTION at Statement.NotAction[2]: the action `iam:Xyzzy` does not exist",
            ]
        );
        assert_eq!(distance("GetUsr", "getuser"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn condition_keys() {
        let at = |op: &str, key: &str| format!("Statement[0].Condition.{op}.{key}");
        let ok = [
            (r#""iam:CreateUser""#, r#"{"StringEquals":{"iam:PermissionsBoundary":"arn:aws:iam::1:policy/b"}}"#),
            (r#""sts:AssumeRole""#, r#"{"StringEquals":{"sts:ExternalId":"x"}}"#),
            (r#""sts:AssumeRoleWithSAML""#, r#"{"StringEquals":{"saml:aud":"https://signin.aws.amazon.com/saml"}}"#),
            (
                r#""sts:AssumeRoleWithWebIdentity""#,
                r#"{"StringEquals":{"accounts.google.com:aud":"x","token.actions.githubusercontent.com:sub":"repo:o/r:ref:refs/heads/main"}}"#,
            ),
            (
                r#""kms:Decrypt""#,
                r#"{"StringEquals":{"kms:EncryptionContext:Dept":"hr","kms:ViaService":"s3.eu-west-1.amazonaws.com"}}"#,
            ),
            (
                r#""iam:GetRole""#,
                r#"{"StringEquals":{"iam:ResourceTag/team":"a","aws:ResourceTag/team":"a","aws:PrincipalTag/team":"a"}}"#,
            ),
            (r#""s3:*""#, r#"{"StringLike":{"s3:prefix":"home/*"}}"#),
            (r#""*""#, r#"{"StringEquals":{"s3:prefix":"x"}}"#),
            (r#""s3:GetObject""#, r#"{"ArnEquals":{"ec2:SourceInstanceArn":"arn:aws:ec2:*:*:instance/i-1"}}"#),
        ];
        for (actions, condition) in ok {
            check(actions, condition, &[]);
        }
        check(
            r#""iam:GetUser""#,
            r#"{"StringEquals":{"aws:SourceIpp":"x"}}"#,
            &[&format!("INVALID_GLOBAL_CONDITION_KEY at {}", at("StringEquals", "aws:SourceIpp"))],
        );
        check(
            r#""iam:GetUser""#,
            r#"{"StringEquals":{"iam:NoSuchKey":"x"}}"#,
            &[&format!("INVALID_SERVICE_CONDITION_KEY at {}", at("StringEquals", "iam:NoSuchKey"))],
        );
        check(
            r#""iam:GetUser""#,
            r#"{"StringEquals":{"zzz:Key":"x"}}"#,
            &[&format!("INVALID_SERVICE at {}", at("StringEquals", "zzz:Key"))],
        );
        let unsupported =
            format!("UNSUPPORTED_ACTION_FOR_CONDITION_KEY at {}", at("StringEquals", "iam:PassedToService"));
        check(
            r#"["iam:PassRole","iam:GetRole"]"#,
            r#"{"StringEquals":{"iam:PassedToService":"ec2.amazonaws.com"}}"#,
            &[&unsupported],
        );
        check(r#"["s3:Get*"]"#, r#"{"StringEquals":{"iam:PassedToService":"ec2.amazonaws.com"}}"#, &[&unsupported]);
        check(r#"["iam:Pass*"]"#, r#"{"StringEquals":{"iam:PassedToService":"ec2.amazonaws.com"}}"#, &[]);
    }

    #[test]
    fn operators_and_key_types() {
        let at = |op: &str, key: &str| format!("Statement[0].Condition.{op}.{key}");
        let fine = [
            ("IpAddress", "aws:SourceIp", r#""10.0.0.0/8""#),
            ("NotIpAddressIfExists", "aws:SourceIp", r#""10.0.0.0/8""#),
            ("DateGreaterThan", "aws:CurrentTime", r#""2020-01-01T00:00:00Z""#),
            ("NumericLessThan", "aws:EpochTime", "1700000000"),
            ("DateLessThan", "aws:EpochTime", "1700000000"),
            ("Bool", "aws:SecureTransport", r#""true""#),
            ("NumericLessThan", "aws:MultiFactorAuthAge", "3600"),
            ("ArnLike", "aws:PrincipalArn", r#""arn:aws:iam::*:role/x""#),
            ("StringEquals", "aws:PrincipalArn", r#""arn:aws:iam::1:role/x""#),
            ("ForAllValues:StringEquals", "aws:TagKeys", r#""team""#),
            ("ForAnyValue:StringLike", "aws:CalledVia", r#""*.amazonaws.com""#),
            ("Null", "aws:SourceIp", r#""true""#),
            ("StringEqualsIgnoreCase", "aws:username", r#""bob""#),
        ];
        for (op, key, value) in fine {
            check(r#""iam:GetUser""#, &format!(r#"{{"{op}":{{"{key}":{value}}}}}"#), &[]);
        }
        let warned = [
            ("DateEquals", "aws:username", r#""2020-01-01""#, "TYPE_MISMATCH"),
            ("StringEquals", "aws:SecureTransport", r#""true""#, "TYPE_MISMATCH"),
            ("StringLike", "aws:SourceIp", r#""10.*""#, "TYPE_MISMATCH"),
            ("ArnLike", "aws:username", r#""arn:*""#, "TYPE_MISMATCH"),
            ("NumericEquals", "aws:CurrentTime", "1", "TYPE_MISMATCH"),
            (
                "StringLike",
                "aws:PrincipalArn",
                r#""arn:aws:iam::*:role/x""#,
                "STRING_LIKE_OPERATOR_WITH_ARN_CONDITION_KEYS",
            ),
            (
                "ForAllValues:StringEquals",
                "aws:RequestedRegion",
                r#""eu-west-1""#,
                "FORALLVALUES_WITH_SINGLE_VALUED_KEY",
            ),
        ];
        for (op, key, value, code) in warned {
            check(
                r#""iam:GetUser""#,
                &format!(r#"{{"{op}":{{"{key}":{value}}}}}"#),
                &[&format!("{code} at {}", at(op, key))],
            );
        }
        let service_key = format!("TYPE_MISMATCH at {}", at("DateEquals", "iam:PolicyARN"));
        check(r#""iam:AttachUserPolicy""#, r#"{"DateEquals":{"iam:PolicyARN":"2020-01-01"}}"#, &[&service_key]);
    }

    #[test]
    fn unreadable_documents_have_no_findings() {
        assert!(lint("{not json").is_empty());
        assert!(lint("[]").is_empty());
        assert!(lint(r#"{"Statement":"x"}"#).is_empty());
    }
}
