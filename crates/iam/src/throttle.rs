//! Consecutive failures of a secret check (an MFA code, a password) and the
//! lockout they earn.

use std::collections::HashMap;

/// Failures per key (a device's serial number, a user id): after
/// `FREE_FAILURES`, every further failure doubles the wait, up to 15 minutes.
/// Only existing entities are keys, so the map is bounded by what the
/// accounts hold.
#[derive(Default)]
pub(crate) struct Throttle {
    failures: parking_lot::Mutex<HashMap<String, (u32, i64)>>,
}

const FREE_FAILURES: u32 = 5;
const MAX_LOCKOUT_MS: i64 = 15 * 60 * 1000;

impl Throttle {
    /// Whether `key` may try again at `now_ms`.
    pub fn allows(&self, key: &str, now_ms: i64) -> bool {
        self.failures.lock().get(key).is_none_or(|(_, until)| now_ms >= *until)
    }

    pub fn failed(&self, key: &str, now_ms: i64) {
        let mut failures = self.failures.lock();
        let entry = failures.entry(key.to_string()).or_insert((0, 0));
        entry.0 = entry.0.saturating_add(1);
        if entry.0 > FREE_FAILURES {
            let doublings = (entry.0 - FREE_FAILURES).min(20);
            entry.1 = now_ms + (1000i64 << doublings).min(MAX_LOCKOUT_MS);
        }
    }

    pub fn succeeded(&self, key: &str) {
        self.failures.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_locks_after_free_failures_and_doubles() {
        let throttle = Throttle::default();
        for _ in 0..FREE_FAILURES {
            assert!(throttle.allows("d", 0));
            throttle.failed("d", 0);
        }
        assert!(throttle.allows("d", 0));
        throttle.failed("d", 0);
        assert!(!throttle.allows("d", 1999));
        assert!(throttle.allows("d", 2000));
        throttle.failed("d", 2000);
        assert!(!throttle.allows("d", 5999));
        assert!(throttle.allows("d", 6000));
        throttle.succeeded("d");
        assert!(throttle.allows("d", 0));
        for _ in 0..40 {
            throttle.failed("e", 0);
        }
        assert!(throttle.allows("e", MAX_LOCKOUT_MS));
    }
}
