//! The command line: padocc 1.5.1's commands and flags (plus `refs`), parsed
//! with clap and dispatched to the library. Output goes through one layer with
//! human and JSON modes (`--format`).

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{json, Value};

use crate::combine::{Dedupe, Options as CombineOptions};
use crate::error::{exit, Error, Result};
use crate::group::GroupDir;
use crate::pipeline::{self, init, local, Options, Phase};
use crate::project::{local_time, StatusRow};
use crate::refs::{self, Request};
use crate::workdir::{check_name, Workdir};
use crate::writer::{parquet::DEFAULT_RECORD_SIZE, Kind};
use crate::zarr;

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
    workdir: Option<PathBuf>,
    /// More detail on stderr (-v, -vv).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Nothing on stderr but errors.
    #[arg(short = 'q', long = "quiet", global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
enum OutFormat {
    #[default]
    Human,
    Json,
}

#[derive(Args, Clone, Copy, Default)]
struct Fmt {
    /// Output for people (human) or one JSON document on stdout for scripts (json).
    #[arg(long = "format", value_enum, default_value_t = OutFormat::Human)]
    format: OutFormat,
}

#[derive(Args, Clone, Default)]
struct Sel {
    /// Group name.
    #[arg(short = 'G', long = "groupID")]
    group: String,
    /// Subset of the group (a file in groups/<G>/proj_codes/).
    #[arg(short = 'r', long = "repeat_id", default_value = "main")]
    repeat_id: String,
    /// Project(s): a code, an index, or a comma list of either.
    #[arg(short = 'p', long = "proj_code")]
    proj: Option<String>,
    /// With --parallel: at most N projects in one task (padocc's -s).
    #[arg(short = 's', long = "subset")]
    subset: Option<usize>,
    /// Redo what is done (padocc's -T; the same as -f here).
    #[arg(short = 'T', long = "thorough")]
    thorough: bool,
}

/// padocc 1.5.1's flags that padocc-rs needs no value of, accepted so that
/// existing scripts keep working (docs/pipeline.md says what each did).
#[derive(Args, Clone, Default)]
struct LegacyFlags {
    /// A virtual environment for job scripts (padocc-rs is one binary).
    #[arg(short = 'e', long = "environ", hide = true)]
    _environ: Option<String>,
    /// Bin-packing (always on here).
    #[arg(short = 'A', long = "alloc-bins", hide = true)]
    _alloc_bins: bool,
    /// Raise the band of a rerun (rerun-failed does this from sacct).
    #[arg(long = "allow-band-increase", hide = true)]
    _band_increase: bool,
    #[arg(long = "xarray_kwargs", hide = true)]
    _xarray_kwargs: Option<String>,
    /// Per-project parallel compute (compute is parallel within a project here).
    #[arg(long = "parallel_project", hide = true, num_args = 0..=1, default_missing_value = "")]
    _parallel_project: Option<String>,
    #[arg(long = "diagnostic", hide = true)]
    _diagnostic: bool,
    #[arg(long = "wait_sbatch", hide = true)]
    _wait_sbatch: bool,
    /// Variables identical across files (here everything without the concat
    /// dimension comes from the first file, as compat="override").
    #[arg(long = "identical_dims", hide = true)]
    _identical_dims: Option<String>,
    #[arg(long = "b64vars", hide = true)]
    _b64vars: Option<String>,
}

/// padocc's "phased" flags on init and new, which have no phase to run here.
#[derive(Args, Clone, Default)]
struct InitLegacy {
    /// Check and show, write nothing.
    #[arg(short = 'd', long = "dryrun", hide = true)]
    dryrun: bool,
    #[arg(short = 'b', long = "bypass-errs", hide = true)]
    _bypass: Option<String>,
    #[arg(short = 'C', long = "cloud-format", hide = true)]
    _cloud_format: Option<String>,
    #[arg(long = "CFA", hide = true)]
    _cfa: Option<String>,
    #[arg(short = 't', long = "time-allowed", hide = true)]
    _time: Option<String>,
    #[arg(short = 'M', long = "memory", hide = true)]
    _memory: Option<String>,
    #[arg(short = 'n', long = "new_version", hide = true)]
    _new_version: bool,
    #[arg(long = "parallel", hide = true)]
    _parallel: bool,
    #[arg(short = 's', long = "subset", hide = true)]
    _subset: Option<usize>,
    #[arg(short = 'T', long = "thorough", hide = true)]
    _thorough: bool,
    #[arg(short = 'r', long = "repeat_id", hide = true)]
    _repeat_id: Option<String>,
    #[arg(short = 'p', long = "proj_code", hide = true)]
    _proj: Option<String>,
    #[command(flatten)]
    _legacy: LegacyFlags,
}

/// The source files of one aggregation and how they combine.
#[derive(Args, Clone)]
struct SeriesArgs {
    /// Source files, in concatenation order.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Dimension(s) to concatenate along; several (comma-separated) tile files by coordinate values.
    /// Default: the first file's unlimited dimension, else `time`.
    #[arg(long, value_delimiter = ',')]
    concat_dim: Vec<String>,
    /// What to do when values along the concat dimension repeat or decrease.
    #[arg(long, value_enum, default_value_t = Dedupe::Error)]
    dedupe: Dedupe,
}

impl SeriesArgs {
    fn combine(&self, layout_only: bool) -> CombineOptions {
        CombineOptions { concat_dims: self.concat_dim.clone(), dedupe: self.dedupe, layout_only }
    }
}

