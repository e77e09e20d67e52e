//! How many records of failed authentication the node keeps.
//!
//! A request that does not authenticate costs its sender nothing, so its
//! record must not cost the node much: within each minute, every peer, every
//! access key and the node as a whole have a budget of stored records; beyond
//! it a refusal is answered as usual and counted (the count is logged when the
//! minute ends) instead of stored.

use std::collections::HashMap;
use std::net::IpAddr;

use parking_lot::Mutex;

/// Records a peer (an IP address) may have stored per window.
const PER_PEER: u32 = 20;
/// Records one access key id may have stored per window, from all peers.
const PER_KEY: u32 = 20;
/// Records the node stores per window, in all.
const IN_ALL: u32 = 600;
const WINDOW_MS: i64 = 60_000;
/// Peers and keys tracked per window; more are refused a record outright
/// (the tracking itself must stay bounded).
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Default)]
struct Window {
    start_ms: i64,
    in_all: u32,
    per_peer: HashMap<IpAddr, u32>,
    per_key: HashMap<String, u32>,
    suppressed: u64,
}

/// The budget of stored records of failed authentication.
#[derive(Debug, Default)]
pub(crate) struct RefusalBudget {
    window: Mutex<Window>,
}

impl RefusalBudget {
    /// Whether the refusal of a request from `peer` with `access_key_id`
    /// (if it named one) at `now_ms` may be recorded; counts it if not.
    pub fn admit(&self, peer: IpAddr, access_key_id: Option<&str>, now_ms: i64) -> bool {
        let mut w = self.window.lock();
        if now_ms - w.start_ms >= WINDOW_MS || now_ms < w.start_ms {
            if w.suppressed > 0 {
                tracing::warn!(
                    suppressed = w.suppressed,
                    "refusals of unauthenticated requests counted but not recorded in the last minute"
                );
            }
            *w = Window { start_ms: now_ms, ..Window::default() };
        }
        let peer_count = w.per_peer.get(&peer).copied().unwrap_or_default();
        let key_count = access_key_id.map(|k| w.per_key.get(k).copied().unwrap_or_default()).unwrap_or_default();
        let tracked = w.per_peer.len() + w.per_key.len();
        let new_entries = usize::from(peer_count == 0) + usize::from(access_key_id.is_some() && key_count == 0);
        if w.in_all >= IN_ALL
            || peer_count >= PER_PEER
            || key_count >= PER_KEY
            || (new_entries > 0 && tracked + new_entries > MAX_TRACKED)
        {
            w.suppressed += 1;
            return false;
        }
        w.in_all += 1;
        *w.per_peer.entry(peer).or_default() += 1;
        if let Some(key) = access_key_id {
            *w.per_key.entry(key.to_string()).or_default() += 1;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(i: u32) -> IpAddr {
        IpAddr::from(i.to_be_bytes())
    }

    #[test]
    fn bounds_each_peer_each_key_and_the_whole() {
        let budget = RefusalBudget::default();
        let admitted = (0..50).filter(|_| budget.admit(ip(1), None, 1_000)).count();
        assert_eq!(admitted, PER_PEER as usize);
        // Another peer has its own budget; one key shares one across peers.
        assert!(budget.admit(ip(2), Some("AKIA1"), 1_000));
        let by_key = (0..50).filter(|i| budget.admit(ip(100 + i), Some("AKIA1"), 1_000)).count();
        assert_eq!(by_key, PER_KEY as usize - 1);
        // A new window starts afresh.
        assert!(budget.admit(ip(1), None, 1_000 + WINDOW_MS));
        // The node's total holds however many peers there are.
        let budget = RefusalBudget::default();
        let total = (0..2_000).filter(|i| budget.admit(ip(*i), None, 5)).count();
        assert_eq!(total, IN_ALL as usize);
    }
}
