//! netCDF-4 and plain HDF5 files.
//!
//! netCDF-C gives the netCDF view (dimensions from dimension scales or
//! `_Netcdf4Dimid`, phony dimensions for plain HDF5 named exactly as netCDF-C
//! names them, typed attributes, hidden attributes filtered out); HDF5 gives the
//! storage (layout, filter pipeline, and every chunk's address through
//! `H5Dchunk_iter`, one O(n) pass). Both libraries share one global lock, which
//! is held for the whole file so the two views are read consistently.

use std::ffi::c_int;
use std::path::Path;

use ::hdf5::types::TypeDescriptor;
use hdf5::dataset::Layout as H5Layout;
use netcdf_sys as nc;

use super::ncapi::{self, NcFile};
use crate::codec;
use crate::error::{Error, Result};
use crate::model::{ravel, AttrValue, Attrs, ChunkData, ChunkRef, Codec, FillValue, Group, Layout, Variable, VirtualDataset};

pub fn read(path: &Path, want: &[String]) -> Result<VirtualDataset> {
    read_with(path, want, true)
}

/// The netCDF structure only (no storage: layouts, codecs, chunk addresses),
/// from netCDF-C alone: what products that copy data or point at whole files
/// need, at about half the cost of [`read`].
pub fn read_structure(path: &Path, want: &[String]) -> Result<VirtualDataset> {
    read_with(path, want, false)
}

fn read_with(path: &Path, want: &[String], storage: bool) -> Result<VirtualDataset> {
    let file = std::fs::File::open(path).map_err(|e| Error::input_io(path, e))?;
    // SAFETY: read-only mapping of a source that must not change while read.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::input_io(path, e))?;
    let _lock = hdf5_sys::LOCK.lock();
    let ncf = NcFile::open_mapped(path, map).map_err(|e| Error::source(path, format!("netCDF-C cannot open it ({e})")))?;
    let h5 = if storage { Some(::hdf5::File::open(path).map_err(|e| Error::source(path, format!("HDF5 cannot open it ({e})")))?) } else { None };
    let root = read_group(path, ncf.ncid, h5.as_deref(), "")?;
    let mut coords = Vec::new();
    for (varid, v) in ncapi::var_ids(ncf.ncid).map_err(|e| Error::corrupt(path, e))?.into_iter().zip(&root.vars) {
        let unlimited = root.dims.iter().any(|d| d.2 && v.dims.first() == Some(&d.0));
        if super::wanted_coord(v, unlimited, want) {
            let vals = ncapi::get_all_f64(ncf.ncid, varid, &v.shape).map_err(|e| Error::corrupt(path, format!("variable '{}': {e}", v.name)))?;
            coords.push((v.name.clone(), vals));
        }
    }
    Ok(VirtualDataset { files: vec![path.to_path_buf()], root, coords })
}

fn read_group(path: &Path, ncid: c_int, h5g: Option<&::hdf5::Group>, gpath: &str) -> Result<Group> {
    let corrupt = |e: String| Error::corrupt(path, e);
    let attrs = Attrs(ncapi::attributes(ncid, nc::NC_GLOBAL).map_err(corrupt)?);
    let dims = ncapi::group_dims(ncid).map_err(corrupt)?.into_iter().map(|(_, name, len, unlimited)| (name, len, unlimited)).collect();
    let mut vars = Vec::new();
    for varid in ncapi::var_ids(ncid).map_err(corrupt)? {
        vars.push(read_var(path, ncid, varid, h5g)?);
    }
    let mut groups = Vec::new();
    for sub in ncapi::subgroups(ncid).map_err(corrupt)? {
        let name = ncapi::group_name(sub).map_err(corrupt)?;
        let h5sub = match h5g {
            Some(g) => Some(g.group(&name).map_err(|e| Error::corrupt(path, format!("group '{name}' is not readable by HDF5: {e}")))?),
            None => None,
        };
        let subpath = if gpath.is_empty() { name.clone() } else { format!("{gpath}/{name}") };
        groups.push(read_group(path, sub, h5sub.as_ref(), &subpath)?);
    }
    Ok(Group { path: gpath.to_string(), attrs, dims, vars, groups })
}

