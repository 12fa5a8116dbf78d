//! `netpulse-wal`: the VFS of the writer's connection. It is SQLite's default VFS (`unix`) except
//! for the WAL file, whose frames it hands to the operating system together when a transaction
//! commits: one write per 124 KiB (`MAX_WRITE`), one for a commit of up to 30 pages.
//!
//! SQLite writes each WAL frame with two `pwrite`s, its 24-byte header and then its page, so a
//! commit of 30 pages costs 60 system calls through ext4's buffered write path. Measured on the
//! development machine (C, page cache, 30 frames per commit): 132 µs per commit that way against
//! 13 µs for one write of the same bytes; the writer thread spent 31% of its time in those
//! `pwrite`s (BENCHMARKS.md). This VFS keeps the frames a transaction appends in memory and
//! writes them when the transaction's commit frame is complete.
//!
//! Why that is safe: readers and the checkpointer only use frames that the wal-index says are
//! committed, and SQLite updates the wal-index only after `sqlite3WalFrames` has written the commit
//! frame, which is the moment this VFS writes everything it holds (and reports a failed write, a
//! full disk for instance, from that very call, so the commit fails as it would have). Any other
//! call on the WAL file (read, sync, truncate, size, file control, lock, close) writes what is held
//! first, so SQLite never reads back or syncs a file that lacks what it wrote. Writes that are not
//! new frames appended in order (the WAL header, a page overwritten in place, the checksums SQLite
//! rewrites after it) go straight through, in order. A crash loses what was held, which is what
//! a crash a moment earlier, before the `pwrite`s, would have lost: frames of a transaction that
//! had not committed.

use std::alloc::Layout;
use std::ffi::{CStr, c_int, c_void};
use std::ptr;
use std::sync::OnceLock;

use rusqlite::ffi;

/// The name to open the writer's connection with.
pub(super) const NAME: &CStr = c"netpulse-wal";

/// The most a transaction's frames are held for before they are written anyway (a huge
/// transaction, such as a migration, then writes in pieces of this size).
const MAX_HELD: usize = 4 << 20;

/// The most the default VFS writes in one call: the unix VFS masks a write's length to 17 bits
/// (`seekAndWriteFd`), so what is held goes out in pieces of 124 KiB, 30 frames of 4 KiB each.
const MAX_WRITE: usize = 124 << 10;

/// The size of a WAL frame header; bytes 4..8 hold the database size on a commit frame, else 0.
const FRAME_HEADER: usize = 24;

/// SQLite's default VFS, which does all the work; the address, to be `Send` and `Sync`.
static DEFAULT: OnceLock<Result<usize, String>> = OnceLock::new();

/// Registers the VFS once per process. The default VFS stays the default.
pub(super) fn register() -> anyhow::Result<()> {
    let registered = DEFAULT.get_or_init(|| {
        // SAFETY: `sqlite3_vfs_find` initializes SQLite and returns a VFS that lives as long as the
        // process. The copy only changes the fields that make it another VFS; it is leaked, as a
        // registered VFS must outlive every connection.
        unsafe {
            let default = ffi::sqlite3_vfs_find(ptr::null());
            if default.is_null() {
                return Err("SQLite has no default VFS".to_owned());
            }
            let mut vfs = ptr::read(default);
            vfs.szOsFile = vfs.szOsFile.max(size_of::<WalFile>() as c_int);
            vfs.zName = NAME.as_ptr();
            vfs.pNext = ptr::null_mut();
            vfs.xOpen = Some(open);
            let vfs = Box::leak(Box::new(vfs));
            match ffi::sqlite3_vfs_register(vfs, 0) {
                ffi::SQLITE_OK => Ok(default as usize),
                rc => Err(format!("SQLite refused the VFS {NAME:?} (error {rc})")),
            }
        }
    });
    match registered {
        Ok(_) => Ok(()),
        Err(err) => anyhow::bail!("{err}"),
    }
}

fn default_vfs() -> *mut ffi::sqlite3_vfs {
    match DEFAULT.get() {
        Some(Ok(address)) => *address as *mut ffi::sqlite3_vfs,
        // `open` is only reachable through the registered VFS.
        _ => ptr::null_mut(),
    }
}

