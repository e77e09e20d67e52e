//! Lake queries: StartQuery runs a statement over an event data store in
//! the background (on the blocking pool, reading the audit store a step
//! at a time); DescribeQuery, GetQueryResults, ListQueries and CancelQuery
//! follow it. Queries and their results are kept in memory for seven days
//! (AWS keeps results that long), at most `KEPT_PER_ACCOUNT` per account.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use serde::Deserialize;
use serde_json::{json, Value};

use rampart_core::{Call, Change, Outcome, OutputMembers};
use rampart_store::{EventRow, EventScan, ScanStep, Store};
use rampart_wire::{AwsError, CloudTrailException as E, ExceptionId};

use super::eval::{plan, EvalError, Plan, Results, Row};
use super::sql::parse;
use super::stores::{active, find, StoreEntry};
use crate::selectors::{self, Selectors};
use crate::{State, Trail};

/// Queries running at once per account (AWS's quota).
const CONCURRENT_PER_ACCOUNT: usize = 10;
/// Queries (and results) kept per account; the oldest finished go first.
const KEPT_PER_ACCOUNT: usize = 1_000;
const KEPT_FOR_SECS: f64 = 7.0 * 86_400.0;
/// How long a query may run before it is TIMED_OUT.
const TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// Batches of events read per step (256 events each, at most).
const BATCHES_PER_STEP: usize = 64;

/// What a query reads: an event data store's events as it holds them.
#[derive(Debug, Clone)]
pub struct QueryScope {
    pub account: String,
    /// `None`: every region (a multi-Region store).
    pub regions: Option<Vec<String>>,
    /// Ingestion windows cut to the retention period (ms, inclusive).
    pub windows: Vec<(i64, i64)>,
    pub selectors: Selectors,
}

impl QueryScope {
    pub(crate) fn of(entry: &StoreEntry, now_ms: i64) -> QueryScope {
        let r = &entry.record;
        let oldest = now_ms.saturating_sub(i64::from(r.retention_days) * 86_400_000);
        let windows = r
            .windows
            .iter()
            .map(|(from, until)| ((*from).max(oldest), until.unwrap_or(i64::MAX)))
            .filter(|(from, until)| from <= until)
            .collect();
        QueryScope {
            account: entry.account.clone(),
            regions: (!r.multi_region).then(|| vec![r.home_region.clone()]),
            windows,
            selectors: entry.selectors(),
        }
    }

