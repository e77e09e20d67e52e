//! What authorization checks an IAM call against: the resources it acts on,
//! resolved against the stored entities.
//!
//! IAM finds names ignoring case (`VICTIM` is the user `victim`), so a
//! resource is named by the stored entity's ARN — its stored name and path —
//! never by the name as the request spells it: a Deny on `user/victim` must
//! hold however the caller spells the name. A call that moves or renames an
//! entity needs permission on where it lands as well as where it is.

use serde_json::Value;

use rampart_core::{Access, AccessTarget, Call, RequestKey};

use crate::state::{Tag, User};
use crate::Iam;

/// IAM's condition keys that a request carries (the catalog says for which
/// actions: `iam:PolicyARN` for AttachUserPolicy, not for GetPolicy).
pub(crate) const REQUEST_KEYS: &[RequestKey] = &[
    RequestKey::Member { key: "iam:PolicyARN", member: "PolicyArn" },
    RequestKey::Member { key: "iam:PermissionsBoundary", member: "PermissionsBoundary" },
    RequestKey::Member { key: "iam:AWSServiceName", member: "AWSServiceName" },
];

/// How an operation names the resource it acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    /// The existing user `UserName` (the calling identity when absent).
    User,
    /// The existing group `GroupName`.
    Group,
    /// The existing role `RoleName`.
    Role,
    /// The managed policy `PolicyArn`.
    Policy,
    /// The existing instance profile `InstanceProfileName`.
    InstanceProfile,
    /// AddRoleToInstanceProfile: the instance profile, and `iam:PassRole`
    /// on the role `RoleName` (AWS requires both).
    InstanceProfilePassingRole,
    NewInstanceProfile,
    /// A user, group, role or policy to create, from `Path` and its name.
    NewUser,
    NewGroup,
    NewRole,
    NewPolicy,
    /// `UpdateUser` / `UpdateGroup`: the entity and where `NewPath` and the
    /// new name put it.
    MovedUser,
    MovedGroup,
    /// ChangePassword: the calling user, which the account's password
    /// policy allows when it sets AllowUsersToChangePassword.
    OwnPassword,
    /// An MFA device to create, from `Path` and `VirtualMFADeviceName`.
    NewMfaDevice,
    /// The MFA device `SerialNumber` (a virtual device's serial is its ARN).
    MfaDevice,
    /// An OIDC provider to create, from `Url`; an existing one by
    /// `OpenIDConnectProviderArn`.
    NewOidcProvider,
    OidcProvider,
    /// A SAML provider to create, from `Name`; an existing one by `SAMLProviderArn`.
    NewSamlProvider,
    SamlProvider,
    /// A server certificate to upload (`Path`, `ServerCertificateName`); an existing one by name.
    NewServerCertificate,
    ServerCertificate,
    /// UpdateServerCertificate: the certificate, and where `NewPath` and
    /// `NewServerCertificateName` put it.
    MovedServerCertificate,
    /// The user, group or role the member `Arn` names.
    ArnMember,
    /// The service-linked role `AWSServiceName` (and `CustomSuffix`) would create.
    NewServiceLinkedRole,
    /// The user that owns `AccessKeyId`.
    KeyOwner,
    /// The user, group or role `PolicySourceArn` names.
    PolicySource,
    /// A delegation request: by `DelegationRequestId`, or the `EntityArn`
    /// that names one; one to create is `delegation-request/*`.
    DelegationRequest,
    /// Lists: the kind's ARN prefix, e.g. `user/`.
    List(&'static str),
    /// No resource (`*`).
    Unscoped,
}

fn tag_pairs(tags: &[Tag]) -> Vec<(String, String)> {
    tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect()
}

fn boundary_key(boundary: Option<&String>) -> Vec<(&'static str, String)> {
    boundary.map(|b| vec![("iam:PermissionsBoundary", b.clone())]).unwrap_or_default()
}

fn target(arn: String) -> AccessTarget {
    AccessTarget { arn: Some(arn), ..AccessTarget::default() }
}

impl Iam {
    /// What authorization checks `call` against: its action on the resources
    /// it acts on (`access_targets`), and for AddRoleToInstanceProfile
    /// `iam:PassRole` on the role as well.
    pub(crate) fn access(&self, call: &Call, input: &Value) -> Access {
        let rule = crate::registry::registry().get(call.operation).map(|op| op.access);
        let targets = self.access_targets(call, input, rule);
        let mut access = Access::own(call, targets).with_request_keys(input, REQUEST_KEYS);
        if rule == Some(Rule::InstanceProfilePassingRole) {
            if let Some(check) = access.checks.get_mut(1) {
                check.action = "iam:PassRole".to_string();
            }
        }
        if rule == Some(Rule::OwnPassword) && self.users_may_change_passwords(call.caller.account()) {
            for check in &mut access.checks {
                check.grant = Some("AllowUsersToChangePassword".to_string());
            }
        }
        access
    }

