//! Reading a product back, as a client would. Validation uses this to compare
//! a product with its sources value by value.
//! - kerchunk references (JSON or Parquet): Zarr v2 metadata, chunk bytes
//!   fetched from the sources and decoded with the listed numcodecs codecs;
//! - Zarr stores (v3 or v2): metadata read here, chunks decoded by zarrs;
//! - CF aggregation files: fragments resolved by [`crate::products::cfa::CfaReader`].

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Where a chunk's encoded bytes are.
#[derive(Debug, Clone, PartialEq)]
pub enum Ref {
    Range { file: u32, offset: u64, size: u64 },
    Whole { file: u32 },
    Inline(Vec<u8>),
}

#[derive(Debug, Clone)]
pub struct ProductVar {
    pub name: String,
    pub dims: Vec<String>,
    pub shape: Vec<u64>,
    pub chunks: Vec<u64>,
    pub dtype: String,
    pub fill_value: Value,
    pub compressor: Option<Value>,
    pub filters: Vec<Value>,
    pub attrs: Map<String, Value>,
    /// Dense over the chunk grid, C order; None = missing (reads as fill).
    pub refs: Vec<Option<Ref>>,
}

impl ProductVar {
    pub fn grid(&self) -> Vec<u64> {
        self.shape.iter().zip(&self.chunks).map(|(s, c)| s.div_ceil((*c).max(1))).collect()
    }
    pub fn itemsize(&self) -> usize {
        crate::model::dtype_itemsize(&self.dtype) as usize
    }
}

pub struct Product {
    pub path: PathBuf,
    pub files: Vec<PathBuf>,
    pub attrs: Map<String, Value>,
    /// Subgroups below the root ("a", "a/b"), with their attributes.
    pub groups: Vec<(String, Map<String, Value>)>,
    /// Variables of every group, in key order, named by path ("v", "a/v").
    pub vars: Vec<ProductVar>,
    backend: Backend,
}

/// Where values come from when they are not kerchunk references.
enum Backend {
    Refs,
    /// Numeric arrays of a Zarr store, by name (strings are read as references).
    Zarr(HashMap<String, zarrs::array::Array<zarrs::filesystem::FilesystemStore>>),
    Cfa(crate::products::cfa::CfaReader),
}

impl std::fmt::Debug for Product {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Product").field("path", &self.path).field("vars", &self.vars.len()).finish()
    }
}

