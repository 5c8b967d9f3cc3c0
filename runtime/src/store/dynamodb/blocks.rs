//! Blocks: one item each under the blocker, `block#<target>`, listed by one `Query`.

use super::DynamoStore;
use super::items::*;
use super::metrics::Tally;
use super::schema::SK;
use crate::domain::UserId;
use crate::store::{StoreError, StoreResult};

impl DynamoStore {
    /// The users `blocker` has blocked, every page of them.
    pub(super) async fn list_blocks(&self, blocker: &UserId, tally: &mut Tally) -> StoreResult<Vec<UserId>> {
        let items = self.query_entities(user_pk(blocker), "block#", tally).await?;
        items
            .iter()
            .map(|item| {
                let target = get_s(item, SK)?.trim_start_matches("block#");
                UserId::parse(target).ok_or_else(|| StoreError::unavailable("corrupt block"))
            })
            .collect()
    }
}
