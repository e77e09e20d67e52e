//! IAM: the identities authentication knows (users, roles, access keys, each
//! account's root keys), their credentials (MFA devices, passwords,
//! certificates, SSH keys, service-specific credentials), their policies, and
//! the identity providers federation trusts.
//!
//! State lives in memory (read by handlers without touching the disk) and is
//! written through the store; mutations are serialized by one lock that is held
//! until the change is durable and applied. The credential table that
//! authentication reads is updated in the same step.

mod access;
mod account;
mod attachments;
mod aws_managed;
mod certificates;
mod delegation;
mod details;
mod errors;
mod groups;
mod hardware_mfa;
mod hashing;
mod instance_profiles;
mod key_formats;
mod keys;
mod last_accessed;
mod listing;
mod managed;
mod mfa;
mod organizations;
mod outbound;
mod passwords;
mod policies;
mod providers;
mod qr;
mod registry;
mod render;
mod report;
mod reseal;
mod roles;
mod service_credentials;
mod service_linked;
mod simulate;
mod state;
mod tagging;
mod tags;
mod throttle;
pub mod totp;
mod trust;
mod users;
mod versions;

use std::sync::Arc;

use parking_lot::RwLock;
use serde::de::DeserializeOwned;
use serde_json::Value;

use rampart_core::{
    Access, AccountId, AwsError, BoxFuture, Call, Change, CredentialEntry, Credentials, OperationMeta, Outcome,
    Principal, Sealer, Secret, Service, ServiceEvent, ServiceId, SystemChange, Task, TaskRun,
};
use rampart_store::{RecordWrite, Store};

pub use hardware_mfa::{parse_hardware_tokens, HardwareToken};
pub use hashing::{hash_password, password_matches};
pub use mfa::MfaRefusal;
pub use outbound::{OUTBOUND_ALGORITHMS, OUTBOUND_ISSUER_HOST_SUFFIX};
pub use passwords::PasswordCheck;
pub use policies::PrincipalPolicies;
use state::{
    AccessKey, Account, State, User, ACCOUNT_KIND, GROUP_KIND, INSTANCE_PROFILE_KIND, KEY_KIND, LAST_USED_KIND,
    LOGIN_PROFILE_KIND, MANAGED_KIND, MFA_KIND, OIDC_PROVIDER_KIND, POLICY_KIND, ROLE_KIND, SAML_PROVIDER_KIND,
    SERVICE_CREDENTIAL_KIND, SETTINGS_KIND, USER_KIND,
};

/// What web identity federation needs of an OpenID Connect provider.
#[derive(Debug, Clone)]
pub struct OidcProviderInfo {
    pub arn: String,
    pub client_ids: Vec<String>,
    /// SHA-1 fingerprints (hex) of certificates that vouch for its server.
    pub thumbprints: Vec<String>,
}

/// What SAML federation needs of a SAML provider.
#[derive(Debug, Clone)]
pub struct SamlProviderInfo {
    pub arn: String,
    pub name: String,
    /// The identity provider's entity id (the assertions' `Issuer`).
    pub entity_id: String,
    /// Its signing certificates, base64 DER.
    pub certificates: Vec<String>,
    /// The metadata's `validUntil`, epoch seconds.
    pub valid_until: Option<f64>,
}

/// What STS needs to know about a role.
#[derive(Debug, Clone)]
pub struct RoleInfo {
    pub account: AccountId,
    pub role_id: String,
    pub name: String,
    pub path: String,
    pub arn: String,
    pub trust_policy: String,
    pub max_session_duration: i64,
    pub tags: Vec<(String, String)>,
}

impl RoleInfo {
    fn of(account: &AccountId, role: &state::Role) -> RoleInfo {
        RoleInfo {
            account: account.clone(),
            role_id: role.role_id.clone(),
            name: role.name.clone(),
            path: role.path.clone(),
            arn: rampart_core::iam_arn(account, "role", &role.path, &role.name),
            trust_policy: role.trust_policy.clone(),
            max_session_duration: role.max_session_duration,
            tags: role.tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect(),
        }
    }
}

