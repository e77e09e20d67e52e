//! The `query` and `ec2` protocols' input: flat `Key.member.1.Sub=value`
//! parameters, folded into a tree and read against the input shape.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::model::{MemberRef, ServiceModel, Shape, ShapeType};
use crate::timestamp::parse_timestamp;
use crate::AwsError;

/// The most parameters one request may send. No operation of any model needs
/// this many; the bound keeps a hostile request's cost (parsing, memory) small.
pub(crate) const MAX_PARAMETERS: usize = 10_000;

/// Nesting deeper than this is cut off when measuring a model's shapes: only a
/// recursive shape gets near it, and no request needs it.
const MAX_MODEL_DEPTH: usize = 32;

/// One level of `A.B.C` parameter names.
#[derive(Debug, Default)]
pub(crate) struct ParamNode {
    value: Option<String>,
    children: BTreeMap<String, ParamNode>,
}

/// Dropped iteratively: the tree's depth is bounded, but dropping must never
/// be what decides how deep the stack goes.
impl Drop for ParamNode {
    fn drop(&mut self) {
        let mut pending: Vec<ParamNode> = std::mem::take(&mut self.children).into_values().collect();
        while let Some(mut node) = pending.pop() {
            pending.extend(std::mem::take(&mut node.children).into_values());
        }
    }
}

impl ParamNode {
    /// Folds decoded `(key, value)` pairs into a tree. A key given twice is refused:
    /// silently choosing one of two values is how requests get misread. A key
    /// with more `.`-separated parts than `max_depth` names nothing the input
    /// shape has, so it is left out (as any unknown parameter is).
    pub(crate) fn build<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        max_depth: usize,
    ) -> Result<ParamNode, AwsError> {
        let mut root = ParamNode::default();
        for (key, value) in pairs {
            if key.split('.').nth(max_depth).is_some() {
                continue;
            }
            let mut node = &mut root;
            for part in key.split('.') {
                node = node.children.entry(part.to_string()).or_default();
            }
            if node.value.is_some() {
                return Err(AwsError::new(
                    "InvalidQueryParameter",
                    400,
                    format!("The parameter {key} is given more than once."),
                ));
            }
            node.value = Some(value.to_string());
        }
        Ok(root)
    }

    pub(crate) fn value_of(&self, key: &str) -> Option<&str> {
        self.children.get(key).and_then(|n| n.value.as_deref())
    }

    /// Children named `1`, `2`, … in numeric order.
    fn indexed(&self) -> Vec<&ParamNode> {
        let mut items: Vec<(u64, &ParamNode)> =
            self.children.iter().filter_map(|(k, v)| k.parse::<u64>().ok().map(|i| (i, v))).collect();
        items.sort_by_key(|(i, _)| *i);
        items.into_iter().map(|(_, v)| v).collect()
    }
}

/// Whether the request uses EC2's dialect of the query protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Query,
    Ec2,
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn serialized_name(name: &str, member: &MemberRef, dialect: Dialect) -> String {
    match dialect {
        Dialect::Query => member.location_name.clone().unwrap_or_else(|| name.to_string()),
        Dialect::Ec2 => member
            .query_name
            .clone()
            .or_else(|| member.location_name.as_deref().map(capitalize))
            .unwrap_or_else(|| name.to_string()),
    }
}

/// How many `.`-separated parts the longest parameter name of `shape` can
/// have (0 for a scalar). A recursive shape counts as `MAX_MODEL_DEPTH`.
pub(crate) fn key_depth<'m>(model: &'m ServiceModel, shape: &'m Shape, dialect: Dialect) -> usize {
    depth_below(model, shape, dialect, 0, &mut Vec::new()).min(MAX_MODEL_DEPTH)
}

