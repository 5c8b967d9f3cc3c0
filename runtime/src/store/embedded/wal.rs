//! The write-ahead log in front of redb: what makes a batch durable without a durable redb commit.
//!
//! A durable redb commit writes every B-tree page the batch dirtied, scattered over the file, and
//! syncs it: under a send load that is most of the writer's time (each direct send dirties leaves
//! of two users' feeds at random places). Instead, the writer appends the batch's writes, as
//! bytes, to this file and syncs only that (one sequential write), then commits to redb without
//! syncing; every so often one durable redb commit writes the pages of many batches at once (a
//! page dirtied by several of them once) and the log starts over.
//!
//! Order is what keeps the guarantees: a batch's record is on disk *before* its redb commit makes
//! it visible to readers and before any request is answered, so nothing a client saw or was
//! told can be lost. After a crash, redb opens at its last durable commit, which records the
//! sequence number of the newest batch it holds ([`super::tables::META`]); the records after it
//! are applied again, in order ([`super::logged::replay_after`]).
//!
//! A record: its length (u32), a CRC-32 of the rest (u32), its sequence number (u64), its writes.
//! A torn or partial record can only be the last (appends are synced one at a time, and a record
//! that failed to be written is cut off again before the next): reading stops there, and the
//! file is cut back to what was read.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A record as read back: its sequence number and its writes ([`super::logged::Ops`] encoding).
#[derive(Debug, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub ops: Vec<u8>,
}

const HEADER: usize = 4 + 4;

pub struct Wal {
    file: File,
    /// Bytes of whole records in the file: where the next one goes.
    len: u64,
}

/// The log's path beside the database file's: `<file>.wal`.
pub fn path_for(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".wal");
    PathBuf::from(name)
}

impl Wal {
    /// Opens (or creates) the log and returns the records it holds, oldest first.
    pub fn open(path: &Path) -> std::io::Result<(Self, Vec<Record>)> {
        let existed = path.exists();
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        if !existed {
            // The file's entry in its directory must survive a power cut too.
            if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                File::open(dir)?.sync_all()?;
            }
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let (records, len) = parse(&bytes);
        if len < bytes.len() as u64 {
            tracing::warn!(
                kept = len,
                dropped = bytes.len() as u64 - len,
                "the write-ahead log ended in a torn record"
            );
            file.set_len(len)?;
            file.sync_data()?;
        }
        Ok((Self { file, len }, records))
    }

    /// Appends a record and syncs it: once this returns, the batch survives a crash.
    pub fn append(&mut self, seq: u64, ops: &[u8]) -> std::io::Result<()> {
        let record = encode(seq, ops);
        let written = self.write_at_end(&record).and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => {
                self.len += record.len() as u64;
                Ok(())
            }
            Err(error) => {
                // Whatever part of it reached the file must not be read back as a record.
                self.cut_to(self.len)?;
                Err(error)
            }
        }
    }

    /// Takes back the newest record, whose writes were `ops_len` bytes: its batch was not
    /// committed after all, and the batches after it must not be replayed on top of it.
    pub fn take_back(&mut self, ops_len: usize) -> std::io::Result<()> {
        let record_len = (HEADER + 8 + ops_len) as u64;
        self.cut_to(self.len.saturating_sub(record_len))
    }

    /// Empties the log: everything in it is in a durable redb commit.
    pub fn clear(&mut self) -> std::io::Result<()> {
        self.cut_to(0)
    }

    /// Bytes of records held.
    pub fn len(&self) -> u64 {
        self.len
    }

    fn write_at_end(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.file.write_all_at(bytes, self.len)
    }

    fn cut_to(&mut self, len: u64) -> std::io::Result<()> {
        self.file.set_len(len)?;
        self.file.sync_data()?;
        self.len = len;
        Ok(())
    }
}

fn encode(seq: u64, ops: &[u8]) -> Vec<u8> {
    let body_len = 8 + ops.len();
    let mut record = Vec::with_capacity(HEADER + body_len);
    record.extend_from_slice(&(body_len as u32).to_le_bytes());
    record.extend_from_slice(&[0; 4]);
    record.extend_from_slice(&seq.to_le_bytes());
    record.extend_from_slice(ops);
    let crc = crc32fast::hash(&record[HEADER..]);
    record[4..8].copy_from_slice(&crc.to_le_bytes());
    record
}

/// The whole records at the start of `bytes`, and how many bytes they take.
fn parse(bytes: &[u8]) -> (Vec<Record>, u64) {
    let mut records = Vec::new();
    let mut at = 0;
    while let Some(header) = bytes.get(at..at + HEADER) {
        let body_len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
        let Some(body) = bytes.get(at + HEADER..at + HEADER + body_len) else { break };
        if body_len < 8 || crc32fast::hash(body) != crc {
            break;
        }
        let seq = u64::from_le_bytes(body[..8].try_into().expect("8 bytes"));
        records.push(Record { seq, ops: body[8..].to_vec() });
        at += HEADER + body_len;
    }
    (records, at as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_in_order_and_a_torn_tail_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(&dir.path().join("db.redb"));
        {
            let (mut wal, records) = Wal::open(&path).unwrap();
            assert!(records.is_empty());
            wal.append(7, b"first").unwrap();
            wal.append(8, b"").unwrap();
            wal.append(9, b"third").unwrap();
        }
        let whole = std::fs::read(&path).unwrap();
        // Every cut inside the last record leaves the first two; a flipped byte in it too.
        let second_ends = whole.len() - (HEADER + 8 + 5);
        for cut in second_ends..whole.len() {
            std::fs::write(&path, &whole[..cut]).unwrap();
            let (wal, records) = Wal::open(&path).unwrap();
            assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [7, 8], "cut at {cut}");
            assert_eq!(wal.len(), second_ends as u64);
            assert_eq!(std::fs::metadata(&path).unwrap().len(), second_ends as u64, "the torn tail is gone");
        }
        let mut flipped = whole.clone();
        *flipped.last_mut().unwrap() ^= 1;
        std::fs::write(&path, &flipped).unwrap();
        assert_eq!(Wal::open(&path).unwrap().1.len(), 2);
        std::fs::write(&path, &whole).unwrap();
        let (mut wal, records) = Wal::open(&path).unwrap();
        assert_eq!(records[0], Record { seq: 7, ops: b"first".to_vec() });
        assert_eq!(records[2], Record { seq: 9, ops: b"third".to_vec() });
        wal.take_back(b"third".len()).unwrap();
        wal.append(10, b"again").unwrap();
        let (mut wal, records) = Wal::open(&path).unwrap();
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [7, 8, 10]);
        wal.clear().unwrap();
        assert!(Wal::open(&path).unwrap().1.is_empty());
    }
}
