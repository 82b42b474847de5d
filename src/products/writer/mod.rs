//! Writers of reference sets. Both share the Zarr v2 metadata rendering here.

pub mod json;
pub mod parquet;

use std::fmt::Write as _;

use crate::model::{AttrValue, Attrs, Codec, CodecParam, FillValue, Group, Variable};

/// Output kinds of `padocc refs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Json,
    Parquet,
    /// An Icechunk repository (written by [`crate::products::icechunk`]).
    Icechunk,
}

/// A JSON number for an f64 the way Python's `json` writes one (`NaN` and
/// `Infinity` included, which Python reads back), always with a decimal point or
/// exponent so it stays a float.
pub fn json_f64(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("NaN");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        let _ = write!(out, "{x:?}");
    }
}

/// A JSON object from keys and already-rendered JSON values, in order
/// (consolidated metadata: `.zmetadata`, a v3 root's `consolidated_metadata`).
pub fn json_object(entries: &[(String, String)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        json_str(&mut out, k);
        out.push_str(": ");
        out.push_str(v);
    }
    out.push('}');
    out
}

pub fn json_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).expect("strings always serialise"));
}

fn json_list<T>(out: &mut String, items: &[T], mut one: impl FnMut(&mut String, &T)) {
    if items.len() == 1 {
        one(out, &items[0]);
        return;
    }
    out.push('[');
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        one(out, x);
    }
    out.push(']');
}

pub fn attr_value_json(out: &mut String, v: &AttrValue) {
    match v {
        AttrValue::Str(s) => json_str(out, s),
        AttrValue::Strs(s) => json_list(out, s, |o, x| json_str(o, x)),
        AttrValue::Ints(v) => json_list(out, v, |o, x| {
            let _ = write!(o, "{x}");
        }),
        AttrValue::UInts(v) => json_list(out, v, |o, x| {
            let _ = write!(o, "{x}");
        }),
        AttrValue::Floats(v) => json_list(out, v, |o, x| json_f64(o, *x)),
    }
}

/// `.zattrs` of a group, or of a variable (with xarray's `_ARRAY_DIMENSIONS`).
pub fn zattrs(attrs: &Attrs, dims: Option<&[String]>) -> String {
    let mut out = String::from("{");
    let mut first = true;
    let mut sep = |out: &mut String| {
        if !first {
            out.push_str(", ");
        }
        first = false;
    };
    if let Some(dims) = dims {
        sep(&mut out);
        out.push_str("\"_ARRAY_DIMENSIONS\": [");
        for (i, d) in dims.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            json_str(&mut out, d);
        }
        out.push(']');
    }
    for (k, v) in attrs.iter() {
        sep(&mut out);
        json_str(&mut out, k);
        out.push_str(": ");
        attr_value_json(&mut out, v);
    }
    out.push('}');
    out
}

pub fn codec_json(out: &mut String, c: &Codec) {
    out.push_str("{\"id\": ");
    json_str(out, c.id);
    for (k, v) in &c.params {
        out.push_str(", ");
        json_str(out, k);
        out.push_str(": ");
        match v {
            CodecParam::Int(i) => {
                let _ = write!(out, "{i}");
            }
            CodecParam::Str(s) => json_str(out, s),
        }
    }
    out.push('}');
}

/// Zarr v2 `.zarray`.
pub fn zarray(v: &Variable) -> String {
    use base64::Engine as _;
    let mut out = String::from("{\"chunks\": [");
    // Zarr needs chunk lengths >= 1 even along empty dimensions.
    let chunks: Vec<String> = v.chunks.iter().map(|c| (*c).max(1).to_string()).collect();
    out.push_str(&chunks.join(", "));
    out.push_str("], \"compressor\": ");
    match &v.compressor {
        Some(c) => codec_json(&mut out, c),
        None => out.push_str("null"),
    }
    out.push_str(", \"dtype\": ");
    json_str(&mut out, &v.dtype);
    out.push_str(", \"fill_value\": ");
    match &v.fill_value {
        FillValue::None => out.push_str("null"),
        FillValue::Int(i) => {
            let _ = write!(out, "{i}");
        }
        FillValue::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        FillValue::Float(f) => {
            if f.is_finite() {
                json_f64(&mut out, *f)
            } else {
                // Zarr v2 spells non-finite fill values as strings.
                out.push('"');
                json_f64(&mut out, *f);
                out.push('"');
            }
        }
        FillValue::Bytes(b) => json_str(&mut out, &base64::engine::general_purpose::STANDARD.encode(b)),
    }
    out.push_str(", \"filters\": ");
    if v.filters.is_empty() {
        out.push_str("null");
    } else {
        out.push('[');
        for (i, c) in v.filters.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            codec_json(&mut out, c);
        }
        out.push(']');
    }
    out.push_str(", \"order\": \"C\", \"shape\": [");
    let shape: Vec<String> = v.shape.iter().map(u64::to_string).collect();
    out.push_str(&shape.join(", "));
    out.push_str("], \"zarr_format\": 2}");
    out
}

