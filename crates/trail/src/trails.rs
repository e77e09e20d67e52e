//! Trails: their records, their memory and the management operations
//! (Create/Get/Describe/List/Update/DeleteTrail, Start/StopLogging,
//! GetTrailStatus, Put/GetEventSelectors, tags), with AWS's validation,
//! quotas and errors. A multi-Region trail is seen from every region (a
//! "shadow trail") but changed only from its home region.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use rampart_core::tags::TagRules;
use rampart_core::{Call, Outcome, OutputMembers};
use rampart_store::RecordWrite;
use rampart_wire::{AwsError, CloudTrailException as E, ExceptionId};

use crate::digest::utc;
use crate::selectors::{self, AdvancedEventSelector, EventSelector, Selectors};
use crate::{Mutation, Trail};

pub(crate) const TRAIL_KIND: &str = "cloudtrail-trail";
/// Trails per account in a region (AWS's quota); a multi-Region trail
/// counts in every region.
const TRAILS_PER_REGION: usize = 5;
const TAG_RULES: TagRules = TagRules { per_resource: 50, keys_ignore_case: false, reserved_prefix: None };

/// A trail as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TrailRecord {
    pub name: String,
    pub home_region: String,
    pub bucket: String,
    #[serde(default)]
    pub key_prefix: Option<String>,
    pub include_global_service_events: bool,
    pub multi_region: bool,
    pub log_file_validation: bool,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// `None` until PutEventSelectors (every management event).
    #[serde(default)]
    pub selectors: Option<Selectors>,
    pub logging: bool,
    /// The KMS key (its ARN) the log files are encrypted under.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    #[serde(default)]
    pub start_logging_time: Option<f64>,
    #[serde(default)]
    pub stop_logging_time: Option<f64>,
    pub created: f64,
}

/// A trail in memory: its account and its record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TrailEntry {
    pub account: String,
    pub record: TrailRecord,
}

impl TrailEntry {
    pub fn arn(&self) -> String {
        trail_arn(&self.record.home_region, &self.account, &self.record.name)
    }

    /// Whether the trail is seen from `region` (its home, or any for a
    /// multi-Region trail).
    pub fn visible_in(&self, region: &str) -> bool {
        self.record.multi_region || self.record.home_region == region
    }

    pub fn selectors(&self) -> Selectors {
        self.record.selectors.clone().unwrap_or_default()
    }
}

pub(crate) fn trail_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:cloudtrail:{region}:{account}:trail/{name}")
}

/// `(account, home region, name)` → the trail.
pub(crate) type Trails = BTreeMap<(String, String, String), TrailEntry>;

fn record_key(region: &str, name: &str) -> String {
    format!("{region}/{name}")
}

fn invalid_name(message: impl Into<String>) -> AwsError {
    E::InvalidTrailNameException.error(message)
}

/// AWS's trail-name rules.
pub(crate) fn check_name(name: &str) -> Result<(), AwsError> {
    if name.len() < 3 {
        return Err(invalid_name(format!(
            "Trail name too short. Minimum allowed length: 3 characters. Specified name length: {} characters.",
            name.len()
        )));
    }
    if name.len() > 128 {
        return Err(invalid_name(format!(
            "Trail name too long. Maximum allowed length: 128 characters. Specified name length: {} characters.",
            name.len()
        )));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')) {
        return Err(invalid_name(
            "Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, periods (.), hyphens (-), and underscores (_).",
        ));
    }
    let bytes = name.as_bytes();
    if !bytes.first().is_some_and(u8::is_ascii_alphanumeric) {
        return Err(invalid_name("Trail name must starts with a letter or number."));
    }
    if !bytes.last().is_some_and(u8::is_ascii_alphanumeric) {
        return Err(invalid_name("Trail name must ends with a letter or number."));
    }
    let symbol = |b: &u8| matches!(b, b'.' | b'-' | b'_');
    if bytes.windows(2).any(|w| matches!(w, [a, b] if symbol(a) && symbol(b))) {
        return Err(invalid_name("Trail name cannot have adjacent periods, underscores or dashes."));
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(invalid_name("Trail name cannot be formatted as an IP address."));
    }
    Ok(())
}

