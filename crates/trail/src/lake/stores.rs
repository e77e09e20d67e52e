//! Event data stores: their records and their management (Create, Get,
//! List, Update, Delete, Restore, Start/StopEventDataStoreIngestion), with
//! AWS's validation, quota and statuses.
//!
//! An event data store holds no copy of the events: it is a view of the
//! node's audit store — its account's events (of its home region, or every
//! region when multi-Region) that its advanced selectors select, recorded
//! while it was ingesting (its ingestion windows) and within its retention
//! period. Queries read them from the store (see `queries`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use rampart_core::tags::TagRules;
use rampart_core::{Call, Outcome, OutputMembers};
use rampart_store::RecordWrite;
use rampart_wire::{AwsError, CloudTrailException as E, ExceptionId};

use crate::selectors::{self, AdvancedEventSelector, Selectors};
use crate::{Mutation, State, Trail};

pub(crate) const STORE_KIND: &str = "cloudtrail-event-data-store";
/// Event data stores per account in a region (AWS's quota).
const STORES_PER_REGION: usize = 10;
/// How long a deleted event data store can be restored.
pub(crate) const RESTORE_WINDOW_SECS: f64 = 7.0 * 86_400.0;
pub(crate) const TAG_RULES: TagRules = TagRules { per_resource: 50, keys_ignore_case: false, reserved_prefix: None };
const EXTENDABLE: &str = "EXTENDABLE_RETENTION_PRICING";
const FIXED: &str = "FIXED_RETENTION_PRICING";

/// An event data store as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EventDataStoreRecord {
    pub id: String,
    pub name: String,
    pub home_region: String,
    pub selectors: Vec<AdvancedEventSelector>,
    pub multi_region: bool,
    pub retention_days: u32,
    pub termination_protection: bool,
    pub billing_mode: String,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    pub created: f64,
    pub updated: f64,
    /// Ingestion windows: from and until when (ms) events were taken in,
    /// and under which settings; the last is open while the store ingests.
    pub windows: Vec<Window>,
    /// When DeleteEventDataStore was called (the store is PENDING_DELETION
    /// for `RESTORE_WINDOW_SECS`, then gone).
    #[serde(default)]
    pub deleted: Option<f64>,
    /// Its resource-based policy (PutResourcePolicy), as given.
    #[serde(default)]
    pub resource_policy: Option<String>,
}

/// A span of time in which a store took in events, with what it selected
/// then: a change of selectors or regions applies from the change on, as
/// in AWS, never to events the store did not take in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Window {
    pub from: i64,
    pub until: Option<i64>,
    pub selectors: Vec<AdvancedEventSelector>,
    pub multi_region: bool,
}

impl EventDataStoreRecord {
    /// Opens a window at `at` under the store's current settings.
    fn open_window(&mut self, at: i64) {
        let (selectors, multi_region) = (self.selectors.clone(), self.multi_region);
        self.windows.push(Window { from: at, until: None, selectors, multi_region });
    }

    /// Closes the open window at `at`; whether one was open.
    fn close_window(&mut self, at: i64) -> bool {
        match self.windows.last_mut() {
            Some(window) if window.until.is_none() => {
                window.until = Some(at);
                true
            }
            _ => false,
        }
    }
}

/// An event data store in memory: its account and its record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoreEntry {
    pub account: String,
    pub record: EventDataStoreRecord,
}

impl StoreEntry {
    pub fn arn(&self) -> String {
        store_arn(&self.record.home_region, &self.account, &self.record.id)
    }

    pub fn ingesting(&self) -> bool {
        self.record.windows.last().is_some_and(|w| w.until.is_none())
    }

    pub fn status(&self) -> &'static str {
        match (self.record.deleted.is_some(), self.ingesting()) {
            (true, _) => "PENDING_DELETION",
            (false, true) => "ENABLED",
            (false, false) => "STOPPED_INGESTION",
        }
    }

    /// Gone for good: deleted longer ago than the restore window.
    pub fn expired(&self, now: f64) -> bool {
        self.record.deleted.is_some_and(|at| now - at > RESTORE_WINDOW_SECS)
    }
}

