//! The in-memory description of a virtual dataset: groups, variables, their Zarr v2
//! metadata, and where every chunk's bytes live (a byte range of a source file, or
//! inline bytes).
//!
//! This is the meeting point of the readers (which build one `VirtualDataset` per
//! source file), the combiner (which merges many into one) and the writers (which
//! serialise it as kerchunk JSON or Parquet). It deliberately knows nothing of any
//! file format.

use std::path::PathBuf;

/// An attribute value, kept with enough type information to be written back as
/// the same JSON a Python client would produce from the netCDF attribute.
/// Equality is xarray's: NaN equals NaN (a `_FillValue = NaN` in every file
/// is one fill value, not a difference).
#[derive(Debug, Clone)]
pub enum AttrValue {
    Str(String),
    Strs(Vec<String>),
    Ints(Vec<i64>),
    UInts(Vec<u64>),
    /// Stored as f64; a float32 attribute is widened exactly (as numpy's `tolist` does).
    Floats(Vec<f64>),
}

/// Floats equal as xarray compares attributes: NaN equals NaN.
pub fn same_float(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

impl PartialEq for AttrValue {
    fn eq(&self, other: &AttrValue) -> bool {
        match (self, other) {
            (AttrValue::Str(a), AttrValue::Str(b)) => a == b,
            (AttrValue::Strs(a), AttrValue::Strs(b)) => a == b,
            (AttrValue::Ints(a), AttrValue::Ints(b)) => a == b,
            (AttrValue::UInts(a), AttrValue::UInts(b)) => a == b,
            (AttrValue::Floats(a), AttrValue::Floats(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_float(*x, *y)),
            _ => false,
        }
    }
}

impl PartialEq for FillValue {
    fn eq(&self, other: &FillValue) -> bool {
        match (self, other) {
            (FillValue::None, FillValue::None) => true,
            (FillValue::Int(a), FillValue::Int(b)) => a == b,
            (FillValue::UInt(a), FillValue::UInt(b)) => a == b,
            (FillValue::Float(a), FillValue::Float(b)) => same_float(*a, *b),
            (FillValue::Bytes(a), FillValue::Bytes(b)) => a == b,
            _ => false,
        }
    }
}

impl AttrValue {
    /// The first element as f64, for numeric attributes (`scale_factor`, `_FillValue`...).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            AttrValue::Ints(v) => v.first().map(|x| *x as f64),
            AttrValue::UInts(v) => v.first().map(|x| *x as f64),
            AttrValue::Floats(v) => v.first().copied(),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::Str(s) => Some(s),
            AttrValue::Strs(v) if v.len() == 1 => Some(&v[0]),
            _ => None,
        }
    }
}

/// Ordered attribute list: order matters to users reading `ncdump`-like output.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attrs(pub Vec<(String, AttrValue)>);

impl Attrs {
    pub fn get(&self, name: &str) -> Option<&AttrValue> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
    pub fn insert(&mut self, name: &str, value: AttrValue) {
        match self.0.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_string(), value)),
        }
    }
    pub fn remove(&mut self, name: &str) -> Option<AttrValue> {
        let i = self.0.iter().position(|(k, _)| k == name)?;
        Some(self.0.remove(i).1)
    }
    pub fn iter(&self) -> impl Iterator<Item = &(String, AttrValue)> {
        self.0.iter()
    }
}

