//! Last-accessed data (IAM access advisor): when each user and role last
//! called each service, noted by the pipeline after authentication
//! (`Iam::note_use`), and the reports built from it —
//! GenerateServiceLastAccessedDetails, GetServiceLastAccessedDetails and
//! GetServiceLastAccessedDetailsWithEntities — and GetRole's `RoleLastUsed`.
//!
//! A report lists every service the entity's policies grant (as
//! ListPoliciesGrantingServiceAccess reads them), with when it was last
//! used, by which entity and from which region; an ACTION_LEVEL report adds
//! each action of the service that was attempted (the pipeline notes the
//! operation too, as `service:Action`, allowed or denied, as AWS counts
//! attempts). Reports are computed when generated and kept in memory (the
//! last 100).

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::{json, Value};

use rampart_core::{AccountId, AwsError, Call, Outcome, OutputMembers};
use rampart_policy::{Policy, PolicyKind};
use rampart_wire::{ExceptionId, IamException};

use crate::attachments::document_of;
use crate::listing::{page, page_output};
use crate::state::{AccountState, StoredLastUsed};
use crate::Iam;

/// How many generated reports a node keeps.
const JOBS_KEPT: usize = 100;
/// A use is noted at most once a minute per entity and service.
const NOTE_EVERY_MS: i64 = 60_000;

/// One entity's last call to one service.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Use {
    pub time_ms: i64,
    pub region: String,
    pub account: String,
}

/// Last use by entity id (a user's or a role's) and service prefix.
#[derive(Default)]
pub(crate) struct LastAccess {
    uses: parking_lot::RwLock<HashMap<String, HashMap<String, Use>>>,
}

impl LastAccess {
    /// Notes a call; takes the write lock only when the noted time is a minute old.
    pub fn note(&self, entity: &str, service: &str, time_ms: i64, region: &str, account: &AccountId) {
        let fresh = |uses: &HashMap<String, HashMap<String, Use>>| {
            uses.get(entity).and_then(|s| s.get(service)).is_some_and(|u| time_ms - u.time_ms < NOTE_EVERY_MS)
        };
        if fresh(&self.uses.read()) {
            return;
        }
        let mut uses = self.uses.write();
        if !fresh(&uses) {
            let entry = uses.entry(entity.to_string()).or_default();
            entry
                .insert(service.to_string(), Use { time_ms, region: region.to_string(), account: account.to_string() });
        }
    }

    /// The records as stored: `(account, "ENTITY/SERVICE", use)`.
    pub fn load(&self, records: Vec<(AccountId, String, StoredLastUsed)>) {
        let mut uses = self.uses.write();
        uses.clear();
        for (account, key, stored) in records {
            let Some((entity, service)) = key.split_once('/') else { continue };
            let found = Use { time_ms: stored.time_ms, region: stored.region, account: account.to_string() };
            uses.entry(entity.to_string()).or_default().insert(service.to_string(), found);
        }
    }

    pub fn entries(&self) -> Vec<(String, String, Use)> {
        let uses = self.uses.read();
        let all = uses.iter().flat_map(|(e, s)| s.iter().map(move |(svc, u)| (e.clone(), svc.clone(), u.clone())));
        all.collect()
    }

    pub fn forget(&self, entity: &str) {
        self.uses.write().remove(entity);
    }

    /// The entity's last call to any service.
    pub fn latest(&self, entity: &str) -> Option<Use> {
        let uses = self.uses.read();
        uses.get(entity)?.values().max_by_key(|u| u.time_ms).cloned()
    }

    fn of(&self, entity: &str, service: &str) -> Option<Use> {
        self.uses.read().get(entity)?.get(service).cloned()
    }

    /// The latest attempt at each action by any of `entities`, by service
    /// and then action: one pass over the entities' notes.
    fn actions_of(&self, entities: &[Entity]) -> HashMap<String, BTreeMap<String, (Entity, Use)>> {
        let uses = self.uses.read();
        let mut out: HashMap<String, BTreeMap<String, (Entity, Use)>> = HashMap::new();
        for entity in entities {
            let Some(all) = uses.get(&entity.id) else { continue };
            for (key, u) in all {
                let Some((service, action)) = key.split_once(':') else { continue };
                let actions = out.entry(service.to_string()).or_default();
                if actions.get(action).is_none_or(|(_, seen)| u.time_ms > seen.time_ms) {
                    actions.insert(action.to_string(), (entity.clone(), u.clone()));
                }
            }
        }
        out
    }
}

/// An entity as a report names it.
#[derive(Debug, Clone)]
struct Entity {
    id: String,
    name: String,
    path: String,
    kind: &'static str,
    arn: String,
}