/// A WAL file: SQLite's handle (the first field, as SQLite sees it), the default VFS's file, and
/// the frames held back.
#[repr(C)]
struct WalFile {
    base: ffi::sqlite3_file,
    inner: *mut ffi::sqlite3_file,
    inner_layout: Layout,
    held: Vec<u8>,
    /// The file offset of `held[0]`.
    held_at: i64,
    /// Where the page of a held commit frame starts: writing it completes the transaction.
    commit_page_at: Option<i64>,
    /// The offset of the latest read: SQLite rewrites a frame's checksums by reading the frame,
    /// then writing its header at the same offset; such a header is not a new frame.
    last_read: Option<i64>,
}

/// Opens a file through the default VFS; a WAL file is wrapped in a [`WalFile`].
unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let default = default_vfs();
    // SAFETY: SQLite hands over `file` with `szOsFile` bytes, at least what the default VFS and
    // a `WalFile` need, and the default VFS's `xOpen` follows the same contract as this function.
    unsafe {
        let Some(default_open) = default.as_ref().and_then(|vfs| vfs.xOpen) else {
            (*file).pMethods = ptr::null();
            return ffi::SQLITE_ERROR;
        };
        if flags & ffi::SQLITE_OPEN_WAL == 0 {
            return default_open(default, name, file, flags, out_flags);
        }
        let size = usize::try_from((*default).szOsFile).unwrap_or(0).max(8);
        let Ok(inner_layout) = Layout::from_size_align(size, 16) else {
            (*file).pMethods = ptr::null();
            return ffi::SQLITE_NOMEM;
        };
        let inner = std::alloc::alloc_zeroed(inner_layout).cast::<ffi::sqlite3_file>();
        if inner.is_null() {
            (*file).pMethods = ptr::null();
            return ffi::SQLITE_NOMEM;
        }
        let rc = default_open(default, name, inner, flags, out_flags);
        if rc != ffi::SQLITE_OK || (*inner).pMethods.is_null() {
            std::alloc::dealloc(inner.cast(), inner_layout);
            (*file).pMethods = ptr::null();
            return if rc == ffi::SQLITE_OK {
                ffi::SQLITE_CANTOPEN
            } else {
                rc
            };
        }
        ptr::write(
            file.cast::<WalFile>(),
            WalFile {
                base: ffi::sqlite3_file {
                    pMethods: &WAL_METHODS,
                },
                inner,
                inner_layout,
                held: Vec::new(),
                held_at: 0,
                commit_page_at: None,
                last_read: None,
            },
        );
        ffi::SQLITE_OK
    }
}

static WAL_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    // Version 1: a WAL file is never memory-mapped and has no shared memory of its own.
    iVersion: 1,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

/// The `WalFile` behind SQLite's handle.
///
/// # Safety
/// `file` must be a handle that `open` filled in as a `WalFile` and that is not closed.
unsafe fn wal<'a>(file: *mut ffi::sqlite3_file) -> &'a mut WalFile {
    // SAFETY: the caller's contract; SQLite uses a handle from one thread at a time.
    unsafe { &mut *file.cast::<WalFile>() }
}

/// The default VFS's methods for the inner file.
///
/// # Safety
/// `wal.inner` must be open.
unsafe fn methods(wal: &WalFile) -> &ffi::sqlite3_io_methods {
    // SAFETY: `open` checked that the inner file has methods; they live as long as the VFS.
    unsafe { &*(*wal.inner).pMethods }
}

/// Writes what is held: one write per `MAX_WRITE` bytes, usually one.
///
/// # Safety
/// `wal.inner` must be open.
unsafe fn release(wal: &mut WalFile) -> c_int {
    wal.commit_page_at = None;
    if wal.held.is_empty() {
        return ffi::SQLITE_OK;
    }
    let mut rc = ffi::SQLITE_OK;
    let mut at = wal.held_at;
    for piece in wal.held.chunks(MAX_WRITE) {
        // SAFETY: the inner file is open, and `piece` outlives the call.
        rc = unsafe {
            match methods(wal).xWrite {
                // `piece` is at most MAX_WRITE bytes long.
                Some(write) => write(wal.inner, piece.as_ptr().cast(), piece.len() as c_int, at),
                None => ffi::SQLITE_IOERR_WRITE,
            }
        };
        #[cfg(test)]
        tests::count_write();
        if rc != ffi::SQLITE_OK {
            break;
        }
        at += piece.len() as i64;
    }
    // Written or failed, the bytes are done with: on failure SQLite abandons the transaction.
    wal.held.clear();
    rc
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: SQLite passes an open handle of this VFS and `amount` readable bytes at `data`.
    unsafe {
        let wal = wal(file);
        let Ok(length) = usize::try_from(amount) else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        let bytes = std::slice::from_raw_parts(data.cast::<u8>(), length);
        let held_end = wal.held_at + wal.held.len() as i64;
        // The next part of the frames held: the page after a header, or the next frame's header.
        if !wal.held.is_empty() && offset == held_end && wal.held.len() + length <= MAX_HELD {
            wal.held.extend_from_slice(bytes);
            if wal.commit_page_at == Some(offset) {
                return release(wal);
            }
            if length == FRAME_HEADER {
                wal.commit_page_at = is_commit(bytes).then_some(offset + FRAME_HEADER as i64);
            }
            return ffi::SQLITE_OK;
        }
        let rc = release(wal);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        // A new frame's header starts what is held; its page follows in the next write.
        if length == FRAME_HEADER && wal.last_read != Some(offset) {
            wal.held.extend_from_slice(bytes);
            wal.held_at = offset;
            wal.commit_page_at = is_commit(bytes).then_some(offset + FRAME_HEADER as i64);
            return ffi::SQLITE_OK;
        }
        #[cfg(test)]
        tests::count_write();
        match methods(wal).xWrite {
            Some(write) => write(wal.inner, data, amount, offset),
            None => ffi::SQLITE_IOERR_WRITE,
        }
    }
}

