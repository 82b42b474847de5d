//! `padocc zarr`: files in, one Zarr store (v3 or v2) out, the data copied
//! and rechunked.
//!
//! How it is built, and why:
//! - The structure comes from the same combiner as the references (in its
//!   layout-only mode), so a store and a reference set of one collection
//!   describe the same dataset: same variables, attributes, re-encoded times,
//!   `--dedupe` rows.
//! - Values are read with netCDF-C, one output chunk's region at a time
//!   ([`RegionReader`]), whatever the source chunking; memory is a few chunks
//!   per worker thread, and the number of threads is capped by `--mem-limit`.
//! - Chunks are encoded and stored by `zarrs`. The metadata documents are
//!   rendered here, not by zarrs: they must be what xarray writes
//!   (`_ARRAY_DIMENSIONS`, v3 `_FillValue` attributes, `NaN` in attributes,
//!   `|S1` characters) and consolidated.
//! - The store is built as `OUT.partial` and renamed to `OUT` when complete,
//!   so a store under the final name is always whole. Each stored chunk is
//!   journalled (`OUT.partial/.padocc/done`, one `O_APPEND` line); a rerun
//!   with the same plan skips journalled chunks, so a killed conversion
//!   resumes where it stopped. A chunk being written when the process died
//!   is not in the journal and is written again.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use rayon::prelude::*;
use zarrs::array::{Array, ArrayBytes, ArrayMetadata, CodecOptions};
use zarrs::filesystem::FilesystemStore;

use crate::aggregate::combine::{Options, Placement};
use crate::aggregate::region::RegionReader;
use crate::control::Progress;
use crate::error::{Error, Result};
use crate::model::{AttrValue, Attrs, ChunkData, FillValue, Variable, VirtualDataset};
use crate::products::writer::{json_f64, json_object, json_str, zattrs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    /// Blosc with zstd inside and byte shuffle.
    Blosc,
    Zstd,
    Gzip,
    None,
}

impl Compression {
    pub fn default_level(self) -> i32 {
        match self {
            Compression::Blosc => 1,
            Compression::Zstd => 3,
            Compression::Gzip => 4,
            Compression::None => 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Request {
    pub files: Vec<PathBuf>,
    pub out: PathBuf,
    pub combine: Options,
    /// 2 or 3.
    pub zarr_format: u8,
    /// Chunk lengths asked for by dimension name; other dimensions are derived.
    pub chunks: Vec<(String, u64)>,
    /// Uncompressed bytes a derived chunk aims at.
    pub chunk_target: u64,
    pub compression: Compression,
    pub level: i32,
    /// v3 only: shard lengths by dimension name (each a multiple of the chunk).
    pub shards: Vec<(String, u64)>,
    /// Bound on the memory the conversion uses for chunk buffers.
    pub mem_limit: u64,
    pub control: crate::control::Control,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub files: usize,
    pub variables: usize,
    pub chunks_written: u64,
    pub chunks_resumed: u64,
    pub bytes_read: u64,
    pub seconds: f64,
    pub output: PathBuf,
    pub zarr_format: u8,
}

/// How a variable's values reach the store.
enum Values {
    /// Read from the sources.
    Sources,
    /// Re-encoded by the combiner (times in other units): all values, LE.
    Inline(Vec<u8>),
    /// Variable-length strings: written as one vlen-utf8 chunk.
    Strings,
}

/// One array of the store.
struct OutVar {
    var: Variable,
    /// Chunk (v2) or shard (v3 with sharding) shape: one store key each.
    chunks: Vec<u64>,
    /// Inner chunk shape when sharded.
    inner: Option<Vec<u64>>,
    values: Values,
    /// numpy kind and size of the stored elements.
    kind: u8,
    size: usize,
}

impl OutVar {
    fn grid(&self) -> Vec<u64> {
        self.var.shape.iter().zip(&self.chunks).map(|(s, c)| s.div_ceil(*c)).collect()
    }
    fn n_keys(&self) -> u64 {
        self.grid().iter().product()
    }
    fn is_char(&self) -> bool {
        self.kind == b'S'
    }
}

/// Parse `time=12,lat=90` into (dim, length) pairs.
pub fn parse_dim_lengths(s: &str) -> std::result::Result<Vec<(String, u64)>, String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').ok_or_else(|| format!("'{kv}' is not DIM=LENGTH"))?;
            let n: u64 = v.trim().parse().map_err(|_| format!("'{v}' is not a length"))?;
            if n == 0 {
                return Err(format!("length of '{k}' must be at least 1"));
            }
            Ok((k.trim().to_string(), n))
        })
        .collect()
}

