//! Lake queries: StartQuery runs a statement over an event data store in
//! the background (on the blocking pool, reading the audit store a step
//! at a time); DescribeQuery, GetQueryResults, ListQueries and CancelQuery
//! follow it. Queries and their results are kept in memory for seven days
//! (AWS keeps results that long); each principal keeps at most
//! `KEPT_PER_PRINCIPAL` queries and `KEPT_BYTES_PER_PRINCIPAL` of results
//! (a role's sessions count as the role), its own oldest going first, so no
//! caller can evict another's — short of the account's backstop,
//! `KEPT_BYTES_PER_ACCOUNT`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use serde::Deserialize;
use serde_json::{json, Value};

use rampart_core::{Call, Change, Outcome, OutputMembers};
use rampart_store::{EventRow, EventScan, ScanStep, Store};
use rampart_wire::{AwsError, CloudTrailException as E, ExceptionId};

use super::eval::{plan, EvalError, Plan, Results, Row, Stop};
use super::sql::parse;
use super::stores::{active, find, StoreEntry};
use crate::selectors::{self, Selectors};
use crate::{State, Trail};

/// Queries running at once per account (AWS's quota).
const CONCURRENT_PER_ACCOUNT: usize = 10;
/// Queries (and results) kept per principal; its oldest finished go first.
const KEPT_PER_PRINCIPAL: usize = 1_000;
const KEPT_BYTES_PER_PRINCIPAL: usize = 256 << 20;
/// Results kept per account in all, beyond which the account's oldest go:
/// a backstop, far above what one principal keeps.
const KEPT_BYTES_PER_ACCOUNT: usize = 2 << 30;
/// A query reserved by StartQuery that has not started this long after
/// (its call's record could not be committed) no longer counts as running.
const START_WITHIN_SECS: f64 = 60.0;
const KEPT_FOR_SECS: f64 = 7.0 * 86_400.0;
/// How long a query may run before it is TIMED_OUT.
const TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// Batches of events read per step (256 events each, at most).
const BATCHES_PER_STEP: usize = 64;

/// One ingestion window of a store as a query reads it.
#[derive(Debug, Clone)]
pub struct ScopeWindow {
    /// Cut to the retention period (ms, inclusive).
    pub from: i64,
    pub until: i64,
    /// `None`: every region (the store was multi-Region then).
    pub regions: Option<Vec<String>>,
    pub selectors: Selectors,
}

/// What a query reads: an event data store's events as it holds them —
/// each window's events under that window's settings.
#[derive(Debug, Clone)]
pub struct QueryScope {
    pub account: String,
    pub windows: Vec<ScopeWindow>,
}

impl QueryScope {
    pub(crate) fn of(entry: &StoreEntry, now_ms: i64) -> QueryScope {
        let r = &entry.record;
        let oldest = now_ms.saturating_sub(i64::from(r.retention_days).saturating_mul(86_400_000));
        let windows = r
            .windows
            .iter()
            .map(|w| ScopeWindow {
                from: w.from.max(oldest),
                until: w.until.unwrap_or(i64::MAX),
                regions: (!w.multi_region).then(|| vec![r.home_region.clone()]),
                selectors: Selectors::Advanced(w.selectors.clone()),
            })
            .filter(|w| w.from <= w.until)
            .collect();
        QueryScope { account: entry.account.clone(), windows }
    }

    /// The window an event falls in, if the store took it in then.
    fn window_of(&self, event: &EventRow) -> Option<&ScopeWindow> {
        self.windows.iter().find(|w| {
            (w.from..=w.until).contains(&event.event_time_ms)
                && w.regions.as_ref().is_none_or(|regions| regions.contains(&event.region))
        })
    }

    /// What the store's scan reads: every region any window read.
    fn regions(&self) -> Option<Vec<String>> {
        let mut all: Vec<String> = Vec::new();
        for window in &self.windows {
            all.extend(window.regions.clone()?);
        }
        all.sort();
        all.dedup();
        Some(all)
    }
}

