//! What STS issued with a set of temporary credentials: their lifetime, the
//! session policies that limit them, the session's tags.

use rampart_policy::Policy;

#[derive(Debug, Clone, Default)]
pub struct Session {
    /// Epoch milliseconds (`aws:TokenIssueTime`).
    pub issued_ms: i64,
    /// Epoch milliseconds after which the credentials are refused.
    pub expires_ms: i64,
    /// Session policies by name (an ARN, or `session-policy` for the inline
    /// one): they limit the role's permissions and never grant any. A policy
    /// that could not be found is kept as an empty policy, so it allows nothing.
    pub policies: Vec<(String, Policy)>,
    /// The condition keys the session policies refer to, lower-cased.
    pub keys: Vec<String>,
    /// Session tags (`aws:PrincipalTag/*`, over the role's own tags).
    pub tags: Vec<(String, String)>,
    /// The tag keys that pass on to a session this one assumes.
    pub transitive_tag_keys: Vec<String>,
    pub source_identity: Option<String>,
    /// When an MFA code was verified for these credentials (epoch
    /// milliseconds): `aws:MultiFactorAuthPresent` and `aws:MultiFactorAuthAge`.
    pub mfa_authenticated_ms: Option<i64>,
    /// For a role session from AssumeRoleWithWebIdentity or
    /// AssumeRoleWithSAML: the identity provider's ARN
    /// (`aws:FederatedProvider`, CloudTrail's `webIdFederationData`).
    pub federated_provider: Option<String>,
}

impl Session {
    pub fn is_expired(&self, now_ms: i64) -> bool {
        now_ms >= self.expires_ms
    }
}
