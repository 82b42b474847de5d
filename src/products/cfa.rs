//! `padocc cfa`: files in, one CF-netCDF aggregation file (`.nca`, CF-1.12
//! aggregation conventions) out, which cfapyx opens with
//! `xarray.open_dataset(path, engine="CFA")`.
//!
//! An aggregation variable is a scalar netCDF variable whose
//! `aggregated_dimensions` names its dimensions and whose `aggregated_data`
//! names three small variables: the fragment sizes along each dimension
//! (`map`), the file of each fragment (`uris`, absolute paths) and the
//! variable's name inside it (`identifiers`). Variables with the same
//! dimensions share one map and one uris variable.
//!
//! Correctness notes (what cfapyx 2026.10 does, and so what is aggregated):
//! - A fragment is always a whole file: rows `--dedupe` drops inside a file
//!   cannot be expressed, so such variables are copied into the file.
//! - cfapyx converts fragment values whose `units` differ from the
//!   aggregation variable's with pint, which cannot convert CF times. Variables
//!   whose units differ between files, and times re-encoded to the first
//!   file's units, are copied into the file with the re-encoded values.
//! - cfapyx unpacks each fragment with its own `scale_factor`/`add_offset`
//!   and then xarray decodes again with the aggregation variable's: packed
//!   variables are copied, packed, so they decode exactly as the sources do.
//! - Coordinates of the concat dimension(s), scalars, characters and strings
//!   are small and copied; everything else numeric is aggregated.
//! - URIs are absolute paths: cfapyx resolves relative ones against the
//!   reader's working directory, not the aggregation file's.

use std::collections::HashMap;
use std::ffi::c_int;
use std::path::{Path, PathBuf};
use std::time::Instant;

use netcdf_sys as nc;

use crate::aggregate::combine::{Options, Placement};
use crate::aggregate::region::RegionReader;
use crate::error::{Error, Result};
use crate::model::{AttrValue, ChunkData, Variable, VirtualDataset};
use crate::products::ncwrite::{nc_type_of, NcOut};
use crate::source::ncapi::{self, NcFile};

#[derive(Debug, Clone)]
pub struct Request {
    pub files: Vec<PathBuf>,
    pub out: PathBuf,
    pub combine: Options,
    pub control: crate::control::Control,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub files: usize,
    pub aggregated: usize,
    pub copied: usize,
    pub fragments: u64,
    pub seconds: f64,
    pub output: PathBuf,
    /// Why variables were copied rather than aggregated, when not obvious.
    pub notes: Vec<String>,
}

/// How one variable goes into the aggregation file.
enum Plan {
    /// Fragments: the key of its map/uris pair.
    Aggregated(usize),
    /// Values copied from the sources (or re-encoded inline).
    Copied,
}

/// A fragment layout: fragment counts and sizes along each dimension, and the
/// file of each fragment (C order over the fragment grid).
#[derive(Debug, Clone, PartialEq)]
struct Layout {
    dims: Vec<String>,
    sizes: Vec<Vec<u64>>,
    files: Vec<usize>,
}

/// Files kept whole along the first concat dim, in order, when `--dedupe`
/// dropped only whole files (None when it dropped rows inside a file).
fn whole_files(placement: &Placement) -> Option<Vec<usize>> {
    let lens = placement.block_lens.first()?;
    let Some(sel) = &placement.selection else { return Some((0..lens.len()).collect()) };
    let mut out = Vec::new();
    let mut i = 0usize;
    while i < sel.len() {
        let g = sel[i];
        let mut acc = 0;
        let f = lens.iter().position(|l| {
            let hit = g < acc + l;
            if !hit {
                acc += l;
            }
            hit
        })?;
        if g != acc || out.last().is_some_and(|&p| p >= f) {
            return None;
        }
        for k in 0..lens[f] {
            if sel.get(i + k as usize) != Some(&(acc + k)) {
                return None;
            }
        }
        out.push(f);
        i += lens[f] as usize;
    }
    Some(out)
}

/// The fragment layout of a variable, or None when its data cannot be a set
/// of whole files.
fn layout_of(v: &Variable, placement: &Placement, kept: Option<&[usize]>, n_files: usize) -> Option<Layout> {
    let axes: Vec<Option<usize>> = v.dims.iter().map(|d| placement.dims.iter().position(|c| c == d)).collect();
    let mut sizes = Vec::with_capacity(v.dims.len());
    // Per axis, the block (or kept file) of each fragment position.
    let mut blocks: Vec<Vec<usize>> = Vec::with_capacity(v.dims.len());
    for (ax, t) in axes.iter().enumerate() {
        match t {
            None => {
                sizes.push(vec![v.shape[ax]]);
                blocks.push(vec![usize::MAX]);
            }
            Some(0) if placement.selection.is_some() => {
                let kept = kept?;
                sizes.push(kept.iter().map(|&f| placement.block_lens[0][placement.block[f][0]]).collect());
                blocks.push(kept.iter().map(|&f| placement.block[f][0]).collect());
            }
            Some(t) => {
                sizes.push(placement.block_lens[*t].clone());
                blocks.push((0..placement.block_lens[*t].len()).collect());
            }
        }
    }
    let grid: Vec<usize> = blocks.iter().map(Vec::len).collect();
    let n: usize = grid.iter().product();
    let mut files = Vec::with_capacity(n);
    let mut idx = vec![0usize; grid.len()];
    for lin in 0..n {
        let mut rest = lin;
        for d in (0..grid.len()).rev() {
            idx[d] = rest % grid[d];
            rest /= grid[d];
        }
        let f = (0..n_files).find(|&f| {
            axes.iter().enumerate().all(|(ax, t)| match t {
                None => true,
                Some(t) => placement.block[f][*t] == blocks[ax][idx[ax]],
            })
        })?;
        files.push(f);
    }
    Some(Layout { dims: v.dims.clone(), sizes, files })
}

/// A source's attributes after the project's edits.
fn edited_attrs(edits: &crate::aggregate::edit::AttrEdits, src: &[(String, AttrValue)], var: Option<&str>, var_exists: impl Fn(&str) -> bool) -> Vec<(String, AttrValue)> {
    let mut a = crate::model::Attrs(src.to_vec());
    edits.apply_to(&mut a, var, var_exists);
    a.0
}

