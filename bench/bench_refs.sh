#!/usr/bin/env bash
# bench/bench_refs.sh -- time `padocc refs` against the Python reference stack.
#
# What it does (one run, end to end):
#   1. Builds the benchmark collections if they are absent, with the shared
#      generator ../shared/tools/make_bench_data.py:
#        cmip : --variant cmip         100 netCDF4 files, ~5.6 GB, ~36.5 k chunks
#        many : --variant many-chunks  10 files x 200 k tiny chunks
#      A collection counts as present when <dir>/BENCH_INFO.json and
#      <dir>/files.txt exist (the generator writes them last).
#   2. For each collection, times OUR binary (target/release/padocc, never built
#      here) for JSON and for Parquet output: one untimed warm-up run (fills the
#      page cache), then BENCH_REPS timed runs, each under `/usr/bin/time -v`.
#      We report the median wall time and the maximum peak RSS over the reps.
#      Then times the kerchunk baselines with ../shared/tools/bench_baselines.py
#      (steps kerchunk-single, kerchunk-combine, kerchunk-parquet, and
#      virtualizarr when BENCH_VZ=1), one run per step, also warm cache.
#   3. Prints a table and writes $BENCH_DIR/results.json (+ results.txt).
#   4. With BENCH_PROFILE=1: runs ours once under valgrind --tool=callgrind on
#      the first 2 files of the many-chunks collection and writes the top 15
#      functions by inclusive cost to $BENCH_DIR/profile.txt.
#
# Usage (from the repository root):
#   bash bench/bench_refs.sh
#   BENCH_PROFILE=1 BENCH_REUSE_BASELINES=1 bash bench/bench_refs.sh
#
# Environment (all optional):
#   BENCH_DIR              data + results root            [/tmp/padocc-bench]
#   BENCH_COLLECTIONS      which collections to run       ["cmip many"]
#   BENCH_REPS             timed repetitions of ours      [3]
#   BENCH_VZ=1             also time VirtualiZarr         [off: slow]
#   BENCH_PROFILE=1        callgrind profile (see 4.)     [off]
#   BENCH_PROFILE_FILES    files in the profiled subset   [2]
#   BENCH_PROFILE_ONLY=1   only the profile: no timings, results.json untouched
#   BENCH_REUSE_BASELINES=1  reuse $BENCH_DIR/results/<c>/kerchunk.json if it
#                          exists instead of re-timing kerchunk   [off]
#   BENCH_SKIP_BASELINES=1 do not time kerchunk at all    [off]
#   BENCH_CMIP_ARGS, BENCH_MANY_ARGS  extra make_bench_data.py arguments (for a
#                          quick smoke test, e.g. "--files 2 --nlat 18 --nlon 36
#                          --ntime 10" with a separate BENCH_DIR)
#   CONCAT_DIM             concatenation dimension        [time]
#   REFENV                 Python reference env           [/tmp/refenv]
#   TOOLS                  shared tools directory         [<repo>/../shared/tools]
#   PADOCC_BIN             binary under test              [<repo>/target/release/padocc]
#
# Notes:
#   * Wall time is measured by bash ($EPOCHREALTIME) around `/usr/bin/time -v`;
#     peak RSS, user and system CPU come from /usr/bin/time.
#   * kerchunk totals: JSON = single + combine (wall summed, RSS = max of the
#     two processes); Parquet = JSON + parquet step. kerchunk is single threaded,
#     ours uses every core, so refs/s is also given per core actually used
#     ((user+sys)/wall) and per available core (nproc).
#   * This script never runs cargo: build the release binary yourself first.
set -euo pipefail