/// Parse `1GB`, `512MiB`, `4000000`.
pub fn parse_bytes(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let x: f64 = num.parse().map_err(|_| format!("'{s}' is not a size such as 512MB or 2GiB"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024f64.powi(4),
        _ => return Err(format!("'{s}': unknown unit (use B, KB, MB, GB, KiB, MiB, GiB)")),
    };
    Ok((x * mult) as u64)
}

/// A chunk shape for `shape`: the lengths asked for, and along the other
/// dimensions the longest chunk (first dimensions shortened first) whose
/// uncompressed size stays within `target`.
pub fn choose_chunks(dims: &[String], shape: &[u64], isz: u64, target: u64, asked: &[(String, u64)]) -> Vec<u64> {
    let mut c: Vec<u64> = shape.iter().map(|s| (*s).max(1)).collect();
    let mut fixed = vec![false; c.len()];
    for (i, d) in dims.iter().enumerate() {
        if let Some((_, n)) = asked.iter().find(|(k, _)| k == d) {
            c[i] = (*n).min(c[i]).max(1);
            fixed[i] = true;
        }
    }
    let bytes = |c: &[u64]| c.iter().product::<u64>() * isz.max(1);
    for i in 0..c.len() {
        if bytes(&c) <= target {
            break;
        }
        if fixed[i] {
            continue;
        }
        let others = bytes(&c) / c[i];
        c[i] = (target / others.max(1)).clamp(1, c[i]);
    }
    c
}

pub(crate) fn v3_dtype(kind: u8, size: usize) -> Option<&'static str> {
    Some(match (kind, size) {
        (b'f', 4) => "float32",
        (b'f', 8) => "float64",
        (b'i', 1) => "int8",
        (b'i', 2) => "int16",
        (b'i', 4) => "int32",
        (b'i', 8) => "int64",
        (b'u', 1) => "uint8",
        (b'u', 2) => "uint16",
        (b'u', 4) => "uint32",
        (b'u', 8) => "uint64",
        (b'b', 1) => "bool",
        _ => return None,
    })
}

/// numpy dtype string of the stored (little-endian) elements.
fn v2_dtype(kind: u8, size: usize) -> String {
    crate::model::numpy_dtype(kind as char, size, false)
}

fn json_list_u64(xs: &[u64]) -> String {
    format!("[{}]", xs.iter().map(u64::to_string).collect::<Vec<_>>().join(", "))
}

fn json_strs(xs: &[String]) -> String {
    let mut out = String::from("[");
    for (i, x) in xs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        json_str(&mut out, x);
    }
    out.push(']');
    out
}

pub(crate) fn fill_json(out: &mut String, f: &FillValue, kind: u8) {
    match f {
        FillValue::None | FillValue::Bytes(_) => out.push_str(if kind == b'f' { "0.0" } else { "0" }),
        FillValue::Int(i) => out.push_str(&i.to_string()),
        FillValue::UInt(u) => out.push_str(&u.to_string()),
        FillValue::Float(x) if x.is_finite() => json_f64(out, *x),
        FillValue::Float(x) => {
            out.push('"');
            json_f64(out, *x);
            out.push('"');
        }
    }
}

struct Codecs<'a> {
    req: &'a Request,
}

