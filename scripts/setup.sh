#!/usr/bin/env bash
# Make a fresh machine (Debian 12, Rust, Python 3.11; no cmake, no libhdf5) able to
# build padocc, then build the release binary. Idempotent: cheap when done before.
#
# HDF5 2.x and netCDF-C are compiled from source by the hdf5-metno and netcdf
# crates and linked statically; the bundled HDF5 needs CMake >= 3.26, newer than
# Debian 12's 3.25, so a pip-installed CMake is used.
set -euo pipefail
cd "$(dirname "$0")/.."

cmake_ok() {
  command -v cmake >/dev/null 2>&1 || return 1
  local v
  v=$(cmake --version | head -1 | awk '{print $3}')
  [ "$(printf '%s\n3.26\n' "$v" | sort -V | head -1)" = "3.26" ]
}

# pip puts console scripts beside its interpreter, which may not be on PATH.
PYBIN=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
export PATH="$PYBIN:$HOME/.local/bin:$PATH"
if ! cmake_ok; then
  echo "setup: installing CMake >= 3.26 with pip (Debian 12's is too old for HDF5 2.x)" >&2
  python3 -m pip install --quiet --disable-pip-version-check 'cmake>=3.26,<4'
  hash -r
fi
cmake_ok || { echo "setup: CMake >= 3.26 still not found on PATH ($PATH)" >&2; exit 1; }

cargo build --release --locked "$@"