/// Write `edited` on `varid`: attributes the edits left as the source has
/// them are copied with their exact types (`on_copy_error` may write another
/// way); edited or new ones are written from their values.
fn write_attrs(
    o: &NcOut,
    src_ncid: c_int,
    src_varid: c_int,
    varid: c_int,
    src: &[(String, AttrValue)],
    edited: &[(String, AttrValue)],
    on_copy_error: impl Fn(&str, String) -> std::result::Result<(), String>,
) -> std::result::Result<(), String> {
    for (name, value) in edited {
        if src.iter().any(|(k, v)| k == name && v == value) {
            if let Err(e) = o.copy_att(src_ncid, src_varid, name, varid) {
                on_copy_error(name, e)?;
            }
        } else {
            o.put_attr(varid, name, value)?;
        }
    }
    Ok(())
}

/// The largest variable copied into the file instead of aggregated because
/// cfapyx could not read it as fragments (units edited, deep groups; see `write`).
const COPY_LIMIT: u64 = 64 << 20;

fn is_packed(v: &Variable) -> bool {
    v.attrs.get("scale_factor").is_some() || v.attrs.get("add_offset").is_some()
}

fn units(v: &Variable) -> Option<&str> {
    v.attrs.get("units").and_then(AttrValue::as_str)
}

pub fn run(req: &Request) -> Result<Summary> {
    let t0 = Instant::now();
    let mut copts = req.combine.clone();
    copts.layout_only = true;
    let parts = crate::aggregate::read_all_with(&req.files, &copts, &req.control, crate::source::read_structure)?;
    // Variables whose units differ between files cannot be fragments.
    let mut mixed_units: Vec<String> = Vec::new();
    for g in parts[0].groups() {
        for v in &g.vars {
            let differs = parts.iter().any(|p| p.groups().iter().find(|h| h.path == g.path).and_then(|h| h.var(&v.name)).is_some_and(|w| units(w) != units(v)));
            if differs {
                mixed_units.push(format!("{}{}", g.key_prefix(), v.name));
            }
        }
    }
    // The concat coordinate's values were read with each file's structure:
    // keep them, rather than open every file again to copy them.
    let mut known: HashMap<String, Vec<f64>> = HashMap::new();
    if let Some(d) = copts.concat_dims.first().cloned().or_else(|| parts[0].coords.first().map(|c| c.0.clone())) {
        let per_file: Option<Vec<&[f64]>> = parts.iter().map(|p| p.coord(&d)).collect();
        if let Some(v) = per_file.filter(|_| parts.len() > 1) {
            known.insert(d, v.concat());
        }
    }
    let (vds, placement) = crate::aggregate::combine::aggregate(parts, &copts)?;
    write(&vds, &placement, &mixed_units, &known, &req.combine.edits, &req.out, &req.control.cancel).map(|(aggregated, copied, fragments, notes)| Summary {
        files: vds.files.len(),
        aggregated,
        copied,
        fragments,
        seconds: t0.elapsed().as_secs_f64(),
        output: req.out.clone(),
        notes,
    })
}

