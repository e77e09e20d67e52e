//! GetWebIdentityToken (outbound web identity federation): a JWT that names
//! the calling AWS identity, for services outside AWS that verify it against
//! the account issuer's published keys. IAM owns the issuer and its keys
//! (`rampart_iam::outbound`); this builds the token and has IAM sign it.
//!
//! The claims are AWS's: `iss` the account's issuer, `sub` the caller's ARN
//! (a role session's role), `aud` the requested audiences, `iat`, `exp` and
//! `jti`, and under `https://sts.amazonaws.com/` the account, the region, the
//! caller's principal tags and the request's tags.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use rampart_core::{AwsError, Call, Outcome, Principal};
use rampart_iam::OUTBOUND_ALGORITHMS;
use rampart_wire::{ExceptionId, StsException};

use crate::{validation, Sts, TagInput};

/// GetWebIdentityToken's token lifetime when the request names none.
const DEFAULT_TOKEN_SECONDS: i64 = 300;
/// The namespace of AWS's own claims in the token.
const AWS_CLAIMS: &str = "https://sts.amazonaws.com/";
/// The largest payload (JSON) a token may carry; request tags are what make it
/// grow.
const MAX_PAYLOAD_BYTES: usize = 16 * 1024;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct WebIdentityTokenInput {
    audience: Vec<String>,
    duration_seconds: Option<i64>,
    signing_algorithm: String,
    #[serde(default)]
    tags: Vec<TagInput>,
}

fn federation_disabled() -> AwsError {
    StsException::OutboundWebIdentityFederationDisabledException
        .error("Outbound web identity federation is disabled for this account.")
}

fn tag_object(tags: impl IntoIterator<Item = (String, String)>) -> Map<String, Value> {
    tags.into_iter().map(|(k, v)| (k, Value::String(v))).collect()
}

impl Sts {
    pub(crate) async fn get_web_identity_token(
        &self,
        call: &Call,
        input: WebIdentityTokenInput,
    ) -> Result<Outcome, AwsError> {
        let account = call.caller.account();
        if !OUTBOUND_ALGORITHMS.contains(&input.signing_algorithm.as_str()) {
            return Err(validation(format!(
                "1 validation error detected: Value '{}' at 'signingAlgorithm' failed to satisfy constraint: \
                 Member must satisfy enum value set: [{}]",
                input.signing_algorithm,
                OUTBOUND_ALGORITHMS.join(", ")
            )));
        }
        let issuer = self.iam.outbound_issuer(account).ok_or_else(federation_disabled)?;
        let duration = input.duration_seconds.unwrap_or(DEFAULT_TOKEN_SECONDS);
        let expires_ms = call.time_ms + duration * 1000;
        if call.session.as_ref().is_some_and(|s| expires_ms > s.expires_ms) {
            return Err(StsException::SessionDurationEscalationException
                .error("The requested token duration would extend the session beyond its original expiration time."));
        }
        let subject = match &call.caller {
            Principal::AssumedRole { .. } => call.caller.role_arn().unwrap_or_else(|| call.caller.arn()),
            other => other.arn(),
        };
        // A session's tags override its role's of the same key, as they do for
        // `aws:PrincipalTag`.
        let mut principal_tags = tag_object(self.iam.principal_tags(&call.caller));
        if let Some(session) = &call.session {
            principal_tags.extend(tag_object(session.tags.iter().cloned()));
        }
        let mut aws = Map::new();
        aws.insert("aws_account".into(), json!(account.as_str()));
        aws.insert("source_region".into(), json!(call.region));
        if !principal_tags.is_empty() {
            aws.insert("principal_tags".into(), Value::Object(principal_tags));
        }
        if !input.tags.is_empty() {
            aws.insert(
                "request_tags".into(),
                Value::Object(tag_object(input.tags.into_iter().map(|t| (t.key, t.value)))),
            );
        }
        let audience = match input.audience.as_slice() {
            [one] => json!(one),
            many => json!(many),
        };
        let issued = call.time_ms / 1000;
        let payload = json!({
            "iss": issuer,
            "sub": subject,
            "aud": audience,
            "iat": issued,
            "exp": expires_ms / 1000,
            "jti": uuid::Uuid::new_v4().to_string(),
            AWS_CLAIMS: aws,
        })
        .to_string();
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(StsException::JWTPayloadSizeExceededException.error(
                "The requested token payload size exceeds the maximum allowed size. Reduce the number of request \
                 tags included in the request.",
            ));
        }
        let (iam, signer, algorithm) = (self.iam.clone(), account.clone(), input.signing_algorithm);
        // An RSA signature takes a millisecond or two of one core: on the
        // blocking pool, as password hashing is.
        let token = tokio::task::spawn_blocking(move || iam.sign_outbound_token(&signer, &algorithm, &payload))
            .await
            .ok()
            .flatten()
            .ok_or_else(federation_disabled)?;
        Ok(Outcome::read(json!({ "WebIdentityToken": token, "Expiration": (expires_ms / 1000) as f64 })))
    }
}