# ---------------------------------------------------------------- settings
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/padocc-bench}
BENCH_COLLECTIONS=${BENCH_COLLECTIONS:-"cmip many"}
BENCH_REPS=${BENCH_REPS:-3}
BENCH_VZ=${BENCH_VZ:-0}
BENCH_PROFILE=${BENCH_PROFILE:-0}
BENCH_PROFILE_FILES=${BENCH_PROFILE_FILES:-2}
BENCH_PROFILE_ONLY=${BENCH_PROFILE_ONLY:-0}
BENCH_REUSE_BASELINES=${BENCH_REUSE_BASELINES:-0}
BENCH_SKIP_BASELINES=${BENCH_SKIP_BASELINES:-0}
BENCH_CMIP_ARGS=${BENCH_CMIP_ARGS:-}
BENCH_MANY_ARGS=${BENCH_MANY_ARGS:-}
CONCAT_DIM=${CONCAT_DIM:-time}
REFENV=${REFENV:-/tmp/refenv}
TOOLS=${TOOLS:-$(cd "$REPO/.." && pwd)/shared/tools}
PADOCC_BIN=${PADOCC_BIN:-$REPO/target/release/padocc}
PY="$REFENV/bin/python"
RESULTS="$BENCH_DIR/results"
RUNS_TSV="$RESULTS/runs.tsv"

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf 'bench_refs.sh: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- checks
check_prereqs() {
    [[ -x "$PY" ]] || die "Python reference env not found at $REFENV ($PY missing).
  Create it first:  bash ../shared/tools/refenv-setup.sh   (from $REPO)"
    "$PY" -c 'import kerchunk, netCDF4, h5py' 2>/dev/null \
        || die "$REFENV lacks kerchunk/netCDF4/h5py; re-run: bash ../shared/tools/refenv-setup.sh"
    [[ -f "$TOOLS/make_bench_data.py" && -f "$TOOLS/bench_baselines.py" ]] \
        || die "shared tools not found in $TOOLS (set TOOLS=...)"
    [[ -x "$PADOCC_BIN" ]] \
        || die "binary not found: $PADOCC_BIN (build it with 'cargo build --release'; this script never builds)"
    if [[ ! -x /usr/bin/time ]]; then
        log "/usr/bin/time missing: installing Debian package 'time'"
        local sudo=""
        [[ $(id -u) -eq 0 ]] || sudo="sudo"
        $sudo apt-get update
        $sudo apt-get install -y time
        [[ -x /usr/bin/time ]] || die "could not install /usr/bin/time (apt-get install time)"
    fi
    [[ "$BENCH_REPS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS must be a positive integer"
}

# Timings are only meaningful on a quiet machine: warn (do not stop) when a
# build or anything else is already busy, and keep the load in the results.
check_quiet() {
    local load busy
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    busy=$(ps -eo comm= | grep -cxE 'cargo|rustc|cc1|cc1plus|ld|make' || true)
    printf '%s\t%s\n' "$1" "$load" >> "$RESULTS/load.tsv"
    if [[ $busy -gt 0 ]]; then
        log "WARNING: $busy compiler/build process(es) running (load $load): timings will be inflated"
    elif awk -v l="${load%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
        log "WARNING: load average $load on $(nproc) cores: timings may be inflated"
    fi
}

# ---------------------------------------------------------------- data
collection_dir() { printf '%s/%s' "$BENCH_DIR" "$1"; }

build_collection() {
    local name=$1 dir variant extra
    dir=$(collection_dir "$name")
    case $name in
        cmip) variant=cmip;        extra=$BENCH_CMIP_ARGS ;;
        many) variant=many-chunks; extra=$BENCH_MANY_ARGS ;;
        *) die "unknown collection '$name' (expected cmip or many)" ;;
    esac
    if [[ -f "$dir/BENCH_INFO.json" && -s "$dir/files.txt" ]]; then
        log "collection $name present: $dir ($(wc -l < "$dir/files.txt") files)"
        return
    fi
    log "building collection $name in $dir (make_bench_data.py --variant $variant $extra)"
    mkdir -p "$dir"
    # shellcheck disable=SC2086  # $extra is a deliberately word-split argument list
    "$PY" "$TOOLS/make_bench_data.py" --out "$dir" --variant "$variant" $extra \
        > "$dir/make_bench_data.log" 2>&1 \
        || { tail -20 "$dir/make_bench_data.log" >&2; die "data generation failed for $name"; }
    log "built $name: $(wc -l < "$dir/files.txt") files, $(du -sh "$dir" | cut -f1)"
}

