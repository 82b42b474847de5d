#!/usr/bin/env bash
# The main job on bundled sample data: build kerchunk references for three real
# series and show what padocc reports. Output goes to ${1:-/tmp/padocc-demo}.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
OUT=${1:-/tmp/padocc-demo}
mkdir -p "$OUT"
P=target/release/padocc
run() { echo "+ $*" >&2; "$@"; }

# CMIP6, 7 contiguous files of uneven length (6 x 120 + 84 months): re-cut on a regular grid.
run $P refs samples/cmip6-FGOALS-g3-Amon-ta/*.nc -o "$OUT/fgoals.json" --concat-dim time
run $P refs samples/cmip6-FGOALS-g3-Amon-ta/*.nc -o "$OUT/fgoals.parquet" --concat-dim time

# CMIP5 netCDF-3: files 4 and 5 both hold 2099-12-16. padocc stops and says so...
run $P refs samples/cmip5-HadGEM2-ES-Amon-tas/*.nc -o "$OUT/hadgem.json" || echo "(expected: the duplicate is reported, nothing written)" >&2
# ...until told what to do with it.
run $P refs samples/cmip5-HadGEM2-ES-Amon-tas/*.nc -o "$OUT/hadgem.json" --dedupe last

run $P refs samples/padocc-1DAgg/*.nc -o "$OUT/1dagg.json"
echo "products in $OUT:" >&2
ls -l "$OUT" >&2
cat >&2 <<MSG
Open one with xarray:
  xr.open_dataset("reference://", engine="zarr", backend_kwargs={"consolidated": False,
      "storage_options": {"fo": "$OUT/fgoals.json"}})
MSG