#[derive(Args, Clone, Default)]
struct PhaseArgs {
    #[command(flatten)]
    sel: Sel,
    #[command(flatten)]
    fmt: Fmt,
    /// Redo the phase even where its result exists.
    #[arg(short = 'f', long = "forceful")]
    force: bool,
    /// compute: make a new minor version (k1.1a) beside the existing product.
    #[arg(short = 'n', long = "new_version")]
    new_version: bool,
    /// Cloud format, recorded in each project: kerchunk (references), zarr (a Zarr v3 store) or CFA (only the aggregation file).
    #[arg(short = 'C', long = "cloud-format", value_parser = ["kerchunk", "zarr", "CFA", "cfa"])]
    cloud_format: Option<String>,
    /// compute: make the CF aggregation file (<proj>.nca) beside the product (y, the default) or not (n); recorded in each project.
    #[arg(long = "CFA", value_parser = ["y", "n"])]
    cfa: Option<String>,
    /// compute -C zarr: memory for chunk buffers (e.g. 500MB, 2GB).
    #[arg(long = "mem-allowed", alias = "mem_allowed", value_parser = zarr::parse_bytes)]
    mem_allowed: Option<u64>,
    /// Dimension(s) to concatenate along, overriding what scan found.
    #[arg(long = "concat_dims", alias = "concat-dims", value_delimiter = ',')]
    concat_dims: Vec<String>,
    /// What to do with repeated or decreasing values along the concat dimension.
    #[arg(long, value_enum)]
    dedupe: Option<Dedupe>,
    /// validate: compare only N blocks (of up to 64 MiB) per variable, spread over all its
    /// files (first, last and evenly between), instead of every value.
    #[arg(long, default_value_t = 0)]
    sample: usize,
    /// Projects run at once (default: all cores).
    #[arg(short = 'j', long = "jobs")]
    jobs: Option<usize>,
    /// validate: padocc's bypass file (JSON shaped like the reports): the differences it
    /// lists do not count towards the status (the reports still show them).
    #[arg(short = 'i', long = "input_file")]
    bypass_file: Option<PathBuf>,
    /// Show what would run and change nothing (with --parallel: the array plan and
    /// scripts, as --dry-run).
    #[arg(short = 'd', long = "dryrun")]
    dryrun: bool,
    /// With --parallel: the time each task asks for at least (padocc's -t: MM:SS or H:MM:SS).
    #[arg(short = 't', long = "time-allowed", value_parser = parse_time_allowed)]
    time_allowed: Option<u64>,
    /// With --parallel: the memory each task asks for at least (padocc's -M, as SLURM reads
    /// it: 2G is 2048 MB, a plain number is MB).
    #[arg(short = 'M', long = "memory", value_parser = parse_memory_mb)]
    memory: Option<u64>,
    /// padocc's bypass letters; accepted for compatibility (errors never stop a group run here).
    #[arg(short = 'b', long = "bypass-errs", default_value = "D")]
    _bypass: String,
    /// Accepted for compatibility; padocc-rs has one aggregator.
    #[arg(long = "aggregator")]
    _aggregator: Option<String>,
    /// Run as job arrays on the scheduler instead of here.
    #[arg(long = "parallel")]
    parallel: bool,
    #[command(flatten)]
    sched: SchedArgs,
    #[command(flatten)]
    _legacy: LegacyFlags,
}

/// padocc's `-M` in MB: SLURM's units (binary), a plain number being MB.
fn parse_memory_mb(s: &str) -> std::result::Result<u64, String> {
    let bad = || format!("'{s}' is not a memory size: use e.g. 2G or 4000M (padocc's -M)");
    let kib = match s.trim().parse::<f64>() {
        Ok(mb) => Some((mb * 1024.0) as u64),
        Err(_) => crate::scheduler::parse_kib(s),
    };
    kib.filter(|k| *k > 0).map(|k| k.div_ceil(1024)).ok_or_else(bad)
}

