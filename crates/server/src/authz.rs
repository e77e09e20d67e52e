//! The authorize stage: the request context (action, resource, condition keys)
//! and the policy engine's decision, from memory only.

use serde_json::Value;

use rampart_core::{Access, Call, Check, OperationMeta, OutputMembers, Principal};

use crate::audit::{AuthorizationNote, StatementNote};
use rampart_iam::Iam;
use rampart_policy::{evaluate, Caller, Context, Decision, Policy, PolicyKind, PolicyRef, PolicySet, Request, Source};

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

/// Sets the service keys of a check: from the request (`Access::request_keys`),
/// else from the resource (`AccessTarget::condition_keys`). Only where AWS
/// sets them: the Service Authorization Reference lists, per action, the keys
/// it carries (iam:PolicyARN is set for AttachUserPolicy, not for GetPolicy;
/// a family such as `kms:EncryptionContext:${Key}` by its prefix).
fn service_keys(c: &mut ContextBuilder<'_>, call: &Call, access: &Access, check: &Check) {
    let prefix = format!("{}:", call.service.action_prefix());
    if !c.wanted.family(&prefix) {
        return;
    }
    let catalog = rampart_policy::catalog();
    let Some((service, action)) = catalog.service(call.service.action_prefix()).zip(catalog.action(&check.action))
    else {
        return;
    };
    let carried = |key: &str| c.wanted.key(key) && service.action_has_key(action, key);
    let mut found: Vec<(&str, Vec<String>)> = Vec::new();
    for (key, values) in check.request_keys.iter().filter(|(key, _)| carried(key)) {
        found.push((key, values.clone()));
    }
    for (key, values) in access.request_keys.iter().filter(|(key, _)| carried(key)) {
        if !found.iter().any(|(k, _)| *k == key.as_str()) {
            found.push((key, values.clone()));
        }
    }
    // A resource key named more than once has several values (KMS's
    // `kms:ResourceAliases`); one the request carries is the request's.
    let requested = found.len();
    for (key, value) in &check.target.condition_keys {
        if !carried(key) || found.iter().take(requested).any(|(k, _)| k == key) {
            continue;
        }
        match found.iter_mut().find(|(k, _)| k == key) {
            Some((_, values)) => values.push(value.clone()),
            None => found.push((key, vec![value.clone()])),
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
        Principal::FederatedUser { .. } => "FederatedUser",
        // As CloudTrail names them.
        Principal::Federated(_) => call.caller.identity_type(),
    };
    c.set("aws:PrincipalType", || principal_type.to_string());
    if let Principal::User { name, .. } = &call.caller {
        c.set("aws:username", || name.clone());
    }
    // What the identity provider's token says: `ISSUER:sub`, `saml:aud`, …
    if let Principal::Federated(identity) = &call.caller {
        c.set("aws:FederatedProvider", || identity.provider_arn.clone());
        for (key, values) in &identity.condition_keys {
            if c.wanted.key(key) {
                c.context.set_all(key, values.clone());
            }
        }
    }
    if c.wanted.family("aws:PrincipalTag/") {
        for (key, value) in iam.principal_tags(&call.caller) {
            c.context.set(&format!("aws:PrincipalTag/{key}"), value);
        }
    }
    if let Some(session) = &call.session {
        c.set("aws:TokenIssueTime", || rampart_wire::format_iso8601((session.issued_ms / 1000) as f64));
        // Session tags win over the role's tags with the same key.
        if c.wanted.family("aws:PrincipalTag/") {
            for (key, value) in &session.tags {
                c.context.set(&format!("aws:PrincipalTag/{key}"), value.clone());
            }
        }
        if let Some(source_identity) = &session.source_identity {
            c.set("aws:SourceIdentity", || source_identity.clone());
        }
        if let Some(provider) = &session.federated_provider {
            c.set("aws:FederatedProvider", || provider.clone());
        }
    }
}

/// `aws:MultiFactorAuthPresent` and `aws:MultiFactorAuthAge`: present for
/// temporary credentials (true when an MFA code was verified for them) and
/// for a request that carries a code its handler verifies; absent for
/// long-term keys, as AWS leaves them (hence `BoolIfExists`).
fn mfa_context(c: &mut ContextBuilder<'_>, call: &Call, access: &Access) {
    let verified = if access.mfa_in_request {
        Some(call.time_ms)
    } else {
        call.session.as_ref().and_then(|s| s.mfa_authenticated_ms)
    };
    match verified {
        Some(at_ms) => {
            c.set("aws:MultiFactorAuthPresent", || "true".to_string());
            c.set("aws:MultiFactorAuthAge", || ((call.time_ms - at_ms).max(0) / 1000).to_string());
        }
        None if call.session.is_some() => c.set("aws:MultiFactorAuthPresent", || "false".to_string()),
        None => {}
    }
}

/// The tags of a request (`aws:RequestTag/*`, `aws:TagKeys`), from every
/// shape the models use (`rampart_core::request_tags`), and for an identity
/// provider's subject the session tags its token passes.
fn request_tags(c: &mut ContextBuilder<'_>, call: &Call, input: &Value) {
    if !c.wanted.family("aws:RequestTag/") && !c.wanted.key("aws:TagKeys") {
        return;
    }
    let (mut tags, mut keys) = rampart_core::request_tags(input);
    if let Principal::Federated(identity) = &call.caller {
        tags.extend(identity.session_tags.iter().cloned());
        keys.extend(identity.session_tags.iter().map(|(key, _)| key.clone()));
    }
    for (key, value) in tags {
        c.context.set(&format!("aws:RequestTag/{key}"), value);
    }
    if !keys.is_empty() {
        c.context.set_all("aws:TagKeys", keys);
    }
}

/// What authorization needs to know about a call besides its caller.
pub(crate) struct Target<'a> {
    /// Every check the call needs (`Service::access`); every one must be allowed.
    pub access: &'a Access,
    pub input: &'a Value,
    /// The operation's registry entry, when the service serves it.
    pub meta: Option<&'a OperationMeta>,
}

