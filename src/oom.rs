//! When memory runs out in this process's own code. Rust's allocator cannot
//! report a failed allocation as an error, so the process must end; what it
//! can do first is record why. A phase arms this with the status rows it
//! would write for "out of memory" (rendered while memory was there); the
//! allocator in the binary, on a failed allocation, appends those rows with
//! plain system calls, says so on stderr, and exits with code 8 instead of
//! aborting with no status at all. netCDF-C and HDF5 call `abort()` when
//! their own `malloc` fails in places they cannot recover from: while a
//! phase is armed, SIGABRT is taken the same way. A SIGSEGV (what C code that
//! does not check `malloc` does under a memory limit, but also any crash) is
//! recorded as a crash (`Failed-Crashed`), with what to try.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::CString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

struct Slot {
    id: u64,
    memory: Vec<(CString, Vec<u8>)>,
    crash: Vec<(CString, Vec<u8>)>,
    what: Vec<u8>,
}

static SLOTS: Mutex<Vec<Slot>> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(1);

/// Rows to write if memory runs out while this guard lives.
pub struct Armed(u64);

/// Arm: `memory` and `crash` are (file, bytes to append) for memory running
/// out and for a crash; `what` names the work in the message (e.g. `p0 (compute)`).
pub fn arm(memory: Vec<(PathBuf, Vec<u8>)>, crash: Vec<(PathBuf, Vec<u8>)>, what: &str) -> Armed {
    static HANDLER: std::sync::Once = std::sync::Once::new();
    HANDLER.call_once(|| {
        // SAFETY: installs a handler that only writes and exits.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_abort as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGABRT, &sa, std::ptr::null_mut());
            let mut sc: libc::sigaction = std::mem::zeroed();
            sc.sa_sigaction = on_crash as *const () as usize;
            // A handler may have to run when the stack is what failed.
            sc.sa_flags = libc::SA_ONSTACK;
            libc::sigemptyset(&mut sc.sa_mask);
            libc::sigaction(libc::SIGSEGV, &sc, std::ptr::null_mut());
            libc::sigaction(libc::SIGBUS, &sc, std::ptr::null_mut());
        }
    });
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let c = |w: Vec<(PathBuf, Vec<u8>)>| w.into_iter().filter_map(|(p, b)| CString::new(p.into_os_string().into_encoded_bytes()).ok().map(|c| (c, b))).collect();
    SLOTS.lock().unwrap_or_else(|e| e.into_inner()).push(Slot { id, memory: c(memory), crash: c(crash), what: what.as_bytes().to_vec() });
    Armed(id)
}

impl Drop for Armed {
    fn drop(&mut self) {
        SLOTS.lock().unwrap_or_else(|e| e.into_inner()).retain(|s| s.id != self.0);
    }
}

fn write_all(fd: libc::c_int, mut b: &[u8]) {
    while !b.is_empty() {
        // SAFETY: writes from a live slice.
        let n = unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) };
        if n <= 0 {
            return;
        }
        b = &b[n as usize..];
    }
}

extern "C" fn on_abort(_sig: libc::c_int) {
    write_all(2, b"\npadocc: error: a library aborted (netCDF-C and HDF5 do when their memory runs out)");
    record_and_exit(false)
}

extern "C" fn on_crash(_sig: libc::c_int) {
    write_all(2, b"\npadocc: error: crashed (SIGSEGV or SIGBUS)");
    record_and_exit(true)
}

/// Record, tell, exit: called by the allocator when an allocation failed.
/// Allocates nothing.
pub fn out_of_memory() -> ! {
    write_all(2, b"\npadocc: error: out of memory: an allocation failed");
    record_and_exit(false)
}

fn record_and_exit(crash: bool) -> ! {
    if let Ok(slots) = SLOTS.try_lock() {
        for s in slots.iter() {
            write_all(2, b" while running ");
            write_all(2, &s.what);
            for (path, bytes) in if crash { &s.crash } else { &s.memory } {
                // SAFETY: a NUL-terminated path; the descriptor is closed below.
                let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC, 0o664) };
                if fd >= 0 {
                    write_all(fd, bytes);
                    unsafe { libc::close(fd) };
                }
            }
        }
        if !slots.is_empty() {
            write_all(2, if crash { b"; recorded as Failed-Crashed" } else { b"; recorded as Failed-MemoryError" });
        }
    }
    if crash {
        write_all(2, b". Under a memory limit this is most often netCDF-C or HDF5 running out of memory: rerun with more memory (-M, --mem-allowed) or fewer projects at once (-j); if it happens with plenty of memory, please report it.\n");
        // SAFETY: as below.
        unsafe { libc::_exit(crate::error::exit::INTERNAL) }
    }
    write_all(2, b". The data is not at fault: give the run more memory (-M with --parallel, --mem-allowed) or run fewer projects at once (-j).\n");
    // SAFETY: ends the process without running anything that could allocate.
    unsafe { libc::_exit(crate::error::exit::RESOURCES) }
}

/// The system allocator, ending the process through [`out_of_memory`] when
/// an allocation fails. The binary installs it as its global allocator.
pub struct Allocator;

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            out_of_memory();
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            out_of_memory();
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            out_of_memory();
        }
        p
    }
}
