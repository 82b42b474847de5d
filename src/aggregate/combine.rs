//! Combining per-file virtual datasets into one, with the semantics of
//! `xarray.open_mfdataset(files, combine="nested", concat_dim=D,
//! data_vars="minimal", coords="minimal", compat="override",
//! combine_attrs="override")`: variables with a concat dimension are
//! concatenated, everything else (and every attribute) comes from the first file.
//! With several concat dimensions, files are placed as tiles by their coordinate
//! values (`combine="by_coords"`).
//!
//! Correctness notes:
//! - A Zarr chunk grid is regular. When files' lengths along the concat dimension
//!   are not multiples of one chunk length, uncompressed data is re-cut into
//!   pieces whose byte ranges are computable (chunk length = gcd of the lengths);
//!   compressed chunks cannot be re-cut and give an error.
//! - Time coordinates whose units differ per file are decoded with each file's
//!   units and re-encoded to the first file's, together with every variable that
//!   shares those units (bounds, ARM's `time_offset`); those are inlined.
//! - Duplicate or decreasing values along the concat dimension are reported;
//!   `--dedupe` decides what to do with them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::aggregate::cftime::{self, Calendar, TimeUnits};
use crate::error::{Error, Result};
use crate::model::{ravel, AttrValue, ChunkData, ChunkRef, Group, Layout, Variable, VirtualDataset};
use crate::source;

/// What to do with repeated values along the concat dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Dedupe {
    /// Stop with an error naming the files and values.
    #[default]
    Error,
    /// Keep every step, as a nested concatenation does.
    Keep,
    /// Keep the first occurrence of each value, sorted by value.
    First,
    /// Keep the last occurrence of each value, sorted by value (kerchunk's choice).
    Last,
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub concat_dims: Vec<String>,
    pub dedupe: Dedupe,
    /// Work out the aggregate's structure only, not its chunk references:
    /// products that copy the data (Zarr) or point at whole files (CFA) can hold
    /// files whose chunk shapes or codecs differ, which references cannot.
    pub layout_only: bool,
    /// The variables to aggregate (padocc's keep_vars/drop_vars), applied
    /// to each file as it is read.
    pub select: super::select::Selection,
    /// Attribute edits (the CSV's updates/removals), applied to each file as it is read.
    pub edits: super::edit::AttrEdits,
}

/// Where each file's data sits in the aggregate: what Zarr and CFA products
/// need besides the structure.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Placement {
    /// The concat dimensions (empty for a single file).
    pub dims: Vec<String>,
    /// Per file, per concat dim: the index of its block.
    pub block: Vec<Vec<usize>>,
    /// Per concat dim: the length of each block, in block order.
    pub block_lens: Vec<Vec<u64>>,
    /// With `--dedupe first|last`: the rows kept along `dims[0]`, as indices
    /// into the concatenation of every file's rows, in output order.
    pub selection: Option<Vec<u64>>,
    /// Variables whose values were re-encoded to the first file's time units:
    /// they hold their values inline and must not be read from the sources.
    pub recoded: Vec<String>,
}

impl Placement {
    /// Offset of block `b` along concat dim `t`.
    pub fn offset(&self, t: usize, b: usize) -> u64 {
        self.block_lens[t][..b].iter().sum()
    }

    /// Per concat dim, this file's offset in the aggregate (before any dedupe).
    pub fn origin(&self, f: usize) -> Vec<u64> {
        (0..self.dims.len()).map(|t| self.offset(t, self.block[f][t])).collect()
    }

    /// This file's length along each concat dim.
    pub fn lens(&self, f: usize) -> Vec<u64> {
        (0..self.dims.len()).map(|t| self.block_lens[t][self.block[f][t]]).collect()
    }
}

/// Where each file sits along each concat dimension.
struct Tiling {
    dims: Vec<String>,
    /// Per file, its block index along each concat dim.
    pos: Vec<Vec<usize>>,
    /// Per concat dim, the length of each block, in block order.
    block_lens: Vec<Vec<u64>>,
}

impl Tiling {
    fn total(&self, t: usize) -> u64 {
        self.block_lens[t].iter().sum()
    }
}

pub fn combine(parts: Vec<VirtualDataset>, opts: &Options) -> Result<VirtualDataset> {
    aggregate(parts, opts).map(|(vds, _)| vds)
}