fn write(
    vds: &VirtualDataset,
    placement: &Placement,
    mixed_units: &[String],
    known: &HashMap<String, Vec<f64>>,
    edits: &crate::aggregate::edit::AttrEdits,
    out: &Path,
    cancel: &crate::control::Cancel,
) -> Result<(usize, usize, u64, Vec<String>)> {
    let kept = whole_files(placement);
    let n_files = vds.files.len();
    let mut notes = Vec::new();
    let groups = vds.groups();
    // Per group, its layouts (fragment map/uris pairs live in the group of
    // the variables they serve) and the plan of each of its variables.
    let mut layouts: Vec<(usize, Layout)> = Vec::new();
    let mut plans: Vec<Vec<Plan>> = Vec::with_capacity(groups.len());
    let var_exists = |n: &str| vds.root.var(n).is_some();
    // cfapyx converts each fragment's values from the fragment's units to the
    // aggregation variable's (`aggregated_units`, else `units`), and presents
    // those as the variable's units: an edit that relabels the units of an
    // aggregated variable cannot be said. Such a variable is copied into the
    // file when small; a big one keeps its sources' units, with a note.
    let first = NcFile::open(&vds.files[0]).map_err(|e| Error::source(&vds.files[0], e))?;
    let relabelled = |path: &str, name: &str| -> bool {
        let (removed, set) = edits.aimed_at(Some(name), var_exists);
        let new = match set.iter().rev().find(|(n, _)| n == "units") {
            Some((_, v)) => v.as_str().map(String::from),
            None if removed.iter().any(|n| n == "units") => None,
            None => return false,
        };
        let old = ncapi::locate_var(first.ncid, path)
            .ok()
            .and_then(|(g, id)| ncapi::attributes(g, id).ok())
            .and_then(|a| a.into_iter().find(|(k, _)| k == "units"))
            .and_then(|(_, v)| v.as_str().map(String::from));
        new != old
    };
    let mut kept_units: Vec<String> = Vec::new();
    for (gi, g) in groups.iter().enumerate() {
        let prefix = g.key_prefix();
        // cfapyx reads a fragment variable at most one group deep
        // ("/group/var"; cfapyx/filehandlers.py).
        let too_deep = g.path.contains('/');
        let mut gplans = Vec::with_capacity(g.vars.len());
        for v in &g.vars {
            let path = format!("{prefix}{}", v.name);
            let kind = v.dtype.as_bytes().get(1).copied().unwrap_or(b'?');
            let concat_axes = v.dims.iter().filter(|d| placement.dims.contains(d)).count();
            let is_coord = v.dims.len() == 1 && v.dims[0] == v.name;
            let copy = placement.recoded.contains(&path)
                || v.dtype == "|O"
                || kind == b'S'
                || v.shape.is_empty()
                || v.shape.contains(&0)
                || is_coord
                || is_packed(v)
                || (concat_axes > 0 && mixed_units.contains(&path))
                || nc_type_of(kind, v.itemsize() as usize).is_none();
            if copy {
                gplans.push(Plan::Copied);
                continue;
            }
            let small = v.shape.iter().product::<u64>() * v.itemsize() <= COPY_LIMIT;
            if too_deep {
                if !small {
                    return Err(Error::unsupported(
                        &vds.files[0],
                        &path,
                        "cfapyx reads fragment variables at most one group deep, and this one is too big to copy into the aggregation file: make references (padocc refs) or a Zarr store (padocc zarr) for it",
                    ));
                }
                notes.push(format!("'{path}' is copied into the aggregation file: cfapyx reads fragment variables at most one group deep"));
                gplans.push(Plan::Copied);
                continue;
            }
            if relabelled(&path, &v.name) {
                if small {
                    notes.push(format!("'{path}' is copied into the aggregation file: its units are edited, and cfapyx would convert its fragments to them"));
                    gplans.push(Plan::Copied);
                    continue;
                }
                notes.push(format!(
                    "'{path}' keeps its sources' units in the aggregation file: its units are edited, cfapyx would convert its fragments to them, and it is too big to copy"
                ));
                kept_units.push(path.clone());
            }
            match layout_of(v, placement, kept.as_deref(), n_files) {
                Some(l) => {
                    let key = match layouts.iter().position(|(lg, x)| *lg == gi && *x == l) {
                        Some(k) => k,
                        None => {
                            layouts.push((gi, l));
                            layouts.len() - 1
                        }
                    };
                    gplans.push(Plan::Aggregated(key));
                }
                None => {
                    notes.push(format!("'{path}' is copied into the aggregation file: --dedupe dropped rows inside a file, and a fragment is always a whole file"));
                    gplans.push(Plan::Copied);
                }
            }
        }
        plans.push(gplans);
    }

    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(Error::output(out, std::io::Error::other(format!("directory {} does not exist", dir.display()))));
    }
    let tmp = crate::fsutil::temp_sibling(out, "tmp");
    let result = (|| -> Result<(usize, usize, u64)> {
        let root = NcOut::create(&tmp).map_err(|e| Error::output(out, std::io::Error::other(e)))?;
        let bad = |e: String| Error::output(out, std::io::Error::other(e));
        let first_ncid = first.ncid;
        // Each group of the sources, with its attributes (the first file's,
        // verbatim) and its dimensions.
        let mut gids: Vec<c_int> = Vec::with_capacity(groups.len());
        let mut dimids: HashMap<(String, String), c_int> = HashMap::new();
        for g in &groups {
            let gid = match g.path.rsplit_once('/') {
                None if g.path.is_empty() => root.ncid,
                parent => {
                    let (parent, name) = parent.unwrap_or(("", g.path.as_str()));
                    let pi = groups.iter().position(|x| x.path == parent).expect("parents come first");
                    root.in_group(gids[pi]).def_grp(name).map_err(bad)?
                }
            };
            gids.push(gid);
            let o = root.in_group(gid);
            let src_gid = ncapi::group_at(first_ncid, &g.path).map_err(|e| Error::corrupt(&vds.files[0], format!("group '{}': {e}", g.path)))?;
            let gattrs = ncapi::attributes(src_gid, nc::NC_GLOBAL).map_err(|e| Error::corrupt(&vds.files[0], e))?;
            // Global edits are the root's (as in every other product kind).
            let none = crate::aggregate::edit::AttrEdits::default();
            let edited = edited_attrs(if g.path.is_empty() { edits } else { &none }, &gattrs, None, var_exists);
            write_attrs(&o, src_gid, nc::NC_GLOBAL, nc::NC_GLOBAL, &gattrs, &edited, |_, _| Ok(())).map_err(bad)?;
            // cfapyx cannot open a file without `Conventions`.
            if g.path.is_empty() && !edited.iter().any(|(k, _)| k == "Conventions") {
                o.put_att_text(nc::NC_GLOBAL, "Conventions", "CF-1.12").map_err(bad)?;
            }
            for (name, len, _) in &g.dims {
                dimids.insert((g.path.clone(), name.clone()), o.def_dim(name, *len).map_err(bad)?);
            }
        }
        // A dimension is its group's, else the nearest ancestor's (netCDF's scoping).
        let dim_of = |group: &str, name: &str| -> Option<c_int> {
            let mut at = group.to_string();
            loop {
                if let Some(id) = dimids.get(&(at.clone(), name.to_string())) {
                    return Some(*id);
                }
                if at.is_empty() {
                    return None;
                }
                at = at.rsplit_once('/').map_or(String::new(), |(p, _)| p.to_string());
            }
        };
        // cfapyx resolves aggregated_data names in the root and the opened
        // group merged (cfapyx/group.py): names made here are unique file-wide.
        let taken_names: std::collections::HashSet<String> = groups.iter().flat_map(|g| g.vars.iter().map(|v| v.name.clone()).chain(g.dims.iter().map(|d| d.0.clone()))).collect();
        let made = std::cell::RefCell::new(std::collections::HashSet::<String>::new());
        let fresh = |base: String| {
            let mut n = base;
            while taken_names.contains(&n) || made.borrow().contains(&n) {
                n.push('_');
            }
            made.borrow_mut().insert(n.clone());
            n
        };
        // Fragment dimensions, one per aggregated dimension, shared within a group.
        let mut frag_dims: HashMap<(usize, String, usize), c_int> = HashMap::new();
        let mut layout_vars = Vec::new();
        for (k, (gi, l)) in layouts.iter().enumerate() {
            let o = root.in_group(gids[*gi]);
            let mut fd = Vec::new();
            for (d, s) in l.dims.iter().zip(&l.sizes) {
                let key = (*gi, d.clone(), s.len());
                let id = match frag_dims.get(&key) {
                    Some(id) => *id,
                    None => {
                        let base = if frag_dims.keys().any(|(xg, x, _)| xg == gi && x == d) { format!("f_{d}_{}", s.len()) } else { format!("f_{d}") };
                        let id = o.def_dim(&fresh(base), s.len() as u64).map_err(bad)?;
                        frag_dims.insert(key, id);
                        id
                    }
                };
                fd.push(id);
            }
            let widest = l.sizes.iter().map(Vec::len).max().unwrap_or(1);
            let j = o.def_dim(&fresh(format!("j_{k}")), l.dims.len() as u64).map_err(bad)?;
            let i = o.def_dim(&fresh(format!("i_{k}")), widest as u64).map_err(bad)?;
            let map_name = fresh(format!("fragment_map_{k}"));
            let map = o.def_var(&map_name, nc::NC_INT64, &[j, i]).map_err(bad)?;
            o.put_att_raw(map, "_FillValue", nc::NC_INT64, 1, &(-1i64).to_ne_bytes()).map_err(bad)?;
            let uris_name = fresh(format!("fragment_uris_{k}"));
            let uris = o.def_var(&uris_name, nc::NC_STRING, &fd).map_err(bad)?;
            layout_vars.push((map_name, map, uris_name, uris, widest));
        }
        let mut sources: HashMap<usize, NcFile> = HashMap::new();
        sources.insert(0, first);
        let mut copies: Vec<(Variable, c_int, c_int)> = Vec::new();
        let mut idents = Vec::new();
        let (mut n_agg, mut n_copy, mut n_frag) = (0, 0, 0u64);
        for ((g, gplans), gid) in groups.iter().zip(&plans).zip(&gids) {
            let o = root.in_group(*gid);
            let prefix = g.key_prefix();
            for (v, plan) in g.vars.iter().zip(gplans) {
                let path = format!("{prefix}{}", v.name);
                let kind = v.dtype.as_bytes().get(1).copied().unwrap_or(b'?');
                let xtype = if v.dtype == "|O" { nc::NC_STRING } else { nc_type_of(kind, v.itemsize() as usize).unwrap_or(nc::NC_DOUBLE) };
                // Attributes come from the first file that has the variable, with their exact types.
                let mut found = None;
                for f in 0..n_files {
                    let src = match sources.entry(f) {
                        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                        std::collections::hash_map::Entry::Vacant(e) => e.insert(NcFile::open(&vds.files[f]).map_err(|err| Error::source(&vds.files[f], err))?),
                    };
                    if let Ok((sg, id)) = ncapi::locate_var(src.ncid, &path) {
                        found = Some((f, sg, id));
                        break;
                    }
                }
                let (holder, src_gid, src_varid) = found.ok_or_else(|| Error::Incompatible(format!("variable '{path}' is in no source file")))?;
                let src_attrs = ncapi::attributes(src_gid, src_varid).map_err(|e| Error::corrupt(&vds.files[holder], e))?;
                let varid = match plan {
                    Plan::Copied => {
                        let ids: Vec<c_int> =
                            v.dims.iter().map(|d| dim_of(&g.path, d).ok_or_else(|| bad(format!("variable '{path}': no dimension '{d}'")))).collect::<Result<_>>()?;
                        let id = o.def_var(&v.name, xtype, &ids).map_err(bad)?;
                        // Read by path from the sources.
                        let mut named = v.clone();
                        named.name = path.clone();
                        copies.push((named, *gid, id));
                        n_copy += 1;
                        id
                    }
                    Plan::Aggregated(k) => {
                        let id = o.def_var(&v.name, xtype, &[]).map_err(bad)?;
                        let (map_name, _, uris_name, _, _) = &layout_vars[*k];
                        let ident_name = fresh(format!("fragment_identifiers_{}", path.replace('/', "_")));
                        let ident = o.def_var(&ident_name, nc::NC_STRING, &[]).map_err(bad)?;
                        // cfapyx opens a fragment at its root: a grouped variable is "/group/var".
                        idents.push((*gid, ident, if g.path.is_empty() { v.name.clone() } else { format!("/{path}") }));
                        o.put_att_text(id, "aggregated_dimensions", &v.dims.join(" ")).map_err(bad)?;
                        o.put_att_text(id, "aggregated_data", &format!("map: {map_name} uris: {uris_name} identifiers: {ident_name}")).map_err(bad)?;
                        // cfapyx (2026.10) takes units "" for none and then converts each
                        // fragment's "" to "None", which fails. Dimensionless "1" as the
                        // aggregated units makes that an identity conversion (pint).
                        if src_attrs.iter().any(|(k, a)| k == "units" && matches!(a, AttrValue::Str(u) if u.trim().is_empty())) {
                            o.put_att_text(id, "aggregated_units", "1").map_err(bad)?;
                        }
                        n_agg += 1;
                        n_frag += layouts[*k].1.files.len() as u64;
                        id
                    }
                };
                let recoded = placement.recoded.contains(&path);
                // A re-encoded variable may have a new type; its fill value cannot follow.
                let src_attrs: Vec<_> = src_attrs.iter().filter(|(name, _)| !(recoded && (name == "_FillValue" || name == "missing_value"))).cloned().collect();
                let mut edited = edited_attrs(edits, &src_attrs, Some(&v.name), var_exists);
                if kept_units.contains(&path) {
                    edited.retain(|(k, _)| k != "units");
                    edited.extend(src_attrs.iter().filter(|(k, _)| k == "units").cloned());
                }
                write_attrs(&o, src_gid, src_varid, varid, &src_attrs, &edited, |name, e| {
                    // An enum-typed fill value (h5netcdf writes them) on a variable stored
                    // as its base type: write the same value in that type.
                    let kind = v.dtype.as_bytes().get(1).copied().unwrap_or(b'?');
                    let raw = (name == "_FillValue").then(|| v.fill_value.native_bytes(kind, v.itemsize() as usize)).flatten();
                    match raw {
                        Some(b) => o.put_att_raw(varid, name, xtype, 1, &b),
                        None => Err(format!("variable '{path}': {e}")),
                    }
                })
                .map_err(bad)?;
            }
        }
        root.enddef().map_err(bad)?;
        drop(sources);

        for ((gi, l), (_, map, _, uris, widest)) in layouts.iter().zip(&layout_vars) {
            let o = root.in_group(gids[*gi]);
            let mut cells = vec![-1i64; l.dims.len() * widest];
            for (d, s) in l.sizes.iter().enumerate() {
                for (i, x) in s.iter().enumerate() {
                    cells[d * widest + i] = *x as i64;
                }
            }
            let bytes: Vec<u8> = cells.iter().flat_map(|x| x.to_ne_bytes()).collect();
            o.put_vara(*map, &[0, 0], &[l.dims.len() as u64, *widest as u64], &bytes).map_err(bad)?;
            let paths: Vec<String> = l.files.iter().map(|f| vds.files[*f].to_string_lossy().into_owned()).collect();
            let shape: Vec<u64> = l.sizes.iter().map(|s| s.len() as u64).collect();
            o.put_strings(*uris, &shape, &paths).map_err(bad)?;
        }
        for (gid, id, ident) in &idents {
            root.in_group(*gid).put_strings(*id, &[], std::slice::from_ref(ident)).map_err(bad)?;
        }
        let reader = RegionReader::new(&vds.files, placement);
        for (v, gid, id) in &copies {
            copy_values(&root.in_group(*gid), *id, v, placement, &reader, known.get(&v.name), cancel)?;
        }
        root.close().map_err(bad)?;
        Ok((n_agg, n_copy, n_frag))
    })();
    match result {
        Ok((a, c, f)) => {
            std::fs::rename(&tmp, out).map_err(|e| Error::output(out, e))?;
            crate::fsutil::sync_dir(out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")));
            Ok((a, c, f, notes))
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Copy a variable's values into the aggregation file, in slabs of rows so
/// memory stays bounded.
fn copy_values(o: &NcOut, id: c_int, v: &Variable, placement: &Placement, reader: &RegionReader, known: Option<&Vec<f64>>, cancel: &crate::control::Cancel) -> Result<()> {
    let bad = |e: String| Error::Incompatible(format!("writing variable '{}': {e}", v.name));
    if v.shape.contains(&0) {
        return Ok(());
    }
    if v.dtype == "|O" {
        let strings = reader.strings(v)?;
        return o.put_strings(id, &v.shape, &strings).map_err(bad);
    }
    if placement.recoded.contains(&v.name) {
        if let ChunkData::Inline(c) = &v.data {
            let zero = vec![0u64; v.shape.len()];
            return o.put_vara(id, &zero, &v.shape, &c.concat()).map_err(bad);
        }
    }
    // A coordinate whose values are already known (every file's, in order).
    if let (Some(all), true) = (known, v.dims.len() == 1 && placement.dims.len() == 1 && placement.dims.first() == v.dims.first()) {
        let vals: Vec<f64> = match &placement.selection {
            Some(sel) => sel.iter().map(|&g| all[g as usize]).collect(),
            None => all.clone(),
        };
        let kind = v.dtype.as_bytes().get(1).copied().unwrap_or(b'f');
        let bytes: Option<Vec<u8>> = match (kind, v.itemsize()) {
            (b'f', 8) => Some(vals.iter().flat_map(|x| x.to_ne_bytes()).collect()),
            (b'f', 4) => Some(vals.iter().flat_map(|x| (*x as f32).to_ne_bytes()).collect()),
            (b'i', 4) => Some(vals.iter().flat_map(|x| (*x as i32).to_ne_bytes()).collect()),
            (b'i', 8) => Some(vals.iter().flat_map(|x| (*x as i64).to_ne_bytes()).collect()),
            (b'i', 2) => Some(vals.iter().flat_map(|x| (*x as i16).to_ne_bytes()).collect()),
            _ => None,
        };
        if let Some(b) = bytes.filter(|b| b.len() as u64 == v.shape[0] * v.itemsize()) {
            return o.put_vara(id, &[0], &v.shape, &b).map_err(bad);
        }
    }
    let isz = v.itemsize();
    if v.shape.is_empty() {
        let b = reader.read(v, &[], &[], &vec![0; isz as usize])?;
        return o.put_vara(id, &[], &[], &b).map_err(bad);
    }
    let row: u64 = v.shape[1..].iter().product::<u64>() * isz;
    let rows = ((64u64 << 20) / row.max(1)).clamp(1, v.shape[0]);
    let mut r = 0;
    while r < v.shape[0] {
        cancel.check()?;
        let n = rows.min(v.shape[0] - r);
        let mut start = vec![0u64; v.shape.len()];
        start[0] = r;
        let mut count = v.shape.clone();
        count[0] = n;
        let b = reader.read(v, &start, &count, &vec![0; isz as usize])?;
        o.put_vara(id, &start, &count, &b).map_err(bad)?;
        r += n;
    }
    Ok(())
}

/// Copy an aggregation file to `dest` (atomically), rewriting the fragment
/// URIs that start with `sub.0` to start with `sub.1` instead.
pub fn export(src: &Path, dest: &Path, sub: Option<(&str, &str)>) -> Result<()> {
    let Some((from, to)) = sub else {
        return edit_copy(src, dest, |_| Ok(()));
    };
    edit_copy(src, dest, |o| {
        for (gid, id, shape) in fragment_uris(o.ncid)? {
            let uris: Vec<String> = ncapi::get_strings(gid, id, &shape)?
                .into_iter()
                .map(|u| match u.strip_prefix(from) {
                    Some(rest) => format!("{to}{rest}"),
                    None => u,
                })
                .collect();
            o.in_group(gid).put_strings(id, &shape, &uris)?;
        }
        Ok(())
    })
}

/// The fragment URI variables of an aggregation file, in every group, as
/// (group id, variable id, shape): those `aggregated_data` names as `uris`.
pub fn fragment_uris(ncid: c_int) -> ncapi::NcResult<Vec<(c_int, c_int, Vec<u64>)>> {
    let mut out = Vec::new();
    let groups = std::iter::once(ncid).chain(ncapi::group_paths(ncid)?.into_iter().map(|(_, g)| g));
    for gid in groups {
        let mut names: Vec<String> = Vec::new();
        for id in ncapi::var_ids(gid)? {
            let attrs = ncapi::attributes(gid, id)?;
            if let Some(d) = attrs.iter().find(|(k, _)| k == "aggregated_data").and_then(|(_, v)| v.as_str().map(String::from)) {
                let words: Vec<&str> = d.split_whitespace().collect();
                if let Some(w) = words.windows(2).find(|w| w[0] == "uris:") {
                    if !names.contains(&w[1].to_string()) {
                        names.push(w[1].to_string());
                    }
                }
            }
        }
        for name in names {
            // Written beside the variables that use them (or, by other
            // writers, in an ancestor group).
            let mut at = gid;
            let id = loop {
                if let Ok(id) = ncapi::var_id(at, &name) {
                    break Some(id);
                }
                let mut parent = 0;
                let _g = hdf5_sys::LOCK.lock();
                // SAFETY: valid id and out-pointer.
                if unsafe { nc::nc_inq_grp_parent(at, &mut parent) } != nc::NC_NOERR {
                    break None;
                }
                at = parent;
            };
            let Some(id) = id else { return Err(format!("no variable '{name}' named by aggregated_data")) };
            if out.iter().any(|(g, v, _)| *g == at && *v == id) {
                continue;
            }
            let info = ncapi::var_info(at, id)?;
            let shape: Vec<u64> = info.dimids.iter().map(|d| ncapi::dim(at, *d).map(|x| x.1)).collect::<std::result::Result<_, _>>()?;
            out.push((at, id, shape));
        }
    }
    Ok(out)
}

/// Copy a netCDF file to `dest` and change the copy with `edit`; the copy
/// replaces `dest` by rename only when complete, so a kill or a failed edit
/// leaves `dest` (which may be `src`) as it was.
pub fn edit_copy(src: &Path, dest: &Path, edit: impl FnOnce(&NcOut) -> std::result::Result<(), String>) -> Result<()> {
    let tmp = crate::fsutil::temp_sibling(dest, "tmp");
    let result = (|| -> Result<()> {
        std::fs::copy(src, &tmp).map_err(|e| Error::output(dest, e))?;
        let bad = |e: String| Error::output(dest, std::io::Error::other(e));
        let o = NcOut::open_write(&tmp).map_err(bad)?;
        edit(&o).map_err(bad)?;
        o.close().map_err(bad)?;
        let f = std::fs::File::open(&tmp).map_err(|e| Error::output(dest, e))?;
        f.sync_all().map_err(|e| Error::output(dest, e))?;
        std::fs::rename(&tmp, dest).map_err(|e| Error::output(dest, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Reading an aggregation file back, for validation: aggregated variables
/// through their fragments (read with netCDF-C), the others directly.
pub struct CfaReader {
    path: PathBuf,
    /// Kept open: the group ids in `vars` are this file's.
    _nca: NcFile,
    vars: HashMap<String, Source>,
    /// Fragment files kept open.
    open: ncapi::OpenFiles<String>,
}

enum Source {
    /// Stored in the aggregation file, in group `gid`.
    Direct {
        gid: c_int,
        varid: c_int,
        isz: usize,
        string: bool,
    },
    Fragments {
        sizes: Vec<Vec<u64>>,
        uris: Vec<String>,
        identifiers: Vec<String>,
        isz: usize,
    },
}

fn numpy_dtype(xtype: nc::nc_type) -> Option<(&'static str, usize)> {
    Some(match xtype {
        nc::NC_FLOAT => ("<f4", 4),
        nc::NC_DOUBLE => ("<f8", 8),
        nc::NC_BYTE => ("|i1", 1),
        nc::NC_SHORT => ("<i2", 2),
        nc::NC_INT => ("<i4", 4),
        nc::NC_INT64 => ("<i8", 8),
        nc::NC_UBYTE => ("|u1", 1),
        nc::NC_USHORT => ("<u2", 2),
        nc::NC_UINT => ("<u4", 4),
        nc::NC_UINT64 => ("<u8", 8),
        nc::NC_CHAR => ("|S1", 1),
        nc::NC_STRING => ("|O", 0),
        _ => return None,
    })
}

impl CfaReader {
    /// Open an aggregation file: the reader, the global attributes, the
    /// subgroups with theirs, and the variables of every group as a client
    /// presents them (fragment variables hidden), named by path ("v", "g/v").
    #[allow(clippy::type_complexity)]
    pub fn open(
        path: &Path,
    ) -> Result<(CfaReader, serde_json::Map<String, serde_json::Value>, Vec<(String, serde_json::Map<String, serde_json::Value>)>, Vec<crate::products::reader::ProductVar>)> {
        let corrupt = |e: String| Error::corrupt(path, e);
        let nca = NcFile::open(path).map_err(|e| Error::source(path, e))?;
        let to_map = |attrs: Vec<(String, AttrValue)>| -> serde_json::Map<String, serde_json::Value> {
            attrs.into_iter().map(|(k, v)| (k, crate::products::reader::attr_json(&v))).collect()
        };
        let gattrs = to_map(ncapi::attributes(nca.ncid, nc::NC_GLOBAL).map_err(corrupt)?);
        let subgroups = ncapi::group_paths(nca.ncid).map_err(corrupt)?;
        let mut groups = Vec::new();
        for (gpath, gid) in &subgroups {
            groups.push((gpath.clone(), to_map(ncapi::attributes(*gid, nc::NC_GLOBAL).map_err(corrupt)?)));
        }
        // Every variable, with its group's path and id.
        let mut infos = Vec::new();
        for (gpath, gid) in std::iter::once((String::new(), nca.ncid)).chain(subgroups.iter().cloned()) {
            for id in ncapi::var_ids(gid).map_err(corrupt)? {
                let info = ncapi::var_info(gid, id).map_err(corrupt)?;
                let attrs = ncapi::attributes(gid, id).map_err(corrupt)?;
                infos.push((gpath.clone(), gid, id, info, attrs));
            }
        }
        // Names in aggregated_data and aggregated_dimensions are looked up
        // as cfapyx does: in the variable's group, then its ancestors.
        let ancestry = |g: &str| -> Vec<String> {
            let mut out = vec![g.to_string()];
            let mut at = g.to_string();
            while let Some((p, _)) = at.rsplit_once('/') {
                at = p.to_string();
                out.push(at.clone());
            }
            if !g.is_empty() {
                out.push(String::new());
            }
            out
        };
        let by_name = |g: &str, n: &str| ancestry(g).into_iter().find_map(|a| infos.iter().find(|(gp, _, _, i, _)| *gp == a && i.name == n));
        let path_of = |g: &str, n: &str| if g.is_empty() { n.to_string() } else { format!("{g}/{n}") };
        let mut dims_in: HashMap<String, HashMap<String, u64>> = HashMap::new();
        for (gpath, gid) in std::iter::once((String::new(), nca.ncid)).chain(subgroups.iter().cloned()) {
            dims_in.insert(gpath, ncapi::group_dims(gid).map_err(corrupt)?.into_iter().map(|(_, n, l, _)| (n, l)).collect());
        }
        let dim_len = |g: &str, d: &str| ancestry(g).into_iter().find_map(|a| dims_in.get(&a).and_then(|m| m.get(d)).copied());
        let mut hidden: Vec<String> = Vec::new();
        let mut vars = Vec::new();
        let mut sources = HashMap::new();
        for (gpath, gid, id, info, attrs) in &infos {
            let name = path_of(gpath, &info.name);
            let bad = |e: String| Error::corrupt(path, format!("variable '{name}': {e}"));
            let Some((dtype, isz)) = numpy_dtype(info.xtype) else {
                return Err(bad(format!("netCDF type {} is not one padocc writes", info.xtype)));
            };
            let agg_dims = attrs.iter().find(|(k, _)| k == "aggregated_dimensions").and_then(|(_, v)| v.as_str().map(String::from));
            let mut pattrs: Vec<(String, AttrValue)> = attrs.iter().filter(|(k, _)| !k.contains("aggregated") && k != "_FillValue").cloned().collect();
            let (vdims, shape, source) = match agg_dims {
                Some(d) => {
                    let vdims: Vec<String> = d.split_whitespace().map(String::from).collect();
                    let shape: Vec<u64> = vdims.iter().map(|d| dim_len(gpath, d).ok_or_else(|| bad(format!("no dimension '{d}'")))).collect::<Result<_>>()?;
                    let data = attrs.iter().find(|(k, _)| k == "aggregated_data").and_then(|(_, v)| v.as_str().map(String::from)).unwrap_or_default();
                    let words: Vec<&str> = data.split_whitespace().collect();
                    let term = |t: &str| words.windows(2).find(|w| w[0] == format!("{t}:")).map(|w| w[1].to_string());
                    let (Some(map), Some(uris), Some(idents)) = (term("map"), term("uris"), term("identifiers")) else {
                        return Err(bad(format!("aggregated_data '{data}' lacks map, uris or identifiers")));
                    };
                    let get = |n: &str| by_name(gpath, n).ok_or_else(|| bad(format!("no variable '{n}'")));
                    let (map_g, map_gid, map_id, map_info, _) = get(&map)?;
                    let map_shape: Vec<u64> = map_info.dimids.iter().map(|d| ncapi::dim(*map_gid, *d).map(|x| x.1)).collect::<std::result::Result<_, _>>().map_err(bad)?;
                    let cells = ncapi::get_all_f64(*map_gid, *map_id, &map_shape).map_err(bad)?;
                    let width = map_shape.get(1).copied().unwrap_or(1) as usize;
                    let sizes: Vec<Vec<u64>> = (0..vdims.len()).map(|k| cells[k * width..(k + 1) * width].iter().filter(|x| **x >= 0.0).map(|x| *x as u64).collect()).collect();
                    let read_strings = |n: &str| -> Result<(String, Vec<String>)> {
                        let (sg, sgid, sid, sinfo, _) = get(n)?;
                        let sshape: Vec<u64> = sinfo.dimids.iter().map(|d| ncapi::dim(*sgid, *d).map(|x| x.1)).collect::<std::result::Result<_, _>>().map_err(bad)?;
                        Ok((path_of(sg, n), ncapi::get_strings(*sgid, *sid, &sshape).map_err(bad)?))
                    };
                    let (uris_path, uris) = read_strings(&uris)?;
                    let (idents_path, identifiers) = read_strings(&idents)?;
                    hidden.extend([path_of(map_g, &map), uris_path, idents_path]);
                    (vdims, shape, Source::Fragments { sizes, uris, identifiers, isz })
                }
                None => {
                    let mut vdims = Vec::new();
                    let mut shape = Vec::new();
                    for d in &info.dimids {
                        let (n, l) = ncapi::dim(*gid, *d).map_err(bad)?;
                        vdims.push(n);
                        shape.push(l);
                    }
                    (vdims, shape, Source::Direct { gid: *gid, varid: *id, isz, string: info.xtype == nc::NC_STRING })
                }
            };
            let fill = attrs.iter().find(|(k, _)| k == "_FillValue").map(|(_, v)| crate::products::reader::attr_json(v));
            pattrs.retain(|(k, _)| !k.is_empty());
            sources.insert(name.clone(), source);
            vars.push(crate::products::reader::ProductVar {
                name,
                dims: vdims,
                chunks: shape.clone(),
                shape,
                dtype: dtype.to_string(),
                fill_value: fill.unwrap_or(serde_json::Value::Null),
                compressor: None,
                filters: if info.xtype == nc::NC_STRING { vec![serde_json::json!({"id": "vlen-utf8"})] } else { vec![] },
                attrs: to_map(pattrs),
                refs: vec![None],
            });
        }
        vars.retain(|v| !hidden.contains(&v.name));
        sources.retain(|k, _| !hidden.contains(k));
        Ok((CfaReader { path: path.to_path_buf(), _nca: nca, vars: sources, open: ncapi::OpenFiles::new(32) }, gattrs, groups, vars))
    }

    fn fragment_file(&self, uri: &str) -> Result<std::sync::Arc<NcFile>> {
        let p = Path::new(uri.strip_prefix("file://").unwrap_or(uri));
        self.open.get(uri.to_string(), || NcFile::open(p).map_err(|e| Error::source(p, format!("fragment of {}: {e}", self.path.display()))))
    }

    /// Values of `start..start+count` of a variable, native-endian.
    pub fn read(&self, name: &str, start: &[u64], count: &[u64]) -> Result<Vec<u8>> {
        let bad = |e: String| Error::corrupt(&self.path, format!("variable '{name}': {e}"));
        match self.vars.get(name) {
            None => Err(bad("not in the aggregation file".into())),
            Some(Source::Direct { gid, varid, isz, .. }) => ncapi::get_vara(*gid, *varid, start, count, *isz).map_err(bad),
            Some(Source::Fragments { sizes, uris, identifiers, isz }) => {
                let n: u64 = count.iter().product();
                let mut out = vec![0u8; n as usize * isz];
                if n == 0 {
                    return Ok(out);
                }
                let offsets: Vec<Vec<u64>> = sizes
                    .iter()
                    .map(|s| {
                        s.iter()
                            .scan(0u64, |acc, x| {
                                let o = *acc;
                                *acc += x;
                                Some(o)
                            })
                            .collect()
                    })
                    .collect();
                let grid: Vec<u64> = sizes.iter().map(|s| s.len() as u64).collect();
                let hi: Vec<u64> = grid.iter().map(|g| g - 1).collect();
                crate::slab::for_each_index(&vec![0; grid.len()], &hi, |idx| {
                    let mut lstart = Vec::with_capacity(idx.len());
                    let mut lcount = Vec::with_capacity(idx.len());
                    let mut gstart = Vec::with_capacity(idx.len());
                    for d in 0..idx.len() {
                        let (o, l) = (offsets[d][idx[d] as usize], sizes[d][idx[d] as usize]);
                        let lo = start[d].max(o);
                        let hi = (start[d] + count[d]).min(o + l);
                        if lo >= hi {
                            return Ok(());
                        }
                        lstart.push(lo - o);
                        lcount.push(hi - lo);
                        gstart.push(lo);
                    }
                    let lin = crate::model::ravel(idx, &grid) as usize;
                    let uri = uris.get(lin).ok_or_else(|| bad(format!("no URI for fragment {idx:?}")))?;
                    let ident = identifiers.get(lin).or(identifiers.first()).ok_or_else(|| bad("no identifier".into()))?;
                    let f = self.fragment_file(uri)?;
                    let p = Path::new(uri.as_str());
                    // "v", or "/group/v" for a variable in a group of the fragment.
                    let (fg, id) = ncapi::locate_var(f.ncid, ident).map_err(|e| Error::corrupt(p, format!("fragment variable '{ident}': {e}")))?;
                    let b = ncapi::get_vara(fg, id, &lstart, &lcount, *isz).map_err(|e| Error::corrupt(p, format!("fragment variable '{ident}': {e}")))?;
                    let r1: Vec<u64> = gstart.iter().zip(&lcount).map(|(s, c)| s + c).collect();
                    crate::slab::copy_region(&b, &lcount, &gstart, &mut out, count, start, &gstart, &r1, *isz);
                    Ok(())
                })?;
                Ok(out)
            }
        }
    }

    /// The fragment holding all of `start..start+count` of variable `name`:
    /// its file, the variable's name in it and the start within it. None when
    /// the variable is stored in the aggregation file or the region spans
    /// fragments.
    pub fn fragment_of(&self, name: &str, start: &[u64], count: &[u64]) -> Option<(PathBuf, String, Vec<u64>)> {
        let Some(Source::Fragments { sizes, uris, identifiers, .. }) = self.vars.get(name) else { return None };
        let mut idx = Vec::with_capacity(sizes.len());
        let mut local = Vec::with_capacity(sizes.len());
        for (d, s) in sizes.iter().enumerate() {
            let (mut o, mut found) = (0u64, None);
            for (i, l) in s.iter().enumerate() {
                if start[d] >= o && start[d] + count[d] <= o + l {
                    found = Some((i as u64, start[d] - o));
                    break;
                }
                o += l;
            }
            let (i, l) = found?;
            idx.push(i);
            local.push(l);
        }
        let grid: Vec<u64> = sizes.iter().map(|s| s.len() as u64).collect();
        let lin = crate::model::ravel(&idx, &grid) as usize;
        let uri = uris.get(lin)?;
        let ident = identifiers.get(lin).or(identifiers.first())?;
        Some((PathBuf::from(uri.strip_prefix("file://").unwrap_or(uri)), ident.trim_start_matches('/').to_string(), local))
    }

    /// Every string of a string variable stored in the file.
    pub fn strings(&self, name: &str) -> Result<Vec<String>> {
        match self.vars.get(name) {
            Some(Source::Direct { gid, varid, string: true, .. }) => {
                let info = ncapi::var_info(*gid, *varid).map_err(|e| Error::corrupt(&self.path, e))?;
                let shape: Vec<u64> =
                    info.dimids.iter().map(|d| ncapi::dim(*gid, *d).map(|x| x.1)).collect::<std::result::Result<_, _>>().map_err(|e| Error::corrupt(&self.path, e))?;
                ncapi::get_strings(*gid, *varid, &shape).map_err(|e| Error::corrupt(&self.path, e))
            }
            _ => Err(Error::corrupt(&self.path, format!("variable '{name}' is not a string variable"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placement(lens: Vec<u64>, selection: Option<Vec<u64>>) -> Placement {
        Placement { dims: vec!["time".into()], block: (0..lens.len()).map(|f| vec![f]).collect(), block_lens: vec![lens], selection, recoded: vec![] }
    }

    #[test]
    fn dedupe_of_whole_files_keeps_fragments() {
        assert_eq!(whole_files(&placement(vec![2, 3], None)), Some(vec![0, 1]));
        // The second file repeats the first: only the second is kept.
        assert_eq!(whole_files(&placement(vec![2, 2], Some(vec![2, 3]))), Some(vec![1]));
        // One row dropped inside the first file: not expressible.
        assert_eq!(whole_files(&placement(vec![2, 2], Some(vec![0, 2, 3]))), None);
    }

    #[test]
    fn layout_gives_sizes_and_files_per_fragment() {
        let p = placement(vec![120, 84], None);
        let mut v = crate::model::tests::test_var(vec![204, 3], vec![1, 3]);
        v.dims = vec!["time".into(), "x".into()];
        let l = layout_of(&v, &p, Some(&[0, 1]), 2).unwrap();
        assert_eq!(l.sizes, vec![vec![120, 84], vec![3]]);
        assert_eq!(l.files, vec![0, 1]);
    }
}
