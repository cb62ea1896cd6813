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
//! **What it does.** Only files SQLite opens as a WAL (`SQLITE_OPEN_WAL`) are wrapped; every other
//! file (the database, its wal-index, journals) is the `unix` VFS's own, untouched. For a WAL
//! file, a write that continues the run of bytes held so far is appended to it; anything else
//! first writes the held run out, in order:
//!
//! * a write elsewhere, `xSync`, `xTruncate`, `xFileSize`, `xFileControl`, `xFetch`, `xClose`;
//! * a read that overlaps the run only in part (a read wholly inside it is answered from it);
//! * the end of a commit frame: a 24-byte frame header whose "database size" field is not zero
//!   marks the commit frame, and the page write that follows it is written out with the run.
//!
//! **Why nothing is lost or read stale.** A commit is acknowledged only when SQLite's `xSync` of
//! the WAL returns (kassa runs `synchronous=FULL`), and `xSync` writes the run out before it
//! syncs, so the synced bytes are the same as without this VFS. Other connections read only the
//! frames up to the commit mark SQLite publishes in the wal-index after it has written the commit
//! frame, and that frame's page write is where the run is written out, so they never look for
//! bytes still held here, whatever the `synchronous` setting. A failed write of the run is
//! reported by the call that made it (so by the commit at the latest) and the run is dropped: the
//! transaction fails, as it would have with the write that failed.

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
    held: Held,
}

/// Where the OS VFS's file lives within the allocation SQLite makes for each file.
const INNER_OFFSET: usize = size_of::<WalFile>().next_multiple_of(16);

struct Held {
    /// Byte offset in the WAL of `bytes[0]`.
    start: i64,
    bytes: Vec<u8>,
    /// The last write was a commit frame's header: write the run out after its page.
    commit_page_next: bool,
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
    if flags & ffi::SQLITE_OPEN_WAL == 0 {
        // Not a WAL: the OS VFS's file at the start of the allocation (which is larger than it
        // needs), with the OS VFS's own methods. SQLite never calls into this crate for it.
        // SAFETY: `file` points to szOsFile (≥ the OS VFS's size) zeroed bytes.
        return unsafe { os_open(os, name, file, flags, out_flags) };
    }
    debug_assert!(file.cast::<WalFile>().is_aligned());
    let inner = inner_file(file);
    // SAFETY: the OS VFS's file goes at INNER_OFFSET, inside the allocation of szOsFile bytes.
    let rc = unsafe { os_open(os, name, inner, flags, out_flags) };
    let wal = file.cast::<WalFile>();
    if rc != ffi::SQLITE_OK {
        // SAFETY: SQLite does not call xClose on a file whose pMethods is null.
        unsafe { (*wal).base.pMethods = ptr::null() };
        return rc;
    }
    // SAFETY: `wal` is aligned (SQLite allocates 8-byte aligned) and inside the allocation; the
    // bytes are uninitialised as far as Rust is concerned, so `held` is written, not assigned.
    unsafe {
        ptr::addr_of_mut!((*wal).held).write(Held { start: 0, bytes: Vec::new(), commit_page_next: false });
        (*wal).base.pMethods = &WAL_METHODS;
    }
    ffi::SQLITE_OK
}

fn inner_file(file: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    file.cast::<u8>().wrapping_add(INNER_OFFSET).cast::<ffi::sqlite3_file>()
}

/// The held run and the OS VFS's file (and its methods) of a WAL file opened by `open`.
///
/// # Safety
/// `file` must be a WAL file opened by `open` and not yet closed.
unsafe fn parts<'a>(
    file: *mut ffi::sqlite3_file,
) -> (&'a mut Held, *mut ffi::sqlite3_file, &'a ffi::sqlite3_io_methods) {
    let inner = inner_file(file);
    // SAFETY: by the contract above, `held` was written by `open`, and the inner file was opened
    // by the OS VFS, so its pMethods is set and outlives the file. SQLite calls one file's methods
    // from one thread at a time, so the `&mut` is unique.
    unsafe { (&mut (*file.cast::<WalFile>()).held, inner, &*(*inner).pMethods) }
}

/// Writes the held run out (if any) and empties it, whatever the outcome.
fn write_out(held: &mut Held, inner: *mut ffi::sqlite3_file, methods: &ffi::sqlite3_io_methods) -> c_int {
    held.commit_page_next = false;
    if held.bytes.is_empty() {
        return ffi::SQLITE_OK;
    }
    let rc = write_through(inner, methods, &held.bytes, held.start);
    held.bytes.clear();
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
    let (held, inner, methods) = unsafe { parts(file) };
    let Ok(len) = usize::try_from(amount) else { return ffi::SQLITE_IOERR_WRITE };
    // SAFETY: SQLite passes `amount` readable bytes.
    let data = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) };
    let continues = !held.bytes.is_empty() && offset == held.end() && held.bytes.len() + len <= MAX_HELD;
    if !continues {
        let commit_page_next = held.commit_page_next;
        let rc = write_out(held, inner, methods);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        if len > MAX_HELD {
            return write_through(inner, methods, data, offset);
        }
        held.start = offset;
        held.commit_page_next = commit_page_next;
    }
    held.bytes.extend_from_slice(data);
    if held.commit_page_next {
        return write_out(held, inner, methods);
    }
    // A frame header carries the database size in pages at bytes 4..8, and only a commit
    // frame's is not zero.
    held.commit_page_next = len == FRAME_HEADER && data[4..8] != [0; 4];
    ffi::SQLITE_OK
}

