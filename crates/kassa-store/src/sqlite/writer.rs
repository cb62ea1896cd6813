//! The single SQLite writer, with group commit.
//!
//! SQLite allows one writer at a time, and with `synchronous=FULL` every commit waits for an
//! fsync of the WAL. One order per transaction would cap throughput at the disk's fsync rate.
//! So all writes go through one thread that takes every job queued while the previous commit was
//! syncing, runs each in its own `SAVEPOINT` inside one `BEGIN IMMEDIATE` transaction, commits
//! once, and only then answers each caller. A job that fails rolls back to its savepoint and
//! leaves the others alone; a commit that fails fails every job of the batch, and none of them
//! is acknowledged. Under light load a batch holds one job and nothing waits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::{StoreError, StoreResult};

/// A unit of work for the writer: run it inside the batch, then report after the commit.
trait Job: Send {
    /// Runs the job against the open transaction; `true` if it succeeded.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Delivers the job's result, or `failure` if the batch did not commit.
    fn finish(self: Box<Self>, failure: Option<StoreError>);
}

struct TypedJob<F, T> {
    work: Option<F>,
    result: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<F, T> Job for TypedJob<F, T>
where
    F: FnOnce(&Connection) -> StoreResult<T> + Send,
    T: Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let work = self.work.take().expect("a job runs once");
        let result = work(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, failure: Option<StoreError>) {
        let result = match (self.result, failure) {
            // A refused job changed nothing, so its own answer stands whatever the batch did.
            (Some(Err(refused)), _) => Err(refused),
            (Some(Ok(value)), None) => Ok(value),
            (_, Some(failure)) => Err(failure),
            (None, None) => Err(StoreError::Internal("write job finished without running".into())),
        };
        // The caller may have gone away (client disconnected); the work is committed regardless.
        let _ = self.reply.send(result);
    }
}

/// Counters the benchmark and the logs read.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub batches: AtomicU64,
    pub jobs: AtomicU64,
}

/// The handle the store keeps; cloning shares the one writer thread.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
    pub stats: Arc<WriterStats>,
}

impl Writer {
    /// Starts the writer thread on `conn`. `max_batch` bounds how many jobs share one commit;
    /// `queue_len` bounds how many may wait (callers beyond it wait for room). `checkpointer`,
    /// a second connection to the same file, copies the WAL back into the database on its own
    /// thread, so the writer never stops to do it.
    pub fn start(conn: Connection, checkpointer: Connection, max_batch: usize, queue_len: usize) -> Self {
        let (queue, jobs) = mpsc::channel(queue_len);
        let stats = Arc::new(WriterStats::default());
        let thread_stats = stats.clone();
        let (committed, commits) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("kassa-sqlite-ckpt".into())
            .spawn(move || checkpoints(checkpointer, commits))
            .expect("spawning the SQLite checkpoint thread");
        std::thread::Builder::new()
            .name("kassa-sqlite-writer".into())
            .spawn(move || run(conn, jobs, max_batch.max(1), &thread_stats, committed))
            .expect("spawning the SQLite writer thread");
        Self { queue, stats }
    }

    /// Runs `work` inside a write transaction and returns its result once it is durable.
    pub async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(TypedJob { work: Some(work), result: None, reply });
        self.queue.send(job).await.map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Unavailable("the SQLite writer stopped before answering".into()))?
    }
}

fn run(
    conn: Connection,
    mut jobs: mpsc::Receiver<Box<dyn Job>>,
    max_batch: usize,
    stats: &WriterStats,
    committed: std::sync::mpsc::SyncSender<()>,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(max_batch);
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.jobs.fetch_add(batch.len() as u64, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let failure = run_batch(&conn, &mut batch).err();
        tracing::debug!(jobs = batch.len(), micros = started.elapsed().as_micros() as u64, "sqlite batch");
        if let Some(failure) = &failure {
            tracing::warn!(error = %failure, jobs = batch.len(), "SQLite batch did not commit");
        }
        for job in batch.drain(..) {
            job.finish(failure.clone());
        }
        // Tell the checkpointer there is new WAL; one pending note is enough.
        let _ = committed.try_send(());
    }
}

/// How often, at most, the WAL is checkpointed while commits keep coming.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Copies committed WAL frames into the database file (`PASSIVE`: never waits for, nor blocks,
/// the writer or the readers), at most every [`CHECKPOINT_EVERY`] while there are commits.
/// Ends with a last checkpoint when the writer has stopped.
fn checkpoints(conn: Connection, commits: std::sync::mpsc::Receiver<()>) {
    use std::sync::mpsc::RecvTimeoutError;
    let checkpoint = |conn: &Connection| {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "SQLite checkpoint failed; it is retried after the next commit");
        }
    };
    let mut pending = false;
    loop {
        match commits.recv_timeout(CHECKPOINT_EVERY) {
            Ok(()) => pending = true,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if pending {
            checkpoint(&conn);
            pending = false;
            std::thread::sleep(CHECKPOINT_EVERY);
        }
    }
    checkpoint(&conn);
}

/// Runs every job of the batch in its own savepoint and commits once.
fn run_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> StoreResult<()> {
    conn.execute_batch("BEGIN IMMEDIATE").map_err(super::map_err)?;
    let outcome = (|| {
        // Prepared once and kept: these run twice per job.
        let statement = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map_err(super::map_err);
        for job in batch.iter_mut() {
            statement("SAVEPOINT job")?;
            if job.run(conn) {
                statement("RELEASE job")?;
            } else {
                statement("ROLLBACK TO job")?;
                statement("RELEASE job")?;
            }
            // SQLite rolls the whole transaction back on some errors (disk full, I/O). Then the
            // earlier jobs' work is gone too, and none of them may be acknowledged.
            if conn.is_autocommit() {
                return Err(StoreError::Unavailable("SQLite aborted the transaction".into()));
            }
        }
        let commit = std::time::Instant::now();
        let result = conn.execute_batch("COMMIT").map_err(super::map_err);
        tracing::debug!(micros = commit.elapsed().as_micros() as u64, "sqlite commit");
        result
    })();
    if outcome.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    outcome
}
