//! The app's users and sessions on DynamoDB, in the entities table:
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | app user | `A#<app user id>` | `app_user` | `user` (our id) |
//! | session | `U#<user id>` | `session#<session id>` | `generation`, `hash`, `expires_at`, `ttl` |
//!
//! A session's `ttl` is its refresh token's expiry, so DynamoDB deletes it some time after (the
//! store still checks `expires_at`: TTL deletes within days, not at once).

use super::DynamoStore;
use super::items::*;
use super::metrics::Tally;
use super::schema::{SK, TTL};
use crate::domain::session::{Presented, UnixSecs};
use crate::domain::{AppUserId, Name, RefreshToken, Rejection, Session, SessionId, User, UserId};
use crate::store::{Rotation, StoreError, StoreResult};

const NOT_EXISTS: &str = "attribute_not_exists(pk)";

fn session_item(session: &Session) -> Item {
    let mut item = entity_key(user_pk(&session.user), session_sk(&session.id));
    item.insert("generation".into(), n(session.generation));
    item.insert("hash".into(), s(&session.secret_hash));
    item.insert("expires_at".into(), n(session.expires_at));
    item.insert(TTL.into(), n(session.expires_at));
    item
}

fn session_from_item(user: &UserId, id: &SessionId, item: &Item) -> StoreResult<Session> {
    Ok(Session {
        user: user.clone(),
        id: id.clone(),
        generation: get_n(item, "generation")?,
        secret_hash: get_s(item, "hash")?.to_owned(),
        expires_at: get_n(item, "expires_at")?,
    })
}

fn profile_item(user: &User) -> Item {
    let mut item = entity_key(user_pk(&user.id), PROFILE);
    item.insert("name".into(), s(user.name.as_str()));
    item
}

impl DynamoStore {
    pub(super) async fn mapped_user(&self, app: &AppUserId, tally: &mut Tally) -> StoreResult<Option<UserId>> {
        let Some(item) = self.get_entity(app_user_pk(app), APP_USER, tally).await? else {
            return Ok(None);
        };
        UserId::parse(get_s(&item, "user")?).map(Some).ok_or_else(|| StoreError::unavailable("corrupt app user"))
    }

    /// The mapping first, then the profile: a crash between them leaves a mapping without a
    /// profile, which the app's retry of the upsert completes (never a user nobody can reach).
    /// Two upserts at once: the mapping's condition lets one id win, and both use it.
    pub(super) async fn upsert_app_user_now(
        &self,
        app: &AppUserId,
        name: &Name,
        new_id: &UserId,
        tally: &mut Tally,
    ) -> StoreResult<User> {
        let (id, created) = match self.mapped_user(app, tally).await? {
            Some(id) => (id, false),
            None => {
                let mut mapping = entity_key(app_user_pk(app), APP_USER);
                mapping.insert("user".into(), s(new_id.as_str()));
                let put = self.client.put_item().condition_expression(NOT_EXISTS);
                if self.put_if(put, &self.options.entities_table, mapping, tally).await? {
                    (new_id.clone(), true)
                } else {
                    let id = self.mapped_user(app, tally).await?;
                    (id.ok_or_else(|| StoreError::unavailable("app user vanished"))?, false)
                }
            }
        };
        let user = User { id, name: name.clone() };
        // The summaries first, the profile last: a crash between them leaves the old name in the
        // profile, so the app's retried upsert still sees a rename and finishes it. A user this
        // upsert created has neither yet.
        let profile = match created {
            true => None,
            false => self.get_entity(user_pk(&user.id), PROFILE, tally).await?,
        };
        let stored = profile.as_ref().map(|item| get_s(item, "name")).transpose()?;
        if stored.is_some_and(|stored| stored != name.as_str()) {
            self.rename_in_pairs(&user.id, name, tally).await?;
        }
        if stored != Some(name.as_str()) {
            self.put_entity(profile_item(&user), None, tally).await?;
        }
        Ok(user)
    }

    pub(super) async fn app_user_now(&self, app: &AppUserId, tally: &mut Tally) -> StoreResult<Option<User>> {
        let Some(id) = self.mapped_user(app, tally).await? else {
            return Ok(None);
        };
        let Some(item) = self.get_entity(user_pk(&id), PROFILE, tally).await? else {
            return Ok(None);
        };
        let name = Name::parse(get_s(&item, "name")?).map_err(|_| StoreError::unavailable("corrupt user name"))?;
        Ok(Some(User { id, name }))
    }

    pub(super) async fn create_session_now(&self, session: &Session, tally: &mut Tally) -> StoreResult<()> {
        self.put_entity(session_item(session), Some(NOT_EXISTS), tally).await
    }

    /// One consistent read, then a write conditioned on the generation and hash it read: of two
    /// presentations of one token at once, the second finds its condition failed and revokes.
    pub(super) async fn rotate_session_now(
        &self,
        presented: &RefreshToken,
        next: &Session,
        now: UnixSecs,
        tally: &mut Tally,
    ) -> StoreResult<Rotation> {
        let key = entity_key(user_pk(&presented.user), session_sk(&presented.session));
        let item = self.get_entity(user_pk(&presented.user), &session_sk(&presented.session), tally).await?;
        let stored = item.ok_or(Rejection::InvalidRefreshToken)?;
        let stored = session_from_item(&presented.user, &presented.session, &stored)?;
        match stored.judge(presented, now) {
            Presented::Current => {
                let put = self
                    .client
                    .put_item()
                    .condition_expression("generation = :g AND #h = :h")
                    .expression_attribute_names("#h", "hash")
                    .expression_attribute_values(":g", n(stored.generation))
                    .expression_attribute_values(":h", s(&stored.secret_hash));
                if self.put_if(put, &self.options.entities_table, session_item(next), tally).await? {
                    return Ok(Rotation::Rotated);
                }
                self.delete_entity(key, tally).await?;
                Ok(Rotation::Revoked)
            }
            Presented::Replayed => {
                self.delete_entity(key, tally).await?;
                Ok(Rotation::Revoked)
            }
            Presented::Refused => Err(Rejection::InvalidRefreshToken.into()),
        }
    }

    pub(super) async fn revoke_session_now(&self, user: &UserId, id: &SessionId, tally: &mut Tally) -> StoreResult<()> {
        self.delete_entity(entity_key(user_pk(user), session_sk(id)), tally).await
    }

    /// One `Query` for the user's sessions (a page of them at a time), then a delete each.
    pub(super) async fn revoke_sessions_now(&self, user: &UserId, tally: &mut Tally) -> StoreResult<()> {
        for item in self.query_entities(user_pk(user), SESSION, tally).await? {
            self.delete_entity(entity_key(user_pk(user), get_s(&item, SK)?), tally).await?;
        }
        Ok(())
    }
}