/// S3's bucket-name rules (a trail's bucket is a directory here).
fn check_bucket(name: &str) -> Result<(), AwsError> {
    let bytes = name.as_bytes();
    let valid = (3..=63).contains(&name.len())
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'))
        && bytes.first().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.last().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err();
    match valid {
        true => Ok(()),
        false => Err(E::InvalidS3BucketNameException.error(format!("Bucket name is not valid: {name}"))),
    }
}

/// A key prefix: at most 200 characters. Its `/`-separated parts become
/// directories under the bucket's, so none may be empty, `.` or `..`, or
/// hold a backslash or a control character (nothing may lead out of the
/// bucket's directory).
fn check_prefix(prefix: &str) -> Result<(), AwsError> {
    let parts = prefix.strip_suffix('/').unwrap_or(prefix);
    let part_ok = |p: &str| !p.is_empty() && p != "." && p != ".." && !p.chars().any(|c| c == '\\' || c.is_control());
    match prefix.len() <= 200 && (prefix.is_empty() || parts.split('/').all(part_ok)) {
        true => Ok(()),
        false => Err(E::InvalidS3PrefixException.error(format!("Prefix is not valid: {prefix}"))),
    }
}

/// The settings Rampart cannot deliver to yet, refused rather than stored
/// and ignored.
fn refuse_unsupported(input: &TrailSettings) -> Result<(), AwsError> {
    if input.sns_topic_name.is_some() {
        return Err(E::InvalidSnsTopicNameException
            .error("Rampart has no SNS topics yet: a trail cannot notify one (leave SnsTopicName out)."));
    }
    if input.cloud_watch_logs_log_group_arn.is_some() || input.cloud_watch_logs_role_arn.is_some() {
        return Err(E::CloudWatchLogsDeliveryUnavailableException
            .error("Rampart has no CloudWatch Logs yet: a trail cannot deliver to a log group."));
    }
    if input.is_organization_trail == Some(true) {
        return Err(E::OrganizationsNotInUseException
            .error("This account is not a member of an organization: Rampart has no AWS Organizations."));
    }
    Ok(())
}

/// A trail as CreateTrail, UpdateTrail and GetTrail return it.
fn trail_json(entry: &TrailEntry, described: bool) -> Value {
    let r = &entry.record;
    let mut out = json!({
        "Name": r.name,
        "S3BucketName": r.bucket,
        "IncludeGlobalServiceEvents": r.include_global_service_events,
        "IsMultiRegionTrail": r.multi_region,
        "TrailARN": entry.arn(),
        "LogFileValidationEnabled": r.log_file_validation,
        "IsOrganizationTrail": false,
    });
    if let Some(prefix) = &r.key_prefix {
        out.set("S3KeyPrefix", json!(prefix));
    }
    if let Some(key) = &r.kms_key_id {
        out.set("KmsKeyId", json!(key));
    }
    if described {
        out.set("HomeRegion", json!(r.home_region));
        out.set("HasCustomEventSelectors", json!(r.selectors.is_some()));
        out.set("HasInsightSelectors", json!(false));
    }
    out
}

/// Finds the trail a `Name` member names: a name (a trail of the caller's
/// account visible in the call's region) or a trail ARN (the caller's).
pub(crate) fn find<'s>(trails: &'s Trails, call: &Call, name: &str) -> Result<&'s TrailEntry, AwsError> {
    let account = call.caller.account().to_string();
    let not_found =
        |arn: String| E::TrailNotFoundException.error(format!("Unknown trail: {arn} for the user: {account}"));
    if let Some(arn) = name.strip_prefix("arn:") {
        let arn = rampart_core::Arn::parse(&format!("arn:{arn}"))
            .filter(|a| a.service == "cloudtrail" && a.resource.starts_with("trail/"))
            .ok_or_else(|| E::CloudTrailARNInvalidException.error(format!("Invalid trail ARN: {name}")))?;
        let trail_name = arn.resource.trim_start_matches("trail/").to_string();
        let key = (arn.account.clone(), arn.region.clone(), trail_name);
        return match trails.get(&key) {
            Some(entry) if entry.account == account && entry.visible_in(&call.region) => Ok(entry),
            _ => Err(not_found(name.to_string())),
        };
    }
    check_name(name)?;
    trails
        .values()
        .find(|t| t.account == account && t.record.name == name && t.visible_in(&call.region))
        .ok_or_else(|| not_found(trail_arn(&call.region, &account, name)))
}