/// Combine, and say where each file landed.
pub fn aggregate(parts: Vec<VirtualDataset>, opts: &Options) -> Result<(VirtualDataset, Placement)> {
    if parts.len() <= 1 {
        let vds = parts.into_iter().next().ok_or_else(|| Error::Usage("no input files".into()))?;
        return Ok((vds, Placement { block: vec![vec![]], ..Placement::default() }));
    }
    let files: Vec<PathBuf> = parts.iter().map(|p| p.files[0].clone()).collect();
    let dims = if opts.concat_dims.is_empty() { vec![guess_concat_dim(&parts[0].root)?] } else { opts.concat_dims.clone() };
    for (f, p) in parts.iter().enumerate() {
        for d in &dims {
            if dim_len(&p.root, d).is_none() {
                return Err(Error::Incompatible(format!(
                    "{}: has no dimension '{d}' to concatenate along (it has {})",
                    files[f].display(),
                    p.root.dims.iter().map(|x| x.0.as_str()).collect::<Vec<_>>().join(", ")
                )));
            }
        }
    }
    let tiling = if dims.len() == 1 {
        Tiling { pos: (0..parts.len()).map(|f| vec![f]).collect(), block_lens: vec![parts.iter().map(|p| dim_len(&p.root, &dims[0]).unwrap_or(0)).collect()], dims }
    } else {
        tile_by_coords(&parts, &files, dims)?
    };

    let mut selection: Option<Vec<u64>> = None;
    let mut recoded: HashMap<String, Variable> = HashMap::new();
    if tiling.dims.len() == 1 {
        let d = tiling.dims[0].clone();
        if parts[0].root.var(&d).is_some() {
            let coord = CoordValues::read(&parts, &files, &d)?;
            selection = coord.selection(&files, &tiling, opts.dedupe)?;
            recoded = recode_times(&parts, &files, &d, &coord, selection.as_deref())?;
        }
    }

    let mut names: Vec<String> = Vec::new();
    for p in &parts {
        for v in &p.root.vars {
            if !names.contains(&v.name) {
                names.push(v.name.clone());
            }
        }
    }
    let nested = tiling.dims.len() == 1;
    let mut vars = Vec::with_capacity(names.len());
    let recoded_names: Vec<String> = recoded.keys().cloned().collect();
    for name in &names {
        if let Some(v) = recoded.remove(name) {
            vars.push(v);
            continue;
        }
        let holders: Vec<usize> = (0..parts.len()).filter(|&f| parts[f].root.var(name).is_some()).collect();
        if nested && holders.len() != parts.len() {
            let has = holders[0];
            let lacks = (0..parts.len()).find(|f| !holders.contains(f)).unwrap_or(0);
            let v = parts[has].root.var(name).expect("holder");
            if v.dims.contains(&tiling.dims[0]) {
                return Err(Error::Incompatible(format!(
                    "variable '{name}' is in {} but not in {}; files of one aggregation must have the same variables",
                    files[has].display(),
                    files[lacks].display()
                )));
            }
        }
        vars.push(combine_var(&parts, &files, name, &holders, &tiling, selection.as_deref(), opts.layout_only)?);
    }

    // Subgroups: each variable combined as the root's are (by its path), so a
    // variable along a concat dimension is concatenated in any group.
    let mut groups = parts[0].root.groups.clone();
    let mut pending: Vec<&mut Group> = groups.iter_mut().collect();
    while let Some(g) = pending.pop() {
        let mut out = Vec::with_capacity(g.vars.len());
        for v in &g.vars {
            let path = format!("{}/{}", g.path, v.name);
            let holders: Vec<usize> = (0..parts.len()).filter(|&f| var_at(&parts[f], &path).is_some()).collect();
            out.push(combine_var(&parts, &files, &path, &holders, &tiling, selection.as_deref(), opts.layout_only)?);
        }
        g.vars = out;
        pending.extend(g.groups.iter_mut());
    }
    let first = &parts[0].root;
    let mut dims_out = first.dims.clone();
    for (t, d) in tiling.dims.iter().enumerate() {
        let len = match (&selection, t) {
            (Some(sel), 0) => sel.len() as u64,
            _ => tiling.total(t),
        };
        if let Some(slot) = dims_out.iter_mut().find(|x| &x.0 == d) {
            slot.1 = len;
        }
    }
    let root = Group { path: String::new(), attrs: first.attrs.clone(), dims: dims_out, vars, groups };
    let placement = Placement { dims: tiling.dims, block: tiling.pos, block_lens: tiling.block_lens, selection, recoded: recoded_names };
    Ok((VirtualDataset { files, root, coords: Vec::new() }, placement))
}

/// The variable at `path` ("v", "g/v", "g/h/v") of one file.
fn var_at<'a>(p: &'a VirtualDataset, path: &str) -> Option<&'a Variable> {
    let (group, name) = path.rsplit_once('/').unwrap_or(("", path));
    let mut g = &p.root;
    for part in group.split('/').filter(|x| !x.is_empty()) {
        g = g.groups.iter().find(|c| c.path.rsplit('/').next() == Some(part))?;
    }
    g.var(name)
}

