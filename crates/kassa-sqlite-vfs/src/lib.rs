//! The SQLite VFS kassa's writing connections open the database with: the operating system's
//! own VFS (`unix`), except that the writes SQLite makes to a WAL file are gathered in memory and
//! reach the operating system as one `pwrite` per commit (per 120 KiB of it: the most the OS VFS
//! writes in one call).
//!
//! **Why.** SQLite writes every WAL frame with two calls, its 24-byte header and then the page.
//! An order changes about fifteen pages, so the writer made about thirty `pwrite` calls per
//! order, a fifth of its CPU time in the profile (`BENCHMARKS.md`). The bytes and the file are the
//! same either way; only the number of system calls changes.
//!
//! **What it does.** Files SQLite opens as a WAL (`SQLITE_OPEN_WAL`) and as a main database
//! are wrapped; every other file (journals, temporary files) is the `unix` VFS's own. A database
//! file only forwards to `unix`, and tells its WAL when the connection gives up the WAL's write
//! lock. A WAL file holds a run of bytes: a write that continues the run is appended to it; before
//! anything else the run is written out, in order:
//!
//! * a write elsewhere, `xSync`, `xTruncate`, `xFileSize`, `xFileControl`, `xFetch`, `xClose`;
//! * a read that overlaps the run only in part (a read wholly inside it is answered from it).
//!
//! A commit is never held. A 24-byte write is a frame header, and only a commit frame's header
//! (and the headers of the copies SQLite pads a commit with) has a non-zero "database size"
//! field: from such a header on, the run is written out and every write goes straight through,
//! until a header with a zero field starts the next transaction's frames. When the connection
//! releases the WAL's write lock, whatever is still held belongs to a transaction that did not
//! commit (a rollback of frames its cache had spilled), and is dropped: the next writer, perhaps
//! another connection, writes those offsets anew. (With `locking_mode=EXCLUSIVE`, which kassa
//! does not use, SQLite keeps the write lock to itself and never releases it this way; there such
//! a run is written out, harmlessly past the last commit, by the connection's next write, and no
//! other connection can write in between.)
//!
//! **Why nothing is lost or read stale.** SQLite publishes a commit to other connections (the
//! wal-index header) only after it has written the commit's frames, and acknowledges it (with
//! `synchronous=FULL`, as kassa runs) only after `xSync`; both come after the commit header, so
//! every byte of a commit has reached the operating system by then, whatever the `synchronous`
//! setting — the same bytes, in the same order, as without this VFS. Frames held before a commit
//! are only ever read by the connection that wrote them, from the run. A failed write of the run
//! is reported by the call that made it, and every later write and sync fails too until the
//! write lock is released: the transaction cannot commit over bytes that were lost.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::mem::size_of;
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use rusqlite::ffi;

/// The name to open a connection with (`Connection::open_with_flags_and_vfs`).
pub const NAME: &str = "kassa-wal-gather";
const NAME_C: &CStr = c"kassa-wal-gather";

/// A run longer than this is written out even without a commit (a large transaction spilling
/// its cache); 4 MiB is some 4,000 frames of 1 KiB pages.
const MAX_HELD: usize = 4 << 20;

/// The size of a WAL frame header; a write of exactly this size to a WAL is one.
const FRAME_HEADER: usize = 24;

/// Writes this VFS has passed to the operating system for WAL files (held runs and writes it did
/// not hold), counted for the tests that check the gathering happens.
static WAL_WRITES: AtomicU64 = AtomicU64::new(0);

/// How many writes to WAL files reached the operating system through this VFS so far.
pub fn wal_writes() -> u64 {
    WAL_WRITES.load(Ordering::Relaxed)
}

/// Registers the VFS (once per process; later calls return the first call's answer). It is not
/// made the default: only connections opened with [`NAME`] use it.
pub fn register() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED.get_or_init(register_once).clone()
}

