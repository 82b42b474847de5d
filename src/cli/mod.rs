//! The command line, a thin layer over [`crate::api`]: [`args`] says what
//! the words mean (clap), [`run`] turns them into requests and calls the
//! library, [`output`] renders the results as text or JSON.

mod args;
mod output;
mod run;

use clap::Parser;
use serde_json::json;

use crate::control::{Cancel, Control, Reporter};
use crate::error::exit;
pub use args::Cli;
use args::{Command, OutFormat};
use output::{Mode, Out};

/// Parse the process's arguments, run, and return the process exit code.
pub fn main() -> i32 {
    main_from(std::env::args_os())
}

/// Parse `args` (the program name first), run, and return the exit code:
/// the `padocc` command installed by the Python package calls this.
pub fn main_from<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    // padocc only reads HDF5 files. HDF5's flock-based file locking fails on
    // Lustre/NFS mounts without flock ("unable to lock file"), and a lock taken
    // by one process is inherited by children it spawns; readers do not need it.
    if std::env::var_os("HDF5_USE_FILE_LOCKING").is_none() {
        std::env::set_var("HDF5_USE_FILE_LOCKING", "FALSE");
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    let out = Out { mode: mode_of(&cli.command), quiet: cli.quiet };
    start_logging(cli.verbose, cli.quiet);
    if let Err(e) = crate::source::start_libraries() {
        eprintln!("padocc: error: {e}");
        return e.exit_code();
    }
    if let Err(e) = start_threads() {
        eprintln!("padocc: error: {e}");
        return e.exit_code();
    }
    crate::workdir::apply_umask();
    // First Ctrl-C or SIGTERM (what SLURM sends on scancel and at the time
    // limit): stop starting projects and let those in flight stop at the next
    // safe point (every write is atomic). Second: leave at once.
    let cancel = Cancel::new();
    let on_signal = cancel.clone();
    let _ = ctrlc::set_handler(move || {
        if on_signal.cancel_again() {
            std::process::exit(exit::INTERRUPTED);
        }
        eprintln!("\npadocc: interrupted: finishing the projects in flight (Ctrl-C again to leave now)");
    });
    let progress = if cli.quiet || out.mode == Mode::Json { Reporter::Silent } else { Reporter::Terminal };
    let cx = run::Ctx { workdir: cli.workdir.clone(), out: &out, control: Control { cancel, progress } };
    match run::run(cli.command, &cx) {
        Ok(code) => code,
        Err(e) => {
            if out.mode == Mode::Json {
                out.json(&json!({"error": e.to_string(), "exit_code": e.exit_code()}));
            }
            eprintln!("padocc: error: {e}");
            e.exit_code()
        }
    }
}

/// Diagnostics (tracing events: ours, and the object store's and Icechunk's)
/// on stderr: warnings by default, more with -v/-vv, none with -q;
/// `PADOCC_LOG` (tracing's filter syntax, e.g. `padocc=debug,object_store=info`)
/// overrides. stdout stays for results.
fn start_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "off",
        (false, 0) => "warn",
        (false, 1) => "padocc=info,warn",
        (false, _) => "padocc=debug,icechunk=info,object_store=info,warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PADOCC_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // The Python package may have installed one already: keep it.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}

/// rayon starts its pool on first use and panics when a thread cannot start
/// (a memory or process limit, as a job's). Its global pool can be built
/// once only: a build that fails half-way leaves rayon unusable for the rest
/// of the process. So first find how many threads can run at once (they wait
/// until all are counted), then build the pool that size.
fn start_threads() -> crate::error::Result<()> {
    let want = std::thread::available_parallelism().map_or(1, |n| n.get());
    let release = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let mut probes = Vec::new();
    for _ in 0..want {
        let r = release.clone();
        let spawned = std::thread::Builder::new().spawn(move || {
            let (lock, cv) = &*r;
            let mut done = lock.lock().unwrap_or_else(|p| p.into_inner());
            while !*done {
                done = cv.wait(done).unwrap_or_else(|p| p.into_inner());
            }
        });
        match spawned {
            Ok(h) => probes.push(h),
            Err(_) => break,
        }
    }
    let n = probes.len();
    {
        let (lock, cv) = &*release;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
    }
    for h in probes {
        let _ = h.join();
    }
    let out_of_memory = || crate::error::Error::Resources("no thread could start (out of memory, or a process limit): give the job more memory".into());
    if n == 0 {
        return Err(out_of_memory());
    }
    rayon::ThreadPoolBuilder::new().num_threads(n).build_global().map_err(|_| out_of_memory())
}

/// Human or JSON, as the command's `--format` (or `--json`) asks.
fn mode_of(command: &Command) -> Mode {
    let format = match command {
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
        | Command::Run { fmt, .. }
        | Command::Shepard { fmt, .. }
        | Command::UpdateAttribute { fmt, .. }
        | Command::RemoveAttribute { fmt, .. } => fmt.format,
        Command::Refs { json: true, .. } | Command::Zarr { json: true, .. } | Command::Cfa { json: true, .. } | Command::Verify { json: true, .. } => OutFormat::Json,
        _ => OutFormat::Human,
    };
    match format {
        OutFormat::Human => Mode::Human,
        OutFormat::Json => Mode::Json,
    }
}

#[cfg(test)]
mod compat_tests {
    #[test]
    fn padocc_time_and_memory_read_as_slurm_reads_them() {
        assert_eq!(super::args::parse_time_allowed("30:00"), Ok(1800));
        assert_eq!(super::args::parse_time_allowed("1:30:00"), Ok(5400));
        assert_eq!(super::args::parse_time_allowed("1-00:00:00"), Ok(86400));
        assert_eq!(super::args::parse_time_allowed("1-12"), Ok(86400 + 12 * 3600));
        assert_eq!(super::args::parse_time_allowed("1-12:30"), Ok(86400 + 12 * 3600 + 1800));
        assert_eq!(super::args::parse_time_allowed("45"), Ok(2700));
        assert!(super::args::parse_time_allowed("soon").is_err());
        assert_eq!(super::args::parse_memory_mb("2G"), Ok(2048));
        assert_eq!(super::args::parse_memory_mb("4000"), Ok(4000));
        assert_eq!(super::args::parse_memory_mb("512M"), Ok(512));
        assert!(super::args::parse_memory_mb("lots").is_err());
    }
}
