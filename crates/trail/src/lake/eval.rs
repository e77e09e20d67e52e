//! Running a parsed Lake query over CloudTrail records: filtering,
//! grouping with aggregates, ordering, DISTINCT and LIMIT, with SQL's
//! three-valued logic (a comparison with NULL is neither true nor false).
//!
//! Pure: records are handed in one at a time ([`Execution::add`]) by
//! whoever reads them, so the same code answers StartQuery and `rampart
//! trail query`. What a query holds is bounded: at most `MAX_HELD` rows or
//! groups (an ORDER BY … LIMIT keeps only its best rows as it goes).

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value as Json;

use super::sql::{
    parse_timestamp, unit_millis, Aggregate, BinaryOp, Expr, Literal, Query, SelectItem, SqlType, SyntaxError,
};

/// How many result rows or groups a query may hold.
pub const MAX_HELD: usize = 100_000;
/// The longest string a query makes (replace, concat, `||`): no statement
/// of 10,000 characters may ask for gigabytes.
const MAX_STRING_BYTES: usize = 1 << 20;
/// How many bytes of keys, sets and rows a query may hold.
const MAX_HELD_BYTES: usize = 256 << 20;
/// How many steps of a LIKE match run between checks of the stop flag.
const STEPS_PER_CHECK: u64 = 1 << 20;

/// Why a query failed while it ran (its `ErrorMessage`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

fn fail<T>(message: impl Into<String>) -> Result<T, EvalError> {
    Err(EvalError(message.into()))
}

/// A value while a query runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Milliseconds since the epoch.
    Time(i64),
    /// Milliseconds.
    Interval(i64),
    /// An object or array of the record (a struct, map or array in Lake).
    Json(Json),
}

impl Val {
    fn of_json(value: &Json) -> Val {
        match value {
            Json::Null => Val::Null,
            Json::Bool(b) => Val::Bool(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Val::Int(i),
                None => n.as_f64().map_or(Val::Null, Val::Float),
            },
            Json::String(s) => Val::Str(s.clone()),
            other => Val::Json(other.clone()),
        }
    }

    fn of_literal(literal: &Literal) -> Val {
        match literal {
            Literal::Null => Val::Null,
            Literal::Bool(b) => Val::Bool(*b),
            Literal::Int(i) => Val::Int(*i),
            Literal::Float(f) => Val::Float(*f),
            Literal::Str(s) => Val::Str(s.clone()),
            Literal::Timestamp(t) => Val::Time(*t),
            Literal::Interval(ms) => Val::Interval(*ms),
        }
    }

    /// The value as a result cell shows it (`None` for NULL).
    pub fn text(&self) -> Option<String> {
        Some(match self {
            Val::Null => return None,
            Val::Bool(b) => b.to_string(),
            Val::Int(i) => i.to_string(),
            Val::Float(f) => f.to_string(),
            Val::Str(s) => s.clone(),
            Val::Time(ms) => format_time(*ms),
            Val::Interval(ms) => {
                let (sign, ms) = if *ms < 0 { ("-", ms.unsigned_abs()) } else { ("", ms.unsigned_abs()) };
                let (days, rest) = (ms / 86_400_000, ms % 86_400_000);
                let (h, m, s, f) = (rest / 3_600_000, rest / 60_000 % 60, rest / 1000 % 60, rest % 1000);
                format!("{sign}{days} {h:02}:{m:02}:{s:02}.{f:03}")
            }
            Val::Json(j) => j.to_string(),
        })
    }

    /// A canonical form: equal values (in GROUP BY and DISTINCT) have equal keys.
    fn key(&self, out: &mut String) {
        match self {
            Val::Null => out.push('n'),
            Val::Bool(b) => out.push(if *b { 't' } else { 'f' }),
            Val::Int(i) => {
                out.push('i');
                out.push_str(&i.to_string());
            }
            Val::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                out.push('i');
                out.push_str(&(*f as i64).to_string());
            }
            other => {
                out.push(match other {
                    Val::Float(_) => 'd',
                    Val::Time(_) => 'T',
                    Val::Interval(_) => 'I',
                    Val::Json(_) => 'j',
                    _ => 's',
                });
                out.push_str(&other.text().unwrap_or_default());
            }
        }
        out.push('\u{1f}');
    }

    fn truth(&self) -> Result<Option<bool>, EvalError> {
        match self {
            Val::Null => Ok(None),
            Val::Bool(b) => Ok(Some(*b)),
            other => fail(format!("A condition must be true or false, not {}.", describe(other))),
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Val::Int(i) => Some(*i as f64),
            Val::Float(f) => Some(*f),
            _ => None,
        }
    }
}

fn describe(value: &Val) -> String {
    match value {
        Val::Null => "NULL".into(),
        Val::Bool(b) => format!("the boolean {b}"),
        Val::Int(_) | Val::Float(_) => format!("the number {}", value.text().unwrap_or_default()),
        Val::Str(s) => format!("the string '{}'", s.chars().take(64).collect::<String>()),
        Val::Time(_) => format!("the timestamp {}", value.text().unwrap_or_default()),
        Val::Interval(_) => "an interval".into(),
        Val::Json(_) => "a structure".into(),
    }
}

/// A time as Lake shows it: `2024-05-01 12:30:00.000` (UTC).
pub fn format_time(ms: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        ),
        Err(_) => ms.to_string(),
    }
}

fn datetime(ms: i64) -> Result<time::OffsetDateTime, EvalError> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .or_else(|_| fail("A timestamp is out of range."))
}

/// A record as a query sees it.
#[derive(Debug, Clone, Copy)]
pub struct Row<'r> {
    pub record: &'r Json,
    /// Its `eventTime`, in milliseconds.
    pub time_ms: i64,
}

/// Where an expression's columns and aggregates come from.
enum Scope<'a> {
    /// Constants only (a column is an error).
    Const,
    Row(Row<'a>),
    /// After grouping: the group's keys (for expressions that are GROUP BY
    /// terms) and its aggregates' values.
    Group {
        group_by: &'a [Expr],
        keys: &'a [Val],
        aggregates: &'a [Expr],
        values: &'a [Val],
    },
}

fn member<'j>(value: &'j Json, name: &str) -> Option<&'j Json> {
    match value {
        Json::Object(map) => map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v),
        _ => None,
    }
}

fn column(row: Row<'_>, path: &[String]) -> Val {
    match path {
        [only] if only == "eventtime" => return Val::Time(row.time_ms),
        [only] if only == "eventjson" => return Val::Str(row.record.to_string()),
        _ => {}
    }
    let mut at = row.record;
    for part in path {
        match member(at, part) {
            Some(next) => at = next,
            None => return Val::Null,
        }
    }
    Val::of_json(at)
}

struct Evaluator {
    now_ms: i64,
    /// Set when the query is cancelled or runs out of time: the work of
    /// one row (a LIKE over a long text) stops too.
    stop: Option<Stop>,
}

/// What stops a running query: its cancel flag, or its deadline.
#[derive(Debug, Clone)]
pub struct Stop {
    pub cancelled: Arc<AtomicBool>,
    pub deadline: Instant,
}

impl Stop {
    /// Whether the query should stop now.
    pub fn now(&self) -> bool {
        self.cancelled.load(AtomicOrdering::Relaxed) || Instant::now() > self.deadline
    }
}

fn bounded(text: String) -> Result<Val, EvalError> {
    match text.len() > MAX_STRING_BYTES {
        true => fail(format!("A value is longer than {} MiB.", MAX_STRING_BYTES >> 20)),
        false => Ok(Val::Str(text)),
    }
}

