#!/usr/bin/env bash
# The Python environment for cloud products: /tmp/cloudenv (Python 3.12, as
# Python icechunk needs) with icechunk, xarray, zarr-python 3, s3fs, and
# moto's S3 server (the tests start it themselves), plus VirtualiZarr for the
# benchmark. Idempotent: an existing complete environment is kept.
set -euo pipefail
ENV=${CLOUDENV:-/tmp/cloudenv}
# pyenv's shim for python3.12 fails unless 3.12 is selected: take the install itself.
PY312=${PY312:-$(ls -d "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/3.12*/bin/python3.12 2>/dev/null | tail -1)}
ok() { "$ENV/bin/python" -c 'import icechunk, xarray, zarr, s3fs, netCDF4, moto, virtualizarr' >/dev/null 2>&1; }
if ! ok; then
  [ -x "$PY312" ] || { echo "cloudenv: Python 3.12 not found (set PY312=/path/to/python3.12)" >&2; exit 1; }
  echo "cloudenv: creating $ENV (about 2 minutes)" >&2
  rm -rf "$ENV"
  "$PY312" -m venv "$ENV"
  "$ENV/bin/pip" install -q --disable-pip-version-check \
    "icechunk==2.3.0" "xarray==2025.12.0" "zarr==3.1.6" "numcodecs==0.16.6" \
    "netCDF4==1.7.5.1.post1" "h5netcdf==1.8.2" "h5py==3.16.0" "numpy==2.4.6" \
    "cftime==1.6.6.1" "pandas==3.1.1" "dask==2025.12.0" "scipy==1.17.1" \
    "fsspec==2025.12.0" "s3fs==2025.12.0" "moto[server]==5.1.18" \
    "virtualizarr[hdf]==2.5.1" >/tmp/cloudenv-setup.log 2>&1 \
    || { tail -20 /tmp/cloudenv-setup.log >&2; exit 1; }
fi
ok || { echo "cloudenv: $ENV is incomplete; see /tmp/cloudenv-setup.log" >&2; exit 1; }
