//! Extractors that turn every kind of bad input into an [`ApiError`] with a stable code, instead
//! of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::HeaderValue;
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::{AppState, MAX_BODY_BYTES};
use crate::domain::session::now;
use crate::domain::{AccessClaims, Cursor, GroupId, Rejection, Seq, TokenError, UserId};

/// A JSON object request body. The content type is not checked (curl's default is form-encoded,
/// and the body is parsed as JSON either way); syntax errors are 400, shape errors 422. Only an
/// object is accepted: serde would otherwise read `["alice"]` as `{"name": "alice"}`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let read = Bytes::from_request(request, state);
        let bytes = tokio::time::timeout(state.limits.body_read_timeout, read)
            .await
            .map_err(|_| ApiError::BodyTimeout)?
            .map_err(|rejection| match rejection {
                BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
                    ApiError::PayloadTooLarge
                }
                // The connection closed or failed before the body's declared end.
                _ => ApiError::IncompleteBody,
            })?;
        let classify = |error: serde_json::Error| match error.classify() {
            serde_json::error::Category::Data => ApiError::InvalidBody(error.to_string()),
            _ => ApiError::MalformedJson { line: error.line(), column: error.column() },
        };
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).map_err(classify)?;
            return Err(ApiError::InvalidBody("expected a JSON object".into()));
        }
        serde_json::from_slice(&bytes).map(JsonBody).map_err(classify)
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(header: &HeaderValue) -> Option<&str> {
    let (scheme, token) = header.to_str().ok()?.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The authenticated user. Verifying the access token is one HMAC: no store read.
pub struct Caller(pub UserId);

/// The authenticated user and the session their access token belongs to.
pub struct CallerSession(pub AccessClaims);

impl FromRequestParts<AppState> for CallerSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts.headers.get(AUTHORIZATION).ok_or(ApiError::MissingToken)?;
        let token = bearer(header).ok_or(ApiError::InvalidToken)?;
        Caller::authenticate(token, state).map(CallerSession)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        CallerSession::from_request_parts(parts, state).await.map(|CallerSession(claims)| Caller(claims.user))
    }
}

impl Caller {
    /// What the access token says, once the rate limit lets its user through.
    pub fn authenticate(token: &str, state: &AppState) -> Result<AccessClaims, ApiError> {
        let claims = state.keys.verify_access_token(token.trim(), now()).map_err(|error| match error {
            TokenError::Invalid => ApiError::InvalidToken,
            TokenError::Expired => ApiError::TokenExpired,
        })?;
        if let Some(limiter) = &state.rate_limiter {
            limiter.check(&claims.user)?;
        }
        Ok(claims)
    }
}

/// Path parameters, with axum's rejection mapped to our error shape.
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| PathParams(value))
            .map_err(|_| ApiError::InvalidPath)
    }
}

/// Query parameters, with axum's rejection mapped to our error shape.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| QueryParams(value))
            .map_err(|_| ApiError::InvalidQuery)
    }
}

/// An id from the path that cannot exist (empty, oversized) is simply not found.
pub fn user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).ok_or(ApiError::Rejected(Rejection::UnknownUser))
}

pub fn group_id(raw: &str) -> Result<GroupId, ApiError> {
    GroupId::parse(raw).ok_or(ApiError::Rejected(Rejection::UnknownGroup))
}

/// The position after which `caller` asked to read: the start without a cursor.
pub fn cursor_after(state: &AppState, caller: &UserId, encoded: Option<&str>) -> Result<Cursor, ApiError> {
    match encoded {
        None => Ok(Cursor(Seq::START)),
        Some(encoded) => Ok(state.keys.decode_cursor(caller, encoded)?),
    }
}

/// `GET /v1/messages` parameters, kept as strings so each gets its own precise error.
#[derive(Deserialize)]
pub struct FeedQuery {
    pub after: Option<String>,
    pub limit: Option<String>,
    pub include: Option<String>,
}

/// A body declared larger than the limit is refused before any of it is read: waiting for it
/// would hold the connection for a request that cannot succeed.
pub async fn refuse_declared_oversize(request: Request, next: Next) -> Response {
    let declared = request.headers().get(CONTENT_LENGTH).and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return ApiError::PayloadTooLarge.into_response();
    }
    next.run(request).await
}
