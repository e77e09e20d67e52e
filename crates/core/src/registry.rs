//! A service's operations: for each operation it serves, its handler and its
//! metadata in one entry, keyed by the model's typed operation
//! (`rampart_wire::OperationId`). What a service does not serve is listed by
//! name in its `unserved.txt`; `Registry::coverage` (run by each service's
//! tests) checks that the two lists together are the model, without overlap.

use serde_json::Value;

use rampart_wire::{AwsError, CommonError, OperationId, ServiceId};

use crate::{BoxFuture, Call, Outcome};

/// What the pipeline needs to know about an operation besides its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationMeta {
    pub name: &'static str,
    /// CloudTrail's `readOnly`: KMS's Encrypt and Decrypt are read-only
    /// although they are not named Get or List.
    pub read_only: bool,
    /// AWS answers it whatever the caller's policies say (GetCallerIdentity).
    pub never_denied: bool,
    /// Credentials from GetSessionToken without MFA may call it (AWS allows
    /// them no IAM operation and no STS operation but AssumeRole and
    /// GetCallerIdentity).
    pub session_token_allowed: bool,
    /// Members (at any depth of the output) that are secrets although the
    /// model does not mark their shapes `sensitive`, such as STS's
    /// `SessionToken`: never recorded.
    pub secrets: &'static [&'static str],
    /// Callable without AWS credentials (STS's AssumeRoleWithWebIdentity and
    /// AssumeRoleWithSAML): an unsigned request is identified by the token
    /// in its input (`Service::identify`), then authorized as usual.
    pub unsigned: bool,
}

/// Runs one operation on a typed input read from the validated input tree.
pub type Handler<S> = for<'a> fn(&'a S, &'a Call, Value) -> BoxFuture<'a, Result<Outcome, AwsError>>;

/// One served operation: its handler, its metadata, and what the service's
/// access rules need to know about it (`A`; IAM's says which resource the
/// call acts on).
pub struct Operation<S: 'static, O: OperationId, A: 'static = ()> {
    pub operation: O,
    pub meta: OperationMeta,
    pub access: A,
    pub handler: Handler<S>,
}

impl<S: 'static, O: OperationId, A: 'static> Operation<S, O, A> {
    fn new(operation: O, read_only: bool, access: A, handler: Handler<S>) -> Self {
        let meta = OperationMeta {
            name: operation.name(),
            read_only,
            never_denied: false,
            session_token_allowed: true,
            secrets: &[],
            unsigned: false,
        };
        Operation { operation, meta, access, handler }
    }

    /// An operation that only reads (CloudTrail's `readOnly: true`).
    pub fn read(operation: O, access: A, handler: Handler<S>) -> Self {
        Operation::new(operation, true, access, handler)
    }

    /// An operation that changes something.
    pub fn write(operation: O, access: A, handler: Handler<S>) -> Self {
        Operation::new(operation, false, access, handler)
    }

    pub fn never_denied(mut self) -> Self {
        self.meta.never_denied = true;
        self
    }

    /// Callable without AWS credentials (`OperationMeta::unsigned`).
    pub fn unsigned(mut self) -> Self {
        self.meta.unsigned = true;
        self
    }

    pub fn session_token_forbidden(mut self) -> Self {
        self.meta.session_token_allowed = false;
        self
    }

    pub fn secrets(mut self, members: &'static [&'static str]) -> Self {
        self.meta.secrets = members;
        self
    }
}

/// Every operation a service serves, sorted by operation.
pub struct Registry<S: 'static, O: OperationId, A: 'static = ()> {
    operations: Vec<Operation<S, O, A>>,
    /// Operations registered more than once (a defect `coverage` reports).
    duplicates: Vec<O>,
}

impl<S: 'static, O: OperationId + Ord, A: 'static> Registry<S, O, A> {
    pub fn new(mut operations: Vec<Operation<S, O, A>>) -> Self {
        operations.sort_by_key(|op| op.operation);
        let mut duplicates: Vec<O> = operations
            .windows(2)
            .filter_map(|w| w.first().zip(w.get(1)))
            .filter(|(a, b)| a.operation == b.operation)
            .map(|(a, _)| a.operation)
            .collect();
        duplicates.dedup();
        Registry { operations, duplicates }
    }

    /// The entry of a served operation, by its model name.
    pub fn get(&self, name: &str) -> Option<&Operation<S, O, A>> {
        let operation = O::from_name(name)?;
        let index = self.operations.binary_search_by_key(&operation, |op| op.operation).ok()?;
        self.operations.get(index)
    }

    pub fn meta(&self, name: &str) -> Option<&OperationMeta> {
        self.get(name).map(|op| &op.meta)
    }

