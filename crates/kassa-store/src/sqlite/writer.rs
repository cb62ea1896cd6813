//! The single SQLite writer, with group commit.
//!
//! SQLite allows one writer at a time, and with `synchronous=FULL` every commit waits for an
//! fsync of the WAL. One order per transaction would cap throughput at the disk's fsync rate.
//! So all writes go through one thread that takes every job queued while the previous commit was
//! syncing, runs each in its own `SAVEPOINT` inside one `BEGIN IMMEDIATE` transaction, commits
//! once, and only then answers each caller. A job that fails rolls back to its savepoint and
//! leaves the others alone; a commit that fails fails every job of the batch, and none of them
//! is acknowledged. Under light load a batch holds one job and nothing waits.
//!
//! The WAL is copied back into the database by a checkpoint thread, so the writer never stops for
//! it. But a checkpoint that runs beside the writer never catches up with it, and SQLite only
//! starts the WAL over from its beginning when a write transaction begins with every frame
//! copied back: under steady load the WAL would grow without bound (gigabytes in a minute) and
//! every frame would land in a freshly allocated part of the file. So when the checkpoint thread
//! reports a long WAL, the writer, between two batches, finishes the copy itself
//! (`wal_checkpoint(RESTART)`: the last few milliseconds of frames and one fsync of the database,
//! a stall of 5-60 ms) and its next transaction writes from the start of the file again.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
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
    /// Whether nobody waits for the result any more (the request timed out and was answered
    /// 503, or its client went away): such a job is dropped before it runs, so that what the
    /// caller was told, "not done, retry", stays true.
    fn abandoned(&self) -> bool;
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
            // A batch that did not commit answers every job with its failure, refusals included:
            // a refusal may rest on an earlier job's write that is gone now (the money that job
            // spent, the key or reference it took), and a retry must not be told otherwise.
            (_, Some(failure)) => Err(failure),
            (Some(result), None) => result,
            (None, None) => Err(StoreError::Internal("write job finished without running".into())),
        };
        // The caller may have gone away (client disconnected); the work is committed regardless.
        let _ = self.reply.send(result);
    }

    fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }
}

/// Counters the benchmark and the logs read.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub batches: AtomicU64,
    pub jobs: AtomicU64,
    /// Times the writer started the WAL over.
    pub wal_restarts: AtomicU64,
    /// Frames in the WAL as of the checkpoint thread's last pass.
    pub wal_frames: AtomicI64,
}

/// WAL length, in frames, past which the writer starts the log over: with 1 KiB pages about
/// 135 MiB, about a second of the heaviest load. Each restart holds the writer for one copy of the
/// last frames and one fsync of the database (5-60 ms measured); a shorter WAL means more of
/// those stalls (16,384 frames cost 10 % of throughput and tripled p99 in `kassa bench`).
pub const WAL_RESTART_FRAMES: i64 = 131_072;