/// A refusal or the last allow, with the action and resource it is about.
pub(crate) struct Authorization<'t> {
    pub verdict: Verdict,
    pub action: &'t str,
    pub resource: Option<&'t str>,
    /// The condition keys the deciding check was evaluated with (those the
    /// policies in play refer to).
    pub context: Context,
}

/// Whether the call's credentials come from GetSessionToken (without MFA)
/// and its operation does not take them (`OperationMeta::session_token_allowed`),
/// or from GetFederationToken, which AWS allows no IAM operation and no STS
/// operation but GetCallerIdentity.
fn session_token_forbids(call: &Call, meta: Option<&OperationMeta>) -> bool {
    if matches!(call.caller, Principal::FederatedUser { .. }) {
        let identity_call = rampart_core::is_call_of(call, rampart_wire::StsOperation::GetCallerIdentity);
        return call.service == rampart_core::ServiceId::Iam
            || (call.service == rampart_core::ServiceId::Sts && !identity_call);
    }
    let without_mfa = call.session.as_ref().is_some_and(|s| s.mfa_authenticated_ms.is_none());
    let from_session_token = without_mfa && !matches!(call.caller, Principal::AssumedRole { .. });
    from_session_token && meta.is_some_and(|m| !m.session_token_allowed)
}

/// The identity policy that stands for the account root, whom identity
/// policies do not restrict, when a resource policy binds it too.
fn root_identity() -> Option<&'static Policy> {
    static ROOT: std::sync::LazyLock<Option<Policy>> = std::sync::LazyLock::new(|| {
        let allow_all =
            r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}"#;
        Policy::parse(allow_all, PolicyKind::Identity).ok()
    });
    ROOT.as_ref()
}

