//! A small safe layer over the netCDF-C metadata API.
//!
//! The `netcdf` crate hides group and variable ids and cannot read attributes of
//! user-defined types (h5netcdf writes an enum-typed `_FillValue`), so the reader
//! talks to netCDF-C through `netcdf-sys` here. Every call takes the HDF5/netCDF
//! global lock (the one the `hdf5` and `netcdf` crates share), because neither C
//! library is built thread-safe.

use std::ffi::{c_char, c_int, CStr, CString};
use std::path::Path;

use netcdf_sys as nc;

use crate::model::AttrValue;

pub type NcResult<T> = std::result::Result<T, String>;

fn check(code: c_int, what: &str) -> NcResult<()> {
    if code == nc::NC_NOERR {
        return Ok(());
    }
    // SAFETY: nc_strerror returns a pointer to a static string.
    let msg = unsafe { CStr::from_ptr(nc::nc_strerror(code)) }.to_string_lossy().into_owned();
    Err(format!("{what}: {msg}"))
}

fn name_buf() -> Vec<c_char> {
    vec![0; nc::NC_MAX_NAME as usize + 1]
}

fn buf_to_string(buf: &[c_char]) -> String {
    // SAFETY: netCDF-C NUL-terminates names within NC_MAX_NAME + 1 bytes.
    unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
}

extern "C" {
    // Always compiled into netCDF-C (libdispatch/dfile.c); netcdf-sys only
    // declares it for builds with mmap support.
    fn nc_open_mem(path: *const c_char, mode: c_int, size: usize, memory: *mut std::ffi::c_void, ncidp: *mut c_int) -> c_int;
}

/// An open netCDF file (any format netCDF-C reads), closed on drop.
pub struct NcFile {
    pub ncid: c_int,
    // Must outlive the netCDF id when opened from memory.
    _map: Option<memmap2::Mmap>,
    // Holds the descriptor a path netCDF-C would rewrite is opened through.
    _file: Option<std::fs::File>,
}

impl NcFile {
    /// Open a memory-mapped file. netCDF-C's `nc_open` reads a 4 MiB block just
    /// to check the magic number; from memory it reads 8 bytes, and with
    /// `NC_MEMIO_LOCKED` (which `nc_open_mem` sets) HDF5 works on the mapping
    /// without copying it, touching only the pages it needs.
    pub fn open_mapped(path: &Path, map: memmap2::Mmap) -> NcResult<NcFile> {
        let cpath = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| "path contains a NUL byte".to_string())?;
        let mut ncid = 0;
        let _g = hdf5_sys::LOCK.lock();
        // SAFETY: the mapping is kept alive in the returned NcFile; netCDF-C never
        // writes to it (NC_NOWRITE) nor frees it (NC_MEMIO_LOCKED).
        check(unsafe { nc_open_mem(cpath.as_ptr(), nc::NC_NOWRITE, map.len(), map.as_ptr() as *mut _, &mut ncid) }, "nc_open_mem")?;
        Ok(NcFile { ncid, _map: Some(map), _file: None })
    }

    pub fn open(path: &Path) -> NcResult<NcFile> {
        // netCDF-C would block on a FIFO: only regular files are opened.
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            return Err(format!("{} is not a regular file", path.display()));
        }
        // netCDF-C rewrites backslashes in paths as Windows separators, so a
        // healthy `a\b.nc` fails to open: such a file is opened here and handed
        // over as /proc/self/fd/N.
        let (file, opened) = match path.as_os_str().as_encoded_bytes().contains(&b'\\') {
            true => {
                let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
                let p = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&f));
                (Some(f), std::path::PathBuf::from(p))
            }
            false => (None, path.to_path_buf()),
        };
        let cpath = CString::new(opened.as_os_str().as_encoded_bytes()).map_err(|_| "path contains a NUL byte".to_string())?;
        let mut ncid = 0;
        let _g = hdf5_sys::LOCK.lock();
        // SAFETY: valid C string and out-pointer.
        check(unsafe { nc::nc_open(cpath.as_ptr(), nc::NC_NOWRITE, &mut ncid) }, "nc_open")?;
        Ok(NcFile { ncid, _map: None, _file: file })
    }
}

