//! The model's constraints (required, length, pattern, enum, range), checked on
//! input before any handler runs, with AWS's validation messages.

use serde_json::Value;

use crate::model::{ServiceModel, Shape, ShapeType};

/// `userName` from `UserName`: AWS names members in lower camel case in messages.
fn lower_camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// The members of an output tree that `shape_name` does not define (paths
/// such as `User.Tagz`), and values whose type does not fit their shape. The
/// encoders write only what the model defines, so a handler that puts
/// anything else in its output would lose it without a word; the tests run
/// the server with this check on (`--strict-outputs`), so that is a failure.
pub fn undefined_output_members(model: &ServiceModel, shape_name: &str, value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    match model.shape(shape_name) {
        Some(shape) => undefined(model, shape, value, "", &mut found),
        None if value.as_object().is_some_and(|o| !o.is_empty()) => found.push("(no output shape)".into()),
        None => {}
    }
    found
}

fn undefined(model: &ServiceModel, shape: &Shape, value: &Value, path: &str, found: &mut Vec<String>) {
    match (shape.kind, value) {
        (_, Value::Null) => {}
        (ShapeType::Structure, Value::Object(map)) => {
            for (name, v) in map {
                match shape.members.get(name).and_then(|m| model.shape(&m.shape)) {
                    Some(member_shape) => undefined(model, member_shape, v, &join(path, name), found),
                    None => found.push(join(path, name)),
                }
            }
        }
        (ShapeType::List, Value::Array(items)) => {
            if let Some(item_shape) = shape.member.as_ref().and_then(|m| model.shape(&m.shape)) {
                for (i, item) in items.iter().enumerate() {
                    undefined(model, item_shape, item, &format!("{path}[{i}]"), found);
                }
            }
        }
        (ShapeType::Map, Value::Object(entries)) => {
            if let Some(value_shape) = shape.value.as_ref().and_then(|m| model.shape(&m.shape)) {
                for (key, v) in entries {
                    undefined(model, value_shape, v, &join(path, key), found);
                }
            }
        }
        (ShapeType::Structure | ShapeType::List | ShapeType::Map, other) => {
            found.push(format!("{path} (a {} where the model has a {:?})", kind_of(other), shape.kind))
        }
        _ => {}
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "structure",
    }
}

/// Checks `value` against `shape_name`; returns AWS's message when anything
/// fails ("1 validation error detected: …", "2 validation errors detected: …; …").
pub fn validate(model: &ServiceModel, shape_name: &str, value: &Value) -> Option<String> {
    let shape = model.shape(shape_name)?;
    let mut errors = Vec::new();
    check(model, shape, value, "", &mut errors);
    if errors.is_empty() {
        return None;
    }
    let count = errors.len();
    let noun = if count == 1 { "error" } else { "errors" };
    Some(format!("{count} validation {noun} detected: {}", errors.join("; ")))
}

/// The value as a message quotes it: `'abc' ` — nothing for a sensitive
/// member, as AWS writes `Value at 'plaintext' failed …`.
fn describe(shape: &Shape, value: &Value) -> String {
    if shape.sensitive {
        return String::new();
    }
    match value {
        Value::String(s) => format!("'{s}' "),
        other => format!("'{other}' "),
    }
}

