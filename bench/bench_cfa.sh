#!/usr/bin/env bash
# bench/bench_cfa.sh -- time `padocc cfa` against cfapyx on up to 10 000 small files.
#
# What it does (one run, end to end):
#   1. Data: CFA_FILES (10 000) small CMIP-like files in $CFA_DIR, built once with
#      ../shared/tools/make_bench_data.py --variant cmip --files 10000 --ntime 30
#      --nlat 4 --nlon 8 --jobs $(nproc) (~35 s, ~350 MB: tas(30,4,8) float32 deflate,
#      time unlimited, time_bnds/lat_bnds/lon_bnds, one year per file). Present when
#      $CFA_DIR/BENCH_INFO.json and files.txt exist.
#   2. For each file count N of CFA_COUNTS (the first N files), back to back:
#        ours   : padocc cfa FILES... -o $WORK/ours-N.nca --concat-dim time -q
#                 one untimed warm-up, then BENCH_REPS timed runs (median wall,
#                 max peak RSS);
#        cfapyx : $RES/cfapyx_create.py: CFANetCDF(files).create(agg_dims=["time"])
#                 then .write($WORK/cfapyx-N.nca), BASE_REPS runs. Before each count
#                 the cfapyx time is estimated from the largest count measured so
#                 far (linear in N); above BASE_LIMIT_MIN minutes it is not run but
#                 extrapolated (labelled so), and then both tools are also timed on
#                 2000 files so that two measured counts bound the extrapolation.
#      All runs under /usr/bin/time -v; the sources are read once first (page cache).
#   3. Checks, on ours' product at the smallest N: it opens with cfapyx'
#      xarray engine (`xr.open_dataset(p, engine="CFA")`, printed to
#      $RES/open-ours-N.txt) and the values of the first, a middle and the last
#      file read through it equal netCDF4's reading of those files;
#      `padocc verify ours-N.nca FILES --concat-dim time --sample 1` at every N up to
#      CFA_VERIFY_MAX (exit 0 = equal); the same on cfapyx' product at the smallest
#      N, for information.
#   4. Writes $BENCH_DIR/cfa-results.json and cfa-results.txt.
#
# Usage (from the repository root):
#   bash bench/bench_cfa.sh
#   CFA_COUNTS="100 1000" BENCH_REPS=1 bash bench/bench_cfa.sh     # quicker
#
# Environment (all optional):
#   BENCH_DIR        results root                                [/tmp/padocc-bench]
#   CFA_DIR          the small-file collection             [$BENCH_DIR/cfa10k]
#   CFA_FILES        files generated in CFA_DIR (if absent)           [10000]
#   CFA_NTIME, CFA_NLAT, CFA_NLON   generator shape per file        [30, 4, 8]
#   CFA_COUNTS       file counts timed (first N files)        ["1000 10000"]
#   BENCH_REPS       timed runs of ours per count (after a warm-up)      [3]
#   BASE_REPS        runs of cfapyx per count                            [1]
#   BASE_LIMIT_MIN   largest estimated cfapyx run, minutes               [25]
#   BENCH_SKIP_BASELINE=1  time ours only                              [off]
#   CFA_VERIFY_MAX   verify ours' products only up to this many files [10000]
#                    (`padocc verify` of the 10 000-file product: 48 s, 70 MB since
#                    f0f010b; 5 min and 9.8 GB RSS before, when it kept every file open)
#   CONCAT_DIM       concatenation dimension                          [time]
#   REFENV           Python reference env (cfapyx, xarray)     [/tmp/refenv]
#   TOOLS            shared tools directory          [<repo>/../shared/tools]
#   PADOCC_BIN       binary under test        [<repo>/target/release/padocc]
#
# Notes:
#   * Targets (issue): ours <= 10 s on 10 000 files; >= 20x faster than cfapyx.
#   * The file list is passed on the command line (padocc has no --files-from);
#     the script checks it fits in ARG_MAX (10 000 paths of ~90 bytes: ~1 MB of 2 MB).
#   * Products are a few MB; they are kept in $BENCH_DIR/cfa/.
#   * This script never runs cargo: build the release binary yourself first.
set -euo pipefail

