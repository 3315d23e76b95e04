//! The client of a request: its IP (the socket peer, or what a trusted
//! proxy says), worked out once at the edge and kept in the request's
//! [`RequestContext`].

use std::net::IpAddr;

use poem::Request;
use poem::http::HeaderValue;

use actors::RequestContext;
use actors::rate_limit::{TrustedProxies, UNKNOWN_CLIENT};

use crate::middleware::RequestId;

/// The socket peer, or the client named by a trusted proxy's
/// X-Forwarded-For: every line of it, in order, as raw bytes (a line is
/// never dropped for a byte that is not UTF-8; [`TrustedProxies::client_ip`]
/// decides what an unreadable hop means). A forwarding header from a peer
/// that is not trusted is ignored, with a warning once per peer.
pub fn client_ip(proxies: &TrustedProxies, req: &Request) -> IpAddr {
    let peer = req
        .remote_addr()
        .as_socket_addr()
        .map_or(UNKNOWN_CLIENT, |a| a.ip());
    if !proxies.contains(peer) {
        crate::untrusted_forward::warn_once(peer.to_canonical(), req.headers());
    }
    let forwarded: Vec<&[u8]> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    proxies.client_ip(peer, &forwarded)
}

/// Works out the request's context (client IP, user agent, the id the
/// `request_id` middleware gave it).
pub fn extract(proxies: &TrustedProxies, req: &Request) -> RequestContext {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();
    let user_agent = req
        .headers()
        .get(poem::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    RequestContext::new(client_ip(proxies, req), user_agent, request_id)
}

/// The context the edge middleware put on this request.
pub fn context(req: &Request) -> Option<&RequestContext> {
    req.extensions().get::<RequestContext>()
}

/// The request's client as a handler argument: the context the edge put on
/// the request (or, without the edge, worked out here, believing no proxy).
pub struct Client(pub RequestContext);

impl Client {
    /// The request's context, from the edge or worked out here.
    pub fn of(req: &Request) -> RequestContext {
        match context(req) {
            Some(ctx) => ctx.clone(),
            None => extract(&TrustedProxies::default(), req),
        }
    }
}

impl<'a> poem::FromRequest<'a> for Client {
    async fn from_request(req: &'a Request, _body: &mut poem::RequestBody) -> poem::Result<Self> {
        Ok(Client(Client::of(req)))
    }
}
