use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, PathParams, user_id};
use crate::domain::Rejection;

#[derive(Serialize, ToSchema)]
pub struct BlockList {
    /// Ids of the users the caller has blocked.
    pub blocked: Vec<String>,
}

/// Block a user: their direct messages to the caller are refused with 403 `blocked`.
#[utoipa::path(put, path = "/v1/me/blocks/{user_id}", tag = "blocks", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 204, description = "blocked (idempotent)"), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, description = "cannot block yourself", body = ErrorBody)))]
pub async fn block(
    Caller(caller): Caller,
    State(state): State<AppState>,
    PathParams(target): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    let target = user_id(&target)?;
    if target == caller {
        return Err(Rejection::SelfBlock.into());
    }
    state.store.block(&caller, &target).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unblock a user. Unblocking someone who is not blocked succeeds.
#[utoipa::path(delete, path = "/v1/me/blocks/{user_id}", tag = "blocks", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 204, description = "not blocked (idempotent)"), (status = 401, body = ErrorBody)))]
pub async fn unblock(
    Caller(caller): Caller,
    State(state): State<AppState>,
    PathParams(target): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    // An id that cannot exist cannot be blocked either: nothing to do.
    if let Some(target) = crate::domain::UserId::parse(&target) {
        state.store.unblock(&caller, &target).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// List the users the caller has blocked.
#[utoipa::path(get, path = "/v1/me/blocks", tag = "blocks", security(("bearer" = [])),
    responses((status = 200, body = BlockList), (status = 401, body = ErrorBody)))]
pub async fn list(Caller(caller): Caller, State(state): State<AppState>) -> Result<Json<BlockList>, ApiError> {
    let blocked = state.store.blocked(&caller).await?;
    Ok(Json(BlockList { blocked: blocked.into_iter().map(|id| id.to_string()).collect() }))
}
