//! Identifiers in AWS's formats, from the OS's random source.

use rand::rngs::OsRng;
use rand::Rng;

const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_from(alphabet: &[u8], len: usize) -> String {
    (0..len).map(|_| char::from(alphabet.get(OsRng.gen_range(0..alphabet.len())).copied().unwrap_or(b'A'))).collect()
}

/// `AKIA` + 16 base32 characters (20 in all), a long-term access key id.
pub fn access_key_id() -> String {
    format!("AKIA{}", random_from(BASE32, 16))
}

/// `ASIA` + 16 base32 characters, the access key id of temporary credentials.
pub fn temporary_access_key_id() -> String {
    format!("ASIA{}", random_from(BASE32, 16))
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
        let k = access_key_id();
        assert_eq!(k.len(), 20);
        assert!(k.starts_with("AKIA") && k.bytes().all(|b| BASE32.contains(&b)));
        assert_eq!(secret_access_key().len(), 40);
        let u = unique_id("AIDA");
        assert_eq!(u.len(), 21);
        let a = account_id();
        assert!(a.len() == 12 && !a.starts_with('0') && a.bytes().all(|b| b.is_ascii_digit()));
        assert_ne!(access_key_id(), access_key_id());
    }
}