impl Drop for NcFile {
    fn drop(&mut self) {
        let _g = hdf5_sys::LOCK.lock();
        // SAFETY: ncid came from a successful nc_open.
        unsafe { nc::nc_close(self.ncid) };
    }
}

/// A few netCDF files kept open, the least recently used closed first: each
/// costs a descriptor and netCDF-C's chunk caches, and opening one again costs
/// about a millisecond. Shared by readers that go back and forth between
/// files (the Zarr writer's regions, CFA fragments).
pub struct OpenFiles<K> {
    capacity: usize,
    open: std::sync::Mutex<Vec<(K, std::sync::Arc<NcFile>)>>,
}

impl<K: PartialEq> OpenFiles<K> {
    pub fn new(capacity: usize) -> OpenFiles<K> {
        OpenFiles { capacity: capacity.max(1), open: std::sync::Mutex::new(Vec::new()) }
    }

    /// The file for `key`, opened with `open` if it is not open already.
    pub fn get<E>(&self, key: K, open: impl FnOnce() -> std::result::Result<NcFile, E>) -> std::result::Result<std::sync::Arc<NcFile>, E> {
        let mut files = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = files.iter().position(|(k, _)| *k == key) {
            let entry = files.remove(i);
            let f = entry.1.clone();
            files.push(entry);
            return Ok(f);
        }
        let f = std::sync::Arc::new(open()?);
        if files.len() >= self.capacity {
            files.remove(0);
        }
        files.push((key, f.clone()));
        Ok(f)
    }
}

pub fn group_name(ncid: c_int) -> NcResult<String> {
    let mut buf = name_buf();
    let _g = hdf5_sys::LOCK.lock();
    check(unsafe { nc::nc_inq_grpname(ncid, buf.as_mut_ptr()) }, "nc_inq_grpname")?;
    Ok(buf_to_string(&buf))
}

pub fn subgroups(ncid: c_int) -> NcResult<Vec<c_int>> {
    let _g = hdf5_sys::LOCK.lock();
    let mut n = 0;
    check(unsafe { nc::nc_inq_grps(ncid, &mut n, std::ptr::null_mut()) }, "nc_inq_grps")?;
    let mut ids = vec![0; n.max(0) as usize];
    check(unsafe { nc::nc_inq_grps(ncid, &mut n, ids.as_mut_ptr()) }, "nc_inq_grps")?;
    Ok(ids)
}

pub fn var_ids(ncid: c_int) -> NcResult<Vec<c_int>> {
    let _g = hdf5_sys::LOCK.lock();
    let mut n = 0;
    check(unsafe { nc::nc_inq_varids(ncid, &mut n, std::ptr::null_mut()) }, "nc_inq_varids")?;
    let mut ids = vec![0; n.max(0) as usize];
    check(unsafe { nc::nc_inq_varids(ncid, &mut n, ids.as_mut_ptr()) }, "nc_inq_varids")?;
    Ok(ids)
}

/// Dimensions defined in this group (not its parents): (id, name, length, unlimited).
pub fn group_dims(ncid: c_int) -> NcResult<Vec<(c_int, String, u64, bool)>> {
    let _g = hdf5_sys::LOCK.lock();
    let mut n = 0;
    check(unsafe { nc::nc_inq_dimids(ncid, &mut n, std::ptr::null_mut(), 0) }, "nc_inq_dimids")?;
    let mut ids = vec![0; n.max(0) as usize];
    check(unsafe { nc::nc_inq_dimids(ncid, &mut n, ids.as_mut_ptr(), 0) }, "nc_inq_dimids")?;
    let mut nu = 0;
    check(unsafe { nc::nc_inq_unlimdims(ncid, &mut nu, std::ptr::null_mut()) }, "nc_inq_unlimdims")?;
    let mut unl = vec![0; nu.max(0) as usize];
    check(unsafe { nc::nc_inq_unlimdims(ncid, &mut nu, unl.as_mut_ptr()) }, "nc_inq_unlimdims")?;
    ids.iter()
        .map(|&id| {
            let (name, len) = dim(ncid, id)?;
            Ok((id, name, len, unl.contains(&id)))
        })
        .collect()
}

