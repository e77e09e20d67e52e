//! What one client, or all of them, may hold of the node: open connections,
//! and request bodies in memory. Each is a count with a cap in all and a cap
//! per peer, so that no client can take everything and starve the others.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use parking_lot::Mutex;

/// The address whose share a peer takes: an IPv4 address, or an IPv6
/// address's /64 (a single host is given a /64, and could otherwise open
/// connections from as many addresses as it likes).
pub(crate) fn share_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

/// A quantity held in all and per peer, each under its cap.
#[derive(Debug)]
pub(crate) struct Shares {
    total_cap: usize,
    peer_cap: usize,
    held: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// An amount taken from [`Shares`]; dropping it gives it back.
#[derive(Debug)]
pub(crate) struct Held {
    shares: Arc<Shares>,
    peer: IpAddr,
    amount: usize,
}

impl Shares {
    pub fn new(total_cap: usize, peer_cap: usize) -> Arc<Shares> {
        Arc::new(Shares { total_cap, peer_cap, held: Mutex::new((0, HashMap::new())) })
    }

    /// Takes `amount` for `peer` (an address from [`share_of`]), if neither
    /// the node's cap nor the peer's would be passed.
    pub fn take(self: &Arc<Self>, peer: IpAddr, amount: usize) -> Option<Held> {
        let mut held = self.held.lock();
        let (total, per_peer) = &mut *held;
        let mine = per_peer.get(&peer).copied().unwrap_or_default();
        if total.saturating_add(amount) > self.total_cap || mine.saturating_add(amount) > self.peer_cap {
            return None;
        }
        *total += amount;
        per_peer.insert(peer, mine + amount);
        Some(Held { shares: self.clone(), peer, amount })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self.shares.held.lock();
        let (total, per_peer) = &mut *held;
        *total = total.saturating_sub(self.amount);
        if let Some(n) = per_peer.get_mut(&self.peer) {
            *n = n.saturating_sub(self.amount);
            if *n == 0 {
                per_peer.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn a_host_takes_one_share() {
        let share = |s: &str| share_of(ip(s)).to_string();
        assert_eq!(share("10.1.2.3"), "10.1.2.3");
        assert_eq!(share("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::");
        assert_eq!(share("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::");
        assert_eq!(share("::ffff:10.1.2.3"), "10.1.2.3");
    }

    #[test]
    fn caps_hold_per_peer_and_in_all_and_return_on_drop() {
        let shares = Shares::new(10, 4);
        let a = ip("10.0.0.1");
        let held: Vec<Held> = (0..6).filter_map(|_| shares.take(a, 1)).collect();
        assert_eq!(held.len(), 4, "a peer's cap");
        let others: Vec<Held> = (2..20).filter_map(|i| shares.take(ip(&format!("10.0.0.{i}")), 1)).collect();
        assert_eq!(others.len(), 6, "the node's cap");
        assert!(shares.take(ip("10.9.9.9"), 1).is_none());
        drop(held);
        assert!(shares.take(a, 4).is_some(), "given back on drop");
        assert!(shares.take(a, 5).is_none(), "more than a peer's cap at once");
    }
}