/// A change is made from the trail's home region only.
fn home_only(entry: &TrailEntry, call: &Call) -> Result<(), AwsError> {
    match entry.record.home_region == call.region {
        true => Ok(()),
        false => Err(E::InvalidHomeRegionException.error(format!(
            "This operation is only permitted from the home region of the trail ({}).",
            entry.record.home_region
        ))),
    }
}

fn write(entry: &TrailEntry) -> Result<RecordWrite, AwsError> {
    let value = serde_json::to_string(&entry.record).map_err(|_| crate::failure())?;
    Ok(RecordWrite::Put {
        kind: TRAIL_KIND,
        account: entry.account.clone(),
        key: record_key(&entry.record.home_region, &entry.record.name),
        value,
    })
}

fn key_of(entry: &TrailEntry) -> (String, String, String) {
    (entry.account.clone(), entry.record.home_region.clone(), entry.record.name.clone())
}

/// Whether a trail of this name (and multi-Region setting) would clash with
/// another of the account's trails in some region.
fn name_taken(
    trails: &Trails,
    account: &str,
    name: &str,
    region: &str,
    multi_region: bool,
    except: Option<&str>,
) -> bool {
    trails.values().any(|t| {
        t.account == account
            && t.record.name == name
            && Some(t.arn().as_str()) != except
            && (multi_region || t.visible_in(region))
    })
}

/// How many trails count against the quota of `region`.
fn count_in(trails: &Trails, account: &str, region: &str, except: Option<&str>) -> usize {
    trails.values().filter(|t| t.account == account && t.visible_in(region) && Some(t.arn().as_str()) != except).count()
}

/// Whether a trail named `name` in `region` (in every region, when
/// multi-Region) fits beside the account's other trails (`except` is the
/// trail itself, when it changes): no name it would clash with, and room
/// in each region's quota.
fn check_room(
    trails: &Trails,
    account: &str,
    name: &str,
    region: &str,
    multi_region: bool,
    except: Option<&str>,
) -> Result<(), AwsError> {
    if name_taken(trails, account, name, region, multi_region, except) {
        return Err(
            E::TrailAlreadyExistsException.error(format!("Trail {name} already exists for customer: {account}"))
        );
    }
    let mut regions = vec![region];
    if multi_region {
        regions.extend(trails.values().map(|t| t.record.home_region.as_str()));
    }
    match regions.into_iter().find(|r| count_in(trails, account, r, except) >= TRAILS_PER_REGION) {
        Some(full) => Err(E::MaximumNumberOfTrailsExceededException
            .error(format!("User: {account} already has {TRAILS_PER_REGION} trails in {full}."))),
        None => Ok(()),
    }
}

/// The mutation that stores a trail (new or changed) with this output.
fn put_trail(entry: TrailEntry, output: Value) -> Result<Mutation, AwsError> {
    Ok(Mutation {
        resources: Vec::new(),
        writes: vec![write(&entry)?],
        apply: Box::new(move |state| {
            state.trails.insert(key_of(&entry), entry);
        }),
        output,
    })
}

pub(crate) fn tag_pairs(tags: &[TagInput]) -> Vec<(String, String)> {
    tags.iter().map(|t| (t.key.clone(), t.value.clone().unwrap_or_default())).collect()
}

pub(crate) fn tag_error(problem: rampart_core::tags::TagProblem) -> AwsError {
    match problem {
        rampart_core::tags::TagProblem::TooMany(limit) => {
            E::TagsLimitExceededException.error(format!("The number of tags per trail is limited to {limit}."))
        }
        rampart_core::tags::TagProblem::DuplicateKey(key) => {
            E::InvalidTagParameterException.error(format!("The tag key {key} is given twice."))
        }
        rampart_core::tags::TagProblem::Reserved(key) => {
            E::InvalidTagParameterException.error(format!("The tag key {key} uses a reserved prefix."))
        }
    }
}

