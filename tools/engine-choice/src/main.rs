//! Compares redb and SQLite (bundled, WAL, synchronous=FULL) on the runtime's own write and read
//! shapes: a "send" inserts one message body and two feed entries and must be durable when
//! acknowledged; a "poll" reads the next 20 feed entries of one user and their bodies.
//! Run: `cargo run --release --manifest-path tools/engine-choice/Cargo.toml`

use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase, TableDefinition};
use rusqlite::{Connection, params};

const MESSAGES: TableDefinition<u64, &[u8]> = TableDefinition::new("messages");
const FEED: TableDefinition<(&str, u64), u64> = TableDefinition::new("feed");

const BODY: [u8; 300] = [b'x'; 300];
const USERS: u64 = 10_000;
const PRELOAD: u64 = 200_000;
const POLLS: u64 = 20_000;

fn user(i: u64) -> String {
    format!("u_{:026}", i % USERS)
}

trait Engine {
    fn name(&self) -> &'static str;
    /// Applies `batch` sends in one durable commit.
    fn send_batch(&mut self, first: u64, batch: u64);
    fn poll(&mut self, user: &str, after: u64) -> usize;
}

struct Redb {
    db: Database,
    seq: std::collections::HashMap<String, u64>,
}

impl Engine for Redb {
    fn name(&self) -> &'static str {
        "redb 4"
    }
    fn send_batch(&mut self, first: u64, batch: u64) {
        let tx = self.db.begin_write().unwrap();
        {
            let mut messages = tx.open_table(MESSAGES).unwrap();
            let mut feed = tx.open_table(FEED).unwrap();
            for id in first..first + batch {
                messages.insert(id, BODY.as_slice()).unwrap();
                for u in [user(id), user(id * 7 + 1)] {
                    let seq = self.seq.entry(u.clone()).or_default();
                    *seq += 1;
                    feed.insert((u.as_str(), *seq), id).unwrap();
                }
            }
        }
        tx.commit().unwrap();
    }
    fn poll(&mut self, user: &str, after: u64) -> usize {
        let tx = self.db.begin_read().unwrap();
        let feed = tx.open_table(FEED).unwrap();
        let messages = tx.open_table(MESSAGES).unwrap();
        let mut bytes = 0;
        for entry in feed.range((user, after + 1)..=(user, u64::MAX)).unwrap().take(20) {
            let (_, id) = entry.unwrap();
            bytes += messages.get(id.value()).unwrap().unwrap().value().len();
        }
        bytes
    }
}

struct Sqlite {
    conn: Connection,
    seq: std::collections::HashMap<String, u64>,
}

impl Engine for Sqlite {
    fn name(&self) -> &'static str {
        "SQLite (WAL, synchronous=FULL)"
    }
    fn send_batch(&mut self, first: u64, batch: u64) {
        let tx = self.conn.transaction().unwrap();
        {
            let mut put_message = tx.prepare_cached("INSERT INTO messages VALUES (?1, ?2)").unwrap();
            let mut put_feed = tx.prepare_cached("INSERT INTO feed VALUES (?1, ?2, ?3)").unwrap();
            for id in first..first + batch {
                put_message.execute(params![id as i64, BODY.as_slice()]).unwrap();
                for u in [user(id), user(id * 7 + 1)] {
                    let seq = self.seq.entry(u.clone()).or_default();
                    *seq += 1;
                    put_feed.execute(params![u, *seq as i64, id as i64]).unwrap();
                }
            }
        }
        tx.commit().unwrap();
    }
    fn poll(&mut self, user: &str, after: u64) -> usize {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT length(m.body) FROM feed f JOIN messages m ON m.id = f.msg \
                 WHERE f.user = ?1 AND f.seq > ?2 ORDER BY f.seq LIMIT 20",
            )
            .unwrap();
        let rows = stmt.query_map(params![user, after as i64], |r| r.get::<_, i64>(0)).unwrap();
        rows.map(|r| r.unwrap() as usize).sum()
    }
}

fn measure(engine: &mut dyn Engine) {
    let mut next = 0;
    for (label, batch, count) in [("1 send per commit", 1, 500), ("64 sends per commit", 64, 64 * 100)] {
        let start = Instant::now();
        while next < count + if batch == 1 { 0 } else { 500 } {
            engine.send_batch(next, batch);
            next += batch;
        }
        let rate = count as f64 / start.elapsed().as_secs_f64();
        println!("{:32} {label:20} {rate:>10.0} sends/s", engine.name());
    }
    let start = Instant::now();
    while next < PRELOAD {
        engine.send_batch(next, 1000);
        next += 1000;
    }
    let load = start.elapsed();
    let start = Instant::now();
    let mut bytes = 0;
    for i in 0..POLLS {
        bytes += engine.poll(&user(i * 13), (i % 20) * 3);
    }
    let polls = POLLS as f64 / start.elapsed().as_secs_f64();
    println!(
        "{:32} {:20} {polls:>10.0} polls/s  (preload {PRELOAD} sends in {:?}, {bytes} bytes read)",
        engine.name(),
        "poll 20 entries",
        round(load)
    );
}

fn round(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

fn main() {
    let dir = tempfile::tempdir_in(".").unwrap();
    let mut redb = Redb { db: Database::create(dir.path().join("bench.redb")).unwrap(), seq: Default::default() };
    measure(&mut redb);

    let conn = Connection::open(dir.path().join("bench.sqlite")).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
         CREATE TABLE messages (id INTEGER PRIMARY KEY, body BLOB NOT NULL);
         CREATE TABLE feed (user TEXT NOT NULL, seq INTEGER NOT NULL, msg INTEGER NOT NULL,
                            PRIMARY KEY (user, seq)) WITHOUT ROWID;",
    )
    .unwrap();
    let mut sqlite = Sqlite { conn, seq: Default::default() };
    measure(&mut sqlite);
}