fn register_once() -> Result<(), String> {
    // SAFETY: sqlite3_vfs_find may be called at any time; a null name asks for the default VFS,
    // which SQLite keeps for the life of the process.
    let os = unsafe { ffi::sqlite3_vfs_find(ptr::null()) };
    if os.is_null() {
        return Err("SQLite has no default VFS".into());
    }
    // SAFETY: `os` is a registered VFS; its fields are only read here.
    let os_vfs = unsafe { &*os };
    let os_file_size = usize::try_from(os_vfs.szOsFile).map_err(|_| "the OS VFS's file size is negative")?;
    let size = c_int::try_from(INNER_OFFSET + os_file_size).map_err(|_| "the OS VFS's file size is too large")?;
    let vfs = ffi::sqlite3_vfs {
        iVersion: os_vfs.iVersion,
        szOsFile: size,
        mxPathname: os_vfs.mxPathname,
        pNext: ptr::null_mut(),
        zName: NAME_C.as_ptr(),
        // The OS VFS, for `open` to hand files to.
        pAppData: os.cast::<c_void>(),
        xOpen: Some(open),
        // Everything else is the OS VFS's own: these functions only use the VFS argument for
        // `mxPathname`, which is copied above.
        xDelete: os_vfs.xDelete,
        xAccess: os_vfs.xAccess,
        xFullPathname: os_vfs.xFullPathname,
        xDlOpen: os_vfs.xDlOpen,
        xDlError: os_vfs.xDlError,
        xDlSym: os_vfs.xDlSym,
        xDlClose: os_vfs.xDlClose,
        xRandomness: os_vfs.xRandomness,
        xSleep: os_vfs.xSleep,
        xCurrentTime: os_vfs.xCurrentTime,
        xGetLastError: os_vfs.xGetLastError,
        xCurrentTimeInt64: os_vfs.xCurrentTimeInt64,
        xSetSystemCall: os_vfs.xSetSystemCall,
        xGetSystemCall: os_vfs.xGetSystemCall,
        xNextSystemCall: os_vfs.xNextSystemCall,
    };
    // SQLite keeps the pointer for the life of the process.
    let vfs = Box::leak(Box::new(vfs));
    // SAFETY: `vfs` is fully initialised and never freed; 0 = not the default VFS.
    match unsafe { ffi::sqlite3_vfs_register(vfs, 0) } {
        ffi::SQLITE_OK => Ok(()),
        code => Err(format!("registering the {NAME} VFS failed with SQLite code {code}")),
    }
}

/// A WAL file as SQLite sees it: SQLite's file header first (its methods are ours), the run of
/// bytes held, and the OS VFS's file at `INNER_OFFSET` of the same allocation.
#[repr(C)]
struct WalFile {
    base: ffi::sqlite3_file,
    /// The database file of the same connection, if it was opened through this VFS.
    db: *mut DbFile,
    held: Held,
}

/// A main database file: SQLite's file header, the WAL of the same connection while it is open,
/// and the OS VFS's file at `INNER_OFFSET`.
#[repr(C)]
struct DbFile {
    base: ffi::sqlite3_file,
    wal: *mut WalFile,
}

/// Where the OS VFS's file lives within the allocation SQLite makes for each file.
const INNER_OFFSET: usize = max(size_of::<WalFile>(), size_of::<DbFile>()).next_multiple_of(16);

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

struct Held {
    /// Byte offset in the WAL of `bytes[0]`.
    start: i64,
    bytes: Vec<u8>,
    /// Since the last commit header: write everything straight through.
    through: bool,
    /// A run was lost to a failed write: refuse writes and syncs until the write lock is released.
    failed: bool,
}

impl Held {
    fn end(&self) -> i64 {
        self.start + self.bytes.len() as i64
    }
}

unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite passes the VFS registered above, whose pAppData is the OS VFS.
    let os = unsafe { (*vfs).pAppData.cast::<ffi::sqlite3_vfs>() };
    // SAFETY: the OS VFS is registered for the life of the process and has xOpen.
    let Some(os_open) = (unsafe { (*os).xOpen }) else { return ffi::SQLITE_INTERNAL };
    let wal = flags & ffi::SQLITE_OPEN_WAL != 0;
    if !wal && flags & ffi::SQLITE_OPEN_MAIN_DB == 0 {
        // A journal or a temporary file: the OS VFS's file at the start of the allocation (which
        // is larger than it needs), with the OS VFS's own methods.
        // SAFETY: `file` points to szOsFile (≥ the OS VFS's size) zeroed bytes.
        return unsafe { os_open(os, name, file, flags, out_flags) };
    }
    debug_assert!(file.cast::<WalFile>().is_aligned());
    // SAFETY: the OS VFS's file goes at INNER_OFFSET, inside the allocation of szOsFile bytes.
    let rc = unsafe { os_open(os, name, inner_file(file), flags, out_flags) };
    if rc != ffi::SQLITE_OK {
        // SAFETY: SQLite does not call xClose on a file whose pMethods is null.
        unsafe { (*file).pMethods = ptr::null() };
        return rc;
    }
    if !wal {
        let db = file.cast::<DbFile>();
        // SAFETY: `db` is aligned and inside the allocation (SQLite allocates 8-byte aligned).
        unsafe {
            ptr::addr_of_mut!((*db).wal).write(ptr::null_mut());
            (*db).base.pMethods = &DB_METHODS;
        }
        return ffi::SQLITE_OK;
    }
    // SAFETY: `name` is the WAL's name as SQLite passed it to xOpen, which is what
    // sqlite3_database_file_object expects; it answers the connection's database file.
    let db_file = unsafe { ffi::sqlite3_database_file_object(name) };
    // SAFETY: a non-null answer is the open database file; only ours (DB_METHODS) are DbFiles.
    let db = if !db_file.is_null() && ptr::eq(unsafe { (*db_file).pMethods }, &DB_METHODS) {
        db_file.cast::<DbFile>()
    } else {
        ptr::null_mut()
    };
    let wal = file.cast::<WalFile>();
    // SAFETY: `wal` is aligned and inside the allocation; the bytes are uninitialised as far as
    // Rust is concerned, so the fields are written, not assigned. The database file outlives its
    // WAL (SQLite closes the WAL first), and `wal_close` unlinks it.
    unsafe {
        ptr::addr_of_mut!((*wal).db).write(db);
        ptr::addr_of_mut!((*wal).held).write(Held { start: 0, bytes: Vec::new(), through: false, failed: false });
        (*wal).base.pMethods = &WAL_METHODS;
        if !db.is_null() {
            (*db).wal = wal;
        }
    }
    ffi::SQLITE_OK
}

fn inner_file(file: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    file.cast::<u8>().wrapping_add(INNER_OFFSET).cast::<ffi::sqlite3_file>()
}

/// The OS VFS's file inside one of ours, and its methods.
///
/// # Safety
/// `file` must be a WAL or database file opened by `open` and not yet closed.
unsafe fn os_file<'a>(file: *mut ffi::sqlite3_file) -> (*mut ffi::sqlite3_file, &'a ffi::sqlite3_io_methods) {
    let inner = inner_file(file);
    // SAFETY: by the contract above the OS VFS opened `inner`, so its pMethods is set and
    // outlives the file.
    (inner, unsafe { &*(*inner).pMethods })
}

/// The held run of a WAL file.
///
/// # Safety
/// `file` must be a WAL file opened by `open` and not yet closed, and no other reference to its
/// run may be alive: SQLite calls a connection's file methods from one thread at a time, and none
/// of ours calls another.
unsafe fn held<'a>(file: *mut ffi::sqlite3_file) -> &'a mut Held {
    // SAFETY: `held` was written by `open`; see above for uniqueness.
    unsafe { &mut (*file.cast::<WalFile>()).held }
}

/// Writes the held run out (if any) and empties it, whatever the outcome. After a failure, and
/// until the write lock is released, it only answers that failure.
fn write_out(held: &mut Held, inner: *mut ffi::sqlite3_file, methods: &ffi::sqlite3_io_methods) -> c_int {
    if held.failed {
        return ffi::SQLITE_IOERR_WRITE;
    }
    if held.bytes.is_empty() {
        return ffi::SQLITE_OK;
    }
    let rc = write_through(inner, methods, &held.bytes, held.start);
    held.bytes.clear();
    held.failed = rc != ffi::SQLITE_OK;
    rc
}