impl Trail {
    /// The KMS key a trail's `KmsKeyId` names, as its ARN, once KMS has
    /// shown that the key's policy lets CloudTrail generate data keys for
    /// this trail's log files — in its bucket, under its prefix, of its home
    /// region (AWS checks so at CreateTrail and UpdateTrail).
    fn trail_key(&self, entry: &TrailEntry, key_id: &str) -> Result<String, AwsError> {
        use rampart_core::service_keys::{KeyUse, KeyUseError};
        let Some(keys) = &self.config.service_keys else {
            return Err(E::UnsupportedOperationException.error("This node has no KMS to encrypt log files with."));
        };
        let (account, trail_arn, bucket) = (&entry.account, entry.arn(), &entry.record.bucket);
        let prefix = crate::delivery::prefix_of(entry);
        let logs = format!("{prefix}AWSLogs/{account}/CloudTrail/{}/", entry.record.home_region);
        let object = crate::encryption::object_arn(bucket, &logs);
        let context = crate::encryption::context(&trail_arn, &object);
        let request = KeyUse {
            service: crate::delivery::SERVICE_PRINCIPAL,
            account,
            region: &entry.record.home_region,
            key_id,
            context: &context,
            source_arn: &trail_arn,
        };
        match keys.generate_data_key(&request) {
            Ok(data_key) => Ok(data_key.key_arn),
            Err(KeyUseError::NotFound(message)) => Err(E::KmsKeyNotFoundException.error(message)),
            Err(KeyUseError::Denied(message)) => Err(E::InsufficientEncryptionPolicyException.error(format!(
                "Insufficient permissions to access S3 bucket {bucket} or KMS key {key_id}: {message}"
            ))),
            Err(KeyUseError::Unusable(message) | KeyUseError::Invalid(message)) => Err(E::KmsException.error(message)),
        }
    }

    pub(crate) async fn create_trail(&self, call: &Call, input: CreateTrailInput) -> Result<Outcome, AwsError> {
        check_name(&input.name)?;
        check_bucket(&input.s3_bucket_name)?;
        if let Some(prefix) = &input.settings.s3_key_prefix {
            check_prefix(prefix)?;
        }
        refuse_unsupported(&input.settings)?;
        let tags = tag_pairs(&input.tags_list.unwrap_or_default());
        TAG_RULES.check_request(&tags).map_err(tag_error)?;
        let account = call.caller.account().to_string();
        let multi_region = input.settings.is_multi_region_trail.unwrap_or(false);
        let mut entry = TrailEntry {
            account: account.clone(),
            record: TrailRecord {
                name: input.name.clone(),
                home_region: call.region.clone(),
                bucket: input.s3_bucket_name.clone(),
                key_prefix: input.settings.s3_key_prefix.clone().filter(|p| !p.is_empty()),
                include_global_service_events: input.settings.include_global_service_events.unwrap_or(true),
                multi_region,
                log_file_validation: input.settings.enable_log_file_validation.unwrap_or(false),
                tags,
                selectors: None,
                logging: false,
                kms_key_id: None,
                start_logging_time: None,
                stop_logging_time: None,
                created: crate::now(),
            },
        };
        if let Some(key) = input.settings.kms_key_id.as_deref().filter(|k| !k.is_empty()) {
            entry.record.kms_key_id = Some(self.trail_key(&entry, key)?);
        }
        // The bucket's directory is made by the first delivery, not here:
        // the request path does not touch the disk.
        self.mutate(move |state| {
            check_room(&state.trails, &account, &input.name, &call.region, multi_region, None)?;
            let output = trail_json(&entry, false);
            put_trail(entry, output)
        })
        .await
    }

    pub(crate) async fn get_trail(&self, call: &Call, input: NameInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let entry = find(&state.trails, call, &input.name)?;
        Ok(Outcome::read(json!({ "Trail": trail_json(entry, true) })))
    }

