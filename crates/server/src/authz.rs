//! The authorize stage: the request context (action, resource, condition keys)
//! and the policy engine's decision, from memory only.

use serde_json::Value;

use rampart_core::{AccessTarget, Call, OperationMeta, Principal, Service, ServiceId};

use crate::audit::{AuthorizationNote, StatementNote};
use rampart_iam::Iam;
use rampart_policy::{evaluate, Caller, Context, Decision, PolicyRef, PolicySet, Request, Source};

/// The outcome of authorization, with what the audit record needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not subject to policies: the account root, or an action AWS never denies.
    Unrestricted,
    Decided(Decision),
}

impl Verdict {
    pub fn is_allowed(&self) -> bool {
        match self {
            Verdict::Unrestricted => true,
            Verdict::Decided(d) => d.is_allowed(),
        }
    }
}

/// Service condition keys taken from a request member, when the request has it.
const REQUEST_KEYS: &[(ServiceId, &str, &str)] = &[
    (ServiceId::Iam, "iam:PolicyARN", "PolicyArn"),
    (ServiceId::Iam, "iam:PermissionsBoundary", "PermissionsBoundary"),
    (ServiceId::Sts, "sts:ExternalId", "ExternalId"),
    (ServiceId::Sts, "sts:RoleSessionName", "RoleSessionName"),
    (ServiceId::Sts, "sts:SourceIdentity", "SourceIdentity"),
    (ServiceId::Sts, "sts:TransitiveTagKeys", "TransitiveTagKeys"),
];

/// The condition keys the policies in play refer to (lower-cased, from their
/// conditions and policy variables). Only these are computed for a request:
/// the context is most of authorization's cost, and a key no policy reads
/// cannot change a decision.
struct Wanted<'a> {
    keys: Vec<&'a str>,
}

impl Wanted<'_> {
    fn key(&self, key: &str) -> bool {
        self.keys.iter().any(|k| k.eq_ignore_ascii_case(key))
    }

    /// Whether any key of a family such as `aws:PrincipalTag/` is wanted.
    fn family(&self, prefix: &str) -> bool {
        self.keys.iter().any(|k| k.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix)))
    }
}

/// A context under construction: values are computed only for wanted keys.
struct ContextBuilder<'a> {
    context: Context,
    wanted: &'a Wanted<'a>,
}

impl ContextBuilder<'_> {
    fn set(&mut self, key: &str, value: impl FnOnce() -> String) {
        if self.wanted.key(key) {
            self.context.set(key, value());
        }
    }
}

/// Sets the service keys of a call: from the request's members, else from the
/// resource (`AccessTarget::condition_keys`). Only where AWS sets them: the
/// Service Authorization Reference lists, per action, the keys it carries
/// (iam:PolicyARN is set for AttachUserPolicy, not for GetPolicy).
fn service_keys(c: &mut ContextBuilder<'_>, call: &Call, target: &Target<'_>, resource: &AccessTarget) {
    let prefix = format!("{}:", call.service.action_prefix());
    if !c.wanted.family(&prefix) {
        return;
    }
    let catalog = rampart_policy::catalog();
    let Some((service, action)) = catalog.service(call.service.action_prefix()).zip(catalog.action(target.action))
    else {
        return;
    };
    let carried = |key: &str| c.wanted.key(key) && service.action_has_key(action, key);
    let mut found: Vec<(&str, Vec<String>)> = Vec::new();
    for (_, key, member) in REQUEST_KEYS.iter().filter(|(s, key, _)| *s == call.service && carried(key)) {
        match target.input.get(member) {
            Some(Value::String(v)) => found.push((key, vec![v.clone()])),
            Some(Value::Array(items)) => {
                found.push((key, items.iter().filter_map(Value::as_str).map(str::to_string).collect()))
            }
            _ => {}
        }
    }
    for (key, value) in &resource.condition_keys {
        if carried(key) && !found.iter().any(|(k, _)| k == key) {
            found.push((key, vec![value.clone()]));
        }
    }
    for (key, values) in found {
        c.context.set_all(key, values);
    }
}