/// A store's resource-based policy as authorization applies it: a further
/// source of allow within the account (not required), and of deny. A
/// stored policy that no longer parses denies everything rather than
/// dropping its Deny statements.
pub(crate) fn resource_policy(entry: &StoreEntry) -> Option<rampart_core::ResourcePolicy> {
    let text = entry.record.resource_policy.as_deref()?;
    let account = rampart_core::AccountId::parse(&entry.account)?;
    let policy = rampart_policy::Policy::parse(text, rampart_policy::PolicyKind::Resource).or_else(|_| {
        let deny =
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}]}"#;
        rampart_policy::Policy::parse(deny, rampart_policy::PolicyKind::Resource)
    });
    Some(rampart_core::ResourcePolicy {
        name: "resource-policy".to_string(),
        policy: std::sync::Arc::new(policy.ok()?),
        account,
        required: false,
        binds_root: false,
    })
}

/// Whether a resource id is an event data store's ARN (not a trail's).
pub(crate) fn is_store_arn(id: &str) -> bool {
    parse_store_arn(id).is_some()
}

/// An event data store's ARN, parsed: the aws partition, CloudTrail, `eventdatastore/ID`.
fn parse_store_arn(text: &str) -> Option<rampart_core::Arn> {
    rampart_core::Arn::parse(text)
        .filter(|a| a.partition == "aws" && a.service == "cloudtrail" && a.resource.starts_with("eventdatastore/"))
}

pub(crate) fn store_arn(region: &str, account: &str, id: &str) -> String {
    format!("arn:aws:cloudtrail:{region}:{account}:eventdatastore/{id}")
}

/// `(account, home region, id)` → the store.
pub(crate) type Stores = std::collections::BTreeMap<(String, String, String), StoreEntry>;

fn key_of(entry: &StoreEntry) -> (String, String, String) {
    (entry.account.clone(), entry.record.home_region.clone(), entry.record.id.clone())
}

fn write(entry: &StoreEntry) -> Result<RecordWrite, AwsError> {
    let value = serde_json::to_string(&entry.record).map_err(|_| crate::failure())?;
    Ok(RecordWrite::Put {
        kind: STORE_KIND,
        account: entry.account.clone(),
        key: format!("{}/{}", entry.record.home_region, entry.record.id),
        value,
    })
}

fn put(entry: StoreEntry, output: Value) -> Result<Mutation, AwsError> {
    Ok(Mutation {
        resources: Vec::new(),
        writes: vec![write(&entry)?],
        apply: Box::new(move |state: &mut State| {
            state.stores.insert(key_of(&entry), entry);
        }),
        output,
    })
}

/// The store an `EventDataStore` member (or a query's FROM clause) names:
/// its ARN or the id at the ARN's end, of the caller's account in the
/// call's region. A store deleted past its restore window is not found.
pub(crate) fn find<'s>(stores: &'s Stores, call: &Call, name: &str) -> Result<&'s StoreEntry, AwsError> {
    let account = call.caller.account().to_string();
    let id = match name.strip_prefix("arn:") {
        Some(_) => {
            let arn = parse_store_arn(name).ok_or_else(|| {
                    E::EventDataStoreARNInvalidException
                        .error(format!("The specified event data store ARN is not valid or does not map to an event data store in your account: {name}"))
                })?;
            if arn.account != account || arn.region != call.region {
                return Err(not_found(name));
            }
            arn.resource.strip_prefix("eventdatastore/").unwrap_or_default().to_string()
        }
        None => name.to_string(),
    };
    stores
        .get(&(account, call.region.clone(), id))
        .filter(|entry| !entry.expired(crate::now()))
        .ok_or_else(|| not_found(name))
}

fn not_found(name: &str) -> AwsError {
    E::EventDataStoreNotFoundException.error(format!("The specified event data store was not found: {name}"))
}

/// A store that is PENDING_DELETION accepts only Get, List and Restore.
pub(crate) fn active(entry: &StoreEntry) -> Result<&StoreEntry, AwsError> {
    match entry.record.deleted {
        Some(_) => Err(E::InactiveEventDataStoreException
            .error(format!("The event data store {} is inactive: it is pending deletion.", entry.arn()))),
        None => Ok(entry),
    }
}