fn read_var(path: &Path, ncid: c_int, varid: c_int, h5g: Option<&::hdf5::Group>) -> Result<Variable> {
    let info = ncapi::var_info(ncid, varid).map_err(|e| Error::corrupt(path, e))?;
    let name = info.name.clone();
    // HDF5 failing to make a property list under memory pressure is not the file's fault.
    let bad = |e: String| Error::source(path, format!("variable '{name}': {e}"));
    let mut dims = Vec::with_capacity(info.dimids.len());
    let mut shape = Vec::with_capacity(info.dimids.len());
    for &d in &info.dimids {
        let (dname, len) = ncapi::dim(ncid, d).map_err(bad)?;
        dims.push(dname);
        shape.push(len);
    }
    let mut attrs = Attrs(ncapi::attributes(ncid, varid).map_err(bad)?);
    let fill_attr = attrs.remove("_FillValue");

    if info.xtype == nc::NC_STRING {
        let strings = ncapi::get_strings(ncid, varid, &shape).map_err(bad)?;
        let data = if shape.contains(&0) { vec![] } else { vec![codec::encode_vlen_utf8(&strings)] };
        return Ok(Variable {
            name: name.clone(),
            dims,
            chunks: shape.clone(),
            shape,
            dtype: "|O".into(),
            fill_value: FillValue::None,
            compressor: None,
            filters: vec![Codec::new("vlen-utf8")],
            attrs,
            data: ChunkData::Inline(data),
            missing_chunk: None,
            layout: Layout::Inline,
        });
    }

    let Some(h5g) = h5g else { return structure_only(path, ncid, info.xtype, name, dims, shape, attrs, fill_attr) };
    // A variable named like a dimension it is not the coordinate of is stored
    // under this prefix, while the plain name holds the dimension scale.
    let ds = h5g.dataset(&format!("_nc4_non_coord_{name}")).or_else(|_| h5g.dataset(&name)).map_err(|e| bad(format!("no HDF5 dataset behind it ({e})")))?;
    let h5type = ds.dtype().map_err(|e| bad(e.to_string()))?;
    let desc = h5type.to_descriptor().map_err(|e| Error::unsupported(path, &name, format!("HDF5 type not supported: {e}")))?;
    let big = matches!(h5type.byte_order(), ::hdf5::datatype::ByteOrder::BigEndian);
    let (kind, size) = match &desc {
        TypeDescriptor::Integer(s) => ('i', *s as usize),
        TypeDescriptor::Unsigned(s) => ('u', *s as usize),
        TypeDescriptor::Float(s) => ('f', *s as usize),
        TypeDescriptor::Boolean => ('b', 1),
        TypeDescriptor::Enum(e) => (if e.signed { 'i' } else { 'u' }, e.size as usize),
        TypeDescriptor::FixedAscii(n) | TypeDescriptor::FixedUnicode(n) => ('S', *n),
        other => return Err(Error::unsupported(path, &name, format!("HDF5 type {other:?} cannot be referenced by Zarr v2"))),
    };
    let dcpl = ds.dcpl().map_err(|e| bad(e.to_string()))?;
    let n_elems: u64 = shape.iter().product();
    let mut var = plain_variable(name.clone(), dims, shape.clone(), kind, size, big, fill_attr.as_ref(), attrs);
    match dcpl.layout() {
        H5Layout::Compact => {
            // Compact data lives in the object header: no byte range to point at, so inline it.
            var.layout = Layout::Compact;
            let raw = whole_variable(ncid, varid, &shape, size, big && kind != 'S').map_err(bad)?;
            var.data = ChunkData::Inline(if n_elems == 0 { vec![] } else { vec![raw] });
        }
        H5Layout::Contiguous => {
            var.layout = Layout::Contiguous;
            let refs = if n_elems == 0 {
                vec![]
            } else {
                match ds.offset() {
                    Some(offset) => vec![ChunkRef { file: 0, offset, size: n_elems * size as u64 }],
                    None => vec![ChunkRef::MISSING],
                }
            };
            var.data = ChunkData::Refs(refs);
        }
        H5Layout::Chunked => {
            var.layout = Layout::Chunked;
            var.chunks = ds.chunk().unwrap_or_default().iter().map(|c| *c as u64).collect();
            let (filters, compressor) = codecs(path, &name, dcpl.id(), size)?;
            var.filters = filters;
            var.compressor = compressor;
            let grid = var.chunk_grid();
            let n: u64 = grid.iter().product();
            let mut refs = vec![ChunkRef::MISSING; n as usize];
            let mut masked = None;
            if n > 0 {
                let chunk_shape = var.chunks.clone();
                let mut coords = vec![0u64; chunk_shape.len()];
                let visited = ds.chunks_visit(|ci| {
                    if ci.filter_mask != 0 {
                        masked = Some(ci.offset.to_vec());
                        return -1;
                    }
                    for (i, (o, c)) in ci.offset.iter().zip(&chunk_shape).enumerate() {
                        coords[i] = o / c;
                    }
                    let idx = ravel(&coords, &grid) as usize;
                    if let Some(slot) = refs.get_mut(idx) {
                        *slot = ChunkRef { file: 0, offset: ci.addr, size: ci.size };
                    }
                    0
                });
                if masked.is_none() {
                    visited.map_err(|e| bad(format!("cannot list chunks: {e}")))?;
                }
            }
            match masked {
                // HDF5 stored this chunk without some optional filter (it did not
                // help), and a reference has one codec pipeline per array: the
                // variable is stored decoded, inline, as compact data is.
                Some(off) => {
                    let bytes = n_elems * size as u64;
                    if bytes > MAX_DECODED_INLINE {
                        return Err(Error::unsupported(
                            path,
                            &name,
                            format!(
                                "the chunk at {off:?} skipped some of its filters (HDF5 filter mask), so the variable must be stored decoded, and at {} MiB it is over the {} MiB that padocc stores inline",
                                bytes >> 20,
                                MAX_DECODED_INLINE >> 20
                            ),
                        ));
                    }
                    var.data = ChunkData::Inline(vec![whole_variable(ncid, varid, &shape, size, big && kind != 'S').map_err(bad)?]);
                    var.layout = Layout::Inline;
                    var.chunks = shape.clone();
                    var.filters = vec![];
                    var.compressor = None;
                }
                None => var.data = ChunkData::Refs(refs),
            }
        }
        other => return Err(Error::unsupported(path, &name, format!("HDF5 layout {other:?} is not supported"))),
    }

    if var.fill_value == FillValue::None && has_missing(&var) {
        var.missing_chunk = Some(missing_chunk(path, ncid, varid, &var, size, big && kind != 'S')?);
    }
    Ok(var)
}