/// The global condition keys of a call.
fn context(c: &mut ContextBuilder<'_>, call: &Call, iam: &Iam) {
    let seconds = call.time_ms.div_euclid(1000);
    c.set("aws:CurrentTime", || rampart_wire::format_iso8601(seconds as f64));
    c.set("aws:EpochTime", || seconds.to_string());
    c.set("aws:SourceIp", || call.source_ip.clone());
    c.set("aws:SecureTransport", || call.secure_transport.to_string());
    c.set("aws:RequestedRegion", || call.region.clone());
    c.set("aws:UserAgent", || call.user_agent.clone());
    c.set("aws:PrincipalAccount", || call.caller.account().to_string());
    c.set("aws:ViaAWSService", || "false".to_string());
    // A session is known by its role: aws:PrincipalArn is the role's ARN.
    c.set("aws:PrincipalArn", || call.caller.role_arn().unwrap_or_else(|| call.caller.arn()));
    c.set("aws:userid", || call.caller.principal_id().to_string());
    let principal_type = match &call.caller {
        Principal::Root { .. } => "Account",
        Principal::User { .. } => "User",
        Principal::AssumedRole { .. } => "AssumedRole",
    };
    c.set("aws:PrincipalType", || principal_type.to_string());
    if let Principal::User { name, .. } = &call.caller {
        c.set("aws:username", || name.clone());
    }
    if c.wanted.family("aws:PrincipalTag/") {
        for (key, value) in iam.principal_tags(&call.caller) {
            c.context.set(&format!("aws:PrincipalTag/{key}"), value);
        }
    }
    if let Some(session) = &call.session {
        c.set("aws:TokenIssueTime", || rampart_wire::format_iso8601((session.issued_ms / 1000) as f64));
        c.set("aws:MultiFactorAuthPresent", || "false".to_string());
        // Session tags win over the role's tags with the same key.
        if c.wanted.family("aws:PrincipalTag/") {
            for (key, value) in &session.tags {
                c.context.set(&format!("aws:PrincipalTag/{key}"), value.clone());
            }
        }
        if let Some(source_identity) = &session.source_identity {
            c.set("aws:SourceIdentity", || source_identity.clone());
        }
    }
}

/// The tag keys of a request: `aws:RequestTag/*` from a `Tags` list of
/// `{Key, Value}`, and `aws:TagKeys` from it or from a `TagKeys` list.
fn request_tags(c: &mut ContextBuilder<'_>, input: &Value) {
    if !c.wanted.family("aws:RequestTag/") && !c.wanted.key("aws:TagKeys") {
        return;
    }
    let mut keys = Vec::new();
    for tag in input.get("Tags").and_then(Value::as_array).into_iter().flatten() {
        if let (Some(k), Some(v)) = (tag.get("Key").and_then(Value::as_str), tag.get("Value").and_then(Value::as_str)) {
            c.context.set(&format!("aws:RequestTag/{k}"), v);
            keys.push(k.to_string());
        }
    }
    for key in input.get("TagKeys").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        keys.push(key.to_string());
    }
    if !keys.is_empty() {
        c.context.set_all("aws:TagKeys", keys);
    }
}

/// What authorization needs to know about the target of a call.
pub(crate) struct Target<'a> {
    pub action: &'a str,
    /// What the call acts on (`Service::resources`); every one must be allowed.
    pub resources: &'a [AccessTarget],
    pub input: &'a Value,
    /// The service and its entry for the operation, when it is served.
    pub service: Option<(&'a dyn Service, &'a OperationMeta)>,
}

/// A refusal or the last allow, with the action and resource it is about.
pub(crate) struct Authorization<'t> {
    pub verdict: Verdict,
    pub action: &'t str,
    pub resource: Option<&'t str>,
}

