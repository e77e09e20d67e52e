//! Tags on users, roles, customer managed policies, instance profiles and MFA devices: Tag*, Untag*,
//! List*Tags. A user's or role's tags are its `aws:PrincipalTag/*` keys, and
//! any tagged resource's are `aws:ResourceTag/*`.

use serde::Deserialize;
use serde_json::{json, Value};

use rampart_core::tags::IAM_TAG_RULES;
use rampart_core::{AccountId, AwsError, Call, Outcome, Resource};

use crate::certificates::no_such_server_certificate;
use crate::errors::{no_such_instance_profile, no_such_role, no_such_user, not_attachable};
use crate::listing::{page, page_output};
use crate::mfa::{mfa_resource, no_such_device};
use crate::providers::{no_such_oidc_provider, no_such_saml_provider, provider_resource};
use crate::state::{
    AccountState, State, Tag, INSTANCE_PROFILE_KIND, MANAGED_KIND, MFA_KIND, OIDC_PROVIDER_KIND, ROLE_KIND,
    SAML_PROVIDER_KIND, SERVER_CERTIFICATE_KIND, USER_KIND,
};
use crate::tagging::{pairs, records, tag_error, TagInput};
use crate::{put, Iam};

/// A taggable IAM resource, as a request names it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TaggedName {
    user_name: Option<String>,
    role_name: Option<String>,
    policy_arn: Option<String>,
    instance_profile_name: Option<String>,
    serial_number: Option<String>,
    #[serde(rename = "OpenIDConnectProviderArn")]
    oidc_provider_arn: Option<String>,
    #[serde(rename = "SAMLProviderArn")]
    saml_provider_arn: Option<String>,
    server_certificate_name: Option<String>,
}