impl Evaluator {
    fn eval(&self, expr: &Expr, scope: &Scope<'_>) -> Result<Val, EvalError> {
        if let Scope::Group { group_by, keys, aggregates, values } = scope {
            if let Some(i) = group_by.iter().position(|g| g == expr) {
                return Ok(keys.get(i).cloned().unwrap_or(Val::Null));
            }
            if let Expr::Aggregate { .. } = expr {
                let i = aggregates.iter().position(|a| a == expr);
                return Ok(i.and_then(|i| values.get(i)).cloned().unwrap_or(Val::Null));
            }
        }
        match expr {
            Expr::Literal(literal) => Ok(Val::of_literal(literal)),
            Expr::Column(path) => match scope {
                Scope::Row(row) => Ok(column(*row, path)),
                _ => fail(format!("'{}' must be an aggregate expression or appear in GROUP BY clause", path.join("."))),
            },
            Expr::Aggregate { .. } => fail("Aggregate functions are not allowed here."),
            Expr::Not(inner) => Ok(match self.eval(inner, scope)?.truth()? {
                Some(b) => Val::Bool(!b),
                None => Val::Null,
            }),
            Expr::Negate(inner) => match self.eval(inner, scope)? {
                Val::Null => Ok(Val::Null),
                Val::Int(i) => i.checked_neg().map(Val::Int).ok_or_else(|| EvalError("Number out of range.".into())),
                Val::Float(f) => Ok(Val::Float(-f)),
                Val::Interval(ms) => {
                    ms.checked_neg().map(Val::Interval).ok_or_else(|| EvalError("Number out of range.".into()))
                }
                other => fail(format!("Cannot negate {}.", describe(&other))),
            },
            Expr::Binary(op @ (BinaryOp::And | BinaryOp::Or), left, right) => {
                // AND is decided by a false, OR by a true; NULL is unknown.
                let decisive = *op == BinaryOp::Or;
                let l = self.eval(left, scope)?.truth()?;
                if l == Some(decisive) {
                    return Ok(Val::Bool(decisive));
                }
                let r = self.eval(right, scope)?.truth()?;
                Ok(match (l, r) {
                    (_, Some(x)) if x == decisive => Val::Bool(decisive),
                    (Some(_), Some(_)) => Val::Bool(!decisive),
                    _ => Val::Null,
                })
            }
            Expr::Binary(op, left, right) => {
                let (l, r) = (self.eval(left, scope)?, self.eval(right, scope)?);
                binary(*op, l, r)
            }
            Expr::IsNull { expr, negated } => {
                let null = self.eval(expr, scope)? == Val::Null;
                Ok(Val::Bool(null != *negated))
            }
            Expr::Like { expr, pattern, negated } => match (self.eval(expr, scope)?, self.eval(pattern, scope)?) {
                (Val::Null, _) | (_, Val::Null) => Ok(Val::Null),
                (Val::Str(text), Val::Str(pattern)) => {
                    Ok(Val::Bool(like(&text, &pattern, self.stop.as_ref())? != *negated))
                }
                (text, _) => fail(format!("LIKE compares strings, not {}.", describe(&text))),
            },
            Expr::InList { expr, list, negated } => {
                let value = self.eval(expr, scope)?;
                if value == Val::Null {
                    return Ok(Val::Null);
                }
                let mut unknown = false;
                for item in list {
                    match compare(&value, &self.eval(item, scope)?)? {
                        Some(Ordering::Equal) => return Ok(Val::Bool(!*negated)),
                        Some(_) => {}
                        None => unknown = true,
                    }
                }
                Ok(if unknown { Val::Null } else { Val::Bool(*negated) })
            }
            Expr::Between { expr, low, high, negated } => {
                let value = self.eval(expr, scope)?;
                let above = compare(&value, &self.eval(low, scope)?)?.map(|o| o != Ordering::Less);
                let below = compare(&value, &self.eval(high, scope)?)?.map(|o| o != Ordering::Greater);
                Ok(match (above, below) {
                    (Some(false), _) | (_, Some(false)) => Val::Bool(*negated),
                    (Some(true), Some(true)) => Val::Bool(!*negated),
                    _ => Val::Null,
                })
            }
            Expr::Case { operand, whens, otherwise } => {
                let subject = operand.as_ref().map(|o| self.eval(o, scope)).transpose()?;
                for (condition, result) in whens {
                    let hit = match &subject {
                        Some(subject) => compare(subject, &self.eval(condition, scope)?)? == Some(Ordering::Equal),
                        None => self.eval(condition, scope)?.truth()? == Some(true),
                    };
                    if hit {
                        return self.eval(result, scope);
                    }
                }
                otherwise.as_ref().map_or(Ok(Val::Null), |o| self.eval(o, scope))
            }
            Expr::Cast(inner, to) => cast(self.eval(inner, scope)?, *to),
            Expr::Subscript(container, key) => {
                let (container, key) = (self.eval(container, scope)?, self.eval(key, scope)?);
                Ok(element_at(&container, &key))
            }
            Expr::Function { name, args } => {
                let values = args.iter().map(|a| self.eval(a, scope)).collect::<Result<Vec<_>, _>>()?;
                self.function(name, values)
            }
        }
    }

    fn function(&self, name: &str, args: Vec<Val>) -> Result<Val, EvalError> {
        let mut args = args.into_iter();
        let mut next = || args.next().unwrap_or(Val::Null);
        // Most functions answer NULL for a NULL argument; these decide for themselves.
        match name {
            "now" | "current_timestamp" => return Ok(Val::Time(self.now_ms)),
            "coalesce" => {
                return Ok(std::iter::from_fn(|| Some(next())).take(64).find(|v| *v != Val::Null).unwrap_or(Val::Null))
            }
            "concat" => {
                let mut out = String::new();
                for value in std::iter::from_fn(|| Some(next())).take(64) {
                    out.push_str(&value.text().unwrap_or_default());
                    if out.len() > MAX_STRING_BYTES {
                        return bounded(out);
                    }
                }
                return Ok(Val::Str(out));
            }
            "if" => {
                let (condition, then, otherwise) = (next(), next(), next());
                return Ok(if condition.truth()? == Some(true) { then } else { otherwise });
            }
            "nullif" => {
                let (a, b) = (next(), next());
                return Ok(if compare(&a, &b)? == Some(Ordering::Equal) { Val::Null } else { a });
            }
            _ => {}
        }
        let first = next();
        if first == Val::Null {
            return Ok(Val::Null);
        }
        let text = |v: &Val| match v {
            Val::Str(s) => Ok(s.clone()),
            other => fail(format!("Function '{name}' takes a string, not {}.", describe(other))),
        };
        let int = |v: &Val| match v {
            Val::Int(i) => Ok(*i),
            other => fail(format!("Function '{name}' takes a whole number, not {}.", describe(other))),
        };
        let time = |v: &Val| match v {
            Val::Time(t) => Ok(*t),
            Val::Str(s) => parse_timestamp(s).ok_or_else(|| EvalError(format!("'{s}' is not a timestamp."))),
            other => fail(format!("Function '{name}' takes a timestamp, not {}.", describe(other))),
        };
        Ok(match name {
            "lower" => Val::Str(text(&first)?.to_lowercase()),
            "upper" => Val::Str(text(&first)?.to_uppercase()),
            "length" => Val::Int(text(&first)?.chars().count() as i64),
            "trim" => Val::Str(text(&first)?.trim().to_string()),
            "substr" | "substring" => {
                let s = text(&first)?;
                let chars: Vec<char> = s.chars().collect();
                let start = int(&next())?;
                let length = match next() {
                    Val::Null => i64::MAX,
                    n => int(&n)?,
                };
                // 1-based; a negative start counts from the end.
                let from = match start {
                    0 => return Ok(Val::Str(String::new())),
                    s if s > 0 => (s - 1) as usize,
                    s => chars.len().saturating_sub(s.unsigned_abs() as usize),
                };
                let taken = usize::try_from(length.max(0)).unwrap_or(usize::MAX);
                Val::Str(chars.iter().skip(from).take(taken).collect())
            }
            "strpos" => {
                let (s, sub) = (text(&first)?, text(&next())?);
                Val::Int(s.find(&sub).map_or(0, |byte| s[..byte].chars().count() as i64 + 1))
            }
            "starts_with" => Val::Bool(text(&first)?.starts_with(&text(&next())?)),
            "replace" => {
                let (s, from) = (text(&first)?, text(&next())?);
                let to = match next() {
                    Val::Null => String::new(),
                    v => text(&v)?,
                };
                if from.is_empty() {
                    return Ok(Val::Str(s));
                }
                // What the result would hold, before making it.
                let grown = s.matches(from.as_str()).count().saturating_mul(to.len().saturating_sub(from.len()));
                if s.len().saturating_add(grown) > MAX_STRING_BYTES {
                    return bounded(" ".repeat(MAX_STRING_BYTES + 1));
                }
                Val::Str(s.replace(&from, &to))
            }
            "split_part" => {
                let (s, by, index) = (text(&first)?, text(&next())?, int(&next())?);
                if by.is_empty() || index < 1 {
                    return fail("split_part takes a non-empty delimiter and an index from 1.");
                }
                s.split(by.as_str()).nth((index - 1) as usize).map_or(Val::Null, |p| Val::Str(p.to_string()))
            }
            "element_at" => element_at(&first, &next()),
            "cardinality" => match &first {
                Val::Json(Json::Array(a)) => Val::Int(a.len() as i64),
                Val::Json(Json::Object(m)) => Val::Int(m.len() as i64),
                other => return fail(format!("cardinality takes an array or a map, not {}.", describe(other))),
            },
            "contains" => match &first {
                Val::Json(Json::Array(items)) => {
                    let wanted = next();
                    let mut found = false;
                    for item in items {
                        if compare(&Val::of_json(item), &wanted)? == Some(Ordering::Equal) {
                            found = true;
                            break;
                        }
                    }
                    Val::Bool(found)
                }
                other => return fail(format!("contains takes an array, not {}.", describe(other))),
            },
            "json_extract_scalar" => json_extract_scalar(&first, &text(&next())?)?,
            "abs" => match first {
                Val::Int(i) => Val::Int(i.checked_abs().ok_or_else(|| EvalError("Number out of range.".into()))?),
                Val::Float(f) => Val::Float(f.abs()),
                other => return fail(format!("abs takes a number, not {}.", describe(&other))),
            },
            "round" => {
                let digits = match next() {
                    Val::Null => 0,
                    d => int(&d)?.clamp(-18, 18),
                };
                match first {
                    Val::Int(i) => Val::Int(i),
                    Val::Float(f) => {
                        let scale = 10f64.powi(digits as i32);
                        Val::Float((f * scale).round() / scale)
                    }
                    other => return fail(format!("round takes a number, not {}.", describe(&other))),
                }
            }
            "from_iso8601_timestamp" => Val::Time(time(&first)?),
            // As CloudTrail's records write times.
            "to_iso8601" => Val::Str(rampart_wire::format_iso8601(time(&first)? as f64 / 1000.0)),
            "date_trunc" => Val::Time(truncate(&text(&first)?.to_ascii_lowercase(), time(&next())?)?),
            "date_add" => {
                let unit = text(&first)?.to_ascii_lowercase();
                let (amount, at) = (int(&next())?, next());
                if at == Val::Null {
                    return Ok(Val::Null);
                }
                let Some(unit_ms) = unit_millis(&unit) else {
                    return fail(format!(
                        "date_add's unit {unit} is not supported (second, minute, hour, day or week)."
                    ));
                };
                let shift = amount.checked_mul(unit_ms).ok_or_else(|| EvalError("Number out of range.".into()))?;
                Val::Time(time(&at)?.checked_add(shift).ok_or_else(|| EvalError("Number out of range.".into()))?)
            }
            "date_diff" => {
                let unit = text(&first)?.to_ascii_lowercase();
                let (a, b) = (next(), next());
                if a == Val::Null || b == Val::Null {
                    return Ok(Val::Null);
                }
                let Some(unit_ms) = unit_millis(&unit) else {
                    return fail(format!(
                        "date_diff's unit {unit} is not supported (second, minute, hour, day or week)."
                    ));
                };
                let span = time(&b)?.checked_sub(time(&a)?).ok_or_else(|| EvalError("Number out of range.".into()))?;
                Val::Int(span / unit_ms)
            }
            "year" | "month" | "day" | "hour" | "minute" => {
                let t = datetime(time(&first)?)?;
                Val::Int(match name {
                    "year" => i64::from(t.year()),
                    "month" => i64::from(u8::from(t.month())),
                    "day" => i64::from(t.day()),
                    "hour" => i64::from(t.hour()),
                    _ => i64::from(t.minute()),
                })
            }
            other => return fail(format!("Function '{other}' not registered.")),
        })
    }
}

