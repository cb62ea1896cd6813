//! What a connection writing through the VFS commits is what every other connection reads, and
//! what the files hold if the process dies, at every commit, whatever the transaction did on the
//! way (savepoints rolled back, a page cache too small for the transaction, pages rewritten, the
//! WAL started over, commits padded to a sector), whatever `synchronous` says, and with another
//! writer committing after this one rolled back.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

/// A small deterministic generator: the runs are the same every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `padded`: the database says its disk may tear a sector on power loss (`psow=0`), so SQLite pads
/// every commit to a sector boundary and writes part of the last padding frame after its sync.
fn writer(path: &Path, synchronous: &str, padded: bool) -> Connection {
    kassa_sqlite_vfs::register().unwrap();
    let uri = format!("file:{}{}", path.display(), if padded { "?psow=0" } else { "" });
    let conn = Connection::open_with_flags_and_vfs(uri, OpenFlags::default(), kassa_sqlite_vfs::NAME).unwrap();
    conn.pragma_update(None, "page_size", 1024).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", synchronous).unwrap();
    conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    // Twenty pages: most transactions below spill dirty pages to the WAL before they commit.
    conn.pragma_update(None, "cache_size", 20).unwrap();
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v BLOB NOT NULL, n INTEGER NOT NULL);
                        CREATE INDEX IF NOT EXISTS t_v ON t (v);",
    )
    .unwrap();
    conn
}

/// The table as a reader on the operating system's own VFS sees it.
fn contents(reader: &Connection) -> BTreeMap<i64, (Vec<u8>, i64)> {
    let mut statement = reader.prepare_cached("SELECT k, v, n FROM t").unwrap();
    let rows = statement.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?)))).unwrap();
    rows.map(Result::unwrap).collect()
}

fn blob(rng: &mut Rng) -> Vec<u8> {
    let len = 20 + rng.below(300) as usize;
    (0..len).map(|_| rng.next() as u8).collect()
}

/// The table as the files hold it if the process died now: the database and its WAL copied
/// (not the wal-index, which lives in memory) and opened afresh.
fn after_a_crash(dir: &Path, round: usize) -> BTreeMap<i64, (Vec<u8>, i64)> {
    let copy = dir.join(format!("crash-{round}"));
    std::fs::create_dir(&copy).unwrap();
    std::fs::copy(dir.join("db"), copy.join("db")).unwrap();
    std::fs::copy(dir.join("db-wal"), copy.join("db-wal")).unwrap();
    contents(&Connection::open(copy.join("db")).unwrap())
}

/// Random transactions of inserts, updates and deletes in savepoints, some rolled back, some
/// transactions rolled back whole (and then, now and then, another writer commits), checkpoints
/// by a third connection now and then. After every transaction a reader must see exactly the
/// committed model, and now and then so must a copy of the files.
fn run(synchronous: &str, padded: bool, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let conn = writer(&path, synchronous, padded);
    let other_writer = Connection::open(&path).unwrap();
    let reader = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let checkpointer = Connection::open(&path).unwrap();
    let mut rng = Rng(seed);
    let mut committed: BTreeMap<i64, (Vec<u8>, i64)> = BTreeMap::new();

    for round in 0..300 {
        let mut model = committed.clone();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        for _ in 0..1 + rng.below(6) {
            let mut inner = model.clone();
            conn.execute_batch("SAVEPOINT s").unwrap();
            for _ in 0..rng.below(80) {
                let k = rng.below(3_000) as i64;
                match rng.below(4) {
                    0 | 1 => {
                        let v = blob(&mut rng);
                        let n = rng.next() as i64;
                        conn.execute("INSERT OR REPLACE INTO t (k, v, n) VALUES (?1, ?2, ?3)", (k, &v, n)).unwrap();
                        inner.insert(k, (v, n));
                    }
                    2 => {
                        conn.execute("UPDATE t SET n = n + 1 WHERE k = ?1", [k]).unwrap();
                        if let Some(row) = inner.get_mut(&k) {
                            row.1 = row.1.wrapping_add(1);
                        }
                    }
                    _ => {
                        conn.execute("DELETE FROM t WHERE k = ?1", [k]).unwrap();
                        inner.remove(&k);
                    }
                }
            }
            if rng.below(4) == 0 {
                conn.execute_batch("ROLLBACK TO s; RELEASE s").unwrap();
            } else {
                conn.execute_batch("RELEASE s").unwrap();
                model = inner;
            }
        }
        if rng.below(8) == 0 {
            conn.execute_batch("ROLLBACK").unwrap();
            // Another writer takes the WAL offsets the rolled-back frames had.
            if rng.below(2) == 0 {
                other_writer.execute_batch("BEGIN IMMEDIATE").unwrap();
                for _ in 0..rng.below(200) {
                    let (k, v, n) = (rng.below(3_000) as i64, blob(&mut rng), rng.next() as i64);
                    other_writer.execute("INSERT OR REPLACE INTO t (k, v, n) VALUES (?1, ?2, ?3)", (k, &v, n)).unwrap();
                    committed.insert(k, (v, n));
                }
                other_writer.execute_batch("COMMIT").unwrap();
            }
        } else {
            conn.execute_batch("COMMIT").unwrap();
            committed = model;
        }
        assert!(
            contents(&reader) == committed,
            "{synchronous}, round {round}: a reader saw other rows than were committed"
        );
        if round % 10 == 0 {
            let kept = after_a_crash(dir.path(), round);
            assert!(kept == committed, "{synchronous}, round {round}: a crash now would not keep what was committed");
        }
        match rng.below(10) {
            0 => {
                checkpointer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())).unwrap();
            }
            // The WAL starts over at its next write: the header at offset 0 again.
            1 => {
                checkpointer.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(())).unwrap();
            }
            _ => {}
        }
    }
    let check: String = reader.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    drop((conn, other_writer, reader, checkpointer));

    // Reopened without the VFS (as after a restart), the file holds the same.
    let reopened = Connection::open(&path).unwrap();
    assert!(contents(&reopened) == committed, "{synchronous}: after reopening, other rows than were committed");
}

#[test]
fn every_commit_is_read_and_kept_with_synchronous_full() {
    run("FULL", false, 0x9E37_79B9_7F4A_7C15);
}

#[test]
fn every_commit_is_read_and_kept_with_commits_padded_to_a_sector() {
    run("FULL", true, 0x5851_F42D_4C95_7F2D);
}

/// Without a sync at commit, the commit header is what makes the VFS write its run out before
/// SQLite tells other connections the commit is there.
#[test]
fn every_commit_is_read_and_kept_with_synchronous_normal() {
    run("NORMAL", false, 0xD1B5_4A32_D192_ED03);
}

#[test]
fn every_commit_is_read_and_kept_with_synchronous_off() {
    run("OFF", false, 0x2545_F491_4F6C_DD1D);
}
