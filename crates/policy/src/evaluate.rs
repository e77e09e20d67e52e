//! IAM's evaluation logic: an explicit deny anywhere wins; otherwise an allow
//! is needed from identity-based policies and, when one is set, from the
//! permissions boundary.

use crate::condition::Context;
use crate::document::{Actions, Effect, Policy, Principals, Resources, Statement, Version};
use crate::glob::{arn_matches, matches as glob};
use crate::variables::substitute;

/// What is being asked: `action` as `service:Operation`, on `resource` (an ARN or `*`).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub context: &'a Context,
    /// Who asks, for resource-based policies' `Principal`; `None` when only
    /// identity-based policies are evaluated.
    pub caller: Option<Caller<'a>>,
    /// The account that owns the resource, when it has one: a different
    /// account than the caller's needs both sides to allow.
    pub resource_account: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// A request evaluated against identity-based policies only.
    pub fn identity(action: &'a str, resource: &'a str, context: &'a Context) -> Request<'a> {
        Request { action, resource, context, caller: None, resource_account: None }
    }
}

/// The principal of a request, as resource-based policies name it.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// A user's ARN, an assumed-role session's ARN, or `arn:aws:iam::ACCOUNT:root`.
    pub arn: &'a str,
    pub account: &'a str,
    /// For a role session: the role's ARN.
    pub role_arn: Option<&'a str>,
    /// For an AWS service principal: e.g. `cloudtrail.amazonaws.com`.
    pub service: Option<&'a str>,
    /// For a subject of an identity provider (web identity or SAML
    /// federation): the provider's ARN. Such a caller is named only by a
    /// `Federated` principal that names its provider — never by `AWS`
    /// entries, not even `*`: it holds no AWS credentials.
    pub federated: Option<&'a str>,
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
    /// Session policies of a role session (all must allow).
    pub session: Vec<PolicyRef<'a>>,
    /// Resource-based policies of the resource (a role's trust policy, a key policy…).
    pub resource: Vec<PolicyRef<'a>>,
    /// Whether the resource policy must allow even within one account (key
    /// policies and role trust policies work this way).
    pub resource_required: bool,
    /// Organizations service control policies, one list per level (root, OUs,
    /// account): each level must allow.
    pub scps: Vec<Vec<PolicyRef<'a>>>,
    /// Organizations resource control policies, per level, likewise.
    pub rcps: Vec<Vec<PolicyRef<'a>>>,
}

/// Which kind of policy decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Identity,
    Boundary,
    Session,
    Resource,
    ServiceControl,
    ResourceControl,
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