# ---------------------------------------------------------------- settings
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/padocc-bench}
CFA_DIR=${CFA_DIR:-$BENCH_DIR/cfa10k}
CFA_FILES=${CFA_FILES:-10000}
CFA_NTIME=${CFA_NTIME:-30}
CFA_NLAT=${CFA_NLAT:-4}
CFA_NLON=${CFA_NLON:-8}
CFA_COUNTS=${CFA_COUNTS:-"1000 10000"}
BENCH_REPS=${BENCH_REPS:-3}
BASE_REPS=${BASE_REPS:-1}
BASE_LIMIT_MIN=${BASE_LIMIT_MIN:-25}
BENCH_SKIP_BASELINE=${BENCH_SKIP_BASELINE:-0}
CFA_VERIFY_MAX=${CFA_VERIFY_MAX:-10000}
CONCAT_DIM=${CONCAT_DIM:-time}
REFENV=${REFENV:-/tmp/refenv}
TOOLS=${TOOLS:-$(cd "$REPO/.." && pwd)/shared/tools}
PADOCC_SRC=${PADOCC_BIN:-$REPO/target/release/padocc}
PY="$REFENV/bin/python"
RES="$BENCH_DIR/results/cfa"
WORK="$BENCH_DIR/cfa"
RUNS_TSV="$RES/runs.tsv"