    /// Runs a served operation's handler; the pipeline only calls it for one
    /// that `get` finds.
    pub fn dispatch<'a>(
        &self,
        service: &'a S,
        call: &'a Call,
        input: Value,
    ) -> BoxFuture<'a, Result<Outcome, AwsError>> {
        match self.get(call.operation) {
            Some(op) => (op.handler)(service, call, input),
            None => {
                let message = format!("{} does not serve {}.", O::SERVICE.action_prefix(), call.operation);
                Box::pin(async move { Err(CommonError::InternalFailure.error(O::SERVICE, message)) })
            }
        }
    }

    /// Checks the registry against the service's list of unserved operations
    /// (one name per line; `#` starts a comment): together they must be the
    /// model's operations, each exactly once. The error lists every problem.
    pub fn coverage(&self, unserved_list: &str) -> Result<(), String> {
        let mut problems = Vec::new();
        for op in &self.duplicates {
            problems.push(format!("{} is registered more than once", op.name()));
        }
        let mut unserved = Vec::new();
        for line in unserved_list.lines().map(|l| l.split('#').next().unwrap_or_default().trim()) {
            if line.is_empty() {
                continue;
            }
            match O::from_name(line) {
                None => problems.push(format!("unserved.txt names {line}, which the model does not have")),
                Some(op) if self.get(line).is_some() => {
                    problems.push(format!("{} is served: remove it from unserved.txt", op.name()))
                }
                Some(op) if unserved.contains(&op) => problems.push(format!("unserved.txt lists {line} twice")),
                Some(op) => unserved.push(op),
            }
        }
        for op in O::ALL {
            if self.get(op.name()).is_none() && !unserved.contains(op) {
                problems.push(format!("{} is neither served nor listed in unserved.txt", op.name()));
            }
        }
        match problems.is_empty() {
            true => Ok(()),
            false => Err(problems.join("\n")),
        }
    }
}

/// Whether `call` is a call of `operation`.
pub fn is_call_of<O: OperationId>(call: &Call, operation: O) -> bool {
    call.service == O::SERVICE && call.operation == operation.name()
}

/// Reads a handler's typed input from the validated input tree. The model
/// has already checked the input, so a mismatch here is an input the model
/// allows and the handler's type does not: the service's validation error.
pub fn parse_input<T: serde::de::DeserializeOwned>(service: ServiceId, input: Value) -> Result<T, AwsError> {
    serde_json::from_value(input).map_err(|e| CommonError::Validation.error(service, format!("Invalid input: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_wire::StsOperation as O;

    fn nothing<'a>(_: &'a (), _: &'a Call, _: Value) -> BoxFuture<'a, Result<Outcome, AwsError>> {
        Box::pin(async { Ok(Outcome::read(Value::Null)) })
    }

    fn registry(operations: &[O]) -> Registry<(), O> {
        Registry::new(operations.iter().map(|op| Operation::read(*op, (), nothing as Handler<()>)).collect())
    }

    /// Every STS operation but these, one per line.
    fn unserved_but(served: &[O]) -> String {
        O::ALL.iter().filter(|op| !served.contains(op)).map(|op| format!("{}\n", op.name())).collect()
    }

    #[test]
    fn entries_are_found_by_model_name() {
        let r = registry(&[O::GetSessionToken, O::AssumeRole]);
        assert_eq!(r.get("AssumeRole").map(|op| op.operation), Some(O::AssumeRole));
        assert_eq!(r.meta("GetSessionToken").map(|m| m.name), Some("GetSessionToken"));
        assert!(r.get("GetCallerIdentity").is_none());
        assert!(r.get("assumerole").is_none());
    }

    #[test]
    fn coverage_finds_every_disagreement_with_the_model() {
        let served = [O::AssumeRole, O::GetCallerIdentity];
        let list = unserved_but(&served);
        assert_eq!(registry(&served).coverage(&format!("# comment\n\n{list}")), Ok(()));

        let problems = |r: &Registry<(), O>, list: &str| r.coverage(list).err().unwrap_or_default();
        let twice = registry(&[O::AssumeRole, O::AssumeRole, O::GetCallerIdentity]);
        assert!(problems(&twice, &list).contains("AssumeRole is registered more than once"));
        let missing = list.replace("GetSessionToken\n", "");
        assert!(problems(&registry(&served), &missing).contains("GetSessionToken is neither served nor listed"));
        let listed_and_served = format!("{list}AssumeRole\n");
        assert!(problems(&registry(&served), &listed_and_served).contains("AssumeRole is served"));
        let unknown = format!("{list}AssumeRoot2\n");
        assert!(problems(&registry(&served), &unknown).contains("names AssumeRoot2, which the model does not have"));
        let repeated = format!("{list}GetSessionToken\n");
        assert!(problems(&registry(&served), &repeated).contains("lists GetSessionToken twice"));
    }
}