/// An event data store as Create/Get/Update/Restore return it.
fn store_json(entry: &StoreEntry) -> Value {
    let r = &entry.record;
    json!({
        "EventDataStoreArn": entry.arn(),
        "Name": r.name,
        "Status": entry.status(),
        "AdvancedEventSelectors": r.selectors,
        "MultiRegionEnabled": r.multi_region,
        "OrganizationEnabled": false,
        "RetentionPeriod": r.retention_days,
        "TerminationProtectionEnabled": r.termination_protection,
        "CreatedTimestamp": r.created,
        "UpdatedTimestamp": r.updated,
        "BillingMode": r.billing_mode,
    })
}

/// The default selection: every management event.
fn default_selectors() -> Vec<AdvancedEventSelector> {
    let selector = json!([{
        "Name": "Default management events",
        "FieldSelectors": [{ "Field": "eventCategory", "Equals": ["Management"] }],
    }]);
    serde_json::from_value(selector).unwrap_or_default()
}

fn check_selectors(list: &[AdvancedEventSelector]) -> Result<(), AwsError> {
    selectors::validate(&Selectors::Advanced(list.to_vec())).map_err(|e| E::InvalidEventSelectorsException.error(e.0))
}

/// AWS's retention rules: 7 days and up; at most 3653 (ten years) with
/// extendable retention, 2557 (seven) with fixed.
fn check_retention(days: u32, billing_mode: &str) -> Result<(), AwsError> {
    let most = if billing_mode == FIXED { 2557 } else { 3653 };
    match (7..=most).contains(&days) {
        true => Ok(()),
        false => Err(E::InvalidParameterException.error(format!(
            "The retention period must be between 7 and {most} days for an event data store with billing mode {billing_mode}."
        ))),
    }
}

fn check_billing_mode(mode: &str) -> Result<(), AwsError> {
    match mode == EXTENDABLE || mode == FIXED {
        true => Ok(()),
        false => Err(E::InvalidParameterException.error(format!("Invalid billing mode: {mode}"))),
    }
}

/// What Rampart does not do, refused rather than stored and ignored.
fn refuse_unsupported(settings: &StoreSettings) -> Result<(), AwsError> {
    if settings.organization_enabled == Some(true) {
        return Err(E::OrganizationsNotInUseException
            .error("This account is not a member of an organization: Rampart has no AWS Organizations."));
    }
    if settings.kms_key_id.is_some() {
        return Err(E::UnsupportedOperationException
            .error("Encrypting an event data store with a KMS key is not supported yet (leave KmsKeyId out)."));
    }
    Ok(())
}

fn name_taken(stores: &Stores, account: &str, region: &str, name: &str, except: Option<&str>) -> bool {
    let now = crate::now();
    stores.values().any(|s| {
        s.account == account
            && s.record.home_region == region
            && s.record.name == name
            && Some(s.record.id.as_str()) != except
            && !s.expired(now)
    })
}