pub struct Iam {
    thumbprint_probe: std::sync::OnceLock<Arc<dyn rampart_core::ThumbprintProbe>>,
    /// Other services' resource policies that follow principals (KMS).
    principal_followers: std::sync::OnceLock<Vec<Arc<dyn rampart_core::PrincipalFollower>>>,
    store: Store,
    sealer: Sealer,
    credentials: Arc<Credentials>,
    state: Arc<RwLock<State>>,
    /// Held from a mutation's checks until its change is applied.
    mutation: Arc<tokio::sync::Mutex<()>>,
    /// The last-used time of each key as last stored (see `flush_last_used`).
    last_used_flushed: Arc<parking_lot::Mutex<std::collections::HashMap<String, i64>>>,
    /// When each user and role last called each service (`note_use`): in
    /// memory, stored by the last-used task with the access keys' last use.
    last_access: last_accessed::LastAccess,
    /// Service last-accessed reports generated, newest last.
    access_jobs: parking_lot::Mutex<std::collections::VecDeque<last_accessed::AccessJob>>,
    /// Wrong MFA codes per device and wrong passwords per user, in memory.
    mfa_throttle: throttle::Throttle,
    password_throttle: throttle::Throttle,
}

/// Reads a typed input from the validated input tree.
pub(crate) fn parse_input<T: DeserializeOwned>(input: Value) -> Result<T, AwsError> {
    rampart_core::parse_input(ServiceId::Iam, input)
}

/// An input with no members that a handler reads (or members it ignores).
#[derive(serde::Deserialize)]
pub(crate) struct NoInput {}

/// The user a request names (found ignoring case), or the calling user when
/// it names none: its id and stored name. Other callers must name a user.
pub(crate) fn named_user(
    call: &Call,
    a: Option<&state::AccountState>,
    name: Option<&str>,
) -> Result<(String, String), AwsError> {
    match (name, &call.caller) {
        (Some(name), _) => {
            let user = a.and_then(|a| a.user(name)).ok_or_else(|| errors::no_such_user(name))?;
            Ok((user.user_id.clone(), user.name.clone()))
        }
        (None, Principal::User { user_id, name, .. }) => Ok((user_id.clone(), name.clone())),
        (None, _) => Err(errors::user_name_required()),
    }
}

pub(crate) fn now_seconds(call: &Call) -> f64 {
    (call.time_ms as f64 / 1000.0).floor()
}

/// A record to store. Serializing a record cannot fail (plain structs with
/// string keys); if it ever did, the call fails rather than storing nothing.
fn put<T: serde::Serialize>(
    kind: &'static str,
    account: &AccountId,
    key: &str,
    value: &T,
) -> Result<RecordWrite, AwsError> {
    let value = serde_json::to_string(value).map_err(|error| {
        tracing::error!(%error, kind, "a record could not be serialized");
        errors::service_failure()
    })?;
    Ok(RecordWrite::Put { kind, account: account.to_string(), key: key.to_string(), value })
}

fn delete(kind: &'static str, account: &AccountId, key: &str) -> RecordWrite {
    RecordWrite::Delete { kind, account: account.to_string(), key: key.to_string() }
}

impl Iam {
    pub fn new(store: Store, sealer: Sealer, credentials: Arc<Credentials>) -> Iam {
        Iam {
            store,
            sealer,
            credentials,
            state: Arc::new(RwLock::new(State::default())),
            mutation: Arc::new(tokio::sync::Mutex::new(())),
            last_used_flushed: Arc::default(),
            last_access: last_accessed::LastAccess::default(),
            access_jobs: parking_lot::Mutex::default(),
            mfa_throttle: throttle::Throttle::default(),
            password_throttle: throttle::Throttle::default(),
            thumbprint_probe: std::sync::OnceLock::new(),
            principal_followers: std::sync::OnceLock::new(),
        }
    }