impl Codecs<'_> {
    fn v2_compressor(&self) -> String {
        let l = self.req.level;
        match self.req.compression {
            Compression::Zstd => format!("{{\"id\": \"zstd\", \"level\": {l}, \"checksum\": false}}"),
            Compression::Gzip => format!("{{\"id\": \"gzip\", \"level\": {l}}}"),
            Compression::Blosc => {
                format!("{{\"id\": \"blosc\", \"cname\": \"zstd\", \"clevel\": {l}, \"shuffle\": 1, \"blocksize\": 0}}")
            }
            Compression::None => "null".into(),
        }
    }

    /// v3 codec list for elements of `size` bytes (after the bytes codec).
    fn v3_list(&self, size: usize) -> String {
        let l = self.req.level;
        let bytes = if size == 1 { "{\"name\": \"bytes\"}".to_string() } else { "{\"name\": \"bytes\", \"configuration\": {\"endian\": \"little\"}}".to_string() };
        let comp = match self.req.compression {
            Compression::Zstd => Some(format!("{{\"name\": \"zstd\", \"configuration\": {{\"level\": {l}, \"checksum\": false}}}}")),
            Compression::Gzip => Some(format!("{{\"name\": \"gzip\", \"configuration\": {{\"level\": {l}}}}}")),
            Compression::Blosc => Some(format!(
                "{{\"name\": \"blosc\", \"configuration\": {{\"cname\": \"zstd\", \"clevel\": {l}, \"shuffle\": \"shuffle\", \"typesize\": {size}, \"blocksize\": 0}}}}"
            )),
            Compression::None => None,
        };
        match comp {
            Some(c) => format!("[{bytes}, {c}]"),
            None => format!("[{bytes}]"),
        }
    }
}

/// xarray reads a v3 variable's _FillValue from its attributes: integers as
/// numbers, floats as base64 of the little-endian f64.
pub(crate) fn v3_fill_attr(attrs: &mut Attrs, fill: &FillValue, kind: u8) {
    match (fill, kind) {
        (FillValue::Float(x), _) => attrs.insert("_FillValue", AttrValue::Str(base64::engine::general_purpose::STANDARD.encode(x.to_le_bytes()))),
        (FillValue::Int(i), b'f') => attrs.insert("_FillValue", AttrValue::Str(base64::engine::general_purpose::STANDARD.encode((*i as f64).to_le_bytes()))),
        (FillValue::Int(i), _) => attrs.insert("_FillValue", AttrValue::Ints(vec![*i])),
        (FillValue::UInt(u), _) => attrs.insert("_FillValue", AttrValue::UInts(vec![*u])),
        // xarray cannot decode a bytes _FillValue of a character array from
        // v3 attributes (its FillValueCoder has no case for it) and the store
        // would not open; CF's missing_value masks the same values.
        (FillValue::Bytes(b), b'S') if attrs.get("missing_value").is_none() => {
            let text = String::from_utf8_lossy(b).trim_end_matches('\0').to_string();
            attrs.insert("missing_value", AttrValue::Str(text))
        }
        _ => {}
    }
}

