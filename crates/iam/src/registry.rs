//! Every IAM operation Rampart serves: its handler, whether it only reads,
//! and which resource it acts on (`access::Rule`), in one entry. What IAM
//! does not serve yet is listed in `unserved.txt`; a test checks that the two
//! lists together are the model.

use std::sync::LazyLock;

use rampart_core::{Handler, Operation, Registry};
use rampart_wire::IamOperation as O;

use crate::access::Rule::{self, *};
use crate::policies::OwnerKind;
use crate::Iam;

pub(crate) type IamRegistry = Registry<Iam, O, Rule>;

/// A handler that reads its typed input and runs `Iam::$method`.
macro_rules! handler {
    (async $method:ident $(, $arg:expr)*) => {
        |iam, call, input| Box::pin(async move { iam.$method(call, $($arg,)* crate::parse_input(input)?).await })
    };
    ($method:ident $(, $arg:expr)*) => {
        |iam, call, input| Box::pin(async move { iam.$method(call, $($arg,)* crate::parse_input(input)?) })
    };
}

// Credentials from GetSessionToken without MFA may call no IAM operation.
fn read(operation: O, rule: Rule, handler: Handler<Iam>) -> Operation<Iam, O, Rule> {
    Operation::read(operation, rule, handler).session_token_forbidden()
}

fn write(operation: O, rule: Rule, handler: Handler<Iam>) -> Operation<Iam, O, Rule> {
    Operation::write(operation, rule, handler).session_token_forbidden()
}

pub(crate) fn registry() -> &'static IamRegistry {
    static REGISTRY: LazyLock<IamRegistry> = LazyLock::new(|| Registry::new(operations()));
    &REGISTRY
}

/// One-time codes are never recorded: one not yet used could still be replayed.
const CODES: &[&str] = &["AuthenticationCode1", "AuthenticationCode2"];