    /// The services whose resource policies name principals by ARN (set
    /// once at start-up): deleting or renaming a user or role rewrites them
    /// in the same commit.
    pub fn set_principal_followers(&self, followers: Vec<Arc<dyn rampart_core::PrincipalFollower>>) {
        let _ = self.principal_followers.set(followers);
    }

    /// Every follower's change naming `from` by `to`; a follower busy with
    /// a change of its own makes the call fail with ConcurrentModification.
    pub(crate) fn follow_principal(&self, from: &str, to: &str) -> Result<Vec<rampart_core::Change>, AwsError> {
        let mut changes = Vec::new();
        for follower in self.principal_followers.get().into_iter().flatten() {
            match follower.follow(from, to) {
                Ok(Some(change)) => changes.push(change),
                Ok(None) => {}
                Err(rampart_core::Busy) => {
                    use rampart_wire::ExceptionId;
                    return Err(rampart_wire::IamException::ConcurrentModificationException
                        .error("A resource policy that names this principal is being changed. Try again."));
                }
            }
        }
        Ok(changes)
    }

    /// Where CreateOpenIDConnectProvider learns the thumbprint of a provider
    /// created without one (STS; set once at start-up).
    pub fn set_thumbprint_probe(&self, probe: Arc<dyn rampart_core::ThumbprintProbe>) {
        let _ = self.thumbprint_probe.set(probe);
    }

    /// Accounts that exist.
    pub fn accounts(&self) -> Vec<AccountId> {
        self.state.read().accounts.keys().cloned().collect()
    }

    /// Makes sure `account` exists and `access_key_id` is an active root key of
    /// it with this secret: the operator's configuration, applied at start-up
    /// and after a dev reset. The change (none when all is as configured) is
    /// recorded as IAM's own events, `CreateAccount` and `CreateAccessKey`.
    pub async fn bootstrap_root(
        &self,
        account: &AccountId,
        access_key_id: &str,
        secret: &Secret,
        now: f64,
    ) -> Result<Option<SystemChange>, String> {
        let guard = self.lock().await;
        let mut writes = Vec::new();
        let mut events = Vec::new();
        let exists = self.state.read().accounts.contains_key(account);
        let event = |name: &str, details: Value| ServiceEvent {
            source: ServiceId::Iam.event_source(),
            invoked_by: None,
            account: account.clone(),
            region: "us-east-1".to_string(),
            event_name: name.to_string(),
            read_only: false,
            resources: Vec::new(),
            details,
        };
        if !exists {
            writes.push(
                put(ACCOUNT_KIND, account, account.as_str(), &Account { create_date: now }).map_err(|e| e.message)?,
            );
            events.push(event("CreateAccount", serde_json::json!({ "reason": "bootstrap" })));
        }
        let current = self.credentials.get(access_key_id);
        let up_to_date = current.as_ref().is_some_and(|c| {
            c.secret.ct_eq(secret.expose()) && c.principal == Principal::Root { account: account.clone() } && c.active
        });
        // The same key id may be an old key of another account or user: replace it.
        let previous_owner =
            self.state.read().accounts.iter().find_map(|(a, s)| s.keys.contains_key(access_key_id).then(|| a.clone()));
        let previous_owner = previous_owner.filter(|o| o != account);
        if !up_to_date {
            let key = AccessKey {
                access_key_id: access_key_id.to_string(),
                user_id: None,
                active: true,
                create_date: now,
                created_ms: (now * 1000.0) as i64,
                sealed_secret: self
                    .sealer
                    .seal(secret.expose().as_bytes(), access_key_id)
                    .map_err(|e| e.to_string())?,
            };
            if let Some(owner) = &previous_owner {
                writes.push(delete(KEY_KIND, owner, access_key_id));
            }
            writes.push(put(KEY_KIND, account, access_key_id, &key).map_err(|e| e.message)?);
            let details = serde_json::json!({ "reason": "bootstrap", "accessKeyId": access_key_id });
            events.push(ServiceEvent {
                resources: vec![keys::key_resource(access_key_id)],
                ..event("CreateAccessKey", details)
            });
            let state = self.state.clone();
            let credentials = self.credentials.clone();
            let account = account.clone();
            let secret = secret.clone();
            let apply = Box::new(move || {
                let mut state = state.write();
                let account_state = state.accounts.entry(account.clone()).or_default();
                if !exists {
                    account_state.create_date = now;
                }
                account_state.keys.insert(key.access_key_id.clone(), key.clone());
                if let Some(s) = previous_owner.and_then(|owner| state.accounts.get_mut(&owner)) {
                    s.keys.remove(&key.access_key_id);
                }
                credentials
                    .insert(key.access_key_id.clone(), CredentialEntry::new(secret, Principal::Root { account }, true));
                drop(guard);
            });
            return Ok(Some(SystemChange { change: Change { writes, apply }, events }));
        }
        if writes.is_empty() {
            return Ok(None);
        }
        let state = self.state.clone();
        let account = account.clone();
        let apply = Box::new(move || {
            state.write().accounts.entry(account).or_default().create_date = now;
            drop(guard);
        });
        Ok(Some(SystemChange { change: Change { writes, apply }, events }))
    }

