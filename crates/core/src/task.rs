//! Work a service does on its own, on a schedule: a key deleted when its
//! waiting period ends, a rotation, a delivery, a flush. The server runs each
//! [`Task`] every `period` and once more at shutdown when it asks to, and
//! commits what it returns exactly as it commits a request's change: the
//! writes and the audit records of its [`ServiceEvent`]s in one transaction,
//! then the change's effect on memory. Nothing on the request path waits for
//! a task.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::{AccountId, BoxFuture, Change, Resource};

/// Something a service did by itself, as CloudTrail records it: an event of
/// type `AwsServiceEvent`, invoked by the service (`userIdentity.type` is
/// `AWSService`).
#[derive(Debug, Clone)]
pub struct ServiceEvent {
    /// Its `eventSource` and `invokedBy`: the service's (`iam.amazonaws.com`),
    /// or `rampart` for what the node itself does (a dev reset).
    pub source: &'static str,
    /// The service that made the call, when it is another than `source`:
    /// CloudTrail generating KMS data keys for a trail's log files is a
    /// `kms.amazonaws.com` call invoked by `cloudtrail.amazonaws.com`.
    pub invoked_by: Option<&'static str>,
    /// The account whose resources it concerns.
    pub account: AccountId,
    pub region: String,
    pub event_name: String,
    pub read_only: bool,
    pub resources: Vec<Resource>,
    /// CloudTrail's `serviceEventDetails`.
    pub details: Value,
}

/// A change made outside any request, with its records.
#[derive(Debug)]
pub struct SystemChange {
    pub change: Change,
    pub events: Vec<ServiceEvent>,
}

/// Commits a [`SystemChange`] exactly as a task's is committed (its writes
/// and its events' records in one transaction, then its effect on memory):
/// for work a service must have done before it can answer a request, and
/// that is not the request's own change (KMS creating an AWS managed key on
/// its first use). The server provides it.
pub trait SystemCommitter: Send + Sync {
    fn commit(&self, change: SystemChange) -> BoxFuture<'_, Result<(), String>>;
}

pub type TaskRun = Arc<dyn Fn() -> BoxFuture<'static, Result<Option<SystemChange>, String>> + Send + Sync>;

/// A service's scheduled work.
#[derive(Clone)]
pub struct Task {
    pub name: &'static str,
    pub period: Duration,
    /// Run once more when the node shuts down (after in-flight requests).
    pub at_shutdown: bool,
    /// One run: the change to commit, if any. An error is logged and the task
    /// runs again at its next period.
    pub run: TaskRun,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task").field("name", &self.name).field("period", &self.period).finish()
    }
}
