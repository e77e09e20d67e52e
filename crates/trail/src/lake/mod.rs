//! CloudTrail Lake: event data stores (`stores`) and SQL queries over them
//! (`queries`), answered from the node's own audit store — no second copy
//! of the events and no query engine dependency: `sql` parses Lake's
//! SELECT subset and `eval` runs it over records as the store yields them.

pub mod eval;
pub mod queries;
pub mod sql;
pub(crate) mod stores;

pub use queries::{run, QueryScope, Statistics, Stopped};

use std::path::Path;

/// Runs a query offline over a node's data directory, read-only beside a
/// running node (`rampart trail query`): the FROM clause names one of its
/// event data stores by id or ARN.
pub fn query_stored(
    data: &Path,
    statement: &str,
    params: &[String],
    now_ms: i64,
) -> Result<(eval::Results, Statistics), String> {
    let planned = eval::plan(sql::parse(statement, params).map_err(|e| e.0)?, now_ms).map_err(|e| e.0)?;
    let from = planned.from().to_string();
    let id = from.rsplit('/').next().unwrap_or(&from);
    let mut found = None;
    for row in rampart_store::read_records(data, stores::STORE_KIND).map_err(|e| e.to_string())? {
        let record: stores::EventDataStoreRecord =
            serde_json::from_str(&row.value).map_err(|e| format!("event data store {}: {e}", row.key))?;
        let entry = stores::StoreEntry { account: row.account, record };
        if entry.record.id == id && (from == id || entry.arn() == from) {
            found = Some(entry);
        }
    }
    let entry = found.ok_or_else(|| format!("no event data store {from} in {}", data.display()))?;
    if entry.record.deleted.is_some() {
        return Err(format!("the event data store {from} is pending deletion"));
    }
    let scope = QueryScope::of(&entry, now_ms);
    let fetch = |scan: &rampart_store::EventScan, after: i64| {
        rampart_store::scan_events_read_only(data, scan, after, 64).map_err(|e| e.to_string())
    };
    let never = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    run(&planned, &scope, fetch, |_| {}, never, std::time::Duration::MAX).map_err(|stopped| match stopped {
        Stopped::Failed(message) => message,
        Stopped::Cancelled => "the query was cancelled".to_string(),
        Stopped::TimedOut => "the query timed out".to_string(),
    })
}