/// padocc's `-t`: SLURM's `MM:SS`, `H:MM:SS` or `D-H:MM:SS`, or plain minutes.
fn parse_time_allowed(s: &str) -> std::result::Result<u64, String> {
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
struct SchedArgs {
    /// Scheduler for --parallel (default: padocc.toml's, else slurm).
    #[arg(long, value_parser = ["slurm", "lsf", "pbs", "local"])]
    scheduler: Option<String>,
    /// Print the array plan and the scripts; submit nothing.
    #[arg(long = "dry-run")]
    dry_run: bool,
    /// Site config (default: $WORKDIR/padocc.toml, then ~/.config/padocc/padocc.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// padocc's -t, -M and -s, over the config's resources.
    #[arg(skip)]
    bounds: TaskBounds,
}

/// padocc's `-t` and `-M` (what each task asks for at least) and `-s` (how
/// many projects it holds at most), over the site config's resources.
#[derive(Clone, Default)]
struct TaskBounds {
    time_s: Option<u64>,
    mem_mb: Option<u64>,
    per_task: Option<usize>,
}

impl TaskBounds {
    fn apply(&self, r: &mut crate::scheduler::coordinator::Resources) {
        if let Some(t) = self.time_s {
            r.floor_time_s = r.floor_time_s.max(t);
            r.cap_time_s = r.cap_time_s.max(t);
        }
        if let Some(m) = self.mem_mb {
            r.floor_mem_mb = r.floor_mem_mb.max(m);
            r.cap_mem_mb = r.cap_mem_mb.max(m);
        }
        if let Some(n) = self.per_task {
            r.max_per_task = n.max(1);
        }
    }
}

#[derive(Subcommand)]
enum Command {
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
    #[command(verbatim_doc_comment)]
    Refs {
        #[command(flatten)]
        series: SeriesArgs,
        /// Output: *.json gives kerchunk JSON, *.parquet or *.parq a Parquet reference directory.
        #[arg(short, long)]
        output: PathBuf,
        /// Product kind, overriding the extension.
        #[arg(long = "format", value_enum)]
        kind: Option<Kind>,
        /// Print the summary as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Parquet: references per record file.
        #[arg(long, default_value_t = DEFAULT_RECORD_SIZE)]
        record_size: u64,
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
    #[command(verbatim_doc_comment)]
    Zarr {
        #[command(flatten)]
        series: SeriesArgs,
        /// The store to write (a directory, conventionally *.zarr).
        #[arg(short, long)]
        output: PathBuf,
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

struct Out {
    format: OutFormat,
    quiet: bool,
}

impl Out {
    fn info(&self, msg: &str) {
        if !self.quiet && self.format == OutFormat::Human {
            eprintln!("{msg}");
        }
    }
    fn json(&self, v: &Value) {
        println!("{}", serde_json::to_string_pretty(v).expect("JSON"));
    }
}

/// Parse, run, and return the process exit code.
pub fn main() -> i32 {
    // padocc only reads HDF5 files. HDF5's flock-based file locking fails on
    // Lustre/NFS mounts without flock ("unable to lock file"), and a lock taken
    // by one process is inherited by children it spawns; readers do not need it.
    if std::env::var_os("HDF5_USE_FILE_LOCKING").is_none() {
        std::env::set_var("HDF5_USE_FILE_LOCKING", "FALSE");
    }
    let cli = Cli::parse();
    let format = match &cli.command {
        Command::Scan(a) | Command::Compute(a) | Command::Validate(a) => a.fmt.format,
        Command::Init { fmt, .. }
        | Command::Add { fmt, .. }
        | Command::List { fmt }
        | Command::Complete { fmt, .. }
        | Command::Status { fmt, .. }
        | Command::Doctor { fmt, .. }
        | Command::Summarise { fmt, .. }
        | Command::Repeat { fmt, .. }
        | Command::RerunFailed { fmt, .. }
        | Command::Run { fmt, .. } => fmt.format,
        Command::Refs { json: true, .. } | Command::Zarr { json: true, .. } | Command::Cfa { json: true, .. } | Command::Verify { json: true, .. } => {
            OutFormat::Json
        }
        _ => OutFormat::Human,
    };
    let out = Out { format, quiet: cli.quiet };
    // First Ctrl-C: stop starting projects and let those in flight stop at the
    // next safe point (every write is atomic). Second: leave at once.
    let _ = ctrlc::set_handler(|| {
        if pipeline::INTERRUPTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(exit::INTERRUPTED);
        }
        eprintln!("\npadocc: interrupted: finishing the projects in flight (Ctrl-C again to leave now)");
    });
    match run(cli, &out) {
        Ok(code) => code,
        Err(e) => {
            if out.format == OutFormat::Json {
                out.json(&json!({"error": e.to_string(), "exit_code": e.exit_code()}));
            }
            eprintln!("padocc: error: {e}");
            e.exit_code()
        }
    }
}

fn group_of(cli_wd: &Option<PathBuf>, name: &str) -> Result<GroupDir> {
    GroupDir::open(&Workdir::resolve(cli_wd.as_deref())?, name)
}

fn run(cli: Cli, out: &Out) -> Result<i32> {
    let wd = cli.workdir.clone();
    match cli.command {
        Command::Refs { series, output, kind, record_size, .. } => {
            let req = Request { combine: series.combine(false), files: series.files, out: output, kind, record_size, quiet: cli.quiet };
            let s = refs::run(&req)?;
            match out.format {
                OutFormat::Json => out.json(&serde_json::to_value(&s).expect("JSON")),
                OutFormat::Human => out.info(&format!(
                    "padocc refs: {} files, {} variables, {} references, {:.3} s -> {} ({})",
                    s.files,
                    s.variables,
                    s.references,
                    s.seconds,
                    s.output.display(),
                    s.kind
                )),
            }
            Ok(exit::OK)
        }
        Command::Zarr { series, output, zarr_format, chunks, chunk_size, compression, level, shards, mem_limit, .. } => {
            let req = zarr::Request {
                combine: series.combine(true),
                files: series.files,
                out: output,
                zarr_format,
                chunks,
                chunk_target: chunk_size,
                compression,
                level: level.unwrap_or(compression.default_level()),
                shards,
                mem_limit,
                quiet: cli.quiet,
            };
            let s = zarr::run(&req)?;
            match out.format {
                OutFormat::Json => out.json(&serde_json::to_value(&s).expect("JSON")),
                OutFormat::Human => out.info(&format!(
                    "padocc zarr: {} files, {} variables, {} chunks written{}, {:.1} MB read, {:.3} s -> {} (Zarr v{})",
                    s.files,
                    s.variables,
                    s.chunks_written,
                    if s.chunks_resumed > 0 { format!(" ({} already there from an interrupted run)", s.chunks_resumed) } else { String::new() },
                    s.bytes_read as f64 / 1e6,
                    s.seconds,
                    s.output.display(),
                    s.zarr_format
                )),
            }
            Ok(exit::OK)
        }
        Command::Cfa { series, output, .. } => {
            let req = crate::cfa::Request {
                combine: series.combine(true),
                files: series.files,
                out: output,
                quiet: cli.quiet,
            };
            let s = crate::cfa::run(&req)?;
            match out.format {
                OutFormat::Json => out.json(&serde_json::to_value(&s).expect("JSON")),
                OutFormat::Human => {
                    for n in &s.notes {
                        out.info(&format!("padocc cfa: note: {n}"));
                    }
                    out.info(&format!(
                        "padocc cfa: {} files, {} variables aggregated ({} fragments), {} copied, {:.3} s -> {}",
                        s.files,
                        s.aggregated,
                        s.fragments,
                        s.copied,
                        s.seconds,
                        s.output.display()
                    ))
                }
            }
            Ok(exit::OK)
        }
        Command::Verify { product, series, sample, jobs, .. } => {
            let files: Vec<PathBuf> = series.files.iter().map(|f| std::path::absolute(f).unwrap_or_else(|_| f.clone())).collect();
            let processes = jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1);
            let rep = crate::validate::validate(&product, &files, &crate::validate::Options { concat_dims: series.concat_dim, sample, dedupe: series.dedupe, processes, part: None })?;
            let status = rep.status();
            match out.format {
                OutFormat::Json => out.json(&json!({"status": status, "values_compared": rep.values_compared, "values_by_identity": rep.values_by_identity, "data": rep.data, "metadata": rep.metadata})),
                OutFormat::Human => {
                    if !cli.quiet {
                        println!("{}: {status}", product.display());
                        match rep.first_problem() {
                            Some(m) => println!("  {m}"),
                            None => println!("  {}", rep.summary()),
                        }
                    }
                }
            }
            Ok(if status == "Success" { exit::OK } else { exit::SOME_FAILED })
        }
        Command::New { group, _legacy: InitLegacy { dryrun: true, .. }, .. } => {
            check_name("group", &group)?;
            out.info(&format!("dry run: would create group '{group}' in {}", Workdir::resolve(wd.as_deref())?.root.display()));
            Ok(exit::OK)
        }
        Command::Init { group, input, _legacy: InitLegacy { dryrun: true, .. }, .. } | Command::Add { group, input, _legacy: InitLegacy { dryrun: true, .. }, .. } => {
            check_name("group", &group)?;
            let rows = init::rows_from_input(&input)?;
            out.info(&format!("dry run: {} project(s) read from {}; nothing written", rows.len(), input.display()));
            Ok(exit::OK)
        }
        Command::New { group, .. } => {
            let g = GroupDir::create(&Workdir::resolve(wd.as_deref())?, &group)?;
            out.info(&format!("created group '{group}' in {}", g.wd.root.display()));
            Ok(exit::OK)
        }
        Command::Init { group, input, .. } => init_cmd(&wd, &group, &input, true, out),
        Command::Add { group, input, force, .. } => init_cmd(&wd, &group, &input, force, out),
        Command::List { .. } => {
            let w = Workdir::resolve(wd.as_deref())?;
            let groups = w.groups();
            let mut rows = Vec::new();
            for g in &groups {
                let n = GroupDir::open(&w, g).and_then(|gd| gd.codes("main")).map(|c| c.len()).unwrap_or(0);
                rows.push((g.clone(), n));
            }
            match out.format {
                OutFormat::Json => out.json(&json!({"workdir": w.root, "groups": rows.iter().map(|(g, n)| json!({"group": g, "projects": n})).collect::<Vec<_>>()})),
                OutFormat::Human => {
                    println!("Groups in {}", w.root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
                    for (g, n) in rows {
                        println!(" > {g}: {}", if n == 0 { "(empty)".to_string() } else { n.to_string() });
                    }
                }
            }
            Ok(exit::OK)
        }
        Command::Scan(a) => phase_cmd(&wd, Phase::Scan, a, None, out, cli.quiet),
        Command::Compute(a) => phase_cmd(&wd, Phase::Compute, a, None, out, cli.quiet),
        Command::Validate(a) => phase_cmd(&wd, Phase::Validate, a, None, out, cli.quiet),
        Command::Complete { sel, completion_dir, sub, replace, version_separator, force, fmt, delete, dryrun } => {
            let opts = Options { completion_dir: Some(completion_dir), sub, replace, version_separator, force, delete, ..Options::default() };
            let a = PhaseArgs { sel, fmt, force, dryrun, ..PhaseArgs::default() };
            phase_cmd(&wd, Phase::Complete, a, Some(opts), out, cli.quiet)
        }
        Command::Status { sel, display_upto, long, separate, watch, no_scheduler, .. } => {
            let g = group_of(&wd, &sel.group)?;
            loop {
                let s = crate::status::collect(&g, &sel.repeat_id, !no_scheduler)?;
                match out.format {
                    OutFormat::Json => out.json(&serde_json::to_value(&s).expect("JSON")),
                    OutFormat::Human => {
                        if watch.is_some() && std::io::stdout().is_terminal() {
                            print!("\x1b[2J\x1b[H");
                        }
                        print!("{}", crate::status::render(&s, display_upto, long, separate));
                    }
                }
                // Polite polling: a scheduler query is not free on a busy login node.
                let Some(every) = watch else { break };
                for _ in 0..every.max(5) {
                    if pipeline::INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed) {
                        return Ok(exit::OK);
                    }
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
            }
            Ok(exit::OK)
        }
        Command::Run { sel, phases, force, sched, .. } => {
            let g = group_of(&wd, &sel.group)?;
            let codes: Vec<String> = g.select(&sel.repeat_id, sel.proj.as_deref())?.into_iter().map(|x| x.1).collect();
            let mut cfg = crate::scheduler::config::load(sched.config.as_deref(), &g.wd.root)?;
            TaskBounds { per_task: sel.subset, ..TaskBounds::default() }.apply(&mut cfg.resources);
            let force = force || sel.thorough;
            let name = sched.scheduler.clone().unwrap_or(cfg.scheduler.clone());
            let backend = crate::scheduler::backend(&name)?;
            let mut after: Vec<String> = Vec::new();
            let mut all = Vec::new();
            for phase in phases {
                let opts = Options { force, ..Options::default() };
                let subs = crate::scheduler::coordinator::submit(&g, &codes, phase, &opts, backend.as_ref(), &cfg.site, &cfg.resources, &Default::default(), 1, &after, sched.dry_run)?;
                after = subs.iter().filter_map(|s| s.job_id.clone()).collect();
                for s in &subs {
                    out.info(&format!("{} {}: {} task(s) -> {}", g.name, phase.name(), s.tasks, s.job_id.as_deref().unwrap_or("(dry run)")));
                }
                all.push(json!({"phase": phase, "submissions": subs}));
            }
            if out.format == OutFormat::Json {
                out.json(&json!({"group": g.name, "scheduler": name, "chain": all}));
            }
            Ok(exit::OK)
        }
        Command::Worker { manifest, index } => crate::scheduler::worker::run(&manifest, index),
        Command::ValidatePart { product, part, parts, concat_dim, dedupe, sample } => {
            let mut list = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut list).map_err(|e| Error::Usage(format!("validate-part: cannot read the file list on stdin: {e}")))?;
            let files: Vec<PathBuf> = list
                .split(|b| *b == 0)
                .filter(|p| !p.is_empty())
                .map(|p| PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(p)))
                .collect();
            let opts = crate::validate::Options { concat_dims: concat_dim, sample, dedupe, processes: 1, part: Some((part, parts.max(1))) };
            // The parent reads the report, or the error, from stdout; the exit
            // code tells it early that this share failed.
            let (text, code) = match crate::validate::validate(&product, &files, &opts) {
                Ok(rep) => (serde_json::to_string(&rep).expect("JSON"), exit::OK),
                Err(e) => (json!({"error": e.to_json()}).to_string(), e.exit_code()),
            };
            println!("{text}");
            Ok(code)
        }
        Command::RerunFailed { sel, phase, include_errors, sched, .. } => rerun_failed(&wd, &sel, phase, include_errors, &sched, out),
        Command::Summarise { sel, .. } => summarise(&wd, &sel, out),
        Command::Repeat { sel, new_repeat, phase, status, .. } => {
            let g = group_of(&wd, &sel.group)?;
            check_name("repeat id", &new_repeat)?;
            let codes: Vec<String> = match (&phase, &status, &sel.proj) {
                (_, _, Some(_)) => g.select(&sel.repeat_id, sel.proj.as_deref())?.into_iter().map(|x| x.1).collect(),
                (Some(ph), Some(st), None) => matching(&g, &sel.repeat_id, ph, st)?,
                _ => return Err(Error::Usage("repeat needs --phase and --status, or -p codes".into())),
            };
            g.save_codes(&new_repeat, &codes)?;
            out.info(&format!("wrote {} project(s) to repeat id '{new_repeat}'", codes.len()));
            if out.format == OutFormat::Json {
                out.json(&json!({"repeat_id": new_repeat, "projects": codes}));
            }
            Ok(exit::OK)
        }
        Command::UpdateStatus { sel, old_phase, old_status, new_status, new_phase } => {
            let g = group_of(&wd, &sel.group)?;
            let codes = matching(&g, &sel.repeat_id, &old_phase, &old_status)?;
            let phase = new_phase.unwrap_or(old_phase);
            for c in &codes {
                g.record(c, &StatusRow { phase: phase.clone(), status: new_status.clone(), time: local_time(false), jobid: String::new() })?;
            }
            out.info(&format!("updated {} project(s)", codes.len()));
            Ok(exit::OK)
        }
        Command::Transfer { sel, new_group } => {
            let g = group_of(&wd, &sel.group)?;
            let picked = g.select(&sel.repeat_id, sel.proj.as_deref())?;
            if sel.proj.is_none() && sel.repeat_id == "main" {
                return Err(Error::Usage("transfer needs -p (projects) or -r (a subset other than main)".into()));
            }
            let dest = GroupDir::create(&g.wd, &new_group)?;
            let moved = crate::group::transfer(&g, &dest, &picked.iter().map(|x| x.1.clone()).collect::<Vec<_>>())?;
            out.info(&format!("moved {} project(s) from '{}' to '{new_group}'", moved, g.name));
            Ok(exit::OK)
        }
        Command::Delete { sel, yes } => {
            let g = group_of(&wd, &sel.group)?;
            let what = match &sel.proj {
                Some(p) => format!("project(s) {p} of group '{}'", g.name),
                None => format!("the whole group '{}' ({} projects)", g.name, g.codes("main")?.len()),
            };
            if !yes && !confirm(&format!("Delete {what}? (y/N) "))? {
                out.info("nothing deleted");
                return Ok(exit::OK);
            }
            match &sel.proj {
                Some(_) => {
                    let picked: Vec<String> = g.select(&sel.repeat_id, sel.proj.as_deref())?.into_iter().map(|x| x.1).collect();
                    crate::group::remove_projects(&g, &picked, true)?;
                }
                None => crate::group::delete_group(&g)?,
            }
            out.info(&format!("deleted {what}"));
            Ok(exit::OK)
        }
        Command::Aggregations { sel } => {
            let g = group_of(&wd, &sel.group)?;
            let codes = g.codes(&sel.repeat_id)?;
            let cur = g.current_statuses(&codes)?;
            let done = codes.iter().filter(|c| cur.get(*c).is_some_and(|r| r.phase == "validate" || r.phase == "complete" || (r.phase == "compute" && r.status == "Success"))).count();
            println!("padocc-rs: {done}\nIncomplete: {}", codes.len() - done);
            Ok(exit::OK)
        }
        Command::Logs { sel, clear: Some(_), .. } => {
            let g = group_of(&wd, &sel.group)?;
            let cleared = g.clear_job_files()?;
            out.info(&format!("{}: removed {} subset(s) other than main and {} of padocc's job file(s)", g.name, cleared.0, cleared.1));
            Ok(exit::OK)
        }
        Command::Doctor { group, .. } => {
            let g = group_of(&wd, &group)?;
            let found = crate::doctor::examine(&g)?;
            let count = |s: crate::doctor::Severity| found.iter().filter(|f| f.severity == s).count();
            let errors = count(crate::doctor::Severity::Error);
            match out.format {
                OutFormat::Json => out.json(&json!({"group": g.name, "errors": errors, "findings": found})),
                OutFormat::Human => {
                    for f in &found {
                        let sev = serde_json::to_value(f.severity).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
                        println!("{sev}: {}: {}\n    what to do: {}", f.path.display(), f.problem, f.fix);
                    }
                    out.info(&match found.is_empty() {
                        true => format!("{}: no problems found", g.name),
                        false => format!(
                            "{}: {errors} error(s), {} warning(s), {} note(s)",
                            g.name,
                            count(crate::doctor::Severity::Warning),
                            count(crate::doctor::Severity::Info)
                        ),
                    });
                }
            }
            Ok(if errors > 0 { exit::SOME_FAILED } else { exit::OK })
        }
        Command::Pfunc { .. } => Err(Error::Usage("pfunc does nothing (padocc 1.5.1 raises NotImplementedError too)".into())),
        Command::Logs { sel, log_phase, .. } => {
            let g = group_of(&wd, &sel.group)?;
            let log_phase = log_phase.unwrap_or_default();
            check_name("phase", &log_phase)?;
            for (i, code) in g.select(&sel.repeat_id, sel.proj.as_deref())? {
                let p = g.project(&code);
                let log = std::fs::read_to_string(p.path(&format!("phase_logs/{log_phase}.log"))).unwrap_or_default();
                println!("{log}Project Code: {code} (ID {i})");
                println!("Status: {:?}", p.last_status()?.map(|r| r.line()));
                println!("Rerun with: padocc {log_phase} -G {} -p {code} -vv\n", g.name);
            }
            Ok(exit::OK)
        }
        Command::Report { sel } => {
            let g = group_of(&wd, &sel.group)?;
            let mut all = serde_json::Map::new();
            for (_, code) in g.select(&sel.repeat_id, sel.proj.as_deref())? {
                let p = g.project(&code);
                let read = |f: &str| std::fs::read_to_string(p.path(f)).ok().and_then(|t| serde_json::from_str::<Value>(&t).ok()).unwrap_or(Value::Null);
                all.insert(code.clone(), json!({"data": read("data_report.json"), "metadata": read("metadata_report.json")}));
            }
            out.json(&Value::Object(all));
            Ok(exit::OK)
        }
        Command::CheckAttr { sel, attr } => {
            let g = group_of(&wd, &sel.group)?;
            for (_, code) in g.select(&sel.repeat_id, sel.proj.as_deref())? {
                let p = g.project(&code);
                let v = lookup(&p.base()?, &attr).or_else(|| p.detail().ok().and_then(|d| lookup(&d, &attr)));
                println!("{code} - {attr}: {}", v.map(|v| v.to_string()).unwrap_or_else(|| "(not set)".into()));
            }
            Ok(exit::OK)
        }
        Command::SetAttr { sel, attr, value } => {
            let g = group_of(&wd, &sel.group)?;
            let v = match value.as_str() {
                "True" | "true" => json!(true),
                "False" | "false" => json!(false),
                "None" | "null" => Value::Null,
                s => s.parse::<i64>().map(|i| json!(i)).or_else(|_| s.parse::<f64>().map(|f| json!(f))).unwrap_or_else(|_| json!(s)),
            };
            for (_, code) in g.select(&sel.repeat_id, sel.proj.as_deref())? {
                let p = g.project(&code);
                let top = attr.split('.').next().unwrap_or("");
                let mut detail = p.detail()?;
                if detail.contains_key(top) && !crate::project::base_defaults(&code).contains_key(top) {
                    set_path(&mut detail, &attr, v.clone());
                    p.save_detail(&detail)?;
                } else {
                    let mut base = p.base()?;
                    set_path(&mut base, &attr, v.clone());
                    p.save_base(&base)?;
                }
                out.info(&format!("{code} - {attr} = {v}"));
            }
            Ok(exit::OK)
        }
    }
}

/// Ask on the terminal; without one, refuse (use --yes in scripts).
fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage("refusing to delete without a terminal to ask on: add --yes".into()));
    }
    eprint!("{question}");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| Error::Usage(e.to_string()))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