/// Subgroups of Zarr v2 metadata keyed as in kerchunk (`a/.zgroup`,
/// `a/.zattrs`), with their attributes, in key order.
fn groups_from_meta(meta: &HashMap<String, Value>) -> Vec<(String, Map<String, Value>)> {
    let mut out: Vec<(String, Map<String, Value>)> = meta
        .keys()
        .filter_map(|k| k.strip_suffix("/.zgroup"))
        .map(|g| (g.to_string(), meta.get(&format!("{g}/.zattrs")).and_then(Value::as_object).cloned().unwrap_or_default()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn parse_json_text(path: &Path, key: &str, v: &Value) -> Result<Value> {
    match v {
        Value::String(s) => json5ish(s).map_err(|e| Error::corrupt(path, format!("{key}: {e}"))),
        other => Ok(other.clone()),
    }
}

/// JSON as Python writes it: NaN and Infinity are allowed.
/// Python's JSON writes NaN and infinities as bare words, which strict JSON
/// does not allow: quote them where they stand as values (outside strings;
/// a string that already holds "NaN" is left alone), each between `mark`s.
pub(crate) fn quote_bare_floats(s: &str, mark: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    let (mut in_str, mut escaped) = (false, false);
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        let c = rest.chars().next().unwrap_or('\0');
        if in_str {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
        } else if let Some(word) = ["-Infinity", "Infinity", "NaN"].into_iter().find(|w| rest.starts_with(w)) {
            out.push('"');
            out.push_str(mark);
            out.push_str(word);
            out.push_str(mark);
            out.push('"');
            i += word.len();
            continue;
        } else {
            in_str = c == '"';
            out.push(c);
        }
        i += c.len_utf8();
    }
    out
}

/// An attribute as the JSON value a client reads (NaN and infinities as the
/// strings json5ish makes of them).
pub fn attr_json(v: &crate::model::AttrValue) -> Value {
    let mut t = String::new();
    crate::products::writer::attr_value_json(&mut t, v);
    json5ish(&t).unwrap_or(Value::Null)
}

pub fn json5ish(s: &str) -> std::result::Result<Value, String> {
    match serde_json::from_str(s) {
        Ok(v) => Ok(v),
        Err(_) => serde_json::from_str(&quote_bare_floats(s, "")).map_err(|e| e.to_string()),
    }
}

impl Product {
    /// The references of an aggregation held in memory, read like a kerchunk
    /// product (root group only): chunks are fetched by byte range and decoded
    /// here, on any thread, without netCDF-C's global lock.
    pub fn from_virtual(vds: &crate::model::VirtualDataset) -> Product {
        use crate::model::{ChunkData, FillValue};
        let codec = |c: &crate::model::Codec| {
            let mut t = String::new();
            crate::products::writer::codec_json(&mut t, c);
            serde_json::from_str::<Value>(&t).unwrap_or(Value::Null)
        };
        let vars = vds
            .groups()
            .into_iter()
            .flat_map(|g| g.vars.iter().map(move |v| (g.key_prefix(), v)))
            .map(|(prefix, v)| {
                let refs: Vec<Option<Ref>> = match &v.data {
                    ChunkData::Refs(r) => r
                        .iter()
                        .map(|c| if !c.is_missing() { Some(Ref::Range { file: c.file, offset: c.offset, size: c.size }) } else { v.missing_chunk.clone().map(Ref::Inline) })
                        .collect(),
                    ChunkData::Inline(c) => c.iter().map(|b| Some(Ref::Inline(b.clone()))).collect(),
                };
                let fill_value = match &v.fill_value {
                    FillValue::None => Value::Null,
                    FillValue::Int(i) => Value::from(*i),
                    FillValue::UInt(u) => Value::from(*u),
                    FillValue::Float(f) if f.is_finite() => Value::from(*f),
                    FillValue::Float(f) => Value::from(if f.is_nan() {
                        "NaN"
                    } else if *f > 0.0 {
                        "Infinity"
                    } else {
                        "-Infinity"
                    }),
                    FillValue::Bytes(b) => Value::from(base64::engine::general_purpose::STANDARD.encode(b)),
                };
                ProductVar {
                    name: format!("{prefix}{}", v.name),
                    dims: v.dims.clone(),
                    shape: v.shape.clone(),
                    chunks: v.chunks.iter().map(|c| (*c).max(1)).collect(),
                    dtype: v.dtype.clone(),
                    fill_value,
                    compressor: v.compressor.as_ref().map(codec),
                    filters: v.filters.iter().map(codec).collect(),
                    attrs: Map::new(),
                    refs,
                }
            })
            .collect();
        let groups = vds.groups().into_iter().skip(1).map(|g| (g.path.clone(), Map::new())).collect();
        Product { path: vds.files.first().cloned().unwrap_or_default(), files: vds.files.clone(), attrs: Map::new(), groups, vars, backend: Backend::Refs }
    }

    /// A product read by another module (an Icechunk repository): its chunks
    /// are references or inline bytes.
    pub fn from_parts(path: PathBuf, files: Vec<PathBuf>, attrs: Map<String, Value>, groups: Vec<(String, Map<String, Value>)>, vars: Vec<ProductVar>) -> Product {
        Product { path, files, attrs, groups, vars, backend: Backend::Refs }
    }

    /// Open a kerchunk JSON file or Parquet reference directory, a Zarr store,
    /// a CF aggregation file or an Icechunk repository (local or `s3://`).
    pub fn open(path: &Path) -> Result<Product> {
        Self::open_with(path, &crate::products::s3::S3Settings::from_env())
    }

    /// [`Product::open`], reaching an object store with these settings.
    pub fn open_with(path: &Path, s3: &crate::products::s3::S3Settings) -> Result<Product> {
        let text = path.to_string_lossy();
        if crate::products::icechunk::is_icechunk(&text) || path.join("repo").is_file() {
            return crate::products::icechunk::open_product(&text, s3);
        }
        if path.is_dir() {
            if path.join("zarr.json").is_file() {
                return Self::open_zarr_v3(path);
            }
            let zm = std::fs::read_to_string(path.join(".zmetadata")).unwrap_or_default();
            if path.join(".zgroup").is_file() && !zm.contains("\"record_size\"") {
                return Self::open_zarr_v2(path);
            }
            return Self::open_parquet(path);
        }
        let mut head = [0u8; 8];
        let n = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)).map_err(|e| Error::input_io(path, e))?;
        if n >= 4 && (head.starts_with(b"CDF") || head == *b"\x89HDF\r\n\x1a\n") {
            let (reader, attrs, groups, vars) = crate::products::cfa::CfaReader::open(path)?;
            return Ok(Product { path: path.to_path_buf(), files: vec![], attrs, groups, vars, backend: Backend::Cfa(reader) });
        }
        Self::open_json(path)
    }

    fn open_zarr_v2(dir: &Path) -> Result<Product> {
        let read = |k: &str| -> Result<Option<Value>> {
            let p = dir.join(k);
            match std::fs::read_to_string(&p) {
                Ok(t) => json5ish(&t).map(Some).map_err(|e| Error::corrupt(&p, e)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::input_io(&p, e)),
            }
        };
        let mut meta = HashMap::new();
        // Arrays and groups at every depth, keyed by path as in kerchunk.
        let mut pending = vec![String::new()];
        while let Some(prefix) = pending.pop() {
            let at = dir.join(&prefix);
            let entries = std::fs::read_dir(&at).map_err(|e| Error::input_io(&at, e))?;
            for e in entries.flatten().filter(|e| e.path().is_dir()) {
                let name = format!("{prefix}{}", e.file_name().to_string_lossy());
                let attrs = || -> Result<Value> { Ok(read(&format!("{name}/.zattrs"))?.unwrap_or(Value::Object(Map::new()))) };
                if let Some(za) = read(&format!("{name}/.zarray"))? {
                    meta.insert(format!("{name}/.zarray"), za);
                    meta.insert(format!("{name}/.zattrs"), attrs()?);
                } else if let Some(zg) = read(&format!("{name}/.zgroup"))? {
                    meta.insert(format!("{name}/.zgroup"), zg);
                    meta.insert(format!("{name}/.zattrs"), attrs()?);
                    pending.push(format!("{name}/"));
                }
            }
        }
        let mut vars = Self::vars_from_meta(dir, &meta)?;
        let groups = groups_from_meta(&meta);
        let mut arrays = HashMap::new();
        let store = std::sync::Arc::new(zarrs::filesystem::FilesystemStore::new(dir).map_err(|e| Error::corrupt(dir, e.to_string()))?);
        let mut files = Vec::new();
        for v in &mut vars {
            let mut za = meta[&format!("{}/.zarray", v.name)].clone();
            if v.dtype == "|O" {
                files.push(dir.join(&v.name).join(vec!["0"; v.shape.len().max(1)].join(".")));
                v.refs = vec![Some(Ref::Whole { file: (files.len() - 1) as u32 })];
                v.compressor = None;
                continue;
            }
            if v.dtype.contains('S') {
                za["dtype"] = Value::from("|u1");
                za["fill_value"] = Value::Null;
            }
            if let Some(f) = za.get("fill_value").and_then(Value::as_str) {
                // Non-finite fill values are spelled as strings in v2.
                za["fill_value"] = Value::from(f.to_string());
            }
            let md: zarrs::array::ArrayMetadata = serde_json::from_value(za).map_err(|e| Error::corrupt(dir, format!("{}/.zarray: {e}", v.name)))?;
            let a = zarrs::array::Array::new_with_metadata(store.clone(), &format!("/{}", v.name), md).map_err(|e| Error::corrupt(dir, format!("{}/.zarray: {e}", v.name)))?;
            arrays.insert(v.name.clone(), a);
        }
        let attrs = read(".zattrs")?.and_then(|v| v.as_object().cloned()).unwrap_or_default();
        Ok(Product { path: dir.to_path_buf(), files, attrs, groups, vars, backend: Backend::Zarr(arrays) })
    }

    fn open_zarr_v3(dir: &Path) -> Result<Product> {
        let read = |p: &Path| -> Result<Value> {
            let t = std::fs::read_to_string(p).map_err(|e| Error::input_io(p, e))?;
            json5ish(&t).map_err(|e| Error::corrupt(p, e))
        };
        let root = read(&dir.join("zarr.json"))?;
        let attrs = root.get("attributes").and_then(Value::as_object).cloned().unwrap_or_default();
        let store = std::sync::Arc::new(zarrs::filesystem::FilesystemStore::new(dir).map_err(|e| Error::corrupt(dir, e.to_string()))?);
        // Nodes at every depth by path ("v", "a", "a/v"): a group's members
        // are listed right after it when it is read.
        let members = |prefix: &str| -> Result<Vec<String>> {
            let at = dir.join(prefix);
            let mut names: Vec<String> = std::fs::read_dir(&at)
                .map_err(|e| Error::input_io(&at, e))?
                .flatten()
                .map(|e| format!("{prefix}{}", e.file_name().to_string_lossy()))
                .filter(|n| dir.join(n).join("zarr.json").is_file())
                .collect();
            names.sort();
            Ok(names)
        };
        let mut names = members("")?;
        let (mut vars, mut arrays, mut files, mut groups) = (Vec::new(), HashMap::new(), Vec::new(), Vec::new());
        let mut i = 0;
        while i < names.len() {
            let name = names[i].clone();
            i += 1;
            let p = dir.join(&name).join("zarr.json");
            let mut md = read(&p)?;
            if md.get("node_type").and_then(Value::as_str) == Some("group") {
                groups.push((name.clone(), md.get("attributes").and_then(Value::as_object).cloned().unwrap_or_default()));
                names.splice(i..i, members(&format!("{name}/"))?);
                continue;
            }
            if md.get("node_type").and_then(Value::as_str) != Some("array") {
                continue;
            }
            let nums = |k: &str, v: &Value| -> Vec<u64> { v.get(k).and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_u64).collect()).unwrap_or_default() };
            let shape = nums("shape", &md);
            let chunks = nums("chunk_shape", md.pointer("/chunk_grid/configuration").unwrap_or(&Value::Null));
            let mut vattrs = md.get("attributes").and_then(Value::as_object).cloned().unwrap_or_default();
            let fill = vattrs.remove("_FillValue").unwrap_or(Value::Null);
            let dims: Vec<String> =
                md.get("dimension_names").and_then(Value::as_array).map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default();
            let dt = md.get("data_type").cloned().unwrap_or(Value::Null);
            let dtype = match dt.as_str() {
                Some("string") => "|O".to_string(),
                Some(n) => {
                    let (k, bits) = match n {
                        "bool" => ('b', 8),
                        _ if n.starts_with("float") => ('f', n[5..].parse().unwrap_or(0)),
                        _ if n.starts_with("uint") => ('u', n[4..].parse().unwrap_or(0)),
                        _ if n.starts_with("int") => ('i', n[3..].parse().unwrap_or(0)),
                        _ => return Err(Error::corrupt(&p, format!("data type {n} is not one padocc writes"))),
                    };
                    let size = bits / 8;
                    format!("{}{k}{size}", if size == 1 { '|' } else { '<' })
                }
                None => match dt.pointer("/configuration/length_bytes").and_then(Value::as_u64) {
                    Some(n) => format!("|S{n}"),
                    None => return Err(Error::corrupt(&p, format!("data type {dt} is not one padocc writes"))),
                },
            };
            let mut v = ProductVar { name: name.clone(), dims, shape, chunks, dtype, fill_value: fill, compressor: None, filters: vec![], attrs: vattrs, refs: vec![] };
            if v.dtype == "|O" {
                let key = if v.shape.is_empty() { "c".to_string() } else { format!("c/{}", vec!["0"; v.shape.len()].join("/")) };
                files.push(dir.join(&name).join(key));
                v.refs = vec![Some(Ref::Whole { file: (files.len() - 1) as u32 })];
                v.filters = vec![serde_json::json!({"id": "vlen-utf8"})];
                vars.push(v);
                continue;
            }
            md["attributes"] = Value::Object(Map::new());
            if v.dtype.starts_with("|S") {
                md["data_type"] = Value::from("uint8");
                md["fill_value"] = Value::from(0);
            }
            if let Some(f) = md.get("fill_value").and_then(Value::as_str) {
                md["fill_value"] = Value::from(f.to_string());
            }
            let meta: zarrs::array::ArrayMetadata = serde_json::from_value(md).map_err(|e| Error::corrupt(&p, e.to_string()))?;
            let a = zarrs::array::Array::new_with_metadata(store.clone(), &format!("/{name}"), meta).map_err(|e| Error::corrupt(&p, e.to_string()))?;
            arrays.insert(name, a);
            vars.push(v);
        }
        Ok(Product { path: dir.to_path_buf(), files, attrs, groups, vars, backend: Backend::Zarr(arrays) })
    }

    fn open_json(path: &Path) -> Result<Product> {
        let text = std::fs::read(path).map_err(|e| Error::input_io(path, e))?;
        let text = String::from_utf8_lossy(&text);
        let v: Value = json5ish(&text).map_err(|e| Error::corrupt(path, format!("not kerchunk JSON: {e}")))?;
        let refs = v.get("refs").and_then(Value::as_object).ok_or_else(|| Error::corrupt(path, "no \"refs\" object"))?;
        let mut meta = HashMap::new();
        let mut chunk_refs: Vec<(&str, &str, &Value)> = Vec::new();
        for (k, v) in refs {
            if k.ends_with(".zarray") || k.ends_with(".zattrs") || k.ends_with(".zgroup") {
                meta.insert(k.clone(), parse_json_text(path, k, v)?);
            } else if let Some((var, idx)) = k.rsplit_once('/') {
                chunk_refs.push((var, idx, v));
            }
        }
        let mut files: Vec<PathBuf> = Vec::new();
        let mut file_ids: HashMap<String, u32> = HashMap::new();
        let mut vars = Self::vars_from_meta(path, &meta)?;
        let groups = groups_from_meta(&meta);
        let index: HashMap<String, usize> = vars.iter().enumerate().map(|(i, v)| (v.name.clone(), i)).collect();
        for (var, idx, v) in chunk_refs {
            let Some(&vi) = index.get(var) else { continue };
            let pv = &mut vars[vi];
            let grid = pv.grid();
            let Some(lin) = parse_chunk_index(idx, &grid) else {
                return Err(Error::corrupt(path, format!("chunk key {var}/{idx} does not fit the chunk grid {grid:?}")));
            };
            let mut intern = |p: &str| -> u32 {
                *file_ids.entry(p.to_string()).or_insert_with(|| {
                    files.push(PathBuf::from(p.strip_prefix("file://").unwrap_or(p)));
                    (files.len() - 1) as u32
                })
            };
            let r = match v {
                Value::String(s) => match s.strip_prefix("base64:") {
                    Some(b) => Ref::Inline(base64::engine::general_purpose::STANDARD.decode(b).map_err(|e| Error::corrupt(path, format!("{var}/{idx}: bad base64: {e}")))?),
                    None => Ref::Inline(s.as_bytes().to_vec()),
                },
                Value::Array(a) if a.len() == 3 => {
                    Ref::Range { file: intern(a[0].as_str().unwrap_or_default()), offset: a[1].as_u64().unwrap_or(0), size: a[2].as_u64().unwrap_or(0) }
                }
                Value::Array(a) if a.len() == 1 => Ref::Whole { file: intern(a[0].as_str().unwrap_or_default()) },
                other => return Err(Error::corrupt(path, format!("{var}/{idx}: unexpected reference {other}"))),
            };
            if let Some(slot) = pv.refs.get_mut(lin as usize) {
                *slot = Some(r);
            }
        }
        let attrs = meta.get(".zattrs").and_then(Value::as_object).cloned().unwrap_or_default();
        Ok(Product { path: path.to_path_buf(), files, attrs, groups, vars, backend: Backend::Refs })
    }

    fn vars_from_meta(path: &Path, meta: &HashMap<String, Value>) -> Result<Vec<ProductVar>> {
        let mut names: Vec<&String> = meta.keys().filter(|k| k.ends_with("/.zarray")).collect();
        names.sort();
        let mut out = Vec::new();
        for k in names {
            let name = &k[..k.len() - 8];
            let za = &meta[k];
            let za_attrs = meta.get(&format!("{name}/.zattrs")).and_then(Value::as_object).cloned().unwrap_or_default();
            let nums = |key: &str| -> Result<Vec<u64>> {
                za.get(key).and_then(Value::as_array).map(|a| a.iter().map(|x| x.as_u64().unwrap_or(0)).collect()).ok_or_else(|| Error::corrupt(path, format!("{k}: no {key}")))
            };
            let shape = nums("shape")?;
            let chunks = nums("chunks")?;
            let mut attrs = za_attrs;
            let dims = attrs.remove("_ARRAY_DIMENSIONS").and_then(|d| d.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())).unwrap_or_default();
            let mut v = ProductVar {
                name: name.to_string(),
                dims,
                shape,
                chunks,
                dtype: za.get("dtype").and_then(Value::as_str).unwrap_or("").to_string(),
                fill_value: za.get("fill_value").cloned().unwrap_or(Value::Null),
                compressor: za.get("compressor").filter(|c| !c.is_null()).cloned(),
                filters: za.get("filters").and_then(Value::as_array).cloned().unwrap_or_default(),
                attrs,
                refs: vec![],
            };
            let n: u64 = v.grid().iter().product();
            v.refs = vec![None; n as usize];
            out.push(v);
        }
        Ok(out)
    }

    fn open_parquet(dir: &Path) -> Result<Product> {
        let zm = dir.join(".zmetadata");
        let text = std::fs::read_to_string(&zm).map_err(|e| Error::input_io(&zm, e))?;
        let v = json5ish(&text).map_err(|e| Error::corrupt(&zm, e))?;
        let record_size = v.get("record_size").and_then(Value::as_u64).ok_or_else(|| Error::corrupt(&zm, "no record_size"))?;
        let meta: HashMap<String, Value> = v.get("metadata").and_then(Value::as_object).map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
        let mut vars = Self::vars_from_meta(&zm, &meta)?;
        let groups = groups_from_meta(&meta);
        let mut files: Vec<PathBuf> = Vec::new();
        let mut file_ids: HashMap<String, u32> = HashMap::new();
        for pv in &mut vars {
            let n = pv.refs.len() as u64;
            for rec in 0..n.div_ceil(record_size) {
                let f = dir.join(&pv.name).join(format!("refs.{rec}.parq"));
                let rows = read_parquet_refs(&f)?;
                for (i, (p, off, size, raw)) in rows.into_iter().enumerate() {
                    let lin = rec * record_size + i as u64;
                    let Some(slot) = pv.refs.get_mut(lin as usize) else { break };
                    *slot = match (raw, p) {
                        (Some(raw), _) => Some(Ref::Inline(raw)),
                        (None, Some(p)) => {
                            let id = *file_ids.entry(p.clone()).or_insert_with(|| {
                                files.push(PathBuf::from(&p));
                                (files.len() - 1) as u32
                            });
                            Some(if off == 0 && size == 0 { Ref::Whole { file: id } } else { Ref::Range { file: id, offset: off, size } })
                        }
                        (None, None) => None,
                    };
                }
            }
        }
        let attrs = meta.get(".zattrs").and_then(Value::as_object).cloned().unwrap_or_default();
        Ok(Product { path: dir.to_path_buf(), files, attrs, groups, vars, backend: Backend::Refs })
    }

    /// Whether every codec of `v` is one this module decodes.
    pub fn decodable(v: &ProductVar) -> bool {
        let known = |c: &Value| c.get("id").and_then(Value::as_str).is_some_and(|id| DECODED.contains(&id));
        v.compressor.iter().chain(&v.filters).all(known) && v.dtype != "|O"
    }

    /// A CF aggregation file (which must carry `Conventions`, added when the
    /// sources have none).
    pub fn is_cfa(&self) -> bool {
        matches!(self.backend, Backend::Cfa(_))
    }

    /// For a CF aggregation file: the fragment file, variable name and start
    /// within it from which a client reads all of `start..start+count` of `v`.
    pub fn fragment_of(&self, v: &ProductVar, start: &[u64], count: &[u64]) -> Option<(PathBuf, String, Vec<u64>)> {
        match &self.backend {
            Backend::Cfa(r) => r.fragment_of(&v.name, start, count),
            _ => None,
        }
    }

    pub fn var(&self, name: &str) -> Option<&ProductVar> {
        self.vars.iter().find(|v| v.name == name)
    }

    /// The decoded bytes of one chunk (full chunk shape), or None when missing.
    pub fn chunk(&self, v: &ProductVar, lin: u64, reader: &mut FileCache) -> Result<Option<Vec<u8>>> {
        if let Backend::Cfa(r) = &self.backend {
            return r.strings(&v.name).map(|s| Some(crate::codec::encode_vlen_utf8(&s)));
        }
        let Some(r) = v.refs.get(lin as usize).and_then(|r| r.as_ref()) else { return Ok(None) };
        let raw = match r {
            Ref::Inline(b) => b.clone(),
            Ref::Range { file, offset, size } => reader.read(&self.files[*file as usize], *offset, *size)?,
            Ref::Whole { file } => {
                let p = &self.files[*file as usize];
                std::fs::read(p).map_err(|e| Error::input_io(p, e))?
            }
        };
        // Bytes that do not decode are blamed on the file they were read from
        // (a source, for references), at the place they were read.
        let (blame, at) = match r {
            Ref::Range { file, offset, .. } => (&self.files[*file as usize], format!(" (bytes at offset {offset})")),
            Ref::Whole { file } => (&self.files[*file as usize], String::new()),
            Ref::Inline(_) => (&self.path, String::new()),
        };
        let bad = |e: String| Error::corrupt(blame, format!("variable '{}' chunk {lin}{at}: {e}", v.name));
        let mut buf = raw;
        if let Some(c) = &v.compressor {
            buf = decode(c, &buf).map_err(bad)?;
        }
        for f in v.filters.iter().rev() {
            buf = decode(f, &buf).map_err(bad)?;
        }
        Ok(Some(buf))
    }

    /// Read the hyperslab `start..start+count` of a fixed-size variable, in the
    /// product's dtype and byte order; missing chunks read as `fill`.
    pub fn read_slab(&self, v: &ProductVar, start: &[u64], count: &[u64], reader: &mut FileCache) -> Result<Vec<u8>> {
        match &self.backend {
            Backend::Refs => {}
            Backend::Zarr(arrays) => {
                if let Some(a) = arrays.get(&v.name) {
                    let subset = zarrs::array::ArraySubset::new_with_start_shape(start.to_vec(), count.to_vec())
                        .map_err(|e| Error::corrupt(&self.path, format!("variable '{}': {e}", v.name)))?;
                    let b: zarrs::array::ArrayBytes = a.retrieve_array_subset(&subset).map_err(|e| Error::corrupt(&self.path, format!("variable '{}': {e}", v.name)))?;
                    return b.into_fixed().map(|c| c.into_owned()).map_err(|e| Error::corrupt(&self.path, format!("variable '{}': {e}", v.name)));
                }
            }
            Backend::Cfa(r) => return r.read(&v.name, start, count),
        }
        let isz = v.itemsize();
        let n: u64 = count.iter().product();
        let mut out = vec![0u8; n as usize * isz];
        if n == 0 {
            return Ok(out);
        }
        let fill = fill_bytes(v);
        if v.shape.is_empty() {
            let c = self.chunk(v, 0, reader)?.unwrap_or_else(|| fill.clone());
            out.copy_from_slice(&c[..isz.min(c.len())]);
            return Ok(out);
        }
        let grid = v.grid();
        let lo: Vec<u64> = start.iter().zip(&v.chunks).map(|(s, c)| s / c).collect();
        let hi: Vec<u64> = start.iter().zip(count).zip(&v.chunks).map(|((s, n), c)| (s + n - 1) / c).collect();
        let mut cc = lo.clone();
        loop {
            let lin = crate::model::ravel(&cc, &grid);
            let chunk_start: Vec<u64> = cc.iter().zip(&v.chunks).map(|(i, c)| i * c).collect();
            let data = self.chunk(v, lin, reader)?;
            let need = v.chunks.iter().product::<u64>() as usize * isz;
            let data = match data {
                Some(d) if d.len() >= need => d,
                Some(d) => return Err(Error::corrupt(&self.path, format!("variable '{}' chunk {cc:?} decodes to {} bytes, expected {need}", v.name, d.len()))),
                None => fill.iter().copied().cycle().take(need).collect(),
            };
            // Intersection of this chunk with the slab.
            let r0: Vec<u64> = (0..cc.len()).map(|d| start[d].max(chunk_start[d])).collect();
            let r1: Vec<u64> = (0..cc.len()).map(|d| (start[d] + count[d]).min(chunk_start[d] + v.chunks[d])).collect();
            crate::slab::copy_region(&data, &v.chunks, &chunk_start, &mut out, count, start, &r0, &r1, isz);
            // Next chunk coordinate within [lo, hi].
            let mut d = cc.len();
            loop {
                if d == 0 {
                    return Ok(out);
                }
                d -= 1;
                if cc[d] < hi[d] {
                    cc[d] += 1;
                    break;
                }
                cc[d] = lo[d];
            }
        }
    }
}