fn truncate(unit: &str, ms: i64) -> Result<i64, EvalError> {
    let t = datetime(ms)?;
    let midnight = ms - ms.rem_euclid(86_400_000);
    Ok(match unit {
        "second" | "minute" | "hour" | "day" => ms - ms.rem_euclid(unit_millis(unit).unwrap_or(1)),
        // Weeks start on Monday.
        "week" => midnight - i64::from(t.weekday().number_days_from_monday()) * 86_400_000,
        "month" => midnight - (i64::from(t.day()) - 1) * 86_400_000,
        "year" => midnight - (i64::from(t.ordinal()) - 1) * 86_400_000,
        other => return fail(format!("date_trunc's unit {other} is not supported.")),
    })
}

fn element_at(container: &Val, key: &Val) -> Val {
    match (container, key) {
        (Val::Json(Json::Object(map)), Val::Str(k)) => map.get(k).map_or(Val::Null, |v| match v {
            // Lake's maps hold strings: nested values read as JSON text.
            Json::Object(_) | Json::Array(_) => Val::Str(v.to_string()),
            other => Val::of_json(other),
        }),
        (Val::Json(Json::Array(items)), Val::Int(i)) if *i >= 1 => {
            usize::try_from(*i - 1).ok().and_then(|i| items.get(i)).map_or(Val::Null, Val::of_json)
        }
        _ => Val::Null,
    }
}

/// `json_extract_scalar(json, '$.a.b[0]')`: a scalar as text, else NULL.
fn json_extract_scalar(source: &Val, path: &str) -> Result<Val, EvalError> {
    let parsed;
    let mut at = match source {
        Val::Json(j) => j,
        Val::Str(s) => {
            parsed = match serde_json::from_str::<Json>(s) {
                Ok(j) => j,
                Err(_) => return Ok(Val::Null),
            };
            &parsed
        }
        _ => return Ok(Val::Null),
    };
    let Some(mut rest) = path.strip_prefix('$') else { return fail(format!("Invalid JSON path: {path}")) };
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            match at.get(&after[..end]) {
                Some(next) => at = next,
                None => return Ok(Val::Null),
            }
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let Some((inside, after)) = after.split_once(']') else {
                return fail(format!("Invalid JSON path: {path}"));
            };
            let step = match inside.parse::<usize>() {
                Ok(i) => at.get(i),
                Err(_) => at.get(inside.trim_matches(|c| c == '"' || c == '\'')),
            };
            match step {
                Some(next) => at = next,
                None => return Ok(Val::Null),
            }
            rest = after;
        } else {
            return fail(format!("Invalid JSON path: {path}"));
        }
    }
    Ok(match at {
        Json::Object(_) | Json::Array(_) | Json::Null => Val::Null,
        Json::String(s) => Val::Str(s.clone()),
        other => Val::Str(other.to_string()),
    })
}

fn cast(value: Val, to: SqlType) -> Result<Val, EvalError> {
    let bad = |v: &Val| fail(format!("Cannot cast {} to {to:?}.", describe(v)).to_lowercase());
    Ok(match (to, value) {
        (_, Val::Null) => Val::Null,
        (SqlType::Varchar, v) => Val::Str(v.text().unwrap_or_default()),
        (SqlType::Bigint, Val::Int(i)) => Val::Int(i),
        (SqlType::Bigint, Val::Float(f)) if f.is_finite() && f.abs() < 9.2e18 => Val::Int(f.round() as i64),
        (SqlType::Bigint, Val::Bool(b)) => Val::Int(i64::from(b)),
        (SqlType::Bigint, Val::Str(s)) => match s.trim().parse::<i64>() {
            Ok(i) => Val::Int(i),
            Err(_) => return bad(&Val::Str(s)),
        },
        (SqlType::Double, Val::Int(i)) => Val::Float(i as f64),
        (SqlType::Double, Val::Float(f)) => Val::Float(f),
        (SqlType::Double, Val::Str(s)) => match s.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => Val::Float(f),
            _ => return bad(&Val::Str(s)),
        },
        (SqlType::Boolean, Val::Bool(b)) => Val::Bool(b),
        (SqlType::Boolean, Val::Str(s)) if s.eq_ignore_ascii_case("true") => Val::Bool(true),
        (SqlType::Boolean, Val::Str(s)) if s.eq_ignore_ascii_case("false") => Val::Bool(false),
        (SqlType::Timestamp, Val::Time(t)) => Val::Time(t),
        (SqlType::Timestamp, Val::Str(s)) => match parse_timestamp(&s) {
            Some(t) => Val::Time(t),
            None => return bad(&Val::Str(s)),
        },
        (_, v) => return bad(&v),
    })
}

