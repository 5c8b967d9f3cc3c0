//! Erasing an app's user on the embedded store: one write transaction, so it happens whole or
//! not at all. The group table is scanned for their memberships: locally there are few groups,
//! and an index kept beside every membership change would cost every change a write.

use redb::ReadableTable;

use super::tables::*;
use super::{EmbeddedStore, update_group};
use crate::domain::{AppUserId, GroupId, UserId};
use crate::store::{Erased, StoreResult};

impl EmbeddedStore {
    pub(super) async fn erase_app_user_now(&self, app: &AppUserId) -> StoreResult<Option<Erased>> {
        let app = app.clone();
        self.writer
            .write(move |tables| {
                let Some(user) = tables.app_users.get(app.as_str()).map_err(storage)?.map(|id| id.value().to_owned())
                else {
                    return Ok(None);
                };
                let user = UserId::parse(&user).ok_or_else(|| corrupt("app user", &user))?;
                let mut groups = Vec::new();
                for entry in tables.groups.iter().map_err(storage)? {
                    let (id, _) = entry.map_err(storage)?;
                    groups.push(id.value().to_owned());
                }
                for id in groups {
                    let id = GroupId::parse(&id).ok_or_else(|| corrupt("group", &id))?;
                    update_group(tables, &id, |group, _| {
                        if !group.is_member(&user) {
                            return Ok(false);
                        }
                        group.remove(&user, &user)?;
                        Ok(true)
                    })?;
                }
                let u = user.as_str();
                // Every (u, *) key sorts before (u + NUL, ""), which is no user's (ids have no NUL).
                let next = format!("{u}\0");
                let theirs = (u, "")..(next.as_str(), "");
                tables.sessions.retain_in(theirs.clone(), |_, _| false).map_err(storage)?;
                tables.blocks.retain_in(theirs.clone(), |_, _| false).map_err(storage)?;
                tables.sent_by_client_id.retain_in(theirs.clone(), |_, _| false).map_err(storage)?;
                let mut sides = Vec::new();
                for entry in tables.group_sides.range(theirs.clone()).map_err(storage)? {
                    sides.push(entry.map_err(storage)?.0.value().1.to_owned());
                }
                for group in sides {
                    tables.log.remove((group_read_key(&group, u).as_str(), 0)).map_err(storage)?;
                }
                tables.group_sides.retain_in(theirs.clone(), |_, _| false).map_err(storage)?;
                tables.feed.retain_in((u, 0)..=(u, u64::MAX), |_, _| false).map_err(storage)?;
                let (direct, _) = direct_listings(u);
                let direct = (direct.start.0.as_str(), 0)..(direct.end.0.as_str(), 0);
                tables.feed.retain_in(direct, |_, _| false).map_err(storage)?;
                tables.directory.forget(&user);
                tables.heads.forget(&user);
                tables.users.remove(u).map_err(storage)?;
                tables.app_users.remove(app.as_str()).map_err(storage)?;
                Ok(Some(Erased { user, connections: Vec::new() }))
            })
            .await
    }
}