/// The fill element of a variable in its own dtype and byte order (zeros when
/// there is no fill value, as zarr-python reads it).
pub fn fill_bytes(v: &ProductVar) -> Vec<u8> {
    let isz = v.itemsize();
    let big = v.dtype.starts_with('>');
    let kind = v.dtype.as_bytes().get(1).copied().unwrap_or(b'u');
    let mut b = match (&v.fill_value, kind) {
        (Value::Null, _) => vec![0u8; isz],
        (Value::String(s), b'S') => base64::engine::general_purpose::STANDARD.decode(s).unwrap_or_default(),
        (f, b'f') => {
            let x = match f {
                Value::String(s) if s == "NaN" => f64::NAN,
                Value::String(s) if s == "Infinity" => f64::INFINITY,
                Value::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
                other => other.as_f64().unwrap_or(0.0),
            };
            if isz == 4 {
                (x as f32).to_le_bytes().to_vec()
            } else {
                x.to_le_bytes().to_vec()
            }
        }
        (f, _) => {
            let x = f.as_i64().unwrap_or_else(|| f.as_u64().unwrap_or(0) as i64);
            x.to_le_bytes()[..isz.min(8)].to_vec()
        }
    };
    b.resize(isz, 0);
    if big && kind != b'S' {
        b.reverse();
    }
    b
}

