//! Condition operators and the request context they read.

use std::collections::HashMap;
use std::net::IpAddr;

use base64::Engine;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::glob::{arn_matches, matches as glob};
use crate::variables::substitute;
use crate::PolicyError;

/// The condition keys of a request. Keys match ignoring case, as in IAM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    values: HashMap<String, Vec<String>>,
}

impl Context {
    pub fn new() -> Context {
        Context::default()
    }

    /// Sets a single-valued key.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(key.to_ascii_lowercase(), vec![value.into()]);
    }

    /// Sets a multi-valued key (e.g. `aws:TagKeys`).
    pub fn set_all(&mut self, key: &str, values: Vec<String>) {
        self.values.insert(key.to_ascii_lowercase(), values);
    }

    pub fn get(&self, key: &str) -> Option<&[String]> {
        if key.bytes().any(|b| b.is_ascii_uppercase()) {
            self.values.get(&key.to_ascii_lowercase()).map(Vec::as_slice)
        } else {
            self.values.get(key).map(Vec::as_slice)
        }
    }

    /// `get` for a key already lower-cased (compiled conditions): no allocation.
    pub(crate) fn get_lowercase(&self, key: &str) -> Option<&[String]> {
        self.values.get(key).map(Vec::as_slice)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

const BASES: [(&str, Base); 27] = [
    ("StringEquals", Base::StringEquals),
    ("StringNotEquals", Base::StringNotEquals),
    ("StringEqualsIgnoreCase", Base::StringEqualsIgnoreCase),
    ("StringNotEqualsIgnoreCase", Base::StringNotEqualsIgnoreCase),
    ("StringLike", Base::StringLike),
    ("StringNotLike", Base::StringNotLike),
    ("NumericEquals", Base::NumericEquals),
    ("NumericNotEquals", Base::NumericNotEquals),
    ("NumericLessThan", Base::NumericLessThan),
    ("NumericLessThanEquals", Base::NumericLessThanEquals),
    ("NumericGreaterThan", Base::NumericGreaterThan),
    ("NumericGreaterThanEquals", Base::NumericGreaterThanEquals),
    ("DateEquals", Base::DateEquals),
    ("DateNotEquals", Base::DateNotEquals),
    ("DateLessThan", Base::DateLessThan),
    ("DateLessThanEquals", Base::DateLessThanEquals),
    ("DateGreaterThan", Base::DateGreaterThan),
    ("DateGreaterThanEquals", Base::DateGreaterThanEquals),
    ("Bool", Base::Bool),
    ("BinaryEquals", Base::BinaryEquals),
    ("IpAddress", Base::IpAddress),
    ("NotIpAddress", Base::NotIpAddress),
    ("ArnEquals", Base::ArnEquals),
    ("ArnLike", Base::ArnLike),
    ("ArnNotEquals", Base::ArnNotEquals),
    ("ArnNotLike", Base::ArnNotLike),
    ("Null", Base::Null),
];

impl Base {
    /// Negated operators hold when no value matches (and when the key is absent).
    fn negated(self) -> bool {
        matches!(
            self,
            Base::StringNotEquals
                | Base::StringNotEqualsIgnoreCase
                | Base::StringNotLike
                | Base::NumericNotEquals
                | Base::DateNotEquals
                | Base::NotIpAddress
                | Base::ArnNotEquals
                | Base::ArnNotLike
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    ForAllValues,
    ForAnyValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Operator {
    base: Base,
    if_exists: bool,
    set: Option<SetQualifier>,
}

impl Operator {
    pub(crate) fn parse(name: &str) -> Option<Operator> {
        let (set, rest) = if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (Some(SetQualifier::ForAllValues), rest)
        } else if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), rest)
        } else {
            (None, name)
        };
        let (rest, if_exists) = match rest.strip_suffix("IfExists") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let base = BASES.iter().find(|(n, _)| *n == rest).map(|(_, b)| *b)?;
        if base == Base::Null && (if_exists || set.is_some()) {
            return None;
        }
        Some(Operator { base, if_exists, set })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    operator: Operator,
    /// Lower-cased: condition keys match ignoring case.
    key: String,
    /// As written in the policy, for listings.
    name: String,
    values: Vec<String>,
    /// Whether any value holds a policy variable (substituted per request).
    has_variables: bool,
}

fn parse_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|f| f.is_finite())
}

fn parse_date(text: &str) -> Option<i128> {
    if let Some(seconds) = parse_number(text) {
        return Some((seconds * 1000.0) as i128);
    }
    let t = OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&format!("{text}T00:00:00Z"), &Rfc3339))
        .or_else(|_| OffsetDateTime::parse(&format!("{text}Z"), &Rfc3339))
        .ok()?;
    Some(t.unix_timestamp_nanos() / 1_000_000)
}

/// `10.0.0.0/8`, `2001:db8::/32` or a single address.
fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = match text.trim().split_once('/') {
        Some((a, b)) => (a.parse::<IpAddr>().ok()?, b.parse::<u8>().ok()?),
        None => {
            let a = text.trim().parse::<IpAddr>().ok()?;
            (a, if a.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((addr, bits))
}

fn in_cidr(ip: &str, cidr: &str) -> bool {
    let (Ok(ip), Some((net, bits))) = (ip.trim().parse::<IpAddr>(), parse_cidr(cidr)) else { return false };
    let (ip, net, width) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b)), 32u32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128u32),
        _ => return false,
    };
    let bits = u32::from(bits);
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    (ip >> shift) == (net >> shift)
}

