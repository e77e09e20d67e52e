//! AssumeRoleWithWebIdentity: an unsigned request whose caller is the
//! subject of an OpenID Connect ID token. The token must name an issuer
//! registered as an IAM OIDC provider in the role's account, an audience
//! among the provider's client ids, be within `nbf`..`exp`, and be signed
//! by one of the issuer's published keys (`oidc_keys`). Then the role's
//! trust policy decides, with the token's claims as condition keys.

use serde::Deserialize;
use serde_json::{json, Value};

use rampart_core::{Arn, AwsError, Call, FederatedIdentity, FederationKind, Outcome, OutputMembers, Principal};
use rampart_wire::{ExceptionId, StsException};

use crate::jwt::{Jwt, JwtError};
use crate::{invalid_token, RoleSessionAsk, Sts};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct WebIdentityInput {
    role_session_name: String,
    #[serde(flatten)]
    session: RoleSessionAsk,
}

/// The claims a trust policy may test as `ISSUER:claim`, besides `aud`
/// (the audience matched) and `sub`.
const CLAIM_KEYS: &[&str] = &["azp", "amr", "email", "oaud"];

/// The issuer as IAM names its provider: `iss` without `https://` and a
/// trailing slash. An issuer that is not an https URL names none.
fn issuer_name(iss: &str) -> Option<&str> {
    let name = iss.strip_prefix("https://")?;
    Some(name.strip_suffix('/').unwrap_or(name))
}