# ---------------------------------------------------------------- ours
# time_ours COLLECTION FORMAT REP : one run under /usr/bin/time -v; appends a
# line to $RUNS_TSV (REP=0 is the untimed warm-up and is not recorded).
time_ours() {
    local name=$1 fmt=$2 rep=$3 dir out tfile logf t0 t1 rc wall
    dir=$(collection_dir "$name")
    out="$RESULTS/$name/ours.$fmt"
    tfile="$RESULTS/$name/ours-$fmt-$rep.time"
    logf="$RESULTS/$name/ours-$fmt-$rep.log"
    local -a files
    mapfile -t files < "$dir/files.txt"
    rm -rf -- "$out"                       # start from nothing, outside the timing
    t0=$EPOCHREALTIME
    rc=0
    /usr/bin/time -v -o "$tfile" "$PADOCC_BIN" refs "${files[@]}" -o "$out" \
        --concat-dim "$CONCAT_DIM" > "$logf" 2>&1 || rc=$?
    t1=$EPOCHREALTIME
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    if [[ $rc -ne 0 ]]; then
        log "OURS FAILED ($name $fmt rep $rep, exit $rc): $(grep -v '^\s*$' "$logf" | tail -3 | tr '\n' ' ')"
    fi
    [[ $rep -eq 0 ]] && { log "warm-up $name $fmt: ${wall}s (exit $rc)"; return 0; }
    local rss user sys refs bytes
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tfile")
    user=$(awk -F': ' '/User time \(seconds\)/ {print $2}' "$tfile")
    sys=$(awk -F': ' '/System time \(seconds\)/ {print $2}' "$tfile")
    # summary line: "padocc refs: N files, V variables, R references, S s -> OUT (json)"
    refs=$(sed -nE 's/.*padocc refs: .* ([0-9]+) references,.*/\1/p' "$logf" | tail -1)
    bytes=$(du -sb -- "$out" 2>/dev/null | cut -f1 || true)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$fmt" "$rep" "$rc" "$wall" \
        "${user:-}" "${sys:-}" "${rss:-}" "${refs:-}" "${bytes:-}" >> "$RUNS_TSV"
    log "ours $name $fmt rep $rep: ${wall}s, maxrss $(( ${rss:-0} / 1024 )) MB, refs ${refs:-?} (exit $rc)"
}

bench_ours() {
    local name=$1 fmt rep
    for fmt in json parquet; do
        time_ours "$name" "$fmt" 0          # warm-up, untimed
        for (( rep = 1; rep <= BENCH_REPS; rep++ )); do
            time_ours "$name" "$fmt" "$rep"
        done
    done
}

# ---------------------------------------------------------------- kerchunk
bench_kerchunk() {
    local name=$1 dir out steps
    dir=$(collection_dir "$name")
    out="$RESULTS/$name/kerchunk.json"
    if [[ "$BENCH_SKIP_BASELINES" == 1 ]]; then
        log "skipping kerchunk baselines (BENCH_SKIP_BASELINES=1)"; return
    fi
    if [[ "$BENCH_REUSE_BASELINES" == 1 && -s "$out" ]]; then
        log "reusing kerchunk baselines $out (BENCH_REUSE_BASELINES=1)"; return
    fi
    steps=kerchunk-single,kerchunk-combine,kerchunk-parquet
    [[ "$BENCH_VZ" == 1 ]] && steps+=",virtualizarr"
    log "timing baselines on $name: $steps (this is the slow part)"
    rm -rf -- "$BENCH_DIR/scratch/$name"
    "$PY" "$TOOLS/bench_baselines.py" --files-from "$dir/files.txt" --out "$out" \
        --python "$PY" --scratch "$BENCH_DIR/scratch/$name" --concat-dim "$CONCAT_DIM" \
        --steps "$steps" > "$RESULTS/$name/kerchunk.log" 2>&1 \
        || { tail -20 "$RESULTS/$name/kerchunk.log" >&2; die "bench_baselines.py failed on $name"; }
}

