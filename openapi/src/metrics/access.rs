//! Who may read `/metrics` on `AUTH_BIND`. Its counters tell which
//! addresses were mailed (a mail counter moves only for a real account),
//! so they are never public: on `AUTH_METRICS_BIND` when that is set (and
//! then never on `AUTH_BIND`); otherwise on `AUTH_BIND` to a local scrape
//! when it listens on a loopback address, and to a scrape that carries
//! `Authorization: Bearer <AUTH_METRICS_TOKEN>`. Every other scrape gets
//! the 404 of a path that does not exist.

use std::net::IpAddr;
use std::sync::Arc;

use poem::http::header::AUTHORIZATION;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Headers a proxy adds: a scrape carrying one came through a proxy, even
/// to a loopback listener, so it is not a local scrape.
const FORWARDED: [&str; 3] = ["forwarded", "x-forwarded-for", "x-real-ip"];

/// Whether a listener on `bind` is reachable from this host only
/// (127.0.0.0/8, `::1`, or either as IPv4-mapped IPv6). `0.0.0.0` and `::`
/// listen on every interface: not loopback.
pub fn is_loopback(bind: IpAddr) -> bool {
    bind.to_canonical().is_loopback()
}

/// The scrapes `/metrics` on `AUTH_BIND` answers.
#[derive(Clone)]
pub struct Access {
    /// `AUTH_BIND` is loopback: a scrape that no proxy forwarded is local.
    local: bool,
    /// SHA-256 of `AUTH_METRICS_TOKEN`: compared digest to digest, in
    /// constant time, so neither the token nor its length leaks by timing.
    token: Option<Arc<[u8; 32]>>,
}

impl Access {
    /// `/metrics` on a listener bound to `bind`, with the token if one is
    /// set; `None` when no scrape could be answered there (not loopback,
    /// no token): it is then not served there at all.
    pub fn on_main_listener(bind: IpAddr, token: Option<&[u8]>) -> Option<Self> {
        let access = Self {
            local: is_loopback(bind),
            token: token.map(|t| Arc::new(digest(t))),
        };
        (access.local || access.token.is_some()).then_some(access)
    }

    /// Whether `req` may read the metrics.
    pub fn allows(&self, req: &Request) -> bool {
        let local = self.local && !FORWARDED.iter().any(|h| req.headers().contains_key(*h));
        local
            || self
                .token
                .as_ref()
                .is_some_and(|token| bearer_is(req, token))
    }

    /// `endpoint` for the scrapes this lets in; any other request (any
    /// method) gets the 404 of an unknown path.
    pub fn guard<E>(self, endpoint: E) -> impl Endpoint<Output = Response>
    where
        E: Endpoint + 'static,
    {
        endpoint.around(move |ep, req| {
            let allowed = self.allows(&req);
            async move {
                if !allowed {
                    return Err(poem::error::NotFoundError.into());
                }
                ep.call(req).await.map(IntoResponse::into_response)
            }
        })
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Whether `req` carries `Authorization: Bearer <token>` for this token's
/// digest (the scheme in any case).
fn bearer_is(req: &Request, token: &[u8; 32]) -> bool {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return false;
    };
    let value = value.as_bytes();
    let Some(space) = value.iter().position(|b| *b == b' ') else {
        return false;
    };
    let (scheme, presented) = value.split_at(space);
    scheme.eq_ignore_ascii_case(b"bearer")
        && bool::from(digest(presented.trim_ascii()).ct_eq(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &[u8] = b"m3tr1cs-0123456789abcdef-0123456789";

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([192, 0, 2, 1]))
    }

    fn request(headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder();
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.finish()
    }

    #[test]
    fn only_loopback_binds_are_loopback() {
        for loopback in ["127.0.0.1", "127.0.0.53", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(ip(loopback)), "{loopback}");
        }
        for open in [
            "0.0.0.0",
            "::",
            "10.0.0.1",
            "192.168.1.5",
            "2001:db8::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_loopback(ip(open)), "{open}");
        }
    }

    #[test]
    fn a_bind_on_every_interface_without_a_token_serves_no_metrics() {
        assert!(Access::on_main_listener(ip("0.0.0.0"), None).is_none());
        assert!(Access::on_main_listener(ip("::"), None).is_none());
        assert!(Access::on_main_listener(ip("10.0.0.1"), None).is_none());
        assert!(Access::on_main_listener(ip("127.0.0.1"), None).is_some());
        assert!(Access::on_main_listener(ip("::1"), None).is_some());
    }

    #[test]
    fn a_loopback_bind_answers_local_scrapes_not_forwarded_ones() {
        let Some(access) = Access::on_main_listener(ip("127.0.0.1"), None) else {
            panic!("loopback serves metrics");
        };
        assert!(access.allows(&request(&[])));
        for header in FORWARDED {
            assert!(
                !access.allows(&request(&[(header, "203.0.113.7")])),
                "{header}"
            );
        }
    }

    #[test]
    fn elsewhere_only_the_exact_bearer_token_opens_metrics() {
        let Some(access) = Access::on_main_listener(ip("0.0.0.0"), Some(TOKEN)) else {
            panic!("a token serves metrics");
        };
        let token = std::str::from_utf8(TOKEN).unwrap_or_default();
        for good in [
            format!("Bearer {token}"),
            format!("bearer {token}"),
            format!("BEARER  {token} "),
        ] {
            assert!(
                access.allows(&request(&[("authorization", &good)])),
                "{good}"
            );
        }
        let prefix = &token[..token.len() - 1];
        for bad in [
            String::new(),
            token.to_owned(),
            format!("Basic {token}"),
            format!("Bearer {prefix}"),
            format!("Bearer {token}x"),
            "Bearer".to_owned(),
        ] {
            assert!(
                !access.allows(&request(&[("authorization", &bad)])),
                "{bad}"
            );
        }
        assert!(!access.allows(&request(&[])));
        // With a token and a loopback bind, both ways in work.
        let Some(both) = Access::on_main_listener(ip("127.0.0.1"), Some(TOKEN)) else {
            panic!("serves metrics");
        };
        assert!(both.allows(&request(&[])));
        let forwarded = [
            ("x-forwarded-for", "203.0.113.7"),
            ("authorization", &*format!("Bearer {token}")),
        ];
        assert!(both.allows(&request(&forwarded)));
    }
}