/// Whether the call's credentials come from GetSessionToken (without MFA)
/// and its operation does not take them (`OperationMeta::session_token_allowed`).
fn session_token_forbids(call: &Call, meta: Option<&OperationMeta>) -> bool {
    let from_session_token = call.session.is_some() && !matches!(call.caller, Principal::AssumedRole { .. });
    from_session_token && meta.is_some_and(|m| !m.session_token_allowed)
}

/// Decides whether `call` may run `target.action` on every resource of
/// `target.resources`, and the further actions the call needs; the first
/// refusal decides.
pub(crate) fn authorize<'t>(call: &Call, target: &Target<'t>, iam: &Iam) -> Authorization<'t> {
    let first = target.resources.first().and_then(|r| r.arn.as_deref());
    let unrestricted = Authorization { verdict: Verdict::Unrestricted, action: target.action, resource: first };
    let meta = target.service.map(|(_, meta)| meta);
    if meta.is_some_and(|m| m.never_denied) {
        return unrestricted;
    }
    if session_token_forbids(call, meta) {
        let verdict = Verdict::Decided(Decision::ImplicitDeny { missing: Source::Session });
        return Authorization { verdict, ..unrestricted };
    }
    let Some(policies) = iam.policies_of(&call.caller) else {
        return unrestricted;
    };
    let (resource_policy, additional) = match target.service {
        Some((service, _)) => {
            (service.resource_policy(call, target.input), service.additional_actions(call, target.input))
        }
        None => (None, Vec::new()),
    };
    let session = call.session.as_deref();
    let resource_keys = resource_policy.as_ref().map(|rp| rp.policy.context_keys()).unwrap_or_default();
    let wanted = Wanted {
        keys: policies
            .keys
            .iter()
            .chain(session.map(|s| s.keys.as_slice()).unwrap_or_default())
            .chain(&resource_keys)
            .map(String::as_str)
            .collect(),
    };
    let mut set = PolicySet {
        identity: policies.identity.iter().map(|(name, policy)| PolicyRef { name, policy }).collect(),
        boundary: policies.boundary.as_ref().map(|(name, policy)| PolicyRef { name, policy }),
        session: session
            .map(|s| s.policies.iter().map(|(name, policy)| PolicyRef { name, policy }).collect())
            .unwrap_or_default(),
        ..Default::default()
    };
    if let Some(rp) = &resource_policy {
        set.resource = vec![PolicyRef { name: &rp.name, policy: &rp.policy }];
        set.resource_required = rp.required;
    }
    let arn = call.caller.arn();
    let role_arn = call.caller.role_arn();
    let caller =
        Caller { arn: &arn, account: call.caller.account().as_str(), role_arn: role_arn.as_deref(), service: None };
    // An action without a resource is decided once, on `*`.
    const UNSCOPED: &[AccessTarget] = &[AccessTarget { arn: None, tags: Vec::new(), condition_keys: Vec::new() }];
    let resources = if target.resources.is_empty() { UNSCOPED } else { target.resources };
    let mut last = unrestricted;
    for resource in resources {
        let context = resource_context(&wanted, call, target, resource, iam);
        let arn = resource.arn.as_deref().unwrap_or("*");
        for action in std::iter::once(target.action).chain(additional.iter().copied()) {
            let request = Request {
                caller: Some(caller),
                resource_account: resource_policy.as_ref().map(|rp| rp.account.as_str()),
                ..Request::identity(action, arn, &context)
            };
            let verdict = Verdict::Decided(evaluate(&request, &set));
            let allowed = verdict.is_allowed();
            last = Authorization { verdict, action, resource: resource.arn.as_deref() };
            if !allowed {
                return last;
            }
        }
    }
    last
}