    pub(crate) async fn describe_trails(&self, call: &Call, input: DescribeTrailsInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let account = call.caller.account().to_string();
        let shadows = input.include_shadow_trails.unwrap_or(true);
        let listed: Vec<&TrailEntry> = match input.trail_name_list.filter(|l| !l.is_empty()) {
            // Names that name no trail are left out, as AWS leaves them.
            Some(names) => names.iter().filter_map(|n| find(&state.trails, call, n).ok()).collect(),
            None => state.trails.values().filter(|t| t.account == account && t.visible_in(&call.region)).collect(),
        };
        let list: Vec<Value> = listed
            .into_iter()
            .filter(|t| shadows || t.record.home_region == call.region)
            .map(|t| trail_json(t, true))
            .collect();
        Ok(Outcome::read(json!({ "trailList": list })))
    }

    pub(crate) async fn list_trails(&self, call: &Call, input: ListTrailsInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let account = call.caller.account().to_string();
        let trails: Vec<(String, Value)> = state
            .trails
            .values()
            .filter(|t| t.account == account && t.visible_in(&call.region))
            .map(|t| {
                (t.arn(), json!({ "TrailARN": t.arn(), "Name": t.record.name, "HomeRegion": t.record.home_region }))
            })
            .collect();
        let start = match &input.next_token {
            Some(token) => trails
                .iter()
                .position(|(arn, _)| arn == token)
                .ok_or_else(|| E::InvalidTokenException.error("The NextToken is not valid."))?,
            None => 0,
        };
        const PAGE: usize = 50;
        let page: Vec<Value> = trails.iter().skip(start).take(PAGE).map(|(_, v)| v.clone()).collect();
        let mut output = json!({ "Trails": page });
        if let Some((next, _)) = trails.get(start + PAGE) {
            output.set("NextToken", json!(next));
        }
        Ok(Outcome::read(output))
    }

    /// Changes one trail from its home region: `edit` sees the trail and
    /// every trail, and returns the output.
    async fn edit_trail(
        &self,
        call: &Call,
        name: &str,
        edit: impl FnOnce(&Trails, &mut TrailEntry) -> Result<Value, AwsError>,
    ) -> Result<Outcome, AwsError> {
        self.mutate(|state| {
            let current = find(&state.trails, call, name)?;
            home_only(current, call)?;
            let mut entry = current.clone();
            let output = edit(&state.trails, &mut entry)?;
            put_trail(entry, output)
        })
        .await
    }

    pub(crate) async fn update_trail(&self, call: &Call, input: UpdateTrailInput) -> Result<Outcome, AwsError> {
        if let Some(bucket) = &input.s3_bucket_name {
            check_bucket(bucket)?;
        }
        if let Some(prefix) = &input.settings.s3_key_prefix {
            check_prefix(prefix)?;
        }
        refuse_unsupported(&input.settings)?;
        let account = call.caller.account().to_string();
        self.edit_trail(call, &input.name, |trails, entry| {
            let relocated = input.s3_bucket_name.is_some() || input.settings.s3_key_prefix.is_some();
            let r = &mut entry.record;
            if let Some(bucket) = input.s3_bucket_name {
                r.bucket = bucket;
            }
            if let Some(prefix) = input.settings.s3_key_prefix {
                r.key_prefix = Some(prefix).filter(|p| !p.is_empty());
            }
            if let Some(global) = input.settings.include_global_service_events {
                r.include_global_service_events = global;
            }
            if let Some(validation) = input.settings.enable_log_file_validation {
                r.log_file_validation = validation;
            }
            if let Some(multi) = input.settings.is_multi_region_trail {
                if multi && !r.multi_region {
                    let arn = trail_arn(&r.home_region, &account, &r.name);
                    check_room(trails, &account, &r.name, &r.home_region, true, Some(&arn))?;
                }
                r.multi_region = multi;
            }
            // An empty KmsKeyId turns encryption off, as in AWS. The key is
            // checked again whenever what its policy sees changes: the key,
            // the bucket or the prefix.
            let key = match input.settings.kms_key_id.as_deref() {
                Some("") => None,
                Some(key) => Some(key.to_string()),
                None => r.kms_key_id.clone(),
            };
            let moved = input.settings.kms_key_id.is_some() || relocated;
            entry.record.kms_key_id = match key {
                Some(key) if moved => Some(self.trail_key(entry, &key)?),
                other => other,
            };
            Ok(trail_json(entry, false))
        })
        .await
    }