impl Sts {
    /// The subject of the request's web identity token, verified.
    pub(crate) async fn identify_web_identity(&self, input: &Value, time_ms: i64) -> Result<Principal, AwsError> {
        let text = |member: &str| input.get(member).and_then(Value::as_str).unwrap_or_default();
        if input.get("ProviderId").is_some() {
            // OAuth 2.0 access tokens of Amazon and Facebook need their
            // providers' token-info endpoints, which Rampart cannot reach.
            return Err(invalid_token("ProviderId is only for OAuth 2.0 access tokens, which Rampart does not accept; pass an OpenID Connect ID token."));
        }
        let account = Arn::parse(text("RoleArn"))
            .and_then(|arn| arn.account_id())
            .ok_or_else(|| crate::access_denied("Not authorized to perform sts:AssumeRoleWithWebIdentity"))?;
        let jwt = Jwt::parse(text("WebIdentityToken")).map_err(|e| match e {
            JwtError::Malformed => invalid_token("The web identity token is not a JWT in compact serialization."),
            JwtError::Algorithm(alg) => {
                invalid_token(format!("The web identity token's signing algorithm {alg} is not accepted."))
            }
        })?;
        let iss = jwt.claim("iss").ok_or_else(|| invalid_token("The web identity token has no issuer (iss)."))?;
        // An empty name (not an https issuer) is no provider's.
        let issuer = issuer_name(iss).unwrap_or_default();
        // AWS: tokens from GetWebIdentityToken are for services outside AWS,
        // never for federation back into it.
        if issuer.split('/').next().is_some_and(|host| host.ends_with(rampart_iam::OUTBOUND_ISSUER_HOST_SUFFIX)) {
            return Err(invalid_token("Tokens issued by AWS STS cannot be used for web identity federation."));
        }
        let provider = self
            .iam
            .oidc_provider(&account, issuer)
            .filter(|_| !issuer.is_empty())
            .ok_or_else(|| invalid_token(format!("No OpenIDConnect provider found in your account for {iss}")))?;
        let audience = jwt
            .audiences()
            .into_iter()
            .find(|aud| provider.client_ids.iter().any(|id| id == aud))
            .map(str::to_string)
            .ok_or_else(|| invalid_token("Incorrect token audience"))?;
        let now = time_ms.div_euclid(1000);
        let expires = jwt
            .time_claim("exp")
            .ok_or_else(|| invalid_token("The web identity token has no expiration time (exp)."))?;
        if now as f64 >= expires {
            return Err(StsException::ExpiredTokenException.error(format!(
                "Token expired: current date/time {now} must be before the expiration date/time {}",
                expires as i64
            )));
        }
        if let Some(not_before) = jwt.time_claim("nbf").filter(|nbf| now as f64 + 0.5 < *nbf) {
            return Err(invalid_token(format!(
                "Token is not yet valid: current date/time {now} is before the not-before date/time {}",
                not_before as i64
            )));
        }
        let subject = jwt.claim("sub").ok_or_else(|| invalid_token("The web identity token has no subject (sub)."))?;
        let keys = self.keys.keys(issuer, &provider.thumbprints, jwt.key_id.as_deref()).await.map_err(|error| {
            tracing::warn!(%error, issuer, "the provider's keys could not be fetched");
            StsException::IDPCommunicationErrorException.error(
                "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements",
            )
        })?;
        let signed =
            keys.iter().filter(|key| jwt.key_id.is_none() || key.key_id == jwt.key_id).any(|key| jwt.verify(key));
        if !signed {
            return Err(invalid_token("The web identity token's signature is not that of any of the provider's keys."));
        }
        let mut condition_keys = vec![
            (format!("{issuer}:aud"), vec![audience.clone()]),
            (format!("{issuer}:sub"), vec![subject.to_string()]),
        ];
        for claim in CLAIM_KEYS {
            let values: Vec<String> = match jwt.claims.get(*claim) {
                Some(Value::String(one)) => vec![one.clone()],
                Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).map(str::to_string).collect(),
                _ => continue,
            };
            condition_keys.push((format!("{issuer}:{claim}"), values));
        }
        // Session tags: `https://aws.amazon.com/tags` with `principal_tags`
        // (each a list of one value) and `transitive_tag_keys`.
        let tags_claim = jwt.claims.get("https://aws.amazon.com/tags");
        let principal_tags = tags_claim.and_then(|t| t.get("principal_tags")).and_then(Value::as_object);
        let mut tags = Vec::new();
        for (key, value) in principal_tags.into_iter().flatten() {
            let value = match value {
                Value::Array(values) if values.len() == 1 => values.first().and_then(Value::as_str),
                Value::String(one) => Some(one.as_str()),
                _ => None,
            };
            let value = value
                .ok_or_else(|| invalid_token(format!("The session tag {key} must have exactly one string value.")))?;
            tags.push((key.clone(), value.to_string()));
        }
        let transitive: Vec<String> = tags_claim
            .and_then(|t| t.get("transitive_tag_keys"))
            .and_then(Value::as_array)
            .map(|keys| keys.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        let (session_tags, transitive_tag_keys) = crate::provider_tags(tags, transitive)?;
        Ok(Principal::Federated(Box::new(FederatedIdentity {
            session_tags,
            transitive_tag_keys,
            source_identity: None,
            session_ends_ms: None,
            kind: FederationKind::WebIdentity,
            principal_id: format!("{}:{audience}:{subject}", provider.arn),
            account,
            identity_provider: provider.arn.clone(),
            provider_arn: provider.arn,
            subject: subject.to_string(),
            condition_keys,
        })))
    }

    /// A role session for the token's subject, whom `identify_web_identity`
    /// verified and the role's trust policy allowed.
    pub(crate) fn assume_role_with_web_identity(
        &self,
        call: &Call,
        input: WebIdentityInput,
    ) -> Result<Outcome, AwsError> {
        let Principal::Federated(identity) = &call.caller else {
            return Err(crate::access_denied("Not authorized to perform sts:AssumeRoleWithWebIdentity"));
        };
        let issuer = identity.provider_arn.split_once(":oidc-provider/").map(|(_, issuer)| issuer).unwrap_or_default();
        let audience = identity.condition_value(&format!("{issuer}:aud")).unwrap_or_default().to_string();
        let (mut output, resources) =
            self.federated_role_session(call, identity, &input.role_session_name, input.session)?;
        output.set("SubjectFromWebIdentityToken", json!(identity.subject));
        output.set("Provider", json!(issuer));
        output.set("Audience", json!(audience));
        Ok(Outcome { output, resources, change: None })
    }
}
