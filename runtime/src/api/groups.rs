use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, JsonBody, PathParams, group_id, user_id};
use crate::domain::{Group, Name, Rejection, Rule};
use crate::store::{Appended, MembershipChange};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    /// 1–64 characters after trimming leading and trailing whitespace (which is not stored), none
    /// of them a control character; not unique.
    #[schema(
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([^\u0000-\u001f\u007f-\u009f]{0,62}[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$",
        example = "alice"
    )]
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct GroupView {
    pub id: String,
    pub name: String,
    pub owner: String,
    /// In joining order, longest-standing first.
    pub members: Vec<String>,
}

impl From<Group> for GroupView {
    fn from(group: Group) -> Self {
        Self {
            id: group.id.to_string(),
            name: group.name.as_str().to_owned(),
            owner: group.owner.to_string(),
            members: group.members.iter().map(ToString::to_string).collect(),
        }
    }
}

/// Create a group; the caller becomes its owner and first member.
#[utoipa::path(post, path = "/v1/groups", tag = "groups", security(("bearer" = [])), request_body = NewGroup,
    responses((status = 201, body = GroupView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create(
    Caller(caller): Caller,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewGroup>,
) -> Result<(StatusCode, Json<GroupView>), ApiError> {
    let group = Group::new(Name::parse(&body.name)?, caller);
    state.store.charge(Rule::MembershipChangesPerUser, group.owner.as_str(), 1).await?;
    state.store.create_group(&group).await?;
    Ok((StatusCode::CREATED, Json(group.into())))
}

/// Show a group to one of its members.
#[utoipa::path(get, path = "/v1/groups/{group_id}", operation_id = "show_group", tag = "groups", security(("bearer" = [])),
    params(("group_id" = String, Path)),
    responses((status = 200, body = GroupView), (status = 401, body = ErrorBody),
        (status = 403, description = "not a member", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show(
    Caller(caller): Caller,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<GroupView>, ApiError> {
    let group = state.store.group(&group_id(&id)?).await?.ok_or(Rejection::UnknownGroup)?;
    group.require_member(&caller)?;
    Ok(Json(group.into()))
}

/// The change, charged to its caller (attempts count: each costs the store a request or more).
async fn membership_change(
    state: &AppState,
    caller: crate::domain::UserId,
    group: &str,
    user: &str,
) -> Result<MembershipChange, ApiError> {
    let change = MembershipChange { group: group_id(group)?, caller, user: user_id(user)? };
    state.store.charge(Rule::MembershipChangesPerUser, change.caller.as_str(), 1).await?;
    Ok(change)
}

/// Add a user to a group. Any member may add, but not a user who has blocked them (consent);
/// adding a member again succeeds.
#[utoipa::path(put, path = "/v1/groups/{group_id}/members/{user_id}", tag = "groups", security(("bearer" = [])),
    params(("group_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204, description = "a member (idempotent)"), (status = 401, body = ErrorBody),
        (status = 403, description = "not_a_member: the caller is not a member; blocked: the user has blocked the caller", body = ErrorBody),
        (status = 404, description = "unknown group or user", body = ErrorBody),
        (status = 409, description = "group full", body = ErrorBody)))]
pub async fn add_member(
    Caller(caller): Caller,
    State(state): State<AppState>,
    PathParams((group, user)): PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let change = membership_change(&state, caller, &group, &user).await?;
    let appended = state.store.add_member(&change, state.limits.max_group_size).await?;
    push_entry(&state, appended).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a member: members may remove themselves, the owner may remove anyone. When the owner
/// leaves, the longest-standing remaining member becomes owner.
#[utoipa::path(delete, path = "/v1/groups/{group_id}/members/{user_id}", tag = "groups", security(("bearer" = [])),
    params(("group_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204, description = "removed"), (status = 401, body = ErrorBody),
        (status = 403, description = "caller is neither that user nor the owner", body = ErrorBody),
        (status = 404, description = "unknown group, or not a member", body = ErrorBody)))]
pub async fn remove_member(
    Caller(caller): Caller,
    State(state): State<AppState>,
    PathParams((group, user)): PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let change = membership_change(&state, caller, &group, &user).await?;
    let appended = state.store.remove_member(&change).await?;
    push_entry(&state, appended).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The member's membership entry, to their AWS WebSocket connections that asked for such
/// entries (a local stream hears of it from the store).
async fn push_entry(state: &AppState, appended: Option<Appended>) {
    if let (Some(delivery), Some(appended)) = (&state.delivery, appended) {
        delivery.deliver_entry(&appended).await;
    }
}