    pub(crate) async fn delete_trail(&self, call: &Call, input: NameInput) -> Result<Outcome, AwsError> {
        self.mutate(|state| {
            let entry = find(&state.trails, call, &input.name)?;
            home_only(entry, call)?;
            let key = key_of(entry);
            let write = RecordWrite::Delete {
                kind: TRAIL_KIND,
                account: entry.account.clone(),
                key: record_key(&entry.record.home_region, &entry.record.name),
            };
            let mut writes = vec![write];
            writes.extend(crate::delivery::forget(entry));
            let arn = entry.arn();
            Ok(Mutation {
                resources: Vec::new(),
                writes,
                apply: Box::new(move |state| {
                    state.trails.remove(&key);
                    state.deliveries.remove(&arn);
                }),
                output: json!({}),
            })
        })
        .await
    }

    pub(crate) async fn start_logging(&self, call: &Call, input: NameInput) -> Result<Outcome, AwsError> {
        self.switch_logging(call, &input.name, true).await
    }

    pub(crate) async fn stop_logging(&self, call: &Call, input: NameInput) -> Result<Outcome, AwsError> {
        self.switch_logging(call, &input.name, false).await
    }

    /// Start/StopLogging: the trail's flag and times, and its delivery
    /// windows (from the last event batch committed now).
    async fn switch_logging(&self, call: &Call, name: &str, logging: bool) -> Result<Outcome, AwsError> {
        let store = self.store.clone();
        let latest = tokio::task::spawn_blocking(move || store.latest_event_batch())
            .await
            .map_err(|_| crate::failure())?
            .map_err(|_| crate::failure())?;
        let now = crate::now();
        self.mutate(|state| {
            let current = find(&state.trails, call, name)?;
            home_only(current, call)?;
            let mut entry = current.clone();
            let mut delivery = state.deliveries.get(&entry.arn()).cloned().unwrap_or_default();
            if entry.record.logging != logging {
                entry.record.logging = logging;
                match logging {
                    true => {
                        entry.record.start_logging_time = Some(now);
                        delivery.start(latest);
                    }
                    false => {
                        entry.record.stop_logging_time = Some(now);
                        delivery.stop(latest);
                    }
                }
            }
            let writes = vec![write(&entry)?, crate::delivery::write(&entry, &delivery).map_err(|_| crate::failure())?];
            Ok(Mutation {
                resources: Vec::new(),
                writes,
                apply: Box::new(move |state| {
                    state.deliveries.insert(entry.arn(), delivery);
                    state.trails.insert(key_of(&entry), entry);
                }),
                output: json!({}),
            })
        })
        .await
    }

    pub(crate) async fn get_trail_status(&self, call: &Call, input: NameInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let entry = find(&state.trails, call, &input.name)?;
        let r = &entry.record;
        let mut out = json!({ "IsLogging": r.logging });
        if let Some(t) = r.start_logging_time {
            out.set("StartLoggingTime", json!(t));
            out.set("TimeLoggingStarted", json!(utc(t)));
        }
        if let Some(t) = r.stop_logging_time {
            out.set("StopLoggingTime", json!(t));
            out.set("TimeLoggingStopped", json!(utc(t)));
        }
        if let Some(status) = state.deliveries.get(&entry.arn()) {
            if let Some(t) = status.latest_delivery_time {
                out.set("LatestDeliveryTime", json!(t));
                out.set("LatestDeliveryAttemptTime", json!(utc(t)));
            }
            if let Some(t) = status.latest_attempt_time {
                out.set("LatestDeliveryAttemptTime", json!(utc(t)));
                out.set(
                    "LatestDeliveryAttemptSucceeded",
                    json!(status.latest_delivery_time.map(utc).unwrap_or_default()),
                );
            }
            if let Some(error) = &status.latest_error {
                out.set("LatestDeliveryError", json!(error));
            }
            if let Some(t) = status.latest_digest_time {
                out.set("LatestDigestDeliveryTime", json!(t));
            }
            if let Some(error) = &status.latest_digest_error {
                out.set("LatestDigestDeliveryError", json!(error));
            }
        }
        Ok(Outcome::read(out))
    }

