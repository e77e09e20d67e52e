//! Session tokens. A token is the session itself, sealed by the node's key wrapper:
//! nothing is stored when STS issues credentials, and a restarted node can
//! still open every token it issued. Tampering fails the seal; a token from
//! another node fails it too.

use serde::{Deserialize, Serialize};

use rampart_core::{Sealer, WrapError};

/// The sealing context: a token opens only as a session token.
const CONTEXT: &str = "sts-session-token";

/// Who the session belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub(crate) enum Holder {
    /// A role session (AssumeRole): the role by its unique id, so a role that
    /// was deleted and created again does not inherit old sessions.
    Role { role_id: String, session_name: String },
    /// GetSessionToken by an IAM user.
    User { user_id: String },
    /// GetSessionToken by the account root.
    Root,
    /// GetFederationToken by an IAM user: a federated user named `name`.
    Federated { user_id: String, name: String },
}

/// What a session token carries. No `Debug`: it holds the secret key.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub account: String,
    pub holder: Holder,
    pub issued_ms: i64,
    pub expires_ms: i64,
    /// The inline session policy, as passed.
    #[serde(default)]
    pub policy: Option<String>,
    /// Managed session policies by ARN, resolved when the token is opened.
    #[serde(default)]
    pub policy_arns: Vec<String>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// Tag keys that pass on to sessions this one assumes (role chaining).
    #[serde(default)]
    pub transitive: Vec<String>,
    #[serde(default)]
    pub source_identity: Option<String>,
    /// When the MFA code of the call that issued the token (or of the
    /// session it came from) was verified, epoch milliseconds.
    #[serde(default)]
    pub mfa_ms: Option<i64>,
    /// For a session from web identity or SAML federation: the provider's ARN.
    #[serde(default)]
    pub federated_provider: Option<String>,
}

pub(crate) fn seal(key: &Sealer, claims: &Claims) -> Result<String, WrapError> {
    let plaintext = zeroize::Zeroizing::new(serde_json::to_string(claims).map_err(|_| WrapError::Encrypt)?);
    key.seal_token(plaintext.as_bytes(), CONTEXT)
}

/// The claims of a token this node sealed; `None` for anything else.
pub(crate) fn open(key: &Sealer, token: &str) -> Option<Claims> {
    let plaintext = key.open_token(token, CONTEXT).ok()?;
    serde_json::from_slice(&plaintext).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_core::FileKeys;

    #[test]
    fn round_trip_and_tamper() {
        let sealer = |byte| Sealer::new(std::sync::Arc::new(FileKeys::from_bytes(&[byte; 32]).expect("a 32-byte key")));
        let key = sealer(9);
        let claims = Claims {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: "s".into(),
            account: "123456789012".into(),
            holder: Holder::Role { role_id: "AROA1".into(), session_name: "s1".into() },
            issued_ms: 1,
            expires_ms: 2,
            policy: None,
            policy_arns: vec![],
            tags: vec![("team".into(), "red".into())],
            transitive: vec![],
            source_identity: None,
            mfa_ms: Some(1),
            federated_provider: Some("arn:aws:iam::123456789012:oidc-provider/issuer.example.com".into()),
        };
        let token = seal(&key, &claims).expect("sealed");
        assert!(!token.contains("ASIAEXAMPLE"));
        assert!(open(&key, &token) == Some(claims));
        assert!(open(&sealer(8), &token).is_none());
        let mut tampered = token.into_bytes();
        if let Some(b) = tampered.get_mut(20) {
            *b = if *b == b'A' { b'B' } else { b'A' };
        }
        assert!(open(&key, &String::from_utf8_lossy(&tampered)).is_none());
    }
}
