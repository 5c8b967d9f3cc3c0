use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, JsonBody, PathParams, user_id};
use super::sessions::{self, SessionView};
use super::source::Source;
use crate::domain::{Name, Rejection, Rule, User, UserId};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 1–64 characters after trimming leading and trailing whitespace (which is not stored), none
    /// of them a control character; not unique.
    #[schema(
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([^\u0000-\u001f\u007f-\u009f]{0,62}[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$",
        example = "alice"
    )]
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub name: String,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self { id: user.id.to_string(), name: user.name.as_str().to_owned() }
    }
}

/// Register a user and start their session (`auth_mode = "open"` only).
#[utoipa::path(post, path = "/v1/users", tag = "users", request_body = NewUser,
    responses(
        (status = 201, body = SessionView),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 403, description = "registration_closed: auth_mode is \"app\"", body = ErrorBody),
        (status = 422, description = "invalid name or unknown field", body = ErrorBody),
    ))]
pub async fn register(
    State(state): State<AppState>,
    source: Source,
    JsonBody(body): JsonBody<NewUser>,
) -> Result<(StatusCode, Json<SessionView>), ApiError> {
    if !state.sessions.open_registration {
        return Err(ApiError::RegistrationClosed);
    }
    let user = User { id: UserId::generate(), name: Name::parse(&body.name)? };
    state.store.charge(Rule::UnauthenticatedPerIp, &source.subject(), 1).await?;
    state.store.create_user(&user).await?;
    Ok((StatusCode::CREATED, Json(sessions::start(&state, &user).await?)))
}

/// Look up a user's public profile.
#[utoipa::path(get, path = "/v1/users/{user_id}", tag = "users", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_user(
    Caller(_): Caller,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<UserView>, ApiError> {
    let user = state.store.user(&user_id(&id)?).await?.ok_or(Rejection::UnknownUser)?;
    Ok(Json(user.into()))
}