    pub(crate) async fn put_event_selectors(&self, call: &Call, input: PutSelectorsInput) -> Result<Outcome, AwsError> {
        let selectors = match (input.event_selectors, input.advanced_event_selectors) {
            (Some(basic), None) => Selectors::Basic(basic),
            (None, Some(advanced)) => Selectors::Advanced(advanced),
            _ => {
                return Err(E::InvalidParameterCombinationException
                    .error("Specify either EventSelectors or AdvancedEventSelectors, not both."))
            }
        };
        selectors::validate(&selectors).map_err(|e| E::InvalidEventSelectorsException.error(e.0))?;
        self.edit_trail(call, &input.trail_name, move |_, entry| {
            entry.record.selectors = Some(selectors);
            Ok(selectors_json(entry))
        })
        .await
    }

    pub(crate) async fn get_event_selectors(&self, call: &Call, input: TrailNameInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let entry = find(&state.trails, call, &input.trail_name)?;
        Ok(Outcome::read(selectors_json(entry)))
    }

    pub(crate) async fn add_tags(&self, call: &Call, input: AddTagsInput) -> Result<Outcome, AwsError> {
        let added = tag_pairs(&input.tags_list);
        if crate::lake::stores::is_store_arn(&input.resource_id) {
            let rules = &crate::lake::stores::TAG_RULES;
            return self.edit_store_tags(call, &input.resource_id, |tags| rules.apply(tags, &added)).await;
        }
        self.edit_trail(call, &input.resource_id, move |_, entry| {
            let tags = TAG_RULES.apply(&entry.record.tags, &added).map_err(tag_error)?;
            entry.record.tags = tags;
            Ok(json!({}))
        })
        .await
    }

    pub(crate) async fn remove_tags(&self, call: &Call, input: AddTagsInput) -> Result<Outcome, AwsError> {
        let keys: Vec<String> = input.tags_list.iter().map(|t| t.key.clone()).collect();
        if crate::lake::stores::is_store_arn(&input.resource_id) {
            let rules = &crate::lake::stores::TAG_RULES;
            return self.edit_store_tags(call, &input.resource_id, |tags| Ok(rules.remove(tags, &keys))).await;
        }
        self.edit_trail(call, &input.resource_id, move |_, entry| {
            entry.record.tags = TAG_RULES.remove(&entry.record.tags, &keys);
            Ok(json!({}))
        })
        .await
    }

    pub(crate) async fn list_tags(&self, call: &Call, input: ListTagsInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let mut list = Vec::new();
        for id in &input.resource_id_list {
            if !id.starts_with("arn:") {
                return Err(E::CloudTrailARNInvalidException.error(format!("Invalid trail ARN: {id}")));
            }
            let missing = |_| E::ResourceNotFoundException.error(format!("Resource {id} does not exist."));
            let (arn, tags) = match crate::lake::stores::is_store_arn(id) {
                true => {
                    let entry = crate::lake::stores::find(&state.stores, call, id).map_err(missing)?;
                    (entry.arn(), &entry.record.tags)
                }
                false => {
                    let entry = find(&state.trails, call, id).map_err(missing)?;
                    (entry.arn(), &entry.record.tags)
                }
            };
            let tags: Vec<Value> = tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect();
            list.push(json!({ "ResourceId": arn, "TagsList": tags }));
        }
        Ok(Outcome::read(json!({ "ResourceTagList": list })))
    }
}

