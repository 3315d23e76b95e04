//! The refresh token as a browser cookie (`AUTH_REFRESH_COOKIE=on`), and the
//! checks that make a request authenticated by it safe from cross-site
//! request forgery: an `Origin` listed in `AUTH_CORS_ORIGINS` (a missing one
//! is refused) and `X-Requested-With: authd`, a header no cross-site form
//! can send. SameSite=Strict already keeps the cookie off cross-site
//! requests; these checks also cover a sibling origin of the same site.

use cookie::{Cookie, SameSite};
use poem::Request;
use poem::http::header::{COOKIE, ORIGIN};
use poem::http::{HeaderValue, StatusCode};
use zeroize::Zeroizing;

use crate::cors::AllowedOrigins;
use crate::error::ApiError;

/// The cookie's name; `__Host-` makes the browser insist on Secure, Path=/
/// and no Domain, so no subdomain can plant or read it.
pub const NAME: &str = "__Host-authd_refresh";
/// The header (and value) a cookie-authenticated request must carry.
pub const REQUESTED_WITH: (&str, &str) = ("x-requested-with", "authd");

/// Whether refresh tokens travel as a cookie, and where it may come from.
#[derive(Debug, Clone)]
pub struct RefreshCookie {
    /// `None`: cookie mode off (the default); the cookie is neither set
    /// nor read.
    on: Option<Settings>,
}

#[derive(Debug, Clone)]
struct Settings {
    max_age_secs: i64,
    origins: AllowedOrigins,
}

/// A refresh token a request presents, and where it came from.
pub struct Presented {
    pub token: Zeroizing<String>,
    pub from_cookie: bool,
}

impl RefreshCookie {
    pub fn off() -> Self {
        Self { on: None }
    }

    /// Cookie mode: the cookie lives as long as a refresh token
    /// (`max_age_secs`); requests using it must come from `origins`.
    pub fn on(max_age_secs: i64, origins: AllowedOrigins) -> Self {
        Self {
            on: Some(Settings {
                max_age_secs,
                origins,
            }),
        }
    }

    /// The `Set-Cookie` value carrying a newly issued refresh token;
    /// `None` when cookie mode is off.
    pub fn set(&self, refresh_token: &str) -> Option<HeaderValue> {
        let on = self.on.as_ref()?;
        header(Cookie::build((NAME, refresh_token)), on.max_age_secs)
    }

    /// The `Set-Cookie` value that removes the cookie; `None` when off.
    pub fn clear(&self) -> Option<HeaderValue> {
        self.on.as_ref()?;
        header(Cookie::build((NAME, "")), 0)
    }

    /// The refresh token of a request: the body's when it has one, else
    /// (cookie mode) the cookie's, which is only taken from a request that
    /// passes the CSRF checks (403 otherwise).
    pub fn presented(
        &self,
        req: &Request,
        from_body: Option<String>,
    ) -> Result<Option<Presented>, ApiError> {
        if let Some(token) = from_body.filter(|t| !t.is_empty()) {
            return Ok(Some(Presented {
                token: Zeroizing::new(token),
                from_cookie: false,
            }));
        }
        let Some(on) = &self.on else {
            return Ok(None);
        };
        let Some(token) = read(req) else {
            return Ok(None);
        };
        check_origin(req, &on.origins)?;
        Ok(Some(Presented {
            token,
            from_cookie: true,
        }))
    }
}

fn header(builder: cookie::CookieBuilder<'_>, max_age_secs: i64) -> Option<HeaderValue> {
    let cookie = builder
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .path("/")
        .max_age(cookie::time::Duration::seconds(max_age_secs))
        .build();
    HeaderValue::from_str(&cookie.encoded().to_string()).ok()
}

/// The refresh cookie's value.
fn read(req: &Request) -> Option<Zeroizing<String>> {
    cookie_value(req, NAME)
}

/// The value of cookie `name`, from every `Cookie` header of the request;
/// the first non-empty one wins.
pub(crate) fn cookie_value(req: &Request, name: &str) -> Option<Zeroizing<String>> {
    req.headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse_encoded)
        .filter_map(Result::ok)
        .find(|c| c.name() == name && !c.value().is_empty())
        .map(|c| Zeroizing::new(c.value().to_owned()))
}

fn check_origin(req: &Request, origins: &AllowedOrigins) -> Result<(), ApiError> {
    let origin_ok = req
        .headers()
        .get(ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_some_and(|o| origins.allows(o));
    let (name, value) = REQUESTED_WITH;
    let marked = req
        .headers()
        .get(name)
        .is_some_and(|v| v.as_bytes() == value.as_bytes());
    if origin_ok && marked {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "A request using the refresh cookie must come from an allowed Origin \
             with X-Requested-With: authd",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie_mode() -> RefreshCookie {
        RefreshCookie::on(60, AllowedOrigins::new(["http://app.test".to_owned()]))
    }

    #[test]
    fn the_cookie_has_every_attribute_the_host_prefix_needs() {
        let v = cookie_mode().set("abc").unwrap();
        let v = v.to_str().unwrap();
        assert!(v.starts_with("__Host-authd_refresh=abc"), "{v}");
        for part in [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(v.contains(part), "{part} missing in {v}");
        }
        assert!(!v.contains("Domain"), "{v}");
        let cleared = cookie_mode().clear().unwrap();
        assert!(cleared.to_str().unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn off_sets_and_reads_nothing() {
        let off = RefreshCookie::off();
        assert!(off.set("abc").is_none());
        assert!(off.clear().is_none());
        let req = Request::builder()
            .header(COOKIE, format!("{NAME}=abc"))
            .finish();
        assert!(off.presented(&req, None).unwrap().is_none());
    }

    #[test]
    fn the_body_wins_over_the_cookie_and_needs_no_checks() {
        let req = Request::builder()
            .header(COOKIE, format!("{NAME}=cookie"))
            .finish();
        let p = cookie_mode()
            .presented(&req, Some("body".into()))
            .unwrap()
            .unwrap();
        assert_eq!(p.token.as_str(), "body");
        assert!(!p.from_cookie);
    }

    #[test]
    fn the_cookie_needs_a_listed_origin_and_the_header() {
        let with = |origin: Option<&str>, xrw: Option<&str>| {
            let mut b = Request::builder().header(COOKIE, format!("other=1; {NAME}=tok"));
            if let Some(o) = origin {
                b = b.header(ORIGIN, o);
            }
            if let Some(x) = xrw {
                b = b.header("x-requested-with", x);
            }
            cookie_mode().presented(&b.finish(), None)
        };
        let ok = with(Some("http://app.test"), Some("authd"))
            .unwrap()
            .unwrap();
        assert_eq!(ok.token.as_str(), "tok");
        assert!(ok.from_cookie);
        for (origin, xrw) in [
            (None, Some("authd")),
            (Some("http://evil.test"), Some("authd")),
            (Some("null"), Some("authd")),
            (Some("http://app.test"), None),
            (Some("http://app.test"), Some("XMLHttpRequest")),
        ] {
            let err = with(origin, xrw).err().expect("refused");
            assert_eq!(err.status, StatusCode::FORBIDDEN, "{origin:?} {xrw:?}");
        }
    }
}
