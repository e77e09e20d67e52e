//! A string that must never be shown: `Debug` and `Display` redact it, memory is
//! wiped on drop, comparison is constant-time.

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The secret itself, for signing or sealing. Callers must not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn ct_eq(&self, other: &str) -> bool {
        self.0.len() == other.len() && bool::from(self.0.as_bytes().ct_eq(other.as_bytes()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(**redacted**)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_and_compares_exactly() {
        let s = Secret::new("wJalrXUtnFEMI".into());
        assert_eq!(format!("{s:?}"), "Secret(**redacted**)");
        assert!(s.ct_eq("wJalrXUtnFEMI"));
        assert!(!s.ct_eq("wJalrXUtnFEMJ"));
        assert!(!s.ct_eq("wJalr"));
    }
}