/// The codec ids `decode` handles for fixed-size data (vlen-utf8 aside).
const DECODED: &[&str] = &["zlib", "gzip", "zstd", "shuffle", "fletcher32"];

fn decode(codec: &Value, data: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let id = codec.get("id").and_then(Value::as_str).unwrap_or("");
    match id {
        "zlib" => {
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(data).read_to_end(&mut out).map_err(|e| format!("zlib: {e}"))?;
            Ok(out)
        }
        "gzip" => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(data).read_to_end(&mut out).map_err(|e| format!("gzip: {e}"))?;
            Ok(out)
        }
        "zstd" => zstd::stream::decode_all(data).map_err(|e| format!("zstd: {e}")),
        "shuffle" => {
            let es = codec.get("elementsize").and_then(Value::as_u64).unwrap_or(1).max(1) as usize;
            Ok(crate::codec::unshuffle(data, es))
        }
        "fletcher32" => {
            if data.len() < 4 {
                return Err("fletcher32: chunk shorter than its checksum".into());
            }
            let (body, sum) = data.split_at(data.len() - 4);
            let want = u32::from_le_bytes(sum.try_into().expect("4 bytes"));
            if crate::codec::fletcher32(body) != want {
                return Err("fletcher32 checksum mismatch: the bytes referenced are not the chunk".into());
            }
            Ok(body.to_vec())
        }
        "vlen-utf8" => Ok(data.to_vec()),
        other => Err(format!("codec '{other}' cannot be decoded by padocc's validator")),
    }
}

