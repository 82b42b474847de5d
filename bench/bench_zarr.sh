#!/usr/bin/env bash
# bench/bench_zarr.sh -- time `padocc zarr` against xarray + dask `to_zarr` on the
# 100-file CMIP collection.
#
# What it does (one run, end to end):
#   1. Checks the free space under $BENCH_DIR (both stores exist at once; ~6.5 GB each
#      for 100 files) and takes the first BENCH_FILES files of the cmip collection
#      ($BENCH_DIR/cmip/files.txt, built by bench/bench_refs.sh or
#      ../shared/tools/make_bench_data.py --variant cmip: 100 x tas(365,180,360)
#      float32, deflate, ~5.6 GB). The list used goes to $RES/files.txt.
#   2. Copies the binary under test to $RES/padocc (so a rebuild during the run
#      cannot change it), reads every source file once (page cache), then per rep,
#      back to back on the same warm cache:
#        ours : padocc zarr FILES... -o $WORK/ours.zarr --concat-dim time -q $OURS_ARGS
#               (defaults: Zarr v3, chunks derived to ~4 MiB, Blosc(zstd, level 1,
#               shuffle) since 6b947b3, plain zstd level 3 before)
#        base : $RES/xarray_to_zarr.py: xr.open_mfdataset(FILES, combine="nested",
#               concat_dim="time", data_vars="minimal", coords="minimal",
#               compat="override", parallel=BASE_PARALLEL, chunks={"time": T}),
#               time-dependent variables rechunked to T steps across file
#               boundaries, then .to_zarr($WORK/base.zarr, zarr_format=3, mode="w")
#               with tas encoded with ours' chunk shape and compressor, dask's
#               default threaded scheduler. Both are read from ours.zarr/tas/zarr.json
#               after ours' run (T = 16 here; BloscCodec(cname="zstd", clevel=1,
#               shuffle="shuffle") or ZstdCodec(level=3), ...), so both stores have the
#               same chunks and codec ($RES/ours-encoding.json).
#      The baseline runs once per BASE_VARIANTS entry: "default" (netCDF-C's
#      default chunk cache, 64 MiB per variable and open file; xarray keeps every file
#      open, so its RSS grows ~70 MB per source file) and "cc4m"
#      (netCDF4.set_chunk_cache(4 MiB) first, as ours sets for its reads).
#      Each run is timed under /usr/bin/time -v (wall from $EPOCHREALTIME, peak RSS,
#      user+sys CPU); the output stores are removed (with ours' .partial, since
#      `padocc zarr` resumes) before each run.
#   3. Checks: `padocc verify ours.zarr FILES --concat-dim time --sample N` (exit 0 =
#      equal to the sources); the same on base.zarr for information (xarray writes
#      its own attributes/fill values, so differences there are expected); and a
#      cross-check in Python: both stores opened with xarray (engine zarr) give the
#      same time coordinate and the same values of every data variable at
#      BENCH_XCHECK_STEPS time steps.
#   4. Writes $BENCH_DIR/$BENCH_OUT.json and .txt (zarr-results.*), then deletes both
#      stores unless BENCH_KEEP=1.
#
# Usage (from the repository root):
#   bash bench/bench_zarr.sh
#   BENCH_FILES=4 bash bench/bench_zarr.sh        # quick smoke test (~1 min)
#
# Environment (all optional):
#   BENCH_DIR            data + results root                       [/tmp/padocc-bench]
#   CMIP_LIST            source file list               [$BENCH_DIR/cmip/files.txt]
#   BENCH_FILES          use the first N files of CMIP_LIST           [all: 100]
#   BENCH_REPS           timed runs of ours and of the baseline (alternating) [1]
#   BENCH_KEEP=1         keep ours.zarr and base.zarr                 [delete]
#   BENCH_SKIP_BASELINE=1  time ours only                             [off]
#   BENCH_MIN_FREE_GB    free space needed for 100 files (scaled by N) [15]
#   BENCH_VERIFY_SAMPLE  `padocc verify --sample` blocks per variable  [2]
#   BENCH_XCHECK_STEPS   time steps compared between the two stores    [5]
#   OURS_ARGS            extra `padocc zarr` arguments, e.g. "--compression zstd
#                        --level 3" (the baseline follows ours' codec)        [none]
#   BENCH_OUT            results basename under $BENCH_DIR          [zarr-results]
#   BASE_TIME_CHUNK      baseline chunk length along time  [ours' tas chunk, else 16]
#   BASE_VARIANTS        baseline runs per rep: default and/or cc4m ["default cc4m"]
#   BASE_PARALLEL=1      open_mfdataset(parallel=True)                 [0]
#                        (0 by default: with the netCDF4 engine and dask's threaded
#                        scheduler it segfaults at random, pydata/xarray#7079 and
#                        #11088; 3 of 10 attempts on 2 files crashed here)
#   CONCAT_DIM           concatenation dimension                       [time]
#   REFENV               Python reference env (xarray, dask, zarr 3)  [/tmp/refenv]
#   PADOCC_BIN           binary under test       [<repo>/target/release/padocc]
#
# Notes:
#   * Target (issue): ours >= 5x faster than the baseline at <= 1/4 of its peak RSS;
#     the verdict is given against each baseline variant.
#   * Ours decodes the source chunks itself (byte ranges, every core) when the files
#     can be described by references, with netCDF-C otherwise, and writes with zarrs,
#     chunk buffers bounded by --mem-limit (1 GB by default); the baseline reads
#     through netCDF4-python (netCDF-C) and is bounded by dask's chunking.
#   * Output stores live in $BENCH_DIR/zarr/ (same file system as the sources).
#   * This script never runs cargo: build the release binary yourself first.
set -euo pipefail