impl Trail {
    pub(crate) async fn create_event_data_store(
        &self,
        call: &Call,
        input: CreateStoreInput,
    ) -> Result<Outcome, AwsError> {
        refuse_unsupported(&input.settings)?;
        let billing_mode = input.settings.billing_mode.clone().unwrap_or_else(|| EXTENDABLE.to_string());
        check_billing_mode(&billing_mode)?;
        let retention_days = input.settings.retention_period.unwrap_or(if billing_mode == FIXED { 2557 } else { 366 });
        check_retention(retention_days, &billing_mode)?;
        let selectors = input.settings.advanced_event_selectors.clone().unwrap_or_else(default_selectors);
        check_selectors(&selectors)?;
        let tags = crate::trails::tag_pairs(&input.tags_list.unwrap_or_default());
        TAG_RULES.check_request(&tags).map_err(crate::trails::tag_error)?;
        let account = call.caller.account().to_string();
        let now = crate::now();
        let ingesting = input.start_ingestion.unwrap_or(true);
        let entry = StoreEntry {
            account: account.clone(),
            record: EventDataStoreRecord {
                id: uuid::Uuid::new_v4().to_string(),
                name: input.name.clone(),
                home_region: call.region.clone(),
                selectors,
                multi_region: input.settings.multi_region_enabled.unwrap_or(true),
                retention_days,
                termination_protection: input.settings.termination_protection_enabled.unwrap_or(true),
                billing_mode,
                tags: tags.clone(),
                created: now,
                updated: now,
                windows: Vec::new(),
                deleted: None,
                resource_policy: None,
            },
        };
        let mut entry = entry;
        if ingesting {
            entry.record.open_window(call.time_ms);
        }
        self.mutate(move |state| {
            if name_taken(&state.stores, &account, &call.region, &input.name, None) {
                return Err(E::EventDataStoreAlreadyExistsException
                    .error(format!("An event data store with the name {} already exists.", input.name)));
            }
            let count = state
                .stores
                .values()
                .filter(|s| s.account == account && s.record.home_region == call.region && !s.expired(now))
                .count();
            if count >= STORES_PER_REGION {
                return Err(E::EventDataStoreMaxLimitExceededException.error(format!(
                    "Your account has reached the maximum number of event data stores ({STORES_PER_REGION}) in this Region."
                )));
            }
            let mut output = store_json(&entry);
            // AWS answers CREATED; the store is ENABLED (or STOPPED_INGESTION) at once.
            output.set("Status", json!("CREATED"));
            let listed: Vec<Value> = tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect();
            output.set("TagsList", json!(listed));
            put(entry, output)
        })
        .await
    }

    pub(crate) async fn get_event_data_store(&self, call: &Call, input: StoreInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let entry = find(&state.stores, call, &input.event_data_store)?;
        let mut output = store_json(entry);
        output.set("PartitionKeys", json!([]));
        Ok(Outcome::read(output))
    }