pub fn dim(ncid: c_int, dimid: c_int) -> NcResult<(String, u64)> {
    let mut buf = name_buf();
    let mut len = 0usize;
    let _g = hdf5_sys::LOCK.lock();
    check(unsafe { nc::nc_inq_dim(ncid, dimid, buf.as_mut_ptr(), &mut len) }, "nc_inq_dim")?;
    Ok((buf_to_string(&buf), len as u64))
}

pub struct VarInfo {
    pub name: String,
    pub xtype: nc::nc_type,
    pub dimids: Vec<c_int>,
}

pub fn var_info(ncid: c_int, varid: c_int) -> NcResult<VarInfo> {
    let mut buf = name_buf();
    let mut xtype = 0;
    let mut ndims = 0;
    let _g = hdf5_sys::LOCK.lock();
    check(unsafe { nc::nc_inq_var(ncid, varid, buf.as_mut_ptr(), &mut xtype, &mut ndims, std::ptr::null_mut(), std::ptr::null_mut()) }, "nc_inq_var")?;
    let mut dimids = vec![0; ndims.max(0) as usize];
    check(unsafe { nc::nc_inq_var(ncid, varid, std::ptr::null_mut(), std::ptr::null_mut(), &mut ndims, dimids.as_mut_ptr(), std::ptr::null_mut()) }, "nc_inq_var")?;
    Ok(VarInfo { name: buf_to_string(&buf), xtype, dimids })
}

/// (class, base type, size) of a user-defined type; for atomic types class is the type itself.
pub fn type_info(ncid: c_int, xtype: nc::nc_type) -> NcResult<(c_int, nc::nc_type, usize)> {
    if xtype <= nc::NC_STRING {
        return Ok((xtype, xtype, atomic_size(xtype)));
    }
    let mut size = 0usize;
    let mut base = 0;
    let mut nfields = 0usize;
    let mut class = 0;
    let mut buf = name_buf();
    let _g = hdf5_sys::LOCK.lock();
    check(unsafe { nc::nc_inq_user_type(ncid, xtype, buf.as_mut_ptr(), &mut size, &mut base, &mut nfields, &mut class) }, "nc_inq_user_type")?;
    Ok((class, base, size))
}

fn atomic_size(xtype: nc::nc_type) -> usize {
    match xtype {
        nc::NC_BYTE | nc::NC_UBYTE | nc::NC_CHAR => 1,
        nc::NC_SHORT | nc::NC_USHORT => 2,
        nc::NC_INT | nc::NC_UINT | nc::NC_FLOAT => 4,
        nc::NC_INT64 | nc::NC_UINT64 | nc::NC_DOUBLE => 8,
        _ => std::mem::size_of::<*const c_char>(),
    }
}

/// Every attribute of a variable (or of the group with `varid = NC_GLOBAL`), in
/// file order, with its type kept.
pub fn attributes(ncid: c_int, varid: c_int) -> NcResult<Vec<(String, AttrValue)>> {
    let _g = hdf5_sys::LOCK.lock();
    let mut natts = 0;
    let rc = if varid == nc::NC_GLOBAL { unsafe { nc::nc_inq_natts(ncid, &mut natts) } } else { unsafe { nc::nc_inq_varnatts(ncid, varid, &mut natts) } };
    check(rc, "nc_inq_natts")?;
    let mut out = Vec::with_capacity(natts.max(0) as usize);
    for i in 0..natts {
        let mut buf = name_buf();
        check(unsafe { nc::nc_inq_attname(ncid, varid, i, buf.as_mut_ptr()) }, "nc_inq_attname")?;
        let name = buf_to_string(&buf);
        let value = attribute(ncid, varid, &buf).map_err(|e| format!("attribute '{name}': {e}"))?;
        out.push((name, value));
    }
    Ok(out)
}

