//! The command line's words: padocc 1.5.1's commands and flags (plus `refs`,
//! `zarr`, `cfa`, `verify`, `doctor`, `run`, `rerun-failed`), as clap parses
//! them. Nothing here acts; `run` turns them into library requests.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::aggregate::combine::{Dedupe, Options as CombineOptions};
use crate::pipeline::Phase;
use crate::products::writer::{parquet::DEFAULT_RECORD_SIZE, Kind};
use crate::products::zarr;

#[derive(Parser)]
#[command(
    name = "padocc",
    version,
    about = "Aggregate archives of netCDF/HDF5 datasets into cloud-friendly products (kerchunk references), validated against their sources.",
    long_about = "Aggregate archives of netCDF/HDF5 datasets into cloud-friendly products (kerchunk references),\nvalidated against their sources.\n\nA working directory (-w or $WORKDIR) holds groups of projects; each project (one dataset, many files)\nmoves through the phases init -> scan -> compute -> validate -> complete. Typical session:\n\n  padocc init -G cmip6 -i datasets.csv        # one line per project: code,file pattern\n  padocc scan -G cmip6                         # sample files, find concat dims and sizes\n  padocc compute -G cmip6                      # build k1.0a.json (or .parquet) per project\n  padocc validate -G cmip6                     # compare every value with the sources\n  padocc complete -G cmip6 --completion_dir /published\n  padocc status -G cmip6\n\nOr, without a working directory:  padocc refs FILES... -o out.json",
    after_help = "Exit codes: 0 ok, 1 some projects failed (phase commands) or internal error, 2 bad usage, 3 bad input file,\n4 files cannot be combined, 5 unsupported feature, 6 cannot write output, 130 interrupted. See docs/exit-codes.md."
)]
pub struct Cli {
    /// Working directory (default: $WORKDIR). -w wins when both are set.
    #[arg(short = 'w', long = "workdir", global = true)]
    pub(crate) workdir: Option<PathBuf>,
    /// More detail on stderr (-v, -vv).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
    /// Nothing on stderr but errors.
    #[arg(short = 'q', long = "quiet", global = true)]
    pub(crate) quiet: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum OutFormat {
    #[default]
    Human,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ShepardMode {
    Batch,
    Continuous,
    Status,
    Quarantine,
    Scrub,
    Clear,
    Delete,
}

#[derive(Args, Clone, Copy, Default)]
pub(crate) struct Fmt {
    /// Output for people (human) or one JSON document on stdout for scripts (json).
    #[arg(long = "format", value_enum, default_value_t = OutFormat::Human)]
    pub(crate) format: OutFormat,
}

#[derive(Args, Clone, Default)]
pub(crate) struct Sel {
    /// Group name.
    #[arg(short = 'G', long = "groupID")]
    pub(crate) group: String,
    /// Subset of the group (a file in groups/<G>/proj_codes/).
    #[arg(short = 'r', long = "repeat_id", default_value = "main")]
    pub(crate) repeat_id: String,
    /// Project(s): a code, an index, or a comma list of either.
    #[arg(short = 'p', long = "proj_code")]
    pub(crate) proj: Option<String>,
    /// With --parallel: at most N projects in one task (padocc's -s).
    #[arg(short = 's', long = "subset")]
    pub(crate) subset: Option<usize>,
    /// Redo what is done (padocc's -T; the same as -f here).
    #[arg(short = 'T', long = "thorough")]
    pub(crate) thorough: bool,
}

/// padocc 1.5.1's flags that padocc-rs needs no value of, accepted so that
/// existing scripts keep working (docs/pipeline.md says what each did).
#[derive(Args, Clone, Default)]
pub(crate) struct LegacyFlags {
    /// A virtual environment for job scripts (padocc-rs is one binary).
    #[arg(short = 'e', long = "environ", hide = true)]
    pub(crate) _environ: Option<String>,
    /// Bin-packing (always on here).
    #[arg(short = 'A', long = "alloc-bins", hide = true)]
    pub(crate) _alloc_bins: bool,
    /// Raise the band of a rerun (rerun-failed does this from sacct).
    #[arg(long = "allow-band-increase", hide = true)]
    pub(crate) _band_increase: bool,
    #[arg(long = "xarray_kwargs", hide = true)]
    pub(crate) _xarray_kwargs: Option<String>,
    /// Per-project parallel compute (compute is parallel within a project here).
    #[arg(long = "parallel_project", hide = true, num_args = 0..=1, default_missing_value = "")]
    pub(crate) _parallel_project: Option<String>,
    #[arg(long = "diagnostic", hide = true)]
    pub(crate) _diagnostic: bool,
    #[arg(long = "wait_sbatch", hide = true)]
    pub(crate) _wait_sbatch: bool,
    /// Variables identical across files (here everything without the concat
    /// dimension comes from the first file, as compat="override").
    #[arg(long = "identical_dims", hide = true)]
    pub(crate) _identical_dims: Option<String>,
    #[arg(long = "b64vars", hide = true)]
    pub(crate) _b64vars: Option<String>,
}

/// padocc's "phased" flags on init and new, which have no phase to run here.
#[derive(Args, Clone, Default)]
pub(crate) struct InitLegacy {
    /// Check and show, write nothing.
    #[arg(short = 'd', long = "dryrun", hide = true)]
    pub(crate) dryrun: bool,
    #[arg(short = 'b', long = "bypass-errs", hide = true)]
    pub(crate) _bypass: Option<String>,
    #[arg(short = 'C', long = "cloud-format", hide = true)]
    pub(crate) _cloud_format: Option<String>,
    #[arg(long = "CFA", hide = true)]
    pub(crate) _cfa: Option<String>,
    #[arg(short = 't', long = "time-allowed", hide = true)]
    pub(crate) _time: Option<String>,
    #[arg(short = 'M', long = "memory", hide = true)]
    pub(crate) _memory: Option<String>,
    #[arg(short = 'n', long = "new_version", hide = true)]
    pub(crate) _new_version: bool,
    #[arg(long = "parallel", hide = true)]
    pub(crate) _parallel: bool,
    #[arg(short = 's', long = "subset", hide = true)]
    pub(crate) _subset: Option<usize>,
    #[arg(short = 'T', long = "thorough", hide = true)]
    pub(crate) _thorough: bool,
    #[arg(short = 'r', long = "repeat_id", hide = true)]
    pub(crate) _repeat_id: Option<String>,
    #[arg(short = 'p', long = "proj_code", hide = true)]
    pub(crate) _proj: Option<String>,
    #[command(flatten)]
    pub(crate) _legacy: LegacyFlags,
}

/// The source files of one aggregation and how they combine.
#[derive(Args, Clone)]
pub(crate) struct SeriesArgs {
    /// Source files, in concatenation order.
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Dimension(s) to concatenate along; several (comma-separated) tile files by coordinate values.
    /// Default: the first file's unlimited dimension, else `time`.
    #[arg(long, value_delimiter = ',')]
    pub(crate) concat_dim: Vec<String>,
    /// What to do when values along the concat dimension repeat or decrease.
    #[arg(long, value_enum, default_value_t = Dedupe::Error)]
    pub(crate) dedupe: Dedupe,
    /// Only these variables (comma-separated), with the coordinate variables of their
    /// dimensions: padocc's keep_vars.
    #[arg(long, value_delimiter = ',', value_name = "VARS")]
    pub(crate) keep_vars: Vec<String>,
    /// Leave these variables out (comma-separated): padocc's drop_vars.
    #[arg(long, value_delimiter = ',', value_name = "VARS")]
    pub(crate) drop_vars: Vec<String>,
}

impl SeriesArgs {
    pub(crate) fn combine(&self, layout_only: bool) -> CombineOptions {
        CombineOptions { concat_dims: self.concat_dim.clone(), dedupe: self.dedupe, layout_only, select: self.select(), ..Default::default() }
    }

    pub(crate) fn select(&self) -> crate::aggregate::select::Selection {
        crate::aggregate::select::Selection { keep: self.keep_vars.clone(), drop: self.drop_vars.clone() }
    }
}

#[derive(Args, Clone, Default)]
pub(crate) struct PhaseArgs {
    #[command(flatten)]
    pub(crate) sel: Sel,
    #[command(flatten)]
    pub(crate) fmt: Fmt,
    /// Redo the phase even where its result exists.
    #[arg(short = 'f', long = "forceful")]
    pub(crate) force: bool,
    /// compute: make a new minor version (k1.1a) beside the existing product.
    #[arg(short = 'n', long = "new_version")]
    pub(crate) new_version: bool,
    /// Cloud format, recorded in each project: kerchunk (references), zarr (a Zarr v3 store; to S3 with the
    /// project's remote_s3 settings), icechunk (a repository of virtual references that grows by a commit
    /// when the project gains files; docs/cloud.md) or CFA (only the aggregation file).
    #[arg(short = 'C', long = "cloud-format", value_parser = ["kerchunk", "zarr", "icechunk", "CFA", "cfa"])]
    pub(crate) cloud_format: Option<String>,
    /// compute: make the CF aggregation file (<proj>.nca) beside the product (y, the default) or not (n); recorded in each project.
    #[arg(long = "CFA", value_parser = ["y", "n"])]
    pub(crate) cfa: Option<String>,
    /// compute -C zarr: memory for chunk buffers (e.g. 500MB, 2GB).
    #[arg(long = "mem-allowed", alias = "mem_allowed", value_parser = zarr::parse_bytes)]
    pub(crate) mem_allowed: Option<u64>,
    /// Dimension(s) to concatenate along, overriding what scan found.
    #[arg(long = "concat_dims", alias = "concat-dims", value_delimiter = ',')]
    pub(crate) concat_dims: Vec<String>,
    /// What to do with repeated or decreasing values along the concat dimension.
    #[arg(long, value_enum)]
    pub(crate) dedupe: Option<Dedupe>,
    /// validate: compare only N blocks (of up to 64 MiB) per variable, spread over all its
    /// files (first, last and evenly between), instead of every value.
    #[arg(long, default_value_t = 0)]
    pub(crate) sample: usize,
    /// Projects run at once (default: all cores).
    #[arg(short = 'j', long = "jobs")]
    pub(crate) jobs: Option<usize>,
    /// validate: padocc's bypass file (JSON shaped like the reports): the differences it
    /// lists do not count towards the status (the reports still show them).
    #[arg(short = 'i', long = "input_file")]
    pub(crate) bypass_file: Option<PathBuf>,
    /// Show what would run and change nothing (with --parallel: the array plan and
    /// scripts, as --dry-run).
    #[arg(short = 'd', long = "dryrun")]
    pub(crate) dryrun: bool,
    /// With --parallel: the time each task asks for at least (padocc's -t: MM:SS or H:MM:SS).
    #[arg(short = 't', long = "time-allowed", value_parser = parse_time_allowed)]
    pub(crate) time_allowed: Option<u64>,
    /// With --parallel: the memory each task asks for at least (padocc's -M, as SLURM reads
    /// it: 2G is 2048 MB, a plain number is MB).
    #[arg(short = 'M', long = "memory", value_parser = parse_memory_mb)]
    pub(crate) memory: Option<u64>,
    /// padocc's bypass letters; accepted for compatibility (errors never stop a group run here).
    #[arg(short = 'b', long = "bypass-errs", default_value = "D")]
    pub(crate) _bypass: String,
    /// padocc's aggregation method (padocc, virtualizarr, kerchunk): accepted, and the same
    /// for all. padocc-rs has one engine; its products are recorded as kerchunk
    /// aggregations (kerchunk_aggregation in base-cfg.json), which padocc shows as (K).
    #[arg(short = 'a', long = "aggregator")]
    pub(crate) _aggregator: Option<String>,
    /// Run as job arrays on the scheduler instead of here.
    #[arg(long = "parallel")]
    pub(crate) parallel: bool,
    #[command(flatten)]
    pub(crate) sched: SchedArgs,
    #[command(flatten)]
    pub(crate) _legacy: LegacyFlags,
}

/// padocc's `-M` in MB: SLURM's units (binary), a plain number being MB.
pub(crate) fn parse_memory_mb(s: &str) -> std::result::Result<u64, String> {
    let bad = || format!("'{s}' is not a memory size: use e.g. 2G or 4000M (padocc's -M)");
    let kib = match s.trim().parse::<f64>() {
        Ok(mb) => Some((mb * 1024.0) as u64),
        Err(_) => crate::scheduler::parse_kib(s),
    };
    kib.filter(|k| *k > 0).map(|k| k.div_ceil(1024)).ok_or_else(bad)
}

/// padocc's `-t`: SLURM's `MM:SS`, `H:MM:SS` or `D-H:MM:SS`, or plain minutes.
pub(crate) fn parse_time_allowed(s: &str) -> std::result::Result<u64, String> {
    let bad = || format!("'{s}' is not a time: use MM:SS, H:MM:SS or minutes (padocc's -t 30:00 is 30 minutes)");
    let num = |p: &str| p.parse::<u64>().map_err(|_| bad());
    let parts = |r: &str| r.split(':').map(num).collect::<std::result::Result<Vec<u64>, _>>();
    // As SLURM: with days, the rest is H, H:MM or H:MM:SS; without, M, M:SS or H:MM:SS.
    Ok(match s.split_once('-') {
        Some((d, rest)) => {
            num(d)? * 86400
                + match parts(rest)?.as_slice() {
                    [h] => h * 3600,
                    [h, m] => h * 3600 + m * 60,
                    [h, m, s] => h * 3600 + m * 60 + s,
                    _ => return Err(bad()),
                }
        }
        None => match parts(s)?.as_slice() {
            [m] => m * 60,
            [m, s] => m * 60 + s,
            [h, m, s] => h * 3600 + m * 60 + s,
            _ => return Err(bad()),
        },
    })
}

#[derive(Args, Clone, Default)]
pub(crate) struct SchedArgs {
    /// Scheduler for --parallel (default: padocc.toml's, else slurm).
    #[arg(long, value_parser = ["slurm", "lsf", "pbs", "local"])]
    pub(crate) scheduler: Option<String>,
    /// Print the array plan and the scripts; submit nothing.
    #[arg(long = "dry-run")]
    pub(crate) dry_run: bool,
    /// Site config (default: $WORKDIR/padocc.toml, then ~/.config/padocc/padocc.toml).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Build one kerchunk reference set (JSON or Parquet) over a series of files.
    ///
    /// The result opens in xarray as open_mfdataset(files, combine="nested",
    /// concat_dim=D, data_vars="minimal", coords="minimal", compat="override")
    /// would: variables with the concat dimension are concatenated, everything
    /// else comes from the first file. No data is copied.
    ///
    /// Examples:
    ///   padocc refs data/*.nc -o out.json --concat-dim time
    ///   padocc refs a.nc b.nc -o out.parquet
    ///   padocc refs tiles/*.nc -o out.json --concat-dim time,lat,lon
    ///   padocc refs data/*.nc -o out.icechunk --concat-dim time
    ///   padocc refs new/*.nc -o s3://bucket/out.icechunk --append
    ///
    /// An Icechunk repository (*.icechunk, a directory or s3://bucket/prefix)
    /// gets one commit; --append adds files to what its last snapshot holds.
    /// S3 settings come from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_REGION or ~/.aws/credentials (docs/cloud.md).
    #[command(verbatim_doc_comment)]
    Refs {
        #[command(flatten)]
        series: SeriesArgs,
        /// Output: *.json gives kerchunk JSON, *.parquet or *.parq a Parquet reference directory,
        /// *.icechunk an Icechunk repository (local, or s3://bucket/prefix).
        #[arg(short, long)]
        output: PathBuf,
        /// Product kind, overriding the extension.
        #[arg(long = "format", value_enum)]
        kind: Option<Kind>,
        /// Icechunk: commit the given files as an addition to what the repository's last
        /// snapshot holds (a new month of data), writing only what changed.
        #[arg(long)]
        append: bool,
        /// Icechunk: the commit message (default: what was added).
        #[arg(long, short = 'm')]
        message: Option<String>,
        /// Print the summary as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Parquet: references per record file.
        #[arg(long, default_value_t = DEFAULT_RECORD_SIZE)]
        record_size: u64,
        /// Store inline (read and decoded now) every variable of at most 16 MiB that has
        /// references smaller than this many bytes (other than its last): tiny pieces make
        /// products slow to read. 0 keeps every reference.
        #[arg(long = "inline-threshold", visible_alias = "inline_threshold", default_value_t = crate::products::inline::DEFAULT_INLINE_THRESHOLD)]
        inline_threshold: u64,
    },
    /// Copy a series of files into one Zarr store (v3 or v2), rechunked for cloud access.
    ///
    /// The store opens in xarray (engine="zarr") as the same dataset as
    /// `padocc refs` describes. Values are read with netCDF-C and written with
    /// zarrs, one chunk at a time, in parallel within --mem-limit. The store is
    /// built as OUT.partial and renamed to OUT when complete; running the same
    /// command again after a kill resumes where it stopped.
    ///
    /// Examples:
    ///   padocc zarr data/*.nc -o out.zarr --concat-dim time
    ///   padocc zarr data/*.nc -o out.zarr --chunks time=120 --compression zstd --level 5
    ///   padocc zarr data/*.nc -o out.zarr --zarr-format 2 --mem-limit 1GB
    ///   padocc zarr data/*.nc -o out.zarr --chunks time=12 --shards time=1200
    ///   padocc zarr data/*.nc -o s3://bucket/path/out.zarr --concat-dim time
    ///
    /// To an object store (s3://bucket/prefix), the store is built in a stage
    /// directory (--stage), then uploaded: chunks first, metadata last, so no
    /// reader sees it half-written; a rerun sends only what is missing. S3
    /// settings: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_REGION or ~/.aws/credentials (docs/cloud.md).
    #[command(verbatim_doc_comment)]
    Zarr {
        #[command(flatten)]
        series: SeriesArgs,
        /// The store to write: a directory (conventionally *.zarr) or s3://bucket/prefix.
        #[arg(short, long)]
        output: PathBuf,
        /// Object-store output: where the store is built before the upload (default
        /// $PADOCC_STAGE, else the temporary directory). Kept until the upload completes.
        #[arg(long)]
        stage: Option<PathBuf>,
        /// Zarr format version: 3 (zarr-python 3, xarray) or 2 (older clients).
        #[arg(long, default_value_t = 3)]
        zarr_format: u8,
        /// Chunk lengths by dimension, e.g. time=120,lat=90; other dimensions are derived from --chunk-size.
        #[arg(long, value_parser = zarr::parse_dim_lengths, default_value = "")]
        chunks: std::vec::Vec<(String, u64)>,
        /// Uncompressed size a derived chunk aims at.
        #[arg(long, value_parser = zarr::parse_bytes, default_value = "4MiB")]
        chunk_size: u64,
        /// Compression of every chunk. blosc is Blosc with zstd inside and byte
        /// shuffle: on floating-point data it is smaller than plain zstd and, at
        /// level 1, about 2.5x faster to write.
        #[arg(long, value_enum, default_value_t = zarr::Compression::Blosc)]
        compression: zarr::Compression,
        /// Compression level (default: blosc 1, zstd 3, gzip 4).
        #[arg(long)]
        level: Option<i32>,
        /// Zarr v3 sharding: shard lengths by dimension (multiples of the chunk lengths), e.g. time=1200.
        #[arg(long, value_parser = zarr::parse_dim_lengths, default_value = "")]
        shards: std::vec::Vec<(String, u64)>,
        /// Memory for chunk buffers; fewer chunks are converted at once when it is small.
        #[arg(long, value_parser = zarr::parse_bytes, default_value = "1GB")]
        mem_limit: u64,
        /// Print the summary as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Write one CF-netCDF aggregation file (.nca, CF-1.12) over a series of files.
    ///
    /// The file opens with cfapyx (xarray engine="CFA") as the same dataset as
    /// `padocc refs` describes. Data variables point at their fragments (the
    /// source files, by absolute path); coordinates, re-encoded times, packed
    /// and string variables are copied in. Fragments may differ in length,
    /// chunking and compression, and tile several dimensions.
    ///
    /// Examples:
    ///   padocc cfa data/*.nc -o out.nca --concat-dim time
    ///   padocc cfa tiles/*.nc -o out.nca --concat-dim time,lat,lon
    #[command(verbatim_doc_comment)]
    Cfa {
        #[command(flatten)]
        series: SeriesArgs,
        /// The aggregation file to write (conventionally *.nca).
        #[arg(short, long)]
        output: PathBuf,
        /// Print the summary as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Check any product (references, Zarr store, CFA file) against its source files, value by value.
    ///
    /// The same check as the validate phase, without a working directory:
    /// every value of every variable read through the product is compared with
    /// netCDF-C's reading of the sources (NaN equals NaN), plus dimensions,
    /// dtypes and attributes. Exit status 0 when they match, 1 when not.
    ///
    /// Examples:
    ///   padocc verify out.json data/*.nc --concat-dim time
    ///   padocc verify out.zarr data/*.nc --sample 4
    #[command(verbatim_doc_comment)]
    Verify {
        /// The product: *.json, a Parquet reference directory, a Zarr store or a *.nca file.
        product: PathBuf,
        #[command(flatten)]
        series: SeriesArgs,
        /// Compare only N blocks (of up to 64 MiB) per variable, spread over all its files
        /// (first, last and evenly between).
        #[arg(long, default_value_t = 0)]
        sample: usize,
        /// Processes to share the files between (default: every core). netCDF-C reads
        /// on one core per process; below 256 MB of sources, or with --sample, one is used.
        #[arg(short = 'j', long = "jobs")]
        jobs: Option<usize>,
        /// Print the reports as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Create an empty group.
    New {
        #[arg(short = 'G', long = "groupID")]
        group: String,
        #[arg(short = 'f', long = "forceful", hide = true)]
        _force: bool,
        #[command(flatten)]
        _legacy: InitLegacy,
    },
    /// Create (or update) a group's projects from a CSV: proj_code,pattern[,updates,removals[,var...]].
    ///
    /// A pattern is a glob or a .txt file listing paths. Re-running init updates
    /// existing projects; every row is checked before anything is written.
    #[command(verbatim_doc_comment)]
    Init {
        #[arg(short = 'G', long = "groupID")]
        group: String,
        #[command(flatten)]
        fmt: Fmt,
        /// The input CSV.
        #[arg(short = 'i', long = "input_file", alias = "input")]
        input: PathBuf,
        /// padocc's substitutions, a JSON file {"init_file"|"dataset_file"|"datasets": {"old": "new"}}:
        /// literal replacements in the CSV's lines, in a .txt pattern (the list's path) and in every file path.
        #[arg(long = "substitutions", value_name = "JSON")]
        substitutions: Option<PathBuf>,
        #[arg(short = 'f', long = "forceful", hide = true)]
        _force: bool,
        #[command(flatten)]
        _legacy: InitLegacy,
    },
    /// Add projects to a group from a CSV (as init) or a JSON object/list with proj_code and pattern.
    Add {
        #[arg(short = 'G', long = "groupID")]
        group: String,
        #[command(flatten)]
        fmt: Fmt,
        #[arg(short = 'i', long = "input_file", alias = "input")]
        input: PathBuf,
        /// padocc's substitutions, a JSON file {"init_file"|"dataset_file"|"datasets": {"old": "new"}}:
        /// literal replacements in the CSV's lines, in a .txt pattern (the list's path) and in every file path.
        #[arg(long = "substitutions", value_name = "JSON")]
        substitutions: Option<PathBuf>,
        /// Also update projects that exist.
        #[arg(short = 'f', long = "forceful")]
        force: bool,
        /// padocc's MOLES tags (never reached padocc's add either).
        #[arg(long = "moles", hide = true)]
        _moles: Option<String>,
        #[command(flatten)]
        _legacy: InitLegacy,
    },
    /// List the groups of the working directory.
    List {
        #[command(flatten)]
        fmt: Fmt,
    },
    /// Sample each project's files: concat dims, chunks, product size and kind, time and memory estimates.
    Scan(PhaseArgs),
    /// Build each project's reference product (k<v>a.json or .parquet).
    Compute(PhaseArgs),
    /// Compare each product with its sources, every value by default (--sample N for a quick check).
    Validate(PhaseArgs),
    /// Copy validated products to a completion directory, with their reports.
    Complete {
        #[command(flatten)]
        sel: Sel,
        #[command(flatten)]
        fmt: Fmt,
        /// Where products go (data/) with their reports (reports/).
        #[arg(long = "completion_dir", alias = "completion-dir")]
        completion_dir: PathBuf,
        /// Rewrite source paths starting with this prefix...
        #[arg(long = "sub", requires = "replace")]
        sub: Option<String>,
        /// ...to this one (e.g. an https URL).
        #[arg(long = "replace", requires = "sub")]
        replace: Option<String>,
        #[arg(long = "version_separator", default_value = "_")]
        version_separator: String,
        /// Complete even projects whose validation did not pass, or complete again.
        #[arg(short = 'f', long = "forceful", alias = "force")]
        force: bool,
        /// After a project is published, delete its working directory (in_progress/<G>/<proj>),
        /// as padocc's --delete does. Its status stays in the group's journal.
        #[arg(long = "delete")]
        delete: bool,
        /// Show which projects would be published, and publish nothing.
        #[arg(short = 'd', long = "dryrun")]
        dryrun: bool,
    },
    /// What is wrong with a group's files (configs that do not parse, codes without a
    /// directory or listed twice, leftovers of killed writes), each with what to do.
    /// Reads only. Exit 1 when it finds an error.
    Doctor {
        #[arg(short = 'G', long = "groupID")]
        group: String,
        #[command(flatten)]
        fmt: Fmt,
    },
    /// Where every project of a group is, and what failed.
    Status {
        #[command(flatten)]
        sel: Sel,
        /// Refresh every N seconds (default 30) until interrupted.
        #[arg(long, num_args = 0..=1, default_missing_value = "30")]
        watch: Option<u64>,
        /// Do not ask the scheduler about pending and running tasks.
        #[arg(long = "no-scheduler")]
        no_scheduler: bool,
        #[command(flatten)]
        fmt: Fmt,
        /// Print project IDs for statuses with fewer projects than this.
        #[arg(short = 'D', long = "display_upto", default_value_t = 10)]
        display_upto: usize,
        /// Do not truncate long statuses.
        #[arg(short = 'L', long = "long_display")]
        long: bool,
        /// Split validate statuses into success and error.
        #[arg(short = 'S', long = "separate_errors")]
        separate: bool,
    },
    /// Submit several phases as chained job arrays: each starts when the
    /// previous one has ended (e.g. --phases scan,compute,validate).
    Run {
        #[command(flatten)]
        sel: Sel,
        #[command(flatten)]
        fmt: Fmt,
        #[arg(long, value_enum, value_delimiter = ',', required = true)]
        phases: Vec<Phase>,
        /// Redo phases that already succeeded.
        #[arg(short = 'f', long = "forceful")]
        force: bool,
        #[command(flatten)]
        sched: SchedArgs,
    },
    /// One share of a validation split between processes (started by validate
    /// and verify themselves; the file list comes NUL-separated on stdin, the
    /// report goes as JSON to stdout).
    #[command(hide = true)]
    ValidatePart {
        product: PathBuf,
        #[arg(long)]
        part: usize,
        #[arg(long)]
        parts: usize,
        #[arg(long, value_delimiter = ',')]
        concat_dim: Vec<String>,
        #[arg(long, value_enum, default_value_t = Dedupe::Error)]
        dedupe: Dedupe,
        #[arg(long, default_value_t = 0)]
        sample: usize,
        #[arg(long, value_delimiter = ',')]
        keep_vars: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        drop_vars: Vec<String>,
        /// The attribute edits, as JSON (AttrEdits::to_config).
        #[arg(long)]
        update: Option<String>,
        #[arg(long)]
        remove: Option<String>,
    },
    /// Run one array index of a submission (called by job scripts on compute nodes).
    Worker {
        /// The submission's manifest.json.
        #[arg(long)]
        manifest: PathBuf,
        /// Array index (default: $SLURM_ARRAY_TASK_ID, $LSB_JOBINDEX or $PBS_ARRAY_INDEX).
        #[arg(long)]
        index: Option<u32>,
    },
    /// Resubmit the projects of a phase that failed, with more memory after
    /// OUT_OF_MEMORY and more time after TIMEOUT.
    ///
    /// NODE_FAIL and PREEMPTED are rerun as they were; errors in the data are
    /// not rerun unless --include-errors. After max_attempts a project goes to
    /// the faultlist with its history. Exit code 0: nothing left to rerun; 75:
    /// reruns were submitted (check again later).
    #[command(name = "rerun-failed", verbatim_doc_comment)]
    RerunFailed {
        #[command(flatten)]
        sel: Sel,
        #[command(flatten)]
        fmt: Fmt,
        /// Only this phase.
        #[arg(long, value_enum)]
        phase: Option<Phase>,
        /// Also rerun projects whose phase failed with an error.
        #[arg(long = "include-errors")]
        include_errors: bool,
        #[command(flatten)]
        sched: SchedArgs,
    },
    /// Totals over a group: files, data, product sizes, formats, chunks.
    Summarise {
        #[command(flatten)]
        sel: Sel,
        #[command(flatten)]
        fmt: Fmt,
    },
    /// Write a subset of a group (a repeat id) selected by phase and status, or by codes.
    Repeat {
        #[command(flatten)]
        sel: Sel,
        #[command(flatten)]
        fmt: Fmt,
        #[arg(long = "new_repeat")]
        new_repeat: String,
        /// Phase(s) to match: p1&p2 for several.
        #[arg(long = "phase")]
        phase: Option<String>,
        /// Status to match: exact, its prefix before '-', 'Any', or '!x'.
        #[arg(long = "status")]
        status: Option<String>,
    },
    /// Combine subsets (repeat ids) into one: their codes in order, each once.
    #[command(name = "merge_subsets")]
    MergeSubsets {
        #[arg(short = 'G', long = "groupID")]
        group: String,
        /// The subsets to combine (comma-separated).
        #[arg(long = "subsets", value_delimiter = ',', required = true)]
        subsets: Vec<String>,
        /// The subset to write (appended to when it exists).
        #[arg(long = "new_repeat")]
        new_repeat: String,
        /// Remove the combined subsets afterwards (never main).
        #[arg(long = "remove_after")]
        remove_after: bool,
    },
    /// Remove a subset (repeat id); its projects stay in the group.
    #[command(name = "remove_subset")]
    RemoveSubset {
        #[arg(short = 'G', long = "groupID")]
        group: String,
        #[arg(short = 'r', long = "repeat_id")]
        repeat_id: String,
    },
    /// Delete the projects of a subset whose current phase and status match
    /// (padocc's selector: exact, prefix before '-', 'Any', '!x'). Asks first unless --yes.
    #[command(name = "remove_by_status")]
    RemoveByStatus {
        #[command(flatten)]
        sel: Sel,
        #[arg(long = "phase")]
        phase: String,
        #[arg(long = "status")]
        status: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// Append a status row to every project matching an old phase and status.
    #[command(name = "update_status")]
    UpdateStatus {
        #[command(flatten)]
        sel: Sel,
        #[arg(long = "old_phase")]
        old_phase: String,
        #[arg(long = "old_status")]
        old_status: String,
        #[arg(long = "new_status")]
        new_status: String,
        #[arg(long = "new_phase")]
        new_phase: Option<String>,
    },
    /// Move projects (their directories, codes and datasets.csv lines) to another group.
    Transfer {
        #[command(flatten)]
        sel: Sel,
        #[arg(long = "new_group")]
        new_group: String,
    },
    /// Delete projects (-p) or, without -p, the whole group. Asks first unless --yes.
    Delete {
        #[command(flatten)]
        sel: Sel,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// Count products by how they were made (padocc's aggregators; here one engine).
    Aggregations {
        #[command(flatten)]
        sel: Sel,
    },
    /// Print a project's phase log.
    Logs {
        #[command(flatten)]
        sel: Sel,
        #[arg(long = "log_phase", required_unless_present = "clear")]
        log_phase: Option<String>,
        /// Instead: delete the group's subsets other than main and padocc's job files
        /// (groups/<G>/{sbatch,outs,errs}/*), as padocc's --clear (which takes a value) does.
        #[arg(long = "clear", num_args = 0..=1, default_missing_value = "")]
        clear: Option<String>,
    },
    /// padocc's pfunc (NotImplementedError in padocc 1.5.1 too).
    #[command(hide = true)]
    Pfunc {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        _args: Vec<String>,
    },
    /// Print a project's validation reports.
    Report {
        #[command(flatten)]
        sel: Sel,
    },
    /// Print a base-cfg/detail-cfg value (dotted paths allowed).
    #[command(name = "check_attr")]
    CheckAttr {
        #[command(flatten)]
        sel: Sel,
        #[arg(long = "attr")]
        attr: String,
    },
    /// Unattended operation from cron (padocc's SHEPARD) over a directory of groups (flocks).
    ///
    /// Modes:
    ///   batch        one pass: new manifests become flocks, the next phase of every ready project is
    ///                submitted (--parallel) or run here, what the scheduler ended is rerun with more
    ///                memory or time, data errors are retried once in shp_sideline, what keeps failing
    ///                goes to shp_quarantine, and flocks whose projects are all published are retired
    ///   continuous   a pass every --interval seconds, --cycles times
    ///   status       one line per flock (errors, pending, successes per phase), failures by reason,
    ///                the quarantine and why
    ///   quarantine   move every project whose status is a failure to shp_quarantine
    ///   scrub        send every failed project back to its first status (init), to start again
    ///   clear        remove every flock's subsets and job files
    ///   delete       remove every flock's job files (sbatch/, outs/, errs/)
    ///
    /// One pass runs per flock_dir at a time: a second exits 0 saying who holds the lock.
    /// A crontab line (hourly):
    ///   0 * * * * padocc shepard batch --conf /gws/flocks/conf.yaml --parallel --autolog
    /// The conf is padocc 1.5.1's YAML (flock_dir, complete_dir, batch_limit, ...; docs/shepard.md).
    /// Exit: 0 ok (also when another pass holds the lock), 1 some actions failed, 2 bad conf.
    #[command(verbatim_doc_comment)]
    Shepard {
        #[arg(value_enum)]
        mode: ShepardMode,
        /// The SHEPARD conf (YAML; padocc 1.5.1's keys).
        #[arg(long = "conf")]
        conf: PathBuf,
        /// Submit job arrays through the scheduler of <flock_dir>/padocc.toml (else run here).
        #[arg(long)]
        parallel: bool,
        /// Also append each pass's report to <flock_dir>/shp_logs/shp_<HHMM_ddmmYYYY>.
        #[arg(long)]
        autolog: bool,
        /// Say what would be done; change nothing.
        #[arg(short = 'd', long = "dry-run", visible_alias = "dryrun")]
        dry_run: bool,
        /// continuous: passes to run.
        #[arg(long, default_value_t = 1000)]
        cycles: u64,
        /// continuous: seconds between the start of one pass and the next.
        #[arg(long, default_value_t = 10)]
        interval: u64,
        /// --parallel: slurm, lsf or pbs (default: the site config's).
        #[arg(long)]
        scheduler: Option<String>,
        /// --parallel: the site config (default: <flock_dir>/padocc.toml, then the user's).
        #[arg(long = "config")]
        config: Option<PathBuf>,
        #[command(flatten)]
        fmt: Fmt,
    },
    /// Set an attribute in the selected projects' products, where they lie, and record it.
    ///
    /// Edits the kerchunk JSON/Parquet or local Zarr store and the CFA file (.nca) in place
    /// (each file replaced whole, so a kill leaves the old or the new one), and records the
    /// edit in base-cfg.json's `update`, as the CSV's updates column does: compute keeps it
    /// and validate expects it. Products in an object store or Icechunk take it at the next
    /// `compute -f`.
    ///   padocc update_attribute -G mygroup --attr title --value "Monthly rainfall"
    ///   padocc update_attribute -G mygroup -p rain1 --attr rain.units --value "mm day-1"
    ///   padocc update_attribute -G mygroup --attr version --value 3
    /// --attr VAR.NAME is attribute NAME of variable VAR; a plain NAME is global.
    /// --value: a number or a JSON list of numbers or strings is written as such; anything
    /// else is text.
    #[command(name = "update_attribute", verbatim_doc_comment)]
    UpdateAttribute {
        #[command(flatten)]
        sel: Sel,
        #[arg(long = "attr")]
        attr: String,
        #[arg(long = "value")]
        value: String,
        #[command(flatten)]
        fmt: Fmt,
    },
    /// Remove an attribute from the selected projects' products, and record the removal.
    ///
    /// As update_attribute, recorded in base-cfg.json's `remove` (the CSV's removals):
    ///   padocc remove_attribute -G mygroup --attr history
    ///   padocc remove_attribute -G mygroup -p rain1 --attr time.axis
    #[command(name = "remove_attribute", verbatim_doc_comment)]
    RemoveAttribute {
        #[command(flatten)]
        sel: Sel,
        #[arg(long = "attr")]
        attr: String,
        #[command(flatten)]
        fmt: Fmt,
    },
    /// Set a base-cfg/detail-cfg value (dotted paths allowed; True/False/None/numbers are converted).
    #[command(name = "set_attr")]
    SetAttr {
        #[command(flatten)]
        sel: Sel,
        #[arg(long = "attr")]
        attr: String,
        #[arg(long = "value")]
        value: String,
    },
}
