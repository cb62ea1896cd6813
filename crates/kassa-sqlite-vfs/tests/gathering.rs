//! A commit's WAL frames reach the operating system in a few large writes. (Its own test binary: the
//! write counter is global to the process.)

use rusqlite::{Connection, OpenFlags};

#[test]
fn a_commit_of_many_pages_is_a_few_large_writes() {
    kassa_sqlite_vfs::register().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open_with_flags(dir.path().join("db"), OpenFlags::default()).unwrap();
    drop(conn);
    let conn = Connection::open_with_flags_and_vfs(dir.path().join("db"), OpenFlags::default(), kassa_sqlite_vfs::NAME)
        .unwrap();
    conn.pragma_update(None, "page_size", 1024).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL); CREATE INDEX t_v ON t (v);").unwrap();

    for round in 0..5_i64 {
        let before = kassa_sqlite_vfs::wal_writes();
        let tx = conn.unchecked_transaction().unwrap();
        for k in 0..500_i64 {
            let key = round * 1_000 + k;
            tx.execute("INSERT INTO t (k, v) VALUES (?1, randomblob(200))", [key]).unwrap();
        }
        tx.commit().unwrap();
        let writes = kassa_sqlite_vfs::wal_writes() - before;
        let frames: u64 = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1)).unwrap();
        // Without the gathering every frame is two writes (header, page).
        assert!(frames > 100, "round {round}: the transaction should change many pages, WAL has {frames} frames");
        // With it, one write per 120 KiB: about one per hundred 1 KiB frames.
        assert!(writes * 20 <= frames, "round {round}: {writes} writes for a commit of {frames} frames");
    }
    let rows: i64 = conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 2_500);
}
