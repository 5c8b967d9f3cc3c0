//! The server API: the app's backend, holding the server key, creates users, hands out and
//! revokes their sessions, and erases them. The server key is never a user token, and no user token opens it.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, PathParams, bearer};
use super::sessions::{self, SessionView};
use super::signouts::{self, SignedOut};
use crate::domain::{AppUserId, Name, Rejection, User, UserId};

/// The app's backend, by the server key.
pub struct AppBackend;

impl FromRequestParts<AppState> for AppBackend {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts.headers.get(AUTHORIZATION).ok_or(ApiError::MissingToken)?;
        let key = bearer(header).ok_or(ApiError::InvalidServerKey)?;
        if state.keys.is_server_key(key) { Ok(AppBackend) } else { Err(ApiError::InvalidServerKey) }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppUserRequest {
    /// As `POST /v1/users` takes it.
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct AppUserView {
    pub id: String,
    pub name: String,
    pub app_user_id: String,
}

fn app_user_id(raw: &str) -> Result<AppUserId, ApiError> {
    Ok(AppUserId::parse(raw)?)
}

async fn known(state: &AppState, app_user: &AppUserId) -> Result<User, ApiError> {
    Ok(state.store.app_user(app_user).await?.ok_or(Rejection::UnknownUser)?)
}

/// Create the app's user, or rename them: the same `app_user_id` is always the same user.
#[utoipa::path(put, path = "/v1/admin/users/{app_user_id}", tag = "server API", security(("server_key" = [])),
    params(("app_user_id" = String, Path, description = "the app's id of the user (percent-encoded)")),
    request_body = AppUserRequest,
    responses((status = 200, body = AppUserView), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn upsert_user(
    _: AppBackend,
    State(state): State<AppState>,
    PathParams(raw): PathParams<String>,
    JsonBody(body): JsonBody<AppUserRequest>,
) -> Result<Json<AppUserView>, ApiError> {
    let app_user = app_user_id(&raw)?;
    let name = Name::parse(&body.name)?;
    let user = state.store.upsert_app_user(&app_user, &name, &UserId::generate()).await?;
    Ok(Json(AppUserView { id: user.id.to_string(), name: user.name.as_str().to_owned(), app_user_id: raw }))
}

/// A new session of the app's user, for the backend to hand to its client.
#[utoipa::path(post, path = "/v1/admin/users/{app_user_id}/sessions", tag = "server API", security(("server_key" = [])),
    params(("app_user_id" = String, Path)),
    responses((status = 201, body = SessionView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn start_session(
    _: AppBackend,
    State(state): State<AppState>,
    PathParams(raw): PathParams<String>,
) -> Result<(StatusCode, Json<SessionView>), ApiError> {
    let user = known(&state, &app_user_id(&raw)?).await?;
    Ok((StatusCode::CREATED, Json(sessions::start(&state, &user).await?)))
}

/// Sign the app's user out of every session.
#[utoipa::path(delete, path = "/v1/admin/users/{app_user_id}/sessions", tag = "server API", security(("server_key" = [])),
    params(("app_user_id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_sessions(
    _: AppBackend,
    State(state): State<AppState>,
    PathParams(raw): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    let user = known(&state, &app_user_id(&raw)?).await?;
    state.store.revoke_sessions(&user.id).await?;
    signouts::announce(&state, SignedOut { user: user.id, session: None }).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Erase the app's user: their profile, sessions, blocks, feed, group memberships (a group they
/// own passes to its next member), send records and connections. What they sent others stays in
/// the others' feeds. Their open streams are closed at once.
#[utoipa::path(delete, path = "/v1/admin/users/{app_user_id}", tag = "server API", security(("server_key" = [])),
    params(("app_user_id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn erase_user(
    _: AppBackend,
    State(state): State<AppState>,
    PathParams(raw): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    let erased = state.store.erase_app_user(&app_user_id(&raw)?).await?.ok_or(Rejection::UnknownUser)?;
    state.signouts.publish(SignedOut { user: erased.user.clone(), session: None });
    if let Some(delivery) = &state.delivery {
        delivery.disconnect(&erased.connections).await;
    }
    Ok(StatusCode::NO_CONTENT)
}
