//! AssumeRoleWithSAML: an unsigned request whose caller is the subject of
//! a SAML 2.0 response from an identity provider registered as an IAM SAML
//! provider. The response or its assertion must be signed with a
//! certificate of the provider's metadata (`xml_dsig`), issued by the
//! provider's entity, addressed to AWS's sign-in endpoint, within its
//! validity, and name the role and provider asked for in its `Role`
//! attribute. Then the role's trust policy decides, with `saml:*` keys.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use rampart_core::{Arn, AwsError, Call, FederatedIdentity, FederationKind, Outcome, OutputMembers, Principal};
use rampart_wire::{ExceptionId, StsException};

use crate::xml_dsig::{Document, DSIG};
use crate::{invalid_token as invalid, RoleSessionAsk, Sts};

const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const ROLE_ATTRIBUTE: &str = "https://aws.amazon.com/SAML/Attributes/Role";
const SESSION_NAME_ATTRIBUTE: &str = "https://aws.amazon.com/SAML/Attributes/RoleSessionName";
const PRINCIPAL_TAG_PREFIX: &str = "https://aws.amazon.com/SAML/Attributes/PrincipalTag:";
const TRANSITIVE_ATTRIBUTE: &str = "https://aws.amazon.com/SAML/Attributes/TransitiveTagKeys";
const SOURCE_IDENTITY_ATTRIBUTE: &str = "https://aws.amazon.com/SAML/Attributes/SourceIdentity";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SamlInput {
    #[serde(flatten)]
    session: RoleSessionAsk,
}

fn rejected(message: impl Into<String>) -> AwsError {
    StsException::IDPRejectedClaimException.error(message.into())
}

/// Whether a URL is AWS's SAML sign-in endpoint, global or regional: where
/// identity providers set up for AWS address their responses.
fn is_aws_sign_in(url: &str) -> bool {
    url == "https://signin.aws.amazon.com/saml"
        || url
            .strip_prefix("https://")
            .and_then(|rest| rest.strip_suffix(".signin.aws.amazon.com/saml"))
            .is_some_and(rampart_core::regions::is_partition_region)
}

/// `saml:sub_type`: `persistent`, `transient`, or the format's URI.
fn subject_type(format: Option<&str>) -> String {
    match format {
        Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent") => "persistent".into(),
        Some("urn:oasis:names:tc:SAML:2.0:nameid-format:transient") => "transient".into(),
        Some(other) => other.into(),
        None => "unspecified".into(),
    }
}

