//! CloudTrail: LookupEvents over the audit events the pipeline records
//! (`lookup`), trails and their management (`trails`, with `selectors`),
//! their delivery as files from the event cursor (`delivery`) with signed
//! digests (`digest`) and the offline validator (`validate`), and Lake's
//! event data stores and SQL queries (`lake`).

mod delivery;
pub mod digest;
pub mod encryption;
pub mod lake;
mod lookup;
mod selectors;
mod trails;
pub mod validate;

pub use delivery::Buckets;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use parking_lot::RwLock;
use serde_json::Value;

use rampart_core::{
    Access, AccessTarget, AwsError, BoxFuture, Call, Operation, OperationMeta, Outcome, Registry, Service, ServiceId,
    SystemCommitter, Task,
};
use rampart_store::Store;
use rampart_wire::{CloudTrailOperation as O, CommonError, OperationId};

/// Every CloudTrail operation Rampart serves; `unserved.txt` lists the rest.
fn registry() -> &'static Registry<Trail, O> {
    macro_rules! op {
        ($kind:ident, $op:ident, $method:ident) => {
            Operation::<Trail, O>::$kind(O::$op, (), |trail, call, input| {
                Box::pin(
                    async move { trail.$method(call, rampart_core::parse_input(ServiceId::CloudTrail, input)?).await },
                )
            })
        };
    }
    static REGISTRY: LazyLock<Registry<Trail, O>> = LazyLock::new(|| {
        Registry::new(vec![
            op!(read, LookupEvents, lookup_events),
            op!(write, CreateTrail, create_trail),
            op!(read, GetTrail, get_trail),
            op!(read, DescribeTrails, describe_trails),
            op!(read, ListTrails, list_trails),
            op!(write, UpdateTrail, update_trail),
            op!(write, DeleteTrail, delete_trail),
            op!(write, StartLogging, start_logging),
            op!(write, StopLogging, stop_logging),
            op!(read, GetTrailStatus, get_trail_status),
            op!(write, PutEventSelectors, put_event_selectors),
            op!(read, GetEventSelectors, get_event_selectors),
            op!(write, AddTags, add_tags),
            op!(write, RemoveTags, remove_tags),
            op!(read, ListTags, list_tags),
            op!(read, ListPublicKeys, list_public_keys),
            op!(write, CreateEventDataStore, create_event_data_store),
            op!(read, GetEventDataStore, get_event_data_store),
            op!(read, ListEventDataStores, list_event_data_stores),
            op!(write, UpdateEventDataStore, update_event_data_store),
            op!(write, DeleteEventDataStore, delete_event_data_store),
            op!(write, RestoreEventDataStore, restore_event_data_store),
            op!(write, StartEventDataStoreIngestion, start_event_data_store_ingestion),
            op!(write, StopEventDataStoreIngestion, stop_event_data_store_ingestion),
            op!(write, StartQuery, start_query),
            op!(read, DescribeQuery, describe_query),
            op!(read, GetQueryResults, get_query_results),
            op!(read, ListQueries, list_queries),
            op!(write, CancelQuery, cancel_query),
            op!(write, PutResourcePolicy, put_resource_policy),
            op!(read, GetResourcePolicy, get_resource_policy),
            op!(write, DeleteResourcePolicy, delete_resource_policy),
        ])
    });
    &REGISTRY
}

/// How the CloudTrail service is configured.
#[derive(Debug, Clone)]
pub struct TrailConfig {
    pub buckets: Buckets,
    /// How often logging trails deliver (AWS: about every 5 minutes).
    pub delivery_period: std::time::Duration,
    /// How often trails with log-file validation write a digest (AWS: hourly).
    pub digest_period: std::time::Duration,
    /// How long a region's digest-signing key signs before a new one replaces it.
    pub key_rotation: std::time::Duration,
    /// KMS, for trails whose log files are encrypted (`KmsKeyId`).
    pub service_keys: Option<Arc<dyn rampart_core::service_keys::ServiceKeys>>,
}

/// CloudTrail's memory.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub trails: trails::Trails,
    /// Each trail's delivery state, by trail ARN.
    pub deliveries: HashMap<String, delivery::DeliveryRecord>,
    /// Each region's digest-signing key, and the keys rotation retired.
    pub signing_keys: std::collections::BTreeMap<String, Arc<digest::SigningKey>>,
    pub retired_keys: Vec<digest::SigningKeyRecord>,
    pub stores: lake::stores::Stores,
    /// Lake queries, by id.
    pub queries: HashMap<String, lake::queries::QueryEntry>,
}

