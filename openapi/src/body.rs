//! `JsonBody<T>`: a JSON request body parsed strictly with serde (wrong
//! types, missing fields and unknown fields are refused) while its schema in
//! the OpenAPI document comes from the poem-openapi `Object` of `T`. Every
//! failure names the field it is about.

use poem::http::StatusCode;
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::registry::{MetaMediaType, MetaRequest, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde::de::DeserializeOwned;

use actors::FieldErrors;

use crate::error::ApiError;

pub struct JsonBody<T>(pub T);

/// Like `JsonBody`, but an absent or empty body is `T::default()`.
pub struct OptionalJsonBody<T>(pub T);

/// A request body that could not be read as the operation's JSON object.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct BodyError {
    /// The field the problem is about (`body` for the whole body).
    pub field: String,
    pub message: String,
}

impl poem::error::ResponseError for BodyError {
    fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
}

impl BodyError {
    fn body(message: impl Into<String>) -> Self {
        Self {
            field: "body".into(),
            message: message.into(),
        }
    }

    fn from_serde(err: &serde_path_to_error::Error<serde_json::Error>) -> Self {
        let inner = err.inner();
        let text = inner.to_string();
        // Drop serde's " at line 1 column 9" suffix: the field name says more.
        let text = text.split(" at line ").next().unwrap_or(&text).to_owned();
        let path = err.path().to_string();
        if inner.is_syntax() || inner.is_eof() {
            return Self::body("is not valid JSON");
        }
        if let Some(field) = backticked(&text, "missing field `") {
            return Self {
                field,
                message: "is required".into(),
            };
        }
        if let Some(field) = backticked(&text, "unknown field `") {
            return Self {
                field,
                message: "is not a known field".into(),
            };
        }
        if path == "." || path.is_empty() {
            return Self::body("must be a JSON object");
        }
        let message = if text.starts_with("invalid type") {
            text.split(", expected ")
                .nth(1)
                .map(|expected| format!("must be {expected}"))
                .unwrap_or(text)
        } else {
            text
        };
        Self {
            field: path,
            message,
        }
    }

    /// Turns any request parse failure into the 400 envelope.
    pub fn into_api_error(err: poem::Error) -> ApiError {
        if let Some(e) = err.downcast_ref::<ApiError>() {
            return e.clone();
        }
        if let Some(b) = err.downcast_ref::<BodyError>() {
            let message = if b.field == "body" {
                format!("Request body {}", b.message)
            } else {
                format!("Field `{}` {}", b.field, b.message)
            };
            return ApiError {
                errors: Some(FieldErrors::from([(
                    b.field.clone(),
                    vec![b.message.clone()],
                )])),
                ..ApiError::new(StatusCode::BAD_REQUEST, message)
            };
        }
        // A missing or malformed `Authorization` header: the one 401
        // message of every token failure.
        if err.status() == StatusCode::UNAUTHORIZED {
            return ApiError::from(actors::DomainError::Unauthorized);
        }
        if err.status().is_client_error() {
            let status = err.status();
            let text = err.to_string();
            return ApiError::new(status, text);
        }
        ApiError::new(StatusCode::BAD_REQUEST, "Invalid request")
    }
}

fn backticked(text: &str, prefix: &str) -> Option<String> {
    let rest = text.strip_prefix(prefix)?;
    Some(rest.split('`').next()?.to_owned())
}

impl<'a, T> ApiExtractor<'a> for JsonBody<T>
where
    T: Type + DeserializeOwned + Send,
{
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        json_request::<T>(true)
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        Ok(Self(parse(request, body, None).await?))
    }
}

impl<'a, T> ApiExtractor<'a> for OptionalJsonBody<T>
where
    T: Type + DeserializeOwned + Default + Send,
{
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        json_request::<T>(false)
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        Ok(Self(parse(request, body, Some(T::default())).await?))
    }
}

/// A request body must say it is JSON: `Content-Type: application/json`
/// (any parameters, any case); under any other type, or none, it is refused
/// with 415 before anything reads it. No cross-site form, and no `fetch`
/// that skips the preflight (`text/plain`, a typeless Blob), can send one.
/// An empty body needs no type.
pub fn require_json(content_type: Option<&str>, body: &[u8]) -> Result<(), ApiError> {
    if body.is_empty() || content_type.is_some_and(is_json) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "The request body must be sent as application/json",
    ))
}

fn is_json(content_type: &str) -> bool {
    content_type
        .parse::<mime::Mime>()
        .is_ok_and(|m| m.essence_str().eq_ignore_ascii_case("application/json"))
}

/// Reads and parses the body; an empty body is `empty` or a 400.
async fn parse<T: DeserializeOwned>(
    request: &Request,
    body: &mut RequestBody,
    empty: Option<T>,
) -> poem::Result<T> {
    let bytes = <Vec<u8> as FromRequest>::from_request(request, body).await?;
    require_json(request.content_type(), &bytes)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return empty.ok_or_else(|| BodyError::body("is required").into());
    }
    // serde reads a struct from a JSON array too (its fields in order):
    // `[null, null]` would be a valid change of names. Only an object is a
    // request body here.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(BodyError::body("must be a JSON object").into());
    }
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let value: T = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| poem::Error::from(BodyError::from_serde(&e)))?;
    de.end()
        .map_err(|_| poem::Error::from(BodyError::body("is not valid JSON")))?;
    Ok(value)
}

/// The OpenAPI entry of a JSON body of type `T`.
fn json_request<T: Type>(required: bool) -> Option<MetaRequest> {
    Some(MetaRequest {
        description: None,
        content: vec![MetaMediaType {
            content_type: "application/json",
            schema: T::schema_ref(),
        }],
        required,
    })
}
