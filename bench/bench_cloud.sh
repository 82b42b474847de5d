#!/usr/bin/env bash
# Cloud products, against the Python stack on the same machine in the same run:
#  1. Icechunk virtual references for 100 CMIP-like files: `padocc refs -o
#     X.icechunk` vs VirtualiZarr (open_virtual_mfdataset + to_icechunk);
#  2. Zarr upload of ~2 GB to a local S3 server (moto, started here): `padocc zarr
#     -o s3://...` (convert + upload) vs xarray to_zarr over s3fs (dask, one
#     chunk per file step as the source is chunked).
# Prints a table and writes $OUT/cloud.json. Never builds: run
# `cargo build --release` first. Needs /tmp/cloudenv (scripts/cloudenv.sh).
#   BENCH_DIR (default /tmp/padocc-bench), BENCH_REPS (default 3), BENCH_SKIP_S3=1
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${PADOCC_SHARED:-../shared}
BIN=$PWD/target/release/padocc
DIR=${BENCH_DIR:-/tmp/padocc-bench}
OUT=${BENCH_OUT:-$DIR/results}
REPS=${BENCH_REPS:-3}
PY=/tmp/cloudenv/bin/python
mkdir -p "$OUT"
bash scripts/cloudenv.sh
command -v /usr/bin/time >/dev/null || { echo "needs GNU time (apt-get install time)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }

gen() { # name args...
  local d=$DIR/$1; shift
  [ -f "$d/BENCH_INFO.json" ] || "$PY" "$SHARED/tools/make_bench_data.py" --out "$d" "$@" >&2
}
gen icecmip --files 100 --ntime 365 --nlat 90 --nlon 180
gen s3cmip --files 22 --ntime 365 --nlat 180 --nlon 360

# timed LABEL CMD...: wall seconds and peak RSS (MB) of one run, appended to $OUT/runs.txt
timed() {
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$OUT/.t" "$@" >/dev/null 2>"$OUT/$label.err" || { echo "$label failed:" >&2; tail -5 "$OUT/$label.err" >&2; exit 1; }
  read -r wall rss < "$OUT/.t"
  echo "$label $wall $((rss / 1024))" | tee -a "$OUT/runs.txt" >&2
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
: > "$OUT/runs.txt"

# 1. Icechunk
mapfile -t IC < "$DIR/icecmip/files.txt"
cat > "$OUT/vz_icechunk.py" <<'PYEOF'
import sys, icechunk, warnings
warnings.filterwarnings("ignore")
from virtualizarr import open_virtual_mfdataset
from virtualizarr.parsers import HDFParser
from obstore.store import LocalStore
from virtualizarr.registry import ObjectStoreRegistry
out, files = sys.argv[1], sys.argv[2:]
reg = ObjectStoreRegistry({"file://": LocalStore()})
vds = open_virtual_mfdataset(["file://" + f for f in files], registry=reg, parser=HDFParser(),
                             combine="nested", concat_dim="time", data_vars="minimal",
                             coords="minimal", compat="override")
storage = icechunk.local_filesystem_storage(out)
config = icechunk.RepositoryConfig.default()
# A file:// container needs a path: the sources' common directory, as padocc's.
import os
prefix = "file://" + os.path.commonpath(files).rstrip("/") + "/"
config.set_virtual_chunk_container(icechunk.VirtualChunkContainer(prefix, icechunk.local_filesystem_store(prefix[len("file://"):])))
repo = icechunk.Repository.create(storage, config)
session = repo.writable_session("main")
vds.vz.to_icechunk(session.store)
session.commit("virtualizarr")
PYEOF
for r in $(seq "$REPS"); do
  rm -rf "$OUT/ours.icechunk"; timed "icechunk-ours" "$BIN" refs "${IC[@]}" -o "$OUT/ours.icechunk" --concat-dim time -q
done
for r in $(seq "$REPS"); do
  rm -rf "$OUT/vz.icechunk"; timed "icechunk-virtualizarr" "$PY" "$OUT/vz_icechunk.py" "$OUT/vz.icechunk" "${IC[@]}"
done

# 2. Zarr to S3
if [ "${BENCH_SKIP_S3:-0}" != 1 ]; then
  "$PY" tests/support/s3server.py --buckets bench > "$OUT/moto.port" &
  MOTO=$!
  trap 'kill $MOTO 2>/dev/null || true' EXIT
  while ! grep -q PORT "$OUT/moto.port" 2>/dev/null; do sleep 0.2; done
  export AWS_ENDPOINT_URL=http://127.0.0.1:$(awk '/PORT/ {print $2}' "$OUT/moto.port")
  export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
  mapfile -t S3F < "$DIR/s3cmip/files.txt"
  cat > "$OUT/xr_s3.py" <<'PYEOF'
import sys, os, xarray as xr, s3fs, warnings
warnings.filterwarnings("ignore")
url, files = sys.argv[1], sys.argv[2:]
fs = s3fs.S3FileSystem(key=os.environ["AWS_ACCESS_KEY_ID"], secret=os.environ["AWS_SECRET_ACCESS_KEY"],
                       endpoint_url=os.environ["AWS_ENDPOINT_URL"])
ds = xr.open_mfdataset(files, combine="nested", concat_dim="time", data_vars="minimal",
                       coords="minimal", compat="override", chunks={})
ds.to_zarr(s3fs.S3Map(url, s3=fs), mode="w", consolidated=True, zarr_format=3)
PYEOF
  for r in $(seq "$REPS"); do
    rm -rf "$OUT/stage"
    timed "s3zarr-ours" "$BIN" zarr "${S3F[@]}" -o "s3://bench/ours$r.zarr" --concat-dim time --stage "$OUT/stage" -q
  done
  for r in $(seq "$REPS"); do
    timed "s3zarr-xarray" "$PY" "$OUT/xr_s3.py" "bench/xr$r.zarr" "${S3F[@]}"
  done
fi

python3 - "$OUT" "$DIR" <<'PYEOF'
import json, sys, statistics, collections
out, d = sys.argv[1], sys.argv[2]
runs = collections.defaultdict(list)
for line in open(f"{out}/runs.txt"):
    label, wall, rss = line.split()
    runs[label].append((float(wall), int(rss)))
res = {k: {"median_s": statistics.median(w for w, _ in v), "max_rss_mb": max(r for _, r in v), "runs": len(v)} for k, v in runs.items()}
def ratio(a, b):
    return res[b]["median_s"] / res[a]["median_s"] if a in res and b in res else None
res["icechunk_speedup_vs_virtualizarr"] = ratio("icechunk-ours", "icechunk-virtualizarr")
res["s3zarr_speedup_vs_xarray"] = ratio("s3zarr-ours", "s3zarr-xarray")
raw = json.load(open(f"{d}/s3cmip/BENCH_INFO.json"))
res["s3zarr_source"] = {k: raw.get(k) for k in ("files", "bytes", "raw_bytes") if k in raw}
json.dump(res, open(f"{out}/cloud.json", "w"), indent=1)
print(f"{'case':<24}{'median s':>10}{'max RSS MB':>12}")
for k, v in res.items():
    if isinstance(v, dict) and "median_s" in v:
        print(f"{k:<24}{v['median_s']:>10.2f}{v['max_rss_mb']:>12}")
for k in ("icechunk_speedup_vs_virtualizarr", "s3zarr_speedup_vs_xarray"):
    if res.get(k):
        print(f"{k}: {res[k]:.1f}x")
PYEOF