impl Policy {
    /// Whether an Allow statement of the policy names some action of
    /// `service` (IAM's ListPoliciesGrantingServiceAccess and access
    /// advisor): the service's actions from the catalog, or for a service the
    /// catalog lacks, any pattern on its prefix. Conditions and resources are
    /// not looked at, as AWS's "policies granting access" do not.
    pub fn grants_service(&self, service: &str) -> bool {
        let service = service.to_ascii_lowercase();
        let known: Vec<String> = crate::catalog()
            .service(&service)
            .map(|s| s.actions().iter().map(|a| format!("{service}:{}", a.name.to_ascii_lowercase())).collect())
            .unwrap_or_default();
        let fallback = [format!("{service}:*")];
        let actions: &[String] = if known.is_empty() { &fallback } else { &known };
        self.index.candidates(&service).into_iter().filter_map(|i| self.statements.get(i)).any(|statement| {
            statement.effect == Effect::Allow
                && actions.iter().any(|action| match &statement.actions {
                    Actions::Only(p) => action_matches(p, action),
                    Actions::AllBut(p) => !action_matches(p, action),
                })
        })
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

/// How a resource policy statement's `Principal` names the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Naming {
    No,
    /// Through the account (`arn:aws:iam::ACCOUNT:root` or the bare id) or
    /// the session's role: the caller's own identity policies must allow too.
    Delegated,
    /// By the caller's own ARN, `*`, or a service principal.
    Direct,
}

fn names_caller(kind: &str, value: &str, caller: &Caller<'_>) -> Naming {
    if let Some(provider) = caller.federated {
        return if kind == "Federated" && value == provider { Naming::Direct } else { Naming::No };
    }
    // A service principal is named by its `Service` entry, or by `AWS: *`;
    // no `AWS` ARN or account names it, whatever its `arn` holds.
    if let Some(service) = caller.service {
        return match kind {
            "Service" if value == service => Naming::Direct,
            "AWS" if value == "*" => Naming::Direct,
            _ => Naming::No,
        };
    }
    match kind {
        "AWS" if value == "*" => Naming::Direct,
        "AWS" if value == caller.arn => Naming::Direct,
        "AWS" if value == caller.account || value == format!("arn:aws:iam::{}:root", caller.account) => {
            Naming::Delegated
        }
        "AWS" if caller.role_arn == Some(value) => Naming::Delegated,
        "Service" => {
            if caller.service == Some(value) {
                Naming::Direct
            } else {
                Naming::No
            }
        }
        // Canonical-user principals name callers that Rampart never has;
        // `Federated` ones only name identity providers' subjects (above).
        _ => Naming::No,
    }
}

/// Whether a `NotPrincipal` list exempts the caller: only if it lists every
/// identity the caller has — the user or session, the session's role, and
/// the account. Listing a user without its account exempts nobody, as in AWS.
fn not_principal_exempts(list: &[(String, String)], caller: &Caller<'_>) -> bool {
    if let Some(service) = caller.service {
        return list.iter().any(|(k, v)| k == "Service" && v == service);
    }
    if let Some(provider) = caller.federated {
        return list.iter().any(|(k, v)| k == "Federated" && v == provider);
    }
    let root = format!("arn:aws:iam::{}:root", caller.account);
    let listed = |identity: &dyn Fn(&str) -> bool| list.iter().any(|(k, v)| k == "AWS" && (v == "*" || identity(v)));
    listed(&|v| v == caller.arn)
        && caller.role_arn.is_none_or(|role| listed(&|v| v == role))
        && listed(&|v| v == caller.account || v == root)
}

fn statement_names(statement: &Statement, caller: Option<&Caller<'_>>) -> Naming {
    match (&statement.principals, caller) {
        // Identity-based statements have no Principal: they are the caller's own.
        (None, _) => Naming::Direct,
        (Some(_), None) => Naming::No,
        (Some(Principals::Only(list)), Some(c)) => {
            list.iter().map(|(k, v)| names_caller(k, v, c)).max().unwrap_or(Naming::No)
        }
        (Some(Principals::AllBut(list)), Some(c)) => {
            if not_principal_exempts(list, c) {
                Naming::No
            } else {
                Naming::Direct
            }
        }
    }
}

/// One pass over a policy: the first applying Deny (which ends the scan) and
/// the first applying Allow, with how its Principal names the caller.
fn scan(
    policy: &PolicyRef<'_>,
    request: &Request<'_>,
    action_lower: &str,
) -> (Option<StatementId>, Option<(StatementId, Naming)>) {
    let mut allow: Option<(StatementId, Naming)> = None;
    let service = action_lower.split_once(':').map_or(action_lower, |(svc, _)| svc);
    for index in policy.policy.index.candidates(service) {
        let Some(s) = policy.policy.statements.get(index) else { continue };
        let better_allow_possible = allow.as_ref().is_none_or(|(_, n)| *n != Naming::Direct);
        if (s.effect == Effect::Allow && !better_allow_possible)
            || !applies(s, policy.policy.version, request, action_lower)
        {
            continue;
        }
        let naming = statement_names(s, request.caller.as_ref());
        if naming == Naming::No {
            continue;
        }
        let id = StatementId { policy: policy.name.to_string(), sid: s.sid.clone(), index };
        match s.effect {
            Effect::Deny => return (Some(id), allow),
            Effect::Allow if allow.as_ref().is_none_or(|(_, n)| naming > *n) => allow = Some((id, naming)),
            Effect::Allow => {}
        }
    }
    (None, allow)
}

/// Scans `policies`: an explicit deny, or the best allow.
fn scan_all(
    policies: &[PolicyRef<'_>],
    request: &Request<'_>,
    action_lower: &str,
) -> Result<Option<(StatementId, Naming)>, StatementId> {
    let mut best: Option<(StatementId, Naming)> = None;
    for policy in policies {
        let (deny, allow) = scan(policy, request, action_lower);
        if let Some(statement) = deny {
            return Err(statement);
        }
        if let Some((id, naming)) = allow {
            if best.as_ref().is_none_or(|(_, n)| naming > *n) {
                best = Some((id, naming));
            }
        }
    }
    Ok(best)
}

/// Decides a request, following AWS's policy evaluation logic: an explicit
/// deny in any policy wins; every level of SCPs and RCPs must allow; then an
/// allow is needed from identity-based policies or (within one account, when
/// it names the caller directly) from the resource's policy — from both across
/// accounts or when the resource policy is required — and, for identity-based
/// allows, from the permissions boundary and session policies too.
pub fn evaluate(request: &Request<'_>, policies: &PolicySet<'_>) -> Decision {
    let action_lower = request.action.to_ascii_lowercase();
    let deny = |source, statement| Decision::ExplicitDeny { source, statement };
    let levels_allow = |levels: &[Vec<PolicyRef<'_>>], source| -> Result<bool, Decision> {
        let mut all = true;
        for level in levels {
            match scan_all(level, request, &action_lower) {
                Err(statement) => return Err(deny(source, statement)),
                Ok(allow) => all &= allow.is_some(),
            }
        }
        Ok(all)
    };
    let scps_allow = match levels_allow(&policies.scps, Source::ServiceControl) {
        Ok(a) => a,
        Err(d) => return d,
    };
    let rcps_allow = match levels_allow(&policies.rcps, Source::ResourceControl) {
        Ok(a) => a,
        Err(d) => return d,
    };
    let resource = match scan_all(&policies.resource, request, &action_lower) {
        Ok(allow) => allow,
        Err(statement) => return deny(Source::Resource, statement),
    };
    let identity = match scan_all(&policies.identity, request, &action_lower) {
        Ok(allow) => allow.map(|(id, _)| id),
        Err(statement) => return deny(Source::Identity, statement),
    };
    let boundary = match &policies.boundary {
        None => None,
        Some(b) => match scan_all(std::slice::from_ref(b), request, &action_lower) {
            Ok(allow) => Some(allow.is_some()),
            Err(statement) => return deny(Source::Boundary, statement),
        },
    };
    let session = match scan_all(&policies.session, request, &action_lower) {
        Ok(allow) => allow.is_some() || policies.session.is_empty(),
        Err(statement) => return deny(Source::Session, statement),
    };
    if !scps_allow {
        return Decision::ImplicitDeny { missing: Source::ServiceControl };
    }
    if !rcps_allow {
        return Decision::ImplicitDeny { missing: Source::ResourceControl };
    }
    let same_account = match (request.resource_account, request.caller.as_ref()) {
        (Some(owner), Some(caller)) => owner == caller.account,
        _ => true,
    };
    // Within one account, a resource policy that names the caller itself is
    // enough on its own: boundaries and session policies do not limit it.
    if same_account && !policies.resource_required {
        if let Some((statement, Naming::Direct)) = &resource {
            return Decision::Allow { statement: statement.clone() };
        }
    }
    if (!same_account || policies.resource_required) && resource.is_none() {
        return Decision::ImplicitDeny { missing: Source::Resource };
    }
    let Some(statement) = identity else {
        return match resource {
            // A key policy naming the user itself needs no identity policy.
            Some((statement, Naming::Direct)) if same_account => Decision::Allow { statement },
            _ => Decision::ImplicitDeny { missing: Source::Identity },
        };
    };
    if boundary == Some(false) {
        return Decision::ImplicitDeny { missing: Source::Boundary };
    }
    if !session {
        return Decision::ImplicitDeny { missing: Source::Session };
    }
    Decision::Allow { statement }
}

/// Condition keys that statements matching the request's action and resource
/// read but the context lacks: the simulator's `MissingContextValues`.
pub fn missing_context_keys(request: &Request<'_>, policies: &PolicySet<'_>) -> Vec<String> {
    let action_lower = request.action.to_ascii_lowercase();
    let all = policies
        .identity
        .iter()
        .chain(policies.boundary.iter())
        .chain(policies.session.iter())
        .chain(policies.resource.iter())
        .chain(policies.scps.iter().flatten())
        .chain(policies.rcps.iter().flatten());
    let mut out: Vec<String> = Vec::new();
    for policy in all {
        for s in &policy.policy.statements {
            if !targets(s, policy.policy.version, request, &action_lower) {
                continue;
            }
            for c in s.conditions.iter().filter(|c| !c.key_present(request.context)) {
                if !out.iter().any(|k| k.eq_ignore_ascii_case(c.name())) {
                    out.push(c.name().to_string());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod grants_service_tests {
    use crate::{Policy, PolicyKind};

    #[test]
    fn grants_service_reads_allow_statements() {
        let parse = |text: &str| Policy::parse(text, PolicyKind::Identity).expect("a policy");
        let s3 = parse(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}}"#);
        assert!(s3.grants_service("s3") && !s3.grants_service("iam"));
        let all = parse(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#);
        assert!(all.grants_service("iam") && all.grants_service("kms"));
        let deny = parse(r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"iam:*","Resource":"*"}}"#);
        assert!(!deny.grants_service("iam"));
        let not =
            parse(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}"#);
        assert!(!not.grants_service("iam") && not.grants_service("ec2"));
    }
}
