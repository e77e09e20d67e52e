//! STS. For now: GetCallerIdentity, which answers for any authenticated caller.

use serde_json::{json, Value};

use rampart_core::{AwsError, BoxFuture, Call, Outcome, Service, ServiceId};

const OPERATIONS: &[&str] = &["GetCallerIdentity"];

#[derive(Debug, Default)]
pub struct Sts;

impl Service for Sts {
    fn id(&self) -> ServiceId {
        ServiceId::Sts
    }

    fn operations(&self) -> &'static [&'static str] {
        OPERATIONS
    }

    fn resource_arn(&self, _call: &Call, _input: &Value) -> Option<String> {
        None
    }

    fn handle<'a>(&'a self, call: &'a Call, _input: Value) -> BoxFuture<'a, Result<Outcome, AwsError>> {
        Box::pin(async move {
            match call.operation {
                "GetCallerIdentity" => Ok(Outcome::read(json!({
                    "UserId": call.caller.principal_id(),
                    "Account": call.caller.account().as_str(),
                    "Arn": call.caller.arn(),
                }))),
                other => Err(AwsError::new("InvalidAction", 400, format!("STS operation {other} is not implemented"))),
            }
        })
    }

    fn load(&self) -> Result<(), String> {
        Ok(())
    }
}