/// Parses a record keeping only the `wanted` top-level members (lowercased
/// names), skipping the others unparsed into values; every member when `None`.
fn parse_record(text: &str, wanted: Option<&[String]>) -> Option<Value> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
    struct Members<'w>(&'w [String]);
    impl<'de> DeserializeSeed<'de> for Members<'_> {
        type Value = Value;
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
            deserializer.deserialize_map(self)
        }
    }
    impl<'de> Visitor<'de> for Members<'_> {
        type Value = Value;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a CloudTrail record")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut members = serde_json::Map::new();
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if self.0.iter().any(|w| w.eq_ignore_ascii_case(&key)) {
                    members.insert(key.into_owned(), map.next_value::<Value>()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(Value::Object(members))
        }
    }
    let Some(wanted) = wanted else { return serde_json::from_str(text).ok() };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let record = Members(wanted).deserialize(&mut deserializer).ok()?;
    deserializer.end().ok()?;
    Some(record)
}

/// What a query has read so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Statistics {
    pub events_scanned: u64,
    pub events_matched: u64,
    pub bytes_scanned: u64,
    pub execution_ms: u64,
}

/// How a run ended other than with results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    Failed(String),
    Cancelled,
    TimedOut,
}

/// Runs a planned query over a scope's events, read by `fetch` a step at a
/// time (`fetch(after)` as `Backend::scan_events`). `progress` sees the
/// statistics after each step. `cancelled` stops it (within a row's work
/// too), as does `timeout`. A defect that panics fails the query rather
/// than leaving it running.
pub fn run(
    plan: &Plan,
    scope: &QueryScope,
    fetch: impl FnMut(&EventScan, i64) -> Result<ScanStep, String>,
    progress: impl FnMut(&Statistics),
    cancelled: Arc<AtomicBool>,
    timeout: Duration,
) -> Result<(Results, Statistics), Stopped> {
    let started = Instant::now();
    let stop =
        Stop { cancelled: cancelled.clone(), deadline: started.checked_add(timeout).unwrap_or(started + TIMEOUT) };
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_steps(plan, scope, fetch, progress, stop)));
    let stopped = || match cancelled.load(Ordering::SeqCst) {
        true => Stopped::Cancelled,
        false => Stopped::TimedOut,
    };
    match outcome {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(Some(failed))) => Err(failed),
        Ok(Err(None)) => Err(stopped()),
        Err(_) => {
            tracing::error!("a Lake query panicked");
            Err(Stopped::Failed("The query failed.".to_string()))
        }
    }
}

/// The steps of `run`: `Err(None)` when stopped.
fn run_steps(
    plan: &Plan,
    scope: &QueryScope,
    mut fetch: impl FnMut(&EventScan, i64) -> Result<ScanStep, String>,
    mut progress: impl FnMut(&Statistics),
    stop: Stop,
) -> Result<(Results, Statistics), Option<Stopped>> {
    let started = Instant::now();
    let (from, to) = plan.time_range();
    let first = scope.windows.iter().map(|w| w.from).min().unwrap_or(i64::MAX);
    let last = scope.windows.iter().map(|w| w.until).max().unwrap_or(i64::MIN);
    let scan = EventScan {
        account: scope.account.clone(),
        regions: scope.regions(),
        from_ms: from.unwrap_or(i64::MIN).max(first),
        // A record's eventTime is whole seconds: an event of 12.345 s is
        // at 12 s to the query.
        to_ms: to.map_or(i64::MAX, |t| t.saturating_add(999)).min(last),
    };
    // Only the members the query and the store's selectors read are parsed.
    let wanted: Option<Vec<String>> = plan.members().map(|members| {
        let mut wanted: Vec<String> = members.into_iter().collect();
        wanted.extend(scope.windows.iter().flat_map(|w| selectors::members(&w.selectors)));
        wanted.sort();
        wanted.dedup();
        wanted
    });
    let mut stats = Statistics::default();
    let mut execution = plan.start(Some(stop.clone()));
    let failed = |e: EvalError| match stop.now() {
        true => None,
        false => Some(Stopped::Failed(e.0)),
    };
    let mut after = 0;
    while scan.from_ms <= scan.to_ms && !execution.is_done() {
        let (events, next) = fetch(&scan, after).map_err(|e| Some(Stopped::Failed(e)))?;
        for event in &events {
            let Some(window) = scope.window_of(event) else { continue };
            let Some(record) = parse_record(&event.record, wanted.as_deref()) else { continue };
            if !selectors::selects(&window.selectors, &record) {
                continue;
            }
            stats.events_scanned += 1;
            stats.bytes_scanned += event.record.len() as u64;
            let time_ms = event.event_time_ms - event.event_time_ms.rem_euclid(1000);
            execution.add(Row { record: &record, time_ms }).map_err(failed)?;
            if execution.is_done() {
                break;
            }
        }
        stats.execution_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        progress(&stats);
        if stop.now() {
            return Err(None);
        }
        match next {
            Some(n) => after = n,
            None => break,
        }
    }
    let results = execution.finish().map_err(failed)?;
    stats.events_matched = results.matched;
    stats.execution_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok((results, stats))
}

