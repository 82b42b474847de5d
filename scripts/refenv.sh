#!/usr/bin/env bash
# Ensure the Python client environments used to check products exist:
# /tmp/refenv (xarray, zarr-python 3, fsspec, kerchunk, cfapyx, padocc 1.5.1) and
# /tmp/refenv-z2 (zarr-python 2). Created by ../shared/tools/refenv-setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${PADOCC_SHARED:-../shared}
ok() {
  /tmp/refenv/bin/python -c 'import xarray, zarr, fsspec, kerchunk, netCDF4' >/dev/null 2>&1 &&
    /tmp/refenv-z2/bin/python -c 'import xarray, zarr; assert zarr.__version__.startswith("2")' >/dev/null 2>&1
}
if ! ok; then
  echo "refenv: creating /tmp/refenv and /tmp/refenv-z2 (about 2 minutes)" >&2
  bash "$SHARED/tools/refenv-setup.sh" --z2 >/tmp/refenv-setup.log 2>&1 || { tail -20 /tmp/refenv-setup.log >&2; exit 1; }
fi
ok || { echo "refenv: the client environments are still incomplete; see /tmp/refenv-setup.log" >&2; exit 1; }
