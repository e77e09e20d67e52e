//! IAM's state: what is stored (serde records) and the in-memory indexes.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use rampart_core::{AccountId, Principal};

/// Record kinds this service owns in the store.
pub(crate) const USER_KIND: &str = "iam-user";
pub(crate) const KEY_KIND: &str = "iam-access-key";
pub(crate) const ACCOUNT_KIND: &str = "account";
pub(crate) const POLICY_KIND: &str = "iam-user-policy";
pub(crate) const MANAGED_KIND: &str = "iam-managed-policy";
pub(crate) const GROUP_KIND: &str = "iam-group";
pub(crate) const ROLE_KIND: &str = "iam-role";
pub(crate) const LAST_USED_KIND: &str = "iam-key-last-used";
/// When a user or role last called a service, keyed `ENTITY_ID/SERVICE`.
pub(crate) const SERVICE_LAST_USED_KIND: &str = "iam-service-last-used";
pub(crate) const INSTANCE_PROFILE_KIND: &str = "iam-instance-profile";
pub(crate) const MFA_KIND: &str = "iam-mfa-device";
pub(crate) const LOGIN_PROFILE_KIND: &str = "iam-login-profile";
/// The account's settings: password policy and alias (one record per account).
pub(crate) const SETTINGS_KIND: &str = "iam-account-settings";
pub(crate) const OIDC_PROVIDER_KIND: &str = "iam-oidc-provider";
pub(crate) const SAML_PROVIDER_KIND: &str = "iam-saml-provider";
pub(crate) const SERVICE_CREDENTIAL_KIND: &str = "iam-service-credential";
pub(crate) const SSH_KEY_KIND: &str = "iam-ssh-public-key";
pub(crate) const SIGNING_CERTIFICATE_KIND: &str = "iam-signing-certificate";
pub(crate) const SERVER_CERTIFICATE_KIND: &str = "iam-server-certificate";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct User {
    pub user_id: String,
    pub name: String,
    pub path: String,
    /// Epoch seconds.
    pub create_date: f64,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub permissions_boundary: Option<String>,
    /// ARNs of attached managed policies.
    #[serde(default)]
    pub attached: Vec<String>,
}

