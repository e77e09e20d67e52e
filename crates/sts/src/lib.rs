//! STS: who is calling (GetCallerIdentity) and temporary credentials — role
//! sessions (AssumeRole; for an identity provider's subjects
//! AssumeRoleWithWebIdentity in `web_identity` and AssumeRoleWithSAML in
//! `saml`, both unsigned), session tokens (GetSessionToken), federated
//! users (GetFederationToken), and JWTs for services outside AWS
//! (GetWebIdentityToken, `identity_token`). AssumeRoot and
//! GetDelegatedAccessToken answer as AWS answers a standalone account: it has
//! no member accounts and no onboarded delegation partners.
//!
//! Issuing credentials writes nothing: the session token is the session,
//! sealed by the node key (see `token`). Authentication opens a token on its
//! first use through [`SessionOpener`] and keeps the entry in memory; the
//! role's policies are read at every request, so a change to them applies to
//! live sessions, and deleting the role ends them.

mod identity_token;
mod jwt;
mod oidc_keys;
mod saml;
mod token;
mod web_identity;
mod xml_dsig;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

use serde::Deserialize;
use serde_json::{json, Value};
use zeroize::{Zeroize, Zeroizing};

use rampart_core::{
    ids, is_call_of, Access, AccessTarget, AccountId, Arn, AwsError, BoxFuture, Call, Change, Check, CredentialEntry,
    FederatedIdentity, Operation, OperationMeta, Outcome, OutputMembers, Principal, Registry, RequestKey, Resource,
    ResourcePolicy, Sealer, Secret, Service, ServiceId, Session, SessionOpener,
};
use rampart_iam::{Iam, RoleInfo};
use rampart_policy::{Policy, PolicyKind};
use rampart_wire::{CommonError, ExceptionId, StsException, StsOperation as O};

use token::{Claims, Holder};

/// Every STS operation Rampart serves; `unserved.txt` lists the rest.
/// Session tokens are secrets although the model does not mark them so.
fn registry() -> &'static Registry<Sts, O> {
    static REGISTRY: LazyLock<Registry<Sts, O>> = LazyLock::new(|| {
        // A one-time code not yet used could be replayed: never recorded either.
        const SECRETS: &[&str] = &["SessionToken", "TokenCode"];
        Registry::new(vec![
            Operation::<Sts, O>::read(O::GetCallerIdentity, (), |sts, call, _| {
                Box::pin(async move { Ok(sts.get_caller_identity(call)) })
            })
            .never_denied(),
            Operation::<Sts, O>::write(O::AssumeRole, (), |sts, call, input| {
                Box::pin(async move { sts.assume_role(call, parse_input(input)?).await })
            })
            .secrets(SECRETS),
            // AWS: "No permissions are required for users to perform this operation."
            Operation::<Sts, O>::read(O::GetSessionToken, (), |sts, call, input| {
                Box::pin(async move { sts.get_session_token(call, parse_input(input)?).await })
            })
            .never_denied()
            .secrets(SECRETS),
            Operation::<Sts, O>::write(O::GetFederationToken, (), |sts, call, input| {
                Box::pin(async move { sts.get_federation_token(call, parse_input(input)?) })
            })
            .secrets(SECRETS)
            .session_token_forbidden(),
            // Unsigned: the caller is the token's subject (`Service::identify`).
            Operation::<Sts, O>::write(O::AssumeRoleWithWebIdentity, (), |sts, call, input| {
                Box::pin(async move { sts.assume_role_with_web_identity(call, parse_input(input)?) })
            })
            .unsigned()
            .secrets(&["SessionToken", "WebIdentityToken"]),
            Operation::<Sts, O>::write(O::AssumeRoleWithSAML, (), |sts, call, input| {
                Box::pin(async move { sts.assume_role_with_saml(call, parse_input(input)?) })
            })
            .unsigned()
            .secrets(&["SessionToken", "SAMLAssertion"]),
            Operation::<Sts, O>::read(O::DecodeAuthorizationMessage, (), |sts, call, input| {
                Box::pin(async move { sts.decode_authorization_message(call, parse_input(input)?) })
            }),
            // The token is a bearer credential for the services that trust it.
            Operation::<Sts, O>::write(O::GetWebIdentityToken, (), |sts, call, input| {
                Box::pin(async move { sts.get_web_identity_token(call, parse_input(input)?).await })
            })
            .secrets(&["WebIdentityToken"]),
            Operation::<Sts, O>::write(O::AssumeRoot, (), |sts, call, input| {
                Box::pin(async move { sts.assume_root(call, parse_input(input)?) })
            })
            .secrets(SECRETS),
            Operation::<Sts, O>::write(O::GetDelegatedAccessToken, (), |_, _, _| {
                Box::pin(async move { get_delegated_access_token() })
            })
            .secrets(&["SessionToken", "TradeInToken"]),
            Operation::<Sts, O>::read(O::GetAccessKeyInfo, (), |sts, _, input| {
                Box::pin(async move { sts.get_access_key_info(parse_input(input)?) })
            })
            .session_token_forbidden(),
        ])
    });
    &REGISTRY
}

