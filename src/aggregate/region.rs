//! Reading any region of an aggregate's variable from its source files through
//! netCDF-C, wherever the region falls: inside one file, across the boundary
//! of several, or on rows kept by `--dedupe`. Products that copy the data
//! (Zarr) read through this.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::aggregate::combine::Placement;
use crate::error::{Error, Result};
use crate::model::Variable;
use crate::slab::copy_region;
use crate::source::ncapi::{self, NcFile, OpenFiles};

/// At most this many source files are kept open at once: each costs a file
/// descriptor and netCDF-C's per-variable chunk caches.
const MAX_OPEN: usize = 32;

pub struct RegionReader<'a> {
    files: &'a [PathBuf],
    placement: &'a Placement,
    open: OpenFiles<usize>,
}

/// A piece of a region that one file provides.
struct Piece {
    file: usize,
    /// Start and count in the file's own index space.
    local_start: Vec<u64>,
    count: Vec<u64>,
    /// Where that piece starts in the aggregate.
    global_start: Vec<u64>,
}

impl<'a> RegionReader<'a> {
    pub fn new(files: &'a [PathBuf], placement: &'a Placement) -> RegionReader<'a> {
        RegionReader { files, placement, open: OpenFiles::new(MAX_OPEN) }
    }

    fn file(&self, f: usize) -> Result<Arc<NcFile>> {
        let path = &self.files[f];
        self.open.get(f, || NcFile::open(path).map_err(|e| Error::source(path, format!("netCDF-C cannot open it ({e})"))))
    }

    /// For each axis of `v`, the concat dimension it runs along, if any.
    fn concat_axes(&self, v: &Variable) -> Vec<Option<usize>> {
        v.dims.iter().map(|d| self.placement.dims.iter().position(|c| c == d)).collect()
    }

    /// The files that provide `v`'s data, each with its box in the aggregate
    /// (before dedupe): the first file of each tile, as `compat="override"`.
    fn tiles(&self, v: &Variable) -> Vec<(usize, Vec<u64>, Vec<u64>)> {
        let axes = self.concat_axes(v);
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for f in 0..self.files.len() {
            let key: Vec<usize> = axes.iter().flatten().map(|&t| self.placement.block.get(f).map_or(0, |b| b[t])).collect();
            if !seen.insert(key) {
                continue;
            }
            let mut origin = vec![0u64; v.shape.len()];
            let mut len = v.shape.clone();
            for (ax, t) in axes.iter().enumerate() {
                if let Some(t) = t {
                    let b = self.placement.block[f][*t];
                    origin[ax] = self.placement.offset(*t, b);
                    len[ax] = self.placement.block_lens[*t][b];
                }
            }
            out.push((f, origin, len));
            if axes.iter().all(Option::is_none) {
                break;
            }
        }
        out
    }

    fn pieces(&self, v: &Variable, start: &[u64], count: &[u64]) -> Vec<Piece> {
        let axes = self.concat_axes(v);
        let mut out = Vec::new();
        let deduped = matches!((&self.placement.selection, axes.first()), (Some(_), Some(Some(0))));
        if deduped {
            // Output rows map to rows of the concatenation; group them into runs
            // of consecutive rows of one file.
            let sel = self.placement.selection.as_ref().expect("deduped");
            let lens = &self.placement.block_lens[0];
            let mut offsets = Vec::with_capacity(lens.len());
            let mut acc = 0;
            for l in lens {
                offsets.push(acc);
                acc += l;
            }
            let locate = |g: u64| -> (usize, u64) {
                let f = offsets.partition_point(|o| *o <= g) - 1;
                (f, g - offsets[f])
            };
            let mut r = start[0];
            let end = start[0] + count[0];
            while r < end {
                let (f, l0) = locate(sel[r as usize]);
                let mut n = 1;
                while r + n < end {
                    let (f2, l2) = locate(sel[(r + n) as usize]);
                    if f2 != f || l2 != l0 + n {
                        break;
                    }
                    n += 1;
                }
                let mut local_start = start.to_vec();
                local_start[0] = l0;
                let mut c = count.to_vec();
                c[0] = n;
                let mut global_start = start.to_vec();
                global_start[0] = r;
                out.push(Piece { file: f, local_start, count: c, global_start });
                r += n;
            }
            return out;
        }
        for (f, origin, len) in self.tiles(v) {
            let mut local_start = Vec::with_capacity(start.len());
            let mut c = Vec::with_capacity(start.len());
            let mut global_start = Vec::with_capacity(start.len());
            let mut empty = false;
            for d in 0..start.len() {
                let lo = start[d].max(origin[d]);
                let hi = (start[d] + count[d]).min(origin[d] + len[d]);
                if lo >= hi {
                    empty = true;
                    break;
                }
                local_start.push(lo - origin[d]);
                c.push(hi - lo);
                global_start.push(lo);
            }
            if !empty {
                out.push(Piece { file: f, local_start, count: c, global_start });
            }
        }
        out
    }

    /// The values of `v` in `start..start+count`, native-endian, `v.itemsize()`
    /// bytes each; parts no file covers hold `fill`.
    pub fn read(&self, v: &Variable, start: &[u64], count: &[u64], fill: &[u8]) -> Result<Vec<u8>> {
        let isz = v.itemsize() as usize;
        let n: u64 = count.iter().product();
        if v.shape.is_empty() {
            let (f, _, _) = self.tiles(v).into_iter().next().unwrap_or((0, vec![], vec![]));
            return self.read_file(f, &v.name, &[], &[], isz);
        }
        let mut out: Vec<u8> = fill.iter().copied().cycle().take(n as usize * isz).collect();
        if n == 0 {
            return Ok(out);
        }
        for p in self.pieces(v, start, count) {
            let buf = self.read_file(p.file, &v.name, &p.local_start, &p.count, isz)?;
            let r1: Vec<u64> = p.global_start.iter().zip(&p.count).map(|(s, c)| s + c).collect();
            copy_region(&buf, &p.count, &p.global_start, &mut out, count, start, &p.global_start, &r1, isz);
        }
        Ok(out)
    }

    fn read_file(&self, f: usize, name: &str, start: &[u64], count: &[u64], isz: usize) -> Result<Vec<u8>> {
        let nc = self.file(f)?;
        let path: &Path = &self.files[f];
        let Ok((gid, id)) = ncapi::locate_var(nc.ncid, name) else {
            return Err(Error::Incompatible(format!("{}: variable '{name}' is missing", path.display())));
        };
        ncapi::get_vara(gid, id, start, count, isz).map_err(|e| Error::corrupt(path, format!("variable '{name}': {e}")))
    }

    /// Every string of a variable-length string variable (single files and
    /// variables without a concat dimension only).
    pub fn strings(&self, v: &Variable) -> Result<Vec<String>> {
        let (f, _, _) = self.tiles(v).into_iter().next().unwrap_or((0, vec![], vec![]));
        let nc = self.file(f)?;
        let path = &self.files[f];
        let Ok((gid, id)) = ncapi::locate_var(nc.ncid, &v.name) else {
            return Err(Error::Incompatible(format!("{}: variable '{}' is missing", path.display(), v.name)));
        };
        ncapi::get_strings(gid, id, &v.shape).map_err(|e| Error::corrupt(path, format!("variable '{}': {e}", v.name)))
    }
}