/// Decides whether `call` may make every check of `target.access`; the first
/// refusal decides. The account root is unrestricted by identity policies,
/// but held to a resource policy that binds it (a KMS key policy).
pub(crate) fn authorize<'t>(call: &Call, target: &Target<'t>, iam: &Iam) -> Authorization<'t> {
    let checks = &target.access.checks;
    let first = checks.first();
    let unrestricted = Authorization {
        verdict: Verdict::Unrestricted,
        action: first.map_or("", |c| c.action.as_str()),
        resource: first.and_then(|c| c.target.arn.as_deref()),
        context: Context::new(),
    };
    if target.meta.is_some_and(|m| m.never_denied) {
        return unrestricted;
    }
    if session_token_forbids(call, target.meta) {
        let verdict = Verdict::Decided(Decision::ImplicitDeny { missing: Source::Session });
        return Authorization { verdict, ..unrestricted };
    }
    let policies = iam.policies_of(&call.caller);
    let root = policies.is_none();
    if root && !checks.iter().any(|c| c.resource_policy.as_ref().is_some_and(|rp| rp.binds_root)) {
        return unrestricted;
    }
    let policies = policies.unwrap_or_default();
    let session = call.session.as_deref();
    let resource_keys: Vec<String> =
        checks.iter().filter_map(|c| c.resource_policy.as_ref()).flat_map(|rp| rp.policy.context_keys()).collect();
    let wanted = Wanted {
        keys: policies
            .keys
            .iter()
            .chain(session.map(|s| s.keys.as_slice()).unwrap_or_default())
            .chain(&resource_keys)
            .map(String::as_str)
            .collect(),
    };
    let root_policy = if root { root_identity() } else { None };
    let identity: Vec<PolicyRef<'_>> = match root_policy {
        Some(policy) => vec![PolicyRef { name: "root", policy }],
        None => policies.identity.iter().map(|(name, policy)| PolicyRef { name, policy }).collect(),
    };
    let arn = call.caller.arn();
    let role_arn = call.caller.role_arn();
    let federated = match &call.caller {
        Principal::Federated(identity) => Some(identity.provider_arn.as_str()),
        _ => None,
    };
    let caller = Caller {
        arn: &arn,
        account: call.caller.account().as_str(),
        role_arn: role_arn.as_deref(),
        service: None,
        federated,
    };
    let mut last = unrestricted;
    for check in checks {
        // The root's checks on resources whose policy does not bind it are not decided.
        if root && !check.resource_policy.as_ref().is_some_and(|rp| rp.binds_root) {
            continue;
        }
        let mut set = PolicySet {
            identity: identity.clone(),
            boundary: policies.boundary.as_ref().map(|(name, policy)| PolicyRef { name, policy }),
            session: session
                .map(|s| s.policies.iter().map(|(name, policy)| PolicyRef { name, policy }).collect())
                .unwrap_or_default(),
            ..Default::default()
        };
        if let Some(rp) = &check.resource_policy {
            set.resource = vec![PolicyRef { name: &rp.name, policy: &rp.policy }];
            set.resource_required = rp.required;
        }
        let context = resource_context(&wanted, call, target, check, iam);
        let request = Request {
            caller: Some(caller),
            resource_account: check.resource_policy.as_ref().map(|rp| rp.account.as_str()),
            ..Request::identity(&check.action, check.target.arn.as_deref().unwrap_or("*"), &context)
        };
        let mut decision = evaluate(&request, &set);
        // A grant allows what no policy does; an explicit deny still wins.
        if let (Decision::ImplicitDeny { .. }, Some(grant)) = (&decision, &check.grant) {
            let statement = rampart_policy::StatementId { policy: format!("grant/{grant}"), sid: None, index: 0 };
            decision = Decision::Allow { statement };
        }
        let verdict = Verdict::Decided(decision);
        let allowed = verdict.is_allowed();
        last = Authorization { verdict, action: &check.action, resource: check.target.arn.as_deref(), context };
        if !allowed {
            return last;
        }
    }
    last
}

