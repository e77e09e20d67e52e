//! Event selectors: which of an account's events a trail delivers. Pure:
//! validation of what PutEventSelectors receives, and the match of one
//! CloudTrail record against a trail's selectors.
//!
//! Rampart records management events only (no data events, no network
//! activity events), so a basic selector decides by `ReadWriteType`,
//! `IncludeManagementEvents` and `ExcludeManagementEventSources`, and an
//! advanced selector by its field conditions over the record.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A basic event selector (`EventSelector`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventSelector {
    #[serde(default = "all")]
    pub read_write_type: String,
    #[serde(default = "yes")]
    pub include_management_events: bool,
    #[serde(default)]
    pub data_resources: Vec<DataResource>,
    #[serde(default)]
    pub exclude_management_event_sources: Vec<String>,
}

fn all() -> String {
    "All".to_string()
}

fn yes() -> bool {
    true
}

impl Default for EventSelector {
    /// A trail's selector until PutEventSelectors: every management event.
    fn default() -> EventSelector {
        EventSelector {
            read_write_type: all(),
            include_management_events: true,
            data_resources: Vec::new(),
            exclude_management_event_sources: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DataResource {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(default)]
    pub values: Vec<String>,
}

/// An advanced event selector: every field selector must hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdvancedEventSelector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub field_selectors: Vec<FieldSelector>,
}

/// One field's conditions: each operator present must hold (an operator's
/// values are alternatives, its negations all must hold).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FieldSelector {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_with: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_with: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_equals: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_starts_with: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_ends_with: Option<Vec<String>>,
}

/// A trail's selectors: basic or advanced, never both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Selectors {
    Basic(Vec<EventSelector>),
    Advanced(Vec<AdvancedEventSelector>),
}

impl Default for Selectors {
    fn default() -> Selectors {
        Selectors::Basic(vec![EventSelector::default()])
    }
}

/// Why PutEventSelectors refuses selectors (`InvalidEventSelectorsException`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSelectors(pub String);

/// The data resource types a basic selector may name (AWS's list).
const DATA_RESOURCE_TYPES: &[&str] = &["AWS::S3::Object", "AWS::Lambda::Function", "AWS::DynamoDB::Table"];

/// The fields an advanced selector may name for management events.
const FIELDS: &[&str] = &[
    "eventCategory",
    "eventSource",
    "eventName",
    "eventType",
    "readOnly",
    "errorCode",
    "userIdentity.arn",
    "resources.type",
    "resources.ARN",
    "sessionCredentialFromConsole",
    "vpcEndpointId",
];

/// AWS's limits: 5 basic selectors, 250 data resource values in all; 500
/// conditions over a trail's advanced selectors.
pub fn validate(selectors: &Selectors) -> Result<(), InvalidSelectors> {
    let refuse = |m: String| Err(InvalidSelectors(m));
    match selectors {
        Selectors::Basic(list) => {
            if list.is_empty() || list.len() > 5 {
                return refuse("A trail can have between 1 and 5 event selectors.".to_string());
            }
            let values: usize = list.iter().flat_map(|s| &s.data_resources).map(|d| d.values.len()).sum();
            if values > 250 {
                return refuse("A trail's event selectors can name at most 250 data resources.".to_string());
            }
            for selector in list {
                if !["ReadOnly", "WriteOnly", "All"].contains(&selector.read_write_type.as_str()) {
                    return refuse(format!("Invalid ReadWriteType: {}", selector.read_write_type));
                }
                for resource in &selector.data_resources {
                    if !DATA_RESOURCE_TYPES.contains(&resource.kind.as_str()) {
                        return refuse(format!("Invalid data resource type: {}", resource.kind));
                    }
                }
            }
            Ok(())
        }
        Selectors::Advanced(list) => {
            if list.is_empty() {
                return refuse("Specify at least one advanced event selector.".to_string());
            }
            let mut conditions = 0;
            for selector in list {
                let mut category = false;
                for field in &selector.field_selectors {
                    if !FIELDS.contains(&field.field.as_str()) {
                        return refuse(format!("Invalid field name: {}", field.field));
                    }
                    let operators = field.operators();
                    if operators.is_empty() {
                        return refuse(format!("Field {} needs at least one operator.", field.field));
                    }
                    conditions += operators.iter().map(|(_, values)| values.len()).sum::<usize>();
                    if field.field == "eventCategory" {
                        category = true;
                        let known = ["Management", "Data", "NetworkActivity"];
                        let named = operators.iter().flat_map(|(_, values)| values.iter());
                        if let Some(bad) = named.clone().find(|v| !known.contains(&v.as_str())) {
                            return refuse(format!("Invalid eventCategory value: {bad}"));
                        }
                    }
                }
                if !category {
                    return refuse(
                        "Each advanced event selector must have a field selector for eventCategory.".to_string(),
                    );
                }
            }
            if conditions > 500 {
                return refuse("A trail's advanced event selectors can have at most 500 conditions.".to_string());
            }
            Ok(())
        }
    }
}