/// STS's condition keys that a request carries.
const REQUEST_KEYS: &[RequestKey] = &[
    RequestKey::Member { key: "sts:ExternalId", member: "ExternalId" },
    RequestKey::Member { key: "sts:RoleSessionName", member: "RoleSessionName" },
    RequestKey::Member { key: "sts:SourceIdentity", member: "SourceIdentity" },
    RequestKey::Member { key: "sts:TransitiveTagKeys", member: "TransitiveTagKeys" },
];

/// GetWebIdentityToken's condition keys.
const IDENTITY_TOKEN_KEYS: &[RequestKey] = &[
    RequestKey::Member { key: "sts:IdentityTokenAudience", member: "Audience" },
    RequestKey::Member { key: "sts:DurationSeconds", member: "DurationSeconds" },
    RequestKey::Member { key: "sts:SigningAlgorithm", member: "SigningAlgorithm" },
];

/// A call whose input carries `Tags` needs `action` too, on the same
/// resources (AWS: `sts:TagSession` for a federated user's session tags,
/// `sts:TagGetWebIdentityToken` for a token's request tags).
fn with_tagging(mut access: Access, input: &Value, action: &str) -> Access {
    let tagged = input.get("Tags").and_then(Value::as_array).is_some_and(|t| !t.is_empty());
    if let Some(mut tagging) = access.checks.first().cloned().filter(|_| tagged) {
        tagging.action = action.to_string();
        access.checks.push(tagging);
    }
    access
}

/// STS's limits: session policies' plaintext, managed session policies,
/// and session lengths.
const SESSION_POLICY_CHARS: usize = 2048;
const MANAGED_SESSION_POLICIES: usize = 10;
const DEFAULT_ROLE_SESSION_SECONDS: i64 = 3600;
const ROLE_CHAINING_MAX_SECONDS: i64 = 3600;
const DEFAULT_SESSION_TOKEN_SECONDS: i64 = 43_200;
const ROOT_SESSION_TOKEN_MAX_SECONDS: i64 = 3600;
/// How the inline session policy is named in decisions and audit records.
const INLINE_SESSION_POLICY: &str = "session-policy";
/// The empty session policy of a federated user given none.
const NO_SESSION_POLICY: &str = "no-session-policy";
/// GetFederationToken's session lengths.
const FEDERATION_MIN_SECONDS: i64 = 900;
const FEDERATION_MAX_SECONDS: i64 = 129_600;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagInput {
    key: String,
    value: String,
}