/// Render the metadata documents of the store: (key, JSON text), plus for each
/// numeric variable the metadata zarrs is given (no attributes, characters as
/// bytes) to encode its chunks.
fn render(root_attrs: &Attrs, groups: &[(String, &Attrs)], vars: &[OutVar], req: &Request) -> (Vec<(String, String)>, Vec<String>) {
    let codecs = Codecs { req };
    let mut docs = Vec::new();
    let mut for_zarrs = Vec::new();
    if req.zarr_format == 2 {
        let mut consolidated = vec![(".zgroup".to_string(), crate::products::writer::ZGROUP.to_string()), (".zattrs".to_string(), zattrs(root_attrs, None))];
        for (path, attrs) in groups {
            consolidated.push((format!("{path}/.zgroup"), crate::products::writer::ZGROUP.to_string()));
            consolidated.push((format!("{path}/.zattrs"), zattrs(attrs, None)));
        }
        for ov in vars {
            let v = &ov.var;
            let (dtype, compressor, filters, fill) = match ov.values {
                Values::Strings => ("|O".to_string(), "null".to_string(), "[{\"id\": \"vlen-utf8\"}]".to_string(), "null".to_string()),
                _ => {
                    let mut fill = String::new();
                    match (&v.fill_value, ov.is_char()) {
                        (FillValue::None, _) => fill.push_str("null"),
                        (FillValue::Bytes(b), _) => json_str(&mut fill, &base64::engine::general_purpose::STANDARD.encode(b)),
                        (f, _) => fill_json(&mut fill, f, ov.kind),
                    }
                    (v2_dtype(ov.kind, ov.size), codecs.v2_compressor(), "null".to_string(), fill)
                }
            };
            let doc = |dtype: &str, fill: &str| {
                format!(
                    "{{\"chunks\": {}, \"compressor\": {compressor}, \"dimension_separator\": \".\", \"dtype\": \"{dtype}\", \"fill_value\": {fill}, \"filters\": {filters}, \"order\": \"C\", \"shape\": {}, \"zarr_format\": 2}}",
                    json_list_u64(&ov.chunks),
                    json_list_u64(&v.shape)
                )
            };
            let zarray = doc(&dtype, &fill);
            for_zarrs.push(match ov.values {
                Values::Strings => String::new(),
                // zarrs encodes characters as the bytes they are.
                _ if ov.is_char() => doc("|u1", "null"),
                _ => zarray.clone(),
            });
            consolidated.push((format!("{}/.zarray", v.name), zarray));
            consolidated.push((format!("{}/.zattrs", v.name), zattrs(&v.attrs, Some(&v.dims))));
        }
        let zm = format!("{{\"metadata\": {}, \"zarr_consolidated_format\": 1}}", json_object(&consolidated));
        docs = consolidated;
        docs.push((".zmetadata".to_string(), zm));
        return (docs, for_zarrs);
    }
    let mut members = Vec::new();
    for (path, attrs) in groups {
        let doc = format!("{{\"zarr_format\": 3, \"node_type\": \"group\", \"attributes\": {}}}", zattrs(attrs, None));
        members.push((path.clone(), doc.clone()));
        docs.push((format!("{path}/zarr.json"), doc));
    }
    for ov in vars {
        let v = &ov.var;
        let mut attrs = v.attrs.clone();
        v3_fill_attr(&mut attrs, &v.fill_value, ov.kind);
        let (dtype, fill, codec_list) = match ov.values {
            Values::Strings => ("\"string\"".to_string(), "\"\"".to_string(), "[{\"name\": \"vlen-utf8\"}]".to_string()),
            _ if ov.is_char() => (format!("{{\"name\": \"null_terminated_bytes\", \"configuration\": {{\"length_bytes\": {}}}}}", ov.size), "\"\"".to_string(), codecs.v3_list(1)),
            _ => {
                let mut fill = String::new();
                fill_json(&mut fill, &v.fill_value, ov.kind);
                (format!("\"{}\"", v3_dtype(ov.kind, ov.size).unwrap_or("uint8")), fill, codecs.v3_list(ov.size))
            }
        };
        let codec_list = match &ov.inner {
            Some(inner) => format!(
                "[{{\"name\": \"sharding_indexed\", \"configuration\": {{\"chunk_shape\": {}, \"codecs\": {codec_list}, \"index_codecs\": [{{\"name\": \"bytes\", \"configuration\": {{\"endian\": \"little\"}}}}, {{\"name\": \"crc32c\"}}], \"index_location\": \"end\"}}}}]",
                json_list_u64(inner)
            ),
            None => codec_list,
        };
        let body = |attrs: &str, dtype: &str, fill: &str| {
            format!(
                "{{\"zarr_format\": 3, \"node_type\": \"array\", \"shape\": {}, \"data_type\": {dtype}, \"chunk_grid\": {{\"name\": \"regular\", \"configuration\": {{\"chunk_shape\": {}}}}}, \"chunk_key_encoding\": {{\"name\": \"default\", \"configuration\": {{\"separator\": \"/\"}}}}, \"fill_value\": {fill}, \"codecs\": {codec_list}, \"attributes\": {attrs}, \"dimension_names\": {}}}",
                json_list_u64(&v.shape),
                json_list_u64(&ov.chunks),
                json_strs(&v.dims)
            )
        };
        let text = body(&zattrs(&attrs, None), &dtype, &fill);
        for_zarrs.push(match ov.values {
            Values::Strings => String::new(),
            _ if ov.is_char() => body("{}", "\"uint8\"", "0"),
            _ => body("{}", &dtype, &fill),
        });
        members.push((v.name.clone(), text.clone()));
        docs.push((format!("{}/zarr.json", v.name), text));
    }
    let mut root = String::from("{\"zarr_format\": 3, \"node_type\": \"group\", \"attributes\": ");
    root.push_str(&zattrs(root_attrs, None));
    root.push_str(&format!(", \"consolidated_metadata\": {{\"kind\": \"inline\", \"must_understand\": false, \"metadata\": {}}}}}", json_object(&members)));
    docs.push(("zarr.json".to_string(), root));
    (docs, for_zarrs)
}