/// The request context of a call on one of its resources: only the keys the
/// policies in play refer to.
fn resource_context(
    wanted: &Wanted<'_>,
    call: &Call,
    target: &Target<'_>,
    resource: &AccessTarget,
    iam: &Iam,
) -> Context {
    let mut builder = ContextBuilder { context: Context::new(), wanted };
    context(&mut builder, call, iam);
    request_tags(&mut builder, target.input);
    service_keys(&mut builder, call, target, resource);
    let arn = resource.arn.as_deref().unwrap_or("*");
    // The account that owns the resource, from its ARN (`arn:aws:svc:region:ACCOUNT:…`).
    if let Some(owner) = arn.split(':').nth(4).filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit())) {
        builder.set("aws:ResourceAccount", || owner.to_string());
    }
    // IAM resources' tags are also `iam:ResourceTag/*`.
    let aws_tags = wanted.family("aws:ResourceTag/");
    let iam_tags = wanted.family("iam:ResourceTag/") && arn.starts_with("arn:aws:iam::");
    if aws_tags || iam_tags {
        for (key, value) in &resource.tags {
            if iam_tags {
                builder.context.set(&format!("iam:ResourceTag/{key}"), value.clone());
            }
            builder.context.set(&format!("aws:ResourceTag/{key}"), value.clone());
        }
    }
    builder.context
}

/// How AWS's denial messages name each kind of policy.
fn phrase(source: Source) -> (&'static str, &'static str) {
    match source {
        Source::Identity => ("an", "identity-based policy"),
        Source::Boundary => ("a", "permissions boundary"),
        Source::Session => ("a", "session policy"),
        Source::Resource => ("a", "resource-based policy"),
        Source::ServiceControl => ("a", "service control policy"),
        Source::ResourceControl => ("a", "resource control policy"),
    }
}

/// AWS's AccessDenied text. It names a managed policy's ARN for an explicit
/// deny, as AWS does, but never a statement.
pub(crate) fn denial_message(caller: &Principal, action: &str, resource: Option<&str>, verdict: &Verdict) -> String {
    let on = resource.map(|r| format!(" on resource: {r}")).unwrap_or_default();
    let head = format!("User: {} is not authorized to perform: {action}{on}", caller.arn());
    match verdict {
        Verdict::Decided(Decision::ExplicitDeny { source, statement }) => {
            let (article, kind) = phrase(*source);
            let arn =
                if statement.policy.starts_with("arn:") { format!(": {}", statement.policy) } else { String::new() };
            format!("{head} with an explicit deny in {article} {kind}{arn}")
        }
        Verdict::Decided(Decision::ImplicitDeny { missing }) => {
            format!("{head} because no {} allows the {action} action", phrase(*missing).1)
        }
        _ => format!("{head} because no identity-based policy allows the {action} action"),
    }
}

/// The decision as the audit record names it (never sent to the caller).
pub(crate) fn audit_note(verdict: &Verdict) -> Option<AuthorizationNote> {
    let Verdict::Decided(decision) = verdict else { return None };
    let statement = |s: &rampart_policy::StatementId| StatementNote {
        policy: s.policy.clone(),
        sid: s.sid.clone(),
        index: s.index,
    };
    let note = |decision, source, missing, statement| AuthorizationNote { decision, source, missing, statement };
    Some(match decision {
        Decision::Allow { statement: s } => note("Allow", None, None, Some(statement(s))),
        Decision::ExplicitDeny { source, statement: s } => {
            note("ExplicitDeny", Some(source_name(*source)), None, Some(statement(s)))
        }
        Decision::ImplicitDeny { missing } => note("ImplicitDeny", None, Some(source_name(*missing)), None),
    })
}

fn source_name(source: Source) -> &'static str {
    match source {
        Source::Identity => "Identity",
        Source::Boundary => "Boundary",
        Source::Session => "Session",
        Source::Resource => "Resource",
        Source::ServiceControl => "ServiceControl",
        Source::ResourceControl => "ResourceControl",
    }
}