/// The resource a tag request names.
enum Taggable<'a> {
    User(&'a str),
    Role(&'a str),
    Policy(&'a str),
    InstanceProfile(&'a str),
    MfaDevice(&'a str),
    OidcProvider(&'a str),
    SamlProvider(&'a str),
    ServerCertificate(&'a str),
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TagInputs {
    #[serde(flatten)]
    target: TaggedName,
    tags: Vec<TagInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UntagInput {
    #[serde(flatten)]
    target: TaggedName,
    tag_keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListTagsInput {
    #[serde(flatten)]
    target: TaggedName,
    marker: Option<String>,
    max_items: Option<usize>,
}

impl TaggedName {
    fn target(&self) -> Result<Taggable<'_>, AwsError> {
        let named = self.user_name.as_deref().map(Taggable::User);
        let named = named.or_else(|| self.role_name.as_deref().map(Taggable::Role));
        let named = named.or_else(|| self.policy_arn.as_deref().map(Taggable::Policy));
        let named = named.or_else(|| self.instance_profile_name.as_deref().map(Taggable::InstanceProfile));
        let named = named.or_else(|| self.serial_number.as_deref().map(Taggable::MfaDevice));
        let named = named.or_else(|| self.oidc_provider_arn.as_deref().map(Taggable::OidcProvider));
        let named = named.or_else(|| self.saml_provider_arn.as_deref().map(Taggable::SamlProvider));
        let named = named.or_else(|| self.server_certificate_name.as_deref().map(Taggable::ServerCertificate));
        named.ok_or_else(|| crate::errors::validation_error("No resource to tag was named."))
    }

    /// The resource's tags, or IAM's NoSuchEntity for it.
    fn tags<'a>(&self, a: Option<&'a AccountState>) -> Result<&'a Vec<Tag>, AwsError> {
        match self.target()? {
            Taggable::User(name) => a.and_then(|a| a.user(name)).map(|u| &u.tags).ok_or_else(|| no_such_user(name)),
            Taggable::Role(name) => a.and_then(|a| a.role(name)).map(|r| &r.tags).ok_or_else(|| no_such_role(name)),
            Taggable::Policy(arn) => {
                a.and_then(|a| a.managed.get(arn)).map(|p| &p.tags).ok_or_else(|| not_attachable(arn))
            }
            Taggable::InstanceProfile(name) => {
                a.and_then(|a| a.instance_profile(name)).map(|p| &p.tags).ok_or_else(|| no_such_instance_profile(name))
            }
            Taggable::MfaDevice(serial) => {
                a.and_then(|a| a.mfa_devices.get(serial)).map(|d| &d.tags).ok_or_else(|| no_such_device(serial))
            }
            Taggable::OidcProvider(arn) => {
                a.and_then(|a| a.oidc_providers.get(arn)).map(|p| &p.tags).ok_or_else(|| no_such_oidc_provider(arn))
            }
            Taggable::SamlProvider(arn) => {
                a.and_then(|a| a.saml_providers.get(arn)).map(|p| &p.tags).ok_or_else(|| no_such_saml_provider(arn))
            }
            Taggable::ServerCertificate(name) => a
                .and_then(|a| a.server_certificates.get(&name.to_lowercase()))
                .map(|c| &c.tags)
                .ok_or_else(|| no_such_server_certificate(name)),
        }
    }

    /// The resource with `edit` applied to its tags: the record to write, the
    /// audit resource, and the change to memory.
    #[allow(clippy::type_complexity)]
    fn edited(
        &self,
        a: &AccountState,
        account: &AccountId,
        edit: impl FnOnce(&mut Vec<Tag>) -> Result<(), AwsError>,
    ) -> Result<(rampart_store::RecordWrite, Resource, Box<dyn FnOnce(&mut AccountState) + Send>), AwsError> {
        match self.target()? {
            Taggable::User(name) => {
                let mut user = a.user(name).ok_or_else(|| no_such_user(name))?.clone();
                edit(&mut user.tags)?;
                let write = put(USER_KIND, account, &user.user_id, &user)?;
                let resource = Resource { kind: "AWS::IAM::User".into(), name: user.name.clone() };
                Ok((write, resource, Box::new(move |a| drop(a.users.insert(user.name.to_lowercase(), user)))))
            }
            Taggable::Role(name) => {
                let mut role = a.role(name).ok_or_else(|| no_such_role(name))?.clone();
                edit(&mut role.tags)?;
                let write = put(ROLE_KIND, account, &role.role_id, &role)?;
                let resource = Resource { kind: "AWS::IAM::Role".into(), name: role.name.clone() };
                Ok((write, resource, Box::new(move |a| drop(a.roles.insert(role.name.to_lowercase(), role)))))
            }
            Taggable::Policy(arn) => {
                let mut policy = a.managed.get(arn).ok_or_else(|| not_attachable(arn))?.clone();
                edit(&mut policy.tags)?;
                let write = put(MANAGED_KIND, account, arn, &policy)?;
                let resource = Resource { kind: "AWS::IAM::ManagedPolicy".into(), name: policy.name.clone() };
                let arn = arn.to_string();
                Ok((write, resource, Box::new(move |a| drop(a.managed.insert(arn, policy)))))
            }
            Taggable::InstanceProfile(name) => {
                let mut profile = a.instance_profile(name).ok_or_else(|| no_such_instance_profile(name))?.clone();
                edit(&mut profile.tags)?;
                let write = put(INSTANCE_PROFILE_KIND, account, &profile.instance_profile_id, &profile)?;
                let resource = Resource { kind: "AWS::IAM::InstanceProfile".into(), name: profile.name.clone() };
                let insert =
                    move |a: &mut AccountState| drop(a.instance_profiles.insert(profile.name.to_lowercase(), profile));
                Ok((write, resource, Box::new(insert)))
            }
            Taggable::MfaDevice(serial) => {
                let mut device = a.mfa_devices.get(serial).ok_or_else(|| no_such_device(serial))?.clone();
                edit(&mut device.tags)?;
                let write = put(MFA_KIND, account, &device.serial, &device)?;
                let resource = mfa_resource(&device.serial);
                Ok((write, resource, Box::new(move |a| drop(a.mfa_devices.insert(device.serial.clone(), device)))))
            }
            Taggable::OidcProvider(arn) => {
                let mut provider = a.oidc_providers.get(arn).ok_or_else(|| no_such_oidc_provider(arn))?.clone();
                edit(&mut provider.tags)?;
                let write = put(OIDC_PROVIDER_KIND, account, arn, &provider)?;
                let resource = provider_resource(arn);
                Ok((write, resource, Box::new(move |a| drop(a.oidc_providers.insert(provider.arn.clone(), provider)))))
            }
            Taggable::SamlProvider(arn) => {
                let mut provider = a.saml_providers.get(arn).ok_or_else(|| no_such_saml_provider(arn))?.clone();
                edit(&mut provider.tags)?;
                let write = put(SAML_PROVIDER_KIND, account, arn, &provider)?;
                let resource = Resource { kind: "AWS::IAM::SAMLProvider".into(), name: arn.to_string() };
                Ok((write, resource, Box::new(move |a| drop(a.saml_providers.insert(provider.arn.clone(), provider)))))
            }
            Taggable::ServerCertificate(name) => {
                let key = name.to_lowercase();
                let mut c = a.server_certificates.get(&key).ok_or_else(|| no_such_server_certificate(name))?.clone();
                edit(&mut c.tags)?;
                let write = put(SERVER_CERTIFICATE_KIND, account, &c.id, &c)?;
                let resource = Resource { kind: "AWS::IAM::ServerCertificate".into(), name: c.name.clone() };
                Ok((write, resource, Box::new(move |a| drop(a.server_certificates.insert(key, c)))))
            }
        }
    }
}

impl Iam {
    /// Rewrites a resource's tags with `edit`; authorization sees them at once.
    async fn edit_tags(
        &self,
        call: &Call,
        target: &TaggedName,
        edit: impl FnOnce(&mut Vec<Tag>) -> Result<(), AwsError>,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let (write, resource, apply) = {
            let state = self.state.read();
            let empty = AccountState::default();
            target.edited(state.accounts.get(&account).unwrap_or(&empty), &account, edit)?
        };
        let change = self.change(guard, vec![write], move |state: &mut State, _| {
            apply(state.accounts.entry(account).or_default());
        });
        Ok(Outcome { output: json!({}), resources: vec![resource], change: Some(change) })
    }

    pub(crate) async fn tag(&self, call: &Call, input: TagInputs) -> Result<Outcome, AwsError> {
        let new: Vec<(String, String)> = input.tags.into_iter().map(|t| (t.key, t.value)).collect();
        self.edit_tags(call, &input.target, |tags| {
            // A new value replaces the old one, whatever the key's case.
            *tags = records(IAM_TAG_RULES.apply(&pairs(tags), &new).map_err(tag_error)?);
            Ok(())
        })
        .await
    }

    pub(crate) async fn untag(&self, call: &Call, input: UntagInput) -> Result<Outcome, AwsError> {
        self.edit_tags(call, &input.target, |tags| {
            *tags = records(IAM_TAG_RULES.remove(&pairs(tags), &input.tag_keys));
            Ok(())
        })
        .await
    }

    pub(crate) fn list_tags(&self, call: &Call, input: ListTagsInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let tags = input.target.tags(state.accounts.get(call.caller.account()))?;
        // Paged by key, so a marker resumes where the last page ended.
        let mut tags: Vec<(String, Value)> =
            tags.iter().map(|t| (t.key.clone(), json!({"Key": t.key, "Value": t.value}))).collect();
        tags.sort_by(|a, b| a.0.cmp(&b.0));
        let (items, next) = page(tags.iter().map(|(k, v)| (k, v.clone())), input.marker.as_deref(), input.max_items);
        Ok(Outcome::read(page_output("Tags", items, next)))
    }
}
