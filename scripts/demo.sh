#!/usr/bin/env bash
# The main job on bundled sample data: a padocc group made from three real series
# (samples/), taken through every phase on this machine, then its status.
#   bash scripts/demo.sh [DIR]      (default /tmp/padocc-demo; recreated)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
OUT=$(realpath -m "${1:-/tmp/padocc-demo}")
rm -rf "$OUT"; mkdir -p "$OUT"
P="$PWD/target/release/padocc"
S="$PWD/samples"
run() { echo "+ $*" >&2; "$@"; }

# One line per dataset: project code, file pattern (glob or a .txt list of paths).
cat > "$OUT/datasets.csv" <<CSV
proj_code,pattern,updates,removals
fgoals,$S/cmip6-FGOALS-g3-Amon-ta/*.nc,,
hadgem,$S/cmip5-HadGEM2-ES-Amon-tas/*.nc,,
oneD,$S/padocc-1DAgg/*.nc,,
CSV
export WORKDIR="$OUT/workdir"
run $P init -G demo -i "$OUT/datasets.csv"
run $P scan -G demo
# CMIP5 HadGEM2-ES repeats 2099-12-16 in two files: say how to resolve it.
run $P scan -G demo -p hadgem --dedupe last
run $P compute -G demo
run $P validate -G demo
run $P complete -G demo --completion_dir "$OUT/published"
run $P status -G demo
echo >&2
echo "published products: $OUT/published/data (reports in $OUT/published/reports)" >&2
ls "$OUT/published/data" >&2
cat >&2 <<MSG
Open one with xarray:
  xr.open_dataset("reference://", engine="zarr", backend_kwargs={"consolidated": False,
      "storage_options": {"fo": "$OUT/published/data/fgoals_k1.0.json"}})
Or build references for any files directly:  $P refs FILES... -o out.json
MSG