/// Where the store is built before it is complete.
pub fn partial_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

fn plan_text(docs: &[(String, String)], files: &[PathBuf], req: &Request) -> String {
    let mut out = String::new();
    for f in files {
        let (size, mtime) =
            std::fs::metadata(f).map(|m| (m.len(), m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos()))).unwrap_or((0, 0));
        out.push_str(&format!("file {} {size} {mtime}\n", f.display()));
    }
    out.push_str(&format!("codec {:?} {}\n", req.compression, req.level));
    // The root's documents are written last, from this run's render, and no
    // chunk depends on them: a changed global attribute (e.g. the pipeline's
    // aggregation_date) must not throw away the chunks already written.
    for (k, t) in docs.iter().filter(|(k, _)| !matches!(k.as_str(), "zarr.json" | ".zattrs" | ".zmetadata" | ".zgroup")) {
        out.push_str(&format!("{k} {t}\n"));
    }
    out
}

fn read_journal(path: &Path) -> HashSet<(usize, u64)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (a, b) = l.split_once(' ')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect()
}

fn plan_vars(vds: &VirtualDataset, placement: &Placement, req: &Request) -> Result<Vec<OutVar>> {
    let mut out = Vec::new();
    // Every group's variables, named by path ("v", "g/v") as their keys.
    let all = vds.groups().into_iter().flat_map(|g| g.vars.iter().map(move |v| (g, v)));
    for (g, v) in all {
        let kind = v.dtype.as_bytes().get(1).copied().unwrap_or(b'?');
        let size = v.itemsize() as usize;
        let values = if g.path.is_empty() && placement.recoded.contains(&v.name) {
            match &v.data {
                ChunkData::Inline(c) => Values::Inline(c.concat()),
                _ => Values::Sources,
            }
        } else if v.dtype == "|O" {
            Values::Strings
        } else {
            Values::Sources
        };
        if !matches!(values, Values::Strings) && kind != b'S' && v3_dtype(kind, size).is_none() {
            return Err(Error::unsupported(&vds.files[0], &v.name, format!("dtype {} has no Zarr equivalent", v.dtype)));
        }
        if kind == b'S' && size != 1 {
            return Err(Error::unsupported(&vds.files[0], &v.name, "fixed-length strings longer than one byte"));
        }
        let mut var = v.clone();
        var.name = format!("{}{}", g.key_prefix(), v.name);
        var.data = ChunkData::Refs(vec![]);
        let target = req.chunk_target;
        let (chunks, inner) = match values {
            Values::Strings => (v.shape.iter().map(|s| (*s).max(1)).collect(), None),
            _ => {
                let c = choose_chunks(&v.dims, &v.shape, size as u64, target, &req.chunks);
                if req.shards.is_empty() || req.zarr_format == 2 || v.shape.is_empty() {
                    (c, None)
                } else {
                    let shard: Vec<u64> = v
                        .dims
                        .iter()
                        .zip(&c)
                        .zip(&v.shape)
                        .map(|((d, c), s)| match req.shards.iter().find(|(k, _)| k == d) {
                            Some((_, n)) => (n.div_ceil(*c) * c).min(s.div_ceil(*c) * c).max(*c),
                            None => *c,
                        })
                        .collect();
                    (shard, Some(c))
                }
            }
        };
        out.push(OutVar { var, chunks, inner, values, kind, size });
    }
    Ok(out)
}

