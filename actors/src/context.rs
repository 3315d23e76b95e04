//! What is known about a request before its body is read: extracted once at
//! the HTTP edge, so rate limits and logs read it instead of re-deriving it.

use std::net::IpAddr;

/// The longest user agent kept, in characters; the rest is cut off.
pub(crate) const MAX_USER_AGENT_CHARS: usize = 256;

/// The client of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// The socket peer, or the client named by a trusted proxy's
    /// X-Forwarded-For (IPv4-mapped IPv6 folded into IPv4).
    pub ip: IpAddr,
    /// The `User-Agent` header, without control characters, cut to
    /// [`MAX_USER_AGENT_CHARS`]; `None` when absent or empty.
    pub user_agent: Option<String>,
    /// The request id echoed in `X-Request-Id`.
    pub request_id: String,
}

impl RequestContext {
    /// A context from its parts; the user agent is cleaned and cut.
    pub fn new(ip: IpAddr, user_agent: Option<&str>, request_id: String) -> Self {
        Self {
            ip,
            user_agent: user_agent.and_then(clean_user_agent),
            request_id,
        }
    }
}

fn clean_user_agent(raw: &str) -> Option<String> {
    let cut: String = raw
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_USER_AGENT_CHARS)
        .collect();
    let cut = cut.trim();
    (!cut.is_empty()).then(|| cut.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_is_cut_cleaned_and_dropped_when_empty() {
        let ip = IpAddr::from([192, 0, 2, 1]);
        let long = "é".repeat(1000);
        let ctx = RequestContext::new(ip, Some(&long), "id".into());
        assert_eq!(
            ctx.user_agent.map(|u| u.chars().count()),
            Some(MAX_USER_AGENT_CHARS)
        );
        let ctx = RequestContext::new(ip, Some("curl/8\r\n\t"), "id".into());
        assert_eq!(ctx.user_agent.as_deref(), Some("curl/8"));
        assert_eq!(
            RequestContext::new(ip, Some("  "), "id".into()).user_agent,
            None
        );
        assert_eq!(RequestContext::new(ip, None, "id".into()).user_agent, None);
    }
}
