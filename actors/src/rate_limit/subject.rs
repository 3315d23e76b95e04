//! Whose budget a request is counted against: a client network (an IPv4
//! address, or an IPv6 prefix) or an opaque id that is only ever kept as a
//! hash (a recipient address, a session).

use std::fmt;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv6Net};
use sha2::{Digest, Sha256};

/// The default length of the IPv6 prefix a client is limited by: a /64 is
/// what one host (a cloud VM, a home line) is handed.
pub(crate) const DEFAULT_IPV6_PREFIX: u8 = 64;

/// What one budget belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Subject {
    /// An IPv4 address (IPv4-mapped IPv6 folded into it), or an IPv6
    /// network truncated to the configured prefix.
    Net(IpNet),
    /// SHA-256 of an id (domain-separated), its first 128 bits: never the
    /// id itself. Half the hash keeps a key of the in-process limiter at 48
    /// bytes instead of 64 (a flood of addresses holds a million of them);
    /// two ids sharing a budget by chance is a 2^-64 event at 2^32 ids.
    Hashed([u8; 16]),
}

impl Subject {
    /// The budget of `ip`: IPv4 (and IPv4-mapped IPv6) per address, IPv6
    /// per `/ipv6_prefix` (clamped to 1..=128).
    pub(crate) fn ip(ip: IpAddr, ipv6_prefix: u8) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self::Net(IpNet::from(IpAddr::V4(v4))),
            IpAddr::V6(v6) => {
                let len = ipv6_prefix.clamp(1, 128);
                let net = Ipv6Net::new(v6, len)
                    .map(|n| n.trunc())
                    .unwrap_or_else(|_| Ipv6Net::from(v6));
                Self::Net(IpNet::V6(net))
            }
        }
    }

    /// The budget of an opaque id (a normalised address, a session id),
    /// kept only as its hash.
    pub(crate) fn hashed(id: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"authd rate limit\0");
        hasher.update(id.as_bytes());
        let digest = hasher.finalize();
        let mut half = [0u8; 16];
        half.copy_from_slice(&digest[..16]);
        Self::Hashed(half)
    }
}

/// A whole address, for tests and callers that key by the exact address.
impl From<IpAddr> for Subject {
    fn from(ip: IpAddr) -> Self {
        Self::Net(IpNet::from(ip.to_canonical()))
    }
}

/// As it appears in Redis keys: `1.2.3.4`, `2001:db8:1:2::/64`, or the hash
/// in hex.
impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Net(IpNet::V4(net)) if net.prefix_len() == 32 => write!(f, "{}", net.addr()),
            Self::Net(net) => write!(f, "{net}"),
            Self::Hashed(digest) => f.write_str(&hex::encode(digest)),
        }
    }
}