/// Parse `1.0.3` into a linear chunk index, checking it lies in the grid.
fn parse_chunk_index(idx: &str, grid: &[u64]) -> Option<u64> {
    if grid.is_empty() {
        return (idx == "0").then_some(0);
    }
    let mut lin = 0u64;
    let mut n = 0;
    for (part, g) in idx.split('.').zip(grid) {
        let i: u64 = part.parse().ok()?;
        if i >= *g {
            return None;
        }
        lin = lin * g + i;
        n += 1;
    }
    (n == grid.len()).then_some(lin)
}

pub(crate) type Row = (Option<String>, u64, u64, Option<Vec<u8>>);

pub(crate) fn read_parquet_refs(f: &Path) -> Result<Vec<Row>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    let err = |e: parquet::errors::ParquetError| Error::corrupt(f, e.to_string());
    let file = std::fs::File::open(f).map_err(|e| Error::input_io(f, e))?;
    let reader = SerializedFileReader::new(file).map_err(err)?;
    let mut out = Vec::new();
    for row in reader.get_row_iter(None).map_err(err)? {
        let row = row.map_err(err)?;
        let (mut p, mut off, mut size, mut raw) = (None, 0, 0, None);
        for (name, field) in row.get_column_iter() {
            match (name.as_str(), field) {
                ("path", Field::Str(s)) => p = Some(s.clone()),
                ("offset", Field::Long(x)) => off = *x as u64,
                ("size", Field::Long(x)) => size = *x as u64,
                ("raw", Field::Bytes(b)) => raw = Some(b.data().to_vec()),
                _ => {}
            }
        }
        out.push((p, off, size, raw));
    }
    Ok(out)
}

