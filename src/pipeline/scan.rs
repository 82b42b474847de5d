//! scan: look at a sample of the project's files, spread over the whole list
//! (padocc takes the first two), and record in `detail-cfg.json` what compute
//! and validate will need: format and driver, concat dimension(s), identical
//! variables, chunks per file and in total, the product size and so JSON or
//! Parquet, and the time and memory compute and validate should take.

use std::time::Instant;

use serde_json::{json, Value};

use super::{Done, Options};
use crate::aggregate::combine::{self, Options as CombineOptions};
use crate::error::{Error, Result};
use crate::model::{ChunkData, VirtualDataset};
use crate::source;
use crate::workdir::project::{format_size, local_time, Project};

/// padocc's size per kerchunk reference, used for its JSON/Parquet threshold.
const BYTES_PER_REF: f64 = 167.0;

/// Sample indices spread over `n` files: first, last and evenly between.
pub fn sample_indices(n: usize) -> Vec<usize> {
    let k = (n / 20).clamp(3, 100).min(n);
    if k <= 1 {
        return (0..n).collect();
    }
    let mut v: Vec<usize> = (0..k).map(|i| i * (n - 1) / (k - 1)).collect();
    v.dedup();
    v
}

/// Concat dims: those whose coordinate values differ between sample files; if
/// none do, the unlimited dimension (or `time`).
pub fn detect_concat_dims(parts: &[VirtualDataset]) -> Vec<String> {
    if parts.len() < 2 {
        return vec![];
    }
    let first = &parts[0];
    let mut dims = Vec::new();
    for v in &first.root.vars {
        if v.dims.len() != 1 || v.dims[0] != v.name {
            continue;
        }
        let a = first.coord(&v.name);
        if parts[1..].iter().any(|p| p.coord(&v.name) != a && a.is_some()) {
            dims.push(v.name.clone());
        }
    }
    if dims.is_empty() {
        if let Some(d) = first.root.dims.iter().find(|d| d.2).or_else(|| first.root.dims.iter().find(|d| d.0 == "time")) {
            dims.push(d.0.clone());
        }
    }
    dims
}