# ---------------------------------------------------------------- report
report() {
    "$PY" - "$BENCH_DIR" "$RUNS_TSV" "$(nproc)" "$BENCH_COLLECTIONS" <<'PYEOF'
import json, os, statistics, sys

bench_dir, runs_tsv, ncores, colls = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split()
runs = {}
for line in open(runs_tsv):
    f = line.rstrip("\n").split("\t")
    c, fmt, rep, rc, wall, user, sys_, rss, refs, nbytes = f
    num = lambda s, t=float: t(s) if s else None
    runs.setdefault((c, fmt), []).append(dict(rep=int(rep), rc=int(rc), wall=float(wall),
        user=num(user), sys=num(sys_), rss_mb=num(rss, int) / 1024 if rss else None,
        refs=num(refs, int), bytes=num(nbytes, int)))

def r2(x, n=2):
    return None if x is None else round(x, n)

def ratio(a, b):
    return round(a / b, 2) if a and b else None

load_p = os.path.join(bench_dir, "results", "load.tsv")
loads = dict(l.rstrip("\n").split("\t") for l in open(load_p)) if os.path.exists(load_p) else {}
out = {"host": {"nproc": ncores, "loadavg_1_5_15": loads}, "collections": []}
for c in colls:
    info_p = os.path.join(bench_dir, c, "BENCH_INFO.json")
    info = json.load(open(info_p)) if os.path.exists(info_p) else {}
    rec = {"collection": c, "variant": info.get("variant"), "files": info.get("files"),
           "bytes_on_disk": info.get("bytes_on_disk"),
           "main_var_chunks": info.get("main_var_chunks_total")}
    # --- kerchunk
    kj = os.path.join(bench_dir, "results", c, "kerchunk.json")
    k = {}
    if os.path.exists(kj):
        steps = json.load(open(kj))["steps"]
        for s, v in steps.items():
            k[s] = {"wall_s": v.get("wall_s"), "maxrss_mb": v.get("maxrss_mb"), "rc": v.get("rc"),
                    "inner": v.get("inner")}
            if v.get("rc"):
                k[s]["stderr_tail"] = v.get("stderr_tail")
        def tot(names):
            if not all(n in steps and steps[n].get("rc") == 0 for n in names):
                return None
            return {"wall_s": r2(sum(steps[n]["wall_s"] for n in names)),
                    "maxrss_mb": max(steps[n]["maxrss_mb"] for n in names)}
        k["total_json"] = tot(["kerchunk-single", "kerchunk-combine"])
        k["total_parquet"] = tot(["kerchunk-single", "kerchunk-combine", "kerchunk-parquet"])
        comb = steps.get("kerchunk-combine", {}).get("inner") or {}
        k["refs"] = comb.get("refs")
        k["json_bytes"] = comb.get("json_bytes")
        k["parquet_bytes"] = (steps.get("kerchunk-parquet", {}).get("inner") or {}).get("parquet_bytes")
    rec["kerchunk"] = k
    # --- ours
    ours = {}
    for fmt in ("json", "parquet"):
        rs = runs.get((c, fmt), [])
        ok = [r for r in rs if r["rc"] == 0]
        o = {"reps": len(rs), "failed_reps": len(rs) - len(ok)}
        if ok:
            wall = statistics.median(r["wall"] for r in ok)
            cpu = statistics.median((r["user"] or 0) + (r["sys"] or 0) for r in ok)
            refs = ok[-1]["refs"]
            if fmt == "json":   # keys in the JSON (refs + .zarray/.zattrs/.zgroup metadata)
                try:
                    o["json_keys"] = len(json.load(open(os.path.join(
                        bench_dir, "results", c, "ours.json")))["refs"])
                except Exception as e:
                    o["json_keys"] = None
            o.update({"wall_s": r2(wall, 3), "wall_all_s": [r["wall"] for r in ok],
                      "maxrss_mb": r2(max(r["rss_mb"] for r in ok), 1),
                      "cpu_s": r2(cpu), "cores_used": r2(cpu / wall),
                      "refs": refs, "output_bytes": ok[-1]["bytes"]})
            if refs:
                o["refs_per_s"] = round(refs / wall)
                o["refs_per_s_per_core_used"] = round(refs / cpu) if cpu else None
                o["refs_per_s_per_avail_core"] = round(refs / wall / ncores)
            kt = k.get(f"total_{fmt}")
            if kt:
                o["speedup_wall"] = ratio(kt["wall_s"], wall)           # kerchunk / ours
                o["rss_ratio"] = ratio(o["maxrss_mb"], kt["maxrss_mb"])  # ours / kerchunk
        ours[fmt] = o
    rec["ours"] = ours
    # kerchunk's "refs" counts every key of the combined JSON (metadata included);
    # our summary line counts chunk references only, so compare key counts.
    if k.get("refs") and ours["json"].get("json_keys") and k["refs"] != ours["json"]["json_keys"]:
        rec["note"] = (f"JSON key count differs: kerchunk {k['refs']} vs ours "
                       f"{ours['json']['json_keys']}")
    out["collections"].append(rec)

res_path = os.path.join(bench_dir, "results.json")
with open(res_path, "w") as fh:
    json.dump(out, fh, indent=1)

def f(x, fmt="{:.2f}"):
    return "-" if x is None else fmt.format(x)

lines = []
hdr = ("{:<6} {:>5} {:>9} {:>9} | {:<8} {:>9} {:>8} | {:>9} {:>8} {:>5} | {:>8} {:>6} | {:>11} {:>10}"
       .format("coll", "files", "chunks", "refs", "output", "kc wall", "kc MB", "our wall",
               "our MB", "cores", "speedup", "RSS x", "our refs/s", "/core used"))
lines.append("(refs = chunk references in our summary line; chunks = main-variable chunks per BENCH_INFO)")
lines.append(hdr)
lines.append("-" * len(hdr))
for rec in out["collections"]:
    for fmt in ("json", "parquet"):
        o, kt = rec["ours"][fmt], rec["kerchunk"].get(f"total_{fmt}") or {}
        lines.append("{:<6} {:>5} {:>9} {:>9} | {:<8} {:>9} {:>8} | {:>9} {:>8} {:>5} | {:>8} {:>6} | {:>11} {:>10}".format(
            rec["collection"], f(rec["files"], "{}"), f(rec["main_var_chunks"], "{}"),
            f(o.get("refs") or rec["kerchunk"].get("refs"), "{}"), fmt,
            f(kt.get("wall_s")), f(kt.get("maxrss_mb"), "{:.0f}"),
            f(o.get("wall_s"), "{:.3f}"), f(o.get("maxrss_mb"), "{:.0f}"), f(o.get("cores_used")),
            f(o.get("speedup_wall"), "{:.1f}x"), f(o.get("rss_ratio")),
            f(o.get("refs_per_s"), "{:,}"), f(o.get("refs_per_s_per_core_used"), "{:,}")))
lines.append("")
lines.append("kerchunk steps (wall s / peak RSS MB), single process each, warm cache:")
for rec in out["collections"]:
    parts = []
    for s in ("kerchunk-single", "kerchunk-combine", "kerchunk-parquet", "virtualizarr"):
        v = rec["kerchunk"].get(s)
        if v:
            parts.append(f"{s} {f(v['wall_s'])} s / {f(v['maxrss_mb'], '{:.0f}')} MB"
                         + ("" if not v.get("rc") else f" (FAILED rc={v['rc']})"))
    lines.append(f"  {rec['collection']}: " + "; ".join(parts))
    oj, op, kk = rec["ours"]["json"], rec["ours"]["parquet"], rec["kerchunk"]
    mb = lambda b: f(b / 1e6 if b else None, "{:.1f}")
    lines.append(f"  {rec['collection']}: ours {f(oj.get('refs'), '{}')} chunk refs, "
                 f"{f(oj.get('json_keys'), '{}')} JSON keys, JSON {mb(oj.get('output_bytes'))} MB, "
                 f"Parquet {mb(op.get('output_bytes'))} MB | kerchunk {f(kk.get('refs'), '{}')} "
                 f"JSON keys, JSON {mb(kk.get('json_bytes'))} MB, Parquet {mb(kk.get('parquet_bytes'))} MB")
    for fmt in ("json", "parquet"):
        o = rec["ours"][fmt]
        if o.get("failed_reps"):
            lines.append(f"  {rec['collection']} ours {fmt}: {o['failed_reps']} of {o['reps']} reps FAILED")
    if rec.get("note"):
        lines.append(f"  {rec['collection']}: NOTE {rec['note']}")
lines.append("")
lines.append(f"kc = kerchunk (JSON: single+combine; parquet: +parquet step; MB = max over steps). "
             f"ours = median of reps, MB = max over reps; cores = (user+sys)/wall of {ncores}. "
             "speedup = kc wall / our wall; RSS x = our MB / kc MB.")
text = "\n".join(lines)
print(text)
with open(os.path.join(bench_dir, "results.txt"), "w") as fh:
    fh.write(text + "\n")
print(f"\nresults: {res_path}")
PYEOF
}

