//! LookupEvents over the audit events the pipeline records: 90 days of an
//! account's management events in one region, newest first, filtered by
//! one lookup attribute, paged by a token bound to its query.

use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use rampart_core::{AwsError, Call, Outcome, OutputMembers, ServiceId};
use rampart_store::{EventFilter, EventQuery, StoredEvent};
use rampart_wire::{CloudTrailException, CommonError, ExceptionId};

use crate::Trail;

const DEFAULT_MAX_RESULTS: usize = 50;
/// How far back LookupEvents reads: AWS's event history holds 90 days.
const HISTORY_MS: i64 = 90 * 86_400_000;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LookupAttribute {
    attribute_key: String,
    attribute_value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct LookupEventsInput {
    #[serde(default)]
    lookup_attributes: Vec<LookupAttribute>,
    start_time: Option<f64>,
    end_time: Option<f64>,
    event_category: Option<String>,
    max_results: Option<usize>,
    next_token: Option<String>,
}

fn filter_of(attribute: &LookupAttribute) -> Result<EventFilter, AwsError> {
    let v = attribute.attribute_value.clone();
    Ok(match attribute.attribute_key.as_str() {
        "EventId" => EventFilter::EventId(v),
        "EventName" => EventFilter::EventName(v),
        "ReadOnly" => match v.as_str() {
            "true" => EventFilter::ReadOnly(true),
            "false" => EventFilter::ReadOnly(false),
            _ => {
                return Err(
                    CloudTrailException::InvalidLookupAttributesException.error("ReadOnly must be true or false.")
                )
            }
        },
        "Username" => EventFilter::Username(v),
        "ResourceType" => EventFilter::ResourceType(v),
        "ResourceName" => EventFilter::ResourceName(v),
        "EventSource" => EventFilter::EventSource(v),
        "AccessKeyId" => EventFilter::AccessKeyId(v),
        other => {
            return Err(CloudTrailException::InvalidLookupAttributesException
                .error(format!("Unknown lookup attribute key {other}.")))
        }
    })
}

/// A token names where the next page starts and the query it belongs to, so a
/// token reused with other parameters is refused.
fn token_fingerprint(input: &LookupEventsInput) -> u64 {
    let mut text = String::new();
    for a in &input.lookup_attributes {
        text.push_str(&a.attribute_key);
        text.push('\x1f');
        text.push_str(&a.attribute_value);
    }
    text.push_str(&format!("{:?}{:?}", input.start_time, input.end_time));
    // FNV-1a: a fingerprint, not a security boundary (the token is not a secret).
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn encode_token(seq: i64, fingerprint: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{seq}:{fingerprint:x}"))
}

fn decode_token(token: &str, fingerprint: u64) -> Option<i64> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (seq, fp) = text.split_once(':')?;
    let fp = u64::from_str_radix(fp, 16).ok()?;
    (fp == fingerprint).then_some(seq.parse().ok()?)
}

fn event_json(e: &StoredEvent) -> Value {
    let row = &e.row;
    let resources: Vec<Value> =
        row.resources.iter().map(|(t, n)| json!({"ResourceType": t, "ResourceName": n})).collect();
    let mut out = json!({
        "EventId": row.event_id,
        "EventName": row.event_name,
        "ReadOnly": if row.read_only { "true" } else { "false" },
        "EventTime": (row.event_time_ms / 1000) as f64,
        "EventSource": row.event_source,
        "Resources": resources,
        "CloudTrailEvent": row.record,
    });
    if let Some(k) = &row.access_key_id {
        out.set("AccessKeyId", json!(k));
    }
    if let Some(u) = &row.username {
        out.set("Username", json!(u));
    }
    out
}

impl Trail {
    pub(crate) async fn lookup_events(&self, call: &Call, input: LookupEventsInput) -> Result<Outcome, AwsError> {
        if input.lookup_attributes.len() > 1 {
            return Err(CloudTrailException::InvalidLookupAttributesException
                .error("You cannot specify more than one lookup attribute."));
        }
        let filter = input.lookup_attributes.first().map(filter_of).transpose()?;
        let to_ms = |s: f64| (s * 1000.0) as i64;
        let (start_ms, end_ms) = (input.start_time.map(to_ms), input.end_time.map(to_ms));
        if let (Some(s), Some(e)) = (start_ms, end_ms) {
            if s > e {
                return Err(CloudTrailException::InvalidTimeRangeException.error("Start time must be before end time."));
            }
        }
        // Event history is the last 90 days (Lake and trails keep longer).
        let oldest = call.time_ms.saturating_sub(HISTORY_MS);
        let start_ms = Some(start_ms.map_or(oldest, |s| s.max(oldest)));
        // Rampart records management events only; there are no Insights events to return.
        if input.event_category.is_some() {
            return Ok(Outcome::read(json!({ "Events": [] })));
        }
        let fingerprint = token_fingerprint(&input);
        let after = match &input.next_token {
            Some(token) => Some(decode_token(token, fingerprint).ok_or_else(|| {
                CloudTrailException::InvalidNextTokenException.error("The NextToken is not valid for this query.")
            })?),
            None => None,
        };
        let limit = input.max_results.unwrap_or(DEFAULT_MAX_RESULTS);
        let query = EventQuery {
            account: call.caller.account().to_string(),
            // Event history is regional (IAM's global calls are us-east-1's).
            region: call.region.clone(),
            filter,
            start_ms,
            end_ms,
            after,
            // One more than asked, to know whether another page exists.
            limit: limit + 1,
        };
        let store = self.store.clone();
        let mut events = tokio::task::spawn_blocking(move || store.lookup_events(&query))
            .await
            .map_err(|_| CommonError::InternalFailure.error(ServiceId::CloudTrail, "The lookup was interrupted."))?
            .map_err(|_| {
                CommonError::InternalFailure.error(ServiceId::CloudTrail, "The audit store could not be read.")
            })?;
        let next = if events.len() > limit {
            events.truncate(limit);
            events.last().map(|e| encode_token(e.seq, fingerprint))
        } else {
            None
        };
        let mut output = json!({ "Events": events.iter().map(event_json).collect::<Vec<_>>() });
        if let Some(token) = next {
            output.set("NextToken", json!(token));
        }
        Ok(Outcome::read(output))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_their_query() {
        let input = |v: &str| LookupEventsInput {
            lookup_attributes: vec![LookupAttribute { attribute_key: "EventName".into(), attribute_value: v.into() }],
            start_time: None,
            end_time: None,
            event_category: None,
            max_results: None,
            next_token: None,
        };
        let fp = token_fingerprint(&input("CreateUser"));
        let token = encode_token(7, fp);
        assert_eq!(decode_token(&token, fp), Some(7));
        assert_eq!(decode_token(&token, token_fingerprint(&input("DeleteUser"))), None);
        assert_eq!(decode_token("garbage", fp), None);
    }
}