#[derive(Deserialize)]
struct PolicyDescriptor {
    arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleInput {
    role_arn: String,
    role_session_name: String,
    #[serde(default)]
    policy_arns: Vec<PolicyDescriptor>,
    policy: Option<String>,
    duration_seconds: Option<i64>,
    #[serde(default)]
    tags: Vec<TagInput>,
    #[serde(default)]
    transitive_tag_keys: Vec<String>,
    source_identity: Option<String>,
    serial_number: Option<String>,
    token_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FederationTokenInput {
    name: String,
    policy: Option<String>,
    #[serde(default)]
    policy_arns: Vec<PolicyDescriptor>,
    duration_seconds: Option<i64>,
    #[serde(default)]
    tags: Vec<TagInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DecodeMessageInput {
    encoded_message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AccessKeyInfoInput {
    access_key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetSessionTokenInput {
    duration_seconds: Option<i64>,
    serial_number: Option<String>,
    token_code: Option<String>,
}

/// The AWS managed policies that scope an AssumeRoot session, one per
/// privileged task.
const ROOT_TASK_POLICIES: &[&str] = &[
    "arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials",
    "arn:aws:iam::aws:policy/root-task/IAMCreateRootUserPassword",
    "arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials",
    "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy",
    "arn:aws:iam::aws:policy/root-task/SQSUnlockQueuePolicy",
];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRootInput {
    target_principal: String,
    task_policy_arn: PolicyDescriptor,
}

/// AssumeRoot's `TargetPrincipal`: a member account's id, or an ARN in it.
fn target_account(target_principal: &str) -> String {
    Arn::parse(target_principal)
        .and_then(|arn| arn.account_id())
        .map_or_else(|| target_principal.to_string(), |account| account.to_string())
}

/// GetDelegatedAccessToken trades the token that SendDelegationToken sent a
/// partner for credentials. A standalone node has no onboarded partners, so
/// no delegation request is ever sent and no trade-in token is valid.
fn get_delegated_access_token() -> Result<Outcome, AwsError> {
    Err(StsException::ExpiredTradeInTokenException.error("The trade-in token provided is invalid or has expired."))
}

fn validation(message: impl Into<String>) -> AwsError {
    CommonError::Validation.error(ServiceId::Sts, message)
}

/// A web identity token or SAML response that does not prove who it says.
fn invalid_token(message: impl Into<String>) -> AwsError {
    StsException::InvalidIdentityTokenException.error(message.into())
}

pub(crate) fn access_denied(message: impl Into<String>) -> AwsError {
    CommonError::AccessDenied.error(ServiceId::Sts, message)
}

fn parse_input<T: serde::de::DeserializeOwned>(input: Value) -> Result<T, AwsError> {
    rampart_core::parse_input(ServiceId::Sts, input)
}

/// The share (in percent) of the session-policy plaintext limit that the
/// inline policy, the policy ARNs and the tags take. AWS packs them into a
/// binary form with its own limit; Rampart measures the plaintext.
fn packed_policy_size(policy: Option<&str>, arns: &[String], tags: &[(String, String)]) -> usize {
    let policy_chars = policy.map_or(0, |p| p.chars().filter(|c| !c.is_whitespace()).count());
    let arn_chars: usize = arns.iter().map(String::len).sum();
    let tag_chars: usize = tags.iter().map(|(k, v)| k.len() + v.len()).sum();
    (policy_chars + arn_chars + tag_chars) * 100 / SESSION_POLICY_CHARS
}

/// The session policies and tags of AssumeRole or GetFederationToken,
/// checked: the inline policy's length and syntax, how many ARNs.
fn check_session_policies(
    policy: Option<&str>,
    policy_arns: Vec<PolicyDescriptor>,
    tags: Vec<TagInput>,
) -> Result<(Vec<String>, Tags), AwsError> {
    if let Some(policy) = policy {
        if policy.chars().count() > SESSION_POLICY_CHARS {
            return Err(validation(format!(
                "1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have \
                 length less than or equal to {SESSION_POLICY_CHARS}"
            )));
        }
        Policy::parse(policy, PolicyKind::Identity)
            .map_err(|e| StsException::MalformedPolicyDocumentException.error(e.to_string()))?;
    }
    if policy_arns.len() > MANAGED_SESSION_POLICIES {
        return Err(validation(format!(
            "1 validation error detected: Value at 'policyArns' failed to satisfy constraint: Member must have \
             length less than or equal to {MANAGED_SESSION_POLICIES}"
        )));
    }
    let policy_arns = policy_arns.into_iter().filter_map(|p| p.arn).collect();
    Ok((policy_arns, tags.into_iter().map(|t| (t.key, t.value)).collect()))
}

/// The principal of a session of `role`.
fn session_of(role: RoleInfo, session_name: &str) -> Principal {
    Principal::AssumedRole {
        principal_id: format!("{}:{session_name}", role.role_id),
        account: role.account,
        role_id: role.role_id,
        role_name: role.name,
        role_path: role.path,
        session_name: session_name.to_string(),
    }
}

/// A chained session's tags, transitive tag keys and source identity: the
/// calling session's transitive tags and source identity pass on and cannot be
/// changed; transitive keys must name tags of the request or inherited ones.
fn chained(
    caller: Option<&Session>,
    tags: Vec<(String, String)>,
    transitive: Vec<String>,
    source_identity: Option<String>,
) -> Result<TagsAndIdentity, AwsError> {
    let inherited: Vec<(String, String)> = caller
        .map(|s| {
            let is_transitive = |k: &str| s.transitive_tag_keys.iter().any(|t| t.eq_ignore_ascii_case(k));
            s.tags.iter().filter(|(k, _)| is_transitive(k)).cloned().collect()
        })
        .unwrap_or_default();
    let mut seen: Vec<&str> = Vec::new();
    for (key, _) in tags.iter().chain(&inherited) {
        if seen.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            return Err(validation(format!(
                "Duplicate tag key or transitive session tag passed again: {key}. Tag keys are case insensitive."
            )));
        }
        seen.push(key);
    }
    if let Some(missing) = transitive.iter().find(|k| !tags.iter().any(|(t, _)| t.eq_ignore_ascii_case(k))) {
        return Err(validation(format!("Transitive tag key {missing} is not one of the session tags.")));
    }
    let mut keys: Vec<String> = inherited.iter().map(|(k, _)| k.clone()).collect();
    keys.extend(transitive);
    let source = match (caller.and_then(|s| s.source_identity.clone()), source_identity) {
        (Some(current), Some(asked)) if current != asked => {
            return Err(access_denied("The source identity of a role session cannot be changed."))
        }
        (current, asked) => current.or(asked),
    };
    let mut all = inherited;
    all.extend(tags);
    Ok((all, keys, source))
}

type Tags = Vec<(String, String)>;
type TagsAndIdentity = (Tags, Vec<String>, Option<String>);

/// AWS's limits on session tags (IAM and STS quotas).
const MAX_SESSION_TAGS: usize = 50;
const MAX_TAG_KEY_CHARS: usize = 128;
const MAX_TAG_VALUE_CHARS: usize = 256;

/// Session tags an identity provider passes, checked against AWS's
/// limits; transitive keys must name some of them (case-insensitively).
fn provider_tags(tags: Vec<(String, String)>, transitive: Vec<String>) -> Result<(Tags, Vec<String>), AwsError> {
    let invalid = invalid_token;
    if tags.len() > MAX_SESSION_TAGS {
        return Err(invalid(format!("The provider passed more than {MAX_SESSION_TAGS} session tags.")));
    }
    for (key, value) in &tags {
        if key.is_empty() || key.chars().count() > MAX_TAG_KEY_CHARS || value.chars().count() > MAX_TAG_VALUE_CHARS {
            return Err(invalid(format!("The session tag {key} is longer than AWS allows or empty.")));
        }
        if tags.iter().filter(|(k, _)| k.eq_ignore_ascii_case(key)).count() > 1 {
            return Err(invalid(format!("The session tag key {key} is passed twice. Tag keys are case insensitive.")));
        }
    }
    if let Some(missing) = transitive.iter().find(|k| !tags.iter().any(|(t, _)| t.eq_ignore_ascii_case(k))) {
        return Err(invalid(format!("Transitive tag key {missing} is not one of the session tags.")));
    }
    Ok((tags, transitive))
}

/// What every federated AssumeRole* call asks of its role session, as its
/// input spells it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoleSessionAsk {
    role_arn: String,
    duration_seconds: Option<i64>,
    policy: Option<String>,
    #[serde(default)]
    policy_arns: Vec<PolicyDescriptor>,
}

pub struct Sts {
    iam: Arc<Iam>,
    sealer: Sealer,
    keys: oidc_keys::KeyFetcher,
}

impl Sts {
    /// `provider_hosts` maps host names of identity providers to the
    /// addresses to reach them at instead of their DNS ones.
    pub fn new(iam: Arc<Iam>, sealer: Sealer, provider_hosts: HashMap<String, SocketAddr>) -> Sts {
        Sts { iam, sealer, keys: oidc_keys::KeyFetcher::new(provider_hosts) }
    }

    /// A role session for a subject of an identity provider (web identity
    /// or SAML federation): the output's `Credentials`, `AssumedRoleUser`
    /// and `PackedPolicySize`, and the role as the call's resource.
    fn federated_role_session(
        &self,
        call: &Call,
        identity: &FederatedIdentity,
        session_name: &str,
        ask: RoleSessionAsk,
    ) -> Result<(Value, Vec<Resource>), AwsError> {
        let action = format!("sts:{}", call.operation);
        let role = self
            .iam
            .role_by_arn(&ask.role_arn)
            .filter(|role| role.account == identity.account)
            .ok_or_else(|| access_denied(format!("Not authorized to perform {action}")))?;
        let duration = ask.duration_seconds.unwrap_or(DEFAULT_ROLE_SESSION_SECONDS);
        if duration > role.max_session_duration {
            return Err(validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role."));
        }
        let (policy_arns, _) = check_session_policies(ask.policy.as_deref(), ask.policy_arns, Vec::new())?;
        let tags = identity.session_tags.clone();
        let passed_policies = ask.policy.is_some() || !policy_arns.is_empty() || !tags.is_empty();
        let packed = packed_policy_size(ask.policy.as_deref(), &policy_arns, &tags);
        if packed > 100 {
            return Err(StsException::PackedPolicyTooLargeException
                .error(format!("Packed policy consumes {packed}% of allotted space, please use smaller policy.")));
        }
        // The session ends as asked, or sooner where the provider says so.
        let asked_until = call.time_ms + duration * 1000;
        let claims = Claims {
            access_key_id: String::new(),
            secret_access_key: String::new(),
            account: role.account.to_string(),
            holder: Holder::Role { role_id: role.role_id.clone(), session_name: session_name.to_string() },
            issued_ms: call.time_ms,
            expires_ms: identity.session_ends_ms.map_or(asked_until, |ends| ends.min(asked_until)),
            policy: ask.policy,
            policy_arns,
            tags,
            transitive: identity.transitive_tag_keys.clone(),
            source_identity: identity.source_identity.clone(),
            mfa_ms: None,
            federated_provider: Some(identity.provider_arn.clone()),
        };
        let resources = vec![Resource { kind: "AWS::IAM::Role".into(), name: role.arn.clone() }];
        let session = session_of(role, session_name);
        let mut output = json!({
            "Credentials": self.issue(claims)?,
            "AssumedRoleUser": { "AssumedRoleId": session.principal_id(), "Arn": session.arn() },
        });
        if passed_policies {
            output.set("PackedPolicySize", json!(packed));
        }
        if let Some(source_identity) = &identity.source_identity {
            output.set("SourceIdentity", json!(source_identity));
        }
        Ok((output, resources))
    }

    /// New temporary credentials for `claims` (whose key and secret it fills
    /// in), as the `Credentials` output member.
    fn issue(&self, mut claims: Claims) -> Result<Value, AwsError> {
        let secret = Zeroizing::new(ids::secret_access_key());
        claims.access_key_id =
            AccountId::parse(&claims.account).map(|account| ids::temporary_access_key_id(&account)).unwrap_or_default();
        claims.secret_access_key.clone_from(&secret);
        let token = token::seal(&self.sealer, &claims);
        claims.secret_access_key.zeroize();
        let token = token.map_err(|error| {
            tracing::error!(%error, "a session token could not be sealed");
            CommonError::InternalFailure.error(ServiceId::Sts, "The request could not be completed.")
        })?;
        Ok(json!({
            "AccessKeyId": claims.access_key_id,
            "SecretAccessKey": secret.as_str(),
            "SessionToken": token,
            "Expiration": (claims.expires_ms / 1000) as f64,
        }))
    }

    /// Temporary credentials for a federated user: the calling IAM user's
    /// permissions, limited by the session policies passed (none passed:
    /// no permissions). Only long-term keys of an IAM user may ask.
    fn get_federation_token(&self, call: &Call, input: FederationTokenInput) -> Result<Outcome, AwsError> {
        let Principal::User { account, user_id, .. } = &call.caller else {
            return Err(access_denied(if call.caller.is_root() {
                "GetFederationToken is not available to the account root in Rampart; call it as an IAM user."
            } else {
                "Cannot call GetFederationToken with session credentials"
            }));
        };
        if call.session.is_some() {
            return Err(access_denied("Cannot call GetFederationToken with session credentials"));
        }
        let duration = input.duration_seconds.unwrap_or(DEFAULT_SESSION_TOKEN_SECONDS);
        if !(FEDERATION_MIN_SECONDS..=FEDERATION_MAX_SECONDS).contains(&duration) {
            return Err(validation(format!(
                "1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: \
                 Member must have value between {FEDERATION_MIN_SECONDS} and {FEDERATION_MAX_SECONDS}"
            )));
        }
        let (policy_arns, tags) = check_session_policies(input.policy.as_deref(), input.policy_arns, input.tags)?;
        let packed = packed_policy_size(input.policy.as_deref(), &policy_arns, &tags);
        if packed > 100 {
            return Err(StsException::PackedPolicyTooLargeException
                .error(format!("Packed policy consumes {packed}% of allotted space, please use smaller policy.")));
        }
        let federated_id = format!("{account}:{}", input.name);
        let arn = format!("arn:aws:sts::{account}:federated-user/{}", input.name);
        let claims = Claims {
            access_key_id: String::new(),
            secret_access_key: String::new(),
            account: account.to_string(),
            holder: Holder::Federated { user_id: user_id.clone(), name: input.name },
            issued_ms: call.time_ms,
            expires_ms: call.time_ms + duration * 1000,
            policy: input.policy,
            policy_arns,
            tags,
            transitive: Vec::new(),
            source_identity: None,
            mfa_ms: None,
            federated_provider: None,
        };
        let output = json!({
            "Credentials": self.issue(claims)?,
            "FederatedUser": { "FederatedUserId": federated_id, "Arn": arn },
            "PackedPolicySize": packed,
        });
        Ok(Outcome { output, resources: Vec::new(), change: None })
    }

    /// AssumeRoot: a root session in a member account of the caller's
    /// organization, for one privileged task. The caller must not be a root
    /// user and must name a root-task policy; then the target must be a member
    /// account with centralized root access, which a standalone account never
    /// has (it is in no organization), so the call is refused there.
    fn assume_root(&self, call: &Call, input: AssumeRootInput) -> Result<Outcome, AwsError> {
        if matches!(call.caller, Principal::Root { .. }) {
            return Err(access_denied("You cannot call AssumeRoot with root user credentials."));
        }
        let task = input.task_policy_arn.arn.unwrap_or_default();
        if !ROOT_TASK_POLICIES.contains(&task.as_str()) {
            return Err(validation(format!(
                "TaskPolicyArn {task} is not a root-task policy; use one of {}.",
                ROOT_TASK_POLICIES.join(", ")
            )));
        }
        let target = target_account(&input.target_principal);
        Err(access_denied(format!(
            "Account {target} is not a member account of an organization with centralized root access: \
             account {} is not a member of an organization in AWS Organizations.",
            call.caller.account()
        )))
    }

    /// The account of any access key id: the owner of a key this node
    /// knows, else the account AWS's encoding names (`ids::account_of_key_id`),
    /// as AWS answers for keys of any account.
    fn get_access_key_info(&self, input: AccessKeyInfoInput) -> Result<Outcome, AwsError> {
        let id = input.access_key_id;
        let known = self.iam.key_account(&id);
        let account = known.or_else(|| ids::account_of_key_id(&id)).ok_or_else(|| {
            validation("The access key ID is not in the format of an AWS access key ID (AKIA or ASIA and 16 base32 characters).")
        })?;
        Ok(Outcome::read(json!({ "Account": account.as_str() })))
    }

    /// Why a request of the caller's account was denied, from the encoded
    /// message its error carried (`rampart_core::encode_authorization_message`).
    fn decode_authorization_message(&self, call: &Call, input: DecodeMessageInput) -> Result<Outcome, AwsError> {
        let decoded =
            rampart_core::decode_authorization_message(&self.sealer, call.caller.account(), &input.encoded_message)
                .ok_or_else(|| {
                    StsException::InvalidAuthorizationMessageException
                        .error("The message is not an encoded authorization message of this account.")
                })?;
        Ok(Outcome::read(json!({ "DecodedMessage": decoded })))
    }

    fn get_caller_identity(&self, call: &Call) -> Outcome {
        Outcome::read(json!({
            "UserId": call.caller.principal_id(),
            "Account": call.caller.account().as_str(),
            "Arn": call.caller.arn(),
        }))
    }

    /// The MFA code a request carries, verified for the caller: when it
    /// was verified, and the change that marks the code used (commit it
    /// with the call). Without a serial number, the MFA the caller's own
    /// session has, if any.
    async fn verified_mfa(
        &self,
        call: &Call,
        serial: Option<&str>,
        code: Option<&str>,
    ) -> Result<(Option<i64>, Option<Change>), AwsError> {
        let Some(serial) = serial else {
            return Ok((call.session.as_ref().and_then(|s| s.mfa_authenticated_ms), None));
        };
        let change = self.iam.verify_mfa_code(&call.caller, serial, code, call.time_ms).await.map_err(|r| r.error())?;
        Ok((Some(call.time_ms), Some(change)))
    }

    async fn assume_role(&self, call: &Call, input: AssumeRoleInput) -> Result<Outcome, AwsError> {
        if call.caller.is_root() {
            return Err(access_denied("Roles may not be assumed by root accounts."));
        }
        let Some(role) = self.iam.role_by_arn(&input.role_arn) else {
            return Err(access_denied(format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {}",
                call.caller.arn(),
                input.role_arn
            )));
        };
        let duration = input.duration_seconds.unwrap_or(DEFAULT_ROLE_SESSION_SECONDS);
        if duration > role.max_session_duration {
            return Err(validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role."));
        }
        if matches!(call.caller, Principal::AssumedRole { .. }) && duration > ROLE_CHAINING_MAX_SECONDS {
            return Err(validation(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
            ));
        }
        let (policy_arns, tags) = check_session_policies(input.policy.as_deref(), input.policy_arns, input.tags)?;
        let passed_policies = input.policy.is_some() || !policy_arns.is_empty() || !tags.is_empty();
        let (tags, transitive, source_identity) =
            chained(call.session.as_deref(), tags, input.transitive_tag_keys, input.source_identity)?;
        let packed = packed_policy_size(input.policy.as_deref(), &policy_arns, &tags);
        if packed > 100 {
            return Err(StsException::PackedPolicyTooLargeException
                .error(format!("Packed policy consumes {packed}% of allotted space, please use smaller policy.")));
        }
        let (mfa_ms, mfa_change) =
            self.verified_mfa(call, input.serial_number.as_deref(), input.token_code.as_deref()).await?;
        let issued_ms = call.time_ms;
        let session_name = input.role_session_name;
        let claims = Claims {
            access_key_id: String::new(),
            secret_access_key: String::new(),
            account: role.account.to_string(),
            holder: Holder::Role { role_id: role.role_id.clone(), session_name: session_name.clone() },
            issued_ms,
            expires_ms: issued_ms + duration * 1000,
            policy: input.policy,
            policy_arns,
            tags,
            transitive,
            source_identity: source_identity.clone(),
            mfa_ms,
            federated_provider: None,
        };
        let resources = vec![Resource { kind: "AWS::IAM::Role".into(), name: role.arn.clone() }];
        let session = session_of(role, &session_name);
        let mut output = json!({
            "Credentials": self.issue(claims)?,
            "AssumedRoleUser": {
                "AssumedRoleId": session.principal_id(),
                "Arn": session.arn(),
            },
        });
        if passed_policies {
            output.set("PackedPolicySize", json!(packed));
        }
        if let Some(source_identity) = source_identity {
            output.set("SourceIdentity", json!(source_identity));
        }
        Ok(Outcome { output, resources, change: mfa_change })
    }

    async fn get_session_token(&self, call: &Call, input: GetSessionTokenInput) -> Result<Outcome, AwsError> {
        if call.session.is_some() {
            return Err(access_denied("Cannot call GetSessionToken with session credentials"));
        }
        let (holder, duration) = match &call.caller {
            Principal::Root { .. } => (
                Holder::Root,
                input.duration_seconds.unwrap_or(ROOT_SESSION_TOKEN_MAX_SECONDS).min(ROOT_SESSION_TOKEN_MAX_SECONDS),
            ),
            Principal::User { user_id, .. } => (
                Holder::User { user_id: user_id.clone() },
                input.duration_seconds.unwrap_or(DEFAULT_SESSION_TOKEN_SECONDS),
            ),
            Principal::AssumedRole { .. } | Principal::FederatedUser { .. } | Principal::Federated(_) => {
                return Err(access_denied("Cannot call GetSessionToken with session credentials"))
            }
        };
        let (mfa_ms, mfa_change) =
            self.verified_mfa(call, input.serial_number.as_deref(), input.token_code.as_deref()).await?;
        let claims = Claims {
            access_key_id: String::new(),
            secret_access_key: String::new(),
            account: call.caller.account().to_string(),
            holder,
            issued_ms: call.time_ms,
            expires_ms: call.time_ms + duration * 1000,
            policy: None,
            policy_arns: Vec::new(),
            tags: Vec::new(),
            transitive: Vec::new(),
            source_identity: None,
            mfa_ms,
            federated_provider: None,
        };
        let output = json!({ "Credentials": self.issue(claims)? });
        Ok(Outcome { output, resources: Vec::new(), change: mfa_change })
    }

    /// The session policies a token names, compiled. One that cannot be read
    /// (a policy deleted since) is kept empty: it then allows nothing.
    fn session_policies(&self, account: &AccountId, claims: &Claims) -> Vec<(String, Policy)> {
        let inline = claims.policy.as_deref().map(|text| (INLINE_SESSION_POLICY.to_string(), text.to_string()));
        let managed = claims
            .policy_arns
            .iter()
            .map(|arn| (arn.clone(), self.iam.managed_policy_document(account, arn).unwrap_or_default()));
        inline
            .into_iter()
            .chain(managed)
            .map(|(name, text)| {
                let policy = Policy::parse(&text, PolicyKind::Identity).unwrap_or_else(|_| Policy::empty());
                (name, policy)
            })
            .collect()
    }
}

impl rampart_core::ThumbprintProbe for Sts {
    fn thumbprint<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            match self.keys.top_thumbprint(host).await {
                Ok(thumbprint) => Some(thumbprint),
                Err(error) => {
                    tracing::warn!(%error, host, "the provider's certificate could not be read for its thumbprint");
                    None
                }
            }
        })
    }
}

impl SessionOpener for Sts {
    fn open(&self, access_key_id: &str, token: &str) -> Option<CredentialEntry> {
        let mut claims = token::open(&self.sealer, token)?;
        if claims.access_key_id != access_key_id {
            return None;
        }
        let account = AccountId::parse(&claims.account)?;
        let principal = match &claims.holder {
            Holder::Role { role_id, session_name } => session_of(self.iam.role_by_id(&account, role_id)?, session_name),
            Holder::User { user_id } => self.iam.user_principal(&account, user_id)?,
            Holder::Root => Principal::Root { account: account.clone() },
            Holder::Federated { user_id, name } => match self.iam.user_principal(&account, user_id)? {
                Principal::User { account, user_id, name: user_name, path, .. } => Principal::FederatedUser {
                    principal_id: format!("{account}:{name}"),
                    account,
                    user_id,
                    user_name,
                    user_path: path,
                    name: name.clone(),
                },
                _ => return None,
            },
        };
        let secret = Secret::new(std::mem::take(&mut claims.secret_access_key));
        let mut policies = self.session_policies(&account, &claims);
        // A federated user without session policies has no permissions (AWS).
        if matches!(claims.holder, Holder::Federated { .. }) && policies.is_empty() {
            policies.push((NO_SESSION_POLICY.to_string(), Policy::empty()));
        }
        let session = Session {
            issued_ms: claims.issued_ms,
            expires_ms: claims.expires_ms,
            keys: rampart_policy::context_keys_of(policies.iter().map(|(_, p)| p)),
            policies,
            tags: std::mem::take(&mut claims.tags),
            transitive_tag_keys: std::mem::take(&mut claims.transitive),
            source_identity: claims.source_identity.take(),
            mfa_authenticated_ms: claims.mfa_ms,
            federated_provider: claims.federated_provider.take(),
        };
        Some(CredentialEntry::temporary(secret, principal, Secret::new(token.to_string()), session))
    }
}

impl Service for Sts {
    fn id(&self) -> ServiceId {
        ServiceId::Sts
    }