    pub(crate) async fn list_event_data_stores(
        &self,
        call: &Call,
        input: ListStoresInput,
    ) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let account = call.caller.account().to_string();
        let now = crate::now();
        let stores: Vec<&StoreEntry> = state
            .stores
            .values()
            .filter(|s| s.account == account && s.record.home_region == call.region && !s.expired(now))
            .collect();
        let start = match &input.next_token {
            Some(token) => stores
                .iter()
                .position(|s| &s.record.id == token)
                .ok_or_else(|| E::InvalidNextTokenException.error("The NextToken is not valid."))?,
            None => 0,
        };
        let page = input.max_results.unwrap_or(1000).clamp(1, 1000);
        let listed: Vec<Value> = stores
            .iter()
            .skip(start)
            .take(page)
            .map(|s| {
                // The list's shape has no BillingMode.
                let mut listed = store_json(s);
                if let Some(members) = listed.as_object_mut() {
                    members.remove("BillingMode");
                }
                listed
            })
            .collect();
        let mut output = json!({ "EventDataStores": listed });
        if let Some(next) = stores.get(start + page) {
            output.set("NextToken", json!(next.record.id));
        }
        Ok(Outcome::read(output))
    }

    /// Changes one store (not one pending deletion unless `inactive_ok`):
    /// `edit` sees every store and returns the output.
    async fn edit_store(
        &self,
        call: &Call,
        name: &str,
        inactive_ok: bool,
        edit: impl FnOnce(&Stores, &mut StoreEntry) -> Result<Value, AwsError>,
    ) -> Result<Outcome, AwsError> {
        self.mutate(|state| {
            let current = find(&state.stores, call, name)?;
            if !inactive_ok {
                active(current)?;
            }
            let mut entry = current.clone();
            let output = edit(&state.stores, &mut entry)?;
            entry.record.updated = crate::now();
            put(entry, output)
        })
        .await
    }

    pub(crate) async fn update_event_data_store(
        &self,
        call: &Call,
        input: UpdateStoreInput,
    ) -> Result<Outcome, AwsError> {
        refuse_unsupported(&input.settings)?;
        if let Some(list) = &input.settings.advanced_event_selectors {
            check_selectors(list)?;
        }
        if let Some(mode) = &input.settings.billing_mode {
            check_billing_mode(mode)?;
        }
        let account = call.caller.account().to_string();
        let now_ms = call.time_ms;
        self.edit_store(call, &input.event_data_store, false, |stores, entry| {
            let s = input.settings;
            let r = &mut entry.record;
            if let Some(name) = input.name {
                if name_taken(stores, &account, &r.home_region, &name, Some(&r.id)) {
                    return Err(E::EventDataStoreAlreadyExistsException
                        .error(format!("An event data store with the name {name} already exists.")));
                }
                r.name = name;
            }
            if let Some(mode) = s.billing_mode {
                // Billing mode goes from fixed to extendable only.
                if r.billing_mode == EXTENDABLE && mode == FIXED {
                    return Err(E::InvalidParameterException.error(
                        "The billing mode of an event data store can change from FIXED_RETENTION_PRICING to EXTENDABLE_RETENTION_PRICING only.",
                    ));
                }
                r.billing_mode = mode;
            }
            if let Some(days) = s.retention_period {
                r.retention_days = days;
            }
            check_retention(r.retention_days, &r.billing_mode)?;
            let (selectors, multi_region) = (r.selectors.clone(), r.multi_region);
            if let Some(list) = s.advanced_event_selectors {
                r.selectors = list;
            }
            if let Some(multi) = s.multi_region_enabled {
                r.multi_region = multi;
            }
            // New selection settings apply from now on: the open window
            // closes and one under the new settings opens.
            if (r.selectors != selectors || r.multi_region != multi_region) && r.close_window(now_ms) {
                r.open_window(now_ms.saturating_add(1));
            }
            if let Some(protection) = s.termination_protection_enabled {
                r.termination_protection = protection;
            }
            Ok(store_json(entry))
        })
        .await
    }

    pub(crate) async fn delete_event_data_store(&self, call: &Call, input: StoreInput) -> Result<Outcome, AwsError> {
        let (now, now_ms) = (crate::now(), call.time_ms);
        self.edit_store(call, &input.event_data_store, false, |_, entry| {
            if entry.record.termination_protection {
                return Err(E::EventDataStoreTerminationProtectedException.error(
                    "The event data store cannot be deleted because termination protection is enabled for it.",
                ));
            }
            entry.record.deleted = Some(now);
            entry.record.close_window(now_ms);
            Ok(json!({}))
        })
        .await
    }

    pub(crate) async fn restore_event_data_store(&self, call: &Call, input: StoreInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account().to_string();
        let now_ms = call.time_ms;
        self.edit_store(call, &input.event_data_store, true, |stores, entry| {
            if entry.record.deleted.is_none() {
                return Err(E::InvalidEventDataStoreStatusException
                    .error(format!("The event data store {} is not pending deletion.", entry.arn())));
            }
            let count = stores
                .values()
                .filter(|s| s.account == account && s.record.home_region == entry.record.home_region)
                .filter(|s| s.record.deleted.is_none())
                .count();
            if count >= STORES_PER_REGION {
                return Err(E::EventDataStoreMaxLimitExceededException.error(format!(
                    "Your account has reached the maximum number of event data stores ({STORES_PER_REGION}) in this Region."
                )));
            }
            entry.record.deleted = None;
            entry.record.open_window(now_ms);
            Ok(store_json(entry))
        })
        .await
    }

    pub(crate) async fn start_event_data_store_ingestion(
        &self,
        call: &Call,
        input: StoreInput,
    ) -> Result<Outcome, AwsError> {
        let now_ms = call.time_ms;
        self.edit_store(call, &input.event_data_store, false, |_, entry| {
            if entry.ingesting() {
                return Err(E::InvalidEventDataStoreStatusException
                    .error(format!("The event data store {} is already ingesting events.", entry.arn())));
            }
            entry.record.open_window(now_ms);
            Ok(json!({}))
        })
        .await
    }

    pub(crate) async fn stop_event_data_store_ingestion(
        &self,
        call: &Call,
        input: StoreInput,
    ) -> Result<Outcome, AwsError> {
        let now_ms = call.time_ms;
        self.edit_store(call, &input.event_data_store, false, |_, entry| {
            if !entry.record.close_window(now_ms) {
                return Err(E::InvalidEventDataStoreStatusException
                    .error(format!("The event data store {} is not ingesting events.", entry.arn())));
            }
            Ok(json!({}))
        })
        .await
    }

    /// Tags of an event data store (AddTags, RemoveTags and ListTags name
    /// it by ARN).
    pub(crate) async fn edit_store_tags(
        &self,
        call: &Call,
        arn: &str,
        edit: impl FnOnce(&[(String, String)]) -> Result<Vec<(String, String)>, rampart_core::tags::TagProblem>,
    ) -> Result<Outcome, AwsError> {
        self.edit_store(call, arn, false, |_, entry| {
            entry.record.tags = edit(&entry.record.tags).map_err(crate::trails::tag_error)?;
            Ok(json!({}))
        })
        .await
    }
}

