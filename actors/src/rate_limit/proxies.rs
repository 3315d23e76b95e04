//! Which proxies are believed, and the client IP worked out from them.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

use super::RateLimitError;

/// Hops of X-Forwarded-For looked at, at most; a longer chain is hostile.
const MAX_HOPS: usize = 32;

/// Longest text one X-Forwarded-For entry may have ("[v6]:port" fits).
const MAX_ENTRY_LEN: usize = 64;

/// The proxies whose X-Forwarded-For is believed.
///
/// Empty (the default) believes no one: the client IP is always the peer.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// From entries like "10.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"
    /// (surrounding spaces ignored); the error names the bad entry.
    pub fn parse(entries: &[String]) -> Result<Self, RateLimitError> {
        entries
            .iter()
            .map(|entry| parse_net(entry))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether `ip` is one of the trusted proxies (IPv4-mapped IPv6
    /// addresses count as their IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client IP: `peer` unless `peer` is trusted; then X-Forwarded-For
    /// (comma-separated, possibly several headers joined with ",") is walked
    /// from the right, skipping trusted addresses, and the first untrusted one
    /// is returned. If every address is trusted the leftmost one is returned.
    /// A malformed entry (or a chain longer than 32 hops) stops the walk and
    /// the last good address, or the peer, is used. Entries may carry a port
    /// ("1.2.3.4:5678", "[::1]:443") or brackets ("[::1]"). Addresses come
    /// back canonical (IPv4-mapped IPv6 as IPv4).
    pub fn client_ip(&self, peer: IpAddr, x_forwarded_for: Option<&str>) -> IpAddr {
        let peer = peer.to_canonical();
        let Some(header) = x_forwarded_for else {
            return peer;
        };
        if !self.contains(peer) {
            return peer;
        }
        let mut last_good = peer;
        for entry in header.rsplit(',').take(MAX_HOPS) {
            let Some(ip) = parse_hop(entry) else {
                return last_good;
            };
            if !self.contains(ip) {
                return ip;
            }
            last_good = ip;
        }
        last_good
    }
}

fn parse_net(entry: &str) -> Result<IpNet, RateLimitError> {
    let text = entry.trim();
    let bad = |reason: &str| RateLimitError::InvalidProxy {
        entry: entry.to_owned(),
        reason: reason.to_owned(),
    };
    if text.contains('/') {
        IpNet::from_str(text)
            .map(|net| net.trunc())
            .map_err(|_| bad("not a CIDR like 10.0.0.0/8 or fd00::/8"))
    } else {
        IpAddr::from_str(text)
            .map(|ip| IpNet::from(ip.to_canonical()))
            .map_err(|_| bad("not an IP address"))
    }
}

/// One X-Forwarded-For entry: "ip", "v4:port", "[v6]" or "[v6]:port".
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let text = entry.trim();
    if text.is_empty() || text.len() > MAX_ENTRY_LEN {
        return None;
    }
    if let Ok(ip) = IpAddr::from_str(text) {
        return Some(ip.to_canonical());
    }
    let host = if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || is_port(after.strip_prefix(':')?)) {
            return None;
        }
        inside
    } else {
        let (host, port) = text.split_once(':')?;
        if !is_port(port) {
            return None;
        }
        host
    };
    IpAddr::from_str(host).ok().map(|ip| ip.to_canonical())
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit())
}