/// Compares two values as SQL does: `None` when either is NULL. Strings
/// compared with timestamps, numbers or booleans are read as those.
fn compare(a: &Val, b: &Val) -> Result<Option<Ordering>, EvalError> {
    Ok(Some(match (a, b) {
        (Val::Null, _) | (_, Val::Null) => return Ok(None),
        (Val::Int(x), Val::Int(y)) => x.cmp(y),
        (Val::Str(x), Val::Str(y)) => x.cmp(y),
        (Val::Bool(x), Val::Bool(y)) => x.cmp(y),
        (Val::Time(x), Val::Time(y)) | (Val::Interval(x), Val::Interval(y)) => x.cmp(y),
        (Val::Time(_), Val::Str(s)) | (Val::Str(s), Val::Time(_)) => {
            let Some(t) = parse_timestamp(s) else { return fail(format!("'{s}' is not a timestamp.")) };
            return match a {
                Val::Time(x) => Ok(Some(x.cmp(&t))),
                _ => compare(&Val::Time(t), b),
            };
        }
        (Val::Bool(_), Val::Str(s)) | (Val::Str(s), Val::Bool(_)) => {
            let Ok(v) = s.to_ascii_lowercase().parse::<bool>() else {
                return fail(format!("Cannot compare a boolean with '{s}'."));
            };
            return match a {
                Val::Bool(x) => Ok(Some(x.cmp(&v))),
                _ => compare(&Val::Bool(v), b),
            };
        }
        (x, y) => match (x.number(), y.number()) {
            (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            _ => {
                let numeric = |v: &Val| match v {
                    Val::Str(s) => s.trim().parse::<f64>().ok(),
                    other => other.number(),
                };
                match (numeric(x), numeric(y)) {
                    (Some(p), Some(q)) if x.number().is_some() || y.number().is_some() => {
                        p.partial_cmp(&q).unwrap_or(Ordering::Equal)
                    }
                    _ => return fail(format!("Cannot compare {} with {}.", describe(x), describe(y))),
                }
            }
        },
    }))
}

/// A total order for sorting and for min/max: NULLs aside, values of
/// different kinds order by kind.
fn sort_order(a: &Val, b: &Val) -> Ordering {
    let rank = |v: &Val| match v {
        Val::Null => 0,
        Val::Bool(_) => 1,
        Val::Int(_) | Val::Float(_) => 2,
        Val::Time(_) => 3,
        Val::Interval(_) => 4,
        Val::Str(_) => 5,
        Val::Json(_) => 6,
    };
    match compare(a, b) {
        Ok(Some(order)) if rank(a) == rank(b) => order,
        _ => rank(a).cmp(&rank(b)).then_with(|| a.text().cmp(&b.text())),
    }
}

fn binary(op: BinaryOp, l: Val, r: Val) -> Result<Val, EvalError> {
    let ordered = |test: fn(Ordering) -> bool| -> Result<Val, EvalError> {
        Ok(compare(&l, &r)?.map_or(Val::Null, |o| Val::Bool(test(o))))
    };
    match op {
        BinaryOp::Eq => return ordered(|o| o == Ordering::Equal),
        BinaryOp::Ne => return ordered(|o| o != Ordering::Equal),
        BinaryOp::Lt => return ordered(|o| o == Ordering::Less),
        BinaryOp::Le => return ordered(|o| o != Ordering::Greater),
        BinaryOp::Gt => return ordered(|o| o == Ordering::Greater),
        BinaryOp::Ge => return ordered(|o| o != Ordering::Less),
        _ => {}
    }
    if l == Val::Null || r == Val::Null {
        return Ok(Val::Null);
    }
    let range = || EvalError("Number out of range.".into());
    Ok(match (op, &l, &r) {
        (BinaryOp::Concat, _, _) => {
            return bounded(format!("{}{}", l.text().unwrap_or_default(), r.text().unwrap_or_default()))
        }
        (BinaryOp::Add, Val::Int(x), Val::Int(y)) => Val::Int(x.checked_add(*y).ok_or_else(range)?),
        (BinaryOp::Sub, Val::Int(x), Val::Int(y)) => Val::Int(x.checked_sub(*y).ok_or_else(range)?),
        (BinaryOp::Mul, Val::Int(x), Val::Int(y)) => Val::Int(x.checked_mul(*y).ok_or_else(range)?),
        (BinaryOp::Div | BinaryOp::Mod, Val::Int(_), Val::Int(0)) => return fail("Division by zero"),
        (BinaryOp::Div, Val::Int(x), Val::Int(y)) => Val::Int(x.checked_div(*y).ok_or_else(range)?),
        (BinaryOp::Mod, Val::Int(x), Val::Int(y)) => Val::Int(x.checked_rem(*y).ok_or_else(range)?),
        (BinaryOp::Add, Val::Time(t), Val::Interval(i)) | (BinaryOp::Add, Val::Interval(i), Val::Time(t)) => {
            Val::Time(t.checked_add(*i).ok_or_else(range)?)
        }
        (BinaryOp::Sub, Val::Time(t), Val::Interval(i)) => Val::Time(t.checked_sub(*i).ok_or_else(range)?),
        (BinaryOp::Sub, Val::Time(a), Val::Time(b)) => Val::Interval(a.checked_sub(*b).ok_or_else(range)?),
        (BinaryOp::Add, Val::Interval(a), Val::Interval(b)) => Val::Interval(a.checked_add(*b).ok_or_else(range)?),
        (BinaryOp::Sub, Val::Interval(a), Val::Interval(b)) => Val::Interval(a.checked_sub(*b).ok_or_else(range)?),
        (_, x, y) => match (x.number(), y.number()) {
            (Some(x), Some(y)) => {
                let value = match op {
                    BinaryOp::Add => x + y,
                    BinaryOp::Sub => x - y,
                    BinaryOp::Mul => x * y,
                    BinaryOp::Div if y == 0.0 => return fail("Division by zero"),
                    BinaryOp::Div => x / y,
                    BinaryOp::Mod if y == 0.0 => return fail("Division by zero"),
                    _ => x % y,
                };
                Val::Float(value)
            }
            _ => return fail(format!("Cannot apply {op:?} to {} and {}.", describe(x), describe(y)).to_lowercase()),
        },
    })
}

/// SQL LIKE: `%` is any run of characters, `_` any one. Greedy with one
/// backtrack point, so time is at most the product of the lengths — which
/// can be long, so a stopped query stops here too.
fn like(text: &str, pattern: &str, stop: Option<&Stop>) -> Result<bool, EvalError> {
    let (t, p): (Vec<char>, Vec<char>) = (text.chars().collect(), pattern.chars().collect());
    let (mut ti, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    let mut steps: u64 = 0;
    while ti < t.len() {
        steps += 1;
        if steps.is_multiple_of(STEPS_PER_CHECK) && stop.is_some_and(Stop::now) {
            return fail("The query was stopped.");
        }
        match p.get(pi) {
            Some('%') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '_' || Some(&c) == t.get(ti) => {
                ti += 1;
                pi += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return Ok(false),
            },
        }
    }
    Ok(p.iter().skip(pi).all(|c| *c == '%'))
}

/// Every sub-expression, for the checks a plan makes.
fn children(expr: &Expr) -> Vec<&Expr> {
    match expr {
        Expr::Literal(_) | Expr::Column(_) => Vec::new(),
        Expr::Not(e) | Expr::Negate(e) | Expr::IsNull { expr: e, .. } | Expr::Cast(e, _) => vec![e],
        Expr::Binary(_, a, b) | Expr::Like { expr: a, pattern: b, .. } | Expr::Subscript(a, b) => vec![a, b],
        Expr::InList { expr, list, .. } => std::iter::once(&**expr).chain(list).collect(),
        Expr::Between { expr, low, high, .. } => vec![expr, low, high],
        Expr::Case { operand, whens, otherwise } => {
            let mut all: Vec<&Expr> = operand.iter().map(|o| &**o).collect();
            for (w, t) in whens {
                all.push(w);
                all.push(t);
            }
            all.extend(otherwise.iter().map(|o| &**o));
            all
        }
        Expr::Function { args, .. } => args.iter().collect(),
        Expr::Aggregate { arg, .. } => arg.iter().map(|a| &**a).collect(),
    }
}

fn has_aggregate(expr: &Expr) -> bool {
    matches!(expr, Expr::Aggregate { .. }) || children(expr).into_iter().any(has_aggregate)
}

fn has_column(expr: &Expr) -> bool {
    matches!(expr, Expr::Column(_)) || children(expr).into_iter().any(has_column)
}

/// Collects the aggregates of `expr` (once each) into `found`.
fn collect_aggregates(expr: &Expr, found: &mut Vec<Expr>) -> Result<(), SyntaxError> {
    if let Expr::Aggregate { arg, .. } = expr {
        if arg.as_deref().is_some_and(has_aggregate) {
            return Err(SyntaxError("Aggregate functions cannot be nested.".into()));
        }
        if !found.contains(expr) {
            found.push(expr.clone());
        }
        return Ok(());
    }
    children(expr).into_iter().try_for_each(|c| collect_aggregates(c, found))
}

/// Whether a grouped query's expression reads only GROUP BY terms and aggregates.
fn check_grouped(expr: &Expr, group_by: &[Expr]) -> Result<(), SyntaxError> {
    if group_by.contains(expr) || matches!(expr, Expr::Aggregate { .. }) {
        return Ok(());
    }
    if let Expr::Column(path) = expr {
        return Err(SyntaxError(format!(
            "'{}' must be an aggregate expression or appear in GROUP BY clause",
            path.join(".")
        )));
    }
    children(expr).into_iter().try_for_each(|c| check_grouped(c, group_by))
}

/// A query ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    query: Query,
    grouped: bool,
    aggregates: Vec<Expr>,
    order: Vec<(Expr, bool, bool)>,
    now_ms: i64,
}

/// Checks a parsed query and resolves ORDER BY and GROUP BY's ordinals and
/// aliases; `now_ms` is the query's `now()`.
pub fn plan(mut query: Query, now_ms: i64) -> Result<Plan, SyntaxError> {
    let item_expr = |query: &Query, term: &Expr, allow_alias: bool| -> Result<Option<Expr>, SyntaxError> {
        match term {
            Expr::Literal(Literal::Int(n)) => {
                match usize::try_from(*n).ok().and_then(|n| n.checked_sub(1)).and_then(|i| query.items.get(i)) {
                    Some(SelectItem::Expr { expr, .. }) => Ok(Some(expr.clone())),
                    _ => Err(SyntaxError(format!("Position {n} is not in the select list."))),
                }
            }
            Expr::Column(path) if allow_alias && path.len() == 1 => {
                Ok(query.items.iter().find_map(|item| match item {
                    SelectItem::Expr { expr, name }
                        if path.first().is_some_and(|first| name.eq_ignore_ascii_case(first))
                            && !matches!(expr, Expr::Column(p) if p == path) =>
                    {
                        Some(expr.clone())
                    }
                    _ => None,
                }))
            }
            _ => Ok(None),
        }
    };
    let mut group_by = Vec::new();
    for term in &query.group_by {
        let term = item_expr(&query, term, false)?.unwrap_or_else(|| term.clone());
        if has_aggregate(&term) {
            return Err(SyntaxError("GROUP BY cannot contain aggregate functions.".into()));
        }
        group_by.push(term);
    }
    query.group_by = group_by;
    let mut order = Vec::new();
    for item in &query.order_by {
        let expr = item_expr(&query, &item.expr, true)?.unwrap_or_else(|| item.expr.clone());
        order.push((expr, item.descending, item.nulls_first));
    }
    if query.filter.as_ref().is_some_and(has_aggregate) {
        return Err(SyntaxError("WHERE cannot contain aggregate functions: use HAVING.".into()));
    }
    let mut aggregates = Vec::new();
    for item in &query.items {
        if let SelectItem::Expr { expr, .. } = item {
            collect_aggregates(expr, &mut aggregates)?;
        }
    }
    if let Some(having) = &query.having {
        collect_aggregates(having, &mut aggregates)?;
    }
    for (expr, _, _) in &order {
        collect_aggregates(expr, &mut aggregates)?;
    }
    let grouped = !aggregates.is_empty() || !query.group_by.is_empty() || query.having.is_some();
    if grouped {
        let mut outputs: Vec<&Expr> = order.iter().map(|(e, _, _)| e).collect();
        outputs.extend(query.having.iter());
        for item in &query.items {
            match item {
                SelectItem::Wildcard => {
                    return Err(SyntaxError("SELECT * cannot be grouped: name the columns.".into()))
                }
                SelectItem::Expr { expr, .. } => outputs.push(expr),
            }
        }
        for expr in outputs {
            check_grouped(expr, &query.group_by)?;
        }
    }
    if query.distinct && !order.is_empty() {
        let selected: Vec<&Expr> = query
            .items
            .iter()
            .filter_map(|i| match i {
                SelectItem::Expr { expr, .. } => Some(expr),
                SelectItem::Wildcard => None,
            })
            .collect();
        if order.iter().any(|(e, _, _)| !selected.contains(&e)) {
            return Err(SyntaxError("For SELECT DISTINCT, ORDER BY expressions must appear in select list".into()));
        }
    }
    Ok(Plan { query, grouped, aggregates, order, now_ms })
}

impl Plan {
    /// The event data store the query reads, as its FROM clause names it.
    pub fn from(&self) -> &str {
        &self.query.from
    }

    /// The record's top-level members the query reads (lowercased), so a
    /// reader may parse only those; `None` when it reads them all (`*`,
    /// `eventJson`).
    pub fn members(&self) -> Option<HashSet<String>> {
        fn walk(expr: &Expr, out: &mut HashSet<String>) -> bool {
            if let Expr::Column(path) = expr {
                match path.first().map(String::as_str) {
                    Some("eventjson") => return false,
                    Some(first) => {
                        out.insert(first.to_string());
                    }
                    None => {}
                }
            }
            children(expr).into_iter().all(|c| walk(c, out))
        }
        let q = &self.query;
        let mut members = HashSet::new();
        let mut exprs: Vec<&Expr> = q.filter.iter().chain(&q.group_by).chain(q.having.iter()).collect();
        exprs.extend(self.order.iter().map(|(e, _, _)| e));
        for item in &q.items {
            match item {
                SelectItem::Wildcard => return None,
                SelectItem::Expr { expr, .. } => exprs.push(expr),
            }
        }
        for expr in exprs {
            if !walk(expr, &mut members) {
                return None;
            }
        }
        Some(members)
    }

    /// The `eventTime` bounds (inclusive, in ms) its WHERE clause sets at
    /// its top level, so a reader can skip what cannot match.
    pub fn time_range(&self) -> (Option<i64>, Option<i64>) {
        let mut range = (None::<i64>, None::<i64>);
        let mut conjuncts = Vec::new();
        fn split<'e>(expr: &'e Expr, out: &mut Vec<&'e Expr>) {
            match expr {
                Expr::Binary(BinaryOp::And, a, b) => {
                    split(a, out);
                    split(b, out);
                }
                other => out.push(other),
            }
        }
        if let Some(filter) = &self.query.filter {
            split(filter, &mut conjuncts);
        }
        let evaluator = Evaluator { now_ms: self.now_ms, stop: None };
        let constant = |e: &Expr| -> Option<i64> {
            if has_column(e) {
                return None;
            }
            match evaluator.eval(e, &Scope::Const).ok()? {
                Val::Time(t) => Some(t),
                Val::Str(s) => parse_timestamp(&s),
                _ => None,
            }
        };
        let is_time = |e: &Expr| matches!(e, Expr::Column(p) if p.as_slice() == ["eventtime"]);
        let mut raise = |from: i64| range.0 = Some(range.0.map_or(from, |f: i64| f.max(from)));
        let mut bounds = Vec::new();
        for c in conjuncts {
            match c {
                Expr::Binary(op, a, b) => {
                    let (op, value) = match (is_time(a), is_time(b)) {
                        (true, false) => (*op, constant(b)),
                        (false, true) => (flip(*op), constant(a)),
                        _ => continue,
                    };
                    let Some(t) = value else { continue };
                    match op {
                        BinaryOp::Gt => bounds.push((Some(t.saturating_add(1)), None)),
                        BinaryOp::Ge => bounds.push((Some(t), None)),
                        BinaryOp::Lt => bounds.push((None, Some(t.saturating_sub(1)))),
                        BinaryOp::Le => bounds.push((None, Some(t))),
                        BinaryOp::Eq => bounds.push((Some(t), Some(t))),
                        _ => {}
                    }
                }
                Expr::Between { expr, low, high, negated: false } if is_time(expr) => {
                    bounds.push((constant(low), constant(high)));
                }
                _ => {}
            }
        }
        for (from, _) in &bounds {
            if let Some(from) = from {
                raise(*from);
            }
        }
        for (_, to) in bounds {
            if let Some(to) = to {
                range.1 = Some(range.1.map_or(to, |t: i64| t.min(to)));
            }
        }
        range
    }

    pub fn start(&self, stop: Option<Stop>) -> Execution<'_> {
        Execution {
            plan: self,
            evaluator: Evaluator { now_ms: self.now_ms, stop },
            groups: HashMap::new(),
            group_list: Vec::new(),
            rows: Vec::new(),
            distinct: HashSet::new(),
            matched: 0,
            held: 0,
            row_bytes: 0,
        }
    }
}

