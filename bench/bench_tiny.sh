#!/usr/bin/env bash
# bench/bench_tiny.sh -- per-project overhead of the pipeline: a group of many tiny
# projects (one small netCDF file each) through init, scan, compute and validate.
#
# What it does (one run, end to end):
#   1. Data: TINY_N (1000) copies of samples/padocc-1DAgg/file0.nc (11 kB, netCDF4)
#      at distinct paths $TINY_DIR/data/f0000.nc ... (kept between runs), and a
#      datasets.csv with a header and one project per file (`t0000,<path>,,`).
#   2. Ours: TINY_REPS (3) rounds, each on a fresh working directory $TINY_DIR/wd:
#      `init -G tiny -i datasets.csv`, then `scan`, `compute`, `validate` (every value)
#      for the whole group, each with `--format json`, under /usr/bin/time -v.
#      Recorded per phase: process wall (bash $EPOCHREALTIME), peak RSS, user+sys CPU,
#      the in-process group time (`seconds` of the JSON summary: from the first
#      project started to the last finished, without process start-up and exit) and
#      the sum of the per-project `seconds` (each project's own time on its worker).
#      Every round must report ran = TINY_N and failed = 0. A round with
#      TINY_JOBS1=1 (default on) repeats the phases with `-j 1` (one project at a time)
#      to give the serial cost per project. The start-up cost of one process is
#      measured as `padocc status` on an empty group (median of 5).
#   3. padocc 1.5.1 (TINY_PY=1): the first TINY_PY_N (10) projects in a fresh
#      $TINY_DIR/py-wd (WORKDIR set), init/scan/compute/validate via
#      $REFENV/bin/padocc, each phase once under /usr/bin/time -v; its own CSV has no
#      header (padocc 1.5.1 would take the header line for a project). The import
#      alone (`padocc --help`) is timed too: every padocc 1.5.1 command pays it.
#   4. Writes $BENCH_DIR/tiny-results.json and prints a table: seconds per project
#      per phase (process wall / N, in-process / N), and overhead per project.
#
# Usage (from the repository root):
#   bash bench/bench_tiny.sh
#   TINY_N=50 TINY_REPS=1 TINY_PY=0 bash bench/bench_tiny.sh        # quick smoke test
#
# Environment (all optional):
#   BENCH_DIR     results root                                  [/tmp/padocc-bench]
#   TINY_DIR      data + working directories                    [$BENCH_DIR/tiny]
#   TINY_N        projects in the group                         [1000]
#   TINY_REPS     timed rounds of ours (median per phase)       [3]
#   TINY_JOBS1=0  skip the `-j 1` round                         [1]
#   TINY_PY=0     skip padocc 1.5.1                             [1]
#   TINY_PY_N     projects given to padocc 1.5.1                [10]
#   REFENV        Python reference env (padocc 1.5.1)          [/tmp/refenv]
#   SAMPLE        the tiny file     [<repo>/samples/padocc-1DAgg/file0.nc]
#   PADOCC_BIN    binary under test   [$BENCH_DIR/padocc-snapshot if present,
#                                      else <repo>/target/release/padocc]
#
# Notes:
#   * Target: <= 5 ms per project per phase in-process (JSON `seconds` / N).
#   * Files are tiny and in the page cache after the first round: this measures
#     bookkeeping (configs, status rows, logs, products), not I/O.
#   * This script never runs cargo.
set -euo pipefail

# ---------------------------------------------------------------- settings
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/padocc-bench}
TINY_DIR=${TINY_DIR:-$BENCH_DIR/tiny}
TINY_N=${TINY_N:-1000}
TINY_REPS=${TINY_REPS:-3}
TINY_JOBS1=${TINY_JOBS1:-1}
TINY_PY=${TINY_PY:-1}
TINY_PY_N=${TINY_PY_N:-10}
REFENV=${REFENV:-/tmp/refenv}
SAMPLE=${SAMPLE:-$REPO/samples/padocc-1DAgg/file0.nc}
if [[ -z "${PADOCC_BIN:-}" ]]; then
    if [[ -x "$BENCH_DIR/padocc-snapshot" ]]; then PADOCC_BIN=$BENCH_DIR/padocc-snapshot
    else PADOCC_BIN=$REPO/target/release/padocc; fi
fi
PY="$REFENV/bin/python"
[[ -x "$PY" ]] || PY=$(command -v python3)
RES="$BENCH_DIR/results/tiny"
RUNS_TSV="$RES/runs.tsv"
GROUP=tiny
PHASES="init scan compute validate"