/// A variable described from netCDF-C's view alone (native byte order).
#[allow(clippy::too_many_arguments)]
fn structure_only(path: &Path, ncid: c_int, xtype: nc::nc_type, name: String, dims: Vec<String>, shape: Vec<u64>, attrs: Attrs, fill_attr: Option<AttrValue>) -> Result<Variable> {
    let base = match ncapi::type_info(ncid, xtype) {
        Ok((class, base, _)) if class == nc::NC_ENUM => base,
        _ => xtype,
    };
    let (kind, size) = match base {
        nc::NC_BYTE => ('i', 1),
        nc::NC_UBYTE => ('u', 1),
        nc::NC_CHAR => ('S', 1),
        nc::NC_SHORT => ('i', 2),
        nc::NC_USHORT => ('u', 2),
        nc::NC_INT => ('i', 4),
        nc::NC_UINT => ('u', 4),
        nc::NC_INT64 => ('i', 8),
        nc::NC_UINT64 => ('u', 8),
        nc::NC_FLOAT => ('f', 4),
        nc::NC_DOUBLE => ('f', 8),
        other => return Err(Error::unsupported(path, &name, format!("netCDF type {other} is not supported"))),
    };
    Ok(plain_variable(name, dims, shape, kind, size, false, fill_attr.as_ref(), attrs))
}