/// A numcodecs codec description (`{"id": "zlib", "level": 4}`), written verbatim
/// into `.zarray`.
#[derive(Debug, Clone, PartialEq)]
pub struct Codec {
    pub id: &'static str,
    pub params: Vec<(&'static str, CodecParam)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CodecParam {
    Int(i64),
    Str(String),
}

/// Zarr v2 `fill_value`. Equality treats NaN as equal to NaN.
#[derive(Debug, Clone)]
pub enum FillValue {
    /// No fill value: clients do not mask anything (netCDF without `_FillValue`).
    None,
    Int(i64),
    UInt(u64),
    Float(f64),
    /// Base64 of the raw bytes, as Zarr v2 stores fill values of `|S` types.
    Bytes(Vec<u8>),
}

impl FillValue {
    /// The fill element in native byte order for elements of numpy `kind` and
    /// `size`, or None when there is no fill value of that kind.
    pub fn native_bytes(&self, kind: u8, size: usize) -> Option<Vec<u8>> {
        Some(match (self, kind, size) {
            (FillValue::Float(x), b'f', 4) => (*x as f32).to_ne_bytes().to_vec(),
            (FillValue::Float(x), b'f', 8) => x.to_ne_bytes().to_vec(),
            (FillValue::Int(i), b'i' | b'u' | b'b', _) => i.to_ne_bytes()[..size.min(8)].to_vec(),
            (FillValue::UInt(u), b'i' | b'u' | b'b', _) => u.to_ne_bytes()[..size.min(8)].to_vec(),
            (FillValue::Bytes(b), b'S', _) => {
                let mut b = b.clone();
                b.resize(size, 0);
                b
            }
            _ => return None,
        })
    }
}

/// Where one chunk's (encoded) bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChunkRef {
    /// Index into `VirtualDataset::files`.
    pub file: u32,
    pub offset: u64,
    /// 0 marks a chunk that was never written: clients read the fill value.
    pub size: u64,
}

impl ChunkRef {
    pub const MISSING: ChunkRef = ChunkRef { file: 0, offset: 0, size: 0 };
    pub fn is_missing(&self) -> bool {
        self.size == 0
    }
}

/// The chunks of one variable.
#[derive(Debug, Clone, PartialEq)]
pub enum ChunkData {
    /// Dense grid of references in C order over the chunk grid; most variables.
    Refs(Vec<ChunkRef>),
    /// Inline chunks in C order (already encoded with the variable's codecs): small
    /// arrays whose bytes are not a byte range of any file (compact HDF5 layout,
    /// re-encoded times, variable-length strings).
    Inline(Vec<Vec<u8>>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    pub name: String,
    pub dims: Vec<String>,
    pub shape: Vec<u64>,
    pub chunks: Vec<u64>,
    /// numpy dtype string as Zarr v2 writes it: `<f4`, `>i2`, `|S1`, `|O`.
    pub dtype: String,
    pub fill_value: FillValue,
    pub compressor: Option<Codec>,
    pub filters: Vec<Codec>,
    pub attrs: Attrs,
    pub data: ChunkData,
    /// Encoded bytes that clients must read for every chunk that was never written,
    /// when that is not simply `fill_value` (netCDF without `_FillValue` still
    /// reads unwritten chunks as the HDF5 fill, which Zarr cannot express).
    pub missing_chunk: Option<Vec<u8>>,
    /// Set by readers for information only (messages, checks): the source layout.
    pub layout: Layout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Contiguous,
    Chunked,
    Compact,
    Inline,
}

impl Variable {
    /// Number of chunks along each dimension (`[1]`-like empty for scalars).
    pub fn chunk_grid(&self) -> Vec<u64> {
        self.shape.iter().zip(&self.chunks).map(|(s, c)| if *c == 0 { 0 } else { s.div_ceil(*c) }).collect()
    }

    pub fn n_chunks(&self) -> u64 {
        self.chunk_grid().iter().product()
    }

    /// Bytes per element of the (decoded) dtype.
    pub fn itemsize(&self) -> u64 {
        dtype_itemsize(&self.dtype)
    }