impl Sts {
    /// The subject of the request's SAML response, verified.
    pub(crate) async fn identify_saml(&self, input: &Value, time_ms: i64) -> Result<Principal, AwsError> {
        let text = |member: &str| input.get(member).and_then(Value::as_str).unwrap_or_default();
        let provider_arn = text("PrincipalArn");
        let role_arn = text("RoleArn");
        let provider =
            self.iam.saml_provider(provider_arn).ok_or_else(|| invalid("Specified provider doesn't exist."))?;
        let account = Arn::parse(&provider.arn)
            .and_then(|a| a.account_id())
            .ok_or_else(|| invalid("Specified provider doesn't exist."))?;
        let encoded = text("SAMLAssertion");
        let compact: String = encoded.chars().filter(|c| !c.is_whitespace()).collect();
        let xml = STANDARD
            .decode(compact)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| invalid("The SAML assertion is not base64-encoded UTF-8 XML."))?;
        let doc = Document::parse(&xml).map_err(|e| invalid(format!("Invalid SAML response: {e}")))?;
        let response = doc.root();
        if !doc.is(response, PROTOCOL, "Response") {
            return Err(invalid("Invalid SAML response: the document is not a SAML 2.0 Response."));
        }
        let status = doc
            .only_child(response, PROTOCOL, "Status")
            .and_then(|s| doc.only_child(s, PROTOCOL, "StatusCode"))
            .and_then(|c| doc.attribute(c, "Value"));
        if status != Some(SUCCESS) {
            return Err(rejected("The SAML response's status is not Success."));
        }
        if doc.children_named(response, ASSERTION, "EncryptedAssertion").next().is_some() {
            return Err(invalid(
                "Rampart does not decrypt encrypted SAML assertions; have the provider sign them instead.",
            ));
        }
        let assertion = doc
            .only_child(response, ASSERTION, "Assertion")
            .ok_or_else(|| invalid("Invalid SAML response: it must hold exactly one Assertion."))?;
        // The certificates of the metadata, never the KeyInfo sent along.
        let certificates: Vec<Vec<u8>> = provider.certificates.iter().filter_map(|c| STANDARD.decode(c).ok()).collect();
        let mut covered = false;
        for (element, name) in [(response, "Response"), (assertion, "Assertion")] {
            let mut signatures = doc.children_named(element, DSIG, "Signature");
            let Some(signature) = signatures.next() else { continue };
            if signatures.next().is_some() {
                return Err(invalid(format!("Invalid SAML response: the {name} has more than one signature.")));
            }
            let signed = doc
                .verify_enveloped(signature, &certificates)
                .map_err(|e| invalid(format!("{name} signature invalid: {e}")))?;
            covered |= signed == element;
        }
        if !covered {
            return Err(invalid("Invalid SAML response: neither the Response nor its Assertion is signed."));
        }
        let issuer = doc.only_child(assertion, ASSERTION, "Issuer").map(|i| doc.text(i)).unwrap_or_default();
        let issuer = issuer.trim();
        if issuer != provider.entity_id {
            return Err(rejected(format!(
                "The assertion's issuer {issuer} is not the provider's entity {}.",
                provider.entity_id
            )));
        }
        let now = time_ms as f64 / 1000.0;
        let time_of =
            |element: usize, attribute: &str| doc.attribute(element, attribute).and_then(rampart_wire::parse_timestamp);
        if provider.valid_until.is_some_and(|until| now >= until) {
            return Err(invalid("The SAML provider's metadata has expired (validUntil)."));
        }
        let subject =
            doc.only_child(assertion, ASSERTION, "Subject").ok_or_else(|| invalid("The assertion has no Subject."))?;
        let name_id = doc
            .only_child(subject, ASSERTION, "NameID")
            .ok_or_else(|| invalid("The assertion's Subject has no NameID."))?;
        let sub = doc.text(name_id).trim().to_string();
        let sub_type = subject_type(doc.attribute(name_id, "Format"));
        // A bearer confirmation addressed to AWS's sign-in endpoint, unexpired.
        let mut recipient = None;
        for confirmation in doc.children_named(subject, ASSERTION, "SubjectConfirmation") {
            if doc.attribute(confirmation, "Method") != Some("urn:oasis:names:tc:SAML:2.0:cm:bearer") {
                continue;
            }
            for data in doc.children_named(confirmation, ASSERTION, "SubjectConfirmationData") {
                let Some(to) = doc.attribute(data, "Recipient").filter(|r| is_aws_sign_in(r)) else { continue };
                match time_of(data, "NotOnOrAfter") {
                    Some(until) if now < until => recipient = Some(to.to_string()),
                    Some(_) => {
                        return Err(StsException::ExpiredTokenException
                            .error("The SAML assertion has expired (SubjectConfirmationData NotOnOrAfter)."))
                    }
                    None => return Err(invalid("The subject confirmation has no NotOnOrAfter.")),
                }
            }
        }
        // The IdP's limit on the session: the earliest AuthnStatement
        // SessionNotOnOrAfter (AWS: the session ends then, or at
        // DurationSeconds, whichever is sooner).
        let mut session_limit: Option<f64> = None;
        for statement in doc.children_named(assertion, ASSERTION, "AuthnStatement") {
            if doc.attribute(statement, "SessionNotOnOrAfter").is_none() {
                continue;
            }
            // A limit that does not read is refused, not ignored.
            let until = time_of(statement, "SessionNotOnOrAfter")
                .ok_or_else(|| invalid("The AuthnStatement's SessionNotOnOrAfter is not a time."))?;
            session_limit = Some(session_limit.map_or(until, |limit| limit.min(until)));
        }
        if session_limit.is_some_and(|until| now >= until) {
            return Err(StsException::ExpiredTokenException
                .error("The SAML assertion's session has ended (AuthnStatement SessionNotOnOrAfter)."));
        }
        let recipient = recipient.ok_or_else(|| {
            rejected("The assertion has no bearer confirmation for https://signin.aws.amazon.com/saml.")
        })?;
        if let Some(conditions) = doc.only_child(assertion, ASSERTION, "Conditions") {
            if time_of(conditions, "NotBefore").is_some_and(|from| now < from) {
                return Err(invalid("The SAML assertion is not yet valid (Conditions NotBefore)."));
            }
            if time_of(conditions, "NotOnOrAfter").is_some_and(|until| now >= until) {
                return Err(StsException::ExpiredTokenException
                    .error("The SAML assertion has expired (Conditions NotOnOrAfter)."));
            }
            let audiences: Vec<String> = doc
                .children_named(conditions, ASSERTION, "AudienceRestriction")
                .flat_map(|r| {
                    doc.children_named(r, ASSERTION, "Audience")
                        .map(|a| doc.text(a).trim().to_string())
                        .collect::<Vec<_>>()
                })
                .collect();
            let for_aws = |a: &String| is_aws_sign_in(a) || a == "urn:amazon:webservices";
            if !audiences.is_empty() && !audiences.iter().any(for_aws) {
                return Err(rejected("The assertion's audience is not AWS (https://signin.aws.amazon.com/saml)."));
            }
        }
        let attributes = attributes_of(&doc, assertion);
        let named =
            |name: &str| attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice()).unwrap_or_default();
        let role_pair_matches = named(ROLE_ATTRIBUTE).iter().any(|pair| {
            let mut parts: Vec<&str> = pair.split(',').map(str::trim).collect();
            parts.sort_unstable();
            let mut wanted = vec![role_arn, provider_arn];
            wanted.sort_unstable();
            parts == wanted
        });
        if !role_pair_matches {
            return Err(access_denied_saml());
        }
        let session_name = named(SESSION_NAME_ATTRIBUTE).first().cloned().unwrap_or_default();
        let valid_name = (2..=64).contains(&session_name.len())
            && session_name.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
        if !valid_name {
            return Err(invalid(
                "The assertion's RoleSessionName attribute (https://aws.amazon.com/SAML/Attributes/RoleSessionName) \
                 must be 2 to 64 characters of letters, digits and _+=,.@-",
            ));
        }
        let name_qualifier = {
            let digest = aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
                format!("{issuer}{account}/{}", provider.name).as_bytes(),
            );
            STANDARD.encode(digest)
        };
        let mut condition_keys = vec![
            ("saml:aud".to_string(), vec![recipient]),
            ("saml:iss".to_string(), vec![issuer.to_string()]),
            ("saml:sub".to_string(), vec![sub.clone()]),
            ("saml:sub_type".to_string(), vec![sub_type]),
            ("saml:namequalifier".to_string(), vec![name_qualifier.clone()]),
            ("saml:doc".to_string(), vec![format!("{account}/{}", provider.name)]),
            ("sts:RoleSessionName".to_string(), vec![session_name]),
        ];
        // Other attributes by their friendly key: `saml:` and the name's
        // last path segment (`…/claims/department` → `saml:department`).
        let mut tags = Vec::new();
        for (name, values) in &attributes {
            if let Some(key) = name.strip_prefix(PRINCIPAL_TAG_PREFIX) {
                let [value] = values.as_slice() else {
                    return Err(invalid(format!("The session tag {key} must have exactly one value.")));
                };
                tags.push((key.to_string(), value.clone()));
            }
        }
        let transitive = named(TRANSITIVE_ATTRIBUTE).to_vec();
        let (session_tags, transitive_tag_keys) = crate::provider_tags(tags, transitive)?;
        let source_identity = named(SOURCE_IDENTITY_ATTRIBUTE).first().cloned();
        for (name, values) in &attributes {
            if name == ROLE_ATTRIBUTE
                || name == SESSION_NAME_ATTRIBUTE
                || name.starts_with("https://aws.amazon.com/SAML/")
            {
                continue;
            }
            let short = name.rsplit(['/', ':']).next().unwrap_or(name);
            if !short.is_empty() {
                condition_keys.push((format!("saml:{short}"), values.clone()));
            }
        }
        Ok(Principal::Federated(Box::new(FederatedIdentity {
            session_tags,
            transitive_tag_keys,
            source_identity,
            session_ends_ms: session_limit.map(|until| (until * 1000.0) as i64),
            kind: FederationKind::Saml,
            principal_id: format!("{name_qualifier}:{sub}"),
            account,
            identity_provider: name_qualifier,
            provider_arn: provider.arn,
            subject: sub,
            condition_keys,
        })))
    }

    /// A role session for the response's subject, whom `identify_saml`
    /// verified and the role's trust policy allowed. The session is named
    /// by the assertion's RoleSessionName attribute.
    pub(crate) fn assume_role_with_saml(&self, call: &Call, input: SamlInput) -> Result<Outcome, AwsError> {
        let Principal::Federated(identity) = &call.caller else {
            return Err(access_denied_saml());
        };
        // `identify_saml` read the provider from this input's PrincipalArn.
        let key = |name: &str| identity.condition_value(name).unwrap_or_default();
        let (mut output, resources) =
            self.federated_role_session(call, identity, key("sts:RoleSessionName"), input.session)?;
        output.set("Subject", json!(identity.subject));
        output.set("SubjectType", json!(key("saml:sub_type")));
        output.set("Issuer", json!(key("saml:iss")));
        output.set("Audience", json!(key("saml:aud")));
        output.set("NameQualifier", json!(key("saml:namequalifier")));
        Ok(Outcome { output, resources, change: None })
    }
}

fn access_denied_saml() -> AwsError {
    crate::access_denied("Not authorized to perform sts:AssumeRoleWithSAML")
}

/// The assertion's attributes: `(Name, values)`.
fn attributes_of(doc: &Document, assertion: usize) -> Vec<(String, Vec<String>)> {
    doc.children_named(assertion, ASSERTION, "AttributeStatement")
        .flat_map(|statement| doc.children_named(statement, ASSERTION, "Attribute").collect::<Vec<_>>())
        .filter_map(|attribute| {
            let name = doc.attribute(attribute, "Name")?.to_string();
            let values = doc
                .children_named(attribute, ASSERTION, "AttributeValue")
                .map(|v| doc.text(v).trim().to_string())
                .collect();
            Some((name, values))
        })
        .collect()
}
