//! HDF5 filters padocc registers in-process so that netCDF-C can read sources
//! compressed with them (validation reads every source value through
//! netCDF-C, and no HDF5 filter plugins are installed on a fresh machine).
//! Decode-only: padocc never writes these files.

use std::ffi::{c_uint, c_void};
use std::sync::Once;

use hdf5_sys::h5z::{H5Z_class2_t, H5Zregister, H5Z_CLASS_T_VERS, H5Z_FLAG_REVERSE};

const ZSTD_ID: i32 = 32015;

/// Register the filters once per process.
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let cls = H5Z_class2_t {
            version: H5Z_CLASS_T_VERS as i32,
            id: ZSTD_ID,
            encoder_present: 0,
            decoder_present: 1,
            name: c"zstd (padocc, decode only)".as_ptr(),
            can_apply: None,
            set_local: None,
            filter: Some(zstd_filter),
        };
        let _g = hdf5_sys::LOCK.lock();
        // SAFETY: the class is copied by HDF5; the name is a static string.
        unsafe { H5Zregister(std::ptr::addr_of!(cls).cast()) };
    });
}

/// HDF5 filter callback: replace `*buf` (`nbytes` of zstd frame) by the
/// decompressed bytes; 0 means failure.
unsafe extern "C" fn zstd_filter(flags: c_uint, _cd_nelmts: usize, _cd_values: *const c_uint, nbytes: usize, buf_size: *mut usize, buf: *mut *mut c_void) -> usize {
    if flags & H5Z_FLAG_REVERSE == 0 {
        return 0;
    }
    // SAFETY: HDF5 hands us a buffer of at least nbytes.
    let input = unsafe { std::slice::from_raw_parts(*buf as *const u8, nbytes) };
    let Ok(out) = std::panic::catch_unwind(|| zstd::stream::decode_all(input)) else { return 0 };
    let Ok(out) = out else { return 0 };
    // SAFETY: the new buffer comes from HDF5's allocator, as the old one did.
    unsafe {
        let new = hdf5_sys::h5::H5allocate_memory(out.len().max(1), 0) as *mut u8;
        if new.is_null() {
            return 0;
        }
        std::ptr::copy_nonoverlapping(out.as_ptr(), new, out.len());
        hdf5_sys::h5::H5free_memory(*buf);
        *buf = new.cast();
        *buf_size = out.len();
    }
    out.len()
}
