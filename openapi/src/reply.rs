//! `Reply<T, O>`: a success envelope whose OpenAPI entry lists the success
//! status and every error status the operation `O` can return, each with the
//! error envelope schema, so generated clients get typed errors. Request
//! parse failures (malformed JSON, missing or unknown fields) also come back
//! through here as 400 envelopes.

use std::marker::PhantomData;

use poem::http::header::SET_COOKIE;
use poem::http::{HeaderValue, StatusCode};
use poem::{IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::{ParseFromJSON, ToJSON, Type};

use crate::body::BodyError;
use crate::envelope::{ErrorEnvelope, SuccessEnvelope, phrase};
use crate::error::ApiError;

/// The statuses one operation answers with.
pub trait Outcomes: Send + Sync + 'static {
    const SUCCESS: u16;
    const ERRORS: &'static [u16];
}

/// Declares an `Outcomes` marker type: `outcomes!(Name: 201, [400, 409]);`
#[macro_export]
macro_rules! outcomes {
    ($name:ident: $ok:literal, [$($err:literal),* $(,)?]) => {
        pub struct $name;
        impl $crate::reply::Outcomes for $name {
            const SUCCESS: u16 = $ok;
            const ERRORS: &'static [u16] = &[$($err),*];
        }
    };
}

pub struct Reply<T, O> {
    inner: Result<(u16, String, Option<T>), ApiError>,
    /// A `Set-Cookie` to send with a success (the refresh cookie).
    set_cookie: Option<HeaderValue>,
    _outcomes: PhantomData<O>,
}

/// For operations that return no `data`.
#[derive(poem_openapi::Object, Debug)]
pub struct NoData {}

impl<T: Type + ToJSON + ParseFromJSON, O: Outcomes> Reply<T, O> {
    pub fn ok(message: impl Into<String>, data: T) -> Self {
        Self {
            inner: Ok((O::SUCCESS, message.into(), Some(data))),
            set_cookie: None,
            _outcomes: PhantomData,
        }
    }
}

impl<O: Outcomes> Reply<NoData, O> {
    pub fn message(message: impl Into<String>) -> Self {
        Self {
            inner: Ok((O::SUCCESS, message.into(), None)),
            set_cookie: None,
            _outcomes: PhantomData,
        }
    }
}

impl<T, O> Reply<T, O> {
    /// Sends this `Set-Cookie` with the answer (nothing when `None`).
    pub fn with_cookie(mut self, set_cookie: Option<HeaderValue>) -> Self {
        self.set_cookie = set_cookie;
        self
    }
}

impl<T: Type + ToJSON + ParseFromJSON, O: Outcomes> IntoResponse for Reply<T, O> {
    fn into_response(self) -> Response {
        match self.inner {
            Ok((status, message, data)) => {
                let envelope = SuccessEnvelope {
                    success: true,
                    status_code: status,
                    message,
                    data,
                };
                let mut resp = Json(envelope).into_response();
                resp.set_status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
                if let Some(cookie) = self.set_cookie {
                    resp.headers_mut().append(SET_COOKIE, cookie);
                }
                resp
            }
            Err(e) => e.into_response(),
        }
    }
}

fn json_content<X: Type>() -> Vec<MetaMediaType> {
    vec![MetaMediaType {
        content_type: "application/json",
        schema: <Json<X> as Payload>::schema_ref(),
    }]
}

impl<T: Type + ToJSON + ParseFromJSON, O: Outcomes> ApiResponse for Reply<T, O> {
    const BAD_REQUEST_HANDLER: bool = true;

    fn meta() -> MetaResponses {
        let mut responses = vec![MetaResponse {
            description: "Success",
            status: Some(O::SUCCESS),
            status_range: None,
            content: json_content::<SuccessEnvelope<T>>(),
            headers: vec![],
        }];
        // An operation that reads a body (it can answer 413) also refuses
        // one that is not sent as JSON.
        let unsupported = O::ERRORS.contains(&413).then_some(415);
        let errors = O::ERRORS.iter().copied().chain(unsupported);
        responses.extend(errors.map(|status| MetaResponse {
            description: phrase(status),
            status: Some(status),
            status_range: None,
            content: json_content::<ErrorEnvelope>(),
            headers: vec![],
        }));
        MetaResponses { responses }
    }

    fn register(registry: &mut Registry) {
        <Json<SuccessEnvelope<T>> as Payload>::register(registry);
        <Json<ErrorEnvelope> as Payload>::register(registry);
    }

    fn from_parse_request_error(err: poem::Error) -> Self {
        Self {
            inner: Err(BodyError::into_api_error(err)),
            set_cookie: None,
            _outcomes: PhantomData,
        }
    }
}
