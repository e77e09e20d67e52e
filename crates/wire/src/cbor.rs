//! `smithy-rpc-v2-cbor` bodies: CBOR to and from the internal tree.

use base64::Engine;
use ciborium::value::Value as Cbor;
use serde_json::{Map, Value};

use crate::model::{ServiceModel, Shape, ShapeType};
use crate::AwsError;

const EPOCH_SECONDS_TAG: u64 = 1;
/// Deeper nesting than any model has; refused before it can exhaust the stack.
const MAX_DEPTH: usize = 64;

/// Parses a CBOR body into JSON-like values (bytes as base64, tagged epoch
/// timestamps as numbers); the model check happens in `json::decode_value`.
pub(crate) fn parse(body: &[u8]) -> Result<Value, AwsError> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let cbor: Cbor = ciborium::de::from_reader_with_recursion_limit(body, MAX_DEPTH)
        .map_err(|e| AwsError::serialization(format!("The CBOR body could not be read: {e}")))?;
    to_json(cbor, 0)
}

fn to_json(cbor: Cbor, depth: usize) -> Result<Value, AwsError> {
    if depth > MAX_DEPTH {
        return Err(AwsError::serialization("The CBOR body is nested too deeply."));
    }
    Ok(match cbor {
        Cbor::Null => Value::Null,
        Cbor::Bool(b) => Value::Bool(b),
        Cbor::Integer(i) => {
            let i: i128 = i.into();
            match i64::try_from(i) {
                Ok(v) => Value::from(v),
                Err(_) => return Err(AwsError::serialization("An integer in the CBOR body is out of range.")),
            }
        }
        Cbor::Float(f) => serde_json::Number::from_f64(f).map(Value::Number).unwrap_or_else(|| {
            Value::String(
                if f.is_nan() {
                    "NaN"
                } else if f > 0.0 {
                    "Infinity"
                } else {
                    "-Infinity"
                }
                .to_string(),
            )
        }),
        Cbor::Text(s) => Value::String(s),
        Cbor::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Cbor::Tag(EPOCH_SECONDS_TAG, inner) => to_json(*inner, depth + 1)?,
        Cbor::Tag(_, inner) => to_json(*inner, depth + 1)?,
        Cbor::Array(items) => Value::Array(items.into_iter().map(|v| to_json(v, depth + 1)).collect::<Result<_, _>>()?),
        Cbor::Map(entries) => {
            let mut out = Map::new();
            for (k, v) in entries {
                let Cbor::Text(k) = k else {
                    return Err(AwsError::serialization("CBOR map keys must be text strings."));
                };
                out.insert(k, to_json(v, depth + 1)?);
            }
            Value::Object(out)
        }
        _ => return Err(AwsError::serialization("Unsupported CBOR value.")),
    })
}

/// Writes an already-encoded JSON value (serialized names) as CBOR, typing
/// timestamps and blobs by the shape.
pub(crate) fn from_json(model: &ServiceModel, shape: &Shape, value: &Value) -> Cbor {
    match (shape.kind, value) {
        (ShapeType::Structure, Value::Object(map)) => {
            let mut out = Vec::new();
            for (name, member) in &shape.members {
                let key = member.location_name.as_deref().unwrap_or(name);
                let (Some(v), Some(member_shape)) = (map.get(key), model.shape(&member.shape)) else { continue };
                out.push((Cbor::Text(key.to_string()), from_json(model, member_shape, v)));
            }
            Cbor::Map(out)
        }
        (ShapeType::List, Value::Array(items)) => match shape.member.as_ref().and_then(|m| model.shape(&m.shape)) {
            Some(item_shape) => Cbor::Array(items.iter().map(|v| from_json(model, item_shape, v)).collect()),
            None => Cbor::Array(Vec::new()),
        },
        (ShapeType::Map, Value::Object(entries)) => match shape.value.as_ref().and_then(|m| model.shape(&m.shape)) {
            Some(value_shape) => Cbor::Map(
                entries.iter().map(|(k, v)| (Cbor::Text(k.clone()), from_json(model, value_shape, v))).collect(),
            ),
            None => Cbor::Map(Vec::new()),
        },
        (ShapeType::Timestamp, Value::Number(n)) => {
            Cbor::Tag(EPOCH_SECONDS_TAG, Box::new(Cbor::Float(n.as_f64().unwrap_or_default())))
        }
        (ShapeType::Blob, Value::String(s)) => {
            Cbor::Bytes(base64::engine::general_purpose::STANDARD.decode(s).unwrap_or_default())
        }
        _ => plain(value),
    }
}

/// CBOR for a value whose shape is unknown (error bodies, documents).
pub(crate) fn plain(value: &Value) -> Cbor {
    match value {
        Value::Null => Cbor::Null,
        Value::Bool(b) => Cbor::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Cbor::Integer(i.into()),
            None => Cbor::Float(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => Cbor::Text(s.clone()),
        Value::Array(items) => Cbor::Array(items.iter().map(plain).collect()),
        Value::Object(map) => Cbor::Map(map.iter().map(|(k, v)| (Cbor::Text(k.clone()), plain(v))).collect()),
    }
}

pub(crate) fn to_bytes(value: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = ciborium::ser::into_writer(value, &mut out);
    out
}
