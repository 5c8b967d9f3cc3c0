//! Tables whose writes are also recorded, as bytes, for the write-ahead log ([`super::wal`]).
//!
//! Every table the writer writes is wrapped: reads go to the redb table (`Deref`), and the only
//! ways to write are the wrapper's own `insert`, `remove` and `retain_in`, which record what they
//! did. There is no `DerefMut`, so a write that would escape the log does not compile.
//!
//! Inserts and removals are recorded as their encoded keys and values (redb's own encoding, so
//! replaying one is decoding it and doing it again). A range removal (erasing a user) is not
//! recorded: it marks its batch as one to commit durably to redb, which needs no log.

use std::borrow::Borrow;
use std::cell::RefCell;
use std::ops::{Deref, RangeBounds};

use redb::{Key, StorageError, Table, Value};

use super::tables::{WriteTables, corrupt};
use super::wal::Record;
use crate::store::StoreError;

/// The writes of one batch, in order.
#[derive(Default)]
pub struct Ops {
    bytes: Vec<u8>,
    durable: bool,
}

impl Ops {
    /// The encoded writes, for the log.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether a write was made that the log does not record: the batch must be committed durably.
    pub fn needs_durable_commit(&self) -> bool {
        self.durable
    }

    fn record(&mut self, kind: Kind, table: TableId, key: &[u8], value: Option<&[u8]>) {
        self.bytes.push(kind as u8);
        self.bytes.push(table as u8);
        put_bytes(&mut self.bytes, key);
        if let Some(value) = value {
            put_bytes(&mut self.bytes, value);
        }
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

#[derive(Clone, Copy)]
#[repr(u8)]
enum Kind {
    Insert = 1,
    Remove = 2,
}

/// Which table a recorded write is in. The numbers are in log files: never reuse one.
#[derive(Clone, Copy, Debug)]
#[repr(u8)]
pub enum TableId {
    Users = 1,
    Blocks = 2,
    Groups = 3,
    Messages = 4,
    Feed = 5,
    SentByClientId = 6,
    AppUsers = 7,
    Sessions = 8,
    GroupSides = 9,
    Log = 10,
    DirectHeads = 11,
}

impl TableId {
    const ALL: [TableId; 11] = [
        Self::Users,
        Self::Blocks,
        Self::Groups,
        Self::Messages,
        Self::Feed,
        Self::SentByClientId,
        Self::AppUsers,
        Self::Sessions,
        Self::GroupSides,
        Self::Log,
        Self::DirectHeads,
    ];
}

pub struct Logged<'txn, K: Key + 'static, V: Value + 'static> {
    table: Table<'txn, K, V>,
    id: TableId,
    ops: &'txn RefCell<Ops>,
}

impl<'txn, K: Key + 'static, V: Value + 'static> Deref for Logged<'txn, K, V> {
    type Target = Table<'txn, K, V>;

    fn deref(&self) -> &Self::Target {
        &self.table
    }
}

impl<'txn, K: Key + 'static, V: Value + 'static> Logged<'txn, K, V> {
    pub fn new(table: Table<'txn, K, V>, id: TableId, ops: &'txn RefCell<Ops>) -> Self {
        Self { table, id, ops }
    }

    pub fn insert<'k, 'v>(
        &mut self,
        key: impl Borrow<K::SelfType<'k>>,
        value: impl Borrow<V::SelfType<'v>>,
    ) -> Result<(), StorageError> {
        self.table.insert(key.borrow(), value.borrow())?;
        let (key, value) = (K::as_bytes(key.borrow()), V::as_bytes(value.borrow()));
        self.ops.borrow_mut().record(Kind::Insert, self.id, key.as_ref(), Some(value.as_ref()));
        Ok(())
    }

    pub fn remove<'k>(&mut self, key: impl Borrow<K::SelfType<'k>>) -> Result<(), StorageError> {
        self.table.remove(key.borrow())?;
        let key = K::as_bytes(key.borrow());
        self.ops.borrow_mut().record(Kind::Remove, self.id, key.as_ref(), None);
        Ok(())
    }

    /// Removes the range's entries for which `keep` is false; the batch then commits durably.
    pub fn retain_in<'a, KR, F>(&mut self, range: impl RangeBounds<KR> + 'a, keep: F) -> Result<(), StorageError>
    where
        KR: Borrow<K::SelfType<'a>> + 'a,
        F: for<'f> FnMut(K::SelfType<'f>, V::SelfType<'f>) -> bool,
    {
        self.ops.borrow_mut().durable = true;
        self.table.retain_in(range, keep)
    }

    /// Does a recorded write again: an insert of `value`, or a removal when there is none.
    fn apply(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), StoreError> {
        let key = K::from_bytes(key);
        let done = match value {
            Some(value) => self.table.insert(key, V::from_bytes(value)).map(drop),
            None => self.table.remove(key).map(drop),
        };
        done.map_err(super::tables::storage)
    }
}

/// Applies the records after `applied` (the newest the database holds), in order; the sequence
/// number of the newest the database now holds.
pub fn replay_after(tables: &mut WriteTables<'_>, records: &[Record], applied: u64) -> Result<u64, StoreError> {
    let mut seq = applied;
    for record in records.iter().filter(|record| record.seq > applied) {
        replay(tables, &record.ops)?;
        seq = record.seq;
    }
    if seq > applied {
        tracing::info!(batches = seq - applied, "write-ahead log replayed");
    }
    Ok(seq)
}

/// Applies a record's writes (`Ops::bytes`) to the tables, in order.
fn replay(tables: &mut WriteTables<'_>, mut ops: &[u8]) -> Result<(), StoreError> {
    let bad = || corrupt("write-ahead log", "a write cut short");
    while let [kind, table, rest @ ..] = ops {
        let kind = [Kind::Insert, Kind::Remove]
            .into_iter()
            .find(|known| *known as u8 == *kind)
            .ok_or_else(|| corrupt("write-ahead log", format!("unknown write {kind}")))?;
        let (key, rest) = take_bytes(rest).ok_or_else(bad)?;
        let (value, rest) = match kind {
            Kind::Insert => take_bytes(rest).map(|(value, rest)| (Some(value), rest)).ok_or_else(bad)?,
            Kind::Remove => (None, rest),
        };
        let table = TableId::ALL
            .into_iter()
            .find(|id| *id as u8 == *table)
            .ok_or_else(|| corrupt("write-ahead log", format!("unknown table {table}")))?;
        match table {
            TableId::Users => tables.users.apply(key, value)?,
            TableId::Blocks => tables.blocks.apply(key, value)?,
            TableId::Groups => tables.groups.apply(key, value)?,
            TableId::Messages => tables.messages.apply(key, value)?,
            TableId::Feed => tables.feed.apply(key, value)?,
            TableId::SentByClientId => tables.sent_by_client_id.apply(key, value)?,
            TableId::AppUsers => tables.app_users.apply(key, value)?,
            TableId::Sessions => tables.sessions.apply(key, value)?,
            TableId::GroupSides => tables.group_sides.apply(key, value)?,
            TableId::Log => tables.log.apply(key, value)?,
            TableId::DirectHeads => tables.direct_heads.apply(key, value)?,
        }
        ops = rest;
    }
    Ok(())
}

fn take_bytes(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let len = u32::from_le_bytes(*len) as usize;
    (rest.len() >= len).then(|| rest.split_at(len))
}
