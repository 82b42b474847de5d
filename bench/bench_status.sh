#!/usr/bin/env bash
# bench/bench_status.sh -- time `padocc status` on very large groups, read from the
# status journal (groups/<G>/status/*.jnl) alone.
#
# What it does (one run, end to end):
#   1. Synthesises, with Python, one working directory $STATUS_DIR/wd holding a group
#      per size in STATUS_SIZES (default 10 000 and 100 000 projects), named s<N>:
#        groups/s<N>/proj_codes/main.txt   the codes, one per line
#        groups/s<N>/datasets.csv          one line per code (as init leaves it)
#        groups/s<N>/status/*.jnl          STATUS_JOURNALS (8) append-only journals,
#                                          ~STATUS_ROWS (5) rows per project in all:
#                                          init, then per phase (scan, compute, validate,
#                                          complete) an optional Pending row and a result;
#                                          15 % of results fail, half of those are
#                                          retried; some projects are left Pending
#        in_progress/s<N>/                 created EMPTY: no directory per project.
#      Every code has journal rows, so status must never need a project directory.
#      The generator also writes groups/s<N>/expected.json (phase -> status -> count of
#      the newest row per project), which the script checks our JSON output against.
#      A group is reused when its BENCH_INFO.json matches the generator settings.
#   2. For each size: `padocc status -G s<N>` (human text, stdout to a file) and
#      `padocc status -G s<N> --format json`: one untimed warm-up, then STATUS_REPS (5)
#      timed runs under /usr/bin/time -v; median wall, max peak RSS.
#      With strace installed, one extra run under `strace -f -e trace=%file` counts the
#      file system calls that name anything under in_progress/ (expected: 0).
#   3. Comparison with padocc 1.5.1 (STATUS_PY=1): a copy of the 10 000 group in
#      $STATUS_DIR/wd-py, where each project additionally gets in_progress/<G>/<code>/
#      with its status_log.csv (the same rows, padocc's CSV format) -- padocc 1.5.1 has
#      no journal and opens every project. `padocc status -G s10000` of 1.5.1 runs once
#      (STATUS_PY_REPS) under `timeout STATUS_PY_TIMEOUT` (600 s); ours is timed on the
#      same copy too (the journal still covers everything, the project dirs are just
#      present). The "Pipeline Current" counts of both are compared.
#   4. Writes $BENCH_DIR/status-results.json and prints a table.
#
# Usage (from the repository root):
#   bash bench/bench_status.sh
#   STATUS_SIZES="1000" STATUS_PY=0 bash bench/bench_status.sh     # quick smoke test
#
# Environment (all optional):
#   BENCH_DIR          results root                          [/tmp/padocc-bench]
#   STATUS_DIR         synthetic working directories         [$BENCH_DIR/status]
#   STATUS_SIZES       group sizes (projects)                ["10000 100000"]
#   STATUS_REPS        timed runs per command                [5]
#   STATUS_JOURNALS    journal files per group               [8]
#   STATUS_ROWS        mean status rows per project          [5]
#   STATUS_PY=0        skip the padocc 1.5.1 comparison      [1]
#   STATUS_PY_SIZE     group size for the comparison         [10000]
#   STATUS_PY_REPS     runs of padocc 1.5.1 status           [1]
#   STATUS_PY_TIMEOUT  seconds before giving up on 1.5.1     [600]
#   REFENV             Python reference env (padocc 1.5.1)   [/tmp/refenv]
#   PADOCC_BIN         binary under test   [$BENCH_DIR/padocc-snapshot if present,
#                                           else <repo>/target/release/padocc]
#
# Notes:
#   * Targets: 100 000 projects <= 1 s, 10 000 <= 0.2 s (wall, warm cache).
#   * Wall time is measured by bash ($EPOCHREALTIME) around `/usr/bin/time -v`;
#     peak RSS comes from /usr/bin/time.
#   * This script never runs cargo. Copy the release binary you want to measure to
#     $BENCH_DIR/padocc-snapshot (or set PADOCC_BIN) so a rebuild cannot change it
#     mid-run.
set -euo pipefail