/// A query in memory.
#[derive(Debug, Clone)]
pub(crate) struct QueryEntry {
    pub id: String,
    pub account: String,
    /// The region of the store it reads: it is found from there only.
    pub region: String,
    /// Who started it (its ARN): what it holds counts against them.
    pub owner: String,
    pub store_arn: String,
    pub statement: String,
    pub status: &'static str,
    pub created: f64,
    pub error: Option<String>,
    pub stats: Statistics,
    pub results: Arc<Results>,
    /// The size of its results.
    pub bytes: usize,
    pub cancel: Arc<AtomicBool>,
}

impl QueryEntry {
    fn running(&self, now: f64) -> bool {
        self.status == "RUNNING" || (self.status == "QUEUED" && now - self.created < START_WITHIN_SECS)
    }

    fn visible_to(&self, call: &Call) -> bool {
        self.account == call.caller.account().as_str() && self.region == call.region
    }
}

fn statement_error(e: impl std::fmt::Display) -> AwsError {
    E::InvalidQueryStatementException.error(format!("The query statement is not valid: {e}"))
}

fn other_accounts(owner: Option<&String>, call: &Call) -> Result<(), AwsError> {
    match owner {
        Some(owner) if owner != call.caller.account().as_str() => {
            Err(E::UnsupportedOperationException.error("Querying another account's event data store is not supported."))
        }
        _ => Ok(()),
    }
}

/// The event data store a statement's FROM clause names, as parsed for
/// authorization (`None` when the statement does not parse).
pub(crate) fn statement_store(input: &Value) -> Option<String> {
    let statement = input.get("QueryStatement")?.as_str()?;
    let params = query_params(input);
    parse(statement, &params).ok().map(|q| q.from)
}

fn query_params(input: &Value) -> Vec<String> {
    let list = input.get("QueryParameters").and_then(Value::as_array);
    list.into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect()
}

/// Finds a query of the caller's account (and of the named store, if one is).
fn find_query<'s>(state: &'s State, call: &Call, id: &str, store: Option<&str>) -> Result<&'s QueryEntry, AwsError> {
    let not_found =
        || E::QueryIdNotFoundException.error(format!("The query ID does not exist or does not map to a query: {id}"));
    let entry = state.queries.get(id).filter(|q| q.visible_to(call)).ok_or_else(not_found)?;
    if let Some(store) = store {
        let named = find(&state.stores, call, store)?;
        if named.arn() != entry.store_arn {
            return Err(not_found());
        }
    }
    Ok(entry)
}

/// The store ARN a query names, for authorization.
pub(crate) fn query_store_arn(state: &State, call: &Call, input: &Value) -> Option<String> {
    let id = input.get("QueryId").and_then(Value::as_str)?;
    state.queries.get(id).filter(|q| q.visible_to(call)).map(|q| q.store_arn.clone())
}

fn statistics_json(entry: &QueryEntry) -> Value {
    json!({
        "EventsMatched": entry.stats.events_matched,
        "EventsScanned": entry.stats.events_scanned,
        "BytesScanned": entry.stats.bytes_scanned,
        "ExecutionTimeInMillis": entry.stats.execution_ms,
        "CreationTime": entry.created,
    })
}