fn attribute(ncid: c_int, varid: c_int, cname: &[c_char]) -> NcResult<AttrValue> {
    let mut xtype = 0;
    let mut len = 0usize;
    check(unsafe { nc::nc_inq_att(ncid, varid, cname.as_ptr(), &mut xtype, &mut len) }, "nc_inq_att")?;
    if xtype == nc::NC_STRING {
        let mut ptrs: Vec<*mut c_char> = vec![std::ptr::null_mut(); len];
        check(unsafe { nc::nc_get_att_string(ncid, varid, cname.as_ptr(), ptrs.as_mut_ptr()) }, "nc_get_att_string")?;
        let strs = ptrs.iter().map(|p| if p.is_null() { String::new() } else { unsafe { CStr::from_ptr(*p) }.to_string_lossy().into_owned() }).collect::<Vec<_>>();
        unsafe { nc::nc_free_string(len, ptrs.as_mut_ptr()) };
        return Ok(if strs.len() == 1 { AttrValue::Str(strs.into_iter().next().unwrap_or_default()) } else { AttrValue::Strs(strs) });
    }
    let (class, base, size) = type_info(ncid, xtype)?;
    // An enum attribute is stored as its base integer type: read it as such.
    let numeric = if class == nc::NC_ENUM { base } else { xtype };
    if class != nc::NC_ENUM && xtype > nc::NC_STRING {
        return Err(format!("type {xtype} (class {class}) is not supported for attributes"));
    }
    let mut raw = vec![0u8; len * size.max(1)];
    check(unsafe { nc::nc_get_att(ncid, varid, cname.as_ptr(), raw.as_mut_ptr().cast()) }, "nc_get_att")?;
    Ok(decode_native(numeric, &raw))
}

/// Decode native-endian values of an atomic netCDF type into an attribute value.
pub fn decode_native(xtype: nc::nc_type, raw: &[u8]) -> AttrValue {
    macro_rules! nums {
        ($t:ty, $variant:ident, $conv:ty) => {
            AttrValue::$variant(raw.chunks_exact(std::mem::size_of::<$t>()).map(|b| <$t>::from_ne_bytes(b.try_into().expect("exact chunk")) as $conv).collect())
        };
    }
    match xtype {
        // Fixed-length HDF5 strings are often NUL-padded; netCDF4-python drops the padding.
        nc::NC_CHAR => {
            let end = raw.iter().rposition(|c| *c != 0).map_or(0, |i| i + 1);
            AttrValue::Str(String::from_utf8_lossy(&raw[..end]).into_owned())
        }
        nc::NC_BYTE => nums!(i8, Ints, i64),
        nc::NC_UBYTE => nums!(u8, UInts, u64),
        nc::NC_SHORT => nums!(i16, Ints, i64),
        nc::NC_USHORT => nums!(u16, UInts, u64),
        nc::NC_INT => nums!(i32, Ints, i64),
        nc::NC_UINT => nums!(u32, UInts, u64),
        nc::NC_INT64 => nums!(i64, Ints, i64),
        nc::NC_UINT64 => nums!(u64, UInts, u64),
        nc::NC_FLOAT => nums!(f32, Floats, f64),
        nc::NC_DOUBLE => nums!(f64, Floats, f64),
        _ => AttrValue::Str(String::new()),
    }
}

/// Read a hyperslab as native-endian bytes (numeric and char types).
pub fn get_vara(ncid: c_int, varid: c_int, start: &[u64], count: &[u64], elem_size: usize) -> NcResult<Vec<u8>> {
    let n: u64 = count.iter().product();
    let mut buf = vec![0u8; n as usize * elem_size];
    let start: Vec<usize> = start.iter().map(|x| *x as usize).collect();
    let count: Vec<usize> = count.iter().map(|x| *x as usize).collect();
    let _g = hdf5_sys::LOCK.lock();
    check(unsafe { nc::nc_get_vara(ncid, varid, start.as_ptr(), count.as_ptr(), buf.as_mut_ptr().cast()) }, "nc_get_vara")?;
    Ok(buf)
}

