//! Background work: the services' scheduled tasks and the node's own, run
//! on tokio beside the request path (which never waits for them), stopped at
//! shutdown after in-flight requests, with one last run of the tasks that ask
//! for it. What a task changes is committed as a request's change is: its
//! writes and its events' records in one transaction, then its effect on
//! memory.

use std::sync::Arc;
use std::time::Duration;

use rampart_core::{SystemChange, Task, TaskRun};
use rampart_store::{Commit, Store};

use crate::audit::service_event_row;
use crate::auth::millis;
use crate::node::Node;

/// Records of requests attributable to no account are kept this long.
const UNATTRIBUTED_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

/// Commits a change made outside any request, with its events' records.
pub(crate) async fn commit_system(store: &Store, system: SystemChange) -> Result<(), String> {
    let now = millis(time::OffsetDateTime::now_utc());
    let events = system
        .events
        .iter()
        .map(|event| service_event_row(event, now))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("a service event's record could not be serialized: {e}"))?;
    let SystemChange { change, .. } = system;
    store.commit(Commit { writes: change.writes, events }).await.map_err(|e| e.to_string())?;
    (change.apply)();
    Ok(())
}

/// What services commit outside their requests' changes with
/// (`rampart_core::SystemCommitter`): as a task's change is committed.
pub(crate) struct StoreCommitter(pub Store);

impl rampart_core::SystemCommitter for StoreCommitter {
    fn commit(&self, change: SystemChange) -> rampart_core::BoxFuture<'_, Result<(), String>> {
        Box::pin(commit_system(&self.0, change))
    }
}

/// The node's own tasks: expiring records of unattributable requests.
fn node_tasks(node: &Arc<Node>) -> Vec<Task> {
    let store = node.store.clone();
    let run: TaskRun = Arc::new(move || {
        let store = store.clone();
        Box::pin(async move {
            let now_ms = millis(time::OffsetDateTime::now_utc());
            let expired = store.expire_unattributed(now_ms - UNATTRIBUTED_RETENTION_MS).await;
            match expired.map_err(|e| e.to_string())? {
                0 => {}
                n => tracing::info!(batches = n, "expired records of unattributable requests"),
            }
            Ok(None)
        })
    });
    vec![Task { name: "expire-unattributed", period: Duration::from_secs(3600), at_shutdown: false, run }]
}

/// One run of a task: its change committed, or its error logged.
async fn run_once(node: &Node, task: &Task) {
    let outcome = match (task.run)().await {
        Ok(Some(system)) => commit_system(&node.store, system).await,
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    if let Err(error) = outcome {
        tracing::error!(task = task.name, %error, "background task failed");
    }
}

/// The running tasks.
pub(crate) struct Tasks {
    tasks: Vec<Task>,
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl Tasks {
    /// Starts every service's tasks and the node's: each runs now and then
    /// every period.
    pub fn start(node: &Arc<Node>) -> Tasks {
        let mut tasks = node_tasks(node);
        for service in node.services.values() {
            tasks.extend(service.clone().tasks());
        }
        let handles = tasks
            .iter()
            .map(|task| {
                let (node, task) = (node.clone(), task.clone());
                tokio::spawn(async move {
                    let mut interval = tokio::time::interval(task.period);
                    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        interval.tick().await;
                        run_once(&node, &task).await;
                    }
                })
            })
            .collect();
        Tasks { tasks, handles }
    }

    /// Stops every task, then runs once more those that ask to run at shutdown.
    pub async fn stop(self, node: &Node) {
        for handle in &self.handles {
            handle.abort();
        }
        for handle in self.handles {
            let _ = handle.await;
        }
        for task in self.tasks.iter().filter(|t| t.at_shutdown) {
            run_once(node, task).await;
        }
    }
}