log() { printf '[bench_cfa %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf 'bench_cfa.sh: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- checks
check_prereqs() {
    [[ -x "$PADOCC_SRC" ]] || die "binary not found: $PADOCC_SRC (build it with 'cargo build --release'; this script never builds)"
    [[ -x /usr/bin/time ]] || die "/usr/bin/time missing (apt-get install time)"
    [[ -x "$PY" ]] || die "Python reference env not found: $PY (bash ../shared/tools/refenv-setup.sh)"
    [[ "$BENCH_SKIP_BASELINE" == 1 ]] || "$PY" -c 'import cfapyx, xarray, netCDF4' 2>/dev/null \
        || die "$REFENV lacks cfapyx/xarray/netCDF4"
    [[ -f "$TOOLS/make_bench_data.py" ]] || die "not found: $TOOLS/make_bench_data.py (set TOOLS=...)"
    [[ "$BENCH_REPS" =~ ^[1-9][0-9]*$ && "$BASE_REPS" =~ ^[1-9][0-9]*$ ]] \
        || die "BENCH_REPS and BASE_REPS must be positive integers"
    local n
    for n in $CFA_COUNTS; do
        [[ "$n" =~ ^[1-9][0-9]*$ && $n -ge 2 ]] || die "CFA_COUNTS: '$n' is not an integer >= 2"
        (( n <= CFA_FILES )) || die "CFA_COUNTS: $n > CFA_FILES ($CFA_FILES)"
    done
    mkdir -p "$RES" "$WORK"
    : > "$RES/load.tsv"
    : > "$RUNS_TSV"
    rm -f -- "$RES"/verify-* "$RES"/open-* "$RES"/*.info.json
    cp -f "$PADOCC_SRC" "$RES/padocc"      # a rebuild during the run cannot change it
    PADOCC_BIN="$RES/padocc"
}

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

# ---------------------------------------------------------------- data
build_data() {
    if [[ -f "$CFA_DIR/BENCH_INFO.json" && -s "$CFA_DIR/files.txt" ]]; then
        local have
        have=$(grep -c . "$CFA_DIR/files.txt")
        (( have >= CFA_FILES )) || die "$CFA_DIR holds $have files, CFA_FILES=$CFA_FILES (remove it to rebuild)"
        log "collection present: $CFA_DIR ($have files)"
        return
    fi
    log "building $CFA_FILES files in $CFA_DIR (make_bench_data.py --ntime $CFA_NTIME --nlat $CFA_NLAT --nlon $CFA_NLON)"
    mkdir -p "$CFA_DIR"
    "$PY" "$TOOLS/make_bench_data.py" --out "$CFA_DIR" --variant cmip --files "$CFA_FILES" \
        --ntime "$CFA_NTIME" --nlat "$CFA_NLAT" --nlon "$CFA_NLON" --jobs "$(nproc)" \
        > "$CFA_DIR/make_bench_data.log" 2>&1 \
        || { tail -5 "$CFA_DIR/make_bench_data.log" >&2; die "data generation failed"; }
    log "built: $(grep -c . "$CFA_DIR/files.txt") files, $(du -sh "$CFA_DIR" | cut -f1)"
}

# list_of N: the first N files, in $RES/files-N.txt; checks the command line fits.
list_of() {
    local n=$1 bytes max
    head -n "$n" "$CFA_DIR/files.txt" | grep . > "$RES/files-$n.txt"
    # argv strings + pointers + the environment must fit in ARG_MAX
    bytes=$(awk '{ b += length($0) + 1 + 8 } END { print b + 0 }' "$RES/files-$n.txt")
    bytes=$(( bytes + $(env | wc -c) + 4096 ))
    max=$(getconf ARG_MAX)
    (( bytes < max )) || die "$n paths need ~$bytes bytes of arguments, ARG_MAX is $max: use fewer files"
}

# ---------------------------------------------------------------- baseline script
write_baseline_py() {
    cat > "$RES/cfapyx_create.py" <<'PYEOF'
"""cfapyx baseline: FILES -> one CFA-netCDF file (bench/bench_cfa.sh)."""
import json, sys, time
t00 = time.perf_counter()
import cfapyx
from cfapyx import CFANetCDF
flist, out, dim, info = sys.argv[1:5]
files = [l.strip() for l in open(flist) if l.strip()]
t0 = time.perf_counter()
ds = CFANetCDF(files)
ds.create(agg_dims=[dim])
t1 = time.perf_counter()
ds.write(out)
t2 = time.perf_counter()
json.dump({"import_s": round(t0 - t00, 3), "create_s": round(t1 - t0, 3), "write_s": round(t2 - t1, 3),
           "files": len(files), "version": getattr(cfapyx, "__version__", None)}, open(info, "w"))
PYEOF
}

# ---------------------------------------------------------------- timing
# timed TOOL N REP OUT CMD... : one run under /usr/bin/time -v; REP 0 = untimed warm-up
timed() {
    local tool=$1 n=$2 rep=$3 out=$4; shift 4
    local base="$RES/$tool-$n-$rep" t0 t1 rc=0 wall rss user sys bytes
    rm -f -- "$out"
    t0=$EPOCHREALTIME
    /usr/bin/time -v -o "$base.time" "$@" > "$base.log" 2>&1 || rc=$?
    t1=$EPOCHREALTIME
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    if [[ $rc -ne 0 ]]; then
        log "$tool FAILED ($n files, rep $rep, exit $rc): $(grep -v '^\s*$' "$base.log" | grep -v 'Command exited' | tail -3 | tr '\n' ' ' | cut -c1-400)"
    fi
    [[ $rep -eq 0 ]] && { log "warm-up $tool $n files: ${wall}s (exit $rc)"; return 0; }
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$base.time")
    user=$(awk -F': ' '/User time \(seconds\)/ {print $2}' "$base.time")
    sys=$(awk -F': ' '/System time \(seconds\)/ {print $2}' "$base.time")
    bytes=$(stat -c %s -- "$out" 2>/dev/null || true)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$n" "$rep" "$rc" "$wall" "${rss:-}" \
        "${user:-}" "${sys:-}" "${bytes:-}" >> "$RUNS_TSV"
    log "$tool $n files rep $rep: ${wall}s, maxrss $(( ${rss:-0} / 1024 )) MB, cpu $(awk -v u="${user:-0}" -v s="${sys:-0}" 'BEGIN{print u+s}')s (exit $rc)"
}

run_ours() {   # run_ours N
    local n=$1 rep
    local -a files
    mapfile -t files < "$RES/files-$n.txt"
    check_quiet "ours-$n"
    for (( rep = 0; rep <= BENCH_REPS; rep++ )); do
        timed ours "$n" "$rep" "$WORK/ours-$n.nca" \
            "$PADOCC_BIN" cfa "${files[@]}" -o "$WORK/ours-$n.nca" --concat-dim "$CONCAT_DIM" -q
    done
}

run_cfapyx() {   # run_cfapyx N
    local n=$1 rep
    check_quiet "cfapyx-$n"
    for (( rep = 1; rep <= BASE_REPS; rep++ )); do
        timed cfapyx "$n" "$rep" "$WORK/cfapyx-$n.nca" \
            "$PY" "$RES/cfapyx_create.py" "$RES/files-$n.txt" "$WORK/cfapyx-$n.nca" "$CONCAT_DIM" \
            "$RES/cfapyx-$n-$rep.info.json"
    done
}

# estimate N: cfapyx seconds at N, linear from the largest count measured so far
# (prints nothing when none is measured yet).
estimate_cfapyx() {
    awk -F'\t' -v n="$1" '$1 == "cfapyx" && $4 == 0 && $2 + 0 > best { best = $2 + 0; w = $5 }
        END { if (best) printf "%.0f", w * n / best }' "$RUNS_TSV"
}

SKIPPED=()
bench() {
    local n est counts
    counts=$(tr ' ' '\n' <<< "$CFA_COUNTS" | grep . | sort -n | uniq | tr '\n' ' ')
    log "warming the page cache: $CFA_FILES files"
    xargs -d '\n' cat < "$CFA_DIR/files.txt" > /dev/null
    for n in $counts; do
        list_of "$n"
        run_ours "$n"
        [[ "$BENCH_SKIP_BASELINE" == 1 ]] && continue
        est=$(estimate_cfapyx "$n")
        if [[ -n "$est" ]] && (( est > BASE_LIMIT_MIN * 60 )); then
            log "cfapyx on $n files estimated at ${est}s (> $BASE_LIMIT_MIN min): not run, extrapolated"
            SKIPPED+=("$n")
            continue
        fi
        run_cfapyx "$n"
    done
    # An extrapolation needs two measured counts: add 2000 when it is missing.
    if (( ${#SKIPPED[@]} > 0 && CFA_FILES >= 2000 )) && ! grep -qP '^cfapyx\t2000\t' "$RUNS_TSV"; then
        log "timing 2000 files too (second measured point for the extrapolation)"
        list_of 2000
        run_ours 2000
        run_cfapyx 2000
    fi
}

# ---------------------------------------------------------------- checks of the products
verify() {   # verify TOOL N
    local tool=$1 n=$2 p="$WORK/$1-$2.nca" t0 t1 rc=0
    local -a files
    [[ -s "$p" ]] || { log "verify $tool $n: no product"; return 0; }
    mapfile -t files < "$RES/files-$n.txt"
    t0=$EPOCHREALTIME
    /usr/bin/time -v -o "$RES/verify-$tool-$n.time" "$PADOCC_BIN" verify "$p" "${files[@]}" \
        --concat-dim "$CONCAT_DIM" --sample 1 > "$RES/verify-$tool-$n.txt" 2>&1 || rc=$?
    t1=$EPOCHREALTIME
    printf '%s\t%s\t%s\n' "$rc" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" \
        "$(awk -F': ' '/Maximum resident set size/ {print $2}' "$RES/verify-$tool-$n.time")" > "$RES/verify-$tool-$n.rc"
    log "padocc verify $tool-$n.nca --sample 1: exit $rc, $(cut -f2 "$RES/verify-$tool-$n.rc") s, maxrss $(( $(cut -f3 "$RES/verify-$tool-$n.rc") / 1024 )) MB ($(grep -v '^\s*$' "$RES/verify-$tool-$n.txt" | grep -v 'Command exited' | tail -1 | cut -c1-160))"
}

open_with_cfapyx() {   # open_with_cfapyx N : ours' product through xarray engine="CFA"
    local n=$1 rc=0
    [[ -s "$WORK/ours-$n.nca" ]] || return 0
    "$PY" - "$WORK/ours-$n.nca" "$RES/files-$n.txt" "$CONCAT_DIM" "$RES/open-ours-$n.json" \
        > "$RES/open-ours-$n.txt" 2>&1 <<'PYEOF' || rc=$?
import json, sys
import numpy as np, netCDF4, xarray as xr
p, flist, dim, out = sys.argv[1:5]
files = [l.strip() for l in open(flist) if l.strip()]
ds = xr.open_dataset(p, engine="CFA")
print(ds)
r = {"sizes": dict(ds.sizes), "data_vars": sorted(ds.data_vars), "files_checked": {}}
# Fragments must be read through cfapyx by slices: an index list
# (isel(time=[0, -1])) fails inside cfapyx (dask reshape "total size of new array
# must be unchanged"), for cfapyx' own products too.
lens = []
for f in files:
    with netCDF4.Dataset(f) as nc:
        lens.append(len(nc.dimensions[dim]))
starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
for i in sorted({0, len(files) // 2, len(files) - 1}):
    with netCDF4.Dataset(files[i]) as nc:
        want = nc["tas"][:].filled(np.nan)
    got = ds["tas"].isel({dim: slice(int(starts[i]), int(starts[i] + lens[i]))}).values
    r["files_checked"][i] = bool(got.shape == want.shape and np.array_equal(got, want, equal_nan=True))
r["time_first_last"] = [str(ds[dim].values[0]), str(ds[dim].values[-1])]
r["ok"] = all(r["files_checked"].values()) and ds.sizes[dim] == sum(lens)
json.dump(r, open(out, "w"), indent=1)
print(json.dumps(r))
PYEOF
    log "xr.open_dataset(ours-$n.nca, engine=\"CFA\"): exit $rc; $(tail -1 "$RES/open-ours-$n.txt" | cut -c1-300)"
}

# ---------------------------------------------------------------- report
report() {
    "$PY" - "$BENCH_DIR" "$RES" "$(nproc)" "$CFA_DIR" "$PADOCC_SRC" "$REPO" "${SKIPPED[*]:-}" <<'PYEOF'
import glob, hashlib, json, os, statistics, subprocess, sys
bench_dir, res, ncores, cfa_dir, src_bin, repo, skipped = sys.argv[1:8]
skipped = [int(x) for x in skipped.split()]
runs = {}
for line in open(os.path.join(res, "runs.tsv")):
    tool, n, rep, rc, wall, rss, user, sys_, nbytes = line.rstrip("\n").split("\t")
    runs.setdefault((tool, int(n)), []).append(dict(rc=int(rc), wall=float(wall),
        rss_mb=int(rss) / 1024 if rss else None, cpu=float(user or 0) + float(sys_ or 0),
        bytes=int(nbytes) if nbytes else None))
r2 = lambda x, n=2: None if x is None else round(x, n)
def summary(rs, n):
    ok = [r for r in rs if r["rc"] == 0]
    o = {"reps": len(rs), "failed_reps": len(rs) - len(ok)}
    if ok:
        wall = statistics.median(r["wall"] for r in ok)
        cpu = statistics.median(r["cpu"] for r in ok)
        o.update({"wall_s": r2(wall, 3), "wall_all_s": [r["wall"] for r in ok],
                  "maxrss_mb": r2(max(r["rss_mb"] for r in ok), 1), "cpu_s": r2(cpu),
                  "cores_used": r2(cpu / wall), "ms_per_file": r2(1000 * wall / n, 3),
                  "output_bytes": ok[-1]["bytes"]})
    return o
info_p = os.path.join(cfa_dir, "BENCH_INFO.json")
info = json.load(open(info_p)) if os.path.exists(info_p) else {}
h = hashlib.sha256(open(os.path.join(res, "padocc"), "rb").read()).hexdigest()[:16]
head = subprocess.run(["git", "-C", repo, "log", "-1", "--format=%h %cI"], capture_output=True, text=True).stdout.strip()
out = {"host": {"nproc": int(ncores), "load": [l.rstrip("\n").split("\t") for l in open(os.path.join(res, "load.tsv"))]},
       "binary": {"source": src_bin, "sha256_16": h, "repo_head": head},
       "collection": {"dir": cfa_dir, "files": info.get("files"), "bytes_on_disk": info.get("bytes_on_disk"),
                      "params": info.get("params"), "generation_wall_s": info.get("wall_s"), "jobs": info.get("jobs")},
       "counts": []}
counts = sorted({n for (_, n) in runs})
for n in counts:
    rec = {"files": n, "ours": summary(runs.get(("ours", n), []), n)}
    if ("cfapyx", n) in runs:
        rec["cfapyx"] = summary(runs[("cfapyx", n)], n)
        infos = sorted(glob.glob(os.path.join(res, f"cfapyx-{n}-*.info.json")))
        if infos:
            rec["cfapyx"]["inner"] = json.load(open(infos[-1]))
    o, b = rec["ours"], rec.get("cfapyx", {})
    if o.get("wall_s") and b.get("wall_s"):
        rec["speedup_wall"] = r2(b["wall_s"] / o["wall_s"], 2)
        rec["rss_ratio"] = r2(o["maxrss_mb"] / b["maxrss_mb"], 3)
    for tool in ("ours", "cfapyx"):
        p = os.path.join(res, f"verify-{tool}-{n}.rc")
        if os.path.exists(p) and tool in rec:
            rc, wall, rss = (open(p).read().split() + [""])[:3]
            txt = [l for l in open(os.path.join(res, f"verify-{tool}-{n}.txt")).read().strip().splitlines()
                   if not l.startswith("\tCommand exited")]
            rec[tool]["verify_sample1"] = {"exit": int(rc), "wall_s": float(wall),
                "maxrss_mb": r2(int(rss) / 1024, 1) if rss else None, "tail": txt[-3:]}
    p = os.path.join(res, f"open-ours-{n}.json")
    if os.path.exists(p):
        rec["ours"]["open_with_cfapyx"] = json.load(open(p))
    out["counts"].append(rec)
# extrapolation of cfapyx to the counts it was not run on: linear fit through the
# two largest measured counts (one point: proportional).
meas = sorted((r["files"], r["cfapyx"]["wall_s"]) for r in out["counts"] if r.get("cfapyx", {}).get("wall_s"))
if skipped and meas:
    if len(meas) >= 2:
        (n1, w1), (n2, w2) = meas[-2], meas[-1]
        slope = (w2 - w1) / (n2 - n1)
        est = lambda n: w2 + slope * (n - n2)
        how = f"linear through the measured {n1} and {n2} files"
    else:
        (n2, w2), = meas
        est = lambda n: w2 * n / n2
        how = f"proportional to the measured {n2} files"
    out["extrapolated"] = []
    for r in out["counts"]:
        if r["files"] in skipped and r["ours"].get("wall_s"):
            e = est(r["files"])
            out["extrapolated"].append({"files": r["files"], "cfapyx_wall_s_EXTRAPOLATED": r2(e, 1),
                                        "method": how, "speedup_wall_EXTRAPOLATED": r2(e / r["ours"]["wall_s"], 1)})
big = max((r for r in out["counts"] if r["ours"].get("wall_s")), key=lambda r: r["files"], default=None)
if big:
    out["target"] = {"ours_le_10s_at": big["files"], "ours_le_10s": big["ours"]["wall_s"] <= 10}
    sp = big.get("speedup_wall") or next((e["speedup_wall_EXTRAPOLATED"] for e in out.get("extrapolated", [])
                                           if e["files"] == big["files"]), None)
    if sp:
        out["target"]["speedup_ge_20"] = sp >= 20
json.dump(out, open(os.path.join(bench_dir, "cfa-results.json"), "w"), indent=1)

f = lambda x, fm="{:.2f}": "-" if x is None else fm.format(x)
c = out["collection"]
lines = [f"padocc cfa vs cfapyx CFANetCDF(files).create(agg_dims=['time']).write(): collection {c['files']} files "
         f"({(c['bytes_on_disk'] or 0) / 1e6:.0f} MB, tas{tuple((c['params'] or {}).get(k) for k in ('ntime', 'nlat', 'nlon'))} per file, "
         f"generated in {c['generation_wall_s']} s with {c['jobs']} jobs); {ncores} cores; warm cache", ""]
hdr = "{:>6} | {:>9} {:>7} {:>5} {:>8} | {:>9} {:>7} {:>8} | {:>8} {:>7} | {}".format(
    "files", "ours s", "MB", "cores", "ms/file", "cfapyx s", "MB", "ms/file", "speedup", "RSS x", "checks")
lines += [hdr, "-" * len(hdr)]
for r in out["counts"]:
    o, b = r["ours"], r.get("cfapyx", {})
    chk = []
    if o.get("verify_sample1"):
        chk.append(f"verify ours exit {o['verify_sample1']['exit']}")
    if o.get("open_with_cfapyx"):
        chk.append(f"opens in cfapyx, values {'equal' if o['open_with_cfapyx'].get('ok') else 'DIFFER'}")
    if b.get("verify_sample1"):
        chk.append(f"verify cfapyx' exit {b['verify_sample1']['exit']}")
    ex = next((e for e in out.get("extrapolated", []) if e["files"] == r["files"]), None)
    lines.append("{:>6} | {:>9} {:>7} {:>5} {:>8} | {:>9} {:>7} {:>8} | {:>8} {:>7} | {}".format(
        r["files"], f(o.get("wall_s"), "{:.3f}"), f(o.get("maxrss_mb"), "{:.0f}"), f(o.get("cores_used")),
        f(o.get("ms_per_file"), "{:.2f}"),
        f(b.get("wall_s")) if b else (f"~{ex['cfapyx_wall_s_EXTRAPOLATED']:.0f}*" if ex else "-"),
        f(b.get("maxrss_mb"), "{:.0f}") if b else "-", f(b.get("ms_per_file"), "{:.2f}") if b else "-",
        f(r.get("speedup_wall"), "{:.2f}x") if r.get("speedup_wall") else (f"~{ex['speedup_wall_EXTRAPOLATED']}x*" if ex else "-"),
        f(r.get("rss_ratio"), "{:.3f}"), "; ".join(chk)))
if out.get("extrapolated"):
    lines.append(f"* EXTRAPOLATED, not measured ({out['extrapolated'][0]['method']})")
lines.append("")
for r in out["counts"]:
    i = r.get("cfapyx", {}).get("inner")
    if i:
        lines.append(f"cfapyx {r['files']} files: import {i['import_s']} s, create {i['create_s']} s, write {i['write_s']} s")
t = out.get("target", {})
if t:
    lines.append(f"target ours <= 10 s on {t['ours_le_10s_at']} files: {'met' if t['ours_le_10s'] else 'MISSED'}"
                 + (f"; speedup >= 20x: {'met' if t['speedup_ge_20'] else 'MISSED'}" if "speedup_ge_20" in t else ""))
for r in out["counts"]:
    for tool in ("ours", "cfapyx"):
        v = r.get(tool, {}).get("verify_sample1")
        if v:
            lines.append(f"padocc verify {tool}-{r['files']}.nca --sample 1: exit {v['exit']} in {v['wall_s']:.1f} s, "
                         f"{f(v.get('maxrss_mb'), '{:.0f}')} MB: " + " | ".join(l.strip() for l in v["tail"])[:300])
text = "\n".join(lines)
print(text)
open(os.path.join(bench_dir, "cfa-results.txt"), "w").write(text + "\n")
print(f"\nresults: {os.path.join(bench_dir, 'cfa-results.json')}")
PYEOF
}

# ---------------------------------------------------------------- main
main() {
    check_prereqs
    build_data
    write_baseline_py
    log "binary $PADOCC_BIN (copy of $PADOCC_SRC); counts $CFA_COUNTS; $(nproc) cores; results in $RES"
    bench
    check_quiet end
    local n smallest
    smallest=$(awk -F'\t' '$1 == "ours" { print $2 }' "$RUNS_TSV" | sort -n | head -1)
    for n in $(awk -F'\t' '$1 == "ours" { print $2 }' "$RUNS_TSV" | sort -n | uniq); do
        if (( n <= CFA_VERIFY_MAX )); then verify ours "$n"; else log "not verifying ours-$n.nca (CFA_VERIFY_MAX=$CFA_VERIFY_MAX)"; fi
    done
    if [[ -n "$smallest" ]]; then
        open_with_cfapyx "$smallest"
        [[ "$BENCH_SKIP_BASELINE" == 1 ]] || verify cfapyx "$smallest"
    fi
    report
}

main "$@"