/// How long the writer waits, when starting the WAL over, for a reader still on an old snapshot
/// (a long scan): past it, it gives up and tries again after the next checkpoint pass rather than
/// hold up the orders queued behind it.
const WAL_RESTART_WAIT: std::time::Duration = std::time::Duration::from_millis(20);

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
    pub fn start(
        conn: Connection,
        checkpointer: Connection,
        max_batch: usize,
        queue_len: usize,
        restart_frames: i64,
        busy_timeout: std::time::Duration,
    ) -> Self {
        let (queue, jobs) = mpsc::channel(queue_len);
        let stats = Arc::new(WriterStats::default());
        let (thread_stats, ckpt_stats) = (stats.clone(), stats.clone());
        let restart_frames = restart_frames.max(1);
        let (committed, commits) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("kassa-sqlite-ckpt".into())
            .spawn(move || checkpoints(checkpointer, commits, &ckpt_stats, restart_frames))
            .expect("spawning the SQLite checkpoint thread");
        let wal = WalRestart { frames: restart_frames, busy_timeout };
        std::thread::Builder::new()
            .name("kassa-sqlite-writer".into())
            .spawn(move || run(conn, jobs, max_batch.max(1), &thread_stats, committed, &wal))
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

/// When and how the writer starts the WAL over.
struct WalRestart {
    /// WAL length (frames) that triggers it.
    frames: i64,
    /// The connection's usual busy timeout, restored afterwards.
    busy_timeout: std::time::Duration,
}

fn run(
    conn: Connection,
    mut jobs: mpsc::Receiver<Box<dyn Job>>,
    max_batch: usize,
    stats: &WriterStats,
    committed: std::sync::mpsc::SyncSender<()>,
    wal: &WalRestart,
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
        batch.retain(|job| !job.abandoned());
        if batch.is_empty() {
            continue;
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
        if stats.wal_frames.load(Ordering::Relaxed) >= wal.frames {
            restart_wal(&conn, stats, wal);
        }
    }
}

/// Copies what is left of the WAL into the database (the checkpoint thread has done the bulk),
/// so that the next write transaction begins the WAL again from its start. Failing here costs
/// nothing but a longer WAL: it is tried again after the checkpoint thread's next pass.
fn restart_wal(conn: &Connection, stats: &WriterStats, wal: &WalRestart) {
    let started = std::time::Instant::now();
    let outcome = conn.busy_timeout(WAL_RESTART_WAIT).and_then(|()| {
        conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
    });
    if let Err(e) = conn.busy_timeout(wal.busy_timeout) {
        tracing::warn!(error = %e, "restoring the SQLite writer's busy timeout failed");
    }
    // Whatever happened, wait for the checkpoint thread's next report before trying again.
    stats.wal_frames.store(0, Ordering::Relaxed);
    let micros = started.elapsed().as_micros() as u64;
    match outcome {
        Ok((0, frames)) => {
            stats.wal_restarts.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(frames, micros, "SQLite WAL copied back; it starts over");
        }
        Ok((_, frames)) => {
            tracing::debug!(frames, micros, "SQLite WAL restart deferred: a reader is on an old snapshot")
        }
        Err(e) => tracing::warn!(error = %e, "SQLite WAL checkpoint (RESTART) failed; retried later"),
    }
}

/// How often, at most, the WAL is checkpointed while commits keep coming.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Copies committed WAL frames into the database file (`PASSIVE`: never waits for, nor blocks,
/// the writer or the readers), at most every [`CHECKPOINT_EVERY`] while there are commits.
/// Ends with a last checkpoint when the writer has stopped.
fn checkpoints(conn: Connection, commits: std::sync::mpsc::Receiver<()>, stats: &WriterStats, restart_frames: i64) {
    use std::sync::mpsc::RecvTimeoutError;
    // The pragma answers (busy, frames in the WAL, frames copied back).
    let checkpoint =
        |conn: &Connection| match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1)) {
            Ok(frames) => Some(frames),
            Err(e) => {
                tracing::warn!(error = %e, "SQLite checkpoint failed; it is retried after the next commit");
                None
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
            if let Some(mut frames) = checkpoint(&conn) {
                if frames >= restart_frames {
                    // The writer is about to start the WAL over and must copy whatever this pass
                    // did not: a few quick passes more leave it only the last few milliseconds.
                    for _ in 0..CATCH_UP_PASSES {
                        frames = checkpoint(&conn).unwrap_or(frames);
                    }
                }
                stats.wal_frames.store(frames, Ordering::Relaxed);
            }
            pending = false;
            std::thread::sleep(CHECKPOINT_EVERY);
        }
    }
    checkpoint(&conn);
}

/// Extra back-to-back checkpoint passes before the writer starts the WAL over.
const CATCH_UP_PASSES: usize = 2;