unsafe extern "C" fn wal_read(file: *mut ffi::sqlite3_file, out: *mut c_void, amount: c_int, offset: i64) -> c_int {
    // SAFETY: SQLite calls this only on files `open` gave WAL_METHODS.
    let (held, inner, methods) = unsafe { parts(file) };
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

/// Defines a method that writes the held run out and then forwards to the OS VFS's method.
macro_rules! after_write_out {
    ($name:ident, $method:ident, $missing:expr, ($($arg:ident: $ty:ty),*)) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            // SAFETY: SQLite calls this only on files `open` gave WAL_METHODS.
            let (held, inner, methods) = unsafe { parts(file) };
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

unsafe extern "C" fn wal_fetch(
    file: *mut ffi::sqlite3_file,
    offset: i64,
    amount: c_int,
    out: *mut *mut c_void,
) -> c_int {
    // SAFETY: SQLite calls this only on files `open` gave WAL_METHODS.
    let (held, inner, methods) = unsafe { parts(file) };
    let rc = write_out(held, inner, methods);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    match methods.xFetch {
        // SAFETY: forwarded as received.
        Some(fetch) => unsafe { fetch(inner, offset, amount, out) },
        None => {
            // No memory map: SQLite reads with xRead instead.
            // SAFETY: SQLite passes a writable pointer.
            unsafe { *out = ptr::null_mut() };
            ffi::SQLITE_OK
        }
    }
}

/// Defines a method that forwards to the OS VFS's method as it is.
macro_rules! forward {
    ($name:ident, $method:ident, $missing:expr, ($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> $ret {
            // SAFETY: SQLite calls this only on files `open` gave WAL_METHODS.
            let (_, inner, methods) = unsafe { parts(file) };
            match methods.$method {
                // SAFETY: forwarded as received.
                Some(method) => unsafe { method(inner $(, $arg)*) },
                None => $missing,
            }
        }
    };
}

forward!(wal_lock, xLock, ffi::SQLITE_IOERR_LOCK, (level: c_int) -> c_int);
forward!(wal_unlock, xUnlock, ffi::SQLITE_IOERR_UNLOCK, (level: c_int) -> c_int);
forward!(wal_check_reserved_lock, xCheckReservedLock, ffi::SQLITE_IOERR_CHECKRESERVEDLOCK, (out: *mut c_int) -> c_int);
forward!(wal_sector_size, xSectorSize, 4096, () -> c_int);
forward!(wal_device_characteristics, xDeviceCharacteristics, 0, () -> c_int);
forward!(wal_shm_map, xShmMap, ffi::SQLITE_IOERR_SHMMAP, (region: c_int, size: c_int, extend: c_int, out: *mut *mut c_void) -> c_int);
forward!(wal_shm_lock, xShmLock, ffi::SQLITE_IOERR_SHMLOCK, (offset: c_int, n: c_int, flags: c_int) -> c_int);
forward!(wal_shm_unmap, xShmUnmap, ffi::SQLITE_OK, (delete: c_int) -> c_int);
forward!(wal_unfetch, xUnfetch, ffi::SQLITE_OK, (offset: i64, page: *mut c_void) -> c_int);

unsafe extern "C" fn wal_shm_barrier(file: *mut ffi::sqlite3_file) {
    // SAFETY: SQLite calls this only on files `open` gave WAL_METHODS.
    let (_, inner, methods) = unsafe { parts(file) };
    if let Some(barrier) = methods.xShmBarrier {
        // SAFETY: forwarded as received.
        unsafe { barrier(inner) }
    }
}

unsafe extern "C" fn wal_close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite calls this only on files `open` gave WAL_METHODS, once.
    let (held, inner, methods) = unsafe { parts(file) };
    let written = write_out(held, inner, methods);
    let closed = match methods.xClose {
        // SAFETY: the OS VFS's file is closed once, here.
        Some(close) => unsafe { close(inner) },
        None => ffi::SQLITE_OK,
    };
    // SAFETY: `held` was written by `open` and is dropped once; SQLite frees the allocation.
    unsafe { ptr::drop_in_place(ptr::addr_of_mut!((*file.cast::<WalFile>()).held)) };
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
    xLock: Some(wal_lock),
    xUnlock: Some(wal_unlock),
    xCheckReservedLock: Some(wal_check_reserved_lock),
    xFileControl: Some(wal_file_control),
    xSectorSize: Some(wal_sector_size),
    xDeviceCharacteristics: Some(wal_device_characteristics),
    xShmMap: Some(wal_shm_map),
    xShmLock: Some(wal_shm_lock),
    xShmBarrier: Some(wal_shm_barrier),
    xShmUnmap: Some(wal_shm_unmap),
    xFetch: Some(wal_fetch),
    xUnfetch: Some(wal_unfetch),
};