    /// Takes the mutation lock for a handler; pass the guard into `Change::apply`.
    pub(crate) async fn lock(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.mutation.clone().lock_owned().await
    }

    /// Every stored record of `kind`, parsed, with its account and key.
    fn scan<T: DeserializeOwned>(&self, kind: &str) -> Result<Vec<(AccountId, String, T)>, String> {
        let mut out = Vec::new();
        for record in self.store.scan(kind).map_err(|e| e.to_string())? {
            let Some(account) = AccountId::parse(&record.account) else { continue };
            let value = serde_json::from_str(&record.value).map_err(|e| format!("{kind} {}: {e}", record.key))?;
            out.push((account, record.key, value));
        }
        Ok(out)
    }

    fn load_state(&self) -> Result<(), String> {
        let mut state = State::default();
        for (account, _, stored) in self.scan::<Account>(ACCOUNT_KIND)? {
            state.accounts.entry(account).or_default().create_date = stored.create_date;
        }
        for (account, _, user) in self.scan::<User>(USER_KIND)? {
            state.accounts.entry(account).or_default().users.insert(user.name.to_lowercase(), user);
        }
        self.credentials.clear();
        for (account, _, key) in self.scan::<AccessKey>(KEY_KIND)? {
            let account_state = state.accounts.entry(account.clone()).or_default();
            let principal = match &key.user_id {
                None => Some(Principal::Root { account: account.clone() }),
                Some(id) => account_state.user_by_id(id).map(|u| u.principal(&account)),
            };
            let secret = self
                .sealer
                .open(&key.sealed_secret, &key.access_key_id)
                .map_err(|e| format!("access key {}: {e}", key.access_key_id))?;
            let secret = Secret::new(String::from_utf8_lossy(&secret).into_owned());
            if let Some(principal) = principal {
                self.credentials.insert(key.access_key_id.clone(), CredentialEntry::new(secret, principal, key.active));
            }
            account_state.keys.insert(key.access_key_id.clone(), key);
        }
        let mut flushed = self.last_used_flushed.lock();
        flushed.clear();
        for (_, akid, used) in self.scan::<state::StoredLastUsed>(LAST_USED_KIND)? {
            if let Some(entry) = self.credentials.get(&akid) {
                entry.record_use(used.time_ms, &used.service, &used.region);
                flushed.insert(akid, used.time_ms);
            }
        }
        drop(flushed);
        self.last_access.load(self.scan::<state::StoredLastUsed>(state::SERVICE_LAST_USED_KIND)?);

        for (account, _, policy) in self.scan::<state::InlinePolicy>(POLICY_KIND)? {
            state.accounts.entry(account).or_default().inline_policies.insert(policy.key(), policy);
        }
        for (account, _, group) in self.scan::<state::Group>(GROUP_KIND)? {
            state.accounts.entry(account).or_default().groups.insert(group.name.to_lowercase(), group);
        }
        for (account, _, role) in self.scan::<state::Role>(ROLE_KIND)? {
            state.accounts.entry(account).or_default().roles.insert(role.name.to_lowercase(), role);
        }
        for (account, _, profile) in self.scan::<state::InstanceProfile>(INSTANCE_PROFILE_KIND)? {
            state.accounts.entry(account).or_default().instance_profiles.insert(profile.name.to_lowercase(), profile);
        }
        for (account, _, device) in self.scan::<state::MfaDevice>(MFA_KIND)? {
            state.accounts.entry(account).or_default().mfa_devices.insert(device.serial.clone(), device);
        }
        for (account, _, profile) in self.scan::<state::LoginProfile>(LOGIN_PROFILE_KIND)? {
            state.accounts.entry(account).or_default().login_profiles.insert(profile.user_id.clone(), profile);
        }
        for (account, _, provider) in self.scan::<state::OidcProvider>(OIDC_PROVIDER_KIND)? {
            state.accounts.entry(account).or_default().oidc_providers.insert(provider.arn.clone(), provider);
        }
        for (account, _, provider) in self.scan::<state::SamlProvider>(SAML_PROVIDER_KIND)? {
            state.accounts.entry(account).or_default().saml_providers.insert(provider.arn.clone(), provider);
        }
        for (account, _, credential) in self.scan::<state::ServiceCredential>(SERVICE_CREDENTIAL_KIND)? {
            state.accounts.entry(account).or_default().service_credentials.insert(credential.id.clone(), credential);
        }
        for (account, _, key) in self.scan::<state::SshKey>(state::SSH_KEY_KIND)? {
            state.accounts.entry(account).or_default().ssh_keys.insert(key.id.clone(), key);
        }
        for (account, _, certificate) in self.scan::<state::SigningCertificate>(state::SIGNING_CERTIFICATE_KIND)? {
            state.accounts.entry(account).or_default().signing_certificates.insert(certificate.id.clone(), certificate);
        }
        for (account, _, certificate) in self.scan::<state::ServerCertificate>(state::SERVER_CERTIFICATE_KIND)? {
            let a = state.accounts.entry(account).or_default();
            a.server_certificates.insert(certificate.name.to_lowercase(), certificate);
        }
        for (account, _, settings) in self.scan::<state::AccountSettings>(SETTINGS_KIND)? {
            state.accounts.entry(account).or_default().settings = settings;
        }
        for (account, arn, policy) in self.scan::<state::ManagedPolicy>(MANAGED_KIND)? {
            state.accounts.entry(account).or_default().managed.insert(arn, policy);
        }
        let accounts: Vec<AccountId> = state.accounts.keys().cloned().collect();
        for account in &accounts {
            policies::recompile_account(&mut state, account);
        }
        *self.state.write() = state;
        Ok(())
    }