/// Copy the series into the store. A conversion that fails part-way keeps
/// `OUT.partial` (the chunks written are journalled): the error says so, and
/// running the same command again resumes it.
pub fn run(req: &Request) -> Result<Summary> {
    let partial = partial_path(&req.out);
    let existed = partial.exists();
    convert(req).map_err(|e| match partial.exists() && !matches!(e, Error::Usage(_)) {
        true => e.with_note(&format!(
            "the part written so far is kept in {} (the same command resumes it{}; delete it to start over)",
            partial.display(),
            if existed { "" } else { " once the cause is fixed" }
        )),
        false => e,
    })
}

fn convert(req: &Request) -> Result<Summary> {
    let t0 = Instant::now();
    if req.zarr_format != 2 && req.zarr_format != 3 {
        return Err(Error::Usage(format!("--zarr-format must be 2 or 3, not {}", req.zarr_format)));
    }
    if req.zarr_format == 2 && !req.shards.is_empty() {
        return Err(Error::Usage("--shards needs --zarr-format 3 (Zarr v2 has no sharding)".into()));
    }
    let mut copts = req.combine.clone();
    copts.layout_only = true;
    let parts = crate::aggregate::read_all(&req.files, &copts, &req.control)?;
    // The same files as references, when they can be: chunks decoded in parallel.
    let direct =
        crate::aggregate::combine::combine(parts.clone(), &Options { layout_only: false, ..copts.clone() }).ok().map(|v| crate::products::reader::Product::from_virtual(&v));
    let (vds, placement) = crate::aggregate::combine::aggregate(parts, &copts)?;
    let vars = plan_vars(&vds, &placement, req)?;
    let groups: Vec<(String, &Attrs)> = vds.groups().into_iter().skip(1).map(|g| (g.path.clone(), &g.attrs)).collect();
    let (docs, for_zarrs) = render(&vds.root.attrs, &groups, &vars, req);

    let partial = partial_path(&req.out);
    let control = partial.join(".padocc");
    let plan = plan_text(&docs, &vds.files, req);
    let resumable = std::fs::read_to_string(control.join("plan")).map(|p| p == plan).unwrap_or(false);
    if !resumable && partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(|e| Error::output(&partial, e))?;
    }
    std::fs::create_dir_all(&control).map_err(|e| Error::output(&partial, e))?;
    if !resumable {
        crate::fsutil::write_file_atomic(&control.join("plan"), |w| w.write_all(plan.as_bytes()).map_err(|e| Error::output(&partial, e)))?;
    }
    let journal_path = control.join("done");
    let done = read_journal(&journal_path);
    let journal = std::fs::OpenOptions::new().create(true).append(true).open(&journal_path).map_err(|e| Error::output(&journal_path, e))?;

    zarrs::config::global_config_mut().set_include_zarrs_metadata(false);
    let store = Arc::new(FilesystemStore::new(&partial).map_err(|e| Error::output(&partial, std::io::Error::other(e.to_string())))?);
    let mut arrays: Vec<Option<Array<FilesystemStore>>> = Vec::with_capacity(vars.len());
    for (ov, meta) in vars.iter().zip(&for_zarrs) {
        if meta.is_empty() {
            arrays.push(None);
            continue;
        }
        let md: ArrayMetadata = serde_json::from_str(meta).map_err(|e| Error::Incompatible(format!("variable '{}': cannot describe it to zarrs: {e}", ov.var.name)))?;
        let a = Array::new_with_metadata(store.clone(), &format!("/{}", ov.var.name), md)
            .map_err(|e| Error::Incompatible(format!("variable '{}': zarrs refuses its metadata: {e}", ov.var.name)))?;
        arrays.push(Some(a));
    }

    let mut tasks: Vec<(usize, u64)> = Vec::new();
    let mut resumed = 0u64;
    for (i, ov) in vars.iter().enumerate() {
        let n = if matches!(ov.values, Values::Strings) { u64::from(!ov.var.shape.contains(&0)) } else { ov.n_keys() };
        for lin in 0..n {
            if done.contains(&(i, lin)) {
                resumed += 1;
            } else {
                tasks.push((i, lin));
            }
        }
    }
    let max_key_bytes = vars.iter().map(|v| v.chunks.iter().product::<u64>() * v.size as u64).max().unwrap_or(1).max(1);
    // A worker holds the region read, the padded chunk and zarrs' encoded copy.
    if req.mem_limit < 3 * max_key_bytes {
        return Err(Error::Usage(format!(
            "the memory limit ({} bytes) is below what converting one chunk takes ({} bytes: the region read, the chunk and its encoded copy): raise --mem-limit (--mem-allowed in compute) or choose smaller chunks (--chunks, --chunk-size)",
            req.mem_limit,
            3 * max_key_bytes
        )));
    }
    let by_mem = (req.mem_limit / (3 * max_key_bytes)).max(1) as usize;
    let threads = rayon::current_num_threads().min(by_mem).max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::Resources(format!("cannot start {threads} worker threads ({e}): a memory or process limit; lower --mem-limit or raise the limit")))?;

    crate::source::filters::register();
    {
        let _lock = hdf5_sys::LOCK.lock();
        // SAFETY: sets netCDF-C's default chunk cache for files opened from now on.
        unsafe { netcdf_sys::nc_set_chunk_cache(4 << 20, 1009, 0.75) };
    }
    let reader = RegionReader::new(&vds.files, &placement);
    let progress = Progress::new("writing chunks", tasks.len() as u64, &req.control.progress);
    let bytes_read = AtomicU64::new(0);
    let journal = std::sync::Mutex::new(journal);
    let codec_opts = CodecOptions::default().with_store_empty_chunks(true).with_concurrent_target(1);
    pool.install(|| {
        tasks.par_iter().try_for_each(|&(i, lin)| -> Result<()> {
            req.control.cancel.check()?;
            let ov = &vars[i];
            match &ov.values {
                Values::Strings => write_strings(&partial, ov, &reader, req.zarr_format)?,
                values => {
                    let grid = ov.grid();
                    let mut idx = vec![0u64; grid.len()];
                    let mut rest = lin;
                    for d in (0..grid.len()).rev() {
                        idx[d] = rest % grid[d];
                        rest /= grid[d];
                    }
                    let start: Vec<u64> = idx.iter().zip(&ov.chunks).map(|(i, c)| i * c).collect();
                    let count: Vec<u64> = start.iter().zip(&ov.chunks).zip(&ov.var.shape).map(|((s, c), n)| (*c).min(n - s)).collect();
                    // Zeros without a fill value, as Zarr clients read missing chunks then.
                    let fill = ov.var.fill_value.native_bytes(ov.kind, ov.size).unwrap_or_else(|| vec![0; ov.size]);
                    let data = match values {
                        Values::Inline(all) => {
                            let n: u64 = count.iter().product();
                            let mut buf = vec![0u8; n as usize * ov.size];
                            let end: Vec<u64> = start.iter().zip(&count).map(|(s, c)| s + c).collect();
                            let zero = vec![0u64; start.len()];
                            if n > 0 {
                                crate::slab::copy_region(all, &ov.var.shape, &zero, &mut buf, &count, &start, &start, &end, ov.size);
                            }
                            buf
                        }
                        _ => match direct.as_ref().and_then(|p| p.var(&ov.var.name).map(|v| (p, v))) {
                            Some((p, pv)) if pv.shape == ov.var.shape && crate::products::reader::Product::decodable(pv) => {
                                let mut b = p.read_slab(pv, &start, &count, &mut crate::products::reader::FileCache::default())?;
                                if pv.dtype.starts_with('>') && ov.size > 1 {
                                    for el in b.chunks_exact_mut(ov.size) {
                                        el.reverse();
                                    }
                                }
                                b
                            }
                            _ => reader.read(&ov.var, &start, &count, &fill)?,
                        },
                    };
                    bytes_read.fetch_add(data.len() as u64, Ordering::Relaxed);
                    let full = if count == ov.chunks || ov.var.shape.is_empty() {
                        data
                    } else {
                        let n: u64 = ov.chunks.iter().product();
                        let mut buf: Vec<u8> = fill.iter().copied().cycle().take(n as usize * ov.size).collect();
                        let end: Vec<u64> = start.iter().zip(&count).map(|(s, c)| s + c).collect();
                        if count.iter().all(|c| *c > 0) {
                            crate::slab::copy_region(&data, &count, &start, &mut buf, &ov.chunks, &start, &start, &end, ov.size);
                        }
                        buf
                    };
                    let array = arrays[i].as_ref().expect("numeric variables have an array");
                    array
                        .store_chunk_opt(&idx, ArrayBytes::new_flen(full), &codec_opts)
                        .map_err(|e| Error::output(&partial.join(&ov.var.name), std::io::Error::other(e.to_string())))?;
                }
            }
            let line = format!("{i} {lin}\n");
            journal.lock().unwrap_or_else(|e| e.into_inner()).write_all(line.as_bytes()).map_err(|e| Error::output(&journal_path, e))?;
            progress.inc();
            Ok(())
        })
    })?;
    progress.finish();

    for (k, text) in &docs {
        let p = partial.join(k);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::output(dir, e))?;
        }
        crate::fsutil::write_file_atomic(&p, |w| w.write_all(text.as_bytes()).map_err(|e| Error::output(&p, e)))?;
    }
    std::fs::remove_dir_all(&control).map_err(|e| Error::output(&control, e))?;
    crate::fsutil::replace_dir(&partial, &req.out)?;
    Ok(Summary {
        files: vds.files.len(),
        variables: vars.len(),
        chunks_written: tasks.len() as u64,
        chunks_resumed: resumed,
        bytes_read: bytes_read.load(Ordering::Relaxed),
        seconds: t0.elapsed().as_secs_f64(),
        output: req.out.clone(),
        zarr_format: req.zarr_format,
    })
}

