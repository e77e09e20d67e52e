//! Identifiers in AWS's formats, from the OS's random source.

use rand::rngs::OsRng;
use rand::Rng;

use crate::AccountId;

const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_from(alphabet: &[u8], len: usize) -> String {
    (0..len).map(|_| char::from(alphabet.get(OsRng.gen_range(0..alphabet.len())).copied().unwrap_or(b'A'))).collect()
}

/// `AKIA` + 16 base32 characters (20 in all), a long-term access key id of `account`.
pub fn access_key_id(account: &AccountId) -> String {
    key_id("AKIA", account)
}

/// `ASIA` + 16 base32 characters, the access key id of temporary credentials.
pub fn temporary_access_key_id(account: &AccountId) -> String {
    key_id("ASIA", account)
}

/// Bits 46..7 of the 48-bit number the first six bytes after the prefix
/// make: where AWS's key ids carry their account, as STS's GetAccessKeyInfo
/// reads them (the decoding security researchers published). The other
/// 39 bits are random.
const ACCOUNT_MASK: u64 = 0x7fff_ffff_ff80;

fn key_id(prefix: &str, account: &AccountId) -> String {
    let mut bytes = [0u8; 10];
    OsRng.fill(&mut bytes);
    let random_low = u64::from(bytes[5] & 0x7f);
    let account: u64 = account.as_str().parse().unwrap_or(0);
    let head = ((account << 7) & ACCOUNT_MASK) | random_low;
    if let Some(first) = bytes.get_mut(..6) {
        first.copy_from_slice(head.to_be_bytes().get(2..).unwrap_or(&[0; 6]));
    }
    format!("{prefix}{}", base32_of_ten(&bytes))
}

/// Ten bytes as 16 base32 characters (RFC 4648, no padding needed).
fn base32_of_ten(bytes: &[u8; 10]) -> String {
    let mut number = bytes.iter().fold(0u128, |n, b| (n << 8) | u128::from(*b));
    let mut out = [b'A'; 16];
    for slot in out.iter_mut().rev() {
        *slot = BASE32.get((number & 31) as usize).copied().unwrap_or(b'A');
        number >>= 5;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The account an access key id names by AWS's encoding (`key_id`), for
/// any well-formed id: `AKIA`/`ASIA` and 16 base32 characters.
pub fn account_of_key_id(id: &str) -> Option<AccountId> {
    let body = id.get(4..).filter(|b| b.len() == 16)?;
    let mut number = 0u128;
    for byte in body.bytes() {
        let value = BASE32.iter().position(|c| *c == byte)?;
        number = (number << 5) | value as u128;
    }
    let head = (number >> 32) as u64;
    AccountId::parse(&format!("{:012}", (head & ACCOUNT_MASK) >> 7))
}

/// 40 characters of the base64 alphabet, as AWS's secret access keys.
pub fn secret_access_key() -> String {
    random_from(BASE64, 40)
}

/// A unique id with a four-letter prefix and 17 base32 characters: `AIDA…` for
/// users, `AROA…` for roles, `AGPA…` for groups, `ANPA…` for policies.
pub fn unique_id(prefix: &str) -> String {
    format!("{prefix}{}", random_from(BASE32, 17))
}

/// A 12-digit account id that does not start with 0.
pub fn account_id() -> String {
    format!("{}{}", OsRng.gen_range(1..10), random_from(b"0123456789", 11))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let account = AccountId::parse("123456789012").expect("an account id");
        let k = access_key_id(&account);
        assert_eq!(k.len(), 20);
        assert!(k.starts_with("AKIA") && k.bytes().all(|b| BASE32.contains(&b)));
        assert_eq!(secret_access_key().len(), 40);
        let u = unique_id("AIDA");
        assert_eq!(u.len(), 21);
        let a = account_id();
        assert!(a.len() == 12 && !a.starts_with('0') && a.bytes().all(|b| b.is_ascii_digit()));
        assert_ne!(access_key_id(&account), access_key_id(&account));
        assert_eq!(account_of_key_id(&k), Some(account.clone()));
        let t = temporary_access_key_id(&account);
        assert!(t.starts_with("ASIA") && account_of_key_id(&t) == Some(account));
    }

    /// The published decoding applied to the ids of its write-up and of
    /// AWS's documentation (`AKIAIOSFODNN7EXAMPLE`).
    #[test]
    fn decodes_aws_key_ids() {
        let cases = [("ASIAY34FZKBOKMUTVV7A", "609629065308"), ("AKIAIOSFODNN7EXAMPLE", "581039954779")];
        for (id, account) in cases {
            assert_eq!(account_of_key_id(id).map(|a| a.to_string()).as_deref(), Some(account), "{id}");
        }
        assert_eq!(account_of_key_id("AKIA123"), None);
        assert_eq!(account_of_key_id("AKIA1111111111111111"), None, "1 is not base32");
    }
}
