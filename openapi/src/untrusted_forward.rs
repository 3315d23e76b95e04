//! A warning when a peer that is not a trusted proxy sends
//! `X-Forwarded-For` or `Forwarded`: the header is ignored (the client is
//! the peer), which behind a proxy nobody told authd about means every
//! client shares the proxy's rate limits. Said once per peer, for the first
//! few peers only, so neither a steady stream of requests nor a client
//! cycling addresses turns it into a line per request.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

use poem::http::HeaderMap;

/// Peers warned about, at most; after them the log has made its point.
const MAX_PEERS: usize = 16;

/// The peers already warned about.
struct Warned(Mutex<BTreeSet<IpAddr>>);

impl Warned {
    const fn new() -> Self {
        Self(Mutex::new(BTreeSet::new()))
    }

    /// Whether to warn about `peer` now: the first time it is seen, while
    /// fewer than `MAX_PEERS` have been warned about.
    fn first(&self, peer: IpAddr) -> bool {
        let mut peers = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        peers.len() < MAX_PEERS && peers.insert(peer)
    }
}

static WARNED: Warned = Warned::new();

/// Whether the request carries a forwarding header.
fn forwards(headers: &HeaderMap) -> bool {
    headers.contains_key("x-forwarded-for") || headers.contains_key("forwarded")
}

/// Warns, once per peer, that `peer` (not a trusted proxy) sent a
/// forwarding header that was ignored.
pub fn warn_once(peer: IpAddr, headers: &HeaderMap) {
    if forwards(headers) && WARNED.first(peer) {
        tracing::warn!(
            %peer,
            "X-Forwarded-For or Forwarded from a peer that is not a trusted proxy is ignored \
             (the client is the peer); if authd is behind a proxy, set AUTH_TRUSTED_PROXIES \
             to its address (said once per peer)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_peer_is_warned_about_once_and_only_the_first_few() {
        let warned = Warned::new();
        let peer = |n: u8| IpAddr::from([192, 0, 2, n]);
        assert!(warned.first(peer(1)));
        assert!(!warned.first(peer(1)));
        for n in 2..=MAX_PEERS as u8 {
            assert!(warned.first(peer(n)), "{n}");
        }
        assert!(!warned.first(peer(200)), "beyond the cap");
    }

    #[test]
    fn either_forwarding_header_counts() {
        let mut headers = HeaderMap::new();
        assert!(!forwards(&headers));
        headers.insert("forwarded", "for=192.0.2.1".parse().unwrap());
        assert!(forwards(&headers));
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "192.0.2.1".parse().unwrap());
        assert!(forwards(&headers));
    }
}
