//! Which proxies are believed, and the client IP worked out from them.

use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use ipnet::IpNet;

use super::RateLimitError;

/// Hops of X-Forwarded-For looked at, at most; a longer chain is hostile.
const MAX_HOPS: usize = 32;

/// Longest text one X-Forwarded-For entry may have ("[v6]:port" fits).
const MAX_ENTRY_LEN: usize = 64;

/// The client of a request whose trusted proxy named no usable address
/// (an X-Forwarded-For hop that is not one): the unspecified address, so
/// all such requests share one budget of their own, apart from the proxy's
/// and from every real client's, and the audit trail shows `0.0.0.0`.
pub const UNKNOWN_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

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

    /// The client IP: `peer` unless `peer` is trusted; then the hops of
    /// `X-Forwarded-For` are read from the right, as raw bytes: its header
    /// lines in order (`x_forwarded_for`), each a comma-separated list,
    /// the last line's last hop nearest. Empty hops are skipped (HTTP list
    /// syntax). Trusted addresses are stepped over; the first untrusted one
    /// is the client. A hop that is not an address (not UTF-8, a word such
    /// as `unknown`, a bad port, over 64 bytes) stops the walk: whoever
    /// wrote it is not known, and everything left of it was written by
    /// them, so the client is [`UNKNOWN_CLIENT`], never the proxy (whose
    /// budget would then be spent by anyone who sends a stray byte) and
    /// never an address the client chose. If every hop is trusted, the
    /// leftmost of them (at most 32 are read) is the client. Entries may
    /// carry a port ("1.2.3.4:5678", "[::1]:443") or brackets ("[::1]").
    /// Addresses come back canonical (IPv4-mapped IPv6 as IPv4).
    pub fn client_ip(&self, peer: IpAddr, x_forwarded_for: &[&[u8]]) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        let hops = x_forwarded_for
            .iter()
            .rev()
            .flat_map(|line| line.rsplit(|b| *b == b','))
            .map(<[u8]>::trim_ascii)
            .filter(|hop| !hop.is_empty());
        let mut nearest = peer;
        for hop in hops.take(MAX_HOPS) {
            match parse_hop(hop) {
                None => return UNKNOWN_CLIENT,
                Some(ip) if !self.contains(ip) => return ip,
                Some(ip) => nearest = ip,
            }
        }
        nearest
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

/// One X-Forwarded-For entry, trimmed: "ip", "v4:port", "[v6]" or
/// "[v6]:port".
fn parse_hop(entry: &[u8]) -> Option<IpAddr> {
    if entry.is_empty() || entry.len() > MAX_ENTRY_LEN {
        return None;
    }
    let text = std::str::from_utf8(entry).ok()?;
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