fn flip(op: BinaryOp) -> BinaryOp {
    match op {
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::Ge => BinaryOp::Le,
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::Le => BinaryOp::Ge,
        other => other,
    }
}

/// An aggregate's running state.
#[derive(Debug, Clone)]
enum Accumulator {
    Count(i64),
    Sum { int: i64, float: f64, floating: bool, any: bool },
    Avg { sum: f64, n: i64 },
    Min(Val),
    Max(Val),
    Distinct(HashSet<String>),
}

impl Accumulator {
    fn new(expr: &Expr) -> (Accumulator, Option<HashSet<String>>) {
        let Expr::Aggregate { function, distinct, .. } = expr else { return (Accumulator::Count(0), None) };
        let seen = distinct.then(HashSet::new);
        let acc = match function {
            Aggregate::Count if *distinct => return (Accumulator::Distinct(HashSet::new()), None),
            Aggregate::ApproxDistinct => return (Accumulator::Distinct(HashSet::new()), None),
            Aggregate::Count => Accumulator::Count(0),
            Aggregate::Sum => Accumulator::Sum { int: 0, float: 0.0, floating: false, any: false },
            Aggregate::Avg => Accumulator::Avg { sum: 0.0, n: 0 },
            Aggregate::Min => Accumulator::Min(Val::Null),
            Aggregate::Max => Accumulator::Max(Val::Null),
        };
        (acc, seen)
    }

