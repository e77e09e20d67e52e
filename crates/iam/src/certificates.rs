//! Certificates and SSH keys: users' SSH public keys (for CodeCommit) and
//! signing certificates, and the account's server certificates (whose
//! private key must match and is stored only sealed, never returned).
//! Every body is parsed and checked (`key_formats`) before it is stored.

use serde::Deserialize;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use rampart_core::{AccountId, AwsError, Call, Outcome, OutputMembers, Resource};
use rampart_wire::{ExceptionId, IamException};

use crate::errors::sealing_failed;
use crate::key_formats::{
    chain_is_well_formed, parse_certificate, parse_ssh_public_key, private_key_public_bits, SshKeyProblem, SshPublicKey,
};
use crate::listing::{page, page_output};
use crate::render::{tags_json, user_resource};
use crate::state::{
    AccountState, ServerCertificate, SigningCertificate, SshKey, State, SERVER_CERTIFICATE_KIND,
    SIGNING_CERTIFICATE_KIND, SSH_KEY_KIND,
};
use crate::tagging::{new_tags, TagInput};
use crate::{delete, now_seconds, put, Iam};

/// IAM's quotas.
const SSH_KEYS_PER_USER: usize = 5;
const SIGNING_CERTIFICATES_PER_USER: usize = 2;
pub(crate) const SERVER_CERTIFICATES_PER_ACCOUNT: usize = 20;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UploadSshKeyInput {
    user_name: String,
    #[serde(rename = "SSHPublicKeyBody")]
    body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SshKeyInput {
    user_name: Option<String>,
    #[serde(rename = "SSHPublicKeyId")]
    id: String,
    encoding: Option<String>,
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UserListInput {
    user_name: Option<String>,
    marker: Option<String>,
    max_items: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UploadSigningInput {
    user_name: Option<String>,
    certificate_body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SigningInput {
    user_name: Option<String>,
    certificate_id: String,
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UploadServerInput {
    path: Option<String>,
    server_certificate_name: String,
    certificate_body: String,
    private_key: Zeroizing<String>,
    certificate_chain: Option<String>,
    #[serde(default)]
    tags: Vec<TagInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ServerNameInput {
    server_certificate_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListServerInput {
    path_prefix: Option<String>,
    marker: Option<String>,
    max_items: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateServerInput {
    server_certificate_name: String,
    new_path: Option<String>,
    new_server_certificate_name: Option<String>,
}

fn status(active: bool) -> &'static str {
    if active {
        "Active"
    } else {
        "Inactive"
    }
}

fn server_resource(name: &str) -> Resource {
    Resource { kind: "AWS::IAM::ServerCertificate".into(), name: name.to_string() }
}

fn no_such_public_key(id: &str) -> AwsError {
    IamException::NoSuchEntityException.error(format!("The Public Key with id {id} cannot be found."))
}

fn no_such_certificate(id: &str) -> AwsError {
    IamException::NoSuchEntityException.error(format!("The Certificate with id {id} cannot be found."))
}

pub(crate) fn no_such_server_certificate(name: &str) -> AwsError {
    IamException::NoSuchEntityException.error(format!("The Server Certificate with name {name} cannot be found."))
}

fn stored_key(key: &SshKey) -> Option<SshPublicKey> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    Some(SshPublicKey { blob: b64.decode(&key.blob).ok()?, spki: b64.decode(&key.spki).ok()? })
}

fn ssh_key_json(user_name: &str, key: &SshKey, pem: bool) -> Value {
    let parsed = stored_key(key);
    let body = parsed.map(|k| if pem { k.pem_text() } else { k.ssh_text() }).unwrap_or_default();
    json!({
        "UserName": user_name,
        "SSHPublicKeyId": key.id,
        "Fingerprint": key.fingerprint,
        "SSHPublicKeyBody": body,
        "Status": status(key.active),
        "UploadDate": key.upload_date,
    })
}

pub(crate) fn server_metadata_json(account: &AccountId, c: &ServerCertificate) -> Value {
    json!({
        "Path": c.path,
        "ServerCertificateName": c.name,
        "ServerCertificateId": c.id,
        "Arn": rampart_core::iam_arn(account, "server-certificate", &c.path, &c.name),
        "UploadDate": c.upload_date,
        "Expiration": c.expiration,
    })
}

impl Iam {
    /// The stored user a request names (the caller when it names none).
    fn owner_of(&self, call: &Call, name: Option<&str>) -> Result<(String, String), AwsError> {
        crate::named_user(call, self.state.read().accounts.get(call.caller.account()), name)
    }

    /// Writes `writes` and applies `apply` to the caller's account state.
    fn commit_account(
        &self,
        guard: tokio::sync::OwnedMutexGuard<()>,
        call: &Call,
        writes: Vec<rampart_store::RecordWrite>,
        resource: Resource,
        output: Value,
        apply: impl FnOnce(&mut AccountState) + Send + 'static,
    ) -> Outcome {
        let account = call.caller.account().clone();
        let change = self.change(guard, writes, move |state: &mut State, _| {
            apply(state.accounts.entry(account).or_default());
        });
        Outcome { output, resources: vec![resource], change: Some(change) }
    }

    pub(crate) async fn upload_ssh_public_key(
        &self,
        call: &Call,
        input: UploadSshKeyInput,
    ) -> Result<Outcome, AwsError> {
        let key = parse_ssh_public_key(&input.body).map_err(|problem| match problem {
            SshKeyProblem::Encoding => IamException::UnrecognizedPublicKeyEncodingException
                .error("The specified SSH public key is not in a recognized encoding."),
            SshKeyProblem::Invalid => IamException::InvalidPublicKeyException
                .error("The specified SSH public key is not an RSA key of at least 2048 bits."),
        })?;
        let (user_id, user_name) = self.owner_of(call, Some(&input.user_name))?;
        let guard = self.lock().await;
        let fingerprint = key.fingerprint();
        {
            let state = self.state.read();
            let mine: Vec<&SshKey> = state
                .accounts
                .get(call.caller.account())
                .map(|a| a.ssh_keys.values().filter(|k| k.user_id == user_id).collect())
                .unwrap_or_default();
            if mine.iter().any(|k| k.fingerprint == fingerprint) {
                return Err(IamException::DuplicateSSHPublicKeyException
                    .error("The specified SSH public key is already uploaded for this user."));
            }
            if mine.len() >= SSH_KEYS_PER_USER {
                return Err(IamException::LimitExceededException
                    .error(format!("Cannot exceed quota for PublicKeysPerUser: {SSH_KEYS_PER_USER}")));
            }
        }
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let stored = SshKey {
            id: rampart_core::ids::unique_id("APKA").get(..21).unwrap_or_default().to_string(),
            user_id,
            blob: b64.encode(&key.blob),
            spki: b64.encode(&key.spki),
            fingerprint,
            active: true,
            upload_date: now_seconds(call),
        };
        let output = json!({ "SSHPublicKey": ssh_key_json(&user_name, &stored, false) });
        let writes = vec![put(SSH_KEY_KIND, call.caller.account(), &stored.id, &stored)?];
        Ok(self.commit_account(guard, call, writes, user_resource(&user_name), output, move |a| {
            a.ssh_keys.insert(stored.id.clone(), stored);
        }))
    }

    /// The SSH key `id` of the named user.
    fn ssh_key_of(&self, call: &Call, input: &SshKeyInput) -> Result<(SshKey, String), AwsError> {
        let (user_id, user_name) = self.owner_of(call, input.user_name.as_deref())?;
        let state = self.state.read();
        let key = state.accounts.get(call.caller.account()).and_then(|a| a.ssh_keys.get(&input.id));
        let key = key.filter(|k| k.user_id == user_id).ok_or_else(|| no_such_public_key(&input.id))?;
        Ok((key.clone(), user_name))
    }

    pub(crate) fn get_ssh_public_key(&self, call: &Call, input: SshKeyInput) -> Result<Outcome, AwsError> {
        let (key, user_name) = self.ssh_key_of(call, &input)?;
        let pem = input.encoding.as_deref() == Some("PEM");
        Ok(Outcome::read(json!({ "SSHPublicKey": ssh_key_json(&user_name, &key, pem) })))
    }

    pub(crate) fn list_ssh_public_keys(&self, call: &Call, input: UserListInput) -> Result<Outcome, AwsError> {
        let (user_id, user_name) = self.owner_of(call, input.user_name.as_deref())?;
        let state = self.state.read();
        let empty = AccountState::default();
        let a = state.accounts.get(call.caller.account()).unwrap_or(&empty);
        let listed = a.ssh_keys.iter().filter(|(_, k)| k.user_id == user_id);
        let (items, next) = page(listed, input.marker.as_deref(), input.max_items);
        let items: Vec<Value> = items
            .into_iter()
            .map(|k| {
                json!({"UserName": user_name, "SSHPublicKeyId": k.id, "Status": status(k.active), "UploadDate": k.upload_date})
            })
            .collect();
        Ok(Outcome::read(page_output("SSHPublicKeys", items, next)))
    }

    pub(crate) async fn update_ssh_public_key(&self, call: &Call, input: SshKeyInput) -> Result<Outcome, AwsError> {
        let guard = self.lock().await;
        let (mut key, user_name) = self.ssh_key_of(call, &input)?;
        key.active = input.status.as_deref() == Some("Active");
        let writes = vec![put(SSH_KEY_KIND, call.caller.account(), &key.id, &key)?];
        Ok(self.commit_account(guard, call, writes, user_resource(&user_name), json!({}), move |a| {
            a.ssh_keys.insert(key.id.clone(), key);
        }))
    }

    pub(crate) async fn delete_ssh_public_key(&self, call: &Call, input: SshKeyInput) -> Result<Outcome, AwsError> {
        let guard = self.lock().await;
        let (key, user_name) = self.ssh_key_of(call, &input)?;
        let writes = vec![delete(SSH_KEY_KIND, call.caller.account(), &key.id)];
        Ok(self.commit_account(guard, call, writes, user_resource(&user_name), json!({}), move |a| {
            a.ssh_keys.remove(&key.id);
        }))
    }

    pub(crate) async fn upload_signing_certificate(
        &self,
        call: &Call,
        input: UploadSigningInput,
    ) -> Result<Outcome, AwsError> {
        let body = input.certificate_body;
        parse_certificate(&body).ok_or_else(|| {
            IamException::MalformedCertificateException.error(format!("Certificate {body} is malformed."))
        })?;
        let (user_id, user_name) = self.owner_of(call, input.user_name.as_deref())?;
        let guard = self.lock().await;
        {
            let state = self.state.read();
            let mine: Vec<&SigningCertificate> = state
                .accounts
                .get(call.caller.account())
                .map(|a| a.signing_certificates.values().filter(|c| c.user_id == user_id).collect())
                .unwrap_or_default();
            if let Some(same) = mine.iter().find(|c| c.body.trim() == body.trim()) {
                return Err(IamException::DuplicateCertificateException
                    .error(format!("The Certificate with id {} already exists.", same.id)));
            }
            if mine.len() >= SIGNING_CERTIFICATES_PER_USER {
                return Err(IamException::LimitExceededException
                    .error(format!("Cannot exceed quota for CertificatesPerUser: {SIGNING_CERTIFICATES_PER_USER}")));
            }
        }
        let certificate = SigningCertificate {
            // 28 base32 characters, the length of AWS's signing certificate ids.
            id: format!("{}{}", rampart_core::ids::unique_id(""), rampart_core::ids::unique_id(""))
                .get(..28)
                .unwrap_or_default()
                .to_string(),
            user_id,
            body,
            active: true,
            upload_date: now_seconds(call),
        };
        let output = json!({ "Certificate": {
            "UserName": user_name,
            "CertificateId": certificate.id,
            "CertificateBody": certificate.body,
            "Status": "Active",
            "UploadDate": certificate.upload_date,
        }});
        let writes = vec![put(SIGNING_CERTIFICATE_KIND, call.caller.account(), &certificate.id, &certificate)?];
        Ok(self.commit_account(guard, call, writes, user_resource(&user_name), output, move |a| {
            a.signing_certificates.insert(certificate.id.clone(), certificate);
        }))
    }

    fn signing_certificate_of(
        &self,
        call: &Call,
        input: &SigningInput,
    ) -> Result<(SigningCertificate, String), AwsError> {
        let (user_id, user_name) = self.owner_of(call, input.user_name.as_deref())?;
        let state = self.state.read();
        let id = &input.certificate_id;
        let certificate = state.accounts.get(call.caller.account()).and_then(|a| a.signing_certificates.get(id));
        let certificate = certificate.filter(|c| c.user_id == user_id).ok_or_else(|| no_such_certificate(id))?;
        Ok((certificate.clone(), user_name))
    }

    pub(crate) fn list_signing_certificates(&self, call: &Call, input: UserListInput) -> Result<Outcome, AwsError> {
        let (user_id, user_name) = self.owner_of(call, input.user_name.as_deref())?;
        let state = self.state.read();
        let empty = AccountState::default();
        let a = state.accounts.get(call.caller.account()).unwrap_or(&empty);
        let listed = a.signing_certificates.iter().filter(|(_, c)| c.user_id == user_id);
        let (items, next) = page(listed, input.marker.as_deref(), input.max_items);
        let items: Vec<Value> = items
            .into_iter()
            .map(|c| {
                json!({"UserName": user_name, "CertificateId": c.id, "CertificateBody": c.body,
                       "Status": status(c.active), "UploadDate": c.upload_date})
            })
            .collect();
        Ok(Outcome::read(page_output("Certificates", items, next)))
    }

    pub(crate) async fn update_signing_certificate(
        &self,
        call: &Call,
        input: SigningInput,
    ) -> Result<Outcome, AwsError> {
        let guard = self.lock().await;
        let (mut certificate, user_name) = self.signing_certificate_of(call, &input)?;
        certificate.active = input.status.as_deref() == Some("Active");
        let writes = vec![put(SIGNING_CERTIFICATE_KIND, call.caller.account(), &certificate.id, &certificate)?];
        Ok(self.commit_account(guard, call, writes, user_resource(&user_name), json!({}), move |a| {
            a.signing_certificates.insert(certificate.id.clone(), certificate);
        }))
    }

    pub(crate) async fn delete_signing_certificate(
        &self,
        call: &Call,
        input: SigningInput,
    ) -> Result<Outcome, AwsError> {
        let guard = self.lock().await;
        let (certificate, user_name) = self.signing_certificate_of(call, &input)?;
        let writes = vec![delete(SIGNING_CERTIFICATE_KIND, call.caller.account(), &certificate.id)];
        Ok(self.commit_account(guard, call, writes, user_resource(&user_name), json!({}), move |a| {
            a.signing_certificates.remove(&certificate.id);
        }))
    }

    pub(crate) async fn upload_server_certificate(
        &self,
        call: &Call,
        input: UploadServerInput,
    ) -> Result<Outcome, AwsError> {
        let malformed = |what: &str| {
            IamException::MalformedCertificateException
                .error(format!("Unable to parse {what}. Please ensure the {what} is in PEM format."))
        };
        let certificate = parse_certificate(&input.certificate_body).ok_or_else(|| malformed("certificate"))?;
        let key_bits = private_key_public_bits(&input.private_key).ok_or_else(|| malformed("private key"))?;
        if !bool::from(subtle::ConstantTimeEq::ct_eq(key_bits.as_slice(), certificate.public_key.as_slice())) {
            return Err(IamException::KeyPairMismatchException
                .error("The private key does not match the public key in the certificate."));
        }
        if let Some(chain) = &input.certificate_chain {
            if !chain_is_well_formed(chain) {
                return Err(malformed("certificate chain"));
            }
        }
        let tags = new_tags(input.tags)?;
        let account = call.caller.account().clone();
        let name = input.server_certificate_name;
        let guard = self.lock().await;
        {
            let state = self.state.read();
            let a = state.accounts.get(&account);
            if a.is_some_and(|a| a.server_certificates.contains_key(&name.to_lowercase())) {
                return Err(IamException::EntityAlreadyExistsException
                    .error(format!("The Server Certificate with name {name} already exists.")));
            }
            if a.map_or(0, |a| a.server_certificates.len()) >= SERVER_CERTIFICATES_PER_ACCOUNT {
                return Err(IamException::LimitExceededException.error(format!(
                    "Cannot exceed quota for ServerCertificatesPerAccount: {SERVER_CERTIFICATES_PER_ACCOUNT}"
                )));
            }
        }
        let id = rampart_core::ids::unique_id("ASCA").get(..21).unwrap_or_default().to_string();
        let stored = ServerCertificate {
            sealed_private_key: self.sealer.seal(input.private_key.as_bytes(), &id).map_err(sealing_failed)?,
            id,
            name,
            path: input.path.unwrap_or_else(|| "/".to_string()),
            body: input.certificate_body,
            chain: input.certificate_chain,
            upload_date: now_seconds(call),
            expiration: certificate.not_after,
            tags,
        };
        let mut output = json!({ "ServerCertificateMetadata": server_metadata_json(&account, &stored) });
        if !stored.tags.is_empty() {
            output.set("Tags", tags_json(&stored.tags));
        }
        self.store_server_certificate(guard, call, stored, None, output)
    }

    /// Stores a server certificate (replacing `previous`, its old name, if it was renamed).
    fn store_server_certificate(
        &self,
        guard: tokio::sync::OwnedMutexGuard<()>,
        call: &Call,
        stored: ServerCertificate,
        previous: Option<String>,
        output: Value,
    ) -> Result<Outcome, AwsError> {
        let writes = vec![put(SERVER_CERTIFICATE_KIND, call.caller.account(), &stored.id, &stored)?];
        let resource = server_resource(&stored.name);
        Ok(self.commit_account(guard, call, writes, resource, output, move |a| {
            if let Some(old) = previous {
                a.server_certificates.remove(&old.to_lowercase());
            }
            a.server_certificates.insert(stored.name.to_lowercase(), stored);
        }))
    }

    fn server_certificate(&self, call: &Call, name: &str) -> Result<ServerCertificate, AwsError> {
        let state = self.state.read();
        let found =
            state.accounts.get(call.caller.account()).and_then(|a| a.server_certificates.get(&name.to_lowercase()));
        found.cloned().ok_or_else(|| no_such_server_certificate(name))
    }

    pub(crate) fn get_server_certificate(&self, call: &Call, input: ServerNameInput) -> Result<Outcome, AwsError> {
        let c = self.server_certificate(call, &input.server_certificate_name)?;
        let mut certificate = json!({
            "ServerCertificateMetadata": server_metadata_json(call.caller.account(), &c),
            "CertificateBody": c.body,
            "Tags": tags_json(&c.tags),
        });
        if let Some(chain) = &c.chain {
            certificate.set("CertificateChain", json!(chain));
        }
        Ok(Outcome::read(json!({ "ServerCertificate": certificate })))
    }

    pub(crate) fn list_server_certificates(&self, call: &Call, input: ListServerInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account();
        let state = self.state.read();
        let empty = AccountState::default();
        let a = state.accounts.get(account).unwrap_or(&empty);
        let prefix = input.path_prefix.as_deref().unwrap_or("/");
        let listed = a.server_certificates.iter().filter(|(_, c)| c.path.starts_with(prefix));
        let (items, next) = page(listed, input.marker.as_deref(), input.max_items);
        let items: Vec<Value> = items.into_iter().map(|c| server_metadata_json(account, c)).collect();
        Ok(Outcome::read(page_output("ServerCertificateMetadataList", items, next)))
    }

    pub(crate) async fn update_server_certificate(
        &self,
        call: &Call,
        input: UpdateServerInput,
    ) -> Result<Outcome, AwsError> {
        let guard = self.lock().await;
        let mut stored = self.server_certificate(call, &input.server_certificate_name)?;
        let previous = stored.name.clone();
        if let Some(new_name) = input.new_server_certificate_name {
            let taken = !new_name.eq_ignore_ascii_case(&previous) && self.server_certificate(call, &new_name).is_ok();
            if taken {
                return Err(IamException::EntityAlreadyExistsException
                    .error(format!("The Server Certificate with name {new_name} already exists.")));
            }
            stored.name = new_name;
        }
        if let Some(path) = input.new_path {
            stored.path = path;
        }
        self.store_server_certificate(guard, call, stored, Some(previous), json!({}))
    }

    pub(crate) async fn delete_server_certificate(
        &self,
        call: &Call,
        input: ServerNameInput,
    ) -> Result<Outcome, AwsError> {
        let guard = self.lock().await;
        let stored = self.server_certificate(call, &input.server_certificate_name)?;
        let writes = vec![delete(SERVER_CERTIFICATE_KIND, call.caller.account(), &stored.id)];
        Ok(self.commit_account(guard, call, writes, server_resource(&stored.name), json!({}), move |a| {
            a.server_certificates.remove(&stored.name.to_lowercase());
        }))
    }
}
