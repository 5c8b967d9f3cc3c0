//! What each write is billed, computed before it is sent from the sizes of the items before and
//! after ([`super::capacity`] has DynamoDB's rules), for the request-budget counters.

use aws_sdk_dynamodb::types::TransactWriteItem;

use super::DynamoStore;
use super::capacity::{self, item_size, write_units};
use super::items::Item;
use super::metrics::Tally;
use super::schema::{PK, SEQ, SK, USER};

impl DynamoStore {
    /// The key attributes of `item`, stored in `table`.
    fn key_of(&self, table: &str, item: &Item) -> Item {
        let names = if table == self.options.entities_table { [PK, SK] } else { [USER, SEQ] };
        names.iter().filter_map(|name| item.get(*name).map(|v| ((*name).to_owned(), v.clone()))).collect()
    }

    /// A single-item put (a failed condition is billed too), by the larger of the item before and
    /// after.
    pub(super) fn bill_put(&self, table: &str, item: &Item, tally: &mut Tally) {
        let key = self.key_of(table, item);
        let size = item_size(item).max(tally.known(table, &key).unwrap_or(0));
        tally.bill_write(write_units(size, false));
        tally.remember(table, &key, item_size(item));
    }

    /// A transaction, as if it commits: every item's write at the transactional rate, by the
    /// larger of the item's size before (when this call read it) and after. A condition check is
    /// billed by the size of the item it checks.
    pub(super) fn bill_transaction(&self, items: &[TransactWriteItem], tally: &mut Tally) {
        for item in items {
            let (table, key, after) = if let Some(put) = item.put() {
                (put.table_name(), self.key_of(put.table_name(), put.item()), item_size(put.item()))
            } else if let Some(update) = item.update() {
                (update.table_name(), update.key().clone(), item_size(update.key()) + capacity::assigned_size(update))
            } else if let Some(check) = item.condition_check() {
                (check.table_name(), check.key().clone(), 0)
            } else if let Some(delete) = item.delete() {
                (delete.table_name(), delete.key().clone(), 0)
            } else {
                continue;
            };
            let before = tally.known(table, &key).unwrap_or(0);
            tally.bill_write(write_units(after.max(before), true));
            if after > before {
                tally.remember(table, &key, after);
            }
        }
    }
}
