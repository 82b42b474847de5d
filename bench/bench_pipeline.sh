#!/usr/bin/env bash
# bench/bench_pipeline.sh -- the whole pipeline on one big project: ours against
# padocc 1.5.1 on the 100-file CMIP collection (5.6 GB, netCDF4).
#
# What it does:
#   padocc 1.5.1 side (slow, ~35 min): ../shared/tools/bench_padocc.sh on the file list,
#     started in the background with nohup (it times init, scan, compute, validate
#     under /usr/bin/time -v and writes <PY_ROOT>/timings.txt; it works round padocc
#     1.5.1's scan truncating allfiles.txt). padocc validates a sample of the data.
#   ours: PIPE_REPS (3) rounds, each on a fresh working directory $PIPE_DIR/wd with one
#     project `cmip` whose pattern is the file list (datasets.csv: `cmip,<files.txt>,,`):
#     `init`, `scan`, `compute`, `validate` (default: EVERY value of every variable is
#     compared with the sources), each with --format json under /usr/bin/time -v.
#     Before the first round every file is read once (cat > /dev/null) so both sides
#     run on a warm page cache. Reported per phase: median wall, max peak RSS, CPU,
#     and (sampled from /proc every 0.5 s) the peak anonymous and file-backed RSS:
#     ours reads netCDF-4 through an mmap, so /usr/bin/time's peak RSS includes the
#     page-cache pages of the source files it maps.
#   report: ratio padocc total / ours total (init+scan+compute+validate walls), per
#     phase ratios, and a check that both products hold the same reference keys.
#
# Usage (from the repository root):
#   bash bench/bench_pipeline.sh                 # all: padocc (background, polled),
#                                                #  then ours once padocc is done, then report
#   bash bench/bench_pipeline.sh start-padocc    # only start padocc in the background
#   bash bench/bench_pipeline.sh ours            # only time ours (warns if padocc runs)
#   bash bench/bench_pipeline.sh wait            # poll until padocc has finished
#   bash bench/bench_pipeline.sh report          # combine what is there
#   PIPE_LIST=/tmp/padocc-bench-smoke/cmip/files.txt PIPE_DIR=/tmp/pp-smoke \
#     BENCH_DIR=/tmp/pp-smoke bash bench/bench_pipeline.sh       # smoke test on 2 files
#
# Environment (all optional):
#   BENCH_DIR       results root                                  [/tmp/padocc-bench]
#   PIPE_LIST       file list (one netCDF path per line)          [$BENCH_DIR/cmip/files.txt]
#   PIPE_DIR        our working directories                       [$BENCH_DIR/pipeline]
#   PY_ROOT         padocc 1.5.1's work root                      [$BENCH_DIR/padocc-cmip]
#   PIPE_REPS       rounds of ours (median per phase)             [3]
#   PIPE_POLL       seconds between polls of the padocc run       [180]
#   PIPE_REUSE_PY=1 reuse an existing complete $PY_ROOT/timings.txt instead of
#                   re-running padocc 1.5.1                        [0]
#   REFENV          Python reference env (padocc 1.5.1)           [/tmp/refenv]
#   TOOLS           shared tools directory                        [<repo>/../shared/tools]
#   PADOCC_BIN      binary under test   [$BENCH_DIR/padocc-snapshot if present,
#                                        else <repo>/target/release/padocc]
#
# Notes:
#   * Target: padocc total / ours total >= 50x, ours validating every value.
#   * `all` runs the two sides one after the other (a 2-core machine cannot time both
#     at once); `ours` while padocc runs is allowed but logs a WARNING, and the
#     report says which rounds overlapped it.
#   * This script never runs cargo.
set -euo pipefail

# ---------------------------------------------------------------- settings
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/padocc-bench}
PIPE_LIST=${PIPE_LIST:-$BENCH_DIR/cmip/files.txt}
PIPE_DIR=${PIPE_DIR:-$BENCH_DIR/pipeline}
PY_ROOT=${PY_ROOT:-$BENCH_DIR/padocc-cmip}
PIPE_REPS=${PIPE_REPS:-3}
PIPE_POLL=${PIPE_POLL:-180}
PIPE_REUSE_PY=${PIPE_REUSE_PY:-0}
REFENV=${REFENV:-/tmp/refenv}
TOOLS=${TOOLS:-$(cd "$REPO/.." && pwd)/shared/tools}
if [[ -z "${PADOCC_BIN:-}" ]]; then
    if [[ -x "$BENCH_DIR/padocc-snapshot" ]]; then PADOCC_BIN=$BENCH_DIR/padocc-snapshot
    else PADOCC_BIN=$REPO/target/release/padocc; fi