/// `path`: the shapes being measured above this one, to stop at a cycle.
fn depth_below<'m>(
    model: &'m ServiceModel,
    shape: &'m Shape,
    dialect: Dialect,
    level: usize,
    path: &mut Vec<&'m str>,
) -> usize {
    if level >= MAX_MODEL_DEPTH {
        return MAX_MODEL_DEPTH;
    }
    let mut below = |r: &'m MemberRef, parts: usize| {
        if path.contains(&r.shape.as_str()) {
            return MAX_MODEL_DEPTH;
        }
        let Some(s) = model.shape(&r.shape) else { return parts };
        path.push(&r.shape);
        let depth = parts + depth_below(model, s, dialect, level + parts, path);
        path.pop();
        depth
    };
    match shape.kind {
        ShapeType::Structure => shape.members.values().map(|m| below(m, 1)).max().unwrap_or(0),
        // `Name.member.N` (`Name.N` when flattened, and always in EC2's dialect).
        ShapeType::List => shape.member.as_ref().map_or(0, |m| {
            let wrapped = dialect == Dialect::Query && !shape.flattened;
            below(m, if wrapped { 2 } else { 1 })
        }),
        // `Name.entry.N.key` / `Name.entry.N.value…` (without `entry` when flattened).
        ShapeType::Map => shape.value.as_ref().map_or(0, |v| below(v, if shape.flattened { 2 } else { 3 })),
        _ => 0,
    }
}

fn malformed(path: &str, what: &str) -> AwsError {
    AwsError::new("MalformedInput", 400, format!("Value for parameter {path} is invalid: expected {what}."))
}

pub(crate) struct QueryDecoder<'m> {
    pub(crate) model: &'m ServiceModel,
    pub(crate) dialect: Dialect,
}

impl QueryDecoder<'_> {
    pub(crate) fn structure(&self, shape: &Shape, node: &ParamNode, path: &str) -> Result<Value, AwsError> {
        let mut out = Map::new();
        for (name, member) in &shape.members {
            let key = serialized_name(name, member, self.dialect);
            let Some(child) = node.children.get(&key) else { continue };
            let Some(member_shape) = self.model.shape(&member.shape) else { continue };
            let child_path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            let flattened = member.flattened || member_shape.flattened;
            out.insert(name.clone(), self.value(member_shape, child, &child_path, flattened)?);
        }
        Ok(Value::Object(out))
    }

    fn value(&self, shape: &Shape, node: &ParamNode, path: &str, flattened: bool) -> Result<Value, AwsError> {
        match shape.kind {
            ShapeType::Structure => self.structure(shape, node, path),
            ShapeType::List => {
                let Some(member) = &shape.member else { return Ok(Value::Array(Vec::new())) };
                let Some(member_shape) = self.model.shape(&member.shape) else {
                    return Ok(Value::Array(Vec::new()));
                };
                // `Name=` with no items is how the query protocol sends an empty list.
                if node.children.is_empty() {
                    return match node.value.as_deref() {
                        Some("") | None => Ok(Value::Array(Vec::new())),
                        Some(_) => Err(malformed(path, "a list")),
                    };
                }
                let items_node = if self.dialect == Dialect::Ec2 || flattened {
                    node
                } else {
                    let wrapper = member.location_name.as_deref().unwrap_or("member");
                    match node.children.get(wrapper) {
                        Some(n) => n,
                        None => return Err(malformed(path, "a list")),
                    }
                };
                let mut items = Vec::new();
                for (i, item) in items_node.indexed().into_iter().enumerate() {
                    items.push(self.value(member_shape, item, &format!("{path}.{}", i + 1), false)?);
                }
                Ok(Value::Array(items))
            }
            ShapeType::Map => {
                let (Some(key_ref), Some(value_ref)) = (&shape.key, &shape.value) else {
                    return Ok(Value::Object(Map::new()));
                };
                let Some(value_shape) = self.model.shape(&value_ref.shape) else {
                    return Ok(Value::Object(Map::new()));
                };
                let entries = if flattened { Some(node) } else { node.children.get("entry") };
                let key_name = key_ref.location_name.as_deref().unwrap_or("key");
                let value_name = value_ref.location_name.as_deref().unwrap_or("value");
                let mut out = Map::new();
                for entry in entries.map(ParamNode::indexed).unwrap_or_default() {
                    let Some(k) = entry.value_of(key_name) else {
                        return Err(malformed(path, "map entries with keys"));
                    };
                    let v = match entry.children.get(value_name) {
                        Some(v) => self.value(value_shape, v, &format!("{path}.{k}"), false)?,
                        None => Value::Null,
                    };
                    out.insert(k.to_string(), v);
                }
                Ok(Value::Object(out))
            }
            _ => {
                let Some(text) = node.value.as_deref() else {
                    return Err(malformed(path, "a single value"));
                };
                scalar_from_text(shape.kind, text).ok_or_else(|| malformed(path, type_word(shape.kind)))
            }
        }
    }
}

