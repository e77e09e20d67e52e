//! The storage form of audit events: the events one transaction commits are
//! stored together, length-prefixed and LZ4-compressed, as one row. One row per
//! transaction instead of one per request is what lets every request be
//! audited at the node's full rate; lookups decode and filter in memory.
//! Compression matters as much: a batch's records repeat the same identities,
//! agents and field names, so it shrinks about tenfold, and with it the
//! writer's WAL and checkpoint I/O.

use crate::{EventFilter, EventRow};

const NONE: u32 = u32::MAX;

/// Marks a compressed batch whose events carry their region.
const COMPRESSED_V2: &[u8; 4] = b"RLZ2";
/// Marks a compressed batch written before events carried their region
/// (batches written before compression have no mark at all).
const COMPRESSED: &[u8; 4] = b"RLZ4";
/// The largest decompressed batch a reader accepts: a damaged size prefix
/// must not make it allocate without bound.
const MAX_BATCH_BYTES: u32 = 1 << 30;

/// The stored form of a batch of encoded events.
pub(crate) fn compress(raw: &[u8]) -> Vec<u8> {
    let mut out = COMPRESSED_V2.to_vec();
    out.extend_from_slice(&lz4_flex::compress_prepend_size(raw));
    out
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Fields are far below 4 GiB: the request body limit bounds them.
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(NONE - 1).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn put_opt(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(v) => put_bytes(out, v.as_bytes()),
        None => out.extend_from_slice(&NONE.to_le_bytes()),
    }
}

