//! Service-specific credentials (Create/List/Update/Reset/Delete): a user
//! name and password for a service that cannot sign requests (CodeCommit's
//! Git over HTTPS, Keyspaces' Cassandra drivers). The password is returned
//! once and stored only as an argon2id hash.

use serde::Deserialize;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use rampart_core::{AccountId, AwsError, Call, Outcome, OutputMembers};
use rampart_wire::{ExceptionId, IamException};

use crate::hashing::hash_in_background;
use crate::listing::{page, page_output};
use crate::render::user_resource;
use crate::state::{AccountState, ServiceCredential, State, SERVICE_CREDENTIAL_KIND};
use crate::{delete, now_seconds, put, Iam};

/// The services that take these credentials.
const SERVICES: &[&str] = &["codecommit.amazonaws.com", "cassandra.amazonaws.com"];
/// IAM's quota: credentials per user per service.
const PER_USER_PER_SERVICE: usize = 2;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateInput {
    user_name: String,
    service_name: String,
    credential_age_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListInput {
    user_name: Option<String>,
    service_name: Option<String>,
    #[serde(default)]
    all_users: bool,
    marker: Option<String>,
    max_items: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CredentialInput {
    user_name: Option<String>,
    service_specific_credential_id: String,
    status: Option<String>,
}

fn unsupported(service: &str) -> AwsError {
    IamException::NoSuchEntityException
        .error(format!("No such service {service} is supported for Service Specific Credentials"))
}

fn no_such_credential(id: &str) -> AwsError {
    IamException::NoSuchEntityException.error(format!("No such credential {id} exists"))
}

/// 30 random bytes, base64: a 40-character password.
fn new_password() -> Zeroizing<String> {
    use base64::Engine;
    let mut bytes = Zeroizing::new([0u8; 30]);
    rand::Rng::fill(&mut rand::rngs::OsRng, &mut bytes[..]);
    Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&bytes[..]))
}

fn metadata_json(user_name: &str, c: &ServiceCredential) -> Value {
    let mut out = json!({
        "UserName": user_name,
        "Status": if c.active { "Active" } else { "Inactive" },
        "ServiceUserName": c.service_user_name,
        "CreateDate": c.create_date,
        "ServiceSpecificCredentialId": c.id,
        "ServiceName": c.service_name,
    });
    if let Some(expires) = c.expiration_date {
        out.set("ExpirationDate", json!(expires));
    }
    out
}