/// A contiguous variable with no codecs and no chunk references yet.
#[allow(clippy::too_many_arguments)]
fn plain_variable(name: String, dims: Vec<String>, shape: Vec<u64>, kind: char, size: usize, big: bool, fill_attr: Option<&AttrValue>, attrs: Attrs) -> Variable {
    Variable {
        fill_value: fill_value_from_attr(fill_attr, kind, size),
        name,
        dims,
        chunks: shape.clone(),
        shape,
        dtype: crate::model::numpy_dtype(kind, size, big),
        compressor: None,
        filters: vec![],
        attrs,
        data: ChunkData::Refs(vec![]),
        missing_chunk: None,
        layout: Layout::Contiguous,
    }
}

/// Largest variable (decoded bytes in one file) stored inline because a
/// reference cannot express it (chunks that skipped filters).
pub const MAX_DECODED_INLINE: u64 = 64 << 20;

/// Every value of a variable as netCDF-C decodes it, in the variable's byte
/// order (`big`: swapped to big-endian).
fn whole_variable(ncid: c_int, varid: c_int, shape: &[u64], size: usize, big: bool) -> std::result::Result<Vec<u8>, String> {
    let mut raw = ncapi::get_vara(ncid, varid, &vec![0; shape.len()], shape, size)?;
    if big && size > 1 {
        swap_bytes(&mut raw, size);
    }
    Ok(raw)
}

/// A variable of this file (`group/name` path) decoded whole, for a series
/// where another file stores it decoded (see [`MAX_DECODED_INLINE`]).
pub fn read_decoded(path: &Path, var_path: &str, v: &Variable) -> Result<Vec<u8>> {
    let f = NcFile::open(path).map_err(|e| Error::source(path, e))?;
    let (gid, varid) = ncapi::locate_var(f.ncid, var_path).map_err(|e| Error::corrupt(path, e))?;
    let size = v.itemsize() as usize;
    whole_variable(gid, varid, &v.shape, size, v.dtype.starts_with('>') && !v.dtype.contains('S')).map_err(|e| Error::source(path, format!("variable '{var_path}': {e}")))
}

fn has_missing(v: &Variable) -> bool {
    matches!(&v.data, ChunkData::Refs(r) if r.iter().any(|c| c.is_missing()))
}

/// The encoded chunk that reads, element for element, as netCDF-C reads an
/// unwritten chunk: read one such element through netCDF-C and repeat it.
fn missing_chunk(path: &Path, ncid: c_int, varid: c_int, v: &Variable, size: usize, big: bool) -> Result<Vec<u8>> {
    let ChunkData::Refs(refs) = &v.data else { return Ok(vec![]) };
    let grid = v.chunk_grid();
    let first = refs.iter().position(|c| c.is_missing()).unwrap_or(0) as u64;
    let mut start = vec![0u64; grid.len()];
    let mut rest = first;
    for i in (0..grid.len()).rev() {
        start[i] = (rest % grid[i]) * v.chunks[i];
        rest /= grid[i];
    }
    let one = vec![1u64; grid.len()];
    let mut elem = ncapi::get_vara(ncid, varid, &start, &one, size).map_err(|e| Error::corrupt(path, format!("variable '{}': {e}", v.name)))?;
    if big && size > 1 {
        swap_bytes(&mut elem, size);
    }
    let n: u64 = v.chunks.iter().product();
    let raw: Vec<u8> = elem.iter().copied().cycle().take(n as usize * size).collect();
    codec::encode(&raw, &v.filters, v.compressor.as_ref()).map_err(|e| Error::unsupported(path, &v.name, format!("has unwritten chunks and no _FillValue, and {e}")))
}

fn swap_bytes(raw: &mut [u8], size: usize) {
    for el in raw.chunks_exact_mut(size) {
        el.reverse();
    }
}

pub(crate) fn fill_value_from_attr(attr: Option<&AttrValue>, kind: char, size: usize) -> FillValue {
    let Some(a) = attr else { return FillValue::None };
    match (kind, a) {
        ('S', AttrValue::Str(s)) => {
            let mut b = s.as_bytes().to_vec();
            b.resize(size, 0);
            FillValue::Bytes(b)
        }
        ('f', a) => a.as_f64().map_or(FillValue::None, FillValue::Float),
        ('u', AttrValue::UInts(v)) => v.first().map_or(FillValue::None, |x| FillValue::UInt(*x)),
        ('i' | 'u' | 'b', a) => match a {
            AttrValue::Ints(v) => v.first().map_or(FillValue::None, |x| FillValue::Int(*x)),
            AttrValue::UInts(v) => v.first().map_or(FillValue::None, |x| FillValue::UInt(*x)),
            AttrValue::Floats(v) => v.first().map_or(FillValue::None, |x| FillValue::Int(*x as i64)),
            _ => FillValue::None,
        },
        _ => FillValue::None,
    }
}