/// The unlimited dimension of the first file, else `time`.
fn guess_concat_dim(root: &Group) -> Result<String> {
    if let Some(d) = root.dims.iter().find(|d| d.2) {
        return Ok(d.0.clone());
    }
    if root.dims.iter().any(|d| d.0 == "time") {
        return Ok("time".into());
    }
    Err(Error::Usage("cannot tell which dimension to concatenate along (no unlimited dimension, no 'time'): give --concat-dim".into()))
}

fn dim_len(g: &Group, d: &str) -> Option<u64> {
    g.dims.iter().find(|x| x.0 == d).map(|x| x.1).or_else(|| g.vars.iter().find_map(|v| v.dims.iter().position(|x| x == d).map(|i| v.shape[i])))
}

/// Place files by the first value of each concat coordinate (by_coords).
fn tile_by_coords(parts: &[VirtualDataset], files: &[PathBuf], dims: Vec<String>) -> Result<Tiling> {
    let mut pos = vec![vec![0usize; dims.len()]; parts.len()];
    let mut block_lens = Vec::with_capacity(dims.len());
    for (t, d) in dims.iter().enumerate() {
        let mut starts: Vec<(f64, u64, usize)> = Vec::with_capacity(parts.len());
        for (f, p) in parts.iter().enumerate() {
            let v = p.root.var(d).ok_or_else(|| {
                Error::Incompatible(format!("{}: no coordinate variable '{d}'; tiling along several dimensions places files by their coordinate values", files[f].display()))
            })?;
            let vals = match p.coord(d) {
                Some(v) => v.to_vec(),
                None => source::read_values(&files[f], d, &v.shape)?,
            };
            let first = vals.first().copied().unwrap_or(f64::NAN);
            starts.push((first, v.shape[0], f));
        }
        let mut distinct: Vec<(f64, u64)> = Vec::new();
        for (s, len, f) in &starts {
            match distinct.iter().find(|(x, _)| x == s) {
                Some((_, l)) if l != len => {
                    return Err(Error::Incompatible(format!("{}: its '{d}' block starting at {s} has length {len}, another file's has {l}", files[*f].display())))
                }
                Some(_) => {}
                None => distinct.push((*s, *len)),
            }
        }
        distinct.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (s, _, f) in &starts {
            pos[*f][t] = distinct.iter().position(|(x, _)| x == s).unwrap_or(0);
        }
        block_lens.push(distinct.iter().map(|x| x.1).collect());
    }
    let mut seen: HashMap<&Vec<usize>, usize> = HashMap::new();
    for (f, p) in pos.iter().enumerate() {
        if let Some(other) = seen.insert(p, f) {
            return Err(Error::Incompatible(format!("{} and {} hold the same tile along {}", files[other].display(), files[f].display(), dims.join(","))));
        }
    }
    Ok(Tiling { dims, pos, block_lens })
}

/// The concat coordinate of every file, decoded where it is a CF time.
struct CoordValues {
    /// Per file, raw values.
    raw: Vec<Vec<f64>>,
    /// Per file, its time units (when the coordinate is a CF time).
    units: Vec<Option<(String, TimeUnits)>>,
}

impl CoordValues {
    fn read(parts: &[VirtualDataset], files: &[PathBuf], d: &str) -> Result<CoordValues> {
        let mut raw = Vec::with_capacity(parts.len());
        let mut units = Vec::with_capacity(parts.len());
        for (f, p) in parts.iter().enumerate() {
            let v = p.root.var(d).ok_or_else(|| Error::Incompatible(format!("{}: coordinate variable '{d}' is missing", files[f].display())))?;
            raw.push(match p.coord(d) {
                Some(v) => v.to_vec(),
                None => source::read_values(&files[f], d, &v.shape)?,
            });
            units.push(time_units(v).map_err(|e| Error::corrupt(&files[f], format!("variable '{d}': {e}")))?);
        }
        Ok(CoordValues { raw, units })
    }

    /// Comparable keys: decoded instants for times, raw values otherwise.
    fn keys(&self) -> Vec<(usize, usize, f64)> {
        let mut out = Vec::new();
        for (f, vals) in self.raw.iter().enumerate() {
            for (i, x) in vals.iter().enumerate() {
                let k = match &self.units[f] {
                    Some((_, u)) => cftime::decode(*x, u).map_or(f64::NAN, |us| us as f64),
                    None => *x,
                };
                out.push((f, i, k));
            }
        }
        out
    }

    fn describe(&self, f: usize, key: f64) -> String {
        match &self.units[f] {
            Some((_, u)) => cftime::format_instant(u.calendar, key as i128),
            None => format!("{key}"),
        }
    }