    fn operation(&self, name: &str) -> Option<&OperationMeta> {
        registry().meta(name)
    }

    /// AssumeRole acts on the role (its tags are `aws:ResourceTag/*`) and is
    /// decided by the role's trust policy as well as the caller's policies (a
    /// role that does not exist trusts nobody); tags and a source identity
    /// need `sts:TagSession` and `sts:SetSourceIdentity` on the role too. The
    /// other operations have no resource.
    fn access(&self, call: &Call, input: &Value) -> Access {
        if is_call_of(call, O::GetFederationToken) {
            let name = input.get("Name").and_then(Value::as_str).unwrap_or_default();
            let arn = format!("arn:aws:sts::{}:federated-user/{name}", call.caller.account());
            let target = AccessTarget { arn: Some(arn), ..AccessTarget::default() };
            return with_tagging(Access::own(call, vec![target]), input, "sts:TagSession");
        }
        if is_call_of(call, O::GetWebIdentityToken) {
            let access = Access::own(call, Vec::new()).with_request_keys(input, IDENTITY_TOKEN_KEYS);
            return with_tagging(access, input, "sts:TagGetWebIdentityToken");
        }
        if is_call_of(call, O::AssumeRoot) {
            // On the member account's root user.
            let target = input.get("TargetPrincipal").and_then(Value::as_str).unwrap_or_default();
            let arn = format!("arn:aws:iam::{}:root", target_account(target));
            let target = AccessTarget { arn: Some(arn), ..AccessTarget::default() };
            let mut access = Access::own(call, vec![target]);
            // `TaskPolicyArn` is a policy descriptor: the key is its `arn`.
            if let Some(task) = input.pointer("/TaskPolicyArn/arn").and_then(Value::as_str) {
                access.request_keys.push(("sts:TaskPolicyArn".to_string(), vec![task.to_string()]));
            }
            return access;
        }
        let federated = is_call_of(call, O::AssumeRoleWithWebIdentity) || is_call_of(call, O::AssumeRoleWithSAML);
        if !is_call_of(call, O::AssumeRole) && !federated {
            return Access::own(call, Vec::new());
        }
        let arn = input.get("RoleArn").and_then(Value::as_str).unwrap_or_default();
        let role = self.iam.role_by_arn(arn);
        let policy = role
            .as_ref()
            .and_then(|r| Policy::parse(&r.trust_policy, PolicyKind::Trust).ok())
            .unwrap_or_else(Policy::empty);
        let account = role.as_ref().map(|r| r.account.clone()).unwrap_or_else(|| call.caller.account().clone());
        let tags = role.map(|r| r.tags).unwrap_or_default();
        let target = AccessTarget { arn: Some(arn.to_string()), tags, condition_keys: Vec::new() };
        let trust = ResourcePolicy {
            name: "AssumeRolePolicyDocument".into(),
            policy: Arc::new(policy),
            account,
            required: true,
            binds_root: false,
        };
        let mut access = Access::own(call, vec![target]).with_request_keys(input, REQUEST_KEYS);
        access.mfa_in_request = input.get("SerialNumber").is_some() && input.get("TokenCode").is_some();
        let non_empty = |member: &str| input.get(member).and_then(Value::as_array).is_some_and(|a| !a.is_empty());
        // Tags and a source identity come from the request, or for
        // federation from the identity provider's token.
        let from_provider = match &call.caller {
            Principal::Federated(identity) => Some(identity.as_ref()),
            _ => None,
        };
        let mut extra = Vec::new();
        if non_empty("Tags")
            || non_empty("TransitiveTagKeys")
            || from_provider.is_some_and(|i| !i.session_tags.is_empty())
        {
            extra.push("sts:TagSession");
        }
        if input.get("SourceIdentity").is_some() || from_provider.is_some_and(|i| i.source_identity.is_some()) {
            extra.push("sts:SetSourceIdentity");
        }
        let own = access.checks.remove(0);
        let on_the_role =
            |action: &str| Check { action: action.to_string(), resource_policy: Some(trust.clone()), ..own.clone() };
        access.checks = std::iter::once(own.action.as_str()).chain(extra).map(on_the_role).collect();
        access
    }