    fn holds(&self, event: &EventRow) -> bool {
        self.windows.iter().any(|(from, until)| (*from..=*until).contains(&event.event_time_ms))
    }
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
/// statistics after each step and says whether to go on (false: cancelled).
pub fn run(
    plan: &Plan,
    scope: &QueryScope,
    mut fetch: impl FnMut(&EventScan, i64) -> Result<ScanStep, String>,
    mut progress: impl FnMut(&Statistics) -> bool,
    timeout: Duration,
) -> Result<(Results, Statistics), Stopped> {
    let started = Instant::now();
    let (from, to) = plan.time_range();
    let first = scope.windows.iter().map(|w| w.0).min().unwrap_or(i64::MAX);
    let last = scope.windows.iter().map(|w| w.1).max().unwrap_or(i64::MIN);
    let scan = EventScan {
        account: scope.account.clone(),
        regions: scope.regions.clone(),
        from_ms: from.unwrap_or(i64::MIN).max(first),
        // A record's eventTime is whole seconds: an event of 12.345 s is
        // at 12 s to the query.
        to_ms: to.map_or(i64::MAX, |t| t.saturating_add(999)).min(last),
    };
    let mut stats = Statistics::default();
    let mut execution = plan.start();
    let failed = |e: EvalError| Stopped::Failed(e.0);
    let mut after = 0;
    while scan.from_ms <= scan.to_ms && !execution.is_done() {
        let (events, next) = fetch(&scan, after).map_err(Stopped::Failed)?;
        for event in events.iter().filter(|e| scope.holds(e)) {
            let Ok(record) = serde_json::from_str::<Value>(&event.record) else { continue };
            if !selectors::selects(&scope.selectors, &record) {
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
        if !progress(&stats) {
            return Err(Stopped::Cancelled);
        }
        if started.elapsed() > timeout {
            return Err(Stopped::TimedOut);
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
    pub store_arn: String,
    pub statement: String,
    pub status: &'static str,
    pub created: f64,
    pub error: Option<String>,
    pub stats: Statistics,
    pub results: Arc<Results>,
    pub cancel: Arc<AtomicBool>,
}

impl QueryEntry {
    fn running(&self) -> bool {
        matches!(self.status, "QUEUED" | "RUNNING")
    }
}

fn statement_error(e: impl std::fmt::Display) -> AwsError {
    E::InvalidQueryStatementException.error(format!("The query statement is not valid: {e}"))
}

fn other_accounts(owner: Option<&String>, call: &Call) -> Result<(), AwsError> {
    match owner {
        Some(owner) if owner != call.caller.account().as_str() => Err(E::UnsupportedOperationException
            .error("Querying another account's event data store is not supported: Rampart has no resource policies for event data stores yet.")),
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
    let entry = state.queries.get(id).filter(|q| q.account == call.caller.account().as_str()).ok_or_else(not_found)?;
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
    state.queries.get(id).filter(|q| q.account == call.caller.account().as_str()).map(|q| q.store_arn.clone())
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
        let (scope, store_arn) = {
            let state = self.state.read();
            let entry = active(find(&state.stores, call, planned.from())?)?;
            let running = state.queries.values().filter(|q| q.account == account && q.running()).count();
            if running >= CONCURRENT_PER_ACCOUNT {
                return Err(E::MaxConcurrentQueriesException.error(format!(
                    "You are already running the maximum number of concurrent queries ({CONCURRENT_PER_ACCOUNT})."
                )));
            }
            (QueryScope::of(entry, call.time_ms), entry.arn())
        };
        let entry = QueryEntry {
            id: uuid::Uuid::new_v4().to_string(),
            account: account.clone(),
            store_arn,
            statement,
            status: "QUEUED",
            created: now,
            error: None,
            stats: Statistics::default(),
            results: Arc::new(Results::default()),
            cancel: Arc::new(AtomicBool::new(false)),
        };
        let output = json!({ "QueryId": entry.id, "EventDataStoreOwnerAccountId": account });
        let (state, store) = (self.state.clone(), self.store.clone());
        // Once the call's record is committed: keep the query, and run it.
        let apply = Box::new(move || {
            let id = entry.id.clone();
            {
                let mut state = state.write();
                forget_old(&mut state, &entry.account, now);
                state.queries.insert(id.clone(), entry);
            }
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn_blocking(move || run_in_background(&store, &state, &id, &planned, &scope));
                }
                Err(_) => finish(&state, &id, Err(Stopped::Failed("The query could not be started.".into()))),
            }
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
            if !entry.running() {
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

/// Drops an account's queries kept longer than AWS keeps them, and its
/// oldest finished ones beyond `KEPT_PER_ACCOUNT`.
fn forget_old(state: &mut State, account: &str, now: f64) {
    state.queries.retain(|_, q| q.running() || now - q.created < KEPT_FOR_SECS);
    let mut finished: Vec<(f64, String)> = state
        .queries
        .values()
        .filter(|q| q.account == account && !q.running())
        .map(|q| (q.created, q.id.clone()))
        .collect();
    if finished.len() >= KEPT_PER_ACCOUNT {
        finished.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (_, id) in finished.iter().take(finished.len() + 1 - KEPT_PER_ACCOUNT) {
            state.queries.remove(id);
        }
    }
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
        !cancel.load(Ordering::SeqCst)
    };
    let outcome = run(plan, scope, fetch, progress, TIMEOUT);
    finish(state, id, outcome);
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