# ---------------------------------------------------------------- settings
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/padocc-bench}
STATUS_DIR=${STATUS_DIR:-$BENCH_DIR/status}
STATUS_SIZES=${STATUS_SIZES:-"10000 100000"}
STATUS_REPS=${STATUS_REPS:-5}
STATUS_JOURNALS=${STATUS_JOURNALS:-8}
STATUS_ROWS=${STATUS_ROWS:-5}
STATUS_PY=${STATUS_PY:-1}
STATUS_PY_SIZE=${STATUS_PY_SIZE:-10000}
STATUS_PY_REPS=${STATUS_PY_REPS:-1}
STATUS_PY_TIMEOUT=${STATUS_PY_TIMEOUT:-600}
REFENV=${REFENV:-/tmp/refenv}
if [[ -z "${PADOCC_BIN:-}" ]]; then
    if [[ -x "$BENCH_DIR/padocc-snapshot" ]]; then PADOCC_BIN=$BENCH_DIR/padocc-snapshot
    else PADOCC_BIN=$REPO/target/release/padocc; fi
fi
PY="$REFENV/bin/python"
[[ -x "$PY" ]] || PY=$(command -v python3)
RES="$BENCH_DIR/results/status"
RUNS_TSV="$RES/runs.tsv"

log() { printf '[bench_status %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf 'bench_status.sh: error: %s\n' "$*" >&2; exit 1; }

check_prereqs() {
    [[ -x "$PADOCC_BIN" ]] || die "binary not found: $PADOCC_BIN (build it with 'cargo build --release'; this script never builds)"
    [[ -x /usr/bin/time ]] || die "/usr/bin/time missing (apt-get install time)"
    [[ -n "$PY" ]] || die "no python3 found"
    [[ "$STATUS_REPS" =~ ^[1-9][0-9]*$ ]] || die "STATUS_REPS must be a positive integer"
}

# Warn (do not stop) when a build or anything else is busy; keep the load.
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
# gen_group N : synthesise group s<N> in $STATUS_DIR/wd (skipped when present).
gen_group() {
    local n=$1 g="s$1" wd="$STATUS_DIR/wd"
    local want="size=$n journals=$STATUS_JOURNALS rows=$STATUS_ROWS v=2"
    if [[ -f "$wd/groups/$g/BENCH_INFO.json" ]] && grep -qF "\"$want\"" "$wd/groups/$g/BENCH_INFO.json"; then
        log "group $g present ($want)"; return
    fi
    log "synthesising group $g: $n projects, $STATUS_JOURNALS journals, ~$STATUS_ROWS rows each"
    rm -rf -- "$wd/groups/$g" "$wd/in_progress/$g"
    "$PY" - "$wd" "$g" "$n" "$STATUS_JOURNALS" "$STATUS_ROWS" "$want" <<'PYEOF'
import json, os, random, sys, time
wd, g, n, nj, mean_rows, want = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
rng = random.Random(20261125 + n)
gdir = os.path.join(wd, "groups", g)
for d in ("proj_codes", "status"):
    os.makedirs(os.path.join(gdir, d), exist_ok=True)
os.makedirs(os.path.join(wd, "in_progress", g), exist_ok=True)   # empty on purpose
codes = [f"CMIP6_BENCH_{i:06d}_tas_day_r{i % 10 + 1}i1p1f1" for i in range(n)]
with open(os.path.join(gdir, "proj_codes", "main.txt"), "w") as fh:
    fh.write("\n".join(codes))                       # padocc: no trailing newline
with open(os.path.join(gdir, "datasets.csv"), "w") as fh:
    for c in codes:
        fh.write(f"{c},/badc/cmip6/data/{c}/*.nc,,\n")
FAIL = {"scan": ["Fatal-ValueError", "Failed-FileNotFoundError", "Fatal-SourceUnreadable"],
        "compute": ["Fatal-KerchunkDriverFatalError", "Failed-MemoryError", "Fatal-ConcatFatalError",
                    "Fatal-IdenticalDims"],
        "validate": ["Fatal-ShapeMismatch", "Fatal-DataValuesDiffer", "Warn-NaNsDiffer", "Fatal-MissingVariable"],
        "complete": ["Failed-PermissionError"]}
t0 = 1795500000 * 10**9                                # ns, a fixed start (Nov 2026)
rows = []                                              # (ns, code, phase, status, jobid)
per_code = {}
for i, c in enumerate(codes):
    target = rng.randint(mean_rows - 2, mean_rows + 2)  # mean = mean_rows
    seq = [("init", "Success")]
    for ph in ("scan", "compute", "validate", "complete"):
        if len(seq) >= target:
            break
        if rng.random() < 0.5:                         # a queued job logs Pending first
            seq.append((ph, "Pending"))
        ok = False
        for attempt in range(2):
            if len(seq) >= target:
                break
            if rng.random() < 0.85:
                seq.append((ph, "Success")); ok = True; break
            seq.append((ph, rng.choice(FAIL[ph])))
            if rng.random() < 0.5 or len(seq) >= target:      # not retried
                break
        if not ok:
            break
    while len(seq) < target:                           # re-runs of the last phase
        seq.append((seq[-1][0], "Pending")); seq.append((seq[-2][0], seq[-2][1]))
    seq = seq[:target]
    for k, (ph, st) in enumerate(seq):
        # waves: row k of every project ~ an hour after row k-1, projects interleaved
        ns = t0 + k * 3600 * 10**9 + i * 17_000 + rng.randrange(10**6)
        jobid = "" if ph == "init" else f"{4_000_000 + k * 1000 + i // 100}_{i % 100}"
        rows.append((ns, c, ph, st, jobid))
    per_code[c] = seq
# each row goes to one journal (one per writing process); files are append-only, so
# each is in time order
files = [[] for _ in range(nj)]
for r in rows:
    files[rng.randrange(nj)].append(r)
for j, f in enumerate(files):
    f.sort()
    name = os.path.join(gdir, "status", f"node{j:02d}-{10000 + j}-{t0 + j}.jnl")
    with open(name, "w") as fh:
        for ns, c, ph, st, jobid in f:
            hm = time.strftime("%H:%M %d/%m/%y", time.localtime(ns // 10**9))
            fh.write(f"{ns}\t{c}\t{ph}\t{st}\t{hm}\t{jobid}\n")
# expected: newest row per code
exp = {}
last = {}
for r in rows:
    if r[1] not in last or r[0] > last[r[1]][0]:
        last[r[1]] = r
for c in codes:
    _, _, ph, st, _ = last[c]
    exp.setdefault(ph, {}).setdefault(st, 0)
    exp[ph][st] += 1
json.dump(exp, open(os.path.join(gdir, "expected.json"), "w"), indent=1, sort_keys=True)
# the same rows, padocc 1.5.1's status_log.csv format, for the comparison copy
with open(os.path.join(gdir, "status_logs.tsv"), "w") as fh:
    for r in sorted(rows, key=lambda r: (r[1], r[0])):
        hm = time.strftime("%H:%M %d/%m/%y", time.localtime(r[0] // 10**9))
        fh.write(f"{r[1]}\t{r[2]},{r[3]},{hm},{r[4]}\n")
jbytes = sum(os.path.getsize(os.path.join(gdir, "status", x)) for x in os.listdir(os.path.join(gdir, "status")))
info = {"settings": want, "projects": n, "journals": nj, "rows": len(rows),
        "rows_per_project": round(len(rows) / n, 3), "journal_bytes": jbytes,
        "newest_phase_counts": {ph: sum(v.values()) for ph, v in exp.items()},
        "failed_newest": sum(k for ph, v in exp.items() for s, k in v.items()
                             if "Fatal" in s or "Failed" in s)}
json.dump(info, open(os.path.join(gdir, "BENCH_INFO.json"), "w"), indent=1)
print(json.dumps(info))
PYEOF
}

# make_py_copy N : $STATUS_DIR/wd-py with group s<N> plus a directory and a
# status_log.csv per project (padocc 1.5.1 reads those).
make_py_copy() {
    local n=$1 g="s$1" src="$STATUS_DIR/wd" dst="$STATUS_DIR/wd-py"
    if [[ -f "$dst/groups/$g/BENCH_INFO.json" ]] && cmp -s "$src/groups/$g/BENCH_INFO.json" "$dst/groups/$g/BENCH_INFO.json" \
        && [[ -f "$dst/in_progress/$g/.complete" ]]; then
        log "comparison copy of $g present"; return
    fi
    log "making the padocc 1.5.1 comparison copy of $g (one directory + status_log.csv per project)"
    rm -rf -- "$dst"
    mkdir -p "$dst/groups" "$dst/in_progress"
    cp -a "$src/groups/$g" "$dst/groups/$g"
    "$PY" - "$dst/groups/$g/status_logs.tsv" "$dst/in_progress/$g" <<'PYEOF'
import os, sys
tsv, root = sys.argv[1], sys.argv[2]
os.makedirs(root, exist_ok=True)
logs = {}
for line in open(tsv):
    c, row = line.rstrip("\n").split("\t", 1)
    logs.setdefault(c, []).append(row)
for c, rs in logs.items():
    d = os.path.join(root, c)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "status_log.csv"), "w") as fh:   # padocc: no trailing newline
        fh.write("\n".join(rs))
open(os.path.join(root, ".complete"), "w").close()
PYEOF
}

# ---------------------------------------------------------------- timing
# time_one LABEL REP OUTFILE CMD... : one run under /usr/bin/time -v; REP 0 = warm-up.
time_one() {
    local label=$1 rep=$2 out=$3; shift 3
    local tfile="$RES/$label-$rep.time" t0 t1 rc=0 wall rss
    t0=$EPOCHREALTIME
    /usr/bin/time -v -o "$tfile" "$@" > "$out" 2> "$RES/$label-$rep.err" || rc=$?
    t1=$EPOCHREALTIME
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tfile")
    if [[ $rc -ne 0 ]]; then
        log "FAILED ($label rep $rep, exit $rc): $(grep -v '^\s*$' "$RES/$label-$rep.err" | grep -v 'Command exited' | tail -3 | tr '\n' ' ')"
    fi
    [[ $rep -eq 0 ]] && { log "warm-up $label: ${wall}s (exit $rc)"; return 0; }
    printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$rep" "$rc" "$wall" "${rss:-}" >> "$RUNS_TSV"
    log "$label rep $rep: ${wall}s, maxrss $(( ${rss:-0} / 1024 )) MB (exit $rc)"
}

bench_ours() {   # bench_ours WORKDIR GROUP LABEL
    local wd=$1 g=$2 label=$3 rep
    for fmt in human json; do
        for (( rep = 0; rep <= STATUS_REPS; rep++ )); do
            time_one "$label-$fmt" "$rep" "$RES/$label-$fmt.out" \
                "$PADOCC_BIN" -w "$wd" status -G "$g" --format "$fmt"
        done
    done
}

# count_touch WORKDIR GROUP : file syscalls naming in_progress/<G>/ during one status run
count_touch() {
    local wd=$1 g=$2
    if ! command -v strace > /dev/null; then echo ""; return; fi
    strace -f -qq -e trace=%file -o "$RES/strace-$g.txt" "$PADOCC_BIN" -w "$wd" status -G "$g" --format json > /dev/null 2>&1 || true
    grep -c "in_progress/$g/" "$RES/strace-$g.txt" || true
}

# ---------------------------------------------------------------- padocc 1.5.1
bench_py() {
    local n=$STATUS_PY_SIZE g="s$STATUS_PY_SIZE" wd="$STATUS_DIR/wd-py" rep rc t0 t1 wall rss
    [[ -x "$REFENV/bin/padocc" ]] || { log "no $REFENV/bin/padocc: skipping the padocc 1.5.1 comparison"; echo "no padocc 1.5.1 CLI" > "$RES/py-note.txt"; return; }
    make_py_copy "$n"
    bench_ours "$wd" "$g" "ours-dirs-$n"
    for (( rep = 1; rep <= STATUS_PY_REPS; rep++ )); do
        check_quiet "before-py-$rep"
        log "padocc 1.5.1 status on $g (run $rep of $STATUS_PY_REPS, timeout ${STATUS_PY_TIMEOUT}s)"
        rc=0
        t0=$EPOCHREALTIME
        WORKDIR=$wd /usr/bin/time -v -o "$RES/py-$n-$rep.time" timeout "$STATUS_PY_TIMEOUT" \
            "$REFENV/bin/padocc" status -G "$g" > "$RES/py-$n.out" 2> "$RES/py-$n-$rep.err" || rc=$?
        t1=$EPOCHREALTIME
        wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
        rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$RES/py-$n-$rep.time")
        printf '%s\t%s\t%s\t%s\t%s\n' "py-$n" "$rep" "$rc" "$wall" "${rss:-}" >> "$RUNS_TSV"
        if [[ $rc -eq 124 ]]; then
            log "padocc 1.5.1 status did not finish within ${STATUS_PY_TIMEOUT}s"
            echo "padocc 1.5.1 status timed out after ${STATUS_PY_TIMEOUT}s" > "$RES/py-note.txt"; return
        fi
        log "padocc 1.5.1 status $g: ${wall}s, maxrss $(( ${rss:-0} / 1024 )) MB (exit $rc)"
    done
    # padocc's import alone (the fixed cost of any padocc 1.5.1 command)
    t0=$EPOCHREALTIME
    "$REFENV/bin/padocc" --help > /dev/null 2>&1 || true
    t1=$EPOCHREALTIME
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' > "$RES/py-import.txt"
}

# ---------------------------------------------------------------- report
report() {
    "$PY" - "$BENCH_DIR" "$RES" "$STATUS_DIR" "$STATUS_SIZES" "$STATUS_PY" "$STATUS_PY_SIZE" <<'PYEOF'
import json, os, re, statistics, sys
bench_dir, res, sdir, sizes, do_py, py_n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(), sys.argv[5] == "1", sys.argv[6]
runs = {}
for line in open(os.path.join(res, "runs.tsv")):
    label, rep, rc, wall, rss = line.rstrip("\n").split("\t")
    runs.setdefault(label, []).append((int(rc), float(wall), int(rss) / 1024 if rss else None))
def summ(label):
    rs = runs.get(label, [])
    ok = [r for r in rs if r[0] == 0]
    if not ok:
        return {"reps": len(rs), "failed_reps": len(rs)}
    return {"reps": len(rs), "failed_reps": len(rs) - len(ok),
            "wall_s": round(statistics.median(r[1] for r in ok), 4),
            "wall_all_s": [r[1] for r in ok], "maxrss_mb": round(max(r[2] for r in ok), 1)}
targets = {"10000": 0.2, "100000": 1.0}
out = {"host": {"nproc": os.cpu_count(),
                "load": [l.rstrip("\n").split("\t") for l in open(os.path.join(res, "load.tsv"))]},
       "groups": []}
lines = ["{:>8} {:>8} {:>10} | {:>9} {:>7} | {:>9} {:>7} | {:>7} {:>8} | {}".format(
    "projects", "rows", "jnl MB", "human s", "MB", "json s", "MB", "target", "touches", "check")]
lines.append("-" * len(lines[0]))
for n in sizes:
    g = f"s{n}"
    gdir = os.path.join(sdir, "wd", "groups", g)
    info = json.load(open(os.path.join(gdir, "BENCH_INFO.json")))
    exp = json.load(open(os.path.join(gdir, "expected.json")))
    rec = {"projects": int(n), "info": info, "human": summ(f"ours-{n}-human"), "json": summ(f"ours-{n}-json")}
    # check: our JSON counts == the generator's newest-row counts
    try:
        got = json.load(open(os.path.join(res, f"ours-{n}-json.out")))
        gc = {ph: {st: len(ids) for st, ids in v.items()} for ph, v in got["phases"].items()}
        ok = gc == exp and got["total"] == int(n) and not got["no_status"]
        rec["check"] = "ok" if ok else f"MISMATCH: got {gc} expected {exp}"
    except Exception as e:
        rec["check"] = f"unreadable JSON output: {e}"
    t = open(os.path.join(res, f"touch-{n}.txt")).read().strip() if os.path.exists(os.path.join(res, f"touch-{n}.txt")) else ""
    rec["in_progress_file_syscalls"] = int(t) if t else None
    tgt = targets.get(n)
    worst = max(rec["human"].get("wall_s", 1e9), rec["json"].get("wall_s", 1e9))
    rec["target_s"] = tgt
    rec["meets_target"] = None if tgt is None else worst <= tgt
    out["groups"].append(rec)
    f = lambda x, fm="{:.3f}": "-" if x is None else fm.format(x)
    lines.append("{:>8} {:>8} {:>10} | {:>9} {:>7} | {:>9} {:>7} | {:>7} {:>8} | {}".format(
        n, info["rows"], f(info["journal_bytes"] / 1e6, "{:.1f}"),
        f(rec["human"].get("wall_s")), f(rec["human"].get("maxrss_mb"), "{:.0f}"),
        f(rec["json"].get("wall_s")), f(rec["json"].get("maxrss_mb"), "{:.0f}"),
        "-" if tgt is None else ("<=%gs %s" % (tgt, "ok" if rec["meets_target"] else "MISSED")),
        f(rec["in_progress_file_syscalls"], "{}"), rec["check"][:60]))
if do_py:
    py = {"projects": int(py_n)}
    note = os.path.join(res, "py-note.txt")
    if os.path.exists(note):
        py["note"] = open(note).read().strip()
    py["padocc_1_5_1"] = summ(f"py-{py_n}")
    py["ours_same_workdir_human"] = summ(f"ours-dirs-{py_n}-human")
    py["ours_same_workdir_json"] = summ(f"ours-dirs-{py_n}-json")
    imp = os.path.join(res, "py-import.txt")
    if os.path.exists(imp):
        py["padocc_1_5_1_import_s"] = float(open(imp).read())
    pw, ow = py["padocc_1_5_1"].get("wall_s"), py["ours_same_workdir_human"].get("wall_s")
    if pw and ow:
        py["speedup"] = round(pw / ow, 1)
    # compare the "Pipeline Current" counts: lines "   <phase> : N [..]" and "    - <status>: N"
    def counts(path):
        if not os.path.exists(path):
            return None
        txt = open(path).read()
        txt = txt.split("By phase (current):")[0]
        c, ph = {}, None
        for line in txt.splitlines():
            m = re.match(r"^\s+(init|scan|compute|validate|complete)\s*:\s*(\d+)", line)
            if m:
                ph = m.group(1); c[ph] = {"_total": int(m.group(2))}; continue
            m = re.match(r"^\s+- (.*?)\s*:\s*(\d+)", line)
            if m and ph:
                c[ph][m.group(1)] = int(m.group(2))
        return c
    pc, oc = counts(os.path.join(res, f"py-{py_n}.out")), counts(os.path.join(res, f"ours-dirs-{py_n}-human.out"))
    py["same_counts"] = (pc == oc) if pc is not None and oc is not None else None
    if pc is not None and pc != oc:
        py["counts_padocc"], py["counts_ours"] = pc, oc
    out["padocc_1_5_1"] = py
    lines.append("")
    if "wall_s" in py["padocc_1_5_1"]:
        lines.append(f"padocc 1.5.1 status, {py_n} projects with per-project status_log.csv: "
                     f"{py['padocc_1_5_1']['wall_s']:.2f} s / {py['padocc_1_5_1']['maxrss_mb']:.0f} MB "
                     f"(import alone {py.get('padocc_1_5_1_import_s', float('nan')):.2f} s); ours on the same "
                     f"workdir {ow:.3f} s -> {py.get('speedup')}x; same Pipeline Current counts: {py['same_counts']}")
    else:
        lines.append(f"padocc 1.5.1 status: {py.get('note', 'no successful run')}")
json.dump(out, open(os.path.join(bench_dir, "status-results.json"), "w"), indent=1)
text = "\n".join(lines)
print(text)
open(os.path.join(bench_dir, "status-results.txt"), "w").write(text + "\n")
print(f"\nresults: {os.path.join(bench_dir, 'status-results.json')}")
PYEOF
}

# ---------------------------------------------------------------- main
main() {
    check_prereqs
    mkdir -p "$STATUS_DIR/wd" "$RES"
    : > "$RUNS_TSV"
    : > "$RES/load.tsv"
    rm -f -- "$RES/py-note.txt" "$RES/py-import.txt" "$RES"/touch-*.txt
    log "binary $PADOCC_BIN; data $STATUS_DIR; sizes $STATUS_SIZES; $(nproc) cores"
    local n
    for n in $STATUS_SIZES; do gen_group "$n"; done
    for n in $STATUS_SIZES; do
        check_quiet "before-$n"
        bench_ours "$STATUS_DIR/wd" "s$n" "ours-$n"
        count_touch "$STATUS_DIR/wd" "s$n" > "$RES/touch-$n.txt"
    done
    if [[ "$STATUS_PY" == 1 ]]; then
        [[ -d "$STATUS_DIR/wd/groups/s$STATUS_PY_SIZE" ]] || gen_group "$STATUS_PY_SIZE"
        bench_py
    fi
    check_quiet end
    report
}

main "$@"
