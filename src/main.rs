//! The `padocc` binary: all of it lives in the library (`padocc::cli`).

fn main() {
    std::process::exit(padocc::cli::main());
}