impl Condition {
    /// Checks the policy's values fit the operator (numbers, dates, CIDRs, booleans).
    pub(crate) fn new(operator: Operator, key: &str, values: Vec<String>) -> Result<Condition, PolicyError> {
        let bad = |v: &str, what: &str| PolicyError::Malformed(format!("Invalid {what} in condition value: {v}"));
        for v in values.iter().filter(|v| !v.contains("${")) {
            let ok = match operator.base {
                Base::NumericEquals
                | Base::NumericNotEquals
                | Base::NumericLessThan
                | Base::NumericLessThanEquals
                | Base::NumericGreaterThan
                | Base::NumericGreaterThanEquals => parse_number(v).is_some(),
                Base::DateEquals
                | Base::DateNotEquals
                | Base::DateLessThan
                | Base::DateLessThanEquals
                | Base::DateGreaterThan
                | Base::DateGreaterThanEquals => parse_date(v).is_some(),
                Base::IpAddress | Base::NotIpAddress => parse_cidr(v).is_some(),
                Base::Bool | Base::Null => v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false"),
                Base::BinaryEquals => base64::engine::general_purpose::STANDARD.decode(v).is_ok(),
                _ => true,
            };
            if !ok {
                return Err(bad(v, &format!("{:?}", operator.base)));
            }
        }
        if !key.contains(':') {
            return Err(PolicyError::Malformed(
                "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.".to_string(),
            ));
        }
        let has_variables = values.iter().any(|v| v.contains("${"));
        Ok(Condition { operator, key: key.to_ascii_lowercase(), name: key.to_string(), values, has_variables })
    }

    /// The key as written in the policy.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The key as written, and the variables its values use.
    pub(crate) fn keys(&self) -> impl Iterator<Item = String> + '_ {
        std::iter::once(self.name.clone()).chain(self.values.iter().flat_map(|v| crate::variables::names(v)))
    }

    /// Whether the request's context has this condition's key.
    pub(crate) fn key_present(&self, context: &Context) -> bool {
        context.get_lowercase(&self.key).is_some()
    }

    /// The positive test of one request value against one policy value.
    fn value_matches(&self, request: &str, policy: &str) -> bool {
        use Base::*;
        let num = || parse_number(request).zip(parse_number(policy));
        let date = || parse_date(request).zip(parse_date(policy));
        match self.operator.base {
            StringEquals | StringNotEquals => request == policy,
            StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => request.to_lowercase() == policy.to_lowercase(),
            StringLike | StringNotLike => glob(policy, request),
            NumericEquals | NumericNotEquals => num().is_some_and(|(a, b)| a == b),
            NumericLessThan => num().is_some_and(|(a, b)| a < b),
            NumericLessThanEquals => num().is_some_and(|(a, b)| a <= b),
            NumericGreaterThan => num().is_some_and(|(a, b)| a > b),
            NumericGreaterThanEquals => num().is_some_and(|(a, b)| a >= b),
            DateEquals | DateNotEquals => date().is_some_and(|(a, b)| a == b),
            DateLessThan => date().is_some_and(|(a, b)| a < b),
            DateLessThanEquals => date().is_some_and(|(a, b)| a <= b),
            DateGreaterThan => date().is_some_and(|(a, b)| a > b),
            DateGreaterThanEquals => date().is_some_and(|(a, b)| a >= b),
            Bool => request.eq_ignore_ascii_case(policy),
            BinaryEquals => {
                let b64 = base64::engine::general_purpose::STANDARD;
                matches!((b64.decode(request), b64.decode(policy)), (Ok(a), Ok(b)) if a == b)
            }
            IpAddress | NotIpAddress => in_cidr(request, policy),
            ArnEquals | ArnLike | ArnNotEquals | ArnNotLike => arn_matches(policy, request),
            Null => false,
        }
    }

    /// Whether one request value passes: for positive operators it matches some
    /// policy value, for negated ones it matches none.
    fn request_value_passes(&self, request: &str, policy_values: &[String]) -> bool {
        let any = policy_values.iter().any(|p| self.value_matches(request, p));
        any != self.operator.base.negated()
    }

    /// Evaluates the condition against the request's context.
    pub(crate) fn holds(&self, context: &Context, variables: bool) -> bool {
        let request = context.get_lowercase(&self.key).filter(|v| !v.is_empty());
        let substituted: Vec<String>;
        let policy_values: &[String] = if variables && self.has_variables {
            // A value whose variable cannot be resolved matches nothing.
            substituted = self.values.iter().filter_map(|v| substitute(v, context)).collect();
            &substituted
        } else {
            &self.values
        };
        if self.operator.base == Base::Null {
            let want_absent = policy_values.iter().any(|v| v.eq_ignore_ascii_case("true"));
            return request.is_none() == want_absent;
        }
        let Some(request) = request else {
            return match self.operator.set {
                Some(SetQualifier::ForAllValues) => true,
                Some(SetQualifier::ForAnyValue) => false,
                None => self.operator.if_exists || self.operator.base.negated(),
            };
        };
        match self.operator.set {
            Some(SetQualifier::ForAllValues) => request.iter().all(|r| self.request_value_passes(r, policy_values)),
            Some(SetQualifier::ForAnyValue) => request.iter().any(|r| self.request_value_passes(r, policy_values)),
            None if self.operator.base.negated() => request.iter().all(|r| self.request_value_passes(r, policy_values)),
            None => request.iter().any(|r| self.request_value_passes(r, policy_values)),
        }
    }
}