# ---------------------------------------------------------------- settings
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/padocc-bench}
CMIP_LIST=${CMIP_LIST:-$BENCH_DIR/cmip/files.txt}
BENCH_FILES=${BENCH_FILES:-}
BENCH_REPS=${BENCH_REPS:-1}
BENCH_KEEP=${BENCH_KEEP:-0}
BENCH_SKIP_BASELINE=${BENCH_SKIP_BASELINE:-0}
BENCH_MIN_FREE_GB=${BENCH_MIN_FREE_GB:-15}
BENCH_VERIFY_SAMPLE=${BENCH_VERIFY_SAMPLE:-2}
BENCH_XCHECK_STEPS=${BENCH_XCHECK_STEPS:-5}
BASE_TIME_CHUNK=${BASE_TIME_CHUNK:-}
OURS_ARGS=${OURS_ARGS:-}
BENCH_OUT=${BENCH_OUT:-zarr-results}
BASE_PARALLEL=${BASE_PARALLEL:-0}
BASE_VARIANTS=${BASE_VARIANTS:-"default cc4m"}
CONCAT_DIM=${CONCAT_DIM:-time}
REFENV=${REFENV:-/tmp/refenv}
PADOCC_SRC=${PADOCC_BIN:-$REPO/target/release/padocc}
PY="$REFENV/bin/python"
RES="$BENCH_DIR/results/zarr"
WORK="$BENCH_DIR/zarr"
RUNS_TSV="$RES/runs.tsv"
OURS="$WORK/ours.zarr"
BASE="$WORK/base.zarr"

