//! The interface between the pipeline and a service.

use serde_json::Value;

use rampart_store::RecordWrite;
use rampart_wire::{AwsError, ServiceId};

use crate::{Access, AccountId, OperationMeta, Principal, Session};

pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// How IAM learns an OpenID Connect provider's thumbprint when
/// CreateOpenIDConnectProvider names none: as AWS does, the SHA-1 of the top
/// intermediate CA certificate (the last of the chain) that the issuer's
/// host presents. STS, which holds the one outbound HTTPS client, answers.
pub trait ThumbprintProbe: Send + Sync {
    /// Lower-case hex, or `None` when the host cannot be reached.
    fn thumbprint<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Option<String>>;
}

/// What another service keeps that names IAM principals by ARN (KMS key
/// policies and grants). When a user or role is deleted or renamed, IAM asks
/// for the change that names it by `to` instead — its unique id, so that a
/// namesake created later inherits nothing, or its new ARN — and commits it
/// with its own change. The returned change's `apply` holds the service's
/// mutation lock, so nothing it rewrites changes in between.
pub trait PrincipalFollower: Send + Sync {
    /// `Ok(None)` when nothing names `from`; `Err(Busy)` when the service
    /// is in the middle of a change (IAM answers ConcurrentModification).
    fn follow(&self, from: &str, to: &str) -> Result<Option<Change>, Busy>;
}

/// A service could not take part in a change now: the caller may retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// An authenticated, authorized call as a handler sees it. No HTTP.
#[derive(Debug, Clone)]
pub struct Call {
    pub request_id: String,
    pub service: ServiceId,
    pub operation: &'static str,
    pub caller: Principal,
    pub access_key_id: String,
    /// For temporary credentials: the session they belong to.
    pub session: Option<std::sync::Arc<Session>>,
    pub region: String,
    pub source_ip: String,
    pub user_agent: String,
    pub secure_transport: bool,
    /// Milliseconds since the epoch when the request arrived.
    pub time_ms: i64,
}

/// A resource an event concerns, as CloudTrail lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// e.g. `AWS::IAM::User`.
    pub kind: String,
    pub name: String,
}

/// A change a handler wants made: the records to write and, once they are
/// durable (with the call's audit event, in one transaction), what to apply to
/// the service's memory. A handler that must serialize its mutations keeps its
/// lock guard inside `apply`, so the lock is held until memory is updated.
pub struct Change {
    pub writes: Vec<RecordWrite>,
    pub apply: Box<dyn FnOnce() + Send>,
}

impl std::fmt::Debug for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Change").field("writes", &self.writes.len()).finish()
    }
}

/// Several changes as one: their writes, and one effect applying each.
pub fn split_changes(changes: Vec<Change>) -> (Vec<RecordWrite>, impl FnOnce() + Send) {
    let mut writes = Vec::new();
    let mut applies = Vec::new();
    for change in changes {
        writes.extend(change.writes);
        applies.push(change.apply);
    }
    (writes, move || applies.into_iter().for_each(|apply| apply()))
}

/// A mutation of a service whose memory is `S` behind a lock: the writes,
/// what they do to memory once they are durable, and the call's output.
pub struct Mutation<S> {
    pub writes: Vec<RecordWrite>,
    pub apply: Box<dyn FnOnce(&mut S) + Send>,
    pub output: Value,
    pub resources: Vec<Resource>,
}

impl<S: Send + Sync + 'static> Mutation<S> {
    /// The outcome that commits the writes and then applies them to
    /// `state`, releasing `guard` (the service's mutation lock) only after:
    /// mutations stay serialized until memory agrees with the store.
    pub fn into_outcome(self, state: std::sync::Arc<parking_lot::RwLock<S>>, guard: impl Send + 'static) -> Outcome {
        let apply = self.apply;
        let change = Change {
            writes: self.writes,
            apply: Box::new(move || {
                apply(&mut state.write());
                drop(guard);
            }),
        };
        Outcome { output: self.output, resources: self.resources, change: Some(change) }
    }
}

/// What a handler returns on success.
#[derive(Debug)]
pub struct Outcome {
    /// The output tree, shaped by the operation's output shape.
    pub output: Value,
    pub resources: Vec<Resource>,
    pub change: Option<Change>,
}

impl Outcome {
    /// A read: output only.
    pub fn read(output: Value) -> Outcome {
        Outcome { output, resources: Vec::new(), change: None }
    }
}

