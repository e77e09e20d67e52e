//! The account as a whole: its alias (Create/Delete/ListAccountAliases),
//! SetSecurityTokenServicePreferences, and GetAccountSummary's counts and quotas.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use rampart_core::{AwsError, Call, Outcome};
use rampart_wire::{ExceptionId, IamException};

use crate::state::AccountState;
use crate::Iam;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AliasInput {
    account_alias: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StsPreferencesInput {
    global_endpoint_token_version: String,
}

/// IAM's quotas as GetAccountSummary reports them (AWS's IAM quotas page);
/// the ones Rampart enforces are the handlers' own constants.
const QUOTAS: &[(&str, u64)] = &[
    ("UsersQuota", 5000),
    ("GroupsQuota", crate::groups::GROUPS_PER_ACCOUNT as u64),
    ("RolesQuota", crate::roles::ROLES_PER_ACCOUNT as u64),
    ("PoliciesQuota", crate::managed::POLICIES_PER_ACCOUNT as u64),
    ("InstanceProfilesQuota", 1000),
    ("ServerCertificatesQuota", crate::certificates::SERVER_CERTIFICATES_PER_ACCOUNT as u64),
    ("AccessKeysPerUserQuota", 2),
    ("SigningCertificatesPerUserQuota", 2),
    ("GroupsPerUserQuota", 10),
    ("AttachedPoliciesPerUserQuota", 10),
    ("AttachedPoliciesPerGroupQuota", 10),
    ("AttachedPoliciesPerRoleQuota", 10),
    ("UserPolicySizeQuota", 2048),
    ("GroupPolicySizeQuota", 5120),
    ("RolePolicySizeQuota", 10240),
    ("AssumeRolePolicySizeQuota", 2048),
    ("PolicySizeQuota", 6144),
    ("VersionsPerPolicyQuota", 5),
    ("PolicyVersionsInUseQuota", 10000),
];

/// The counts GetAccountSummary reports, from the account's state.
pub(crate) fn summary(a: &AccountState) -> Map<String, Value> {
    let mut map = Map::new();
    let count = |n: usize| json!(n);
    map.insert("Users".into(), count(a.users.len()));
    map.insert("Groups".into(), count(a.groups.len()));
    map.insert("Roles".into(), count(a.roles.len()));
    map.insert("Policies".into(), count(a.managed.len()));
    map.insert("InstanceProfiles".into(), count(a.instance_profiles.len()));
    map.insert("ServerCertificates".into(), count(a.server_certificates.len()));
    map.insert("Providers".into(), count(a.oidc_providers.len() + a.saml_providers.len()));
    map.insert("MFADevices".into(), count(a.mfa_devices.len()));
    map.insert("MFADevicesInUse".into(), count(a.mfa_devices.values().filter(|d| d.user_id.is_some()).count()));
    // The root signs in with keys only: it has no password.
    let root_mfa = a.mfa_devices_of(crate::mfa::ROOT_OWNER).next().is_some();
    map.insert("AccountMFAEnabled".into(), json!(u8::from(root_mfa)));
    map.insert("AccountPasswordPresent".into(), json!(0));
    map.insert("AccountAccessKeysPresent".into(), json!(u8::from(!a.keys_of(None).is_empty())));
    map.insert("AccountSigningCertificatesPresent".into(), json!(0));
    let versions: usize = a.managed.values().map(|p| p.versions.len()).sum();
    map.insert("PolicyVersionsInUse".into(), count(versions));
    map.insert("GlobalEndpointTokenVersion".into(), json!(a.settings.global_endpoint_token_version.unwrap_or(1)));
    for (name, quota) in QUOTAS {
        map.insert((*name).into(), json!(quota));
    }
    map
}

impl Iam {
    pub(crate) async fn create_account_alias(&self, call: &Call, input: AliasInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let alias = input.account_alias;
        self.edit_settings(call, |state, settings| {
            let taken =
                state.accounts.iter().any(|(id, a)| *id != account && a.settings.alias.as_deref() == Some(&alias));
            if taken {
                return Err(IamException::EntityAlreadyExistsException
                    .error(format!("The account alias {alias} already exists.")));
            }
            settings.alias = Some(alias);
            Ok(())
        })
        .await
    }

    pub(crate) async fn delete_account_alias(&self, call: &Call, input: AliasInput) -> Result<Outcome, AwsError> {
        let alias = input.account_alias;
        self.edit_settings(call, |_, settings| {
            if settings.alias.as_deref() != Some(alias.as_str()) {
                return Err(
                    IamException::NoSuchEntityException.error(format!("The account alias {alias} cannot be found."))
                );
            }
            settings.alias = None;
            Ok(())
        })
        .await
    }

    pub(crate) async fn set_sts_preferences(
        &self,
        call: &Call,
        input: StsPreferencesInput,
    ) -> Result<Outcome, AwsError> {
        // The model's enum: the wire layer has refused anything else.
        let version = if input.global_endpoint_token_version == "v2Token" { 2 } else { 1 };
        self.edit_settings(call, |_, settings| {
            settings.global_endpoint_token_version = Some(version);
            Ok(())
        })
        .await
    }

    pub(crate) fn list_account_aliases(&self, call: &Call, _: crate::NoInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let alias = state.accounts.get(call.caller.account()).and_then(|a| a.settings.alias.clone());
        Ok(Outcome::read(json!({ "AccountAliases": alias.into_iter().collect::<Vec<_>>(), "IsTruncated": false })))
    }

    pub(crate) fn get_account_summary(&self, call: &Call, _: crate::NoInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let empty = AccountState::default();
        let a = state.accounts.get(call.caller.account()).unwrap_or(&empty);
        Ok(Outcome::read(json!({ "SummaryMap": summary(a) })))
    }
}
