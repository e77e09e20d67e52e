//! Identity providers for federation: OpenID Connect providers (an issuer
//! URL, the audiences it may issue tokens for, certificate thumbprints) and
//! SAML providers (an identity provider's metadata document, parsed and
//! checked: the signing certificates it names are what assertions are
//! verified against).

use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use rampart_core::{AccountId, AwsError, Call, Outcome, OutputMembers, Resource};
use rampart_wire::{CommonError, ExceptionId, IamException, ServiceId};

use crate::render::tags_json;
use crate::state::{AccountState, OidcProvider, SamlProvider, State, OIDC_PROVIDER_KIND, SAML_PROVIDER_KIND};
use crate::tagging::{new_tags, TagInput};
use crate::{delete, now_seconds, put, Iam};

/// IAM's quotas.
const OIDC_PROVIDERS_PER_ACCOUNT: usize = 100;
const SAML_PROVIDERS_PER_ACCOUNT: usize = 100;
const CLIENT_IDS_PER_PROVIDER: usize = 100;
const THUMBPRINTS_PER_PROVIDER: usize = 5;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateOidcInput {
    url: String,
    #[serde(rename = "ClientIDList", default)]
    client_ids: Vec<String>,
    #[serde(default)]
    thumbprint_list: Vec<String>,
    #[serde(default)]
    tags: Vec<TagInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct OidcArnInput {
    #[serde(rename = "OpenIDConnectProviderArn")]
    arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct OidcClientInput {
    #[serde(rename = "OpenIDConnectProviderArn")]
    arn: String,
    #[serde(rename = "ClientID")]
    client_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct OidcThumbprintInput {
    #[serde(rename = "OpenIDConnectProviderArn")]
    arn: String,
    thumbprint_list: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateSamlInput {
    #[serde(rename = "SAMLMetadataDocument")]
    metadata: String,
    name: String,
    #[serde(default)]
    tags: Vec<TagInput>,
    assertion_encryption_mode: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SamlArnInput {
    #[serde(rename = "SAMLProviderArn")]
    arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateSamlInput {
    #[serde(rename = "SAMLProviderArn")]
    arn: String,
    #[serde(rename = "SAMLMetadataDocument")]
    metadata: Option<String>,
    assertion_encryption_mode: Option<String>,
}

pub(crate) fn provider_resource(arn: &str) -> Resource {
    Resource { kind: "AWS::IAM::OIDCProvider".into(), name: arn.to_string() }
}

pub(crate) fn no_such_oidc_provider(arn: &str) -> AwsError {
    IamException::NoSuchEntityException.error(format!("OpenIDConnect Provider not found for arn {arn}"))
}

pub(crate) fn no_such_saml_provider(arn: &str) -> AwsError {
    IamException::NoSuchEntityException.error(format!("Manifest not found for arn {arn}"))
}

fn invalid_input(message: impl Into<String>) -> AwsError {
    IamException::InvalidInputException.error(message.into())
}

/// The issuer URL without its scheme, as the ARN and GetOpenIDConnectProvider
/// show it: `https://` required, no query, fragment or port, and a trailing
/// slash dropped.
pub(crate) fn oidc_issuer(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://")?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let host = rest.split('/').next().unwrap_or_default();
    let valid = !host.is_empty()
        && !rest.contains(['?', '#', ' '])
        && !host.contains([':', '@'])
        && rest.bytes().all(|b| b.is_ascii_graphic());
    valid.then_some(rest)
}

fn check_thumbprints(thumbprints: &[String]) -> Result<(), AwsError> {
    if thumbprints.len() > THUMBPRINTS_PER_PROVIDER {
        return Err(invalid_input("Thumbprint list must contain fewer than 5 entries."));
    }
    if let Some(bad) = thumbprints.iter().find(|t| !t.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Err(invalid_input(format!("Thumbprint {bad} is not a hexadecimal SHA-1 fingerprint.")));
    }
    Ok(())
}

fn client_ids_quota() -> AwsError {
    IamException::LimitExceededException
        .error(format!("Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {CLIENT_IDS_PER_PROVIDER}"))
}

/// What a SAML metadata document says that Rampart uses: the identity
/// provider's signing certificates (DER), its entity id and `validUntil`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SamlMetadata {
    pub entity_id: String,
    pub certificates: Vec<Vec<u8>>,
    pub valid_until: Option<f64>,
}

/// Reads an identity provider's metadata: an `EntityDescriptor` with an
/// `IDPSSODescriptor` that names at least one X.509 certificate. The reader
/// expands no entities and follows no DTD, and reads without recursion.
pub(crate) fn parse_saml_metadata(document: &str) -> Option<SamlMetadata> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(document);
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut entity_id = None;
    let mut valid_until = None;
    let mut certificates = Vec::new();
    let mut in_idp = false;
    let mut certificate_text: Option<String> = None;
    loop {
        match reader.read_event().ok()? {
            Event::Start(element) => {
                let name = element.local_name().as_ref().to_vec();
                if path.is_empty() {
                    if name != b"EntityDescriptor" {
                        return None;
                    }
                    for attribute in element.attributes() {
                        let attribute = attribute.ok()?;
                        let value = attribute.unescape_value().ok()?.into_owned();
                        match attribute.key.local_name().as_ref() {
                            b"entityID" => entity_id = Some(value),
                            b"validUntil" => valid_until = rampart_wire::parse_timestamp(&value),
                            _ => {}
                        }
                    }
                }
                if name == b"IDPSSODescriptor" {
                    in_idp = true;
                }
                if in_idp && name == b"X509Certificate" {
                    certificate_text = Some(String::new());
                }
                path.push(name);
            }
            Event::Text(text) => {
                if let Some(buffer) = certificate_text.as_mut() {
                    buffer.push_str(&text.unescape().ok()?);
                }
            }
            Event::End(_) => {
                let name = path.pop()?;
                if name == b"X509Certificate" {
                    if let Some(text) = certificate_text.take() {
                        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                        let der = base64::engine::general_purpose::STANDARD.decode(compact).ok()?;
                        // A DER certificate is a SEQUENCE.
                        if der.first() != Some(&0x30) {
                            return None;
                        }
                        certificates.push(der);
                    }
                }
                if name == b"IDPSSODescriptor" {
                    in_idp = false;
                }
            }
            Event::Empty(element) if path.is_empty() && element.local_name().as_ref() != b"EntityDescriptor" => {
                return None;
            }
            Event::DocType(_) => return None,
            Event::Eof => break,
            _ => {}
        }
    }
    if !path.is_empty() || certificates.is_empty() {
        return None;
    }
    Some(SamlMetadata { entity_id: entity_id?, certificates, valid_until })
}

fn oidc_json(p: &OidcProvider) -> Value {
    json!({
        "Url": p.url,
        "ClientIDList": p.client_ids,
        "ThumbprintList": p.thumbprints,
        "CreateDate": p.create_date,
        "Tags": tags_json(&p.tags),
    })
}

fn saml_metadata_error() -> AwsError {
    invalid_input("Could not parse metadata")
}

impl Iam {
    pub(crate) async fn create_oidc_provider(&self, call: &Call, input: CreateOidcInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let issuer = oidc_issuer(&input.url)
            .ok_or_else(|| CommonError::Validation.error(ServiceId::Iam, "Invalid Open ID Connect Provider URL"))?;
        check_thumbprints(&input.thumbprint_list)?;
        if input.client_ids.len() > CLIENT_IDS_PER_PROVIDER {
            return Err(client_ids_quota());
        }
        let tags = new_tags(input.tags)?;
        let arn = format!("arn:aws:iam::{account}:oidc-provider/{issuer}");
        let can_create = || {
            let state = self.state.read();
            let a = state.accounts.get(&account);
            if a.is_some_and(|a| a.oidc_providers.contains_key(&arn)) {
                return Err(IamException::EntityAlreadyExistsException
                    .error(format!("Provider with url https://{issuer} already exists.")));
            }
            if a.map_or(0, |a| a.oidc_providers.len()) >= OIDC_PROVIDERS_PER_ACCOUNT {
                return Err(IamException::LimitExceededException.error(format!(
                    "Cannot exceed quota for OpenIdConnectProvidersPerAccount: {OIDC_PROVIDERS_PER_ACCOUNT}"
                )));
            }
            Ok(())
        };
        can_create()?;
        // AWS: without a ThumbprintList, IAM retrieves the thumbprint of the
        // top intermediate CA of the provider's certificate. Asked once the
        // request is known to be creatable, before the lock is taken: it is
        // a network round trip.
        let mut thumbprints = input.thumbprint_list;
        if thumbprints.is_empty() {
            if let Some(probe) = self.thumbprint_probe.get() {
                let host = issuer.split('/').next().unwrap_or(issuer);
                thumbprints.extend(probe.thumbprint(host).await);
            }
        }
        let guard = self.lock().await;
        // Again under the lock: another call may have created it meanwhile.
        can_create()?;
        let mut client_ids: Vec<String> = Vec::new();
        for id in input.client_ids {
            if !client_ids.contains(&id) {
                client_ids.push(id);
            }
        }
        let provider = OidcProvider {
            arn: arn.clone(),
            url: issuer.to_string(),
            client_ids,
            thumbprints,
            create_date: now_seconds(call),
            tags,
        };
        let mut output = json!({ "OpenIDConnectProviderArn": arn });
        if !provider.tags.is_empty() {
            output.set("Tags", tags_json(&provider.tags));
        }
        self.store_oidc(guard, account, provider, output)
    }

    fn store_oidc(
        &self,
        guard: tokio::sync::OwnedMutexGuard<()>,
        account: AccountId,
        provider: OidcProvider,
        output: Value,
    ) -> Result<Outcome, AwsError> {
        let writes = vec![put(OIDC_PROVIDER_KIND, &account, &provider.arn, &provider)?];
        let resources = vec![provider_resource(&provider.arn)];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            state.accounts.entry(account).or_default().oidc_providers.insert(provider.arn.clone(), provider);
        });
        Ok(Outcome { output, resources, change: Some(change) })
    }

    /// Changes a stored OIDC provider with `edit`.
    async fn edit_oidc(
        &self,
        call: &Call,
        arn: &str,
        edit: impl FnOnce(&mut OidcProvider) -> Result<(), AwsError>,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let provider = {
            let state = self.state.read();
            let mut provider = state
                .accounts
                .get(&account)
                .and_then(|a| a.oidc_providers.get(arn))
                .cloned()
                .ok_or_else(|| no_such_oidc_provider(arn))?;
            edit(&mut provider)?;
            provider
        };
        self.store_oidc(guard, account, provider, json!({}))
    }

    pub(crate) fn get_oidc_provider(&self, call: &Call, input: OidcArnInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let provider = state.accounts.get(call.caller.account()).and_then(|a| a.oidc_providers.get(&input.arn));
        let provider = provider.ok_or_else(|| no_such_oidc_provider(&input.arn))?;
        Ok(Outcome::read(oidc_json(provider)))
    }

    pub(crate) fn list_oidc_providers(&self, call: &Call, _: crate::NoInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let empty = AccountState::default();
        let a = state.accounts.get(call.caller.account()).unwrap_or(&empty);
        let list: Vec<Value> = a.oidc_providers.keys().map(|arn| json!({ "Arn": arn })).collect();
        Ok(Outcome::read(json!({ "OpenIDConnectProviderList": list })))
    }

    pub(crate) async fn delete_oidc_provider(&self, call: &Call, input: OidcArnInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let exists =
            self.state.read().accounts.get(&account).is_some_and(|a| a.oidc_providers.contains_key(&input.arn));
        let resources = vec![provider_resource(&input.arn)];
        if !exists {
            // AWS documents this operation as idempotent: deleting a provider
            // that does not exist succeeds and changes nothing.
            return Ok(Outcome { output: json!({}), resources, change: None });
        }
        let writes = vec![delete(OIDC_PROVIDER_KIND, &account, &input.arn)];
        let arn = input.arn;
        let change = self.change(guard, writes, move |state: &mut State, _| {
            if let Some(a) = state.accounts.get_mut(&account) {
                a.oidc_providers.remove(&arn);
            }
        });
        Ok(Outcome { output: json!({}), resources, change: Some(change) })
    }

    pub(crate) async fn add_oidc_client_id(&self, call: &Call, input: OidcClientInput) -> Result<Outcome, AwsError> {
        self.edit_oidc(call, &input.arn, |p| {
            if p.client_ids.contains(&input.client_id) {
                return Ok(());
            }
            if p.client_ids.len() >= CLIENT_IDS_PER_PROVIDER {
                return Err(client_ids_quota());
            }
            p.client_ids.push(input.client_id);
            Ok(())
        })
        .await
    }

    pub(crate) async fn remove_oidc_client_id(&self, call: &Call, input: OidcClientInput) -> Result<Outcome, AwsError> {
        self.edit_oidc(call, &input.arn, |p| {
            p.client_ids.retain(|id| *id != input.client_id);
            Ok(())
        })
        .await
    }

    pub(crate) async fn update_oidc_thumbprints(
        &self,
        call: &Call,
        input: OidcThumbprintInput,
    ) -> Result<Outcome, AwsError> {
        check_thumbprints(&input.thumbprint_list)?;
        self.edit_oidc(call, &input.arn, |p| {
            p.thumbprints = input.thumbprint_list;
            Ok(())
        })
        .await
    }

    pub(crate) async fn create_saml_provider(&self, call: &Call, input: CreateSamlInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let metadata = parse_saml_metadata(&input.metadata).ok_or_else(saml_metadata_error)?;
        let tags = new_tags(input.tags)?;
        let arn = format!("arn:aws:iam::{account}:saml-provider/{}", input.name);
        let guard = self.lock().await;
        {
            let state = self.state.read();
            let a = state.accounts.get(&account);
            if a.is_some_and(|a| a.saml_providers.keys().any(|k| k.eq_ignore_ascii_case(&arn))) {
                return Err(IamException::EntityAlreadyExistsException
                    .error(format!("SAMLProvider {} already exists", input.name)));
            }
            if a.map_or(0, |a| a.saml_providers.len()) >= SAML_PROVIDERS_PER_ACCOUNT {
                return Err(IamException::LimitExceededException
                    .error(format!("Cannot exceed quota for SAMLProvidersPerAccount: {SAML_PROVIDERS_PER_ACCOUNT}")));
            }
        }
        let provider = SamlProvider {
            arn: arn.clone(),
            name: input.name,
            metadata: input.metadata,
            entity_id: metadata.entity_id,
            certificates: metadata
                .certificates
                .iter()
                .map(|c| base64::engine::general_purpose::STANDARD.encode(c))
                .collect(),
            valid_until: metadata.valid_until,
            uuid: rampart_core::ids::unique_id("SAML").get(4..).unwrap_or_default().to_string(),
            create_date: now_seconds(call),
            assertion_encryption_mode: input.assertion_encryption_mode,
            tags,
        };
        let mut output = json!({ "SAMLProviderArn": arn });
        if !provider.tags.is_empty() {
            output.set("Tags", tags_json(&provider.tags));
        }
        self.store_saml(guard, account, provider, output)
    }

    fn store_saml(
        &self,
        guard: tokio::sync::OwnedMutexGuard<()>,
        account: AccountId,
        provider: SamlProvider,
        output: Value,
    ) -> Result<Outcome, AwsError> {
        let writes = vec![put(SAML_PROVIDER_KIND, &account, &provider.arn, &provider)?];
        let resources = vec![Resource { kind: "AWS::IAM::SAMLProvider".into(), name: provider.arn.clone() }];
        let change = self.change(guard, writes, move |state: &mut State, _| {
            state.accounts.entry(account).or_default().saml_providers.insert(provider.arn.clone(), provider);
        });
        Ok(Outcome { output, resources, change: Some(change) })
    }

    pub(crate) fn get_saml_provider(&self, call: &Call, input: SamlArnInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let provider = state.accounts.get(call.caller.account()).and_then(|a| a.saml_providers.get(&input.arn));
        let p = provider.ok_or_else(|| no_such_saml_provider(&input.arn))?;
        let mut output = json!({
            "SAMLProviderUUID": p.uuid,
            "SAMLMetadataDocument": p.metadata,
            "CreateDate": p.create_date,
            "Tags": tags_json(&p.tags),
            "AssertionEncryptionMode": p.assertion_encryption_mode.as_deref().unwrap_or("Allowed"),
            "PrivateKeyList": [],
        });
        if let Some(until) = p.valid_until {
            output.set("ValidUntil", json!(until));
        }
        Ok(Outcome::read(output))
    }

    pub(crate) fn list_saml_providers(&self, call: &Call, _: crate::NoInput) -> Result<Outcome, AwsError> {
        let state = self.state.read();
        let empty = AccountState::default();
        let a = state.accounts.get(call.caller.account()).unwrap_or(&empty);
        let list: Vec<Value> = a
            .saml_providers
            .values()
            .map(|p| {
                let mut entry = json!({ "Arn": p.arn, "CreateDate": p.create_date });
                if let Some(until) = p.valid_until {
                    entry.set("ValidUntil", json!(until));
                }
                entry
            })
            .collect();
        Ok(Outcome::read(json!({ "SAMLProviderList": list })))
    }

    pub(crate) async fn update_saml_provider(&self, call: &Call, input: UpdateSamlInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let metadata = match &input.metadata {
            Some(document) => Some(parse_saml_metadata(document).ok_or_else(saml_metadata_error)?),
            None => None,
        };
        let guard = self.lock().await;
        let mut provider = {
            let state = self.state.read();
            let provider = state.accounts.get(&account).and_then(|a| a.saml_providers.get(&input.arn));
            provider.cloned().ok_or_else(|| no_such_saml_provider(&input.arn))?
        };
        if let (Some(document), Some(metadata)) = (input.metadata, metadata) {
            provider.metadata = document;
            provider.entity_id = metadata.entity_id;
            provider.certificates =
                metadata.certificates.iter().map(|c| base64::engine::general_purpose::STANDARD.encode(c)).collect();
            provider.valid_until = metadata.valid_until;
        }
        if let Some(mode) = input.assertion_encryption_mode {
            provider.assertion_encryption_mode = Some(mode);
        }
        let output = json!({ "SAMLProviderArn": provider.arn });
        self.store_saml(guard, account, provider, output)
    }

    pub(crate) async fn delete_saml_provider(&self, call: &Call, input: SamlArnInput) -> Result<Outcome, AwsError> {
        let account = call.caller.account().clone();
        let guard = self.lock().await;
        let exists =
            self.state.read().accounts.get(&account).is_some_and(|a| a.saml_providers.contains_key(&input.arn));
        if !exists {
            return Err(no_such_saml_provider(&input.arn));
        }
        let writes = vec![delete(SAML_PROVIDER_KIND, &account, &input.arn)];
        let resources = vec![Resource { kind: "AWS::IAM::SAMLProvider".into(), name: input.arn.clone() }];
        let arn = input.arn;
        let change = self.change(guard, writes, move |state: &mut State, _| {
            if let Some(a) = state.accounts.get_mut(&account) {
                a.saml_providers.remove(&arn);
            }
        });
        Ok(Outcome { output: json!({}), resources, change: Some(change) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_urls() {
        let cases: &[(&str, Option<&str>)] = &[
            ("https://server.example.com", Some("server.example.com")),
            ("https://oidc.eks.eu-central-1.amazonaws.com/id/ABC", Some("oidc.eks.eu-central-1.amazonaws.com/id/ABC")),
            ("https://token.actions.githubusercontent.com/", Some("token.actions.githubusercontent.com")),
            ("http://server.example.com", None),
            ("server.example.com", None),
            ("https://", None),
            ("https://example.com:8443", None),
            ("https://example.com/?a=b", None),
            ("https://user@example.com", None),
        ];
        for (url, issuer) in cases {
            assert_eq!(oidc_issuer(url), *issuer, "{url}");
        }
    }

    const CERT: &str = "MIIBszCCAVmgAwIBAgIUXkVJ";

    fn metadata(body: &str) -> String {
        format!(
            r#"<?xml version="1.0"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.com/saml" validUntil="2030-01-01T00:00:00Z">{body}</md:EntityDescriptor>"#
        )
    }

    #[test]
    fn saml_metadata_needs_an_idp_certificate() {
        let good = metadata(&format!(
            r#"<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>
            {CERT}
            </ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor></md:IDPSSODescriptor>"#
        ));
        let parsed = parse_saml_metadata(&good).expect("parsed");
        assert_eq!(parsed.entity_id, "https://idp.example.com/saml");
        assert_eq!(parsed.certificates.len(), 1);
        assert_eq!(parsed.valid_until, Some(1_893_456_000.0));
        // No IdP descriptor, no certificate, not base64, not metadata, unclosed, a DTD.
        assert!(parse_saml_metadata(&metadata("<md:SPSSODescriptor/>")).is_none());
        assert!(parse_saml_metadata(&metadata("<md:IDPSSODescriptor></md:IDPSSODescriptor>")).is_none());
        let not_base64 = good.replace(CERT, "%%%");
        assert!(parse_saml_metadata(&not_base64).is_none());
        assert!(parse_saml_metadata("<html><body/></html>").is_none());
        assert!(parse_saml_metadata(&good[..good.len() - 30]).is_none());
        let dtd = format!("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{good}");
        assert!(parse_saml_metadata(&dtd).is_none());
        assert!(parse_saml_metadata("not xml at all").is_none());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn saml_reader_never_panics(text in ".{0,800}") {
            let _ = parse_saml_metadata(&text);
            let _ = parse_saml_metadata(&format!("<md:EntityDescriptor entityID=\"x\">{text}</md:EntityDescriptor>"));
        }

        #[test]
        fn issuer_reader_never_panics(text in ".{0,300}") {
            if let Some(issuer) = oidc_issuer(&text) {
                prop_assert!(!issuer.is_empty() && !issuer.contains('?'));
            }
        }
    }

    /// Deep nesting costs memory in proportion to the input, never stack.
    #[test]
    fn deeply_nested_metadata_is_refused_without_recursion() {
        let depth = 200_000;
        let document = format!(
            "<md:EntityDescriptor entityID=\"x\">{}{}</md:EntityDescriptor>",
            "<a>".repeat(depth),
            "</a>".repeat(depth)
        );
        assert!(parse_saml_metadata(&document).is_none());
    }
}