log() { printf '[bench_tiny %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf 'bench_tiny.sh: error: %s\n' "$*" >&2; exit 1; }

check_prereqs() {
    [[ -x "$PADOCC_BIN" ]] || die "binary not found: $PADOCC_BIN (build it with 'cargo build --release'; this script never builds)"
    [[ -x /usr/bin/time ]] || die "/usr/bin/time missing (apt-get install time)"
    [[ -f "$SAMPLE" ]] || die "sample file not found: $SAMPLE"
    [[ "$TINY_N" =~ ^[1-9][0-9]*$ && "$TINY_REPS" =~ ^[1-9][0-9]*$ ]] || die "TINY_N and TINY_REPS must be positive integers"
    (( TINY_PY_N <= TINY_N )) || die "TINY_PY_N ($TINY_PY_N) > TINY_N ($TINY_N)"
}

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

# ---------------------------------------------------------------- data
make_data() {
    local d="$TINY_DIR/data" i
    mkdir -p "$d"
    local have
    have=$(find "$d" -maxdepth 1 -name 'f*.nc' | wc -l)
    if (( have < TINY_N )) || ! cmp -s "$SAMPLE" "$d/f0000.nc"; then
        log "copying $SAMPLE to $TINY_N paths under $d"
        for (( i = 0; i < TINY_N; i++ )); do cp "$SAMPLE" "$(printf '%s/f%04d.nc' "$d" "$i")"; done
    fi
    {
        echo "proj_code,pattern,updates,removals"
        for (( i = 0; i < TINY_N; i++ )); do printf 't%04d,%s/f%04d.nc,,\n' "$i" "$d" "$i"; done
    } > "$TINY_DIR/datasets.csv"
    # padocc 1.5.1: no header line
    sed -n "2,$(( TINY_PY_N + 1 ))p" "$TINY_DIR/datasets.csv" > "$TINY_DIR/datasets-py.csv"
}

# ---------------------------------------------------------------- ours
# run_phase ROUND PHASE JOBSARG : one phase over the group; appends to runs.tsv.
run_phase() {
    local round=$1 ph=$2 jobs=$3 wd="$TINY_DIR/wd" t0 t1 rc=0 wall
    local base="$RES/$round-$ph"
    local -a args=(-w "$wd" "$ph" -G "$GROUP" --format json)
    [[ $ph == init ]] && args+=(-i "$TINY_DIR/datasets.csv")
    [[ -n "$jobs" && $ph != init ]] && args+=(-j "$jobs")
    t0=$EPOCHREALTIME
    /usr/bin/time -v -o "$base.time" "$PADOCC_BIN" "${args[@]}" > "$base.json" 2> "$base.err" || rc=$?
    t1=$EPOCHREALTIME
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
    # seconds (in-process), sum of per-project seconds, ran, failed, from the JSON
    local stats
    stats=$("$PY" - "$base.json" "$ph" <<'PYEOF'
import json, sys
path, ph = sys.argv[1], sys.argv[2]
try:
    d = json.load(open(path))
except Exception as e:
    print("\t\t\t"); sys.exit()
if ph == "init":     # {"created": [...], "updated": [...], "unchanged": [...]}
    print(f"\t\t{len(d.get('created', [])) + len(d.get('updated', []))}\t0")
else:
    per = sum(r.get("seconds") or 0 for r in d.get("results", []))
    print(f"{d.get('seconds', '')}\t{per:.6f}\t{d.get('ran', '')}\t{d.get('failed', '')}")
PYEOF
)
    local rss user sys
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$base.time")
    user=$(awk -F': ' '/User time \(seconds\)/ {print $2}' "$base.time")
    sys=$(awk -F': ' '/System time \(seconds\)/ {print $2}' "$base.time")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$ph" "$rc" "$wall" "${rss:-}" "${user:-}" "${sys:-}" "$stats" \
        | awk -F'\t' -v OFS='\t' '{print $1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11}' >> "$RUNS_TSV"
    local ran failed
    ran=$(cut -f3 <<< "$stats"); failed=$(cut -f4 <<< "$stats")
    if [[ $rc -ne 0 || "$ran" != "$TINY_N" || "$failed" != 0 ]]; then
        log "PROBLEM ($round $ph): exit $rc, ran ${ran:-?} of $TINY_N, failed ${failed:-?}: $(grep -v '^\s*$' "$base.err" | grep -v 'Command exited' | tail -3 | tr '\n' ' ')"
    fi
    local inproc
    inproc=$(cut -f1 <<< "$stats")
    log "$round $ph: ${wall}s wall, in-process ${inproc:--}s, maxrss $(( ${rss:-0} / 1024 )) MB (exit $rc)"
}

round() {   # round NAME JOBSARG
    local name=$1 jobs=$2 ph
    rm -rf -- "$TINY_DIR/wd"
    for ph in $PHASES; do run_phase "$name" "$ph" "$jobs"; done
    # the group must end with every project validated
    "$PADOCC_BIN" -w "$TINY_DIR/wd" status -G "$GROUP" --format json > "$RES/$name-status.json" 2>/dev/null || true
}

startup_cost() {   # `padocc status` on an empty group, median of 5 (seconds)
    local wd="$TINY_DIR/empty-wd" i t0 t1
    rm -rf -- "$wd"
    "$PADOCC_BIN" -w "$wd" new -G empty > /dev/null 2>&1 || die "padocc new failed"
    for i in 0 1 2 3 4 5; do
        t0=$EPOCHREALTIME
        "$PADOCC_BIN" -w "$wd" status -G empty > /dev/null 2>&1
        t1=$EPOCHREALTIME
        [[ $i -gt 0 ]] && awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.5f\n", b - a }'
    done | sort -n | sed -n 3p > "$RES/startup.txt"
}

# ---------------------------------------------------------------- padocc 1.5.1
bench_py() {
    local wd="$TINY_DIR/py-wd" ph rc t0 t1 wall rss
    [[ -x "$REFENV/bin/padocc" ]] || { log "no $REFENV/bin/padocc: skipping padocc 1.5.1"; return; }
    rm -rf -- "$wd"; mkdir -p "$wd"
    : > "$RES/py-runs.tsv"
    check_quiet before-py
    t0=$EPOCHREALTIME
    "$REFENV/bin/padocc" --help > /dev/null 2>&1 || true
    t1=$EPOCHREALTIME
    printf 'import\t0\t%s\t\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" >> "$RES/py-runs.tsv"
    for ph in $PHASES; do
        local -a args=("$ph" -G "$GROUP")
        [[ $ph == init ]] && args+=(-i "$TINY_DIR/datasets-py.csv")
        rc=0
        t0=$EPOCHREALTIME
        WORKDIR=$wd /usr/bin/time -v -o "$RES/py-$ph.time" "$REFENV/bin/padocc" "${args[@]}" \
            > "$RES/py-$ph.log" 2>&1 || rc=$?
        t1=$EPOCHREALTIME
        wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
        rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$RES/py-$ph.time")
        printf '%s\t%s\t%s\t%s\n' "$ph" "$rc" "$wall" "${rss:-}" >> "$RES/py-runs.tsv"
        log "padocc 1.5.1 $ph ($TINY_PY_N projects): ${wall}s, maxrss $(( ${rss:-0} / 1024 )) MB (exit $rc)"
    done
    # last status row of each project (padocc 1.5.1 keeps them in status_log.csv)
    for d in "$wd/in_progress/$GROUP"/*/; do
        printf '%s\t%s\n' "$(basename "$d")" "$(tail -n1 "$d/status_log.csv" 2>/dev/null || echo none)"
    done > "$RES/py-last-status.tsv"
}

# ---------------------------------------------------------------- report
report() {
    "$PY" - "$BENCH_DIR" "$RES" "$TINY_N" "$TINY_PY_N" "$TINY_PY" <<'PYEOF'
import json, os, statistics, sys
bench_dir, res, n, pyn, do_py = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
PH = ["init", "scan", "compute", "validate"]
rows = {}
for line in open(os.path.join(res, "runs.tsv")):
    f = line.rstrip("\n").split("\t")
    f += [""] * (11 - len(f))
    rnd, ph, rc, wall, rss, user, sys_, secs, per, ran, failed = f[:11]
    kind = "j1" if rnd.startswith("j1") else "all"
    num = lambda s: float(s) if s not in ("", None) else None
    rows.setdefault((kind, ph), []).append(dict(round=rnd, rc=int(rc), wall=float(wall), rss_mb=int(rss) / 1024 if rss else None,
        cpu=(num(user) or 0) + (num(sys_) or 0), secs=num(secs), per=num(per),
        ran=int(ran) if ran else None, failed=int(failed) if failed else None))
startup = float(open(os.path.join(res, "startup.txt")).read()) if os.path.exists(os.path.join(res, "startup.txt")) else None
out = {"projects": n, "nproc": os.cpu_count(), "startup_s": startup, "ours": {},
       "load": [l.rstrip("\n").split("\t") for l in open(os.path.join(res, "load.tsv"))]}
med = lambda xs: statistics.median(xs) if xs else None
lines = [f"ours: {n} projects x 1 tiny file; per-project figures in ms; process start-up {startup * 1e3:.1f} ms"
         if startup else f"ours: {n} projects", ""]
hdr = "{:<5} {:<9} {:>8} {:>7} {:>7} {:>11} {:>12} {:>12} {:>11} {:>6}".format(
    "jobs", "phase", "wall s", "MB", "cpu s", "wall/proj", "in-proc/proj", "work/proj", "overhd/proj", "ok")
lines += [hdr, "-" * len(hdr)]
for kind in ("all", "j1"):
    tot_wall = tot_in = 0.0
    have = False
    for ph in PH:
        rs = rows.get((kind, ph))
        if not rs:
            continue
        have = True
        ok = all(r["rc"] == 0 and r["ran"] == n and (r["failed"] or 0) == 0 for r in rs)
        wall = med([r["wall"] for r in rs])
        secs = med([r["secs"] for r in rs if r["secs"] is not None])
        per = med([r["per"] for r in rs if r["per"] is not None])
        cpu = med([r["cpu"] for r in rs])
        rec = {"reps": len(rs), "all_ok": ok, "wall_s": round(wall, 4), "wall_all_s": [r["wall"] for r in rs],
               "maxrss_mb": round(max(r["rss_mb"] or 0 for r in rs), 1), "cpu_s": round(cpu, 3),
               "wall_ms_per_project": round(wall / n * 1e3, 3)}
        # in-process: the JSON `seconds` (phase commands) or wall minus start-up (init)
        inproc = secs if secs is not None else (wall - startup if startup else None)
        if inproc is not None:
            rec["in_process_s"] = round(inproc, 4)
            rec["in_process_ms_per_project"] = round(inproc / n * 1e3, 3)
        if per is not None:
            rec["sum_project_s"] = round(per, 4)
            rec["work_ms_per_project"] = round(per / n * 1e3, 3)
            # overhead: in-process time not spent inside any project's own work,
            # per project (parallel work overlaps, so divide the work by the workers)
        rec["meets_5ms_target"] = None if inproc is None else inproc / n <= 0.005
        tot_wall += wall; tot_in += inproc or 0
        out["ours"].setdefault(kind, {})[ph] = rec
        f = lambda x, fm="{:.3f}": "-" if x is None else fm.format(x)
        lines.append("{:<5} {:<9} {:>8} {:>7} {:>7} {:>11} {:>12} {:>12} {:>11} {:>6}".format(
            "1" if kind == "j1" else "all", ph, f(wall), f(rec["maxrss_mb"], "{:.0f}"), f(cpu, "{:.2f}"),
            f(rec["wall_ms_per_project"]), f(rec.get("in_process_ms_per_project")),
            f(rec.get("work_ms_per_project")),
            f(None if startup is None else (wall - (per or 0) / (1 if kind == "j1" else os.cpu_count())) / n * 1e3),
            "yes" if ok else "NO"))
    if have:
        out["ours"][kind]["total"] = {"wall_s": round(tot_wall, 3), "wall_ms_per_project": round(tot_wall / n * 1e3, 3),
                                      "in_process_ms_per_project": round(tot_in / n * 1e3, 3)}
        lines.append("{:<5} {:<9} {:>8.3f} {:>7} {:>7} {:>11.3f} {:>12.3f}".format(
            "1" if kind == "j1" else "all", "TOTAL", tot_wall, "", "", tot_wall / n * 1e3, tot_in / n * 1e3))
lines.append("")
lines.append("wall/proj = process wall / N; in-proc/proj = JSON `seconds` / N (init: wall - start-up);")
lines.append("work/proj = sum of per-project `seconds` / N; overhd/proj = (wall - work / workers) / N.")
# final status of the last round
for kind in ("all", "j1"):
    p = os.path.join(res, ("j1" if kind == "j1" else "r1") + "-status.json")
    if os.path.exists(p):
        try:
            st = json.load(open(p))
            out.setdefault("final_status", {})[kind] = {ph: {s: len(i) for s, i in v.items()} for ph, v in st["phases"].items()}
        except Exception as e:
            out.setdefault("final_status", {})[kind] = f"unreadable: {e}"
if "final_status" in out:
    lines.append(f"final status (first round): {out['final_status'].get('all')}")
if do_py and os.path.exists(os.path.join(res, "py-runs.tsv")):
    py = {"projects": pyn, "phases": {}}
    imp = None
    tot = 0.0
    for line in open(os.path.join(res, "py-runs.tsv")):
        ph, rc, wall, rss = line.rstrip("\n").split("\t")
        if ph == "import":
            imp = float(wall); py["import_s"] = imp; continue
        py["phases"][ph] = {"rc": int(rc), "wall_s": float(wall), "maxrss_mb": round(int(rss) / 1024, 1) if rss else None,
                            "s_per_project": round(float(wall) / pyn, 3),
                            "s_per_project_without_import": round((float(wall) - (imp or 0)) / pyn, 3)}
        tot += float(wall)
    py["total_wall_s"] = round(tot, 3)
    py["s_per_project"] = round(tot / pyn, 3)
    py["s_per_project_without_import"] = round((tot - 4 * (imp or 0)) / pyn, 3)
    last = [l.rstrip("\n").split("\t") for l in open(os.path.join(res, "py-last-status.tsv"))] \
        if os.path.exists(os.path.join(res, "py-last-status.tsv")) else []
    py["last_status"] = {c: s for c, s in last}
    ours_tot = out["ours"].get("all", {}).get("total", {}).get("wall_ms_per_project")
    if ours_tot:
        py["ratio_per_project_padocc_over_ours"] = round(py["s_per_project"] * 1e3 / ours_tot, 1)
    out["padocc_1_5_1"] = py
    lines.append("")
    lines.append(f"padocc 1.5.1 on {pyn} of the projects (one process per phase, projects in series; "
                 f"import alone {imp:.2f} s):")
    for ph, r in py["phases"].items():
        lines.append(f"  {ph:<9} {r['wall_s']:7.2f} s  {r['maxrss_mb'] or 0:5.0f} MB  {r['s_per_project']:.3f} s/project "
                     f"({r['s_per_project_without_import']:.3f} without the import)  exit {r['rc']}")
    lines.append(f"  total     {tot:7.2f} s = {py['s_per_project']:.3f} s/project "
                 f"({py['s_per_project_without_import']:.3f} without imports); ours "
                 f"{ours_tot} ms/project -> {py.get('ratio_per_project_padocc_over_ours')}x per project")
    bad = {c: s for c, s in py["last_status"].items() if not s.startswith("validate,Success")}
    lines.append(f"  last status rows: {len(py['last_status'])} projects, not 'validate,Success': {bad or 'none'}")
json.dump(out, open(os.path.join(bench_dir, "tiny-results.json"), "w"), indent=1)
text = "\n".join(lines)
print(text)
open(os.path.join(bench_dir, "tiny-results.txt"), "w").write(text + "\n")
print(f"\nresults: {os.path.join(bench_dir, 'tiny-results.json')}")
PYEOF
}

# ---------------------------------------------------------------- main
main() {
    check_prereqs
    mkdir -p "$TINY_DIR" "$RES"
    : > "$RUNS_TSV"
    : > "$RES/load.tsv"
    rm -f -- "$RES"/py-*.tsv
    log "binary $PADOCC_BIN; $TINY_N projects in $TINY_DIR; $(nproc) cores"
    make_data
    startup_cost
    # one untimed round so the data and the binary are in the page cache
    check_quiet warm-up
    rm -rf -- "$TINY_DIR/wd"
    for ph in $PHASES; do
        local -a a=(-w "$TINY_DIR/wd" "$ph" -G "$GROUP" -q)
        [[ $ph == init ]] && a+=(-i "$TINY_DIR/datasets.csv")
        "$PADOCC_BIN" "${a[@]}" > /dev/null 2>&1 || log "warm-up $ph: exit $?"
    done
    local r
    for (( r = 1; r <= TINY_REPS; r++ )); do
        check_quiet "round-$r"
        round "r$r" ""
    done
    if [[ "$TINY_JOBS1" == 1 ]]; then
        check_quiet round-j1
        round j1 1
    fi
    [[ "$TINY_PY" == 1 ]] && bench_py
    check_quiet end
    report
}

main "$@"