/// The OS VFS writes at most `0x1ffff` bytes per call (`seekAndWriteFd` masks the length, it
/// never gets more from SQLite itself), so longer runs go in pieces of this size.
const MAX_WRITE: usize = 120 << 10;

/// Writes `bytes` at `offset` with the OS VFS's xWrite, in pieces it accepts.
fn write_through(inner: *mut ffi::sqlite3_file, methods: &ffi::sqlite3_io_methods, bytes: &[u8], offset: i64) -> c_int {
    let Some(write) = methods.xWrite else { return ffi::SQLITE_IOERR_WRITE };
    let mut offset = offset;
    for piece in bytes.chunks(MAX_WRITE) {
        WAL_WRITES.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `inner` is an open OS VFS file; `piece` is at most MAX_WRITE readable bytes.
        let rc = unsafe { write(inner, piece.as_ptr().cast(), piece.len() as c_int, offset) };
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        offset += piece.len() as i64;
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn wal_write(file: *mut ffi::sqlite3_file, data: *const c_void, amount: c_int, offset: i64) -> c_int {
    // SAFETY: SQLite calls this only on files `open` gave WAL_METHODS.
    let (held, (inner, methods)) = unsafe { (held(file), os_file(file)) };
    if held.failed {
        return ffi::SQLITE_IOERR_WRITE;
    }
    let Ok(len) = usize::try_from(amount) else { return ffi::SQLITE_IOERR_WRITE };
    // SAFETY: SQLite passes `amount` readable bytes.
    let data = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) };
    if len == FRAME_HEADER {
        // A frame header carries the database size in pages at bytes 4..8; only a commit
        // frame's (and its padding copies') is not zero.
        held.through = data[4..8] != [0; 4];
    }
    if held.through {
        let rc = write_out(held, inner, methods);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        return write_through(inner, methods, data, offset);
    }
    let continues = !held.bytes.is_empty() && offset == held.end() && held.bytes.len() + len <= MAX_HELD;
    if !continues {
        let rc = write_out(held, inner, methods);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        if len > MAX_HELD {
            return write_through(inner, methods, data, offset);
        }
        held.start = offset;
    }
    held.bytes.extend_from_slice(data);
    ffi::SQLITE_OK
}

unsafe extern "C" fn wal_read(file: *mut ffi::sqlite3_file, out: *mut c_void, amount: c_int, offset: i64) -> c_int {
    // SAFETY: SQLite calls this only on files `open` gave WAL_METHODS.
    let (held, (inner, methods)) = unsafe { (held(file), os_file(file)) };
    let end = offset + i64::from(amount);
    if !held.bytes.is_empty() && offset < held.end() && end > held.start {
        if offset >= held.start && end <= held.end() {
            let from = (offset - held.start) as usize;
            // SAFETY: SQLite passes `amount` writable bytes; the range is inside `bytes`.
            unsafe { ptr::copy_nonoverlapping(held.bytes.as_ptr().add(from), out.cast::<u8>(), amount as usize) };
            return ffi::SQLITE_OK;
        }
        let rc = write_out(held, inner, methods);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    let Some(read) = methods.xRead else { return ffi::SQLITE_IOERR_READ };
    // SAFETY: forwarded as received.
    unsafe { read(inner, out, amount, offset) }
}

/// Defines a WAL method that writes the held run out and then forwards to the OS VFS's method.
macro_rules! after_write_out {
    ($name:ident, $method:ident, $missing:expr, ($($arg:ident: $ty:ty),*)) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            // SAFETY: SQLite calls this only on files `open` gave WAL_METHODS.
            let (held, (inner, methods)) = unsafe { (held(file), os_file(file)) };
            let rc = write_out(held, inner, methods);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            match methods.$method {
                // SAFETY: forwarded as received.
                Some(method) => unsafe { method(inner $(, $arg)*) },
                None => $missing,
            }
        }
    };
}

