//! Durable storage for every service, behind one interface.
//!
//! Services keep their own typed state in memory and persist it here as
//! records: `(kind, account, key) -> value` (the value is the service's own
//! serialization). Audit events are stored in compressed batches, with an
//! index of the attributes CloudTrail lookups filter on (see `index`). All writes go through one writer thread that
//! commits several jobs per transaction (group commit); each job's mutation and
//! its audit event share that transaction, so they are durable together or not
//! at all.
//!
//! Only this crate knows SQL. A PostgreSQL backend will implement [`Backend`].

mod batch;
mod index;
mod sqlite;

use std::sync::Arc;

pub use sqlite::{read_records, scan_events_read_only, SqliteBackend};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("cannot open the data directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("the store's writer has stopped")]
    WriterGone,
    #[error("the store could not be scrubbed: {0}")]
    Scrub(String),
    #[error("the data directory holds schema version {found}, newer than this binary's {supported}")]
    SchemaTooNew { found: i64, supported: i64 },
}

/// One change to a service's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordWrite {
    Put { kind: &'static str, account: String, key: String, value: String },
    Delete { kind: &'static str, account: String, key: String },
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub account: String,
    pub key: String,
    pub value: String,
}

/// An audit event with the columns lookups filter on; `record` is the full
/// CloudTrail record as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub account: String,
    /// Milliseconds since the epoch.
    pub event_time_ms: i64,
    pub event_id: String,
    pub event_name: String,
    pub event_source: String,
    /// The region the call was made in (`awsRegion`).
    pub region: String,
    pub username: Option<String>,
    pub access_key_id: Option<String>,
    pub read_only: bool,
    /// `(ResourceType, ResourceName)` pairs.
    pub resources: Vec<(String, String)>,
    pub record: String,
}

/// The one attribute a lookup may filter on (CloudTrail allows one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFilter {
    EventId(String),
    EventName(String),
    ReadOnly(bool),
    Username(String),
    ResourceType(String),
    ResourceName(String),
    EventSource(String),
    AccessKeyId(String),
}

/// A page of an account's events, newest (last recorded) first.
#[derive(Debug, Clone, PartialEq)]
pub struct EventQuery {
    pub account: String,
    /// Only events of this region: CloudTrail's event history is regional.
    pub region: String,
    pub filter: Option<EventFilter>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    /// Continue with events recorded before this position (`StoredEvent::seq`).
    pub after: Option<i64>,
    pub limit: usize,
}

/// An event as read back, with its position (for paging: pass it as `after`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub seq: i64,
    pub row: EventRow,
}

/// Which events a scan reads: one account's, in some regions, in a span of
/// time (inclusive, milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventScan {
    pub account: String,
    /// `None`: every region.
    pub regions: Option<Vec<String>>,
    pub from_ms: i64,
    pub to_ms: i64,
}

/// One atomic unit of work: record changes and the audit events that describe
/// them. Events of no account are kept apart, and expire
/// (`Backend::expire_unattributed`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Commit {
    pub writes: Vec<RecordWrite>,
    pub events: Vec<EventRow>,
}

/// What every storage backend provides. Writes are async (group-committed by a
/// writer); reads are for start-up and lookups, never for the request path's
/// authentication or authorization.
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// Commits atomically; returns once durable.
    fn commit(&self, commit: Commit) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Every record of a kind, for loading a service's state at start-up.
    fn scan(&self, kind: &str) -> Result<Vec<Record>, StoreError>;
    /// A page of events.
    fn lookup_events(&self, query: &EventQuery) -> Result<Vec<StoredEvent>, StoreError>;
    /// The event cursor: the batches of attributed events committed after
    /// batch `after`, oldest first, at most `limit` of them, each with its
    /// number. Batches are numbered in commit order and never change, so
    /// a reader that remembers the last number it handled (trail
    /// delivery) misses nothing and reads nothing twice.
    fn event_batches_after(&self, after: i64, limit: usize) -> Result<Vec<(i64, Vec<EventRow>)>, StoreError>;
    /// A step of a scan over stored events (CloudTrail Lake's queries):
    /// the scan's events in the batches numbered above `after`, at most
    /// `limit` batches examined, oldest first, with the number of the
    /// last batch examined (`None` once there are no more).
    fn scan_events(&self, scan: &EventScan, after: i64, limit: usize) -> Result<ScanStep, StoreError>;
    /// The number of the last batch committed (0 before any).
    fn latest_event_batch(&self) -> Result<i64, StoreError>;
    /// Deletes the records of requests attributable to no account (failed
    /// authentication with an unknown key, or none) older than `before_ms`;
    /// returns how many batches went.
    fn expire_unattributed(&self, before_ms: i64) -> BoxFuture<'_, Result<usize, StoreError>>;
    /// Once what is committed so far is durable, leaves no copy of deleted
    /// records in the store's files (SQLite: secure delete is always on;
    /// this truncates the WAL after checkpointing it). KMS calls it after
    /// destroying key material.
    fn scrub(&self) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Deletes every record and event (dev mode's reset) and stores `events`
    /// (the reset's own record), in one transaction.
    fn wipe(&self, events: Vec<EventRow>) -> BoxFuture<'_, Result<(), StoreError>>;
}

/// What one step of a scan found, and where the next starts.
pub type ScanStep = (Vec<EventRow>, Option<i64>);

pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

pub type Store = Arc<dyn Backend>;