impl Trail {
    pub(crate) async fn start_query(&self, call: &Call, input: StartQueryInput) -> Result<Outcome, AwsError> {
        other_accounts(input.event_data_store_owner_account_id.as_ref(), call)?;
        let Some(statement) = input.query_statement else {
            return Err(E::InvalidParameterException
                .error("QueryStatement is required: Rampart has no sample queries to run by alias."));
        };
        if input.delivery_s3_uri.is_some() {
            return Err(E::UnsupportedOperationException
                .error("Delivering query results to S3 is not supported yet: read them with GetQueryResults."));
        }
        let params = input.query_parameters.unwrap_or_default();
        let planned =
            plan(parse(&statement, &params).map_err(statement_error)?, call.time_ms).map_err(statement_error)?;
        let account = call.caller.account().to_string();
        let now = crate::now();
        let id = uuid::Uuid::new_v4().to_string();
        // The quota is checked and the query reserved (QUEUED) under one
        // lock, so a burst cannot start more than the quota; it runs once
        // the call's record is committed.
        let scope = {
            let mut state = self.state.write();
            let entry = active(find(&state.stores, call, planned.from())?)?;
            let (scope, store_arn) = (QueryScope::of(entry, call.time_ms), entry.arn());
            let running = state.queries.values().filter(|q| q.account == account && q.running(now)).count();
            if running >= CONCURRENT_PER_ACCOUNT {
                return Err(E::MaxConcurrentQueriesException.error(format!(
                    "You are already running the maximum number of concurrent queries ({CONCURRENT_PER_ACCOUNT})."
                )));
            }
            // A role's sessions are the role: new session names get no new allowance.
            let owner = call.caller.role_arn().unwrap_or_else(|| call.caller.arn());
            forget_old(&mut state, &account, &owner, now);
            let entry = QueryEntry {
                id: id.clone(),
                account: account.clone(),
                region: call.region.clone(),
                owner,
                store_arn,
                statement,
                status: "QUEUED",
                created: now,
                error: None,
                stats: Statistics::default(),
                results: Arc::new(Results::default()),
                bytes: 0,
                cancel: Arc::new(AtomicBool::new(false)),
            };
            state.queries.insert(id.clone(), entry);
            scope
        };
        let output = json!({ "QueryId": id, "EventDataStoreOwnerAccountId": account });
        let (state, store) = (self.state.clone(), self.store.clone());
        let apply = Box::new(move || match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn_blocking(move || run_in_background(&store, &state, &id, &planned, &scope));
            }
            Err(_) => finish(&state, &id, Err(Stopped::Failed("The query could not be started.".into()))),
        });
        Ok(Outcome { output, resources: Vec::new(), change: Some(Change { writes: Vec::new(), apply }) })
    }

    pub(crate) async fn describe_query(&self, call: &Call, input: QueryInput) -> Result<Outcome, AwsError> {
        other_accounts(input.event_data_store_owner_account_id.as_ref(), call)?;
        let Some(id) = input.query_id.as_deref() else {
            return Err(E::InvalidParameterException.error("QueryId is required: Rampart has no query aliases."));
        };
        let state = self.state.read();
        let entry = find_query(&state, call, id, input.event_data_store.as_deref())?;
        let mut output = json!({
            "QueryId": entry.id,
            "QueryString": entry.statement,
            "QueryStatus": entry.status,
            "QueryStatistics": statistics_json(entry),
            "EventDataStoreOwnerAccountId": entry.account,
        });
        if let Some(error) = &entry.error {
            output.set("ErrorMessage", json!(error));
        }
        Ok(Outcome::read(output))
    }

    pub(crate) async fn get_query_results(&self, call: &Call, input: ResultsInput) -> Result<Outcome, AwsError> {
        other_accounts(input.event_data_store_owner_account_id.as_ref(), call)?;
        let state = self.state.read();
        let entry = find_query(&state, call, &input.query_id, input.event_data_store.as_deref())?;
        let start = match &input.next_token {
            Some(token) => token
                .strip_prefix(&format!("{}:", entry.id))
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| *n <= entry.results.rows.len())
                .ok_or_else(|| E::InvalidNextTokenException.error("The NextToken is not valid."))?,
            None => 0,
        };
        let page = input.max_query_results.unwrap_or(1000).clamp(1, 1000);
        let mut output = json!({
            "QueryStatus": entry.status,
            "QueryStatistics": {
                "ResultsCount": entry.results.rows.len().saturating_sub(start).min(page),
                "TotalResultsCount": entry.results.rows.len(),
                "BytesScanned": entry.stats.bytes_scanned,
            },
        });
        if entry.status == "FINISHED" {
            // Each cell is a one-entry map; a NULL is an empty one.
            let rows: Vec<Value> = entry
                .results
                .rows
                .iter()
                .skip(start)
                .take(page)
                .map(|row| {
                    let cells = row.iter().map(|(name, text)| match text {
                        Some(text) => json!({ name.as_str(): text }),
                        None => json!({}),
                    });
                    Value::Array(cells.collect())
                })
                .collect();
            output.set("QueryResultRows", Value::Array(rows));
            if start + page < entry.results.rows.len() {
                output.set("NextToken", json!(format!("{}:{}", entry.id, start + page)));
            }
        }
        if let Some(error) = &entry.error {
            output.set("ErrorMessage", json!(error));
        }
        Ok(Outcome::read(output))
    }

    pub(crate) async fn list_queries(&self, call: &Call, input: ListQueriesInput) -> Result<Outcome, AwsError> {
        if let (Some(start), Some(end)) = (input.start_time, input.end_time) {
            if start > end {
                return Err(E::InvalidDateRangeException.error("The start time must be before the end time."));
            }
        }
        let state = self.state.read();
        let store = find(&state.stores, call, &input.event_data_store)?.arn();
        let mut queries: Vec<&QueryEntry> = state
            .queries
            .values()
            .filter(|q| q.account == call.caller.account().as_str() && q.store_arn == store)
            .filter(|q| input.start_time.is_none_or(|t| q.created >= t))
            .filter(|q| input.end_time.is_none_or(|t| q.created <= t))
            .filter(|q| input.query_status.as_deref().is_none_or(|s| q.status == s))
            .collect();
        // Newest first.
        queries.sort_by(|a, b| b.created.total_cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        let start = match &input.next_token {
            Some(token) => queries
                .iter()
                .position(|q| &q.id == token)
                .ok_or_else(|| E::InvalidNextTokenException.error("The NextToken is not valid."))?,
            None => 0,
        };
        let page = input.max_results.unwrap_or(1000).clamp(1, 1000);
        let listed: Vec<Value> = queries
            .iter()
            .skip(start)
            .take(page)
            .map(|q| json!({ "QueryId": q.id, "QueryStatus": q.status, "CreationTime": q.created }))
            .collect();
        let mut output = json!({ "Queries": listed });
        if let Some(next) = queries.get(start + page) {
            output.set("NextToken", json!(next.id));
        }
        Ok(Outcome::read(output))
    }

    pub(crate) async fn cancel_query(&self, call: &Call, input: ResultsInput) -> Result<Outcome, AwsError> {
        other_accounts(input.event_data_store_owner_account_id.as_ref(), call)?;
        let (id, cancel) = {
            let state = self.state.read();
            let entry = find_query(&state, call, &input.query_id, input.event_data_store.as_deref())?;
            if !entry.running(crate::now()) {
                return Err(E::InactiveQueryException.error(format!(
                    "The specified query cannot be canceled because it is in the {} state.",
                    entry.status
                )));
            }
            (entry.id.clone(), entry.cancel.clone())
        };
        let output = json!({ "QueryId": id, "QueryStatus": "CANCELLED", "EventDataStoreOwnerAccountId": call.caller.account().to_string() });
        let state = self.state.clone();
        let apply = Box::new(move || {
            cancel.store(true, Ordering::SeqCst);
            finish(&state, &id, Err(Stopped::Cancelled));
        });
        Ok(Outcome { output, resources: Vec::new(), change: Some(Change { writes: Vec::new(), apply }) })
    }
}