    /// Whether the account's password policy lets every user change their own password.
    fn users_may_change_passwords(&self, account: &rampart_core::AccountId) -> bool {
        let state = self.state.read();
        let policy = state.accounts.get(account).and_then(|a| a.settings.password_policy.as_ref());
        policy.is_some_and(|p| p.allow_users_to_change)
    }

    /// The resources `call` acts on by its operation's `rule`, each named as stored.
    fn access_targets(&self, call: &Call, input: &Value, rule: Option<Rule>) -> Vec<AccessTarget> {
        let account = call.caller.account();
        let text = |member: &str| input.get(member).and_then(Value::as_str);
        let state = self.state.read();
        let Some(a) = state.accounts.get(account) else {
            // Only a deleted account's leftover credentials get here: nothing to name.
            return vec![target(format!("arn:aws:iam::{account}:*"))];
        };
        let arn = |kind: &str, path: &str, name: &str| rampart_core::iam_arn(account, kind, path, name);
        let new_path = || text("Path").unwrap_or("/");
        // A stored user or role: its ARN, tags and current boundary.
        let stored = |kind: &str, path: &str, name: &str, tags: &[Tag], boundary: Option<&String>| AccessTarget {
            arn: Some(arn(kind, path, name)),
            tags: tag_pairs(tags),
            condition_keys: boundary_key(boundary),
        };
        let user_target = |u: &User| stored("user", &u.path, &u.name, &u.tags, u.permissions_boundary.as_ref());
        // An entity that does not exist is named as typed, at `/`; the handler
        // then answers NoSuchEntity.
        let user = |name: Option<&str>| match name {
            None => target(call.caller.arn()),
            Some(name) => a.user(name).map_or_else(|| target(arn("user", "/", name)), user_target),
        };
        let group = |name: &str| match a.group(name) {
            Some(g) => target(arn("group", &g.path, &g.name)),
            None => target(arn("group", "/", name)),
        };
        let instance_profile = |name: &str| match a.instance_profile(name) {
            Some(p) => AccessTarget {
                arn: Some(arn("instance-profile", &p.path, &p.name)),
                tags: tag_pairs(&p.tags),
                condition_keys: Vec::new(),
            },
            None => target(arn("instance-profile", "/", name)),
        };
        let role = |name: &str| match a.role(name) {
            Some(r) => stored("role", &r.path, &r.name, &r.tags, r.permissions_boundary.as_ref()),
            None => target(arn("role", "/", name)),
        };
        // A server certificate as stored (found ignoring case).
        let server_certificate = || {
            let name = text("ServerCertificateName").unwrap_or_default();
            match a.server_certificates.get(&name.to_lowercase()) {
                Some(c) => AccessTarget {
                    arn: Some(arn("server-certificate", &c.path, &c.name)),
                    tags: tag_pairs(&c.tags),
                    condition_keys: Vec::new(),
                },
                None => target(arn("server-certificate", "/", name)),
            }
        };
        // A move or rename: the entity where it is, and where `NewPath` and
        // the new name put it (the same tags and keys: the same entity).
        let moved = |source: AccessTarget, kind: &str, current: Option<(&str, &str)>, new_name: &str| {
            let destination = current.map(|(path, name)| AccessTarget {
                arn: Some(arn(kind, text("NewPath").unwrap_or(path), text(new_name).unwrap_or(name))),
                ..source.clone()
            });
            let destination = destination.filter(|d| d.arn != source.arn);
            std::iter::once(source).chain(destination).collect()
        };
        let Some(rule) = rule else {
            return vec![target(format!("arn:aws:iam::{account}:*"))];
        };
        match rule {
            Rule::User => vec![user(text("UserName"))],
            Rule::Group => vec![group(text("GroupName").unwrap_or_default())],
            Rule::Role => vec![role(text("RoleName").unwrap_or_default())],
            Rule::Policy => {
                let policy_arn = text("PolicyArn").unwrap_or_default();
                let tags = a.managed.get(policy_arn).map(|p| tag_pairs(&p.tags)).unwrap_or_default();
                vec![AccessTarget { arn: Some(policy_arn.to_string()), tags, condition_keys: Vec::new() }]
            }
            Rule::InstanceProfile => vec![instance_profile(text("InstanceProfileName").unwrap_or_default())],
            Rule::InstanceProfilePassingRole => vec![
                instance_profile(text("InstanceProfileName").unwrap_or_default()),
                role(text("RoleName").unwrap_or_default()),
            ],
            Rule::NewInstanceProfile => {
                let name = text("InstanceProfileName").unwrap_or_default();
                vec![target(arn("instance-profile", new_path(), name))]
            }
            Rule::NewUser => vec![target(arn("user", new_path(), text("UserName").unwrap_or_default()))],
            Rule::NewGroup => vec![target(arn("group", new_path(), text("GroupName").unwrap_or_default()))],
            Rule::NewRole => vec![target(arn("role", new_path(), text("RoleName").unwrap_or_default()))],
            Rule::NewPolicy => vec![target(arn("policy", new_path(), text("PolicyName").unwrap_or_default()))],
            Rule::MovedUser => {
                let current = text("UserName").and_then(|n| a.user(n));
                let place = current.map(|u| (u.path.as_str(), u.name.as_str()));
                moved(user(text("UserName")), "user", place, "NewUserName")
            }
            Rule::MovedGroup => {
                let name = text("GroupName").unwrap_or_default();
                let place = a.group(name).map(|g| (g.path.as_str(), g.name.as_str()));
                moved(group(name), "group", place, "NewGroupName")
            }
            Rule::KeyOwner => {
                let key = text("AccessKeyId").and_then(|id| a.keys.get(id));
                let owner = match key.map(|k| k.user_id.as_deref()) {
                    Some(Some(user_id)) => a.user_by_id(user_id).map(user_target),
                    // The account root's own key.
                    Some(None) => Some(target(format!("arn:aws:iam::{account}:root"))),
                    None => None,
                };
                vec![owner.unwrap_or_else(|| target(arn("user", "/", "")))]
            }
            Rule::PolicySource => match text("PolicySourceArn") {
                Some(source) => vec![target(source.to_string())],
                None => vec![target(call.caller.arn())],
            },
            Rule::OwnPassword => vec![user(None)],
            Rule::NewMfaDevice => {
                let name = text("VirtualMFADeviceName").unwrap_or_default();
                vec![target(arn("mfa", new_path(), name))]
            }
            Rule::MfaDevice => {
                let serial = text("SerialNumber").unwrap_or_default();
                match a.mfa_devices.get(serial) {
                    Some(d) => vec![AccessTarget {
                        arn: Some(d.serial.clone()),
                        tags: tag_pairs(&d.tags),
                        condition_keys: Vec::new(),
                    }],
                    None if serial.starts_with("arn:") => vec![target(serial.to_string())],
                    None => vec![target(arn("mfa", "/", serial))],
                }
            }
            Rule::NewOidcProvider => {
                let issuer = crate::providers::oidc_issuer(text("Url").unwrap_or_default()).unwrap_or_default();
                vec![target(arn("oidc-provider", "/", issuer))]
            }
            Rule::OidcProvider => {
                let provider_arn = text("OpenIDConnectProviderArn").unwrap_or_default();
                let tags = a.oidc_providers.get(provider_arn).map(|p| tag_pairs(&p.tags)).unwrap_or_default();
                vec![AccessTarget { arn: Some(provider_arn.to_string()), tags, condition_keys: Vec::new() }]
            }
            Rule::NewSamlProvider => vec![target(arn("saml-provider", "/", text("Name").unwrap_or_default()))],
            Rule::SamlProvider => {
                let provider_arn = text("SAMLProviderArn").unwrap_or_default();
                let tags = a.saml_providers.get(provider_arn).map(|p| tag_pairs(&p.tags)).unwrap_or_default();
                vec![AccessTarget { arn: Some(provider_arn.to_string()), tags, condition_keys: Vec::new() }]
            }
            Rule::NewServerCertificate => {
                vec![target(arn("server-certificate", new_path(), text("ServerCertificateName").unwrap_or_default()))]
            }
            Rule::ServerCertificate => vec![server_certificate()],
            Rule::MovedServerCertificate => {
                let stored =
                    a.server_certificates.get(&text("ServerCertificateName").unwrap_or_default().to_lowercase());
                let place = stored.map(|c| (c.path.as_str(), c.name.as_str()));
                moved(server_certificate(), "server-certificate", place, "NewServerCertificateName")
            }
            Rule::ArnMember => {
                // Named as stored, as every other rule names its entity.
                let given = text("Arn").unwrap_or_default();
                let resource = rampart_core::Arn::parse(given).map(|a| a.resource).unwrap_or_default();
                let name = resource.rsplit('/').next().unwrap_or_default();
                match resource.split_once('/').map(|(kind, _)| kind) {
                    Some("user") => vec![user(Some(name))],
                    Some("group") => vec![group(name)],
                    Some("role") => vec![role(name)],
                    _ => vec![target(given.to_string())],
                }
            }
            Rule::NewServiceLinkedRole => {
                let service = text("AWSServiceName").unwrap_or_default();
                let name = crate::service_linked::role_name_for(service, text("CustomSuffix"));
                let path = format!("{}{service}/", crate::state::SERVICE_ROLE_PATH);
                vec![target(arn("role", &path, name.as_deref().unwrap_or("*")))]
            }
            Rule::DelegationRequest => {
                // An `EntityArn` names a request by its id, in the caller's
                // account: another account's ARN is not authorized as its.
                let in_entity = text("EntityArn").and_then(|entity| {
                    let resource = rampart_core::Arn::parse(entity)?.resource;
                    resource.strip_prefix("delegation-request/").map(str::to_string)
                });
                let id = text("DelegationRequestId").map(str::to_string).or(in_entity);
                vec![target(arn("delegation-request", "/", id.as_deref().unwrap_or("*")))]
            }
            Rule::List(kind) => vec![target(format!("arn:aws:iam::{account}:{kind}"))],
            Rule::Unscoped => Vec::new(),
        }
    }
}