after_write_out!(wal_sync, xSync, ffi::SQLITE_IOERR_FSYNC, (flags: c_int));
after_write_out!(wal_truncate, xTruncate, ffi::SQLITE_IOERR_TRUNCATE, (size: i64));
after_write_out!(wal_file_size, xFileSize, ffi::SQLITE_IOERR_FSTAT, (size: *mut i64));
after_write_out!(wal_file_control, xFileControl, ffi::SQLITE_NOTFOUND, (op: c_int, arg: *mut c_void));
after_write_out!(wal_fetch, xFetch, ffi::SQLITE_IOERR_MMAP, (offset: i64, amount: c_int, out: *mut *mut c_void));

/// Defines a method (of WAL and database files alike) that forwards to the OS VFS's method.
macro_rules! forward {
    ($name:ident, $method:ident, $missing:expr, ($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> $ret {
            // SAFETY: SQLite calls this only on files `open` gave WAL_METHODS or DB_METHODS.
            let (inner, methods) = unsafe { os_file(file) };
            match methods.$method {
                // SAFETY: forwarded as received.
                Some(method) => unsafe { method(inner $(, $arg)*) },
                None => $missing,
            }
        }
    };
}

forward!(os_read, xRead, ffi::SQLITE_IOERR_READ, (out: *mut c_void, amount: c_int, offset: i64) -> c_int);
forward!(os_write, xWrite, ffi::SQLITE_IOERR_WRITE, (data: *const c_void, amount: c_int, offset: i64) -> c_int);
forward!(os_truncate, xTruncate, ffi::SQLITE_IOERR_TRUNCATE, (size: i64) -> c_int);
forward!(os_sync, xSync, ffi::SQLITE_IOERR_FSYNC, (flags: c_int) -> c_int);
forward!(os_file_size, xFileSize, ffi::SQLITE_IOERR_FSTAT, (size: *mut i64) -> c_int);
forward!(os_lock, xLock, ffi::SQLITE_IOERR_LOCK, (level: c_int) -> c_int);
forward!(os_unlock, xUnlock, ffi::SQLITE_IOERR_UNLOCK, (level: c_int) -> c_int);
forward!(os_check_reserved_lock, xCheckReservedLock, ffi::SQLITE_IOERR_CHECKRESERVEDLOCK, (out: *mut c_int) -> c_int);
forward!(os_file_control, xFileControl, ffi::SQLITE_NOTFOUND, (op: c_int, arg: *mut c_void) -> c_int);
forward!(os_sector_size, xSectorSize, 4096, () -> c_int);
forward!(os_device_characteristics, xDeviceCharacteristics, 0, () -> c_int);
forward!(os_shm_map, xShmMap, ffi::SQLITE_IOERR_SHMMAP, (region: c_int, size: c_int, extend: c_int, out: *mut *mut c_void) -> c_int);
forward!(os_shm_lock, xShmLock, ffi::SQLITE_IOERR_SHMLOCK, (offset: c_int, n: c_int, flags: c_int) -> c_int);
forward!(os_shm_unmap, xShmUnmap, ffi::SQLITE_OK, (delete: c_int) -> c_int);
forward!(os_fetch, xFetch, ffi::SQLITE_IOERR_MMAP, (offset: i64, amount: c_int, out: *mut *mut c_void) -> c_int);
forward!(os_unfetch, xUnfetch, ffi::SQLITE_OK, (offset: i64, page: *mut c_void) -> c_int);

unsafe extern "C" fn os_shm_barrier(file: *mut ffi::sqlite3_file) {
    // SAFETY: SQLite calls this only on files `open` gave WAL_METHODS or DB_METHODS.
    let (inner, methods) = unsafe { os_file(file) };
    if let Some(barrier) = methods.xShmBarrier {
        // SAFETY: forwarded as received.
        unsafe { barrier(inner) }
    }
}

/// The index of the WAL's write lock among the wal-index locks (`WAL_WRITE_LOCK` in SQLite).
const WAL_WRITE_LOCK: c_int = 0;

/// A database file's wal-index lock: when the connection releases the WAL's write lock, its
/// transaction is over; anything its WAL still holds was not committed, and is dropped.
unsafe extern "C" fn db_shm_lock(file: *mut ffi::sqlite3_file, offset: c_int, n: c_int, flags: c_int) -> c_int {
    let releases_write_lock =
        flags == ffi::SQLITE_SHM_UNLOCK | ffi::SQLITE_SHM_EXCLUSIVE && (offset..offset + n).contains(&WAL_WRITE_LOCK);
    // SAFETY: SQLite calls this only on files `open` gave DB_METHODS.
    let wal = unsafe { (*file.cast::<DbFile>()).wal };
    if releases_write_lock && !wal.is_null() {
        // SAFETY: `wal` is this connection's open WAL (its xClose unlinks it), and no method of
        // it is running: SQLite calls a connection's file methods one at a time.
        let held = unsafe { &mut (*wal).held };
        held.bytes.clear();
        held.through = false;
        held.failed = false;
    }
    // SAFETY: forwarded as received.
    unsafe { os_shm_lock(file, offset, n, flags) }
}

unsafe extern "C" fn db_close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite calls this only on files `open` gave DB_METHODS, once.
    let db = unsafe { &mut *file.cast::<DbFile>() };
    if !db.wal.is_null() {
        // SAFETY: the WAL is still open (it unlinks itself when it closes); it must not point
        // to this file any longer.
        unsafe { (*db.wal).db = ptr::null_mut() };
    }
    // SAFETY: as above.
    let (inner, methods) = unsafe { os_file(file) };
    match methods.xClose {
        // SAFETY: the OS VFS's file is closed once, here.
        Some(close) => unsafe { close(inner) },
        None => ffi::SQLITE_OK,
    }
}

