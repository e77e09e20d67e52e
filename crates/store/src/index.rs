//! The lookup index of audit events. Events are stored in compressed batches
//! (see `batch`); beside each batch the index keeps the time span of its
//! events and a Bloom filter of the *terms* they carry — an account and
//! region with one lookup attribute and its value. A lookup reads the small
//! filter rows newest first and decodes only the batches whose filter may
//! hold its term: a rare attribute costs what its matches cost plus a few
//! bytes per batch, not a decode of the whole trail. Writing costs a handful
//! of hashes per event and one small row per batch (an index table with a row
//! per distinct term made the writer seven times slower on a trail of many
//! users; measured with `benches/lookup.rs`).
//!
//! An event id is not a term: Rampart's event ids are UUIDv7, whose first 48
//! bits are the time they were made, so an id lookup reads the batches of
//! that moment.

use std::collections::HashSet;

use crate::{EventFilter, EventQuery, EventRow};

/// A request's record is made at most this long after the request arrived
/// (its `eventTime`): the window in which an event id's time is looked for.
const ID_SKEW_MS: i64 = 10 * 60 * 1000;

/// Bits of filter per distinct term (about 1% false positives with
/// `PROBES`), and the smallest filter.
const BITS_PER_TERM: usize = 10;
const MIN_BITS: usize = 512;
const PROBES: u64 = 7;

/// FNV-1a, 64 bits: stored filters must hash alike in every build, which
/// std's hasher does not promise (and no crate is needed for ten lines).
fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        let bytes = part.as_bytes().iter().copied();
        // A separator byte no part contains keeps ("ab", "c") apart from ("a", "bc").
        let separated = if i == 0 { None } else { Some(0x1f) };
        for b in separated.into_iter().chain(bytes) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// The hash of a term: an account and region with an attribute and value
/// (`*` and nothing for "any event").
fn term(account: &str, region: &str, attribute: &str, value: &str) -> u64 {
    fnv1a(&[account, region, attribute, value])
}

/// The term every event of an account and region carries.
pub(crate) fn any_event(account: &str, region: &str) -> u64 {
    term(account, region, "*", "")
}

/// Every term of an event: the ones its lookups can name.
fn terms_of(e: &EventRow) -> Vec<u64> {
    let t = |attribute: &str, value: &str| term(&e.account, &e.region, attribute, value);
    let mut terms = vec![
        t("*", ""),
        t("EventName", &e.event_name),
        t("EventSource", &e.event_source),
        t("ReadOnly", if e.read_only { "true" } else { "false" }),
    ];
    terms.extend(e.username.as_deref().map(|u| t("Username", u)));
    terms.extend(e.access_key_id.as_deref().map(|k| t("AccessKeyId", k)));
    for (kind, name) in &e.resources {
        terms.push(t("ResourceType", kind));
        terms.push(t("ResourceName", name));
    }
    terms
}

/// The bit positions a term sets (double hashing from one 64-bit hash).
fn probes(hash: u64, bits: usize) -> impl Iterator<Item = usize> {
    let step = hash.rotate_left(32) | 1;
    let bits = bits as u64;
    (0..PROBES).map(move |i| (hash.wrapping_add(i.wrapping_mul(step)) % bits) as usize)
}

/// Whether a stored filter may hold a term (never `false` for one it holds).
pub(crate) fn may_hold(filter: &[u8], hash: u64) -> bool {
    let bits = filter.len() * 8;
    bits > 0 && probes(hash, bits).all(|p| filter.get(p / 8).is_some_and(|byte| byte & (1 << (p % 8)) != 0))
}

/// What the index keeps of one batch, as its events are gathered.
#[derive(Debug, Default)]
pub(crate) struct BatchIndex {
    terms: HashSet<u64>,
    first_ms: Option<i64>,
    last_ms: Option<i64>,
}

impl BatchIndex {
    pub fn add(&mut self, e: &EventRow) {
        self.terms.extend(terms_of(e));
        self.first_ms = Some(self.first_ms.map_or(e.event_time_ms, |t| t.min(e.event_time_ms)));
        self.last_ms = Some(self.last_ms.map_or(e.event_time_ms, |t| t.max(e.event_time_ms)));
    }

    /// The time span of the batch's events.
    pub fn span(&self) -> (i64, i64) {
        (self.first_ms.unwrap_or_default(), self.last_ms.unwrap_or_default())
    }

    /// The Bloom filter of the batch's terms.
    pub fn filter(&self) -> Vec<u8> {
        let bits = (self.terms.len() * BITS_PER_TERM).max(MIN_BITS).next_multiple_of(8);
        let mut filter = vec![0u8; bits / 8];
        for hash in &self.terms {
            for p in probes(*hash, bits) {
                if let Some(byte) = filter.get_mut(p / 8) {
                    *byte |= 1 << (p % 8);
                }
            }
        }
        filter
    }
}

/// The milliseconds a UUIDv7 was made at (`None` for other ids).
fn uuid_v7_millis(id: &str) -> Option<i64> {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || hex.get(12..13) != Some("7") {
        return None;
    }
    i64::from_str_radix(hex.get(..12)?, 16).ok()
}

/// What a lookup asks of the index: the term its events carry (`None`: any
/// event) and the time span they must fall in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexQuery {
    pub term: Option<u64>,
    pub from_ms: i64,
    pub to_ms: i64,
}