    /// Rows to keep (global indices, in output order), or None for all.
    fn selection(&self, files: &[PathBuf], _t: &Tiling, dedupe: Dedupe) -> Result<Option<Vec<u64>>> {
        let keys = self.keys();
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by(|&a, &b| keys[a].2.total_cmp(&keys[b].2).then(a.cmp(&b)));
        let dups: Vec<(usize, usize)> = order.windows(2).filter(|w| keys[w[0]].2 == keys[w[1]].2).map(|w| (w[0], w[1])).collect();
        let decreasing = keys.windows(2).position(|w| w[1].2 < w[0].2);
        if dups.is_empty() && decreasing.is_none() {
            return Ok(None);
        }
        match dedupe {
            Dedupe::Keep => Ok(None),
            Dedupe::Error => {
                let mut msg = String::new();
                if let Some(&(a, b)) = dups.first() {
                    let (fa, ia, k) = keys[a];
                    let (fb, ib, _) = keys[b];
                    msg.push_str(&format!(
                        "{} duplicate value(s) along the concat dimension; first: {} at index {ia} of {} and at index {ib} of {}",
                        dups.len(),
                        self.describe(fa, k),
                        files[fa].display(),
                        files[fb].display()
                    ));
                }
                if let Some(i) = decreasing {
                    let (fa, ia, ka) = keys[i];
                    let (fb, ib, kb) = keys[i + 1];
                    if !msg.is_empty() {
                        msg.push_str("; ");
                    }
                    msg.push_str(&format!(
                        "values decrease: {} (index {ia} of {}) is followed by {} (index {ib} of {}); check the file order",
                        self.describe(fa, ka),
                        files[fa].display(),
                        self.describe(fb, kb),
                        files[fb].display()
                    ));
                }
                msg.push_str(". Use --dedupe keep to keep every step, or --dedupe first|last to keep one of each, sorted");
                Err(Error::Incompatible(msg))
            }
            Dedupe::First | Dedupe::Last => {
                // Among equal keys keep the first or last occurrence, then sort by value.
                let mut keep: Vec<usize> = Vec::with_capacity(keys.len());
                let mut i = 0;
                while i < order.len() {
                    let mut j = i;
                    while j + 1 < order.len() && keys[order[j + 1]].2 == keys[order[i]].2 {
                        j += 1;
                    }
                    keep.push(if dedupe == Dedupe::First { order[i] } else { order[j] });
                    i = j + 1;
                }
                Ok(Some(keep.into_iter().map(|x| x as u64).collect()))
            }
        }
    }
}

fn time_units(v: &Variable) -> std::result::Result<Option<(String, TimeUnits)>, String> {
    let Some(units) = v.attrs.get("units").and_then(AttrValue::as_str) else { return Ok(None) };
    if !units.contains(" since ") {
        return Ok(None);
    }
    let cal = match v.attrs.get("calendar").and_then(AttrValue::as_str) {
        Some(c) => Calendar::parse(c).ok_or_else(|| format!("unknown calendar '{c}'"))?,
        None => Calendar::Standard,
    };
    cftime::parse_units(units, cal).map(|u| Some((units.to_string(), u)))
}

/// Re-encode the concat coordinate and the variables sharing its units to the
/// first file's units, when any file uses other units. Returns the new inline
/// variables by name.
fn recode_times(parts: &[VirtualDataset], files: &[PathBuf], d: &str, coord: &CoordValues, selection: Option<&[u64]>) -> Result<HashMap<String, Variable>> {
    let mut out = HashMap::new();
    let Some((units0, target)) = coord.units[0].clone() else { return Ok(out) };
    if coord.units.iter().all(|u| u.as_ref().map(|x| &x.0) == Some(&units0)) {
        return Ok(out);
    }
    let first = &parts[0].root;
    let bounds = first.var(d).and_then(|v| v.attrs.get("bounds")).and_then(AttrValue::as_str).map(str::to_string);
    for v in &first.vars {
        if v.dims.first().map(String::as_str) != Some(d) {
            continue;
        }
        let shares = v.name == d
            || v.attrs.get("units").and_then(AttrValue::as_str) == Some(units0.as_str())
            || (bounds.as_deref() == Some(v.name.as_str()) && v.attrs.get("units").is_none());
        if !shares {
            continue;
        }
        let mut values = Vec::new();
        for (f, p) in parts.iter().enumerate() {
            let Some(from) = coord.units[f].as_ref().map(|x| &x.1) else {
                return Err(Error::Incompatible(format!("{}: '{d}' has no time units", files[f].display())));
            };
            let fv = p.root.var(&v.name).ok_or_else(|| Error::Incompatible(format!("variable '{}' is missing from {}", v.name, files[f].display())))?;
            let fill = fv.attrs.get("missing_value").and_then(AttrValue::as_f64);
            for x in source::read_values(&files[f], &v.name, &fv.shape)? {
                let y = if Some(x) == fill || !x.is_finite() {
                    x
                } else {
                    cftime::recode(x, from, &target).map_err(|e| Error::Incompatible(format!("{}: '{}': {e}", files[f].display(), v.name)))?
                };
                values.push(y);
            }
        }
        let row: usize = v.shape[1..].iter().product::<u64>() as usize;
        if let Some(sel) = selection {
            values = sel.iter().flat_map(|&r| values[r as usize * row..(r as usize + 1) * row].to_vec()).collect();
        }
        let n_rows = (values.len() / row.max(1)) as u64;
        out.insert(v.name.clone(), inline_values(v, values, n_rows));
    }
    Ok(out)
}

