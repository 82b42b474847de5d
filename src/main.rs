//! The `padocc` binary: all of it lives in the library (`padocc::cli`).

/// A failed allocation records the projects running and exits with code 8
/// (see `padocc::oom`), instead of aborting with no status.
#[global_allocator]
static ALLOCATOR: padocc::oom::Allocator = padocc::oom::Allocator;

fn main() {
    std::process::exit(padocc::cli::main());
}