/// The request context of a call on one of its resources: only the keys the
/// policies in play refer to.
fn resource_context(wanted: &Wanted<'_>, call: &Call, target: &Target<'_>, check: &Check, iam: &Iam) -> Context {
    let resource = &check.target;
    let mut builder = ContextBuilder { context: Context::new(), wanted };
    context(&mut builder, call, iam);
    mfa_context(&mut builder, call, target.access);
    request_tags(&mut builder, call, target.input);
    service_keys(&mut builder, call, target.access, check);
    let arn = resource.arn.as_deref().unwrap_or("*");
    // The account that owns the resource, from its ARN.
    if let Some(owner) = rampart_core::Arn::parse(arn).and_then(|a| a.account_id()) {
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
    // An identity provider's subject is told no more than AWS tells it.
    if let Principal::Federated(_) = caller {
        return format!("Not authorized to perform {action}");
    }
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

/// AWS's decoded authorization message of a denial (what
/// DecodeAuthorizationMessage returns): the decision, the deciding
/// statement of an explicit deny, and the request's context.
pub(crate) fn decoded_denial(call: &Call, decided: &Authorization<'_>) -> Value {
    let explicit = match &decided.verdict {
        Verdict::Decided(Decision::ExplicitDeny { statement, .. }) => Some(statement),
        _ => None,
    };
    let matched: Vec<Value> = explicit
        .map(|s| {
            serde_json::json!({
                "statementId": s.sid.clone().unwrap_or_default(),
                "effect": "DENY",
                "policy": s.policy,
                "index": s.index,
            })
        })
        .into_iter()
        .collect();
    let conditions: Vec<Value> = decided
        .context
        .entries()
        .into_iter()
        .map(|(key, values)| {
            let values: Vec<Value> = values.iter().map(|v| serde_json::json!({ "value": v })).collect();
            serde_json::json!({ "key": key, "values": { "items": values } })
        })
        .collect();
    let mut principal = serde_json::json!({ "id": call.caller.principal_id(), "arn": call.caller.arn() });
    if let Principal::User { name, .. } = &call.caller {
        principal.set("name", Value::String(name.clone()));
    }
    serde_json::json!({
        "allowed": false,
        "explicitDeny": explicit.is_some(),
        "matchedStatements": { "items": matched },
        "failures": { "items": [] },
        "context": {
            "principal": principal,
            "action": decided.action,
            "resource": decided.resource.unwrap_or("*"),
            "conditions": { "items": conditions },
        },
    })
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rampart_core::{AccessTarget, AccountId, Credentials, FileKeys, ResourcePolicy, Sealer, ServiceId};
    use serde_json::json;
    use std::sync::Arc;

    const ACCOUNT: &str = "111122223333";
    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn iam(dir: &std::path::Path) -> Iam {
        let store = rampart_store::SqliteBackend::open(dir).unwrap();
        let sealer = Sealer::new(Arc::new(FileKeys::from_bytes(&[1u8; 32]).unwrap()));
        Iam::new(store, sealer, Arc::new(Credentials::default()))
    }

    fn call(caller: Principal) -> Call {
        Call {
            request_id: "r".into(),
            service: ServiceId::Kms,
            operation: "Decrypt",
            caller,
            access_key_id: "AKIA".into(),
            session: None,
            region: "us-east-1".into(),
            source_ip: "127.0.0.1".into(),
            user_agent: "test".into(),
            secure_transport: false,
            time_ms: 0,
        }
    }

    fn key_policy(statement: Value, binds_root: bool) -> ResourcePolicy {
        let document = json!({"Version": "2012-10-17", "Statement": [statement]}).to_string();
        ResourcePolicy {
            name: "key-policy".into(),
            policy: std::sync::Arc::new(Policy::parse(&document, PolicyKind::Resource).unwrap()),
            account: AccountId::parse(ACCOUNT).unwrap(),
            required: true,
            binds_root,
        }
    }

    fn decrypt(policy: Option<ResourcePolicy>, grant: Option<&str>) -> Access {
        let target = AccessTarget { arn: Some(KEY.into()), ..AccessTarget::default() };
        let check = Check {
            action: "kms:Decrypt".into(),
            target,
            resource_policy: policy,
            grant: grant.map(Into::into),
            request_keys: Vec::new(),
        };
        Access { checks: vec![check], request_keys: Vec::new(), mfa_in_request: false }
    }

    fn verdict(iam: &Iam, caller: Principal, access: &Access) -> Verdict {
        let input = json!({});
        authorize(&call(caller), &Target { access, input: &input, meta: None }, iam).verdict
    }

    fn root() -> Principal {
        Principal::Root { account: AccountId::parse(ACCOUNT).unwrap() }
    }

    fn user() -> Principal {
        let account = AccountId::parse(ACCOUNT).unwrap();
        Principal::User { account, user_id: "AIDAUSER".into(), name: "u".into(), path: "/".into() }
    }

    #[test]
    fn the_root_is_held_to_a_key_policy_that_binds_it() {
        let dir = tempfile::tempdir().unwrap();
        let iam = iam(dir.path());
        let others = json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
                            "Action": "kms:*", "Resource": "*"});
        let denied = verdict(&iam, root(), &decrypt(Some(key_policy(others.clone(), true)), None));
        assert_eq!(denied, Verdict::Decided(Decision::ImplicitDeny { missing: Source::Resource }));
        let own = json!({"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
                         "Action": "kms:*", "Resource": "*"});
        assert!(verdict(&iam, root(), &decrypt(Some(key_policy(own, true)), None)).is_allowed());
        // A resource policy that does not bind the root (a trust policy) leaves it unrestricted.
        assert_eq!(verdict(&iam, root(), &decrypt(Some(key_policy(others, false)), None)), Verdict::Unrestricted);
        assert_eq!(verdict(&iam, root(), &decrypt(None, None)), Verdict::Unrestricted);
    }

    #[test]
    fn a_grant_allows_what_no_policy_does_but_not_past_an_explicit_deny() {
        let dir = tempfile::tempdir().unwrap();
        let iam = iam(dir.path());
        let nobody = json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
                            "Action": "kms:*", "Resource": "*"});
        assert!(!verdict(&iam, user(), &decrypt(Some(key_policy(nobody.clone(), true)), None)).is_allowed());
        let granted = verdict(&iam, user(), &decrypt(Some(key_policy(nobody, true)), Some("g1")));
        let Verdict::Decided(Decision::Allow { statement }) = granted else { panic!("{granted:?}") };
        assert_eq!(statement.policy, "grant/g1");
        let deny = json!({"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"});
        let denied = verdict(&iam, user(), &decrypt(Some(key_policy(deny, true)), Some("g1")));
        assert!(matches!(denied, Verdict::Decided(Decision::ExplicitDeny { .. })), "{denied:?}");
    }
}