log() { printf '[bench_zarr %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf 'bench_zarr.sh: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- checks
check_prereqs() {
    [[ -x "$PADOCC_SRC" ]] || die "binary not found: $PADOCC_SRC (build it with 'cargo build --release'; this script never builds)"
    [[ -x /usr/bin/time ]] || die "/usr/bin/time missing (apt-get install time)"
    [[ -x "$PY" ]] || die "Python reference env not found: $PY (bash ../shared/tools/refenv-setup.sh)"
    "$PY" -c 'import xarray, dask, zarr, netCDF4; assert int(zarr.__version__.split(".")[0]) >= 3' 2>/dev/null \
        || die "$REFENV lacks xarray/dask/netCDF4 or zarr >= 3"
    [[ -s "$CMIP_LIST" ]] || die "file list not found: $CMIP_LIST (build the cmip collection with bench/bench_refs.sh)"
    [[ "$BENCH_REPS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS must be a positive integer"
    [[ -z "$BENCH_FILES" || "$BENCH_FILES" =~ ^[1-9][0-9]*$ ]] || die "BENCH_FILES must be a positive integer"
    local v
    for v in $BASE_VARIANTS; do
        [[ $v == default || $v == cc4m ]] || die "BASE_VARIANTS: unknown variant '$v' (default, cc4m)"
    done
    mkdir -p "$RES" "$WORK"
    : > "$RES/load.tsv"
    : > "$RUNS_TSV"
    rm -f -- "$RES"/*.info.json "$RES"/verify-* "$RES/xcheck.json" "$RES/ours-encoding.json"
    # A private copy: someone may rebuild target/release/padocc during the run.
    cp -f "$PADOCC_SRC" "$RES/padocc"
    PADOCC_BIN="$RES/padocc"
}

check_space() {
    local total n avail_kb need_kb
    total=$(grep -c . "$CMIP_LIST")
    n=${BENCH_FILES:-$total}
    (( n > total )) && n=$total
    rm -rf -- "$OURS" "$OURS.partial" "$BASE"       # leftovers of an interrupted run
    avail_kb=$(df -Pk "$WORK" | awk 'NR == 2 {print $4}')
    need_kb=$(( BENCH_MIN_FREE_GB * 1024 * 1024 * n / 100 ))
    log "free space under $WORK: $(( avail_kb / 1024 / 1024 )) GB; needed for $n files: ~$(( need_kb / 1024 / 1024 )) GB"
    if (( avail_kb < need_kb )); then
        die "only $(( avail_kb / 1024 / 1024 )) GB free under $WORK, ~$(( need_kb / 1024 / 1024 )) GB needed for $n files (both stores at once).
  Use fewer files, e.g. BENCH_FILES=$(( n * avail_kb / need_kb )) bash bench/bench_zarr.sh"
    fi
    head -n "$n" "$CMIP_LIST" | grep . > "$RES/files.txt"
    mapfile -t FILES < "$RES/files.txt"
    log "${#FILES[@]} files, $(du -ch "${FILES[@]}" | tail -1 | cut -f1) on disk"
}

# Timings are only meaningful on a quiet machine: warn (do not stop), keep the load.
check_quiet() {
    local load busy
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    busy=$(ps -eo comm= | grep -cxE 'cargo|rustc|cc1|cc1plus|ld|make' || true)
    printf '%s\t%s\t%s\n' "$1" "$load" "$busy" >> "$RES/load.tsv"
    if [[ $busy -gt 0 ]]; then
        log "WARNING: $busy compiler/build process(es) running (load $load): timings will be inflated"
    elif awk -v l="${load%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
        log "WARNING: load average $load on $(nproc) cores: timings may be inflated"
    fi
}

warm_cache() { xargs -d '\n' cat < "$RES/files.txt" > /dev/null; }

# ---------------------------------------------------------------- baseline script
write_baseline_py() {
    cat > "$RES/xarray_to_zarr.py" <<'PYEOF'
"""xarray + dask baseline: FILES -> one Zarr v3 store (bench/bench_zarr.sh)."""
import json, sys, time
t00 = time.perf_counter()
import dask, netCDF4, xarray as xr, zarr
from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

flist, out, encp, parallel, dim, info, variant = sys.argv[1:8]
parallel = parallel == "1"
enc_ours = json.load(open(encp))   # {"time_chunk": T, "codecs": ours' tas codecs after "bytes"}
ct = int(enc_ours["time_chunk"])
def compressor(c):
    k = c.get("configuration", {})
    if c["name"] == "blosc":
        return BloscCodec(cname=k.get("cname", "zstd"), clevel=k.get("clevel", 5), shuffle=k.get("shuffle", "shuffle"),
                          typesize=k.get("typesize"), blocksize=k.get("blocksize", 0))
    if c["name"] == "zstd":
        return ZstdCodec(level=k.get("level", 0), checksum=k.get("checksum", False))
    if c["name"] == "gzip":
        return GzipCodec(level=k.get("level", 5))
    raise SystemExit(f"codec {c['name']} of ours has no baseline equivalent here")
compressors = [compressor(c) for c in enc_ours["codecs"]] or None
if variant == "cc4m":
    # netCDF-C's chunk cache defaults to 64 MiB per variable of every open file,
    # and xarray keeps all files open: 4 MiB, the size ours sets.
    netCDF4.set_chunk_cache(4 << 20, 1009, 0.75)
files = [l.strip() for l in open(flist) if l.strip()]
t0 = time.perf_counter()
ds = xr.open_mfdataset(files, combine="nested", concat_dim=dim, data_vars="minimal",
                       coords="minimal", compat="override", parallel=parallel, chunks={dim: ct})
# Per-file dask chunks end at each file boundary (365 = 22 x 16 + 13); Zarr needs
# uniform chunks, so rechunk to ct steps across files, as ours writes them.
# (ds.chunk() fails on time_bnds here: "zip() argument 2 is longer than argument 1",
# xarray 2025.12, so the dask arrays are rechunked directly.)
for k in list(ds.data_vars):
    v = ds[k]
    if dim in v.dims:
        ds[k] = v.copy(data=v.data.rechunk({v.dims.index(dim): ct}))
enc = {"tas": {"compressors": compressors, "chunks": (ct,) + ds["tas"].shape[1:]}} if "tas" in ds else {}
t1 = time.perf_counter()
ds.to_zarr(out, zarr_format=3, mode="w", consolidated=True, encoding=enc)
t2 = time.perf_counter()
json.dump({"import_s": round(t0 - t00, 2), "open_s": round(t1 - t0, 2), "write_s": round(t2 - t1, 2),
           "files": len(files), "time_chunk": ct, "parallel_open": parallel, "variant": variant,
           "nc_chunk_cache": netCDF4.get_chunk_cache(), "codecs": enc_ours["codecs"],
           "dask_chunks_tas": [len(c) for c in ds["tas"].chunks] if "tas" in ds else None,
           "versions": {"xarray": xr.__version__, "dask": dask.__version__, "zarr": zarr.__version__}},
          open(info, "w"))
PYEOF
}

# ---------------------------------------------------------------- timing
# sample_rss TIMEPID OUT: peak RssAnon and RssFile (kB) of the child of /usr/bin/time,
# read from /proc every 0.5 s (as bench_pipeline.sh): file-backed pages (mmaps of
# inputs) count in /usr/bin/time's peak RSS but are reclaimable page cache.
sample_rss() {
    local tpid=$1 out=$2 cpid="" anon=0 file=0 a f i
    for (( i = 0; i < 100; i++ )); do
        cpid=$(pgrep -P "$tpid" 2>/dev/null | head -n1 || true)
        [[ -n "$cpid" ]] && break
        kill -0 "$tpid" 2>/dev/null || return 0
        sleep 0.01
    done
    [[ -n "$cpid" ]] || return 0
    while [[ -r "/proc/$cpid/status" ]]; do
        read -r a f < <(awk '/^RssAnon/ {a = $2} /^RssFile/ {f = $2} END {print a + 0, f + 0}' "/proc/$cpid/status" 2>/dev/null) || break
        (( a > anon )) && anon=$a
        (( f > file )) && file=$f
        printf '%s %s\n' "$anon" "$file" > "$out"
        sleep 0.5
    done
}

# timed TOOL REP OUTSTORE CMD... : one run under /usr/bin/time -v, a row in runs.tsv
timed() {
    local tool=$1 rep=$2 store=$3; shift 3
    local base="$RES/$tool-$rep" t0 t1 rc=0 wall rss user sys anon="" file="" bytes nfiles
    rm -rf -- "$store" "$store.partial" "$base.rss"
    check_quiet "$tool-$rep"
    t0=$EPOCHREALTIME
    /usr/bin/time -v -o "$base.time" "$@" > "$base.log" 2>&1 &
    local tpid=$! spid
    sample_rss "$tpid" "$base.rss" &
    spid=$!
    wait "$tpid" || rc=$?
    t1=$EPOCHREALTIME
    wait "$spid" 2>/dev/null || true
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$base.time")
    user=$(awk -F': ' '/User time \(seconds\)/ {print $2}' "$base.time")
    sys=$(awk -F': ' '/System time \(seconds\)/ {print $2}' "$base.time")
    [[ -s "$base.rss" ]] && read -r anon file < "$base.rss"
    bytes=$(du -sb -- "$store" 2>/dev/null | cut -f1 || true)
    nfiles=$(find "$store" -type f 2>/dev/null | wc -l || true)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$rep" "$rc" "$wall" "${rss:-}" \
        "${user:-}" "${sys:-}" "$anon" "$file" "${bytes:-}" "${nfiles:-}" >> "$RUNS_TSV"
    if [[ $rc -ne 0 ]]; then
        log "$tool FAILED (rep $rep, exit $rc): $(grep -v '^\s*$' "$base.log" | grep -v 'Command exited' | tail -3 | tr '\n' ' ')"
    fi
    log "$tool rep $rep: ${wall}s, maxrss $(( ${rss:-0} / 1024 )) MB, cpu $(awk -v u="${user:-0}" -v s="${sys:-0}" 'BEGIN{print u+s}')s, store $(( ${bytes:-0} / 1000000 )) MB in ${nfiles:-?} files (exit $rc)"
    return 0
}

# ours_encoding OUT: ours' tas chunk length along the concat dim and compressor(s),
# for the baseline (a zstd level 3 / 16-step fallback when ours' store is missing).
ours_encoding() {
    "$PY" - "$OURS/tas/zarr.json" "$CONCAT_DIM" "${BASE_TIME_CHUNK:-}" "$1" <<'PYEOF'
import json, sys
meta, dim, override, out = sys.argv[1:5]
try:
    m = json.load(open(meta))
    ct = m["chunk_grid"]["configuration"]["chunk_shape"][m.get("dimension_names", [dim]).index(dim)]
    codecs = [c for c in m["codecs"] if c["name"] not in ("bytes", "transpose")]
except Exception as e:
    print(f"ours' {meta} unreadable ({e}): baseline falls back to 16 steps, zstd level 3", file=sys.stderr)
    ct, codecs = 16, [{"name": "zstd", "configuration": {"level": 3, "checksum": False}}]
json.dump({"time_chunk": int(override or ct), "codecs": codecs}, open(out, "w"))
PYEOF
}

bench() {
    local rep v
    log "warming the page cache: ${#FILES[@]} files"
    warm_cache
    for (( rep = 1; rep <= BENCH_REPS; rep++ )); do
        # shellcheck disable=SC2086  # $OURS_ARGS is a deliberately word-split argument list
        timed ours "$rep" "$OURS" "$PADOCC_BIN" zarr "${FILES[@]}" -o "$OURS" --concat-dim "$CONCAT_DIM" -q $OURS_ARGS
        [[ "$BENCH_SKIP_BASELINE" == 1 ]] && continue
        ours_encoding "$RES/ours-encoding.json"
        log "baseline encoding (from ours' store): $(cat "$RES/ours-encoding.json")"
        for v in $BASE_VARIANTS; do
            local tool=xarray
            [[ $v == default ]] || tool=xarray-$v
            warm_cache     # 6-7 GB of writes may have pushed some sources out
            timed "$tool" "$rep" "$BASE" "$PY" "$RES/xarray_to_zarr.py" "$RES/files.txt" "$BASE" "$RES/ours-encoding.json" \
                "$BASE_PARALLEL" "$CONCAT_DIM" "$RES/$tool-$rep.info.json" "$v"
        done
    done
}

# ---------------------------------------------------------------- checks of the products
verify() {   # verify NAME STORE
    local name=$1 store=$2 t0 t1 rc=0
    [[ -d "$store" ]] || { log "verify $name: no store"; return 0; }
    log "padocc verify $name (--sample $BENCH_VERIFY_SAMPLE)"
    t0=$EPOCHREALTIME
    /usr/bin/time -v -o "$RES/verify-$name.time" "$PADOCC_BIN" verify "$store" "${FILES[@]}" \
        --concat-dim "$CONCAT_DIM" --sample "$BENCH_VERIFY_SAMPLE" > "$RES/verify-$name.txt" 2>&1 || rc=$?
    t1=$EPOCHREALTIME
    printf '%s\t%s\t%s\n' "$rc" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" \
        "$(awk -F': ' '/Maximum resident set size/ {print $2}' "$RES/verify-$name.time")" > "$RES/verify-$name.rc"
    log "verify $name: exit $rc ($(grep -v '^\s*$' "$RES/verify-$name.txt" | grep -v 'Command exited' | tail -1 | cut -c1-200))"
}

cross_check() {
    [[ -d "$OURS" && -d "$BASE" ]] || { log "cross-check skipped: a store is missing"; rm -f "$RES/xcheck.json"; return 0; }
    log "cross-check: both stores through xarray, $BENCH_XCHECK_STEPS time steps"
    "$PY" - "$OURS" "$BASE" "$BENCH_XCHECK_STEPS" "$CONCAT_DIM" "$RES/xcheck.json" <<'PYEOF' || log "cross-check FAILED to run"
import json, sys
import numpy as np, xarray as xr
ours, base, k, dim, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
a = xr.open_zarr(ours, zarr_format=3)
b = xr.open_zarr(base, zarr_format=3)
n = a.sizes[dim]
steps = sorted({int(round(i * (n - 1) / max(k - 1, 1))) for i in range(k)})
r = {"dims_ours": dict(a.sizes), "dims_base": dict(b.sizes),
     "vars_ours": sorted(a.variables), "vars_base": sorted(b.variables),
     "time_equal": bool(a[dim].equals(b[dim])), "steps": steps}
diff = {}
for v in sorted(set(a.data_vars) & set(b.data_vars)):
    x, y = (a[v].isel({dim: steps}), b[v].isel({dim: steps})) if dim in a[v].dims else (a[v], b[v])
    x, y = x.values, y.values       # decoded: floats (NaN for fill), cftime objects for times
    diff[v] = bool(x.shape == y.shape and np.array_equal(x, y, equal_nan=x.dtype.kind == "f"))
r["values_equal"] = diff
r["ok"] = r["time_equal"] and all(diff.values()) and r["dims_ours"] == r["dims_base"]
json.dump(r, open(out, "w"), indent=1)
print(json.dumps(r))
PYEOF
}

# ---------------------------------------------------------------- report
report() {
    "$PY" - "$BENCH_DIR" "$RES" "$(nproc)" "$CMIP_LIST" "$PADOCC_SRC" "$REPO" "$BENCH_OUT" "$OURS_ARGS" <<'PYEOF'
import glob, hashlib, json, os, statistics, subprocess, sys
bench_dir, res, ncores, cmip_list, src_bin, repo, bench_out, ours_args = sys.argv[1:9]
files = [l.strip() for l in open(os.path.join(res, "files.txt")) if l.strip()]
runs = {}
for line in open(os.path.join(res, "runs.tsv")):
    tool, rep, rc, wall, rss, user, sys_, anon, file_, nbytes, nfiles = line.rstrip("\n").split("\t")
    num = lambda s, t=float: t(s) if s else None
    runs.setdefault(tool, []).append(dict(rep=int(rep), rc=int(rc), wall=float(wall),
        rss_mb=num(rss, int) / 1024 if rss else None, cpu=(num(user) or 0) + (num(sys_) or 0),
        anon_mb=num(anon, int) / 1024 if anon else None, file_mb=num(file_, int) / 1024 if file_ else None,
        bytes=num(nbytes, int), nfiles=num(nfiles, int)))
def r2(x, n=2):
    return None if x is None else round(x, n)
def summary(rs):
    ok = [r for r in rs if r["rc"] == 0]
    o = {"reps": len(rs), "failed_reps": len(rs) - len(ok)}
    if not ok:
        o["exit_codes"] = [r["rc"] for r in rs]
        return o
    wall = statistics.median(r["wall"] for r in ok)
    cpu = statistics.median(r["cpu"] for r in ok)
    o.update({"wall_s": r2(wall, 2), "wall_all_s": [r["wall"] for r in ok],
              "maxrss_mb": r2(max(r["rss_mb"] for r in ok), 1), "cpu_s": r2(cpu, 1),
              "cores_used": r2(cpu / wall), "store_bytes": ok[-1]["bytes"], "store_files": ok[-1]["nfiles"]})
    an = [r["anon_mb"] for r in ok if r["anon_mb"]]
    fi = [r["file_mb"] for r in ok if r["file_mb"]]
    if an:
        o["peak_anon_mb_sampled"] = r2(max(an), 1)
        o["peak_file_mb_sampled"] = r2(max(fi), 1) if fi else None
    return o
raw = len(files) * 365 * 180 * 360 * 4
info_p = os.path.join(os.path.dirname(cmip_list), "BENCH_INFO.json")
info = json.load(open(info_p)) if os.path.exists(info_p) else {}
if info.get("params"):
    p = info["params"]
    raw = len(files) * p["ntime"] * p["nlat"] * p["nlon"] * 4
load = [l.rstrip("\n").split("\t") for l in open(os.path.join(res, "load.tsv"))]
h = hashlib.sha256(open(os.path.join(res, "padocc"), "rb").read()).hexdigest()[:16]
try:
    head = subprocess.run(["git", "-C", repo, "log", "-1", "--format=%h %cI"], capture_output=True, text=True).stdout.strip()
except Exception:
    head = None
out = {"host": {"nproc": int(ncores), "load": load},
       "binary": {"source": src_bin, "mtime": os.path.getmtime(src_bin) if os.path.exists(src_bin) else None,
                  "sha256_16": h, "repo_head": head},
       "files": len(files), "bytes_on_disk": sum(os.path.getsize(f) for f in files), "bytes_raw_tas": raw,
       "ours_args": ours_args}
ep = os.path.join(res, "ours-encoding.json")
if os.path.exists(ep):
    out["tas_encoding_both"] = json.load(open(ep))
tools = ["ours"] + [t for t in ("xarray", "xarray-cc4m") if t in runs]
for t in tools:
    out[t] = summary(runs.get(t, []))
    if out[t].get("wall_s"):
        out[t]["raw_mb_per_s"] = r2(raw / 1e6 / out[t]["wall_s"], 1)
    infos = sorted(glob.glob(os.path.join(res, f"{t}-[0-9]*.info.json")))
    if t != "ours" and infos and out[t].get("wall_s"):
        out[t]["inner"] = json.load(open(infos[-1]))
o = out["ours"]
out["ratios"] = {}
for t in tools[1:]:
    b = out[t]
    if o.get("wall_s") and b.get("wall_s"):
        sp, rr = r2(b["wall_s"] / o["wall_s"], 2), r2(o["maxrss_mb"] / b["maxrss_mb"], 3)
        out["ratios"][t] = {"speedup_wall": sp, "rss_ratio": rr,       # baseline / ours, ours / baseline
                            "speedup_ge_5": sp >= 5, "rss_le_quarter": rr <= 0.25}
for name, key in (("ours", "ours"), ("xarray", "base_store")):
    p = os.path.join(res, f"verify-{name}.rc")
    if os.path.exists(p):
        rc, wall, rss = (open(p).read().split() + [""])[:3]
        txt = [l for l in open(os.path.join(res, f"verify-{name}.txt")).read().strip().splitlines()
               if not l.startswith("\tCommand exited")]
        out.setdefault("verify", {})[key] = {"exit": int(rc), "wall_s": float(wall),
                                             "maxrss_mb": r2(int(rss) / 1024, 1) if rss else None, "tail": txt[-6:]}
xp = os.path.join(res, "xcheck.json")
if os.path.exists(xp):
    out["cross_check"] = json.load(open(xp))
json.dump(out, open(os.path.join(bench_dir, bench_out + ".json"), "w"), indent=1)

f = lambda x, fm="{:.2f}": "-" if x is None else fm.format(x)
lines = [f"padocc zarr vs xarray.open_mfdataset(...).to_zarr(): {out['files']} files, "
         f"{out['bytes_on_disk'] / 1e9:.2f} GB on disk, {raw / 1e9:.2f} GB raw tas; {ncores} cores; "
         f"median of {max(out[t].get('reps', 0) for t in tools)} run(s), warm cache",
         f"ours: padocc zarr FILES -o ours.zarr --concat-dim time -q {ours_args}".rstrip()
         + (f"; tas chunks along time and codec, both stores: {out['tas_encoding_both']}" if "tas_encoding_both" in out else ""), ""]
hdr = "{:<12} | {:>8} {:>8} {:>6} {:>8} | {:>8} {:>7} | {:>8} {:>7} | {}".format(
    "tool", "wall s", "peak MB", "cores", "raw MB/s", "store MB", "objects", "speedup", "RSS x", "notes")
lines += [hdr, "-" * len(hdr)]
for t in tools:
    v = out[t]
    rt = out["ratios"].get(t, {})
    note = f"FAILED {v['failed_reps']}/{v['reps']} run(s) {v.get('exit_codes', '')}" if v.get("failed_reps") else ""
    lines.append("{:<12} | {:>8} {:>8} {:>6} {:>8} | {:>8} {:>7} | {:>8} {:>7} | {}".format(
        t, f(v.get("wall_s")), f(v.get("maxrss_mb"), "{:.0f}"), f(v.get("cores_used")),
        f(v.get("raw_mb_per_s"), "{:.0f}"), f(v["store_bytes"] / 1e6 if v.get("store_bytes") else None, "{:.0f}"),
        f(v.get("store_files"), "{}"), f(rt.get("speedup_wall"), "{:.2f}x"), f(rt.get("rss_ratio"), "{:.3f}"), note))
lines.append("(speedup = baseline wall / ours; RSS x = ours peak RSS / baseline's)")
lines.append("")
for t, rt in out["ratios"].items():
    lines.append(f"vs {t}: speedup {rt['speedup_wall']:.2f}x (target >= 5x: {'met' if rt['speedup_ge_5'] else 'MISSED'}), "
                 f"RSS ratio {rt['rss_ratio']:.3f} (target <= 0.25: {'met' if rt['rss_le_quarter'] else 'MISSED'})")
for t in tools:
    v = out[t]
    if v.get("peak_anon_mb_sampled"):
        lines.append(f"{t}: peak RSS {f(v.get('maxrss_mb'), '{:.0f}')} MB; sampled every 0.5 s: anonymous <= "
                     f"{v['peak_anon_mb_sampled']:.0f} MB, file-backed <= {f(v.get('peak_file_mb_sampled'), '{:.0f}')} MB")
    i = v.get("inner")
    if i:
        lines.append(f"{t} inner: import {i['import_s']} s, open_mfdataset {i['open_s']} s, to_zarr {i['write_s']} s; "
                     f"time chunk {i['time_chunk']}, parallel open {i['parallel_open']}, netCDF chunk cache {i['nc_chunk_cache'][0] >> 20} MiB")
if tools[1:] and out[tools[1]].get("inner"):
    lines.append(f"versions: {out[tools[1]]['inner']['versions']}")
for key, ver in out.get("verify", {}).items():
    lines.append(f"padocc verify {key} --sample: exit {ver['exit']} ({'equal' if ver['exit'] == 0 else 'differs'}) in {ver['wall_s']:.1f} s, "
                 f"{f(ver.get('maxrss_mb'), '{:.0f}')} MB: "
                 + " | ".join(l.strip() for l in ver["tail"] if not l.startswith(("HDF5-DIAG", "  #", "    major", "    minor")))[:400])
if "cross_check" in out:
    c = out["cross_check"]
    lines.append(f"cross-check ours vs baseline store (xarray reads both): {'same' if c.get('ok') else 'DIFFERENT'} "
                 f"(time equal {c.get('time_equal')}, values at steps {c.get('steps')}: {c.get('values_equal')})")
text = "\n".join(lines)
print(text)
open(os.path.join(bench_dir, bench_out + ".txt"), "w").write(text + "\n")
print(f"\nresults: {os.path.join(bench_dir, bench_out + '.json')}")
PYEOF
}

cleanup_stores() {
    if [[ "$BENCH_KEEP" == 1 ]]; then
        log "keeping $OURS and $BASE (BENCH_KEEP=1)"
    else
        rm -rf -- "$OURS" "$OURS.partial" "$BASE"
        log "deleted the output stores (BENCH_KEEP=1 keeps them)"
    fi
}

# ---------------------------------------------------------------- main
main() {
    check_prereqs
    check_space
    write_baseline_py
    log "binary $PADOCC_BIN (copy of $PADOCC_SRC); $(nproc) cores; results in $RES"
    bench
    check_quiet end
    verify ours "$OURS"
    [[ "$BENCH_SKIP_BASELINE" == 1 ]] || verify xarray "$BASE"
    cross_check
    report
    cleanup_stores
}

main "$@"