pub struct Trail {
    store: Store,
    /// Seals the digest-signing keys.
    sealer: rampart_core::Sealer,
    state: Arc<RwLock<State>>,
    /// Serializes mutations and delivery passes.
    lock: Arc<tokio::sync::Mutex<()>>,
    committer: Arc<dyn SystemCommitter>,
    config: TrailConfig,
}

impl std::fmt::Debug for Trail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trail").field("config", &self.config).finish_non_exhaustive()
    }
}

/// A mutation of CloudTrail's memory.
pub(crate) type Mutation = rampart_core::Mutation<State>;

pub(crate) fn failure() -> AwsError {
    CommonError::InternalFailure.error(ServiceId::CloudTrail, "The request could not be completed.")
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
}

pub(crate) fn now() -> f64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9
}

impl Trail {
    pub fn new(
        store: Store,
        sealer: rampart_core::Sealer,
        committer: Arc<dyn SystemCommitter>,
        config: TrailConfig,
    ) -> Trail {
        Trail {
            store,
            sealer,
            state: Arc::new(RwLock::new(State::default())),
            lock: Arc::new(tokio::sync::Mutex::new(())),
            committer,
            config,
        }
    }

    /// Runs a mutation under the service's lock; memory changes once its
    /// writes are committed (with the call's audit record).
    pub(crate) async fn mutate(
        &self,
        build: impl FnOnce(&State) -> Result<Mutation, AwsError>,
    ) -> Result<Outcome, AwsError> {
        let guard = self.lock.clone().lock_owned().await;
        let mutation = build(&self.state.read())?;
        Ok(mutation.into_outcome(self.state.clone(), guard))
    }
}

/// The event data store a request names, as the ARN authorization checks:
/// the caller's store in the call's region.
fn store_target(state: &State, call: &Call, name: Option<&str>) -> AccessTarget {
    let Some(name) = name else { return AccessTarget::default() };
    let found = lake::stores::find(&state.stores, call, name).ok();
    let arn = match (found, name.starts_with("arn:")) {
        (Some(entry), _) => entry.arn(),
        (None, true) => name.to_string(),
        (None, false) => lake::stores::store_arn(&call.region, call.caller.account().as_str(), name),
    };
    let tags = found.map(|e| e.record.tags.clone()).unwrap_or_default();
    AccessTarget { arn: Some(arn), tags, condition_keys: Vec::new() }
}

/// A resource id of the tagging operations: an event data store's ARN or a trail.
fn tagged_target(state: &State, call: &Call, id: &str) -> AccessTarget {
    match lake::stores::is_store_arn(id) {
        true => store_target(state, call, Some(id)),
        false => trail_target(state, call, Some(id)),
    }
}

/// The trail a request names, as the ARN authorization checks: a name is
/// the caller's trail in the call's region (or a multi-Region trail of
/// another home region that the name finds).
fn trail_target(state: &State, call: &Call, name: Option<&str>) -> AccessTarget {
    let Some(name) = name else { return AccessTarget::default() };
    let found = trails::find(&state.trails, call, name).ok();
    let arn = match (found, name.starts_with("arn:")) {
        (Some(entry), _) => entry.arn(),
        (None, true) => name.to_string(),
        (None, false) => trails::trail_arn(&call.region, call.caller.account().as_str(), name),
    };
    let tags = found.map(|e| e.record.tags.clone()).unwrap_or_default();
    AccessTarget { arn: Some(arn), tags, condition_keys: Vec::new() }
}

impl Service for Trail {
    fn id(&self) -> ServiceId {
        ServiceId::CloudTrail
    }

    fn operation(&self, name: &str) -> Option<&OperationMeta> {
        registry().meta(name)
    }

