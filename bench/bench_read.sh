#!/usr/bin/env bash
# bench/bench_read.sh -- read time of padocc's kerchunk products against the sources.
#
# Rule measured: opening a product and reading all of it with xarray takes no more
# than 2x reading the sources with xarray's netCDF4 engine, for every product kind
# (kerchunk JSON, kerchunk Parquet) and every source.
#
# What it does (one run, end to end):
#   1. Generates, once, two series into $READ_DATA (netCDF4-python of $REFENV):
#        met-station  netCDF-3 classic, UNLIMITED time, 7 daily files x 1440 one-minute
#                     records, 45 float32 (time,) variables + time ("minutes since
#                     <day> 00:00", units differ per file): record variables, so one
#                     4-byte reference per variable and record
#        leap-year    netCDF-4, fixed time dim, CONTIGUOUS v(time,6,6) float32 (144 bytes
#                     a step), 3 files of 366/365/365 steps, "days since <year>-01-01"
#      They are reused when $READ_DATA/<name>/GEN_INFO.json matches the generator.
#   2. Cases: every series of $TESTDATA/MANIFEST.json plus the two generated ones.
#      Product flags as ../shared/tools/accept.py: --concat-dim <kerchunk_concat_dims
#      joined by ,> and --dedupe X when checker_args has it.
#   3. For each case, threshold in READ_THRESHOLDS and kind (json, parquet):
#        padocc refs FILES -o OUT.{json,parquet} <flags> --inline-threshold N -q
#      READ_BUILD_REPS (3) times, wall time ($EPOCHREALTIME), median.
#   4. For each case ONE Python process (bench/read_time.py time): an untimed warm-up
#      read of the sources and of every product (also a light check that both give the
#      same variables, sizes and values), then READ_REPS (5) rounds, each: the sources
#      (open_mfdataset(engine="netcdf4", ...) exactly as check_refs.py builds its
#      expectation, decoded, then .load()) and every product (xr.open_dataset(
#      "reference://", engine="zarr", storage_options={"fo": path, ...}), as
#      check_refs.py's "url" method, then .load()), each opened fresh (fsspec's instance
#      cache skipped). Medians; ratio = product / sources.
#   5. Writes $BENCH_DIR/read-results.json and prints a table (also read-results.txt):
#      case, kind, threshold, refs, inlined, size, build s, sources s, product s,
#      ratio, <= 2x.
#
# Usage (from the repository root):
#   bash bench/bench_read.sh
#   READ_CASES="met-station leap-year" READ_REPS=3 bash bench/bench_read.sh
#
# Environment (all optional):
#   BENCH_DIR          results root                          [/tmp/padocc-bench]
#   READ_DATA          generated series                      [$BENCH_DIR/read/data]
#   READ_THRESHOLDS    --inline-threshold values (bytes)     ["0 4096"]
#   READ_KINDS         product kinds                         ["json parquet"]
#   READ_CASES         case names (default: all)             [""]
#   READ_REPS          timed read rounds per case            [5]
#   READ_BUILD_REPS    timed `padocc refs` runs per product  [3]
#   READ_DASK_SCHEDULER  dask scheduler for the sources' load, e.g. synchronous
#                      [unset: dask's default, threads]
#   READ_OLD_BINARY=1  the binary predates --inline-threshold: do NOT pass the flag;
#                      only allowed with READ_THRESHOLDS=0 (0 is the old behaviour)
#   TESTDATA           shared test set                       [<repo>/../shared/testdata]
#   REFENV             Python reference env                  [/tmp/refenv]
#   PADOCC_BIN         binary under test   [$BENCH_DIR/padocc-snapshot if present,
#                                           else <repo>/target/release/padocc]
#
# Notes:
#   * Every product is built with `--inline-threshold N`; a binary that rejects the flag
#     stops the script with a message (see READ_OLD_BINARY).
#   * Warm cache: the sources and products are small and read once untimed first.
#   * This script never runs cargo. Copy the release binary you want to measure to
#     $BENCH_DIR/padocc-snapshot (or set PADOCC_BIN) so a rebuild cannot change it.
set -euo pipefail

