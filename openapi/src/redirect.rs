//! `Redirect<O>`: a 302 to a `Location` (with a `Set-Cookie` when one is
//! given), whose OpenAPI entry lists the redirect and every error status the
//! operation `O` can answer with instead, each with the error envelope.
//! The sign-in with another provider's browser ends answer this way.

use std::marker::PhantomData;

use poem::http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use poem::http::{HeaderValue, StatusCode};
use poem::{IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;

use crate::body::BodyError;
use crate::envelope::{ErrorEnvelope, phrase};
use crate::error::ApiError;
use crate::reply::Outcomes;

pub struct Redirect<O> {
    inner: Result<(String, Option<HeaderValue>), ApiError>,
    _outcomes: PhantomData<O>,
}

impl<O> Redirect<O> {
    /// A 302 to `location`, setting `set_cookie` when given.
    pub fn to(location: String, set_cookie: Option<HeaderValue>) -> Self {
        Self {
            inner: Ok((location, set_cookie)),
            _outcomes: PhantomData,
        }
    }
}

impl<O: Outcomes> IntoResponse for Redirect<O> {
    fn into_response(self) -> Response {
        match self.inner {
            Ok((location, cookie)) => {
                let Ok(location) = HeaderValue::from_str(&location) else {
                    return ApiError::from(actors::DomainError::Internal(
                        "a redirect URL that is not a header value".into(),
                    ))
                    .into_response();
                };
                let mut resp = Response::builder()
                    .status(StatusCode::FOUND)
                    .header(LOCATION, location)
                    .header(CACHE_CONTROL, HeaderValue::from_static("no-store"))
                    .finish();
                if let Some(cookie) = cookie {
                    resp.headers_mut().append(SET_COOKIE, cookie);
                }
                resp
            }
            Err(e) => e.into_response(),
        }
    }
}

fn header(name: &str, description: &str, required: bool) -> MetaHeader {
    MetaHeader {
        name: name.to_owned(),
        description: Some(description.to_owned()),
        required,
        deprecated: false,
        schema: <String as Type>::schema_ref(),
    }
}

impl<O: Outcomes> ApiResponse for Redirect<O> {
    const BAD_REQUEST_HANDLER: bool = true;

    fn meta() -> MetaResponses {
        let mut responses = vec![MetaResponse {
            description: "Found: the browser goes on to `Location`",
            status: Some(302),
            status_range: None,
            content: vec![],
            headers: vec![
                header("Location", "Where the browser goes next", true),
                header(
                    "Set-Cookie",
                    "`__Host-authd_oidc`, binding the flow to this browser (at start)",
                    false,
                ),
            ],
        }];
        responses.extend(O::ERRORS.iter().map(|&status| MetaResponse {
            description: phrase(status),
            status: Some(status),
            status_range: None,
            content: vec![MetaMediaType {
                content_type: "application/json",
                schema: <Json<ErrorEnvelope> as Payload>::schema_ref(),
            }],
            headers: vec![],
        }));
        MetaResponses { responses }
    }

    fn register(registry: &mut Registry) {
        <Json<ErrorEnvelope> as Payload>::register(registry);
    }

    fn from_parse_request_error(err: poem::Error) -> Self {
        Self {
            inner: Err(BodyError::into_api_error(err)),
            _outcomes: PhantomData,
        }
    }
}