pub const ZGROUP: &str = "{\"zarr_format\": 2}";

/// Every metadata key of a group tree, in writing order: (key, JSON text).
pub fn metadata_entries(root: &Group) -> Vec<(String, String)> {
    let mut groups = Vec::new();
    root.walk(&mut groups);
    let mut out = Vec::new();
    for g in groups {
        let p = g.key_prefix();
        out.push((format!("{p}.zgroup"), ZGROUP.to_string()));
        out.push((format!("{p}.zattrs"), zattrs(&g.attrs, None)));
        for v in &g.vars {
            out.push((format!("{p}{}/.zarray", v.name), zarray(v)));
            out.push((format!("{p}{}/.zattrs", v.name), zattrs(&v.attrs, Some(&v.dims))));
        }
    }
    out
}

/// Append the decimal digits of `x`.
pub fn push_u64(out: &mut Vec<u8>, mut x: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (x % 10) as u8;
        x /= 10;
        if x == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Chunk keys (`0.3.1`, or `0` for scalars) of a grid in C order, produced by
/// an odometer rather than by dividing each index.
pub struct ChunkKeys<'a> {
    grid: &'a [u64],
    coords: Vec<u64>,
}

impl<'a> ChunkKeys<'a> {
    pub fn new(grid: &'a [u64]) -> ChunkKeys<'a> {
        ChunkKeys { grid, coords: vec![0; grid.len()] }
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        if self.coords.is_empty() {
            out.push(b'0');
        }
        for (i, c) in self.coords.iter().enumerate() {
            if i > 0 {
                out.push(b'.');
            }
            push_u64(out, *c);
        }
    }

    pub fn advance(&mut self) {
        for i in (0..self.coords.len()).rev() {
            self.coords[i] += 1;
            if self.coords[i] < self.grid[i] {
                return;
            }
            self.coords[i] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_stay_floats_and_nan_is_python_json() {
        let mut s = String::new();
        attr_value_json(&mut s, &AttrValue::Floats(vec![1.0, f64::NAN, 9.969209968386869e36]));
        assert_eq!(s, "[1.0, NaN, 9.969209968386869e36]");
    }

    #[test]
    fn single_element_lists_are_scalars() {
        let mut s = String::new();
        attr_value_json(&mut s, &AttrValue::Ints(vec![42]));
        assert_eq!(s, "42");
    }

    #[test]
    fn chunk_keys_count_in_c_order() {
        let grid = [2, 3, 2];
        let mut k = ChunkKeys::new(&grid);
        for _ in 0..7 {
            k.advance();
        }
        let mut s = Vec::new();
        k.write(&mut s);
        assert_eq!(s, b"1.0.1");
        let mut s = Vec::new();
        ChunkKeys::new(&[]).write(&mut s);
        assert_eq!(s, b"0");
        let mut s = Vec::new();
        push_u64(&mut s, 0);
        push_u64(&mut s, 18446744073709551615);
        assert_eq!(s, b"018446744073709551615");
    }

    #[test]
    fn zarray_renders_codecs_and_nan_fill() {
        let mut v = crate::model::tests::test_var(vec![4, 0], vec![4, 0]);
        v.fill_value = FillValue::Float(f64::NAN);
        v.compressor = Some(Codec::new("zlib").with("level", 4));
        v.filters = vec![Codec::new("shuffle").with("elementsize", 4)];
        assert_eq!(
            zarray(&v),
            "{\"chunks\": [4, 1], \"compressor\": {\"id\": \"zlib\", \"level\": 4}, \"dtype\": \"<f4\", \"fill_value\": \"NaN\", \"filters\": [{\"id\": \"shuffle\", \"elementsize\": 4}], \"order\": \"C\", \"shape\": [4, 0], \"zarr_format\": 2}"
        );
    }
}