    /// A trail's operations act on the trail; LookupEvents, DescribeTrails
    /// and ListTrails on `*`. ListTags names several.
    fn access(&self, call: &Call, input: &Value) -> Access {
        let state = self.state.read();
        let text = |member: &str| input.get(member).and_then(Value::as_str);
        let targets = match O::from_name(call.operation) {
            Some(
                O::CreateTrail
                | O::GetTrail
                | O::UpdateTrail
                | O::DeleteTrail
                | O::StartLogging
                | O::StopLogging
                | O::GetTrailStatus,
            ) => vec![trail_target(&state, call, text("Name"))],
            Some(O::PutEventSelectors | O::GetEventSelectors) => vec![trail_target(&state, call, text("TrailName"))],
            Some(O::AddTags | O::RemoveTags) => vec![tagged_target(&state, call, text("ResourceId").unwrap_or(""))],
            Some(O::ListTags) => input
                .get("ResourceIdList")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|id| tagged_target(&state, call, id))
                .collect(),
            Some(
                O::GetEventDataStore
                | O::UpdateEventDataStore
                | O::DeleteEventDataStore
                | O::RestoreEventDataStore
                | O::StartEventDataStoreIngestion
                | O::StopEventDataStoreIngestion
                | O::ListQueries,
            ) => vec![store_target(&state, call, text("EventDataStore"))],
            Some(O::PutResourcePolicy | O::GetResourcePolicy | O::DeleteResourcePolicy) => {
                vec![tagged_target(&state, call, text("ResourceArn").unwrap_or(""))]
            }
            // The store the statement's FROM clause names.
            Some(O::StartQuery) => {
                vec![store_target(&state, call, lake::queries::statement_store(input).as_deref())]
            }
            // The store the query ran over (or the one named).
            Some(O::DescribeQuery | O::GetQueryResults | O::CancelQuery) => {
                match lake::queries::query_store_arn(&state, call, input) {
                    Some(arn) => vec![store_target(&state, call, Some(&arn))],
                    None => vec![store_target(&state, call, text("EventDataStore"))],
                }
            }
            _ => Vec::new(),
        };
        let mut access = Access::own(call, targets);
        // An event data store's resource policy applies to every call on it.
        for check in &mut access.checks {
            let store = check.target.arn.as_deref().and_then(|arn| lake::stores::find(&state.stores, call, arn).ok());
            check.resource_policy = store.and_then(lake::stores::resource_policy);
        }
        access
    }

    fn handle<'a>(&'a self, call: &'a Call, input: Value) -> BoxFuture<'a, Result<Outcome, AwsError>> {
        registry().dispatch(self, call, input)
    }

    fn tasks(self: Arc<Self>) -> Vec<Task> {
        let (trail, flusher, queries) = (self.clone(), self.clone(), self.state.clone());
        vec![
            Task {
                name: "cloudtrail-delivery",
                period: trail.config.delivery_period,
                at_shutdown: false,
                run: Arc::new(move || {
                    let trail = trail.clone();
                    Box::pin(async move { trail.deliver(false).await })
                }),
            },
            // At start and at a clean shutdown (its period is never reached):
            // deliver what is pending and put every delivered file in a
            // digest, so a stopped node's files validate at once.
            Task {
                name: "cloudtrail-flush",
                period: std::time::Duration::from_secs(10 * 365 * 86_400),
                at_shutdown: true,
                run: Arc::new(move || {
                    let trail = flusher.clone();
                    Box::pin(async move { trail.deliver(true).await })
                }),
            },
            // At a clean shutdown: running Lake queries stop, so that the
            // node does not wait for them.
            Task {
                name: "cloudtrail-stop-queries",
                period: std::time::Duration::from_secs(10 * 365 * 86_400),
                at_shutdown: true,
                run: Arc::new(move || {
                    lake::queries::stop_all(&queries);
                    Box::pin(async { Ok(None) })
                }),
            },
        ]
    }

    fn load(&self) -> Result<(), String> {
        let mut state = State::default();
        for row in self.store.scan(trails::TRAIL_KIND).map_err(|e| e.to_string())? {
            let record: trails::TrailRecord =
                serde_json::from_str(&row.value).map_err(|e| format!("CloudTrail trail {}: {e}", row.key))?;
            let entry = trails::TrailEntry { account: row.account.clone(), record };
            state.trails.insert((row.account, entry.record.home_region.clone(), entry.record.name.clone()), entry);
        }
        for row in self.store.scan(lake::stores::STORE_KIND).map_err(|e| e.to_string())? {
            let record: lake::stores::EventDataStoreRecord = serde_json::from_str(&row.value)
                .map_err(|e| format!("CloudTrail event data store {}: {e}", row.key))?;
            let entry = lake::stores::StoreEntry { account: row.account.clone(), record };
            state.stores.insert((row.account, entry.record.home_region.clone(), entry.record.id.clone()), entry);
        }
        delivery::load(&self.store, &mut state)?;
        digest::load(&self.store, &self.sealer, &mut state.signing_keys, &mut state.retired_keys)?;
        // Queries live in memory only: a reload keeps them.
        let mut current = self.state.write();
        state.queries = std::mem::take(&mut current.queries);
        *current = state;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_and_unserved_operations_are_the_model() {
        if let Err(problems) = registry().coverage(include_str!("../unserved.txt")) {
            panic!("{problems}");
        }
    }
}
