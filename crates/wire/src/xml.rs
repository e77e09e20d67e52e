//! XML output of the `query` and `ec2` protocols, written from the output shape.

use serde_json::Value;

use crate::model::{MemberRef, ServiceModel, Shape, ShapeType};
use crate::query::Dialect;
use crate::timestamp::format_iso8601;

/// Escapes text and attribute content.
pub(crate) fn escape(out: &mut String, text: &str) {
    // Most values need no escaping at all.
    if !text.bytes().any(|b| matches!(b, b'<' | b'>' | b'&' | b'"' | b'\'' | b'\r') || !(0x20..0xEF).contains(&b)) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            '\t' | '\n' => out.push(c),
            // Not representable in XML 1.0 at all, escaped or not.
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

pub(crate) fn element(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    escape(out, text);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

pub(crate) struct XmlWriter<'m> {
    pub(crate) model: &'m ServiceModel,
    pub(crate) dialect: Dialect,
}

impl XmlWriter<'_> {
    /// Writes the members of a structure (without an enclosing element).
    pub(crate) fn members(&self, out: &mut String, shape: &Shape, value: &Value) {
        let Value::Object(map) = value else { return };
        for (name, member) in &shape.members {
            let Some(v) = map.get(name) else { continue };
            if v.is_null() {
                continue;
            }
            let Some(member_shape) = self.model.shape(&member.shape) else { continue };
            let tag = member.location_name.as_deref().unwrap_or(name);
            self.value(out, tag, member, member_shape, v);
        }
    }

    fn value(&self, out: &mut String, tag: &str, member: &MemberRef, shape: &Shape, value: &Value) {
        match shape.kind {
            ShapeType::Structure => {
                open(out, tag);
                self.members(out, shape, value);
                close(out, tag);
            }
            ShapeType::List => {
                let (Some(item_ref), Value::Array(items)) = (&shape.member, value) else { return };
                let Some(item_shape) = self.model.shape(&item_ref.shape) else { return };
                let flattened = member.flattened || shape.flattened;
                if flattened && self.dialect == Dialect::Query {
                    for item in items {
                        self.value(out, tag, item_ref, item_shape, item);
                    }
                } else {
                    let default = if self.dialect == Dialect::Ec2 { "item" } else { "member" };
                    let item_tag = item_ref.location_name.as_deref().unwrap_or(default);
                    open(out, tag);
                    for item in items {
                        self.value(out, item_tag, item_ref, item_shape, item);
                    }
                    close(out, tag);
                }
            }
            ShapeType::Map => {
                let (Some(key_ref), Some(value_ref), Value::Object(entries)) = (&shape.key, &shape.value, value) else {
                    return;
                };
                let Some(value_shape) = self.model.shape(&value_ref.shape) else { return };
                let key_tag = key_ref.location_name.as_deref().unwrap_or("key");
                let value_tag = value_ref.location_name.as_deref().unwrap_or("value");
                open(out, tag);
                for (k, v) in entries {
                    open(out, "entry");
                    element(out, key_tag, k);
                    self.value(out, value_tag, value_ref, value_shape, v);
                    close(out, "entry");
                }
                close(out, tag);
            }
            _ => element(out, tag, &scalar_text(shape.kind, value)),
        }
    }
}

fn open(out: &mut String, tag: &str) {
    out.push('<');
    out.push_str(tag);
    out.push('>');
}

fn close(out: &mut String, tag: &str) {
    out.push_str("</");
    out.push_str(tag);
    out.push('>');
}

fn scalar_text(kind: ShapeType, value: &Value) -> String {
    match (kind, value) {
        (ShapeType::Timestamp, Value::Number(n)) => format_iso8601(n.as_f64().unwrap_or_default()),
        (_, Value::String(s)) => s.clone(),
        (_, Value::Bool(b)) => b.to_string(),
        (_, Value::Number(n)) => n.to_string(),
        (_, other) => other.to_string(),
    }
}