fn check(model: &ServiceModel, shape: &Shape, value: &Value, path: &str, errors: &mut Vec<String>) {
    let fail = |errors: &mut Vec<String>, constraint: String| {
        errors.push(format!("Value {}at '{path}' failed to satisfy constraint: {constraint}", describe(shape, value)));
    };
    match (shape.kind, value) {
        (ShapeType::Structure, Value::Object(map)) => {
            for (name, member) in &shape.members {
                let member_path = join(path, &lower_camel(name));
                let v = map.get(name).unwrap_or(&Value::Null);
                if v.is_null() {
                    if shape.required.iter().any(|r| r == name) {
                        errors.push(format!(
                            "Value null at '{member_path}' failed to satisfy constraint: Member must not be null"
                        ));
                    }
                    continue;
                }
                if let Some(member_shape) = model.shape(&member.shape) {
                    check(model, member_shape, v, &member_path, errors);
                }
            }
        }
        (ShapeType::List, Value::Array(items)) => {
            check_size(shape, items.len(), "length", value, path, errors);
            if let Some(item_shape) = shape.member.as_ref().and_then(|m| model.shape(&m.shape)) {
                for (i, item) in items.iter().enumerate() {
                    check(model, item_shape, item, &format!("{path}.{}.member", i + 1), errors);
                }
            }
        }
        (ShapeType::Map, Value::Object(entries)) => {
            check_size(shape, entries.len(), "length", value, path, errors);
            let key_shape = shape.key.as_ref().and_then(|m| model.shape(&m.shape));
            let value_shape = shape.value.as_ref().and_then(|m| model.shape(&m.shape));
            for (k, v) in entries {
                if let Some(key_shape) = key_shape {
                    check(model, key_shape, &Value::String(k.clone()), &format!("{path}.key"), errors);
                }
                if let Some(value_shape) = value_shape {
                    check(model, value_shape, v, &join(path, k), errors);
                }
            }
        }
        (ShapeType::String, Value::String(s)) => {
            let len = s.chars().count();
            if let Some(max) = shape.max {
                if len as f64 > max {
                    fail(errors, format!("Member must have length less than or equal to {max}"));
                }
            }
            if let Some(min) = shape.min {
                if (len as f64) < min {
                    fail(errors, format!("Member must have length greater than or equal to {min}"));
                }
            }
            if let Some(values) = &shape.enum_values {
                if !values.iter().any(|v| v == s) {
                    fail(errors, format!("Member must satisfy enum value set: [{}]", values.join(", ")));
                }
            }
            if let (Some(pattern), Some(compiled)) = (&shape.pattern, shape.compiled_pattern()) {
                if !compiled.is_match(s) {
                    fail(errors, format!("Member must satisfy regular expression pattern: {pattern}"));
                }
            }
        }
        (ShapeType::Blob, Value::String(s)) => {
            // Length limits of blobs count decoded bytes.
            let bytes = (s.len() / 4 * 3).saturating_sub(s.chars().rev().take_while(|c| *c == '=').count());
            check_size(shape, bytes, "length", value, path, errors);
        }
        (ShapeType::Integer | ShapeType::Long | ShapeType::Float | ShapeType::Double, Value::Number(n)) => {
            let x = n.as_f64().unwrap_or_default();
            if let Some(max) = shape.max {
                if x > max {
                    fail(errors, format!("Member must have value less than or equal to {max}"));
                }
            }
            if let Some(min) = shape.min {
                if x < min {
                    fail(errors, format!("Member must have value greater than or equal to {min}"));
                }
            }
        }
        _ => {}
    }
}

fn check_size(shape: &Shape, size: usize, what: &str, value: &Value, path: &str, errors: &mut Vec<String>) {
    let size = size as f64;
    let bound = if shape.max.is_some_and(|max| size > max) {
        shape.max.map(|m| format!("less than or equal to {m}"))
    } else if shape.min.is_some_and(|min| size < min) {
        shape.min.map(|m| format!("greater than or equal to {m}"))
    } else {
        None
    };
    if let Some(bound) = bound {
        errors.push(format!(
            "Value {}at '{path}' failed to satisfy constraint: Member must have {what} {bound}",
            describe(shape, value)
        ));
    }
}

/// The value with every member of a `sensitive` shape removed, and every
/// member named in `secrets` (secrets whose shapes the model does not mark,
/// such as STS's `SessionToken`, from the operation's metadata), for audit
/// records: secrets never reach a record, whatever the operation.
pub fn redact_sensitive(model: &ServiceModel, shape_name: &str, value: &Value, secrets: &[&str]) -> Value {
    match model.shape(shape_name) {
        Some(shape) => Redaction { model, secrets }.redact(shape, value),
        None => Value::Null,
    }
}

struct Redaction<'a> {
    model: &'a ServiceModel,
    secrets: &'a [&'a str],
}

