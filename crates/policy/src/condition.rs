//! Condition operators and the request context they read.

use std::collections::HashMap;
use std::net::IpAddr;

use base64::Engine;

use crate::document::{Effect, LEGACY};
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

    /// Every key (lower-cased) with its values, sorted by key.
    pub fn entries(&self) -> Vec<(&str, &[String])> {
        let mut entries: Vec<(&str, &[String])> = self.values.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
        entries.sort_unstable_by_key(|(k, _)| *k);
        entries
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
    fn is_date(self) -> bool {
        matches!(
            self,
            Base::DateEquals
                | Base::DateNotEquals
                | Base::DateLessThan
                | Base::DateLessThanEquals
                | Base::DateGreaterThan
                | Base::DateGreaterThanEquals
        )
    }

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

/// An operator's name without its `ForAllValues:`/`ForAnyValue:` prefix and
/// its `IfExists` suffix.
fn base_name(name: &str) -> (Option<SetQualifier>, &str, bool) {
    let (set, rest) = if let Some(rest) = name.strip_prefix("ForAllValues:") {
        (Some(SetQualifier::ForAllValues), rest)
    } else if let Some(rest) = name.strip_prefix("ForAnyValue:") {
        (Some(SetQualifier::ForAnyValue), rest)
    } else {
        (None, name)
    };
    match rest.strip_suffix("IfExists") {
        Some(r) => (set, r, true),
        None => (set, rest, false),
    }
}

impl Operator {
    pub(crate) fn parse(name: &str) -> Option<Operator> {
        let (set, rest, if_exists) = base_name(name);
        let base = BASES.iter().find(|(n, _)| *n == rest).map(|(_, b)| *b)?;
        if base == Base::Null && (if_exists || set.is_some()) {
            return None;
        }
        Some(Operator { base, if_exists, set })
    }

    /// Whether IAM knows the operator (it refuses unknown ones unless their
    /// block is empty). `NullIfExists` and the like are known to IAM, though
    /// Rampart refuses them.
    pub(crate) fn known(name: &str) -> bool {
        let (_, rest, _) = base_name(name);
        BASES.iter().any(|(n, _)| *n == rest)
    }

    /// Whether IAM reads the operator's values as dates (any name whose base
    /// starts with `Date`).
    pub(crate) fn is_date(name: &str) -> bool {
        base_name(name).1.starts_with("Date")
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
    /// What the condition evaluates to, whatever the request, when a value
    /// IAM accepts names no instant Rampart can be sure of (see
    /// [`DateValue::Unreadable`]): false in an Allow statement, true in a
    /// Deny statement, so such a value never widens an Allow nor narrows a Deny.
    unreadable: Option<bool>,
}

fn parse_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|f| f.is_finite())
}

/// A Date condition value as IAM reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateValue {
    /// Not a date to IAM: the policy fails legacy parsing.
    Invalid,
    /// Accepted by IAM's grammar but naming no instant Rampart can be sure
    /// of: a day the month lacks (`2016-02-31`), or text IAM ignores after
    /// the seconds (`12:00:00:99`, `+10:xx`). Evaluated fail-closed.
    Unreadable,
    /// Nanoseconds since the epoch.
    At(i128),
}

/// Python's `int()`, which IAM's date grammar leans on: optional sign and
/// digits, surrounding spaces allowed.
fn int_in(text: &str, low: i128, high: i128) -> Option<i128> {
    text.trim().parse::<i128>().ok().filter(|n| (low..=high).contains(n))
}

fn is_leap(year: i128) -> bool {
    year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0)
}