    /// Adds a value; returns how many bytes more the accumulator holds.
    fn add(&mut self, value: Val) -> Result<usize, EvalError> {
        let is_min = matches!(self, Accumulator::Min(_));
        match self {
            Accumulator::Count(n) => *n += 1,
            Accumulator::Sum { int, float, floating, any } => {
                *any = true;
                match value {
                    Val::Int(i) if !*floating => match int.checked_add(i) {
                        Some(sum) => *int = sum,
                        None => return fail("Number out of range."),
                    },
                    other => {
                        let Some(x) = other.number() else {
                            return fail(format!("sum takes numbers, not {}.", describe(&other)));
                        };
                        if !*floating {
                            *floating = true;
                            *float = *int as f64;
                        }
                        *float += x;
                    }
                }
            }
            Accumulator::Avg { sum, n } => {
                let Some(x) = value.number() else {
                    return fail(format!("avg takes numbers, not {}.", describe(&value)));
                };
                *sum += x;
                *n += 1;
            }
            Accumulator::Min(current) | Accumulator::Max(current) => {
                let wanted = if is_min { Ordering::Less } else { Ordering::Greater };
                if *current == Val::Null || sort_order(&value, current) == wanted {
                    // Counted as a new value each time: an upper bound.
                    let size = value.text().map_or(0, |t| t.len());
                    *current = value;
                    return Ok(size);
                }
            }
            Accumulator::Distinct(set) => {
                let mut key = String::new();
                value.key(&mut key);
                if set.len() >= MAX_HELD && !set.contains(&key) {
                    return fail(format!("A distinct count holds more than {MAX_HELD} values."));
                }
                let size = key.len();
                return Ok(if set.insert(key) { size } else { 0 });
            }
        }
        Ok(0)
    }

    fn value(&self) -> Val {
        match self {
            Accumulator::Count(n) => Val::Int(*n),
            Accumulator::Sum { any: false, .. } => Val::Null,
            Accumulator::Sum { int, floating: false, .. } => Val::Int(*int),
            Accumulator::Sum { float, .. } => Val::Float(*float),
            Accumulator::Avg { n: 0, .. } => Val::Null,
            Accumulator::Avg { sum, n } => Val::Float(*sum / *n as f64),
            Accumulator::Min(v) | Accumulator::Max(v) => v.clone(),
            Accumulator::Distinct(set) => Val::Int(set.len() as i64),
        }
    }
}

struct Group {
    keys: Vec<Val>,
    accumulators: Vec<(Accumulator, Option<HashSet<String>>)>,
}

/// One result row: its cells, each a column name and its text (`None`: NULL).
pub type ResultRow = Vec<(String, Option<String>)>;

/// A query's results.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Results {
    pub rows: Vec<ResultRow>,
    /// Records that met the WHERE clause.
    pub matched: u64,
}

/// A query running over records handed to it.
pub struct Execution<'p> {
    plan: &'p Plan,
    evaluator: Evaluator,
    groups: HashMap<String, usize>,
    group_list: Vec<Group>,
    /// Each row's ORDER BY values and cells.
    rows: Vec<(Vec<Val>, ResultRow)>,
    distinct: HashSet<String>,
    matched: u64,
    /// Bytes held by group keys, aggregates' values and DISTINCT's keys.
    held: usize,
    /// Bytes held by the rows kept.
    row_bytes: usize,
}

fn hold(held: &mut usize, bytes: usize) -> Result<(), EvalError> {
    *held = held.saturating_add(bytes);
    match *held > MAX_HELD_BYTES {
        true => fail(format!("The query holds more than {} MiB: add a LIMIT or aggregate.", MAX_HELD_BYTES >> 20)),
        false => Ok(()),
    }
}

fn row_size(order: &[Val], cells: &ResultRow) -> usize {
    let cells: usize = cells.iter().map(|(name, cell)| name.len() + cell.as_ref().map_or(0, String::len)).sum();
    let order: usize = order.iter().map(|v| v.text().map_or(0, |t| t.len())).sum();
    cells + order + 64
}