impl FieldSelector {
    /// Each operator present and its values.
    fn operators(&self) -> Vec<(&'static str, &Vec<String>)> {
        [
            ("Equals", &self.equals),
            ("StartsWith", &self.starts_with),
            ("EndsWith", &self.ends_with),
            ("NotEquals", &self.not_equals),
            ("NotStartsWith", &self.not_starts_with),
            ("NotEndsWith", &self.not_ends_with),
        ]
        .into_iter()
        .filter_map(|(name, values)| values.as_ref().map(|v| (name, v)))
        .collect()
    }

    /// Whether one of the record's values of this field meets every operator.
    fn holds(&self, values: &[String]) -> bool {
        let one = |value: &str| {
            self.equals.as_ref().is_none_or(|e| e.iter().any(|x| x == value))
                && self.starts_with.as_ref().is_none_or(|p| p.iter().any(|x| value.starts_with(x.as_str())))
                && self.ends_with.as_ref().is_none_or(|p| p.iter().any(|x| value.ends_with(x.as_str())))
                && self.not_equals.as_ref().is_none_or(|e| e.iter().all(|x| x != value))
                && self.not_starts_with.as_ref().is_none_or(|p| p.iter().all(|x| !value.starts_with(x.as_str())))
                && self.not_ends_with.as_ref().is_none_or(|p| p.iter().all(|x| !value.ends_with(x.as_str())))
        };
        if values.is_empty() {
            // A field the record lacks meets only negative conditions.
            return self.equals.is_none() && self.starts_with.is_none() && self.ends_with.is_none();
        }
        values.iter().any(|v| one(v))
    }
}

/// The values a record has for an advanced selector's field.
fn field_values(record: &Value, field: &str) -> Vec<String> {
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let at = |path: &[&str]| path.iter().try_fold(record, |v, key| v.get(key)).and_then(text);
    match field {
        "resources.type" | "resources.ARN" => {
            let member = if field == "resources.type" { "type" } else { "ARN" };
            let resources = record.get("resources").and_then(Value::as_array);
            resources.into_iter().flatten().filter_map(|r| r.get(member).and_then(text)).collect()
        }
        "userIdentity.arn" => at(&["userIdentity", "arn"]).into_iter().collect(),
        "sessionCredentialFromConsole" => at(&["sessionCredentialFromConsole"]).into_iter().collect(),
        other => at(&[other]).into_iter().collect(),
    }
}

/// The record's top-level members (lowercased) that deciding these
/// selectors reads.
pub fn members(selectors: &Selectors) -> Vec<String> {
    let fields: Vec<&str> = match selectors {
        Selectors::Basic(_) => vec!["readOnly", "eventSource"],
        Selectors::Advanced(list) => list
            .iter()
            .flat_map(|s| &s.field_selectors)
            .map(|f| f.field.split('.').next().unwrap_or_default())
            .collect(),
    };
    fields.into_iter().map(str::to_ascii_lowercase).collect()
}

/// Whether a trail with these selectors delivers this record (a management event).
pub fn selects(selectors: &Selectors, record: &Value) -> bool {
    match selectors {
        Selectors::Basic(list) => {
            let read_only = record.get("readOnly").and_then(Value::as_bool).unwrap_or(false);
            let source = record.get("eventSource").and_then(Value::as_str).unwrap_or_default();
            selects_basic(list, read_only, source)
        }
        Selectors::Advanced(list) => list.iter().any(|s| {
            s.field_selectors.iter().all(|f| {
                let values = match f.field.as_str() {
                    // Every event Rampart records is a management event.
                    "eventCategory" => vec!["Management".to_string()],
                    field => field_values(record, field),
                };
                f.holds(&values)
            })
        }),
    }
}