impl Redaction<'_> {
    fn redact(&self, shape: &Shape, value: &Value) -> Value {
        let model = self.model;
        match (shape.kind, value) {
            (ShapeType::Structure, Value::Object(map)) => {
                let mut out = serde_json::Map::new();
                for (name, member) in &shape.members {
                    let (Some(v), Some(member_shape)) = (map.get(name), model.shape(&member.shape)) else { continue };
                    if member_shape.sensitive || self.secrets.contains(&name.as_str()) {
                        continue;
                    }
                    out.insert(lower_camel(name), self.redact(member_shape, v));
                }
                Value::Object(out)
            }
            (ShapeType::List, Value::Array(items)) => match shape.member.as_ref().and_then(|m| model.shape(&m.shape)) {
                Some(item_shape) if !item_shape.sensitive => {
                    Value::Array(items.iter().map(|v| self.redact(item_shape, v)).collect())
                }
                _ => Value::Array(Vec::new()),
            },
            (ShapeType::Map, Value::Object(entries)) => {
                match shape.value.as_ref().and_then(|m| model.shape(&m.shape)) {
                    Some(value_shape) if !value_shape.sensitive => {
                        Value::Object(entries.iter().map(|(k, v)| (k.clone(), self.redact(value_shape, v))).collect())
                    }
                    _ => Value::Object(serde_json::Map::new()),
                }
            }
            _ if shape.sensitive => Value::Null,
            (ShapeType::Timestamp, Value::Number(n)) => {
                Value::String(crate::timestamp::format_iso8601(n.as_f64().unwrap_or_default()))
            }
            _ => value.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServiceId;
    use serde_json::json;

    fn check_iam(shape: &str, value: Value) -> Option<String> {
        validate(ServiceId::Iam.model(), shape, &value)
    }

    #[test]
    fn aws_messages_for_each_constraint() {
        let cases = [
            (json!({}), Some("1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null")),
            (json!({"UserName": "bob"}), None),
            (json!({"UserName": "a".repeat(65)}), Some("Member must have length less than or equal to 64")),
            (json!({"UserName": ""}), Some("Member must have length greater than or equal to 1")),
            (json!({"UserName": "bad name"}), Some("Value 'bad name' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+")),
            (json!({"UserName": "bob", "Tags": [{"Key": "k"}]}), Some("Value null at 'tags.1.member.value' failed to satisfy constraint: Member must not be null")),
        ];
        for (input, want) in cases {
            let got = check_iam("CreateUserRequest", input.clone());
            match want {
                None => assert_eq!(got, None, "{input}"),
                Some(w) => assert!(got.as_deref().is_some_and(|g| g.contains(w)), "{input}: {got:?}"),
            }
        }
        let two = check_iam("CreateUserRequest", json!({"UserName": "", "Path": "x"})).unwrap();
        assert!(two.starts_with("3 validation errors detected: "), "{two}");
        let range = check_iam("ListUsersRequest", json!({"MaxItems": 0})).unwrap();
        assert!(range.contains("Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1"), "{range}");
        let status =
            check_iam("UpdateAccessKeyRequest", json!({"AccessKeyId": "AKIAAAAAAAAAAAAAAAAA", "Status": "On"}))
                .unwrap();
        assert!(status.contains("Member must satisfy enum value set: [Active, Inactive"), "{status}");
    }

    #[test]
    fn undefined_output_members_are_named() {
        let model = ServiceId::Iam.model();
        let good = json!({"User": {"UserName": "bob", "UserId": "AIDA", "Arn": "a", "Path": "/", "CreateDate": 1.0,
                                    "Tags": [{"Key": "k", "Value": "v"}]}});
        assert!(undefined_output_members(model, "GetUserResponse", &good).is_empty());
        let bad = json!({"User": {"UserName": "bob", "Tagz": [], "Tags": [{"Key": "k", "Valeu": "v"}]}, "Extra": 1});
        let mut found = undefined_output_members(model, "GetUserResponse", &bad);
        found.sort();
        assert_eq!(found, ["Extra", "User.Tags[0].Valeu", "User.Tagz"]);
        let wrong_kind = json!({"User": "bob"});
        assert_eq!(undefined_output_members(model, "GetUserResponse", &wrong_kind).len(), 1);
        assert_eq!(undefined_output_members(model, "NoSuchShape", &json!({"A": 1})), ["(no output shape)"]);
        assert!(undefined_output_members(model, "NoSuchShape", &json!({})).is_empty());
    }

    #[test]
    fn redaction_drops_sensitive_members() {
        let model = ServiceId::Iam.model();
        let out = json!({"AccessKey": {"UserName": "bob", "AccessKeyId": "AKIA1", "Status": "Active",
                                        "SecretAccessKey": "s3cr3t", "CreateDate": 1440938160.0}});
        let red = redact_sensitive(model, "CreateAccessKeyResponse", &out, &[]);
        assert_eq!(
            red,
            json!({"accessKey": {"userName": "bob", "accessKeyId": "AKIA1", "status": "Active",
                                            "createDate": "2015-08-30T12:36:00Z"}})
        );
        assert!(!red.to_string().contains("s3cr3t"));
        let sts = ServiceId::Sts.model();
        let out = json!({"Credentials": {"AccessKeyId": "ASIA1", "SecretAccessKey": "s3cr3t",
                                          "SessionToken": "t0ken", "Expiration": 0.0}});
        let kept = redact_sensitive(sts, "GetSessionTokenResponse", &out, &[]);
        assert_eq!(kept["credentials"]["sessionToken"], "t0ken", "not sensitive in the model");
        let red = redact_sensitive(sts, "GetSessionTokenResponse", &out, &["SessionToken"]);
        assert_eq!(red, json!({"credentials": {"accessKeyId": "ASIA1", "expiration": "1970-01-01T00:00:00Z"}}));
    }
}