fn lookup(m: &serde_json::Map<String, Value>, path: &str) -> Option<Value> {
    let mut parts = path.split('.');
    let mut cur = m.get(parts.next()?)?;
    for p in parts {
        cur = cur.get(p)?;
    }
    Some(cur.clone())
}

fn set_path(m: &mut serde_json::Map<String, Value>, path: &str, v: Value) {
    let parts: Vec<&str> = path.split('.').collect();
    let mut cur = m;
    for p in &parts[..parts.len() - 1] {
        let e = cur.entry(p.to_string()).or_insert_with(|| json!({}));
        if !e.is_object() {
            *e = json!({});
        }
        cur = e.as_object_mut().expect("object");
    }
    cur.insert(parts[parts.len() - 1].to_string(), v);
}

/// padocc's selector: phase `p1&p2` (union), status `s1&s2` (intersection) of
/// `Any`, exact, prefix before the first '-', or `!x`.
fn matching(g: &GroupDir, repeat_id: &str, phase: &str, status: &str) -> Result<Vec<String>> {
    let codes = g.codes(repeat_id)?;
    let cur = g.current_statuses(&codes)?;
    let phases: Vec<&str> = phase.split('&').collect();
    let conds: Vec<&str> = status.split('&').collect();
    let one = |cond: &str, s: &str| -> bool {
        let (neg, c) = match cond.strip_prefix('!') {
            Some(c) => (true, c),
            None => (false, cond),
        };
        let m = c == "Any" || s == c || s.split('-').next() == Some(c);
        m != neg
    };
    Ok(codes
        .into_iter()
        .filter(|c| cur.get(c).is_some_and(|r| phases.contains(&r.phase.as_str()) && conds.iter().all(|k| one(k, &r.status))))
        .collect())
}