# ---------------------------------------------------------------- profile
profile() {
    local dir prof_out raw
    dir=$(collection_dir many)
    [[ -s "$dir/files.txt" ]] || build_collection many
    if ! command -v valgrind > /dev/null; then
        log "BENCH_PROFILE=1 but valgrind is not installed: skipping the profile"; return
    fi
    local -a files
    mapfile -t files < <(head -n "$BENCH_PROFILE_FILES" "$dir/files.txt")
    raw="$BENCH_DIR/callgrind.out"
    prof_out="$BENCH_DIR/profile.txt"
    log "profiling ours under callgrind on ${#files[@]} many-chunks files (single rayon thread; slow)"
    rm -rf -- "$BENCH_DIR/profile-out.json"
    # One worker thread: valgrind serialises threads anyway, and idle rayon
    # workers would only add spin/park noise to the profile.
    RAYON_NUM_THREADS=1 valgrind --tool=callgrind --callgrind-out-file="$raw" \
        "$PADOCC_BIN" refs "${files[@]}" -o "$BENCH_DIR/profile-out.json" \
        --concat-dim "$CONCAT_DIM" > "$BENCH_DIR/callgrind.log" 2>&1 \
        || { tail -5 "$BENCH_DIR/callgrind.log" >&2; log "callgrind run failed (see $BENCH_DIR/callgrind.log)"; return; }
    if ! command -v callgrind_annotate > /dev/null; then
        log "callgrind_annotate not found: raw profile left in $raw (skipping the summary)"; return
    fi
    callgrind_annotate --inclusive=yes --auto=no --threshold=100 "$raw" \
        > "$BENCH_DIR/profile-full.txt" 2>&1 || true
    callgrind_annotate --inclusive=no --auto=no --threshold=100 "$raw" \
        > "$BENCH_DIR/profile-self.txt" 2>&1 || true
    # Function lines look like "1,234,567 (12.34%)  file:function [object]".
    # Print the first 15 after the "file:function" header, dropping the
    # source-file part, listing each function once (inlined copies repeat it)
    # and skipping runtime/rayon plumbing frames that wrap everything
    # (std::rt, main, thread start, rayon join/bridge closures). awk stops by
    # itself: no pipe into head, as a SIGPIPE would abort us under pipefail.
    local top15='/file:function/ {on=1; getline; next}
        on && NF && n < 15 {
            sub(/\)  [^:]*:/, ")  "); name = $0
            sub(/^ *[0-9,]+ \( *[0-9.]+%\)  /, "", name); sub(/ \[[^]]*\]$/, "", name)
            if (name in seen) next; seen[name] = 1
            if (name ~ /^(main|\(below main\)|0x[0-9a-f]+|start_thread|__libc_start|std::rt::|std::sys::|core::ops::function::|rayon_core::|rayon::iter::plumbing::|<std::sys::thread|<rayon_core::|<alloc::vec::Vec<T,A> as alloc::vec::spec_extend|core::ops::function::impls)/) next
            print; n++ }'
    {
        echo "callgrind: ours on ${#files[@]} many-chunks files (RAYON_NUM_THREADS=1)"
        grep -m1 -E 'PROGRAM TOTALS' "$BENCH_DIR/profile-full.txt" || true
        echo
        echo "top 15 functions by INCLUSIVE cost (Ir; runtime/rayon wrapper frames omitted):"
        awk "$top15" "$BENCH_DIR/profile-full.txt"
        echo
        echo "top 15 functions by SELF cost (Ir):"
        awk "$top15" "$BENCH_DIR/profile-self.txt"
    } > "$prof_out"
    cat "$prof_out"
    log "profile: $prof_out (full annotate output: $BENCH_DIR/profile-full.txt)"
}

# ---------------------------------------------------------------- main
main() {
    check_prereqs
    mkdir -p "$BENCH_DIR" "$RESULTS"
    log "binary $PADOCC_BIN; refenv $REFENV; tools $TOOLS; data $BENCH_DIR; $(nproc) cores"
    if [[ "$BENCH_PROFILE_ONLY" == 1 ]]; then    # just the callgrind profile
        profile
        return
    fi
    local c
    for c in $BENCH_COLLECTIONS; do build_collection "$c"; done
    : > "$RUNS_TSV"
    : > "$RESULTS/load.tsv"
    for c in $BENCH_COLLECTIONS; do
        mkdir -p "$RESULTS/$c"
        check_quiet "before-$c"
        bench_ours "$c"
        bench_kerchunk "$c"
    done
    check_quiet end
    report
    if [[ "$BENCH_PROFILE" == 1 ]]; then profile; fi
}

main "$@"
