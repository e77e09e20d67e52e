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

/// `action_lower` is the request's action, lower-cased once per evaluation.
fn action_matches(patterns: &[String], action_lower: &str) -> bool {
    patterns.iter().any(|p| glob(p, action_lower))
}

fn resource_matches(patterns: &[String], resource: &str, version: Version, context: &Context) -> bool {
    patterns.iter().any(|p| {
        if version == Version::V2012 && p.contains("${") {
            substitute(p, context).is_some_and(|p| arn_matches(&p, resource))
        } else {
            arn_matches(p, resource)
        }
    })
}

/// Whether a statement's action and resource elements cover the request.
fn targets(statement: &Statement, version: Version, request: &Request<'_>, action_lower: &str) -> bool {
    let action = match &statement.actions {
        Actions::Only(p) => action_matches(p, action_lower),
        Actions::AllBut(p) => !action_matches(p, action_lower),
    };
    action
        && match &statement.resources {
            None => true,
            Some(Resources::Only(p)) => resource_matches(p, request.resource, version, request.context),
            Some(Resources::AllBut(p)) => !resource_matches(p, request.resource, version, request.context),
        }
}

/// Whether a statement applies to the request (its effect aside).
pub(crate) fn applies(statement: &Statement, version: Version, request: &Request<'_>, action_lower: &str) -> bool {
    targets(statement, version, request, action_lower)
        && statement.conditions.iter().all(|c| c.holds(request.context, version == Version::V2012))
}

/// One pass over a policy: the first applying Deny (which ends the scan) and
/// the first applying Allow.
fn scan(
    policy: &PolicyRef<'_>,
    request: &Request<'_>,
    action_lower: &str,
) -> (Option<StatementId>, Option<StatementId>) {
    let mut allow = None;
    for (index, s) in policy.policy.statements.iter().enumerate() {
        if (s.effect == Effect::Allow && allow.is_some()) || !applies(s, policy.policy.version, request, action_lower) {
            continue;
        }
        let id = StatementId { policy: policy.name.to_string(), sid: s.sid.clone(), index };
        match s.effect {
            Effect::Deny => return (Some(id), allow),
            Effect::Allow => allow = Some(id),
        }
    }
    (None, allow)
}

/// Condition keys that statements matching the request's action and resource
/// read but the context lacks: the simulator's `MissingContextValues`.
pub fn missing_context_keys(request: &Request<'_>, policies: &PolicySet<'_>) -> Vec<String> {
    let action_lower = request.action.to_ascii_lowercase();
    let mut out: Vec<String> = Vec::new();
    for policy in policies.identity.iter().chain(policies.boundary.iter()) {
        for s in &policy.policy.statements {
            if !targets(s, policy.policy.version, request, &action_lower) {
                continue;
            }
            for c in s.conditions.iter().filter(|c| !c.key_present(request.context)) {
                for key in c.keys().take(1) {
                    if !out.iter().any(|k| k.eq_ignore_ascii_case(&key)) {
                        out.push(key);
                    }
                }
            }
        }
    }
    out
}

/// Decides a request against a principal's policies.
pub fn evaluate(request: &Request<'_>, policies: &PolicySet<'_>) -> Decision {
    let action_lower = request.action.to_ascii_lowercase();
    let mut allow = None;
    for policy in &policies.identity {
        let (deny, allowed) = scan(policy, request, &action_lower);
        if let Some(statement) = deny {
            return Decision::ExplicitDeny { source: Source::Identity, statement };
        }
        allow = allow.or(allowed);
    }
    let boundary_allows = match &policies.boundary {
        None => true,
        Some(boundary) => match scan(boundary, request, &action_lower) {
            (Some(statement), _) => return Decision::ExplicitDeny { source: Source::Boundary, statement },
            (None, allowed) => allowed.is_some(),
        },
    };
    match allow {
        None => Decision::ImplicitDeny { missing: Source::Identity },
        Some(_) if !boundary_allows => Decision::ImplicitDeny { missing: Source::Boundary },
        Some(statement) => Decision::Allow { statement },
    }
}
