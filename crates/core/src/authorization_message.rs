//! Encoded authorization messages: why a request was denied, sealed for the
//! account that was denied. EC2's `UnauthorizedOperation` carries one, as
//! AWS's does; STS's DecodeAuthorizationMessage opens it for a caller of
//! that account allowed `sts:DecodeAuthorizationMessage`. The details (the
//! deciding statement, the request's condition keys) are kept from the
//! caller that was denied, and another account cannot open them.

use serde_json::Value;

use crate::{AccountId, Sealer, WrapError};

/// The sealing context, with the account appended: a message opens only
/// for the account it was made for, and only as an authorization message.
const CONTEXT: &str = "authorization-message:";

/// Seals `decoded` (AWS's decoded-message document) for `account`.
pub fn encode_authorization_message(
    sealer: &Sealer,
    account: &AccountId,
    decoded: &Value,
) -> Result<String, WrapError> {
    let plaintext = serde_json::to_vec(decoded).map_err(|_| WrapError::Encrypt)?;
    sealer.seal_token(&plaintext, &format!("{CONTEXT}{account}"))
}

/// The decoded document of a message sealed for `account`; `None` for
/// anything else (another account's message, an altered one, not one).
pub fn decode_authorization_message(sealer: &Sealer, account: &AccountId, encoded: &str) -> Option<String> {
    let plaintext = sealer.open_token(encoded.trim(), &format!("{CONTEXT}{account}")).ok()?;
    String::from_utf8(plaintext.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FileKeys;

    #[test]
    fn opens_only_for_its_account_and_unaltered() {
        let sealer = |byte| {
            Sealer::new(std::sync::Arc::new(FileKeys::from_bytes(&[byte; 32]).unwrap_or_else(|e| unreachable!("{e}"))))
        };
        let key = sealer(3);
        let ours = AccountId::parse("111122223333").unwrap_or_else(|| unreachable!());
        let theirs = AccountId::parse("444455556666").unwrap_or_else(|| unreachable!());
        let decoded = serde_json::json!({"allowed": false, "context": {"action": "ec2:RunInstances"}});
        let encoded = encode_authorization_message(&key, &ours, &decoded).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(decode_authorization_message(&key, &ours, &encoded), Some(decoded.to_string()));
        assert_eq!(decode_authorization_message(&key, &theirs, &encoded), None);
        assert_eq!(decode_authorization_message(&sealer(4), &ours, &encoded), None);
        let altered: String = encoded
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i != 20 {
                    c
                } else if c == 'A' {
                    'B'
                } else {
                    'A'
                }
            })
            .collect();
        assert_eq!(decode_authorization_message(&key, &ours, &altered), None);
        assert_eq!(decode_authorization_message(&key, &ours, "not-a-message"), None);
    }
}