/// One service of a report.
#[derive(Debug, Clone)]
struct ServiceReport {
    prefix: String,
    name: String,
    /// Each entity that counts towards the report, with its last use.
    entities: Vec<(Entity, Option<Use>)>,
    /// For an ACTION_LEVEL report: each action of the service the entities
    /// attempted, with the latest attempt and whose it was, by action name.
    actions: Option<Vec<(String, Entity, Use)>>,
}

pub(crate) struct AccessJob {
    id: String,
    account: String,
    granularity: String,
    created: f64,
    services: Vec<ServiceReport>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GenerateInput {
    arn: String,
    granularity: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetInput {
    job_id: String,
    marker: Option<String>,
    max_items: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetWithEntitiesInput {
    job_id: String,
    service_namespace: String,
    marker: Option<String>,
    max_items: Option<usize>,
}

fn no_such_job(id: &str) -> AwsError {
    IamException::NoSuchEntityException.error(format!("Job {id} does not exist."))
}

/// The entities whose use counts for `arn` and the policy documents that
/// decide which services it may use: a user, role or group (its members'
/// use), or a managed policy (the use of every entity it is attached to).
fn subject(a: &AccountState, account: &AccountId, arn: &str) -> Option<(Vec<Entity>, Vec<String>)> {
    let user_entity = |u: &crate::state::User| Entity {
        id: u.user_id.clone(),
        name: u.name.clone(),
        path: u.path.clone(),
        kind: "USER",
        arn: rampart_core::iam_arn(account, "user", &u.path, &u.name),
    };
    let role_entity = |r: &crate::state::Role| Entity {
        id: r.role_id.clone(),
        name: r.name.clone(),
        path: r.path.clone(),
        kind: "ROLE",
        arn: rampart_core::iam_arn(account, "role", &r.path, &r.name),
    };
    let documents = |owner_id: &str, attached: &[String]| {
        let inline = a.inline_policies.values().filter(|p| p.owner_id == owner_id).map(|p| p.document.clone());
        let managed = attached.iter().filter_map(|arn| document_of(a, arn).map(str::to_string));
        inline.chain(managed).collect::<Vec<_>>()
    };
    if let Some(p) = crate::aws_managed::aws_managed_policy(arn)
        .map(|p| p.document().to_string())
        .or_else(|| a.managed.get(arn).map(|p| p.document().to_string()))
    {
        let mut entities: Vec<Entity> =
            a.users.values().filter(|u| u.attached.iter().any(|x| x == arn)).map(user_entity).collect();
        entities.extend(a.roles.values().filter(|r| r.attached.iter().any(|x| x == arn)).map(role_entity));
        for g in a.groups.values().filter(|g| g.attached.iter().any(|x| x == arn)) {
            entities.extend(a.users.values().filter(|u| g.members.contains(&u.user_id)).map(user_entity));
        }
        return Some((entities, vec![p]));
    }
    let resource = rampart_core::Arn::parse(arn)?.resource;
    let name = resource.rsplit('/').next()?;
    match resource.split_once('/')?.0 {
        "user" => {
            let u = a.user(name)?;
            let mut docs = documents(&u.user_id, &u.attached);
            for g in a.groups.values().filter(|g| g.members.contains(&u.user_id)) {
                docs.extend(documents(&g.group_id, &g.attached));
            }
            Some((vec![user_entity(u)], docs))
        }
        "role" => {
            let r = a.role(name)?;
            Some((vec![role_entity(r)], documents(&r.role_id, &r.attached)))
        }
        "group" => {
            let g = a.group(name)?;
            let members = a.users.values().filter(|u| g.members.contains(&u.user_id)).map(user_entity).collect();
            Some((members, documents(&g.group_id, &g.attached)))
        }
        _ => None,
    }
}

fn service_json(s: &ServiceReport) -> Value {
    let used: Vec<&(Entity, Option<Use>)> = s.entities.iter().filter(|(_, u)| u.is_some()).collect();
    let last = used.iter().filter_map(|(e, u)| u.as_ref().map(|u| (e, u))).max_by_key(|(_, u)| u.time_ms);
    let mut out = json!({ "ServiceName": s.name, "ServiceNamespace": s.prefix });
    if let Some((entity, u)) = last {
        out.set("LastAuthenticated", json!((u.time_ms / 1000) as f64));
        out.set("LastAuthenticatedEntity", json!(entity.arn));
        out.set("LastAuthenticatedRegion", json!(u.region));
    }
    out.set("TotalAuthenticatedEntities", json!(used.len()));
    if let Some(actions) = s.actions.as_ref().filter(|a| !a.is_empty()) {
        let tracked: Vec<Value> = actions
            .iter()
            .map(|(action, entity, u)| {
                json!({
                    "ActionName": action,
                    "LastAccessedEntity": entity.arn,
                    "LastAccessedRegion": u.region,
                    "LastAccessedTime": (u.time_ms / 1000) as f64,
                })
            })
            .collect();
        out.set("TrackedActionsLastAccessed", json!(tracked));
    }
    out
}

impl Iam {
    pub(crate) fn generate_last_accessed(&self, call: &Call, input: GenerateInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account();
        let (entities, documents) = {
            let state = self.state.read();
            let empty = AccountState::default();
            subject(state.accounts.get(account).unwrap_or(&empty), account, &input.arn)
                .ok_or_else(|| IamException::NoSuchEntityException.error(format!("{} does not exist.", input.arn)))?
        };
        let policies: Vec<Policy> =
            documents.iter().filter_map(|d| Policy::parse(d, PolicyKind::Identity).ok()).collect();
        let granularity = input.granularity.unwrap_or_else(|| "SERVICE_LEVEL".to_string());
        let mut actions = (granularity == "ACTION_LEVEL").then(|| self.last_access.actions_of(&entities));
        let services = rampart_policy::catalog()
            .services()
            .iter()
            .filter(|s| policies.iter().any(|p| p.grants_service(s.prefix)))
            .map(|s| ServiceReport {
                prefix: s.prefix.to_string(),
                name: s.name.to_string(),
                entities: entities.iter().map(|e| (e.clone(), self.last_access.of(&e.id, s.prefix))).collect(),
                actions: actions.as_mut().map(|by_service| {
                    let of_service = by_service.remove(s.prefix).unwrap_or_default();
                    of_service.into_iter().map(|(action, (entity, u))| (action, entity, u)).collect()
                }),
            })
            .collect();
        let id = uuid::Uuid::new_v4().to_string();
        let job = AccessJob {
            id: id.clone(),
            account: account.to_string(),
            granularity,
            created: crate::now_seconds(call),
            services,
        };
        let mut jobs = self.access_jobs.lock();
        jobs.push_back(job);
        while jobs.len() > JOBS_KEPT {
            jobs.pop_front();
        }
        Ok(Outcome::read(json!({ "JobId": id })))
    }

    /// Runs `read` on the caller's job `id`.
    fn with_job<T>(&self, call: &Call, id: &str, read: impl FnOnce(&AccessJob) -> T) -> Result<T, AwsError> {
        let jobs = self.access_jobs.lock();
        let job = jobs.iter().find(|j| j.id == id && j.account == call.caller.account().as_str());
        job.map(read).ok_or_else(|| no_such_job(id))
    }

    pub(crate) fn get_last_accessed(&self, call: &Call, input: GetInput) -> Result<Outcome, AwsError> {
        self.with_job(call, &input.job_id, |job| {
            let keyed: Vec<(String, &ServiceReport)> = job.services.iter().map(|s| (s.prefix.clone(), s)).collect();
            let (items, next) = page(keyed.iter().map(|(k, s)| (k, *s)), input.marker.as_deref(), input.max_items);
            let items: Vec<Value> = items.into_iter().map(service_json).collect();
            let mut out = page_output("ServicesLastAccessed", items, next);
            out.set("JobStatus", json!("COMPLETED"));
            out.set("JobType", json!(job.granularity));
            out.set("JobCreationDate", json!(job.created));
            out.set("JobCompletionDate", json!(job.created));
            Outcome::read(out)
        })
    }

    pub(crate) fn get_last_accessed_with_entities(
        &self,
        call: &Call,
        input: GetWithEntitiesInput,
    ) -> Result<Outcome, AwsError> {
        self.with_job(call, &input.job_id, |job| {
            let service = job.services.iter().find(|s| s.prefix == input.service_namespace);
            let entities = service.map(|s| s.entities.clone()).unwrap_or_default();
            let keyed: Vec<(String, (Entity, Option<Use>))> =
                entities.into_iter().map(|(e, u)| (format!("{}/{}", e.kind, e.arn), (e, u))).collect();
            let (items, next) =
                page(keyed.iter().map(|(k, v)| (k, v.clone())), input.marker.as_deref(), input.max_items);
            let items: Vec<Value> = items
                .into_iter()
                .map(|(e, u)| {
                    let mut item = json!({ "EntityInfo": {
                        "Arn": e.arn, "Name": e.name, "Type": e.kind, "Id": e.id, "Path": e.path,
                    }});
                    if let Some(u) = u {
                        item.set("LastAuthenticated", json!((u.time_ms / 1000) as f64));
                    }
                    item
                })
                .collect();
            let mut out = page_output("EntityDetailsList", items, next);
            out.set("JobStatus", json!("COMPLETED"));
            out.set("JobCreationDate", json!(job.created));
            out.set("JobCompletionDate", json!(job.created));
            Outcome::read(out)
        })
    }
}