fn operations() -> Vec<Operation<Iam, O, Rule>> {
    vec![
        write(O::CreateVirtualMFADevice, NewMfaDevice, handler!(async create_virtual_mfa_device)),
        write(O::EnableMFADevice, User, handler!(async enable_mfa_device)).secrets(CODES),
        write(O::ResyncMFADevice, User, handler!(async resync_mfa_device)).secrets(CODES),
        write(O::DeactivateMFADevice, User, handler!(async deactivate_mfa_device)),
        write(O::DeleteVirtualMFADevice, MfaDevice, handler!(async delete_virtual_mfa_device)),
        read(O::GetMFADevice, User, handler!(get_mfa_device)),
        read(O::ListMFADevices, User, handler!(list_mfa_devices)),
        read(O::ListVirtualMFADevices, Unscoped, handler!(list_virtual_mfa_devices)),
        write(O::TagMFADevice, MfaDevice, handler!(async tag)),
        write(O::UntagMFADevice, MfaDevice, handler!(async untag)),
        read(O::ListMFADeviceTags, MfaDevice, handler!(list_tags)),
        write(O::CreateLoginProfile, User, handler!(async create_login_profile)),
        read(O::GetLoginProfile, User, handler!(get_login_profile)),
        write(O::UpdateLoginProfile, User, handler!(async update_login_profile)),
        write(O::DeleteLoginProfile, User, handler!(async delete_login_profile)),
        write(O::ChangePassword, OwnPassword, handler!(async change_password)),
        write(O::UpdateAccountPasswordPolicy, Unscoped, handler!(async update_password_policy)),
        read(O::GetAccountPasswordPolicy, Unscoped, handler!(get_password_policy)),
        write(O::DeleteAccountPasswordPolicy, Unscoped, handler!(async delete_password_policy)),
        write(O::CreateAccountAlias, Unscoped, handler!(async create_account_alias)),
        write(O::DeleteAccountAlias, Unscoped, handler!(async delete_account_alias)),
        read(O::ListAccountAliases, Unscoped, handler!(list_account_aliases)),
        read(O::GetAccountSummary, Unscoped, handler!(get_account_summary)),
        write(O::CreateOpenIDConnectProvider, NewOidcProvider, handler!(async create_oidc_provider)),
        read(O::GetOpenIDConnectProvider, OidcProvider, handler!(get_oidc_provider)),
        read(O::ListOpenIDConnectProviders, Unscoped, handler!(list_oidc_providers)),
        write(O::DeleteOpenIDConnectProvider, OidcProvider, handler!(async delete_oidc_provider)),
        write(O::AddClientIDToOpenIDConnectProvider, OidcProvider, handler!(async add_oidc_client_id)),
        write(O::RemoveClientIDFromOpenIDConnectProvider, OidcProvider, handler!(async remove_oidc_client_id)),
        write(O::UpdateOpenIDConnectProviderThumbprint, OidcProvider, handler!(async update_oidc_thumbprints)),
        write(O::TagOpenIDConnectProvider, OidcProvider, handler!(async tag)),
        write(O::UntagOpenIDConnectProvider, OidcProvider, handler!(async untag)),
        read(O::ListOpenIDConnectProviderTags, OidcProvider, handler!(list_tags)),
        write(O::CreateSAMLProvider, NewSamlProvider, handler!(async create_saml_provider)),
        read(O::GetSAMLProvider, SamlProvider, handler!(get_saml_provider)),
        read(O::ListSAMLProviders, Unscoped, handler!(list_saml_providers)),
        write(O::UpdateSAMLProvider, SamlProvider, handler!(async update_saml_provider)),
        write(O::DeleteSAMLProvider, SamlProvider, handler!(async delete_saml_provider)),
        write(O::TagSAMLProvider, SamlProvider, handler!(async tag)),
        write(O::UntagSAMLProvider, SamlProvider, handler!(async untag)),
        read(O::ListSAMLProviderTags, SamlProvider, handler!(list_tags)),
        write(O::GenerateCredentialReport, Unscoped, handler!(async generate_credential_report)),
        read(O::GetCredentialReport, Unscoped, handler!(get_credential_report)),
        write(O::CreateInstanceProfile, NewInstanceProfile, handler!(async create_instance_profile)),
        read(O::GetInstanceProfile, InstanceProfile, handler!(get_instance_profile)),
        write(O::DeleteInstanceProfile, InstanceProfile, handler!(async delete_instance_profile)),
        read(O::ListInstanceProfiles, List("instance-profile/"), handler!(list_instance_profiles)),
        read(O::ListInstanceProfilesForRole, Role, handler!(list_instance_profiles_for_role)),
        write(O::AddRoleToInstanceProfile, InstanceProfilePassingRole, handler!(async add_role_to_instance_profile)),
        write(O::RemoveRoleFromInstanceProfile, InstanceProfile, handler!(async remove_role_from_instance_profile)),
        write(O::CreateUser, NewUser, handler!(async create_user)),
        read(O::GetUser, User, handler!(get_user)),
        read(O::ListUsers, List("user/"), handler!(list_users)),
        write(O::UpdateUser, MovedUser, handler!(async update_user)),
        write(O::DeleteUser, User, handler!(async delete_user)),
        write(O::CreateAccessKey, User, handler!(async create_access_key)),
        read(O::ListAccessKeys, User, handler!(list_access_keys)),
        write(O::UpdateAccessKey, User, handler!(async update_access_key)),
        write(O::DeleteAccessKey, User, handler!(async delete_access_key)),
        read(O::GetAccessKeyLastUsed, KeyOwner, handler!(get_access_key_last_used)),
        write(O::PutUserPolicy, User, handler!(async put_inline_policy, OwnerKind::User)),
        read(O::GetUserPolicy, User, handler!(get_inline_policy, OwnerKind::User)),
        read(O::ListUserPolicies, User, handler!(list_inline_policies, OwnerKind::User)),
        write(O::DeleteUserPolicy, User, handler!(async delete_inline_policy, OwnerKind::User)),
        write(O::PutGroupPolicy, Group, handler!(async put_inline_policy, OwnerKind::Group)),
        read(O::GetGroupPolicy, Group, handler!(get_inline_policy, OwnerKind::Group)),
        read(O::ListGroupPolicies, Group, handler!(list_inline_policies, OwnerKind::Group)),
        write(O::DeleteGroupPolicy, Group, handler!(async delete_inline_policy, OwnerKind::Group)),
        write(O::PutRolePolicy, Role, handler!(async put_inline_policy, OwnerKind::Role)),
        read(O::GetRolePolicy, Role, handler!(get_inline_policy, OwnerKind::Role)),
        read(O::ListRolePolicies, Role, handler!(list_inline_policies, OwnerKind::Role)),
        write(O::DeleteRolePolicy, Role, handler!(async delete_inline_policy, OwnerKind::Role)),
        write(O::CreateRole, NewRole, handler!(async create_role)),
        read(O::GetRole, Role, handler!(get_role)),
        read(O::ListRoles, List("role/"), handler!(list_roles)),
        write(O::UpdateRole, Role, handler!(async update_role)),
        write(O::UpdateAssumeRolePolicy, Role, handler!(async update_assume_role_policy)),
        write(O::UpdateRoleDescription, Role, handler!(async update_role_description)),
        write(O::GenerateServiceLastAccessedDetails, ArnMember, handler!(generate_last_accessed)),
        read(O::GetServiceLastAccessedDetails, Unscoped, handler!(get_last_accessed)),
        read(O::GetServiceLastAccessedDetailsWithEntities, Unscoped, handler!(get_last_accessed_with_entities)),
        read(O::ListPoliciesGrantingServiceAccess, ArnMember, handler!(list_policies_granting_service_access)),
        read(O::ListOrganizationsFeatures, Unscoped, handler!(not_in_organization)),
        write(O::EnableOrganizationsRootCredentialsManagement, Unscoped, handler!(not_in_organization)),
        write(O::DisableOrganizationsRootCredentialsManagement, Unscoped, handler!(not_in_organization)),
        write(O::EnableOrganizationsRootSessions, Unscoped, handler!(not_in_organization)),
        write(O::DisableOrganizationsRootSessions, Unscoped, handler!(not_in_organization)),
        write(O::GenerateOrganizationsAccessReport, Unscoped, handler!(generate_organizations_report)),
        read(O::GetOrganizationsAccessReport, Unscoped, handler!(get_organizations_report)),
        write(O::EnableOutboundWebIdentityFederation, Unscoped, handler!(async enable_outbound_federation)),
        write(O::DisableOutboundWebIdentityFederation, Unscoped, handler!(async disable_outbound_federation)),
        read(O::GetOutboundWebIdentityFederationInfo, Unscoped, handler!(outbound_federation_info)),
        write(O::CreateDelegationRequest, DelegationRequest, handler!(create_delegation_request)),
        read(O::GetDelegationRequest, DelegationRequest, handler!(delegation_request)),
        write(O::AcceptDelegationRequest, DelegationRequest, handler!(delegation_request)),
        write(O::AssociateDelegationRequest, DelegationRequest, handler!(delegation_request)),
        write(O::RejectDelegationRequest, DelegationRequest, handler!(delegation_request)),
        write(O::UpdateDelegationRequest, DelegationRequest, handler!(delegation_request)),
        write(O::SendDelegationToken, DelegationRequest, handler!(delegation_request)),
        read(O::ListDelegationRequests, Unscoped, handler!(list_delegation_requests)),
        read(O::GetHumanReadableSummary, DelegationRequest, handler!(human_readable_summary)),
        write(O::UploadSSHPublicKey, User, handler!(async upload_ssh_public_key)),
        read(O::GetSSHPublicKey, User, handler!(get_ssh_public_key)),
        read(O::ListSSHPublicKeys, User, handler!(list_ssh_public_keys)),
        write(O::UpdateSSHPublicKey, User, handler!(async update_ssh_public_key)),
        write(O::DeleteSSHPublicKey, User, handler!(async delete_ssh_public_key)),
        write(O::UploadSigningCertificate, User, handler!(async upload_signing_certificate)),
        read(O::ListSigningCertificates, User, handler!(list_signing_certificates)),
        write(O::UpdateSigningCertificate, User, handler!(async update_signing_certificate)),
        write(O::DeleteSigningCertificate, User, handler!(async delete_signing_certificate)),
        write(O::UploadServerCertificate, NewServerCertificate, handler!(async upload_server_certificate)),
        read(O::GetServerCertificate, ServerCertificate, handler!(get_server_certificate)),
        read(O::ListServerCertificates, List("server-certificate/"), handler!(list_server_certificates)),
        write(O::UpdateServerCertificate, MovedServerCertificate, handler!(async update_server_certificate)),
        write(O::DeleteServerCertificate, ServerCertificate, handler!(async delete_server_certificate)),
        write(O::TagServerCertificate, ServerCertificate, handler!(async tag)),
        write(O::UntagServerCertificate, ServerCertificate, handler!(async untag)),
        read(O::ListServerCertificateTags, ServerCertificate, handler!(list_tags)),
        write(O::CreateServiceSpecificCredential, User, handler!(async create_service_credential)),
        read(O::ListServiceSpecificCredentials, User, handler!(list_service_credentials)),
        write(O::UpdateServiceSpecificCredential, User, handler!(async update_service_credential)),
        write(O::ResetServiceSpecificCredential, User, handler!(async reset_service_credential)),
        write(O::DeleteServiceSpecificCredential, User, handler!(async delete_service_credential)),
        write(O::CreateServiceLinkedRole, NewServiceLinkedRole, handler!(async create_service_linked_role)),
        write(O::DeleteServiceLinkedRole, Role, handler!(async delete_service_linked_role)),
        read(O::GetServiceLinkedRoleDeletionStatus, Unscoped, handler!(get_service_linked_role_deletion_status)),
        write(O::SetSecurityTokenServicePreferences, Unscoped, handler!(async set_sts_preferences)),
        write(O::DeleteRole, Role, handler!(async delete_role)),
        write(O::AttachRolePolicy, Role, handler!(async attach_role_policy)),
        write(O::DetachRolePolicy, Role, handler!(async detach_role_policy)),
        read(O::ListAttachedRolePolicies, Role, handler!(list_attached_role_policies)),
        write(O::PutRolePermissionsBoundary, Role, handler!(async put_role_permissions_boundary)),
        write(O::DeleteRolePermissionsBoundary, Role, handler!(async delete_role_permissions_boundary)),
        write(O::TagUser, User, handler!(async tag)),
        write(O::TagRole, Role, handler!(async tag)),
        write(O::TagPolicy, Policy, handler!(async tag)),
        write(O::UntagUser, User, handler!(async untag)),
        write(O::UntagRole, Role, handler!(async untag)),
        write(O::UntagPolicy, Policy, handler!(async untag)),
        read(O::ListUserTags, User, handler!(list_tags)),
        read(O::ListRoleTags, Role, handler!(list_tags)),
        read(O::ListPolicyTags, Policy, handler!(list_tags)),
        write(O::TagInstanceProfile, InstanceProfile, handler!(async tag)),
        write(O::UntagInstanceProfile, InstanceProfile, handler!(async untag)),
        read(O::ListInstanceProfileTags, InstanceProfile, handler!(list_tags)),
        read(O::ListEntitiesForPolicy, Policy, handler!(list_entities_for_policy)),
        read(O::GetAccountAuthorizationDetails, Unscoped, handler!(account_authorization_details)),
        write(O::CreateGroup, NewGroup, handler!(async create_group)),
        read(O::GetGroup, Group, handler!(get_group)),
        read(O::ListGroups, List("group/"), handler!(list_groups)),
        write(O::UpdateGroup, MovedGroup, handler!(async update_group)),
        write(O::DeleteGroup, Group, handler!(async delete_group)),
        write(O::AddUserToGroup, Group, handler!(async add_user_to_group)),
        write(O::RemoveUserFromGroup, Group, handler!(async remove_user_from_group)),
        read(O::ListGroupsForUser, User, handler!(list_groups_for_user)),
        write(O::AttachGroupPolicy, Group, handler!(async attach_group_policy)),
        write(O::DetachGroupPolicy, Group, handler!(async detach_group_policy)),
        read(O::ListAttachedGroupPolicies, Group, handler!(list_attached_group_policies)),
        write(O::CreatePolicy, NewPolicy, handler!(async create_policy)),
        read(O::GetPolicy, Policy, handler!(get_policy)),
        read(O::ListPolicies, List("policy/"), handler!(list_policies)),
        write(O::DeletePolicy, Policy, handler!(async delete_policy)),
        write(O::CreatePolicyVersion, Policy, handler!(async create_policy_version)),
        read(O::GetPolicyVersion, Policy, handler!(get_policy_version)),
        read(O::ListPolicyVersions, Policy, handler!(list_policy_versions)),
        write(O::DeletePolicyVersion, Policy, handler!(async delete_policy_version)),
        write(O::SetDefaultPolicyVersion, Policy, handler!(async set_default_policy_version)),
        write(O::AttachUserPolicy, User, handler!(async attach_user_policy)),
        write(O::DetachUserPolicy, User, handler!(async detach_user_policy)),
        read(O::ListAttachedUserPolicies, User, handler!(list_attached_user_policies)),
        write(O::PutUserPermissionsBoundary, User, handler!(async put_user_permissions_boundary)),
        read(O::SimulatePrincipalPolicy, PolicySource, handler!(simulate)),
        read(O::SimulateCustomPolicy, Unscoped, handler!(simulate)),
        read(O::GetContextKeysForPrincipalPolicy, PolicySource, handler!(context_keys)),
        read(O::GetContextKeysForCustomPolicy, Unscoped, handler!(context_keys)),
        write(O::DeleteUserPermissionsBoundary, User, handler!(async delete_user_permissions_boundary)),
    ]
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
}
