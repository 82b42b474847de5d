//! The `padocc` command line: a thin layer over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use padocc::combine::{Dedupe, Options};
use padocc::error::{exit, Error};
use padocc::refs::{self, Request};
use padocc::writer::{parquet::DEFAULT_RECORD_SIZE, Kind};

#[derive(Parser)]
#[command(
    name = "padocc",
    version,
    about = "Aggregate netCDF/HDF5 archives into cloud-friendly products: kerchunk references (JSON or Parquet), validated against their sources.",
    after_help = "Exit codes: 0 ok, 2 bad usage, 3 bad input file, 4 files cannot be combined, 5 unsupported feature, 6 cannot write output, 130 interrupted.\nSee docs/ for every command."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
        /// Source files, in concatenation order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output: *.json gives kerchunk JSON, *.parquet or *.parq a Parquet reference directory.
        #[arg(short, long)]
        output: PathBuf,
        /// Dimension(s) to concatenate along; several (comma-separated) tile files by coordinate values.
        /// Default: the first file's unlimited dimension, else `time`.
        #[arg(long, value_delimiter = ',')]
        concat_dim: Vec<String>,
        /// What to do when values along the concat dimension repeat or decrease.
        #[arg(long, value_enum, default_value_t = Dedupe::Error)]
        dedupe: Dedupe,
        /// Output kind, overriding the extension.
        #[arg(long, value_enum)]
        format: Option<Kind>,
        /// Parquet: references per record file.
        #[arg(long, default_value_t = DEFAULT_RECORD_SIZE)]
        record_size: u64,
        /// No progress and no summary line.
        #[arg(short, long)]
        quiet: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Refs { files, output, concat_dim, dedupe, format, record_size, quiet } => {
            let req = Request {
                files,
                out: output,
                kind: format,
                combine: Options { concat_dims: concat_dim, dedupe },
                record_size,
                quiet,
            };
            refs::run(&req).map(|s| {
                if !quiet {
                    eprintln!(
                        "padocc refs: {} files, {} variables, {} references, {:.3} s -> {} ({})",
                        s.files,
                        s.variables,
                        s.references,
                        s.seconds,
                        s.output.display(),
                        s.kind
                    );
                }
            })
        }
    };
    match result {
        Ok(()) => ExitCode::from(exit::OK as u8),
        Err(e) => {
            eprintln!("padocc: error: {e}");
            if let Error::Incompatible(_) | Error::Unsupported { .. } = e {
                eprintln!("padocc: nothing was written");
            }
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
