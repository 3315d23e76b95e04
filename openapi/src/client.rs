//! The client's IP address and the per-IP rate limit check.

use std::net::{IpAddr, Ipv4Addr};

use poem::Request;

use crate::ApiState;
use crate::error::ApiError;

/// The socket peer, or the client named by a trusted proxy's X-Forwarded-For.
pub fn client_ip(state: &ApiState, req: &Request) -> IpAddr {
    let peer = req
        .remote_addr()
        .as_socket_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let forwarded = (!forwarded.is_empty()).then_some(forwarded);
    state.proxies.client_ip(peer, forwarded.as_deref())
}

/// Counts this request against the client's budget for `endpoint`.
pub async fn rate_limit(state: &ApiState, req: &Request, endpoint: &str) -> Result<(), ApiError> {
    let ip = client_ip(state, req);
    state.limiter.check(endpoint, ip).await.map_err(|retry| {
        tracing::info!(%ip, endpoint, "rate limited");
        ApiError::from(actors::DomainError::RateLimited {
            retry_after_secs: retry.0,
        })
    })
}