    /// True when every chunk is stored unfiltered and uncompressed, so byte ranges
    /// can be re-cut to a different chunk shape.
    pub fn is_raw(&self) -> bool {
        self.compressor.is_none() && self.filters.is_empty()
    }
}

/// The numpy dtype string of a kind (`i`, `u`, `f`, `b`, `S`) and item size:
/// `|` where byte order means nothing (one byte, or characters).
pub fn numpy_dtype(kind: char, size: usize, big_endian: bool) -> String {
    let order = if size == 1 || kind == 'S' {
        '|'
    } else if big_endian {
        '>'
    } else {
        '<'
    };
    format!("{order}{kind}{size}")
}

/// Item size of a numpy dtype string such as `<f8` or `|S1` (0 for object).
pub fn dtype_itemsize(dtype: &str) -> u64 {
    dtype.get(2..).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Group {
    /// Path relative to the root, without leading slash; empty for the root.
    pub path: String,
    pub attrs: Attrs,
    /// netCDF dimensions defined in this group (name, length, unlimited).
    pub dims: Vec<(String, u64, bool)>,
    pub vars: Vec<Variable>,
    pub groups: Vec<Group>,
}

impl Group {
    pub fn var(&self, name: &str) -> Option<&Variable> {
        self.vars.iter().find(|v| v.name == name)
    }
    pub fn var_mut(&mut self, name: &str) -> Option<&mut Variable> {
        self.vars.iter_mut().find(|v| v.name == name)
    }
    /// Visit this group and every subgroup, depth first.
    pub fn walk<'a>(&'a self, out: &mut Vec<&'a Group>) {
        out.push(self);
        for g in &self.groups {
            g.walk(out);
        }
    }
    /// Key prefix of this group's entries in a reference set (`""` or `"sub/"`).
    pub fn key_prefix(&self) -> String {
        if self.path.is_empty() {
            String::new()
        } else {
            format!("{}/", self.path)
        }
    }
}

/// A whole virtual dataset: one group tree over a list of source files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VirtualDataset {
    /// Absolute paths; `ChunkRef::file` indexes into this.
    pub files: Vec<PathBuf>,
    pub root: Group,
    /// Values of root coordinate variables (1-D, named like their dimension) the
    /// combiner needs, read by the readers while the file is open: those along
    /// an unlimited dimension and those asked for.
    pub coords: Vec<(String, Vec<f64>)>,
}

impl VirtualDataset {
    pub fn groups(&self) -> Vec<&Group> {
        let mut out = Vec::new();
        self.root.walk(&mut out);
        out
    }

    /// Number of chunk references (byte ranges and inline chunks).
    pub fn n_refs(&self) -> u64 {
        self.groups()
            .iter()
            .flat_map(|g| g.vars.iter())
            .map(|v| match &v.data {
                ChunkData::Refs(r) => r.iter().filter(|c| !c.is_missing()).count() as u64,
                ChunkData::Inline(c) => c.len() as u64,
            })
            .sum()
    }

    pub fn coord(&self, name: &str) -> Option<&[f64]> {
        self.coords.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    pub fn n_vars(&self) -> usize {
        self.groups().iter().map(|g| g.vars.len()).sum()
    }
}

/// Row-major index of a chunk from its grid coordinates.
pub fn ravel(coords: &[u64], grid: &[u64]) -> u64 {
    coords.iter().zip(grid).fold(0, |acc, (c, g)| acc * g + c)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn chunk_grid_rounds_up_and_handles_empty() {
        let mut v = test_var(vec![10, 7], vec![4, 7]);
        assert_eq!(v.chunk_grid(), vec![3, 1]);
        v.shape = vec![4, 0];
        v.chunks = vec![4, 256];
        assert_eq!(v.n_chunks(), 0);
    }

    #[test]
    fn ravel_is_row_major() {
        assert_eq!(ravel(&[1, 2], &[3, 4]), 6);
        assert_eq!(ravel(&[], &[]), 0);
    }

    #[test]
    fn attrs_insert_replaces_in_place() {
        let mut a = Attrs::default();
        a.insert("units", AttrValue::Str("m".into()));
        a.insert("axis", AttrValue::Str("X".into()));
        a.insert("units", AttrValue::Str("km".into()));
        assert_eq!(a.0[0], ("units".to_string(), AttrValue::Str("km".into())));
        assert_eq!(a.0.len(), 2);
    }

    pub(crate) fn test_var(shape: Vec<u64>, chunks: Vec<u64>) -> Variable {
        Variable {
            name: "v".into(),
            dims: (0..shape.len()).map(|i| format!("d{i}")).collect(),
            shape,
            chunks,
            dtype: "<f4".into(),
            fill_value: FillValue::None,
            compressor: None,
            filters: vec![],
            attrs: Attrs::default(),
            data: ChunkData::Refs(vec![]),
            missing_chunk: None,
            layout: Layout::Chunked,
        }
    }
}