/// The store a resource-policy operation names: an event data store's ARN
/// (channels and dashboards are not served).
fn policy_store<'s>(stores: &'s Stores, call: &Call, arn: &str) -> Result<&'s StoreEntry, AwsError> {
    let parsed = rampart_core::Arn::parse(arn)
        .filter(|a| a.service == "cloudtrail")
        .ok_or_else(|| E::ResourceARNNotValidException.error(format!("The resource ARN is not valid: {arn}")))?;
    if !parsed.resource.starts_with("eventdatastore/") {
        return Err(E::ResourceTypeNotSupportedException
            .error("Rampart keeps resource policies on event data stores only (no channels or dashboards)."));
    }
    find(stores, call, arn)
        .map_err(|_| E::ResourceNotFoundException.error(format!("The resource {arn} was not found.")))
}

impl Trail {
    pub(crate) async fn put_resource_policy(&self, call: &Call, input: PolicyInput) -> Result<Outcome, AwsError> {
        let Some(text) = input.resource_policy else {
            return Err(E::ResourcePolicyNotValidException.error("ResourcePolicy is required."));
        };
        rampart_policy::Policy::parse(&text, rampart_policy::PolicyKind::Resource)
            .map_err(|e| E::ResourcePolicyNotValidException.error(format!("The resource policy is not valid: {e}")))?;
        let arn = input.resource_arn.clone();
        self.mutate(|state| {
            let mut entry = active(policy_store(&state.stores, call, &arn)?)?.clone();
            entry.record.resource_policy = Some(text.clone());
            entry.record.updated = crate::now();
            let output = json!({ "ResourceArn": entry.arn(), "ResourcePolicy": text });
            put(entry, output)
        })
        .await
    }

    pub(crate) async fn get_resource_policy(&self, call: &Call, input: PolicyInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let entry = policy_store(&state.stores, call, &input.resource_arn)?;
        let Some(text) = &entry.record.resource_policy else {
            return Err(E::ResourcePolicyNotFoundException
                .error(format!("The resource {} has no resource policy.", entry.arn())));
        };
        Ok(Outcome::read(json!({ "ResourceArn": entry.arn(), "ResourcePolicy": text })))
    }

    pub(crate) async fn delete_resource_policy(&self, call: &Call, input: PolicyInput) -> Result<Outcome, AwsError> {
        let arn = input.resource_arn.clone();
        self.mutate(|state| {
            let mut entry = policy_store(&state.stores, call, &arn)?.clone();
            if entry.record.resource_policy.take().is_none() {
                return Err(E::ResourcePolicyNotFoundException
                    .error(format!("The resource {} has no resource policy.", entry.arn())));
            }
            put(entry, json!({}))
        })
        .await
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PolicyInput {
    resource_arn: String,
    resource_policy: Option<String>,
}

/// The settings CreateEventDataStore and UpdateEventDataStore share.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StoreSettings {
    advanced_event_selectors: Option<Vec<AdvancedEventSelector>>,
    multi_region_enabled: Option<bool>,
    organization_enabled: Option<bool>,
    retention_period: Option<u32>,
    termination_protection_enabled: Option<bool>,
    kms_key_id: Option<String>,
    billing_mode: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateStoreInput {
    name: String,
    #[serde(flatten)]
    settings: StoreSettings,
    tags_list: Option<Vec<crate::trails::TagInput>>,
    start_ingestion: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateStoreInput {
    event_data_store: String,
    name: Option<String>,
    #[serde(flatten)]
    settings: StoreSettings,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StoreInput {
    pub event_data_store: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListStoresInput {
    next_token: Option<String>,
    max_results: Option<usize>,
}
