//! Source readers: one netCDF/HDF5 file in, one `VirtualDataset` out (all chunk
//! references pointing at file 0).

pub mod classic;
pub mod filters;
pub mod ncapi;
pub mod netcdf3;
pub mod netcdf4;

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};
use crate::model::VirtualDataset;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// netCDF classic, 64-bit offset or 64-bit data (CDF-1, CDF-2, CDF-5).
    Classic(u8),
    /// HDF5, which includes netCDF-4.
    Hdf5,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Classic(1) => "netCDF-3 classic (CDF-1)",
            Format::Classic(2) => "netCDF-3 64-bit offset (CDF-2)",
            Format::Classic(_) => "netCDF-3 64-bit data (CDF-5)",
            Format::Hdf5 => "netCDF-4/HDF5",
        }
    }
}

const HDF5_MAGIC: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

/// Refuse anything but a regular file before opening it: opening a FIFO
/// named `x.nc` blocks forever, and a device or socket is no dataset.
pub fn check_regular(path: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let t = std::fs::metadata(path).map_err(|e| Error::input_io(path, e))?.file_type();
    let what = if t.is_file() {
        return Ok(());
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    };
    Err(Error::Unreadable { path: path.to_path_buf(), source: std::io::Error::other(format!("is {what}, not a netCDF/HDF5 file; remove it from the file list")) })
}

/// What a file that is not netCDF/HDF5 looks like, from its first bytes,
/// named by kind only.
fn describe(head: &[u8]) -> &'static str {
    match head {
        [] => "an empty file",
        [b'G', b'R', b'I', b'B', ..] => "a GRIB file",
        [b'P', b'K', 3, 4, ..] => "a zip archive",
        [0x1f, 0x8b, ..] => "a gzip file",
        [b'C', b'D', b'F', ..] => "a netCDF-3 header of an unknown version",
        h if h.iter().all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace()) => "text",
        _ => "unknown binary data",
    }
}

/// Identify a file by its first bytes. The HDF5 superblock may follow a user
/// block of 512, 1024, 2048... bytes.
pub fn detect(path: &Path) -> Result<Format> {
    check_regular(path)?;
    let mut f = std::fs::File::open(path).map_err(|e| Error::input_io(path, e))?;
    let mut head = [0u8; 8];
    let n = read_full(&mut f, &mut head).map_err(|e| Error::input_io(path, e))?;
    if n >= 4 && &head[..3] == b"CDF" && matches!(head[3], 1 | 2 | 5) {
        return Ok(Format::Classic(head[3]));
    }
    if n == 8 && &head == HDF5_MAGIC {
        return Ok(Format::Hdf5);
    }
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut at = 512u64;
    while at + 8 <= len {
        use std::io::{Seek, SeekFrom};
        f.seek(SeekFrom::Start(at)).map_err(|e| Error::input_io(path, e))?;
        let mut m = [0u8; 8];
        if read_full(&mut f, &mut m).map_err(|e| Error::input_io(path, e))? == 8 && &m == HDF5_MAGIC {
            return Ok(Format::Hdf5);
        }
        at *= 2;
    }
    if n == 0 {
        return Err(Error::corrupt(path, "the file is empty"));
    }
    Err(Error::UnknownFormat { path: path.to_path_buf(), magic: describe(&head[..n]).into() })
}

fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Read one source file's structure and chunk references, and the values of
/// the coordinates named in `want` (and of any along an unlimited dimension).
pub fn read_file(path: &Path, want: &[String]) -> Result<VirtualDataset> {
    match detect(path)? {
        Format::Classic(_) => classic::read(path, want),
        Format::Hdf5 => netcdf4::read(path, want),
    }
}

/// The structure of one source file only (no chunk references): see
/// [`netcdf4::read_structure`].
pub fn read_structure(path: &Path, want: &[String]) -> Result<VirtualDataset> {
    match detect(path)? {
        Format::Classic(_) => classic::read(path, want),
        Format::Hdf5 => netcdf4::read_structure(path, want),
    }
}

pub use netcdf4::{read_decoded, MAX_DECODED_INLINE};

/// Start the HDF5 library now. Its first use initialises every package, and
/// an allocation failing half-way through that (a tight memory limit) left
/// HDF5 looping for ever in its own lists, in the middle of a run. Started
/// first, such a failure is a clear out-of-memory error before any work.
pub fn start_libraries() -> crate::error::Result<()> {
    let _g = hdf5_sys::LOCK.lock();
    // SAFETY: H5open only initialises the library (idempotent); the lock
    // keeps other HDF5 callers out meanwhile.
    if unsafe { hdf5_sys::h5::H5open() } < 0 {
        return Err(crate::error::Error::Resources("the HDF5 library could not start (out of memory)".into()));
    }
    Ok(())
}

/// Whether the combiner needs this root variable's values.
pub(crate) fn wanted_coord(v: &crate::model::Variable, unlimited: bool, want: &[String]) -> bool {
    v.dims.len() == 1 && v.dims[0] == v.name && (unlimited || want.contains(&v.name))
}

/// Every value of a root-group numeric variable as f64, read through netCDF-C
/// (which reads every format padocc supports). Used for coordinates: small.
pub fn read_values(path: &Path, var: &str, shape: &[u64]) -> Result<Vec<f64>> {
    let f = ncapi::NcFile::open(path).map_err(|e| Error::source(path, e))?;
    let id = ncapi::var_id(f.ncid, var).map_err(|e| Error::corrupt(path, format!("variable '{var}': {e}")))?;
    ncapi::get_all_f64(f.ncid, id, shape).map_err(|e| Error::corrupt(path, format!("variable '{var}': {e}")))
}
