#!/usr/bin/env bash
# Acceptance: every case of ../shared/testdata through `padocc refs`, each product
# opened with the real clients (xarray + fsspec, zarr-python 3 and 2) and
# compared value by value with the sources (../shared/tools/accept.py). Then the
# ratchet: every case listed in ci/accept-passing.txt must still pass.
#
# Extra kind `json-reencoded`: series whose time units differ per file. Their
# products re-encode time bounds (and ARM's time_offset) to one unit, which is
# what makes the decoded dates right; check_refs.py's raw mode compares those
# re-encoded numbers with the per-file on-disk numbers (it exempts only the
# concat coordinate), so for them raw mode is run with those variables ignored
# and decoded mode in full.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${PADOCC_SHARED:-../shared}
OUT=${ACCEPT_OUT:-/tmp/padocc-accept}
rm -rf "$OUT"; mkdir -p "$OUT/json" "$OUT/parquet" "$OUT/reencoded"
bash scripts/refenv.sh
RESULTS="$OUT/results.txt"; : > "$RESULTS"

run_kind() {
  local kind=$1; shift
  echo "== accept.py --kind $kind $*" >&2
  python3 "$SHARED/tools/accept.py" "$SHARED/testdata" --kind "$kind" --keep "$OUT/$kind" "$@" \
    | tee "$OUT/$kind.log" || true
  sed -n "s/^PASS \(.*\)/PASS $kind \1/p" "$OUT/$kind.log" >> "$RESULTS"
}
run_kind json --z2
run_kind parquet

reencoded() {
  local name=$1 ignore=$2
  local files=("$SHARED/testdata/series/$name"/*.nc)
  local prod="$OUT/reencoded/$name.json"
  echo "== re-encoded time: $name (raw mode ignores $ignore)" >&2
  target/release/padocc refs "${files[@]}" -o "$prod" --concat-dim time -q &&
    /tmp/refenv/bin/python "$SHARED/tools/check_refs.py" "$prod" "${files[@]}" --concat-dim time \
      --modes decoded --also-python /tmp/refenv-z2/bin/python > "$OUT/reencoded/$name.decoded.log" &&
    /tmp/refenv/bin/python "$SHARED/tools/check_refs.py" "$prod" "${files[@]}" --concat-dim time \
      --modes raw --ignore-vars "$ignore" --also-python /tmp/refenv-z2/bin/python > "$OUT/reencoded/$name.raw.log" &&
    echo "PASS json-reencoded $name" | tee -a "$RESULTS" ||
    { echo "FAIL json-reencoded $name (logs in $OUT/reencoded)"; grep -h FAIL "$OUT/reencoded/$name".*.log | head -5; }
}
reencoded cmip6-BCC-CSM2-MR-day-ta time_bnds
reencoded arm-sgp30ebbrE32-b1 time_bounds,time_offset

python3 ci/ratchet.py ci/accept-passing.txt "$RESULTS"