/// Read every value of a variable-length string variable, C order.
pub fn get_strings(ncid: c_int, varid: c_int, shape: &[u64]) -> NcResult<Vec<String>> {
    let n: u64 = shape.iter().product();
    let mut ptrs: Vec<*mut c_char> = vec![std::ptr::null_mut(); n as usize];
    let start = vec![0usize; shape.len()];
    let count: Vec<usize> = shape.iter().map(|x| *x as usize).collect();
    let _g = hdf5_sys::LOCK.lock();
    check(unsafe { nc::nc_get_vara_string(ncid, varid, start.as_ptr(), count.as_ptr(), ptrs.as_mut_ptr()) }, "nc_get_vara_string")?;
    let out = ptrs.iter().map(|p| if p.is_null() { String::new() } else { unsafe { CStr::from_ptr(*p) }.to_string_lossy().into_owned() }).collect();
    unsafe { nc::nc_free_string(ptrs.len(), ptrs.as_mut_ptr()) };
    Ok(out)
}

/// The group at `path` ("a/b") below `ncid`; `ncid` itself for "".
pub fn group_at(ncid: c_int, path: &str) -> NcResult<c_int> {
    let mut g = ncid;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        let c = CString::new(part).map_err(|_| "group name contains NUL".to_string())?;
        let mut out = 0;
        let _g = hdf5_sys::LOCK.lock();
        check(unsafe { nc::nc_inq_grp_ncid(g, c.as_ptr(), &mut out) }, &format!("group '{part}'"))?;
        g = out;
    }
    Ok(g)
}

/// The (group id, variable id) of the variable at `path` ("v", "g/v") below
/// `ncid`. Group ids change when a file is opened again: look them up per use.
pub fn locate_var(ncid: c_int, path: &str) -> NcResult<(c_int, c_int)> {
    let (group, name) = path.rsplit_once('/').unwrap_or(("", path));
    let gid = group_at(ncid, group)?;
    Ok((gid, var_id(gid, name)?))
}

/// Every variable of the file below `ncid`, as paths ("v", "g/v", "g/h/v"),
/// the root's first, then each group's, depth first.
pub fn var_paths(ncid: c_int) -> NcResult<Vec<String>> {
    let groups = group_paths(ncid)?.into_iter().map(|(p, g)| (format!("{p}/"), g));
    let mut out = Vec::new();
    for (prefix, g) in std::iter::once((String::new(), ncid)).chain(groups) {
        for id in var_ids(g)? {
            out.push(format!("{prefix}{}", var_info(g, id)?.name));
        }
    }
    Ok(out)
}

/// Every subgroup below `ncid` as (path, ncid), depth first.
pub fn group_paths(ncid: c_int) -> NcResult<Vec<(String, c_int)>> {
    fn walk(ncid: c_int, prefix: &str, out: &mut Vec<(String, c_int)>) -> NcResult<()> {
        for g in subgroups(ncid)? {
            let path = format!("{prefix}{}", group_name(g)?);
            out.push((path.clone(), g));
            walk(g, &format!("{path}/"), out)?;
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(ncid, "", &mut out)?;
    Ok(out)
}

pub fn var_id(ncid: c_int, name: &str) -> NcResult<c_int> {
    let cname = CString::new(name).map_err(|_| "name contains NUL".to_string())?;
    let mut id = 0;
    let _g = hdf5_sys::LOCK.lock();
    check(unsafe { nc::nc_inq_varid(ncid, cname.as_ptr(), &mut id) }, "nc_inq_varid")?;
    Ok(id)
}

/// Every value of a numeric variable, converted to f64 by netCDF-C.
pub fn get_all_f64(ncid: c_int, varid: c_int, shape: &[u64]) -> NcResult<Vec<f64>> {
    let n: u64 = shape.iter().product();
    let mut buf = vec![0f64; n as usize];
    if n == 0 {
        return Ok(buf);
    }
    let start = vec![0usize; shape.len()];
    let count: Vec<usize> = shape.iter().map(|x| *x as usize).collect();
    let _g = hdf5_sys::LOCK.lock();
    check(unsafe { nc::nc_get_vara_double(ncid, varid, start.as_ptr(), count.as_ptr(), buf.as_mut_ptr()) }, "nc_get_vara_double")?;
    Ok(buf)
}
