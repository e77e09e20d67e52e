//! The JSON shapes of `json` 1.0/1.1 bodies (and CBOR, once converted to JSON
//! values): checking types against the model and renaming members.

use base64::Engine;
use serde_json::{Map, Value};

use crate::model::{ServiceModel, Shape, ShapeType};
use crate::query::scalar_from_text;
use crate::AwsError;

fn mismatch(path: &str, want: &str) -> AwsError {
    AwsError::serialization(format!("Unexpected value type at '{path}': expected {want}"))
}

/// Reads a client's JSON value against `shape`, producing the internal tree.
pub(crate) fn decode_value(model: &ServiceModel, shape: &Shape, value: Value, path: &str) -> Result<Value, AwsError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    if shape.document {
        return Ok(value);
    }
    match shape.kind {
        ShapeType::Structure => {
            let Value::Object(mut map) = value else { return Err(mismatch(path, "an object")) };
            let mut out = Map::new();
            for (name, member) in &shape.members {
                let key = member.location_name.as_deref().unwrap_or(name);
                let Some(v) = map.remove(key) else { continue };
                let Some(member_shape) = model.shape(&member.shape) else { continue };
                let child = decode_value(model, member_shape, v, &join(path, key))?;
                if !child.is_null() {
                    out.insert(name.clone(), child);
                }
            }
            Ok(Value::Object(out))
        }
        ShapeType::List => {
            let Value::Array(items) = value else { return Err(mismatch(path, "an array")) };
            let Some(member_shape) = shape.member.as_ref().and_then(|m| model.shape(&m.shape)) else {
                return Ok(Value::Array(Vec::new()));
            };
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| decode_value(model, member_shape, v, &format!("{path}.{}", i + 1)))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        ShapeType::Map => {
            let Value::Object(entries) = value else { return Err(mismatch(path, "an object")) };
            let Some(value_shape) = shape.value.as_ref().and_then(|m| model.shape(&m.shape)) else {
                return Ok(Value::Object(Map::new()));
            };
            let mut out = Map::new();
            for (k, v) in entries {
                let child = decode_value(model, value_shape, v, &join(path, &k))?;
                out.insert(k, child);
            }
            Ok(Value::Object(out))
        }
        ShapeType::String => match value {
            Value::String(_) => Ok(value),
            _ => Err(mismatch(path, "a string")),
        },
        ShapeType::Boolean => match value {
            Value::Bool(_) => Ok(value),
            _ => Err(mismatch(path, "a boolean")),
        },
        ShapeType::Integer | ShapeType::Long => match &value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(value),
            _ => Err(mismatch(path, "an integer")),
        },
        ShapeType::Float | ShapeType::Double => match &value {
            Value::Number(_) => Ok(value),
            Value::String(s) if matches!(s.as_str(), "NaN" | "Infinity" | "-Infinity") => Ok(value),
            _ => Err(mismatch(path, "a number")),
        },
        ShapeType::Timestamp => match &value {
            Value::Number(_) => Ok(value),
            Value::String(s) => scalar_from_text(ShapeType::Timestamp, s).ok_or_else(|| mismatch(path, "a timestamp")),
            _ => Err(mismatch(path, "a timestamp")),
        },
        ShapeType::Blob => match &value {
            Value::String(s) if base64::engine::general_purpose::STANDARD.decode(s).is_ok() => Ok(value),
            _ => Err(mismatch(path, "base64-encoded data")),
        },
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Writes the internal tree as the JSON a client expects: serialized member
/// names, unknown members dropped, nulls omitted.
pub(crate) fn encode_value(model: &ServiceModel, shape: &Shape, value: &Value) -> Value {
    if shape.document {
        return value.clone();
    }
    match (shape.kind, value) {
        (ShapeType::Structure, Value::Object(map)) => {
            let mut out = Map::new();
            for (name, member) in &shape.members {
                let Some(v) = map.get(name).filter(|v| !v.is_null()) else { continue };
                let Some(member_shape) = model.shape(&member.shape) else { continue };
                let key = member.location_name.as_deref().unwrap_or(name);
                out.insert(key.to_string(), encode_value(model, member_shape, v));
            }
            Value::Object(out)
        }
        (ShapeType::List, Value::Array(items)) => match shape.member.as_ref().and_then(|m| model.shape(&m.shape)) {
            Some(item_shape) => Value::Array(items.iter().map(|v| encode_value(model, item_shape, v)).collect()),
            None => Value::Array(Vec::new()),
        },
        (ShapeType::Map, Value::Object(entries)) => match shape.value.as_ref().and_then(|m| model.shape(&m.shape)) {
            Some(value_shape) => {
                Value::Object(entries.iter().map(|(k, v)| (k.clone(), encode_value(model, value_shape, v))).collect())
            }
            None => Value::Object(Map::new()),
        },
        _ => value.clone(),
    }
}
