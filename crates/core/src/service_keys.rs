//! KMS as other services use it on an account's behalf: CloudTrail
//! encrypting a trail's log files under the account's key. As in AWS, the
//! key's policy decides whether the service principal
//! (`cloudtrail.amazonaws.com`) may use the key; IAM policies play no part
//! (a service has none).

use zeroize::Zeroizing;

/// One use of a key by a service.
#[derive(Debug, Clone, Copy)]
pub struct KeyUse<'a> {
    /// The service principal, e.g. `cloudtrail.amazonaws.com`.
    pub service: &'a str,
    /// The account whose key it is (keys are used within their account).
    pub account: &'a str,
    pub region: &'a str,
    /// The key as the service was given it: id, ARN, alias or alias ARN.
    pub key_id: &'a str,
    /// The encryption context, bound to the ciphertext, and seen by the key
    /// policy's `kms:EncryptionContext:` conditions.
    pub context: &'a [(String, String)],
    /// The resource the service acts for (`aws:SourceArn`), e.g. the trail.
    pub source_arn: &'a str,
}

/// A fresh 256-bit data key: its plaintext, and the plaintext encrypted
/// under the key (which only the key opens, with the same context).
pub struct DataKey {
    pub key_arn: String,
    pub plaintext: Zeroizing<Vec<u8>>,
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey").field("key_arn", &self.key_arn).finish_non_exhaustive()
    }
}

/// Why a service could not use a key; each message says so as AWS would.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyUseError {
    /// No such key (or alias) in the account and region, or a key id that
    /// is not well formed.
    #[error("{0}")]
    NotFound(String),
    /// The key exists but cannot do this now: disabled, pending deletion,
    /// not a symmetric encryption key, its key store disconnected.
    #[error("{0}")]
    Unusable(String),
    /// The key's policy does not allow the service principal.
    #[error("{0}")]
    Denied(String),
    /// The ciphertext is not the key's, or not with this context.
    #[error("{0}")]
    Invalid(String),
}

/// What KMS offers other services.
pub trait ServiceKeys: Send + Sync + std::fmt::Debug {
    /// `kms:GenerateDataKey` by the service: a 32-byte data key.
    fn generate_data_key(&self, request: &KeyUse<'_>) -> Result<DataKey, KeyUseError>;
    /// `kms:Decrypt` by the service of a data key it generated.
    fn decrypt(&self, request: &KeyUse<'_>, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyUseError>;
}