/// Runs every job of the batch in its own savepoint and commits once.
fn run_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> StoreResult<()> {
    conn.execute_batch("BEGIN IMMEDIATE").map_err(super::map_err)?;
    let outcome = (|| {
        // Prepared once and kept: these run twice per job.
        let statement = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map_err(super::map_err);
        for job in batch.iter_mut() {
            statement("SAVEPOINT job")?;
            let succeeded = job.run(conn);
            // SQLite rolls the whole transaction back on some errors (disk full, I/O). Then the
            // savepoint and the earlier jobs' work are gone too, and none of them may be
            // acknowledged: the batch is unavailable (503, retry), asked before the savepoint
            // is touched, which would fail as an internal error.
            if conn.is_autocommit() {
                return Err(StoreError::Unavailable("SQLite aborted the transaction".into()));
            }
            if succeeded {
                statement("RELEASE job")?;
            } else {
                statement("ROLLBACK TO job")?;
                statement("RELEASE job")?;
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use rusqlite::Connection;

    use super::Writer;

    fn open(path: &std::path::Path) -> Connection {
        let conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "page_size", 1024).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn
    }

    /// Runs writers that never pause against a fresh database; answers the largest the WAL grew,
    /// the database's size at the end and how many times the WAL was started over.
    async fn write_without_pause(restart_frames: i64) -> (u64, u64, u64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let conn = open(&path);
        conn.execute_batch("CREATE TABLE t (k BLOB NOT NULL UNIQUE, v BLOB NOT NULL)").unwrap();
        let writer = Writer::start(conn, open(&path), 64, 1024, restart_frames, std::time::Duration::from_secs(5));
        let tasks: Vec<_> = (0..16)
            .map(|task: u64| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    for i in 0..6_000u64 {
                        writer
                            .write(move |c| {
                                // Scattered keys, as idempotency keys are: each insert dirties a
                                // page of its own.
                                let key = (task * 1_000_003 + i).wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes();
                                c.execute("INSERT INTO t (k, v) VALUES (?1, zeroblob(300))", [&key[..]])
                                    .map_err(crate::sqlite::map_err)
                            })
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        let wal = path.with_extension("db-wal");
        let mut largest_wal = 0;
        while !tasks.iter().all(|t| t.is_finished()) {
            largest_wal = largest_wal.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        for task in tasks {
            task.await.unwrap();
        }
        largest_wal = largest_wal.max(std::fs::metadata(&wal).unwrap().len());
        let database = std::fs::metadata(&path).unwrap().len();
        (largest_wal, database, writer.stats.wal_restarts.load(Ordering::Relaxed))
    }

    /// Without the writer starting the WAL over, a checkpoint thread running beside a writer that
    /// never pauses never catches up, and the WAL ends up holding every page ever written.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_stays_bounded_under_writes_that_never_pause() {
        let (unbounded, database, restarts) = write_without_pause(i64::MAX).await;
        eprintln!("never started over: WAL {unbounded} bytes, database {database} bytes, {restarts} restarts");
        // The workload shows the problem: every page of the database went through the WAL.
        assert!(unbounded >= database, "the workload let the WAL catch up: {unbounded} < {database}");
        assert_eq!(restarts, 0);

        let (bounded, database, restarts) = write_without_pause(500).await;
        eprintln!("started over past 500 frames: WAL {bounded} bytes, database {database} bytes, {restarts} restarts");
        assert!(restarts > 0, "the WAL was never started over");
        assert!(bounded * 2 < unbounded, "the WAL reached {bounded} bytes (never started over: {unbounded})");
    }

    /// Inserts `k` into the test table `t`.
    fn insert(k: i64) -> impl FnOnce(&Connection) -> crate::StoreResult<usize> + Send {
        move |c: &Connection| c.execute("INSERT INTO t (k) VALUES (?1)", [k]).map_err(crate::sqlite::map_err)
    }

    /// A writer on a fresh table `t` in `dir`, busy for 300 ms with a job inserting 1 (the
    /// returned task), so that writes made meanwhile queue for the next batch.
    async fn held_writer(
        dir: &std::path::Path,
    ) -> (Writer, std::path::PathBuf, tokio::task::JoinHandle<crate::StoreResult<usize>>) {
        let path = dir.join("held.db");
        let conn = open(&path);
        conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY)").unwrap();
        let writer = Writer::start(conn, open(&path), 64, 1024, i64::MAX, std::time::Duration::from_secs(5));
        let (started, running) = tokio::sync::oneshot::channel();
        let hold = tokio::spawn({
            let writer = writer.clone();
            async move {
                writer
                    .write(move |c| {
                        let _ = started.send(());
                        std::thread::sleep(std::time::Duration::from_millis(300));
                        insert(1)(c)
                    })
                    .await
            }
        });
        running.await.unwrap();
        (writer, path, hold)
    }

    /// A write whose caller stopped waiting before it ran (a request that timed out, answered
    /// 503 "retry") is not run: nothing is done behind an answer that said it was not.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_nobody_waits_for_any_more_is_not_run() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, path, hold) = held_writer(dir.path()).await;
        // Queued behind the holding job, then given up on by its caller.
        let given_up = tokio::spawn({
            let writer = writer.clone();
            async move { writer.write(insert(2)).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        given_up.abort();
        let _ = given_up.await;
        hold.await.unwrap().unwrap();
        writer.write(insert(3)).await.unwrap();
        let rows: Vec<i64> = open(&path)
            .prepare("SELECT k FROM t ORDER BY k")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows, [1, 3], "the abandoned write ran");
    }

    /// When a batch does not commit, no job of it keeps a definite answer: not even a refusal,
    /// which may rest on an earlier job's write that is gone with the batch.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_that_does_not_commit_answers_every_job_with_its_failure() {
        use crate::StoreError;

        let dir = tempfile::tempdir().unwrap();
        // Holds the writer so that the three jobs below are queued together into the next batch.
        let (writer, path, hold) = held_writer(dir.path()).await;
        let placed = tokio::spawn({
            let writer = writer.clone();
            async move { writer.write(insert(2)).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let refused = tokio::spawn({
            let writer = writer.clone();
            async move { writer.write(|_| Err::<(), _>(StoreError::Conflict("taken by the job before".into()))).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        // Ends the transaction under the batch and fails, as a statement does on SQLite's
        // disk-full or I/O errors.
        let aborts = tokio::spawn({
            let writer = writer.clone();
            async move {
                writer
                    .write(|c| {
                        c.execute_batch("ROLLBACK").map_err(crate::sqlite::map_err)?;
                        Err::<(), _>(StoreError::Internal("database or disk is full".into()))
                    })
                    .await
            }
        });

        hold.await.unwrap().unwrap();
        let failure = placed.await.unwrap().expect_err("the batch did not commit");
        assert!(failure.is_unavailable(), "a batch SQLite aborted answers 503, to be retried: {failure:?}");
        let refusal = refused.await.unwrap();
        assert_eq!(format!("{refusal:?}"), format!("{:?}", Err::<(), _>(failure)), "a refusal outlived its batch");
        assert!(aborts.await.unwrap().is_err());
        let rows: i64 = open(&path).query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 1, "only the holding job's batch committed");
    }
}