impl Execution<'_> {
    /// Whether more records cannot change the result (a LIMIT met with no
    /// ORDER BY or grouping).
    pub fn is_done(&self) -> bool {
        let q = &self.plan.query;
        !self.plan.grouped && self.plan.order.is_empty() && q.limit.is_some_and(|l| self.rows.len() as u64 >= l)
    }

    /// Runs the query over one record.
    pub fn add(&mut self, row: Row<'_>) -> Result<(), EvalError> {
        let scope = Scope::Row(row);
        let q = &self.plan.query;
        if let Some(filter) = &q.filter {
            if self.evaluator.eval(filter, &scope)?.truth()? != Some(true) {
                return Ok(());
            }
        }
        self.matched += 1;
        if self.plan.grouped {
            let keys = q.group_by.iter().map(|g| self.evaluator.eval(g, &scope)).collect::<Result<Vec<_>, _>>()?;
            let mut canonical = String::new();
            keys.iter().for_each(|k| k.key(&mut canonical));
            let index = match self.groups.get(&canonical) {
                Some(i) => *i,
                None => {
                    if self.group_list.len() >= MAX_HELD {
                        return fail(format!("The query makes more than {MAX_HELD} groups."));
                    }
                    hold(&mut self.held, 2 * canonical.len() + 64)?;
                    let accumulators = self.plan.aggregates.iter().map(Accumulator::new).collect();
                    self.group_list.push(Group { keys, accumulators });
                    self.groups.insert(canonical, self.group_list.len() - 1);
                    self.group_list.len() - 1
                }
            };
            let Some(group) = self.group_list.get_mut(index) else { return Ok(()) };
            for (aggregate, (acc, seen)) in self.plan.aggregates.iter().zip(group.accumulators.iter_mut()) {
                let Expr::Aggregate { arg, .. } = aggregate else { continue };
                let value = match arg {
                    None => Val::Bool(true),
                    Some(arg) => self.evaluator.eval(arg, &scope)?,
                };
                if value == Val::Null {
                    continue;
                }
                if let Some(seen) = seen {
                    let mut key = String::new();
                    value.key(&mut key);
                    let size = key.len();
                    if !seen.insert(key) {
                        continue;
                    }
                    hold(&mut self.held, size)?;
                }
                let added = acc.add(value)?;
                hold(&mut self.held, added)?;
            }
            return Ok(());
        }
        let mut cells = Vec::new();
        for item in &q.items {
            match item {
                SelectItem::Wildcard => match row.record {
                    Json::Object(map) => {
                        for (name, value) in map {
                            let value = if name == "eventTime" { Val::Time(row.time_ms) } else { Val::of_json(value) };
                            cells.push((name.clone(), value.text()));
                        }
                    }
                    other => cells.push(("eventJson".to_string(), Some(other.to_string()))),
                },
                SelectItem::Expr { expr, name } => {
                    cells.push((name.clone(), self.evaluator.eval(expr, &scope)?.text()))
                }
            }
        }
        if q.distinct {
            let mut key = String::new();
            for (_, cell) in &cells {
                key.push_str(cell.as_deref().unwrap_or("\u{0}"));
                key.push('\u{1f}');
            }
            let size = key.len();
            if !self.distinct.insert(key) {
                return Ok(());
            }
            hold(&mut self.held, size)?;
        }
        let order =
            self.plan.order.iter().map(|(e, _, _)| self.evaluator.eval(e, &scope)).collect::<Result<Vec<_>, _>>()?;
        self.push(order, cells)
    }

    fn push(&mut self, order: Vec<Val>, cells: ResultRow) -> Result<(), EvalError> {
        hold(&mut self.row_bytes, row_size(&order, &cells))?;
        self.rows.push((order, cells));
        let limit = self.plan.query.limit.and_then(|l| usize::try_from(l).ok());
        match limit {
            // An ORDER BY … LIMIT keeps only its best rows.
            Some(limit)
                if !self.plan.order.is_empty() && self.rows.len() > limit.saturating_mul(2).saturating_add(1024) =>
            {
                self.sort();
                self.rows.truncate(limit);
                self.row_bytes = self.rows.iter().map(|(order, cells)| row_size(order, cells)).sum();
            }
            _ if self.rows.len() > MAX_HELD => {
                return fail(format!("The query returns more than {MAX_HELD} rows: add a LIMIT or aggregate."));
            }
            _ => {}
        }
        Ok(())
    }

    fn sort(&mut self) {
        let order = &self.plan.order;
        self.rows.sort_by(|(a, _), (b, _)| {
            for ((x, y), (_, descending, nulls_first)) in a.iter().zip(b).zip(order) {
                let o = match (x == &Val::Null, y == &Val::Null) {
                    (true, true) => Ordering::Equal,
                    (true, false) => {
                        if *nulls_first {
                            Ordering::Less
                        } else {
                            Ordering::Greater
                        }
                    }
                    (false, true) => {
                        if *nulls_first {
                            Ordering::Greater
                        } else {
                            Ordering::Less
                        }
                    }
                    (false, false) => {
                        let o = sort_order(x, y);
                        if *descending {
                            o.reverse()
                        } else {
                            o
                        }
                    }
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
    }

    /// The results, once every record has been added.
    pub fn finish(mut self) -> Result<Results, EvalError> {
        if self.plan.grouped {
            let q = &self.plan.query;
            if self.group_list.is_empty() && q.group_by.is_empty() {
                // An aggregate over no rows is one row (count 0).
                let accumulators = self.plan.aggregates.iter().map(Accumulator::new).collect();
                self.group_list.push(Group { keys: Vec::new(), accumulators });
            }
            let groups = std::mem::take(&mut self.group_list);
            for group in groups {
                let values: Vec<Val> = group.accumulators.iter().map(|(a, _)| a.value()).collect();
                let scope = Scope::Group {
                    group_by: &q.group_by,
                    keys: &group.keys,
                    aggregates: &self.plan.aggregates,
                    values: &values,
                };
                if let Some(having) = &q.having {
                    if self.evaluator.eval(having, &scope)?.truth()? != Some(true) {
                        continue;
                    }
                }
                let mut cells = Vec::new();
                for item in &q.items {
                    if let SelectItem::Expr { expr, name } = item {
                        cells.push((name.clone(), self.evaluator.eval(expr, &scope)?.text()));
                    }
                }
                if q.distinct {
                    let key: String =
                        cells.iter().map(|(_, c)| format!("{}\u{1f}", c.as_deref().unwrap_or("\u{0}"))).collect();
                    if !self.distinct.insert(key) {
                        continue;
                    }
                }
                let order = self
                    .plan
                    .order
                    .iter()
                    .map(|(e, _, _)| self.evaluator.eval(e, &scope))
                    .collect::<Result<Vec<_>, _>>()?;
                self.push(order, cells)?;
            }
        }
        if !self.plan.order.is_empty() {
            self.sort();
        }
        let mut rows: Vec<ResultRow> = self.rows.into_iter().map(|(_, cells)| cells).collect();
        if let Some(limit) = self.plan.query.limit.and_then(|l| usize::try_from(l).ok()) {
            rows.truncate(limit);
        }
        Ok(Results { rows, matched: self.matched })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::lake::sql::parse;
    use serde_json::json;

    const HOUR: i64 = 3_600_000;
    const NOW: i64 = 1_700_000_000_000;

    fn records() -> Vec<(Json, i64)> {
        let event = |name: &str, user: &str, error: Option<&str>, read_only: bool, ago_hours: i64| {
            let mut r = json!({
                "eventVersion": "1.11",
                "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::111122223333:user/{user}"), "userName": user},
                "eventTime": "ignored: the row's time is used",
                "eventSource": "iam.amazonaws.com",
                "eventName": name,
                "awsRegion": "us-east-1",
                "sourceIPAddress": "127.0.0.1",
                "readOnly": read_only,
                "requestParameters": {"userName": "target", "tags": [{"key": "k"}]},
                "resources": [{"ARN": "arn:aws:iam::111122223333:user/target", "type": "AWS::IAM::User"}],
            });
            if let Some(code) = error {
                r["errorCode"] = json!(code);
                r["errorMessage"] = json!(format!("{user} is not authorized"));
            }
            (r, NOW - ago_hours * HOUR)
        };
        vec![
            event("CreateUser", "alice", None, false, 1),
            event("CreateUser", "mallory", Some("AccessDenied"), false, 2),
            event("DeleteUser", "mallory", Some("AccessDenied"), false, 3),
            event("ListUsers", "mallory", Some("AccessDenied"), true, 30),
            event("GetUser", "bob", Some("NoSuchEntity"), true, 4),
            event("ListUsers", "alice", None, true, 5),
            event("CreateRole", "bob", Some("AccessDenied"), false, 6),
        ]
    }

    fn run(statement: &str) -> Result<Vec<ResultRow>, String> {
        let plan = plan(parse(statement, &[]).map_err(|e| e.0)?, NOW).map_err(|e| e.0)?;
        let mut execution = plan.start(None);
        for (record, time_ms) in records() {
            execution.add(Row { record: &record, time_ms }).map_err(|e| e.0)?;
        }
        execution.finish().map(|r| r.rows).map_err(|e| e.0)
    }

    fn cells(rows: &[ResultRow]) -> Vec<Vec<String>> {
        rows.iter().map(|r| r.iter().map(|(_, c)| c.clone().unwrap_or_else(|| "NULL".into())).collect()).collect()
    }

    #[test]
    fn who_denied_whom_by_error_code_in_the_last_day() {
        let rows = run("SELECT userIdentity.arn, errorCode, count(*) AS denials FROM eds
                        WHERE errorCode IS NOT NULL AND eventTime > now() - interval '1' day
                        GROUP BY 1, 2 ORDER BY denials DESC, userIdentity.arn, 2")
        .unwrap();
        assert_eq!(
            cells(&rows),
            [
                ["arn:aws:iam::111122223333:user/mallory", "AccessDenied", "2"],
                ["arn:aws:iam::111122223333:user/bob", "AccessDenied", "1"],
                ["arn:aws:iam::111122223333:user/bob", "NoSuchEntity", "1"],
            ]
        );
        assert_eq!(rows[0][0].0, "arn");
        assert_eq!(rows[0][2].0, "denials");
    }

    #[test]
    fn filters_use_three_valued_logic() {
        // errorCode is NULL for successes: neither = nor <> holds.
        assert_eq!(run("select eventName from eds where errorCode = 'AccessDenied'").unwrap().len(), 4);
        assert_eq!(run("select eventName from eds where errorCode <> 'AccessDenied'").unwrap().len(), 1);
        assert_eq!(run("select eventName from eds where not (errorCode = 'AccessDenied')").unwrap().len(), 1);
        assert_eq!(run("select eventName from eds where errorCode is null").unwrap().len(), 2);
        assert_eq!(run("select eventName from eds where errorCode in ('NoSuchEntity', null)").unwrap().len(), 1);
        assert_eq!(run("select eventName from eds where errorCode not in ('NoSuchEntity', null)").unwrap().len(), 0);
        assert_eq!(run("select eventName from eds where readOnly = true").unwrap().len(), 3);
        assert_eq!(run("select eventName from eds where readOnly").unwrap().len(), 3);
        assert_eq!(run("select eventName from eds where eventName like 'Create%'").unwrap().len(), 3);
        assert_eq!(run("select eventName from eds where eventName not like '%User_'").unwrap().len(), 5);
        assert_eq!(run("select eventName from eds where lower(userIdentity.userName) = 'bob'").unwrap().len(), 2);
    }

    #[test]
    fn names_ignore_case_and_reach_into_structures() {
        let rows =
            run("select USERIDENTITY.TYPE, element_at(requestParameters, 'userName'), requestParameters['tags'],
                               resources[1].type, cardinality(resources) from eds limit 1")
            .unwrap();
        assert_eq!(cells(&rows), [["IAMUser", "target", "[{\"key\":\"k\"}]", "AWS::IAM::User", "1"]]);
        assert_eq!(rows[0][0].0, "TYPE");
    }

    #[test]
    fn time_functions_and_formats() {
        let rows = run("select eventTime, date_trunc('hour', eventTime), to_iso8601(eventTime),
                               date_diff('hour', eventTime, now()), eventTime > '2023-11-14 00:00:00'
                        from eds order by eventTime desc limit 1")
        .unwrap();
        assert_eq!(
            cells(&rows),
            [["2023-11-14 21:13:20.000", "2023-11-14 21:00:00.000", "2023-11-14T21:13:20Z", "1", "true"]]
        );
    }

    #[test]
    fn aggregates_over_no_rows_and_having() {
        assert_eq!(
            cells(&run("select count(*), sum(1), max(eventName) from eds where eventName = 'x'").unwrap()),
            [["0", "NULL", "NULL"]]
        );
        let rows = run("select eventName, count(distinct userIdentity.arn) from eds group by eventName
                        having count(*) > 1 order by 1")
        .unwrap();
        assert_eq!(cells(&rows), [["CreateUser", "2"], ["ListUsers", "2"]]);
        assert_eq!(
            cells(&run("select approx_distinct(eventName), min(eventTime) from eds").unwrap()),
            [["5", "2023-11-13 16:13:20.000"]]
        );
    }

    #[test]
    fn distinct_order_and_limit() {
        let rows = run("select distinct userIdentity.userName as who from eds order by who").unwrap();
        assert_eq!(cells(&rows), [["alice"], ["bob"], ["mallory"]]);
        let rows = run("select eventName from eds order by eventTime limit 2").unwrap();
        assert_eq!(cells(&rows), [["ListUsers"], ["CreateRole"]]);
        assert_eq!(run("select * from eds limit 3").unwrap().len(), 3);
        let star = run("select * from eds where eventName = 'GetUser'").unwrap();
        assert!(star[0].iter().any(|(k, v)| k == "errorCode" && v.as_deref() == Some("NoSuchEntity")));
    }

    #[test]
    fn planning_refuses_what_sql_refuses() {
        for bad in [
            "select eventName, count(*) from eds",
            "select eventName from eds group by awsRegion",
            "select * from eds group by eventName",
            "select count(count(*)) from eds",
            "select eventName from eds where count(*) > 1",
            "select eventName from eds group by count(*)",
            "select eventName from eds order by 3",
            "select distinct eventName from eds order by eventTime",
        ] {
            assert!(run(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn runtime_errors_fail_the_query() {
        assert_eq!(run("select 1 / 0 from eds").unwrap_err(), "Division by zero");
        assert!(run("select eventName from eds where eventName").is_err());
        assert!(run("select eventName from eds where eventName > 3").is_err());
        assert!(run("select 9223372036854775807 + 1 from eds").is_err());
        assert!(run("select eventName from eds where eventTime > 'yesterday'").is_err());
    }

    #[test]
    fn time_range_comes_from_top_level_conditions() {
        let range = |s: &str| plan(parse(s, &[]).unwrap(), NOW).unwrap().time_range();
        assert_eq!(
            range("select 1 from eds where eventTime > now() - interval '1' hour"),
            (Some(NOW - HOUR + 1), None)
        );
        assert_eq!(
            range("select 1 from eds where eventName = 'x' and eventTime between timestamp '1970-01-01 00:00:01' and '1970-01-01 00:00:02'"),
            (Some(1000), Some(2000))
        );
        assert_eq!(range("select 1 from eds where '1970-01-01 00:00:01' >= eventTime"), (None, Some(1000)));
        // Under OR or NOT the bound is not the query's.
        assert_eq!(range("select 1 from eds where eventTime > now() or eventName = 'x'"), (None, None));
        assert_eq!(range("select 1 from eds where not eventTime > now()"), (None, None));
    }

    #[test]
    fn the_deepest_statements_parse_run_and_drop_on_a_small_stack() {
        // Chains are left-deep trees: each operator is a level, as each parenthesis is.
        let chain = format!("select {} from eds", vec!["1"; 3_000].join(" + "));
        assert!(parse(&chain, &[]).is_err());
        let ors = format!("select 1 from eds where {}", vec!["eventName = 'x'"; 500].join(" or "));
        assert!(parse(&ors, &[]).is_err());
        // The deepest accepted: parsed, planned, run and dropped on a thread with a
        // quarter of the blocking pool's stack.
        let deepest = format!("select {}1{} + {} from eds", "(".repeat(60), ")".repeat(60), vec!["1"; 60].join(" + "));
        let ran = std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(move || {
                let planned = plan(parse(&deepest, &[]).unwrap(), NOW).unwrap();
                let mut execution = planned.start(None);
                let record = json!({});
                execution.add(Row { record: &record, time_ms: NOW }).unwrap();
                execution.finish().unwrap().rows
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(cells(&ran), [["61"]]);
    }

    #[test]
    fn values_and_held_state_are_bounded() {
        let blown = (0..6).fold("'aaaaaaaaaa'".to_string(), |e, _| format!("replace({e}, 'a', 'aaaaaaaaaa')"));
        assert!(run(&format!("select {blown} from eds limit 1")).unwrap_err().contains("longer than"));
        assert!(run(&format!("select concat({blown}, 'x') from eds limit 1")).is_err());
        // A stopped query stops inside one row's LIKE.
        let stop = Stop { cancelled: Arc::new(AtomicBool::new(true)), deadline: Instant::now() };
        let text = "a".repeat(1 << 21);
        assert_eq!(like(&text, "%b%b", Some(&stop)), Err(EvalError("The query was stopped.".into())));
    }

    #[test]
    fn a_plan_names_the_members_it_reads() {
        let members = |s: &str| {
            plan(parse(s, &[]).unwrap(), NOW).unwrap().members().map(|m| {
                let mut m: Vec<String> = m.into_iter().collect();
                m.sort();
                m
            })
        };
        assert_eq!(
            members("select eventName, count(*) from eds where errorCode is null and userIdentity.arn like 'x%' group by 1 order by 2"),
            Some(vec!["errorcode".to_string(), "eventname".to_string(), "useridentity".to_string()])
        );
        assert_eq!(members("select * from eds"), None);
        assert_eq!(members("select count(*) from eds where eventJson like '%x%'"), None);
        assert_eq!(members("select count(*) from eds"), Some(vec![]));
    }

    #[test]
    fn like_matches_sql_wildcards() {
        for (text, pattern, expected) in [
            ("CreateUser", "Create%", true),
            ("CreateUser", "%User", true),
            ("CreateUser", "C_eate%", true),
            ("CreateUser", "%e%e%e%", true),
            ("CreateUser", "%x%", false),
            ("", "%", true),
            ("", "_", false),
            ("abc", "abc", true),
            ("abc", "ab", false),
            ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "%a%a%a%a%a%a%a%a%c", false),
        ] {
            assert_eq!(like(text, pattern, None), Ok(expected), "{text} LIKE {pattern}");
        }
    }
}