fn init_cmd(wd: &Option<PathBuf>, group: &str, input: &std::path::Path, update: bool, out: &Out) -> Result<i32> {
    let w = Workdir::resolve(wd.as_deref())?;
    if input.extension().is_some_and(|e| e == "txt") {
        return Err(Error::Usage("init takes a CSV (proj_code,pattern,...); a .txt file list belongs in a CSV's pattern column".into()));
    }
    let rows = init::rows_from_input(input)?;
    let g = GroupDir::create(&w, group)?;
    let s = init::apply(&g, &rows, update)?;
    match out.format {
        OutFormat::Json => out.json(&serde_json::to_value(&s).expect("JSON")),
        OutFormat::Human => out.info(&format!(
            "group '{group}': {} created, {} updated, {} unchanged ({} projects in all)",
            s.created.len(),
            s.updated.len(),
            s.unchanged.len(),
            g.codes("main")?.len()
        )),
    }
    Ok(exit::OK)
}

fn phase_cmd(wd: &Option<PathBuf>, phase: Phase, a: PhaseArgs, base: Option<Options>, out: &Out, quiet: bool) -> Result<i32> {
    let g = group_of(wd, &a.sel.group)?;
    let projects = g.select(&a.sel.repeat_id, a.sel.proj.as_deref())?;
    let dry = a.dryrun || a.sched.dry_run;
    let bypass = match (&a.bypass_file, phase) {
        (Some(f), Phase::Validate) => {
            let text = std::fs::read_to_string(f).map_err(|e| Error::input_io(f, e))?;
            let v: Value = serde_json::from_str(&text).map_err(|e| Error::corrupt(f, format!("not a bypass file (JSON shaped like the validation reports): {e}")))?;
            Some(v)
        }
        _ => None,
    };
    let opts = Options {
        mem_allowed: a.mem_allowed,
        bypass,
        force: a.force || a.sel.thorough,
        new_version: a.new_version,
        cloud_format: a.cloud_format.clone(),
        concat_dims: a.concat_dims,
        dedupe: a.dedupe,
        sample: a.sample,
        ..base.unwrap_or_default()
    };
    if dry && !a.parallel {
        return dry_run(&g, &projects, phase, &opts, out);
    }
    // -C and --CFA are properties of the projects (padocc records them), so
    // workers on other nodes and later phases see them. A dry run writes nothing.
    if (a.cloud_format.is_some() || a.cfa.is_some()) && !dry {
        for (_, code) in &projects {
            let p = g.project(code);
            let mut base = p.base()?;
            if let Some(cf) = &a.cloud_format {
                let mut ov = base.get("override").and_then(Value::as_object).cloned().unwrap_or_default();
                ov.insert("cloud_type".into(), json!(if cf.eq_ignore_ascii_case("cfa") { "CFA" } else { cf.as_str() }));
                base.insert("override".into(), Value::Object(ov));
            }
            if let Some(c) = &a.cfa {
                base.insert("disable_CFA".into(), json!(c == "n"));
            }
            p.save_base(&base)?;
        }
    }
    if a.parallel {
        let mut sched = a.sched.clone();
        sched.dry_run |= a.dryrun;
        sched.bounds = TaskBounds { time_s: a.time_allowed, mem_mb: a.memory, per_task: a.sel.subset };
        // Projects whose phase already succeeded need no task (unless -f).
        let codes: Vec<String> = projects.iter().map(|p| p.1.clone()).collect();
        let cur = g.current_statuses(&codes)?;
        let need: Vec<String> = codes
            .into_iter()
            .filter(|c| opts.force || !phase_done(cur.get(c), phase))
            .collect();
        return submit_cmd(&g, &need, phase, &opts, &sched, &Default::default(), 1, out);
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let jobs = a.jobs.unwrap_or(cores);
    // Cores a project's validation may spread over: all of them for one
    // project, none extra when every worker has a project.
    let opts = Options { processes: (cores / jobs.min(projects.len()).max(1)).max(1), ..opts };
    let human = out.format == OutFormat::Human && !out.quiet;
    let t0 = std::time::Instant::now();
    let on_done = |o: &pipeline::Outcome| {
        if human && !o.ok {
            let msg = o.message.clone().unwrap_or_default();
            eprintln!("{}{} [{}]: {} - {msg}", if std::io::stderr().is_terminal() { "\r" } else { "" }, o.code, o.index, o.status);
        }
    };
    // The embedded default is the local back end: the run is recorded as a
    // manifest first and the projects it lists are what runs.
    let codes: Vec<String> = projects.iter().map(|p| p.1.clone()).collect();
    let (run_dir, manifest) = match codes.is_empty() {
        true => (None, None),
        false => crate::scheduler::local::record_run(&g, &codes, phase, &opts).map(|(d, m)| (Some(d), Some(m)))?,
    };
    let index_of: std::collections::HashMap<&str, usize> = projects.iter().map(|(i, c)| (c.as_str(), *i)).collect();
    let projects: Vec<(usize, String)> = manifest.iter().flat_map(|m| &m.tasks).flat_map(|t| &t.projects).map(|c| (index_of.get(c.as_str()).copied().unwrap_or(0), c.clone())).collect();
    let results = local::run(&g, &projects, phase, &opts, jobs, quiet || out.format == OutFormat::Json, &on_done);
    let done: Vec<&pipeline::Outcome> = results.iter().flatten().collect();
    let failed = done.iter().filter(|o| !o.ok).count();
    let skipped = done.iter().filter(|o| o.skipped).count();
    let interrupted = pipeline::INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed);
    if let Some(dir) = &run_dir {
        crate::scheduler::local::finish_run(dir, &done, interrupted)?;
    }
    match out.format {
        OutFormat::Json => out.json(&json!({
            "group": g.name, "phase": phase, "projects": projects.len(), "ran": done.len(), "failed": failed,
            "skipped": skipped, "interrupted": interrupted, "seconds": t0.elapsed().as_secs_f64(), "results": done,
        })),
        OutFormat::Human => {
            let mut hist: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
            for o in &done {
                *hist.entry(if o.skipped { "Skipped" } else { o.status.as_str() }).or_default() += 1;
            }
            let parts: Vec<String> = hist.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            out.info(&format!(
                "{} {}: {} project(s) in {:.2} s - {}{}",
                g.name,
                phase.name(),
                done.len(),
                t0.elapsed().as_secs_f64(),
                parts.join(", "),
                if failed > 0 { format!(" (see `padocc status -G {}`)", g.name) } else { String::new() }
            ));
        }
    }
    Ok(if interrupted {
        exit::INTERRUPTED
    } else if failed > 0 {
        exit::INTERNAL
    } else {
        exit::OK
    })
}