/// Open source files once and read byte ranges from them.
#[derive(Default)]
pub struct FileCache {
    open: HashMap<PathBuf, std::fs::File>,
}

impl FileCache {
    pub fn read(&mut self, path: &Path, offset: u64, size: u64) -> Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        if !self.open.contains_key(path) {
            let f = std::fs::File::open(path).map_err(|e| Error::input_io(path, e))?;
            self.open.insert(path.to_path_buf(), f);
        }
        let f = &self.open[path];
        let mut buf = vec![0u8; size as usize];
        f.read_exact_at(&mut buf, offset).map_err(|e| Error::corrupt(path, format!("cannot read {size} bytes at offset {offset}: {e}")))?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_nan_and_infinities_are_read_quoted_or_not() {
        let v = json5ish(r#"{"a": NaN, "b": "NaN", "c": [-Infinity, Infinity], "d": "x NaN \" NaN"}"#).unwrap();
        assert_eq!((v["a"].as_str(), v["b"].as_str(), v["c"][0].as_str(), v["c"][1].as_str()), (Some("NaN"), Some("NaN"), Some("-Infinity"), Some("Infinity")));
        assert_eq!(v["d"].as_str(), Some("x NaN \" NaN"));
    }

    /// Every codec `decodable` promises is one `decode` knows.
    #[test]
    fn decodable_codecs_are_decoded() {
        for id in DECODED {
            let e = decode(&serde_json::json!({"id": id, "elementsize": 4}), b"").err().unwrap_or_default();
            assert!(!e.contains("cannot be decoded"), "{id}: {e}");
        }
    }

    #[test]
    fn chunk_index_parsing_checks_the_grid() {
        assert_eq!(parse_chunk_index("1.2", &[2, 3]), Some(5));
        assert_eq!(parse_chunk_index("2.0", &[2, 3]), None);
        assert_eq!(parse_chunk_index("0", &[]), Some(0));
        assert_eq!(parse_chunk_index("1", &[2, 3]), None);
    }

    #[test]
    fn region_copy_places_a_chunk_in_a_slab() {
        // 4x4 slab at origin, chunk 2x2 at (2,2) holding 1..4.
        let src = [1u8, 2, 3, 4];
        let mut dst = vec![0u8; 16];
        crate::slab::copy_region(&src, &[2, 2], &[2, 2], &mut dst, &[4, 4], &[0, 0], &[2, 2], &[4, 4], 1);
        assert_eq!(dst[10], 1);
        assert_eq!(dst[15], 4);
    }

    #[test]
    fn python_json_with_nan_parses() {
        let v = json5ish("{\"a\": NaN, \"b\": [1.0, -Infinity]}").unwrap();
        assert_eq!(v["a"], Value::String("NaN".into()));
    }
}