    /// The compiled policies of a principal (a role session: its role's),
    /// from memory (never the disk). `None` for the account root, which
    /// policies do not restrict.
    pub fn policies_of(&self, principal: &Principal) -> Option<Arc<PrincipalPolicies>> {
        let id = match principal {
            Principal::Root { .. } => return None,
            Principal::User { user_id, .. } | Principal::FederatedUser { user_id, .. } => user_id,
            Principal::AssumedRole { role_id, .. } => role_id,
            // An identity provider's subject has no policies of its own.
            Principal::Federated(_) => return Some(Arc::default()),
        };
        Some(self.state.read().compiled.get(id).cloned().unwrap_or_default())
    }

    /// Whether the user or the session's role behind `principal` still exists
    /// (temporary credentials outlive neither; this also closes the window in
    /// which a session is opened just as its role is deleted).
    pub fn is_current(&self, principal: &Principal) -> bool {
        let compiled = &self.state.read().compiled;
        match principal {
            Principal::Root { .. } | Principal::Federated(_) => true,
            Principal::User { user_id, .. } | Principal::FederatedUser { user_id, .. } => {
                compiled.contains_key(user_id)
            }
            Principal::AssumedRole { role_id, .. } => compiled.contains_key(role_id),
        }
    }

    /// The tags of a user, or of a session's role, for `aws:PrincipalTag/*`.
    pub fn principal_tags(&self, principal: &Principal) -> Vec<(String, String)> {
        let state = self.state.read();
        let a = state.accounts.get(principal.account());
        let tags = match principal {
            Principal::Root { .. } => None,
            Principal::User { user_id, .. } => a.and_then(|a| a.user_by_id(user_id)).map(|u| &u.tags),
            Principal::AssumedRole { role_id, .. } => a.and_then(|a| a.role_by_id(role_id)).map(|r| &r.tags),
            // A federated user's tags are its session tags only.
            Principal::FederatedUser { .. } | Principal::Federated(_) => None,
        };
        tags.map(|t| t.iter().map(|t| (t.key.clone(), t.value.clone())).collect()).unwrap_or_default()
    }