#[allow(clippy::too_many_arguments)]
fn submit_cmd(
    g: &GroupDir,
    codes: &[String],
    phase: Phase,
    opts: &Options,
    sched: &SchedArgs,
    boosts: &crate::scheduler::coordinator::Boosts,
    attempt: u32,
    out: &Out,
) -> Result<i32> {
    let mut cfg = crate::scheduler::config::load(sched.config.as_deref(), &g.wd.root)?;
    sched.bounds.apply(&mut cfg.resources);
    let name = sched.scheduler.clone().unwrap_or(cfg.scheduler.clone());
    let backend = crate::scheduler::backend(&name)?;
    if codes.is_empty() {
        out.info(&format!("{} {}: nothing to submit (every selected project has done this phase; -f to redo)", g.name, phase.name()));
        if out.format == OutFormat::Json {
            out.json(&json!({"group": g.name, "phase": phase, "submissions": []}));
        }
        return Ok(exit::OK);
    }
    let subs = crate::scheduler::coordinator::submit(g, codes, phase, opts, backend.as_ref(), &cfg.site, &cfg.resources, boosts, attempt, &[], sched.dry_run)?;
    match out.format {
        OutFormat::Json => out.json(&json!({"group": g.name, "phase": phase, "scheduler": name, "dry_run": sched.dry_run, "submissions": subs})),
        OutFormat::Human => {
            for s in &subs {
                out.info(&format!(
                    "{} {}: {} project(s) in {} task(s), {} and {} MB each -> {} {}",
                    g.name,
                    phase.name(),
                    s.projects,
                    s.tasks,
                    crate::scheduler::hms(s.time_s),
                    s.mem_mb,
                    name,
                    s.job_id.as_deref().map(|j| format!("job {j}")).unwrap_or_else(|| "(dry run)".into())
                ));
            }
            if !sched.dry_run {
                out.info(&format!("follow it with: padocc status -G {} --watch", g.name));
            }
        }
    }
    Ok(exit::OK)
}