impl Iam {
    fn store_credential(
        &self,
        guard: tokio::sync::OwnedMutexGuard<()>,
        account: AccountId,
        user_name: &str,
        credential: ServiceCredential,
        output: Value,
    ) -> Result<Outcome, AwsError> {
        let writes = vec![put(SERVICE_CREDENTIAL_KIND, &account, &credential.id, &credential)?];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            state.accounts.entry(account).or_default().service_credentials.insert(credential.id.clone(), credential);
        });
        Ok(Outcome { output, resources: vec![user_resource(user_name)], change: Some(change) })
    }

    pub(crate) async fn create_service_credential(&self, call: &Call, input: CreateInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        if !SERVICES.contains(&input.service_name.as_str()) {
            return Err(unsupported(&input.service_name));
        }
        let (user_id, user_name) =
            crate::named_user(call, self.state.read().accounts.get(call.caller.account()), Some(&input.user_name))?;
        let password = new_password();
        let hash = hash_in_background(password.clone()).await?;
        let guard = self.lock().await;
        let existing = self.state.read().accounts.get(&account).map_or(0, |a| {
            a.service_credentials
                .values()
                .filter(|c| c.user_id == user_id && c.service_name == input.service_name)
                .count()
        });
        if existing >= PER_USER_PER_SERVICE {
            return Err(IamException::LimitExceededException.error(format!(
                "Cannot exceed quota for ServiceSpecificCredentialsPerUserPerService: {PER_USER_PER_SERVICE}"
            )));
        }
        let now = now_seconds(call);
        let credential = ServiceCredential {
            id: rampart_core::ids::unique_id("ACCA"),
            user_id,
            service_name: input.service_name,
            service_user_name: format!("{user_name}-at-{account}"),
            password_hash: hash,
            create_date: now,
            expiration_date: input.credential_age_days.map(|days| now + f64::from(days) * 86_400.0),
            active: true,
        };
        let mut created = metadata_json(&user_name, &credential);
        created.set("ServicePassword", json!(password.as_str()));
        let output = json!({ "ServiceSpecificCredential": created });
        self.store_credential(guard, account, &user_name, credential, output)
    }

    pub(crate) fn list_service_credentials(&self, call: &Call, input: ListInput) -> Result<Outcome, AwsError> {
        if let Some(service) = &input.service_name {
            if !SERVICES.contains(&service.as_str()) {
                return Err(unsupported(service));
            }
        }
        let owner = if input.all_users {
            None
        } else {
            Some(
                crate::named_user(
                    call,
                    self.state.read().accounts.get(call.caller.account()),
                    input.user_name.as_deref(),
                )?
                .0,
            )
        };
        let state = self.state.read();
        let empty = AccountState::default();
        let a = state.accounts.get(call.caller.account()).unwrap_or(&empty);
        let listed = a.service_credentials.iter().filter(|(_, c)| {
            owner.as_ref().is_none_or(|o| *o == c.user_id)
                && input.service_name.as_ref().is_none_or(|s| *s == c.service_name)
        });
        let (items, next) = page(listed, input.marker.as_deref(), input.max_items);
        let name_of = |c: &ServiceCredential| a.user_by_id(&c.user_id).map(|u| u.name.clone()).unwrap_or_default();
        let items: Vec<Value> = items.into_iter().map(|c| metadata_json(&name_of(c), c)).collect();
        Ok(Outcome::read(page_output("ServiceSpecificCredentials", items, next)))
    }

    /// The stored credential `id` of the named (or calling) user.
    fn credential_of(&self, call: &Call, input: &CredentialInput) -> Result<(ServiceCredential, String), AwsError> {
        let (user_id, user_name) =
            crate::named_user(call, self.state.read().accounts.get(call.caller.account()), input.user_name.as_deref())?;
        let state = self.state.read();
        let id = &input.service_specific_credential_id;
        let credential = state.accounts.get(call.caller.account()).and_then(|a| a.service_credentials.get(id));
        let credential = credential.filter(|c| c.user_id == user_id).ok_or_else(|| no_such_credential(id))?;
        Ok((credential.clone(), user_name))
    }

    pub(crate) async fn update_service_credential(
        &self,
        call: &Call,
        input: CredentialInput,
    ) -> Result<Outcome, AwsError> {
        let guard = self.lock().await;
        let (mut credential, user_name) = self.credential_of(call, &input)?;
        credential.active = input.status.as_deref() == Some("Active");
        self.store_credential(guard, call.caller.account().clone(), &user_name, credential, json!({}))
    }

    pub(crate) async fn reset_service_credential(
        &self,
        call: &Call,
        input: CredentialInput,
    ) -> Result<Outcome, AwsError> {
        let password = new_password();
        let hash = hash_in_background(password.clone()).await?;
        let guard = self.lock().await;
        let (mut credential, user_name) = self.credential_of(call, &input)?;
        credential.password_hash = hash;
        let mut reset = metadata_json(&user_name, &credential);
        reset.set("ServicePassword", json!(password.as_str()));
        let output = json!({ "ServiceSpecificCredential": reset });
        self.store_credential(guard, call.caller.account().clone(), &user_name, credential, output)
    }

    pub(crate) async fn delete_service_credential(
        &self,
        call: &Call,
        input: CredentialInput,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let (credential, user_name) = self.credential_of(call, &input)?;
        let writes = vec![delete(SERVICE_CREDENTIAL_KIND, &account, &credential.id)];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            if let Some(a) = state.accounts.get_mut(&account) {
                a.service_credentials.remove(&credential.id);
            }
        });
        Ok(Outcome { output: json!({}), resources: vec![user_resource(&user_name)], change: Some(change) })
    }
}