impl Trail {
    /// The call's region's digest-signing keys (one per region; the
    /// validity of each runs from its creation).
    pub(crate) async fn list_public_keys(&self, call: &Call, input: PublicKeysInput) -> Result<Outcome, AwsError> {
        if let (Some(start), Some(end)) = (input.start_time, input.end_time) {
            if start > end {
                return Err(E::InvalidTimeRangeException.error("Start time must be before end time."));
            }
        }
        if input.next_token.is_some() {
            return Err(E::InvalidTokenException.error("The NextToken is not valid."));
        }
        let state = self.state.read();
        let rotation = self.config.key_rotation.as_secs_f64();
        let valid_to = |k: &crate::digest::SigningKeyRecord| k.valid_to.unwrap_or(k.valid_from + rotation);
        // The region's keys valid at some time of [StartTime, EndTime], oldest first.
        let current = state.signing_keys.values().map(|k| &k.record);
        let keys: Vec<Value> = state
            .retired_keys
            .iter()
            .chain(current)
            .filter(|k| k.region == call.region)
            .filter(|k| input.end_time.is_none_or(|end| k.valid_from <= end))
            .filter(|k| input.start_time.is_none_or(|start| valid_to(k) >= start))
            .map(|k| {
                json!({
                    "Value": k.public_key,
                    "ValidityStartTime": k.valid_from,
                    "ValidityEndTime": valid_to(k),
                    "Fingerprint": k.fingerprint,
                })
            })
            .collect();
        Ok(Outcome::read(json!({ "PublicKeyList": keys })))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PublicKeysInput {
    start_time: Option<f64>,
    end_time: Option<f64>,
    next_token: Option<String>,
}

fn selectors_json(entry: &TrailEntry) -> Value {
    let mut out = json!({ "TrailARN": entry.arn() });
    match entry.selectors() {
        Selectors::Basic(list) => out.set("EventSelectors", json!(list)),
        Selectors::Advanced(list) => out.set("AdvancedEventSelectors", json!(list)),
    }
    out
}

/// The settings CreateTrail and UpdateTrail share.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TrailSettings {
    s3_key_prefix: Option<String>,
    sns_topic_name: Option<String>,
    include_global_service_events: Option<bool>,
    is_multi_region_trail: Option<bool>,
    enable_log_file_validation: Option<bool>,
    cloud_watch_logs_log_group_arn: Option<String>,
    cloud_watch_logs_role_arn: Option<String>,
    kms_key_id: Option<String>,
    is_organization_trail: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateTrailInput {
    name: String,
    s3_bucket_name: String,
    #[serde(flatten)]
    settings: TrailSettings,
    tags_list: Option<Vec<TagInput>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateTrailInput {
    name: String,
    s3_bucket_name: Option<String>,
    #[serde(flatten)]
    settings: TrailSettings,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TagInput {
    key: String,
    value: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct NameInput {
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TrailNameInput {
    trail_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribeTrailsInput {
    trail_name_list: Option<Vec<String>>,
    include_shadow_trails: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListTrailsInput {
    next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutSelectorsInput {
    trail_name: String,
    event_selectors: Option<Vec<EventSelector>>,
    advanced_event_selectors: Option<Vec<AdvancedEventSelector>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AddTagsInput {
    resource_id: String,
    #[serde(default)]
    tags_list: Vec<TagInput>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListTagsInput {
    resource_id_list: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trail_names_follow_aws_rules() {
        for ok in ["abc", "My-Trail_1.2", "a1b", &"x".repeat(128)] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", &"x".repeat(129), "-abc", "abc-", "a--b", "a._b", "my trail", "10.0.0.1", "a/b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes_stay_inside_the_bucket() {
        for ok in ["", "logs", "team/a", "team/a/", "a.b-c_d"] {
            assert!(check_prefix(ok).is_ok(), "{ok}");
        }
        for bad in ["../x", "a/../../b", "/abs", "a//b", ".", "a/./b", "a\\b", "a\nb", &"p".repeat(201)] {
            assert!(check_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bucket_names_follow_s3_rules() {
        for ok in ["my-bucket", "logs.example.com", "abc", "a1-2"] {
            assert!(check_bucket(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", "My-Bucket", "-bucket", "bucket-", "a..b", "192.168.1.1", "a_b", &"x".repeat(64)] {
            assert!(check_bucket(bad).is_err(), "{bad}");
        }
    }
}
