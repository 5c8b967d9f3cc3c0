//! The single writer thread and its group commit.
//!
//! redb allows one write transaction at a time, and each durable commit costs an fsync. Instead
//! of making every request wait its turn for its own fsync, requests queue their operation here;
//! the writer takes everything that is queued, applies it in one transaction, commits once and
//! only then answers each request. Under load, one fsync acknowledges hundreds of writes, and an
//! answer is still only given once the write is on disk.
//!
//! Operations see the effects of those applied before them in the same batch, so the batch is
//! equivalent to running them one after another. An operation that is *rejected* by a rule must
//! not have written anything (every operation checks first and writes last); an operation that
//! *fails* (storage error, panic) may have written partially, so the whole batch is discarded and
//! every request in it is told the store is unavailable.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use redb::Database;
use tokio::sync::{mpsc, oneshot};

use super::directory::Directory;
use super::heads::FeedHeads;
use super::tables::WriteTables;
use crate::store::{StoreError, StoreResult};

/// How many operations one transaction takes at most, so a burst cannot grow one commit (and the
/// latency of everyone in it) without bound.
const MAX_BATCH: usize = 512;
/// Queue depth before senders wait: back-pressure instead of unbounded memory.
const QUEUE_DEPTH: usize = 8192;

type Deliver = Box<dyn FnOnce(Option<&StoreError>) + Send>;
type Job = Box<dyn for<'txn> FnOnce(&mut WriteTables<'txn>) -> Applied + Send>;

struct Applied {
    /// The operation failed midway; the transaction must not be committed.
    poisoned: bool,
    /// Sends the operation's outcome, or the batch's failure, to the waiting request.
    deliver: Deliver,
}

/// Handle to the writer thread. Dropping it lets the thread finish what is queued, then waits
/// for it, so the database file is closed (and can be reopened) once the store is dropped.
pub struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Writer {
    pub fn start(db: Arc<Database>, directory: Arc<Directory>, heads: FeedHeads) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel(QUEUE_DEPTH);
        let thread =
            std::thread::Builder::new().name("store-writer".into()).spawn(move || run(db, directory, heads, queue))?;
        Ok(Self { jobs: Some(jobs), thread: Some(thread) })
    }

    /// Runs `op` inside a write transaction and returns its result once that transaction is
    /// durably committed.
    pub async fn write<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'txn> FnOnce(&mut WriteTables<'txn>) -> StoreResult<T> + Send + 'static,
    {
        self.write_then(op, |_| {}).await
    }

    /// As [`Writer::write`], and once the transaction is committed, runs `committed` with the
    /// result on the writer thread — in commit order across every write.
    pub async fn write_then<T, F, C>(&self, op: F, committed: C) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'txn> FnOnce(&mut WriteTables<'txn>) -> StoreResult<T> + Send + 'static,
        C: FnOnce(&T) + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |tables| {
            let outcome = catch_unwind(AssertUnwindSafe(|| op(tables)))
                .unwrap_or_else(|_| Err(StoreError::unavailable("a write operation panicked")));
            Applied {
                poisoned: matches!(outcome, Err(StoreError::Unavailable(_))),
                deliver: Box::new(move |batch_failure| {
                    let _ = reply.send(match batch_failure {
                        Some(failure) => Err(failure.clone()),
                        None => {
                            if let Ok(result) = &outcome {
                                committed(result);
                            }
                            outcome
                        }
                    });
                }),
            }
        });
        let jobs = self.jobs.as_ref().expect("only taken on drop");
        jobs.send(job).await.map_err(|_| StoreError::unavailable("the store writer has stopped"))?;
        // A dropped reply means the writer discarded the job without running it.
        answer.await.map_err(|_| StoreError::unavailable("the write was discarded"))?
    }
}

fn run(db: Arc<Database>, directory: Arc<Directory>, mut heads: FeedHeads, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.blocking_recv() {
        let mut batch = Vec::with_capacity(64);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&db, &directory, &mut heads, batch);
    }
}

fn commit_batch(db: &Database, directory: &Arc<Directory>, heads: &mut FeedHeads, batch: Vec<Job>) {
    let txn = match db.begin_write() {
        Ok(txn) => txn,
        Err(error) => {
            tracing::error!(%error, "cannot begin a write transaction");
            return; // dropping the jobs answers their requests with "discarded"
        }
    };
    let mut applied = Vec::with_capacity(batch.len());
    let mut poisoned = false;
    match WriteTables::open(&txn, directory, heads) {
        Ok(mut tables) => {
            for job in batch {
                let outcome = job(&mut tables);
                poisoned = outcome.poisoned;
                applied.push(outcome.deliver);
                if poisoned {
                    break; // the rest of the batch is dropped unrun: its requests are told so
                }
            }
        }
        Err(error) => {
            tracing::error!(%error, "cannot open the tables");
            return;
        }
    }
    let failure = if poisoned {
        // They may have been told of conversations that now never began, of entries never written.
        directory.forget_all();
        heads.forget_all();
        drop(txn); // aborts
        Some(StoreError::unavailable("a write in the same batch failed; nothing was written"))
    } else {
        txn.commit().err().map(|error| {
            tracing::error!(%error, "commit failed");
            directory.forget_all();
            heads.forget_all();
            StoreError::unavailable(format!("commit failed: {error}"))
        })
    };
    for deliver in applied {
        deliver(failure.as_ref());
    }
}
