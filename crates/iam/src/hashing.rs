//! Password hashing, for every password IAM keeps (login profiles and
//! service-specific credentials): argon2id with OWASP's recommended
//! parameters (19 MiB, two passes, one lane). Hashing takes tens of
//! milliseconds by design, so handlers run it on the blocking pool.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use rampart_core::AwsError;

use crate::errors::service_failure;

/// OWASP's Password Storage Cheat Sheet, first argon2id configuration:
/// m = 19 MiB, t = 2, p = 1.
const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
const ARGON2_PASSES: u32 = 2;
const ARGON2_LANES: u32 = 1;

fn argon2() -> Argon2<'static> {
    // The parameters are constants inside argon2's bounds.
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string of `password` under a fresh salt.
pub fn hash_password(password: &str) -> Option<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2().hash_password(password.as_bytes(), &salt).ok().map(|h| h.to_string())
}

/// Whether `password` is the one `hash` was made from (argon2 compares in constant time).
pub fn password_matches(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| argon2().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Runs `work` (hashing) on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, AwsError> {
    tokio::task::spawn_blocking(work).await.map_err(|_| service_failure())
}

/// `hash_password` on the blocking pool.
pub(crate) async fn hash_in_background(password: zeroize::Zeroizing<String>) -> Result<String, AwsError> {
    blocking(move || hash_password(&password)).await?.ok_or_else(service_failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let hash = hash_password("correct horse").expect("hashed");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(password_matches(&hash, "correct horse"));
        assert!(!password_matches(&hash, "correct horsE"));
        assert!(!password_matches("not a hash", "correct horse"));
        assert_ne!(hash_password("correct horse"), Some(hash), "a fresh salt each time");
    }
}