/// Drops queries kept longer than AWS keeps them, the oldest finished ones
/// of `owner` beyond what a principal may keep, and the account's oldest
/// beyond what an account may keep.
fn forget_old(state: &mut State, account: &str, owner: &str, now: f64) {
    state.queries.retain(|_, q| q.running(now) || now - q.created < KEPT_FOR_SECS);
    let mut drop_oldest = |keep: &dyn Fn(&QueryEntry) -> bool, most: usize, most_bytes: usize| {
        let mut finished: Vec<(f64, String, usize)> = state
            .queries
            .values()
            .filter(|q| keep(q) && !q.running(now))
            .map(|q| (q.created, q.id.clone(), q.bytes))
            .collect();
        finished.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (mut count, mut bytes) = (finished.len(), finished.iter().map(|f| f.2).sum::<usize>());
        for (_, id, size) in finished {
            if count < most && bytes <= most_bytes {
                break;
            }
            state.queries.remove(&id);
            (count, bytes) = (count - 1, bytes - size);
        }
    };
    drop_oldest(&|q| q.owner == owner, KEPT_PER_PRINCIPAL, KEPT_BYTES_PER_PRINCIPAL);
    drop_oldest(&|q| q.account == account, usize::MAX, KEPT_BYTES_PER_ACCOUNT);
}