/// A frame header's "database size after commit" field: not zero on a transaction's last frame.
fn is_commit(header: &[u8]) -> bool {
    header
        .get(4..8)
        .is_some_and(|size| size.iter().any(|byte| *byte != 0))
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite closes an open handle once; after this the memory is SQLite's again.
    unsafe {
        let wal = wal(file);
        let released = release(wal);
        let closed = match methods(wal).xClose {
            Some(close) => close(wal.inner),
            None => ffi::SQLITE_OK,
        };
        std::alloc::dealloc(wal.inner.cast(), wal.inner_layout);
        ptr::drop_in_place(file.cast::<WalFile>());
        (*file).pMethods = ptr::null();
        if released != ffi::SQLITE_OK {
            released
        } else {
            closed
        }
    }
}

unsafe extern "C" fn read(
    file: *mut ffi::sqlite3_file,
    data: *mut c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: an open handle of this VFS; the arguments go to the default VFS unchanged.
    unsafe {
        let wal = wal(file);
        let rc = release(wal);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        wal.last_read = Some(offset);
        match methods(wal).xRead {
            Some(read) => read(wal.inner, data, amount, offset),
            None => ffi::SQLITE_IOERR_READ,
        }
    }
}

/// Defines a method that writes what is held, then passes the call on to the default VFS.
macro_rules! released_then {
    ($name:ident, $field:ident, ($($arg:ident: $type:ty),*), $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file, $($arg: $type),*) -> c_int {
            // SAFETY: an open handle of this VFS; the arguments go to the default VFS unchanged.
            unsafe {
                let wal = wal(file);
                let rc = release(wal);
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
                match methods(wal).$field {
                    Some(method) => method(wal.inner, $($arg),*),
                    None => $missing,
                }
            }
        }
    };
}

released_then!(truncate, xTruncate, (size: i64), ffi::SQLITE_IOERR_TRUNCATE);
released_then!(sync, xSync, (flags: c_int), ffi::SQLITE_IOERR_FSYNC);
released_then!(file_size, xFileSize, (size: *mut i64), ffi::SQLITE_IOERR_FSTAT);
released_then!(lock, xLock, (level: c_int), ffi::SQLITE_OK);
released_then!(unlock, xUnlock, (level: c_int), ffi::SQLITE_OK);
released_then!(
    check_reserved_lock,
    xCheckReservedLock,
    (out: *mut c_int),
    ffi::SQLITE_OK
);
released_then!(
    file_control,
    xFileControl,
    (op: c_int, arg: *mut c_void),
    ffi::SQLITE_NOTFOUND
);

unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: an open handle of this VFS.
    unsafe {
        let wal = wal(file);
        methods(wal)
            .xSectorSize
            .map_or(4096, |size| size(wal.inner))
    }
}

unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: an open handle of this VFS.
    unsafe {
        let wal = wal(file);
        methods(wal)
            .xDeviceCharacteristics
            .map_or(0, |characteristics| characteristics(wal.inner))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use rusqlite::{Connection, OpenFlags};

    use super::*;

    thread_local! {
        /// Writes that reached the default VFS's WAL file from this thread.
        static WRITES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    pub(super) fn count_write() {
        WRITES.with(|writes| writes.set(writes.get() + 1));
    }

    fn writes() -> u64 {
        WRITES.with(std::cell::Cell::get)
    }

    static NEXT: AtomicU64 = AtomicU64::new(0);

    fn writer(path: &std::path::Path) -> Connection {
        register().unwrap();
        let conn = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), NAME).unwrap();
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
            .unwrap();
        conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL);
             CREATE INDEX t_body ON t (body);",
        )
        .unwrap();
        conn
    }

    fn body(id: u64) -> Vec<u8> {
        let seed = NEXT.fetch_add(1, Ordering::Relaxed);
        (0..1000u64)
            .map(|n| (n.wrapping_mul(31) ^ id ^ seed) as u8)
            .collect()
    }

    /// What a connection through SQLite's own VFS sees: rows, the sum of their lengths, and the
    /// integrity check.
    fn seen_by_default_vfs(path: &std::path::Path) -> (i64, i64, String) {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let (rows, bytes) = conn
            .query_row(
                "SELECT count(*), coalesce(sum(length(body)), 0) FROM t",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        (rows, bytes, check)
    }

    /// The database and its WAL copied while the writer still has them open, as a crash leaves
    /// them: opening the copy replays the WAL, checksums and all.
    fn crash_copy(dir: &tempfile::TempDir) -> std::path::PathBuf {
        let copy = dir.path().join("copy.db");
        std::fs::copy(dir.path().join("w.db"), &copy).unwrap();
        std::fs::copy(dir.path().join("w.db-wal"), dir.path().join("copy.db-wal")).unwrap();
        copy
    }

    #[test]
    fn a_commit_reaches_the_wal_in_one_write_and_every_reader_sees_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let mut conn = writer(&path);
        let wal_before = std::fs::metadata(dir.path().join("w.db-wal"))
            .unwrap()
            .len();
        let before = writes();
        let tx = conn.transaction().unwrap();
        for id in 0..200u64 {
            tx.execute(
                "INSERT INTO t (id, body) VALUES (?1, ?2)",
                (id as i64, body(id)),
            )
            .unwrap();
        }
        tx.commit().unwrap();
        // Hundreds of frames: written in pieces of MAX_WRITE bytes, where SQLite alone makes two
        // writes per frame.
        let appended = std::fs::metadata(dir.path().join("w.db-wal"))
            .unwrap()
            .len()
            - wal_before;
        assert!(appended > 200 * 4096, "{appended}");
        assert_eq!(writes() - before, appended.div_ceil(MAX_WRITE as u64));
        assert_eq!(seen_by_default_vfs(&path), (200, 200_000, "ok".to_owned()));
        assert_eq!(
            seen_by_default_vfs(&crash_copy(&dir)),
            (200, 200_000, "ok".to_owned())
        );
    }

    #[test]
    fn spilled_pages_rewritten_checksums_and_rollbacks_leave_a_wal_that_replays_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let mut conn = writer(&path);
        // A cache of a few pages makes SQLite spill dirty pages to the WAL mid-transaction,
        // overwrite them in place when they change again, and rewrite the checksums at commit.
        conn.pragma_update(None, "cache_size", 4).unwrap();
        for round in 0..3u64 {
            let tx = conn.transaction().unwrap();
            for id in 0..300u64 {
                tx.execute(
                    "INSERT OR REPLACE INTO t (id, body) VALUES (?1, ?2)",
                    (id as i64, body(id + round)),
                )
                .unwrap();
            }
            for id in (0..300u64).step_by(3) {
                tx.execute(
                    "UPDATE t SET body = ?2 WHERE id = ?1",
                    (id as i64, body(id)),
                )
                .unwrap();
            }
            tx.commit().unwrap();
        }
        // A transaction that spills and then rolls back leaves nothing behind.
        let tx = conn.transaction().unwrap();
        for id in 300..600u64 {
            tx.execute(
                "INSERT INTO t (id, body) VALUES (?1, ?2)",
                (id as i64, body(id)),
            )
            .unwrap();
        }
        tx.rollback().unwrap();
        conn.execute("INSERT INTO t (id, body) VALUES (1000, ?1)", [body(1000)])
            .unwrap();
        let expected = (301, 301_000, "ok".to_owned());
        assert_eq!(seen_by_default_vfs(&path), expected);
        assert_eq!(seen_by_default_vfs(&crash_copy(&dir)), expected);
        drop(conn);
        assert_eq!(seen_by_default_vfs(&path), expected);
    }
}