pub(crate) fn type_word(kind: ShapeType) -> &'static str {
    match kind {
        ShapeType::Integer | ShapeType::Long => "an integer",
        ShapeType::Float | ShapeType::Double => "a number",
        ShapeType::Boolean => "true or false",
        ShapeType::Timestamp => "an ISO 8601 timestamp",
        ShapeType::Blob => "base64-encoded data",
        ShapeType::Structure => "a structure",
        ShapeType::List => "a list",
        ShapeType::Map => "a map",
        ShapeType::String => "a string",
    }
}

/// A scalar from its text form (query parameters; also JSON strings for blobs).
pub(crate) fn scalar_from_text(kind: ShapeType, text: &str) -> Option<Value> {
    use base64::Engine;
    match kind {
        ShapeType::String => Some(Value::String(text.to_string())),
        ShapeType::Integer | ShapeType::Long => text.trim().parse::<i64>().ok().map(Value::from),
        ShapeType::Float | ShapeType::Double => {
            let f = text.trim().parse::<f64>().ok()?;
            serde_json::Number::from_f64(f).map(Value::Number)
        }
        ShapeType::Boolean => match text {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        ShapeType::Timestamp => parse_timestamp(text).and_then(serde_json::Number::from_f64).map(Value::Number),
        ShapeType::Blob => {
            base64::engine::general_purpose::STANDARD.decode(text).ok().map(|_| Value::String(text.to_string()))
        }
        ShapeType::Structure | ShapeType::List | ShapeType::Map => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServiceId;

    fn decode(service: ServiceId, shape: &str, dialect: Dialect, pairs: &[(&str, &str)]) -> Result<Value, AwsError> {
        let model = service.model();
        let node = ParamNode::build(pairs.iter().copied(), 16)?;
        QueryDecoder { model, dialect }.structure(model.shape(shape).unwrap(), &node, "")
    }

    #[test]
    fn reads_iam_lists_of_structures() {
        let v = decode(
            ServiceId::Iam,
            "CreateUserRequest",
            Dialect::Query,
            &[
                ("UserName", "bob"),
                ("Tags.member.2.Key", "b"),
                ("Tags.member.1.Key", "a"),
                ("Tags.member.1.Value", "1"),
                ("Tags.member.2.Value", "2"),
                ("Unknown", "ignored"),
            ],
        )
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"UserName": "bob", "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]})
        );
    }

    #[test]
    fn reads_ec2_flattened_lists_and_capitalized_names() {
        let v = decode(
            ServiceId::Ec2,
            "DescribeVpcsRequest",
            Dialect::Ec2,
            &[("VpcId.1", "vpc-1"), ("VpcId.2", "vpc-2"), ("DryRun", "true"), ("MaxResults", "5")],
        )
        .unwrap();
        assert_eq!(v, serde_json::json!({"VpcIds": ["vpc-1", "vpc-2"], "MaxResults": 5, "DryRun": true}));
    }

    #[test]
    fn key_depth_follows_the_shapes() {
        let depth = |service: ServiceId, shape: &str, dialect| {
            let model = service.model();
            key_depth(model, model.shape(shape).unwrap(), dialect)
        };
        // Tags.member.1.Key
        assert_eq!(depth(ServiceId::Iam, "CreateUserRequest", Dialect::Query), 4);
        // Filter.1.Value.1
        assert_eq!(depth(ServiceId::Ec2, "DescribeVpcsRequest", Dialect::Ec2), 4);
        assert_eq!(depth(ServiceId::Iam, "GetUserRequest", Dialect::Query), 1);
    }

    #[test]
    fn refuses_duplicates_and_bad_scalars() {
        let dup = decode(ServiceId::Iam, "GetUserRequest", Dialect::Query, &[("UserName", "a"), ("UserName", "b")]);
        assert_eq!(dup.unwrap_err().code, "InvalidQueryParameter");
        let bad = decode(ServiceId::Iam, "ListUsersRequest", Dialect::Query, &[("MaxItems", "many")]);
        assert_eq!(bad.unwrap_err().code, "MalformedInput");
        let empty = decode(ServiceId::Iam, "CreateUserRequest", Dialect::Query, &[("UserName", "a"), ("Tags", "")]);
        assert_eq!(empty.unwrap(), serde_json::json!({"UserName": "a", "Tags": []}));
    }
}
