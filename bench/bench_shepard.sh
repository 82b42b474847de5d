#!/usr/bin/env bash
# bench/bench_shepard.sh -- time `padocc shepard status` and one `shepard batch` pass on
# 100 flocks x 1000 projects (generated), with the files each pass opens.
#
# What it does (one run, end to end):
#   1. For each layout in SHEP_LAYOUTS, bench/shepard_gen.py synthesises a flock_dir
#      $SHEP_DIR/<layout> (reused when its BENCH_INFO.json matches the settings):
#      SHEP_FLOCKS (100) groups SHEPARD_bench_fNNN of SHEP_PROJECTS (1000) projects, each
#      project in_progress/<G>/<code>/{base-cfg.json,detail-cfg.json,status_log.csv} with
#      ~5 status rows (init, then scan/compute/validate/complete results, Pending rows with
#      job ids <job>_<index>, ~10 % ending in a failure: Failed-InputError,
#      ConcatFatalError, OUT_OF_MEMORY, TIMEOUT, (V>K)Fatal-data_errors, Redo), conf.yaml
#      (padocc 1.5.1's SHEPARD keys, batch_limit SHEP_BATCH_LIMIT) and expected.json.
#        ours    padocc-rs's layout: every row also in groups/<G>/status/bench-1-0.jnl
#                (each status_log.csv 1 s older than its newest journal row, so it need
#                not be opened) and a jobs/<submission>/job.json per job id (so Pending
#                rows are joined with the scheduler).
#        padocc  padocc 1.5.1's layout: status_log.csv only.
#      The script adds $flock_dir/padocc.toml (scheduler = "slurm").
#   2. A fake SLURM first on PATH for every command ($RES/fakebin): `sbatch` prints a new
#      job id (9000000, 9000001, ...; the bare id for --parsable, which padocc-rs passes,
#      else "Submitted batch job N"), `sacct` prints nothing (padocc-rs calls
#      `sacct -n -P -o JobID,State,ExitCode,MaxRSS -j IDS`), `scontrol show config` says
#      MaxArraySize = 1001, `squeue`/`scancel` print nothing. Every call is logged to
#      $RES/fakestate/calls.log; nothing reaches a real scheduler.
#   3. Per layout, each one untimed warm-up then SHEP_REPS (5) timed runs under
#      /usr/bin/time -v (median wall, max RSS):
#        status       padocc shepard status --conf conf.yaml
#        status-json  padocc shepard status --conf conf.yaml --format json
#        batch-dry    padocc shepard batch --conf conf.yaml --parallel --dry-run
#      then SHEP_BATCH_REPS (= SHEP_REPS) timed real passes, each on a fresh copy
#      $SHEP_DIR/<layout>-copy (`shepard_gen.py --restore`: cp -a the first time, then
#      only what the previous pass changed), no warm-up:
#        batch        padocc shepard batch --conf copy/conf.yaml --parallel --format json
#      status and the dry run must change nothing: files newer than a marker made before
#      them (outside shp_logs/, SHEPARD's lock) are reported, and the flock_dir is then
#      regenerated on the next run.
#   4. With strace (SHEP_STRACE=1): one extra untimed run of each command under
#      `strace -ff -e trace=openat,open,execve,statx,newfstatat,stat,lstat,clone,...`: opens
#      by the padocc process, all its threads (all, under the flock_dir, under in_progress/),
#      its stats of paths under in_progress/, and the scheduler commands it ran (sbatch,
#      sacct, ... execs; other child processes are counted, not looked into). The real
#      pass is traced on its own fresh copy.
#   5. Checks `shepard status --format json` against expected.json (per flock and phase:
#      error / pending / success, complete, errors, as src/shepard/status.rs counts them;
#      or phase -> status -> count if the JSON has that shape), writes
#      $BENCH_DIR/shepard-results.json and prints a table.
#
# Usage (from the repository root):
#   bash bench/bench_shepard.sh
#   SHEP_FLOCKS=5 SHEP_PROJECTS=100 SHEP_DIR=/tmp/shep-smoke bash bench/bench_shepard.sh   # smoke
#
# Environment (all optional):
#   BENCH_DIR         results root                                   [/tmp/padocc-bench]
#   SHEP_DIR          generated flock_dirs and copies                [$BENCH_DIR/shepard]
#   SHEP_LAYOUTS      layouts to time                                ["ours padocc"]
#   SHEP_FLOCKS       flocks (groups)                                [100]
#   SHEP_PROJECTS     projects per flock                             [1000]
#   SHEP_BATCH_LIMIT  conf.yaml batch_limit                          [1000]
#   SHEP_SEED         generator seed                                 [1]
#   SHEP_REPS         timed runs of status, status-json, batch-dry   [5]
#   SHEP_BATCH_REPS   timed real batch passes (one copy each)        [$SHEP_REPS]
#   SHEP_STRACE=0     skip the strace counts                         [1]
#   SHEP_REGEN=1      regenerate the flock_dirs                      [0]
#   SHEP_KEEP_COPY=0  delete the copies at the end                   [1]
#   SHEP_TARGET_S     target for `shepard status`, seconds           [1.0]
#   PADOCC_BIN        binary under test   [$BENCH_DIR/padocc-snapshot if present,
#                                          else <repo>/target/release/padocc]
#
# Notes:
#   * Target: `shepard status` <= 1 s for 100 flocks x 1000 projects (wall, warm cache).
#   * The generated histories are anchored at generation time (Pending rows mostly
#     < 20 h old, 10 % of them 26-40 h: stale under padocc's 24 h rule). A flock_dir
#     reused days later has only stale Pending rows: SHEP_REGEN=1 to refresh.
#   * Disk: ~1.7 GB and 400 000 inodes per layout, the same again per copy.
#   * This script never runs cargo. Copy the release binary you want to measure to
#     $BENCH_DIR/padocc-snapshot (or set PADOCC_BIN) so a rebuild cannot change it.
set -euo pipefail