    fn handle<'a>(&'a self, call: &'a Call, input: Value) -> BoxFuture<'a, Result<Outcome, AwsError>> {
        registry().dispatch(self, call, input)
    }

    /// AssumeRoleWithSAML's largest input: a 100,000-character assertion
    /// whose `+`, `/` and `=` are form-encoded as three characters each, and
    /// the session policies.
    fn max_unsigned_body_bytes(&self) -> usize {
        320 * 1024
    }

    fn identify<'a>(
        &'a self,
        operation: &'a str,
        input: &'a Value,
        time_ms: i64,
    ) -> BoxFuture<'a, Result<Principal, AwsError>> {
        Box::pin(async move {
            match operation {
                "AssumeRoleWithWebIdentity" => self.identify_web_identity(input, time_ms).await,
                "AssumeRoleWithSAML" => self.identify_saml(input, time_ms).await,
                _ => Err(access_denied(format!("{operation} must be signed."))),
            }
        })
    }

    fn load(&self) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_and_unserved_operations_are_the_model() {
        if let Err(problems) = registry().coverage(include_str!("../unserved.txt")) {
            panic!("{problems}");
        }
    }

    #[test]
    fn packed_size_counts_plaintext() {
        assert_eq!(packed_policy_size(None, &[], &[]), 0);
        let policy = format!("{{ {} }}", "a".repeat(1022));
        assert_eq!(packed_policy_size(Some(&policy), &[], &[]), 50);
        let tags = vec![("k".repeat(1024), "v".repeat(1024))];
        assert_eq!(packed_policy_size(Some(&policy), &[], &tags), 150);
    }
}