/// Whether a project whose newest status row is `row` has done `phase`: it
/// succeeded in it, or has gone on to a later phase.
fn phase_done(row: Option<&StatusRow>, phase: Phase) -> bool {
    row.is_some_and(|r| (r.phase == phase.name() && r.status == "Success") || pipeline::phase_rank(&r.phase) > pipeline::phase_rank(phase.name()))
}

/// `-d` without `--parallel`: which projects the phase would run, and where
/// each is now; nothing is written.
fn dry_run(g: &GroupDir, projects: &[(usize, String)], phase: Phase, opts: &Options, out: &Out) -> Result<i32> {
    let codes: Vec<String> = projects.iter().map(|p| p.1.clone()).collect();
    let cur = g.current_statuses(&codes)?;
    let mut rows = Vec::new();
    for (i, c) in projects {
        let now = cur.get(c).map(|r| format!("{},{}", r.phase, r.status)).unwrap_or_else(|| "no status".into());
        let skip = pipeline::skip_reason(g, c, phase, opts)?;
        rows.push(json!({"index": i, "code": c, "status": now, "would_run": skip.is_none(), "why_not": skip}));
    }
    match out.format {
        OutFormat::Json => out.json(&json!({"group": g.name, "phase": phase, "dry_run": true, "projects": rows})),
        OutFormat::Human => {
            for r in &rows {
                let verb = r["why_not"].as_str().map_or_else(|| "would run".to_string(), |w| format!("would be left: {w}"));
                println!("{} [{}] {}: {verb}", r["code"].as_str().unwrap_or(""), r["index"], r["status"].as_str().unwrap_or(""));
            }
            out.info(&format!("{} {} dry run: {} project(s), nothing written", g.name, phase.name(), rows.len()));
        }
    }
    Ok(exit::OK)
}

/// Exit code of `rerun-failed` when reruns were submitted.
const RERUNS_OUTSTANDING: i32 = 75;