# ---------------------------------------------------------------- settings
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/padocc-bench}
SHEP_DIR=${SHEP_DIR:-$BENCH_DIR/shepard}
SHEP_LAYOUTS=${SHEP_LAYOUTS:-"ours padocc"}
SHEP_FLOCKS=${SHEP_FLOCKS:-100}
SHEP_PROJECTS=${SHEP_PROJECTS:-1000}
SHEP_BATCH_LIMIT=${SHEP_BATCH_LIMIT:-1000}
SHEP_SEED=${SHEP_SEED:-1}
SHEP_REPS=${SHEP_REPS:-5}
SHEP_BATCH_REPS=${SHEP_BATCH_REPS:-$SHEP_REPS}
SHEP_STRACE=${SHEP_STRACE:-1}
SHEP_REGEN=${SHEP_REGEN:-0}
SHEP_KEEP_COPY=${SHEP_KEEP_COPY:-1}
SHEP_TARGET_S=${SHEP_TARGET_S:-1.0}
if [[ -z "${PADOCC_BIN:-}" ]]; then
    if [[ -x "$BENCH_DIR/padocc-snapshot" ]]; then PADOCC_BIN=$BENCH_DIR/padocc-snapshot
    else PADOCC_BIN=$REPO/target/release/padocc; fi
fi
PY=$(command -v python3 || true)
GEN="$SCRIPT_DIR/shepard_gen.py"
RES="$BENCH_DIR/results/shepard"
RUNS_TSV="$RES/runs.tsv"
FAKE="$RES/fakebin"
FAKE_STATE="$RES/fakestate"

