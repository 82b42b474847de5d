//! netCDF-3 files (CDF-1, CDF-2, CDF-5) as virtual datasets, from the header
//! parsed in `netcdf3`: fixed variables are one contiguous chunk; record
//! variables get one chunk per record, because records of all record variables
//! are interleaved and each record is its own byte range.

use std::path::Path;

use super::netcdf3::{self, AttrValue as Nc3Attr, Header, NcType};
use crate::error::{Error, Result};
use crate::model::{AttrValue, Attrs, ChunkData, ChunkRef, FillValue, Group, Layout, Variable, VirtualDataset};

pub fn read(path: &Path, want: &[String]) -> Result<VirtualDataset> {
    let file = std::fs::File::open(path).map_err(|e| Error::input_io(path, e))?;
    let len = file.metadata().map_err(|e| Error::input_io(path, e))?.len();
    // SAFETY: read-only map; a file truncated underneath us can SIGBUS, as for any
    // mmap reader, which we accept for sources that must not change while read.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::input_io(path, e))?;
    let header = netcdf3::parse_header(&map, len).map_err(|e| Error::corrupt(path, e.to_string()))?;
    header.check_bounds(len).map_err(|e| Error::corrupt(path, e.to_string()))?;
    let root = to_group(&header);
    let mut coords = Vec::new();
    for v in &root.vars {
        let unlimited = root.dims.iter().any(|d| d.2 && v.dims.first() == Some(&d.0));
        if super::wanted_coord(v, unlimited, want) {
            coords.push((v.name.clone(), decode_values(&map, v)));
        }
    }
    Ok(VirtualDataset { files: vec![path.to_path_buf()], root, coords })
}

/// Values of a numeric variable straight from its (big-endian, uncompressed)
/// byte ranges; bounds were checked against the file length.
fn decode_values(map: &[u8], v: &Variable) -> Vec<f64> {
    let ChunkData::Refs(refs) = &v.data else { return vec![] };
    let size = v.itemsize() as usize;
    let mut out = Vec::new();
    for r in refs {
        let Some(bytes) = map.get(r.offset as usize..(r.offset + r.size) as usize) else { continue };
        for el in bytes.chunks_exact(size) {
            let x = match (&v.dtype[1..2], size) {
                ("f", 4) => f64::from(f32::from_be_bytes(el.try_into().expect("4 bytes"))),
                ("f", 8) => f64::from_be_bytes(el.try_into().expect("8 bytes")),
                ("i", 1) => f64::from(el[0] as i8),
                ("u", 1) => f64::from(el[0]),
                ("i", 2) => f64::from(i16::from_be_bytes(el.try_into().expect("2 bytes"))),
                ("u", 2) => f64::from(u16::from_be_bytes(el.try_into().expect("2 bytes"))),
                ("i", 4) => f64::from(i32::from_be_bytes(el.try_into().expect("4 bytes"))),
                ("u", 4) => f64::from(u32::from_be_bytes(el.try_into().expect("4 bytes"))),
                ("i", 8) => i64::from_be_bytes(el.try_into().expect("8 bytes")) as f64,
                ("u", 8) => u64::from_be_bytes(el.try_into().expect("8 bytes")) as f64,
                _ => f64::NAN,
            };
            out.push(x);
        }
    }
    out
}

/// netCDF-C ends names at the first NUL byte (C strings); some writers count
/// the terminator in the name length.
fn c_name(s: &str) -> String {
    s.split('\0').next().unwrap_or_default().to_string()
}

pub fn to_group(h: &Header) -> Group {
    let dims = h.dims.iter().map(|d| (c_name(&d.name), if d.len == 0 { h.numrecs } else { d.len }, d.len == 0)).collect();
    let stride = h.record_stride();
    let vars = h
        .vars
        .iter()
        .map(|v| {
            let shape = h.shape(v);
            let dims: Vec<String> = v.dimids.iter().map(|&i| c_name(&h.dims[i].name)).collect();
            let mut attrs = convert_attrs(&v.attrs);
            let fill_value = fill_from(attrs.remove("_FillValue"), v.nc_type);
            let one = h.data_len(v);
            let empty = shape.contains(&0);
            let (chunks, refs) = if h.is_record_var(v) {
                let mut chunks = shape.clone();
                chunks[0] = 1;
                let refs = if empty { vec![] } else { (0..h.numrecs).map(|r| ChunkRef { file: 0, offset: v.begin + r * stride, size: one }).collect() };
                (chunks, refs)
            } else {
                let refs = if empty { vec![] } else { vec![ChunkRef { file: 0, offset: v.begin, size: one }] };
                (shape.clone(), refs)
            };
            Variable {
                name: c_name(&v.name),
                dims,
                shape,
                chunks,
                dtype: v.nc_type.zarr_dtype().to_string(),
                fill_value,
                compressor: None,
                filters: vec![],
                attrs,
                data: ChunkData::Refs(refs),
                missing_chunk: None,
                layout: Layout::Contiguous,
            }
        })
        .collect();
    Group { path: String::new(), attrs: convert_attrs(&h.attrs), dims, vars, groups: vec![] }
}

fn convert_attrs(attrs: &[netcdf3::Attr]) -> Attrs {
    Attrs(attrs.iter().map(|a| (c_name(&a.name), convert(&a.value))).collect())
}

/// netCDF-3 attributes keep their types: numbers stay numbers (kerchunk turns
/// them into strings such as "[0. 1.]").
pub fn convert(v: &Nc3Attr) -> AttrValue {
    fn ints<T: Copy + Into<i64>>(v: &[T]) -> AttrValue {
        AttrValue::Ints(v.iter().map(|x| (*x).into()).collect())
    }
    fn uints<T: Copy + Into<u64>>(v: &[T]) -> AttrValue {
        AttrValue::UInts(v.iter().map(|x| (*x).into()).collect())
    }
    match v {
        Nc3Attr::Char(b) => {
            let end = b.iter().rposition(|c| *c != 0).map_or(0, |i| i + 1);
            AttrValue::Str(String::from_utf8_lossy(&b[..end]).into_owned())
        }
        Nc3Attr::Byte(x) => ints(x),
        Nc3Attr::Short(x) => ints(x),
        Nc3Attr::Int(x) => ints(x),
        Nc3Attr::Int64(x) => ints(x),
        Nc3Attr::UByte(x) => uints(x),
        Nc3Attr::UShort(x) => uints(x),
        Nc3Attr::UInt(x) => uints(x),
        Nc3Attr::UInt64(x) => uints(x),
        Nc3Attr::Float(x) => AttrValue::Floats(x.iter().map(|f| f64::from(*f)).collect()),
        Nc3Attr::Double(x) => AttrValue::Floats(x.clone()),
    }
}

fn fill_from(attr: Option<AttrValue>, t: NcType) -> FillValue {
    let kind = match t {
        NcType::Float | NcType::Double => 'f',
        NcType::Char => 'S',
        NcType::UByte | NcType::UShort | NcType::UInt | NcType::UInt64 => 'u',
        _ => 'i',
    };
    super::netcdf4::fill_value_from_attr(attr.as_ref(), kind, 1)
}
