#!/usr/bin/env bash
# Acceptance: every case of ../shared/testdata through `padocc refs` (and
# `padocc zarr`, `padocc cfa`), each product
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
rm -rf "$OUT"; mkdir -p "$OUT/json" "$OUT/parquet" "$OUT/reencoded" "$OUT/cfa"
bash scripts/refenv.sh
RESULTS="$OUT/results.txt"; : > "$RESULTS"

# run_kind LABEL KIND [accept.py args]; ACCEPT_CMD (if set) is the product command.
run_kind() {
  local label=$1 kind=$2; shift 2
  echo "== $label: accept.py --kind $kind $* ${ACCEPT_CMD:+(ACCEPT_CMD=$ACCEPT_CMD)}" >&2
  python3 "$SHARED/tools/accept.py" "$SHARED/testdata" --kind "$kind" --keep "$OUT/$label" "$@" \
    | tee "$OUT/$label.log" || true
  sed -n "s/^PASS \(.*\)/PASS $label \1/p" "$OUT/$label.log" >> "$RESULTS"
}
run_kind json json --z2
run_kind parquet parquet
ACCEPT_CMD='{bin} zarr {files} -o {out} {concat} -q' run_kind zarr zarr
ACCEPT_CMD='{bin} zarr --zarr-format 2 {files} -o {out} {concat} -q' run_kind zarr-v2 zarr
ACCEPT_CMD='{bin} zarr --compression zstd --chunks time=5 --shards time=50 {files} -o {out} {concat} -q' \
  run_kind zarr-sharded zarr
ACCEPT_CMD='{bin} cfa {files} -o {out} {concat} -q' run_kind cfa cfa

# Cloud kinds, read by Python icechunk / s3fs under Python 3.12 (ci/check_cloud.py:
# check_refs.py's rules). s3zarr uploads to a real S3 server (moto) started here,
# or to PADOCC_TEST_S3_ENDPOINT with PADOCC_TEST_BUCKET and the AWS_* credentials.
bash scripts/cloudenv.sh
run_cloud() {
  local kind=$1
  echo "== $kind: ci/accept_cloud.py --kind $kind" >&2
  python3 ci/accept_cloud.py "$SHARED/testdata" --kind "$kind" --keep "$OUT/$kind" | tee "$OUT/$kind.log" || true
  sed -n "s/^PASS \(.*\)/PASS $kind \1/p" "$OUT/$kind.log" >> "$RESULTS"
}
run_cloud icechunk
if [ -n "${PADOCC_TEST_S3_ENDPOINT:-}" ]; then
  export AWS_ENDPOINT_URL=$PADOCC_TEST_S3_ENDPOINT
else
  /tmp/cloudenv/bin/python tests/support/s3server.py --buckets padocc-accept > "$OUT/moto.port" &
  MOTO=$!
  trap 'kill $MOTO 2>/dev/null || true' EXIT
  for _ in $(seq 300); do grep -q PORT "$OUT/moto.port" 2>/dev/null && break; sleep 0.1; done
  export AWS_ENDPOINT_URL=http://127.0.0.1:$(awk '/PORT/ {print $2}' "$OUT/moto.port")
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 PADOCC_TEST_BUCKET=padocc-accept
fi
run_cloud s3zarr

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