/// A variable-length string variable, as one vlen-utf8 chunk.
fn write_strings(partial: &Path, ov: &OutVar, reader: &RegionReader, zarr_format: u8) -> Result<()> {
    let strings = reader.strings(&ov.var)?;
    let nd = ov.var.shape.len().max(1);
    let key = if zarr_format == 2 {
        vec!["0"; nd].join(".")
    } else if ov.var.shape.is_empty() {
        "c".to_string()
    } else {
        format!("c/{}", vec!["0"; nd].join("/"))
    };
    let p = partial.join(&ov.var.name).join(key);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::output(dir, e))?;
    }
    let bytes = crate::codec::encode_vlen_utf8(&strings);
    crate::fsutil::write_file_atomic(&p, |w| w.write_all(&bytes).map_err(|e| Error::output(&p, e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_chunks_shorten_the_first_dimensions_first() {
        let dims: Vec<String> = ["time", "lat", "lon"].iter().map(|s| s.to_string()).collect();
        // 1000 x 180 x 360 float32: one time step is 259 200 bytes.
        assert_eq!(choose_chunks(&dims, &[1000, 180, 360], 4, 4 << 20, &[]), vec![16, 180, 360]);
        // A step bigger than the target: time goes to 1, then lat shrinks.
        assert_eq!(choose_chunks(&dims, &[10, 1800, 3600], 4, 4 << 20, &[]), vec![1, 291, 3600]);
        // Asked-for lengths are kept.
        assert_eq!(choose_chunks(&dims, &[1000, 180, 360], 4, 4 << 20, &[("time".into(), 100)]), vec![100, 29, 360]);
        // Empty dimensions still get a chunk length of 1.
        assert_eq!(choose_chunks(&dims[..1], &[0], 8, 100, &[]), vec![1]);
    }

    #[test]
    fn sizes_and_dim_lengths_parse() {
        assert_eq!(parse_bytes("1GB").unwrap(), 1_000_000_000);
        assert_eq!(parse_bytes("2MiB").unwrap(), 2 << 20);
        assert_eq!(parse_bytes("512").unwrap(), 512);
        assert!(parse_bytes("lots").is_err());
        assert_eq!(parse_dim_lengths("time=12,lat=90").unwrap(), vec![("time".into(), 12), ("lat".into(), 90)]);
        assert!(parse_dim_lengths("time").is_err());
        assert!(parse_dim_lengths("time=0").is_err());
    }
}