log() { printf '[bench_shepard %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf 'bench_shepard.sh: error: %s\n' "$*" >&2; exit 1; }

check_prereqs() {
    [[ -x "$PADOCC_BIN" ]] || die "binary not found: $PADOCC_BIN (build it with 'cargo build --release'; this script never builds)"
    [[ -x /usr/bin/time ]] || die "/usr/bin/time missing (apt-get install time)"
    [[ -n "$PY" ]] || die "no python3 found"
    [[ -f "$GEN" ]] || die "generator missing: $GEN"
    local v
    for v in SHEP_REPS SHEP_BATCH_REPS SHEP_FLOCKS SHEP_PROJECTS SHEP_BATCH_LIMIT; do
        [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
    done
    [[ "$SHEP_REPS" -ge 1 ]] || die "SHEP_REPS must be at least 1"
    for v in $SHEP_LAYOUTS; do [[ "$v" == ours || "$v" == padocc ]] || die "SHEP_LAYOUTS: unknown layout '$v' (ours, padocc)"; done
    if ! "$PADOCC_BIN" shepard --help > "$RES/shepard-help.txt" 2>&1; then
        die "$PADOCC_BIN has no working 'shepard' subcommand ('padocc shepard --help' failed: $(head -c 300 "$RES/shepard-help.txt" | tr '\n' ' ')); build a binary with it first"
    fi
    if [[ "$SHEP_STRACE" == 1 ]] && ! command -v strace > /dev/null; then
        log "strace not installed: no file counts (apt-get install strace, or SHEP_STRACE=0)"; SHEP_STRACE=0
    fi
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

# ---------------------------------------------------------------- fake SLURM
make_fake_slurm() {
    rm -rf -- "$FAKE" "$FAKE_STATE"
    mkdir -p "$FAKE" "$FAKE_STATE"
    : > "$FAKE_STATE/calls.log"
    echo 9000000 > "$FAKE_STATE/next_job"
    cat > "$FAKE/sbatch" <<EOF
#!/bin/bash
# fake sbatch (bench_shepard.sh): submits nothing, prints a new job id
state='$FAKE_STATE'
exec 9>>"\$state/lock"; flock 9
n=\$(cat "\$state/next_job"); echo \$((n + 1)) > "\$state/next_job"
printf 'sbatch\t%s\t%s\n' "\$n" "\$*" >> "\$state/calls.log"
case " \$* " in *" --parsable "*) echo "\$n" ;; *) echo "Submitted batch job \$n" ;; esac
EOF
    cat > "$FAKE/sacct" <<EOF
#!/bin/bash
# fake sacct (bench_shepard.sh): knows no job
exec 9>>'$FAKE_STATE/lock'; flock 9
printf 'sacct\t\t%s\n' "\$*" >> '$FAKE_STATE/calls.log'
EOF
    cat > "$FAKE/scontrol" <<EOF
#!/bin/bash
# fake scontrol (bench_shepard.sh)
exec 9>>'$FAKE_STATE/lock'; flock 9
printf 'scontrol\t\t%s\n' "\$*" >> '$FAKE_STATE/calls.log'
[[ "\$1 \$2" == "show config" ]] && echo "MaxArraySize            = 1001"
exit 0
EOF
    local c
    for c in squeue scancel; do
        cat > "$FAKE/$c" <<EOF
#!/bin/bash
# fake $c (bench_shepard.sh)
exec 9>>'$FAKE_STATE/lock'; flock 9
printf '$c\t\t%s\n' "\$*" >> '$FAKE_STATE/calls.log'
EOF
    done
    chmod +x "$FAKE"/*
    export PATH="$FAKE:$PATH"
    [[ "$(command -v sbatch)" == "$FAKE/sbatch" ]] || die "the fake sbatch is not first on PATH"
    [[ "$(sbatch --parsable /dev/null)" == 9000000 ]] || die "the fake sbatch does not work"
    echo 9000000 > "$FAKE_STATE/next_job"; : > "$FAKE_STATE/calls.log"
}

# calls_since LINE : scheduler calls logged after line LINE of calls.log, "sbatch=N sacct=N ..."
calls_since() {
    tail -n +"$(( $1 + 1 ))" "$FAKE_STATE/calls.log" | awk -F'\t' '{ n[$1]++ } END { s = ""; for (k in n) s = s k "=" n[k] " "; print s }'
}
calls_now() { wc -l < "$FAKE_STATE/calls.log"; }

# ---------------------------------------------------------------- data
gen_layout() {   # gen_layout LAYOUT
    local layout=$1 out="$SHEP_DIR/$1" force=()
    [[ "$SHEP_REGEN" == 1 ]] && force=(--force)
    log "flock_dir $out: $SHEP_FLOCKS flocks x $SHEP_PROJECTS projects, layout $layout"
    "$PY" "$GEN" "$out" --flocks "$SHEP_FLOCKS" --projects "$SHEP_PROJECTS" --layout "$layout" \
        --seed "$SHEP_SEED" --batch-limit "$SHEP_BATCH_LIMIT" "${force[@]}" > "$RES/$layout-gen.json"
    [[ -s "$RES/$layout-gen.json" ]] || cp "$out/BENCH_INFO.json" "$RES/$layout-gen.json"
    printf '# padocc-rs site settings (bench_shepard.sh): the fake SLURM on PATH takes the jobs\nscheduler = "slurm"\n' > "$out/padocc.toml"
}

restore_copy() {   # restore_copy LAYOUT : $SHEP_DIR/<layout>-copy := $SHEP_DIR/<layout>
    "$PY" "$GEN" --restore "$SHEP_DIR/$1" "$SHEP_DIR/$1-copy" 2>> "$RES/$1-restore.log"
    tail -n 1 "$RES/$1-restore.log" | sed 's/^/  /' >&2
    sync
}

# ---------------------------------------------------------------- timing
# time_one LABEL REP OUTFILE CMD... : one run under /usr/bin/time -v; REP 0 = warm-up.
time_one() {
    local label=$1 rep=$2 out=$3; shift 3
    local tfile="$RES/$label-$rep.time" t0 t1 rc=0 wall rss c0
    c0=$(calls_now)
    t0=$EPOCHREALTIME
    /usr/bin/time -v -o "$tfile" "$@" > "$out" 2> "$RES/$label-$rep.err" || rc=$?
    t1=$EPOCHREALTIME
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tfile")
    if [[ $rc -ne 0 ]]; then
        log "FAILED ($label rep $rep, exit $rc): $(grep -v '^\s*$' "$RES/$label-$rep.err" | grep -v 'Command exited' | tail -3 | tr '\n' ' ')"
    fi
    [[ $rep -eq 0 ]] && { log "warm-up $label: ${wall}s (exit $rc)"; return 0; }
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$rep" "$rc" "$wall" "${rss:-}" "$(calls_since "$c0")" >> "$RUNS_TSV"
    log "$label rep $rep: ${wall}s, maxrss $(( ${rss:-0} / 1024 )) MB (exit $rc) $(calls_since "$c0")"
}

# trace LABEL FLOCK_DIR CMD... : one untimed run under strace -ff; the per-process files
# go to $RES/strace/LABEL/, the counts to $RES/strace/LABEL.json.
trace() {
    local label=$1 fd=$2; shift 2
    [[ "$SHEP_STRACE" == 1 ]] || return 0
    local dir="$RES/strace/$label" rc=0
    rm -rf -- "$dir"; mkdir -p "$dir"
    strace -ff -qq -e trace=openat,open,execve,statx,newfstatat,stat,lstat,clone,clone3,fork,vfork -o "$dir/t" "$@" \
        > "$RES/strace-$label.out" 2> "$RES/strace-$label.err" || rc=$?
    "$PY" - "$dir" "$fd" "$PADOCC_BIN" "$rc" > "$RES/strace/$label.json" <<'PYEOF'
import json, os, re, sys
d, fd, exe, rc = sys.argv[1], os.path.realpath(sys.argv[2]), os.path.realpath(sys.argv[3]), int(sys.argv[4])
ip = os.path.join(fd, "in_progress") + "/"
c = {"exit": rc, "opens": 0, "opens_failed": 0, "opens_flock_dir": 0, "opens_in_progress": 0,
     "stats_in_progress": 0, "threads": 0, "child_processes": 0, "exec": {}}   # exec: SLURM clients run
OPEN = re.compile(r'^(?:openat\([^,]+, |open\()"((?:[^"\\]|\\.)*)"')
STAT = re.compile(r'^(?:statx\([^,]+, |newfstatat\([^,]+, |stat\(|lstat\()"((?:[^"\\]|\\.)*)"')
EXEC = re.compile(r'^execve\("((?:[^"\\]|\\.)*)"')
CLONE = re.compile(r'^(clone3?|fork|vfork)\(.*\) = (\d+)$')
# one file per thread (t.<tid>); clone lines say which tids are threads of their caller's
# process and which are new processes
files, parent, is_thread = {}, {}, {}
for name in os.listdir(d):
    tid = int(name.rsplit(".", 1)[1])
    files[tid] = open(os.path.join(d, name), errors="replace").read().splitlines()
    for l in files[tid]:
        m = CLONE.match(l)
        if m:
            parent[int(m.group(2))] = tid
            is_thread[int(m.group(2))] = "CLONE_THREAD" in l
roots = [t for t in files if t not in parent]
def proc(t):
    while is_thread.get(t):
        t = parent[t]
    return t
root = min(roots) if roots else None      # the command strace started: padocc
procs = {}
for t in files:
    procs.setdefault(proc(t), []).append(t)
for p, tids in procs.items():
    if p != root:                          # a command padocc (or a child) ran
        c["child_processes"] += 1
        ex = [m.group(1) for m in map(EXEC.match, files[p]) if m]
        b = os.path.basename(ex[-1]) if ex else ""
        if b in ("sbatch", "sacct", "scontrol", "squeue", "scancel", "srun", "salloc"):
            c["exec"][b] = c["exec"].get(b, 0) + 1
        continue
    c["threads"] = len(tids)
    for t in tids:
        for l in files[t]:
            m = OPEN.match(l)
            if m:
                p = os.path.normpath(m.group(1))
                c["opens"] += 1
                c["opens_failed"] += " = -1 " in l
                c["opens_flock_dir"] += p.startswith(fd + "/")
                c["opens_in_progress"] += p.startswith(ip)
                continue
            m = STAT.match(l)
            if m and os.path.normpath(m.group(1)).startswith(ip):
                c["stats_in_progress"] += 1
print(json.dumps(c))
PYEOF
    log "strace $label: $(cat "$RES/strace/$label.json")"
    rm -rf -- "$dir"
}

bench_layout() {   # bench_layout LAYOUT
    local layout=$1 fd="$SHEP_DIR/$1" cp="$SHEP_DIR/$1-copy" rep marker changed
    local conf="$fd/conf.yaml"
    check_quiet "before-$layout"
    # status and the dry run must change nothing in the flock_dir
    marker="$RES/$layout-dry.marker"
    touch "$marker"; sleep 0.01
    for (( rep = 0; rep <= SHEP_REPS; rep++ )); do
        time_one "$layout-status" "$rep" "$RES/$layout-status.out" "$PADOCC_BIN" shepard status --conf "$conf"
    done
    for (( rep = 0; rep <= SHEP_REPS; rep++ )); do
        time_one "$layout-status-json" "$rep" "$RES/$layout-status-json.out" "$PADOCC_BIN" shepard status --conf "$conf" --format json
    done
    for (( rep = 0; rep <= SHEP_REPS; rep++ )); do
        time_one "$layout-batch-dry" "$rep" "$RES/$layout-batch-dry.out" "$PADOCC_BIN" shepard batch --conf "$conf" --parallel --dry-run
    done
    trace "$layout-status" "$fd" "$PADOCC_BIN" shepard status --conf "$conf"
    trace "$layout-batch-dry" "$fd" "$PADOCC_BIN" shepard batch --conf "$conf" --parallel --dry-run
    # (shp_logs/ is SHEPARD's lock and logs: taking the lock is not a change)
    changed=$(find "$fd" -path "$fd/shp_logs" -prune -o -newer "$marker" ! -path "$fd" -print 2>/dev/null | head -20)
    if [[ -n "$changed" ]]; then
        log "WARNING: shepard status or batch --dry-run changed $fd (it is regenerated next run):"; printf '  %s\n' $changed >&2
        printf '%s\n' "$changed" > "$RES/$layout-dry-changed.txt"
        rm -f -- "$fd/BENCH_INFO.json"
    else
        rm -f -- "$RES/$layout-dry-changed.txt"
    fi
    # real passes, each on a fresh copy
    for (( rep = 1; rep <= SHEP_BATCH_REPS; rep++ )); do
        log "copy for real pass $rep"
        restore_copy "$layout"
        time_one "$layout-batch" "$rep" "$RES/$layout-batch.out" "$PADOCC_BIN" shepard batch --conf "$cp/conf.yaml" --parallel --format json
        summarise_pass "$layout" "$rep"
    done
    if [[ "$SHEP_STRACE" == 1 ]]; then
        restore_copy "$layout"
        trace "$layout-batch" "$cp" "$PADOCC_BIN" shepard batch --conf "$cp/conf.yaml" --parallel --format json
    fi
    if [[ "$SHEP_KEEP_COPY" == 0 ]]; then rm -rf -- "$cp"; fi
}

# summarise_pass LAYOUT REP : what the real pass left in the copy (new submissions and the
# projects in their manifests, new journal rows, new groups) -> $RES/<layout>-pass-<rep>.json
summarise_pass() {
    "$PY" - "$SHEP_DIR/$1" "$SHEP_DIR/$1-copy" > "$RES/$1-pass-$2.json" <<'PYEOF'
import json, os, sys
src, cp = sys.argv[1], sys.argv[2]
out = {"submissions": 0, "submitted_projects": 0, "tasks": 0, "journal_rows_written": 0, "new_groups": []}
sg, cg = os.path.join(src, "groups"), os.path.join(cp, "groups")
orig = set(os.listdir(sg))
for g in sorted(os.listdir(cg)):
    if g not in orig:
        out["new_groups"].append(g)
    jobs = os.path.join(cg, g, "jobs")
    known = set(os.listdir(os.path.join(sg, g, "jobs"))) if os.path.isdir(os.path.join(sg, g, "jobs")) else set()
    for s in (os.listdir(jobs) if os.path.isdir(jobs) else []):
        if s in known:
            continue
        try:
            m = json.load(open(os.path.join(jobs, s, "manifest.json")))
        except (OSError, ValueError):
            continue
        out["submissions"] += 1
        out["tasks"] += len(m.get("tasks", []))
        out["submitted_projects"] += sum(len(t.get("projects", [])) for t in m.get("tasks", []))
    st = os.path.join(cg, g, "status")
    for j in (os.listdir(st) if os.path.isdir(st) else []):
        if j.endswith(".jnl") and j != "bench-1-0.jnl":
            out["journal_rows_written"] += sum(1 for _ in open(os.path.join(st, j), errors="replace"))
print(json.dumps(out))
PYEOF
    log "pass $2 on the $1 copy left: $(cat "$RES/$1-pass-$2.json")"
}

# ---------------------------------------------------------------- report
report() {
    "$PY" - "$BENCH_DIR" "$RES" "$SHEP_DIR" "$SHEP_LAYOUTS" "$SHEP_TARGET_S" "$PADOCC_BIN" <<'PYEOF'
import glob, json, os, statistics, sys
bench_dir, res, sdir, layouts, target, exe = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(), float(sys.argv[5]), sys.argv[6]
runs = {}
for line in open(os.path.join(res, "runs.tsv")):
    label, rep, rc, wall, rss, calls = (line.rstrip("\n").split("\t") + [""] * 6)[:6]
    runs.setdefault(label, []).append((int(rc), float(wall), int(rss) / 1024 if rss else None, calls.strip()))
def summ(label):
    rs = runs.get(label, [])
    ok = [r for r in rs if r[0] == 0]
    d = {"reps": len(rs), "failed_reps": len(rs) - len(ok)}
    if ok:
        d.update({"wall_s": round(statistics.median(r[1] for r in ok), 4), "wall_all_s": [r[1] for r in ok],
                  "maxrss_mb": round(max(r[2] or 0 for r in ok), 1), "scheduler_calls": ok[-1][3]})
    return d
def strace(label):
    p = os.path.join(res, "strace", f"{label}.json")
    return json.load(open(p)) if os.path.exists(p) else None

def find_counts(obj, g, phases=("init", "scan", "compute", "validate", "complete")):
    """Best effort: the per-flock phase -> status -> count (or list) mapping of flock g in
    shepard status's JSON, whatever its exact shape; None when not found."""
    def counts_in(o):
        if isinstance(o, dict):
            if o and set(o) <= set(phases) and all(isinstance(v, dict) for v in o.values()):
                try:
                    return {ph: {st: (len(n) if isinstance(n, list) else int(n)) for st, n in v.items()} for ph, v in o.items()}
                except (TypeError, ValueError):
                    pass
            for v in o.values():
                r = counts_in(v)
                if r is not None:
                    return r
        elif isinstance(o, list):
            for v in o:
                r = counts_in(v)
                if r is not None:
                    return r
        return None
    def flock_obj(o):
        if isinstance(o, dict):
            if g in o and isinstance(o[g], (dict, list)):
                return o[g]
            if any(v == g for k, v in o.items() if isinstance(v, str)):
                return o
            for v in o.values():
                r = flock_obj(v)
                if r is not None:
                    return r
        elif isinstance(o, list):
            for v in o:
                r = flock_obj(v)
                if r is not None:
                    return r
        return None
    fo = flock_obj(obj)
    return None if fo is None else counts_in(fo)

class Done(Exception):
    pass

def eps_match(line, e):
    """shepard status's line of a flock against expected.json's newest statuses: per phase
    error/pending/success (Success, Warn-* succeed; Pending, Running, Redo wait; the rest
    are errors; a complete success counts as complete), as src/shepard/status.rs does."""
    want = {ph: {"error": 0, "pending": 0, "success": 0} for ph in ("init", "scan", "compute", "validate")}
    complete = errors = 0
    for ph, sts in e["phases"].items():
        for st, n in sts.items():
            core = st.split(")", 1)[1] if st.startswith("(") and ")" in st else st
            ok = core == "Success" or core.startswith("Warn")
            if ph == "complete" and ok:
                complete += n
                continue
            k = "success" if ok else "pending" if core in ("Pending", "Running", "Redo") else "error"
            want.setdefault(ph, {"error": 0, "pending": 0, "success": 0})[k] += n
            errors += n if k == "error" else 0
    got = {ph: {k: v.get(k, 0) for k in ("error", "pending", "success")} for ph, v in line.get("phases", {}).items()}
    return got == want and line.get("complete") == complete and line.get("errors", errors) == errors \
        and line.get("projects", e["total"]) == e["total"]

out = {"binary": exe, "target_status_s": target, "host": {"nproc": os.cpu_count(),
       "load": [l.rstrip("\n").split("\t") for l in open(os.path.join(res, "load.tsv"))]}, "layouts": {}}
hdr = "{:<7} {:<12} {:>9} {:>7} {:>7} {:>9} {:>8} {:>9}  {}".format(
    "layout", "command", "median s", "RSS MB", "opens", "flockdir", "in_prog", "stat i_p", "notes")
lines = [hdr, "-" * len(hdr)]
for layout in layouts:
    fd = os.path.join(sdir, layout)
    rec = {"flock_dir": fd}
    for f, k in (("BENCH_INFO.json", "info"), ("expected.json", "expected")):
        try:
            rec[k] = json.load(open(os.path.join(fd, f)))
        except (OSError, ValueError):
            pass
    exp = rec.pop("expected", None)
    # check shepard status --format json against expected.json, where its shape allows
    check = "no expected.json"
    try:
        got = json.load(open(os.path.join(res, f"{layout}-status-json.out")))
        eps_lines = {l["flock"]: l for l in got.get("flocks", []) if isinstance(l, dict) and "flock" in l} \
            if isinstance(got, dict) and isinstance(got.get("flocks"), list) else {}
        if eps_lines and exp:
            # padocc's table: per phase error / pending / success, complete, errors
            bad = [g for g, e in exp["flocks"].items() if g not in eps_lines or not eps_match(eps_lines[g], e)]
            n = len(exp["flocks"])
            raise Done(f"MISMATCH in {len(bad)} of {n} flocks (first {bad[0]})" if bad else f"E/P/S counts ok ({n} flocks)")
        bad, unk = [], 0
        for g, e in (exp or {}).get("flocks", {}).items():
            c = find_counts(got, g)
            known = {st for v in e["phases"].values() for st in v}
            if c is None or not any(st in known for v in c.values() for st in v):
                unk += 1      # absent, or per-phase counts of another kind (error/pending/success)
            elif c != e["phases"]:
                bad.append(g)
        n = len((exp or {}).get("flocks", {}))
        check = (f"MISMATCH in {len(bad)} flocks (first {bad[0]})" if bad else
                 "counts unchecked (JSON shape not recognised)" if unk == n else
                 f"counts ok ({n - unk} flocks)" + (f", {unk} not found" if unk else ""))
    except Done as d:
        check = str(d)
    except (OSError, ValueError) as e:
        check = f"no JSON output ({type(e).__name__})"
    rec["status_json_check"] = check
    dry_changed = os.path.join(res, f"{layout}-dry-changed.txt")
    rec["dry_run_changed_files"] = open(dry_changed).read().split() if os.path.exists(dry_changed) else []
    passes = []
    for p in sorted(glob.glob(os.path.join(res, f"{layout}-pass-*.json"))):
        try:
            passes.append(json.load(open(p)))
        except ValueError:
            pass
    rec["batch_passes"] = passes
    for cmd in ("status", "status-json", "batch-dry", "batch"):
        s = summ(f"{layout}-{cmd}")
        tr = strace(f"{layout}-{cmd}") if cmd != "status-json" else None
        s["strace"] = tr
        if cmd.startswith("status"):
            s["meets_target"] = (s["wall_s"] <= target) if "wall_s" in s else None
        rec[cmd] = s
        f = lambda x, fm="{:.3f}": "-" if x is None else fm.format(x)
        notes = []
        if cmd.startswith("status") and s.get("meets_target") is not None:
            notes.append(f"<= {target:g} s: {'met' if s['meets_target'] else 'MISSED'}")
        if cmd == "status-json":
            notes.append(check)
        if s.get("failed_reps"):
            notes.append(f"{s['failed_reps']} FAILED runs")
        if s.get("scheduler_calls"):
            notes.append(s["scheduler_calls"].strip())
        if cmd == "batch" and passes:
            notes.append(f"submitted {passes[-1]['submitted_projects']} projects in {passes[-1]['submissions']} arrays")
        if cmd == "batch-dry" and rec["dry_run_changed_files"]:
            notes.append("dry run CHANGED files")
        lines.append("{:<7} {:<12} {:>9} {:>7} {:>7} {:>9} {:>8} {:>9}  {}".format(
            layout, cmd, f(s.get("wall_s")), f(s.get("maxrss_mb"), "{:.0f}"),
            f(tr and tr["opens"], "{}"), f(tr and tr["opens_flock_dir"], "{}"),
            f(tr and tr["opens_in_progress"], "{}"), f(tr and tr["stats_in_progress"], "{}"), "; ".join(notes)))
    out["layouts"][layout] = rec
json.dump(out, open(os.path.join(bench_dir, "shepard-results.json"), "w"), indent=1)
text = "\n".join(lines) + ("\n\nopens: by the padocc process (threads included, scheduler commands excluded); flockdir / in_prog:"
                           " of paths under the flock_dir / under in_progress/; stat i_p: stat calls on paths under in_progress/;"
                           " sbatch=N sacct=N ...: calls of the fake SLURM per run")
print(text)
open(os.path.join(bench_dir, "shepard-results.txt"), "w").write(text + "\n")
print(f"\nresults: {os.path.join(bench_dir, 'shepard-results.json')}")
PYEOF
}

# ---------------------------------------------------------------- main
main() {
    mkdir -p "$RES" "$SHEP_DIR"
    check_prereqs
    : > "$RUNS_TSV"
    : > "$RES/load.tsv"
    rm -f -- "$RES"/*-pass-*.json "$RES"/*-restore.log
    rm -rf -- "$RES/strace"
    unset WORKDIR
    make_fake_slurm
    log "binary $PADOCC_BIN; data $SHEP_DIR; layouts $SHEP_LAYOUTS; $SHEP_FLOCKS flocks x $SHEP_PROJECTS projects; $(nproc) cores"
    local layout
    for layout in $SHEP_LAYOUTS; do gen_layout "$layout"; done
    for layout in $SHEP_LAYOUTS; do bench_layout "$layout"; done
    check_quiet end
    report
}

main "$@"
