//! IAM's evaluation logic: an explicit deny anywhere wins; otherwise an allow
//! is needed from identity-based policies and, when one is set, from the
//! permissions boundary.

use crate::condition::Context;
use crate::document::{Actions, Effect, Policy, Resources, Statement, Version};
use crate::glob::{arn_matches, matches as glob};
use crate::variables::substitute;

/// What is being asked: `action` as `service:Operation`, on `resource` (an ARN or `*`).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub context: &'a Context,
}

/// A policy with the name a decision reports it by (a managed policy's ARN,
/// or the inline policy's name).
#[derive(Debug, Clone, Copy)]
pub struct PolicyRef<'a> {
    pub name: &'a str,
    pub policy: &'a Policy,
}

/// The policies that apply to a principal's request.
#[derive(Debug, Clone, Default)]
pub struct PolicySet<'a> {
    pub identity: Vec<PolicyRef<'a>>,
    pub boundary: Option<PolicyRef<'a>>,
}

/// Which kind of policy decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Identity,
    Boundary,
}

/// The statement that decided: policy name, statement id, position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementId {
    pub policy: String,
    pub sid: Option<String>,
    pub index: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow {
        statement: StatementId,
    },
    ExplicitDeny {
        source: Source,
        statement: StatementId,
    },
    /// No statement of `missing` allowed the request.
    ImplicitDeny {
        missing: Source,
    },
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }
}

fn action_matches(patterns: &[String], action: &str) -> bool {
    let action = action.to_ascii_lowercase();
    patterns.iter().any(|p| glob(p, &action))
}

fn resource_matches(patterns: &[String], resource: &str, version: Version, context: &Context) -> bool {
    patterns.iter().any(|p| {
        let pattern = match version {
            Version::V2012 => match substitute(p, context) {
                Some(p) => p,
                None => return false,
            },
            Version::V2008 => p.clone(),
        };
        arn_matches(&pattern, resource)
    })
}

/// Whether a statement applies to the request (its effect aside).
pub(crate) fn applies(statement: &Statement, version: Version, request: &Request<'_>) -> bool {
    let action = match &statement.actions {
        Actions::Only(p) => action_matches(p, request.action),
        Actions::AllBut(p) => !action_matches(p, request.action),
    };
    if !action {
        return false;
    }
    let resource = match &statement.resources {
        None => true,
        Some(Resources::Only(p)) => resource_matches(p, request.resource, version, request.context),
        Some(Resources::AllBut(p)) => !resource_matches(p, request.resource, version, request.context),
    };
    resource && statement.conditions.iter().all(|c| c.holds(request.context, version == Version::V2012))
}

/// The first statement of `effect` in `policy` that applies.
fn first_applying(policy: &PolicyRef<'_>, effect: Effect, request: &Request<'_>) -> Option<StatementId> {
    policy.policy.statements.iter().enumerate().find_map(|(index, s)| {
        (s.effect == effect && applies(s, policy.policy.version, request)).then(|| StatementId {
            policy: policy.name.to_string(),
            sid: s.sid.clone(),
            index,
        })
    })
}

/// Decides a request against a principal's policies.
pub fn evaluate(request: &Request<'_>, policies: &PolicySet<'_>) -> Decision {
    for policy in &policies.identity {
        if let Some(statement) = first_applying(policy, Effect::Deny, request) {
            return Decision::ExplicitDeny { source: Source::Identity, statement };
        }
    }
    if let Some(boundary) = &policies.boundary {
        if let Some(statement) = first_applying(boundary, Effect::Deny, request) {
            return Decision::ExplicitDeny { source: Source::Boundary, statement };
        }
    }
    let Some(allow) = policies.identity.iter().find_map(|p| first_applying(p, Effect::Allow, request)) else {
        return Decision::ImplicitDeny { missing: Source::Identity };
    };
    if let Some(boundary) = &policies.boundary {
        if first_applying(boundary, Effect::Allow, request).is_none() {
            return Decision::ImplicitDeny { missing: Source::Boundary };
        }
    }
    Decision::Allow { statement: allow }
}