# ---------------------------------------------------------------- settings
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/padocc-bench}
READ_DATA=${READ_DATA:-$BENCH_DIR/read/data}
READ_THRESHOLDS=${READ_THRESHOLDS:-"0 4096"}
READ_KINDS=${READ_KINDS:-"json parquet"}
READ_CASES=${READ_CASES:-}
READ_REPS=${READ_REPS:-5}
READ_BUILD_REPS=${READ_BUILD_REPS:-3}
READ_OLD_BINARY=${READ_OLD_BINARY:-0}
TESTDATA=${TESTDATA:-$REPO/../shared/testdata}
REFENV=${REFENV:-/tmp/refenv}
if [[ -z "${PADOCC_BIN:-}" ]]; then
    if [[ -x "$BENCH_DIR/padocc-snapshot" ]]; then PADOCC_BIN=$BENCH_DIR/padocc-snapshot
    else PADOCC_BIN=$REPO/target/release/padocc; fi
fi
PY="$REFENV/bin/python"
HELPER="$SCRIPT_DIR/read_time.py"
RES="$BENCH_DIR/results/read"
PROD="$BENCH_DIR/read/products"

log() { printf '[bench_read %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf 'bench_read.sh: error: %s\n' "$*" >&2; exit 1; }

check_prereqs() {
    [[ -x "$PADOCC_BIN" ]] || die "binary not found: $PADOCC_BIN (build it with 'cargo build --release'; this script never builds)"
    if [[ ! -x "$PY" ]] || ! "$PY" -c 'import xarray, zarr, fsspec, netCDF4, dask, pyarrow' 2> /dev/null; then
        log "no complete Python env in $REFENV: running scripts/refenv.sh"
        bash "$REPO/scripts/refenv.sh" || die "could not create $REFENV (see /tmp/refenv-setup.log)"
    fi
    [[ -f "$TESTDATA/MANIFEST.json" ]] || die "no $TESTDATA/MANIFEST.json (set TESTDATA)"
    [[ "$READ_REPS" =~ ^[1-9][0-9]*$ ]] || die "READ_REPS must be a positive integer"
    [[ "$READ_BUILD_REPS" =~ ^[1-9][0-9]*$ ]] || die "READ_BUILD_REPS must be a positive integer"
    local t k
    for t in $READ_THRESHOLDS; do [[ "$t" =~ ^[0-9]+$ ]] || die "READ_THRESHOLDS: '$t' is not a byte count"; done
    for k in $READ_KINDS; do [[ "$k" == json || "$k" == parquet ]] || die "READ_KINDS: '$k' is not json or parquet"; done
    if [[ "$READ_OLD_BINARY" == 1 ]]; then
        [[ "$READ_THRESHOLDS" =~ ^[[:space:]]*0[[:space:]]*$ ]] \
            || die "READ_OLD_BINARY=1 builds without --inline-threshold, i.e. threshold 0 only: set READ_THRESHOLDS=0"
        log "READ_OLD_BINARY=1: NOT passing --inline-threshold (old behaviour = threshold 0)"
        return
    fi
    # does the binary know --inline-threshold?
    local probe="$BENCH_DIR/read/probe" err
    mkdir -p "$probe"
    if ! err=$("$PADOCC_BIN" refs "$TESTDATA/series/padocc-1DAgg/file0.nc" -o "$probe/p.json" \
            --inline-threshold 0 -q 2>&1); then
        if grep -q -- "--inline-threshold" <<< "$err"; then
            die "$PADOCC_BIN does not accept 'padocc refs --inline-threshold' (it predates the flag).
  Rebuild and snapshot a binary that has it (cp target/release/padocc $BENCH_DIR/padocc-snapshot),
  or set PADOCC_BIN; to time an old binary at threshold 0 only: READ_OLD_BINARY=1 READ_THRESHOLDS=0.
  padocc said: $(head -1 <<< "$err")"
        fi
        die "probe 'padocc refs ... --inline-threshold 0' failed: $err"
    fi
}

# Warn (do not stop) when a build or anything else is busy; keep the load.
check_quiet() {
    local load busy
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    busy=$(ps -eo comm= | grep -cxE 'cargo|rustc|cc1|cc1plus|ld|make|padocc' || true)
    printf '%s\t%s\t%s\n' "$1" "$load" "$busy" >> "$RES/load.tsv"
    if [[ $busy -gt 0 ]]; then
        log "WARNING: $busy compiler/build/padocc process(es) running (load $load): timings will be inflated"
    elif awk -v l="${load%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
        log "WARNING: load average $load on $(nproc) cores: timings may be inflated"
    fi
}

# ---------------------------------------------------------------- products
# build_case CASE : every kind x threshold of CASE, READ_BUILD_REPS timed runs each;
# writes $RES/CASE/build.tsv and $RES/CASE/products.tsv (kind, threshold, path).
build_case() {
    local c=$1 cj="$RES/cases/$1.json" dir="$RES/$1" t k out rep rc t0 t1 wall
    local -a files refs_args thr_args
    mapfile -t files < <("$PY" -c 'import json,sys; [print(a) for a in json.load(open(sys.argv[1]))["files"]]' "$cj")
    mapfile -t refs_args < <("$PY" -c 'import json,sys; [print(a) for a in json.load(open(sys.argv[1]))["refs_args"]]' "$cj")
    mkdir -p "$dir" "$PROD/$c"
    : > "$dir/build.tsv"; : > "$dir/products.tsv"
    for t in $READ_THRESHOLDS; do
        thr_args=(--inline-threshold "$t")
        [[ "$READ_OLD_BINARY" == 1 ]] && thr_args=()
        for k in $READ_KINDS; do
            out="$PROD/$c/t$t.$k"
            for (( rep = 1; rep <= READ_BUILD_REPS; rep++ )); do
                rm -rf -- "$out"
                rc=0
                t0=$EPOCHREALTIME
                "$PADOCC_BIN" refs "${files[@]}" -o "$out" "${refs_args[@]}" "${thr_args[@]}" -q \
                    2> "$dir/build-$k-$t.err" || rc=$?
                t1=$EPOCHREALTIME
                wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
                printf '%s\t%s\t%s\t%s\t%s\n' "$k" "$t" "$rep" "$rc" "$wall" >> "$dir/build.tsv"
                if [[ $rc -ne 0 ]]; then
                    if grep -q -- "--inline-threshold" "$dir/build-$k-$t.err"; then
                        die "$PADOCC_BIN rejected --inline-threshold: $(head -1 "$dir/build-$k-$t.err")"
                    fi
                    log "FAILED $c $k threshold $t (exit $rc): $(tail -2 "$dir/build-$k-$t.err" | tr '\n' ' ')"
                    break
                fi
            done
            [[ $rc -eq 0 ]] || continue
            log "built $c $k threshold $t: ${wall}s (last of $READ_BUILD_REPS)"
            printf '%s\t%s\t%s\n' "$k" "$t" "$out" >> "$dir/products.tsv"
        done
    done
}

# ---------------------------------------------------------------- main
main() {
    mkdir -p "$RES" "$PROD"
    check_prereqs
    : > "$RES/load.tsv"
    printf '%s (%s)%s\n' "$PADOCC_BIN" "$(stat -c '%y' "$PADOCC_BIN")" \
        "$([[ "$READ_OLD_BINARY" == 1 ]] && echo '; READ_OLD_BINARY=1: built without --inline-threshold')" > "$RES/binary.txt"
    log "binary $PADOCC_BIN; thresholds $READ_THRESHOLDS; kinds $READ_KINDS; $READ_REPS rounds; $(nproc) cores"
    log "generating (or reusing) the generated series in $READ_DATA"
    "$PY" "$HELPER" gen "$READ_DATA"
    rm -rf -- "$RES/cases"
    local -a names
    # shellcheck disable=SC2086
    mapfile -t names < <("$PY" "$HELPER" cases "$TESTDATA" "$READ_DATA" "$RES/cases" $READ_CASES)
    [[ ${#names[@]} -gt 0 ]] || die "no case matched READ_CASES='$READ_CASES'"
    rm -f -- "$RES"/*/read.json
    local c
    for c in "${names[@]}"; do
        check_quiet "$c"
        build_case "$c"
        if [[ ! -s "$RES/$c/products.tsv" ]]; then log "no product built for $c: not timed"; continue; fi
        log "timing reads of $c ($READ_REPS rounds)"
        "$PY" "$HELPER" time "$RES/cases/$c.json" "$RES/$c/products.tsv" "$RES/$c/read.json" "$READ_REPS" \
            2> "$RES/$c/read.err" || log "FAILED read timing of $c: $(tail -2 "$RES/$c/read.err" | tr '\n' ' ')"
    done
    check_quiet end
    "$PY" "$HELPER" report "$BENCH_DIR" "$RES"
}

main "$@"
