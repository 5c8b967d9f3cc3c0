//! The one place where failures become HTTP responses.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{Invalid, Rejection};
use crate::identity::IdTokenError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("{0}")]
    Rejected(#[from] Rejection),
    #[error("request body is not valid JSON (line {line}, column {column})")]
    MalformedJson { line: usize, column: usize },
    #[error("request body does not match the expected shape: {0}")]
    InvalidBody(String),
    #[error("request body is larger than {} KiB", super::MAX_BODY_BYTES / 1024)]
    PayloadTooLarge,
    #[error("request body ended before its declared length, or the connection failed while sending it")]
    IncompleteBody,
    #[error("request body was not received in time")]
    BodyTimeout,
    #[error("query string is not valid: it takes 'after' (a cursor) and 'limit' (an integer), each at most once")]
    InvalidQuery,
    #[error("a path segment is not valid percent-encoded UTF-8")]
    InvalidPath,
    #[error("this route needs an 'Authorization: Bearer <token>' header")]
    MissingToken,
    #[error("the bearer token is not valid")]
    InvalidToken,
    #[error("the access token has expired: refresh the session (POST /v1/sessions/refresh) or sign in again")]
    TokenExpired,
    #[error("the server API needs 'Authorization: Bearer <server key>'; this is not the server key")]
    InvalidServerKey,
    #[error("{0}")]
    IdToken(#[from] IdTokenError),
    #[error(
        "this server takes no identity tokens: no identity provider is configured (jwt_jwks_url or jwt_hs256_secret)"
    )]
    NoIdentityProvider,
    #[error("registration is closed: users come from the app (auth_mode is \"app\")")]
    RegistrationClosed,
    #[error("no route for this path")]
    RouteNotFound,
    #[error(
        "this route is a WebSocket: open it with an upgrade request (GET, 'Connection: Upgrade', 'Upgrade: websocket')"
    )]
    WebSocketRequired,
    #[error("this route does not take that method")]
    MethodNotAllowed,
    #[error("too many requests; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("the store is temporarily unavailable")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Rejected(rejection) => Self::Rejected(rejection),
            StoreError::Unavailable(detail) => Self::Unavailable(detail),
        }
    }
}

impl ApiError {
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use StatusCode as S;
        match self {
            Self::Invalid(Invalid::Name) => (S::UNPROCESSABLE_ENTITY, "invalid_name"),
            Self::Invalid(Invalid::Text) => (S::UNPROCESSABLE_ENTITY, "invalid_text"),
            Self::Invalid(Invalid::ClientId) => (S::UNPROCESSABLE_ENTITY, "invalid_client_id"),
            Self::Invalid(Invalid::Cursor) => (S::BAD_REQUEST, "invalid_cursor"),
            Self::Invalid(Invalid::Limit) => (S::BAD_REQUEST, "invalid_limit"),
            Self::Invalid(Invalid::BothDirections) => (S::BAD_REQUEST, "invalid_query"),
            Self::Invalid(Invalid::Include) => (S::BAD_REQUEST, "invalid_query"),
            Self::Invalid(Invalid::AppUserId) => (S::UNPROCESSABLE_ENTITY, "invalid_app_user_id"),
            Self::Rejected(Rejection::UnknownUser) => (S::NOT_FOUND, "user_not_found"),
            Self::Rejected(Rejection::UnknownGroup) => (S::NOT_FOUND, "group_not_found"),
            Self::Rejected(Rejection::NotMember) => (S::FORBIDDEN, "not_a_member"),
            Self::Rejected(Rejection::NotOwner) => (S::FORBIDDEN, "not_owner"),
            Self::Rejected(Rejection::TargetNotMember) => (S::NOT_FOUND, "member_not_found"),
            Self::Rejected(Rejection::Blocked | Rejection::BlockedByTarget) => (S::FORBIDDEN, "blocked"),
            Self::Rejected(Rejection::GroupFull) => (S::CONFLICT, "group_full"),
            Self::Rejected(Rejection::ClientIdConflict) => (S::CONFLICT, "client_id_conflict"),
            Self::Rejected(Rejection::SelfBlock) => (S::UNPROCESSABLE_ENTITY, "cannot_block_self"),
            Self::Rejected(Rejection::InvalidRefreshToken) => (S::UNAUTHORIZED, "invalid_refresh_token"),
            Self::Rejected(Rejection::UnknownConversation) => (S::NOT_FOUND, "conversation_not_found"),
            Self::Rejected(Rejection::UnknownMessage) => (S::NOT_FOUND, "message_not_found"),
            Self::MalformedJson { .. } => (S::BAD_REQUEST, "malformed_json"),
            Self::InvalidBody(_) => (S::UNPROCESSABLE_ENTITY, "invalid_body"),
            Self::PayloadTooLarge => (S::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::IncompleteBody => (S::BAD_REQUEST, "incomplete_body"),
            Self::BodyTimeout => (S::REQUEST_TIMEOUT, "body_timeout"),
            Self::InvalidQuery => (S::BAD_REQUEST, "invalid_query"),
            Self::InvalidPath => (S::BAD_REQUEST, "invalid_path"),
            Self::MissingToken => (S::UNAUTHORIZED, "missing_token"),
            Self::InvalidToken => (S::UNAUTHORIZED, "invalid_token"),
            Self::TokenExpired => (S::UNAUTHORIZED, "token_expired"),
            Self::InvalidServerKey => (S::UNAUTHORIZED, "invalid_server_key"),
            Self::IdToken(IdTokenError::Refused(_)) | Self::NoIdentityProvider => (S::UNAUTHORIZED, "invalid_id_token"),
            Self::IdToken(IdTokenError::ProviderUnavailable { .. }) => {
                (S::SERVICE_UNAVAILABLE, "identity_provider_unavailable")
            }
            Self::RegistrationClosed => (S::FORBIDDEN, "registration_closed"),
            Self::RouteNotFound => (S::NOT_FOUND, "route_not_found"),
            Self::WebSocketRequired => (S::UPGRADE_REQUIRED, "websocket_required"),
            Self::MethodNotAllowed => (S::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::RateLimited { .. } | Self::Rejected(Rejection::RateLimited { .. }) => {
                (S::TOO_MANY_REQUESTS, "rate_limited")
            }
            Self::Unavailable(_) => (S::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Internal(_) => (S::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, snake_case: clients branch on this.
    pub code: &'static str,
    /// For people; wording may change.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        // Server-side details go to the log, never to the client.
        let message = match &self {
            Self::Unavailable(detail) | Self::Internal(detail) => {
                tracing::error!(code, detail, "request failed");
                self.to_string()
            }
            _ => self.to_string(),
        };
        let mut response = (status, Json(ErrorBody { error: ErrorDetail { code, message } })).into_response();
        let headers = response.headers_mut();
        match self {
            Self::MissingToken | Self::InvalidToken | Self::InvalidServerKey => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            // RFC 6750 §3.1: an expired token is `invalid_token` in the challenge.
            Self::TokenExpired => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_token", error_description="expired""#),
                );
            }
            Self::WebSocketRequired => {
                headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            }
            Self::RateLimited { retry_after_secs }
            | Self::Rejected(Rejection::RateLimited { retry_after_secs, .. })
            | Self::IdToken(IdTokenError::ProviderUnavailable { retry_after_secs, .. }) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            Self::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}