/// What basic selectors decide by — whether the event is read-only and its
/// source — which the store's event row holds, so delivery need not parse
/// the record.
pub fn selects_basic(list: &[EventSelector], read_only: bool, source: &str) -> bool {
    list.iter().any(|s| {
        s.include_management_events
            && match s.read_write_type.as_str() {
                "ReadOnly" => read_only,
                "WriteOnly" => !read_only,
                _ => true,
            }
            && !s.exclude_management_event_sources.iter().any(|x| x == source)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn record(name: &str, source: &str, read_only: bool) -> Value {
        json!({
            "eventName": name, "eventSource": source, "readOnly": read_only, "eventCategory": "Management",
            "userIdentity": {"arn": "arn:aws:iam::123456789012:user/alice"},
            "resources": [{"type": "AWS::KMS::Key", "ARN": "arn:aws:kms:us-east-1:123456789012:key/k"}],
        })
    }

    fn advanced(fields: Value) -> Selectors {
        Selectors::Advanced(serde_json::from_value(json!([{ "FieldSelectors": fields }])).unwrap())
    }

    #[test]
    fn basic_selectors_decide_by_read_write_type_and_source() {
        let write = record("CreateUser", "iam.amazonaws.com", false);
        let read = record("Decrypt", "kms.amazonaws.com", true);
        assert!(selects(&Selectors::default(), &write) && selects(&Selectors::default(), &read));
        let only = |t: &str| Selectors::Basic(vec![EventSelector { read_write_type: t.into(), ..Default::default() }]);
        assert!(selects(&only("WriteOnly"), &write) && !selects(&only("WriteOnly"), &read));
        assert!(!selects(&only("ReadOnly"), &write) && selects(&only("ReadOnly"), &read));
        let no_kms = Selectors::Basic(vec![EventSelector {
            exclude_management_event_sources: vec!["kms.amazonaws.com".into()],
            ..Default::default()
        }]);
        assert!(selects(&no_kms, &write) && !selects(&no_kms, &read));
        let none = Selectors::Basic(vec![EventSelector { include_management_events: false, ..Default::default() }]);
        assert!(!selects(&none, &write));
    }

    #[test]
    fn advanced_selectors_match_every_field_condition() {
        let write = record("CreateUser", "iam.amazonaws.com", false);
        let read = record("Decrypt", "kms.amazonaws.com", true);
        let management = advanced(json!([{"Field": "eventCategory", "Equals": ["Management"]}]));
        assert!(selects(&management, &write) && selects(&management, &read));
        let data_only = advanced(json!([{"Field": "eventCategory", "Equals": ["Data"]}]));
        assert!(!selects(&data_only, &write));
        let writes_not_kms = advanced(json!([
            {"Field": "eventCategory", "Equals": ["Management"]},
            {"Field": "readOnly", "Equals": ["false"]},
            {"Field": "eventSource", "NotEquals": ["kms.amazonaws.com"]},
        ]));
        assert!(selects(&writes_not_kms, &write) && !selects(&writes_not_kms, &read));
        let prefix = advanced(json!([
            {"Field": "eventCategory", "Equals": ["Management"]},
            {"Field": "eventName", "StartsWith": ["Create", "Delete"]},
            {"Field": "userIdentity.arn", "EndsWith": [":user/alice"]},
        ]));
        assert!(selects(&prefix, &write) && !selects(&prefix, &read));
        let resource = advanced(json!([
            {"Field": "eventCategory", "Equals": ["Management"]},
            {"Field": "resources.type", "Equals": ["AWS::KMS::Key"]},
        ]));
        assert!(selects(&resource, &read));
        // A field the record lacks meets negative conditions only.
        let no_error = advanced(json!([
            {"Field": "eventCategory", "Equals": ["Management"]},
            {"Field": "errorCode", "NotEquals": ["AccessDenied"]},
        ]));
        let errors_only = advanced(json!([
            {"Field": "eventCategory", "Equals": ["Management"]},
            {"Field": "errorCode", "StartsWith": ["Access"]},
        ]));
        assert!(selects(&no_error, &write) && !selects(&errors_only, &write));
        let mut denied = write.clone();
        denied.as_object_mut().unwrap().insert("errorCode".into(), json!("AccessDenied"));
        assert!(!selects(&no_error, &denied) && selects(&errors_only, &denied));
    }

    #[test]
    fn validation_follows_aws_limits() {
        assert!(validate(&Selectors::default()).is_ok());
        assert!(validate(&Selectors::Basic(vec![])).is_err());
        assert!(validate(&Selectors::Basic(vec![EventSelector::default(); 6])).is_err());
        let bad_type =
            Selectors::Basic(vec![EventSelector { read_write_type: "Sometimes".into(), ..Default::default() }]);
        assert!(validate(&bad_type).is_err());
        let bad_resource = Selectors::Basic(vec![EventSelector {
            data_resources: vec![DataResource { kind: "AWS::EC2::Instance".into(), values: vec![] }],
            ..Default::default()
        }]);
        assert!(validate(&bad_resource).is_err());
        assert!(validate(&advanced(json!([{"Field": "eventName", "Equals": ["X"]}]))).is_err(), "needs eventCategory");
        assert!(validate(&advanced(json!([{"Field": "eventCategory", "Equals": ["Nope"]}]))).is_err());
        assert!(validate(&advanced(json!([{"Field": "eventCategory", "Equals": ["Management"]},
                                          {"Field": "colour", "Equals": ["red"]}])))
        .is_err());
        assert!(validate(&advanced(json!([{"Field": "eventCategory"}]))).is_err(), "no operator");
        let many: Vec<String> = (0..501).map(|i| format!("Op{i}")).collect();
        assert!(validate(&advanced(json!([{"Field": "eventCategory", "Equals": ["Management"]},
                                          {"Field": "eventName", "Equals": many}])))
        .is_err());
    }
}