pub fn run(p: &Project, opts: &Options) -> Result<Done> {
    let files = p.allfiles()?;
    if files.is_empty() {
        return Err(Error::Usage(format!("project '{}' has no files in allfiles.txt", p.code)));
    }
    let idx = sample_indices(files.len());
    let sample: Vec<_> = idx.iter().map(|&i| files[i].clone()).collect();
    // Read every 1-D coordinate so differing ones reveal the concat dims.
    let t0 = Instant::now();
    let mut parts = Vec::with_capacity(sample.len());
    let select = super::compute::selection(&p.base()?);
    for f in &sample {
        opts.control.cancel.check()?;
        let probe = source::read_file(f, &[])?;
        let coords: Vec<String> = probe.root.vars.iter().filter(|v| v.dims.len() == 1 && v.dims[0] == v.name).map(|v| v.name.clone()).collect();
        let mut part = source::read_file(f, &coords)?;
        select.apply(&mut part);
        parts.push(part);
    }
    let read_per_file = t0.elapsed().as_secs_f64() / sample.len() as f64 / 2.0;
    let concat_dims = if opts.concat_dims.is_empty() { detect_concat_dims(&parts) } else { opts.concat_dims.clone() };
    let format = source::detect(&sample[0])?;
    let refs_per_file: Vec<u64> = parts.iter().map(VirtualDataset::n_refs).collect();
    let bytes_per_file: Vec<u64> = parts
        .iter()
        .map(|p| {
            p.groups()
                .iter()
                .flat_map(|g| &g.vars)
                .map(|v| match &v.data {
                    ChunkData::Refs(r) => r.iter().map(|c| c.size).sum::<u64>(),
                    ChunkData::Inline(c) => c.iter().map(|b| b.len() as u64).sum(),
                })
                .sum()
        })
        .collect();
    let vars_chunks: serde_json::Map<String, Value> = parts[0].root.vars.iter().map(|v| (v.name.clone(), json!(format!("{:.1}", v.n_chunks() as f64)))).collect();
    let identical: Vec<String> = parts[0].root.vars.iter().filter(|v| !v.dims.iter().any(|d| concat_dims.contains(d))).map(|v| v.name.clone()).collect();
    let aggregated: Vec<String> =
        parts[0].root.vars.iter().filter(|v| v.dims.iter().any(|d| concat_dims.contains(d)) && !concat_dims.contains(&v.name)).map(|v| v.name.clone()).collect();
    let t1 = Instant::now();
    let combined = combine::combine(parts, &CombineOptions { concat_dims: concat_dims.clone(), dedupe: opts.dedupe.unwrap_or_default(), layout_only: false, ..Default::default() });
    let combine_s = t1.elapsed().as_secs_f64();
    let n = files.len() as f64;
    let avg_refs = refs_per_file.iter().sum::<u64>() as f64 / refs_per_file.len() as f64;
    let avg_bytes = bytes_per_file.iter().sum::<u64>() as f64 / bytes_per_file.len() as f64;
    let total_refs = avg_refs * n;
    let cloud_data = total_refs * BYTES_PER_REF;
    let file_type = if cloud_data > 500e6 || total_refs > 1e8 { "parq" } else { "json" };
    // Estimates measured on the sample: reading dominates compute; validation
    // reads every source byte once more (through netCDF-C, ~300 MB/s/core here).
    let compute_s = read_per_file * n + total_refs * 0.4e-6 + combine_s;
    let compute_mem = 64e6 + total_refs * 96.0;
    let validate_s = avg_bytes * n / 300e6 + compute_s;
    let validate_mem = 64e6 + 2.0 * (64u64 << 20) as f64 + total_refs * 96.0;

    let mut detail = p.detail()?;
    detail.source_data = Some(format_size(avg_bytes * n));
    detail.cloud_data = Some(format_size(cloud_data));
    detail.scanned_with = Some(format!("padocc-rs {}", env!("CARGO_PKG_VERSION")));
    detail.num_files = Some(files.len() as u64);
    detail.extra.insert("type".into(), json!(file_type));
    detail.extra.insert("driver".into(), json!(if matches!(format, source::Format::Hdf5) { "hdf5" } else { "ncf3" }));
    detail.extra.insert("format".into(), json!(format.name()));
    detail.chunk_info = json!({"variables": vars_chunks, "chunks_per_file": format!("{avg_refs:.1}"), "total_chunks": format!("{total_refs:.2}"),
               "estm_chunksize": format_size(if avg_refs > 0.0 { avg_bytes / avg_refs } else { 0.0 })});
    let kwargs = &mut detail.kwargs;
    kwargs.insert("combine_kwargs".into(), json!({"concat_dims": concat_dims, "identical_dims": identical, "aggregated_vars": aggregated}));
    if let Some(d) = opts.dedupe {
        kwargs.insert("dedupe".into(), json!(format!("{d:?}").to_lowercase()));
    }
    detail.timings = json!({"convert_estm": read_per_file, "concat_estm": combine_s / sample.len() as f64, "validate_estm": validate_s / n,
               "convert_actual": null, "concat_actual": null, "validate_actual": null})
    .as_object()
    .cloned()
    .unwrap_or_default();
    detail.extra.insert(
        "estimates".into(),
        json!({"compute_seconds": compute_s, "compute_memory_bytes": compute_mem as u64, "validate_seconds": validate_s,
               "validate_memory_bytes": validate_mem as u64, "sample_files": idx}),
    );
    let problem = combined.err();
    if let Some(e) = &problem {
        detail.extra.insert("scan_problem".into(), json!(e.to_string()));
    } else {
        detail.extra.remove("scan_problem");
    }
    p.save_detail(&detail)?;
    let mut base = p.base()?;
    base.cloud.file_type = file_type.to_string();
    base.last_run = json!(["scan", local_time(true)]);
    p.save_base(&base)?;
    // The sample could not be combined: compute would fail the same way.
    if let Some(e) = problem {
        return Err(e);
    }
    Ok(Done::success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_spread_over_the_list() {
        assert_eq!(sample_indices(2), vec![0, 1]);
        assert_eq!(sample_indices(10), vec![0, 4, 9]);
        let s = sample_indices(1000);
        assert_eq!((s.len(), s[0], *s.last().unwrap()), (50, 0, 999));
    }
}