/// Records how a query ended (a cancelled query stays cancelled).
fn finish(state: &RwLock<State>, id: &str, outcome: Result<(Results, Statistics), Stopped>) {
    let mut state = state.write();
    let Some(entry) = state.queries.get_mut(id) else { return };
    if entry.status == "CANCELLED" {
        return;
    }
    match outcome {
        Ok((results, stats)) => {
            entry.status = "FINISHED";
            entry.stats = stats;
            entry.bytes = results
                .rows
                .iter()
                .flatten()
                .map(|(name, cell)| name.len() + cell.as_ref().map_or(0, String::len))
                .sum();
            entry.results = Arc::new(results);
        }
        Err(Stopped::Failed(message)) => {
            entry.status = "FAILED";
            entry.error = Some(message);
        }
        Err(Stopped::Cancelled) => entry.status = "CANCELLED",
        Err(Stopped::TimedOut) => {
            entry.status = "TIMED_OUT";
            entry.error = Some(format!("The query ran longer than {} minutes.", TIMEOUT.as_secs() / 60));
        }
    }
}

fn run_in_background(store: &Store, state: &Arc<RwLock<State>>, id: &str, plan: &Plan, scope: &QueryScope) {
    let cancel = match state.write().queries.get_mut(id) {
        Some(entry) if entry.status == "QUEUED" => {
            entry.status = "RUNNING";
            entry.cancel.clone()
        }
        _ => return,
    };
    let fetch = |scan: &EventScan, after: i64| {
        store.scan_events(scan, after, BATCHES_PER_STEP).map_err(|e| {
            tracing::error!(error = %e, "a Lake query could not read the audit store");
            "The query could not read the event data store.".to_string()
        })
    };
    let progress = |stats: &Statistics| {
        if let Some(entry) = state.write().queries.get_mut(id) {
            entry.stats = *stats;
        }
    };
    let outcome = run(plan, scope, fetch, progress, cancel, TIMEOUT);
    finish(state, id, outcome);
}

/// Stops every running query (the node is stopping): their threads end
/// within a row's work, so shutdown does not wait for them.
pub(crate) fn stop_all(state: &RwLock<State>) {
    for query in state.read().queries.values() {
        query.cancel.store(true, Ordering::SeqCst);
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StartQueryInput {
    query_statement: Option<String>,
    #[serde(rename = "DeliveryS3Uri")]
    delivery_s3_uri: Option<String>,
    query_parameters: Option<Vec<String>>,
    event_data_store_owner_account_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct QueryInput {
    event_data_store: Option<String>,
    query_id: Option<String>,
    event_data_store_owner_account_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ResultsInput {
    event_data_store: Option<String>,
    query_id: String,
    next_token: Option<String>,
    max_query_results: Option<usize>,
    event_data_store_owner_account_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListQueriesInput {
    event_data_store: String,
    next_token: Option<String>,
    max_results: Option<usize>,
    start_time: Option<f64>,
    end_time: Option<f64>,
    query_status: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn records_are_parsed_only_as_far_as_a_query_reads_them() {
        let text =
            r#"{"eventName":"CreateUser","userIdentity":{"arn":"a"},"requestParameters":{"x":[1,2,{"y":null}]}}"#;
        let wanted = ["eventname".to_string(), "useridentity".to_string()];
        let record = parse_record(text, Some(&wanted)).unwrap();
        assert_eq!(record, json!({"eventName": "CreateUser", "userIdentity": {"arn": "a"}}));
        assert_eq!(parse_record(text, None).unwrap(), serde_json::from_str::<Value>(text).unwrap());
        assert!(parse_record(&format!("{text} trailing"), Some(&wanted)).is_none());
        assert!(parse_record(r#"{"eventName": "x", "requestParameters": {"#, Some(&wanted)).is_none());
    }
}