const H5Z_FILTER_DEFLATE: i32 = 1;
const H5Z_FILTER_SHUFFLE: i32 = 2;
const H5Z_FILTER_FLETCHER32: i32 = 3;
const H5Z_FILTER_BLOSC: i32 = 32001;
const H5Z_FILTER_ZSTD: i32 = 32015;

/// Map the HDF5 filter pipeline to numcodecs: HDF5 applies filters in pipeline
/// order on write, as Zarr v2 applies `filters` and then `compressor`.
fn codecs(path: &Path, var: &str, dcpl: hdf5_sys::h5i::hid_t, itemsize: usize) -> Result<(Vec<Codec>, Option<Codec>)> {
    let mut out = Vec::new();
    for (id, cd, fname) in pipeline(dcpl).map_err(|e| Error::corrupt(path, format!("variable '{var}': {e}")))? {
        let c = match id {
            H5Z_FILTER_DEFLATE => Codec::new("zlib").with("level", i64::from(*cd.first().unwrap_or(&6))),
            H5Z_FILTER_SHUFFLE => Codec::new("shuffle").with("elementsize", itemsize as i64),
            H5Z_FILTER_FLETCHER32 => Codec::new("fletcher32"),
            H5Z_FILTER_ZSTD => Codec::new("zstd").with("level", i64::from(*cd.first().unwrap_or(&3))),
            H5Z_FILTER_BLOSC => {
                let cname = match cd.get(6).copied().unwrap_or(0) {
                    0 => "blosclz",
                    1 => "lz4",
                    2 => "lz4hc",
                    3 => "snappy",
                    4 => "zlib",
                    5 => "zstd",
                    n => return Err(Error::unsupported(path, var, format!("blosc compressor code {n} is unknown"))),
                };
                Codec::new("blosc")
                    .with_str("cname", cname)
                    .with("clevel", i64::from(cd.get(4).copied().unwrap_or(5)))
                    .with("shuffle", i64::from(cd.get(5).copied().unwrap_or(1)))
                    .with("blocksize", 0)
            }
            _ => {
                return Err(Error::unsupported(
                    path,
                    var,
                    format!(
                        "HDF5 filter {id} ({}) has no numcodecs equivalent; padocc supports deflate, shuffle, fletcher32, zstd (32015) and blosc (32001). A Zarr copy (`padocc zarr`) can hold this data",
                        if fname.is_empty() { "unnamed" } else { &fname }
                    ),
                ))
            }
        };
        out.push(c);
    }
    let compressor = if out.last().is_some_and(Codec::is_compressor) { out.pop() } else { None };
    Ok((out, compressor))
}

fn pipeline(dcpl: hdf5_sys::h5i::hid_t) -> std::result::Result<Vec<(i32, Vec<u32>, String)>, String> {
    use hdf5_sys::h5p::{H5Pget_filter2, H5Pget_nfilters};
    let _g = hdf5_sys::LOCK.lock();
    // SAFETY: dcpl is a live property list id; buffers outlive the calls.
    let n = unsafe { H5Pget_nfilters(dcpl) };
    if n < 0 {
        return Err("cannot read the filter pipeline".into());
    }
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let mut flags = 0u32;
        let mut cd = vec![0u32; 32];
        let mut ncd: usize = cd.len();
        let mut name = vec![0 as std::ffi::c_char; 257];
        let id = unsafe { H5Pget_filter2(dcpl, i as u32, &mut flags, &mut ncd, cd.as_mut_ptr(), name.len(), name.as_mut_ptr(), std::ptr::null_mut()) };
        if id < 0 {
            return Err(format!("cannot read filter {i} of the pipeline"));
        }
        cd.truncate(ncd.min(32));
        let fname = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }.to_string_lossy().into_owned();
        out.push((id, cd, fname));
    }
    Ok(out)
}
