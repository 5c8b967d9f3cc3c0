//! Data directories of earlier layouts, brought up to date when one is opened, in the
//! transaction that replays the write-ahead log: each step finds nothing to do once done.

use redb::ReadableTable;

use super::conversations::LogTable;
use super::direct_heads::DirectHead;
use super::directory::direct_log_key;
use super::logged::Logged;
use super::tables::{DirectHeadValue, WriteTables, storage};
use crate::store::StoreResult;

/// Under this key [`META`](super::tables::META) records that the read positions of the layout before heads (at number
/// `u64::MAX` of each direct log) have been moved into heads.
pub const BUILT: &str = "direct_heads_built";
/// Where the layout before heads kept a direct conversation's read positions in its log.
const LEGACY_READS: u64 = u64::MAX;

/// Brings the tables up to date: direct logs under their first message's key, then heads.
pub fn upgrade(meta: &mut redb::Table<'_, &'static str, u64>, tables: &mut WriteTables<'_>) -> StoreResult<()> {
    let rekeyed = rekey_direct_logs(&mut tables.log)?;
    if rekeyed > 0 {
        tracing::info!(rekeyed, "direct conversations' logs moved to their first message's key");
    }
    let built = build_direct_heads(meta, &mut tables.log, &mut tables.direct_heads)?;
    if built > 0 {
        tracing::info!(built, "direct conversations' heads built from their logs");
    }
    Ok(())
}

/// Moves the direct conversations' logs of an earlier layout — under their two users' ids,
/// `<low>#<high>` — to their first message's key, read positions with them. Their number 1 is
/// their first message. Run when a data directory opens; finds nothing once done.
fn rekey_direct_logs(log: &mut Logged<'_, (&'static str, u64), (u64, u64)>) -> StoreResult<usize> {
    // Every user id begins `u_`, and no group's log key or new key does.
    let legacy = ("u_", 0)..("u`", 0);
    let mut entries: Vec<(String, u64, (u64, u64))> = Vec::new();
    for entry in log.range(legacy.clone()).map_err(storage)? {
        let (key, value) = entry.map_err(storage)?;
        let (pair, n) = key.value();
        entries.push((pair.to_owned(), n, value.value()));
    }
    log.retain_in(legacy, |_, _| false).map_err(storage)?;
    let mut moved = 0;
    // Entries come grouped by pair, numbers ascending: the first of each group is its oldest.
    for group in entries.chunk_by(|a, b| a.0 == b.0) {
        let first = group.iter().find(|(_, n, _)| *n == 1).unwrap_or(&group[0]).2.0;
        let shared = direct_log_key(first);
        for (_, n, value) in group {
            log.insert((shared.as_str(), *n), *value).map_err(storage)?;
        }
        moved += 1;
    }
    Ok(moved)
}

/// Builds the heads of a data directory written before them, from each direct log's newest entry
/// and the read positions beside it (removed from the log). Run when a data directory opens;
/// reads nothing once done.
fn build_direct_heads(
    meta: &mut redb::Table<'_, &'static str, u64>,
    log: &mut Logged<'_, LogTable, (u64, u64)>,
    heads: &mut Logged<'_, u64, DirectHeadValue>,
) -> StoreResult<usize> {
    if meta.get(BUILT).map_err(storage)?.is_some() {
        return Ok(0);
    }
    // Direct logs are under `d` and 16 hex digits; groups' begin `g_`, read positions' keys too.
    let direct = ("d", 0)..("e", 0);
    let mut built: Vec<(u64, DirectHead)> = Vec::new();
    let mut current: Option<(String, DirectHead)> = None;
    for entry in log.range(direct.clone()).map_err(storage)? {
        let (key, value) = entry.map_err(storage)?;
        let (shared, n) = key.value();
        if current.as_ref().is_none_or(|(key, _)| key != shared) {
            built.extend(current.take().and_then(|(key, head)| Some((first_of(&key)?, head))));
            current = Some((shared.to_owned(), DirectHead::default()));
        }
        let head = &mut current.as_mut().expect("set above").1;
        match n {
            LEGACY_READS => head.reads = value.value(),
            // Numbers ascend within a log: the last one seen is the newest.
            n => head.newest = Some((n, value.value().0, value.value().1)),
        }
    }
    built.extend(current.and_then(|(key, head)| Some((first_of(&key)?, head))));
    log.retain_in(direct, |(_, n), _| n != LEGACY_READS).map_err(storage)?;
    for (first, head) in &built {
        heads.insert(*first, head.value()).map_err(storage)?;
    }
    meta.insert(BUILT, 1).map_err(storage)?;
    Ok(built.len())
}

/// The first message key a direct log's key names (`d` and 16 hex digits).
fn first_of(key: &str) -> Option<u64> {
    key.strip_prefix('d').filter(|hex| hex.len() == 16).and_then(|hex| u64::from_str_radix(hex, 16).ok())
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use redb::{Database, ReadableTableMetadata};

    use super::*;
    use crate::store::embedded::direct_heads::direct_head;
    use crate::store::embedded::logged::{Ops, TableId};
    use crate::store::embedded::tables::{CONVERSATION_LOG, DIRECT_HEADS, DirectLogKey, META};

    #[test]
    fn heads_are_built_once_from_the_logs_of_the_layout_before() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let db = Database::create(file.path()).unwrap();
        let (a, b) = (DirectLogKey::new(5), DirectLogKey::new(0x1_0000));
        let txn = db.begin_write().unwrap();
        {
            let mut log = txn.open_table(CONVERSATION_LOG).unwrap();
            for n in 1..=3 {
                log.insert((a.as_str(), n), (5 + n, 1_000 + n)).unwrap();
            }
            log.insert((a.as_str(), LEGACY_READS), (3, 2)).unwrap();
            log.insert((b.as_str(), 1), (0x1_0000, 9)).unwrap();
            log.insert((b.as_str(), LEGACY_READS), (0, 1)).unwrap();
            // A group's log and a member's read position, which stay as they are.
            log.insert(("g_1", 1), (40, 1)).unwrap();
            log.insert(("g_1\u{1}u_1", 0), (1, 0)).unwrap();
        }
        let ops = RefCell::new(Ops::default());
        let mut meta = txn.open_table(META).unwrap();
        let mut log = Logged::new(txn.open_table(CONVERSATION_LOG).unwrap(), TableId::Log, &ops);
        let mut heads = Logged::new(txn.open_table(DIRECT_HEADS).unwrap(), TableId::DirectHeads, &ops);
        assert_eq!(build_direct_heads(&mut meta, &mut log, &mut heads).unwrap(), 2);
        assert_eq!(direct_head(&*heads, 5).unwrap(), DirectHead { newest: Some((3, 8, 1_003)), reads: (3, 2) });
        assert_eq!(
            direct_head(&*heads, 0x1_0000).unwrap(),
            DirectHead { newest: Some((1, 0x1_0000, 9)), reads: (0, 1) }
        );
        assert_eq!(direct_head(&*heads, 6).unwrap(), DirectHead::default(), "no conversation began there");
        assert_eq!(log.len().unwrap(), 3 + 1 + 2, "the read positions left the direct logs, nothing else did");
        assert!(log.get((a.as_str(), LEGACY_READS)).unwrap().is_none());
        log.insert((a.as_str(), LEGACY_READS), (9, 9)).unwrap();
        assert_eq!(build_direct_heads(&mut meta, &mut log, &mut heads).unwrap(), 0, "done once");
    }
}