impl User {
    pub fn principal(&self, account: &AccountId) -> Principal {
        Principal::User {
            account: account.clone(),
            user_id: self.user_id.clone(),
            name: self.name.clone(),
            path: self.path.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AccessKey {
    pub access_key_id: String,
    /// The owning user's id; `None` for the account root's keys.
    pub user_id: Option<String>,
    pub active: bool,
    pub create_date: f64,
    /// Creation in milliseconds, which orders keys made in the same second
    /// (0 for keys stored before it was kept).
    #[serde(default)]
    pub created_ms: i64,
    /// The secret, sealed (`Sealer::seal`) with the access key id as context.
    pub sealed_secret: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Account {
    pub create_date: f64,
}

#[derive(Debug, Default)]
pub(crate) struct AccountState {
    pub create_date: f64,
    /// By lower-cased name: IAM names are unique ignoring case, and lists are sorted.
    pub users: BTreeMap<String, User>,
    pub keys: HashMap<String, AccessKey>,
    /// Inline policies of users and groups by `owner_id/lower-cased name`.
    pub inline_policies: BTreeMap<String, crate::state::InlinePolicy>,
    /// Customer managed policies by ARN.
    pub managed: BTreeMap<String, crate::state::ManagedPolicy>,
    /// Groups by lower-cased name.
    pub groups: BTreeMap<String, crate::state::Group>,
    /// Roles by lower-cased name.
    pub roles: BTreeMap<String, crate::state::Role>,
    /// Instance profiles by lower-cased name.
    pub instance_profiles: BTreeMap<String, crate::state::InstanceProfile>,
    /// MFA devices by serial number.
    pub mfa_devices: BTreeMap<String, MfaDevice>,
    /// Login profiles by user id.
    pub login_profiles: HashMap<String, LoginProfile>,
    pub settings: AccountSettings,
    /// OpenID Connect and SAML providers by ARN.
    pub oidc_providers: BTreeMap<String, OidcProvider>,
    pub saml_providers: BTreeMap<String, SamlProvider>,
    /// Service-specific credentials by id.
    pub service_credentials: BTreeMap<String, ServiceCredential>,
    /// Users' SSH public keys and signing certificates by id.
    pub ssh_keys: BTreeMap<String, SshKey>,
    pub signing_certificates: BTreeMap<String, SigningCertificate>,
    /// Server certificates by lower-cased name.
    pub server_certificates: BTreeMap<String, ServerCertificate>,
}

impl AccountState {
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(&name.to_lowercase())
    }

    pub fn role(&self, name: &str) -> Option<&crate::state::Role> {
        self.roles.get(&name.to_lowercase())
    }

    pub fn instance_profile(&self, name: &str) -> Option<&crate::state::InstanceProfile> {
        self.instance_profiles.get(&name.to_lowercase())
    }

    pub fn group(&self, name: &str) -> Option<&crate::state::Group> {
        self.groups.get(&name.to_lowercase())
    }

    pub fn role_by_id(&self, role_id: &str) -> Option<&crate::state::Role> {
        self.roles.values().find(|r| r.role_id == role_id)
    }

    pub fn user_by_id(&self, user_id: &str) -> Option<&User> {
        self.users.values().find(|u| u.user_id == user_id)
    }

    /// The MFA devices assigned to a user, by serial number.
    pub fn mfa_devices_of<'a>(&'a self, user_id: &'a str) -> impl Iterator<Item = &'a MfaDevice> + 'a {
        self.mfa_devices.values().filter(move |d| d.user_id.as_deref() == Some(user_id))
    }

    /// Keys of a user (`Some(id)`) or of the root (`None`), oldest first.
    pub fn keys_of(&self, user_id: Option<&str>) -> Vec<&AccessKey> {
        let mut keys: Vec<&AccessKey> = self.keys.values().filter(|k| k.user_id.as_deref() == user_id).collect();
        keys.sort_by(|a, b| {
            let by_time = a.create_date.total_cmp(&b.create_date).then(a.created_ms.cmp(&b.created_ms));
            by_time.then(a.access_key_id.cmp(&b.access_key_id))
        });
        keys
    }
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub accounts: HashMap<AccountId, AccountState>,
    /// Compiled policies per user id: what authorization reads.
    pub compiled: crate::policies::Compiled,
}

// The records of groups, roles, instance profiles and policies (with users'
// and keys' above): every handler module reads them from here, never from a
// sibling.

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Group {
    pub group_id: String,
    pub name: String,
    pub path: String,
    pub create_date: f64,
    /// User ids.
    #[serde(default)]
    pub members: Vec<String>,
    /// ARNs of attached managed policies.
    #[serde(default)]
    pub attached: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Role {
    pub role_id: String,
    pub name: String,
    pub path: String,
    pub create_date: f64,
    pub trust_policy: String,
    pub description: Option<String>,
    pub max_session_duration: i64,
    #[serde(default)]
    pub permissions_boundary: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub attached: Vec<String>,
}

/// Where service-linked roles live: `/aws-service-role/<service>/`.
pub(crate) const SERVICE_ROLE_PATH: &str = "/aws-service-role/";

impl Role {
    /// A service-linked role: its trust, permissions and boundary are the service's.
    pub fn is_service_linked(&self) -> bool {
        self.path.starts_with(SERVICE_ROLE_PATH)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct InstanceProfile {
    pub instance_profile_id: String,
    pub name: String,
    pub path: String,
    pub create_date: f64,
    /// Role ids (at most `ROLES_PER_INSTANCE_PROFILE`).
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct InlinePolicy {
    /// The id of the user or group the policy is embedded in.
    pub owner_id: String,
    pub name: String,
    pub document: String,
}

impl InlinePolicy {
    pub fn key(&self) -> String {
        policy_key(&self.owner_id, &self.name)
    }
}

pub(crate) fn policy_key(owner_id: &str, name: &str) -> String {
    format!("{owner_id}/{}", name.to_lowercase())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PolicyVersion {
    /// `v1`, `v2`, …
    pub id: String,
    pub document: String,
    pub create_date: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ManagedPolicy {
    pub policy_id: String,
    pub name: String,
    pub path: String,
    pub description: Option<String>,
    pub create_date: f64,
    /// Oldest first; never empty.
    pub versions: Vec<PolicyVersion>,
    pub default_version: String,
    /// The number of the last version created (ids are never reused).
    pub last_version: u32,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl ManagedPolicy {
    pub fn arn(&self, account: &AccountId) -> String {
        rampart_core::iam_arn(account, "policy", &self.path, &self.name)
    }

    /// The default version's document: the one that applies.
    pub fn document(&self) -> &str {
        self.versions.iter().find(|v| v.id == self.default_version).map(|v| v.document.as_str()).unwrap_or_default()
    }

    pub(crate) fn update_date(&self) -> f64 {
        self.versions.iter().map(|v| v.create_date).fold(self.create_date, f64::max)
    }
}

/// A virtual MFA device. Its seed is stored sealed (`Sealer::seal`, with the
/// serial number as context) and is never returned after CreateVirtualMFADevice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct MfaDevice {
    /// The device's ARN, `arn:aws:iam::ACCOUNT:mfa/PATH/NAME`.
    pub serial: String,
    pub create_date: f64,
    pub sealed_seed: String,
    /// The user the device is enabled for.
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub enable_date: Option<f64>,
    /// The last time step whose code was accepted: a code of it or of an
    /// earlier step is refused, so each code works once.
    #[serde(default)]
    pub last_step: i64,
    /// How many steps the device's clock is ahead of Rampart's (set by
    /// EnableMFADevice and ResyncMFADevice).
    #[serde(default)]
    pub drift: i64,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// A hardware TOTP token the operator registered (`rampart serve
    /// --hardware-mfa-tokens`), named by its vendor serial number, not a
    /// virtual device: never listed or deleted as one.
    #[serde(default)]
    pub hardware: bool,
}

/// A user's console password: an argon2id hash (PHC string), never the password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LoginProfile {
    pub user_id: String,
    pub create_date: f64,
    pub password_hash: String,
    /// When the password was last set (for MaxPasswordAge).
    pub password_changed: f64,
    pub password_reset_required: bool,
    /// Hashes of earlier passwords, newest first, for PasswordReusePrevention.
    #[serde(default)]
    pub history: Vec<String>,
    /// The last successful sign-in (`PasswordLastUsed`).
    #[serde(default)]
    pub last_used: Option<f64>,
}

/// UpdateAccountPasswordPolicy's settings as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PasswordPolicy {
    pub minimum_length: u32,
    pub require_symbols: bool,
    pub require_numbers: bool,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    pub allow_users_to_change: bool,
    /// Days; `None` when passwords never expire.
    pub max_age_days: Option<u32>,
    /// How many earlier passwords may not be reused; `None` for none.
    pub reuse_prevention: Option<u32>,
    pub hard_expiry: Option<bool>,
}

impl PasswordPolicy {
    /// When a password set at `changed` expires (epoch seconds), if the
    /// policy sets a maximum age.
    pub fn expiry_of(&self, changed: f64) -> Option<f64> {
        self.max_age_days.map(|days| changed + f64::from(days) * 86_400.0)
    }
}

/// The account-wide settings IAM keeps, one record per account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct AccountSettings {
    #[serde(default)]
    pub password_policy: Option<PasswordPolicy>,
    #[serde(default)]
    pub alias: Option<String>,
    /// When the last credential report was generated (epoch seconds), and its CSV.
    #[serde(default)]
    pub credential_report: Option<(f64, String)>,
    /// SetSecurityTokenServicePreferences: session tokens from the global
    /// endpoint valid in every region (version 2) or only in default ones (1).
    #[serde(default)]
    pub global_endpoint_token_version: Option<u8>,
    /// DeleteServiceLinkedRole's task ids (all succeeded), oldest first.
    #[serde(default)]
    pub deletion_tasks: Vec<String>,
    /// EnableOutboundWebIdentityFederation: the account's token issuer.
    #[serde(default)]
    pub outbound_issuer: Option<String>,
    /// The issuer's signing keys, sealed (`outbound`).
    #[serde(default)]
    pub outbound_keys: Vec<crate::outbound::OutboundKey>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OidcProvider {
    pub arn: String,
    /// The issuer URL without `https://`.
    pub url: String,
    pub client_ids: Vec<String>,
    pub thumbprints: Vec<String>,
    pub create_date: f64,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SamlProvider {
    pub arn: String,
    pub name: String,
    /// The metadata document as uploaded, and what was read from it.
    pub metadata: String,
    pub entity_id: String,
    /// The identity provider's signing certificates, base64 DER.
    pub certificates: Vec<String>,
    pub valid_until: Option<f64>,
    pub uuid: String,
    pub create_date: f64,
    #[serde(default)]
    pub assertion_encryption_mode: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A service-specific credential; its password only as an argon2id hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ServiceCredential {
    pub id: String,
    pub user_id: String,
    pub service_name: String,
    pub service_user_name: String,
    pub password_hash: String,
    pub create_date: f64,
    pub expiration_date: Option<f64>,
    pub active: bool,
}

/// An SSH public key (RSA), kept as its OpenSSH blob and SubjectPublicKeyInfo, base64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SshKey {
    pub id: String,
    pub user_id: String,
    pub blob: String,
    pub spki: String,
    pub fingerprint: String,
    pub active: bool,
    pub upload_date: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SigningCertificate {
    pub id: String,
    pub user_id: String,
    /// The PEM body as uploaded.
    pub body: String,
    pub active: bool,
    pub upload_date: f64,
}

/// A server certificate; its private key sealed with the certificate id as context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ServerCertificate {
    pub id: String,
    pub name: String,
    pub path: String,
    pub body: String,
    pub chain: Option<String>,
    pub sealed_private_key: String,
    pub upload_date: f64,
    /// The certificate's notAfter, epoch seconds.
    pub expiration: f64,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// When each access key was last used, as stored. Authentication notes uses in
/// memory (it never writes); a background flush stores what changed, so a
/// restart keeps GetAccessKeyLastUsed's answers (less the last interval's after
/// a crash; AWS too reports last use with a delay).
/// (Also a user's or role's last call to a service: `SERVICE_LAST_USED_KIND`.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredLastUsed {
    pub time_ms: i64,
    pub service: String,
    pub region: String,
}
