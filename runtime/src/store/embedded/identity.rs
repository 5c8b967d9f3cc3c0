//! The app's users and sessions on the embedded store: each operation one write transaction of
//! the single writer, so a check and the write it guards cannot be interleaved.

use redb::ReadableTable;

use super::EmbeddedStore;
use super::tables::*;
use crate::domain::session::{Presented, UnixSecs};
use crate::domain::{AppUserId, Name, RefreshToken, Rejection, Session, SessionId, User, UserId};
use crate::store::{Rotation, StoreError, StoreResult};

fn read_session(tables: &WriteTables<'_>, user: &str, session: &str) -> StoreResult<Option<Session>> {
    match tables.sessions.get((user, session)).map_err(storage)? {
        Some(bytes) => serde_json::from_slice(bytes.value()).map(Some).map_err(|e| corrupt("session", e)),
        None => Ok(None),
    }
}

/// The ids of `user`'s sessions, and of those among them expired at `now`.
fn sessions_of(tables: &WriteTables<'_>, user: &str, now: UnixSecs) -> StoreResult<(Vec<String>, Vec<String>)> {
    let (mut all, mut expired) = (Vec::new(), Vec::new());
    for entry in tables.sessions.range((user, "")..).map_err(storage)? {
        let (key, value) = entry.map_err(storage)?;
        let (owner, id) = key.value();
        if owner != user {
            break;
        }
        let session: Session = serde_json::from_slice(value.value()).map_err(|e| corrupt("session", e))?;
        if session.expires_at <= now {
            expired.push(id.to_owned());
        }
        all.push(id.to_owned());
    }
    Ok((all, expired))
}

impl EmbeddedStore {
    pub(super) async fn upsert_app_user_now(&self, app: &AppUserId, name: &Name, new_id: &UserId) -> StoreResult<User> {
        let (app, name, new_id) = (app.clone(), name.clone(), new_id.clone());
        self.writer
            .write(move |tables| {
                let known = tables.app_users.get(app.as_str()).map_err(storage)?.map(|id| id.value().to_owned());
                let id = match known {
                    Some(id) => UserId::parse(&id).ok_or_else(|| corrupt("app user", id))?,
                    None => {
                        tables.app_users.insert(app.as_str(), new_id.as_str()).map_err(storage)?;
                        new_id
                    }
                };
                tables.users.insert(id.as_str(), name.as_str()).map_err(storage)?;
                Ok(User { id, name })
            })
            .await
    }

    pub(super) async fn app_user_now(&self, app: &AppUserId) -> StoreResult<Option<User>> {
        let txn = self.read()?;
        let app_users = txn.open_table(APP_USERS).map_err(storage)?;
        let Some(id) = app_users.get(app.as_str()).map_err(storage)? else {
            return Ok(None);
        };
        let id = UserId::parse(id.value()).ok_or_else(|| corrupt("app user", id.value()))?;
        read_user(&txn.open_table(USERS).map_err(storage)?, &id)
    }

    /// Also forgets the user's sessions that have expired, so they do not pile up.
    pub(super) async fn create_session_now(&self, session: &Session) -> StoreResult<()> {
        let session = session.clone();
        self.writer
            .write(move |tables| {
                let (_, expired) = sessions_of(tables, session.user.as_str(), crate::domain::session::now())?;
                for id in expired {
                    tables.sessions.remove((session.user.as_str(), id.as_str())).map_err(storage)?;
                }
                tables
                    .sessions
                    .insert((session.user.as_str(), session.id.as_str()), encode(&session)?.as_slice())
                    .map_err(storage)?;
                Ok(())
            })
            .await
    }

    pub(super) async fn rotate_session_now(
        &self,
        presented: &RefreshToken,
        next: &Session,
        now: UnixSecs,
    ) -> StoreResult<Rotation> {
        let (presented, next) = (presented.clone(), next.clone());
        self.writer
            .write(move |tables| {
                let (user, id) = (presented.user.as_str(), presented.session.as_str());
                let stored = read_session(tables, user, id)?.ok_or(Rejection::InvalidRefreshToken)?;
                match stored.judge(&presented, now) {
                    Presented::Current => {
                        tables.sessions.insert((user, id), encode(&next)?.as_slice()).map_err(storage)?;
                        Ok(Rotation::Rotated)
                    }
                    Presented::Replayed => {
                        tables.sessions.remove((user, id)).map_err(storage)?;
                        Ok(Rotation::Revoked)
                    }
                    Presented::Refused => Err(StoreError::from(Rejection::InvalidRefreshToken)),
                }
            })
            .await
    }

    pub(super) async fn revoke_session_now(&self, user: &UserId, session: &SessionId) -> StoreResult<()> {
        let (user, session) = (user.clone(), session.clone());
        self.writer
            .write(move |tables| {
                tables.sessions.remove((user.as_str(), session.as_str())).map_err(storage)?;
                Ok(())
            })
            .await
    }

    pub(super) async fn revoke_sessions_now(&self, user: &UserId) -> StoreResult<()> {
        let user = user.clone();
        self.writer
            .write(move |tables| {
                let (all, _) = sessions_of(tables, user.as_str(), 0)?;
                for id in all {
                    tables.sessions.remove((user.as_str(), id.as_str())).map_err(storage)?;
                }
                Ok(())
            })
            .await
    }
}