    /// Notes that `principal` (a user, or a session of a role) authenticated
    /// a call to `service` (access advisor and GetRole's `RoleLastUsed`).
    pub fn note_use(&self, principal: &Principal, service: &str, time_ms: i64, region: &str) {
        let entity = match principal {
            Principal::User { user_id, .. } => user_id,
            Principal::AssumedRole { role_id, .. } => role_id,
            Principal::Root { .. } | Principal::FederatedUser { .. } | Principal::Federated(_) => return,
        };
        self.last_access.note(entity, service, time_ms, region, principal.account());
    }

    /// Notes that `principal` attempted `service:action` (action-level
    /// access advisor data, kept beside the service's as `service:Action`).
    pub fn note_action_use(&self, principal: &Principal, service: &str, action: &str, time_ms: i64, region: &str) {
        self.note_use(principal, &format!("{service}:{action}"), time_ms, region);
    }

    /// GetRole's `RoleLastUsed`: `{}` for a role no session has used.
    pub(crate) fn role_last_used_json(&self, role_id: &str) -> Value {
        match self.last_access.latest(role_id) {
            Some(used) => {
                serde_json::json!({ "LastUsedDate": (used.time_ms / 60_000 * 60) as f64, "Region": used.region })
            }
            None => serde_json::json!({}),
        }
    }

    /// The OpenID Connect provider of `account` whose issuer is
    /// `https://{issuer}`, for web identity federation.
    pub fn oidc_provider(&self, account: &AccountId, issuer: &str) -> Option<OidcProviderInfo> {
        let arn = format!("arn:aws:iam::{account}:oidc-provider/{issuer}");
        let state = self.state.read();
        let provider = state.accounts.get(account)?.oidc_providers.get(&arn)?;
        Some(OidcProviderInfo {
            arn: provider.arn.clone(),
            client_ids: provider.client_ids.clone(),
            thumbprints: provider.thumbprints.clone(),
        })
    }

    /// The SAML provider an ARN names, for SAML federation.
    pub fn saml_provider(&self, arn: &str) -> Option<SamlProviderInfo> {
        let account = rampart_core::Arn::parse(arn)?.account_id()?;
        let state = self.state.read();
        let provider = state.accounts.get(&account)?.saml_providers.get(arn)?;
        Some(SamlProviderInfo {
            arn: provider.arn.clone(),
            name: provider.name.clone(),
            entity_id: provider.entity_id.clone(),
            certificates: provider.certificates.clone(),
            valid_until: provider.valid_until,
        })
    }

    /// The role an ARN names (`arn:aws:iam::ACCOUNT:role/PATH/NAME`), for STS.
    pub fn role_by_arn(&self, arn: &str) -> Option<RoleInfo> {
        let arn = rampart_core::Arn::parse(arn)
            .filter(|a| a.partition == "aws" && a.service == "iam" && a.region.is_empty())?;
        let account = arn.account_id()?;
        let state = self.state.read();
        let resource = arn.resource.as_str();
        let role =
            state.accounts.get(&account)?.roles.values().find(|r| format!("role{}{}", r.path, r.name) == resource)?;
        Some(RoleInfo::of(&account, role))
    }

