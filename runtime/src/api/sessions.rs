//! Sessions: the one answer of every route that signs a user in, refresh, and logout.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, CallerSession, JsonBody};
use super::signouts::{self, SignedOut};
use super::source::Source;
use crate::domain::session::{UnixSecs, now};
use crate::domain::{AccessClaims, AppUserId, Name, RefreshToken, Rejection, Rule, Session, SessionId, User, UserId};
use crate::identity::IdTokenError;
use crate::store::Rotation;

/// How sessions are issued, from the settings.
#[derive(Clone, Copy, Debug)]
pub struct SessionPolicy {
    /// `auth_mode = "open"`: anyone may register with `POST /v1/users`.
    pub open_registration: bool,
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
}

/// A signed-in user: the answer of registration, sign-in, the server API's sessions and refresh.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    pub name: String,
    /// Send as `Authorization: Bearer <access_token>`; valid for `expires_in` seconds.
    pub access_token: String,
    /// Exchange at `POST /v1/sessions/refresh` for a new session view, once: each use replaces
    /// it, and presenting a replaced one again signs the session out everywhere.
    pub refresh_token: String,
    /// Seconds the access token is valid from now.
    pub expires_in: u64,
    /// The access token again, for clients of before sessions.
    pub token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    /// A JWT of the app's identity provider (at most 8 KiB).
    pub id_token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Starts a new session for `user`: its first refresh token (stored hashed) and an access token.
pub async fn start(state: &AppState, user: &User) -> Result<SessionView, ApiError> {
    let refresh = RefreshToken::issue(user.id.clone(), SessionId::generate(), 0);
    let now = now();
    state.store.create_session(&Session::of(&refresh, now + state.sessions.refresh_ttl_secs)).await?;
    Ok(view(state, user, &refresh, now))
}

fn view(state: &AppState, user: &User, refresh: &RefreshToken, now: UnixSecs) -> SessionView {
    let claims = AccessClaims {
        user: user.id.clone(),
        session: refresh.session.clone(),
        expires_at: now + state.sessions.access_ttl_secs,
    };
    let access_token = state.keys.issue_access_token(&claims);
    SessionView {
        id: user.id.to_string(),
        name: user.name.as_str().to_owned(),
        token: access_token.clone(),
        access_token,
        refresh_token: refresh.to_string(),
        expires_in: state.sessions.access_ttl_secs,
    }
}

/// Sign in with an identity token of the app's identity provider: a session of the user whose
/// app id is its `sub`, created on first sight and named by its name claim.
#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", request_body = SignInRequest,
    responses(
        (status = 201, body = SessionView),
        (status = 401, description = "invalid_id_token: the message says which check failed", body = ErrorBody),
        (status = 422, description = "invalid body", body = ErrorBody),
        (status = 503, description = "identity_provider_unavailable: its keys could not be fetched; see Retry-After", body = ErrorBody),
    ))]
pub async fn sign_in(
    State(state): State<AppState>,
    source: Source,
    JsonBody(body): JsonBody<SignInRequest>,
) -> Result<(StatusCode, Json<SessionView>), ApiError> {
    let provider = state.identity.as_ref().ok_or(ApiError::NoIdentityProvider)?;
    let identity = provider.verify(&body.id_token).await?;
    // Counted once the token is good: a forged one costs a signature check, not a store write.
    state.store.charge(Rule::UnauthenticatedPerIp, &source.subject(), 1).await?;
    let app_user = AppUserId::parse(&identity.subject).map_err(|_| {
        IdTokenError::Refused("its sub is not a valid app user id (1-255 bytes, no control characters)".into())
    })?;
    let name = identity.name.as_deref().and_then(|name| Name::parse(name).ok());
    let user = match (state.store.app_user(&app_user).await?, name) {
        (Some(user), Some(name)) if user.name != name => {
            state.store.upsert_app_user(&app_user, &name, &user.id).await?
        }
        (Some(user), _) => user,
        (None, name) => {
            let id = UserId::generate();
            // Without a usable name claim a new user is named by their own opaque id, never by
            // the app's id, which other users must not see.
            let name = match name {
                Some(name) => name,
                None => Name::parse(id.as_str())?,
            };
            state.store.upsert_app_user(&app_user, &name, &id).await?
        }
    };
    Ok((StatusCode::CREATED, Json(start(&state, &user).await?)))
}

/// Exchange a refresh token for a new access token and a new refresh token.
#[utoipa::path(post, path = "/v1/sessions/refresh", tag = "sessions", request_body = RefreshRequest,
    responses(
        (status = 200, body = SessionView),
        (status = 401, description = "invalid_refresh_token: unknown, expired, already used or revoked", body = ErrorBody),
        (status = 422, description = "invalid body", body = ErrorBody),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    source: Source,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<Json<SessionView>, ApiError> {
    let presented = RefreshToken::parse(&body.refresh_token).ok_or(Rejection::InvalidRefreshToken)?;
    state.store.charge(Rule::UnauthenticatedPerIp, &source.subject(), 1).await?;
    let now = now();
    let next = presented.successor();
    let replacement = Session::of(&next, now + state.sessions.refresh_ttl_secs);
    if state.store.rotate_session(&presented, &replacement, now).await? == Rotation::Revoked {
        tracing::warn!(user = %presented.user, session = %presented.session, "a replaced refresh token was presented again: session revoked");
        return Err(Rejection::InvalidRefreshToken.into());
    }
    let user = state.store.user(&presented.user).await?.ok_or(Rejection::InvalidRefreshToken)?;
    Ok(Json(view(&state, &user, &next, now)))
}

/// Sign out this session: its refresh token stops working (its access tokens expire as issued).
#[utoipa::path(delete, path = "/v1/sessions/current", tag = "sessions", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(
    CallerSession(claims): CallerSession,
    State(state): State<AppState>,
) -> Result<StatusCode, ApiError> {
    state.store.revoke_session(&claims.user, &claims.session).await?;
    signouts::announce(&state, SignedOut { user: claims.user, session: Some(claims.session) }).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Sign out every session of the caller.
#[utoipa::path(delete, path = "/v1/sessions", tag = "sessions", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout_everywhere(Caller(user): Caller, State(state): State<AppState>) -> Result<StatusCode, ApiError> {
    state.store.revoke_sessions(&user).await?;
    signouts::announce(&state, SignedOut { user, session: None }).await;
    Ok(StatusCode::NO_CONTENT)
}
