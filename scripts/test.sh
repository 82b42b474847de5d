#!/usr/bin/env bash
# Build and run every Rust test (unit tests beside the code, integration tests in
# tests/ that run the real binary on real files). The integration tests check
# products with the real Python clients; the first run creates them in
# /tmp/refenv (about 2 minutes, from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/refenv.sh
PYBIN=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
export PATH="$PYBIN:$PATH"
cargo test --release --locked "$@"

# The Python package (python/) and padocc 1.5.1's own tests against it.
bash scripts/python-tests.sh