fi
PY="$REFENV/bin/python"
[[ -x "$PY" ]] || PY=$(command -v python3)
RES="$BENCH_DIR/results/pipeline"
RUNS_TSV="$RES/runs.tsv"
PIDFILE="$RES/padocc.pid"
GROUP=pipe
PROJ=cmip
PHASES="init scan compute validate"

log() { printf '[bench_pipeline %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf 'bench_pipeline.sh: error: %s\n' "$*" >&2; exit 1; }

check_prereqs() {
    [[ -x "$PADOCC_BIN" ]] || die "binary not found: $PADOCC_BIN (build it with 'cargo build --release'; this script never builds)"
    [[ -x /usr/bin/time ]] || die "/usr/bin/time missing (apt-get install time)"
    [[ -s "$PIPE_LIST" ]] || die "file list not found: $PIPE_LIST (build the cmip collection with bench/bench_refs.sh)"
    [[ "$PIPE_REPS" =~ ^[1-9][0-9]*$ ]] || die "PIPE_REPS must be a positive integer"
    mkdir -p "$RES" "$PIPE_DIR"
    touch "$RES/load.tsv"
}

padocc_running() { [[ -s "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
padocc_done() { [[ -f "$PY_ROOT/timings.txt" ]] && grep -q '^validate ' "$PY_ROOT/timings.txt" && ! padocc_running; }

check_quiet() {
    local load busy
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    busy=$(ps -eo comm= | grep -cxE 'cargo|rustc|cc1|cc1plus|ld|make|python|python3|padocc' || true)
    printf '%s\t%s\t%s\n' "$1" "$load" "$busy" >> "$RES/load.tsv"
    if [[ $busy -gt 0 ]]; then
        log "WARNING: $busy compiler/build/python/padocc process(es) running (load $load): timings will be inflated"
    elif awk -v l="${load%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
        log "WARNING: load average $load on $(nproc) cores: timings may be inflated"
    fi
}

# ---------------------------------------------------------------- padocc 1.5.1
start_padocc() {
    if [[ "$PIPE_REUSE_PY" == 1 ]] && padocc_done; then
        log "reusing $PY_ROOT/timings.txt (PIPE_REUSE_PY=1)"; return
    fi
    if padocc_running; then log "padocc 1.5.1 already running (pid $(cat "$PIDFILE"))"; return; fi
    [[ -x "$REFENV/bin/padocc" ]] || die "padocc 1.5.1 CLI not found: $REFENV/bin/padocc"
    [[ -f "$TOOLS/bench_padocc.sh" ]] || die "not found: $TOOLS/bench_padocc.sh (set TOOLS=...)"
    check_quiet start-padocc
    log "starting padocc 1.5.1 in the background: bench_padocc.sh $PIPE_LIST $PY_ROOT (log $RES/padocc-run.log)"
    date +%s > "$RES/padocc.start"
    PADOCC="$REFENV/bin/padocc" nohup bash "$TOOLS/bench_padocc.sh" "$PIPE_LIST" "$PY_ROOT" \
        > "$RES/padocc-run.log" 2>&1 < /dev/null &
    echo $! > "$PIDFILE"
    log "padocc 1.5.1 pid $(cat "$PIDFILE")"
}

wait_padocc() {
    if padocc_done; then log "padocc 1.5.1 has finished"; return; fi
    padocc_running || die "padocc 1.5.1 is not running and $PY_ROOT/timings.txt is incomplete (see $RES/padocc-run.log)"
    while padocc_running; do
        log "padocc 1.5.1 still running ($(( $(date +%s) - $(cat "$RES/padocc.start" 2>/dev/null || date +%s) )) s so far); done: $(grep -oE '^[a-z]+ +wall [^ ]+' "$PY_ROOT/timings.txt" 2>/dev/null | awk '{printf "%s %s; ", $1, $3}')"
        sleep "$PIPE_POLL"
    done
    log "padocc 1.5.1 finished: $(tr '\n' '|' < "$PY_ROOT/timings.txt" | cut -c1-300)"
}

# ---------------------------------------------------------------- ours
# sample_rss TIMEPID OUT: peak RssAnon and RssFile (kB) of the child of
# /usr/bin/time, read from /proc every 0.5 s and written to OUT ("anon file").
# /usr/bin/time's peak RSS counts the pages of the source files that padocc maps
# (it reads netCDF-4 through an mmap), so it overstates the memory a run needs.
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

run_phase() {   # run_phase ROUND PHASE
    local round=$1 ph=$2 wd="$PIPE_DIR/wd" t0 t1 rc=0 wall rss user sys
    local base="$RES/$round-$ph"
    local -a args=(-w "$wd" "$ph" -G "$GROUP" --format json)
    [[ $ph == init ]] && args+=(-i "$PIPE_DIR/datasets.csv")
    rm -f -- "$base.rss"
    t0=$EPOCHREALTIME
    /usr/bin/time -v -o "$base.time" "$PADOCC_BIN" "${args[@]}" > "$base.json" 2> "$base.err" &
    local tpid=$! spid
    sample_rss "$tpid" "$base.rss" &
    spid=$!
    wait "$tpid" || rc=$?
    t1=$EPOCHREALTIME
    wait "$spid" 2>/dev/null || true
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$base.time")
    local anon="" file=""
    [[ -s "$base.rss" ]] && read -r anon file < "$base.rss"
    user=$(awk -F': ' '/User time \(seconds\)/ {print $2}' "$base.time")
    sys=$(awk -F': ' '/System time \(seconds\)/ {print $2}' "$base.time")
    local overlap=0
    padocc_running && overlap=1
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$ph" "$rc" "$wall" "${rss:-}" "${user:-}" "${sys:-}" "$overlap" "$anon" "$file" >> "$RUNS_TSV"
    if [[ $rc -ne 0 ]] || grep -q '"failed": [1-9]' "$base.json"; then
        log "OURS FAILED ($round $ph, exit $rc): $(grep -v '^\s*$' "$base.err" | grep -v 'Command exited' | tail -3 | tr '\n' ' ') $(grep -m1 '"message"' "$base.json" || true)"
    fi
    log "ours $round $ph: ${wall}s, maxrss $(( ${rss:-0} / 1024 )) MB, cpu $(awk -v u="${user:-0}" -v s="${sys:-0}" 'BEGIN{print u+s}')s (exit $rc)$( [[ $overlap == 1 ]] && echo ' [padocc 1.5.1 running]')"
}

bench_ours() {
    echo "$PROJ,$PIPE_LIST,," > "$PIPE_DIR/datasets.csv"
    log "warming the page cache: $(wc -l < "$PIPE_LIST") files"
    xargs -d '\n' cat < "$PIPE_LIST" > /dev/null
    local r ph
    for (( r = 1; r <= PIPE_REPS; r++ )); do
        check_quiet "ours-round-$r"
        rm -rf -- "$PIPE_DIR/wd"
        for ph in $PHASES; do run_phase "r$r" "$ph"; done
    done
}

# ---------------------------------------------------------------- report
report() {
    "$PY" - "$BENCH_DIR" "$RES" "$PY_ROOT" "$PIPE_DIR" "$GROUP" "$PROJ" "$PIPE_LIST" <<'PYEOF'
import glob, json, os, statistics, sys
bench_dir, res, py_root, pipe_dir, group, proj, flist = sys.argv[1:8]
PH = ["init", "scan", "compute", "validate"]
out = {"nproc": os.cpu_count(), "files": sum(1 for l in open(flist) if l.strip()),
       "load": [l.rstrip("\n").split("\t") for l in open(os.path.join(res, "load.tsv"))]}
# ---- ours
rows = {}
if os.path.exists(os.path.join(res, "runs.tsv")):
    for line in open(os.path.join(res, "runs.tsv")):
        f = line.rstrip("\n").split("\t") + ["", ""]
        rnd, ph, rc, wall, rss, user, sys_, ov, anon, file_ = f[:10]
        rows.setdefault(ph, []).append(dict(round=rnd, rc=int(rc), wall=float(wall),
            rss_mb=int(rss) / 1024 if rss else None, cpu=float(user or 0) + float(sys_ or 0), overlap=ov == "1",
            anon_mb=int(anon) / 1024 if anon else None, file_mb=int(file_) / 1024 if file_ else None))
ours = {}
for ph in PH:
    rs = rows.get(ph, [])
    clean = [r for r in rs if not r["overlap"] and r["rc"] == 0]
    use = clean or [r for r in rs if r["rc"] == 0]
    if not use:
        ours[ph] = {"reps": len(rs), "failed": True}; continue
    ours[ph] = {"reps": len(use), "overlapped_padocc": not clean, "wall_s": round(statistics.median(r["wall"] for r in use), 3),
                "wall_all_s": [r["wall"] for r in use], "maxrss_mb": round(max(r["rss_mb"] for r in use), 1),
                "cpu_s": round(statistics.median(r["cpu"] for r in use), 2),
                "failed_reps": sum(1 for r in rs if r["rc"] != 0)}
    ours[ph]["cores_used"] = round(ours[ph]["cpu_s"] / ours[ph]["wall_s"], 2) if ours[ph]["wall_s"] else None
    an = [r["anon_mb"] for r in use if r["anon_mb"]]
    fi = [r["file_mb"] for r in use if r["file_mb"]]
    if an:   # sampled every 0.5 s: absent for phases shorter than that
        ours[ph]["peak_anon_mb"] = round(max(an), 1)
        ours[ph]["peak_file_mb"] = round(max(fi), 1) if fi else None
# messages of the last round (validate: "N values compared")
last = sorted({r["round"] for v in rows.values() for r in v})
for ph in PH:
    for rnd in reversed(last):
        p = os.path.join(res, f"{rnd}-{ph}.json")
        if os.path.exists(p):
            try:
                d = json.load(open(p))
                if "results" in d and d["results"]:
                    ours.setdefault(ph, {})["status"] = d["results"][0].get("status")
                    ours[ph]["message"] = d["results"][0].get("message")
                    ours[ph]["in_process_s"] = d.get("seconds")
            except Exception:
                pass
            break
if all("wall_s" in ours.get(ph, {}) for ph in PH):
    ours["total"] = {"wall_s": round(sum(ours[ph]["wall_s"] for ph in PH), 3),
                     "maxrss_mb": max(ours[ph]["maxrss_mb"] for ph in PH)}
out["ours"] = ours
# ---- padocc 1.5.1
def hms(s):
    p = [float(x) for x in s.split(":")]
    t = 0.0
    for x in p:
        t = t * 60 + x
    return t
pyd = {}
tpath = os.path.join(py_root, "timings.txt")
if os.path.exists(tpath):
    notes = []
    for line in open(tpath):
        f = line.split()
        if len(f) >= 5 and f[1] == "wall" and f[3] == "maxrss_mb":
            pyd[f[0]] = {"wall_s": round(hms(f[2]), 2), "maxrss_mb": int(f[4])}
        elif line.strip():
            notes.append(line.rstrip("\n"))
    pyd["notes"] = notes[:30]
    if all(ph in pyd for ph in PH):
        pyd["total"] = {"wall_s": round(sum(pyd[ph]["wall_s"] for ph in PH), 2),
                        "maxrss_mb": max(pyd[ph]["maxrss_mb"] for ph in PH)}
    sl = os.path.join(py_root, "wd", "in_progress", "g_bench", "bench", "status_log.csv")
    if os.path.exists(sl):
        pyd["status_log"] = open(sl).read().splitlines()
out["padocc_1_5_1"] = pyd
# ---- ratios
if "total" in ours and "total" in pyd:
    out["ratio_total"] = round(pyd["total"]["wall_s"] / ours["total"]["wall_s"], 1)
    out["ratio_per_phase"] = {ph: round(pyd[ph]["wall_s"] / ours[ph]["wall_s"], 1) for ph in PH}
    out["meets_50x_target"] = out["ratio_total"] >= 50
# ---- products: the same reference keys?
def keys(path):
    if path.endswith(".json"):
        return set(json.load(open(path))["refs"])
    return None
ours_p = sorted(glob.glob(os.path.join(pipe_dir, "wd", "in_progress", group, proj, "k*.json")))
py_p = sorted(glob.glob(os.path.join(py_root, "wd", "in_progress", "g_bench", "bench", "k*.json")))
if ours_p and py_p:
    try:
        ko, kp = keys(ours_p[-1]), keys(py_p[-1])
        out["products"] = {"ours": ours_p[-1], "padocc": py_p[-1], "ours_keys": len(ko), "padocc_keys": len(kp),
                           "same_keys": ko == kp, "only_ours": sorted(ko - kp)[:10], "only_padocc": sorted(kp - ko)[:10]}
    except Exception as e:
        out["products"] = {"error": str(e)}
json.dump(out, open(os.path.join(bench_dir, "pipeline-results.json"), "w"), indent=1)
f = lambda x, fm="{:.2f}": "-" if x is None else fm.format(x)
lines = [f"one project, {out['files']} files; ours = median of {max((v.get('reps', 0) for v in ours.values() if isinstance(v, dict)), default=0)} rounds, padocc 1.5.1 = one run", ""]
hdr = "{:<9} | {:>10} {:>8} {:>6} | {:>11} {:>8} | {:>8} | {}".format("phase", "ours wall", "MB", "cores", "padocc wall", "MB", "ratio", "ours result")
lines += [hdr, "-" * len(hdr)]
for ph in PH + ["total"]:
    o, p = ours.get(ph, {}), pyd.get(ph, {})
    r = (p.get("wall_s") / o["wall_s"]) if p.get("wall_s") and o.get("wall_s") else None
    lines.append("{:<9} | {:>10} {:>8} {:>6} | {:>11} {:>8} | {:>8} | {}".format(
        ph, f(o.get("wall_s"), "{:.3f}"), f(o.get("maxrss_mb"), "{:.0f}"), f(o.get("cores_used")),
        f(p.get("wall_s")), f(p.get("maxrss_mb"), "{}"), f(r, "{:.1f}x"),
        ((o.get("status") or "") + " " + (o.get("message") or "")).strip()[:70]
        + (" [overlapped padocc]" if o.get("overlapped_padocc") else "")))
for ph in PH:
    o = ours.get(ph, {})
    if o.get("peak_anon_mb") and (o.get("wall_s") or 0) >= 1:   # short phases: too few samples
        lines.append(f"ours {ph}: peak RSS {o['maxrss_mb']:.0f} MB = anonymous <= {o['peak_anon_mb']:.0f} MB + mapped "
                     f"source files <= {o.get('peak_file_mb') or 0:.0f} MB (sampled every 0.5 s)")
if "import" in pyd:
    lines.append(f"(padocc 1.5.1 import alone: {pyd['import']['wall_s']:.2f} s, paid by each of its 4 processes)")
if "ratio_total" in out:
    lines.append(f"ratio padocc total / ours total: {out['ratio_total']}x (target >= 50x: "
                 f"{'met' if out['meets_50x_target'] else 'MISSED'})")
if "products" in out:
    pr = out["products"]
    lines.append(f"products: ours {pr.get('ours_keys')} keys, padocc {pr.get('padocc_keys')} keys, same key set: {pr.get('same_keys')}"
                 + ("" if pr.get("same_keys") else f" (only ours {pr.get('only_ours')}, only padocc {pr.get('only_padocc')})"))
if pyd.get("status_log"):
    lines.append("padocc 1.5.1 status_log.csv: " + " | ".join(pyd["status_log"]))
text = "\n".join(lines)
print(text)
open(os.path.join(bench_dir, "pipeline-results.txt"), "w").write(text + "\n")
print(f"\nresults: {os.path.join(bench_dir, 'pipeline-results.json')}")
PYEOF
}

# ---------------------------------------------------------------- main
main() {
    local mode=${1:-all}
    check_prereqs
    log "mode $mode; binary $PADOCC_BIN; list $PIPE_LIST; $(nproc) cores"
    case $mode in
        start-padocc) start_padocc ;;
        wait) wait_padocc ;;
        ours)
            : > "$RUNS_TSV"
            padocc_running && log "WARNING: padocc 1.5.1 is running (pid $(cat "$PIDFILE")): our rounds overlap it"
            bench_ours; check_quiet ours-end ;;
        report) report ;;
        all)
            : > "$RUNS_TSV"
            start_padocc; wait_padocc
            bench_ours; check_quiet end
            report ;;
        *) die "unknown mode '$mode' (all, start-padocc, ours, wait, report)" ;;
    esac
}

main "$@"
