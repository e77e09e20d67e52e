//! The service models: botocore's service-2.json, reduced and embedded as data.

use std::collections::HashMap;
use std::sync::OnceLock;

use indexmap::IndexMap;
use regex::Regex;
use serde::Deserialize;

use crate::AwsError;

/// The services whose models Rampart carries. Routing is by this enum, never by strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceId {
    Iam,
    Sts,
    Ec2,
    Kms,
    CloudTrail,
    Config,
    Logs,
    Monitoring,
}

impl ServiceId {
    pub const ALL: [ServiceId; 8] = [
        ServiceId::Iam,
        ServiceId::Sts,
        ServiceId::Ec2,
        ServiceId::Kms,
        ServiceId::CloudTrail,
        ServiceId::Config,
        ServiceId::Logs,
        ServiceId::Monitoring,
    ];

    /// The SigV4 signing name (the service of the credential scope) and IAM action prefix.
    pub fn signing_name(self) -> &'static str {
        match self {
            ServiceId::Iam => "iam",
            ServiceId::Sts => "sts",
            ServiceId::Ec2 => "ec2",
            ServiceId::Kms => "kms",
            ServiceId::CloudTrail => "cloudtrail",
            ServiceId::Config => "config",
            ServiceId::Logs => "logs",
            ServiceId::Monitoring => "monitoring",
        }
    }

    /// The prefix of the service's actions in IAM policies (`iam:CreateUser`).
    pub fn action_prefix(self) -> &'static str {
        match self {
            ServiceId::Monitoring => "cloudwatch",
            other => other.signing_name(),
        }
    }

    /// CloudTrail's `eventSource`.
    pub fn event_source(self) -> &'static str {
        match self {
            ServiceId::Iam => "iam.amazonaws.com",
            ServiceId::Sts => "sts.amazonaws.com",
            ServiceId::Ec2 => "ec2.amazonaws.com",
            ServiceId::Kms => "kms.amazonaws.com",
            ServiceId::CloudTrail => "cloudtrail.amazonaws.com",
            ServiceId::Config => "config.amazonaws.com",
            ServiceId::Logs => "logs.amazonaws.com",
            ServiceId::Monitoring => "monitoring.amazonaws.com",
        }
    }

    pub fn from_signing_name(name: &str) -> Option<ServiceId> {
        ServiceId::ALL.into_iter().find(|s| s.signing_name() == name)
    }

    /// The service whose JSON `X-Amz-Target` prefix (the part before `.`) is `prefix`.
    pub fn from_target_prefix(prefix: &str) -> Option<ServiceId> {
        ServiceId::ALL.into_iter().find(|s| s.model().metadata.target_prefix.as_deref() == Some(prefix))
    }

    fn model_json(self) -> &'static str {
        match self {
            ServiceId::Iam => include_str!("../models/iam.json"),
            ServiceId::Sts => include_str!("../models/sts.json"),
            ServiceId::Ec2 => include_str!("../models/ec2.json"),
            ServiceId::Kms => include_str!("../models/kms.json"),
            ServiceId::CloudTrail => include_str!("../models/cloudtrail.json"),
            ServiceId::Config => include_str!("../models/config.json"),
            ServiceId::Logs => include_str!("../models/logs.json"),
            ServiceId::Monitoring => include_str!("../models/monitoring.json"),
        }
    }

    /// The parsed model, loaded once on first use. A model that does not
    /// parse (a build defect: the models are compiled in, and a test parses
    /// every one) is empty here; the node refuses to start when a model of a
    /// service it serves does not parse (`load_model`).
    pub fn model(self) -> &'static ServiceModel {
        static EMPTY: OnceLock<ServiceModel> = OnceLock::new();
        match self.load_model() {
            Ok(model) => model,
            Err(_) => EMPTY.get_or_init(ServiceModel::empty),
        }
    }

    /// The parsed model, or why it does not parse.
    pub fn load_model(self) -> Result<&'static ServiceModel, &'static str> {
        type Slot = OnceLock<Result<ServiceModel, String>>;
        static IAM: Slot = OnceLock::new();
        static STS: Slot = OnceLock::new();
        static EC2: Slot = OnceLock::new();
        static KMS: Slot = OnceLock::new();
        static CLOUDTRAIL: Slot = OnceLock::new();
        static CONFIG: Slot = OnceLock::new();
        static LOGS: Slot = OnceLock::new();
        static MONITORING: Slot = OnceLock::new();
        let slot = match self {
            ServiceId::Iam => &IAM,
            ServiceId::Sts => &STS,
            ServiceId::Ec2 => &EC2,
            ServiceId::Kms => &KMS,
            ServiceId::CloudTrail => &CLOUDTRAIL,
            ServiceId::Config => &CONFIG,
            ServiceId::Logs => &LOGS,
            ServiceId::Monitoring => &MONITORING,
        };
        match slot.get_or_init(|| serde_json::from_str(self.model_json()).map_err(|e| e.to_string())) {
            Ok(model) => Ok(model),
            Err(e) => Err(e.as_str()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub api_version: String,
    pub protocol: String,
    #[serde(default)]
    pub protocols: Vec<String>,
    pub target_prefix: Option<String>,
    pub json_version: Option<String>,
    pub xml_namespace: Option<String>,
    pub aws_query_compatible: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct ShapeRef {
    pub shape: String,
    #[serde(rename = "resultWrapper")]
    pub result_wrapper: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Operation {
    pub name: String,
    pub input: Option<ShapeRef>,
    pub output: Option<ShapeRef>,
    #[serde(default)]
    pub errors: Vec<String>,
    /// The most `.`-separated parts a query parameter of the input can have.
    #[serde(skip)]
    pub(crate) query_depth: OnceLock<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberRef {
    pub shape: String,
    pub location_name: Option<String>,
    pub query_name: Option<String>,
    #[serde(default)]
    pub flattened: bool,
    pub location: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShapeType {
    Structure,
    List,
    Map,
    String,
    Integer,
    Long,
    Float,
    Double,
    Boolean,
    Timestamp,
    Blob,
}

#[derive(Debug, Deserialize)]
pub struct ErrorTrait {
    pub code: Option<String>,
    #[serde(rename = "httpStatusCode")]
    pub http_status_code: Option<u16>,
    #[serde(rename = "senderFault", default)]
    pub sender_fault: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shape {
    #[serde(rename = "type")]
    pub kind: ShapeType,
    #[serde(default)]
    pub members: IndexMap<String, MemberRef>,
    #[serde(default)]
    pub required: Vec<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub pattern: Option<String>,
    #[serde(rename = "enum")]
    pub enum_values: Option<Vec<String>>,
    #[serde(default)]
    pub sensitive: bool,
    pub error: Option<ErrorTrait>,
    #[serde(default)]
    pub exception: bool,
    #[serde(default)]
    pub flattened: bool,
    pub member: Option<MemberRef>,
    pub key: Option<MemberRef>,
    pub value: Option<MemberRef>,
    #[serde(default)]
    pub document: bool,
    #[serde(skip)]
    compiled_pattern: OnceLock<Option<Pattern>>,
}

/// A model's `pattern`, as Rust can check it. Java's regular expressions
/// have look-arounds, which the `regex` crate does not: a negative look-ahead
/// of a literal after a literal (`-(?!-)`, "no `--`") becomes a substring the
/// value must not contain; any other look-around cannot be checked here, so
/// it matches nothing (fail closed: a value is refused, never waved through).
#[derive(Debug)]
pub struct Pattern {
    regex: Option<Regex>,
    forbidden: Vec<String>,
    /// A leading `(?=.{MIN,MAX}$)`: the value's length in characters.
    length: Option<(usize, usize)>,
}

/// A leading positive look-ahead on the whole value's length,
/// `(?=.{MIN,MAX}$)`, and the rest of the pattern.
fn length_lookahead(pattern: &str) -> Option<((usize, usize), &str)> {
    let rest = pattern.strip_prefix("(?=.{")?;
    let (range, rest) = rest.split_once("}$)")?;
    let (min, max) = range.split_once(',')?;
    Some(((min.parse().ok()?, max.parse().ok()?), rest))
}

impl Pattern {
    fn compile(pattern: &str) -> Pattern {
        let unanchored = pattern.strip_prefix('^').unwrap_or(pattern);
        let (length, unanchored) = match length_lookahead(unanchored) {
            Some((length, rest)) => (Some(length), rest),
            None => (None, unanchored),
        };
        let Some((rewritten, forbidden)) = literal_lookaheads(unanchored) else {
            return Pattern { regex: None, forbidden: Vec::new(), length };
        };
        let body = rewritten.strip_suffix('$').unwrap_or(&rewritten);
        let anchored = format!("^(?:{})$", java_to_rust_regex(body));
        Pattern { regex: Regex::new(&anchored).ok(), forbidden, length }
    }

    /// Whether the whole value matches, as AWS applies patterns.
    pub fn is_match(&self, value: &str) -> bool {
        let length_ok = self.length.is_none_or(|(min, max)| (min..=max).contains(&value.chars().count()));
        length_ok
            && self.regex.as_ref().is_some_and(|re| re.is_match(value))
            && !self.forbidden.iter().any(|f| value.contains(f.as_str()))
    }

    /// Whether the pattern could be translated (a test checks every model's).
    pub fn is_checkable(&self) -> bool {
        self.regex.is_some()
    }
}

/// Characters that are not literals in a regular expression.
const META: &[char] = &['\\', '.', '+', '*', '?', '(', ')', '[', ']', '{', '}', '|', '^', '$'];

/// Splits `X(?!Y)` (X one literal character, Y literal text) into the pattern
/// without the look-ahead and the forbidden substring `XY`. `None` when the
/// pattern has a look-around of another kind.
fn literal_lookaheads(pattern: &str) -> Option<(String, Vec<String>)> {
    let mut rewritten = String::with_capacity(pattern.len());
    let mut forbidden = Vec::new();
    let mut rest = pattern;
    while let Some(at) = rest.find("(?") {
        let (before, from) = rest.split_at(at);
        let after = from.get(2..).unwrap_or_default();
        // Non-capturing groups and inline flags (`(?:`, `(?s)`, `(?i:`) are
        // Rust's too.
        let flags = after.find([':', ')']).and_then(|end| after.get(..end)).unwrap_or("!");
        if flags.chars().all(|c| matches!(c, 'i' | 'm' | 's' | 'x' | 'u' | '-')) {
            rewritten.push_str(before);
            rewritten.push_str("(?");
            rest = after;
            continue;
        }
        let look = after.strip_prefix('!')?;
        let end = look.find(')')?;
        let ahead = look.get(..end).unwrap_or_default();
        let literal = before.chars().last().filter(|c| !META.contains(c))?;
        if ahead.is_empty() || ahead.contains(META) {
            return None;
        }
        forbidden.push(format!("{literal}{ahead}"));
        rewritten.push_str(before);
        rest = look.get(end + 1..).unwrap_or_default();
    }
    rewritten.push_str(rest);
    Some((rewritten, forbidden))
}

impl Shape {
    /// The compiled `pattern`, applied as AWS applies it (to the whole
    /// value); `None` when the shape has none.
    pub fn compiled_pattern(&self) -> Option<&Pattern> {
        self.compiled_pattern.get_or_init(|| self.pattern.as_deref().map(Pattern::compile)).as_ref()
    }
}

/// AWS's patterns are Java regular expressions, where `\w`, `\d` and `\s` are
/// ASCII-only; in Rust's Unicode mode they are not. Rewrites them to the ASCII
/// classes (`[:word:]` inside a bracket, `[[:word:]]` outside).
fn java_to_rust_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut in_class = false;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('w' | 'd' | 's')) => {
                    let class = match e {
                        'w' => "[:word:]",
                        'd' => "[:digit:]",
                        _ => "[:space:]",
                    };
                    if in_class {
                        out.push_str(class);
                    } else {
                        out.push('[');
                        out.push_str(class);
                        out.push(']');
                    }
                }
                // `\uHHHH`: Java writes characters beyond the BMP as UTF-16
                // surrogate pairs, which are no characters to Rust.
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let unit = u32::from_str_radix(&hex, 16).unwrap_or(0xFFFD);
                    let mut code = unit;
                    if (0xD800..0xDC00).contains(&unit) && chars.as_str().starts_with("\\u") {
                        let low_hex = chars.as_str().get(2..6).unwrap_or_default();
                        if let Ok(low @ 0xDC00..=0xDFFF) = u32::from_str_radix(low_hex, 16) {
                            code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                            chars.by_ref().take(6).for_each(drop);
                        }
                    }
                    out.push_str(&format!("\\x{{{code:X}}}"));
                }
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            '[' => {
                in_class = true;
                out.push(c);
            }
            ']' => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[derive(Debug, Deserialize)]
pub struct ServiceModel {
    pub metadata: Metadata,
    pub operations: HashMap<String, Operation>,
    pub shapes: HashMap<String, Shape>,
}

impl ServiceModel {
    fn empty() -> ServiceModel {
        ServiceModel {
            metadata: Metadata {
                api_version: String::new(),
                protocol: String::new(),
                protocols: Vec::new(),
                target_prefix: None,
                json_version: None,
                xml_namespace: None,
                aws_query_compatible: None,
            },
            operations: HashMap::new(),
            shapes: HashMap::new(),
        }
    }

    pub fn operation(&self, name: &str) -> Option<&Operation> {
        self.operations.get(name)
    }

    pub fn shape(&self, name: &str) -> Option<&Shape> {
        self.shapes.get(name)
    }

    pub fn supports(&self, protocol: &str) -> bool {
        self.metadata.protocol == protocol || self.metadata.protocols.iter().any(|p| p == protocol)
    }

    /// An error of a modelled exception shape, e.g. `NoSuchEntityException`: its
    /// code and HTTP status come from the model.
    pub fn error(&self, shape_name: &str, message: impl Into<String>) -> AwsError {
        let trait_ = self.shape(shape_name).and_then(|s| s.error.as_ref());
        // Query services give the code in the model; JSON services name the
        // error by its shape, e.g. `NotFoundException`.
        let code = trait_.and_then(|e| e.code.clone()).unwrap_or_else(|| shape_name.to_string());
        AwsError {
            code,
            message: message.into(),
            status: trait_.and_then(|e| e.http_status_code).unwrap_or(400),
            sender_fault: trait_.is_none_or(|e| e.sender_fault),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_parses_and_resolves_its_shapes() {
        for service in ServiceId::ALL {
            let model = service.load_model().unwrap_or_else(|e| panic!("{service:?}: {e}"));
            assert!(!model.operations.is_empty(), "{service:?} has no operations");
            for op in model.operations.values() {
                for r in [&op.input, &op.output].into_iter().flatten() {
                    assert!(model.shape(&r.shape).is_some(), "{service:?} {}", r.shape);
                }
                for e in &op.errors {
                    assert!(model.shape(e).is_some(), "{service:?} {e}");
                }
            }
            for (name, shape) in &model.shapes {
                for m in
                    shape.members.values().chain(shape.member.iter()).chain(shape.key.iter()).chain(shape.value.iter())
                {
                    assert!(model.shape(&m.shape).is_some(), "{service:?} {name} -> {}", m.shape);
                }
            }
        }
    }

    #[test]
    fn model_errors_carry_code_and_status() {
        let e = ServiceId::Iam.model().error("EntityAlreadyExistsException", "User with name bob already exists.");
        assert_eq!((e.code.as_str(), e.status), ("EntityAlreadyExists", 409));
        let e = ServiceId::CloudTrail.model().error("InvalidMaxResultsException", "m");
        assert_eq!((e.code.as_str(), e.status), ("InvalidMaxResultsException", 400));
    }

    #[test]
    fn java_classes_stay_ascii() {
        assert_eq!(java_to_rust_regex(r"[\w+=,.@-]+"), r"[[:word:]+=,.@-]+");
        assert_eq!(java_to_rust_regex(r"\d{12}"), r"[[:digit:]]{12}");
        assert_eq!(java_to_rust_regex(r"[\p{L}\-@]+"), r"[\p{L}\-@]+");
        let user_name = ServiceId::Iam.model().shape("userNameType").and_then(Shape::compiled_pattern);
        let re = user_name.expect("userNameType has a pattern");
        assert!(re.is_match("bob+1=x,y.z@w_-"));
        assert!(!re.is_match("café"));
        assert!(!re.is_match("a b"));
    }

    #[test]
    fn every_model_pattern_is_checked() {
        let mut unchecked = Vec::new();
        for service in ServiceId::ALL {
            for (name, shape) in &service.model().shapes {
                if shape.compiled_pattern().is_some_and(|p| !p.is_checkable()) {
                    unchecked.push(format!("{service:?} {name}: {:?}", shape.pattern));
                }
            }
        }
        assert!(unchecked.is_empty(), "{}", unchecked.join("\n"));
    }

    #[test]
    fn literal_lookaheads_become_forbidden_text() {
        // IAM's account alias: no `--`.
        let alias = ServiceId::Iam.model().shape("accountAliasType").and_then(Shape::compiled_pattern);
        let alias = alias.expect("accountAliasType has a pattern");
        for ok in ["my-alias", "a1b", "abc-def-ghi"] {
            assert!(alias.is_match(ok), "{ok}");
        }
        for bad in ["my--alias", "-abc", "abc-", "ab", "Upper"] {
            assert!(!alias.is_match(bad), "{bad}");
        }
        // Any other look-around cannot be checked: it matches nothing.
        for unsupported in ["a(?=b)", "(?<!x)y", "a(?!b|c)", "(?!a)b"] {
            assert!(!Pattern::compile(unsupported).is_checkable(), "{unsupported}");
        }
        assert!(Pattern::compile("(?:ab)+").is_match("abab"));
        assert!(Pattern::compile("(?s).*").is_match("two\nlines"));
    }

    #[test]
    fn lengths_and_characters_beyond_the_bmp_are_checked() {
        let secret = ServiceId::Ec2.model().shape("SecretArn").and_then(Shape::compiled_pattern);
        let secret = secret.expect("SecretArn has a pattern");
        assert!(secret.is_match("arn:aws:secretsmanager:us-east-1:123456789012:secret:name"));
        assert!(!secret.is_match("arn:aws:secretsmanager:x:1:secret:y"), "shorter than 20 and no account");
        let long = format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{}", "a".repeat(2048));
        assert!(!secret.is_match(&long), "longer than 2048");
        let key = ServiceId::CloudTrail.model().shape("PartitionKeyType").and_then(Shape::compiled_pattern);
        let key = key.expect("PartitionKeyType has a pattern");
        assert!(key.is_match("plain text\twith 😀 and é"));
        assert!(!key.is_match("bell\u{7}"), "below U+0020 but tab");
    }

    #[test]
    fn event_sources_follow_signing_names() {
        for s in ServiceId::ALL {
            assert_eq!(s.event_source(), format!("{}.amazonaws.com", s.signing_name()));
        }
    }

    #[test]
    fn routes_by_signing_name_and_target_prefix() {
        assert_eq!(ServiceId::from_signing_name("monitoring"), Some(ServiceId::Monitoring));
        assert_eq!(ServiceId::from_target_prefix("TrentService"), Some(ServiceId::Kms));
        assert_eq!(ServiceId::from_target_prefix("Nope"), None);
    }
}