/// A variable holding `values` inline, in the variable's own dtype where every
/// value fits it exactly, else as float64.
fn inline_values(template: &Variable, values: Vec<f64>, n_rows: u64) -> Variable {
    let kind = template.dtype.as_bytes().get(1).copied().unwrap_or(b'f');
    let size = template.itemsize() as usize;
    let integral = values.iter().all(|x| x.fract() == 0.0 || !x.is_finite());
    let (dtype, bytes): (String, Vec<u8>) = match (kind, size) {
        (b'i', 4) if integral => ("<i4".into(), values.iter().flat_map(|x| (*x as i32).to_le_bytes()).collect()),
        (b'i', 8) if integral => ("<i8".into(), values.iter().flat_map(|x| (*x as i64).to_le_bytes()).collect()),
        (b'i', 2) if integral => ("<i2".into(), values.iter().flat_map(|x| (*x as i16).to_le_bytes()).collect()),
        (b'f', 4) => ("<f4".into(), values.iter().flat_map(|x| (*x as f32).to_le_bytes()).collect()),
        _ => ("<f8".into(), values.iter().flat_map(|x| x.to_le_bytes()).collect()),
    };
    let mut shape = template.shape.clone();
    if let Some(s) = shape.first_mut() {
        *s = n_rows;
    }
    Variable {
        chunks: shape.clone(),
        shape,
        dtype,
        compressor: None,
        filters: vec![],
        data: ChunkData::Inline(vec![bytes]),
        missing_chunk: None,
        layout: Layout::Inline,
        ..template.clone()
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn with_file(v: &Variable, f: usize) -> Variable {
    let mut v = v.clone();
    if let ChunkData::Refs(refs) = &mut v.data {
        for r in refs.iter_mut() {
            r.file = f as u32;
        }
    }
    v
}

fn mismatch(files: &[PathBuf], a: usize, b: usize, name: &str, what: &str, x: impl std::fmt::Debug, y: impl std::fmt::Debug) -> Error {
    Error::Incompatible(format!("variable '{name}' differs between files: {what} is {x:?} in {} but {y:?} in {}", files[a].display(), files[b].display()))
}

/// The cross-file checks every concatenated variable must pass.
fn check_consistent(parts: &[VirtualDataset], files: &[PathBuf], name: &str, holders: &[usize], concat_axes: &[usize], layout_only: bool) -> Result<()> {
    let a = holders[0];
    let va = var_at(&parts[a], name).expect("holder");
    for &b in &holders[1..] {
        let vb = var_at(&parts[b], name).expect("holder");
        if va.dims != vb.dims {
            return Err(mismatch(files, a, b, name, "dimensions", &va.dims, &vb.dims));
        }
        if va.dtype != vb.dtype {
            return Err(mismatch(files, a, b, name, "dtype", &va.dtype, &vb.dtype));
        }
        if !layout_only && (va.compressor != vb.compressor || va.filters != vb.filters) {
            return Err(mismatch(files, a, b, name, "codec", codecs_desc(va), codecs_desc(vb)));
        }
        if va.fill_value != vb.fill_value {
            return Err(mismatch(files, a, b, name, "_FillValue", &va.fill_value, &vb.fill_value));
        }
        for attr in ["scale_factor", "add_offset"] {
            if va.attrs.get(attr) != vb.attrs.get(attr) {
                return Err(mismatch(files, a, b, name, attr, va.attrs.get(attr), vb.attrs.get(attr)));
            }
        }
        for i in 0..va.dims.len() {
            if concat_axes.contains(&i) {
                continue;
            }
            if va.shape[i] != vb.shape[i] {
                return Err(mismatch(files, a, b, name, &format!("length of '{}'", va.dims[i]), va.shape[i], vb.shape[i]));
            }
            if !layout_only && va.chunks[i] != vb.chunks[i] {
                return Err(mismatch(files, a, b, name, &format!("chunk length along '{}'", va.dims[i]), va.chunks[i], vb.chunks[i]));
            }
        }
        if !layout_only && matches!(va.data, ChunkData::Inline(_)) != matches!(vb.data, ChunkData::Inline(_)) {
            return Err(mismatch(files, a, b, name, "storage", va.layout, vb.layout));
        }
    }
    Ok(())
}

fn codecs_desc(v: &Variable) -> String {
    let mut ids: Vec<&str> = v.filters.iter().map(|c| c.id).collect();
    ids.extend(v.compressor.iter().map(|c| c.id));
    if ids.is_empty() {
        "none".into()
    } else {
        ids.join("+")
    }
}

/// Split every chunk of an uncompressed variable into pieces of `g` along
/// `ax`: each piece is a byte range of the old chunk because all chunk lengths
/// before `ax` are 1 (C order).
fn recut(v: &Variable, ax: usize, g: u64) -> Variable {
    let ChunkData::Refs(refs) = &v.data else { return v.clone() };
    let old_grid = v.chunk_grid();
    let c = v.chunks[ax];
    let mut out = v.clone();
    out.chunks[ax] = g;
    let grid = out.chunk_grid();
    let piece_bytes = g * v.chunks[ax + 1..].iter().product::<u64>() * v.itemsize();
    let n: u64 = grid.iter().product();
    let mut new_refs = Vec::with_capacity(n as usize);
    let mut coords = vec![0u64; grid.len()];
    for idx in 0..n {
        unravel(idx, &grid, &mut coords);
        let row = coords[ax] * g;
        let (k, p) = (row / c, (row % c) / g);
        coords[ax] = k;
        let old = refs[ravel(&coords, &old_grid) as usize];
        new_refs.push(if old.is_missing() { ChunkRef::MISSING } else { ChunkRef { file: old.file, offset: old.offset + p * piece_bytes, size: piece_bytes } });
    }
    out.data = ChunkData::Refs(new_refs);
    if let Some(m) = &mut out.missing_chunk {
        m.truncate(piece_bytes as usize);
    }
    out
}

fn unravel(mut idx: u64, grid: &[u64], out: &mut [u64]) {
    for i in (0..grid.len()).rev() {
        out[i] = idx % grid[i];
        idx /= grid[i];
    }
}

fn combine_var(parts: &[VirtualDataset], files: &[PathBuf], name: &str, holders: &[usize], tiling: &Tiling, selection: Option<&[u64]>, layout_only: bool) -> Result<Variable> {
    let first = holders[0];
    let tmpl = var_at(&parts[first], name).expect("holder");
    // (axis in the variable, index of the concat dim)
    let axes: Vec<(usize, usize)> = tmpl.dims.iter().enumerate().filter_map(|(i, d)| tiling.dims.iter().position(|x| x == d).map(|t| (i, t))).collect();
    if axes.is_empty() {
        return Ok(with_file(tmpl, first));
    }
    let axis_list: Vec<usize> = axes.iter().map(|a| a.0).collect();
    check_consistent(parts, files, name, holders, &axis_list, layout_only)?;

    if layout_only {
        let mut out = tmpl.clone();
        for &(ax, t) in &axes {
            out.shape[ax] = match (selection, t) {
                (Some(sel), 0) => sel.len() as u64,
                _ => tiling.total(t),
            };
        }
        out.data = ChunkData::Refs(vec![]);
        return Ok(out);
    }
    if let ChunkData::Inline(_) = tmpl.data {
        return concat_inline(parts, files, name, holders, tiling, &axes, selection);
    }

    // One holder per tile of the variable's own concat dims: the first wins, as
    // compat="override" takes the first dataset's copy.
    let mut tiles: HashMap<Vec<usize>, usize> = HashMap::new();
    for &f in holders {
        let key: Vec<usize> = axes.iter().map(|&(_, t)| tiling.pos[f][t]).collect();
        tiles.entry(key).or_insert(f);
    }
    let mut per_file: HashMap<usize, Variable> = tiles.values().map(|&f| (f, with_file(var_at(&parts[f], name).expect("holder"), f))).collect();

    // Choose a chunk length per concat axis that every tile can use.
    let mut lengths = Vec::with_capacity(axes.len());
    for &(ax, t) in &axes {
        let dedupe_here = t == 0 && selection.is_some();
        let chunk_lens: Vec<(u64, u64)> = per_file.iter().map(|(f, v)| (v.chunks[ax], tiling.block_lens[t][tiling.pos[*f][t]])).collect();
        let c0 = chunk_lens[0].0;
        let nblocks = tiling.block_lens[t].len();
        let aligned = chunk_lens.iter().all(|(c, _)| *c == c0) && tiling.block_lens[t][..nblocks - 1].iter().all(|len| c0 > 0 && len % c0 == 0);
        let mut target = if aligned { c0 } else { 0 };
        if dedupe_here && target != 1 {
            target = 1;
        }
        if target != c0 || !aligned {
            if target == 0 {
                target = tiling.block_lens[t].iter().fold(0, |g, l| gcd(g, *l));
                for (c, len) in &chunk_lens {
                    if c < len {
                        target = gcd(target, *c);
                    }
                }
            }
            let recuttable = tmpl.is_raw() && tmpl.chunks[..ax].iter().all(|c| *c == 1);
            if !recuttable {
                let mut shapes: Vec<(String, u64, u64)> =
                    per_file.iter().map(|(f, v)| (files[*f].display().to_string(), tiling.block_lens[t][tiling.pos[*f][t]], v.chunks[ax])).collect();
                shapes.sort();
                let why = if dedupe_here {
                    "dropping duplicate steps needs chunks of length 1 along it".to_string()
                } else {
                    format!("the lengths along it are not multiples of one chunk length (file: length, chunk) {shapes:?}")
                };
                return Err(Error::Incompatible(format!(
                    "variable '{name}' cannot be concatenated along '{}': {why}, and its chunks are {} so they cannot be re-cut. A Zarr (`padocc zarr`) or CFA (`padocc cfa`) product can hold this data",
                    tiling.dims[t],
                    if tmpl.is_raw() { "not contiguous along it".to_string() } else { format!("compressed ({})", codecs_desc(tmpl)) }
                )));
            }
            for v in per_file.values_mut() {
                *v = recut(v, ax, target.max(1));
            }
        }
        lengths.push(target.max(1));
    }

    // Owner of each global chunk along each concat axis: (block, local chunk).
    let mut owners: Vec<Vec<(usize, u64)>> = Vec::with_capacity(axes.len());
    for (i, &(_, t)) in axes.iter().enumerate() {
        let l = lengths[i];
        let mut o = Vec::new();
        for (b, len) in tiling.block_lens[t].iter().enumerate() {
            for k in 0..len.div_ceil(l) {
                o.push((b, k));
            }
        }
        if t == 0 {
            if let Some(sel) = selection {
                o = sel.iter().map(|&r| o[r as usize]).collect();
            }
        }
        owners.push(o);
    }

    let mut out = tmpl.clone();
    for (i, &(ax, t)) in axes.iter().enumerate() {
        out.chunks[ax] = lengths[i];
        out.shape[ax] = match (selection, t) {
            (Some(sel), 0) => sel.len() as u64,
            _ => tiling.total(t),
        };
    }
    let mut grid = out.chunk_grid();
    for (i, &(ax, _)) in axes.iter().enumerate() {
        grid[ax] = owners[i].len() as u64;
    }
    // Dense lookup from a tile (block index along each concat axis) to its
    // holder's references: no hashing per reference.
    let nblocks: Vec<u64> = axes.iter().map(|&(_, t)| tiling.block_lens[t].len() as u64).collect();
    let mut tile_refs: Vec<Option<(&[ChunkRef], Vec<u64>)>> = vec![None; nblocks.iter().product::<u64>() as usize];
    for (key, f) in &tiles {
        let key: Vec<u64> = key.iter().map(|b| *b as u64).collect();
        if let ChunkData::Refs(fr) = &per_file[f].data {
            tile_refs[ravel(&key, &nblocks) as usize] = Some((fr.as_slice(), per_file[f].chunk_grid()));
        }
    }
    let n: u64 = grid.iter().product();
    let mut refs = Vec::with_capacity(n as usize);
    let mut coords = vec![0u64; grid.len()];
    for idx in 0..n {
        unravel(idx, &grid, &mut coords);
        let mut tile = 0u64;
        for (i, &(ax, _)) in axes.iter().enumerate() {
            let (b, k) = owners[i][coords[ax] as usize];
            tile = tile * nblocks[i] + b as u64;
            coords[ax] = k;
        }
        let r = match &tile_refs[tile as usize] {
            Some((fr, fgrid)) => fr.get(ravel(&coords, fgrid) as usize).copied().unwrap_or(ChunkRef::MISSING),
            None => ChunkRef::MISSING,
        };
        refs.push(r);
    }
    out.data = ChunkData::Refs(refs);
    out.missing_chunk = per_file.get(&first).and_then(|v| v.missing_chunk.clone()).or(out.missing_chunk);
    Ok(out)
}

/// Concatenate small inline arrays (compact HDF5 layout) along their first axis.
fn concat_inline(
    parts: &[VirtualDataset],
    files: &[PathBuf],
    name: &str,
    holders: &[usize],
    tiling: &Tiling,
    axes: &[(usize, usize)],
    selection: Option<&[u64]>,
) -> Result<Variable> {
    let tmpl = var_at(&parts[holders[0]], name).expect("holder");
    if tiling.dims.len() != 1 || axes != [(0, 0)] || tmpl.dtype == "|O" {
        return Err(Error::unsupported(
            Path::new(&files[holders[0]]),
            name,
            "inline (compact or string) data can only be concatenated along its first dimension in a one-dimensional aggregation",
        ));
    }
    let row = (tmpl.shape[1..].iter().product::<u64>() * tmpl.itemsize()) as usize;
    let mut bytes = Vec::new();
    for &f in holders {
        if let ChunkData::Inline(c) = &var_at(&parts[f], name).expect("holder").data {
            bytes.extend(c.iter().flatten());
        }
    }
    if let Some(sel) = selection {
        bytes = sel.iter().flat_map(|&r| bytes[r as usize * row..(r as usize + 1) * row].to_vec()).collect();
    }
    let mut out = tmpl.clone();
    out.shape[0] = (bytes.len() / row.max(1)) as u64;
    out.chunks = out.shape.clone();
    out.data = ChunkData::Inline(vec![bytes]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attrs, FillValue};

    fn var(name: &str, len: u64, chunk: u64, file_refs: Vec<ChunkRef>) -> Variable {
        Variable {
            name: name.into(),
            dims: vec!["time".into(), "x".into()],
            shape: vec![len, 2],
            chunks: vec![chunk, 2],
            dtype: "<f8".into(),
            fill_value: FillValue::None,
            compressor: None,
            filters: vec![],
            attrs: Attrs::default(),
            data: ChunkData::Refs(file_refs),
            missing_chunk: None,
            layout: Layout::Contiguous,
        }
    }

    fn part(path: &str, v: Variable) -> VirtualDataset {
        VirtualDataset {
            files: vec![PathBuf::from(path)],
            coords: vec![],
            root: Group { dims: vec![("time".into(), v.shape[0], true), ("x".into(), 2, false)], vars: vec![v], ..Group::default() },
        }
    }

    #[test]
    fn uneven_contiguous_lengths_are_recut_at_the_gcd() {
        let a = part("/a.nc", var("v", 6, 6, vec![ChunkRef { file: 0, offset: 100, size: 96 }]));
        let b = part("/b.nc", var("v", 4, 4, vec![ChunkRef { file: 0, offset: 200, size: 64 }]));
        let out = combine(vec![a, b], &Options { concat_dims: vec!["time".into()], dedupe: Dedupe::Keep, layout_only: false, ..Default::default() }).unwrap();
        let v = out.root.var("v").unwrap();
        assert_eq!(v.shape, vec![10, 2]);
        assert_eq!(v.chunks, vec![2, 2]);
        let ChunkData::Refs(r) = &v.data else { panic!() };
        assert_eq!(r.len(), 5);
        assert_eq!(r[1], ChunkRef { file: 0, offset: 132, size: 32 });
        assert_eq!(r[3], ChunkRef { file: 1, offset: 200, size: 32 });
        assert_eq!(out.root.dims[0].1, 10);
    }

    #[test]
    fn compressed_uneven_chunks_are_refused_with_a_clear_error() {
        let mut va = var("v", 6, 6, vec![ChunkRef { file: 0, offset: 1, size: 5 }]);
        va.compressor = Some(crate::model::Codec::new("zlib").with("level", 4));
        let mut vb = var("v", 4, 4, vec![ChunkRef { file: 0, offset: 1, size: 5 }]);
        vb.compressor = va.compressor.clone();
        let e = combine(vec![part("/a.nc", va), part("/b.nc", vb)], &Options { concat_dims: vec!["time".into()], dedupe: Dedupe::Keep, layout_only: false, ..Default::default() })
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("'v'") && msg.contains("/a.nc") && msg.contains("zlib") && msg.contains("CFA"), "{msg}");
    }

    #[test]
    fn dtype_mismatch_names_the_variable_and_files() {
        let va = var("v", 2, 2, vec![ChunkRef { file: 0, offset: 1, size: 32 }]);
        let mut vb = va.clone();
        vb.dtype = "<f4".into();
        let e = combine(vec![part("/a.nc", va), part("/b.nc", vb)], &Options { concat_dims: vec!["time".into()], dedupe: Dedupe::Keep, layout_only: false, ..Default::default() })
            .unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::INCOMPATIBLE);
        assert!(e.to_string().contains("dtype"), "{e}");
    }

    #[test]
    fn gcd_works() {
        assert_eq!(gcd(120, 84), 12);
        assert_eq!(gcd(0, 7), 7);
    }
}
