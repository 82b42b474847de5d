//! Small pieces stored inline. A reference costs a client one key lookup and
//! one read however few bytes it points at. netCDF-3 record variables (a few
//! bytes per record) and contiguous arrays whose files differ in length (cut
//! into one reference per step) make hundreds of thousands of references of
//! a few bytes each: a product that takes ten to hundreds of times as long to
//! read as its sources.
//!
//! A variable with references smaller than the threshold (other than its
//! last, which an uneven length may make short) is read here, decoded, and
//! stored inline as one uncompressed chunk, when it is small enough for that
//! (at most [`MAX_INLINE_BYTES`] decoded). Bigger variables keep their
//! references: their reads are dominated by data, not by keys.

use std::collections::HashMap;

use crate::error::Result;
use crate::model::{ChunkData, Group, Variable, VirtualDataset};
use crate::products::reader::{FileCache, Product};

/// References smaller than this are not kept: the default, chosen by the
/// read-time benchmark (bench/bench_read.sh). kerchunk's `inline_threshold`
/// is the same idea per reference (default 100 bytes).
pub const DEFAULT_INLINE_THRESHOLD: u64 = 4096;

/// The largest variable (decoded bytes) that is stored inline.
pub const MAX_INLINE_BYTES: u64 = 16 << 20;

/// Whether `v` is one to store inline under `threshold`.
fn wants_inline(v: &Variable, threshold: u64) -> bool {
    let ChunkData::Refs(refs) = &v.data else { return false };
    if refs.len() < 2 || v.itemsize() == 0 || v.shape.contains(&0) {
        return false;
    }
    let decoded = v.shape.iter().product::<u64>() * v.itemsize();
    decoded <= MAX_INLINE_BYTES && refs[..refs.len() - 1].iter().any(|r| !r.is_missing() && r.size < threshold)
}

/// Store inline every variable of `vds` that [`wants_inline`]; returns how
/// many were. `threshold` 0 keeps every reference.
pub fn consolidate(vds: &mut VirtualDataset, threshold: u64) -> Result<usize> {
    if threshold == 0 {
        return Ok(0);
    }
    let mut wanted = Vec::new();
    for g in vds.groups() {
        wanted.extend(g.vars.iter().filter(|v| wants_inline(v, threshold)).map(|v| format!("{}{}", g.key_prefix(), v.name)));
    }
    if wanted.is_empty() {
        return Ok(0);
    }
    let product = Product::from_virtual(vds);
    let mut cache = FileCache::default();
    let mut data: HashMap<String, Vec<u8>> = HashMap::new();
    for name in &wanted {
        let Some(pv) = product.var(name) else { continue };
        let start = vec![0; pv.shape.len()];
        data.insert(name.clone(), product.read_slab(pv, &start, &pv.shape, &mut cache)?);
    }
    let n = data.len();
    replace(&mut vds.root, &mut data);
    Ok(n)
}

fn replace(g: &mut Group, data: &mut HashMap<String, Vec<u8>>) {
    let prefix = g.key_prefix();
    for v in &mut g.vars {
        if let Some(bytes) = data.remove(&format!("{prefix}{}", v.name)) {
            // One chunk, as decoded: no codec, nothing missing.
            v.chunks = v.shape.clone();
            v.compressor = None;
            v.filters.clear();
            v.missing_chunk = None;
            v.data = ChunkData::Inline(vec![bytes]);
        }
    }
    for sub in &mut g.groups {
        replace(sub, data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attrs, ChunkRef, FillValue, Layout};

    fn var(sizes: &[u64]) -> Variable {
        Variable {
            name: "v".into(),
            dims: vec!["t".into()],
            shape: vec![sizes.len() as u64 * 4],
            chunks: vec![4],
            dtype: "<f4".into(),
            fill_value: FillValue::None,
            compressor: None,
            filters: vec![],
            attrs: Attrs::default(),
            data: ChunkData::Refs(sizes.iter().map(|s| ChunkRef { file: 0, offset: 0, size: *s }).collect()),
            missing_chunk: None,
            layout: Layout::Contiguous,
        }
    }

    #[test]
    fn only_variables_with_small_pieces_other_than_the_last_go_inline() {
        assert!(wants_inline(&var(&[16, 16, 16]), 4096));
        // A short last piece (an uneven length) alone is no reason.
        assert!(!wants_inline(&var(&[8192, 8192, 16]), 4096));
        assert!(!wants_inline(&var(&[16]), 4096));
        let mut big = var(&[16, 16]);
        big.shape = vec![MAX_INLINE_BYTES];
        assert!(!wants_inline(&big, 4096));
    }
}