unsafe extern "C" fn wal_close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite calls this only on files `open` gave WAL_METHODS, once.
    let (held, (inner, methods)) = unsafe { (held(file), os_file(file)) };
    let written = write_out(held, inner, methods);
    let closed = match methods.xClose {
        // SAFETY: the OS VFS's file is closed once, here.
        Some(close) => unsafe { close(inner) },
        None => ffi::SQLITE_OK,
    };
    let wal = file.cast::<WalFile>();
    // SAFETY: the database file is open (it outlives its WAL or unlinks itself first); `held`
    // was written by `open` and is dropped once, here; SQLite frees the allocation.
    unsafe {
        if !(*wal).db.is_null() {
            (*(*wal).db).wal = ptr::null_mut();
        }
        ptr::drop_in_place(ptr::addr_of_mut!((*wal).held));
    }
    if written != ffi::SQLITE_OK {
        written
    } else {
        closed
    }
}

static WAL_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(wal_close),
    xRead: Some(wal_read),
    xWrite: Some(wal_write),
    xTruncate: Some(wal_truncate),
    xSync: Some(wal_sync),
    xFileSize: Some(wal_file_size),
    xLock: Some(os_lock),
    xUnlock: Some(os_unlock),
    xCheckReservedLock: Some(os_check_reserved_lock),
    xFileControl: Some(wal_file_control),
    xSectorSize: Some(os_sector_size),
    xDeviceCharacteristics: Some(os_device_characteristics),
    xShmMap: Some(os_shm_map),
    xShmLock: Some(os_shm_lock),
    xShmBarrier: Some(os_shm_barrier),
    xShmUnmap: Some(os_shm_unmap),
    xFetch: Some(wal_fetch),
    xUnfetch: Some(os_unfetch),
};

static DB_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(db_close),
    xRead: Some(os_read),
    xWrite: Some(os_write),
    xTruncate: Some(os_truncate),
    xSync: Some(os_sync),
    xFileSize: Some(os_file_size),
    xLock: Some(os_lock),
    xUnlock: Some(os_unlock),
    xCheckReservedLock: Some(os_check_reserved_lock),
    xFileControl: Some(os_file_control),
    xSectorSize: Some(os_sector_size),
    xDeviceCharacteristics: Some(os_device_characteristics),
    xShmMap: Some(os_shm_map),
    xShmLock: Some(db_shm_lock),
    xShmBarrier: Some(os_shm_barrier),
    xShmUnmap: Some(os_shm_unmap),
    xFetch: Some(os_fetch),
    xUnfetch: Some(os_unfetch),
};
