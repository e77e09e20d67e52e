//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): what a
//! virtual MFA device shows, six digits from HMAC-SHA-1 of the 30-second time
//! step. Pure: the caller supplies the time and keeps the replay state.
//!
//! Written here rather than taken from a TOTP crate because those bring their
//! own HMAC and SHA-1 implementations; Rampart uses aws-lc-rs for all of its
//! cryptography, and the algorithm is twenty lines.

use aws_lc_rs::hmac;
use subtle::ConstantTimeEq;

/// AWS's virtual MFA devices: 30-second steps, six digits.
pub const STEP_SECONDS: i64 = 30;
const DIGITS: u32 = 6;

/// The time step of an epoch second.
pub fn step_of(epoch_seconds: i64) -> i64 {
    epoch_seconds.div_euclid(STEP_SECONDS)
}

/// HOTP (RFC 4226 §5.3) of `counter`, `digits` long.
fn hotp(seed: &[u8], counter: u64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, seed);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    // Dynamic truncation: the low nibble of the last byte picks four bytes.
    let offset = usize::from(mac.last().copied().unwrap_or(0) & 0x0f);
    let word = mac.get(offset..offset + 4).and_then(|b| <[u8; 4]>::try_from(b).ok()).map_or(0, u32::from_be_bytes);
    (word & 0x7fff_ffff) % 10u32.pow(digits)
}

/// The six-digit code of time step `step`, as a device shows it.
pub fn code_at(seed: &[u8], step: i64) -> String {
    format!("{:0width$}", hotp(seed, step.max(0) as u64, DIGITS), width = DIGITS as usize)
}

/// Whether `code` is the code of `step`, compared in constant time.
pub fn matches(seed: &[u8], step: i64, code: &str) -> bool {
    bool::from(code_at(seed, step).as_bytes().ct_eq(code.as_bytes()))
}

/// The first step in `steps` whose code is `code`, if any. Every candidate is
/// computed, so the time taken does not say which one matched.
pub fn find_step(seed: &[u8], steps: impl Iterator<Item = i64>, code: &str) -> Option<i64> {
    let mut found = None;
    for step in steps {
        if matches(seed, step, code) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4226 Appendix D: HOTP values of the seed "12345678901234567890".
    #[test]
    fn rfc4226_vectors() {
        let seed = b"12345678901234567890";
        let expected = [755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489];
        for (counter, value) in expected.iter().enumerate() {
            assert_eq!(hotp(seed, counter as u64, 6), *value, "counter {counter}");
        }
    }

    /// RFC 6238 Appendix B (SHA-1): eight-digit values at the given times.
    #[test]
    fn rfc6238_vectors() {
        let seed = b"12345678901234567890";
        let cases: &[(i64, u32)] = &[
            (59, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ];
        for (time, value) in cases {
            assert_eq!(hotp(seed, step_of(*time) as u64, 8), *value, "time {time}");
            let six = format!("{:06}", value % 1_000_000);
            assert_eq!(code_at(seed, step_of(*time)), six);
            assert!(matches(seed, step_of(*time), &six));
            assert!(!matches(seed, step_of(*time) + 1, &six));
        }
    }

    #[test]
    fn find_step_names_the_matching_step() {
        let seed = b"12345678901234567890";
        let code = code_at(seed, 1000);
        assert_eq!(find_step(seed, 998..=1002, &code), Some(1000));
        assert_eq!(find_step(seed, 1001..=1002, &code), None);
        assert_eq!(find_step(seed, 998..=1002, "12345"), None);
    }
}