    /// The user with this unique id as a principal, as it is now.
    pub fn user_principal(&self, account: &AccountId, user_id: &str) -> Option<Principal> {
        let state = self.state.read();
        state.accounts.get(account)?.user_by_id(user_id).map(|u| u.principal(account))
    }

    /// The account that holds the long-term access key `access_key_id`.
    pub fn key_account(&self, access_key_id: &str) -> Option<AccountId> {
        let state = self.state.read();
        state.accounts.iter().find_map(|(account, a)| a.keys.contains_key(access_key_id).then(|| account.clone()))
    }

    /// The role with this unique id, as it is now (a session's role).
    pub fn role_by_id(&self, account: &AccountId, role_id: &str) -> Option<RoleInfo> {
        let state = self.state.read();
        state.accounts.get(account)?.role_by_id(role_id).map(|r| RoleInfo::of(account, r))
    }

    /// The document of a managed policy (the account's own or AWS's), for
    /// session policies passed by ARN.
    pub fn managed_policy_document(&self, account: &AccountId, arn: &str) -> Option<String> {
        let state = self.state.read();
        let empty = state::AccountState::default();
        attachments::document_of(state.accounts.get(account).unwrap_or(&empty), arn).map(str::to_string)
    }

    /// Stores the account's settings after `edit` (the password policy, the alias).
    pub(crate) async fn edit_settings(
        &self,
        call: &Call,
        edit: impl FnOnce(&State, &mut state::AccountSettings) -> Result<(), AwsError>,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let settings = {
            let state = self.state.read();
            let mut settings = state.accounts.get(&account).map(|a| a.settings.clone()).unwrap_or_default();
            edit(&state, &mut settings)?;
            settings
        };
        let writes = vec![put(SETTINGS_KIND, &account, account.as_str(), &settings)?];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            state.accounts.entry(account).or_default().settings = settings;
        });
        Ok(Outcome { output: serde_json::json!({}), resources: Vec::new(), change: Some(change) })
    }

    /// A change that writes `writes` and then runs `apply` on the state, holding `guard`.
    pub(crate) fn change(
        &self,
        guard: tokio::sync::OwnedMutexGuard<()>,
        writes: Vec<RecordWrite>,
        apply: impl FnOnce(&mut State, &Credentials) + Send + 'static,
    ) -> Change {
        let state = self.state.clone();
        let credentials = self.credentials.clone();
        Change {
            writes,
            apply: Box::new(move || {
                apply(&mut state.write(), &credentials);
                drop(guard);
            }),
        }
    }
}

impl Service for Iam {
    fn id(&self) -> ServiceId {
        ServiceId::Iam
    }

    fn operation(&self, name: &str) -> Option<&OperationMeta> {
        registry::registry().meta(name)
    }

    fn access(&self, call: &Call, input: &Value) -> Access {
        Iam::access(self, call, input)
    }

    fn handle<'a>(&'a self, call: &'a Call, input: Value) -> BoxFuture<'a, Result<Outcome, AwsError>> {
        registry::registry().dispatch(self, call, input)
    }

    /// Access keys' last use, noted in memory by authentication, is stored
    /// every minute and at shutdown.
    fn tasks(self: Arc<Self>) -> Vec<Task> {
        let iam = self;
        let run: TaskRun = Arc::new(move || {
            let iam = iam.clone();
            Box::pin(async move { iam.flush_last_used().await })
        });
        vec![Task { name: "iam-flush-last-used", period: std::time::Duration::from_secs(60), at_shutdown: true, run }]
    }

    /// IAM's largest input is a policy document of 131,072 characters, which
    /// form-encoded takes at most 1.5 MiB (12 bytes a character: `%XX` for
    /// each of up to four UTF-8 bytes).
    fn max_body_bytes(&self) -> usize {
        2 * 1024 * 1024
    }

    fn load(&self) -> Result<(), String> {
        self.load_state()
    }

    fn reseal(&self) -> Result<Vec<RecordWrite>, String> {
        reseal::writes(&self.store, &self.sealer)
    }
}
