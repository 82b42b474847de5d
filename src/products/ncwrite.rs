//! A small safe layer over netCDF-C's writing API, for the CFA aggregation
//! files padocc writes. Like the reading layer (`source::ncapi`), every call
//! takes the global HDF5/netCDF lock.

use std::ffi::{c_char, c_int, CString};
use std::path::Path;

use netcdf_sys as nc;

pub type NcResult<T> = std::result::Result<T, String>;

fn check(code: c_int, what: &str) -> NcResult<()> {
    if code == nc::NC_NOERR {
        return Ok(());
    }
    // SAFETY: nc_strerror returns a pointer to a static string.
    let msg = unsafe { std::ffi::CStr::from_ptr(nc::nc_strerror(code)) }.to_string_lossy().into_owned();
    Err(format!("{what}: {msg}"))
}

fn cstr(s: &str) -> NcResult<CString> {
    CString::new(s).map_err(|_| format!("'{s}' contains a NUL byte"))
}

/// A netCDF-4 file open for writing; closed (and so flushed) on `close` or drop.
pub struct NcOut {
    pub ncid: c_int,
    open: bool,
}

impl NcOut {
    /// Create (clobbering) a netCDF-4 file.
    pub fn create(path: &Path) -> NcResult<NcOut> {
        let p = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| "path contains a NUL byte".to_string())?;
        let mut ncid = 0;
        let _g = hdf5_sys::LOCK.lock();
        // SAFETY: valid C string and out-pointer.
        check(unsafe { nc::nc_create(p.as_ptr(), nc::NC_NETCDF4 | nc::NC_CLOBBER, &mut ncid) }, "nc_create")?;
        Ok(NcOut { ncid, open: true })
    }

    /// Open an existing file for changes.
    pub fn open_write(path: &Path) -> NcResult<NcOut> {
        let p = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| "path contains a NUL byte".to_string())?;
        let mut ncid = 0;
        let _g = hdf5_sys::LOCK.lock();
        // SAFETY: valid C string and out-pointer.
        check(unsafe { nc::nc_open(p.as_ptr(), nc::NC_WRITE, &mut ncid) }, "nc_open")?;
        Ok(NcOut { ncid, open: true })
    }

    /// The same file at group `gid` (an id from [`NcOut::def_grp`]); closing
    /// stays with the file's own handle.
    pub fn in_group(&self, gid: c_int) -> NcOut {
        NcOut { ncid: gid, open: false }
    }

    /// Define a subgroup of this group; its id.
    pub fn def_grp(&self, name: &str) -> NcResult<c_int> {
        let n = cstr(name)?;
        let mut id = 0;
        let _g = hdf5_sys::LOCK.lock();
        // SAFETY: valid id, C string and out-pointer.
        check(unsafe { nc::nc_def_grp(self.ncid, n.as_ptr(), &mut id) }, &format!("nc_def_grp {name}"))?;
        Ok(id)
    }

    pub fn def_dim(&self, name: &str, len: u64) -> NcResult<c_int> {
        let n = cstr(name)?;
        let mut id = 0;
        let _g = hdf5_sys::LOCK.lock();
        // SAFETY: valid arguments.
        check(unsafe { nc::nc_def_dim(self.ncid, n.as_ptr(), len as usize, &mut id) }, &format!("nc_def_dim {name}"))?;
        Ok(id)
    }

    pub fn def_var(&self, name: &str, xtype: nc::nc_type, dimids: &[c_int]) -> NcResult<c_int> {
        let n = cstr(name)?;
        let mut id = 0;
        let _g = hdf5_sys::LOCK.lock();
        // SAFETY: dimids points at dimids.len() ids.
        check(unsafe { nc::nc_def_var(self.ncid, n.as_ptr(), xtype, dimids.len() as c_int, dimids.as_ptr(), &mut id) }, &format!("nc_def_var {name}"))?;
        Ok(id)
    }

    /// Copy an attribute, with its exact type, from an open file.
    pub fn copy_att(&self, from_ncid: c_int, from_varid: c_int, name: &str, varid: c_int) -> NcResult<()> {
        let n = cstr(name)?;
        let _g = hdf5_sys::LOCK.lock();
        // SAFETY: valid ids and C string.
        check(unsafe { nc::nc_copy_att(from_ncid, from_varid, n.as_ptr(), self.ncid, varid) }, &format!("copying attribute {name}"))
    }

    pub fn put_att_text(&self, varid: c_int, name: &str, value: &str) -> NcResult<()> {
        let n = cstr(name)?;
        let _g = hdf5_sys::LOCK.lock();
        // SAFETY: value.len() bytes are readable.
        check(unsafe { nc::nc_put_att_text(self.ncid, varid, n.as_ptr(), value.len(), value.as_ptr().cast()) }, &format!("writing attribute {name}"))
    }

    /// Write an attribute of `xtype` from native bytes.
    pub fn put_att_raw(&self, varid: c_int, name: &str, xtype: nc::nc_type, n_items: usize, bytes: &[u8]) -> NcResult<()> {
        let n = cstr(name)?;
        let _g = hdf5_sys::LOCK.lock();
        // SAFETY: bytes holds n_items values of xtype.
        check(unsafe { nc::nc_put_att(self.ncid, varid, n.as_ptr(), xtype, n_items, bytes.as_ptr().cast()) }, &format!("writing attribute {name}"))
    }

    /// Write an attribute from the model: text, 64-bit integers or doubles,
    /// or a list of strings.
    pub fn put_attr(&self, varid: c_int, name: &str, value: &crate::model::AttrValue) -> NcResult<()> {
        use crate::model::AttrValue;
        match value {
            AttrValue::Str(s) => self.put_att_text(varid, name, s),
            AttrValue::Ints(v) => self.put_att_raw(varid, name, nc::NC_INT64, v.len(), &v.iter().flat_map(|x| x.to_ne_bytes()).collect::<Vec<u8>>()),
            AttrValue::UInts(v) => self.put_att_raw(varid, name, nc::NC_UINT64, v.len(), &v.iter().flat_map(|x| x.to_ne_bytes()).collect::<Vec<u8>>()),
            AttrValue::Floats(v) => self.put_att_raw(varid, name, nc::NC_DOUBLE, v.len(), &v.iter().flat_map(|x| x.to_ne_bytes()).collect::<Vec<u8>>()),
            AttrValue::Strs(v) => {
                let owned: Vec<CString> = v.iter().map(|s| cstr(s)).collect::<NcResult<_>>()?;
                let ptrs: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
                let n = cstr(name)?;
                let _g = hdf5_sys::LOCK.lock();
                // SAFETY: ptrs holds v.len() NUL-terminated strings kept alive by `owned`.
                check(unsafe { nc::nc_put_att_string(self.ncid, varid, n.as_ptr(), ptrs.len(), ptrs.as_ptr() as *mut *const c_char) }, &format!("writing attribute {name}"))
            }
        }
    }

    /// Enter define mode (a netCDF-3 file needs it to change attributes).
    pub fn redef(&self) -> NcResult<()> {
        let _g = hdf5_sys::LOCK.lock();
        // SAFETY: valid ncid.
        let rc = unsafe { nc::nc_redef(self.ncid) };
        if rc == nc::NC_EINDEFINE {
            return Ok(());
        }
        check(rc, "nc_redef")
    }

    /// Delete an attribute; one that is not there is not an error.
    pub fn del_att(&self, varid: c_int, name: &str) -> NcResult<()> {
        let n = cstr(name)?;
        let _g = hdf5_sys::LOCK.lock();
        // SAFETY: valid id and C string.
        let rc = unsafe { nc::nc_del_att(self.ncid, varid, n.as_ptr()) };
        if rc == nc::NC_ENOTATT {
            return Ok(());
        }
        check(rc, &format!("deleting attribute {name}"))
    }

    pub fn enddef(&self) -> NcResult<()> {
        let _g = hdf5_sys::LOCK.lock();
        // SAFETY: valid ncid.
        check(unsafe { nc::nc_enddef(self.ncid) }, "nc_enddef")
    }

    /// Write a hyperslab from native bytes.
    pub fn put_vara(&self, varid: c_int, start: &[u64], count: &[u64], bytes: &[u8]) -> NcResult<()> {
        let s: Vec<usize> = start.iter().map(|x| *x as usize).collect();
        let c: Vec<usize> = count.iter().map(|x| *x as usize).collect();
        let _g = hdf5_sys::LOCK.lock();
        // SAFETY: bytes holds product(count) values of the variable's type.
        check(unsafe { nc::nc_put_vara(self.ncid, varid, s.as_ptr(), c.as_ptr(), bytes.as_ptr().cast()) }, "nc_put_vara")
    }

    /// Write every value of a string variable (C order).
    pub fn put_strings(&self, varid: c_int, shape: &[u64], values: &[String]) -> NcResult<()> {
        let owned: Vec<CString> = values.iter().map(|s| cstr(s)).collect::<NcResult<_>>()?;
        let mut ptrs: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        let start = vec![0usize; shape.len()];
        let count: Vec<usize> = shape.iter().map(|x| *x as usize).collect();
        let _g = hdf5_sys::LOCK.lock();
        // SAFETY: ptrs holds product(count) NUL-terminated strings kept alive by `owned`.
        check(unsafe { nc::nc_put_vara_string(self.ncid, varid, start.as_ptr(), count.as_ptr(), ptrs.as_mut_ptr()) }, "nc_put_vara_string")
    }

    pub fn close(mut self) -> NcResult<()> {
        self.open = false;
        let _g = hdf5_sys::LOCK.lock();
        // SAFETY: valid ncid, closed once.
        check(unsafe { nc::nc_close(self.ncid) }, "nc_close")
    }
}

impl Drop for NcOut {
    fn drop(&mut self) {
        if self.open {
            let _g = hdf5_sys::LOCK.lock();
            // SAFETY: valid ncid, closed once.
            unsafe { nc::nc_close(self.ncid) };
        }
    }
}

/// The netCDF type of a numpy kind and item size.
pub fn nc_type_of(kind: u8, size: usize) -> Option<nc::nc_type> {
    Some(match (kind, size) {
        (b'f', 4) => nc::NC_FLOAT,
        (b'f', 8) => nc::NC_DOUBLE,
        (b'i', 1) => nc::NC_BYTE,
        (b'i', 2) => nc::NC_SHORT,
        (b'i', 4) => nc::NC_INT,
        (b'i', 8) => nc::NC_INT64,
        (b'u', 1) | (b'b', 1) => nc::NC_UBYTE,
        (b'u', 2) => nc::NC_USHORT,
        (b'u', 4) => nc::NC_UINT,
        (b'u', 8) => nc::NC_UINT64,
        (b'S', 1) => nc::NC_CHAR,
        _ => return None,
    })
}