impl IndexQuery {
    pub fn of(q: &EventQuery) -> IndexQuery {
        let t = |attribute: &str, value: &str| Some(term(&q.account, &q.region, attribute, value));
        let (mut from_ms, mut to_ms) = (q.start_ms.unwrap_or(i64::MIN), q.end_ms.unwrap_or(i64::MAX));
        let term = match &q.filter {
            // Any event of the account and region.
            None => t("*", ""),
            Some(EventFilter::EventId(id)) => {
                if let Some(made) = uuid_v7_millis(id) {
                    from_ms = from_ms.max(made.saturating_sub(ID_SKEW_MS));
                    to_ms = to_ms.min(made);
                }
                t("*", "")
            }
            Some(EventFilter::EventName(v)) => t("EventName", v),
            Some(EventFilter::ReadOnly(v)) => t("ReadOnly", if *v { "true" } else { "false" }),
            Some(EventFilter::Username(v)) => t("Username", v),
            Some(EventFilter::ResourceType(v)) => t("ResourceType", v),
            Some(EventFilter::ResourceName(v)) => t("ResourceName", v),
            Some(EventFilter::EventSource(v)) => t("EventSource", v),
            Some(EventFilter::AccessKeyId(v)) => t("AccessKeyId", v),
        };
        IndexQuery { term, from_ms, to_ms }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> EventRow {
        EventRow {
            account: "123456789012".into(),
            event_time_ms: 1_000,
            event_id: "id".into(),
            event_name: "CreateUser".into(),
            event_source: "iam.amazonaws.com".into(),
            region: "us-east-1".into(),
            username: Some("alice".into()),
            access_key_id: None,
            read_only: false,
            resources: vec![("AWS::IAM::User".into(), "bob".into())],
            record: "{}".into(),
        }
    }

    fn query(filter: Option<EventFilter>) -> EventQuery {
        EventQuery {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            filter,
            start_ms: None,
            end_ms: None,
            after: None,
            limit: 50,
        }
    }

    #[test]
    fn every_lookup_of_an_event_finds_its_batch() {
        let mut batch = BatchIndex::default();
        batch.add(&event());
        let mut later = event();
        later.event_time_ms = 5_000;
        batch.add(&later);
        let filter = batch.filter();
        let holds = |q: &EventQuery| IndexQuery::of(q).term.is_some_and(|t| may_hold(&filter, t));
        for filter in [
            None,
            Some(EventFilter::EventName("CreateUser".into())),
            Some(EventFilter::ReadOnly(false)),
            Some(EventFilter::Username("alice".into())),
            Some(EventFilter::ResourceType("AWS::IAM::User".into())),
            Some(EventFilter::ResourceName("bob".into())),
            Some(EventFilter::EventSource("iam.amazonaws.com".into())),
            Some(EventFilter::EventId("id".into())),
        ] {
            assert!(holds(&query(filter.clone())), "{filter:?}");
        }
        assert_eq!(batch.span(), (1_000, 5_000));
        // Another region, account or value is another term (a filter this
        // small and this empty gives no false positive for these).
        let mut elsewhere = query(Some(EventFilter::EventName("CreateUser".into())));
        elsewhere.region = "eu-west-1".into();
        assert!(!holds(&elsewhere));
        assert!(!holds(&query(Some(EventFilter::AccessKeyId("AKIA".into())))));
        assert!(!holds(&query(Some(EventFilter::Username("alicia".into())))));
    }

    #[test]
    fn filters_are_stable_and_rarely_wrong() {
        // Stored filters are read by later builds: the hash must not change.
        assert_eq!(fnv1a(&[""]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(&["a"]), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(fnv1a(&["ab", "c"]), fnv1a(&["a", "bc"]));
        let mut batch = BatchIndex::default();
        for i in 0..256 {
            let mut e = event();
            e.username = Some(format!("user{i}"));
            e.resources = vec![("AWS::IAM::User".into(), format!("r{i}"))];
            batch.add(&e);
        }
        let filter = batch.filter();
        let false_positives = (0..10_000)
            .filter(|i| may_hold(&filter, term("123456789012", "us-east-1", "Username", &format!("absent{i}"))))
            .count();
        assert!(false_positives < 300, "{false_positives} of 10000");
        assert!((0..256).all(|i| may_hold(&filter, term("123456789012", "us-east-1", "Username", &format!("user{i}")))));
    }

    #[test]
    fn an_event_id_made_as_uuid_v7_narrows_the_time() {
        // 0x018f3c2a1b00 ms, version 7.
        let id = "018f3c2a-1b00-7abc-8def-0123456789ab";
        let made = 0x018f_3c2a_1b00_i64;
        assert_eq!(uuid_v7_millis(id), Some(made));
        assert_eq!(uuid_v7_millis("018f3c2a-1b00-4abc-8def-0123456789ab"), None, "v4");
        assert_eq!(uuid_v7_millis("nonsense"), None);
        let q = IndexQuery::of(&query(Some(EventFilter::EventId(id.into()))));
        assert_eq!((q.from_ms, q.to_ms), (made - ID_SKEW_MS, made));
        let v4 = IndexQuery::of(&query(Some(EventFilter::EventId("0f3c2a1b-0000-4abc-8def-0123456789ab".into()))));
        assert_eq!((v4.from_ms, v4.to_ms), (i64::MIN, i64::MAX), "other ids: every batch");
    }
}