/// Appends one event to a batch.
pub(crate) fn encode(out: &mut Vec<u8>, e: &EventRow) {
    put_bytes(out, e.account.as_bytes());
    out.extend_from_slice(&e.event_time_ms.to_le_bytes());
    put_bytes(out, e.event_id.as_bytes());
    put_bytes(out, e.event_name.as_bytes());
    put_bytes(out, e.event_source.as_bytes());
    put_bytes(out, e.region.as_bytes());
    put_opt(out, e.username.as_deref());
    put_opt(out, e.access_key_id.as_deref());
    out.push(u8::from(e.read_only));
    out.extend_from_slice(&u32::try_from(e.resources.len()).unwrap_or_default().to_le_bytes());
    for (kind, name) in &e.resources {
        put_bytes(out, kind.as_bytes());
        put_bytes(out, name.as_bytes());
    }
    put_bytes(out, e.record.as_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = (self.bytes.get(..n)?, self.bytes.get(n..)?);
        self.bytes = tail;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn string(&mut self) -> Option<String> {
        let len = self.u32()?;
        String::from_utf8(self.take(usize::try_from(len).ok()?)?.to_vec()).ok()
    }
    fn opt(&mut self) -> Option<Option<String>> {
        let save = self.bytes;
        if self.u32()? == NONE {
            return Some(None);
        }
        self.bytes = save;
        self.string().map(Some)
    }
}

/// Decodes a stored batch; `None` if it is damaged (never a panic).
pub(crate) fn decode(stored: &[u8]) -> Option<Vec<EventRow>> {
    let (compressed, with_region) = match (stored.strip_prefix(COMPRESSED_V2), stored.strip_prefix(COMPRESSED)) {
        (Some(c), _) => (c, true),
        (None, Some(c)) => (c, false),
        (None, None) => return decode_raw(stored, false),
    };
    let size = u32::from_le_bytes(compressed.get(..4)?.try_into().ok()?);
    if size > MAX_BATCH_BYTES {
        return None;
    }
    decode_raw(&lz4_flex::decompress_size_prepended(compressed).ok()?, with_region)
}

/// The region of an event stored before events carried it: its record's.
fn region_of_record(record: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Region {
        #[serde(rename = "awsRegion", default)]
        aws_region: String,
    }
    serde_json::from_str::<Region>(record).map(|r| r.aws_region).unwrap_or_default()
}

fn decode_raw(bytes: &[u8], with_region: bool) -> Option<Vec<EventRow>> {
    let mut r = Reader { bytes };
    let mut events = Vec::new();
    while !r.bytes.is_empty() {
        let account = r.string()?;
        let event_time_ms = i64::from_le_bytes(r.take(8)?.try_into().ok()?);
        let event_id = r.string()?;
        let event_name = r.string()?;
        let event_source = r.string()?;
        let region = if with_region { Some(r.string()?) } else { None };
        let username = r.opt()?;
        let access_key_id = r.opt()?;
        let read_only = *r.take(1)?.first()? != 0;
        let count = r.u32()?;
        let mut resources = Vec::new();
        for _ in 0..count {
            resources.push((r.string()?, r.string()?));
        }
        let record = r.string()?;
        let region = region.unwrap_or_else(|| region_of_record(&record));
        events.push(EventRow {
            account,
            event_time_ms,
            event_id,
            event_name,
            event_source,
            region,
            username,
            access_key_id,
            read_only,
            resources,
            record,
        });
    }
    Some(events)
}

pub(crate) fn matches(e: &EventRow, filter: Option<&EventFilter>) -> bool {
    match filter {
        None => true,
        Some(EventFilter::EventId(v)) => &e.event_id == v,
        Some(EventFilter::EventName(v)) => &e.event_name == v,
        Some(EventFilter::ReadOnly(v)) => e.read_only == *v,
        Some(EventFilter::Username(v)) => e.username.as_ref() == Some(v),
        Some(EventFilter::EventSource(v)) => &e.event_source == v,
        Some(EventFilter::AccessKeyId(v)) => e.access_key_id.as_ref() == Some(v),
        Some(EventFilter::ResourceType(v)) => e.resources.iter().any(|(t, _)| t == v),
        Some(EventFilter::ResourceName(v)) => e.resources.iter().any(|(_, n)| n == v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, user: Option<&str>) -> EventRow {
        EventRow {
            account: "123456789012".into(),
            event_time_ms: 1_700_000_000_123,
            event_id: "id".into(),
            event_name: name.into(),
            event_source: "iam.amazonaws.com".into(),
            region: "us-east-1".into(),
            username: user.map(str::to_string),
            access_key_id: None,
            read_only: false,
            resources: vec![("AWS::IAM::User".into(), "bob".into())],
            record: "{\"x\":1}".into(),
        }
    }

    #[test]
    fn round_trips_and_rejects_damage() {
        let mut bytes = Vec::new();
        let events = vec![event("CreateUser", Some("root")), event("GetUser", None)];
        for e in &events {
            encode(&mut bytes, e);
        }
        assert_eq!(decode_raw(&bytes, true), Some(events.clone()));
        assert_eq!(decode_raw(&bytes[..bytes.len() - 1], true), None);
        assert_eq!(decode(&[0xff, 0xff, 0xff, 0x7f]), None);
        assert_eq!(decode(&[]), Some(vec![]));

        // Stored batches are compressed; uncompressed ones (older data) still read.
        let stored = compress(&bytes);
        assert!(stored.starts_with(COMPRESSED_V2));
        assert_eq!(decode(&stored), Some(events.clone()));
        assert_eq!(decode(&stored[..stored.len() - 1]), None);
        let mut huge = COMPRESSED_V2.to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.extend_from_slice(&[0; 16]);
        assert_eq!(decode(&huge), None);
        let many: Vec<EventRow> = (0..200).map(|_| events[0].clone()).collect();
        let mut raw = Vec::new();
        many.iter().for_each(|e| encode(&mut raw, e));
        assert!(compress(&raw).len() * 5 < raw.len(), "similar records compress well");
    }

    #[test]
    fn batches_from_before_regions_take_the_records_region() {
        // The first format: no region field; the region is read from the record.
        let mut v1 = Vec::new();
        put_bytes(&mut v1, b"123456789012");
        v1.extend_from_slice(&5_i64.to_le_bytes());
        for field in ["id", "GetUser", "iam.amazonaws.com"] {
            put_bytes(&mut v1, field.as_bytes());
        }
        put_opt(&mut v1, None);
        put_opt(&mut v1, None);
        v1.push(1);
        v1.extend_from_slice(&0_u32.to_le_bytes());
        put_bytes(&mut v1, br#"{"awsRegion":"eu-west-1"}"#);
        let mut stored = COMPRESSED.to_vec();
        stored.extend_from_slice(&lz4_flex::compress_prepend_size(&v1));
        for batch in [stored, v1] {
            let events = decode(&batch).unwrap_or_default();
            assert_eq!(events.len(), 1);
            assert_eq!(events[0].region, "eu-west-1");
            assert_eq!(events[0].event_name, "GetUser");
        }
    }
}
