//! Who is calling.

use std::fmt;

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    /// `None` unless `id` is exactly 12 ASCII digits.
    pub fn parse(id: &str) -> Option<AccountId> {
        (id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())).then(|| AccountId(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An authenticated identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The account's root user.
    Root { account: AccountId },
    /// An IAM user.
    User { account: AccountId, user_id: String, name: String, path: String },
    /// A role session, from STS AssumeRole. `principal_id` is `ROLE_ID:SESSION_NAME`.
    AssumedRole {
        account: AccountId,
        role_id: String,
        role_name: String,
        role_path: String,
        session_name: String,
        principal_id: String,
    },
    /// A federated user, from STS GetFederationToken by an IAM user: its
    /// permissions are the issuing user's, limited by the session policies.
    /// `principal_id` is `ACCOUNT:NAME`.
    FederatedUser {
        account: AccountId,
        /// The IAM user that called GetFederationToken.
        user_id: String,
        user_name: String,
        user_path: String,
        name: String,
        principal_id: String,
    },
    /// A caller identified by a token of an identity provider — a web
    /// identity token or a SAML assertion — that STS verified, in a request
    /// signed by no AWS credentials (AssumeRoleWithWebIdentity,
    /// AssumeRoleWithSAML). It has no policies of its own: it may only ask
    /// to assume a role whose trust policy names its provider.
    Federated(Box<FederatedIdentity>),
}

/// Which kind of identity provider vouched for a [`Principal::Federated`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FederationKind {
    WebIdentity,
    Saml,
}

/// What a verified identity-provider token says about its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedIdentity {
    pub kind: FederationKind,
    /// The account of the provider (and of the role asked for).
    pub account: AccountId,
    /// The IAM identity provider's ARN: what a trust policy's `Federated`
    /// principal names.
    pub provider_arn: String,
    /// CloudTrail's `identityProvider`: the issuer (web identity) or the
    /// name qualifier (SAML).
    pub identity_provider: String,
    /// The token's subject (`sub`, the SAML `NameID`): CloudTrail's `userName`.
    pub subject: String,
    /// CloudTrail's `principalId`.
    pub principal_id: String,
    /// The condition keys the token sets (`ISSUER:aud`, `saml:sub`, …)
    /// with their values, for the trust policy.
    pub condition_keys: Vec<(String, Vec<String>)>,
    /// What the provider passes to the role session: session tags, the
    /// tag keys that are transitive, and a source identity.
    pub session_tags: Vec<(String, String)>,
    pub transitive_tag_keys: Vec<String>,
    pub source_identity: Option<String>,
    /// When the provider says the session must end at the latest (a SAML
    /// AuthnStatement's SessionNotOnOrAfter), epoch milliseconds.
    pub session_ends_ms: Option<i64>,
}

impl FederatedIdentity {
    /// The first value of one of `condition_keys`.
    pub fn condition_value(&self, key: &str) -> Option<&str> {
        let (_, values) = self.condition_keys.iter().find(|(k, _)| k == key)?;
        values.first().map(String::as_str)
    }
}

impl Principal {
    pub fn account(&self) -> &AccountId {
        match self {
            Principal::Root { account }
            | Principal::User { account, .. }
            | Principal::AssumedRole { account, .. }
            | Principal::FederatedUser { account, .. } => account,
            Principal::Federated(identity) => &identity.account,
        }
    }

    pub fn arn(&self) -> String {
        match self {
            Principal::Root { account } => format!("arn:aws:iam::{account}:root"),
            Principal::User { account, name, path, .. } => crate::iam_arn(account, "user", path, name),
            Principal::AssumedRole { account, role_name, session_name, .. } => {
                format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}")
            }
            Principal::FederatedUser { account, name, .. } => format!("arn:aws:sts::{account}:federated-user/{name}"),
            // Not an AWS principal: it is known by its provider.
            Principal::Federated(identity) => identity.provider_arn.clone(),
        }
    }

    /// For a role session, the role's ARN (`aws:PrincipalArn` names it, not the session).
    pub fn role_arn(&self) -> Option<String> {
        match self {
            Principal::AssumedRole { account, role_name, role_path, .. } => {
                Some(crate::iam_arn(account, "role", role_path, role_name))
            }
            _ => None,
        }
    }

    /// `UserId` of GetCallerIdentity and `principalId` of CloudTrail.
    pub fn principal_id(&self) -> &str {
        match self {
            Principal::Root { account } => account.as_str(),
            Principal::User { user_id, .. } => user_id,
            Principal::AssumedRole { principal_id, .. } | Principal::FederatedUser { principal_id, .. } => principal_id,
            Principal::Federated(identity) => &identity.principal_id,
        }
    }

    /// CloudTrail's `userIdentity.type`.
    pub fn identity_type(&self) -> &'static str {
        match self {
            Principal::Root { .. } => "Root",
            Principal::User { .. } => "IAMUser",
            Principal::AssumedRole { .. } => "AssumedRole",
            Principal::FederatedUser { .. } => "FederatedUser",
            Principal::Federated(identity) => match identity.kind {
                FederationKind::WebIdentity => "WebIdentityUser",
                FederationKind::Saml => "SAMLUser",
            },
        }
    }

    /// The `Username` CloudTrail lookups match: `root` for the root user, the
    /// session name for a role session.
    pub fn lookup_username(&self) -> &str {
        match self {
            Principal::Root { .. } => "root",
            Principal::User { name, .. } => name,
            Principal::AssumedRole { session_name, .. } => session_name,
            Principal::FederatedUser { name, .. } => name,
            Principal::Federated(identity) => &identity.subject,
        }
    }

    pub fn is_root(&self) -> bool {
        matches!(self, Principal::Root { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_and_ids() {
        let account = AccountId::parse("123456789012").expect("a valid account id");
        let root = Principal::Root { account: account.clone() };
        assert_eq!(root.arn(), "arn:aws:iam::123456789012:root");
        assert_eq!(root.principal_id(), "123456789012");
        let user = Principal::User { account, user_id: "AIDA1".into(), name: "bob".into(), path: "/div/".into() };
        assert_eq!(user.arn(), "arn:aws:iam::123456789012:user/div/bob");
        assert_eq!(user.identity_type(), "IAMUser");
        let session = Principal::AssumedRole {
            account: user.account().clone(),
            role_id: "AROA1".into(),
            role_name: "deploy".into(),
            role_path: "/ci/".into(),
            session_name: "build-7".into(),
            principal_id: "AROA1:build-7".into(),
        };
        assert_eq!(session.arn(), "arn:aws:sts::123456789012:assumed-role/deploy/build-7");
        assert_eq!(session.role_arn().as_deref(), Some("arn:aws:iam::123456789012:role/ci/deploy"));
        assert_eq!(session.principal_id(), "AROA1:build-7");
        assert_eq!(AccountId::parse("12345"), None);
        assert_eq!(AccountId::parse("12345678901a"), None);
    }
}