fn days_in_month(year: i128, month: i128) -> i128 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar.
fn days_from_civil(year: i128, month: i128, day: i128) -> i128 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Reads a Date condition value with IAM's grammar: epoch seconds (0 to
/// 2^63-1) when the text has no `t` or `-`; otherwise an ISO 8601 date,
/// leniently: years from -292275054 to 292278993, month, day and time parts
/// optional, one-digit hours, `t` in either case, a zone of `Z`, `+hh`,
/// `+hh:mm` (or, beyond IAM's checks, `-hh` and `-hh:mm`). Without a zone the
/// time is UTC.
pub(crate) fn read_date(text: &str) -> DateValue {
    use DateValue::{At, Invalid, Unreadable};
    const NANOS: i128 = 1_000_000_000;
    let lower = text.to_lowercase();
    if !lower.contains('t') && !text.contains('-') {
        return int_in(text, 0, i128::from(i64::MAX)).map_or(Invalid, |seconds| At(seconds * NANOS));
    }
    let (date, time) = lower.split_once('t').unwrap_or((lower.as_str(), ""));
    let (sign, body) = date.strip_prefix('-').map_or(("", date), |b| ("-", b));
    let parts: Vec<&str> = body.split('-').collect();
    let field = |i: usize, low: i128, high: i128| match parts.get(i) {
        None => Some(low),
        Some(text) => int_in(text, low, high),
    };
    let year = parts.first().and_then(|y| int_in(&format!("{sign}{y}"), -292_275_054, 292_278_993));
    let (Some(year), Some(month), Some(day), true) = (year, field(1, 1, 12), field(2, 1, 31), parts.len() < 4) else {
        return Invalid;
    };
    let times: Vec<&str> = time.split(':').collect();
    let hour = match times.first() {
        Some(h) if !h.is_empty() => int_in(h, 0, 23),
        _ => Some(0),
    };
    let minute = times.get(1).map_or(Some(0), |m| int_in(m, 0, 59));
    let (Some(hour), Some(minute)) = (hour, minute) else { return Invalid };
    let (mut second, mut nanos, mut offset, mut zone_sign) = (0, 0, 0, 0);
    if let Some(rest) = times.get(2) {
        let (seconds, zone) = if let Some((s, after)) = rest.split_once('z') {
            if !after.is_empty() {
                return Invalid;
            }
            (s, None)
        } else if let Some((s, zone)) = rest.split_once('+') {
            (s, Some((1, zone)))
        } else if let Some((s, zone)) = rest.split_once('-') {
            (s, Some((-1, zone)))
        } else {
            (*rest, None)
        };
        if let Some((sign, hours)) = zone {
            let Some(hours) = int_in(hours, 0, 23).filter(|_| hours.chars().count() == 2) else { return Invalid };
            (zone_sign, offset) = (sign, hours * 60);
        }
        let (whole, fraction) = seconds.split_once('.').map_or((seconds, None), |(w, f)| (w, Some(f)));
        let Some(whole) = int_in(whole, 0, 59) else { return Invalid };
        second = whole;
        if let Some(fraction) = fraction {
            if int_in(fraction, 0, 999_999_999).is_none() {
                return Invalid;
            }
            if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
                return Unreadable;
            }
            let padded = format!("{:0<9}", fraction.get(..9).unwrap_or(fraction));
            nanos = padded.parse::<i128>().unwrap_or_default();
        }
    }
    // IAM splits the time at every colon and reads three parts: a zone's
    // minutes come fourth; anything else there is text IAM ignores.
    match times.get(3) {
        None => {}
        Some(m) if times.len() == 4 && zone_sign != 0 && m.len() == 2 && m.bytes().all(|b| b.is_ascii_digit()) => {
            match int_in(m, 0, 59) {
                Some(m) => offset += m,
                None => return Unreadable,
            }
        }
        Some(_) => return Unreadable,
    }
    if day > days_in_month(year, month) {
        return Unreadable;
    }
    let seconds =
        days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second - zone_sign * offset * 60;
    At(seconds * NANOS + nanos)
}

fn parse_date(text: &str) -> Option<i128> {
    match read_date(text) {
        DateValue::At(t) => Some(t),
        DateValue::Invalid | DateValue::Unreadable => None,
    }
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
    /// Checks the policy's values fit the operator (numbers, dates, CIDRs,
    /// booleans); `effect` decides how a date IAM accepts but Rampart cannot
    /// be sure of is evaluated.
    pub(crate) fn new(
        operator: Operator,
        key: &str,
        values: Vec<String>,
        effect: Effect,
    ) -> Result<Condition, PolicyError> {
        let bad = |v: &str, what: &str| PolicyError::Malformed(format!("Invalid {what} in condition value: {v}"));
        let mut unreadable = None;
        for v in &values {
            if operator.base.is_date() {
                // Policy variables are not substituted in dates: IAM reads them as text.
                match read_date(v) {
                    DateValue::Invalid => return Err(PolicyError::Malformed(LEGACY.to_string())),
                    DateValue::Unreadable => unreadable = Some(effect == Effect::Deny),
                    DateValue::At(_) => {}
                }
                continue;
            }
            if v.contains("${") {
                continue;
            }
            let ok = match operator.base {
                Base::NumericEquals
                | Base::NumericNotEquals
                | Base::NumericLessThan
                | Base::NumericLessThanEquals
                | Base::NumericGreaterThan
                | Base::NumericGreaterThanEquals => parse_number(v).is_some(),
                Base::IpAddress | Base::NotIpAddress => parse_cidr(v).is_some(),
                Base::Bool | Base::Null => v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false"),
                Base::BinaryEquals => base64::engine::general_purpose::STANDARD.decode(v).is_ok(),
                _ => true,
            };
            if !ok {
                return Err(bad(v, &format!("{:?}", operator.base)));
            }
        }
        let has_variables = !operator.base.is_date() && values.iter().any(|v| v.contains("${"));
        Ok(Condition {
            operator,
            key: key.to_ascii_lowercase(),
            name: key.to_string(),
            values,
            has_variables,
            unreadable,
        })
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
        if let Some(holds) = self.unreadable {
            return holds;
        }
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