/// A resource a call acts on, as authorization sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessTarget {
    /// The resource's ARN; `None` for `*`.
    pub arn: Option<String>,
    /// The resource's tags (`aws:ResourceTag/*`).
    pub tags: Vec<(String, String)>,
    /// Service condition keys that come from the resource rather than the
    /// request (e.g. `iam:PermissionsBoundary` for AttachUserPolicy: the
    /// user's current boundary). Authorization sets them only for actions
    /// that carry them; a key listed more than once has each value
    /// (`kms:ResourceAliases`).
    pub condition_keys: Vec<(&'static str, String)>,
}

/// A resource-based policy that applies to a call (a role's trust policy, a
/// key policy), with the account that owns the resource.
#[derive(Debug, Clone)]
pub struct ResourcePolicy {
    pub name: String,
    /// Shared: a key policy is parsed once, when it is stored.
    pub policy: std::sync::Arc<rampart_policy::Policy>,
    pub account: AccountId,
    /// Whether it must allow even within one account (trust and key policies).
    pub required: bool,
    /// Whether it binds the account root too (a KMS key policy: AWS holds
    /// even the root to it). A role's trust policy does not: roles cannot be
    /// assumed by the root at all, which STS answers itself.
    pub binds_root: bool,
}

/// The body limit of a service that does not say otherwise: no input of
/// STS's or CloudTrail's model comes near it (STS's largest, a SAML
/// assertion of 100,000 characters, is at most 900 KB form-encoded).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// A service: its operations and their handlers.
pub trait Service: Send + Sync {
    fn id(&self) -> ServiceId;
    /// The metadata of an operation the service serves (its `Registry`
    /// entry); `None` for one it does not serve.
    fn operation(&self, name: &str) -> Option<&OperationMeta>;
    /// What authorization checks the call against (`Access`), read from
    /// memory and the decoded input: every action on every resource it
    /// needs, with the resources' tags, resource-based policies and grants,
    /// and the service condition keys of the request. Resources are named as
    /// stored, never as the request spells them. Computed once, before any
    /// handler runs; for an operation the service serves.
    fn access(&self, call: &Call, input: &Value) -> Access;
    /// Runs one operation (`Registry::dispatch`). Only called for an
    /// operation that `operation` finds.
    fn handle<'a>(&'a self, call: &'a Call, input: Value) -> BoxFuture<'a, Result<Outcome, AwsError>>;
    /// The caller of an unsigned request for an operation callable without
    /// AWS credentials (`OperationMeta::unsigned`): whom the token in its
    /// input identifies, verified at `time_ms`. Its refusal is the
    /// request's error. Only called for such an operation.
    fn identify<'a>(
        &'a self,
        operation: &'a str,
        input: &'a Value,
        time_ms: i64,
    ) -> BoxFuture<'a, Result<Principal, AwsError>> {
        let _ = (input, time_ms);
        Box::pin(async move {
            Err(AwsError::new("MissingAuthenticationToken", 403, format!("{operation} must be signed.")))
        })
    }
    /// The largest request body the service accepts, from its largest valid
    /// input; a larger one is refused before it is read.
    fn max_body_bytes(&self) -> usize {
        DEFAULT_MAX_BODY_BYTES
    }
    /// How much of a request body is read when the request cannot
    /// authenticate: besides naming the operation, enough for the largest
    /// input of an operation callable without credentials
    /// (`OperationMeta::unsigned`). Zero for a service with none, whose
    /// requests the pipeline then never looks at for one.
    fn max_unsigned_body_bytes(&self) -> usize {
        0
    }
    /// The service's scheduled work (`Task`), started by the server once the
    /// node serves.
    fn tasks(self: std::sync::Arc<Self>) -> Vec<crate::Task> {
        Vec::new()
    }
    /// Loads (or reloads, after a reset) the service's state from the store.
    fn load(&self) -> Result<(), String>;

    /// The writes that seal again, under the key wrapper's current key,
    /// every secret the service stores sealed by another key: when the root
    /// of trust moves into an HSM nothing may stay sealed by the file keys
    /// (the node reloads every service after committing them).
    fn reseal(&self) -> Result<Vec<rampart_store::RecordWrite>, String> {
        Ok(Vec::new())
    }
}

/// Setting members of an output object without indexing (which panics on a
/// value that is not an object). Outputs are built as JSON objects.
pub trait OutputMembers {
    /// Sets `key` to `value`; a value that is not an object is left as it is.
    fn set(&mut self, key: &str, value: Value);
    /// Removes `key`, for a view that has fewer members than another.
    fn unset(&mut self, key: &str);
}

impl OutputMembers for Value {
    fn set(&mut self, key: &str, value: Value) {
        if let Some(map) = self.as_object_mut() {
            map.insert(key.to_string(), value);
        }
    }

    fn unset(&mut self, key: &str) {
        if let Some(map) = self.as_object_mut() {
            map.remove(key);
        }
    }
}
