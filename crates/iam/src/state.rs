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
pub(crate) const INSTANCE_PROFILE_KIND: &str = "iam-instance-profile";

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
    pub inline_policies: BTreeMap<String, crate::policies::InlinePolicy>,
    /// Customer managed policies by ARN.
    pub managed: BTreeMap<String, crate::managed::ManagedPolicy>,
    /// Groups by lower-cased name.
    pub groups: BTreeMap<String, crate::groups::Group>,
    /// Roles by lower-cased name.
    pub roles: BTreeMap<String, crate::roles::Role>,
    /// Instance profiles by lower-cased name.
    pub instance_profiles: BTreeMap<String, crate::instance_profiles::InstanceProfile>,
}

impl AccountState {
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(&name.to_lowercase())
    }

    pub fn role(&self, name: &str) -> Option<&crate::roles::Role> {
        self.roles.get(&name.to_lowercase())
    }

    pub fn instance_profile(&self, name: &str) -> Option<&crate::instance_profiles::InstanceProfile> {
        self.instance_profiles.get(&name.to_lowercase())
    }

    pub fn group(&self, name: &str) -> Option<&crate::groups::Group> {
        self.groups.get(&name.to_lowercase())
    }

    pub fn role_by_id(&self, role_id: &str) -> Option<&crate::roles::Role> {
        self.roles.values().find(|r| r.role_id == role_id)
    }

    pub fn user_by_id(&self, user_id: &str) -> Option<&User> {
        self.users.values().find(|u| u.user_id == user_id)
    }

    /// Keys of a user (`Some(id)`) or of the root (`None`), oldest first.
    pub fn keys_of(&self, user_id: Option<&str>) -> Vec<&AccessKey> {
        let mut keys: Vec<&AccessKey> = self.keys.values().filter(|k| k.user_id.as_deref() == user_id).collect();
        keys.sort_by(|a, b| a.create_date.total_cmp(&b.create_date).then(a.access_key_id.cmp(&b.access_key_id)));
        keys
    }
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub accounts: HashMap<AccountId, AccountState>,
    /// Compiled policies per user id: what authorization reads.
    pub compiled: crate::policies::Compiled,
}
