use thiserror::Error;

use super::limits::Rule;

/// Why a client-supplied value could not be parsed into a domain type.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Invalid {
    #[error("name must be 1 to 64 characters after trimming, without control characters")]
    Name,
    #[error(
        "text must be 1 to 4000 characters, contain a non-whitespace character, and hold no control character but tab, line feed and carriage return"
    )]
    Text,
    #[error("client_id must be 1 to 64 characters, without control characters")]
    ClientId,
    #[error("cursor is not valid for this user")]
    Cursor,
    #[error("limit must be an integer from 1 to 500")]
    Limit,
    #[error("give 'before' or 'after', not both")]
    BothDirections,
    #[error("include takes one value: membership")]
    Include,
    #[error("an app user id must be 1 to 255 bytes, without control characters")]
    AppUserId,
}

/// A rule refused the operation. Stores return these from inside their transactions so that the
/// check and the write it guards are atomic.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Rejection {
    #[error("no such user")]
    UnknownUser,
    #[error("no such group")]
    UnknownGroup,
    #[error("the caller is not a member of this group")]
    NotMember,
    #[error("only the owner may remove other members")]
    NotOwner,
    #[error("the user is not a member of this group")]
    TargetNotMember,
    #[error("the recipient has blocked the sender")]
    Blocked,
    #[error("this user has blocked the caller, who cannot add them to a group")]
    BlockedByTarget,
    #[error("the group has reached its member limit")]
    GroupFull,
    #[error("client_id was already used for a different message")]
    ClientIdConflict,
    #[error("a user cannot block themselves")]
    SelfBlock,
    #[error("the refresh token is unknown, expired, already used or revoked; sign in again")]
    InvalidRefreshToken,
    #[error("the caller has no such conversation")]
    UnknownConversation,
    #[error("no such message in this conversation")]
    UnknownMessage,
    #[error("over the limit of {rule}; retry after {retry_after_secs} s")]
    RateLimited { rule: Rule, retry_after_secs: u64 },
}