fn rerun_failed(wd: &Option<PathBuf>, sel: &Sel, phase: Option<Phase>, include_errors: bool, sched: &SchedArgs, out: &Out) -> Result<i32> {
    let mut sched = sched.clone();
    sched.bounds.per_task = sel.subset;
    let sched = &sched;
    let g = group_of(wd, &sel.group)?;
    let cfg = crate::scheduler::config::load(sched.config.as_deref(), &g.wd.root)?;
    let codes: Vec<String> = g.select(&sel.repeat_id, sel.proj.as_deref())?.into_iter().map(|x| x.1).collect();
    let mut cur = g.current_statuses(&codes)?;
    crate::scheduler::join(&g, &mut cur)?;
    let mut by_phase: std::collections::BTreeMap<String, (Vec<String>, crate::scheduler::coordinator::Boosts, u32)> = Default::default();
    let mut faults = Vec::new();
    let last = crate::scheduler::coordinator::last_attempts(&g, &codes);
    for c in &codes {
        let Some(row) = cur.get(c) else { continue };
        if phase.is_some_and(|p| p.name() != row.phase) {
            continue;
        }
        let factor = match row.status.as_str() {
            "OUT_OF_MEMORY" => (2.0, 1.0),
            "TIMEOUT" => (1.0, 1.5),
            "NODE_FAIL" | "PREEMPTED" | "LOST" => (1.0, 1.0),
            s if include_errors && crate::status::is_failure(s) => (1.0, 1.0),
            _ => continue,
        };
        let (prev_attempt, old) = last.get(c).copied().unwrap_or((1, (1.0, 1.0)));
        let attempt = prev_attempt + 1;
        if attempt > cfg.max_attempts {
            faults.push((c.clone(), format!("{} {} after {} attempts", row.phase, row.status, attempt - 1)));
            continue;
        }
        let e = by_phase.entry(row.phase.clone()).or_default();
        e.0.push(c.clone());
        e.1.insert(c.clone(), (old.0 * factor.0, old.1 * factor.1));
        e.2 = e.2.max(attempt);
    }
    if !faults.is_empty() {
        let p = g.dir.join("faultlist.csv");
        for (c, why) in &faults {
            crate::project::append_line(&p, &format!("{c},{}", why.replace(',', ";")))?;
        }
        out.info(&format!("{} project(s) moved to the faultlist after their last attempt", faults.len()));
    }
    if by_phase.is_empty() {
        out.info(&format!("{}: nothing to rerun", g.name));
        return Ok(exit::OK);
    }
    for (ph, (codes, boosts, attempt)) in &by_phase {
        let p = match ph.as_str() {
            "scan" => Phase::Scan,
            "compute" => Phase::Compute,
            "validate" => Phase::Validate,
            _ => Phase::Complete,
        };
        // As the phase last ran (completion dir, bypass file, sample...), forced.
        let last = crate::scheduler::coordinator::last_options(&g, p).map(|o| o.to_options()).unwrap_or_default();
        let opts = Options { force: true, ..last };
        submit_cmd(&g, codes, p, &opts, sched, boosts, *attempt, out)?;
    }
    Ok(if sched.dry_run { exit::OK } else { RERUNS_OUTSTANDING })
}

fn summarise(wd: &Option<PathBuf>, sel: &Sel, out: &Out) -> Result<i32> {
    let g = group_of(wd, &sel.group)?;
    let codes = g.select(&sel.repeat_id, sel.proj.as_deref())?;
    let (mut files, mut src, mut cloud, mut chunks, mut n) = (0u64, 0f64, 0f64, 0f64, 0usize);
    let mut types = std::collections::BTreeSet::new();
    let mut drivers = std::collections::BTreeSet::new();
    for (_, c) in &codes {
        let d = g.project(c).detail()?;
        let Some(s) = d.get("source_data").and_then(Value::as_str).and_then(crate::project::parse_size) else { continue };
        n += 1;
        src += s;
        cloud += d.get("cloud_data").and_then(Value::as_str).and_then(crate::project::parse_size).unwrap_or(0.0);
        files += d.get("num_files").and_then(Value::as_u64).unwrap_or(0);
        chunks += d.get("chunk_info").and_then(|c| c.get("total_chunks")).and_then(Value::as_str).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
        if let Some(t) = d.get("type").and_then(Value::as_str) {
            types.insert(t.to_string());
        }
        if let Some(t) = d.get("driver").and_then(Value::as_str) {
            drivers.insert(t.to_string());
        }
    }
    let avg = |x: f64| if n == 0 { 0.0 } else { x / n as f64 };
    match out.format {
        OutFormat::Json => out.json(&json!({"group": g.name, "projects": n, "source_files": files, "source_bytes": src, "cloud_bytes": cloud, "total_chunks": chunks, "file_types": types, "drivers": drivers})),
        OutFormat::Human => {
            println!("Summary Report: {}\nProject Codes Assessed: {n}\n", g.name);
            println!("Source Files: {files} [Avg. {:.2} per project]", avg(files as f64));
            println!("Source Data: {} [Avg. {} per project]", crate::project::format_size(src), crate::project::format_size(avg(src)));
            println!("Cloud Data: {} [Avg. {} per project]\n", crate::project::format_size(cloud), crate::project::format_size(avg(cloud)));
            println!("Source Formats: {:?}\nFile Types: {:?}\n", drivers, types);
            println!("Total Chunks: {chunks:.2} [Avg. {:.2} per project]", avg(chunks));
        }
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod compat_tests {
    #[test]
    fn padocc_time_and_memory_read_as_slurm_reads_them() {
        assert_eq!(super::parse_time_allowed("30:00"), Ok(1800));
        assert_eq!(super::parse_time_allowed("1:30:00"), Ok(5400));
        assert_eq!(super::parse_time_allowed("1-00:00:00"), Ok(86400));
        assert_eq!(super::parse_time_allowed("1-12"), Ok(86400 + 12 * 3600));
        assert_eq!(super::parse_time_allowed("1-12:30"), Ok(86400 + 12 * 3600 + 1800));
        assert_eq!(super::parse_time_allowed("45"), Ok(2700));
        assert!(super::parse_time_allowed("soon").is_err());
        assert_eq!(super::parse_memory_mb("2G"), Ok(2048));
        assert_eq!(super::parse_memory_mb("4000"), Ok(4000));
        assert_eq!(super::parse_memory_mb("512M"), Ok(512));
        assert!(super::parse_memory_mb("lots").is_err());
    }
}
